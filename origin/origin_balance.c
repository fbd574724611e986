/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * origin/origin_balance.c — the balancers, passive health and retry budget of
 * one pool on one worker (see origin_balance.h).
 *
 * Every pick first collects the candidates (usable, not yet tried, primary;
 * else backup) into a scratch array, then applies the pool's policy to them:
 *   round_robin        nginx's smooth weighted round robin over the candidates
 *   least_conn         lowest in-flight / weight; ties rotate
 *   random_two_choices two weighted random candidates, the lower in-flight / weight
 *   ip_hash            weighted modulo of the client address hash
 *   consistent_hash    weighted rendezvous hashing: the largest
 *                      weight / -ln(u(key, member)), u uniform in (0, 1) from a hash
 *                      of the key and the member's "host:port"; a member joining
 *                      or leaving moves only the keys it wins or held
 *   ewma               lowest (peak-EWMA of time to first byte + 1) *
 *                      (in-flight + 1) / weight; the EWMA jumps up to any slower
 *                      sample, moves 20 % towards a faster one, and decays with a
 *                      10 s time constant while no sample arrives (so a member that
 *                      was slow once gets tried again)
 * No libm: the natural logarithm is computed here.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/assert.h"
#include "core/xmalloc.h"
#include "origin/origin_balance.h"

static uint64_t ob_member_seed(const struct config_member *m);
#include "origin/origin_pool.h"

#define OB_EWMA_TAU_MS    10000.0
#define OB_EWMA_ALPHA     0.2
#define OB_BUDGET_HALF_MS 5000 /* two halves make the ~10 s window */
#define OB_BUDGET_MIN     3    /* retries always allowed per window */

struct ob_member {
	int cw;            /* smooth weighted round robin */
	unsigned inflight; /* requests in progress on this worker */
	uint64_t seed;     /* hash of "host:port" (rendezvous) */
	double ewma_us;    /* peak-EWMA of time to first byte */
	uint64_t ewma_at_ms;
	unsigned fails;      /* consecutive failures */
	uint64_t outcomes;   /* last outcomes, newest in bit 0: 1 = failure */
	unsigned n_outcomes; /* valid bits in outcomes, up to passive.window */
	bool ejected;
	uint64_t down_until_ms;
	uint64_t backoff_ms;
	unsigned char active_seen; /* last active flag value seen */
};

struct origin_balance {
	const struct config_pool *pc;
	const _Atomic unsigned char *active;
	uint64_t rng;
	unsigned rotate;
	uint64_t win_start_ms;
	unsigned cur_req, cur_retry, prev_req, prev_retry;
	unsigned *cand; /* scratch, n_members */
	struct ob_member *m;
};

static uint64_t
ob_mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

uint64_t
origin_balance_hash(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	return ob_mix(h);
}

static uint64_t
ob_rand(struct origin_balance *b)
{
	/* xorshift64* */
	b->rng ^= b->rng >> 12;
	b->rng ^= b->rng << 25;
	b->rng ^= b->rng >> 27;
	return b->rng * 0x2545f4914f6cdd1dULL;
}

/* ln(x) for x > 0: x = m * 2^e with m in [1, 2), ln m = 2 atanh((m-1)/(m+1)). */
static double
ob_ln(double x)
{
	int e = 0;
	double s, s2, t, sum = 0;

	while (x >= 2.0) {
		x /= 2.0;
		e++;
	}
	while (x < 1.0) {
		x *= 2.0;
		e--;
	}
	s = (x - 1.0) / (x + 1.0);
	s2 = s * s;
	t = s;
	for (int k = 1; k < 40; k += 2) {
		sum += t / k;
		t *= s2;
	}
	return 2.0 * sum + e * 0.69314718055994530942;
}

struct origin_balance *
origin_balance_new(const struct config_pool *pc, const _Atomic unsigned char *active, uint64_t seed)
{
	struct origin_balance *b = xcalloc(1, sizeof *b);

	ASSERT(pc->n_members > 0);
	b->pc = pc;
	b->active = active;
	b->rng = ob_mix(seed) | 1;
	b->cand = xcalloc(pc->n_members, sizeof *b->cand);
	b->m = xcalloc(pc->n_members, sizeof *b->m);
	for (size_t i = 0; i < pc->n_members; i++) {
		b->m[i].seed = ob_member_seed(&pc->members[i]);
		b->m[i].active_seen = 1;
	}
	return b;
}

