/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_partial.c — stored parts of representations (see
 * edge_partial.h for the model).
 *
 * A part is stored as a 200 head that keeps the origin's Content-Range (as a
 * slice is): its range and the representation's length come from that field,
 * and its body is exactly that range.  A combination is built in a new
 * object (parts are no bigger than cache.max_object, and combine once per
 * origin answer): the older part's bytes before the newer one, the newer
 * one's, then the older part's bytes after it.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"
#include "config/config.h"
#include "core/h1.h"
#include "core/range.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "edge/edge_deliver.h"
#include "edge/edge_partial.h"
#include "edge/edge_req.h"
#include "edge/edge_worker.h"

#define PART_TAG     "#part"
#define PART_TAG_LEN (sizeof PART_TAG - 1)
#define PART_CS      "hit; detail=partial"

int
edge_partial_key(const char *key, size_t key_len, char *out, size_t outlen)
{
	if (key_len + PART_TAG_LEN + 1 > outlen)
		return -1;
	memcpy(out, key, key_len);
	memcpy(out + key_len, PART_TAG, PART_TAG_LEN + 1);
	return (int)(key_len + PART_TAG_LEN);
}

/* The one Content-Range field of the fields hdrs (n of them), or NULL. */
static const struct h1_header *
partial_content_range(const struct h1_header *hdrs, size_t n)
{
	const struct h1_header *h = NULL;

	for (size_t i = 0; i < n; i++) {
		if (!str_eq_nocase(hdrs[i].name, STR_LIT("Content-Range")))
			continue;
		if (h != NULL)
			return NULL;
		h = &hdrs[i];
	}
	return h;
}

bool
edge_partial_response(const struct h1_response *resp)
{
	const struct h1_header *h;
	uint64_t first, last, length;

	if (resp->status != 206 || resp->body != H1_BODY_LENGTH ||
	    h1_header_find(resp->headers, resp->n_headers, STR_LIT("Vary")) != NULL)
		return false;
	h = partial_content_range(resp->headers, resp->n_headers);
	return h != NULL && range_content_range(h->value, &first, &last, &length) &&
	       last - first + 1 == resp->content_length && !(first == 0 && last + 1 == length);
}

/* Where the stored part o lies: [*first, *last] of *length bytes. */
static bool
partial_extent(const struct cache_obj *o, uint64_t *first, uint64_t *last, uint64_t *length)
{
	struct str cr;
	size_t body_len;

	(void)cache_obj_body(o, &body_len);
	return cache_obj_header(o, STR_LIT("Content-Range"), &cr) &&
	       range_content_range(cr, first, last, length) && *last - *first + 1 == body_len;
}

/* Does every range of rs lie within [first, last]? */
static bool
partial_covers(const struct range_set *rs, uint64_t first, uint64_t last)
{
	for (unsigned i = 0; i < rs->n; i++)
		if (rs->r[i].first < first || rs->r[i].last > last)
			return false;
	return true;
}

/* The fresh stored part of req's object (a GET without a body), a new
 * reference, with where it lies; or NULL. */
static struct cache_obj *
partial_lookup(
    struct edge_req *req, uint64_t *first, uint64_t *last, uint64_t *length, bool *from_disk)
{
	const struct h1_request *r = &req->h1;
	char key[CACHE_KEY_MAX + PART_TAG_LEN + 1];
	struct cache_obj *o = NULL;
	time_t now = time_now();
	int len;

	if (!str_eq(r->method, STR_LIT("GET")) || req->key_len < 0 || r->body != H1_BODY_NONE)
		return NULL;
	len = edge_partial_key(req->key, (size_t)req->key_len, key, sizeof key);
	if (len < 0 ||
	    cache_lookup(req->sess->w->srv->cache, r, key, (size_t)len, now, &o, from_disk) != 0)
		return NULL;
	if (cache_policy_usable(r, o, now) != CACHE_USE_FRESH ||
	    !partial_extent(o, first, last, length))
		cache_obj_unref(&o);
	return o;
}

