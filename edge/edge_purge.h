/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_purge.h — the purge API of the admin listener (POST /purge,
 * GET /purge/<id>), the purge log and the ban remover's start and stop.
 */
#ifndef OUTPOST_EDGE_EDGE_PURGE_H
#define OUTPOST_EDGE_EDGE_PURGE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/str.h"

struct evbuffer;
struct edge_conn;
struct event_base;
struct evhttp_request;
struct edge_server;

/* Opens the purge log (beside the disk tier), restores the bans it still
 * holds, joins the fleet bus (fleet.nats) and catches up on it (at most
 * fleet.catchup_timeout), and starts the remover: before any worker serves.
 * base: the main loop (the admin listener's).  0, or -1 (logged).  Main
 * thread. */
int edge_purge_start(struct edge_server *srv, struct event_base *base);
/* Leaves the fleet, stops the remover and closes the log: after the workers
 * and the admin listener, before the main loop and the disk tier are freed.
 * Main thread. */
void edge_purge_stop(void);
/* The purge counters and gauges for /metrics.  Main thread. */
void edge_purge_metrics(struct evbuffer *b);
/* Reopens the audit log (SIGUSR1).  Main thread. */
void edge_purge_reopen(void);
/* The audit log's descriptor, or -1 when there is none.  Main thread. */
int edge_purge_audit_fd(void);
/* Answers req when its path is /purge or /purge/<id>: true; else false.
 * Main thread (the admin listener). */
bool edge_purge_handle(struct evhttp_request *req, struct edge_server *srv);
/* The PURGE method on a client listener: when c's request is a PURGE from an
 * address of purge.client_listeners, answers it (the purge API's JSON
 * reply) and returns true; else false, and the request goes on as any
 * other.  The worker's thread. */
bool edge_purge_conn(struct edge_conn *c);

#endif
