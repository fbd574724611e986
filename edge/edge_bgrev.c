/*
 * edge/edge_bgrev.c — background revalidation (stale-while-revalidate).
 *
 * An exchange (struct edge_bgrev) has no client: its request head is written
 * once, at start, from the triggering request (target, Host, end-to-end
 * fields without preconditions, Range or Cache-Control) plus the stored
 * validators, and parsed back into its own h1_request so the storage policy
 * sees the request the origin saw.  States: RESOLVING → CONNECTING (or
 * WAIT_HEAD at once on a kept-alive connection from the idle pool, retried
 * once on a fresh connection when the origin closed it) → WAIT_HEAD → BODY
 * (a storable 200 being read into the fill).  Every callback ends either with
 * the exchange still waiting or with bg_free(); nothing touches it after that.
 *
 * The exchanges of a worker live in its hash set (bucket chains keyed by the
 * cache key), which is the "in flight" test as well as the list freed on
 * drain and shutdown.
 */
#include "config.h"

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
#include "edge/edge_bgrev.h"
#include "edge/edge_route.h"
#include "edge/edge_conn.h"
#include "edge/edge_proxy.h"
#include "edge/edge_worker.h"
#include "origin/origin_balance.h"
#include "origin/origin_dns.h"
#include "origin/origin_pool.h"

enum bg_state {
	BG_RESOLVING = 0,
	BG_CONNECTING,
	BG_WAIT_HEAD,
	BG_BODY,
};

struct edge_bgrev {
	unsigned magic;
	struct edge_bgrev *next; /* bucket chain */
	struct edge_worker *w;
	struct edge_gen *gen; /* held: cfg, pool_idx and the idle pool are its */
	unsigned bucket;
	char *key;
	size_t key_len;
	char *head; /* the request head sent to the origin */
	size_t head_len;
	struct h1_request req; /* parsed from head (views into it) */
	struct h1_header *hdrs;
	const struct config_pool *pool;
	unsigned pool_idx;
	unsigned member_idx;
	bool counted;       /* origin_balance_begin done */
	unsigned conn_uses; /* requests sent on obev before this one */
	bool reused;        /* obev came from the idle pool */
	bool got_bytes;
	bool skip_sts;                 /* the site sets hsts: do not store the origin's */
	struct cache_policy_conf conf; /* the route's, when started */
	enum bg_state state;
	struct bufferevent *obev;
	struct origin_dns_query *dnsq;
	struct cache_obj *stale; /* owned */
	struct cache_obj *fill;  /* owned, while reading a 200 */
	struct cache_fill *cf;   /* its entry in the server's fill table, or NULL */
	time_t request_time;
	uint64_t ban_gen; /* cache_ban_clock() when the request went out */
	uint64_t try_ms;
	enum h1_body body;
	bool keep_alive;
	uint64_t remaining;
	struct h1_chunked dec;
};

static void bg_begin(struct edge_bgrev *bg, bool fresh);

static unsigned
bg_bucket(const char *key, size_t len)
{
	return (unsigned)(origin_balance_hash(key, len) % EDGE_BGREV_BUCKETS);
}

static void
bg_tv(struct timeval *tv, unsigned ms)
{
	*tv = time_ms_to_tv(ms);
}

static struct origin_balance *
bg_balance(struct edge_bgrev *bg)
{
	return origin_pool_balance(bg->gen->opool, bg->pool_idx);
}

static void
bg_release(struct edge_bgrev *bg)
{
	if (bg->counted) {
		origin_balance_end(bg_balance(bg), bg->member_idx);
		origin_pool_release(bg->gen->opool, bg->pool_idx, bg->member_idx);
		bg->counted = false;
	}
}

