/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * policy/policy.h — the edge policy stage's primitives: client addresses,
 * CIDR sets, the PROXY protocol, the client address behind trusted proxies,
 * and the shared rate-limit and concurrency table.  doc/policy.md tells how
 * the connection and the request's policy step use them.
 *
 * Threads: a CIDR set is built once (config load) and is then immutable: any
 * number of threads look it up without locks.  The PROXY protocol parser and
 * the client-address walk are pure functions over the caller's bytes (no
 * allocation, any thread).  The rate-limit table is shared by all workers and
 * locks one small set of entries per call (see policy_ratelimit.c).
 *
 * Errors follow STYLE §3.4: each parser returns a status from an X-macro
 * table that also gives its text (the config layer prints it after
 * file:line:column; the edge counts it under its label).
 */
#ifndef OUTPOST_POLICY_H
#define OUTPOST_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/str.h"

/* ------------------------------------------------------------------------
 * Addresses
 */

/*
 * A client address without port.  family is AF_INET (b[0..3], network
 * order, the rest zero) or AF_INET6 (b[0..15]).  The constructors below turn
 * an IPv4-mapped IPv6 address (::ffff:a.b.c.d, what a dual-stack socket
 * reports for an IPv4 peer) into the AF_INET address, so logs, limits and
 * rules see one form of each IPv4 client.
 */
struct policy_addr {
	uint8_t family;
	uint8_t b[16];
};

/* Longest text policy_addr_format writes, with its NUL. */
#define POLICY_ADDR_STRLEN 46

/* An IPv4 or IPv6 literal (no brackets, no port, no zone) → 0, else -1.
 * Never reads outside s; no allocation. */
int policy_addr_parse(struct str s, struct policy_addr *out);
/* The address of an AF_INET / AF_INET6 sockaddr → 0; another family → -1. */
int policy_addr_from_sockaddr(const struct sockaddr *sa, struct policy_addr *out);
/* "192.0.2.1" or "2001:db8::1" into buf[POLICY_ADDR_STRLEN]; returns buf. */
const char *policy_addr_format(const struct policy_addr *a, char *buf);
static inline bool
policy_addr_eq(const struct policy_addr *a, const struct policy_addr *b)
{
	return a->family == b->family && memcmp(a->b, b->b, sizeof a->b) == 0;
}

/* ------------------------------------------------------------------------
 * CIDR sets (policy_cidr.c)
 *
 * A path-compressed binary trie (PATRICIA) over IPv4 and IPv6 prefixes, one
 * tree per family, each prefix mapping to a 32-bit value (a rule index);
 * lookups return the value of the longest matching prefix.
 *
 * Prefix text: "192.0.2.0/24", "2001:db8::/32", or a bare address (/32,
 * /128).  Host bits set after the prefix length ("192.0.2.1/24") are an
 * error, not silently masked: such a rule is usually a typo for a single
 * address or a wrong length, and the message names the network meant.
 * IPv4 matching: an IPv4-mapped IPv6 client address (::ffff:192.0.2.1) is
 * matched against the IPv4 prefixes; a prefix written in mapped form with a
 * length of 96 or more ("::ffff:192.0.2.0/120") is the IPv4 prefix
 * (192.0.2.0/24).  Shorter IPv6 prefixes ("::/0") cover IPv6 clients only.
 */

/*       name             text */
#define POLICY_CIDR_STATUS_TABLE(X)                                                                \
	X(OK, "ok")                                                                                \
	X(E_EMPTY, "empty prefix")                                                                 \
	X(E_BAD_ADDRESS, "not an IPv4 or IPv6 address")                                            \
	X(E_BAD_LENGTH, "prefix length after '/' is not a decimal number")                         \
	X(E_LENGTH_RANGE, "prefix length too long for the address family (32 for IPv4, 128 for "   \
	                  "IPv6)")                                                                 \
	X(E_HOST_BITS, "address has bits set after the prefix length")                             \
	X(E_DUPLICATE, "prefix listed twice")

enum policy_cidr_status {
#define POLICY_CIDR_ENUM(name, text) POLICY_CIDR_##name,
	POLICY_CIDR_STATUS_TABLE(POLICY_CIDR_ENUM)
#undef POLICY_CIDR_ENUM
};

const char *policy_cidr_strerror(enum policy_cidr_status st);

