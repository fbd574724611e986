/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/policy/test_policy_signed.c — signed URLs (policy/policy_signed.c):
 * key files, verification results, the query without the signature.
 *
 * URLs are signed here with OpenSSL's HMAC() over the string that
 * policy_signed_string_to_sign spells; t66_signed_url_doc.py signs them with
 * the documentation's shell and Python instead, so the format is checked
 * against an implementation that is not ours.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "policy/policy_token.h"
#include "tests/unit/tap.h"

#define NOW 1700000000

/* 32 bytes "0123456789abcdef0123456789abcdef" and 40 bytes of 'k', in base64. */
#define KEY1_B64 "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
#define KEY2_B64 "a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2traw"
static const char key1[] = "0123456789abcdef0123456789abcdef";

static struct policy_signed_keys *ks;
static struct policy_signed_conf conf;

/*
 * The query of a URL for path signed with key (32 bytes of key1, or 40 of
 * 'k' for "k2"): "exp=..&kid=..[&ip=..][&prefix=..]&sig=..", extra appended.
 */
static void
sign(char *out, size_t outlen, const char *kid, const char *resource, bool prefix, const char *exp,
    const char *ip, const char *extra)
{
	char tosign[POLICY_SIGNED_PATH_MAX + 256], sig[64] = "";
	unsigned char mac[32], k2[40];
	unsigned int maclen = 0;
	const unsigned char *key = (const unsigned char *)key1;
	size_t keylen = 32;
	int n;

	if (strcmp(kid, "k2") == 0) {
		memset(k2, 'k', sizeof k2);
		key = k2;
		keylen = sizeof k2;
	}
	n = policy_signed_string_to_sign(prefix, str_cstr(resource), str_cstr(exp), str_cstr(kid),
	    ip ? str_cstr(ip) : STR_NULL, tosign, sizeof tosign);
	HMAC(
	    EVP_sha256(), key, (int)keylen, (const unsigned char *)tosign, (size_t)n, mac, &maclen);
	policy_b64url_encode(mac, maclen, sig, sizeof sig);
	snprintf(out, outlen, "exp=%s&kid=%s%s%s%s%s&sig=%s%s", exp, kid, ip ? "&ip=" : "",
	    ip ? ip : "", prefix ? "&prefix=" : "", prefix ? resource : "", sig, extra);
}

static enum policy_signed_result
check(const char *path, const char *query, const char *client, int64_t now)
{
	struct policy_signed_req r = {str_cstr(path), str_cstr(query), str_cstr(client), now};

	return policy_signed_verify(ks, &conf, &r);
}

static void
test_string_to_sign(void)
{
	char out[256];

	subtest("the string to sign");
	is_int(policy_signed_string_to_sign(false, STR_LIT("/v/a.mp4"), STR_LIT("1700000000"),
	           STR_LIT("k1"), STR_NULL, out, sizeof out),
	    strlen("outpost-url-v1\npath\n/v/a.mp4\n1700000000\nk1\n"));
	is_str(out, "outpost-url-v1\npath\n/v/a.mp4\n1700000000\nk1\n");
	policy_signed_string_to_sign(true, STR_LIT("/v/"), STR_LIT("1"), STR_LIT("k1"),
	    STR_LIT("2001:db8::1"), out, sizeof out);
	is_str(out, "outpost-url-v1\nprefix\n/v/\n1\nk1\n2001:db8::1");
	is_int(policy_signed_string_to_sign(
	           false, STR_LIT("/a\nb"), STR_LIT("1"), STR_LIT("k1"), STR_NULL, out, sizeof out),
	    -1);
	is_int(policy_signed_string_to_sign(
	           false, STR_LIT("/a"), STR_LIT("1"), STR_LIT("k1"), STR_NULL, out, 10),
	    -1);
}

struct verify_case {
	const char *path, *query, *client;
	int64_t now;
	enum policy_signed_result want;
	const char *what;
};

