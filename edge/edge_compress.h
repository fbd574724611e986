/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_compress.h — content codings at the edge (doc/compression.md):
 * the one door between an origin's answer and core/coding.h.
 *
 * On the final head of a request's fetch, edge_compress_head decides with
 * the route's settings and the client's Accept-Encoding what the client and
 * the cache get: the body as it is, the body compressed as it streams (a
 * compressible identity answer for a client that accepts a coding), or
 * decoded (a coding the origin chose that the client does not accept).  It
 * rewrites the head for that (Content-Encoding, Content-Length, a weak ETag,
 * Vary merged with Accept-Encoding) and returns the filter the fetch runs
 * over the body (edge_fetch_filter), so what is stored is the coded form,
 * under the variant key the client's Accept-Encoding selects: a later hit
 * costs no coding work.  Worker thread; a filter belongs to one fetch.
 */
#ifndef OUTPOST_EDGE_EDGE_COMPRESS_H
#define OUTPOST_EDGE_EDGE_COMPRESS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/coding.h"
#include "core/h1.h"

struct cache_obj;
struct edge_metrics;
struct evbuffer;
struct edge_compress; /* a body filter: one encoder or decoder */

/*
 * The final head resp of an answer to req (head_method: a HEAD), for a
 * route with settings conf; max_out caps a decoded body (cache.max_object).
 * Rewrites resp when the answer depends on Accept-Encoding: its headers
 * then point into a per-thread scratch array valid until the next call on
 * the thread (the caller uses them during on_head only), and resp->body is
 * H1_BODY_CHUNKED (length unknown) when the body is coded here.  Returns a
 * new filter the caller hands to the fetch, or NULL when the body goes as
 * it is (whether or not the head changed).  Counts on m.
 */
struct edge_compress *edge_compress_head(const struct coding_conf *conf,
    const struct h1_request *req, bool head_method, uint64_t max_out, struct h1_response *resp,
    struct edge_metrics *m);

/*
 * A 304 to the validators of stale, a stored variant coded by the node (its
 * ETag W/"x", made from the origin's "x"; a Content-Encoding), that carries
 * the origin's strong "x": the 304 names the representation the variant
 * was coded from (RFC 9110 §8.8.3), so its ETag view is pointed at the
 * variant's own tag: it then selects the variant for update (RFC 9111
 * §4.3.4) and the update keeps the tag weak, instead of the object being
 * fetched and coded again.  Views into stale: valid while it is held.
 */
void edge_compress_304(const struct cache_obj *stale, struct h1_response *resp);

/* Runs the n bytes at the front of in (drained) through z; output is
 * appended to out.  0, or a negative CODING_E_* (a corrupt coded body, a
 * decoder limit: the body is to be cut), counted and logged. */
int edge_compress_feed(
    struct edge_compress *z, struct evbuffer *in, size_t n, struct evbuffer *out);
/* Encoder: everything fed so far, decodable, to out (the origin paused). */
int edge_compress_flush(struct edge_compress *z, struct evbuffer *out);
/* The body ended: the trailer (encoder) or the end check (decoder). */
int edge_compress_finish(struct edge_compress *z, struct evbuffer *out);
/* Frees; sets *zp = NULL; NULL-safe. */
void edge_compress_free(struct edge_compress **zp);

#endif
