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
struct edge_req;
struct event;
struct event_base;
struct edge_purge_job;
struct admin_req;
struct edge_server;

/* Where the purge thread leaves the answers of one loop's purge requests:
 * the main loop's (admin listener) or a worker's.  The list is under the
 * purge module's lock; the eventfd wakes the loop. */
struct edge_purge_box {
	int fd;
	struct event *ev;
	struct edge_purge_job *done; /* answered, not yet sent */
};

/* Sets b up on base (the loop of its thread): 0, or -1 (logged).  Any
 * thread, before base runs. */
int edge_purge_box_init(struct edge_purge_box *b, struct event_base *base);
/* Frees what b holds (its loop has ended); NULL-safe fields.  */
void edge_purge_box_fini(struct edge_purge_box *b);

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
/* The admin listener's handlers (arg: the edge_server): POST /purge,
 * GET /purge/<id>, and the PURGE method on any target.  Main thread. */
void edge_purge_post(struct admin_req *req, void *arg);
void edge_purge_get(struct admin_req *req, void *arg);
void edge_purge_method(struct admin_req *req, void *arg);
/* The PURGE method on a client listener: when req is a PURGE from an
 * address of purge.client_listeners, takes it (true): the purge thread
 * carries it out and makes it durable while the worker's loop goes on, and
 * the worker answers it then (the purge API's JSON reply; its connection
 * waits in EDGE_SESS_PURGE, reading nothing more).  Else false, and the
 * request goes on as any other.  The worker's thread. */
bool edge_purge_request(struct edge_req *req);
/* req goes away while its PURGE is carried out: its answer is dropped.  The
 * worker's thread. */
void edge_purge_request_gone(struct edge_req *req);

#endif