/* Unlinks and frees the exchange with everything it holds. */
static void
bg_free(struct edge_bgrev *bg)
{
	struct edge_worker *w = bg->w;
	struct edge_bgrev **pp;

	OBJ_CHECK(bg, EDGE_BGREV_MAGIC);
	for (pp = &w->bgrev[bg->bucket]; *pp != NULL; pp = &(*pp)->next)
		if (*pp == bg) {
			*pp = bg->next;
			break;
		}
	ASSERT(w->n_bgrev > 0);
	w->n_bgrev--;
	bg_release(bg);
	if (bg->cf != NULL) {
		/* no head was ever published: a miss that waited looks in the
		 * RAM tier again, then goes on its own (edge_collapse.c) */
		cache_fill_end(bg->cf, CACHE_FILL_S_FAILED, time_now());
		cache_fill_unref(&bg->cf);
	}
	if (bg->dnsq != NULL)
		origin_dns_cancel(&bg->dnsq);
	if (bg->obev != NULL)
		bufferevent_free(bg->obev);
	cache_obj_unref(&bg->stale);
	cache_obj_unref(&bg->fill);
	free(bg->key);
	free(bg->head);
	free(bg->hdrs);
	edge_gen_release(w, &bg->gen);
	bg->magic = 0;
	free(bg);
}

/* A failure before any response: passive health, then drop. */
static void
bg_fail(struct edge_bgrev *bg, const char *why)
{
	log_info("proxy", "origin pool \"%s\" member %u: background revalidation: %s",
	    bg->pool->name, bg->member_idx, why);
	if (!bg->got_bytes && bg->counted)
		(void)origin_balance_failure(bg_balance(bg), bg->member_idx, time_mono_ms());
	EDGE_COUNT(&bg->w->metrics, origin_errors_total);
	bg_free(bg);
}

/* Hands a clean connection back to the idle pool (else closes it), then frees. */
static void
bg_finish(struct edge_bgrev *bg, bool reusable)
{
	bg_release(bg);
	if (reusable && evbuffer_get_length(bufferevent_get_input(bg->obev)) == 0) {
		bufferevent_setwatermark(bg->obev, EV_WRITE, 0, 0);
		origin_pool_put(bg->gen->opool, bg->pool_idx, bg->member_idx, bg->obev, NULL, 0,
		    bg->conn_uses + 1);
		bg->obev = NULL;
	}
	bg_free(bg);
}

static void
bg_publish(struct edge_bgrev *bg, struct cache_obj *o)
{
	struct edge_worker *w = bg->w;

	cache_store(w->srv->ram, w->srv->disk, o, time_now());
	EDGE_COUNT(&w->metrics, cache_stores_total);
}

/* RFC 9111 §4.3.4: the 304 refreshes the stored head; the body is shared. */
static void
bg_on_304(struct edge_bgrev *bg, const struct h1_response *resp)
{
	struct cache_policy pol;
	struct cache_obj *o;
	time_t now = time_now();

	cache_policy_evaluate_304(
	    &bg->req, bg->stale, resp, bg->request_time, now, &bg->conf, &pol);
	o = cache_obj_update(bg->stale, resp->headers, resp->n_headers, now, &pol);
	if (o != NULL)
		cache_obj_set_gen(o, bg->ban_gen);
	EDGE_COUNT(&bg->w->metrics, cache_revalidated_total);
	if (o != NULL && pol.storable) {
		bg_publish(bg, o);
		edge_proxy_store_for_request(bg->w, &bg->req, o, now);
	}
	cache_obj_unref(&o);
}

/* A 200: the fill, with the stored head built as the proxy builds it.  False
 * when it is not to be stored. */
