/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_worker.c — worker threads.
 *
 * Each worker runs one event_base created without locks
 * (EVENT_BASE_FLAG_NOLOCK): nothing but its own thread ever touches it.  The
 * main thread talks to a worker only through two eventfds (the drain request,
 * a reload waiting in w->reload) and reads its metrics with relaxed atomic
 * loads.  Listening sockets are bound by the main thread (so a bad address
 * fails start-up with a clear message) with SO_REUSEPORT, one set per worker,
 * and the kernel spreads connections across them; a connection never changes
 * thread.  Configuration generations: see edge_worker.h.
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <xxhash.h>

#include "config/config.h"
#include "core/assert.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "edge/edge_collapse.h"
#include "edge/edge_conn.h"
#include "edge/edge_route.h"
#include "edge/edge_tls.h"
#include "edge/edge_guard.h"
#include "edge/edge_worker.h"
#include "policy/policy.h"
#include "origin/origin_balance.h"
#include "origin/origin_dns.h"
#include "origin/origin_health.h"
#include "origin/origin_pool.h"

struct edge_reload {
	struct config *cfg;
	struct edge_tls *tls;
	struct origin_health *health;
};

static void
worker_reload_free(struct edge_reload **rp)
{
	struct edge_reload *r = *rp;

	if (r == NULL)
		return;
	*rp = NULL;
	origin_health_unref(&r->health); /* never started: nothing to stop */
	edge_tls_unref(&r->tls);
	config_unref(&r->cfg);
	free(r);
}

/* A generation of cfg, tls and health (takes the references). */
static struct edge_gen *
worker_gen_new(
    struct edge_worker *w, struct config *cfg, struct edge_tls *tls, struct origin_health *health)
{
	struct edge_gen *g = xcalloc(1, sizeof *g);

	g->cfg = cfg;
	g->tls = tls;
	g->health = health;
	g->opool = origin_pool_new(
	    w->base, cfg, health, time_mono_ms() ^ ((uint64_t)w->id << 40) ^ (uintptr_t)g);
	g->users = 1;
	g->site_slot = xcalloc(cfg->n_sites, 1);
	for (size_t i = 0; i < cfg->n_sites; i++)
		g->site_slot[i] =
		    (uint8_t)edge_labels_slot(&w->srv->site_labels, cfg->sites[i].name);
	g->pool_slot = xcalloc(cfg->n_pools > 0 ? cfg->n_pools : 1, 1);
	for (size_t i = 0; i < cfg->n_pools; i++)
		g->pool_slot[i] =
		    (uint8_t)edge_labels_slot(&w->srv->pool_labels, cfg->pools[i].name);
	return g;
}

struct edge_gen *
edge_gen_hold(struct edge_gen *g)
{
	g->users++;
	return g;
}

void
edge_gen_release(struct edge_worker *w, struct edge_gen **gp)
{
	struct edge_gen *g = *gp;

	if (g == NULL)
		return;
	*gp = NULL;
	ASSERT(g->users > 0);
	if (--g->users > 0)
		return;
	ASSERT(g != w->gen);
	origin_pool_free(&g->opool);
	free(g->site_slot);
	free(g->pool_slot);
	origin_health_unref(&g->health);
	edge_tls_unref(&g->tls);
	config_unref(&g->cfg);
	free(g);
}

struct edge_gen *
edge_gen_current(struct edge_worker *w, struct edge_gen **gp)
{
	if (*gp != w->gen) {
		edge_gen_release(w, gp);
		*gp = edge_gen_hold(w->gen);
	}
	return *gp;
}

static void
worker_on_reload(evutil_socket_t fd, short what, void *arg)
{
	struct edge_worker *w = arg;
	struct edge_reload *r;
	struct edge_gen *old;
	uint64_t v;

	(void)what;
	OBJ_CHECK(w, EDGE_WORKER_MAGIC);
	(void)!read(fd, &v, sizeof v);
	r = atomic_exchange(&w->reload, NULL);
	if (r == NULL || w->draining) {
		worker_reload_free(&r);
		return;
	}
	old = w->gen;
	w->gen = worker_gen_new(w, r->cfg, r->tls, r->health);
	free(r); /* its references moved to the generation */
	if (w->id == 0) {
		/* the probes follow the current pools */
		origin_health_stop(old->health);
		origin_health_start(w->gen->health, w->base, w->dns);
	}
	edge_gen_release(w, &old);
	log_debug("edge", "worker %u: new configuration in service", w->id);
}

