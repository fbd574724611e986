/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * config/config.h — the configuration snapshot.
 *
 * config_load() parses one YAML file (libyaml) into an immutable, refcounted
 * snapshot.  Every module reads its part of the snapshot; only config/ parses.
 * A snapshot is never modified after config_load() returns, so any thread may
 * read it without locks while it holds a reference.
 *
 * A module that owns a settings struct declares it, with its defaults, in its
 * own header (as cache/cache.h does cache_disk_conf); this header includes
 * those it aggregates: cache/cache.h (cache_conf), core/log.h (log_conf),
 * origin/origin_dns.h (the resolver), origin/origin_pool.h (pools and their
 * members), purge/purge.h (tokens, the fleet).
 *
 * Sizes accept B/KiB/MiB/GiB (and bare integers = bytes); durations accept
 * ms/s/m/h (a bare integer is an error: units are required).
 */
#ifndef OUTPOST_CONFIG_CONFIG_H
#define OUTPOST_CONFIG_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "cache/cache.h"
#include "edge/edge_h2.h"
#include "core/coding.h"
#include "core/log.h"
#include "geo/geo.h"
#include "origin/origin_dns.h"
#include "origin/origin_pool.h"
#include "origin/origin_sibling.h"
#include "policy/policy.h"
#include "policy/policy_token.h"
#include "purge/purge.h"

/* listen[].http2: what HTTP/2 a listener speaks besides HTTP/1.1. */
enum config_http2 {
	CONFIG_HTTP2_OFF = 0, /* false: HTTP/1.1 only (the default of a plain listener) */
	CONFIG_HTTP2_ALPN,    /* true: ALPN offers h2, preferred (the default with tls) */
	CONFIG_HTTP2_PRIOR,   /* prior_knowledge: h2c on a plain listener when a
	                         connection starts with the client preface */
};

struct config_listen {
	char *address;                /* as written, e.g. "127.0.0.1:8080", "[::]:8443" */
	struct sockaddr_storage addr; /* parsed; numeric IPv4/IPv6 only */
	socklen_t addrlen;
	bool tls;            /* listen[].tls: terminate TLS (needs a certificate in some site) */
	bool proxy_protocol; /* listen[].proxy_protocol: a PROXY protocol header (v1 or
	                        v2) starts every connection, from trusted_proxies only */
	enum config_http2 http2; /* listen[].http2: ALPN h2 (TLS), h2c prior knowledge */

	/* listen[].tls as a mapping; 0 / NULL: the defaults */
	unsigned tls_protocols; /* protocols: CONFIG_TLS_V1_2 | CONFIG_TLS_V1_3 bits */
	char *tls_ciphers;      /* ciphers: TLS 1.2 cipher list (OpenSSL syntax) */
	char *tls_ciphersuites; /* ciphersuites: TLS 1.3 suites (OpenSSL syntax) */
};
#define CONFIG_TLS_V1_2 1u
#define CONFIG_TLS_V1_3 2u

/* One sites[].tls.certificates[] entry.  The files are checked at load
 * (readable, PEM, key matches, not expired); edge/edge_tls.c loads them. */
struct config_cert {
	char *cert;  /* PEM: the leaf first, then its chain */
	char *key;   /* PEM private key (RSA or EC) */
	char *ocsp;  /* DER OCSP response stapled for cert (checked at load), or NULL */
	char *where; /* "file:line:column: key.path" of the entry, for later errors */
};

/* How a route's path is matched (routes[].path | exact | regex). */
enum config_match {
	CONFIG_MATCH_PREFIX = 0, /* path: "/a/" — the longest matching prefix */
	CONFIG_MATCH_EXACT,      /* exact: "/a" — the whole path */
	CONFIG_MATCH_REGEX,      /* regex: "^/a/(.*)$" — PCRE2, config order */
};

/* What of the query goes into the cache key (routes[].cache.query). */
enum config_query {
	CONFIG_QUERY_KEEP = 0, /* as received (percent-normalized) */
	CONFIG_QUERY_SORT,     /* parameters sorted by bytes; empty ones dropped */
	CONFIG_QUERY_DROP,     /* no query in the key */
	CONFIG_QUERY_ALLOW,    /* only the parameters named in query_allow */
};

