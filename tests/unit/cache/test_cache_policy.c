/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/cache/test_cache_policy.c — storability, freshness and Age
 * (RFC 9111 §3, §4.2), table-driven over hand-built h1 messages.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cache/cache.h"
#include "core/timeutil.h"
#include "tests/unit/tap.h"

#define MAX_HDRS 8

/* request_time = T0, response_time = T0 + 2 unless a case says otherwise */
#define T0            784111777 /* Sun, 06 Nov 1994 08:49:37 GMT */
#define DATE_T0       "Sun, 06 Nov 1994 08:49:37 GMT"
#define DATE_T0_M100  "Sun, 06 Nov 1994 08:47:57 GMT" /* T0 - 100 */
#define DATE_T0_P100  "Sun, 06 Nov 1994 08:51:17 GMT" /* T0 + 100 */
#define DATE_T0_P600  "Sun, 06 Nov 1994 08:59:37 GMT" /* T0 + 600 */
#define DATE_T0_P3600 "Sun, 06 Nov 1994 09:49:37 GMT" /* T0 + 3600 */
#define DATE_T0_M1000 "Sun, 06 Nov 1994 08:32:57 GMT" /* T0 - 1000 */
#define DATE_T0_M20D  "Mon, 17 Oct 1994 08:49:37 GMT" /* T0 - 20 days */

struct policy_case {
	const char *name;
	const char *method;
	int status;
	const char *req_hdrs[MAX_HDRS]; /* "Name: value" */
	const char *resp_hdrs[MAX_HDRS];
	int64_t default_ttl;
	bool storable;
	int64_t ttl;
	int64_t age;
};

