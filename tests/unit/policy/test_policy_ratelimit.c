/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/policy/test_policy_ratelimit.c — rate and burst parsing, the
 * token buckets' semantics on an injected clock, reloads, a flood of
 * 1,000,000 distinct keys into a 65,536-entry table, the concurrency
 * counters, and threads hammering shared keys (bounded counts).
 */
#include "config.h"

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"
#include "tests/unit/tap.h"

#define MS  1000000ull
#define SEC 1000000000ull

static void
test_parse(void)
{
	static const struct {
		const char *in;
		enum policy_rl_status st;
		uint32_t count, period_s;
	} rates[] = {
	    {"100/s", POLICY_RL_OK, 100, 1},
	    {"6000/m", POLICY_RL_OK, 6000, 60},
	    {"10/h", POLICY_RL_OK, 10, 3600},
	    {"1000000000/s", POLICY_RL_OK, 1000000000, 1},
	    {"", POLICY_RL_E_EMPTY, 0, 0},
	    {"/s", POLICY_RL_E_COUNT, 0, 0},
	    {"x/s", POLICY_RL_E_COUNT, 0, 0},
	    {"-1/s", POLICY_RL_E_COUNT, 0, 0},
	    {" 100/s", POLICY_RL_E_COUNT, 0, 0},
	    {"1.5/s", POLICY_RL_E_COUNT, 0, 0},
	    {"0/s", POLICY_RL_E_COUNT_ZERO, 0, 0},
	    {"1000000001/s", POLICY_RL_E_COUNT_RANGE, 0, 0},
	    {"99999999999999999999999/s", POLICY_RL_E_COUNT_RANGE, 0, 0},
	    {"100", POLICY_RL_E_NO_UNIT, 0, 0},
	    {"100/", POLICY_RL_E_UNIT, 0, 0},
	    {"100/d", POLICY_RL_E_UNIT, 0, 0},
	    {"100/S", POLICY_RL_E_UNIT, 0, 0},
	    {"100/sec", POLICY_RL_E_UNIT, 0, 0},
	    {"100/s ", POLICY_RL_E_UNIT, 0, 0},
	};
	static const struct {
		const char *in;
		enum policy_rl_status st;
		uint32_t v;
	} bursts[] = {
	    {"200", POLICY_RL_OK, 200},
	    {"1", POLICY_RL_OK, 1},
	    {"1000000", POLICY_RL_OK, 1000000},
	    {"", POLICY_RL_E_EMPTY, 0},
	    {"0", POLICY_RL_E_BURST_ZERO, 0},
	    {"1000001", POLICY_RL_E_BURST_RANGE, 0},
	    {"2e3", POLICY_RL_E_BURST, 0},
	    {"-5", POLICY_RL_E_BURST, 0},
	};
	static const struct {
		const char *in;
		enum policy_rl_status st;
		enum policy_rl_by by;
		const char *header;
	} bys[] = {
	    {"address", POLICY_RL_OK, POLICY_RL_BY_ADDRESS, ""},
	    {"prefix", POLICY_RL_OK, POLICY_RL_BY_PREFIX, ""},
	    {"header:X-Api-Key", POLICY_RL_OK, POLICY_RL_BY_HEADER, "X-Api-Key"},
	    {"", POLICY_RL_E_EMPTY, 0, ""},
	    {"Address", POLICY_RL_E_BY, 0, ""},
	    {"cookie:x", POLICY_RL_E_BY, 0, ""},
	    {"header:", POLICY_RL_E_BY_HEADER, 0, ""},
	    {"header:X Key", POLICY_RL_E_BY_HEADER, 0, ""},
	    {"header:X:Key", POLICY_RL_E_BY_HEADER, 0, ""},
	};

	subtest("rate, burst, by");
	for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++) {
		struct policy_rate r = {0, 0};
		enum policy_rl_status st = policy_rate_parse(str_cstr(rates[i].in), &r);

		if (!ok(st == rates[i].st &&
		            (st != POLICY_RL_OK ||
		                (r.count == rates[i].count && r.period_s == rates[i].period_s)),
		        rates[i].in))
			printf("#   got %s\n", policy_rl_strerror(st));
	}
	for (size_t i = 0; i < sizeof bursts / sizeof bursts[0]; i++) {
		uint32_t v = 0;
		enum policy_rl_status st = policy_burst_parse(str_cstr(bursts[i].in), &v);

		ok(st == bursts[i].st && (st != POLICY_RL_OK || v == bursts[i].v), bursts[i].in);
	}
	for (size_t i = 0; i < sizeof bys / sizeof bys[0]; i++) {
		enum policy_rl_by by = POLICY_RL_BY_ADDRESS;
		struct str h;
		enum policy_rl_status st = policy_rl_by_parse(str_cstr(bys[i].in), &by, &h);

		ok(st == bys[i].st && (st != POLICY_RL_OK ||
		                          (by == bys[i].by && str_eq(h, str_cstr(bys[i].header)))),
		    bys[i].in);
	}
	is_str(policy_rl_strerror(POLICY_RL_E_UNIT), "unit after '/' must be s, m or h");
	{
		struct policy_ratelimit_conf c;
		struct policy_rl_limit l;

		policy_ratelimit_conf_defaults(&c);
		is_int(c.by, POLICY_RL_BY_ADDRESS);
		is_int(c.rate.count, 0);
		policy_rl_limit_make(&(struct policy_rate){100, 1}, 200, &l);
		is_int(l.interval_ns, 10 * MS);
		is_int(l.tolerance_ns, 199 * 10 * MS);
		policy_rl_limit_make(&(struct policy_rate){6000, 60}, 0, &l);
		is_int(l.interval_ns, 10 * MS);
		is_int(l.tolerance_ns, 5999 * 10 * MS); /* burst 0: the rate's count */
	}
}

