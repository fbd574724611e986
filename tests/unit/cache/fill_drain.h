/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/cache/fill_drain.h — for unit tests that read a cache fill:
 * everything published now, copied into a buffer.
 */
#ifndef OUTPOST_TESTS_UNIT_CACHE_FILL_DRAIN_H
#define OUTPOST_TESTS_UNIT_CACHE_FILL_DRAIN_H

#include <stddef.h>
#include <string.h>

#include "cache/cache.h"

/* Reads everything rd's fill has published now into buf (at most cap; the
 * chunk references are dropped at once); the length read. */
static inline size_t
fill_drain(struct cache_fill_reader *rd, char *buf, size_t cap)
{
	const char *p;
	size_t len, n = 0;
	void *ref;

	while (cache_fill_read(rd, &p, &len, &ref)) {
		if (n + len <= cap)
			memcpy(buf + n, p, len);
		n += len;
		cache_fill_chunk_release(ref);
	}
	return n;
}

#endif
