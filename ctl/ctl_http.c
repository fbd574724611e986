/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * ctl/ctl_http.c — see ctl_http.h.  The address is split and checked by the
 * configuration's own parser (a DNS name, an IPv4 or a bracketed IPv6
 * literal and a port), resolved with getaddrinfo, and each address is tried
 * in turn with a non-blocking connect and poll() until the deadline.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/config_value.h"
#include "core/h1.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "ctl/ctl_http.h"

#define CTL_HTTP_MAX_HEADERS 64
#define CTL_HTTP_MAX_HEAD    (64 * 1024)
#define CTL_HTTP_MAX_BODY    (64u * 1024 * 1024)

struct ctl_buf {
	char *p;
	size_t len, cap;
};

static void
ctl_buf_add(struct ctl_buf *b, const char *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = b->cap == 0 ? 4096 : b->cap;
		while (b->len + n + 1 > b->cap)
			b->cap *= 2;
		b->p = xrealloc(b->p, b->cap);
	}
	if (n > 0) /* p may be NULL then (an empty run of chunk data) */
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* Milliseconds left before deadline (0 when passed), as poll() takes them. */
static int
ctl_http_left(uint64_t deadline)
{
	uint64_t now = time_mono_ms();

	return now >= deadline ? 0 : (int)(deadline - now > 600000 ? 600000 : deadline - now);
}

/* Waits for events on fd until the deadline.  0, or -1 (timed out: errno ETIMEDOUT). */
static int
ctl_http_wait(int fd, short events, uint64_t deadline)
{
	struct pollfd pfd = {.fd = fd, .events = events};
	int n;

	for (;;) {
		int left = ctl_http_left(deadline);

		if (left == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		n = poll(&pfd, 1, left);
		if (n > 0)
			return 0;
		if (n == -1 && errno != EINTR)
			return -1;
	}
}

static int
ctl_http_connect_one(const struct addrinfo *ai, uint64_t deadline)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int soerr = 0;
	socklen_t sl = sizeof soerr;

	if (fd == -1)
		return -1;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
		if (errno != EINPROGRESS || ctl_http_wait(fd, POLLOUT, deadline) == -1)
			goto fail;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == -1)
			goto fail;
		if (soerr != 0) {
			errno = soerr;
			goto fail;
		}
	}
	return fd;
fail:;
	int e = errno;

	close(fd);
	errno = e;
	return -1;
}

/* A connected socket to addr, or -1 with err. */
static int
ctl_http_connect(const char *addr, uint64_t deadline, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	char *host = NULL, port[8], why[CONFIG_VALUE_ERRLEN];
	uint16_t pnum;
	int fd = -1, rc, e = 0;

	if (config_value_hostport(addr, &host, &pnum, why, sizeof why) == -1) {
		snprintf(err, errlen, "admin address %s", why);
		return -1;
	}
	snprintf(port, sizeof port, "%u", (unsigned)pnum);
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s", addr, gai_strerror(rc));
		free(host);
		return -1;
	}
	for (const struct addrinfo *ai = res; ai != NULL && fd == -1; ai = ai->ai_next) {
		fd = ctl_http_connect_one(ai, deadline);
		if (fd == -1)
			e = errno;
	}
	if (fd == -1)
		snprintf(err, errlen, "cannot connect to %s: %s", addr,
		    e == ETIMEDOUT ? "timed out" : strerror(e));
	freeaddrinfo(res);
	free(host);
	return fd;
}

static int
ctl_http_send(int fd, const char *p, size_t len, uint64_t deadline)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n == -1 && errno == EINTR) {
			continue;
		} else if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (ctl_http_wait(fd, POLLOUT, deadline) == -1)
				return -1;
		} else {
			return -1;
		}
	}
	return 0;
}

/*
 * Reads until the reply is complete: its status and reason go to *r, the
 * body (decoded when chunked) to *body.  0, 1 for a malformed or too large
 * reply (err says why), or -1 on a socket error (errno).
 */
