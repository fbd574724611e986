/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/fuzz/fuzz_h2_session.c — arbitrary bytes after the client preface
 * into an HTTP/2 server session (edge/edge_h2.c), whose owner answers each
 * request with a head and a body by reference, consumes request bodies and
 * resets every third stream after its head; the output is taken as the
 * socket would.  Invariants: every reference the output took is released
 * once the output is drained and the session freed; every request handed
 * on is closed exactly once; the views of a request are well-formed.
 */
#include "config.h"

#include <string.h>

#include <event2/buffer.h>
#include <nghttp2/nghttp2.h>

#include "core/assert.h"
#include "edge/edge_h2.h"
#include "tests/fuzz/fuzz.h"

struct owner {
	struct edge_h2 *h;
	int refs;
	unsigned requests, closes;
};

static const char body[] = "0123456789abcdefghijklmnopqrstuvwxyz";

static void *
ref(void *arg)
{
	((struct owner *)arg)->refs++;
	return arg;
}

static void
unref(const void *data, size_t len, void *arg)
{
	(void)data;
	(void)len;
	((struct owner *)arg)->refs--;
}

static void
on_request(void *arg, struct edge_h2_stream *s, const struct edge_h2_req *req)
{
	struct owner *o = arg;
	static const struct edge_h2_field f[] = {
	    {STR_LIT("Content-Type"), STR_LIT("text/plain")},
	    {STR_LIT("Connection"), STR_LIT("close")},
	};

	o->requests++;
	ASSERT(req->method.len > 0);
	for (unsigned i = 0; i < req->n_fields; i++)
		ASSERT(req->fields[i].name.len > 0 && req->fields[i].name.p[0] != ':');
	if (edge_h2_send_head(o->h, s, 200, f, 2, false) != 0)
		return;
	if (o->requests % 3 == 0) {
		edge_h2_abort(o->h, s);
		return;
	}
	(void)edge_h2_send_body(o->h, s, body, 20, ref, unref, o, false);
	(void)edge_h2_send_body(o->h, s, body + 20, sizeof body - 21, ref, unref, o, true);
}

static void
on_body(void *arg, struct edge_h2_stream *s, const uint8_t *p, size_t len)
{
	struct owner *o = arg;

	(void)p;
	edge_h2_consume(o->h, s, len);
}

static void
on_close(void *arg, struct edge_h2_stream *s, uint32_t code)
{
	(void)s;
	(void)code;
	((struct owner *)arg)->closes++;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct edge_h2_cbs cbs = {
	    .on_request = on_request,
	    .on_body = on_body,
	    .on_close = on_close,
	};
	struct edge_h2_conf conf;
	struct owner o = {0};
	struct evbuffer *out = evbuffer_new();
	size_t half = size / 2;

	edge_h2_conf_defaults(&conf);
	conf.max_concurrent_streams = 16;
	o.h = edge_h2_new(&conf, &cbs, &o, out);
	if (edge_h2_recv(o.h, (const uint8_t *)NGHTTP2_CLIENT_MAGIC, NGHTTP2_CLIENT_MAGIC_LEN) ==
	        0 &&
	    edge_h2_recv(o.h, data, half) == 0) {
		(void)edge_h2_send(o.h);
		evbuffer_drain(out, evbuffer_get_length(out));
		(void)edge_h2_recv(o.h, data + half, size - half);
	}
	for (int i = 0; i < 64 && edge_h2_want_write(o.h); i++) {
		(void)edge_h2_send(o.h);
		evbuffer_drain(out, evbuffer_get_length(out));
	}
	(void)edge_h2_send(o.h);
	ASSERT(o.closes <= o.requests);
	edge_h2_free(&o.h);
	evbuffer_free(out);
	ASSERT(o.refs == 0);
	return 0;
}
