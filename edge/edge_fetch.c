/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_fetch.c — the backend request builder, the object built from an
 * origin's answer, and the fetch: one exchange with an origin pool.
 *
 * A fetch (struct edge_fetch) has no client.  Its request head is written
 * once, at start (edge_fetch_bereq_write), and sent again on each try.
 * States: RESOLVING → CONNECTING (or WAIT_HEAD at once on a kept-alive
 * connection from the idle pool) → WAIT_HEAD → BODY.  The engine reports to
 * its sink (struct fetch_sink): the final head (which says whether the body
 * is wanted), the body bytes after the dechunk filter, the end, or an error.
 * Every callback ends either with the fetch still waiting or with
 * fetch_free(); nothing touches it after that.
 *
 * Tries follow the client exchange's rules (edge_proxy.c): a kept-alive
 * connection that fails before any response byte is tried once more on a
 * fresh one (not held against the member); a failure before the first
 * response byte, or a status in retry_on, counts against the member
 * (passive health) and moves to another member, up to the pool's retries
 * and within its retry budget; a failed address of a member's name is left
 * out for passive.backoff and the next one tried.  timeouts.total bounds the
 * whole fetch.  More than EDGE_MAX_INTERIM 1xx responses end it.
 *
 * BACKGROUND fetches live in their worker's hash set (keyed by the URL key),
 * which is the "in flight" test as well as the list freed on drain and
 * shutdown.  Worker thread only.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "cache/cache.h"
#include "config/config.h"
#include "core/assert.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "edge/edge_conn.h"
#include "edge/edge_fetch.h"
#include "edge/edge_route.h"
#include "edge/edge_worker.h"
#include "origin/origin_balance.h"
#include "origin/origin_dns.h"
#include "origin/origin_http1.h"
#include "origin/origin_pool.h"
#include "origin/origin_tls.h"

/* ---- the backend request ---- */

bool
edge_fetch_skip_field(const struct config_route *route, const struct h1_request *req,
    const struct h1_header *h, enum edge_fetch_fields fields)
{
	static const struct str skip[] = {
	    STR_LIT("Host"),
	    STR_LIT("Content-Length"),
	    STR_LIT("Transfer-Encoding"),
	    STR_LIT("Expect"),
	    STR_LIT("X-Forwarded-For"),
	    STR_LIT("X-Forwarded-Proto"),
	};
	/* what would make a refresh's answer specific to the request that
	 * triggered it */
	static const struct str refresh_skip[] = {
	    STR_LIT("If-Match"),
	    STR_LIT("If-None-Match"),
	    STR_LIT("If-Modified-Since"),
	    STR_LIT("If-Unmodified-Since"),
	    STR_LIT("If-Range"),
	    STR_LIT("Range"),
	    STR_LIT("Cache-Control"),
	    STR_LIT("Pragma"),
	};
	int ov;

	for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
		if (str_eq_nocase(h->name, skip[i]))
			return true;
	if (fields == EDGE_FETCH_FIELDS_REFRESH)
		for (size_t i = 0; i < sizeof refresh_skip / sizeof refresh_skip[0]; i++)
			if (str_eq_nocase(h->name, refresh_skip[i]))
				return true;
	if (h1_is_hop_by_hop(h->name, req->headers, req->n_headers))
		return true;
	/* "Transfer_Encoding" next to the real framing: an origin that maps '_'
	 * and '-' to one CGI variable would see two framings */
	if (!route->underscores && memchr(h->name.p, '_', h->name.len) != NULL) {
		log_debug("proxy", "request field \"%.*s\" not forwarded: '_' in its name",
		    (int)(h->name.len < 64 ? h->name.len : 64), h->name.p);
		return true;
	}
	/* unkeyed fields that change the origin's answer, on an answer that
	 * may be stored for everyone */
	if (fields != EDGE_FETCH_FIELDS_PASS &&
	    (ov = config_override_index(h->name.p, h->name.len)) >= 0)
		return route->override[ov] == CONFIG_OVERRIDE_STRIP;
	return false;
}

static void
fetch_add_field(struct evbuffer *out, const struct h1_header *h)
{
	evbuffer_add(out, h->name.p, h->name.len);
	evbuffer_add(out, ": ", 2);
	evbuffer_add(out, h->value.p, h->value.len);
	evbuffer_add(out, "\r\n", 2);
}

/* RFC 9111 §4.3.1: when the stale response being revalidated has an ETag,
 * an If-None-Match line with it and each other ETag of the variants of the
 * URL key in w's RAM tier, each once. */
static void
fetch_add_if_none_match(struct edge_worker *w, const char *key, size_t key_len,
    const struct cache_obj *stale, struct evbuffer *out)
{
	struct cache_obj *v[CACHE_VARY_MAX];
	struct str own, sent[CACHE_VARY_MAX];
	size_t n = 0, n_sent = 0;

	if (!cache_obj_header(stale, STR_LIT("ETag"), &own))
		return;
	evbuffer_add_printf(out, "If-None-Match: %.*s", (int)own.len, own.p);
	if (cache_enabled(w->srv->cache))
		n = cache_variants(w->srv->cache, key, key_len, v, CACHE_VARY_MAX);
	for (size_t i = 0; i < n; i++) {
		struct str e;
		bool dup;

		if (cache_obj_header(v[i], STR_LIT("ETag"), &e) && e.len > 0) {
			dup = str_eq(e, own);
			for (size_t k = 0; k < n_sent && !dup; k++)
				dup = str_eq(e, sent[k]);
			if (!dup) {
				evbuffer_add_printf(out, ", %.*s", (int)e.len, e.p);
				sent[n_sent++] = e; /* v[i] holds it until the loop ends */
			}
		}
	}
	for (size_t i = 0; i < n; i++)
		cache_obj_unref(&v[i]);
	evbuffer_add(out, "\r\n", 2);
}

