/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_collapse.c — waiting on and streaming collapsed fills (see
 * edge_collapse.h for the model).
 *
 * A reading request holds a reference on its fill and a reader position
 * (req->cf, req->cf_rd).  It is on its worker's list (w->cf_readers) from the
 * moment it waits until it is done or detached; the list is what a wake-up
 * walks.  What the fill has goes to the client by delivery
 * (edge_deliver_fill: by reference, with backpressure), which says when the
 * fill will not serve the request, and when its body is complete or cut.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "cache/cache.h"
#include "config/config.h"
#include "core/assert.h"
#include "core/h1.h"
#include "core/timeutil.h"
#include "edge/edge_collapse.h"
#include "edge/edge_deliver.h"
#include "edge/edge_req.h"
#include "edge/edge_forward.h"
#include "edge/edge_slice.h"
#include "edge/edge_worker.h"

/* Puts req on its worker's list; watch: ask the fill to wake the worker on
 * changes (the leader's own client is pumped by its fetch instead,
 * edge_fetch_client.on_fill). */
static void
collapse_list(struct edge_req *req, bool watch)
{
	struct edge_worker *w = req->sess->w;

	req->on_writable = edge_collapse_pump; /* the output drained: read on */
	if (req->cf_listed)
		return;
	req->cf_prev = NULL;
	req->cf_next = w->cf_readers;
	if (w->cf_readers != NULL)
		w->cf_readers->cf_prev = req;
	w->cf_readers = req;
	req->cf_listed = true;
	if (watch)
		cache_fill_watch(req->cf, w->id);
}

void
edge_collapse_detach(struct edge_req *req)
{
	if (req->cf_listed) {
		if (req->cf_prev != NULL)
			req->cf_prev->cf_next = req->cf_next;
		else
			req->sess->w->cf_readers = req->cf_next;
		if (req->cf_next != NULL)
			req->cf_next->cf_prev = req->cf_prev;
		req->cf_next = req->cf_prev = NULL;
		req->cf_listed = false;
	}
	if (req->cf != NULL) {
		cache_fill_reader_done(&req->cf_rd);
		cache_fill_unref(&req->cf);
	}
	cache_obj_unref(&req->cf_stale);
	req->cf_head_sent = false;
	edge_forward_unpin(req); /* a leader's client has read its fill */
}

/* Requests whose answer may differ from the plain stored 200 (preconditions,
 * ranges) or that carry a body do not collapse: they go as they are. */
static bool
collapse_eligible(const struct edge_req *req)
{
	static const struct str no[] = {
	    STR_LIT("Range"),
	    STR_LIT("If-Range"),
	    STR_LIT("If-None-Match"),
	    STR_LIT("If-Modified-Since"),
	    STR_LIT("If-Match"),
	    STR_LIT("If-Unmodified-Since"),
	};
	const struct h1_request *r = &req->h1;

	if (!cache_enabled(req->sess->w->srv->cache) || req->key_len < 0 ||
	    !str_eq(r->method, STR_LIT("GET")) || r->body != H1_BODY_NONE)
		return false;
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
		if (h1_header_find(r->headers, r->n_headers, no[i]) != NULL)
			return false;
	return true;
}

/* A fresh stored object for req, from the tiers (RAM only when
 * ram_only), or NULL: a fill of the key may have stored  it since req's own
 * lookup.  One reference for the caller. */
static struct cache_obj *
collapse_fresh_stored(struct edge_req *req, bool ram_only)
{
	struct cache *cache = req->sess->w->srv->cache;
	struct cache_obj *o = NULL;
	bool from_disk;
	time_t now = time_now();

	if ((ram_only ? cache_lookup_ram(cache, &req->h1, req->key, (size_t)req->key_len, now, &o)
	              : cache_lookup(cache, &req->h1, req->key, (size_t)req->key_len, now, &o,
	                    &from_disk)) == 0 &&
	    cache_policy_usable(&req->h1, o, now) == CACHE_USE_FRESH)
		return o;
	cache_obj_unref(&o);
	return NULL;
}

