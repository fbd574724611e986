/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_notify.h — the service manager's notification protocol
 * (systemd's sd_notify, spoken directly: no libsystemd).
 *
 * When NOTIFY_SOCKET names a Unix datagram socket (a path, or an abstract
 * name written with a leading '@'), each call sends one datagram of
 * newline-separated assignments: READY=1, RELOADING=1, STOPPING=1, STATUS=,
 * MAINPID=, WATCHDOG=1.  Without NOTIFY_SOCKET every call does nothing.  A
 * failed send is logged once and otherwise ignored: the node serves whether
 * or not a manager listens.
 *
 * The watchdog: WATCHDOG_USEC asks for a WATCHDOG=1 at least that often;
 * WATCHDOG_PID, when set, names the process it is meant for (any other
 * process ignores it, as sd_watchdog_enabled does).  Main thread only.
 */
#ifndef OUTPOST_EDGE_EDGE_NOTIFY_H
#define OUTPOST_EDGE_EDGE_NOTIFY_H

#include <stdint.h>
#include <sys/types.h>

/* Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID (the watchdog applies
 * to this process when WATCHDOG_PID is unset, is our pid, or is
 * also_mine, the pid of a process this one takes over from; 0: none).
 * Opens the sending socket.  0, or -1 (logged) when NOTIFY_SOCKET is
 * malformed: the daemon then runs without notifications. */
int edge_notify_open(pid_t also_mine);

/* Sends the assignments fmt makes (printf-style; lines separated by '\n').
 * Nothing without NOTIFY_SOCKET. */
void edge_notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* RELOADING=1 with MONOTONIC_USEC= (the time the reload starts) and status. */
void edge_notify_reloading(const char *status);

/* The interval of WATCHDOG=1 pings in ms (half of WATCHDOG_USEC), or 0 when
 * no watchdog applies to this process. */
uint64_t edge_notify_watchdog_ms(void);

/* Closes the socket (NULL-safe to call twice). */
void edge_notify_close(void);

#endif