void
edge_fetch_bereq_write(const struct edge_fetch_bereq *b, struct evbuffer *out)
{
	const struct h1_request *r = b->req;

	evbuffer_add(out, b->method.p, b->method.len);
	evbuffer_add(out, " ", 1);
	evbuffer_add(out, b->target.p, b->target.len);
	evbuffer_add(out, " HTTP/1.1\r\nHost: ", 17);
	evbuffer_add(out, b->host.p, b->host.len);
	evbuffer_add(out, "\r\n", 2);
	for (size_t i = 0; i < r->n_headers; i++) {
		const struct h1_header *h = &r->headers[i];

		if (edge_fetch_skip_field(b->route, r, h, b->fields) ||
		    edge_route_hdr_drops(&b->route->req_hdrs, h->name))
			continue;
		if (b->drop_range && (str_eq_nocase(h->name, STR_LIT("Range")) ||
		                         str_eq_nocase(h->name, STR_LIT("If-Range"))))
			continue;
		fetch_add_field(out, h);
	}
	if (b->range_window > 0)
		evbuffer_add_printf(
		    out, "Range: bytes=0-%llu\r\n", (unsigned long long)b->range_window - 1);
	edge_route_hdr_append(&b->route->req_hdrs, out);
	/* X-Forwarded-For: the client's list, then the peer (one field line). */
	evbuffer_add(out, "X-Forwarded-For: ", 17);
	for (size_t i = 0; i < r->n_headers; i++) {
		const struct h1_header *h = &r->headers[i];

		if (!str_eq_nocase(h->name, STR_LIT("X-Forwarded-For")) || h->value.len == 0)
			continue;
		evbuffer_add(out, h->value.p, h->value.len);
		evbuffer_add(out, ", ", 2);
	}
	evbuffer_add_printf(out, "%s\r\n", b->peer);
	/* RFC 9111 §4.3.1: the stored validators */
	if (b->stale != NULL) {
		struct str v;

		if (b->inm)
			fetch_add_if_none_match(b->w, b->key, b->key_len, b->stale, out);
		if (b->ims && cache_obj_header(b->stale, STR_LIT("Last-Modified"), &v))
			evbuffer_add_printf(out, "If-Modified-Since: %.*s\r\n", (int)v.len, v.p);
	}
	evbuffer_add_printf(out, "X-Forwarded-Proto: %s\r\nVia: 1.1 %s\r\n",
	    b->tls ? "https" : "http", b->node_name);
	if (b->body == H1_BODY_LENGTH)
		evbuffer_add_printf(
		    out, "Content-Length: %llu\r\n", (unsigned long long)b->content_length);
	else if (b->body == H1_BODY_CHUNKED)
		evbuffer_add(out, "Transfer-Encoding: chunked\r\n", 28);
	evbuffer_add(out, "\r\n", 2);
}

/* ---- the object an answer makes ---- */

struct cache_obj *
edge_fetch_obj_new(struct edge_worker *w, const struct config *cfg, const struct h1_request *req,
    const struct h1_response *resp, const char *url_key, size_t url_key_len,
    const struct cache_policy_conf *conf, time_t request_time, time_t response_time, bool skip_sts,
    bool skip_content_range)
{
	struct cache_policy pol;
	struct cache_obj *o;
	struct evbuffer *head;
	char line[64];
	size_t len;
	int key_len;
	bool has_date = false;

	cache_policy_evaluate_conf(req, resp, request_time, response_time, conf, &pol);
	if (!pol.storable)
		return NULL;
	if (resp->body == H1_BODY_LENGTH && resp->content_length > cfg->cache.max_object_bytes)
		return NULL;
	/* RFC 9111 §4.1: a response with Vary is stored as the variant the
	 * request selects */
	key_len = cache_vary_key(req, resp->headers, resp->n_headers, url_key, url_key_len,
	    w->key_scratch, sizeof w->key_scratch);
	if (key_len < 0)
		return NULL;
	head = evbuffer_new();
	len = h1_status_line(resp->status, line, sizeof line);
	evbuffer_add(head, line, len);
	for (size_t i = 0; i < resp->n_headers; i++) {
		const struct h1_header *h = &resp->headers[i];

		if (!cache_policy_store_field(resp, h) ||
		    (skip_sts && str_eq_nocase(h->name, STR_LIT("Strict-Transport-Security"))) ||
		    (skip_content_range && str_eq_nocase(h->name, STR_LIT("Content-Range"))))
			continue;
		if (str_eq_nocase(h->name, STR_LIT("Date")))
			has_date = true;
		fetch_add_field(head, h);
	}
	if (!has_date)
		evbuffer_add_printf(head, "Date: %s\r\n", edge_worker_date(w));
	len = evbuffer_get_length(head);
	o = cache_obj_new(w->key_scratch, (size_t)key_len,
	    (const char *)evbuffer_pullup(head, (ev_ssize_t)len), len,
	    resp->body == H1_BODY_LENGTH ? resp->content_length : 0, response_time, &pol);
	evbuffer_free(head);
	return o;
}

bool
edge_fetch_select_variant(struct edge_worker *w, const char *key, size_t key_len,
    const struct h1_response *resp, struct cache_obj **stale)
{
	const struct h1_header *h = h1_header_find(resp->headers, resp->n_headers, STR_LIT("ETag"));
	struct cache_obj *pick;

	if (h == NULL || !cache_enabled(w->srv->cache))
		return false;
	pick = cache_variant_by_etag(w->srv->cache, key, key_len, str_trim_ows(h->value));
	if (pick == NULL)
		return false;
	cache_obj_unref(stale);
	*stale = pick;
	return true;
}