static int
ctl_http_read(
    int fd, uint64_t deadline, struct ctl_reply *r, struct ctl_buf *body, char *err, size_t errlen)
{
	static const struct h1_limits lim = {
	    .max_request_line = CTL_HTTP_MAX_HEAD,
	    .max_head = CTL_HTTP_MAX_HEAD,
	    .max_headers = CTL_HTTP_MAX_HEADERS,
	};
	struct h1_header hdrs[CTL_HTTP_MAX_HEADERS];
	struct h1_response resp0, *resp = &resp0;
	struct ctl_buf in = {0};
	struct h1_chunked ch;
	size_t used = 0; /* bytes of in consumed: the head, then the body */
	bool head = false, eof = false;
	int ret = 1;

	h1_chunked_init(&ch);
	for (;;) {
		char chunk[16384];
		ssize_t n;

		if (!head) {
			enum h1_status st =
			    h1_parse_response(in.p, in.len, &lim, false, hdrs, resp);

			if (st == H1_OK) {
				head = true;
				used = resp->head_len;
				r->status = resp->status;
				str_copy(resp->reason, r->reason, sizeof r->reason);
			} else if (st != H1_AGAIN || eof) {
				snprintf(err, errlen, "malformed reply: %s",
				    st == H1_AGAIN ? "closed before the end of the head"
				                   : h1_strerror(st));
				goto out;
			}
		}
		if (head) {
			if (resp->body == H1_BODY_NONE)
				break;
			if (resp->body == H1_BODY_LENGTH) {
				if (resp->content_length > CTL_HTTP_MAX_BODY) {
					snprintf(err, errlen, "reply body too large");
					goto out;
				}
				if (in.len - used >= resp->content_length) {
					ctl_buf_add(
					    body, in.p + used, (size_t)resp->content_length);
					break;
				}
				if (eof) {
					snprintf(err, errlen,
					    "malformed reply: closed before the end of the body");
					goto out;
				}
			} else if (resp->body == H1_BODY_CHUNKED) {
				enum h1_status st = H1_AGAIN;

				while (used < in.len) {
					const char *d;
					size_t c, dl;

					st = h1_chunked_decode(
					    &ch, in.p + used, in.len - used, &c, &d, &dl);
					ctl_buf_add(body, d, dl);
					used += c;
					if (st != H1_AGAIN)
						break;
				}
				if (st == H1_OK)
					break;
				if (st != H1_AGAIN || eof) {
					snprintf(err, errlen, "malformed reply: %s",
					    st == H1_AGAIN ? "closed in a chunk" : h1_strerror(st));
					goto out;
				}
				if (body->len > CTL_HTTP_MAX_BODY) {
					snprintf(err, errlen, "reply body too large");
					goto out;
				}
			} else if (eof) { /* H1_BODY_CLOSE */
				ctl_buf_add(body, in.p + used, in.len - used);
				break;
			} else if (in.len - used > CTL_HTTP_MAX_BODY) {
				snprintf(err, errlen, "reply body too large");
				goto out;
			}
		}
		n = recv(fd, chunk, sizeof chunk, 0);
		if (n > 0) {
			ctl_buf_add(&in, chunk, (size_t)n);
		} else if (n == 0) {
			eof = true;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			if (ctl_http_wait(fd, POLLIN, deadline) == -1) {
				ret = -1;
				goto out;
			}
		} else if (errno != EINTR) {
			ret = -1;
			goto out;
		}
	}
	ret = 0;
out:
	free(in.p);
	return ret;
}

int
ctl_http(const char *addr, const char *method, const char *path, const char *token,
    const char *body, uint64_t timeout_ms, struct ctl_reply *r, char *err, size_t errlen)
{
	uint64_t deadline = time_mono_ms() + timeout_ms;
	struct ctl_buf req = {0}, rbody = {0};
	char line[512];
	int fd, rc;

	memset(r, 0, sizeof *r);
	fd = ctl_http_connect(addr, deadline, err, errlen);
	if (fd == -1)
		return -1;
	snprintf(line, sizeof line,
	    "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: outpostctl/%s\r\n"
	    "Accept: application/json, text/plain\r\nConnection: close\r\n",
	    method, path, addr, PACKAGE_VERSION);
	ctl_buf_add(&req, line, strlen(line));
	if (token != NULL) {
		ctl_buf_add(&req, "Authorization: Bearer ", 22);
		ctl_buf_add(&req, token, strlen(token));
		ctl_buf_add(&req, "\r\n", 2);
	}
	if (body != NULL) {
		snprintf(line, sizeof line,
		    "Content-Type: application/json\r\nContent-Length: %zu\r\n", strlen(body));
		ctl_buf_add(&req, line, strlen(line));
	}
	ctl_buf_add(&req, "\r\n", 2);
	if (body != NULL)
		ctl_buf_add(&req, body, strlen(body));
	rc = ctl_http_send(fd, req.p, req.len, deadline);
	if (rc == 0)
		rc = ctl_http_read(fd, deadline, r, &rbody, err, errlen);
	if (rc == -1)
		snprintf(err, errlen, "%s: %s", addr,
		    errno == ETIMEDOUT ? "timed out" : strerror(errno));
	/* the request holds the token: not left behind in freed memory */
	explicit_bzero(req.p, req.cap);
	free(req.p);
	close(fd);
	if (rc != 0) {
		free(rbody.p);
		return -1;
	}
	if (rbody.p == NULL)
		ctl_buf_add(&rbody, "", 0);
	r->body = rbody.p;
	r->body_len = rbody.len;
	return 0;
}

void
ctl_reply_free(struct ctl_reply *r)
{
	free(r->body);
	r->body = NULL;
}
