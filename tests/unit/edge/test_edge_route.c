/* SPDX-License-Identifier: BSD-2-Clause */
/* tests/unit/edge/test_edge_route.c — route selection, rewrites, templates,
 * canary split, header rules and the route's cache key (edge/edge_route.c),
 * over a snapshot loaded from YAML the way the daemon loads it. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "config/config.h"
#include "edge/edge_route.h"
#include "tests/unit/tap.h"

static const char yaml[] =
    "listen: [{ address: \"127.0.0.1:18080\" }]\n"
    "pools:\n"
    "  - { name: web, members: [{ address: \"127.0.0.1:1\" }] }\n"
    "  - { name: web2, members: [{ address: \"127.0.0.1:2\" }] }\n"
    "sites:\n"
    "  - name: s\n"
    "    hosts: [\"*\"]\n"
    "    routes:\n"
    "      - { path: /, pool: web }\n"
    "      - { path: /a/, pool: web }\n"
    "      - { path: /a/b/, pool: web }\n"
    "      - { exact: /a/b/c, pool: web }\n"
    "      - { regex: '^/a/(\\w+)/(\\d+)$', pool: web }\n"
    "      - { regex: '^/a/', pool: web }\n"
    "      - { path: /rw/, pool: web, rewrite: { prefix: { from: /rw/, to: /new/ } } }\n"
    "      - { path: /rx/, pool: web, rewrite: { regex: '^/rx/(.*)/(.*)$', to: '/$2/$1$$' } }\n"
    "      - { path: /c/, pool: web, canary: { pool: web2, weight: 25%, sticky: 'cookie:u' } }\n"
    "      - { path: /c0/, pool: web, canary: { pool: web2, weight: 0% } }\n"
    "      - { path: /c100/, pool: web, canary: { pool: web2, weight: 100% } }\n"
    "      - { path: /q/, pool: web, cache: { query: allow, query_allow: [v] } }\n"
    "      - { regex: '^/bt/(a+)+$', pool: web, methods: [GET, HEAD] }\n"
    "      - path: /h/\n"
    "        pool: web\n"
    "        response_headers: { add: { X-A: '1' }, set: { Cache-Control: no-store },\n"
    "                            remove: [X-Gone] }\n";

static struct config *cfg;
static const struct config_site *site;
static struct edge_route_md *md;

/* The route for path, or NULL; caps kept for the caller. */
static const struct config_route *
sel(const char *path, struct edge_route_caps *caps)
{
	return edge_route_select(site, str_cstr(path), md, caps);
}

static const char *
route_name(const struct config_route *r)
{
	static char buf[128];

	if (r == NULL)
		return "(none)";
	snprintf(buf, sizeof buf, "%s %s",
	    r->match == CONFIG_MATCH_EXACT   ? "exact"
	    : r->match == CONFIG_MATCH_REGEX ? "regex"
	                                     : "prefix",
	    r->path);
	return buf;
}

static void
test_path(void)
{
	struct str np;

	subtest("edge_route_path: routes see the normalized path");
	ok(edge_route_path(md, STR_LIT("/x/../a/%62/c"), &np) == 0, "valid");
	ok(str_eq(np, STR_LIT("/a/b/c")), "dot-segments and escapes");
	is_str(route_name(edge_route_select(site, np, md, &(struct edge_route_caps){0})),
	    "exact /a/b/c");
	ok(edge_route_path(md, STR_LIT("/%zz"), &np) == -1, "invalid escape");
}

static void
test_select(void)
{
	struct edge_route_caps caps;
	static const struct {
		const char *path, *want;
	} cases[] = {
	    {"/", "prefix /"},
	    {"/x", "prefix /"},
	    {"/a", "prefix /"},
	    {"/a/b/c", "exact /a/b/c"},
	    {"/a/b/c/", "regex ^/a/"},
	    {"/a/x/12", "regex ^/a/(\\w+)/(\\d+)$"},
	    {"/a/b/12", "regex ^/a/(\\w+)/(\\d+)$"},
	    {"/a/zz", "regex ^/a/"},
	    {"/rw/x", "prefix /rw/"},
	    {"/rwx", "prefix /"},
	};

	subtest("edge_route_select: exact, then regex in order, then longest prefix");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		is_str(route_name(sel(cases[i].path, &caps)), cases[i].want);
	ok(sel("/a/x/12", &caps) != NULL, "regex matches");
	is_int((int)caps.start[1], 3);
	is_int((int)caps.end[1], 4);
	is_int((int)caps.start[2], 5);
	is_int((int)caps.end[2], 7);
	ok(caps.start[3] == SIZE_MAX, "no group 3");
	sel("/x", &caps);
	ok(caps.start[0] == SIZE_MAX, "a prefix route sets no groups");
}

