/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * origin/origin_pool.c — idle upstream connections and member selection.
 *
 * Model: per pool, per member, a LIFO list of idle entries (the most recently
 * used connection is the most likely to still be open on the origin side).
 * An idle entry owns its bufferevent; its callbacks close it on any event
 * (origin closed, origin sent unsolicited bytes, idle timeout).  Single-thread:
 * the pool belongs to one worker's event loop.
 *
 * Limits (max_conns): per member a shared atomic in-flight count
 * (origin_health_busy), per pool a shared atomic waiter count and this
 * worker's FIFO of waiters with one timer, armed while the FIFO is not empty
 * for the earlier of the head's deadline and the next poll.
 */
#include "config.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "config/config.h"
#include "core/assert.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "origin/origin_balance.h"
#include "origin/origin_health.h"
#include "origin/origin_pool.h"
#include "origin/origin_tls.h"

struct origin_member_state;

struct origin_idle {
	struct origin_idle *next;
	struct origin_idle *prev;
	struct origin_pool *pool;
	struct origin_member_state *ms;
	struct bufferevent *bev;
	unsigned uses;                /* requests sent on it so far */
	struct sockaddr_storage addr; /* its peer */
	socklen_t addrlen;
};

struct origin_member_state {
	struct origin_idle *idle; /* LIFO head */
	unsigned n_idle;
};

struct origin_pool_state {
	struct origin_pool *pool;
	const struct config_pool *conf;
	size_t n_members; /* conf's, for a free after the config is gone */
	struct origin_member_state *members;
	struct origin_balance *balance;
	_Atomic unsigned *busy;   /* per member, shared by all workers */
	_Atomic unsigned *queued; /* waiters of all workers */
	_Atomic unsigned *own;    /* busy/queued when there is no health object */
	struct origin_pool_waiter *wait_head, *wait_tail;
	SSL_CTX *tls;       /* pools with tls: this worker's client context */
	struct event *wake; /* queue timer; event_active'd on a local release */
};

struct origin_pool {
	struct event_base *base;
	const struct config *cfg;
	struct origin_pool_state *pools;
	size_t n_pools;
	size_t n_idle;
	/* A waiter's callback may release the last holder of the pool (a
	 * connection of an older generation): origin_pool_free then only
	 * marks it, and origin_pool_on_wake frees it once it stops using it. */
	unsigned dispatching;
	bool free_pending;
};

static void origin_pool_on_wake(evutil_socket_t fd, short what, void *arg);

struct origin_pool *
origin_pool_new(
    struct event_base *base, const struct config *cfg, struct origin_health *health, uint64_t seed)
{
	struct origin_pool *p = xcalloc(1, sizeof *p);

	p->base = base;
	p->cfg = cfg;
	p->n_pools = cfg->n_pools;
	p->pools = xcalloc(cfg->n_pools ? cfg->n_pools : 1, sizeof *p->pools);
	for (size_t i = 0; i < cfg->n_pools; i++) {
		p->pools[i].conf = &cfg->pools[i];
		p->pools[i].n_members = cfg->pools[i].n_members;
		p->pools[i].members = xcalloc(cfg->pools[i].n_members, sizeof *p->pools[i].members);
		p->pools[i].balance = origin_balance_new(&cfg->pools[i],
		    health != NULL ? origin_health_flags(health, (unsigned)i) : NULL, seed + i);
		p->pools[i].pool = p;
		if (health != NULL) {
			p->pools[i].busy = origin_health_busy(health, (unsigned)i);
			p->pools[i].queued = origin_health_queued(health, (unsigned)i);
		} else {
			p->pools[i].own = xcalloc(cfg->pools[i].n_members + 1, sizeof(unsigned));
			p->pools[i].busy = p->pools[i].own;
			p->pools[i].queued = &p->pools[i].own[cfg->pools[i].n_members];
		}
		p->pools[i].wake = evtimer_new(base, origin_pool_on_wake, &p->pools[i]);
		ASSERT(p->pools[i].wake != NULL);
		if (cfg->pools[i].tls) {
			char err[256];

			p->pools[i].tls = origin_tls_ctx_new(&cfg->pools[i], err, sizeof err);
			if (p->pools[i].tls == NULL)
				log_err("origin", "origin pool \"%s\": TLS: %s", cfg->pools[i].name,
				    err);
		}
	}
	return p;
}