/* What of the client's location goes into the cache key (routes[].cache.vary_geo). */
enum config_vary_geo {
	CONFIG_VARY_GEO_NONE = 0,
	CONFIG_VARY_GEO_COUNTRY,   /* ISO 3166-1 alpha-2, "--" when unknown */
	CONFIG_VARY_GEO_CONTINENT, /* two letters, "--" when unknown */
};

/*
 * Request fields with which a client can change what an origin answers
 * (method, path or its prefix, host, scheme, port) without being part of
 * the cache key:
 * on a caching route each is stripped, forwarded or made part of the key
 * (routes[].cache.override_headers).  The node writes its own X-Forwarded-For
 * (the client's list, then the peer) and X-Forwarded-Proto on every route.
 */
#define CONFIG_OVERRIDE_FIELDS(X)                                                                  \
	X("X-HTTP-Method-Override")                                                                \
	X("X-Original-URL")                                                                        \
	X("X-Rewrite-URL")                                                                         \
	X("X-Forwarded-Host")                                                                      \
	X("Forwarded")                                                                             \
	X("X-Forwarded-Scheme")                                                                    \
	X("X-Forwarded-Port")                                                                      \
	X("X-Host")                                                                                \
	X("X-Forwarded-Server")                                                                    \
	X("X-Original-Host")                                                                       \
	X("X-Forwarded-Prefix")                                                                    \
	X("X-HTTP-Method")                                                                         \
	X("X-Method-Override")                                                                     \
	X("X-Forwarded-Ssl")
#define CONFIG_N_OVERRIDE 14

enum config_override {
	CONFIG_OVERRIDE_STRIP = 0, /* not forwarded (the default on caching routes) */
	CONFIG_OVERRIDE_FORWARD,   /* forwarded as received, not in the key */
	CONFIG_OVERRIDE_KEY,       /* forwarded, and its value is part of the cache key */
};

/* Index of name in CONFIG_OVERRIDE_FIELDS (case-insensitive), or -1. */
int config_override_index(const char *name, size_t len);
/* The name of override field i, as CONFIG_OVERRIDE_FIELDS spells it. */
const char *config_override_name(unsigned i);

/* A body on a GET or HEAD to a caching route (routes[].cache.get_body):
 * content that has no defined meaning there (RFC 9110 §9.3.1) and that a
 * cached answer would not be keyed on. */
enum config_get_body {
	CONFIG_GET_BODY_DROP = 0, /* not forwarded, the connection closes after
	                             the answer (default) */
	CONFIG_GET_BODY_REJECT,   /* 400 */
	CONFIG_GET_BODY_PASS,     /* forwarded; the request bypasses the cache */
};

/* One header rule, precomputed at load: line is "Name: value\r\n" (NULL for
 * a removal), so applying it on the hot path allocates nothing. */
enum config_hdr_op {
	CONFIG_HDR_ADD = 0, /* append a field (those of that name stay) */
	CONFIG_HDR_SET,     /* remove every field of that name, then append */
	CONFIG_HDR_REMOVE,  /* remove every field of that name */
};

struct config_hdr_rule {
	enum config_hdr_op op;
	char *name; /* field name as written */
	size_t name_len;
	char *line; /* "Name: value\r\n" for add and set, else NULL */
	size_t line_len;
};

struct config_hdr_rules {
	struct config_hdr_rule *rules; /* in the order remove, set, add */
	size_t n;
};

enum config_rewrite {
	CONFIG_REWRITE_NONE = 0,
	CONFIG_REWRITE_PREFIX, /* rewrite.prefix: {from, to} */
	CONFIG_REWRITE_REGEX,  /* rewrite: {regex, to} */
};

enum config_sticky {
	CONFIG_STICKY_IP = 0, /* hash of the client address */
	CONFIG_STICKY_COOKIE, /* hash of a cookie's value (the address without it) */
};

