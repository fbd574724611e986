/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tools/bench/micro_token.c — what a request pays for the protected-content
 * checks (policy/policy_token.h): ns per signed-URL verification, per query
 * strip, and per JWT verification for RS256, ES256 and HS256, with keys made
 * by OpenSSL at start (RSA 2048, EC P-256, a 32-byte HMAC secret).
 *
 *   make tools/bench/micro_token && tools/bench/micro_token [ITERATIONS]
 *
 * One thread; each figure is the best of three runs.  Built by make, never
 * run by make check.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "policy/policy_token.h"
#include "tests/unit/policy/token_sign.h"
#include "tools/bench/micro.h"

#define NOW 1700000000

static const struct policy_jwks *b_set;
static const struct policy_jwt_conf *b_conf;
static const struct policy_signed_keys *b_keys;
static const struct policy_signed_conf *b_sconf;

static int
run_jwt(const char *token)
{
	struct policy_jwt_claims out;

	return policy_jwt_verify(b_set, b_conf, str_cstr(token), NOW, &out) == POLICY_JWT_OK;
}

static int
run_signed(const char *query)
{
	struct policy_signed_req r = {
	    STR_LIT("/videos/2024/intro.mp4"), str_cstr(query), STR_LIT("192.0.2.7"), NOW};

	return policy_signed_verify(b_keys, b_sconf, &r) == POLICY_SIGNED_OK;
}

static int
run_strip(const char *query)
{
	char out[512];

	return policy_signed_strip(str_cstr(query), out, sizeof out) >= 0;
}

static void
bench(const char *what, int (*fn)(const char *), const char *arg, long iters)
{
	double best = 0;

	if (!fn(arg)) {
		fprintf(stderr, "micro_token: %s does not verify\n", what);
		exit(1);
	}
	for (int run = 0; run < 3; run++) {
		double t0 = micro_now_ns(), ns;
		long ok = 0;

		for (long i = 0; i < iters; i++)
			ok += fn(arg);
		ns = (micro_now_ns() - t0) / (double)iters;
		if (ok != iters)
			exit(1);
		if (run == 0 || ns < best)
			best = ns;
	}
	printf("%-28s %10.0f ns/op  (%ld iterations)\n", what, best, iters);
}

int
main(int argc, char **argv)
{
	long iters = argc > 1 ? atol(argv[1]) : 20000;
	EVP_PKEY *rsa = ts_rsa_key(), *ec = ts_ec_key();
	unsigned char hs[32], mac[32];
	unsigned int maclen = 0;
	char k1[4096], k2[4096], k3[1024], json[10000], err[256], tosign[512], sig[64] = "";
	static char t_rs[4096], t_es[4096], t_hs[4096], query[512];
	const char *claims = "{\"sub\":\"alice\",\"iss\":\"https://idp.example\",\"aud\":\"cdn\","
	                     "\"exp\":1700000600,\"nbf\":1699999000,\"scope\":\"read\"}";
	struct policy_jwks *set;
	struct policy_jwt_conf conf;
	struct policy_signed_keys *keys;
	struct policy_signed_conf sconf;
	static const char keys_text[] = "k1 MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n";
	int n;

	if (iters <= 0 || RAND_bytes(hs, sizeof hs) != 1)
		return 2;
	ts_jwk(rsa, "rsa1", "RS256", k1, sizeof k1);
	ts_jwk(ec, "ec1", "ES256", k2, sizeof k2);
	ts_jwk_oct(hs, sizeof hs, "hs1", k3, sizeof k3);
	snprintf(json, sizeof json, "{\"keys\":[%s,%s,%s]}", k1, k2, k3);
	if (policy_jwks_parse("bench", json, strlen(json), &set, err, sizeof err) != 0) {
		fprintf(stderr, "micro_token: %s\n", err);
		return 1;
	}
	ts_token("{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", claims, "RS256", rsa, NULL, 0, t_rs,
	    sizeof t_rs);
	ts_token(
	    "{\"alg\":\"ES256\",\"kid\":\"ec1\"}", claims, "ES256", ec, NULL, 0, t_es, sizeof t_es);
	ts_token("{\"alg\":\"HS256\",\"kid\":\"hs1\"}", claims, "HS256", NULL, hs, sizeof hs, t_hs,
	    sizeof t_hs);
	policy_jwt_conf_defaults(&conf);
	conf.issuer = "https://idp.example";
	conf.audiences[0] = "cdn";
	conf.n_audiences = 1;
	conf.forward[0] = (struct policy_jwt_forward){"sub", "X-User"};
	conf.n_forward = 1;

	if (policy_signed_keys_parse(
	        "bench", keys_text, strlen(keys_text), &keys, err, sizeof err) != 0)
		return 1;
	policy_signed_conf_defaults(&sconf);
	n = policy_signed_string_to_sign(true, STR_LIT("/videos/"), STR_LIT("1700000600"),
	    STR_LIT("k1"), STR_LIT("192.0.2.7"), tosign, sizeof tosign);
	HMAC(EVP_sha256(), "0123456789abcdef0123456789abcdef", 32, (unsigned char *)tosign,
	    (size_t)n, mac, &maclen);
	policy_b64url_encode(mac, maclen, sig, sizeof sig);
	snprintf(query, sizeof query,
	    "page=2&exp=1700000600&kid=k1&ip=192.0.2.7&prefix=%%2Fvideos%%2F&sig=%s&lang=en", sig);

	b_set = set;
	b_conf = &conf;
	b_keys = keys;
	b_sconf = &sconf;
	printf("OpenSSL %s\n", OpenSSL_version(OPENSSL_VERSION));
	bench("signed URL verify", run_signed, query, iters * 10);
	bench("signed URL strip", run_strip, query, iters * 100);
	bench("JWT HS256 verify", run_jwt, t_hs, iters * 10);
	bench("JWT ES256 verify", run_jwt, t_es, iters);
	bench("JWT RS256 verify (2048)", run_jwt, t_rs, iters);

	policy_jwks_unref(&set);
	policy_signed_keys_unref(&keys);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ec);
	return 0;
}