static void
test_verify(void)
{
	char q[9][1024];

	subtest("verification results");
	sign(q[0], sizeof q[0], "k1", "/v/a.mp4", false, "1700000100", NULL, "");
	sign(q[1], sizeof q[1], "k2", "/v/a.mp4", false, "1700000100", NULL, "&b=2");
	sign(q[2], sizeof q[2], "k1", "/v/", true, "1700000100", NULL, "");
	sign(q[3], sizeof q[3], "k1", "/v/a.mp4", false, "1700000100", "192.0.2.7", "");
	sign(q[4], sizeof q[4], "k1", "/v/a.mp4", false, "1700000100", "2001:db8::7", "");
	sign(q[5], sizeof q[5], "k1", "/v/", false, "1700000100", NULL, "&prefix=/v/");
	sign(q[6], sizeof q[6], "k3", "/v/a.mp4", false, "1700000100", NULL, "");
	/* Percent-escaped values: "/v/" and "2001:db8::7" as a form encoder writes them. */
	{
		const char *p = strstr(q[2], "prefix=/v/");

		snprintf(q[7], sizeof q[7], "%.*sprefix=%%2Fv%%2F%s", (int)(p - q[2]), q[2],
		    p + strlen("prefix=/v/"));
	}
	sign(q[8], sizeof q[8], "k1", "/v/a.mp4", false, "1700000100", NULL, "");
	q[8][strlen(q[8]) - 1] ^= 1; /* the last character of sig */

	const struct verify_case cases[] = {
	    {"/v/a.mp4", q[0], "192.0.2.1", NOW, POLICY_SIGNED_OK, "path signed with k1"},
	    {"/v/a.mp4", q[1], "192.0.2.1", NOW, POLICY_SIGNED_OK, "k2 (rotation), other params"},
	    {"/v/b.mp4", q[0], "192.0.2.1", NOW, POLICY_SIGNED_BAD_SIGNATURE, "another path"},
	    {"/v/a.mp4", q[0], "192.0.2.1", 1700000100, POLICY_SIGNED_OK, "valid at exp"},
	    {"/v/a.mp4", q[0], "192.0.2.1", 1700000101, POLICY_SIGNED_EXPIRED, "after exp"},
	    {"/v/x/y.ts", q[2], "192.0.2.1", NOW, POLICY_SIGNED_OK, "under the prefix"},
	    {"/w/y.ts", q[2], "192.0.2.1", NOW, POLICY_SIGNED_WRONG_PREFIX, "outside the prefix"},
	    {"/v/x/y.ts", q[7], "192.0.2.1", NOW, POLICY_SIGNED_OK, "prefix percent-escaped"},
	    {"/v/a.mp4", q[3], "192.0.2.7", NOW, POLICY_SIGNED_OK, "bound to the client"},
	    {"/v/a.mp4", q[3], "::ffff:192.0.2.7", NOW, POLICY_SIGNED_OK, "v4-mapped client"},
	    {"/v/a.mp4", q[3], "192.0.2.8", NOW, POLICY_SIGNED_WRONG_IP, "another client"},
	    {"/v/a.mp4", q[4], "2001:db8:0::7", NOW, POLICY_SIGNED_OK, "IPv6 client"},
	    {"/v/a.mp4", q[4], "2001:db8::8", NOW, POLICY_SIGNED_WRONG_IP, "another IPv6 client"},
	    {"/v/a.mp4", q[4], "", NOW, POLICY_SIGNED_WRONG_IP, "no client address"},
	    {"/v/x", q[5], "192.0.2.1", NOW, POLICY_SIGNED_BAD_SIGNATURE,
	        "a path signature is no prefix grant"},
	    {"/v/a.mp4", q[6], "192.0.2.1", NOW, POLICY_SIGNED_UNKNOWN_KEY, "unknown kid"},
	    {"/v/a.mp4", q[8], "192.0.2.1", NOW, POLICY_SIGNED_MALFORMED,
	        "sig with non-canonical last character"},
	    {"/v/a.mp4", "", "192.0.2.1", NOW, POLICY_SIGNED_MISSING, "no query"},
	    {"/v/a.mp4", "a=1&b", "192.0.2.1", NOW, POLICY_SIGNED_MISSING, "other params only"},
	    {"/v/a.mp4", "sig=AAAA", "192.0.2.1", NOW, POLICY_SIGNED_MALFORMED, "sig alone"},
	    {"/v/a.mp4", "exp=1&kid=k1", "192.0.2.1", NOW, POLICY_SIGNED_MALFORMED, "no sig"},
	    {"/v/a.mp4", "exp=1x&kid=k1&sig=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "1.1.1.1",
	        NOW, POLICY_SIGNED_MALFORMED, "exp not a number"},
	    {"/v/a.mp4", "exp=99999999999999999999&kid=k1&sig=AAAA", "1.1.1.1", NOW,
	        POLICY_SIGNED_MALFORMED, "exp too long"},
	    {"/v/a.mp4", "exp=1&kid=k1&sig=AAAA", "1.1.1.1", NOW, POLICY_SIGNED_MALFORMED,
	        "sig too short"},
	    {"/v/a.mp4", "exp=1&kid=k%201&sig=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	        "1.1.1.1", NOW, POLICY_SIGNED_MALFORMED, "kid with a space"},
	    {"/v/a.mp4", "exp=1&kid=k1&sig=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&ip=x",
	        "1.1.1.1", NOW, POLICY_SIGNED_MALFORMED, "ip not an address"},
	    {"/v/a.mp4", "exp=1&kid=k1&sig=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&prefix=v",
	        "1.1.1.1", NOW, POLICY_SIGNED_MALFORMED, "prefix without '/'"},
	    {"/v/a.mp4", "exp=1&kid=k1&sig=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&exp=2",
	        "1.1.1.1", NOW, POLICY_SIGNED_MALFORMED, "exp twice"},
	    {"/v/a.mp4", "exp=1&kid=k1&sig=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&%73ig=x",
	        "1.1.1.1", NOW, POLICY_SIGNED_MALFORMED, "sig twice, once escaped"},
	    {"/v/a.mp4", "exp=1&kid=k1&sig=%GG", "1.1.1.1", NOW, POLICY_SIGNED_MALFORMED,
	        "broken escape"},
	    {"/v/a.mp4", "exp=1&kid=k1&sig=", "1.1.1.1", NOW, POLICY_SIGNED_MALFORMED, "empty sig"},
	    {"/v/a.mp4", "exp=1&kid=k1&sig=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "1.1.1.1",
	        NOW, POLICY_SIGNED_BAD_SIGNATURE, "forged"},
	};
	char what[160];

	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		enum policy_signed_result got =
		    check(cases[k].path, cases[k].query, cases[k].client, cases[k].now);

		snprintf(
		    what, sizeof what, "%s: %s", cases[k].what, policy_signed_label(cases[k].want));
		if (!ok(got == cases[k].want, what))
			printf("#   got %s (query %s)\n", policy_signed_label(got), cases[k].query);
	}
	{
		static char long_path[6001];

		long_path[0] = '/';
		memset(long_path + 1, 'p', sizeof long_path - 2);
		sign(q[0], sizeof q[0], "k1", long_path, false, "1700000100", NULL, "");
		is_int(check(long_path, q[0], "192.0.2.1", NOW), POLICY_SIGNED_OK);
	}
	conf.leeway_s = 10;
	sign(q[0], sizeof q[0], "k1", "/v/a.mp4", false, "1700000100", NULL, "");
	is_int(check("/v/a.mp4", q[0], "192.0.2.1", 1700000110), POLICY_SIGNED_OK);
	is_int(check("/v/a.mp4", q[0], "192.0.2.1", 1700000111), POLICY_SIGNED_EXPIRED);
	conf.leeway_s = 0;
	is_str(
	    policy_signed_strerror(POLICY_SIGNED_WRONG_PREFIX), "path outside the signed prefix");
	is_str(policy_signed_label(POLICY_SIGNED_N_RESULTS), "unknown");
}

