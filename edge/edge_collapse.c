/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_collapse.c — waiting on and streaming collapsed fills (see
 * edge_collapse.h for the model).
 *
 * A reading connection holds a reference on its fill and a reader position
 * (c->req->cf, c->req->cf_rd).  It is on its worker's list (w->cf_readers) from the
 * moment it waits until it is done or detached; the list is what a wake-up
 * walks.  Body bytes go to the client's output by reference
 * (evbuffer_add_reference with a reference on the chunk), never more than
 * COLLAPSE_OUT_HIGH queued: above it the connection waits for its output to
 * drain to COLLAPSE_OUT_LOW (the write callback pumps again), so a slow
 * client holds chunks, not copies, and never the fill itself.
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
#include "edge/edge_conn.h"
#include "edge/edge_forward.h"
#include "edge/edge_worker.h"

#define COLLAPSE_OUT_HIGH (512 * 1024)
#define COLLAPSE_OUT_LOW  (128 * 1024)

/* Puts c on its worker's list; watch: ask the fill to wake the worker on
 * changes (the leader's own client is pumped by its fetch instead,
 * edge_fetch_client.on_fill). */
static void
collapse_list(struct edge_conn *c, bool watch)
{
	struct edge_worker *w = c->w;

	if (c->req->cf_listed)
		return;
	c->req->cf_prev = NULL;
	c->req->cf_next = w->cf_readers;
	if (w->cf_readers != NULL)
		w->cf_readers->req->cf_prev = c;
	w->cf_readers = c;
	c->req->cf_listed = true;
	if (watch)
		cache_fill_watch(c->req->cf, w->id);
}

void
edge_collapse_detach(struct edge_conn *c)
{
	if (c->req->cf_listed) {
		if (c->req->cf_prev != NULL)
			c->req->cf_prev->req->cf_next = c->req->cf_next;
		else
			c->w->cf_readers = c->req->cf_next;
		if (c->req->cf_next != NULL)
			c->req->cf_next->req->cf_prev = c->req->cf_prev;
		c->req->cf_next = c->req->cf_prev = NULL;
		c->req->cf_listed = false;
	}
	if (c->req->cf != NULL) {
		cache_fill_reader_done(&c->req->cf_rd);
		cache_fill_unref(&c->req->cf);
	}
	cache_obj_unref(&c->req->cf_stale);
	c->req->cf_head_sent = false;
	edge_forward_unpin(c); /* a leader's client has read its fill */
}

/* Requests whose answer may differ from the plain stored 200 (preconditions,
 * ranges) or that carry a body do not collapse: they go as they are. */
static bool
collapse_eligible(const struct edge_conn *c)
{
	static const struct str no[] = {
	    STR_LIT("Range"),
	    STR_LIT("If-Range"),
	    STR_LIT("If-None-Match"),
	    STR_LIT("If-Modified-Since"),
	    STR_LIT("If-Match"),
	    STR_LIT("If-Unmodified-Since"),
	};
	const struct h1_request *r = &c->req->h1;

	if (!cache_enabled(c->w->srv->cache) || c->req->key_len < 0 ||
	    !str_eq(r->method, STR_LIT("GET")) || r->body != H1_BODY_NONE)
		return false;
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
		if (h1_header_find(r->headers, r->n_headers, no[i]) != NULL)
			return false;
	return true;
}

/* A fresh stored object for c's request, from the tiers (RAM only when
 * ram_only), or NULL: a fill of the key may have stored it since c's own
 * lookup.  One reference for the caller. */
static struct cache_obj *
collapse_fresh_stored(struct edge_conn *c, bool ram_only)
{
	struct cache *cache = c->w->srv->cache;
	struct cache_obj *o = NULL;
	bool from_disk;
	time_t now = time_now();

	if ((ram_only ? cache_lookup_ram(
	                    cache, &c->req->h1, c->req->key, (size_t)c->req->key_len, now, &o)
	              : cache_lookup(cache, &c->req->h1, c->req->key, (size_t)c->req->key_len, now,
	                    &o, &from_disk)) == 0 &&
	    cache_policy_usable(&c->req->h1, o, now) == CACHE_USE_FRESH)
		return o;
	cache_obj_unref(&o);
	return NULL;
}

