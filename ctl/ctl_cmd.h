/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * ctl/ctl_cmd.h — outpostctl's subcommands: each sends one request to the
 * admin listener and prints its answer.  They return the process exit code.
 */
#ifndef OUTPOST_CTL_CTL_CMD_H
#define OUTPOST_CTL_CTL_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ctl_exit {
	CTL_EXIT_OK = 0,
	CTL_EXIT_HTTP = 1,     /* the node answered with an error (or "not ok") */
	CTL_EXIT_USAGE = 2,    /* bad arguments, options or configuration */
	CTL_EXIT_CONNECT = 3,  /* no usable answer: connection, timeout, malformed reply */
	CTL_EXIT_REJECTED = 4, /* reload: the configuration has errors (the old one stays) */
};

/* What every subcommand needs, resolved from flags, environment and file. */
struct ctl_ctx {
	const char *admin;   /* "host:port" */
	const char *token;   /* NULL: none given */
	uint64_t timeout_ms; /* the whole exchange */
	bool json;           /* print the node's JSON as is */
};

struct ctl_purge_args {
	const char **urls, **prefixes, **hosts, **tags;
	size_t n_urls, n_prefixes, n_hosts, n_tags;
	bool all, soft;
	uint64_t wait_ms; /* 0: no ?wait= */
};

int ctl_cmd_purge(const struct ctl_ctx *c, const struct ctl_purge_args *a);
int ctl_cmd_status(const struct ctl_ctx *c);
/* filter: NULL or a substring the printed line must contain. */
int ctl_cmd_stats(const struct ctl_ctx *c, const char *filter);
int ctl_cmd_health(const struct ctl_ctx *c);
/* POST /drain (with ?announce= unless announce_ms is -1), POST /reload with
 * the operator token c->token. */
int ctl_cmd_drain(const struct ctl_ctx *c, int64_t announce_ms);
int ctl_cmd_reload(const struct ctl_ctx *c);
/* The samples of a Prometheus text exposition as a JSON array of {"name",
 * "labels": {...}, "value"} (a new reference). */
struct json_t;
struct json_t *ctl_cmd_metrics_json(const char *text, size_t len);
/* v bytes as "512 B", "1.5 KiB", "3.2 GiB". */
void ctl_cmd_fmt_bytes(long long v, char *out, size_t outlen);

#endif
