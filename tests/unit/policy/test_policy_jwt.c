/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/policy/test_policy_jwt.c — JWT bearer tokens and JWK sets
 * (policy/policy_jwt.c, policy/policy_jwks.c).
 *
 * Keys are made here with OpenSSL (RSA 2048, EC P-256, a random HMAC secret)
 * and tokens signed with them (token_sign.h); RFC 7515 Appendix A.1 (HS256)
 * and A.3 (ES256) check interoperability with the published examples.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>
#include <openssl/x509.h>

#include "policy/policy_token.h"
#include "tests/unit/policy/token_sign.h"
#include "tests/unit/tap.h"

#define NOW 1700000000

static EVP_PKEY *rsa, *ec;
static unsigned char hs[32];
static struct policy_jwks *set;
static char tok[12000];

/* RFC 7515 Appendix A.1 and A.3: the examples' keys and compact serializations. */
#define A_PAYLOAD                                                                                  \
	"eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0" \
	"cnV"                                                                                      \
	"lfQ"
#define A1_KEY                                                                                     \
	"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"
#define A1_TOKEN                                                                                   \
	"eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9." A_PAYLOAD                                      \
	".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
#define A3_X "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"
#define A3_Y "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
#define A3_SIG                                                                                     \
	"DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"
#define A3_TOKEN "eyJhbGciOiJFUzI1NiJ9." A_PAYLOAD "." A3_SIG
#define A_EXP    1300819380

static struct policy_jwks *
parse(const char *json)
{
	struct policy_jwks *ks = NULL;
	char err[256] = "";

	if (policy_jwks_parse("test.jwks", json, strlen(json), &ks, err, sizeof err) != 0)
		printf("# parse: %s\n", err);
	return ks;
}

static enum policy_jwt_result
verify(const struct policy_jwks *ks, const struct policy_jwt_conf *c, const char *token,
    int64_t now, struct policy_jwt_claims *out)
{
	return policy_jwt_verify(ks, c, str_cstr(token), now, out);
}

static void
sign(const char *header, const char *payload)
{
	const char *alg = strstr(header, "RS256")   ? "RS256"
	                  : strstr(header, "ES256") ? "ES256"
	                                            : "HS256";

	ts_token(header, payload, alg, alg[0] == 'R' ? rsa : ec, hs, sizeof hs, tok, sizeof tok);
}

static void
test_rfc7515_examples(void)
{
	struct policy_jwt_conf c;
	struct policy_jwt_claims out;
	struct policy_jwks *ks;
	char token[512];

	subtest("RFC 7515 A.1 (HS256) and A.3 (ES256)");
	policy_jwt_conf_defaults(&c);
	c.leeway_s = 0;
	c.forward[0] = (struct policy_jwt_forward){"iss", "X-Issuer"};
	c.forward[1] = (struct policy_jwt_forward){"http://example.com/is_root", "X-Root"};
	c.n_forward = 2;

	ks = parse("{\"keys\":[{\"kty\":\"oct\",\"k\":\"" A1_KEY "\"}]}");
	ok(ks != NULL, "A.1 key loads");
	is_int(verify(ks, &c, A1_TOKEN, A_EXP - 1, &out), POLICY_JWT_OK);
	is_int(out.n, 2);
	ok(str_eq(out.fields[0].value, STR_LIT("joe")), "iss forwarded");
	is_str(out.fields[0].header, "X-Issuer");
	ok(str_eq(out.fields[1].value, STR_LIT("true")), "boolean claim forwarded as written");
	is_int(out.exp, A_EXP);
	is_int(verify(ks, &c, A1_TOKEN, A_EXP, NULL), POLICY_JWT_EXPIRED);
	c.leeway_s = 30;
	is_int(verify(ks, &c, A1_TOKEN, A_EXP + 29, NULL), POLICY_JWT_OK);
	c.leeway_s = 0;
	/* The same bytes as an ES256 token against the oct key: no key for ES256. */
	is_int(verify(ks, &c, A3_TOKEN, A_EXP - 1, NULL), POLICY_JWT_UNKNOWN_KEY);
	policy_jwks_unref(&ks);
	ok(ks == NULL, "unref clears the pointer");

	ks = parse("{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" A3_X "\",\"y\":\"" A3_Y
	           "\"}]}");
	ok(ks != NULL, "A.3 key loads");
	is_int(verify(ks, &c, A3_TOKEN, A_EXP - 1, &out), POLICY_JWT_OK);
	/* One bit of r changed. */
	snprintf(token, sizeof token, "%s", A3_TOKEN);
	token[strlen(token) - 86] ^= 1;
	is_int(verify(ks, &c, token, A_EXP - 1, NULL), POLICY_JWT_BAD_SIGNATURE);
	/* The HS256 example against the EC key: alg confusion refused. */
	is_int(verify(ks, &c, A1_TOKEN, A_EXP - 1, NULL), POLICY_JWT_UNKNOWN_KEY);
	policy_jwks_unref(&ks);
}

