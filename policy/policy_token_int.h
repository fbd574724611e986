/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * policy/policy_token_int.h — inside policy/ only: what the token modules ask
 * of each other.  policy_jwt.c asks a JWK set (policy_jwks.c) for a key and a
 * verification, so the token parser never sees an EVP_PKEY; policy_signed.c
 * and policy_jwks.c share the prepared HMAC of policy_token.c.
 */
#ifndef OUTPOST_POLICY_TOKEN_INT_H
#define OUTPOST_POLICY_TOKEN_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>

#include "core/str.h"
#include "policy/policy_token.h"

#define POLICY_HMAC_LEN 32 /* HMAC-SHA256 */

struct policy_hmac;

/*
 * An HMAC-SHA256 key prepared once (at load) from key[0..len); NULL when
 * OpenSSL fails.  policy_hmac_free wipes it.
 */
struct policy_hmac *policy_hmac_prepare(const unsigned char *key, size_t len);
/* Frees h (NULL is fine) once no thread uses it any more. */
void policy_hmac_free(struct policy_hmac *h);
/*
 * HMAC-SHA256 of in[0..len) under the prepared key h into out.  Any thread
 * may call it on a shared h: each thread keys a context of its own from h
 * on its first use and re-initialises it after (no allocation); past
 * POLICY_HMAC_THREADS threads, a copy per call.  False when OpenSSL fails.
 */
bool policy_hmac(
    struct policy_hmac *h, const unsigned char *in, size_t len, unsigned char out[POLICY_HMAC_LEN]);
#define POLICY_HMAC_THREADS 64

/*
 * Reads path whole into a new NUL-terminated buffer (*out, free()), at most
 * max bytes.  0, or -1 with "path: reason" in err.
 */
int policy_read_file(
    const char *path, size_t max, char **out, size_t *len, char *err, size_t errlen);

enum policy_jwt_alg {
	POLICY_JWT_ALG_RS256 = 0,
	POLICY_JWT_ALG_ES256,
	POLICY_JWT_ALG_HS256,
};

struct policy_jwk;

/*
 * The key a token names by kid (kid.p == NULL: the token has none) for alg.
 * POLICY_JWT_OK and the key in *key; POLICY_JWT_UNKNOWN_KEY when no key has
 * that kid (without kid: when not exactly one key allows alg);
 * POLICY_JWT_KEY_MISMATCH when keys have that kid but none allows alg (its
 * kty, or its alg / use / key_ops, forbid it: no alg confusion).
 */
enum policy_jwt_result policy_jwks_select(const struct policy_jwks *ks, struct str kid,
    enum policy_jwt_alg alg, const struct policy_jwk **key);

/*
 * Verifies sig over input[0..len) with key for alg (which the key allows):
 * RS256 PKCS#1 v1.5, ES256 JOSE r||s (64 bytes, RFC 7518 §3.4), HS256
 * compared in constant time.  True when it verifies.
 */
bool policy_jwk_verify(const struct policy_jwk *key, enum policy_jwt_alg alg,
    const unsigned char *input, size_t len, const unsigned char *sig, size_t siglen);

#endif
