/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_h2_xport.c — the HTTP/2 transport (edge_h2_xport.h): the
 * session of edge_h2.c on a client connection, each stream a request.
 *
 * Request heads.  A valid stream head (edge_h2.c checked RFC 9113 §8) is
 * written as an HTTP/1.1 head — method, path, "host: " the authority, the
 * fields (cookie crumbs joined with "; ", §8.2.3) and, for a body of
 * unknown length, "transfer-encoding: chunked" so that the request layer
 * knows one follows — into the connection's scratch, parsed by the HTTP/1.1
 * codec under the node's limits, and handed to the request (which copies
 * it).  Everything after that is the request layer's, as over HTTP/1.1.
 *
 * Response heads.  The response object (edge_resp.h) becomes field views
 * without a copy: the stored head's lines (its status line skipped), the
 * origin's fields, the route's rule lines and the node's fields; what only
 * HTTP/1.1 has (reason phrase, chunked, Connection) is left out.  The
 * session copies them into HPACK.
 *
 * Response bodies.  What the request layer sends becomes pieces in the
 * stream's queue: a referenced range (a stored body, a fill's chunk) whose
 * release runs once every frame holding it is written, or an evbuffer of
 * bytes moved from the origin's input (no copy of the bytes) or copied (the
 * node's short answers).  The queue feeds the session as fast as the peer's
 * windows take it; a stream the session paused reports a full queue, so its
 * producer (the origin fetch, the fill reader) waits for the writable
 * callback and no other stream is held up.
 *
 * Request bodies arrive by on_body into the stream's buffer, are handed to
 * the request layer by body_next, and credited to the peer (WINDOW_UPDATE)
 * as they are taken: a slow origin holds the client back by its window.
 *
 * Lifetime.  A stream ends when the session closed it (response sent, or
 * reset) and its request is finished or given up; it is then freed from the
 * connection's deferred event, as is a connection whose last callback left
 * it dead, so no list of requests being walked (edge_collapse_wake) loses an
 * element under it.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "config/config.h"
#include "core/assert.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "edge/edge_conn.h"
#include "edge/edge_forward.h"
#include "edge/edge_h2.h"
#include "edge/edge_h2_xport.h"
#include "edge/edge_req.h"
#include "edge/edge_resp.h"
#include "edge/edge_worker.h"

#define H2X_PREFACE     "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define H2X_PREFACE_LEN 24
/* What queued() reports for a stream the session paused: more than any
 * producer's high mark, so that it waits for the writable callback. */
#define H2X_PAUSED_QUEUED (4u << 20)
/* Streams kept for reuse by a connection (their request buffers with them). */
#define H2X_SPARE 8

/* A piece of a response body waiting for the session, then held by the
 * frames that carry it (one reference per frame, one for the queue). */
struct h2x_piece {
	struct h2x_piece *next;
	unsigned refs;
	const char *p; /* referenced bytes, or NULL: buf */
	size_t len;
	size_t off; /* handed to the session so far */
	edge_xport_release_cb *release;
	void *arg;
	struct evbuffer *buf; /* bytes owned here */
};

struct h2x_stream {
	struct edge_req req; /* first: the transport's calls get &req */
	struct edge_sess sess;
	struct edge_h2x *x;
	struct edge_h2_stream *s; /* NULL once the session closed it */
	struct h2x_stream *next;  /* the connection's streams, or its spares */
	struct h2x_stream *prev;
	struct h2x_piece *q_head; /* body pieces not yet all handed to the session */
	struct h2x_piece *q_tail;
	size_t q_bytes;
	struct evbuffer *cut;     /* body_out: what a delivery filter writes */
	struct evbuffer *body_in; /* request body received, not yet taken */
	struct event *body_timer;
	size_t low;         /* want_writable's mark */
	uint64_t paused_ms; /* when the session last paused it (paused) */
	unsigned depth;     /* callbacks running for it */
	bool want;          /* its producer waits for the writable callback */
	bool paused;        /* the session's queue for it is full */
	bool final;         /* the final head went */
	bool no_body;       /* HEAD, 204, 304: body bytes are dropped */
	bool end_wanted;    /* the body is complete (after the queue) */
	bool ended;         /* END_STREAM handed to the session */
	bool body_end;      /* the client's END_STREAM came */
	bool reading;       /* read_body on */
	bool kick;          /* ... with body bytes here: read on the deferred event */
	bool done;          /* finished, aborted or gone: no more of the request */
	bool logged;
};

struct edge_h2x {
	struct edge_conn *c;
	struct edge_h2 *h;
	struct h2x_stream *streams; /* live */
	struct h2x_stream *spare;
	unsigned n_spare;
	struct event *defer; /* frees ended streams (and a dead connection) */
	char *head;          /* a request head in HTTP/1.1 form */
	size_t head_cap;
	uint64_t reported[EDGE_H2_C_COUNT]; /* counters added to the metrics */
	int timer_kind;                     /* -1 none, else enum h2x_timer */
	unsigned settings_timeout_ms;
	bool free_conn; /* defer: the connection too */
	bool eof;
	bool closing;
};

extern const struct edge_xport edge_h2_xport;

