/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/edge/h2_peer.h — both ends of an HTTP/2 connection in memory,
 * for the unit test of edge/edge_h2 and tools/bench/micro_h2.
 *
 * The server is an edge_h2 session with a small owner ("app") that answers
 * each request from a static body by reference, counting the references the
 * output holds.  The client is either an nghttp2 client session (h2p_*)
 * or, for what a well-behaved client never sends, raw frames written here
 * (h2r_*: HPACK literals never indexed, so the server's dynamic table is
 * left alone) and the server's frames parsed back (h2r_read).
 * Header-only: static functions, each test program takes what it needs.
 */
#ifndef OUTPOST_TESTS_H2_PEER_H
#define OUTPOST_TESTS_H2_PEER_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <nghttp2/nghttp2.h>

#include "edge/edge_h2.h"

/* An nghttp2_nv of two string literals. */
#define H2P_NV(n, v)                                                                               \
	{                                                                                          \
		(uint8_t *)(uintptr_t)(n), (uint8_t *)(uintptr_t)(v), sizeof(n) - 1,               \
		    sizeof(v) - 1, NGHTTP2_NV_FLAG_NONE                                            \
	}

#define H2P_STREAMS 512
#define H2P_BODY    (1 << 20)

/* ---- the server's owner ---- */

enum h2p_mode {
	H2P_RESPOND = 0, /* head + body at once */
	H2P_HOLD,        /* answer later (h2p_app_respond) */
};

struct h2p_app {
	enum h2p_mode mode;
	size_t body_len; /* response body length (from h2p_body) */
	size_t chunk;    /* body given in pieces of this size (0: one) */
	int live_refs;   /* references the output holds now */
	int max_live_refs;
	unsigned requests, closes, bodies_ended, writables;
	uint32_t last_close_code;
	struct edge_h2 *h;
	struct edge_h2_stream *last;
	struct edge_h2_req last_req;
	char last_method[16], last_path[256], last_authority[128];
	size_t req_body_bytes;
	bool consume;                      /* consume request bodies at once */
	const struct edge_h2_field *extra; /* fields added to responses */
	unsigned n_extra;
	/* per stream: how much of the body is queued */
	size_t sent[H2P_STREAMS];
	bool paused[H2P_STREAMS];
};

static uint8_t h2p_body[H2P_BODY];

static inline void *
h2p_ref(void *arg)
{
	struct h2p_app *a = arg;

	if (++a->live_refs > a->max_live_refs)
		a->max_live_refs = a->live_refs;
	return a;
}

static inline void
h2p_unref(const void *data, size_t len, void *ref)
{
	struct h2p_app *a = ref;

	(void)data;
	(void)len;
	a->live_refs--;
}

static inline unsigned
h2p_slot(int32_t id)
{
	return (unsigned)((id - 1) / 2) % H2P_STREAMS;
}

/* Queues body pieces until the stream pauses or the body is all queued. */
static inline void
h2p_app_pump(struct h2p_app *a, struct edge_h2_stream *s)
{
	unsigned k = h2p_slot(edge_h2_stream_id(s));

	while (a->sent[k] < a->body_len) {
		size_t n = a->body_len - a->sent[k];
		int rv;

		if (a->chunk > 0 && n > a->chunk)
			n = a->chunk;
		rv = edge_h2_send_body(a->h, s, h2p_body + a->sent[k], n, h2p_ref, h2p_unref, a,
		    a->sent[k] + n == a->body_len);
		if (rv < 0) {
			a->paused[k] = true; /* FULL: on_writable resumes */
			return;
		}
		a->sent[k] += n;
		if (rv == EDGE_H2_PAUSED) {
			a->paused[k] = true;
			return;
		}
	}
}

