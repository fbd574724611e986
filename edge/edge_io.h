/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_io.h — client socket I/O with as few system calls as a keep-alive
 * request allows.
 *
 * libevent's socket bufferevent re-arms the write event (epoll_ctl) for every
 * response and asks the kernel how much is readable (ioctl FIONREAD) before
 * every read; on a virtual machine each of those calls costs more than the
 * whole cache lookup.  edge_io keeps the read event armed (level-triggered)
 * for as long as reading is wanted, reads into reserved evbuffer space with
 * one readv(2), and writes the output with one writev(2) when the owner calls
 * edge_io_flush(); only a write that would block arms the write event.
 * A keep-alive hit thus costs one read and one write (plus a share of one
 * epoll_wait).  Single thread: the owner's worker.
 *
 * TLS mode (edge_io_start_tls): the same events drive a non-blocking SSL on
 * the fd.  The handshake runs on the first read events; reads go through
 * SSL_read into the same reserved space, writes through SSL_write of the
 * output's leading chunk (small chunks coalesced up to one 16 KiB record).
 * SSL may need the other direction (WANT_WRITE while reading, WANT_READ
 * while writing): the write event, resp. the read path, resumes it.  The
 * plain path only pays one predictable branch on io->ssl.
 */
#ifndef OUTPOST_EDGE_EDGE_IO_H
#define OUTPOST_EDGE_EDGE_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/event_struct.h>

struct evbuffer;
typedef struct ssl_st SSL;

enum edge_io_event {
	EDGE_IO_EOF = 1,     /* the peer closed its side (reading stops) */
	EDGE_IO_ERROR = 2,   /* read or write failed (errno saved in io->err) */
	EDGE_IO_TIMEOUT = 4, /* the peer did not take our output in time */
};

typedef void edge_io_cb(void *arg);
typedef void edge_io_event_cb(void *arg, int what);

struct edge_io {
	int fd;
	struct evbuffer *in;
	struct evbuffer *out;
	struct event rev;
	struct event wev;
	bool read_on;
	bool write_armed;
	int err;
	size_t lowmark; /* on_write runs when out drains to <= lowmark */
	struct timeval write_timeout;
	edge_io_cb *on_read;  /* new bytes in `in` */
	edge_io_cb *on_write; /* a blocked write made progress down to lowmark */
	edge_io_event_cb *on_event;
	edge_io_cb *on_tls_ready; /* optional: the handshake just completed */
	void *arg;

	/* limits.send_min_rate (0: off): output that waits for the peer must
	 * average min_rate bytes/s once write_timeout has passed since the wait
	 * began (edge_io_set_min_rate) */
	unsigned write_timeout_ms;
	uint64_t min_rate;
	uint64_t wait_start_ms; /* when the output began to wait; 0: it does not */
	uint64_t wait_bytes;    /* bytes written since */

	bool files; /* the output may hold a file segment (edge_io_add_file) */

	/* TLS mode; ssl is NULL on a plain connection */
	SSL *ssl;
	bool tls_ready;            /* handshake complete */
	bool tls_read_wants_write; /* SSL_read/handshake waits for writability */
	bool tls_write_wants_read; /* SSL_write waits for readability */
	size_t tls_wlen;           /* length of an SSL_write to repeat, or 0 */
};

/* Takes ownership of fd (made non-blocking by the caller).  0 or -1. */
int edge_io_init(struct edge_io *io, struct event_base *base, int fd, unsigned write_timeout_ms,
    edge_io_cb *on_read, edge_io_cb *on_write, edge_io_event_cb *on_event, void *arg);
/* Switches io to TLS over its fd (takes ownership of ssl, in accept state);
 * on_read runs only once the handshake is done and data arrived. */
void edge_io_start_tls(struct edge_io *io, SSL *ssl);
/* Closes the fd (after a best-effort close_notify on TLS), frees the buffers. */
void edge_io_close(struct edge_io *io);
/* Ends our sending side: close_notify (TLS, best effort), then shutdown(2). */
void edge_io_shutdown_write(struct edge_io *io);

void edge_io_read_enable(struct edge_io *io);
void edge_io_read_disable(struct edge_io *io);
static inline void
edge_io_set_lowmark(struct edge_io *io, size_t lowmark)
{
	io->lowmark = lowmark;
}

/*
 * A minimum send rate (limits.send_min_rate; 0: none): from the moment
 * output is left waiting for the peer until the output is empty again, the
 * bytes written must average bytes_per_s once the write timeout has passed
 * (each bytes_per_s bytes allow one second more, as limits.body_min_rate
 * does for request bodies).  A peer that reads slower gets EDGE_IO_TIMEOUT,
 * as one that stops reading does: a slow reader cannot hold a connection and
 * its response for as long as its trickle lasts.  The time the owner has
 * nothing to send (an origin's pause) does not count.
 */
static inline void
edge_io_set_min_rate(struct edge_io *io, uint64_t bytes_per_s)
{
	io->min_rate = bytes_per_s;
}

/*
 * Writes what `out` holds now.  Returns 0 when everything was written or the
 * rest waits for the socket (the write event is armed; on_write reports
 * progress), -1 on a write error (io->err set; the owner closes).
 */
int edge_io_flush(struct edge_io *io);
/* Arms the write event (if it is not): the output is written from the event
 * loop, and the write callback runs once it is at or below the low mark. */
void edge_io_want_write(struct edge_io *io);
/* Queues len bytes of the file fd from off on a plain connection's output,
 * for sendfile(2) to send from the page cache; done(seg, flags, arg) runs
 * once they are sent or dropped.  false (nothing queued, done not called)
 * on a TLS connection or when libevent cannot. */
bool edge_io_add_file(struct edge_io *io, int fd, off_t off, size_t len,
    evbuffer_file_segment_cleanup_cb done, void *arg);

#endif
