/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/edge/test_edge_range.c — the range cutter (edge/edge_range.c):
 * random ascending range sets over random bodies, fed in random pieces, must
 * give exactly the bytes a stored answer gives: the slice, or the multipart
 * body with its framing, or a 416's text; Content-Length matches.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "edge/edge_range.h"
#include "tests/unit/tap.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t
rnd(uint64_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return n == 0 ? 0 : rng_state % n;
}

/* Feeds body[0..len) to the cutter in random pieces; returns what it wrote. */
static struct evbuffer *
cut_all(struct edge_range_cut *k, const char *body, size_t len, uint64_t *added)
{
	struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
	size_t off = 0;

	*added = edge_range_cut_feed(k, NULL, out, 0);
	while (off < len) {
		size_t n = 1 + (size_t)rnd(len - off < 700 ? len - off : 700);

		evbuffer_add(in, body + off, n);
		/* sometimes the origin's bytes arrive in two reads before a feed */
		if (off + n < len && rnd(4) == 0) {
			size_t m = 1 + (size_t)rnd(len - off - n < 50 ? len - off - n : 50);

			evbuffer_add(in, body + off + n, m);
			n += m;
		}
		*added += edge_range_cut_feed(k, in, out, n);
		if (evbuffer_get_length(in) != 0) {
			/* every fed byte is moved or drained: poison the output */
			evbuffer_add(out, "!left!", 6);
			evbuffer_drain(in, evbuffer_get_length(in));
		}
		off += n;
	}
	evbuffer_free(in);
	return out;
}

static int
same(struct evbuffer *a, struct evbuffer *b)
{
	size_t n = evbuffer_get_length(a);

	return n == evbuffer_get_length(b) &&
	       (n == 0 || memcmp(evbuffer_pullup(a, -1), evbuffer_pullup(b, -1), n) == 0);
}

static void
test_random_sets(void)
{
	int bad = 0, rounds = 2000;

	subtest("random ascending sets, random pieces");
	for (int round = 0; round < rounds; round++) {
		size_t len = 1 + (size_t)rnd(5000);
		char *body = malloc(len);
		struct range_set s = {0};
		struct edge_range_cut k;
		struct evbuffer *got, *want = evbuffer_new();
		struct str ctype = rnd(3) == 0 ? STR_NULL : STR_LIT("text/plain; charset=utf-8");
		uint64_t pos = 0, added;
		unsigned nr = 1 + (unsigned)rnd(5);

		for (size_t i = 0; i < len; i++)
			body[i] = (char)rnd(256);
		for (unsigned i = 0; i < nr && pos < len; i++) {
			uint64_t first = pos + rnd((len - pos) / 2 + 1);
			uint64_t last = first + rnd((len - first) / 2 + 1);

			if (first >= len)
				break;
			if (last >= len)
				last = len - 1;
			s.r[s.n++] = (struct range){first, last};
			pos = last + 2;
		}
		edge_range_cut_start(&k, RANGE_SATISFIABLE, &s, len, ctype);
		for (unsigned i = 0; i < s.n; i++) {
			if (s.n > 1)
				edge_range_part_head(want, k.boundary, ctype, &s.r[i], len);
			evbuffer_add(want, body + s.r[i].first, s.r[i].last - s.r[i].first + 1);
		}
		if (s.n > 1)
			edge_range_closing(want, k.boundary);
		got = cut_all(&k, body, len, &added);
		if (!same(got, want) || added != evbuffer_get_length(got) ||
		    k.body_len != evbuffer_get_length(want) || k.pos != len) {
			if (bad++ < 5)
				printf(
				    "# round %d: length %zu, %u ranges: got %zu bytes, want %zu, "
				    "Content-Length %llu\n",
				    round, len, s.n, evbuffer_get_length(got),
				    evbuffer_get_length(want), (unsigned long long)k.body_len);
		}
		edge_range_cut_end(&k);
		evbuffer_free(got);
		evbuffer_free(want);
		free(body);
	}
	is_int(bad, 0);
}

