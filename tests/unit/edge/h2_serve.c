/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/edge/h2_serve.c — the HTTP/2 session (edge/edge_h2.h) on a
 * loopback socket, prior knowledge, for real clients (curl, nghttp, h2load:
 * test_edge_h2_clients.py).  Not the node's transport: a bufferevent per
 * connection whose output evbuffer the session writes into.
 *
 *   GET /bytes/N   N bytes (the pattern 'a'..'z'), 64 KiB pieces by reference
 *   POST /echo     "received N" once the body ended
 *   else           404
 *
 * Prints "port N" and serves until stdin closes (or 60 s pass).  Exits 1 if
 * body references are still held once every connection is gone.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "edge/edge_h2.h"

#define BODY_MAX (16u << 20)
#define PIECE    65536

static char pattern[BODY_MAX];
/* references the outputs hold on the pattern: a bufferevent freed from its
 * own callback lets its output go later, so they are counted here and
 * checked once the loop is over */
static long pattern_refs;

struct conn {
	struct bufferevent *bev;
	struct edge_h2 *h;
	bool closing;
};

struct req {
	size_t len, sent;
	size_t received;
	bool echo;
};

/* A short body of our own: it lives until the last frame holding it is
 * written, which may be after its stream closed. */
struct text {
	int refs;
	char p[32];
};

static void *
text_ref(void *arg)
{
	((struct text *)arg)->refs++;
	return arg;
}

static void
text_unref(const void *data, size_t len, void *arg)
{
	struct text *t = arg;

	(void)data;
	(void)len;
	if (--t->refs == 0)
		free(t);
}

static void *
ref(void *arg)
{
	pattern_refs++;
	return arg;
}

static void
unref(const void *data, size_t len, void *arg)
{
	(void)data;
	(void)len;
	(void)arg;
	pattern_refs--;
}

static void
pump(struct conn *c, struct edge_h2_stream *s)
{
	struct req *r = edge_h2_stream_data(s);

	while (r->sent < r->len) {
		size_t n = r->len - r->sent < PIECE ? r->len - r->sent : PIECE;
		int rv = edge_h2_send_body(
		    c->h, s, pattern + r->sent, n, ref, unref, c, r->sent + n == r->len);

		if (rv < 0)
			return; /* queue full: on_writable */
		r->sent += n;
		if (rv == EDGE_H2_PAUSED)
			return;
	}
}

static void
answer(struct conn *c, struct edge_h2_stream *s, int status, const char *text, size_t len)
{
	struct req *r = edge_h2_stream_data(s);
	char cl[24];
	struct edge_h2_field f[3] = {
	    {STR_LIT("Content-Type"), STR_LIT("application/octet-stream")},
	    {STR_LIT("Content-Length"), STR_NULL},
	    {STR_LIT("Connection"), STR_LIT("keep-alive")}, /* must not reach the wire */
	};

	snprintf(cl, sizeof cl, "%zu", len);
	f[1].value = str_cstr(cl);
	if (edge_h2_send_head(c->h, s, status, f, 3, len == 0) != 0 || len == 0)
		return;
	r->len = len;
	if (text == pattern) {
		pump(c, s);
		return;
	}
	{
		struct text *t = calloc(1, sizeof *t);

		if (t == NULL || len > sizeof t->p)
			abort();
		memcpy(t->p, text, len);
		if (edge_h2_send_body(c->h, s, t->p, len, text_ref, text_unref, t, true) < 0)
			free(t);
	}
}

static void
echo_answer(struct conn *c, struct edge_h2_stream *s)
{
	struct req *r = edge_h2_stream_data(s);
	char t[32];
	int n = snprintf(t, sizeof t, "received %zu", r->received);

	answer(c, s, 200, t, (size_t)n);
}

