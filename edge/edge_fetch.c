/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_fetch.c — the backend request builder, the object built from an
 * origin's answer, and the fetch: one exchange with an origin pool.
 *
 * A fetch (struct edge_fetch) has no client.  Its request head is written on
 * each try, by the request side (edge_fetch_client.send, NORMAL and PASS)
 * or from the copy made at start (BACKGROUND).  States: QUEUED (each usable
 * member at its max_conns) → RESOLVING → CONNECTING (or WAIT_HEAD at once on
 * a kept-alive connection from the idle pool) → WAIT_HEAD → BODY.  The
 * engine reports to its sink (struct fetch_sink): the final head (whose
 * verdict says whether the body is read, the exchange is over, or the same
 * member is asked again), the body bytes after the dechunk filter, the end,
 * or an error.  Every callback ends either with the fetch still waiting or
 * with fetch_free(); nothing touches it after that (a free asked for inside
 * a callback, by the request side for one, waits for the outermost one).
 *
 * Tries: a kept-alive connection that fails before any response byte is
 * tried once more on a fresh one (not held against the member); a failure
 * before the first response byte, or a status in retry_on, counts against
 * the member (passive health) and moves to another member, up to the pool's
 * retries and within its retry budget, for a request that may be repeated
 * (retry_safe: idempotent, no body); a failed address of a member's name is
 * left out for passive.backoff and the next one tried.  timeouts.total bounds
 * the whole fetch.  More than EDGE_MAX_INTERIM 1xx responses end it.
 *
 * The store of a request's fetch (struct fetch_fill): the object being
 * built (within cache.max_object, the cache's memory budget and
 * cache.fill_per_client, charged to the client address) and, in NORMAL
 * mode, the fill every reader reads back.  A fill no longer stored is read
 * from the origin no further ahead of its slowest reader than a window
 * (polled while paused), and stops when no reader is left.  The request
 * side may let go of a NORMAL fetch (its client left): it goes on, listed
 * on its worker for shutdown.
 *
 * BACKGROUND fetches live in their worker's hash set (keyed by the URL key),
 * which is the "in flight" test as well as the list freed on drain and
 * shutdown.  Worker thread only.
 */
#include "config.h"

#include <sys/uio.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
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
#include "edge/edge_compress.h"
#include "edge/edge_fetch.h"
#include "edge/edge_guard.h"
#include "edge/edge_partial.h"
#include "edge/edge_route.h"
#include "edge/edge_worker.h"
#include "origin/origin_balance.h"
#include "origin/origin_dns.h"
#include "origin/origin_pool.h"
#include "origin/origin_sibling.h"
#include "origin/origin_tls.h"

/* ---- the backend request ---- */

bool
edge_fetch_skip_field(const struct config_route *route, const struct h1_request *req,
    const struct h1_header *h, enum edge_fetch_fields fields)
{
	static const struct str skip[] = {
	    STR_LIT("Host"), STR_LIT("Content-Length"), STR_LIT("Transfer-Encoding"),
	    STR_LIT("Expect"), STR_LIT("X-Forwarded-For"), STR_LIT("X-Forwarded-Proto"),
	    STR_LIT("X-Request-Id"),
	    STR_LIT(ORIGIN_SIBLING_FIELD), /* a sibling's is never passed on */
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
		    (b->hop.len == 0 && edge_route_hdr_drops(&b->route->req_hdrs, h->name)) ||
		    (b->cfg != NULL && edge_guard_geo_field(b->cfg, h->name)) ||
		    (b->route->jwt != NULL && edge_guard_jwt_field(b->route, h->name)))
			continue;
		if (b->drop_range && (str_eq_nocase(h->name, STR_LIT("Range")) ||
		                         str_eq_nocase(h->name, STR_LIT("If-Range"))))
			continue;
		fetch_add_field(out, h);
	}
	if (b->range_window > 0)
		evbuffer_add_printf(out, "Range: bytes=%llu-%llu\r\n",
		    (unsigned long long)b->range_offset,
		    (unsigned long long)(b->range_offset + b->range_window - 1));
	if (b->range_window > 0 && b->if_range.len > 0)
		evbuffer_add_printf(out, "If-Range: %.*s\r\n", (int)b->if_range.len, b->if_range.p);
	if (b->only_if_cached)
		evbuffer_add(out, "Cache-Control: only-if-cached\r\n", 31);
	if (b->hop.len > 0) {
		evbuffer_add_printf(
		    out, ORIGIN_SIBLING_FIELD ": %.*s\r\n", (int)b->hop.len, b->hop.p);
	} else {
		edge_route_hdr_append(&b->route->req_hdrs, out);
		if (b->guard_fields.len > 0)
			evbuffer_add(out, b->guard_fields.p, b->guard_fields.len);
	}
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
	/* RFC 9110 §7.6.3: the protocol the request was received with */
	evbuffer_add_printf(out, "X-Forwarded-Proto: %s\r\nVia: %s %s\r\n",
	    b->tls ? "https" : "http", b->via_h2 ? "2" : "1.1", b->node_name);
	if (b->request_id.len > 0)
		evbuffer_add_printf(
		    out, "X-Request-Id: %.*s\r\n", (int)b->request_id.len, b->request_id.p);
	if (b->body == H1_BODY_LENGTH)
		evbuffer_add_printf(
		    out, "Content-Length: %llu\r\n", (unsigned long long)b->content_length);
	else if (b->body == H1_BODY_CHUNKED)
		evbuffer_add(out, "Transfer-Encoding: chunked\r\n", 28);
	evbuffer_add(out, "\r\n", 2);
}

/* ---- the object an answer makes ---- */

bool
edge_fetch_cache_status_field(struct str name)
{
	return str_eq_nocase(name, STR_LIT("X-Cache")) ||
	       str_eq_nocase(name, STR_LIT("Cache-Status"));
}

struct cache_obj *
edge_fetch_obj_new(struct edge_worker *w, const struct config *cfg, const struct h1_request *req,
    const struct h1_response *resp, const char *url_key, size_t url_key_len,
    const struct cache_policy_conf *conf, time_t request_time, time_t response_time, unsigned skip)
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
		    ((skip & EDGE_FETCH_SKIP_STS) &&
		        str_eq_nocase(h->name, STR_LIT("Strict-Transport-Security"))) ||
		    ((skip & EDGE_FETCH_SKIP_CONTENT_RANGE) &&
		        str_eq_nocase(h->name, STR_LIT("Content-Range"))) ||
		    ((skip & EDGE_FETCH_SKIP_CACHE_STATUS) &&
		        edge_fetch_cache_status_field(h->name)))
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

#define FETCH_MAX_TRIES     8  /* 1 + CONFIG_RETRIES_MAX */
#define FETCH_FULL_MAX      32 /* members at their max_conns skipped per pick */
#define FETCH_ADDR_RETRIES  2  /* tries moved to another address of a member's name */
#define FETCH_PICK_FULL     (-2)
#define FETCH_OUT_HIGH      (512 * 1024) /* a reader's output: see edge_deliver.c */
#define FETCH_FILL_POLL_MS  10           /* a paused fill looks at its window again */
#define FETCH_FLUSH_IDLE_MS 10           /* the origin paused this long: the encoder flushes */
#define FETCH_READ_MORE     (64 * 1024)  /* body bytes taken from the socket per read event */
/* The lead over its slowest reader an unstored fill keeps when memory is
 * short: enough for each reader's output to stay fed. */
#define FETCH_FILL_WINDOW_MIN (2 * FETCH_OUT_HIGH)

enum fetch_state {
	FETCH_IDLE = 0,
	FETCH_QUEUED, /* waiting for a member below max_conns */
	FETCH_RESOLVING,
	FETCH_CONNECTING,
	FETCH_WAIT_HEAD,
	FETCH_BODY,
};

/* What a body piece did (fetch_sink.on_body). */
enum fetch_flow {
	FETCH_MORE = 0, /* consumed; go on */
	FETCH_PAUSE,    /* consumed; read no more until edge_fetch_resume */
	FETCH_HALT,     /* not consumed: the sink wants no more (not an origin error) */
};

/* Where a fetch's events go: the store (BACKGROUND) or a request (NORMAL,
 * PASS).  None of them frees the fetch. */
