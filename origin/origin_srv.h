/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * origin/origin_srv.h — the members of a PoP from DNS SRV records
 * (siblings.srv, RFC 2782), watched on the main thread's event loop.
 *
 * The SRV records of a name are asked for, those of the lowest priority kept
 * (their weights become the members' weights), and each target resolved to
 * an address (the first the resolver gives), so that a member compares with
 * siblings.self as written.  The membership is sorted by address; when it
 * differs from the last one, on_change gets it.  The records are asked for
 * again when their TTL (clamped by resolver.min_ttl and resolver.max_ttl)
 * has passed, or 5 s after a failure, which keeps the last membership.
 * Main thread only.
 */
#ifndef OUTPOST_ORIGIN_ORIGIN_SRV_H
#define OUTPOST_ORIGIN_ORIGIN_SRV_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct origin_srv;

/* One member: an address literal (IPv6 without brackets), a port, a weight. */
struct origin_srv_member {
	char host[46];
	uint16_t port;
	unsigned weight;
};

/* The counters of a watcher (for /metrics). */
struct origin_srv_stats {
	uint64_t refreshes; /* answers that gave a membership */
	uint64_t failures;  /* lookups that failed (the last membership stays) */
	uint64_t changes;   /* memberships that differed from the last one */
	size_t members;     /* members now */
};

/* A new membership m[0..n), valid during the call. */
typedef void origin_srv_cb(const struct origin_srv_member *m, size_t n, void *arg);

/*
 * Watches the SRV records of name through the servers of servers_csv (NULL:
 * /etc/resolv.conf), TTLs clamped to [min_ttl_s, max_ttl_s]; the first lookup
 * starts at once.  NULL (logged) when the resolver cannot start.
 */
struct origin_srv *origin_srv_new(struct event_base *base, const char *name,
    const char *servers_csv, unsigned min_ttl_s, unsigned max_ttl_s, origin_srv_cb *on_change,
    void *arg);
/* Stops watching; on_change is not called again.  NULL-safe; sets *sp NULL. */
void origin_srv_free(struct origin_srv **sp);

const char *origin_srv_name(const struct origin_srv *s);
void origin_srv_stats(const struct origin_srv *s, struct origin_srv_stats *out);

#endif
