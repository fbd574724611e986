/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_io.c — see edge_io.h for the model.  The events are embedded
 * (event_assign), so a connection's I/O costs no allocation beyond its two
 * evbuffers.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "core/assert.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "edge/edge_io.h"

#define EDGE_IO_READ_SIZE     16384
#define EDGE_IO_TLS_RECORD    16384       /* one full TLS record of plaintext */
#define EDGE_IO_TLS_READ_MAX  (64 * 1024) /* per read event, for fairness */
#define EDGE_IO_TLS_LOG_PER_S 10          /* TLS error lines per second per thread */

static void io_tls_on_readable(struct edge_io *io);
static void io_tls_on_writable(struct edge_io *io);
static int io_tls_flush(struct edge_io *io);

/* n bytes of output were written: the minimum rate's count; the wait ends
 * when nothing is left. */
static void
io_sent(struct edge_io *io, size_t n)
{
	if (io->min_rate == 0)
		return;
	io->wait_bytes += n;
	if (evbuffer_get_length(io->out) == 0)
		io->wait_start_ms = 0;
}

/* Arms the write event for output that waits for the peer: the send timeout,
 * or less when the minimum rate's deadline for this wait comes first. */
static void
io_write_arm(struct edge_io *io)
{
	uint64_t now, deadline;

	if (io->min_rate == 0 || evbuffer_get_length(io->out) == 0) {
		io->wait_start_ms = 0; /* (a TLS handshake's write) */
		event_add(&io->wev, &io->write_timeout);
		return;
	}
	now = time_mono_ms();
	if (io->wait_start_ms == 0) {
		io->wait_start_ms = now;
		io->wait_bytes = 0;
	}
	deadline = io->wait_start_ms + io->write_timeout_ms + io->wait_bytes * 1000 / io->min_rate;
	if (deadline >= now + io->write_timeout_ms) {
		event_add(&io->wev, &io->write_timeout);
	} else {
		struct timeval tv = time_ms_to_tv(deadline > now ? deadline - now : 0);

		event_add(&io->wev, &tv);
	}
}

static void
io_on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct edge_io *io = arg;
	struct evbuffer_iovec v[2];
	struct iovec iov[2];
	int nv;
	ssize_t n;

	(void)what;
	if (io->ssl != NULL) {
		io_tls_on_readable(io);
		return;
	}
	nv = evbuffer_reserve_space(io->in, EDGE_IO_READ_SIZE, v, 2);
	if (nv <= 0) {
		io->err = ENOMEM;
		io->on_event(io->arg, EDGE_IO_ERROR);
		return;
	}
	for (int i = 0; i < nv; i++) {
		iov[i].iov_base = v[i].iov_base;
		iov[i].iov_len = v[i].iov_len;
	}
	n = nv == 1 ? read(fd, iov[0].iov_base, iov[0].iov_len) : readv(fd, iov, nv);
	if (n > 0) {
		size_t left = (size_t)n;

		for (int i = 0; i < nv; i++) {
			size_t take = left < v[i].iov_len ? left : v[i].iov_len;

			v[i].iov_len = take;
			left -= take;
		}
		evbuffer_commit_space(io->in, v, nv);
		io->on_read(io->arg);
		return;
	}
	evbuffer_commit_space(io->in, v, 0);
	if (n == 0) {
		edge_io_read_disable(io);
		io->on_event(io->arg, EDGE_IO_EOF);
		return;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return;
	io->err = errno;
	edge_io_read_disable(io);
	io->on_event(io->arg, EDGE_IO_ERROR);
}

/*
 * One evbuffer_write on a plain socket writes memory up to the next file
 * segment or one segment by sendfile(2), never both: while the output holds
 * a file segment (edge_io_add_file), write again after full progress, so a
 * head and the body after it go in one turn of the loop.
 */
static int
io_write_plain(struct edge_io *io)
{
	int n = evbuffer_write(io->out, io->fd), more;

	while (n > 0 && io->files) {
		if (evbuffer_get_length(io->out) == 0) {
			io->files = false;
			break;
		}
		more = evbuffer_write(io->out, io->fd);
		if (more <= 0)
			break;
		n += more;
	}
	return n;
}

