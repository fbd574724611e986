/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/origin/test_origin_balance.c — the balancers' distributions,
 * backup members, health views, rendezvous stability, passive ejection with
 * doubling backoff, and the retry budget.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "origin/origin_balance.h"
#include "tests/unit/tap.h"

#define MAXM 16

static struct config_member members[MAXM];
static char hosts[MAXM][32];

/* A pool of n members with the given weights (NULL: all 1). */
static struct config_pool
pool_of(enum config_balancer bal, size_t n, const unsigned *weights)
{
	struct config_pool pc;

	memset(&pc, 0, sizeof pc);
	pc.name = (char *)(uintptr_t) "p";
	pc.balancer = bal;
	pc.n_members = n;
	pc.members = members;
	pc.retries = 1;
	pc.retry_budget_pct = 20;
	pc.passive_failures = 3;
	pc.passive_backoff_ms = 5000;
	pc.passive_max_backoff_ms = 60000;
	for (size_t i = 0; i < n; i++) {
		snprintf(hosts[i], sizeof hosts[i], "10.0.0.%zu", i + 1);
		members[i].host = hosts[i];
		members[i].port = 80;
		members[i].weight = weights != NULL ? weights[i] : 1;
		members[i].backup = false;
	}
	return pc;
}

/* Picks n times (begin/end around each) and counts per member. */
static void
spread(struct origin_balance *b, unsigned n, unsigned *count, size_t n_members, bool hold)
{
	memset(count, 0, n_members * sizeof *count);
	for (unsigned i = 0; i < n; i++) {
		int m =
		    origin_balance_pick(b, origin_balance_hash((char *)&i, sizeof i), NULL, 0, 0);

		if (m < 0)
			continue;
		count[m]++;
		origin_balance_begin(b, (unsigned)m);
		if (!hold)
			origin_balance_end(b, (unsigned)m);
	}
}

static bool
near(unsigned got, double want, double tol)
{
	return got >= want * (1 - tol) && got <= want * (1 + tol);
}

static void
test_round_robin(void)
{
	unsigned w[] = {3, 1};
	struct config_pool pc = pool_of(CONFIG_BALANCER_ROUND_ROBIN, 2, w);
	struct origin_balance *b = origin_balance_new(&pc, NULL, 1);
	unsigned count[2];
	int seq[4];

	subtest("round_robin: smooth weighted, exact");
	for (int i = 0; i < 4; i++)
		seq[i] = origin_balance_pick(b, 0, NULL, 0, 0);
	ok(seq[0] == 0 && seq[1] == 0 && seq[2] == 1 && seq[3] == 0, "3:1 is a,a,b,a");
	spread(b, 4000, count, 2, false);
	is_int(count[0], 3000);
	is_int(count[1], 1000);
	origin_balance_free(&b);
	ok(b == NULL, "free NULLs");
}

static void
test_least_conn(void)
{
	unsigned w[] = {2, 1, 1};
	struct config_pool pc = pool_of(CONFIG_BALANCER_LEAST_CONN, 3, w);
	struct origin_balance *b = origin_balance_new(&pc, NULL, 2);
	unsigned count[3];

	subtest("least_conn: in-flight / weight");
	/* held requests: the weight-2 member carries twice as many */
	spread(b, 400, count, 3, true);
	is_int(count[0], 200);
	is_int(count[1], 100);
	is_int(count[2], 100);
	origin_balance_free(&b);

	b = origin_balance_new(&pc, NULL, 2);
	origin_balance_begin(b, 0);
	origin_balance_begin(b, 0);
	origin_balance_begin(b, 0);
	origin_balance_begin(b, 1);
	is_int(origin_balance_pick(b, 0, NULL, 0, 0), 2);
	origin_balance_end(b, 0);
	origin_balance_end(b, 0);
	origin_balance_end(b, 0);
	origin_balance_end(b, 1);
	/* all idle: ties rotate, so the spread is even */
	spread(b, 300, count, 3, false);
	ok(count[0] == 100 && count[1] == 100 && count[2] == 100, "idle ties rotate evenly");
	origin_balance_free(&b);
}

static void
test_random_two(void)
{
	unsigned w[] = {1, 1, 1, 1};
	struct config_pool pc = pool_of(CONFIG_BALANCER_RANDOM_TWO, 4, w);
	struct origin_balance *b = origin_balance_new(&pc, NULL, 3);
	unsigned count[4], total = 0;

	subtest("random_two_choices: random, load-aware");
	spread(b, 8000, count, 4, false);
	for (int i = 0; i < 4; i++) {
		ok(near(count[i], 2000, 0.1), "idle: uniform within 10 %");
		total += count[i];
	}
	is_int(total, 8000);
	/* a loaded member is never chosen over an idle one it is paired with */
	for (int i = 0; i < 50; i++)
		origin_balance_begin(b, 0);
	spread(b, 1000, count, 4, false);
	is_int(count[0], 0);
	origin_balance_free(&b);

	w[0] = 3;
	pc = pool_of(CONFIG_BALANCER_RANDOM_TWO, 4, w);
	b = origin_balance_new(&pc, NULL, 4);
	spread(b, 12000, count, 4, true);
	/* held: load / weight evens out, so member 0 carries ~3x */
	ok(near(count[0], 6000, 0.1), "weight 3 member: about half of all held requests");
	origin_balance_free(&b);
}

