/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_forward.h — the request side of a request that goes to the
 * origin (a miss, a pass, a revalidation): it describes the backend
 * request, is the fetch's body source (the request body read whole first —
 * the route's request_buffering: memory, then an unlinked temporary file,
 * edge_spool.h — or streamed), decides on the origin's head (revalidation,
 * the range window, stale-if-error, what is stored), and is the sink of a
 * PASS fetch (the response streams to the client with backpressure, never
 * held whole).  The exchange itself is the fetch's (edge_fetch.h).  Worker
 * thread only.
 */
#ifndef OUTPOST_EDGE_EDGE_FORWARD_H
#define OUTPOST_EDGE_EDGE_FORWARD_H

#include <stdbool.h>
#include <stdint.h>

#include "cache/cache.h"
#include "core/h1.h"
#include "edge/edge_fetch.h"
#include "edge/edge_range.h"
#include "edge/edge_spool.h"
#include "origin/origin_sibling.h"

struct cache_obj;
struct cache_policy_conf;
struct config_pool;
struct edge_req;
struct edge_fetch;
struct h1_response;

/*
 * The request side of a request forwarded to the origin (edge_forward.c):
 * its fetch, its body source, and what it decided on the origin's head.
 * All zero while no request is forwarded (edge_forward_abort zeroes it);
 * the caller sets revalidate, reval_* and cf before edge_forward_start.
 */
struct edge_forward {
	struct edge_fetch *fetch;       /* while attached, or NULL */
	const struct config_pool *pool; /* the route's, or its canary's */
	bool store;                     /* the response may be stored */
	bool buffering;                 /* reading the request body whole (request_buffering)
	                                   before the fetch starts */
	bool head_sent;                 /* the response head is in the client's output */
	bool req_body_done;             /* request body fully read (and forwarded) */
	bool buffered;                  /* the body is read whole into spool first */
	struct edge_spool spool;        /* the buffered body (zeroed: empty) */
	uint64_t spool_sent;            /* bytes of spool queued towards the origin */
	uint64_t req_body_bytes;
	uint64_t body_start_ms;  /* monotonic: the request body began */
	uint64_t body_paused_ms; /* time its reading waited for the origin */
	uint64_t body_pause_ms;  /* monotonic start of such a wait, or 0 */

	struct cache_obj *stale;        /* stored stale response (revalidated, or kept
	                                   for stale-if-error), owned, or NULL */
	bool revalidate;                /* conditional request for stale */
	bool reval_inm;                 /* we add If-None-Match: stale's ETag */
	bool reval_ims;                 /* we add If-Modified-Since: its Last-Modified */
	bool reval_client;              /* the client sent validators of its own */
	struct cache_fill *cf;          /* the fill this request leads, until its fetch takes it */
	const struct h1_response *resp; /* the origin's head, while it is decided on */
	bool sibling;                   /* the fetch asks the key's owner sibling */
	bool sibling_failed;            /* it failed before its answer: the origin is asked */
	bool grace;                     /* with sibling: this node owns the key since the last
	                                   membership change; its previous owner is asked
	                                   for a copy it holds (siblings.grace) */
	bool grace_done;                /* that was tried: the origin is asked */

	/* Range / If-Range not forwarded: the window the cache may fill from
	 * is asked instead (the whole object when it fits) and the client's
	 * ranges are cut here; cut.active: the client gets a 206 or 416 */
	bool range_strip;
	bool to_slices;   /* the origin's 200 is too big to store: slices answer instead */
	bool range_asis;  /* set before edge_forward_start: the client's Range goes as
	                     it is (slices gave up on it: edge_slice.h) */
	bool range_whole; /* the origin's 206 held the whole representation: a 200 */
	struct edge_range_cut cut;

	/* a GET completing a stored part of its object (edge_partial.h): the
	 * origin is asked for the bytes from part_end on, with If-Range
	 * part_validator (a view into part); when it answers with them
	 * (part_tail), the client gets a 200 of the part's bytes then the
	 * origin's; else the request goes again, whole.  part: owned, or NULL */
	struct cache_obj *part;
	uint64_t part_end;
	uint64_t part_length;
	struct str part_validator;
	bool part_tail;

