/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_deliver.c — delivery: a stored object (from the RAM or the disk
 * tier) to a request's transport: 200 with the body by reference, or 304 /
 * 412 per the request's preconditions, then 206 / 416 per its Range (the
 * range cut, multipart included); and a fill in progress to the request
 * that reads it (edge_collapse.c): the stored head, then the body as the
 * fill grows, by reference (a reference on each chunk), never more than
 * DELIVER_FILL_OUT_HIGH queued: above it the request waits for its output
 * to drain to DELIVER_FILL_OUT_LOW (the writable callback delivers again),
 * so a slow client holds chunks, not copies, and never the fill itself.
 * Worker thread only.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "cache/cache.h"
#include "config/config.h"
#include "core/range.h"
#include "edge/edge_deliver.h"
#include "edge/edge_range.h"
#include "edge/edge_req.h"
#include "edge/edge_resp.h"
#include "edge/edge_route.h"
#include "edge/edge_worker.h"

#define DELIVER_FILL_OUT_HIGH (512 * 1024)
#define DELIVER_FILL_OUT_LOW  (128 * 1024)
/* Body bytes worth a file segment (its allocation and a sendfile call). */
#define DELIVER_FILE_MIN (16 * 1024)

void
edge_deliver_obj_release(const void *data, size_t len, void *arg)
{
	struct cache_obj *o = arg;

	(void)data;
	(void)len;
	cache_obj_unref(&o);
}

/* A file segment's cleanup: the reference edge_deliver_obj_release drops. */
static void
deliver_file_done(struct evbuffer_file_segment const *seg, int flags, void *arg)
{
	(void)seg;
	(void)flags;
	edge_deliver_obj_release(NULL, 0, arg);
}

/* len bytes of o's body at p, sent from the body's file by the kernel
 * (cache_obj_body_file) where the transport can: true; false: the caller
 * adds them by reference. */
static bool
deliver_body_file(struct edge_req *req, struct cache_obj *o, const char *p, size_t len)
{
	off_t off;
	int fd;

	if (len < DELIVER_FILE_MIN || req->xp->add_file == NULL ||
	    (fd = cache_obj_body_file(o, p, &off)) < 0)
		return false;
	if (req->xp->add_file(req, fd, off, len, deliver_file_done, cache_obj_ref(o)))
		return true;
	cache_obj_unref(&o); /* the reference taken for it (o stays the caller's) */
	return false;
}

/*
 * 304 from a stored response (RFC 9110 §15.4.5): the fields a 200 would have
 * carried that describe the representation's metadata, no body.
 */
void
edge_deliver_not_modified(struct edge_req *req, struct cache_obj *o, const char *cs)
{
	static const struct str keep[] = {
	    STR_LIT("Cache-Control"),
	    STR_LIT("Content-Location"),
	    STR_LIT("Date"),
	    STR_LIT("ETag"),
	    STR_LIT("Expires"),
	    STR_LIT("Vary"),
	    STR_LIT("Last-Modified"),
	};
	struct edge_resp r;
	struct str v;

	req->cache_status = "HIT";
	edge_resp_init(&r, req, 304);
	for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++)
		if (cache_obj_header(o, keep[i], &v) &&
		    (req->route == NULL || !edge_route_hdr_drops(&req->route->resp_hdrs, keep[i])))
			edge_resp_add(&r, keep[i], v);
	edge_resp_rules(&r, req);
	edge_resp_age_via(&r, req, o);
	edge_resp_cache_status(&r, "HIT", cs);
	(void)edge_resp_send(&r, req);
	EDGE_COUNT(&req->sess->w->metrics, cache_hits_total);
	edge_req_finish(req);
}

/* The status code of the stored head ("HTTP/1.1 404 Not Found"). */
static int
deliver_stored_status(const struct cache_obj *o)
{
	size_t len;
	const char *h = cache_obj_head(o, &len);

	if (len < 12 || h[8] != ' ')
		return 200;
	return (h[9] - '0') * 100 + (h[10] - '0') * 10 + (h[11] - '0');
}

/* Responses served from the cache say they take byte ranges (RFC 9110
 * §14.3), unless the stored response says so itself. */
static void
deliver_accept_ranges(struct edge_resp *r, const struct cache_obj *o)
{
	struct str v;

	if (!cache_obj_header(o, STR_LIT("Accept-Ranges"), &v))
		edge_resp_add(r, STR_LIT("Accept-Ranges"), STR_LIT("bytes"));
}

/* What the request's Range (and If-Range) asks of o's body of len bytes.
 * Only a stored 200 has a selected representation to take ranges of
 * (RFC 9110 §14.2); any other stored status (status) is served whole. */
static enum range_result
deliver_range(const struct edge_req *req, const struct cache_obj *o, int status, uint64_t len,
    struct range_set *rs)
{
	struct range_validators v = {STR_NULL, STR_NULL, STR_NULL};

