/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_admin_http.c — the admin listener's HTTP/1.1 server (see the
 * header for what it offers).
 *
 * A connection is a bufferevent on the main loop and one request at a time:
 * HEAD (reading a head: parsed by h1_parse_request from the input at each
 * read, copied once complete), BODY (reading a Content-Length or chunked
 * body into an evbuffer, at most max_body bytes), HANDLING (a handler has
 * the request; pipelined bytes wait in the input), CLOSING (the answer is
 * flushing, then the connection is freed).  A connection is freed only from
 * its own bufferevent callbacks (write drained while CLOSING, error,
 * timeout) or by admin_http_free, never under a handler.  Every wait is
 * bounded: ADMIN_HTTP_TIMEOUT_MS for a head, a body, an idle keep-alive
 * connection and a send; a deferred request has no read timeout (its
 * handler bounds it), but a failed connection is still noticed, since
 * reading stays on (up to ADMIN_HTTP_MAX_HEAD pipelined bytes).
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <jansson.h>

#include "core/assert.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "edge/edge_admin_http.h"
#include "edge/edge_worker.h"

#define ADMIN_OUT_HIGH (256 * 1024) /* answers queued before reading pauses */

enum admin_conn_state {
	ADMIN_CONN_HEAD = 0,
	ADMIN_CONN_BODY,
	ADMIN_CONN_HANDLING,
	ADMIN_CONN_CLOSING,
};

struct admin_http {
	struct evconnlistener *lst;
	const struct admin_route *routes;
	size_t n_routes;
	void *arg;
	admin_max_body_cb *max_body;
	struct admin_conn *conns;
	unsigned n_conns;
};

struct admin_conn {
	unsigned magic; /* ADMIN_CONN_MAGIC */
	struct admin_http *srv;
	struct admin_conn *next, *prev;
	struct bufferevent *bev;
	enum admin_conn_state state;
	char peer[INET6_ADDRSTRLEN];
	char *head; /* a copy of the current head: h's views point here */
	size_t head_cap;
	struct h1_header hdrs[ADMIN_HTTP_MAX_HEADERS];
	struct h1_request h;
	struct evbuffer *body;
	struct h1_chunked dec;
	uint64_t remaining; /* Content-Length bytes still to read */
	size_t max_body;    /* of this request */
	struct evbuffer *fields;
	struct admin_req req;
	admin_gone_cb *gone; /* set while deferred */
	void *gone_arg;
	bool keep_alive;
	bool eof;        /* the client sends nothing more */
	bool processing; /* inside admin_process (it loops by itself) */
};

static void admin_process(struct admin_conn *c);

static void
admin_set_timeouts(struct admin_conn *c, bool reading)
{
	struct timeval tv = time_ms_to_tv(ADMIN_HTTP_TIMEOUT_MS);

	bufferevent_set_timeouts(c->bev, reading ? &tv : NULL, &tv);
}

static void
admin_conn_free(struct admin_conn *c)
{
	struct admin_http *s = c->srv;

	OBJ_CHECK(c, ADMIN_CONN_MAGIC);
	if (c->gone != NULL) {
		admin_gone_cb *gone = c->gone;

		c->gone = NULL;
		gone(&c->req, c->gone_arg);
	}
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	s->n_conns--;
	bufferevent_free(c->bev);
	evbuffer_free(c->body);
	evbuffer_free(c->fields);
	free(c->head);
	c->req.magic = 0;
	c->magic = 0;
	free(c);
}

/* Writes a complete answer; then the next request, or the close. */
static void
admin_send(
    struct admin_conn *c, int status, const char *type, struct evbuffer *body, bool head_only)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	size_t len = body != NULL ? evbuffer_get_length(body) : 0;
	char date[TIME_HTTP_DATE_LEN + 1];

	c->gone = NULL;
	c->req.magic = 0;
	time_http_date(time_now(), date);
	if (c->eof || c->srv->lst == NULL)
		c->keep_alive = false;
	evbuffer_add_printf(out,
	    "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	    "Cache-Control: no-store\r\n",
	    status, h1_reason(status), date, type, len);
	evbuffer_add_buffer(out, c->fields);
	evbuffer_add_printf(out, "%s\r\n", c->keep_alive ? "" : "Connection: close\r\n");
	if (body != NULL && !head_only)
		evbuffer_add_buffer(out, body);
	else if (body != NULL)
		evbuffer_drain(body, len);
	evbuffer_drain(c->body, evbuffer_get_length(c->body));
	if (!c->keep_alive) {
		c->state = ADMIN_CONN_CLOSING;
		bufferevent_disable(c->bev, EV_READ);
		return;
	}
	c->state = ADMIN_CONN_HEAD;
	admin_set_timeouts(c, true);
	bufferevent_enable(c->bev, EV_READ);
	if (!c->processing) /* a deferred answer: go on with what is pipelined */
		admin_process(c);
}

