/*
 * cache/cache_policy.c — may a shared cache store this response, and for how
 * long (RFC 9111 §3, §4.2, §5.2)?
 *
 * Model: pure functions over parsed messages (struct h1_request / h1_response
 * views); no allocation, no shared state, any thread.
 *
 * Deliberate simplifications until revalidation and Vary variants land, each
 * erring on the side of not storing:
 *  - only GET and HEAD, only status 200 (so must-understand is always
 *    satisfied and, per §5.2.2.3, no-store is then ignored);
 *  - a response with a validator (ETag or Last-Modified) that would need
 *    validation before any use — no-cache (with field names too: treated as
 *    unqualified, §5.2.2.4 allows it), max-age=0, already stale on arrival —
 *    is stored with its freshness lifetime (0 for no-cache) so that it can be
 *    revalidated (§4.3); without a validator it is not stored, since it could
 *    never be served;
 *  - private with field names is not stored either (§5.2.2.7 would allow
 *    storing without those fields);
 *  - Set-Cookie is never stored (house policy: it is per-user state);
 *  - Vary: * is not stored (other Vary lists are stored as variants);
 *  - no heuristic freshness (§4.2.2): without explicit freshness the
 *    operator's default_ttl_s applies, 0 meaning "do not store";
 *  - serving stale (RFC 5861) is allowed only from the response's own
 *    stale-if-error / stale-while-revalidate (or the request's
 *    stale-if-error), never for no-cache, must-revalidate, proxy-revalidate
 *    or s-maxage responses (§5.2.2.10: s-maxage implies proxy-revalidate);
 *    max-stale is not honoured (it only ever widens what may be served).
 */
#include "config.h"

#include "cache/cache.h"
#include "cache/cache_int.h"
#include "core/cc.h"
#include "core/timeutil.h"

#include <stdlib.h>

#define POLICY_DELTA_MAX 2147483648LL /* RFC 9111 §1.2.2 */

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

