/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/fuzz/fuzz_purge_json.c — the POST /purge body (purge/purge_req.c)
 * and the URLs it names (purge_url_split), then each URL or prefix turned
 * into a cache key as the API does (cache_key_normalize).
 *
 * The body is copied into an exactly sized heap buffer (not NUL-terminated)
 * so ASan sees any overread.  Checked: a parse that fails fills no member
 * and says why; one that succeeds names something to purge, within
 * PURGE_ITEMS_MAX, every item a non-empty string; a split URL's parts lie
 * inside the URL and its path starts with '/'; a key is NUL-terminated and
 * as long as reported.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"
#include "core/assert.h"
#include "purge/purge.h"
#include "tests/fuzz/fuzz.h"

static void
fuzz_url(const char *u)
{
	static char key[CACHE_KEY_MAX];
	struct str scheme, host, path;
	uint16_t port;
	size_t len = strlen(u);
	int n;

	if (purge_url_split(u, &scheme, &host, &port, &path) != 0)
		return;
	ASSERT(scheme.p >= u && scheme.p + scheme.len <= u + len);
	ASSERT(host.p >= u && host.p + host.len <= u + len);
	ASSERT(path.len > 0 && path.p[0] == '/');
	n = cache_key_normalize(scheme, host, port, path, key, sizeof key);
	ASSERT(n >= -1);
	if (n >= 0)
		ASSERT((size_t)n == strlen(key));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *body = malloc(size > 0 ? size : 1), err[256];
	struct purge_req r;
	size_t items;

	if (body == NULL)
		return 0;
	if (size > 0)
		memcpy(body, data, size);
	memset(&r, 0, sizeof r);
	err[0] = '\0';
	if (purge_req_parse(body, size, &r, err, sizeof err) != 0) {
		ASSERT(err[0] != '\0');
		ASSERT(r.urls == NULL && r.prefixes == NULL && r.hosts == NULL && r.tags == NULL);
		free(body);
		return 0;
	}
	items = r.n_urls + r.n_prefixes + r.n_hosts + r.n_tags;
	ASSERT(items > 0 || r.all);
	ASSERT(items <= PURGE_ITEMS_MAX);
	for (size_t i = 0; i < r.n_urls; i++) {
		ASSERT(r.urls[i][0] != '\0');
		fuzz_url(r.urls[i]);
	}
	for (size_t i = 0; i < r.n_prefixes; i++) {
		ASSERT(r.prefixes[i][0] != '\0');
		fuzz_url(r.prefixes[i]);
	}
	for (size_t i = 0; i < r.n_hosts; i++)
		ASSERT(r.hosts[i][0] != '\0');
	for (size_t i = 0; i < r.n_tags; i++)
		ASSERT(r.tags[i][0] != '\0');
	purge_req_clear(&r);
	free(body);
	return 0;
}
