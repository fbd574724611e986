/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * geo/geo_db.c — the MaxMind DB files and the lookup of one client.
 *
 * Model.  A struct geo_dbs holds up to three open databases (country, city,
 * asn), each an MMDB_s over a read-only mmap of its file (MMDB_MODE_MMAP):
 * opening costs a few system calls and no copy, and the pages are shared by
 * every worker and, through the page cache, by the sets before and after a
 * reload.  A set never changes once opened; it is refcounted (atomic), so a
 * reload opens a new set and swaps it in where the configuration snapshot
 * lives, while connections that looked up with the old set simply drop their
 * reference when done.  The last reference unmaps the files.  A file replaced
 * on disk (rename over it, as geoipupdate does) leaves the old mapping valid;
 * a file rewritten in place is the operator's error, as with any mmap reader.
 *
 * Checking a file when it is opened.  libmaxminddb checks the metadata and
 * the layout; we add the kind: the metadata's database_type must not name
 * another kind (GeoLite2-ASN given as the country database), and the first
 * data records of the search tree must carry the fields the kind needs
 * (walked depth-first, bounded), which also catches a file whose type name we
 * do not know (ip-location-db, DB-IP, private databases) but whose records
 * are of the wrong kind.
 *
 * The lookup.  MMDB_lookup_sockaddr walks the tree; the fields are read with
 * MMDB_aget_value on fixed, static paths (MMDB_get_value would allocate its
 * path array) and copied, after their checks, into the caller's fixed-size
 * struct geo_loc.  Nothing is allocated and no lock is taken: libmaxminddb's
 * lookups are read-only over the mapping and safe from any thread.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <maxminddb.h>

#include "core/assert.h"
#include "core/xmalloc.h"
#include "geo/geo.h"

struct geo_dbs {
	unsigned magic;
	atomic_uint refs;
	bool have[GEO_DB__N];
	MMDB_s db[GEO_DB__N];
};

static const char *const geo_err_text[GEO_E__N] = {[GEO_OK] = "success",
#define GEO_X_TEXT(name, text) [name] = text,
    GEO_ERRORS(GEO_X_TEXT)
#undef GEO_X_TEXT
};

const char *
geo_strerror(int err)
{
	if (err < 0)
		err = -err;
	if (err >= GEO_E__N)
		return "unknown error";
	return geo_err_text[err];
}

static const char *const geo_kind_names[GEO_DB__N] = {"country", "city", "asn"};

const char *
geo_db_kind_name(enum geo_db_kind k)
{
	ASSERT((unsigned)k < GEO_DB__N);
	return geo_kind_names[k];
}

void
geo_conf_defaults(struct geo_conf *c)
{
	memset(c, 0, sizeof *c);
	c->headers = true;
}

/* ---- the fields, their paths and their checks ---- */

static const char *const path_country[] = {"country", "iso_code", NULL};
static const char *const path_country_flat[] = {"country_code", NULL}; /* ip-location-db */
static const char *const path_continent[] = {"continent", "code", NULL};
static const char *const path_region[] = {"subdivisions", "0", "iso_code", NULL};
static const char *const path_city[] = {"city", "names", "en", NULL};
static const char *const path_city_flat[] = {"city", NULL}; /* ip-location-db */
static const char *const path_asn[] = {"autonomous_system_number", NULL};

/*
 * The value at path in entry, when it is a UTF-8 string: 1 and the view in
 * *p, *n; 0 when absent or of another type; -1 when the data is corrupt.
 */
static int
db_string(const MMDB_entry_s *entry, const char *const *path, const char **p, size_t *n)
{
	MMDB_entry_s e = *entry;
	MMDB_entry_data_s v;
	int rc = MMDB_aget_value(&e, &v, path);

	if (rc == MMDB_INVALID_DATA_ERROR || rc == MMDB_CORRUPT_SEARCH_TREE_ERROR)
		return -1;
	if (rc != MMDB_SUCCESS || !v.has_data || v.type != MMDB_DATA_TYPE_UTF8_STRING)
		return 0;
	*p = v.utf8_string;
	*n = v.data_size;
	return 1;
}

/* The ASN at path: 1 and *asn (1 .. UINT32_MAX), 0 when absent, of another
 * type or out of range, -1 when corrupt. */
