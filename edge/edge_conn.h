/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_conn.h — a client connection: the HTTP/1.1 server side, the
 * request pipeline (site/route selection, cache lookup, hits) and the
 * request side of a forwarded request (struct edge_forward; the exchange
 * with the origin is its fetch's, edge_fetch.h).
 *
 * A connection lives on one worker's loop, owns its socket and at most one
 * forwarded request at a time; pipelined requests wait
 * in the input buffer until the current response is queued.  The parsed
 * request head is copied to a per-connection buffer (head_buf), so its views
 * stay valid for the whole exchange while the input buffer moves on.
 */
#ifndef OUTPOST_EDGE_EDGE_CONN_H
#define OUTPOST_EDGE_EDGE_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <time.h>

#include "cache/cache.h"
#include "core/h1.h"
#include "edge/edge_guard.h"
#include "edge/edge_io.h"
#include "edge/edge_range.h"
#include "edge/edge_spool.h"

struct bufferevent;
struct event;
struct edge_worker;
struct edge_gen;
struct edge_hs_ip;
struct config_route;
struct config_site;
struct config_pool;
struct config_member;

#define EDGE_MAX_HEADERS    256 /* array size; the configured limit applies */
#define EDGE_REQUEST_ID_MAX 64  /* a client's X-Request-Id is kept up to this length */

enum edge_conn_state {
	EDGE_CONN_READ_HEAD = 0, /* waiting for (more of) a request head */
	EDGE_CONN_PROXY,         /* the request goes to the origin (edge_forward.c) */
	EDGE_CONN_CLOSING,       /* flushing output, then close */
	EDGE_CONN_COLLAPSED,     /* streaming a fill a fetch writes (edge_collapse.c) */
	EDGE_CONN_PURGE,         /* a PURGE is carried out by the purge thread
	                            (edge_purge.h); reading nothing meanwhile */
};

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
	bool client_chunked;            /* we chunk-encode towards the client */
	struct edge_spool spool;        /* the buffered body (zeroed: empty) */
	uint64_t spool_sent;            /* bytes of spool queued towards the origin */
	struct h1_chunked req_dec;
	uint64_t req_remaining; /* LENGTH request body bytes left */
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

	/* Range / If-Range not forwarded: the window the cache may fill from
	 * is asked instead (the whole object when it fits) and the client's
	 * ranges are cut here; cut.active: the client gets a 206 or 416 */
	bool range_strip;
	bool range_whole; /* the origin's 206 held the whole representation: a 200 */
	struct edge_range_cut cut;

	/* a stored object answers when the fetch ends (a 304 that refreshed
	 * it, stale-if-error): owned, or NULL */
	struct cache_obj *answer;
	bool answer_stale; /* counted as stale served */
	char answer_cs[96];
};

struct edge_conn {
	unsigned magic;         /* EDGE_CONN_MAGIC */
	struct edge_conn *next; /* worker's list */
	struct edge_conn *prev;
	struct edge_worker *w;
	struct edge_gen *gen;  /* held: the configuration of the current request */
	struct edge_io io;     /* the client socket */
	struct edge_hs_ip *hs; /* counted as a TLS handshake in progress */
	uint32_t ip_slot[2];   /* counted in srv->conn_ip (edge_ip_enter) while the
	                          socket is open; [0] EDGE_IP_NONE after */
	struct event *timer;   /* idle / header timeout */
	bool timer_is_header;
	bool idle_release; /* timer: the first step of the idle timeout, after
	                      which the request buffers go (edge_conn.c) */
	enum edge_conn_state state;
	bool keep_alive; /* this request allows another after it */
	bool client_eof; /* the client half-closed: no further requests */
	bool dead;       /* free once the outermost callback returns */
	bool lingering;  /* output flushed, write side shut, draining input */
	bool processing; /* inside conn_process (it loops by itself) */
	bool tls;        /* accepted on a TLS listener (io.ssl set) */
	unsigned cb_depth;
	unsigned requests;
	char peer[INET6_ADDRSTRLEN];
	struct policy_addr peer_addr; /* peer, parsed */
	/* the current request's client: peer, or what a trusted proxy said
	 * (edge_guard_client); logs, limits, ip_hash and canary use it */
	struct edge_guard_client client;
	struct edge_guard_scratch guard; /* the policy stage's (edge_guard.h) */

