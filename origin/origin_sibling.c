/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * origin/origin_sibling.c — the siblings' hop marker (see origin_sibling.h).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "origin/origin_sibling.h"

/* HMAC-SHA256 of the marker's text for that request into mac. */
static bool
sibling_mac(const struct origin_sibling_conf *c, unsigned long long secs, struct str method,
    struct str host, struct str target, unsigned char mac[32])
{
	unsigned char buf[8192];
	unsigned int maclen = 0;
	int n = snprintf((char *)buf, sizeof buf, "outpost-sibling\n%llu\n%.*s\n%.*s\n%.*s", secs,
	    (int)method.len, method.p, (int)host.len, host.p, (int)target.len, target.p);

	if (n < 0 || (size_t)n >= sizeof buf || c->key == NULL)
		return false;
	return HMAC(EVP_sha256(), c->key, (int)c->key_len, buf, (size_t)n, mac, &maclen) != NULL &&
	       maclen == 32;
}

size_t
origin_sibling_mark(const struct origin_sibling_conf *c, struct str method, struct str host,
    struct str target, time_t now, char *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char mac[32];
	int n;

	if (now < 0 || !sibling_mac(c, (unsigned long long)now, method, host, target, mac))
		return 0;
	n = snprintf(out, 22, "%llu.", (unsigned long long)now);
	if (n < 0 || n >= 22)
		return 0;
	for (size_t i = 0; i < sizeof mac; i++) {
		out[n++] = hex[mac[i] >> 4];
		out[n++] = hex[mac[i] & 15];
	}
	out[n] = '\0';
	return (size_t)n;
}

bool
origin_sibling_check(const struct origin_sibling_conf *c, struct str value, struct str method,
    struct str host, struct str target, time_t now)
{
	unsigned long long secs = 0;
	unsigned char want[32], got[32];
	size_t i = 0, digits;

	while (i < value.len && value.p[i] >= '0' && value.p[i] <= '9' && i < 19)
		secs = secs * 10 + (unsigned long long)(value.p[i++] - '0');
	digits = i;
	if (digits == 0 || i >= value.len || value.p[i] != '.' || value.len - i - 1 != 64)
		return false;
	if (now < 0 || secs + ORIGIN_SIBLING_SKEW_S < (unsigned long long)now ||
	    secs > (unsigned long long)now + ORIGIN_SIBLING_SKEW_S)
		return false;
	for (size_t k = 0; k < 32; k++) {
		unsigned v = 0;

		for (size_t d = 0; d < 2; d++) {
			char ch = value.p[i + 1 + 2 * k + d];

			if (ch >= '0' && ch <= '9')
				v = v << 4 | (unsigned)(ch - '0');
			else if (ch >= 'a' && ch <= 'f')
				v = v << 4 | (unsigned)(ch - 'a' + 10);
			else
				return false;
		}
		got[k] = (unsigned char)v;
	}
	if (!sibling_mac(c, secs, method, host, target, want))
		return false;
	return CRYPTO_memcmp(want, got, sizeof want) == 0;
}
