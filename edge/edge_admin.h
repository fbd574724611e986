/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_admin.h — the admin listener: /healthz, /metrics (Prometheus text
 * format), /status, and the purge API (edge_purge.h).  Runs on the main
 * thread's event loop with the server of edge_admin_http.h (never on the
 * request hot path).
 */
#ifndef OUTPOST_EDGE_EDGE_ADMIN_H
#define OUTPOST_EDGE_EDGE_ADMIN_H

#include <stdint.h>

struct event_base;
struct admin_http;
struct edge_server;
struct config_listen;

/* What POST /reload and POST /drain do (edge_main.c); arg is theirs. */
struct edge_admin_ops {
	/* Reloads the configuration file: 0 when the new one is in service,
	 * -1 when it was rejected (the running one stays); *errors: what the
	 * check reported, one "file:line:column: ..." a line (malloc'd), or
	 * NULL. */
	int (*reload)(void *arg, char **errors);
	/* Starts draining, as SIGTERM (once); announce_ms: how long /healthz
	 * answers 503 while the node still serves before the drain proper
	 * (timeouts.drain_announce when -1). */
	void (*drain)(void *arg, int64_t announce_ms);
};

/* The status page: one HTML document with its scripts and styles inline
 * (edge_admin_page.c). */
extern const char edge_admin_page[];

/* Binds the admin listener; NULL (logged) on failure.  ops (kept) and
 * ops_arg serve POST /reload and POST /drain.  Main thread. */
struct admin_http *edge_admin_start(struct event_base *base, struct edge_server *srv,
    const struct config_listen *l, const struct edge_admin_ops *ops, void *ops_arg);

/* Frees what the admin endpoints keep (after the listener is freed).  Main
 * thread. */
void edge_admin_stop(void);

#endif