static inline void
h2p_app_respond(struct h2p_app *a, struct edge_h2_stream *s)
{
	struct edge_h2_field f[8];
	char cl[24];
	unsigned n = 0;

	snprintf(cl, sizeof cl, "%zu", a->body_len);
	f[n++] = (struct edge_h2_field){STR_LIT("Content-Type"), STR_LIT("text/plain")};
	f[n++] = (struct edge_h2_field){STR_LIT("Content-Length"), str_cstr(cl)};
	for (unsigned i = 0; i < a->n_extra && n < 8; i++)
		f[n++] = a->extra[i];
	a->sent[h2p_slot(edge_h2_stream_id(s))] = 0;
	if (edge_h2_send_head(a->h, s, 200, f, n, a->body_len == 0) != 0)
		return;
	h2p_app_pump(a, s);
}

static inline void
h2p_on_request(void *arg, struct edge_h2_stream *s, const struct edge_h2_req *req)
{
	struct h2p_app *a = arg;

	a->requests++;
	a->last = s;
	a->last_req = *req;
	(void)str_copy(req->method, a->last_method, sizeof a->last_method);
	(void)str_copy(req->path, a->last_path, sizeof a->last_path);
	(void)str_copy(req->authority, a->last_authority, sizeof a->last_authority);
	if (a->mode == H2P_RESPOND)
		h2p_app_respond(a, s);
}

static inline void
h2p_on_body(void *arg, struct edge_h2_stream *s, const uint8_t *p, size_t len)
{
	struct h2p_app *a = arg;

	(void)p;
	a->req_body_bytes += len;
	if (a->consume)
		edge_h2_consume(a->h, s, len);
}

static inline void
h2p_on_body_end(void *arg, struct edge_h2_stream *s)
{
	struct h2p_app *a = arg;

	(void)s;
	a->bodies_ended++;
}

static inline void
h2p_on_writable(void *arg, struct edge_h2_stream *s)
{
	struct h2p_app *a = arg;
	unsigned k = h2p_slot(edge_h2_stream_id(s));

	a->writables++;
	a->paused[k] = false;
	h2p_app_pump(a, s);
}

static inline void
h2p_on_close(void *arg, struct edge_h2_stream *s, uint32_t code)
{
	struct h2p_app *a = arg;

	a->closes++;
	a->last_close_code = code;
	if (a->last == s)
		a->last = NULL;
}

static uint64_t h2p_clock_ms;

static inline uint64_t
h2p_now(void *arg)
{
	(void)arg;
	return h2p_clock_ms;
}

static const struct edge_h2_cbs h2p_cbs = {
    .on_request = h2p_on_request,
    .on_body = h2p_on_body,
    .on_body_end = h2p_on_body_end,
    .on_writable = h2p_on_writable,
    .on_close = h2p_on_close,
    .now_ms = h2p_now,
};

/* ---- a connection: server, its output, and the client's records ---- */

struct h2p_stream {
	int status;
	size_t body;
	bool end;
	uint32_t rst;
	bool closed;
	unsigned heads;
	unsigned fields; /* response fields seen, :status included */
	bool bad_field;  /* a connection-specific or uppercase field seen */
};

struct h2p {
	struct h2p_app app;
	struct edge_h2 *srv;
	struct evbuffer *out; /* the server's output */
	nghttp2_session *cli; /* NULL in raw mode */
	struct h2p_stream st[H2P_STREAMS];
	unsigned goaways;
	uint32_t goaway_code;
	int32_t goaway_last;
	unsigned ping_acks, settings_acks;
	int srv_rv; /* last edge_h2_recv result */
	/* raw mode */
	nghttp2_hd_deflater *def;
	nghttp2_hd_inflater *inf;
	struct evbuffer *raw; /* client bytes to send */
	size_t read_max;      /* client reads at most this per pump (0: all) */
};

static inline struct h2p_stream *
h2p_st(struct h2p *c, int32_t id)
{
	return &c->st[h2p_slot(id)];
}