static struct policy_addr
addr(const char *s)
{
	struct policy_addr a;

	if (policy_addr_parse(str_cstr(s), &a) != 0)
		abort();
	return a;
}

static struct policy_rl *
table(enum policy_rl_kind kind, size_t cap)
{
	struct policy_rl_table_conf c;

	policy_rl_table_conf_defaults(&c);
	c.kind = kind;
	if (cap != 0)
		c.capacity = cap;
	return policy_rl_new(&c);
}

static void
test_keys(void)
{
	struct policy_rl *t = table(POLICY_RL_RATE, 0), *t2 = table(POLICY_RL_RATE, 0);
	struct policy_addr a = addr("192.0.2.1"), b = addr("192.0.2.200"), c = addr("192.0.3.1");
	struct policy_addr d = addr("2001:db8:0:1::1"), e = addr("2001:db8:0:1:ffff::2");
	struct policy_addr f = addr("2001:db8:0:2::1");

	subtest("keys");
	ok(policy_rl_key_addr(t, 1, &a) != policy_rl_key_addr(t, 1, &b), "addresses differ");
	ok(policy_rl_key_addr(t, 1, &a) == policy_rl_key_addr(t, 1, &a), "stable");
	ok(policy_rl_key_addr(t, 1, &a) != policy_rl_key_addr(t, 2, &a), "zones differ");
	ok(policy_rl_key_addr(t, 1, &a) != policy_rl_key_addr(t2, 1, &a), "secrets differ");
	ok(policy_rl_key_prefix(t, 1, &a) == policy_rl_key_prefix(t, 1, &b), "same /24");
	ok(policy_rl_key_prefix(t, 1, &a) != policy_rl_key_prefix(t, 1, &c), "other /24");
	ok(policy_rl_key_prefix(t, 1, &d) == policy_rl_key_prefix(t, 1, &e), "same /64");
	ok(policy_rl_key_prefix(t, 1, &d) != policy_rl_key_prefix(t, 1, &f), "other /64");
	ok(policy_rl_key_prefix(t, 1, &a) != policy_rl_key_addr(t, 1, &a), "prefix is not addr");
	ok(policy_rl_key_bytes(t, 1, STR_LIT("k1")) != policy_rl_key_bytes(t, 1, STR_LIT("k2")),
	    "header values differ");
	ok(policy_rl_key_bytes(t, 1, STR_LIT("k1")) == policy_rl_key_bytes(t, 1, STR_LIT("k1")),
	    "header value stable");
	ok(policy_rl_key_bytes(t, 1, STR_NULL) != 0, "empty value");
	policy_rl_free(&t);
	policy_rl_free(&t2);
	ok(t == NULL, "free clears the pointer");
}

