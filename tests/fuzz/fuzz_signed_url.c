/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/fuzz/fuzz_signed_url.c — signed URLs (policy/policy_signed.c) and
 * their key files.
 *
 * The first byte picks the mode:
 *   0  the rest is "PATH\nQUERY\nCLIENT": policy_signed_verify against fixed
 *      keys, and policy_signed_strip of the query;
 *   1  the rest is "PATH\nEXP\nKID\nIP\nPREFIX\nCLIENT": a URL signed here
 *      with key k1 (every value percent-encoded), so the checks after the
 *      signature (expiry, address, prefix) are reached;
 *   2  the rest is a key file for policy_signed_keys_parse.
 * Checked: every result is one of the table's; a signed URL whose signature
 * was computed here never fails as bad_signature or unknown_key unless its
 * kid is not k1; the stripped query is no longer than the query, lies in the
 * output buffer and holds no signature parameter; a failed key file says why.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/assert.h"
#include "policy/policy_token.h"
#include "tests/fuzz/fuzz.h"

#define NOW 1700000000
static const char key1[] = "0123456789abcdef0123456789abcdef";
static const char keys_text[] = "k1 MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n"
                                "k2 a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2traw\n";
static struct policy_signed_keys *keys;
static struct policy_signed_conf conf;

static void
setup(void)
{
	char err[256];

	if (keys != NULL)
		return;
	ASSERT(policy_signed_keys_parse(
	           "fuzz", keys_text, strlen(keys_text), &keys, err, sizeof err) == 0);
	policy_signed_conf_defaults(&conf);
}

/* Splits in at '\n' into at most n fields; the count. */
static size_t
fields(const char *in, size_t len, struct str *f, size_t n)
{
	size_t k = 0, start = 0;

	for (size_t i = 0; i <= len && k < n; i++)
		if (i == len || in[i] == '\n') {
			f[k++] = str_make(in + start, i - start);
			start = i + 1;
		}
	return k;
}

static void
strip_check(struct str query)
{
	char *out = malloc(query.len + 1);
	size_t pos = 0;
	int n;

	ASSERT(out != NULL);
	n = policy_signed_strip(query, out, query.len + 1);
	ASSERT(n >= 0 && (size_t)n <= query.len && out[n] == '\0');
	/* No parameter left is one of the signature's. */
	while (pos <= (size_t)n && n > 0) {
		const char *amp = memchr(out + pos, '&', (size_t)n - pos);
		size_t end = amp != NULL ? (size_t)(amp - out) : (size_t)n;
		const char *eq = memchr(out + pos, '=', end - pos);

		ASSERT(!policy_signed_is_param(
		    str_make(out + pos, (eq != NULL ? (size_t)(eq - out) : end) - pos)));
		pos = end + 1;
	}
	free(out);
}

static enum policy_signed_result
verify(struct str path, struct str query, struct str client)
{
	struct policy_signed_req r = {path, query, client, NOW};
	enum policy_signed_result res = policy_signed_verify(keys, &conf, &r);

	ASSERT((unsigned)res < POLICY_SIGNED_N_RESULTS);
	ASSERT(policy_signed_strerror(res) != NULL);
	strip_check(query);
	return res;
}

static size_t
pct_put(char *out, struct str v)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (size_t i = 0; i < v.len; i++) {
		out[n++] = '%';
		out[n++] = hex[(unsigned char)v.p[i] >> 4];
		out[n++] = hex[(unsigned char)v.p[i] & 15];
	}
	return n;
}

static void
signed_url(const char *in, size_t len)
{
	struct str f[6];
	char tosign[4096], sig[64], *query;
	unsigned char mac[32];
	unsigned int maclen = 0;
	size_t n = 0;
	int sl;
	enum policy_signed_result res;

	if (fields(in, len, f, 6) != 6 || f[0].len > 2048 || f[4].len > 2048)
		return;
	sl = policy_signed_string_to_sign(
	    f[4].len > 0, f[4].len > 0 ? f[4] : f[0], f[1], f[2], f[3], tosign, sizeof tosign);
	if (sl < 0)
		return;
	HMAC(EVP_sha256(), key1, 32, (const unsigned char *)tosign, (size_t)sl, mac, &maclen);
	policy_b64url_encode(mac, maclen, sig, sizeof sig);
	query = malloc(3 * len + 128);
	ASSERT(query != NULL);
	memcpy(query + n, "exp=", 4), n += 4;
	n += pct_put(query + n, f[1]);
	memcpy(query + n, "&kid=", 5), n += 5;
	n += pct_put(query + n, f[2]);
	if (f[3].len > 0) {
		memcpy(query + n, "&ip=", 4), n += 4;
		n += pct_put(query + n, f[3]);
	}
	if (f[4].len > 0) {
		memcpy(query + n, "&prefix=", 8), n += 8;
		n += pct_put(query + n, f[4]);
	}
	n += (size_t)snprintf(query + n, 64, "&sig=%s", sig);
	res = verify(f[0], str_make(query, n), f[5]);
	if (str_eq(f[2], STR_LIT("k1")))
		ASSERT(res != POLICY_SIGNED_BAD_SIGNATURE && res != POLICY_SIGNED_UNKNOWN_KEY);
	free(query);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy_signed_keys *ks = NULL;
	struct str f[3];
	char *in, err[256];

	if (size < 1)
		return 0;
	setup();
	in = malloc(size > 1 ? size - 1 : 1);
	ASSERT(in != NULL);
	if (size > 1)
		memcpy(in, data + 1, size - 1);
	switch (data[0] % 3) {
	case 0:
		if (fields(in, size - 1, f, 3) == 3)
			verify(f[0], f[1], f[2]);
		else
			strip_check(str_make(in, size - 1));
		break;
	case 1:
		signed_url(in, size - 1);
		break;
	case 2:
		err[0] = '\0';
		if (policy_signed_keys_parse("fuzz", in, size - 1, &ks, err, sizeof err) == 0)
			policy_signed_keys_unref(&ks);
		else
			ASSERT(err[0] != '\0' && ks == NULL);
		break;
	}
	free(in);
	return 0;
}
