/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/fuzz/fuzz_purge_request.c — the PURGE method's request path: the
 * bytes after the first are an HTTP/1.1 request head for h1_parse_request;
 * one that parses names a URL as a client listener's PURGE does
 * (purge_url_from_request, scheme https when bit 0 of the first byte is set,
 * http otherwise), which is split (purge_url_split) and turned into the
 * cache key the purge bans (cache_key_normalize), as purge_check does.
 *
 * The head is copied into an exactly sized heap buffer so ASan sees any
 * overread.  Checked: the URL is NUL-terminated within its buffer; the key
 * is NUL-terminated, as long as reported, an absolute http(s) URL with its
 * host in lower case (percent-escapes aside), and a fixed point: split and
 * normalized again it gives itself (the ban and the keys of lookups agree).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"
#include "core/assert.h"
#include "core/h1.h"
#include "purge/purge.h"
#include "tests/fuzz/fuzz.h"

#define MAX_HDRS 64
#define URL_MAX  8192 /* as the edge's PURGE_URL_MAX */

static void
check_key(const char *key, size_t len)
{
	static char again[CACHE_KEY_MAX];
	struct str scheme, host, path;
	uint16_t port;
	int n;

	ASSERT(len == strlen(key));
	ASSERT(strncmp(key, "http://", 7) == 0 || strncmp(key, "https://", 8) == 0);
	ASSERT(purge_url_split(key, &scheme, &host, &port, &path) == 0);
	/* lower case, but for the hex digits of a percent-escape (RFC 3986
	 * §6.2.2.1: those are upper case) */
	for (size_t i = 0; i < host.len; i++) {
		if (host.p[i] == '%')
			i += 2;
		else
			ASSERT(host.p[i] < 'A' || host.p[i] > 'Z');
	}
	n = cache_key_normalize(scheme, host, port, path, again, sizeof again);
	ASSERT(n >= 0 && (size_t)n == len && memcmp(again, key, len + 1) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct h1_limits lim = {8192, 65536, MAX_HDRS};
	static char url[URL_MAX], key[CACHE_KEY_MAX];
	struct h1_header hdrs[MAX_HDRS];
	struct h1_request req;
	struct str scheme, host, path;
	uint16_t port;
	char *buf;
	bool tls;
	int n;

	if (size < 1)
		return 0;
	tls = (data[0] & 1) != 0;
	buf = malloc(size - 1 > 0 ? size - 1 : 1);
	if (buf == NULL)
		return 0;
	memcpy(buf, data + 1, size - 1);
	memset(&req, 0, sizeof req);
	if (h1_parse_request(buf, size - 1, &lim, hdrs, &req) != H1_OK)
		goto out;
	url[0] = '\0';
	if (purge_url_from_request(tls ? STR_LIT("https") : STR_LIT("http"), req.host, req.port,
	        req.path, url, sizeof url) != 0)
		goto out;
	ASSERT(memchr(url, '\0', sizeof url) != NULL && url[0] != '\0');
	if (purge_url_split(url, &scheme, &host, &port, &path) != 0)
		goto out;
	n = cache_key_normalize(scheme, host, port, path, key, sizeof key);
	if (n >= 0)
		check_key(key, (size_t)n);
out:
	free(buf);
	return 0;
}