static const struct policy_case cases[] = {
    /* freshness sources (Date = request_time, 2 s delay → age 2) */
    {"max-age", "GET", 200, {0}, {"Date: " DATE_T0, "Cache-Control: max-age=60"}, 0, true, 60, 2},
    {"s-maxage over max-age", "GET", 200, {0},
        {"Date: " DATE_T0, "Cache-Control: max-age=60, s-maxage=600"}, 0, true, 600, 2},
    {"s-maxage=0 wins over max-age", "GET", 200, {0},
        {"Date: " DATE_T0, "Cache-Control: max-age=60, s-maxage=0"}, 0, false, 0, 2},
    {"max-age over Expires", "GET", 200, {0},
        {"Date: " DATE_T0, "Expires: " DATE_T0_P3600, "Cache-Control: max-age=60"}, 0, true, 60, 2},
    {"Expires - Date", "GET", 200, {0}, {"Date: " DATE_T0, "Expires: " DATE_T0_P600}, 0, true, 600,
        2},
    {"Expires without Date uses response_time", "GET", 200, {0}, {"Expires: " DATE_T0_P600}, 0,
        true, 598, 2},
    {"Expires in the past", "GET", 200, {0}, {"Date: " DATE_T0, "Expires: " DATE_T0_M100}, 0, false,
        0, 2},
    {"invalid Expires is expired", "GET", 200, {0}, {"Date: " DATE_T0, "Expires: 0"}, 3600, false,
        0, 2},
    {"Expires equal to Date", "GET", 200, {0}, {"Date: " DATE_T0, "Expires: " DATE_T0}, 0, false, 0,
        2},
    {"default ttl", "GET", 200, {0}, {"Date: " DATE_T0}, 300, true, 300, 2},
    {"no freshness, no default", "GET", 200, {0}, {"Date: " DATE_T0}, 0, false, 0, 2},
    {"max-age=0", "GET", 200, {0}, {"Date: " DATE_T0, "Cache-Control: max-age=0"}, 300, false, 0,
        2},
    {"invalid max-age is stale", "GET", 200, {0}, {"Date: " DATE_T0, "Cache-Control: max-age=soon"},
        300, false, 0, 2},
    {"Cache-Control split over lines", "GET", 200, {0},
        {"Date: " DATE_T0, "Cache-Control: public", "cache-control: max-age=90"}, 0, true, 90, 2},
    /* Age, §4.2.3 */
    {"upstream Age added to delay", "GET", 200, {0},
        {"Date: " DATE_T0, "Age: 30", "Cache-Control: max-age=60"}, 0, true, 60, 32},
    {"apparent age beats Age", "GET", 200, {0},
        {"Date: " DATE_T0_M100, "Age: 10", "Cache-Control: max-age=600"}, 0, true, 600, 102},
    {"origin clock ahead: apparent age 0", "GET", 200, {0},
        {"Date: " DATE_T0_P100, "Cache-Control: max-age=60"}, 0, true, 60, 2},
    {"invalid Age ignored", "GET", 200, {0},
        {"Date: " DATE_T0, "Age: -5", "Cache-Control: max-age=60"}, 0, true, 60, 2},
    {"Age as a list: the first member", "GET", 200, {0},
        {"Date: " DATE_T0, "Age: 0, 7200", "Cache-Control: max-age=60"}, 0, true, 60, 2},
    {"Age as a list: an old first member", "GET", 200, {0},
        {"Date: " DATE_T0, "Age: 7200, 0", "Cache-Control: max-age=60"}, 0, false, 0, 7202},
    {"two Age lines: the first", "GET", 200, {0},
        {"Date: " DATE_T0, "Age: 7200", "Age: 0", "Cache-Control: max-age=60"}, 0, false, 0, 7202},
    {"two Age lines: a young first", "GET", 200, {0},
        {"Date: " DATE_T0, "Age: 0", "Age: 7200", "Cache-Control: max-age=60"}, 0, true, 60, 2},
    {"Age list with an invalid first member ignored", "GET", 200, {0},
        {"Date: " DATE_T0, "Age: abc, 7200", "Cache-Control: max-age=60"}, 0, true, 60, 2},
    {"fractional Age ignored", "GET", 200, {0},
        {"Date: " DATE_T0, "Age: 7200.0", "Cache-Control: max-age=60"}, 0, true, 60, 2},
    {"invalid Date: response_time", "GET", 200, {0},
        {"Date: yesterday", "Age: 3", "Cache-Control: max-age=60"}, 0, true, 60, 5},
    {"stale on arrival", "GET", 200, {0},
        {"Date: " DATE_T0, "Age: 100", "Cache-Control: max-age=60"}, 0, false, 0, 102},
    {"huge Age clamps", "GET", 200, {0},
        {"Date: " DATE_T0, "Age: 99999999999999999999", "Cache-Control: max-age=60"}, 0, false, 0,
        2147483650LL},
    /* methods and status */
    {"HEAD", "HEAD", 200, {0}, {"Cache-Control: max-age=60"}, 0, true, 60, 2},
    {"POST", "POST", 200, {0}, {"Cache-Control: max-age=60"}, 0, false, 0, 2},
    {"lower-case get is another method", "get", 200, {0}, {"Cache-Control: max-age=60"}, 0, false,
        0, 2},
    {"206 not stored", "GET", 206, {0}, {"Cache-Control: max-age=60"}, 0, false, 0, 2},
    {"304 not stored", "GET", 304, {0}, {"Cache-Control: max-age=60"}, 0, false, 0, 2},
    {"1xx not stored", "GET", 103, {0}, {"Cache-Control: max-age=60"}, 0, false, 0, 2},
    /* any final status with explicit freshness (§3) */
    {"404 max-age", "GET", 404, {0}, {"Cache-Control: max-age=60"}, 0, true, 60, 2},
    {"410 Expires", "GET", 410, {0}, {"Date: " DATE_T0, "Expires: " DATE_T0_P600}, 0, true, 600, 2},
    {"302 max-age", "GET", 302, {0}, {"Cache-Control: max-age=60"}, 0, true, 60, 2},
    {"503 max-age", "GET", 503, {0}, {"Cache-Control: max-age=60"}, 0, true, 60, 2},
    {"599 max-age", "GET", 599, {0}, {"Cache-Control: max-age=60"}, 0, true, 60, 2},
    /* heuristic freshness (§4.2.2): 10 % of Date - Last-Modified, capped */
    {"heuristic 200", "GET", 200, {0}, {"Date: " DATE_T0, "Last-Modified: " DATE_T0_M1000}, 0, true,
        100, 2},
    {"heuristic cap", "GET", 200, {0}, {"Date: " DATE_T0, "Last-Modified: " DATE_T0_M20D}, 0, true,
        86400, 2},
    {"heuristic 404", "GET", 404, {0}, {"Date: " DATE_T0, "Last-Modified: " DATE_T0_M1000}, 0, true,
        100, 2},
    {"heuristic 204", "GET", 204, {0}, {"Date: " DATE_T0, "Last-Modified: " DATE_T0_M1000}, 0, true,
        100, 2},
    {"heuristic 301", "GET", 301, {0}, {"Date: " DATE_T0, "Last-Modified: " DATE_T0_M1000}, 0, true,
        100, 2},
    {"no heuristic for 403", "GET", 403, {0}, {"Date: " DATE_T0, "Last-Modified: " DATE_T0_M1000},
        0, false, 0, 2},
    {"no heuristic for 302", "GET", 302, {0}, {"Date: " DATE_T0, "Last-Modified: " DATE_T0_M1000},
        0, false, 0, 2},
    {"no heuristic for 503", "GET", 503, {0}, {"Date: " DATE_T0, "Last-Modified: " DATE_T0_M1000},
        0, false, 0, 2},
    {"no heuristic for 599", "GET", 599, {0}, {"Date: " DATE_T0, "Last-Modified: " DATE_T0_M1000},
        0, false, 0, 2},
    {"public allows heuristic for 599", "GET", 599, {0},
        {"Date: " DATE_T0, "Last-Modified: " DATE_T0_M1000, "Cache-Control: public"}, 0, true, 100,
        2},
    {"default ttl wins over heuristic", "GET", 200, {0},
        {"Date: " DATE_T0, "Last-Modified: " DATE_T0_M1000}, 30, true, 30, 2},
    {"default ttl only for heuristic statuses", "GET", 500, {0}, {"Date: " DATE_T0}, 300, false, 0,
        2},
    {"Last-Modified after Date: no heuristic, stored stale", "GET", 200, {0},
        {"Date: " DATE_T0, "Last-Modified: " DATE_T0_P100}, 0, true, 0, 2},
    {"explicit past Expires is not heuristic", "GET", 200, {0},
        {"Date: " DATE_T0, "Expires: " DATE_T0_M100}, 0, false, 0, 2},
    /* CDN-Cache-Control (RFC 9213) over Surrogate-Control over Cache-Control */
    {"CDN-Cache-Control max-age", "GET", 200, {0}, {"CDN-Cache-Control: max-age=600"}, 0, true, 600,
        2},
    {"CDN-CC over CC max-age", "GET", 200, {0},
        {"Cache-Control: max-age=1", "CDN-Cache-Control: max-age=600"}, 0, true, 600, 2},
    {"short CDN-CC over long CC", "GET", 200, {0},
        {"Cache-Control: max-age=3600", "CDN-Cache-Control: max-age=10"}, 0, true, 10, 2},
    {"CDN-CC ignores CC no-store", "GET", 200, {0},
        {"Cache-Control: no-store", "CDN-Cache-Control: max-age=600"}, 0, true, 600, 2},
    {"CDN-CC no-store", "GET", 200, {0},
        {"Cache-Control: max-age=600", "CDN-Cache-Control: no-store"}, 0, false, 0, 2},
    {"CDN-CC private", "GET", 200, {0},
        {"Cache-Control: max-age=600", "CDN-Cache-Control: private"}, 0, false, 0, 2},
    {"CDN-CC ignores Expires", "GET", 200, {0},
        {"Date: " DATE_T0, "Expires: " DATE_T0_P600, "CDN-Cache-Control: foo"}, 0, false, 0, 2},
    {"invalid CDN-CC is ignored", "GET", 200, {0},
        {"CDN-Cache-Control: max-age=600, &&&", "Cache-Control: no-store"}, 0, false, 0, 2},
    {"invalid CDN-CC falls back to CC", "GET", 200, {0},
        {"CDN-Cache-Control: MaX-AgE=600", "Cache-Control: max-age=60"}, 0, true, 60, 2},
    {"CDN-CC string max-age: no freshness", "GET", 200, {0},
        {"CDN-Cache-Control: max-age=\"600\"", "Cache-Control: no-store"}, 0, false, 0, 2},
    {"Surrogate-Control max-age", "GET", 200, {0}, {"Surrogate-Control: max-age=600"}, 0, true, 600,
        2},
    {"Surrogate-Control over CC", "GET", 200, {0},
        {"Cache-Control: max-age=3600", "Surrogate-Control: max-age=10"}, 0, true, 10, 2},
    {"Surrogate-Control target and +stale", "GET", 200, {0},
        {"Cache-Control: no-store", "Surrogate-Control: max-age=600+60;abc"}, 0, true, 600, 2},
    {"Surrogate-Control no-store", "GET", 200, {0},
        {"Cache-Control: max-age=600", "Surrogate-Control: no-store"}, 0, false, 0, 2},
    {"Surrogate-Control without known directives", "GET", 200, {0},
        {"Cache-Control: max-age=60", "Surrogate-Control: content=\"ESI/1.0\""}, 0, true, 60, 2},
    {"CDN-CC over Surrogate-Control", "GET", 200, {0},
        {"Surrogate-Control: max-age=5", "CDN-Cache-Control: max-age=50"}, 0, true, 50, 2},
    /* no-store, private, no-cache */
    {"response no-store", "GET", 200, {0}, {"Cache-Control: no-store, max-age=60"}, 0, false, 0, 2},
    {"request no-store", "GET", 200, {"Cache-Control: no-store"}, {"Cache-Control: max-age=60"}, 0,
        false, 0, 2},
    {"request no-cache does not forbid storing", "GET", 200, {"Cache-Control: no-cache"},
        {"Cache-Control: max-age=60"}, 0, true, 60, 2},
    {"must-understand overrides no-store on 200", "GET", 200, {0},
        {"Cache-Control: no-store, must-understand, max-age=60"}, 0, true, 60, 2},
    {"must-understand on a status we do not store", "GET", 418, {0},
        {"Cache-Control: no-store, must-understand, max-age=60"}, 0, false, 0, 2},
    {"must-understand on 404", "GET", 404, {0},
        {"Cache-Control: no-store, must-understand, max-age=60"}, 0, true, 60, 2},
    {"must-understand alone on an unknown status", "GET", 599, {0},
        {"Cache-Control: must-understand, max-age=60"}, 0, false, 0, 2},
    {"private", "GET", 200, {0}, {"Cache-Control: private, max-age=60"}, 0, false, 0, 2},
    /* with field names: stored without those fields (cache_policy_store_field) */
    {"private with fields", "GET", 200, {0}, {"Cache-Control: private=\"X-User\", max-age=60"}, 0,
        true, 60, 2},
    {"no-cache", "GET", 200, {0}, {"Cache-Control: no-cache, max-age=60"}, 0, false, 0, 2},
    {"no-cache with fields", "GET", 200, {0},
        {"Cache-Control: no-cache=\"Set-Cookie\", max-age=60"}, 0, true, 60, 2},
    /* needs validation before use, but has a validator: stored to revalidate (§4.3) */
    {"no-cache + ETag: ttl 0", "GET", 200, {0},
        {"Cache-Control: no-cache, max-age=60", "ETag: \"v1\""}, 0, true, 0, 2},
    {"no-cache fields + Last-Modified: heuristic", "GET", 200, {0},
        {"Cache-Control: no-cache=\"X\"", "Last-Modified: " DATE_T0_M100}, 0, true, 10, 2},
    {"max-age=0 + ETag", "GET", 200, {0}, {"Cache-Control: max-age=0", "ETag: W/\"a\""}, 0, true, 0,
        2},
    /* no validator, but RFC 5861 lets it be served stale: stored stale */
    {"max-age=0 + stale-if-error", "GET", 200, {0}, {"Cache-Control: max-age=0, stale-if-error=60"},
        0, true, 0, 2},
    {"max-age=0 + stale-while-revalidate", "GET", 200, {0},
        {"Cache-Control: max-age=0, stale-while-revalidate=60"}, 0, true, 0, 2},
    {"stale-if-error=0 does not help", "GET", 200, {0},
        {"Cache-Control: max-age=0, stale-if-error=0"}, 0, false, 0, 2},
    {"stale-if-error + must-revalidate: never served stale", "GET", 200, {0},
        {"Cache-Control: max-age=0, stale-if-error=60, must-revalidate"}, 0, false, 0, 2},
    {"stale-if-error + s-maxage=0: never served stale", "GET", 200, {0},
        {"Cache-Control: s-maxage=0, stale-if-error=60"}, 0, false, 0, 2},
    {"stale on arrival + ETag", "GET", 200, {0},
        {"Date: " DATE_T0, "Age: 100", "Cache-Control: max-age=60", "ETag: \"x\""}, 0, true, 60,
        102},
    {"Expires in the past + Last-Modified", "GET", 200, {0},
        {"Date: " DATE_T0, "Expires: " DATE_T0_M100, "Last-Modified: " DATE_T0_M100}, 0, true, 0,
        2},
    {"invalid Expires + ETag", "GET", 200, {0}, {"Date: " DATE_T0, "Expires: 0", "ETag: \"e\""}, 0,
        true, 0, 2},
    {"validator without freshness: stored stale, to revalidate", "GET", 200, {0},
        {"Date: " DATE_T0, "ETag: \"x\""}, 0, true, 0, 2},
    {"validator without freshness, status not heuristic", "GET", 201, {0},
        {"Date: " DATE_T0, "ETag: \"x\""}, 0, false, 0, 2},
    {"no-store + ETag still forbids", "GET", 200, {0},
        {"Cache-Control: no-store, max-age=0", "ETag: \"x\""}, 0, false, 0, 2},
    {"private + ETag still forbids", "GET", 200, {0},
        {"Cache-Control: private, no-cache", "ETag: \"x\""}, 0, false, 0, 2},
    {"public alone needs freshness", "GET", 200, {0}, {"Cache-Control: public"}, 0, false, 0, 2},
    /* Authorization, §3.5 */
    {"Authorization forbids", "GET", 200, {"Authorization: Bearer x"},
        {"Cache-Control: max-age=60"}, 0, false, 0, 2},
    {"Authorization + public", "GET", 200, {"Authorization: Bearer x"},
        {"Cache-Control: public, max-age=60"}, 0, true, 60, 2},
    {"Authorization + s-maxage", "GET", 200, {"authorization: Bearer x"},
        {"Cache-Control: s-maxage=60"}, 0, true, 60, 2},
    {"Authorization + must-revalidate", "GET", 200, {"AUTHORIZATION: Bearer x"},
        {"Cache-Control: must-revalidate, max-age=60"}, 0, true, 60, 2},
    {"Authorization + default ttl", "GET", 200, {"Authorization: Basic eA=="}, {0}, 300, false, 0,
        2},
    /* Set-Cookie: stored with explicit freshness only */
    {"Set-Cookie with max-age", "GET", 200, {0},
        {"Cache-Control: public, max-age=60", "Set-Cookie: a=b"}, 0, true, 60, 2},
    {"Set-Cookie with default ttl", "GET", 200, {0}, {"SET-COOKIE: a"}, 300, false, 0, 2},
    {"Set-Cookie with heuristic", "GET", 200, {0},
        {"Date: " DATE_T0, "Last-Modified: " DATE_T0_M1000, "set-cookie: a=b"}, 0, false, 0, 2},
    /* Vary */
    {"Vary: Accept-Encoding", "GET", 200, {0},
        {"Cache-Control: max-age=60", "Vary: Accept-Encoding"}, 0, true, 60, 2},
    {"Vary: accept-encoding, twice", "GET", 200, {0},
        {"Cache-Control: max-age=60", "Vary: accept-encoding", "Vary: Accept-Encoding ,"}, 0, true,
        60, 2},
    {"Vary: *", "GET", 200, {0}, {"Cache-Control: max-age=60", "Vary: *"}, 0, false, 0, 2},
    {"Vary: Cookie (a variant)", "GET", 200, {0}, {"Cache-Control: max-age=60", "Vary: Cookie"}, 0,
        true, 60, 2},
    {"Vary: Accept-Encoding, User-Agent", "GET", 200, {0},
        {"Cache-Control: max-age=60", "Vary: Accept-Encoding, User-Agent"}, 0, true, 60, 2},
    {"Vary on a later line", "GET", 200, {0},
        {"Vary: Accept-Encoding", "Cache-Control: max-age=60", "Vary: Origin"}, 0, true, 60, 2},
    {"Vary: * on a later line", "GET", 200, {0},
        {"Vary: Accept-Encoding", "Cache-Control: max-age=60", "Vary: Origin, *"}, 0, false, 0, 2},
    {"Vary: , * (empty member first)", "GET", 200, {0}, {"Cache-Control: max-age=60", "Vary: , *"},
        0, false, 0, 2},
    {"empty Vary", "GET", 200, {0}, {"Cache-Control: max-age=60", "Vary: "}, 0, true, 60, 2},
    {"gzip body varying on Accept-Encoding (a variant)", "GET", 200, {"Accept-Encoding: gzip"},
        {"Cache-Control: max-age=60", "Vary: Accept-Encoding", "Content-Encoding: gzip"}, 0, true,
        60, 2},
    {"identity body varying on Accept-Encoding", "GET", 200, {0},
        {"Cache-Control: max-age=60", "Vary: Accept-Encoding", "Content-Encoding: identity"}, 0,
        true, 60, 2},
    {"gzip body without Vary", "GET", 200, {0},
        {"Cache-Control: max-age=60", "Content-Encoding: gzip"}, 0, true, 60, 2},
};

