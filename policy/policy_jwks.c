/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * policy/policy_jwks.c — JWK sets (RFC 7517) for the JWT verifier: load,
 * select a key for a token, verify a signature.
 *
 * Model: a set is parsed once (jansson, at load, on the configuration
 * thread) into an immutable, refcounted array of keys whose OpenSSL objects
 * are built then — an EVP_PKEY for RSA and EC keys (the EC point checked on
 * the curve), a keyed HMAC context for oct keys — plus one SHA-256 fetched
 * for the set.  A request reads the set only; a reload builds a new set and
 * the old one lives until its last holder lets go.
 *
 * What a key may verify is settled at load and checked at selection: its kty
 * fixes the family (RSA → RS256, EC P-256 → ES256, oct → HS256), its alg, when
 * given, must be that one, and keys marked for encryption (use "enc", or
 * key_ops without "verify") are not taken at all.  So a token cannot choose
 * how a key is used: an HS256 token naming an RSA key is refused before any
 * MAC is computed with the public key as its secret (alg confusion).
 */
#include "config.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "core/assert.h"
#include "core/xmalloc.h"
#include "policy/policy_token.h"
#include "policy/policy_token_int.h"

enum jwk_kty {
	JWK_RSA = 0,
	JWK_EC,
	JWK_OCT,
};

struct policy_jwk {
	char kid[POLICY_JWKS_KID_MAX + 1];
	size_t kid_len;
	bool has_kid;
	enum jwk_kty kty;
	int alg;                 /* enum policy_jwt_alg, or -1 when the JWK names none */
	EVP_PKEY *pkey;          /* RSA, EC */
	struct policy_hmac *mac; /* oct */
	size_t sig_len;          /* the signature size this key verifies */
	const EVP_MD *md;        /* the set's SHA-256 */
};

struct policy_jwks {
	atomic_uint refs;
	size_t n, skipped;
	EVP_MD *sha256;
	struct policy_jwk keys[POLICY_JWKS_KEYS_MAX];
};

static const char *const jwk_alg_names[] = {
    [POLICY_JWT_ALG_RS256] = "RS256",
    [POLICY_JWT_ALG_ES256] = "ES256",
    [POLICY_JWT_ALG_HS256] = "HS256",
};

static void
jwks_free(struct policy_jwks *ks)
{
	for (size_t i = 0; i < ks->n; i++) {
		EVP_PKEY_free(ks->keys[i].pkey);
		policy_hmac_free(ks->keys[i].mac);
	}
	EVP_MD_free(ks->sha256);
	OPENSSL_cleanse(ks, sizeof *ks);
	free(ks);
}

/* A base64url member of a JWK decoded into out; its length or -1 (why set). */
static int
jwk_b64(json_t *jk, const char *member, unsigned char *out, size_t outlen, const char **why)
{
	json_t *v = json_object_get(jk, member);
	int n;

	if (!json_is_string(v)) {
		*why = "a member is missing or not a string";
		return -1;
	}
	n = policy_b64_decode(
	    str_make(json_string_value(v), json_string_length(v)), POLICY_B64_URL, out, outlen);
	if (n <= 0)
		*why = "a member is not base64url or too long";
	return n;
}

