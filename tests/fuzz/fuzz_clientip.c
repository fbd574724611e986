/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/fuzz/fuzz_clientip.c — the client address walk
 * (policy/policy_clientip.c) over arbitrary X-Forwarded-For and Forwarded
 * field lines.
 *
 * Input: byte 0 picks the header (bit 0) and max_hops (bits 1-3); byte 1
 * picks the peer; the rest is up to 8 field lines split on LF, each copied
 * into an exactly sized buffer so ASan sees a read past it.  Trusted:
 * 10.0.0.0/8, 2001:db8:ffff::/48, 127.0.0.1.
 * Checked: the result's source agrees with the trust of the address chosen —
 * an untrusted peer is returned as is, a HEADER result is untrusted, any
 * other result is a trusted hop (never an address left of the walk).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "policy/policy.h"
#include "tests/fuzz/fuzz.h"

#define MAX_LINES 8

static struct policy_cidr *trusted;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const peers[] = {
	    "10.0.0.1", "2001:db8:ffff::1", "127.0.0.1", "203.0.113.5"};
	struct policy_clientip_conf conf;
	struct policy_addr peer, out;
	struct str f[MAX_LINES];
	char *copies[MAX_LINES];
	size_t n = 0;
	const char *p, *end;
	enum policy_clientip_source src;

	if (trusted == NULL) {
		trusted = policy_cidr_new();
		ASSERT(policy_cidr_add_str(trusted, STR_LIT("10.0.0.0/8"), 0) == POLICY_CIDR_OK);
		ASSERT(policy_cidr_add_str(trusted, STR_LIT("2001:db8:ffff::/48"), 0) ==
		       POLICY_CIDR_OK);
		ASSERT(policy_cidr_add_str(trusted, STR_LIT("127.0.0.1"), 0) == POLICY_CIDR_OK);
	}
	if (size < 2)
		return 0;
	policy_clientip_conf_defaults(&conf);
	conf.trusted = trusted;
	conf.header = data[0] & 1 ? POLICY_CLIENTIP_FORWARDED : POLICY_CLIENTIP_XFF;
	conf.max_hops = (data[0] >> 1) & 7; /* 0: unbounded */
	ASSERT(policy_addr_parse(str_cstr(peers[data[1] % 4]), &peer) == 0);
	p = (const char *)data + 2;
	end = (const char *)data + size;
	while (p <= end && n < MAX_LINES) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl != NULL ? nl : end) - p);

		copies[n] = malloc(len ? len : 1);
		if (copies[n] == NULL)
			break;
		memcpy(copies[n], p, len);
		f[n] = str_make(copies[n], len);
		n++;
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	src = policy_clientip(&conf, &peer, f, n, &out);
	ASSERT(policy_clientip_source_name(src) != NULL);
	switch (src) {
	case POLICY_CLIENTIP_PEER:
		ASSERT(policy_addr_eq(&out, &peer) && !policy_cidr_lookup(trusted, &peer, NULL));
		break;
	case POLICY_CLIENTIP_NO_HEADER:
		ASSERT(policy_addr_eq(&out, &peer));
		break;
	case POLICY_CLIENTIP_HEADER:
		ASSERT(!policy_cidr_lookup(trusted, &out, NULL));
		ASSERT(out.family == AF_INET || out.family == AF_INET6);
		break;
	default:
		ASSERT(policy_cidr_lookup(trusted, &out, NULL));
		break;
	}
	if (src == POLICY_CLIENTIP_STOP_HOPS)
		ASSERT(conf.max_hops != 0);
	for (size_t i = 0; i < n; i++)
		free(copies[i]);
	return 0;
}