void
edge_worker_reload(
    struct edge_worker *w, struct config *cfg, struct edge_tls *tls, struct origin_health *health)
{
	struct edge_reload *r = xcalloc(1, sizeof *r);
	uint64_t one = 1;

	r->cfg = config_ref(cfg);
	r->tls = tls != NULL ? edge_tls_ref(tls) : NULL;
	r->health = origin_health_ref(health);
	r = atomic_exchange(&w->reload, r);
	worker_reload_free(&r); /* one the worker had not picked up yet */
	(void)!write(w->reload_fd, &one, sizeof one);
}

static void
worker_on_accept(
    struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	struct edge_worker *w = arg;
	const struct config_listen *listen = NULL;

	OBJ_CHECK(w, EDGE_WORKER_MAGIC);
	/* listeners[i] serves listens[i] of the start-up configuration (listeners
	 * need a restart); a handful, so a scan is cheapest */
	for (size_t i = 0; i < w->n_listeners; i++)
		if (w->listeners[i] == l) {
			if (w->boot->listens[i].proxy_protocol) {
				edge_guard_pp_accept(w, fd, sa, salen, &w->boot->listens[i]);
				return;
			}
			listen = &w->boot->listens[i];
			break;
		}
	edge_conn_accept(w, fd, sa, salen, listen);
}

/* The pause is over: accept again (unless the listeners closed meanwhile). */
static void
worker_on_accept_resume(evutil_socket_t fd, short what, void *arg)
{
	struct edge_worker *w = arg;

	(void)fd;
	(void)what;
	OBJ_CHECK(w, EDGE_WORKER_MAGIC);
	w->accept_paused = false;
	for (size_t i = 0; i < w->n_listeners; i++)
		if (w->listeners[i] != NULL)
			evconnlistener_enable(w->listeners[i]);
}

/*
 * accept(2) failed.  Out of descriptors (EMFILE, ENFILE) or of kernel memory
 * (ENOBUFS, ENOMEM), the pending connection stays in the backlog and the
 * level-triggered listener would report it again at once: the loop would
 * spin on accept while nothing frees a descriptor.  So every listener of the
 * worker stops for EDGE_ACCEPT_PAUSE_MS (nginx does the same); connections
 * closing meanwhile give descriptors back, and the backlog is served after.
 */
static void
worker_on_accept_error(struct evconnlistener *l, void *arg)
{
	static _Thread_local uint64_t last_ms;
	struct edge_worker *w = arg;
	uint64_t now = time_mono_ms();
	int err = EVUTIL_SOCKET_ERROR();
	bool pause = edge_accept_exhausted(err);
	struct timeval tv = time_ms_to_tv(EDGE_ACCEPT_PAUSE_MS);

	(void)l;
	OBJ_CHECK(w, EDGE_WORKER_MAGIC);
	if (now - last_ms >= 10000) {
		last_ms = now;
		log_err("edge", "accept: %s (%u connections open)%s",
		    evutil_socket_error_to_string(err), w->n_conns,
		    pause ? ": accepting paused for " EDGE_ACCEPT_PAUSE_TEXT : "");
	}
	if (!pause || w->accept_paused)
		return;
	EDGE_COUNT(&w->metrics, accept_pauses_total);
	w->accept_paused = true;
	for (size_t i = 0; i < w->n_listeners; i++)
		if (w->listeners[i] != NULL)
			evconnlistener_disable(w->listeners[i]);
	evtimer_add(w->accept_timer, &tv);
}

static void
worker_close_listeners(struct edge_worker *w)
{
	for (size_t i = 0; i < w->n_listeners; i++)
		if (w->listeners[i] != NULL) {
			evconnlistener_free(w->listeners[i]);
			w->listeners[i] = NULL;
		}
}

static void
worker_on_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct edge_worker *w = arg;
	struct edge_conn *c, *next;

	(void)fd;
	(void)what;
	OBJ_CHECK(w, EDGE_WORKER_MAGIC);
	if (w->n_conns > 0)
		log_warn("edge", "drain timeout: closing %u connections still open", w->n_conns);
	for (c = w->conns; c != NULL; c = next) {
		next = c->next;
		edge_conn_abort(c);
	}
	event_base_loopbreak(w->base);
}

