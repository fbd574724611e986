/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_guard.h — the request's policy stage: who the client is, and
 * whether the node serves it.
 *
 * Before the connection, on a listener with proxy_protocol,
 * edge_guard_pp_accept reads the PROXY header: its source is the peer.
 * Then two calls, each a step of the request (edge_req.c):
 *
 *  - edge_guard_client, first: the client address.  The socket peer, unless
 *    it is one of trusted_proxies; then the rightmost entry of its
 *    X-Forwarded-For (or Forwarded, per client_address_header) that no
 *    trusted proxy wrote (policy_clientip).  Logs,
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

#include "geo/geo.h"
#include "policy/policy.h"
#include "policy/policy_token.h"

struct config;
struct config_listen;
struct config_site;
struct edge_server;
struct edge_worker;
struct origin_pool;
struct sockaddr;
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
 * request's fields hdrs[0..n), under cfg's trusted_proxies, into *out, which
 * holds the previous request's client (or source != POLICY_CLIENTIP_PEER):
 * when both are the peer nothing is copied.
 */
void edge_guard_client(const struct config *cfg, const struct policy_addr *peer,
    const char *peer_text, const struct h1_header *hdrs, size_t n, struct edge_guard_client *out);

/* Bytes of the field lines edge_guard_check writes for the origin (five
 * X-Geo-* fields with a city of GEO_HDR_VALUE_MAX bytes fit). */
#define EDGE_GUARD_FIELDS_MAX 512
/* ... and of a token's forwarded claims (a name of at most 64 bytes and a
 * value each), which edge_guard_protect adds. */
#define EDGE_GUARD_CLAIMS_MAX (POLICY_JWT_FORWARD_MAX * (64 + POLICY_JWT_CLAIM_MAX + 4))

/*
 * The stage's memory on a connection (zeroed at accept): the client's
 * location, looked up once per connection and client address (again only
 * when the address or the snapshot's databases change), and the field lines
 * for the origin request (edge_guard_fields).  A token's claims need more
 * room than most connections ever use: the buffer that holds the fields and
 * them is allocated by the first token with claims to forward, kept for the
 * connection's next requests, and freed by edge_guard_scratch_free.  One
 * thread: the connection's.
 */
struct edge_guard_scratch {
	struct geo_loc loc;
	struct policy_addr loc_addr; /* loc is this address's */
	uint64_t loc_serial;         /* ... in the databases of cfg->geo_serial; 0: none */
	char fields[EDGE_GUARD_FIELDS_MAX];
	size_t fields_len; /* "Name: value\r\n" lines in fields */
	char *claims;      /* NULL, or EDGE_GUARD_FIELDS_MAX + EDGE_GUARD_CLAIMS_MAX bytes */
	size_t claims_len; /* > 0: the lines are claims[0..claims_len) (fields, then claims) */
};

/* The field lines the stage wrote for this request's origin request. */
struct str edge_guard_fields(const struct edge_guard_scratch *s);
/* At the connection's end: frees what s allocated. */
void edge_guard_scratch_free(struct edge_guard_scratch *s);

/* What edge_guard_check decided against a request. */
struct edge_guard_verdict {
	int status;             /* 403 or 451 (access, signed_url), 429 (rate_limit), 401 (jwt) */
	uint32_t retry_after_s; /* 429: seconds until the next token */
	const char *body;       /* the short text body */
	const char *challenge;  /* 401: the WWW-Authenticate value; else NULL */
	bool signed_url;        /* 403 from signed_url (not an access list) */
};

/*
 * The policy of route (site's when the route has none of its own) in cfg for
 * client with the request fields hdrs[0..n) (rate_limit by header); rl is
 * the node's rate-limit table (NULL: no limits).  The client's location is
 * looked up (or taken from s) when a rule or geo_headers needs it.  true:
 * serve, and s->fields holds the X-Geo-* lines for the origin.  false:
 * refuse with *v; the access rule that decided is counted in the snapshot.
 * judged: a verified sibling's request (origin_sibling.h), whose client the
 * node it reached has judged already; neither the access rules nor the rate
 * limit apply again (here the client would be that sibling, one address for
 * all of its clients, and a client's request would be counted twice).
 */
