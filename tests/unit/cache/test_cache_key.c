/* SPDX-License-Identifier: BSD-2-Clause */
/* tests/unit/cache/test_cache_key.c — cache key normalization (DESIGN.md §Key). */
#include "config.h"

#include <stdio.h>

#include "cache/cache.h"
#include "tests/unit/tap.h"

struct key_case {
	const char *scheme;
	const char *host;
	uint16_t port;
	const char *target;
	const char *want; /* NULL: -1 expected */
};

static const struct key_case cases[] = {
    /* STYLE.md's example, split into the parts the edge passes */
    {"HTTP", "Ex.COM", 80, "/a/../b", "http://ex.com/b"},
    {"http", "example.com", 0, "/a/b?q=1", "http://example.com/a/b?q=1"},
    /* scheme and host case, default ports */
    {"HtTpS", "WWW.Example.COM", 443, "/", "https://www.example.com/"},
    {"https", "example.com", 80, "/", "https://example.com:80/"},
    {"http", "example.com", 443, "/", "http://example.com:443/"},
    {"http", "example.com", 8080, "/x", "http://example.com:8080/x"},
    {"http", "example.com", 1, "/", "http://example.com:1/"},
    {"http", "example.com", 65535, "/", "http://example.com:65535/"},
    /* IP literals */
    {"http", "[::1]", 8080, "/", "http://[::1]:8080/"},
    {"http", "[2001:DB8::A]", 80, "/", "http://[2001:db8::a]/"},
    {"http", "2001:db8::1", 0, "/", "http://[2001:db8::1]/"},
    {"http", "192.0.2.1", 0, "/", "http://192.0.2.1/"},
    {"http", "[]", 0, "/", NULL},
    {"http", "[::1/", 0, "/", NULL},
    /* bad hosts and schemes */
    {"http", "a/b", 0, "/", NULL},
    {"http", "a@b", 0, "/", NULL},
    {"http", "a b", 0, "/", NULL},
    {"http", "a?b", 0, "/", NULL},
    {"http", "ex%41mple.com", 0, "/", "http://ex%41mple.com/"},
    {"http", "ex%4", 0, "/", NULL},
    {"", "example.com", 0, "/", NULL},
    {"1http", "example.com", 0, "/", NULL},
    {"ht tp", "example.com", 0, "/", NULL},
    {"svn+ssh", "example.com", 0, "/", "svn+ssh://example.com/"},
    /* empty path */
    {"http", "example.com", 0, "", "http://example.com/"},
    {"http", "example.com", 0, "?q", "http://example.com/?q"},
    {"http", "example.com", 0, "#frag", "http://example.com/"},
    {"http", "example.com", 0, "a/b", NULL},
    /* dot segments, RFC 3986 §5.2.4 (and the §5.4 examples that apply) */
    {"http", "a", 0, "/.", "http://a/"},
    {"http", "a", 0, "/..", "http://a/"},
    {"http", "a", 0, "/./", "http://a/"},
    {"http", "a", 0, "/../", "http://a/"},
    {"http", "a", 0, "/../../../g", "http://a/g"},
    {"http", "a", 0, "/b/c/./../../g", "http://a/g"},
    {"http", "a", 0, "/b/c/d;p/../g", "http://a/b/c/g"},
    {"http", "a", 0, "/a/b/c/./../../g", "http://a/a/g"},
    {"http", "a", 0, "/mid/content=5/../6", "http://a/mid/6"},
    {"http", "a", 0, "/b/c/.", "http://a/b/c/"},
    {"http", "a", 0, "/b/c/..", "http://a/b/"},
    {"http", "a", 0, "/b/c/../", "http://a/b/"},
    {"http", "a", 0, "/b/./c", "http://a/b/c"},
    {"http", "a", 0, "/b/.c/..d/...", "http://a/b/.c/..d/..."},
    {"http", "a", 0, "/b/g.", "http://a/b/g."},
    {"http", "a", 0, "/b//../c", "http://a/b/c"},
    {"http", "a", 0, "//b", "http://a//b"},
    {"http", "a", 0, "/b/", "http://a/b/"},
    {"http", "a", 0, "/b/../c?x/../y", "http://a/c?x/../y"},
    {"http", "a", 0, "/%2e%2E/b", "http://a/b"},
    {"http", "a", 0, "/x/%2E/y", "http://a/x/y"},
    {"http", "a", 0, "/x/.%2e/y", "http://a/y"},
    {"http", "a", 0, "/x/%2F../y", "http://a/x/%2F../y"},
    /* percent-encoding normalization, RFC 3986 §6.2.2.2 */
    {"http", "a", 0, "/%7Euser", "http://a/~user"},
    {"http", "a", 0, "/%7euser", "http://a/~user"},
    {"http", "a", 0, "/%41%62%30%2D%5F%2E", "http://a/Ab0-_."},
    {"http", "a", 0, "/a%2fb", "http://a/a%2Fb"},
    {"http", "a", 0, "/a%2Fb", "http://a/a%2Fb"},
    /* an escaped NUL in the path is refused (origins reading C strings end
     * the path there); in the query it is data */
    {"http", "a", 0, "/account%00.css", NULL},
    {"http", "a", 0, "/a/%00/../b", NULL},
    {"http", "a", 0, "/?q=%00", "http://a/?q=%00"},
    {"http", "a", 0, "/%e2%82%ac", "http://a/%E2%82%AC"},
    {"http", "a", 0, "/%20", "http://a/%20"},
    {"http", "a", 0, "/%25", "http://a/%25"},
    {"http", "a", 0, "/%", NULL},
    {"http", "a", 0, "/%4", NULL},
    {"http", "a", 0, "/%zz", NULL},
    {"http", "a", 0, "/%4g", NULL},
    {"http", "a", 0, "/?%", NULL},
    {"http", "a", 0, "/?a=%7e&b=%2f", "http://a/?a=~&b=%2F"},
    /* query kept as is otherwise; fragment dropped */
    {"http", "a", 0, "/p?b=2&a=1", "http://a/p?b=2&a=1"},
    {"http", "a", 0, "/p?", "http://a/p?"},
    {"http", "a", 0, "/p?a?b", "http://a/p?a?b"},
    {"http", "a", 0, "/p#f", "http://a/p"},
    {"http", "a", 0, "/p?q#f", "http://a/p?q"},
    {"http", "a", 0, "/p#f?q", "http://a/p"},
    /* control bytes are invalid */
    {"http", "a", 0, "/a b", NULL},
    {"http", "a", 0, "/a\tb", NULL},
    {"http", "a", 0, "/?a b", NULL},
    {"http", "a", 0, "/\x7f", NULL},
    /* asterisk-form */
    {"http", "a", 0, "*", "http://a*"},
    {"http", "a", 8080, "*", "http://a:8080*"},
    {"http", "a", 0, "**", NULL},
    /* empty host (HTTP/1.0 without Host) */
    {"http", "", 0, "/x", "http:///x"},
};

