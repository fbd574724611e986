/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * core/xmalloc.h — allocation of small fixed-size things that aborts on failure
 * (h2o's h2o_mem_alloc).  Size-driven allocations (bodies, objects) use plain
 * malloc and fail softly.
 */
#ifndef OUTPOST_CORE_XMALLOC_H
#define OUTPOST_CORE_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