struct strip_case {
	const char *in, *out;
};

static void
test_strip(void)
{
	static const struct strip_case cases[] = {
	    {"", ""},
	    {"a=1", "a=1"},
	    {"a=1&exp=2&kid=k&sig=s&b=2", "a=1&b=2"},
	    {"exp=1&kid=k1&ip=1.2.3.4&prefix=/v/&sig=x", ""},
	    {"sig=x&a=1", "a=1"},
	    {"a&&b&sig=1", "a&&b"},
	    {"%65xp=1&x=2&%73ig", "x=2"},
	    {"expires=1&signature=2&exp", "expires=1&signature=2"},
	    {"a=exp&b=sig", "a=exp&b=sig"},
	};
	char out[128];

	subtest("the query without the signature");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int n = policy_signed_strip(str_cstr(cases[i].in), out, sizeof out);

		is_int(n, strlen(cases[i].out));
		is_str(out, cases[i].out);
	}
	is_int(policy_signed_strip(STR_LIT("a=1&b=2"), out, 7), -1);
	is_int(policy_signed_strip(STR_LIT("a=1&b=2"), out, 8), 7);
	ok(policy_signed_is_param(STR_LIT("prefix")), "prefix is ours");
	ok(!policy_signed_is_param(STR_LIT("prefixes")), "prefixes is not");
}

struct keys_case {
	const char *text;
	const char *err; /* NULL: loads */
};

