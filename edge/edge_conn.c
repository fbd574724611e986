/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_conn.c — client connections: HTTP/1.1 server side and the request
 * pipeline up to the cache lookup.
 *
 * Model: a connection reads a request head, parses it in place (h1), copies
 * the head into head_buf (so the views outlive the input buffer), picks site
 * and route, and either answers at once (a cache hit, an error) or hands the
 * request to edge_forward.c.  While it runs, pipelined bytes stay in
 * the input buffer; when the response is queued the loop continues with them.
 *
 * Lifetime: callbacks run with cb_depth > 0; edge_conn_close() inside a
 * callback only marks the connection dead and the outermost callback frees it,
 * so no code path touches a freed connection.
 *
 * Closing after an error is a lingering close: the response is flushed, the
 * write side shut down, and unread input discarded for a short while, so the
 * client reads the error instead of a reset.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "cache/cache.h"
#include "config/config.h"
#include "core/assert.h"
#include "core/log.h"
#include "core/range.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "edge/edge_accesslog.h"
#include "edge/edge_collapse.h"
#include "edge/edge_conn.h"
#include "edge/edge_io.h"
#include "edge/edge_forward.h"
#include "edge/edge_purge.h"
#include "edge/edge_range.h"
#include "edge/edge_resp.h"
#include "edge/edge_route.h"
#include "edge/edge_tls.h"
#include "edge/edge_worker.h"

#define EDGE_OUT_HIGH  (256 * 1024) /* stop producing responses above this */
#define EDGE_LINGER_MS 2000
/* An idle keep-alive connection gives its request buffers back after this
 * long (conn_release_request): soon enough that thousands of idle ones hold
 * little, late enough that a busy one never pays for it. */
#define EDGE_IDLE_RELEASE_MS 100

static void conn_process(struct edge_conn *c);
static void conn_free(struct edge_conn *c);
static void conn_on_drained(struct edge_conn *c);

/* No request (yet): the client is the peer. */
static void
conn_client_reset(struct edge_conn *c)
{
	edge_guard_client(c->gen != NULL ? c->gen->cfg : c->w->gen->cfg, &c->peer_addr, c->peer,
	    NULL, 0, &c->client);
}

static void
conn_tv(struct timeval *tv, unsigned ms)
{
	*tv = time_ms_to_tv(ms);
}

void
edge_conn_enter(struct edge_conn *c)
{
	c->cb_depth++;
}

/*
 * Leaving the outermost callback writes what the callback queued (one
 * writev for however many responses it produced), and lets whoever waited for
 * the output to drain continue; a bounded loop, since each round either
 * drains the output or leaves it to the write event.
 */
bool
edge_conn_leave(struct edge_conn *c)
{
	ASSERT(c->cb_depth > 0);
	if (c->cb_depth == 1) {
		for (int round = 0; round < 8 && !c->dead; round++) {
			size_t before = evbuffer_get_length(c->io.out);

			if (before == 0 && c->state != EDGE_CONN_CLOSING)
				break;
			if (edge_io_flush(&c->io) != 0) {
				edge_conn_close(c);
				break;
			}
			if (c->io.write_armed || evbuffer_get_length(c->io.out) > c->io.lowmark)
				break;
			conn_on_drained(c);
			if (evbuffer_get_length(c->io.out) == 0)
				break;
		}
	}
	if (--c->cb_depth == 0 && c->dead) {
		conn_free(c);
		return false;
	}
	return true;
}

static void
conn_arm_timer(struct edge_conn *c, bool header)
{
	const struct config *cfg = c->gen->cfg;
	struct timeval tv;

	conn_tv(&tv, header ? cfg->header_timeout_ms : cfg->idle_timeout_ms);
	c->timer_is_header = header;
	c->idle_release = false;
	evtimer_add(c->timer, &tv);
}

/* Waiting for the next request: the idle timeout, in two steps when it is
 * long enough: first EDGE_IDLE_RELEASE_MS, after which the request buffers
 * go (conn_on_timer), then the rest. */
static void
conn_arm_idle(struct edge_conn *c)
{
	struct timeval tv;

	if (c->gen->cfg->idle_timeout_ms <= EDGE_IDLE_RELEASE_MS) {
		conn_arm_timer(c, false);
		return;
	}
	conn_tv(&tv, EDGE_IDLE_RELEASE_MS);
	c->timer_is_header = false;
	c->idle_release = true;
	evtimer_add(c->timer, &tv);
}

static void
conn_free(struct edge_conn *c)
{
	struct edge_worker *w = c->w;

	OBJ_CHECK(c, EDGE_CONN_MAGIC);
	edge_collapse_detach(c);
	/* a fill others read goes on without the client (edge_fetch_detach) */
	edge_forward_abort(c);
	edge_purge_conn_gone(c);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	event_free(c->timer);
	if (c->tls && !c->io.tls_ready)
		EDGE_COUNT(&w->metrics, tls_handshake_errors_total);
	edge_worker_handshake_end(w, &c->hs);
	edge_io_close(&c->io);
	edge_ip_leave(w->srv->conn_ip, c->ip_slot);
	free(c->head_buf);
	free(c->hdrs);
	edge_gen_release(w, &c->gen);
	free(c->key);
	free(c->up_buf);
	edge_guard_scratch_free(&c->guard);
	c->magic = 0;
	free(c);
	atomic_fetch_sub_explicit(&w->metrics.connections_active, 1, memory_order_relaxed);
	edge_worker_conn_gone(w);
}

void
edge_conn_close(struct edge_conn *c)
{
	if (c->dead)
		return;
	c->dead = true;
	if (c->cb_depth == 0)
		conn_free(c);
}

void
edge_conn_abort(struct edge_conn *c)
{
	edge_conn_close(c);
}

/* ---- lingering close ---- */

static void
conn_linger_read(struct edge_conn *c)
{
	struct evbuffer *in = c->io.in;

	evbuffer_drain(in, evbuffer_get_length(in));
}

/* Output flushed: shut the write side, discard input until EOF or timeout. */
static void
conn_start_linger(struct edge_conn *c)
{
	struct timeval tv;

	if (c->lingering)
		return;
	c->lingering = true;
	edge_io_shutdown_write(&c->io);
	conn_linger_read(c);
	edge_io_read_enable(&c->io);
	conn_tv(&tv, EDGE_LINGER_MS);
	c->timer_is_header = false;
	c->idle_release = false;
	evtimer_add(c->timer, &tv);
}

static void
conn_begin_closing(struct edge_conn *c)
{
	c->state = EDGE_CONN_CLOSING;
	c->keep_alive = false;
	evtimer_del(c->timer);
	if (evbuffer_get_length(c->io.out) == 0)
		conn_start_linger(c);
}

/* ---- responses written by the node itself ---- */

void
edge_conn_send_error(struct edge_conn *c, int status, const char *msg)
{
	edge_conn_send_error_with(c, status, NULL, NULL, msg);
}

/* A request head arrived (or a timeout ends one): what its log record
 * gathers starts afresh. */
static void
conn_request_begin(struct edge_conn *c)
{
	c->start_us = time_mono_us();
	c->stale_served = false;
	c->disk_hit = false;
	c->up_member = NULL;
	c->up_first_us = 0;
	c->rid_len = 0;
}