/* Splits "Name: value" lines into h1_headers pointing at the literals. */
static size_t
build_headers(const char *const *lines, struct h1_header *h)
{
	size_t n = 0;

	for (; n < MAX_HDRS && lines[n] != NULL; n++) {
		const char *colon = strchr(lines[n], ':');

		h[n].name = str_make(lines[n], (size_t)(colon - lines[n]));
		h[n].value = str_trim_ows(str_cstr(colon + 1));
	}
	return n;
}

static void
build(const struct policy_case *c, struct h1_request *req, struct h1_header *qh,
    struct h1_response *resp, struct h1_header *sh)
{
	memset(req, 0, sizeof *req);
	memset(resp, 0, sizeof *resp);
	req->method = str_cstr(c->method);
	req->target = STR_LIT("/");
	req->path = STR_LIT("/");
	req->minor = 1;
	req->headers = qh;
	req->n_headers = build_headers(c->req_hdrs, qh);
	resp->minor = 1;
	resp->status = c->status;
	resp->headers = sh;
	resp->n_headers = build_headers(c->resp_hdrs, sh);
}

static void
test_table(void)
{
	subtest("cache_policy_evaluate table");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct policy_case *c = &cases[i];
		struct h1_header qh[MAX_HDRS], sh[MAX_HDRS];
		struct h1_request req;
		struct h1_response resp;
		struct cache_policy pol;
		char what[160];

		build(c, &req, qh, &resp, sh);
		cache_policy_evaluate(&req, &resp, T0, T0 + 2, c->default_ttl, &pol);
		snprintf(what, sizeof what, "case %zu: %s", i, c->name);
		if (!ok(pol.storable == c->storable && pol.ttl_s == c->ttl &&
		            pol.initial_age_s == c->age,
		        what))
			printf("#   got storable %d ttl %lld age %lld, want %d %lld %lld\n",
			    pol.storable, (long long)pol.ttl_s, (long long)pol.initial_age_s,
			    c->storable, (long long)c->ttl, (long long)c->age);
	}
}

