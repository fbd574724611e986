/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_fetch.h — a fetch: one exchange with an origin pool that knows
 * neither the client request nor its connection (the shape of Varnish's
 * busyobj).  The edge describes the backend request (struct edge_fetch_bereq,
 * written by the one builder, edge_fetch_bereq_write) and the fetch does the
 * rest: member choice (the pool's balancer, a step of its own so that other
 * sources can be tried first one day), resolution, connect or reuse of an
 * idle connection, retries (a kept-alive connection closed under it, another
 * address of the member's name, another member on a failure or a status in
 * retry_on), the pool's timeouts (connect, first byte, between bytes, send,
 * total), the 1xx cap, passive health, and the dechunk filter between the
 * origin's body and its sink.
 *
 * Modes: NORMAL (into a cache fill every reader reads back), PASS (straight
 * to one request), BACKGROUND (the store only: revalidation for
 * stale-while-revalidate, RFC 5861 §3).  Only BACKGROUND runs on this object
 * today; the client exchange (edge_proxy.c) shares its builders.
 *
 * A fetch owns itself: it is freed after it reported its end or its error to
 * its sink, and by edge_fetch_abort_all on drain and shutdown.  Worker
 * thread only.
 */
#ifndef OUTPOST_EDGE_EDGE_FETCH_H
#define OUTPOST_EDGE_EDGE_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "cache/cache.h"
#include "core/h1.h"
#include "core/str.h"

struct config;
struct config_pool;
struct config_route;
struct edge_gen;
struct edge_worker;
struct evbuffer;

#define EDGE_FETCH_BG_BUCKETS 64  /* background fetches: hash set buckets per worker */
#define EDGE_FETCH_BG_MAX     256 /* background fetches in flight per worker */

/* How the client's fields are filtered into the backend request. */
enum edge_fetch_fields {
	EDGE_FETCH_FIELDS_PASS = 0, /* as they are (but framing, hop-by-hop, ...) */
	EDGE_FETCH_FIELDS_CACHED,   /* the answer may be stored: the route's
	                               override fields go too */
	EDGE_FETCH_FIELDS_REFRESH,  /* a refresh for the store: also without
	                               preconditions, Range or cache directives */
};

/*
 * The backend request, as the edge describes it.  Views only: valid while
 * edge_fetch_bereq_write runs.
 */
struct edge_fetch_bereq {
	struct str method;
	struct str target;            /* the route's rewrite, or the request's */
	struct str host;              /* origin_host, or the request's authority */
	const struct h1_request *req; /* the client's fields (filtered) */
	const struct config_route *route;
	enum edge_fetch_fields fields;
	bool drop_range;               /* Range and If-Range not forwarded */
	uint64_t range_window;         /* > 0: "Range: bytes=0-(window - 1)" */
	const struct cache_obj *stale; /* its validators are sent, or NULL */
	bool inm;                      /* If-None-Match: stale's ETag (and its variants') */
	bool ims;                      /* If-Modified-Since: its Last-Modified */
	struct edge_worker *w;         /* for the variants' ETags */
	const char *key;               /* the URL key, for the same */
	size_t key_len;
	const char *peer;      /* the client address (X-Forwarded-For) */
	bool tls;              /* X-Forwarded-Proto */
	const char *node_name; /* Via */
	enum h1_body body;     /* the framing of the body sent, if any */
	uint64_t content_length;
};

/* Writes the backend request head described by b to out (the one builder of
 * backend requests).  Worker thread. */
void edge_fetch_bereq_write(const struct edge_fetch_bereq *b, struct evbuffer *out);
/* Client request fields of req never forwarded as they are: framing, Host,
 * Expect, the X-Forwarded-* the node writes itself, hop-by-hop fields
 * (including those the request's Connection names), names with '_' unless
 * the route has underscores_in_headers, and, for EDGE_FETCH_FIELDS_CACHED
 * and _REFRESH, the override fields the route strips (config.h
 * CONFIG_OVERRIDE_FIELDS); for _REFRESH also those that would make the
 * answer specific to one request (preconditions, Range, its cache
 * directives). */
bool edge_fetch_skip_field(const struct config_route *route, const struct h1_request *req,
    const struct h1_header *h, enum edge_fetch_fields fields);

/*
 * The one place an object is created from an origin's answer: the stored
 * head (status line and the end-to-end fields cache_policy_store_field
 * keeps, but Strict-Transport-Security when skip_sts and Content-Range when
 * skip_content_range, plus a Date when the origin sent none) under the
 * variant key (RFC 9111 §4.1) that req selects from url_key.  NULL when it
 * is not to be stored (the policy, cache.max_object by its Content-Length,
 * a Vary that cannot be keyed).  cfg: the request's configuration
 * (cache.max_object).  A new reference.  Worker thread.
 */
struct cache_obj *edge_fetch_obj_new(struct edge_worker *w, const struct config *cfg,
    const struct h1_request *req, const struct h1_response *resp, const char *url_key,
    size_t url_key_len, const struct cache_policy_conf *conf, time_t request_time,
    time_t response_time, bool skip_sts, bool skip_content_range);

/* RFC 9111 §4.3.4: when the 304 resp names by its ETag a variant of the URL
 * key in w's RAM tier, that variant replaces *stale (the reference is
 * dropped) as the response to update and serve; true then.  Worker thread. */
bool edge_fetch_select_variant(struct edge_worker *w, const char *key, size_t key_len,
    const struct h1_response *resp, struct cache_obj **stale);
/* After a 304 that named another variant o than the one req selects: o's
 * copy is stored as req's own variant too (cache_vary_for_request).  Worker
 * thread. */
void edge_fetch_store_for_request(
    struct edge_worker *w, const struct h1_request *req, struct cache_obj *o, time_t now);

/* What a background refresh needs (BACKGROUND mode). */
struct edge_fetch_bg {
	struct edge_gen *gen;           /* the request's configuration (a hold is taken) */
	const struct config_pool *pool; /* the route's pool, or its canary pool */
	uint64_t hash;                  /* balancer key */
	const char *key;                /* the URL key (copied) */
	size_t key_len;
	struct cache_obj *stale;       /* the stored object to refresh (a reference is taken) */
	struct cache_policy_conf conf; /* the route's policy settings */
	bool skip_sts;                 /* the site sets hsts */
};

/*
 * Makes sure a BACKGROUND fetch refreshes bg->stale, the stored object for
 * the key: its backend request is b (b->stale set: a conditional request).
 * A 304 that applies refreshes the object (RAM tier, disk queue), a
 * storable 200 is read whole (up to cache.max_object) and stored; anything
 * else just ends it.  One per key: in the worker's set of background fetches
 * and, across workers, by the key's entry in the server's fill table.
 * True when one already was in flight or has been started (the caller may
 * serve stale); false when none can run (draining, too many in flight, no
 * usable member or all at max_conns): the caller goes to the origin itself.
 * Worker thread.
 */
bool edge_fetch_background(
    struct edge_worker *w, const struct edge_fetch_bg *bg, const struct edge_fetch_bereq *b);
/* Drops every background fetch of the worker (drain, shutdown). */
void edge_fetch_abort_all(struct edge_worker *w);

#endif
