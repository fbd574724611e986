/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_conn.h — a client connection: the HTTP/1.1 server side, the
 * request pipeline (site/route selection, cache lookup, hits) and the state
 * of the upstream exchange the proxy runs for it.
 *
 * A connection lives on one worker's loop, owns its bufferevent (which owns
 * the fd) and at most one upstream exchange at a time; pipelined requests wait
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
#include "edge/edge_io.h"
#include "edge/edge_range.h"
#include "edge/edge_spool.h"
#include "origin/origin_pool.h"

struct bufferevent;
struct event;
struct edge_worker;
struct edge_gen;
struct edge_hs_ip;
struct config_route;
struct config_site;
struct config_pool;
struct origin_dns_query;

#define EDGE_MAX_HEADERS     256 /* array size; the configured limit applies */
#define EDGE_ORIGIN_MAX_HEAD (64 * 1024)
#define EDGE_PROXY_MAX_TRIES 8  /* 1 + CONFIG_RETRIES_MAX */
#define EDGE_MAX_INTERIM     16 /* 1xx responses before the final one, per try */

enum edge_conn_state {
	EDGE_CONN_READ_HEAD = 0, /* waiting for (more of) a request head */
	EDGE_CONN_PROXY,         /* an upstream exchange is running */
	EDGE_CONN_CLOSING,       /* flushing output, then close */
	EDGE_CONN_COLLAPSED,     /* streaming a fill another exchange writes (or its
	                            own exchange wrote; edge_collapse.c) */
	EDGE_CONN_PURGE,         /* a PURGE is carried out by the purge thread
	                            (edge_purge.h); reading nothing meanwhile */
};

enum edge_proxy_state {
	EDGE_PROXY_IDLE = 0,
	EDGE_PROXY_RESOLVING,
	EDGE_PROXY_CONNECTING,
	EDGE_PROXY_WAIT_HEAD,  /* request sent (body may still stream) */
	EDGE_PROXY_RELAY_BODY, /* response head sent to the client */
	EDGE_PROXY_QUEUED,     /* waiting for a member below max_conns */
	EDGE_PROXY_BUFFERING,  /* reading the request body whole (request_buffering)
	                          before a member is asked */
};

struct edge_proxy {
	enum edge_proxy_state state;
	struct bufferevent *obev; /* origin connection, owned */
	struct origin_dns_query *dnsq;
	unsigned pool_idx;
	unsigned member_idx;
	const struct config_pool *pool;
	bool reused; /* obev came from the idle pool */
	bool retried;
	bool got_bytes;          /* any response byte arrived */
	unsigned n_interim;      /* 1xx responses read in this try */
	bool req_body_done;      /* request body fully forwarded */
	bool store;              /* the response may be stored */
	bool client_chunked;     /* we chunk-encode towards the client */
	bool client_until_close; /* body delimited by closing (HTTP/1.0 client) */
	bool origin_reusable;
	bool counted;       /* origin_balance_begin and origin_pool_acquire done for member_idx */
	bool woken;         /* proxy_begin runs from the wait queue */
	unsigned conn_uses; /* requests sent on obev, this one included */
	struct event *total_timer;      /* timeouts.total; made on first use, kept */
	struct event *fill_timer;       /* polls a paused unstored fill; ditto */
	struct sockaddr_storage addr;   /* the address obev connected to, when */
	socklen_t addrlen;              /* it was made for this try (else 0) */
	unsigned addr_retries;          /* tries moved to another address of a name */
	bool may_reuse;                 /* this try may take an idle connection */
	struct origin_pool_waiter wait; /* queue entry (max_conns) */
	uint64_t wait_deadline_ms;      /* 0 until the request first queues */
	unsigned tries;                 /* members tried, the current one included */
	unsigned tried[EDGE_PROXY_MAX_TRIES];
	uint64_t hash;   /* balancer key (ip_hash, consistent_hash) */
	uint64_t try_ms; /* monotonic start of the current try */
	int fail_status; /* the last try's error, answered when no member is left */
	const char *fail_msg;
	uint64_t req_remaining; /* LENGTH request body bytes left */
	uint64_t req_body_bytes;
	uint64_t body_start_ms;  /* monotonic: the request body began */
	uint64_t body_paused_ms; /* time its reading waited for the origin */
	uint64_t body_pause_ms;  /* monotonic start of such a wait, or 0 */
	bool buffered;           /* the body is read whole into spool first */
	struct edge_spool spool; /* the buffered body (zeroed: empty) */
	uint64_t spool_sent;     /* bytes of spool queued towards the origin */
	struct h1_chunked req_dec;
	struct h1_chunked resp_dec;
	uint64_t resp_remaining;
	struct h1_response resp; /* header views valid only while the head is
	                            handled (worker scratch + origin input) */
	time_t request_time;
	uint64_t ban_gen;        /* cache_ban_clock() when the request went out */
	struct cache_obj *fill;  /* object being built, or NULL */
	struct cache_obj *stale; /* stored stale response (revalidated, or kept
	                            for stale-if-error), owned, or NULL */
	bool revalidate;         /* conditional request for stale */
	bool reval_inm;          /* we add If-None-Match: stale's ETag */
	bool reval_ims;          /* we add If-Modified-Since: its Last-Modified */
	bool reval_client;       /* the client sent validators of its own */
	struct cache_fill *cf;   /* the collapsed fill this exchange leads, or NULL */
	bool cf_stream;          /* the body goes to cf only; the client reads it
	                            back like a waiter (c->cf) */
	bool cf_oom;             /* cache_fill_append failed */

	/* Range / If-Range not forwarded: the window the cache may fill from
	 * is asked instead (the whole object when it fits) and the client's
	 * ranges are cut here; cut.active: the client gets a 206 or 416 */
	bool range_strip;
	bool range_whole; /* the origin's 206 held the whole representation: a 200 */
	struct edge_range_cut cut;
	bool cf_paused;    /* origin reads paused: the fill's window is full
	                      (c->timer polls it) */
	bool fill_small;   /* stopped storing for memory (cache.fill_memory or
	                      cache.fill_per_client): paced to PROXY_FILL_WINDOW_MIN */
	bool cf_mem_paced; /* counted in cache_fills_paced_memory_total */
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
	uint64_t start_ms;
	int status; /* status sent, for the access log */
	uint64_t bytes_out;
	const char *cache_status; /* "HIT", "MISS", "PASS" or "-" */
	const char *fwd;          /* Cache-Status fwd= value of a forwarded request */
	char host_lc[256];
	size_t host_lc_len;
	char *key; /* normalized cache key (grown as needed) */
	size_t key_cap;
	int key_len; /* -1 when no key */

	struct edge_proxy px;

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
	bool orphan;                      /* the client is gone (io closed); the connection lives
	                                     on only for the fill its exchange leads */
	struct edge_purge_job *purge_job; /* EDGE_CONN_PURGE: the purge carried out */

	/* what this connection's fills pin, charged to its client address
	 * (cache.fill_per_client): the stored copy its exchange builds, until
	 * the client has read the fill (edge_proxy_unpin) */
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

/* ---- used by edge_proxy.c ---- */

/* Every callback that carries a connection brackets its work with these; a
 * connection closed inside is freed by the outermost leave, which then returns
 * false. */
void edge_conn_enter(struct edge_conn *c);
bool edge_conn_leave(struct edge_conn *c);

/* The response to the current request is complete in the output buffer (or the
 * connection must close): log it, then read the next request or close. */
void edge_conn_response_done(struct edge_conn *c);
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
