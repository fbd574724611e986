/* SPDX-License-Identifier: BSD-2-Clause */
/* tests/unit/core/test_range.c — Range and If-Range (RFC 9110 §14, §13.1.5), table-driven. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "core/range.h"
#include "tests/unit/tap.h"

#define IGN RANGE_IGNORE
#define SAT RANGE_SATISFIABLE
#define UNS RANGE_UNSATISFIABLE

struct range_case {
	const char *in;
	uint64_t length;
	enum range_result want;
	const char *ranges; /* "first-last,..." for SAT */
};

static const struct range_case cases[] = {
    /* the three forms */
    {"bytes=0-1", 11, SAT, "0-1"},
    {"bytes=1-", 11, SAT, "1-10"},
    {"bytes=-1", 11, SAT, "10-10"},
    {"bytes=0-0", 1, SAT, "0-0"},
    {"bytes=0-10", 11, SAT, "0-10"},
    /* last-pos and suffix beyond the end are clipped */
    {"bytes=5-100", 11, SAT, "5-10"},
    {"bytes=-100", 11, SAT, "0-10"},
    {"bytes=0-99999999999999999999999", 11, SAT, "0-10"},
    {"bytes=-99999999999999999999999", 11, SAT, "0-10"},
    /* the unit is case-insensitive; OWS around the value and the commas */
    {"BYTES=0-1", 11, SAT, "0-1"},
    {"Bytes=0-1", 11, SAT, "0-1"},
    {"  bytes=0-1\t", 11, SAT, "0-1"},
    {"bytes=0-1 , 3-4", 11, SAT, "0-1,3-4"},
    {"bytes=0-1,\t3-4", 11, SAT, "0-1,3-4"},
    /* empty list elements are ignored */
    {"bytes=,0-1,,3-4,", 11, SAT, "0-1,3-4"},
    /* lists keep their order when nothing overlaps */
    {"bytes=5-6,0-1", 11, SAT, "5-6,0-1"},
    {"bytes=0-0,2-2,4-4", 11, SAT, "0-0,2-2,4-4"},
    /* overlapping or touching ranges are sorted and merged */
    {"bytes=0-5,3-8", 11, SAT, "0-8"},
    {"bytes=3-8,0-5", 11, SAT, "0-8"},
    {"bytes=0-1,2-3", 11, SAT, "0-3"},
    {"bytes=8-9,0-1,1-2", 11, SAT, "0-2,8-9"},
    {"bytes=0-,-3", 11, SAT, "0-10"},
    {"bytes=0-0,0-0", 11, SAT, "0-0"},
    /* unsatisfiable specs are dropped; none left is 416 */
    {"bytes=0-1,20-30", 11, SAT, "0-1"},
    {"bytes=11-", 11, UNS, NULL},
    {"bytes=11-20", 11, UNS, NULL},
    {"bytes=-0", 11, UNS, NULL},
    {"bytes=99999999999999999999999-", 11, UNS, NULL},
    {"bytes=20-30,40-", 11, UNS, NULL},
    /* a zero-length representation: served whole */
    {"bytes=0-", 0, IGN, NULL},
    {"bytes=-5", 0, IGN, NULL},
    /* invalid syntax: the whole field is ignored (200) */
    {"", 11, IGN, NULL},
    {"bytes", 11, IGN, NULL},
    {"bytes=", 11, IGN, NULL},
    {"bytes= ,, ", 11, IGN, NULL},
    {"bytes =0-1", 11, IGN, NULL},
    {"bytes= 0-1", 11, SAT, "0-1"}, /* OWS before the first element */
    {"bytes=0 -1", 11, IGN, NULL},
    {"bytes=0- 1", 11, IGN, NULL},
    {"bytes=5-4", 11, IGN, NULL},
    {"bytes=0-1,5-4", 11, IGN, NULL},
    {"bytes=-", 11, IGN, NULL},
    {"bytes=--1", 11, IGN, NULL},
    {"bytes=1", 11, IGN, NULL},
    {"bytes=a-b", 11, IGN, NULL},
    {"bytes=0x1-2", 11, IGN, NULL},
    {"bytes=+1-2", 11, IGN, NULL},
    {"bytes=1-2-3", 11, IGN, NULL},
    {"bytes=0-1;x", 11, IGN, NULL},
    {"bytes=\"0-1\"", 11, IGN, NULL},
    {"bytes=0-1,foo", 11, IGN, NULL},
    {"bytes=0-1,20-30,x", 11, IGN, NULL},
    {"bytes:0-1", 11, IGN, NULL},
    {"items=0-1", 11, IGN, NULL},
    {"none", 11, IGN, NULL},
    {"bytes=1.5-2", 11, IGN, NULL},
    /* at most RANGE_MAX specs, a reasonable number of empty elements */
    {"bytes=0-0,2-2,4-4,6-6,8-8,10-10,12-12,14-14,16-16,18-18,20-20,22-22,24-24,26-26,"
     "28-28,30-30",
        40, SAT,
        "0-0,2-2,4-4,6-6,8-8,10-10,12-12,14-14,16-16,18-18,20-20,22-22,24-24,26-26,28-28,"
        "30-30"},
    {"bytes=0-0,2-2,4-4,6-6,8-8,10-10,12-12,14-14,16-16,18-18,20-20,22-22,24-24,26-26,"
     "28-28,30-30,32-32",
        40, IGN, NULL},
    {"bytes=0-1,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,", 11, IGN, NULL},
};

