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

static bool
found(struct cache_ram *ram, struct cache_disk *disk, const char *host, const char *path,
    const char *key, bool *fresh)
{
	char buf[512];
	struct h1_header h[20];
	struct h1_request req;
	struct cache_obj *o = NULL;
	bool from_disk, hit;

	snprintf(buf, sizeof buf, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, host);
	ASSERT(h1_parse_request(buf, strlen(buf), &lim, h, &req) == H1_OK);
	hit = cache_lookup(ram, disk, &req, key, strlen(key), NOW, &o, &from_disk) == 0;
	if (hit && fresh != NULL)
		*fresh = cache_obj_fresh(o, NOW + 1);
	cache_obj_unref(&o);
	return hit;
}

static void
put(struct cache_ram *ram, struct cache_disk *disk, const char *key, const char *fields)
{
	struct cache_obj *o = obj(key, fields, cache_ban_clock());

	cache_store(ram, disk, o, NOW);
	cache_obj_unref(&o);
}

static void
ban(enum cache_ban_kind kind, const char *value, bool soft)
{
	struct cache_ban_spec s = {kind, value, NULL, 0, soft};

	(void)cache_ban_add(&s, 0, 0);
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
	struct cache_ram *ram = cache_ram_new(1 << 20, 4);
	bool fresh = true;

	subtest("lazy bans on lookup and store");
	put(ram, NULL, "http://a.com/x", "Surrogate-Key: red  blue\r\n");
	put(ram, NULL, "http://a.com/y", "Cache-Tag: green, blue-2\r\n");
	put(ram, NULL, "http://b.com:8080/z", "");
	put(ram, NULL, "http://a.com/xy", "");
	ok(found(ram, NULL, "a.com", "/x", "http://a.com/x", NULL), "stored");

	ban(CACHE_BAN_TAG, "blue", false);
	ok(!found(ram, NULL, "a.com", "/x", "http://a.com/x", NULL), "tag (Surrogate-Key) purged");
	ok(found(ram, NULL, "a.com", "/y", "http://a.com/y", NULL), "blue-2 is another tag");
	ban(CACHE_BAN_TAG, "green", false);
	ok(!found(ram, NULL, "a.com", "/y", "http://a.com/y", NULL), "tag (Cache-Tag) purged");
	ban(CACHE_BAN_URL, "http://a.com/x", false);
	ok(found(ram, NULL, "a.com", "/xy", "http://a.com/xy", NULL), "a URL ban is exact");
	ban(CACHE_BAN_PREFIX, "http://a.com/x", false);
	ok(!found(ram, NULL, "a.com", "/xy", "http://a.com/xy", NULL), "prefix purged");
	ok(found(ram, NULL, "b.com", "/z", "http://b.com:8080/z", NULL), "other host kept");
	ban(CACHE_BAN_HOST, "b.com", false);
	ok(!found(ram, NULL, "b.com", "/z", "http://b.com:8080/z", NULL), "host (any port)");

	/* stored after the bans: served */
	put(ram, NULL, "http://a.com/x", "Surrogate-Key: blue\r\n");
	ok(found(ram, NULL, "a.com", "/x", "http://a.com/x", NULL), "a fill after the ban stays");

	/* a fill that began before a ban is not stored */
	{
		struct cache_obj *o = obj("http://c.com/f", "", cache_ban_clock());

		ban(CACHE_BAN_HOST, "c.com", false);
		cache_store(ram, NULL, o, NOW);
		cache_obj_unref(&o);
		ok(!found(ram, NULL, "c.com", "/f", "http://c.com/f", NULL),
		    "the purge beats an older fill");
	}

	/* soft: stale, not gone */
	put(ram, NULL, "http://d.com/s", "");
	ok(found(ram, NULL, "d.com", "/s", "http://d.com/s", &fresh) && fresh, "fresh");
	ban(CACHE_BAN_URL, "http://d.com/s", true);
	fresh = true;
	ok(found(ram, NULL, "d.com", "/s", "http://d.com/s", &fresh) && !fresh, "soft: stale");
	fresh = true;
	ok(found(ram, NULL, "d.com", "/s", "http://d.com/s", &fresh) && !fresh, "still stale");

	/* scope: a ban limited to some hosts */
	put(ram, NULL, "http://e.com/t", "Surrogate-Key: t\r\n");
	put(ram, NULL, "http://f.com/t", "Surrogate-Key: t\r\n");
	{
		const char *const scope[] = {"*.e.com", "e.com"};
		struct cache_ban_spec s = {CACHE_BAN_TAG, "t", scope, 2, false};

		(void)cache_ban_add(&s, 0, 0);
	}
	ok(!found(ram, NULL, "e.com", "/t", "http://e.com/t", NULL), "in scope: purged");
	ok(found(ram, NULL, "f.com", "/t", "http://f.com/t", NULL), "out of scope: kept");
	cache_ram_free(&ram);
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
	struct cache_disk_conf c;
	struct cache_disk *disk = NULL;
	struct cache_ram *ram = cache_ram_new(1 << 22, 4);
	struct cache_ban_stats st;
	char err[256], key[64], path[80];
	struct cache_ban_spec s = {CACHE_BAN_TAG, "odd", NULL, 0, false};
	int kept = 0, gone = 0;

	subtest("the remover: both tiers, then retired");
	ASSERT(mkdtemp(dir) != NULL);
	cache_disk_conf_defaults(&c);
	c.path = dir;
	c.max_bytes = 64 << 20;
	ASSERT(cache_disk_open(&c, &disk, err, sizeof err) == 0);
	for (int i = 0; i < 200; i++) {
		snprintf(key, sizeof key, "http://r.com/%d", i);
		put(ram, disk, key, i % 2 ? "Surrogate-Key: odd\r\n" : "Surrogate-Key: even\r\n");
	}
	ASSERT(cache_disk_flush(disk, 10000) == 0);
	ASSERT(cache_ban_start(ram, disk, on_retire, NULL) == 0);
	(void)cache_ban_add(&s, 0, 42);
	for (int i = 0; i < 1000 && retired_owner != 42; i++)
		usleep(10000);
	is_int(retired_owner, 42);
	is_int(retired_removed >= 100, 1);
	cache_ban_stop();
	cache_ban_stats(&st);
	ok(st.retired >= 1, "retired");
	/* a fresh RAM tier: what is left on disk */
	cache_ram_free(&ram);
	ram = cache_ram_new(1 << 22, 4);
	cache_ban_reset();
	for (int i = 0; i < 200; i++) {
		snprintf(key, sizeof key, "http://r.com/%d", i);
		snprintf(path, sizeof path, "/%d", i);
		if (found(ram, disk, "r.com", path, key, NULL))
			kept += i % 2 == 0;
		else
			gone += i % 2 == 1;
	}
	is_int(kept, 100);
	is_int(gone, 100);
	cache_disk_close(&disk);
	cache_ram_free(&ram);
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
	cache_ban_reset();
	test_remover();
	return tap_done();
}
