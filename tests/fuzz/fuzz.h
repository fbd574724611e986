/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/fuzz/fuzz.h — shared bits of the fuzz targets.
 *
 * Each tests/fuzz/fuzz_<target>.c defines LLVMFuzzerTestOneInput and checks
 * its invariants with ASSERT (core/assert.h), so a violation aborts and both
 * libFuzzer and the corpus replay (fuzz_replay.c, run by make check) see it.
 */
#ifndef OUTPOST_TESTS_FUZZ_H
#define OUTPOST_TESTS_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* v is empty or lies entirely inside buf[0..len). */
static inline bool
fuzz_view_in(struct str v, const char *buf, size_t len)
{
	uintptr_t p = (uintptr_t)v.p, b = (uintptr_t)buf;

	if (v.len == 0)
		return true;
	return p >= b && v.len <= len && p - b <= len - v.len;
}

/* inner is empty or lies entirely inside outer. */
static inline bool
fuzz_view_within(struct str inner, struct str outer)
{
	return fuzz_view_in(inner, outer.p, outer.len);
}

#endif
