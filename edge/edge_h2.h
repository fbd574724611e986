/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_h2.h — the server side of one HTTP/2 connection (RFC 9113),
 * over libnghttp2: framing, HPACK (RFC 7541), flow control and the
 * message rules of RFC 9113 §8, with the node's limits and defences.
 *
 * The session knows neither sockets nor the request steps.  The transport
 * feeds it the bytes it read (edge_h2_recv) and asks it for bytes to write
 * (edge_h2_send appends frames to the evbuffer it was given, which the
 * transport writes to the socket).  Each valid request head becomes a call
 * of on_request with a protocol-neutral view (struct edge_h2_req); the
 * owner answers with edge_h2_send_head and edge_h2_send_body, whose bytes
 * go to the output by reference (evbuffer_add_reference), never copied.
 * A stream whose peer window is exhausted keeps its queued bytes: send_body
 * says "paused" once the stream holds stream_buffer_bytes, and on_writable
 * says when the owner may produce again.  Request bodies are flow-controlled
 * by what the owner consumes (edge_h2_consume), within windows bounded by
 * the settings.
 *
 * Memory per connection is bounded: output is produced only while the
 * evbuffer holds less than out_buffer_bytes, request bodies by the
 * connection window, header blocks by max_header_list_bytes and
 * max_continuations, streams by max_concurrent_streams.
 *
 * Single thread: the connection's worker.  Every call may run callbacks;
 * edge_h2_free must not be called from one.
 */
#ifndef OUTPOST_EDGE_EDGE_H2_H
#define OUTPOST_EDGE_EDGE_H2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/str.h"

struct evbuffer;
struct edge_h2;
struct edge_h2_stream;

/* ---- settings (STYLE.md §3.8): config/ fills them, defaults below ---- */

struct edge_h2_conf {
	unsigned max_concurrent_streams; /* SETTINGS_MAX_CONCURRENT_STREAMS; default 100 */
	unsigned max_header_list_bytes;  /* SETTINGS_MAX_HEADER_LIST_SIZE, enforced; 65536 */
	unsigned max_header_fields;      /* fields of one request head; default 100 */
	unsigned hpack_table_bytes;      /* SETTINGS_HEADER_TABLE_SIZE (decoder) and the
	                                  * encoder's table; default 4096 */
	unsigned max_continuations;      /* CONTINUATION frames after a HEADERS; default 8 */
	unsigned max_frame_bytes;        /* SETTINGS_MAX_FRAME_SIZE; default 16384 */
	unsigned stream_window_bytes;    /* request body window per stream
	                                  * (SETTINGS_INITIAL_WINDOW_SIZE); default 65535 */
	unsigned conn_window_bytes;      /* request bodies of all streams; default 1 MiB */
	unsigned stream_buffer_bytes;    /* response bytes queued per stream before the
	                                  * producer pauses; default 65536 */
	unsigned out_buffer_bytes;       /* output produced ahead of the socket; default 65536 */
	unsigned reset_budget;           /* client resets of open streams ... */
	unsigned reset_window_ms;        /* ... per window before GOAWAY; 100 per 1000 ms */
	unsigned control_budget;         /* SETTINGS, PING, PRIORITY frames ... */
	unsigned empty_data_budget;      /* DATA frames without payload nor END_STREAM ... */
	unsigned flood_window_ms;        /* ... per window; 1000 and 100 per 1000 ms */
	unsigned idle_timeout_ms;        /* for the transport: no stream open; default 60000 */
	unsigned settings_timeout_ms;    /* for the transport: our SETTINGS unacked; 10000 */
};

/* The defaults above (inline: config/ fills a snapshot's without linking
 * the session). */
static inline void
edge_h2_conf_defaults(struct edge_h2_conf *c)
{
	*c = (struct edge_h2_conf){
	    .max_concurrent_streams = 100,
	    .max_header_list_bytes = 65536,
	    .max_header_fields = 100,
	    .hpack_table_bytes = 4096,
	    .max_continuations = 8,
	    .max_frame_bytes = 16384,
	    .stream_window_bytes = 65535,
	    .conn_window_bytes = 1u << 20,
	    .stream_buffer_bytes = 65536,
	    .out_buffer_bytes = 65536,
	    .reset_budget = 100,
	    .reset_window_ms = 1000,
	    .control_budget = 1000,
	    .empty_data_budget = 100,
	    .flood_window_ms = 1000,
	    .idle_timeout_ms = 60000,
	    .settings_timeout_ms = 10000,
	};
}
/*
 * 0 when every value of c is in its range, else -1 and the first offence in
 * err (e.g. "max_frame_bytes: 1000 is below 16384"), for config/ to prefix
 * with file:line:column.
 */
int edge_h2_conf_check(const struct edge_h2_conf *c, char *err, size_t errlen);

/* ---- errors and counters (X-macro tables, STYLE.md §3.4, §3.7) ---- */