/* A client's request id worth keeping: 1..EDGE_REQUEST_ID_MAX visible
 * characters of a token or base64 (no space, quote or comma). */
static bool
conn_request_id_valid(struct str v)
{
	if (v.len == 0 || v.len > EDGE_REQUEST_ID_MAX)
		return false;
	for (size_t i = 0; i < v.len; i++) {
		unsigned char ch = (unsigned char)v.p[i];

		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
		        (ch >= 'A' && ch <= 'Z') || strchr("-_.:+/=", ch) != NULL))
			return false;
	}
	return true;
}

struct str
edge_conn_request_id(struct edge_conn *c)
{
	static const char hex[] = "0123456789abcdef";
	const struct h1_header *h;

	if (c->rid_len > 0)
		return str_make(c->rid, c->rid_len);
	if (c->gen != NULL && c->gen->cfg->log.request_id_keep_client &&
	    (h = h1_header_find(c->req.headers, c->req.n_headers, STR_LIT("X-Request-Id"))) !=
	        NULL &&
	    conn_request_id_valid(h->value)) {
		memcpy(c->rid, h->value.p, h->value.len);
		c->rid_len = (uint8_t)h->value.len;
	} else {
		uint64_t v[2] = {c->w->rid_seed, ++c->w->rid_seq};

		for (int k = 0; k < 32; k++)
			c->rid[k] = hex[(v[k / 16] >> (60 - 4 * (k % 16))) & 15];
		c->rid_len = 32;
	}
	c->rid[c->rid_len] = '\0';
	return str_make(c->rid, c->rid_len);
}

/* An error of the node's own (5xx) goes to the error log with the request's
 * id, for the operator to find its access log line and origin exchange. */
static void
conn_log_own_5xx(struct edge_conn *c, int status, const char *msg)
{
	struct str id;

	if (status < 500)
		return;
	id = edge_conn_request_id(c);
	log_err("edge", "request %.*s: %d %s (%.*s %.*s%.*s from %s)", (int)id.len, id.p, status,
	    msg != NULL ? msg : "answered by the node", (int)c->req.method.len, c->req.method.p,
	    (int)c->host_lc_len, c->host_lc, (int)c->req.path.len, c->req.path.p, c->client.text);
}

/* The access log's and the metrics' record of the current response. */
static void
conn_logrec(struct edge_conn *c, struct edge_logrec *lr)
{
	const char *cs = c->cache_status;
	const struct h1_header *h;

	memset(lr, 0, sizeof *lr);
	lr->client = c->client.text;
	lr->method = c->req.method;
	lr->host = str_make(c->host_lc, c->host_lc_len);
	lr->path = c->req.path;
	lr->status = c->status;
	lr->bytes = c->bytes_out;
	lr->cache = cs;
	/* "HIT", "MISS", "PASS"; "-" and "PURGE": no cache decision */
	lr->result = c->stale_served                ? EDGE_CACHE_STALE
	             : cs[0] == 'H'                 ? EDGE_CACHE_HIT
	             : cs[0] == 'M'                 ? EDGE_CACHE_MISS
	             : cs[0] == 'P' && cs[1] == 'A' ? EDGE_CACHE_PASS
	                                            : EDGE_CACHE_NONE;
	lr->site_slot = EDGE_LABEL_NONE;
	if (c->site != NULL && c->gen != NULL && c->site >= c->gen->cfg->sites &&
	    c->site < c->gen->cfg->sites + c->gen->cfg->n_sites)
		lr->site_slot = c->gen->site_slot[c->site - c->gen->cfg->sites];
	lr->duration_us = time_mono_us() - c->start_us;
	if (c->w->srv->alog == NULL)
		return; /* the rest is the access log's only */
	if (lr->result == EDGE_CACHE_HIT || lr->result == EDGE_CACHE_STALE)
		lr->tier = c->disk_hit ? "disk" : "ram";
	lr->site = c->site != NULL ? c->site->name : NULL;
	lr->route = c->route != NULL ? c->route->path : NULL;
	lr->pool = c->route != NULL && c->pool != NULL ? c->pool->name : NULL;
	lr->tls = c->tls && c->io.ssl != NULL ? SSL_get_version(c->io.ssl) : NULL;
	lr->minor = c->req.minor;
	if ((h = h1_header_find(c->req.headers, c->req.n_headers, STR_LIT("User-Agent"))) != NULL)
		lr->user_agent = h->value;
	if ((h = h1_header_find(c->req.headers, c->req.n_headers, STR_LIT("Referer"))) != NULL)
		lr->referer = h->value;
	lr->request_id = edge_conn_request_id(c);
	if (c->up_member != NULL) {
		lr->upstream_host = c->up_member->host;
		lr->upstream_port = c->up_member->port;
		lr->upstream_us = c->up_first_us;
	}
}

/* The response is complete (or abandoned): counts it and writes its
 * access log line. */
static void
conn_log(struct edge_conn *c)
{
	struct edge_logrec lr;

	conn_logrec(c, &lr);
	edge_accesslog_write(c->w, &lr);
}

void
edge_conn_send_error_with(
    struct edge_conn *c, int status, const char *name, const char *value, const char *msg)
{
	struct edge_resp r;

	edge_forward_abort(c);
	c->keep_alive = false;
	c->status = status;
	conn_log_own_5xx(c, status, msg);
	edge_resp_own(&r, c, status, msg, "\n", true);
	if (name != NULL)
		edge_resp_add(&r, str_make(name, strlen(name)), str_make(value, strlen(value)));
	(void)edge_resp_send(&r, c);
	if (status >= 400 && status < 500)
		EDGE_COUNT(&c->w->metrics, client_errors_total);
	conn_log(c);
	conn_begin_closing(c);
}

/* A complete response of the node's own that keeps the connection, built
 * by the caller (edge_resp_own and its own fields). */
static void
conn_send_own(struct edge_conn *c, struct edge_resp *r)
{
	conn_log_own_5xx(c, r->status, NULL);
	(void)edge_resp_send(r, c);
	edge_conn_response_done(c);
}

void
edge_conn_send_typed(struct edge_conn *c, int status, const char *type, const char *name,
    const char *value, const char *body)
{
	struct edge_resp resp;

	edge_resp_own_typed(&resp, c, status, type, body, NULL, false);
	if (name != NULL)
		edge_resp_add(&resp, str_make(name, strlen(name)), str_make(value, strlen(value)));
	conn_send_own(c, &resp);
}

/* ---- cache hits ---- */

static void
conn_obj_release(const void *data, size_t len, void *arg)
{
	struct cache_obj *o = arg;

	(void)data;
	(void)len;
	cache_obj_unref(&o);
}

/*
 * 304 from a stored response (RFC 9110 §15.4.5): the fields a 200 would have
 * carried that describe the representation's metadata, no body.
 */
static void
conn_serve_not_modified(struct edge_conn *c, struct cache_obj *o, const char *cs)
{
	static const struct str keep[] = {
	    STR_LIT("Cache-Control"),
	    STR_LIT("Content-Location"),
	    STR_LIT("Date"),
	    STR_LIT("ETag"),
	    STR_LIT("Expires"),
	    STR_LIT("Vary"),
	    STR_LIT("Last-Modified"),
	};
	struct edge_resp r;
	struct str v;

	c->cache_status = "HIT";
	edge_resp_init(&r, c, 304);
	for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++)
		if (cache_obj_header(o, keep[i], &v) &&
		    (c->route == NULL || !edge_route_hdr_drops(&c->route->resp_hdrs, keep[i])))
			edge_resp_add(&r, keep[i], v);
	edge_resp_rules(&r, c);
	edge_resp_age_via(&r, c, o);
	edge_resp_cache_status(&r, "HIT", cs);
	(void)edge_resp_send(&r, c);
	EDGE_COUNT(&c->w->metrics, cache_hits_total);
	edge_conn_response_done(c);
}