struct policy_prefix {
	struct policy_addr addr; /* host bits zero */
	uint8_t len;             /* 0..32 (AF_INET) or 0..128 (AF_INET6) */
};

/* Longest text policy_prefix_format writes, with its NUL. */
#define POLICY_PREFIX_STRLEN (POLICY_ADDR_STRLEN + 4)

/*
 * Parses prefix text (no surrounding spaces).  POLICY_CIDR_OK fills out;
 * POLICY_CIDR_E_HOST_BITS also fills out with the host bits cleared, so the
 * caller can say "did you mean 192.0.2.0/24?".  Any other error leaves out
 * undefined.  No allocation, any thread.
 */
enum policy_cidr_status policy_prefix_parse(struct str s, struct policy_prefix *out);
/* "192.0.2.0/24" into buf[POLICY_PREFIX_STRLEN]; returns buf. */
const char *policy_prefix_format(const struct policy_prefix *p, char *buf);

struct policy_cidr; /* opaque */

/* An empty set.  Aborts on allocation failure (config load). */
struct policy_cidr *policy_cidr_new(void);
void policy_cidr_free(struct policy_cidr **sp); /* sets *sp = NULL; NULL-safe */
/*
 * Adds a prefix with its value.  POLICY_CIDR_E_DUPLICATE if the same prefix
 * is already present (the first value stays).  Build time only: a set is
 * never changed once it is published to other threads.
 */
enum policy_cidr_status policy_cidr_add(
    struct policy_cidr *s, const struct policy_prefix *p, uint32_t value);
/* policy_prefix_parse then policy_cidr_add. */
enum policy_cidr_status policy_cidr_add_str(struct policy_cidr *s, struct str text, uint32_t value);
/*
 * Longest-prefix match: true and *value (may be NULL) set to the value of the
 * longest prefix containing a; false if none does.  Read-only: any number of
 * threads, no lock, no allocation.
 */
bool policy_cidr_lookup(const struct policy_cidr *s, const struct policy_addr *a, uint32_t *value);
/* Prefixes in the set; bytes it holds (nodes and the set itself). */
size_t policy_cidr_count(const struct policy_cidr *s);
size_t policy_cidr_bytes(const struct policy_cidr *s);

/* ------------------------------------------------------------------------
 * PROXY protocol v1 and v2 (policy_proxyproto.c), per HAProxy's
 * "The PROXY protocol" (proxy-protocol.txt, versions 1 and 2).
 */

/*       name                     text */
#define POLICY_PP_STATUS_TABLE(X)                                                                  \
	X(OK, "ok")                                                                                \
	X(NEED_MORE, "incomplete header")                                                          \
	X(E_NOT_PROXY, "no PROXY protocol signature")                                              \
	X(E_V1_TOO_LONG, "v1 line longer than 107 bytes")                                          \
	X(E_V1_BAD_EOL, "v1 line not ended by CRLF")                                               \
	X(E_V1_BAD_PROTOCOL, "v1 protocol not TCP4, TCP6 or UNKNOWN")                              \
	X(E_V1_MISSING_FIELD, "v1 line has too few fields")                                        \
	X(E_V1_EXTRA_FIELD, "v1 line has too many fields")                                         \
	X(E_V1_BAD_SRC_ADDR, "v1 source address invalid for the protocol")                         \
	X(E_V1_BAD_DST_ADDR, "v1 destination address invalid for the protocol")                    \
	X(E_V1_BAD_SRC_PORT, "v1 source port invalid")                                             \
	X(E_V1_BAD_DST_PORT, "v1 destination port invalid")                                        \
	X(E_V2_BAD_VERSION, "v2 version is not 2")                                                 \
	X(E_V2_BAD_COMMAND, "v2 command not LOCAL or PROXY")                                       \
	X(E_V2_BAD_FAMILY, "v2 address family unknown")                                            \
	X(E_V2_BAD_TRANSPORT, "v2 transport protocol unknown")                                     \
	X(E_V2_NOT_STREAM, "v2 PROXY of an IP connection that is not a stream")                    \
	X(E_V2_TOO_LONG, "v2 header longer than the limit")                                        \
	X(E_V2_SHORT_ADDRESS, "v2 length too short for the address family")                        \
	X(E_V2_BAD_TLV, "v2 TLV runs past the header")

