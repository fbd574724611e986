/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/fuzz/fuzz_jwt.c — JWT bearer tokens (policy/policy_jwt.c) against a
 * fixed JWK set, and JWK sets themselves (policy/policy_jwks.c).
 *
 * The first byte picks the mode:
 *   0  the rest is an Authorization value, then a token: policy_jwt_bearer
 *      and policy_jwt_verify on each;
 *   1  the rest is "HEADER\nCLAIMS" (JSON texts): encoded and signed with the
 *      set's HS256 key here, so the claims reader is reached — a fuzzer cannot
 *      forge a signature, and claims are read only under a valid one;
 *   2  the rest is a JWK Set for policy_jwks_parse.
 * The input is copied into an exactly sized heap buffer so ASan sees any
 * overread.  Checked: every result is one of the table's; a verified token's
 * forwarded values lie in the claims buffer, within POLICY_JWT_CLAIM_MAX,
 * without control bytes, one per configured claim at most; a bearer token
 * lies inside the field value; a JWK set that fails says why.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/assert.h"
#include "policy/policy_token.h"
#include "tests/fuzz/fuzz.h"

/* RFC 7515 A.1's HMAC key (kid "a1") and A.3's EC key (no kid). */
#define A1_KEY                                                                                     \
	"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"
static const char jwks_text[] =
    "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"a1\",\"alg\":\"HS256\",\"k\":\"" A1_KEY "\"},"
    "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}]}";

static struct policy_jwks *set;
static struct policy_jwt_conf conf;
static unsigned char a1_secret[64];
static int a1_len;

static void
setup(void)
{
	char err[256];

	if (set != NULL)
		return;
	ASSERT(policy_jwks_parse("fuzz", jwks_text, strlen(jwks_text), &set, err, sizeof err) == 0);
	a1_len = policy_b64_decode(str_cstr(A1_KEY), POLICY_B64_URL, a1_secret, sizeof a1_secret);
	ASSERT(a1_len == 64);
	policy_jwt_conf_defaults(&conf);
	conf.issuer = "joe";
	conf.audiences[0] = "cdn";
	conf.n_audiences = 1;
	conf.forward[0] = (struct policy_jwt_forward){"sub", "X-User"};
	conf.forward[1] = (struct policy_jwt_forward){"iss", "X-Issuer"};
	conf.forward[2] = (struct policy_jwt_forward){"n", "X-N"};
	conf.n_forward = 3;
}

static void
verify(struct str token)
{
	struct policy_jwt_claims out;
	enum policy_jwt_result r;

	/* 2011 for the RFC examples' exp; the leeway covers nothing else. */
	r = policy_jwt_verify(set, &conf, token, 1300819379, &out);
	ASSERT((unsigned)r < POLICY_JWT_N_RESULTS);
	ASSERT(policy_jwt_strerror(r) != NULL && policy_jwt_label(r) != NULL);
	if (r != POLICY_JWT_OK) {
		ASSERT(out.n == 0);
		return;
	}
	ASSERT(out.n <= conf.n_forward);
	for (size_t i = 0; i < out.n; i++) {
		struct str v = out.fields[i].value;

		ASSERT(v.len > 0 && v.len <= POLICY_JWT_CLAIM_MAX);
		ASSERT(fuzz_view_in(v, out.buf, sizeof out.buf));
		for (size_t k = 0; k < v.len; k++)
			ASSERT((unsigned char)v.p[k] >= 0x20 && v.p[k] != 0x7f);
	}
}

static void
signed_claims(const char *in, size_t len)
{
	const char *nl = memchr(in, '\n', len);
	size_t hl, pl, n;
	char *tok;
	unsigned char mac[32];
	unsigned int maclen = 0;

	if (nl == NULL)
		return;
	hl = (size_t)(nl - in);
	pl = len - hl - 1;
	tok = malloc((hl + pl) / 3 * 4 + 64 + 16);
	ASSERT(tok != NULL);
	n = (size_t)policy_b64url_encode((const unsigned char *)in, hl, tok, hl / 3 * 4 + 5);
	tok[n++] = '.';
	n += (size_t)policy_b64url_encode(
	    (const unsigned char *)nl + 1, pl, tok + n, pl / 3 * 4 + 5);
	ASSERT(HMAC(EVP_sha256(), a1_secret, a1_len, (const unsigned char *)tok, n, mac, &maclen) !=
	       NULL);
	tok[n++] = '.';
	n += (size_t)policy_b64url_encode(mac, maclen, tok + n, 48);
	verify(str_make(tok, n));
	free(tok);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in, err[512];
	struct str bearer;
	struct policy_jwks *ks = NULL;

	if (size < 1)
		return 0;
	setup();
	in = malloc(size - 1 > 0 ? size - 1 : 1);
	ASSERT(in != NULL);
	if (size > 1)
		memcpy(in, data + 1, size - 1);
	switch (data[0] % 3) {
	case 0:
		if (policy_jwt_bearer(str_make(in, size - 1), &bearer) == POLICY_JWT_OK) {
			ASSERT(bearer.len > 0 && fuzz_view_in(bearer, in, size - 1));
			verify(bearer);
		}
		verify(str_make(in, size - 1));
		break;
	case 1:
		signed_claims(in, size - 1);
		break;
	case 2:
		err[0] = '\0';
		if (policy_jwks_parse("fuzz", in, size - 1, &ks, err, sizeof err) == 0) {
			ASSERT(policy_jwks_count(ks) > 0 &&
			       policy_jwks_count(ks) <= POLICY_JWKS_KEYS_MAX);
			policy_jwks_unref(&ks);
		} else {
			ASSERT(err[0] != '\0' && ks == NULL);
		}
		break;
	}
	free(in);
	return 0;
}
