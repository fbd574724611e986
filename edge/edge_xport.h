/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_xport.h — the transport: what a protocol implements for the
 * requests it carries.  edge_h1.c is HTTP/1.1 (framing by Content-Length,
 * chunks or close; 100-continue; the request body's framing taken off as
 * it arrives); HTTP/2 is to be the second.
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
#include <sys/types.h>

#include <event2/buffer.h>

struct evbuffer;
struct edge_req;
struct edge_resp;
struct timeval;

/* What the next piece of a request body is (body_next). */
enum edge_xport_body {
	EDGE_XPORT_BODY_AGAIN = 0, /* nothing more until the client sends more */
	EDGE_XPORT_BODY_DATA,      /* content at the front of body_in */
	EDGE_XPORT_BODY_END,       /* the body is complete */
	EDGE_XPORT_BODY_ERROR,     /* its framing is invalid */
};

/* A request's producer (the PASS sink, a fill's reader), called when the
 * request's output drained (want_writable). */
typedef void edge_xport_writable_cb(struct edge_req *req);

/* Called when the transport has sent what it referenced (evbuffer's
 * reference cleanup). */
typedef void edge_xport_release_cb(const void *data, size_t len, void *arg);

struct edge_xport {
	const char *name;
	bool h2; /* HTTP/2: Via says "2", the access log "HTTP/2.0" */
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
	/* Optional: adds len bytes of the file fd from off to req's body
	 * (body_out) for the kernel to send from the page cache, done(seg,
	 * flags, arg) once sent or dropped.  Only for a body framed by
	 * Content-Length; false (done not called) when this connection cannot
	 * (TLS): the caller adds the bytes by reference instead. */
	bool (*add_file)(struct edge_req *req, int fd, off_t off, size_t len,
	    evbuffer_file_segment_cleanup_cb done, void *arg);
	/* The body's end (the last chunk of a chunked one).  Returns the bytes
	 * queued. */
	size_t (*send_end)(struct edge_req *req);
	/* Where a delivery filter that frames by length (the range cut: a 206
	 * or 416 with Content-Length) writes req's body itself. */
	struct evbuffer *(*body_out)(struct edge_req *req);
	/* Bytes of req's response queued and not yet sent. */
	size_t (*queued)(const struct edge_req *req);
	/* Backpressure: the writable callback of req's producer
	 * (req->on_writable: the PASS sink, the fill reader) comes once its
	 * queued bytes fall to low; 0: when they are all sent. */
	void (*want_writable)(struct edge_req *req, size_t low);
	/* The request will read its body (not called for a request without
	 * one): the transport's framing state, and the interim answer a client
	 * may wait for (HTTP/1.1: 100 Continue, RFC 9110 §10.1.1). */
	void (*body_begin)(struct edge_req *req);
	/* Where the request body arrives, and the next piece of it there with
	 * the transport's framing taken off (HTTP/1.1: Content-Length counted,
	 * chunks decoded): DATA, *n bytes at the front of body_in, which the
	 * caller takes next (or ends the request); END; AGAIN; ERROR: the
	 * framing is invalid, *status is the answer and *why says why. */
	struct evbuffer *(*body_in)(struct edge_req *req);
	enum edge_xport_body (*body_next)(
	    struct edge_req *req, size_t *n, int *status, const char **why);
	/* Reading more of the request body on or off. */
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