/* The status code of the stored head ("HTTP/1.1 404 Not Found"). */
static int
conn_stored_status(const struct cache_obj *o)
{
	size_t len;
	const char *h = cache_obj_head(o, &len);

	if (len < 12 || h[8] != ' ')
		return 200;
	return (h[9] - '0') * 100 + (h[10] - '0') * 10 + (h[11] - '0');
}

/* Responses served from the cache say they take byte ranges (RFC 9110
 * §14.3), unless the stored response says so itself. */
static void
conn_accept_ranges(struct edge_resp *r, const struct cache_obj *o)
{
	struct str v;

	if (!cache_obj_header(o, STR_LIT("Accept-Ranges"), &v))
		edge_resp_add(r, STR_LIT("Accept-Ranges"), STR_LIT("bytes"));
}

/* What the request's Range (and If-Range) asks of o's body of len bytes.
 * Only a stored 200 has a selected representation to take ranges of
 * (RFC 9110 §14.2); any other stored status (status) is served whole. */
static enum range_result
conn_range(const struct edge_conn *c, const struct cache_obj *o, int status, uint64_t len,
    struct range_set *rs)
{
	struct range_validators v = {STR_NULL, STR_NULL, STR_NULL};

	if (status != 200 ||
	    h1_header_find(c->req.headers, c->req.n_headers, STR_LIT("Range")) == NULL)
		return RANGE_IGNORE;
	(void)cache_obj_header(o, STR_LIT("ETag"), &v.etag);
	(void)cache_obj_header(o, STR_LIT("Last-Modified"), &v.last_modified);
	(void)cache_obj_header(o, STR_LIT("Date"), &v.date);
	return range_request(&c->req, &v, len, rs);
}

/*
 * A Range answered from the stored o (RFC 9110 §14.2, §15.3.7, §15.5.17):
 * 416 with a Content-Range of "*" and the length when nothing is satisfiable;
 * else 206 with the stored fields, and either one slice of the body with
 * Content-Range, or multipart/byteranges with a part per range.  The slices
 * are added by reference (no copy of the body).
 */
static void
conn_serve_range(struct edge_conn *c, struct cache_obj *o, const char *cs, enum range_result rr,
    const struct range_set *rs)
{
	struct evbuffer *out = c->io.out;
	size_t before;
	const char *body;
	size_t body_len;
	struct str ctype = STR_NULL;
	char boundary[EDGE_RANGE_BOUNDARY_LEN + 1];
	bool multipart = rs->n > 1;
	struct edge_resp r;

	c->cache_status = "HIT";
	EDGE_COUNT(&c->w->metrics, cache_hits_total);
	EDGE_COUNT(&c->w->metrics, range_answers_total);
	body = cache_obj_body(o, &body_len);
	if (rr == RANGE_UNSATISFIABLE) {
		edge_resp_own(&r, c, 416, "range not satisfiable\n", NULL, false);
		edge_resp_addf(&r, STR_LIT("Content-Range"), "bytes */%zu", body_len);
		edge_resp_add(&r, STR_LIT("Accept-Ranges"), STR_LIT("bytes"));
		edge_resp_cache_status(&r, "HIT", cs);
		conn_send_own(c, &r);
		return;
	}
	(void)cache_obj_header(o, STR_LIT("Content-Type"), &ctype);
	edge_resp_stored(&r, c, o, 206, false, "HIT", cs);
	r.skip_ctype = multipart;
	conn_accept_ranges(&r, o);
	if (multipart) {
		edge_range_boundary(boundary);
		edge_resp_addf(
		    &r, STR_LIT("Content-Type"), "multipart/byteranges; boundary=%s", boundary);
		edge_resp_add_u64(&r, STR_LIT("Content-Length"),
		    edge_range_multipart_length(boundary, ctype, rs, body_len));
	} else {
		edge_resp_addf(&r, STR_LIT("Content-Range"), "bytes %llu-%llu/%zu",
		    (unsigned long long)rs->r[0].first, (unsigned long long)rs->r[0].last,
		    body_len);
		edge_resp_add_u64(
		    &r, STR_LIT("Content-Length"), rs->r[0].last - rs->r[0].first + 1);
	}
	(void)edge_resp_send(&r, c);
	before = evbuffer_get_length(out);
	for (unsigned i = 0; i < rs->n; i++) {
		if (multipart)
			edge_range_part_head(out, boundary, ctype, &rs->r[i], body_len);
		evbuffer_add_reference(out, body + rs->r[i].first,
		    (size_t)(rs->r[i].last - rs->r[i].first + 1), conn_obj_release,
		    cache_obj_ref(o));
	}
	if (multipart)
		edge_range_closing(out, boundary);
	c->bytes_out += evbuffer_get_length(out) - before;
	edge_conn_response_done(c);
}

/* cs: the Cache-Status parameters (RFC 9211) after "outpost; ". */
void
edge_conn_write_stored_head(struct edge_conn *c, struct cache_obj *o, const char *xcache,
    const char *cs, int64_t length, bool accept_ranges)
{
	int status = conn_stored_status(o);
	struct edge_resp r;

	c->cache_status = xcache;
	edge_resp_stored(&r, c, o, status, true, xcache, cs);
	if (status == 204) {
		/* RFC 9110 §8.6: no Content-Length on a 204 */
	} else if (length >= 0) {
		if (accept_ranges)
			conn_accept_ranges(&r, o);
		edge_resp_add_u64(&r, STR_LIT("Content-Length"), (uint64_t)length);
	} else if (c->req.minor >= 1) {
		r.framing = EDGE_RESP_FRAMING_CHUNKED;
	} else {
		c->keep_alive = false;
		r.keep_alive = false;
		r.framing = EDGE_RESP_FRAMING_CLOSE;
	}
	(void)edge_resp_send(&r, c);
}

void
edge_conn_serve_stored(struct edge_conn *c, struct cache_obj *o, const char *cs)
{
	struct evbuffer *out = c->io.out;
	const char *body;
	size_t body_len;
	int status = conn_stored_status(o);
	struct range_set rs;
	struct edge_resp r;
	enum range_result rr;

	/* RFC 9110 §13.2.1: preconditions only apply to a 2xx answer. */
	switch (status / 100 == 2 ? cache_policy_conditional(&c->req, o) : CACHE_COND_NONE) {
	case CACHE_COND_NOT_MODIFIED:
		conn_serve_not_modified(c, o, cs);
		return;
	case CACHE_COND_FAILED:
		c->cache_status = "HIT";
		EDGE_COUNT(&c->w->metrics, cache_hits_total);
		edge_resp_own(&r, c, 412, NULL, NULL, false);
		conn_send_own(c, &r);
		return;
	case CACHE_COND_NONE:
		break;
	}
	body = cache_obj_body(o, &body_len);
	rr = conn_range(c, o, status, body_len, &rs);
	if (rr != RANGE_IGNORE) {
		conn_serve_range(c, o, cs, rr, &rs);
		return;
	}
	edge_conn_write_stored_head(c, o, "HIT", cs, (int64_t)body_len, true);
	if (!str_eq(c->req.method, STR_LIT("HEAD")) && body_len > 0 && status != 204) {
		evbuffer_add_reference(out, body, body_len, conn_obj_release, cache_obj_ref(o));
		c->bytes_out += body_len;
	}
	EDGE_COUNT(&c->w->metrics, cache_hits_total);
	edge_conn_response_done(c);
}