static EVP_PKEY *
pkey_fromdata(const char *type, OSSL_PARAM *params)
{
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY *pkey = NULL;

	if (pctx == NULL || EVP_PKEY_fromdata_init(pctx) != 1 ||
	    EVP_PKEY_fromdata(pctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pkey = NULL;
	EVP_PKEY_CTX_free(pctx);
	if (pkey != NULL) {
		/* The public key is sane: an EC point on its curve, an RSA n and e that fit. */
		EVP_PKEY_CTX *cctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
		int ok = cctx != NULL && EVP_PKEY_public_check(cctx) == 1;

		EVP_PKEY_CTX_free(cctx);
		if (!ok) {
			EVP_PKEY_free(pkey);
			pkey = NULL;
		}
	}
	return pkey;
}

static int
jwk_rsa(json_t *jk, struct policy_jwk *k, const char **why)
{
	unsigned char n[1024], e[16];
	int nl = jwk_b64(jk, "n", n, sizeof n, why), el;
	OSSL_PARAM_BLD *bld;
	OSSL_PARAM *params = NULL;
	BIGNUM *bn_n = NULL, *bn_e = NULL;

	if (nl < 0)
		return -1;
	el = jwk_b64(jk, "e", e, sizeof e, why);
	if (el < 0)
		return -1;
	bn_n = BN_bin2bn(n, nl, NULL);
	if (bn_n != NULL && BN_num_bits(bn_n) < POLICY_JWKS_RSA_MIN) {
		BN_free(bn_n);
		*why = "RSA modulus shorter than 2048 bits";
		return -1;
	}
	bld = OSSL_PARAM_BLD_new();
	bn_e = BN_bin2bn(e, el, NULL);
	if (bld != NULL && bn_n != NULL && bn_e != NULL &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) == 1 &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) == 1)
		params = OSSL_PARAM_BLD_to_param(bld);
	if (params != NULL)
		k->pkey = pkey_fromdata("RSA", params);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn_n);
	BN_free(bn_e);
	if (k->pkey == NULL) {
		*why = "RSA n and e do not make a public key";
		return -1;
	}
	k->sig_len = (size_t)EVP_PKEY_get_size(k->pkey);
	return 0;
}

static int
jwk_ec(json_t *jk, struct policy_jwk *k, const char **why)
{
	unsigned char pub[1 + 64 + 3];
	char group[] = "P-256";
	OSSL_PARAM params[3];

	/* Uncompressed point (SEC 1 §2.3.3): 04 || x || y, 32 bytes each for P-256. */
	pub[0] = 0x04;
	if (jwk_b64(jk, "x", pub + 1, 33, why) != 32 || jwk_b64(jk, "y", pub + 33, 35, why) != 32) {
		*why = "EC x and y must be 32 bytes each (P-256)";
		return -1;
	}
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pub, 65);
	params[2] = OSSL_PARAM_construct_end();
	k->pkey = pkey_fromdata("EC", params);
	if (k->pkey == NULL) {
		*why = "EC x and y are not a point of P-256";
		return -1;
	}
	k->sig_len = 64;
	return 0;
}

static int
jwk_oct(json_t *jk, struct policy_jwk *k, const char **why)
{
	unsigned char secret[512 + 3];
	int n = jwk_b64(jk, "k", secret, sizeof secret, why);

	if (n < 0)
		return -1;
	if (n < POLICY_JWKS_OCT_MIN) {
		OPENSSL_cleanse(secret, sizeof secret);
		*why = "oct k shorter than 32 bytes (RFC 7518 §3.2)";
		return -1;
	}
	k->mac = policy_hmac_prepare(secret, (size_t)n);
	OPENSSL_cleanse(secret, sizeof secret);
	if (k->mac == NULL) {
		*why = "OpenSSL cannot key HMAC-SHA256";
		return -1;
	}
	k->sig_len = POLICY_HMAC_LEN;
	return 0;
}

/* False when the JWK's use or key_ops rule out verifying signatures. */
static bool
jwk_for_signatures(json_t *jk)
{
	json_t *use = json_object_get(jk, "use"), *ops = json_object_get(jk, "key_ops"), *op;
	size_t i;

	if (use != NULL && (!json_is_string(use) || strcmp(json_string_value(use), "sig") != 0))
		return false;
	if (ops == NULL)
		return true;
	if (!json_is_array(ops))
		return false;
	json_array_foreach(ops, i,
	    op) if (json_is_string(op) && strcmp(json_string_value(op), "verify") == 0) return true;
	return false;
}

