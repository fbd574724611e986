/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * origin/origin_balance.h — member choice for one origin pool on one worker:
 * the six balancers, backup members, passive health (consecutive failures
 * eject a member for a backoff that doubles while it keeps failing), the
 * active health view shared with the prober, and the retry budget.
 *
 * One struct origin_balance per pool per worker thread: it never crosses
 * threads and takes no lock.  Passive health, in-flight counts, EWMA and the
 * retry budget are therefore per worker (each worker learns on its own that a
 * member is dead; with the default failures: 3 that costs at most 3 failed
 * tries per worker, each retried on another member when the request allows).
 * The active view is an array of flags written by the one prober thread and
 * read here with relaxed atomic loads; when active checks bring a member back
 * up (the flag changes to a new nonzero value), its passive ejection ends.
 *
 * Times are monotonic milliseconds passed in by the caller (unit tests drive
 * the clock).
 */
#ifndef OUTPOST_ORIGIN_ORIGIN_BALANCE_H
#define OUTPOST_ORIGIN_ORIGIN_BALANCE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A pool's balancer (pools[].balancer) and what consistent_hash hashes
 * (pools[].hash_key); the settings live in struct config_pool
 * (origin_pool.h), which config/ fills. */
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

struct config_pool;
struct origin_balance; /* opaque, per pool per worker */

/* Returned by origin_balance_pick when no member may be used. */
#define ORIGIN_BALANCE_NONE (-1)

/*
 * A balancer for pool pc (which must outlive it).  active: one flag per
 * member, 0 = down, else up (origin_health.h), written by the active prober;
 * NULL = no active checks.
 * seed seeds the random choices (random_two_choices, tie breaks).  Aborts on
 * allocation failure (xcalloc).  Any thread; then used by one thread only.
 */
struct origin_balance *origin_balance_new(
    const struct config_pool *pc, const _Atomic unsigned char *active, uint64_t seed);
/* Frees b and sets *bp = NULL; NULL-safe. */
void origin_balance_free(struct origin_balance **bp);

/*
 * A 64-bit hash of s[0..len) for ip_hash and consistent_hash (FNV-1a, then a
 * finaliser so that nearby keys spread).  Pure.
 */
uint64_t origin_balance_hash(const char *s, size_t len);

/* The member of m[0..n) that weighted rendezvous hashing gives key, health
 * aside (as consistent_hash picks among usable members); -1 when n is 0. */
struct config_member;
int origin_balance_hrw(const struct config_member *m, size_t n, uint64_t key);

/*
 * Picks a member by the pool's balancer among the usable members: not down
 * by the active prober, not ejected by passive health, and not in
 * skip[0..n_skip) (members already tried by this request).  Primary members
 * first; backup members only when no primary is usable.  key is the request's
 * hash (origin_balance_hash of the hash_key or client address; ignored by the
 * other balancers).  Returns the member index or ORIGIN_BALANCE_NONE.  Does
 * not count the request: call origin_balance_begin for the member used.
 */
int origin_balance_pick(
    struct origin_balance *b, uint64_t key, const unsigned *skip, size_t n_skip, uint64_t now_ms);

/* True when origin_balance_pick with the same skip list would find a member;
 * changes nothing. */
bool origin_balance_any(
    struct origin_balance *b, const unsigned *skip, size_t n_skip, uint64_t now_ms);

/* True when member m is usable now (ignoring backup status).  */
bool origin_balance_usable(const struct origin_balance *b, unsigned m, uint64_t now_ms);

/* One request starts on member m (in-flight + 1). */
void origin_balance_begin(struct origin_balance *b, unsigned m);
/* The request on m ended (in-flight - 1); every begin has exactly one end. */
void origin_balance_end(struct origin_balance *b, unsigned m);

/*
 * Outcome of an exchange with member m before its first response byte.
 * success: the head arrived after ttfb_ms (feeds the peak EWMA); resets the
 * failure count and ends an ejection.  failure: counts towards
 * passive.failures; ejects the member when reached, and doubles the backoff
 * (up to max_backoff) when it fails again after an ejection ran out.  Both
 * return true when the member's passive state changed (the caller logs it;
 * origin_balance_ejected_ms tells the backoff).
 */
bool origin_balance_success(
    struct origin_balance *b, unsigned m, uint64_t ttfb_ms, uint64_t now_ms);
bool origin_balance_failure(struct origin_balance *b, unsigned m, uint64_t now_ms);
/* The current ejection's backoff in ms, or 0 when m is not ejected. */
uint64_t origin_balance_ejected_ms(const struct origin_balance *b, unsigned m);

/*
 * Retry budget over a sliding window of about 10 s: origin_balance_note_request
 * counts a first try; origin_balance_retry_ok says whether one more retry fits
 * (retries <= retry_budget % of the requests, but at least 3 per window) and,
 * if so, counts it.
 */
void origin_balance_note_request(struct origin_balance *b, uint64_t now_ms);
bool origin_balance_retry_ok(struct origin_balance *b, uint64_t now_ms);

/* The peak-EWMA of member m's time to first byte, in microseconds (tests). */
uint64_t origin_balance_ewma_us(const struct origin_balance *b, unsigned m, uint64_t now_ms);

#endif
