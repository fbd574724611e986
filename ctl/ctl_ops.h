/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * ctl/ctl_ops.h — outpostctl's operator commands beyond one request and its
 * answer: upgrade (signals the node's process and follows the handover),
 * top (a live view from /status and /metrics), warm (fetches a list of URLs
 * through the node's client listener).  They return the process exit code
 * (enum ctl_exit).
 */
#ifndef OUTPOST_CTL_CTL_OPS_H
#define OUTPOST_CTL_CTL_OPS_H

#include <stdint.h>

#include "ctl/ctl_cmd.h"

struct ctl_upgrade_args {
	long pid;            /* 0: from pidfile or from the node's status */
	const char *pidfile; /* NULL: none */
};

/*
 * Sends SIGUSR2 to the node's process (--pid, --pidfile, or the "pid" the
 * node reports on /status.json when the admin address is local), then waits,
 * within c->timeout_ms, until that process has exited and the admin listener
 * answers /healthz with 200 (from the new process).
 */
int ctl_ops_upgrade(const struct ctl_ctx *c, const struct ctl_upgrade_args *a);

#endif
