/*
 * edge/edge_purge.h — the purge API of the admin listener (POST /purge,
 * GET /purge/<id>), the purge log and the ban remover's start and stop.
 */
#ifndef OUTPOST_EDGE_EDGE_PURGE_H
#define OUTPOST_EDGE_EDGE_PURGE_H

#include <stdbool.h>

struct evhttp_request;
struct edge_server;

/* Opens the purge log (beside the disk tier), restores the bans it still
 * holds and starts the remover: before any worker serves.  0, or -1
 * (logged).  Main thread. */
int edge_purge_start(struct edge_server *srv);
/* Stops the remover and closes the log: after the workers, before the disk
 * tier closes.  Main thread. */
void edge_purge_stop(void);
/* Reopens the audit log (SIGUSR1).  Main thread. */
void edge_purge_reopen(void);
/* Answers req when its path is /purge or /purge/<id>: true; else false.
 * Main thread (the admin listener). */
bool edge_purge_handle(struct evhttp_request *req, struct edge_server *srv);

#endif
