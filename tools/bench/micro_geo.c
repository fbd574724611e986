/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tools/bench/micro_geo.c — what a connection pays for geo: nanoseconds per
 * lookup in a country database and per access-rule verdict.
 *
 *   micro_geo [COUNTRY.mmdb]
 *
 * Without an argument it writes a synthetic country database (200000 IPv4
 * networks of /16 to /24 and 50000 IPv6 ones, by
 * tests/unit/geo/make-test-mmdb.pl --networks) into a temporary directory.
 * Addresses are drawn from a fixed pseudo-random sequence (half IPv4, half
 * IPv6, a quarter of the IPv4 ones IPv4-mapped), so runs compare.
 * Single-threaded; not run by make check.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "geo/geo.h"
#include "tools/bench/micro.h"

enum { N_ADDR = 4096 };

static struct sockaddr_storage addrs[N_ADDR];

static void
make_addrs(void)
{
	uint64_t x = 0x9e3779b97f4a7c15u;

	for (int i = 0; i < N_ADDR; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		memset(&addrs[i], 0, sizeof addrs[i]);
		if (i % 2 == 0) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&addrs[i];

			s4->sin_family = AF_INET;
			s4->sin_addr.s_addr = htonl((uint32_t)(x % 0xde000000u) + 0x01000000u);
		} else if (i % 4 == 1) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&addrs[i];

			s6->sin6_family = AF_INET6;
			s6->sin6_addr.s6_addr[10] = s6->sin6_addr.s6_addr[11] = 0xff;
			memcpy(s6->sin6_addr.s6_addr + 12, &x, 4);
			s6->sin6_addr.s6_addr[12] = (uint8_t)(1 + s6->sin6_addr.s6_addr[12] % 222);
		} else {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&addrs[i];

			s6->sin6_family = AF_INET6;
			memcpy(s6->sin6_addr.s6_addr, &x, 8);
			s6->sin6_addr.s6_addr[0] = 0x20;
			s6->sin6_addr.s6_addr[1] &= 0x0f;
		}
	}
}