static int
db_asn(const MMDB_entry_s *entry, uint32_t *asn)
{
	MMDB_entry_s e = *entry;
	MMDB_entry_data_s v;
	uint64_t n;
	int rc = MMDB_aget_value(&e, &v, path_asn);

	if (rc == MMDB_INVALID_DATA_ERROR || rc == MMDB_CORRUPT_SEARCH_TREE_ERROR)
		return -1;
	if (rc != MMDB_SUCCESS || !v.has_data)
		return 0;
	switch (v.type) {
	case MMDB_DATA_TYPE_UINT16:
		n = v.uint16;
		break;
	case MMDB_DATA_TYPE_UINT32:
		n = v.uint32;
		break;
	case MMDB_DATA_TYPE_UINT64:
		n = v.uint64;
		break;
	case MMDB_DATA_TYPE_INT32:
		n = v.int32 > 0 ? (uint64_t)v.int32 : 0;
		break;
	default:
		return 0;
	}
	if (n == 0 || n > UINT32_MAX)
		return 0;
	*asn = (uint32_t)n;
	return 1;
}

/* Two upper-case ASCII letters into dst[3]. */
static bool
copy_code2(const char *p, size_t n, char dst[3])
{
	if (n != 2 || p[0] < 'A' || p[0] > 'Z' || p[1] < 'A' || p[1] > 'Z')
		return false;
	dst[0] = p[0];
	dst[1] = p[1];
	dst[2] = '\0';
	return true;
}

/* One to GEO_REGION_MAX - 1 upper-case letters or digits. */
static bool
copy_region(const char *p, size_t n, char dst[GEO_REGION_MAX])
{
	if (n == 0 || n >= GEO_REGION_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= '0' && p[i] <= '9')))
			return false;
	memcpy(dst, p, n);
	dst[n] = '\0';
	return true;
}

/*
 * The length of the UTF-8 character at p[0..n): 1..4, or 0 when it is not
 * well-formed (overlong, surrogate, past U+10FFFF, cut short) or is a
 * control character (C0, DEL, C1), which has no place in a header value.
 */
static size_t
utf8_char(const unsigned char *p, size_t n)
{
	unsigned c = p[0], cp, len;

	if (c < 0x80)
		return c >= 0x20 && c != 0x7f ? 1 : 0;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, cp = c & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (unsigned i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
		return 0;
	return len;
}

/* A city name: valid UTF-8 without controls, cut at a character boundary to
 * fit GEO_CITY_MAX - 1 bytes.  Only the bytes kept are examined. */
static bool
copy_city(const char *s, size_t n, char dst[GEO_CITY_MAX])
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, len;

	while (i < n) {
		len = utf8_char(p + i, n - i);
		if (len == 0)
			return false;
		if (i + len > GEO_CITY_MAX - 1)
			break;
		i += len;
	}
	if (i == 0)
		return false;
	memcpy(dst, s, i);
	dst[i] = '\0';
	return true;
}

/* Fills what entry has of the fields kind k provides and loc lacks.  0, or
 * -1 when the data section is corrupt. */
static int
loc_fill(enum geo_db_kind k, const MMDB_entry_s *entry, struct geo_loc *loc)
{
	const char *p = NULL;
	size_t n = 0;
	int rc;

	if (k == GEO_DB_ASN) {
		rc = db_asn(entry, &loc->asn);
		if (rc > 0)
			loc->found |= GEO_FOUND_ASN;
		return rc < 0 ? -1 : 0;
	}
	if (!(loc->found & GEO_FOUND_COUNTRY)) {
		rc = db_string(entry, path_country, &p, &n);
		if (rc == 0)
			rc = db_string(entry, path_country_flat, &p, &n);
		if (rc < 0)
			return -1;
		if (rc > 0 && copy_code2(p, n, loc->country))
			loc->found |= GEO_FOUND_COUNTRY;
	}
	if (!(loc->found & GEO_FOUND_CONTINENT)) {
		rc = db_string(entry, path_continent, &p, &n);
		if (rc < 0)
			return -1;
		if (rc > 0 && copy_code2(p, n, loc->continent))
			loc->found |= GEO_FOUND_CONTINENT;
	}
	if (k != GEO_DB_CITY)
		return 0;
	rc = db_string(entry, path_region, &p, &n);
	if (rc < 0)
		return -1;
	if (rc > 0 && copy_region(p, n, loc->region))
		loc->found |= GEO_FOUND_REGION;
	rc = db_string(entry, path_city, &p, &n);
	if (rc == 0)
		rc = db_string(entry, path_city_flat, &p, &n);
	if (rc < 0)
		return -1;
	if (rc > 0 && copy_city(p, n, loc->city))
		loc->found |= GEO_FOUND_CITY;
	return 0;
}