void
edge_fetch_store_for_request(
    struct edge_worker *w, const struct h1_request *req, struct cache_obj *o, time_t now)
{
	struct cache_obj *own = cache_vary_for_request(req, o);

	if (own == NULL)
		return;
	cache_store(w->srv->cache, own, now);
	EDGE_COUNT(&w->metrics, cache_stores_total);
	cache_obj_unref(&own);
}

/* ---- the fetch ---- */

#define FETCH_MAX_TRIES    8 /* 1 + CONFIG_RETRIES_MAX */
#define FETCH_ADDR_RETRIES 2 /* tries moved to another address of a member's name */
#define FETCH_PICK_FULL    (-2)

enum fetch_state {
	FETCH_RESOLVING = 0,
	FETCH_CONNECTING,
	FETCH_WAIT_HEAD,
	FETCH_BODY,
};

/* What the final head means for the fetch (fetch_sink.on_head). */
enum fetch_verdict {
	FETCH_READ_BODY = 0, /* read the body into on_body, then on_end */
	FETCH_DONE,          /* over without a body: the connection may be kept */
	FETCH_STOP,          /* over: the connection is dropped */
};

struct edge_fetch;

/* Where a fetch's events go.  None of them frees the fetch. */
struct fetch_sink {
	/* The final response head (views valid during the call only). */
	enum fetch_verdict (*on_head)(struct edge_fetch *f, const struct h1_response *resp);
	/* Body bytes after the filters; false: stop reading (nothing is counted). */
	bool (*on_body)(struct edge_fetch *f, const char *p, size_t n);
	/* The body is whole. */
	void (*on_end)(struct edge_fetch *f);
	/* Releases what the sink holds (the fetch is being freed). */
	void (*on_free)(struct edge_fetch *f);
};

/* BACKGROUND: what the answer refreshes. */
struct fetch_store {
	struct edge_fetch *next; /* bucket chain of the worker's set */
	unsigned bucket;
	char *key; /* the URL key */
	size_t key_len;
	struct h1_request req; /* the request sent, parsed back (views into head) */
	struct h1_header *hdrs;
	struct cache_policy_conf conf;
	bool skip_sts;
	struct cache_obj *stale; /* owned */
	struct cache_obj *fill;  /* owned, while reading a 200 */
	struct cache_fill *cf;   /* its entry in the server's fill table, or NULL */
};

struct edge_fetch {
	unsigned magic; /* EDGE_FETCH_MAGIC */
	struct edge_worker *w;
	struct edge_gen *gen; /* held: cfg, pool_idx and the idle pool are its */
	const struct fetch_sink *sink;
	char *head; /* the request head sent on each try */
	size_t head_len;
	bool head_method; /* a HEAD request: no response body */
	bool retry_safe;  /* idempotent and without a body (RFC 9110 §9.2.2) */
	time_t request_time;
	uint64_t ban_gen; /* cache_ban_clock() when the request went out */

	/* member choice and tries */
	const struct config_pool *pool;
	unsigned pool_idx;
	uint64_t hash;
	unsigned member_idx;
	bool counted; /* origin_balance_begin and origin_pool_acquire done */
	unsigned tries;
	unsigned tried[FETCH_MAX_TRIES];
	unsigned addr_retries;
	const char *fail_msg; /* the last try's error, when no member is left */

	/* the current try */
	enum fetch_state state;
	struct bufferevent *obev;
	struct origin_dns_query *dnsq;
	struct sockaddr_storage addr; /* the address obev connected to, when */
	socklen_t addrlen;            /* made for this try (else 0) */
	bool may_reuse;
	bool reused;
	bool retried; /* the fresh-connection retry was used */
	bool got_bytes;
	unsigned conn_uses;
	uint64_t try_ms;
	struct event *total_timer;

	/* the response (head, framing, timeouts) */
	struct origin_http1_reader rd;

	struct fetch_store st;
};

static void fetch_begin(struct edge_fetch *f, bool fresh);

static void
fetch_tv(struct timeval *tv, unsigned ms)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (long)(ms % 1000) * 1000;
}

static void
fetch_set_timeouts(struct edge_fetch *f, unsigned read_ms, unsigned write_ms)
{
	origin_http1_set_timeouts(f->obev, read_ms, write_ms);
}

static struct origin_balance *
fetch_balance(struct edge_fetch *f)
{
	return origin_pool_balance(f->gen->opool, f->pool_idx);
}

static const struct config_member *
fetch_member(const struct edge_fetch *f)
{
	return &f->pool->members[f->member_idx];
}

/* Ends the in-flight count of the current member and frees its max_conns
 * slot (once). */
static void
fetch_release(struct edge_fetch *f)
{
	if (f->counted) {
		origin_balance_end(fetch_balance(f), f->member_idx);
		origin_pool_release(f->gen->opool, f->pool_idx, f->member_idx);
		f->counted = false;
	}
}

static void
fetch_drop_conn(struct edge_fetch *f)
{
	if (f->dnsq != NULL)
		origin_dns_cancel(&f->dnsq);
	if (f->obev != NULL) {
		bufferevent_free(f->obev);
		f->obev = NULL;
	}
}

