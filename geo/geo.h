/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * geo/geo.h — where a client is, and what the node does about it.
 *
 * Three parts, one door:
 *
 *  - databases (geo_db.c): MaxMind DB files (GeoLite2, DB-IP, ip-location-db,
 *    any MMDB) of three kinds — country, city, asn — memory-mapped through
 *    libmaxminddb, checked for their kind when opened, and held in a
 *    refcounted set (struct geo_dbs) that a reload replaces while lookups in
 *    flight keep the set they started with;
 *  - the lookup (geo_db.c): one call per connection fills a fixed-size
 *    struct geo_loc (country, continent, region, city, ASN) without a heap
 *    allocation;
 *  - access rules (geo_rule.c) and geo pools (geo_pool.c): "country:DE",
 *    "continent:AF", "asn:64500", "cidr:192.0.2.0/24" rules compiled into a
 *    table that answers allow/deny with the rule that decided, and the choice
 *    of an origin pool by country, then continent, then a default.
 *
 * Settings come from config/ through the structs below and their
 * *_defaults(); the text parsers here (rules, pool keys, access settings)
 * return precise error text for config/ to prefix with file:line:column.
 * See doc/geo.md for the model and how the request steps use it.
 */
#ifndef OUTPOST_GEO_GEO_H
#define OUTPOST_GEO_GEO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr;

/* ---- errors ---- */

/* X-macro: name, text.  Returned negated (-GEO_E_x) by the fallible calls. */
#define GEO_ERRORS(X)                                                                              \
	X(GEO_E_OPEN, "cannot open the file")                                                      \
	X(GEO_E_FORMAT, "not a MaxMind DB file")                                                   \
	X(GEO_E_KIND, "not a database of the expected kind")                                       \
	X(GEO_E_EMPTY, "the database holds no data")                                               \
	X(GEO_E_FAMILY, "not an IPv4 or IPv6 address")                                             \
	X(GEO_E_CORRUPT, "corrupt database (search tree or data section)")

enum geo_err {
	GEO_OK = 0,
#define GEO_X_ENUM(name, text) name,
	GEO_ERRORS(GEO_X_ENUM)
#undef GEO_X_ENUM
	    GEO_E__N
};

/* The text of a GEO_E_* code (positive or negated); "unknown error" else. */
const char *geo_strerror(int err);

/* ---- databases (geo_db.c) ---- */

enum geo_db_kind {
	GEO_DB_COUNTRY = 0, /* country.iso_code, continent.code (or country_code) */
	GEO_DB_CITY,        /* the above, subdivisions.0.iso_code, city.names.en (or city) */
	GEO_DB_ASN,         /* autonomous_system_number */
	GEO_DB__N
};

/* "country", "city", "asn". */
const char *geo_db_kind_name(enum geo_db_kind k);

/* The module's settings (config/ fills them; geo_conf_defaults first). */
struct geo_conf {
	const char *db_path[GEO_DB__N]; /* default NULL: that database is not used */
	bool headers;                   /* default true: X-Geo-* fields to the origin */
};
void geo_conf_defaults(struct geo_conf *c);

struct geo_dbs; /* opaque, refcounted, immutable once opened */

/*
 * Opens the databases c names (memory-mapped) and checks each: a readable
 * MaxMind DB file whose metadata database_type does not name another kind
 * (a city database serves as a country one) and whose first data record has
 * the fields its kind needs.  0 and a new set (one reference) in *out, or a
 * negated GEO_E_* with the file and the reason in err ("/x/asn.mmdb: is a
 * country database (database_type "GeoLite2-Country"), not an asn one");
 * *out is then untouched, so a reload keeps its old set.  A set with no
 * database at all is valid (every lookup finds nothing).  Main thread (it
 * reads files); the set may then be used from any thread.
 */
int geo_dbs_open(const struct geo_conf *c, struct geo_dbs **out, char *err, size_t errlen);
/* A new reference to d (d not NULL).  Any thread. */
struct geo_dbs *geo_dbs_ref(struct geo_dbs *d);
/* Drops the reference *dp (NULL-safe), sets *dp = NULL; the last one unmaps
 * the files.  Any thread. */
void geo_dbs_unref(struct geo_dbs **dp);
/* Is database k loaded in d?  Its metadata database_type ("" when absent)
 * and build time (Unix seconds, 0 when absent). */
bool geo_dbs_has(const struct geo_dbs *d, enum geo_db_kind k);
const char *geo_dbs_type(const struct geo_dbs *d, enum geo_db_kind k);
uint64_t geo_dbs_build_epoch(const struct geo_dbs *d, enum geo_db_kind k);

/* ---- the location of one client (geo_db.c) ---- */

#define GEO_CITY_MAX   64 /* bytes of geo_loc.city with its NUL */
#define GEO_REGION_MAX 8  /* bytes of geo_loc.region with its NUL */

