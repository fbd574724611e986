/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_spool.h — a request body held whole before it goes to the origin
 * (routes[].request_buffering): in memory up to a limit, past it in a
 * temporary file that is unlinked as soon as it is created (O_TMPFILE, else
 * mkstemp and unlink), so nothing is left behind by a crash and no name can
 * be reached by others.  The bytes stay until the spool is reset, so a body
 * can be sent again.  Worker thread; one spool per client connection.
 *
 * The file is on local disk: its writes and reads are small (what one read
 * of the client socket brought, and at most EDGE_SPOOL_READ bytes per call)
 * and go to the page cache, so they are made on the event loop like the
 * socket calls around them; no fsync is ever asked.
 */
#ifndef OUTPOST_EDGE_EDGE_SPOOL_H
#define OUTPOST_EDGE_EDGE_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;

#define EDGE_SPOOL_READ (64 * 1024) /* bytes read back from the file per call */

/* A zeroed struct is an empty spool. */
struct edge_spool {
	struct evbuffer *mem; /* the body while it fits in memory, or NULL */
	bool file;            /* past it: the body is in the file fd */
	int fd;               /* the unlinked temporary file, when file */
	uint64_t len;         /* bytes held */
};

/* Moves n bytes from the front of from into s.  While s holds no more than
 * mem_max bytes they stay in memory; the first add that would pass mem_max
 * creates a temporary file in dir, writes what memory held to it, and every
 * byte after goes there too.  0, or -errno (the file could not be made or
 * written: ENOSPC, EMFILE, ...; the body is then lost: reset s). */
int edge_spool_add(
    struct edge_spool *s, struct evbuffer *from, size_t n, uint64_t mem_max, const char *dir);
/* Appends to out up to max bytes of s starting at *off (at most
 * EDGE_SPOOL_READ per call from the file) and advances *off.  0, or -errno
 * when the file cannot be read. */
int edge_spool_copy(const struct edge_spool *s, uint64_t *off, struct evbuffer *out, size_t max);
/* The body went to a temporary file. */
bool edge_spool_on_disk(const struct edge_spool *s);
/* Frees the memory and closes the file (which the kernel then frees); s is
 * empty again.  Safe on an empty spool. */
void edge_spool_reset(struct edge_spool *s);

#endif
