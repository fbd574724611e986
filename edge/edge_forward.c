/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_forward.c — the request side of a request forwarded to the
 * origin.  The exchange is a fetch (edge_fetch.h): member choice, connect,
 * retries, timeouts and passive health are its own; this file is what the
 * fetch asks of the request.
 *
 * Steps: a request body is read whole first (buffering, into the spool)
 * unless the route streams it; then the fetch starts, NORMAL when the
 * request leads a cache fill (edge_collapse.c), else PASS.  Each try asks
 * the request side to write the backend request (fw_send: the one builder,
 * edge_fetch_bereq_write, then the spool from its start or the streamed
 * body as it comes, with backpressure both ways).  On the final head
 * (fw_on_head) the request side decides: a 304 that validates the stale
 * entry answers from it (RFC 9111 §4.3.4); a 304 that selects nothing, or a
 * range window that does not answer, asks again; a 5xx with a stale entry
 * may answer stale (RFC 5861 §4); else the head goes to the client and the
 * answer may be stored.  When the request leads a fill, the fetch takes the
 * fill and the object and the client reads the fill back like every other
 * reader (the connection becomes a fill reader, EDGE_SESS_COLLAPSED); when
 * the client leaves, the fetch goes on for the others.  Otherwise the body
 * comes through fw_on_body, moved from the origin's buffer to the client's
 * with evbuffer_remove_buffer (chunks move, bytes are not copied), and the
 * client's full output pauses the fetch (edge_fetch_resume on writable).
 *
 * Errors before the response head reached the client become 502, 503 or
 * 504 with a short body (or a stale answer: stale-if-error, grace); after
 * it, the client connection is closed so a truncated body is never mistaken
 * for a whole one.  Runs on the connection's worker thread; the fetch's
 * callbacks carry the request (struct edge_req).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "cache/cache.h"
#include "config/config.h"
#include "core/assert.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "edge/edge_collapse.h"
#include "edge/edge_compress.h"
#include "edge/edge_deliver.h"
#include "edge/edge_req.h"
#include "edge/edge_fetch.h"
#include "edge/edge_forward.h"
#include "edge/edge_partial.h"
#include "edge/edge_range.h"
#include "edge/edge_resp.h"
#include "edge/edge_slice.h"
#include "edge/edge_route.h"
#include "edge/edge_spool.h"
#include "edge/edge_worker.h"
#include "origin/origin_balance.h"
#include "origin/origin_pool.h"
#include "origin/origin_sibling.h"

#define FW_OUT_HIGH (512 * 1024) /* pause the producer above this */
#define FW_OUT_LOW  (128 * 1024) /* resume below this */

static uint64_t fw_range_fill_max(const struct config *cfg);
static bool fw_range_fills(const struct edge_req *req);

static bool
fw_method_is(const struct edge_req *req, const char *m)
{
	return str_eq(req->h1.method, str_cstr(m));
}

void
edge_forward_unpin(struct edge_req *req)
{
	if (req->pin_cl == NULL)
		return;
	cache_mem_client_uncharge(req->pin_cl, req->pin_bytes);
	req->pin_bytes = 0;
	cache_mem_client_put(&req->pin_cl);
}

void
edge_forward_abort(struct edge_req *req)
{
	struct edge_forward *fw = &req->fw;

	edge_fetch_detach(&fw->fetch);
	if (fw->cf != NULL) {
		/* nothing is published: waiters without a head go on their own,
		 * the others are closed (edge_collapse.h) */
		if (req->cf == fw->cf)
			edge_collapse_detach(req);
		cache_fill_end(fw->cf, CACHE_FILL_S_FAILED, time_now());
		cache_fill_unref(&fw->cf);
	}
	cache_obj_unref(&fw->stale);
	cache_obj_unref(&fw->answer);
	cache_obj_unref(&fw->part);
	edge_range_cut_end(&fw->cut);
	edge_spool_reset(&fw->spool);
	memset(fw, 0, sizeof *fw);
}

/* ---- answers of the request side ---- */

/* Grace: no member may be asked (none usable, or all at max_conns), and the
 * pool allows any stale copy to answer — unless its own directives forbid
 * serving it stale (RFC 9111 §4.2.4, §5.2.2.2, §5.2.2.4, §5.2.2.10). */
static bool
fw_grace_ok(const struct edge_req *req)
{
	return req->fw.pool->grace && !cache_policy_never_stale(req->fw.stale);
}

/* Does the route set its own cache.grace (else the node's applies)? */
static bool
fw_route_grace(const struct edge_req *req)
{
	return req->route != NULL && req->route->grace_s != CONFIG_GRACE_INHERIT;
}

/* The default cache.grace stands in only for an origin that was asked and
 * gave no answer (RFC 9111 §4.2.4: a "disconnected" cache; with no member to
 * ask, the pool's grace decides); one the operator set, on the node or the
 * route, covers every failure. */
static bool
fw_grace_set(const struct edge_req *req)
{
	return fw_route_grace(req) || req->sess->gen->cfg->cache.grace_set;
}

#define FW_GRACE (-1)

/*
 * stale-if-error (RFC 5861 §4) or grace: the exchange failed before anything
 * reached the client and the stale response may stand in: it becomes the
 * answer (fw->answer).  fwd_status: the origin's 5xx, or 0 when no response
 * came; FW_GRACE when no member could be asked at all.  Grace is
 * cache.grace (a bounded staleness; any failure when set, by default only an
 * origin asked that gave no answer) or, with no member to ask, the pool's
 * grace (any stale copy; Cache-Status "hit; detail=grace").  Else
 * Cache-Status: "fwd=stale" (we did forward), the origin's status if any,
 * and "detail=stale-if-error" or "detail=grace".  True if it may.
 */
static bool
fw_stale_answer(struct edge_req *req, int fwd_status)
{
	struct edge_forward *fw = &req->fw;
	struct cache_policy_conf conf;
	bool grace = false;
	char *cs = fw->answer_cs;

	if (fw->stale == NULL || fw->head_sent)
		return false;
	if (!cache_policy_stale_ok(&req->h1, fw->stale, time_now(), CACHE_STALE_IF_ERROR)) {
		edge_forward_policy_conf(req, &conf);
		if (fwd_status != 0 && !fw_grace_set(req))
			conf.grace_s = 0;
		if (!cache_policy_grace_ok(&req->h1, fw->stale, time_now(), conf.grace_s) &&
		    (fwd_status != FW_GRACE || !fw_grace_ok(req)))
			return false;
		grace = true;
	}
	if (grace && fwd_status == FW_GRACE)
		snprintf(cs, sizeof fw->answer_cs, "hit; detail=grace");
	else if (fwd_status > 0)
		snprintf(cs, sizeof fw->answer_cs, "fwd=stale; fwd-status=%d; detail=%s",
		    fwd_status, grace ? "grace" : "stale-if-error");
	else
		snprintf(cs, sizeof fw->answer_cs, "fwd=stale; detail=%s",
		    grace ? "grace" : "stale-if-error");
	fw->answer = cache_obj_ref(fw->stale);
	fw->answer_stale = true;
	return true;
}

/* The forwarding is over and the stored fw->answer answers. */
static void
fw_answer(struct edge_req *req)
{
	struct edge_forward *fw = &req->fw;
	struct cache_obj *o = fw->answer;
	char cs[sizeof fw->answer_cs];

	fw->answer = NULL;
	memcpy(cs, fw->answer_cs, sizeof cs);
	if (!fw->req_body_done)
		req->sess->keep_alive = false; /* unread request body: cannot reuse */
	if (fw->answer_stale) {
		EDGE_COUNT(&req->sess->w->metrics, cache_stale_served_total);
		req->stale_served = true;
	}
	edge_forward_abort(req);
	edge_deliver_stored(req, o, cs); /* counts the hit */
	cache_obj_unref(&o);
}

static bool
fw_stale_if_error(struct edge_req *req, int fwd_status)
{
	if (!fw_stale_answer(req, fwd_status))
		return false;
	fw_answer(req);
	return true;
}

/* The forwarding failed: an error response while nothing was sent (or a
 * stale answer), else close. */
