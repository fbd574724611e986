/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/fuzz/fuzz_h1_response.c — h1_parse_response on arbitrary bytes, as
 * the answer to a GET and to a HEAD.  Invariants: on H1_OK the views lie in
 * the head, status is 100..999, the body kind follows RFC 9112 §6.3 (no body
 * for HEAD, 1xx, 204, 304; CLOSE never keeps the connection), parsing just
 * the head gives the same result, and every prefix returns H1_AGAIN or the
 * same result.  A chunked body that follows is run through the decoder.
 */
#include "config.h"

#include "core/assert.h"
#include "core/h1.h"
#include "tests/fuzz/fuzz.h"

#define MAX_HDRS 32

static void
check_ok(const char *buf, size_t len, bool head, const struct h1_response *resp,
    const struct h1_header *hdrs)
{
	size_t hl = resp->head_len;

	ASSERT(hl >= 15 && hl <= len);
	ASSERT(buf[hl - 2] == '\r' && buf[hl - 1] == '\n');
	ASSERT(resp->headers == hdrs && resp->n_headers <= MAX_HDRS);
	ASSERT(resp->minor == 0 || resp->minor == 1);
	ASSERT(resp->status >= 100 && resp->status <= 999);
	ASSERT(fuzz_view_in(resp->reason, buf, hl));
	for (size_t i = 0; i < resp->n_headers; i++) {
		ASSERT(hdrs[i].name.len > 0 && fuzz_view_in(hdrs[i].name, buf, hl));
		ASSERT(fuzz_view_in(hdrs[i].value, buf, hl));
	}
	if (head || resp->status < 200 || resp->status == 204 || resp->status == 304)
		ASSERT(resp->body == H1_BODY_NONE);
	else
		ASSERT(resp->body != H1_BODY_NONE);
	ASSERT(resp->body >= H1_BODY_NONE && resp->body <= H1_BODY_CLOSE);
	if (resp->body == H1_BODY_CLOSE)
		ASSERT(!resp->keep_alive);
	if (resp->body == H1_BODY_CHUNKED)
		ASSERT(resp->minor == 1 &&
		       h1_header_find(hdrs, resp->n_headers, STR_LIT("Content-Length")) == NULL);
	if (resp->body == H1_BODY_LENGTH)
		ASSERT(h1_header_find(hdrs, resp->n_headers, STR_LIT("Transfer-Encoding")) == NULL);
}

static void
run(const char *buf, size_t len, bool head)
{
	static const struct h1_limits lim = {8192, 65536, MAX_HDRS};
	struct h1_header hdrs[MAX_HDRS], hdrs2[MAX_HDRS];
	struct h1_response resp, resp2;
	enum h1_status st, st2;
	size_t cuts[3];

	st = h1_parse_response(buf, len, &lim, head, hdrs, &resp);
	ASSERT((unsigned)st <= H1_E_BAD_TRAILER);
	ASSERT(h1_strerror(st) != NULL);
	if (st == H1_OK) {
		check_ok(buf, len, head, &resp, hdrs);
		st2 = h1_parse_response(buf, resp.head_len, &lim, head, hdrs2, &resp2);
		ASSERT(st2 == H1_OK && resp2.head_len == resp.head_len);
		ASSERT(resp2.status == resp.status && resp2.body == resp.body);
		ASSERT(resp2.content_length == resp.content_length);
		ASSERT(resp2.keep_alive == resp.keep_alive);
		if (resp.body == H1_BODY_CHUNKED) {
			struct h1_chunked c;
			const char *p = buf + resp.head_len, *d;
			size_t n = len - resp.head_len, used, dl;

			h1_chunked_init(&c);
			while (n > 0) {
				enum h1_status cs = h1_chunked_decode(&c, p, n, &used, &d, &dl);

				ASSERT(used <= n);
				ASSERT(dl == 0 || (d >= p && dl <= n && (size_t)(d - p) <= n - dl));
				p += used;
				n -= used;
				if (cs != H1_AGAIN)
					break;
				ASSERT(used > 0);
			}
		}
	}
	cuts[0] = len / 2;
	cuts[1] = len > 0 ? len - 1 : 0;
	cuts[2] = st == H1_OK ? resp.head_len - 1 : len / 3;
	for (int i = 0; i < 3; i++) {
		if (cuts[i] >= len)
			continue;
		st2 = h1_parse_response(buf, cuts[i], &lim, head, hdrs2, &resp2);
		ASSERT(st2 == H1_AGAIN || st2 == st);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	run((const char *)data, size, false);
	run((const char *)data, size, true);
	return 0;
}
