/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tools/bench/micro.h — what the micro-benchmarks (tools/bench/micro_*.c)
 * share: the monotonic clock in nanoseconds.
 */
#ifndef OUTPOST_TOOLS_BENCH_MICRO_H
#define OUTPOST_TOOLS_BENCH_MICRO_H

#include <time.h>

static inline double
micro_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

#endif
