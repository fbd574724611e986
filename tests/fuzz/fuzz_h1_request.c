/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/fuzz/fuzz_h1_request.c — h1_parse_request on arbitrary bytes, under
 * two sets of limits.  Invariants: the status is a known one and errors map
 * to 400/414/431/505; on H1_OK every view lies inside the head, the derived
 * fields agree with the rules of RFC 9112 §3/§6, and parsing just the head
 * gives the same result; every prefix returns H1_AGAIN or the same result
 * (errors do not depend on how bytes arrive).  A chunked body that follows
 * is run through the decoder.
 */
#include "config.h"

#include <string.h>

#include "core/assert.h"
#include "core/h1.h"
#include "tests/fuzz/fuzz.h"

#define MAX_HDRS 32

static void
check_ok(const char *buf, size_t len, const struct h1_limits *lim, const struct h1_request *req,
    const struct h1_header *hdrs)
{
	size_t hl = req->head_len;

	ASSERT(hl > 0 && hl <= len && hl <= lim->max_head);
	ASSERT(req->headers == hdrs);
	ASSERT(req->n_headers <= lim->max_headers);
	ASSERT(req->minor == 0 || req->minor == 1);
	ASSERT(buf[hl - 2] == '\r' && buf[hl - 1] == '\n');
	ASSERT(req->method.len > 0 && fuzz_view_in(req->method, buf, hl));
	ASSERT(req->target.len > 0 && fuzz_view_in(req->target, buf, hl));
	ASSERT(req->target.len <= lim->max_request_line);
	for (size_t i = 0; i < req->method.len; i++)
		ASSERT(str_is_tchar((unsigned char)req->method.p[i]));
	for (size_t i = 0; i < req->target.len; i++)
		ASSERT(req->target.p[i] > 0x20 && req->target.p[i] < 0x7f);
	switch (req->form) {
	case H1_TARGET_ORIGIN:
		ASSERT(str_eq(req->path, req->target) && req->path.p[0] == '/');
		break;
	case H1_TARGET_ABSOLUTE:
		ASSERT(fuzz_view_within(req->scheme, req->target));
		ASSERT(fuzz_view_within(req->authority, req->target) && req->authority.len > 0);
		ASSERT(req->path.len > 0 && req->path.p[0] == '/');
		ASSERT(fuzz_view_within(req->path, req->target) || str_eq(req->path, STR_LIT("/")));
		break;
	case H1_TARGET_AUTHORITY:
		ASSERT(str_eq(req->method, STR_LIT("CONNECT")));
		ASSERT(str_eq(req->authority, req->target));
		break;
	case H1_TARGET_ASTERISK:
		ASSERT(str_eq(req->method, STR_LIT("OPTIONS")));
		ASSERT(str_eq(req->target, STR_LIT("*")));
		break;
	default:
		ASSERT(!"bad target form");
	}
	ASSERT(fuzz_view_in(req->authority, buf, hl));
	ASSERT(fuzz_view_within(req->host, req->authority));
	ASSERT(req->authority.len == 0 || req->host.len > 0);
	ASSERT(
	    req->authority.len == 0 || memchr(req->authority.p, '@', req->authority.len) == NULL);
	if (req->minor == 1)
		ASSERT(h1_header_find(hdrs, req->n_headers, STR_LIT("Host")) != NULL);
	for (size_t i = 0; i < req->n_headers; i++) {
		struct str n = hdrs[i].name, v = hdrs[i].value;

		ASSERT(n.len > 0 && fuzz_view_in(n, buf, hl));
		ASSERT(fuzz_view_in(v, buf, hl));
		for (size_t k = 0; k < n.len; k++)
			ASSERT(str_is_tchar((unsigned char)n.p[k]));
		if (v.len > 0) {
			ASSERT(v.p[0] != ' ' && v.p[0] != '\t');
			ASSERT(v.p[v.len - 1] != ' ' && v.p[v.len - 1] != '\t');
		}
		for (size_t k = 0; k < v.len; k++) {
			unsigned char c = (unsigned char)v.p[k];

			ASSERT(c == '\t' || (c >= 0x20 && c != 0x7f));
		}
	}
	switch (req->body) {
	case H1_BODY_NONE:
		ASSERT(h1_header_find(hdrs, req->n_headers, STR_LIT("Content-Length")) == NULL);
		ASSERT(h1_header_find(hdrs, req->n_headers, STR_LIT("Transfer-Encoding")) == NULL);
		break;
	case H1_BODY_LENGTH:
		ASSERT(h1_header_find(hdrs, req->n_headers, STR_LIT("Transfer-Encoding")) == NULL);
		break;
	case H1_BODY_CHUNKED:
		ASSERT(req->minor == 1);
		ASSERT(h1_header_find(hdrs, req->n_headers, STR_LIT("Content-Length")) == NULL);
		break;
	default:
		ASSERT(!"bad request body kind");
	}
	ASSERT(!req->expect_continue || req->minor == 1);
	for (size_t i = 0; i < req->n_headers; i++)
		(void)h1_is_hop_by_hop(hdrs[i].name, hdrs, req->n_headers);
}

