/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * policy/policy_ratelimit.c — the shared rate-limit and concurrency table.
 *
 * Model: a fixed array of entries, allocated once, grouped in sets of
 * RL_WAYS (set-associative, like a CPU cache).  A key is a 64-bit XXH3 hash
 * of (kind, zone, client address / prefix / header value) under a secret
 * drawn from getrandom at start, so a client cannot aim its keys at one set
 * or make two keys collide; the low bits pick the set, and the whole hash is
 * the entry's identity (two keys share a bucket with probability 2^-64 per
 * pair).
 *
 * Rate entries hold a token bucket in GCRA form: tat, the "theoretical
 * arrival time" at which the bucket would be full again.  A request at now
 * is allowed when tat - now <= tolerance ((burst - 1) * interval), and then
 * moves tat to max(tat, now) + interval; a denial leaves it.  This is the
 * token bucket of rate 1/interval and depth burst, in one number.  The
 * entry also remembers the interval tat was counted in: when a reload
 * changes the rate, the next request rescales the time still owed, so the
 * bucket keeps its tokens and refills at the new rate.
 *
 * Bounded memory, eviction: a new key takes, in its set, a free entry, else
 * an entry that holds no information — a bucket already full again (tat <=
 * now) or a counter at zero — else the least recently used entry (rate
 * tables only; a held counter is never taken).  Forgetting a full bucket
 * changes nothing.  Forgetting a busy one hands that key a full bucket again
 * (a burst more than its due): under a flood of distinct keys the limiter
 * errs towards letting a client through, never towards refusing one that
 * keeps within its rate.  A steady client touches its entry at least once per
 * its request interval; it loses it only if RL_WAYS newer keys land in the
 * same one of capacity / RL_WAYS sets in between, i.e. after about capacity
 * new keys in that time (65,536 for the default table) — evictions are
 * counted.  A concurrency table whose set is all held fails open for the
 * new key (counted as untracked) rather than refuse a client within limits.
 *
 * Locking: one spinlock per set (a C11 atomic_flag, acquire/release), held
 * for a scan of RL_WAYS entries and a few stores — tens of ns.  With 8,192
 * sets for the default 65,536 entries two workers rarely meet on one; the
 * lock is per set, never global.  Why not lock-free: an entry's key and its
 * state must change together when an entry changes hands, which needs a
 * 16-byte compare-and-swap (not portable C11) or a seqlock that TSan cannot
 * follow; a set lock is as cheap uncontended and easy to reason about.  A
 * lock holder preempted for long makes others spin: after a few hundred
 * spins they yield the CPU.
 *
 * Time is the caller's monotonic clock in ns (injected: tests are exact).
 */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <xxhash.h>

#include "core/assert.h"
#include "core/xmalloc.h"
#include "policy/policy.h"

#define RL_WAYS 8

struct rl_entry {
	uint64_t key;         /* 0: free */
	uint64_t val;         /* RATE: tat (ns); CONCURRENCY: count held */
	uint64_t used_ns;     /* last request: least recently used goes first */
	uint64_t interval_ns; /* RATE: the interval tat was counted in */
};

struct rl_set {
	alignas(64) atomic_flag lock;
	struct rl_entry e[RL_WAYS];
};

struct policy_rl {
	unsigned char secret[192]; /* XXH3 secret (at least XXH3_SECRET_SIZE_MIN) */
	enum policy_rl_kind kind;
	size_t n_sets; /* a power of two */
	struct rl_set *sets;
	_Atomic uint64_t evictions;
	_Atomic uint64_t untracked;
};

static const char *const rl_text[] = {
#define POLICY_RL_TEXT(name, text) text,
    POLICY_RL_STATUS_TABLE(POLICY_RL_TEXT)
#undef POLICY_RL_TEXT
};

const char *
policy_rl_strerror(enum policy_rl_status st)
{
	if ((size_t)st >= sizeof rl_text / sizeof rl_text[0])
		return "unknown rate-limit status";
	return rl_text[st];
}

/* ---- settings and their parsers ---------------------------------------- */

void
policy_ratelimit_conf_defaults(struct policy_ratelimit_conf *c)
{
	memset(c, 0, sizeof *c);
	c->by = POLICY_RL_BY_ADDRESS;
	c->header = STR_NULL;
	c->rate.count = 0;
	c->rate.period_s = 1;
	c->burst = 0;
}

void
policy_rl_table_conf_defaults(struct policy_rl_table_conf *c)
{
	memset(c, 0, sizeof *c);
	c->kind = POLICY_RL_RATE;
	c->capacity = 65536;
}

