/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/core/test_h1.c — the HTTP/1.1 codec: requests, responses, limits,
 * chunked decoding and serialization.
 *
 * Every parse runs on a heap copy of exactly the bytes under test so that
 * ASan catches any read past the end.  Tables hold literals with their sizeof
 * length, so cases may contain NUL bytes.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/h1.h"
#include "tests/unit/tap.h"

#define MAX_HDRS 64

static const struct h1_limits lim_default = {8192, 65536, MAX_HDRS};
static struct h1_header hdrs[MAX_HDRS];
static char *copy;

/* Exact-size heap copy of s; stays valid until the next call. */
static const char *
dup_exact(const char *s, size_t len)
{
	free(copy);
	copy = malloc(len ? len : 1);
	if (len)
		memcpy(copy, s, len);
	return copy;
}

static enum h1_status
req_parse(const char *s, size_t len, const struct h1_limits *lim, struct h1_request *req)
{
	return h1_parse_request(dup_exact(s, len), len, lim, hdrs, req);
}

static enum h1_status
resp_parse(const char *s, size_t len, bool head, struct h1_response *resp)
{
	return h1_parse_response(dup_exact(s, len), len, &lim_default, head, hdrs, resp);
}

static int
is_status(enum h1_status got, enum h1_status want, const char *what)
{
	int r = ok(got == want, what);

	if (!r)
		printf("#   got %s (%d), want %s (%d)\n", h1_strerror(got), got, h1_strerror(want),
		    want);
	return r;
}

static void
is_view(struct str got, const char *want, const char *what)
{
	size_t wl = want ? strlen(want) : 0;
	int eq = want == NULL ? got.len == 0 : got.len == wl && memcmp(got.p, want, wl) == 0;

	if (!ok(eq, what))
		printf("#   got \"%.*s\", want \"%s\"\n", (int)got.len, got.p ? got.p : "", want);
}

/* For every proper prefix the parser must say H1_AGAIN or what it says for the
 * whole input: errors do not depend on how the bytes arrive. */
static int
prefixes_consistent(const char *s, size_t len, const struct h1_limits *lim, enum h1_status full)
{
	struct h1_request req;

	for (size_t n = 0; n < len; n++) {
		enum h1_status st = req_parse(s, n, lim, &req);

		if (st != H1_AGAIN && st != full) {
			printf("#   prefix %zu: %s, full: %s\n", n, h1_strerror(st),
			    h1_strerror(full));
			return 0;
		}
	}
	return 1;
}

#define C(s, st)                                                                                   \
	{                                                                                          \
		s, sizeof(s) - 1, H1_##st                                                          \
	}

struct bad_case {
	const char *in;
	size_t len;
	enum h1_status want;
};