bool
edge_io_add_file(struct edge_io *io, int fd, off_t off, size_t len,
    evbuffer_file_segment_cleanup_cb done, void *arg)
{
	struct evbuffer_file_segment *seg;

	if (io->ssl != NULL || len == 0 || len > INT64_MAX)
		return false;
	/* one segment per use: only this thread touches it, no lock */
	seg = evbuffer_file_segment_new(
	    fd, (ev_off_t)off, (ev_off_t)len, EVBUF_FS_DISABLE_MMAP | EVBUF_FS_DISABLE_LOCKING);
	if (seg == NULL)
		return false;
	if (evbuffer_add_file_segment(io->out, seg, 0, (ev_off_t)len) != 0) {
		evbuffer_file_segment_free(seg);
		return false;
	}
	evbuffer_file_segment_add_cleanup_cb(seg, done, arg); /* runs once sent or dropped */
	evbuffer_file_segment_free(seg);                      /* the output holds it now */
	io->files = true;
	return true;
}

static void
io_on_writable(evutil_socket_t fd, short what, void *arg)
{
	struct edge_io *io = arg;
	int n;

	(void)fd;
	if (what & EV_TIMEOUT) {
		/* The close resets the connection: what the kernel still holds
		 * for this peer is dropped, not trickled out after the close to a
		 * reader that outstayed its time (nginx's
		 * reset_timedout_connection); no close_notify either. */
		struct linger lg = {.l_onoff = 1, .l_linger = 0};

		(void)setsockopt(io->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
		io->err = ETIMEDOUT;
		io->write_armed = false;
		io->on_event(io->arg, EDGE_IO_TIMEOUT);
		return;
	}
	if (io->ssl != NULL) {
		io_tls_on_writable(io);
		return;
	}
	n = io_write_plain(io);
	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
		io->err = errno;
		event_del(&io->wev);
		io->write_armed = false;
		io->on_event(io->arg, EDGE_IO_ERROR);
		return;
	}
	if (n > 0)
		io_sent(io, (size_t)n);
	if (evbuffer_get_length(io->out) == 0) {
		event_del(&io->wev);
		io->write_armed = false;
	} else if (n > 0) {
		/* progress: restart the send timeout */
		io_write_arm(io);
	}
	if (evbuffer_get_length(io->out) <= io->lowmark)
		io->on_write(io->arg);
}

void
edge_io_want_write(struct edge_io *io)
{
	if (io->write_armed)
		return;
	io_write_arm(io);
	io->write_armed = true;
}

int
edge_io_init(struct edge_io *io, struct event_base *base, int fd, unsigned write_timeout_ms,
    edge_io_cb *on_read, edge_io_cb *on_write, edge_io_event_cb *on_event, void *arg)
{
	io->fd = fd;
	io->files = false;
	io->in = evbuffer_new();
	io->out = evbuffer_new();
	if (io->in == NULL || io->out == NULL) {
		if (io->in != NULL)
			evbuffer_free(io->in);
		if (io->out != NULL)
			evbuffer_free(io->out);
		return -1;
	}
	io->read_on = false;
	io->write_armed = false;
	io->err = 0;
	io->lowmark = 0;
	io->write_timeout = time_ms_to_tv(write_timeout_ms);
	io->write_timeout_ms = write_timeout_ms;
	io->min_rate = 0;
	io->wait_start_ms = 0;
	io->wait_bytes = 0;
	io->on_read = on_read;
	io->on_write = on_write;
	io->on_event = on_event;
	io->arg = arg;
	io->ssl = NULL;
	io->tls_ready = false;
	io->tls_read_wants_write = false;
	io->tls_write_wants_read = false;
	io->tls_wlen = 0;
	event_assign(&io->rev, base, fd, EV_READ | EV_PERSIST, io_on_readable, io);
	event_assign(&io->wev, base, fd, EV_WRITE | EV_PERSIST, io_on_writable, io);
	return 0;
}

void
edge_io_close(struct edge_io *io)
{
	event_del(&io->rev);
	event_del(&io->wev);
	if (io->ssl != NULL) {
		/* best effort close_notify, unless the connection failed */
		if (io->tls_ready && io->err == 0 &&
		    (SSL_get_shutdown(io->ssl) & SSL_SENT_SHUTDOWN) == 0)
			(void)SSL_shutdown(io->ssl);
		SSL_free(io->ssl);
		ERR_clear_error();
		io->ssl = NULL;
	}
	evbuffer_free(io->in);
	evbuffer_free(io->out);
	close(io->fd);
	io->fd = -1;
}

void
edge_io_shutdown_write(struct edge_io *io)
{
	if (io->ssl != NULL && io->tls_ready) {
		(void)SSL_shutdown(io->ssl); /* sends close_notify if the socket takes it */
		ERR_clear_error();
	}
	(void)shutdown(io->fd, SHUT_WR);
}