/* Decimal digits only, value <= max; -1 on a non-digit or empty, -2 above max. */
static int
rl_decimal(struct str s, uint32_t max, uint32_t *out)
{
	uint64_t v = 0;

	if (s.len == 0)
		return -1;
	for (size_t i = 0; i < s.len; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return -1;
		if (v <= max)
			v = v * 10 + (uint64_t)(s.p[i] - '0');
	}
	if (v > max)
		return -2;
	*out = (uint32_t)v;
	return 0;
}

enum policy_rl_status
policy_rate_parse(struct str s, struct policy_rate *out)
{
	const char *slash;
	struct str n, unit;
	uint32_t count;

	if (s.len == 0)
		return POLICY_RL_E_EMPTY;
	slash = memchr(s.p, '/', s.len);
	n = str_make(s.p, slash != NULL ? (size_t)(slash - s.p) : s.len);
	switch (rl_decimal(n, POLICY_RL_COUNT_MAX, &count)) {
	case -1:
		return POLICY_RL_E_COUNT;
	case -2:
		return POLICY_RL_E_COUNT_RANGE;
	default:
		break;
	}
	if (count == 0)
		return POLICY_RL_E_COUNT_ZERO;
	if (slash == NULL)
		return POLICY_RL_E_NO_UNIT;
	unit = str_make(slash + 1, s.len - n.len - 1);
	if (str_eq(unit, STR_LIT("s")))
		out->period_s = 1;
	else if (str_eq(unit, STR_LIT("m")))
		out->period_s = 60;
	else if (str_eq(unit, STR_LIT("h")))
		out->period_s = 3600;
	else
		return POLICY_RL_E_UNIT;
	out->count = count;
	return POLICY_RL_OK;
}

enum policy_rl_status
policy_burst_parse(struct str s, uint32_t *out)
{
	uint32_t v;

	if (s.len == 0)
		return POLICY_RL_E_EMPTY;
	switch (rl_decimal(s, POLICY_RL_BURST_MAX, &v)) {
	case -1:
		return POLICY_RL_E_BURST;
	case -2:
		return POLICY_RL_E_BURST_RANGE;
	default:
		break;
	}
	if (v == 0)
		return POLICY_RL_E_BURST_ZERO;
	*out = v;
	return POLICY_RL_OK;
}

enum policy_rl_status
policy_rl_by_parse(struct str s, enum policy_rl_by *by, struct str *header)
{
	static const struct str hdr = STR_LIT("header:");

	*header = STR_NULL;
	if (s.len == 0)
		return POLICY_RL_E_EMPTY;
	if (str_eq(s, STR_LIT("address"))) {
		*by = POLICY_RL_BY_ADDRESS;
		return POLICY_RL_OK;
	}
	if (str_eq(s, STR_LIT("prefix"))) {
		*by = POLICY_RL_BY_PREFIX;
		return POLICY_RL_OK;
	}
	if (!str_has_prefix(s, hdr))
		return POLICY_RL_E_BY;
	*header = str_make(s.p + hdr.len, s.len - hdr.len);
	if (header->len == 0)
		return POLICY_RL_E_BY_HEADER;
	for (size_t i = 0; i < header->len; i++)
		if (!str_is_tchar((unsigned char)header->p[i]))
			return POLICY_RL_E_BY_HEADER;
	*by = POLICY_RL_BY_HEADER;
	return POLICY_RL_OK;
}

void
policy_rl_limit_make(const struct policy_rate *rate, uint32_t burst, struct policy_rl_limit *out)
{
	ASSERT(rate->count >= 1 && rate->count <= POLICY_RL_COUNT_MAX);
	if (burst == 0)
		burst = rate->count < POLICY_RL_BURST_MAX ? rate->count : POLICY_RL_BURST_MAX;
	ASSERT(burst <= POLICY_RL_BURST_MAX);
	out->interval_ns = (uint64_t)rate->period_s * 1000000000u / rate->count;
	if (out->interval_ns == 0)
		out->interval_ns = 1;
	out->tolerance_ns = (uint64_t)(burst - 1) * out->interval_ns;
}

/* ---- the table --------------------------------------------------------- */

