/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_proxy.c — one upstream exchange per client connection.
 *
 * States: BUFFERING (a request body is read whole into the spool before
 * any member is picked, unless the route sets request_buffering: false) →
 * RESOLVING (c-ares query pending) → CONNECTING (or straight to
 * WAIT_HEAD on a kept-alive connection from the idle pool) → WAIT_HEAD
 * (request head sent, request body streaming or sent from the spool) →
 * RELAY_BODY (response head sent to the client; body streaming, and copied
 * into a cache fill when the policy allows).  Both directions use
 * backpressure: a full output buffer on one side disables reading on the
 * other until it drains, so no response body is ever held whole.  Response bodies move from the
 * origin's input buffer to the client's output buffer with evbuffer_remove_buffer (chunks move,
 * bytes are not copied); the cache fill is the one copy, made while building the object.
 *
 * Members are chosen by the pool's balancer (origin/origin_balance.h), which
 * skips members that active or passive health put down and members this
 * request already tried; with no usable member the answer is 503 "no healthy
 * origin".  A kept-alive origin connection that fails before the first
 * response byte is retried once on a fresh connection to the same member when
 * the request is idempotent and has no body (the origin may have closed it
 * just as we reused it); that is not held against the member.  Any other failure before the
 * first response byte (connect refused or timed out, reset, closed, first-byte
 * timeout, resolution failure, and a 502/503/504 listed in retry_on) counts
 * against the member (passive health) and, for an idempotent request without
 * a body (RFC 9110 §9.2.2), is retried on another member, up to the pool's
 * retries and within its retry budget.  Errors before the response head
 * reach the client become 502 or 504 with a short body; after it, the client
 * connection is closed so a truncated body is never mistaken for a whole one.
 *
 * Runs on the connection's worker thread; callbacks carry the edge_conn.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "cache/cache.h"
#include "config/config.h"
#include "core/assert.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "edge/edge_collapse.h"
#include "edge/edge_conn.h"
#include "edge/edge_fetch.h"
#include "edge/edge_proxy.h"
#include "edge/edge_range.h"
#include "edge/edge_resp.h"
#include "edge/edge_route.h"
#include "edge/edge_spool.h"
#include "edge/edge_worker.h"
#include "origin/origin_balance.h"
#include "origin/origin_dns.h"
#include "origin/origin_pool.h"
#include "origin/origin_tls.h"

#define PROXY_OUT_HIGH     (512 * 1024) /* pause the producer above this */
#define PROXY_OUT_LOW      (128 * 1024) /* resume below this */
#define PROXY_FILL_POLL_MS 10           /* a paused fill looks at its window again */
/* The lead over its slowest reader an unstored fill keeps when memory is
 * short: enough for each reader's output to stay fed (COLLAPSE_OUT_HIGH). */
#define PROXY_FILL_WINDOW_MIN (2 * PROXY_OUT_HIGH)

static void proxy_begin(struct edge_conn *c, bool fresh);
static void proxy_relay_body(struct edge_conn *c);
static void proxy_member_failed(struct edge_conn *c);
static bool proxy_may_retry(struct edge_conn *c);
static void proxy_retry_other(struct edge_conn *c, int status, const char *msg);
static void proxy_revalidated(struct edge_conn *c);
static bool proxy_idempotent(const struct edge_conn *c);
static uint64_t proxy_range_fill_max(const struct config *cfg);

static void
proxy_tv(struct timeval *tv, unsigned ms)
{
	*tv = time_ms_to_tv(ms);
}

/* Read timeout read_ms (first byte or between bytes), write timeout = the
 * pool's timeouts.send. */
static void
proxy_set_timeouts(struct edge_conn *c, unsigned read_ms)
{
	struct timeval rtv, wtv;

	proxy_tv(&rtv, read_ms);
	proxy_tv(&wtv, c->px.pool->send_timeout_ms);
	bufferevent_set_timeouts(c->px.obev, &rtv, &wtv);
}

static bool
proxy_method_is(const struct edge_conn *c, const char *m)
{
	return str_eq(c->req.method, str_cstr(m));
}

static struct origin_balance *
proxy_balance(struct edge_conn *c)
{
	return origin_pool_balance(c->gen->opool, c->px.pool_idx);
}

/* Ends the in-flight count of the current member and frees its max_conns
 * slot (once). */
static void
proxy_release(struct edge_conn *c)
{
	if (c->px.counted) {
		origin_balance_end(proxy_balance(c), c->px.member_idx);
		origin_pool_release(c->gen->opool, c->px.pool_idx, c->px.member_idx);
		c->px.counted = false;
	}
}

void
edge_proxy_free(struct edge_conn *c)
{
	edge_proxy_abort(c);
	if (c->px.total_timer != NULL) {
		event_free(c->px.total_timer);
		c->px.total_timer = NULL;
	}
	if (c->px.fill_timer != NULL) {
		event_free(c->px.fill_timer);
		c->px.fill_timer = NULL;
	}
}

void
edge_proxy_abort(struct edge_conn *c)
{
	struct edge_proxy *px = &c->px;

	proxy_release(c);
	origin_pool_unwait(c->gen->opool, &px->wait);
	if (px->total_timer != NULL)
		evtimer_del(px->total_timer);
	if (px->fill_timer != NULL)
		evtimer_del(px->fill_timer);
	if (px->dnsq != NULL)
		origin_dns_cancel(&px->dnsq);
	if (px->obev != NULL) {
		bufferevent_free(px->obev);
		px->obev = NULL;
	}
	if (px->fill != NULL)
		cache_obj_unref(&px->fill);
	cache_obj_unref(&px->stale);
	edge_range_cut_end(&px->cut);
	edge_spool_reset(&px->spool);
	px->revalidate = false;
	px->state = EDGE_PROXY_IDLE;
	if (px->cf != NULL) {
		/* nothing is published: waiters without a head go on their own,
		 * the others are closed (edge_collapse.h) */
		if (c->cf == px->cf)
			edge_collapse_detach(c);
		cache_fill_end(px->cf, CACHE_FILL_S_FAILED, time_now());
		cache_fill_unref(&px->cf);
	}
	px->cf_stream = false;
	px->cf_paused = false;
	edge_proxy_unpin(c);
}

void
edge_proxy_unpin(struct edge_conn *c)
{
	if (c->pin_cl == NULL)
		return;
	cache_mem_client_uncharge(c->pin_cl, c->pin_bytes);
	c->pin_bytes = 0;
	cache_mem_client_put(&c->pin_cl);
}

/* Grace: no member may be asked (none usable, or all at max_conns), and the
 * pool allows any stale copy to answer — unless its own directives forbid
 * serving it stale (RFC 9111 §4.2.4, §5.2.2.2, §5.2.2.4, §5.2.2.10). */
static bool
proxy_grace_ok(const struct edge_conn *c)
{
	return c->px.pool->grace && !cache_policy_never_stale(c->px.stale);
}

/* Does the route set its own cache.grace (else the node's applies)? */
static bool
proxy_route_grace(const struct edge_conn *c)
{
	return c->route != NULL && c->route->grace_s != CONFIG_GRACE_INHERIT;
}

/* The default cache.grace stands in only for an origin that was asked and
 * gave no answer (RFC 9111 §4.2.4: a "disconnected" cache; with no member to
 * ask, the pool's grace decides); one the operator set, on the node or the
 * route, covers every failure. */
static bool
proxy_grace_set(const struct edge_conn *c)
{
	return proxy_route_grace(c) || c->gen->cfg->cache.grace_set;
}

/*
 * stale-if-error (RFC 5861 §4) or grace: the exchange failed before anything
 * reached the client and the stale response may stand in: drop the exchange
 * and answer from it.  fwd_status: the origin's 5xx, or 0 when no response
 * came; PROXY_GRACE when no member could be asked at all.  Grace is
 * cache.grace (a bounded staleness; any failure when set, by default only an
 * origin asked that gave no answer) or, with no member to ask, the pool's grace (any stale
 * copy; Cache-Status "hit; detail=grace").
 * Else Cache-Status: "fwd=stale" (we did forward), the origin's status if
 * any, and "detail=stale-if-error" or "detail=grace".  True if answered.
 */
#define PROXY_GRACE (-1)

static bool
proxy_stale_if_error(struct edge_conn *c, int fwd_status)
{
	struct edge_proxy *px = &c->px;
	struct cache_policy_conf conf;
	struct cache_obj *o;
	bool grace = false;
	char cs[96];

	if (px->stale == NULL || px->state == EDGE_PROXY_RELAY_BODY)
		return false;
	if (!cache_policy_stale_ok(&c->req, px->stale, time_now(), CACHE_STALE_IF_ERROR)) {
		edge_proxy_policy_conf(c, &conf);
		if (fwd_status != 0 && !proxy_grace_set(c))
			conf.grace_s = 0;
		if (!cache_policy_grace_ok(&c->req, px->stale, time_now(), conf.grace_s) &&
		    (fwd_status != PROXY_GRACE || !proxy_grace_ok(c)))
			return false;
		grace = true;
	}
	if (grace && fwd_status == PROXY_GRACE)
		snprintf(cs, sizeof cs, "hit; detail=grace");
	else if (fwd_status > 0)
		snprintf(cs, sizeof cs, "fwd=stale; fwd-status=%d; detail=%s", fwd_status,
		    grace ? "grace" : "stale-if-error");
	else
		snprintf(cs, sizeof cs, "fwd=stale; detail=%s", grace ? "grace" : "stale-if-error");
	o = cache_obj_ref(px->stale);
	edge_proxy_abort(c); /* drops px->stale */
	if (!px->req_body_done)
		c->keep_alive = false; /* unread request body: cannot reuse */
	EDGE_COUNT(&c->w->metrics, cache_stale_served_total);
	edge_conn_serve_stored(c, o, cs);
	cache_obj_unref(&o);
	return true;
}

/* The exchange failed: an error response while nothing was sent, else close. */
static void
proxy_fail(struct edge_conn *c, int status, const char *msg)
{
	EDGE_COUNT(&c->w->metrics, origin_errors_total);
	if (c->px.state == EDGE_PROXY_RELAY_BODY) {
		edge_proxy_abort(c);
		edge_conn_close(c);
		return;
	}
	if (proxy_stale_if_error(c, 0))
		return;
	edge_conn_send_error(c, status, msg);
}

