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
 * reader (the connection becomes a fill reader, EDGE_CONN_COLLAPSED); when
 * the client leaves, the fetch goes on for the others.  Otherwise the body
 * comes through fw_on_body, moved from the origin's buffer to the client's
 * with evbuffer_remove_buffer (chunks move, bytes are not copied), and the
 * client's full output pauses the fetch (edge_fetch_resume on writable).
 *
 * Errors before the response head reached the client become 502, 503 or
 * 504 with a short body (or a stale answer: stale-if-error, grace); after
 * it, the client connection is closed so a truncated body is never mistaken
 * for a whole one.  Runs on the connection's worker thread; the fetch's
 * callbacks carry the edge_conn.
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
#include "edge/edge_conn.h"
#include "edge/edge_fetch.h"
#include "edge/edge_forward.h"
#include "edge/edge_range.h"
#include "edge/edge_resp.h"
#include "edge/edge_route.h"
#include "edge/edge_spool.h"
#include "edge/edge_worker.h"
#include "origin/origin_balance.h"
#include "origin/origin_pool.h"
#include "origin/origin_sibling.h"

#define FW_OUT_HIGH (512 * 1024) /* pause the producer above this */
#define FW_OUT_LOW  (128 * 1024) /* resume below this */

static uint64_t fw_range_fill_max(const struct config *cfg);
static bool fw_range_fills(const struct edge_conn *c);

static bool
fw_method_is(const struct edge_conn *c, const char *m)
{
	return str_eq(c->req->h1.method, str_cstr(m));
}

void
edge_forward_unpin(struct edge_conn *c)
{
	if (c->req->pin_cl == NULL)
		return;
	cache_mem_client_uncharge(c->req->pin_cl, c->req->pin_bytes);
	c->req->pin_bytes = 0;
	cache_mem_client_put(&c->req->pin_cl);
}

void
edge_forward_abort(struct edge_conn *c)
{
	struct edge_forward *fw = &c->req->fw;

	edge_fetch_detach(&fw->fetch);
	if (fw->cf != NULL) {
		/* nothing is published: waiters without a head go on their own,
		 * the others are closed (edge_collapse.h) */
		if (c->req->cf == fw->cf)
			edge_collapse_detach(c);
		cache_fill_end(fw->cf, CACHE_FILL_S_FAILED, time_now());
		cache_fill_unref(&fw->cf);
	}
	cache_obj_unref(&fw->stale);
	cache_obj_unref(&fw->answer);
	edge_range_cut_end(&fw->cut);
	edge_spool_reset(&fw->spool);
	memset(fw, 0, sizeof *fw);
}

/* ---- answers of the request side ---- */

/* Grace: no member may be asked (none usable, or all at max_conns), and the
 * pool allows any stale copy to answer — unless its own directives forbid
 * serving it stale (RFC 9111 §4.2.4, §5.2.2.2, §5.2.2.4, §5.2.2.10). */
static bool
fw_grace_ok(const struct edge_conn *c)
{
	return c->req->fw.pool->grace && !cache_policy_never_stale(c->req->fw.stale);
}

/* Does the route set its own cache.grace (else the node's applies)? */
static bool
fw_route_grace(const struct edge_conn *c)
{
	return c->req->route != NULL && c->req->route->grace_s != CONFIG_GRACE_INHERIT;
}

/* The default cache.grace stands in only for an origin that was asked and
 * gave no answer (RFC 9111 §4.2.4: a "disconnected" cache; with no member to
 * ask, the pool's grace decides); one the operator set, on the node or the
 * route, covers every failure. */