/* An answer of the server's own to input it cannot take: then the close. */
static void
admin_fail(struct admin_conn *c, int status, const char *msg)
{
	struct evbuffer *b = evbuffer_new();

	evbuffer_add_printf(b, "%s\n", msg);
	c->keep_alive = false;
	evbuffer_drain(c->fields, evbuffer_get_length(c->fields));
	admin_send(c, status, "text/plain; charset=utf-8", b, false);
	evbuffer_free(b);
}

static bool
admin_method_ok(const char *want, struct str method)
{
	return str_eq(method, str_cstr(want)) ||
	       (strcmp(want, "GET") == 0 && str_eq(method, STR_LIT("HEAD")));
}

static bool
admin_path_ok(const char *want, struct str path)
{
	size_t n = strlen(want);

	if (n > 1 && want[n - 1] == '/')
		return path.len > n && memcmp(path.p, want, n) == 0;
	return str_eq(path, str_make(want, n));
}

/* Hands the complete request to its route's handler, or answers 404/405. */
static void
admin_dispatch(struct admin_conn *c)
{
	struct admin_http *s = c->srv;
	struct admin_req *r = &c->req;
	const char *q = memchr(c->h.path.p, '?', c->h.path.len);
	bool path_known = false;
	char allow[128] = "";

	memset(r, 0, sizeof *r);
	r->magic = ADMIN_REQ_MAGIC;
	r->h = &c->h;
	r->path = str_make(c->h.path.p, q != NULL ? (size_t)(q - c->h.path.p) : c->h.path.len);
	r->query =
	    q != NULL ? str_make(q + 1, c->h.path.len - (size_t)(q + 1 - c->h.path.p)) : STR_NULL;
	r->body = (const char *)evbuffer_pullup(c->body, -1);
	r->body_len = evbuffer_get_length(c->body);
	r->peer = c->peer;
	r->conn = c;
	for (size_t i = 0; i < s->n_routes; i++)
		if (s->routes[i].path == NULL &&
		    str_eq(c->h.method, str_cstr(s->routes[i].method))) {
			s->routes[i].cb(r, s->arg);
			return;
		}
	for (size_t i = 0; i < s->n_routes; i++) {
		const struct admin_route *rt = &s->routes[i];

		if (rt->path == NULL || !admin_path_ok(rt->path, r->path))
			continue;
		if (admin_method_ok(rt->method, c->h.method)) {
			rt->cb(r, s->arg);
			return;
		}
		path_known = true;
		snprintf(allow + strlen(allow), sizeof allow - strlen(allow), "%s%s%s",
		    allow[0] != '\0' ? ", " : "", rt->method,
		    strcmp(rt->method, "GET") == 0 ? ", HEAD" : "");
	}
	if (!path_known) {
		admin_http_reply_text(r, 404, "not found");
		return;
	}
	admin_http_field(r, "Allow", allow);
	admin_http_reply_text(r, 405, "method not allowed");
}

/* Reads the head at the start of the input: true when c->h holds it (copied,
 * the input past it). */
static bool
admin_read_head(struct admin_conn *c, struct evbuffer *in)
{
	static const struct h1_limits lim = {
	    ADMIN_HTTP_MAX_HEAD, ADMIN_HTTP_MAX_HEAD, ADMIN_HTTP_MAX_HEADERS};
	size_t len = evbuffer_get_length(in), n;
	const char *p;
	enum h1_status st;
	char msg[96];

	if (len == 0) {
		if (c->eof) { /* admin_on_event frees it once the output is out */
			c->keep_alive = false;
			c->state = ADMIN_CONN_CLOSING;
			bufferevent_disable(c->bev, EV_READ);
		}
		return false;
	}
	n = len < ADMIN_HTTP_MAX_HEAD + 1 ? len : ADMIN_HTTP_MAX_HEAD + 1;
	p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
	st = h1_parse_request(p, n, &lim, c->hdrs, &c->h);
	if (st == H1_AGAIN) {
		if (c->eof)
			admin_fail(c, 400, "bad request: incomplete request head");
		return false;
	}
	if (st != H1_OK) {
		snprintf(msg, sizeof msg, "bad request: %s", h1_strerror(st));
		admin_fail(c, h1_status_http(st), msg);
		return false;
	}
	if (c->h.head_len > c->head_cap) {
		free(c->head);
		c->head_cap = c->h.head_len;
		c->head = xmalloc(c->head_cap);
	}
	n = c->h.head_len;
	memcpy(c->head, p, n);
	evbuffer_drain(in, n);
	/* the same bytes again, so that the views point into the copy */
	st = h1_parse_request(c->head, n, &lim, c->hdrs, &c->h);
	ASSERT(st == H1_OK);
	c->keep_alive = c->h.keep_alive;
	c->max_body = c->srv->max_body(c->srv->arg);
	if (c->h.body == H1_BODY_LENGTH && c->h.content_length > c->max_body) {
		admin_fail(c, 413, "content too large");
		return false;
	}
	c->remaining = c->h.body == H1_BODY_LENGTH ? c->h.content_length : 0;
	h1_chunked_init(&c->dec);
	if (c->h.expect_continue && c->h.body != H1_BODY_NONE)
		evbuffer_add_printf(
		    bufferevent_get_output(c->bev), "HTTP/1.1 100 Continue\r\n\r\n");
	return true;
}