static void
test_generated_keys(void)
{
	struct policy_jwt_conf c;
	struct policy_jwt_claims out;

	subtest("RS256, ES256, HS256 with keys made by OpenSSL");
	policy_jwt_conf_defaults(&c);
	c.issuer = "https://idp.example";
	c.audiences[0] = "cdn";
	c.audiences[1] = "media";
	c.n_audiences = 2;
	c.forward[0] = (struct policy_jwt_forward){"sub", "X-User"};
	c.forward[1] = (struct policy_jwt_forward){"tier", "X-Tier"};
	c.forward[2] = (struct policy_jwt_forward){"n", "X-N"};
	c.n_forward = 3;

	static const char *const headers[] = {
	    "{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"typ\":\"JWT\"}",
	    "{\"alg\":\"ES256\",\"kid\":\"ec1\"}",
	    "{\"alg\":\"HS256\",\"kid\":\"hs1\"}",
	};
	for (size_t i = 0; i < 3; i++) {
		sign(headers[i],
		    "{\"sub\":\"alice\",\"iss\":\"https://idp.example\",\"aud\":[\"x\","
		    "\"media\"],\"exp\":1700000100,\"nbf\":1699999900,"
		    "\"tier\":\"gold\",\"n\":-12.5e1}");
		is_int(verify(set, &c, tok, NOW, &out), POLICY_JWT_OK);
		is_int(out.n, 3);
		ok(str_eq(out.fields[0].value, STR_LIT("alice")), "sub forwarded");
		is_str(out.fields[1].header, "X-Tier");
		ok(str_eq(out.fields[2].value, STR_LIT("-12.5e1")), "number forwarded as written");
		/* Tampered payload: another payload under the first signature. */
		{
			char other[12000] = "", *dot1 = strchr(tok, '.'), *dot2 = strrchr(tok, '.');
			const char *pl = "{\"sub\":\"mallory\",\"iss\":\"https://idp.example\","
			                 "\"aud\":\"cdn\",\"exp\":1700000100}";

			memcpy(other, tok, (size_t)(dot1 - tok) + 1);
			ts_b64(pl, strlen(pl), other, sizeof other);
			strcat(other, dot2);
			is_int(verify(set, &c, other, NOW, NULL), POLICY_JWT_BAD_SIGNATURE);
		}
		/* Four characters (three bytes) short of the signature. */
		{
			char *sig = strrchr(tok, '.') + 1;

			memmove(sig, sig + 4, strlen(sig + 4) + 1);
		}
		is_int(verify(set, &c, tok, NOW, NULL), POLICY_JWT_BAD_SIGNATURE);
	}
}

struct claims_case {
	const char *payload;
	int64_t now;
	enum policy_jwt_result want;
	const char *what;
};