int
main(int argc, char **argv)
{
	char dir[] = "/tmp/micro_geo.XXXXXX", path[256], cmd[1024], err[512];
	const char *db = argc > 1 ? argv[1] : NULL;
	struct geo_conf c;
	struct geo_dbs *d = NULL;
	static struct geo_loc locs[N_ADDR];
	struct geo_rule rules[64];
	struct geo_access_conf ac;
	struct geo_rules *r = NULL;
	static const char *const texts[] = {"country:CN", "country:RU", "country:KP",
	    "continent:AF", "asn:64500", "asn:64501", "cidr:192.0.2.0/24", "cidr:198.51.100.0/24",
	    "cidr:203.0.113.0/24", "cidr:10.0.0.0/8", "cidr:2001:db8::/32", "cidr:fc00::/7", NULL};
	size_t nr = 0, found = 0, denied = 0;
	const long iters = 2000000;
	double t0, t1;
	int rule;

	if (db == NULL) {
		if (mkdtemp(dir) == NULL) {
			perror("mkdtemp");
			return 1;
		}
		snprintf(
		    cmd, sizeof cmd, "%s %s %s --networks 200000", GEO_PERL, GEO_MMDB_SCRIPT, dir);
		fprintf(stderr, "writing a synthetic country database (200000 networks) ...\n");
		if (system(cmd) != 0) {
			fprintf(stderr, "micro_geo: %s failed\n", cmd);
			return 1;
		}
		snprintf(path, sizeof path, "%s/bench-country.mmdb", dir);
		db = path;
	}
	geo_conf_defaults(&c);
	c.db_path[GEO_DB_COUNTRY] = db;
	if (geo_dbs_open(&c, &d, err, sizeof err) != 0) {
		fprintf(stderr, "micro_geo: %s\n", err);
		return 1;
	}
	make_addrs();

	for (long i = 0; i < N_ADDR; i++)
		(void)geo_lookup(d, (const struct sockaddr *)&addrs[i], &locs[i]);
	t0 = micro_now_ns();
	for (long i = 0; i < iters; i++) {
		struct geo_loc l;

		(void)geo_lookup(d, (const struct sockaddr *)&addrs[i % N_ADDR], &l);
		found += l.found != 0;
	}
	t1 = micro_now_ns();
	printf("geo_lookup (country db \"%s\", %ld lookups, %.0f%% located): %.1f ns/lookup\n",
	    geo_dbs_type(d, GEO_DB_COUNTRY), iters, 100.0 * (double)found / (double)iters,
	    (t1 - t0) / (double)iters);

	geo_access_conf_defaults(&ac);
	for (nr = 0; texts[nr] != NULL; nr++)
		if (geo_rule_parse(texts[nr], &rules[nr], err, sizeof err) != 0) {
			fprintf(stderr, "micro_geo: %s\n", err);
			return 1;
		}
	if (geo_rules_compile(&ac, rules, nr, &r, err, sizeof err) != 0) {
		fprintf(stderr, "micro_geo: %s\n", err);
		return 1;
	}
	t0 = micro_now_ns();
	for (long i = 0; i < iters * 5; i++) {
		long k = i % N_ADDR;

		denied += geo_rules_eval(r, &locs[k], (const struct sockaddr *)&addrs[k], &rule) ==
		          GEO_VERDICT_DENY;
	}
	t1 = micro_now_ns();
	printf("geo_rules_eval (%zu rules: 3 country, 1 continent, 2 asn, 6 cidr; %.1f%% denied): "
	       "%.1f ns/verdict\n",
	    nr, 100.0 * (double)denied / (double)(iters * 5), (t1 - t0) / (double)(iters * 5));

	geo_rules_free(&r);

	/* A long list: 1000 IPv4 and IPv6 prefixes over 24 lengths, 200
	 * countries and ASNs. */
	{
		static struct geo_rule many[1400];
		uint64_t x = 0x2545f4914f6cdd1du;
		size_t m = 0;

		while (m < 1400) {
			char text[GEO_RULE_TEXT_MAX];

			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			if (m < 500)
				snprintf(text, sizeof text, "cidr:%u.%u.0.0/16",
				    (unsigned)(x % 223) + 1, (unsigned)(x >> 8) & 0xff);
			else if (m < 1000)
				snprintf(text, sizeof text, "cidr:2%03x:%x::/%u",
				    (unsigned)(x % 0xfff), (unsigned)(x >> 12) & 0xffff,
				    32 + (unsigned)(x >> 40) % 12);
			else if (m < 1200)
				snprintf(text, sizeof text, "asn:%u", (unsigned)(x % 400000) + 1);
			else
				snprintf(text, sizeof text, "country:%c%c", 'A' + (int)(x % 26),
				    'A' + (int)((x >> 8) % 26));
			if (geo_rule_parse(text, &many[m], err, sizeof err) != 0)
				continue;
			m++;
			if (geo_rules_compile(&ac, many, m, &r, err, sizeof err) != 0)
				m--; /* a repeat: draw again */
			geo_rules_free(&r);
		}
		if (geo_rules_compile(&ac, many, m, &r, err, sizeof err) != 0) {
			fprintf(stderr, "micro_geo: %s\n", err);
			return 1;
		}
		denied = 0;
		t0 = micro_now_ns();
		for (long i = 0; i < iters; i++) {
			long k = i % N_ADDR;

			denied += geo_rules_eval(r, &locs[k], (const struct sockaddr *)&addrs[k],
			              &rule) == GEO_VERDICT_DENY;
		}
		t1 = micro_now_ns();
		printf("geo_rules_eval (%zu rules: 500 IPv4 /16, 500 IPv6 /32../43, 200 asn, 200 "
		       "country; %.1f%% denied): %.1f ns/verdict\n",
		    m, 100.0 * (double)denied / (double)iters, (t1 - t0) / (double)iters);
		geo_rules_free(&r);
	}
	geo_dbs_unref(&d);
	if (db == path) {
		(void)unlink(path);
		(void)rmdir(dir);
	}
	return 0;
}
