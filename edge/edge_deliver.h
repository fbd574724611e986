/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_deliver.h — delivery: a stored object, or a cache fill in
 * progress, to a request's transport (edge_xport.h), with the request's
 * preconditions and Range applied on the way to a stored one.  Worker
 * thread only.
 */
#ifndef OUTPOST_EDGE_EDGE_DELIVER_H
#define OUTPOST_EDGE_EDGE_DELIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/range.h"

struct cache_obj;
struct edge_req;

/* Answers req from the stored o (a reference is taken for the output): 200
 * with the body, or 304 / 412 per the request's preconditions, then 206 /
 * 416 per its Range (core/range.h), with X-Cache: HIT and "Cache-Status:
 * outpost; <cs>"; then the request is finished. */
void edge_deliver_stored(struct edge_req *req, struct cache_obj *o, const char *cs);
/* 304 from the stored o (RFC 9110 §15.4.5): the fields a 200 would have
 * carried that describe the representation, no body; the request is
 * finished. */
void edge_deliver_not_modified(struct edge_req *req, struct cache_obj *o, const char *cs);
/* The request's preconditions (RFC 9110 §13.2) evaluated against the
 * stored 2xx o: answered with 304 or 412 (true, the request is finished),
 * or none applies (false). */
bool edge_deliver_preconditions(struct edge_req *req, struct cache_obj *o, const char *cs);
/* A Range answered from o, a stored part of a representation of length
 * bytes whose body holds the bytes from offset first: 206 (multipart for
 * several ranges, every one within the body) or 416 (rr), by reference. */
void edge_deliver_part(struct edge_req *req, struct cache_obj *o, enum range_result rr,
    const struct range_set *rs, uint64_t first, uint64_t length);
/* Drops the object reference arg when the bytes of a stored object sent by
 * reference are gone (an evbuffer cleanup and edge_xport release callback). */
void edge_deliver_obj_release(const void *data, size_t len, void *arg);
/* Sends the head of a response built from the stored o (edge_resp_stored:
 * its status line and fields, Age, Via, "X-Cache: xcache", "Cache-Status:
 * outpost; cs") framed by length (Content-Length, after Accept-Ranges when
 * accept_ranges), or, when length is -1, chunked (HTTP/1.1) or by closing
 * (HTTP/1.0); no framing for a 204.  Sets the request's status and cache
 * status; counts the bytes. */
void edge_deliver_stored_head(struct edge_req *req, struct cache_obj *o, const char *xcache,
    const char *cs, int64_t length, bool accept_ranges);

/* What edge_deliver_fill left to its caller (edge_collapse.c). */
enum edge_deliver_fill {
	EDGE_DELIVER_FILL_MORE,   /* more later: the fill grows, or the output drains */
	EDGE_DELIVER_FILL_ALONE,  /* the fill will not serve the request (not
	                             storable, failed before its head, another
	                             variant): nothing was sent */
	EDGE_DELIVER_FILL_DONE,   /* the body is complete in the output, ended */
	EDGE_DELIVER_FILL_FAILED, /* the head is out, the body cannot be completed */
};

/* Sends what req's fill (req->cf, read at req->cf_rd) has that req did not
 * send: the head first (the stored head of the fill's object, framed by the
 * origin's Content-Length, else chunked, or by closing to an HTTP/1.0
 * client), then the body by reference, bounded by the output's high mark
 * (the writable callback is asked for).  Says what is left to do. */
enum edge_deliver_fill edge_deliver_fill(struct edge_req *req);

#endif
