/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/fuzz/fuzz_range.c — Range, If-Range and Content-Range parsing
 * (core/range.c) on arbitrary bytes.
 *
 * Input: the first line is the representation length (decimal, at most 19
 * digits; anything else means 1000), the second the Range value, the rest an
 * If-Range value.  Each value is copied into an exactly sized heap buffer so
 * ASan catches a read past the view.  Checked: a satisfiable result holds
 * 1..RANGE_MAX ranges inside [0, length), none overlapping or touching
 * another; any other result holds none; the Range line read as a
 * Content-Range gives first <= last < length when it parses.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/range.h"
#include "tests/fuzz/fuzz.h"

static const char *
fuzz_line(const char *p, const char *end, struct str *line)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));

	*line = str_make(p, (size_t)((nl != NULL ? nl : end) - p));
	return nl != NULL ? nl + 1 : end;
}

static char *
fuzz_dup(struct str s)
{
	char *b = malloc(s.len > 0 ? s.len : 1);

	if (b != NULL && s.len > 0)
		memcpy(b, s.p, s.len);
	return b;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	struct str lenline, rline, irv;
	struct range_set s;
	struct range_validators v = {STR_LIT("\"e\""), STR_LIT("Sun, 06 Nov 1994 08:49:37 GMT"),
	    STR_LIT("Sun, 06 Nov 1994 09:00:00 GMT")};
	uint64_t length = 1000;
	char *rb, *ib;
	enum range_result r;

	p = fuzz_line(p, end, &lenline);
	p = fuzz_line(p, end, &rline);
	irv = str_make(p, (size_t)(end - p));
	if (lenline.len <= 19 && str_to_u64(lenline, &length) != 0)
		length = 1000;
	rb = fuzz_dup(rline);
	ib = fuzz_dup(irv);
	if (rb == NULL || ib == NULL) {
		free(rb);
		free(ib);
		return 0;
	}
	r = range_parse(str_make(rb, rline.len), length, &s);
	if (r == RANGE_SATISFIABLE) {
		ASSERT(s.n >= 1 && s.n <= RANGE_MAX);
		for (unsigned i = 0; i < s.n; i++) {
			ASSERT(s.r[i].first <= s.r[i].last && s.r[i].last < length);
			for (unsigned j = i + 1; j < s.n; j++)
				ASSERT(s.r[j].first > s.r[i].last + 1 ||
				       s.r[i].first > s.r[j].last + 1);
		}
		(void)range_ascending(&s);
	} else {
		ASSERT(s.n == 0);
		ASSERT(r == RANGE_IGNORE || r == RANGE_UNSATISFIABLE);
		ASSERT(r == RANGE_IGNORE || length > 0);
	}
	(void)range_if_range(str_make(ib, irv.len), &v);
	{ /* the Range line read as a Content-Range */
		uint64_t f, l, n;

		if (range_content_range(str_make(rb, rline.len), &f, &l, &n))
			ASSERT(f <= l && l < n);
	}
	free(rb);
	free(ib);
	return 0;
}