static void
fw_fail(struct edge_req *req, int status, const char *msg)
{
	if (req->fw.head_sent) {
		edge_forward_abort(req);
		edge_req_abort(req);
		return;
	}
	if (fw_stale_if_error(req, 0))
		return;
	edge_req_send_error(req, status, msg);
}

/* ---- the request towards the origin ---- */

/* Moves n bytes from in to out as one chunk of the chunked coding. */
static void
fw_move_chunk(struct evbuffer *in, struct evbuffer *out, size_t n)
{
	char hdr[24];
	size_t hl = h1_chunk_header(n, hdr, sizeof hdr);

	evbuffer_add(out, hdr, hl);
	evbuffer_remove_buffer(in, out, n);
	evbuffer_add(out, "\r\n", 2);
}

void
edge_forward_bereq(struct edge_req *req, enum edge_fetch_fields fields, struct edge_fetch_bereq *b)
{
	memset(b, 0, sizeof *b);
	b->method = req->h1.method;
	b->target = req->up_target;
	b->host = req->up_host;
	b->req = &req->h1;
	b->route = req->route;
	b->fields = fields;
	b->w = req->sess->w;
	b->key = req->key;
	b->key_len = req->key_len > 0 ? (size_t)req->key_len : 0;
	b->peer = req->sess->peer;
	b->cfg = req->sess->gen->cfg;
	b->guard_fields = edge_guard_fields(&req->sess->guard);
	b->tls = req->sess->tls || req->sibling_https;
	b->node_name = req->sess->gen->cfg->node_name;
	b->via_h2 = req->xp->h2;
	b->request_id = edge_req_id(req);
	b->body = H1_BODY_NONE;
}

void
edge_forward_bereq_sibling(
    const struct edge_req *req, struct edge_fetch_bereq *b, char hop[ORIGIN_SIBLING_MARK_LEN + 1])
{
	/* the owner routes the request as this node did: the client's target
	 * (less a signed URL's signature) and authority */
	b->target = req->h1.path;
	b->host = req->h1.authority;
	b->hop = str_make(hop, origin_sibling_mark(&req->sess->gen->cfg->siblings, b->method,
	                           b->host, b->target, time_now(), hop));
}

static void
fw_write_request_head(struct edge_req *req, struct evbuffer *out)
{
	struct edge_forward *fw = &req->fw;
	struct edge_fetch_bereq b;
	char hop[ORIGIN_SIBLING_MARK_LEN + 1];

	edge_forward_bereq(req, fw->store ? EDGE_FETCH_FIELDS_CACHED : EDGE_FETCH_FIELDS_PASS, &b);
	if (fw->sibling) {
		edge_forward_bereq_sibling(req, &b, hop);
		b.only_if_cached = fw->grace;
	}
	/* a range miss asks for the window the cache may fill from (see
	 * fw_range_window), not for the whole object; the revalidation of a
	 * stored object asks for the whole of it, to replace it */
	b.drop_range = fw->range_strip || fw->part != NULL;
	if (fw->range_strip && !fw->revalidate)
		b.range_window = fw_range_fill_max(req->sess->gen->cfg);
	if (fw->part != NULL) {
		/* the rest of a stored part's object (edge_forward_complete_part) */
		b.range_offset = fw->part_end;
		b.range_window = fw->part_length - fw->part_end;
		b.if_range = fw->part_validator;
	}
	/* RFC 9111 §4.3.1: the stored validators the client did not send */
	if (fw->revalidate) {
		b.stale = fw->stale;
		b.inm = fw->reval_inm;
		b.ims = fw->reval_ims;
	}
	b.body = fw->buffered ? H1_BODY_LENGTH : req->h1.body; /* read whole: chunked too */
	b.content_length = fw->buffered ? fw->spool.len : req->h1.content_length;
	edge_fetch_bereq_write(&b, out);
}

/*
 * The request body's timer: timeouts.body between two reads, and, when set,
 * timeouts.body_total for the whole body and limits.body_min_rate (the body
 * must average that rate once timeouts.body has passed: its deadline moves
 * 1 s later for each body_min_rate bytes received, as Apache's
 * mod_reqtimeout does).  Time spent waiting for the origin to take the body
 * (reading paused) does not count.  When it fires: 408 and close
 * (edge_forward_body_timeout).
 */
static void
fw_arm_body_timer(struct edge_req *req)
{
	const struct config *cfg = req->sess->gen->cfg;
	struct edge_forward *fw = &req->fw;
	uint64_t now = time_mono_ms(), wait = cfg->body_timeout_ms, deadline = UINT64_MAX;
	struct timeval tv;

	if (fw->body_pause_ms != 0) {
		fw->body_paused_ms += now - fw->body_pause_ms;
		fw->body_pause_ms = 0;
	}
	if (cfg->body_total_ms > 0)
		deadline = fw->body_start_ms + fw->body_paused_ms + cfg->body_total_ms;
	if (cfg->body_min_rate > 0) {
		uint64_t d = fw->body_start_ms + fw->body_paused_ms + cfg->body_timeout_ms +
		             fw->req_body_bytes * 1000 / cfg->body_min_rate;

		if (d < deadline)
			deadline = d;
	}
	if (deadline <= now)
		wait = 0;
	else if (deadline - now < wait)
		wait = deadline - now;
	tv = time_ms_to_tv(wait);
	edge_req_body_timer(req, &tv);
}

#define FW_BODY_TOO_LARGE 1 /* fw_body_move: over limits.body */

/* Moves n bytes of body data from the client's input to where the body goes:
 * the spool when it is buffered, else the origin's output out (as one chunk
 * of a chunked body).  0, FW_BODY_TOO_LARGE, or -errno from the spool. */
static int
fw_body_move(struct edge_req *req, struct evbuffer *in, struct evbuffer *out, size_t n)
{
	const struct config *cfg = req->sess->gen->cfg;
	struct edge_forward *fw = &req->fw;
	int r = 0;

	if (cfg->max_body_bytes != 0 && fw->req_body_bytes + n > cfg->max_body_bytes)
		return FW_BODY_TOO_LARGE;
	if (fw->buffered) {
		bool was_on_disk = edge_spool_on_disk(&fw->spool);

		r = edge_spool_add(&fw->spool, in, n, cfg->body_buffer_bytes, cfg->body_temp_path);
		if (r == 0 && !was_on_disk && edge_spool_on_disk(&fw->spool))
			EDGE_COUNT(&req->sess->w->metrics, request_bodies_spooled_total);
	} else if (req->h1.body == H1_BODY_CHUNKED) {
		fw_move_chunk(in, out, n);
	} else {
		evbuffer_remove_buffer(in, out, n);
	}
	if (r == 0)
		fw->req_body_bytes += n;
	return r;
}

/* The buffered body could not be kept or read back (its file): 503. */
static void
fw_spool_failed(struct edge_req *req, int err)
{
	log_warn("proxy", "request body: temporary file in \"%s\": %s",
	    req->sess->gen->cfg->body_temp_path, strerror(-err));
	EDGE_COUNT(&req->sess->w->metrics, request_body_spool_errors_total);
	if (req->fw.buffering) {
		edge_req_send_error(
		    req, 503, "service unavailable: cannot buffer the request body");
	} else {
		EDGE_COUNT(&req->sess->w->metrics, origin_errors_total);
		fw_fail(req, 503, "service unavailable: cannot read the buffered request body");
	}
}

static void fw_fetch(struct edge_req *req);

/*
 * Client input → the origin's output (streaming), or → the spool until the
 * body is whole (buffering: then the fetch starts), with limits.body and the
 * body timers.
 */
