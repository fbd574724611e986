/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * geo/geo_pool.c — the choice of an origin pool by where the client is.
 *
 * Model.  A map `geo_pools: { EU: pool-fra, DE: pool-fra2, default: pool-iad }`
 * becomes two arrays indexed by code (countries 26 x 26, continents 7) and a
 * default, each holding the caller's pool index or GEO_POOL_NONE.  The most
 * specific key wins: the client's country, then its continent, then the
 * default; the same order, each pool once, is the failover order.  Built on
 * the main thread, then read-only from any thread.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/xmalloc.h"
#include "geo/geo.h"
#include "geo/geo_int.h"

struct geo_pool_map {
	int country[GEO_N_COUNTRY];
	int continent[GEO_N_CONTINENT];
	int dflt;
};

struct geo_pool_map *
geo_pool_map_new(void)
{
	struct geo_pool_map *m = xmalloc(sizeof *m);

	for (size_t i = 0; i < GEO_N_COUNTRY; i++)
		m->country[i] = GEO_POOL_NONE;
	for (size_t i = 0; i < GEO_N_CONTINENT; i++)
		m->continent[i] = GEO_POOL_NONE;
	m->dflt = GEO_POOL_NONE;
	return m;
}

void
geo_pool_map_free(struct geo_pool_map **mp)
{
	free(*mp);
	*mp = NULL;
}

int
geo_pool_map_add(struct geo_pool_map *m, const char *key, int pool, char *err, size_t errlen)
{
	const char *what, *code = key;
	int *slot, x;

	ASSERT(pool >= 0);
	if (strcmp(key, "default") == 0) {
		slot = &m->dflt;
		what = "default";
	} else if (strncmp(key, "country:", 8) == 0) {
		code = key + 8;
		if ((x = geo_country_index(code)) < 0) {
			snprintf(err, errlen,
			    "geo pool key \"%.32s\": \"%.16s\" is not two upper-case letters "
			    "(ISO 3166-1 alpha-2)",
			    key, code);
			return -1;
		}
		slot = &m->country[x];
		what = "country";
	} else if (strncmp(key, "continent:", 10) == 0) {
		code = key + 10;
		if ((x = geo_continent_index(code)) < 0) {
			snprintf(err, errlen, "geo pool key \"%.32s\": \"%.16s\" is not one of %s",
			    key, code, GEO_CONTINENT_LIST);
			return -1;
		}
		slot = &m->continent[x];
		what = "continent";
	} else if ((x = geo_continent_index(key)) >= 0) {
		/* AF AN AS NA SA are country codes too: bare, they are the
		 * continent (country:NA names Namibia). */
		slot = &m->continent[x];
		what = "continent";
	} else if ((x = geo_country_index(key)) >= 0) {
		slot = &m->country[x];
		what = "country";
	} else {
		snprintf(err, errlen,
		    "geo pool key \"%.32s\" is not \"default\", a continent code (%s) or a country "
		    "code (two upper-case letters; country:XX and continent:XX say which)",
		    key, GEO_CONTINENT_LIST);
		return -1;
	}
	if (*slot != GEO_POOL_NONE) {
		if (slot == &m->dflt)
			snprintf(err, errlen, "geo pool key \"default\" given twice");
		else
			snprintf(err, errlen, "geo pool key \"%.32s\": %s %s given twice", key,
			    what, code);
		return -1;
	}
	*slot = pool;
	return 0;
}

size_t
geo_pools_candidates(const struct geo_pool_map *m, const struct geo_loc *loc, int out[3])
{
	int c[3] = {GEO_POOL_NONE, GEO_POOL_NONE, m->dflt}, x;
	size_t n = 0;

	if (loc != NULL && (loc->found & GEO_FOUND_COUNTRY) &&
	    (x = geo_country_index(loc->country)) >= 0)
		c[0] = m->country[x];
	if (loc != NULL && (loc->found & GEO_FOUND_CONTINENT) &&
	    (x = geo_continent_index(loc->continent)) >= 0)
		c[1] = m->continent[x];
	for (size_t i = 0; i < 3; i++) {
		bool seen = c[i] == GEO_POOL_NONE;

		for (size_t j = 0; j < n && !seen; j++)
			seen = out[j] == c[i];
		if (!seen)
			out[n++] = c[i];
	}
	return n;
}

int
geo_pools_pick(const struct geo_pool_map *m, const struct geo_loc *loc)
{
	int out[3];

	return geo_pools_candidates(m, loc, out) > 0 ? out[0] : GEO_POOL_NONE;
}
