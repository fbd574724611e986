/*
 * origin/origin_pool.c — idle upstream connections and member selection.
 *
 * Model: per pool, per member, a LIFO list of idle entries (the most recently
 * used connection is the most likely to still be open on the origin side).
 * An idle entry owns its bufferevent; its callbacks close it on any event
 * (origin closed, origin sent unsolicited bytes, idle timeout).  Single-thread:
 * the pool belongs to one worker's event loop.
 */
#include "config.h"

#include <stdlib.h>
#include <sys/time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "config/config.h"
#include "core/assert.h"
#include "core/xmalloc.h"
#include "origin/origin_balance.h"
#include "origin/origin_health.h"
#include "origin/origin_pool.h"

struct origin_member_state;

struct origin_idle {
	struct origin_idle *next;
	struct origin_idle *prev;
	struct origin_pool *pool;
	struct origin_member_state *ms;
	struct bufferevent *bev;
};

struct origin_member_state {
	struct origin_idle *idle; /* LIFO head */
	unsigned n_idle;
};

struct origin_pool_state {
	const struct config_pool *conf;
	struct origin_member_state *members;
	struct origin_balance *balance;
};

struct origin_pool {
	struct event_base *base;
	const struct config *cfg;
	struct origin_pool_state *pools;
	size_t n_pools;
	size_t n_idle;
};

struct origin_pool *
origin_pool_new(struct event_base *base, const struct config *cfg,
    const struct origin_health *health, uint64_t seed)
{
	struct origin_pool *p = xcalloc(1, sizeof *p);

	p->base = base;
	p->cfg = cfg;
	p->n_pools = cfg->n_pools;
	p->pools = xcalloc(cfg->n_pools ? cfg->n_pools : 1, sizeof *p->pools);
	for (size_t i = 0; i < cfg->n_pools; i++) {
		p->pools[i].conf = &cfg->pools[i];
		p->pools[i].members = xcalloc(cfg->pools[i].n_members, sizeof *p->pools[i].members);
		p->pools[i].balance = origin_balance_new(&cfg->pools[i],
		    health != NULL ? origin_health_flags(health, (unsigned)i) : NULL, seed + i);
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

void
origin_pool_free(struct origin_pool **pp)
{
	struct origin_pool *p = *pp;

	if (p == NULL)
		return;
	*pp = NULL;
	for (size_t i = 0; i < p->n_pools; i++) {
		for (size_t m = 0; m < p->pools[i].conf->n_members; m++)
			while (p->pools[i].members[m].idle != NULL)
				origin_idle_close(p->pools[i].members[m].idle);
		free(p->pools[i].members);
		origin_balance_free(&p->pools[i].balance);
	}
	free(p->pools);
	free(p);
}

struct origin_balance *
origin_pool_balance(struct origin_pool *p, unsigned pool_idx)
{
	ASSERT(pool_idx < p->n_pools);
	return p->pools[pool_idx].balance;
}

struct bufferevent *
origin_pool_take(struct origin_pool *p, unsigned pool_idx, unsigned member_idx)
{
	struct origin_member_state *ms;
	struct origin_idle *e;
	struct bufferevent *bev;

	ASSERT(pool_idx < p->n_pools && member_idx < p->pools[pool_idx].conf->n_members);
	ms = &p->pools[pool_idx].members[member_idx];
	e = ms->idle;
	if (e == NULL)
		return NULL;
	ms->idle = e->next;
	if (e->next != NULL)
		e->next->prev = NULL;
	ms->n_idle--;
	p->n_idle--;
	bev = e->bev;
	free(e);
	bufferevent_disable(bev, EV_READ);
	bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
	bufferevent_set_timeouts(bev, NULL, NULL);
	return bev;
}

void
origin_pool_put(
    struct origin_pool *p, unsigned pool_idx, unsigned member_idx, struct bufferevent *bev)
{
	const struct config_pool *pc;
	struct origin_member_state *ms;
	struct origin_idle *e;
	struct timeval tv;

	ASSERT(pool_idx < p->n_pools);
	pc = p->pools[pool_idx].conf;
	ASSERT(member_idx < pc->n_members);
	ms = &p->pools[pool_idx].members[member_idx];
	if (ms->n_idle >= pc->max_idle_per_worker || pc->idle_timeout_ms == 0) {
		bufferevent_free(bev);
		return;
	}
	e = xcalloc(1, sizeof *e);
	e->pool = p;
	e->ms = ms;
	e->bev = bev;
	e->next = ms->idle;
	if (ms->idle != NULL)
		ms->idle->prev = e;
	ms->idle = e;
	ms->n_idle++;
	p->n_idle++;
	tv.tv_sec = pc->idle_timeout_ms / 1000;
	tv.tv_usec = (pc->idle_timeout_ms % 1000) * 1000;
	bufferevent_set_timeouts(bev, &tv, NULL);
	bufferevent_setcb(bev, origin_idle_on_read, NULL, origin_idle_on_event, e);
	bufferevent_enable(bev, EV_READ);
}

size_t
origin_pool_idle_count(const struct origin_pool *p)
{
	return p->n_idle;
}