/* Frees the fetch with everything it holds. */
static void
fetch_free(struct edge_fetch *f)
{
	OBJ_CHECK(f, EDGE_FETCH_MAGIC);
	f->sink->on_free(f);
	fetch_release(f);
	fetch_drop_conn(f);
	if (f->total_timer != NULL)
		event_free(f->total_timer);
	free(f->head);
	edge_gen_release(f->w, &f->gen);
	f->magic = 0;
	free(f);
}

/* The fetch failed: counted, logged, over. */
static void
fetch_fail(struct edge_fetch *f, const char *why)
{
	EDGE_COUNT(&f->w->metrics, origin_errors_total);
	log_info("proxy", "origin pool \"%s\": background fetch: %s", f->pool->name, why);
	fetch_free(f);
}

/* The exchange is over: the origin connection goes back to the idle pool
 * when reusable (for its address), then the fetch is freed. */
static void
fetch_finish(struct edge_fetch *f, bool reusable)
{
	fetch_release(f);
	if (reusable && evbuffer_get_length(bufferevent_get_input(f->obev)) == 0) {
		bufferevent_setwatermark(f->obev, EV_WRITE, 0, 0);
		origin_pool_put(f->gen->opool, f->pool_idx, f->member_idx, f->obev,
		    f->addrlen > 0 ? (const struct sockaddr *)&f->addr : NULL, f->addrlen,
		    f->conn_uses);
		f->obev = NULL;
	}
	fetch_free(f);
}

/* The current try failed before a response: passive health. */
static void
fetch_member_failed(struct edge_fetch *f)
{
	const struct config_member *m = fetch_member(f);
	struct origin_balance *b = fetch_balance(f);

	EDGE_COUNT(&f->w->metrics, origin_member_failures_total);
	if (origin_balance_failure(b, f->member_idx, time_mono_ms())) {
		EDGE_COUNT(&f->w->metrics, origin_ejections_total);
		log_warn("proxy",
		    "origin pool \"%s\" member %s:%u ejected for %llu ms on this worker "
		    "(passive health)",
		    f->pool->name, m->host, (unsigned)m->port,
		    (unsigned long long)origin_balance_ejected_ms(b, f->member_idx));
	}
}

/* May the failed try be repeated on another member?  Counts against the budget. */
static bool
fetch_may_retry(struct edge_fetch *f)
{
	if (f->state == FETCH_BODY || f->tries > f->pool->retries || f->tries >= FETCH_MAX_TRIES ||
	    !f->retry_safe)
		return false;
	if (!origin_balance_any(fetch_balance(f), f->tried, f->tries, time_mono_ms()))
		return false;
	if (!origin_balance_retry_ok(fetch_balance(f), time_mono_ms())) {
		EDGE_COUNT(&f->w->metrics, origin_retry_budget_exhausted_total);
		return false;
	}
	return true;
}

static void
fetch_retry_other(struct edge_fetch *f, const char *msg)
{
	f->fail_msg = msg;
	fetch_release(f);
	fetch_drop_conn(f);
	fetch_begin(f, false);
}

/*
 * A try on one address of a member's host name failed before any response
 * byte: resolves leave that address out for passive.backoff (while the name
 * has another), and the next address of the same member is tried without
 * counting against the member.  True when retried so.
 */