bool
edge_partial_answer(struct edge_req *req)
{
	const struct h1_request *r = &req->h1;
	struct edge_worker *w = req->sess->w;
	struct range_validators v = {STR_NULL, STR_NULL, STR_NULL};
	struct cache_obj *o;
	struct range_set rs;
	enum range_result rr;
	uint64_t first, last, length;
	bool from_disk;

	if (h1_header_find(r->headers, r->n_headers, STR_LIT("Range")) == NULL ||
	    (o = partial_lookup(req, &first, &last, &length, &from_disk)) == NULL)
		return false;
	(void)cache_obj_header(o, STR_LIT("ETag"), &v.etag);
	(void)cache_obj_header(o, STR_LIT("Last-Modified"), &v.last_modified);
	(void)cache_obj_header(o, STR_LIT("Date"), &v.date);
	rr = range_request(r, &v, length, &rs);
	/* the whole representation asked (no usable Range, or If-Range
	 * failed), or bytes the part lacks: the origin's */
	if (rr == RANGE_IGNORE || (rr == RANGE_SATISFIABLE && !partial_covers(&rs, first, last))) {
		cache_obj_unref(&o);
		return false;
	}
	if (from_disk) {
		EDGE_COUNT(&w->metrics, cache_disk_hits_total);
		req->disk_hit = true;
	}
	EDGE_COUNT(&w->metrics, partial_hits_total);
	/* RFC 9110 §13.2.2: preconditions before Range */
	if (!edge_deliver_preconditions(req, o, PART_CS))
		edge_deliver_part(req, o, rr, &rs, first, length);
	cache_obj_unref(&o);
	return true;
}

/* The strong validator among a response's fields (etag, lm: present or
 * not) for If-Range and for combining parts (RFC 9111 §3.4): its ETag when
 * strong, its Last-Modified when it has no ETag; or an empty view. */
static struct str
partial_pick_validator(bool has_etag, struct str etag, bool has_lm, struct str lm)
{
	if (has_etag) {
		etag = str_trim_ows(etag);
		return etag.len >= 2 && etag.p[0] == '"' ? etag : STR_NULL;
	}
	return has_lm ? str_trim_ows(lm) : STR_NULL;
}

/* The stored part o's strong validator (partial_pick_validator). */
static struct str
partial_validator(const struct cache_obj *o)
{
	struct str e = STR_NULL, m = STR_NULL;
	bool he = cache_obj_header(o, STR_LIT("ETag"), &e);
	bool hm = cache_obj_header(o, STR_LIT("Last-Modified"), &m);

	return partial_pick_validator(he, e, hm, m);
}

struct cache_obj *
edge_partial_prefix(struct edge_req *req, uint64_t *end, uint64_t *length, struct str *validator)
{
	const struct h1_request *r = &req->h1;
	struct cache_obj *o;
	uint64_t first, last;
	bool from_disk;

	if (h1_header_find(r->headers, r->n_headers, STR_LIT("Range")) != NULL ||
	    (o = partial_lookup(req, &first, &last, length, &from_disk)) == NULL)
		return NULL;
	if (first != 0 || (*validator = partial_validator(o)).len == 0) {
		cache_obj_unref(&o);
		return NULL;
	}
	*end = last + 1;
	return o;
}

bool
edge_partial_is_tail(
    const struct h1_response *resp, uint64_t end, uint64_t length, struct str validator)
{
	const struct h1_header *h, *e, *m;
	uint64_t first, last, len;
	struct str v;

	if (!edge_partial_response(resp))
		return false;
	h = partial_content_range(resp->headers, resp->n_headers);
	if (h == NULL || !range_content_range(h->value, &first, &last, &len) || first != end ||
	    last + 1 != length || len != length)
		return false;
	e = h1_header_find(resp->headers, resp->n_headers, STR_LIT("ETag"));
	m = h1_header_find(resp->headers, resp->n_headers, STR_LIT("Last-Modified"));
	v = partial_pick_validator(
	    e != NULL, e != NULL ? e->value : STR_NULL, m != NULL, m != NULL ? m->value : STR_NULL);
	return v.len > 0 && str_eq(v, validator);
}

/* Do the parts a and b carry the same strong validator (RFC 9111 §3.4)? */
static bool
partial_same(const struct cache_obj *a, const struct cache_obj *b)
{
	struct str va = partial_validator(a);

	return va.len > 0 && str_eq(va, partial_validator(b));
}

/* The head of o without its Content-Range, then "Content-Range: bytes
 * first-last/length" unless that is the whole representation, written to out
 * (outlen bytes); its length, or 0 when it does not fit. */
