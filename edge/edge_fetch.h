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
 * Modes: NORMAL (into a cache fill every reader reads back, the request's
 * own client included: the fetch never waits for a client), PASS (straight
 * to one request, through a sink the request side provides, with its
 * backpressure), BACKGROUND (the store only: revalidation for
 * stale-while-revalidate, RFC 5861 §3).  The request side (edge_forward.c)
 * is the body source and decides on the final head (revalidation, range
 * window, stale-if-error, what is stored).
 *
 * A fetch owns itself: it is freed after it reported its end or its error,
 * when the request side cancels it, and by edge_fetch_abort_* on drain and
 * shutdown.  Worker thread only.
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

#define EDGE_FETCH_BG_BUCKETS 64 /* background fetches: hash set buckets per worker */
#define EDGE_ORIGIN_MAX_HEAD  (64 * 1024)
#define EDGE_MAX_INTERIM      16  /* 1xx responses before the final one, per try */
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
	const struct config *cfg; /* the request's snapshot (geo field names) */
	struct str guard_fields;  /* the policy stage's field lines (X-Geo-*, claims), each
	                             ending in CRLF; may be empty */
	bool drop_range;          /* Range and If-Range not forwarded */
	uint64_t range_window;    /* > 0: "Range: bytes=offset-(offset + window - 1)" */
	uint64_t range_offset;
	struct str if_range;           /* with range_window: sent as If-Range unless empty */
	const struct cache_obj *stale; /* its validators are sent, or NULL */
	bool inm;                      /* If-None-Match: stale's ETag (and its variants') */
	bool ims;                      /* If-Modified-Since: its Last-Modified */
	struct edge_worker *w;         /* for the variants' ETags */
	const char *key;               /* the URL key, for the same */
	size_t key_len;
	const char *peer;      /* the client address (X-Forwarded-For) */
	bool tls;              /* X-Forwarded-Proto */
	const char *node_name; /* Via */
	bool via_h2;           /* the client's request came over HTTP/2: "Via: 2" */
	struct str request_id; /* X-Request-Id, or empty */
	bool only_if_cached;   /* Cache-Control: only-if-cached (a sibling's copy, no fill) */
	struct str hop;        /* to a sibling (origin_sibling.h): the hop marker's value; the
	                          route's request rules and guard_fields are the owner's to apply */
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

/* X-Cache or Cache-Status: what a node says of its cache (a sibling's is
 * neither relayed nor stored; the asking node says its own). */
bool edge_fetch_cache_status_field(struct str name);

/* Fields of an answer edge_fetch_obj_new leaves out of the stored head. */
#define EDGE_FETCH_SKIP_STS           1u /* Strict-Transport-Security (the site sets hsts) */
#define EDGE_FETCH_SKIP_CONTENT_RANGE 2u /* a 206 that held the whole representation */
#define EDGE_FETCH_SKIP_CACHE_STATUS  4u /* X-Cache, Cache-Status (a sibling's answer) */

/*
 * The one place an object is created from an origin's answer: the stored
 * head (status line and the end-to-end fields cache_policy_store_field
 * keeps, but those skip names (EDGE_FETCH_SKIP_*), plus a Date when the
 * origin sent none) under the
 * variant key (RFC 9111 §4.1) that req selects from url_key.  NULL when it
 * is not to be stored (the policy, cache.max_object by its Content-Length,
 * a Vary that cannot be keyed).  cfg: the request's configuration
 * (cache.max_object).  A new reference.  Worker thread.
 */
struct cache_obj *edge_fetch_obj_new(struct edge_worker *w, const struct config *cfg,
    const struct h1_request *req, const struct h1_response *resp, const char *url_key,
    size_t url_key_len, const struct cache_policy_conf *conf, time_t request_time,
    time_t response_time, unsigned skip);

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
	bool sibling;                  /* pool is the siblings': the key's owner answers */
	unsigned skip_member;          /* with sibling: this node, never picked */
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