	if (status != 200 ||
	    h1_header_find(req->h1.headers, req->h1.n_headers, STR_LIT("Range")) == NULL)
		return RANGE_IGNORE;
	(void)cache_obj_header(o, STR_LIT("ETag"), &v.etag);
	(void)cache_obj_header(o, STR_LIT("Last-Modified"), &v.last_modified);
	(void)cache_obj_header(o, STR_LIT("Date"), &v.date);
	return range_request(&req->h1, &v, len, rs);
}

/*
 * A Range answered from the stored o (RFC 9110 §14.2, §15.3.7, §15.5.17),
 * whose body holds the bytes from offset base of a representation of length
 * bytes (base 0 and the body's length for a whole one; every range of rs
 * lies within the body): 416 with a Content-Range of "*" and the length when
 * nothing is satisfiable; else 206 with the stored fields, and either one
 * slice of the body with Content-Range, or multipart/byteranges with a part
 * per range.  The slices are added by reference (no copy of the body).
 */
static void
deliver_serve_range(struct edge_req *req, struct cache_obj *o, const char *cs, enum range_result rr,
    const struct range_set *rs, uint64_t base, uint64_t length)
{
	struct evbuffer *out;
	size_t before;
	const char *body;
	size_t body_len;
	struct str ctype = STR_NULL;
	char boundary[EDGE_RANGE_BOUNDARY_LEN + 1];
	bool multipart = rs->n > 1;
	struct edge_resp r;

	req->cache_status = "HIT";
	EDGE_COUNT(&req->sess->w->metrics, cache_hits_total);
	EDGE_COUNT(&req->sess->w->metrics, range_answers_total);
	body = cache_obj_body(o, &body_len);
	if (rr == RANGE_UNSATISFIABLE) {
		edge_resp_own(&r, req, 416, "range not satisfiable\n", NULL, false);
		edge_resp_addf(
		    &r, STR_LIT("Content-Range"), "bytes */%llu", (unsigned long long)length);
		edge_resp_add(&r, STR_LIT("Accept-Ranges"), STR_LIT("bytes"));
		edge_resp_cache_status(&r, "HIT", cs);
		edge_req_send_own(req, &r);
		return;
	}
	(void)cache_obj_header(o, STR_LIT("Content-Type"), &ctype);
	edge_resp_stored(&r, req, o, 206, false, "HIT", cs);
	r.skip_ctype = multipart;
	deliver_accept_ranges(&r, o);
	if (multipart) {
		edge_range_boundary(boundary);
		edge_resp_addf(
		    &r, STR_LIT("Content-Type"), "multipart/byteranges; boundary=%s", boundary);
		edge_resp_add_u64(&r, STR_LIT("Content-Length"),
		    edge_range_multipart_length(boundary, ctype, rs, length));
	} else {
		edge_resp_addf(&r, STR_LIT("Content-Range"), "bytes %llu-%llu/%llu",
		    (unsigned long long)rs->r[0].first, (unsigned long long)rs->r[0].last,
		    (unsigned long long)length);
		edge_resp_add_u64(
		    &r, STR_LIT("Content-Length"), rs->r[0].last - rs->r[0].first + 1);
	}
	(void)edge_resp_send(&r, req);
	out = edge_req_body_out(req); /* framed by Content-Length */
	before = evbuffer_get_length(out);
	for (unsigned i = 0; i < rs->n; i++) {
		if (multipart)
			edge_range_part_head(out, boundary, ctype, &rs->r[i], length);
		const char *p = body + (rs->r[i].first - base);
		size_t n = (size_t)(rs->r[i].last - rs->r[i].first + 1);

		if (!deliver_body_file(req, o, p, n))
			evbuffer_add_reference(
			    out, p, n, edge_deliver_obj_release, cache_obj_ref(o));
	}
	if (multipart)
		edge_range_closing(out, boundary);
	req->bytes_out += evbuffer_get_length(out) - before;
	edge_req_finish(req);
}

bool
edge_deliver_preconditions(struct edge_req *req, struct cache_obj *o, const char *cs)
{
	struct edge_resp r;

	switch (cache_policy_conditional(&req->h1, o)) {
	case CACHE_COND_NOT_MODIFIED:
		edge_deliver_not_modified(req, o, cs);
		return true;
	case CACHE_COND_FAILED:
		req->cache_status = "HIT";
		EDGE_COUNT(&req->sess->w->metrics, cache_hits_total);
		edge_resp_own(&r, req, 412, NULL, NULL, false);
		edge_req_send_own(req, &r);
		return true;
	case CACHE_COND_NONE:
		break;
	}
	return false;
}

void
edge_deliver_part(struct edge_req *req, struct cache_obj *o, enum range_result rr,
    const struct range_set *rs, uint64_t first, uint64_t length)
{
	deliver_serve_range(req, o, "hit; detail=partial", rr, rs, first, length);
}