struct fetch_sink {
	/* The final response head (views valid during the call only). */
	enum edge_fetch_verdict (*on_head)(struct edge_fetch *f, struct h1_response *resp);
	/* n body bytes at the front of in, after the filters. */
	enum fetch_flow (*on_body)(struct edge_fetch *f, struct evbuffer *in, size_t n);
	/* Over with an answer (the body is whole, or a DONE / STOP verdict):
	 * the origin connection and the member are released already. */
	void (*on_end)(struct edge_fetch *f);
	/* Over without one (counted and released already). */
	void (*on_error)(
	    struct edge_fetch *f, enum edge_fetch_error e, int status, const char *msg);
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
	bool sibling;            /* the owner answers: its X-Cache and Cache-Status are dropped */
	struct cache_obj *stale; /* owned */
	struct cache_obj *fill;  /* owned, while reading a 200 */
	struct cache_fill *cf;   /* its entry in the server's fill table, or NULL */
};

/* NORMAL and PASS: the copy being stored and the fill it feeds. */
struct fetch_fill {
	struct cache_obj *obj;           /* the object being built (owned), or NULL */
	struct cache_fill *cf;           /* the fill its body goes into (owned), or NULL */
	struct event *timer;             /* polls a paused fill (in the fetch's allocation) */
	bool paused;                     /* origin reads paused: the fill's window is full */
	bool small;                      /* stopped storing for memory (cache.fill_memory or
	                                    cache.fill_per_client): paced to FETCH_FILL_WINDOW_MIN */
	bool mem_paced;                  /* counted in cache_fills_paced_memory_total */
	bool oom;                        /* cache_fill_append failed */
	bool part;                       /* obj is a part of a representation (edge_partial.h) */
	bool waits;                      /* edge_fetch_req.store_waits */
	uint64_t wait_since_ms;          /* monotonic: it began waiting for room (0: never) */
	uint64_t written;                /* the disk writer's count when it last moved */
	struct cache_mem_client *pin_cl; /* what the stored copy charges to the client
	                                    address (cache.fill_per_client), or NULL */
	uint64_t pin_bytes;
};

struct edge_fetch {
	unsigned magic; /* EDGE_FETCH_MAGIC */
	enum edge_fetch_mode mode;
	struct edge_worker *w;
	struct edge_gen *gen; /* held: cfg, pool_idx and the idle pool are its */
	const struct fetch_sink *sink;
	unsigned depth; /* inside the fetch's callbacks: a free waits for the outermost */
	bool dead;
	char *head; /* BACKGROUND: the request head sent on each try */
	size_t head_len;
	bool head_method; /* a HEAD request: no response body */
	bool retry_safe;  /* idempotent and without a body (RFC 9110 §9.2.2) */
	bool skip;        /* skip_member is never picked */
	bool cache_only;  /* a 504 ends it (edge_fetch_req.cache_only) */
	unsigned skip_member;
	time_t request_time;
	uint64_t start_us;         /* monotonic: the exchange began (fetch_arm_total) */
	uint64_t first_byte_us;    /* from start_us to the origin's final head */
	uint64_t ban_gen;          /* cache_ban_clock() when the request went out */
	struct event *total_timer; /* timeouts.total (in the fetch's allocation) */
	struct event *flush_timer; /* the coding filter's flush when the origin pauses (same) */

	/* member choice and tries */
	const struct config_pool *pool;
	unsigned pool_idx;
	uint64_t hash;
	unsigned member_idx;
	bool counted; /* origin_balance_begin and origin_pool_acquire done */
	unsigned tries;
	unsigned tried[FETCH_MAX_TRIES];
	unsigned addr_retries;
	int fail_status; /* the last try's error, when no member is left */
	const char *fail_msg;
	struct origin_pool_waiter wait; /* queue entry (max_conns) */
	uint64_t wait_deadline_ms;      /* 0 until the fetch first queues */
	bool woken;                     /* fetch_begin runs from the wait queue */

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
	unsigned n_interim;
	unsigned conn_uses;
	uint64_t try_ms;

	/* the response body */
	enum h1_body body;
	bool keep_alive;
	bool eof; /* the origin closed */
	uint64_t remaining;
	struct h1_chunked dec;
	/* the coding filter after dechunk (edge_fetch_filter), or NULL; its
	 * output waits in coded for the sink */
	struct edge_compress *filter;
	struct evbuffer *coded;
	bool filter_fed;  /* input since the last flush */
	bool filter_done; /* its end went to the sink */

	/* NORMAL and PASS: the request side, while attached */
	const struct edge_fetch_client *cl;
	void *cl_arg;
	struct fetch_fill fill;
	char peer[INET6_ADDRSTRLEN];
	struct edge_fetch *dnext; /* the worker's detached fetches */
	struct edge_fetch *dprev;
	bool detached;

	struct fetch_store st; /* BACKGROUND */
};

/* Held over a callback: the request side it was entered for. */
struct fetch_hold {
	const struct edge_fetch_client *cl;
	void *arg;
};

static void fetch_begin(struct edge_fetch *f, bool fresh);
static void fetch_read_body(struct edge_fetch *f);

static void
fetch_tv(struct timeval *tv, unsigned ms)
{
	*tv = time_ms_to_tv(ms);
}

