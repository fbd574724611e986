/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_worker.h — the server and its worker threads.
 *
 * struct edge_server holds what all workers share: the config snapshot, the
 * RAM tier (internally sharded and locked per shard), the access log fd and
 * the connection counts per client address (atomic counters, no lock).
 * Each worker thread owns an event_base, its own SO_REUSEPORT listening
 * sockets, its connections, its origin pool and its resolver; nothing a worker
 * owns is touched by another thread except its metrics (relaxed atomics), the
 * drain trigger (an eventfd) and the reload hand-off (an atomic pointer plus
 * an eventfd).
 *
 * Reload: the main thread loads and checks a new snapshot, builds its TLS
 * contexts and health flags, and hands a reference of each to every worker
 * (edge_worker_reload).  The worker builds a new generation (struct
 * edge_gen: the snapshot, its TLS contexts and the origin pool state made for
 * its pools) on its own loop and makes it current.  A connection holds the
 * generation it last started a request with and moves to the current one
 * when its next request starts; a background revalidation holds the
 * generation it started with.  The count of holders is a plain integer (one
 * thread): no atomic per request.  An old generation is freed by its worker
 * when its last holder lets go.
 */
#ifndef OUTPOST_EDGE_EDGE_WORKER_H
#define OUTPOST_EDGE_EDGE_WORKER_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "core/timeutil.h"
#include "cache/cache.h"
#include "core/h1.h"
#include "edge/edge_fetch.h"
#include "edge/edge_metrics.h"
#include "edge/edge_purge.h"

struct config;
struct cache;
struct event;
struct event_base;
struct evconnlistener;
struct origin_pool;
struct origin_dns;
struct origin_health;
struct edge_conn;
struct edge_req;
struct edge_tls;
struct edge_fetch;
struct edge_route_md;
struct edge_hs_ip;
struct edge_ip_counts;
struct edge_alog;

#define EDGE_HS_BUCKETS 256 /* per-address handshake counts: hash buckets per worker */
/* How long a worker stops accepting when accept(2) runs out of descriptors. */
#define EDGE_ACCEPT_PAUSE_MS   500
#define EDGE_ACCEPT_PAUSE_TEXT "500 ms"

/* accept(2) failed for want of descriptors or kernel memory: the pending
 * connection stays ready, so a listener must pause rather than retry. */