/* cs: the Cache-Status parameters (RFC 9211) after "outpost; ". */
void
edge_deliver_stored_head(struct edge_req *req, struct cache_obj *o, const char *xcache,
    const char *cs, int64_t length, bool accept_ranges)
{
	int status = deliver_stored_status(o);
	struct edge_resp r;

	req->cache_status = xcache;
	edge_resp_stored(&r, req, o, status, true, xcache, cs);
	if (status == 204) {
		/* RFC 9110 §8.6: no Content-Length on a 204 */
	} else if (length >= 0) {
		if (accept_ranges)
			deliver_accept_ranges(&r, o);
		edge_resp_add_u64(&r, STR_LIT("Content-Length"), (uint64_t)length);
	} else if (req->h1.minor >= 1) {
		r.framing = EDGE_RESP_FRAMING_CHUNKED;
	} else {
		req->sess->keep_alive = false;
		r.keep_alive = false;
		r.framing = EDGE_RESP_FRAMING_CLOSE;
	}
	(void)edge_resp_send(&r, req);
}

void
edge_deliver_stored(struct edge_req *req, struct cache_obj *o, const char *cs)
{
	const char *body;
	size_t body_len;
	int status = deliver_stored_status(o);
	struct range_set rs;
	enum range_result rr;

	/* RFC 9110 §13.2.1: preconditions only apply to a 2xx answer. */
	if (status / 100 == 2 && edge_deliver_preconditions(req, o, cs))
		return;
	body = cache_obj_body(o, &body_len);
	rr = deliver_range(req, o, status, body_len, &rs);
	if (rr != RANGE_IGNORE) {
		deliver_serve_range(req, o, cs, rr, &rs, 0, body_len);
		return;
	}
	edge_deliver_stored_head(req, o, "HIT", cs, (int64_t)body_len, true);
	if (!str_eq(req->h1.method, STR_LIT("HEAD")) && body_len > 0 && status != 204)
		req->bytes_out += deliver_body_file(req, o, body, body_len)
		                      ? body_len
		                      : edge_req_send_ref(req, body, body_len,
		                            edge_deliver_obj_release, cache_obj_ref(o));
	EDGE_COUNT(&req->sess->w->metrics, cache_hits_total);
	edge_req_finish(req);
}

/* ---- a fill in progress ---- */

static void
deliver_chunk_release(const void *data, size_t len, void *ref)
{
	(void)data;
	(void)len;
	cache_fill_chunk_release(ref);
}

/* The response head for a waiter: the stored head of the fill's object, with
 * Content-Length when the origin announced one, else chunked (HTTP/1.1) or
 * delimited by closing (HTTP/1.0). */
static void
deliver_fill_head(struct edge_req *req)
{
	int64_t len = cache_fill_length(req->cf);

	if (len < 0 && req->h1.minor < 1)
		req->sess->keep_alive = false; /* delimited by closing */
	edge_deliver_stored_head(
	    req, cache_fill_obj(req->cf), "MISS", "fwd=miss; collapsed", len, false);
	req->cf_head_sent = true;
}

enum edge_deliver_fill
edge_deliver_fill(struct edge_req *req)
{
	enum cache_fill_state st;
	const char *p;
	size_t len;
	void *ref;

	st = cache_fill_state(req->cf);
	if (!req->cf_head_sent) {
		if (st == CACHE_FILL_S_WAIT)
			return EDGE_DELIVER_FILL_MORE;
		/* the fill's response varies on fields this request sends other
		 * values of: not the variant it selects (RFC 9111 §4.1) */
		if (st == CACHE_FILL_S_PASS || st == CACHE_FILL_S_FAILED ||
		    !cache_vary_selects(&req->h1, cache_fill_obj(req->cf)))
			return EDGE_DELIVER_FILL_ALONE;
		deliver_fill_head(req);
	}
	while (edge_req_queued(req) <= DELIVER_FILL_OUT_HIGH &&
	       cache_fill_read(&req->cf_rd, &p, &len, &ref))
		req->bytes_out += edge_req_send_ref(req, p, len, deliver_chunk_release, ref);
	if (edge_req_queued(req) > DELIVER_FILL_OUT_HIGH) {
		edge_req_want_writable(req, DELIVER_FILL_OUT_LOW);
		return EDGE_DELIVER_FILL_MORE;
	}
	if (st == CACHE_FILL_S_DONE) {
		req->bytes_out += edge_req_send_end(req);
		edge_req_want_writable(req, 0);
		return EDGE_DELIVER_FILL_DONE;
	}
	return st == CACHE_FILL_S_FAILED ? EDGE_DELIVER_FILL_FAILED : EDGE_DELIVER_FILL_MORE;
}