/* routes[].cache.default_ttl covers 2xx/3xx only, error_ttl 4xx/5xx. */
static void
test_error_ttl(void)
{
	static const struct {
		int status;
		const char *lm; /* Last-Modified, or NULL */
		const char *cc; /* Cache-Control, or NULL */
		int64_t default_ttl, error_ttl;
		bool storable;
		int64_t ttl;
	} rows[] = {
	    {200, NULL, NULL, 3600, 0, true, 3600}, {301, NULL, NULL, 3600, 0, true, 3600},
	    {302, NULL, "public", 3600, 0, true, 3600},
	    {404, NULL, NULL, 3600, 0, false, 0},           /* no TTL, no validator */
	    {404, DATE_T0_M1000, NULL, 3600, 0, true, 100}, /* heuristics, not 3600 */
	    {404, NULL, NULL, 3600, 30, true, 30}, {405, NULL, NULL, 3600, 30, true, 30},
	    {410, NULL, NULL, 0, 30, true, 30}, {414, NULL, NULL, 3600, 0, false, 0},
	    {501, NULL, NULL, 3600, 0, false, 0}, {501, NULL, NULL, 0, 5, true, 5},
	    {200, NULL, NULL, 0, 30, false, 0},            /* error_ttl is not for content */
	    {403, NULL, NULL, 3600, 30, false, 0},         /* not heuristically cacheable */
	    {403, NULL, "public", 3600, 30, true, 30},     /* unless public */
	    {404, NULL, "max-age=60", 3600, 30, true, 60}, /* explicit freshness rules */
	};

	subtest("default_ttl for 2xx/3xx, error_ttl for 4xx/5xx");
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct h1_header sh[3];
		size_t n = 0;
		struct h1_request req = {.method = STR_LIT("GET")};
		struct h1_response resp = {.status = rows[i].status, .headers = sh};
		struct cache_policy_conf conf = {
		    rows[i].default_ttl, CACHE_HEURISTIC_MAX_DEFAULT, 0, rows[i].error_ttl};
		struct cache_policy pol;
		char what[96];

		sh[n++] = (struct h1_header){STR_LIT("Date"), STR_LIT(DATE_T0)};
		if (rows[i].lm != NULL)
			sh[n++] =
			    (struct h1_header){STR_LIT("Last-Modified"), str_cstr(rows[i].lm)};
		if (rows[i].cc != NULL)
			sh[n++] =
			    (struct h1_header){STR_LIT("Cache-Control"), str_cstr(rows[i].cc)};
		resp.n_headers = n;
		cache_policy_evaluate_conf(&req, &resp, T0, T0, &conf, &pol);
		snprintf(what, sizeof what, "row %zu: %d, default_ttl %lld, error_ttl %lld", i,
		    rows[i].status, (long long)rows[i].default_ttl, (long long)rows[i].error_ttl);
		if (!ok(pol.storable == rows[i].storable && pol.ttl_s == rows[i].ttl, what))
			printf(
			    "#   got storable %d ttl %lld\n", pol.storable, (long long)pol.ttl_s);
	}
}

/* Which fields of a response go into the stored head. */
static void
test_store_field(void)
{
	static const char *const hdrs[MAX_HDRS] = {
	    "Cache-Control: max-age=60, no-cache=\"a, B\"",
	    "Cache-Control: private=c",
	    "Connection: d",
	    "a: 1",
	    "b: 2",
	    "c: 3",
	    "d: 4",
	    "e: 5",
	};
	static const char *const other[MAX_HDRS] = {
	    "Content-Length: 5",
	    "Transfer-Encoding: chunked",
	    "Age: 3",
	    "CDN-Cache-Control: max-age=9",
	    "surrogate-control: max-age=9",
	    "Keep-Alive: 5",
	    "Set-Cookie: x=y",
	    "ETag: \"z\"",
	};
	const bool want[MAX_HDRS] = {true, true, false, false, false, false, false, true};
	/* the targeted fields are stored, to keep governing after updates */
	const bool want_other[MAX_HDRS] = {false, false, false, true, true, false, true, true};
	struct h1_header h[MAX_HDRS], o[MAX_HDRS];
	struct h1_response resp = {.status = 200, .headers = h};
	struct h1_response r2 = {.status = 200, .headers = o};

	subtest("cache_policy_store_field");
	resp.n_headers = build_headers(hdrs, h);
	r2.n_headers = build_headers(other, o);
	for (size_t i = 0; i < MAX_HDRS; i++) {
		char what[96];

		snprintf(what, sizeof what, "%s %s", hdrs[i], want[i] ? "stored" : "omitted");
		ok(cache_policy_store_field(&resp, &h[i]) == want[i], what);
		snprintf(
		    what, sizeof what, "%s %s", other[i], want_other[i] ? "stored" : "omitted");
		ok(cache_policy_store_field(&r2, &o[i]) == want_other[i], what);
	}
}