bool edge_guard_check(struct policy_rl *rl, const struct config *cfg,
    const struct config_site *site, const struct config_route *route,
    const struct edge_guard_client *client, const struct h1_header *hdrs, size_t n, bool judged,
    struct edge_guard_scratch *s, struct edge_guard_verdict *v);

/*
 * Protected content, after edge_guard_check, for a route with signed_url or
 * jwt (doc/protected-content.md): the signed URL of npath (the normalized
 * path) and query (the raw query, without '?'; STR_NULL: none) for client,
 * then the bearer token of the Authorization field in hdrs[0..n), at now_s
 * (signed_ok: the signed URL was checked by the sibling that asks).
 * true: serve; *qlen is the length of the query without the signature
 * parameters, written to qout (qoutlen bytes), for the key and the origin
 * (-1: no signed_url, the query stays), and the token's forwarded claims
 * follow s->fields in s->claims (edge_guard_fields gives the lines).  false:
 * refuse with *v — 403 for a signed URL, 401 with v->challenge for a token
 * (RFC 6750 §3).  Allocates only s->claims, once per connection, on its
 * first token with claims.
 */
bool edge_guard_protect(const struct config_route *route, bool signed_ok, struct str npath,
    struct str query, const struct edge_guard_client *client, const struct h1_header *hdrs,
    size_t n, int64_t now_s, struct edge_guard_scratch *s, char *qout, size_t qoutlen, int *qlen,
    struct edge_guard_verdict *v);

/* Is name a field route's jwt forwards a claim as?  A client's are never
 * forwarded. */
bool edge_guard_jwt_field(const struct config_route *route, struct str name);

/* The client's country code ("DE") in cfg's databases, NULL when not known;
 * looked up as for edge_guard_key_geo.  Valid until s changes. */
const char *edge_guard_country(
    const struct config *cfg, const struct edge_guard_client *client, struct edge_guard_scratch *s);

/*
 * Appends route's cache.vary_geo tag for client — "#geo=DE" (the country or
 * the continent), "#geo=--" when the location is not known — to the cache
 * key out[0..len) (outlen bytes, NUL-terminated); the location is the one s
 * holds, looked up again only for another address or other databases.  The
 * new length, or -1 when it does not fit.  A route without vary_geo: len.
 */
int edge_guard_key_geo(const struct config *cfg, const struct config_route *route,
    const struct edge_guard_client *client, struct edge_guard_scratch *s, char *out, size_t len,
    size_t outlen);

/*
 * The pool of route->geo_pools (not NULL) for client: the first of the
 * candidates for its location (country's, continent's, default's) with a
 * member usable now in opool (the generation's balancers), else the route's
 * pool.  The location is s's, as for edge_guard_key_geo.
 */
const struct config_pool *edge_guard_geo_pool(const struct config *cfg,
    const struct config_route *route, const struct edge_guard_client *client,
    struct edge_guard_scratch *s, struct origin_pool *opool);

/* Is name a geo field (X-Geo-*, or one geo.headers names)?  A client's are
 * never forwarded. */
bool edge_guard_geo_field(const struct config *cfg, struct str name);

/*
 * The node's shared tables for cfg: the rate-limit table, made once by the
 * first configuration with a rate_limit (a node without any pays nothing),
 * then kept across reloads.  Main thread, before the workers see cfg.
 */
void edge_guard_tables(struct edge_server *srv, const struct config *cfg);
/* At exit, after the workers: frees them. */
void edge_guard_tables_free(struct edge_server *srv);

/*
 * A connection accepted on a listener with proxy_protocol (listen):
 * takes ownership of fd.  Its PROXY header (v1 or v2) is read before
 * anything else — peeked, and consumed exactly, so not a byte of the TLS
 * ClientHello or request behind it is taken — within 5 s; then
 * edge_conn_accept runs with the source address the header carries (the
 * socket's for LOCAL and UNKNOWN).  A peer not in trusted_proxies, a
 * missing, malformed or late header closes the socket
 * (outpost_proxy_protocol_errors_total).  Worker thread.
 */
void edge_guard_pp_accept(struct edge_worker *w, int fd, const struct sockaddr *sa, int salen,
    const struct config_listen *listen);
/* Closes the connections still waiting for their header (worker teardown). */
void edge_guard_pp_abort_all(struct edge_worker *w);

#endif
