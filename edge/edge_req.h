/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_req.h — a client request: what was parsed (struct h1_request,
 * its head and field copies), the site and route it selected, its pool,
 * upstream target and Host, cache key, cache status and log fields, the
 * request side of its forwarding (struct edge_forward), the fill it reads
 * (edge_collapse.c), a PURGE it carries and what its fill pins.
 *
 * Its steps (edge_req.c): recv → route → key → lookup → hit, or miss /
 * pass (edge_forward.c, edge_collapse.c).  A step that answers the request
 * (an error, a redirect, a hit) returns false.
 *
 * A request is carried by a connection (conn); the connection holds one at a
 * time for HTTP/1.1 and reaches it only through its pointer.  Between two
 * requests of a keep-alive connection, edge_req_reset clears every field at
 * once and keeps the reusable buffers, so a hit allocates nothing.  Worker
 * thread only.
 */
#ifndef OUTPOST_EDGE_EDGE_REQ_H
#define OUTPOST_EDGE_EDGE_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "cache/cache.h"
#include "core/h1.h"
#include "core/str.h"
#include "edge/edge_forward.h"
#include "edge/edge_guard.h"
#include "edge/edge_xport.h"

struct config_member;
struct config_pool;
struct config_route;
struct config_site;
struct edge_conn;
struct edge_gen;
struct edge_purge_job;
struct edge_resp;
struct edge_slice;
struct edge_worker;
struct evbuffer;
struct ssl_st;

/* What the connection is doing for its request (read by the connection,
 * set by both). */
enum edge_sess_state {
	EDGE_SESS_READ_HEAD = 0, /* waiting for (more of) a request head */
	EDGE_SESS_PROXY,         /* the request goes to the origin (edge_forward.c) */
	EDGE_SESS_CLOSING,       /* flushing output, then close */
	EDGE_SESS_COLLAPSED,     /* streaming a fill a fetch writes (edge_collapse.c) */
	EDGE_SESS_PURGE,         /* a PURGE is carried out by the purge thread
	                            (edge_purge.h); reading nothing meanwhile */
};

/*
 * The connection as its requests see it: the part of a client connection a
 * request may read (its worker, configuration, TLS, client address, policy
 * scratch) and the few things it may say (keep-alive, the state).  The
 * connection embeds it (edge_conn.c fills it when it accepts) and the
 * request points at it, so the request layer never includes edge_conn.h.
 */
struct edge_sess {
	struct edge_worker *w;
	struct edge_gen *gen; /* held: the configuration of the current request
	                         (edge_req_handle takes the newest) */
	struct ssl_st *ssl;   /* the TLS session, or NULL */
	enum edge_sess_state state;
	bool tls;        /* accepted on a TLS listener */
	bool keep_alive; /* this request allows another after it */
	bool client_eof; /* the client half-closed: no further requests */
	bool dead;       /* closed: freed once the outermost callback returns */
	unsigned requests;
	char peer[INET6_ADDRSTRLEN];
	struct policy_addr peer_addr; /* peer, parsed */
	/* the current request's client: peer, or what a trusted proxy said
	 * (edge_guard_client); logs, limits, ip_hash and canary use it */
	struct edge_guard_client client;
	struct edge_guard_scratch guard; /* the policy stage's (edge_guard.h) */
};

#define EDGE_REQUEST_ID_MAX 64 /* a client's X-Request-Id is kept up to this length */

