/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * purge/purge_auth.c — content owners' bearer tokens.  The configuration
 * holds only SHA-256 digests; a presented token is hashed and compared with
 * every digest in constant time (CRYPTO_memcmp), so neither the time nor the
 * order of the table tells how much of a guess was right.  Each token has a
 * token bucket of purges (rate per second, burst of as many).  Main thread
 * (the admin listener) for the buckets; the table is immutable.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "core/xmalloc.h"
#include "purge/purge.h"

struct purge_auth {
	struct purge_token_conf *tokens; /* views into the caller's strings */
	size_t n;
	unsigned rate;
	double *tokens_left;
	uint64_t *last_ms;
};

struct purge_auth *
purge_auth_new(const struct purge_token_conf *tokens, size_t n, unsigned rate)
{
	struct purge_auth *a = xcalloc(1, sizeof *a);

	a->n = n;
	a->rate = rate;
	a->tokens = xcalloc(n + 1, sizeof *a->tokens);
	if (n > 0)
		memcpy(a->tokens, tokens, n * sizeof *tokens);
	a->tokens_left = xcalloc(n + 1, sizeof *a->tokens_left);
	a->last_ms = xcalloc(n + 1, sizeof *a->last_ms);
	for (size_t i = 0; i < n; i++)
		a->tokens_left[i] = rate;
	return a;
}

void
purge_auth_free(struct purge_auth **ap)
{
	struct purge_auth *a = *ap;

	if (a == NULL)
		return;
	free(a->tokens);
	free(a->tokens_left);
	free(a->last_ms);
	free(a);
	*ap = NULL;
}

int
purge_auth_token(const struct purge_auth *a, const char *authorization)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	const char *t;
	size_t len;
	int found = -1;

	if (authorization == NULL || strncasecmp(authorization, "Bearer ", 7) != 0)
		return -1;
	for (t = authorization + 7; *t == ' '; t++)
		;
	len = strlen(t);
	while (len > 0 && (t[len - 1] == ' ' || t[len - 1] == '\t'))
		len--;
	if (len == 0)
		return -1;
	SHA256((const unsigned char *)t, len, md);
	for (size_t i = 0; i < a->n; i++)
		if (CRYPTO_memcmp(md, a->tokens[i].sha256, sizeof md) == 0 && found < 0)
			found = (int)i;
	OPENSSL_cleanse(md, sizeof md);
	return found;
}

const struct purge_token_conf *
purge_auth_conf(const struct purge_auth *a, int token)
{
	return token >= 0 && (size_t)token < a->n ? &a->tokens[token] : NULL;
}

unsigned
purge_auth_take(struct purge_auth *a, int token, uint64_t now_ms)
{
	double *left = &a->tokens_left[token];

	if (a->rate == 0)
		return 0;
	if (a->last_ms[token] != 0 && now_ms > a->last_ms[token]) {
		*left += (double)(now_ms - a->last_ms[token]) * a->rate / 1000.0;
		if (*left > a->rate)
			*left = a->rate;
	}
	a->last_ms[token] = now_ms;
	if (*left >= 1.0) {
		*left -= 1.0;
		return 0;
	}
	return (unsigned)((1.0 - *left) / a->rate) + 1;
}

/* ---- client listeners (purge.client_listeners) ---- */

/* The address in s into family/addr: 0, or -1. */
static int
purge_addr_parse(const char *s, int *family, unsigned char addr[16])
{
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, s, addr) == 1) {
		*family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, addr) == 1) {
		static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

		*family = AF_INET6;
		if (memcmp(addr, mapped, sizeof mapped) == 0) {
			memmove(addr, addr + 12, 4);
			memset(addr + 4, 0, 12);
			*family = AF_INET;
		}
		return 0;
	}
	return -1;
}

int
purge_cidr_parse(const char *s, struct purge_cidr *out)
{
	char host[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t hlen = slash != NULL ? (size_t)(slash - s) : strlen(s);
	unsigned max;
	char *end;

	if (hlen == 0 || hlen >= sizeof host)
		return -1;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (strchr(host, ':') != NULL) { /* no IPv4-mapped folding for a block */
		if (inet_pton(AF_INET6, host, out->addr) != 1)
			return -1;
		out->family = AF_INET6;
	} else {
		memset(out->addr, 0, sizeof out->addr);
		if (inet_pton(AF_INET, host, out->addr) != 1)
			return -1;
		out->family = AF_INET;
	}
	max = out->family == AF_INET ? 32 : 128;
	out->bits = max;
	if (slash != NULL) {
		unsigned long b;

		if (slash[1] < '0' || slash[1] > '9')
			return -1;
		b = strtoul(slash + 1, &end, 10);
		if (*end != '\0' || b > max || end - (slash + 1) > 3)
			return -1;
		out->bits = (unsigned)b;
	}
	for (unsigned i = out->bits; i < 128; i++)
		out->addr[i / 8] &= (unsigned char)~(0x80u >> (i % 8));
	return 0;
}

bool
purge_cidr_match(const struct purge_cidr *cidrs, size_t n, const char *addr)
{
	unsigned char a[16];
	int family;

	if (n == 0 || purge_addr_parse(addr, &family, a) != 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		const struct purge_cidr *c = &cidrs[i];
		unsigned full = c->bits / 8, rest = c->bits % 8;

		if (c->family != family || memcmp(a, c->addr, full) != 0)
			continue;
		if (rest == 0 || ((a[full] ^ c->addr[full]) & (0xff00u >> rest)) == 0)
			return true;
	}
	return false;
}
