/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/cache/test_cache_vary.c — Vary variant keys (normalization of
 * the selecting header values, "*", field-name sets), lookup / store /
 * invalidate over the RAM tier (index, several variants, the oldest
 * replaced, a plain response replacing them), variants of one URL stored
 * by several threads at once (each stays listed), and the resolution of
 * Location / Content-Location references for invalidation.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "cache/cache.h"
#include "core/assert.h"
#include "tests/unit/tap.h"

#define MAX_HDRS 20
#define KEY      "http://example.com/a?b=1"

/* Parses a message head: first line, then the "Name: value" lines
 * (NULL-terminated), with the views into buf. */
static const char *
head_of(const char *first, const char *const *lines, char *buf, size_t buflen)
{
	size_t len = (size_t)snprintf(buf, buflen, "%s\r\n", first);

	for (size_t i = 0; lines[i] != NULL; i++)
		len += (size_t)snprintf(buf + len, buflen - len, "%s\r\n", lines[i]);
	snprintf(buf + len, buflen - len, "\r\n");
	return buf;
}

static const struct h1_limits lim = {8192, 8192, MAX_HDRS};

static void
parse_request(const char *const *lines, char *buf, struct h1_header *h, struct h1_request *req)
{
	head_of("GET /a?b=1 HTTP/1.1\r\nHost: example.com", lines, buf, 4096);
	ASSERT(h1_parse_request(buf, strlen(buf), &lim, h, req) == H1_OK);
}

/* The variant key of a request with req_lines for a response with resp_lines. */
static int
vkey(const char *const *req_lines, const char *const *resp_lines, char *out, size_t outlen)
{
	struct h1_header qh[MAX_HDRS], sh[MAX_HDRS];
	struct h1_request req;
	struct h1_response resp;
	char qbuf[4096], sbuf[4096];

	parse_request(req_lines, qbuf, qh, &req);
	head_of("HTTP/1.1 200 OK\r\nContent-Length: 0", resp_lines, sbuf, sizeof sbuf);
	ASSERT(h1_parse_response(sbuf, strlen(sbuf), &lim, false, sh, &resp) == H1_OK);
	return cache_vary_key(&req, resp.headers, resp.n_headers, KEY, strlen(KEY), out, outlen);
}

#define L(...) ((const char *const[]){__VA_ARGS__, NULL})
#define NONE   ((const char *const[]){NULL})

struct same_case {
	const char *name;
	const char *const *vary;
	const char *const *a;
	const char *const *b;
	bool same;
};