static void
conn_serve_hit(struct edge_conn *c, struct cache_obj *o)
{
	edge_conn_serve_stored(c, o, "hit");
}

/* ---- the request pipeline ---- */

/* Moves every view of the parsed request from the input buffer to head_buf. */
static void
conn_rebase(struct edge_conn *c, const char *from)
{
	struct h1_request *r = &c->req;
	const char *to = c->head_buf;

#define REBASE(s)                                                                                  \
	do {                                                                                       \
		if ((s).p != NULL && (s).p >= from && (s).p <= from + r->head_len)                 \
			(s).p = to + ((s).p - from);                                               \
	} while (0)
	REBASE(r->method);
	REBASE(r->target);
	REBASE(r->scheme);
	REBASE(r->path);
	REBASE(r->authority);
	REBASE(r->host);
	for (size_t i = 0; i < r->n_headers; i++) {
		REBASE(r->headers[i].name);
		REBASE(r->headers[i].value);
	}
#undef REBASE
}

/*
 * RFC 9110 §7.4 / RFC 6066 §3: a request on a TLS connection must be for the
 * site the SNI named (its certificate was chosen for that name); one whose
 * Host selects another site is answered 421.  Without SNI any Host goes.
 */
static bool
conn_sni_mismatch(const struct edge_conn *c, const struct config_site *site)
{
	const char *sni = SSL_get_servername(c->io.ssl, TLSEXT_NAMETYPE_host_name);
	char lc[256];
	size_t n;

	if (sni == NULL)
		return false;
	n = strlen(sni);
	if (n >= sizeof lc)
		return true;
	for (size_t i = 0; i < n; i++)
		lc[i] = (char)str_lower((unsigned char)sni[i]);
	if (n > 0 && lc[n - 1] == '.')
		n--;
	lc[n] = '\0';
	return config_site_for_host(c->gen->cfg, lc, n) != site;
}

/* redirect_https: 308 to the same target over https (default port). */
static void
conn_redirect_https(struct edge_conn *c)
{
	const struct h1_request *r = &c->req;
	char loc[64 + 256 + 8192 + 32];
	struct edge_resp resp;
	int n;

	if (r->path.len > 8192) {
		edge_conn_send_error(c, 414, "URI too long");
		return;
	}
	n = snprintf(loc, sizeof loc, "https://%s%.*s", c->host_lc, (int)r->path.len, r->path.p);
	edge_resp_own(&resp, c, 308, NULL, NULL, false);
	edge_resp_add(&resp, STR_LIT("Location"), str_make(loc, (size_t)n));
	conn_send_own(c, &resp);
}

/* routes[].redirect: answered by the node from the route's template. */
static void
conn_redirect_route(struct edge_conn *c, struct str npath, const struct edge_route_caps *caps)
{
	const struct h1_request *r = &c->req;
	const char *q = memchr(r->path.p, '?', r->path.len);
	struct edge_route_vars v = {
	    .scheme = c->tls ? STR_LIT("https") : STR_LIT("http"),
	    .host = str_make(c->host_lc, c->host_lc_len),
	    .path = npath,
	    .query = q ? str_make(q + 1, r->path.len - (size_t)(q - r->path.p) - 1) : STR_NULL,
	    .request_uri = r->path,
	    .caps = caps,
	};
	char *loc = c->w->key_scratch;
	struct edge_resp resp;
	int n;

	/* room as when the field line was built here ("Location: " and CRLF) */
	n = edge_route_expand(c->route->redirect_to, &v, loc, sizeof c->w->key_scratch - 12);
	if (n < 0) {
		edge_conn_send_error(c, 414, "URI too long");
		return;
	}
	edge_resp_own(&resp, c, (int)c->route->redirect_status, "redirect\n", NULL, false);
	edge_resp_add(&resp, STR_LIT("Location"), str_make(loc, (size_t)n));
	conn_send_own(c, &resp);
}

/* The target sent to the origin: a copy of a, then b (the connection's
 * buffer, kept across requests). */
static void
conn_set_up_target(struct edge_conn *c, struct str a, struct str b)
{
	size_t n = a.len + b.len;

	if (n + 1 > c->up_cap) {
		free(c->up_buf);
		c->up_cap = n + 1 < 256 ? 256 : n + 1;
		c->up_buf = xmalloc(c->up_cap);
	}
	memcpy(c->up_buf, a.p, a.len);
	if (b.len > 0)
		memcpy(c->up_buf + a.len, b.p, b.len);
	c->up_buf[n] = '\0';
	c->up_target = str_make(c->up_buf, n);
}

/*
 * The route's upstream side: the pool (or the canary's), the target sent to
 * the origin (npath rewritten, then query; else npath, then the client's
 * query) and its Host.  The origin gets the path the route and the cache key
 * saw: "/a/../b" and "/%62" are asked for as "/b", so they cannot fill "/b"
 * with what the origin makes of another path.  False after answering an
 * error.
 */
static bool
conn_route_upstream(struct edge_conn *c, struct str npath, struct str query)
{
	const struct config_route *route = c->route;
	const struct h1_request *r = &c->req;
	size_t raw_len = query.p != NULL ? (size_t)(query.p - r->path.p) : r->path.len;
	int n;

	c->pool = route->pool;
	if (edge_route_canary(route, str_cstr(c->client.text), r->headers, r->n_headers))
		c->pool = route->canary_pool;
	else if (route->geo_pools != NULL)
		c->pool =
		    edge_guard_geo_pool(c->gen->cfg, route, &c->client, &c->guard, c->gen->opool);
	c->up_host = route->origin_host != NULL ? str_cstr(route->origin_host) : r->authority;
	c->up_target = r->path;
	n = edge_route_rewrite(
	    route, npath, query, c->w->route_md, c->w->key_scratch, sizeof c->w->key_scratch);
	if (n < 0) {
		edge_conn_send_error(c, 414, "URI too long (after rewrite)");
		return false;
	}
	if (n > 0)
		conn_set_up_target(c, str_make(c->w->key_scratch, (size_t)n), STR_NULL);
	else if (npath.len != raw_len || memcmp(npath.p, r->path.p, raw_len) != 0)
		conn_set_up_target(c, npath, query);
	return true;
}

/*
 * A GET or HEAD with a body to a caching route (RFC 9110 §9.3.1, §9.3.2: the
 * content has no defined meaning; an origin that reads it would have its
 * answer stored under the URL alone, for everyone): the route's
 * cache.get_body says whether the request goes without it (drop: the body is
 * never read, so the connection closes after the answer, *ka false), is
 * refused (reject: 400), or goes with it past the cache (pass: the caller
 * sees the body and neither looks up nor stores).  A "Content-Length: 0" is
 * no body.  False after answering.
 */