static void
test_claims(void)
{
	static const struct claims_case cases[] = {
	    {"{\"exp\":1700000100,\"aud\":\"cdn\",\"iss\":\"i\"}", NOW, POLICY_JWT_OK, "valid"},
	    {"{\"exp\":1699999000,\"aud\":\"cdn\",\"iss\":\"i\"}", NOW, POLICY_JWT_EXPIRED,
	        "expired"},
	    {"{\"exp\":1699999980,\"aud\":\"cdn\",\"iss\":\"i\"}", NOW, POLICY_JWT_OK,
	        "expired within leeway"},
	    {"{\"exp\":1699999970,\"aud\":\"cdn\",\"iss\":\"i\"}", NOW, POLICY_JWT_EXPIRED,
	        "exp + leeway == now is expired"},
	    {"{\"exp\":1700000100,\"nbf\":1700000060,\"aud\":\"cdn\",\"iss\":\"i\"}", NOW,
	        POLICY_JWT_NOT_YET_VALID, "nbf in the future"},
	    {"{\"exp\":1700000100,\"nbf\":1700000020,\"aud\":\"cdn\",\"iss\":\"i\"}", NOW,
	        POLICY_JWT_OK, "nbf within leeway"},
	    {"{\"exp\":1700000100,\"aud\":\"other\",\"iss\":\"i\"}", NOW, POLICY_JWT_BAD_AUDIENCE,
	        "wrong aud"},
	    {"{\"exp\":1700000100,\"aud\":[\"a\",\"b\"],\"iss\":\"i\"}", NOW,
	        POLICY_JWT_BAD_AUDIENCE, "aud array without ours"},
	    {"{\"exp\":1700000100,\"aud\":[],\"iss\":\"i\"}", NOW, POLICY_JWT_BAD_AUDIENCE,
	        "empty aud array"},
	    {"{\"exp\":1700000100,\"aud\":[\"a\",\"cdn\"],\"iss\":\"i\"}", NOW, POLICY_JWT_OK,
	        "aud array with ours"},
	    {"{\"exp\":1700000100,\"iss\":\"i\"}", NOW, POLICY_JWT_BAD_AUDIENCE, "aud missing"},
	    {"{\"exp\":1700000100,\"aud\":7,\"iss\":\"i\"}", NOW, POLICY_JWT_BAD_CLAIMS,
	        "aud a number"},
	    {"{\"exp\":1700000100,\"aud\":\"cdn\",\"iss\":\"j\"}", NOW, POLICY_JWT_BAD_ISSUER,
	        "wrong iss"},
	    {"{\"exp\":1700000100,\"aud\":\"cdn\"}", NOW, POLICY_JWT_BAD_ISSUER, "iss missing"},
	    {"{\"exp\":1700000100,\"aud\":\"cdn\",\"iss\":\"\\u0069\"}", NOW, POLICY_JWT_OK,
	        "iss with an escape"},
	    {"{\"aud\":\"cdn\",\"iss\":\"i\"}", NOW, POLICY_JWT_BAD_CLAIMS, "exp missing"},
	    {"{\"exp\":\"1700000100\",\"aud\":\"cdn\",\"iss\":\"i\"}", NOW, POLICY_JWT_BAD_CLAIMS,
	        "exp a string"},
	    {"{\"exp\":1.7000001e9,\"aud\":\"cdn\",\"iss\":\"i\"}", NOW, POLICY_JWT_OK,
	        "exp with an exponent"},
	    {"{\"exp\":1700000100,\"exp\":1800000000,\"aud\":\"cdn\",\"iss\":\"i\"}", NOW,
	        POLICY_JWT_BAD_JSON, "exp twice"},
	    {"{\"exp\":1700000100,\"aud\":\"cdn\",\"iss\":\"i\"", NOW, POLICY_JWT_BAD_JSON,
	        "unterminated object"},
	    {"{\"exp\":1700000100,\"aud\":\"cdn\",\"iss\":\"i\"} x", NOW, POLICY_JWT_BAD_JSON,
	        "trailing bytes"},
	    {"[1]", NOW, POLICY_JWT_BAD_JSON, "an array"},
	    {"{\"exp\":01700000100}", NOW, POLICY_JWT_BAD_JSON, "leading zero"},
	    {"{\"exp\":1700000100,\"aud\":\"cdn\",\"iss\":\"i\",\"x\":\"\\ud800\"}", NOW,
	        POLICY_JWT_BAD_JSON, "lone surrogate"},
	    {"{\"exp\":1700000100,\"aud\":\"cdn\",\"iss\":\"i\",\"x\":\"\xc0\xaf\"}", NOW,
	        POLICY_JWT_BAD_JSON, "overlong UTF-8"},
	    {"{\"exp\":1700000100,\"aud\":\"cdn\",\"iss\":\"i\",\"x\":\"a\tb\"}", NOW,
	        POLICY_JWT_BAD_JSON, "raw control byte in a string"},
	    {"{\"exp\":1700000100,\"aud\":\"cdn\",\"iss\":\"i\",\"x\":[[[[[[[[[[[[[[[[[1]]]]]]]]]]]"
	     "]]]]]]}",
	        NOW, POLICY_JWT_BAD_JSON, "nesting deeper than 16"},
	    {"{\"exp\":1700000100,\"aud\":\"cdn\",\"iss\":\"i\",\"x\":[[[[[[[[[[[[[[1]]]]]]]]]]]]]]"
	     "}",
	        NOW, POLICY_JWT_OK, "nesting of 15"},
	    {"{\"exp\":1700000100,\"aud\":\"cdn\",\"iss\":\"i\",\"x\":{\"a\":[true,false,null,"
	     "\"\\ud83d\\ude00\"]}}",
	        NOW, POLICY_JWT_OK, "nested values skipped"},
	};
	struct policy_jwt_conf c;
	char what[160];

	subtest("claims: exp, nbf, aud, iss, JSON");
	policy_jwt_conf_defaults(&c);
	c.issuer = "i";
	c.audiences[0] = "cdn";
	c.n_audiences = 1;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		enum policy_jwt_result got;

		sign("{\"alg\":\"HS256\",\"kid\":\"hs1\"}", cases[i].payload);
		got = verify(set, &c, tok, cases[i].now, NULL);
		snprintf(
		    what, sizeof what, "%s: %s", cases[i].what, policy_jwt_label(cases[i].want));
		if (!ok(got == cases[i].want, what))
			printf("#   got %s\n", policy_jwt_label(got));
	}
	c.require_exp = false;
	sign("{\"alg\":\"HS256\",\"kid\":\"hs1\"}", "{\"aud\":\"cdn\",\"iss\":\"i\"}");
	is_int(verify(set, &c, tok, NOW, NULL), POLICY_JWT_OK);
}