static void
test_keys(void)
{
	const struct same_case cases[] = {
	    {"equal values", L("Vary: Foo"), L("Foo: 1"), L("foo: 1"), true},
	    {"other values", L("Vary: Foo"), L("Foo: 1"), L("Foo: 2"), false},
	    {"OWS around members", L("Vary: Foo"), L("Foo: 1,2"), L("Foo:  1 ,  2 "), true},
	    {"lines combined", L("Vary: Foo"), L("Foo: 1", "Foo: 2"), L("Foo: 1, 2"), true},
	    {"member order matters", L("Vary: Foo"), L("Foo: 1, 2"), L("Foo: 2, 1"), false},
	    {"absent vs empty", L("Vary: Foo"), NONE, L("Foo: "), false},
	    {"both absent", L("Vary: Foo, Bar"), L("Baz: 1"), L("Baz: 2"), true},
	    {"other fields ignored", L("Vary: Foo"), L("Foo: 1", "Other: 2"),
	        L("Foo: 1", "Other: 3"), true},
	    {"one of two differs", L("Vary: Foo, Bar"), L("Foo: 1", "Bar: a"),
	        L("Foo: 1", "Bar: b"), false},
	    {"values do not move between fields", L("Vary: Foo, Bar"), L("Foo: 1"), L("Bar: 1"),
	        false},
	    {"names: case, order, duplicates, lines", L("Vary: Foo, BAR", "Vary: foo"),
	        L("Foo: 1", "Bar: a"), L("Bar: a", "Foo: 1"), true},
	    {"AE as a set of codings", L("Vary: Accept-Encoding"), L("Accept-Encoding: gzip, br"),
	        L("Accept-Encoding: BR;q=0.5, gzip, x-unknown"), true},
	    {"AE q=0 excluded", L("Vary: Accept-Encoding"), L("Accept-Encoding: gzip;q=0, br"),
	        L("Accept-Encoding: br"), true},
	    {"AE x-gzip is gzip", L("Vary: Accept-Encoding"), L("Accept-Encoding: x-gzip"),
	        L("Accept-Encoding: gzip"), true},
	    {"AE refused under *", L("Vary: Accept-Encoding"), L("Accept-Encoding: *, zstd;q=0"),
	        L("Accept-Encoding: *"), false},
	    {"AE identity refused", L("Vary: Accept-Encoding"),
	        L("Accept-Encoding: gzip, identity;q=0"), L("Accept-Encoding: gzip"), false},
	    {"AE q=0 differs", L("Vary: Accept-Encoding"), L("Accept-Encoding: gzip;q=0"),
	        L("Accept-Encoding: gzip"), false},
	    {"AE absent vs present", L("Vary: Accept-Encoding"), NONE, L("Accept-Encoding: gzip"),
	        false},
	    {"AL without case", L("Vary: Accept-Language"), L("Accept-Language: en-US, de;q=0.5"),
	        L("Accept-Language: EN-us ,De;Q=0.5"), true},
	    {"AL order matters", L("Vary: Accept-Language"), L("Accept-Language: en, de"),
	        L("Accept-Language: de, en"), false},
	    {"case matters elsewhere", L("Vary: Foo"), L("Foo: a"), L("Foo: A"), false},
	};
	char k1[CACHE_KEY_MAX], k2[CACHE_KEY_MAX];

	subtest("variant keys");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct same_case *c = &cases[i];
		int n1 = vkey(c->a, c->vary, k1, sizeof k1);
		int n2 = vkey(c->b, c->vary, k2, sizeof k2);
		char what[128];

		snprintf(what, sizeof what, "%s: %s", c->name, c->same ? "same key" : "other key");
		ok(n1 > 0 && n2 > 0 && (n1 == n2 && memcmp(k1, k2, (size_t)n1) == 0) == c->same,
		    what);
	}
	is_int(vkey(L("Foo: 1"), NONE, k1, sizeof k1), (int)strlen(KEY));
	is_str(k1, KEY);
	is_int(vkey(L("Foo: 1"), L("Vary: ,"), k1, sizeof k1), (int)strlen(KEY));
	is_int(vkey(L("Foo: 1"), L("Vary: Foo"), k1, sizeof k1), (int)strlen(KEY) + 33);
	ok(memcmp(k1, KEY, strlen(KEY)) == 0 && k1[strlen(KEY)] == '\x1f', "key, US, id");
	is_int(vkey(NONE, L("Vary: *"), k1, sizeof k1), -1);
	is_int(vkey(NONE, L("Vary: Foo, *"), k1, sizeof k1), -1);
	is_int(vkey(NONE, L("Vary: ", "Vary: *"), k1, sizeof k1), -1);
	is_int(vkey(NONE, L("Vary: Fo o"), k1, sizeof k1), -1);
	is_int(vkey(NONE, L("Vary: a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q"), k1, sizeof k1), -1);
	is_int(vkey(NONE, L("Vary: a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p"), k1, sizeof k1),
	    (int)strlen(KEY) + 33);
	is_int(vkey(NONE, L("Vary: Foo"), k1, strlen(KEY) + 33), -1);
}