static struct h2x_stream *
h2x_of(const struct edge_req *req)
{
	return (struct h2x_stream *)(void *)(uintptr_t)req;
}

/* ---- deferred frees ---- */

static void h2x_stream_free(struct edge_h2x *x, struct h2x_stream *st);
static void h2x_readable(struct h2x_stream *st);

static void
h2x_defer(struct edge_h2x *x)
{
	event_active(x->defer, EV_TIMEOUT, 0);
}

static bool
h2x_stream_over(const struct h2x_stream *st)
{
	return st->s == NULL && st->done && st->depth == 0;
}

static void
h2x_on_defer(evutil_socket_t fd, short what, void *arg)
{
	struct edge_h2x *x = arg;
	struct edge_conn *c = x->c;

	(void)fd;
	(void)what;
	if (x->free_conn) {
		edge_conn_close_now(c);
		return;
	}
	edge_conn_enter(c);
	for (struct h2x_stream *st = x->streams, *next; st != NULL; st = next) {
		next = st->next;
		if (st->kick) {
			st->kick = false;
			h2x_readable(st);
		}
		if (h2x_stream_over(st))
			h2x_stream_free(x, st);
	}
	edge_conn_leave(c);
}

/* ---- body pieces ---- */

static void
h2x_piece_free(struct h2x_piece *pc)
{
	if (pc->buf != NULL)
		evbuffer_free(pc->buf);
	else if (pc->release != NULL)
		pc->release(pc->p, pc->len, pc->arg);
	free(pc);
}

static void *
h2x_piece_ref(void *arg)
{
	((struct h2x_piece *)arg)->refs++;
	return arg;
}

static void
h2x_piece_unref(const void *data, size_t len, void *arg)
{
	struct h2x_piece *pc = arg;

	(void)data;
	(void)len;
	if (--pc->refs == 0)
		h2x_piece_free(pc);
}

static void
h2x_queue(struct h2x_stream *st, struct h2x_piece *pc)
{
	pc->refs = 1;
	if (st->q_tail != NULL)
		st->q_tail->next = pc;
	else
		st->q_head = pc;
	st->q_tail = pc;
	st->q_bytes += pc->len - pc->off;
}

/* A piece owning buf's bytes (moved: its chains change hands). */
static struct h2x_piece *
h2x_piece_buf(struct evbuffer *from, size_t n)
{
	struct h2x_piece *pc = xcalloc(1, sizeof *pc);

	pc->buf = evbuffer_new();
	if (pc->buf == NULL)
		abort();
	if (n == SIZE_MAX)
		evbuffer_add_buffer(pc->buf, from);
	else
		evbuffer_remove_buffer(from, pc->buf, n);
	pc->len = evbuffer_get_length(pc->buf);
	return pc;
}

static void
h2x_queue_drop(struct h2x_stream *st)
{
	struct h2x_piece *pc;

	while ((pc = st->q_head) != NULL) {
		st->q_head = pc->next;
		h2x_piece_unref(NULL, 0, pc);
	}
	st->q_tail = NULL;
	st->q_bytes = 0;
	if (st->cut != NULL)
		evbuffer_drain(st->cut, evbuffer_get_length(st->cut));
}

/* What a delivery filter wrote to body_out joins the queue. */
static void
h2x_take_cut(struct h2x_stream *st)
{
	if (st->cut == NULL || evbuffer_get_length(st->cut) == 0)
		return;
	if (st->no_body || st->ended || st->s == NULL) {
		evbuffer_drain(st->cut, evbuffer_get_length(st->cut));
		return;
	}
	h2x_queue(st, h2x_piece_buf(st->cut, SIZE_MAX));
}

/* The next contiguous run of pc from its offset. */
static void
h2x_piece_run(struct h2x_piece *pc, const char **p, size_t *len)
{
	struct evbuffer_ptr at;
	struct evbuffer_iovec v;

	if (pc->buf == NULL) {
		*p = pc->p + pc->off;
		*len = pc->len - pc->off;
		return;
	}
	if (evbuffer_ptr_set(pc->buf, &at, pc->off, EVBUFFER_PTR_SET) != 0 ||
	    evbuffer_peek(pc->buf, -1, &at, &v, 1) < 1) {
		*p = NULL;
		*len = 0;
		return;
	}
	*p = v.iov_base;
	*len = v.iov_len < pc->len - pc->off ? v.iov_len : pc->len - pc->off;
}

/* The session holds as much of st as it takes: its producer waits (a
 * stream paused longer than timeouts.send is reset: h2x_stalled). */
static void
h2x_pause(struct h2x_stream *st)
{
	if (!st->paused)
		st->paused_ms = time_mono_ms();
	st->paused = true;
}

/* Hands the queue to the session while it takes it; the end of the body
 * after the last piece. */