static bool
fetch_address_failed(struct edge_fetch *f)
{
	const struct config_member *m = fetch_member(f);
	const struct sockaddr *sa = (const struct sockaddr *)&f->addr;
	unsigned others;
	bool marked;

	if (f->addrlen == 0 || f->got_bytes || f->reused) /* reused: likely just stale */
		return false;
	others = origin_dns_mark_bad(
	    f->w->dns, m->host, sa, time_mono_ms() + f->pool->passive_backoff_ms, &marked);
	if (marked && others > 0) {
		char ip[INET6_ADDRSTRLEN] = "?";

		(void)inet_ntop(sa->sa_family,
		    sa->sa_family == AF_INET
		        ? (const void *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr
		        : (const void *)&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
		    ip, sizeof ip);
		EDGE_COUNT(&f->w->metrics, origin_address_ejections_total);
		log_warn("proxy",
		    "origin pool \"%s\" member %s:%u: address %s left out for %u ms on this worker",
		    f->pool->name, m->host, (unsigned)m->port, ip, f->pool->passive_backoff_ms);
	}
	if (others == 0 || f->addr_retries >= FETCH_ADDR_RETRIES || !f->retry_safe)
		return false;
	f->addr_retries++;
	EDGE_COUNT(&f->w->metrics, origin_retries_total);
	fetch_drop_conn(f);
	fetch_begin(f, true);
	return true;
}

/* A try failed: another address or member when allowed, else the end. */
static void
fetch_try_failed(struct edge_fetch *f, const char *msg)
{
	if (f->state == FETCH_BODY) {
		fetch_fail(f, msg);
		return;
	}
	if (fetch_address_failed(f))
		return;
	fetch_member_failed(f);
	if (!f->got_bytes && fetch_may_retry(f))
		fetch_retry_other(f, msg);
	else
		fetch_fail(f, msg);
}

/* ---- the response ---- */

static bool
fetch_on_body(void *arg, const char *p, size_t n)
{
	struct edge_fetch *f = arg;

	return f->sink->on_body(f, p, n);
}

/* The filters between the origin's body and the sink (dechunk, in the
 * HTTP/1 reader), then the sink; at its end the fetch finishes.  eof: the
 * origin closed (ends a close-delimited body). */
static void
fetch_read_body(struct edge_fetch *f, bool eof)
{
	switch (
	    origin_http1_read_body(&f->rd, bufferevent_get_input(f->obev), eof, fetch_on_body, f)) {
	case ORIGIN_HTTP1_OK:
		f->sink->on_end(f);
		fetch_finish(f, origin_http1_reusable(&f->rd));
		return;
	case ORIGIN_HTTP1_AGAIN:
		return;
	case ORIGIN_HTTP1_STOP:
		fetch_free(f); /* the sink wants no more: not an origin error */
		return;
	case ORIGIN_HTTP1_E_CHUNKED:
		fetch_fail(f, "bad chunked body");
		return;
	default:
		fetch_fail(f, "connection ended mid-body");
		return;
	}
}

/* The final head arrived: a status in retry_on counts against the member and
 * is retried on another when allowed (true then); else passive health
 * success. */
static bool
fetch_head_outcome(struct edge_fetch *f, const struct h1_response *resp)
{
	const struct config_member *m = fetch_member(f);
	uint64_t now_ms = time_mono_ms();
	unsigned bit = resp->status == 502   ? CONFIG_RETRY_ON_502
	               : resp->status == 503 ? CONFIG_RETRY_ON_503
	               : resp->status == 504 ? CONFIG_RETRY_ON_504
	                                     : 0;

	if ((bit & f->pool->retry_on) != 0) {
		log_warn("proxy", "origin pool \"%s\" member %s:%u answered %d", f->pool->name,
		    m->host, (unsigned)m->port, resp->status);
		fetch_member_failed(f);
		if (fetch_may_retry(f)) {
			fetch_retry_other(f, "a status in retry_on");
			return true;
		}
		return false;
	}
	if (origin_balance_success(fetch_balance(f), f->member_idx,
	        now_ms > f->try_ms ? now_ms - f->try_ms : 0, now_ms))
		log_info("proxy", "origin pool \"%s\" member %s:%u answers again (passive health)",
		    f->pool->name, m->host, (unsigned)m->port);
	return false;
}

/* A try's response reader: the head within EDGE_ORIGIN_MAX_HEAD, at most
 * EDGE_MAX_INTERIM 1xx responses, the pool's first byte, between bytes and
 * send timeouts. */
static void
fetch_reader_init(struct edge_fetch *f)
{
	const struct h1_limits lim = {8192, EDGE_ORIGIN_MAX_HEAD, EDGE_MAX_HEADERS};
	const struct origin_http1_timeouts tmo = {f->pool->first_byte_timeout_ms,
	    f->pool->between_bytes_timeout_ms, f->pool->send_timeout_ms};

	origin_http1_init(&f->rd, &lim, EDGE_MAX_INTERIM, f->head_method, &tmo);
}

/* WAIT_HEAD: parses the response head (1xx skipped, up to EDGE_MAX_INTERIM)
 * and hands it to the sink. */
static void
fetch_read_head(struct edge_fetch *f)
{
	struct evbuffer *in = bufferevent_get_input(f->obev);
	struct h1_response resp;
	enum h1_status h1st = H1_OK;
	enum origin_http1_status st;

	if (evbuffer_get_length(in) > 0)
		f->got_bytes = true;
	st = origin_http1_read_head(&f->rd, in, f->w->hdr_scratch, &resp, &h1st);
	switch (st) {
	case ORIGIN_HTTP1_OK:
		break;
	case ORIGIN_HTTP1_AGAIN:
		return;
	case ORIGIN_HTTP1_E_MALFORMED:
		log_warn("proxy", "origin pool \"%s\": malformed response: %s", f->pool->name,
		    h1_strerror(h1st));
		fetch_fail(f, "malformed response");
		return;
	case ORIGIN_HTTP1_E_INTERIM:
		log_warn("proxy", "origin pool \"%s\": more than %d interim (1xx) responses",
		    f->pool->name, EDGE_MAX_INTERIM);
		fetch_fail(f, "too many interim responses");
		return;
	default:
		fetch_fail(f, origin_http1_strerror(st));
		return;
	}
	if (fetch_head_outcome(f, &resp))
		return; /* retried on another member */
	switch (f->sink->on_head(f, &resp)) {
	case FETCH_DONE:
		evbuffer_drain(in, resp.head_len);
		fetch_finish(f, resp.keep_alive);
		return;
	case FETCH_STOP:
		fetch_free(f); /* nothing to read; the connection is dropped */
		return;
	case FETCH_READ_BODY:
		break;
	}
	origin_http1_body_begin(&f->rd, in, &resp);
	f->state = FETCH_BODY;
	origin_http1_arm(&f->rd, f->obev);
	fetch_read_body(f, false);
}

/* ---- origin callbacks ---- */

static void
fetch_on_read(struct bufferevent *bev, void *arg)
{
	struct edge_fetch *f = arg;

	OBJ_CHECK(f, EDGE_FETCH_MAGIC);
	ASSERT(f->obev == bev);
	if (f->state == FETCH_BODY)
		fetch_read_body(f, false);
	else
		fetch_read_head(f);
}

/* A connection-level error before the response: its cause, for the log. */
static const char *
fetch_conn_error(struct edge_fetch *f, short what, int err, char *tbuf, size_t tbuf_len)
{
	bool verify = false;
	const char *tls = (what & BEV_EVENT_ERROR) && f->pool->tls
	                      ? origin_tls_error(f->obev, &verify, tbuf, tbuf_len)
	                      : NULL;

	return tls != NULL                                       ? tls
	       : (what & BEV_EVENT_ERROR) && err == ECONNREFUSED ? "connection refused"
	       : (what & BEV_EVENT_ERROR) ? evutil_socket_error_to_string(err)
	                                  : "connection closed before a response";
}

static void
fetch_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct edge_fetch *f = arg;
	int err = EVUTIL_SOCKET_ERROR();

	OBJ_CHECK(f, EDGE_FETCH_MAGIC);
	ASSERT(f->obev == bev);
	if (what & BEV_EVENT_CONNECTED) {
		int one = 1;

		(void)setsockopt(
		    bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		f->state = FETCH_WAIT_HEAD;
		origin_http1_arm(&f->rd, f->obev);
	} else if (what & BEV_EVENT_TIMEOUT) {
		EDGE_COUNT(&f->w->metrics, origin_timeouts_total);
		log_warn("proxy", "origin pool \"%s\" member %u: %s timed out", f->pool->name,
		    f->member_idx,
		    f->state == FETCH_CONNECTING ? "connect"
		    : f->state == FETCH_BODY     ? "body"
		                                 : "response");
		fetch_try_failed(f, "timed out");
	} else if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		if (f->state == FETCH_BODY && (what & BEV_EVENT_EOF)) {
			fetch_read_body(f, true); /* ends a close-delimited body, else truncated */
		} else if (f->state == FETCH_BODY) {
			fetch_fail(f, "connection ended mid-body");
		} else if (f->reused && !f->got_bytes && !f->retried && f->retry_safe) {
			/* the origin closed the kept-alive connection: once more, fresh */
			EDGE_COUNT(&f->w->metrics, origin_retries_total);
			fetch_drop_conn(f);
			f->retried = true;
			fetch_begin(f, true);
		} else {
			char tbuf[256];
			const char *why = fetch_conn_error(f, what, err, tbuf, sizeof tbuf);
			const struct config_member *m = fetch_member(f);

			log_warn("proxy", "origin pool \"%s\" member %s:%u: %s", f->pool->name,
			    m->host, (unsigned)m->port, why);
			fetch_try_failed(f, why);
		}
	}
}

