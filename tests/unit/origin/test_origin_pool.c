/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/origin/test_origin_pool.c — max_conns slots and the wait queue
 * of origin_pool.c on a real event_base (no sockets): acquire up to the
 * limit, a bounded FIFO of waiters, a release waking the head, a woken
 * waiter put back at the front, and queue_timeout.  Every loop is bounded.
 */
#include "config.h"

#include <stdbool.h>
#include <string.h>

#include <event2/event.h>

#include "config/config.h"
#include "core/timeutil.h"
#include "origin/origin_pool.h"
#include "tests/unit/tap.h"

struct waiter {
	struct origin_pool_waiter wt; /* first: the callback gets its address */
	int woken, timed_out, no_slot;
	bool requeue; /* put back at the front when woken, as if no slot */
	struct origin_pool *p;
};

/* As the proxy does: take a slot, or go back to the front of the queue. */
static void
on_wake(struct origin_pool_waiter *wt, bool timed_out)
{
	struct waiter *w = (struct waiter *)(void *)wt;

	if (timed_out) {
		w->timed_out++;
		return;
	}
	w->woken++;
	if (w->requeue)
		(void)origin_pool_wait(w->p, 0, wt, wt->deadline_ms, true);
	else if (!origin_pool_acquire(w->p, 0, 0))
		w->no_slot++;
}

/* Runs the loop until *flag is set or ms pass. */
static void
run_until(struct event_base *base, const int *flag, unsigned ms)
{
	uint64_t end = time_mono_ms() + ms;

	while (*flag == 0 && time_mono_ms() < end)
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
}

int
main(void)
{
	struct config_member members[1];
	struct config_pool pc;
	struct config cfg;
	struct event_base *base = event_base_new();
	struct origin_pool *p;
	struct waiter w[3];
	uint64_t now;

	memset(members, 0, sizeof members);
	members[0].host = (char *)(uintptr_t) "10.0.0.1";
	members[0].port = 80;
	members[0].weight = 1;
	members[0].max_conns = 2;
	memset(&pc, 0, sizeof pc);
	pc.name = (char *)(uintptr_t) "p";
	pc.members = members;
	pc.n_members = 1;
	pc.queue = 2;
	pc.queue_timeout_ms = 100;
	pc.max_idle_per_worker = 4;
	pc.idle_timeout_ms = 1000;
	memset(&cfg, 0, sizeof cfg);
	cfg.pools = &pc;
	cfg.n_pools = 1;
	p = origin_pool_new(base, &cfg, NULL, 1);

	subtest("max_conns: slots up to the limit");
	ok(origin_pool_acquire(p, 0, 0), "1st slot");
	ok(origin_pool_acquire(p, 0, 0), "2nd slot");
	ok(!origin_pool_acquire(p, 0, 0), "3rd refused");

	subtest("the queue is bounded and FIFO");
	memset(w, 0, sizeof w);
	now = time_mono_ms();
	for (int i = 0; i < 3; i++) {
		w[i].wt.cb = on_wake;
		w[i].p = p;
	}
	is_int(origin_pool_wait(p, 0, &w[0].wt, now + 5000, false), 0);
	is_int(origin_pool_wait(p, 0, &w[1].wt, now + 5000, false), 0);
	is_int(origin_pool_wait(p, 0, &w[2].wt, now + 5000, false), -1);
	origin_pool_release(p, 0, 0);
	run_until(base, &w[0].woken, 1000);
	is_int(w[0].woken, 1);
	is_int(w[0].no_slot, 0);
	is_int(w[1].woken, 0);
	ok(w[1].wt.queued && !w[1].timed_out, "the second still waits");
	ok(!origin_pool_acquire(p, 0, 0), "the woken one took the freed slot");

	subtest("a woken waiter put back stays ahead of later ones");
	w[1].requeue = true;
	origin_pool_release(p, 0, 0);
	run_until(base, &w[1].woken, 1000);
	ok(w[1].wt.queued, "back in the queue");
	is_int(origin_pool_wait(p, 0, &w[2].wt, now + 5000, false), 0);
	w[1].requeue = false;
	{
		int again = 0;
		uint64_t end = time_mono_ms() + 1000;

		while (w[1].woken < 2 && time_mono_ms() < end) /* the poll wakes it */
			event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		again = w[1].woken >= 2;
		ok(again, "woken again by the poll");
	}
	is_int(w[1].no_slot, 0);
	ok(w[2].wt.queued && w[2].woken == 0, "the later waiter still queued (no slot left)");
	origin_pool_unwait(p, &w[2].wt);
	ok(!w[2].wt.queued, "unwait");

	subtest("queue_timeout");
	memset(&w[0], 0, sizeof w[0]);
	w[0].wt.cb = on_wake;
	w[0].p = p;
	ok(!origin_pool_acquire(p, 0, 0), "still full");
	is_int(origin_pool_wait(p, 0, &w[0].wt, time_mono_ms() + 50, false), 0);
	run_until(base, &w[0].timed_out, 2000);
	is_int(w[0].timed_out, 1);
	is_int(w[0].woken, 0);

	origin_pool_free(&p);
	ok(p == NULL, "free NULLs");
	event_base_free(base);
	return tap_done();
}
