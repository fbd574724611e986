/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/fuzz/fuzz_h1_chunked.c — the chunked decoder on arbitrary bytes, fed
 * whole, byte by byte and in three pieces.  Invariants: every data view lies
 * inside the bytes passed in that call, consumed <= len, a call that returns
 * H1_AGAIN with bytes left made progress, and all three feeds agree on the
 * final status, the decoded data and the bytes consumed (the decoder does not
 * depend on how the input is split; after H1_OK nothing more is consumed).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/h1.h"
#include "tests/fuzz/fuzz.h"

struct result {
	enum h1_status st;
	size_t used;
	size_t out_len;
	char *out;
};

/* Feeds buf[0..len) in pieces of at most step bytes (0: all at once). */
static void
feed(const char *buf, size_t len, size_t step, struct result *r)
{
	struct h1_chunked c;
	size_t off = 0;

	h1_chunked_init(&c);
	r->st = H1_AGAIN;
	r->used = 0;
	r->out_len = 0;
	while (off < len && r->st == H1_AGAIN) {
		size_t n = step == 0 || len - off < step ? len - off : step;
		const char *p = buf + off;

		off += n;
		while (n > 0) {
			const char *d;
			size_t used, dl;

			r->st = h1_chunked_decode(&c, p, n, &used, &d, &dl);
			ASSERT(used <= n);
			if (dl > 0) {
				ASSERT(d >= p && dl <= n && (size_t)(d - p) <= n - dl);
				ASSERT(d + dl <= p + used);
				memcpy(r->out + r->out_len, d, dl);
				r->out_len += dl;
			}
			ASSERT(r->out_len <= r->used + used);
			p += used;
			n -= used;
			r->used += used;
			if (r->st != H1_AGAIN)
				break;
			ASSERT(used > 0);
		}
		/* Bytes left unconsumed in a piece only at the end or on error. */
		if (r->st == H1_AGAIN)
			ASSERT(r->used == off);
	}
	ASSERT(r->st == H1_AGAIN || r->st == H1_OK || r->st == H1_E_BAD_CHUNK ||
	       r->st == H1_E_CHUNK_TOO_LARGE || r->st == H1_E_BAD_TRAILER);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct result whole, bytes, thirds;

	whole.out = malloc(size + 1);
	bytes.out = malloc(size + 1);
	thirds.out = malloc(size + 1);
	ASSERT(whole.out && bytes.out && thirds.out);
	feed(buf, size, 0, &whole);
	feed(buf, size, 1, &bytes);
	feed(buf, size, size / 3 + 1, &thirds);
	ASSERT(whole.st == bytes.st && whole.st == thirds.st);
	if (whole.st == H1_OK || whole.st == H1_AGAIN) {
		ASSERT(whole.used == bytes.used && whole.used == thirds.used);
		ASSERT(whole.out_len == bytes.out_len && whole.out_len == thirds.out_len);
		ASSERT(memcmp(whole.out, bytes.out, whole.out_len) == 0);
		ASSERT(memcmp(whole.out, thirds.out, whole.out_len) == 0);
	}
	if (whole.st == H1_AGAIN)
		ASSERT(whole.used == size);
	free(whole.out);
	free(bytes.out);
	free(thirds.out);
	return 0;
}
