/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_accesslog.h — the access log: one line per response, JSON (the
 * fields of log.fields) or the combined format, to a file and/or a syslog
 * socket.
 *
 * A worker formats its line on the stack and appends it to a ring of its
 * own (log.buffer bytes; one producer, one consumer, no lock); a writer
 * thread empties the rings every 100 ms, or sooner when one is half full,
 * with write(2) on the file and one datagram per line on the syslog socket.
 * When a ring has no room the line is dropped and counted
 * (outpost_access_log_dropped_total): a slow disk never blocks a worker.
 * SIGUSR1 reopens the file by dup2() onto the same descriptor number, which
 * is atomic for the writer; edge_accesslog_stop flushes everything.
 */
#ifndef OUTPOST_EDGE_EDGE_ACCESSLOG_H
#define OUTPOST_EDGE_EDGE_ACCESSLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/str.h"
#include "edge/edge_metrics.h"

struct edge_worker;
struct log_conf;
struct edge_alog;

/*
 * What the access log and the labelled metrics know of one response, filled
 * by one function of the request's owner (edge_conn.c conn_logrec) from its
 * state at the end of the response.  Views and names stay valid for the
 * call only; NULL or empty: not known.
 */
struct edge_logrec {
	const char *client; /* peer address */
	struct str method;
	struct str host;               /* lower-cased */
	struct str path;               /* path and query, as received */
	int status;                    /* 0 when nothing was sent */
	uint64_t bytes;                /* response bytes queued */
	const char *cache;             /* X-Cache value: "HIT", "MISS", "PASS", "-", ... */
	enum edge_cache_result result; /* the metrics' cache label */
	unsigned site_slot;            /* the metrics' site slot */
	uint64_t duration_us;          /* request head to last byte queued */
	const char *tier;              /* "ram" or "disk" for a stored answer, or NULL */
	const char *site;              /* names, or NULL */
	const char *route;             /* the route's path or pattern */
	const char *pool;
	const char *tls; /* TLS version ("TLSv1.3"), or NULL */
	int minor;       /* HTTP/1.minor */
	bool h2;         /* HTTP/2 (minor is 1) */
	struct str user_agent;
	struct str referer;
	struct str request_id;
	const char *upstream_host; /* the origin member that answered, or NULL */
	unsigned upstream_port;
	uint64_t upstream_us; /* its first-byte time */
};

/* Opens path for appending; the fd, or -1 (logged). */
int edge_accesslog_open(const char *path);
/* Reopens path onto fd (after rotation); 0 or -1 (logged, old file kept). */
int edge_accesslog_reopen(int fd, const char *path);
/* The writer of n_workers rings of buffer_bytes each (a power of two) for
 * the settings lc, writing to fd (-1: none; not owned) and to lc's syslog
 * socket (connected here, again after a failure); starts its thread.  NULL
 * (logged) when the thread cannot start.  Main thread. */
struct edge_alog *edge_accesslog_start(
    const struct log_conf *lc, int fd, unsigned n_workers, size_t buffer_bytes);
/* Flushes every ring, stops the thread and frees *ap (NULLs it, NULL-safe);
 * after the workers have stopped.  Main thread. */
void edge_accesslog_stop(struct edge_alog **ap);
/* Counts the response in w's metrics and queues its line (when the node has
 * an access log).  Worker thread. */
void edge_accesslog_write(struct edge_worker *w, const struct edge_logrec *lr);
/* Formats lr's line (with its newline) into out[0..cap), cut to fit; its
 * length.  Any thread. */
size_t edge_accesslog_format(const struct log_conf *lc, unsigned worker,
    const struct edge_logrec *lr, char *out, size_t cap);

#endif