struct policy_rl *
policy_rl_new(const struct policy_rl_table_conf *conf)
{
	struct policy_rl *t = xcalloc(1, sizeof *t);
	size_t cap = RL_WAYS, got = 0;

	_Static_assert(sizeof t->secret >= XXH3_SECRET_SIZE_MIN, "XXH3 secret too short");
	ASSERT(conf->capacity <= ((size_t)1 << 30));
	while (cap < conf->capacity)
		cap *= 2;
	t->kind = conf->kind;
	t->n_sets = cap / RL_WAYS;
	t->sets = aligned_alloc(alignof(struct rl_set), t->n_sets * sizeof *t->sets);
	if (t->sets == NULL)
		UNREACHABLE("out of memory for the rate-limit table");
	memset(t->sets, 0, t->n_sets * sizeof *t->sets);
	for (size_t i = 0; i < t->n_sets; i++)
		atomic_flag_clear(&t->sets[i].lock);
	while (got < sizeof t->secret) {
		ssize_t n = getrandom(t->secret + got, sizeof t->secret - got, 0);

		if (n == -1 && errno != EINTR)
			UNREACHABLE("getrandom failed");
		if (n > 0)
			got += (size_t)n;
	}
	return t;
}

void
policy_rl_free(struct policy_rl **tp)
{
	if (*tp == NULL)
		return;
	free((*tp)->sets);
	free(*tp);
	*tp = NULL;
}

size_t
policy_rl_bytes(const struct policy_rl *t)
{
	return sizeof *t + t->n_sets * sizeof *t->sets;
}

uint64_t
policy_rl_evictions(const struct policy_rl *t)
{
	return atomic_load_explicit(&t->evictions, memory_order_relaxed);
}

uint64_t
policy_rl_untracked(const struct policy_rl *t)
{
	return atomic_load_explicit(&t->untracked, memory_order_relaxed);
}

/* ---- keys -------------------------------------------------------------- */

enum { RL_KEY_ADDR = 1, RL_KEY_PREFIX, RL_KEY_BYTES };

static uint64_t
rl_hash(const struct policy_rl *t, const void *p, size_t len)
{
	uint64_t h = XXH3_64bits_withSecret(p, len, t->secret, sizeof t->secret);

	return h != 0 ? h : 1; /* 0 marks a free entry */
}

static uint64_t
rl_key_addr(const struct policy_rl *t, uint8_t what, uint32_t zone, const struct policy_addr *a,
    unsigned keep)
{
	uint8_t k[1 + 4 + 1 + 16];

	memset(k, 0, sizeof k);
	k[0] = what;
	memcpy(k + 1, &zone, 4);
	k[5] = a->family;
	memcpy(k + 6, a->b, keep);
	return rl_hash(t, k, sizeof k);
}

uint64_t
policy_rl_key_addr(const struct policy_rl *t, uint32_t zone, const struct policy_addr *a)
{
	return rl_key_addr(t, RL_KEY_ADDR, zone, a, 16);
}

uint64_t
policy_rl_key_prefix(const struct policy_rl *t, uint32_t zone, const struct policy_addr *a)
{
	return rl_key_addr(t, RL_KEY_PREFIX, zone, a, a->family == AF_INET ? 3 : 8);
}

uint64_t
policy_rl_key_bytes(const struct policy_rl *t, uint32_t zone, struct str value)
{
	uint8_t k[1 + 4 + 8];
	uint64_t h = XXH3_64bits_withSecret(
	    value.p != NULL ? value.p : "", value.len, t->secret, sizeof t->secret);

	k[0] = RL_KEY_BYTES;
	memcpy(k + 1, &zone, 4);
	memcpy(k + 5, &h, 8);
	return rl_hash(t, k, sizeof k);
}

/* ---- set access -------------------------------------------------------- */

static struct rl_set *
rl_lock(struct policy_rl *t, uint64_t key)
{
	struct rl_set *s = &t->sets[key & (t->n_sets - 1)];
	unsigned spins = 0;

	while (atomic_flag_test_and_set_explicit(&s->lock, memory_order_acquire)) {
		if (++spins >= 256) {
			spins = 0;
			sched_yield();
		}
	}
	return s;
}

static void
rl_unlock(struct rl_set *s)
{
	atomic_flag_clear_explicit(&s->lock, memory_order_release);
}

static struct rl_entry *
rl_find(struct rl_set *s, uint64_t key)
{
	for (unsigned i = 0; i < RL_WAYS; i++)
		if (s->e[i].key == key)
			return &s->e[i];
	return NULL;
}

/* An entry for a new key (see the eviction order above); NULL if none may
 * be taken.  The entry comes back zeroed but for its key. */