static inline bool
edge_accept_exhausted(int err)
{
	return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

/* One configuration generation on one worker.  Worker thread only. */
struct edge_gen {
	struct config *cfg;           /* one reference */
	struct edge_tls *tls;         /* one reference; NULL without a TLS listener */
	struct origin_health *health; /* one reference; worker 0 runs its probes while
	                                 the generation is current */
	struct origin_pool *opool;    /* owned: idle connections and balancers for
	                                 cfg's pools */
	unsigned users;               /* holders: the worker while current, connections,
	                                 background revalidations */
	uint8_t *site_slot;           /* owned: the metrics slot of cfg->sites[i] */
	uint8_t *pool_slot;           /* owned: the metrics slot of cfg->pools[i] */
};

/* A reload waiting for a worker to pick it up (one reference of each). */
struct edge_reload;

struct edge_server {
	struct config *cfg;     /* one reference: the newest snapshot (main thread) */
	struct cache *cache;    /* owned: the tiers, the fills and the bans (with
	                           no tier when cache.ram is 0) */
	int access_log_fd;      /* -1 when no access log file */
	struct edge_alog *alog; /* the access log's writer, or NULL without one */
	struct edge_tls *tls;   /* TLS contexts of cfg (one reference); NULL without a
	                           TLS listener */
	struct edge_worker **workers;
	unsigned n_workers;
	struct origin_health *health; /* one reference: the newest active health flags
	                                 (made by worker 0 at start, by a reload later;
	                                 /metrics reads them); each generation holds
	                                 its own */
	_Atomic bool draining;
	/* Client connections open per address, all workers together
	 * (limits.connections_per_ip); lock-free, see edge_ip_enter. */
	struct edge_ip_counts *conn_ip;
	/* requests in progress per client address (limits.requests_per_ip);
	 * NULL: not counted */
	struct edge_ip_counts *req_ip;
	/* rate_limit buckets of every site and route, all workers together
	 * (policy_rl); made by the main thread with the first configuration
	 * that has a rate_limit (edge_guard_tables), then kept across reloads;
	 * NULL before */
	_Atomic(struct policy_rl *) rate_limits;
	/* the label values of the labelled metrics (edge_metrics.h) */
	struct edge_labels site_labels;
	struct edge_labels pool_labels;
	/* reloads (main thread only: the admin listener runs there) */
	unsigned long reloads_total;         /* snapshots put in service by SIGHUP */
	unsigned long reload_failures_total; /* new configurations rejected */
	time_t last_reload_time;             /* 0: never */
	bool last_reload_ok;
	/* siblings.srv's watcher (origin_srv.h), or NULL (main thread only) */
	struct origin_srv *srv_watch;
};

struct edge_worker {
	unsigned magic; /* EDGE_WORKER_MAGIC */
	unsigned id;
	struct edge_server *srv;
	struct edge_gen *gen;                 /* current generation (the worker holds it) */
	_Atomic(struct edge_reload *) reload; /* set by the main thread */
	int reload_fd;                        /* eventfd the main thread writes to */
	struct event *reload_ev;              /* reads reload_fd */
	struct config *boot; /* one reference: the start-up snapshot, whose listens[i]
	                        listeners[i] serves (listeners need a restart) */
	struct event_base *base;
	pthread_t thread;
	struct evconnlistener **listeners;
	size_t n_listeners;
	struct event *accept_timer; /* ends a pause of the listeners (EMFILE) */
	bool accept_paused;         /* listeners disabled until accept_timer */
	struct origin_dns *dns;
	struct edge_route_md *route_md;  /* regex match data for routes and rewrites */
	int drain_fd;                    /* eventfd the main thread writes to */
	struct event *drain_ev;          /* reads drain_fd */
	int fill_fd;                     /* eventfd: a fill this worker reads changed */
	struct event *fill_ev;           /* reads fill_fd */
	_Atomic bool fill_kick;          /* fill_fd written and not yet read */
	struct edge_req *cf_readers;     /* requests reading fills (edge_collapse.c) */
	struct edge_guard_pp *pp_waits;  /* sockets waiting for a PROXY header (edge_guard.c) */
	struct edge_purge_box purge_box; /* PURGEs of its connections answered */
	bool thread_started;
	_Atomic bool finished;     /* the loop has ended */
	struct event *drain_timer; /* hard stop after timeouts.drain */
	bool draining;
	struct edge_conn *conns; /* all live connections (list) */
	unsigned n_conns;
	time_t date_at; /* second the cached Date header is for */
	char date[TIME_HTTP_DATE_LEN + 1];
	struct edge_metrics metrics;
	/* request ids (edge_conn_request_id): a random prefix and a sequence */
	uint64_t rid_seed;
	uint64_t rid_seq;
	/* BACKGROUND fetches in flight (edge_fetch.c): a hash set keyed by the
	 * URL key, bucket chains. */
	struct edge_fetch *bg_fetch[EDGE_FETCH_BG_BUCKETS];
	unsigned n_bg_fetch;
	/* NORMAL fetches that go on for their fill after their request let go
	 * (edge_fetch_detach): freed at shutdown. */
	struct edge_fetch *fetches;
	/* TLS handshakes in progress per client address (limits.handshakes_per_ip):
	 * entries exist only while their count is above zero. */
	struct edge_hs_ip *hs_ip[EDGE_HS_BUCKETS];
	/* Scratch space for the head being parsed and the key being built;
	 * what must outlive the call is copied to the connection. */
	struct h1_header hdr_scratch[H1_MAX_HEADERS];
	char key_scratch[CACHE_KEY_MAX];
};

/*
 * Creates worker id with the already bound listening sockets fds[0..n_fds)
 * (takes ownership of them).  Returns NULL with a logged reason on failure.
 * Main thread.
 */
struct edge_worker *edge_worker_new(
    struct edge_server *srv, unsigned id, const int *fds, size_t n_fds);
/* Starts the worker's thread; 0 or -errno. */
int edge_worker_start(struct edge_worker *w);
/* Hands the worker a new configuration (takes a reference of cfg, tls and
 * health; tls may be NULL); the worker switches to it on its loop.  A
 * reload not yet picked up is replaced.  Main thread. */
void edge_worker_reload(
    struct edge_worker *w, struct config *cfg, struct edge_tls *tls, struct origin_health *health);
/* Asks the worker to drain: close its listeners, finish requests in flight,
 * close idle connections, then leave its loop.  Any thread. */
void edge_worker_drain(struct edge_worker *w);
/* True once the worker's loop has ended.  Any thread. */
bool edge_worker_finished(struct edge_worker *w);
/* Waits for the thread to end (so that, once every worker is joined, freeing
 * one cannot race with another's fill notifications).  Main thread. */
void edge_worker_join(struct edge_worker *w);
/* Waits for the thread to end and frees everything.  Main thread. */
void edge_worker_join_free(struct edge_worker **wp);

/* cache_fill_notify_cb of the server's fill table (arg: the edge_server):
 * wakes the workers whose id % 64 is bit, once per burst.  Any thread. */
void edge_worker_fill_notify(void *arg, unsigned bit);

/* The worker's cached IMF-fixdate for now (refreshed once per second). */
const char *edge_worker_date(struct edge_worker *w);
/* Moves *gp (a held generation, or NULL) to the worker's current one and
 * returns it.  Worker thread. */
struct edge_gen *edge_gen_current(struct edge_worker *w, struct edge_gen **gp);
/* Another holder of g; returns g.  Worker thread. */
struct edge_gen *edge_gen_hold(struct edge_gen *g);
/* Lets go of *gp (NULLs it, NULL-safe); frees an old generation with its
 * last holder.  Worker thread. */
void edge_gen_release(struct edge_worker *w, struct edge_gen **gp);

/* Counts a TLS handshake from sa's address: true (with *slot to give back
 * to edge_worker_handshake_end), or false when that address already has
 * limits.handshakes_per_ip handshakes in progress on this worker.  With no
 * limit configured: true and *slot NULL.  Worker thread. */
bool edge_worker_handshake_begin(
    struct edge_worker *w, const struct sockaddr *sa, struct edge_hs_ip **slot);
/* Ends the handshake *slot counts; NULLs *slot, NULL-safe.  Worker thread. */
void edge_worker_handshake_end(struct edge_worker *w, struct edge_hs_ip **slot);

/*
 * Connections per client address across all workers, without a lock: a
 * count-min sketch of atomic counters.  An address (IPv4, or the /64 of an
 * IPv6 address: one subscriber's network) is hashed with XXH3 under a
 * secret drawn at start, so clients cannot choose which counters they share;
 * each address counts in two of EDGE_IP_SLOTS counters and its estimate is
 * the smaller.  The estimate is never below the true count, and is above it
 * only when both counters are shared with other busy addresses.
 */
#define EDGE_IP_SLOTS 65536u /* a power of two; 4 bytes each */
#define EDGE_IP_NONE  UINT32_MAX

struct edge_ip_counts *edge_ip_counts_new(void);
void edge_ip_counts_free(struct edge_ip_counts **tp); /* NULLs *tp; NULL-safe */
/* Counts a connection from sa: true with its two counters in slot[] (to
 * give back with edge_ip_leave), or false, counting nothing, when the
 * address already has limit connections (limit 0: no limit).  Any thread. */
bool edge_ip_enter(
    struct edge_ip_counts *t, const struct sockaddr *sa, unsigned limit, uint32_t slot[2]);
/* The same for a parsed address (a request's client, edge_guard_client). */
struct policy_addr;
bool edge_ip_enter_addr(
    struct edge_ip_counts *t, const struct policy_addr *a, unsigned limit, uint32_t slot[2]);
/* Gives back what edge_ip_enter counted in slot[] and sets slot[0] to
 * EDGE_IP_NONE; nothing when it already is.  Any thread. */
void edge_ip_leave(struct edge_ip_counts *t, uint32_t slot[2]);

/* Called by a connection when it goes away; ends the loop when draining and
 * nothing is left. */
void edge_worker_conn_gone(struct edge_worker *w);

#endif