static void
h2x_pump(struct h2x_stream *st)
{
	struct edge_h2 *h = st->x->h;

	h2x_take_cut(st);
	while (st->q_head != NULL && !st->paused && st->s != NULL) {
		struct h2x_piece *pc = st->q_head;
		const char *p;
		size_t len;
		bool last;
		int rv;

		h2x_piece_run(pc, &p, &len);
		ASSERT(len > 0); /* a piece is never empty */
		last = pc->off + len == pc->len && pc->next == NULL && st->end_wanted;
		rv = edge_h2_send_body(h, st->s, p, len, h2x_piece_ref, h2x_piece_unref, pc, last);
		if (rv == EDGE_H2_E_FULL) {
			h2x_pause(st);
			break;
		}
		if (rv < 0) {
			h2x_queue_drop(st);
			break;
		}
		pc->off += len;
		st->q_bytes -= len;
		if (pc->off == pc->len) {
			st->q_head = pc->next;
			if (st->q_head == NULL)
				st->q_tail = NULL;
			h2x_piece_unref(NULL, 0, pc);
		}
		if (last)
			st->ended = true;
		if (rv == EDGE_H2_PAUSED)
			h2x_pause(st);
	}
	if (st->q_head == NULL && st->end_wanted && !st->ended && !st->paused && st->s != NULL &&
	    st->final) {
		int rv = edge_h2_send_body(h, st->s, NULL, 0, NULL, NULL, NULL, true);

		if (rv == EDGE_H2_E_FULL)
			h2x_pause(st);
		else
			st->ended = true;
	}
}

/* ---- the response head ---- */

struct h2x_head {
	struct edge_h2_field f[EDGE_H2_HEAD_FIELDS_MAX];
	unsigned n;
	bool over;
};

static _Thread_local struct h2x_head h2x_hd; /* the worker's */

static void
h2x_head_add(struct h2x_head *hd, struct str name, struct str value)
{
	if (hd->n == EDGE_H2_HEAD_FIELDS_MAX) {
		hd->over = true;
		return;
	}
	hd->f[hd->n].name = name;
	hd->f[hd->n].value = value;
	hd->n++;
}

/* "Name: value\r\n" lines (a stored head, the route's rules): each a field,
 * the value trimmed; a line without a colon (the stored status line) is
 * skipped, as are those drop says the response leaves out. */
static void
h2x_head_lines(struct h2x_head *hd, const char *p, size_t len, const struct edge_resp *r)
{
	const char *end = p + len;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *next = eol != NULL ? eol + 1 : end;
		const char *stop = eol != NULL ? eol : end;
		const char *colon = memchr(p, ':', (size_t)(stop - p));

		if (stop > p && stop[-1] == '\r')
			stop--;
		if (colon != NULL && colon > p) {
			struct str name = str_make(p, (size_t)(colon - p));
			const char *v = colon + 1;

			while (v < stop && (*v == ' ' || *v == '\t'))
				v++;
			while (stop > v && (stop[-1] == ' ' || stop[-1] == '\t'))
				stop--;
			if (r == NULL || !edge_resp_drops_stored(r, name))
				h2x_head_add(hd, name, str_make(v, (size_t)(stop - v)));
		}
		p = next;
	}
}

static void
h2x_head_rules(struct h2x_head *hd, const struct edge_resp *r)
{
	if (r->rules == NULL)
		return;
	for (size_t i = 0; i < r->rules->n; i++)
		if (r->rules->rules[i].line != NULL)
			h2x_head_lines(
			    hd, r->rules->rules[i].line, r->rules->rules[i].line_len, NULL);
}

/* A short body of the node's own (copied: the response object is the
 * caller's stack). */
static size_t
h2x_own_body(struct h2x_stream *st, struct str a, struct str b)
{
	struct h2x_piece *pc;

	if (a.len + b.len == 0 || st->no_body)
		return 0;
	pc = xcalloc(1, sizeof *pc);
	pc->buf = evbuffer_new();
	if (pc->buf == NULL)
		abort();
	evbuffer_add(pc->buf, a.p, a.len);
	evbuffer_add(pc->buf, b.p, b.len);
	pc->len = a.len + b.len;
	h2x_queue(st, pc);
	return pc->len;
}

static size_t
h2x_send_head(struct edge_req *req, const struct edge_resp *resp)
{
	struct h2x_stream *st = h2x_of(req);
	struct h2x_head *hd = &h2x_hd;
	size_t bytes = 0;
	int rv;

	if (st->s == NULL || st->done || (st->final && !resp->interim))
		return 0;
	hd->n = 0;
	hd->over = false;
	if (resp->relay == EDGE_RESP_RELAY_STORED) {
		h2x_head_lines(
		    hd, resp->stored, resp->stored_len, resp->stored_filter ? resp : NULL);
	} else if (resp->relay == EDGE_RESP_RELAY_ORIGIN) {
		for (size_t i = 0; i < resp->n_origin; i++)
			if (!edge_resp_drops_origin(resp, &resp->origin[i]))
				h2x_head_add(hd, resp->origin[i].name, resp->origin[i].value);
	}
	for (unsigned i = 0; i < resp->n_fields; i++) {
		if (i == resp->rules_at)
			h2x_head_rules(hd, resp);
		h2x_head_add(hd, resp->fields[i].name, resp->fields[i].value);
	}
	if (resp->rules_at >= resp->n_fields)
		h2x_head_rules(hd, resp);
	for (unsigned i = 0; i < hd->n; i++)
		bytes += hd->f[i].name.len + hd->f[i].value.len + 4;
	if (resp->interim) {
		if (resp->status == 101)
			return 0; /* no switching protocols in HTTP/2 (RFC 9113 §8.6) */
		(void)edge_h2_send_head(st->x->h, st->s, resp->status, hd->f, hd->n, false);
		return bytes;
	}
	st->no_body =
	    str_eq(req->h1.method, STR_LIT("HEAD")) || resp->status == 204 || resp->status == 304;
	/* no body: END_STREAM on the head itself */
	rv = hd->over ? EDGE_H2_E_HEAD
	              : edge_h2_send_head(st->x->h, st->s, resp->status, hd->f, hd->n, st->no_body);
	if (rv != 0) {
		/* a head HTTP/2 cannot carry (too many fields): the stream is reset */
		edge_h2_abort(st->x->h, st->s);
		st->done = true;
		return 0;
	}
	st->final = true;
	st->ended = st->no_body;
	return bytes + h2x_own_body(st, resp->body, resp->body_tail);
}

