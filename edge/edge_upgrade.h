/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_upgrade.h — zero-downtime binary upgrade: the running process
 * (the old one) starts the binary at the same path again (the new one) and
 * hands it its listening sockets over a Unix socket pair (SCM_RIGHTS), so no
 * connection is ever refused: the sockets stay open, and their accept
 * queues with them, in one process or the other the whole time.
 *
 * The conversation, one SOCK_SEQPACKET message each (edge_main.c drives it):
 *
 *   old -> new  OFFER   the settings both must share (listeners, workers,
 *                       disk tier) as one text, and the old pid
 *   old -> new  FDS     one listening socket each: listener a, worker b
 *   new -> old  HELLO   the new pid; "stop writing the disk tier"
 *   old -> new  FROZEN  the old writer has committed its queue and stopped
 *   new -> old  ADMIN   "release the admin listener" (after the new process
 *                       opened the disk tier, the purge log and its TLS
 *                       contexts and made its workers)
 *   old -> new  RELEASED
 *   new -> old  READY   the new workers accept; the old one drains
 *   old -> new  DONE    the old one has told the service manager the new
 *                       MAINPID, so the new one's READY=1 and watchdog
 *                       pings that follow are the service's
 *
 * Either side that sees the other end close, or a message out of turn, or no
 * answer in time, gives up: a new process exits 1 and the old one writes its
 * disk tier again (totals read afresh), reopens its admin listener and goes
 * on serving.
 */
#ifndef OUTPOST_EDGE_EDGE_UPGRADE_H
#define OUTPOST_EDGE_EDGE_UPGRADE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define EDGE_UPGRADE_ENV     "OUTPOST_UPGRADE_FD"
#define EDGE_UPGRADE_TEXT    4096   /* longest text of a message */
#define EDGE_UPGRADE_WAIT_MS 30000u /* the whole handover, seen from the old process */

enum edge_upgrade_type {
	EDGE_UPGRADE_OFFER = 1,
	EDGE_UPGRADE_FDS,
	EDGE_UPGRADE_HELLO,
	EDGE_UPGRADE_FROZEN,
	EDGE_UPGRADE_ADMIN,
	EDGE_UPGRADE_RELEASED,
	EDGE_UPGRADE_READY,
	EDGE_UPGRADE_DONE,
};

struct edge_upgrade_msg {
	uint32_t type; /* enum edge_upgrade_type */
	uint32_t a, b; /* OFFER, HELLO: a pid; FDS: listener, worker */
	int fd;        /* FDS: the socket received (the caller owns it); else -1 */
	char text[EDGE_UPGRADE_TEXT + 1]; /* NUL-terminated */
};

/*
 * Remembers the running binary's path (/proc/self/exe, read now: a package
 * upgrade later replaces the file, and the new file is what starts) and the
 * configuration path.  0, or -1 (logged: upgrades are then refused).  Call
 * first in main(), before any fork.
 */
int edge_upgrade_init(const char *config_path);

/* For a forked child of a single-threaded process (the privilege helper):
 * puts fd at descriptor 3, names it in the environment, puts the signals
 * back to their defaults and execs the binary with "-c config".  Returns
 * only on failure. */
void edge_upgrade_exec(int fd);

/* posix_spawn of the binary with fd as its upgrade descriptor (from a
 * multi-threaded process).  0 and *pid, or -errno. */
int edge_upgrade_spawn(int fd, pid_t *pid);

/* The upgrade descriptor this process was started with (and removes it
 * from the environment), or -1 for an ordinary start. */
int edge_upgrade_inherited(void);

/* Sends one message with at most one descriptor (fd -1: none).  0 or -errno.
 * Blocking (the socket's send timeout bounds it). */
int edge_upgrade_send(int sock, uint32_t type, uint32_t a, uint32_t b, const char *text, int fd);

/* Receives one message, waiting at most timeout_ms (0: do not wait).  0,
 * -ETIMEDOUT, -EPIPE when the other end closed, -EPROTO on a malformed
 * message, or -errno. */
int edge_upgrade_recv(int sock, unsigned timeout_ms, struct edge_upgrade_msg *m);

#endif