static bool
bg_start_fill(struct edge_bgrev *bg, const struct h1_response *resp, time_t now)
{
	const struct config *cfg = bg->gen->cfg;
	struct cache_policy pol;
	struct evbuffer *head;
	char line[64];
	size_t len;
	int key_len;
	bool has_date = false;

	cache_policy_evaluate_conf(&bg->req, resp, bg->request_time, now, &bg->conf, &pol);
	if (!pol.storable)
		return false;
	if (resp->body == H1_BODY_LENGTH && resp->content_length > cfg->cache_max_object_bytes)
		return false;
	/* the variant key (RFC 9111 §4.1) of the request the origin saw */
	key_len = cache_vary_key(&bg->req, resp->headers, resp->n_headers, bg->key, bg->key_len,
	    bg->w->key_scratch, sizeof bg->w->key_scratch);
	if (key_len < 0)
		return false;
	head = evbuffer_new();
	len = h1_status_line(resp->status, line, sizeof line);
	evbuffer_add(head, line, len);
	for (size_t i = 0; i < resp->n_headers; i++) {
		const struct h1_header *h = &resp->headers[i];

		if (!cache_policy_store_field(resp, h) ||
		    (bg->skip_sts && str_eq_nocase(h->name, STR_LIT("Strict-Transport-Security"))))
			continue;
		if (str_eq_nocase(h->name, STR_LIT("Date")))
			has_date = true;
		evbuffer_add_printf(head, "%.*s: %.*s\r\n", (int)h->name.len, h->name.p,
		    (int)h->value.len, h->value.p);
	}
	if (!has_date)
		evbuffer_add_printf(head, "Date: %s\r\n", edge_worker_date(bg->w));
	len = evbuffer_get_length(head);
	bg->fill = cache_obj_new(bg->w->key_scratch, (size_t)key_len,
	    (const char *)evbuffer_pullup(head, (ev_ssize_t)len), len,
	    resp->body == H1_BODY_LENGTH ? resp->content_length : 0, now, &pol);
	if (bg->fill != NULL)
		cache_obj_set_gen(bg->fill, bg->ban_gen);
	evbuffer_free(head);
	return bg->fill != NULL;
}

/* False when over cache.max_object, or when the cache's memory is over its
 * budget (nobody waits for a background fill: it gives up). */
static bool
bg_append(struct edge_bgrev *bg, const char *p, size_t n)
{
	const struct config *cfg = bg->gen->cfg;

	return !cache_mem_over(config_cache_mem_budget(cfg)) &&
	       cache_obj_append(bg->fill, p, n, cfg->cache_max_object_bytes) == 0;
}

/* Moves n bytes from the front of in into the fill.  False when over
 * max_object or the memory budget. */
static bool
bg_take(struct edge_bgrev *bg, struct evbuffer *in, size_t n)
{
	while (n > 0) {
		struct evbuffer_iovec v;
		size_t l;

		if (evbuffer_peek(in, (ev_ssize_t)n, NULL, &v, 1) < 1)
			return false;
		l = v.iov_len < n ? v.iov_len : n;
		if (!bg_append(bg, v.iov_base, l))
			return false;
		evbuffer_drain(in, l);
		n -= l;
	}
	return true;
}

/* BODY: reads what arrived; stores and ends the exchange once complete.
 * eof: the origin closed (ends a close-delimited body). */
static void
bg_read_body(struct edge_bgrev *bg, bool eof)
{
	struct evbuffer *in = bufferevent_get_input(bg->obev);

	for (;;) {
		size_t avail = evbuffer_get_length(in);

		if (bg->body == H1_BODY_NONE)
			break;
		if (bg->body == H1_BODY_LENGTH) {
			size_t n = avail < bg->remaining ? avail : (size_t)bg->remaining;

			if (!bg_take(bg, in, n))
				goto too_big;
			bg->remaining -= n;
			if (bg->remaining == 0)
				break;
			if (eof)
				goto truncated;
			return;
		}
		if (bg->body == H1_BODY_CLOSE) {
			if (!bg_take(bg, in, avail))
				goto too_big;
			if (!eof)
				return;
			bg->keep_alive = false;
			break;
		}
		/* chunked */
		{
			struct evbuffer_iovec v;
			const char *d = NULL;
			size_t used = 0, dl = 0;
			enum h1_status st;

			if (avail == 0 || evbuffer_peek(in, -1, NULL, &v, 1) < 1) {
				if (eof)
					goto truncated;
				return;
			}
			st = h1_chunked_decode(&bg->dec, v.iov_base, v.iov_len, &used, &d, &dl);
			if (dl > 0 && !bg_append(bg, d, dl))
				goto too_big;
			evbuffer_drain(in, used);
			if (st == H1_OK)
				break;
			if (st != H1_AGAIN) {
				bg_fail(bg, "bad chunked body");
				return;
			}
			if (used == 0) {
				if (eof)
					goto truncated;
				return;
			}
		}
	}
	cache_obj_body_done(bg->fill);
	bg_publish(bg, bg->fill);
	bg_finish(bg, bg->keep_alive && bg->body != H1_BODY_CLOSE);
	return;
too_big:
	bg_free(bg); /* over cache.max_object or the budget: nothing to store */
	return;
truncated:
	bg_fail(bg, "connection ended mid-body");
}