static size_t
h2x_send_body(struct edge_req *req, struct evbuffer *buf, size_t n)
{
	struct h2x_stream *st = h2x_of(req);

	if (n == 0)
		return 0;
	if (st->no_body || st->ended || st->s == NULL || !st->final) {
		evbuffer_drain(buf, n);
		return 0;
	}
	h2x_take_cut(st);
	h2x_queue(st, h2x_piece_buf(buf, n));
	h2x_pump(st);
	return n;
}

static size_t
h2x_send_ref(
    struct edge_req *req, const void *data, size_t len, edge_xport_release_cb *release, void *arg)
{
	struct h2x_stream *st = h2x_of(req);
	struct h2x_piece *pc;

	if (len == 0 || st->no_body || st->ended || st->s == NULL || !st->final) {
		if (release != NULL)
			release(data, len, arg);
		return 0;
	}
	h2x_take_cut(st);
	pc = xcalloc(1, sizeof *pc);
	pc->p = data;
	pc->len = len;
	pc->release = release;
	pc->arg = arg;
	h2x_queue(st, pc);
	h2x_pump(st);
	return len;
}

static size_t
h2x_send_end(struct edge_req *req)
{
	struct h2x_stream *st = h2x_of(req);

	st->end_wanted = true;
	h2x_pump(st);
	return 0;
}

static struct evbuffer *
h2x_body_out(struct edge_req *req)
{
	struct h2x_stream *st = h2x_of(req);

	if (st->cut == NULL && (st->cut = evbuffer_new()) == NULL)
		abort();
	return st->cut;
}

static size_t
h2x_queued(const struct edge_req *req)
{
	struct h2x_stream *st = h2x_of(req);

	h2x_pump(st); /* what body_out holds joins the queue first */
	return st->q_bytes + (st->paused ? H2X_PAUSED_QUEUED : 0);
}

static void
h2x_want_writable(struct edge_req *req, size_t low)
{
	struct h2x_stream *st = h2x_of(req);

	st->want = true;
	st->low = low;
}

/* ---- the request body ---- */

static void
h2x_body_begin(struct edge_req *req)
{
	struct h2x_stream *st = h2x_of(req);

	if (st->body_in == NULL && (st->body_in = evbuffer_new()) == NULL)
		abort();
	if (req->h1.expect_continue) {
		struct edge_resp r;

		edge_resp_init(&r, req, 100);
		(void)edge_resp_send(&r, req);
	}
}

static struct evbuffer *
h2x_body_in(struct edge_req *req)
{
	struct h2x_stream *st = h2x_of(req);

	if (st->body_in == NULL && (st->body_in = evbuffer_new()) == NULL)
		abort();
	return st->body_in;
}

static enum edge_xport_body
h2x_body_next(struct edge_req *req, size_t *n, int *status, const char **why)
{
	struct h2x_stream *st = h2x_of(req);
	size_t avail = st->body_in != NULL ? evbuffer_get_length(st->body_in) : 0;

	(void)status;
	(void)why;
	if (avail > 0) {
		*n = avail;
		/* taken: the client may send as much again */
		if (st->s != NULL)
			edge_h2_consume(st->x->h, st->s, avail);
		return EDGE_XPORT_BODY_DATA;
	}
	return st->body_end ? EDGE_XPORT_BODY_END : EDGE_XPORT_BODY_AGAIN;
}

static void
h2x_read_body(struct edge_req *req, bool on)
{
	struct h2x_stream *st = h2x_of(req);

	st->reading = on;
	if (on && ((st->body_in != NULL && evbuffer_get_length(st->body_in) > 0) || st->body_end)) {
		st->kick = true; /* the request reads what is here on the next turn */
		h2x_defer(st->x);
	}
}

/* The request side may read: body bytes, or its end, are here. */
static void
h2x_readable(struct h2x_stream *st)
{
	if (!st->reading || st->done || st->sess.state != EDGE_SESS_PROXY)
		return;
	st->depth++;
	edge_forward_on_client_readable(&st->req);
	st->depth--;
}