static void
fw_pump_request_body(struct edge_req *req)
{
	struct edge_forward *fw = &req->fw;
	struct evbuffer *in = edge_req_body_in(req);
	struct evbuffer *out = NULL;
	int err = 0;

	if (!fw->buffered && fw->fetch != NULL)
		out = edge_fetch_output(fw->fetch);
	if (fw->req_body_done || (!fw->buffered && out == NULL))
		return;
	/* the transport takes its framing off (HTTP/1.1: Content-Length,
	 * chunks) */
	for (;;) {
		size_t n = 0;
		int status = 0;
		const char *why = NULL;
		enum edge_xport_body b = edge_req_body_next(req, &n, &status, &why);

		if (b == EDGE_XPORT_BODY_DATA) {
			if ((err = fw_body_move(req, in, out, n)) != 0)
				break;
			continue;
		}
		if (b == EDGE_XPORT_BODY_END) {
			if (!fw->buffered && req->h1.body == H1_BODY_CHUNKED)
				evbuffer_add(out, "0\r\n\r\n", 5);
			fw->req_body_done = true;
		} else if (b == EDGE_XPORT_BODY_ERROR) {
			char msg[96];

			snprintf(msg, sizeof msg, "bad request: %s", why);
			edge_req_send_error(req, status, msg);
			return;
		}
		break;
	}
	if (err == FW_BODY_TOO_LARGE) {
		edge_req_send_error(req, 413, "request body too large");
		return;
	}
	if (err != 0) {
		fw_spool_failed(req, err);
		return;
	}
	if (fw->req_body_done) {
		edge_req_read_body(req, false);
		edge_req_body_timer(req, NULL);
		if (fw->buffering) {
			EDGE_COUNT(&req->sess->w->metrics, request_bodies_buffered_total);
			fw_fetch(req);
		}
		return;
	}
	if (req->sess->client_eof) {
		/* The client stopped sending in the middle of its body. */
		edge_forward_abort(req);
		edge_req_abort(req);
		return;
	}
	if (!fw->buffered && evbuffer_get_length(out) > FW_OUT_HIGH) {
		/* the origin is slow to take the body: wait for it, not the client */
		edge_req_read_body(req, false);
		edge_req_body_timer(req, NULL);
		if (fw->body_pause_ms == 0)
			fw->body_pause_ms = time_mono_ms();
		edge_fetch_write_lowmark(fw->fetch, FW_OUT_LOW);
	} else {
		edge_req_read_body(req, true);
		fw_arm_body_timer(req);
	}
}

/* The buffered body → the origin's output, up to FW_OUT_HIGH at a time (the
 * origin's write callback asks for more). */
static void
fw_send_spool(struct edge_req *req, struct evbuffer *out)
{
	struct edge_forward *fw = &req->fw;

	while (fw->spool_sent < fw->spool.len && evbuffer_get_length(out) < FW_OUT_HIGH) {
		int r = edge_spool_copy(
		    &fw->spool, &fw->spool_sent, out, FW_OUT_HIGH - evbuffer_get_length(out));

		if (r != 0) {
			fw_spool_failed(req, r);
			return;
		}
	}
	if (fw->spool_sent < fw->spool.len)
		edge_fetch_write_lowmark(fw->fetch, FW_OUT_LOW);
}

/* ---- the fetch's calls: the body source ---- */

static void
fw_enter(void *arg)
{
	edge_req_enter(arg);
}

static void
fw_leave(void *arg)
{
	edge_req_leave(arg);
}

/* A try: the request head and the buffered body (all of it again on a new
 * try), or whatever body bytes are already here. */
static void
fw_send(void *arg, struct evbuffer *out)
{
	struct edge_req *req = arg;

	fw_write_request_head(req, out);
	req->fw.spool_sent = 0;
	if (req->fw.buffered)
		fw_send_spool(req, out);
	else
		fw_pump_request_body(req);
}

static void
fw_writable(void *arg, struct evbuffer *out)
{
	struct edge_req *req = arg;

	if (!req->fw.req_body_done)
		fw_pump_request_body(req);
	else if (req->fw.spool_sent < req->fw.spool.len)
		fw_send_spool(req, out);
}

/* The whole request is in the origin's output (or on its way): the
 * connection may carry another one after the response. */
static bool
fw_sent(void *arg)
{
	const struct edge_req *req = arg;

	return req->fw.req_body_done && req->fw.spool_sent == req->fw.spool.len;
}

/* ---- the origin's head ---- */

static bool
fw_skip_response_header(const struct h1_response *resp, const struct h1_header *h)
{
	if (str_eq_nocase(h->name, STR_LIT("Transfer-Encoding")))
		return true;
	if (str_eq_nocase(h->name, STR_LIT("Content-Length")))
		return resp->body != H1_BODY_NONE;
	return h1_is_hop_by_hop(h->name, resp->headers, resp->n_headers);
}

/* The Content-Range of a 206 that held the whole representation (or the
 * rest of a stored part's), now relayed and stored as the 200 it amounts to
 * (fw_range_window, fw_part_refetch). */
static bool
fw_skip_window_field(const struct edge_forward *fw, const struct h1_header *h)
{
	return fw->range_whole && str_eq_nocase(h->name, STR_LIT("Content-Range"));
}

/* A site with hsts owns Strict-Transport-Security: the origin's is neither
 * relayed nor stored (the node adds its own on TLS, RFC 6797 §7.2). */
static bool
fw_skip_origin_sts(const struct edge_req *req, const struct h1_header *h)
{
	return req->site != NULL && req->site->hsts != NULL &&
	       str_eq_nocase(h->name, STR_LIT("Strict-Transport-Security"));
}

void
edge_forward_policy_conf(const struct edge_req *req, struct cache_policy_conf *conf)
{
	conf->default_ttl_s = req->route != NULL ? (int64_t)req->route->default_ttl_s : 0;
	conf->error_ttl_s = req->route != NULL ? (int64_t)req->route->error_ttl_s : 0;
	conf->heuristic_max_s = (int64_t)req->sess->gen->cfg->cache.heuristic_max_s;
	conf->grace_s = fw_route_grace(req) ? (int64_t)req->route->grace_s
	                                    : (int64_t)req->sess->gen->cfg->cache.grace_s;
}

/* The object resp is stored as under key (key_len bytes): the route's
 * freshness settings, the fields skip leaves out (a site with hsts owns
 * Strict-Transport-Security), the ban generation of the fetch; or NULL
 * when the policy does not store it. */
static struct cache_obj *
fw_object_new(struct edge_req *req, const struct h1_response *resp, const char *key, size_t key_len,
    unsigned skip, time_t response_time)
{
	struct edge_forward *fw = &req->fw;
	struct cache_policy_conf conf;
	struct cache_obj *o;

	if (req->site != NULL && req->site->hsts != NULL)
		skip |= EDGE_FETCH_SKIP_STS;
	edge_forward_policy_conf(req, &conf);
	o = edge_fetch_obj_new(req->sess->w, req->sess->gen->cfg, &req->h1, resp, key, key_len,
	    &conf, edge_fetch_request_time(fw->fetch), response_time, skip);
	if (o != NULL)
		cache_obj_set_gen(o, edge_fetch_ban_gen(fw->fetch));
	return o;
}

/* The object this answer makes (edge_fetch_obj_new), when it may be stored;
 * a new reference, or NULL. */
static struct cache_obj *
fw_object(struct edge_req *req, const struct h1_response *resp, time_t response_time)
{
	struct edge_forward *fw = &req->fw;
	const struct origin_sibling_conf *sc = &req->sess->gen->cfg->siblings;
	unsigned skip = 0;

	if (!fw->store || !fw_method_is(req, "GET") || req->key_len < 0)
		return NULL;
	/* siblings.store: small — a large object stays with its owner only */
	if (fw->sibling && !fw->grace && sc->store == ORIGIN_SIBLING_STORE_SMALL &&
	    (resp->body != H1_BODY_LENGTH || resp->content_length > sc->store_max))
		return NULL;
	if (fw->range_whole)
		skip |= EDGE_FETCH_SKIP_CONTENT_RANGE;
	if (fw->sibling)
		skip |= EDGE_FETCH_SKIP_CACHE_STATUS;
	return fw_object_new(req, resp, req->key, (size_t)req->key_len, skip, response_time);
}

/* The object a 206 to the client's own Range is stored as: a part of the
 * representation (edge_partial.h), or NULL. */