/* timeouts.total ran out: the fetch ends wherever it is (no retry). */
static void
fetch_on_total(evutil_socket_t fd, short what, void *arg)
{
	struct edge_fetch *f = arg;

	(void)fd;
	(void)what;
	OBJ_CHECK(f, EDGE_FETCH_MAGIC);
	EDGE_COUNT(&f->w->metrics, origin_timeouts_total);
	log_warn("proxy", "origin pool \"%s\": exchange took longer than timeouts.total (%u ms)",
	    f->pool->name, f->pool->total_timeout_ms);
	fetch_fail(f, "timeouts.total");
}

/* ---- tries ---- */

static void
fetch_send(struct edge_fetch *f)
{
	bufferevent_setcb(f->obev, fetch_on_read, NULL, fetch_on_event, f);
	bufferevent_enable(f->obev, EV_READ | EV_WRITE);
	f->conn_uses++;
	evbuffer_add(bufferevent_get_output(f->obev), f->head, f->head_len);
}

static void
fetch_connect(struct edge_fetch *f, const struct sockaddr *sa, socklen_t salen)
{
	f->conn_uses = 0;
	memcpy(&f->addr, sa, salen);
	f->addrlen = salen;
	f->obev = origin_pool_bev_new(f->gen->opool, f->pool_idx, f->member_idx);
	if (f->obev == NULL) {
		fetch_try_failed(f, "cannot open a connection");
		return;
	}
	f->state = FETCH_CONNECTING;
	/* While connecting, the write timeout is the connect timeout. */
	fetch_set_timeouts(f, f->pool->connect_timeout_ms + f->pool->first_byte_timeout_ms,
	    f->pool->connect_timeout_ms);
	fetch_send(f);
	if (bufferevent_socket_connect(f->obev, sa, (int)salen) != 0)
		fetch_try_failed(f, "connect failed");
}

/* The member's address for this try is sa: an idle connection to it when
 * the try may reuse one, else a new connection. */
static void
fetch_use_address(struct edge_fetch *f, const struct sockaddr *sa, socklen_t salen)
{
	if (f->may_reuse) {
		f->obev = origin_pool_take(
		    f->gen->opool, f->pool_idx, f->member_idx, sa, salen, &f->conn_uses);
		if (f->obev != NULL) {
			f->reused = true;
			memcpy(&f->addr, sa, salen);
			f->addrlen = salen;
			f->state = FETCH_WAIT_HEAD;
			EDGE_COUNT(&f->w->metrics, origin_conn_reused_total);
			origin_http1_arm(&f->rd, f->obev);
			fetch_send(f);
			return;
		}
	}
	fetch_connect(f, sa, salen);
}

static void
fetch_on_resolved(const char *err, const struct sockaddr *sa, socklen_t salen, void *arg)
{
	struct edge_fetch *f = arg;

	OBJ_CHECK(f, EDGE_FETCH_MAGIC);
	f->dnsq = NULL;
	if (err != NULL) {
		log_warn("proxy", "origin pool \"%s\": resolving \"%s\": %s", f->pool->name,
		    fetch_member(f)->host, err);
		fetch_try_failed(f, err);
	} else {
		fetch_use_address(f, sa, salen);
	}
}

/*
 * The source of the fetch: the balancer's choice among the pool's usable
 * members, the tried ones excluded, skipping those at their max_conns;
 * takes the chosen member's slot.  The member index, ORIGIN_BALANCE_NONE,
 * or FETCH_PICK_FULL (each usable member is at its max_conns).
 */
static int
fetch_pick_source(struct edge_fetch *f)
{
	unsigned skip[FETCH_MAX_TRIES + 32];
	size_t n = f->tries;
	int pick;

	memcpy(skip, f->tried, f->tries * sizeof skip[0]);
	for (;;) {
		pick = origin_balance_pick(fetch_balance(f), f->hash, skip, n, f->try_ms);
		if (pick == ORIGIN_BALANCE_NONE)
			return n > f->tries ? FETCH_PICK_FULL : ORIGIN_BALANCE_NONE;
		if (origin_pool_acquire(f->gen->opool, f->pool_idx, (unsigned)pick))
			return pick;
		if (n == sizeof skip / sizeof skip[0])
			return FETCH_PICK_FULL;
		skip[n++] = (unsigned)pick;
	}
}