/* WAIT_HEAD: parses the response head (1xx skipped) and acts on it. */
static void
bg_read_head(struct edge_bgrev *bg)
{
	struct edge_worker *w = bg->w;
	struct evbuffer *in = bufferevent_get_input(bg->obev);
	struct h1_limits lim = {8192, EDGE_ORIGIN_MAX_HEAD, EDGE_MAX_HEADERS};
	struct h1_response resp;
	uint64_t now_ms;
	time_t now;

	for (;;) {
		size_t len = evbuffer_get_length(in);
		size_t n = len < EDGE_ORIGIN_MAX_HEAD + 1 ? len : EDGE_ORIGIN_MAX_HEAD + 1;
		const char *p;
		enum h1_status st;

		if (len == 0)
			return;
		bg->got_bytes = true;
		p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
		st = h1_parse_response(p, n, &lim, false, w->hdr_scratch, &resp);
		if (st == H1_AGAIN)
			return;
		if (st != H1_OK) {
			bg_fail(bg, "malformed response");
			return;
		}
		if (resp.status >= 100 && resp.status < 200 && resp.status != 101) {
			evbuffer_drain(in, resp.head_len);
			continue;
		}
		break;
	}
	now_ms = time_mono_ms();
	(void)origin_balance_success(
	    bg_balance(bg), bg->member_idx, now_ms > bg->try_ms ? now_ms - bg->try_ms : 0, now_ms);
	now = time_now();
	if (resp.status == 304 &&
	    (cache_policy_304_applies(bg->stale, &resp, false) ||
	        edge_proxy_select_variant(bg->w, bg->key, bg->key_len, &resp, &bg->stale))) {
		bg_on_304(bg, &resp);
		evbuffer_drain(in, resp.head_len);
		bg_finish(bg, resp.keep_alive);
		return;
	}
	if (resp.status != 200 || !bg_start_fill(bg, &resp, now)) {
		bg_free(bg); /* nothing to store; the connection is dropped */
		return;
	}
	if (bg->cf != NULL) {
		/* Misses that collapsed onto the key (another variant, a reload)
		 * would wait for the whole body with nothing sent: they go on
		 * their own now (edge_collapse.c). */
		cache_fill_end(bg->cf, CACHE_FILL_S_FAILED, now);
		cache_fill_unref(&bg->cf);
	}
	/* the header views die with the head: keep only the framing */
	bg->body = resp.body;
	bg->keep_alive = resp.keep_alive;
	bg->remaining = resp.content_length;
	h1_chunked_init(&bg->dec);
	evbuffer_drain(in, resp.head_len);
	bg->state = BG_BODY;
	{
		struct timeval rtv, wtv;

		bg_tv(&rtv, bg->pool->between_bytes_timeout_ms);
		bg_tv(&wtv, bg->pool->send_timeout_ms);
		bufferevent_set_timeouts(bg->obev, &rtv, &wtv);
	}
	bg_read_body(bg, false);
}