/*
 * access (of a site or a route): allow or deny lists of "cidr:", "country:",
 * "continent:" and "asn:" rules (geo/geo.h), compiled at load.  denials
 * counts the requests refused by each rule ([0..n)), by the list's default
 * ([n]) and by the unknown setting ([n + 1]); the admin thread reads them
 * for /metrics.  They are the one mutable part of a snapshot: counters, not
 * settings, and a reload starts them at zero.
 */
struct config_access {
	struct geo_rules *rules;
	char **text; /* each rule's canonical text (the metric label) */
	size_t n;
	bool geo; /* some rule needs the client's location */
	struct config_access_count {
		_Atomic uint64_t n;
	} * denials;
};

/* A boolean that may be left to the enclosing level. */
enum config_tristate {
	CONFIG_INHERIT = 0,
	CONFIG_ON,
	CONFIG_OFF,
};

/* rate_limit (of a site or a route): a token bucket per client address,
 * network prefix or header value, in the node's one table (policy/policy.h). */
struct config_rate_limit {
	struct policy_ratelimit_conf conf; /* conf.header is a view into header */
	char *header;                      /* by: header:NAME, or NULL */
	struct policy_rl_limit limit;      /* the rate and burst in the table's terms */
	uint32_t zone;                     /* hash of the site name and route path: stable
	                                      across reloads, so the buckets survive them */
};

/*
 * signed_url (of a site or a route): the keys a signed URL may name, read
 * from their files at load (doc/protected-content.md).  A site's is shared by
 * its routes without their own: refs counts the holders (configuration
 * thread; a snapshot is freed whole).
 */
struct config_signed_url {
	struct policy_signed_keys *keys;
	struct policy_signed_conf conf;
	unsigned refs;
};

/*
 * jwt (of a site or a route): bearer tokens checked against a JWK Set loaded
 * at load (and so again on each reload); conf's strings are owned by strs.
 * Shared as config_signed_url is.
 */
struct config_jwt {
	struct policy_jwks *jwks;
	struct policy_jwt_conf conf;
	char *strs[2 + POLICY_JWT_AUD_MAX + 2 * POLICY_JWT_FORWARD_MAX];
	size_t n_strs;
	unsigned refs;
};

/* PCRE2 compiled pattern (config_parse.c compiles with JIT when available). */
struct pcre2_real_code_8;

struct config_route {
	enum config_match match;
	char *path;                   /* the prefix, the exact path or the pattern */
	size_t path_len;              /* strlen(path) */
	struct pcre2_real_code_8 *re; /* match == CONFIG_MATCH_REGEX */
	unsigned re_groups;           /* capture groups of re */
	unsigned order;               /* position in the site's routes list */
	struct config_pool *pool;     /* resolved from the pool name */
	char **methods;               /* methods: allowed request methods, or none = any */
	size_t n_methods;
	char *allow_line;              /* "Allow: GET, HEAD\r\n" for the 405 */
	bool cache;                    /* cache.enabled, default true */
	unsigned default_ttl_s;        /* cache.default_ttl: used when a 2xx/3xx response has
	                                  no explicit freshness; default 0 (= heuristics) */
	unsigned error_ttl_s;          /* cache.error_ttl: the same for 4xx/5xx responses;
	                                  default 0 (= heuristics) */
	enum config_get_body get_body; /* cache.get_body, default drop */
	unsigned char override[CONFIG_N_OVERRIDE]; /* cache.override_headers: an enum
	                                              config_override per field, default
	                                              strip */
	bool override_key;                         /* some field is CONFIG_OVERRIDE_KEY */
	bool underscores;        /* underscores_in_headers: forward request fields whose
	                            names hold '_', default false */
	enum config_query query; /* cache.query, default keep */
	char **query_allow;      /* cache.query_allow: parameter names */
	size_t n_query_allow;
	enum config_vary_geo vary_geo; /* cache.vary_geo, default none */

