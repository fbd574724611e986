/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/geo/test_geo_db.c — opening and checking MaxMind DB files, the
 * lookup (IPv4, IPv6, IPv4-mapped, not covered, IPv6 in an IPv4 database),
 * and the refcounted set across a reload.
 *
 * The databases are written by tests/unit/geo/make-test-mmdb.pl into
 * GEO_TEST_MMDB_DIR before this program runs (see geo/include.am).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "geo/geo.h"
#include "tests/unit/geo/geo_test.h"
#include "tests/unit/tap.h"

#ifndef GEO_TEST_MMDB_DIR
#error "GEO_TEST_MMDB_DIR must name the directory of the test databases"
#endif

/*
 * Counting allocations: the test's own malloc family wins over libc's for
 * every caller, libmaxminddb included, and forwards to glibc's.  Not under
 * a sanitizer, which owns the allocator.
 */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define GEO_COUNT_ALLOCS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||                         \
    __has_feature(memory_sanitizer)
#define GEO_COUNT_ALLOCS 0
#endif
#endif
#ifndef GEO_COUNT_ALLOCS
#define GEO_COUNT_ALLOCS 1
#endif

#if GEO_COUNT_ALLOCS
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
static unsigned long n_allocs;
void *malloc(size_t n);
void *calloc(size_t a, size_t b);
void *realloc(void *p, size_t n);
void *
malloc(size_t n)
{
	n_allocs++;
	return __libc_malloc(n);
}
void *
calloc(size_t a, size_t b)
{
	n_allocs++;
	return __libc_calloc(a, b);
}
void *
realloc(void *p, size_t n)
{
	n_allocs++;
	return __libc_realloc(p, n);
}
#endif

static struct sockaddr_storage ss;
static char dir[512];
static char path_country[600], path_city[600], path_asn[600], path_asn4[600], path_flat[600];

static void
paths(void)
{
	const char *d = getenv("GEO_TEST_MMDB_DIR");

	snprintf(dir, sizeof dir, "%s", d != NULL ? d : GEO_TEST_MMDB_DIR);
	snprintf(path_country, sizeof path_country, "%s/test-country.mmdb", dir);
	snprintf(path_city, sizeof path_city, "%s/test-city.mmdb", dir);
	snprintf(path_asn, sizeof path_asn, "%s/test-asn.mmdb", dir);
	snprintf(path_asn4, sizeof path_asn4, "%s/test-asn-v4.mmdb", dir);
	snprintf(path_flat, sizeof path_flat, "%s/test-flat.mmdb", dir);
}

/* Opens one database of kind k at path: the return code, err filled. */
static int
open1(enum geo_db_kind k, const char *path, struct geo_dbs **d, char *err, size_t errlen)
{
	struct geo_conf c;

	geo_conf_defaults(&c);
	c.db_path[k] = path;
	err[0] = '\0';
	return geo_dbs_open(&c, d, err, errlen);
}

static void
write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0)
		abort();
}

static void
copy_file(const char *from, const char *to, size_t max)
{
	char buf[65536];
	FILE *f = fopen(from, "rb");
	size_t n;

	if (f == NULL)
		abort();
	n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	write_file(to, buf, n < max ? n : max);
}