static struct cache_obj *
fw_partial(struct edge_req *req, struct h1_response *resp, time_t response_time)
{
	struct edge_forward *fw = &req->fw;
	struct edge_worker *w = req->sess->w;
	char key[CACHE_KEY_MAX + 16];
	struct cache_obj *o;
	struct str reason;
	int len;

	if (!fw->store || !fw_method_is(req, "GET") || req->key_len < 0 || fw->sibling ||
	    fw->revalidate || fw->range_strip || !cache_enabled(w->srv->cache) ||
	    h1_header_find(req->h1.headers, req->h1.n_headers, STR_LIT("Range")) == NULL ||
	    !edge_partial_response(resp))
		return NULL;
	len = edge_partial_key(req->key, (size_t)req->key_len, key, sizeof key);
	if (len < 0)
		return NULL;
	/* stored as a slice is: a 200 head that keeps its Content-Range; the
	 * client still gets the 206 as it came */
	reason = resp->reason;
	resp->status = 200;
	resp->reason = STR_LIT("OK");
	o = fw_object_new(req, resp, key, (size_t)len, 0, response_time);
	resp->status = 206;
	resp->reason = reason;
	return o;
}

/* RFC 9110 §9.2.1: the methods that do not ask the origin to change state. */
static bool
fw_safe_method(const struct edge_req *req)
{
	return fw_method_is(req, "GET") || fw_method_is(req, "HEAD") ||
	       fw_method_is(req, "OPTIONS") || fw_method_is(req, "TRACE");
}

/*
 * Invalidation (RFC 9111 §4.4): a non-error response (2xx, 3xx) to an unsafe
 * method (every method but the safe ones, unknown ones included) removes
 * what is stored for the target URI and for the URIs in Location and
 * Content-Location when they have the target's origin, every variant
 * included.  Called while the response head is parsed.
 */
static void
fw_invalidate(struct edge_req *req, const struct h1_response *resp, time_t now)
{
	static const struct str fields[] = {STR_LIT("Location"), STR_LIT("Content-Location")};
	struct edge_worker *w = req->sess->w;

	if (!cache_enabled(w->srv->cache) || req->key_len < 0 || fw_safe_method(req) ||
	    resp->status < 200 || resp->status >= 400)
		return;
	cache_invalidate(w->srv->cache, req->key, (size_t)req->key_len, now);
	/* its stored part and slices too */
	edge_partial_invalidate(w->srv->cache, req->key, (size_t)req->key_len, now);
	edge_slice_invalidate_url(
	    w, req->sess->gen->cfg->cache.slice_bytes, req->key, (size_t)req->key_len);
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		const struct h1_header *h =
		    h1_header_find(resp->headers, resp->n_headers, fields[i]);
		int n;

		if (h == NULL)
			continue;
		n = cache_key_resolve(req->key, (size_t)req->key_len, h->value, w->key_scratch,
		    sizeof w->key_scratch);
		if (n >= 0)
			cache_invalidate(w->srv->cache, w->key_scratch, (size_t)n, now);
	}
	EDGE_COUNT(&w->metrics, cache_invalidations_total);
}

/*
 * A 200 to a HEAD forwarded for a stale stored response (RFC 9111 §4.3.5):
 * when the validators it carries match the stored response's (ETag, else
 * Last-Modified; carrying none, it has none to mismatch) and so does its
 * Content-Length, if any, its fields update the stored head as a 304's
 * would, the stored body kept.  Otherwise the stored response stays stale,
 * for the next GET to revalidate or replace.
 */
static void
fw_head_update(struct edge_req *req, const struct h1_response *resp, time_t now)
{
	struct edge_forward *fw = &req->fw;
	const struct h1_header *hs = resp->headers;
	size_t n = resp->n_headers;
	struct cache_policy_conf conf;
	struct cache_policy pol;
	struct cache_obj *o;

	if (fw->stale == NULL || !fw->store || !fw_method_is(req, "HEAD") || resp->status != 200)
		return;
	if (h1_header_find(hs, n, STR_LIT("Content-Length")) != NULL) {
		size_t len;

		(void)cache_obj_body(fw->stale, &len);
		if (resp->content_length != len)
			return;
	}
	if (!cache_policy_304_applies(fw->stale, resp, false))
		return;
	edge_forward_policy_conf(req, &conf);
	cache_policy_evaluate_304(
	    &req->h1, fw->stale, resp, edge_fetch_request_time(fw->fetch), now, &conf, &pol);
	if (!pol.storable)
		return;
	o = cache_obj_update(fw->stale, hs, n, now, &pol);
	if (o == NULL)
		return;
	cache_obj_set_gen(o, edge_fetch_ban_gen(fw->fetch));
	cache_store(req->sess->w->srv->cache, o, now);
	EDGE_COUNT(&req->sess->w->metrics, cache_stores_total);
	cache_obj_unref(&o);
}

/* The origin's fields the client's head leaves out (edge_resp_skip_cb). */
static bool
fw_skip_final_field(const void *arg, const struct h1_header *h)
{
	const struct edge_req *req = arg;
	const struct edge_forward *fw = &req->fw;

	return fw_skip_response_header(fw->resp, h) || fw_skip_origin_sts(req, h) ||
	       fw_skip_window_field(fw, h) || edge_range_cut_skips(&fw->cut, h->name) ||
	       (fw->sibling && edge_fetch_cache_status_field(h->name));
}

static void
fw_write_response_head(struct edge_req *req, const struct h1_response *resp, bool stored)
{
	struct edge_forward *fw = &req->fw;
	struct edge_resp r;
	char cs[160];
	const struct config_member *m = fw->sibling ? req->up_member : NULL;
	char cut_buf[EDGE_RANGE_FIELDS_BUF + 24];
	struct edge_resp_field cut[EDGE_RANGE_FIELDS_MAX];

	/* RFC 9211 §2.3: fwd-status, the answer to our conditional request */
	if (fw->revalidate)
		snprintf(cs, sizeof cs, "fwd=%s; fwd-status=%d%s", req->fwd, resp->status,
		    stored ? "; stored" : "");
	else
		snprintf(cs, sizeof cs, "fwd=%s%s", req->fwd, stored ? "; stored" : "");
	/* the answer came from the key's owner: detail names it */
	if (m != NULL)
		snprintf(cs + strlen(cs), sizeof cs - strlen(cs), "; detail=\"sibling %.64s:%u\"",
		    m->host, (unsigned)m->port);
	if (!fw->req_body_done)
		req->sess->keep_alive = false; /* unread request body: cannot reuse */
	edge_resp_origin(&r, req, resp, fw->cut.active ? fw->cut.status : resp->status,
	    fw_skip_final_field, req, cs);
	if (fw->cut.active)
		r.reason = STR_NULL; /* our 206 / 416, not the origin's status */
	switch (resp->body) {
	case H1_BODY_NONE:
		break;
	case H1_BODY_LENGTH:
		if (fw->cut.active) {
			unsigned n = edge_range_cut_fields(&fw->cut, cut, cut_buf);

			for (unsigned i = 0; i < n; i++)
				edge_resp_add(&r, cut[i].name, cut[i].value);
		} else {
			/* a part's completion: the part's bytes come first */
			edge_resp_add_u64(&r, STR_LIT("Content-Length"),
			    resp->content_length + (fw->part_tail ? fw->part_end : 0));
		}
		break;
	case H1_BODY_CHUNKED:
	case H1_BODY_CLOSE:
		if (req->h1.minor >= 1) {
			r.framing = EDGE_RESP_FRAMING_CHUNKED;
		} else {
			r.framing = EDGE_RESP_FRAMING_CLOSE;
			req->sess->keep_alive = false;
		}
		break;
	}
	r.keep_alive = req->sess->keep_alive;
	(void)edge_resp_send(&r, req);
	if (fw->cut.active)
		req->bytes_out += edge_range_cut_feed(
		    &fw->cut, NULL, edge_req_body_out(req), 0); /* a 416's text */
	fw->head_sent = true;
}

/* RFC 9110 §15.2: a proxy forwards a 1xx (102, 103, ...) with its end-to-end
 * fields; never to an HTTP/1.0 client, and never 100 (we answer Expect
 * ourselves, §10.1.1).  Nothing of it is stored: the final response is. */
static bool
fw_skip_interim_field(const void *arg, const struct h1_header *h)
{
	const struct h1_response *resp = arg;

	return h1_is_hop_by_hop(h->name, resp->headers, resp->n_headers);
}