static void
format_set(const struct range_set *s, char *out, size_t outlen)
{
	size_t n = 0;

	out[0] = '\0';
	for (unsigned i = 0; i < s->n && n < outlen; i++)
		n += (size_t)snprintf(out + n, outlen - n, "%s%llu-%llu", i > 0 ? "," : "",
		    (unsigned long long)s->r[i].first, (unsigned long long)s->r[i].last);
}

static void
test_parse_table(void)
{
	subtest("range_parse");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct range_case *k = &cases[i];
		struct range_set s;
		char got[512], what[600];
		enum range_result r = range_parse(str_cstr(k->in), k->length, &s);

		snprintf(
		    what, sizeof what, "\"%s\" length %llu", k->in, (unsigned long long)k->length);
		ok(r == k->want, what);
		if (r == k->want && k->want == SAT) {
			format_set(&s, got, sizeof got);
			is_str(got, k->ranges);
		} else if (r != k->want) {
			printf("#   got %d, want %d\n", (int)r, (int)k->want);
		} else {
			is_int(s.n, 0);
		}
	}
}

static void
test_ascending(void)
{
	struct range_set s;

	subtest("range_ascending");
	is_int(range_parse(STR_LIT("bytes=0-1,3-4,8-"), 11, &s), SAT);
	ok(range_ascending(&s), "0-1,3-4,8-10 is ascending");
	is_int(range_parse(STR_LIT("bytes=8-,0-1"), 11, &s), SAT);
	ok(!range_ascending(&s), "8-10,0-1 is not");
	is_int(range_parse(STR_LIT("bytes=-2"), 11, &s), SAT);
	ok(range_ascending(&s), "one range is");
}

struct if_range_case {
	const char *if_range;
	const char *etag, *lm, *date; /* NULL: absent */
	bool want;
};

#define LM   "Sun, 06 Nov 1994 08:49:37 GMT"
#define LATE "Sun, 06 Nov 1994 08:49:38 GMT"

static const struct if_range_case if_cases[] = {
    /* entity-tags: strong comparison */
    {"\"abc\"", "\"abc\"", NULL, NULL, true},
    {" \"abc\" ", "\"abc\"", NULL, NULL, true},
    {"\"abc\"", "\"abd\"", NULL, NULL, false},
    {"\"abc\"", "W/\"abc\"", NULL, NULL, false},
    {"W/\"abc\"", "W/\"abc\"", NULL, NULL, false},
    {"W/\"abc\"", "\"abc\"", NULL, NULL, false},
    {"\"abc\"", NULL, LM, LATE, false},
    {"\"abc", "\"abc\"", NULL, NULL, false},
    /* dates: equal to a strong Last-Modified */
    {LM, NULL, LM, LATE, true},
    {"Sunday, 06-Nov-94 08:49:37 GMT", NULL, LM, LATE, true},
    {LM, "\"abc\"", LM, LATE, true},
    {LM, NULL, LM, LM, false},   /* Date == Last-Modified: weak */
    {LM, NULL, LM, NULL, false}, /* no Date: cannot tell, weak */
    {LATE, NULL, LM, LATE, false},
    {LM, NULL, LATE, "Sun, 06 Nov 1994 09:00:00 GMT", false},
    {LM, NULL, NULL, LATE, false},
    {"Wed, 21 Oct 2015 07:28:00 GMT", NULL, "Wed, 21 Oct 2015 07:28:00 GMT",
        "Wed, 21 Oct 2015 08:00:00 GMT", true},
    /* neither */
    {"", "\"abc\"", LM, LATE, false},
    {"yesterday", "\"abc\"", LM, LATE, false},
    {"*", "\"abc\"", LM, LATE, false},
};

static struct str
opt(const char *s)
{
	return s != NULL ? str_cstr(s) : STR_NULL;
}

