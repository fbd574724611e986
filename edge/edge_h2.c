/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_h2.c — an HTTP/2 server session over libnghttp2 (edge_h2.h).
 *
 * Model.  nghttp2 owns framing, HPACK, the stream states and flow control;
 * it enforces most of RFC 9113 §8.1-8.3 itself (pseudo-header presence,
 * order and duplicates, field name and value characters, connection-
 * specific fields, TE, content-length against the DATA received) and
 * answers a malformed request with RST_STREAM PROTOCOL_ERROR.  This file
 * adds what nghttp2 leaves to the application: the header list limit it
 * advertises (SETTINGS_MAX_HEADER_LIST_SIZE, §6.5.2) and a field count
 * (431), :path shape and Host against :authority (§8.3.1), the budgets of
 * resets, control frames and empty DATA frames (GOAWAY ENHANCE_YOUR_CALM),
 * and the bridge to the owner: a request view per stream, response bodies
 * by reference, per-stream backpressure, request bodies consumed on the
 * owner's word.
 *
 * A stream (struct edge_h2_stream, nghttp2's stream user data) exists from
 * the first HEADERS of a request to nghttp2's stream close.  Its request
 * view points into HPACK's reference-counted buffers (nghttp2_rcbuf, one
 * reference held per name and value: no copy, no allocation per field);
 * they are let go at close, before the session that allocated them.
 * Stream structs are recycled through a short free list.
 *
 * Response bodies.  send_body queues (pointer, length, reference) entries
 * in a ring per stream.  nghttp2's data source read callback answers with
 * NGHTTP2_DATA_FLAG_NO_COPY and the send_data callback writes the 9-byte
 * frame header by copy and the payload by evbuffer_add_reference, taking
 * one reference of the owner per frame (released when the socket has
 * written it).  A stream with nothing queued is deferred and resumed by
 * the next send_body.  The ring empties only as fast as the peer's windows
 * allow, so a stream whose window is exhausted fills its ring and its
 * producer pauses; on_writable runs after edge_h2_send once it has room.
 *
 * Request bodies.  Automatic WINDOW_UPDATEs are off: a DATA payload is
 * credited back to the peer when the owner consumes it (or at once when no
 * owner takes it), so the windows bound what a connection buffers.
 *
 * Single thread: the connection's worker.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <nghttp2/nghttp2.h>

#include "core/assert.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "edge/edge_h2.h"

#define H2_QUEUE       8    /* body entries queued per stream */
#define H2_NAMES_BYTES 8192 /* lowercased response field names of one head */
#define H2_FREE_MAX    16   /* stream structs kept for reuse */
#define H2_DRAIN_PING  "outpost!"

struct h2_seg {
	const uint8_t *p;
	size_t len;
	edge_h2_unref_cb *unref;
	edge_h2_ref_cb *ref;
	void *arg;  /* given to ref for each frame */
	void *held; /* the queue's own reference (unref's argument) */
};

struct edge_h2_stream {
	unsigned magic; /* EDGE_H2_STRM_MAGIC */
	struct edge_h2 *h;
	int32_t id;
	struct edge_h2_stream *next, *prev; /* h->streams */
	void *data;

	/* request */
	struct edge_h2_req req;
	struct str host;
	nghttp2_rcbuf *pseudo_rc[5]; /* :method :scheme :authority :path, host */
	size_t list_bytes;           /* RFC 9113 §6.5.2 size of the head so far */
	size_t unconsumed;           /* body bytes handed on, not consumed yet */
	bool too_large;
	bool delivered;  /* on_request ran: the owner knows s */
	bool own_answer; /* refused or answered here (counted) */
	bool req_ended;  /* END_STREAM seen */

	/* response */
	bool final_sent;
	bool eos_queued;
	bool deferred;
	bool want_writable;
	bool notify;
	bool done; /* END_STREAM sent */
	struct h2_seg q[H2_QUEUE];
	unsigned q_head, q_n;
	size_t q_off; /* bytes of q[q_head] already framed */
	size_t q_bytes;

	unsigned n_fields;
	nghttp2_rcbuf **field_rc; /* 2 per field, in the same allocation */
	struct edge_h2_field fields[];
};

#define H2_RESET_RING 128

struct edge_h2 {
	unsigned magic; /* EDGE_H2_MAGIC */
	nghttp2_session *ng;
	struct edge_h2_conf conf;
	struct edge_h2_cbs cbs;
	void *arg;
	struct evbuffer *out;
	struct edge_h2_stream *streams;
	struct edge_h2_stream *free_list;
	/* at a SETTINGS frame's start: the peer's initial window and the
	 * largest send window of a stream, for RFC 9113 §6.9.2 (h2_settings) */
	int64_t win_initial;
	int64_t win_max;
	unsigned n_free;
	unsigned n_streams;
	bool notify;
	bool draining;
	bool settings_acked;
	bool failed;
	int calm;  /* counter of the budget exceeded, or -1 */
	int fatal; /* the GOAWAY code of a connection error found here, or -1 */
	/* streams this side reset lately: frames the client sent before it
	 * saw the reset are ignored, not errors (RFC 9113 §5.4.2) */
	int32_t reset_ids[H2_RESET_RING];
	unsigned reset_pos;
	/* frame boundaries of the input (h2_scan): nghttp2 drops DATA on a
	 * stream it no longer knows, and reads no dependency under
	 * SETTINGS_NO_RFC7540_PRIORITIES, without calling us for either */
	uint32_t scan_preface; /* client preface bytes still to pass */
	uint32_t scan_skip;    /* payload bytes of the current frame to pass */
	uint8_t scan_hd[9];    /* the frame header being read */
	uint8_t scan_have;     /* its bytes so far; past 9: PRIORITY payload */
	uint8_t scan_dep[4];   /* a PRIORITY frame's dependency */

	uint64_t reset_start, flood_start, empty_start;
	unsigned resets, controls, empty_data;

	uint64_t counters[EDGE_H2_C_COUNT];
	char names[H2_NAMES_BYTES];
};

/* ---- settings ---- */

struct h2_range {
	const char *name;
	size_t off;
	unsigned min, max;
};

#define H2_RANGE(f, lo, hi)                                                                        \
	{                                                                                          \
#f, offsetof(struct edge_h2_conf, f), (lo), (hi)                                   \
	}

