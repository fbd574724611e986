/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_accesslog.h — one JSON object per line per request.
 *
 * Workers write each line with one write(2) to a shared O_APPEND descriptor,
 * so lines never interleave; SIGUSR1 reopens the file by dup2() onto the same
 * descriptor number, which is atomic for the writers.
 */
#ifndef OUTPOST_EDGE_EDGE_ACCESSLOG_H
#define OUTPOST_EDGE_EDGE_ACCESSLOG_H

#include <stdint.h>

#include "core/str.h"
#include "edge/edge_metrics.h"

struct edge_worker;

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
};

/* Opens path for appending; the fd, or -1 (logged). */
int edge_accesslog_open(const char *path);
/* Reopens path onto fd (after rotation); 0 or -1 (logged, old file kept). */
int edge_accesslog_reopen(int fd, const char *path);
/* Counts the response in w's metrics and writes its line.  Worker thread. */
void edge_accesslog_write(struct edge_worker *w, const struct edge_logrec *lr);

#endif
