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
 *
 * Connection limits: a member with max_conns takes at most that many
 * requests in flight, counted in origin_health's shared atomics so the limit
 * holds across all workers (a compare-and-swap per request on a limited
 * member, nothing on others).  A request that finds every member it may use
 * at its limit waits in the pool's queue: a FIFO per worker, bounded by the
 * pool's queue setting across all workers.  A waiter is woken when this
 * worker frees a slot and, for slots freed by other workers, by a poll every
 * ORIGIN_POOL_QUEUE_POLL_MS; it gets its callback with timed_out set once
 * queue_timeout has passed.
 */
#ifndef OUTPOST_ORIGIN_ORIGIN_POOL_H
#define OUTPOST_ORIGIN_ORIGIN_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct bufferevent;
struct event_base;
struct config;
struct origin_balance;
struct origin_health;
struct origin_pool;

#define ORIGIN_POOL_QUEUE_POLL_MS 5

struct origin_pool_waiter;
/* A waiter's turn: timed_out, or a slot may be free (the waiter is out of the
 * queue either way; origin_pool_wait with front set puts it back in place). */
typedef void origin_pool_wake_cb(struct origin_pool_waiter *wt, bool timed_out);

/* A queue entry, embedded in the waiting request (caller's memory). */
struct origin_pool_waiter {
	struct origin_pool_waiter *next;
	struct origin_pool_waiter *prev;
	origin_pool_wake_cb *cb;
	uint64_t deadline_ms; /* monotonic */
	unsigned pool_idx;
	bool queued;
};

/* A pool state for cfg's pools on base.  cfg must outlive it; health (may be
 * NULL: no active checks) must stay referenced while it lives.  seed seeds the
 * balancers' random choices. */
struct origin_pool *origin_pool_new(
    struct event_base *base, const struct config *cfg, struct origin_health *health, uint64_t seed);
/* Closes every idle connection; NULLs *pp. */
void origin_pool_free(struct origin_pool **pp);

/* A new, unconnected bufferevent towards member member_idx of pool pool_idx
 * (BEV_OPT_CLOSE_ON_FREE): TLS for pools with tls (origin_tls_bev_new),
 * else a plain socket.  Connect it with bufferevent_socket_connect.  NULL
 * on allocation failure or without the pool's TLS context. */
struct bufferevent *origin_pool_bev_new(
    struct origin_pool *p, unsigned pool_idx, unsigned member_idx);

/* The balancer of pool pool_idx on this worker (owned by the pool state). */
struct origin_balance *origin_pool_balance(struct origin_pool *p, unsigned pool_idx);

/* An idle connection to the member — to address sa when not NULL (a name's
 * addresses each get their share of reuse, and a changed DNS answer stops
 * reuse of the old address) — with callbacks and timeouts cleared and
 * reading disabled, or NULL; *uses gets the requests already sent on it.
 * Before handing one out, a non-blocking peek at its socket drops it when
 * the origin closed it (or sent bytes) since the event loop last looked.
 * The caller owns the returned bufferevent. */
struct bufferevent *origin_pool_take(struct origin_pool *p, unsigned pool_idx, unsigned member_idx,
    const struct sockaddr *sa, socklen_t salen, unsigned *uses);
/* Parks a connection to address sa (NULL: its peer address is looked up)
 * whose last exchange ended cleanly, after uses requests in all.  Takes
 * ownership: the connection is freed at once when the member already holds
 * max_idle or uses reached keepalive.max_requests. */
void origin_pool_put(struct origin_pool *p, unsigned pool_idx, unsigned member_idx,
    struct bufferevent *bev, const struct sockaddr *sa, socklen_t salen, unsigned uses);
/* Takes one of member_idx's max_conns slots: true when it has no limit or a
 * slot was free (then origin_pool_release must follow exactly once), false
 * when it is at its limit. */
bool origin_pool_acquire(struct origin_pool *p, unsigned pool_idx, unsigned member_idx);
/* Gives the slot back; wakes this worker's first waiter of the pool. */
void origin_pool_release(struct origin_pool *p, unsigned pool_idx, unsigned member_idx);
/* Queues wt (cb set by the caller) for pool pool_idx until deadline_ms.
 * front: back at the head, where a woken waiter that found no slot was (no
 * size check).  Returns 0, or -1 when the pool's queue is full. */
int origin_pool_wait(struct origin_pool *p, unsigned pool_idx, struct origin_pool_waiter *wt,
    uint64_t deadline_ms, bool front);
/* Takes wt out of its queue; a no-op when it is not queued. */
void origin_pool_unwait(struct origin_pool *p, struct origin_pool_waiter *wt);

/* Idle connections held (all members). */
size_t origin_pool_idle_count(const struct origin_pool *p);

#endif
