/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_conn.c — client connections: the socket, timers, lingering
 * close, the HTTP/1.1 parse loop, and the access log record of each
 * request a connection carries.  What a request sees of its connection is
 * the connection's struct edge_sess (edge_req.h); the answers (hits, the
 * node's own errors) are the request's, through its transport.
 *
 * Model: a connection reads a request head, parses it in place (h1), resets
 * its request object (edge_req.h) and hands it the head, which the request
 * copies (so the views outlive the input buffer); the request's steps
 * (edge_req.c) answer at once (a cache hit, an error) or hand it to
 * edge_forward.c.  While it runs, pipelined bytes stay in the input buffer;
 * when the response is queued the loop continues with them.
 *
 * Lifetime: callbacks run with cb_depth > 0; edge_conn_close() inside a
 * callback only marks the connection dead and the outermost callback frees it,
 * so no code path touches a freed connection.
 *
 * Closing after an error is a lingering close: the response is flushed, the
 * write side shut down, and unread input discarded for a short while, so the
 * client reads the error instead of a reset.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "cache/cache.h"
#include "config/config.h"
#include "core/assert.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "edge/edge_accesslog.h"
#include "edge/edge_conn.h"
#include "edge/edge_io.h"
#include "edge/edge_forward.h"
#include "edge/edge_h1.h"
#include "edge/edge_h2_xport.h"
#include "edge/edge_tls.h"
#include "edge/edge_worker.h"

#define EDGE_OUT_HIGH  (256 * 1024) /* stop producing responses above this */
#define EDGE_LINGER_MS 2000
/* An idle keep-alive connection gives its request buffers back after this
 * long (conn_release_request): soon enough that thousands of idle ones hold
 * little, late enough that a busy one never pays for it. */
#define EDGE_IDLE_RELEASE_MS 100

static void conn_process(struct edge_conn *c);
static void conn_free(struct edge_conn *c);
static void conn_on_drained(struct edge_conn *c);

/* No request (yet): the client is the peer. */
static void
conn_client_reset(struct edge_conn *c)
{
	edge_guard_client(c->sess.gen != NULL ? c->sess.gen->cfg : c->sess.w->gen->cfg,
	    &c->sess.peer_addr, c->sess.peer, NULL, 0, &c->sess.client);
}

static void
conn_tv(struct timeval *tv, unsigned ms)
{
	*tv = time_ms_to_tv(ms);
}

void
edge_conn_enter(struct edge_conn *c)
{
	c->cb_depth++;
}

/*
 * Leaving the outermost callback writes what the callback queued (one
 * writev for however many responses it produced), and lets whoever waited for
 * the output to drain continue; a bounded loop, since each round either
 * drains the output or leaves it to the write event.
 */
bool
edge_conn_leave(struct edge_conn *c)
{
	ASSERT(c->cb_depth > 0);
	if (c->cb_depth == 1) {
		if (c->h2 != NULL && c->sess.state != EDGE_SESS_CLOSING)
			edge_h2x_produce(c);
		int round;

		for (round = 0; round < 8 && !c->sess.dead; round++) {
			size_t before = evbuffer_get_length(c->io.out);

			if (before == 0 && c->sess.state != EDGE_SESS_CLOSING)
				break;
			if (edge_io_flush(&c->io) != 0) {
				edge_conn_close(c);
				break;
			}
			if (c->io.write_armed || evbuffer_get_length(c->io.out) > c->io.lowmark)
				break;
			conn_on_drained(c);
			if (evbuffer_get_length(c->io.out) == 0)
				break;
		}
		/* a producer that kept the output fed through every round (a
		 * fast client reading stored slices) goes on from the write
		 * event, which flushes what it added last */
		if (round == 8 && !c->sess.dead)
			edge_io_want_write(&c->io);
	}
	if (--c->cb_depth == 0 && c->sess.dead) {
		/* an HTTP/2 connection's requests may be walked by the caller
		 * (edge_collapse_wake): they go from the connection's event */
		if (c->h2 != NULL)
			edge_h2x_free_later(c);
		else
			conn_free(c);
		return false;
	}
	return true;
}

static void
conn_arm_timer(struct edge_conn *c, bool header)
{
	const struct config *cfg = c->sess.gen->cfg;
	struct timeval tv;

	conn_tv(&tv, header ? cfg->header_timeout_ms : cfg->idle_timeout_ms);
	c->timer_is_header = header;
	c->idle_release = false;
	evtimer_add(c->timer, &tv);
}

