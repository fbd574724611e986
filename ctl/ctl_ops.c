/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * ctl/ctl_ops.c — see ctl_ops.h.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "config/config_value.h"
#include "ctl/ctl_http.h"
#include "ctl/ctl_ops.h"

#define CTL_OPS_POLL_US 50000 /* between two looks at a process or the node */

static uint64_t
ctl_ops_now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- upgrade ---- */

/* The admin address is this machine's: a loopback address or "localhost". */
static bool
ctl_ops_is_local(const char *admin)
{
	char err[CONFIG_VALUE_ERRLEN], *host = NULL;
	uint16_t port;
	bool local;

	if (config_value_hostport(admin, &host, &port, err, sizeof err) == -1)
		return false;
	local = strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 ||
	        strcmp(host, "localhost") == 0;
	free(host);
	return local;
}

/* The process is gone, or a zombie its parent has not reaped yet. */
static bool
ctl_ops_pid_gone(long pid)
{
	char path[64], buf[256], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return true;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* "pid (comm) S ..." */
	return p == NULL || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X';
}

/* The process is an outpost daemon (its name, as the kernel keeps it). */
static bool
ctl_ops_is_outpost(long pid)
{
	char path[64], comm[32] = "";
	FILE *f;

	snprintf(path, sizeof path, "/proc/%ld/comm", pid);
	if ((f = fopen(path, "r")) == NULL)
		return false;
	if (fgets(comm, sizeof comm, f) == NULL)
		comm[0] = '\0';
	fclose(f);
	comm[strcspn(comm, "\n")] = '\0';
	return strcmp(comm, "outpost") == 0;
}

/* The pid from a pid file's first line; 0 after printing why. */
static long
ctl_ops_pidfile(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[64], *end;
	long pid;

	if (f == NULL) {
		fprintf(stderr, "outpostctl: upgrade: %s: %s\n", path, strerror(errno));
		return 0;
	}
	if (fgets(line, sizeof line, f) == NULL)
		line[0] = '\0';
	fclose(f);
	line[strcspn(line, "\r\n")] = '\0';
	pid = strtol(line, &end, 10);
	if (end == line || *end != '\0' || pid <= 0) {
		fprintf(stderr, "outpostctl: upgrade: %s: no process id on its first line\n", path);
		return 0;
	}
	return pid;
}

/* The pid the node reports on /status.json (0 after printing why, with
 * *rc the exit code). */
static long
ctl_ops_status_pid(const struct ctl_ctx *c, int *rc)
{
	struct ctl_reply r;
	char err[CTL_HTTP_ERRLEN];
	json_t *j, *v;
	long pid = 0;

	*rc = CTL_EXIT_USAGE;
	if (!ctl_ops_is_local(c->admin)) {
		fprintf(stderr,
		    "outpostctl: upgrade: the node at %s is not on this machine: run it there, or "
		    "give --pid or --pidfile\n",
		    c->admin);
		return 0;
	}
	/* /status.json, or /status on a node that serves its JSON there */
	for (int i = 0; i < 2; i++) {
		if (ctl_http(c->admin, "GET", i == 0 ? "/status.json" : "/status", NULL, NULL,
		        c->timeout_ms, &r, err, sizeof err) == -1) {
			fprintf(stderr, "outpostctl: upgrade: %s\n", err);
			*rc = CTL_EXIT_CONNECT;
			return 0;
		}
		if (r.status != 404 || i == 1)
			break;
		ctl_reply_free(&r);
	}
	j = r.status == 200 ? json_loadb(r.body, r.body_len, 0, NULL) : NULL;
	v = json_object_get(j, "pid");
	if (json_is_integer(v) && json_integer_value(v) > 0)
		pid = (long)json_integer_value(v);
	else
		fprintf(stderr,
		    "outpostctl: upgrade: the node does not report its process id on /status.json "
		    "(%d): give --pid or --pidfile\n",
		    r.status);
	json_decref(j);
	ctl_reply_free(&r);
	return pid;
}

int
ctl_ops_upgrade(const struct ctl_ctx *c, const struct ctl_upgrade_args *a)
{
	uint64_t deadline = ctl_ops_now_ms() + c->timeout_ms;
	char err[CTL_HTTP_ERRLEN];
	struct ctl_reply r;
	long pid = a->pid;
	int rc = CTL_EXIT_USAGE;

	if (pid == 0 && a->pidfile != NULL && (pid = ctl_ops_pidfile(a->pidfile)) == 0)
		return CTL_EXIT_USAGE;
	if (pid == 0 && (pid = ctl_ops_status_pid(c, &rc)) == 0)
		return rc;
	if (!ctl_ops_is_outpost(pid)) {
		fprintf(stderr, "outpostctl: upgrade: process %ld is not an outpost daemon\n", pid);
		return CTL_EXIT_USAGE;
	}
	if (kill((pid_t)pid, SIGUSR2) == -1) {
		fprintf(stderr, "outpostctl: upgrade: signal to process %ld: %s\n", pid,
		    strerror(errno));
		return CTL_EXIT_HTTP;
	}
	while (!ctl_ops_pid_gone(pid)) {
		if (ctl_ops_now_ms() >= deadline) {
			fprintf(stderr,
			    "outpostctl: upgrade: process %ld still runs: the new one refused "
			    "(see the node's log) or the old one is still draining\n",
			    pid);
			return CTL_EXIT_HTTP;
		}
		usleep(CTL_OPS_POLL_US);
	}
	for (;;) {
		uint64_t now = ctl_ops_now_ms();

		if (ctl_http(c->admin, "GET", "/healthz", NULL, NULL,
		        deadline > now ? deadline - now : 1, &r, err, sizeof err) == 0) {
			int status = r.status;

			ctl_reply_free(&r);
			if (status == 200)
				break;
		}
		if (ctl_ops_now_ms() >= deadline) {
			fprintf(stderr,
			    "outpostctl: upgrade: process %ld exited but the node does not answer "
			    "/healthz with 200 at %s\n",
			    pid, c->admin);
			return CTL_EXIT_CONNECT;
		}
		usleep(CTL_OPS_POLL_US);
	}
	printf("upgraded: process %ld handed over and exited; the node at %s is healthy\n", pid,
	    c->admin);
	return CTL_EXIT_OK;
}