static void
test_ip_hash(void)
{
	unsigned w[] = {1, 2, 1};
	struct config_pool pc = pool_of(CONFIG_BALANCER_IP_HASH, 3, w);
	struct origin_balance *b = origin_balance_new(&pc, NULL, 5);
	unsigned count[3] = {0, 0, 0};
	bool same = true;

	subtest("ip_hash: one client, one member; weighted");
	for (unsigned i = 0; i < 4000; i++) {
		char ip[32];
		int n = snprintf(ip, sizeof ip, "192.0.%u.%u", i / 250, i % 250);
		uint64_t k = origin_balance_hash(ip, (size_t)n);
		int m = origin_balance_pick(b, k, NULL, 0, 0);

		same = same && origin_balance_pick(b, k, NULL, 0, 0) == m;
		count[m]++;
	}
	ok(same, "stable per address");
	ok(near(count[0], 1000, 0.15) && near(count[1], 2000, 0.15) && near(count[2], 1000, 0.15),
	    "1:2:1 within 15 %");
	origin_balance_free(&b);
}

static void
test_consistent_hash(void)
{
	struct config_pool pc = pool_of(CONFIG_BALANCER_CONSISTENT_HASH, 5, NULL);
	struct config_pool pc6 = pool_of(CONFIG_BALANCER_CONSISTENT_HASH, 6, NULL);
	struct origin_balance *b5 = origin_balance_new(&pc, NULL, 6);
	struct origin_balance *b6 = origin_balance_new(&pc6, NULL, 7);
	unsigned count[6] = {0}, moved = 0, moved_elsewhere = 0, after_down = 0;
	enum { N = 10000 };
	bool stable = true;

	subtest("consistent_hash: rendezvous, ~1/N moves");
	for (unsigned i = 0; i < N; i++) {
		char key[32];
		int n = snprintf(key, sizeof key, "/obj/%u", i);
		uint64_t k = origin_balance_hash(key, (size_t)n);
		int a = origin_balance_pick(b5, k, NULL, 0, 0);
		int c = origin_balance_pick(b6, k, NULL, 0, 0);

		stable = stable && origin_balance_pick(b5, k, NULL, 0, 0) == a;
		count[a]++;
		if (a != c) {
			moved++;
			if (c != 5)
				moved_elsewhere++; /* must only move to the new member */
		}
	}
	ok(stable, "same key, same member");
	for (int i = 0; i < 5; i++)
		ok(near(count[i], N / 5, 0.1), "5 members: even within 10 %");
	/* adding a 6th member moves ~1/6 of the keys, all to it */
	ok(near(moved, N / 6.0, 0.15), "adding a member moves ~1/6 of the keys");
	printf("# moved %u of %u\n", moved, (unsigned)N);
	is_int(moved_elsewhere, 0);

	/* a member going down moves only its own keys */
	for (unsigned i = 0; i < N; i++) {
		char key[32];
		int n = snprintf(key, sizeof key, "/obj/%u", i);
		uint64_t k = origin_balance_hash(key, (size_t)n);
		int a = origin_balance_pick(b5, k, NULL, 0, 0);
		unsigned skip = 2;
		int c = origin_balance_pick(b5, k, &skip, 1, 0);

		if (a != 2 && a != c)
			after_down++;
	}
	is_int(after_down, 0);
	origin_balance_free(&b5);
	origin_balance_free(&b6);

	/* weights: 3:1 */
	{
		unsigned w[] = {3, 1};
		struct config_pool pw = pool_of(CONFIG_BALANCER_CONSISTENT_HASH, 2, w);
		struct origin_balance *b = origin_balance_new(&pw, NULL, 8);
		unsigned cnt[2];

		spread(b, 8000, cnt, 2, false);
		ok(near(cnt[0], 6000, 0.05) && near(cnt[1], 2000, 0.1), "weighted 3:1");
		origin_balance_free(&b);
	}
}

