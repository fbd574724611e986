/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/purge/test_purge.c — the POST /purge body (valid mixes, every
 * malformed shape refused), absolute URLs split, bearer tokens (constant-time
 * digest match, other schemes refused), token buckets, and the purge log
 * (records kept across a reopen, deleted).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "purge/purge.h"
#include "tests/unit/tap.h"

static void
test_req(void)
{
	static const struct {
		const char *body;
		int want;
	} cases[] = {
	    {"{\"urls\": [\"http://a/b\"]}", 0},
	    {"{\"tags\": [\"t\"], \"soft\": true}", 0},
	    {"{\"all\": true}", 0},
	    {"{\"prefixes\": [\"https://a/\"], \"hosts\": [\"a\"], \"all\": false}", 0},
	    {"{}", -1},
	    {"{\"all\": false}", -1},
	    {"[]", -1},
	    {"not json", -1},
	    {"{\"urls\": \"http://a/\"}", -1},
	    {"{\"urls\": [1]}", -1},
	    {"{\"urls\": [\"\"]}", -1},
	    {"{\"tags\": [\"a\"], \"soft\": 1}", -1},
	    {"{\"tags\": [\"a\"], \"other\": 1}", -1},
	    {"{\"tags\": [\"a\"], \"tags\": [\"b\"]}", -1},
	    {"{\"tags\": [\"a\\u0000b\"]}", -1},
	};
	struct purge_req r;
	char err[256];

	subtest("request bodies");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int rc = purge_req_parse(cases[i].body, strlen(cases[i].body), &r, err, sizeof err);

		ok(rc == cases[i].want, cases[i].body);
		if (rc == 0)
			purge_req_clear(&r);
	}
	{
		static const char b[] =
		    "{\"urls\":[\"http://a/1\",\"http://a/2\"],\"tags\":[\"x\"],\"soft\":true}";

		is_int(purge_req_parse(b, sizeof b - 1, &r, err, sizeof err), 0);
	}
	ok(r.n_urls == 2 && r.n_tags == 1 && r.soft && !r.all, "members read");
	is_str(r.urls[1], "http://a/2");
	purge_req_clear(&r);
}

static void
test_url(void)
{
	static const struct {
		const char *url, *host, *path;
		unsigned port;
	} good[] = {
	    {"http://example.com/a/b", "example.com", "/a/b", 0},
	    {"HTTPS://example.com:8443", "example.com", "/", 8443},
	    {"http://[::1]:81/x?y", "[::1]", "/x?y", 81},
	};
	static const char *const bad[] = {"/a", "ftp://a/", "http:///a", "http://a:0/",
	    "http://a:x/", "http://u@a/", "http://a/b#c", "http://a:70000/"};
	struct str scheme, host, path;
	uint16_t port;

	subtest("absolute URLs");
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		ok(purge_url_split(good[i].url, &scheme, &host, &port, &path) == 0 &&
		        str_eq(host, str_cstr(good[i].host)) &&
		        str_eq(path, str_cstr(good[i].path)) && port == good[i].port,
		    good[i].url);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ok(purge_url_split(bad[i], &scheme, &host, &port, &path) == -1, bad[i]);
}

static void
test_auth(void)
{
	static char ida[] = "a", idb[] = "b";
	struct purge_token_conf t[2] = {{.id = ida}, {.id = idb}};
	struct purge_auth *a;

	subtest("tokens and buckets");
	SHA256((const unsigned char *)"tok-a", 5, t[0].sha256);
	SHA256((const unsigned char *)"tok-b", 5, t[1].sha256);
	a = purge_auth_new(t, 2, 2);
	is_int(purge_auth_token(a, "Bearer tok-a"), 0);
	is_int(purge_auth_token(a, "bearer  tok-b "), 1);
	is_int(purge_auth_token(a, "Bearer tok-c"), -1);
	is_int(purge_auth_token(a, "Basic tok-a"), -1);
	is_int(purge_auth_token(a, "Bearer "), -1);
	is_int(purge_auth_token(a, NULL), -1);
	is_int(purge_auth_take(a, 0, 1000), 0);
	is_int(purge_auth_take(a, 0, 1000), 0);
	ok(purge_auth_take(a, 0, 1000) >= 1, "empty bucket: wait");
	is_int(purge_auth_take(a, 1, 1000), 0);
	is_int(purge_auth_take(a, 0, 1600), 0); /* 0.6 s at 2/s refilled one */
	purge_auth_free(&a);
	ok(a == NULL, "freed");
}

static int n_seen;

static void
seen(void *arg, const char *id, const char *value, size_t len)
{
	(void)arg;
	n_seen++;
	ok(strcmp(id, "id1") == 0 && len == 3 && memcmp(value, "one", 3) == 0, "record back");
}

static void
count_seen(void *arg, const char *id, const char *value, size_t len)
{
	(void)arg;
	(void)id;
	(void)value;
	(void)len;
	n_seen++;
}

static void
test_log(void)
{
	char dir[] = "/tmp/outpost-plog-XXXXXX", err[256], cmd[64];
	struct purge_log *l = NULL;

	subtest("purge log");
	if (mkdtemp(dir) == NULL)
		return;
	is_int(purge_log_open(dir, &l, err, sizeof err), 0);
	is_int(purge_log_put(l, "id1", "one", 3), 0);
	is_int(purge_log_put(l, "id2", "two", 3), 0);
	is_int(purge_log_del(l, "id2"), 0);
	purge_log_close(&l);
	is_int(purge_log_open(dir, &l, err, sizeof err), 0);
	is_int(purge_log_each(l, seen, NULL), 0);
	is_int(n_seen, 1);

	/* a purge taken here: record, outbox copy, applied; one from the fleet: seq */
	ok(!purge_log_applied(l, "id3"), "not applied yet");
	is_int(purge_log_commit(l, "id3", "three", 5, true, 0), 0);
	ok(purge_log_applied(l, "id3"), "applied");
	is_int((int)purge_log_seq(l), 0);
	is_int(purge_log_commit(l, "id4", NULL, 0, false, 42), 0);
	ok(purge_log_applied(l, "id4"), "seen again: applied, no record");
	n_seen = 0;
	is_int(purge_log_each_in(l, PURGE_LOG_OUTBOX, count_seen, NULL), 0);
	is_int(n_seen, 1);
	is_int(purge_log_del_in(l, PURGE_LOG_OUTBOX, "id3"), 0);
	is_int(purge_log_set_seq(l, 43), 0);
	purge_log_close(&l);
	is_int(purge_log_open(dir, &l, err, sizeof err), 0);
	is_int((int)purge_log_seq(l), 43);
	ok(purge_log_applied(l, "id3") && purge_log_applied(l, "id4"), "applied ids kept");
	n_seen = 0;
	is_int(purge_log_each_in(l, PURGE_LOG_OUTBOX, count_seen, NULL), 0);
	is_int(n_seen, 0);
	n_seen = 0;
	is_int(purge_log_each(l, count_seen, NULL), 0);
	is_int(n_seen, 2); /* id1, id3 */
	purge_log_close(&l);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	(void)system(cmd);
}

int
main(void)
{
	test_req();
	test_url();
	test_auth();
	test_log();
	return tap_done();
}
