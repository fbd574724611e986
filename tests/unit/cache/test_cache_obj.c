/* SPDX-License-Identifier: BSD-2-Clause */
/* tests/unit/cache/test_cache_obj.c — cached objects: building, caps, references, age. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache/cache.h"
#include "tests/unit/tap.h"

static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n";

static struct cache_obj *
mk(uint64_t hint, int64_t ttl, int64_t age, time_t stored_at)
{
	struct cache_policy pol = {true, ttl, age};

	return cache_obj_new("http://a/x", 10, head, sizeof head - 1, hint, stored_at, &pol);
}

static void
test_build(void)
{
	struct cache_obj *o = mk(0, 60, 0, 1000);
	const char *p;
	size_t n;
	char chunk[1000];

	subtest("build and read");
	ok(o != NULL, "new");
	p = cache_obj_head(o, &n);
	is_int(n, sizeof head - 1);
	ok(memcmp(p, head, n) == 0, "head copied");
	p = cache_obj_body(o, &n);
	is_int(n, 0);
	ok(p != NULL, "empty body is not NULL");
	ok(!cache_obj_has_consumed_fields(o), "no consumed field");
	{
		static const char sc[] = "HTTP/1.1 200 OK\r\nsurrogate-control: max-age=5\r\n";
		struct cache_obj *s = cache_obj_new("k", 1, sc, sizeof sc - 1, 0, 1000, NULL);

		ok(cache_obj_has_consumed_fields(s), "Surrogate-Control is consumed");
		cache_obj_unref(&s);
	}
	is_int(cache_obj_append(o, "hello ", 6, 100), 0);
	is_int(cache_obj_append(o, "world", 5, 100), 0);
	is_int(cache_obj_append(o, "", 0, 100), 0);
	p = cache_obj_body(o, &n);
	is_int(n, 11);
	ok(memcmp(p, "hello world", 11) == 0, "body");
	/* Growth by doubling across many appends keeps the bytes. */
	memset(chunk, 'z', sizeof chunk);
	for (int i = 0; i < 100; i++)
		if (cache_obj_append(o, chunk, sizeof chunk, 1u << 20) != 0)
			break;
	p = cache_obj_body(o, &n);
	is_int(n, 11 + 100 * sizeof chunk);
	ok(p[11] == 'z' && p[n - 1] == 'z', "grown body");
	ok(cache_obj_charge(o) >= n + sizeof head - 1 + 10, "charge covers the bytes");
	cache_obj_unref(&o);
	ok(o == NULL, "unref NULLs");
	cache_obj_unref(&o); /* NULL-safe */
}

static void
test_cap(void)
{
	struct cache_obj *o = mk(0, 60, 0, 1000);
	size_t n;

	subtest("append cap");
	is_int(cache_obj_append(o, "0123456789", 10, 16), 0);
	is_int(cache_obj_append(o, "012345", 6, 16), 0);
	is_int(cache_obj_append(o, "x", 1, 16), -1);
	cache_obj_body(o, &n);
	is_int(n, 16);
	ok(cache_obj_charge(o) < 16 + 4096 + 1024, "capacity capped by max_bytes");
	cache_obj_unref(&o);

	/* An exact hint gives an exact fit. */
	o = mk(100, 60, 0, 1000);
	{
		size_t c0 = cache_obj_charge(o);
		char b[50];

		memset(b, 'b', sizeof b);
		is_int(cache_obj_append(o, b, 50, 1000), 0);
		is_int(cache_obj_append(o, b, 50, 1000), 0);
		is_int(cache_obj_charge(o), c0);
		is_int(cache_obj_append(o, b, 1, 1000), 0); /* more than announced */
		cache_obj_body(o, &n);
		is_int(n, 101);
	}
	cache_obj_unref(&o);

	/* A hint above max_bytes does not let the body pass the cap. */
	o = mk(1u << 30, 60, 0, 1000);
	{
		char b[64];

		memset(b, 'c', sizeof b);
		is_int(cache_obj_append(o, b, 64, 100), 0);
		is_int(cache_obj_append(o, b, 64, 100), -1);
	}
	cache_obj_unref(&o);
}

