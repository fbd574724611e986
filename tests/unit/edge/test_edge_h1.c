/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Unit tests for the HTTP/1.1 transport's request bodies (edge_h1.c
 * body_begin / body_next): a request body arrives in pieces as a client
 * sends it, and the transport gives it back with its framing taken off
 * (Content-Length counted, chunks decoded, RFC 9112 §6.3, §7.1), the bytes
 * after it left for the next request, an invalid framing reported with the
 * status to answer.  The request and its connection are plain memory: no
 * socket, no loop.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "core/assert.h"
#include "core/h1.h"
#include "edge/edge_conn.h"
#include "edge/edge_h1.h"
#include "edge/edge_req.h"
#include "edge/edge_xport.h"
#include "tests/unit/tap.h"

static const struct {
	const char *what;
	enum h1_body body;
	uint64_t content_length;
	const char *pieces[4]; /* sent one after the other */
	const char *content;   /* what the transport gave */
	enum edge_xport_body last;
	int status;         /* ERROR: the answer */
	const char *left;   /* input after the body (the next request) */
	bool one_at_a_time; /* each piece sent one byte at a time */
} cases[] = {
    {"Content-Length in two pieces, the next request left", H1_BODY_LENGTH, 5, {"hel", "loGET /"},
        "hello", EDGE_XPORT_BODY_END, 0, "GET /", false},
    {"Content-Length 0 ends at once", H1_BODY_LENGTH, 0, {"GET /"}, "", EDGE_XPORT_BODY_END, 0,
        "GET /", false},
    {"Content-Length not all sent yet", H1_BODY_LENGTH, 10, {"hello"}, "hello",
        EDGE_XPORT_BODY_AGAIN, 0, "", false},
    {"one chunk", H1_BODY_CHUNKED, 0, {"5\r\nhello\r\n0\r\n\r\n"}, "hello", EDGE_XPORT_BODY_END, 0,
        "", false},
    {"two chunks, an extension and a trailer, the next request left", H1_BODY_CHUNKED, 0,
        {"3;a=b\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\nGET /"}, "abcde", EDGE_XPORT_BODY_END, 0,
        "GET /", false},
    {"chunks one byte at a time", H1_BODY_CHUNKED, 0, {"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"}, "abcde",
        EDGE_XPORT_BODY_END, 0, "", true},
    {"chunks split across pieces", H1_BODY_CHUNKED, 0, {"3\r\nab", "c\r\n2\r", "\nde\r\n0\r\n\r\n"},
        "abcde", EDGE_XPORT_BODY_END, 0, "", false},
    {"the last chunk not sent yet", H1_BODY_CHUNKED, 0, {"3\r\nabc\r\n"}, "abc",
        EDGE_XPORT_BODY_AGAIN, 0, "", false},
    {"an invalid chunk size: 400", H1_BODY_CHUNKED, 0, {"zz\r\nabc\r\n"}, "", EDGE_XPORT_BODY_ERROR,
        400, NULL, false},
    {"data, then an invalid chunk size: the data, then 400", H1_BODY_CHUNKED, 0,
        {"3\r\nabc\r\nzz\r\n"}, "abc", EDGE_XPORT_BODY_ERROR, 400, NULL, false},
};

/* Takes what the transport gives from in into out; the last answer. */
static enum edge_xport_body
drain_body(
    struct edge_req *r, struct evbuffer *in, char *out, size_t *out_len, size_t cap, int *status)
{
	enum edge_xport_body b;

	for (int i = 0; i < 1000; i++) {
		size_t n = 0;
		const char *why = NULL;

		b = edge_h1_xport.body_next(r, &n, status, &why);
		if (b != EDGE_XPORT_BODY_DATA)
			return b;
		ASSERT(n > 0 && *out_len + n <= cap && n <= evbuffer_get_length(in));
		evbuffer_remove(in, out + *out_len, n);
		*out_len += n;
	}
	return EDGE_XPORT_BODY_AGAIN;
}

static void
test_bodies(void)
{
	subtest("a request body with its framing taken off");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		static struct edge_conn c;
		struct edge_req *r = &c.req_h1;
		char out[256], left[256];
		size_t out_len = 0;
		int status = 0;
		enum edge_xport_body b = EDGE_XPORT_BODY_AGAIN;
		struct evbuffer *in;

		memset(&c, 0, sizeof c);
		in = c.io.in = evbuffer_new();
		c.io.out = evbuffer_new();
		c.req = r;
		r->conn = &c;
		r->sess = &c.sess;
		r->xp = &edge_h1_xport;
		r->h1.body = cases[i].body;
		r->h1.content_length = cases[i].content_length;
		edge_h1_xport.body_begin(r);
		for (size_t k = 0; k < 4 && cases[i].pieces[k] != NULL; k++) {
			const char *p = cases[i].pieces[k];
			size_t len = strlen(p), step = cases[i].one_at_a_time ? 1 : len;

			for (size_t at = 0; at < len; at += step) {
				evbuffer_add(in, p + at, step);
				b = drain_body(r, in, out, &out_len, sizeof out, &status);
				if (b == EDGE_XPORT_BODY_END || b == EDGE_XPORT_BODY_ERROR)
					break;
			}
		}
		is_int(b, cases[i].last);
		ok(out_len == strlen(cases[i].content) &&
		        memcmp(out, cases[i].content, out_len) == 0,
		    cases[i].what);
		if (cases[i].last == EDGE_XPORT_BODY_ERROR)
			is_int(status, cases[i].status);
		if (cases[i].left != NULL) {
			size_t n = evbuffer_remove(in, left, sizeof left - 1);

			left[n] = '\0';
			is_str(left, cases[i].left);
		}
		is_int(evbuffer_get_length(c.io.out), 0); /* no 100 Continue: not expected */
		evbuffer_free(c.io.in);
		evbuffer_free(c.io.out);
	}
}

static void
test_continue(void)
{
	static struct edge_conn c;
	struct edge_req *r = &c.req_h1;
	char head[64];
	size_t n;

	subtest("100 Continue when the client expects it (RFC 9110 §10.1.1)");
	memset(&c, 0, sizeof c);
	c.io.in = evbuffer_new();
	c.io.out = evbuffer_new();
	c.req = r;
	r->conn = &c;
	r->sess = &c.sess;
	r->xp = &edge_h1_xport;
	r->h1.body = H1_BODY_LENGTH;
	r->h1.content_length = 3;
	r->h1.minor = 1;
	r->h1.expect_continue = true;
	edge_h1_xport.body_begin(r);
	n = evbuffer_remove(c.io.out, head, sizeof head - 1);
	head[n] = '\0';
	is_str(head, "HTTP/1.1 100 Continue\r\n\r\n");
	is_int(r->status, 0); /* an interim answer: not the request's status */
	evbuffer_free(c.io.in);
	evbuffer_free(c.io.out);
}

int
main(void)
{
	test_bodies();
	test_continue();
	return tap_done();
}