static const struct h2_range h2_ranges[] = {
    H2_RANGE(max_concurrent_streams, 1, 1u << 20),
    H2_RANGE(max_header_list_bytes, 1024, 1u << 24),
    H2_RANGE(max_header_fields, 8, 10000),
    H2_RANGE(hpack_table_bytes, 0, 1u << 20),
    H2_RANGE(max_continuations, 0, 1000),
    /* RFC 9113 §6.5.2: 2^14 .. 2^24-1 */
    H2_RANGE(max_frame_bytes, 16384, 16777215),
    /* §6.9.1: at most 2^31-1 */
    H2_RANGE(stream_window_bytes, 1, 2147483647u),
    H2_RANGE(conn_window_bytes, 65535, 2147483647u),
    H2_RANGE(stream_buffer_bytes, 1024, 1u << 30),
    H2_RANGE(out_buffer_bytes, 1024, 1u << 30),
    H2_RANGE(reset_budget, 1, 1000000),
    H2_RANGE(reset_window_ms, 1, 3600000),
    H2_RANGE(control_budget, 1, 1000000),
    H2_RANGE(empty_data_budget, 1, 1000000),
    H2_RANGE(flood_window_ms, 1, 3600000),
    H2_RANGE(idle_timeout_ms, 1, 86400000),
    H2_RANGE(settings_timeout_ms, 1, 3600000),
};

int
edge_h2_conf_check(const struct edge_h2_conf *c, char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof h2_ranges / sizeof h2_ranges[0]; i++) {
		const struct h2_range *r = &h2_ranges[i];
		unsigned v;

		memcpy(&v, (const char *)c + r->off, sizeof v);
		if (v < r->min) {
			snprintf(err, errlen, "%s: %u is below %u", r->name, v, r->min);
			return -1;
		}
		if (v > r->max) {
			snprintf(err, errlen, "%s: %u is above %u", r->name, v, r->max);
			return -1;
		}
	}
	return 0;
}

const char *
edge_h2_strerror(int err)
{
	switch (err) {
#define EDGE_H2_TEXT(name, code, text)                                                             \
	case (code):                                                                               \
		return (text);
		EDGE_H2_ERRORS(EDGE_H2_TEXT)
#undef EDGE_H2_TEXT
	}
	return "unknown error";
}

static const char *const h2_counter_names[EDGE_H2_C_COUNT] = {
#define EDGE_H2_CNAME(name, label, what) [EDGE_H2_C_##name] = (label),
    EDGE_H2_COUNTERS(EDGE_H2_CNAME)
#undef EDGE_H2_CNAME
};

const char *
edge_h2_counter_name(enum edge_h2_counter i)
{
	ASSERT((unsigned)i < EDGE_H2_C_COUNT);
	return h2_counter_names[i];
}

/* ---- helpers ---- */

static uint64_t
h2_now(struct edge_h2 *h)
{
	return h->cbs.now_ms != NULL ? h->cbs.now_ms(h->arg) : time_mono_ms();
}

/* Counts one event of a budget of n per window_ms starting at *start;
 * true when the budget is exceeded. */
static bool
h2_budget(struct edge_h2 *h, uint64_t *start, unsigned *count, unsigned n, unsigned window_ms)
{
	uint64_t now = h2_now(h);

	if (*count == 0 || now - *start >= window_ms) {
		*start = now;
		*count = 0;
	}
	return ++*count > n;
}

static struct str
h2_rcstr(nghttp2_rcbuf *rc)
{
	nghttp2_vec v = nghttp2_rcbuf_get_buf(rc);

	return str_make((const char *)v.base, v.len);
}

static struct edge_h2_stream *
h2_stream_get(struct edge_h2 *h, int32_t id)
{
	struct edge_h2_stream *s = nghttp2_session_get_stream_user_data(h->ng, id);

	if (s != NULL)
		OBJ_CHECK(s, EDGE_H2_STRM_MAGIC);
	return s;
}

static bool
h2_writable(const struct edge_h2 *h, const struct edge_h2_stream *s)
{
	return s->q_n < H2_QUEUE && s->q_bytes < h->conf.stream_buffer_bytes;
}

static void
h2_seg_pop(struct edge_h2_stream *s)
{
	struct h2_seg *g = &s->q[s->q_head];

	if (g->unref != NULL && g->ref != NULL)
		g->unref(g->p, g->len, g->held);
	s->q_head = (s->q_head + 1) % H2_QUEUE;
	s->q_n--;
	s->q_off = 0;
}

static struct edge_h2_stream *
h2_stream_new(struct edge_h2 *h, int32_t id)
{
	struct edge_h2_stream *s = h->free_list;
	unsigned max = h->conf.max_header_fields;

	if (s != NULL) {
		h->free_list = s->next;
		h->n_free--;
	} else {
		s = xmalloc(
		    sizeof *s + max * sizeof s->fields[0] + 2 * max * sizeof(nghttp2_rcbuf *));
	}
	memset(s, 0, sizeof *s);
	s->field_rc = (nghttp2_rcbuf **)(void *)&s->fields[max];
	s->magic = EDGE_H2_STRM_MAGIC;
	s->h = h;
	s->id = id;
	s->req.content_length = -1;
	s->next = h->streams;
	if (h->streams != NULL)
		h->streams->prev = s;
	h->streams = s;
	h->n_streams++;
	return s;
}

/* Lets go of s's references (HPACK buffers, queued bodies) and frees it. */
static void
h2_stream_free(struct edge_h2 *h, struct edge_h2_stream *s)
{
	while (s->q_n > 0)
		h2_seg_pop(s);
	for (unsigned i = 0; i < 5; i++)
		if (s->pseudo_rc[i] != NULL)
			nghttp2_rcbuf_decref(s->pseudo_rc[i]);
	for (unsigned i = 0; i < 2 * s->n_fields; i++)
		nghttp2_rcbuf_decref(s->field_rc[i]);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		h->streams = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	h->n_streams--;
	s->magic = 0;
	if (h->n_free < H2_FREE_MAX) {
		s->next = h->free_list;
		h->free_list = s;
		h->n_free++;
	} else {
		free(s);
	}
}