/* Waiting for the next request: the idle timeout, in two steps when it is
 * long enough: first EDGE_IDLE_RELEASE_MS, after which the request buffers
 * go (conn_on_timer), then the rest. */
static void
conn_arm_idle(struct edge_conn *c)
{
	struct timeval tv;

	if (c->sess.gen->cfg->idle_timeout_ms <= EDGE_IDLE_RELEASE_MS) {
		conn_arm_timer(c, false);
		return;
	}
	conn_tv(&tv, EDGE_IDLE_RELEASE_MS);
	c->timer_is_header = false;
	c->idle_release = true;
	evtimer_add(c->timer, &tv);
}

static void
conn_free(struct edge_conn *c)
{
	struct edge_worker *w = c->sess.w;

	OBJ_CHECK(c, EDGE_CONN_MAGIC);
	/* a fill others read goes on without the client (edge_fetch_detach) */
	edge_h2x_free(c);
	for (struct edge_req *r = c->req; r != NULL; r = r->conn_next)
		edge_req_release(r);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	event_free(c->timer);
	if (c->sess.tls && !c->io.tls_ready)
		EDGE_COUNT(&w->metrics, tls_handshake_errors_total);
	edge_worker_handshake_end(w, &c->hs);
	edge_io_close(&c->io);
	edge_ip_leave(w->srv->conn_ip, c->ip_slot);
	edge_gen_release(w, &c->sess.gen);
	edge_guard_scratch_free(&c->sess.guard);
	c->magic = 0;
	free(c);
	atomic_fetch_sub_explicit(&w->metrics.connections_active, 1, memory_order_relaxed);
	edge_worker_conn_gone(w);
}

void
edge_conn_close(struct edge_conn *c)
{
	if (c->sess.dead)
		return;
	c->sess.dead = true;
	if (c->h2 != NULL)
		edge_h2x_dead(c);
	if (c->cb_depth == 0)
		conn_free(c);
}

void
edge_conn_close_now(struct edge_conn *c)
{
	ASSERT(c->sess.dead && c->cb_depth == 0);
	conn_free(c);
}

void
edge_conn_abort(struct edge_conn *c)
{
	edge_conn_close(c);
}

/* ---- lingering close ---- */

static void
conn_linger_read(struct edge_conn *c)
{
	struct evbuffer *in = c->io.in;

	evbuffer_drain(in, evbuffer_get_length(in));
}

/*
 * Whether closing now can cost the client nothing: a cleartext connection
 * whose client already closed, or whose last request had no body and got no
 * error, with nothing buffered and nothing in the socket's receive queue.
 * Then close(2) sends the response's rest and a FIN, and no reset can follow
 * (the reset a lingering close avoids comes from unread input).  TLS goes
 * the lingering way (its close_notify first).
 */
static bool
conn_nothing_unread(struct edge_conn *c)
{
	char b;
	ssize_t n;

	if (c->io.ssl != NULL || evbuffer_get_length(c->io.in) > 0)
		return false;
	if (c->sess.client_eof)
		return true;
	if (c->sess.requests == 0 || c->req->h1.body != H1_BODY_NONE || c->req->status >= 400)
		return false;
	n = recv(c->io.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	return n == 0 || (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK));
}

/* Output flushed: shut the write side, discard input until EOF or timeout
 * (or close at once when nothing can be unread). */
static void
conn_start_linger(struct edge_conn *c)
{
	struct timeval tv;

	if (c->lingering)
		return;
	if (conn_nothing_unread(c)) {
		edge_conn_close(c);
		return;
	}
	c->lingering = true;
	edge_io_shutdown_write(&c->io);
	conn_linger_read(c);
	edge_io_read_enable(&c->io);
	conn_tv(&tv, EDGE_LINGER_MS);
	c->timer_is_header = false;
	c->idle_release = false;
	evtimer_add(c->timer, &tv);
}

void
edge_conn_closing(struct edge_conn *c)
{
	c->sess.state = EDGE_SESS_CLOSING;
	c->sess.keep_alive = false;
	evtimer_del(c->timer);
	if (evbuffer_get_length(c->io.out) == 0)
		conn_start_linger(c);
}

/* ---- responses written by the node itself ---- */

