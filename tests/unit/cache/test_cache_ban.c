/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/cache/test_cache_ban.c — bans: what each kind matches (URL with
 * its variants, prefix, host with any port, tags of Surrogate-Key and
 * Cache-Tag, all, host scopes), the lazy check of lookups (older objects
 * only), a fill older than a ban not stored, soft bans giving stale copies,
 * and the remover carrying bans out on a RAM tier and an LMDB tier, then
 * retiring them.
 */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache/cache.h"
#include "cache/cache_int.h"
#include "core/assert.h"
#include "tests/unit/tap.h"

#define NOW 1700000000

static const struct h1_limits lim = {8192, 8192, 20};

static struct cache_obj *
obj(const char *key, const char *fields, uint64_t gen)
{
	struct cache_policy pol = {true, 3600, 0};
	char head[1024];
	struct cache_obj *o;

	snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\n%s", fields);
	o = cache_obj_new(key, strlen(key), head, strlen(head), 2, NOW, &pol);
	ASSERT(o != NULL && cache_obj_append(o, "ok", 2, 100) == 0);
	cache_obj_body_done(o);
	cache_obj_set_gen(o, gen);
	return o;
}

/* A cache with a RAM tier, and a disk tier in disk_path (NULL: none). */
static struct cache *
cache_make(char *disk_path)
{
	struct cache_conf cc;
	struct cache *c = NULL;
	char err[256];

	cache_conf_defaults(&cc);
	cc.ram_bytes = 1 << 22;
	cc.disk_path = disk_path;
	cc.disk_bytes = 64 << 20;
	ASSERT(cache_new(&cc, 4, 4, NULL, NULL, &c, err, sizeof err) == 0);
	return c;
}

static bool
found(struct cache *c, const char *host, const char *path, const char *key, bool *fresh)
{
	char buf[512];
	struct h1_header h[20];
	struct h1_request req;
	struct cache_obj *o = NULL;
	bool from_disk, hit;

	snprintf(buf, sizeof buf, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, host);
	ASSERT(h1_parse_request(buf, strlen(buf), &lim, h, &req) == H1_OK);
	hit = cache_lookup(c, &req, key, strlen(key), NOW, &o, &from_disk) == 0;
	if (hit && fresh != NULL)
		*fresh = cache_obj_fresh(o, NOW + 1);
	cache_obj_unref(&o);
	return hit;
}

static void
put(struct cache *c, const char *key, const char *fields)
{
	struct cache_obj *o = obj(key, fields, cache_ban_clock(c));

	cache_store(c, o, NOW);
	cache_obj_unref(&o);
}

static void
ban(struct cache *c, enum cache_ban_kind kind, const char *value, bool soft)
{
	struct cache_ban_spec s = {kind, value, NULL, 0, soft};

	(void)cache_ban_add(c, &s, 0, 0);
}

static void
test_host_match(void)
{
	static const struct {
		const char *pattern, *host;
		bool want;
	} cases[] = {
	    {"*", "a.b", true},
	    {"example.com", "example.com", true},
	    {"example.com", "EXAMPLE.com", true},
	    {"example.com", "www.example.com", false},
	    {"*.example.com", "www.example.com", true},
	    {"*.example.com", "a.b.example.com", true},
	    {"*.example.com", "example.com", false},
	    {"*.example.com", "badexample.com", false},
	};
	static const struct {
		const char *key, *host;
	} keys[] = {
	    {"http://example.com/a", "example.com"},
	    {"https://example.com:8443/a?b", "example.com"},
	    {"http://[::1]:81/", "[::1]"},
	    {"http://h", "h"},
	};

	subtest("host patterns and the host of a key");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		ok(cache_ban_host_match(str_cstr(cases[i].pattern), str_cstr(cases[i].host)) ==
		        cases[i].want,
		    cases[i].pattern);
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		struct str h = STR_LIT("");

		ok(cache_ban_key_host(str_cstr(keys[i].key), &h) &&
		        str_eq(h, str_cstr(keys[i].host)),
		    keys[i].key);
	}
}