static void
worker_on_drain(evutil_socket_t fd, short what, void *arg)
{
	struct edge_worker *w = arg;
	struct edge_conn *c, *next;
	struct timeval tv;
	uint64_t v;

	(void)what;
	OBJ_CHECK(w, EDGE_WORKER_MAGIC);
	(void)!read(fd, &v, sizeof v);
	if (w->draining)
		return;
	w->draining = true;
	worker_close_listeners(w);
	evtimer_del(w->accept_timer);
	edge_fetch_abort_background(w); /* best effort: never waited for */
	for (c = w->conns; c != NULL; c = next) {
		next = c->next;
		edge_conn_drain(c);
	}
	if (w->n_conns == 0) {
		event_base_loopbreak(w->base);
		return;
	}
	tv = time_ms_to_tv(w->gen->cfg->drain_timeout_ms);
	evtimer_add(w->drain_timer, &tv);
}

/* A fill this worker's connections read changed: let them send what is new. */
static void
worker_on_fill(evutil_socket_t fd, short what, void *arg)
{
	struct edge_worker *w = arg;
	uint64_t v;

	(void)what;
	OBJ_CHECK(w, EDGE_WORKER_MAGIC);
	(void)!read(fd, &v, sizeof v);
	/* cleared before the walk: a change during it kicks again */
	atomic_store(&w->fill_kick, false);
	edge_collapse_wake(w);
}

void
edge_worker_fill_notify(void *arg, unsigned bit)
{
	struct edge_server *srv = arg;
	uint64_t one = 1;

	for (unsigned i = bit; i < srv->n_workers; i += 64) {
		struct edge_worker *w = srv->workers[i];

		if (w == NULL || w->fill_fd == -1 || atomic_exchange(&w->fill_kick, true))
			continue;
		(void)!write(w->fill_fd, &one, sizeof one);
	}
}

struct edge_worker *
edge_worker_new(struct edge_server *srv, unsigned id, const int *fds, size_t n_fds)
{
	struct edge_worker *w = xcalloc(1, sizeof *w);
	struct event_config *ec;

	w->magic = EDGE_WORKER_MAGIC;
	w->id = id;
	w->srv = srv;
	w->drain_fd = -1;
	w->fill_fd = -1;
	w->reload_fd = -1;
	w->purge_box.fd = -1;
	/* request ids differ across workers and restarts by this prefix */
	if (getrandom(&w->rid_seed, sizeof w->rid_seed, GRND_NONBLOCK) != sizeof w->rid_seed)
		w->rid_seed = time_mono_us() ^ ((uint64_t)getpid() << 32) ^ ((uint64_t)id << 56);
	ec = event_config_new();
	event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK);
	w->base = event_base_new_with_config(ec);
	event_config_free(ec);
	if (w->base == NULL) {
		log_err("edge", "worker %u: cannot create an event base", id);
		goto fail;
	}
	w->drain_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->drain_fd == -1) {
		log_err("edge", "worker %u: eventfd: %s", id, strerror(errno));
		goto fail;
	}
	w->reload_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->reload_fd == -1) {
		log_err("edge", "worker %u: eventfd: %s", id, strerror(errno));
		goto fail;
	}
	w->drain_ev = event_new(w->base, w->drain_fd, EV_READ | EV_PERSIST, worker_on_drain, w);
	w->drain_timer = evtimer_new(w->base, worker_on_drain_timeout, w);
	event_add(w->drain_ev, NULL);
	w->fill_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->fill_fd == -1) {
		log_err("edge", "worker %u: eventfd: %s", id, strerror(errno));
		goto fail;
	}
	w->fill_ev = event_new(w->base, w->fill_fd, EV_READ | EV_PERSIST, worker_on_fill, w);
	event_add(w->fill_ev, NULL);
	if (edge_purge_box_init(&w->purge_box, w->base) != 0)
		goto fail;
	w->reload_ev = event_new(w->base, w->reload_fd, EV_READ | EV_PERSIST, worker_on_reload, w);
	event_add(w->reload_ev, NULL);
	w->accept_timer = evtimer_new(w->base, worker_on_accept_resume, w);
	w->listeners = xcalloc(n_fds ? n_fds : 1, sizeof *w->listeners);
	w->boot = config_ref(srv->cfg);
	ASSERT(n_fds <= w->boot->n_listens);
	for (size_t i = 0; i < n_fds; i++) {
		int one = 1;

		/* accepted sockets inherit it: no setsockopt per connection */
		(void)setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		w->listeners[i] = evconnlistener_new(
		    w->base, worker_on_accept, w, LEV_OPT_CLOSE_ON_FREE, 0, fds[i]);
		if (w->listeners[i] == NULL) {
			log_err("edge", "worker %u: cannot listen", id);
			for (size_t j = i; j < n_fds; j++)
				close(fds[j]);
			w->n_listeners = i;
			goto fail;
		}
		evconnlistener_set_error_cb(w->listeners[i], worker_on_accept_error);
		w->n_listeners = i + 1;
	}
	/* Workers are made in order: worker 0 makes the shared health flags
	 * and runs the active probes on its loop. */
	if (id == 0)
		srv->health = origin_health_new(srv->cfg);
	ASSERT(srv->health != NULL);
	w->route_md = edge_route_md_new();
	w->gen = worker_gen_new(w, config_ref(srv->cfg),
	    srv->tls != NULL ? edge_tls_ref(srv->tls) : NULL, origin_health_ref(srv->health));
	w->dns = origin_dns_new(w->base, srv->cfg->resolver.servers, srv->cfg->resolver.min_ttl_s,
	    srv->cfg->resolver.max_ttl_s);
	if (w->dns == NULL) {
		log_err("edge", "worker %u: cannot start the resolver", id);
		goto fail;
	}
	if (id == 0)
		origin_health_start(w->gen->health, w->base, w->dns);
	return w;
