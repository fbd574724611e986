/*
 * origin/origin_pool.h — per-worker upstream state: idle keep-alive
 * connections per pool member and each pool's balancer (origin_balance.h).
 *
 * One struct origin_pool per worker thread, built from a config snapshot; it
 * never crosses threads, so nothing here locks.  Idle connections are watched:
 * any byte or EOF from an idle origin connection, or the pool's idle timeout,
 * closes it, so a connection taken from the pool was alive a moment ago (the
 * caller still retries once if it turns out dead before the first response
 * byte).
 */
#ifndef OUTPOST_ORIGIN_ORIGIN_POOL_H
#define OUTPOST_ORIGIN_ORIGIN_POOL_H

#include <stddef.h>
#include <stdint.h>

struct bufferevent;
struct event_base;
struct config;
struct origin_balance;
struct origin_health;
struct origin_pool;

/* A pool state for cfg's pools on base.  cfg must outlive it; health (may be
 * NULL: no active checks) must stay referenced while it lives.  seed seeds the
 * balancers' random choices. */
struct origin_pool *origin_pool_new(struct event_base *base, const struct config *cfg,
    const struct origin_health *health, uint64_t seed);
/* Closes every idle connection; NULLs *pp. */
void origin_pool_free(struct origin_pool **pp);

/* The balancer of pool pool_idx on this worker (owned by the pool state). */
struct origin_balance *origin_pool_balance(struct origin_pool *p, unsigned pool_idx);

/* An idle connection to the member, with callbacks and timeouts cleared and
 * reading disabled, or NULL.  The caller owns the returned bufferevent. */
struct bufferevent *origin_pool_take(struct origin_pool *p, unsigned pool_idx, unsigned member_idx);
/* Parks a connection whose last exchange ended cleanly.  Takes ownership: the
 * connection is freed at once when the member already holds max_idle. */
void origin_pool_put(
    struct origin_pool *p, unsigned pool_idx, unsigned member_idx, struct bufferevent *bev);
/* Idle connections held (all members). */
size_t origin_pool_idle_count(const struct origin_pool *p);

#endif