static void
h2x_on_body_timer(evutil_socket_t fd, short what, void *arg)
{
	struct h2x_stream *st = arg;
	struct edge_conn *c = st->x->c;

	(void)fd;
	(void)what;
	edge_conn_enter(c);
	st->depth++;
	if (!st->done && st->sess.state == EDGE_SESS_PROXY && edge_forward_reading_body(&st->req))
		edge_forward_body_timeout(&st->req);
	st->depth--;
	if (h2x_stream_over(st))
		h2x_defer(st->x);
	edge_conn_leave(c);
}

static void
h2x_body_timer(struct edge_req *req, const struct timeval *tv)
{
	struct h2x_stream *st = h2x_of(req);

	if (tv == NULL) {
		if (st->body_timer != NULL)
			evtimer_del(st->body_timer);
		return;
	}
	if (st->body_timer == NULL)
		st->body_timer = evtimer_new(st->sess.w->base, h2x_on_body_timer, st);
	evtimer_add(st->body_timer, tv);
}

/* ---- the request's end ---- */

/* Whatever the client still sends of a body nobody reads is credited, so
 * the connection's window does not shrink. */
static void
h2x_discard_body(struct h2x_stream *st)
{
	size_t n = st->body_in != NULL ? evbuffer_get_length(st->body_in) : 0;

	if (n > 0) {
		evbuffer_drain(st->body_in, n);
		if (st->s != NULL)
			edge_h2_consume(st->x->h, st->s, n);
	}
}

static void
h2x_finish(struct edge_req *req)
{
	struct h2x_stream *st = h2x_of(req);

	if (st->done)
		return;
	edge_req_uncount(req);
	st->end_wanted = true;
	h2x_pump(st);
	if (!st->logged) {
		st->logged = true;
		edge_conn_log(req);
	}
	st->done = true;
	st->reading = false;
	h2x_discard_body(st);
	if (st->body_timer != NULL)
		evtimer_del(st->body_timer);
	if (h2x_stream_over(st))
		h2x_defer(st->x);
}

static void
h2x_abort(struct edge_req *req)
{
	struct h2x_stream *st = h2x_of(req);

	if (st->s != NULL && !st->ended)
		edge_h2_abort(st->x->h, st->s);
	edge_req_uncount(req);
	h2x_queue_drop(st);
	st->done = true;
	st->reading = false;
	h2x_discard_body(st);
	if (st->body_timer != NULL)
		evtimer_del(st->body_timer);
}

static void
h2x_enter(struct edge_req *req)
{
	struct h2x_stream *st = h2x_of(req);

	edge_conn_enter(st->x->c);
	st->depth++;
}

static bool
h2x_leave(struct edge_req *req)
{
	struct h2x_stream *st = h2x_of(req);
	bool gone;

	ASSERT(st->depth > 0);
	st->depth--;
	gone = st->sess.dead;
	if (h2x_stream_over(st))
		h2x_defer(st->x);
	return edge_conn_leave(st->x->c) && !gone;
}

const struct edge_xport edge_h2_xport = {
    .name = "HTTP/2",
    .h2 = true,
    .send_head = h2x_send_head,
    .send_body = h2x_send_body,
    .send_ref = h2x_send_ref,
    .send_end = h2x_send_end,
    .body_out = h2x_body_out,
    .queued = h2x_queued,
    .want_writable = h2x_want_writable,
    .body_begin = h2x_body_begin,
    .body_in = h2x_body_in,
    .body_next = h2x_body_next,
    .read_body = h2x_read_body,
    .finish = h2x_finish,
    .abort = h2x_abort,
    .enter = h2x_enter,
    .leave = h2x_leave,
    .body_timer = h2x_body_timer,
};

/* ---- streams ---- */

static struct h2x_stream *
h2x_stream_new(struct edge_h2x *x, struct edge_h2_stream *s)
{
	struct edge_conn *c = x->c;
	struct h2x_stream *st = x->spare;

	if (st != NULL) {
		x->spare = st->next;
		x->n_spare--;
	} else {
		st = xcalloc(1, sizeof *st);
		edge_req_init(&st->req, c, &st->sess, &edge_h2_xport);
	}
	st->x = x;
	st->s = s;
	st->sess.w = c->sess.w;
	st->sess.gen = edge_gen_hold(c->sess.gen);
	st->sess.ssl = c->sess.ssl;
	st->sess.tls = c->sess.tls;
	st->sess.state = EDGE_SESS_READ_HEAD;
	st->sess.keep_alive = true;
	memcpy(st->sess.peer, c->sess.peer, sizeof st->sess.peer);
	st->sess.peer_addr = c->sess.peer_addr;
	st->sess.client = c->sess.client;
	st->next = x->streams;
	st->prev = NULL;
	if (x->streams != NULL)
		x->streams->prev = st;
	x->streams = st;
	edge_h2_stream_set_data(s, st);
	return st;
}