/* hex of the first 16 bytes of SHA-256(p[0..n)) */
static void
sha_id(const char *p, size_t n, char out[33])
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned dl = 0;

	ASSERT(EVP_Digest(p, n, d, &dl, EVP_sha256(), NULL) == 1 && dl == 32);
	for (size_t i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void
test_ids(void)
{
	static char line[1600], text[1600];
	char k[CACHE_KEY_MAX], want[33];
	size_t kl = strlen(KEY) + 1;

	subtest("variant ids: SHA-256 of the selecting values");
	ok(vkey(L("Foo: 1"), L("Vary: Foo"), k, sizeof k) > 0, "keyed");
	sha_id("foo:1\n", 6, want);
	is_str(k + kl, want);
	ok(vkey(NONE, L("Vary: Foo"), k, sizeof k) > 0, "keyed");
	sha_id("foo:\0\n", 6, want); /* absent differs from empty */
	is_str(k + kl, want);
	ok(vkey(L("Accept-Language: EN-gb , Fr"), L("Vary: Accept-Language, Foo"), k, sizeof k) > 0,
	    "keyed");
	sha_id("accept-language:en-gb,fr\nfoo:\0\n", 31, want);
	is_str(k + kl, want);
	/* longer than the digest's gathering buffer */
	memset(line, 'x', sizeof line - 1);
	memcpy(line, "Foo: ", 5);
	memcpy(text, "foo:", 4);
	memset(text + 4, 'x', sizeof line - 1 - 5);
	text[4 + sizeof line - 1 - 5] = '\n';
	ok(vkey(L(line), L("Vary: Foo"), k, sizeof k) > 0, "keyed");
	sha_id(text, 4 + sizeof line - 1 - 5 + 1, want);
	is_str(k + kl, want);
}

/* ---- lookup / store over the RAM tier ---- */

static struct cache_obj *
mk_variant(const char *const *req_lines, const char *vary, const char *body)
{
	struct cache_policy pol = {true, 60, 0};
	char key[CACHE_KEY_MAX], head[256];
	const char *const resp[] = {vary, NULL};
	struct cache_obj *o;
	int n = vkey(req_lines, vary != NULL ? resp : NONE, key, sizeof key);

	snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\n%s%s", vary != NULL ? vary : "",
	    vary != NULL ? "\r\n" : "");
	o = cache_obj_new(key, (size_t)n, head, strlen(head), 0, 1000, &pol);
	cache_obj_append(o, body, strlen(body), 1024);
	return o;
}

/* A cache with a RAM tier only. */
static struct cache *
cache_make(uint64_t ram_bytes, unsigned shards)
{
	struct cache_conf cc;
	struct cache *c = NULL;
	char err[64];

	cache_conf_defaults(&cc);
	cc.ram_bytes = ram_bytes;
	ASSERT(cache_new(&cc, shards, 4, NULL, NULL, &c, err, sizeof err) == 0);
	return c;
}

static void
store(struct cache *r, const char *const *req_lines, const char *vary, const char *body)
{
	struct cache_obj *o = mk_variant(req_lines, vary, body);

	cache_store(r, o, 1000);
	cache_obj_unref(&o);
}

/* The body found for a request, or "" on a miss. */
static const char *
find(struct cache *r, const char *const *req_lines, char *buf, size_t buflen)
{
	struct h1_header qh[MAX_HDRS];
	struct h1_request req;
	struct cache_obj *o = NULL;
	char qbuf[4096];
	bool from_disk;
	const char *b;
	size_t len;

	parse_request(req_lines, qbuf, qh, &req);
	buf[0] = '\0';
	if (cache_lookup(r, &req, KEY, strlen(KEY), 1000, &o, &from_disk) != 0)
		return buf;
	b = cache_obj_body(o, &len);
	snprintf(buf, buflen, "%.*s", (int)len, b);
	cache_obj_unref(&o);
	return buf;
}