/* The access log's and the metrics' record of req's response. */
static void
conn_logrec(struct edge_req *req, struct edge_logrec *lr)
{
	const struct edge_sess *sess = req->sess;
	const char *cs = req->cache_status;
	const struct h1_header *h;

	memset(lr, 0, sizeof *lr);
	lr->client = sess->client.text;
	lr->method = req->h1.method;
	lr->host = str_make(req->host_lc, req->host_lc_len);
	lr->path = req->h1.path;
	lr->status = req->status;
	lr->bytes = req->bytes_out;
	lr->cache = cs;
	/* "HIT", "MISS", "PASS"; "-" and "PURGE": no cache decision */
	lr->result = req->stale_served              ? EDGE_CACHE_STALE
	             : cs[0] == 'H'                 ? EDGE_CACHE_HIT
	             : cs[0] == 'M'                 ? EDGE_CACHE_MISS
	             : cs[0] == 'P' && cs[1] == 'A' ? EDGE_CACHE_PASS
	                                            : EDGE_CACHE_NONE;
	lr->site_slot = EDGE_LABEL_NONE;
	if (req->site != NULL && sess->gen != NULL && req->site >= sess->gen->cfg->sites &&
	    req->site < sess->gen->cfg->sites + sess->gen->cfg->n_sites)
		lr->site_slot = sess->gen->site_slot[req->site - sess->gen->cfg->sites];
	lr->duration_us = time_mono_us() - req->start_us;
	if (sess->w->srv->alog == NULL)
		return; /* the rest is the access log's only */
	if (lr->result == EDGE_CACHE_HIT || lr->result == EDGE_CACHE_STALE)
		lr->tier = req->disk_hit ? "disk" : "ram";
	lr->site = req->site != NULL ? req->site->name : NULL;
	lr->route = req->route != NULL ? req->route->path : NULL;
	lr->pool = req->route != NULL && req->pool != NULL ? req->pool->name : NULL;
	lr->tls = sess->tls && sess->ssl != NULL ? SSL_get_version(sess->ssl) : NULL;
	lr->minor = req->h1.minor;
	lr->h2 = req->xp->h2;
	if ((h = h1_header_find(req->h1.headers, req->h1.n_headers, STR_LIT("User-Agent"))) != NULL)
		lr->user_agent = h->value;
	if ((h = h1_header_find(req->h1.headers, req->h1.n_headers, STR_LIT("Referer"))) != NULL)
		lr->referer = h->value;
	lr->request_id = edge_req_id(req);
	if (req->up_member != NULL) {
		lr->upstream_host = req->up_member->host;
		lr->upstream_port = req->up_member->port;
		lr->upstream_us = req->up_first_us;
	}
}

/* The response is complete (or abandoned): counts it and writes its
 * access log line. */
void
edge_conn_log(struct edge_req *req)
{
	struct edge_logrec lr;

	conn_logrec(req, &lr);
	edge_accesslog_write(req->sess->w, &lr);
}

void
edge_conn_body_timer(struct edge_conn *c, const struct timeval *tv)
{
	if (tv == NULL) {
		evtimer_del(c->timer);
		return;
	}
	c->timer_is_header = false;
	evtimer_add(c->timer, tv);
}

void
edge_conn_response_done(struct edge_conn *c)
{
	edge_req_uncount(c->req);
	edge_conn_log(c->req);
	c->req->route = NULL;
	if (!c->sess.keep_alive || c->sess.w->draining) {
		edge_conn_closing(c);
		return;
	}
	c->sess.state = EDGE_SESS_READ_HEAD;
	edge_io_read_enable(&c->io);
	/* Continue with pipelined bytes, unless we are inside conn_process already
	 * (it loops by itself). */
	if (!c->processing)
		conn_process(c);
}

/*
 * The connection has waited EDGE_IDLE_RELEASE_MS for its next request with
 * nothing in flight: the buffers of the last one (head copy, header array,
 * key, upstream target) go back to the allocator, so an idle keep-alive
 * connection holds little more than its struct and socket (thousands of
 * them are).  The next request allocates them again.
 */
static void
conn_release_request(struct edge_conn *c)
{
	for (struct edge_req *r = c->req; r != NULL; r = r->conn_next)
		if (!edge_req_idle(r))
			return;
	for (struct edge_req *r = c->req; r != NULL; r = r->conn_next)
		edge_req_release(r);
}

