/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_admin.h — the admin listener: /healthz, /metrics (Prometheus text
 * format), /status, and the purge API (edge_purge.h).  Runs on the main
 * thread's event loop with the server of edge_admin_http.h (never on the
 * request hot path).
 */
#ifndef OUTPOST_EDGE_EDGE_ADMIN_H
#define OUTPOST_EDGE_EDGE_ADMIN_H

struct event_base;
struct admin_http;
struct edge_server;
struct config_listen;

/* Binds the admin listener; NULL (logged) on failure.  Main thread. */
struct admin_http *edge_admin_start(
    struct event_base *base, struct edge_server *srv, const struct config_listen *l);

#endif