static void
on_request(void *arg, struct edge_h2_stream *s, const struct edge_h2_req *req)
{
	struct conn *c = arg;
	struct req *r = calloc(1, sizeof *r);
	uint64_t n;

	if (r == NULL)
		abort();
	edge_h2_stream_set_data(s, r);
	if (str_has_prefix(req->path, STR_LIT("/bytes/")) &&
	    str_to_u64(str_make(req->path.p + 7, req->path.len - 7), &n) == 0 && n <= BODY_MAX) {
		answer(c, s, 200, pattern, (size_t)n);
	} else if (str_eq(req->path, STR_LIT("/echo"))) {
		r->echo = true;
		if (req->end_stream)
			echo_answer(c, s);
	} else {
		answer(c, s, 404, "not found\n", 10);
	}
}

static void
on_body(void *arg, struct edge_h2_stream *s, const uint8_t *p, size_t len)
{
	struct conn *c = arg;
	struct req *r = edge_h2_stream_data(s);

	(void)p;
	r->received += len;
	edge_h2_consume(c->h, s, len);
}

static void
on_body_end(void *arg, struct edge_h2_stream *s)
{
	struct req *r = edge_h2_stream_data(s);

	if (r->echo)
		echo_answer(arg, s);
}

static void
on_writable(void *arg, struct edge_h2_stream *s)
{
	pump(arg, s);
}

static void
on_close(void *arg, struct edge_h2_stream *s, uint32_t code)
{
	(void)arg;
	(void)code;
	free(edge_h2_stream_data(s));
}

static const struct edge_h2_cbs cbs = {
    .on_request = on_request,
    .on_body = on_body,
    .on_body_end = on_body_end,
    .on_writable = on_writable,
    .on_close = on_close,
};

static void
conn_free(struct conn *c)
{
	edge_h2_free(&c->h);
	bufferevent_free(c->bev); /* its output and references go, maybe later */
	free(c);
}

static void
conn_output(struct conn *c)
{
	(void)edge_h2_send(c->h);
	if (edge_h2_done(c->h))
		c->closing = true;
	if (c->closing && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		conn_free(c);
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	if (c->closing)
		evbuffer_drain(in, evbuffer_get_length(in));
	else if (edge_h2_recv_evbuffer(c->h, in) != 0)
		c->closing = true;
	conn_output(c);
}

static void
on_write(struct bufferevent *bev, void *arg)
{
	(void)bev;
	conn_output(arg);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		conn_free(arg);
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len, void *arg)
{
	struct conn *c = calloc(1, sizeof *c);
	struct edge_h2_conf conf;

	(void)l;
	(void)sa;
	(void)len;
	(void)arg;
	if (c == NULL)
		abort();
	edge_h2_conf_defaults(&conf);
	c->bev = bufferevent_socket_new(evconnlistener_get_base(l), fd, BEV_OPT_CLOSE_ON_FREE);
	c->h = edge_h2_new(&conf, &cbs, c, bufferevent_get_output(c->bev));
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_setwatermark(c->bev, EV_WRITE, 16384, 0);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	conn_output(c);
}

static void
on_stdin(evutil_socket_t fd, short what, void *arg)
{
	char b[64];

	(void)what;
	if (read(fd, b, sizeof b) <= 0)
		event_base_loopbreak(arg);
}

int
main(void)
{
	struct event_base *base = event_base_new();
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t slen = sizeof sin;
	struct evconnlistener *l;
	struct event *in;
	struct timeval limit = {60, 0};

	for (size_t i = 0; i < sizeof pattern; i++)
		pattern[i] = (char)('a' + i % 26);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = evconnlistener_new_bind(base, on_accept, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 64, (struct sockaddr *)&sin, sizeof sin);
	if (l == NULL ||
	    getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&sin, &slen) == -1) {
		perror("h2_serve: listen");
		return 2;
	}
	printf("port %u\n", ntohs(sin.sin_port));
	fflush(stdout);
	in = event_new(base, 0, EV_READ | EV_PERSIST, on_stdin, base);
	event_add(in, NULL);
	event_base_loopexit(base, &limit);
	event_base_dispatch(base);
	event_free(in);
	evconnlistener_free(l);
	event_base_free(base);
	if (pattern_refs != 0) {
		fprintf(stderr, "h2_serve: %ld body references left\n", pattern_refs);
		return 1;
	}
	return 0;
}
