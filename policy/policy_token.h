/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * policy/policy_token.h — the protected-content verifiers of the edge policy
 * stage: signed URLs (HMAC-SHA256 over a path or a path prefix, an expiry and
 * optionally the client address) and JWT bearer tokens (compact JWS, RS256 /
 * ES256 / HS256 against a JWKS).  doc/protected-content.md gives the formats.
 *
 * This header is the door of three modules, one prefix each:
 *   policy_signed_*  signed URLs and their key files    (policy_signed.c)
 *   policy_jwt_*     bearer tokens: parse and verify     (policy_jwt.c)
 *   policy_jwks_*    JWK sets: load, select, reload      (policy_jwks.c)
 * and what the three share (base64: policy_b64_*, policy_token.c).
 *
 * Model: key material is parsed once when a key file is loaded into an
 * immutable, refcounted set (EVP_PKEYs built then); a request only reads a
 * set.  Verification allocates nothing itself (stack buffers bounded by the
 * size limits below); OpenSSL's verify allocates what it needs.  Any thread
 * may verify against a set it holds a reference to; loading and reloading
 * happen on the thread that owns the configuration.
 *
 * Results are table-driven (STYLE.md §3.4): 0 is success, each failure a
 * distinct negative code with a text (for the error log) and a metric label.
 */
#ifndef OUTPOST_POLICY_TOKEN_H
#define OUTPOST_POLICY_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/str.h"

/* ---- base64 (policy_b64.c) ---- */

enum policy_b64_mode {
	POLICY_B64_URL = 0, /* RFC 4648 §5 alphabet, no padding (JOSE, RFC 7515 §2) */
	POLICY_B64_ANY,     /* either alphabet, padding optional (key files) */
};

/*
 * Decodes in into out (outlen bytes); the decoded length, or -1 when in holds
 * a byte outside the alphabet, misplaced padding, a length that no encoding
 * has, non-zero unused bits (so each value has one encoding), or does not fit.
 */
int policy_b64_decode(struct str in, enum policy_b64_mode mode, unsigned char *out, size_t outlen);
/* base64url without padding of in[0..len) into out (NUL-terminated); the
 * length written, or -1 when it does not fit. */
int policy_b64url_encode(const unsigned char *in, size_t len, char *out, size_t outlen);

/* ---- signed URLs (policy_signed.c) ---- */

/*
 * X-macro: name, text, metric label.  Order is the order of the checks: a
 * URL is first parsed, then its key found, its signature checked, and only an
 * authentic URL is judged on its expiry, address and prefix.
 */
#define POLICY_SIGNED_RESULTS(X)                                                                   \
	X(OK, "signature valid", "ok")                                                             \
	X(MISSING, "no signature in the query", "missing")                                         \
	X(MALFORMED, "signature parameters malformed", "malformed")                                \
	X(UNKNOWN_KEY, "kid names no key", "unknown_key")                                          \
	X(BAD_SIGNATURE, "signature does not match", "bad_signature")                              \
	X(EXPIRED, "signed URL expired", "expired")                                                \
	X(WRONG_IP, "signed for another client address", "wrong_ip")                               \
	X(WRONG_PREFIX, "path outside the signed prefix", "wrong_prefix")

enum policy_signed_result {
#define POLICY_SIGNED_X_ENUM(name, text, label) POLICY_SIGNED_##name,
	POLICY_SIGNED_RESULTS(POLICY_SIGNED_X_ENUM)
#undef POLICY_SIGNED_X_ENUM
	    POLICY_SIGNED_N_RESULTS
};

/* Text and metric label of a result; "unknown" outside the table. */
const char *policy_signed_strerror(enum policy_signed_result r);
const char *policy_signed_label(enum policy_signed_result r);

