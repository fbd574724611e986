/* SPDX-License-Identifier: BSD-2-Clause */
/* tests/unit/core/test_cc.c — Cache-Control parsing (RFC 9111 §5.2), table-driven. */
#include "config.h"

#include <stdio.h>

#include "core/cc.h"
#include "tests/unit/tap.h"

#define U CC_UNSET

struct cc_case {
	const char *in; /* one field line; "\n" separates several lines */
	unsigned flags;
	int64_t max_age, s_maxage, max_stale, min_fresh, swr, sie;
};

static const struct cc_case cases[] = {
    /* empty and whitespace */
    {"", 0, U, U, U, U, U, U},
    {"   ", 0, U, U, U, U, U, U},
    {",,, ,", 0, U, U, U, U, U, U},
    /* plain flags, case-insensitive names */
    {"no-store", CC_NO_STORE, U, U, U, U, U, U},
    {"NO-STORE", CC_NO_STORE, U, U, U, U, U, U},
    {"No-Cache", CC_NO_CACHE, U, U, U, U, U, U},
    {"private", CC_PRIVATE, U, U, U, U, U, U},
    {"public", CC_PUBLIC, U, U, U, U, U, U},
    {"must-revalidate", CC_MUST_REVALIDATE, U, U, U, U, U, U},
    {"proxy-revalidate", CC_PROXY_REVALIDATE, U, U, U, U, U, U},
    {"no-transform", CC_NO_TRANSFORM, U, U, U, U, U, U},
    {"only-if-cached", CC_ONLY_IF_CACHED, U, U, U, U, U, U},
    {"must-understand", CC_MUST_UNDERSTAND, U, U, U, U, U, U},
    {"immutable", CC_IMMUTABLE, U, U, U, U, U, U},
    {"public, max-age=60, immutable", CC_PUBLIC | CC_IMMUTABLE, 60, U, U, U, U, U},
    /* list syntax: OWS, empty elements, trailing comma */
    {" , public ,, no-store ,", CC_PUBLIC | CC_NO_STORE, U, U, U, U, U, U},
    {"\tpublic\t,\tmax-age=5\t", CC_PUBLIC, 5, U, U, U, U, U},
    /* values */
    {"max-age=0", 0, 0, U, U, U, U, U},
    {"max-age=3600", 0, 3600, U, U, U, U, U},
    {"max-age=\"3600\"", 0, 3600, U, U, U, U, U},
    {"max-age=\"36\\00\"", 0, 3600, U, U, U, U, U},
    /* no whitespace around "=" (§5.2): malformed, so stale */
    {"max-age = 10", 0, 0, U, U, U, U, U},
    {"max-age =\"10\"", 0, 0, U, U, U, U, U},
    {"max-age= 10", 0, 0, U, U, U, U, U},
    {"MAX-AGE=7", 0, 7, U, U, U, U, U},
    {"s-maxage=30", 0, U, 30, U, U, U, U},
    {"max-age=10, s-maxage=20", 0, 10, 20, U, U, U, U},
    {"max-age=00010", 0, 10, U, U, U, U, U},
    /* invalid max-age / s-maxage: stale (0), §4.2.1 */
    {"max-age", 0, 0, U, U, U, U, U},
    {"max-age=", 0, 0, U, U, U, U, U},
    {"max-age=-1", 0, 0, U, U, U, U, U},
    {"max-age=abc", 0, 0, U, U, U, U, U},
    {"max-age=1.5", 0, 0, U, U, U, U, U},
    {"max-age=10 20", 0, 0, U, U, U, U, U},
    {"max-age=\"\"", 0, 0, U, U, U, U, U},
    {"max-age=\"10", 0, 0, U, U, U, U, U},
    {"max-age=+5", 0, 0, U, U, U, U, U},
    {"s-maxage=x", 0, U, 0, U, U, U, U},
    /* clamp, §1.2.2 */
    {"max-age=2147483647", 0, 2147483647, U, U, U, U, U},
    {"max-age=2147483648", 0, 2147483648LL, U, U, U, U, U},
    {"max-age=2147483649", 0, 2147483648LL, U, U, U, U, U},
    {"max-age=99999999999999999999999999999999", 0, 2147483648LL, U, U, U, U, U},
    {"s-maxage=18446744073709551616", 0, U, 2147483648LL, U, U, U, U},
    /* duplicates: the first occurrence (§4.2.1) */
    {"max-age=100, max-age=10", 0, 100, U, U, U, U, U},
    {"max-age=10, max-age=100", 0, 10, U, U, U, U, U},
    {"max-age=10\nmax-age=5", 0, 10, U, U, U, U, U},
    {"max-age=10, max-age=bogus", 0, 10, U, U, U, U, U},
    {"max-age=bogus, max-age=10", 0, 0, U, U, U, U, U},
    {"s-maxage=60, s-maxage=30", 0, U, 60, U, U, U, U},
    {"min-fresh=10, min-fresh=20", 0, U, U, U, 10, U, U},
    {"max-stale=50, max-stale=20", 0, U, U, 50, U, U, U},
    /* a quoted argument never hides a directive */
    {"extension=\"max-age=3600\", max-age=1", 0, 1, U, U, U, U, U},
    {"max-age='3600'", 0, 0, U, U, U, U, U},
    /* request directives */
    {"max-stale", CC_MAX_STALE_ANY, U, U, U, U, U, U},
    {"max-stale=30", 0, U, U, 30, U, U, U},
    {"max-stale=junk", 0, U, U, U, U, U, U},
    {"min-fresh=5", 0, U, U, U, 5, U, U},
    {"min-fresh=x", 0, U, U, U, U, U, U},
    {"stale-while-revalidate=30", 0, U, U, U, U, 30, U},
    {"stale-if-error=600", 0, U, U, U, U, U, 600},
    {"stale-if-error=x", 0, U, U, U, U, U, U},
    /* field-name arguments */
    {"no-cache=\"Set-Cookie\"", CC_NO_CACHE_FIELDS, U, U, U, U, U, U},
    {"no-cache=\"Set-Cookie, X-Foo\", max-age=60", CC_NO_CACHE_FIELDS, 60, U, U, U, U, U},
    {"private=\"Authorization\"", CC_PRIVATE_FIELDS, U, U, U, U, U, U},
    {"private=X-Foo", CC_PRIVATE_FIELDS, U, U, U, U, U, U},
    {"no-cache, no-cache=\"a\"", CC_NO_CACHE | CC_NO_CACHE_FIELDS, U, U, U, U, U, U},
    /* quoted-strings with escapes and commas stay one element */
    {"private=\"a,\\\"b\", max-age=3", CC_PRIVATE_FIELDS, 3, U, U, U, U, U},
    {"x-ext=\"no-store, max-age=0\", public", CC_PUBLIC, U, U, U, U, U, U},
    /* unknown directives ignored, with or without values */
    {"foo, bar=baz, qux=\"1,2\"", 0, U, U, U, U, U, U},
    {"no-storex, xno-store, max-agex=5", 0, U, U, U, U, U, U},
    /* malformed elements: restrictive flags kept, permissive dropped */
    {"no-store junk", CC_NO_STORE, U, U, U, U, U, U},
    {"public junk", 0, U, U, U, U, U, U},
    {"no-cache=\"unterminated", CC_NO_CACHE, U, U, U, U, U, U},
    {"private=", CC_PRIVATE, U, U, U, U, U, U},
    {"=5, public", CC_PUBLIC, U, U, U, U, U, U},
    {"\"public\"", 0, U, U, U, U, U, U},
    {"max-stale=\"\\", 0, U, U, U, U, U, U},
    {"max-age=\"1\x01\"", 0, 0, U, U, U, U, U},
    {"public\x7f", 0, U, U, U, U, U, U},
    {"public;x=1", 0, U, U, U, U, U, U},
    /* a flag with an unexpected argument keeps the flag */
    {"no-store=1", CC_NO_STORE, U, U, U, U, U, U},
    /* multiple lines accumulate */
    {"public\nmax-age=60\nno-transform", CC_PUBLIC | CC_NO_TRANSFORM, 60, U, U, U, U, U},
};