/* The exchange is over: its origin connection goes back to the idle pool when
 * reusable (for its address), else it is closed. */
static void
proxy_put_origin_conn(struct edge_conn *c, bool reusable)
{
	struct edge_proxy *px = &c->px;

	if (reusable) {
		bufferevent_setwatermark(px->obev, EV_WRITE, 0, 0);
		origin_pool_put(c->gen->opool, px->pool_idx, px->member_idx, px->obev,
		    px->addrlen > 0 ? (const struct sockaddr *)&px->addr : NULL, px->addrlen,
		    px->conn_uses);
	} else {
		bufferevent_free(px->obev);
	}
	px->obev = NULL;
}

/* ---- request towards the origin ---- */

/* Moves n bytes from in to out as one chunk of the chunked coding. */
static void
proxy_move_chunk(struct evbuffer *in, struct evbuffer *out, size_t n)
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
proxy_bereq(const struct edge_conn *c, enum edge_fetch_fields fields, struct edge_fetch_bereq *b)
{
	memset(b, 0, sizeof *b);
	b->method = c->req.method;
	b->target = c->up_target;
	b->host = c->up_host;
	b->req = &c->req;
	b->route = c->route;
	b->fields = fields;
	b->w = c->w;
	b->key = c->key;
	b->key_len = c->key_len > 0 ? (size_t)c->key_len : 0;
	b->peer = c->peer;
	b->tls = c->tls;
	b->node_name = c->gen->cfg->node_name;
	b->body = H1_BODY_NONE;
}

