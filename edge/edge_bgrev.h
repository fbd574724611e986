/*
 * edge/edge_bgrev.h — background revalidation for stale-while-revalidate
 * (RFC 5861 §3): the client is answered from the stale object at once, and a
 * detached exchange (no client) asks the origin for a fresher one.
 *
 * An exchange uses the worker's origin machinery (balancer, idle pool,
 * resolver) and the stored validators: a 304 that applies refreshes the object
 * (cache_obj_update, RAM insert, disk queue), a storable 200 is read whole (up
 * to cache.max_object) and stored as a fill; anything else, an error or a
 * timeout just ends it.  One exchange per key: the worker keeps the keys in
 * flight in a small hash set (struct edge_worker bgrev[]), and across workers
 * the exchange holds the key's entry in the server's fill table (a fill or
 * revalidation in flight elsewhere means none is started).  Exchanges
 * are best effort: a drain or shutdown drops them at once.  Worker thread only.
 */
#ifndef OUTPOST_EDGE_EDGE_BGREV_H
#define OUTPOST_EDGE_EDGE_BGREV_H

#include <stdbool.h>

struct cache_obj;
struct edge_conn;
struct edge_worker;

#define EDGE_BGREV_BUCKETS 64  /* hash set buckets per worker */
#define EDGE_BGREV_MAX     256 /* exchanges in flight per worker */

/*
 * Makes sure a background revalidation of stale (the stored object for c's
 * current request key) is in flight: true when one already was or has been
 * started (the caller may then serve stale), false when none can run (worker
 * draining, too many in flight, a request with a body, no usable origin
 * member) — the caller then goes to the origin in the foreground.  The
 * exchange takes its own reference to stale and copies what it needs from
 * the request (target, end-to-end fields).
 */
bool edge_bgrev_ensure(struct edge_conn *c, struct cache_obj *stale);
/* Drops every exchange of the worker (drain, shutdown). */
void edge_bgrev_abort_all(struct edge_worker *w);

#endif