/* Starts a try on member pick (its slot taken by fetch_pick_source). */
static void
fetch_take_member(struct edge_fetch *f, unsigned pick)
{
	if (f->tries > 0)
		EDGE_COUNT(&f->w->metrics, origin_retries_total);
	f->member_idx = pick;
	f->tried[f->tries++] = pick;
	f->retried = false;
	origin_balance_begin(fetch_balance(f), f->member_idx);
	f->counted = true;
}

/* A try on the current member: an idle connection when may_reuse, else a
 * new one, resolving its name first. */
static void
fetch_go(struct edge_fetch *f, bool may_reuse)
{
	const struct config_member *m = fetch_member(f);
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	const char *err = NULL;
	int r;

	f->got_bytes = false;
	fetch_reader_init(f);
	f->addrlen = 0;
	f->reused = false;
	f->may_reuse = may_reuse;
	f->state = FETCH_RESOLVING;
	r = origin_dns_resolve(
	    f->w->dns, m->host, m->port, &ss, &sslen, fetch_on_resolved, f, &f->dnsq, &err);
	if (r == 0) {
		fetch_use_address(f, (const struct sockaddr *)&ss, sslen);
	} else if (r < 0) {
		log_warn("proxy", "origin pool \"%s\": resolving \"%s\": %s", f->pool->name,
		    m->host, err != NULL ? err : "failed");
		fetch_try_failed(f, err != NULL ? err : "resolution failed");
	}
}

/* A try: on another member unless fresh (then the same one, on a new
 * connection). */
static void
fetch_begin(struct edge_fetch *f, bool fresh)
{
	f->try_ms = time_mono_ms();
	if (!fresh) {
		int pick = fetch_pick_source(f);

		if (pick < 0) {
			fetch_fail(f, f->fail_msg);
			return;
		}
		fetch_take_member(f, (unsigned)pick);
	}
	fetch_go(f, !fresh);
}

/* ---- BACKGROUND: the store only ---- */

static unsigned
store_bucket(const char *key, size_t len)
{
	return (unsigned)(origin_balance_hash(key, len) % EDGE_FETCH_BG_BUCKETS);
}

static void
store_publish(struct edge_fetch *f, struct cache_obj *o)
{
	struct edge_worker *w = f->w;

	cache_store(w->srv->cache, o, time_now());
	EDGE_COUNT(&w->metrics, cache_stores_total);
}

/* RFC 9111 §4.3.4: the 304 refreshes the stored head; the body is shared. */
static void
store_on_304(struct edge_fetch *f, const struct h1_response *resp)
{
	struct fetch_store *st = &f->st;
	struct cache_policy pol;
	struct cache_obj *o;
	time_t now = time_now();

	cache_policy_evaluate_304(&st->req, st->stale, resp, f->request_time, now, &st->conf, &pol);
	o = cache_obj_update(st->stale, resp->headers, resp->n_headers, now, &pol);
	if (o != NULL)
		cache_obj_set_gen(o, f->ban_gen);
	EDGE_COUNT(&f->w->metrics, cache_revalidated_total);
	if (o != NULL && pol.storable) {
		store_publish(f, o);
		edge_fetch_store_for_request(f->w, &st->req, o, now);
	}
	cache_obj_unref(&o);
}

static enum fetch_verdict
store_on_head(struct edge_fetch *f, const struct h1_response *resp)
{
	struct fetch_store *st = &f->st;
	time_t now = time_now();

	if (resp->status == 304 &&
	    (cache_policy_304_applies(st->stale, resp, false) ||
	        edge_fetch_select_variant(f->w, st->key, st->key_len, resp, &st->stale))) {
		store_on_304(f, resp);
		return FETCH_DONE;
	}
	if (resp->status != 200)
		return FETCH_STOP;
	st->fill = edge_fetch_obj_new(f->w, f->gen->cfg, &st->req, resp, st->key, st->key_len,
	    &st->conf, f->request_time, now, st->skip_sts, false);
	if (st->fill == NULL)
		return FETCH_STOP;
	cache_obj_set_gen(st->fill, f->ban_gen);
	if (st->cf != NULL) {
		/* Misses that collapsed onto the key (another variant, a reload)
		 * would wait for the whole body with nothing sent: they go on
		 * their own now (edge_collapse.c). */
		cache_fill_end(st->cf, CACHE_FILL_S_FAILED, now);
		cache_fill_unref(&st->cf);
	}
	return FETCH_READ_BODY;
}

/* False when over cache.max_object, or when the cache's memory is over its
 * budget (nobody waits for a background fill: it gives up). */
static bool
store_on_body(struct edge_fetch *f, const char *p, size_t n)
{
	const struct config *cfg = f->gen->cfg;

	return !cache_mem_over(config_cache_mem_budget(cfg)) &&
	       cache_obj_append(f->st.fill, p, n, cfg->cache.max_object_bytes) == 0;
}

static void
store_on_end(struct edge_fetch *f)
{
	cache_obj_body_done(f->st.fill);
	store_publish(f, f->st.fill);
}