static void
test_lazy(void)
{
	struct cache *c = cache_make(NULL);
	bool fresh = true;

	subtest("lazy bans on lookup and store");
	put(c, "http://a.com/x", "Surrogate-Key: red  blue\r\n");
	put(c, "http://a.com/y", "Cache-Tag: green, blue-2\r\n");
	put(c, "http://b.com:8080/z", "");
	put(c, "http://a.com/xy", "");
	ok(found(c, "a.com", "/x", "http://a.com/x", NULL), "stored");

	ban(c, CACHE_BAN_TAG, "blue", false);
	ok(!found(c, "a.com", "/x", "http://a.com/x", NULL), "tag (Surrogate-Key) purged");
	ok(found(c, "a.com", "/y", "http://a.com/y", NULL), "blue-2 is another tag");
	ban(c, CACHE_BAN_TAG, "green", false);
	ok(!found(c, "a.com", "/y", "http://a.com/y", NULL), "tag (Cache-Tag) purged");
	put(c, "http://a.com/x#geo=DE", "");
	put(c, "http://a.com/x#canary=web2", "");
	put(c, "http://a.com/xy#geo=DE", "");
	ban(c, CACHE_BAN_URL, "http://a.com/x", false);
	ok(found(c, "a.com", "/xy", "http://a.com/xy", NULL), "a URL ban is exact");
	ok(!found(c, "a.com", "/x", "http://a.com/x#geo=DE", NULL), "... and reaches a geo copy");
	ok(!found(c, "a.com", "/x", "http://a.com/x#canary=web2", NULL), "... and a canary copy");
	ok(found(c, "a.com", "/xy", "http://a.com/xy#geo=DE", NULL), "... of that URL only");
	ban(c, CACHE_BAN_PREFIX, "http://a.com/x", false);
	ok(!found(c, "a.com", "/xy", "http://a.com/xy", NULL), "prefix purged");
	ok(found(c, "b.com", "/z", "http://b.com:8080/z", NULL), "other host kept");
	ban(c, CACHE_BAN_HOST, "b.com", false);
	ok(!found(c, "b.com", "/z", "http://b.com:8080/z", NULL), "host (any port)");

	/* stored after the bans: served */
	put(c, "http://a.com/x", "Surrogate-Key: blue\r\n");
	ok(found(c, "a.com", "/x", "http://a.com/x", NULL), "a fill after the ban stays");

	/* a fill that began before a ban is not stored */
	{
		struct cache_obj *o = obj("http://c.com/f", "", cache_ban_clock(c));

		ban(c, CACHE_BAN_HOST, "c.com", false);
		cache_store(c, o, NOW);
		cache_obj_unref(&o);
		ok(!found(c, "c.com", "/f", "http://c.com/f", NULL),
		    "the purge beats an older fill");
	}

	/* soft: stale, not gone */
	put(c, "http://d.com/s", "");
	ok(found(c, "d.com", "/s", "http://d.com/s", &fresh) && fresh, "fresh");
	ban(c, CACHE_BAN_URL, "http://d.com/s", true);
	fresh = true;
	ok(found(c, "d.com", "/s", "http://d.com/s", &fresh) && !fresh, "soft: stale");
	fresh = true;
	ok(found(c, "d.com", "/s", "http://d.com/s", &fresh) && !fresh, "still stale");

	/* scope: a ban limited to some hosts */
	put(c, "http://e.com/t", "Surrogate-Key: t\r\n");
	put(c, "http://f.com/t", "Surrogate-Key: t\r\n");
	{
		const char *const scope[] = {"*.e.com", "e.com"};
		struct cache_ban_spec s = {CACHE_BAN_TAG, "t", scope, 2, false};

		(void)cache_ban_add(c, &s, 0, 0);
	}
	ok(!found(c, "e.com", "/t", "http://e.com/t", NULL), "in scope: purged");
	ok(found(c, "f.com", "/t", "http://f.com/t", NULL), "out of scope: kept");
	cache_free(&c);
}

static uint64_t retired_owner, retired_removed;

static void
on_retire(void *arg, uint64_t owner, uint64_t removed)
{
	(void)arg;
	retired_owner = owner;
	retired_removed += removed;
}

static void
test_remover(void)
{
	char dir[] = "/tmp/outpost-ban-XXXXXX";
	struct cache *c;
	struct cache_ban_stats st;
	char key[64], path[80];
	struct cache_ban_spec s = {CACHE_BAN_TAG, "odd", NULL, 0, false};
	int kept = 0, gone = 0;

	subtest("the remover: both tiers, then retired");
	ASSERT(mkdtemp(dir) != NULL);
	c = cache_make(dir);
	for (int i = 0; i < 200; i++) {
		snprintf(key, sizeof key, "http://r.com/%d", i);
		put(c, key, i % 2 ? "Surrogate-Key: odd\r\n" : "Surrogate-Key: even\r\n");
	}
	ASSERT(cache_disk_flush(c->disk, 10000) == 0);
	ASSERT(cache_ban_start(c, on_retire, NULL) == 0);
	(void)cache_ban_add(c, &s, 0, 42);
	for (int i = 0; i < 1000 && retired_owner != 42; i++)
		usleep(10000);
	is_int(retired_owner, 42);
	is_int(retired_removed >= 100, 1);
	cache_ban_stop(c);
	cache_ban_stats(c, &st);
	ok(st.retired >= 1, "retired");
	/* a fresh RAM tier and no bans: what is left on disk */
	cache_free(&c);
	c = cache_make(dir);
	for (int i = 0; i < 200; i++) {
		snprintf(key, sizeof key, "http://r.com/%d", i);
		snprintf(path, sizeof path, "/%d", i);
		if (found(c, "r.com", path, key, NULL))
			kept += i % 2 == 0;
		else
			gone += i % 2 == 1;
	}
	is_int(kept, 100);
	is_int(gone, 100);
	cache_free(&c);
	{
		char cmd[128];

		snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
		(void)system(cmd);
	}
}

int
main(void)
{
	test_host_match();
	test_lazy();
	test_remover();
	return tap_done();
}