void
edge_io_read_enable(struct edge_io *io)
{
	if (io->read_on)
		return;
	io->read_on = true;
	event_add(&io->rev, NULL);
	/* Bytes SSL decrypted already wake no poll: deliver them now. */
	if (io->ssl != NULL && SSL_has_pending(io->ssl))
		event_active(&io->rev, EV_READ, 1);
}

void
edge_io_read_disable(struct edge_io *io)
{
	if (!io->read_on)
		return;
	io->read_on = false;
	event_del(&io->rev);
}

int
edge_io_flush(struct edge_io *io)
{
	int n;

	if (io->write_armed || evbuffer_get_length(io->out) == 0)
		return 0;
	if (io->ssl != NULL)
		return io_tls_flush(io);
	n = io_write_plain(io);
	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
		io->err = errno;
		return -1;
	}
	if (n > 0)
		io_sent(io, (size_t)n);
	if (evbuffer_get_length(io->out) > 0) {
		io->write_armed = true;
		io_write_arm(io);
	}
	return 0;
}

/* ---- TLS mode ---- */

/* Small output chunks are gathered here so one SSL_write makes one record
 * (and one write(2)) instead of one per chunk. */
static _Thread_local unsigned char io_tls_wbuf[EDGE_IO_TLS_RECORD];

void
edge_io_start_tls(struct edge_io *io, SSL *ssl)
{
	ASSERT(io->ssl == NULL);
	io->ssl = ssl;
	io->tls_ready = false;
	io->tls_read_wants_write = false;
	io->tls_write_wants_read = false;
	io->tls_wlen = 0;
}

static void
io_tls_arm(struct edge_io *io)
{
	if (io->write_armed)
		return;
	io->write_armed = true;
	io_write_arm(io);
}

/* Output left and SSL waits for the socket (not for the peer): arm. */
static void
io_tls_arm_pending(struct edge_io *io)
{
	if (evbuffer_get_length(io->out) > 0 && !io->tls_write_wants_read)
		io_tls_arm(io);
}

/* At most EDGE_IO_TLS_LOG_PER_S TLS error lines per second per thread; the
 * number left out is logged with the next second's first line. */
static bool
io_tls_log_allowed(void)
{
	static _Thread_local uint64_t second;
	static _Thread_local unsigned logged, dropped;
	uint64_t now = time_mono_ms() / 1000;

	if (now != second) {
		if (dropped > 0)
			log_debug("tls", "%u TLS errors not logged (at most %d per second)",
			    dropped, EDGE_IO_TLS_LOG_PER_S);
		second = now;
		logged = 0;
		dropped = 0;
	}
	if (logged < EDGE_IO_TLS_LOG_PER_S) {
		logged++;
		return true;
	}
	dropped++;
	return false;
}

/*
 * Classifies a failed SSL call.  Returns 0 when it only has to wait (the
 * event that resumes it is arranged), or -EDGE_IO_EOF / -EDGE_IO_ERROR.
 * TLS problems are the client's and logged at debug level only, rate-limited.
 */
static int
io_tls_fail(struct edge_io *io, int r, bool reading)
{
	int e = SSL_get_error(io->ssl, r);
	int saved = errno;
	char buf[160];

	switch (e) {
	case SSL_ERROR_WANT_READ:
		if (!reading)
			io->tls_write_wants_read = true;
		return 0;
	case SSL_ERROR_WANT_WRITE:
		if (reading) {
			io->tls_read_wants_write = true;
			io_tls_arm(io);
		}
		return 0;
	case SSL_ERROR_ZERO_RETURN:
		return -EDGE_IO_EOF;
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error() == 0 &&
		    (saved == EAGAIN || saved == EWOULDBLOCK || saved == EINTR))
			return 0;
		io->err = saved != 0 ? saved : EPIPE;
		break;
	default:
		io->err = EPROTO;
		break;
	}
	if (io_tls_log_allowed()) {
		ERR_error_string_n(ERR_peek_error(), buf, sizeof buf);
		log_debug("tls", "%s: %s", io->tls_ready ? "connection" : "handshake",
		    ERR_peek_error() != 0 ? buf : strerror(io->err));
	}
	ERR_clear_error();
	return -EDGE_IO_ERROR;
}

/*
 * Runs the handshake, then SSL_read into reserved input space until SSL
 * would block.  Returns the bytes added to io->in, or -EDGE_IO_EOF /
 * -EDGE_IO_ERROR when nothing was added.  A failure after some data leaves
 * the read event active, so the next round reports it.
 */