static void
test_expand(void)
{
	struct edge_route_caps caps;
	struct edge_route_vars v = {
	    .scheme = STR_LIT("https"),
	    .host = STR_LIT("ex.com"),
	    .path = STR_LIT("/a/x/12"),
	    .query = STR_LIT("k=1"),
	    .request_uri = STR_LIT("/a/x/12?k=1"),
	    .caps = &caps,
	};
	char out[64];

	subtest("edge_route_expand");
	sel("/a/x/12", &caps);
	is_int(edge_route_expand("$scheme://$host$request_uri", &v, out, sizeof out), 25);
	is_str(out, "https://ex.com/a/x/12?k=1");
	edge_route_expand("/n/$2/$1?$query&p=$path$$", &v, out, sizeof out);
	is_str(out, "/n/12/x?k=1&p=/a/x/12$");
	edge_route_expand("/$3/", &v, out, sizeof out);
	is_str(out, "//");
	is_int(edge_route_expand("$scheme://$host", &v, out, 14), -1);
	is_int(edge_route_expand("$scheme://$host", &v, out, 15), 14);
}

static void
test_rewrite(void)
{
	const struct config_route *r;
	char out[64];

	subtest("edge_route_rewrite");
	r = sel("/rw/x", &(struct edge_route_caps){0});
	is_int(edge_route_rewrite(r, STR_LIT("/rw/x/y"), STR_LIT("?q=1"), md, out, sizeof out), 12);
	is_str(out, "/new/x/y?q=1");
	is_int(edge_route_rewrite(r, STR_LIT("/rw/x/y"), STR_LIT("?q=1"), md, out, 12), -1);
	r = sel("/rx/a/b", &(struct edge_route_caps){0});
	is_int(edge_route_rewrite(r, STR_LIT("/rx/a/b"), STR_LIT("?z"), md, out, sizeof out), 7);
	is_str(out, "/b/a$?z");
	is_int(edge_route_rewrite(r, STR_LIT("/rx/a"), STR_NULL, md, out, sizeof out), 0);
	r = sel("/x", &(struct edge_route_caps){0});
	is_int(edge_route_rewrite(r, STR_LIT("/x"), STR_NULL, md, out, sizeof out), 0);
}

static void
test_canary(void)
{
	const struct config_route *r = sel("/c/", &(struct edge_route_caps){0});
	const struct config_route *r0 = sel("/c0/", &(struct edge_route_caps){0});
	const struct config_route *r100 = sel("/c100/", &(struct edge_route_caps){0});
	struct h1_header h[2] = {
	    {STR_LIT("Accept"), STR_LIT("*/*")}, {STR_LIT("Cookie"), STR_NULL}};
	char ip[32], ck[64];
	unsigned n = 0, n0 = 0, same = 0, differs = 0;

	subtest("edge_route_canary: share and stickiness");
	for (unsigned i = 0; i < 10000; i++) {
		snprintf(ip, sizeof ip, "10.%u.%u.%u", i >> 16, (i >> 8) & 255, i & 255);
		n += edge_route_canary(r, str_cstr(ip), h, 1);
		n0 += edge_route_canary(r0, str_cstr(ip), h, 1);
	}
	is_int((int)n0, 0);
	/* 25% of 10000: sd ~43 */
	ok(n > 2300 && n < 2700, "about 25% of addresses");
	printf("# %u of 10000\n", n);
	ok(edge_route_canary(r100, STR_LIT("1.2.3.4"), h, 1), "100% always");
	/* the cookie decides over the address, whatever the address */
	for (unsigned i = 0; i < 200; i++) {
		bool a, b;

		snprintf(ck, sizeof ck, "x=1; u=user%u; y=2", i);
		h[1].value = str_cstr(ck);
		a = edge_route_canary(r, STR_LIT("1.1.1.1"), h, 2);
		b = edge_route_canary(r, STR_LIT("2.2.2.2"), h, 2);
		same += a == b;
	}
	is_int((int)same, 200);
	/* a cookie with another name is not it: the address decides */
	h[1].value = STR_LIT("uu=1; xu=2");
	for (unsigned k = 0; k < 200; k++) {
		snprintf(ip, sizeof ip, "10.0.%u.%u", k, k);
		differs += edge_route_canary(r, str_cstr(ip), h, 2) !=
		           edge_route_canary(r, str_cstr(ip), h, 1);
	}
	is_int((int)differs, 0);
}

