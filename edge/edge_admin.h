/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_admin.h — the admin listener: /healthz, /metrics (Prometheus text
 * format), /status.  Runs on the main thread's event loop with libevent's
 * evhttp (never on the request hot path).
 */
#ifndef OUTPOST_EDGE_EDGE_ADMIN_H
#define OUTPOST_EDGE_EDGE_ADMIN_H

struct event_base;
struct evhttp;
struct edge_server;
struct config_listen;

/* Binds the admin listener; NULL (logged) on failure.  Main thread. */
struct evhttp *edge_admin_start(
    struct event_base *base, struct edge_server *srv, const struct config_listen *l);

#endif
