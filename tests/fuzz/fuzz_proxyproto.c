/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/fuzz/fuzz_proxyproto.c — the PROXY protocol parser
 * (policy/policy_proxyproto.c) on arbitrary bytes, with the default v2 limit
 * and a small one.
 *
 * Checked: an accepted header lies inside the input, v1 ends with CRLF
 * within 107 bytes, v2 stays within the limit, addresses match the family,
 * the TLVs tile their block; every strict prefix of an accepted header is
 * NEED_MORE and never asks for bytes past the header (each prefix is parsed
 * from an exactly sized copy, so ASan sees a read past it); NEED_MORE asks
 * for at least one byte.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "policy/policy.h"
#include "tests/fuzz/fuzz.h"

static void
check_ok(const uint8_t *data, size_t size, const struct policy_proxyproto_conf *c,
    const struct policy_pp_result *r)
{
	ASSERT(r->header_len > 0 && r->header_len <= size);
	if (r->version == 1) {
		ASSERT(r->header_len <= POLICY_PP_V1_MAX);
		ASSERT(data[r->header_len - 2] == '\r' && data[r->header_len - 1] == '\n');
	} else {
		ASSERT(r->version == 2);
		ASSERT(r->header_len >= POLICY_PP_V2_HEADER && r->header_len <= c->max_v2_bytes);
		ASSERT(r->tlv_off + r->tlv_len <= r->header_len);
	}
	if (r->local)
		ASSERT(r->family == AF_UNSPEC);
	if (r->family != AF_UNSPEC) {
		ASSERT(r->family == AF_INET || r->family == AF_INET6);
		ASSERT(r->src.ss_family == r->family && r->dst.ss_family == r->family);
	}
	{
		size_t pos = 0, n = 0;
		uint8_t type;
		struct str v;

		while (policy_pp_tlv_next(data, r, &pos, &type, &v)) {
			ASSERT(fuzz_view_in(v, (const char *)data + r->tlv_off, r->tlv_len));
			n++;
		}
		ASSERT(pos == r->tlv_len || r->version == 1);
		ASSERT(n <= r->tlv_len / 3);
	}
	for (size_t k = 0; k < r->header_len; k++) {
		uint8_t *p = malloc(k ? k : 1);
		struct policy_pp_result pr;
		size_t need = 0;

		if (p == NULL)
			return;
		memcpy(p, data, k);
		ASSERT(policy_pp_parse(p, k, c, &pr, &need) == POLICY_PP_NEED_MORE);
		ASSERT(need >= 1 && k + need <= r->header_len);
		free(p);
	}
}

static void
run(const uint8_t *data, size_t size, const struct policy_proxyproto_conf *c)
{
	struct policy_pp_result r;
	size_t need = 0;
	enum policy_pp_status st = policy_pp_parse(data, size, c, &r, &need);

	ASSERT(policy_pp_strerror(st) != NULL);
	if (st == POLICY_PP_OK)
		check_ok(data, size, c, &r);
	else if (st == POLICY_PP_NEED_MORE)
		ASSERT(need >= 1 &&
		       (size + need <= POLICY_PP_V1_MAX || size + need <= c->max_v2_bytes));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy_proxyproto_conf c;

	policy_proxyproto_conf_defaults(&c);
	run(data, size, &c);
	c.max_v2_bytes = 64;
	run(data, size, &c);
	return 0;
}