enum policy_pp_status {
#define POLICY_PP_ENUM(name, text) POLICY_PP_##name,
	POLICY_PP_STATUS_TABLE(POLICY_PP_ENUM)
#undef POLICY_PP_ENUM
};

const char *policy_pp_strerror(enum policy_pp_status st);

#define POLICY_PP_V1_MAX     107 /* v1 line including CRLF (spec §2.1) */
#define POLICY_PP_V2_HEADER  16  /* v2 fixed part: signature, ver/cmd, fam, len */
#define POLICY_PP_V2_MAX_LEN (POLICY_PP_V2_HEADER + 65535)

struct policy_proxyproto_conf {
	size_t max_v2_bytes; /* whole v2 header incl. its 16 bytes; default 1024,
	                        at most POLICY_PP_V2_MAX_LEN */
	unsigned timeout_ms; /* for the connection: header must arrive within;
	                        default 5000 */
};
void policy_proxyproto_conf_defaults(struct policy_proxyproto_conf *c);

struct policy_pp_result {
	unsigned version;                 /* 1 or 2 */
	bool local;                       /* LOCAL command (v2) or UNKNOWN (v1): keep the
	                                     socket's own addresses */
	int family;                       /* AF_INET, AF_INET6, or AF_UNSPEC when the header
	                                     carries no IP addresses (local, v2 UNSPEC/UNIX) */
	struct sockaddr_storage src, dst; /* valid when family != AF_UNSPEC */
	size_t header_len;                /* bytes the header takes at the start of buf */
	size_t tlv_off;                   /* v2: TLVs at buf[tlv_off .. tlv_off + tlv_len) */
	size_t tlv_len;
};

/*
 * Parses a PROXY protocol header at the start of buf[0..len), the bytes
 * received so far on a listener that expects one (call again with more bytes
 * on NEED_MORE; parsing restarts from the start and costs O(header)).
 * POLICY_PP_OK: *r filled, the application data starts at buf[r->header_len].
 * POLICY_PP_NEED_MORE: *need is how many more bytes the header takes at
 * least (v2: exactly, once the 16 fixed bytes are in), so a reader may read
 * that many without reading into the application data.  Errors are found as
 * early as the bytes allow.  Never reads outside buf[0..len); no allocation;
 * any thread.  conf NULL means the defaults.
 */
enum policy_pp_status policy_pp_parse(const uint8_t *buf, size_t len,
    const struct policy_proxyproto_conf *conf, struct policy_pp_result *r, size_t *need);

/*
 * Iterates the v2 TLVs of a parsed header (r from policy_pp_parse on the same
 * buf): start with *pos = 0; true with the next type and value (a view into
 * buf), false at the end.
 */
bool policy_pp_tlv_next(const uint8_t *buf, const struct policy_pp_result *r, size_t *pos,
    uint8_t *type, struct str *value);

/* ------------------------------------------------------------------------
 * The client address behind trusted proxies (policy_clientip.c)
 */

enum policy_clientip_header {
	POLICY_CLIENTIP_XFF = 0,   /* X-Forwarded-For (the default) */
	POLICY_CLIENTIP_FORWARDED, /* Forwarded (RFC 7239) */
};

struct policy_clientip_conf {
	const struct policy_cidr *trusted;  /* trusted_proxies; NULL or empty: none */
	enum policy_clientip_header header; /* which field the trusted proxies
	                                      write; default POLICY_CLIENTIP_XFF */
	unsigned max_hops;                  /* entries examined at most; default 32 */
};
void policy_clientip_conf_defaults(struct policy_clientip_conf *c);

/*       name               text (also the metric label) */
#define POLICY_CLIENTIP_SOURCE_TABLE(X)                                                            \
	X(PEER, "peer")                                                                            \
	X(NO_HEADER, "no_header")                                                                  \
	X(HEADER, "header")                                                                        \
	X(ALL_TRUSTED, "all_trusted")                                                              \
	X(STOP_MALFORMED, "malformed")                                                             \
	X(STOP_UNKNOWN, "unknown")                                                                 \
	X(STOP_HOPS, "too_many_hops")

/* Where the address policy_clientip chose comes from. */
enum policy_clientip_source {
#define POLICY_CLIENTIP_ENUM(name, text) POLICY_CLIENTIP_##name,
	POLICY_CLIENTIP_SOURCE_TABLE(POLICY_CLIENTIP_ENUM)
#undef POLICY_CLIENTIP_ENUM
};