static void
bg_on_read(struct bufferevent *bev, void *arg)
{
	struct edge_bgrev *bg = arg;

	OBJ_CHECK(bg, EDGE_BGREV_MAGIC);
	ASSERT(bg->obev == bev);
	if (bg->state == BG_BODY)
		bg_read_body(bg, false);
	else
		bg_read_head(bg);
}

static void
bg_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct edge_bgrev *bg = arg;

	OBJ_CHECK(bg, EDGE_BGREV_MAGIC);
	ASSERT(bg->obev == bev);
	if (what & BEV_EVENT_CONNECTED) {
		struct timeval rtv, wtv;
		int one = 1;

		(void)setsockopt(
		    bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		bg->state = BG_WAIT_HEAD;
		bg_tv(&rtv, bg->pool->first_byte_timeout_ms);
		bg_tv(&wtv, bg->pool->send_timeout_ms);
		bufferevent_set_timeouts(bg->obev, &rtv, &wtv);
	} else if (what & BEV_EVENT_TIMEOUT) {
		EDGE_COUNT(&bg->w->metrics, origin_timeouts_total);
		bg_fail(bg, "timed out");
	} else if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		if (bg->state == BG_BODY && (what & BEV_EVENT_EOF)) {
			bg_read_body(bg, true);
		} else if (bg->state == BG_WAIT_HEAD && bg->reused && !bg->got_bytes) {
			/* the origin closed the kept-alive connection: once more, fresh */
			bufferevent_free(bg->obev);
			bg->obev = NULL;
			bg->reused = false;
			EDGE_COUNT(&bg->w->metrics, origin_retries_total);
			bg_begin(bg, true);
		} else {
			bg_fail(bg, "connection failed or closed");
		}
	}
}

static void
bg_attach_send(struct edge_bgrev *bg)
{
	bufferevent_setcb(bg->obev, bg_on_read, NULL, bg_on_event, bg);
	bufferevent_enable(bg->obev, EV_READ | EV_WRITE);
	evbuffer_add(bufferevent_get_output(bg->obev), bg->head, bg->head_len);
}

static void
bg_connect(struct edge_bgrev *bg, const struct sockaddr *sa, socklen_t salen)
{
	struct timeval rtv, wtv;

	bg->conn_uses = 0;
	bg->obev = origin_pool_bev_new(bg->gen->opool, bg->pool_idx, bg->member_idx);
	if (bg->obev == NULL) {
		bg_fail(bg, "cannot open a connection");
		return;
	}
	bg->state = BG_CONNECTING;
	/* While connecting, the write timeout is the connect timeout. */
	bg_tv(&rtv, bg->pool->connect_timeout_ms + bg->pool->first_byte_timeout_ms);
	bg_tv(&wtv, bg->pool->connect_timeout_ms);
	bufferevent_set_timeouts(bg->obev, &rtv, &wtv);
	bg_attach_send(bg);
	if (bufferevent_socket_connect(bg->obev, sa, (int)salen) != 0)
		bg_fail(bg, "connect failed");
}

static void
bg_on_resolved(const char *err, const struct sockaddr *sa, socklen_t salen, void *arg)
{
	struct edge_bgrev *bg = arg;

	OBJ_CHECK(bg, EDGE_BGREV_MAGIC);
	bg->dnsq = NULL;
	if (err != NULL)
		bg_fail(bg, err);
	else
		bg_connect(bg, sa, salen);
}

/* Sends the request: on an idle pooled connection unless fresh, else on a
 * new one (resolving the member's name first). */
