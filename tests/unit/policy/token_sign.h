/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/policy/token_sign.h — the signing side of the token verifiers,
 * for tests and tools/bench/micro_token.c only: fresh keys from OpenSSL, their
 * JWKs, and compact JWS tokens signed with them.  Header-only (static
 * functions) so each program stays one file.  Failures abort: a test that
 * cannot make its inputs has nothing to say.
 */
#ifndef OUTPOST_TESTS_TOKEN_SIGN_H
#define OUTPOST_TESTS_TOKEN_SIGN_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "policy/policy_token.h"

static inline void
ts_die(const char *what)
{
	fprintf(stderr, "token_sign: %s failed\n", what);
	abort();
}

/* base64url of in[0..len) appended to out (a buffer of outlen). */
static inline void
ts_b64(const void *in, size_t len, char *out, size_t outlen)
{
	size_t used = strlen(out);

	if (policy_b64url_encode(in, len, out + used, outlen - used) < 0)
		ts_die("b64");
}

static inline EVP_PKEY *
ts_rsa_key(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);

	if (k == NULL)
		ts_die("RSA keygen");
	return k;
}

static inline EVP_PKEY *
ts_ec_key(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

	if (k == NULL)
		ts_die("EC keygen");
	return k;
}

/* The public JWK of an RSA or EC key, with kid (and alg when not NULL). */
static inline void
ts_jwk(EVP_PKEY *k, const char *kid, const char *alg, char *out, size_t outlen)
{
	char a[4096] = "", b[4096] = "";
	unsigned char buf[1024];

	if (EVP_PKEY_is_a(k, "RSA")) {
		BIGNUM *n = NULL, *e = NULL;

		if (EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
		    EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &e) != 1)
			ts_die("RSA params");
		ts_b64(buf, (size_t)BN_bn2bin(n, buf), a, sizeof a);
		ts_b64(buf, (size_t)BN_bn2bin(e, buf), b, sizeof b);
		BN_free(n);
		BN_free(e);
		snprintf(out, outlen,
		    "{\"kty\":\"RSA\",\"kid\":\"%s\"%s%s%s,\"n\":\"%s\",\"e\":\"%s\"}", kid,
		    alg ? ",\"alg\":\"" : "", alg ? alg : "", alg ? "\"" : "", a, b);
	} else {
		size_t len = 0;

		if (EVP_PKEY_get_octet_string_param(
		        k, OSSL_PKEY_PARAM_PUB_KEY, buf, sizeof buf, &len) != 1 ||
		    len != 65)
			ts_die("EC public key");
		ts_b64(buf + 1, 32, a, sizeof a);
		ts_b64(buf + 33, 32, b, sizeof b);
		snprintf(out, outlen,
		    "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"%s\"%s%s%s,\"x\":\"%s\",\"y\":\"%"
		    "s\"}",
		    kid, alg ? ",\"alg\":\"" : "", alg ? alg : "", alg ? "\"" : "", a, b);
	}
}

/* The JWK of an HMAC secret. */
static inline void
ts_jwk_oct(const unsigned char *secret, size_t len, const char *kid, char *out, size_t outlen)
{
	char k[1024] = "";

	ts_b64(secret, len, k, sizeof k);
	snprintf(out, outlen, "{\"kty\":\"oct\",\"kid\":\"%s\",\"k\":\"%s\"}", kid, k);
}

/*
 * A compact JWS of header and payload (JSON texts, taken as they are) signed
 * with alg: "RS256" / "ES256" with pkey, "HS256" with secret, anything else
 * with an empty signature.
 */
static inline void
ts_token(const char *header, const char *payload, const char *alg, EVP_PKEY *pkey,
    const unsigned char *secret, size_t secret_len, char *out, size_t outlen)
{
	unsigned char sig[1024];
	size_t sig_len = 0, input_len;

	out[0] = '\0';
	ts_b64(header, strlen(header), out, outlen);
	strcat(out, ".");
	ts_b64(payload, strlen(payload), out, outlen);
	input_len = strlen(out);
	if (strcmp(alg, "HS256") == 0) {
		unsigned int l = 0;

		if (HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)out,
		        input_len, sig, &l) == NULL)
			ts_die("HMAC");
		sig_len = l;
	} else if (strcmp(alg, "RS256") == 0 || strcmp(alg, "ES256") == 0) {
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();
		unsigned char der[256];
		size_t der_len = sizeof der;

		if (ctx == NULL || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pkey) != 1 ||
		    EVP_DigestSign(ctx, der, &der_len, (const unsigned char *)out, input_len) != 1)
			ts_die("DigestSign");
		EVP_MD_CTX_free(ctx);
		if (alg[0] == 'R') {
			memcpy(sig, der, der_len);
			sig_len = der_len;
		} else {
			/* DER ECDSA-Sig-Value to JOSE r||s (RFC 7518 §3.4). */
			const unsigned char *p = der;
			ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)der_len);

			if (es == NULL || BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32) != 32 ||
			    BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32) != 32)
				ts_die("ECDSA_SIG");
			ECDSA_SIG_free(es);
			sig_len = 64;
		}
	}
	strcat(out, ".");
	if (sig_len > 0)
		ts_b64(sig, sig_len, out, outlen);
}

#endif
