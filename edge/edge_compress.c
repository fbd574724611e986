/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_compress.c — the edge's use of core/coding.h: what an origin's
 * answer becomes for the client that asked (compressed, decoded, or as it
 * is) and the body filter that does it, in the fetch's filter slot.
 *
 * The head is rewritten in a per-thread scratch array of header views (the
 * origin's views plus at most two fields of ours, and the values this file
 * writes): no allocation per header.  A filter is one allocation and one
 * coding stream per coded answer; a hit on what it stored does none of it.
 * Worker thread.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "cache/cache.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "edge/edge_compress.h"
#include "edge/edge_metrics.h"
#include "edge/edge_metrics.h"

#define COMPRESS_FIELD_MAX 2048 /* a joined Vary, Cache-Control or Content-Encoding */
#define COMPRESS_ETAG_MAX  512

struct edge_compress {
	struct coding_stream *st;
	enum coding coding;
	bool decode;
	struct edge_metrics *m;
};

/* The head a rewrite hands out: valid until the next rewrite on the thread. */
static _Thread_local struct {
	struct h1_header h[H1_MAX_HEADERS + 2];
	char vary[COMPRESS_FIELD_MAX];
	char etag[COMPRESS_ETAG_MAX];
	char join[3][COMPRESS_FIELD_MAX];
} compress_scratch;

/* Every line of field name joined with ", " into buf (RFC 9110 §5.3); p ==
 * NULL when absent.  False when it does not fit. */
static bool
compress_join(const struct h1_header *hs, size_t n, struct str name, char *buf, size_t buflen,
    struct str *out)
{
	size_t len = 0;

	*out = STR_NULL;
	for (size_t i = 0; i < n; i++) {
		struct str v;

		if (!str_eq_nocase(hs[i].name, name))
			continue;
		v = str_trim_ows(hs[i].value);
		if (len + v.len + 2 > buflen)
			return false;
		if (out->p != NULL) {
			memcpy(buf + len, ", ", 2);
			len += 2;
		}
		memcpy(buf + len, v.p, v.len);
		len += v.len;
		*out = str_make(buf, len);
	}
	return true;
}

/*
 * resp's head for the variant it becomes: Vary merged with Accept-Encoding;
 * when coded (the body is transformed here), Content-Length dropped (the
 * length is unknown until the end), the ETag weak (RFC 9110 §8.8.3: the
 * coding is part of the representation data) and Content-Encoding set to
 * coding (CODING_IDENTITY: removed, the body is decoded).  False when the
 * fields do not fit the scratch: resp is unchanged then.
 */
static bool
compress_rewrite(struct h1_response *resp, bool coded, enum coding coding)
{
	struct h1_header *out = compress_scratch.h;
	struct str vary, merged, etag;
	size_t n = 0;

	if (resp->n_headers > H1_MAX_HEADERS ||
	    !compress_join(resp->headers, resp->n_headers, STR_LIT("Vary"),
	        compress_scratch.join[0], sizeof compress_scratch.join[0], &vary) ||
	    coding_vary_merge(vary, compress_scratch.vary, sizeof compress_scratch.vary, &merged) !=
	        0)
		return false;
	for (size_t i = 0; i < resp->n_headers; i++) {
		const struct h1_header *h = &resp->headers[i];

		if (str_eq_nocase(h->name, STR_LIT("Vary")))
			continue;
		if (coded && (str_eq_nocase(h->name, STR_LIT("Content-Length")) ||
		                 str_eq_nocase(h->name, STR_LIT("Content-Encoding"))))
			continue;
		out[n] = *h;
		if (coded && str_eq_nocase(h->name, STR_LIT("ETag"))) {
			if (coding_etag_weaken(str_trim_ows(h->value), compress_scratch.etag,
			        sizeof compress_scratch.etag, &etag) != 0)
				continue; /* not an entity-tag: dropped */
			out[n].value = etag;
		}
		n++;
	}
	out[n].name = STR_LIT("Vary");
	out[n++].value = merged;
	if (coded && coding != CODING_IDENTITY) {
		out[n].name = STR_LIT("Content-Encoding");
		out[n++].value = str_cstr(coding_name(coding));
	}
	resp->headers = out;
	resp->n_headers = n;
	if (coded && resp->body != H1_BODY_NONE) {
		resp->body = H1_BODY_CHUNKED; /* the length is known at the end only */
		resp->content_length = 0;
	}
	return true;
}

