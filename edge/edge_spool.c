/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_spool.c — a request body held in memory, then in an unlinked
 * temporary file (edge_spool.h).
 *
 * Memory holds the body as the client's chunks arrived (moved, not copied,
 * from the connection's input).  The first add that would pass the memory
 * limit makes the file and writes memory's bytes to it, so the body is then
 * all in one place: the file.  Reading back copies at most EDGE_SPOOL_READ
 * bytes per call into the caller's buffer, which bounds the time one call
 * spends on the disk.  Worker thread only; no locks.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "edge/edge_spool.h"

/* A new file in dir that no name reaches: O_TMPFILE, or, where the file
 * system lacks it, mkostemp and unlink at once.  The fd, or -errno. */
static int
spool_open(const char *dir)
{
	char path[4096];
	int fd, e;

#ifdef O_TMPFILE
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd != -1)
		return fd;
	/* open(2): EOPNOTSUPP where the file system lacks it, EISDIR on
	 * kernels that predate it */
	if (errno != EOPNOTSUPP && errno != EISDIR)
		return -errno;
#endif
	if (snprintf(path, sizeof path, "%s/outpost-body-XXXXXX", dir) >= (int)sizeof path)
		return -ENAMETOOLONG;
	fd = mkostemp(path, O_CLOEXEC);
	if (fd == -1)
		return -errno;
	if (unlink(path) == -1) {
		e = errno;
		(void)close(fd);
		return -e;
	}
	return fd;
}

/* Writes the first n bytes of b to fd, draining them.  0 or -errno. */
static int
spool_write(int fd, struct evbuffer *b, size_t n)
{
	while (n > 0) {
		int w = evbuffer_write_atmost(b, fd, (ev_ssize_t)n);

		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1)
			return -errno;
		if (w == 0)
			return -ENOSPC;
		n -= (size_t)w;
	}
	return 0;
}

int
edge_spool_add(
    struct edge_spool *s, struct evbuffer *from, size_t n, uint64_t mem_max, const char *dir)
{
	int r;

	if (!s->file && s->len + n <= mem_max) {
		if (s->mem == NULL && (s->mem = evbuffer_new()) == NULL)
			return -ENOMEM;
		if (evbuffer_remove_buffer(from, s->mem, n) != (int)n)
			return -ENOMEM;
		s->len += n;
		return 0;
	}
	if (!s->file) {
		if ((r = spool_open(dir)) < 0)
			return r;
		s->fd = r;
		s->file = true;
		if (s->mem != NULL) {
			if ((r = spool_write(s->fd, s->mem, evbuffer_get_length(s->mem))) != 0)
				return r;
			evbuffer_free(s->mem);
			s->mem = NULL;
		}
	}
	if ((r = spool_write(s->fd, from, n)) != 0)
		return r;
	s->len += n;
	return 0;
}

int
edge_spool_copy(const struct edge_spool *s, uint64_t *off, struct evbuffer *out, size_t max)
{
	struct evbuffer_iovec v;
	struct evbuffer_ptr pos;
	ev_ssize_t got;
	size_t n;

	if (*off >= s->len || max == 0)
		return 0;
	n = s->len - *off < max ? (size_t)(s->len - *off) : max;
	if (n > EDGE_SPOOL_READ)
		n = EDGE_SPOOL_READ;
	if (evbuffer_reserve_space(out, (ev_ssize_t)n, &v, 1) < 1)
		return -ENOMEM;
	if (!s->file) {
		if (evbuffer_ptr_set(s->mem, &pos, (size_t)*off, EVBUFFER_PTR_SET) != 0)
			return -EINVAL;
		got = evbuffer_copyout_from(s->mem, &pos, v.iov_base, n);
		if (got <= 0)
			return -EIO;
	} else {
		do
			got = pread(s->fd, v.iov_base, n, (off_t)*off);
		while (got == -1 && errno == EINTR);
		if (got == -1)
			return -errno;
		if (got == 0)
			return -EIO; /* shorter than what was written */
	}
	v.iov_len = (size_t)got;
	if (evbuffer_commit_space(out, &v, 1) != 0)
		return -ENOMEM;
	*off += (uint64_t)got;
	return 0;
}

bool
edge_spool_on_disk(const struct edge_spool *s)
{
	return s->file;
}

void
edge_spool_reset(struct edge_spool *s)
{
	if (s->mem != NULL)
		evbuffer_free(s->mem);
	if (s->file)
		(void)close(s->fd);
	s->mem = NULL;
	s->file = false;
	s->fd = -1;
	s->len = 0;
}