static void
bg_begin(struct edge_bgrev *bg, bool fresh)
{
	struct edge_worker *w = bg->w;
	const struct config_member *m = &bg->pool->members[bg->member_idx];
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	const char *err = NULL;
	int r;

	bg->got_bytes = false;
	bg->try_ms = time_mono_ms();
	if (!fresh) {
		bg->obev = origin_pool_take(
		    bg->gen->opool, bg->pool_idx, bg->member_idx, NULL, 0, &bg->conn_uses);
		if (bg->obev != NULL) {
			struct timeval rtv, wtv;

			bg->reused = true;
			bg->state = BG_WAIT_HEAD;
			EDGE_COUNT(&w->metrics, origin_conn_reused_total);
			bg_tv(&rtv, bg->pool->first_byte_timeout_ms);
			bg_tv(&wtv, bg->pool->send_timeout_ms);
			bufferevent_set_timeouts(bg->obev, &rtv, &wtv);
			bg_attach_send(bg);
			return;
		}
	}
	bg->state = BG_RESOLVING;
	r = origin_dns_resolve(
	    w->dns, m->host, m->port, &ss, &sslen, bg_on_resolved, bg, &bg->dnsq, &err);
	if (r == 0)
		bg_connect(bg, (const struct sockaddr *)&ss, sslen);
	else if (r < 0)
		bg_fail(bg, err != NULL ? err : "resolution failed");
}

/* Client fields not sent with a background request: those no request carries
 * as they are (edge_proxy_skip_request_field), and those that would make the
 * answer specific to the triggering request (preconditions, ranges, its cache
 * directives). */
static bool
bg_skip_field(const struct edge_conn *c, const struct h1_header *h)
{
	static const struct str skip[] = {
	    STR_LIT("If-Match"),
	    STR_LIT("If-None-Match"),
	    STR_LIT("If-Modified-Since"),
	    STR_LIT("If-Unmodified-Since"),
	    STR_LIT("If-Range"),
	    STR_LIT("Range"),
	    STR_LIT("Cache-Control"),
	    STR_LIT("Pragma"),
	};

	for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
		if (str_eq_nocase(h->name, skip[i]))
			return true;
	return edge_proxy_skip_request_field(c, h, true);
}

/* Writes the request head into bg->head and parses it back into bg->req. */
static bool
bg_build_request(struct edge_bgrev *bg, const struct edge_conn *c)
{
	const struct h1_request *r = &c->req;
	struct evbuffer *b = evbuffer_new();
	struct h1_limits lim;
	struct str v;
	size_t max_hdrs = r->n_headers + 8;
	enum h1_status st;

	/* the route's rewrite, origin_host and request header rules, as for the
	 * proxied request */
	evbuffer_add_printf(b, "GET %.*s HTTP/1.1\r\nHost: %.*s\r\n", (int)c->up_target.len,
	    c->up_target.p, (int)c->up_host.len, c->up_host.p);
	for (size_t i = 0; i < r->n_headers; i++) {
		const struct h1_header *h = &r->headers[i];

		if (bg_skip_field(c, h) || edge_route_hdr_drops(&c->route->req_hdrs, h->name))
			continue;
		evbuffer_add_printf(b, "%.*s: %.*s\r\n", (int)h->name.len, h->name.p,
		    (int)h->value.len, h->value.p);
	}
	edge_route_hdr_append(&c->route->req_hdrs, b);
	evbuffer_add(b, "X-Forwarded-For: ", 17);
	for (size_t i = 0; i < r->n_headers; i++) {
		const struct h1_header *h = &r->headers[i];

		if (str_eq_nocase(h->name, STR_LIT("X-Forwarded-For")) && h->value.len > 0)
			evbuffer_add_printf(b, "%.*s, ", (int)h->value.len, h->value.p);
	}
	evbuffer_add_printf(b, "%s\r\n", c->peer);
	/* RFC 9111 §4.3.1: the stored validators */
	edge_proxy_add_if_none_match(bg->w, bg->key, bg->key_len, bg->stale, b);
	if (cache_obj_header(bg->stale, STR_LIT("Last-Modified"), &v))
		evbuffer_add_printf(b, "If-Modified-Since: %.*s\r\n", (int)v.len, v.p);
	evbuffer_add_printf(b, "X-Forwarded-Proto: %s\r\nVia: 1.1 %s\r\n\r\n",
	    c->tls ? "https" : "http", c->gen->cfg->node_name);
	bg->head_len = evbuffer_get_length(b);
	bg->head = xmalloc(bg->head_len);
	evbuffer_remove(b, bg->head, bg->head_len);
	evbuffer_free(b);
	bg->hdrs = xmalloc(max_hdrs * sizeof *bg->hdrs);
	lim.max_request_line = bg->head_len;
	lim.max_head = bg->head_len;
	lim.max_headers = max_hdrs;
	st = h1_parse_request(bg->head, bg->head_len, &lim, bg->hdrs, &bg->req);
	return st == H1_OK;
}

