/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_guard.h — the request's policy stage: who the client is, and
 * whether the node serves it.
 *
 * Two calls, each a step of the request (edge_conn.c):
 *
 *  - edge_guard_client, first: the client address.  The socket peer, unless
 *    it is one of trusted_proxies; then the rightmost entry of its
 *    X-Forwarded-For that no trusted proxy wrote (policy_clientip).  Logs,
 *    rules, limits, ip_hash and canary stickiness use that address.
 *  - edge_guard_check, after the route is chosen and before the cache
 *    lookup: the route's (else the site's) access rules, then its rate
 *    limit.  A refused request is answered by the caller with the verdict's
 *    status and never reaches the cache or an origin.
 *
 * The functions take the request's parts as parameters (no connection), read
 * only the configuration snapshot, and allocate nothing.  A route without
 * access and rate_limit, on a node without trusted_proxies, costs a few
 * compares.  The rate-limit table (policy_rl) is shared by all workers and
 * locks one small set of entries per call.  Any worker thread.
 */
#ifndef OUTPOST_EDGE_EDGE_GUARD_H
#define OUTPOST_EDGE_EDGE_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/policy.h"

struct config;
struct config_site;
struct config_route;
struct h1_header;

/* The client of a request. */
struct edge_guard_client {
	struct policy_addr addr;
	char text[POLICY_ADDR_STRLEN]; /* addr as text (logs, ip_hash, canary) */
	enum policy_clientip_source source;
};

/*
 * The client address of a request from peer (its text in peer_text) with the
 * request's fields hdrs[0..n), under cfg's trusted_proxies, into *out.
 */
void edge_guard_client(const struct config *cfg, const struct policy_addr *peer,
    const char *peer_text, const struct h1_header *hdrs, size_t n, struct edge_guard_client *out);

/* What edge_guard_check decided against a request. */
struct edge_guard_verdict {
	int status;             /* 403 or 451 (access), 429 (rate_limit) */
	uint32_t retry_after_s; /* 429: seconds until the next token */
	const char *body;       /* the short text body */
};

/*
 * The policy of route (site's when the route has none of its own) for client
 * with the request fields hdrs[0..n) (rate_limit by header); rl is the node's
 * rate-limit table (NULL: no limits).  true: serve.  false: refuse
 * with *v; the access rule that decided is counted in the snapshot.
 */
bool edge_guard_check(struct policy_rl *rl, const struct config_site *site,
    const struct config_route *route, const struct edge_guard_client *client,
    const struct h1_header *hdrs, size_t n, struct edge_guard_verdict *v);

#endif