static void
test_headers(void)
{
	const struct config_route *r = sel("/h/", &(struct edge_route_caps){0});
	struct evbuffer *b = evbuffer_new();
	size_t n;
	char *s;

	subtest("header rules");
	ok(edge_route_hdr_drops(&r->resp_hdrs, STR_LIT("x-GONE")), "remove drops");
	ok(edge_route_hdr_drops(&r->resp_hdrs, STR_LIT("Cache-Control")), "set drops");
	ok(!edge_route_hdr_drops(&r->resp_hdrs, STR_LIT("X-A")), "add keeps");
	edge_route_hdr_append(&r->resp_hdrs, b);
	n = evbuffer_get_length(b);
	s = (char *)evbuffer_pullup(b, -1);
	s[n - 1] = '\0';
	is_str(s, "Cache-Control: no-store\r\nX-A: 1\r");
	evbuffer_free(b);
}

static void
test_methods_and_limits(void)
{
	char path[4096];
	const struct config_route *r;
	struct edge_route_caps caps;

	subtest("methods and regex limits");
	r = sel("/bt/aaa", &caps);
	ok(r != NULL && r->match == CONFIG_MATCH_REGEX, "regex route");
	ok(edge_route_method_ok(r, STR_LIT("GET")), "GET allowed");
	ok(!edge_route_method_ok(r, STR_LIT("POST")), "POST not allowed");
	ok(!edge_route_method_ok(r, STR_LIT("get")), "methods are case-sensitive");
	is_str(r->allow_line, "Allow: GET, HEAD\r\n");
	ok(edge_route_method_ok(sel("/x", &caps), STR_LIT("PURGE")), "no list: any method");
	/* catastrophic backtracking stops at the match limit: no match, no stall */
	memcpy(path, "/bt/", 4);
	memset(path + 4, 'a', 60);
	path[64] = 'b';
	path[65] = '\0';
	r = sel(path, &caps);
	ok(r != NULL && r->match == CONFIG_MATCH_PREFIX, "falls through to the prefix route");
}

static void
test_key(void)
{
	const struct config_route *r = sel("/q/", &(struct edge_route_caps){0});
	char out[128];

	subtest("edge_route_key");
	ok(edge_route_key(r, r->pool, STR_LIT("http"), STR_LIT("H"), 80, STR_LIT("/q/?x=1&v=2"),
	       out, sizeof out) > 0,
	    "key");
	is_str(out, "http://h/q/?v=2");
	/* another pool than the route's, not its canary (geo_pools): untagged */
	is_int(edge_route_key(r, &cfg->pools[1], STR_LIT("http"), STR_LIT("h"), 0, STR_LIT("/q/"),
	           out, sizeof out),
	    11);
	is_str(out, "http://h/q/");
	/* the route's canary pool: tagged */
	r = sel("/c/", &(struct edge_route_caps){0});
	is_int(edge_route_key(r, &cfg->pools[1], STR_LIT("http"), STR_LIT("h"), 0, STR_LIT("/c/"),
	           out, sizeof out),
	    23);
	is_str(out, "http://h/c/#canary=web2");
	is_int(edge_route_key(
	           r, &cfg->pools[1], STR_LIT("http"), STR_LIT("h"), 0, STR_LIT("/c/"), out, 23),
	    -1);
}

int
main(void)
{
	char path[] = "/tmp/test_edge_route_XXXXXX";
	int fd = mkstemp(path);
	FILE *f;

	if (fd == -1 || (f = fdopen(fd, "w")) == NULL)
		return 1;
	fputs(yaml, f);
	fclose(f);
	if (!ok(config_load(path, &cfg, stderr) == 0, "config loads")) {
		unlink(path);
		return tap_done();
	}
	unlink(path);
	site = &cfg->sites[0];
	md = edge_route_md_new();
	test_select();
	test_path();
	test_expand();
	test_rewrite();
	test_canary();
	test_headers();
	test_key();
	test_methods_and_limits();
	edge_route_md_free(&md);
	config_unref(&cfg);
	return tap_done();
}