bool
edge_bgrev_ensure(struct edge_conn *c, struct cache_obj *stale)
{
	struct edge_worker *w = c->w;
	const struct config *cfg = c->gen->cfg;
	const struct config_pool *pool;
	struct edge_bgrev *bg;
	struct cache_fill *cf = NULL;
	unsigned b;
	int pick;
	unsigned pidx;

	if (c->key_len < 0 || c->route == NULL)
		return false;
	b = bg_bucket(c->key, (size_t)c->key_len);
	for (bg = w->bgrev[b]; bg != NULL; bg = bg->next)
		if (bg->key_len == (size_t)c->key_len && memcmp(bg->key, c->key, bg->key_len) == 0)
			return true; /* one in flight already */
	if (w->draining || w->n_bgrev >= EDGE_BGREV_MAX || c->req.body != H1_BODY_NONE)
		return false;
	/* One per key across workers too: the key's entry in the fill table. */
	if (w->srv->fills != NULL) {
		struct cache_fill_reader rd;

		switch (cache_fill_begin(
		    w->srv->fills, c->key, (size_t)c->key_len, time_now(), &cf, &rd)) {
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
	pool = c->pool; /* the route's, or its canary's */
	pidx = (unsigned)(pool - cfg->pools);
	pick = origin_balance_pick(origin_pool_balance(c->gen->opool, pidx),
	    edge_proxy_hash(c, pool), NULL, 0, time_mono_ms());
	/* no member, or it is at its max_conns: no background revalidation */
	if (pick == ORIGIN_BALANCE_NONE ||
	    !origin_pool_acquire(c->gen->opool, pidx, (unsigned)pick)) {
		if (cf != NULL)
			cache_fill_end(cf, CACHE_FILL_S_FAILED, time_now());
		cache_fill_unref(&cf);
		return false;
	}
	bg = xcalloc(1, sizeof *bg);
	bg->magic = EDGE_BGREV_MAGIC;
	bg->w = w;
	bg->gen = edge_gen_hold(c->gen);
	bg->bucket = b;
	bg->key = xmalloc((size_t)c->key_len + 1);
	memcpy(bg->key, c->key, (size_t)c->key_len + 1);
	bg->key_len = (size_t)c->key_len;
	bg->pool = pool;
	bg->pool_idx = pidx;
	bg->member_idx = (unsigned)pick;
	edge_proxy_policy_conf(c, &bg->conf);
	bg->skip_sts = c->site != NULL && c->site->hsts != NULL;
	bg->stale = cache_obj_ref(stale);
	bg->cf = cf;
	bg->request_time = time_now();
	bg->ban_gen = cache_ban_clock();
	bg->next = w->bgrev[b];
	w->bgrev[b] = bg;
	w->n_bgrev++;
	origin_balance_begin(bg_balance(bg), bg->member_idx);
	bg->counted = true;
	if (!bg_build_request(bg, c)) {
		bg_free(bg);
		return false;
	}
	EDGE_COUNT(&w->metrics, cache_background_revalidations_total);
	EDGE_COUNT(&w->metrics, origin_requests_total);
	bg_begin(bg, false); /* may end (and free) it at once: still "started" */
	return true;
}

void
edge_bgrev_abort_all(struct edge_worker *w)
{
	for (unsigned b = 0; b < EDGE_BGREV_BUCKETS; b++)
		while (w->bgrev[b] != NULL)
			bg_free(w->bgrev[b]);
}
