/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/origin/test_origin_sibling.c — the siblings' hop marker: made
 * and checked for one request, refused for another request, another key,
 * outside the clock skew, and in every malformed shape.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "origin/origin_sibling.h"
#include "tests/unit/tap.h"

#define NOW 1700000000

static unsigned char key_a[32] = "0123456789abcdef0123456789abcdef";
static unsigned char key_b[32] = "0123456789abcdef0123456789abcdeX";

static struct origin_sibling_conf
conf_with(unsigned char *key)
{
	struct origin_sibling_conf c;

	memset(&c, 0, sizeof c);
	c.enabled = true;
	c.key = key;
	c.key_len = 32;
	return c;
}

static bool
check(const struct origin_sibling_conf *c, const char *v, const char *m, const char *h,
    const char *t, time_t now)
{
	return origin_sibling_check(c, str_cstr(v), str_cstr(m), str_cstr(h), str_cstr(t), now);
}

int
main(void)
{
	struct origin_sibling_conf a = conf_with(key_a), b = conf_with(key_b);
	char mark[ORIGIN_SIBLING_MARK_LEN + 1], bad[ORIGIN_SIBLING_MARK_LEN + 8];
	size_t n;

	subtest("made and checked");
	n = origin_sibling_mark(
	    &a, STR_LIT("GET"), STR_LIT("example.com"), STR_LIT("/a?x=1"), NOW, mark);
	is_int((int)n, 11 + 64);
	is_int((int)strlen(mark), (int)n);
	ok(strncmp(mark, "1700000000.", 11) == 0, "the time, a dot");
	ok(check(&a, mark, "GET", "example.com", "/a?x=1", NOW), "the same request");
	ok(check(&a, mark, "GET", "example.com", "/a?x=1", NOW + ORIGIN_SIBLING_SKEW_S),
	    "at the skew's end");
	ok(check(&a, mark, "GET", "example.com", "/a?x=1", NOW - ORIGIN_SIBLING_SKEW_S),
	    "a clock behind by the skew");

	subtest("refused");
	ok(!check(&b, mark, "GET", "example.com", "/a?x=1", NOW), "another fleet key");
	ok(!check(&a, mark, "HEAD", "example.com", "/a?x=1", NOW), "another method");
	ok(!check(&a, mark, "GET", "example.org", "/a?x=1", NOW), "another host");
	ok(!check(&a, mark, "GET", "example.com", "/a?x=2", NOW), "another target");
	ok(!check(&a, mark, "GET", "example.com", "/a?x=1", NOW + ORIGIN_SIBLING_SKEW_S + 1),
	    "too old");
	ok(!check(&a, mark, "GET", "example.com", "/a?x=1", NOW - ORIGIN_SIBLING_SKEW_S - 1),
	    "from the future");

	subtest("malformed");
	ok(!check(&a, "", "GET", "example.com", "/a?x=1", NOW), "empty");
	ok(!check(&a, mark + 11, "GET", "example.com", "/a?x=1", NOW), "no time");
	snprintf(bad, sizeof bad, "%.74s", mark);
	ok(!check(&a, bad, "GET", "example.com", "/a?x=1", NOW), "a digit short");
	snprintf(bad, sizeof bad, "%s0", mark);
	ok(!check(&a, bad, "GET", "example.com", "/a?x=1", NOW), "a digit more");
	snprintf(bad, sizeof bad, "%s", mark);
	for (char *p = bad + 11; *p != '\0'; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	ok(!check(&a, bad, "GET", "example.com", "/a?x=1", NOW), "upper-case hex");
	snprintf(bad, sizeof bad, "%s", mark);
	bad[10] = ':';
	ok(!check(&a, bad, "GET", "example.com", "/a?x=1", NOW), "no dot");
	snprintf(bad, sizeof bad, "%s", mark);
	bad[20] = 'g';
	ok(!check(&a, bad, "GET", "example.com", "/a?x=1", NOW), "not hex");
	snprintf(bad, sizeof bad, "%s", mark);
	bad[20] = bad[20] == '0' ? '1' : '0';
	ok(!check(&a, bad, "GET", "example.com", "/a?x=1", NOW), "one digit changed");
	ok(!check(&a, "99999999999999999999999.00", "GET", "example.com", "/", NOW),
	    "a time too long");

	subtest("no key");
	a.key = NULL;
	ok(origin_sibling_mark(&a, STR_LIT("GET"), STR_LIT("h"), STR_LIT("/"), NOW, mark) == 0,
	    "nothing to sign with");
	return tap_done();
}