/* Back to the spares (its buffers kept), or freed. */
static void
h2x_stream_free(struct edge_h2x *x, struct h2x_stream *st)
{
	struct edge_worker *w = st->sess.w;

	if (st->prev != NULL)
		st->prev->next = st->next;
	else
		x->streams = st->next;
	if (st->next != NULL)
		st->next->prev = st->prev;
	if (st->s != NULL)
		edge_h2_stream_set_data(st->s, NULL);
	h2x_queue_drop(st);
	if (st->body_timer != NULL)
		event_free(st->body_timer);
	if (st->body_in != NULL)
		evbuffer_free(st->body_in);
	if (st->cut != NULL)
		evbuffer_free(st->cut);
	edge_gen_release(w, &st->sess.gen);
	if (x->n_spare >= H2X_SPARE || st->sess.dead) {
		edge_req_release(&st->req);
		edge_guard_scratch_free(&st->sess.guard);
		free(st);
		return;
	}
	edge_req_reset(&st->req);
	edge_guard_scratch_free(&st->sess.guard);
	{
		struct edge_req keep = st->req;

		memset(st, 0, sizeof *st);
		st->req = keep;
	}
	st->next = x->spare;
	x->spare = st;
	x->n_spare++;
}

/* ---- the session's callbacks ---- */

static size_t
h2x_put(struct edge_h2x *x, size_t at, const char *p, size_t len)
{
	if (at + len > x->head_cap) {
		size_t cap = x->head_cap ? x->head_cap : 1024;

		while (cap < at + len)
			cap *= 2;
		x->head = xrealloc(x->head, cap);
		x->head_cap = cap;
	}
	memcpy(x->head + at, p, len);
	return at + len;
}

static size_t
h2x_put_str(struct edge_h2x *x, size_t at, struct str s)
{
	return h2x_put(x, at, s.p, s.len);
}

/* The request head in HTTP/1.1 form in x->head; its length. */
static size_t
h2x_write_head(struct edge_h2x *x, const struct edge_h2_req *r)
{
	size_t at = 0;
	bool cookie = false;

	at = h2x_put_str(x, at, r->method);
	at = h2x_put(x, at, " ", 1);
	at = h2x_put_str(x, at, str_eq(r->method, STR_LIT("CONNECT")) ? r->authority : r->path);
	at = h2x_put(x, at, " HTTP/1.1\r\n", 11);
	if (r->authority.len > 0) {
		at = h2x_put(x, at, "host: ", 6);
		at = h2x_put_str(x, at, r->authority);
		at = h2x_put(x, at, "\r\n", 2);
	}
	for (unsigned i = 0; i < r->n_fields; i++) {
		if (str_eq(r->fields[i].name, STR_LIT("cookie"))) {
			cookie = true;
			continue;
		}
		at = h2x_put_str(x, at, r->fields[i].name);
		at = h2x_put(x, at, ": ", 2);
		at = h2x_put_str(x, at, r->fields[i].value);
		at = h2x_put(x, at, "\r\n", 2);
	}
	if (cookie) {
		bool first = true;

		at = h2x_put(x, at, "cookie: ", 8);
		for (unsigned i = 0; i < r->n_fields; i++) {
			if (!str_eq(r->fields[i].name, STR_LIT("cookie")))
				continue;
			if (!first)
				at = h2x_put(x, at, "; ", 2);
			at = h2x_put_str(x, at, r->fields[i].value);
			first = false;
		}
		at = h2x_put(x, at, "\r\n", 2);
	}
	if (!r->end_stream && r->content_length < 0)
		at = h2x_put(x, at, "transfer-encoding: chunked\r\n", 28);
	return h2x_put(x, at, "\r\n", 2);
}

static void
h2x_on_request(void *arg, struct edge_h2_stream *s, const struct edge_h2_req *view)
{
	struct edge_h2x *x = arg;
	struct edge_conn *c = x->c;
	struct edge_worker *w = c->sess.w;
	const struct config *cfg = c->sess.gen->cfg;
	struct h2x_stream *st = h2x_stream_new(x, s);
	struct h1_limits lim;
	struct h1_request h1;
	enum h1_status hs;
	size_t len = h2x_write_head(x, view);

	lim.max_request_line = cfg->max_request_line;
	lim.max_head = cfg->max_header_bytes;
	lim.max_headers =
	    cfg->max_header_count < H1_MAX_HEADERS ? cfg->max_header_count : H1_MAX_HEADERS;
	st->body_end = view->end_stream;
	if (!view->end_stream && (st->body_in = evbuffer_new()) == NULL)
		abort();
	st->depth++;
	st->req.start_us = time_mono_us();
	hs = h1_parse_request(x->head, len, &lim, w->hdr_scratch, &h1);
	if (hs == H1_AGAIN)
		hs = H1_E_HEADERS_TOO_LARGE; /* the whole head was given */
	if (hs != H1_OK) {
		char msg[96];

		EDGE_COUNT(&w->metrics, requests_total);
		edge_guard_client(
		    cfg, &st->sess.peer_addr, st->sess.peer, NULL, 0, &st->sess.client);
		snprintf(msg, sizeof msg, "bad request: %s", h1_strerror(hs));
		edge_req_send_error(&st->req, h1_status_http(hs), msg);
	} else {
		edge_req_set_head(&st->req, &h1, x->head);
		edge_req_handle(&st->req);
	}
	st->depth--;
	if (h2x_stream_over(st))
		h2x_defer(x);
}