/*
 * Parses and handles as many complete requests as the input holds.  Stops
 * when the head is incomplete, when a request goes to the proxy, or when the
 * output is full (the write callback resumes).
 */
static void
conn_process(struct edge_conn *c)
{
	const struct config *cfg = c->sess.gen->cfg;
	struct evbuffer *in = c->io.in;
	struct h1_limits lim;

	lim.max_request_line = cfg->max_request_line;
	lim.max_head = cfg->max_header_bytes;
	lim.max_headers =
	    cfg->max_header_count < H1_MAX_HEADERS ? cfg->max_header_count : H1_MAX_HEADERS;
	if (c->http2 == CONFIG_HTTP2_PRIOR && c->sess.requests == 0 && c->h2 == NULL) {
		/* h2c with prior knowledge: the client preface, or HTTP/1.1 */
		switch (edge_h2x_preface(in)) {
		case EDGE_H2X_PREFACE_MORE:
			if (!c->sess.client_eof)
				return;
			break;
		case EDGE_H2X_PREFACE_YES:
			edge_h2x_start(c);
			edge_h2x_read(c);
			return;
		case EDGE_H2X_PREFACE_NO:
			break;
		}
	}
	c->processing = true;
	while (c->sess.state == EDGE_SESS_READ_HEAD && !c->sess.dead) {
		size_t len = evbuffer_get_length(in);
		size_t n;
		const char *p;
		enum h1_status st;
		struct h1_request h1;

		if (evbuffer_get_length(c->io.out) > EDGE_OUT_HIGH) {
			edge_io_read_disable(&c->io);
			break;
		}
		if (len == 0) {
			if (c->sess.client_eof) {
				edge_conn_closing(c);
				break;
			}
			if (c->sess.requests > 0 && !evtimer_pending(c->timer, NULL))
				conn_arm_idle(c);
			break;
		}
		if (!c->timer_is_header || !evtimer_pending(c->timer, NULL))
			conn_arm_timer(c, true);
		n = len < lim.max_head + 1 ? len : lim.max_head + 1;
		p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
		st = h1_parse_request(p, n, &lim, c->sess.w->hdr_scratch, &h1);
		if (st == H1_AGAIN && !c->sess.client_eof)
			break;
		/* the request that was parsed, or failed to be: a fresh one */
		edge_req_reset(c->req);
		c->req->start_us = time_mono_us();
		if (st == H1_AGAIN) {
			edge_req_send_error(c->req, 400, "bad request: incomplete request head");
			break;
		}
		if (st != H1_OK) {
			/* The request line is needed for the access log even when invalid. */
			conn_client_reset(c);
			EDGE_COUNT(&c->sess.w->metrics, requests_total);
			char msg[96];
			snprintf(msg, sizeof msg, "bad request: %s", h1_strerror(st));
			edge_req_send_error(c->req, h1_status_http(st), msg);
			break;
		}
		edge_req_set_head(c->req, &h1, p);
		evbuffer_drain(in, c->req->h1.head_len);
		evtimer_del(c->timer);
		c->timer_is_header = false;
		c->idle_release = false;
		edge_req_handle(c->req);
	}
	c->processing = false;
}

/* ---- I/O callbacks ---- */

/* The output drained to the low watermark: resume whoever waits for room. */
static void
conn_on_drained(struct edge_conn *c)
{
	if (c->h2 != NULL && c->sess.state != EDGE_SESS_CLOSING) {
		edge_h2x_produce(c);
		return;
	}
	switch (c->sess.state) {
	case EDGE_SESS_CLOSING:
		if (evbuffer_get_length(c->io.out) == 0)
			conn_start_linger(c);
		break;
	case EDGE_SESS_READ_HEAD:
		if (!c->io.read_on && !c->sess.client_eof) {
			edge_io_read_enable(&c->io);
			conn_process(c);
		}
		break;
	case EDGE_SESS_PROXY:
	case EDGE_SESS_COLLAPSED:
	case EDGE_SESS_PURGE:
		/* a request in progress: its producer, through the transport
		 * (none for a PURGE: its answer comes from the purge thread) */
		edge_h1_writable(c->req);
		break;
	}
}

