/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/geo/test_geo_pool.c — geo pool keys (good and bad, with their
 * error texts) and the choice: country, then continent, then default.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "geo/geo.h"
#include "tests/unit/geo/geo_test.h"
#include "tests/unit/tap.h"

struct krow {
	const char *key;
	const char *err; /* NULL: accepted */
};

static void
test_keys(void)
{
	static const struct krow rows[] = {
	    {"default", NULL},
	    {"EU", NULL},
	    {"DE", NULL},
	    {"country:NA", NULL},
	    {"continent:OC", NULL},
	    {"NA", NULL},
	    {"Default",
	        "geo pool key \"Default\" is not \"default\", a continent code (AF AN AS EU "
	        "NA OC SA) or a country code (two upper-case letters; country:XX and "
	        "continent:XX say which)"},
	    {"de",
	        "geo pool key \"de\" is not \"default\", a continent code (AF AN AS EU NA OC SA) "
	        "or a country code (two upper-case letters; country:XX and continent:XX say "
	        "which)"},
	    {"", "geo pool key \"\" is not \"default\", a continent code (AF AN AS EU NA OC SA) or "
	         "a country code (two upper-case letters; country:XX and continent:XX say which)"},
	    {"country:EUR",
	        "geo pool key \"country:EUR\": \"EUR\" is not two upper-case letters (ISO 3166-1 "
	        "alpha-2)"},
	    {"continent:DE",
	        "geo pool key \"continent:DE\": \"DE\" is not one of AF AN AS EU NA OC SA"},
	    {"continent:", "geo pool key \"continent:\": \"\" is not one of AF AN AS EU NA OC SA"},
	    /* the same slot again, however written */
	    {"default", "geo pool key \"default\" given twice"},
	    {"continent:EU", "geo pool key \"continent:EU\": continent EU given twice"},
	    {"country:DE", "geo pool key \"country:DE\": country DE given twice"},
	    {"NA", "geo pool key \"NA\": continent NA given twice"},
	    {"country:NA", "geo pool key \"country:NA\": country NA given twice"},
	};
	struct geo_pool_map *m = geo_pool_map_new();
	char err[256];

	subtest("geo pool keys");
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		int rc;

		err[0] = '\0';
		rc = geo_pool_map_add(m, rows[i].key, (int)i, err, sizeof err);
		if (rows[i].err == NULL) {
			if (!tap_ok(rc == 0, __FILE__, __LINE__, rows[i].key))
				printf("#   %s\n", err);
		} else {
			is_int(rc, -1);
			is_str(err, rows[i].err);
		}
	}
	geo_pool_map_free(&m);
	ok(m == NULL, "free clears the pointer");
	geo_pool_map_free(&m);
}

static void
test_pick(void)
{
	enum { FRA = 0, IAD = 1, FRA2 = 2, NBO = 3, WDH = 4 };
	struct geo_pool_map *m = geo_pool_map_new(), *nodef = geo_pool_map_new();
	struct geo_loc l;
	int out[3];
	char err[256];

	subtest("geo_pools_pick: country beats continent beats default");
	/* geo_pools: { EU: pool-fra, NA: pool-iad, DE: pool-fra2, AF: pool-nbo,
	 *              country:NA: pool-wdh, default: pool-iad } */
	ok(geo_pool_map_add(m, "EU", FRA, err, sizeof err) == 0 &&
	        geo_pool_map_add(m, "NA", IAD, err, sizeof err) == 0 &&
	        geo_pool_map_add(m, "DE", FRA2, err, sizeof err) == 0 &&
	        geo_pool_map_add(m, "AF", NBO, err, sizeof err) == 0 &&
	        geo_pool_map_add(m, "country:NA", WDH, err, sizeof err) == 0 &&
	        geo_pool_map_add(m, "default", IAD, err, sizeof err) == 0,
	    "map built");

	l = geo_test_loc("DE", "EU", 0);
	is_int(geo_pools_pick(m, &l), FRA2);
	is_int(geo_pools_candidates(m, &l, out), 3);
	ok(out[0] == FRA2 && out[1] == FRA && out[2] == IAD, "DE: fra2, fra, iad");
	l = geo_test_loc("FR", "EU", 0);
	is_int(geo_pools_pick(m, &l), FRA);
	is_int(geo_pools_candidates(m, &l, out), 2);
	ok(out[0] == FRA && out[1] == IAD, "FR: fra, iad");
	l = geo_test_loc("US", "NA", 0);
	is_int(geo_pools_pick(m, &l), IAD);
	is_int(geo_pools_candidates(m, &l, out), 1);
	l = geo_test_loc("NA", "AF", 0); /* Namibia */
	is_int(geo_pools_pick(m, &l), WDH);
	is_int(geo_pools_candidates(m, &l, out), 3);
	ok(out[0] == WDH && out[1] == NBO && out[2] == IAD, "Namibia: wdh, nbo, iad");
	l = geo_test_loc("JP", "AS", 0);
	is_int(geo_pools_pick(m, &l), IAD);
	l = geo_test_loc("", "EU", 0);
	is_int(geo_pools_pick(m, &l), FRA);
	l = geo_test_loc("DE", "", 0);
	is_int(geo_pools_pick(m, &l), FRA2);
	l = geo_test_loc("", "", 0);
	is_int(geo_pools_pick(m, &l), IAD);
	is_int(geo_pools_pick(m, NULL), IAD);

	ok(geo_pool_map_add(nodef, "EU", FRA, err, sizeof err) == 0, "no default");
	l = geo_test_loc("US", "NA", 0);
	is_int(geo_pools_pick(nodef, &l), GEO_POOL_NONE);
	is_int(geo_pools_candidates(nodef, &l, out), 0);
	is_int(geo_pools_pick(nodef, NULL), GEO_POOL_NONE);
	l = geo_test_loc("SE", "EU", 0);
	is_int(geo_pools_pick(nodef, &l), FRA);
	geo_pool_map_free(&m);
	geo_pool_map_free(&nodef);
}

int
main(void)
{
	test_keys();
	test_pick();
	return tap_done();
}