static void
test_bucket(void)
{
	struct policy_rl *t = table(POLICY_RL_RATE, 1024);
	struct policy_rl_limit l;
	uint64_t k = policy_rl_key_bytes(t, 7, STR_LIT("client")), now = 1000 * SEC;
	uint32_t ra = 0;
	int n = 0;

	subtest("token bucket");
	policy_rl_limit_make(&(struct policy_rate){10, 1}, 5, &l);
	for (int i = 0; i < 20; i++)
		n += policy_rl_check(t, k, &l, now, &ra);
	is_int(n, 5);  /* the burst, at once */
	is_int(ra, 1); /* 100 ms to the next token, rounded up */
	ok(!policy_rl_check(t, k, &l, now + 99 * MS, &ra), "not yet after 99 ms");
	ok(policy_rl_check(t, k, &l, now + 100 * MS, &ra), "a token after 100 ms");
	ok(!policy_rl_check(t, k, &l, now + 100 * MS, &ra), "only one");
	/* a steady 10/s for 10 s: all allowed */
	n = 0;
	for (int i = 0; i < 100; i++)
		n += policy_rl_check(t, k, &l, now + 200 * MS + (uint64_t)i * 100 * MS, NULL);
	is_int(n, 100);
	/* 20/s for 10 s from a full bucket */
	now += 100 * SEC;
	n = 0;
	for (int i = 0; i < 200; i++)
		n += policy_rl_check(t, k, &l, now + (uint64_t)i * 50 * MS, NULL);
	is_int(n, 104); /* 5 + one per 100 ms in [0, 9950 ms] */
	/* Retry-After for a slow rate */
	policy_rl_limit_make(&(struct policy_rate){1, 60}, 1, &l);
	now += 1000 * SEC;
	ok(policy_rl_check(t, k, &l, now, &ra), "1/m: first");
	ok(!policy_rl_check(t, k, &l, now + SEC / 2, &ra), "1/m: second denied");
	is_int(ra, 60);
	ok(!policy_rl_check(t, k, &l, now + 30 * SEC, &ra), "1/m: after 30 s");
	is_int(ra, 30);

	subtest("a reload's new rate applies to the existing bucket");
	{
		struct policy_rl_limit slow, fast;
		uint64_t k2 = policy_rl_key_bytes(t, 8, STR_LIT("reload"));

		now += 1000 * SEC;
		policy_rl_limit_make(&(struct policy_rate){1, 1}, 2, &slow);
		policy_rl_limit_make(&(struct policy_rate){1000, 1}, 2, &fast);
		ok(policy_rl_check(t, k2, &slow, now, NULL), "slow 1");
		ok(policy_rl_check(t, k2, &slow, now, NULL), "slow 2");
		ok(!policy_rl_check(t, k2, &slow, now + 500 * MS, &ra), "slow bucket empty");
		/* empty still right after the change, refilling at 1000/s */
		ok(!policy_rl_check(t, k2, &fast, now + 500 * MS, &ra), "fast: still empty");
		ok(policy_rl_check(t, k2, &fast, now + 501 * MS, NULL), "fast: 1 ms later");
		ok(!policy_rl_check(t, k2, &fast, now + 501 * MS, NULL), "fast: one token");
		/* and back */
		ok(!policy_rl_check(t, k2, &slow, now + 501 * MS, &ra), "slow again: empty");
		is_int(ra, 1);
		ok(policy_rl_check(t, k2, &slow, now + 1502 * MS, NULL), "slow: a token per s");
	}
	policy_rl_free(&t);
}