static void
test_table(void)
{
	subtest("cache_key_normalize table");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct key_case *c = &cases[i];
		char out[256], what[200];
		int n = cache_key_normalize(str_cstr(c->scheme), str_cstr(c->host), c->port,
		    str_cstr(c->target), out, sizeof out);
		bool good;

		if (c->want == NULL)
			good = n == -1;
		else
			good = n >= 0 && (size_t)n == strlen(c->want) && strcmp(out, c->want) == 0;
		snprintf(what, sizeof what, "case %zu: %s %s %u \"%s\"", i, c->scheme, c->host,
		    c->port, c->target);
		if (!ok(good, what))
			printf("#   got %d \"%s\", want \"%s\"\n", n, n >= 0 ? out : "",
			    c->want != NULL ? c->want : "(invalid)");
	}
}

static void
test_outlen(void)
{
	char out[64];
	const char *want = "http://ex.com/b"; /* 15 bytes */
	struct str s = STR_LIT("HTTP"), h = STR_LIT("Ex.COM"), t = STR_LIT("/a/../b");

	subtest("output bound");
	is_int(cache_key_normalize(s, h, 80, t, out, 16), 15);
	is_str(out, want);
	is_int(cache_key_normalize(s, h, 80, t, out, 15), -1);
	is_int(cache_key_normalize(s, h, 80, t, out, 1), -1);
	is_int(cache_key_normalize(s, h, 80, t, out, 0), -1);
	/* A long path that collapses still needs room only for the result. */
	{
		char big[4096];
		size_t n = 0;

		for (int i = 0; i < 500; i++) {
			memcpy(big + n, "/seg", 4);
			n += 4;
		}
		for (int i = 0; i < 500; i++) {
			memcpy(big + n, "/..", 3);
			n += 3;
		}
		memcpy(big + n, "/z", 2);
		n += 2;
		is_int(cache_key_normalize(s, h, 0, str_make(big, n), out, sizeof out), 15);
		is_str(out, "http://ex.com/z");
	}
	/* The exact bound: CACHE_KEY_MAX sized buffers work for long keys. */
	{
		static char big[CACHE_KEY_MAX], key[CACHE_KEY_MAX];

		big[0] = '/';
		memset(big + 1, 'x', sizeof big - 1);
		/* "http://h" (8) + path: fits when path <= CACHE_KEY_MAX - 9 */
		is_int(cache_key_normalize(STR_LIT("http"), STR_LIT("h"), 0,
		           str_make(big, CACHE_KEY_MAX - 9), key, sizeof key),
		    CACHE_KEY_MAX - 1);
		is_int(cache_key_normalize(STR_LIT("http"), STR_LIT("h"), 0,
		           str_make(big, CACHE_KEY_MAX - 8), key, sizeof key),
		    -1);
	}
}