static void
test_ewma(void)
{
	struct config_pool pc = pool_of(CONFIG_BALANCER_EWMA, 2, NULL);
	struct origin_balance *b = origin_balance_new(&pc, NULL, 9);
	unsigned count[2] = {0, 0};
	uint64_t now = 1000;

	subtest("ewma: the faster member gets the traffic; peak, then decay");
	for (int i = 0; i < 1000; i++, now += 1) {
		int m = origin_balance_pick(b, 0, NULL, 0, now);

		count[m]++;
		origin_balance_begin(b, (unsigned)m);
		origin_balance_end(b, (unsigned)m);
		origin_balance_success(b, (unsigned)m, m == 0 ? 5 : 50, now);
	}
	ok(count[0] > 900, "member 0 (5 ms) takes > 90 %");
	printf("# fast %u slow %u\n", count[0], count[1]);
	/* peak: one slow sample lifts the EWMA at once */
	origin_balance_success(b, 0, 500, now);
	ok(origin_balance_ewma_us(b, 0, now) == 500000, "peak sample adopted at once");
	/* a faster sample moves it 20 % of the way */
	origin_balance_success(b, 0, 0, now);
	is_int(origin_balance_ewma_us(b, 0, now), 400000);
	/* decays with time without samples: 10 s constant halves it */
	is_int(origin_balance_ewma_us(b, 0, now + 10000), 200000);
	origin_balance_free(&b);
}

static void
test_backup_and_health(void)
{
	struct config_pool pc = pool_of(CONFIG_BALANCER_ROUND_ROBIN, 3, NULL);
	_Atomic unsigned char up[3];
	struct origin_balance *b;
	unsigned count[3], skip;

	subtest("backup members and the active view");
	members[2].backup = true;
	for (int i = 0; i < 3; i++)
		atomic_init(&up[i], 1);
	b = origin_balance_new(&pc, up, 10);
	spread(b, 100, count, 3, false);
	ok(count[0] == 50 && count[1] == 50 && count[2] == 0, "backup idle while primaries are up");
	atomic_store(&up[0], 0);
	spread(b, 100, count, 3, false);
	ok(count[0] == 0 && count[1] == 100 && count[2] == 0, "down primary skipped");
	skip = 1;
	is_int(origin_balance_pick(b, 0, &skip, 1, 0), 2);
	ok(origin_balance_any(b, &skip, 1, 0), "any: the backup");
	atomic_store(&up[1], 0);
	spread(b, 10, count, 3, false);
	is_int(count[2], 10);
	atomic_store(&up[2], 0);
	is_int(origin_balance_pick(b, 0, NULL, 0, 0), ORIGIN_BALANCE_NONE);
	ok(!origin_balance_any(b, NULL, 0, 0), "none usable");
	atomic_store(&up[0], 1);
	is_int(origin_balance_pick(b, 0, NULL, 0, 0), 0);
	origin_balance_free(&b);
	members[2].backup = false;

	subtest("an active recovery ends a passive ejection");
	for (int i = 0; i < 3; i++)
		atomic_init(&up[i], 1);
	b = origin_balance_new(&pc, up, 11);
	for (int i = 0; i < 3; i++)
		origin_balance_failure(b, 0, 1000);
	ok(!origin_balance_usable(b, 0, 1000), "ejected");
	ok(!origin_balance_any(b, (const unsigned[]){1, 2}, 2, 1000), "only member 0 left: none");
	atomic_store(&up[0], 2); /* the prober saw it fail and recover: new generation */
	ok(origin_balance_any(b, (const unsigned[]){1, 2}, 2, 1000), "recovered: usable again");
	is_int(origin_balance_ejected_ms(b, 0), 0);
	origin_balance_free(&b);
}

static void
test_passive(void)
{
	struct config_pool pc = pool_of(CONFIG_BALANCER_ROUND_ROBIN, 2, NULL);
	struct origin_balance *b = origin_balance_new(&pc, NULL, 11);
	uint64_t t = 100000;

	subtest("passive: eject after 3, backoff doubles, success resets");
	ok(!origin_balance_failure(b, 0, t), "1st failure: no change");
	ok(!origin_balance_failure(b, 0, t), "2nd failure: no change");
	origin_balance_success(b, 0, 1, t); /* resets the count */
	ok(!origin_balance_failure(b, 0, t), "count restarted");
	ok(!origin_balance_failure(b, 0, t), "2nd");
	ok(origin_balance_failure(b, 0, t), "3rd: ejected");
	is_int(origin_balance_ejected_ms(b, 0), 5000);
	ok(!origin_balance_usable(b, 0, t + 4999), "out during the backoff");
	is_int(origin_balance_pick(b, 0, NULL, 0, t + 10), 1);
	ok(!origin_balance_failure(b, 0, t + 10), "late failure inside the backoff: no change");
	ok(origin_balance_usable(b, 0, t + 5000), "back for a trial after the backoff");
	ok(origin_balance_failure(b, 0, t + 5000), "trial failed: ejected again");
	is_int(origin_balance_ejected_ms(b, 0), 10000);
	ok(origin_balance_failure(b, 0, t + 15000), "again");
	is_int(origin_balance_ejected_ms(b, 0), 20000);
	origin_balance_failure(b, 0, t + 35000);
	origin_balance_failure(b, 0, t + 75000);
	is_int(origin_balance_ejected_ms(b, 0), 60000);
	ok(origin_balance_success(b, 0, 1, t + 200000), "success: back (state change)");
	is_int(origin_balance_ejected_ms(b, 0), 0);
	ok(origin_balance_usable(b, 0, t + 200000), "usable");
	origin_balance_free(&b);

	pc.passive_failures = 0;
	b = origin_balance_new(&pc, NULL, 12);
	for (int i = 0; i < 10; i++)
		ok(!origin_balance_failure(b, 0, t) || true, "off");
	ok(origin_balance_usable(b, 0, t), "failures: 0 never ejects");
	origin_balance_free(&b);

	subtest("passive: a lone member stays usable");
	pc = pool_of(CONFIG_BALANCER_ROUND_ROBIN, 1, NULL);
	b = origin_balance_new(&pc, NULL, 13);
	for (int i = 0; i < 3; i++)
		origin_balance_failure(b, 0, t);
	ok(origin_balance_usable(b, 0, t + 1), "usable after 3 failures");
	is_int(origin_balance_pick(b, 0, NULL, 0, t + 1), 0);
	origin_balance_free(&b);
}