#define FLOOD_KEYS 1000000
#define FLOOD_CAP  65536

static void
test_flood(void)
{
	struct policy_rl *t = table(POLICY_RL_RATE, FLOOD_CAP);
	struct policy_rl_limit flood, client;
	struct policy_addr c = addr("198.51.100.7");
	uint64_t kc = policy_rl_key_addr(t, 1, &c), now = 5 * SEC;
	size_t bytes = policy_rl_bytes(t);
	struct mallinfo2 before, after;
	int allowed = 0, asked = 0;

	subtest("1,000,000 distinct keys into 65,536 entries");
	/* Flood keys stay busy for an hour (1/h), so every eviction takes
	 * someone's live bucket: the least recently used. */
	policy_rl_limit_make(&(struct policy_rate){1, 3600}, 1, &flood);
	/* The steady client asks 20/s of a 10/s, burst 10 limit. */
	policy_rl_limit_make(&(struct policy_rate){10, 1}, 10, &client);
	ok(bytes >= FLOOD_CAP * 24 && bytes < FLOOD_CAP * 64, "table size is fixed at creation");
	before = mallinfo2();
	for (uint32_t i = 0; i < FLOOD_KEYS; i++) {
		struct policy_addr a;

		memset(&a, 0, sizeof a);
		a.family = AF_INET6;
		a.b[0] = 0x20;
		memcpy(a.b + 8, &i, 4);
		(void)policy_rl_check(t, policy_rl_key_addr(t, 2, &a), &flood, now, NULL);
		now += 50000; /* 50 µs: the flood lasts 50 s */
		if (i % 1000 == 999) {
			asked++;
			allowed += policy_rl_check(t, kc, &client, now, NULL);
		}
	}
	after = mallinfo2();
	is_int(policy_rl_bytes(t), bytes);
	is_int(after.uordblks, before.uordblks);
	is_int(after.hblkhd, before.hblkhd);
	ok(policy_rl_evictions(t) >= FLOOD_KEYS - FLOOD_CAP, "the flood evicted the flood");
	/* 10 at once + 10/s over 50 s: a reset of the client's bucket would
	 * have handed it 10 more. */
	is_int(asked, 1000);
	ok(allowed >= 508 && allowed <= 511, "the client kept its bucket through the flood");
	printf("# client allowed %d of %d; %llu evictions\n", allowed, asked,
	    (unsigned long long)policy_rl_evictions(t));
	policy_rl_free(&t);
}

static void
test_concurrency(void)
{
	struct policy_rl *t = table(POLICY_RL_CONCURRENCY, 0);
	struct policy_addr a = addr("192.0.2.1");
	uint64_t k = policy_rl_key_addr(t, 0, &a);
	struct policy_rl_slot s1, s2, s3;

	subtest("concurrency counters");
	ok(policy_rl_acquire(t, k, 2, 1, &s1), "first");
	ok(policy_rl_acquire(t, k, 2, 2, &s2), "second");
	ok(!policy_rl_acquire(t, k, 2, 3, &s3), "third refused");
	is_int(s3.key, 0);
	is_int(policy_rl_held(t, k), 2);
	policy_rl_release(t, &s1);
	is_int(s1.key, 0);
	policy_rl_release(t, &s1); /* twice: nothing */
	is_int(policy_rl_held(t, k), 1);
	ok(policy_rl_acquire(t, k, 2, 4, &s3), "again after a release");
	policy_rl_release(t, &s2);
	policy_rl_release(t, &s3);
	is_int(policy_rl_held(t, k), 0);
	ok(policy_rl_acquire(t, k, 0, 5, &s1), "limit 0: no limit");
	policy_rl_release(t, &s1);
	policy_rl_free(&t);

	/* One set of 8: eight held keys, a ninth is let through untracked. */
	t = table(POLICY_RL_CONCURRENCY, 8);
	{
		struct policy_rl_slot s[9];
		int n = 0;

		for (int i = 0; i < 9; i++) {
			char v[8];

			snprintf(v, sizeof v, "k%d", i);
			n += policy_rl_acquire(
			    t, policy_rl_key_bytes(t, 0, str_cstr(v)), 1, 1, &s[i]);
		}
		is_int(n, 9);
		is_int(s[8].key, 0);
		is_int(policy_rl_untracked(t), 1);
		is_int(policy_rl_evictions(t), 0);
		for (int i = 0; i < 9; i++)
			policy_rl_release(t, &s[i]);
		/* a free (zero) counter is taken by a new key */
		ok(policy_rl_acquire(t, policy_rl_key_bytes(t, 0, STR_LIT("new")), 1, 2, &s[0]),
		    "new key after releases");
		ok(s[0].key != 0, "tracked");
		is_int(policy_rl_untracked(t), 1);
		policy_rl_release(t, &s[0]);
	}
	policy_rl_free(&t);
}

