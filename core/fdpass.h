/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * core/fdpass.h — one message with at most one descriptor riding along
 * (SCM_RIGHTS) over a Unix socket: the privilege helper's answers and the
 * binary upgrade's handover.
 */
#ifndef OUTPOST_CORE_FDPASS_H
#define OUTPOST_CORE_FDPASS_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

/* sendmsg of iov[0..iovlen) with fd attached (-1: none), MSG_NOSIGNAL,
 * again on EINTR.  sendmsg's result (-1 with errno). */
ssize_t fdpass_send(int sock, const struct iovec *iov, size_t iovlen, int fd);

/*
 * recvmsg into iov[0..iovlen) with flags (MSG_CMSG_CLOEXEC is added), again
 * on EINTR.  *fd is the first descriptor that came (close-on-exec; the
 * caller owns it) or -1; any further ones are closed.  *msg_flags (NULL: not
 * wanted) gets the message's flags (MSG_TRUNC, MSG_CTRUNC).  recvmsg's
 * result (-1 with errno, and *fd -1).
 */
ssize_t fdpass_recv(int sock, struct iovec *iov, size_t iovlen, int flags, int *fd, int *msg_flags);

#endif