static void
test_open_errors(void)
{
	struct geo_dbs *d = NULL, *keep = (struct geo_dbs *)&d; /* a marker: untouched */
	char err[1500], want[1500], tmp[700], tmp2[700];
	static const char garbage[] = "this is not a MaxMind DB file\n\x01\x02\x03 garbage";

	subtest("open: missing, garbage, empty, truncated, directory, wrong kind");
	snprintf(tmp, sizeof tmp, "%s/no-such.mmdb", dir);
	d = keep;
	is_int(open1(GEO_DB_COUNTRY, tmp, &d, err, sizeof err), -GEO_E_OPEN);
	ok(d == keep, "a failed open leaves *out alone");
	snprintf(want, sizeof want, "country database %s: No such file or directory", tmp);
	is_str(err, want);

	snprintf(tmp, sizeof tmp, "%s/garbage.mmdb", dir);
	write_file(tmp, garbage, sizeof garbage - 1);
	is_int(open1(GEO_DB_CITY, tmp, &d, err, sizeof err), -GEO_E_FORMAT);
	snprintf(want, sizeof want,
	    "city database %s: not a MaxMind DB file: The MaxMind DB file contains invalid "
	    "metadata",
	    tmp);
	is_str(err, want);

	write_file(tmp, "", 0);
	is_int(open1(GEO_DB_ASN, tmp, &d, err, sizeof err), -GEO_E_FORMAT);
	snprintf(want, sizeof want, "asn database %s: empty file, not a MaxMind DB file", tmp);
	is_str(err, want);

	/* The metadata lives at the end: the first half of a file has none. */
	copy_file(path_country, tmp, 1000);
	is_int(open1(GEO_DB_COUNTRY, tmp, &d, err, sizeof err), -GEO_E_FORMAT);
	ok(strstr(err, "not a MaxMind DB file") != NULL, "truncated: not a MaxMind DB file");
	(void)unlink(tmp);

	is_int(open1(GEO_DB_COUNTRY, dir, &d, err, sizeof err), -GEO_E_OPEN);
	snprintf(want, sizeof want, "country database %s: not a regular file", dir);
	is_str(err, want);

	/* The type name says another kind. */
	is_int(open1(GEO_DB_COUNTRY, path_asn, &d, err, sizeof err), -GEO_E_KIND);
	snprintf(want, sizeof want,
	    "country database %s: is an asn database (database_type \"Outpost-Test-ASN\"), not "
	    "a country one",
	    path_asn);
	is_str(err, want);
	is_int(open1(GEO_DB_CITY, path_country, &d, err, sizeof err), -GEO_E_KIND);
	snprintf(want, sizeof want,
	    "city database %s: is a country database (database_type \"Outpost-Test-Country\"), "
	    "not a city one",
	    path_country);
	is_str(err, want);
	is_int(open1(GEO_DB_ASN, path_city, &d, err, sizeof err), -GEO_E_KIND);

	/* A type name we do not know: the records decide. */
	is_int(open1(GEO_DB_ASN, path_flat, &d, err, sizeof err), -GEO_E_KIND);
	snprintf(want, sizeof want,
	    "asn database %s: its records have no autonomous_system_number (database_type "
	    "\"Outpost-Test-Flat\"): not an asn database",
	    path_flat);
	is_str(err, want);

	/* A search tree whose first node points past the tree and the data. */
	snprintf(tmp2, sizeof tmp2, "%s/corrupt-tree.mmdb", dir);
	copy_file(path_asn, tmp2, (size_t)-1);
	{
		int fd = open(tmp2, O_WRONLY);
		static const unsigned char ff[7] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

		ok(fd != -1 && pwrite(fd, ff, sizeof ff, 0) == (ssize_t)sizeof ff,
		    "corrupt the first node");
		if (fd != -1)
			close(fd);
	}
	is_int(open1(GEO_DB_ASN, tmp2, &d, err, sizeof err), -GEO_E_CORRUPT);
	snprintf(want, sizeof want, "asn database %s: corrupt search tree", tmp2);
	is_str(err, want);
	(void)unlink(tmp2);

	/* The good ones, and the kinds that serve for others. */
	is_int(open1(GEO_DB_COUNTRY, path_country, &d, err, sizeof err), 0);
	geo_dbs_unref(&d);
	ok(d == NULL, "unref clears the pointer");
	is_int(open1(GEO_DB_COUNTRY, path_city, &d, err, sizeof err), 0);
	geo_dbs_unref(&d);
	is_int(open1(GEO_DB_COUNTRY, path_flat, &d, err, sizeof err), 0);
	geo_dbs_unref(&d);
	is_int(open1(GEO_DB_CITY, path_flat, &d, err, sizeof err), 0);
	geo_dbs_unref(&d);
	is_int(open1(GEO_DB_ASN, path_asn4, &d, err, sizeof err), 0);
	geo_dbs_unref(&d);
	geo_dbs_unref(&d); /* NULL-safe */

	is_str(geo_strerror(-GEO_E_KIND), "not a database of the expected kind");
	is_str(geo_strerror(GEO_E_FAMILY), "not an IPv4 or IPv6 address");
	is_str(geo_strerror(999), "unknown error");
}

/* One lookup row: address, then the expected fields ("" or 0: not found). */
struct lrow {
	const char *ip;
	const char *country, *continent, *region, *city;
	uint32_t asn;
};