/* geo_loc.found bits */
#define GEO_FOUND_COUNTRY   0x01u
#define GEO_FOUND_CONTINENT 0x02u
#define GEO_FOUND_REGION    0x04u
#define GEO_FOUND_CITY      0x08u
#define GEO_FOUND_ASN       0x10u

/*
 * Fixed size, lives on the stack or in the connection.  Each string is
 * NUL-terminated and empty unless its bit is set in found.  Values are
 * checked before they are copied: country and continent are two upper-case
 * ASCII letters, region one to seven upper-case letters or digits (the
 * subdivision part of ISO 3166-2: "BE" of DE-BE), city valid UTF-8 without
 * control characters, cut at a character boundary to fit.  A value that
 * fails its check is left out (its bit clear).
 */
struct geo_loc {
	unsigned found; /* GEO_FOUND_* */
	char country[3];
	char continent[3];
	char region[GEO_REGION_MAX];
	char city[GEO_CITY_MAX];
	uint32_t asn;
};

/*
 * Looks sa (AF_INET or AF_INET6; an IPv4-mapped IPv6 address is looked up
 * as the IPv4 address) up in every database of d and fills *out (cleared
 * first).  An address a database does not cover — or an IPv6 address in an
 * IPv4-only database — is not an error: the fields stay unset.  0, or
 * -GEO_E_FAMILY (another family), or -GEO_E_CORRUPT (a database failed
 * mid-lookup; what the other databases found is kept).  No allocation, no
 * lock.  Any thread.
 */
int geo_lookup(const struct geo_dbs *d, const struct sockaddr *sa, struct geo_loc *out);

/* ---- the headers to the origin (geo_db.c) ---- */

/* X-macro: field, found bit, header name.  The request steps remove every
 * client-sent X-Geo-* field, then add these for the fields found. */
#define GEO_HEADERS(X)                                                                             \
	X(GEO_HDR_COUNTRY, GEO_FOUND_COUNTRY, "X-Geo-Country")                                     \
	X(GEO_HDR_CONTINENT, GEO_FOUND_CONTINENT, "X-Geo-Continent")                               \
	X(GEO_HDR_REGION, GEO_FOUND_REGION, "X-Geo-Region")                                        \
	X(GEO_HDR_CITY, GEO_FOUND_CITY, "X-Geo-City")                                              \
	X(GEO_HDR_ASN, GEO_FOUND_ASN, "X-Geo-ASN")

enum geo_hdr {
#define GEO_X_HDR(name, bit, text) name,
	GEO_HEADERS(GEO_X_HDR)
#undef GEO_X_HDR
	    GEO_HDR__N
};

#define GEO_HDR_VALUE_MAX (3 * GEO_CITY_MAX) /* bytes of any value with its NUL */

/* The header's name ("X-Geo-City"). */
const char *geo_hdr_name(enum geo_hdr h);
/*
 * The value of header h for loc into buf (len >= GEO_HDR_VALUE_MAX is always
 * enough): its length, or 0 when loc lacks the field (no header then).  The
 * city is percent-encoded (RFC 3986 §2.1) past printable ASCII and for '%',
 * so the value is visible ASCII (RFC 9110 §5.5); the ASN is decimal.  No
 * allocation.  Any thread.
 */
size_t geo_hdr_value(const struct geo_loc *loc, enum geo_hdr h, char *buf, size_t len);

/* ---- access rules (geo_rule.c) ---- */

enum geo_rule_kind {
	GEO_RULE_COUNTRY = 0, /* "country:DE" */
	GEO_RULE_CONTINENT,   /* "continent:EU": AF AN AS EU NA OC SA */
	GEO_RULE_ASN,         /* "asn:64500": 1 .. 4294967295 */
	GEO_RULE_CIDR         /* "cidr:192.0.2.0/24", "cidr:2001:db8::/32" */
};

struct geo_rule {
	enum geo_rule_kind kind;
	char code[3];     /* COUNTRY, CONTINENT */
	uint32_t asn;     /* ASN */
	bool v6;          /* CIDR: an IPv6 prefix */
	uint8_t addr[16]; /* CIDR: network, 4 or 16 bytes used, host bits zero */
	unsigned plen;    /* CIDR: prefix length, 0..32 or 0..128 */
};

#define GEO_RULE_TEXT_MAX 64 /* bytes of a rule's text with its NUL */
#define GEO_RULES_MAX     4096

/*
 * Parses one rule ("kind:value", nothing around it) into *out: 0, or -1 with
 * the reason in err, e.g. `unknown rule kind "ip" (country, continent, asn,
 * cidr)`, `country code "de" is not two upper-case letters`, `host bits set
 * in 192.0.2.1/24 (the network is 192.0.2.0/24)`.  Any thread.
 */