	/* rewrite (of the path sent to the origin; the cache key stays the client's) */
	enum config_rewrite rewrite; /* default none */
	char *rewrite_from;          /* rewrite.prefix.from */
	size_t rewrite_from_len;
	struct pcre2_real_code_8 *rewrite_re; /* rewrite.regex */
	char *rewrite_to;                     /* prefix replacement, or a template ($1..$9) */
	char *origin_host;                    /* origin_host: Host sent to the origin, or NULL */

	/* redirect: answered by the node, no origin */
	unsigned redirect_status; /* 301, 302, 307, 308; 0 = none */
	char *redirect_to;        /* template: $scheme $host $path $query $request_uri $1..$9 */

	struct config_hdr_rules req_hdrs;  /* request_headers */
	struct config_hdr_rules resp_hdrs; /* response_headers */

	/* canary: a sticky share of clients goes to another pool */
	struct config_pool *canary_pool; /* canary.pool, or NULL */
	unsigned canary_weight;          /* canary.weight in 1/10000 (5% = 500) */
	enum config_sticky canary_sticky;
	char *canary_cookie; /* sticky: cookie:NAME */
	size_t canary_cookie_len;
	unsigned grace_s;                     /* cache.grace: overrides the node's cache.grace;
	                                         CONFIG_GRACE_INHERIT when not set */
	bool request_buffering;               /* request_buffering, default true: a request body is
	                                         read whole (limits.body_buffer, then a temporary
	                                         file) before an origin member is asked */
	struct config_access *access;         /* access, or NULL: the site's */
	struct config_rate_limit *rate_limit; /* rate_limit, or NULL: the site's */
	struct config_signed_url *signed_url; /* signed_url, else the site's, or NULL */
	struct config_jwt *jwt;               /* jwt, else the site's, or NULL */
	enum config_tristate geo_headers;     /* geo_headers, default: the site's */
	/* geo_pools: the client's location picks the pool; the map's values are
	 * indexes into geo_pool_refs */
	struct geo_pool_map *geo_pools; /* or NULL */
	struct config_pool **geo_pool_refs;
	size_t n_geo_pools;
	/* compression: the site's, with the route's keys on top (core/coding.h
	 * defaults); its types point into compression_types */
	struct coding_conf compression;
	char *compression_types;
};

#define CONFIG_GRACE_INHERIT UINT_MAX

/* One entry of the host index: name points into a site's hosts[]. */
struct config_host {
	const char *name;
	size_t len;
	const struct config_site *site;
};

struct config_site {
	char *name;
	char **hosts; /* lower-cased; "*" = catch-all, "*.x.com" = wildcard */
	size_t n_hosts;
	struct config_route *routes; /* sorted at load: exact paths, then regexes in
	                                config order, then prefixes longest first; the
	                                first that matches wins */
	size_t n_routes;             /* >= 1; "pool: X" on a site is short for one route "/" */

	/* TLS (sites[].tls) */
	struct config_cert *certs; /* tls.certificates; names come from each SAN list */
	size_t n_certs;
	bool tls_default;    /* tls.default: serves clients without (or with unknown) SNI */
	bool redirect_https; /* redirect_https: plain requests get 308 to https:// */
	char *hsts;          /* hsts: Strict-Transport-Security value sent on TLS, or NULL */
	struct config_access *access;         /* access: for routes without their own, or NULL */
	struct config_rate_limit *rate_limit; /* rate_limit: likewise, or NULL */
	struct config_signed_url *signed_url; /* signed_url: given to routes without one */
	struct config_jwt *jwt;               /* jwt: likewise */
	enum config_tristate geo_headers;     /* geo_headers, default: geo.headers */
};

/* The memory budget of the cache (cache_mem_over): cache.ram +
 * cache.fill_memory; 0 when caching is off. */
#define config_cache_mem_budget(c)                                                                 \
	((c)->cache.ram_bytes > 0 ? (c)->cache.ram_bytes + (c)->cache.fill_memory_bytes : 0)

struct config {
	unsigned magic;     /* CONFIG_MAGIC */
	_Atomic int refcnt; /* see config_ref/config_unref */
	char *path;         /* file the snapshot was loaded from */

	char *node_name;  /* node.name, default: host name */
	unsigned workers; /* node.workers, "auto" (default) = CPU count */
	char *node_user;  /* node.user: the user to run as after start-up, or NULL (started
	                     as root: "outpost"; otherwise: stay) */
	char *node_group; /* node.group, or NULL: node.user's primary group */

	struct config_listen *listens;
	size_t n_listens;           /* >= 1 */
	struct config_listen admin; /* admin.listen; admin.addrlen == 0 when absent */

	/* purge API (admin listener) */
	struct purge_conf purge;       /* purge (purge/purge.h) */
	struct purge_fleet_conf fleet; /* fleet: the purge bus (no servers: purges stay local) */

	struct cache_conf cache; /* cache (cache/cache.h) */
	/* http2: the HTTP/2 session's limits (edge/edge_h2.h); its
	 * idle_timeout_ms is timeouts.idle's */
	struct edge_h2_conf http2;

	/* timeouts (client side) */
	unsigned header_timeout_ms; /* timeouts.header, default 10000 */
	unsigned idle_timeout_ms;   /* timeouts.idle (keep-alive), default 60000 */
	unsigned body_timeout_ms;   /* timeouts.body, default 30000 */
	unsigned body_total_ms;     /* timeouts.body_total: the whole request body;
	                               0 (default) = no limit */
	unsigned send_timeout_ms;   /* timeouts.send, default 30000 */
	unsigned drain_timeout_ms;  /* timeouts.drain (graceful shutdown), default 10000 */
	unsigned drain_announce_ms; /* timeouts.drain_announce: /healthz 503 while still
	                               serving, before a drain closes the listeners; 0 */

	/* limits (client side) */
	uint32_t max_request_line;  /* limits.request_line, default 8KiB */
	uint32_t max_header_bytes;  /* limits.headers, default 32KiB (request line included) */
	uint32_t max_header_count;  /* limits.header_count, default 100 */
	uint64_t max_body_bytes;    /* limits.body, default 100MiB; 0 = unlimited */
	uint64_t body_buffer_bytes; /* limits.body_buffer: a buffered request body held in
	                               memory up to this, then in a file; default 64KiB */
	char *body_temp_path;       /* limits.body_temp_path: directory of those files;
	                               default $TMPDIR (if absolute) or /tmp */
	uint64_t body_min_rate;     /* limits.body_min_rate: bytes/s a request body must
	                               average after timeouts.body; 0 (default) = off */
	uint64_t send_min_rate;     /* limits.send_min_rate: bytes/s a response waiting for
	                               the client must average after timeouts.send;
	                               0 (default) = off */
	uint32_t max_connections;   /* limits.connections per worker, default 10000 */

	/* limits.handshakes_per_ip: TLS handshakes in progress per client address
	 * per worker, default 128; 0 = no limit */
	unsigned max_handshakes_per_ip;
	/* limits.connections_per_ip: client connections open from one address
	 * (an IPv6 /64), all workers together, default 256; 0 = no limit */
	unsigned max_connections_per_ip;
	/* limits.requests_per_ip: requests in progress from one client address
	 * (an IPv6 /64; the client behind trusted proxies), all workers and
	 * connections together, default 0 = no limit */
	unsigned max_requests_per_ip;

	struct origin_dns_conf resolver; /* resolver (origin/origin_dns.h) */

	/* TLS (top-level tls section) */
	char *tls_ticket_keys;      /* tls.ticket_keys: file of 80-byte keys, the first encrypts;
	                               NULL = a random key per process */
	unsigned tls_session_cache; /* tls.session_cache: sessions kept per worker context
	                               (the fallback for clients without tickets), default
	                               20000; 0 = off */
	size_t n_tls_listens;       /* listeners with tls: true */