static void
run(const char *buf, size_t len, const struct h1_limits *lim)
{
	struct h1_header hdrs[MAX_HDRS], hdrs2[MAX_HDRS];
	struct h1_request req, req2;
	enum h1_status st, st2;
	size_t cuts[3];

	st = h1_parse_request(buf, len, lim, hdrs, &req);
	ASSERT((unsigned)st <= H1_E_BAD_TRAILER);
	ASSERT(st != H1_E_BAD_STATUS_LINE && st != H1_E_BAD_CHUNK);
	ASSERT(st != H1_E_CHUNK_TOO_LARGE && st != H1_E_BAD_TRAILER);
	if (st > H1_AGAIN) {
		int http = h1_status_http(st);

		ASSERT(http == 400 || http == 414 || http == 431 || http == 505);
		ASSERT(h1_strerror(st) != NULL);
	}
	if (st == H1_AGAIN)
		ASSERT(len < lim->max_head);
	if (st == H1_OK) {
		check_ok(buf, len, lim, &req, hdrs);
		/* The head alone parses the same way. */
		st2 = h1_parse_request(buf, req.head_len, lim, hdrs2, &req2);
		ASSERT(st2 == H1_OK && req2.head_len == req.head_len);
		ASSERT(req2.n_headers == req.n_headers && req2.body == req.body);
		ASSERT(req2.keep_alive == req.keep_alive && req2.port == req.port);
		if (req.body == H1_BODY_CHUNKED) {
			struct h1_chunked c;
			const char *p = buf + req.head_len, *d;
			size_t n = len - req.head_len, used, dl;

			h1_chunked_init(&c);
			while (n > 0) {
				enum h1_status cs = h1_chunked_decode(&c, p, n, &used, &d, &dl);

				ASSERT(used <= n);
				ASSERT(dl == 0 || (d >= p && dl <= n && (size_t)(d - p) <= n - dl));
				p += used;
				n -= used;
				if (cs != H1_AGAIN)
					break;
				ASSERT(used > 0);
			}
		}
	}
	/* Prefixes: H1_AGAIN or the same answer. */
	cuts[0] = len / 2;
	cuts[1] = len > 0 ? len - 1 : 0;
	cuts[2] = st == H1_OK ? req.head_len - 1 : len / 3;
	for (int i = 0; i < 3; i++) {
		if (cuts[i] >= len)
			continue;
		st2 = h1_parse_request(buf, cuts[i], lim, hdrs2, &req2);
		ASSERT(st2 == H1_AGAIN || st2 == st);
		if (st == H1_OK && st2 == H1_OK)
			ASSERT(req2.head_len == req.head_len);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct h1_limits wide = {8192, 65536, MAX_HDRS};
	static const struct h1_limits tight = {40, 160, 4};

	run((const char *)data, size, &wide);
	run((const char *)data, size, &tight);
	return 0;
}