static bool
conn_get_body(struct edge_conn *c, bool *ka)
{
	struct h1_request *r = &c->req;

	if (r->body == H1_BODY_NONE ||
	    (!str_eq(r->method, STR_LIT("GET")) && !str_eq(r->method, STR_LIT("HEAD"))))
		return true;
	if (r->body == H1_BODY_LENGTH && r->content_length == 0) {
		r->body = H1_BODY_NONE;
		c->keep_alive = *ka; /* nothing left unread */
		return true;
	}
	switch (c->route->get_body) {
	case CONFIG_GET_BODY_REJECT:
		edge_conn_send_error(c, 400, "bad request: a GET or HEAD with a body");
		return false;
	case CONFIG_GET_BODY_PASS:
		return true;
	case CONFIG_GET_BODY_DROP:
		break;
	}
	/* unread, the body must never be parsed as a next request */
	r->body = H1_BODY_NONE;
	r->content_length = 0;
	r->expect_continue = false;
	*ka = false;
	c->keep_alive = false;
	return true;
}

/*
 * The request's steps: recv → route → key → lookup → hit, or miss / pass
 * (edge_forward.c).  Each step that answers the request (an error, a
 * redirect, a hit) returns false, and the request is handled from there.
 */

/* recv: the request as received, before any site: keep-alive (*ka, what
 * the client allows), CONNECT, PURGE from a purge client, OPTIONS *, and the
 * Host lowercased for the site and the key. */
static bool
conn_step_recv(struct edge_conn *c, bool *ka)
{
	struct edge_worker *w = c->w;
	const struct h1_request *r = &c->req;

	EDGE_COUNT(&w->metrics, requests_total);
	c->requests++;
	edge_guard_client(
	    c->gen->cfg, &c->peer_addr, c->peer, r->headers, r->n_headers, &c->client);
	*ka = r->keep_alive && !w->draining && !c->client_eof;
	/* A request body is read only on the way to the origin: an answer of
	 * the node's own (a hit, 304/412/416, OPTIONS *, an error, a redirect)
	 * closes the connection, so unread body bytes are never taken for the
	 * next request (smuggling).  Keep-alive comes back below for the
	 * origin. */
	c->keep_alive = *ka && r->body == H1_BODY_NONE;
	c->key_len = -1;
	c->cache_status = "-";
	c->site = NULL;

	if (r->form == H1_TARGET_AUTHORITY) {
		edge_conn_send_error(c, 501, "CONNECT is not supported");
		return false;
	}
	if (edge_purge_conn(c)) /* PURGE from an address of purge.client_listeners */
		return false;
	if (r->form == H1_TARGET_ASTERISK) {
		struct edge_resp resp;

		edge_resp_own(&resp, c, 200, NULL, NULL, false);
		edge_resp_add(&resp, STR_LIT("Allow"),
		    STR_LIT("GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS"));
		conn_send_own(c, &resp);
		return false;
	}
	if (r->host.len >= sizeof c->host_lc) {
		edge_conn_send_error(c, 400, "bad request: host name too long");
		return false;
	}
	for (size_t i = 0; i < r->host.len; i++)
		c->host_lc[i] = (char)str_lower((unsigned char)r->host.p[i]);
	c->host_lc_len = r->host.len;
	c->host_lc[c->host_lc_len] = '\0';
	return true;
}

/* guard: the route's access rules and rate limit (edge_guard.c), before
 * anything else of the route; a refused request is answered here and never
 * reaches the cache or the origin. */
static bool
conn_step_guard(struct edge_conn *c)
{
	struct edge_guard_verdict v;
	char retry[16];

	if (edge_guard_check(atomic_load_explicit(&c->w->srv->rate_limits, memory_order_acquire),
	        c->gen->cfg, c->site, c->route, &c->client, c->req.headers, c->req.n_headers,
	        &c->guard, &v))
		return true;
	if (v.status == 429) {
		EDGE_COUNT(&c->w->metrics, rate_limited_total);
		snprintf(retry, sizeof retry, "%u", (unsigned)v.retry_after_s);
		edge_conn_send_typed(
		    c, 429, "text/plain; charset=utf-8", "Retry-After", retry, v.body);
	} else {
		EDGE_COUNT(&c->w->metrics, access_denied_total);
		edge_conn_send_typed(c, v.status, "text/plain; charset=utf-8", NULL, NULL, v.body);
	}
	return false;
}

/* protect: the route's signed URL and bearer token (edge_token.c), after
 * guard; the signature parameters leave the query in head_buf, so neither
 * the cache key nor the origin's request holds them. */
static bool
conn_step_protect(struct edge_conn *c, struct str npath)
{
	struct h1_request *r = &c->req;
	const char *q = memchr(r->path.p, '?', r->path.len);
	size_t qoff = q != NULL ? (size_t)(q - r->path.p) + 1 : r->path.len, old = r->path.len;
	struct edge_guard_verdict v;
	int n;

	if (edge_guard_protect(c->route, npath,
	        q != NULL ? str_make(q + 1, r->path.len - qoff) : STR_NULL, &c->client, r->headers,
	        r->n_headers, (int64_t)time_now(), &c->guard, c->w->key_scratch,
	        sizeof c->w->key_scratch, &n, &v)) {
		/* the query is in head_buf (conn_rebase), and what is left is shorter */
		if (n >= 0 && q != NULL && q >= c->head_buf && q < c->head_buf + c->head_cap) {
			memcpy(c->head_buf + (q + 1 - c->head_buf), c->w->key_scratch, (size_t)n);
			r->path.len = n > 0 ? qoff + (size_t)n : qoff - 1;
			if (r->target.p + r->target.len == r->path.p + old)
				r->target.len -= old - r->path.len;
		}
		return true;
	}
	if (v.signed_url)
		EDGE_COUNT(&c->w->metrics, signed_url_denied_total);
	else
		EDGE_COUNT(&c->w->metrics, jwt_denied_total);
	edge_conn_send_typed(c, v.status, "text/plain; charset=utf-8",
	    v.challenge != NULL ? "WWW-Authenticate" : "Cache-Control",
	    v.challenge != NULL ? v.challenge : "no-store", v.body);
	return false;
}

/* route: the site (and SNI), redirect_https, the route, its methods and
 * redirect, the upstream side (pool, target, Host), limits.body and
 * cache.get_body; *cached: the route caches. */
