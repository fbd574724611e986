/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * policy/policy_addr.c — client addresses: parsing, sockaddrs, text.
 *
 * An IPv4-mapped IPv6 address becomes its IPv4 address here, once, so the
 * rest of the policy code (CIDR rules, rate-limit keys, logs) sees a single
 * form of every IPv4 client.  No allocation; any thread.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "policy/policy.h"

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static void
addr_set6(struct policy_addr *out, const uint8_t b[16])
{
	memset(out, 0, sizeof *out);
	if (memcmp(b, v4mapped, sizeof v4mapped) == 0) {
		out->family = AF_INET;
		memcpy(out->b, b + 12, 4);
	} else {
		out->family = AF_INET6;
		memcpy(out->b, b, 16);
	}
}

int
policy_addr_parse(struct str s, struct policy_addr *out)
{
	char text[POLICY_ADDR_STRLEN];
	uint8_t b[16];

	/* inet_pton wants a NUL-terminated string: copy to the stack. */
	if (s.len == 0 || s.len >= sizeof text)
		return -1;
	memcpy(text, s.p, s.len);
	text[s.len] = '\0';
	if (memchr(text, '\0', s.len) != NULL)
		return -1;
	if (inet_pton(AF_INET, text, b) == 1) {
		memset(out, 0, sizeof *out);
		out->family = AF_INET;
		memcpy(out->b, b, 4);
		return 0;
	}
	if (inet_pton(AF_INET6, text, b) == 1) {
		addr_set6(out, b);
		return 0;
	}
	return -1;
}

int
policy_addr_from_sockaddr(const struct sockaddr *sa, struct policy_addr *out)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;

		memset(out, 0, sizeof *out);
		out->family = AF_INET;
		memcpy(out->b, &sin->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;

		addr_set6(out, sin6->sin6_addr.s6_addr);
		return 0;
	}
	return -1;
}

const char *
policy_addr_format(const struct policy_addr *a, char *buf)
{
	if (inet_ntop(a->family == AF_INET ? AF_INET : AF_INET6, a->b, buf, POLICY_ADDR_STRLEN) ==
	    NULL)
		strcpy(buf, "?");
	return buf;
}