	/* current request */
	struct h1_request req;
	struct h1_header *hdrs; /* req.headers: a copy of the parsed fields */
	size_t hdrs_cap;
	char *head_buf; /* a copy of the request head; views point here */
	size_t head_cap;
	const struct config_site *site; /* selected for this request, or NULL */
	const struct config_route *route;
	const struct config_pool *pool; /* route's pool, or its canary pool */
	struct str up_target;           /* target sent to the origin (rewritten, or
	                                   req.path) */
	struct str up_host;             /* Host sent to the origin (origin_host, or
	                                   req.authority) */
	char *up_buf;                   /* a rewritten target (grown as needed) */
	size_t up_cap;
	uint64_t start_us; /* monotonic: the request head was parsed */
	int status;        /* status sent, for the access log */
	uint64_t bytes_out;
	const char *cache_status;              /* "HIT", "MISS", "PASS" or "-" */
	bool stale_served;                     /* a stale stored response answered */
	bool disk_hit;                         /* the stored response came from the disk tier */
	char rid[EDGE_REQUEST_ID_MAX + 1];     /* the request id (edge_conn_request_id) */
	uint8_t rid_len;                       /* 0 until it is needed */
	const struct config_member *up_member; /* the origin member that answered, or NULL */
	uint64_t up_first_us;                  /* its first-byte time */
	const char *fwd;                       /* Cache-Status fwd= value of a forwarded request */
	char host_lc[256];
	size_t host_lc_len;
	char *key; /* normalized cache key (grown as needed) */
	size_t key_cap;
	int key_len; /* -1 when no key */

	struct edge_forward fw;

	/* reading a collapsed fill (edge_collapse.c) */
	struct cache_fill *cf;      /* one reference, or NULL */
	struct cache_obj *cf_stale; /* a waiter's stale entry (owned), for when it
	                               goes to the origin on its own */
	struct cache_fill_reader cf_rd;
	struct edge_conn *cf_next; /* worker's list of fill readers */
	struct edge_conn *cf_prev;
	bool cf_listed;                   /* in that list */
	bool cf_head_sent;                /* the response head is in the output */
	bool cf_chunked;                  /* the body is chunk-encoded towards the client */
	struct edge_purge_job *purge_job; /* EDGE_CONN_PURGE: the purge carried out */

	/* what the fill this connection led pins, charged to its client
	 * address (cache.fill_per_client): handed over by its fetch at the end,
	 * kept until the client has read the fill (edge_forward_unpin) */
	struct cache_mem_client *pin_cl; /* one reference, or NULL */
	uint64_t pin_bytes;
};

/* Takes ownership of fd, an accepted client socket (tls: the TLS listener it
 * came from, NULL for a plain one).  Worker thread. */
struct config_listen;
void edge_conn_accept(struct edge_worker *w, int fd, const struct sockaddr *sa, int salen,
    const struct config_listen *tls);
/* Drain: idle connections close now, busy ones after their current response. */
void edge_conn_drain(struct edge_conn *c);
/* Hard close (drain timeout, shutdown). */
void edge_conn_abort(struct edge_conn *c);

/* ---- used by edge_forward.c and edge_collapse.c ---- */

/* Every callback that carries a connection brackets its work with these; a
 * connection closed inside is freed by the outermost leave, which then returns
 * false. */
void edge_conn_enter(struct edge_conn *c);
bool edge_conn_leave(struct edge_conn *c);

/* The response to the current request is complete in the output buffer (or the
 * connection must close): log it, then read the next request or close. */
void edge_conn_response_done(struct edge_conn *c);
/* The current request's id (X-Request-Id): the client's when it is valid and
 * log.request_id.keep_client is set, else one of the node's (32 hex digits:
 * the worker's random prefix and a sequence), made on the first call.  Valid
 * until the next request on c.  Worker thread. */
struct str edge_conn_request_id(struct edge_conn *c);
/* Answers the current request with a short text/plain error and closes. */
void edge_conn_send_error(struct edge_conn *c, int status, const char *msg);
/* A complete response of the node's own that keeps the connection: status,
 * one more field name: value unless name is NULL, and a short body of the
 * given Content-Type (its length only, for HEAD). */
void edge_conn_send_typed(struct edge_conn *c, int status, const char *type, const char *name,
    const char *value, const char *body);
/* Writes the head of a response built from the stored o (edge_resp_stored:
 * its status line and fields, Age, Via, "X-Cache: xcache", "Cache-Status:
 * outpost; cs") framed by length (Content-Length, after Accept-Ranges when
 * accept_ranges), or, when length is -1, chunked (HTTP/1.1) or by closing
 * (HTTP/1.0); no framing for a 204.  Sets c->status and c->cache_status;
 * counts the bytes. */
void edge_conn_write_stored_head(struct edge_conn *c, struct cache_obj *o, const char *xcache,
    const char *cs, int64_t length, bool accept_ranges);
/* The same as edge_conn_send_error with one more field, name: value (e.g.
 * Retry-After), unless name is NULL. */
void edge_conn_send_error_with(
    struct edge_conn *c, int status, const char *name, const char *value, const char *msg);
/* Answers the current request from the stored o (a reference is taken for
 * the output): 200 with the body, or 304 / 412 per the request's
 * preconditions, then 206 / 416 per its Range (core/range.h), with X-Cache:
 * HIT and "Cache-Status: outpost; <cs>". */
void edge_conn_serve_stored(struct edge_conn *c, struct cache_obj *o, const char *cs);
/* Closes the connection now (e.g. an origin failed after the head was sent). */
void edge_conn_close(struct edge_conn *c);

#endif