static inline int
h2p_cli_on_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
    const uint8_t *value, size_t vlen, uint8_t flags, void *arg)
{
	struct h2p *c = arg;
	struct h2p_stream *s = h2p_st(c, f->hd.stream_id);

	(void)ng;
	(void)flags;
	if (nlen == 7 && memcmp(name, ":status", 7) == 0)
		s->status = atoi((const char *)value);
	s->fields++;
	if ((nlen == 10 && memcmp(name, "connection", 10) == 0) ||
	    (nlen == 17 && memcmp(name, "transfer-encoding", 17) == 0))
		s->bad_field = true;
	for (size_t i = 0; i < nlen; i++)
		if (name[i] >= 'A' && name[i] <= 'Z')
			s->bad_field = true;
	(void)vlen;
	return 0;
}

static inline int
h2p_cli_on_frame(nghttp2_session *ng, const nghttp2_frame *f, void *arg)
{
	struct h2p *c = arg;

	(void)ng;
	switch (f->hd.type) {
	case NGHTTP2_HEADERS:
		h2p_st(c, f->hd.stream_id)->heads++;
		/* fall through */
	case NGHTTP2_DATA:
		if (f->hd.flags & NGHTTP2_FLAG_END_STREAM)
			h2p_st(c, f->hd.stream_id)->end = true;
		break;
	case NGHTTP2_RST_STREAM:
		h2p_st(c, f->hd.stream_id)->rst = f->rst_stream.error_code;
		break;
	case NGHTTP2_GOAWAY:
		c->goaways++;
		c->goaway_code = f->goaway.error_code;
		c->goaway_last = f->goaway.last_stream_id;
		break;
	case NGHTTP2_PING:
		if (f->hd.flags & NGHTTP2_FLAG_ACK)
			c->ping_acks++;
		break;
	case NGHTTP2_SETTINGS:
		if (f->hd.flags & NGHTTP2_FLAG_ACK)
			c->settings_acks++;
		break;
	default:
		break;
	}
	return 0;
}

static inline int
h2p_cli_on_data(
    nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *p, size_t len, void *arg)
{
	struct h2p *c = arg;

	(void)ng;
	(void)flags;
	(void)p;
	h2p_st(c, id)->body += len;
	return 0;
}

static inline int
h2p_cli_on_close(nghttp2_session *ng, int32_t id, uint32_t code, void *arg)
{
	struct h2p *c = arg;

	(void)ng;
	h2p_st(c, id)->closed = true;
	if (code != 0)
		h2p_st(c, id)->rst = code;
	return 0;
}

/* A connection with server settings conf; client settings iv (n of them);
 * client_auto_window: the client credits what it receives at once. */
static inline void
h2p_init(struct h2p *c, const struct edge_h2_conf *conf, const nghttp2_settings_entry *iv, size_t n,
    bool client_auto_window)
{
	nghttp2_session_callbacks *cb;
	nghttp2_option *opt;

	memset(c, 0, sizeof *c);
	c->out = evbuffer_new();
	c->srv = edge_h2_new(conf, &h2p_cbs, &c->app, c->out);
	c->app.h = c->srv;
	c->app.consume = true;
	c->app.body_len = 1000;
	nghttp2_session_callbacks_new(&cb);
	nghttp2_session_callbacks_set_on_header_callback(cb, h2p_cli_on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, h2p_cli_on_frame);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, h2p_cli_on_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, h2p_cli_on_close);
	nghttp2_option_new(&opt);
	nghttp2_option_set_no_auto_window_update(opt, client_auto_window ? 0 : 1);
	nghttp2_session_client_new2(&c->cli, cb, c, opt);
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cb);
	nghttp2_submit_settings(c->cli, NGHTTP2_FLAG_NONE, iv, n);
}

static inline void
h2p_fini(struct h2p *c)
{
	edge_h2_free(&c->srv);
	evbuffer_free(c->out);
	if (c->cli != NULL)
		nghttp2_session_del(c->cli);
	if (c->def != NULL)
		nghttp2_hd_deflate_del(c->def);
	if (c->inf != NULL)
		nghttp2_hd_inflate_del(c->inf);
	if (c->raw != NULL)
		evbuffer_free(c->raw);
}

static inline void h2r_read(struct h2p *c);

/* Moves bytes both ways until neither side has anything to say (at most
 * rounds exchanges).  Returns the exchanges made. */