static const struct bad_case bad_requests[] = {
    /* request line */
    C(" GET / HTTP/1.1\r\n", E_BAD_REQUEST_LINE),
    C("GET  / HTTP/1.1\r\n", E_BAD_REQUEST_LINE),
    C("GET / HTTP/1.1 \r\n", E_BAD_REQUEST_LINE),
    C("GET /  HTTP/1.1\r\n", E_BAD_REQUEST_LINE),
    C("GET / http/1.1\r\n", E_BAD_REQUEST_LINE),
    C("GET / HTTP/1.10\r\n", E_BAD_REQUEST_LINE),
    C("GET / HTTP/2\r\n", E_BAD_REQUEST_LINE),
    C("GET / HTTP/1.x\r\n", E_BAD_REQUEST_LINE),
    C("GET /\r\n", E_BAD_REQUEST_LINE),
    C("GET\r\n", E_BAD_REQUEST_LINE),
    C("\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n", E_BAD_REQUEST_LINE),
    C("G(T / HTTP/1.1\r\n", E_BAD_METHOD),
    C("GET\t/ HTTP/1.1\r\n", E_BAD_METHOD),
    C("G\x80T / HTTP/1.1\r\n", E_BAD_METHOD),
    C("GET /a\x80 HTTP/1.1\r\n", E_BAD_TARGET),
    C("GET /a\tb HTTP/1.1\r\n", E_BAD_TARGET),
    C("GET /a\0b HTTP/1.1\r\n", E_BAD_TARGET),
    C("GET /a\x7f HTTP/1.1\r\n", E_BAD_TARGET),
    C("GET a/b HTTP/1.1\r\n", E_BAD_TARGET),
    /* no fragment in a request-target (RFC 9112 §3.2): the key would drop
     * what the origin still gets */
    C("GET /p#?x=1 HTTP/1.1\r\n", E_BAD_TARGET),
    /* characters outside RFC 3986 (§3.3 pchar, §3.4 query): an origin may
     * read "\\" as "/" where the key does not (web cache deception) */
    C("GET /static/..\\account HTTP/1.1\r\n", E_BAD_TARGET),
    C("GET /a\"b HTTP/1.1\r\n", E_BAD_TARGET),
    C("GET /a<b HTTP/1.1\r\n", E_BAD_TARGET),
    C("GET /a>b HTTP/1.1\r\n", E_BAD_TARGET),
    C("GET /a{b HTTP/1.1\r\n", E_BAD_TARGET),
    C("GET /a}b HTTP/1.1\r\n", E_BAD_TARGET),
    C("GET /a|b HTTP/1.1\r\n", E_BAD_TARGET),
    C("GET /a^b HTTP/1.1\r\n", E_BAD_TARGET),
    C("GET /a`b HTTP/1.1\r\n", E_BAD_TARGET),
    C("GET /a?q=\\ HTTP/1.1\r\n", E_BAD_TARGET),
    C("GET /a?q=<x> HTTP/1.1\r\n", E_BAD_TARGET),
    C("GET /a?q={x} HTTP/1.1\r\n", E_BAD_TARGET),
    C("GET /a?q=x|y HTTP/1.1\r\n", E_BAD_TARGET),
    C("GET http://a/b\\c HTTP/1.1\r\n", E_BAD_TARGET),
    C("GET http://a\\b/ HTTP/1.1\r\n", E_BAD_TARGET),
    C("GET /a[b HTTP/1.1\r\n", E_BAD_TARGET),
    C("GET /a]b?x HTTP/1.1\r\n", E_BAD_TARGET),
    C("GET http://a/[b] HTTP/1.1\r\n", E_BAD_TARGET),
    C("GET http://[::1]/x[ HTTP/1.1\r\n", E_BAD_TARGET),
    C("GET http://a/p#f HTTP/1.1\r\n", E_BAD_TARGET),
    C("GET * HTTP/1.1\r\n", E_BAD_TARGET),
    C("OPTIONS *x HTTP/1.1\r\n", E_BAD_TARGET),
    C("GET ftp://a/ HTTP/1.1\r\n", E_BAD_TARGET),
    C("GET http:/a/ HTTP/1.1\r\n", E_BAD_TARGET),
    C("GET http://a?x HTTP/1.1\r\n", E_BAD_TARGET),
    C("CONNECT /x HTTP/1.1\r\n", E_BAD_TARGET),
    C("CONNECT a.com HTTP/1.1\r\n", E_BAD_TARGET),
    C("CONNECT a.com:x HTTP/1.1\r\n", E_BAD_TARGET),
    C("GET a.com:80 HTTP/1.1\r\n", E_BAD_TARGET),
    C("GET http://u@a/ HTTP/1.1\r\n", E_BAD_HOST),
    C("GET http:/// HTTP/1.1\r\n", E_BAD_HOST),
    C("GET http://a:99999/ HTTP/1.1\r\n", E_BAD_HOST),
    C("GET / HTTP/2.0\r\n", E_BAD_VERSION),
    C("GET / HTTP/1.2\r\n", E_BAD_VERSION),
    C("GET / HTTP/0.9\r\n", E_BAD_VERSION),
    C("GET / HTTP/3.1\r\n", E_BAD_VERSION),
    /* line endings and control characters (RFC 9112 §2.2, §5) */
    C("GET / HTTP/1.1\nHost: a\r\n\r\n", E_BARE_LF),
    C("GET / HTTP/1.1\r\nHost: a\n\r\n", E_BARE_LF),
    C("GET / HTTP/1.1\r\nHost: a\r\n\n", E_BARE_LF),
    C("\nGET / HTTP/1.1\r\n", E_BARE_LF),
    C("GET /\n", E_BARE_LF),
    C("GET / HTTP/1.1\rHost: a\r\n\r\n", E_BARE_CR),
    C("GET / HTTP/1.1\r\nHost: a\r\r\n\r\n", E_BARE_CR),
    C("GET / HTTP/1.1\r\nHost: a\r\n\rX", E_BARE_CR),
    C("GET /a\rb HTTP/1.1\r\n", E_BARE_CR),
    C("GET / HTTP/1.1\r\nX: a\rb\r\n", E_BARE_CR),
    C("\rGET / HTTP/1.1\r\n", E_BARE_CR),
    C("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01z\r\n\r\n", E_CTL_CHAR),
    C("GET / HTTP/1.1\r\nHost: a\r\nX: a\0z\r\n\r\n", E_CTL_CHAR),
    C("GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n", E_CTL_CHAR),
    C("GET / HTTP/1.1\r\nHost: a\r\nX: \x1b[0m\r\n\r\n", E_CTL_CHAR),
    /* field lines */
    C("GET / HTTP/1.1\r\nHost : a\r\n\r\n", E_WS_BEFORE_COLON),
    C("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", E_WS_BEFORE_COLON),
    C("GET / HTTP/1.1\r\n Host: a\r\n\r\n", E_OBS_FOLD),
    C("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n\tc\r\n\r\n", E_OBS_FOLD),
    C("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", E_BAD_HEADER),
    C("GET / HTTP/1.1\r\nHost: a\r\nNo Colon\r\n\r\n", E_BAD_HEADER),
    C("GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n", E_BAD_HEADER),
    C("GET / HTTP/1.1\r\nHost: a\r\nNa(me: v\r\n\r\n", E_BAD_HEADER),
    C("GET / HTTP/1.1\r\nHost: a\r\nN\xc3\xa4me: v\r\n\r\n", E_BAD_HEADER),
    /* framing (RFC 9112 §6) */
    C("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        E_CL_AND_TE),
    C("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
        E_CL_AND_TE),
    C("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", E_BAD_TE),
    C("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", E_BAD_TE),
    C("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", E_BAD_TE),
    C("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
      "Transfer-Encoding: chunked\r\n\r\n",
        E_BAD_TE),
    C("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n", E_BAD_TE),
    C("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", E_BAD_TE),
    C("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", E_BAD_TE),
    C("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", E_BAD_CONTENT_LENGTH),
    C("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", E_BAD_CONTENT_LENGTH),
    C("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n", E_BAD_CONTENT_LENGTH),
    C("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", E_BAD_CONTENT_LENGTH),
    C("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", E_BAD_CONTENT_LENGTH),
    C("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\n",
        E_BAD_CONTENT_LENGTH),
    C("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
        E_DUP_CONTENT_LENGTH),
    C("POST / HTTP/1.1\r\nHost: a\r\ncontent-length: 5\r\nContent-Length: 6\r\n\r\n",
        E_DUP_CONTENT_LENGTH),
    C("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", E_DUP_CONTENT_LENGTH),
    C("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,5\r\n\r\n", E_DUP_CONTENT_LENGTH),
    /* Host (RFC 9110 §7.2, RFC 9112 §3.2) */
    C("GET / HTTP/1.1\r\n\r\n", E_NO_HOST),
    C("GET / HTTP/1.1\r\nX-Host: a\r\n\r\n", E_NO_HOST),
    C("GET http://a/ HTTP/1.1\r\n\r\n", E_NO_HOST),
    C("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", E_DUP_HOST),
    C("GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", E_DUP_HOST),
    C("GET / HTTP/1.1\r\nHost: \r\n\r\n", E_BAD_HOST),
    C("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", E_BAD_HOST),
    C("GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", E_BAD_HOST),
    C("GET / HTTP/1.1\r\nHost: a:\r\n\r\n", E_BAD_HOST),
    C("GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", E_BAD_HOST),
    C("GET / HTTP/1.1\r\nHost: a:65536\r\n\r\n", E_BAD_HOST),
    C("GET / HTTP/1.1\r\nHost: a:000080\r\n\r\n", E_BAD_HOST),
    C("GET / HTTP/1.1\r\nHost: :80\r\n\r\n", E_BAD_HOST),
    C("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", E_BAD_HOST),
    C("GET / HTTP/1.1\r\nHost: a%2\r\n\r\n", E_BAD_HOST),
    C("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", E_BAD_HOST),
    C("GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n", E_BAD_HOST),
    C("GET / HTTP/1.1\r\nHost: []\r\n\r\n", E_BAD_HOST),
    C("GET / HTTP/1.1\r\nHost: [zz]\r\n\r\n", E_BAD_HOST),
    C("GET / HTTP/1.1\r\nHost: a\xc3\xa4\r\n\r\n", E_BAD_HOST),
    C("GET http://a/ HTTP/1.1\r\nHost: u@b\r\n\r\n", E_BAD_HOST),
};

static void
test_bad_requests(void)
{
	struct h1_request req;
	char what[160];

	subtest("invalid requests: exact error, HTTP status, split-independence");
	for (size_t i = 0; i < sizeof bad_requests / sizeof bad_requests[0]; i++) {
		const struct bad_case *c = &bad_requests[i];
		enum h1_status st = req_parse(c->in, c->len, &lim_default, &req);

		snprintf(what, sizeof what, "bad request %zu: %s", i, h1_strerror(c->want));
		is_status(st, c->want, what);
		ok(prefixes_consistent(c->in, c->len, &lim_default, c->want),
		    "  every prefix: again or the same error");
	}
	is_int(h1_status_http(H1_E_BAD_REQUEST_LINE), 400);
	is_int(h1_status_http(H1_E_BAD_VERSION), 505);
	is_int(h1_status_http(H1_E_URI_TOO_LONG), 414);
	is_int(h1_status_http(H1_E_HEADERS_TOO_LARGE), 431);
	is_int(h1_status_http(H1_E_TOO_MANY_HEADERS), 431);
	is_int(h1_status_http(H1_E_BARE_LF), 400);
	is_int(h1_status_http(H1_E_CL_AND_TE), 400);
	is_int(h1_status_http(H1_E_BAD_STATUS_LINE), 502);
	is_int(h1_status_http(H1_OK), 0);
	is_int(h1_status_http((enum h1_status)1000), 500);
	is_str(h1_strerror(H1_E_BAD_CHUNK), "malformed chunk");
	is_str(h1_strerror(H1_AGAIN), "incomplete");
	is_str(h1_strerror((enum h1_status) - 1), "unknown status");
}

/* Every proper prefix H1_AGAIN, the whole H1_OK. */
static void
check_splits(const char *s, size_t len, const char *what)
{
	struct h1_request req;
	size_t n;

	for (n = 0; n < len; n++)
		if (req_parse(s, n, &lim_default, &req) != H1_AGAIN)
			break;
	ok(n == len, what);
	if (n != len)
		printf("#   prefix of %zu bytes did not return H1_AGAIN\n", n);
}

static void
test_requests(void)
{
	struct h1_request req;
	const char *s;

	subtest("GET origin-form");
	s = "GET /a/b?c=d HTTP/1.1\r\nHost: Example.com:8080\r\nUser-Agent:  x y \t\r\n"
	    "Accept:\r\nX-Utf8: caf\xc3\xa9\r\n\r\n";
	is_status(req_parse(s, strlen(s), &lim_default, &req), H1_OK, "parses");
	is_view(req.method, "GET", "method");
	is_view(req.target, "/a/b?c=d", "target");
	is_view(req.path, "/a/b?c=d", "path");
	is_int(req.form, H1_TARGET_ORIGIN);
	is_int(req.minor, 1);
	is_int(req.n_headers, 4);
	ok(req.headers == hdrs, "headers is the caller's array");
	is_view(req.headers[1].name, "User-Agent", "name as received");
	is_view(req.headers[1].value, "x y", "value OWS-trimmed");
	is_view(req.headers[2].value, "", "empty value");
	is_view(req.headers[3].value, "caf\xc3\xa9", "obs-text allowed");
	is_view(req.authority, "Example.com:8080", "authority from Host");
	is_view(req.host, "Example.com", "host");
	is_int(req.port, 8080);
	is_int(req.body, H1_BODY_NONE);
	ok(req.keep_alive, "1.1 keep-alive by default");
	ok(!req.expect_continue, "no expect");
	is_int(req.head_len, strlen(s));
	check_splits(s, strlen(s), "every prefix is H1_AGAIN");

	subtest("target characters: '[' ']' in the query and the IP literal only");
	s = "GET /a/b?c[]=1&d=%5B%5D HTTP/1.1\r\nHost: a\r\n\r\n";
	is_status(req_parse(s, strlen(s), &lim_default, &req), H1_OK, "brackets in the query");
	is_view(req.path, "/a/b?c[]=1&d=%5B%5D", "query kept as received");
	s = "GET http://[::1]:8080/p?x[0]=y HTTP/1.1\r\nHost: a\r\n\r\n";
	is_status(req_parse(s, strlen(s), &lim_default, &req), H1_OK, "IP literal authority");
	is_view(req.host, "[::1]", "host");
	is_view(req.path, "/p?x[0]=y", "path");
	s = "GET /%5C%22%7B%7D?a=%7C!$&'()*+,;=:@/? HTTP/1.1\r\nHost: a\r\n\r\n";
	is_status(req_parse(s, strlen(s), &lim_default, &req), H1_OK,
	    "percent-encoded, sub-delims, ':' '@' '/' '?'");

	subtest("absolute-form overrides Host");
	s = "GET HTTP://Origin.example:81/p?q HTTP/1.1\r\nHost: other.example\r\n\r\n";
	is_status(req_parse(s, strlen(s), &lim_default, &req), H1_OK, "parses");
	is_int(req.form, H1_TARGET_ABSOLUTE);
	is_view(req.scheme, "HTTP", "scheme as received");
	is_view(req.authority, "Origin.example:81", "authority from target");
	is_view(req.host, "Origin.example", "host from target");
	is_int(req.port, 81);
	is_view(req.path, "/p?q", "path");
	s = "GET https://a.example HTTP/1.1\r\nHost:\r\n\r\n";
	is_status(
	    req_parse(s, strlen(s), &lim_default, &req), H1_OK, "empty Host with absolute-form");
	is_view(req.path, "/", "default path");
	is_view(req.authority, "a.example", "authority");
	is_int(req.port, 0);

	subtest("extension method, OPTIONS *, CONNECT");
	s = "M-SEARCH /upnp HTTP/1.1\r\nHost: 239.255.255.250:1900\r\n\r\n";
	is_status(req_parse(s, strlen(s), &lim_default, &req), H1_OK, "M-SEARCH");
	is_view(req.method, "M-SEARCH", "method");
	is_view(req.host, "239.255.255.250", "IPv4 host");
	s = "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n";
	is_status(req_parse(s, strlen(s), &lim_default, &req), H1_OK, "OPTIONS *");
	is_int(req.form, H1_TARGET_ASTERISK);
	s = "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n";
	is_status(req_parse(s, strlen(s), &lim_default, &req), H1_OK, "CONNECT");
	is_int(req.form, H1_TARGET_AUTHORITY);
	is_view(req.host, "a.example", "host");
	is_int(req.port, 443);
	s = "GET / HTTP/1.1\r\nHost: [2001:db8::1]:8443\r\n\r\n";
	is_status(req_parse(s, strlen(s), &lim_default, &req), H1_OK, "IPv6 Host");
	is_view(req.host, "[2001:db8::1]", "brackets kept");
	is_int(req.port, 8443);
	s = "GET / HTTP/1.1\r\nHost: a-b_c~d.%41!$&'()*+,;=\r\n\r\n";
	is_status(req_parse(s, strlen(s), &lim_default, &req), H1_OK, "reg-name characters");

	subtest("keep-alive, Expect, body framing");
	s = "GET / HTTP/1.0\r\n\r\n";
	is_status(req_parse(s, strlen(s), &lim_default, &req), H1_OK, "1.0 without Host");
	is_int(req.minor, 0);
	ok(!req.keep_alive, "1.0 closes by default");
	is_int(req.authority.len, 0);
	s = "GET / HTTP/1.0\r\nHost:\r\nConnection: Keep-Alive\r\n\r\n";
	is_status(req_parse(s, strlen(s), &lim_default, &req), H1_OK, "1.0 keep-alive");
	ok(req.keep_alive, "1.0 with keep-alive");
	s = "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n";
	is_status(req_parse(s, strlen(s), &lim_default, &req), H1_OK, "1.0 keep-alive, close");
	ok(!req.keep_alive, "close wins");
	s = "GET / HTTP/1.1\r\nHost: a\r\nConnection: foo\r\nConnection: bar , CLOSE\r\n\r\n";
	is_status(req_parse(s, strlen(s), &lim_default, &req), H1_OK, "1.1 close");
	ok(!req.keep_alive, "close token in second Connection");
	s = "GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n";
	is_status(req_parse(s, strlen(s), &lim_default, &req), H1_OK, "1.1 closed");
	ok(req.keep_alive, "token must match exactly");
	s = "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 42\r\n\r\n";
	is_status(req_parse(s, strlen(s), &lim_default, &req), H1_OK, "expect");
	ok(req.expect_continue, "100-continue, case-insensitive");
	is_int(req.body, H1_BODY_LENGTH);
	is_int(req.content_length, 42);
	s = "PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n";
	is_status(req_parse(s, strlen(s), &lim_default, &req), H1_OK, "expect on 1.0");
	ok(!req.expect_continue, "ignored on 1.0");
	is_int(req.body, H1_BODY_LENGTH);
	is_int(req.content_length, 0);
	s = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n";
	is_status(req_parse(s, strlen(s), &lim_default, &req), H1_OK, "chunked");
	is_int(req.body, H1_BODY_CHUNKED);
	s = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551615\r\n\r\n";
	is_status(req_parse(s, strlen(s), &lim_default, &req), H1_OK, "CL max");
	ok(req.content_length == UINT64_MAX, "UINT64_MAX");

	subtest("pipelining and leading empty lines");
	s = "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: b\r\n\r\nGET /c";
	is_status(req_parse(s, strlen(s), &lim_default, &req), H1_OK, "first of two");
	is_int(req.head_len, 28);
	is_view(req.target, "/a", "first target");
	is_status(req_parse(s + 28, strlen(s + 28), &lim_default, &req), H1_OK, "second");
	is_view(req.target, "/b", "second target");
	is_int(req.head_len, 28);
	is_status(req_parse(s + 56, strlen(s + 56), &lim_default, &req), H1_AGAIN, "third partial");
	s = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
	is_status(req_parse(s, strlen(s), &lim_default, &req), H1_OK, "leading CRLFs skipped");
	is_int(req.head_len, strlen(s));
	is_view(req.method, "GET", "method after CRLFs");
	check_splits(s, strlen(s), "every prefix is H1_AGAIN");
	s = "POST http://a/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
	check_splits(s, strlen(s), "absolute-form chunked: every prefix is H1_AGAIN");
	is_status(req_parse("", 0, &lim_default, &req), H1_AGAIN, "empty input");
}

static void
test_limits(void)
{
	static const struct h1_limits lim = {32, 128, 4};
	struct h1_request req;
	char buf[512];
	const char *s;

	subtest("limits: 414, 431, too many fields");
	/* exactly 32 bytes including CRLF */
	s = "GET /1234567890123456 HTTP/1.1\r\nHost: a\r\n\r\n";
	is_status(req_parse(s, strlen(s), &lim, &req), H1_OK, "request line at the limit");
	s = "GET /12345678901234567 HTTP/1.1\r\nHost: a\r\n\r\n";
	is_status(req_parse(s, strlen(s), &lim, &req), H1_E_URI_TOO_LONG, "one byte over");
	is_status(req_parse(s, 32, &lim, &req), H1_E_URI_TOO_LONG, "incomplete and over");
	is_status(req_parse(s, 31, &lim, &req), H1_AGAIN, "incomplete, not yet over");
	ok(prefixes_consistent(s, strlen(s), &lim, H1_E_URI_TOO_LONG), "prefixes consistent");
	s = "\r\nGET /1234567890123456 HTTP/1.1\r\nHost: a\r\n\r\n";
	is_status(req_parse(s, strlen(s), &lim, &req), H1_OK, "empty line not part of the line");

	/* 128-byte head: 17 + 9 + 100 + 2 */
	memcpy(buf, "GET / HTTP/1.1\r\nHost: a\r\nX: ", 28);
	memset(buf + 28, 'v', 96);
	memcpy(buf + 124, "\r\n\r\n", 4);
	is_status(req_parse(buf, 128, &lim, &req), H1_OK, "head at the limit");
	is_int(req.head_len, 128);
	memcpy(buf + 124, "v\r\n\r\n", 5);
	is_status(req_parse(buf, 129, &lim, &req), H1_E_HEADERS_TOO_LARGE, "one byte over");
	is_status(req_parse(buf, 128, &lim, &req), H1_E_HEADERS_TOO_LARGE, "incomplete at limit");
	is_status(req_parse(buf, 100, &lim, &req), H1_AGAIN, "incomplete below limit");
	ok(prefixes_consistent(buf, 129, &lim, H1_E_HEADERS_TOO_LARGE), "prefixes consistent");

	s = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
	is_status(req_parse(s, strlen(s), &lim, &req), H1_OK, "4 fields");
	s = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n";
	is_status(req_parse(s, strlen(s), &lim, &req), H1_E_TOO_MANY_HEADERS, "5 fields");
	is_status(req_parse(s, strlen(s) - 6, &lim, &req), H1_E_TOO_MANY_HEADERS,
	    "detected before the head ends");
	is_int(h1_status_http(H1_E_TOO_MANY_HEADERS), 431);
}

struct resp_case {
	const char *in;
	size_t len;
	bool head;
	enum h1_status want;
	int status;
	enum h1_body body;
	uint64_t cl;
	bool keep_alive;
	const char *reason;
};

#define R(s, head, st, status, body, cl, ka, reason)                                               \
	{                                                                                          \
		s, sizeof(s) - 1, head, H1_##st, status, H1_BODY_##body, cl, ka, reason            \
	}

static const struct resp_case responses[] = {
    R("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false, OK, 200, LENGTH, 5, true, "OK"),
    R("HTTP/1.1 200\r\nContent-Length: 5\r\n\r\n", false, OK, 200, LENGTH, 5, true, ""),
    R("HTTP/1.1 200 \r\nContent-Length: 5\r\n\r\n", false, OK, 200, LENGTH, 5, true, ""),
    R("HTTP/1.1 404 Not  Found \xe2\x9c\x93\r\nContent-Length: 0\r\n\r\n", false, OK, 404, LENGTH,
        0, true, "Not  Found \xe2\x9c\x93"),
    /* RFC 9110 §15: a status outside 100..599 is invalid */
    R("HTTP/1.1 999 Whatever\r\nContent-Length: 1\r\n\r\n", false, E_BAD_STATUS_LINE, 0, NONE, 0,
        false, NULL),
    R("HTTP/1.1 600 Six\r\nContent-Length: 1\r\n\r\n", false, E_BAD_STATUS_LINE, 0, NONE, 0, false,
        NULL),
    R("HTTP/1.1 599 Last\r\nContent-Length: 1\r\n\r\n", false, OK, 599, LENGTH, 1, true, "Last"),
    R("HTTP/1.1 200 OK\r\n\r\n", false, OK, 200, CLOSE, 0, false, "OK"),
    R("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n", false, OK, 200, LENGTH, 3, false, "OK"),
    R("HTTP/1.0 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\n", false, OK, 200,
        LENGTH, 3, true, "OK"),
    R("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\n", false, OK, 200, LENGTH,
        3, false, "OK"),
    R("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false, OK, 200, CHUNKED, 0, true,
        "OK"),
    R("HTTP/1.1 200 OK\r\nTransfer-Encoding: CHUNKED\r\n\r\n", false, OK, 200, CHUNKED, 0, true,
        "OK"),
    /* a coding other than chunked would be relayed and stored undecoded */
    R("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", false, E_BAD_TE, 0, NONE, 0,
        false, NULL),
    R("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", false, E_BAD_TE, 0, NONE, 0, false,
        NULL),
    /* RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 is faulty framing */
    R("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false, E_BAD_TE, 0, NONE, 0, false,
        NULL),
    R("HTTP/1.1 204 No Content\r\n\r\n", false, OK, 204, NONE, 0, true, "No Content"),
    R("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", false, OK, 304, NONE, 10, true,
        "Not Modified"),
    R("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", true, OK, 200, NONE, 10, true, "OK"),
    R("HTTP/1.1 200 OK\r\n\r\n", true, OK, 200, NONE, 0, true, "OK"),
    R("HTTP/1.1 100 Continue\r\n\r\n", false, OK, 100, NONE, 0, true, "Continue"),
    R("HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
        false, OK, 101, NONE, 0, true, "Switching Protocols"),
    R("HTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n", false, OK, 200, LENGTH, 0, true, "OK"),
    R("HTTP/1.1 20 OK\r\n\r\n", false, E_BAD_STATUS_LINE, 0, NONE, 0, false, NULL),
    R("HTTP/1.1 2000 OK\r\n\r\n", false, E_BAD_STATUS_LINE, 0, NONE, 0, false, NULL),
    R("HTTP/1.1 099 OK\r\n\r\n", false, E_BAD_STATUS_LINE, 0, NONE, 0, false, NULL),
    R("HTTP/1.1  200 OK\r\n\r\n", false, E_BAD_STATUS_LINE, 0, NONE, 0, false, NULL),
    R("HTTP/2 200 OK\r\n\r\n", false, E_BAD_STATUS_LINE, 0, NONE, 0, false, NULL),
    R("HTTP/2.0 200 OK\r\n\r\n", false, E_BAD_STATUS_LINE, 0, NONE, 0, false, NULL),
    R("http/1.1 200 OK\r\n\r\n", false, E_BAD_STATUS_LINE, 0, NONE, 0, false, NULL),
    R("HTTP/1.1 200 O\x01K\r\n\r\n", false, E_BAD_STATUS_LINE, 0, NONE, 0, false, NULL),
    R("HTTP/1.1 200 OK\n\r\n", false, E_BARE_LF, 0, NONE, 0, false, NULL),
    R("HTTP/1.1 200\n\r\n", false, E_BARE_LF, 0, NONE, 0, false, NULL),
    R("HTTP/1.1 200 OK\rX\r\n", false, E_BARE_CR, 0, NONE, 0, false, NULL),
    R("HTTP/1.1 200 OK\r\nA: b\nC: d\r\n\r\n", false, E_BARE_LF, 0, NONE, 0, false, NULL),
    R("HTTP/1.1 200 OK\r\nA : b\r\n\r\n", false, E_WS_BEFORE_COLON, 0, NONE, 0, false, NULL),
    R("HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n", false, E_OBS_FOLD, 0, NONE, 0, false, NULL),
    R("HTTP/1.1 200 OK\r\nA: \x02\r\n\r\n", false, E_CTL_CHAR, 0, NONE, 0, false, NULL),
    R("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", false,
        E_CL_AND_TE, 0, NONE, 0, false, NULL),
    R("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", false,
        E_DUP_CONTENT_LENGTH, 0, NONE, 0, false, NULL),
    R("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", false, E_BAD_CONTENT_LENGTH, 0, NONE, 0,
        false, NULL),
    R("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", false, E_BAD_TE, 0, NONE, 0,
        false, NULL),
    R("HTTP/1.1 204 No Content\r\nContent-Length: 1, 1\r\n\r\n", false, E_DUP_CONTENT_LENGTH, 0,
        NONE, 0, false, NULL),
};

static void
test_responses(void)
{
	struct h1_response resp;
	char what[160];

	subtest("responses");
	for (size_t i = 0; i < sizeof responses / sizeof responses[0]; i++) {
		const struct resp_case *c = &responses[i];
		enum h1_status st = resp_parse(c->in, c->len, c->head, &resp);
		size_t n;

		snprintf(what, sizeof what, "response %zu: %s", i, h1_strerror(c->want));
		if (!is_status(st, c->want, what) || st != H1_OK)
			continue;
		ok(resp.status == c->status && resp.body == c->body &&
		        resp.content_length == c->cl && resp.keep_alive == c->keep_alive &&
		        resp.head_len == c->len,
		    "  status, body, length, keep-alive, head_len");
		if (resp.status != c->status || resp.body != c->body ||
		    resp.keep_alive != c->keep_alive)
			printf("#   status %d body %d cl %llu ka %d\n", resp.status, resp.body,
			    (unsigned long long)resp.content_length, resp.keep_alive);
		is_view(resp.reason, c->reason, "  reason");
		for (n = 0; n < c->len; n++)
			if (resp_parse(c->in, n, c->head, &resp) != H1_AGAIN)
				break;
		ok(n == c->len, "  every prefix is H1_AGAIN");
	}
	{
		static const struct h1_limits small = {8192, 20, 8};
		const char *s = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n";

		is_status(h1_parse_response(
		              dup_exact(s, strlen(s)), strlen(s), &small, false, hdrs, &resp),
		    H1_E_HEADERS_TOO_LARGE, "response head too large");
	}
}

/* Decodes in[0..len) cut at the given points; returns the status, appends the
 * data to out and the total consumed to *used. */
static enum h1_status
chunked_run(const char *in, size_t len, const size_t *cuts, size_t ncuts, char *out, size_t *outlen,
    size_t *used)
{
	struct h1_chunked c;
	enum h1_status st = H1_AGAIN;
	size_t start = 0;

	h1_chunked_init(&c);
	*outlen = 0;
	*used = 0;
	for (size_t k = 0; k <= ncuts && st == H1_AGAIN; k++) {
		size_t end = k < ncuts ? cuts[k] : len;
		char *piece = malloc(end - start + 1);
		const char *p = piece;
		size_t n = end - start;

		memcpy(piece, in + start, n);
		while (n > 0) {
			const char *d;
			size_t dl, u;

			st = h1_chunked_decode(&c, p, n, &u, &d, &dl);
			if (dl) {
				if (d < p || d + dl > p + n)
					st = (enum h1_status) - 1;
				memcpy(out + *outlen, d, dl);
				*outlen += dl;
			}
			p += u;
			n -= u;
			*used += u;
			if (st != H1_AGAIN)
				break;
		}
		free(piece);
		start = end;
	}
	return st;
}

static void
test_chunked(void)
{
	static const char body[] = "5;ext;name=val ; q=\"a \\\"b\\\" c\"\r\nhello\r\n"
	                           "1A\r\nabcdefghijklmnopqrstuvwxyz\r\n"
	                           "0000;last\r\nTrailer-One: x\r\nT2:\r\n\r\n"
	                           "GET / HTTP/1.1\r\n";
	static const char want[] = "helloabcdefghijklmnopqrstuvwxyz";
	size_t len = sizeof body - 1, end = len - 16;
	char out[256];
	size_t outlen, used, cuts[512];
	enum h1_status st;
	bool all_ok;

	subtest("chunked decoder");
	st = chunked_run(body, len, NULL, 0, out, &outlen, &used);
	is_status(st, H1_OK, "whole body");
	is_int(used, end);
	ok(outlen == sizeof want - 1 && memcmp(out, want, outlen) == 0, "data");

	all_ok = true;
	for (size_t i = 0; i <= len; i++) {
		cuts[0] = i;
		st = chunked_run(body, len, cuts, 1, out, &outlen, &used);
		if (st != H1_OK || used != end || outlen != sizeof want - 1 ||
		    memcmp(out, want, outlen) != 0) {
			printf("#   split at %zu: %s used %zu\n", i, h1_strerror(st), used);
			all_ok = false;
		}
	}
	ok(all_ok, "every split point");
	for (size_t i = 0; i < len; i++)
		cuts[i] = i + 1;
	st = chunked_run(body, len, cuts, len - 1, out, &outlen, &used);
	ok(st == H1_OK && used == end && outlen == sizeof want - 1 &&
	        memcmp(out, want, outlen) == 0,
	    "byte by byte");

	{
		struct h1_chunked c;
		const char *d;
		size_t dl, u;
		char big[] = "1000000000000000\r\n";

		h1_chunked_init(&c);
		is_status(h1_chunked_decode(&c, big, strlen(big), &u, &d, &dl), H1_AGAIN,
		    "2^60 accepted");
		is_int(u, strlen(big));
		ok(c.remaining == (uint64_t)1 << 60, "remaining 2^60");
		h1_chunked_init(&c);
		is_status(h1_chunked_decode(&c, "0\r\n\r\n", 5, &u, &d, &dl), H1_OK, "empty body");
		is_int(u, 5);
		is_status(h1_chunked_decode(&c, "x", 1, &u, &d, &dl), H1_OK, "done stays done");
		is_int(u, 0);
	}
}

static const struct bad_case bad_chunks[] = {
    C("x\r\n", E_BAD_CHUNK),
    C(" 5\r\nhello\r\n0\r\n\r\n", E_BAD_CHUNK),
    C("0x5\r\nhello\r\n", E_BAD_CHUNK),
    C("+5\r\nhello\r\n", E_BAD_CHUNK),
    C("\r\n", E_BAD_CHUNK),
    C("5\nhello\r\n", E_BAD_CHUNK),
    C("5\rhello\r\n", E_BAD_CHUNK),
    C("5\r\nhelloX\r\n", E_BAD_CHUNK),
    C("5\r\nhello\rX", E_BAD_CHUNK),
    C("5\r\nhello\n0\r\n\r\n", E_BAD_CHUNK),
    C("5;\r\nhello\r\n", E_BAD_CHUNK),
    C("5;=x\r\nhello\r\n", E_BAD_CHUNK),
    C("5;a=\r\nhello\r\n", E_BAD_CHUNK),
    C("5;a=\"x\r\nhello\r\n", E_BAD_CHUNK),
    C("5;a b\r\nhello\r\n", E_BAD_CHUNK),
    C("5 5\r\nhello\r\n", E_BAD_CHUNK),
    C("5;a=b=c\r\n", E_BAD_CHUNK),
    C("5;a=\"\x01\"\r\n", E_BAD_CHUNK),
    C("1000000000000001\r\n", E_CHUNK_TOO_LARGE),
    C("ffffffffffffffffffff\r\n", E_CHUNK_TOO_LARGE),
    C("0\r\nX : y\r\n\r\n", E_BAD_TRAILER),
    C("0\r\n y\r\n\r\n", E_BAD_TRAILER),
    C("0\r\nX: y\r\n z\r\n\r\n", E_BAD_TRAILER),
    C("0\r\nNoColon\r\n\r\n", E_BAD_TRAILER),
    C("0\r\nX: \x01\r\n\r\n", E_BAD_TRAILER),
    C("0\r\nX: y\n\r\n", E_BAD_TRAILER),
    C("0\r\n\rX", E_BAD_TRAILER),
    C("0\r\n\n", E_BAD_TRAILER),
};

static void
test_chunked_errors(void)
{
	struct h1_chunked c;
	char what[128], *big;
	size_t outlen, used, n;
	static char out[32768];
	const char *d;
	size_t dl, u;

	subtest("chunked decoder errors");
	for (size_t i = 0; i < sizeof bad_chunks / sizeof bad_chunks[0]; i++) {
		const struct bad_case *bc = &bad_chunks[i];
		size_t cuts[64];
		enum h1_status st = chunked_run(bc->in, bc->len, NULL, 0, out, &outlen, &used);

		snprintf(what, sizeof what, "bad chunk %zu: %s", i, h1_strerror(bc->want));
		is_status(st, bc->want, what);
		for (size_t k = 0; k + 1 < bc->len && k < 64; k++)
			cuts[k] = k + 1;
		n = bc->len - 1 < 64 ? bc->len - 1 : 64;
		is_status(chunked_run(bc->in, bc->len, cuts, n, out, &outlen, &used), bc->want,
		    "  byte by byte");
	}

	/* the error is sticky */
	h1_chunked_init(&c);
	is_status(h1_chunked_decode(&c, "z", 1, &u, &d, &dl), H1_E_BAD_CHUNK, "bad");
	is_status(h1_chunked_decode(&c, "5\r\n", 3, &u, &d, &dl), H1_E_BAD_CHUNK, "still bad");
	is_int(u, 0);

	/* size line limit: 4 KiB */
	big = malloc(32768);
	memcpy(big, "1;", 2);
	memset(big + 2, 'a', 4092);
	memcpy(big + 4094, "\r\n", 2);
	h1_chunked_init(&c);
	is_status(h1_chunked_decode(&c, big, 4096, &u, &d, &dl), H1_AGAIN, "4 KiB size line");
	memcpy(big + 4094, "a\r\n", 3);
	h1_chunked_init(&c);
	is_status(
	    h1_chunked_decode(&c, big, 4097, &u, &d, &dl), H1_E_BAD_CHUNK, "size line over 4 KiB");

	/* trailer section limit: 16 KiB */
	memcpy(big, "0\r\n", 3);
	n = 3;
	for (int i = 0; i < 20; i++) {
		memcpy(big + n, "X: ", 3);
		memset(big + n + 3, 'y', 995);
		memcpy(big + n + 998, "\r\n", 2);
		n += 1000;
	}
	memcpy(big + n, "\r\n", 2);
	n += 2;
	h1_chunked_init(&c);
	is_status(
	    h1_chunked_decode(&c, big, n, &u, &d, &dl), H1_E_BAD_TRAILER, "trailers over 16 KiB");
	h1_chunked_init(&c);
	memcpy(big + 3 + 16000, "\r\n", 2);
	is_status(
	    h1_chunked_decode(&c, big, 3 + 16002, &u, &d, &dl), H1_OK, "trailers under 16 KiB");
	free(big);
}

static void
test_serialize(void)
{
	char out[64];
	size_t n;

	subtest("serialization");
	n = h1_chunk_header(0x1a2b, out, sizeof out);
	is_int(n, 6);
	out[n] = '\0';
	is_str(out, "1a2b\r\n");
	n = h1_chunk_header(0, out, sizeof out);
	out[n] = '\0';
	is_str(out, "0\r\n");
	n = h1_chunk_header(UINT64_MAX, out, sizeof out);
	out[n] = '\0';
	is_str(out, "ffffffffffffffff\r\n");
	is_int(h1_chunk_header(0x1a2b, out, 5), 0);
	is_int(h1_chunk_header(0x1a2b, out, 6), 6);

	n = h1_status_line(404, out, sizeof out);
	out[n] = '\0';
	is_str(out, "HTTP/1.1 404 Not Found\r\n");
	n = h1_status_line(599, out, sizeof out);
	out[n] = '\0';
	is_str(out, "HTTP/1.1 599 Unknown\r\n");
	n = h1_status_line(200, out, sizeof out);
	out[n] = '\0';
	is_str(out, "HTTP/1.1 200 OK\r\n");
	is_int(h1_status_line(600, out, sizeof out), 0);
	is_int(h1_status_line(99, out, sizeof out), 0);
	is_int(h1_status_line(404, out, 23), 0);
	is_int(h1_status_line(404, out, 24), 24);
	is_str(h1_reason(431), "Request Header Fields Too Large");
	is_str(h1_reason(505), "HTTP Version Not Supported");
	is_str(h1_reason(299), "Unknown");
}

static void
test_hop_by_hop(void)
{
	struct h1_request req;
	const char *s = "GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Foo, close\r\n"
	                "Connection: x-bar\r\nX-Foo: 1\r\nX-Baz: 2\r\n\r\n";
	const struct h1_header *h;

	subtest("hop-by-hop and lookup");
	is_status(req_parse(s, strlen(s), &lim_default, &req), H1_OK, "parses");
	ok(h1_is_hop_by_hop(STR_LIT("keep-alive"), req.headers, req.n_headers), "Keep-Alive");
	ok(h1_is_hop_by_hop(STR_LIT("TE"), req.headers, req.n_headers), "TE");
	ok(h1_is_hop_by_hop(STR_LIT("Transfer-Encoding"), req.headers, req.n_headers), "T-E");
	ok(h1_is_hop_by_hop(STR_LIT("proxy-connection"), req.headers, req.n_headers), "P-C");
	ok(h1_is_hop_by_hop(STR_LIT("Proxy-Authorization"), NULL, 0), "P-Authz");
	ok(h1_is_hop_by_hop(STR_LIT("proxy-authentication-info"), NULL, 0), "P-A-Info");
	ok(h1_is_hop_by_hop(STR_LIT("upgrade"), NULL, 0), "Upgrade");
	ok(h1_is_hop_by_hop(STR_LIT("x-foo"), req.headers, req.n_headers), "listed in Connection");
	ok(h1_is_hop_by_hop(STR_LIT("X-Bar"), req.headers, req.n_headers), "second Connection");
	ok(!h1_is_hop_by_hop(STR_LIT("X-Baz"), req.headers, req.n_headers), "X-Baz end-to-end");
	ok(!h1_is_hop_by_hop(STR_LIT("Content-Type"), req.headers, req.n_headers), "C-T");
	ok(!h1_is_hop_by_hop(STR_LIT("X-Foo"), NULL, 0), "no Connection field");
	h = h1_header_find(req.headers, req.n_headers, STR_LIT("x-foo"));
	ok(h != NULL && h == &req.headers[3], "find is case-insensitive");
	ok(h1_header_find(req.headers, req.n_headers, STR_LIT("nope")) == NULL, "find NULL");
	h = h1_header_find(req.headers, req.n_headers, STR_LIT("connection"));
	ok(h == &req.headers[1], "find returns the first");
}

int
main(void)
{
	test_requests();
	test_bad_requests();
	test_limits();
	test_responses();
	test_chunked();
	test_chunked_errors();
	test_serialize();
	test_hop_by_hop();
	free(copy);
	return tap_done();
}