#define EDGE_H2_ERRORS(X)                                                                          \
	X(OK, 0, "ok")                                                                             \
	X(CLOSED, -1, "stream closed or reset")                                                    \
	X(STATE, -2, "call out of order for the stream")                                           \
	X(FULL, -3, "stream's body queue full")                                                    \
	X(HEAD, -4, "response head refused")                                                       \
	X(PROTO, -5, "connection error: the peer broke the protocol")                              \
	X(CALM, -6, "connection error: the peer exceeded a budget")                                \
	X(NOMEM, -7, "out of memory")

enum edge_h2_err {
#define EDGE_H2_ENUM(name, code, text) EDGE_H2_E_##name = (code),
	EDGE_H2_ERRORS(EDGE_H2_ENUM)
#undef EDGE_H2_ENUM
};
const char *edge_h2_strerror(int err);

/* name (the metric label), what it counts */
#define EDGE_H2_COUNTERS(X)                                                                        \
	X(STREAMS, "streams", "streams opened by the client")                                      \
	X(REQUESTS, "requests", "valid request heads handed on")                                   \
	X(MALFORMED, "malformed", "requests refused as malformed (RFC 9113 §8.1.1)")               \
	X(TOO_LARGE, "too_large", "request heads over the field limits (431)")                     \
	X(RESETS_RECV, "resets_received", "open streams the client reset")                         \
	X(RESETS_SENT, "resets_sent", "streams the node reset")                                    \
	X(GOAWAY_SENT, "goaway_sent", "GOAWAY frames sent")                                        \
	X(RAPID_RESET, "rapid_reset", "connections ended over the reset budget")                   \
	X(FLOOD, "flood", "connections ended over a control or empty DATA budget")                 \
	X(PROTOCOL, "protocol", "connections ended by a protocol error of the peer")               \
	X(BODY_BYTES_OUT, "body_bytes_out", "response body bytes framed")                          \
	X(BODY_BYTES_IN, "body_bytes_in", "request body bytes received")

enum edge_h2_counter {
#define EDGE_H2_CENUM(name, label, what) EDGE_H2_C_##name,
	EDGE_H2_COUNTERS(EDGE_H2_CENUM)
#undef EDGE_H2_CENUM
	    EDGE_H2_C_COUNT
};
/* The metric label of counter i. */
const char *edge_h2_counter_name(enum edge_h2_counter i);

/* ---- the request view ---- */

struct edge_h2_field {
	struct str name; /* lowercase (RFC 9113 §8.2.1) */
	struct str value;
};

/*
 * A request head, valid for the stream's life (the views hold HPACK's
 * buffers by reference).  Pseudo-header fields are taken out; :authority,
 * or Host when it is absent, is the authority (RFC 9113 §8.3.1).  Cookie
 * crumbs stay separate fields (§8.2.3: an HTTP/1.1 side joins them with
 * "; ").  Connection-specific fields, TE other than "trailers" and
 * malformed heads never reach the owner.
 */
struct edge_h2_req {
	struct str method;
	struct str scheme;
	struct str authority;
	struct str path;
	const struct edge_h2_field *fields;
	unsigned n_fields;
	int64_t content_length; /* -1: none given */
	bool end_stream;        /* no body follows */
};

/* ---- owner callbacks ---- */

struct edge_h2_cbs {
	/* A valid request head on s (s's view stays valid until on_close). */
	void (*on_request)(void *arg, struct edge_h2_stream *s, const struct edge_h2_req *req);
	/* Request body bytes (valid during the call only).  The peer may send
	 * more only once the owner consumed them (edge_h2_consume). */
	void (*on_body)(void *arg, struct edge_h2_stream *s, const uint8_t *p, size_t len);
	/* The request body of a request that had one (req->end_stream false)
	 * ended: END_STREAM; trailers are read and dropped. */
	void (*on_body_end)(void *arg, struct edge_h2_stream *s);
	/* s paused (send_body returned EDGE_H2_PAUSED) may take body again. */
	void (*on_writable)(void *arg, struct edge_h2_stream *s);
	/* s is gone: its response done, or reset (error_code: RFC 9113 §7; 0
	 * when complete).  The owner drops its pointer; s is freed after. */
	void (*on_close)(void *arg, struct edge_h2_stream *s, uint32_t error_code);
	/* Optional clock (monotonic ms) for the budgets; NULL: time_mono_ms. */
	uint64_t (*now_ms)(void *arg);
};

/* ---- session ---- */

/*
 * A server session writing its frames to out (kept, not owned: it must
 * outlive the session or at least every edge_h2_send), with conf copied
 * (it passed edge_h2_conf_check).
 * Queues the server preface (SETTINGS); call edge_h2_send.  Never NULL.
 */
struct edge_h2 *edge_h2_new(const struct edge_h2_conf *conf, const struct edge_h2_cbs *cbs,
    void *arg, struct evbuffer *out);
/* Frees h and its streams (queued bodies let go, without on_close);
 * sets *hp = NULL; NULL-safe.  Bytes already in out stay valid. */
void edge_h2_free(struct edge_h2 **hp);