const char *policy_clientip_source_name(enum policy_clientip_source s);

/*
 * The client's address.  peer is the socket's peer (after the PROXY
 * protocol, if any); fields[0..n) are the values of the request's field
 * lines of the configured header, in the order received (together one
 * comma-separated list).
 *
 * PEER: peer is not a trusted proxy; *out = peer and the fields are not
 * read.  Else the list is walked from the right: each entry was written by
 * the hop to its right, which is trusted, so it is believed; a trusted entry
 * moves the walk one hop left, the first untrusted one is the client
 * (HEADER).  NO_HEADER: no entry; *out = peer.  ALL_TRUSTED: every entry is
 * trusted; *out = the leftmost.  The walk stops, with *out = the last
 * trusted hop reached (never an entry left of it, which the client may have
 * written), at an entry that is not an address (STOP_MALFORMED), at
 * "unknown" or an RFC 7239 obfuscated identifier (STOP_UNKNOWN: the trusted
 * hop hid the address), or after conf->max_hops entries (STOP_HOPS).
 * No allocation; any thread.
 */
enum policy_clientip_source policy_clientip(const struct policy_clientip_conf *conf,
    const struct policy_addr *peer, const struct str *fields, size_t n, struct policy_addr *out);

/* ------------------------------------------------------------------------
 * Rate limits and concurrency limits (policy_ratelimit.c)
 *
 * One fixed-size table shared by all workers, keyed by a keyed hash of the
 * client's address, its network prefix or a header value.  Rate limits are
 * token buckets kept in the GCRA form (one "theoretical arrival time" per
 * key); the limit is passed on each call, so a reload that changes a rate
 * applies it to the existing buckets.  Time is injected (monotonic ns).
 */

/*       name                 text */
#define POLICY_RL_STATUS_TABLE(X)                                                                  \
	X(OK, "ok")                                                                                \
	X(E_EMPTY, "empty value")                                                                  \
	X(E_COUNT, "expected a number of requests before '/', as in 100/s")                        \
	X(E_COUNT_ZERO, "the number of requests must be at least 1")                               \
	X(E_COUNT_RANGE, "more than 1000000000 requests per period")                               \
	X(E_NO_UNIT, "missing '/' and a unit, as in 100/s")                                        \
	X(E_UNIT, "unit after '/' must be s, m or h")                                              \
	X(E_BURST, "burst must be a whole number of requests")                                     \
	X(E_BURST_ZERO, "burst must be at least 1")                                                \
	X(E_BURST_RANGE, "burst larger than 1000000")                                              \
	X(E_BY, "by must be address, prefix or header:NAME")                                       \
	X(E_BY_HEADER, "the header name after header: must be a field name token")

enum policy_rl_status {
#define POLICY_RL_ENUM(name, text) POLICY_RL_##name,
	POLICY_RL_STATUS_TABLE(POLICY_RL_ENUM)
#undef POLICY_RL_ENUM
};

const char *policy_rl_strerror(enum policy_rl_status st);

#define POLICY_RL_COUNT_MAX 1000000000u
#define POLICY_RL_BURST_MAX 1000000u

struct policy_rate {
	uint32_t count;    /* requests ... */
	uint32_t period_s; /* ... per period: 1 (/s), 60 (/m) or 3600 (/h) */
};

enum policy_rl_by {
	POLICY_RL_BY_ADDRESS = 0, /* the client address */
	POLICY_RL_BY_PREFIX,      /* its /24 (IPv4) or /64 (IPv6) */
	POLICY_RL_BY_HEADER,      /* a request header's value */
};

/* A route's rate_limit: { by, rate, burst }. */
struct policy_ratelimit_conf {
	enum policy_rl_by by;    /* default POLICY_RL_BY_ADDRESS */
	struct str header;       /* BY_HEADER: the field name (a view into the
	                            config's strings) */
	struct policy_rate rate; /* default 0/s: no limit */
	uint32_t burst;          /* default 0: the rate's count */
};
void policy_ratelimit_conf_defaults(struct policy_ratelimit_conf *c);

