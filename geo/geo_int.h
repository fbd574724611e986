/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * geo/geo_int.h — what the files of geo/ share and nobody else sees: the
 * dense indexes of country and continent codes that the rule and pool tables
 * are arrays over.
 */
#ifndef OUTPOST_GEO_GEO_INT_H
#define OUTPOST_GEO_GEO_INT_H

#include <stdbool.h>

#define GEO_N_COUNTRY   (26 * 26) /* AA .. ZZ */
#define GEO_N_CONTINENT 7

/* The continent codes in index order, space-separated (for error texts). */
#define GEO_CONTINENT_LIST "AF AN AS EU NA OC SA"

/* "XX" (two upper-case letters) -> 0 .. GEO_N_COUNTRY-1, else -1. */
static inline int
geo_country_index(const char *c)
{
	if (c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z' || c[2] != '\0')
		return -1;
	return (c[0] - 'A') * 26 + (c[1] - 'A');
}

/* One of AF AN AS EU NA OC SA -> 0 .. 6, else -1. */
int geo_continent_index(const char *c);

#endif