/* 1: key taken into k; 0: skipped (not for us); -1: broken (why set). */
static int
jwk_parse(json_t *jk, struct policy_jwk *k, const char **why)
{
	json_t *kty = json_object_get(jk, "kty"), *kid = json_object_get(jk, "kid");
	json_t *alg = json_object_get(jk, "alg"), *crv;
	const char *t;

	if (!json_is_object(jk) || !json_is_string(kty)) {
		*why = "not an object with a kty string";
		return -1;
	}
	if (!jwk_for_signatures(jk))
		return 0;
	t = json_string_value(kty);
	if (strcmp(t, "RSA") == 0)
		k->kty = JWK_RSA;
	else if (strcmp(t, "EC") == 0)
		k->kty = JWK_EC;
	else if (strcmp(t, "oct") == 0)
		k->kty = JWK_OCT;
	else
		return 0; /* OKP and the like: not ours */
	k->alg = -1;
	if (alg != NULL) {
		if (!json_is_string(alg))
			return 0;
		for (int a = 0; a < 3; a++)
			if (strcmp(json_string_value(alg), jwk_alg_names[a]) == 0)
				k->alg = a;
		if (k->alg < 0)
			return 0; /* PS256, ES384...: not ours */
		if ((int)k->kty != k->alg) {
			*why = "alg does not fit kty";
			return -1;
		}
	}
	if (k->kty == JWK_EC) {
		crv = json_object_get(jk, "crv");
		if (!json_is_string(crv)) {
			*why = "EC key without crv";
			return -1;
		}
		if (strcmp(json_string_value(crv), "P-256") != 0)
			return 0;
	}
	if (kid != NULL) {
		if (!json_is_string(kid) || json_string_length(kid) > POLICY_JWKS_KID_MAX) {
			*why = "kid not a string of at most 128 bytes";
			return -1;
		}
		k->has_kid = true;
		k->kid_len = json_string_length(kid);
		memcpy(k->kid, json_string_value(kid), k->kid_len);
	}
	switch (k->kty) {
	case JWK_RSA:
		return jwk_rsa(jk, k, why) == 0 ? 1 : -1;
	case JWK_EC:
		return jwk_ec(jk, k, why) == 0 ? 1 : -1;
	case JWK_OCT:
		return jwk_oct(jk, k, why) == 0 ? 1 : -1;
	}
	UNREACHABLE("kty");
}

int
policy_jwks_parse(const char *name, const char *json, size_t len, struct policy_jwks **out,
    char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr), *keys, *jk;
	struct policy_jwks *ks;
	size_t i;

	if (root == NULL) {
		snprintf(err, errlen, "%s:%d:%d: %s", name, jerr.line, jerr.column, jerr.text);
		return -1;
	}
	keys = json_object_get(root, "keys");
	if (!json_is_object(root) || !json_is_array(keys)) {
		snprintf(err, errlen, "%s: not a JWK Set ({\"keys\": [...]})", name);
		json_decref(root);
		return -1;
	}
	ks = xcalloc(1, sizeof *ks);
	atomic_init(&ks->refs, 1);
	ks->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (ks->sha256 == NULL) {
		snprintf(err, errlen, "%s: OpenSSL has no SHA256", name);
		goto fail;
	}
	json_array_foreach(keys, i, jk)
	{
		struct policy_jwk *k;
		const char *why = NULL;
		int rc;

		if (ks->n == POLICY_JWKS_KEYS_MAX) {
			snprintf(err, errlen, "%s: more than %d keys", name, POLICY_JWKS_KEYS_MAX);
			goto fail;
		}
		k = &ks->keys[ks->n];
		rc = jwk_parse(jk, k, &why);
		if (rc < 0) {
			snprintf(err, errlen, "%s: keys[%zu]: %s", name, i, why);
			/* k may hold a half-built key: it is freed with the set. */
			ks->n++;
			goto fail;
		}
		if (rc == 0) {
			memset(k, 0, sizeof *k);
			ks->skipped++;
			continue;
		}
		k->md = ks->sha256;
		ks->n++;
	}
	if (ks->n == 0) {
		snprintf(err, errlen, "%s: no key usable for RS256, ES256 or HS256", name);
		goto fail;
	}
	json_decref(root);
	*out = ks;
	return 0;
fail:
	json_decref(root);
	jwks_free(ks);
	return -1;
}

int
policy_jwks_load(const char *path, struct policy_jwks **out, char *err, size_t errlen)
{
	char *text;
	size_t len;
	int rc;

	if (policy_read_file(path, POLICY_JWKS_FILE_MAX, &text, &len, err, errlen) != 0)
		return -1;
	rc = policy_jwks_parse(path, text, len, out, err, errlen);
	OPENSSL_cleanse(text, len);
	free(text);
	return rc;
}

int
policy_jwks_reload(struct policy_jwks **slot, const char *path, char *err, size_t errlen)
{
	struct policy_jwks *fresh;

	if (policy_jwks_load(path, &fresh, err, errlen) != 0)
		return -1;
	policy_jwks_unref(slot);
	*slot = fresh;
	return 0;
}