static inline int
h2p_pump(struct h2p *c, int rounds)
{
	int i;

	for (i = 0; i < rounds; i++) {
		bool moved = false;

		if (c->cli != NULL) {
			const uint8_t *p;
			ssize_t n;

			while ((n = nghttp2_session_mem_send(c->cli, &p)) > 0) {
				c->srv_rv = edge_h2_recv(c->srv, p, (size_t)n);
				moved = true;
			}
		} else if (evbuffer_get_length(c->raw) > 0) {
			size_t n = evbuffer_get_length(c->raw);

			c->srv_rv = edge_h2_recv(c->srv, evbuffer_pullup(c->raw, -1), n);
			evbuffer_drain(c->raw, n);
			moved = true;
		}
		edge_h2_send(c->srv);
		if (evbuffer_get_length(c->out) > 0) {
			size_t n = evbuffer_get_length(c->out);

			if (c->read_max > 0 && n > c->read_max)
				n = c->read_max;
			if (c->cli != NULL) {
				(void)nghttp2_session_mem_recv(
				    c->cli, evbuffer_pullup(c->out, (ssize_t)n), n);
				evbuffer_drain(c->out, n);
			} else {
				h2r_read(c);
			}
			moved = true;
		}
		if (!moved)
			break;
	}
	return i;
}

static inline int32_t
h2p_get(struct h2p *c, const char *path, const char *authority)
{
	nghttp2_nv nv[4] = {
	    {(uint8_t *)(uintptr_t) ":method", (uint8_t *)(uintptr_t) "GET", 7, 3, 0},
	    {(uint8_t *)(uintptr_t) ":scheme", (uint8_t *)(uintptr_t) "https", 7, 5, 0},
	    {(uint8_t *)(uintptr_t) ":authority", (uint8_t *)(uintptr_t)authority, 10,
	        strlen(authority), 0},
	    {(uint8_t *)(uintptr_t) ":path", (uint8_t *)(uintptr_t)path, 5, strlen(path), 0},
	};

	return nghttp2_submit_request(c->cli, NULL, nv, 4, NULL, NULL);
}

/* ---- raw client ---- */