struct edge_req {
	bool body_chunked;              /* the final head chose chunks (the transport's framing) */
	struct h1_request h1;           /* the parsed request; its views point into head_buf */
	const struct config_site *site; /* selected for this request, or NULL */
	const struct config_route *route;
	const struct config_pool *pool; /* route's pool, or its canary pool */
	struct str up_target;           /* target sent to the origin (rewritten, or
	                                   h1.path) */
	struct str up_host;             /* Host sent to the origin (origin_host, or
	                                   h1.authority) */
	uint64_t start_us;              /* monotonic: the request head was parsed */
	int status;                     /* status sent, for the access log */
	uint64_t bytes_out;
	const char *cache_status;              /* "HIT", "MISS", "PASS" or "-" */
	bool stale_served;                     /* a stale stored response answered */
	bool disk_hit;                         /* the stored response came from the disk tier */
	uint8_t rid_len;                       /* 0 until it is needed (rid) */
	const struct config_member *up_member; /* the origin member that answered, or NULL */
	uint64_t up_first_us;                  /* its first-byte time */
	const char *fwd;                       /* Cache-Status fwd= value of a forwarded request */
	bool from_sibling;   /* a valid hop marker: a sibling asks (origin_sibling.h) */
	bool sibling_https;  /* ... for a client of its over TLS (X-Forwarded-Proto) */
	size_t host_lc_len;  /* host_lc's */
	bool ip_counted;     /* counted in srv->req_ip (limits.requests_per_ip) ... */
	uint32_t ip_slot[2]; /* ... in these counters, until edge_req_uncount */
	int key_len;         /* -1 when no key */

	/* reading a collapsed fill (edge_collapse.c) */
	struct cache_fill *cf;      /* one reference, or NULL */
	struct cache_obj *cf_stale; /* a waiter's stale entry (owned), for when it
	                               goes to the origin on its own */
	struct cache_fill_reader cf_rd;
	struct edge_req *cf_next; /* worker's list of fill readers */
	struct edge_req *cf_prev;
	bool cf_listed;                   /* in that list */
	bool cf_head_sent;                /* the response head is in the output */
	struct edge_purge_job *purge_job; /* EDGE_SESS_PURGE: the purge carried out */
	struct edge_slice *slice;         /* an answer from slices (edge_slice.h), or NULL */

	/* what the fill this connection led pins, charged to its client
	 * address (cache.fill_per_client): handed over by its fetch at the end,
	 * kept until the client has read the fill (edge_forward_unpin) */
	struct cache_mem_client *pin_cl; /* one reference, or NULL */
	uint64_t pin_bytes;
	bool fw_used; /* fw was written to (req_step_forward) */
	/* its producer's writable callback, which the transport calls when
	 * the output drained (edge_forward_on_client_writable while it goes to
	 * the origin, edge_collapse_pump while it reads a fill), or NULL */
	edge_xport_writable_cb *on_writable;

	/* Not cleared by edge_req_reset: the forward unless used (fw_used; a
	 * hit never touches it), the connection and transport, the buffers the
	 * next request reuses, and text whose length above says how much of it
	 * is the request's. */
	struct edge_forward fw;
	struct edge_sess *sess;      /* what it may know of its connection */
	struct edge_req *conn_next;  /* the next request its connection carries
	                                (HTTP/1.1: none) */
	struct edge_conn *conn;      /* the connection that carries it: its
	                                transport's only, opaque to the request */
	const struct edge_xport *xp; /* its protocol there: every byte to the client */
	struct h1_header *hdrs;      /* h1.headers: a copy of the parsed fields */
	size_t hdrs_cap;
	char *head_buf; /* a copy of the request head; views point here */
	size_t head_cap;
	char *up_buf; /* a rewritten target (grown as needed) */
	size_t up_cap;
	char *key; /* normalized cache key (grown as needed) */
	size_t key_cap;
	char host_lc[256];
	char rid[EDGE_REQUEST_ID_MAX + 1]; /* the request id (edge_req_id) */
};

/* A request of the connection c (whose part a request sees is sess),
 * carried by xp, with nothing in it and no buffers; r is zeroed memory (its
 * connection's, from calloc). */
void edge_req_init(
    struct edge_req *r, struct edge_conn *c, struct edge_sess *sess, const struct edge_xport *xp);
/* Clears r for the next request of its connection: every field zero (no
 * key), its buffers (head and field copies, key, upstream target) kept. */
void edge_req_reset(struct edge_req *r);
/* Gives r's buffers back (an idle connection; its end); r is reset. */
void edge_req_release(struct edge_req *r);
/* Takes the request h1 parsed from head (its head_len bytes, which the
 * caller's input buffer drops next): the head and its fields are copied to
 * r's buffers and r->h1's views moved there. */