static void
fw_on_interim(void *arg, const struct h1_response *resp)
{
	struct edge_req *req = arg;
	struct edge_resp r;

	if (resp->status == 100 || req->h1.minor == 0)
		return;
	edge_resp_interim(&r, resp, fw_skip_interim_field, resp);
	req->bytes_out += edge_resp_send(&r, req);
}

/*
 * The origin validated the stale response (RFC 9111 §4.3.3, §4.3.4): a new
 * object with the stored head updated by the 304's fields and the same body
 * (shared, see cache_obj_update) replaces it in the RAM tier (and is queued
 * to disk), and the client is answered from it when the fetch is over (its
 * connection back in the idle pool): X-Cache: HIT, "Cache-Status: outpost;
 * fwd=stale; fwd-status=304".
 */
static void
fw_revalidated(struct edge_req *req, const struct h1_response *resp)
{
	struct edge_forward *fw = &req->fw;
	struct edge_worker *w = req->sess->w;
	struct cache_policy_conf conf;
	struct cache_policy pol;
	struct cache_obj *o;
	time_t now = time_now();

	edge_forward_policy_conf(req, &conf);
	cache_policy_evaluate_304(
	    &req->h1, fw->stale, resp, edge_fetch_request_time(fw->fetch), now, &conf, &pol);
	o = cache_obj_update(fw->stale, resp->headers, resp->n_headers, now, &pol);
	if (o != NULL)
		cache_obj_set_gen(o, edge_fetch_ban_gen(fw->fetch));
	EDGE_COUNT(&w->metrics, cache_revalidated_total);
	if (o == NULL) {
		o = cache_obj_ref(fw->stale); /* validated all the same */
	} else if (pol.storable && fw->store) {
		cache_store(w->srv->cache, o, now);
		EDGE_COUNT(&w->metrics, cache_stores_total);
		edge_fetch_store_for_request(w, &req->h1, o, now);
	}
	fw->answer = o;
	fw->answer_stale = false;
	snprintf(fw->answer_cs, sizeof fw->answer_cs, "fwd=stale; fwd-status=304");
}

/* ---- byte ranges on a miss (RFC 9110 §14) ---- */

/* The effective cache.range_fill_max: objects over cache.max_object are
 * never stored, so fetching them whole for a range would gain nothing. */
static uint64_t
fw_range_fill_max(const struct config *cfg)
{
	return cfg->cache.range_fill_max_bytes < cfg->cache.max_object_bytes
	           ? cfg->cache.range_fill_max_bytes
	           : cfg->cache.max_object_bytes;
}

/*
 * Does this range request fill the cache (its Range replaced by the window,
 * fw_range_window)?  Not when cache.range_fill_max is 0, nor when every
 * range it asks starts past the window (a suffix range counts as such: its
 * place is unknown until the length is): the window would not answer it,
 * so its own Range goes to the origin at once.
 */
static bool
fw_range_fills(const struct edge_req *req)
{
	const struct h1_header *h =
	    h1_header_find(req->h1.headers, req->h1.n_headers, STR_LIT("Range"));
	uint64_t window = fw_range_fill_max(req->sess->gen->cfg);
	struct range_set rs;

	if (h == NULL || window == 0)
		return false;
	if (range_parse(h->value, UINT64_MAX, &rs) != RANGE_SATISFIABLE)
		return true; /* ignored: the whole object answers it */
	for (unsigned i = 0; i < rs.n; i++)
		if (rs.r[i].first < window)
			return true;
	return false;
}

/*
 * A range request was sent without its Range to fill the cache, and the
 * origin's 200 will not fill it — it may not be stored (no object), or it
 * announces a body over cache.range_fill_max: this answer is dropped unread
 * and the request asked again with the client's Range and If-Range, whose
 * answer (206, 416 or 200) is relayed as it is.  True if so (*fill dropped).
 */
static bool
fw_range_refetch(struct edge_req *req, const struct h1_response *resp, struct cache_obj **fill)
{
	struct edge_forward *fw = &req->fw;

	if (!fw->range_strip || resp->status != 200)
		return false;
	if (*fill != NULL && !(resp->body == H1_BODY_LENGTH &&
	                         resp->content_length > fw_range_fill_max(req->sess->gen->cfg)))
		return false;
	EDGE_COUNT(&req->sess->w->metrics, cache_range_passes_total);
	cache_obj_unref(fill);
	fw->range_strip = false;
	fw->range_whole = false;
	return true;
}

/* Is the 206 r the whole representation: one Content-Range "bytes 0-N/L"
 * with N + 1 == L == its Content-Length? */
static bool
fw_range_whole(const struct h1_response *r)
{
	const struct h1_header *h = NULL;
	uint64_t first, last, len;

	for (size_t i = 0; i < r->n_headers; i++) {
		if (!str_eq_nocase(r->headers[i].name, STR_LIT("Content-Range")))
			continue;
		if (h != NULL)
			return false;
		h = &r->headers[i];
	}
	return h != NULL && r->body == H1_BODY_LENGTH &&
	       range_content_range(h->value, &first, &last, &len) && first == 0 &&
	       last + 1 == len && len == r->content_length;
}

/*
 * The answer to a range miss, which asked for the window the cache may fill
 * from ("bytes=0-" range_fill_max - 1) instead of the client's Range: an
 * origin that ignores Range sends its 200, handled as before; a 206 that
 * holds the whole representation (it is no bigger than the window) is that
 * representation: relayed and stored as the 200 it amounts to, the client's
 * ranges cut from it (fw_range_cut).  Any other 206 (the object is bigger:
 * it is not stored, slices aside) or a 416 does not answer the client: it
 * is dropped, having cost at most the window, and the request is sent
 * again with the client's own Range and If-Range, whose answer is relayed.
 * True if to be sent again.
 */
static bool
fw_range_window(struct edge_req *req, struct h1_response *resp)
{
	struct edge_forward *fw = &req->fw;

	if (!fw->range_strip || (resp->status != 206 && resp->status != 416))
		return false;
	if (resp->status == 206 && fw_range_whole(resp)) {
		resp->status = 200;
		resp->reason = STR_LIT("OK");
		fw->range_whole = true;
		return false;
	}
	EDGE_COUNT(&req->sess->w->metrics, cache_range_passes_total);
	fw->range_strip = false;
	return true;
}

/*
 * A 304 to our own validators that selects no stored response (RFC 9111
 * §4.3.4: its validator names another representation) answers a question the
 * client did not ask: the request goes again without validators, rather than
 * an empty 304 to a plain GET.
 */
static bool
fw_reval_refetch(struct edge_req *req, const struct h1_response *resp)
{
	struct edge_forward *fw = &req->fw;

	if (!fw->revalidate || resp->status != 304 || fw->reval_client)
		return false;
	fw->revalidate = false;
	return true;
}

/*
 * The whole 200 of a range request sent without its Range: the client gets
 * what its Range (and If-Range, against this response's validators) asks,
 * cut from the body as it streams (edge_range.h).  A body without a length,
 * a Range that does not apply and several ranges not in ascending order
 * (which would need the whole body first) get the whole 200 instead, as
 * RFC 9110 §14.2 allows.
 */
static void
fw_range_cut(struct edge_req *req, const struct h1_response *resp)
{
	struct edge_forward *fw = &req->fw;
	const struct h1_header *h;
	struct range_validators v = {STR_NULL, STR_NULL, STR_NULL};
	struct str ctype = STR_NULL;
	struct range_set rs;
	enum range_result rr;

	if (!fw->range_strip || resp->status != 200 || resp->body != H1_BODY_LENGTH)
		return;
	if ((h = h1_header_find(resp->headers, resp->n_headers, STR_LIT("ETag"))) != NULL)
		v.etag = h->value;
	if ((h = h1_header_find(resp->headers, resp->n_headers, STR_LIT("Last-Modified"))) != NULL)
		v.last_modified = h->value;
	if ((h = h1_header_find(resp->headers, resp->n_headers, STR_LIT("Date"))) != NULL)
		v.date = h->value;
	if ((h = h1_header_find(resp->headers, resp->n_headers, STR_LIT("Content-Type"))) != NULL)
		ctype = h->value;
	rr = range_request(&req->h1, &v, resp->content_length, &rs);
	if (rr == RANGE_IGNORE || (rr == RANGE_SATISFIABLE && !range_ascending(&rs)))
		return;
	edge_range_cut_start(&fw->cut, rr, &rs, resp->content_length, ctype);
	EDGE_COUNT(&req->sess->w->metrics, range_answers_total);
}