static void
origin_idle_close(struct origin_idle *e)
{
	struct origin_member_state *ms = e->ms;

	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		ms->idle = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	ms->n_idle--;
	e->pool->n_idle--;
	bufferevent_free(e->bev);
	free(e);
}

/* An idle origin connection must stay silent: any byte, EOF, error or the idle
 * timeout ends it. */
static void
origin_idle_on_read(struct bufferevent *bev, void *arg)
{
	struct origin_idle *e = arg;

	ASSERT(e->bev == bev);
	origin_idle_close(e);
}

static void
origin_idle_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct origin_idle *e = arg;

	(void)what;
	ASSERT(e->bev == bev);
	origin_idle_close(e);
}

static void
origin_pool_destroy(struct origin_pool *p)
{
	for (size_t i = 0; i < p->n_pools; i++) {
		for (size_t m = 0; m < p->pools[i].n_members; m++)
			while (p->pools[i].members[m].idle != NULL)
				origin_idle_close(p->pools[i].members[m].idle);
		while (p->pools[i].wait_head != NULL)
			origin_pool_unwait(p, p->pools[i].wait_head);
		event_free(p->pools[i].wake);
		SSL_CTX_free(p->pools[i].tls);
		free(p->pools[i].own);
		free(p->pools[i].members);
		origin_balance_free(&p->pools[i].balance);
	}
	free(p->pools);
	free(p);
}

void
origin_pool_free(struct origin_pool **pp)
{
	struct origin_pool *p = *pp;

	if (p == NULL)
		return;
	*pp = NULL;
	if (p->dispatching > 0)
		p->free_pending = true; /* origin_pool_on_wake frees it */
	else
		origin_pool_destroy(p);
}

struct bufferevent *
origin_pool_bev_new(struct origin_pool *p, unsigned pool_idx, unsigned member_idx)
{
	struct origin_pool_state *ps;

	ASSERT(pool_idx < p->n_pools);
	ps = &p->pools[pool_idx];
	ASSERT(member_idx < ps->conf->n_members);
	if (!ps->conf->tls)
		return bufferevent_socket_new(p->base, -1, BEV_OPT_CLOSE_ON_FREE);
	return ps->tls == NULL ? NULL
	                       : origin_tls_bev_new(p->base, ps->tls, ps->conf,
	                             ps->conf->members[member_idx].host);
}

struct origin_balance *
origin_pool_balance(struct origin_pool *p, unsigned pool_idx)
{
	ASSERT(pool_idx < p->n_pools);
	return p->pools[pool_idx].balance;
}

/* True when the idle connection's socket has nothing to read and no EOF: the
 * origin has not closed it (RFC 9112 §9.3.1: a closed kept-alive connection
 * is the common reason a reused request fails). */