static void
conn_on_read(void *arg)
{
	struct edge_conn *c = arg;

	OBJ_CHECK(c, EDGE_CONN_MAGIC);
	if (c->sess.dead)
		return; /* an HTTP/2 connection's free is deferred */
	edge_conn_enter(c);
	if (c->http2 == CONFIG_HTTP2_ALPN && !c->alpn_checked && c->io.ssl != NULL &&
	    c->io.tls_ready) {
		const unsigned char *proto = NULL;
		unsigned len = 0;

		c->alpn_checked = true;
		SSL_get0_alpn_selected(c->io.ssl, &proto, &len);
		if (len == 2 && memcmp(proto, "h2", 2) == 0)
			edge_h2x_start(c);
	}
	if (c->lingering)
		conn_linger_read(c);
	else if (c->h2 != NULL)
		edge_h2x_read(c);
	else if (c->sess.state == EDGE_SESS_READ_HEAD)
		conn_process(c);
	else if (c->sess.state == EDGE_SESS_PROXY)
		edge_forward_on_client_readable(c->req);
	edge_conn_leave(c);
}

static void
conn_on_write(void *arg)
{
	struct edge_conn *c = arg;

	OBJ_CHECK(c, EDGE_CONN_MAGIC);
	if (c->sess.dead)
		return;
	edge_conn_enter(c);
	conn_on_drained(c);
	edge_conn_leave(c);
}

static void
conn_on_event(void *arg, int what)
{
	struct edge_conn *c = arg;

	OBJ_CHECK(c, EDGE_CONN_MAGIC);
	if (c->sess.dead)
		return;
	edge_conn_enter(c);
	if (what & EDGE_IO_TIMEOUT) {
		/* send timeout: the client stopped reading */
		EDGE_COUNT(&c->sess.w->metrics, client_timeouts_total);
		edge_conn_close(c);
	} else if ((what & EDGE_IO_ERROR) || c->lingering) {
		edge_conn_close(c);
	} else if (what & EDGE_IO_EOF) {
		/* The client will send nothing more: finish what is in flight. */
		c->sess.client_eof = true;
		c->sess.keep_alive = false;
		if (c->h2 != NULL)
			edge_h2x_eof(c);
		else if (c->sess.state == EDGE_SESS_READ_HEAD)
			conn_process(c);
		else if (c->sess.state == EDGE_SESS_PROXY)
			edge_forward_on_client_readable(c->req);
	}
	edge_conn_leave(c);
}

static void
conn_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct edge_conn *c = arg;

	(void)fd;
	(void)what;
	OBJ_CHECK(c, EDGE_CONN_MAGIC);
	if (c->sess.dead)
		return;
	edge_conn_enter(c);
	if (c->h2 != NULL && !c->lingering && c->sess.state != EDGE_SESS_CLOSING) {
		edge_h2x_timer(c);
	} else if (c->sess.state == EDGE_SESS_PROXY && edge_forward_reading_body(c->req) &&
	           !c->lingering) {
		/* timeouts.body (the client stopped sending its request body),
		 * timeouts.body_total or limits.body_min_rate (fw_arm_body_timer) */
		edge_forward_body_timeout(c->req);
	} else if (c->idle_release && !c->lingering && c->sess.state == EDGE_SESS_READ_HEAD &&
	           evbuffer_get_length(c->io.in) == 0) {
		/* idle for EDGE_IDLE_RELEASE_MS: give the buffers back, then wait
		 * out the rest of timeouts.idle */
		struct timeval tv;

		conn_release_request(c);
		c->idle_release = false;
		conn_tv(&tv, c->sess.gen->cfg->idle_timeout_ms - EDGE_IDLE_RELEASE_MS);
		evtimer_add(c->timer, &tv);
	} else if (c->lingering || c->sess.state != EDGE_SESS_READ_HEAD) {
		edge_conn_close(c);
	} else if (c->timer_is_header && evbuffer_get_length(c->io.in) > 0) {
		EDGE_COUNT(&c->sess.w->metrics, client_timeouts_total);
		edge_req_reset(c->req);
		c->req->start_us = time_mono_us();
		conn_client_reset(c);
		edge_req_send_error(c->req, 408, "request timeout");
	} else {
		EDGE_COUNT(&c->sess.w->metrics, client_timeouts_total);
		edge_conn_close(c);
	}
	edge_conn_leave(c);
}