static size_t
partial_head(const struct cache_obj *o, uint64_t first, uint64_t last, uint64_t length, char *out,
    size_t outlen)
{
	size_t head_len, n = 0;
	const char *head = cache_obj_head(o, &head_len);
	const char *p = head, *end = head + head_len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t line = nl != NULL ? (size_t)(nl + 1 - p) : (size_t)(end - p);

		if (!(line > 14 && str_eq_nocase(str_make(p, 14), STR_LIT("Content-Range:")))) {
			if (n + line > outlen)
				return 0;
			memcpy(out + n, p, line);
			n += line;
		}
		p += line;
	}
	if (first == 0 && last + 1 == length)
		return n;
	int w = snprintf(out + n, outlen - n, "Content-Range: bytes %llu-%llu/%llu\r\n",
	    (unsigned long long)first, (unsigned long long)last, (unsigned long long)length);
	return w < 0 || (size_t)w >= outlen - n ? 0 : n + (size_t)w;
}

/* Appends the bytes [from, to) of the part o, which starts at first. */
static int
partial_append(struct cache_obj *c, const struct cache_obj *o, uint64_t first, uint64_t from,
    uint64_t to, uint64_t max_bytes)
{
	size_t body_len;
	const char *body = cache_obj_body(o, &body_len);

	if (from >= to)
		return 0;
	return cache_obj_append(c, body + (from - first), (size_t)(to - from), max_bytes);
}

/* The combination of the stored part old, [f1, l1], and the newer part o,
 * [f2, l2], of length bytes (they touch or overlap); NULL when it would be
 * over max_bytes or on allocation failure.  *whole: it is the whole
 * representation, keyed by the URL key. */
static struct cache_obj *
partial_combine(const struct cache_obj *old, const struct cache_obj *o, uint64_t f1, uint64_t l1,
    uint64_t f2, uint64_t l2, uint64_t length, uint64_t max_bytes, bool *whole)
{
	uint64_t first = f1 < f2 ? f1 : f2, last = l1 > l2 ? l1 : l2;
	size_t key_len, head_len, cap;
	const char *key = cache_obj_key(o, &key_len);
	struct cache_obj *c;
	char *head;

	if (last - first + 1 > max_bytes || key_len < PART_TAG_LEN)
		return NULL;
	*whole = first == 0 && last + 1 == length;
	(void)cache_obj_head(o, &head_len);
	cap = head_len + 96;
	if ((head = malloc(cap)) == NULL)
		return NULL;
	head_len = partial_head(o, first, last, length, head, cap);
	c = head_len == 0 ? NULL
	                  : cache_obj_new_like(o, key, *whole ? key_len - PART_TAG_LEN : key_len,
	                        head, head_len, last - first + 1);
	free(head);
	if (c == NULL)
		return NULL;
	if (partial_append(c, old, f1, first, f2, max_bytes) != 0 ||
	    partial_append(c, o, f2, f2, l2 + 1, max_bytes) != 0 ||
	    partial_append(c, old, f1, l2 + 1, last + 1, max_bytes) != 0) {
		cache_obj_unref(&c);
		return NULL;
	}
	cache_obj_body_done(c);
	return c;
}

void
edge_partial_invalidate(struct cache *cache, const char *key, size_t key_len, time_t now)
{
	char part[CACHE_KEY_MAX + PART_TAG_LEN + 1];
	int n = edge_partial_key(key, key_len, part, sizeof part);

	if (n > 0)
		(void)cache_invalidate(cache, part, (size_t)n, now);
}

void
edge_partial_store(struct edge_worker *w, struct cache_obj *o, uint64_t max_bytes, time_t now)
{
	struct cache *cache = w->srv->cache;
	struct h1_request get = {0};
	struct cache_obj *old = NULL, *c = NULL;
	uint64_t f1, l1, n1, f2, l2, n2;
	size_t key_len;
	const char *key = cache_obj_key(o, &key_len);
	bool from_disk, whole = false;

	get.method = STR_LIT("GET");
	get.minor = 1;
	if (partial_extent(o, &f2, &l2, &n2) &&
	    cache_lookup(cache, &get, key, key_len, now, &old, &from_disk) == 0 &&
	    cache_obj_fresh(old, now) && partial_extent(old, &f1, &l1, &n1) && n1 == n2 &&
	    f1 <= l2 + 1 && f2 <= l1 + 1 && partial_same(old, o))
		c = partial_combine(old, o, f1, l1, f2, l2, n2, max_bytes, &whole);
	cache_obj_unref(&old);
	if (c == NULL) {
		cache_store(cache, o, now);
	} else {
		cache_store(cache, c, now);
		cache_obj_unref(&c);
		if (whole) /* the part is the whole object now: it goes */
			(void)cache_invalidate(cache, key, key_len, now);
		EDGE_COUNT(&w->metrics, partial_combines_total);
	}
	/* counted once stored: a test that waits on it finds the part */
	EDGE_COUNT(&w->metrics, partial_stores_total);
}