static void
test_tiers(void)
{
	static const char gained[] = "HTTP/1.1 200 OK\r\nVary: Foo\r\n";
	struct cache_policy pol = {true, 60, 0};
	struct cache *r = cache_make(1 << 20, 1);
	struct cache_ram_stats st;
	struct cache_obj *o;
	char buf[64];
	size_t len;

	subtest("lookup / store / invalidate");
	store(r, L("Foo: 1"), "Vary: Foo", "one");
	store(r, L("Foo: 2"), "Vary: Foo", "two");
	store(r, NONE, "Vary: Foo", "none");
	is_str(find(r, L("Foo: 1"), buf, sizeof buf), "one");
	is_str(find(r, L("Foo: 2"), buf, sizeof buf), "two");
	is_str(find(r, NONE, buf, sizeof buf), "none");
	is_str(find(r, L("Foo: 3"), buf, sizeof buf), "");
	store(r, L("Foo: 1"), "Vary: Foo", "one again");
	is_str(find(r, L("Foo: 1"), buf, sizeof buf), "one again");
	(void)cache_stats_ram(r, &st);
	is_int((int)st.objects, 4); /* index + three variants */

	/* more than CACHE_VARY_MAX: the oldest listed go ("two", then "none") */
	for (int i = 10; i < 10 + CACHE_VARY_MAX - 1; i++) {
		char v[16], lines[32];
		const char *req[] = {lines, NULL};

		snprintf(v, sizeof v, "v%d", i);
		snprintf(lines, sizeof lines, "Foo: %d", i);
		store(r, req, "Vary: Foo", v);
	}
	is_str(find(r, L("Foo: 2"), buf, sizeof buf), "");
	is_str(find(r, NONE, buf, sizeof buf), "");
	is_str(find(r, L("Foo: 1"), buf, sizeof buf), "one again");
	is_str(find(r, L("Foo: 16"), buf, sizeof buf), "v16");
	(void)cache_stats_ram(r, &st);
	is_int((int)st.objects, 1 + CACHE_VARY_MAX);

	/* other Vary names: the old variants are dropped */
	store(r, L("Foo: 1", "Bar: x"), "Vary: Bar, Foo", "bar");
	is_str(find(r, L("Foo: 1"), buf, sizeof buf), "");
	is_str(find(r, L("Bar: x", "Foo: 1"), buf, sizeof buf), "bar");
	(void)cache_stats_ram(r, &st);
	is_int((int)st.objects, 2);

	/* a plain response replaces the index; every request finds it */
	store(r, L("Foo: 1"), "Vary: Foo", "one");
	store(r, NONE, NULL, "plain");
	is_str(find(r, L("Foo: 1"), buf, sizeof buf), "plain");
	is_str(find(r, L("Bar: x", "Foo: 1"), buf, sizeof buf), "plain");

	/* cache_variants: the listed variants, oldest first; none for a plain URL */
	{
		struct cache_obj *v[CACHE_VARY_MAX];
		size_t n = cache_variants(r, KEY, strlen(KEY), v, CACHE_VARY_MAX);

		is_int((int)n, 0);
		store(r, L("Foo: 1"), "Vary: Foo", "one");
		store(r, L("Foo: 2"), "Vary: Foo", "two");
		n = cache_variants(r, KEY, strlen(KEY), v, CACHE_VARY_MAX);
		is_int((int)n, 2);
		for (size_t i = 0; i < n; i++) {
			const char *b = cache_obj_body(v[i], &len);

			snprintf(buf, sizeof buf, "%.*s", (int)len, b);
			is_str(buf, i == 0 ? "one" : "two");
			cache_obj_unref(&v[i]);
		}
		is_int((int)cache_variants(r, KEY, strlen(KEY), v, 1), 1);
		cache_obj_unref(&v[0]);
	}

	/* cache_variant_by_etag: the variant whose ETag is the one named */
	store(r, L("Foo: 1"), "Vary: Foo\r\nETag: \"x\"", "one");
	store(r, L("Foo: 2"), "Vary: Foo\r\nETag: \"y\"", "two");
	o = cache_variant_by_etag(r, KEY, strlen(KEY), STR_LIT("\"y\""));
	ok(o != NULL && cache_obj_body(o, &len) != NULL && len == 3, "ETag \"y\": two");
	cache_obj_unref(&o);
	ok(cache_variant_by_etag(r, KEY, strlen(KEY), STR_LIT("W/\"y\"")) == NULL, "exact only");
	ok(cache_variant_by_etag(r, KEY, strlen(KEY), STR_LIT("\"z\"")) == NULL, "none");

	/* cache_vary_for_request: the variant "two" stored for Foo: 3 as well */
	{
		struct h1_header qh[MAX_HDRS];
		struct h1_request req;
		struct cache_obj *own;
		char qbuf[4096];

		o = cache_variant_by_etag(r, KEY, strlen(KEY), STR_LIT("\"y\""));
		parse_request(L("Foo: 2"), qbuf, qh, &req);
		ok(cache_vary_for_request(&req, o) == NULL, "already the variant Foo: 2 selects");
		parse_request(L("Foo: 3"), qbuf, qh, &req);
		own = cache_vary_for_request(&req, o);
		ok(own != NULL && cache_vary_selects(&req, own), "rekeyed for Foo: 3");
		cache_store(r, own, 1000);
		cache_obj_unref(&own);
		cache_obj_unref(&o);
		is_str(find(r, L("Foo: 3"), buf, sizeof buf), "two");
		is_str(find(r, L("Foo: 2"), buf, sizeof buf), "two");
		is_str(find(r, L("Foo: 1"), buf, sizeof buf), "one");
	}

	/* invalidation removes the index and every listed variant, and counts
	 * the responses it removed (the index is none) */
	store(r, L("Foo: 1"), "Vary: Foo", "one");
	store(r, L("Foo: 2"), "Vary: Foo", "two");
	(void)cache_stats_ram(r, &st);
	is_int((int)st.objects, 4); /* the index, Foo: 1, 2 and (above) 3 */
	is_int((int)cache_invalidate(r, KEY, strlen(KEY), 1000), 3);
	is_str(find(r, L("Foo: 1"), buf, sizeof buf), "");
	(void)cache_stats_ram(r, &st);
	is_int((int)st.objects, 0);
	is_int((int)cache_invalidate(r, KEY, strlen(KEY), 1000), 0);
	store(r, NONE, NULL, "plain");
	is_int((int)cache_invalidate(r, KEY, strlen(KEY), 1000), 1);

	/* a response under the URL key that gained a Vary (from a 304) is
	 * dropped, not stored for every request */
	store(r, NONE, NULL, "plain");
	o = cache_obj_new(KEY, strlen(KEY), gained, sizeof gained - 1, 0, 1000, &pol);
	cache_store(r, o, 1000);
	cache_obj_unref(&o);
	is_str(find(r, NONE, buf, sizeof buf), "");
	(void)cache_stats_ram(r, &st);
	is_int((int)st.objects, 0);
	cache_free(&r);
}

