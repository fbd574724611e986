/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/fuzz/fuzz_cc.c — Cache-Control parsing (core/cc.c) on arbitrary bytes.
 *
 * The input is copied into an exactly sized heap buffer so ASan catches any
 * read past the view; the result is checked for the invariants cc.h promises (ASSERT, see fuzz.h).
 * A '\n' splits the input into several field lines, as cc_parse is called once
 * per line.  The whole input also goes through cc_parse_sf (CDN-Cache-Control,
 * a Structured Field Dictionary).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/cc.h"
#include "tests/fuzz/fuzz.h"

static void
fuzz_check_delta(int64_t v)
{
	ASSERT(v == CC_UNSET || (v >= 0 && v <= 2147483648LL));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size > 0 ? size : 1);
	struct cc cc;
	size_t start = 0;

	if (buf == NULL)
		return 0;
	if (size > 0)
		memcpy(buf, data, size);
	cc_init(&cc);
	for (size_t i = 0; i <= size; i++) {
		if (i == size || buf[i] == '\n') {
			cc_parse(str_make(buf + start, i - start), &cc);
			start = i + 1;
		}
	}
	/* The whole input as one line too, from a fresh state. */
	{
		struct cc one;

		cc_init(&one);
		cc_parse(str_make(buf, size), &one);
		fuzz_check_delta(one.max_age);
	}
	{
		struct cc sf;
		int k;

		cc_init(&sf);
		k = cc_parse_sf(str_make(buf, size), &sf);
		ASSERT(k >= -1);
		fuzz_check_delta(sf.max_age);
		fuzz_check_delta(sf.s_maxage);
		fuzz_check_delta(sf.stale_while_revalidate);
		fuzz_check_delta(sf.stale_if_error);
	}
	fuzz_check_delta(cc.max_age);
	fuzz_check_delta(cc.s_maxage);
	fuzz_check_delta(cc.max_stale);
	fuzz_check_delta(cc.min_fresh);
	fuzz_check_delta(cc.stale_while_revalidate);
	fuzz_check_delta(cc.stale_if_error);
	ASSERT((cc.flags & ~((1u << 13) - 1)) == 0);
	free(buf);
	return 0;
}