/* Moves body bytes from the input: true once the body is complete. */
static bool
admin_read_body(struct admin_conn *c, struct evbuffer *in)
{
	size_t len = evbuffer_get_length(in);

	if (c->h.body == H1_BODY_LENGTH) {
		size_t take = c->remaining < len ? (size_t)c->remaining : len;

		evbuffer_remove_buffer(in, c->body, take);
		c->remaining -= take;
	} else if (c->h.body == H1_BODY_CHUNKED) {
		while (len > 0) {
			const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)len), *d;
			size_t used, dl;
			enum h1_status st = h1_chunked_decode(&c->dec, p, len, &used, &d, &dl);

			if (evbuffer_get_length(c->body) + dl > c->max_body) {
				admin_fail(c, 413, "content too large");
				return false;
			}
			evbuffer_add(c->body, d, dl);
			evbuffer_drain(in, used);
			len -= used;
			if (st == H1_OK)
				return true;
			if (st != H1_AGAIN) {
				admin_fail(c, 400, "bad request: malformed chunked body");
				return false;
			}
			if (used == 0)
				break;
		}
		if (c->eof)
			admin_fail(c, 400, "bad request: incomplete body");
		return false;
	}
	if (c->remaining == 0)
		return true;
	if (c->eof)
		admin_fail(c, 400, "bad request: incomplete body");
	return false;
}

/* Parses and handles what the input holds, request after request, until
 * one is deferred, the input runs out or the connection is closing. */
static void
admin_process(struct admin_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);

	c->processing = true;
	for (;;) {
		if (c->state == ADMIN_CONN_HEAD &&
		    evbuffer_get_length(bufferevent_get_output(c->bev)) > ADMIN_OUT_HIGH) {
			/* answers pile up unread: wait for the output to drain */
			bufferevent_disable(c->bev, EV_READ);
			break;
		}
		if (c->state == ADMIN_CONN_HEAD) {
			if (!admin_read_head(c, in))
				break;
			c->state = ADMIN_CONN_BODY;
		}
		if (c->state != ADMIN_CONN_BODY || !admin_read_body(c, in))
			break;
		c->state = ADMIN_CONN_HANDLING;
		admin_dispatch(c);
		if (c->state == ADMIN_CONN_HANDLING) { /* deferred: no read timeout */
			admin_set_timeouts(c, false);
			break;
		}
	}
	c->processing = false;
}

static void
admin_on_read(struct bufferevent *bev, void *arg)
{
	struct admin_conn *c = arg;

	OBJ_CHECK(c, ADMIN_CONN_MAGIC);
	(void)bev;
	if (c->state == ADMIN_CONN_HANDLING) {
		/* pipelined bytes wait for the answer, up to a head's worth */
		if (evbuffer_get_length(bufferevent_get_input(c->bev)) > ADMIN_HTTP_MAX_HEAD)
			bufferevent_disable(c->bev, EV_READ);
		return;
	}
	if (c->state != ADMIN_CONN_CLOSING)
		admin_process(c);
}

static void
admin_on_write(struct bufferevent *bev, void *arg)
{
	struct admin_conn *c = arg;

	OBJ_CHECK(c, ADMIN_CONN_MAGIC);
	if (c->state == ADMIN_CONN_CLOSING &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
		admin_conn_free(c);
	} else if (c->state == ADMIN_CONN_HEAD && !(bufferevent_get_enabled(bev) & EV_READ)) {
		bufferevent_enable(bev, EV_READ);
		admin_process(c);
	}
}

static void
admin_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct admin_conn *c = arg;

	OBJ_CHECK(c, ADMIN_CONN_MAGIC);
	(void)bev;
	if ((what & BEV_EVENT_EOF) && !(what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))) {
		/* a half-close: what was sent is still answered */
		c->eof = true;
		if (c->state == ADMIN_CONN_HEAD || c->state == ADMIN_CONN_BODY)
			admin_process(c);
		if (c->state != ADMIN_CONN_CLOSING ||
		    evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
			return;
	}
	admin_conn_free(c);
}

