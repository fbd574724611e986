/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * core/fdpass.c — see fdpass.h.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/fdpass.h"

#define FDPASS_MAX 4 /* descriptors a message may bring before it is cut */

ssize_t
fdpass_send(int sock, const struct iovec *iov, size_t iovlen, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = {.msg_iov = (struct iovec *)(uintptr_t)iov, .msg_iovlen = iovlen};
	struct cmsghdr *c;
	ssize_t n;

	if (fd != -1) {
		memset(&u, 0, sizeof u);
		msg.msg_control = u.buf;
		msg.msg_controllen = sizeof u.buf;
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof fd);
	}
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n == -1 && errno == EINTR);
	return n;
}

ssize_t
fdpass_recv(int sock, struct iovec *iov, size_t iovlen, int flags, int *fd, int *msg_flags)
{
	union {
		char buf[CMSG_SPACE(FDPASS_MAX * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = iovlen};
	struct cmsghdr *c;
	ssize_t n;

	*fd = -1;
	do {
		msg.msg_control = u.buf;
		msg.msg_controllen = sizeof u.buf;
		msg.msg_flags = 0;
		n = recvmsg(sock, &msg, flags | MSG_CMSG_CLOEXEC);
	} while (n == -1 && errno == EINTR);
	if (msg_flags != NULL)
		*msg_flags = n == -1 ? 0 : msg.msg_flags;
	if (n == -1)
		return -1;
	for (c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
			int got;

			memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof got);
			if (*fd == -1)
				*fd = got;
			else
				close(got);
		}
	}
	return n;
}