fail:
	w->thread_started = false;
	edge_worker_join_free(&w);
	return NULL;
}

static void *
worker_main(void *arg)
{
	struct edge_worker *w = arg;
	char name[16];

	OBJ_CHECK(w, EDGE_WORKER_MAGIC);
	snprintf(name, sizeof name, "w%u", w->id);
	log_set_thread_name(name);
	event_base_dispatch(w->base);
	atomic_store(&w->finished, true);
	return NULL;
}

int
edge_worker_start(struct edge_worker *w)
{
	int r = pthread_create(&w->thread, NULL, worker_main, w);

	if (r != 0)
		return -r;
	w->thread_started = true;
	return 0;
}

void
edge_worker_drain(struct edge_worker *w)
{
	uint64_t one = 1;

	(void)!write(w->drain_fd, &one, sizeof one);
}

bool
edge_worker_finished(struct edge_worker *w)
{
	return atomic_load(&w->finished);
}

void
edge_worker_join(struct edge_worker *w)
{
	if (w->thread_started)
		pthread_join(w->thread, NULL);
	w->thread_started = false;
}

void
edge_worker_join_free(struct edge_worker **wp)
{
	struct edge_worker *w = *wp;
	struct edge_conn *c, *next;
	struct edge_reload *r;

	if (w == NULL)
		return;
	*wp = NULL;
	edge_worker_join(w);
	w->draining = true;
	for (c = w->conns; c != NULL; c = next) {
		next = c->next;
		edge_conn_abort(c);
	}
	edge_fetch_abort_all(w);
	edge_guard_pp_abort_all(w);
	worker_close_listeners(w);
	free(w->listeners);
	edge_route_md_free(&w->route_md);
	config_unref(&w->boot);
	if (w->gen != NULL) {
		struct edge_gen *g = w->gen;

		if (w->id == 0)
			origin_health_stop(g->health);
		w->gen = NULL; /* connections and exchanges are gone: the last holder */
		edge_gen_release(w, &g);
	}
	r = atomic_exchange(&w->reload, NULL);
	worker_reload_free(&r);
	origin_dns_free(&w->dns);
	if (w->reload_ev != NULL)
		event_free(w->reload_ev);
	if (w->reload_fd != -1)
		close(w->reload_fd);
	if (w->drain_ev != NULL)
		event_free(w->drain_ev);
	if (w->drain_timer != NULL)
		event_free(w->drain_timer);
	if (w->accept_timer != NULL)
		event_free(w->accept_timer);
	if (w->drain_fd != -1)
		close(w->drain_fd);
	if (w->fill_ev != NULL)
		event_free(w->fill_ev);
	if (w->fill_fd != -1)
		close(w->fill_fd);
	edge_purge_box_fini(&w->purge_box);
	if (w->base != NULL)
		event_base_free(w->base);
	w->magic = 0;
	free(w);
}

struct edge_hs_ip {
	struct edge_hs_ip *next; /* bucket chain */
	unsigned char addr[16];  /* IPv6, or IPv4-mapped */
	unsigned bucket;
	unsigned n; /* handshakes in progress */
};