/*
 * The answer to a part's completion (edge_forward_complete_part): the rest
 * of the object with the part's validator is used (part_tail); a 200 (the
 * origin took no Range, or the object changed) is the whole object, handled
 * as any; another 206 or a 416 does not answer a GET of the whole: the
 * request goes again without Range.  True if so.
 */
static bool
fw_part_refetch(struct edge_req *req, const struct h1_response *resp)
{
	struct edge_forward *fw = &req->fw;

	if (fw->part == NULL || fw->part_tail)
		return false;
	if (resp->status == 206 &&
	    edge_partial_is_tail(resp, fw->part_end, fw->part_length, fw->part_validator)) {
		fw->part_tail = true;
		return false;
	}
	cache_obj_unref(&fw->part);
	return resp->status == 206 || resp->status == 416;
}

/*
 * The part's bytes before the rest the origin sends (part_tail): into the
 * object being stored (*fill; over cache.max_object it is not stored), and
 * into the fill this request leads, which its client and the waiters read;
 * or, with no fill, to the client at once, by reference.  False when out
 * of memory.
 */
static bool
fw_part_prefix(struct edge_req *req, struct cache_obj **fill)
{
	struct edge_forward *fw = &req->fw;
	size_t n;
	const char *body = cache_obj_body(fw->part, &n);

	EDGE_COUNT(&req->sess->w->metrics, partial_completions_total);
	if (*fill != NULL && cache_obj_append(*fill, body, (size_t)fw->part_end,
	                         req->sess->gen->cfg->cache.max_object_bytes) != 0)
		cache_obj_unref(fill);
	if (fw->cf != NULL)
		return cache_fill_append(fw->cf, body, (size_t)fw->part_end) == 0;
	req->bytes_out += edge_req_send_ref(
	    req, body, (size_t)fw->part_end, edge_deliver_obj_release, cache_obj_ref(fw->part));
	return true;
}

/*
 * The fill this request leads gets the answer's head: a copy of the
 * object's (the body being built is freed at once if the fill stops storing
 * it), or, when the answer is not stored, the fill ends PASS (waiters go on
 * their own, the key is hit-for-pass).  False when out of memory.
 */
static bool
fw_publish(struct edge_req *req, const struct h1_response *resp, struct cache_obj *fill)
{
	struct edge_forward *fw = &req->fw;
	struct cache_obj *head;

	if (fw->cf == NULL)
		return true;
	if (fill == NULL) {
		if (req->cf == fw->cf)
			edge_collapse_detach(req);
		cache_fill_end(fw->cf, CACHE_FILL_S_PASS, time_now());
		cache_fill_unref(&fw->cf);
		return true;
	}
	head = cache_obj_head_copy(fill);
	if (head == NULL)
		return false;
	cache_fill_head(fw->cf, head,
	    resp->body == H1_BODY_LENGTH
	        ? (int64_t)(resp->content_length + (fw->part_tail ? fw->part_end : 0))
	    : resp->body == H1_BODY_NONE ? 0
	                                 : -1);
	cache_obj_unref(&head);
	return true;
}

/*
 * A GET's 200 too big to store whole (over cache.max_object) from an origin
 * that takes byte ranges (Accept-Ranges: bytes) of a representation with a
 * validator: the answer is dropped unread and slices answer the request
 * (edge_slice.h), filling the cache slice by slice.  Not when slices gave
 * up on the request already, nor for a response with Vary.
 */
static bool
fw_to_slices(struct edge_req *req, const struct h1_response *resp)
{
	const struct h1_header *h;

	if (!req->fw.store || req->fw.range_asis || req->fw.revalidate || resp->status != 200 ||
	    resp->body != H1_BODY_LENGTH ||
	    resp->content_length <= req->sess->gen->cfg->cache.max_object_bytes ||
	    resp->content_length > edge_slice_object_max(req->sess->gen->cfg) ||
	    !edge_slice_eligible(req) ||
	    h1_header_find(req->h1.headers, req->h1.n_headers, STR_LIT("Range")) != NULL ||
	    h1_header_find(resp->headers, resp->n_headers, STR_LIT("Vary")) != NULL ||
	    (h1_header_find(resp->headers, resp->n_headers, STR_LIT("ETag")) == NULL &&
	        h1_header_find(resp->headers, resp->n_headers, STR_LIT("Last-Modified")) == NULL))
		return false;
	h = h1_header_find(resp->headers, resp->n_headers, STR_LIT("Accept-Ranges"));
	return h != NULL && str_eq_nocase(str_trim_ows(h->value), STR_LIT("bytes"));
}

static enum edge_fetch_verdict
fw_decide(struct edge_req *req, struct edge_fetch *f, struct h1_response *resp)
{
	struct edge_forward *fw = &req->fw;
	struct edge_compress *z;
	struct cache_obj *fill, *part = NULL;
	time_t now;

	if (fw->revalidate)
		edge_compress_304(fw->stale, resp);
	if (fw->revalidate && resp->status == 304 &&
	    (cache_policy_304_applies(fw->stale, resp, fw->reval_client) ||
	        (fw->reval_inm && edge_fetch_select_variant(req->sess->w, req->key,
	                              (size_t)req->key_len, resp, &fw->stale)))) {
		fw_revalidated(req, resp);
		return EDGE_FETCH_DONE;
	}
	if (fw_reval_refetch(req, resp) || fw_range_window(req, resp) || fw_part_refetch(req, resp))
		return EDGE_FETCH_AGAIN;
	if ((resp->status == 500 || resp->status == 502 || resp->status == 503 ||
	        resp->status == 504) &&
	    fw_stale_answer(req, resp->status)) {
		/* the error response is dropped with its connection */
		EDGE_COUNT(&req->sess->w->metrics, origin_errors_total);
		return EDGE_FETCH_STOP;
	}
	if (fw_to_slices(req, resp)) {
		(void)fw_publish(req, resp, NULL); /* waiters go their own way: slices */
		fw->to_slices = true;
		return EDGE_FETCH_STOP;
	}
	if (fw->part_tail) {
		/* the rest of a stored part: what the client gets, and what is
		 * stored, is the whole object's 200, the part's bytes first */
		resp->status = 200;
		resp->reason = STR_LIT("OK");
		fw->range_whole = true;
	}
	/* The header views point into the origin input and the worker's scratch
	 * array: use them, then drop the head. */
	now = time_now();
	fw_invalidate(req, resp, now);
	fw_head_update(req, resp, now);
	/* compressed or decoded for this client: the head becomes the coded
	 * variant's, which is what is stored and sent (not after a part's
	 * bytes, which are the origin's coding) */
	z = fw->part_tail
	        ? NULL
	        : edge_compress_head(req->route != NULL ? &req->route->compression : NULL, &req->h1,
	              fw_method_is(req, "HEAD"), req->sess->gen->cfg->cache.max_object_bytes, resp,
	              &req->sess->w->metrics);
	fill = fw_object(req, resp, now);
	if (fill == NULL && z == NULL)
		part = fw_partial(req, resp, now);
	if (fw_range_refetch(req, resp, &fill)) {
		edge_compress_free(&z);
		cache_obj_unref(&part);
		return EDGE_FETCH_AGAIN;
	}
	if (!fw_publish(req, resp, fill)) {
		edge_compress_free(&z);
		cache_obj_unref(&fill);
		cache_obj_unref(&part);
		EDGE_COUNT(&req->sess->w->metrics, origin_errors_total);
		fw_fail(req, 502, "bad gateway");
		return EDGE_FETCH_STOP;
	}
	edge_fetch_filter(f, z);
	fw_range_cut(req, resp);
	fw_write_response_head(req, resp, fill != NULL || part != NULL);
	if (fw->part_tail && !fw_part_prefix(req, &fill)) {
		cache_obj_unref(&fill);
		cache_obj_unref(&part);
		EDGE_COUNT(&req->sess->w->metrics, origin_errors_total);
		fw_fail(req, 502, "bad gateway");
		return EDGE_FETCH_STOP;
	}
	if (fw->cf != NULL) {
		/* NORMAL: the fetch writes the fill, the client reads it back */
		edge_collapse_leader_reads(req);
		edge_fetch_store(f, fill, fw->cf);
		fw->cf = NULL;
		req->sess->state = EDGE_SESS_COLLAPSED;
	} else if (fill != NULL) {
		edge_fetch_store(f, fill, NULL);
	} else if (part != NULL) {
		edge_fetch_store_part(f, part);
	}
	return EDGE_FETCH_READ;
}

