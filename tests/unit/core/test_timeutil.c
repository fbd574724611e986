/* SPDX-License-Identifier: BSD-2-Clause */
/* tests/unit/core/test_timeutil.c — milliseconds to struct timeval. */
#include "config.h"

#include "core/timeutil.h"
#include "tests/unit/tap.h"

static void
test_ms_to_tv(void)
{
	static const struct {
		uint64_t ms;
		long long sec;
		long long usec;
	} cases[] = {
	    {0, 0, 0}, {1, 0, 1000}, {5, 0, 5000}, {999, 0, 999000}, {1000, 1, 0}, {1001, 1, 1000},
	    {2500, 2, 500000}, {30000, 30, 0}, {86399999, 86399, 999000},
	    {4294967295u, 4294967, 295000}, /* the largest unsigned setting */
	};
	struct timeval tv;

	subtest("time_ms_to_tv");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		tv = time_ms_to_tv(cases[i].ms);
		is_int((long long)tv.tv_sec, cases[i].sec);
		is_int((long long)tv.tv_usec, cases[i].usec);
		ok(tv.tv_usec >= 0 && tv.tv_usec < 1000000, "usec normalized");
	}
}

int
main(void)
{
	test_ms_to_tv();
	return tap_done();
}