/* ---- variants of one URL stored by several threads at once ---- */

#define RACE_THREADS 4
#define RACE_ROUNDS  3000

struct race {
	struct cache *cache;
	pthread_barrier_t go;
};

struct race_arg {
	struct race *race;
	int id;
};

/* The URL key of round i. */
static int
race_url(int round, char *out, size_t outlen)
{
	return snprintf(out, outlen, "http://example.com/race/%d", round);
}

/* The variant of round's URL for "Foo: <id>", stored (store) or found. */
static bool
race_variant(struct cache *c, int round, int id, bool store)
{
	static const char vary[] = "HTTP/1.1 200 OK\r\nVary: Foo\r\nContent-Length: 0\r\n\r\n";
	static const char head[] = "HTTP/1.1 200 OK\r\nVary: Foo\r\n";
	struct cache_policy pol = {true, 60, 0};
	struct h1_header qh[MAX_HDRS], sh[MAX_HDRS];
	struct h1_request req;
	struct h1_response resp;
	char url[64], foo[32], key[CACHE_KEY_MAX], qbuf[4096];
	const char *lines[] = {foo, NULL};
	struct cache_obj *o = NULL;
	bool from_disk, found;
	int url_len = race_url(round, url, sizeof url), n;

	snprintf(foo, sizeof foo, "Foo: %d", id);
	parse_request(lines, qbuf, qh, &req);
	if (!store) {
		found = cache_lookup(c, &req, url, (size_t)url_len, 1000, &o, &from_disk) == 0;
		cache_obj_unref(&o);
		return found;
	}
	ASSERT(h1_parse_response(vary, sizeof vary - 1, &lim, false, sh, &resp) == H1_OK);
	n = cache_vary_key(
	    &req, resp.headers, resp.n_headers, url, (size_t)url_len, key, sizeof key);
	ASSERT(n > 0);
	o = cache_obj_new(key, (size_t)n, head, sizeof head - 1, 0, 1000, &pol);
	cache_store(c, o, 1000);
	cache_obj_unref(&o);
	return true;
}

static void *
race_thread(void *arg)
{
	struct race_arg *a = arg;

	for (int i = 0; i < RACE_ROUNDS; i++) {
		(void)pthread_barrier_wait(&a->race->go);
		race_variant(a->race->cache, i, a->id, true);
	}
	return NULL;
}

static void
test_concurrent_stores(void)
{
	struct race race;
	struct race_arg args[RACE_THREADS];
	pthread_t th[RACE_THREADS];
	int lost = 0;

	subtest("variants of one URL stored at once by several threads");
	race.cache = cache_make(256u << 20, 16);
	ASSERT(pthread_barrier_init(&race.go, NULL, RACE_THREADS) == 0);
	for (int t = 0; t < RACE_THREADS; t++) {
		args[t].race = &race;
		args[t].id = t;
		ASSERT(pthread_create(&th[t], NULL, race_thread, &args[t]) == 0);
	}
	for (int t = 0; t < RACE_THREADS; t++)
		ASSERT(pthread_join(th[t], NULL) == 0);
	for (int i = 0; i < RACE_ROUNDS; i++)
		for (int t = 0; t < RACE_THREADS; t++)
			if (!race_variant(race.cache, i, t, false))
				lost++;
	is_int(lost, 0);
	(void)pthread_barrier_destroy(&race.go);
	cache_free(&race.cache);
}

