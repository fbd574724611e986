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
/* Client request fields of c's request never forwarded as they are: framing,
 * Host, Expect, the X-Forwarded-* the node writes itself, hop-by-hop fields
 * (including those the request's Connection names), names with '_' unless
 * the route has underscores_in_headers, and, when the answer may be stored
 * (cached), the override fields the route strips (config.h
 * CONFIG_OVERRIDE_FIELDS). */
bool edge_proxy_skip_request_field(
    const struct edge_conn *c, const struct h1_header *h, bool cached);
/* RFC 9111 §4.3.1: when the stale response being revalidated has an ETag,
 * appends an If-None-Match line to out with it and each other ETag of the
 * variants of the URL key in w's RAM tier, each once.  Worker thread. */
void edge_proxy_add_if_none_match(struct edge_worker *w, const char *key, size_t key_len,
    const struct cache_obj *stale, struct evbuffer *out);
/* RFC 9111 §4.3.4: when the 304 resp names by its ETag a variant of the URL
 * key in w's RAM tier, that variant replaces *stale (the reference is
 * dropped) as the response to update and serve; true then.  Worker thread. */
bool edge_proxy_select_variant(struct edge_worker *w, const char *key, size_t key_len,
    const struct h1_response *resp, struct cache_obj **stale);
/* After a 304 that named another variant o than the one req selects: o's
 * copy is stored as req's own variant too (cache_vary_for_request).  Worker
 * thread. */
void edge_proxy_store_for_request(
    struct edge_worker *w, const struct h1_request *req, struct cache_obj *o, time_t now);
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
