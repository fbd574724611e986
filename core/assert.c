/* SPDX-License-Identifier: BSD-2-Clause */
/* core/assert.c — the failure path of ASSERT: report, then abort. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "core/assert.h"

void
assert_fail(const char *file, int line, const char *func, const char *expr)
{
	fprintf(stderr, "outpost: assertion failed: %s:%d %s(): %s (thread %ld)\n", file, line,
	    func, expr, (long)syscall(SYS_gettid));
	fflush(stderr);
	abort();
}