bool
edge_collapse_begin(struct edge_conn *c, struct cache_obj **stale)
{
	struct edge_worker *w = c->w;
	struct cache_fill *f = NULL;
	struct cache_fill_reader rd;
	struct cache_obj *o;

	ASSERT(c->req->cf == NULL && c->req->fw.cf == NULL);
	if (!collapse_eligible(c))
		return false;
	switch (cache_fill_begin(
	    w->srv->cache, c->req->key, (size_t)c->req->key_len, time_now(), &f, &rd)) {
	case CACHE_FILL_PASS:
		EDGE_COUNT(&w->metrics, cache_hit_for_pass_total);
		return false;
	case CACHE_FILL_LEADER:
		/* The key's last fill may have stored and ended between the
		 * caller's lookup and here: look again (RAM only) rather than
		 * ask the origin a second time. */
		if ((o = collapse_fresh_stored(c, true)) != NULL) {
			cache_fill_end(f, CACHE_FILL_S_FAILED, time_now()); /* joiners look again */
			cache_fill_reader_done(&rd);
			cache_fill_unref(&f);
			cache_obj_unref(stale);
			edge_conn_serve_stored(c, o, "hit");
			cache_obj_unref(&o);
			return true;
		}
		c->req->fw.cf = cache_fill_ref(f);
		c->req->cf = f;
		c->req->cf_rd = rd;
		return false;
	case CACHE_FILL_WAITER:
		break;
	}
	EDGE_COUNT(&w->metrics, cache_collapsed_total);
	c->req->cf_stale = *stale;
	*stale = NULL;
	c->req->cf = f;
	c->req->cf_rd = rd;
	c->req->cf_head_sent = false;
	c->state = EDGE_CONN_COLLAPSED;
	edge_req_read_body(c->req, false); /* pipelined requests wait in the kernel */
	collapse_list(c, true);
	edge_collapse_pump(c);
	return true;
}

void
edge_collapse_leader_reads(struct edge_conn *c)
{
	ASSERT(c->req->cf != NULL && c->req->cf == c->req->fw.cf);
	c->req->cf_head_sent = true;
	collapse_list(c, false);
}

static void
collapse_chunk_release(const void *data, size_t len, void *ref)
{
	(void)data;
	(void)len;
	cache_fill_chunk_release(ref);
}

/* The fill will not serve c (not storable, failed before its head, or a
 * background revalidation that ended): a fresh object the fill's exchange
 * may have stored answers; else c's request goes to the origin on its own,
 * without collapsing. */
static void
collapse_go_alone(struct edge_conn *c)
{
	struct cache_obj *o, *stale = c->req->cf_stale;

	c->req->cf_stale = NULL;
	edge_collapse_detach(c);
	if ((o = collapse_fresh_stored(c, false)) != NULL) {
		cache_obj_unref(&stale);
		edge_conn_serve_stored(c, o, "hit");
		cache_obj_unref(&o);
		return;
	}
	/* with its stale entry: revalidation and stale-if-error as if it had
	 * not waited (edge_conn.c set c->req->fw.revalidate and reval_*) */
	c->state = EDGE_CONN_PROXY;
	edge_forward_start(c, c->req->pool, true, stale);
}

/* The response head for a waiter: the stored head of the fill's object, with
 * Content-Length when the origin announced one, else chunked (HTTP/1.1) or
 * delimited by closing (HTTP/1.0). */
static void
collapse_write_head(struct edge_conn *c)
{
	int64_t len = cache_fill_length(c->req->cf);

	if (len < 0 && c->req->h1.minor < 1)
		c->keep_alive = false; /* delimited by closing */
	edge_conn_write_stored_head(
	    c, cache_fill_obj(c->req->cf), "MISS", "fwd=miss; collapsed", len, false);
	c->req->cf_head_sent = true;
}

/* The body is complete in c's output: end the response. */
static void
collapse_done(struct edge_conn *c)
{
	c->req->bytes_out += edge_req_send_end(c->req);
	edge_collapse_detach(c);
	edge_req_want_writable(c->req, 0);
	if (c->state == EDGE_CONN_COLLAPSED)
		edge_req_finish(c->req);
}

void
edge_collapse_pump(struct edge_conn *c)
{
	enum cache_fill_state st;
	const char *p;
	size_t len;
	void *ref;

	if (c->req->cf == NULL || c->dead)
		return;
	st = cache_fill_state(c->req->cf);
	if (!c->req->cf_head_sent) {
		if (st == CACHE_FILL_S_WAIT)
			return;
		/* the fill's response varies on fields this request sends other
		 * values of: not the variant it selects (RFC 9111 §4.1) */
		if (st == CACHE_FILL_S_PASS || st == CACHE_FILL_S_FAILED ||
		    !cache_vary_selects(&c->req->h1, cache_fill_obj(c->req->cf))) {
			collapse_go_alone(c);
			return;
		}
		collapse_write_head(c);
	}
	while (edge_req_queued(c->req) <= COLLAPSE_OUT_HIGH &&
	       cache_fill_read(&c->req->cf_rd, &p, &len, &ref))
		c->req->bytes_out += edge_req_send_ref(c->req, p, len, collapse_chunk_release, ref);
	if (edge_req_queued(c->req) > COLLAPSE_OUT_HIGH) {
		edge_req_want_writable(c->req, COLLAPSE_OUT_LOW);
		return;
	}
	if (st == CACHE_FILL_S_DONE) {
		collapse_done(c);
	} else if (st == CACHE_FILL_S_FAILED) {
		/* the head is out, the body cannot be completed */
		edge_collapse_detach(c);
		if (c->state == EDGE_CONN_COLLAPSED)
			edge_req_abort(c->req);
	}
	/* BODY: more comes with the next wake-up */
}

void
edge_collapse_wake(struct edge_worker *w)
{
	struct edge_conn *c, *next;

	for (c = w->cf_readers; c != NULL; c = next) {
		next = c->req->cf_next;
		edge_conn_enter(c);
		edge_collapse_pump(c);
		edge_conn_leave(c);
	}
}