static void
check_row(const struct geo_dbs *d, const struct lrow *r)
{
	struct geo_loc loc;
	char what[256];
	unsigned want = (r->country[0] ? GEO_FOUND_COUNTRY : 0) |
	                (r->continent[0] ? GEO_FOUND_CONTINENT : 0) |
	                (r->region[0] ? GEO_FOUND_REGION : 0) | (r->city[0] ? GEO_FOUND_CITY : 0) |
	                (r->asn ? GEO_FOUND_ASN : 0);

	snprintf(what, sizeof what, "lookup %s", r->ip);
	ok(geo_lookup(d, geo_test_addr(r->ip, &ss), &loc) == 0, what);
	is_int(loc.found, want);
	is_str(loc.country, r->country);
	is_str(loc.continent, r->continent);
	is_str(loc.region, r->region);
	is_str(loc.city, r->city);
	is_int(loc.asn, r->asn);
}

static void
test_lookups(void)
{
	static const struct lrow rows[] = {
	    {"127.0.0.2", "DE", "EU", "BE", "Berlin", 64500},
	    {"127.0.0.3", "US", "NA", "CA", "San Francisco", 64501},
	    {"127.0.0.4", "JP", "AS", "", "", 64502},
	    {"127.0.0.5", "", "EU", "", "", 0},
	    {"127.0.1.77", "NL", "EU", "", "", 64510},
	    {"::1", "FR", "EU", "IDF", "Paris", 64503},
	    {"::ffff:127.0.0.2", "DE", "EU", "BE", "Berlin", 64500},
	    {"::ffff:192.0.2.200", "GB", "EU", "", "", 0},
	    {"192.0.2.1", "GB", "EU", "", "", 0},
	    {"2001:db8::1", "NL", "EU", "NH", "Amsterdam", 64496},
	    {"2001:db8:ffff::1", "CA", "NA", "", "", 64496},
	    {"2001:db9::1", "", "", "", "", 0},
	    {"10.0.0.1", "", "", "", "", 0},
	    {"127.0.0.1", "", "", "", "", 0},
	};
	struct geo_conf c;
	struct geo_dbs *d = NULL;
	struct geo_loc loc;
	struct sockaddr_un sun;
	char err[512];

	subtest("lookups: IPv4, IPv6, IPv4-mapped, not covered");
	geo_conf_defaults(&c);
	c.db_path[GEO_DB_COUNTRY] = path_country;
	c.db_path[GEO_DB_CITY] = path_city;
	c.db_path[GEO_DB_ASN] = path_asn;
#if GEO_COUNT_ALLOCS
	{
		unsigned long before = n_allocs;
#endif
		if (!ok(geo_dbs_open(&c, &d, err, sizeof err) == 0, "open country, city, asn")) {
			printf("# %s\n", err);
			return;
		}
#if GEO_COUNT_ALLOCS
		/* The counter sees libmaxminddb's own allocations. */
		ok(n_allocs > before, "allocations are counted");
	}
#endif
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
		check_row(d, &rows[i]);
	ok(geo_dbs_has(d, GEO_DB_ASN), "asn loaded");
	is_str(geo_dbs_type(d, GEO_DB_CITY), "Outpost-Test-City");
	ok(geo_dbs_build_epoch(d, GEO_DB_COUNTRY) > 1500000000, "build epoch read");

	/* The city name is cut at a character boundary: "Santo " and 28 of
	 * the 40 two-byte characters make 62 bytes; a 63rd would split one. */
	is_int(geo_lookup(d, geo_test_addr("127.0.0.6", &ss), &loc), 0);
	is_int(strlen(loc.city), 62);
	ok(strncmp(loc.city, "Santo \xc5\x9c\xc5\x9c", 10) == 0, "city starts as stored");
	ok((unsigned char)loc.city[60] == 0xc5 && (unsigned char)loc.city[61] == 0x9c,
	    "city ends with a whole character");

	/* The header values: the city percent-encoded past ASCII. */
	{
		char v[GEO_HDR_VALUE_MAX];

		is_int(geo_hdr_value(&loc, GEO_HDR_CITY, v, sizeof v), 6 + 28 * 6);
		ok(strncmp(v, "Santo %C5%9C%C5%9C", 18) == 0, "city percent-encoded");
		is_int(geo_hdr_value(&loc, GEO_HDR_ASN, v, sizeof v), 0);
		is_str(v, "");
		is_int(geo_lookup(d, geo_test_addr("127.0.0.2", &ss), &loc), 0);
		is_int(geo_hdr_value(&loc, GEO_HDR_COUNTRY, v, sizeof v), 2);
		is_str(v, "DE");
		is_int(geo_hdr_value(&loc, GEO_HDR_CONTINENT, v, sizeof v), 2);
		is_str(v, "EU");
		is_int(geo_hdr_value(&loc, GEO_HDR_REGION, v, sizeof v), 2);
		is_str(v, "BE");
		is_int(geo_hdr_value(&loc, GEO_HDR_CITY, v, sizeof v), 6);
		is_str(v, "Berlin");
		is_int(geo_hdr_value(&loc, GEO_HDR_ASN, v, sizeof v), 5);
		is_str(v, "64500");
		is_int(geo_hdr_value(&loc, GEO_HDR_CITY, v, 6), 0); /* does not fit */
		is_str(geo_hdr_name(GEO_HDR_ASN), "X-Geo-ASN");
		is_str(geo_hdr_name(GEO_HDR_REGION), "X-Geo-Region");
		strcpy(loc.city, "50% \x7f");
		is_int(geo_hdr_value(&loc, GEO_HDR_CITY, v, sizeof v), 9);
		is_str(v, "50%25 %7F");
	}

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	is_int(geo_lookup(d, (const struct sockaddr *)&sun, &loc), -GEO_E_FAMILY);
	is_int(loc.found, 0);

#if GEO_COUNT_ALLOCS
	{
		unsigned long before = n_allocs;

		for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
			(void)geo_lookup(d, geo_test_addr(rows[i].ip, &ss), &loc);
		is_int(n_allocs - before, 0);
	}
#else
	ok(1, "# SKIP allocation count under a sanitizer");
#endif
	geo_dbs_unref(&d);

	subtest("lookups: an IPv4-only database, the ip-location-db layout");
	geo_conf_defaults(&c);
	c.db_path[GEO_DB_ASN] = path_asn4;
	is_int(geo_dbs_open(&c, &d, err, sizeof err), 0);
	is_int(geo_lookup(d, geo_test_addr("::1", &ss), &loc), 0);
	is_int(loc.found, 0);
	is_int(geo_lookup(d, geo_test_addr("2001:db8::1", &ss), &loc), 0);
	is_int(loc.found, 0);
	is_int(geo_lookup(d, geo_test_addr("::ffff:127.0.0.3", &ss), &loc), 0);
	is_int(loc.found, GEO_FOUND_ASN);
	is_int(loc.asn, 64501);
	geo_dbs_unref(&d);

	geo_conf_defaults(&c);
	c.db_path[GEO_DB_CITY] = path_flat;
	is_int(geo_dbs_open(&c, &d, err, sizeof err), 0);
	is_int(geo_lookup(d, geo_test_addr("127.0.0.2", &ss), &loc), 0);
	is_int(loc.found, GEO_FOUND_COUNTRY | GEO_FOUND_CITY);
	is_str(loc.country, "DE");
	is_str(loc.city, "Berlin");
	geo_dbs_unref(&d);

	/* No database at all: a valid set that finds nothing. */
	geo_conf_defaults(&c);
	is_int(geo_dbs_open(&c, &d, err, sizeof err), 0);
	is_int(geo_lookup(d, geo_test_addr("127.0.0.2", &ss), &loc), 0);
	is_int(loc.found, 0);
	geo_dbs_unref(&d);
}