static void
proxy_write_request_head(struct edge_conn *c)
{
	struct edge_proxy *px = &c->px;
	struct edge_fetch_bereq b;

	proxy_bereq(c, px->store ? EDGE_FETCH_FIELDS_CACHED : EDGE_FETCH_FIELDS_PASS, &b);
	/* a range miss asks for the window the cache may fill from (see
	 * proxy_range_window), not for the whole object; the revalidation of a
	 * stored object asks for the whole of it, to replace it */
	b.drop_range = px->range_strip;
	if (px->range_strip && !px->revalidate)
		b.range_window = proxy_range_fill_max(c->gen->cfg);
	/* RFC 9111 §4.3.1: the stored validators the client did not send */
	if (px->revalidate) {
		b.stale = px->stale;
		b.inm = px->reval_inm;
		b.ims = px->reval_ims;
	}
	b.body = px->buffered ? H1_BODY_LENGTH : c->req.body; /* read whole: chunked too */
	b.content_length = px->buffered ? px->spool.len : c->req.content_length;
	edge_fetch_bereq_write(&b, bufferevent_get_output(px->obev));
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
proxy_arm_body_timer(struct edge_conn *c)
{
	const struct config *cfg = c->gen->cfg;
	struct edge_proxy *px = &c->px;
	uint64_t now = time_mono_ms(), wait = cfg->body_timeout_ms, deadline = UINT64_MAX;
	struct timeval tv;

	if (px->body_pause_ms != 0) {
		px->body_paused_ms += now - px->body_pause_ms;
		px->body_pause_ms = 0;
	}
	if (cfg->body_total_ms > 0)
		deadline = px->body_start_ms + px->body_paused_ms + cfg->body_total_ms;
	if (cfg->body_min_rate > 0) {
		uint64_t d = px->body_start_ms + px->body_paused_ms + cfg->body_timeout_ms +
		             px->req_body_bytes * 1000 / cfg->body_min_rate;

		if (d < deadline)
			deadline = d;
	}
	if (deadline <= now)
		wait = 0;
	else if (deadline - now < wait)
		wait = deadline - now;
	proxy_tv(&tv, (unsigned)wait);
	c->timer_is_header = false;
	evtimer_add(c->timer, &tv);
}

#define PROXY_BODY_TOO_LARGE 1 /* proxy_body_move: over limits.body */

/* Moves n bytes of body data from the client's input to where the body goes:
 * the spool when it is buffered, else the origin's output (as one chunk of a
 * chunked body).  0, PROXY_BODY_TOO_LARGE, or -errno from the spool. */
static int
proxy_body_move(struct edge_conn *c, struct evbuffer *in, size_t n)
{
	const struct config *cfg = c->gen->cfg;
	struct edge_proxy *px = &c->px;
	int r = 0;

	if (cfg->max_body_bytes != 0 && px->req_body_bytes + n > cfg->max_body_bytes)
		return PROXY_BODY_TOO_LARGE;
	if (px->buffered) {
		bool was_on_disk = edge_spool_on_disk(&px->spool);

		r = edge_spool_add(&px->spool, in, n, cfg->body_buffer_bytes, cfg->body_temp_path);
		if (r == 0 && !was_on_disk && edge_spool_on_disk(&px->spool))
			EDGE_COUNT(&c->w->metrics, request_bodies_spooled_total);
	} else if (c->req.body == H1_BODY_CHUNKED) {
		proxy_move_chunk(in, bufferevent_get_output(px->obev), n);
	} else {
		evbuffer_remove_buffer(in, bufferevent_get_output(px->obev), n);
	}
	if (r == 0)
		px->req_body_bytes += n;
	return r;
}

/* The buffered body could not be kept or read back (its file): 503. */
static void
proxy_spool_failed(struct edge_conn *c, int err)
{
	log_warn("proxy", "request body: temporary file in \"%s\": %s", c->gen->cfg->body_temp_path,
	    strerror(-err));
	EDGE_COUNT(&c->w->metrics, request_body_spool_errors_total);
	if (c->px.state == EDGE_PROXY_BUFFERING)
		edge_conn_send_error(c, 503, "service unavailable: cannot buffer the request body");
	else
		proxy_fail(c, 503, "service unavailable: cannot read the buffered request body");
}

static void proxy_send(struct edge_conn *c);

/*
 * Client input → the origin's output (streaming), or → the spool until the
 * body is whole (buffering: then the exchange starts), with limits.body and
 * the body timers.
 */
static void
proxy_pump_request_body(struct edge_conn *c)
{
	struct edge_proxy *px = &c->px;
	struct evbuffer *in = c->io.in;
	int err = 0;

	if (px->req_body_done || (!px->buffered && px->obev == NULL))
		return;
	if (c->req.body == H1_BODY_LENGTH) {
		size_t n = evbuffer_get_length(in);

		if (n > px->req_remaining)
			n = (size_t)px->req_remaining;
		if (n > 0 && (err = proxy_body_move(c, in, n)) == 0)
			px->req_remaining -= n;
		if (err == 0 && px->req_remaining == 0)
			px->req_body_done = true;
	} else {
		while (err == 0 && evbuffer_get_length(in) > 0) {
			struct evbuffer_iovec v;
			const char *d = NULL;
			size_t used = 0, dl = 0;
			enum h1_status st;

			if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
				break;
			st = h1_chunked_decode(&px->req_dec, v.iov_base, v.iov_len, &used, &d, &dl);
			if (dl > 0) {
				evbuffer_drain(in, used - dl);
				err = proxy_body_move(c, in, dl);
			} else {
				evbuffer_drain(in, used);
			}
			if (err != 0)
				break;
			if (st == H1_OK) {
				if (!px->buffered)
					evbuffer_add(
					    bufferevent_get_output(px->obev), "0\r\n\r\n", 5);
				px->req_body_done = true;
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
	if (err == PROXY_BODY_TOO_LARGE) {
		edge_conn_send_error(c, 413, "request body too large");
		return;
	}
	if (err != 0) {
		proxy_spool_failed(c, err);
		return;
	}
	if (px->req_body_done) {
		edge_io_read_disable(&c->io);
		evtimer_del(c->timer);
		if (px->state == EDGE_PROXY_BUFFERING) {
			EDGE_COUNT(&c->w->metrics, request_bodies_buffered_total);
			proxy_send(c);
		}
		return;
	}
	if (c->client_eof) {
		/* The client stopped sending in the middle of its body. */
		edge_proxy_abort(c);
		edge_conn_close(c);
		return;
	}
	if (!px->buffered &&
	    evbuffer_get_length(bufferevent_get_output(px->obev)) > PROXY_OUT_HIGH) {
		/* the origin is slow to take the body: wait for it, not the client */
		edge_io_read_disable(&c->io);
		evtimer_del(c->timer);
		if (px->body_pause_ms == 0)
			px->body_pause_ms = time_mono_ms();
		bufferevent_setwatermark(px->obev, EV_WRITE, PROXY_OUT_LOW, 0);
	} else {
		edge_io_read_enable(&c->io);
		proxy_arm_body_timer(c);
	}
}

/* The buffered body → the origin's output, up to PROXY_OUT_HIGH at a time
 * (the origin's write callback asks for more). */
static void
proxy_send_spool(struct edge_conn *c)
{
	struct edge_proxy *px = &c->px;
	struct evbuffer *out = bufferevent_get_output(px->obev);

	while (px->spool_sent < px->spool.len && evbuffer_get_length(out) < PROXY_OUT_HIGH) {
		int r = edge_spool_copy(
		    &px->spool, &px->spool_sent, out, PROXY_OUT_HIGH - evbuffer_get_length(out));

		if (r != 0) {
			proxy_spool_failed(c, r);
			return;
		}
	}
	if (px->spool_sent < px->spool.len)
		bufferevent_setwatermark(px->obev, EV_WRITE, PROXY_OUT_LOW, 0);
}

/* The whole request is in the origin's output (or on its way): the
 * connection may carry another one after the response. */
static bool
proxy_request_sent(const struct edge_proxy *px)
{
	return px->req_body_done && px->spool_sent == px->spool.len;
}

/* ---- response towards the client ---- */

static bool
proxy_skip_response_header(const struct edge_proxy *px, const struct h1_header *h)
{
	if (str_eq_nocase(h->name, STR_LIT("Transfer-Encoding")))
		return true;
	if (str_eq_nocase(h->name, STR_LIT("Content-Length")))
		return px->resp.body != H1_BODY_NONE;
	return h1_is_hop_by_hop(h->name, px->resp.headers, px->resp.n_headers);
}

/* The Content-Range of a 206 that held the whole representation, now
 * relayed and stored as the 200 it amounts to (proxy_range_window). */
static bool
proxy_skip_window_field(const struct edge_proxy *px, const struct h1_header *h)
{
	return px->range_whole && str_eq_nocase(h->name, STR_LIT("Content-Range"));
}

/* A site with hsts owns Strict-Transport-Security: the origin's is neither
 * relayed nor stored (the node adds its own on TLS, RFC 6797 §7.2). */
static bool
proxy_skip_origin_sts(const struct edge_conn *c, const struct h1_header *h)
{
	return c->site != NULL && c->site->hsts != NULL &&
	       str_eq_nocase(h->name, STR_LIT("Strict-Transport-Security"));
}

void
edge_proxy_policy_conf(const struct edge_conn *c, struct cache_policy_conf *conf)
{
	conf->default_ttl_s = c->route != NULL ? (int64_t)c->route->default_ttl_s : 0;
	conf->error_ttl_s = c->route != NULL ? (int64_t)c->route->error_ttl_s : 0;
	conf->heuristic_max_s = (int64_t)c->gen->cfg->cache.heuristic_max_s;
	conf->grace_s =
	    proxy_route_grace(c) ? (int64_t)c->route->grace_s : (int64_t)c->gen->cfg->cache.grace_s;
}

/* The object this answer makes (edge_fetch_obj_new), when it may be stored. */
static void
proxy_start_fill(struct edge_conn *c, time_t response_time)
{
	struct edge_proxy *px = &c->px;
	struct cache_policy_conf conf;

	if (!px->store || !proxy_method_is(c, "GET") || c->key_len < 0)
		return;
	edge_proxy_policy_conf(c, &conf);
	px->fill = edge_fetch_obj_new(c->w, c->gen->cfg, &c->req, &px->resp, c->key,
	    (size_t)c->key_len, &conf, px->request_time, response_time,
	    c->site != NULL && c->site->hsts != NULL, px->range_whole);
	if (px->fill != NULL)
		cache_obj_set_gen(px->fill, px->ban_gen);
}

/* RFC 9110 §9.2.1: the methods that do not ask the origin to change state. */
static bool
proxy_safe_method(const struct edge_conn *c)
{
	return proxy_method_is(c, "GET") || proxy_method_is(c, "HEAD") ||
	       proxy_method_is(c, "OPTIONS") || proxy_method_is(c, "TRACE");
}

/*
 * Invalidation (RFC 9111 §4.4): a non-error response (2xx, 3xx) to an unsafe
 * method (every method but the safe ones, unknown ones included) removes
 * what is stored for the target URI and for the URIs in Location and
 * Content-Location when they have the target's origin, every variant
 * included.  Called while the response head is parsed.
 */
static void
proxy_invalidate(struct edge_conn *c, time_t now)
{
	static const struct str fields[] = {STR_LIT("Location"), STR_LIT("Content-Location")};
	struct edge_proxy *px = &c->px;
	struct edge_worker *w = c->w;

	if (!cache_enabled(w->srv->cache) || c->key_len < 0 || proxy_safe_method(c) ||
	    px->resp.status < 200 || px->resp.status >= 400)
		return;
	cache_invalidate(w->srv->cache, c->key, (size_t)c->key_len, now);
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		const struct h1_header *h =
		    h1_header_find(px->resp.headers, px->resp.n_headers, fields[i]);
		int n;

		if (h == NULL)
			continue;
		n = cache_key_resolve(
		    c->key, (size_t)c->key_len, h->value, w->key_scratch, sizeof w->key_scratch);
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
proxy_head_update(struct edge_conn *c, time_t now)
{
	struct edge_proxy *px = &c->px;
	const struct h1_header *hs = px->resp.headers;
	size_t n = px->resp.n_headers;
	struct cache_policy_conf conf;
	struct cache_policy pol;
	struct cache_obj *o;

	if (px->stale == NULL || !px->store || !proxy_method_is(c, "HEAD") ||
	    px->resp.status != 200)
		return;
	if (h1_header_find(hs, n, STR_LIT("Content-Length")) != NULL) {
		size_t len;

		(void)cache_obj_body(px->stale, &len);
		if (px->resp.content_length != len)
			return;
	}
	if (!cache_policy_304_applies(px->stale, &px->resp, false))
		return;
	edge_proxy_policy_conf(c, &conf);
	cache_policy_evaluate_304(
	    &c->req, px->stale, &px->resp, px->request_time, now, &conf, &pol);
	if (!pol.storable)
		return;
	o = cache_obj_update(px->stale, hs, n, now, &pol);
	if (o == NULL)
		return;
	cache_obj_set_gen(o, px->ban_gen);
	cache_store(c->w->srv->cache, o, now);
	EDGE_COUNT(&c->w->metrics, cache_stores_total);
	cache_obj_unref(&o);
}

/* The origin's fields the client's head leaves out (edge_resp_skip_cb). */
static bool
proxy_skip_final_field(const void *arg, const struct h1_header *h)
{
	const struct edge_conn *c = arg;
	const struct edge_proxy *px = &c->px;

	return proxy_skip_response_header(px, h) || proxy_skip_origin_sts(c, h) ||
	       proxy_skip_window_field(px, h) || edge_range_cut_skips(&px->cut, h->name);
}

static void
proxy_write_response_head(struct edge_conn *c)
{
	struct edge_proxy *px = &c->px;
	struct edge_resp r;
	char cs[96];
	char cut_buf[EDGE_RANGE_FIELDS_BUF + 24];
	struct edge_resp_field cut[EDGE_RANGE_FIELDS_MAX];

	/* RFC 9211 §2.3: fwd-status, the answer to our conditional request */
	if (px->revalidate)
		snprintf(cs, sizeof cs, "fwd=%s; fwd-status=%d%s", c->fwd, px->resp.status,
		    px->fill != NULL ? "; stored" : "");
	else
		snprintf(cs, sizeof cs, "fwd=%s%s", c->fwd, px->fill != NULL ? "; stored" : "");
	if (!px->req_body_done)
		c->keep_alive = false; /* unread request body: cannot reuse */
	edge_resp_origin(&r, c, &px->resp, px->cut.active ? px->cut.status : px->resp.status,
	    proxy_skip_final_field, c, cs);
	if (px->cut.active)
		r.reason = STR_NULL; /* our 206 / 416, not the origin's status */
	px->client_chunked = false;
	px->client_until_close = false;
	switch (px->resp.body) {
	case H1_BODY_NONE:
		break;
	case H1_BODY_LENGTH:
		if (px->cut.active) {
			unsigned n = edge_range_cut_fields(&px->cut, cut, cut_buf);

			for (unsigned i = 0; i < n; i++)
				edge_resp_add(&r, cut[i].name, cut[i].value);
		} else {
			edge_resp_add_u64(&r, STR_LIT("Content-Length"), px->resp.content_length);
		}
		break;
	case H1_BODY_CHUNKED:
	case H1_BODY_CLOSE:
		if (c->req.minor >= 1) {
			r.framing = EDGE_RESP_FRAMING_CHUNKED;
			px->client_chunked = true;
		} else {
			r.framing = EDGE_RESP_FRAMING_CLOSE;
			px->client_until_close = true;
			c->keep_alive = false;
		}
		break;
	}
	r.keep_alive = c->keep_alive;
	(void)edge_resp_send(&r, c);
	if (px->cut.active)
		c->bytes_out +=
		    edge_range_cut_feed(&px->cut, NULL, c->io.out, 0); /* a 416's text */
}

/* RFC 9110 §15.2: a proxy forwards a 1xx (102, 103, ...) with its end-to-end
 * fields; never to an HTTP/1.0 client, and never 100 (we answer Expect
 * ourselves, §10.1.1).  Nothing of it is stored: the final response is. */
static bool
proxy_skip_interim_field(const void *arg, const struct h1_header *h)
{
	const struct h1_response *resp = arg;

	return h1_is_hop_by_hop(h->name, resp->headers, resp->n_headers);
}

static void
proxy_relay_interim(struct edge_conn *c)
{
	struct edge_proxy *px = &c->px;
	struct edge_resp r;

	if (px->resp.status == 100 || c->req.minor == 0 || c->orphan)
		return;
	edge_resp_interim(&r, &px->resp, proxy_skip_interim_field, &px->resp);
	c->bytes_out += edge_resp_send(&r, c);
}

/*
 * May the stored copy a fill builds grow by len bytes?  Not while the
 * cache's memory (objects, in the RAM tier or not, and fill chunks) is over
 * its budget (cache.ram + cache.fill_memory), nor past what one client
 * address may pin (cache.fill_per_client, charged here).
 */
static bool
proxy_fill_room(struct edge_conn *c, size_t len)
{
	const struct config *cfg = c->gen->cfg;
	uint64_t cap = cfg->cache.fill_per_client_bytes;

	if (cache_mem_over(config_cache_mem_budget(cfg))) {
		EDGE_COUNT(&c->w->metrics, cache_fills_unstored_memory_total);
		return false;
	}
	if (cap == 0)
		return true;
	if (c->pin_cl == NULL)
		c->pin_cl = cache_mem_client_get(c->peer);
	if (!cache_mem_client_charge(c->pin_cl, len, cap)) {
		EDGE_COUNT(&c->w->metrics, cache_fills_unstored_client_total);
		return false;
	}
	c->pin_bytes += len;
	return true;
}

static void
proxy_fill_append(struct edge_conn *c, const char *data, size_t len)
{
	struct edge_proxy *px = &c->px;
	bool room = px->fill == NULL || proxy_fill_room(c, len);

	if (px->fill != NULL && (!room || cache_obj_append(px->fill, data, len,
	                                      c->gen->cfg->cache.max_object_bytes) != 0)) {
		/* too big, or no memory, to store: those attached still get
		 * every byte, at the pace of the slowest (proxy_relay_body) */
		cache_obj_unref(&px->fill);
		px->fill_small = !room;
		if (px->cf_stream)
			cache_fill_close_joins(px->cf, time_now());
	}
	if (px->cf_stream && !px->cf_oom && cache_fill_append(px->cf, data, len) != 0)
		px->cf_oom = true;
}

/* Copies the first n bytes of buf into the fill without draining them. */
static void
proxy_fill_from_buffer(struct edge_conn *c, struct evbuffer *buf, size_t n)
{
	struct evbuffer_iovec v[8];
	struct evbuffer_ptr pos;

	if ((c->px.fill == NULL && !c->px.cf_stream) || n == 0)
		return;
	evbuffer_ptr_set(buf, &pos, 0, EVBUFFER_PTR_SET);
	while (n > 0) {
		int k = evbuffer_peek(buf, (ev_ssize_t)n, &pos, v, 8);

		if (k <= 0)
			break;
		for (int i = 0; i < k && i < 8 && n > 0; i++) {
			size_t l = v[i].iov_len < n ? v[i].iov_len : n;

			proxy_fill_append(c, v[i].iov_base, l);
			n -= l;
			evbuffer_ptr_set(buf, &pos, l, EVBUFFER_PTR_ADD);
		}
	}
}

static void
proxy_finish(struct edge_conn *c)
{
	struct edge_proxy *px = &c->px;
	struct edge_worker *w = c->w;
	bool reusable;

	proxy_release(c);
	if (px->total_timer != NULL)
		evtimer_del(px->total_timer);
	if (px->fill != NULL) {
		/* waiters read the fill's chunks and head, never its body */
		cache_obj_body_done(px->fill);
		cache_store(w->srv->cache, px->fill, time_now());
		EDGE_COUNT(&w->metrics, cache_stores_total);
		cache_obj_unref(&px->fill);
	}
	if (px->cf != NULL) {
		/* after the RAM insert: a miss that no longer finds the fill hits */
		cache_fill_end(px->cf, CACHE_FILL_S_DONE, time_now());
		cache_fill_unref(&px->cf);
	}
	cache_obj_unref(&px->stale);
	edge_range_cut_end(&px->cut);
	px->revalidate = false;
	reusable = px->resp.keep_alive && px->resp.body != H1_BODY_CLOSE &&
	           proxy_request_sent(px) &&
	           evbuffer_get_length(bufferevent_get_input(px->obev)) == 0;
	proxy_put_origin_conn(c, reusable);
	edge_spool_reset(&px->spool);
	px->state = EDGE_PROXY_IDLE;
	if (!px->req_body_done)
		c->keep_alive = false;
	if (px->cf_stream) {
		/* the client reads the rest from the fill, or is gone; its
		 * address stays charged until it has (edge_collapse_detach) */
		px->cf_stream = false;
		if (c->orphan) {
			edge_conn_close(c);
			return;
		}
		c->state = EDGE_CONN_COLLAPSED;
		edge_collapse_pump(c);
		return;
	}
	edge_proxy_unpin(c);
	edge_io_set_lowmark(&c->io, 0);
	edge_conn_response_done(c);
}

/* Moves n body bytes from the origin's input to the client (chunk-encoded
 * when we chunk), or, when the body streams through a collapsed fill (which
 * proxy_fill_from_buffer / proxy_fill_append fed), drops them. */
static void
proxy_emit(struct edge_conn *c, struct evbuffer *in, size_t n)
{
	if (c->px.cf_stream) {
		evbuffer_drain(in, n);
		return;
	}
	if (c->px.cut.active) {
		/* a range miss: the client gets its ranges cut from the body */
		c->bytes_out += edge_range_cut_feed(&c->px.cut, in, c->io.out, n);
		return;
	}
	if (c->px.client_chunked)
		proxy_move_chunk(in, c->io.out, n);
	else
		evbuffer_remove_buffer(in, c->io.out, n);
	c->bytes_out += n;
}

/* The chunks a no-longer-stored fill keeps alive (from its slowest reader
 * on) exceed cache.max_object (at least PROXY_OUT_HIGH), or, while memory
 * is short (the cache over its budget, or this fill stopped storing for
 * lack of it), PROXY_FILL_WINDOW_MIN. */
static bool
proxy_fill_window_full(struct edge_conn *c)
{
	struct edge_proxy *px = &c->px;
	uint64_t max = c->gen->cfg->cache.max_object_bytes;
	size_t window = cache_fill_window(px->cf);

	if (max < PROXY_OUT_HIGH)
		max = PROXY_OUT_HIGH;
	if (window > max)
		return true;
	if (window <= PROXY_FILL_WINDOW_MIN ||
	    (!px->fill_small && !cache_mem_over(config_cache_mem_budget(c->gen->cfg))))
		return false;
	if (!px->cf_mem_paced) {
		px->cf_mem_paced = true;
		EDGE_COUNT(&c->w->metrics, cache_fills_paced_memory_total);
	}
	return true;
}

/* The paused collapsed fill's poll: resumes reading the origin if the
 * slowest reader made room (proxy_relay_body pauses again if not). */
static void
proxy_on_fill_timer(evutil_socket_t fd, short what, void *arg)
{
	struct edge_conn *c = arg;
	struct edge_proxy *px = &c->px;

	(void)fd;
	(void)what;
	OBJ_CHECK(c, EDGE_CONN_MAGIC);
	edge_conn_enter(c);
	px->cf_paused = false;
	if (px->state == EDGE_PROXY_RELAY_BODY && px->cf_stream && px->obev != NULL)
		proxy_relay_body(c);
	edge_conn_leave(c);
}

static void
proxy_relay_body(struct edge_conn *c)
{
	struct edge_proxy *px = &c->px;
	struct evbuffer *in = bufferevent_get_input(px->obev);
	struct evbuffer *out = c->io.out;
	bool done = false;

	for (;;) {
		size_t avail = evbuffer_get_length(in);

		/* a leader whose client left, filling an object no longer stored
		 * that its last reader has left too: nobody gets the rest */
		if (c->orphan && px->cf_stream && px->fill == NULL &&
		    cache_fill_readers(px->cf) == 0) {
			edge_proxy_abort(c);
			edge_conn_close(c);
			return;
		}
		/* a collapsed fill reads the origin at origin speed */
		if (!px->cf_stream && evbuffer_get_length(out) > PROXY_OUT_HIGH) {
			bufferevent_disable(px->obev, EV_READ);
			edge_io_set_lowmark(&c->io, PROXY_OUT_LOW);
			return;
		}
		/* ... unless it is no longer stored: then its slowest reader
		 * bounds how far ahead it may be */
		if (px->cf_stream && px->fill == NULL && proxy_fill_window_full(c)) {
			struct timeval tv;

			bufferevent_disable(px->obev, EV_READ);
			px->cf_paused = true;
			proxy_tv(&tv, PROXY_FILL_POLL_MS);
			if (px->fill_timer == NULL)
				px->fill_timer = evtimer_new(c->w->base, proxy_on_fill_timer, c);
			ASSERT(px->fill_timer != NULL);
			evtimer_add(px->fill_timer, &tv);
			edge_collapse_pump(c); /* the leader's own client */
			return;
		}
		/* no body, or "Content-Length: 0": done before any byte */
		if (px->resp.body == H1_BODY_NONE ||
		    (px->resp.body == H1_BODY_LENGTH && px->resp_remaining == 0)) {
			done = true;
			break;
		}
		if (avail == 0)
			break;
		if (px->resp.body == H1_BODY_LENGTH) {
			size_t n = avail < px->resp_remaining ? avail : (size_t)px->resp_remaining;

			proxy_fill_from_buffer(c, in, n);
			proxy_emit(c, in, n);
			px->resp_remaining -= n;
			if (px->resp_remaining == 0) {
				done = true;
				break;
			}
		} else if (px->resp.body == H1_BODY_CLOSE) {
			proxy_fill_from_buffer(c, in, avail);
			proxy_emit(c, in, avail);
		} else {
			struct evbuffer_iovec v;
			const char *d = NULL;
			size_t used = 0, dl = 0;
			enum h1_status st;

			if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
				break;
			st =
			    h1_chunked_decode(&px->resp_dec, v.iov_base, v.iov_len, &used, &d, &dl);
			if (dl > 0) {
				proxy_fill_append(c, d, dl);
				evbuffer_drain(in, used - dl);
				proxy_emit(c, in, dl);
			} else {
				evbuffer_drain(in, used);
			}
			if (st == H1_OK) {
				done = true;
				break;
			}
			if (st != H1_AGAIN) {
				log_warn("proxy", "origin pool \"%s\": bad chunked body: %s",
				    px->pool->name, h1_strerror(st));
				proxy_fail(c, 502, "bad gateway");
				return;
			}
			if (used == 0)
				break;
		}
	}
	if (px->cf_oom) {
		log_warn("proxy", "out of memory for a collapsed fill");
		proxy_fail(c, 502, "bad gateway");
		return;
	}
	if (!done) {
		bufferevent_enable(px->obev, EV_READ);
		if (px->cf_stream)
			edge_collapse_pump(c); /* the leader's own client */
		return;
	}
	if (px->client_chunked && !px->cf_stream) {
		evbuffer_add(out, "0\r\n\r\n", 5);
		c->bytes_out += 5;
	}
	proxy_finish(c);
}

/*
 * The origin validated the stale response (RFC 9111 §4.3.3, §4.3.4): a new
 * object with the stored head updated by the 304's fields and the same body
 * (shared, see cache_obj_update) replaces it in the RAM tier (and is queued
 * to disk), and the client is answered from it: X-Cache: HIT,
 * "Cache-Status: outpost; fwd=stale; fwd-status=304".  The 304 has no body,
 * so the origin connection goes back to the idle pool when it may.
 */
static void
proxy_revalidated(struct edge_conn *c)
{
	struct edge_proxy *px = &c->px;
	struct edge_worker *w = c->w;
	struct evbuffer *in = bufferevent_get_input(px->obev);
	struct cache_policy_conf conf;
	struct cache_policy pol;
	struct cache_obj *o;
	time_t now = time_now();
	bool reusable;

	edge_proxy_policy_conf(c, &conf);
	cache_policy_evaluate_304(
	    &c->req, px->stale, &px->resp, px->request_time, now, &conf, &pol);
	o = cache_obj_update(px->stale, px->resp.headers, px->resp.n_headers, now, &pol);
	if (o != NULL)
		cache_obj_set_gen(o, px->ban_gen);
	EDGE_COUNT(&w->metrics, cache_revalidated_total);
	if (o == NULL) {
		o = cache_obj_ref(px->stale); /* validated all the same */
	} else if (pol.storable && px->store) {
		cache_store(w->srv->cache, o, now);
		EDGE_COUNT(&w->metrics, cache_stores_total);
		edge_fetch_store_for_request(w, &c->req, o, now);
	}
	evbuffer_drain(in, px->resp.head_len);
	px->resp.headers = NULL;
	px->resp.n_headers = 0;
	proxy_release(c);
	reusable = px->resp.keep_alive && proxy_request_sent(px) && evbuffer_get_length(in) == 0;
	proxy_put_origin_conn(c, reusable);
	edge_proxy_abort(c); /* drops stale; the exchange is over */
	if (!px->req_body_done)
		c->keep_alive = false;
	edge_conn_serve_stored(c, o, "fwd=stale; fwd-status=304"); /* counts the hit */
	cache_obj_unref(&o);
}

/* ---- byte ranges on a miss (RFC 9110 §14) ---- */

/* The effective cache.range_fill_max: objects over cache.max_object are
 * never stored, so fetching them whole for a range would gain nothing. */
static uint64_t
proxy_range_fill_max(const struct config *cfg)
{
	return cfg->cache.range_fill_max_bytes < cfg->cache.max_object_bytes
	           ? cfg->cache.range_fill_max_bytes
	           : cfg->cache.max_object_bytes;
}

/*
 * Does this range request fill the cache (its Range replaced by the window,
 * proxy_range_window)?  Not when cache.range_fill_max is 0, nor when every
 * range it asks starts past the window (a suffix range counts as such: its
 * place is unknown until the length is): the window would not answer it,
 * so its own Range goes to the origin at once.
 */
static bool
proxy_range_fills(const struct edge_conn *c)
{
	const struct h1_header *h =
	    h1_header_find(c->req.headers, c->req.n_headers, STR_LIT("Range"));
	uint64_t window = proxy_range_fill_max(c->gen->cfg);
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
 * origin's 200 will not fill it — it may not be stored (no fill started), or
 * it announces a body over cache.range_fill_max: drop this answer unread and
 * ask again with the client's Range and If-Range, whose answer (206, 416 or
 * 200) is relayed as it is.  Same member, a new connection (the old one
 * still carries the unread body).  True if re-sent.
 */
/* The answer in hand is not used: the same member is asked again on a new
 * connection. */
static void
proxy_ask_again(struct edge_conn *c)
{
	struct edge_proxy *px = &c->px;

	px->resp.headers = NULL;
	px->resp.n_headers = 0;
	px->range_whole = false;
	bufferevent_free(px->obev);
	px->obev = NULL;
	proxy_begin(c, true);
}

static bool
proxy_range_refetch(struct edge_conn *c)
{
	struct edge_proxy *px = &c->px;

	if (!px->range_strip || px->resp.status != 200)
		return false;
	if (px->fill != NULL && !(px->resp.body == H1_BODY_LENGTH &&
	                            px->resp.content_length > proxy_range_fill_max(c->gen->cfg)))
		return false;
	EDGE_COUNT(&c->w->metrics, cache_range_passes_total);
	cache_obj_unref(&px->fill);
	px->range_strip = false;
	proxy_ask_again(c);
	return true;
}

/* Is the 206 in px->resp the whole representation: one Content-Range
 * "bytes 0-N/L" with N + 1 == L == its Content-Length? */
static bool
proxy_range_whole(const struct edge_proxy *px)
{
	const struct h1_response *r = &px->resp;
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
 * ranges cut from it (proxy_range_cut).  Any other 206 (the object is
 * bigger: it is not stored, slices aside) or a 416 does not answer the
 * client: it is dropped, having cost at most the window, and the request is
 * sent again with the client's own Range and If-Range, whose answer is
 * relayed.  True if sent again.
 */
static bool
proxy_range_window(struct edge_conn *c)
{
	struct edge_proxy *px = &c->px;

	if (!px->range_strip || (px->resp.status != 206 && px->resp.status != 416))
		return false;
	if (px->resp.status == 206 && proxy_range_whole(px)) {
		px->resp.status = 200;
		px->resp.reason = STR_LIT("OK");
		px->range_whole = true;
		return false;
	}
	EDGE_COUNT(&c->w->metrics, cache_range_passes_total);
	px->range_strip = false;
	proxy_ask_again(c);
	return true;
}

/*
 * A 304 to our own validators that selects no stored response (RFC 9111
 * §4.3.4: its validator names another representation) answers a question the
 * client did not ask: the request goes again without validators, rather than
 * an empty 304 to a plain GET.
 */
static bool
proxy_reval_refetch(struct edge_conn *c)
{
	struct edge_proxy *px = &c->px;

	if (!px->revalidate || px->resp.status != 304 || px->reval_client)
		return false;
	px->revalidate = false;
	proxy_ask_again(c);
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
proxy_range_cut(struct edge_conn *c)
{
	struct edge_proxy *px = &c->px;
	const struct h1_header *h;
	struct range_validators v = {STR_NULL, STR_NULL, STR_NULL};
	struct str ctype = STR_NULL;
	struct range_set rs;
	enum range_result rr;

	if (!px->range_strip || px->resp.status != 200 || px->resp.body != H1_BODY_LENGTH)
		return;
	if ((h = h1_header_find(px->resp.headers, px->resp.n_headers, STR_LIT("ETag"))) != NULL)
		v.etag = h->value;
	if ((h = h1_header_find(px->resp.headers, px->resp.n_headers, STR_LIT("Last-Modified"))) !=
	    NULL)
		v.last_modified = h->value;
	if ((h = h1_header_find(px->resp.headers, px->resp.n_headers, STR_LIT("Date"))) != NULL)
		v.date = h->value;
	if ((h = h1_header_find(px->resp.headers, px->resp.n_headers, STR_LIT("Content-Type"))) !=
	    NULL)
		ctype = h->value;
	rr = range_request(&c->req, &v, px->resp.content_length, &rs);
	if (rr == RANGE_IGNORE || (rr == RANGE_SATISFIABLE && !range_ascending(&rs)))
		return;
	edge_range_cut_start(&px->cut, rr, &rs, px->resp.content_length, ctype);
	EDGE_COUNT(&c->w->metrics, range_answers_total);
}

/* The final head arrived: passive health and EWMA; a status listed in
 * retry_on counts as a failure and is retried on another member when allowed
 * (returns true then), else relayed as it is. */
static bool
proxy_head_outcome(struct edge_conn *c)
{
	struct edge_proxy *px = &c->px;
	const struct config_member *m = &px->pool->members[px->member_idx];
	uint64_t now_ms = time_mono_ms();
	unsigned bit = px->resp.status == 502   ? CONFIG_RETRY_ON_502
	               : px->resp.status == 503 ? CONFIG_RETRY_ON_503
	               : px->resp.status == 504 ? CONFIG_RETRY_ON_504
	                                        : 0;

	if ((bit & px->pool->retry_on) != 0) {
		log_warn("proxy", "origin pool \"%s\" member %s:%u answered %d", px->pool->name,
		    m->host, (unsigned)m->port, px->resp.status);
		proxy_member_failed(c);
		if (proxy_may_retry(c)) {
			proxy_retry_other(c, 502, "bad gateway");
			return true;
		}
		return false;
	}
	if (origin_balance_success(proxy_balance(c), px->member_idx,
	        now_ms > px->try_ms ? now_ms - px->try_ms : 0, now_ms))
		log_info("proxy", "origin pool \"%s\" member %s:%u answers again (passive health)",
		    px->pool->name, m->host, (unsigned)m->port);
	return false;
}

/*
 * The chunked body bytes that came with the head, checked before anything of
 * the response is published: a bad chunk among them answers 502 (RFC 9110
 * §15.6.3) while the client has had nothing yet, where relaying would queue
 * the head and then close the connection before it left.  A copy of the
 * decoder runs over them; nothing is consumed.  H1_AGAIN or H1_OK when none
 * is bad.
 */
static enum h1_status
proxy_check_first_chunks(struct edge_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->px.obev);
	struct evbuffer_iovec v[8];
	struct evbuffer_ptr pos;
	struct h1_chunked dec;
	enum h1_status st = H1_AGAIN;
	int k;

	if (c->px.resp.body != H1_BODY_CHUNKED ||
	    evbuffer_ptr_set(in, &pos, c->px.resp.head_len, EVBUFFER_PTR_SET) != 0)
		return H1_AGAIN;
	h1_chunked_init(&dec);
	while (st == H1_AGAIN && (k = evbuffer_peek(in, -1, &pos, v, 8)) > 0) {
		for (int i = 0; i < k && i < 8 && st == H1_AGAIN; i++) {
			const char *p = v[i].iov_base;
			size_t len = v[i].iov_len;

			while (len > 0 && st == H1_AGAIN) {
				const char *d;
				size_t used = 0, dl = 0;

				st = h1_chunked_decode(&dec, p, len, &used, &d, &dl);
				if (used == 0)
					break;
				p += used;
				len -= used;
			}
			if (evbuffer_ptr_set(in, &pos, v[i].iov_len, EVBUFFER_PTR_ADD) != 0)
				return st;
		}
	}
	return st;
}

/* Parses the response head (skipping 1xx interim responses). */
static void
proxy_read_head(struct edge_conn *c)
{
	struct edge_proxy *px = &c->px;
	struct evbuffer *in = bufferevent_get_input(px->obev);
	struct h1_limits lim = {8192, EDGE_ORIGIN_MAX_HEAD, EDGE_MAX_HEADERS};
	const char *p;
	enum h1_status body_st;
	time_t now;

	for (;;) {
		size_t len = evbuffer_get_length(in);
		size_t n = len < EDGE_ORIGIN_MAX_HEAD + 1 ? len : EDGE_ORIGIN_MAX_HEAD + 1;
		enum h1_status st;

		if (len == 0)
			return;
		px->got_bytes = true;
		p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
		st = h1_parse_response(
		    p, n, &lim, proxy_method_is(c, "HEAD"), c->w->hdr_scratch, &px->resp);
		if (st == H1_AGAIN)
			return;
		if (st != H1_OK) {
			log_warn("proxy", "origin pool \"%s\": malformed response: %s",
			    px->pool->name, h1_strerror(st));
			proxy_fail(c, 502, "bad gateway: the origin sent a malformed response");
			return;
		}
		if (px->resp.status >= 100 && px->resp.status < 200) {
			if (px->resp.status == 101) {
				proxy_fail(
				    c, 502, "bad gateway: protocol upgrade is not supported");
				return;
			}
			if (++px->n_interim > EDGE_MAX_INTERIM) {
				log_warn("proxy",
				    "origin pool \"%s\": more than %d interim (1xx) responses",
				    px->pool->name, EDGE_MAX_INTERIM);
				proxy_fail(c, 502, "bad gateway: too many interim responses");
				return;
			}
			proxy_relay_interim(c);
			evbuffer_drain(in, px->resp.head_len);
			continue;
		}
		break;
	}
	body_st = proxy_check_first_chunks(c);
	if (body_st != H1_AGAIN && body_st != H1_OK) {
		log_warn("proxy", "origin pool \"%s\": bad chunked body: %s", px->pool->name,
		    h1_strerror(body_st));
		proxy_fail(c, 502, "bad gateway: the origin sent a malformed response");
		return;
	}
	if (proxy_head_outcome(c))
		return; /* retried on another member */
	if (px->revalidate && px->resp.status == 304 &&
	    (cache_policy_304_applies(px->stale, &px->resp, px->reval_client) ||
	        (px->reval_inm && edge_fetch_select_variant(
	                              c->w, c->key, (size_t)c->key_len, &px->resp, &px->stale)))) {
		proxy_revalidated(c);
		return;
	}
	if (proxy_reval_refetch(c) || proxy_range_window(c))
		return;
	if (px->resp.status == 500 || px->resp.status == 502 || px->resp.status == 503 ||
	    px->resp.status == 504) {
		int st = px->resp.status;

		/* the error response is dropped with its connection */
		if (px->stale != NULL && proxy_stale_if_error(c, st)) {
			EDGE_COUNT(&c->w->metrics, origin_errors_total);
			return;
		}
	}
	/* The header views point into the origin input and the worker's scratch
	 * array: use them, then drop the head. */
	now = time_now();
	proxy_invalidate(c, now);
	proxy_head_update(c, now);
	proxy_start_fill(c, now);
	if (proxy_range_refetch(c))
		return;
	if (px->cf != NULL && px->fill == NULL) {
		/* not storable: waiters go on their own, the key is hit-for-pass */
		if (c->cf == px->cf)
			edge_collapse_detach(c);
		cache_fill_end(px->cf, CACHE_FILL_S_PASS, now);
		cache_fill_unref(&px->cf);
	}
	if (px->cf != NULL) {
		/* the readers get a copy of the head: the body being built is
		 * freed at once if the fill stops storing it */
		struct cache_obj *head = cache_obj_head_copy(px->fill);

		if (head == NULL) {
			proxy_fail(c, 502, "bad gateway");
			return;
		}
		cache_fill_head(px->cf, head,
		    px->resp.body == H1_BODY_LENGTH ? (int64_t)px->resp.content_length
		    : px->resp.body == H1_BODY_NONE ? 0
		                                    : -1);
		cache_obj_unref(&head);
		px->cf_stream = true;
	}
	proxy_range_cut(c);
	proxy_write_response_head(c);
	if (px->cf_stream)
		edge_collapse_leader_reads(c, px->client_chunked);
	evbuffer_drain(in, px->resp.head_len);
	px->resp.headers = NULL;
	px->resp.n_headers = 0;
	px->state = EDGE_PROXY_RELAY_BODY;
	px->resp_remaining = px->resp.content_length;
	h1_chunked_init(&px->resp_dec);
	proxy_set_timeouts(c, px->pool->between_bytes_timeout_ms);
	proxy_relay_body(c);
}

/* ---- origin callbacks ---- */

static void
proxy_on_origin_read(struct bufferevent *bev, void *arg)
{
	struct edge_conn *c = arg;

	OBJ_CHECK(c, EDGE_CONN_MAGIC);
	ASSERT(c->px.obev == bev);
	edge_conn_enter(c);
	if (c->px.state == EDGE_PROXY_WAIT_HEAD || c->px.state == EDGE_PROXY_CONNECTING)
		proxy_read_head(c);
	else if (c->px.state == EDGE_PROXY_RELAY_BODY)
		proxy_relay_body(c);
	edge_conn_leave(c);
}

static void
proxy_on_origin_write(struct bufferevent *bev, void *arg)
{
	struct edge_conn *c = arg;

	OBJ_CHECK(c, EDGE_CONN_MAGIC);
	ASSERT(c->px.obev == bev);
	edge_conn_enter(c);
	if (!c->px.req_body_done)
		proxy_pump_request_body(c);
	else if (c->px.spool_sent < c->px.spool.len)
		proxy_send_spool(c);
	edge_conn_leave(c);
}

/* No request body, or an empty one: nothing the retry would have to resend. */
static bool
proxy_bodyless(const struct edge_conn *c)
{
	return c->req.body == H1_BODY_NONE ||
	       (c->req.body == H1_BODY_LENGTH && c->req.content_length == 0);
}

/* A kept-alive connection failed before any response byte: the origin most
 * likely closed it as we reused it (RFC 9112 §9.3.1).  Once, on a fresh
 * connection to the same member, for idempotent requests only (RFC 9110
 * §9.2.2; nginx does the same). */
static bool
proxy_retryable(const struct edge_conn *c)
{
	const struct edge_proxy *px = &c->px;

	return px->reused && !px->got_bytes && !px->retried && proxy_bodyless(c) &&
	       proxy_idempotent(c);
}

/* RFC 9110 §9.2.2 idempotent methods. */
static bool
proxy_idempotent(const struct edge_conn *c)
{
	static const char *const methods[] = {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"};

	for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
		if (proxy_method_is(c, methods[i]))
			return true;
	return false;
}

/* The current try failed before a response reached the client: passive health. */
static void
proxy_member_failed(struct edge_conn *c)
{
	struct edge_proxy *px = &c->px;
	const struct config_member *m = &px->pool->members[px->member_idx];
	struct origin_balance *b = proxy_balance(c);

	EDGE_COUNT(&c->w->metrics, origin_member_failures_total);
	if (origin_balance_failure(b, px->member_idx, time_mono_ms())) {
		EDGE_COUNT(&c->w->metrics, origin_ejections_total);
		log_warn("proxy",
		    "origin pool \"%s\" member %s:%u ejected for %llu ms on this worker "
		    "(passive health)",
		    px->pool->name, m->host, (unsigned)m->port,
		    (unsigned long long)origin_balance_ejected_ms(b, px->member_idx));
	}
}

/* May the failed try be repeated on another member?  Counts against the budget. */
static bool
proxy_may_retry(struct edge_conn *c)
{
	struct edge_proxy *px = &c->px;

	if (px->state == EDGE_PROXY_RELAY_BODY || px->tries > px->pool->retries ||
	    px->tries >= EDGE_PROXY_MAX_TRIES || !proxy_idempotent(c))
		return false;
	if (!proxy_bodyless(c))
		return false;
	if (!origin_balance_any(proxy_balance(c), px->tried, px->tries, time_mono_ms()))
		return false;
	if (!origin_balance_retry_ok(proxy_balance(c), time_mono_ms())) {
		EDGE_COUNT(&c->w->metrics, origin_retry_budget_exhausted_total);
		return false;
	}
	return true;
}

/* Drops the current try and starts one on another member; status/msg answer
 * the request if no member is left. */
static void
proxy_retry_other(struct edge_conn *c, int status, const char *msg)
{
	struct edge_proxy *px = &c->px;

	px->fail_status = status;
	px->fail_msg = msg;
	proxy_release(c);
	origin_dns_cancel(&px->dnsq);
	if (px->obev != NULL) {
		bufferevent_free(px->obev);
		px->obev = NULL;
	}
	proxy_begin(c, false);
}

#define PROXY_ADDR_RETRIES 2 /* tries moved to another address of a member's name */

/*
 * A try on one address of a member's host name failed before any response
 * byte: resolves leave that address out for passive.backoff (while the name
 * has another), and an idempotent request without a body goes to the next
 * address of the same member without counting against the member (its other
 * addresses may be fine).  True when retried so.
 */
static bool
proxy_address_failed(struct edge_conn *c)
{
	struct edge_proxy *px = &c->px;
	const struct config_member *m = &px->pool->members[px->member_idx];
	const struct sockaddr *sa = (const struct sockaddr *)&px->addr;
	unsigned others;
	bool marked;

	if (px->addrlen == 0 || px->got_bytes || px->reused) /* reused: likely just stale */
		return false;
	others = origin_dns_mark_bad(
	    c->w->dns, m->host, sa, time_mono_ms() + px->pool->passive_backoff_ms, &marked);
	if (marked && others > 0) { /* a lone address is the member's affair */
		char ip[INET6_ADDRSTRLEN] = "?";

		(void)inet_ntop(sa->sa_family,
		    sa->sa_family == AF_INET
		        ? (const void *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr
		        : (const void *)&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
		    ip, sizeof ip);
		EDGE_COUNT(&c->w->metrics, origin_address_ejections_total);
		log_warn("proxy",
		    "origin pool \"%s\" member %s:%u: address %s left out for %u ms on this worker",
		    px->pool->name, m->host, (unsigned)m->port, ip, px->pool->passive_backoff_ms);
	}
	if (others == 0 || px->addr_retries >= PROXY_ADDR_RETRIES || !proxy_idempotent(c) ||
	    !proxy_bodyless(c))
		return false;
	px->addr_retries++;
	EDGE_COUNT(&c->w->metrics, origin_retries_total);
	if (px->obev != NULL) {
		bufferevent_free(px->obev);
		px->obev = NULL;
	}
	proxy_begin(c, true);
	return true;
}

/* A try failed with nothing sent to the client yet: hold it against the
 * member, then retry elsewhere when allowed, else answer status. */
static void
proxy_try_failed(struct edge_conn *c, int status, const char *msg)
{
	struct edge_proxy *px = &c->px;

	if (px->state == EDGE_PROXY_RELAY_BODY) {
		proxy_fail(c, status, msg);
		return;
	}
	if (proxy_address_failed(c))
		return;
	proxy_member_failed(c);
	if (!px->got_bytes && proxy_may_retry(c))
		proxy_retry_other(c, status, msg);
	else
		proxy_fail(c, status, msg);
}

static void
proxy_on_origin_event(struct bufferevent *bev, short what, void *arg)
{
	struct edge_conn *c = arg;
	struct edge_proxy *px = &c->px;
	int err = EVUTIL_SOCKET_ERROR();

	OBJ_CHECK(c, EDGE_CONN_MAGIC);
	ASSERT(px->obev == bev);
	edge_conn_enter(c);
	if (what & BEV_EVENT_CONNECTED) {
		int one = 1;

		(void)setsockopt(
		    bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		px->state = EDGE_PROXY_WAIT_HEAD;
		proxy_set_timeouts(c, px->pool->first_byte_timeout_ms);
	} else if (what & BEV_EVENT_TIMEOUT) {
		bool sending = px->state != EDGE_PROXY_CONNECTING && (what & BEV_EVENT_WRITING);

		EDGE_COUNT(&c->w->metrics, origin_timeouts_total);
		log_warn("proxy", "origin pool \"%s\" member %u: %s timed out", px->pool->name,
		    px->member_idx,
		    px->state == EDGE_PROXY_CONNECTING ? "connect"
		    : sending                          ? "sending the request"
		                                       : "response");
		proxy_try_failed(c, 504,
		    px->state == EDGE_PROXY_CONNECTING
		        ? "gateway timeout: the origin did not accept the connection in time"
		    : sending ? "gateway timeout: the origin did not take the request in time"
		              : "gateway timeout: the origin did not answer in time");
	} else if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		if (px->state == EDGE_PROXY_RELAY_BODY && px->resp.body == H1_BODY_CLOSE &&
		    (what & BEV_EVENT_EOF)) {
			proxy_relay_body(c);
			if (!c->dead && px->state == EDGE_PROXY_RELAY_BODY) {
				/* All bytes relayed: the close delimits the body. */
				struct evbuffer *out = c->io.out;

				if (px->client_chunked && !px->cf_stream) {
					evbuffer_add(out, "0\r\n\r\n", 5);
					c->bytes_out += 5;
				}
				px->resp.keep_alive = false;
				proxy_finish(c);
			}
		} else if (px->state != EDGE_PROXY_RELAY_BODY && proxy_retryable(c)) {
			EDGE_COUNT(&c->w->metrics, origin_retries_total);
			bufferevent_free(px->obev);
			px->obev = NULL;
			px->retried = true;
			proxy_begin(c, true);
		} else if (px->state == EDGE_PROXY_RELAY_BODY) {
			log_warn("proxy", "origin pool \"%s\": connection ended mid-body",
			    px->pool->name);
			proxy_fail(c, 502, "bad gateway");
		} else {
			char tbuf[256];
			bool verify = false;
			const char *tls = (what & BEV_EVENT_ERROR) && px->pool->tls
			                      ? origin_tls_error(bev, &verify, tbuf, sizeof tbuf)
			                      : NULL;
			const char *why =
			    tls != NULL                                       ? tls
			    : (what & BEV_EVENT_ERROR) && err == ECONNREFUSED ? "connection refused"
			    : (what & BEV_EVENT_ERROR) ? evutil_socket_error_to_string(err)
			                               : "connection closed before a response";
			const struct config_member *m = &px->pool->members[px->member_idx];

			log_warn("proxy", "origin pool \"%s\" member %s:%u: %s%s", px->pool->name,
			    m->host, (unsigned)m->port, tls != NULL ? "TLS: " : "", why);
			proxy_try_failed(c, 502,
			    verify
			        ? "bad gateway: the origin's TLS certificate could not be verified"
			    : tls != NULL ? "bad gateway: TLS to the origin failed"
			                  : "bad gateway: the origin could not be reached");
		}
	}
	edge_conn_leave(c);
}

/* ---- start ---- */

static void
proxy_attach(struct edge_conn *c)
{
	struct edge_proxy *px = &c->px;

	bufferevent_setcb(
	    px->obev, proxy_on_origin_read, proxy_on_origin_write, proxy_on_origin_event, c);
	proxy_set_timeouts(c, px->pool->first_byte_timeout_ms);
	bufferevent_enable(px->obev, EV_READ | EV_WRITE);
}

/* Queues the request head and the buffered body (all of it again on a new
 * try), or whatever body bytes are already here. */
static void
proxy_send_request(struct edge_conn *c)
{
	c->px.conn_uses++;
	proxy_write_request_head(c);
	c->px.spool_sent = 0;
	if (c->px.buffered)
		proxy_send_spool(c);
	else
		proxy_pump_request_body(c);
}

static void
proxy_connect(struct edge_conn *c, const struct sockaddr *sa, socklen_t salen)
{
	struct edge_proxy *px = &c->px;
	struct timeval rtv, wtv;

	px->conn_uses = 0;
	memcpy(&px->addr, sa, salen);
	px->addrlen = salen;
	px->obev = origin_pool_bev_new(c->gen->opool, px->pool_idx, px->member_idx);
	if (px->obev == NULL) {
		proxy_try_failed(c, 502, "bad gateway: cannot open a connection to the origin");
		return;
	}
	px->state = EDGE_PROXY_CONNECTING;
	proxy_attach(c);
	/* While connecting, the write timeout is the connect timeout. */
	proxy_tv(&rtv, px->pool->connect_timeout_ms + px->pool->first_byte_timeout_ms);
	proxy_tv(&wtv, px->pool->connect_timeout_ms);
	bufferevent_set_timeouts(px->obev, &rtv, &wtv);
	if (bufferevent_socket_connect(px->obev, sa, (int)salen) != 0) {
		log_warn("proxy", "origin pool \"%s\" member %u: connect: %s", px->pool->name,
		    px->member_idx, evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		proxy_try_failed(c, 502, "bad gateway: the origin could not be reached");
		return;
	}
	proxy_send_request(c);
}

/* The member's address for this try is sa: an idle connection to it when
 * the try may reuse one, else a new connection. */
static void
proxy_use_address(struct edge_conn *c, const struct sockaddr *sa, socklen_t salen)
{
	struct edge_proxy *px = &c->px;

	if (px->may_reuse) {
		px->obev = origin_pool_take(
		    c->gen->opool, px->pool_idx, px->member_idx, sa, salen, &px->conn_uses);
		if (px->obev != NULL) {
			px->reused = true;
			memcpy(&px->addr, sa, salen);
			px->addrlen = salen;
			px->state = EDGE_PROXY_WAIT_HEAD;
			EDGE_COUNT(&c->w->metrics, origin_conn_reused_total);
			proxy_attach(c);
			proxy_send_request(c);
			return;
		}
	}
	proxy_connect(c, sa, salen);
}

static void
proxy_on_resolved(const char *err, const struct sockaddr *sa, socklen_t salen, void *arg)
{
	struct edge_conn *c = arg;

	OBJ_CHECK(c, EDGE_CONN_MAGIC);
	edge_conn_enter(c);
	c->px.dnsq = NULL;
	if (err != NULL) {
		const struct config_member *m = &c->px.pool->members[c->px.member_idx];

		log_warn("proxy", "origin pool \"%s\": resolving \"%s\": %s", c->px.pool->name,
		    m->host, err);
		proxy_try_failed(c, 502, "bad gateway: the origin name could not be resolved");
	} else {
		proxy_use_address(c, sa, salen);
	}
	edge_conn_leave(c);
}

#define PROXY_PICK_FULL (-2) /* every usable member is at its max_conns */
#define PROXY_FULL_MAX  32   /* members at their limit skipped per pick */

/* The balancer's choice among the usable members, this request's tried ones
 * excluded, skipping those at their max_conns; takes the chosen member's
 * slot.  Returns it, ORIGIN_BALANCE_NONE or PROXY_PICK_FULL. */
static int
proxy_pick_slot(struct edge_conn *c)
{
	struct edge_proxy *px = &c->px;
	unsigned skip[EDGE_PROXY_MAX_TRIES + PROXY_FULL_MAX];
	size_t n = px->tries;
	int pick;

	memcpy(skip, px->tried, px->tries * sizeof skip[0]);
	for (;;) {
		pick = origin_balance_pick(proxy_balance(c), px->hash, skip, n, px->try_ms);
		if (pick == ORIGIN_BALANCE_NONE)
			return n > px->tries ? PROXY_PICK_FULL : ORIGIN_BALANCE_NONE;
		if (origin_pool_acquire(c->gen->opool, px->pool_idx, (unsigned)pick))
			return pick;
		if (n == sizeof skip / sizeof skip[0])
			return PROXY_PICK_FULL;
		skip[n++] = (unsigned)pick;
	}
}

/* Every member at max_conns and no room or time left to wait: a stale copy
 * if grace allows, else 503 with Retry-After. */
static void
proxy_busy(struct edge_conn *c)
{
	EDGE_COUNT(&c->w->metrics, origin_busy_total);
	if (!proxy_stale_if_error(c, PROXY_GRACE))
		edge_conn_send_error_with(c, 503, "Retry-After", "1",
		    "origin busy: every member is at its connection limit");
}

static void
proxy_on_wake(struct origin_pool_waiter *wt, bool timed_out)
{
	struct edge_conn *c =
	    (struct edge_conn *)(void *)((char *)wt - offsetof(struct edge_conn, px.wait));

	OBJ_CHECK(c, EDGE_CONN_MAGIC);
	edge_conn_enter(c);
	if (timed_out) {
		log_warn("proxy", "origin pool \"%s\": every member at max_conns for %u ms",
		    c->px.pool->name, c->px.pool->queue_timeout_ms);
		proxy_busy(c);
	} else {
		c->px.woken = true;
		proxy_begin(c, false);
		c->px.woken = false;
	}
	edge_conn_leave(c);
}

/* Every usable member is at its max_conns: wait in the pool's queue (back
 * at its head when woken for nothing), else 503 with Retry-After. */
static void
proxy_queue(struct edge_conn *c)
{
	struct edge_proxy *px = &c->px;

	if (px->wait_deadline_ms == 0) {
		px->wait_deadline_ms = px->try_ms + px->pool->queue_timeout_ms;
		EDGE_COUNT(&c->w->metrics, origin_queued_total);
	}
	px->wait.cb = proxy_on_wake;
	if (origin_pool_wait(
	        c->gen->opool, px->pool_idx, &px->wait, px->wait_deadline_ms, px->woken) == 0) {
		px->state = EDGE_PROXY_QUEUED;
		return;
	}
	log_warn("proxy", "origin pool \"%s\": every member at max_conns and the queue full",
	    px->pool->name);
	proxy_busy(c);
}

static void
proxy_begin(struct edge_conn *c, bool fresh)
{
	struct edge_proxy *px = &c->px;
	struct edge_worker *w = c->w;
	const struct config_member *m;
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	const char *err = NULL;
	int r;

	px->got_bytes = false;
	px->n_interim = 0;
	px->addrlen = 0;
	px->try_ms = time_mono_ms();
	if (!fresh) {
		int pick = proxy_pick_slot(c);

		if (pick == PROXY_PICK_FULL) {
			proxy_queue(c);
			return;
		}
		if (pick == ORIGIN_BALANCE_NONE) {
			if (px->tries > 0) {
				proxy_fail(c, px->fail_status, px->fail_msg);
			} else {
				EDGE_COUNT(&w->metrics, origin_unavailable_total);
				if (!proxy_stale_if_error(c, PROXY_GRACE))
					edge_conn_send_error(c, 503, "no healthy origin");
			}
			return;
		}
		if (px->tries > 0)
			EDGE_COUNT(&w->metrics, origin_retries_total);
		px->member_idx = (unsigned)pick;
		px->tried[px->tries++] = (unsigned)pick;
		px->retried = false;
		origin_balance_begin(proxy_balance(c), px->member_idx);
		px->counted = true;
	}
	px->reused = false;
	px->may_reuse = !fresh;
	m = &px->pool->members[px->member_idx];
	px->state = EDGE_PROXY_RESOLVING;
	r = origin_dns_resolve(
	    w->dns, m->host, m->port, &ss, &sslen, proxy_on_resolved, c, &px->dnsq, &err);
	if (r == 0) {
		proxy_use_address(c, (const struct sockaddr *)&ss, sslen);
	} else if (r < 0) {
		log_warn("proxy", "origin pool \"%s\": resolving \"%s\": %s", px->pool->name,
		    m->host, err != NULL ? err : "failed");
		proxy_try_failed(c, 502, "bad gateway: the origin name could not be resolved");
	}
}

/* The balancer key: client address for ip_hash, the pool's hash_key for
 * consistent_hash. */
uint64_t
edge_proxy_hash(const struct edge_conn *c, const struct config_pool *pool)
{
	if (pool->balancer == CONFIG_BALANCER_IP_HASH ||
	    (pool->balancer == CONFIG_BALANCER_CONSISTENT_HASH &&
	        pool->hash_key == CONFIG_HASH_KEY_CLIENT_IP))
		return origin_balance_hash(c->peer, strlen(c->peer));
	if (pool->balancer != CONFIG_BALANCER_CONSISTENT_HASH)
		return 0;
	if (pool->hash_key == CONFIG_HASH_KEY_HOST)
		return origin_balance_hash(c->host_lc, c->host_lc_len);
	return origin_balance_hash(c->req.path.p, c->req.path.len);
}

/* timeouts.total ran out: the exchange ends wherever it is (no retry). */
static void
proxy_on_total(evutil_socket_t fd, short what, void *arg)
{
	struct edge_conn *c = arg;

	(void)fd;
	(void)what;
	OBJ_CHECK(c, EDGE_CONN_MAGIC);
	edge_conn_enter(c);
	EDGE_COUNT(&c->w->metrics, origin_timeouts_total);
	log_warn("proxy", "origin pool \"%s\": exchange took longer than timeouts.total (%u ms)",
	    c->px.pool->name, c->px.pool->total_timeout_ms);
	proxy_fail(c, 504, "gateway timeout: the origin exchange took too long");
	edge_conn_leave(c);
}

void
edge_proxy_start(
    struct edge_conn *c, const struct config_pool *pool, bool store, struct cache_obj *stale)
{
	struct edge_proxy *px = &c->px;
	const struct config *cfg = c->gen->cfg;

	ASSERT(px->state == EDGE_PROXY_IDLE && px->obev == NULL);
	px->pool = pool;
	px->pool_idx = (unsigned)(pool - cfg->pools);
	/* never store an answer to a request whose body went to the origin: a
	 * GET's content has no meaning (RFC 9110 §9.3.1), not a key either */
	px->store = store && c->req.body == H1_BODY_NONE;
	px->retried = false;
	px->reused = false;
	px->got_bytes = false;
	px->counted = false;
	px->woken = false;
	px->wait_deadline_ms = 0;
	px->addr_retries = 0;
	px->tries = 0;
	px->fail_status = 502;
	px->fail_msg = "bad gateway";
	px->hash = edge_proxy_hash(c, pool);
	origin_balance_note_request(
	    origin_pool_balance(c->gen->opool, px->pool_idx), time_mono_ms());
	px->fill = NULL;
	px->cf_stream = false; /* px->cf: set by edge_collapse_begin for a leader */
	px->cf_oom = false;
	px->range_strip = store && proxy_method_is(c, "GET") && proxy_range_fills(c);
	px->range_whole = false;
	edge_range_cut_end(&px->cut);
	px->cf_paused = false;
	px->fill_small = false;
	px->cf_mem_paced = false;
	px->stale = stale; /* px->revalidate and reval_* set by the caller */
	if (stale == NULL)
		px->revalidate = false;
	px->req_body_done = c->req.body == H1_BODY_NONE;
	px->req_remaining = c->req.content_length;
	px->req_body_bytes = 0;
	px->body_start_ms = time_mono_ms();
	px->body_paused_ms = 0;
	px->body_pause_ms = 0;
	px->spool_sent = 0;
	h1_chunked_init(&px->req_dec);
	if (!px->req_body_done && c->req.expect_continue) {
		/* RFC 9110 §10.1.1: we will read the body, so say so now. */
		struct edge_resp r;

		edge_resp_init(&r, c, 100);
		(void)edge_resp_send(&r, c);
	}
	/* A body that arrives slowly must not hold a member's connection (and
	 * its max_conns slot) all that time: it is read whole first, as nginx's
	 * proxy_request_buffering does, unless the route streams it. */
	px->buffered = !px->req_body_done && c->route != NULL && c->route->request_buffering;
	if (px->buffered) {
		px->state = EDGE_PROXY_BUFFERING;
		proxy_pump_request_body(c);
		return;
	}
	proxy_send(c);
}

/* The exchange proper: timeouts.total runs from here, then a member is picked. */
static void
proxy_send(struct edge_conn *c)
{
	struct edge_proxy *px = &c->px;

	px->state = EDGE_PROXY_IDLE;
	px->request_time = time_now();
	px->ban_gen = cache_ban_clock(c->w->srv->cache);
	EDGE_COUNT(&c->w->metrics, origin_requests_total);
	if (px->pool->total_timeout_ms > 0) {
		struct timeval tv;

		if (px->total_timer == NULL)
			px->total_timer = evtimer_new(c->w->base, proxy_on_total, c);
		ASSERT(px->total_timer != NULL);
		proxy_tv(&tv, px->pool->total_timeout_ms);
		evtimer_add(px->total_timer, &tv);
	}
	/* Until an origin connection exists, request bytes wait in the kernel. */
	edge_io_read_disable(&c->io);
	proxy_begin(c, false);
}

void
edge_proxy_on_client_readable(struct edge_conn *c)
{
	if (c->px.state == EDGE_PROXY_IDLE || c->px.state == EDGE_PROXY_RESOLVING ||
	    c->px.state == EDGE_PROXY_QUEUED)
		return;
	if (!c->px.req_body_done) /* BUFFERING too */
		proxy_pump_request_body(c);
	else if (c->client_eof)
		c->keep_alive = false;
}

void
edge_proxy_on_client_writable(struct edge_conn *c)
{
	struct edge_proxy *px = &c->px;

	if (px->state != EDGE_PROXY_RELAY_BODY || px->obev == NULL)
		return;
	if (px->cf_stream) {
		edge_collapse_pump(c);
		return;
	}
	if (!(bufferevent_get_enabled(px->obev) & EV_READ) &&
	    evbuffer_get_length(c->io.out) <= PROXY_OUT_LOW) {
		edge_io_set_lowmark(&c->io, 0);
		proxy_relay_body(c);
	}
}

bool
edge_proxy_background(struct edge_conn *c, struct cache_obj *stale)
{
	struct edge_fetch_bereq b;
	struct edge_fetch_bg bg;

	if (c->key_len < 0 || c->route == NULL || c->req.body != H1_BODY_NONE)
		return false;
	/* as for the proxied request, as a GET with the stored validators
	 * (RFC 9111 §4.3.1) */
	proxy_bereq(c, EDGE_FETCH_FIELDS_REFRESH, &b);
	b.method = STR_LIT("GET");
	b.stale = stale;
	b.inm = true;
	b.ims = true;
	bg.gen = c->gen;
	bg.pool = c->pool; /* the route's, or its canary's */
	bg.hash = edge_proxy_hash(c, c->pool);
	bg.key = c->key;
	bg.key_len = (size_t)c->key_len;
	bg.stale = stale;
	edge_proxy_policy_conf(c, &bg.conf);
	bg.skip_sts = c->site != NULL && c->site->hsts != NULL;
	return edge_fetch_background(c->w, &bg, &b);
}