/* ---- opening ---- */

/* The kind a database_type names ("GeoLite2-ASN", "DBIP-City-Lite", ...), or
 * GEO_DB__N when it names none we know. */
static enum geo_db_kind
kind_of_type(const char *t)
{
	if (t == NULL)
		return GEO_DB__N;
	if (strcasestr(t, "asn") != NULL)
		return GEO_DB_ASN;
	if (strcasestr(t, "city") != NULL)
		return GEO_DB_CITY;
	if (strcasestr(t, "country") != NULL)
		return GEO_DB_COUNTRY;
	return GEO_DB__N;
}

/* Does a record of kind k's database carry what k needs? */
static bool
record_fits(enum geo_db_kind k, const MMDB_entry_s *entry)
{
	struct geo_loc loc;

	memset(&loc, 0, sizeof loc);
	if (loc_fill(k, entry, &loc) != 0)
		return false;
	switch (k) {
	case GEO_DB_COUNTRY:
		return (loc.found & (GEO_FOUND_COUNTRY | GEO_FOUND_CONTINENT)) != 0;
	case GEO_DB_CITY:
		return (loc.found & (GEO_FOUND_CITY | GEO_FOUND_REGION)) != 0;
	case GEO_DB_ASN:
		return (loc.found & GEO_FOUND_ASN) != 0;
	default:
		UNREACHABLE("no such database kind");
	}
}

#define PROBE_RECORDS 256   /* data records looked at */
#define PROBE_NODES   65536 /* search nodes walked, at most */

/*
 * Walks the search tree depth-first (left first, so IPv4 data comes first in
 * an IPv6 tree) over at most PROBE_NODES nodes and PROBE_RECORDS data
 * records: 1 when one of them fits kind k, 0 when none does, -GEO_E_EMPTY when
 * there was no data record at all, -GEO_E_CORRUPT when the tree is broken.
 */
static int
probe_records(const MMDB_s *db, enum geo_db_kind k)
{
	uint32_t stack[256];
	unsigned sp = 0, nodes = 0, records = 0;

	stack[sp++] = 0;
	while (sp > 0 && nodes < PROBE_NODES && records < PROBE_RECORDS) {
		MMDB_search_node_s node;
		uint8_t types[2];
		uint64_t recs[2];
		MMDB_entry_s *entries[2];

		if (MMDB_read_node(db, stack[--sp], &node) != MMDB_SUCCESS)
			return -GEO_E_CORRUPT;
		nodes++;
		types[0] = node.left_record_type, types[1] = node.right_record_type;
		recs[0] = node.left_record, recs[1] = node.right_record;
		entries[0] = &node.left_record_entry, entries[1] = &node.right_record_entry;
		/* Right is pushed first so that left is walked first. */
		for (int i = 1; i >= 0; i--) {
			if (types[i] == MMDB_RECORD_TYPE_SEARCH_NODE) {
				if (sp == sizeof stack / sizeof stack[0])
					return -GEO_E_CORRUPT; /* deeper than 128 bits */
				stack[sp++] = (uint32_t)recs[i];
			} else if (types[i] == MMDB_RECORD_TYPE_INVALID) {
				return -GEO_E_CORRUPT;
			}
		}
		for (int i = 0; i < 2; i++) {
			if (types[i] != MMDB_RECORD_TYPE_DATA)
				continue;
			records++;
			if (record_fits(k, entries[i]))
				return 1;
		}
	}
	return records == 0 && sp == 0 ? -GEO_E_EMPTY : 0;
}

