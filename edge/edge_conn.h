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

struct edge_conn {
	unsigned magic;         /* EDGE_CONN_MAGIC */
	struct edge_conn *next; /* worker's list */
	struct edge_conn *prev;
	struct edge_io io;     /* the client socket */
	struct edge_hs_ip *hs; /* counted as a TLS handshake in progress */
	uint32_t ip_slot[2];   /* counted in srv->conn_ip (edge_ip_enter) while the
	                          socket is open; [0] EDGE_IP_NONE after */
	struct event *timer;   /* idle / header timeout */
	bool timer_is_header;
	bool idle_release; /* timer: the first step of the idle timeout, after
	                      which the request buffers go (edge_conn.c) */
	bool lingering;    /* output flushed, write side shut, draining input */
	bool processing;   /* inside conn_process (it loops by itself) */
	unsigned cb_depth;
	/* the HTTP/1.1 framing of the current request's body (edge_h1.c) */
	struct h1_chunked body_dec;
	uint64_t body_remaining; /* Content-Length: bytes left */
	int body_pending;        /* enum h1_status the decoder gave with the last
	                            data: H1_AGAIN, or the end or error next */
	/* what its requests see of it (edge_req.h): worker, configuration,
	 * TLS, client address, keep-alive, state */
	struct edge_sess sess;

	/* the requests it carries: a list linked by conn_next, the current one
	 * first; HTTP/1.1 carries one at a time, req_h1, which the code
	 * reaches only through req (edge_req.h) */
	struct edge_req *req;
	struct edge_req req_h1;

	/* HTTP/2 (edge_h2_xport.h): the listener's listen[].http2 (enum
	 * config_http2), and the session once the connection speaks it */
	unsigned char http2;
	bool alpn_checked;
	struct edge_h2x *h2;
};

/* Takes ownership of fd, an accepted client socket of the listener l (its
 * tls and http2), or of a plain HTTP/1.1 one when l is NULL.  Worker
 * thread. */
struct config_listen;
void edge_conn_accept(struct edge_worker *w, int fd, const struct sockaddr *sa, int salen,
    const struct config_listen *l);
/* Drain: idle connections close now, busy ones after their current response. */
void edge_conn_drain(struct edge_conn *c);
/* Hard close (drain timeout, shutdown). */
void edge_conn_abort(struct edge_conn *c);

/* ---- used by the HTTP/1.1 transport (edge_h1.c) ---- */

/* Every callback that carries a connection brackets its work with these; a
 * connection closed inside is freed by the outermost leave, which then returns
 * false. */
void edge_conn_enter(struct edge_conn *c);
bool edge_conn_leave(struct edge_conn *c);
/* The response to the current request is complete in the output buffer (or the
 * connection must close): log it, then read the next request or close. */
void edge_conn_response_done(struct edge_conn *c);
/* The request body's timer (edge_xport.h body_timer): tv, or stopped. */
void edge_conn_body_timer(struct edge_conn *c, const struct timeval *tv);

/* Closes the connection now (e.g. an origin failed after the head was sent). */
void edge_conn_close(struct edge_conn *c);

/* ---- used by the HTTP/2 transport (edge_h2_xport.c) ---- */

struct edge_h2x;
/* The access log line and the metrics of req's response. */
void edge_conn_log(struct edge_req *req);
/* No more requests: the output is flushed, then the connection closes. */
void edge_conn_closing(struct edge_conn *c);
/* Frees c (dead, outside any of its callbacks). */
void edge_conn_close_now(struct edge_conn *c);

#endif
