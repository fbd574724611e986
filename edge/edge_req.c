/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_req.c — a client request and its steps up to the cache lookup:
 * recv → route → key → lookup → hit, or miss / pass (forward: the origin,
 * edge_forward.c, or a fill in progress, edge_collapse.c).
 *
 * The request's buffers (the head and field copies, the key, a rewritten
 * target) are kept from one request of a connection to the next
 * (edge_req_reset), so a keep-alive hit allocates nothing; an idle
 * connection gives them back (edge_req_release).
 */
#include "config.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>

#include "cache/cache.h"
#include "config/config.h"
#include "core/assert.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "edge/edge_collapse.h"
#include "edge/edge_deliver.h"
#include "edge/edge_forward.h"
#include "edge/edge_guard.h"
#include "edge/edge_partial.h"
#include "edge/edge_purge.h"
#include "edge/edge_req.h"
#include "edge/edge_resp.h"
#include "edge/edge_route.h"
#include "edge/edge_slice.h"
#include "edge/edge_worker.h"
#include "origin/origin_sibling.h"

/* A client's request id worth keeping: 1..EDGE_REQUEST_ID_MAX visible
 * characters of a token or base64 (no space, quote or comma). */
static bool
req_id_valid(struct str v)
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
edge_req_id(struct edge_req *r)
{
	static const char hex[] = "0123456789abcdef";
	const struct h1_header *h;

	if (r->rid_len > 0)
		return str_make(r->rid, r->rid_len);
	if (r->sess->gen != NULL && r->sess->gen->cfg->log.request_id_keep_client &&
	    (h = h1_header_find(r->h1.headers, r->h1.n_headers, STR_LIT("X-Request-Id"))) != NULL &&
	    req_id_valid(h->value)) {
		memcpy(r->rid, h->value.p, h->value.len);
		r->rid_len = (uint8_t)h->value.len;
	} else {
		uint64_t v[2] = {r->sess->w->rid_seed, ++r->sess->w->rid_seq};

		for (int k = 0; k < 32; k++)
			r->rid[k] = hex[(v[k / 16] >> (60 - 4 * (k % 16))) & 15];
		r->rid_len = 32;
	}
	r->rid[r->rid_len] = '\0';
	return str_make(r->rid, r->rid_len);
}

void
edge_req_init(
    struct edge_req *r, struct edge_conn *c, struct edge_sess *sess, const struct edge_xport *xp)
{
	r->conn = c;
	r->sess = sess;
	r->xp = xp;
	r->key_len = -1;
	r->cache_status = "-";
}

void
edge_req_reset(struct edge_req *r)
{
	/* what the last request still holds is let go (nothing, once its
	 * response is done and its fill read) */
	if (r->slice != NULL)
		edge_slice_end(r);
	if (r->cf != NULL || r->cf_listed || r->cf_stale != NULL || r->pin_cl != NULL)
		edge_collapse_detach(r);
	/* a forward holds nothing before edge_forward_start (pool) or a fill
	 * it leads (cf), nothing after edge_forward_abort (all zero) */
	if (r->fw.pool != NULL || r->fw.cf != NULL || r->fw.fetch != NULL || r->fw.stale != NULL ||
	    r->fw.answer != NULL || r->fw.part != NULL)
		edge_forward_abort(r);
	if (r->purge_job != NULL)
		edge_purge_request_gone(r);
	edge_req_uncount(r);
	/* a hit leaves fw alone: only what the request wrote is cleared */
	if (r->fw_used)
		memset(&r->fw, 0, sizeof r->fw);
	memset(r, 0, offsetof(struct edge_req, fw));
	r->key_len = -1;
	r->cache_status = "-";
}

bool
edge_req_idle(const struct edge_req *r)
{
	return r->fw.fetch == NULL && !r->fw.buffering && r->cf == NULL && r->slice == NULL;
}