static struct edge_compress *
compress_filter(struct coding_stream *st, enum coding c, bool decode, struct edge_metrics *m)
{
	struct edge_compress *z = xcalloc(1, sizeof *z);

	z->st = st;
	z->coding = c;
	z->decode = decode;
	z->m = m;
	return z;
}

/* The origin sent the coding ce: the client gets it when it accepts it (the
 * answer now varies on Accept-Encoding), else the decoded body, within the
 * decoder limits (a bomb is cut, not buffered).  A 206 is a range of the
 * coded bytes, which cannot be decoded alone: it goes as it is. */
static struct edge_compress *
compress_origin_coded(const struct coding_conf *conf, const struct coding_accept *acc,
    struct str ce, uint64_t max_out, struct h1_response *resp, struct edge_metrics *m)
{
	struct coding_dec_limits lim = conf->limits;
	struct coding_stream *st = NULL;
	int c = memchr(ce.p, ',', ce.len) == NULL ? coding_from_name(str_trim_ows(ce)) : -1;

	if (c < 0 || c == CODING_IDENTITY || resp->status == 206)
		return NULL; /* several codings, or one we cannot decode */
	if (acc->present && coding_accept_q(acc, (enum coding)c) > 0) {
		(void)compress_rewrite(resp, false, (enum coding)c);
		return NULL;
	}
	if (max_out > 0 && (lim.max_out == 0 || max_out < lim.max_out))
		lim.max_out = max_out;
	if (resp->body != H1_BODY_NONE &&
	    coding_decoder_new((enum coding)c, &lim, &st) != 0) /* out of memory */
		return NULL;
	if (!compress_rewrite(resp, true, CODING_IDENTITY)) {
		coding_stream_free(&st);
		return NULL;
	}
	if (st == NULL)
		return NULL; /* no body: the head says what a GET would get */
	EDGE_COUNT(m, compression_decoded_total);
	return compress_filter(st, (enum coding)c, true, m);
}

struct edge_compress *
edge_compress_head(const struct coding_conf *conf, const struct h1_request *req, bool head_method,
    uint64_t max_out, struct h1_response *resp, struct edge_metrics *m)
{
	const struct h1_header *hs = resp->headers;
	struct coding_enc_conf ec;
	struct coding_accept acc;
	struct coding_resp cr;
	struct coding_stream *st;
	unsigned avail = 0;
	int pick;

	if (conf == NULL || !conf->enabled)
		return NULL;
	coding_accept_init(&acc);
	for (size_t i = 0; i < req->n_headers; i++)
		if (str_eq_nocase(req->headers[i].name, STR_LIT("Accept-Encoding")))
			coding_accept_parse(req->headers[i].value, &acc);
	memset(&cr, 0, sizeof cr);
	cr.status = resp->status;
	cr.head = head_method || resp->body == H1_BODY_NONE;
	cr.range = h1_header_find(req->headers, req->n_headers, STR_LIT("Range")) != NULL;
	cr.content_length = resp->body == H1_BODY_LENGTH ? (int64_t)resp->content_length : -1;
	if (!compress_join(hs, resp->n_headers, STR_LIT("Content-Encoding"),
	        compress_scratch.join[1], sizeof compress_scratch.join[1], &cr.content_encoding) ||
	    !compress_join(hs, resp->n_headers, STR_LIT("Cache-Control"), compress_scratch.join[2],
	        sizeof compress_scratch.join[2], &cr.cache_control))
		return NULL; /* fields too long to judge: as they are */
	if (cr.content_encoding.p != NULL &&
	    !str_eq_nocase(str_trim_ows(cr.content_encoding), STR_LIT("identity")))
		return compress_origin_coded(conf, &acc, cr.content_encoding, max_out, resp, m);
	for (size_t i = 0; i < resp->n_headers; i++)
		if (str_eq_nocase(hs[i].name, STR_LIT("Content-Type"))) {
			cr.content_type = hs[i].value;
			break;
		}
	if (coding_should_compress(conf, &cr) != CODING_COMPRESS)
		return NULL;
	for (unsigned i = 0; i < conf->pref.n; i++)
		avail |= CODING_BIT(conf->pref.order[i]);
	pick = coding_accept_pick(&acc, &conf->pref, avail);
	if (pick < 0 || pick == CODING_IDENTITY) {
		/* identity for this client (RFC 9110 §12.5.3 allows it when even
		 * identity is refused), a coded variant for others */
		(void)compress_rewrite(resp, false, CODING_IDENTITY);
		return NULL;
	}
	coding_enc_conf_defaults(&ec, (enum coding)pick);
	ec.level = conf->level[pick];
	if (coding_encoder_new((enum coding)pick, &ec, &st) != 0)
		return NULL; /* out of memory: identity, unchanged */
	if (!compress_rewrite(resp, true, (enum coding)pick)) {
		coding_stream_free(&st);
		return NULL;
	}
	EDGE_COUNT(m, compression_encoded_total);
	return compress_filter(st, (enum coding)pick, false, m);
}