bool
edge_collapse_begin(struct edge_req *req, struct cache_obj **stale)
{
	struct edge_worker *w = req->sess->w;
	struct cache_fill *f = NULL;
	struct cache_fill_reader rd;
	struct cache_obj *o;

	ASSERT(req->cf == NULL && req->fw.cf == NULL);
	if (!collapse_eligible(req))
		return false;
	switch (
	    cache_fill_begin(w->srv->cache, req->key, (size_t)req->key_len, time_now(), &f, &rd)) {
	case CACHE_FILL_PASS:
		EDGE_COUNT(&w->metrics, cache_hit_for_pass_total);
		return false;
	case CACHE_FILL_LEADER:
		/* The key's last fill may have stored and ended between the
		 * caller's lookup and here: look again (RAM only) rather than
		 * ask the origin a second time. */
		if ((o = collapse_fresh_stored(req, true)) != NULL) {
			cache_fill_end(f, CACHE_FILL_S_FAILED, time_now()); /* joiners look again */
			cache_fill_reader_done(&rd);
			cache_fill_unref(&f);
			cache_obj_unref(stale);
			edge_deliver_stored(req, o, "hit");
			cache_obj_unref(&o);
			return true;
		}
		req->fw.cf = cache_fill_ref(f);
		req->cf = f;
		req->cf_rd = rd;
		return false;
	case CACHE_FILL_WAITER:
		break;
	}
	EDGE_COUNT(&w->metrics, cache_collapsed_total);
	req->cf_stale = *stale;
	*stale = NULL;
	req->cf = f;
	req->cf_rd = rd;
	req->cf_head_sent = false;
	req->sess->state = EDGE_SESS_COLLAPSED;
	edge_req_read_body(req, false); /* pipelined requests wait in the kernel */
	collapse_list(req, true);
	edge_collapse_pump(req);
	return true;
}

void
edge_collapse_leader_reads(struct edge_req *req)
{
	ASSERT(req->cf != NULL && req->cf == req->fw.cf);
	req->cf_head_sent = true;
	collapse_list(req, false);
}

void
edge_collapse_watch(struct edge_req *req)
{
	ASSERT(req->cf != NULL);
	collapse_list(req, true);
}

/* The fill will not serve req (not storable, failed before its head, or a
 * background revalidation that ended): a fresh object the fill's exchange
 * may have stored answers; else req goes to the origin on its own,
 * without collapsing. */
static void
collapse_go_alone(struct edge_req *req)
{
	struct cache_obj *o, *stale = req->cf_stale;

	req->cf_stale = NULL;
	edge_collapse_detach(req);
	if ((o = collapse_fresh_stored(req, false)) != NULL) {
		cache_obj_unref(&stale);
		edge_deliver_stored(req, o, "hit");
		cache_obj_unref(&o);
		return;
	}
	/* with its stale entry: revalidation and stale-if-error as if it had
	 * not waited (edge_req.c set req->fw.revalidate and reval_*) */
	req->sess->state = EDGE_SESS_PROXY;
	edge_forward_start(req, req->pool, true, stale);
}

/* The body is complete in req's output: end the response. */
static void
collapse_done(struct edge_req *req)
{
	edge_collapse_detach(req);
	if (req->sess->state == EDGE_SESS_COLLAPSED)
		edge_req_finish(req);
}

void
edge_collapse_pump(struct edge_req *req)
{
	if (req->slice != NULL) { /* its slices' fills, or its output drained */
		if (!req->sess->dead)
			edge_slice_pump(req);
		return;
	}
	if (req->cf == NULL || req->sess->dead)
		return;
	switch (edge_deliver_fill(req)) {
	case EDGE_DELIVER_FILL_MORE: /* more comes with the next wake-up */
		break;
	case EDGE_DELIVER_FILL_ALONE:
		collapse_go_alone(req);
		break;
	case EDGE_DELIVER_FILL_DONE:
		collapse_done(req);
		break;
	case EDGE_DELIVER_FILL_FAILED:
		/* the head is out, the body cannot be completed */
		edge_collapse_detach(req);
		if (req->sess->state == EDGE_SESS_COLLAPSED)
			edge_req_abort(req);
		break;
	}
}

void
edge_collapse_wake(struct edge_worker *w)
{
	struct edge_req *req, *next;

	for (req = w->cf_readers; req != NULL; req = next) {
		next = req->cf_next;
		edge_req_enter(req);
		edge_collapse_pump(req);
		edge_req_leave(req);
	}
}