static void
test_header_and_shape(void)
{
	struct policy_jwt_conf c;
	char big[10000], der_tok[12000];
	unsigned char der[1024], *p = der;
	int der_len;

	subtest("header, alg, kid, shape");
	policy_jwt_conf_defaults(&c);
#define PL "{\"exp\":1700000100}"
	sign("{\"alg\":\"HS256\",\"kid\":\"nope\"}", PL);
	is_int(verify(set, &c, tok, NOW, NULL), POLICY_JWT_UNKNOWN_KEY);
	sign("{\"alg\":\"HS256\"}", PL); /* no kid: one HS256 key in the set */
	is_int(verify(set, &c, tok, NOW, NULL), POLICY_JWT_OK);
	sign("{\"alg\":\"RS256\"}", PL); /* no kid: two RSA keys allow RS256 */
	is_int(verify(set, &c, tok, NOW, NULL), POLICY_JWT_UNKNOWN_KEY);
	sign("{\"alg\":\"ES256\",\"kid\":\"rsa1\"}", PL);
	is_int(verify(set, &c, tok, NOW, NULL), POLICY_JWT_KEY_MISMATCH);
	sign("{\"alg\":\"HS256\",\"kid\":\"enc1\"}", PL); /* use "enc": not taken */
	is_int(verify(set, &c, tok, NOW, NULL), POLICY_JWT_UNKNOWN_KEY);
	sign("{\"alg\":\"RS256\",\"kid\":\"rs-only-es\"}", PL);
	is_int(verify(set, &c, tok, NOW, NULL), POLICY_JWT_KEY_MISMATCH);

	/* alg none, with and without a signature. */
	ts_token("{\"alg\":\"none\",\"kid\":\"hs1\"}", PL, "none", NULL, NULL, 0, tok, sizeof tok);
	is_int(verify(set, &c, tok, NOW, NULL), POLICY_JWT_BAD_ALG);
	strcat(tok, "AAAA");
	is_int(verify(set, &c, tok, NOW, NULL), POLICY_JWT_BAD_ALG);
	sign("{\"alg\":\"HS384\",\"kid\":\"hs1\"}", PL);
	is_int(verify(set, &c, tok, NOW, NULL), POLICY_JWT_BAD_ALG);
	sign("{\"alg\":\"hs256\",\"kid\":\"hs1\"}", PL);
	is_int(verify(set, &c, tok, NOW, NULL), POLICY_JWT_BAD_ALG);
	sign("{\"kid\":\"hs1\"}", PL);
	is_int(verify(set, &c, tok, NOW, NULL), POLICY_JWT_BAD_ALG);
	sign("{\"alg\":\"HS256\",\"alg\":\"HS256\",\"kid\":\"hs1\"}", PL);
	is_int(verify(set, &c, tok, NOW, NULL), POLICY_JWT_BAD_JSON);
	sign("{\"alg\":\"HS256\",\"kid\":\"hs1\",\"crit\":[\"b64\"],\"b64\":false}", PL);
	is_int(verify(set, &c, tok, NOW, NULL), POLICY_JWT_MALFORMED);
	sign("{\"alg\":\"HS256\",\"kid\":\"hs1\"", PL);
	is_int(verify(set, &c, tok, NOW, NULL), POLICY_JWT_BAD_JSON);

	/*
	 * Alg confusion: an HS256 token naming the RSA key, its MAC keyed with
	 * the RSA public key (DER, as a PEM-era library would take it).
	 */
	der_len = i2d_PUBKEY(rsa, &p);
	ok(der_len > 0, "RSA public key as DER");
	ts_token("{\"alg\":\"HS256\",\"kid\":\"rsa1\"}", PL, "HS256", NULL, der, (size_t)der_len,
	    der_tok, sizeof der_tok);
	is_int(verify(set, &c, der_tok, NOW, NULL), POLICY_JWT_KEY_MISMATCH);

	/* Shape. */
	is_int(verify(set, &c, "", NOW, NULL), POLICY_JWT_MISSING);
	is_int(verify(set, &c, "abc", NOW, NULL), POLICY_JWT_MALFORMED);
	is_int(verify(set, &c, "a.b", NOW, NULL), POLICY_JWT_MALFORMED);
	is_int(verify(set, &c, "a.b.c.d", NOW, NULL), POLICY_JWT_MALFORMED);
	is_int(verify(set, &c, ".b.c", NOW, NULL), POLICY_JWT_MALFORMED);
	sign("{\"alg\":\"HS256\",\"kid\":\"hs1\"}", PL);
	{
		char t2[12000];

		/* '+' from the other alphabet; '=' padding; a non-canonical last char. */
		snprintf(t2, sizeof t2, "%s", tok);
		t2[3] = '+';
		is_int(verify(set, &c, t2, NOW, NULL), POLICY_JWT_MALFORMED);
		snprintf(t2, sizeof t2, "%s=", tok);
		is_int(verify(set, &c, t2, NOW, NULL), POLICY_JWT_MALFORMED);
		/*
		 * A 28-byte header ends in "fQ" (2 chars for its last byte, 4
		 * unused bits): "fR" sets one of them, a second spelling.
		 */
		sign("{\"alg\":\"HS256\",\"kid\":\"hs1\" }", PL);
		is_int(verify(set, &c, tok, NOW, NULL), POLICY_JWT_OK);
		snprintf(t2, sizeof t2, "%s", tok);
		ok(*(strchr(t2, '.') - 1) == 'Q', "header ends in Q");
		*(strchr(t2, '.') - 1) = 'R';
		is_int(verify(set, &c, t2, NOW, NULL), POLICY_JWT_MALFORMED);
		/* Payload not base64url once the signature holds: never reached; bad sig first. */
		snprintf(t2, sizeof t2, "%s", tok);
		*(strrchr(t2, '.') - 1) = 'R';
		is_int(verify(set, &c, t2, NOW, NULL), POLICY_JWT_BAD_SIGNATURE);
	}
	memset(big, 'A', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	big[100] = '.';
	big[200] = '.';
	is_int(verify(set, &c, big, NOW, NULL), POLICY_JWT_TOO_LARGE);
	c.max_token_bytes = 64;
	is_int(verify(set, &c, tok, NOW, NULL), POLICY_JWT_TOO_LARGE);
#undef PL
}

static void
test_forward_hygiene(void)
{
	struct policy_jwt_conf c;
	struct policy_jwt_claims out;
	char payload[1024], long_value[400];

	subtest("forwarded claims: no CR, LF, NUL; bounded");
	policy_jwt_conf_defaults(&c);
	c.forward[0] = (struct policy_jwt_forward){"a", "X-A"};
	c.forward[1] = (struct policy_jwt_forward){"b", "X-B"};
	c.forward[2] = (struct policy_jwt_forward){"c", "X-C"};
	c.forward[3] = (struct policy_jwt_forward){"d", "X-D"};
	c.forward[4] = (struct policy_jwt_forward){"e", "X-E"};
	c.forward[5] = (struct policy_jwt_forward){"f", "X-F"};
	c.n_forward = 6;
	memset(long_value, 'x', 300);
	long_value[300] = '\0';
	snprintf(payload, sizeof payload,
	    "{\"exp\":1700000100,\"a\":\"ok\\u00e9\",\"b\":\"x\\r\\nX-Evil: "
	    "1\",\"c\":\"n\\u0000ul\","
	    "\"d\":\"%s\",\"e\":{\"o\":1},\"f\":null}",
	    long_value);
	sign("{\"alg\":\"HS256\",\"kid\":\"hs1\"}", payload);
	is_int(verify(set, &c, tok, NOW, &out), POLICY_JWT_OK);
	is_int(out.n, 1);
	ok(str_eq(out.fields[0].value, STR_LIT("ok\xc3\xa9")), "escape decoded to UTF-8");
	sign("{\"alg\":\"HS256\",\"kid\":\"hs1\"}", "{\"exp\":1700000100,\"a\":\"1\",\"a\":\"2\"}");
	is_int(verify(set, &c, tok, NOW, &out), POLICY_JWT_BAD_JSON);
}

static void
test_bearer(void)
{
	struct str t;

	subtest("Authorization: Bearer");
	is_int(policy_jwt_bearer(STR_LIT("Bearer abc.def.ghi"), &t), POLICY_JWT_OK);
	ok(str_eq(t, STR_LIT("abc.def.ghi")), "token");
	is_int(policy_jwt_bearer(STR_LIT("bearer   abc.d_e-f.g~h+/=="), &t), POLICY_JWT_OK);
	ok(str_eq(t, STR_LIT("abc.d_e-f.g~h+/==")), "token68 characters");
	is_int(policy_jwt_bearer(STR_LIT("Basic dXNlcjpwYXNz"), &t), POLICY_JWT_MISSING);
	is_int(policy_jwt_bearer(STR_LIT(""), &t), POLICY_JWT_MISSING);
	is_int(policy_jwt_bearer(STR_LIT("Bearerx abc"), &t), POLICY_JWT_MISSING);
	is_int(policy_jwt_bearer(STR_LIT("Bearer"), &t), POLICY_JWT_MALFORMED);
	is_int(policy_jwt_bearer(STR_LIT("Bearer a,b"), &t), POLICY_JWT_MALFORMED);
	is_int(policy_jwt_bearer(STR_LIT("Bearer a=b"), &t), POLICY_JWT_MALFORMED);
	is_int(policy_jwt_bearer(STR_LIT("Bearer ="), &t), POLICY_JWT_MALFORMED);
}

struct jwks_case {
	const char *json;
	const char *err; /* substring of the error, or NULL when it loads */
};

static void
test_jwks_load(void)
{
	static const struct jwks_case cases[] = {
	    {"{\"keys\":[", "test.jwks:1:"},
	    {"{\"k\":[]}", "not a JWK Set"},
	    {"{\"keys\":[]}", "no key usable"},
	    {"{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AA\"}]}", "no key usable"},
	    {"{\"keys\":[{\"kty\":\"oct\",\"k\":\"AAAA\"}]}", "keys[0]: oct k shorter"},
	    {"{\"keys\":[{\"kty\":\"oct\",\"k\":\"not base64!\"}]}", "keys[0]: a member is not"},
	    {"{\"keys\":[{\"kty\":\"oct\",\"k\":\"" A1_KEY "\",\"alg\":\"RS256\"}]}",
	        "keys[0]: alg does not fit kty"},
	    {"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" A3_X "\",\"y\":\"" A3_X
	     "\"}]}",
	        "not a point of P-256"},
	    {"{\"keys\":[{\"kty\":\"EC\",\"x\":\"" A3_X "\",\"y\":\"" A3_Y "\"}]}", "without crv"},
	    {"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAA\",\"y\":\"" A3_Y "\"}]}",
	        "32 bytes"},
	    /* RSA 1024: too short. */
	    {"{\"keys\":[{\"kty\":\"RSA\",\"n\":\"" /* 128 bytes with the top bit set */
	     "wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	     "A"
	     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE"
	     "\",\"e\":\"AQAB\"}]}",
	        "2048"},
	    {"{\"keys\":[{\"kty\":\"oct\",\"k\":\"" A1_KEY "\",\"kid\":7}]}", "kid not a string"},
	    {"{\"keys\":[{\"kty\":\"oct\",\"k\":\"" A1_KEY "\"},{\"kty\":\"EC\",\"crv\":\"P-384\"},"
	     "{\"kty\":\"oct\",\"use\":\"enc\",\"k\":\"AA\"},{\"kty\":\"RSA\",\"alg\":\"PS256\"}]}",
	        NULL},
	    {"{\"keys\":[{\"kty\":\"oct\",\"k\":\"" A1_KEY "\"}],\"keys\":[]}", "duplicate"},
	};
	struct policy_jwks *ks;
	char err[256];

	subtest("JWKS loading");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int rc;

		err[0] = '\0';
		ks = NULL;
		rc = policy_jwks_parse(
		    "test.jwks", cases[i].json, strlen(cases[i].json), &ks, err, sizeof err);
		if (cases[i].err == NULL) {
			is_int(rc, 0);
			is_int(policy_jwks_count(ks), 1);
			is_int(policy_jwks_skipped(ks), 3);
		} else {
			is_int(rc, -1);
			if (!ok(strstr(err, cases[i].err) != NULL, cases[i].err))
				printf("#   err: %s\n", err);
			ok(ks == NULL, "nothing returned on error");
		}
		policy_jwks_unref(&ks);
	}
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
		ts_die("write_file");
}