static void
parse_lines(const char *in, struct cc *cc)
{
	const char *p = in;

	cc_init(cc);
	for (;;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl != NULL ? (size_t)(nl - p) : strlen(p);

		cc_parse(str_make(p, n), cc);
		if (nl == NULL)
			break;
		p = nl + 1;
	}
}

static void
test_table(void)
{
	subtest("cc_parse table");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct cc_case *c = &cases[i];
		struct cc cc;
		char what[160];
		bool good;

		parse_lines(c->in, &cc);
		good = cc.flags == c->flags && cc.max_age == c->max_age &&
		       cc.s_maxage == c->s_maxage && cc.max_stale == c->max_stale &&
		       cc.min_fresh == c->min_fresh && cc.stale_while_revalidate == c->swr &&
		       cc.stale_if_error == c->sie;
		snprintf(what, sizeof what, "case %zu: %s", i, c->in);
		if (!ok(good, what))
			printf("#   flags %#x ma %lld sma %lld ms %lld mf %lld swr %lld sie %lld\n",
			    cc.flags, (long long)cc.max_age, (long long)cc.s_maxage,
			    (long long)cc.max_stale, (long long)cc.min_fresh,
			    (long long)cc.stale_while_revalidate, (long long)cc.stale_if_error);
	}
}