void
edge_req_release(struct edge_req *r)
{
	edge_req_reset(r);
	free(r->head_buf);
	free(r->hdrs);
	free(r->key);
	free(r->up_buf);
	r->head_buf = NULL;
	r->hdrs = NULL;
	r->key = NULL;
	r->up_buf = NULL;
	r->head_cap = r->hdrs_cap = r->key_cap = r->up_cap = 0;
}

/* Moves every view of the parsed request from the input buffer to head_buf. */
static void
req_rebase(struct edge_req *req, const char *from)
{
	struct h1_request *r = &req->h1;
	const char *to = req->head_buf;

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

void
edge_req_set_head(struct edge_req *req, const struct h1_request *h1, const char *head)
{
	req->h1 = *h1;
	if (req->h1.head_len > req->head_cap) {
		free(req->head_buf);
		req->head_cap = req->h1.head_len < 1024 ? 1024 : req->h1.head_len;
		req->head_buf = xmalloc(req->head_cap);
	}
	memcpy(req->head_buf, head, req->h1.head_len);
	if (req->h1.n_headers > req->hdrs_cap) {
		free(req->hdrs);
		req->hdrs_cap = req->h1.n_headers < 16 ? 16 : req->h1.n_headers;
		req->hdrs = xmalloc(req->hdrs_cap * sizeof *req->hdrs);
	}
	if (req->h1.n_headers > 0)
		memcpy(req->hdrs, req->h1.headers, req->h1.n_headers * sizeof *req->hdrs);
	req->h1.headers = req->hdrs;
	req_rebase(req, head);
}

/*
 * RFC 9110 §7.4 / RFC 6066 §3: a request on a TLS connection must be for the
 * site the SNI named (its certificate was chosen for that name); one whose
 * Host selects another site is answered 421.  Without SNI any Host goes.
 */
static bool
req_sni_mismatch(const struct edge_req *req, const struct config_site *site)
{
	const char *sni = SSL_get_servername(req->sess->ssl, TLSEXT_NAMETYPE_host_name);
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
	return config_site_for_host(req->sess->gen->cfg, lc, n) != site;
}

/* redirect_https: 308 to the same target over https (default port). */
static void
req_redirect_https(struct edge_req *req)
{
	const struct h1_request *r = &req->h1;
	char loc[64 + 256 + 8192 + 32];
	struct edge_resp resp;
	int n;

	if (r->path.len > 8192) {
		edge_req_send_error(req, 414, "URI too long");
		return;
	}
	n = snprintf(loc, sizeof loc, "https://%s%.*s", req->host_lc, (int)r->path.len, r->path.p);
	edge_resp_own(&resp, req, 308, NULL, NULL, false);
	edge_resp_add(&resp, STR_LIT("Location"), str_make(loc, (size_t)n));
	edge_req_send_own(req, &resp);
}

/* routes[].redirect: answered by the node from the route's template. */
static void
req_redirect_route(struct edge_req *req, struct str npath, const struct edge_route_caps *caps)
{
	const struct h1_request *r = &req->h1;
	const char *q = memchr(r->path.p, '?', r->path.len);
	struct edge_route_vars v = {
	    .scheme = req->sess->tls ? STR_LIT("https") : STR_LIT("http"),
	    .host = str_make(req->host_lc, req->host_lc_len),
	    .path = npath,
	    .query = q ? str_make(q + 1, r->path.len - (size_t)(q - r->path.p) - 1) : STR_NULL,
	    .request_uri = r->path,
	    .caps = caps,
	};
	char *loc = req->sess->w->key_scratch;
	struct edge_resp resp;
	int n;

	/* room as when the field line was built here ("Location: " and CRLF) */
	n = edge_route_expand(
	    req->route->redirect_to, &v, loc, sizeof req->sess->w->key_scratch - 12);
	if (n < 0) {
		edge_req_send_error(req, 414, "URI too long");
		return;
	}
	edge_resp_own(&resp, req, (int)req->route->redirect_status, "redirect\n", NULL, false);
	edge_resp_add(&resp, STR_LIT("Location"), str_make(loc, (size_t)n));
	edge_req_send_own(req, &resp);
}

/* The target sent to the origin: a copy of a, then b (the connection's
 * buffer, kept across requests). */
static void
req_set_up_target(struct edge_req *req, struct str a, struct str b)
{
	size_t n = a.len + b.len;

	if (n + 1 > req->up_cap) {
		free(req->up_buf);
		req->up_cap = n + 1 < 256 ? 256 : n + 1;
		req->up_buf = xmalloc(req->up_cap);
	}
	memcpy(req->up_buf, a.p, a.len);
	if (b.len > 0)
		memcpy(req->up_buf + a.len, b.p, b.len);
	req->up_buf[n] = '\0';
	req->up_target = str_make(req->up_buf, n);
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
req_route_upstream(struct edge_req *req, struct str npath, struct str query)
{
	const struct config_route *route = req->route;
	const struct h1_request *r = &req->h1;
	size_t raw_len = query.p != NULL ? (size_t)(query.p - r->path.p) : r->path.len;
	int n;

	req->pool = route->pool;
	if (edge_route_canary(route, str_cstr(req->sess->client.text), r->headers, r->n_headers))
		req->pool = route->canary_pool;
	else if (route->geo_pools != NULL)
		req->pool = edge_guard_geo_pool(req->sess->gen->cfg, route, &req->sess->client,
		    &req->sess->guard, req->sess->gen->opool);
	req->up_host = route->origin_host != NULL ? str_cstr(route->origin_host) : r->authority;
	req->up_target = r->path;
	n = edge_route_rewrite(route, npath, query, req->sess->w->route_md,
	    req->sess->w->key_scratch, sizeof req->sess->w->key_scratch);
	if (n < 0) {
		edge_req_send_error(req, 414, "URI too long (after rewrite)");
		return false;
	}
	if (n > 0)
		req_set_up_target(req, str_make(req->sess->w->key_scratch, (size_t)n), STR_NULL);
	else if (npath.len != raw_len || memcmp(npath.p, r->path.p, raw_len) != 0)
		req_set_up_target(req, npath, query);
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
req_get_body(struct edge_req *req, bool *ka)
{
	struct h1_request *r = &req->h1;

	if (r->body == H1_BODY_NONE ||
	    (!str_eq(r->method, STR_LIT("GET")) && !str_eq(r->method, STR_LIT("HEAD"))))
		return true;
	if (r->body == H1_BODY_LENGTH && r->content_length == 0) {
		r->body = H1_BODY_NONE;
		req->sess->keep_alive = *ka; /* nothing left unread */
		return true;
	}
	switch (req->route->get_body) {
	case CONFIG_GET_BODY_REJECT:
		edge_req_send_error(req, 400, "bad request: a GET or HEAD with a body");
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
	req->sess->keep_alive = false;
	return true;
}

/*
 * The request's steps: recv → route → key → lookup → hit, or miss / pass
 * (edge_forward.c).  Each step that answers the request (an error, a
 * redirect, a hit) returns false, and the request is handled from there.
 */

/* A valid hop marker (origin_sibling.h): a sibling asks for a key this node
 * owns, for a client whose scheme its X-Forwarded-Proto gives.  A marker
 * that does not verify is a client's: ignored (and never forwarded). */
static void
req_sibling_marker(struct edge_req *req)
{
	const struct h1_request *r = &req->h1;
	const struct h1_header *h =
	    h1_header_find(r->headers, r->n_headers, STR_LIT(ORIGIN_SIBLING_FIELD));
	const struct h1_header *proto;

	if (h == NULL || !origin_sibling_check(&req->sess->gen->cfg->siblings, h->value, r->method,
	                     r->authority, r->path, time_now()))
		return;
	req->from_sibling = true;
	proto = h1_header_find(r->headers, r->n_headers, STR_LIT("X-Forwarded-Proto"));
	req->sibling_https = proto != NULL && str_eq_nocase(proto->value, STR_LIT("https"));
	EDGE_COUNT(&req->sess->w->metrics, sibling_requests_total);
}

/* recv: the request as received, before any site: keep-alive (*ka, what
 * the client allows), CONNECT, PURGE from a purge client, OPTIONS *, and the
 * Host lowercased for the site and the key. */
static bool
req_step_recv(struct edge_req *req, bool *ka)
{
	struct edge_worker *w = req->sess->w;
	const struct h1_request *r = &req->h1;

	EDGE_COUNT(&w->metrics, requests_total);
	req->sess->requests++;
	edge_guard_client(req->sess->gen->cfg, &req->sess->peer_addr, req->sess->peer, r->headers,
	    r->n_headers, &req->sess->client);
	if (req->sess->gen->cfg->geo != NULL) /* requests by country */
		edge_metrics_country(&w->metrics,
		    edge_guard_country(req->sess->gen->cfg, &req->sess->client, &req->sess->guard));
	*ka = r->keep_alive && !w->draining && !req->sess->client_eof;
	/* A request body is read only on the way to the origin: an answer of
	 * the node's own (a hit, 304/412/416, OPTIONS *, an error, a redirect)
	 * closes the connection, so unread body bytes are never taken for the
	 * next request (smuggling).  Keep-alive comes back below for the
	 * origin. */
	req->sess->keep_alive = *ka && r->body == H1_BODY_NONE;
	req->key_len = -1;
	req->cache_status = "-";
	req->site = NULL;

	if (r->form == H1_TARGET_AUTHORITY) {
		edge_req_send_error(req, 501, "CONNECT is not supported");
		return false;
	}
	if (edge_purge_request(req)) /* PURGE from an address of purge.client_listeners */
		return false;
	if (r->form == H1_TARGET_ASTERISK) {
		struct edge_resp resp;

		edge_resp_own(&resp, req, 200, NULL, NULL, false);
		edge_resp_add(&resp, STR_LIT("Allow"),
		    STR_LIT("GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS"));
		edge_req_send_own(req, &resp);
		return false;
	}
	if (r->host.len >= sizeof req->host_lc) {
		edge_req_send_error(req, 400, "bad request: host name too long");
		return false;
	}
	for (size_t i = 0; i < r->host.len; i++)
		req->host_lc[i] = (char)str_lower((unsigned char)r->host.p[i]);
	req->host_lc_len = r->host.len;
	req->host_lc[req->host_lc_len] = '\0';
	if (req->sess->gen->cfg->siblings.enabled)
		req_sibling_marker(req);
	return true;
}

void
edge_req_uncount(struct edge_req *r)
{
	if (!r->ip_counted)
		return;
	edge_ip_leave(r->sess->w->srv->req_ip, r->ip_slot);
	r->ip_counted = false;
}

/* limits.requests_per_ip: the requests in progress from the client's
 * address (over every connection and worker, HTTP/2 streams included); a
 * verified sibling speaks for many clients and is not counted.  False after
 * answering 429. */
static bool
req_count_client(struct edge_req *req)
{
	unsigned limit = req->sess->gen->cfg->max_requests_per_ip;

	if (limit == 0 || req->from_sibling || req->ip_counted || req->sess->w->srv->req_ip == NULL)
		return true;
	if (edge_ip_enter_addr(
	        req->sess->w->srv->req_ip, &req->sess->client.addr, limit, req->ip_slot)) {
		req->ip_counted = true;
		return true;
	}
	EDGE_COUNT(&req->sess->w->metrics, requests_limited_total);
	edge_req_send_typed(req, 429, "text/plain; charset=utf-8", "Retry-After", "1",
	    "too many requests in progress from this address\n");
	return false;
}

/* guard: the route's access rules and rate limit (edge_guard.c), before
 * anything else of the route; a refused request is answered here and never
 * reaches the cache or the origin. */
static bool
req_step_guard(struct edge_req *req)
{
	struct edge_guard_verdict v;
	char retry[16];

	if (!req_count_client(req))
		return false;

	if (edge_guard_check(
	        atomic_load_explicit(&req->sess->w->srv->rate_limits, memory_order_acquire),
	        req->sess->gen->cfg, req->site, req->route, &req->sess->client, req->h1.headers,
	        req->h1.n_headers, req->from_sibling, &req->sess->guard, &v))
		return true;
	if (v.status == 429) {
		EDGE_COUNT(&req->sess->w->metrics, rate_limited_total);
		snprintf(retry, sizeof retry, "%u", (unsigned)v.retry_after_s);
		edge_req_send_typed(
		    req, 429, "text/plain; charset=utf-8", "Retry-After", retry, v.body);
	} else {
		EDGE_COUNT(&req->sess->w->metrics, access_denied_total);
		edge_req_send_typed(req, v.status, "text/plain; charset=utf-8", NULL, NULL, v.body);
	}
	return false;
}

/* protect: the route's signed URL and bearer token (edge_token.c), after
 * guard; the signature parameters leave the query in head_buf, so neither
 * the cache key nor the origin's request holds them. */
static bool
req_step_protect(struct edge_req *req, struct str npath)
{
	struct h1_request *r = &req->h1;
	const char *q = memchr(r->path.p, '?', r->path.len);
	size_t qoff = q != NULL ? (size_t)(q - r->path.p) + 1 : r->path.len, old = r->path.len;
	struct edge_guard_verdict v;
	int n;

	/* a sibling's request: its signed URL was checked there (and its
	 * signature left the target), its token is checked here again */
	if (edge_guard_protect(req->route, req->from_sibling, npath,
	        q != NULL ? str_make(q + 1, r->path.len - qoff) : STR_NULL, &req->sess->client,
	        r->headers, r->n_headers, (int64_t)time_now(), &req->sess->guard,
	        req->sess->w->key_scratch, sizeof req->sess->w->key_scratch, &n, &v)) {
		/* the query is in head_buf (edge_req_set_head), and what is left
		 * is shorter */
		if (n >= 0 && q != NULL && q >= req->head_buf &&
		    q < req->head_buf + req->head_cap) {
			memcpy(req->head_buf + (q + 1 - req->head_buf), req->sess->w->key_scratch,
			    (size_t)n);
			r->path.len = n > 0 ? qoff + (size_t)n : qoff - 1;
			if (r->target.p + r->target.len == r->path.p + old)
				r->target.len -= old - r->path.len;
		}
		return true;
	}
	if (v.signed_url)
		EDGE_COUNT(&req->sess->w->metrics, signed_url_denied_total);
	else
		EDGE_COUNT(&req->sess->w->metrics, jwt_denied_total);
	edge_req_send_typed(req, v.status, "text/plain; charset=utf-8",
	    v.challenge != NULL ? "WWW-Authenticate" : "Cache-Control",
	    v.challenge != NULL ? v.challenge : "no-store", v.body);
	return false;
}

/* route: the site (and SNI), redirect_https, the route, its methods and
 * redirect, the upstream side (pool, target, Host), limits.body and
 * cache.get_body; *cached: the route caches. */
static bool
req_step_route(struct edge_req *req, bool *ka, bool *cached)
{
	struct edge_worker *w = req->sess->w;
	const struct config *cfg = req->sess->gen->cfg;
	const struct h1_request *r = &req->h1;
	const struct config_site *site;
	const struct config_route *route;
	struct str path;
	const char *q;
	struct edge_route_caps caps;
	struct str npath; /* the normalized path routes match on */

	site = config_site_for_host(cfg, req->host_lc, req->host_lc_len);
	if (site == NULL) {
		edge_req_send_error(
		    req, 421, "misdirected request: this node does not serve that host");
		return false;
	}
	if (req->sess->tls && req_sni_mismatch(req, site)) {
		edge_req_send_error(
		    req, 421, "misdirected request: Host names another site than SNI");
		return false;
	}
	req->site = site;
	if (!req->sess->tls && !req->sibling_https && site->redirect_https &&
	    req->sess->gen->tls != NULL) {
		req_redirect_https(req);
		return false;
	}
	path = r->path;
	q = memchr(path.p, '?', path.len);
	if (edge_route_path(
	        w->route_md, str_make(path.p, q ? (size_t)(q - path.p) : path.len), &npath) != 0) {
		edge_req_send_error(req, 400, "bad request: invalid request target");
		return false;
	}
	route = edge_route_select(site, npath, w->route_md, &caps);
	if (route == NULL) {
		edge_req_send_error(req, 404, "not found: no route for this path");
		return false;
	}
	req->route = route;
	if (!req_step_guard(req))
		return false;
	if (route->signed_url != NULL || route->jwt != NULL) {
		if (!req_step_protect(req, npath))
			return false;
		path = r->path; /* without the signature parameters */
		q = memchr(path.p, '?', path.len);
	}
	if (!edge_route_method_ok(route, r->method)) {
		/* allow_line: "Allow: <methods>\r\n" */
		struct edge_resp resp;

		edge_resp_own(&resp, req, 405, "method not allowed on this route\n", NULL, false);
		edge_resp_add(&resp, STR_LIT("Allow"),
		    str_make(route->allow_line + 7, strlen(route->allow_line) - 9));
		edge_req_send_own(req, &resp);
		return false;
	}
	if (route->redirect_to != NULL) {
		req_redirect_route(req, npath, &caps);
		return false;
	}
	if (!req_route_upstream(
	        req, npath, q ? str_make(q, path.len - (size_t)(q - path.p)) : STR_NULL))
		return false;
	if (cfg->max_body_bytes != 0 && r->body == H1_BODY_LENGTH &&
	    r->content_length > cfg->max_body_bytes) {
		edge_req_send_error(req, 413, "request body too large");
		return false;
	}
	*cached = cache_enabled(w->srv->cache) && route->cache;
	return !*cached || req_get_body(req, ka);
}

/* key: the route's cache key of the request (its override fields too when
 * cached), copied to the connection. */
static bool
req_step_key(struct edge_req *req, bool cached)
{
	struct edge_worker *w = req->sess->w;
	const struct config_route *route = req->route;
	const struct h1_request *r = &req->h1;

	req->key_len = edge_route_key(route, req->pool,
	    req->sess->tls || req->sibling_https ? STR_LIT("https") : STR_LIT("http"),
	    str_make(req->host_lc, req->host_lc_len), r->port, r->path, w->key_scratch,
	    sizeof w->key_scratch);
	if (req->key_len >= 0 && route->vary_geo != CONFIG_VARY_GEO_NONE)
		req->key_len = edge_guard_key_geo(req->sess->gen->cfg, route, &req->sess->client,
		    &req->sess->guard, w->key_scratch, (size_t)req->key_len, sizeof w->key_scratch);
	if (req->key_len >= 0 && cached && route->override_key)
		req->key_len = edge_route_key_fields(route, r->headers, r->n_headers,
		    w->key_scratch, (size_t)req->key_len, sizeof w->key_scratch);
	if (req->key_len < 0) {
		edge_req_send_error(req, 400, "bad request: invalid request target");
		return false;
	}
	if ((size_t)req->key_len + 1 > req->key_cap) {
		free(req->key);
		req->key_cap = (size_t)req->key_len + 1 < 256 ? 256 : (size_t)req->key_len + 1;
		req->key = xmalloc(req->key_cap);
	}
	memcpy(req->key, w->key_scratch, (size_t)req->key_len + 1);
	return true;
}

/* lookup: RAM, then the disk tier (what it has is promoted to RAM), the
 * variant the request selects when the URL has several.  A usable object
 * answers (hit: false); a stale one, or one not fresh enough for this
 * request (RFC 9111 §4.3), is *stale, kept for revalidation and
 * stale-if-error. */
static bool
req_step_lookup(struct edge_req *req, struct cache_obj **stale)
{
	struct edge_worker *w = req->sess->w;
	const struct h1_request *r = &req->h1;
	struct cache_obj *o = NULL;
	time_t now = time_now();
	enum cache_use use;
	bool from_disk;

	if (cache_lookup(w->srv->cache, r, req->key, (size_t)req->key_len, now, &o, &from_disk) !=
	    0)
		return true;
	use = cache_policy_usable(r, o, now);
	if (use == CACHE_USE_NO) {
		*stale = o;
		return true;
	}
	if (from_disk) {
		EDGE_COUNT(&w->metrics, cache_disk_hits_total);
		req->disk_hit = true;
	}
	if (use == CACHE_USE_STALE) {
		/* RFC 9111 §4.2.4: the client's max-stale allows it */
		EDGE_COUNT(&w->metrics, cache_stale_served_total);
		req->stale_served = true;
		edge_deliver_stored(req, o, "hit; detail=max-stale");
	} else {
		edge_deliver_stored(req, o, "hit");
	}
	cache_obj_unref(&o);
	return false;
}

/* miss or pass: only-if-cached, stale-while-revalidate, then the request
 * goes to the origin (edge_forward.c): as a revalidation of stale, a miss
 * (collapsed onto the key's fill, or leading it) or a pass.  stale: owned. */
static void
req_step_forward(struct edge_req *req, enum cache_req creq, struct cache_obj *stale, bool ka)
{
	struct edge_worker *w = req->sess->w;
	const struct h1_request *r = &req->h1;

	req->fw_used = true;
	req->fw.revalidate = false;
	if (stale != NULL)
		req->fw.revalidate =
		    cache_policy_revalidation(r, stale, &req->fw.reval_inm, &req->fw.reval_ims);
	if (creq == CACHE_REQ_LOOKUP && cache_policy_only_if_cached(r)) {
		/* RFC 9111 §5.2.1.7: not stored fresh, and the client forbids a fetch */
		struct edge_resp resp;

		cache_obj_unref(&stale);
		EDGE_COUNT(&w->metrics, cache_misses_total);
		req->cache_status = "MISS";
		edge_resp_own(&resp, req, 504, "gateway timeout: not in cache (only-if-cached)\n",
		    NULL, false);
		edge_req_send_own(req, &resp);
		return;
	}
	/* stale-while-revalidate (RFC 5861 §3): within the response's window the
	 * stale object answers now and one background exchange per key and
	 * worker refreshes it; the client's request itself is not forwarded, so
	 * RFC 9211 says "hit" (detail says why the hit is stale). */
	if (stale != NULL && creq == CACHE_REQ_LOOKUP &&
	    cache_policy_stale_ok(r, stale, time_now(), CACHE_STALE_WHILE_REVALIDATE) &&
	    edge_forward_background(req, stale)) {
		EDGE_COUNT(&w->metrics, cache_stale_served_total);
		req->stale_served = true;
		edge_deliver_stored(req, stale, "hit; detail=stale-while-revalidate");
		cache_obj_unref(&stale);
		return;
	}
	if (creq == CACHE_REQ_PASS) {
		EDGE_COUNT(&w->metrics, cache_passes_total);
		req->cache_status = "PASS";
		/* RFC 9211 §2.2 fwd values */
		if (!cache_enabled(w->srv->cache) || !req->route->cache)
			req->fwd = "bypass";
		else if (!str_eq(r->method, STR_LIT("GET")) && !str_eq(r->method, STR_LIT("HEAD")))
			req->fwd = "method";
		else
			req->fwd = "request";
	} else if (req->fw.revalidate) {
		/* RFC 9211 §2.2: fwd=stale, a conditional request for a stale entry */
		req->cache_status = "MISS";
		req->fwd = "stale";
		req->fw.reval_client =
		    h1_header_find(r->headers, r->n_headers, STR_LIT("If-None-Match")) != NULL ||
		    h1_header_find(r->headers, r->n_headers, STR_LIT("If-Modified-Since")) != NULL;
		/* one revalidation per key: wait on the one in flight, or lead */
		if (creq == CACHE_REQ_LOOKUP && edge_collapse_begin(req, &stale))
			return;
		EDGE_COUNT(&w->metrics, cache_revalidations_total);
	} else if (creq == CACHE_REQ_LOOKUP && stale == NULL && edge_partial_answer(req)) {
		/* a range within a stored part of the object */
		return;
	} else {
		EDGE_COUNT(&w->metrics, cache_misses_total);
		req->cache_status = "MISS";
		/* a stale entry that cannot be revalidated (no validator, or the
		 * client's own preconditions) is forwarded as a miss; it is kept
		 * only for stale-if-error */
		req->fwd = "miss";
		/* a range of an object, or an object kept as slices
		 * (cache.slice): its slices answer */
		if (creq == CACHE_REQ_LOOKUP && stale == NULL && edge_slice_begin(req))
			return;
		/* wait on the fill in progress, or lead one */
		if (creq == CACHE_REQ_LOOKUP && edge_collapse_begin(req, &stale))
			return;
		/* a GET of an object with a stored first part asks the origin
		 * for the rest only */
		if (creq == CACHE_REQ_LOOKUP && stale == NULL)
			(void)edge_forward_complete_part(req);
	}
	req->sess->state = EDGE_SESS_PROXY;
	req->sess->keep_alive = ka; /* the request side reads the body */
	edge_forward_start(req, req->pool, creq != CACHE_REQ_PASS, stale);
}

/* ---- answers of the node's own ---- */

void
edge_req_send_error(struct edge_req *req, int status, const char *msg)
{
	edge_req_send_error_with(req, status, NULL, NULL, msg);
}

/* An error of the node's own (5xx) goes to the error log with the request's
 * id, for the operator to find its access log line and origin exchange. */
static void
req_log_own_5xx(struct edge_req *req, int status, const char *msg)
{
	struct str id;

	if (status < 500)
		return;
	id = edge_req_id(req);
	log_err("edge", "request %.*s: %d %s (%.*s %.*s%.*s from %s)", (int)id.len, id.p, status,
	    msg != NULL ? msg : "answered by the node", (int)req->h1.method.len, req->h1.method.p,
	    (int)req->host_lc_len, req->host_lc, (int)req->h1.path.len, req->h1.path.p,
	    req->sess->client.text);
}

void
edge_req_send_error_with(
    struct edge_req *req, int status, const char *name, const char *value, const char *msg)
{
	struct edge_resp r;

	edge_forward_abort(req);
	req->sess->keep_alive = false;
	req->status = status;
	req_log_own_5xx(req, status, msg);
	edge_resp_own(&r, req, status, msg, "\n", true);
	if (name != NULL)
		edge_resp_add(&r, str_make(name, strlen(name)), str_make(value, strlen(value)));
	(void)edge_resp_send(&r, req);
	if (status >= 400 && status < 500)
		EDGE_COUNT(&req->sess->w->metrics, client_errors_total);
	edge_req_finish(req); /* logged, then the connection closes */
}

void
edge_req_send_own(struct edge_req *req, struct edge_resp *r)
{
	req_log_own_5xx(req, r->status, NULL);
	(void)edge_resp_send(r, req);
	edge_req_finish(req);
}

void
edge_req_send_typed(struct edge_req *req, int status, const char *type, const char *name,
    const char *value, const char *body)
{
	struct edge_resp resp;

	edge_resp_own_typed(&resp, req, status, type, body, NULL, false);
	if (name != NULL)
		edge_resp_add(&resp, str_make(name, strlen(name)), str_make(value, strlen(value)));
	edge_req_send_own(req, &resp);
}

void
edge_req_handle(struct edge_req *req)
{
	struct cache_obj *stale = NULL;
	enum cache_req creq;
	bool ka, cached = false;

	/* a request starts on the newest configuration and keeps it to its end */
	(void)edge_gen_current(req->sess->w, &req->sess->gen);
	if (!req_step_recv(req, &ka) || !req_step_route(req, &ka, &cached) ||
	    !req_step_key(req, cached))
		return;
	creq = cached && req->h1.body == H1_BODY_NONE ? cache_policy_request(&req->h1)
	                                              : CACHE_REQ_PASS;
	if (creq == CACHE_REQ_LOOKUP && !req_step_lookup(req, &stale))
		return; /* a hit */
	req_step_forward(req, creq, stale, ka);
}
