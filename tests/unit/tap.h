/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/tap.h — a minimal TAP producer for unit tests (one program per
 * module, run by automake's tap-driver).  Header-only so each test stays one file.
 */
#ifndef OUTPOST_TESTS_TAP_H
#define OUTPOST_TESTS_TAP_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int tap_n;
static int tap_failed;

static inline int
tap_ok(int cond, const char *file, int line, const char *what)
{
	tap_n++;
	printf("%sok %d - %s\n", cond ? "" : "not ", tap_n, what);
	if (!cond) {
		tap_failed++;
		printf("#   failed at %s:%d\n", file, line);
	}
	return cond;
}

#define ok(cond, what) tap_ok(!!(cond), __FILE__, __LINE__, (what))
#define is_int(got, want)                                                                          \
	do {                                                                                       \
		long long g_ = (long long)(got), w_ = (long long)(want);                           \
		if (!tap_ok(g_ == w_, __FILE__, __LINE__, #got " == " #want))                      \
			printf("#   got %lld, want %lld\n", g_, w_);                               \
	} while (0)
#define is_str(got, want)                                                                          \
	do {                                                                                       \
		const char *g_ = (got), *w_ = (want);                                              \
		int eq_ = (g_ == NULL && w_ == NULL) || (g_ && w_ && strcmp(g_, w_) == 0);         \
		if (!tap_ok(eq_, __FILE__, __LINE__, #got " eq " #want))                           \
			printf("#   got \"%s\", want \"%s\"\n", g_ ? g_ : "(null)",                \
			    w_ ? w_ : "(null)");                                                   \
	} while (0)
#define subtest(name) printf("# %s\n", (name))

static inline int
tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif
