/*
 * config/config.h — the configuration snapshot.
 *
 * config_load() parses one YAML file (libyaml) into an immutable, refcounted
 * snapshot.  Every module reads its part of the snapshot; only config/ parses.
 * A snapshot is never modified after config_load() returns, so any thread may
 * read it without locks while it holds a reference.
 *
 * Sizes accept B/KiB/MiB/GiB (and bare integers = bytes); durations accept
 * ms/s/m/h (a bare integer is an error: units are required).
 */
#ifndef OUTPOST_CONFIG_CONFIG_H
#define OUTPOST_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct config_listen {
	char *address;                /* as written, e.g. "127.0.0.1:8080", "[::]:8443" */
	struct sockaddr_storage addr; /* parsed; numeric IPv4/IPv6 only */
	socklen_t addrlen;
	bool tls; /* listen[].tls: terminate TLS (needs a certificate in some site) */
};

/* One sites[].tls.certificates[] entry.  The files are checked at load
 * (readable, PEM, key matches, not expired); edge/edge_tls.c loads them. */
struct config_cert {
	char *cert;  /* PEM: the leaf first, then its chain */
	char *key;   /* PEM private key (RSA or EC) */
	char *where; /* "file:line:column: key.path" of the entry, for later errors */
};

struct config_member {
	char *host; /* host name or IP literal (no brackets) */
	uint16_t port;
	unsigned weight;    /* default 1, 1..1000 */
	bool backup;        /* used only while no primary member is usable */
	unsigned max_conns; /* max_conns: requests in flight to it, all workers
	                       together; 0 (default) = no limit */
};

enum config_balancer {
	CONFIG_BALANCER_ROUND_ROBIN = 0, /* smooth weighted round robin */
	CONFIG_BALANCER_LEAST_CONN,      /* fewest in-flight requests / weight */
	CONFIG_BALANCER_RANDOM_TWO,      /* "random_two_choices" */
	CONFIG_BALANCER_IP_HASH,         /* client address, weighted modulo */
	CONFIG_BALANCER_CONSISTENT_HASH, /* rendezvous (HRW) on hash_key */
	CONFIG_BALANCER_EWMA,            /* peak-EWMA of time to first byte */
};

enum config_hash_key {
	CONFIG_HASH_KEY_URI = 0, /* request target as received */
	CONFIG_HASH_KEY_HOST,    /* Host, lower-cased, port removed */
	CONFIG_HASH_KEY_CLIENT_IP,
};

#define CONFIG_RETRIES_MAX 7 /* retries: 0..7 extra tries */
/* retry_on bits */
#define CONFIG_RETRY_ON_502 1u
#define CONFIG_RETRY_ON_503 2u
#define CONFIG_RETRY_ON_504 4u

struct config_pool {
	char *name;
	enum config_balancer balancer; /* default round_robin */
	struct config_member *members;
	size_t n_members;                  /* >= 1 */
	unsigned connect_timeout_ms;       /* timeouts.connect, default 2000 */
	unsigned first_byte_timeout_ms;    /* timeouts.first_byte, default 30000 */
	unsigned between_bytes_timeout_ms; /* timeouts.between_bytes, default 30000 */
	unsigned send_timeout_ms;          /* timeouts.send: no progress writing the
	                                      request, default 30000 */
	unsigned total_timeout_ms;         /* timeouts.total: the whole exchange, all
	                                      tries and the queue; 0 (default) = none */
	unsigned idle_timeout_ms;          /* keepalive.idle, default 30000 */
	unsigned max_idle_per_worker;      /* keepalive.max_idle, default 32 */
	unsigned max_requests;             /* keepalive.max_requests per connection,
	                                      default 1000; 0 = no limit */
	enum config_hash_key hash_key;     /* hash_key, default uri (consistent_hash) */
	unsigned queue;                    /* queue: requests that may wait for a member
	                                      below max_conns, all workers, default 64 */
	unsigned queue_timeout_ms;         /* queue_timeout, default 1s */
	bool grace;                        /* grace: with no member to ask, any stale
	                                      copy answers, default true */

	/* TLS to the members (tls section; its presence enables it) */
	bool tls;              /* tls.enabled, default true when tls is given */
	bool tls_verify;       /* tls.verify, default true */
	char *tls_ca_file;     /* tls.ca_file; NULL = the system CA store */
	char *tls_sni;         /* tls.sni; NULL = the member's host name */
	char *tls_client_cert; /* tls.client_cert and tls.client_key, both or none */
	char *tls_client_key;

	/* retries of idempotent requests on another member */
	unsigned retries;          /* retries, default 1, 0..CONFIG_RETRIES_MAX */
	unsigned retry_budget_pct; /* retry_budget, default 20 (% of requests, ~10 s, per
	                              worker; at least 3 retries per window) */
	unsigned retry_on;         /* retry_on: CONFIG_RETRY_ON_* bits, default 0 */

	/* passive health (per worker) */
	unsigned passive_failures;       /* passive.failures, default 3; 0 = off */
	unsigned passive_backoff_ms;     /* passive.backoff, default 5s */
	unsigned passive_max_backoff_ms; /* passive.max_backoff, default 60s */
	unsigned passive_error_rate_pct; /* passive.error_rate: eject when this % of the
	                                    last passive.window tries failed; 0 = off */
	unsigned passive_window;         /* passive.window, 2..64 tries, default 20 */

	/* active health (one prober for all workers); health_path NULL = off */
	char *health_path;           /* health.path, required in health */
	char *health_host;           /* health.host; NULL = the member's host[:port] */
	unsigned health_interval_ms; /* health.interval, default 5s */
	unsigned health_timeout_ms;  /* health.timeout, default 2s */
	unsigned health_expect_min;  /* health.expect "200-399" (default) or "200" */
	unsigned health_expect_max;
	unsigned health_rise; /* health.rise, default 2 */
	unsigned health_fall; /* health.fall, default 3 */
};

struct config_route {
	char *path;               /* path prefix, starts with '/' */
	size_t path_len;          /* strlen(path) */
	struct config_pool *pool; /* resolved from the pool name */
	bool cache;               /* cache.enabled, default true */
	unsigned default_ttl_s;   /* cache.default_ttl: used when the response has no
	                             explicit freshness; default 0 (= do not store) */
};

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
	struct config_route *routes; /* longest path prefix wins; sorted by path length,
	                                longest first, at load */
	size_t n_routes;             /* >= 1; "pool: X" on a site is short for one route "/" */

	/* TLS (sites[].tls) */
	struct config_cert *certs; /* tls.certificates; names come from each SAN list */
	size_t n_certs;
	bool tls_default;    /* tls.default: serves clients without (or with unknown) SNI */
	bool redirect_https; /* redirect_https: plain requests get 308 to https:// */
	char *hsts;          /* hsts: Strict-Transport-Security value sent on TLS, or NULL */
};

struct config {
	unsigned magic;     /* CONFIG_MAGIC */
	_Atomic int refcnt; /* see config_ref/config_unref */
	char *path;         /* file the snapshot was loaded from */

	char *node_name;  /* node.name, default: host name */
	unsigned workers; /* node.workers, "auto" (default) = CPU count */

	struct config_listen *listens;
	size_t n_listens;           /* >= 1 */
	struct config_listen admin; /* admin.listen; admin.addrlen == 0 when absent */

	/* cache */
	uint64_t cache_ram_bytes;        /* cache.ram, default 256MiB; 0 disables caching */
	uint64_t cache_max_object_bytes; /* cache.max_object, default 16MiB */
	char *cache_disk_path;           /* cache.disk.path (reserved for the LMDB tier) */
	uint64_t cache_disk_bytes;       /* cache.disk.size */

	/* timeouts (client side) */
	unsigned header_timeout_ms; /* timeouts.header, default 10000 */
	unsigned idle_timeout_ms;   /* timeouts.idle (keep-alive), default 60000 */
	unsigned body_timeout_ms;   /* timeouts.body, default 30000 */
	unsigned send_timeout_ms;   /* timeouts.send, default 30000 */
	unsigned drain_timeout_ms;  /* timeouts.drain (graceful shutdown), default 10000 */

	/* limits (client side) */
	uint32_t max_request_line; /* limits.request_line, default 8KiB */
	uint32_t max_header_bytes; /* limits.headers, default 32KiB (request line included) */
	uint32_t max_header_count; /* limits.header_count, default 100 */
	uint64_t max_body_bytes;   /* limits.body, default 100MiB; 0 = unlimited */
	uint32_t max_connections;  /* limits.connections per worker, default 10000 */

	/* resolver (c-ares) */
	char *resolver_servers; /* resolver.servers joined as "ip:port,ip:port" (c-ares
	                           CSV form, IPv6 as [addr]:port); NULL = /etc/resolv.conf */
	unsigned dns_min_ttl_s; /* resolver.min_ttl, default 1s */
	unsigned dns_max_ttl_s; /* resolver.max_ttl, default 3600s */

	/* TLS (top-level tls section) */
	char *tls_ticket_keys;      /* tls.ticket_keys: file of 80-byte keys, the first encrypts;
	                               NULL = a random key per process */
	unsigned tls_session_cache; /* tls.session_cache: sessions kept per worker context
	                               (the fallback for clients without tickets), default
	                               20000; 0 = off */
	size_t n_tls_listens;       /* listeners with tls: true */

	/* logs */
	char *access_log; /* log.access: path, or NULL for none */
	char *log_level;  /* log.level: error|warn|info|debug, default info */

	struct config_pool *pools;
	size_t n_pools;
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
/* Route selection by path: the longest prefix match; NULL if none. */
const struct config_route *config_route_for_path(
    const struct config_site *s, const char *path, size_t path_len);

#endif