static void
test_idempotent(void)
{
	char a[256], b[256];
	const char *targets[] = {
	    "/a/./b/../c/%7e%2f?x=%41", "/%2E%2E/%2e/x/", "//a//b/..", "/", "?q"};

	subtest("normalizing a normalized key changes nothing");
	for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
		int n = cache_key_normalize(
		    STR_LIT("http"), STR_LIT("h"), 0, str_cstr(targets[i]), a, sizeof a);
		ok(n > 0, targets[i]);
		/* "http://h" is 8 bytes; the rest is the normalized target. */
		is_int(cache_key_normalize(
		           STR_LIT("http"), STR_LIT("h"), 0, str_cstr(a + 8), b, sizeof b),
		    n);
		is_str(b, a);
	}
}

struct query_case {
	enum cache_key_query mode;
	const char *target;
	const char *want; /* NULL: -1 expected */
};

static const struct query_case query_cases[] = {
    {CACHE_KEY_QUERY_KEEP, "/a?b=2&a=1", "http://h/a?b=2&a=1"},
    {CACHE_KEY_QUERY_KEEP, "/a?", "http://h/a?"},
    {CACHE_KEY_QUERY_SORT, "/a?b=2&a=1", "http://h/a?a=1&b=2"},
    {CACHE_KEY_QUERY_SORT, "/a?b&&a=1&", "http://h/a?a=1&b"},
    {CACHE_KEY_QUERY_SORT, "/a?a=2&a=1&a", "http://h/a?a&a=1&a=2"},
    {CACHE_KEY_QUERY_SORT, "/a?ab=1&a=1", "http://h/a?a=1&ab=1"},
    {CACHE_KEY_QUERY_SORT, "/a?%62=1&a=%7e", "http://h/a?a=~&b=1"},
    {CACHE_KEY_QUERY_SORT, "/a?&&", "http://h/a"},
    {CACHE_KEY_QUERY_SORT, "/a?", "http://h/a"},
    {CACHE_KEY_QUERY_SORT, "/a", "http://h/a"},
    {CACHE_KEY_QUERY_SORT, "/a?b=1#frag&a", "http://h/a?b=1"},
    {CACHE_KEY_QUERY_SORT, "/a?%zz", NULL},
    {CACHE_KEY_QUERY_DROP, "/a?b=2&a=1", "http://h/a"},
    {CACHE_KEY_QUERY_DROP, "/a/../b?x", "http://h/b"},
    {CACHE_KEY_QUERY_DROP, "/a", "http://h/a"},
    {CACHE_KEY_QUERY_ALLOW, "/a?utm=1&v=2&x=3&w", "http://h/a?v=2&w"},
    {CACHE_KEY_QUERY_ALLOW, "/a?x=3&w=1&v=2", "http://h/a?w=1&v=2"},
    {CACHE_KEY_QUERY_ALLOW, "/a?%76=1", "http://h/a?v=1"},
    {CACHE_KEY_QUERY_ALLOW, "/a?vv=1&=v", "http://h/a"},
    {CACHE_KEY_QUERY_ALLOW, "/a?utm=1", "http://h/a"},
};