/* Age (RFC 9111 §5.1): delta-seconds; an invalid value is ignored (0). */
static int64_t
policy_age_value(const struct h1_header *hdrs, size_t n)
{
	size_t from = 0;
	const struct h1_header *h = policy_find(hdrs, n, STR_LIT("age"), &from);
	int64_t v = 0;

	if (h == NULL || h->value.len == 0)
		return 0;
	for (size_t i = 0; i < h->value.len; i++) {
		unsigned d = (unsigned char)h->value.p[i] - '0';

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

void
cache_policy_evaluate(const struct h1_request *req, const struct h1_response *resp,
    time_t request_time, time_t response_time, int64_t default_ttl_s, struct cache_policy *out)
{
	const struct h1_header *rh = resp->headers;
	size_t rn = resp->n_headers;
	struct cc qcc, scc;
	int64_t ttl;
	bool no_cache, validators;

	out->storable = false;
	out->ttl_s = 0;
	out->initial_age_s = policy_initial_age(resp, request_time, response_time);

	if (!policy_method_ok(req->method) || resp->status != 200)
		return;
	policy_cc(req->headers, req->n_headers, &qcc);
	policy_cc(rh, rn, &scc);

	/* §5.2.1.5: no-store in the request covers the response too. */
	if (qcc.flags & CC_NO_STORE)
		return;
	/* §5.2.2.5, with §5.2.2.3: must-understand on a status we understand
	 * (every status we store) overrides no-store. */
	if ((scc.flags & CC_NO_STORE) && !(scc.flags & CC_MUST_UNDERSTAND))
		return;
	/* §5.2.2.7: a shared cache must not store private responses. */
	if (scc.flags & (CC_PRIVATE | CC_PRIVATE_FIELDS))
		return;
	no_cache = (scc.flags & (CC_NO_CACHE | CC_NO_CACHE_FIELDS)) != 0;
	validators =
	    policy_has(rh, rn, STR_LIT("etag")) || policy_has(rh, rn, STR_LIT("last-modified"));
	if (no_cache && !validators)
		return;
	/* §3.5 */
	if (policy_has(req->headers, req->n_headers, STR_LIT("authorization")) &&
	    !(scc.flags & (CC_PUBLIC | CC_MUST_REVALIDATE)) && scc.s_maxage == CC_UNSET)
		return;
	if (policy_has(rh, rn, STR_LIT("set-cookie")))
		return;
	if (!policy_vary_ok(rh, rn))
		return;

	/* §4.2.1: s-maxage (shared caches), then max-age, then Expires - Date. */
	if (no_cache) {
		ttl = 0; /* §5.2.2.4: validate before every use */
	} else if (scc.s_maxage != CC_UNSET) {
		ttl = scc.s_maxage;
	} else if (scc.max_age != CC_UNSET) {
		ttl = scc.max_age;
	} else {
		size_t from = 0;
		const struct h1_header *exp = policy_find(rh, rn, STR_LIT("expires"), &from);
		time_t expires;

		if (exp != NULL) {
			/* §5.3: an invalid date (e.g. "0") means already expired. */
			if (time_parse_http_date(exp->value, &expires) != 0)
				ttl = 0;
			else
				ttl = (int64_t)expires - policy_date_value(rh, rn, response_time);
		} else if (default_ttl_s > 0) {
			ttl = default_ttl_s;
		} else {
			return; /* no freshness information and no default: not stored */
		}
	}
	/* Stale on arrival: only worth storing if it can be revalidated. */
	if ((ttl <= 0 || out->initial_age_s >= ttl) && !validators)
		return;
	out->ttl_s = ttl > 0 ? ttl : 0;
	out->storable = true;
}

enum cache_req
cache_policy_request(const struct h1_request *req)
{
	const struct h1_header *h;
	struct cc cc;
	size_t from = 0;

	if (!policy_method_ok(req->method))
		return CACHE_REQ_PASS;
	policy_cc(req->headers, req->n_headers, &cc);
	if (cc.flags & CC_NO_STORE)
		return CACHE_REQ_PASS;
	if (cc.flags & (CC_NO_CACHE | CC_NO_CACHE_FIELDS))
		return CACHE_REQ_REFRESH;
	if (cc.max_age == 0)
		return CACHE_REQ_REFRESH;
	/* RFC 9111 §5.4: Pragma: no-cache, for HTTP/1.0 clients. */
	while ((h = policy_find(req->headers, req->n_headers, STR_LIT("pragma"), &from)) != NULL) {
		struct str e;
		size_t pos = 0;

		while (str_list_next(h->value, &pos, &e))
			if (str_eq_nocase(e, STR_LIT("no-cache")))
				return CACHE_REQ_REFRESH;
	}
	return CACHE_REQ_LOOKUP;
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

	/* §4.3.4: the 304's validator selects the stored response to update. */
	if ((h = policy_find(resp->headers, resp->n_headers, STR_LIT("etag"), &from)) != NULL)
		return cache_obj_header(o, STR_LIT("ETag"), &v) &&
		       str_eq(str_trim_ows(h->value), v);
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
    int64_t default_ttl_s, struct cache_policy *out)
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
	cache_policy_evaluate(req, &merged, request_time, response_time, default_ttl_s, out);
	free(m);
}

bool
cache_policy_stale_ok(
    const struct h1_request *req, const struct cache_obj *o, time_t now, enum cache_stale why)
{
	struct cc scc, qcc;
	struct str v;
	size_t pos = 0;
	time_t stored_at;
	int64_t ttl, age0, staleness, window;

	cc_init(&scc);
	while (cache_obj_header_next(o, STR_LIT("Cache-Control"), &pos, &v))
		cc_parse(v, &scc);
	if ((scc.flags & (CC_NO_CACHE | CC_NO_CACHE_FIELDS | CC_MUST_REVALIDATE |
	                     CC_PROXY_REVALIDATE)) != 0 ||
	    scc.s_maxage != CC_UNSET)
		return false;
	cache_obj_times(o, &stored_at, &ttl, &age0);
	staleness = cache_obj_age(o, now) - ttl;
	if (staleness < 0)
		staleness = 0;
	window = why == CACHE_STALE_IF_ERROR ? scc.stale_if_error : scc.stale_while_revalidate;
	if (why == CACHE_STALE_IF_ERROR) {
		policy_cc(req->headers, req->n_headers, &qcc);
		/* RFC 5861 §4: the request's stale-if-error widens the window. */
		if (qcc.stale_if_error > window)
			window = qcc.stale_if_error;
	}
	return window != CC_UNSET && staleness <= window;
}