void
origin_balance_free(struct origin_balance **bp)
{
	struct origin_balance *b = *bp;

	if (b == NULL)
		return;
	*bp = NULL;
	free(b->cand);
	free(b->m);
	free(b);
}

bool
origin_balance_usable(const struct origin_balance *b, unsigned m, uint64_t now_ms)
{
	ASSERT(m < b->pc->n_members);
	if (b->active != NULL && atomic_load_explicit(&b->active[m], memory_order_relaxed) == 0)
		return false;
	/* A lone member is never ejected passively (as nginx does): with no
	 * other member to try, ejecting it turns a few failed requests into
	 * certain 503s until the backoff ends.  Active checks still can. */
	if (b->pc->n_members == 1)
		return true;
	return !b->m[m].ejected || now_ms >= b->m[m].down_until_ms;
}

/* A recovery seen by the active prober ends a passive ejection. */
static void
ob_sync_active(struct origin_balance *b)
{
	for (unsigned i = 0; b->active != NULL && i < b->pc->n_members; i++) {
		unsigned char v = atomic_load_explicit(&b->active[i], memory_order_relaxed);
		struct ob_member *mm = &b->m[i];

		if (v != 0 && v != mm->active_seen) {
			mm->fails = 0;
			mm->ejected = false;
			mm->backoff_ms = 0;
			mm->down_until_ms = 0;
		}
		mm->active_seen = v;
	}
}

static size_t
ob_candidates(struct origin_balance *b, const unsigned *skip, size_t n_skip, uint64_t now_ms)
{
	const struct config_pool *pc = b->pc;
	size_t k = 0;

	ob_sync_active(b);

	for (int backup = 0; backup < 2 && k == 0; backup++) {
		for (unsigned i = 0; i < pc->n_members; i++) {
			bool skipped = false;

			if (pc->members[i].backup != (backup != 0))
				continue;
			for (size_t j = 0; j < n_skip && !skipped; j++)
				skipped = skip[j] == i;
			if (!skipped && origin_balance_usable(b, i, now_ms))
				b->cand[k++] = i;
		}
	}
	return k;
}

static unsigned
ob_weight(const struct origin_balance *b, unsigned m)
{
	return b->pc->members[m].weight;
}

static unsigned
ob_round_robin(struct origin_balance *b, size_t k)
{
	int total = 0;
	unsigned best = b->cand[0];

	for (size_t i = 0; i < k; i++) {
		unsigned m = b->cand[i];

		b->m[m].cw += (int)ob_weight(b, m);
		total += (int)ob_weight(b, m);
		if (b->m[m].cw > b->m[best].cw)
			best = m;
	}
	b->m[best].cw -= total;
	return best;
}

/* inflight(x) / weight(x) < inflight(y) / weight(y) */
static bool
ob_less_loaded(const struct origin_balance *b, unsigned x, unsigned y)
{
	return (uint64_t)b->m[x].inflight * ob_weight(b, y) <
	       (uint64_t)b->m[y].inflight * ob_weight(b, x);
}

static unsigned
ob_least_conn(struct origin_balance *b, size_t k)
{
	size_t start = b->rotate++ % k;
	unsigned best = b->cand[start];

	for (size_t i = 1; i < k; i++) {
		unsigned m = b->cand[(start + i) % k];

		if (ob_less_loaded(b, m, best))
			best = m;
	}
	return best;
}

/* A weighted random candidate other than `not` (UINT32_MAX: any). */
static unsigned
ob_weighted_random(struct origin_balance *b, size_t k, unsigned not )
{
	uint64_t total = 0, r;

	for (size_t i = 0; i < k; i++)
		if (b->cand[i] != not )
			total += ob_weight(b, b->cand[i]);
	r = ob_rand(b) % total;
	for (size_t i = 0; i < k; i++) {
		unsigned m = b->cand[i];

		if (m == not )
			continue;
		if (r < ob_weight(b, m))
			return m;
		r -= ob_weight(b, m);
	}
	return b->cand[k - 1];
}

static unsigned
ob_random_two(struct origin_balance *b, size_t k)
{
	unsigned x, y;

	if (k == 1)
		return b->cand[0];
	x = ob_weighted_random(b, k, UINT32_MAX);
	y = ob_weighted_random(b, k, x);
	return ob_less_loaded(b, y, x) ? y : x;
}

