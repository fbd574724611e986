/*
 * purge/purge_auth.c — content owners' bearer tokens.  The configuration
 * holds only SHA-256 digests; a presented token is hashed and compared with
 * every digest in constant time (CRYPTO_memcmp), so neither the time nor the
 * order of the table tells how much of a guess was right.  Each token has a
 * token bucket of purges (rate per second, burst of as many).  Main thread
 * (the admin listener) for the buckets; the table is immutable.
 */
#include "config.h"

#include <string.h>
#include <strings.h>

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