static void
test_body_done(void)
{
	struct cache_obj *o = mk(0, 60, 0, 1000), *e = mk(0, 60, 0, 1000),
	                 *x = mk(100, 60, 0, 1000);
	size_t c0 = cache_obj_charge(o), n;
	const char *p;

	subtest("body done: slack given back");
	is_int(cache_obj_append(o, "0123456789", 10, 1u << 20), 0);
	ok(cache_obj_charge(o) >= c0 + 4096, "unknown length: a 4 KiB block");
	cache_obj_body_done(o);
	is_int(cache_obj_charge(o), c0 + 10);
	p = cache_obj_body(o, &n);
	is_int(n, 10);
	ok(memcmp(p, "0123456789", 10) == 0, "bytes kept");
	cache_obj_body_done(o); /* again: nothing to do */
	is_int(cache_obj_charge(o), c0 + 10);
	cache_obj_body_done(e);
	p = cache_obj_body(e, &n);
	ok(p != NULL && n == 0, "empty body");
	is_int(cache_obj_charge(e), c0);
	is_int(cache_obj_append(x, "abc", 3, 1000), 0);
	cache_obj_body_done(x);
	is_int(cache_obj_charge(x), c0 + 3);
	cache_obj_unref(&o);
	cache_obj_unref(&e);
	cache_obj_unref(&x);
}

static void
test_refs(void)
{
	struct cache_obj *o = mk(0, 60, 0, 1000), *a, *b;
	size_t n;

	subtest("references");
	a = cache_obj_ref(o);
	b = cache_obj_ref(o);
	ok(a == o && b == o, "ref returns the object");
	cache_obj_unref(&o);
	cache_obj_unref(&a);
	/* b still holds it: readable (ASan would flag a use after free). */
	cache_obj_head(b, &n);
	is_int(n, sizeof head - 1);
	cache_obj_unref(&b);
	ok(a == NULL && b == NULL && o == NULL, "all NULLed");
}

static void
test_age(void)
{
	struct cache_obj *o = mk(0, 60, 5, 1000);

	subtest("age and freshness (RFC 9111 §4.2.3)");
	is_int(cache_obj_age(o, 1000), 5);
	is_int(cache_obj_age(o, 1030), 35);
	is_int(cache_obj_age(o, 900), 5); /* clock stepped back */
	ok(cache_obj_fresh(o, 1054), "age 59 < 60");
	ok(!cache_obj_fresh(o, 1055), "age 60 is stale");
	cache_obj_unref(&o);
	o = mk(0, 0, 0, 1000);
	ok(!cache_obj_fresh(o, 1000), "ttl 0 never fresh");
	cache_obj_unref(&o);
}