static int
open_one(const char *path, enum geo_db_kind k, MMDB_s *db, char *err, size_t errlen)
{
	const char *kn = geo_kind_names[k], *type;
	enum geo_db_kind named;
	struct stat st;
	int fd, rc;

	/* libmaxminddb says "error opening the specified MaxMind DB file" for
	 * every failure of open(); the errno is what the operator needs. */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		snprintf(err, errlen, "%s database %s: %s", kn, path, strerror(errno));
		return -GEO_E_OPEN;
	}
	rc = fstat(fd, &st);
	(void)close(fd);
	if (rc == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s database %s: %s", kn, path,
		    rc == -1 ? strerror(errno) : "not a regular file");
		return -GEO_E_OPEN;
	}
	if (st.st_size == 0) {
		snprintf(
		    err, errlen, "%s database %s: empty file, not a MaxMind DB file", kn, path);
		return -GEO_E_FORMAT;
	}
	rc = MMDB_open(path, MMDB_MODE_MMAP, db);
	if (rc != MMDB_SUCCESS) {
		int e = errno;

		if (rc == MMDB_FILE_OPEN_ERROR || rc == MMDB_IO_ERROR) {
			snprintf(err, errlen, "%s database %s: %s (%s)", kn, path,
			    MMDB_strerror(rc), strerror(e));
			return -GEO_E_OPEN;
		}
		snprintf(err, errlen, "%s database %s: not a MaxMind DB file: %s", kn, path,
		    MMDB_strerror(rc));
		return -GEO_E_FORMAT;
	}
	type = db->metadata.database_type != NULL ? db->metadata.database_type : "";
	named = kind_of_type(type);
	if (named != GEO_DB__N && named != k && !(k == GEO_DB_COUNTRY && named == GEO_DB_CITY)) {
		snprintf(err, errlen,
		    "%s database %s: is %s %s database (database_type \"%s\"), not %s %s one", kn,
		    path, named == GEO_DB_ASN ? "an" : "a", geo_kind_names[named], type,
		    k == GEO_DB_ASN ? "an" : "a", kn);
		MMDB_close(db);
		return -GEO_E_KIND;
	}
	rc = probe_records(db, k);
	if (rc == 1)
		return 0;
	if (rc == -GEO_E_EMPTY)
		snprintf(err, errlen, "%s database %s: holds no data record", kn, path);
	else if (rc == -GEO_E_CORRUPT)
		snprintf(err, errlen, "%s database %s: corrupt search tree", kn, path);
	else
		snprintf(err, errlen,
		    "%s database %s: its records have no %s (database_type \"%s\"): not %s %s "
		    "database",
		    kn, path,
		    k == GEO_DB_ASN    ? "autonomous_system_number"
		    : k == GEO_DB_CITY ? "city or subdivision"
		                       : "country or continent code",
		    type, k == GEO_DB_ASN ? "an" : "a", kn);
	MMDB_close(db);
	return rc == 0 ? -GEO_E_KIND : rc;
}

int
geo_dbs_open(const struct geo_conf *c, struct geo_dbs **out, char *err, size_t errlen)
{
	struct geo_dbs *d = xcalloc(1, sizeof *d);
	int rc;

	d->magic = GEO_DBS_MAGIC;
	atomic_init(&d->refs, 1);
	for (int k = 0; k < GEO_DB__N; k++) {
		if (c->db_path[k] == NULL)
			continue;
		rc = open_one(c->db_path[k], (enum geo_db_kind)k, &d->db[k], err, errlen);
		if (rc != 0) {
			geo_dbs_unref(&d);
			return rc;
		}
		d->have[k] = true;
	}
	*out = d;
	return 0;
}

struct geo_dbs *
geo_dbs_ref(struct geo_dbs *d)
{
	OBJ_CHECK(d, GEO_DBS_MAGIC);
	ASSERT(atomic_fetch_add_explicit(&d->refs, 1, memory_order_relaxed) > 0);
	return d;
}

