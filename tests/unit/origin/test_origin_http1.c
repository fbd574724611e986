/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/origin/test_origin_http1.c — the HTTP/1 client's response
 * reader over an evbuffer: a table of responses (Content-Length, chunked,
 * close-delimited, interim 1xx, HEAD, oversized and malformed heads,
 * truncated and badly chunked bodies), each fed whole and byte by byte, with
 * the head's outcome, the body delivered, the body's outcome and whether the
 * connection may be reused; then a callback that stops, the bytes after a
 * framed body left in place, and the timeouts each phase sets.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "core/assert.h"
#include "origin/origin_http1.h"
#include "tests/unit/tap.h"

#define MAX_HDRS 16

struct sink {
	char buf[256];
	size_t len;
	size_t stop_after; /* 0: never stop */
};

/* ok() with a formatted description. */
static void okf(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
okf(bool cond, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	ok(cond, what);
}

static bool
on_body(void *arg, const char *p, size_t n)
{
	struct sink *s = arg;

	ASSERT(s->len + n < sizeof s->buf);
	memcpy(s->buf + s->len, p, n);
	s->len += n;
	return s->stop_after == 0 || s->len < s->stop_after;
}

struct tcase {
	const char *name;
	const char *in;
	bool head_request;
	size_t max_head;               /* 0: 1024 */
	unsigned max_interim;          /* at most this many 1xx */
	enum origin_http1_status head; /* what read_head ends with once all is in */
	enum h1_status h1;             /* with E_MALFORMED */
	int status;                    /* with OK */
	unsigned interim;              /* 1xx skipped */
	bool eof;                      /* the origin closes after the bytes */
	enum origin_http1_status body; /* with a head: what read_body ends with */
	const char *body_bytes;        /* delivered */
	bool reusable;                 /* with body OK */
};

static const struct tcase cases[] = {
    {"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false, 0, 4,
        ORIGIN_HTTP1_OK, H1_OK, 200, 0, false, ORIGIN_HTTP1_OK, "hello", true},
    {"content-length 0", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, 0, 4,
        ORIGIN_HTTP1_OK, H1_OK, 200, 0, false, ORIGIN_HTTP1_OK, "", true},
    {"content-length, connection: close",
        "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nab", false, 0, 4,
        ORIGIN_HTTP1_OK, H1_OK, 200, 0, false, ORIGIN_HTTP1_OK, "ab", false},
    {"chunked",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n",
        false, 0, 4, ORIGIN_HTTP1_OK, H1_OK, 200, 0, false, ORIGIN_HTTP1_OK, "hello world", true},
    {"close-delimited at eof", "HTTP/1.0 200 OK\r\n\r\nabc", false, 0, 4, ORIGIN_HTTP1_OK, H1_OK,
        200, 0, true, ORIGIN_HTTP1_OK, "abc", false},
    {"close-delimited, more to come", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nabc", false, 0,
        4, ORIGIN_HTTP1_OK, H1_OK, 200, 0, false, ORIGIN_HTTP1_AGAIN, "abc", false},
    {"interim responses skipped",
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
        "HTTP/1.1 204 No Content\r\n\r\n",
        false, 0, 4, ORIGIN_HTTP1_OK, H1_OK, 204, 2, false, ORIGIN_HTTP1_OK, "", true},
    {"interim responses at the cap",
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n"
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
        false, 0, 2, ORIGIN_HTTP1_OK, H1_OK, 200, 2, false, ORIGIN_HTTP1_OK, "x", true},
    {"interim responses over the cap",
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n"
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        false, 0, 2, ORIGIN_HTTP1_E_INTERIM, H1_OK, 0, 3, false, ORIGIN_HTTP1_OK, NULL, false},
    {"101 refused", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n", false, 0, 4,
        ORIGIN_HTTP1_E_UPGRADE, H1_OK, 0, 0, false, ORIGIN_HTTP1_OK, NULL, false},
    {"HEAD: no body despite Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true,
        0, 4, ORIGIN_HTTP1_OK, H1_OK, 200, 0, false, ORIGIN_HTTP1_OK, "", true},
    {"304: no body", "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", false, 0, 4,
        ORIGIN_HTTP1_OK, H1_OK, 304, 0, false, ORIGIN_HTTP1_OK, "", true},
    {"oversized head",
        "HTTP/1.1 200 OK\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"
        "Content-Length: 0\r\n\r\n",
        false, 64, 4, ORIGIN_HTTP1_E_MALFORMED, H1_E_HEADERS_TOO_LARGE, 0, 0, false,
        ORIGIN_HTTP1_OK, NULL, false},
    {"oversized head, never ending",
        "HTTP/1.1 200 OK\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        false, 64, 4, ORIGIN_HTTP1_E_MALFORMED, H1_E_HEADERS_TOO_LARGE, 0, 0, false,
        ORIGIN_HTTP1_OK, NULL, false},
    {"malformed status line", "HTTP/1.1 2x0 OK\r\n\r\n", false, 0, 4, ORIGIN_HTTP1_E_MALFORMED,
        H1_E_BAD_STATUS_LINE, 0, 0, false, ORIGIN_HTTP1_OK, NULL, false},
    {"incomplete head", "HTTP/1.1 200 OK\r\nContent-Len", false, 0, 4, ORIGIN_HTTP1_AGAIN, H1_OK, 0,
        0, false, ORIGIN_HTTP1_OK, NULL, false},
    {"truncated content-length body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", false, 0,
        4, ORIGIN_HTTP1_OK, H1_OK, 200, 0, true, ORIGIN_HTTP1_E_TRUNCATED, "abc", false},
    {"truncated chunked body", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
        false, 0, 4, ORIGIN_HTTP1_OK, H1_OK, 200, 0, true, ORIGIN_HTTP1_E_TRUNCATED, "hel", false},
    {"chunked body without its last chunk",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n", false, 0, 4,
        ORIGIN_HTTP1_OK, H1_OK, 200, 0, false, ORIGIN_HTTP1_AGAIN, "ab", false},
    {"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n", false,
        0, 4, ORIGIN_HTTP1_OK, H1_OK, 200, 0, false, ORIGIN_HTTP1_E_CHUNKED, "", false},
};

/* Runs c with its bytes fed step at a time (0: all at once). */
static void
run(const struct tcase *c, size_t step)
{
	struct evbuffer *in = evbuffer_new();
	struct origin_http1_reader r;
	struct h1_limits lim = {0, c->max_head ? c->max_head : 1024, MAX_HDRS};
	struct h1_header hdrs[MAX_HDRS];
	struct h1_response resp;
	enum h1_status h1st = H1_OK;
	enum origin_http1_status hs = ORIGIN_HTTP1_AGAIN, bs = ORIGIN_HTTP1_AGAIN;
	struct sink s = {.len = 0};
	size_t len = strlen(c->in), off = 0;
	char what[160];

	origin_http1_init(&r, &lim, c->max_interim, c->head_request, NULL);
	while (off < len) {
		size_t n = step == 0 || len - off < step ? len - off : step;

		evbuffer_add(in, c->in + off, n);
		off += n;
		if (hs == ORIGIN_HTTP1_AGAIN) {
			hs = origin_http1_read_head(&r, in, hdrs, &resp, &h1st);
			if (hs == ORIGIN_HTTP1_OK)
				origin_http1_body_begin(&r, in, &resp);
		}
		if (hs == ORIGIN_HTTP1_OK && bs == ORIGIN_HTTP1_AGAIN)
			bs = origin_http1_read_body(&r, in, false, on_body, &s);
		if (hs != ORIGIN_HTTP1_AGAIN && hs != ORIGIN_HTTP1_OK)
			break;
	}
	if (hs == ORIGIN_HTTP1_OK && bs == ORIGIN_HTTP1_AGAIN && c->eof)
		bs = origin_http1_read_body(&r, in, true, on_body, &s);
	snprintf(what, sizeof what, "%s (%s)", c->name, step ? "byte by byte" : "whole");
	okf(hs == c->head, "%s: head %s", what, origin_http1_strerror(hs));
	if (c->head == ORIGIN_HTTP1_E_MALFORMED)
		okf(h1st == c->h1, "%s: %s", what, h1_strerror(h1st));
	okf(r.n_interim == c->interim, "%s: %u interim", what, r.n_interim);
	if (hs == ORIGIN_HTTP1_OK) {
		okf(resp.status == c->status, "%s: status %d", what, resp.status);
		okf(bs == c->body, "%s: body %s", what, origin_http1_strerror(bs));
		okf(s.len == strlen(c->body_bytes) && memcmp(s.buf, c->body_bytes, s.len) == 0,
		    "%s: body \"%.*s\"", what, (int)s.len, s.buf);
		if (bs == ORIGIN_HTTP1_OK)
			okf(origin_http1_reusable(&r) == c->reusable, "%s: reusable", what);
	}
	evbuffer_free(in);
}

static void
test_table(void)
{
	subtest("responses, whole and byte by byte");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		run(&cases[i], 0);
		run(&cases[i], 1);
	}
}