static struct rl_entry *
rl_take(struct policy_rl *t, struct rl_set *s, uint64_t key, uint64_t now_ns)
{
	struct rl_entry *victim = NULL, *lru = NULL;

	for (unsigned i = 0; i < RL_WAYS; i++) {
		struct rl_entry *e = &s->e[i];
		bool idle = t->kind == POLICY_RL_RATE ? e->val <= now_ns : e->val == 0;

		if (e->key == 0) {
			victim = e;
			break;
		}
		if (idle && (victim == NULL || e->used_ns < victim->used_ns))
			victim = e;
		if (lru == NULL || e->used_ns < lru->used_ns)
			lru = e;
	}
	if (victim == NULL && t->kind == POLICY_RL_RATE)
		victim = lru;
	if (victim == NULL)
		return NULL;
	if (victim->key != 0 && !(t->kind == POLICY_RL_RATE && victim->val <= now_ns) &&
	    !(t->kind == POLICY_RL_CONCURRENCY && victim->val == 0))
		atomic_fetch_add_explicit(&t->evictions, 1, memory_order_relaxed);
	victim->key = key;
	victim->val = 0;
	victim->used_ns = 0;
	victim->interval_ns = 0;
	return victim;
}

bool
policy_rl_check(struct policy_rl *t, uint64_t key, const struct policy_rl_limit *lim,
    uint64_t now_ns, uint32_t *retry_after_s)
{
	struct rl_set *s;
	struct rl_entry *e;
	uint64_t tat;
	bool allow;

	ASSERT(t->kind == POLICY_RL_RATE);
	s = rl_lock(t, key);
	e = rl_find(s, key);
	if (e == NULL)
		e = rl_take(t, s, key, now_ns);
	if (e->val > now_ns && e->interval_ns != lim->interval_ns && e->interval_ns != 0) {
		/* The rate changed (a reload): the bucket keeps its tokens and
		 * refills at the new rate, so the time it still owes scales. */
		unsigned __int128 owed =
		    (unsigned __int128)(e->val - now_ns) * lim->interval_ns / e->interval_ns;

		e->val = now_ns + (owed > UINT64_MAX / 2 ? UINT64_MAX / 2 : (uint64_t)owed);
	}
	e->interval_ns = lim->interval_ns;
	tat = e->val > now_ns ? e->val : now_ns;
	allow = tat - now_ns <= lim->tolerance_ns;
	if (allow)
		e->val = tat + lim->interval_ns;
	else if (retry_after_s != NULL) {
		/* A token is back when tat - now <= tolerance; whole seconds,
		 * rounded up, for Retry-After. */
		uint64_t wait = tat - now_ns - lim->tolerance_ns;
		uint64_t sec = (wait + 999999999u) / 1000000000u;

		*retry_after_s = sec > UINT32_MAX ? UINT32_MAX : (uint32_t)sec;
	}
	if (e->used_ns < now_ns)
		e->used_ns = now_ns;
	rl_unlock(s);
	return allow;
}

bool
policy_rl_acquire(
    struct policy_rl *t, uint64_t key, uint32_t limit, uint64_t now_ns, struct policy_rl_slot *slot)
{
	struct rl_set *s;
	struct rl_entry *e;
	bool allow = true;

	ASSERT(t->kind == POLICY_RL_CONCURRENCY);
	slot->key = 0;
	slot->index = 0;
	s = rl_lock(t, key);
	e = rl_find(s, key);
	if (e == NULL)
		e = rl_take(t, s, key, now_ns);
	if (e == NULL) {
		rl_unlock(s);
		atomic_fetch_add_explicit(&t->untracked, 1, memory_order_relaxed);
		return true;
	}
	if (limit != 0 && e->val >= limit) {
		allow = false;
	} else {
		e->val++;
		slot->key = key;
		slot->index = (uint32_t)((size_t)(s - t->sets) * RL_WAYS + (size_t)(e - s->e));
	}
	if (e->used_ns < now_ns)
		e->used_ns = now_ns;
	rl_unlock(s);
	return allow;
}

void
policy_rl_release(struct policy_rl *t, struct policy_rl_slot *slot)
{
	struct rl_set *s;
	struct rl_entry *e;

	if (slot->key == 0)
		return;
	ASSERT(t->kind == POLICY_RL_CONCURRENCY);
	ASSERT(slot->index / RL_WAYS < t->n_sets);
	s = rl_lock(t, slot->key);
	ASSERT(s == &t->sets[slot->index / RL_WAYS]);
	e = &s->e[slot->index % RL_WAYS];
	/* A held entry is never taken by another key. */
	ASSERT(e->key == slot->key && e->val > 0);
	e->val--;
	rl_unlock(s);
	slot->key = 0;
}

uint32_t
policy_rl_held(struct policy_rl *t, uint64_t key)
{
	struct rl_set *s = rl_lock(t, key);
	struct rl_entry *e = rl_find(s, key);
	uint32_t n = e != NULL && t->kind == POLICY_RL_CONCURRENCY ? (uint32_t)e->val : 0;

	rl_unlock(s);
	return n;
}