static bool
origin_idle_quiet(struct bufferevent *bev)
{
	evutil_socket_t fd = bufferevent_getfd(bev);
	char b;
	ssize_t n;

	if (fd < 0)
		return false;
	if (origin_tls_is(bev))
		return true; /* TLS records (tickets) may wait unread: EOF events only */
	n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	return n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

struct bufferevent *
origin_pool_take(struct origin_pool *p, unsigned pool_idx, unsigned member_idx,
    const struct sockaddr *sa, socklen_t salen, unsigned *uses)
{
	struct origin_member_state *ms;
	struct origin_idle *e, *next;
	struct bufferevent *bev;

	ASSERT(pool_idx < p->n_pools && member_idx < p->pools[pool_idx].conf->n_members);
	ms = &p->pools[pool_idx].members[member_idx];
	for (e = ms->idle; e != NULL; e = next) {
		next = e->next;
		if (sa != NULL && (e->addrlen != salen || memcmp(&e->addr, sa, salen) != 0))
			continue;
		if (origin_idle_quiet(e->bev))
			break;
		origin_idle_close(e);
	}
	if (e == NULL)
		return NULL;
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		ms->idle = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	ms->n_idle--;
	p->n_idle--;
	bev = e->bev;
	*uses = e->uses;
	free(e);
	bufferevent_disable(bev, EV_READ);
	bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
	bufferevent_set_timeouts(bev, NULL, NULL);
	return bev;
}

void
origin_pool_put(struct origin_pool *p, unsigned pool_idx, unsigned member_idx,
    struct bufferevent *bev, const struct sockaddr *sa, socklen_t salen, unsigned uses)
{
	const struct config_pool *pc;
	struct origin_member_state *ms;
	struct origin_idle *e;
	struct timeval tv;

	ASSERT(pool_idx < p->n_pools);
	pc = p->pools[pool_idx].conf;
	ASSERT(member_idx < pc->n_members);
	ms = &p->pools[pool_idx].members[member_idx];
	if (ms->n_idle >= pc->max_idle_per_worker || pc->idle_timeout_ms == 0 ||
	    (pc->max_requests != 0 && uses >= pc->max_requests)) {
		bufferevent_free(bev);
		return;
	}
	e = xcalloc(1, sizeof *e);
	e->pool = p;
	e->ms = ms;
	e->bev = bev;
	e->uses = uses;
	if (sa != NULL && salen <= sizeof e->addr) {
		memcpy(&e->addr, sa, salen);
		e->addrlen = salen;
	} else {
		e->addrlen = sizeof e->addr;
		if (getpeername(bufferevent_getfd(bev), (struct sockaddr *)&e->addr, &e->addrlen) ==
		    -1)
			e->addrlen = 0;
	}
	e->next = ms->idle;
	if (ms->idle != NULL)
		ms->idle->prev = e;
	ms->idle = e;
	ms->n_idle++;
	p->n_idle++;
	tv = time_ms_to_tv(pc->idle_timeout_ms);
	bufferevent_set_timeouts(bev, &tv, NULL);
	bufferevent_setcb(bev, origin_idle_on_read, NULL, origin_idle_on_event, e);
	bufferevent_enable(bev, EV_READ);
}

bool
origin_pool_acquire(struct origin_pool *p, unsigned pool_idx, unsigned member_idx)
{
	struct origin_pool_state *ps;
	unsigned max, n;

	ASSERT(pool_idx < p->n_pools);
	ps = &p->pools[pool_idx];
	ASSERT(member_idx < ps->conf->n_members);
	max = ps->conf->members[member_idx].max_conns;
	if (max == 0)
		return true;
	n = atomic_load_explicit(&ps->busy[member_idx], memory_order_relaxed);
	do {
		if (n >= max)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(
	    &ps->busy[member_idx], &n, n + 1, memory_order_relaxed, memory_order_relaxed));
	return true;
}

void
origin_pool_release(struct origin_pool *p, unsigned pool_idx, unsigned member_idx)
{
	struct origin_pool_state *ps;

	ASSERT(pool_idx < p->n_pools);
	ps = &p->pools[pool_idx];
	ASSERT(member_idx < ps->conf->n_members);
	if (ps->conf->members[member_idx].max_conns == 0)
		return;
	ASSERT(atomic_load_explicit(&ps->busy[member_idx], memory_order_relaxed) > 0);
	atomic_fetch_sub_explicit(&ps->busy[member_idx], 1, memory_order_relaxed);
	if (ps->wait_head != NULL)
		event_active(ps->wake, EV_TIMEOUT, 0);
}

/* True when some member of the pool is below its limit (it may still be
 * unusable for other reasons: the woken waiter finds out). */
static bool
origin_pool_any_slot(const struct origin_pool_state *ps)
{
	for (size_t m = 0; m < ps->conf->n_members; m++) {
		unsigned max = ps->conf->members[m].max_conns;

		if (max == 0 || atomic_load_explicit(&ps->busy[m], memory_order_relaxed) < max)
			return true;
	}
	return false;
}

static void
origin_pool_arm(struct origin_pool_state *ps, uint64_t now_ms)
{
	uint64_t ms = ORIGIN_POOL_QUEUE_POLL_MS;
	struct timeval tv;

	if (ps->wait_head == NULL) {
		evtimer_del(ps->wake);
		return;
	}
	if (ps->wait_head->deadline_ms <= now_ms)
		ms = 0;
	else if (ps->wait_head->deadline_ms - now_ms < ms)
		ms = ps->wait_head->deadline_ms - now_ms;
	tv = time_ms_to_tv(ms);
	evtimer_add(ps->wake, &tv);
}

/* Expired waiters get timed_out (oldest first); then, while a slot may be
 * free, the head is woken, until one goes back to the front. */
static void
origin_pool_on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct origin_pool_state *ps = arg;
	struct origin_pool *p = ps->pool;
	uint64_t now_ms = time_mono_ms();
	struct origin_pool_waiter *wt;

	(void)fd;
	(void)what;
	p->dispatching++;
	for (;;) {
		for (wt = ps->wait_head; wt != NULL && wt->deadline_ms > now_ms; wt = wt->next)
			;
		if (wt == NULL)
			break;
		origin_pool_unwait(p, wt);
		wt->cb(wt, true);
		if (p->free_pending)
			goto out;
	}
	while ((wt = ps->wait_head) != NULL && origin_pool_any_slot(ps)) {
		origin_pool_unwait(p, wt);
		wt->cb(wt, false);
		if (p->free_pending)
			goto out;
		if (ps->wait_head == wt)
			break; /* no slot for it after all */
	}
	origin_pool_arm(ps, now_ms);
out:
	if (--p->dispatching == 0 && p->free_pending)
		origin_pool_destroy(p);
}

