/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/fuzz/fuzz_origin_http1.c — the HTTP/1 client's response reader
 * (origin/origin_http1.c) on arbitrary bytes from an origin.  The first byte
 * picks the options: bit 0 a HEAD request, bits 1-2 the interim cap (0-3),
 * bit 3 a small head limit; the rest is what the origin sends, then closes.
 * It is fed whole and in pieces of 1 and 7 bytes.  Invariants: the reader
 * ends in a status of its table; a Content-Length body never delivers more
 * than announced, and all of it when it ends OK; no body after a HEAD, 1xx,
 * 204 or 304; at most the cap of 1xx responses skipped; and every split
 * gives the same outcome and the same body bytes.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "core/assert.h"
#include "origin/origin_http1.h"
#include "tests/fuzz/fuzz.h"

#define FUZZ_MAX_HDRS 32

struct result {
	enum origin_http1_status head, body;
	int status;
	unsigned interim;
	char *out;
	size_t out_len;
	bool framed; /* H1_BODY_LENGTH */
	uint64_t length;
};

static bool
on_body(void *arg, const char *p, size_t n)
{
	struct result *r = arg;

	ASSERT(p != NULL && n > 0);
	memcpy(r->out + r->out_len, p, n);
	r->out_len += n;
	return true;
}

static void
feed(const char *buf, size_t len, unsigned opts, size_t step, struct result *res)
{
	struct evbuffer *in = evbuffer_new();
	struct origin_http1_reader r;
	struct h1_limits lim = {0, (opts & 8) ? 64 : 4096, FUZZ_MAX_HDRS};
	struct h1_header hdrs[FUZZ_MAX_HDRS];
	struct h1_response resp;
	enum h1_status h1st = H1_OK;
	size_t off = 0;

	ASSERT(in != NULL);
	origin_http1_init(&r, &lim, (opts >> 1) & 3, (opts & 1) != 0, NULL);
	res->head = res->body = ORIGIN_HTTP1_AGAIN;
	res->out_len = 0;
	res->status = 0;
	res->framed = false;
	for (;;) {
		bool eof = off == len;

		if (!eof) {
			size_t n = step == 0 || len - off < step ? len - off : step;

			ASSERT(evbuffer_add(in, buf + off, n) == 0);
			off += n;
		}
		if (res->head == ORIGIN_HTTP1_AGAIN) {
			res->head = origin_http1_read_head(&r, in, hdrs, &resp, &h1st);
			if (res->head == ORIGIN_HTTP1_OK) {
				ASSERT(resp.status >= 200 || resp.status < 100);
				ASSERT(resp.head_len <= evbuffer_get_length(in));
				res->status = resp.status;
				res->framed = resp.body == H1_BODY_LENGTH;
				res->length = resp.content_length;
				if ((opts & 1) || resp.status == 204 || resp.status == 304)
					ASSERT(resp.body == H1_BODY_NONE);
				origin_http1_body_begin(&r, in, &resp);
			} else if (res->head == ORIGIN_HTTP1_E_MALFORMED) {
				ASSERT(h1st != H1_OK && h1st != H1_AGAIN);
			}
		}
		if (res->head == ORIGIN_HTTP1_OK && res->body == ORIGIN_HTTP1_AGAIN)
			res->body = origin_http1_read_body(&r, in, eof, on_body, res);
		if (eof || (res->head != ORIGIN_HTTP1_AGAIN && res->body != ORIGIN_HTTP1_AGAIN))
			break;
	}
	ASSERT(res->head <= ORIGIN_HTTP1_E_TRUNCATED && res->body <= ORIGIN_HTTP1_E_TRUNCATED);
	ASSERT(res->head != ORIGIN_HTTP1_STOP && res->body != ORIGIN_HTTP1_STOP);
	ASSERT(r.n_interim <= ((opts >> 1) & 3) + 1);
	res->interim = r.n_interim;
	if (res->head == ORIGIN_HTTP1_OK) {
		/* at eof a body is finished one way or another */
		ASSERT(res->body != ORIGIN_HTTP1_AGAIN);
		if (res->framed)
			ASSERT(res->out_len <= res->length);
		if (res->framed && res->body == ORIGIN_HTTP1_OK)
			ASSERT(res->out_len == res->length);
		if ((opts & 1) || res->status == 204 || res->status == 304)
			ASSERT(res->out_len == 0 && res->body == ORIGIN_HTTP1_OK);
	}
	evbuffer_free(in);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct result whole, bytes, sevens;
	unsigned opts;
	const char *buf;

	if (size == 0)
		return 0;
	opts = data[0];
	buf = (const char *)data + 1;
	size--;
	whole.out = malloc(size + 1);
	bytes.out = malloc(size + 1);
	sevens.out = malloc(size + 1);
	ASSERT(whole.out && bytes.out && sevens.out);
	feed(buf, size, opts, 0, &whole);
	feed(buf, size, opts, 1, &bytes);
	feed(buf, size, opts, 7, &sevens);
	ASSERT(whole.head == bytes.head && whole.head == sevens.head);
	ASSERT(whole.body == bytes.body && whole.body == sevens.body);
	ASSERT(whole.status == bytes.status && whole.status == sevens.status);
	ASSERT(whole.interim == bytes.interim && whole.interim == sevens.interim);
	ASSERT(whole.out_len == bytes.out_len && whole.out_len == sevens.out_len);
	ASSERT(memcmp(whole.out, bytes.out, whole.out_len) == 0);
	ASSERT(memcmp(whole.out, sevens.out, whole.out_len) == 0);
	free(whole.out);
	free(bytes.out);
	free(sevens.out);
	return 0;
}