static void
h2_rst(struct edge_h2 *h, struct edge_h2_stream *s, uint32_t code)
{
	(void)nghttp2_submit_rst_stream(h->ng, NGHTTP2_FLAG_NONE, s->id, code);
}

/* ---- request heads ---- */

static int h2_malformed(struct edge_h2 *h, struct edge_h2_stream *s);

static int
h2_on_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame, void *arg)
{
	struct edge_h2 *h = arg;
	struct edge_h2_stream *s;

	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	s = h2_stream_new(h, frame->hd.stream_id);
	h->counters[EDGE_H2_C_STREAMS]++;
	if (nghttp2_session_set_stream_user_data(ng, s->id, s) != 0) {
		h2_stream_free(h, s);
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	}
	/* RFC 9113 §5.3.1: a stream cannot depend on itself (nghttp2 reads no
	 * dependency under SETTINGS_NO_RFC7540_PRIORITIES, so it is checked
	 * here) */
	if ((frame->hd.flags & NGHTTP2_FLAG_PRIORITY) != 0 &&
	    frame->headers.pri_spec.stream_id == frame->hd.stream_id)
		return h2_malformed(h, s);
	return 0;
}

static bool
h2_is_name(struct str n, const char *lit)
{
	size_t len = strlen(lit);

	return n.len == len && memcmp(n.p, lit, len) == 0;
}

/* RFC 9113 §8.2.2: fields that only mean something to one HTTP/1.1
 * connection (nghttp2 refuses them too; kept here so the rule holds
 * whatever nghttp2's messaging options). */
static bool
h2_connection_specific(struct str n)
{
	return h2_is_name(n, "connection") || h2_is_name(n, "keep-alive") ||
	       h2_is_name(n, "proxy-connection") || h2_is_name(n, "transfer-encoding") ||
	       h2_is_name(n, "upgrade");
}

/* A malformed request (RFC 9113 §8.1.1): a stream error PROTOCOL_ERROR;
 * nghttp2 decodes the rest of the block without calling us for it. */
static int
h2_malformed(struct edge_h2 *h, struct edge_h2_stream *s)
{
	s->own_answer = true;
	h->counters[EDGE_H2_C_MALFORMED]++;
	h2_rst(h, s, NGHTTP2_PROTOCOL_ERROR);
	return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
}

