/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_deliver.h — delivery: a stored object to a request's transport
 * (edge_xport.h), with the request's preconditions and Range applied on the
 * way.  Worker thread only.
 */
#ifndef OUTPOST_EDGE_EDGE_DELIVER_H
#define OUTPOST_EDGE_EDGE_DELIVER_H

#include <stdbool.h>
#include <stdint.h>

struct cache_obj;
struct edge_req;

/* Answers req from the stored o (a reference is taken for the output): 200
 * with the body, or 304 / 412 per the request's preconditions, then 206 /
 * 416 per its Range (core/range.h), with X-Cache: HIT and "Cache-Status:
 * outpost; <cs>"; then the request is finished. */
void edge_deliver_stored(struct edge_req *req, struct cache_obj *o, const char *cs);
/* Sends the head of a response built from the stored o (edge_resp_stored:
 * its status line and fields, Age, Via, "X-Cache: xcache", "Cache-Status:
 * outpost; cs") framed by length (Content-Length, after Accept-Ranges when
 * accept_ranges), or, when length is -1, chunked (HTTP/1.1) or by closing
 * (HTTP/1.0); no framing for a 204.  Sets the request's status and cache
 * status; counts the bytes. */
void edge_deliver_stored_head(struct edge_req *req, struct cache_obj *o, const char *xcache,
    const char *cs, int64_t length, bool accept_ranges);

#endif
