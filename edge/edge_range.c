/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_range.c — 206 / 416 framing and the range cutter (see
 * edge_range.h).
 *
 * The cutter keeps its offset in the whole body (pos) and the range it is
 * in (idx); ranges are ascending, so one pass over the body as it streams
 * suffices: bytes before a range are drained, bytes inside it move to the
 * client's buffer (evbuffer_remove_buffer: chunks move, nothing is copied),
 * and the framing due before a part goes out as its first byte does.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <openssl/rand.h>

#include "core/assert.h"
#include "edge/edge_range.h"

#define RANGE_416_TEXT "range not satisfiable\n"

void
edge_range_boundary(char out[EDGE_RANGE_BOUNDARY_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char rnd[EDGE_RANGE_BOUNDARY_LEN / 2];

	if (RAND_bytes(rnd, (int)sizeof rnd) != 1) {
		/* never fails once seeded; a fixed boundary is still valid */
		memset(rnd, 0x5a, sizeof rnd);
	}
	for (size_t i = 0; i < sizeof rnd; i++) {
		out[2 * i] = hex[rnd[i] >> 4];
		out[2 * i + 1] = hex[rnd[i] & 15];
	}
	out[EDGE_RANGE_BOUNDARY_LEN] = '\0';
}

size_t
edge_range_part_head(struct evbuffer *out, const char *boundary, struct str ctype,
    const struct range *r, uint64_t length)
{
	char cr[96];
	size_t blen = strlen(boundary);
	int n = snprintf(cr, sizeof cr, "Content-Range: bytes %llu-%llu/%llu\r\n\r\n",
	    (unsigned long long)r->first, (unsigned long long)r->last, (unsigned long long)length);

	ASSERT(n > 0 && (size_t)n < sizeof cr);
	if (out != NULL) {
		evbuffer_add(out, "\r\n--", 4);
		evbuffer_add(out, boundary, blen);
		evbuffer_add(out, "\r\n", 2);
		if (ctype.len > 0) {
			evbuffer_add(out, "Content-Type: ", 14);
			evbuffer_add(out, ctype.p, ctype.len);
			evbuffer_add(out, "\r\n", 2);
		}
		evbuffer_add(out, cr, (size_t)n);
	}
	return 4 + blen + 2 + (ctype.len > 0 ? 14 + ctype.len + 2 : 0) + (size_t)n;
}

size_t
edge_range_closing(struct evbuffer *out, const char *boundary)
{
	size_t blen = strlen(boundary);

	if (out != NULL) {
		evbuffer_add(out, "\r\n--", 4);
		evbuffer_add(out, boundary, blen);
		evbuffer_add(out, "--\r\n", 4);
	}
	return 4 + blen + 4;
}

uint64_t
edge_range_multipart_length(
    const char *boundary, struct str ctype, const struct range_set *s, uint64_t length)
{
	uint64_t total = edge_range_closing(NULL, boundary);

	for (unsigned i = 0; i < s->n; i++)
		total += edge_range_part_head(NULL, boundary, ctype, &s->r[i], length) +
		         (s->r[i].last - s->r[i].first + 1);
	return total;
}

/* ---- the cutter ---- */

void
edge_range_cut_start(struct edge_range_cut *k, enum range_result rr, const struct range_set *s,
    uint64_t length, struct str ctype)
{
	ASSERT(rr == RANGE_SATISFIABLE || rr == RANGE_UNSATISFIABLE);
	memset(k, 0, sizeof *k);
	k->active = true;
	k->length = length;
	if (rr == RANGE_UNSATISFIABLE) {
		k->status = 416;
		k->framing = evbuffer_new();
		evbuffer_add(k->framing, RANGE_416_TEXT, strlen(RANGE_416_TEXT));
		k->body_len = strlen(RANGE_416_TEXT);
		return;
	}
	ASSERT(s->n >= 1 && range_ascending(s));
	k->status = 206;
	k->set = *s;
	if (s->n == 1) {
		k->body_len = s->r[0].last - s->r[0].first + 1;
		return;
	}
	k->multipart = true;
	edge_range_boundary(k->boundary);
	k->framing = evbuffer_new();
	for (unsigned i = 0; i < s->n; i++)
		k->head_len[i] =
		    edge_range_part_head(k->framing, k->boundary, ctype, &s->r[i], length);
	edge_range_closing(k->framing, k->boundary);
	k->body_len = edge_range_multipart_length(k->boundary, ctype, s, length);
}

bool
edge_range_cut_skips(const struct edge_range_cut *k, struct str name)
{
	return k->active && (k->multipart || k->status == 416) &&
	       str_eq_nocase(name, STR_LIT("Content-Type"));
}

unsigned
edge_range_cut_fields(const struct edge_range_cut *k, struct edge_resp_field *f, char *buf)
{
	unsigned n = 0;
	int len;

	if (k->status == 416) {
		len = snprintf(
		    buf, EDGE_RANGE_FIELDS_BUF, "bytes */%llu", (unsigned long long)k->length);
		f[n++] =
		    (struct edge_resp_field){STR_LIT("Content-Range"), str_make(buf, (size_t)len)};
		buf += len;
		f[n++] = (struct edge_resp_field){
		    STR_LIT("Content-Type"), STR_LIT("text/plain; charset=utf-8")};
	} else if (k->multipart) {
		len = snprintf(
		    buf, EDGE_RANGE_FIELDS_BUF, "multipart/byteranges; boundary=%s", k->boundary);
		f[n++] =
		    (struct edge_resp_field){STR_LIT("Content-Type"), str_make(buf, (size_t)len)};
		buf += len;
	} else {
		len = snprintf(buf, EDGE_RANGE_FIELDS_BUF, "bytes %llu-%llu/%llu",
		    (unsigned long long)k->set.r[0].first, (unsigned long long)k->set.r[0].last,
		    (unsigned long long)k->length);
		f[n++] =
		    (struct edge_resp_field){STR_LIT("Content-Range"), str_make(buf, (size_t)len)};
		buf += len;
	}
	len = snprintf(buf, 24, "%llu", (unsigned long long)k->body_len);
	f[n++] = (struct edge_resp_field){STR_LIT("Content-Length"), str_make(buf, (size_t)len)};
	return n;
}

uint64_t
edge_range_cut_feed(struct edge_range_cut *k, struct evbuffer *in, struct evbuffer *out, size_t n)
{
	uint64_t added = 0;

	ASSERT(k->active && (in != NULL || n == 0));
	for (;;) {
		const struct range *r;
		uint64_t take;

		if (k->idx >= k->set.n) {
			/* past the last range: the closing framing, the rest is not wanted */
			if (k->framing != NULL && evbuffer_get_length(k->framing) > 0) {
				added += evbuffer_get_length(k->framing);
				evbuffer_add_buffer(out, k->framing);
			}
			if (n > 0) {
				evbuffer_drain(in, n);
				k->pos += n;
			}
			return added;
		}
		if (n == 0)
			return added;
		r = &k->set.r[k->idx];
		if (k->pos < r->first) {
			take = r->first - k->pos < n ? r->first - k->pos : n;
			evbuffer_drain(in, (size_t)take);
			k->pos += take;
			n -= (size_t)take;
			continue;
		}
		if (k->pos == r->first && k->multipart) {
			evbuffer_remove_buffer(k->framing, out, k->head_len[k->idx]);
			added += k->head_len[k->idx];
		}
		take = r->last + 1 - k->pos < n ? r->last + 1 - k->pos : n;
		evbuffer_remove_buffer(in, out, (size_t)take);
		k->pos += take;
		n -= (size_t)take;
		added += take;
		if (k->pos > r->last)
			k->idx++;
	}
}

void
edge_range_cut_end(struct edge_range_cut *k)
{
	if (k->framing != NULL)
		evbuffer_free(k->framing);
	k->framing = NULL;
	k->active = false;
}
