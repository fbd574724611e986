/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * origin/origin_health.h — active health checks of origin pool members.
 *
 * One struct origin_health per server, shared by all workers (refcounted).
 * It holds one "up" flag per member of every pool (atomic bytes, all up at
 * start).  One thread — the worker that calls origin_health_start, worker 0 —
 * runs the probes on its event loop: every health.interval (jittered by ±10 %,
 * the first probe at a random point of the first interval) a plain HTTP/1.1
 * "GET path" with "Connection: close" on a new connection, the member's name
 * resolved through that worker's c-ares resolver; the response head is read
 * by the HTTP/1 client's reader (origin_http1.h), as fetches read theirs.  A
 * final status inside health.expect is a pass; another status, a refused or
 * reset connection, a malformed or oversized head, more interim responses
 * than the cap or no complete head within health.timeout is a fail.
 * health.fall consecutive fails mark the member down, health.rise consecutive
 * passes mark it up again; each change is logged once.  Balancers of every
 * worker read the flags with relaxed loads: no lock on the request path.
 * A flag is 0 while its member is down and, while up, a generation 1..255
 * that changes at every recovery, so a worker notices a recovery even if it
 * never saw the member down (and then ends a passive ejection).
 *
 * It also holds the other per-member state every worker must see: the
 * in-flight counts behind members[].max_conns and each pool's wait-queue
 * length (origin_pool.c updates them).
 */
#ifndef OUTPOST_ORIGIN_ORIGIN_HEALTH_H
#define OUTPOST_ORIGIN_ORIGIN_HEALTH_H

#include <stdatomic.h>

struct config;
struct event_base;
struct origin_dns;
struct origin_health; /* opaque, shared */

/* Flags for cfg's pools (cfg must outlive the object), one reference. */
struct origin_health *origin_health_new(const struct config *cfg);
/* Before h is started or shared: each member of h that old also checks (same
 * pool name, host and port) starts with old's up/down flag, so a reload does
 * not send traffic to a member known down until the probes say so again.
 * Main thread. */
void origin_health_inherit(struct origin_health *h, const struct origin_health *old);
/* Reference counting (atomic): any thread.  unref NULLs *hp, NULL-safe.  The
 * last unref must come after origin_health_stop. */
struct origin_health *origin_health_ref(struct origin_health *h);
void origin_health_unref(struct origin_health **hp);

/* The configuration whose pools the flags and counts follow.  Any thread. */
const struct config *origin_health_config(const struct origin_health *h);

/* Pool pool_idx's member flags (0 = down, else the up generation), or NULL when the pool has no
 * health section.  Valid while a reference is held.  Any thread. */
const _Atomic unsigned char *origin_health_flags(const struct origin_health *h, unsigned pool_idx);

/* Pool pool_idx's shared in-flight counts, one per member (max_conns), and its
 * count of requests waiting for a slot (queue), summed over all workers.
 * Zeroed at creation; origin_pool.c alone updates them, atomically.  Valid
 * while a reference is held.  Any thread. */
_Atomic unsigned *origin_health_busy(struct origin_health *h, unsigned pool_idx);
_Atomic unsigned *origin_health_queued(struct origin_health *h, unsigned pool_idx);

/* Starts the probes on base, resolving through dns (both must outlive
 * origin_health_stop).  Call once, before or on base's thread; probes then
 * run on base's thread.  Nothing happens when no pool has health checks. */
void origin_health_start(struct origin_health *h, struct event_base *base, struct origin_dns *dns);
/* Cancels every probe and frees its events and connections.  On base's thread
 * or after its loop ended, before dns and base are freed.  Idempotent. */
void origin_health_stop(struct origin_health *h);

#endif