/* ---- NORMAL and PASS: a fetch for a request ---- */

struct edge_fetch;
struct edge_compress;
struct cache_mem_client;

/* What the request side decides on the final head (edge_fetch_client.on_head). */
enum edge_fetch_verdict {
	EDGE_FETCH_READ = 0, /* read the body: into the store (edge_fetch_store) and, unless
	                        the body goes to a fill (NORMAL), to on_body (PASS) */
	EDGE_FETCH_DONE,     /* over without a body: the origin connection may be kept */
	EDGE_FETCH_STOP,     /* over: the origin connection is dropped */
	EDGE_FETCH_AGAIN,    /* the answer is not used: the same member is asked again on a
	                        new connection (send writes the head anew) */
};

/* Why a fetch ended without an answer (edge_fetch_client.on_error). */
enum edge_fetch_error {
	EDGE_FETCH_E_ORIGIN = 0,  /* the origin failed: status and msg describe it */
	EDGE_FETCH_E_UNAVAILABLE, /* no member was usable at all */
	EDGE_FETCH_E_BUSY,        /* every usable member at max_conns, no room or time to wait */
};

/*
 * The request side of a NORMAL or PASS fetch: the body source (send,
 * writable, sent) and the sink.  The fetch calls them with arg; enter and
 * leave bracket each of its event callbacks that reach the request side.
 * on_end and on_error are the last calls: the fetch lets go of the request
 * side before them (its origin connection is back in the idle pool or
 * closed, its member released), and the request side drops its pointer.
 */
struct edge_fetch_client {
	void (*enter)(void *arg);
	void (*leave)(void *arg);
	/* A try begins on a connection: write the request head (and what there
	 * is of the body) to out. */
	void (*send)(void *arg, struct evbuffer *out);
	/* The origin's output drained below the mark edge_fetch_write_lowmark set. */
	void (*writable)(void *arg, struct evbuffer *out);
	/* Is the whole request in the origin's output (may the connection carry
	 * another)? */
	bool (*sent)(void *arg);
	/* A 1xx interim response (views valid during the call). */
	void (*on_interim)(void *arg, const struct h1_response *resp);
	/* The final head (views valid during the call; the request side may
	 * take a 206 that holds the whole representation for the 200 it is). */
	enum edge_fetch_verdict (*on_head)(
	    void *arg, struct edge_fetch *f, struct h1_response *resp);
	/* PASS: n body bytes at the front of in, after the dechunk filter: the
	 * sink moves or drains all of them; true when it wants no more until
	 * edge_fetch_resume (its client's output is full). */
	bool (*on_body)(void *arg, struct evbuffer *in, size_t n);
	/* Over: the body is whole (PASS), or a DONE / STOP verdict took effect. */
	void (*on_end)(void *arg);
	/* Over without an answer (the fetch counted it). */
	void (*on_error)(void *arg, enum edge_fetch_error e, int status, const char *msg);
	/* NORMAL: the fill grew (the reader that leads it may send more). */
	void (*on_fill)(void *arg);
	/* NORMAL: the fetch ended (the fill is done or failed); the charge of
	 * cache.fill_per_client passes to the request side (cl, bytes: NULL, 0
	 * when none), which keeps it until its client has read the fill. */
	void (*on_fill_end)(void *arg, struct cache_mem_client *cl, uint64_t bytes);
};

enum edge_fetch_mode {
	EDGE_FETCH_NORMAL = 0, /* the body goes into a cache fill every reader reads back */
	EDGE_FETCH_PASS,       /* the body goes to one request (on_body) */
	EDGE_FETCH_BACKGROUND, /* the store only (edge_fetch_background) */
};