/*
 * Feeds len bytes read from the peer (the client preface first).  Returns
 * 0, or EDGE_H2_E_PROTO / EDGE_H2_E_CALM / EDGE_H2_E_NOMEM when the
 * connection is to end: a GOAWAY is queued where one applies; call
 * edge_h2_send, write what out holds, then close.
 */
int edge_h2_recv(struct edge_h2 *h, const uint8_t *p, size_t len);
/* The same for every byte of in, chunk by chunk (no pullup), drained. */
int edge_h2_recv_evbuffer(struct edge_h2 *h, struct evbuffer *in);
/*
 * Appends frames to out while it holds less than out_buffer_bytes.
 * 0, or EDGE_H2_E_NOMEM.  Call after edge_h2_recv, after send_head/body,
 * and when the socket took output (out drained below the mark).
 */
int edge_h2_send(struct edge_h2 *h);
/* Would edge_h2_send produce something now (out permitting)? */
bool edge_h2_want_write(const struct edge_h2 *h);
/* Is the connection finished: GOAWAY exchanged or sent, no stream left,
 * nothing more to send?  The transport writes out, then closes. */
bool edge_h2_done(const struct edge_h2 *h);
/* No stream open (the transport runs its idle timer, idle_timeout_ms). */
bool edge_h2_idle(const struct edge_h2 *h);
/* Our SETTINGS not acknowledged yet (the transport runs its settings
 * timer, settings_timeout_ms). */
bool edge_h2_settings_pending(const struct edge_h2 *h);

enum edge_h2_timeout {
	EDGE_H2_TIMEOUT_IDLE = 0, /* GOAWAY NO_ERROR */
	EDGE_H2_TIMEOUT_SETTINGS, /* GOAWAY SETTINGS_TIMEOUT (RFC 9113 §6.5.3) */
};
/* A timer of the transport fired: the connection goes away. */
void edge_h2_timeout(struct edge_h2 *h, enum edge_h2_timeout what);
/*
 * Graceful shutdown (drain, reload): a GOAWAY with the last stream id
 * 2^31-1 and a PING; once the PING returns (one round trip), the final
 * GOAWAY names the last stream taken.  Streams up to it finish; later ones
 * are refused.  Idempotent.
 */
void edge_h2_drain(struct edge_h2 *h);
/* The counters of h (EDGE_H2_C_COUNT of them). */
const uint64_t *edge_h2_counters(const struct edge_h2 *h);

/* ---- streams ---- */

int32_t edge_h2_stream_id(const struct edge_h2_stream *s);
void edge_h2_stream_set_data(struct edge_h2_stream *s, void *data);
void *edge_h2_stream_data(const struct edge_h2_stream *s);

/* Fields of one response head: a relayed origin head (at most 256) and the
 * node's own. */
#define EDGE_H2_HEAD_FIELDS_MAX 320

/*
 * The response head: status (1xx: an interim head, more may follow) and
 * fields (names in any case: they are lowercased; Connection, Keep-Alive,
 * Proxy-Connection, Transfer-Encoding and Upgrade are left out, RFC 9113
 * §8.2.2; fields are copied).  end_stream: no body.  0, EDGE_H2_E_CLOSED,
 * EDGE_H2_E_STATE (a final head already sent), EDGE_H2_E_HEAD (more than
 * EDGE_H2_HEAD_FIELDS_MAX fields or 8 KiB of names, a status outside
 * 100..999, 101).
 */
int edge_h2_send_head(struct edge_h2 *h, struct edge_h2_stream *s, int status,
    const struct edge_h2_field *fields, unsigned n, bool end_stream);

/*
 * What keeps queued body bytes alive: ref takes one more reference on arg
 * and returns what unref will be given; unref lets one go (the shape of
 * evbuffer's cleanup callback, so the output holds one per frame).  With
 * ref NULL the bytes are static.
 */
typedef void *edge_h2_ref_cb(void *arg);
typedef void edge_h2_unref_cb(const void *data, size_t len, void *ref);

#define EDGE_H2_PAUSED 1
/*
 * Queues p[0..len) of the response body by reference (len may be 0 with
 * end_stream).  0: queued, more welcome; EDGE_H2_PAUSED: queued, wait for
 * on_writable; EDGE_H2_E_CLOSED, EDGE_H2_E_STATE (no final head, or the
 * body ended), EDGE_H2_E_FULL (queue slots taken: wait for on_writable).
 * On an error nothing was queued and no reference taken.
 */
int edge_h2_send_body(struct edge_h2 *h, struct edge_h2_stream *s, const void *p, size_t len,
    edge_h2_ref_cb *ref, edge_h2_unref_cb *unref, void *arg, bool end_stream);
/* Ends s with RST_STREAM INTERNAL_ERROR (a body that cannot be finished);
 * on_close follows once the frame is sent. */
void edge_h2_abort(struct edge_h2 *h, struct edge_h2_stream *s);
/* The owner took n request body bytes of s: the peer may send n more. */
void edge_h2_consume(struct edge_h2 *h, struct edge_h2_stream *s, size_t n);

#endif