static unsigned
ob_ip_hash(struct origin_balance *b, size_t k, uint64_t key)
{
	uint64_t total = 0, r;

	for (size_t i = 0; i < k; i++)
		total += ob_weight(b, b->cand[i]);
	r = key % total;
	for (size_t i = 0; i < k; i++) {
		unsigned m = b->cand[i];

		if (r < ob_weight(b, m))
			return m;
		r -= ob_weight(b, m);
	}
	return b->cand[k - 1];
}

/* A member's rendezvous score for key: weight / -ln(u), u in (0, 1) from 53
 * bits of the hash of the key and the member's seed, offset by half a step. */
static double
ob_hrw_score(uint64_t key, uint64_t seed, unsigned weight)
{
	uint64_t h = ob_mix(key ^ seed);
	double u = ((double)(h >> 11) + 0.5) / 9007199254740992.0;

	return (double)weight / -ob_ln(u);
}

static unsigned
ob_consistent_hash(struct origin_balance *b, size_t k, uint64_t key)
{
	unsigned best = b->cand[0];
	double best_score = -1.0;

	for (size_t i = 0; i < k; i++) {
		unsigned m = b->cand[i];
		double score = ob_hrw_score(key, b->m[m].seed, ob_weight(b, m));

		if (score > best_score) {
			best_score = score;
			best = m;
		}
	}
	return best;
}

/* The seed of a member: the hash of its "host:port". */
static uint64_t
ob_member_seed(const struct config_member *m)
{
	char id[300];
	int n = snprintf(id, sizeof id, "%s:%u", m->host, (unsigned)m->port);

	return origin_balance_hash(id, n > 0 ? (size_t)n : 0);
}

int
origin_balance_hrw(const struct config_member *m, size_t n, uint64_t key)
{
	int best = -1;
	double best_score = -1.0;

	for (size_t i = 0; i < n; i++) {
		double score = ob_hrw_score(key, ob_member_seed(&m[i]), m[i].weight);

		if (score > best_score) {
			best_score = score;
			best = (int)i;
		}
	}
	return best;
}

static double
ob_ewma_now(const struct ob_member *mm, uint64_t now_ms)
{
	double dt = now_ms > mm->ewma_at_ms ? (double)(now_ms - mm->ewma_at_ms) : 0.0;

	return mm->ewma_us * OB_EWMA_TAU_MS / (OB_EWMA_TAU_MS + dt);
}

static unsigned
ob_ewma(struct origin_balance *b, size_t k, uint64_t now_ms)
{
	size_t start = b->rotate++ % k;
	unsigned best = b->cand[start];
	double best_cost = 0;

	for (size_t i = 0; i < k; i++) {
		unsigned m = b->cand[(start + i) % k];
		double cost = (ob_ewma_now(&b->m[m], now_ms) + 1.0) *
		              ((double)b->m[m].inflight + 1.0) / (double)ob_weight(b, m);

		if (i == 0 || cost < best_cost) {
			best_cost = cost;
			best = m;
		}
	}
	return best;
}

bool
origin_balance_any(struct origin_balance *b, const unsigned *skip, size_t n_skip, uint64_t now_ms)
{
	return ob_candidates(b, skip, n_skip, now_ms) > 0;
}

int
origin_balance_pick(
    struct origin_balance *b, uint64_t key, const unsigned *skip, size_t n_skip, uint64_t now_ms)
{
	size_t k = ob_candidates(b, skip, n_skip, now_ms);

	if (k == 0)
		return ORIGIN_BALANCE_NONE;
	switch (b->pc->balancer) {
	case CONFIG_BALANCER_LEAST_CONN:
		return (int)ob_least_conn(b, k);
	case CONFIG_BALANCER_RANDOM_TWO:
		return (int)ob_random_two(b, k);
	case CONFIG_BALANCER_IP_HASH:
		return (int)ob_ip_hash(b, k, key);
	case CONFIG_BALANCER_CONSISTENT_HASH:
		return (int)ob_consistent_hash(b, k, key);
	case CONFIG_BALANCER_EWMA:
		return (int)ob_ewma(b, k, now_ms);
	case CONFIG_BALANCER_ROUND_ROBIN:
		break;
	}
	return (int)ob_round_robin(b, k);
}

void
origin_balance_begin(struct origin_balance *b, unsigned m)
{
	ASSERT(m < b->pc->n_members);
	b->m[m].inflight++;
}

void
origin_balance_end(struct origin_balance *b, unsigned m)
{
	ASSERT(m < b->pc->n_members && b->m[m].inflight > 0);
	b->m[m].inflight--;
}