static int
h2_on_header(nghttp2_session *ng, const nghttp2_frame *frame, nghttp2_rcbuf *name,
    nghttp2_rcbuf *value, uint8_t flags, void *arg)
{
	struct edge_h2 *h = arg;
	struct edge_h2_stream *s;
	struct str n = h2_rcstr(name), v = h2_rcstr(value);
	int slot = -1;

	(void)flags;
	if (frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	s = h2_stream_get(h, frame->hd.stream_id);
	if (s == NULL)
		return 0;
	/* RFC 9113 §6.5.2: name, value and 32 octets per field; the block
	 * is still decoded (HPACK state), its fields dropped. */
	s->list_bytes += n.len + v.len + 32;
	if (s->list_bytes > h->conf.max_header_list_bytes)
		s->too_large = true;
	if (s->too_large || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0; /* trailers: read, bounded, dropped */
	if (n.len > 0 && n.p[0] == ':') {
		if (h2_is_name(n, ":method"))
			slot = 0;
		else if (h2_is_name(n, ":scheme"))
			slot = 1;
		else if (h2_is_name(n, ":authority"))
			slot = 2;
		else if (h2_is_name(n, ":path"))
			slot = 3;
		if (slot < 0 || s->pseudo_rc[slot] != NULL)
			return h2_malformed(h, s); /* §8.3: unknown or repeated */
	} else if (h2_is_name(n, "host")) {
		if (s->pseudo_rc[4] != NULL)
			return h2_malformed(h, s);
		slot = 4;
	}
	if (slot >= 0) {
		nghttp2_rcbuf_incref(value);
		s->pseudo_rc[slot] = value;
		return 0;
	}
	if (h2_connection_specific(n) || (h2_is_name(n, "te") && !h2_is_name(v, "trailers")))
		return h2_malformed(h, s);
	if (s->n_fields >= h->conf.max_header_fields) {
		s->too_large = true;
		return 0;
	}
	if (h2_is_name(n, "content-length")) {
		uint64_t cl;

		/* nghttp2 checked the digits and repeats (§8.1.1) */
		if (str_to_u64(v, &cl) == 0 && cl <= INT64_MAX)
			s->req.content_length = (int64_t)cl;
	}
	nghttp2_rcbuf_incref(name);
	nghttp2_rcbuf_incref(value);
	s->field_rc[2 * s->n_fields] = name;
	s->field_rc[2 * s->n_fields + 1] = value;
	s->fields[s->n_fields].name = n;
	s->fields[s->n_fields].value = v;
	s->n_fields++;
	(void)ng;
	return 0;
}

/* The node's own answer to a head over the limits (RFC 6585 §5). */
static void
h2_answer_431(struct edge_h2 *h, struct edge_h2_stream *s)
{
	static const struct edge_h2_field cl = {STR_LIT("content-length"), STR_LIT("0")};

	s->own_answer = true;
	h->counters[EDGE_H2_C_TOO_LARGE]++;
	if (edge_h2_send_head(h, s, 431, &cl, 1, true) != 0)
		h2_rst(h, s, NGHTTP2_INTERNAL_ERROR);
}

/* §8.3.1: what nghttp2 leaves to the application. */
static bool
h2_head_valid(struct edge_h2_stream *s)
{
	struct edge_h2_req *r = &s->req;

	if (s->pseudo_rc[0] == NULL)
		return false;
	r->method = h2_rcstr(s->pseudo_rc[0]);
	r->scheme = s->pseudo_rc[1] != NULL ? h2_rcstr(s->pseudo_rc[1]) : STR_NULL;
	r->authority = s->pseudo_rc[2] != NULL ? h2_rcstr(s->pseudo_rc[2]) : STR_NULL;
	r->path = s->pseudo_rc[3] != NULL ? h2_rcstr(s->pseudo_rc[3]) : STR_NULL;
	s->host = s->pseudo_rc[4] != NULL ? h2_rcstr(s->pseudo_rc[4]) : STR_NULL;
	if (h2_is_name(r->method, "CONNECT")) {
		/* §8.5: :authority only; the owner refuses the method */
		if (r->authority.len == 0 || r->scheme.p != NULL || r->path.p != NULL)
			return false;
	} else {
		if (r->scheme.len == 0 || r->path.len == 0)
			return false;
		/* "*" for OPTIONS only, else an origin-form path */
		if (r->path.p[0] != '/' &&
		    !(r->path.len == 1 && r->path.p[0] == '*' && h2_is_name(r->method, "OPTIONS")))
			return false;
	}
	/* A Host that names another authority than :authority; without
	 * :authority, Host is the authority. */
	if (s->host.p != NULL) {
		if (r->authority.p == NULL)
			r->authority = s->host;
		else if (!str_eq_nocase(r->authority, s->host))
			return false;
	}
	r->fields = s->fields;
	r->n_fields = s->n_fields;
	return true;
}

static void
h2_request_head(struct edge_h2 *h, struct edge_h2_stream *s, const nghttp2_frame *frame)
{
	s->req_ended = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
	s->req.end_stream = s->req_ended;
	if (s->too_large) {
		h2_answer_431(h, s);
		return;
	}
	if (!h2_head_valid(s)) {
		(void)h2_malformed(h, s);
		return;
	}
	s->delivered = true;
	h->counters[EDGE_H2_C_REQUESTS]++;
	h->cbs.on_request(h->arg, s, &s->req);
}

/* ---- frames received ---- */

static int
h2_calm(struct edge_h2 *h, enum edge_h2_counter why)
{
	h->calm = (int)why;
	return NGHTTP2_ERR_CALLBACK_FAILURE;
}

/*
 * Frames that cost the node work and the peer nothing (each asks for an
 * answer, a table update or a wake-up) have a budget per window, counted
 * as their headers arrive: SETTINGS and PING (not acks), PRIORITY (read
 * and ignored under SETTINGS_NO_RFC7540_PRIORITIES) and PRIORITY_UPDATE
 * (RFC 9218), and DATA frames that carry neither payload nor END_STREAM.
 */
static bool
h2_reset_lately(const struct edge_h2 *h, int32_t id)
{
	for (unsigned i = 0; i < H2_RESET_RING; i++)
		if (h->reset_ids[i] == id)
			return true;
	return false;
}

/*
 * RFC 9113 §5.1, §5.1.1: HEADERS or DATA on a client stream at or below the
 * highest one opened that nghttp2 no longer knows (closed, or never opened
 * and skipped) is a connection error — STREAM_CLOSED for DATA,
 * PROTOCOL_ERROR for HEADERS — unless this side reset that stream lately
 * (the client may have sent them before it saw the reset).  nghttp2 ignores
 * both, not knowing which ids it saw.
 */
static int
h2_stale_stream(nghttp2_session *ng, struct edge_h2 *h, const nghttp2_frame_hd *hd)
{
	if ((hd->type != NGHTTP2_HEADERS && hd->type != NGHTTP2_DATA) || hd->stream_id <= 0 ||
	    (hd->stream_id & 1) == 0 ||
	    hd->stream_id > nghttp2_session_get_last_proc_stream_id(ng) ||
	    nghttp2_session_find_stream(ng, hd->stream_id) != NULL ||
	    h2_reset_lately(h, hd->stream_id))
		return 0;
	h->fatal = hd->type == NGHTTP2_DATA ? NGHTTP2_STREAM_CLOSED : NGHTTP2_PROTOCOL_ERROR;
	return NGHTTP2_ERR_CALLBACK_FAILURE;
}

static int
h2_on_begin_frame(nghttp2_session *ng, const nghttp2_frame_hd *hd, void *arg)
{
	struct edge_h2 *h = arg;
	const struct edge_h2_conf *c = &h->conf;

	if (h2_stale_stream(ng, h, hd) != 0)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	switch (hd->type) {
	case NGHTTP2_SETTINGS:
		if ((hd->flags & NGHTTP2_FLAG_ACK) != 0)
			break;
		h->win_initial =
		    nghttp2_session_get_remote_settings(ng, NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE);
		h->win_max = 0;
		for (struct edge_h2_stream *s = h->streams; s != NULL; s = s->next) {
			int64_t w = nghttp2_session_get_stream_remote_window_size(ng, s->id);

			if (w > h->win_max)
				h->win_max = w;
		}
		/* fall through */
	case NGHTTP2_PING:
		if ((hd->flags & NGHTTP2_FLAG_ACK) != 0)
			break;
		/* fall through */
	case NGHTTP2_PRIORITY:
	case NGHTTP2_PRIORITY_UPDATE:
		if (h2_budget(
		        h, &h->flood_start, &h->controls, c->control_budget, c->flood_window_ms))
			return h2_calm(h, EDGE_H2_C_FLOOD);
		break;
	case NGHTTP2_DATA:
		if (hd->length == 0 && (hd->flags & NGHTTP2_FLAG_END_STREAM) == 0 &&
		    h2_budget(h, &h->empty_start, &h->empty_data, c->empty_data_budget,
		        c->flood_window_ms))
			return h2_calm(h, EDGE_H2_C_FLOOD);
		break;
	default:
		break;
	}
	return 0;
}

static int
h2_on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *arg)
{
	struct edge_h2 *h = arg;
	struct edge_h2_stream *s;
	const struct edge_h2_conf *c = &h->conf;

	switch (frame->hd.type) {
	case NGHTTP2_HEADERS:
		s = h2_stream_get(h, frame->hd.stream_id);
		if (s == NULL)
			break;
		if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
			h2_request_head(h, s, frame);
		} else if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0 && !s->req_ended) {
			s->req_ended = true;
			if (s->delivered && h->cbs.on_body_end != NULL)
				h->cbs.on_body_end(h->arg, s);
		}
		break;
	case NGHTTP2_DATA:
		s = h2_stream_get(h, frame->hd.stream_id);
		if (s != NULL && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0 &&
		    !s->req_ended) {
			s->req_ended = true;
			if (s->delivered && h->cbs.on_body_end != NULL)
				h->cbs.on_body_end(h->arg, s);
		}
		break;
	case NGHTTP2_SETTINGS:
		if ((frame->hd.flags & NGHTTP2_FLAG_ACK) != 0) {
			h->settings_acked = true;
			break;
		}
		/* RFC 9113 §6.9.2: a new initial window that takes a stream's send
		 * window past 2^31-1 is a connection error (nghttp2 resets the
		 * stream only) */
		for (size_t i = 0; i < frame->settings.niv; i++)
			if (frame->settings.iv[i].settings_id ==
			        NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE &&
			    h->win_max + (int64_t)frame->settings.iv[i].value - h->win_initial >
			        (int64_t)NGHTTP2_MAX_WINDOW_SIZE) {
				h->fatal = NGHTTP2_FLOW_CONTROL_ERROR;
				return NGHTTP2_ERR_CALLBACK_FAILURE;
			}
		break;
	case NGHTTP2_PING:
		if ((frame->hd.flags & NGHTTP2_FLAG_ACK) != 0 && h->draining &&
		    memcmp(frame->ping.opaque_data, H2_DRAIN_PING, 8) == 0)
			(void)nghttp2_submit_goaway(ng, NGHTTP2_FLAG_NONE,
			    nghttp2_session_get_last_proc_stream_id(ng), NGHTTP2_NO_ERROR, NULL, 0);
		break;
	case NGHTTP2_RST_STREAM:
		/* CVE-2023-44487: a client resetting the streams it opens makes
		 * the node start work it then throws away; a budget per window. */
		s = h2_stream_get(h, frame->hd.stream_id);
		if (s == NULL || s->done)
			break;
		h->counters[EDGE_H2_C_RESETS_RECV]++;
		if (h2_budget(h, &h->reset_start, &h->resets, c->reset_budget, c->reset_window_ms))
			return h2_calm(h, EDGE_H2_C_RAPID_RESET);
		break;
	default:
		break;
	}
	return 0;
}

