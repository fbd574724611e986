/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * origin/origin_sibling.h — the siblings of a PoP: the nodes that share one
 * cache.  Every cache key has one owner among the members (rendezvous
 * hashing over the usable members, this node included: the siblings pool's
 * consistent_hash balancer, origin_balance.h); a node that misses a key it
 * does not own asks the owner, which fills from the origin once.
 *
 * A request one node sends to its owner carries a hop marker, the field
 *
 *   Outpost-Sibling: <unix seconds>.<HMAC-SHA256, 64 hex digits>
 *
 * over "outpost-sibling\n" SECONDS "\n" METHOD "\n" HOST "\n" TARGET, keyed
 * with the fleet key (siblings.key_file).  A node believes a marker whose
 * MAC is right and whose time is within ORIGIN_SIBLING_SKEW_S of its clock:
 * it then never sends that request to a sibling (no loops, no two-hop
 * chains).  A missing, forged or stale marker is ignored (the request is a
 * client's); the field never reaches an origin.
 */
#ifndef OUTPOST_ORIGIN_ORIGIN_SIBLING_H
#define OUTPOST_ORIGIN_ORIGIN_SIBLING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/str.h"

struct config_member;

#define ORIGIN_SIBLING_FIELD    "Outpost-Sibling"
#define ORIGIN_SIBLING_SKEW_S   30            /* a marker's time may differ from ours by this */
#define ORIGIN_SIBLING_KEY_MIN  32            /* bytes of a fleet key file, at least */
#define ORIGIN_SIBLING_KEY_MAX  4096          /* and at most */
#define ORIGIN_SIBLING_MARK_LEN (20 + 1 + 64) /* a marker value, at most */
#define ORIGIN_SIBLING_POOL     "siblings"    /* the pool the members make */

/* siblings.store */
enum origin_sibling_store {
	ORIGIN_SIBLING_STORE_ALWAYS = 0, /* the asking node keeps a copy too */
	ORIGIN_SIBLING_STORE_SMALL,      /* only objects up to store_max */
};

/* The siblings section, as config/ parses it (enabled false: no siblings).
 * The members are the pool cfg->pools[pool_idx] (its members in the order
 * written, this node among them at self_idx).  config_free frees it, the
 * key wiped. */
struct origin_sibling_conf {
	bool enabled;
	char *self;         /* siblings.self, "host:port" as written */
	char *srv;          /* siblings.srv: the members are its SRV records (origin_srv.h) */
	unsigned pool_idx;  /* the siblings pool */
	unsigned self_idx;  /* this node among its members */
	bool self_listed;   /* it is one of members (or of srv's records), not added */
	char *key_file;     /* siblings.key_file */
	unsigned char *key; /* its bytes (key_len), wiped when freed */
	size_t key_len;
	enum origin_sibling_store store; /* siblings.store, default always */
	uint64_t store_max;              /* siblings.store_max, default 1 MiB */
	unsigned grace_ms;               /* siblings.grace, default 60 s; 0: none */
	/* the members before the last membership change and when it came
	 * (monotonic ms): set by the main process before the snapshot is
	 * published (edge_main.c), for the grace period */
	struct config_member *prev;
	size_t n_prev;
	uint64_t changed_ms;
};

/*
 * Writes the marker value for a request (method, host, target as they go
 * on the wire) at time now into out (ORIGIN_SIBLING_MARK_LEN + 1 bytes):
 * its length, or 0 when OpenSSL fails.
 */
size_t origin_sibling_mark(const struct origin_sibling_conf *c, struct str method, struct str host,
    struct str target, time_t now, char *out);

/* Is value a marker this fleet made for that request within the skew? */
bool origin_sibling_check(const struct origin_sibling_conf *c, struct str value, struct str method,
    struct str host, struct str target, time_t now);

#endif
