/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_range.h — byte-range responses (RFC 9110 §14.3, §14.4, §14.6,
 * §15.3.7, §15.5.17): the fields and multipart/byteranges framing of a 206,
 * and the cutter that streams the requested ranges out of a whole body
 * fetched from the origin (a range request on a miss fills the cache with the
 * whole object and the client gets only its ranges, as the bytes arrive).
 *
 * Parsing and the decision (200 / 206 / 416) are core/range.h.  Multipart
 * bodies start with CRLF before the first delimiter (an empty preamble,
 * RFC 2046 §5.1.1); each part carries the representation's Content-Type (if
 * any) and its Content-Range.  Worker thread; no shared state.
 */
#ifndef OUTPOST_EDGE_EDGE_RANGE_H
#define OUTPOST_EDGE_EDGE_RANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/range.h"
#include "core/str.h"
#include "edge/edge_resp.h"

struct evbuffer;

#define EDGE_RANGE_BOUNDARY_LEN 24

/* A fresh random boundary (hex digits), NUL-terminated. */
void edge_range_boundary(char out[EDGE_RANGE_BOUNDARY_LEN + 1]);

/* The head of part r in a multipart/byteranges body of a representation of
 * `length` bytes: CRLF "--" boundary CRLF, Content-Type (when ctype is not
 * empty), Content-Range, CRLF.  Appended to out when out is not NULL;
 * returns its length either way. */
size_t edge_range_part_head(struct evbuffer *out, const char *boundary, struct str ctype,
    const struct range *r, uint64_t length);
/* The closing delimiter (CRLF "--" boundary "--" CRLF), appended to out when
 * not NULL; returns its length. */
size_t edge_range_closing(struct evbuffer *out, const char *boundary);
/* Body length of a multipart/byteranges answer for s. */
uint64_t edge_range_multipart_length(
    const char *boundary, struct str ctype, const struct range_set *s, uint64_t length);

/*
 * The cutter: what the client gets of a whole body streamed from the origin.
 * Zero-initialized means inactive.
 */
struct edge_range_cut {
	bool active;
	int status; /* 206 or 416 */
	bool multipart;
	struct range_set set;
	uint64_t length;   /* of the whole representation */
	uint64_t body_len; /* bytes the client gets */
	uint64_t pos;      /* offset in the whole body reached so far */
	unsigned idx;      /* the range being cut */
	char boundary[EDGE_RANGE_BOUNDARY_LEN + 1];
	struct evbuffer *framing;   /* what goes out between the ranges: part
	                               heads, the closing delimiter, or a 416's
	                               text; owned */
	size_t head_len[RANGE_MAX]; /* of each part head in framing */
};

/*
 * Starts cutting for the result rr (RANGE_SATISFIABLE or
 * RANGE_UNSATISFIABLE) of a request against a whole body of `length` bytes
 * whose Content-Type is ctype (copied as needed).  Multiple ranges must be
 * ascending (range_ascending).
 */
void edge_range_cut_start(struct edge_range_cut *k, enum range_result rr, const struct range_set *s,
    uint64_t length, struct str ctype);
/* Should the origin's field called name be left out of the client's head
 * (Content-Type of a multipart or 416 answer)? */
bool edge_range_cut_skips(const struct edge_range_cut *k, struct str name);
/* The client's Content-Type (multipart, 416), Content-Range and
 * Content-Length fields for a response object: at most
 * EDGE_RANGE_FIELDS_MAX of them in f, their values formatted into buf
 * (EDGE_RANGE_FIELDS_BUF + 24 bytes).  Returns how many. */
#define EDGE_RANGE_FIELDS_MAX 3
#define EDGE_RANGE_FIELDS_BUF (80 + EDGE_RANGE_BOUNDARY_LEN)
unsigned edge_range_cut_fields(
    const struct edge_range_cut *k, struct edge_resp_field *f, char *buf);
/*
 * The next n bytes of the whole body are at the front of in: moves those
 * the client wants (with the framing due before and after them) to out and
 * drains the others.  in may be NULL when n is 0 (flushes framing due now,
 * e.g. a 416's text right after the head).  Returns the bytes added to out.
 */
uint64_t edge_range_cut_feed(
    struct edge_range_cut *k, struct evbuffer *in, struct evbuffer *out, size_t n);
/* Releases the framing; the cutter becomes inactive.  Idempotent. */
void edge_range_cut_end(struct edge_range_cut *k);

#endif
