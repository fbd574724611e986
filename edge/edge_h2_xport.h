/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_h2_xport.h — the HTTP/2 transport (edge_xport.h) of a client
 * connection: the session of edge_h2.h on the connection's socket, and each
 * stream a request of the request layer (edge_req.h), carried exactly like
 * an HTTP/1.1 one.
 *
 * A connection becomes HTTP/2 when ALPN selected h2 on a TLS listener with
 * http2 on, or when a plain listener with http2: prior_knowledge read the
 * client preface first; edge_conn.c then hands it its events.  Each valid
 * request head becomes a request whose head is written in HTTP/1.1 form and
 * parsed by the same codec (so routing, the cache key, policy and limits see
 * what they see over HTTP/1.1); its response object is turned into an
 * HTTP/2 head, and body bytes go to the session by reference.
 *
 * Streams and connections are freed from a deferred event of the
 * connection, never inside a callback that may be walking a list of
 * requests.  Worker thread only.
 */
#ifndef OUTPOST_EDGE_EDGE_H2_XPORT_H
#define OUTPOST_EDGE_EDGE_H2_XPORT_H

#include <stdbool.h>

struct edge_conn;
struct evbuffer;

/* Does in start with the HTTP/2 client preface (RFC 9113 §3.4)? */
enum edge_h2x_preface {
	EDGE_H2X_PREFACE_NO = 0, /* not the preface: HTTP/1.1 */
	EDGE_H2X_PREFACE_YES,
	EDGE_H2X_PREFACE_MORE, /* a prefix of it so far: read more */
};
enum edge_h2x_preface edge_h2x_preface(struct evbuffer *in);

/* Makes c an HTTP/2 connection (inside one of its callbacks): its session,
 * the server preface queued. */
void edge_h2x_start(struct edge_conn *c);
/* Frees what the HTTP/2 side of c holds: every stream's request is
 * released (as an HTTP/1.1 connection's on close). */
void edge_h2x_free(struct edge_conn *c);
/* c closes: its streams' requests see it (their sessions dead). */
void edge_h2x_dead(struct edge_conn *c);
/* Bytes arrived (c->io.in). */
void edge_h2x_read(struct edge_conn *c);
/* Output may be produced (a callback is over, or the socket drained to the
 * low mark): frames to c->io.out; the end of the connection when the
 * session is done. */
void edge_h2x_produce(struct edge_conn *c);
/* The connection's timer fired (idle, settings acknowledgement). */
void edge_h2x_timer(struct edge_conn *c);
/* The client closed its side. */
void edge_h2x_eof(struct edge_conn *c);
/* Drain (SIGTERM, reload): GOAWAY, streams in flight finish. */
void edge_h2x_drain(struct edge_conn *c);
/* The connection's free is deferred to its event (a callback left it dead). */
void edge_h2x_free_later(struct edge_conn *c);

#endif