static void
test_if_range_table(void)
{
	subtest("range_if_range");
	for (size_t i = 0; i < sizeof if_cases / sizeof if_cases[0]; i++) {
		const struct if_range_case *k = &if_cases[i];
		struct range_validators v = {opt(k->etag), opt(k->lm), opt(k->date)};
		char what[256];

		snprintf(what, sizeof what,
		    "If-Range %s vs ETag %s, Last-Modified %s, Date %s -> %s", k->if_range,
		    k->etag ? k->etag : "-", k->lm ? k->lm : "-", k->date ? k->date : "-",
		    k->want ? "true" : "false");
		ok(range_if_range(str_cstr(k->if_range), &v) == k->want, what);
	}
}

static void
set_request(struct h1_request *r, const char *method, struct h1_header *h, size_t n)
{
	memset(r, 0, sizeof *r);
	r->method = str_cstr(method);
	r->headers = h;
	r->n_headers = n;
}

static void
test_request(void)
{
	struct range_validators v = {STR_LIT("\"e1\""), STR_LIT(LM), STR_LIT(LATE)};
	struct h1_header h[3];
	struct h1_request r;
	struct range_set s;

	subtest("range_request");
	h[0] = (struct h1_header){STR_LIT("range"), STR_LIT("bytes=0-1")};
	set_request(&r, "GET", h, 1);
	is_int(range_request(&r, &v, 11, &s), SAT);
	set_request(&r, "HEAD", h, 1);
	is_int(range_request(&r, &v, 11, &s), IGN);
	set_request(&r, "POST", h, 1);
	is_int(range_request(&r, &v, 11, &s), IGN);
	set_request(&r, "GET", h, 0);
	is_int(range_request(&r, &v, 11, &s), IGN);
	/* two Range lines */
	h[1] = (struct h1_header){STR_LIT("Range"), STR_LIT("bytes=3-4")};
	set_request(&r, "GET", h, 2);
	is_int(range_request(&r, &v, 11, &s), IGN);
	/* If-Range */
	h[1] = (struct h1_header){STR_LIT("If-Range"), STR_LIT("\"e1\"")};
	set_request(&r, "GET", h, 2);
	is_int(range_request(&r, &v, 11, &s), SAT);
	h[1] = (struct h1_header){STR_LIT("If-Range"), STR_LIT("\"e2\"")};
	is_int(range_request(&r, &v, 11, &s), IGN);
	h[1] = (struct h1_header){STR_LIT("If-Range"), STR_LIT(LM)};
	is_int(range_request(&r, &v, 11, &s), SAT);
	h[1] = (struct h1_header){STR_LIT("If-Range"), STR_LIT(LATE)};
	is_int(range_request(&r, &v, 11, &s), IGN);
	/* If-Range without Range is ignored */
	set_request(&r, "GET", h + 1, 1);
	is_int(range_request(&r, &v, 11, &s), IGN);
	/* unsatisfiable still needs the If-Range to hold */
	h[0] = (struct h1_header){STR_LIT("Range"), STR_LIT("bytes=50-")};
	h[1] = (struct h1_header){STR_LIT("If-Range"), STR_LIT("\"e1\"")};
	set_request(&r, "GET", h, 2);
	is_int(range_request(&r, &v, 11, &s), UNS);
}

static void
test_content_range(void)
{
	static const struct {
		const char *v;
		bool ok;
		uint64_t first, last, length;
	} t[] = {
	    {"bytes 0-9/10", true, 0, 9, 10},
	    {"  BYTES 4194304-8388607/1073741824 ", true, 4194304, 8388607, 1073741824},
	    {"bytes 5-5/6", true, 5, 5, 6},
	    {"bytes 9-0/10", false, 0, 0, 0},
	    {"bytes 0-10/10", false, 0, 0, 0},
	    {"bytes */10", false, 0, 0, 0},
	    {"bytes 0-9/*", false, 0, 0, 0},
	    {"bytes 0-9", false, 0, 0, 0},
	    {"bytes -1-9/10", false, 0, 0, 0},
	    {"bytes +0-9/10", false, 0, 0, 0},
	    {"bytes 0 -9/10", false, 0, 0, 0},
	    {"items 0-9/10", false, 0, 0, 0},
	    {"bytes 0-9/99999999999999999999", false, 0, 0, 0},
	    {"bytes0-9/10", false, 0, 0, 0},
	    {"", false, 0, 0, 0},
	};

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		uint64_t f = 0, l = 0, n = 0;
		bool got = range_content_range(str_cstr(t[i].v), &f, &l, &n);

		ok(got == t[i].ok, t[i].v);
		if (t[i].ok)
			ok(f == t[i].first && l == t[i].last && n == t[i].length, t[i].v);
	}
}

int
main(void)
{
	test_content_range();
	test_parse_table();
	test_ascending();
	test_if_range_table();
	test_request();
	return tap_done();
}