/* The cut's fields as HTTP/1.1 field lines. */
static void
cut_fields(const struct edge_range_cut *k, struct evbuffer *out)
{
	struct edge_resp_field f[EDGE_RANGE_FIELDS_MAX];
	char buf[EDGE_RANGE_FIELDS_BUF + 24];
	unsigned n = edge_range_cut_fields(k, f, buf);

	for (unsigned i = 0; i < n; i++)
		evbuffer_add_printf(out, "%.*s: %.*s\r\n", (int)f[i].name.len, f[i].name.p,
		    (int)f[i].value.len, f[i].value.p);
}

static void
test_fields_and_416(void)
{
	struct edge_range_cut k;
	struct range_set s = {1, {{2, 4}}};
	struct evbuffer *out = evbuffer_new(), *got;
	uint64_t added;
	char buf[512];
	size_t n;

	subtest("fields, 416");
	edge_range_cut_start(&k, RANGE_SATISFIABLE, &s, 10, STR_LIT("text/plain"));
	ok(!edge_range_cut_skips(&k, STR_LIT("Content-Type")),
	    "single: origin's Content-Type kept");
	cut_fields(&k, out);
	n = evbuffer_remove(out, buf, sizeof buf - 1);
	buf[n] = '\0';
	is_str(buf, "Content-Range: bytes 2-4/10\r\nContent-Length: 3\r\n");
	got = cut_all(&k, "0123456789", 10, &added);
	n = evbuffer_remove(got, buf, sizeof buf - 1);
	buf[n] = '\0';
	is_str(buf, "234");
	evbuffer_free(got);
	edge_range_cut_end(&k);
	ok(!k.active, "ended");

	edge_range_cut_start(&k, RANGE_UNSATISFIABLE, &s, 10, STR_LIT("text/plain"));
	is_int(k.status, 416);
	ok(edge_range_cut_skips(&k, STR_LIT("content-type")), "416: origin's Content-Type dropped");
	cut_fields(&k, out);
	n = evbuffer_remove(out, buf, sizeof buf - 1);
	buf[n] = '\0';
	is_str(buf, "Content-Range: bytes */10\r\nContent-Type: text/plain; charset=utf-8\r\n"
	            "Content-Length: 22\r\n");
	got = cut_all(&k, "0123456789", 10, &added);
	n = evbuffer_remove(got, buf, sizeof buf - 1);
	buf[n] = '\0';
	is_str(buf, "range not satisfiable\n");
	is_int(added, 22);
	evbuffer_free(got);
	edge_range_cut_end(&k);

	s = (struct range_set){2, {{0, 0}, {9, 9}}};
	edge_range_cut_start(&k, RANGE_SATISFIABLE, &s, 10, STR_NULL);
	ok(edge_range_cut_skips(&k, STR_LIT("Content-Type")), "multipart: origin's dropped");
	is_int(strlen(k.boundary), EDGE_RANGE_BOUNDARY_LEN);
	cut_fields(&k, out);
	n = evbuffer_remove(out, buf, sizeof buf - 1);
	buf[n] = '\0';
	ok(strncmp(buf, "Content-Type: multipart/byteranges; boundary=", 45) == 0,
	    "multipart Content-Type");
	got = cut_all(&k, "0123456789", 10, &added);
	n = evbuffer_remove(got, buf, sizeof buf - 1);
	buf[n] = '\0';
	{
		char want[512];

		snprintf(want, sizeof want,
		    "\r\n--%s\r\nContent-Range: bytes 0-0/10\r\n\r\n0"
		    "\r\n--%s\r\nContent-Range: bytes 9-9/10\r\n\r\n9\r\n--%s--\r\n",
		    k.boundary, k.boundary, k.boundary);
		is_str(buf, want);
		is_int(k.body_len, strlen(want));
	}
	evbuffer_free(got);
	edge_range_cut_end(&k);
	edge_range_cut_end(&k); /* idempotent */
	evbuffer_free(out);
}

static void
test_boundaries_differ(void)
{
	char a[EDGE_RANGE_BOUNDARY_LEN + 1], b[EDGE_RANGE_BOUNDARY_LEN + 1];

	subtest("boundaries");
	edge_range_boundary(a);
	edge_range_boundary(b);
	ok(strcmp(a, b) != 0, "two boundaries differ");
	ok(strspn(a, "0123456789abcdef") == EDGE_RANGE_BOUNDARY_LEN, "hex digits");
}

int
main(void)
{
	test_random_sets();
	test_fields_and_416();
	test_boundaries_differ();
	return tap_done();
}