static enum edge_fetch_verdict
fw_on_head(void *arg, struct edge_fetch *f, struct h1_response *resp)
{
	struct edge_req *req = arg;
	enum edge_fetch_verdict v;

	req->fw.resp = resp;
	req->up_member = edge_fetch_member(f);
	if (req->fw.grace)
		EDGE_COUNT(&req->sess->w->metrics, sibling_grace_hits_total);
	else if (req->fw.sibling)
		EDGE_COUNT(&req->sess->w->metrics, sibling_fills_total);
	req->up_first_us = edge_fetch_first_byte_us(f);
	v = fw_decide(req, f, resp);
	req->fw.resp = NULL;
	return v;
}

/* ---- the fetch's calls: the sink ---- */

/* PASS: n body bytes to the client (chunk-encoded when we chunk, or cut to
 * the client's ranges); true when its output is full. */
static bool
fw_on_body(void *arg, struct evbuffer *in, size_t n)
{
	struct edge_req *req = arg;
	struct edge_forward *fw = &req->fw;

	if (fw->cut.active) {
		req->bytes_out += edge_range_cut_feed(&fw->cut, in, edge_req_body_out(req), n);
	} else {
		(void)edge_req_send_body(req, in, n);
		req->bytes_out += n; /* the content, not its chunk framing */
	}
	if (edge_req_queued(req) <= FW_OUT_HIGH)
		return false;
	edge_req_want_writable(req, FW_OUT_LOW);
	return true;
}

static void
fw_on_end(void *arg)
{
	struct edge_req *req = arg;
	struct edge_forward *fw = &req->fw;

	fw->fetch = NULL;
	if (fw->answer != NULL) {
		fw_answer(req);
		return;
	}
	if (fw->to_slices) {
		edge_forward_abort(req);
		edge_slice_start(req);
		return;
	}
	req->bytes_out += edge_req_send_end(req);
	if (!fw->req_body_done)
		req->sess->keep_alive = false;
	edge_forward_abort(req);
	edge_req_want_writable(req, 0);
	edge_req_finish(req);
}

static void
fw_on_error(void *arg, enum edge_fetch_error e, int status, const char *msg)
{
	struct edge_req *req = arg;
	struct edge_forward *fw = &req->fw;

	fw->fetch = NULL;
	if (fw->grace) {
		/* the previous owner has no copy (or failed): the origin is asked */
		EDGE_COUNT(&req->sess->w->metrics, sibling_grace_misses_total);
		fw->grace = false;
		fw->sibling = false;
		fw->grace_done = true;
		fw_fetch(req);
		return;
	}
	if (fw->sibling) {
		/* the owner failed before its answer: the origin is asked */
		log_info("proxy", "sibling failed (%d %s): the origin is asked", status, msg);
		EDGE_COUNT(&req->sess->w->metrics, sibling_fallbacks_total);
		fw->sibling = false;
		fw->sibling_failed = true;
		fw_fetch(req);
		return;
	}
	switch (e) {
	case EDGE_FETCH_E_ORIGIN:
		fw_fail(req, status, msg);
		break;
	case EDGE_FETCH_E_UNAVAILABLE:
		if (!fw_stale_if_error(req, FW_GRACE))
			edge_req_send_error(req, status, msg);
		break;
	case EDGE_FETCH_E_BUSY:
		if (!fw_stale_if_error(req, FW_GRACE))
			edge_req_send_error_with(req, status, "Retry-After", "1", msg);
		break;
	}
}

/* NORMAL: the client reads the fill the fetch writes. */
static void
fw_on_fill(void *arg)
{
	edge_collapse_pump(arg);
}

static void
fw_on_fill_end(void *arg, struct cache_mem_client *cl, uint64_t bytes)
{
	struct edge_req *req = arg;

	req->fw.fetch = NULL;
	edge_forward_abort(req);
	edge_forward_unpin(req);
	req->pin_cl = cl; /* until the client has read the fill (edge_collapse_detach) */
	req->pin_bytes = bytes;
	edge_collapse_pump(req);
}

static const struct edge_fetch_client fw_client = {
    fw_enter,
    fw_leave,
    fw_send,
    fw_writable,
    fw_sent,
    fw_on_interim,
    fw_on_head,
    fw_on_body,
    fw_on_end,
    fw_on_error,
    fw_on_fill,
    fw_on_fill_end,
};

/* ---- start ---- */

/* No request body, or an empty one: nothing a retry would have to resend. */
static bool
fw_bodyless(const struct edge_req *req)
{
	return req->h1.body == H1_BODY_NONE ||
	       (req->h1.body == H1_BODY_LENGTH && req->h1.content_length == 0);
}