#define POLICY_SIGNED_SECRET_MIN 32   /* bytes of a key's secret, at least */
#define POLICY_SIGNED_SECRET_MAX 128  /* and at most */
#define POLICY_SIGNED_KID_MAX    32   /* bytes of a key id: [A-Za-z0-9._-] */
#define POLICY_SIGNED_KEYS_MAX   64   /* keys in one file */
#define POLICY_SIGNED_PREFIX_MAX 2048 /* bytes of a prefix= value, decoded */
#define POLICY_SIGNED_PATH_MAX   8192 /* bytes of a signed path (the cache key's bound) */
#define POLICY_SIGNED_CONTEXT    "outpost-url-v1"

/* What a site's signed_urls settings will hold (config/ fills it). */
struct policy_signed_conf {
	const char *keys_file;  /* one "kid secret" per line; required */
	unsigned leeway_s;      /* default 0: valid while now <= exp + leeway_s */
	bool strip_from_origin; /* default true: the origin never sees the signature */
};
void policy_signed_conf_defaults(struct policy_signed_conf *c);

/* An immutable, refcounted set of signing keys. */
struct policy_signed_keys;

/*
 * Reads a key file: one key per line, "kid secret" (secret in base64 or
 * base64url, padding optional, POLICY_SIGNED_SECRET_MIN..MAX bytes decoded);
 * blank lines and lines starting with '#' ignored; kids unique.  0 and a set
 * with one reference in *out, or -1 with "path:line: reason" in err (the file
 * is never partly taken).  Configuration thread.
 */
int policy_signed_keys_load(
    const char *path, struct policy_signed_keys **out, char *err, size_t errlen);
/* The same from a buffer; name stands for the path in error texts. */
int policy_signed_keys_parse(const char *name, const char *text, size_t len,
    struct policy_signed_keys **out, char *err, size_t errlen);
size_t policy_signed_keys_count(const struct policy_signed_keys *ks);
/* A new reference (any thread). */
struct policy_signed_keys *policy_signed_keys_ref(struct policy_signed_keys *ks);
/* Drops a reference, sets *ksp = NULL; the last one frees (secrets wiped). NULL-safe. */
void policy_signed_keys_unref(struct policy_signed_keys **ksp);
/*
 * Loads path and, on success, puts the new set in *slot and drops the
 * reference *slot held (holders of their own reference keep the old set).  On
 * failure *slot is left as it was and err says why.  0 or -1.
 */
int policy_signed_keys_reload(
    struct policy_signed_keys **slot, const char *path, char *err, size_t errlen);

/* One request as the signed-URL check sees it (views, not owned). */
struct policy_signed_req {
	struct str path;      /* the path after the node's normalization (cache key path) */
	struct str query;     /* the raw query, without '?' */
	struct str client_ip; /* the client address as text ("192.0.2.1", "2001:db8::1") */
	int64_t now_s;        /* Unix time */
};

/*
 * Checks the signature parameters of r->query (exp, kid, sig, optional ip and
 * prefix; doc/protected-content.md).  POLICY_SIGNED_OK or the first check
 * that failed.  No allocation; constant-time comparison of the MAC.
 * Any thread.
 */
enum policy_signed_result policy_signed_verify(const struct policy_signed_keys *ks,
    const struct policy_signed_conf *c, const struct policy_signed_req *r);

/* True when the query parameter named name (raw, as in the query) is one of
 * the signature's (exp, kid, sig, ip, prefix; percent-escapes decoded). */
bool policy_signed_is_param(struct str name);

/*
 * Writes query without the signature parameters into out (outlen bytes,
 * NUL-terminated): the other parameters keep their bytes and order, joined by
 * '&'.  The length written (0 when nothing is left), or -1 when it does not
 * fit (out has at least query.len + 1 bytes: it always fits then).  No
 * allocation.  Used for the cache key, and for the origin's request when
 * strip_from_origin is set.
 */
int policy_signed_strip(struct str query, char *out, size_t outlen);

/*
 * The string a signer MACs (doc/protected-content.md), written into out
 * (NUL-terminated): POLICY_SIGNED_CONTEXT, "path" or "prefix", the path or
 * prefix, exp, kid and ip (may be empty), joined by "\n".  The length, or -1
 * when it does not fit or a field holds a control byte.  For signing tools
 * and tests; the verifier builds the same string.
 */
