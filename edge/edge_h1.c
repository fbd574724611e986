/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_h1.c — HTTP/1.1 serialization of a response object, and the
 * HTTP/1.1 transport of a connection's requests (edge_xport.h): bodies
 * framed by Content-Length, chunks or close, 100-continue, a request body's
 * framing taken off (Content-Length counted, chunks decoded), the writable
 * callback of a request's producer.
 *
 * What the head holds is decided by edge_resp.c; this file only knows how
 * HTTP/1.1 writes it (RFC 9112 §4, §6): a status line, field lines, the
 * framing fields that exist only in HTTP/1.1 (Transfer-Encoding: chunked,
 * Connection) and the empty line.  Copied bytes gather in a stack buffer
 * and reach the evbuffer in one chunk (more only for long values or around
 * a stored head added by reference), so a hit's head costs one reference
 * and one copy.  Single thread: the caller's.
 */
#include "config.h"

#include <string.h>

#include <event2/buffer.h>

#include "cache/cache.h"
#include "config/config.h"
#include "core/h1.h"
#include "edge/edge_conn.h"
#include "edge/edge_deliver.h"
#include "edge/edge_h1.h"
#include "edge/edge_req.h"
#include "edge/edge_resp.h"
#include "edge/edge_xport.h"

#define H1W_BUF 2048

struct h1w {
	struct evbuffer *out;
	size_t n;
	size_t total;
	char buf[H1W_BUF];
};

static void
h1w_flush(struct h1w *w)
{
	if (w->n > 0)
		evbuffer_add(w->out, w->buf, w->n);
	w->total += w->n;
	w->n = 0;
}

static void
h1w_put(struct h1w *w, const char *p, size_t len)
{
	if (len == 0)
		return;
	if (len > sizeof w->buf - w->n) {
		h1w_flush(w);
		if (len > sizeof w->buf) {
			evbuffer_add(w->out, p, len);
			w->total += len;
			return;
		}
	}
	memcpy(w->buf + w->n, p, len);
	w->n += len;
}

static void
h1w_field(struct h1w *w, struct str name, struct str value)
{
	h1w_put(w, name.p, name.len);
	h1w_put(w, ": ", 2);
	h1w_put(w, value.p, value.len);
	h1w_put(w, "\r\n", 2);
}

/* p[0..len) of the stored head of r->obj, by reference. */
static void
h1w_stored_ref(struct h1w *w, const struct edge_resp *r, const char *p, size_t len)
{
	if (len == 0)
		return;
	h1w_flush(w);
	evbuffer_add_reference(w->out, p, len, edge_deliver_obj_release, cache_obj_ref(r->obj));
	w->total += len;
}

/* The stored field lines, less those r drops: runs of kept lines by
 * reference.  A status line (no colon) is kept. */
static void
h1w_stored(struct h1w *w, const struct edge_resp *r)
{
	const char *p = r->stored, *end = p + r->stored_len, *run = p;

	if (!r->stored_filter) {
		h1w_stored_ref(w, r, p, r->stored_len);
		return;
	}
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *next = eol != NULL ? eol + 1 : end;
		const char *colon = memchr(p, ':', (size_t)(next - p));

		if (colon != NULL && edge_resp_drops_stored(r, str_make(p, (size_t)(colon - p)))) {
			h1w_stored_ref(w, r, run, (size_t)(p - run));
			run = next;
		}
		p = next;
	}
	h1w_stored_ref(w, r, run, (size_t)(end - run));
}

static void
h1w_rules(struct h1w *w, const struct edge_resp *r)
{
	if (r->rules == NULL)
		return;
	for (size_t i = 0; i < r->rules->n; i++)
		if (r->rules->rules[i].line != NULL)
			h1w_put(w, r->rules->rules[i].line, r->rules->rules[i].line_len);
}