/* RFC 9110 §9.2.2 idempotent methods. */
static bool
fw_idempotent(const struct edge_req *req)
{
	static const char *const methods[] = {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"};

	for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
		if (fw_method_is(req, methods[i]))
			return true;
	return false;
}

/* The balancer key: client address for ip_hash, the pool's hash_key for
 * consistent_hash. */
uint64_t
edge_forward_hash(const struct edge_req *req, const struct config_pool *pool)
{
	if (pool->balancer == CONFIG_BALANCER_IP_HASH ||
	    (pool->balancer == CONFIG_BALANCER_CONSISTENT_HASH &&
	        pool->hash_key == CONFIG_HASH_KEY_CLIENT_IP))
		return origin_balance_hash(req->sess->client.text, strlen(req->sess->client.text));
	if (pool->balancer != CONFIG_BALANCER_CONSISTENT_HASH)
		return 0;
	if (pool->hash_key == CONFIG_HASH_KEY_HOST)
		return origin_balance_hash(req->host_lc, req->host_lc_len);
	return origin_balance_hash(req->h1.path.p, req->h1.path.len);
}

/* Does the key go to its owner among the siblings (origin_sibling.h)?  A GET
 * or HEAD without a body, not a sibling's own request, whose owner —
 * rendezvous hashing of the key over the usable members, this node included
 * — is another node; *hash: the key's.  Not on a route whose copy
 * depends on where the client is (cache.vary_geo) or on its canary share:
 * the owner would judge those by its own view of the client. */
static bool
fw_sibling_request(const struct edge_req *req)
{
	return req->sess->gen->cfg->siblings.enabled && !req->from_sibling && req->key_len > 0 &&
	       fw_bodyless(req) && (fw_method_is(req, "GET") || fw_method_is(req, "HEAD")) &&
	       req->route != NULL && req->route->vary_geo == CONFIG_VARY_GEO_NONE &&
	       req->route->canary_pool == NULL;
}

bool
edge_forward_sibling_owner(
    const struct edge_req *req, const char *key, size_t key_len, uint64_t *hash)
{
	const struct origin_sibling_conf *sc = &req->sess->gen->cfg->siblings;
	int owner;

	if (!fw_sibling_request(req))
		return false;
	*hash = origin_balance_hash(key, key_len);
	owner = origin_balance_pick(origin_pool_balance(req->sess->gen->opool, sc->pool_idx), *hash,
	    NULL, 0, time_mono_ms());
	return owner >= 0 && (unsigned)owner != sc->self_idx;
}

static bool
fw_owner_elsewhere(const struct edge_req *req, uint64_t *hash)
{
	return req->key_len > 0 &&
	       edge_forward_sibling_owner(req, req->key, (size_t)req->key_len, hash);
}

/* fw_owner_elsewhere for a miss that stores, unless the owner failed it. */
static bool
fw_to_sibling(const struct edge_req *req, uint64_t *hash)
{
	return !req->fw.sibling_failed && req->fw.store && fw_owner_elsewhere(req, hash);
}

static bool
fw_same_member(const struct config_member *a, const struct config_member *b)
{
	return a->port == b->port && strcmp(a->host, b->host) == 0;
}

/*
 * siblings.grace: within it after a membership change, a miss of a key this
 * node owns now and another member owned before (that member still in the
 * pool, and what the pool picks once this node is left out, as rendezvous
 * hashing makes it when this node joined) asks that member for its copy
 * first (only-if-cached), so the keys that move do not all go to the
 * origin at once.  *hash: the key's.
 */
static bool
fw_grace_owner(const struct edge_req *req, uint64_t *hash)
{
	const struct config *cfg = req->sess->gen->cfg;
	const struct origin_sibling_conf *sc = &cfg->siblings;
	const struct config_pool *pool = &cfg->pools[sc->pool_idx];
	struct origin_balance *bal;
	uint64_t now = time_mono_ms();
	unsigned self = sc->self_idx;
	int prev, next;

	if (req->fw.grace_done || req->fw.sibling_failed || !req->fw.store || sc->n_prev == 0 ||
	    now - sc->changed_ms >= sc->grace_ms || !fw_sibling_request(req))
		return false;
	*hash = origin_balance_hash(req->key, (size_t)req->key_len);
	bal = origin_pool_balance(req->sess->gen->opool, sc->pool_idx);
	if (origin_balance_pick(bal, *hash, NULL, 0, now) != (int)self)
		return false;
	prev = origin_balance_hrw(sc->prev, sc->n_prev, *hash);
	next = origin_balance_pick(bal, *hash, &self, 1, now);
	return prev >= 0 && next >= 0 && fw_same_member(&sc->prev[prev], &pool->members[next]) &&
	       !fw_same_member(&sc->prev[prev], &pool->members[self]);
}

/* The fetch: NORMAL when req leads a fill, else PASS.  Until it has an origin
 * connection, request bytes wait in the kernel. */
static void
fw_fetch(struct edge_req *req)
{
	struct edge_forward *fw = &req->fw;
	struct edge_fetch_req r = {0};
	uint64_t sib_hash = 0;

	fw->buffering = false;
	edge_req_read_body(req, false);
	r.mode = fw->cf != NULL ? EDGE_FETCH_NORMAL : EDGE_FETCH_PASS;
	r.gen = req->sess->gen;
	r.pool = fw->pool;
	r.hash = edge_forward_hash(req, fw->pool);
	r.skip = false;
	r.skip_member = 0;
	fw->sibling = fw_to_sibling(req, &sib_hash);
	fw->grace = !fw->sibling && fw_grace_owner(req, &sib_hash);
	fw->sibling = fw->sibling || fw->grace;
	r.cache_only = fw->grace;
	if (fw->sibling) {
		r.pool = &req->sess->gen->cfg->pools[req->sess->gen->cfg->siblings.pool_idx];
		r.hash = sib_hash;
		r.skip = true;
		r.skip_member = req->sess->gen->cfg->siblings.self_idx;
	}
	r.head_method = fw_method_is(req, "HEAD");
	r.retry_safe = fw_bodyless(req) && fw_idempotent(req);
	r.peer = req->sess->client.text;
	r.client = &fw_client;
	r.arg = req;
	fw->fetch = edge_fetch_new(req->sess->w, &r);
	edge_fetch_start(fw->fetch);
}

bool
edge_forward_complete_part(struct edge_req *req)
{
	struct edge_forward *fw = &req->fw;

	ASSERT(fw->part == NULL);
	fw->part = edge_partial_prefix(req, &fw->part_end, &fw->part_length, &fw->part_validator);
	return fw->part != NULL;
}

void
edge_forward_start(
    struct edge_req *req, const struct config_pool *pool, bool store, struct cache_obj *stale)
{
	struct edge_forward *fw = &req->fw;

	ASSERT(fw->fetch == NULL && !fw->buffering);
	req->on_writable = edge_forward_on_client_writable;
	fw->pool = pool;
	/* never store an answer to a request whose body went to the origin: a
	 * GET's content has no meaning (RFC 9110 §9.3.1), not a key either */
	fw->store = store && req->h1.body == H1_BODY_NONE;
	fw->range_strip =
	    store && fw_method_is(req, "GET") && !fw->range_asis && fw_range_fills(req);
	fw->stale = stale; /* fw->revalidate and reval_* set by the caller */
	if (stale == NULL)
		fw->revalidate = false;
	fw->req_body_done = req->h1.body == H1_BODY_NONE;
	fw->body_start_ms = time_mono_ms();
	if (!fw->req_body_done)
		edge_req_body_begin(req); /* HTTP/1.1: 100 Continue when expected */
	/* A body that arrives slowly must not hold a member's connection (and
	 * its max_conns slot) all that time: it is read whole first, as nginx's
	 * proxy_request_buffering does, unless the route streams it. */
	fw->buffered = !fw->req_body_done && req->route != NULL && req->route->request_buffering;
	if (fw->buffered) {
		fw->buffering = true;
		fw_pump_request_body(req);
		return;
	}
	fw_fetch(req);
}

void
edge_forward_on_client_readable(struct edge_req *req)
{
	if (!req->fw.req_body_done) /* buffering too */
		fw_pump_request_body(req);
	else if (req->sess->client_eof)
		req->sess->keep_alive = false;
}

bool
edge_forward_reading_body(const struct edge_req *req)
{
	return !req->fw.req_body_done;
}

void
edge_forward_body_timeout(struct edge_req *req)
{
	EDGE_COUNT(&req->sess->w->metrics, client_timeouts_total);
	if (req->fw.head_sent)
		edge_req_abort(req);
	else
		edge_req_send_error(
		    req, 408, "request timeout: the request body stalled or came too slowly");
}

void
edge_forward_on_client_writable(struct edge_req *req)
{
	struct edge_forward *fw = &req->fw;

	if (!fw->head_sent || fw->fetch == NULL || edge_req_queued(req) > FW_OUT_LOW)
		return;
	edge_req_want_writable(req, 0);
	edge_fetch_resume(fw->fetch);
}

bool
edge_forward_background(struct edge_req *req, struct cache_obj *stale)
{
	const struct config *cfg = req->sess->gen->cfg;
	struct edge_fetch_bereq b;
	struct edge_fetch_bg bg;
	char hop[ORIGIN_SIBLING_MARK_LEN + 1];
	uint64_t sib_hash = 0;

	if (req->key_len < 0 || req->route == NULL || req->h1.body != H1_BODY_NONE)
		return false;
	/* as for the forwarded request, as a GET with the stored validators
	 * (RFC 9111 §4.3.1) */
	edge_forward_bereq(req, EDGE_FETCH_FIELDS_REFRESH, &b);
	b.method = STR_LIT("GET");
	b.stale = stale;
	b.inm = true;
	b.ims = true;
	bg.gen = req->sess->gen;
	bg.pool = req->pool; /* the route's, or its canary's */
	bg.hash = edge_forward_hash(req, req->pool);
	bg.key = req->key;
	bg.key_len = (size_t)req->key_len;
	bg.stale = stale;
	edge_forward_policy_conf(req, &bg.conf);
	bg.skip_sts = req->site != NULL && req->site->hsts != NULL;
	/* a key another node owns is refreshed by its owner, as a foreground
	 * miss is: the owner revalidates with the origin once for the PoP */
	bg.sibling = fw_owner_elsewhere(req, &sib_hash);
	bg.skip_member = 0;
	if (bg.sibling) {
		bg.pool = &cfg->pools[cfg->siblings.pool_idx];
		bg.hash = sib_hash;
		bg.skip_member = cfg->siblings.self_idx;
		b.target = req->h1.path;
		b.host = req->h1.authority;
		b.hop = str_make(hop, origin_sibling_mark(&cfg->siblings, b.method, b.host,
		                          b.target, time_now(), hop));
	}
	return edge_fetch_background(req->sess->w, &bg, &b);
}