static void
test_error_rate(void)
{
	struct config_pool pc = pool_of(CONFIG_BALANCER_ROUND_ROBIN, 2, NULL);
	struct origin_balance *b;
	uint64_t t = 100000;
	int ejected_at = -1;

	subtest("passive.error_rate: 50 %% of the last 10, next to consecutive failures");
	pc.passive_failures = 0; /* the rate alone */
	pc.passive_error_rate_pct = 50;
	pc.passive_window = 10;
	b = origin_balance_new(&pc, NULL, 14);
	/* alternating outcomes: never 2 failures in a row, 50 % of the window */
	for (int i = 0; i < 20 && ejected_at < 0; i++) {
		if (i % 2 == 0)
			origin_balance_success(b, 0, 1, t);
		else if (origin_balance_failure(b, 0, t))
			ejected_at = i;
	}
	is_int(ejected_at, 9); /* the window is full at the 10th outcome */
	is_int(origin_balance_ejected_ms(b, 0), 5000);
	ok(!origin_balance_usable(b, 0, t + 1), "ejected");
	ok(origin_balance_success(b, 0, 1, t + 6000), "a good trial ends it");
	/* 4 failures in 10: below the rate */
	for (int i = 0; i < 10; i++) {
		if (i % 5 == 0 || i % 5 == 1)
			ok(!origin_balance_failure(b, 0, t + 7000), "40 %%: no ejection");
		else
			origin_balance_success(b, 0, 1, t + 7000);
	}
	ok(origin_balance_usable(b, 0, t + 7000), "still usable");
	origin_balance_free(&b);

	/* with both on, consecutive failures still eject before the window fills */
	pc.passive_failures = 3;
	b = origin_balance_new(&pc, NULL, 15);
	origin_balance_failure(b, 1, t);
	origin_balance_failure(b, 1, t);
	ok(origin_balance_failure(b, 1, t), "3 in a row: ejected (window not full)");
	origin_balance_free(&b);
}

static void
test_budget(void)
{
	struct config_pool pc = pool_of(CONFIG_BALANCER_ROUND_ROBIN, 2, NULL);
	struct origin_balance *b = origin_balance_new(&pc, NULL, 13);
	unsigned ok_n = 0;
	uint64_t t = 1000;

	subtest("retry budget: 20 % of ~10 s, at least 3");
	for (int i = 0; i < 5; i++)
		ok_n += origin_balance_retry_ok(b, t);
	is_int(ok_n, 3);
	for (int i = 0; i < 100; i++)
		origin_balance_note_request(b, t);
	ok_n = 0;
	for (int i = 0; i < 100; i++)
		ok_n += origin_balance_retry_ok(b, t);
	is_int(ok_n, 17); /* 20 of 100, 3 already used */
	/* 6 s later the old half still counts; 12 s later it is gone */
	ok(!origin_balance_retry_ok(b, t + 6000), "previous half still counted");
	ok(origin_balance_retry_ok(b, t + 17000), "window passed: retries again");
	origin_balance_free(&b);
}

static void
test_hash(void)
{
	subtest("hash");
	ok(origin_balance_hash("a", 1) != origin_balance_hash("b", 1), "differs");
	ok(origin_balance_hash("/x", 2) == origin_balance_hash("/x", 2), "stable");
}

int
main(void)
{
	test_hash();
	test_round_robin();
	test_least_conn();
	test_random_two();
	test_ip_hash();
	test_consistent_hash();
	test_ewma();
	test_backup_and_health();
	test_passive();
	test_error_rate();
	test_budget();
	return tap_done();
}
