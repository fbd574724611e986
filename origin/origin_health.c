/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * origin/origin_health.c — the active prober (see origin_health.h).
 *
 * One probe per (pool with health, member).  A probe is either waiting for
 * its next interval or running one check; a single timer serves both (the
 * interval while waiting, health.timeout while running).  A check is:
 * resolve → connect → write the request → read the response head with the
 * HTTP/1 client's reader (origin_http1.h, as fetches do: interim 1xx
 * responses skipped up to a cap, a malformed or oversized head a failure)
 * → judge the final status → close.  The body is not read.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "config/config.h"
#include "core/assert.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "origin/origin_dns.h"
#include "origin/origin_health.h"
#include "origin/origin_http1.h"
#include "origin/origin_tls.h"

#define OH_MAX_HEAD    (16 * 1024) /* the response head, status line included */
#define OH_MAX_HEADERS 100
#define OH_MAX_INTERIM 16 /* 1xx responses before the final one */

struct oh_probe {
	struct origin_health *h;
	const struct config_pool *pc;
	unsigned member;
	_Atomic unsigned char *flag;
	SSL_CTX *tls; /* the pool's context when it has tls */
	struct event *timer;
	struct bufferevent *bev;
	struct origin_dns_query *dnsq;
	struct origin_http1_reader rd; /* the running check's response */
	bool running;
	bool up;           /* this thread's view of *flag */
	unsigned char gen; /* *flag while up: 1..255, a new value at each recovery */
	unsigned passes, fails;
	uint64_t rng;
};

struct origin_health {
	_Atomic int refcnt;
	const struct config *cfg;
	_Atomic unsigned char **flags; /* per pool; NULL without health */
	void **flag_mem;               /* the same arrays, for free() */
	_Atomic unsigned *busy;        /* in-flight exchanges, n_members per pool, flat */
	size_t *busy_off;              /* pool i's members start at busy[busy_off[i]] */
	_Atomic unsigned *queued;      /* requests waiting for a slot, per pool */
	struct event_base *base;
	struct origin_dns *dns;
	struct oh_probe *probes;
	size_t n_probes;
	SSL_CTX **tls; /* per pool with tls and health: the prober's context */
};

struct origin_health *
origin_health_new(const struct config *cfg)
{
	struct origin_health *h = xcalloc(1, sizeof *h);
	size_t n_busy = 0;

	atomic_init(&h->refcnt, 1);
	h->cfg = cfg;
	h->flags = xcalloc(cfg->n_pools ? cfg->n_pools : 1, sizeof *h->flags);
	h->flag_mem = xcalloc(cfg->n_pools ? cfg->n_pools : 1, sizeof *h->flag_mem);
	h->busy_off = xcalloc(cfg->n_pools ? cfg->n_pools : 1, sizeof *h->busy_off);
	h->queued = xcalloc(cfg->n_pools ? cfg->n_pools : 1, sizeof *h->queued);
	for (size_t i = 0; i < cfg->n_pools; i++) {
		h->busy_off[i] = n_busy;
		n_busy += cfg->pools[i].n_members;
	}
	h->busy = xcalloc(n_busy ? n_busy : 1, sizeof *h->busy);
	for (size_t i = 0; i < cfg->n_pools; i++) {
		const struct config_pool *pc = &cfg->pools[i];

		if (pc->health_path == NULL)
			continue;
		h->flag_mem[i] = xcalloc(pc->n_members, sizeof *h->flags[i]);
		h->flags[i] = h->flag_mem[i];
		for (size_t m = 0; m < pc->n_members; m++)
			atomic_init(&h->flags[i][m], 1);
		h->n_probes += pc->n_members;
	}
	return h;
}

/* Pool i of h takes the flags of old's pool j for the members both have. */
static void
oh_inherit_pool(struct origin_health *h, size_t i, const struct origin_health *old, size_t j)
{
	const struct config_pool *pc = &h->cfg->pools[i], *oc = &old->cfg->pools[j];

	for (size_t m = 0; m < pc->n_members; m++)
		for (size_t k = 0; k < oc->n_members; k++)
			if (oc->members[k].port == pc->members[m].port &&
			    strcmp(oc->members[k].host, pc->members[m].host) == 0)
				atomic_store(&h->flags[i][m], atomic_load(&old->flags[j][k]));
}

void
origin_health_inherit(struct origin_health *h, const struct origin_health *old)
{
	for (size_t i = 0; i < h->cfg->n_pools; i++) {
		if (h->flags[i] == NULL)
			continue;
		for (size_t j = 0; j < old->cfg->n_pools; j++)
			if (old->flags[j] != NULL &&
			    strcmp(old->cfg->pools[j].name, h->cfg->pools[i].name) == 0) {
				oh_inherit_pool(h, i, old, j);
				break; /* pool names are unique */
			}
	}
}

struct origin_health *
origin_health_ref(struct origin_health *h)
{
	atomic_fetch_add(&h->refcnt, 1);
	return h;
}