static void
test_query_modes(void)
{
	static const char *const allow[] = {"v", "w"};

	subtest("cache_key_normalize_query: keep, sort, drop, allow");
	for (size_t i = 0; i < sizeof query_cases / sizeof query_cases[0]; i++) {
		const struct query_case *c = &query_cases[i];
		char out[256], what[200];
		int n = cache_key_normalize_query(STR_LIT("http"), STR_LIT("h"), 0,
		    str_cstr(c->target), c->mode, allow, 2, out, sizeof out);
		bool good = c->want == NULL ? n == -1
		                            : n >= 0 && (size_t)n == strlen(c->want) &&
		                                  strcmp(out, c->want) == 0;

		snprintf(what, sizeof what, "query case %zu: mode %d \"%s\"", i, (int)c->mode,
		    c->target);
		if (!ok(good, what))
			printf("#   got %d \"%s\", want \"%s\"\n", n, n >= 0 ? out : "",
			    c->want != NULL ? c->want : "(invalid)");
	}
	/* too many parameters to sort: invalid, never silently unsorted */
	{
		static char t[4 * (CACHE_KEY_MAX_PARAMS + 1) + 4];
		static char key[CACHE_KEY_MAX];
		size_t n = 0;

		t[n++] = '/';
		t[n++] = '?';
		for (int i = 0; i <= CACHE_KEY_MAX_PARAMS; i++) {
			memcpy(t + n, "a=1&", 4);
			n += 4;
		}
		is_int(cache_key_normalize_query(STR_LIT("http"), STR_LIT("h"), 0, str_make(t, n),
		           CACHE_KEY_QUERY_SORT, NULL, 0, key, sizeof key),
		    -1);
		is_int(cache_key_normalize_query(STR_LIT("http"), STR_LIT("h"), 0,
		           str_make(t, n - 4), CACHE_KEY_QUERY_SORT, NULL, 0, key, sizeof key),
		    (int)(8 + 1 + 4 * CACHE_KEY_MAX_PARAMS - 1 + 1));
	}
}

static void
test_path_only(void)
{
	char out[64];

	subtest("cache_key_normalize_path");
	is_int(cache_key_normalize_path(STR_LIT("/a/../%62/./c"), out, sizeof out), 4);
	is_str(out, "/b/c");
	is_int(cache_key_normalize_path(STR_LIT(""), out, sizeof out), 1);
	is_str(out, "/");
	is_int(cache_key_normalize_path(STR_LIT("/x%2f#f"), out, sizeof out), 5);
	is_str(out, "/x%2F");
	is_int(cache_key_normalize_path(STR_LIT("/%zz"), out, sizeof out), -1);
	is_int(cache_key_normalize_path(STR_LIT("x"), out, sizeof out), -1);
	is_int(cache_key_normalize_path(STR_LIT("/abcd"), out, 5), -1);
	is_int(cache_key_normalize_path(STR_LIT("/abcd"), out, 6), 5);
}

int
main(void)
{
	test_table();
	test_outlen();
	test_idempotent();
	test_query_modes();
	test_path_only();
	return tap_done();
}