/* What a request's fetch needs. */
struct edge_fetch_req {
	enum edge_fetch_mode mode;      /* NORMAL or PASS (a NORMAL fetch whose answer may not
	                                   be stored streams as a PASS) */
	struct edge_gen *gen;           /* the request's configuration (a hold is taken) */
	const struct config_pool *pool; /* the route's pool, or its canary pool */
	uint64_t hash;                  /* balancer key */
	bool head_method;               /* a HEAD: no response body */
	bool retry_safe;                /* idempotent and without a body (RFC 9110 §9.2.2) */
	const char *peer;               /* the client address (cache.fill_per_client) */
	bool skip;                      /* skip_member is never asked (a sibling: this node) */
	unsigned skip_member;
	bool cache_only;  /* a 504 (only-if-cached missed) ends it with on_error */
	bool store_waits; /* a fill stored while memory (cache.ram + cache.fill_memory)
	                     or the disk tier's write queue is full waits for room
	                     while the disk writer drains the queue (until it has
	                     written nothing for EDGE_FETCH_STORE_WAIT_MS), rather
	                     than go unstored at once (slices: nobody is served
	                     faster) */
	const struct edge_fetch_client *client;
	void *arg;
};

#define EDGE_FETCH_STORE_WAIT_MS 10000

/* A fetch for a request; nothing happens before edge_fetch_start.  Worker
 * thread. */
struct edge_fetch *edge_fetch_new(struct edge_worker *w, const struct edge_fetch_req *r);
/* timeouts.total starts, then a member is picked (or the fetch waits in the
 * pool's queue when each is at its max_conns).  The fetch may end inside
 * (on_error). */
void edge_fetch_start(struct edge_fetch *f);
/* The request side lets go of *fp (NULLed): a NORMAL fetch whose body goes
 * into a fill goes on for the fill's other readers (unless the worker
 * drains) and stops by itself when none is left and nothing is stored;
 * any other fetch is cancelled. */
void edge_fetch_detach(struct edge_fetch **fp);
/* During on_head: the answer is stored as fill (taken; NULL: not stored),
 * and, when cf (taken) is set, its body goes into that fill (NORMAL: the
 * request side reads it back like every reader) instead of on_body. */
void edge_fetch_store(struct edge_fetch *f, struct cache_obj *fill, struct cache_fill *cf);
/* During on_head: the answer, a 206, is stored as the part part (taken) of
 * its representation, combined with the one stored (edge_partial.h). */
void edge_fetch_store_part(struct edge_fetch *f, struct cache_obj *part);
/* During on_head: z (taken; NULL: none) codes or decodes the body after
 * the dechunk filter, before the store and the sink (edge_compress.h); the
 * head the request side rewrote for it is what it stores and sends, the
 * origin's framing is what the fetch reads. */
void edge_fetch_filter(struct edge_fetch *f, struct edge_compress *z);
/* PASS: on_body asked for a pause; the client's output has room again. */
void edge_fetch_resume(struct edge_fetch *f);
/* The origin connection's output (the request body goes there), or NULL
 * while there is none. */
struct evbuffer *edge_fetch_output(struct edge_fetch *f);
/* Calls writable when the origin's output drains to low bytes. */
void edge_fetch_write_lowmark(struct edge_fetch *f, size_t low);
/* When the request went out (time_now()) and the ban clock then. */
time_t edge_fetch_request_time(const struct edge_fetch *f);
uint64_t edge_fetch_ban_gen(const struct edge_fetch *f);
/* The member of the current try (its config's, valid while the fetch's
 * configuration is held) and the microseconds from the exchange's start to
 * the origin's response head (on a head callback). */
const struct config_member *edge_fetch_member(const struct edge_fetch *f);
uint64_t edge_fetch_first_byte_us(const struct edge_fetch *f);

/* Drops every background fetch of the worker (drain). */
void edge_fetch_abort_background(struct edge_worker *w);
/* Drops every fetch the worker still runs (shutdown). */
void edge_fetch_abort_all(struct edge_worker *w);

#endif
