/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_notify.c — see edge_notify.h.
 *
 * One SOCK_DGRAM socket, non-blocking: a manager that stops reading cannot
 * stall the main loop (a full queue drops the datagram, logged once).  The
 * address is built once at open; an abstract name ('@' first) becomes a
 * leading NUL and its length counts exactly its bytes, as the kernel
 * compares abstract names by length.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "edge/edge_notify.h"

#define NOTIFY_MSG_MAX 1024

static int notify_fd = -1;
static struct sockaddr_un notify_addr;
static socklen_t notify_addrlen;
static uint64_t notify_watchdog_usec;
static bool notify_warned;

/* A decimal number that fits in uint64 and is the whole of s. */
static int
notify_parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

int
edge_notify_open(pid_t also_mine)
{
	const char *path = getenv("NOTIFY_SOCKET");
	const char *usec = getenv("WATCHDOG_USEC");
	const char *wpid = getenv("WATCHDOG_PID");
	uint64_t v, p;
	size_t len;

	edge_notify_close();
	notify_watchdog_usec = 0;
	if (notify_parse_u64(usec, &v) == 0 && v > 0) {
		if (wpid == NULL || wpid[0] == '\0')
			notify_watchdog_usec = v;
		else if (notify_parse_u64(wpid, &p) == 0 &&
		         (p == (uint64_t)getpid() || (also_mine > 0 && p == (uint64_t)also_mine)))
			notify_watchdog_usec = v;
	}
	if (path == NULL || path[0] == '\0')
		return 0;
	len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || len >= sizeof notify_addr.sun_path || len < 2) {
		log_err(
		    "main", "NOTIFY_SOCKET \"%.100s\": not a socket path or abstract name", path);
		notify_watchdog_usec = 0;
		return -1;
	}
	memset(&notify_addr, 0, sizeof notify_addr);
	notify_addr.sun_family = AF_UNIX;
	memcpy(notify_addr.sun_path, path, len);
	if (path[0] == '@')
		notify_addr.sun_path[0] = '\0';
	notify_addrlen =
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (path[0] == '@' ? 0 : 1));
	notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (notify_fd == -1) {
		log_err("main", "NOTIFY_SOCKET: socket: %s", strerror(errno));
		notify_watchdog_usec = 0;
		return -1;
	}
	notify_warned = false;
	return 0;
}

static void
notify_send(const char *msg, size_t len)
{
	if (notify_fd == -1)
		return;
	if (sendto(notify_fd, msg, len, MSG_NOSIGNAL, (const struct sockaddr *)&notify_addr,
	        notify_addrlen) == -1 &&
	    !notify_warned) {
		notify_warned = true;
		log_warn("main", "NOTIFY_SOCKET: send: %s (further failures not logged)",
		    strerror(errno));
	}
}

void
edge_notify(const char *fmt, ...)
{
	char msg[NOTIFY_MSG_MAX];
	va_list ap;
	int n;

	if (notify_fd == -1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	notify_send(msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
}

void
edge_notify_reloading(const char *status)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	edge_notify("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=%s",
	    (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000u,
	    status);
}

uint64_t
edge_notify_watchdog_ms(void)
{
	uint64_t ms = notify_watchdog_usec / 2000u;

	return notify_fd == -1 || notify_watchdog_usec == 0 ? 0 : ms > 0 ? ms : 1;
}

void
edge_notify_close(void)
{
	if (notify_fd != -1)
		close(notify_fd);
	notify_fd = -1;
}