static void
test_swap(void)
{
	struct geo_conf c;
	struct geo_dbs *cur = NULL, *inflight, *next = NULL;
	struct geo_loc loc;
	char err[512], live[700], tmp[700];

	subtest("reload: a new set swapped in, the old one kept by lookups in flight");
	snprintf(live, sizeof live, "%s/live.mmdb", dir);
	snprintf(tmp, sizeof tmp, "%s/live.mmdb.new", dir);
	copy_file(path_country, live, (size_t)-1);
	geo_conf_defaults(&c);
	c.db_path[GEO_DB_COUNTRY] = live;
	is_int(geo_dbs_open(&c, &cur, err, sizeof err), 0);
	inflight = geo_dbs_ref(cur); /* a connection's lookup */

	/* A bad new file: the caller keeps its set and gets the reason. */
	write_file(tmp, "garbage", 7);
	(void)rename(tmp, live);
	next = NULL;
	is_int(geo_dbs_open(&c, &next, err, sizeof err), -GEO_E_FORMAT);
	ok(next == NULL, "no new set");
	ok(strstr(err, "live.mmdb: not a MaxMind DB file") != NULL, "the reason names the file");

	/* The operator puts a new file in place (rename over, like
	 * geoipupdate): here the city database, which locates more. */
	copy_file(path_city, tmp, (size_t)-1);
	(void)rename(tmp, live);
	is_int(geo_dbs_open(&c, &next, err, sizeof err), 0);
	geo_dbs_unref(&cur); /* the swap: the holder drops the old set */
	cur = next;

	/* The lookup in flight still reads the old mapping (no city there) ... */
	is_int(geo_lookup(inflight, geo_test_addr("127.0.0.2", &ss), &loc), 0);
	is_str(loc.country, "DE");
	is_str(geo_dbs_type(inflight, GEO_DB_COUNTRY), "Outpost-Test-Country");
	geo_dbs_unref(&inflight); /* the last reference: unmapped */
	ok(inflight == NULL, "in-flight reference dropped");
	/* ... and new lookups read the new one. */
	is_int(geo_lookup(cur, geo_test_addr("::1", &ss), &loc), 0);
	is_str(loc.country, "FR");
	is_str(geo_dbs_type(cur, GEO_DB_COUNTRY), "Outpost-Test-City");
	geo_dbs_unref(&cur);
	(void)unlink(live);
}