static void
test_jwks_reload(void)
{
	char dir[] = "/tmp/outpost-jwks-XXXXXX", path[128], err[256];
	struct policy_jwks *slot = NULL, *held;
	struct policy_jwt_conf c;

	subtest("JWKS reload: a new set, the old one kept on error");
	policy_jwt_conf_defaults(&c);
	if (mkdtemp(dir) == NULL)
		ts_die("mkdtemp");
	snprintf(path, sizeof path, "%s/keys.jwks", dir);
	write_file(path, "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"a1\",\"k\":\"" A1_KEY "\"}]}");
	is_int(policy_jwks_load(path, &slot, err, sizeof err), 0);
	held = policy_jwks_ref(slot); /* a request in flight */
	write_file(path, "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"a1\",\"k\":\"c2hvcnQ\"}]}");
	is_int(policy_jwks_reload(&slot, path, err, sizeof err), -1);
	ok(slot == held, "the old set stays on error");
	ok(strstr(err, "keys.jwks: keys[0]: oct k shorter") != NULL, "error names file and key");
	write_file(path, "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" A3_X
	                 "\",\"y\":\"" A3_Y "\"}]}");
	is_int(policy_jwks_reload(&slot, path, err, sizeof err), 0);
	ok(slot != held, "a new set");
	is_int(verify(slot, &c, A3_TOKEN, A_EXP - 1, NULL), POLICY_JWT_OK);
	is_int(verify(slot, &c, A1_TOKEN, A_EXP - 1, NULL), POLICY_JWT_UNKNOWN_KEY);
	/* The holder's reference still verifies with the old keys. */
	is_int(verify(held, &c, A1_TOKEN, A_EXP - 1, NULL), POLICY_JWT_OK);
	policy_jwks_unref(&held);
	unlink(path);
	is_int(policy_jwks_reload(&slot, path, err, sizeof err), -1);
	ok(strstr(err, "No such file") != NULL, "missing file named");
	policy_jwks_unref(&slot);
	rmdir(dir);
}