/* Records one outcome in m's window (passive.error_rate); true when the
 * window is full and its failure share reached the rate. */
static bool
ob_note_outcome(const struct config_pool *pc, struct ob_member *mm, bool failed)
{
	uint64_t mask;

	if (pc->passive_error_rate_pct == 0)
		return false;
	mask = pc->passive_window >= 64 ? ~0ULL : (1ULL << pc->passive_window) - 1;
	mm->outcomes = ((mm->outcomes << 1) | (failed ? 1u : 0u)) & mask;
	if (mm->n_outcomes < pc->passive_window)
		mm->n_outcomes++;
	return mm->n_outcomes == pc->passive_window &&
	       (unsigned)__builtin_popcountll(mm->outcomes) * 100 >=
	           pc->passive_error_rate_pct * pc->passive_window;
}

bool
origin_balance_success(struct origin_balance *b, unsigned m, uint64_t ttfb_ms, uint64_t now_ms)
{
	struct ob_member *mm;
	double base, s = (double)ttfb_ms * 1000.0;
	bool was = false;

	ASSERT(m < b->pc->n_members);
	mm = &b->m[m];
	base = ob_ewma_now(mm, now_ms);
	mm->ewma_us = s > base ? s : base + OB_EWMA_ALPHA * (s - base);
	mm->ewma_at_ms = now_ms;
	was = mm->ejected;
	(void)ob_note_outcome(b->pc, mm, false);
	mm->fails = 0;
	mm->ejected = false;
	mm->backoff_ms = 0;
	mm->down_until_ms = 0;
	return was;
}

bool
origin_balance_failure(struct origin_balance *b, unsigned m, uint64_t now_ms)
{
	const struct config_pool *pc = b->pc;
	struct ob_member *mm;

	ASSERT(m < pc->n_members);
	mm = &b->m[m];
	if (pc->passive_failures == 0 && pc->passive_error_rate_pct == 0)
		return false;
	if (mm->ejected) {
		if (now_ms < mm->down_until_ms)
			return false; /* started before the ejection */
		/* the trial after the backoff failed: eject again, longer */
		mm->backoff_ms *= 2;
		if (mm->backoff_ms > pc->passive_max_backoff_ms)
			mm->backoff_ms = pc->passive_max_backoff_ms;
		mm->down_until_ms = now_ms + mm->backoff_ms;
		return true;
	}
	++mm->fails;
	if (!ob_note_outcome(pc, mm, true) &&
	    (pc->passive_failures == 0 || mm->fails < pc->passive_failures))
		return false;
	mm->outcomes = 0;
	mm->n_outcomes = 0;
	mm->ejected = true;
	mm->backoff_ms = pc->passive_backoff_ms;
	mm->down_until_ms = now_ms + mm->backoff_ms;
	return true;
}

uint64_t
origin_balance_ejected_ms(const struct origin_balance *b, unsigned m)
{
	ASSERT(m < b->pc->n_members);
	return b->m[m].ejected ? b->m[m].backoff_ms : 0;
}

static void
ob_budget_roll(struct origin_balance *b, uint64_t now_ms)
{
	uint64_t el = now_ms - b->win_start_ms;

	if (now_ms < b->win_start_ms || el < OB_BUDGET_HALF_MS)
		return;
	if (el >= 2 * OB_BUDGET_HALF_MS) {
		b->prev_req = b->prev_retry = 0;
	} else {
		b->prev_req = b->cur_req;
		b->prev_retry = b->cur_retry;
	}
	b->cur_req = b->cur_retry = 0;
	b->win_start_ms = now_ms;
}

void
origin_balance_note_request(struct origin_balance *b, uint64_t now_ms)
{
	ob_budget_roll(b, now_ms);
	b->cur_req++;
}

bool
origin_balance_retry_ok(struct origin_balance *b, uint64_t now_ms)
{
	uint64_t allowed;

	ob_budget_roll(b, now_ms);
	allowed = (uint64_t)(b->cur_req + b->prev_req) * b->pc->retry_budget_pct / 100;
	if (allowed < OB_BUDGET_MIN)
		allowed = OB_BUDGET_MIN;
	if ((uint64_t)b->cur_retry + b->prev_retry >= allowed)
		return false;
	b->cur_retry++;
	return true;
}

uint64_t
origin_balance_ewma_us(const struct origin_balance *b, unsigned m, uint64_t now_ms)
{
	ASSERT(m < b->pc->n_members);
	return (uint64_t)ob_ewma_now(&b->m[m], now_ms);
}