int policy_signed_string_to_sign(bool prefix, struct str resource, struct str exp, struct str kid,
    struct str ip, char *out, size_t outlen);

/* ---- JWT bearer tokens (policy_jwt.c) ---- */

#define POLICY_JWT_RESULTS(X)                                                                      \
	X(OK, "token valid", "ok")                                                                 \
	X(MISSING, "no bearer token", "missing")                                                   \
	X(TOO_LARGE, "token larger than allowed", "too_large")                                     \
	X(MALFORMED, "token is not a compact JWS", "malformed")                                    \
	X(BAD_JSON, "token header or claims are not a JSON object", "bad_json")                    \
	X(BAD_ALG, "alg not RS256, ES256 or HS256", "bad_alg")                                     \
	X(UNKNOWN_KEY, "no key for the token's kid", "unknown_key")                                \
	X(KEY_MISMATCH, "the key does not allow the token's alg", "key_mismatch")                  \
	X(BAD_SIGNATURE, "signature does not verify", "bad_signature")                             \
	X(BAD_CLAIMS, "claims of the wrong type, or exp missing", "bad_claims")                    \
	X(EXPIRED, "token expired", "expired")                                                     \
	X(NOT_YET_VALID, "token not valid yet (nbf)", "not_yet_valid")                             \
	X(BAD_AUDIENCE, "aud names none of our audiences", "bad_audience")                         \
	X(BAD_ISSUER, "iss is not the expected issuer", "bad_issuer")

enum policy_jwt_result {
#define POLICY_JWT_X_ENUM(name, text, label) POLICY_JWT_##name,
	POLICY_JWT_RESULTS(POLICY_JWT_X_ENUM)
#undef POLICY_JWT_X_ENUM
	    POLICY_JWT_N_RESULTS
};

const char *policy_jwt_strerror(enum policy_jwt_result r);
const char *policy_jwt_label(enum policy_jwt_result r);

#define POLICY_JWT_TOKEN_MAX   16384 /* hard cap on max_token_bytes */
#define POLICY_JWT_AUD_MAX     8     /* audiences a site may accept */
#define POLICY_JWT_FORWARD_MAX 8     /* claims forwarded as headers */
#define POLICY_JWT_CLAIM_MAX   256   /* bytes of one forwarded value */
#define POLICY_JWT_JSON_DEPTH  16    /* nesting allowed inside header and claims */

/* A claim forwarded to the origin as a request header. */
struct policy_jwt_forward {
	const char *claim;  /* top-level claim name, e.g. "sub" */
	const char *header; /* e.g. "X-User"; the request step removes any client copy */
};

/* The algs a conf may allow (policy_jwt_conf.algs). */
#define POLICY_JWT_RS256 (1u << 0)
#define POLICY_JWT_ES256 (1u << 1)
#define POLICY_JWT_HS256 (1u << 2)

/* What a site's jwt settings will hold (config/ fills it; strings are views). */
struct policy_jwt_conf {
	const char *jwks_file; /* required */
	unsigned algs;         /* POLICY_JWT_RS256 | ...: the algs accepted; default 0: all three */
	const char *issuer;    /* default NULL: iss not checked */
	const char *audiences[POLICY_JWT_AUD_MAX]; /* the token's aud must name one of them */
	size_t n_audiences;                        /* default 0: aud not checked */
	unsigned leeway_s;      /* default 30: clock skew allowed on exp and nbf */
	bool require_exp;       /* default true */
	size_t max_token_bytes; /* default 8192, at most POLICY_JWT_TOKEN_MAX */
	struct policy_jwt_forward forward[POLICY_JWT_FORWARD_MAX];
	size_t n_forward; /* default 0 */
};
void policy_jwt_conf_defaults(struct policy_jwt_conf *c);
/*
 * Checks a filled conf: 0, or -1 with the reason in err (a forwarded header
 * name that is not a token, a claim name empty or too long, too many
 * entries, max_token_bytes out of range).  For config/ to call when wiring.
 */