static int
h2_on_data_chunk(
    nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *p, size_t len, void *arg)
{
	struct edge_h2 *h = arg;
	struct edge_h2_stream *s = h2_stream_get(h, id);

	(void)flags;
	h->counters[EDGE_H2_C_BODY_BYTES_IN] += len;
	if (s == NULL || !s->delivered || h->cbs.on_body == NULL) {
		(void)nghttp2_session_consume(ng, id, len);
		return 0;
	}
	s->unconsumed += len;
	h->cbs.on_body(h->arg, s, p, len);
	return 0;
}

static int
h2_on_stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *arg)
{
	struct edge_h2 *h = arg;
	struct edge_h2_stream *s = h2_stream_get(h, id);

	if (s == NULL)
		return 0;
	if (!s->delivered && !s->own_answer && code != NGHTTP2_NO_ERROR)
		h->counters[EDGE_H2_C_MALFORMED]++;
	if (s->delivered && h->cbs.on_close != NULL)
		h->cbs.on_close(h->arg, s, code);
	/* what the owner did not consume returns to the connection window */
	if (s->unconsumed > 0)
		(void)nghttp2_session_consume_connection(ng, s->unconsumed);
	(void)nghttp2_session_set_stream_user_data(ng, id, NULL);
	h2_stream_free(h, s);
	return 0;
}

/* ---- output ---- */

static ssize_t
h2_send_cb(nghttp2_session *ng, const uint8_t *p, size_t len, int flags, void *arg)
{
	struct edge_h2 *h = arg;

	(void)ng;
	(void)flags;
	if (evbuffer_get_length(h->out) >= h->conf.out_buffer_bytes)
		return NGHTTP2_ERR_WOULDBLOCK;
	if (evbuffer_add(h->out, p, len) != 0)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	return (ssize_t)len;
}

static ssize_t
h2_read_cb(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
    nghttp2_data_source *src, void *arg)
{
	struct edge_h2_stream *s = src->ptr;
	size_t n;

	(void)ng;
	(void)id;
	(void)buf;
	(void)arg;
	OBJ_CHECK(s, EDGE_H2_STRM_MAGIC);
	if (s->q_n == 0) {
		if (s->eos_queued) {
			*flags |= NGHTTP2_DATA_FLAG_EOF;
			return 0;
		}
		s->deferred = true;
		return NGHTTP2_ERR_DEFERRED;
	}
	/* one frame never spans two entries */
	n = s->q[s->q_head].len - s->q_off;
	if (n > length)
		n = length;
	*flags |= NGHTTP2_DATA_FLAG_NO_COPY;
	if (s->q_n == 1 && s->q_off + n == s->q[s->q_head].len && s->eos_queued)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

static int
h2_send_data_cb(nghttp2_session *ng, nghttp2_frame *frame, const uint8_t *framehd, size_t length,
    nghttp2_data_source *src, void *arg)
{
	struct edge_h2 *h = arg;
	struct edge_h2_stream *s = src->ptr;
	struct h2_seg *g;
	size_t pad = frame->data.padlen;

	(void)ng;
	OBJ_CHECK(s, EDGE_H2_STRM_MAGIC);
	if (evbuffer_get_length(h->out) >= h->conf.out_buffer_bytes)
		return NGHTTP2_ERR_WOULDBLOCK;
	if (evbuffer_add(h->out, framehd, 9) != 0)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	if (pad > 0) {
		uint8_t b = (uint8_t)(pad - 1);

		(void)evbuffer_add(h->out, &b, 1);
	}
	if (length > 0) {
		ASSERT(s->q_n > 0);
		g = &s->q[s->q_head];
		ASSERT(s->q_off + length <= g->len);
		if (g->ref != NULL)
			(void)evbuffer_add_reference(
			    h->out, g->p + s->q_off, length, g->unref, g->ref(g->arg));
		else
			(void)evbuffer_add_reference(h->out, g->p + s->q_off, length, NULL, NULL);
		s->q_off += length;
		s->q_bytes -= length;
		h->counters[EDGE_H2_C_BODY_BYTES_OUT] += length;
		if (s->q_off == g->len)
			h2_seg_pop(s);
	}
	if (pad > 1) {
		static const uint8_t zeros[256];

		(void)evbuffer_add(h->out, zeros, pad - 1);
	}
	if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0)
		s->done = true;
	if (s->want_writable && h2_writable(h, s)) {
		s->notify = true;
		h->notify = true;
	}
	return 0;
}

