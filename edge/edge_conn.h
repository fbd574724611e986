/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_conn.h — a client connection: the socket and TLS, its timers,
 * lingering close, drain, the enter/leave bracket of its callbacks,
 * keep-alive and the HTTP/1.1 parse loop.  The request it carries is a
 * struct edge_req (edge_req.h): its steps, its site and route, its cache key
 * and the request side of its forwarding (struct edge_forward; the exchange
 * with the origin is its fetch's, edge_fetch.h).
 *
 * A connection lives on one worker's loop and carries one request at a time;
 * pipelined requests wait in the input buffer until the current response is
 * queued.  The parsed request head is copied to the request's buffer
 * (head_buf), so its views stay valid for the whole exchange while the input
 * buffer moves on.
 */
#ifndef OUTPOST_EDGE_EDGE_CONN_H
#define OUTPOST_EDGE_EDGE_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <time.h>

#include "edge/edge_guard.h"
#include "edge/edge_io.h"
#include "edge/edge_req.h"

struct bufferevent;
struct event;
struct edge_worker;
struct edge_gen;
struct edge_hs_ip;
struct config_route;
struct config_site;
struct config_pool;
struct config_member;

enum edge_conn_state {
	EDGE_CONN_READ_HEAD = 0, /* waiting for (more of) a request head */
	EDGE_CONN_PROXY,         /* the request goes to the origin (edge_forward.c) */
	EDGE_CONN_CLOSING,       /* flushing output, then close */
	EDGE_CONN_COLLAPSED,     /* streaming a fill a fetch writes (edge_collapse.c) */
	EDGE_CONN_PURGE,         /* a PURGE is carried out by the purge thread
	                            (edge_purge.h); reading nothing meanwhile */
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

	/* the request it carries (one at a time: HTTP/1.1); the code reaches
	 * it only through req (edge_req.h), which points at req_h1 */
	struct edge_req *req;
	struct edge_req req_h1;
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
/* Answers the current request with a short text/plain error and closes. */
void edge_conn_send_error(struct edge_conn *c, int status, const char *msg);
/* Sends r, a complete response of the node's own built by the caller
 * (edge_resp_own and its own fields), and keeps the connection. */
struct edge_resp;
void edge_conn_send_own(struct edge_conn *c, struct edge_resp *r);
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