static void
test_conf_check(void)
{
	struct policy_jwt_conf c;
	char err[256];

	subtest("conf check");
	policy_jwt_conf_defaults(&c);
	is_int(policy_jwt_conf_check(&c, err, sizeof err), 0);
	c.forward[0] = (struct policy_jwt_forward){"sub", "X User"};
	c.n_forward = 1;
	is_int(policy_jwt_conf_check(&c, err, sizeof err), -1);
	ok(strstr(err, "not a field name") != NULL, "bad header name");
	c.forward[0] = (struct policy_jwt_forward){"", "X-User"};
	is_int(policy_jwt_conf_check(&c, err, sizeof err), -1);
	c.forward[0] = (struct policy_jwt_forward){"sub", "X-User"};
	is_int(policy_jwt_conf_check(&c, err, sizeof err), 0);
	c.max_token_bytes = POLICY_JWT_TOKEN_MAX + 1;
	is_int(policy_jwt_conf_check(&c, err, sizeof err), -1);
	c.max_token_bytes = 8192;
	c.issuer = "";
	is_int(policy_jwt_conf_check(&c, err, sizeof err), -1);
	is_str(policy_jwt_strerror(POLICY_JWT_BAD_ALG), "alg not RS256, ES256 or HS256");
	is_str(policy_jwt_label(POLICY_JWT_NOT_YET_VALID), "not_yet_valid");
	is_str(policy_jwt_label((enum policy_jwt_result)99), "unknown");
}

