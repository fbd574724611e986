/* SPDX-License-Identifier: BSD-2-Clause */
/* tests/unit/core/test_str.c — string views, list iteration, HTTP dates. */
#include "config.h"

#include "core/str.h"
#include "core/timeutil.h"
#include "tests/unit/tap.h"

static void
test_u64(void)
{
	uint64_t v = 0;

	subtest("str_to_u64");
	is_int(str_to_u64(STR_LIT("0"), &v), 0);
	is_int(v, 0);
	is_int(str_to_u64(STR_LIT("18446744073709551615"), &v), 0);
	ok(v == UINT64_MAX, "max value");
	is_int(str_to_u64(STR_LIT("18446744073709551616"), &v), -1);
	is_int(str_to_u64(STR_LIT(""), &v), -1);
	is_int(str_to_u64(STR_LIT("+1"), &v), -1);
	is_int(str_to_u64(STR_LIT("1 "), &v), -1);
}

static void
test_list(void)
{
	struct str list = STR_LIT(" a , ,\"b,c\" ,d,");
	struct str e;
	size_t pos = 0;
	char buf[32];

	subtest("str_list_next");
	ok(str_list_next(list, &pos, &e), "first");
	str_copy(e, buf, sizeof buf);
	is_str(buf, "a");
	ok(str_list_next(list, &pos, &e), "quoted comma kept");
	str_copy(e, buf, sizeof buf);
	is_str(buf, "\"b,c\"");
	ok(str_list_next(list, &pos, &e), "third");
	str_copy(e, buf, sizeof buf);
	is_str(buf, "d");
	ok(!str_list_next(list, &pos, &e), "end");
	ok(str_eq_nocase(STR_LIT("Keep-Alive"), STR_LIT("keep-alive")), "nocase");
}

static void
test_dates(void)
{
	time_t t = 0;
	char out[TIME_HTTP_DATE_LEN + 1];

	subtest("HTTP dates");
	is_int(time_parse_http_date(STR_LIT("Sun, 06 Nov 1994 08:49:37 GMT"), &t), 0);
	is_int(t, 784111777);
	is_int(time_parse_http_date(STR_LIT("Sunday, 06-Nov-94 08:49:37 GMT"), &t), 0);
	is_int(t, 784111777);
	is_int(time_parse_http_date(STR_LIT("Sun Nov  6 08:49:37 1994"), &t), 0);
	is_int(t, 784111777);
	is_int(time_parse_http_date(STR_LIT("0"), &t), -1);
	is_int(time_parse_http_date(STR_LIT("Sun, 06 Nov 1994 08:49:37 UTC"), &t), -1);
	is_int(time_parse_http_date(STR_LIT("Sun, 06 Xyz 1994 08:49:37 GMT"), &t), -1);
	/* month and zone in another case: the same instant (robust parsing) */
	is_int(time_parse_http_date(STR_LIT("SUN, 06 NOV 1994 08:49:37 gmt"), &t), 0);
	is_int(t, 784111777);
	is_int(time_parse_http_date(STR_LIT("Sunday, 06-nov-94 08:49:37 Gmt"), &t), 0);
	is_int(t, 784111777);
	is_int(time_parse_http_date(STR_LIT("Sun nOv  6 08:49:37 1994"), &t), 0);
	is_int(t, 784111777);
	is_int(time_parse_http_date(STR_LIT("Sun, 06 Nov 1994 08:49:37 AEST"), &t), -1);
	is_int(time_parse_http_date(STR_LIT("Sun, 06  Nov 1994 08:49:37 GMT"), &t), -1);
	is_int(time_parse_http_date(STR_LIT("Sun, 06 Nov 1994 8:49:37 GMT"), &t), -1);
	time_http_date(784111777, out);
	is_str(out, "Sun, 06 Nov 1994 08:49:37 GMT");
}

int
main(void)
{
	test_u64();
	test_list();
	test_dates();
	return tap_done();
}
