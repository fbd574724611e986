/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_h1.h — the HTTP/1.1 transport (edge_xport.h) of a client
 * connection's requests (its framing of responses, 100-continue, the
 * framing of request bodies taken off, the writable callback of a
 * request's producer), and a response object (edge_resp.h) as HTTP/1.1
 * bytes.
 */
#ifndef OUTPOST_EDGE_EDGE_H1_H
#define OUTPOST_EDGE_EDGE_H1_H

#include <stddef.h>

struct evbuffer;
struct edge_req;
struct edge_resp;
struct edge_xport;

/* The HTTP/1.1 transport: a request's output is its connection's socket;
 * bodies are framed by Content-Length (the caller's field), chunks (the
 * head's framing) or close. */
extern const struct edge_xport edge_h1_xport;

/* The connection's output drained (to the mark req asked for): req's
 * producer writes on (req->on_writable), if it has one. */
void edge_h1_writable(struct edge_req *req);

/*
 * Appends r to out: the status line (unless the stored head relayed
 * carries it), the relayed fields, r's fields with the route's rule lines
 * at their place, Transfer-Encoding for chunked framing, Connection (close,
 * or keep-alive to an HTTP/1.0 client; none on a 1xx), the blank line and
 * r's short body.  A stored head goes by reference (a reference on r->obj
 * per chunk); the rest is copied in as few evbuffer chunks as fit.
 * Returns the bytes appended.
 */
size_t edge_h1_write_head(struct evbuffer *out, const struct edge_resp *r);

#endif