static bool
conn_step_route(struct edge_conn *c, bool *ka, bool *cached)
{
	struct edge_worker *w = c->w;
	const struct config *cfg = c->gen->cfg;
	const struct h1_request *r = &c->req;
	const struct config_site *site;
	const struct config_route *route;
	struct str path;
	const char *q;
	struct edge_route_caps caps;
	struct str npath; /* the normalized path routes match on */

	site = config_site_for_host(cfg, c->host_lc, c->host_lc_len);
	if (site == NULL) {
		edge_conn_send_error(
		    c, 421, "misdirected request: this node does not serve that host");
		return false;
	}
	if (c->tls && conn_sni_mismatch(c, site)) {
		edge_conn_send_error(
		    c, 421, "misdirected request: Host names another site than SNI");
		return false;
	}
	c->site = site;
	if (!c->tls && site->redirect_https && c->gen->tls != NULL) {
		conn_redirect_https(c);
		return false;
	}
	path = r->path;
	q = memchr(path.p, '?', path.len);
	if (edge_route_path(
	        w->route_md, str_make(path.p, q ? (size_t)(q - path.p) : path.len), &npath) != 0) {
		edge_conn_send_error(c, 400, "bad request: invalid request target");
		return false;
	}
	route = edge_route_select(site, npath, w->route_md, &caps);
	if (route == NULL) {
		edge_conn_send_error(c, 404, "not found: no route for this path");
		return false;
	}
	c->route = route;
	if (!conn_step_guard(c))
		return false;
	if (route->signed_url != NULL || route->jwt != NULL) {
		if (!conn_step_protect(c, npath))
			return false;
		path = r->path; /* without the signature parameters */
		q = memchr(path.p, '?', path.len);
	}
	if (!edge_route_method_ok(route, r->method)) {
		/* allow_line: "Allow: <methods>\r\n" */
		struct edge_resp resp;

		edge_resp_own(&resp, c, 405, "method not allowed on this route\n", NULL, false);
		edge_resp_add(&resp, STR_LIT("Allow"),
		    str_make(route->allow_line + 7, strlen(route->allow_line) - 9));
		conn_send_own(c, &resp);
		return false;
	}
	if (route->redirect_to != NULL) {
		conn_redirect_route(c, npath, &caps);
		return false;
	}
	if (!conn_route_upstream(
	        c, npath, q ? str_make(q, path.len - (size_t)(q - path.p)) : STR_NULL))
		return false;
	if (cfg->max_body_bytes != 0 && r->body == H1_BODY_LENGTH &&
	    r->content_length > cfg->max_body_bytes) {
		edge_conn_send_error(c, 413, "request body too large");
		return false;
	}
	*cached = cache_enabled(w->srv->cache) && route->cache;
	return !*cached || conn_get_body(c, ka);
}

/* key: the route's cache key of the request (its override fields too when
 * cached), copied to the connection. */
static bool
conn_step_key(struct edge_conn *c, bool cached)
{
	struct edge_worker *w = c->w;
	const struct config_route *route = c->route;
	const struct h1_request *r = &c->req;

	c->key_len = edge_route_key(route, c->pool, c->tls ? STR_LIT("https") : STR_LIT("http"),
	    str_make(c->host_lc, c->host_lc_len), r->port, r->path, w->key_scratch,
	    sizeof w->key_scratch);
	if (c->key_len >= 0 && route->vary_geo != CONFIG_VARY_GEO_NONE)
		c->key_len = edge_guard_key_geo(c->gen->cfg, route, &c->client, &c->guard,
		    w->key_scratch, (size_t)c->key_len, sizeof w->key_scratch);
	if (c->key_len >= 0 && cached && route->override_key)
		c->key_len = edge_route_key_fields(route, r->headers, r->n_headers, w->key_scratch,
		    (size_t)c->key_len, sizeof w->key_scratch);
	if (c->key_len < 0) {
		edge_conn_send_error(c, 400, "bad request: invalid request target");
		return false;
	}
	if ((size_t)c->key_len + 1 > c->key_cap) {
		free(c->key);
		c->key_cap = (size_t)c->key_len + 1 < 256 ? 256 : (size_t)c->key_len + 1;
		c->key = xmalloc(c->key_cap);
	}
	memcpy(c->key, w->key_scratch, (size_t)c->key_len + 1);
	return true;
}

/* lookup: RAM, then the disk tier (what it has is promoted to RAM), the
 * variant the request selects when the URL has several.  A usable object
 * answers (hit: false); a stale one, or one not fresh enough for this
 * request (RFC 9111 §4.3), is *stale, kept for revalidation and
 * stale-if-error. */
static bool
conn_step_lookup(struct edge_conn *c, struct cache_obj **stale)
{
	struct edge_worker *w = c->w;
	const struct h1_request *r = &c->req;
	struct cache_obj *o = NULL;
	time_t now = time_now();
	enum cache_use use;
	bool from_disk;

	if (cache_lookup(w->srv->cache, r, c->key, (size_t)c->key_len, now, &o, &from_disk) != 0)
		return true;
	use = cache_policy_usable(r, o, now);
	if (use == CACHE_USE_NO) {
		*stale = o;
		return true;
	}
	if (from_disk) {
		EDGE_COUNT(&w->metrics, cache_disk_hits_total);
		c->disk_hit = true;
	}
	if (use == CACHE_USE_STALE) {
		/* RFC 9111 §4.2.4: the client's max-stale allows it */
		EDGE_COUNT(&w->metrics, cache_stale_served_total);
		c->stale_served = true;
		edge_conn_serve_stored(c, o, "hit; detail=max-stale");
	} else {
		conn_serve_hit(c, o);
	}
	cache_obj_unref(&o);
	return false;
}

/* miss or pass: only-if-cached, stale-while-revalidate, then the request
 * goes to the origin (edge_forward.c): as a revalidation of stale, a miss
 * (collapsed onto the key's fill, or leading it) or a pass.  stale: owned. */
static void
conn_step_forward(struct edge_conn *c, enum cache_req creq, struct cache_obj *stale, bool ka)
{
	struct edge_worker *w = c->w;
	const struct h1_request *r = &c->req;

	c->fw.revalidate = false;
	if (stale != NULL)
		c->fw.revalidate =
		    cache_policy_revalidation(r, stale, &c->fw.reval_inm, &c->fw.reval_ims);
	if (creq == CACHE_REQ_LOOKUP && cache_policy_only_if_cached(r)) {
		/* RFC 9111 §5.2.1.7: not stored fresh, and the client forbids a fetch */
		struct edge_resp resp;

		cache_obj_unref(&stale);
		EDGE_COUNT(&w->metrics, cache_misses_total);
		c->cache_status = "MISS";
		edge_resp_own(
		    &resp, c, 504, "gateway timeout: not in cache (only-if-cached)\n", NULL, false);
		conn_send_own(c, &resp);
		return;
	}
	/* stale-while-revalidate (RFC 5861 §3): within the response's window the
	 * stale object answers now and one background exchange per key and
	 * worker refreshes it; the client's request itself is not forwarded, so
	 * RFC 9211 says "hit" (detail says why the hit is stale). */
	if (stale != NULL && creq == CACHE_REQ_LOOKUP &&
	    cache_policy_stale_ok(r, stale, time_now(), CACHE_STALE_WHILE_REVALIDATE) &&
	    edge_forward_background(c, stale)) {
		EDGE_COUNT(&w->metrics, cache_stale_served_total);
		c->stale_served = true;
		edge_conn_serve_stored(c, stale, "hit; detail=stale-while-revalidate");
		cache_obj_unref(&stale);
		return;
	}
	if (creq == CACHE_REQ_PASS) {
		EDGE_COUNT(&w->metrics, cache_passes_total);
		c->cache_status = "PASS";
		/* RFC 9211 §2.2 fwd values */
		if (!cache_enabled(w->srv->cache) || !c->route->cache)
			c->fwd = "bypass";
		else if (!str_eq(r->method, STR_LIT("GET")) && !str_eq(r->method, STR_LIT("HEAD")))
			c->fwd = "method";
		else
			c->fwd = "request";
	} else if (c->fw.revalidate) {
		/* RFC 9211 §2.2: fwd=stale, a conditional request for a stale entry */
		c->cache_status = "MISS";
		c->fwd = "stale";
		c->fw.reval_client =
		    h1_header_find(r->headers, r->n_headers, STR_LIT("If-None-Match")) != NULL ||
		    h1_header_find(r->headers, r->n_headers, STR_LIT("If-Modified-Since")) != NULL;
		/* one revalidation per key: wait on the one in flight, or lead */
		if (creq == CACHE_REQ_LOOKUP && edge_collapse_begin(c, &stale))
			return;
		EDGE_COUNT(&w->metrics, cache_revalidations_total);
	} else {
		EDGE_COUNT(&w->metrics, cache_misses_total);
		c->cache_status = "MISS";
		/* a stale entry that cannot be revalidated (no validator, or the
		 * client's own preconditions) is forwarded as a miss; it is kept
		 * only for stale-if-error */
		c->fwd = "miss";
		/* wait on the fill in progress, or lead one */
		if (creq == CACHE_REQ_LOOKUP && edge_collapse_begin(c, &stale))
			return;
	}
	c->state = EDGE_CONN_PROXY;
	c->keep_alive = ka; /* the request side reads the body */
	edge_forward_start(c, c->pool, creq != CACHE_REQ_PASS, stale);
}

