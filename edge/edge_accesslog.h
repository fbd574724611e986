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

struct edge_conn;

/* Opens path for appending; the fd, or -1 (logged). */
int edge_accesslog_open(const char *path);
/* Reopens path onto fd (after rotation); 0 or -1 (logged, old file kept). */
int edge_accesslog_reopen(int fd, const char *path);
/* Writes the line for c's current request.  Worker thread. */
void edge_accesslog_write(struct edge_conn *c);

#endif