static void
test_bounds(void)
{
	/* The value is a view: bytes past len must not be read or used. */
	const char buf[] = "max-age=12345";
	struct cc cc;

	subtest("views are bounded");
	cc_init(&cc);
	cc_parse(str_make(buf, 10), &cc);
	is_int(cc.max_age, 12);
	cc_init(&cc);
	cc_parse(str_make("no-cache=\"a\"", 11), &cc); /* cut before the closing quote */
	is_int(cc.flags, CC_NO_CACHE);
	cc_init(&cc);
	cc_parse(STR_NULL, &cc);
	is_int(cc.flags, 0);
	is_int(cc.max_age, CC_UNSET);
}

/* CDN-Cache-Control (RFC 9213): Structured Field Dictionary rules. */
struct sf_case {
	const char *in;
	int members; /* -1: invalid, the field is ignored */
	unsigned flags;
	int64_t max_age, s_maxage, swr;
};

static const struct sf_case sf_cases[] = {
    {"max-age=3600", 1, 0, 3600, U, U},
    {"foobar, max-age=3600", 2, 0, 3600, U, U},
    {"max-age=0", 1, 0, 0, U, U},
    {"no-store", 1, CC_NO_STORE, U, U, U},
    {"private", 1, CC_PRIVATE, U, U, U},
    {"no-cache, max-age=60", 2, CC_NO_CACHE, 60, U, U},
    {"no-cache=\"set-cookie\"", 1, CC_NO_CACHE_FIELDS, U, U, U},
    {"public=?1, no-store=?0", 2, CC_PUBLIC, U, U, U},
    {"s-maxage=10, stale-while-revalidate=5", 2, 0, U, 10, 5},
    {"max-age=10;foo=bar, must-revalidate;x", 2, CC_MUST_REVALIDATE, 10, U, U},
    /* a later member replaces an earlier one (RFC 8941 §4.2.2) */
    {"max-age=10, max-age=20", 2, 0, 20, U, U},
    /* a value of the wrong type drops the directive, not the field */
    {"max-age=\"10000\"", 1, 0, U, U, U},
    {"max-age=1.5", 1, 0, U, U, U},
    {"max-age=-5", 1, 0, U, U, U},
    {"max-age=(1 2)", 1, 0, U, U, U},
    {"max-age=99999999999", 1, 0, 2147483648LL, U, U},
    {"  max-age=7 ,\tno-store  ", 2, CC_NO_STORE, 7, U, U},
    /* invalid Dictionaries */
    {"max-age=10000, &&&&&", -1, 0, U, U, U},
    {"MaX-aGe=3600", -1, 0, U, U, U},
    {"max-age =100", -1, 0, U, U, U},
    {"max-age= 100", -1, 0, U, U, U},
    {"max-age=10,", -1, 0, U, U, U},
    {"max-age=1234567890123456", -1, 0, U, U, U},
    {"a=\"unterminated", -1, 0, U, U, U},
    {"a=:abc", -1, 0, U, U, U},
    {"a=?2", -1, 0, U, U, U},
    {"", 0, 0, U, U, U},
};

static void
test_sf(void)
{
	subtest("cc_parse_sf (CDN-Cache-Control) table");
	for (size_t i = 0; i < sizeof sf_cases / sizeof sf_cases[0]; i++) {
		const struct sf_case *c = &sf_cases[i];
		struct cc cc;
		char what[160];
		int k;

		cc_init(&cc);
		k = cc_parse_sf(str_cstr(c->in), &cc);
		snprintf(what, sizeof what, "sf case %zu: %s", i, c->in);
		if (c->members < 0) {
			ok(k < 0, what);
			continue;
		}
		if (!ok(k == c->members && cc.flags == c->flags && cc.max_age == c->max_age &&
		            cc.s_maxage == c->s_maxage && cc.stale_while_revalidate == c->swr,
		        what))
			printf("#   k %d flags %#x ma %lld sma %lld swr %lld\n", k, cc.flags,
			    (long long)cc.max_age, (long long)cc.s_maxage,
			    (long long)cc.stale_while_revalidate);
	}
}

int
main(void)
{
	test_table();
	test_bounds();
	test_sf();
	return tap_done();
}