/* Decides what to do with a parsed request: its steps, up to an answer of
 * the node's own (a hit, an error) or the origin. */
static void
conn_handle_request(struct edge_conn *c)
{
	struct cache_obj *stale = NULL;
	enum cache_req creq;
	bool ka, cached = false;

	/* a request starts on the newest configuration and keeps it to its end */
	(void)edge_gen_current(c->w, &c->gen);
	if (!conn_step_recv(c, &ka) || !conn_step_route(c, &ka, &cached) ||
	    !conn_step_key(c, cached))
		return;
	creq =
	    cached && c->req.body == H1_BODY_NONE ? cache_policy_request(&c->req) : CACHE_REQ_PASS;
	if (creq == CACHE_REQ_LOOKUP && !conn_step_lookup(c, &stale))
		return; /* a hit */
	conn_step_forward(c, creq, stale, ka);
}

void
edge_conn_response_done(struct edge_conn *c)
{
	conn_log(c);
	c->route = NULL;
	if (!c->keep_alive || c->w->draining) {
		conn_begin_closing(c);
		return;
	}
	c->state = EDGE_CONN_READ_HEAD;
	edge_io_read_enable(&c->io);
	/* Continue with pipelined bytes, unless we are inside conn_process already
	 * (it loops by itself). */
	if (!c->processing)
		conn_process(c);
}

/*
 * The connection has waited EDGE_IDLE_RELEASE_MS for its next request with
 * nothing in flight: the buffers of the last one (head copy, header array,
 * key, upstream target) go back to the allocator, so an idle keep-alive
 * connection holds little more than its struct and socket (thousands of
 * them are).  The next request allocates them again.
 */
static void
conn_release_request(struct edge_conn *c)
{
	if (c->fw.fetch != NULL || c->fw.buffering || c->cf != NULL)
		return;
	memset(&c->req, 0, sizeof c->req); /* its views pointed into head_buf */
	c->up_target = STR_NULL;
	c->up_host = STR_NULL;
	c->key_len = -1;
#define CONN_DROP(buf, cap)                                                                        \
	do {                                                                                       \
		free(buf);                                                                         \
		(buf) = NULL;                                                                      \
		(cap) = 0;                                                                         \
	} while (0)
	CONN_DROP(c->head_buf, c->head_cap);
	CONN_DROP(c->hdrs, c->hdrs_cap);
	CONN_DROP(c->key, c->key_cap);
	CONN_DROP(c->up_buf, c->up_cap);
#undef CONN_DROP
}

/*
 * Parses and handles as many complete requests as the input holds.  Stops
 * when the head is incomplete, when a request goes to the proxy, or when the
 * output is full (the write callback resumes).
 */
static void
conn_process(struct edge_conn *c)
{
	const struct config *cfg = c->gen->cfg;
	struct evbuffer *in = c->io.in;
	struct h1_limits lim;

	lim.max_request_line = cfg->max_request_line;
	lim.max_head = cfg->max_header_bytes;
	lim.max_headers =
	    cfg->max_header_count < EDGE_MAX_HEADERS ? cfg->max_header_count : EDGE_MAX_HEADERS;
	c->processing = true;
	while (c->state == EDGE_CONN_READ_HEAD && !c->dead) {
		size_t len = evbuffer_get_length(in);
		size_t n;
		const char *p;
		enum h1_status st;

		if (evbuffer_get_length(c->io.out) > EDGE_OUT_HIGH) {
			edge_io_read_disable(&c->io);
			break;
		}
		if (len == 0) {
			if (c->client_eof) {
				conn_begin_closing(c);
				break;
			}
			if (c->requests > 0 && !evtimer_pending(c->timer, NULL))
				conn_arm_idle(c);
			break;
		}
		if (!c->timer_is_header || !evtimer_pending(c->timer, NULL))
			conn_arm_timer(c, true);
		n = len < lim.max_head + 1 ? len : lim.max_head + 1;
		p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
		st = h1_parse_request(p, n, &lim, c->w->hdr_scratch, &c->req);
		if (st == H1_AGAIN) {
			if (c->client_eof) {
				edge_conn_send_error(
				    c, 400, "bad request: incomplete request head");
				break;
			}
			break;
		}
		conn_request_begin(c);
		c->status = 0;
		c->bytes_out = 0;
		c->host_lc_len = 0;
		c->site = NULL;
		if (st != H1_OK) {
			/* The request line is needed for the access log even when invalid. */
			memset(&c->req, 0, sizeof c->req);
			conn_client_reset(c);
			EDGE_COUNT(&c->w->metrics, requests_total);
			char msg[96];
			snprintf(msg, sizeof msg, "bad request: %s", h1_strerror(st));
			edge_conn_send_error(c, h1_status_http(st), msg);
			break;
		}
		if (c->req.head_len > c->head_cap) {
			free(c->head_buf);
			c->head_cap = c->req.head_len < 1024 ? 1024 : c->req.head_len;
			c->head_buf = xmalloc(c->head_cap);
		}
		memcpy(c->head_buf, p, c->req.head_len);
		if (c->req.n_headers > c->hdrs_cap) {
			free(c->hdrs);
			c->hdrs_cap = c->req.n_headers < 16 ? 16 : c->req.n_headers;
			c->hdrs = xmalloc(c->hdrs_cap * sizeof *c->hdrs);
		}
		if (c->req.n_headers > 0)
			memcpy(c->hdrs, c->req.headers, c->req.n_headers * sizeof *c->hdrs);
		c->req.headers = c->hdrs;
		conn_rebase(c, p);
		evbuffer_drain(in, c->req.head_len);
		evtimer_del(c->timer);
		c->timer_is_header = false;
		c->idle_release = false;
		conn_handle_request(c);
	}
	c->processing = false;
}

/* ---- I/O callbacks ---- */

/* The output drained to the low watermark: resume whoever waits for room. */
static void
conn_on_drained(struct edge_conn *c)
{
	switch (c->state) {
	case EDGE_CONN_CLOSING:
		if (evbuffer_get_length(c->io.out) == 0)
			conn_start_linger(c);
		break;
	case EDGE_CONN_PROXY:
		edge_forward_on_client_writable(c);
		break;
	case EDGE_CONN_COLLAPSED:
		edge_collapse_pump(c);
		break;
	case EDGE_CONN_READ_HEAD:
		if (!c->io.read_on && !c->client_eof) {
			edge_io_read_enable(&c->io);
			conn_process(c);
		}
		break;
	case EDGE_CONN_PURGE: /* the answer comes from the purge thread */
		break;
	}
}