void edge_req_set_head(struct edge_req *r, const struct h1_request *h1, const char *head);
/* r's id (X-Request-Id): the client's when it is valid and
 * log.request_id.keep_client is set, else one of the node's (32 hex digits:
 * the worker's random prefix and a sequence), made on the first call.  Valid
 * until the next request.  Worker thread. */
struct str edge_req_id(struct edge_req *r);
/* Decides what to do with r's parsed request: its steps, up to an answer of
 * the node's own (a hit, an error) or the origin. */
void edge_req_handle(struct edge_req *r);
/* r no longer counts among its client's requests in progress
 * (limits.requests_per_ip): its transport calls it when r's response is
 * complete or abandoned; edge_req_reset does too. */
void edge_req_uncount(struct edge_req *r);
/* Does r hold nothing in flight (no fetch, no body being buffered, no
 * fill it reads), so that its buffers may go? */
bool edge_req_idle(const struct edge_req *r);

/* ---- answers of the node's own (edge_req.c), through r's transport ---- */

/* A short text/plain error; the connection closes after it. */
void edge_req_send_error(struct edge_req *r, int status, const char *msg);
/* The same with one more field, name: value (e.g. Retry-After), unless name
 * is NULL. */
void edge_req_send_error_with(
    struct edge_req *r, int status, const char *name, const char *value, const char *msg);
/* Sends resp, a complete response of the node's own built by the caller
 * (edge_resp_own and its own fields); the connection is kept. */
void edge_req_send_own(struct edge_req *r, struct edge_resp *resp);
/* A complete response of the node's own that keeps the connection: status,
 * one more field name: value unless name is NULL, and a short body of the
 * given Content-Type (its length only, for HEAD). */
void edge_req_send_typed(struct edge_req *r, int status, const char *type, const char *name,
    const char *value, const char *body);

/* ---- r's transport (edge_xport.h) ---- */

static inline size_t
edge_req_send_head(struct edge_req *r, const struct edge_resp *resp)
{
	return r->xp->send_head(r, resp);
}

static inline size_t
edge_req_send_body(struct edge_req *r, struct evbuffer *buf, size_t n)
{
	return r->xp->send_body(r, buf, n);
}

static inline size_t
edge_req_send_ref(
    struct edge_req *r, const void *data, size_t len, edge_xport_release_cb *release, void *arg)
{
	return r->xp->send_ref(r, data, len, release, arg);
}

static inline size_t
edge_req_send_end(struct edge_req *r)
{
	return r->xp->send_end(r);
}

static inline struct evbuffer *
edge_req_body_out(struct edge_req *r)
{
	return r->xp->body_out(r);
}

static inline size_t
edge_req_queued(const struct edge_req *r)
{
	return r->xp->queued(r);
}

static inline void
edge_req_want_writable(struct edge_req *r, size_t low)
{
	r->xp->want_writable(r, low);
}

static inline struct evbuffer *
edge_req_body_in(struct edge_req *r)
{
	return r->xp->body_in(r);
}

static inline void
edge_req_body_begin(struct edge_req *r)
{
	r->xp->body_begin(r);
}

static inline enum edge_xport_body
edge_req_body_next(struct edge_req *r, size_t *n, int *status, const char **why)
{
	return r->xp->body_next(r, n, status, why);
}

static inline void
edge_req_read_body(struct edge_req *r, bool on)
{
	r->xp->read_body(r, on);
}

static inline void
edge_req_finish(struct edge_req *r)
{
	r->xp->finish(r);
}

static inline void
edge_req_abort(struct edge_req *r)
{
	r->xp->abort(r);
}

static inline void
edge_req_enter(struct edge_req *r)
{
	r->xp->enter(r);
}

static inline bool
edge_req_leave(struct edge_req *r)
{
	return r->xp->leave(r);
}

static inline void
edge_req_body_timer(struct edge_req *r, const struct timeval *tv)
{
	r->xp->body_timer(r, tv);
}

#endif