static void
conn_on_tls_ready(void *arg)
{
	struct edge_conn *c = arg;

	EDGE_COUNT(&c->sess.w->metrics, tls_handshakes_total);
	if (SSL_session_reused(c->io.ssl))
		EDGE_COUNT(&c->sess.w->metrics, tls_resumptions_total);
	edge_worker_handshake_end(c->sess.w, &c->hs);
}

void
edge_conn_accept(struct edge_worker *w, int fd, const struct sockaddr *sa, int salen,
    const struct config_listen *l)
{
	const struct config_listen *tls = l != NULL && l->tls ? l : NULL;
	const struct config *cfg = w->gen->cfg;
	struct edge_conn *c;
	uint32_t ip_slot[2];

	(void)salen;
	if (w->draining || w->n_conns >= cfg->max_connections) {
		close(fd);
		return;
	}
	if (!edge_ip_enter(w->srv->conn_ip, sa, cfg->max_connections_per_ip, ip_slot)) {
		EDGE_COUNT(&w->metrics, connections_limited_total);
		close(fd);
		return;
	}
	/* TCP_NODELAY comes from the listening socket (edge_worker.c) */
	c = xcalloc(1, sizeof *c);
	c->magic = EDGE_CONN_MAGIC;
	c->sess.w = w;
	c->ip_slot[0] = ip_slot[0];
	c->ip_slot[1] = ip_slot[1];
	c->http2 = l != NULL ? (unsigned char)l->http2 : CONFIG_HTTP2_OFF;
	c->req = &c->req_h1; /* its one request (conn_next NULL) */
	edge_req_init(c->req, c, &c->sess, &edge_h1_xport);
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
		    c->sess.peer, sizeof c->sess.peer);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
		    c->sess.peer, sizeof c->sess.peer);
	else
		snprintf(c->sess.peer, sizeof c->sess.peer, "unknown");
	(void)policy_addr_from_sockaddr(sa, &c->sess.peer_addr);
	c->sess.client.source = POLICY_CLIENTIP_NO_HEADER; /* not yet the peer's */
	conn_client_reset(c);
	if (edge_io_init(&c->io, w->base, fd, cfg->send_timeout_ms, conn_on_read, conn_on_write,
	        conn_on_event, c) != 0) {
		close(fd);
		edge_ip_leave(w->srv->conn_ip, c->ip_slot);
		free(c);
		return;
	}
	edge_io_set_min_rate(&c->io, cfg->send_min_rate);
	if (tls) {
		/* The handshake runs on the read events; the header timeout bounds it. */
		SSL *ssl = NULL;

		if (!edge_worker_handshake_begin(w, sa, &c->hs))
			EDGE_COUNT(&w->metrics, tls_handshakes_limited_total);
		else if (w->gen->tls != NULL)
			ssl = edge_tls_ssl_new(w->gen->tls, fd, tls);
		if (ssl == NULL) {
			edge_worker_handshake_end(w, &c->hs);
			edge_io_close(&c->io);
			edge_ip_leave(w->srv->conn_ip, c->ip_slot);
			free(c);
			return;
		}
		edge_io_start_tls(&c->io, ssl);
		c->io.on_tls_ready = conn_on_tls_ready;
		c->sess.tls = true;
		c->sess.ssl = ssl;
	}
	c->sess.gen = edge_gen_hold(w->gen);
	c->timer = evtimer_new(w->base, conn_on_timer, c);
	edge_io_read_enable(&c->io);
	c->next = w->conns;
	if (w->conns != NULL)
		w->conns->prev = c;
	w->conns = c;
	w->n_conns++;
	atomic_fetch_add_explicit(&w->metrics.connections_active, 1, memory_order_relaxed);
	EDGE_COUNT(&w->metrics, connections_total);
	conn_arm_timer(c, true);
}

void
edge_conn_drain(struct edge_conn *c)
{
	c->sess.keep_alive = false;
	if (c->h2 != NULL) {
		/* GOAWAY; the streams it names finish, then the connection ends */
		edge_conn_enter(c);
		edge_h2x_drain(c);
		edge_conn_leave(c);
		return;
	}
	/* idle between requests: close; a connection just accepted gets its first
	 * request answered (its head timeout bounds the wait) */
	if (c->sess.state == EDGE_SESS_READ_HEAD && evbuffer_get_length(c->io.in) == 0 &&
	    !c->lingering && c->sess.requests > 0)
		edge_conn_close(c);
}