static void
fetch_set_timeouts(struct edge_fetch *f, unsigned read_ms, unsigned write_ms)
{
	struct timeval rtv, wtv;

	fetch_tv(&rtv, read_ms);
	fetch_tv(&wtv, write_ms);
	bufferevent_set_timeouts(f->obev, &rtv, &wtv);
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

/* Everything that ties the fetch to the origin: the member, the connection,
 * the queue entry, the timers. */
static void
fetch_let_go(struct edge_fetch *f)
{
	fetch_release(f);
	origin_pool_unwait(f->gen->opool, &f->wait);
	fetch_drop_conn(f);
	evtimer_del(f->total_timer);
	evtimer_del(f->fill.timer);
	evtimer_del(f->flush_timer);
}

static void
fetch_destroy(struct edge_fetch *f)
{
	OBJ_CHECK(f, EDGE_FETCH_MAGIC);
	f->sink->on_free(f);
	fetch_let_go(f);
	if (f->detached) {
		struct edge_worker *w = f->w;

		if (f->dprev != NULL)
			f->dprev->dnext = f->dnext;
		else
			w->fetches = f->dnext;
		if (f->dnext != NULL)
			f->dnext->dprev = f->dprev;
	}
	free(f->head);
	edge_compress_free(&f->filter);
	if (f->coded != NULL)
		evbuffer_free(f->coded);
	edge_gen_release(f->w, &f->gen);
	f->magic = 0;
	free(f);
}

/* The fetch is over: freed now, or when its outermost callback returns. */
static void
fetch_free(struct edge_fetch *f)
{
	if (f->depth > 0) {
		f->dead = true;
		fetch_let_go(f);
		return;
	}
	fetch_destroy(f);
}

static void
fetch_enter(struct edge_fetch *f, struct fetch_hold *h)
{
	f->depth++;
	h->cl = f->cl;
	h->arg = f->cl_arg;
	if (h->cl != NULL)
		h->cl->enter(h->arg);
}

static void
fetch_leave(struct edge_fetch *f, struct fetch_hold *h)
{
	ASSERT(f->depth > 0);
	if (--f->depth == 0 && f->dead)
		fetch_destroy(f);
	if (h->cl != NULL)
		h->cl->leave(h->arg);
}

/* The fetch failed: counted, released, reported, over. */
static void
fetch_fail(struct edge_fetch *f, int status, const char *why)
{
	EDGE_COUNT(&f->w->metrics, origin_errors_total);
	fetch_let_go(f);
	f->sink->on_error(f, EDGE_FETCH_E_ORIGIN, status, why);
	fetch_free(f);
}

/* Over without asking the origin (no member, or all busy): not an origin
 * error. */
static void
fetch_refuse(struct edge_fetch *f, enum edge_fetch_error e, int status, const char *msg)
{
	fetch_let_go(f);
	f->sink->on_error(f, e, status, msg);
	fetch_free(f);
}

/* The exchange is over: the origin connection goes back to the idle pool
 * when reusable (for its address), then the sink ends, then the fetch is
 * freed. */
static void
fetch_finish(struct edge_fetch *f, bool reusable)
{
	fetch_release(f);
	evtimer_del(f->total_timer);
	if (reusable && (f->cl == NULL || f->cl->sent(f->cl_arg)) &&
	    evbuffer_get_length(bufferevent_get_input(f->obev)) == 0) {
		bufferevent_setwatermark(f->obev, EV_WRITE, 0, 0);
		origin_pool_put(f->gen->opool, f->pool_idx, f->member_idx, f->obev,
		    f->addrlen > 0 ? (const struct sockaddr *)&f->addr : NULL, f->addrlen,
		    f->conn_uses);
		f->obev = NULL;
	}
	fetch_let_go(f);
	f->sink->on_end(f);
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

/* Drops the current try and starts one on another member; status/msg end
 * the fetch if no member is left. */
static void
fetch_retry_other(struct edge_fetch *f, int status, const char *msg)
{
	f->fail_status = status;
	f->fail_msg = msg;
	fetch_release(f);
	fetch_drop_conn(f);
	fetch_begin(f, false);
}

/*
 * A try on one address of a member's host name failed before any response
 * byte: resolves leave that address out for passive.backoff (while the name
 * has another), and the next address of the same member is tried without
 * counting against the member (its other addresses may be fine).  True when
 * retried so.
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
	if (marked && others > 0) { /* a lone address is the member's affair */
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

/* A try failed: another address or member when allowed, else the end with
 * status and msg. */
static void
fetch_try_failed(struct edge_fetch *f, int status, const char *msg)
{
	if (f->state == FETCH_BODY) {
		fetch_fail(f, status, msg);
		return;
	}
	if (fetch_address_failed(f))
		return;
	fetch_member_failed(f);
	if (!f->got_bytes && fetch_may_retry(f))
		fetch_retry_other(f, status, msg);
	else
		fetch_fail(f, status, msg);
}

/* ---- the store's side of a request's fetch ---- */

/* May the fill being stored wait for room (store_waits): the disk tier's
 * queue holds stores (writing them gives memory back, and makes room in
 * the queue), and the writer wrote something in the last
 * EDGE_FETCH_STORE_WAIT_MS of its wait? */
static bool
fill_may_wait(struct edge_fetch *f)
{
	struct fetch_fill *fl = &f->fill;
	struct cache *cache = f->w->srv->cache;
	uint64_t written;

	if (!fl->waits || fl->obj == NULL || !cache_store_draining(cache))
		return false;
	if (fl->wait_since_ms == 0)
		return true;
	/* the writer moved on since the fill last looked: its wait starts
	 * again (a slow but working disk is waited for) */
	written = cache_store_written(cache);
	if (written != fl->written) {
		fl->written = written;
		fl->wait_since_ms = time_mono_ms();
		return true;
	}
	return time_mono_ms() - fl->wait_since_ms < EDGE_FETCH_STORE_WAIT_MS;
}

/*
 * May the stored copy grow by len bytes?  Not while the cache's memory
 * (objects, in the RAM tier or not, and fill chunks) is over its budget
 * (cache.ram + cache.fill_memory), nor past what one client address may pin
 * (cache.fill_per_client, charged here).
 */
static bool
fill_room(struct edge_fetch *f, size_t len)
{
	const struct config *cfg = f->gen->cfg;
	uint64_t cap = cfg->cache.fill_per_client_bytes;

	/* a fill that waits for room (store_waits) may overshoot by the piece
	 * in hand: fill_gate holds it before the next one */
	if (cache_mem_over(config_cache_mem_budget(cfg)) && !fill_may_wait(f)) {
		EDGE_COUNT(&f->w->metrics, cache_fills_unstored_memory_total);
		return false;
	}
	if (cap == 0)
		return true;
	if (f->fill.pin_cl == NULL)
		f->fill.pin_cl = cache_mem_client_get(f->peer);
	if (!cache_mem_client_charge(f->fill.pin_cl, len, cap)) {
		EDGE_COUNT(&f->w->metrics, cache_fills_unstored_client_total);
		return false;
	}
	f->fill.pin_bytes += len;
	return true;
}

static void
fill_unpin(struct fetch_fill *fl)
{
	if (fl->pin_cl == NULL)
		return;
	cache_mem_client_uncharge(fl->pin_cl, fl->pin_bytes);
	fl->pin_bytes = 0;
	cache_mem_client_put(&fl->pin_cl);
}

static void
fill_append(struct edge_fetch *f, const char *data, size_t len)
{
	struct fetch_fill *fl = &f->fill;
	bool room = fl->obj == NULL || fill_room(f, len);

	if (fl->obj != NULL && (!room || cache_obj_append(fl->obj, data, len,
	                                     f->gen->cfg->cache.max_object_bytes) != 0)) {
		/* too big, or no memory, to store: those attached still get
		 * every byte, at the pace of the slowest (fill_window_full) */
		cache_obj_unref(&fl->obj);
		fl->small = !room;
		if (fl->cf != NULL)
			cache_fill_close_joins(fl->cf, time_now());
	}
	if (fl->cf != NULL && !fl->oom && cache_fill_append(fl->cf, data, len) != 0)
		fl->oom = true;
}

/* Copies the first n bytes of buf into the store without draining them. */
static void
fill_from_buffer(struct edge_fetch *f, struct evbuffer *buf, size_t n)
{
	struct evbuffer_iovec v[8];
	struct evbuffer_ptr pos;

	if ((f->fill.obj == NULL && f->fill.cf == NULL) || n == 0)
		return;
	evbuffer_ptr_set(buf, &pos, 0, EVBUFFER_PTR_SET);
	while (n > 0) {
		int k = evbuffer_peek(buf, (ev_ssize_t)n, &pos, v, 8);

		if (k <= 0)
			break;
		for (int i = 0; i < k && i < 8 && n > 0; i++) {
			size_t l = v[i].iov_len < n ? v[i].iov_len : n;

			fill_append(f, v[i].iov_base, l);
			n -= l;
			evbuffer_ptr_set(buf, &pos, l, EVBUFFER_PTR_ADD);
		}
	}
}

/* The chunks a no-longer-stored fill keeps alive (from its slowest reader
 * on) exceed cache.max_object (at least FETCH_OUT_HIGH), or, while memory is
 * short (the cache over its budget, or this fill stopped storing for lack of
 * it), FETCH_FILL_WINDOW_MIN. */
static bool
fill_window_full(struct edge_fetch *f)
{
	struct fetch_fill *fl = &f->fill;
	uint64_t max = f->gen->cfg->cache.max_object_bytes;
	size_t window = cache_fill_window(fl->cf);

	if (max < FETCH_OUT_HIGH)
		max = FETCH_OUT_HIGH;
	if (window > max)
		return true;
	if (window <= FETCH_FILL_WINDOW_MIN ||
	    (!fl->small && !cache_mem_over(config_cache_mem_budget(f->gen->cfg))))
		return false;
	if (!fl->mem_paced) {
		fl->mem_paced = true;
		EDGE_COUNT(&f->w->metrics, cache_fills_paced_memory_total);
	}
	return true;
}

/* The reader that leads the fill (the request's own client), if attached,
 * may send more. */
static void
fill_notify(struct edge_fetch *f)
{
	if (f->cl != NULL)
		f->cl->on_fill(f->cl_arg);
}

/* The paused fill's poll: resumes reading the origin if the slowest reader
 * made room (fetch_read_body pauses again if not). */
static void
fill_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct edge_fetch *f = arg;
	struct fetch_hold h;

	(void)fd;
	(void)what;
	OBJ_CHECK(f, EDGE_FETCH_MAGIC);
	fetch_enter(f, &h);
	f->fill.paused = false;
	if (f->state == FETCH_BODY && f->obev != NULL)
		fetch_read_body(f);
	fetch_leave(f, &h);
}

/* Must the fill being stored wait before its next piece: memory is over
 * its budget, or the disk tier's queue has no room for it, while the queue
 * drains (fill_may_wait)?  After EDGE_FETCH_STORE_WAIT_MS it goes on, and
 * fill_room decides as for any fill. */
static bool
fill_store_waits(struct edge_fetch *f)
{
	struct fetch_fill *fl = &f->fill;
	int64_t len = fl->cf != NULL ? cache_fill_length(fl->cf) : -1;

	if (!fill_may_wait(f) ||
	    (!cache_mem_over(config_cache_mem_budget(f->gen->cfg)) &&
	        cache_store_room(f->w->srv->cache, len > 0 ? (uint64_t)len : 0)))
		return false;
	if (fl->wait_since_ms == 0) {
		fl->wait_since_ms = time_mono_ms();
		fl->written = cache_store_written(f->w->srv->cache);
		EDGE_COUNT(&f->w->metrics, cache_fills_waited_total);
	}
	return true;
}

/* Before each body piece: false when the fetch must not read on now (it
 * stopped, or paused until the fill's slowest reader, or the memory and the
 * disk queue a stored fill waits for, make room). */
static bool
fill_gate(struct edge_fetch *f)
{
	struct fetch_fill *fl = &f->fill;
	struct timeval tv;

	if (fill_store_waits(f)) {
		bufferevent_disable(f->obev, EV_READ);
		fl->paused = true;
		fetch_tv(&tv, FETCH_FILL_POLL_MS);
		evtimer_add(fl->timer, &tv);
		return false;
	}
	if (fl->cf == NULL || fl->obj != NULL)
		return true;
	/* filling an object no longer stored that its last reader has left:
	 * nobody gets the rest */
	if (cache_fill_readers(fl->cf) == 0) {
		fetch_free(f);
		return false;
	}
	/* its slowest reader bounds how far ahead it may be */
	if (!fill_window_full(f))
		return true;
	bufferevent_disable(f->obev, EV_READ);
	fl->paused = true;
	fetch_tv(&tv, FETCH_FILL_POLL_MS);
	evtimer_add(fl->timer, &tv);
	fill_notify(f);
	return false;
}

/* ---- the request's sink ---- */

static enum edge_fetch_verdict
client_on_head(struct edge_fetch *f, struct h1_response *resp)
{
	if (f->cl == NULL)
		return EDGE_FETCH_STOP;
	return f->cl->on_head(f->cl_arg, f, resp);
}

static enum fetch_flow
client_on_body(struct edge_fetch *f, struct evbuffer *in, size_t n)
{
	fill_from_buffer(f, in, n);
	if (f->fill.cf != NULL || f->cl == NULL) {
		evbuffer_drain(in, n); /* the readers read the fill */
		return FETCH_MORE;
	}
	return f->cl->on_body(f->cl_arg, in, n) ? FETCH_PAUSE : FETCH_MORE;
}

/* The request side's last call. */
static void
client_end(struct edge_fetch *f, bool error, enum edge_fetch_error e, int status, const char *msg)
{
	const struct edge_fetch_client *cl = f->cl;
	void *arg = f->cl_arg;

	if (cl == NULL)
		return;
	f->cl = NULL;
	if (f->fill.cf != NULL) {
		struct cache_mem_client *pin = NULL;
		uint64_t bytes = 0;

		if (!error) { /* kept until the client has read the fill */
			pin = f->fill.pin_cl;
			bytes = f->fill.pin_bytes;
			f->fill.pin_cl = NULL;
			f->fill.pin_bytes = 0;
		}
		cl->on_fill_end(arg, pin, bytes);
	} else if (error) {
		cl->on_error(arg, e, status, msg);
	} else {
		cl->on_end(arg);
	}
}

static void
client_on_end(struct edge_fetch *f)
{
	struct fetch_fill *fl = &f->fill;
	struct edge_worker *w = f->w;

	if (fl->obj != NULL && f->state == FETCH_BODY) {
		/* readers read the fill's chunks and head, never its body */
		cache_obj_body_done(fl->obj);
		if (fl->part)
			edge_partial_store(
			    w, fl->obj, f->gen->cfg->cache.max_object_bytes, time_now());
		else
			cache_store(w->srv->cache, fl->obj, time_now());
		EDGE_COUNT(&w->metrics, cache_stores_total);
	}
	cache_obj_unref(&fl->obj);
	if (fl->cf != NULL)
		/* after the RAM insert: a miss that no longer finds the fill hits */
		cache_fill_end(fl->cf, CACHE_FILL_S_DONE, time_now());
	client_end(f, false, EDGE_FETCH_E_ORIGIN, 0, NULL);
}

static void
client_on_error(struct edge_fetch *f, enum edge_fetch_error e, int status, const char *msg)
{
	/* the fill fails first: its leading reader, told next, sees it */
	if (f->fill.cf != NULL && cache_fill_state(f->fill.cf) != CACHE_FILL_S_DONE)
		cache_fill_end(f->fill.cf, CACHE_FILL_S_FAILED, time_now());
	client_end(f, true, e, status, msg);
}

static void
client_on_free(struct edge_fetch *f)
{
	struct fetch_fill *fl = &f->fill;

	cache_obj_unref(&fl->obj);
	if (fl->cf != NULL) {
		/* nothing is published: waiters without a head go on their own,
		 * the others are closed (edge_collapse.h) */
		if (cache_fill_state(fl->cf) != CACHE_FILL_S_DONE)
			cache_fill_end(fl->cf, CACHE_FILL_S_FAILED, time_now());
		client_end(f, true, EDGE_FETCH_E_ORIGIN, 502, "bad gateway");
		cache_fill_unref(&fl->cf);
	}
	client_end(f, true, EDGE_FETCH_E_ORIGIN, 502, "bad gateway");
	fill_unpin(fl);
}

static const struct fetch_sink client_sink = {
    client_on_head,
    client_on_body,
    client_on_end,
    client_on_error,
    client_on_free,
};

/* ---- the response ---- */

/* A piece of n body bytes at the front of in to the sink; false when the
 * fetch must not read on now. */
static bool
fetch_to_sink(struct edge_fetch *f, struct evbuffer *in, size_t n)
{
	switch (f->sink->on_body(f, in, n)) {
	case FETCH_MORE:
		return !f->dead;
	case FETCH_PAUSE:
		if (!f->dead)
			bufferevent_disable(f->obev, EV_READ);
		return false;
	case FETCH_HALT:
		fetch_free(f); /* the sink wants no more: not an origin error */
		return false;
	}
	return false;
}

/* What the coding filter made of its input so far to the sink; false when
 * the fetch must not read on now. */
static bool
fetch_filter_out(struct edge_fetch *f, int rc)
{
	size_t n = evbuffer_get_length(f->coded);

	if (rc != 0) {
		fetch_fail(f, 502, "bad gateway: the coded body could not be coded or decoded");
		return false;
	}
	return n == 0 || fetch_to_sink(f, f->coded, n);
}

static bool
fetch_piece(struct edge_fetch *f, struct evbuffer *in, size_t n)
{
	if (f->filter == NULL)
		return fetch_to_sink(f, in, n);
	f->filter_fed = true;
	return fetch_filter_out(f, edge_compress_feed(f->filter, in, n, f->coded));
}

/* The origin paused (nothing came for FETCH_FLUSH_IDLE_MS): what the
 * encoder holds goes out, so a client never waits for bytes the node has;
 * false when the fetch must not read on now.  Not at once when the input
 * runs dry: a flush costs ratio (zstd and brotli end a block), and input
 * usually comes back within a read or two. */
static bool
fetch_filter_flush(struct edge_fetch *f)
{
	if (f->filter == NULL || !f->filter_fed)
		return true;
	f->filter_fed = false;
	return fetch_filter_out(f, edge_compress_flush(f->filter, f->coded));
}

static void
fetch_on_flush(evutil_socket_t fd, short what, void *arg)
{
	struct edge_fetch *f = arg;
	struct fetch_hold h;

	(void)fd;
	(void)what;
	OBJ_CHECK(f, EDGE_FETCH_MAGIC);
	fetch_enter(f, &h);
	if (f->state == FETCH_BODY && f->obev != NULL && !f->filter_done && fetch_filter_flush(f) &&
	    f->fill.cf != NULL)
		fill_notify(f);
	fetch_leave(f, &h);
}

/* The filters between the origin's body and the sink (dechunk), then the
 * sink; at its end the fetch finishes.  A close ends a close-delimited
 * body (f->eof). */
static void
fetch_read_body(struct edge_fetch *f)
{
	struct evbuffer *in = bufferevent_get_input(f->obev);

	for (;;) {
		size_t avail = evbuffer_get_length(in);

		if (!fill_gate(f))
			return;
		if (f->body == H1_BODY_NONE || (f->body == H1_BODY_LENGTH && f->remaining == 0))
			break;
		if (avail == 0) {
			if (f->body == H1_BODY_CLOSE && f->eof) {
				f->keep_alive = false;
				break;
			}
			if (f->eof) {
				log_warn("proxy", "origin pool \"%s\": connection ended mid-body",
				    f->pool->name);
				fetch_fail(f, 502, "bad gateway");
				return;
			}
			goto more;
		}
		if (f->body == H1_BODY_CHUNKED) {
			struct evbuffer_iovec v;
			const char *d = NULL;
			size_t used = 0, dl = 0;
			enum h1_status st;

			if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
				goto more;
			st = h1_chunked_decode(&f->dec, v.iov_base, v.iov_len, &used, &d, &dl);
			evbuffer_drain(in, used - dl);
			if (dl > 0 && !fetch_piece(f, in, dl))
				return;
			if (st == H1_OK)
				break;
			if (st != H1_AGAIN) {
				log_warn("proxy", "origin pool \"%s\": bad chunked body: %s",
				    f->pool->name, h1_strerror(st));
				fetch_fail(f, 502, "bad gateway");
				return;
			}
			if (used == 0) {
				if (f->eof) {
					fetch_fail(f, 502, "bad gateway");
					return;
				}
				goto more;
			}
			continue;
		}
		/* LENGTH or CLOSE: as it comes */
		if (f->body == H1_BODY_LENGTH && avail > f->remaining)
			avail = (size_t)f->remaining;
		if (f->body == H1_BODY_LENGTH)
			f->remaining -= avail;
		if (!fetch_piece(f, in, avail))
			return;
	}
	if (f->fill.oom) {
		log_warn("proxy", "out of memory for a collapsed fill");
		fetch_fail(f, 502, "bad gateway");
		return;
	}
	if (f->filter != NULL && !f->filter_done) {
		f->filter_done = true; /* a pause on the trailer resumes here */
		if (!fetch_filter_out(f, edge_compress_finish(f->filter, f->coded)))
			return;
	}
	fetch_finish(f, f->keep_alive && f->body != H1_BODY_CLOSE);
	return;
more:
	if (f->fill.oom) {
		log_warn("proxy", "out of memory for a collapsed fill");
		fetch_fail(f, 502, "bad gateway");
		return;
	}
	if (f->filter != NULL && f->filter_fed) {
		struct timeval tv = time_ms_to_tv(FETCH_FLUSH_IDLE_MS);

		evtimer_add(f->flush_timer, &tv); /* pushed back by each piece */
	}
	bufferevent_enable(f->obev, EV_READ);
	if (f->fill.cf != NULL)
		fill_notify(f);
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
			fetch_retry_other(f, 502, "bad gateway");
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

/*
 * The chunked body bytes that came with the head, checked before anything of
 * the response is published: a bad chunk among them answers 502 (RFC 9110
 * §15.6.3) while the client has had nothing yet, where relaying would queue
 * the head and then close the connection before it left.  A copy of the
 * decoder runs over them; nothing is consumed.  H1_AGAIN or H1_OK when none
 * is bad.
 */
static enum h1_status
fetch_check_first_chunks(struct edge_fetch *f, const struct h1_response *resp)
{
	struct evbuffer *in = bufferevent_get_input(f->obev);
	struct evbuffer_iovec v[8];
	struct evbuffer_ptr pos;
	struct h1_chunked dec;
	enum h1_status st = H1_AGAIN;
	int k;

	if (resp->body != H1_BODY_CHUNKED ||
	    evbuffer_ptr_set(in, &pos, resp->head_len, EVBUFFER_PTR_SET) != 0)
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

/* The answer in hand is not used: the same member is asked again on a new
 * connection. */
static void
fetch_again(struct edge_fetch *f)
{
	fetch_drop_conn(f);
	fetch_begin(f, true);
}

/* The fields that name the origin (hide_origin: Server and X-Powered-By
 * while enabled, and hide_origin.fields) leave resp in place before anything
 * relays, stores or merges them; the order of the others is kept. */
static bool
fetch_names_origin(const void *arg, struct str name)
{
	const struct config *cfg = arg;

	return (cfg->hide_origin && (str_eq_nocase(name, STR_LIT("Server")) ||
	                                str_eq_nocase(name, STR_LIT("X-Powered-By")))) ||
	       edge_route_hdr_drops(&cfg->hide_origin_fields, name);
}

/* Takes the fields drop(arg, name) names out of resp in place; the order of
 * the others is kept. */
static void
fetch_drop_fields(struct h1_response *resp, bool (*drop)(const void *, struct str), const void *arg)
{
	size_t k = 0;

	for (size_t i = 0; i < resp->n_headers; i++)
		if (!drop(arg, resp->headers[i].name))
			resp->headers[k++] = resp->headers[i];
	resp->n_headers = k;
}

static void
fetch_hide_origin(const struct config *cfg, struct h1_response *resp)
{
	fetch_drop_fields(resp, fetch_names_origin, cfg);
}

/* WAIT_HEAD: parses the response head (1xx relayed to the request side, up
 * to EDGE_MAX_INTERIM) and hands the final one to the sink. */
static void
fetch_read_head(struct edge_fetch *f)
{
	struct evbuffer *in = bufferevent_get_input(f->obev);
	struct h1_limits lim = {8192, EDGE_ORIGIN_MAX_HEAD, H1_MAX_HEADERS};
	struct h1_response resp, origin;
	enum h1_status body_st;

	for (;;) {
		size_t len = evbuffer_get_length(in);
		size_t n = len < EDGE_ORIGIN_MAX_HEAD + 1 ? len : EDGE_ORIGIN_MAX_HEAD + 1;
		const char *p;
		enum h1_status st;

		if (len == 0)
			return;
		f->got_bytes = true;
		p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
		st = h1_parse_response(p, n, &lim, f->head_method, f->w->hdr_scratch, &resp);
		if (st == H1_AGAIN)
			return;
		if (st != H1_OK) {
			log_warn("proxy", "origin pool \"%s\": malformed response: %s",
			    f->pool->name, h1_strerror(st));
			fetch_fail(f, 502, "bad gateway: the origin sent a malformed response");
			return;
		}
		fetch_hide_origin(f->gen->cfg, &resp);
		if (resp.status < 100 || resp.status >= 200)
			break;
		if (resp.status == 101) {
			fetch_fail(f, 502, "bad gateway: protocol upgrade is not supported");
			return;
		}
		if (++f->n_interim > EDGE_MAX_INTERIM) {
			log_warn("proxy",
			    "origin pool \"%s\": more than %d interim (1xx) responses",
			    f->pool->name, EDGE_MAX_INTERIM);
			fetch_fail(f, 502, "bad gateway: too many interim responses");
			return;
		}
		if (f->cl != NULL) {
			f->cl->on_interim(f->cl_arg, &resp);
			if (f->dead)
				return;
		}
		evbuffer_drain(in, resp.head_len);
	}
	/* the origin's final head: outpost_origin_first_byte_seconds */
	f->first_byte_us = time_mono_us() - f->start_us;
	edge_hist_observe(
	    &f->w->metrics.origin_first_byte[f->gen->pool_slot[f->pool_idx]], f->first_byte_us);
	body_st = fetch_check_first_chunks(f, &resp);
	if (body_st != H1_AGAIN && body_st != H1_OK) {
		log_warn("proxy", "origin pool \"%s\": bad chunked body: %s", f->pool->name,
		    h1_strerror(body_st));
		fetch_fail(f, 502, "bad gateway: the origin sent a malformed response");
		return;
	}
	if (f->cache_only && resp.status == 504) {
		/* only-if-cached missed: not a failure of the member */
		fetch_refuse(f, EDGE_FETCH_E_ORIGIN, 504, "no copy at the previous owner");
		return;
	}
	if (fetch_head_outcome(f, &resp))
		return; /* retried on another member */
	/* the sink may rewrite the head for a filter (edge_fetch_filter): the
	 * origin's framing is read from this copy */
	origin = resp;
	switch (f->sink->on_head(f, &resp)) {
	case EDGE_FETCH_DONE:
		if (f->dead)
			return;
		evbuffer_drain(in, resp.head_len);
		fetch_finish(f, resp.keep_alive);
		return;
	case EDGE_FETCH_STOP:
		if (f->dead)
			return;
		fetch_let_go(f); /* nothing to read; the connection is dropped */
		f->sink->on_end(f);
		fetch_free(f);
		return;
	case EDGE_FETCH_AGAIN:
		if (!f->dead)
			fetch_again(f);
		return;
	case EDGE_FETCH_READ:
		if (f->dead)
			return;
		break;
	}
	/* the header views die with the head: keep only the framing */
	f->body = origin.body;
	f->keep_alive = origin.keep_alive;
	f->remaining = origin.content_length;
	h1_chunked_init(&f->dec);
	evbuffer_drain(in, origin.head_len);
	f->state = FETCH_BODY;
	fetch_set_timeouts(f, f->pool->between_bytes_timeout_ms, f->pool->send_timeout_ms);
	fetch_read_body(f);
}

/* ---- origin callbacks ---- */

/*
 * libevent 2.1 reads at most 4 KiB per read event: a 1 MiB body would take
 * 256 trips through the loop (FIONREAD, readv, the body's processing, a
 * write to the client).  In the body of a cleartext exchange, one readv more
 * takes what the socket has, up to FETCH_READ_MORE in the input.  An end of
 * file or an error is left to the bufferevent's next read, which finds it
 * again (both persist on the socket).
 */
static void
fetch_read_more(struct edge_fetch *f)
{
	struct evbuffer *in = bufferevent_get_input(f->obev);
	size_t have = evbuffer_get_length(in);
	struct evbuffer_iovec v[2];
	struct iovec io[2];
	ssize_t got = 0;
	int n;

	if (have >= FETCH_READ_MORE || origin_tls_is(f->obev))
		return;
	/* a socket bufferevent keeps its input's end frozen but while it reads
	 * itself; so does this read */
	evbuffer_unfreeze(in, 0);
	n = evbuffer_reserve_space(in, (ev_ssize_t)(FETCH_READ_MORE - have), v, 2);
	if (n > 0) {
		for (int i = 0; i < n; i++)
			io[i] = (struct iovec){v[i].iov_base, v[i].iov_len};
		got = readv(bufferevent_getfd(f->obev), io, n);
		for (int i = 0; i < n; i++) {
			size_t take = got > 0 && (size_t)got > v[i].iov_len ? v[i].iov_len
			              : got > 0                             ? (size_t)got
			                                                    : 0;

			v[i].iov_len = take;
			got -= (ssize_t)take;
		}
		(void)evbuffer_commit_space(in, v, n);
	}
	evbuffer_freeze(in, 0);
}

static void
fetch_on_read(struct bufferevent *bev, void *arg)
{
	struct edge_fetch *f = arg;
	struct fetch_hold h;

	OBJ_CHECK(f, EDGE_FETCH_MAGIC);
	ASSERT(f->obev == bev);
	fetch_enter(f, &h);
	if (f->state == FETCH_BODY)
		fetch_read_more(f);
	if (f->state == FETCH_BODY)
		fetch_read_body(f);
	else if (f->state == FETCH_WAIT_HEAD || f->state == FETCH_CONNECTING)
		fetch_read_head(f);
	fetch_leave(f, &h);
}

static void
fetch_on_write(struct bufferevent *bev, void *arg)
{
	struct edge_fetch *f = arg;
	struct fetch_hold h;

	OBJ_CHECK(f, EDGE_FETCH_MAGIC);
	ASSERT(f->obev == bev);
	fetch_enter(f, &h);
	if (f->cl != NULL && f->cl->writable != NULL)
		f->cl->writable(f->cl_arg, bufferevent_get_output(bev));
	fetch_leave(f, &h);
}

/* A connection-level error before the response: the answer's status text,
 * and its cause for the log. */
static const char *
fetch_conn_error(struct edge_fetch *f, short what, int err, char *tbuf, size_t tbuf_len,
    const char **answer, bool *is_tls)
{
	bool verify = false;
	const char *tls = (what & BEV_EVENT_ERROR) && f->pool->tls
	                      ? origin_tls_error(f->obev, &verify, tbuf, tbuf_len)
	                      : NULL;

	*is_tls = tls != NULL;
	*answer = verify        ? "bad gateway: the origin's TLS certificate could not be verified"
	          : tls != NULL ? "bad gateway: TLS to the origin failed"
	                        : "bad gateway: the origin could not be reached";
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
	struct fetch_hold h;

	OBJ_CHECK(f, EDGE_FETCH_MAGIC);
	ASSERT(f->obev == bev);
	fetch_enter(f, &h);
	if (what & BEV_EVENT_CONNECTED) {
		int one = 1;

		(void)setsockopt(
		    bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		f->state = FETCH_WAIT_HEAD;
		fetch_set_timeouts(f, f->pool->first_byte_timeout_ms, f->pool->send_timeout_ms);
	} else if (what & BEV_EVENT_TIMEOUT) {
		bool sending = f->state != FETCH_CONNECTING && (what & BEV_EVENT_WRITING);

		EDGE_COUNT(&f->w->metrics, origin_timeouts_total);
		log_warn("proxy", "origin pool \"%s\" member %u: %s timed out", f->pool->name,
		    f->member_idx,
		    f->state == FETCH_CONNECTING ? "connect"
		    : sending                    ? "sending the request"
		    : f->state == FETCH_BODY     ? "body"
		                                 : "response");
		fetch_try_failed(f, 504,
		    f->state == FETCH_CONNECTING
		        ? "gateway timeout: the origin did not accept the connection in time"
		    : sending ? "gateway timeout: the origin did not take the request in time"
		              : "gateway timeout: the origin did not answer in time");
	} else if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		if (f->state == FETCH_BODY && (what & BEV_EVENT_EOF)) {
			f->eof = true;
			fetch_read_body(f); /* ends a close-delimited body, else truncated */
		} else if (f->state == FETCH_BODY) {
			log_warn("proxy", "origin pool \"%s\": connection ended mid-body",
			    f->pool->name);
			fetch_fail(f, 502, "bad gateway");
		} else if (f->reused && !f->got_bytes && !f->retried && f->retry_safe) {
			/* the origin closed the kept-alive connection as we reused
			 * it (RFC 9112 §9.3.1): once more, fresh, not held against
			 * the member */
			EDGE_COUNT(&f->w->metrics, origin_retries_total);
			fetch_drop_conn(f);
			f->retried = true;
			fetch_begin(f, true);
		} else {
			char tbuf[256];
			const char *answer;
			bool tls;
			const char *why =
			    fetch_conn_error(f, what, err, tbuf, sizeof tbuf, &answer, &tls);
			const struct config_member *m = fetch_member(f);

			log_warn("proxy", "origin pool \"%s\" member %s:%u: %s%s", f->pool->name,
			    m->host, (unsigned)m->port, tls ? "TLS: " : "", why);
			fetch_try_failed(f, 502, answer);
		}
	}
	fetch_leave(f, &h);
}

/* timeouts.total ran out: the fetch ends wherever it is (no retry). */
static void
fetch_on_total(evutil_socket_t fd, short what, void *arg)
{
	struct edge_fetch *f = arg;
	struct fetch_hold h;

	(void)fd;
	(void)what;
	OBJ_CHECK(f, EDGE_FETCH_MAGIC);
	fetch_enter(f, &h);
	EDGE_COUNT(&f->w->metrics, origin_timeouts_total);
	log_warn("proxy", "origin pool \"%s\": exchange took longer than timeouts.total (%u ms)",
	    f->pool->name, f->pool->total_timeout_ms);
	fetch_fail(f, 504, "gateway timeout: the origin exchange took too long");
	fetch_leave(f, &h);
}

/* ---- tries ---- */

static void
fetch_send(struct edge_fetch *f)
{
	struct evbuffer *out = bufferevent_get_output(f->obev);

	bufferevent_setcb(
	    f->obev, fetch_on_read, f->cl != NULL ? fetch_on_write : NULL, fetch_on_event, f);
	bufferevent_enable(f->obev, EV_READ | EV_WRITE);
	f->conn_uses++;
	if (f->cl != NULL)
		f->cl->send(f->cl_arg, out);
	else
		evbuffer_add(out, f->head, f->head_len);
}

static void
fetch_connect(struct edge_fetch *f, const struct sockaddr *sa, socklen_t salen)
{
	f->conn_uses = 0;
	memcpy(&f->addr, sa, salen);
	f->addrlen = salen;
	f->obev = origin_pool_bev_new(f->gen->opool, f->pool_idx, f->member_idx);
	if (f->obev == NULL) {
		fetch_try_failed(f, 502, "bad gateway: cannot open a connection to the origin");
		return;
	}
	f->state = FETCH_CONNECTING;
	/* While connecting, the write timeout is the connect timeout. */
	fetch_set_timeouts(f, f->pool->connect_timeout_ms + f->pool->first_byte_timeout_ms,
	    f->pool->connect_timeout_ms);
	if (bufferevent_socket_connect(f->obev, sa, (int)salen) != 0) {
		log_warn("proxy", "origin pool \"%s\" member %u: connect: %s", f->pool->name,
		    f->member_idx, evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		fetch_try_failed(f, 502, "bad gateway: the origin could not be reached");
		return;
	}
	fetch_send(f);
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
			fetch_set_timeouts(
			    f, f->pool->first_byte_timeout_ms, f->pool->send_timeout_ms);
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
	struct fetch_hold h;

	OBJ_CHECK(f, EDGE_FETCH_MAGIC);
	fetch_enter(f, &h);
	f->dnsq = NULL;
	if (err != NULL) {
		log_warn("proxy", "origin pool \"%s\": resolving \"%s\": %s", f->pool->name,
		    fetch_member(f)->host, err);
		fetch_try_failed(f, 502, "bad gateway: the origin name could not be resolved");
	} else {
		fetch_use_address(f, sa, salen);
	}
	fetch_leave(f, &h);
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
	unsigned skip[FETCH_MAX_TRIES + FETCH_FULL_MAX + 1];
	size_t n = f->tries, first;
	int pick;

	memcpy(skip, f->tried, f->tries * sizeof skip[0]);
	if (f->skip)
		skip[n++] = f->skip_member;
	first = n;
	for (;;) {
		pick = origin_balance_pick(fetch_balance(f), f->hash, skip, n, f->try_ms);
		if (pick == ORIGIN_BALANCE_NONE)
			return n > first ? FETCH_PICK_FULL : ORIGIN_BALANCE_NONE;
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

/* Every member at max_conns and no room or time left to wait. */
static void
fetch_busy(struct edge_fetch *f)
{
	EDGE_COUNT(&f->w->metrics, origin_busy_total);
	fetch_refuse(
	    f, EDGE_FETCH_E_BUSY, 503, "origin busy: every member is at its connection limit");
}

static void
fetch_on_wake(struct origin_pool_waiter *wt, bool timed_out)
{
	struct edge_fetch *f =
	    (struct edge_fetch *)(void *)((char *)wt - offsetof(struct edge_fetch, wait));
	struct fetch_hold h;

	OBJ_CHECK(f, EDGE_FETCH_MAGIC);
	fetch_enter(f, &h);
	if (timed_out) {
		log_warn("proxy", "origin pool \"%s\": every member at max_conns for %u ms",
		    f->pool->name, f->pool->queue_timeout_ms);
		fetch_busy(f);
	} else {
		f->woken = true;
		fetch_begin(f, false);
		f->woken = false;
	}
	fetch_leave(f, &h);
}

/* Every usable member is at its max_conns: wait in the pool's queue (back at
 * its head when woken for nothing), else busy. */
static void
fetch_queue(struct edge_fetch *f)
{
	if (f->wait_deadline_ms == 0) {
		f->wait_deadline_ms = f->try_ms + f->pool->queue_timeout_ms;
		EDGE_COUNT(&f->w->metrics, origin_queued_total);
	}
	f->wait.cb = fetch_on_wake;
	if (origin_pool_wait(f->gen->opool, f->pool_idx, &f->wait, f->wait_deadline_ms, f->woken) ==
	    0) {
		f->state = FETCH_QUEUED;
		return;
	}
	log_warn("proxy", "origin pool \"%s\": every member at max_conns and the queue full",
	    f->pool->name);
	fetch_busy(f);
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
	f->n_interim = 0;
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
		fetch_try_failed(f, 502, "bad gateway: the origin name could not be resolved");
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

		if (pick == FETCH_PICK_FULL && f->mode != EDGE_FETCH_BACKGROUND) {
			fetch_queue(f);
			return;
		}
		if (pick < 0 && f->tries > 0) {
			fetch_fail(f, f->fail_status, f->fail_msg);
			return;
		}
		if (pick < 0) {
			EDGE_COUNT(&f->w->metrics, origin_unavailable_total);
			fetch_refuse(f, EDGE_FETCH_E_UNAVAILABLE, 503, "no healthy origin");
			return;
		}
		fetch_take_member(f, (unsigned)pick);
	}
	fetch_go(f, !fresh);
}

/* One allocation: the fetch and its three timers. */
static struct edge_fetch *
fetch_alloc(struct edge_worker *w, enum edge_fetch_mode mode, struct edge_gen *gen,
    const struct config_pool *pool, uint64_t hash)
{
	size_t ev = (event_get_struct_event_size() + 15) & ~(size_t)15;
	size_t sz = (sizeof(struct edge_fetch) + 15) & ~(size_t)15;
	struct edge_fetch *f = xcalloc(1, sz + 3 * ev);

	f->magic = EDGE_FETCH_MAGIC;
	f->mode = mode;
	f->w = w;
	f->gen = edge_gen_hold(gen);
	f->total_timer = (struct event *)(void *)((char *)f + sz);
	f->fill.timer = (struct event *)(void *)((char *)f + sz + ev);
	evtimer_assign(f->total_timer, w->base, fetch_on_total, f);
	evtimer_assign(f->fill.timer, w->base, fill_on_timer, f);
	f->flush_timer = (struct event *)(void *)((char *)f + sz + 2 * ev);
	evtimer_assign(f->flush_timer, w->base, fetch_on_flush, f);
	f->pool = pool;
	f->pool_idx = (unsigned)(pool - gen->cfg->pools);
	f->hash = hash;
	f->fail_status = 502;
	f->fail_msg = "bad gateway";
	f->try_ms = time_mono_ms();
	return f;
}

/* The exchange proper: timeouts.total runs from here. */
static void
fetch_arm_total(struct edge_fetch *f)
{
	f->request_time = time_now();
	f->start_us = time_mono_us();
	f->ban_gen = cache_ban_clock(f->w->srv->cache);
	origin_balance_note_request(fetch_balance(f), time_mono_ms());
	EDGE_COUNT(&f->w->metrics, origin_requests_total);
	if (f->pool->total_timeout_ms > 0) {
		struct timeval tv;

		fetch_tv(&tv, f->pool->total_timeout_ms);
		evtimer_add(f->total_timer, &tv);
	}
}

/* ---- NORMAL and PASS ---- */

struct edge_fetch *
edge_fetch_new(struct edge_worker *w, const struct edge_fetch_req *r)
{
	struct edge_fetch *f = fetch_alloc(w, r->mode, r->gen, r->pool, r->hash);

	f->sink = &client_sink;
	f->head_method = r->head_method;
	f->retry_safe = r->retry_safe;
	f->skip = r->skip;
	f->cache_only = r->cache_only;
	f->fill.waits = r->store_waits;
	f->skip_member = r->skip_member;
	f->cl = r->client;
	f->cl_arg = r->arg;
	snprintf(f->peer, sizeof f->peer, "%s", r->peer);
	return f;
}

void
edge_fetch_start(struct edge_fetch *f)
{
	struct fetch_hold h;

	OBJ_CHECK(f, EDGE_FETCH_MAGIC);
	fetch_enter(f, &h);
	fetch_arm_total(f);
	fetch_begin(f, false);
	fetch_leave(f, &h);
}

void
edge_fetch_detach(struct edge_fetch **fp)
{
	struct edge_fetch *f = *fp;
	struct edge_worker *w;

	if (f == NULL)
		return;
	*fp = NULL;
	OBJ_CHECK(f, EDGE_FETCH_MAGIC);
	f->cl = NULL;
	w = f->w;
	/* a fill others may read goes on without the request (not when
	 * draining, where a close is final) */
	if (f->dead || f->fill.cf == NULL || f->state != FETCH_BODY || w->draining) {
		fetch_free(f);
		return;
	}
	f->detached = true;
	f->dprev = NULL;
	f->dnext = w->fetches;
	if (w->fetches != NULL)
		w->fetches->dprev = f;
	w->fetches = f;
}

void
edge_fetch_store(struct edge_fetch *f, struct cache_obj *fill, struct cache_fill *cf)
{
	ASSERT(f->fill.obj == NULL && f->fill.cf == NULL);
	f->fill.obj = fill;
	f->fill.cf = cf;
}

void
edge_fetch_store_part(struct edge_fetch *f, struct cache_obj *part)
{
	edge_fetch_store(f, part, NULL);
	f->fill.part = true;
}

void
edge_fetch_resume(struct edge_fetch *f)
{
	struct fetch_hold h;

	OBJ_CHECK(f, EDGE_FETCH_MAGIC);
	if (f->state != FETCH_BODY || f->obev == NULL ||
	    (bufferevent_get_enabled(f->obev) & EV_READ))
		return;
	fetch_enter(f, &h);
	fetch_read_body(f);
	fetch_leave(f, &h);
}

void
edge_fetch_filter(struct edge_fetch *f, struct edge_compress *z)
{
	OBJ_CHECK(f, EDGE_FETCH_MAGIC);
	ASSERT(f->filter == NULL && f->state != FETCH_BODY);
	f->filter = z;
	if (z != NULL && f->coded == NULL && (f->coded = evbuffer_new()) == NULL)
		UNREACHABLE("out of memory for an evbuffer");
}

struct evbuffer *
edge_fetch_output(struct edge_fetch *f)
{
	return f->obev != NULL ? bufferevent_get_output(f->obev) : NULL;
}

void
edge_fetch_write_lowmark(struct edge_fetch *f, size_t low)
{
	if (f->obev != NULL)
		bufferevent_setwatermark(f->obev, EV_WRITE, low, 0);
}

time_t
edge_fetch_request_time(const struct edge_fetch *f)
{
	return f->request_time;
}

const struct config_member *
edge_fetch_member(const struct edge_fetch *f)
{
	return fetch_member(f);
}

uint64_t
edge_fetch_first_byte_us(const struct edge_fetch *f)
{
	return f->first_byte_us;
}

uint64_t
edge_fetch_ban_gen(const struct edge_fetch *f)
{
	return f->ban_gen;
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

static bool
fetch_cache_status_name(const void *arg, struct str name)
{
	(void)arg;
	return edge_fetch_cache_status_field(name);
}

static enum edge_fetch_verdict
store_on_head(struct edge_fetch *f, struct h1_response *resp)
{
	struct fetch_store *st = &f->st;
	time_t now = time_now();

	if (st->sibling) /* the owner's own cache fields are neither merged nor stored */
		fetch_drop_fields(resp, fetch_cache_status_name, NULL);
	edge_compress_304(st->stale, resp);
	if (resp->status == 304 &&
	    (cache_policy_304_applies(st->stale, resp, false) ||
	        edge_fetch_select_variant(f->w, st->key, st->key_len, resp, &st->stale))) {
		store_on_304(f, resp);
		return EDGE_FETCH_DONE;
	}
	if (resp->status != 200)
		return EDGE_FETCH_STOP;
	st->fill = edge_fetch_obj_new(f->w, f->gen->cfg, &st->req, resp, st->key, st->key_len,
	    &st->conf, f->request_time, now, st->skip_sts ? EDGE_FETCH_SKIP_STS : 0);
	if (st->fill == NULL)
		return EDGE_FETCH_STOP;
	cache_obj_set_gen(st->fill, f->ban_gen);
	if (st->cf != NULL) {
		/* Misses that collapsed onto the key (another variant, a reload)
		 * would wait for the whole body with nothing sent: they go on
		 * their own now (edge_collapse.c). */
		cache_fill_end(st->cf, CACHE_FILL_S_FAILED, now);
		cache_fill_unref(&st->cf);
	}
	return EDGE_FETCH_READ;
}

/* Halts when over cache.max_object, or when the cache's memory is over its
 * budget (nobody waits for a background fill: it gives up). */
static enum fetch_flow
store_on_body(struct edge_fetch *f, struct evbuffer *in, size_t n)
{
	const struct config *cfg = f->gen->cfg;
	struct evbuffer_iovec v[8];
	struct evbuffer_ptr pos;
	size_t left = n;

	if (cache_mem_over(config_cache_mem_budget(cfg)))
		return FETCH_HALT;
	evbuffer_ptr_set(in, &pos, 0, EVBUFFER_PTR_SET);
	while (left > 0) {
		int k = evbuffer_peek(in, (ev_ssize_t)left, &pos, v, 8);

		if (k <= 0)
			break;
		for (int i = 0; i < k && i < 8 && left > 0; i++) {
			size_t l = v[i].iov_len < left ? v[i].iov_len : left;

			if (cache_obj_append(
			        f->st.fill, v[i].iov_base, l, cfg->cache.max_object_bytes) != 0)
				return FETCH_HALT;
			left -= l;
			evbuffer_ptr_set(in, &pos, l, EVBUFFER_PTR_ADD);
		}
	}
	evbuffer_drain(in, n);
	return FETCH_MORE;
}

static void
store_on_end(struct edge_fetch *f)
{
	if (f->st.fill == NULL)
		return; /* a 304, or a status that is not stored */
	cache_obj_body_done(f->st.fill);
	store_publish(f, f->st.fill);
}

static void
store_on_error(struct edge_fetch *f, enum edge_fetch_error e, int status, const char *msg)
{
	(void)e;
	(void)status;
	log_info("proxy", "origin pool \"%s\": background fetch: %s", f->pool->name, msg);
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
    store_on_error,
    store_on_free,
};

/* Writes the request head and parses it back, so that the storage policy
 * sees the request the origin saw. */
static bool
store_build_request(struct edge_fetch *f, const struct edge_fetch_bereq *b)
{
	struct evbuffer *out = evbuffer_new();
	struct h1_limits lim;
	size_t max_hdrs = b->req->n_headers + 8 + GEO_HDR__N; /* the node's own, X-Geo-* */

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
	unsigned bucket = store_bucket(bg->key, bg->key_len);
	struct cache_fill *cf = NULL;
	struct edge_fetch *f;
	struct fetch_hold h;
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
	f = fetch_alloc(w, EDGE_FETCH_BACKGROUND, bg->gen, bg->pool, bg->hash);
	f->sink = &store_sink;
	f->head_method = str_eq(b->method, STR_LIT("HEAD"));
	f->retry_safe = b->body == H1_BODY_NONE; /* GET or HEAD */
	f->st.bucket = bucket;
	f->st.key = xmalloc(bg->key_len + 1);
	memcpy(f->st.key, bg->key, bg->key_len);
	f->st.key[bg->key_len] = '\0';
	f->st.key_len = bg->key_len;
	f->st.conf = bg->conf;
	f->st.skip_sts = bg->skip_sts;
	f->st.sibling = bg->sibling;
	f->skip = bg->sibling;
	f->skip_member = bg->skip_member;
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
		fetch_destroy(f);
		return false;
	}
	EDGE_COUNT(&w->metrics, cache_background_revalidations_total);
	fetch_enter(f, &h);
	fetch_arm_total(f);
	fetch_take_member(f, (unsigned)pick);
	/* the first try, on the member just picked (may end the fetch at once:
	 * it was started all the same) */
	fetch_go(f, true);
	fetch_leave(f, &h);
	return true;
}

void
edge_fetch_abort_background(struct edge_worker *w)
{
	for (unsigned b = 0; b < EDGE_FETCH_BG_BUCKETS; b++)
		while (w->bg_fetch[b] != NULL)
			fetch_destroy(w->bg_fetch[b]);
}

void
edge_fetch_abort_all(struct edge_worker *w)
{
	edge_fetch_abort_background(w);
	while (w->fetches != NULL)
		fetch_destroy(w->fetches);
}