static void
store_on_free(struct edge_fetch *f)
{
	struct fetch_store *st = &f->st;
	struct edge_worker *w = f->w;
	struct edge_fetch **pp;

	for (pp = &w->bg_fetch[st->bucket]; *pp != NULL; pp = &(*pp)->st.next)
		if (*pp == f) {
			*pp = st->next;
			ASSERT(w->n_bg_fetch > 0);
			w->n_bg_fetch--;
			break;
		}
	if (st->cf != NULL) {
		/* no head was ever published: a miss that waited looks in the
		 * RAM tier again, then goes on its own (edge_collapse.c) */
		cache_fill_end(st->cf, CACHE_FILL_S_FAILED, time_now());
		cache_fill_unref(&st->cf);
	}
	cache_obj_unref(&st->stale);
	cache_obj_unref(&st->fill);
	free(st->key);
	free(st->hdrs);
}

static const struct fetch_sink store_sink = {
    store_on_head,
    store_on_body,
    store_on_end,
    store_on_free,
};

/* Writes the request head and parses it back, so that the storage policy
 * sees the request the origin saw. */
static bool
store_build_request(struct edge_fetch *f, const struct edge_fetch_bereq *b)
{
	struct evbuffer *out = evbuffer_new();
	struct h1_limits lim;
	size_t max_hdrs = b->req->n_headers + 8;

	edge_fetch_bereq_write(b, out);
	f->head_len = evbuffer_get_length(out);
	f->head = xmalloc(f->head_len);
	evbuffer_remove(out, f->head, f->head_len);
	evbuffer_free(out);
	f->st.hdrs = xmalloc(max_hdrs * sizeof *f->st.hdrs);
	lim.max_request_line = f->head_len;
	lim.max_head = f->head_len;
	lim.max_headers = max_hdrs;
	return h1_parse_request(f->head, f->head_len, &lim, f->st.hdrs, &f->st.req) == H1_OK;
}

bool
edge_fetch_background(
    struct edge_worker *w, const struct edge_fetch_bg *bg, const struct edge_fetch_bereq *b)
{
	const struct config *cfg = bg->gen->cfg;
	unsigned bucket = store_bucket(bg->key, bg->key_len);
	struct cache_fill *cf = NULL;
	struct edge_fetch *f;
	int pick;

	for (f = w->bg_fetch[bucket]; f != NULL; f = f->st.next)
		if (f->st.key_len == bg->key_len && memcmp(f->st.key, bg->key, bg->key_len) == 0)
			return true; /* one in flight already */
	if (w->draining || w->n_bg_fetch >= EDGE_FETCH_BG_MAX)
		return false;
	/* One per key across workers too: the key's entry in the fill table. */
	if (cache_enabled(w->srv->cache)) {
		struct cache_fill_reader rd;

		switch (
		    cache_fill_begin(w->srv->cache, bg->key, bg->key_len, time_now(), &cf, &rd)) {
		case CACHE_FILL_WAITER: /* a fill or revalidation is in flight */
			cache_fill_reader_done(&rd);
			cache_fill_unref(&cf);
			return true;
		case CACHE_FILL_LEADER:
			cache_fill_reader_done(&rd);
			break;
		case CACHE_FILL_PASS:
			break;
		}
	}
	f = xcalloc(1, sizeof *f);
	f->magic = EDGE_FETCH_MAGIC;
	f->w = w;
	f->gen = edge_gen_hold(bg->gen);
	f->sink = &store_sink;
	f->head_method = str_eq(b->method, STR_LIT("HEAD"));
	f->retry_safe = b->body == H1_BODY_NONE; /* GET or HEAD */
	f->request_time = time_now();
	f->ban_gen = cache_ban_clock(w->srv->cache);
	f->pool = bg->pool;
	f->pool_idx = (unsigned)(bg->pool - cfg->pools);
	f->hash = bg->hash;
	f->fail_msg = "no usable member";
	f->try_ms = time_mono_ms();
	f->st.bucket = bucket;
	f->st.key = xmalloc(bg->key_len + 1);
	memcpy(f->st.key, bg->key, bg->key_len);
	f->st.key[bg->key_len] = '\0';
	f->st.key_len = bg->key_len;
	f->st.conf = bg->conf;
	f->st.skip_sts = bg->skip_sts;
	f->st.stale = cache_obj_ref(bg->stale);
	f->st.cf = cf;
	f->st.next = w->bg_fetch[bucket];
	w->bg_fetch[bucket] = f;
	w->n_bg_fetch++;
	/* no member, or each at its max_conns: no background fetch */
	pick = fetch_pick_source(f);
	if (pick < 0 || !store_build_request(f, b)) {
		if (pick >= 0)
			origin_pool_release(f->gen->opool, f->pool_idx, (unsigned)pick);
		fetch_free(f);
		return false;
	}
	origin_balance_note_request(fetch_balance(f), time_mono_ms());
	EDGE_COUNT(&w->metrics, cache_background_revalidations_total);
	EDGE_COUNT(&w->metrics, origin_requests_total);
	if (f->pool->total_timeout_ms > 0) {
		struct timeval tv;

		f->total_timer = evtimer_new(w->base, fetch_on_total, f);
		ASSERT(f->total_timer != NULL);
		fetch_tv(&tv, f->pool->total_timeout_ms);
		evtimer_add(f->total_timer, &tv);
	}
	fetch_take_member(f, (unsigned)pick);
	/* the first try, on the member just picked (may end the fetch at once:
	 * it was started all the same) */
	fetch_go(f, true);
	return true;
}

void
edge_fetch_abort_all(struct edge_worker *w)
{
	for (unsigned b = 0; b < EDGE_FETCH_BG_BUCKETS; b++)
		while (w->bg_fetch[b] != NULL)
			fetch_free(w->bg_fetch[b]);
}