void
origin_health_unref(struct origin_health **hp)
{
	struct origin_health *h = *hp;

	if (h == NULL)
		return;
	*hp = NULL;
	if (atomic_fetch_sub(&h->refcnt, 1) != 1)
		return;
	ASSERT(h->probes == NULL);
	for (size_t i = 0; i < h->cfg->n_pools; i++)
		free(h->flag_mem[i]);
	free(h->flag_mem);
	free(h->flags);
	free(h->busy);
	free(h->busy_off);
	free(h->queued);
	free(h);
}

const struct config *
origin_health_config(const struct origin_health *h)
{
	return h->cfg;
}

const _Atomic unsigned char *
origin_health_flags(const struct origin_health *h, unsigned pool_idx)
{
	ASSERT(pool_idx < h->cfg->n_pools);
	return h->flags[pool_idx];
}

_Atomic unsigned *
origin_health_busy(struct origin_health *h, unsigned pool_idx)
{
	ASSERT(pool_idx < h->cfg->n_pools);
	return &h->busy[h->busy_off[pool_idx]];
}

_Atomic unsigned *
origin_health_queued(struct origin_health *h, unsigned pool_idx)
{
	ASSERT(pool_idx < h->cfg->n_pools);
	return &h->queued[pool_idx];
}

static uint64_t
oh_rand(struct oh_probe *p)
{
	p->rng ^= p->rng >> 12;
	p->rng ^= p->rng << 25;
	p->rng ^= p->rng >> 27;
	return p->rng * 0x2545f4914f6cdd1dULL;
}

static void
oh_arm(struct oh_probe *p, uint64_t ms)
{
	struct timeval tv;

	tv = time_ms_to_tv(ms);
	evtimer_add(p->timer, &tv);
}

/* Ends the running check with its verdict and waits for the next interval. */
static void
oh_done(struct oh_probe *p, bool pass, const char *why)
{
	const struct config_pool *pc = p->pc;
	const struct config_member *m = &pc->members[p->member];
	uint64_t iv = pc->health_interval_ms;

	origin_dns_cancel(&p->dnsq);
	if (p->bev != NULL) {
		bufferevent_free(p->bev);
		p->bev = NULL;
	}
	p->running = false;
	if (pass) {
		p->fails = 0;
		if (!p->up && ++p->passes >= pc->health_rise) {
			p->up = true;
			p->gen = (unsigned char)(p->gen % 255 + 1);
			atomic_store_explicit(p->flag, p->gen, memory_order_relaxed);
			log_info("health", "pool \"%s\" member %s:%u is up (%u checks passed)",
			    pc->name, m->host, (unsigned)m->port, p->passes);
		}
	} else {
		p->passes = 0;
		if (p->up && ++p->fails >= pc->health_fall) {
			p->up = false;
			atomic_store_explicit(p->flag, 0, memory_order_relaxed);
			log_warn("health",
			    "pool \"%s\" member %s:%u is down (%u checks failed, last: %s)",
			    pc->name, m->host, (unsigned)m->port, p->fails, why);
		} else {
			log_debug("health", "pool \"%s\" member %s:%u: check failed: %s", pc->name,
			    m->host, (unsigned)m->port, why);
		}
	}
	evtimer_del(p->timer);
	/* next check in interval ± 10 % */
	oh_arm(p, iv - iv / 10 + (iv >= 5 ? oh_rand(p) % (iv / 5 + 1) : 0));
}

static void
oh_on_read(struct bufferevent *bev, void *arg)
{
	struct oh_probe *p = arg;
	struct h1_header hdrs[OH_MAX_HEADERS];
	struct h1_response resp;
	enum h1_status h1st = H1_OK;
	enum origin_http1_status st;
	char why[96];

	st = origin_http1_read_head(&p->rd, bufferevent_get_input(bev), hdrs, &resp, &h1st);
	if (st == ORIGIN_HTTP1_AGAIN)
		return;
	if (st == ORIGIN_HTTP1_E_MALFORMED) {
		snprintf(why, sizeof why, "malformed response: %s", h1_strerror(h1st));
		oh_done(p, false, why);
		return;
	}
	if (st != ORIGIN_HTTP1_OK) {
		oh_done(p, false, origin_http1_strerror(st));
		return;
	}
	snprintf(why, sizeof why, "status %d", resp.status);
	oh_done(p,
	    (unsigned)resp.status >= p->pc->health_expect_min &&
	        (unsigned)resp.status <= p->pc->health_expect_max,
	    why);
}

static void
oh_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct oh_probe *p = arg;

	if (what & BEV_EVENT_CONNECTED)
		return;
	if (what & BEV_EVENT_ERROR) {
		char buf[256];
		bool verify;
		const char *tls = origin_tls_error(bev, &verify, buf, sizeof buf);

		oh_done(p, false,
		    tls != NULL ? tls : evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	} else
		oh_done(p, false, "connection closed before a response head");
}