static void
test_clock_skew(void)
{
	struct h1_header sh[2] = {
	    {STR_LIT("Date"), STR_LIT(DATE_T0)},
	    {STR_LIT("Cache-Control"), STR_LIT("max-age=60")},
	};
	struct h1_request req = {.method = STR_LIT("GET")};
	struct h1_response resp = {.status = 200, .headers = sh, .n_headers = 2};
	struct cache_policy pol;

	subtest("request/response clocks");
	/* Response arrived before the request was sent (clock stepped back):
	 * response_delay counts as 0, apparent age as 0. */
	cache_policy_evaluate(&req, &resp, T0 + 10, T0 - 5, 0, &pol);
	is_int(pol.initial_age_s, 0);
	ok(pol.storable, "still storable");
	/* Long round trip: the delay is charged as age (§4.2.3). */
	cache_policy_evaluate(&req, &resp, T0, T0 + 20, 0, &pol);
	is_int(pol.initial_age_s, 20);
	is_int(pol.ttl_s, 60);
	/* Our clock far ahead of the origin's: apparent age dominates. */
	cache_policy_evaluate(&req, &resp, T0 + 49, T0 + 50, 0, &pol);
	is_int(pol.initial_age_s, 50);
	ok(pol.storable, "10 s of freshness left");
}

struct req_case {
	const char *method;
	const char *hdrs[MAX_HDRS];
	enum cache_req want;
};

/* no-cache, max-age and Pragma look up: cache_policy_usable decides. */
static const struct req_case req_cases[] = {
    {"GET", {0}, CACHE_REQ_LOOKUP},
    {"HEAD", {0}, CACHE_REQ_LOOKUP},
    {"POST", {0}, CACHE_REQ_PASS},
    {"PUT", {0}, CACHE_REQ_PASS},
    {"GET", {"Authorization: Bearer x"}, CACHE_REQ_LOOKUP},
    {"GET", {"Cache-Control: no-store"}, CACHE_REQ_PASS},
    {"GET", {"Cache-Control: no-cache, no-store"}, CACHE_REQ_PASS},
    {"GET", {"Cache-Control: no-cache"}, CACHE_REQ_LOOKUP},
    {"GET", {"Cache-Control: max-age=0"}, CACHE_REQ_LOOKUP},
    {"GET", {"Cache-Control: max-age=10"}, CACHE_REQ_LOOKUP},
    {"GET", {"Cache-Control: max-age=bogus"}, CACHE_REQ_LOOKUP},
    {"GET", {"Cache-Control: max-stale"}, CACHE_REQ_LOOKUP},
    {"GET", {"Cache-Control: only-if-cached"}, CACHE_REQ_LOOKUP},
    {"GET", {"Pragma: no-cache"}, CACHE_REQ_LOOKUP},
    {"GET", {"pragma: foo, No-Cache"}, CACHE_REQ_LOOKUP},
    {"GET", {"Pragma: foo"}, CACHE_REQ_LOOKUP},
    {"GET", {"Accept: */*", "Cache-Control: public", "Cache-Control: no-cache"}, CACHE_REQ_LOOKUP},
};

static void
test_request(void)
{
	subtest("cache_policy_request");
	for (size_t i = 0; i < sizeof req_cases / sizeof req_cases[0]; i++) {
		struct h1_header qh[MAX_HDRS];
		struct h1_request req = {.method = str_cstr(req_cases[i].method), .headers = qh};
		char what[128];

		req.n_headers = build_headers(req_cases[i].hdrs, qh);
		snprintf(what, sizeof what, "request case %zu: %s %s", i, req_cases[i].method,
		    req_cases[i].hdrs[0] != NULL ? req_cases[i].hdrs[0] : "");
		ok(cache_policy_request(&req) == req_cases[i].want, what);
	}
}

struct cond_case {
	const char *method;
	const char *hdrs[MAX_HDRS];
	enum cache_cond want;
};

static const struct cond_case cond_cases[] = {
    {"GET", {0}, CACHE_COND_NONE},
    {"GET", {"If-None-Match: \"v1\""}, CACHE_COND_NOT_MODIFIED},
    {"HEAD", {"If-None-Match: \"v1\""}, CACHE_COND_NOT_MODIFIED},
    {"GET", {"If-None-Match: W/\"v1\""}, CACHE_COND_NOT_MODIFIED}, /* weak compare */
    {"GET", {"If-None-Match: \"x\", \"v1\""}, CACHE_COND_NOT_MODIFIED},
    {"GET", {"If-None-Match: *"}, CACHE_COND_NOT_MODIFIED},
    {"GET", {"If-None-Match: \"v2\""}, CACHE_COND_NONE},
    {"GET", {"If-None-Match: v1"}, CACHE_COND_NONE}, /* unquoted: not an entity-tag */
    /* If-None-Match wins over If-Modified-Since (RFC 9110 §13.1.3) */
    {"GET", {"If-None-Match: \"v2\"", "If-Modified-Since: Sun, 06 Nov 2033 08:49:37 GMT"},
        CACHE_COND_NONE},
    {"GET", {"If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT"}, CACHE_COND_NOT_MODIFIED},
    {"GET", {"If-Modified-Since: Sun, 06 Nov 1994 08:49:36 GMT"}, CACHE_COND_NONE},
    {"GET", {"If-Modified-Since: not a date"}, CACHE_COND_NONE},
    {"GET", {"If-Match: \"v1\""}, CACHE_COND_NONE},
    {"GET", {"If-Match: W/\"v1\""}, CACHE_COND_FAILED}, /* strong compare */
    {"GET", {"If-Match: \"v2\""}, CACHE_COND_FAILED},
    {"GET", {"If-Match: *"}, CACHE_COND_NONE},
    {"GET", {"If-Unmodified-Since: Sun, 06 Nov 1994 08:49:36 GMT"}, CACHE_COND_FAILED},
    {"GET", {"If-Unmodified-Since: Sun, 06 Nov 1994 08:49:37 GMT"}, CACHE_COND_NONE},
    /* If-Match present: If-Unmodified-Since is not evaluated */
    {"GET", {"If-Match: \"v1\"", "If-Unmodified-Since: Sun, 06 Nov 1990 08:49:36 GMT"},
        CACHE_COND_NONE},
};