static void
test_update(void)
{
	static const char h[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nETag: \"v1\"\r\n"
	                        "Cache-Control: max-age=1\r\nX-Old: a\r\nX-Old: b\r\n"
	                        "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n";
	struct cache_policy pol = {true, 1, 0};
	struct cache_obj *o = cache_obj_new("http://a/u", 10, h, sizeof h - 1, 5, 1000, &pol);
	struct h1_header upd[] = {
	    {STR_LIT("Cache-Control"), STR_LIT("max-age=60")},
	    {STR_LIT("X-Old"), STR_LIT("c")},
	    {STR_LIT("Content-Length"), STR_LIT("999")},
	    {STR_LIT("Connection"), STR_LIT("X-Hop")},
	    {STR_LIT("X-Hop"), STR_LIT("1")},
	    {STR_LIT("Age"), STR_LIT("3")},
	    {STR_LIT("X-New"), STR_LIT("n")},
	};
	struct cache_policy npol = {true, 60, 3};
	struct cache_obj *n, *n2;
	const char *b1, *b2, *nh;
	size_t l1, l2, hl, pos = 0;
	struct str v;
	int count = 0;

	subtest("304 update: merged head, shared body (RFC 9111 §3.2)");
	ok(cache_obj_append(o, "hello", 5, 100) == 0, "body");
	n = cache_obj_update(o, upd, sizeof upd / sizeof upd[0], 2000, &npol);
	ok(n != NULL, "updated object");
	b1 = cache_obj_body(o, &l1);
	b2 = cache_obj_body(n, &l2);
	ok(b1 == b2 && l1 == l2 && l2 == 5, "body shared, not copied");
	ok(cache_obj_header(n, STR_LIT("Cache-Control"), &v) && str_eq(v, STR_LIT("max-age=60")),
	    "Cache-Control replaced");
	while (cache_obj_header_next(n, STR_LIT("X-Old"), &pos, &v)) {
		count++;
		ok(str_eq(v, STR_LIT("c")), "X-Old: every old line replaced");
	}
	is_int(count, 1);
	ok(cache_obj_header(n, STR_LIT("ETag"), &v) && str_eq(v, STR_LIT("\"v1\"")), "ETag kept");
	ok(cache_obj_header(n, STR_LIT("X-New"), &v), "new field added");
	ok(!cache_obj_header(n, STR_LIT("Content-Length"), &v), "Content-Length not taken");
	ok(!cache_obj_header(n, STR_LIT("X-Hop"), &v) &&
	        !cache_obj_header(n, STR_LIT("Connection"), &v),
	    "hop-by-hop not taken");
	ok(!cache_obj_header(n, STR_LIT("Age"), &v), "Age not stored");
	ok(cache_obj_header(n, STR_LIT("Date"), &v) &&
	        str_eq(v, STR_LIT("Thu, 01 Jan 1970 00:33:20 GMT")),
	    "no Date in the 304: dated stored_at");
	nh = cache_obj_head(n, &hl);
	ok(hl > 17 && memcmp(nh, "HTTP/1.1 200 OK\r\n", 17) == 0, "status line kept");
	is_int(cache_obj_age(n, 2010), 13);
	ok(cache_obj_fresh(n, 2010), "fresh with the new ttl");
	/* a second update shares the same body owner; the first objects may go */
	n2 = cache_obj_update(n, upd, 1, 3000, &npol);
	cache_obj_unref(&o);
	cache_obj_unref(&n);
	b2 = cache_obj_body(n2, &l2);
	ok(l2 == 5 && memcmp(b2, "hello", 5) == 0, "body survives its first owners");
	cache_obj_unref(&n2);
}

/* p[0..n) holds the pattern byte k == (k + seed) % 251 */
static bool
pattern_is(const char *p, size_t n, unsigned seed)
{
	for (size_t k = 0; k < n; k++)
		if ((unsigned char)p[k] != (k + seed) % 251)
			return false;
	return true;
}

static void
fill_pattern(struct cache_obj *o, size_t n, uint64_t max)
{
	char buf[4096];

	for (size_t k = 0; k < n; k += sizeof buf) {
		size_t m = n - k < sizeof buf ? n - k : sizeof buf;

		for (size_t i = 0; i < m; i++)
			buf[i] = (char)((k + i) % 251);
		if (cache_obj_append(o, buf, m, max) != 0)
			return;
	}
}

/* The file's bytes from off, read back through the descriptor. */
static bool
file_is(int fd, off_t off, size_t n, unsigned seed)
{
	char *buf = malloc(n);
	bool r = buf != NULL && pread(fd, buf, n, off) == (ssize_t)n && pattern_is(buf, n, seed);

	free(buf);
	return r;
}

static void
test_body_files(void)
{
	size_t big = 200000, n;
	struct cache_obj *o, *u, *c, *s;
	struct cache_policy pol = {true, 60, 0};
	const char *p;
	off_t off = -1;
	int fd;

	subtest("bodies of 64 KiB or more in memory files");
	is_int(cache_obj_files(), 0);
	o = mk(big, 60, 0, 1000); /* no files allowed yet: the heap */
	fill_pattern(o, big, big);
	cache_obj_body_done(o);
	p = cache_obj_body(o, &n);
	ok(cache_obj_body_file(o, p, &off) == -1, "limit 0: no file");
	cache_obj_unref(&o);

	cache_obj_files_limit(2);
	o = mk(big, 60, 0, 1000); /* announced length: the file from the start */
	is_int(cache_obj_files(), 1);
	fill_pattern(o, big, big);
	cache_obj_body_done(o);
	p = cache_obj_body(o, &n);
	is_int(n, big);
	ok(pattern_is(p, n, 0), "bytes through the mapping");
	fd = cache_obj_body_file(o, p + 70000, &off);
	ok(fd >= 0 && off == 70000, "file and offset of a pointer into the body");
	ok(file_is(fd, 70000, big - 70000, 70000 % 251), "the file holds the same bytes");

	u = mk(0, 60, 0, 1000); /* unknown length: heap, moved to a file when done */
	fill_pattern(u, big, 1 << 20);
	p = cache_obj_body(u, &n);
	ok(cache_obj_body_file(u, p, &off) == -1, "growing on the heap");
	cache_obj_body_done(u);
	p = cache_obj_body(u, &n);
	ok(n == big && pattern_is(p, n, 0), "moved intact");
	ok(cache_obj_body_file(u, p, &off) >= 0 && off == 0, "in a file once complete");
	is_int(cache_obj_files(), 2);

	c = mk(big, 60, 0, 1000); /* over the limit: the heap */
	is_int(cache_obj_files(), 2);
	fill_pattern(c, big, big);
	cache_obj_body_done(c);
	p = cache_obj_body(c, &n);
	ok(cache_obj_body_file(c, p, &off) == -1 && pattern_is(p, n, 0), "past the limit: heap");
	cache_obj_unref(&c);

	/* a 304's update shares the file */
	s = cache_obj_update(o, NULL, 0, 2000, &pol);
	cache_obj_unref(&o);
	p = cache_obj_body(s, &n);
	fd = cache_obj_body_file(s, p + 1, &off);
	ok(fd >= 0 && off == 1 && file_is(fd, 1, 1000, 1), "shared body: the owner's file");
	cache_obj_unref(&s);
	is_int(cache_obj_files(), 1);

	/* longer than announced: back to the heap; shorter: the tail goes */
	o = mk(100000, 60, 0, 1000);
	fill_pattern(o, 150000, 1 << 20);
	is_int(cache_obj_files(), 1);
	cache_obj_body_done(o); /* 150000 bytes: a file again */
	p = cache_obj_body(o, &n);
	ok(n == 150000 && pattern_is(p, n, 0) && cache_obj_body_file(o, p, &off) >= 0,
	    "longer than announced: intact, in a file");
	cache_obj_unref(&o);
	o = mk(300000, 60, 0, 1000);
	fill_pattern(o, 120000, 1 << 20);
	cache_obj_body_done(o);
	p = cache_obj_body(o, &n);
	fd = cache_obj_body_file(o, p, &off);
	ok(n == 120000 && pattern_is(p, n, 0) && fd >= 0 && lseek(fd, 0, SEEK_END) == 120000,
	    "shorter than announced: the file cut to the body");
	cache_obj_unref(&o);
	cache_obj_unref(&u);
	is_int(cache_obj_files(), 0);
	cache_obj_files_limit(0);
}

int
main(void)
{
	test_build();
	test_cap();
	test_body_done();
	test_refs();
	test_age();
	test_update();
	test_body_files();
	return tap_done();
}