static void
oh_connect(struct oh_probe *p, const struct sockaddr *sa, socklen_t salen)
{
	const struct config_pool *pc = p->pc;
	const struct config_member *m = &pc->members[p->member];
	const struct h1_limits lim = {0, OH_MAX_HEAD, OH_MAX_HEADERS};
	struct evbuffer *out;

	if (pc->tls && p->tls == NULL) {
		oh_done(p, false, "no TLS context");
		return;
	}
	const char *host = m->probe_host != NULL ? m->probe_host : m->host;
	uint16_t port = m->probe_host != NULL ? m->probe_port : m->port;

	p->bev = pc->tls ? origin_tls_bev_new(p->h->base, p->tls, pc, m->host)
	                 : bufferevent_socket_new(p->h->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (p->bev == NULL) {
		oh_done(p, false, "cannot create a socket");
		return;
	}
	origin_http1_init(&p->rd, &lim, OH_MAX_INTERIM, false, NULL);
	bufferevent_setcb(p->bev, oh_on_read, NULL, oh_on_event, p);
	bufferevent_enable(p->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(p->bev, sa, (int)salen) != 0) {
		oh_done(p, false, evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		return;
	}
	out = bufferevent_get_output(p->bev);
	evbuffer_add_printf(out, "GET %s HTTP/1.1\r\nHost: ", pc->health_path);
	if (pc->health_host != NULL)
		evbuffer_add_printf(out, "%s", pc->health_host);
	else if (strchr(host, ':') != NULL)
		evbuffer_add_printf(out, "[%s]:%u", host, (unsigned)port);
	else
		evbuffer_add_printf(out, "%s:%u", host, (unsigned)port);
	evbuffer_add_printf(
	    out, "\r\nUser-Agent: outpost-health/%s\r\nConnection: close\r\n\r\n", PACKAGE_VERSION);
}

static void
oh_on_resolved(const char *err, const struct sockaddr *sa, socklen_t salen, void *arg)
{
	struct oh_probe *p = arg;

	p->dnsq = NULL;
	if (err != NULL)
		oh_done(p, false, err);
	else
		oh_connect(p, sa, salen);
}

static void
oh_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct oh_probe *p = arg;
	const struct config_member *m = &p->pc->members[p->member];
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	const char *err = NULL;
	int r;

	(void)fd;
	(void)what;
	if (p->running) {
		oh_done(p, false, "timed out");
		return;
	}
	p->running = true;
	oh_arm(p, p->pc->health_timeout_ms);
	/* a member's probe address (a sibling's admin listener), else its own */
	r = origin_dns_resolve(p->h->dns, m->probe_host != NULL ? m->probe_host : m->host,
	    m->probe_host != NULL ? m->probe_port : m->port, &ss, &sslen, oh_on_resolved, p,
	    &p->dnsq, &err);
	if (r == 0)
		oh_connect(p, (const struct sockaddr *)&ss, sslen);
	else if (r < 0)
		oh_done(p, false, err != NULL ? err : "resolution failed");
}

void
origin_health_start(struct origin_health *h, struct event_base *base, struct origin_dns *dns)
{
	const struct config *cfg = h->cfg;
	size_t k = 0;

	ASSERT(h->probes == NULL);
	if (h->n_probes == 0)
		return;
	h->base = base;
	h->dns = dns;
	h->probes = xcalloc(h->n_probes, sizeof *h->probes);
	h->tls = xcalloc(cfg->n_pools, sizeof *h->tls);
	for (size_t i = 0; i < cfg->n_pools; i++) {
		const struct config_pool *pc = &cfg->pools[i];

		if (pc->health_path == NULL)
			continue;
		if (pc->tls) {
			char err[256];

			h->tls[i] = origin_tls_ctx_new(pc, err, sizeof err);
			if (h->tls[i] == NULL)
				log_err("health", "origin pool \"%s\": TLS: %s", pc->name, err);
		}
		for (unsigned m = 0; m < pc->n_members; m++) {
			struct oh_probe *p = &h->probes[k++];

			p->h = h;
			p->pc = pc;
			p->member = m;
			p->flag = &h->flags[i][m];
			p->tls = h->tls[i];
			/* up unless origin_health_inherit said otherwise */
			p->gen = atomic_load(p->flag);
			p->up = p->gen != 0;
			p->rng = (time_mono_ms() ^ ((uint64_t)k << 32) ^ (uintptr_t)p) | 1;
			p->timer = evtimer_new(base, oh_on_timer, p);
			/* the first check somewhere in the first interval */
			oh_arm(p, oh_rand(p) % (pc->health_interval_ms + 1));
		}
	}
}

void
origin_health_stop(struct origin_health *h)
{
	if (h->probes == NULL)
		return;
	for (size_t i = 0; i < h->n_probes; i++) {
		struct oh_probe *p = &h->probes[i];

		origin_dns_cancel(&p->dnsq);
		if (p->bev != NULL)
			bufferevent_free(p->bev);
		if (p->timer != NULL)
			event_free(p->timer);
	}
	free(h->probes);
	h->probes = NULL;
	for (size_t i = 0; i < h->cfg->n_pools; i++)
		SSL_CTX_free(h->tls[i]);
	free(h->tls);
	h->tls = NULL;
}