/* sa's address as 16 bytes: IPv6, or IPv4-mapped (zeros for another family). */
static void
worker_addr16(const struct sockaddr *sa, unsigned char addr[16])
{
	memset(addr, 0, 16);
	if (sa->sa_family == AF_INET) {
		addr[10] = addr[11] = 0xff;
		memcpy(addr + 12, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		memcpy(addr, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
	}
}

bool
edge_worker_handshake_begin(
    struct edge_worker *w, const struct sockaddr *sa, struct edge_hs_ip **slot)
{
	unsigned limit = w->gen->cfg->max_handshakes_per_ip;
	unsigned char addr[16];
	struct edge_hs_ip *e;
	unsigned b;

	*slot = NULL;
	if (limit == 0)
		return true;
	worker_addr16(sa, addr);
	b = (unsigned)(origin_balance_hash((const char *)addr, sizeof addr) % EDGE_HS_BUCKETS);
	for (e = w->hs_ip[b]; e != NULL; e = e->next)
		if (memcmp(e->addr, addr, sizeof addr) == 0)
			break;
	if (e == NULL) {
		e = xcalloc(1, sizeof *e);
		memcpy(e->addr, addr, sizeof addr);
		e->bucket = b;
		e->next = w->hs_ip[b];
		w->hs_ip[b] = e;
	} else if (e->n >= limit) {
		return false;
	}
	e->n++;
	*slot = e;
	return true;
}

void
edge_worker_handshake_end(struct edge_worker *w, struct edge_hs_ip **slot)
{
	struct edge_hs_ip *e = *slot, **pp;

	if (e == NULL)
		return;
	*slot = NULL;
	ASSERT(e->n > 0);
	if (--e->n > 0)
		return;
	for (pp = &w->hs_ip[e->bucket]; *pp != e; pp = &(*pp)->next)
		;
	*pp = e->next;
	free(e);
}

struct edge_ip_counts {
	unsigned char secret[192]; /* XXH3 secret (at least XXH3_SECRET_SIZE_MIN) */
	_Atomic uint32_t n[EDGE_IP_SLOTS];
};

struct edge_ip_counts *
edge_ip_counts_new(void)
{
	struct edge_ip_counts *t = xcalloc(1, sizeof *t);
	size_t got = 0;

	_Static_assert(sizeof t->secret >= XXH3_SECRET_SIZE_MIN, "XXH3 secret too short");
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
edge_ip_counts_free(struct edge_ip_counts **tp)
{
	free(*tp);
	*tp = NULL;
}

/* addr: an IPv6 address, or an IPv4-mapped one. */
static bool
ip_enter16(struct edge_ip_counts *t, unsigned char addr[16], unsigned limit, uint32_t slot[2])
{
	static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	uint64_t h;
	uint32_t a, b;

	/* an IPv6 client (not IPv4-mapped) counts by its /64 */
	if (memcmp(addr, v4mapped, sizeof v4mapped) != 0)
		memset(addr + 8, 0, 8);
	h = XXH3_64bits_withSecret(addr, 16, t->secret, sizeof t->secret);
	slot[0] = (uint32_t)h & (EDGE_IP_SLOTS - 1);
	slot[1] = (uint32_t)(h >> 32) & (EDGE_IP_SLOTS - 1);
	if (slot[1] == slot[0])
		slot[1] ^= 1;
	a = atomic_fetch_add_explicit(&t->n[slot[0]], 1, memory_order_relaxed);
	b = atomic_fetch_add_explicit(&t->n[slot[1]], 1, memory_order_relaxed);
	if (limit != 0 && (a < b ? a : b) >= limit) {
		edge_ip_leave(t, slot);
		return false;
	}
	return true;
}

bool
edge_ip_enter(struct edge_ip_counts *t, const struct sockaddr *sa, unsigned limit, uint32_t slot[2])
{
	unsigned char addr[16];

	worker_addr16(sa, addr);
	return ip_enter16(t, addr, limit, slot);
}

bool
edge_ip_enter_addr(
    struct edge_ip_counts *t, const struct policy_addr *a, unsigned limit, uint32_t slot[2])
{
	unsigned char addr[16] = {0};

	if (a->family == AF_INET) {
		addr[10] = addr[11] = 0xff;
		memcpy(addr + 12, a->b, 4);
	} else {
		memcpy(addr, a->b, 16);
	}
	return ip_enter16(t, addr, limit, slot);
}

void
edge_ip_leave(struct edge_ip_counts *t, uint32_t slot[2])
{
	if (slot[0] == EDGE_IP_NONE)
		return;
	atomic_fetch_sub_explicit(&t->n[slot[0]], 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&t->n[slot[1]], 1, memory_order_relaxed);
	slot[0] = EDGE_IP_NONE;
}

const char *
edge_worker_date(struct edge_worker *w)
{
	time_t now = time_now();

	if (now != w->date_at) {
		w->date_at = now;
		time_http_date(now, w->date);
	}
	return w->date;
}

void
edge_worker_conn_gone(struct edge_worker *w)
{
	ASSERT(w->n_conns > 0);
	w->n_conns--;
	if (w->draining && w->n_conns == 0)
		event_base_loopbreak(w->base);
}