static bool
fw_grace_set(const struct edge_conn *c)
{
	return fw_route_grace(c) || c->gen->cfg->cache.grace_set;
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
fw_stale_answer(struct edge_conn *c, int fwd_status)
{
	struct edge_forward *fw = &c->req->fw;
	struct cache_policy_conf conf;
	bool grace = false;
	char *cs = fw->answer_cs;

	if (fw->stale == NULL || fw->head_sent)
		return false;
	if (!cache_policy_stale_ok(&c->req->h1, fw->stale, time_now(), CACHE_STALE_IF_ERROR)) {
		edge_forward_policy_conf(c, &conf);
		if (fwd_status != 0 && !fw_grace_set(c))
			conf.grace_s = 0;
		if (!cache_policy_grace_ok(&c->req->h1, fw->stale, time_now(), conf.grace_s) &&
		    (fwd_status != FW_GRACE || !fw_grace_ok(c)))
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
fw_answer(struct edge_conn *c)
{
	struct edge_forward *fw = &c->req->fw;
	struct cache_obj *o = fw->answer;
	char cs[sizeof fw->answer_cs];

	fw->answer = NULL;
	memcpy(cs, fw->answer_cs, sizeof cs);
	if (!fw->req_body_done)
		c->keep_alive = false; /* unread request body: cannot reuse */
	if (fw->answer_stale) {
		EDGE_COUNT(&c->w->metrics, cache_stale_served_total);
		c->req->stale_served = true;
	}
	edge_forward_abort(c);
	edge_conn_serve_stored(c, o, cs); /* counts the hit */
	cache_obj_unref(&o);
}

static bool
fw_stale_if_error(struct edge_conn *c, int fwd_status)
{
	if (!fw_stale_answer(c, fwd_status))
		return false;
	fw_answer(c);
	return true;
}

/* The forwarding failed: an error response while nothing was sent (or a
 * stale answer), else close. */
static void
fw_fail(struct edge_conn *c, int status, const char *msg)
{
	if (c->req->fw.head_sent) {
		edge_forward_abort(c);
		edge_req_abort(c->req);
		return;
	}
	if (fw_stale_if_error(c, 0))
		return;
	edge_conn_send_error(c, status, msg);
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

/* The backend request for c's request as it is: the route's rewrite,
 * origin_host and request header rules, the client's fields (filtered per
 * fields), no validators, no body. */
static void
fw_bereq(struct edge_conn *c, enum edge_fetch_fields fields, struct edge_fetch_bereq *b)
{
	memset(b, 0, sizeof *b);
	b->method = c->req->h1.method;
	b->target = c->req->up_target;
	b->host = c->req->up_host;
	b->req = &c->req->h1;
	b->route = c->req->route;
	b->fields = fields;
	b->w = c->w;
	b->key = c->req->key;
	b->key_len = c->req->key_len > 0 ? (size_t)c->req->key_len : 0;
	b->peer = c->peer;
	b->cfg = c->gen->cfg;
	b->guard_fields = edge_guard_fields(&c->guard);
	b->tls = c->tls || c->req->sibling_https;
	b->node_name = c->gen->cfg->node_name;
	b->request_id = edge_req_id(c->req);
	b->body = H1_BODY_NONE;
}

static void
fw_write_request_head(struct edge_conn *c, struct evbuffer *out)
{
	struct edge_forward *fw = &c->req->fw;
	struct edge_fetch_bereq b;
	char hop[ORIGIN_SIBLING_MARK_LEN + 1];

	fw_bereq(c, fw->store ? EDGE_FETCH_FIELDS_CACHED : EDGE_FETCH_FIELDS_PASS, &b);
	if (fw->sibling) {
		/* the owner routes the request as this node did: the client's
		 * target (less a signed URL's signature) and authority */
		b.target = c->req->h1.path;
		b.host = c->req->h1.authority;
		b.hop = str_make(hop, origin_sibling_mark(&c->gen->cfg->siblings, b.method, b.host,
		                          b.target, time_now(), hop));
	}
	/* a range miss asks for the window the cache may fill from (see
	 * fw_range_window), not for the whole object; the revalidation of a
	 * stored object asks for the whole of it, to replace it */
	b.drop_range = fw->range_strip;
	if (fw->range_strip && !fw->revalidate)
		b.range_window = fw_range_fill_max(c->gen->cfg);
	/* RFC 9111 §4.3.1: the stored validators the client did not send */
	if (fw->revalidate) {
		b.stale = fw->stale;
		b.inm = fw->reval_inm;
		b.ims = fw->reval_ims;
	}
	b.body = fw->buffered ? H1_BODY_LENGTH : c->req->h1.body; /* read whole: chunked too */
	b.content_length = fw->buffered ? fw->spool.len : c->req->h1.content_length;
	edge_fetch_bereq_write(&b, out);
}

/*
 * The request body's timer: timeouts.body between two reads, and, when set,
 * timeouts.body_total for the whole body and limits.body_min_rate (the body
 * must average that rate once timeouts.body has passed: its deadline moves
 * 1 s later for each body_min_rate bytes received, as Apache's
 * mod_reqtimeout does).  Time spent waiting for the origin to take the body
 * (reading paused) does not count.  When it fires: 408 and close
 * (conn_on_timer).
 */
static void
fw_arm_body_timer(struct edge_conn *c)
{
	const struct config *cfg = c->gen->cfg;
	struct edge_forward *fw = &c->req->fw;
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
	c->timer_is_header = false;
	evtimer_add(c->timer, &tv);
}

#define FW_BODY_TOO_LARGE 1 /* fw_body_move: over limits.body */

/* Moves n bytes of body data from the client's input to where the body goes:
 * the spool when it is buffered, else the origin's output out (as one chunk
 * of a chunked body).  0, FW_BODY_TOO_LARGE, or -errno from the spool. */
static int
fw_body_move(struct edge_conn *c, struct evbuffer *in, struct evbuffer *out, size_t n)
{
	const struct config *cfg = c->gen->cfg;
	struct edge_forward *fw = &c->req->fw;
	int r = 0;

	if (cfg->max_body_bytes != 0 && fw->req_body_bytes + n > cfg->max_body_bytes)
		return FW_BODY_TOO_LARGE;
	if (fw->buffered) {
		bool was_on_disk = edge_spool_on_disk(&fw->spool);

		r = edge_spool_add(&fw->spool, in, n, cfg->body_buffer_bytes, cfg->body_temp_path);
		if (r == 0 && !was_on_disk && edge_spool_on_disk(&fw->spool))
			EDGE_COUNT(&c->w->metrics, request_bodies_spooled_total);
	} else if (c->req->h1.body == H1_BODY_CHUNKED) {
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
fw_spool_failed(struct edge_conn *c, int err)
{
	log_warn("proxy", "request body: temporary file in \"%s\": %s", c->gen->cfg->body_temp_path,
	    strerror(-err));
	EDGE_COUNT(&c->w->metrics, request_body_spool_errors_total);
	if (c->req->fw.buffering) {
		edge_conn_send_error(c, 503, "service unavailable: cannot buffer the request body");
	} else {
		EDGE_COUNT(&c->w->metrics, origin_errors_total);
		fw_fail(c, 503, "service unavailable: cannot read the buffered request body");
	}
}

static void fw_fetch(struct edge_conn *c);

/*
 * Client input → the origin's output (streaming), or → the spool until the
 * body is whole (buffering: then the fetch starts), with limits.body and the
 * body timers.
 */
static void
fw_pump_request_body(struct edge_conn *c)
{
	struct edge_forward *fw = &c->req->fw;
	struct evbuffer *in = edge_req_body_in(c->req);
	struct evbuffer *out = NULL;
	int err = 0;

	if (!fw->buffered && fw->fetch != NULL)
		out = edge_fetch_output(fw->fetch);
	if (fw->req_body_done || (!fw->buffered && out == NULL))
		return;
	if (c->req->h1.body == H1_BODY_LENGTH) {
		size_t n = evbuffer_get_length(in);

		if (n > fw->req_remaining)
			n = (size_t)fw->req_remaining;
		if (n > 0 && (err = fw_body_move(c, in, out, n)) == 0)
			fw->req_remaining -= n;
		if (err == 0 && fw->req_remaining == 0)
			fw->req_body_done = true;
	} else {
		while (err == 0 && evbuffer_get_length(in) > 0) {
			struct evbuffer_iovec v;
			const char *d = NULL;
			size_t used = 0, dl = 0;
			enum h1_status st;

			if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
				break;
			st = h1_chunked_decode(&fw->req_dec, v.iov_base, v.iov_len, &used, &d, &dl);
			if (dl > 0) {
				evbuffer_drain(in, used - dl);
				err = fw_body_move(c, in, out, dl);
			} else {
				evbuffer_drain(in, used);
			}
			if (err != 0)
				break;
			if (st == H1_OK) {
				if (!fw->buffered)
					evbuffer_add(out, "0\r\n\r\n", 5);
				fw->req_body_done = true;
				break;
			}
			if (st != H1_AGAIN) {
				char msg[96];

				snprintf(msg, sizeof msg, "bad request: %s", h1_strerror(st));
				edge_conn_send_error(c, h1_status_http(st), msg);
				return;
			}
			if (used == 0)
				break;
		}
	}
	if (err == FW_BODY_TOO_LARGE) {
		edge_conn_send_error(c, 413, "request body too large");
		return;
	}
	if (err != 0) {
		fw_spool_failed(c, err);
		return;
	}
	if (fw->req_body_done) {
		edge_req_read_body(c->req, false);
		evtimer_del(c->timer);
		if (fw->buffering) {
			EDGE_COUNT(&c->w->metrics, request_bodies_buffered_total);
			fw_fetch(c);
		}
		return;
	}
	if (c->client_eof) {
		/* The client stopped sending in the middle of its body. */
		edge_forward_abort(c);
		edge_req_abort(c->req);
		return;
	}
	if (!fw->buffered && evbuffer_get_length(out) > FW_OUT_HIGH) {
		/* the origin is slow to take the body: wait for it, not the client */
		edge_req_read_body(c->req, false);
		evtimer_del(c->timer);
		if (fw->body_pause_ms == 0)
			fw->body_pause_ms = time_mono_ms();
		edge_fetch_write_lowmark(fw->fetch, FW_OUT_LOW);
	} else {
		edge_req_read_body(c->req, true);
		fw_arm_body_timer(c);
	}
}

/* The buffered body → the origin's output, up to FW_OUT_HIGH at a time (the
 * origin's write callback asks for more). */
static void
fw_send_spool(struct edge_conn *c, struct evbuffer *out)
{
	struct edge_forward *fw = &c->req->fw;

	while (fw->spool_sent < fw->spool.len && evbuffer_get_length(out) < FW_OUT_HIGH) {
		int r = edge_spool_copy(
		    &fw->spool, &fw->spool_sent, out, FW_OUT_HIGH - evbuffer_get_length(out));

		if (r != 0) {
			fw_spool_failed(c, r);
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
	edge_conn_enter(arg);
}

static void
fw_leave(void *arg)
{
	edge_conn_leave(arg);
}

/* A try: the request head and the buffered body (all of it again on a new
 * try), or whatever body bytes are already here. */
static void
fw_send(void *arg, struct evbuffer *out)
{
	struct edge_conn *c = arg;

	fw_write_request_head(c, out);
	c->req->fw.spool_sent = 0;
	if (c->req->fw.buffered)
		fw_send_spool(c, out);
	else
		fw_pump_request_body(c);
}

static void
fw_writable(void *arg, struct evbuffer *out)
{
	struct edge_conn *c = arg;

	if (!c->req->fw.req_body_done)
		fw_pump_request_body(c);
	else if (c->req->fw.spool_sent < c->req->fw.spool.len)
		fw_send_spool(c, out);
}

/* The whole request is in the origin's output (or on its way): the
 * connection may carry another one after the response. */
static bool
fw_sent(void *arg)
{
	const struct edge_conn *c = arg;

	return c->req->fw.req_body_done && c->req->fw.spool_sent == c->req->fw.spool.len;
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

/* The Content-Range of a 206 that held the whole representation, now
 * relayed and stored as the 200 it amounts to (fw_range_window). */
static bool
fw_skip_window_field(const struct edge_forward *fw, const struct h1_header *h)
{
	return fw->range_whole && str_eq_nocase(h->name, STR_LIT("Content-Range"));
}

/* A site with hsts owns Strict-Transport-Security: the origin's is neither
 * relayed nor stored (the node adds its own on TLS, RFC 6797 §7.2). */
static bool
fw_skip_origin_sts(const struct edge_conn *c, const struct h1_header *h)
{
	return c->req->site != NULL && c->req->site->hsts != NULL &&
	       str_eq_nocase(h->name, STR_LIT("Strict-Transport-Security"));
}

void
edge_forward_policy_conf(const struct edge_conn *c, struct cache_policy_conf *conf)
{
	conf->default_ttl_s = c->req->route != NULL ? (int64_t)c->req->route->default_ttl_s : 0;
	conf->error_ttl_s = c->req->route != NULL ? (int64_t)c->req->route->error_ttl_s : 0;
	conf->heuristic_max_s = (int64_t)c->gen->cfg->cache.heuristic_max_s;
	conf->grace_s = fw_route_grace(c) ? (int64_t)c->req->route->grace_s
	                                  : (int64_t)c->gen->cfg->cache.grace_s;
}

/* The object this answer makes (edge_fetch_obj_new), when it may be stored;
 * a new reference, or NULL. */
static struct cache_obj *
fw_object(struct edge_conn *c, const struct h1_response *resp, time_t response_time)
{
	struct edge_forward *fw = &c->req->fw;
	struct cache_policy_conf conf;
	struct cache_obj *o;

	const struct origin_sibling_conf *sc = &c->gen->cfg->siblings;
	unsigned skip = 0;

	if (!fw->store || !fw_method_is(c, "GET") || c->req->key_len < 0)
		return NULL;
	/* siblings.store: small — a large object stays with its owner only */
	if (fw->sibling && sc->store == ORIGIN_SIBLING_STORE_SMALL &&
	    (resp->body != H1_BODY_LENGTH || resp->content_length > sc->store_max))
		return NULL;
	if (c->req->site != NULL && c->req->site->hsts != NULL)
		skip |= EDGE_FETCH_SKIP_STS;
	if (fw->range_whole)
		skip |= EDGE_FETCH_SKIP_CONTENT_RANGE;
	if (fw->sibling)
		skip |= EDGE_FETCH_SKIP_CACHE_STATUS;
	edge_forward_policy_conf(c, &conf);
	o = edge_fetch_obj_new(c->w, c->gen->cfg, &c->req->h1, resp, c->req->key,
	    (size_t)c->req->key_len, &conf, edge_fetch_request_time(fw->fetch), response_time,
	    skip);
	if (o != NULL)
		cache_obj_set_gen(o, edge_fetch_ban_gen(fw->fetch));
	return o;
}

/* RFC 9110 §9.2.1: the methods that do not ask the origin to change state. */
static bool
fw_safe_method(const struct edge_conn *c)
{
	return fw_method_is(c, "GET") || fw_method_is(c, "HEAD") || fw_method_is(c, "OPTIONS") ||
	       fw_method_is(c, "TRACE");
}

/*
 * Invalidation (RFC 9111 §4.4): a non-error response (2xx, 3xx) to an unsafe
 * method (every method but the safe ones, unknown ones included) removes
 * what is stored for the target URI and for the URIs in Location and
 * Content-Location when they have the target's origin, every variant
 * included.  Called while the response head is parsed.
 */
static void
fw_invalidate(struct edge_conn *c, const struct h1_response *resp, time_t now)
{
	static const struct str fields[] = {STR_LIT("Location"), STR_LIT("Content-Location")};
	struct edge_worker *w = c->w;

	if (!cache_enabled(w->srv->cache) || c->req->key_len < 0 || fw_safe_method(c) ||
	    resp->status < 200 || resp->status >= 400)
		return;
	cache_invalidate(w->srv->cache, c->req->key, (size_t)c->req->key_len, now);
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		const struct h1_header *h =
		    h1_header_find(resp->headers, resp->n_headers, fields[i]);
		int n;

		if (h == NULL)
			continue;
		n = cache_key_resolve(c->req->key, (size_t)c->req->key_len, h->value,
		    w->key_scratch, sizeof w->key_scratch);
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
fw_head_update(struct edge_conn *c, const struct h1_response *resp, time_t now)
{
	struct edge_forward *fw = &c->req->fw;
	const struct h1_header *hs = resp->headers;
	size_t n = resp->n_headers;
	struct cache_policy_conf conf;
	struct cache_policy pol;
	struct cache_obj *o;

	if (fw->stale == NULL || !fw->store || !fw_method_is(c, "HEAD") || resp->status != 200)
		return;
	if (h1_header_find(hs, n, STR_LIT("Content-Length")) != NULL) {
		size_t len;

		(void)cache_obj_body(fw->stale, &len);
		if (resp->content_length != len)
			return;
	}
	if (!cache_policy_304_applies(fw->stale, resp, false))
		return;
	edge_forward_policy_conf(c, &conf);
	cache_policy_evaluate_304(
	    &c->req->h1, fw->stale, resp, edge_fetch_request_time(fw->fetch), now, &conf, &pol);
	if (!pol.storable)
		return;
	o = cache_obj_update(fw->stale, hs, n, now, &pol);
	if (o == NULL)
		return;
	cache_obj_set_gen(o, edge_fetch_ban_gen(fw->fetch));
	cache_store(c->w->srv->cache, o, now);
	EDGE_COUNT(&c->w->metrics, cache_stores_total);
	cache_obj_unref(&o);
}

/* The origin's fields the client's head leaves out (edge_resp_skip_cb). */
static bool
fw_skip_final_field(const void *arg, const struct h1_header *h)
{
	const struct edge_conn *c = arg;
	const struct edge_forward *fw = &c->req->fw;

	return fw_skip_response_header(fw->resp, h) || fw_skip_origin_sts(c, h) ||
	       fw_skip_window_field(fw, h) || edge_range_cut_skips(&fw->cut, h->name) ||
	       (fw->sibling && edge_fetch_cache_status_field(h->name));
}

static void
fw_write_response_head(struct edge_conn *c, const struct h1_response *resp, bool stored)
{
	struct edge_forward *fw = &c->req->fw;
	struct edge_resp r;
	char cs[160];
	const struct config_member *m = fw->sibling ? c->req->up_member : NULL;
	char cut_buf[EDGE_RANGE_FIELDS_BUF + 24];
	struct edge_resp_field cut[EDGE_RANGE_FIELDS_MAX];

	/* RFC 9211 §2.3: fwd-status, the answer to our conditional request */
	if (fw->revalidate)
		snprintf(cs, sizeof cs, "fwd=%s; fwd-status=%d%s", c->req->fwd, resp->status,
		    stored ? "; stored" : "");
	else
		snprintf(cs, sizeof cs, "fwd=%s%s", c->req->fwd, stored ? "; stored" : "");
	/* the answer came from the key's owner: detail names it */
	if (m != NULL)
		snprintf(cs + strlen(cs), sizeof cs - strlen(cs), "; detail=\"sibling %.64s:%u\"",
		    m->host, (unsigned)m->port);
	if (!fw->req_body_done)
		c->keep_alive = false; /* unread request body: cannot reuse */
	edge_resp_origin(&r, c, resp, fw->cut.active ? fw->cut.status : resp->status,
	    fw_skip_final_field, c, cs);
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
			edge_resp_add_u64(&r, STR_LIT("Content-Length"), resp->content_length);
		}
		break;
	case H1_BODY_CHUNKED:
	case H1_BODY_CLOSE:
		if (c->req->h1.minor >= 1) {
			r.framing = EDGE_RESP_FRAMING_CHUNKED;
		} else {
			r.framing = EDGE_RESP_FRAMING_CLOSE;
			c->keep_alive = false;
		}
		break;
	}
	r.keep_alive = c->keep_alive;
	(void)edge_resp_send(&r, c);
	if (fw->cut.active)
		c->req->bytes_out += edge_range_cut_feed(
		    &fw->cut, NULL, edge_req_body_out(c->req), 0); /* a 416's text */
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
	struct edge_conn *c = arg;
	struct edge_resp r;

	if (resp->status == 100 || c->req->h1.minor == 0)
		return;
	edge_resp_interim(&r, resp, fw_skip_interim_field, resp);
	c->req->bytes_out += edge_resp_send(&r, c);
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
fw_revalidated(struct edge_conn *c, const struct h1_response *resp)
{
	struct edge_forward *fw = &c->req->fw;
	struct edge_worker *w = c->w;
	struct cache_policy_conf conf;
	struct cache_policy pol;
	struct cache_obj *o;
	time_t now = time_now();

	edge_forward_policy_conf(c, &conf);
	cache_policy_evaluate_304(
	    &c->req->h1, fw->stale, resp, edge_fetch_request_time(fw->fetch), now, &conf, &pol);
	o = cache_obj_update(fw->stale, resp->headers, resp->n_headers, now, &pol);
	if (o != NULL)
		cache_obj_set_gen(o, edge_fetch_ban_gen(fw->fetch));
	EDGE_COUNT(&w->metrics, cache_revalidated_total);
	if (o == NULL) {
		o = cache_obj_ref(fw->stale); /* validated all the same */
	} else if (pol.storable && fw->store) {
		cache_store(w->srv->cache, o, now);
		EDGE_COUNT(&w->metrics, cache_stores_total);
		edge_fetch_store_for_request(w, &c->req->h1, o, now);
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
fw_range_fills(const struct edge_conn *c)
{
	const struct h1_header *h =
	    h1_header_find(c->req->h1.headers, c->req->h1.n_headers, STR_LIT("Range"));
	uint64_t window = fw_range_fill_max(c->gen->cfg);
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
fw_range_refetch(struct edge_conn *c, const struct h1_response *resp, struct cache_obj **fill)
{
	struct edge_forward *fw = &c->req->fw;

	if (!fw->range_strip || resp->status != 200)
		return false;
	if (*fill != NULL && !(resp->body == H1_BODY_LENGTH &&
	                         resp->content_length > fw_range_fill_max(c->gen->cfg)))
		return false;
	EDGE_COUNT(&c->w->metrics, cache_range_passes_total);
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
	const char *slash;
	uint64_t last, len;
	struct str v;

	for (size_t i = 0; i < r->n_headers; i++) {
		if (!str_eq_nocase(r->headers[i].name, STR_LIT("Content-Range")))
			continue;
		if (h != NULL)
			return false;
		h = &r->headers[i];
	}
	if (h == NULL || r->body != H1_BODY_LENGTH)
		return false;
	v = str_trim_ows(h->value);
	if (v.len < 8 || !str_eq_nocase(str_make(v.p, 8), STR_LIT("bytes 0-")) ||
	    (slash = memchr(v.p, '/', v.len)) == NULL)
		return false;
	return str_to_u64(str_make(v.p + 8, (size_t)(slash - v.p - 8)), &last) == 0 &&
	       str_to_u64(str_make(slash + 1, v.len - (size_t)(slash + 1 - v.p)), &len) == 0 &&
	       last < UINT64_MAX && last + 1 == len && len == r->content_length;
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
fw_range_window(struct edge_conn *c, struct h1_response *resp)
{
	struct edge_forward *fw = &c->req->fw;

	if (!fw->range_strip || (resp->status != 206 && resp->status != 416))
		return false;
	if (resp->status == 206 && fw_range_whole(resp)) {
		resp->status = 200;
		resp->reason = STR_LIT("OK");
		fw->range_whole = true;
		return false;
	}
	EDGE_COUNT(&c->w->metrics, cache_range_passes_total);
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
fw_reval_refetch(struct edge_conn *c, const struct h1_response *resp)
{
	struct edge_forward *fw = &c->req->fw;

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
fw_range_cut(struct edge_conn *c, const struct h1_response *resp)
{
	struct edge_forward *fw = &c->req->fw;
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
	rr = range_request(&c->req->h1, &v, resp->content_length, &rs);
	if (rr == RANGE_IGNORE || (rr == RANGE_SATISFIABLE && !range_ascending(&rs)))
		return;
	edge_range_cut_start(&fw->cut, rr, &rs, resp->content_length, ctype);
	EDGE_COUNT(&c->w->metrics, range_answers_total);
}

/*
 * The fill this request leads gets the answer's head: a copy of the
 * object's (the body being built is freed at once if the fill stops storing
 * it), or, when the answer is not stored, the fill ends PASS (waiters go on
 * their own, the key is hit-for-pass).  False when out of memory.
 */
static bool
fw_publish(struct edge_conn *c, const struct h1_response *resp, struct cache_obj *fill)
{
	struct edge_forward *fw = &c->req->fw;
	struct cache_obj *head;

	if (fw->cf == NULL)
		return true;
	if (fill == NULL) {
		if (c->req->cf == fw->cf)
			edge_collapse_detach(c);
		cache_fill_end(fw->cf, CACHE_FILL_S_PASS, time_now());
		cache_fill_unref(&fw->cf);
		return true;
	}
	head = cache_obj_head_copy(fill);
	if (head == NULL)
		return false;
	cache_fill_head(fw->cf, head,
	    resp->body == H1_BODY_LENGTH ? (int64_t)resp->content_length
	    : resp->body == H1_BODY_NONE ? 0
	                                 : -1);
	cache_obj_unref(&head);
	return true;
}

static enum edge_fetch_verdict
fw_decide(struct edge_conn *c, struct edge_fetch *f, struct h1_response *resp)
{
	struct edge_forward *fw = &c->req->fw;
	struct edge_compress *z;
	struct cache_obj *fill;
	time_t now;

	if (fw->revalidate)
		edge_compress_304(fw->stale, resp);
	if (fw->revalidate && resp->status == 304 &&
	    (cache_policy_304_applies(fw->stale, resp, fw->reval_client) ||
	        (fw->reval_inm && edge_fetch_select_variant(c->w, c->req->key,
	                              (size_t)c->req->key_len, resp, &fw->stale)))) {
		fw_revalidated(c, resp);
		return EDGE_FETCH_DONE;
	}
	if (fw_reval_refetch(c, resp) || fw_range_window(c, resp))
		return EDGE_FETCH_AGAIN;
	if ((resp->status == 500 || resp->status == 502 || resp->status == 503 ||
	        resp->status == 504) &&
	    fw_stale_answer(c, resp->status)) {
		/* the error response is dropped with its connection */
		EDGE_COUNT(&c->w->metrics, origin_errors_total);
		return EDGE_FETCH_STOP;
	}
	/* The header views point into the origin input and the worker's scratch
	 * array: use them, then drop the head. */
	now = time_now();
	fw_invalidate(c, resp, now);
	fw_head_update(c, resp, now);
	/* compressed or decoded for this client: the head becomes the coded
	 * variant's, which is what is stored and sent */
	z = edge_compress_head(c->req->route != NULL ? &c->req->route->compression : NULL,
	    &c->req->h1, fw_method_is(c, "HEAD"), c->gen->cfg->cache.max_object_bytes, resp,
	    &c->w->metrics);
	fill = fw_object(c, resp, now);
	if (fw_range_refetch(c, resp, &fill)) {
		edge_compress_free(&z);
		return EDGE_FETCH_AGAIN;
	}
	if (!fw_publish(c, resp, fill)) {
		edge_compress_free(&z);
		cache_obj_unref(&fill);
		EDGE_COUNT(&c->w->metrics, origin_errors_total);
		fw_fail(c, 502, "bad gateway");
		return EDGE_FETCH_STOP;
	}
	edge_fetch_filter(f, z);
	fw_range_cut(c, resp);
	fw_write_response_head(c, resp, fill != NULL);
	if (fw->cf != NULL) {
		/* NORMAL: the fetch writes the fill, the client reads it back */
		edge_collapse_leader_reads(c);
		edge_fetch_store(f, fill, fw->cf);
		fw->cf = NULL;
		c->state = EDGE_CONN_COLLAPSED;
	} else if (fill != NULL) {
		edge_fetch_store(f, fill, NULL);
	}
	return EDGE_FETCH_READ;
}

static enum edge_fetch_verdict
fw_on_head(void *arg, struct edge_fetch *f, struct h1_response *resp)
{
	struct edge_conn *c = arg;
	enum edge_fetch_verdict v;

	c->req->fw.resp = resp;
	c->req->up_member = edge_fetch_member(f);
	if (c->req->fw.sibling)
		EDGE_COUNT(&c->w->metrics, sibling_fills_total);
	c->req->up_first_us = edge_fetch_first_byte_us(f);
	v = fw_decide(c, f, resp);
	c->req->fw.resp = NULL;
	return v;
}

/* ---- the fetch's calls: the sink ---- */

/* PASS: n body bytes to the client (chunk-encoded when we chunk, or cut to
 * the client's ranges); true when its output is full. */
static bool
fw_on_body(void *arg, struct evbuffer *in, size_t n)
{
	struct edge_conn *c = arg;
	struct edge_forward *fw = &c->req->fw;

	if (fw->cut.active) {
		c->req->bytes_out +=
		    edge_range_cut_feed(&fw->cut, in, edge_req_body_out(c->req), n);
	} else {
		(void)edge_req_send_body(c->req, in, n);
		c->req->bytes_out += n; /* the content, not its chunk framing */
	}
	if (edge_req_queued(c->req) <= FW_OUT_HIGH)
		return false;
	edge_req_want_writable(c->req, FW_OUT_LOW);
	return true;
}

static void
fw_on_end(void *arg)
{
	struct edge_conn *c = arg;
	struct edge_forward *fw = &c->req->fw;

	fw->fetch = NULL;
	if (fw->answer != NULL) {
		fw_answer(c);
		return;
	}
	c->req->bytes_out += edge_req_send_end(c->req);
	if (!fw->req_body_done)
		c->keep_alive = false;
	edge_forward_abort(c);
	edge_req_want_writable(c->req, 0);
	edge_req_finish(c->req);
}

static void
fw_on_error(void *arg, enum edge_fetch_error e, int status, const char *msg)
{
	struct edge_conn *c = arg;
	struct edge_forward *fw = &c->req->fw;

	fw->fetch = NULL;
	if (fw->sibling) {
		/* the owner failed before its answer: the origin is asked */
		log_info("proxy", "sibling failed (%d %s): the origin is asked", status, msg);
		EDGE_COUNT(&c->w->metrics, sibling_fallbacks_total);
		fw->sibling = false;
		fw->sibling_failed = true;
		fw_fetch(c);
		return;
	}
	switch (e) {
	case EDGE_FETCH_E_ORIGIN:
		fw_fail(c, status, msg);
		break;
	case EDGE_FETCH_E_UNAVAILABLE:
		if (!fw_stale_if_error(c, FW_GRACE))
			edge_conn_send_error(c, status, msg);
		break;
	case EDGE_FETCH_E_BUSY:
		if (!fw_stale_if_error(c, FW_GRACE))
			edge_conn_send_error_with(c, status, "Retry-After", "1", msg);
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
	struct edge_conn *c = arg;

	c->req->fw.fetch = NULL;
	edge_forward_abort(c);
	edge_forward_unpin(c);
	c->req->pin_cl = cl; /* until the client has read the fill (edge_collapse_detach) */
	c->req->pin_bytes = bytes;
	edge_collapse_pump(c);
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
fw_bodyless(const struct edge_conn *c)
{
	return c->req->h1.body == H1_BODY_NONE ||
	       (c->req->h1.body == H1_BODY_LENGTH && c->req->h1.content_length == 0);
}

/* RFC 9110 §9.2.2 idempotent methods. */
static bool
fw_idempotent(const struct edge_conn *c)
{
	static const char *const methods[] = {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"};

	for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
		if (fw_method_is(c, methods[i]))
			return true;
	return false;
}

/* The balancer key: client address for ip_hash, the pool's hash_key for
 * consistent_hash. */
uint64_t
edge_forward_hash(const struct edge_conn *c, const struct config_pool *pool)
{
	if (pool->balancer == CONFIG_BALANCER_IP_HASH ||
	    (pool->balancer == CONFIG_BALANCER_CONSISTENT_HASH &&
	        pool->hash_key == CONFIG_HASH_KEY_CLIENT_IP))
		return origin_balance_hash(c->client.text, strlen(c->client.text));
	if (pool->balancer != CONFIG_BALANCER_CONSISTENT_HASH)
		return 0;
	if (pool->hash_key == CONFIG_HASH_KEY_HOST)
		return origin_balance_hash(c->req->host_lc, c->req->host_lc_len);
	return origin_balance_hash(c->req->h1.path.p, c->req->h1.path.len);
}

/* Does the miss go to the key's owner among the siblings (origin_sibling.h)?
 * A stored GET or HEAD without a body, not a sibling's own request, whose
 * owner — rendezvous hashing of the key over the usable members, this node
 * included — is another node; *hash: the key's. */
static bool
fw_to_sibling(const struct edge_conn *c, uint64_t *hash)
{
	const struct origin_sibling_conf *sc = &c->gen->cfg->siblings;
	const struct edge_forward *fw = &c->req->fw;
	int owner;

	if (!sc->enabled || c->req->from_sibling || fw->sibling_failed || !fw->store ||
	    c->req->key_len <= 0 || !fw_bodyless(c) ||
	    !(fw_method_is(c, "GET") || fw_method_is(c, "HEAD")))
		return false;
	*hash = origin_balance_hash(c->req->key, (size_t)c->req->key_len);
	owner = origin_balance_pick(
	    origin_pool_balance(c->gen->opool, sc->pool_idx), *hash, NULL, 0, time_mono_ms());
	return owner >= 0 && (unsigned)owner != sc->self_idx;
}

/* The fetch: NORMAL when c leads a fill, else PASS.  Until it has an origin
 * connection, request bytes wait in the kernel. */
static void
fw_fetch(struct edge_conn *c)
{
	struct edge_forward *fw = &c->req->fw;
	struct edge_fetch_req r;
	uint64_t sib_hash = 0;

	fw->buffering = false;
	edge_req_read_body(c->req, false);
	r.mode = fw->cf != NULL ? EDGE_FETCH_NORMAL : EDGE_FETCH_PASS;
	r.gen = c->gen;
	r.pool = fw->pool;
	r.hash = edge_forward_hash(c, fw->pool);
	r.skip = false;
	r.skip_member = 0;
	fw->sibling = fw_to_sibling(c, &sib_hash);
	if (fw->sibling) {
		r.pool = &c->gen->cfg->pools[c->gen->cfg->siblings.pool_idx];
		r.hash = sib_hash;
		r.skip = true;
		r.skip_member = c->gen->cfg->siblings.self_idx;
	}
	r.head_method = fw_method_is(c, "HEAD");
	r.retry_safe = fw_bodyless(c) && fw_idempotent(c);
	r.peer = c->client.text;
	r.client = &fw_client;
	r.arg = c;
	fw->fetch = edge_fetch_new(c->w, &r);
	edge_fetch_start(fw->fetch);
}

void
edge_forward_start(
    struct edge_conn *c, const struct config_pool *pool, bool store, struct cache_obj *stale)
{
	struct edge_forward *fw = &c->req->fw;

	ASSERT(fw->fetch == NULL && !fw->buffering);
	fw->pool = pool;
	/* never store an answer to a request whose body went to the origin: a
	 * GET's content has no meaning (RFC 9110 §9.3.1), not a key either */
	fw->store = store && c->req->h1.body == H1_BODY_NONE;
	fw->range_strip = store && fw_method_is(c, "GET") && fw_range_fills(c);
	fw->stale = stale; /* fw->revalidate and reval_* set by the caller */
	if (stale == NULL)
		fw->revalidate = false;
	fw->req_body_done = c->req->h1.body == H1_BODY_NONE;
	fw->req_remaining = c->req->h1.content_length;
	fw->body_start_ms = time_mono_ms();
	h1_chunked_init(&fw->req_dec);
	if (!fw->req_body_done && c->req->h1.expect_continue) {
		/* RFC 9110 §10.1.1: we will read the body, so say so now. */
		struct edge_resp r;

		edge_resp_init(&r, c, 100);
		(void)edge_resp_send(&r, c);
	}
	/* A body that arrives slowly must not hold a member's connection (and
	 * its max_conns slot) all that time: it is read whole first, as nginx's
	 * proxy_request_buffering does, unless the route streams it. */
	fw->buffered =
	    !fw->req_body_done && c->req->route != NULL && c->req->route->request_buffering;
	if (fw->buffered) {
		fw->buffering = true;
		fw_pump_request_body(c);
		return;
	}
	fw_fetch(c);
}

void
edge_forward_on_client_readable(struct edge_conn *c)
{
	if (!c->req->fw.req_body_done) /* buffering too */
		fw_pump_request_body(c);
	else if (c->client_eof)
		c->keep_alive = false;
}

void
edge_forward_on_client_writable(struct edge_conn *c)
{
	struct edge_forward *fw = &c->req->fw;

	if (!fw->head_sent || fw->fetch == NULL || edge_req_queued(c->req) > FW_OUT_LOW)
		return;
	edge_req_want_writable(c->req, 0);
	edge_fetch_resume(fw->fetch);
}

bool
edge_forward_background(struct edge_conn *c, struct cache_obj *stale)
{
	struct edge_fetch_bereq b;
	struct edge_fetch_bg bg;

	if (c->req->key_len < 0 || c->req->route == NULL || c->req->h1.body != H1_BODY_NONE)
		return false;
	/* as for the forwarded request, as a GET with the stored validators
	 * (RFC 9111 §4.3.1) */
	fw_bereq(c, EDGE_FETCH_FIELDS_REFRESH, &b);
	b.method = STR_LIT("GET");
	b.stale = stale;
	b.inm = true;
	b.ims = true;
	bg.gen = c->gen;
	bg.pool = c->req->pool; /* the route's, or its canary's */
	bg.hash = edge_forward_hash(c, c->req->pool);
	bg.key = c->req->key;
	bg.key_len = (size_t)c->req->key_len;
	bg.stale = stale;
	edge_forward_policy_conf(c, &bg.conf);
	bg.skip_sts = c->req->site != NULL && c->req->site->hsts != NULL;
	return edge_fetch_background(c->w, &bg, &b);
}
