/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * core/range.h — byte ranges (RFC 9110 §14): the Range request field, If-Range
 * and the ranges a response to them carries.  Pure functions over views; no
 * allocation, any thread.
 *
 * Policy (a server MAY ignore Range, §14.2):
 *   - only the "bytes" unit (case-insensitive); other units, a syntax error
 *     anywhere in the field, a second Range field line, more than RANGE_MAX
 *     range-specs, or a zero-length representation: the Range is ignored and
 *     the whole representation is served (200);
 *   - ranges that are not satisfiable (§14.1.1: first-pos at or past the
 *     length, a zero suffix-length) are dropped; none left: 416;
 *   - when any two satisfiable ranges overlap or touch, all of them are
 *     sorted and merged (§14.2 allows coalescing regardless of order), so a
 *     multipart answer never repeats a byte; otherwise the request's order
 *     is kept.
 */
#ifndef OUTPOST_CORE_RANGE_H
#define OUTPOST_CORE_RANGE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/h1.h"
#include "core/str.h"

#define RANGE_MAX 16 /* range-specs accepted in one Range field */

struct range {
	uint64_t first; /* inclusive offsets in the representation */
	uint64_t last;
};

struct range_set {
	unsigned n;
	struct range r[RANGE_MAX];
};

enum range_result {
	RANGE_IGNORE = 0,    /* serve the whole representation (200) */
	RANGE_SATISFIABLE,   /* 206 with the ranges in the set */
	RANGE_UNSATISFIABLE, /* 416, Content-Range with "*" and the length */
};

/*
 * Applies one Range field value to a representation of `length` bytes.
 * RANGE_SATISFIABLE fills out with 1..RANGE_MAX ranges, each within
 * [0, length).  Never reads outside value.
 */
enum range_result range_parse(struct str value, uint64_t length, struct range_set *out);

/* True when each range of s starts after the previous one ended (the ranges
 * can be cut from the body in one pass as it streams). */
bool range_ascending(const struct range_set *s);

/* The selected representation's validators for If-Range; a field that is
 * absent has p == NULL. */
struct range_validators {
	struct str etag;
	struct str last_modified;
	struct str date; /* of the response, to tell a strong Last-Modified */
};

/*
 * If-Range (RFC 9110 §13.1.5): true if the condition holds — an entity-tag
 * that matches the ETag by strong comparison (a weak tag on either side never
 * does), or an HTTP-date equal to Last-Modified when that Last-Modified is
 * strong (§8.8.2.2: at least one second before Date).  Anything else,
 * including an invalid value, is false (send the whole representation).
 */
bool range_if_range(struct str if_range, const struct range_validators *v);

/*
 * What a request asks of a representation of `length` bytes with validators
 * v: RANGE_IGNORE unless the method is GET and the request has exactly one
 * Range field whose If-Range (if any) holds; else range_parse.  Any thread.
 */
enum range_result range_request(const struct h1_request *req, const struct range_validators *v,
    uint64_t length, struct range_set *out);

/*
 * A Content-Range field value of a 206 (RFC 9110 §14.4): "bytes
 * FIRST-LAST/LENGTH" (the unit case-insensitive, optional whitespace around
 * the value), with FIRST <= LAST < LENGTH.  True with the three numbers; false
 * for anything else (an unsatisfied-range "*", an unknown length "*", other
 * units, signs, spaces inside, overflow).  Never reads outside v.
 */
bool range_content_range(struct str v, uint64_t *first, uint64_t *last, uint64_t *length);

#endif