/* ---- Location / Content-Location ---- */

static void
test_resolve(void)
{
	static const struct {
		const char *base, *ref, *want; /* want NULL: -1 */
	} cases[] = {
	    {"http://a.example/b/c?q", "/x", "http://a.example/x"},
	    {"http://a.example/b/c?q", "x?y", "http://a.example/b/x?y"},
	    {"http://a.example/b/c?q", "../x", "http://a.example/x"},
	    {"http://a.example/b/c?q", "?z", "http://a.example/b/c?z"},
	    {"http://a.example/b/c?q", "#f", "http://a.example/b/c?q"},
	    {"http://a.example/b/c", "HTTP://A.example:80/x#f", "http://a.example/x"},
	    {"http://a.example/b/c", "//a.example", "http://a.example/"},
	    {"http://a.example/b/c", "//a.example?x", "http://a.example/?x"},
	    {"http://a.example:8080/b", "http://a.example:8080/%7Ex", "http://a.example:8080/~x"},
	    {"https://a.example/b", "https://a.example:443/x", "https://a.example/x"},
	    {"http://[::1]:81/b", "http://[::1]:81/x", "http://[::1]:81/x"},
	    {"http://a.example/b", "https://a.example/x", NULL},
	    {"http://a.example/b", "http://b.example/x", NULL},
	    {"http://a.example/b", "http://a.example:81/x", NULL},
	    {"http://a.example:8080/b", "http://a.example/x", NULL},
	    {"http://a.example/b", "//b.example/x", NULL},
	    {"http://a.example/b", "mailto:x@a.example", NULL},
	    {"http://a.example/b", "http://u@a.example/x", NULL},
	    {"http://a.example/b", "http://a.example:99999/x", NULL},
	    {"http://a.example/b", "", NULL},
	    {"http://a.example/b", "/a b", NULL},
	    {"http://a.example*", "/x", NULL},
	};
	char out[CACHE_KEY_MAX];

	subtest("Location resolution");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int n = cache_key_resolve(
		    cases[i].base, strlen(cases[i].base), str_cstr(cases[i].ref), out, sizeof out);

		if (cases[i].want == NULL) {
			is_int(n, -1);
		} else {
			ok(n > 0, cases[i].ref);
			is_str(n > 0 ? out : "", cases[i].want);
		}
	}
}

/* ---- fields a shared cache stores (RFC 9111 §3.1) ---- */

static void
test_stored_fields(void)
{
	static const char *const resp[] = {"Connection: a",
	    "Cache-Control: max-age=60, "
	    "no-cache=\"B, c\", private=D",
	    NULL};
	struct h1_header sh[MAX_HDRS];
	struct h1_response r;
	char sbuf[4096];

	subtest("stored fields");
	head_of("HTTP/1.1 200 OK\r\nContent-Length: 0", resp, sbuf, sizeof sbuf);
	ASSERT(h1_parse_response(sbuf, strlen(sbuf), &lim, false, sh, &r) == H1_OK);
	ok(!cache_obj_field_stored(r.headers, r.n_headers, STR_LIT("A")), "named in Connection");
	ok(!cache_obj_field_stored(r.headers, r.n_headers, STR_LIT("Keep-Alive")), "hop-by-hop");
	ok(!cache_obj_field_stored(r.headers, r.n_headers, STR_LIT("b")), "no-cache=\"B, c\" (1)");
	ok(!cache_obj_field_stored(r.headers, r.n_headers, STR_LIT("C")), "no-cache=\"B, c\" (2)");
	ok(!cache_obj_field_stored(r.headers, r.n_headers, STR_LIT("d")), "private=D");
	ok(cache_obj_field_stored(r.headers, r.n_headers, STR_LIT("E")), "others stored");
	ok(cache_obj_field_stored(r.headers, r.n_headers, STR_LIT("Cache-Control")), "CC stored");
}

int
main(void)
{
	test_keys();
	test_ids();
	test_tiers();
	test_concurrent_stores();
	test_resolve();
	test_stored_fields();
	return tap_done();
}