static int
h2_on_frame_send(nghttp2_session *ng, const nghttp2_frame *frame, void *arg)
{
	struct edge_h2 *h = arg;
	struct edge_h2_stream *s;

	switch (frame->hd.type) {
	case NGHTTP2_GOAWAY:
		h->counters[EDGE_H2_C_GOAWAY_SENT]++;
		if (frame->goaway.error_code != NGHTTP2_NO_ERROR &&
		    frame->goaway.error_code != NGHTTP2_ENHANCE_YOUR_CALM &&
		    frame->goaway.error_code != NGHTTP2_SETTINGS_TIMEOUT)
			h->counters[EDGE_H2_C_PROTOCOL]++;
		break;
	case NGHTTP2_RST_STREAM:
		h->counters[EDGE_H2_C_RESETS_SENT]++;
		h->reset_ids[h->reset_pos++ % H2_RESET_RING] = frame->hd.stream_id;
		break;
	case NGHTTP2_HEADERS:
	case NGHTTP2_DATA: /* an empty last frame goes without the send-data callback */
		s = h2_stream_get(h, frame->hd.stream_id);
		if (s != NULL && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0)
			s->done = true;
		break;
	default:
		break;
	}
	(void)ng;
	return 0;
}

/* ---- session ---- */

struct edge_h2 *
edge_h2_new(
    const struct edge_h2_conf *conf, const struct edge_h2_cbs *cbs, void *arg, struct evbuffer *out)
{
	struct edge_h2 *h = xcalloc(1, sizeof *h);
	nghttp2_session_callbacks *cb;
	nghttp2_option *opt;
	nghttp2_settings_entry iv[6];
	char err[128];
	int rv;

	ASSERT(cbs->on_request != NULL);
	ASSERT(edge_h2_conf_check(conf, err, sizeof err) == 0);
	h->magic = EDGE_H2_MAGIC;
	h->conf = *conf;
	h->cbs = *cbs;
	h->arg = arg;
	h->out = out;
	h->calm = -1;
	h->fatal = -1;
	h->scan_preface = NGHTTP2_CLIENT_MAGIC_LEN;

	if (nghttp2_session_callbacks_new(&cb) != 0)
		abort();
	nghttp2_session_callbacks_set_send_callback(cb, h2_send_cb);
	nghttp2_session_callbacks_set_send_data_callback(cb, h2_send_data_cb);
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, h2_on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback2(cb, h2_on_header);
	nghttp2_session_callbacks_set_on_begin_frame_callback(cb, h2_on_begin_frame);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, h2_on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, h2_on_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, h2_on_stream_close);
	nghttp2_session_callbacks_set_on_frame_send_callback(cb, h2_on_frame_send);

	if (nghttp2_option_new(&opt) != 0)
		abort();
	nghttp2_option_set_no_auto_window_update(opt, 1);
	nghttp2_option_set_no_closed_streams(opt, 1);
	/* RFC 9218 priorities (SETTINGS_NO_RFC7540_PRIORITIES below): the
	 * priority field and PRIORITY_UPDATE frames order the streams */
	nghttp2_option_set_builtin_recv_extension_type(opt, NGHTTP2_PRIORITY_UPDATE);
	nghttp2_option_set_max_continuations(opt, conf->max_continuations);
	nghttp2_option_set_max_deflate_dynamic_table_size(opt, conf->hpack_table_bytes);
	/* nghttp2's own reset limiter (every RST_STREAM, even of a closed
	 * stream) stays a looser backstop behind ours */
	{
		uint64_t burst = 2 * (uint64_t)conf->reset_budget;
		uint64_t rate = burst * 1000 / conf->reset_window_ms;

		nghttp2_option_set_stream_reset_rate_limit(
		    opt, burst > 1000 ? burst : 1000, rate > 33 ? rate : 33);
	}

	rv = nghttp2_session_server_new2(&h->ng, cb, h, opt);
	nghttp2_session_callbacks_del(cb);
	nghttp2_option_del(opt);
	if (rv != 0)
		abort();

	iv[0] = (nghttp2_settings_entry){
	    NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, conf->max_concurrent_streams};
	iv[1] = (nghttp2_settings_entry){
	    NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, conf->stream_window_bytes};
	iv[2] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_MAX_FRAME_SIZE, conf->max_frame_bytes};
	iv[3] =
	    (nghttp2_settings_entry){NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, conf->hpack_table_bytes};
	iv[4] = (nghttp2_settings_entry){
	    NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, conf->max_header_list_bytes};
	iv[5] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1};
	if (nghttp2_submit_settings(h->ng, NGHTTP2_FLAG_NONE, iv, 6) != 0)
		abort();
	/* the connection window beyond the 65535 of RFC 9113 §6.9.2 */
	if (conf->conn_window_bytes > NGHTTP2_INITIAL_CONNECTION_WINDOW_SIZE &&
	    nghttp2_session_set_local_window_size(
	        h->ng, NGHTTP2_FLAG_NONE, 0, (int32_t)conf->conn_window_bytes) != 0)
		abort();
	return h;
}

void
edge_h2_free(struct edge_h2 **hp)
{
	struct edge_h2 *h = *hp;
	struct edge_h2_stream *s;

	if (h == NULL)
		return;
	*hp = NULL;
	OBJ_CHECK(h, EDGE_H2_MAGIC);
	/* HPACK buffers belong to the session's allocator: let go first */
	while (h->streams != NULL)
		h2_stream_free(h, h->streams);
	while ((s = h->free_list) != NULL) {
		h->free_list = s->next;
		free(s);
	}
	nghttp2_session_del(h->ng);
	h->magic = 0;
	free(h);
}

static void
h2_notify(struct edge_h2 *h)
{
	h->notify = false;
	for (struct edge_h2_stream *s = h->streams, *next; s != NULL; s = next) {
		next = s->next;
		if (!s->notify)
			continue;
		s->notify = false;
		s->want_writable = false;
		if (h->cbs.on_writable != NULL)
			h->cbs.on_writable(h->arg, s); /* may close s, not next */
	}
}

static uint32_t
h2_be31(const uint8_t *b)
{
	return ((uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3]) &
	       0x7fffffffu;
}

