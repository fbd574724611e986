/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/fuzz/fuzz_cache_key.c — cache key normalization (cache/cache_key.c).
 *
 * Input layout: byte 0 gives the scheme length (mod 17), byte 1 the host
 * length (mod the bytes left), bytes 2-3 the port (big-endian), the rest is split into scheme, host
 * and target.  Each part is copied into its own exactly sized heap buffer so
 * ASan sees any overread.  Checked: the return value matches strlen(out), the
 * output bound is respected for small buffers too, and normalizing the
 * normalized target again is a fixed point.  The query modes (sort, drop,
 * allow) are checked the same way: a fixed point, never longer than keep.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"
#include "core/assert.h"
#include "tests/fuzz/fuzz.h"

static char *
fuzz_dup(const uint8_t *p, size_t n)
{
	char *b = malloc(n > 0 ? n : 1);

	if (b != NULL && n > 0)
		memcpy(b, p, n);
	return b;
}

/* The query modes on a target whose keep-mode key is keep_len long. */
static void
fuzz_query_modes(struct str s, struct str h, uint16_t port, struct str t, int keep_len)
{
	static const char *const allow[] = {"a", "b", "%2F"};
	static char out[CACHE_KEY_MAX], again[CACHE_KEY_MAX];

	for (int mode = CACHE_KEY_QUERY_SORT; mode <= CACHE_KEY_QUERY_ALLOW; mode++) {
		int n = cache_key_normalize_query(
		    s, h, port, t, (enum cache_key_query)mode, allow, 3, out, sizeof out);
		const char *q;
		int m;

		ASSERT(n >= -1 && n <= keep_len);
		if (n < 0)
			continue;
		ASSERT((size_t)n == strlen(out));
		/* the key's own target ("/..." after the authority) gives the same key */
		q = strstr(out, "://");
		ASSERT(q != NULL);
		q = strpbrk(q + 3, "/*");
		if (q == NULL || *q == '*')
			continue;
		m = cache_key_normalize_query(s, h, port, str_make(q, (size_t)(out + n - q)),
		    (enum cache_key_query)mode, allow, 3, again, sizeof again);
		ASSERT(m == n && memcmp(again, out, (size_t)n) == 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char out[CACHE_KEY_MAX], again[CACHE_KEY_MAX], prefix[CACHE_KEY_MAX];
	size_t ls, lh, lt, rest;
	uint16_t port;
	char *s, *h, *t;
	int n, pl;

	if (size < 4)
		return 0;
	rest = size - 4;
	ls = data[0] % 17u;
	if (ls > rest)
		ls = rest;
	lh = data[1] % (rest - ls + 1);
	lt = rest - ls - lh;
	port = (uint16_t)(data[2] << 8 | data[3]);
	s = fuzz_dup(data + 4, ls);
	h = fuzz_dup(data + 4 + ls, lh);
	t = fuzz_dup(data + 4 + ls + lh, lt);
	if (s == NULL || h == NULL || t == NULL)
		goto out;

	n = cache_key_normalize(
	    str_make(s, ls), str_make(h, lh), port, str_make(t, lt), out, sizeof out);
	ASSERT(n >= -1);
	ASSERT(n < 0 || (size_t)n == strlen(out));
	if (n >= 0) {
		/* Every smaller buffer either fits exactly or fails cleanly. */
		char *small = malloc((size_t)n + 1);
		int m;

		if (small == NULL)
			goto out;
		m = cache_key_normalize(
		    str_make(s, ls), str_make(h, lh), port, str_make(t, lt), small, (size_t)n + 1);
		ASSERT(m == n && memcmp(small, out, (size_t)n + 1) == 0);
		m = cache_key_normalize(
		    str_make(s, ls), str_make(h, lh), port, str_make(t, lt), small, (size_t)n);
		ASSERT(m == -1);
		free(small);

		/* Idempotence: scheme://authority is the key of "/" minus its '/'. */
		pl = cache_key_normalize(
		    str_make(s, ls), str_make(h, lh), port, STR_LIT("/"), prefix, sizeof prefix);
		ASSERT(pl >= 1 && pl - 1 <= n && memcmp(prefix, out, (size_t)pl - 1) == 0);
		if (!(n == pl && out[n - 1] == '*')) {
			struct str tail = str_make(out + pl - 1, (size_t)(n - pl + 1));
			int m2 = cache_key_normalize(
			    str_make(s, ls), str_make(h, lh), port, tail, again, sizeof again);

			ASSERT(m2 == n && memcmp(again, out, (size_t)n) == 0);
		}
	}
	if (n >= 0)
		fuzz_query_modes(str_make(s, ls), str_make(h, lh), port, str_make(t, lt), n);
out:
	free(s);
	free(h);
	free(t);
	return 0;
}