struct policy_jwks *
policy_jwks_ref(struct policy_jwks *ks)
{
	atomic_fetch_add_explicit(&ks->refs, 1, memory_order_relaxed);
	return ks;
}

void
policy_jwks_unref(struct policy_jwks **ksp)
{
	struct policy_jwks *ks = *ksp;

	if (ks == NULL)
		return;
	*ksp = NULL;
	if (atomic_fetch_sub_explicit(&ks->refs, 1, memory_order_acq_rel) == 1)
		jwks_free(ks);
}

size_t
policy_jwks_count(const struct policy_jwks *ks)
{
	return ks->n;
}

size_t
policy_jwks_skipped(const struct policy_jwks *ks)
{
	return ks->skipped;
}

static bool
jwk_allows(const struct policy_jwk *k, enum policy_jwt_alg alg)
{
	/* enum jwk_kty and enum policy_jwt_alg run in the same order: one family each. */
	return (int)k->kty == (int)alg && (k->alg < 0 || k->alg == (int)alg);
}

enum policy_jwt_result
policy_jwks_select(const struct policy_jwks *ks, struct str kid, enum policy_jwt_alg alg,
    const struct policy_jwk **key)
{
	const struct policy_jwk *found = NULL;
	bool kid_seen = false;
	size_t fitting = 0;

	for (size_t i = 0; i < ks->n; i++) {
		const struct policy_jwk *k = &ks->keys[i];

		if (kid.p != NULL) {
			if (!k->has_kid || !str_eq(kid, str_make(k->kid, k->kid_len)))
				continue;
			kid_seen = true;
		}
		if (jwk_allows(k, alg) && fitting++ == 0)
			found = k;
	}
	if (found != NULL && (kid.p != NULL || fitting == 1)) {
		*key = found;
		return POLICY_JWT_OK;
	}
	return kid_seen ? POLICY_JWT_KEY_MISMATCH : POLICY_JWT_UNKNOWN_KEY;
}

/* DER INTEGER of a 32-byte unsigned big-endian value; its length. */
static size_t
der_int(const unsigned char *v, unsigned char *out)
{
	size_t skip = 0, n = 0;

	while (skip < 31 && v[skip] == 0)
		skip++;
	out[n++] = 0x02;
	if (v[skip] & 0x80) {
		out[n++] = (unsigned char)(32 - skip + 1);
		out[n++] = 0x00;
	} else {
		out[n++] = (unsigned char)(32 - skip);
	}
	memcpy(out + n, v + skip, 32 - skip);
	return n + 32 - skip;
}

/* JOSE r||s (RFC 7518 §3.4) as the DER ECDSA-Sig-Value OpenSSL verifies; its length. */
static size_t
es256_der(const unsigned char rs[64], unsigned char der[72])
{
	unsigned char body[70];
	size_t bl = der_int(rs, body);

	bl += der_int(rs + 32, body + bl);
	der[0] = 0x30;
	der[1] = (unsigned char)bl; /* at most 70: short form */
	memcpy(der + 2, body, bl);
	return bl + 2;
}

bool
policy_jwk_verify(const struct policy_jwk *k, enum policy_jwt_alg alg, const unsigned char *input,
    size_t len, const unsigned char *sig, size_t siglen)
{
	unsigned char der[72], mac[POLICY_HMAC_LEN];
	EVP_MD_CTX *ctx;
	bool ok;

	if (!jwk_allows(k, alg) || siglen != k->sig_len)
		return false;
	if (alg == POLICY_JWT_ALG_HS256) {
		ok = policy_hmac(k->mac, input, len, mac) &&
		     CRYPTO_memcmp(mac, sig, POLICY_HMAC_LEN) == 0;
		OPENSSL_cleanse(mac, sizeof mac);
		return ok;
	}
	if (alg == POLICY_JWT_ALG_ES256) {
		siglen = es256_der(sig, der);
		sig = der;
	}
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL)
		return false;
	ok = EVP_DigestVerifyInit(ctx, NULL, k->md, NULL, k->pkey) == 1 &&
	     EVP_DigestVerify(ctx, sig, siglen, input, len) == 1;
	EVP_MD_CTX_free(ctx);
	return ok;
}