int policy_jwt_conf_check(const struct policy_jwt_conf *c, char *err, size_t errlen);

/* The claims a verified token forwards: fields[i] for forward[] entries that were present. */
struct policy_jwt_claims {
	size_t n;
	struct {
		const char *header; /* the conf's string */
		struct str value;   /* into buf: no CR, LF, NUL or other control byte */
	} fields[POLICY_JWT_FORWARD_MAX];
	int64_t exp; /* the token's exp, or 0 when it has none */
	char buf[POLICY_JWT_FORWARD_MAX * POLICY_JWT_CLAIM_MAX];
};

/*
 * The token of an Authorization field value: "Bearer" (any case), one or more
 * spaces, token68 (RFC 6750 §2.1).  POLICY_JWT_OK and a view into value,
 * POLICY_JWT_MISSING for an empty value or another scheme,
 * POLICY_JWT_MALFORMED for a bearer value that is not a token68.
 */
enum policy_jwt_result policy_jwt_bearer(struct str value, struct str *token);

struct policy_jwks;

/*
 * Verifies a compact JWS (RFC 7515 §7.1) as a JWT (RFC 7519 §7.2) against ks:
 * alg RS256, ES256 or HS256 only, the key chosen by kid (a token without kid
 * needs a set with exactly one key for its alg), its kty, alg and use
 * matching; then exp / nbf with c->leeway_s, aud, iss; then the claims of
 * c->forward copied into *out (may be NULL).  POLICY_JWT_OK or the first
 * check that failed.  No allocation beyond OpenSSL's verify.  Any
 * thread.
 */
enum policy_jwt_result policy_jwt_verify(const struct policy_jwks *ks,
    const struct policy_jwt_conf *c, struct str token, int64_t now_s,
    struct policy_jwt_claims *out);

/* ---- JWK sets (policy_jwks.c) ---- */

#define POLICY_JWKS_KEYS_MAX 64
#define POLICY_JWKS_FILE_MAX (1024 * 1024)
#define POLICY_JWKS_RSA_MIN  2048 /* bits of an RSA modulus, at least */
#define POLICY_JWKS_OCT_MIN  32   /* bytes of an HS256 key (RFC 7518 §3.2) */
#define POLICY_JWKS_KID_MAX  128

/*
 * Parses a JWK Set (RFC 7517 §5) from a buffer: {"keys": [...]}.  Taken: RSA
 * (n, e; modulus >= POLICY_JWKS_RSA_MIN bits), EC P-256 (x, y; the point
 * checked on the curve) and oct (k, >= POLICY_JWKS_OCT_MIN bytes), each with
 * optional kid, alg (RS256 / ES256 / HS256 and matching the kty) and use
 * ("sig").  Skipped, and counted: keys for encryption (use "enc", key_ops
 * without "verify"), other kty, curves or algs.  A taken kind with a bad
 * member fails the whole set.  0 and a set with one reference in *out, or -1
 * with "name: keys[i]: reason" in err.  Configuration thread.
 */
int policy_jwks_parse(const char *name, const char *json, size_t len, struct policy_jwks **out,
    char *err, size_t errlen);
/* The same from a file (at most POLICY_JWKS_FILE_MAX bytes). */
int policy_jwks_load(const char *path, struct policy_jwks **out, char *err, size_t errlen);
/* Loads path into *slot as policy_signed_keys_reload does: the old set stays on error. */
int policy_jwks_reload(struct policy_jwks **slot, const char *path, char *err, size_t errlen);
struct policy_jwks *policy_jwks_ref(struct policy_jwks *ks);
void policy_jwks_unref(struct policy_jwks **ksp);
size_t policy_jwks_count(const struct policy_jwks *ks);   /* keys taken */
size_t policy_jwks_skipped(const struct policy_jwks *ks); /* keys skipped */

#endif