static void
h2x_on_body(void *arg, struct edge_h2_stream *s, const uint8_t *p, size_t len)
{
	struct edge_h2x *x = arg;
	struct h2x_stream *st = edge_h2_stream_data(s);

	if (st == NULL || st->done || st->body_in == NULL) {
		edge_h2_consume(x->h, s, len); /* nobody reads it */
		return;
	}
	evbuffer_add(st->body_in, p, len);
	h2x_readable(st);
}

static void
h2x_on_body_end(void *arg, struct edge_h2_stream *s)
{
	struct h2x_stream *st = edge_h2_stream_data(s);

	(void)arg;
	if (st == NULL)
		return;
	st->body_end = true;
	h2x_readable(st);
}

static void
h2x_on_writable(void *arg, struct edge_h2_stream *s)
{
	struct h2x_stream *st = edge_h2_stream_data(s);

	(void)arg;
	if (st == NULL)
		return;
	st->paused = false;
	h2x_pump(st);
	if (st->want && !st->paused && st->q_bytes <= st->low && !st->done) {
		st->want = false;
		st->depth++;
		if (st->req.on_writable != NULL)
			st->req.on_writable(&st->req);
		st->depth--;
	}
}

static void
h2x_on_close(void *arg, struct edge_h2_stream *s, uint32_t error_code)
{
	struct edge_h2x *x = arg;
	struct h2x_stream *st = edge_h2_stream_data(s);

	(void)error_code;
	if (st == NULL)
		return;
	st->s = NULL;
	h2x_queue_drop(st);
	if (!st->done) {
		/* reset before its answer was complete: the request is given up
		 * (its fill goes on for others, as when an HTTP/1.1 client leaves) */
		st->done = true;
		st->sess.dead = true;
		st->reading = false;
		if (st->body_timer != NULL)
			evtimer_del(st->body_timer);
	}
	if (h2x_stream_over(st))
		h2x_defer(x);
}

static uint64_t
h2x_now_ms(void *arg)
{
	(void)arg;
	return time_mono_ms();
}

static const struct edge_h2_cbs h2x_cbs = {
    .on_request = h2x_on_request,
    .on_body = h2x_on_body,
    .on_body_end = h2x_on_body_end,
    .on_writable = h2x_on_writable,
    .on_close = h2x_on_close,
    .now_ms = h2x_now_ms,
};

/* ---- the connection ---- */

enum edge_h2x_preface
edge_h2x_preface(struct evbuffer *in)
{
	size_t len = evbuffer_get_length(in);
	char b[H2X_PREFACE_LEN];
	size_t n = len < H2X_PREFACE_LEN ? len : H2X_PREFACE_LEN;

	if (evbuffer_copyout(in, b, n) != (ev_ssize_t)n || memcmp(b, H2X_PREFACE, n) != 0)
		return EDGE_H2X_PREFACE_NO;
	return n == H2X_PREFACE_LEN ? EDGE_H2X_PREFACE_YES : EDGE_H2X_PREFACE_MORE;
}

void
edge_h2x_start(struct edge_conn *c)
{
	struct edge_h2x *x = xcalloc(1, sizeof *x);
	struct edge_h2_conf conf;

	x->c = c;
	x->timer_kind = -1;
	conf = c->sess.gen->cfg->http2;
	conf.idle_timeout_ms = c->sess.gen->cfg->idle_timeout_ms;
	ASSERT(edge_h2_conf_check(&conf, NULL, 0) == 0); /* config/ checked the ranges */
	x->settings_timeout_ms = conf.settings_timeout_ms;
	x->h = edge_h2_new(&conf, &h2x_cbs, x, c->io.out);
	x->defer = event_new(c->sess.w->base, -1, 0, h2x_on_defer, x);
	c->h2 = x;
	/* the session produces while the output holds less than its mark; the
	 * write callback asks for more once a quarter of it is left */
	edge_io_set_lowmark(&c->io, conf.out_buffer_bytes / 4);
	evtimer_del(c->timer);
	EDGE_COUNT(&c->sess.w->metrics, h2_connections_total);
}

/* The session's counters since the last call, to the worker's metrics. */
static void
h2x_count(struct edge_h2x *x)
{
	const uint64_t *now = edge_h2_counters(x->h);
	struct edge_metrics *m = &x->c->sess.w->metrics;

	for (unsigned i = 0; i < EDGE_H2_C_COUNT; i++)
		if (now[i] != x->reported[i]) {
			edge_metrics_add(m, (enum edge_counter)(EDGE_C_h2_streams_total + i),
			    now[i] - x->reported[i]);
			x->reported[i] = now[i];
		}
}

void
edge_h2x_free(struct edge_conn *c)
{
	struct edge_h2x *x = c->h2;
	struct h2x_stream *st;

	if (x == NULL)
		return;
	h2x_count(x);
	while ((st = x->streams) != NULL) {
		st->sess.dead = true;
		st->depth = 0;
		h2x_stream_free(x, st);
	}
	edge_h2_free(&x->h);
	while ((st = x->spare) != NULL) {
		x->spare = st->next;
		edge_req_release(&st->req);
		free(st);
	}
	event_free(x->defer);
	free(x->head);
	free(x);
	c->h2 = NULL;
}

