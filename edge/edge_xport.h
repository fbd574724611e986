/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_xport.h — the transport: what a protocol implements for the
 * requests it carries.  edge_h1.c is HTTP/1.1 (framing by Content-Length,
 * chunks or close; 100-continue; the request body as it arrives); HTTP/2
 * is to be the second.
 *
 * A request (edge_req.h) reaches its client only through its transport
 * (req->xp): the head of its response is a response object (edge_resp.h)
 * the transport serializes; body bytes go by reference (evbuffer chains
 * moved, stored objects referenced) and the transport frames them; a
 * producer that fills the output faster than the client reads asks for the
 * writable callback and pauses until it comes (per request: HTTP/2
 * streams have windows of their own).  Worker thread only.
 */
#ifndef OUTPOST_EDGE_EDGE_XPORT_H
#define OUTPOST_EDGE_EDGE_XPORT_H

#include <stdbool.h>
#include <stddef.h>

struct evbuffer;
struct edge_req;
struct edge_resp;
struct timeval;

/* Called when the transport has sent what it referenced (evbuffer's
 * reference cleanup). */
typedef void edge_xport_release_cb(const void *data, size_t len, void *arg);

struct edge_xport {
	const char *name;
	/* Queues resp as req's response head (an interim 1xx, or the final
	 * head: its framing then applies to the body).  Returns the bytes
	 * queued. */
	size_t (*send_head)(struct edge_req *req, const struct edge_resp *resp);
	/* Moves n bytes of buf to req's body (no copy), framed.  Returns the
	 * bytes queued, framing included. */
	size_t (*send_body)(struct edge_req *req, struct evbuffer *buf, size_t n);
	/* Adds len bytes at data to req's body by reference (release(data,
	 * len, arg) once sent), framed.  Returns the bytes queued. */
	size_t (*send_ref)(struct edge_req *req, const void *data, size_t len,
	    edge_xport_release_cb *release, void *arg);
	/* The body's end (the last chunk of a chunked one).  Returns the bytes
	 * queued. */
	size_t (*send_end)(struct edge_req *req);
	/* Where a delivery filter that frames by length (the range cut: a 206
	 * or 416 with Content-Length) writes req's body itself. */
	struct evbuffer *(*body_out)(struct edge_req *req);
	/* Bytes of req's response queued and not yet sent. */
	size_t (*queued)(const struct edge_req *req);
	/* Backpressure: the writable callback of req's producer (the PASS sink,
	 * the fill reader) comes once its queued bytes fall to low; 0 asks for
	 * none. */
	void (*want_writable)(struct edge_req *req, size_t low);
	/* The request body as received (framing removed by the caller for
	 * HTTP/1.1 chunks), and reading more of it on or off. */
	struct evbuffer *(*body_in)(struct edge_req *req);
	void (*read_body)(struct edge_req *req, bool on);
	/* req's response is complete: logged, then the next request. */
	void (*finish)(struct edge_req *req);
	/* req cannot be completed (its head is out): it ends abruptly (HTTP/1.1
	 * closes the connection). */
	void (*abort)(struct edge_req *req);
	/* A callback that reaches req from outside its connection's events (its
	 * fetch, a fill's wake-up, the purge thread's answer) brackets its work
	 * with these; leave returns false when the connection was freed (req
	 * with it). */
	void (*enter)(struct edge_req *req);
	bool (*leave)(struct edge_req *req);
	/* The request body's timer: fires after tv (the connection's timeout
	 * handling, edge_forward_body_timeout); NULL stops it. */
	void (*body_timer)(struct edge_req *req, const struct timeval *tv);
};

#endif