int geo_rule_parse(const char *text, struct geo_rule *out, char *err, size_t errlen);
/* Writes r in the syntax geo_rule_parse reads (canonical: "cidr:2001:db8::/32")
 * into buf (GEO_RULE_TEXT_MAX bytes are always enough). */
void geo_rule_format(const struct geo_rule *r, char *buf, size_t len);

/* Which list the rules are. */
enum geo_access_mode {
	GEO_ACCESS_DENY = 0, /* deny: a client a rule matches is refused */
	GEO_ACCESS_ALLOW     /* allow: only a client a rule matches is served */
};

enum geo_verdict { GEO_VERDICT_ALLOW = 0, GEO_VERDICT_DENY };

/* The settings of `access: { deny: [...] | allow: [...], status:, unknown: }`. */
struct geo_access_conf {
	enum geo_access_mode mode; /* default GEO_ACCESS_DENY */
	unsigned status;           /* default 403; 403 or 451 (RFC 7725) */
	enum geo_verdict unknown;  /* default GEO_VERDICT_ALLOW */
};
void geo_access_conf_defaults(struct geo_access_conf *c);
/* "allow" or "deny" into *out: 0, or -1 with err.  For `unknown:`. */
int geo_verdict_parse(const char *text, enum geo_verdict *out, char *err, size_t errlen);
/* 403 or 451: 0, else -1 with err.  For `status:`. */
int geo_access_status_check(unsigned status, char *err, size_t errlen);

struct geo_rules; /* opaque, immutable: share it read-only between threads */

/*
 * Compiles rules[0..n) (in order: the index of a rule is its position) with
 * the settings c into *out: 0, or -1 with err (more than GEO_RULES_MAX rules,
 * an empty allow list, a bad status, a rule that repeats an earlier one:
 * `rule 3 ("country:DE") repeats rule 1`).  Main thread.
 */
int geo_rules_compile(const struct geo_access_conf *c, const struct geo_rule *rules, size_t n,
    struct geo_rules **out, char *err, size_t errlen);
void geo_rules_free(struct geo_rules **rp); /* NULL-safe, sets *rp = NULL */
/* The status a denied request gets (c->status). */
unsigned geo_rules_status(const struct geo_rules *r);
/* The number of rules. */
size_t geo_rules_count(const struct geo_rules *r);

/* geo_rules_eval's *rule when no rule decided. */
#define GEO_EVAL_DEFAULT (-1) /* no rule matched: the list's default */
#define GEO_EVAL_UNKNOWN (-2) /* no rule matched and loc lacked a field a rule needs */

/*
 * The verdict for a client at sa (its address, for cidr rules; may be NULL)
 * located at loc (may be NULL: nothing found).  A matching rule decides
 * (deny list: deny; allow list: allow) and *rule is its index — the lowest
 * when several match.  Else, when some rule could not be decided because loc
 * lacks its field (no country for a country rule, ...), the `unknown`
 * setting decides and *rule is GEO_EVAL_UNKNOWN; else the list's default
 * (deny list: allow; allow list: deny), *rule GEO_EVAL_DEFAULT.  An
 * IPv4-mapped IPv6 address matches IPv4 prefixes.  No allocation.  Any
 * thread.
 */
enum geo_verdict geo_rules_eval(
    const struct geo_rules *r, const struct geo_loc *loc, const struct sockaddr *sa, int *rule);

/* ---- geo pools (geo_pool.c) ---- */

/*
 * `geo_pools: { EU: pool-fra, NA: pool-iad, DE: pool-fra2, default: pool-iad }`
 * A key is "default", a continent code (AF AN AS EU NA OC SA), a country
 * code (two upper-case letters), or explicitly "country:XX" /
 * "continent:XX".  A bare key that is both (AF, AN, AS, NA, SA are also
 * country codes) is the continent; "country:NA" names Namibia.  The values
 * are the caller's pool indexes (config/ maps pool names to them).
 */
struct geo_pool_map; /* opaque, immutable once built */

#define GEO_POOL_NONE (-1)

struct geo_pool_map *geo_pool_map_new(void);
void geo_pool_map_free(struct geo_pool_map **mp); /* NULL-safe, sets *mp = NULL */
/* Adds key -> pool (pool >= 0): 0, or -1 with err (a bad key, a key given
 * twice: `"DE" given twice`).  Main thread. */
int geo_pool_map_add(struct geo_pool_map *m, const char *key, int pool, char *err, size_t errlen);

/* The pool for loc (NULL: nothing found): the country's, else the
 * continent's, else the default; GEO_POOL_NONE when none applies.  Any
 * thread. */
int geo_pools_pick(const struct geo_pool_map *m, const struct geo_loc *loc);
/*
 * The failover order for loc: the country's pool, the continent's, the
 * default, each once, in out[0..return) (at most 3).  The request steps try
 * them in turn and fall back to the route's pool after the last.
 */
size_t geo_pools_candidates(const struct geo_pool_map *m, const struct geo_loc *loc, int out[3]);

#endif
