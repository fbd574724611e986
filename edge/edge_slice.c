/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_slice.c — answers from slices (see edge_slice.h for the model).
 *
 * A request answered from slices holds a struct edge_slice (req->slice):
 * what it knows of the representation (length, validators, type: from the
 * first slice it used), the ranges it answers, where it is in them, and its
 * current source: a stored slice (obj), or the fill of a slice (req->cf,
 * read as a collapsed waiter reads, the worker's wake-ups pumping it).  A
 * fill chunk the response needs only part of, while a later range still
 * needs the rest, is copied; every other byte goes by reference.
 *
 * The fetch of a slice (struct slice_fetch) is the fill's leader, with no
 * request behind it: its request head is written once, when it starts, and
 * it ends with the fetch.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "cache/cache.h"
#include "config/config.h"
#include "core/assert.h"
#include "core/h1.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "core/range.h"
#include "core/timeutil.h"
#include "edge/edge_collapse.h"
#include "edge/edge_deliver.h"
#include "edge/edge_fetch.h"
#include "edge/edge_forward.h"
#include "edge/edge_range.h"
#include "edge/edge_req.h"
#include "edge/edge_resp.h"
#include "edge/edge_slice.h"
#include "edge/edge_worker.h"
#include "origin/origin_sibling.h"

#define SLICE_OUT_HIGH      (512 * 1024)
#define SLICE_OUT_LOW       (128 * 1024)
#define SLICE_VALIDATOR_MAX 192
#define SLICE_SUFFIX_MAX    48 /* "#slice=" and two numbers */

/* Where a slice answer is. */
struct edge_slice {
	uint64_t size;   /* cache.slice.size when it began */
	uint64_t length; /* of the representation, once known */
	bool known;      /* length and validators come from a first slice */
	bool head_sent;  /* the response head is out */
	bool hit;        /* every slice so far was stored */
	bool multipart;  /* several ranges */
	struct range_set rs;
	unsigned ri;    /* the range being sent */
	uint64_t pos;   /* its next offset */
	bool part_open; /* its part head is out (multipart) */
	char etag[SLICE_VALIDATOR_MAX];
	char last_mod[SLICE_VALIDATOR_MAX];
	char ctype[SLICE_VALIDATOR_MAX];
	char boundary[EDGE_RANGE_BOUNDARY_LEN + 1];

	/* the source: its body holds offsets [src_first, src_end) */
	bool src;
	uint64_t src_first;
	uint64_t src_end;
	struct cache_obj *obj; /* a stored slice (one reference), or NULL: req->cf */
	bool fill_known;       /* the fill's head was adopted (src_first, src_end set) */
	uint64_t fill_pos;     /* the offset of the fill's next byte */
	const char *chunk;     /* a fill chunk held: chunk_len bytes at chunk_pos */
	size_t chunk_len;
	uint64_t chunk_pos;
	void *chunk_ref;
};

/* ---- keys and heads ---- */

int
edge_slice_key(
    const char *key, size_t key_len, uint64_t size, uint64_t index, char *out, size_t outlen)
{
	int n;

	if (key_len + SLICE_SUFFIX_MAX + 1 > outlen)
		return -1;
	memmove(out, key, key_len);
	/* a tag after the URL, as "#geo=" is (a URL key has no '#'): no request
	 * names a slice, and a purge of the URL reaches it */
	n = snprintf(out + key_len, outlen - key_len, "#slice=%llu:%llu", (unsigned long long)size,
	    (unsigned long long)index);
	return (int)key_len + n;
}

/* value of name in o's head, copied into out (empty when absent or too long) */
static void
slice_copy_field(const struct cache_obj *o, struct str name, char *out)
{
	struct str v;

	out[0] = '\0';
	if (cache_obj_header(o, name, &v) && v.len < SLICE_VALIDATOR_MAX) {
		memcpy(out, v.p, v.len);
		out[v.len] = '\0';
	}
}

static bool
slice_same_field(const struct cache_obj *o, struct str name, const char *known)
{
	struct str v;

	if (!cache_obj_header(o, name, &v))
		return known[0] == '\0';
	return v.len == strlen(known) && memcmp(v.p, known, v.len) == 0;
}

/* ---- the fetch of a slice ---- */

struct slice_fetch {
	struct edge_worker *w;
	struct edge_fetch *f;  /* until the body flows: then it runs detached */
	struct edge_gen *gen;  /* held */
	struct cache_fill *cf; /* one reference */
	struct evbuffer *head; /* the request head, written on each try */
	/* the slice's owner among the siblings is asked first (sibling); when
	 * it fails before its answer, the origin, with origin_head */
	bool sibling;
	struct evbuffer *origin_head;
	uint64_t sib_hash;
	const struct config_pool *pool; /* the route's */
	uint64_t hash;                  /* its balancer key */
	char peer[INET6_ADDRSTRLEN];    /* the client address (cache.fill_per_client) */
	struct cache_policy_conf conf;
	unsigned skip;   /* EDGE_FETCH_SKIP_* for the stored head */
	uint64_t first;  /* the slice's first offset */
	uint64_t size;   /* and its size */
	bool validated;  /* If-Range went with it */
	uint64_t length; /* the set's length, when validated */
	size_t url_len;  /* key[0, url_len) is the URL key */
	size_t key_len;  /* the slice's key */
	char key[];
};

static void
slice_fetch_free(struct slice_fetch *sf)
{
	if (sf->cf != NULL && cache_fill_state(sf->cf) == CACHE_FILL_S_WAIT)
		cache_fill_end(sf->cf, CACHE_FILL_S_FAILED, time_now());
	cache_fill_unref(&sf->cf);
	evbuffer_free(sf->head);
	if (sf->origin_head != NULL)
		evbuffer_free(sf->origin_head);
	edge_gen_release(sf->w, &sf->gen);
	free(sf);
}

/* Removes every slice of the URL key stored for slices of size over a
 * representation of length bytes (and the URL's own entry). */
static void
slice_invalidate(
    struct edge_worker *w, const char *url, size_t url_len, uint64_t size, uint64_t length)
{
	struct cache *cache = w->srv->cache;
	time_t now = time_now();
	uint64_t n = size > 0 ? (length + size - 1) / size : 0;

	(void)cache_invalidate(cache, url, url_len, now);
	for (uint64_t k = 0; k < n; k++) {
		int len =
		    edge_slice_key(url, url_len, size, k, w->key_scratch, sizeof w->key_scratch);

		if (len > 0)
			(void)cache_invalidate(cache, w->key_scratch, (size_t)len, now);
	}
}

uint64_t
edge_slice_object_max(const struct config *cfg)
{
	if (cfg->cache.disk_max_object_bytes > 0)
		return cfg->cache.disk_max_object_bytes;
	return cfg->cache.disk_path != NULL ? cfg->cache.disk_bytes : UINT64_MAX;
}

void
edge_slice_invalidate_url(struct edge_worker *w, uint64_t size, const char *url, size_t url_len)
{
	struct cache *cache = w->srv->cache;
	char key[CACHE_KEY_MAX + SLICE_SUFFIX_MAX + 1];
	struct h1_request get = {0};
	struct cache_obj *o = NULL;
	uint64_t first, last, length;
	struct str cr;
	int len;

	get.method = STR_LIT("GET");
	get.minor = 1;
	if (size == 0 || (len = edge_slice_key(url, url_len, size, 0, key, sizeof key)) < 0)
		return;
	/* the first slice's head says how many there are: from RAM, else the
	 * head alone from disk */
	if (cache_lookup_ram(cache, &get, key, (size_t)len, time_now(), &o) != 0 &&
	    (!cache_has_disk(cache) || cache_disk_lookup_head(cache_disk_tier(cache), key,
	                                   (size_t)len, time_now(), &o) != 0))
		return;
	if (cache_obj_header(o, STR_LIT("Content-Range"), &cr) &&
	    range_content_range(cr, &first, &last, &length))
		slice_invalidate(w, url, url_len, size, length);
	cache_obj_unref(&o);
}

static void
sf_nop(void *arg)
{
	(void)arg;
}

static void
sf_send(void *arg, struct evbuffer *out)
{
	struct slice_fetch *sf = arg;
	size_t len = evbuffer_get_length(sf->head);

	evbuffer_add(out, evbuffer_pullup(sf->head, (ev_ssize_t)len), len);
}

static void
sf_writable(void *arg, struct evbuffer *out)
{
	(void)arg;
	(void)out;
}

static bool
sf_sent(void *arg)
{
	(void)arg;
	return true;
}

static void
sf_interim(void *arg, const struct h1_response *resp)
{
	(void)arg;
	(void)resp;
}

/* The slice's answer is not used: the fill ends PASS (its readers go to the
 * origin their own way, the slice's key is hit-for-pass for a while). */
static enum edge_fetch_verdict
sf_pass(struct slice_fetch *sf)
{
	cache_fill_end(sf->cf, CACHE_FILL_S_PASS, time_now());
	return EDGE_FETCH_STOP;
}

/*
 * The origin's head for a slice: a 206 of exactly the slice asked (of a
 * representation with a strong validator), or of the whole representation,
 * or a 200 of the first slice's whole representation (an origin that takes
 * no ranges, a small object) — stored, and its body goes into the fill.
 * Anything else passes.  A 200 to our If-Range says the set changed.
 */
static enum edge_fetch_verdict
sf_head(void *arg, struct edge_fetch *f, struct h1_response *resp)
{
	struct slice_fetch *sf = arg;
	struct edge_worker *w = sf->w;
	const struct config *cfg = sf->gen->cfg;
	struct h1_request req = {0};
	const struct h1_header *h;
	struct cache_obj *o, *head;
	uint64_t first = 0, last = 0, length = 0;
	bool whole;
	unsigned skip = sf->skip;
	time_t now = time_now();

	req.method = STR_LIT("GET");
	req.minor = 1;
	if (sf->validated && resp->status == 200) {
		/* the set changed at the origin: no hit-for-pass for the slice,
		 * whose next fetch starts a new set */
		EDGE_COUNT(&w->metrics, slice_mismatches_total);
		slice_invalidate(w, sf->key, sf->url_len, sf->size, sf->length);
		if (sf->first != 0) {
			cache_fill_end(sf->cf, CACHE_FILL_S_FAILED, time_now());
			return EDGE_FETCH_STOP;
		}
	}
	if (h1_header_find(resp->headers, resp->n_headers, STR_LIT("Vary")) != NULL ||
	    resp->body != H1_BODY_LENGTH)
		return sf_pass(sf);
	if (resp->status == 206) {
		h = h1_header_find(resp->headers, resp->n_headers, STR_LIT("Content-Range"));
		if (h == NULL || !range_content_range(h->value, &first, &last, &length) ||
		    last - first + 1 != resp->content_length || first != sf->first)
			return sf_pass(sf);
		whole = first == 0 && last + 1 == length;
		if (!whole &&
		    last + 1 != (sf->first + sf->size < length ? sf->first + sf->size : length))
			return sf_pass(sf);
		if (!whole) {
			h = h1_header_find(resp->headers, resp->n_headers, STR_LIT("ETag"));
			/* RFC 9111 §3.4: only a strong validator lets parts combine */
			if ((h == NULL || str_trim_ows(h->value).len < 2 ||
			        str_trim_ows(h->value).p[0] != '"') &&
			    h1_header_find(
			        resp->headers, resp->n_headers, STR_LIT("Last-Modified")) == NULL)
				return sf_pass(sf);
		}
	} else if (resp->status == 200 && sf->first == 0) {
		whole = true;
	} else {
		return sf_pass(sf);
	}
	resp->status = 200; /* stored as what it is: the representation, or part of it */
	resp->reason = STR_LIT("OK");
	if (whole)
		skip |= EDGE_FETCH_SKIP_CONTENT_RANGE;
	o = edge_fetch_obj_new(w, cfg, &req, resp, sf->key, whole ? sf->url_len : sf->key_len,
	    &sf->conf, edge_fetch_request_time(f), now, skip);
	if (o == NULL)
		return sf_pass(sf);
	cache_obj_set_gen(o, edge_fetch_ban_gen(f));
	if ((head = cache_obj_head_copy(o)) == NULL) {
		cache_obj_unref(&o);
		return sf_pass(sf);
	}
	cache_fill_head(sf->cf, head, (int64_t)resp->content_length);
	cache_obj_unref(&head);
	/* siblings.store: small — a large slice stays with its owner only; and
	 * an object over cache.disk.max_object is not kept; its bytes still
	 * flow to the readers of the fill */
	if (sf->sibling && cfg->siblings.store == ORIGIN_SIBLING_STORE_SMALL &&
	    resp->content_length > cfg->siblings.store_max)
		cache_obj_unref(&o);
	if (!whole && length > edge_slice_object_max(cfg)) {
		EDGE_COUNT(&w->metrics, slice_oversize_total);
		cache_obj_unref(&o);
	}
	edge_fetch_store(f, o, cache_fill_ref(sf->cf));
	return EDGE_FETCH_READ;
}

static bool
sf_body(void *arg, struct evbuffer *in, size_t n)
{
	(void)arg;
	evbuffer_drain(in, n);
	return false;
}

static void
sf_end(void *arg)
{
	slice_fetch_free(arg);
}

static bool slice_fetch_go(struct slice_fetch *sf);

/* The fetch failed before its answer: the owner among the siblings gives
 * way to the origin; the origin's failure fails the fill. */
static void
sf_error(void *arg, enum edge_fetch_error e, int status, const char *msg)
{
	struct slice_fetch *sf = arg;

	(void)e;
	if (sf->sibling) {
		log_info("proxy", "sibling failed (%d %s): the origin is asked for the slice",
		    status, msg);
		EDGE_COUNT(&sf->w->metrics, sibling_fallbacks_total);
		sf->sibling = false;
		evbuffer_free(sf->head);
		sf->head = sf->origin_head;
		sf->origin_head = NULL;
		sf->f = NULL; /* the failed fetch ends after this call */
		(void)slice_fetch_go(sf);
		return;
	}
	slice_fetch_free(sf);
}

static void
sf_fill_end(void *arg, struct cache_mem_client *cl, uint64_t bytes)
{
	/* the slice is stored (or failed): nothing stays pinned for a client */
	if (cl != NULL) {
		cache_mem_client_uncharge(cl, bytes);
		cache_mem_client_put(&cl);
	}
	slice_fetch_free(arg);
}

/* The body flows into the fill: the fetch goes on detached (on the worker's
 * list, which drain and shutdown stop), and the slice's part is done. */
static void
sf_fill(void *arg)
{
	struct slice_fetch *sf = arg;
	struct edge_fetch *f = sf->f;

	if (f == NULL)
		return;
	sf->f = NULL;
	edge_fetch_detach(&f);
	slice_fetch_free(sf);
}

static const struct edge_fetch_client slice_fetch_client = {
    .enter = sf_nop,
    .leave = sf_nop,
    .send = sf_send,
    .writable = sf_writable,
    .sent = sf_sent,
    .on_interim = sf_interim,
    .on_head = sf_head,
    .on_body = sf_body,
    .on_end = sf_end,
    .on_error = sf_error,
    .on_fill = sf_fill,
    .on_fill_end = sf_fill_end,
};

/* Starts sf's fetch: of the slice's owner among the siblings while
 * sf->sibling, else of the origin.  False when none could start (sf is
 * freed, the fill has failed).  The fetch may end inside (sf is freed then
 * too). */
static bool
slice_fetch_go(struct slice_fetch *sf)
{
	const struct config *cfg = sf->gen->cfg;
	struct edge_fetch_req fr;
	struct edge_fetch *f;

	memset(&fr, 0, sizeof fr);
	fr.mode = EDGE_FETCH_NORMAL;
	fr.gen = sf->gen;
	fr.pool = sf->pool;
	fr.hash = sf->hash;
	if (sf->sibling) {
		fr.pool = &cfg->pools[cfg->siblings.pool_idx];
		fr.hash = sf->sib_hash;
		fr.skip = true;
		fr.skip_member = cfg->siblings.self_idx;
		EDGE_COUNT(&sf->w->metrics, sibling_fills_total);
	}
	fr.retry_safe = true;
	fr.peer = sf->peer;
	fr.store_waits = true; /* a slice unstored would be fetched again */
	fr.client = &slice_fetch_client;
	fr.arg = sf;
	if ((f = edge_fetch_new(sf->w, &fr)) == NULL) {
		slice_fetch_free(sf);
		return false;
	}
	sf->f = f;
	EDGE_COUNT(&sf->w->metrics, slice_fetches_total);
	edge_fetch_start(f); /* may end at once: sf is freed then, the fill failed */
	return true;
}

/* Starts the fetch of slice index (key, key_len) that leads the fill cf
 * (taken).  False when none could start (the fill has failed). */
static bool
slice_fetch_start(
    struct edge_req *req, struct cache_fill *cf, const char *key, size_t key_len, uint64_t index)
{
	struct edge_slice *sl = req->slice;
	struct edge_worker *w = req->sess->w;
	struct slice_fetch *sf = xcalloc(1, sizeof *sf + key_len + 1);
	struct edge_fetch_bereq b;
	char hop[ORIGIN_SIBLING_MARK_LEN + 1];

	sf->w = w;
	sf->gen = edge_gen_hold(req->sess->gen);
	sf->cf = cf;
	sf->head = evbuffer_new();
	sf->first = index * sl->size;
	sf->size = sl->size;
	sf->url_len = (size_t)req->key_len;
	sf->key_len = key_len;
	memcpy(sf->key, key, key_len);
	edge_forward_policy_conf(req, &sf->conf);
	if (req->site != NULL && req->site->hsts != NULL)
		sf->skip |= EDGE_FETCH_SKIP_STS;
	edge_forward_bereq(req, EDGE_FETCH_FIELDS_REFRESH, &b);
	b.method = STR_LIT("GET");
	b.drop_range = true;
	b.range_offset = sf->first;
	b.range_window = sl->size;
	if (sl->known) {
		/* RFC 9110 §13.1.5: a changed representation comes whole */
		sf->validated = true;
		sf->length = sl->length;
		b.if_range = sl->etag[0] == '"' ? str_make(sl->etag, strlen(sl->etag))
		                                : str_make(sl->last_mod, strlen(sl->last_mod));
		if (b.if_range.len == 0)
			sf->validated = false;
	}
	edge_fetch_bereq_write(&b, sf->head);
	sf->pool = req->pool;
	sf->hash = edge_forward_hash(req, req->pool);
	snprintf(sf->peer, sizeof sf->peer, "%s", req->sess->peer);
	/* the slice's owner among the siblings, by the slice's key: the slices
	 * of one object spread over the fleet */
	if (edge_forward_sibling_owner(req, key, key_len, &sf->sib_hash)) {
		sf->sibling = true;
		sf->skip |= EDGE_FETCH_SKIP_CACHE_STATUS;
		sf->origin_head = sf->head;
		sf->head = evbuffer_new();
		edge_forward_bereq_sibling(req, &b, hop);
		edge_fetch_bereq_write(&b, sf->head);
	}
	return slice_fetch_go(sf);
}

/* ---- the answer ---- */

/* Lets go of the current source. */
static void
slice_drop_source(struct edge_req *req)
{
	struct edge_slice *sl = req->slice;

	if (sl->chunk_ref != NULL)
		cache_fill_chunk_release(sl->chunk_ref);
	sl->chunk_ref = NULL;
	sl->chunk = NULL;
	cache_obj_unref(&sl->obj);
	if (req->cf != NULL)
		edge_collapse_detach(req);
	sl->src = false;
	sl->fill_known = false;
}

void
edge_slice_end(struct edge_req *req)
{
	if (req->slice == NULL)
		return;
	slice_drop_source(req);
	free(req->slice);
	req->slice = NULL;
}

/* The slice answer gives up before its head: req goes the forward way. */
static void
slice_fallback(struct edge_req *req)
{
	EDGE_COUNT(&req->sess->w->metrics, slice_fallbacks_total);
	edge_slice_end(req);
	req->sess->state = EDGE_SESS_PROXY;
	req->fw.range_asis = true; /* the slice cost the window's fetch already */
	edge_forward_start(req, req->pool, true, NULL);
}

/* The answer cannot be completed: before its head, the forward way; after
 * it, the connection closes (never a body of two representations). */
static void
slice_fail(struct edge_req *req)
{
	if (!req->slice->head_sent) {
		slice_fallback(req);
		return;
	}
	edge_slice_end(req);
	edge_req_abort(req);
}

/* The head: 200 with the whole length, 206 with one Content-Range or
 * multipart/byteranges, or 416; from the stored fields of o (a slice). */
static void
slice_send_head(struct edge_req *req, struct cache_obj *o, enum range_result rr)
{
	struct edge_slice *sl = req->slice;
	const char *xcache = sl->hit ? "HIT" : "MISS";
	const char *cs = sl->hit ? "hit; detail=slice" : "fwd=miss; detail=slice";
	struct edge_resp r;

	if (rr == RANGE_UNSATISFIABLE) {
		req->cache_status = xcache;
		edge_resp_own(&r, req, 416, "range not satisfiable\n", NULL, false);
		edge_resp_addf(
		    &r, STR_LIT("Content-Range"), "bytes */%llu", (unsigned long long)sl->length);
		edge_resp_add(&r, STR_LIT("Accept-Ranges"), STR_LIT("bytes"));
		edge_resp_cache_status(&r, xcache, cs);
		EDGE_COUNT(&req->sess->w->metrics, range_answers_total);
		edge_slice_end(req);
		edge_req_send_own(req, &r);
		return;
	}
	req->cache_status = xcache;
	edge_resp_stored(&r, req, o, rr == RANGE_SATISFIABLE ? 206 : 200, false, xcache, cs);
	r.skip_ctype = sl->multipart;
	edge_resp_add(&r, STR_LIT("Accept-Ranges"), STR_LIT("bytes"));
	if (rr != RANGE_SATISFIABLE) {
		edge_resp_add_u64(&r, STR_LIT("Content-Length"), sl->length);
	} else if (sl->multipart) {
		edge_range_boundary(sl->boundary);
		edge_resp_addf(
		    &r, STR_LIT("Content-Type"), "multipart/byteranges; boundary=%s", sl->boundary);
		edge_resp_add_u64(&r, STR_LIT("Content-Length"),
		    edge_range_multipart_length(
		        sl->boundary, str_make(sl->ctype, strlen(sl->ctype)), &sl->rs, sl->length));
	} else {
		edge_resp_addf(&r, STR_LIT("Content-Range"), "bytes %llu-%llu/%llu",
		    (unsigned long long)sl->rs.r[0].first, (unsigned long long)sl->rs.r[0].last,
		    (unsigned long long)sl->length);
		edge_resp_add_u64(
		    &r, STR_LIT("Content-Length"), sl->rs.r[0].last - sl->rs.r[0].first + 1);
	}
	if (rr == RANGE_SATISFIABLE)
		EDGE_COUNT(&req->sess->w->metrics, range_answers_total);
	(void)edge_resp_send(&r, req);
	sl->head_sent = true;
}

/*
 * o is the head of the source just opened for slice index: what its body
 * covers (*first, *end).  The first slice tells the representation (its
 * length, validators, type) and the answer (the ranges of the request's
 * Range and If-Range, RFC 9110 §14.2), whose head goes out; later ones must
 * agree.  False when o cannot serve (another representation: the set is
 * invalidated; or not the slice asked).  whole_len: the length of a source
 * without Content-Range (a whole representation).
 */
static bool
slice_adopt(struct edge_req *req, struct cache_obj *o, uint64_t index, uint64_t whole_len,
    uint64_t *first, uint64_t *end)
{
	struct edge_slice *sl = req->slice;
	struct range_validators v = {STR_NULL, STR_NULL, STR_NULL};
	uint64_t last, length;
	struct str cr;
	enum range_result rr;

	if (cache_obj_header(o, STR_LIT("Content-Range"), &cr)) {
		if (!range_content_range(cr, first, &last, &length) || *first != index * sl->size)
			return false;
		*end = last + 1;
	} else {
		if (index != 0)
			return false;
		*first = 0;
		*end = length = whole_len;
	}
	if (sl->known) {
		if (length == sl->length && slice_same_field(o, STR_LIT("ETag"), sl->etag) &&
		    slice_same_field(o, STR_LIT("Last-Modified"), sl->last_mod))
			return true;
		EDGE_COUNT(&req->sess->w->metrics, slice_mismatches_total);
		slice_invalidate(req->sess->w, req->key, (size_t)req->key_len, sl->size,
		    length > sl->length ? length : sl->length);
		return false;
	}
	sl->known = true;
	sl->length = length;
	slice_copy_field(o, STR_LIT("ETag"), sl->etag);
	slice_copy_field(o, STR_LIT("Last-Modified"), sl->last_mod);
	slice_copy_field(o, STR_LIT("Content-Type"), sl->ctype);
	(void)cache_obj_header(o, STR_LIT("ETag"), &v.etag);
	(void)cache_obj_header(o, STR_LIT("Last-Modified"), &v.last_modified);
	(void)cache_obj_header(o, STR_LIT("Date"), &v.date);
	rr = range_request(&req->h1, &v, length, &sl->rs);
	if (rr == RANGE_SATISFIABLE && !range_ascending(&sl->rs))
		rr = RANGE_IGNORE; /* RFC 9110 §14.2: the whole representation instead */
	if (rr == RANGE_IGNORE) {
		sl->rs.n = length > 0 ? 1 : 0;
		sl->rs.r[0].first = 0;
		sl->rs.r[0].last = length > 0 ? length - 1 : 0;
	}
	sl->multipart = rr == RANGE_SATISFIABLE && sl->rs.n > 1;
	sl->ri = 0;
	sl->pos = sl->rs.n > 0 ? sl->rs.r[0].first : 0;
	slice_send_head(req, o, rr);
	return true;
}

enum slice_open {
	SLICE_OPEN_OK = 0, /* a source is open */
	SLICE_OPEN_WAIT,   /* its fill has no head yet */
	SLICE_OPEN_FAIL,   /* none can serve */
	SLICE_OPEN_DONE,   /* the request was answered (416) */
};

/* After a source is adopted: the request may be over (416), or the source
 * may not hold the first offset the answer needs (a suffix range, a Range
 * that If-Range voids). */
static enum slice_open
slice_opened(struct edge_req *req)
{
	struct edge_slice *sl = req->slice;

	if (sl == NULL)
		return SLICE_OPEN_DONE;
	if (sl->ri < sl->rs.n && (sl->pos < sl->src_first || sl->pos >= sl->src_end))
		slice_drop_source(req);
	return SLICE_OPEN_OK;
}

/* Opens the source of the slice that holds sl->pos: stored, or its fill
 * (joined, or led by a new fetch). */
static enum slice_open
slice_open(struct edge_req *req)
{
	struct edge_slice *sl = req->slice;
	struct edge_worker *w = req->sess->w;
	struct cache *cache = w->srv->cache;
	uint64_t index = sl->pos / sl->size;
	char key[CACHE_KEY_MAX + SLICE_SUFFIX_MAX + 1];
	struct cache_obj *o = NULL;
	struct cache_fill *cf = NULL;
	struct cache_fill_reader rd;
	time_t now = time_now();
	bool from_disk;
	int len;

	len = edge_slice_key(req->key, (size_t)req->key_len, sl->size, index, key, sizeof key);
	if (len < 0)
		return SLICE_OPEN_FAIL;
	if (cache_lookup(cache, &req->h1, key, (size_t)len, now, &o, &from_disk) == 0 &&
	    cache_policy_usable(&req->h1, o, now) == CACHE_USE_FRESH) {
		size_t body_len;

		(void)cache_obj_body(o, &body_len);
		EDGE_COUNT(&w->metrics, slice_hits_total);
		if (from_disk) {
			EDGE_COUNT(&w->metrics, cache_disk_hits_total);
			req->disk_hit = true;
		}
		if (!slice_adopt(req, o, index, body_len, &sl->src_first, &sl->src_end)) {
			cache_obj_unref(&o);
			return SLICE_OPEN_FAIL;
		}
		if (req->slice == NULL) { /* answered: 416 */
			cache_obj_unref(&o);
			return SLICE_OPEN_DONE;
		}
		if (sl->src_end - sl->src_first != body_len) {
			cache_obj_unref(&o);
			return SLICE_OPEN_FAIL;
		}
		sl->obj = o;
		sl->src = true;
		return slice_opened(req);
	}
	cache_obj_unref(&o);
	sl->hit = false;
	switch (cache_fill_begin(cache, key, (size_t)len, now, &cf, &rd)) {
	case CACHE_FILL_PASS:
		/* the key is hit-for-pass (its last fill could not be stored, or
		 * the origin's answer was no slice): before the head, the
		 * forward path; after it, the bytes still come, from a fetch of
		 * this request's own */
		if (!sl->head_sent || cache_fill_private(cache, key, (size_t)len, &cf, &rd) != 0)
			return SLICE_OPEN_FAIL;
		/* fall through */
	case CACHE_FILL_LEADER:
		if (!slice_fetch_start(req, cache_fill_ref(cf), key, (size_t)len, index)) {
			cache_fill_end(cf, CACHE_FILL_S_FAILED, now);
			cache_fill_reader_done(&rd);
			cache_fill_unref(&cf);
			return SLICE_OPEN_FAIL;
		}
		break;
	case CACHE_FILL_WAITER:
		EDGE_COUNT(&w->metrics, cache_collapsed_total);
		break;
	}
	req->cf = cf;
	req->cf_rd = rd;
	sl->src = true;
	sl->fill_known = false; /* src_first, src_end: with the fill's head */
	edge_collapse_watch(req);
	return SLICE_OPEN_WAIT;
}

/* The fill of the current source: its head, once it has one. */
static enum slice_open
slice_fill_head(struct edge_req *req)
{
	struct edge_slice *sl = req->slice;
	enum cache_fill_state st = cache_fill_state(req->cf);
	int64_t len;

	if (sl->fill_known)
		return SLICE_OPEN_OK;
	if (st == CACHE_FILL_S_WAIT)
		return SLICE_OPEN_WAIT;
	len = cache_fill_length(req->cf);
	if (st == CACHE_FILL_S_PASS || st == CACHE_FILL_S_FAILED || len < 0 ||
	    !slice_adopt(req, cache_fill_obj(req->cf), sl->pos / sl->size, (uint64_t)len,
	        &sl->src_first, &sl->src_end))
		return SLICE_OPEN_FAIL;
	if (req->slice == NULL) /* answered: 416 */
		return SLICE_OPEN_DONE;
	if (sl->src_end - sl->src_first != (uint64_t)len)
		return SLICE_OPEN_FAIL;
	sl->fill_known = true;
	sl->fill_pos = sl->src_first;
	return slice_opened(req);
}

/* The range is sent to its end: the next one (its part head when multipart);
 * true when none is left. */
static bool
slice_next_range(struct edge_req *req)
{
	struct edge_slice *sl = req->slice;

	if (sl->ri >= sl->rs.n)
		return true;
	if (sl->pos <= sl->rs.r[sl->ri].last)
		return false;
	sl->ri++;
	sl->part_open = false;
	if (sl->ri < sl->rs.n)
		sl->pos = sl->rs.r[sl->ri].first;
	return sl->ri >= sl->rs.n;
}

/* Opens the current range's part (multipart). */
static void
slice_part_head(struct edge_req *req)
{
	struct edge_slice *sl = req->slice;
	struct evbuffer *out;

	if (!sl->multipart || sl->part_open || sl->ri >= sl->rs.n)
		return;
	out = edge_req_body_out(req);
	req->bytes_out += edge_range_part_head(out, sl->boundary,
	    str_make(sl->ctype, strlen(sl->ctype)), &sl->rs.r[sl->ri], sl->length);
	sl->part_open = true;
}

/* Sends what the stored source has of the current range. */
static void
slice_send_obj(struct edge_req *req)
{
	struct edge_slice *sl = req->slice;
	uint64_t last = sl->rs.r[sl->ri].last;
	uint64_t end = last + 1 < sl->src_end ? last + 1 : sl->src_end;
	size_t body_len;
	const char *body = cache_obj_body(sl->obj, &body_len);
	size_t n = (size_t)(end - sl->pos);

	slice_part_head(req);
	req->bytes_out += edge_req_send_ref(req, body + (sl->pos - sl->src_first), n,
	    edge_deliver_obj_release, cache_obj_ref(sl->obj));
	sl->pos = end;
}

static void
slice_chunk_release(const void *data, size_t len, void *ref)
{
	(void)data;
	(void)len;
	cache_fill_chunk_release(ref);
}

/* Sends what the fill source has of the current range; false when it has
 * nothing more now. */
static bool
slice_send_fill(struct edge_req *req)
{
	struct edge_slice *sl = req->slice;
	uint64_t last = sl->rs.r[sl->ri].last;
	uint64_t from, to;

	if (sl->chunk == NULL) {
		if (!cache_fill_read(&req->cf_rd, &sl->chunk, &sl->chunk_len, &sl->chunk_ref))
			return false;
		sl->chunk_pos = sl->fill_pos;
		sl->fill_pos += sl->chunk_len;
	}
	from = sl->pos > sl->chunk_pos ? sl->pos : sl->chunk_pos;
	to = last + 1 < sl->chunk_pos + sl->chunk_len ? last + 1 : sl->chunk_pos + sl->chunk_len;
	if (from < to) {
		const char *p = sl->chunk + (from - sl->chunk_pos);
		size_t n = (size_t)(to - from);

		slice_part_head(req);
		if (to == sl->chunk_pos + sl->chunk_len) {
			/* the rest of the chunk: it goes by reference */
			req->bytes_out +=
			    edge_req_send_ref(req, p, n, slice_chunk_release, sl->chunk_ref);
			sl->chunk = NULL;
			sl->chunk_ref = NULL;
		} else {
			evbuffer_add(edge_req_body_out(req), p, n);
			req->bytes_out += n;
		}
		sl->pos = to;
	}
	if (sl->chunk != NULL && to >= sl->chunk_pos + sl->chunk_len) {
		cache_fill_chunk_release(sl->chunk_ref);
		sl->chunk = NULL;
		sl->chunk_ref = NULL;
	}
	return true;
}

/* Every range is out: the multipart closing, the end. */
static void
slice_done(struct edge_req *req)
{
	struct edge_slice *sl = req->slice;

	if (sl->multipart)
		req->bytes_out += edge_range_closing(edge_req_body_out(req), sl->boundary);
	if (sl->hit)
		EDGE_COUNT(&req->sess->w->metrics, cache_hits_total);
	edge_slice_end(req);
	req->bytes_out += edge_req_send_end(req);
	edge_req_want_writable(req, 0);
	edge_req_finish(req);
}

void
edge_slice_pump(struct edge_req *req)
{
	struct edge_slice *sl;

	while ((sl = req->slice) != NULL && !req->sess->dead) {
		if (sl->known && slice_next_range(req)) {
			slice_done(req);
			return;
		}
		if (edge_req_queued(req) > SLICE_OUT_HIGH) {
			edge_req_want_writable(req, SLICE_OUT_LOW);
			return;
		}
		if (!sl->src) {
			switch (slice_open(req)) {
			case SLICE_OPEN_OK:
				continue;
			case SLICE_OPEN_WAIT:
				break;
			case SLICE_OPEN_FAIL:
				slice_fail(req);
				return;
			case SLICE_OPEN_DONE:
				return;
			}
		}
		if (sl->obj != NULL) {
			if (sl->pos >= sl->src_end) {
				slice_drop_source(req);
				continue;
			}
			slice_send_obj(req);
			continue;
		}
		switch (slice_fill_head(req)) {
		case SLICE_OPEN_OK:
			break;
		case SLICE_OPEN_WAIT:
			return;
		case SLICE_OPEN_FAIL:
			slice_fail(req);
			return;
		case SLICE_OPEN_DONE:
			return;
		}
		if (!sl->src) /* slice_opened let it go: another slice is needed */
			continue;
		if (sl->pos >= sl->src_end) {
			slice_drop_source(req);
			continue;
		}
		if (slice_send_fill(req))
			continue;
		/* nothing more in the fill now */
		switch (cache_fill_state(req->cf)) {
		case CACHE_FILL_S_DONE:
			if (sl->fill_pos < sl->src_end) {
				slice_fail(req); /* shorter than it said */
				return;
			}
			slice_drop_source(req);
			continue;
		case CACHE_FILL_S_FAILED:
		case CACHE_FILL_S_PASS:
			slice_fail(req);
			return;
		default:
			return; /* the next wake-up */
		}
	}
}

static const struct str slice_preconditions[] = {
    STR_LIT("If-None-Match"),
    STR_LIT("If-Modified-Since"),
    STR_LIT("If-Match"),
    STR_LIT("If-Unmodified-Since"),
};

/* Does req carry a precondition (If-Range aside)? */
static bool
slice_conditional(const struct h1_request *r)
{
	for (size_t i = 0; i < sizeof slice_preconditions / sizeof slice_preconditions[0]; i++)
		if (h1_header_find(r->headers, r->n_headers, slice_preconditions[i]) != NULL)
			return true;
	return false;
}

/* cache.slice is on and req's answer may come from the cache: a key, no
 * body, no credentials. */
static bool
slice_on(const struct edge_req *req)
{
	const struct h1_request *r = &req->h1;

	return req->sess->gen->cfg->cache.slice_bytes > 0 && req->key_len >= 0 &&
	       r->body == H1_BODY_NONE && cache_enabled(req->sess->w->srv->cache) &&
	       h1_header_find(r->headers, r->n_headers, STR_LIT("Authorization")) == NULL;
}

bool
edge_slice_eligible(const struct edge_req *req)
{
	return slice_on(req) && str_eq(req->h1.method, STR_LIT("GET")) &&
	       !slice_conditional(&req->h1);
}

/* Does the Range value v begin with a suffix range ("bytes=-N"), whose place
 * is unknown until the length is? */
static bool
slice_suffix(struct str v)
{
	const char *eq = memchr(v.p, '=', v.len);
	struct str spec;

	if (eq == NULL)
		return false;
	spec = str_trim_ows(str_make(eq + 1, v.len - (size_t)(eq + 1 - v.p)));
	return spec.len > 0 && spec.p[0] == '-';
}

/* The first slice of req's URL, fresh (the object is kept as slices), as
 * a new reference, or NULL. */
static struct cache_obj *
slice_first(struct edge_req *req, uint64_t size)
{
	struct edge_worker *w = req->sess->w;
	char key[CACHE_KEY_MAX + SLICE_SUFFIX_MAX + 1];
	struct cache_obj *o = NULL;
	time_t now = time_now();
	bool from_disk;
	int len = edge_slice_key(req->key, (size_t)req->key_len, size, 0, key, sizeof key);

	if (len < 0 ||
	    cache_lookup(w->srv->cache, &req->h1, key, (size_t)len, now, &o, &from_disk) != 0)
		return NULL;
	if (cache_policy_usable(&req->h1, o, now) != CACHE_USE_FRESH)
		cache_obj_unref(&o);
	return o;
}

/* HEAD of an object kept as slices: the first slice's stored fields, the
 * whole length. */
static void
slice_head_only(struct edge_req *req, struct cache_obj *o)
{
	uint64_t first, last, length;
	struct edge_resp r;
	struct str cr;

	if (!cache_obj_header(o, STR_LIT("Content-Range"), &cr) ||
	    !range_content_range(cr, &first, &last, &length))
		length = 0;
	req->cache_status = "HIT";
	edge_resp_stored(&r, req, o, 200, false, "HIT", "hit; detail=slice");
	edge_resp_add(&r, STR_LIT("Accept-Ranges"), STR_LIT("bytes"));
	edge_resp_add_u64(&r, STR_LIT("Content-Length"), length);
	(void)edge_resp_send(&r, req);
	EDGE_COUNT(&req->sess->w->metrics, cache_hits_total);
	edge_req_finish(req);
}

bool
edge_slice_begin(struct edge_req *req)
{
	const struct h1_request *r = &req->h1;
	bool get = str_eq(r->method, STR_LIT("GET"));
	struct cache_obj *o;

	if (!slice_on(req) || (!get && !str_eq(r->method, STR_LIT("HEAD"))))
		return false;
	if (get && !slice_conditional(r) &&
	    h1_header_find(r->headers, r->n_headers, STR_LIT("Range")) != NULL) {
		edge_slice_start(req);
		return true;
	}
	/* a HEAD, a conditional or a plain GET: of an object kept as slices */
	if ((o = slice_first(req, req->sess->gen->cfg->cache.slice_bytes)) == NULL)
		return false;
	/* RFC 9110 §13.2.1: preconditions apply to the selected representation */
	if (edge_deliver_preconditions(req, o, "hit; detail=slice")) {
		cache_obj_unref(&o);
		return true;
	}
	if (!get)
		slice_head_only(req, o);
	else
		edge_slice_start(req);
	cache_obj_unref(&o);
	return true;
}

void
edge_slice_start(struct edge_req *req)
{
	const struct h1_request *r = &req->h1;
	const struct h1_header *h = h1_header_find(r->headers, r->n_headers, STR_LIT("Range"));
	struct edge_slice *sl;
	struct range_set rs;

	ASSERT(req->slice == NULL && req->cf == NULL);
	sl = xcalloc(1, sizeof *sl);
	sl->size = req->sess->gen->cfg->cache.slice_bytes;
	sl->hit = true;
	/* the slice of the first byte asked, if its place is known before the
	 * length is (not for a suffix range) */
	if (h != NULL && !slice_suffix(h->value) &&
	    range_parse(h->value, UINT64_MAX, &rs) == RANGE_SATISFIABLE && range_ascending(&rs))
		sl->pos = rs.r[0].first;
	req->slice = sl;
	EDGE_COUNT(&req->sess->w->metrics, slice_requests_total);
	req->sess->state = EDGE_SESS_COLLAPSED;
	req->on_writable = edge_collapse_pump;
	edge_req_read_body(req, false); /* pipelined requests wait in the kernel */
	edge_slice_pump(req);
}
