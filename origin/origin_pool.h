/* SPDX-License-Identifier: BSD-2-Clause */
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

#include "origin/origin_balance.h"

/*
 * Settings of one origin pool (pools[] in the configuration) and of its
 * members, with their balancing, retry, passive and active health settings.
 * config/ parses them into a snapshot; origin/ only reads them.
 */
struct config_member {
	char *host; /* host name or IP literal (no brackets) */
	uint16_t port;
	unsigned weight;    /* default 1, 1..1000 */
	bool backup;        /* used only while no primary member is usable */
	unsigned max_conns; /* max_conns: requests in flight to it, all workers
	                       together; 0 (default) = no limit */
	char *probe_host;   /* the active probe's address instead of host:port (a
	                       sibling's admin listener), or NULL */
	uint16_t probe_port;
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

	bool sibling; /* the siblings pool (origin_sibling.h): no route names it */
};

/* Sets every pool setting to its default (the comments above); the name,
 * members and TLS settings stay as they are. */
static inline void
origin_pool_conf_defaults(struct config_pool *pool)
{
	pool->balancer = CONFIG_BALANCER_ROUND_ROBIN;
	pool->hash_key = CONFIG_HASH_KEY_URI;
	pool->connect_timeout_ms = 2000;
	pool->first_byte_timeout_ms = 30000;
	pool->between_bytes_timeout_ms = 30000;
	pool->send_timeout_ms = 30000;
	pool->total_timeout_ms = 0;
	pool->idle_timeout_ms = 30000;
	pool->max_idle_per_worker = 32;
	pool->max_requests = 1000;
	pool->queue = 64;
	pool->queue_timeout_ms = 1000;
	pool->grace = true;
	pool->retries = 1;
	pool->retry_budget_pct = 20;
	pool->retry_on = 0;
	pool->passive_failures = 3;
	pool->passive_backoff_ms = 5000;
	pool->passive_max_backoff_ms = 60000;
	pool->passive_error_rate_pct = 0;
	pool->passive_window = 20;
	pool->health_interval_ms = 5000;
	pool->health_timeout_ms = 2000;
	pool->health_expect_min = 200;
	pool->health_expect_max = 399;
	pool->health_rise = 2;
	pool->health_fall = 3;
}

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
