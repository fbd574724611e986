/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * origin/origin_http1.h — the HTTP/1.1 client's response reader: what every
 * exchange with an origin (a fetch, a health probe) does with the bytes that
 * come back, over the evbuffer the connection's bufferevent fills.
 *
 *   head: the status line and fields (core/h1), interim (1xx) responses
 *         skipped up to a cap, 101 refused (no upgrade is asked for);
 *   body: framed by Content-Length, chunked (decoded here) or the close
 *         (RFC 9112 §6.3), handed to the caller's callback as it comes;
 *   timeouts: first byte while the head is awaited, between bytes in the
 *         body, send for writes, set on the connection's bufferevent.
 *
 * It knows nothing of caches, requests or clients; the caller owns the
 * connection, the header array the head's views use and every decision on
 * what to do with a head.  No allocation.  One reader per exchange, on the
 * connection's thread.
 */
#ifndef OUTPOST_ORIGIN_ORIGIN_HTTP1_H
#define OUTPOST_ORIGIN_ORIGIN_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/h1.h"

struct bufferevent;
struct evbuffer;

/*       name           text */
#define ORIGIN_HTTP1_STATUS_TABLE(X)                                                               \
	X(OK, "ok")                                                                                \
	X(AGAIN, "incomplete")                                                                     \
	X(STOP, "stopped by the caller")                                                           \
	X(E_MALFORMED, "malformed response")                                                       \
	X(E_INTERIM, "too many interim responses")                                                 \
	X(E_UPGRADE, "protocol upgrade is not supported")                                          \
	X(E_CHUNKED, "bad chunked body")                                                           \
	X(E_TRUNCATED, "connection ended mid-body")

enum origin_http1_status {
#define ORIGIN_HTTP1_ENUM(name, text) ORIGIN_HTTP1_##name,
	ORIGIN_HTTP1_STATUS_TABLE(ORIGIN_HTTP1_ENUM)
#undef ORIGIN_HTTP1_ENUM
};

/* The text of a status ("malformed response"). */
const char *origin_http1_strerror(enum origin_http1_status st);

/* The exchange's timeouts, in milliseconds (0: none). */
struct origin_http1_timeouts {
	unsigned first_byte_ms;    /* read timeout while the head is awaited */
	unsigned between_bytes_ms; /* read timeout in the body */
	unsigned send_ms;          /* write timeout */
};

/* One response being read.  Plain data (embedded in its exchange); set up
 * by origin_http1_init, its fields read-only for the caller. */
struct origin_http1_reader {
	struct h1_limits lim; /* of the head (max_head, max_headers) */
	unsigned max_interim; /* 1xx responses skipped before the final one, at most */
	bool head_request;    /* the request was HEAD: no body */
	struct origin_http1_timeouts tmo;

	unsigned n_interim;    /* 1xx responses skipped so far */
	bool in_body;          /* origin_http1_body_begin was called */
	enum h1_body body;     /* the final head's framing */
	bool keep_alive;       /* the connection may be used again after the body */
	uint64_t remaining;    /* H1_BODY_LENGTH: bytes still to come */
	struct h1_chunked dec; /* H1_BODY_CHUNKED */
};

/* Sets r up for one response (a new try on a connection starts again here);
 * tmo NULL: no timeouts. */
void origin_http1_init(struct origin_http1_reader *r, const struct h1_limits *lim,
    unsigned max_interim, bool head_request, const struct origin_http1_timeouts *tmo);

/*
 * The head from the start of in: OK with the final head in *resp (its views
 * point into in, valid until in is drained or read into; hdrs has
 * lim.max_headers entries); the head is NOT drained, so the caller may look
 * at it, then calls origin_http1_body_begin (or drains resp->head_len itself
 * when it reads no body).  Interim 1xx responses are drained and skipped,
 * at most max_interim of them (then E_INTERIM); a 101 is E_UPGRADE.  AGAIN:
 * the head is not complete (nothing consumed); E_MALFORMED: the bytes are no
 * response head or exceed lim, with the parser's reason in *h1st.
 */
enum origin_http1_status origin_http1_read_head(struct origin_http1_reader *r, struct evbuffer *in,
    struct h1_header *hdrs, struct h1_response *resp, enum h1_status *h1st);

/* The caller reads the body of the final head resp (what read_head gave):
 * its framing is kept, its head drained from in. */
void origin_http1_body_begin(
    struct origin_http1_reader *r, struct evbuffer *in, const struct h1_response *resp);

/* Receives body bytes (a view into in, valid during the call): true to go
 * on, false to stop reading. */
typedef bool origin_http1_body_cb(void *arg, const char *p, size_t n);

/*
 * Hands the body bytes in holds to on_body, as they come (decoded from
 * chunked; never beyond the Content-Length), draining what it took.  eof:
 * the origin closed the connection.  OK: the body is complete (a close-
 * delimited one at eof); AGAIN: more is to come; STOP: on_body returned
 * false (what it was given is drained); E_CHUNKED: bad chunked framing;
 * E_TRUNCATED: eof before the end of a framed body.
 */
enum origin_http1_status origin_http1_read_body(struct origin_http1_reader *r, struct evbuffer *in,
    bool eof, origin_http1_body_cb *on_body, void *arg);

/* After OK from read_body: may the connection carry another request? */
bool origin_http1_reusable(const struct origin_http1_reader *r);

/* The read and write timeouts of bev, in milliseconds (0: none). */
void origin_http1_set_timeouts(struct bufferevent *bev, unsigned read_ms, unsigned write_ms);
/* The read timeout of r's phase: tmo.first_byte_ms before the body,
 * tmo.between_bytes_ms in it. */
unsigned origin_http1_read_timeout_ms(const struct origin_http1_reader *r);
/* bev's timeouts for r's phase: that read timeout, tmo.send_ms for writes. */
void origin_http1_arm(const struct origin_http1_reader *r, struct bufferevent *bev);

#endif