static void
test_conditional(void)
{
	static const char head[] = "HTTP/1.1 200 OK\r\nETag: \"v1\"\r\n"
	                           "Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
	                           "Date: Sun, 06 Nov 1994 09:00:00 GMT\r\n";
	static const char head_nolm[] = "HTTP/1.1 200 OK\r\nETag: W/\"w\"\r\n"
	                                "Date: Sun, 06 Nov 1994 09:00:00 GMT\r\n";
	struct cache_policy pol = {true, 60, 0};
	struct cache_obj *o = cache_obj_new("k", 1, head, sizeof head - 1, 0, 0, &pol);
	struct cache_obj *o2 = cache_obj_new("k", 1, head_nolm, sizeof head_nolm - 1, 0, 0, &pol);
	struct str v;

	subtest("cache_obj_header and cache_policy_conditional");
	ok(cache_obj_header(o, STR_LIT("etag"), &v) && str_eq(v, STR_LIT("\"v1\"")), "ETag");
	ok(!cache_obj_header(o, STR_LIT("Vary"), &v), "absent field");
	for (size_t i = 0; i < sizeof cond_cases / sizeof cond_cases[0]; i++) {
		struct h1_header qh[MAX_HDRS];
		struct h1_request req = {.method = str_cstr(cond_cases[i].method), .headers = qh};
		char what[160];

		req.n_headers = build_headers(cond_cases[i].hdrs, qh);
		snprintf(what, sizeof what, "conditional case %zu: %s %s", i, cond_cases[i].method,
		    cond_cases[i].hdrs[0] ? cond_cases[i].hdrs[0] : "");
		ok(cache_policy_conditional(&req, o) == cond_cases[i].want, what);
	}
	{
		/* no Last-Modified: If-Modified-Since compares with Date (RFC 9111 §4.3.2),
		 * If-Unmodified-Since is ignored, a weak ETag never matches If-Match */
		const char *ims[MAX_HDRS] = {"If-Modified-Since: Sun, 06 Nov 1994 09:00:00 GMT"};
		const char *ius[MAX_HDRS] = {"If-Unmodified-Since: Sun, 06 Nov 1990 09:00:00 GMT"};
		const char *im[MAX_HDRS] = {"If-Match: W/\"w\""};
		const char *inm[MAX_HDRS] = {"If-None-Match: \"w\""};
		struct h1_header qh[MAX_HDRS];
		struct h1_request req = {.method = STR_LIT("GET"), .headers = qh};

		req.n_headers = build_headers(ims, qh);
		ok(cache_policy_conditional(&req, o2) == CACHE_COND_NOT_MODIFIED, "IMS vs Date");
		req.n_headers = build_headers(ius, qh);
		ok(cache_policy_conditional(&req, o2) == CACHE_COND_NONE, "IUS ignored");
		req.n_headers = build_headers(im, qh);
		ok(cache_policy_conditional(&req, o2) == CACHE_COND_FAILED, "weak If-Match");
		req.n_headers = build_headers(inm, qh);
		ok(cache_policy_conditional(&req, o2) == CACHE_COND_NOT_MODIFIED, "weak INM");
	}
	{
		const char *oic[MAX_HDRS] = {"Cache-Control: max-age=5, only-if-cached"};
		struct h1_header qh[MAX_HDRS];
		struct h1_request req = {.method = STR_LIT("GET"), .headers = qh};

		req.n_headers = build_headers(oic, qh);
		ok(cache_policy_only_if_cached(&req), "only-if-cached");
		req.n_headers = 0;
		ok(!cache_policy_only_if_cached(&req), "no only-if-cached");
	}
	cache_obj_unref(&o);
	cache_obj_unref(&o2);
}

static struct cache_obj *
mk_obj(const char *head, int64_t ttl, time_t stored_at)
{
	struct cache_policy pol = {true, ttl, 0};

	return cache_obj_new("http://a/r", 10, head, strlen(head), 0, stored_at, &pol);
}

static bool
want_reval(struct cache_obj *o, const char *const *hdrs, bool *inm, bool *ims)
{
	struct h1_header qh[MAX_HDRS];
	struct h1_request req = {.method = STR_LIT("GET"), .headers = qh};

	req.n_headers = build_headers(hdrs, qh);
	return cache_policy_revalidation(&req, o, inm, ims);
}

static void
test_revalidation(void)
{
	struct cache_obj *both = mk_obj("HTTP/1.1 200 OK\r\nETag: \"v1\"\r\n"
	                                "Last-Modified: " DATE_T0 "\r\n",
	    1, T0);
	struct cache_obj *none = mk_obj("HTTP/1.1 200 OK\r\nDate: " DATE_T0 "\r\n", 1, T0);
	const char *plain[MAX_HDRS] = {0};
	const char *c_inm[MAX_HDRS] = {"If-None-Match: \"v0\", \"v1\""};
	const char *c_inm_other[MAX_HDRS] = {"If-None-Match: \"v2\""};
	const char *c_ims[MAX_HDRS] = {"If-Modified-Since: " DATE_T0};
	const char *c_im[MAX_HDRS] = {"If-Match: \"v1\""};
	bool inm, ims;

	subtest("revalidation requests (RFC 9111 §4.3.1)");
	ok(want_reval(both, plain, &inm, &ims) && inm && ims, "both validators added");
	ok(!want_reval(none, plain, &inm, &ims), "no validator: no revalidation");
	ok(want_reval(both, c_inm, &inm, &ims) && !inm && ims, "client INM selects ours: keep it");
	ok(!want_reval(both, c_inm_other, &inm, &ims), "client INM not ours: plain miss");
	ok(want_reval(both, c_ims, &inm, &ims) && inm && !ims, "client IMS matches: add INM only");
	ok(!want_reval(both, c_im, &inm, &ims), "If-Match: plain miss");

	subtest("304 selects the stored response (§4.3.4)");
	{
		struct h1_header e_same[] = {{STR_LIT("ETag"), STR_LIT("\"v1\"")}};
		struct h1_header e_other[] = {{STR_LIT("ETag"), STR_LIT("\"v9\"")}};
		struct h1_header e_weak[] = {{STR_LIT("ETag"), STR_LIT("W/\"v1\"")}};
		struct h1_header e_weak_other[] = {{STR_LIT("ETag"), STR_LIT("W/\"v9\"")}};
		struct h1_header lm_same[] = {{STR_LIT("Last-Modified"), STR_LIT(DATE_T0)}};
		struct h1_header bare[] = {{STR_LIT("Cache-Control"), STR_LIT("max-age=5")}};
		struct h1_response r = {.status = 304};

		r.headers = e_same;
		r.n_headers = 1;
		ok(cache_policy_304_applies(both, &r, true), "same ETag");
		r.headers = e_other;
		ok(!cache_policy_304_applies(both, &r, false), "other ETag");
		r.headers = e_weak;
		ok(cache_policy_304_applies(both, &r, false),
		    "W/ of the stored tag: weak comparison");
		r.headers = e_weak_other;
		ok(!cache_policy_304_applies(both, &r, false), "W/ of another tag");
		r.headers = lm_same;
		ok(cache_policy_304_applies(both, &r, true), "same Last-Modified");
		r.headers = bare;
		ok(cache_policy_304_applies(both, &r, false), "no validator, ours only");
		ok(!cache_policy_304_applies(both, &r, true), "no validator, client's too");
	}

	subtest("freshness after a 304");
	{
		struct h1_header h304[] = {
		    {STR_LIT("Date"), STR_LIT(DATE_T0_P100)},
		    {STR_LIT("Cache-Control"), STR_LIT("max-age=30")},
		};
		struct h1_response r = {.status = 304, .headers = h304, .n_headers = 2};
		struct h1_request req = {.method = STR_LIT("GET")};
		struct cache_policy_conf conf = {0, CACHE_HEURISTIC_MAX_DEFAULT, 0, 0};
		struct cache_policy pol;

		cache_policy_evaluate_304(&req, both, &r, T0 + 100, T0 + 100, &conf, &pol);
		ok(pol.storable, "304 refreshes: storable (validators kept from the stored head)");
		is_int(pol.ttl_s, 30);
		is_int(pol.initial_age_s, 0);
	}

	subtest("a stored targeted field keeps ruling after a 304 without it (RFC 9213, §4.3.4)");
	{
		static const char *const heads[] = {
		    "HTTP/1.1 200 OK\r\nETag: \"v1\"\r\nCache-Control: max-age=0\r\n"
		    "CDN-Cache-Control: max-age=600\r\n",
		    "HTTP/1.1 200 OK\r\nETag: \"v1\"\r\nCache-Control: max-age=0\r\n"
		    "Surrogate-Control: max-age=600\r\n",
		};
		struct h1_header h304[] = {
		    {STR_LIT("Date"), STR_LIT(DATE_T0_P100)},
		    {STR_LIT("ETag"), STR_LIT("\"v1\"")},
		    {STR_LIT("Cache-Control"), STR_LIT("max-age=30")},
		};
		struct h1_response r = {.status = 304, .headers = h304, .n_headers = 3};
		struct h1_request req = {.method = STR_LIT("GET")};
		struct cache_policy_conf conf = {0, CACHE_HEURISTIC_MAX_DEFAULT, 0, 0};

		for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
			struct cache_obj *o = mk_obj(heads[i], 0, T0);
			struct cache_policy pol;

			cache_policy_evaluate_304(&req, o, &r, T0 + 100, T0 + 100, &conf, &pol);
			ok(pol.storable,
			    i == 0 ? "CDN-Cache-Control kept" : "Surrogate-Control kept");
			is_int(pol.ttl_s, 600);
			cache_obj_unref(&o);
		}
	}
	cache_obj_unref(&both);
	cache_obj_unref(&none);
}