/* A frame header or a PRIORITY dependency read whole: what to check now
 * that everything before it reached nghttp2.  NGHTTP2_ERR_CALLBACK_FAILURE
 * for a connection error (h->fatal set). */
static int
h2_scan_check(struct edge_h2 *h)
{
	nghttp2_frame_hd hd;

	hd.type = h->scan_hd[3];
	hd.stream_id = (int32_t)h2_be31(h->scan_hd + 5);
	if (h->scan_have == 9 + sizeof h->scan_dep) {
		/* RFC 9113 §5.3.1: a PRIORITY frame making a stream depend on
		 * itself is a stream error; on a stream never opened (nghttp2
		 * sends no RST_STREAM for one) the connection's (§5.4.1 allows) */
		if ((int32_t)h2_be31(h->scan_dep) != hd.stream_id)
			return 0;
		if (nghttp2_session_find_stream(h->ng, hd.stream_id) != NULL) {
			(void)nghttp2_submit_rst_stream(
			    h->ng, NGHTTP2_FLAG_NONE, hd.stream_id, NGHTTP2_PROTOCOL_ERROR);
			return 0;
		}
		h->fatal = NGHTTP2_PROTOCOL_ERROR;
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	}
	return hd.type == NGHTTP2_DATA ? h2_stale_stream(h->ng, h, &hd) : 0;
}

/*
 * How many of the len bytes at p to give nghttp2 next: up to the end of a
 * DATA frame's header or of a PRIORITY frame's dependency (*check: look at
 * it once they are in), else all.
 */
static size_t
h2_scan(struct edge_h2 *h, const uint8_t *p, size_t len, bool *check)
{
	size_t i = 0, k;

	*check = false;
	while (i < len) {
		if (h->scan_preface > 0) {
			k = len - i < h->scan_preface ? len - i : h->scan_preface;
			h->scan_preface -= (uint32_t)k;
			i += k;
			continue;
		}
		if (h->scan_have >= 9) { /* a PRIORITY frame's dependency */
			h->scan_dep[h->scan_have++ - 9] = p[i++];
			if (h->scan_have == 9 + sizeof h->scan_dep) {
				*check = true;
				return i;
			}
			continue;
		}
		if (h->scan_skip > 0) {
			k = len - i < h->scan_skip ? len - i : h->scan_skip;
			h->scan_skip -= (uint32_t)k;
			i += k;
			continue;
		}
		h->scan_hd[h->scan_have++] = p[i++];
		if (h->scan_have < 9)
			continue;
		h->scan_skip =
		    (uint32_t)h->scan_hd[0] << 16 | (uint32_t)h->scan_hd[1] << 8 | h->scan_hd[2];
		if (h->scan_hd[3] == NGHTTP2_PRIORITY && h->scan_skip == 5) {
			h->scan_skip = 1; /* the weight, after the dependency */
			continue;         /* scan_have stays 9: the dependency next */
		}
		h->scan_have = 0;
		if (h->scan_hd[3] == NGHTTP2_DATA) {
			*check = true;
			return i;
		}
	}
	return i;
}

int
edge_h2_recv(struct edge_h2 *h, const uint8_t *p, size_t len)
{
	ssize_t rv = 0;

	OBJ_CHECK(h, EDGE_H2_MAGIC);
	if (h->failed)
		return h->calm >= 0 ? EDGE_H2_E_CALM : EDGE_H2_E_PROTO;
	while (len > 0) {
		bool check;
		size_t n = h2_scan(h, p, len, &check);

		rv = nghttp2_session_mem_recv(h->ng, p, n);
		if (rv < 0)
			break;
		p += n;
		len -= n;
		if (check) {
			if (h2_scan_check(h) != 0) {
				rv = NGHTTP2_ERR_CALLBACK_FAILURE;
				break;
			}
			if (h->scan_have > 9)
				h->scan_have = 0; /* the dependency was read */
		}
	}
	if (rv >= 0)
		return 0;
	h->failed = true;
	if (h->calm >= 0) {
		h->counters[h->calm]++;
		(void)nghttp2_session_terminate_session(h->ng, NGHTTP2_ENHANCE_YOUR_CALM);
		return EDGE_H2_E_CALM;
	}
	if (h->fatal >= 0) {
		h->counters[EDGE_H2_C_PROTOCOL]++;
		(void)nghttp2_session_terminate_session(h->ng, (uint32_t)h->fatal);
		return EDGE_H2_E_PROTO;
	}
	if (rv == NGHTTP2_ERR_NOMEM)
		return EDGE_H2_E_NOMEM;
	if (rv == NGHTTP2_ERR_FLOODED) {
		h->counters[EDGE_H2_C_FLOOD]++;
		return EDGE_H2_E_CALM;
	}
	/* a bad preface, or a fatal error nghttp2 already sent GOAWAY for */
	h->counters[EDGE_H2_C_PROTOCOL]++;
	(void)nghttp2_session_terminate_session(h->ng, NGHTTP2_PROTOCOL_ERROR);
	return EDGE_H2_E_PROTO;
}

int
edge_h2_recv_evbuffer(struct edge_h2 *h, struct evbuffer *in)
{
	struct evbuffer_iovec v[8];
	int rv = 0;

	while (rv == 0 && evbuffer_get_length(in) > 0) {
		int n = evbuffer_peek(in, -1, NULL, v, 8);
		size_t done = 0;

		if (n > 8)
			n = 8;
		for (int i = 0; i < n && rv == 0; i++) {
			rv = edge_h2_recv(h, v[i].iov_base, v[i].iov_len);
			done += v[i].iov_len;
		}
		(void)evbuffer_drain(in, rv == 0 ? done : evbuffer_get_length(in));
	}
	return rv;
}

int
edge_h2_send(struct edge_h2 *h)
{
	int rv;

	OBJ_CHECK(h, EDGE_H2_MAGIC);
	rv = nghttp2_session_send(h->ng);
	if (h->notify)
		h2_notify(h);
	return rv == 0 ? 0 : EDGE_H2_E_NOMEM;
}

bool
edge_h2_want_write(const struct edge_h2 *h)
{
	return nghttp2_session_want_write(h->ng) != 0;
}