size_t
edge_h1_write_head(struct evbuffer *out, const struct edge_resp *r)
{
	struct h1w w;

	w.out = out;
	w.n = 0;
	w.total = 0;
	if (r->relay != EDGE_RESP_RELAY_STORED || !r->stored_line) {
		const char *std = r->reason.len > 0 ? NULL : h1_reason(r->status);
		struct str reason = std != NULL ? str_make(std, strlen(std)) : r->reason;
		char code[4] = {(char)('0' + r->status / 100 % 10),
		    (char)('0' + r->status / 10 % 10), (char)('0' + r->status % 10), ' '};

		h1w_put(&w, "HTTP/1.1 ", 9);
		h1w_put(&w, code, 4);
		h1w_put(&w, reason.p, reason.len);
		h1w_put(&w, "\r\n", 2);
	}
	if (r->relay == EDGE_RESP_RELAY_STORED) {
		h1w_stored(&w, r);
	} else if (r->relay == EDGE_RESP_RELAY_ORIGIN) {
		for (size_t i = 0; i < r->n_origin; i++)
			if (!edge_resp_drops_origin(r, &r->origin[i]))
				h1w_field(&w, r->origin[i].name, r->origin[i].value);
	}
	for (unsigned i = 0; i < r->n_fields; i++) {
		if (i == r->rules_at)
			h1w_rules(&w, r);
		h1w_field(&w, r->fields[i].name, r->fields[i].value);
	}
	if (r->rules_at >= r->n_fields)
		h1w_rules(&w, r);
	if (!r->interim) {
		if (r->framing == EDGE_RESP_FRAMING_CHUNKED)
			h1w_put(&w, "Transfer-Encoding: chunked\r\n", 28);
		if (!r->keep_alive)
			h1w_put(&w, "Connection: close\r\n", 19);
		else if (r->http10)
			h1w_put(&w, "Connection: keep-alive\r\n", 24);
	}
	h1w_put(&w, "\r\n", 2);
	h1w_put(&w, r->body.p, r->body.len);
	h1w_put(&w, r->body_tail.p, r->body_tail.len);
	h1w_flush(&w);
	return w.total;
}

/* ---- the HTTP/1.1 transport: a request and its connection's socket ---- */

static size_t
h1x_send_head(struct edge_req *req, const struct edge_resp *resp)
{
	if (!resp->interim)
		req->body_chunked = resp->framing == EDGE_RESP_FRAMING_CHUNKED;
	return edge_h1_write_head(req->conn->io.out, resp);
}

/* The chunk header of a chunk of n bytes to out; its length. */
static size_t
h1x_chunk_open(struct evbuffer *out, size_t n)
{
	char hdr[24];
	size_t hl = h1_chunk_header(n, hdr, sizeof hdr);

	evbuffer_add(out, hdr, hl);
	return hl;
}

static size_t
h1x_send_body(struct edge_req *req, struct evbuffer *buf, size_t n)
{
	struct evbuffer *out = req->conn->io.out;
	size_t hl;

	if (!req->body_chunked) {
		evbuffer_remove_buffer(buf, out, n);
		return n;
	}
	hl = h1x_chunk_open(out, n);
	evbuffer_remove_buffer(buf, out, n);
	evbuffer_add(out, "\r\n", 2);
	return hl + n + 2;
}

static size_t
h1x_send_ref(
    struct edge_req *req, const void *data, size_t len, edge_xport_release_cb *release, void *arg)
{
	struct evbuffer *out = req->conn->io.out;
	size_t hl;

	if (!req->body_chunked) {
		evbuffer_add_reference(out, data, len, release, arg);
		return len;
	}
	hl = h1x_chunk_open(out, len);
	evbuffer_add_reference(out, data, len, release, arg);
	evbuffer_add(out, "\r\n", 2);
	return hl + len + 2;
}

static bool
h1x_add_file(struct edge_req *req, int fd, off_t off, size_t len,
    evbuffer_file_segment_cleanup_cb done, void *arg)
{
	return !req->body_chunked && edge_io_add_file(&req->conn->io, fd, off, len, done, arg);
}

static size_t
h1x_send_end(struct edge_req *req)
{
	if (!req->body_chunked)
		return 0;
	evbuffer_add(req->conn->io.out, "0\r\n\r\n", 5);
	return 5;
}

static struct evbuffer *
h1x_body_out(struct edge_req *req)
{
	return req->conn->io.out;
}

static size_t
h1x_queued(const struct edge_req *req)
{
	return evbuffer_get_length(req->conn->io.out);
}

