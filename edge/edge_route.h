/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_route.h — routing inside a site and what a route does to a
 * request: path matching (exact, regex, prefix), the cache key's query mode,
 * rewrites of the path sent to the origin, redirect templates, header rules
 * and the canary split.
 *
 * Pure functions over the immutable config snapshot: they write into the
 * caller's buffers and never allocate, except edge_route_md_new (once per
 * worker).  Regex matching needs PCRE2 match data, which is per worker
 * (struct edge_route_md): one worker thread uses it at a time.
 */
#ifndef OUTPOST_EDGE_EDGE_ROUTE_H
#define OUTPOST_EDGE_EDGE_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/h1.h"
#include "core/str.h"

struct config_site;
struct config_route;
struct config_hdr_rules;
struct config_pool;
struct evbuffer;

#define EDGE_ROUTE_GROUPS 10 /* $0..$9 */

/* Per-worker PCRE2 match data (room for $0..$9) and match limits: a
 * pattern that backtracks past EDGE_ROUTE_MATCH_LIMIT steps counts as not
 * matching, so no path can stall a worker. */
#define EDGE_ROUTE_MATCH_LIMIT 100000
struct edge_route_md;
struct edge_route_md *edge_route_md_new(void);
/* NULL-safe; NULLs *mdp. */
void edge_route_md_free(struct edge_route_md **mdp);

/* Capture groups of the last regex match: group i is subject[start[i],
 * end[i]), or unset (start[i] == SIZE_MAX). */
struct edge_route_caps {
	const char *subject;
	size_t start[EDGE_ROUTE_GROUPS], end[EDGE_ROUTE_GROUPS];
};

/*
 * The path routes match on: path (without the query) percent-normalized with
 * dot-segments removed (cache_key_normalize_path), so "/x/../admin" and
 * "/%61dmin" are routed as "/admin" is.  Kept in md until the next call.
 * 0 with *out set, or -1 if the path is invalid (answer 400).
 */
int edge_route_path(struct edge_route_md *md, struct str path, struct str *out);

/*
 * The route of site s for path (normalized, see edge_route_path): an exact
 * path, else the first regex in config order that matches, else the longest
 * prefix; NULL if none.  caps receives the regex route's groups (all unset
 * otherwise).
 */
const struct config_route *edge_route_select(const struct config_site *s, struct str path,
    struct edge_route_md *md, struct edge_route_caps *caps);

/* May method be used on route r (its methods list, when it has one)? */
bool edge_route_method_ok(const struct config_route *r, struct str method);

/* What a template may refer to. */
struct edge_route_vars {
	struct str scheme, host, path, query, request_uri;
	const struct edge_route_caps *caps;
};

/*
 * Expands template t (config_template_var grammar) into out (outlen bytes,
 * NUL-terminated).  Returns the length, or -1 if it does not fit.
 */
int edge_route_expand(const char *t, const struct edge_route_vars *v, char *out, size_t outlen);

/*
 * The target to send to the origin for route r: path (normalized) rewritten
 * by r's rewrite (prefix replaced, or the regex's template with its groups),
 * then query (with its '?', or empty) unchanged.  Returns the length written
 * to out (NUL-terminated), 0 when the route does not rewrite this path (send
 * the client's target as it is), -1 if the result does not fit outlen.
 */
int edge_route_rewrite(const struct config_route *r, struct str path, struct str query,
    struct edge_route_md *md, char *out, size_t outlen);

/*
 * Does this client go to r's canary pool?  Sticky: the hash of the value of
 * r's cookie (when configured and present), else of peer (the client
 * address), decides; the same value always gives the same answer.
 */
bool edge_route_canary(
    const struct config_route *r, struct str peer, const struct h1_header *hdrs, size_t n_hdrs);

/* Does a rule in rules remove (or set) fields called name? */
bool edge_route_hdr_drops(const struct config_hdr_rules *rules, struct str name);
/* Appends the add and set lines of rules to out. */
void edge_route_hdr_append(const struct config_hdr_rules *rules, struct evbuffer *out);

/*
 * The cache key of a request on route r (cache_key_normalize_query with the
 * route's query mode), into out; the length or -1.  A request sent to r's
 * canary pool (pool == r->canary_pool, not r->pool) gets "#canary=POOL"
 * appended: '#' cannot occur in a normalized key (the fragment is dropped),
 * so canary objects never answer the main pool's clients, nor the other way
 * round.  A pool geo_pools picked shares r->pool's entries: the origins of
 * one route serve one content (cache.vary_geo keeps copies apart).
 */
int edge_route_key(const struct config_route *r, const struct config_pool *pool, struct str scheme,
    struct str host, uint16_t port, struct str path_query, char *out, size_t outlen);

/*
 * Appends to the key out[0..len) (outlen bytes in all) the values of the
 * override fields route r keys on (cache.override_headers: key), in
 * CONFIG_OVERRIDE_FIELDS order: "#name" when the request has none,
 * "#name=LEN:VALUE" with its field lines joined by ',' when it has.  '#'
 * never occurs in a normalized URL, so such keys never meet an unkeyed one.
 * The new length (NUL-terminated), or -1 if it does not fit.
 */
int edge_route_key_fields(const struct config_route *r, const struct h1_header *hdrs, size_t n_hdrs,
    char *out, size_t len, size_t outlen);

#endif