int
main(void)
{
	char json[32768], k1[4096], k2[4096], k3[1024], k4[4096], k5[4096], k6[1024];
	EVP_PKEY *rsa2;

	rsa = ts_rsa_key();
	rsa2 = ts_rsa_key();
	ec = ts_ec_key();
	if (RAND_bytes(hs, sizeof hs) != 1)
		ts_die("RAND_bytes");
	ts_jwk(rsa, "rsa1", "RS256", k1, sizeof k1);
	ts_jwk(ec, "ec1", NULL, k2, sizeof k2);
	ts_jwk_oct(hs, sizeof hs, "hs1", k3, sizeof k3);
	ts_jwk(rsa2, "rsa2", NULL, k4, sizeof k4);
	ts_jwk(ec, "rs-only-es", "ES256", k5, sizeof k5);
	ts_jwk_oct(hs, sizeof hs, "enc1", k6, sizeof k6);
	/* k6 for encryption only: skipped. */
	k6[strlen(k6) - 1] = '\0';
	snprintf(json, sizeof json, "{\"keys\":[%s,%s,%s,%s,%s,%s,\"use\":\"enc\"}]}", k1, k2, k3,
	    k4, k5, k6);
	set = parse(json);
	ok(set != NULL, "generated JWKS loads");
	is_int(policy_jwks_count(set), 5);
	is_int(policy_jwks_skipped(set), 1);

	test_rfc7515_examples();
	test_generated_keys();
	test_claims();
	test_header_and_shape();
	test_forward_hygiene();
	test_bearer();
	test_jwks_load();
	test_jwks_reload();
	test_conf_check();

	policy_jwks_unref(&set);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(rsa2);
	EVP_PKEY_free(ec);
	return tap_done();
}