/*
 * Readers take a reference to the current set under the holder's lock (the
 * configuration snapshot's role), look up without it, and drop the
 * reference; the main thread swaps sets meanwhile.  A refcount that lost a
 * count would free a set in use (ASan sees it) or leak one (LeakSanitizer).
 */
enum { SWAP_READERS = 3, SWAP_LOOKUPS = 20000, SWAP_SWAPS = 200 };

static pthread_mutex_t holder_lock = PTHREAD_MUTEX_INITIALIZER;
static struct geo_dbs *holder;

static void *
swap_reader(void *arg)
{
	struct sockaddr_storage mine;
	const struct sockaddr *sa = geo_test_addr("127.0.0.2", &mine);
	unsigned long *bad = arg;

	for (int i = 0; i < SWAP_LOOKUPS; i++) {
		struct geo_dbs *d;
		struct geo_loc loc;

		pthread_mutex_lock(&holder_lock);
		d = geo_dbs_ref(holder);
		pthread_mutex_unlock(&holder_lock);
		if (geo_lookup(d, sa, &loc) != 0 || strcmp(loc.country, "DE") != 0)
			(*bad)++;
		geo_dbs_unref(&d);
	}
	return NULL;
}

static void
test_swap_threads(void)
{
	pthread_t th[SWAP_READERS];
	unsigned long bad[SWAP_READERS] = {0}, total = 0;
	struct geo_conf c;
	char err[512];
	int fails = 0;

	subtest("reload: sets swapped while other threads look up");
	geo_conf_defaults(&c);
	c.db_path[GEO_DB_COUNTRY] = path_country;
	if (!ok(geo_dbs_open(&c, &holder, err, sizeof err) == 0, "first set"))
		return;
	for (int i = 0; i < SWAP_READERS; i++)
		pthread_create(&th[i], NULL, swap_reader, &bad[i]);
	for (int i = 0; i < SWAP_SWAPS; i++) {
		struct geo_dbs *next = NULL, *old;

		c.db_path[GEO_DB_COUNTRY] = i % 2 ? path_country : path_city;
		if (geo_dbs_open(&c, &next, err, sizeof err) != 0) {
			fails++;
			continue;
		}
		pthread_mutex_lock(&holder_lock);
		old = holder;
		holder = next;
		pthread_mutex_unlock(&holder_lock);
		geo_dbs_unref(&old);
	}
	for (int i = 0; i < SWAP_READERS; i++) {
		pthread_join(th[i], NULL);
		total += bad[i];
	}
	is_int(fails, 0);
	is_int(total, 0);
	geo_dbs_unref(&holder);
}

int
main(void)
{
	paths();
	test_open_errors();
	test_lookups();
	test_swap();
	test_swap_threads();
	return tap_done();
}