void
edge_h2x_dead(struct edge_conn *c)
{
	for (struct h2x_stream *st = c->h2->streams; st != NULL; st = st->next) {
		st->sess.dead = true;
		st->done = true;
	}
}

void
edge_h2x_free_later(struct edge_conn *c)
{
	c->h2->free_conn = true;
	h2x_defer(c->h2);
}

/* What the connection's one timer waits for. */
enum h2x_timer {
	H2X_TIMER_NONE = -1,
	H2X_TIMER_IDLE = EDGE_H2_TIMEOUT_IDLE,         /* no request: timeouts.idle */
	H2X_TIMER_SETTINGS = EDGE_H2_TIMEOUT_SETTINGS, /* our SETTINGS unacknowledged */
	H2X_TIMER_HEAD,  /* a head begun, not complete: timeouts.header */
	H2X_TIMER_STALL, /* a stream the client's window holds: timeouts.send */
};

static bool
h2x_any_paused(const struct edge_h2x *x)
{
	for (const struct h2x_stream *st = x->streams; st != NULL; st = st->next)
		if (st->paused && st->s != NULL)
			return true;
	return false;
}

static void
h2x_arm_timer(struct edge_h2x *x)
{
	const struct config *cfg = x->c->sess.gen->cfg;
	enum h2x_timer kind = H2X_TIMER_NONE;
	unsigned ms = 0;
	struct timeval tv;

	if (edge_h2_settings_pending(x->h)) {
		kind = H2X_TIMER_SETTINGS;
		ms = x->settings_timeout_ms;
	} else if (edge_h2_idle(x->h)) {
		kind = H2X_TIMER_IDLE;
		ms = cfg->idle_timeout_ms;
	} else if (x->streams == NULL) {
		kind = H2X_TIMER_HEAD;
		ms = cfg->header_timeout_ms;
	} else if (h2x_any_paused(x)) {
		kind = H2X_TIMER_STALL;
		ms = cfg->send_timeout_ms;
	}
	if ((int)kind == x->timer_kind)
		return;
	x->timer_kind = (int)kind;
	if (kind == H2X_TIMER_NONE) {
		evtimer_del(x->c->timer);
		return;
	}
	tv = time_ms_to_tv(ms);
	evtimer_add(x->c->timer, &tv);
}

/* Streams the client's window has held for timeouts.send are reset (the
 * send timeout of HTTP/1.1: a client that stops reading). */
static void
h2x_stalled(struct edge_h2x *x)
{
	uint64_t now = time_mono_ms();
	unsigned limit = x->c->sess.gen->cfg->send_timeout_ms;

	for (struct h2x_stream *st = x->streams; st != NULL; st = st->next) {
		if (!st->paused || st->s == NULL || now - st->paused_ms < limit)
			continue;
		EDGE_COUNT(&x->c->sess.w->metrics, client_timeouts_total);
		st->depth++;
		h2x_abort(&st->req);
		st->depth--;
	}
}

void
edge_h2x_read(struct edge_conn *c)
{
	struct edge_h2x *x = c->h2;

	if (x->closing) {
		evbuffer_drain(c->io.in, evbuffer_get_length(c->io.in));
		return;
	}
	if (edge_h2_recv_evbuffer(x->h, c->io.in) != 0)
		x->closing = true; /* the GOAWAY queued goes, then the connection */
}

void
edge_h2x_produce(struct edge_conn *c)
{
	struct edge_h2x *x = c->h2;

	if (c->sess.dead)
		return;
	if (edge_h2_send(x->h) != 0)
		x->closing = true;
	h2x_count(x);
	if (x->closing || edge_h2_done(x->h) || (x->eof && edge_h2_idle(x->h))) {
		x->closing = true;
		edge_conn_closing(c);
		return;
	}
	h2x_arm_timer(x);
}

void
edge_h2x_timer(struct edge_conn *c)
{
	struct edge_h2x *x = c->h2;
	enum h2x_timer kind = (enum h2x_timer)x->timer_kind;

	x->timer_kind = H2X_TIMER_NONE;
	switch (kind) {
	case H2X_TIMER_NONE:
		break;
	case H2X_TIMER_IDLE:
	case H2X_TIMER_HEAD:
		EDGE_COUNT(&c->sess.w->metrics, client_timeouts_total);
		edge_h2_timeout(x->h, EDGE_H2_TIMEOUT_IDLE);
		break;
	case H2X_TIMER_SETTINGS:
		EDGE_COUNT(&c->sess.w->metrics, client_timeouts_total);
		edge_h2_timeout(x->h, EDGE_H2_TIMEOUT_SETTINGS);
		break;
	case H2X_TIMER_STALL:
		h2x_stalled(x);
		break;
	}
}

void
edge_h2x_eof(struct edge_conn *c)
{
	c->h2->eof = true;
}

void
edge_h2x_drain(struct edge_conn *c)
{
	edge_h2_drain(c->h2->h);
}
