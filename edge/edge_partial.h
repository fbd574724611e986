/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_partial.h — stored parts of representations (RFC 9111 §3.3,
 * §3.4): a 206 the origin gave to a Range the node forwarded as the client
 * sent it (slices off, or an origin whose answer slices cannot use) is
 * stored as what it is, one part of the representation, under the URL key
 * tagged "#part" (purges of the URL reach it, as they reach slices).  A
 * later range request that misses the URL key and asks only bytes within
 * the part (single, multiple, suffix or open-ended ranges, resolved
 * against the length in its Content-Range) is answered from it, with If-Range
 * evaluated against its validators.
 *
 * A part that arrives while another is stored for the URL combines with it
 * when both have the same strong validator (an ETag, or a Last-Modified
 * when neither has one) and the same length, and they touch or overlap:
 * the newer bytes win, the newer head's fields are kept (§3.4).  A
 * combination that covers the whole representation is stored as the 200
 * it amounts to, under the URL key, and the part goes.  Anything else
 * replaces the stored part.  A GET of the whole object, while a part holding
 * its first bytes is stored, asks the origin for the rest only
 * (edge_forward_complete_part).  Worker thread only.
 */
#ifndef OUTPOST_EDGE_EDGE_PARTIAL_H
#define OUTPOST_EDGE_EDGE_PARTIAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/str.h"

struct cache;
struct cache_obj;
struct edge_req;
struct edge_worker;
struct h1_response;

/* The key of the URL key's stored part, written to out (outlen bytes); its
 * length, or -1 when it does not fit. */
int edge_partial_key(const char *key, size_t key_len, char *out, size_t outlen);
/* Is resp a 206 that may be stored as a part: one Content-Range "bytes
 * FIRST-LAST/LENGTH" that frames its body exactly (Content-Length), not
 * the whole representation (that one is stored whole)? */
bool edge_partial_response(const struct h1_response *resp);
/* A GET with a Range that missed its URL key: answered from the stored part
 * when every range it asks lies within it (or none is satisfiable: 416).
 * True when req is answered; false: the caller goes on as before. */
bool edge_partial_answer(struct edge_req *req);
/* A GET without Range that missed its URL key: the fresh stored part of its
 * object when it holds the first bytes (not all of them) and a strong
 * validator, as a new reference, with where it ends (*end: its length), the
 * object's length and the validator for If-Range (a view into the part);
 * else NULL. */
struct cache_obj *edge_partial_prefix(
    struct edge_req *req, uint64_t *end, uint64_t *length, struct str *validator);
/* Is resp, a 206, the rest of the part (from end on, of length bytes) with
 * the same strong validator (validator, the part's)? */
bool edge_partial_is_tail(
    const struct h1_response *resp, uint64_t end, uint64_t length, struct str validator);
/* Removes the part stored for the URL key key (key_len bytes).  Any thread. */
void edge_partial_invalidate(struct cache *cache, const char *key, size_t key_len, time_t now);
/* Stores o, a part built from a 206 (edge_partial_response), combined with
 * the part stored for its URL as the file comment says; max_bytes bounds a
 * combination (cache.max_object). */
void edge_partial_store(struct edge_worker *w, struct cache_obj *o, uint64_t max_bytes, time_t now);

#endif