static void
test_keys(void)
{
	static const struct keys_case cases[] = {
	    {"# keys\n\nk1 " KEY1_B64 "\r\n  k2\t" KEY2_B64 "  \n", NULL},
	    {"k1 " KEY1_B64 "\nk1 " KEY2_B64 "\n", "keys:2: kid already defined"},
	    {"k1 MDEy\n", "keys:1: secret: 32 to 128 bytes"},
	    {"k1 " KEY1_B64 " extra\n", "keys:1: expected \"kid secret\""},
	    {"k1\n", "keys:1: expected"},
	    {"k/1 " KEY1_B64 "\n", "keys:1: kid:"},
	    {"k1 MDEy!\n", "keys:1: secret: not base64"},
	    {"# nothing\n", "keys: no keys"},
	    {"", "keys: no keys"},
	};
	struct policy_signed_keys *k;
	char err[256], dir[] = "/tmp/outpost-signed-XXXXXX", path[128];
	FILE *f;

	subtest("key files");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int rc;

		k = NULL;
		err[0] = '\0';
		rc = policy_signed_keys_parse(
		    "keys", cases[i].text, strlen(cases[i].text), &k, err, sizeof err);
		if (cases[i].err == NULL) {
			is_int(rc, 0);
			is_int(policy_signed_keys_count(k), 2);
		} else {
			is_int(rc, -1);
			if (!ok(strstr(err, cases[i].err) != NULL, cases[i].err))
				printf("#   err: %s\n", err);
		}
		policy_signed_keys_unref(&k);
	}

	/* Reload: the old set stays when the new file is wrong. */
	if (mkdtemp(dir) == NULL)
		return;
	snprintf(path, sizeof path, "%s/keys", dir);
	f = fopen(path, "w");
	fputs("k1 MDEy\n", f);
	fclose(f);
	k = policy_signed_keys_ref(ks);
	is_int(policy_signed_keys_reload(&k, path, err, sizeof err), -1);
	ok(k == ks, "the old set stays");
	ok(strstr(err, "/keys:1: secret") != NULL, "error names path and line");
	f = fopen(path, "w");
	fputs("k9 " KEY1_B64 "\n", f);
	fclose(f);
	is_int(policy_signed_keys_reload(&k, path, err, sizeof err), 0);
	is_int(policy_signed_keys_count(k), 1);
	ok(k != ks, "a new set");
	policy_signed_keys_unref(&k);
	remove(path);
	remove(dir);
}

/* Verifications from many threads at once: each thread keys a context of
 * its own per key on first use and re-initialises it after; past the slots
 * (policy_hmac's POLICY_HMAC_THREADS, 64) a thread copies the prepared one per
 * call.  Every answer must be the one a single thread gets. */
#define HMAC_THREADS 80
#define HMAC_ROUNDS  200

static char mt_q[3][1024];
static atomic_int mt_wrong;

static void *
mt_run(void *arg)
{
	(void)arg;
	for (int i = 0; i < HMAC_ROUNDS; i++)
		if (check("/v/a.mp4", mt_q[0], "192.0.2.1", NOW) != POLICY_SIGNED_OK ||
		    check("/v/a.mp4", mt_q[1], "192.0.2.1", NOW) != POLICY_SIGNED_OK ||
		    check("/v/a.mp4", mt_q[2], "192.0.2.1", NOW) != POLICY_SIGNED_BAD_SIGNATURE)
			atomic_fetch_add(&mt_wrong, 1);
	return NULL;
}

static void
test_threads(void)
{
	pthread_t t[HMAC_THREADS];
	int started = 0;

	subtest("verification from many threads");
	sign(mt_q[0], sizeof mt_q[0], "k1", "/v/a.mp4", false, "1700000100", NULL, "");
	sign(mt_q[1], sizeof mt_q[1], "k2", "/v/a.mp4", false, "1700000100", NULL, "");
	sign(mt_q[2], sizeof mt_q[2], "k1", "/v/a.mp4", false, "1700000100", NULL, "");
	mt_q[2][strlen(mt_q[2]) - 2] ^= 1;
	for (int i = 0; i < HMAC_THREADS; i++)
		if (pthread_create(&t[i], NULL, mt_run, NULL) == 0)
			started++;
		else
			break;
	is_int(started, HMAC_THREADS);
	for (int i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	is_int(atomic_load(&mt_wrong), 0);
	/* and this thread, after them, still gets the same answers */
	mt_run(NULL);
	is_int(atomic_load(&mt_wrong), 0);
}

int
main(void)
{
	static const char keys[] = "k1 " KEY1_B64 "\nk2 " KEY2_B64 "\n";
	char err[256];

	policy_signed_conf_defaults(&conf);
	ok(conf.strip_from_origin && conf.leeway_s == 0, "defaults");
	is_int(policy_signed_keys_parse("keys", keys, strlen(keys), &ks, err, sizeof err), 0);
	test_string_to_sign();
	test_verify();
	test_strip();
	test_keys();
	test_threads();
	policy_signed_keys_unref(&ks);
	return tap_done();
}