static void
conn_on_read(void *arg)
{
	struct edge_conn *c = arg;

	OBJ_CHECK(c, EDGE_CONN_MAGIC);
	edge_conn_enter(c);
	if (c->lingering)
		conn_linger_read(c);
	else if (c->state == EDGE_CONN_READ_HEAD)
		conn_process(c);
	else if (c->state == EDGE_CONN_PROXY)
		edge_forward_on_client_readable(c);
	edge_conn_leave(c);
}

static void
conn_on_write(void *arg)
{
	struct edge_conn *c = arg;

	OBJ_CHECK(c, EDGE_CONN_MAGIC);
	edge_conn_enter(c);
	conn_on_drained(c);
	edge_conn_leave(c);
}

static void
conn_on_event(void *arg, int what)
{
	struct edge_conn *c = arg;

	OBJ_CHECK(c, EDGE_CONN_MAGIC);
	edge_conn_enter(c);
	if (what & EDGE_IO_TIMEOUT) {
		/* send timeout: the client stopped reading */
		EDGE_COUNT(&c->w->metrics, client_timeouts_total);
		edge_conn_close(c);
	} else if ((what & EDGE_IO_ERROR) || c->lingering) {
		edge_conn_close(c);
	} else if (what & EDGE_IO_EOF) {
		/* The client will send nothing more: finish what is in flight. */
		c->client_eof = true;
		c->keep_alive = false;
		if (c->state == EDGE_CONN_READ_HEAD)
			conn_process(c);
		else if (c->state == EDGE_CONN_PROXY)
			edge_forward_on_client_readable(c);
	}
	edge_conn_leave(c);
}

static void
conn_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct edge_conn *c = arg;

	(void)fd;
	(void)what;
	OBJ_CHECK(c, EDGE_CONN_MAGIC);
	edge_conn_enter(c);
	if (c->state == EDGE_CONN_PROXY && !c->fw.req_body_done && !c->lingering) {
		/* timeouts.body (the client stopped sending its request body),
		 * timeouts.body_total or limits.body_min_rate (fw_arm_body_timer) */
		EDGE_COUNT(&c->w->metrics, client_timeouts_total);
		if (c->fw.head_sent)
			edge_conn_close(c);
		else
			edge_conn_send_error(
			    c, 408, "request timeout: the request body stalled or came too slowly");
	} else if (c->idle_release && !c->lingering && c->state == EDGE_CONN_READ_HEAD &&
	           evbuffer_get_length(c->io.in) == 0) {
		/* idle for EDGE_IDLE_RELEASE_MS: give the buffers back, then wait
		 * out the rest of timeouts.idle */
		struct timeval tv;

		conn_release_request(c);
		c->idle_release = false;
		conn_tv(&tv, c->gen->cfg->idle_timeout_ms - EDGE_IDLE_RELEASE_MS);
		evtimer_add(c->timer, &tv);
	} else if (c->lingering || c->state != EDGE_CONN_READ_HEAD) {
		edge_conn_close(c);
	} else if (c->timer_is_header && evbuffer_get_length(c->io.in) > 0) {
		EDGE_COUNT(&c->w->metrics, client_timeouts_total);
		memset(&c->req, 0, sizeof c->req);
		conn_client_reset(c);
		conn_request_begin(c);
		c->bytes_out = 0;
		c->site = NULL;
		edge_conn_send_error(c, 408, "request timeout");
	} else {
		EDGE_COUNT(&c->w->metrics, client_timeouts_total);
		edge_conn_close(c);
	}
	edge_conn_leave(c);
}

static void
conn_on_tls_ready(void *arg)
{
	struct edge_conn *c = arg;

	EDGE_COUNT(&c->w->metrics, tls_handshakes_total);
	edge_worker_handshake_end(c->w, &c->hs);
}

void
edge_conn_accept(struct edge_worker *w, int fd, const struct sockaddr *sa, int salen,
    const struct config_listen *tls)
{
	const struct config *cfg = w->gen->cfg;
	struct edge_conn *c;
	uint32_t ip_slot[2];
	int one = 1;

	(void)salen;
	if (w->draining || w->n_conns >= cfg->max_connections) {
		close(fd);
		return;
	}
	if (!edge_ip_enter(w->srv->conn_ip, sa, cfg->max_connections_per_ip, ip_slot)) {
		EDGE_COUNT(&w->metrics, connections_limited_total);
		close(fd);
		return;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	c = xcalloc(1, sizeof *c);
	c->magic = EDGE_CONN_MAGIC;
	c->w = w;
	c->ip_slot[0] = ip_slot[0];
	c->ip_slot[1] = ip_slot[1];
	c->key_len = -1;
	c->cache_status = "-";
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
		    c->peer, sizeof c->peer);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
		    c->peer, sizeof c->peer);
	else
		snprintf(c->peer, sizeof c->peer, "unknown");
	(void)policy_addr_from_sockaddr(sa, &c->peer_addr);
	c->client.source = POLICY_CLIENTIP_NO_HEADER; /* not yet the peer's */
	conn_client_reset(c);
	if (edge_io_init(&c->io, w->base, fd, cfg->send_timeout_ms, conn_on_read, conn_on_write,
	        conn_on_event, c) != 0) {
		close(fd);
		edge_ip_leave(w->srv->conn_ip, c->ip_slot);
		free(c);
		return;
	}
	if (tls) {
		/* The handshake runs on the read events; the header timeout bounds it. */
		SSL *ssl = NULL;

		if (!edge_worker_handshake_begin(w, sa, &c->hs))
			EDGE_COUNT(&w->metrics, tls_handshakes_limited_total);
		else if (w->gen->tls != NULL)
			ssl = edge_tls_ssl_new(w->gen->tls, fd, tls);
		if (ssl == NULL) {
			edge_worker_handshake_end(w, &c->hs);
			edge_io_close(&c->io);
			edge_ip_leave(w->srv->conn_ip, c->ip_slot);
			free(c);
			return;
		}
		edge_io_start_tls(&c->io, ssl);
		c->io.on_tls_ready = conn_on_tls_ready;
		c->tls = true;
	}
	c->gen = edge_gen_hold(w->gen);
	c->timer = evtimer_new(w->base, conn_on_timer, c);
	edge_io_read_enable(&c->io);
	c->next = w->conns;
	if (w->conns != NULL)
		w->conns->prev = c;
	w->conns = c;
	w->n_conns++;
	atomic_fetch_add_explicit(&w->metrics.connections_active, 1, memory_order_relaxed);
	EDGE_COUNT(&w->metrics, connections_total);
	conn_arm_timer(c, true);
}

void
edge_conn_drain(struct edge_conn *c)
{
	c->keep_alive = false;
	/* idle between requests: close; a connection just accepted gets its first
	 * request answered (its head timeout bounds the wait) */
	if (c->state == EDGE_CONN_READ_HEAD && evbuffer_get_length(c->io.in) == 0 &&
	    !c->lingering && c->requests > 0)
		edge_conn_close(c);
}
