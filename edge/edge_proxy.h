/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_proxy.h — the upstream exchange of a client connection: member
 * choice, resolution (c-ares), connect or reuse, the request head and body
 * towards the origin, the response head and body back to the client, and the
 * cache fill on the way.  A request body is read whole first (the route's
 * request_buffering: memory, then an unlinked temporary file, edge_spool.h)
 * or streamed; the response streams with backpressure and is never held
 * whole.  Worker thread only.
 */
#ifndef OUTPOST_EDGE_EDGE_PROXY_H
#define OUTPOST_EDGE_EDGE_PROXY_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct edge_conn;
struct edge_worker;
struct evbuffer;
struct h1_header;
struct h1_request;
struct h1_response;
struct config_pool;
struct cache_policy_conf;

/* Starts forwarding c's current request to pool.  store: the response may be
 * stored in the cache (the policy still decides).  stale (owned, may be NULL):
 * the stored stale response for the key — the request is sent as a
 * conditional request for it when c->px.revalidate is set (a 304 refreshes
 * it and the client is answered from it), and it answers instead of an
 * origin error when stale-if-error allows.  Completion is reported through
 * edge_conn_response_done / edge_conn_send_error / edge_conn_close /
 * edge_conn_serve_stored. */
struct cache_obj;
void edge_proxy_start(
    struct edge_conn *c, const struct config_pool *pool, bool store, struct cache_obj *stale);
/* More request bytes arrived from the client. */
void edge_proxy_on_client_readable(struct edge_conn *c);
/* The client's output buffer drained below the low watermark. */
void edge_proxy_on_client_writable(struct edge_conn *c);
/* The balancer key of c's request for pool: the client address for ip_hash,
 * the pool's hash_key for consistent_hash, else 0. */
uint64_t edge_proxy_hash(const struct edge_conn *c, const struct config_pool *pool);
/* stale-while-revalidate (RFC 5861 §3): makes sure a BACKGROUND fetch
 * (edge_fetch.h) refreshes stale, the stored object for c's current request
 * key, built from c's request (target, Host, end-to-end fields without
 * preconditions, Range or cache directives) and stale's validators.  True
 * when one was in flight or has been started (the caller may serve stale),
 * false when none can (a request with a body among them): the caller goes to
 * the origin in the foreground. */
bool edge_proxy_background(struct edge_conn *c, struct cache_obj *stale);
/* The cache policy settings for c's request: its route's default_ttl, the
 * node's cache.heuristic_max, and the route's grace or else the node's. */
void edge_proxy_policy_conf(const struct edge_conn *c, struct cache_policy_conf *conf);
/* Releases everything the exchange holds (client gone or error). */
void edge_proxy_abort(struct edge_conn *c);
/* Drops what c's fills charged to its client address (cache.fill_per_client):
 * its client has read them, or is gone.  Idempotent. */
void edge_proxy_unpin(struct edge_conn *c);
/* edge_proxy_abort, then frees what the connection keeps between exchanges
 * (the timeouts.total timer).  When c is freed. */
void edge_proxy_free(struct edge_conn *c);

#endif