void
geo_dbs_unref(struct geo_dbs **dp)
{
	struct geo_dbs *d = *dp;

	if (d == NULL)
		return;
	*dp = NULL;
	OBJ_CHECK(d, GEO_DBS_MAGIC);
	if (atomic_fetch_sub_explicit(&d->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (int k = 0; k < GEO_DB__N; k++)
		if (d->have[k])
			MMDB_close(&d->db[k]);
	d->magic = 0;
	free(d);
}

bool
geo_dbs_has(const struct geo_dbs *d, enum geo_db_kind k)
{
	ASSERT((unsigned)k < GEO_DB__N);
	return d->have[k];
}

const char *
geo_dbs_type(const struct geo_dbs *d, enum geo_db_kind k)
{
	if (!geo_dbs_has(d, k) || d->db[k].metadata.database_type == NULL)
		return "";
	return d->db[k].metadata.database_type;
}

uint64_t
geo_dbs_build_epoch(const struct geo_dbs *d, enum geo_db_kind k)
{
	return geo_dbs_has(d, k) ? d->db[k].metadata.build_epoch : 0;
}

/* ---- the lookup ---- */

int
geo_lookup(const struct geo_dbs *d, const struct sockaddr *sa, struct geo_loc *out)
{
	struct sockaddr_in v4;
	int ret = 0;

	OBJ_CHECK(d, GEO_DBS_MAGIC);
	memset(out, 0, sizeof *out);
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;

		/* ::ffff:a.b.c.d is the IPv4 client of a dual-stack socket: look
		 * a.b.c.d up, which every database (IPv4-only ones too) covers. */
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			memset(&v4, 0, sizeof v4);
			v4.sin_family = AF_INET;
			memcpy(&v4.sin_addr, s6->sin6_addr.s6_addr + 12, 4);
			sa = (const struct sockaddr *)&v4;
		}
	} else if (sa->sa_family != AF_INET) {
		return -GEO_E_FAMILY;
	}
	for (int k = 0; k < GEO_DB__N; k++) {
		MMDB_lookup_result_s r;
		int mmerr = MMDB_SUCCESS;

		if (!d->have[k])
			continue;
		r = MMDB_lookup_sockaddr(&d->db[k], sa, &mmerr);
		/* An IPv6 client and an IPv4-only database: not covered. */
		if (mmerr == MMDB_IPV6_LOOKUP_IN_IPV4_DATABASE_ERROR)
			continue;
		if (mmerr != MMDB_SUCCESS) {
			ret = -GEO_E_CORRUPT;
			continue;
		}
		if (r.found_entry && loc_fill((enum geo_db_kind)k, &r.entry, out) != 0)
			ret = -GEO_E_CORRUPT;
	}
	return ret;
}

/* ---- the headers ---- */

static const struct {
	unsigned bit;
	const char *name;
} geo_hdrs[GEO_HDR__N] = {
#define GEO_X_HDR(name, bit, text) [name] = {bit, text},
    GEO_HEADERS(GEO_X_HDR)
#undef GEO_X_HDR
};

const char *
geo_hdr_name(enum geo_hdr h)
{
	ASSERT((unsigned)h < GEO_HDR__N);
	return geo_hdrs[h].name;
}

size_t
geo_hdr_value(const struct geo_loc *loc, enum geo_hdr h, char *buf, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	const char *v;
	size_t n = 0;
	int w;

	ASSERT((unsigned)h < GEO_HDR__N && len > 0);
	buf[0] = '\0';
	if (!(loc->found & geo_hdrs[h].bit))
		return 0;
	switch (h) {
	case GEO_HDR_COUNTRY:
		v = loc->country;
		break;
	case GEO_HDR_CONTINENT:
		v = loc->continent;
		break;
	case GEO_HDR_REGION:
		v = loc->region;
		break;
	case GEO_HDR_ASN:
		w = snprintf(buf, len, "%u", (unsigned)loc->asn);
		return w > 0 && (size_t)w < len ? (size_t)w : (buf[0] = '\0', 0);
	case GEO_HDR_CITY:
		for (const unsigned char *p = (const unsigned char *)loc->city; *p != '\0'; p++) {
			bool plain = *p >= 0x20 && *p < 0x7f && *p != '%';

			if (n + (plain ? 1 : 3) >= len) {
				buf[0] = '\0';
				return 0;
			}
			if (plain) {
				buf[n++] = (char)*p;
			} else {
				buf[n++] = '%';
				buf[n++] = hex[*p >> 4];
				buf[n++] = hex[*p & 15];
			}
		}
		buf[n] = '\0';
		return n;
	default:
		UNREACHABLE("no such geo header");
	}
	n = strlen(v);
	if (n >= len) {
		buf[0] = '\0';
		return 0;
	}
	memcpy(buf, v, n + 1);
	return n;
}