static inline void
h2r_frame(struct h2p *c, uint8_t type, uint8_t flags, int32_t id, const void *p, size_t len)
{
	uint8_t hd[9] = {(uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len, type, flags,
	    (uint8_t)((uint32_t)id >> 24), (uint8_t)(id >> 16), (uint8_t)(id >> 8), (uint8_t)id};

	evbuffer_add(c->raw, hd, 9);
	if (len > 0)
		evbuffer_add(c->raw, p, len);
}

/* A raw connection: the preface and an empty SETTINGS. */
static inline void
h2r_init(struct h2p *c, const struct edge_h2_conf *conf)
{
	memset(c, 0, sizeof *c);
	c->out = evbuffer_new();
	c->srv = edge_h2_new(conf, &h2p_cbs, &c->app, c->out);
	c->app.h = c->srv;
	c->app.consume = true;
	c->app.body_len = 10;
	c->raw = evbuffer_new();
	nghttp2_hd_deflate_new(&c->def, 4096);
	nghttp2_hd_inflate_new(&c->inf);
	evbuffer_add(c->raw, NGHTTP2_CLIENT_MAGIC, NGHTTP2_CLIENT_MAGIC_LEN);
	h2r_frame(c, NGHTTP2_SETTINGS, 0, 0, NULL, 0);
}

/* HPACK of "name: value" pairs (NULL-terminated list), never indexed. */
static inline size_t
h2r_block(struct h2p *c, const char *const *kv, uint8_t *buf, size_t cap)
{
	nghttp2_nv nv[64];
	size_t n = 0;
	ssize_t len;

	for (; kv[0] != NULL && n < 64; kv += 2, n++)
		nv[n] = (nghttp2_nv){(uint8_t *)(uintptr_t)kv[0], (uint8_t *)(uintptr_t)kv[1],
		    strlen(kv[0]), strlen(kv[1]), NGHTTP2_NV_FLAG_NO_INDEX};
	len = nghttp2_hd_deflate_hd(c->def, buf, cap, nv, n);
	return len < 0 ? 0 : (size_t)len;
}

/* A HEADERS frame of the pairs in kv on stream id. */
static inline void
h2r_headers(struct h2p *c, int32_t id, const char *const *kv, bool end_stream)
{
	uint8_t buf[8192];
	size_t len = h2r_block(c, kv, buf, sizeof buf);

	h2r_frame(c, NGHTTP2_HEADERS,
	    NGHTTP2_FLAG_END_HEADERS | (end_stream ? NGHTTP2_FLAG_END_STREAM : 0), id, buf, len);
}

static inline void
h2r_rst(struct h2p *c, int32_t id, uint32_t code)
{
	uint8_t p[4] = {
	    (uint8_t)(code >> 24), (uint8_t)(code >> 16), (uint8_t)(code >> 8), (uint8_t)code};

	h2r_frame(c, NGHTTP2_RST_STREAM, 0, id, p, 4);
}

/* Parses the server's frames from c->out. */
static inline void
h2r_read(struct h2p *c)
{
	for (;;) {
		size_t have = evbuffer_get_length(c->out), len;
		uint8_t *p;
		int32_t id;
		struct h2p_stream *s;

		if (have < 9)
			return;
		p = evbuffer_pullup(c->out, 9);
		len = (size_t)p[0] << 16 | (size_t)p[1] << 8 | p[2];
		if (have < 9 + len)
			return;
		p = evbuffer_pullup(c->out, (ssize_t)(9 + len));
		id = (int32_t)((uint32_t)(p[5] & 0x7f) << 24 | (uint32_t)p[6] << 16 |
		               (uint32_t)p[7] << 8 | p[8]);
		s = h2p_st(c, id);
		switch (p[3]) {
		case NGHTTP2_HEADERS: {
			uint8_t *in = p + 9;
			size_t left = len;

			s->heads++;
			for (;;) {
				nghttp2_nv nv;
				int fl = 0;
				ssize_t r = nghttp2_hd_inflate_hd2(c->inf, &nv, &fl, in, left, 1);

				if (r < 0)
					break;
				in += r;
				left -= (size_t)r;
				if (fl & NGHTTP2_HD_INFLATE_EMIT && nv.namelen == 7 &&
				    memcmp(nv.name, ":status", 7) == 0)
					s->status = atoi((const char *)nv.value);
				if (fl & NGHTTP2_HD_INFLATE_FINAL) {
					nghttp2_hd_inflate_end_headers(c->inf);
					break;
				}
				if (r == 0 && !(fl & NGHTTP2_HD_INFLATE_EMIT))
					break;
			}
			if (p[4] & NGHTTP2_FLAG_END_STREAM)
				s->end = true;
			break;
		}
		case NGHTTP2_DATA:
			s->body += len;
			if (p[4] & NGHTTP2_FLAG_END_STREAM)
				s->end = true;
			break;
		case NGHTTP2_RST_STREAM:
			s->rst = (uint32_t)p[9] << 24 | (uint32_t)p[10] << 16 |
			         (uint32_t)p[11] << 8 | p[12];
			s->closed = true;
			break;
		case NGHTTP2_GOAWAY:
			c->goaways++;
			c->goaway_last =
			    (int32_t)((uint32_t)(p[9] & 0x7f) << 24 | (uint32_t)p[10] << 16 |
			              (uint32_t)p[11] << 8 | p[12]);
			c->goaway_code = (uint32_t)p[13] << 24 | (uint32_t)p[14] << 16 |
			                 (uint32_t)p[15] << 8 | p[16];
			break;
		case NGHTTP2_PING:
			if (p[4] & NGHTTP2_FLAG_ACK)
				c->ping_acks++;
			break;
		case NGHTTP2_SETTINGS:
			if (p[4] & NGHTTP2_FLAG_ACK)
				c->settings_acks++;
			break;
		default:
			break;
		}
		evbuffer_drain(c->out, 9 + len);
	}
}

#endif
