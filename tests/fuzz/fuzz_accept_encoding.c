/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/fuzz/fuzz_accept_encoding.c — Accept-Encoding parsing and the choice
 * of a coding (core/accept_enc.c), and the policy helpers that read response
 * fields (core/coding_conf.c), on arbitrary bytes.
 *
 * Input: the whole input is the Accept-Encoding value; it is also given, in
 * an exactly sized heap copy so ASan catches a read past the view, as
 * Content-Type, Cache-Control, ETag and Vary.  Checked: the chosen coding is
 * identity or a served, available coding with q > 0 and no other candidate
 * has a higher q; "nothing acceptable" only when identity's q is 0; the
 * cache-key form agrees with the choice; ETag and Vary outputs are what the
 * header promises and stay in their buffers.  The same bytes as an Accept
 * value (coding_accept_media_q) give every media type a weight of at most
 * 1000.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/coding.h"
#include "tests/fuzz/fuzz.h"

static void
fuzz_pick(const struct coding_accept *a, const struct coding_pref *pref, unsigned avail)
{
	int c = coding_accept_pick(a, pref, avail);
	unsigned mask = coding_accept_mask(a, pref);

	if (c < 0) {
		ASSERT(c == -CODING_E_UNACCEPTABLE);
		ASSERT(coding_accept_q(a, CODING_IDENTITY) == 0);
		ASSERT(!(mask & CODING_BIT(CODING_IDENTITY)));
		return;
	}
	ASSERT(c < CODING_N);
	if (c == CODING_IDENTITY) {
		ASSERT(coding_accept_q(a, CODING_IDENTITY) > 0);
		return;
	}
	ASSERT(avail & CODING_BIT(c));
	ASSERT(mask & CODING_BIT(c));
	ASSERT(coding_accept_q(a, (enum coding)c) > 0);
	ASSERT(coding_accept_q(a, (enum coding)c) <= 1000);
	for (unsigned i = 0; i < pref->n; i++)
		if (avail & CODING_BIT(pref->order[i]))
			ASSERT(coding_accept_q(a, (enum coding)pref->order[i]) <=
			       coding_accept_q(a, (enum coding)c));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct coding_pref prefs[] = {
	    {3, {CODING_ZSTD, CODING_BR, CODING_GZIP}},
	    {1, {CODING_GZIP}},
	    {4, {CODING_DEFLATE, CODING_GZIP, CODING_BR, CODING_ZSTD}},
	};
	struct coding_accept a;
	struct coding_conf conf;
	char *b = malloc(size > 0 ? size : 1), out[128];
	struct str v, res;
	const char *key;
	int rc;

	if (b == NULL)
		return 0;
	memcpy(b, data, size);
	v = str_make(b, size);
	coding_accept_init(&a);
	coding_accept_parse(v, &a);
	ASSERT(coding_accept_media_q(v, "text/html") <= 1000);
	ASSERT(coding_accept_media_q(v, "application/json") <= 1000);
	ASSERT(coding_accept_media_q(v, "x") <= 1000);
	for (size_t i = 0; i < sizeof prefs / sizeof prefs[0]; i++) {
		fuzz_pick(&a, &prefs[i], ~0u);
		fuzz_pick(&a, &prefs[i], CODING_BIT(CODING_GZIP));
		fuzz_pick(&a, &prefs[i], 0);
		key = coding_accept_key(&a, &prefs[i]);
		rc = coding_accept_pick(&a, &prefs[i], ~0u);
		ASSERT(strcmp(key, rc < 0 ? "!" : coding_name((enum coding)rc)) == 0);
	}

	coding_conf_defaults(&conf);
	(void)coding_type_compressible(&conf, v);
	{
		struct coding_resp r = {200, false, false, STR_NULL, v, v, (int64_t)size};
		enum coding_decision d = coding_should_compress(&conf, &r);

		ASSERT(strcmp(coding_decision_name(d), "?") != 0);
	}
	rc = coding_etag_weaken(v, out, sizeof out, &res);
	if (rc == 0) {
		ASSERT(fuzz_view_in(res, out, sizeof out));
		ASSERT(res.len >= 4 && res.p[0] == 'W' && res.p[1] == '/');
		ASSERT(res.p[2] == '"' && res.p[res.len - 1] == '"');
	} else {
		ASSERT(rc == -CODING_E_INVALID || rc == -CODING_E_SPACE);
	}
	rc = coding_vary_merge(v, out, sizeof out, &res);
	if (rc == 0) {
		ASSERT(fuzz_view_in(res, out, sizeof out));
		ASSERT(res.len > 0);
	} else {
		ASSERT(rc == -CODING_E_SPACE);
	}
	free(b);
	return 0;
}
