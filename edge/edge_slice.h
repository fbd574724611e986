/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_slice.h — large objects as slices (cache.slice): a range
 * request, or a GET of an object already stored as slices, that misses the
 * URL key is answered from fixed-size slices of the representation, each its
 * own cache entry (RAM and disk tiers, evicted on its own) under the URL key
 * and the slice's place.
 *
 * Each slice a request needs is, in order: the stored slice; or the fill of
 * its key (edge_collapse.h: one origin request per slice however many
 * clients ask), whose leader is a fetch of the node's own (edge_fetch.h,
 * NORMAL) that asks the origin for "Range: bytes=S*k-(S*k + S - 1)" with
 * If-Range (the validator of the slices already used), stores the 206 as
 * the slice and ends the fill; it runs on when the client leaves.  A 206
 * that holds the whole representation (an object no bigger than a slice)
 * is stored whole under the URL key instead, as the 200 it amounts to.
 *
 * A slice records the representation's length and validators in its stored
 * head (the 206's Content-Range, ETag, Last-Modified).  The response head
 * (200, 206 or multipart 206, 416) is sent once the first slice is known;
 * every later slice must carry the same length and validators: an origin
 * that changed the object under the set (a 200 to If-Range, other
 * validators) invalidates the slices stored for the URL, and a response
 * whose head is out is cut (the connection closes) rather than finished
 * with bytes of another representation.  An origin that does not answer
 * the slice's range with a 206 (or a response that may not be stored)
 * leaves the request to the ordinary forward path (edge_forward.h), as long
 * as no byte was sent.  Worker thread only.
 */
#ifndef OUTPOST_EDGE_EDGE_SLICE_H
#define OUTPOST_EDGE_EDGE_SLICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct edge_req;
struct edge_worker;

/* The key of slice index of the URL key key (key_len bytes) for slices of
 * size bytes, written to out (outlen bytes); its length, or -1 when it does
 * not fit. */
int edge_slice_key(
    const char *key, size_t key_len, uint64_t size, uint64_t index, char *out, size_t outlen);
/* A GET that missed its URL key (no stored entry at all): answered from
 * slices when cache.slice is on and it is a range request, or the object is
 * stored as slices.  True when req is taken (answered, or being answered);
 * false: the caller goes on as before. */
bool edge_slice_begin(struct edge_req *req);
/* May slices answer req: cache.slice on, a GET without a body, credentials
 * or preconditions other than If-Range? */
bool edge_slice_eligible(const struct edge_req *req);
/* Slices answer req (eligible, its URL key missed; the forward path found
 * the object too big to store whole). */
void edge_slice_start(struct edge_req *req);
/* Sends what req's slices have for it now (the fill woke it, or its output
 * drained). */
void edge_slice_pump(struct edge_req *req);
/* The largest object kept as slices (its whole length): cache.disk.max_object,
 * else the disk tier's size, else no bound. */
uint64_t edge_slice_object_max(const struct config *cfg);
/* Removes the slices stored for the URL key url (url_len bytes) of slices
 * of size bytes, as many as its first slice says the object has (RFC 9111
 * §4.4: after an unsafe method's success).  Worker thread. */
void edge_slice_invalidate_url(
    struct edge_worker *w, uint64_t size, const char *url, size_t url_len);
/* Lets go of what req's slice answer holds (its end, reset, abort). */
void edge_slice_end(struct edge_req *req);

#endif