	struct log_conf log; /* log (core/log.h) */
	/* trusted_proxies: peers whose client_address_header is believed; NULL = none */
	struct policy_cidr *trusted_proxies;
	/* client_address_header: the one field they write (X-Forwarded-For by default) */
	enum policy_clientip_header client_address_header;
	/* hide_origin: fields removed from every origin response before it is
	 * relayed or stored — Server and X-Powered-By while hide_origin.enabled
	 * (the default), and hide_origin.fields (rules of op remove) */
	bool hide_origin;
	struct config_hdr_rules hide_origin_fields;
	/* geo: the databases, opened (and checked) at load; NULL without any */
	struct geo_conf geo_conf;   /* db_path[] point into geo_paths */
	char *geo_paths[GEO_DB__N]; /* geo.databases[].path by type, or NULL */
	struct geo_dbs *geo;
	uint64_t geo_serial;             /* differs between two snapshots' geo (a location
	                                    cached per connection is known stale by it) */
	char *geo_hdr_names[GEO_HDR__N]; /* geo.headers: field names to the origin */

	struct config_pool *pools; /* the siblings pool last, when there are siblings */
	size_t n_pools;
	struct origin_sibling_conf siblings; /* siblings (origin/origin_sibling.h) */
	struct config_site *sites;
	size_t n_sites; /* >= 1 */

	/* Host lookup index for config_site_for_host, built at load. */
	struct config_host *hosts_exact; /* exact names, sorted by (length, bytes) */
	size_t n_hosts_exact;
	struct config_host *hosts_wild; /* "*.x.com" stored as ".x.com", same order */
	size_t n_hosts_wild;
	const struct config_site *site_any; /* the "*" site, or NULL */
};

/*
 * Loads and validates path.  On success returns 0 and a snapshot with one
 * reference in *out.  On failure returns -1 and writes every error found, one
 * per line, "file:line:column: key: reason", to errf (a stdio FILE *).
 */
#include <stdio.h>
int config_load(const char *path, struct config **out, FILE *errf);

/* A member of siblings.srv as its SRV records and the resolver gave it. */
struct config_srv_member {
	const char *host; /* an address literal */
	uint16_t port;
	unsigned weight; /* 1..1000 */
};

/*
 * config_load, with m[0..n) as the members of siblings.srv (siblings.self
 * among them or not: it is a member all the same).  Without siblings.srv
 * they are not used; with it and n 0, self is the only member until the
 * records are known.
 */
int config_load_members(
    const char *path, const struct config_srv_member *m, size_t n, struct config **out, FILE *errf);

/*
 * The files the node appends to (log.access, purge.audit_log): each must be
 * open for appending as the node starts, or be creatable (its directory
 * exists and is writable).  Nothing is created or truncated.  Writes one
 * "file:line:column: key: reason" line per file that fails to errf and
 * returns how many failed.  outpost -t and the start run it; a reload keeps
 * the files it has open.
 */
int config_check_files(const struct config *c, FILE *errf);

/*
 * Templates (routes[].redirect.to, routes[].rewrite.to with a regex): text
 * with "$name" variables.  Given s just after a '$', returns which variable
 * starts there and its length in *len (the '$' not counted), with the group
 * number in *group for CONFIG_TVAR_GROUP; -1 if none does.  One grammar for
 * the loader (which rejects unknown variables) and the edge (which expands).
 */
enum config_tvar {
	CONFIG_TVAR_DOLLAR = 0,  /* "$$": a '$' */
	CONFIG_TVAR_SCHEME,      /* "http" or "https" */
	CONFIG_TVAR_HOST,        /* the request's host (lower-cased, with its port) */
	CONFIG_TVAR_PATH,        /* the path, without the query */
	CONFIG_TVAR_QUERY,       /* the query without '?', or empty */
	CONFIG_TVAR_REQUEST_URI, /* path and query as received */
	CONFIG_TVAR_GROUP,       /* $1..$9: a capture group of the regex */
};
int config_template_var(const char *s, size_t *len, unsigned *group);

/* Reference counting; config_unref NULLs *cp and frees on the last reference. */
struct config *config_ref(struct config *c);
void config_unref(struct config **cp);

/*
 * Site selection by host (already lower-cased, port removed): exact names
 * first, then the longest matching "*.suffix" wildcard, then the "*" site.
 * NULL if none.  Any thread.
 */
const struct config_site *config_site_for_host(
    const struct config *c, const char *host, size_t host_len);

#endif
