/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cache/cache_policy.c — may a shared cache store this response, and for how
 * long (RFC 9111 §3, §4.2, §5.2)?
 *
 * Model: pure functions over parsed messages (struct h1_request / h1_response
 * views); no allocation, no shared state, any thread.
 *
 * Choices, each erring on the side of not storing or not serving stale:
 *  - only GET and HEAD; 206 (ranges) and 304 are never stored here;
 *  - a response with a validator (ETag or Last-Modified) that would need
 *    validation before any use — no-cache, max-age=0, already stale on
 *    arrival — is stored with its freshness lifetime (0 for no-cache) so that
 *    it can be revalidated (§4.3); without a validator it is stored only
 *    when stale-while-revalidate or stale-if-error (RFC 5861) may serve it,
 *    since it could never be served otherwise;
 *  - no-cache and private with field names (§5.2.2.4, §5.2.2.7) store the
 *    response without the listed fields (a later 304 may bring them back);
 *  - Set-Cookie (§7.3 lets a cache store it): stored with the response when
 *    the origin gave explicit freshness (it asked for the response to be
 *    shared); never on heuristic freshness or the operator's default TTL,
 *    where nobody said the cookie may be replayed to other clients;
 *  - Vary: * is not stored (other Vary lists are stored as variants);
 *  - CDN-Cache-Control and Surrogate-Control are stored with the response,
 *    so that they keep governing it after a 304 or a HEAD that does not
 *    repeat them (§4.3.4: the stored fields are updated, not replaced) and
 *    when serving stale; CDN-Cache-Control is relayed to clients (RFC 9213
 *    §3: CDNs "typically forward" it for the CDN caches downstream),
 *    Surrogate-Control is not (it is meant for surrogates, which we are);
 *  - serving stale (RFC 5861, max-stale, the operator's grace) is never
 *    allowed for no-cache, must-revalidate, proxy-revalidate or s-maxage
 *    responses (§5.2.2.10: s-maxage implies proxy-revalidate).
 */
#include "config.h"

#include "cache/cache.h"
#include "cache/cache_int.h"
#include "core/cc.h"
#include "core/timeutil.h"

#include <stdlib.h>
#include <string.h>

#define POLICY_DELTA_MAX 2147483648LL /* RFC 9111 §1.2.2 */

static bool policy_cc_never_stale(const struct cc *scc);

/* The next field line named name at or after *from (a field's value may be
 * split across lines, RFC 9110 §5.3, so callers loop). */
static const struct h1_header *
policy_find(const struct h1_header *hdrs, size_t n, struct str name, size_t *from)
{
	for (size_t i = *from; i < n; i++) {
		if (str_eq_nocase(hdrs[i].name, name)) {
			*from = i + 1;
			return &hdrs[i];
		}
	}
	*from = n;
	return NULL;
}

static bool
policy_has(const struct h1_header *hdrs, size_t n, struct str name)
{
	size_t from = 0;

	return policy_find(hdrs, n, name, &from) != NULL;
}

static void
policy_cc(const struct h1_header *hdrs, size_t n, struct cc *cc)
{
	const struct h1_header *h;
	size_t from = 0;

	cc_init(cc);
	while ((h = policy_find(hdrs, n, STR_LIT("cache-control"), &from)) != NULL)
		cc_parse(h->value, cc);
}

static bool
policy_method_ok(struct str method)
{
	/* RFC 9110 §9.1: method names are case-sensitive. */
	return str_eq(method, STR_LIT("GET")) || str_eq(method, STR_LIT("HEAD"));
}

/*
 * Vary (RFC 9110 §12.5.5, RFC 9111 §4.1): false for "*" (alone or in a list,
 * on any line), which no later request can match.  Any other list is stored
 * as a variant (cache_vary_key), so a content-coded body is shared only with
 * clients whose Accept-Encoding selects it.
 */
static bool
policy_vary_ok(const struct h1_header *hdrs, size_t n)
{
	const struct h1_header *h;
	size_t from = 0;

	while ((h = policy_find(hdrs, n, STR_LIT("vary"), &from)) != NULL) {
		struct str e;
		size_t pos = 0;

		while (str_list_next(h->value, &pos, &e))
			if (str_eq(str_trim_ows(e), STR_LIT("*")))
				return false;
	}
	return true;
}

/* Age (RFC 9111 §5.1): delta-seconds; an invalid value is ignored (0).  Sent
 * more than once, on several lines or as a list ("7200, 0"), the first value
 * counts (§4.2.1: "the first occurrence should be used"), so a repeated Age
 * never makes a response look younger than its first value says. */
static int64_t
policy_age_value(const struct h1_header *hdrs, size_t n)
{
	size_t from = 0, pos = 0;
	const struct h1_header *h = policy_find(hdrs, n, STR_LIT("age"), &from);
	struct str first;
	int64_t v = 0;

	if (h == NULL || !str_list_next(h->value, &pos, &first))
		return 0;
	first = str_trim_ows(first);
	if (first.len == 0)
		return 0;
	for (size_t i = 0; i < first.len; i++) {
		unsigned d = (unsigned char)first.p[i] - '0';

		if (d > 9)
			return 0;
		if (v <= POLICY_DELTA_MAX)
			v = v * 10 + d;
	}
	return v > POLICY_DELTA_MAX ? POLICY_DELTA_MAX : v;
}

/* Date (RFC 9110 §6.6.1); missing or invalid: the time the response arrived. */
static int64_t
policy_date_value(const struct h1_header *hdrs, size_t n, time_t response_time)
{
	size_t from = 0;
	const struct h1_header *h = policy_find(hdrs, n, STR_LIT("date"), &from);
	time_t t;

	if (h == NULL || time_parse_http_date(h->value, &t) != 0)
		return (int64_t)response_time;
	return (int64_t)t;
}

/* RFC 9111 §4.2.3 */
static int64_t
policy_initial_age(const struct h1_response *resp, time_t request_time, time_t response_time)
{
	int64_t date_value = policy_date_value(resp->headers, resp->n_headers, response_time);
	int64_t age_value = policy_age_value(resp->headers, resp->n_headers);
	int64_t apparent_age = (int64_t)response_time - date_value;
	int64_t response_delay = (int64_t)response_time - (int64_t)request_time;
	int64_t corrected_age_value;

	if (apparent_age < 0)
		apparent_age = 0; /* origin clock ahead of ours */
	if (response_delay < 0)
		response_delay = 0; /* our clock stepped back */
	corrected_age_value = age_value + response_delay;
	return apparent_age > corrected_age_value ? apparent_age : corrected_age_value;
}

/* RFC 9110 §15: the final status codes whose semantics we know (for
 * must-understand, §5.2.2.3); 206 and 304 are left out, we never store them. */
static bool
policy_status_understood(int status)
{
	static const short codes[] = {200, 201, 202, 203, 204, 205, 300, 301, 302, 303, 305, 307,
	    308, 400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415,
	    416, 417, 421, 422, 426, 500, 501, 502, 503, 504, 505};

	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
		if (codes[i] == status)
			return true;
	return false;
}

/* RFC 9110 §15.1: heuristically cacheable status codes. */
static bool
policy_status_heuristic(int status)
{
	static const short codes[] = {200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501};

	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
		if (codes[i] == status)
			return true;
	return false;
}

/* Where the response's caching policy comes from. */
enum policy_src {
	POLICY_SRC_CC = 0,    /* Cache-Control and Expires */
	POLICY_SRC_CDN,       /* CDN-Cache-Control (RFC 9213) */
	POLICY_SRC_SURROGATE, /* Surrogate-Control (Edge Architecture 1.0) */
};

/*
 * CDN-Cache-Control (RFC 9213 §2.1): the field is used when every line is a
 * valid Structured Field Dictionary and there is at least one member; else
 * it is ignored as a whole.
 */
static bool
policy_cdn_line(struct str v, struct cc *cc, int *members)
{
	int k = cc_parse_sf(v, cc);

	if (k < 0)
		return false; /* one bad line voids the field */
	*members += k;
	return true;
}

static bool
policy_cdn_cc(const struct h1_header *hdrs, size_t n, struct cc *cc)
{
	const struct h1_header *h;
	size_t from = 0;
	int members = 0;

	cc_init(cc);
	while ((h = policy_find(hdrs, n, STR_LIT("cdn-cache-control"), &from)) != NULL)
		if (!policy_cdn_line(h->value, cc, &members))
			return false;
	return members > 0;
}

/*
 * Surrogate-Control (Edge Architecture 1.0), the subset we honour: max-age
 * (a "+N" staleness suffix is ignored), no-store and no-store-remote (an edge
 * node is a remote surrogate).  A directive's ";target" is not told apart
 * from ours: we advertise no Surrogate-Capability, so we take every
 * directive as ours.  Used when it has at least one of those directives.
 */
static bool
policy_surrogate(const struct h1_header *hdrs, size_t n, struct cc *cc)
{
	const struct h1_header *h;
	size_t from = 0;
	bool any = false;

	cc_init(cc);
	while ((h = policy_find(hdrs, n, STR_LIT("surrogate-control"), &from)) != NULL) {
		struct str e;
		size_t pos = 0;

		while (str_list_next(h->value, &pos, &e)) {
			const char *semi = memchr(e.p, ';', e.len);
			const char *plus = memchr(e.p, '+', e.len);
			struct cc one;

			if (semi != NULL)
				e.len = (size_t)(semi - e.p);
			if (plus != NULL && plus < e.p + e.len)
				e.len = (size_t)(plus - e.p);
			if (str_eq_nocase(e, STR_LIT("no-store-remote")))
				e = STR_LIT("no-store");
			cc_init(&one);
			cc_parse(e, &one);
			if (one.flags & CC_NO_STORE) {
				cc->flags |= CC_NO_STORE;
				any = true;
			}
			if (one.max_age != CC_UNSET && cc->max_age == CC_UNSET) {
				cc->max_age = one.max_age;
				any = true;
			}
		}
	}
	return any;
}

static enum policy_src
policy_response_cc(const struct h1_header *hdrs, size_t n, struct cc *cc)
{
	if (policy_cdn_cc(hdrs, n, cc))
		return POLICY_SRC_CDN;
	if (policy_surrogate(hdrs, n, cc))
		return POLICY_SRC_SURROGATE;
	policy_cc(hdrs, n, cc);
	return POLICY_SRC_CC;
}

/* §4.2.2: 10 % of the time since Last-Modified, at most cap_s; -1 if there is
 * no usable Last-Modified. */
static int64_t
policy_heuristic(const struct h1_header *hdrs, size_t n, time_t response_time, int64_t cap_s)
{
	size_t from = 0;
	const struct h1_header *h = policy_find(hdrs, n, STR_LIT("last-modified"), &from);
	time_t lm;
	int64_t since;

	if (h == NULL || cap_s <= 0 || time_parse_http_date(h->value, &lm) != 0)
		return -1;
	since = policy_date_value(hdrs, n, response_time) - (int64_t)lm;
	if (since < 0)
		return -1;
	return since / 10 < cap_s ? since / 10 : cap_s;
}

void
cache_policy_evaluate_conf(const struct h1_request *req, const struct h1_response *resp,
    time_t request_time, time_t response_time, const struct cache_policy_conf *conf,
    struct cache_policy *out)
{
	const struct h1_header *rh = resp->headers;
	size_t rn = resp->n_headers;
	struct cc qcc, scc;
	enum policy_src src;
	int64_t ttl = 0;
	bool no_cache, validators, explicit = true;
	size_t from = 0;
	const struct h1_header *exp;

	out->storable = false;
	out->ttl_s = 0;
	out->initial_age_s = policy_initial_age(resp, request_time, response_time);

	/* §3: a final status; partial content and 304 are not stored here */
	if (!policy_method_ok(req->method) || resp->status < 200 || resp->status > 599 ||
	    resp->status == 206 || resp->status == 304)
		return;
	policy_cc(req->headers, req->n_headers, &qcc);
	src = policy_response_cc(rh, rn, &scc);

	/* §5.2.1.5: no-store in the request covers the response too. */
	if (qcc.flags & CC_NO_STORE)
		return;
	/* §5.2.2.3: must-understand stores only a status we understand, and
	 * then overrides no-store (§5.2.2.5). */
	if (scc.flags & CC_MUST_UNDERSTAND) {
		if (!policy_status_understood(resp->status))
			return;
	} else if (scc.flags & CC_NO_STORE) {
		return;
	}
	/* §5.2.2.7: a shared cache must not store private responses. */
	if (scc.flags & CC_PRIVATE)
		return;
	no_cache = (scc.flags & CC_NO_CACHE) != 0;
	validators =
	    policy_has(rh, rn, STR_LIT("etag")) || policy_has(rh, rn, STR_LIT("last-modified"));
	if (no_cache && !validators)
		return;
	/* §3.5 */
	if (policy_has(req->headers, req->n_headers, STR_LIT("authorization")) &&
	    !(scc.flags & (CC_PUBLIC | CC_MUST_REVALIDATE)) && scc.s_maxage == CC_UNSET)
		return;
	if (!policy_vary_ok(rh, rn))
		return;

	/* §4.2.1: s-maxage (shared caches), then max-age, then Expires - Date;
	 * RFC 9213 §2.1: Expires is ignored when another field rules. */
	if (scc.s_maxage != CC_UNSET) {
		ttl = scc.s_maxage;
	} else if (scc.max_age != CC_UNSET) {
		ttl = scc.max_age;
	} else if (src == POLICY_SRC_CC &&
	           (exp = policy_find(rh, rn, STR_LIT("expires"), &from)) != NULL) {
		time_t expires;

		/* §5.3: an invalid date (e.g. "0") means already expired. */
		if (time_parse_http_date(exp->value, &expires) != 0)
			ttl = 0;
		else
			ttl = (int64_t)expires - policy_date_value(rh, rn, response_time);
	} else {
		explicit = false;
	}
	if (!explicit) {
		/* No explicit freshness: the operator's default, else §4.2.2
		 * heuristics, for heuristically cacheable or public responses.
		 * Errors have a default of their own (short, or none): one
		 * request that makes the origin fail must not keep a URL
		 * failing for a TTL meant for content. */
		int64_t op_ttl = resp->status < 400 ? conf->default_ttl_s : conf->error_ttl_s;

		if (!policy_status_heuristic(resp->status) && !(scc.flags & CC_PUBLIC))
			return;
		if (policy_has(rh, rn, STR_LIT("set-cookie")))
			return;
		if (op_ttl > 0)
			ttl = op_ttl;
		else if ((ttl = policy_heuristic(rh, rn, response_time, conf->heuristic_max_s)) <
		             0 &&
		         !no_cache && !validators)
			return; /* no freshness information and no validator: not stored */
	}
	if (no_cache)
		ttl = 0; /* §5.2.2.4: validate before every use */
	/* Stale on arrival: only worth storing if it can be revalidated, or
	 * served stale (RFC 5861 §3, §4: the response allows it). */
	if ((ttl <= 0 || out->initial_age_s >= ttl) && !validators &&
	    ((scc.stale_while_revalidate <= 0 && scc.stale_if_error <= 0) ||
	        policy_cc_never_stale(&scc)))
		return;
	out->ttl_s = ttl > 0 ? ttl : 0;
	out->storable = true;
}

/* Does one no-cache="..." / private="..." argument list name the field? */
static bool
policy_arg_lists(struct str arg, struct str name)
{
	struct str e;
	size_t pos = 0;

	if (arg.len >= 2 && arg.p[0] == '"' && arg.p[arg.len - 1] == '"')
		arg = str_make(arg.p + 1, arg.len - 2);
	while (str_list_next(arg, &pos, &e))
		if (str_eq_nocase(e, name))
			return true;
	return false;
}

/* Is name listed by no-cache="..." or private="..." in resp's Cache-Control
 * (or CDN-Cache-Control)? */
static bool
policy_field_listed(const struct h1_response *resp, struct str name)
{
	const struct h1_header *h;

	for (size_t i = 0; i < resp->n_headers; i++) {
		struct str e;
		size_t pos = 0;

		h = &resp->headers[i];
		if (!str_eq_nocase(h->name, STR_LIT("cache-control")) &&
		    !str_eq_nocase(h->name, STR_LIT("cdn-cache-control")))
			continue;

		while (str_list_next(h->value, &pos, &e)) {
			const char *eq = memchr(e.p, '=', e.len);
			struct str d;

			if (eq == NULL)
				continue;
			d = str_make(e.p, (size_t)(eq - e.p));
			if ((str_eq_nocase(d, STR_LIT("no-cache")) ||
			        str_eq_nocase(d, STR_LIT("private"))) &&
			    policy_arg_lists(str_make(eq + 1, e.len - d.len - 1), name))
				return true;
		}
	}
	return false;
}

bool
cache_policy_consumed_field(struct str name)
{
	/* tags (Surrogate-Key as Fastly, Cache-Tag as Cloudflare) are kept
	 * with the object for purges by tag (cache_ban.c) */
	return str_eq_nocase(name, STR_LIT("Surrogate-Control")) ||
	       str_eq_nocase(name, STR_LIT("Surrogate-Key")) ||
	       str_eq_nocase(name, STR_LIT("Cache-Tag"));
}

bool
cache_policy_store_field(const struct h1_response *resp, const struct h1_header *h)
{
	if (str_eq_nocase(h->name, STR_LIT("Content-Length")) ||
	    str_eq_nocase(h->name, STR_LIT("Transfer-Encoding")) ||
	    str_eq_nocase(h->name, STR_LIT("Age")) ||
	    h1_is_hop_by_hop(h->name, resp->headers, resp->n_headers))
		return false;
	return !policy_field_listed(resp, h->name);
}

void
cache_policy_evaluate(const struct h1_request *req, const struct h1_response *resp,
    time_t request_time, time_t response_time, int64_t default_ttl_s, struct cache_policy *out)
{
	struct cache_policy_conf conf = {default_ttl_s, CACHE_HEURISTIC_MAX_DEFAULT, 0, 0};

	cache_policy_evaluate_conf(req, resp, request_time, response_time, &conf, out);
}

/* RFC 9111 §5.4: Pragma: no-cache counts only without Cache-Control. */
static bool
policy_pragma_no_cache(const struct h1_request *req)
{
	const struct h1_header *h;
	size_t from = 0;

	if (policy_has(req->headers, req->n_headers, STR_LIT("cache-control")))
		return false;
	while ((h = policy_find(req->headers, req->n_headers, STR_LIT("pragma"), &from)) != NULL) {
		struct str e;
		size_t pos = 0;

		while (str_list_next(h->value, &pos, &e))
			if (str_eq_nocase(e, STR_LIT("no-cache")))
				return true;
	}
	return false;
}

enum cache_req
cache_policy_request(const struct h1_request *req)
{
	struct cc cc;

	if (!policy_method_ok(req->method))
		return CACHE_REQ_PASS;
	policy_cc(req->headers, req->n_headers, &cc);
	if (cc.flags & CC_NO_STORE)
		return CACHE_REQ_PASS;
	return CACHE_REQ_LOOKUP;
}

/* The stored response's directives: its CDN-Cache-Control when that is a
 * valid, non-empty Dictionary (RFC 9213 §2.1), else its Cache-Control. */
static void
policy_obj_cc(const struct cache_obj *o, struct cc *cc)
{
	struct str v;
	size_t pos = 0;
	int members = 0;

	cc_init(cc);
	while (cache_obj_header_next(o, STR_LIT("CDN-Cache-Control"), &pos, &v))
		if (!policy_cdn_line(v, cc, &members)) {
			members = 0;
			break;
		}
	if (members > 0)
		return;
	cc_init(cc);
	pos = 0;
	while (cache_obj_header_next(o, STR_LIT("Cache-Control"), &pos, &v))
		cc_parse(v, cc);
}

/* §4.2.4, §5.2.2.2, §5.2.2.8, §5.2.2.10: directives that forbid serving o stale. */
static bool
policy_cc_never_stale(const struct cc *scc)
{
	return (scc->flags & (CC_NO_CACHE | CC_NO_CACHE_FIELDS | CC_MUST_REVALIDATE |
	                         CC_PROXY_REVALIDATE)) != 0 ||
	       scc->s_maxage != CC_UNSET;
}

bool
cache_policy_never_stale(const struct cache_obj *o)
{
	struct cc scc;

	policy_obj_cc(o, &scc);
	return policy_cc_never_stale(&scc);
}

/* Seconds o has been stale at now (<= 0: fresh). */
static int64_t
policy_staleness(const struct cache_obj *o, time_t now)
{
	time_t stored_at;
	int64_t ttl, age0;

	cache_obj_times(o, &stored_at, &ttl, &age0);
	return cache_obj_age(o, now) - ttl;
}

enum cache_use
cache_policy_usable(const struct h1_request *req, const struct cache_obj *o, time_t now)
{
	struct cc qcc;
	int64_t age = cache_obj_age(o, now);
	int64_t staleness = policy_staleness(o, now);

	policy_cc(req->headers, req->n_headers, &qcc);
	if ((qcc.flags & (CC_NO_CACHE | CC_NO_CACHE_FIELDS)) || policy_pragma_no_cache(req))
		return CACHE_USE_NO;
	if (qcc.max_age != CC_UNSET && age > qcc.max_age)
		return CACHE_USE_NO;
	/* min-fresh: fresh for at least N more seconds (-staleness left) */
	if (qcc.min_fresh != CC_UNSET && -staleness < qcc.min_fresh)
		return CACHE_USE_NO;
	if (staleness < 0)
		return CACHE_USE_FRESH;
	if (!(qcc.flags & CC_MAX_STALE_ANY) &&
	    (qcc.max_stale == CC_UNSET || staleness > qcc.max_stale))
		return CACHE_USE_NO;
	return cache_policy_never_stale(o) ? CACHE_USE_NO : CACHE_USE_STALE;
}

bool
cache_policy_only_if_cached(const struct h1_request *req)
{
	struct cc cc;

	policy_cc(req->headers, req->n_headers, &cc);
	return (cc.flags & CC_ONLY_IF_CACHED) != 0;
}

/* One entity-tag (RFC 9110 §8.8.3): W/"opaque" or "opaque". */
static bool
policy_etag_parse(struct str s, struct str *opaque, bool *weak)
{
	*weak = s.len >= 2 && s.p[0] == 'W' && s.p[1] == '/';
	if (*weak) {
		s.p += 2;
		s.len -= 2;
	}
	if (s.len < 2 || s.p[0] != '"' || s.p[s.len - 1] != '"')
		return false;
	*opaque = str_make(s.p + 1, s.len - 2);
	return true;
}

/* Does the list (If-Match / If-None-Match value) match the stored ETag? */
static bool
policy_etag_match(struct str list, const struct cache_obj *o, bool strong)
{
	struct str stored, so, e;
	bool sweak;
	size_t pos = 0;

	if (str_eq(str_trim_ows(list), STR_LIT("*")))
		return true;
	if (!cache_obj_header(o, STR_LIT("ETag"), &stored) ||
	    !policy_etag_parse(stored, &so, &sweak))
		return false;
	if (strong && sweak)
		return false;
	while (str_list_next(list, &pos, &e)) {
		struct str eo;
		bool eweak;

		if (!policy_etag_parse(e, &eo, &eweak))
			continue;
		if (strong && eweak)
			continue;
		if (str_eq(eo, so))
			return true;
	}
	return false;
}

/* The stored response's Last-Modified, else its Date; false if neither. */
static bool
policy_stored_mtime(const struct cache_obj *o, time_t *t)
{
	struct str v;

	if (cache_obj_header(o, STR_LIT("Last-Modified"), &v) && time_parse_http_date(v, t) == 0)
		return true;
	return cache_obj_header(o, STR_LIT("Date"), &v) && time_parse_http_date(v, t) == 0;
}

enum cache_cond
cache_policy_conditional(const struct h1_request *req, const struct cache_obj *o)
{
	const struct h1_header *h;
	size_t from = 0;
	time_t when, mtime;
	struct str lm;
	bool get_or_head = policy_method_ok(req->method);

	if ((h = policy_find(req->headers, req->n_headers, STR_LIT("if-match"), &from)) != NULL) {
		if (!policy_etag_match(h->value, o, true))
			return CACHE_COND_FAILED;
	} else if ((from = 0, h = policy_find(req->headers, req->n_headers,
	                          STR_LIT("if-unmodified-since"), &from)) != NULL &&
	           time_parse_http_date(h->value, &when) == 0 &&
	           cache_obj_header(o, STR_LIT("Last-Modified"), &lm) &&
	           time_parse_http_date(lm, &mtime) == 0 && mtime > when) {
		/* §13.1.4: ignored when the representation has no Last-Modified */
		return CACHE_COND_FAILED;
	}
	from = 0;
	if ((h = policy_find(req->headers, req->n_headers, STR_LIT("if-none-match"), &from)) !=
	    NULL) {
		if (policy_etag_match(h->value, o, false))
			return get_or_head ? CACHE_COND_NOT_MODIFIED : CACHE_COND_FAILED;
		return CACHE_COND_NONE;
	}
	from = 0;
	if (get_or_head &&
	    (h = policy_find(req->headers, req->n_headers, STR_LIT("if-modified-since"), &from)) !=
	        NULL &&
	    time_parse_http_date(h->value, &when) == 0 && policy_stored_mtime(o, &mtime) &&
	    mtime <= when)
		return CACHE_COND_NOT_MODIFIED;
	return CACHE_COND_NONE;
}

/* ---- revalidation and stale responses (RFC 9111 §4.3, RFC 5861) ---- */

static bool
policy_req_has(const struct h1_request *req, const char *name)
{
	size_t from = 0;

	return policy_find(req->headers, req->n_headers, str_cstr(name), &from) != NULL;
}

bool
cache_policy_revalidation(
    const struct h1_request *req, const struct cache_obj *o, bool *add_inm, bool *add_ims)
{
	struct str v;
	bool etag = cache_obj_header(o, STR_LIT("ETag"), &v);
	bool lm = cache_obj_header(o, STR_LIT("Last-Modified"), &v);
	bool c_inm = policy_req_has(req, "if-none-match");
	bool c_ims = policy_req_has(req, "if-modified-since");

	*add_inm = false;
	*add_ims = false;
	if (!etag && !lm)
		return false;
	if (policy_req_has(req, "if-match") || policy_req_has(req, "if-unmodified-since") ||
	    policy_req_has(req, "if-range"))
		return false;
	/* The client's own validators go to the origin as they are; a 304 to
	 * them validates our response only if they select it. */
	if ((c_inm || c_ims) && cache_policy_conditional(req, o) != CACHE_COND_NOT_MODIFIED)
		return false;
	*add_inm = etag && !c_inm;
	*add_ims = lm && !c_ims;
	return true;
}

bool
cache_policy_304_applies(
    const struct cache_obj *o, const struct h1_response *resp, bool client_validators)
{
	size_t from = 0;
	const struct h1_header *h;
	struct str v;

	/* §4.3.4: the 304's validator selects the stored response to update: a
	 * strong one by strong comparison, a weak one by weak comparison
	 * (W/"x" selects a stored "x": origins weaken tags when they compress). */
	if ((h = policy_find(resp->headers, resp->n_headers, STR_LIT("etag"), &from)) != NULL) {
		struct str val = str_trim_ows(h->value), opaque;
		bool weak;

		if (cache_obj_header(o, STR_LIT("ETag"), &v) && str_eq(val, v))
			return true;
		return policy_etag_parse(val, &opaque, &weak) && weak &&
		       policy_etag_match(val, o, false);
	}
	from = 0;
	if ((h = policy_find(resp->headers, resp->n_headers, STR_LIT("last-modified"), &from)) !=
	    NULL)
		return cache_obj_header(o, STR_LIT("Last-Modified"), &v) &&
		       str_eq(str_trim_ows(h->value), v);
	/* No validator in the 304: it answers our validators only if the
	 * client sent none of its own. */
	return !client_validators;
}

void
cache_policy_evaluate_304(const struct h1_request *req, const struct cache_obj *o,
    const struct h1_response *resp, time_t request_time, time_t response_time,
    const struct cache_policy_conf *conf, struct cache_policy *out)
{
	struct h1_header *m = NULL;
	ssize_t n = cache_obj_merge_fields(o, resp->headers, resp->n_headers, &m);
	struct h1_response merged;

	if (n < 0) {
		out->storable = false;
		out->ttl_s = 0;
		out->initial_age_s = 0;
		return;
	}
	merged = *resp;
	merged.status = 200;
	merged.headers = m;
	merged.n_headers = (size_t)n;
	cache_policy_evaluate_conf(req, &merged, request_time, response_time, conf, out);
	free(m);
}

/* The request asks for something fresher than a stale answer (§5.2.1). */
static bool
policy_req_wants_fresh(const struct h1_request *req, const struct cc *qcc)
{
	return (qcc->flags & (CC_NO_CACHE | CC_NO_CACHE_FIELDS)) || qcc->max_age != CC_UNSET ||
	       qcc->min_fresh != CC_UNSET || policy_pragma_no_cache(req);
}

bool
cache_policy_stale_ok(
    const struct h1_request *req, const struct cache_obj *o, time_t now, enum cache_stale why)
{
	struct cc scc, qcc;
	int64_t staleness, window;

	policy_obj_cc(o, &scc);
	if (policy_cc_never_stale(&scc))
		return false;
	policy_cc(req->headers, req->n_headers, &qcc);
	staleness = policy_staleness(o, now);
	if (staleness < 0)
		staleness = 0;
	if (why == CACHE_STALE_WHILE_REVALIDATE) {
		window = scc.stale_while_revalidate;
		if (policy_req_wants_fresh(req, &qcc))
			return false;
	} else {
		window = scc.stale_if_error;
		/* RFC 5861 §4: the request's stale-if-error widens the window. */
		if (qcc.stale_if_error > window)
			window = qcc.stale_if_error;
	}
	return window != CC_UNSET && staleness <= window;
}

bool
cache_policy_grace_ok(
    const struct h1_request *req, const struct cache_obj *o, time_t now, int64_t grace_s)
{
	struct cc qcc;

	if (grace_s <= 0 || policy_staleness(o, now) > grace_s || cache_policy_never_stale(o))
		return false;
	policy_cc(req->headers, req->n_headers, &qcc);
	return !(qcc.flags & (CC_NO_CACHE | CC_NO_CACHE_FIELDS)) && !policy_pragma_no_cache(req);
}
