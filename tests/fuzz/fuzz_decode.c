/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/fuzz/fuzz_decode.c — the content-coding decoders (core/coding.c) with
 * their limits, on arbitrary bytes; and encode-then-decode round trips.
 *
 * Input: byte 0 picks the coding (gzip, deflate, br, zstd), byte 1 the size
 * of the pieces the rest is fed in (1..256), the rest is the coded data.
 * The decoder runs with a 1 MiB output limit and a ratio of 100 after
 * 64 KiB.  Checked: it returns 0 or one of the decoding errors; it never
 * hands on more than the limit, nor a piece larger than CODING_OUT_CHUNK;
 * its memory stays under 40 MiB.  Then the same bytes are encoded (level 1,
 * in the same pieces, a flush every 1000 bytes) and decoded back unchanged.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/coding.h"
#include "tests/fuzz/fuzz.h"

#define FUZZ_MAX_OUT (1u << 20)

struct fuzz_sink {
	unsigned char *p; /* NULL: count only */
	size_t len, cap;
};

static int
fuzz_sink_cb(void *arg, const void *p, size_t len)
{
	struct fuzz_sink *s = arg;

	ASSERT(len > 0 && len <= CODING_OUT_CHUNK);
	if (s->p != NULL) {
		if (s->len + len > s->cap)
			return 1;
		memcpy(s->p + s->len, p, len);
	}
	s->len += len;
	return 0;
}

static int
fuzz_feed(
    struct coding_stream *st, const uint8_t *p, size_t len, size_t piece, struct fuzz_sink *out)
{
	int rc = 0;

	for (size_t off = 0; off < len && rc == 0; off += piece)
		rc = coding_stream_update(
		    st, p + off, len - off < piece ? len - off : piece, fuzz_sink_cb, out);
	return rc != 0 ? rc : coding_stream_finish(st, fuzz_sink_cb, out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum coding codings[] = {CODING_GZIP, CODING_DEFLATE, CODING_BR, CODING_ZSTD};
	struct coding_dec_limits lim = {FUZZ_MAX_OUT, 100, 64 * 1024};
	struct coding_enc_conf ec;
	struct coding_stream *st;
	struct fuzz_sink count = {NULL, 0, 0}, coded, plain;
	enum coding c;
	size_t piece;
	int rc;

	if (size < 2)
		return 0;
	c = codings[data[0] % 4];
	piece = (size_t)data[1] + 1;
	data += 2;
	size -= 2;

	ASSERT(coding_decoder_new(c, &lim, &st) == 0);
	rc = fuzz_feed(st, data, size, piece, &count);
	ASSERT(rc == 0 || rc == -CODING_E_CORRUPT || rc == -CODING_E_TRUNCATED ||
	       rc == -CODING_E_TRAILING || rc == -CODING_E_LIMIT || rc == -CODING_E_RATIO);
	ASSERT(count.len <= FUZZ_MAX_OUT);
	ASSERT(count.len == coding_stream_out(st));
	ASSERT(coding_stream_mem_peak(st) < (40u << 20));
	coding_stream_free(&st);

	coding_enc_conf_defaults(&ec, c);
	ec.level = c == CODING_BR ? 0 : 1;
	ec.flush_bytes = 1000;
	coded.cap = size + size / 2 + 1024;
	coded.p = malloc(coded.cap);
	plain.cap = size;
	plain.p = malloc(size > 0 ? size : 1);
	coded.len = plain.len = 0;
	if (coded.p != NULL && plain.p != NULL) {
		ASSERT(coding_encoder_new(c, &ec, &st) == 0);
		ASSERT(fuzz_feed(st, data, size, piece, &coded) == 0);
		coding_stream_free(&st);
		ASSERT(coding_decoder_new(c, NULL, &st) == 0);
		ASSERT(fuzz_feed(st, coded.p, coded.len, piece, &plain) == 0);
		ASSERT(plain.len == size && memcmp(plain.p, data, size) == 0);
		coding_stream_free(&st);
	}
	free(coded.p);
	free(plain.p);
	return 0;
}
