/*
 * edge/edge_worker.h — the server and its worker threads.
 *
 * struct edge_server holds what all workers share: the config snapshot, the
 * RAM tier (internally sharded and locked per shard) and the access log fd.
 * Each worker thread owns an event_base, its own SO_REUSEPORT listening
 * sockets, its connections, its origin pool and its resolver; nothing a worker
 * owns is touched by another thread except its metrics (relaxed atomics) and
 * the drain trigger (an eventfd).
 */
#ifndef OUTPOST_EDGE_EDGE_WORKER_H
#define OUTPOST_EDGE_EDGE_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "core/timeutil.h"
#include "cache/cache.h"
#include "core/h1.h"
#include "edge/edge_bgrev.h"
#include "edge/edge_conn.h"
#include "edge/edge_metrics.h"

struct config;
struct cache_ram;
struct event;
struct event_base;
struct evconnlistener;
struct origin_pool;
struct origin_dns;
struct origin_health;
struct edge_conn;
struct edge_tls;
struct edge_bgrev;
struct edge_route_md;

struct edge_server {
	struct config *cfg;      /* one reference */
	struct cache_ram *ram;   /* NULL when cache.ram is 0 */
	struct cache_disk *disk; /* NULL without cache.disk */
	int access_log_fd;       /* -1 when no access log */
	struct edge_tls *tls;    /* TLS contexts; NULL without a TLS listener */
	struct edge_worker **workers;
	unsigned n_workers;
	struct origin_health *health; /* active health flags: made by worker 0
	                                 (which runs the probes), referenced by
	                                 every worker; valid while worker 0 lives */
	_Atomic bool draining;
	/* Fills in progress (request collapsing); NULL without a RAM tier. */
	struct cache_fill_table *fills;
};

struct edge_worker {
	unsigned magic; /* EDGE_WORKER_MAGIC */
	unsigned id;
	struct edge_server *srv;
	const struct config *cfg;
	struct event_base *base;
	pthread_t thread;
	struct evconnlistener **listeners;
	size_t n_listeners;
	struct origin_pool *opool;
	struct origin_dns *dns;
	struct origin_health *health;   /* one reference; worker 0 runs the probes */
	struct edge_route_md *route_md; /* regex match data for routes and rewrites */
	int drain_fd;                   /* eventfd the main thread writes to */
	struct event *drain_ev;         /* reads drain_fd */
	int fill_fd;                    /* eventfd: a fill this worker reads changed */
	struct event *fill_ev;          /* reads fill_fd */
	_Atomic bool fill_kick;         /* fill_fd written and not yet read */
	struct edge_conn *cf_readers;   /* connections reading fills (edge_collapse.c) */
	bool thread_started;
	_Atomic bool finished;     /* the loop has ended */
	struct event *drain_timer; /* hard stop after timeouts.drain */
	bool draining;
	struct edge_conn *conns; /* all live connections (list) */
	unsigned n_conns;
	time_t date_at; /* second the cached Date header is for */
	char date[TIME_HTTP_DATE_LEN + 1];
	struct edge_metrics metrics;
	/* Background revalidations in flight (edge_bgrev.c): a hash set of
	 * exchanges keyed by cache key, bucket chains. */
	struct edge_bgrev *bgrev[EDGE_BGREV_BUCKETS];
	unsigned n_bgrev;
	/* Scratch space for the head being parsed and the key being built;
	 * what must outlive the call is copied to the connection. */
	struct h1_header hdr_scratch[EDGE_MAX_HEADERS];
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
/* Called by a connection when it goes away; ends the loop when draining and
 * nothing is left. */
void edge_worker_conn_gone(struct edge_worker *w);

#endif