	/* a stored object answers when the fetch ends (a 304 that refreshed
	 * it, stale-if-error): owned, or NULL */
	struct cache_obj *answer;
	bool answer_stale; /* counted as stale served */
	char answer_cs[96];
};

/* Starts forwarding req to pool.  store: the response may be
 * stored in the cache (the policy still decides).  stale (owned, may be NULL):
 * the stored stale response for the key — the request is sent as a
 * conditional request for it when req->fw.revalidate is set (a 304 refreshes
 * it and the client is answered from it), and it answers instead of an
 * origin error when stale-if-error allows.  req->fw.cf: the fill req leads
 * (edge_collapse_begin), if any: the fetch is NORMAL then, else PASS.
 * Completion is reported through edge_req_finish /
 * edge_req_send_error / edge_deliver_stored and its transport
 * (edge_req_finish, edge_req_abort). */
void edge_forward_start(
    struct edge_req *req, const struct config_pool *pool, bool store, struct cache_obj *stale);
/* More request bytes arrived from the client. */
void edge_forward_on_client_readable(struct edge_req *req);
/* The client's output buffer drained below the low watermark. */
void edge_forward_on_client_writable(struct edge_req *req);
/* Is req's body still being read from the client (its body timer runs)? */
bool edge_forward_reading_body(const struct edge_req *req);
/* req's body timer fired (timeouts.body, timeouts.body_total or
 * limits.body_min_rate): 408 while no head was sent, else the connection
 * closes. */
void edge_forward_body_timeout(struct edge_req *req);
/* The balancer key of req for pool: the client address for ip_hash,
 * the pool's hash_key for consistent_hash, else 0. */
uint64_t edge_forward_hash(const struct edge_req *req, const struct config_pool *pool);
/* stale-while-revalidate (RFC 5861 §3): makes sure a BACKGROUND fetch
 * (edge_fetch.h) refreshes stale, the stored object for req
 * key, built from req (target, Host, end-to-end fields without
 * preconditions, Range or cache directives) and stale's validators.  True
 * when one was in flight or has been started (the caller may serve stale),
 * false when none can (a request with a body among them): the caller goes to
 * the origin in the foreground. */
bool edge_forward_background(struct edge_req *req, struct cache_obj *stale);
/* The backend request for req as it is (b, views into req): the route's
 * rewrite, origin_host and request header rules, the client's fields
 * (filtered per fields), no validators, no body. */
void edge_forward_bereq(
    struct edge_req *req, enum edge_fetch_fields fields, struct edge_fetch_bereq *b);
/* Makes the backend request b (edge_forward_bereq) one for the owner among
 * the siblings (origin_sibling.h): the client's target and authority, and
 * the hop marker, written to hop (which b then points into). */
void edge_forward_bereq_sibling(
    const struct edge_req *req, struct edge_fetch_bereq *b, char hop[ORIGIN_SIBLING_MARK_LEN + 1]);
/* Does the cache key key (key_len bytes) of req go to its owner among the
 * siblings: req may be asked of a sibling (a GET or HEAD without a body, not
 * a sibling's own request, not on a vary_geo or canary route) and the
 * key's owner (rendezvous hashing over the usable members) is another node?
 * *hash: the key's. */
bool edge_forward_sibling_owner(
    const struct edge_req *req, const char *key, size_t key_len, uint64_t *hash);
/* The cache policy settings for req: its route's default_ttl, the
 * node's cache.heuristic_max, and the route's grace or else the node's. */
void edge_forward_policy_conf(const struct edge_req *req, struct cache_policy_conf *conf);
/* A GET without Range that missed its URL key, whose object has a stored
 * part holding its first bytes with a strong validator: the forward that
 * follows asks the origin for the rest only (struct edge_forward.part).
 * True when set up; the caller then forwards without collapsing. */
bool edge_forward_complete_part(struct edge_req *req);
/* Ends req's forwarding, if any: its fetch is let go (a fill others read goes
 * on without it), what it holds released, req->fw zeroed.  Client gone, error,
 * connection freed. */
void edge_forward_abort(struct edge_req *req);
/* Drops what req's fills charged to its client address (cache.fill_per_client):
 * its client has read them, or is gone.  Idempotent. */
void edge_forward_unpin(struct edge_req *req);

#endif