void
edge_h1_writable(struct edge_req *req)
{
	if (req->on_writable != NULL)
		req->on_writable(req);
}

static void
h1x_want_writable(struct edge_req *req, size_t low)
{
	edge_io_set_lowmark(&req->conn->io, low);
}

static struct evbuffer *
h1x_body_in(struct edge_req *req)
{
	return req->conn->io.in;
}

static void
h1x_body_begin(struct edge_req *req)
{
	struct edge_conn *c = req->conn;

	c->body_remaining = req->h1.content_length;
	c->body_pending = H1_AGAIN;
	h1_chunked_init(&c->body_dec);
	if (req->h1.expect_continue) {
		/* RFC 9110 §10.1.1: the body will be read, so say so now. */
		struct edge_resp r;

		edge_resp_init(&r, req, 100);
		(void)edge_resp_send(&r, req);
	}
}

/* RFC 9112 §6.3, §7.1: a body of Content-Length bytes, or chunks decoded
 * (each run of data is left at the front of the input, its framing drained
 * before it). */
static enum edge_xport_body
h1x_body_next(struct edge_req *req, size_t *n, int *status, const char **why)
{
	struct edge_conn *c = req->conn;
	struct evbuffer *in = c->io.in;
	enum h1_status st = (enum h1_status)c->body_pending;

	if (req->h1.body == H1_BODY_LENGTH) {
		size_t avail = evbuffer_get_length(in);

		if (c->body_remaining == 0)
			return EDGE_XPORT_BODY_END;
		if (avail == 0)
			return EDGE_XPORT_BODY_AGAIN;
		*n = avail < c->body_remaining ? avail : (size_t)c->body_remaining;
		c->body_remaining -= *n;
		return EDGE_XPORT_BODY_DATA;
	}
	while (st == H1_AGAIN && evbuffer_get_length(in) > 0) {
		struct evbuffer_iovec v;
		const char *d = NULL;
		size_t used = 0, dl = 0;

		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		st = h1_chunked_decode(&c->body_dec, v.iov_base, v.iov_len, &used, &d, &dl);
		if (dl > 0) {
			evbuffer_drain(in, used - dl);
			c->body_pending = st;
			*n = dl;
			return EDGE_XPORT_BODY_DATA;
		}
		evbuffer_drain(in, used);
		if (used == 0)
			break;
	}
	c->body_pending = st;
	if (st == H1_OK)
		return EDGE_XPORT_BODY_END;
	if (st != H1_AGAIN) {
		*status = h1_status_http(st);
		*why = h1_strerror(st);
		return EDGE_XPORT_BODY_ERROR;
	}
	return EDGE_XPORT_BODY_AGAIN;
}

static void
h1x_read_body(struct edge_req *req, bool on)
{
	if (on)
		edge_io_read_enable(&req->conn->io);
	else
		edge_io_read_disable(&req->conn->io);
}

static void
h1x_finish(struct edge_req *req)
{
	edge_conn_response_done(req->conn);
}

static void
h1x_abort(struct edge_req *req)
{
	edge_conn_close(req->conn);
}

static void
h1x_enter(struct edge_req *req)
{
	edge_conn_enter(req->conn);
}

static bool
h1x_leave(struct edge_req *req)
{
	return edge_conn_leave(req->conn);
}

static void
h1x_body_timer(struct edge_req *req, const struct timeval *tv)
{
	edge_conn_body_timer(req->conn, tv);
}

const struct edge_xport edge_h1_xport = {
    .name = "HTTP/1.1",
    .h2 = false,
    .send_head = h1x_send_head,
    .send_body = h1x_send_body,
    .send_ref = h1x_send_ref,
    .add_file = h1x_add_file,
    .send_end = h1x_send_end,
    .body_out = h1x_body_out,
    .queued = h1x_queued,
    .want_writable = h1x_want_writable,
    .body_begin = h1x_body_begin,
    .body_in = h1x_body_in,
    .body_next = h1x_body_next,
    .read_body = h1x_read_body,
    .finish = h1x_finish,
    .abort = h1x_abort,
    .enter = h1x_enter,
    .leave = h1x_leave,
    .body_timer = h1x_body_timer,
};