void
edge_compress_304(const struct cache_obj *stale, struct h1_response *resp)
{
	struct h1_header *h = NULL;
	struct str own, ce, tag;

	if (stale == NULL || resp->status != 304 ||
	    !cache_obj_header(stale, STR_LIT("Content-Encoding"), &ce) ||
	    !cache_obj_header(stale, STR_LIT("ETag"), &own))
		return;
	own = str_trim_ows(own);
	for (size_t i = 0; i < resp->n_headers && h == NULL; i++)
		if (str_eq_nocase(resp->headers[i].name, STR_LIT("ETag")))
			h = &resp->headers[i];
	if (h == NULL)
		return;
	tag = str_trim_ows(h->value);
	if (own.len == tag.len + 2 && own.p[0] == 'W' && own.p[1] == '/' && tag.len > 0 &&
	    tag.p[0] == '"' && memcmp(own.p + 2, tag.p, tag.len) == 0)
		h->value = own;
}

static int
compress_out(void *arg, const void *p, size_t len)
{
	return evbuffer_add(arg, p, len) == 0 ? 0 : -1;
}

static int
compress_check(struct edge_compress *z, int rc, const char *what)
{
	if (rc == 0)
		return 0;
	EDGE_COUNT(z->m, compression_errors_total);
	log_err("compress", "%s %s of an origin's body failed after %llu bytes in: %s; body cut",
	    coding_name(z->coding), what, (unsigned long long)coding_stream_in(z->st),
	    coding_strerror(rc));
	return rc;
}

int
edge_compress_feed(struct edge_compress *z, struct evbuffer *in, size_t n, struct evbuffer *out)
{
	const char *what = z->decode ? "decoding" : "coding";

	while (n > 0) {
		struct evbuffer_iovec v[8];
		int k = evbuffer_peek(in, (ev_ssize_t)n, NULL, v, 8);
		size_t done = 0;

		if (k <= 0)
			break;
		for (int i = 0; i < k && i < 8 && done < n; i++) {
			size_t len = v[i].iov_len < n - done ? v[i].iov_len : n - done;
			int rc = coding_stream_update(z->st, v[i].iov_base, len, compress_out, out);

			if (rc != 0)
				return compress_check(z, rc, what);
			done += len;
		}
		evbuffer_drain(in, done);
		n -= done;
	}
	return 0;
}

int
edge_compress_flush(struct edge_compress *z, struct evbuffer *out)
{
	return compress_check(z, coding_stream_flush(z->st, compress_out, out), "flush");
}

int
edge_compress_finish(struct edge_compress *z, struct evbuffer *out)
{
	return compress_check(
	    z, coding_stream_finish(z->st, compress_out, out), z->decode ? "decoding" : "coding");
}

void
edge_compress_free(struct edge_compress **zp)
{
	struct edge_compress *z = *zp;

	if (z == NULL)
		return;
	if (!z->decode) {
		edge_metrics_add(
		    z->m, EDGE_C_compression_input_bytes_total, coding_stream_in(z->st));
		edge_metrics_add(
		    z->m, EDGE_C_compression_output_bytes_total, coding_stream_out(z->st));
	}
	coding_stream_free(&z->st);
	free(z);
	*zp = NULL;
}