int
origin_pool_wait(struct origin_pool *p, unsigned pool_idx, struct origin_pool_waiter *wt,
    uint64_t deadline_ms, bool front)
{
	struct origin_pool_state *ps;
	unsigned n;

	ASSERT(pool_idx < p->n_pools && !wt->queued && wt->cb != NULL);
	ps = &p->pools[pool_idx];
	n = atomic_load_explicit(ps->queued, memory_order_relaxed);
	do {
		if (!front && n >= ps->conf->queue)
			return -1;
	} while (!atomic_compare_exchange_weak_explicit(
	    ps->queued, &n, n + 1, memory_order_relaxed, memory_order_relaxed));
	wt->pool_idx = pool_idx;
	wt->deadline_ms = deadline_ms;
	wt->queued = true;
	if (front) {
		wt->prev = NULL;
		wt->next = ps->wait_head;
		if (ps->wait_head != NULL)
			ps->wait_head->prev = wt;
		else
			ps->wait_tail = wt;
		ps->wait_head = wt;
	} else {
		wt->next = NULL;
		wt->prev = ps->wait_tail;
		if (ps->wait_tail != NULL)
			ps->wait_tail->next = wt;
		else
			ps->wait_head = wt;
		ps->wait_tail = wt;
	}
	if (!evtimer_pending(ps->wake, NULL))
		origin_pool_arm(ps, time_mono_ms());
	return 0;
}

void
origin_pool_unwait(struct origin_pool *p, struct origin_pool_waiter *wt)
{
	struct origin_pool_state *ps;

	if (!wt->queued)
		return;
	ASSERT(wt->pool_idx < p->n_pools);
	ps = &p->pools[wt->pool_idx];
	if (wt->prev != NULL)
		wt->prev->next = wt->next;
	else
		ps->wait_head = wt->next;
	if (wt->next != NULL)
		wt->next->prev = wt->prev;
	else
		ps->wait_tail = wt->prev;
	wt->next = wt->prev = NULL;
	wt->queued = false;
	atomic_fetch_sub_explicit(ps->queued, 1, memory_order_relaxed);
}

size_t
origin_pool_idle_count(const struct origin_pool *p)
{
	return p->n_idle;
}
