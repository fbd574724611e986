/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * policy/policy_token.c — what the token verifiers share: base64 (RFC 4648
 * §4) and base64url (§5), and HMAC-SHA256 under a key prepared at load.
 *
 * Base64: JOSE asks for base64url without padding (RFC 7515 §2); key files
 * written by hand or by `openssl rand -base64` use the standard alphabet with
 * padding, so the key readers accept both.  Decoding is strict: each value has
 * exactly one accepted encoding (unused low bits must be zero), so a token
 * cannot be re-spelled into another string that verifies.
 *
 * HMAC: OpenSSL 3's one-shot HMAC() fetches the algorithm on every call; a
 * context keyed once and duplicated per use skips the fetch and the key
 * schedule.  The prepared context is never written after load.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/params.h>

#include "policy/policy_token.h"
#include "policy/policy_token_int.h"

static const char b64url_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The 6-bit value of c, or -1. */
static int
b64_val(unsigned char c, enum policy_b64_mode mode)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-' || (c == '+' && mode == POLICY_B64_ANY))
		return 62;
	if (c == '_' || (c == '/' && mode == POLICY_B64_ANY))
		return 63;
	return -1;
}

int
policy_b64_decode(struct str in, enum policy_b64_mode mode, unsigned char *out, size_t outlen)
{
	size_t len = in.len, n = 0, rem;
	uint32_t acc = 0;
	unsigned bits = 0;

	if (mode == POLICY_B64_ANY && len % 4 == 0 && len > 0) {
		/* Padding: at most two '=', only at the end of a full quantum. */
		if (in.p[len - 1] == '=')
			len--;
		if (len > 0 && in.p[len - 1] == '=')
			len--;
	}
	rem = len % 4;
	if (rem == 1)
		return -1;
	if ((len / 4) * 3 + (rem ? rem - 1 : 0) > outlen)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int v = b64_val((unsigned char)in.p[i], mode);

		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0) /* non-zero unused bits: not the canonical encoding */
		return -1;
	return (int)n;
}

int
policy_b64url_encode(const unsigned char *in, size_t len, char *out, size_t outlen)
{
	size_t need = (len / 3) * 4 + (len % 3 ? len % 3 + 1 : 0), n = 0;

	if (need >= outlen)
		return -1;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		out[n++] = b64url_chars[(v >> 18) & 63];
		out[n++] = b64url_chars[(v >> 12) & 63];
		if (i + 1 < len)
			out[n++] = b64url_chars[(v >> 6) & 63];
		if (i + 2 < len)
			out[n++] = b64url_chars[v & 63];
	}
	out[n] = '\0';
	return (int)n;
}

EVP_MAC_CTX *
policy_hmac_prepare(const unsigned char *key, size_t len)
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
	char digest[] = "SHA256";
	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
	    OSSL_PARAM_construct_end(),
	};

	EVP_MAC_free(mac); /* the context holds its own reference */
	if (ctx == NULL)
		return NULL;
	if (EVP_MAC_init(ctx, key, len, params) != 1) {
		EVP_MAC_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

bool
policy_hmac(const EVP_MAC_CTX *prepared, const unsigned char *in, size_t len,
    unsigned char out[POLICY_HMAC_LEN])
{
	/* The duplicate starts where the prepared one stands: keyed, nothing hashed. */
	EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(prepared);
	size_t outl = 0;
	bool ok;

	if (ctx == NULL)
		return false;
	ok = EVP_MAC_update(ctx, in, len) == 1 &&
	     EVP_MAC_final(ctx, out, &outl, POLICY_HMAC_LEN) == 1 && outl == POLICY_HMAC_LEN;
	EVP_MAC_CTX_free(ctx);
	return ok;
}

int
policy_read_file(const char *path, size_t max, char **out, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	buf = malloc(max + 2);
	if (buf == NULL) {
		fclose(f);
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	n = fread(buf, 1, max + 1, f);
	if (ferror(f)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		fclose(f);
		free(buf);
		return -1;
	}
	fclose(f);
	if (n > max) {
		snprintf(err, errlen, "%s: larger than %zu bytes", path, max);
		free(buf);
		return -1;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}
