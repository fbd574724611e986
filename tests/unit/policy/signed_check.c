/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/policy/signed_check.c — checks one signed URL the way the
 * request step will: the path normalized as for the cache key
 * (cache_key_normalize_path), the raw query, the client address, now.
 *
 *   signed_check KEY-FILE URL CLIENT-ADDRESS [NOW]
 *
 * Prints the result's label and the query without the signature parameters
 * ("ok a=1&b=2"); exits 0 for ok, 1 for any other result, 2 on usage or key
 * file errors.  For t66_signed_url_doc.py, which feeds it the URLs made by
 * the documentation's snippets.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache/cache.h"
#include "policy/policy_token.h"

int
main(int argc, char **argv)
{
	struct policy_signed_keys *ks = NULL;
	struct policy_signed_conf conf;
	struct policy_signed_req r;
	char err[512], path[CACHE_KEY_MAX], *stripped;
	const char *url, *p, *q;
	enum policy_signed_result res;
	int n;

	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: signed_check KEY-FILE URL CLIENT-ADDRESS [NOW]\n");
		return 2;
	}
	if (policy_signed_keys_load(argv[1], &ks, err, sizeof err) != 0) {
		fprintf(stderr, "signed_check: %s\n", err);
		return 2;
	}
	policy_signed_conf_defaults(&conf);
	url = argv[2];
	/* scheme://authority/path?query, or an origin-form /path?query */
	p = strstr(url, "://");
	p = p != NULL ? strchr(p + 3, '/') : url;
	if (p == NULL || *p != '/') {
		fprintf(stderr, "signed_check: no path in %s\n", url);
		return 2;
	}
	q = strchr(p, '?');
	n = cache_key_normalize_path(
	    str_make(p, q != NULL ? (size_t)(q - p) : strlen(p)), path, sizeof path);
	if (n < 0) {
		fprintf(stderr, "signed_check: path does not normalize\n");
		return 2;
	}
	r.path = str_make(path, (size_t)n);
	r.query = q != NULL ? str_cstr(q + 1) : STR_NULL;
	r.client_ip = str_cstr(argv[3]);
	r.now_s = argc == 5 ? strtoll(argv[4], NULL, 10) : (int64_t)time(NULL);
	res = policy_signed_verify(ks, &conf, &r);
	stripped = malloc(r.query.len + 1);
	if (stripped == NULL || policy_signed_strip(r.query, stripped, r.query.len + 1) < 0)
		return 2;
	printf("%s %s\n", policy_signed_label(res), stripped);
	free(stripped);
	policy_signed_keys_unref(&ks);
	return res == POLICY_SIGNED_OK ? 0 : 1;
}
