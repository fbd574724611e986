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

#include <stdbool.h>
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

struct ctl_warm_args {
	const char *file;     /* one http:// URL a line; "-": standard input */
	const char *node;     /* the client listener, host:port (plain HTTP) */
	double rate;          /* requests started per second at most; 0: no bound */
	unsigned concurrency; /* requests in flight at most (>= 1) */
};

/*
 * GETs every URL of the file through the node's client listener (Host from
 * the URL, one connection per request), at most a->concurrency at a time and
 * a->rate a second, each within c->timeout_ms.  Progress on standard error:
 * a bar redrawn in place on a terminal, a line a second otherwise, and a line
 * for each failure; a summary line on standard output.  CTL_EXIT_OK when
 * every URL answered 2xx or 3xx in full, CTL_EXIT_HTTP when any did not,
 * CTL_EXIT_USAGE for an unreadable file or a line that is not an http:// URL
 * (nothing is requested then).
 */
int ctl_ops_warm(const struct ctl_ctx *c, const struct ctl_warm_args *a);

struct ctl_top_args {
	unsigned iterations;  /* frames to draw, 0: until interrupted */
	uint64_t interval_ms; /* between two samples (default 1 s) */
};

/*
 * A live view of the node, redrawn every interval from /status and the
 * deltas of /metrics: requests a second, hit ratio by tier, bandwidth,
 * origin traffic and errors, latency quantiles from the histograms the node
 * exports, cache use, per-site and per-host rows when the metrics carry site
 * and host labels, origin members.  Fits 80 columns and the terminal's rows
 * (24 when unknown); ANSI redraw on a terminal, plain frames separated by a
 * blank line otherwise.  CTL_EXIT_OK, or CTL_EXIT_CONNECT when the node does
 * not answer (at once for the first sample; later, the frame says so and a
 * run with a frame count stops).
 */
int ctl_ops_top(const struct ctl_ctx *c, const struct ctl_top_args *a);

#endif