static void
test_stop_and_leftover(void)
{
	static const char two[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
	                          "HTTP/1.1 404 Not Found\r\n";
	struct evbuffer *in = evbuffer_new();
	struct origin_http1_reader r;
	struct h1_limits lim = {0, 1024, MAX_HDRS};
	struct h1_header hdrs[MAX_HDRS];
	struct h1_response resp;
	enum h1_status h1st;
	struct sink s = {.len = 0};
	char rest[64];
	size_t n;

	subtest("a callback that stops; bytes after a framed body");
	origin_http1_init(&r, &lim, 4, false, NULL);
	evbuffer_add(in, two, sizeof two - 1);
	is_int(origin_http1_read_head(&r, in, hdrs, &resp, &h1st), ORIGIN_HTTP1_OK);
	origin_http1_body_begin(&r, in, &resp);
	is_int(origin_http1_read_body(&r, in, false, on_body, &s), ORIGIN_HTTP1_OK);
	is_int((int)s.len, 3);
	n = evbuffer_copyout(in, rest, sizeof rest - 1);
	rest[n] = '\0';
	is_str(rest, "HTTP/1.1 404 Not Found\r\n");
	evbuffer_free(in);

	in = evbuffer_new();
	s = (struct sink){.stop_after = 2};
	origin_http1_init(&r, &lim, 4, false, NULL);
	evbuffer_add_printf(in, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nwxyz");
	is_int(origin_http1_read_head(&r, in, hdrs, &resp, &h1st), ORIGIN_HTTP1_OK);
	origin_http1_body_begin(&r, in, &resp);
	is_int(origin_http1_read_body(&r, in, false, on_body, &s), ORIGIN_HTTP1_STOP);
	evbuffer_free(in);
}

static void
test_timeouts(void)
{
	const struct origin_http1_timeouts tmo = {1500, 250, 3000};
	struct origin_http1_reader r;
	struct h1_limits lim = {0, 1024, MAX_HDRS};
	struct h1_header hdrs[MAX_HDRS];
	struct h1_response resp;
	enum h1_status h1st;
	struct evbuffer *in = evbuffer_new();

	subtest("timeouts: first byte, then between bytes");
	origin_http1_init(&r, &lim, 4, false, &tmo);
	is_int(origin_http1_read_timeout_ms(&r), 1500);
	evbuffer_add_printf(in, "HTTP/1.1 100 Continue\r\n\r\n");
	is_int(origin_http1_read_head(&r, in, hdrs, &resp, &h1st), ORIGIN_HTTP1_AGAIN);
	is_int(origin_http1_read_timeout_ms(&r), 1500);
	evbuffer_add_printf(in, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n");
	is_int(origin_http1_read_head(&r, in, hdrs, &resp, &h1st), ORIGIN_HTTP1_OK);
	origin_http1_body_begin(&r, in, &resp);
	is_int(origin_http1_read_timeout_ms(&r), 250);
	is_int(r.tmo.send_ms, 3000);
	origin_http1_init(&r, &lim, 4, false, NULL);
	is_int(origin_http1_read_timeout_ms(&r), 0);
	evbuffer_free(in);
}

int
main(void)
{
	test_table();
	test_stop_and_leftover();
	test_timeouts();
	return tap_done();
}