static ssize_t
io_tls_read(struct edge_io *io)
{
	size_t total = 0;
	int r;

	if (!io->tls_ready) {
		r = SSL_do_handshake(io->ssl);
		if (r != 1)
			return io_tls_fail(io, r, true);
		io->tls_ready = true;
		io_tls_arm_pending(io);
		if (io->on_tls_ready != NULL)
			io->on_tls_ready(io->arg);
	}
	/* read_ahead is on: SSL reads what the socket holds in one read(2); once
	 * a short SSL_read leaves nothing buffered, the socket is (nearly
	 * certainly) empty and the level-triggered event reports the rest. */
	while (total < EDGE_IO_TLS_READ_MAX || SSL_has_pending(io->ssl)) {
		struct evbuffer_iovec v;
		size_t n = 0;

		if (evbuffer_reserve_space(io->in, EDGE_IO_READ_SIZE, &v, 1) != 1) {
			io->err = ENOMEM;
			return total > 0 ? (ssize_t)total : -EDGE_IO_ERROR;
		}
		size_t cap = v.iov_len;

		r = SSL_read_ex(io->ssl, v.iov_base, cap, &n);
		v.iov_len = r == 1 ? n : 0;
		evbuffer_commit_space(io->in, &v, 1);
		if (r == 1) {
			total += n;
			if (n < cap && !SSL_has_pending(io->ssl))
				break;
			continue;
		}
		r = io_tls_fail(io, r, true);
		if (r == 0 || total == 0)
			return r < 0 ? r : (ssize_t)total;
		if (io->read_on)
			event_active(&io->rev, EV_READ, 1);
		break;
	}
	return (ssize_t)total;
}

/*
 * SSL_write of the output until it is empty or SSL would block.  A write to
 * repeat gets the same leading bytes and at least the same length (the
 * leading chunk never changes; a gathered copy only grows).  0 or -1.
 */
static int
io_tls_write(struct edge_io *io, bool *progress)
{
	size_t len;

	while ((len = evbuffer_get_length(io->out)) > 0) {
		size_t want = len < EDGE_IO_TLS_RECORD ? len : EDGE_IO_TLS_RECORD;
		struct evbuffer_iovec v;
		const void *p;
		size_t n = 0;
		int r;

		if (evbuffer_peek(io->out, -1, NULL, &v, 1) < 1)
			return 0;
		if (v.iov_len >= want) {
			p = v.iov_base;
			want = v.iov_len;
		} else {
			evbuffer_copyout(io->out, io_tls_wbuf, want);
			p = io_tls_wbuf;
		}
		r = SSL_write_ex(io->ssl, p, want, &n);
		if (r == 1) {
			evbuffer_drain(io->out, n);
			io_sent(io, n);
			io->tls_wlen = 0;
			*progress = true;
			continue;
		}
		io->tls_wlen = want;
		if (io_tls_fail(io, r, false) < 0)
			return -1;
		return 0;
	}
	return 0;
}

static int
io_tls_flush(struct edge_io *io)
{
	bool progress = false;

	if (!io->tls_ready || io->tls_write_wants_read)
		return 0; /* the handshake, resp. the read path, writes later */
	if (io_tls_write(io, &progress) != 0)
		return -1;
	io_tls_arm_pending(io);
	return 0;
}

static void
io_tls_on_readable(struct edge_io *io)
{
	ssize_t got;

	if (io->tls_write_wants_read) {
		bool progress = false;

		io->tls_write_wants_read = false;
		if (io_tls_write(io, &progress) != 0) {
			edge_io_read_disable(io);
			io->on_event(io->arg, EDGE_IO_ERROR);
			return;
		}
		io_tls_arm_pending(io);
	}
	got = io_tls_read(io);
	if (got > 0) {
		io->on_read(io->arg);
		return;
	}
	if (got == 0)
		return;
	edge_io_read_disable(io);
	io->on_event(io->arg, (int)-got);
}

static void
io_tls_on_writable(struct edge_io *io)
{
	bool progress = false;
	ssize_t got = 0;

	event_del(&io->wev);
	io->write_armed = false;
	if (!io->tls_ready || io->tls_read_wants_write) {
		io->tls_read_wants_write = false;
		got = io_tls_read(io);
	}
	if (got >= 0 && io->tls_ready && !io->tls_write_wants_read &&
	    io_tls_write(io, &progress) != 0)
		got = -EDGE_IO_ERROR;
	if (got < 0) {
		event_del(&io->wev);
		io->write_armed = false;
		edge_io_read_disable(io);
		io->on_event(io->arg, (int)-got);
		return;
	}
	io_tls_arm_pending(io);
	if (got > 0) {
		io->on_read(io->arg);
		return;
	}
	if (progress && evbuffer_get_length(io->out) <= io->lowmark)
		io->on_write(io->arg);
}