bool
edge_h2_done(const struct edge_h2 *h)
{
	return nghttp2_session_want_read(h->ng) == 0 && nghttp2_session_want_write(h->ng) == 0;
}

bool
edge_h2_idle(const struct edge_h2 *h)
{
	return h->n_streams == 0;
}

bool
edge_h2_settings_pending(const struct edge_h2 *h)
{
	return !h->settings_acked;
}

void
edge_h2_timeout(struct edge_h2 *h, enum edge_h2_timeout what)
{
	OBJ_CHECK(h, EDGE_H2_MAGIC);
	(void)nghttp2_session_terminate_session(
	    h->ng, what == EDGE_H2_TIMEOUT_SETTINGS ? NGHTTP2_SETTINGS_TIMEOUT : NGHTTP2_NO_ERROR);
}

void
edge_h2_drain(struct edge_h2 *h)
{
	OBJ_CHECK(h, EDGE_H2_MAGIC);
	if (h->draining)
		return;
	h->draining = true;
	(void)nghttp2_submit_shutdown_notice(h->ng);
	(void)nghttp2_submit_ping(h->ng, NGHTTP2_FLAG_NONE, (const uint8_t *)H2_DRAIN_PING);
}

const uint64_t *
edge_h2_counters(const struct edge_h2 *h)
{
	return h->counters;
}

/* ---- streams ---- */

int32_t
edge_h2_stream_id(const struct edge_h2_stream *s)
{
	return s->id;
}

void
edge_h2_stream_set_data(struct edge_h2_stream *s, void *data)
{
	s->data = data;
}

void *
edge_h2_stream_data(const struct edge_h2_stream *s)
{
	return s->data;
}

int
edge_h2_send_head(struct edge_h2 *h, struct edge_h2_stream *s, int status,
    const struct edge_h2_field *fields, unsigned n, bool end_stream)
{
	nghttp2_nv nv[EDGE_H2_HEAD_FIELDS_MAX + 1];
	char code[3];
	size_t nn = 1, used = 0;
	nghttp2_data_provider prd;
	int rv;

	OBJ_CHECK(h, EDGE_H2_MAGIC);
	OBJ_CHECK(s, EDGE_H2_STRM_MAGIC);
	if (s->final_sent)
		return EDGE_H2_E_STATE;
	/* 101 does not exist in HTTP/2 (RFC 9113 §8.6) */
	if (status < 100 || status > 999 || status == 101 || n > EDGE_H2_HEAD_FIELDS_MAX)
		return EDGE_H2_E_HEAD;
	code[0] = (char)('0' + status / 100);
	code[1] = (char)('0' + status / 10 % 10);
	code[2] = (char)('0' + status % 10);
	nv[0] = (nghttp2_nv){
	    (uint8_t *)(uintptr_t) ":status", (uint8_t *)code, 7, 3, NGHTTP2_NV_FLAG_NONE};
	for (unsigned i = 0; i < n; i++) {
		struct str name = fields[i].name;
		char *lower = h->names + used;

		if (name.len == 0 || name.len > sizeof h->names - used)
			return EDGE_H2_E_HEAD;
		for (size_t j = 0; j < name.len; j++) {
			char ch = name.p[j];

			lower[j] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
		}
		if (h2_connection_specific(str_make(lower, name.len)))
			continue;
		used += name.len;
		nv[nn++] = (nghttp2_nv){(uint8_t *)lower, (uint8_t *)(uintptr_t)fields[i].value.p,
		    name.len, fields[i].value.len, NGHTTP2_NV_FLAG_NONE};
	}
	if (status < 200) {
		rv = nghttp2_submit_headers(h->ng, NGHTTP2_FLAG_NONE, s->id, NULL, nv, nn, NULL);
		return rv >= 0 ? 0 : EDGE_H2_E_CLOSED;
	}
	prd.source.ptr = s;
	prd.read_callback = h2_read_cb;
	rv = nghttp2_submit_response(h->ng, s->id, nv, nn, end_stream ? NULL : &prd);
	if (rv != 0)
		return rv == NGHTTP2_ERR_NOMEM ? EDGE_H2_E_NOMEM : EDGE_H2_E_CLOSED;
	s->final_sent = true;
	s->eos_queued = end_stream;
	return 0;
}

int
edge_h2_send_body(struct edge_h2 *h, struct edge_h2_stream *s, const void *p, size_t len,
    edge_h2_ref_cb *ref, edge_h2_unref_cb *unref, void *arg, bool end_stream)
{
	OBJ_CHECK(h, EDGE_H2_MAGIC);
	OBJ_CHECK(s, EDGE_H2_STRM_MAGIC);
	if (!s->final_sent || s->eos_queued)
		return EDGE_H2_E_STATE;
	if (len > 0) {
		struct h2_seg *g;

		if (s->q_n == H2_QUEUE)
			return EDGE_H2_E_FULL;
		g = &s->q[(s->q_head + s->q_n) % H2_QUEUE];
		g->p = p;
		g->len = len;
		g->ref = ref;
		g->unref = unref;
		g->arg = arg;
		g->held = ref != NULL ? ref(arg) : NULL;
		s->q_n++;
		s->q_bytes += len;
	}
	s->eos_queued = end_stream;
	if (s->deferred) {
		s->deferred = false;
		(void)nghttp2_session_resume_data(h->ng, s->id);
	}
	if (!h2_writable(h, s)) {
		s->want_writable = true;
		return EDGE_H2_PAUSED;
	}
	return 0;
}

void
edge_h2_abort(struct edge_h2 *h, struct edge_h2_stream *s)
{
	OBJ_CHECK(h, EDGE_H2_MAGIC);
	OBJ_CHECK(s, EDGE_H2_STRM_MAGIC);
	h2_rst(h, s, NGHTTP2_INTERNAL_ERROR);
}

void
edge_h2_consume(struct edge_h2 *h, struct edge_h2_stream *s, size_t n)
{
	OBJ_CHECK(h, EDGE_H2_MAGIC);
	OBJ_CHECK(s, EDGE_H2_STRM_MAGIC);
	if (n > s->unconsumed)
		n = s->unconsumed;
	s->unconsumed -= n;
	(void)nghttp2_session_consume(h->ng, s->id, n);
}