static void
admin_on_accept(
    struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	struct admin_http *s = arg;
	struct admin_conn *c;

	(void)l;
	(void)salen;
	if (s->n_conns >= ADMIN_HTTP_MAX_CONNS) {
		close(fd);
		return;
	}
	c = xcalloc(1, sizeof *c);
	c->magic = ADMIN_CONN_MAGIC;
	c->srv = s;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
		    c->peer, sizeof c->peer);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
		    c->peer, sizeof c->peer);
	c->bev = bufferevent_socket_new(evconnlistener_get_base(l), fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		close(fd);
		free(c);
		return;
	}
	c->body = evbuffer_new();
	c->fields = evbuffer_new();
	c->next = s->conns;
	if (s->conns != NULL)
		s->conns->prev = c;
	s->conns = c;
	s->n_conns++;
	bufferevent_setcb(c->bev, admin_on_read, admin_on_write, admin_on_event, c);
	admin_set_timeouts(c, true);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static void
admin_on_accept_resume(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	evconnlistener_enable(arg);
}

/* accept(2) out of descriptors or memory: pause as the workers do
 * (edge_worker.c), or the main loop would spin on the pending connection. */
static void
admin_on_accept_error(struct evconnlistener *l, void *arg)
{
	static uint64_t last_ms;
	struct timeval tv = time_ms_to_tv(EDGE_ACCEPT_PAUSE_MS);
	uint64_t now = time_mono_ms();
	int err = EVUTIL_SOCKET_ERROR();

	(void)arg;
	if (now - last_ms >= 10000) {
		last_ms = now;
		log_err("admin", "accept: %s", evutil_socket_error_to_string(err));
	}
	if (!edge_accept_exhausted(err))
		return;
	evconnlistener_disable(l);
	(void)event_base_once(
	    evconnlistener_get_base(l), -1, EV_TIMEOUT, admin_on_accept_resume, l, &tv);
}

struct admin_http *
admin_http_new(struct event_base *base, int fd, const struct admin_route *routes, size_t n_routes,
    void *arg, admin_max_body_cb *max_body)
{
	struct admin_http *s = xcalloc(1, sizeof *s);

	s->routes = routes;
	s->n_routes = n_routes;
	s->arg = arg;
	s->max_body = max_body;
	s->lst = evconnlistener_new(base, admin_on_accept, s, LEV_OPT_CLOSE_ON_FREE, -1, fd);
	if (s->lst == NULL) {
		log_err("admin", "cannot accept on the admin listener");
		close(fd);
		free(s);
		return NULL;
	}
	evconnlistener_set_error_cb(s->lst, admin_on_accept_error);
	return s;
}

void
admin_http_free(struct admin_http **hp)
{
	struct admin_http *s = *hp;

	if (s == NULL)
		return;
	*hp = NULL;
	evconnlistener_free(s->lst);
	s->lst = NULL;
	while (s->conns != NULL)
		admin_conn_free(s->conns);
	free(s);
}

struct str
admin_http_header(const struct admin_req *r, const char *name)
{
	const struct h1_header *f = h1_header_find(r->h->headers, r->h->n_headers, str_cstr(name));

	return f != NULL ? f->value : STR_NULL;
}

void
admin_http_field(struct admin_req *r, const char *name, const char *value)
{
	OBJ_CHECK(r, ADMIN_REQ_MAGIC);
	evbuffer_add_printf(r->conn->fields, "%s: %s\r\n", name, value);
}

void
admin_http_reply(struct admin_req *r, int status, const char *type, struct evbuffer *body)
{
	struct admin_conn *c = r->conn;

	OBJ_CHECK(r, ADMIN_REQ_MAGIC);
	OBJ_CHECK(c, ADMIN_CONN_MAGIC);
	ASSERT(c->state == ADMIN_CONN_HANDLING);
	admin_send(c, status, type, body, str_eq(c->h.method, STR_LIT("HEAD")));
}

void
admin_http_reply_text(struct admin_req *r, int status, const char *text)
{
	struct evbuffer *b = evbuffer_new();

	evbuffer_add_printf(b, "%s\n", text);
	admin_http_reply(r, status, "text/plain; charset=utf-8", b);
	evbuffer_free(b);
}

void
admin_http_reply_json(struct admin_req *r, int status, const struct json_t *j)
{
	struct evbuffer *b = evbuffer_new();
	char *text = json_dumps(j, JSON_COMPACT);

	evbuffer_add_printf(b, "%s\n", text != NULL ? text : "{}");
	free(text);
	admin_http_reply(r, status, "application/json", b);
	evbuffer_free(b);
}

void
admin_http_defer(struct admin_req *r, admin_gone_cb *gone, void *arg)
{
	OBJ_CHECK(r, ADMIN_REQ_MAGIC);
	r->conn->gone = gone;
	r->conn->gone_arg = arg;
}
