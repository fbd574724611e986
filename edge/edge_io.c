/*
 * edge/edge_io.c — see edge_io.h for the model.  The events are embedded
 * (event_assign), so a connection's I/O costs no allocation beyond its two
 * evbuffers.
 */
#include "config.h"

#include <errno.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "core/assert.h"
#include "edge/edge_io.h"

#define EDGE_IO_READ_SIZE 16384

static void
io_on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct edge_io *io = arg;
	struct evbuffer_iovec v[2];
	struct iovec iov[2];
	int nv;
	ssize_t n;

	(void)what;
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

static void
io_on_writable(evutil_socket_t fd, short what, void *arg)
{
	struct edge_io *io = arg;
	int n;

	(void)fd;
	if (what & EV_TIMEOUT) {
		io->write_armed = false;
		io->on_event(io->arg, EDGE_IO_TIMEOUT);
		return;
	}
	n = evbuffer_write(io->out, io->fd);
	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
		io->err = errno;
		event_del(&io->wev);
		io->write_armed = false;
		io->on_event(io->arg, EDGE_IO_ERROR);
		return;
	}
	if (evbuffer_get_length(io->out) == 0) {
		event_del(&io->wev);
		io->write_armed = false;
	} else if (n > 0) {
		/* progress: restart the send timeout */
		event_add(&io->wev, &io->write_timeout);
	}
	if (evbuffer_get_length(io->out) <= io->lowmark)
		io->on_write(io->arg);
}

int
edge_io_init(struct edge_io *io, struct event_base *base, int fd, unsigned write_timeout_ms,
    edge_io_cb *on_read, edge_io_cb *on_write, edge_io_event_cb *on_event, void *arg)
{
	io->fd = fd;
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
	io->write_timeout.tv_sec = write_timeout_ms / 1000;
	io->write_timeout.tv_usec = (long)(write_timeout_ms % 1000) * 1000;
	io->on_read = on_read;
	io->on_write = on_write;
	io->on_event = on_event;
	io->arg = arg;
	event_assign(&io->rev, base, fd, EV_READ | EV_PERSIST, io_on_readable, io);
	event_assign(&io->wev, base, fd, EV_WRITE | EV_PERSIST, io_on_writable, io);
	return 0;
}

void
edge_io_close(struct edge_io *io)
{
	event_del(&io->rev);
	event_del(&io->wev);
	evbuffer_free(io->in);
	evbuffer_free(io->out);
	close(io->fd);
	io->fd = -1;
}

void
edge_io_read_enable(struct edge_io *io)
{
	if (io->read_on)
		return;
	io->read_on = true;
	event_add(&io->rev, NULL);
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
	n = evbuffer_write(io->out, io->fd);
	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
		io->err = errno;
		return -1;
	}
	if (evbuffer_get_length(io->out) > 0) {
		io->write_armed = true;
		event_add(&io->wev, &io->write_timeout);
	}
	return 0;
}