/* "100/s", "6000/m", "10/h". */
enum policy_rl_status policy_rate_parse(struct str s, struct policy_rate *out);
/* A burst: decimal 1..POLICY_RL_BURST_MAX. */
enum policy_rl_status policy_burst_parse(struct str s, uint32_t *out);
/* "address", "prefix" or "header:NAME" (*header = NAME, a view into s). */
enum policy_rl_status policy_rl_by_parse(struct str s, enum policy_rl_by *by, struct str *header);

/* A rate and burst in the table's terms (GCRA emission interval and
 * tolerance).  Cheap; may be computed once per config snapshot. */
struct policy_rl_limit {
	uint64_t interval_ns;  /* one token every interval_ns */
	uint64_t tolerance_ns; /* (burst - 1) * interval_ns */
};
/* rate->count >= 1; burst 0 means rate->count. */
void policy_rl_limit_make(
    const struct policy_rate *rate, uint32_t burst, struct policy_rl_limit *out);

enum policy_rl_kind {
	POLICY_RL_RATE = 0,    /* token buckets: policy_rl_check */
	POLICY_RL_CONCURRENCY, /* counters: policy_rl_acquire / _release */
};

struct policy_rl_table_conf {
	enum policy_rl_kind kind; /* default POLICY_RL_RATE */
	size_t capacity;          /* entries, rounded up to a power of two;
	                             default 65536 */
};
void policy_rl_table_conf_defaults(struct policy_rl_table_conf *c);

struct policy_rl; /* opaque */

/* A table of conf->capacity entries, allocated once (it never grows), with a
 * fresh hashing secret from getrandom.  Aborts on allocation failure
 * (startup).  Not tied to a config snapshot: it outlives reloads. */
struct policy_rl *policy_rl_new(const struct policy_rl_table_conf *conf);
void policy_rl_free(struct policy_rl **tp); /* sets *tp = NULL; NULL-safe */
/* Bytes the table holds (fixed from policy_rl_new on). */
size_t policy_rl_bytes(const struct policy_rl *t);

/*
 * Keys.  zone tells the rules apart (two routes' limits never share a
 * bucket); keep it stable across reloads, e.g. a hash of the site and route
 * names, so buckets survive them.  Any thread.
 */
uint64_t policy_rl_key_addr(const struct policy_rl *t, uint32_t zone, const struct policy_addr *a);
/* The /24 of an IPv4 address, the /64 of an IPv6 one. */
uint64_t policy_rl_key_prefix(
    const struct policy_rl *t, uint32_t zone, const struct policy_addr *a);
uint64_t policy_rl_key_bytes(const struct policy_rl *t, uint32_t zone, struct str value);

/*
 * Rate check (POLICY_RL_RATE table): takes a token from key's bucket.  true:
 * allowed.  false: denied, and *retry_after_s (may be NULL) is the number of
 * whole seconds, at least 1, until a token is available (Retry-After).
 * now_ns is monotonic and never goes backwards by more than a few ns between
 * threads.  Any thread; locks one set of the table.
 */
bool policy_rl_check(struct policy_rl *t, uint64_t key, const struct policy_rl_limit *lim,
    uint64_t now_ns, uint32_t *retry_after_s);

/* What policy_rl_acquire took: pass it to policy_rl_release. */
struct policy_rl_slot {
	uint64_t key;   /* 0: nothing to release */
	uint32_t index; /* entry in the table */
};

/*
 * Concurrency (POLICY_RL_CONCURRENCY table): true if key holds fewer than
 * limit (0: no limit) and counts one more in *slot; false if it holds limit
 * already (*slot says nothing to release).  When every entry key could use
 * is held by other keys, the key is not counted and true is returned (*slot
 * empty; policy_rl_untracked counts it): a full table never refuses a client
 * that is within its limit.  Any thread.
 */
bool policy_rl_acquire(struct policy_rl *t, uint64_t key, uint32_t limit, uint64_t now_ns,
    struct policy_rl_slot *slot);
/* Gives back what policy_rl_acquire counted; clears *slot; any thread. */
void policy_rl_release(struct policy_rl *t, struct policy_rl_slot *slot);
/* What key holds now (tests, /status). */
uint32_t policy_rl_held(struct policy_rl *t, uint64_t key);

/* Counters since policy_rl_new: entries taken from another key, and
 * acquisitions that found no entry. */
uint64_t policy_rl_evictions(const struct policy_rl *t);
uint64_t policy_rl_untracked(const struct policy_rl *t);

#endif