static bool
stale_ok(const char *head, int64_t ttl, time_t now, const char *req_cc, enum cache_stale why)
{
	const char *hdrs[MAX_HDRS] = {req_cc};
	struct h1_header qh[MAX_HDRS];
	struct h1_request req = {.method = STR_LIT("GET"), .headers = qh};
	struct cache_obj *o = mk_obj(head, ttl, T0);
	bool r;

	req.n_headers = build_headers(hdrs, qh);
	r = cache_policy_stale_ok(&req, o, now, why);
	cache_obj_unref(&o);
	return r;
}

static void
test_stale(void)
{
	const char *sie = "HTTP/1.1 200 OK\r\nCache-Control: max-age=10, stale-if-error=60\r\n";
	const char *swr = "HTTP/1.1 200 OK\r\nCache-Control: max-age=10\r\n"
	                  "Cache-Control: stale-while-revalidate=5\r\n";
	const char *mr = "HTTP/1.1 200 OK\r\nCache-Control: max-age=10, stale-if-error=60, "
	                 "must-revalidate\r\n";
	const char *pr = "HTTP/1.1 200 OK\r\nCache-Control: max-age=10, stale-if-error=60, "
	                 "proxy-revalidate\r\n";
	const char *sm = "HTTP/1.1 200 OK\r\nCache-Control: s-maxage=10, stale-if-error=60\r\n";
	const char *nc =
	    "HTTP/1.1 200 OK\r\nCache-Control: no-cache, stale-if-error=60\r\nETag: \"x\"\r\n";
	const char *bare = "HTTP/1.1 200 OK\r\nCache-Control: max-age=10\r\n";

	subtest("stale-if-error / stale-while-revalidate (RFC 5861)");
	ok(stale_ok(sie, 10, T0 + 70, NULL, CACHE_STALE_IF_ERROR), "within stale-if-error");
	ok(!stale_ok(sie, 10, T0 + 71, NULL, CACHE_STALE_IF_ERROR), "beyond stale-if-error");
	ok(!stale_ok(sie, 10, T0 + 12, NULL, CACHE_STALE_WHILE_REVALIDATE), "sie is not swr");
	ok(stale_ok(swr, 10, T0 + 15, NULL, CACHE_STALE_WHILE_REVALIDATE), "within swr (2 lines)");
	ok(!stale_ok(swr, 10, T0 + 16, NULL, CACHE_STALE_WHILE_REVALIDATE), "beyond swr");
	ok(!stale_ok(mr, 10, T0 + 12, NULL, CACHE_STALE_IF_ERROR), "must-revalidate: never");
	ok(!stale_ok(pr, 10, T0 + 12, NULL, CACHE_STALE_IF_ERROR), "proxy-revalidate: never");
	ok(!stale_ok(sm, 10, T0 + 12, NULL, CACHE_STALE_IF_ERROR), "s-maxage: never");
	ok(!stale_ok(nc, 0, T0 + 1, NULL, CACHE_STALE_IF_ERROR), "no-cache: never");
	ok(!stale_ok(bare, 10, T0 + 12, NULL, CACHE_STALE_IF_ERROR), "no directive: no");
	ok(stale_ok(bare, 10, T0 + 12, "Cache-Control: stale-if-error=5", CACHE_STALE_IF_ERROR),
	    "request stale-if-error");
	ok(!stale_ok(bare, 10, T0 + 16, "Cache-Control: stale-if-error=5", CACHE_STALE_IF_ERROR),
	    "beyond the request's window");
	ok(!stale_ok(mr, 10, T0 + 12, "Cache-Control: stale-if-error=50", CACHE_STALE_IF_ERROR),
	    "request window cannot override must-revalidate");

	subtest("stale-while-revalidate: never for objects that must be revalidated");
	{
		const char *swr_mr = "HTTP/1.1 200 OK\r\nCache-Control: max-age=10, "
		                     "stale-while-revalidate=60, must-revalidate\r\n";
		const char *swr_pr = "HTTP/1.1 200 OK\r\nCache-Control: max-age=10, "
		                     "stale-while-revalidate=60, proxy-revalidate\r\n";
		const char *swr_sm =
		    "HTTP/1.1 200 OK\r\nCache-Control: s-maxage=10, stale-while-revalidate=60\r\n";
		const char *swr_nc = "HTTP/1.1 200 OK\r\nCache-Control: no-cache, "
		                     "stale-while-revalidate=60\r\nETag: \"x\"\r\n";

		ok(!stale_ok(swr_mr, 10, T0 + 12, NULL, CACHE_STALE_WHILE_REVALIDATE),
		    "swr + must-revalidate: never");
		ok(!stale_ok(swr_pr, 10, T0 + 12, NULL, CACHE_STALE_WHILE_REVALIDATE),
		    "swr + proxy-revalidate: never");
		ok(!stale_ok(swr_sm, 10, T0 + 12, NULL, CACHE_STALE_WHILE_REVALIDATE),
		    "swr + s-maxage: never");
		ok(!stale_ok(swr_nc, 0, T0 + 1, NULL, CACHE_STALE_WHILE_REVALIDATE),
		    "swr + no-cache: never");
		ok(!stale_ok(bare, 10, T0 + 12, "Cache-Control: stale-while-revalidate=60",
		       CACHE_STALE_WHILE_REVALIDATE),
		    "a request's stale-while-revalidate does not count");
		ok(!stale_ok(
		       swr, 10, T0 + 12, "Cache-Control: no-cache", CACHE_STALE_WHILE_REVALIDATE),
		    "swr not for a no-cache request");
		ok(!stale_ok(
		       swr, 10, T0 + 12, "Cache-Control: max-age=1", CACHE_STALE_WHILE_REVALIDATE),
		    "swr not for a request max-age");
	}

	subtest("a stored CDN-Cache-Control replaces Cache-Control for stale (RFC 9213 §2.2)");
	{
		const char *cdn_mr =
		    "HTTP/1.1 200 OK\r\nCache-Control: max-age=10, stale-if-error=60\r\n"
		    "CDN-Cache-Control: max-age=10, must-revalidate\r\n";
		const char *cdn_sie =
		    "HTTP/1.1 200 OK\r\nCache-Control: max-age=10, must-revalidate\r\n"
		    "CDN-Cache-Control: max-age=10, stale-if-error=60\r\n";
		const char *cdn_bad =
		    "HTTP/1.1 200 OK\r\nCache-Control: max-age=10, stale-if-error=60\r\n"
		    "CDN-Cache-Control: max-age=10, &&&\r\n";

		ok(!stale_ok(cdn_mr, 10, T0 + 12, NULL, CACHE_STALE_IF_ERROR),
		    "CDN-Cache-Control must-revalidate: never");
		{
			struct h1_request req = {.method = STR_LIT("GET")};
			struct cache_obj *o = mk_obj(cdn_mr, 10, T0);

			ok(!cache_policy_grace_ok(&req, o, T0 + 12, 60), "nor on grace");
			cache_obj_unref(&o);
		}
		ok(stale_ok(cdn_sie, 10, T0 + 70, NULL, CACHE_STALE_IF_ERROR),
		    "its stale-if-error; Cache-Control's must-revalidate ignored");
		ok(stale_ok(cdn_bad, 10, T0 + 70, NULL, CACHE_STALE_IF_ERROR),
		    "an invalid CDN-Cache-Control is ignored: Cache-Control rules");
	}
}