/* ---- threads ----------------------------------------------------------- */

#define H_THREADS 4
#define H_ITERS   100000
#define H_KEYS    64
#define H_BURST   100
#define C_KEYS    8
#define C_LIMIT   3

static struct policy_rl *h_rate, *h_conc;
static struct policy_rl_limit h_lim;
static atomic_int h_allowed;
static atomic_int h_held[C_KEYS];
static atomic_int h_over;

static void *
hammer(void *arg)
{
	uint64_t seed = (uint64_t)(uintptr_t)arg * 0x9e3779b97f4a7c15ull + 1;
	int allowed = 0;

	for (int i = 0; i < H_ITERS; i++) {
		uint64_t k;

		seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
		k = policy_rl_key_bytes(
		    h_rate, 0, str_make((const char *)&(uint32_t){(uint32_t)(seed % H_KEYS)}, 4));
		/* the clock stands still: each key grants exactly its burst */
		allowed += policy_rl_check(h_rate, k, &h_lim, 1000, NULL);
		if (i % 4 == 0) {
			unsigned c = (unsigned)(seed >> 32) % C_KEYS;
			struct policy_rl_slot s;
			uint64_t kc =
			    policy_rl_key_bytes(h_conc, 0, str_make((const char *)&c, sizeof c));

			if (policy_rl_acquire(h_conc, kc, C_LIMIT, (uint64_t)i, &s)) {
				if (atomic_fetch_add(&h_held[c], 1) + 1 > C_LIMIT)
					atomic_fetch_add(&h_over, 1);
				atomic_fetch_sub(&h_held[c], 1);
				policy_rl_release(h_conc, &s);
			}
		}
	}
	atomic_fetch_add(&h_allowed, allowed);
	return NULL;
}

static void
test_threads(void)
{
	pthread_t th[H_THREADS];
	int missing = 0;

	subtest("threads hammering shared keys");
	h_rate = table(POLICY_RL_RATE, 4096);
	h_conc = table(POLICY_RL_CONCURRENCY, 4096);
	policy_rl_limit_make(&(struct policy_rate){1, 1}, H_BURST, &h_lim);
	for (intptr_t i = 0; i < H_THREADS; i++)
		pthread_create(&th[i], NULL, hammer, (void *)(i + 1));
	for (int i = 0; i < H_THREADS; i++)
		pthread_join(th[i], NULL);
	is_int(atomic_load(&h_allowed), H_KEYS * H_BURST);
	is_int(atomic_load(&h_over), 0);
	for (unsigned c = 0; c < C_KEYS; c++)
		missing += policy_rl_held(h_conc, policy_rl_key_bytes(h_conc, 0,
		                                      str_make((const char *)&c, sizeof c))) != 0;
	is_int(missing, 0);
	is_int(policy_rl_evictions(h_rate), 0);
	policy_rl_free(&h_rate);
	policy_rl_free(&h_conc);
}

int
main(void)
{
	test_parse();
	test_keys();
	test_bucket();
	test_flood();
	test_concurrency();
	test_threads();
	return tap_done();
}
