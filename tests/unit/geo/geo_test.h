/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/geo/geo_test.h — what the geo unit tests share: a socket
 * address from text, a location from its fields.  Header-only, like tap.h.
 */
#ifndef OUTPOST_TESTS_GEO_TEST_H
#define OUTPOST_TESTS_GEO_TEST_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "geo/geo.h"

/* text ("192.0.2.1", "2001:db8::1", "::ffff:127.0.0.2") as a socket address
 * in *ss; NULL for NULL.  Aborts on a bad address: the tables are ours. */
static inline const struct sockaddr *
geo_test_addr(const char *text, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	if (text == NULL)
		return NULL;
	if (strchr(text, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		if (inet_pton(AF_INET6, text, &s6->sin6_addr) != 1)
			abort();
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		if (inet_pton(AF_INET, text, &s4->sin_addr) != 1)
			abort();
	}
	return (const struct sockaddr *)ss;
}

/* A location with the given fields found ("" and 0: not found). */
static inline struct geo_loc
geo_test_loc(const char *country, const char *continent, uint32_t asn)
{
	struct geo_loc l;

	memset(&l, 0, sizeof l);
	if (country[0]) {
		snprintf(l.country, sizeof l.country, "%s", country);
		l.found |= GEO_FOUND_COUNTRY;
	}
	if (continent[0]) {
		snprintf(l.continent, sizeof l.continent, "%s", continent);
		l.found |= GEO_FOUND_CONTINENT;
	}
	if (asn) {
		l.asn = asn;
		l.found |= GEO_FOUND_ASN;
	}
	return l;
}

#endif