/* cache_policy_usable: an object stored at T0 with ttl 100 (age 0 then). */
struct use_case {
	const char *name;
	const char *obj_cc; /* the stored Cache-Control */
	int64_t now;        /* seconds after T0 */
	const char *req[MAX_HDRS];
	enum cache_use want;
};

static const struct use_case use_cases[] = {
    {"fresh", "max-age=100", 50, {0}, CACHE_USE_FRESH},
    {"stale", "max-age=100", 100, {0}, CACHE_USE_NO},
    {"no-cache request", "max-age=100", 1, {"Cache-Control: no-cache"}, CACHE_USE_NO},
    {"Pragma: no-cache", "max-age=100", 1, {"Pragma: no-cache"}, CACHE_USE_NO},
    {"Pragma with Cache-Control is ignored", "max-age=100", 1,
        {"Pragma: no-cache", "Cache-Control: max-stale=5"}, CACHE_USE_FRESH},
    {"max-age=0 at age 0", "max-age=100", 0, {"Cache-Control: max-age=0"}, CACHE_USE_FRESH},
    {"max-age=0 at age 3", "max-age=100", 3, {"Cache-Control: max-age=0"}, CACHE_USE_NO},
    {"max-age=30 at age 30", "max-age=100", 30, {"Cache-Control: max-age=30"}, CACHE_USE_FRESH},
    {"max-age=30 at age 31", "max-age=100", 31, {"Cache-Control: max-age=30"}, CACHE_USE_NO},
    {"invalid request max-age", "max-age=100", 1, {"Cache-Control: max-age=x"}, CACHE_USE_NO},
    {"min-fresh met", "max-age=100", 50, {"Cache-Control: min-fresh=50"}, CACHE_USE_FRESH},
    {"min-fresh not met", "max-age=100", 51, {"Cache-Control: min-fresh=50"}, CACHE_USE_NO},
    {"max-stale any", "max-age=100", 5000, {"Cache-Control: max-stale"}, CACHE_USE_STALE},
    {"max-stale=10 covers", "max-age=100", 110, {"Cache-Control: max-stale=10"}, CACHE_USE_STALE},
    {"max-stale=10 too little", "max-age=100", 111, {"Cache-Control: max-stale=10"}, CACHE_USE_NO},
    {"max-stale vs must-revalidate", "max-age=100, must-revalidate", 101,
        {"Cache-Control: max-stale"}, CACHE_USE_NO},
    {"max-stale vs proxy-revalidate", "max-age=100, proxy-revalidate", 101,
        {"Cache-Control: max-stale"}, CACHE_USE_NO},
    {"max-stale vs s-maxage", "s-maxage=100", 101, {"Cache-Control: max-stale"}, CACHE_USE_NO},
    {"max-stale vs no-cache", "no-cache", 101, {"Cache-Control: max-stale"}, CACHE_USE_NO},
    {"max-stale and max-age", "max-age=100", 105, {"Cache-Control: max-stale, max-age=104"},
        CACHE_USE_NO},
};

static void
test_usable(void)
{
	subtest("cache_policy_usable table (RFC 9111 §5.2.1)");
	for (size_t i = 0; i < sizeof use_cases / sizeof use_cases[0]; i++) {
		const struct use_case *u = &use_cases[i];
		char head[160];
		struct h1_header qh[MAX_HDRS];
		struct h1_request req = {.method = STR_LIT("GET"), .headers = qh};
		struct cache_obj *o;
		char what[160];

		snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nCache-Control: %s\r\n", u->obj_cc);
		o = mk_obj(head, 100, T0);
		req.n_headers = build_headers(u->req, qh);
		snprintf(what, sizeof what, "use case %zu: %s", i, u->name);
		ok(cache_policy_usable(&req, o, T0 + u->now) == u->want, what);
		cache_obj_unref(&o);
	}
}

static void
test_grace(void)
{
	const char *plain = "HTTP/1.1 200 OK\r\nCache-Control: max-age=10\r\n";
	const char *mr = "HTTP/1.1 200 OK\r\nCache-Control: max-age=10, must-revalidate\r\n";
	struct h1_header qh[MAX_HDRS];
	const char *nc[MAX_HDRS] = {"Cache-Control: no-cache"};
	struct h1_request req = {.method = STR_LIT("GET"), .headers = qh};
	struct cache_obj *o = mk_obj(plain, 10, T0);
	struct cache_obj *m = mk_obj(mr, 10, T0);

	subtest("cache.grace");
	ok(cache_policy_grace_ok(&req, o, T0 + 40, 30), "30 s stale within 30 s of grace");
	ok(!cache_policy_grace_ok(&req, o, T0 + 41, 30), "beyond the grace");
	ok(!cache_policy_grace_ok(&req, o, T0 + 11, 0), "no grace configured");
	ok(!cache_policy_grace_ok(&req, m, T0 + 11, 30), "must-revalidate: never");
	req.n_headers = build_headers(nc, qh);
	ok(!cache_policy_grace_ok(&req, o, T0 + 11, 30), "the client's no-cache: never");
	cache_obj_unref(&o);
	cache_obj_unref(&m);
}

int
main(void)
{
	test_table();
	test_error_ttl();
	test_store_field();
	test_clock_skew();
	test_request();
	test_conditional();
	test_revalidation();
	test_stale();
	test_usable();
	test_grace();
	return tap_done();
}
