/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/edge/test_edge_h2.c — the HTTP/2 server session (edge/edge_h2)
 * driven by an nghttp2 client session in memory, and by raw frames for what
 * a well-behaved client never sends: requests and responses with bodies,
 * flow control and backpressure, the RFC 9113 §8 rules, the defences
 * (rapid reset, CONTINUATION flood, HPACK bomb, control and empty DATA
 * floods, concurrent streams), drain and timeouts, the settings check.
 */
#include "config.h"

#include "tests/unit/edge/h2_peer.h"
#include "tests/unit/tap.h"

static struct edge_h2_conf conf;

static uint64_t
counter(struct h2p *c, enum edge_h2_counter i)
{
	return edge_h2_counters(c->srv)[i];
}

static void
test_get(void)
{
	struct h2p c;
	static const struct edge_h2_field extra[] = {
	    {STR_LIT("Connection"), STR_LIT("close")},
	    {STR_LIT("Transfer-Encoding"), STR_LIT("chunked")},
	    {STR_LIT("X-Served-By"), STR_LIT("outpost")},
	};
	int32_t id;

	subtest("GET with a body response");
	h2p_init(&c, &conf, NULL, 0, true);
	c.app.body_len = 5000;
	c.app.extra = extra;
	c.app.n_extra = 3;
	id = h2p_get(&c, "/a?b=c", "Example.com");
	h2p_pump(&c, 50);
	is_int(c.app.requests, 1);
	is_str(c.app.last_method, "GET");
	is_str(c.app.last_path, "/a?b=c");
	is_str(c.app.last_authority, "Example.com");
	ok(str_eq(c.app.last_req.scheme, STR_LIT("https")), "scheme https");
	is_int(c.app.last_req.content_length, -1);
	ok(c.app.last_req.end_stream, "no request body");
	is_int(h2p_st(&c, id)->status, 200);
	is_int(h2p_st(&c, id)->body, 5000);
	ok(h2p_st(&c, id)->end, "END_STREAM");
	ok(!h2p_st(&c, id)->bad_field, "no connection-specific nor uppercase field sent");
	is_int(h2p_st(&c, id)->rst, 0);
	is_int(c.app.closes, 1);
	is_int(c.app.last_close_code, 0);
	is_int(c.app.live_refs, 0);
	ok(c.app.max_live_refs >= 1, "the body went out by reference");
	is_int(counter(&c, EDGE_H2_C_REQUESTS), 1);
	is_int(counter(&c, EDGE_H2_C_BODY_BYTES_OUT), 5000);
	ok(!edge_h2_settings_pending(c.srv), "client acknowledged our SETTINGS");
	ok(edge_h2_idle(c.srv), "idle once the stream closed");
	ok(!edge_h2_done(c.srv), "connection stays open");

	/* the request's fields, and the body a HEAD-like empty response */
	c.app.body_len = 0;
	{
		nghttp2_nv nv[] = {
		    H2P_NV(":method", "GET"),
		    H2P_NV(":scheme", "https"),
		    H2P_NV(":path", "/c"),
		    H2P_NV("host", "h.example"),
		    H2P_NV("cookie", "a=1"),
		    H2P_NV("cookie", "b=2"),
		    H2P_NV("te", "trailers"),
		};
		id = nghttp2_submit_request(c.cli, NULL, nv, 7, NULL, NULL);
	}
	h2p_pump(&c, 50);
	is_int(c.app.requests, 2);
	is_str(c.app.last_authority, "h.example");
	is_int(c.app.last_req.n_fields, 3);
	is_int(h2p_st(&c, id)->status, 200);
	is_int(h2p_st(&c, id)->body, 0);
	ok(h2p_st(&c, id)->end, "empty response ended");
	h2p_fini(&c);
}

static ssize_t
post_read(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
    nghttp2_data_source *src, void *arg)
{
	size_t *left = src->ptr;
	size_t n = *left < len ? *left : len;

	(void)ng;
	(void)id;
	(void)arg;
	memset(buf, 'p', n);
	*left -= n;
	if (*left == 0)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

static int32_t
post(struct h2p *c, size_t *left, const char *cl)
{
	nghttp2_nv nv[] = {
	    H2P_NV(":method", "POST"),
	    H2P_NV(":scheme", "https"),
	    H2P_NV(":authority", "example.com"),
	    H2P_NV(":path", "/up"),
	    {(uint8_t *)(uintptr_t) "content-length", (uint8_t *)(uintptr_t)cl, 14, strlen(cl), 0},
	};
	nghttp2_data_provider prd = {.source.ptr = left, .read_callback = post_read};

	return nghttp2_submit_request(c->cli, NULL, nv, 5, &prd, NULL);
}

static void
test_post(void)
{
	struct h2p c;
	size_t left = 200000;
	int32_t id;

	subtest("POST with a body larger than the windows");
	h2p_init(&c, &conf, NULL, 0, true);
	c.app.body_len = 10;
	id = post(&c, &left, "200000");
	h2p_pump(&c, 500);
	is_int(c.app.requests, 1);
	is_str(c.app.last_method, "POST");
	is_int(c.app.last_req.content_length, 200000);
	ok(!c.app.last_req.end_stream, "a body follows");
	is_int(c.app.req_body_bytes, 200000);
	is_int(c.app.bodies_ended, 1);
	is_int(h2p_st(&c, id)->status, 200);
	ok(h2p_st(&c, id)->end, "response ended");
	is_int(left, 0);
	h2p_fini(&c);

	subtest("a request body the owner does not consume stops at the stream window");
	h2p_init(&c, &conf, NULL, 0, true);
	c.app.mode = H2P_HOLD;
	c.app.consume = false;
	left = 200000;
	id = post(&c, &left, "200000");
	h2p_pump(&c, 500);
	is_int(c.app.req_body_bytes, conf.stream_window_bytes);
	is_int(c.app.bodies_ended, 0);
	/* the owner takes what it has: the client may send as much again */
	edge_h2_consume(c.srv, c.app.last, c.app.req_body_bytes);
	h2p_pump(&c, 500);
	is_int(c.app.req_body_bytes, 2 * conf.stream_window_bytes);
	c.app.consume = true;
	edge_h2_consume(c.srv, c.app.last, c.app.req_body_bytes);
	h2p_pump(&c, 500);
	is_int(c.app.req_body_bytes, 200000);
	is_int(c.app.bodies_ended, 1);
	h2p_app_respond(&c.app, c.app.last);
	h2p_pump(&c, 50);
	is_int(h2p_st(&c, id)->status, 200);
	h2p_fini(&c);

	subtest("content-length and DATA disagree: stream error (RFC 9113 §8.1.1)");
	h2p_init(&c, &conf, NULL, 0, true);
	c.app.mode = H2P_HOLD;
	left = 1000;
	id = post(&c, &left, "999");
	h2p_pump(&c, 50);
	is_int(h2p_st(&c, id)->rst, NGHTTP2_PROTOCOL_ERROR);
	is_int(c.app.closes, 1);
	is_int(c.app.last_close_code, NGHTTP2_PROTOCOL_ERROR);
	h2p_fini(&c);
}

static void
test_flow_control(void)
{
	struct h2p c;
	nghttp2_settings_entry iv = {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1000};
	int32_t a, b;

	subtest("a large body with a small window resumes after WINDOW_UPDATE");
	h2p_init(&c, &conf, &iv, 1, false);
	c.app.body_len = 300000;
	c.app.chunk = 16384;
	a = h2p_get(&c, "/a", "example.com");
	b = h2p_get(&c, "/b", "example.com");
	h2p_pump(&c, 100);
	is_int(h2p_st(&c, a)->status, 200);
	is_int(h2p_st(&c, a)->body, 1000);
	is_int(h2p_st(&c, b)->body, 1000);
	ok(c.app.paused[h2p_slot(a)] && c.app.paused[h2p_slot(b)], "both producers paused");
	ok(c.app.sent[h2p_slot(a)] <= 1000 + conf.stream_buffer_bytes + 16384,
	    "queued no more than the stream buffer");
	ok(c.app.live_refs > 0, "queued bodies hold references");

	/* b's window opens (and the connection's): b finishes, a stays */
	nghttp2_submit_window_update(c.cli, NGHTTP2_FLAG_NONE, b, 400000);
	nghttp2_submit_window_update(c.cli, NGHTTP2_FLAG_NONE, 0, 1000000);
	h2p_pump(&c, 500);
	is_int(h2p_st(&c, b)->body, 300000);
	ok(h2p_st(&c, b)->end, "b ended");
	is_int(h2p_st(&c, a)->body, 1000);
	ok(!h2p_st(&c, a)->end, "a still waits for its window");
	ok(c.app.writables >= 2, "b's producer resumed on on_writable");

	nghttp2_submit_window_update(c.cli, NGHTTP2_FLAG_NONE, a, 400000);
	h2p_pump(&c, 500);
	is_int(h2p_st(&c, a)->body, 300000);
	ok(h2p_st(&c, a)->end, "a ended");
	is_int(c.app.closes, 2);
	is_int(c.app.live_refs, 0);
	h2p_fini(&c);

	subtest("output is produced only while the socket takes it");
	h2p_init(&c, &conf, NULL, 0, true);
	c.app.body_len = 60000;
	a = h2p_get(&c, "/a", "example.com");
	{
		const uint8_t *p;
		ssize_t n;

		while ((n = nghttp2_session_mem_send(c.cli, &p)) > 0)
			edge_h2_recv(c.srv, p, (size_t)n);
	}
	edge_h2_send(c.srv);
	ok(evbuffer_get_length(c.out) < conf.out_buffer_bytes + 16384 + 9,
	    "output bounded by out_buffer_bytes (one frame past it at most)");
	/* the body is all framed: the output holds it by reference, one per
	 * DATA frame (60000 bytes in frames of 16384) */
	is_int(c.app.live_refs, 4);
	h2p_pump(&c, 100);
	is_int(h2p_st(&c, a)->body, 60000);
	h2p_fini(&c);

	subtest("a stream reset while its body is queued lets its references go");
	h2p_init(&c, &conf, &iv, 1, false);
	c.app.body_len = 100000;
	c.app.chunk = 8192;
	a = h2p_get(&c, "/a", "example.com");
	h2p_pump(&c, 50);
	ok(c.app.live_refs > 0, "body queued");
	nghttp2_submit_rst_stream(c.cli, NGHTTP2_FLAG_NONE, a, NGHTTP2_CANCEL);
	h2p_pump(&c, 50);
	is_int(c.app.closes, 1);
	is_int(c.app.last_close_code, NGHTTP2_CANCEL);
	is_int(c.app.live_refs, 0);
	is_int(counter(&c, EDGE_H2_C_RESETS_RECV), 1);
	h2p_fini(&c);
}

static void
test_concurrency(void)
{
	struct h2p c;
	int32_t ids[100];
	int good = 0;

	subtest("100 streams on one connection");
	h2p_init(&c, &conf, NULL, 0, true);
	c.app.body_len = 20000;
	for (int i = 0; i < 100; i++)
		ids[i] = h2p_get(&c, "/x", "example.com");
	h2p_pump(&c, 2000);
	for (int i = 0; i < 100; i++)
		good += h2p_st(&c, ids[i])->status == 200 && h2p_st(&c, ids[i])->body == 20000 &&
		        h2p_st(&c, ids[i])->end;
	is_int(good, 100);
	is_int(c.app.requests, 100);
	is_int(c.app.live_refs, 0);
	h2p_fini(&c);

	subtest("max_concurrent_streams: the stream past it is refused");
	conf.max_concurrent_streams = 4;
	h2r_init(&c, &conf);
	c.app.mode = H2P_HOLD;
	for (int i = 0; i < 5; i++) {
		static const char *const kv[] = {":method", "GET", ":scheme", "https", ":authority",
		    "example.com", ":path", "/", NULL};

		h2r_headers(&c, 1 + 2 * i, kv, true);
	}
	h2p_pump(&c, 20);
	is_int(c.app.requests, 4);
	is_int(h2p_st(&c, 9)->rst, NGHTTP2_REFUSED_STREAM);
	is_int(c.goaways, 0);
	h2p_fini(&c);
	conf.max_concurrent_streams = 100;
}

struct bad_case {
	const char *what;
	const char *kv[24];
};

static const struct bad_case bad_cases[] = {
    {"no :method", {":scheme", "https", ":authority", "a", ":path", "/", NULL}},
    {"no :scheme", {":method", "GET", ":authority", "a", ":path", "/", NULL}},
    {"no :path", {":method", "GET", ":scheme", "https", ":authority", "a", NULL}},
    {"empty :path", {":method", "GET", ":scheme", "https", ":authority", "a", ":path", "", NULL}},
    {"relative :path",
        {":method", "GET", ":scheme", "https", ":authority", "a", ":path", "x", NULL}},
    {"* :path on GET",
        {":method", "GET", ":scheme", "https", ":authority", "a", ":path", "*", NULL}},
    {"unknown pseudo", {":method", "GET", ":scheme", "https", ":path", "/", ":foo", "1", NULL}},
    {"response pseudo",
        {":method", "GET", ":scheme", "https", ":path", "/", ":status", "200", NULL}},
    {"repeated :path", {":method", "GET", ":scheme", "https", ":path", "/", ":path", "/b", NULL}},
    {"pseudo after a field",
        {":method", "GET", ":scheme", "https", "x-a", "1", ":path", "/", NULL}},
    {"uppercase name", {":method", "GET", ":scheme", "https", ":path", "/", "X-Foo", "1", NULL}},
    {"connection",
        {":method", "GET", ":scheme", "https", ":path", "/", "connection", "close", NULL}},
    {"keep-alive", {":method", "GET", ":scheme", "https", ":path", "/", "keep-alive", "1", NULL}},
    {"proxy-connection",
        {":method", "GET", ":scheme", "https", ":path", "/", "proxy-connection", "x", NULL}},
    {"transfer-encoding",
        {":method", "GET", ":scheme", "https", ":path", "/", "transfer-encoding", "chunked", NULL}},
    {"upgrade", {":method", "GET", ":scheme", "https", ":path", "/", "upgrade", "h2c", NULL}},
    {"te other than trailers",
        {":method", "GET", ":scheme", "https", ":path", "/", "te", "gzip", NULL}},
    {"Host names another authority", {":method", "GET", ":scheme", "https", ":authority",
                                         "a.example", ":path", "/", "host", "b.example", NULL}},
    {"two Host fields",
        {":method", "GET", ":scheme", "https", ":path", "/", "host", "a", "host", "a", NULL}},
    {"CR in a value",
        {":method", "GET", ":scheme", "https", ":path", "/", "x-a", "1\r\nx-b: 2", NULL}},
    {"space in a name", {":method", "GET", ":scheme", "https", ":path", "/", "x a", "1", NULL}},
    {"two content-lengths", {":method", "GET", ":scheme", "https", ":path", "/", "content-length",
                                "1", "content-length", "2", NULL}},
    {"content-length not a number",
        {":method", "GET", ":scheme", "https", ":path", "/", "content-length", "1x", NULL}},
    {"CONNECT with :path", {":method", "CONNECT", ":authority", "a:443", ":path", "/", NULL}},
};

static const struct bad_case good_cases[] = {
    {"te: trailers", {":method", "GET", ":scheme", "https", ":authority", "a", ":path", "/", "te",
                         "trailers", NULL}},
    {"Host equal to :authority", {":method", "GET", ":scheme", "https", ":authority", "A.example",
                                     ":path", "/", "host", "a.EXAMPLE", NULL}},
    {"OPTIONS *",
        {":method", "OPTIONS", ":scheme", "https", ":authority", "a", ":path", "*", NULL}},
    {"Host without :authority",
        {":method", "GET", ":scheme", "http", ":path", "/p", "host", "h.example", NULL}},
};

/* A raw POST on stream 1 with a 3-byte body and a trailer field called
 * name, answered later. */
static void
post_with_trailers(struct h2p *c, const char *name)
{
	static const char *const kv[] = {
	    ":method", "POST", ":scheme", "https", ":authority", "a", ":path", "/", NULL};
	const char *tr[] = {name, "1", NULL};

	h2r_init(c, &conf);
	c->app.mode = H2P_HOLD;
	h2r_headers(c, 1, kv, false);
	h2r_frame(c, NGHTTP2_DATA, 0, 1, "abc", 3);
	h2r_headers(c, 1, tr, true);
	h2p_pump(c, 20);
}

static void
test_invalid(void)
{
	struct h2p c;

	subtest("malformed requests: stream error PROTOCOL_ERROR, not handed on");
	for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
		char what[128];

		h2r_init(&c, &conf);
		h2r_headers(&c, 1, bad_cases[i].kv, true);
		h2p_pump(&c, 20);
		snprintf(what, sizeof what, "%s: RST_STREAM PROTOCOL_ERROR, no request",
		    bad_cases[i].what);
		ok(h2p_st(&c, 1)->rst == NGHTTP2_PROTOCOL_ERROR && c.app.requests == 0 &&
		        c.goaways == 0 && counter(&c, EDGE_H2_C_MALFORMED) == 1,
		    what);
		if (h2p_st(&c, 1)->rst != NGHTTP2_PROTOCOL_ERROR || c.app.requests != 0)
			printf("#   rst %u, requests %u, goaways %u\n", h2p_st(&c, 1)->rst,
			    c.app.requests, c.goaways);
		/* the connection goes on: a valid request after it */
		{
			static const char *const kv[] = {":method", "GET", ":scheme", "https",
			    ":authority", "a", ":path", "/", NULL};

			h2r_headers(&c, 3, kv, true);
			h2p_pump(&c, 20);
			snprintf(what, sizeof what, "%s: the next request is answered",
			    bad_cases[i].what);
			ok(h2p_st(&c, 3)->status == 200 && c.app.requests == 1, what);
		}
		h2p_fini(&c);
	}
	for (size_t i = 0; i < sizeof good_cases / sizeof good_cases[0]; i++) {
		char what[128];

		h2r_init(&c, &conf);
		h2r_headers(&c, 1, good_cases[i].kv, true);
		h2p_pump(&c, 20);
		snprintf(what, sizeof what, "%s: answered", good_cases[i].what);
		ok(h2p_st(&c, 1)->status == 200 && c.app.requests == 1, what);
		h2p_fini(&c);
	}

	subtest("trailers with a pseudo-header: malformed");
	post_with_trailers(&c, ":path");
	is_int(c.app.requests, 1);
	is_int(h2p_st(&c, 1)->rst, NGHTTP2_PROTOCOL_ERROR);
	is_int(c.app.closes, 1);
	h2p_fini(&c);

	subtest("trailers end the request body");
	post_with_trailers(&c, "x-checksum");
	is_int(c.app.req_body_bytes, 3);
	is_int(c.app.bodies_ended, 1);
	is_int(h2p_st(&c, 1)->rst, 0);
	h2p_fini(&c);
}

static const char *const get_kv[] = {
    ":method", "GET", ":scheme", "https", ":authority", "a", ":path", "/", NULL};

/* RFC 9113 §5.1, §5.1.1, §5.3.1: frames nghttp2 would drop silently. */
static void
test_stream_ids(void)
{
	struct h2p c;
	static const uint8_t self1[5] = {0, 0, 0, 1, 16}; /* depends on stream 1 */
	static const uint8_t self5[5] = {0, 0, 0, 5, 16};

	subtest("HEADERS on a stream id below one already used: PROTOCOL_ERROR");
	h2r_init(&c, &conf);
	h2r_headers(&c, 5, get_kv, true);
	h2p_pump(&c, 20);
	is_int(h2p_st(&c, 5)->status, 200);
	h2r_headers(&c, 3, get_kv, true);
	h2p_pump(&c, 20);
	ok(c.goaways == 1 && c.goaway_code == NGHTTP2_PROTOCOL_ERROR, "GOAWAY PROTOCOL_ERROR");
	is_int(c.app.requests, 1);
	h2p_fini(&c);

	subtest("DATA on a closed stream: STREAM_CLOSED");
	h2r_init(&c, &conf);
	h2r_headers(&c, 1, get_kv, true);
	h2p_pump(&c, 20);
	is_int(h2p_st(&c, 1)->status, 200);
	h2r_frame(&c, NGHTTP2_DATA, 0, 1, "late", 4);
	h2p_pump(&c, 20);
	ok(c.goaways == 1 && c.goaway_code == NGHTTP2_STREAM_CLOSED, "GOAWAY STREAM_CLOSED");
	h2p_fini(&c);

	subtest("DATA on a stream this side reset: ignored");
	h2r_init(&c, &conf);
	h2r_headers(&c, 1, bad_cases[0].kv, false); /* malformed: reset by the node */
	h2p_pump(&c, 20);
	is_int(h2p_st(&c, 1)->rst, NGHTTP2_PROTOCOL_ERROR);
	h2r_frame(&c, NGHTTP2_DATA, NGHTTP2_FLAG_END_STREAM, 1, "body", 4);
	h2r_headers(&c, 3, get_kv, true);
	h2p_pump(&c, 20);
	ok(c.goaways == 0 && h2p_st(&c, 3)->status == 200, "no GOAWAY; the next request served");
	h2p_fini(&c);

	subtest("a stream depending on itself: PROTOCOL_ERROR");
	h2r_init(&c, &conf);
	h2r_frame(&c, NGHTTP2_PRIORITY, 0, 1, self1, sizeof self1);
	h2p_pump(&c, 20);
	ok(c.goaways == 1 && c.goaway_code == NGHTTP2_PROTOCOL_ERROR,
	    "PRIORITY on an idle stream: GOAWAY PROTOCOL_ERROR");
	h2p_fini(&c);
	h2r_init(&c, &conf);
	c.app.mode = H2P_HOLD;
	h2r_headers(&c, 5, get_kv, true);
	h2p_pump(&c, 20);
	h2r_frame(&c, NGHTTP2_PRIORITY, 0, 5, self5, sizeof self5);
	h2p_pump(&c, 20);
	ok(h2p_st(&c, 5)->rst == NGHTTP2_PROTOCOL_ERROR && c.goaways == 0,
	    "PRIORITY on an open stream: RST_STREAM PROTOCOL_ERROR");
	h2p_fini(&c);
}

/* n streams from id on, each opened and reset at once; the next id. */
static int32_t
open_and_reset(struct h2p *c, int32_t id, int n)
{
	for (int i = 0; i < n; i++, id += 2) {
		h2r_headers(c, id, get_kv, true);
		h2r_rst(c, id, NGHTTP2_CANCEL);
	}
	return id;
}

static void
test_rapid_reset(void)
{
	struct h2p c;
	int32_t id = 1;

	subtest("rapid reset: resets over the budget end the connection (CVE-2023-44487)");
	conf.reset_budget = 10;
	h2r_init(&c, &conf);
	c.app.mode = H2P_HOLD;
	h2p_clock_ms = 1000;
	id = open_and_reset(&c, id, 10);
	h2p_pump(&c, 20);
	is_int(c.goaways, 0);
	is_int(c.app.requests, 10);
	is_int(counter(&c, EDGE_H2_C_RESETS_RECV), 10);
	/* the next window has a budget of its own */
	h2p_clock_ms += conf.reset_window_ms;
	id = open_and_reset(&c, id, 10);
	h2p_pump(&c, 20);
	is_int(c.goaways, 0);
	/* one more in the same window, and a flood behind it */
	open_and_reset(&c, id, 50);
	h2p_pump(&c, 20);
	is_int(c.goaways, 1);
	is_int(c.goaway_code, NGHTTP2_ENHANCE_YOUR_CALM);
	is_int(c.srv_rv, EDGE_H2_E_CALM);
	is_int(counter(&c, EDGE_H2_C_RAPID_RESET), 1);
	is_int(c.app.requests, 21);
	ok(edge_h2_done(c.srv), "nothing more read nor written");
	h2p_fini(&c);
	conf.reset_budget = 100;

	subtest("resets of streams already answered do not count");
	conf.reset_budget = 5;
	h2r_init(&c, &conf);
	for (int i = 0, sid = 1; i < 20; i++, sid += 2) {
		h2r_headers(&c, sid, get_kv, true);
		h2p_pump(&c, 5);
		h2r_rst(&c, sid, NGHTTP2_CANCEL);
	}
	h2p_pump(&c, 20);
	is_int(c.goaways, 0);
	is_int(c.app.requests, 20);
	h2p_fini(&c);

	/* a response ended by an empty DATA frame while the request body
	 * still comes: the client's reset then is no rapid reset */
	h2r_init(&c, &conf);
	c.app.mode = H2P_HOLD;
	{
		static const char *const kv[] = {
		    ":method", "POST", ":scheme", "https", ":authority", "a", ":path", "/", NULL};

		h2r_headers(&c, 1, kv, false);
	}
	h2p_pump(&c, 5);
	is_int(edge_h2_send_head(c.srv, c.app.last, 200, NULL, 0, false), 0);
	is_int(edge_h2_send_body(c.srv, c.app.last, NULL, 0, NULL, NULL, NULL, true), 0);
	h2p_pump(&c, 5);
	ok(h2p_st(&c, 1)->end, "response ended");
	h2r_rst(&c, 1, NGHTTP2_CANCEL);
	h2p_pump(&c, 5);
	is_int(counter(&c, EDGE_H2_C_RESETS_RECV), 0);
	is_int(c.app.closes, 1);
	h2p_fini(&c);
	conf.reset_budget = 100;
}

/* A header block of n fields "x-fNNN: value" split into frames of at most
 * frag bytes: HEADERS then CONTINUATIONs, the last with END_HEADERS. */
static void
split_block(struct h2p *c, int32_t id, unsigned n, size_t vlen, size_t frag, bool end_headers)
{
	static char names[256][8];
	static char value[8192];
	static const char *kv[2 * 256 + 10];
	static uint8_t buf[1 << 20];
	size_t k = 0, len, off = 0;

	memset(value, 'v', vlen);
	value[vlen] = 0;
	kv[k++] = ":method", kv[k++] = "GET", kv[k++] = ":scheme", kv[k++] = "https";
	kv[k++] = ":authority", kv[k++] = "a", kv[k++] = ":path", kv[k++] = "/";
	for (unsigned i = 0; i < n && i < 200; i++) {
		snprintf(names[i], sizeof names[i], "x-f%03u", i);
		kv[k++] = names[i];
		kv[k++] = value;
	}
	kv[k] = NULL;
	len = 0;
	/* h2r_block takes 64 pairs at most: encode in runs */
	for (size_t j = 0; j < k; j += 2 * 60) {
		const char *run[2 * 60 + 1];
		size_t m = k - j < 2 * 60 ? k - j : 2 * 60;

		memcpy(run, kv + j, m * sizeof *run);
		run[m] = NULL;
		len += h2r_block(c, run, buf + len, sizeof buf - len);
	}
	while (off < len || off == 0) {
		size_t n1 = len - off < frag ? len - off : frag;
		bool last = off + n1 == len;

		h2r_frame(c, off == 0 ? NGHTTP2_HEADERS : NGHTTP2_CONTINUATION,
		    (uint8_t)((last && end_headers ? NGHTTP2_FLAG_END_HEADERS : 0) |
		              (off == 0 ? NGHTTP2_FLAG_END_STREAM : 0)),
		    id, buf + off, n1);
		off += n1;
		if (off == len)
			break;
	}
}

static void
test_header_limits(void)
{
	struct h2p c;

	subtest("CONTINUATION flood: bounded by max_continuations (CVE-2024-27316)");
	h2r_init(&c, &conf);
	/* 200 fields in 10-byte fragments: some 300 CONTINUATIONs, never ended */
	split_block(&c, 1, 200, 4, 10, false);
	{
		size_t sent = evbuffer_get_length(c.raw);

		h2p_pump(&c, 20);
		ok(sent > 2000, "a long flood was sent");
	}
	is_int(c.app.requests, 0);
	is_int(c.goaways, 1);
	ok(c.goaway_code != NGHTTP2_NO_ERROR, "GOAWAY with an error");
	ok(edge_h2_done(c.srv), "connection over");
	h2p_fini(&c);

	subtest("a header block within max_continuations is accepted");
	h2r_init(&c, &conf);
	split_block(&c, 1, 20, 100, 1000, true);
	h2p_pump(&c, 20);
	is_int(c.app.requests, 1);
	is_int(c.app.last_req.n_fields, 20);
	is_int(h2p_st(&c, 1)->status, 200);
	h2p_fini(&c);

	subtest("a head over max_header_list_bytes: 431");
	conf.max_header_list_bytes = 4096;
	h2r_init(&c, &conf);
	split_block(&c, 1, 10, 1000, 4000, true);
	h2p_pump(&c, 20);
	is_int(c.app.requests, 0);
	is_int(h2p_st(&c, 1)->status, 431);
	is_int(counter(&c, EDGE_H2_C_TOO_LARGE), 1);
	is_int(c.goaways, 0);
	/* the next one, smaller, passes (HPACK state kept) */
	split_block(&c, 3, 2, 1000, 4000, true);
	h2p_pump(&c, 20);
	is_int(c.app.requests, 1);
	is_int(h2p_st(&c, 3)->status, 200);
	h2p_fini(&c);
	conf.max_header_list_bytes = 65536;

	subtest("a head over max_header_fields: 431");
	conf.max_header_fields = 16;
	h2r_init(&c, &conf);
	split_block(&c, 1, 17, 2, 16384, true);
	h2p_pump(&c, 20);
	is_int(c.app.requests, 0);
	is_int(h2p_st(&c, 1)->status, 431);
	split_block(&c, 3, 16, 2, 16384, true);
	h2p_pump(&c, 20);
	is_int(c.app.requests, 1);
	h2p_fini(&c);
	conf.max_header_fields = 100;

	subtest("HPACK bomb: one indexed 2000-byte field referenced 40 times");
	conf.max_header_list_bytes = 16384;
	h2r_init(&c, &conf);
	{
		static char big[2001];
		static const char *kv[2 * 44 + 1];
		uint8_t buf[8192];
		nghttp2_nv nv[44];
		size_t n = 0;
		ssize_t len;

		memset(big, 'b', 2000);
		kv[0] = ":method", kv[1] = "GET", kv[2] = ":scheme", kv[3] = "https";
		kv[4] = ":authority", kv[5] = "a", kv[6] = ":path", kv[7] = "/";
		for (size_t i = 8; i < 2 * 44; i += 2)
			kv[i] = "x-big", kv[i + 1] = big;
		for (size_t i = 0; i < 44; i++, n++)
			nv[n] = (nghttp2_nv){(uint8_t *)(uintptr_t)kv[2 * i],
			    (uint8_t *)(uintptr_t)kv[2 * i + 1], strlen(kv[2 * i]),
			    strlen(kv[2 * i + 1]), NGHTTP2_NV_FLAG_NONE}; /* indexed */
		len = nghttp2_hd_deflate_hd(c.def, buf, sizeof buf, nv, n);
		ok(len > 0 && len < 2200, "40 copies cost one (the rest are indexes)");
		h2r_frame(&c, NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM,
		    1, buf, (size_t)len);
	}
	h2p_pump(&c, 20);
	is_int(c.app.requests, 0);
	is_int(h2p_st(&c, 1)->status, 431);
	h2p_fini(&c);
	conf.max_header_list_bytes = 65536;
}

static void
test_floods(void)
{
	static const char *const kv[] = {
	    ":method", "POST", ":scheme", "https", ":authority", "a", ":path", "/", NULL};
	struct h2p c;
	uint8_t ping[8] = {0};

	h2p_clock_ms = 5000;
	subtest("PING flood: GOAWAY ENHANCE_YOUR_CALM");
	conf.control_budget = 50;
	h2r_init(&c, &conf);
	/* the client's SETTINGS and 49 PINGs: within the budget */
	for (int i = 0; i < 49; i++)
		h2r_frame(&c, NGHTTP2_PING, 0, 0, ping, 8);
	h2p_pump(&c, 20);
	is_int(c.goaways, 0);
	is_int(c.ping_acks, 49);
	for (int i = 0; i < 1000; i++)
		h2r_frame(&c, NGHTTP2_PING, 0, 0, ping, 8);
	h2p_pump(&c, 20);
	is_int(c.goaways, 1);
	is_int(c.goaway_code, NGHTTP2_ENHANCE_YOUR_CALM);
	is_int(counter(&c, EDGE_H2_C_FLOOD), 1);
	ok(c.ping_acks < 60, "the flood was not answered");
	h2p_fini(&c);

	subtest("SETTINGS flood: GOAWAY ENHANCE_YOUR_CALM");
	h2r_init(&c, &conf);
	for (int i = 0; i < 200; i++)
		h2r_frame(&c, NGHTTP2_SETTINGS, 0, 0, NULL, 0);
	h2p_pump(&c, 20);
	is_int(c.goaways, 1);
	is_int(c.goaway_code, NGHTTP2_ENHANCE_YOUR_CALM);
	h2p_fini(&c);

	subtest("PRIORITY flood: GOAWAY ENHANCE_YOUR_CALM");
	h2r_init(&c, &conf);
	for (int i = 0; i < 200; i++) {
		uint8_t pr[5] = {0, 0, 0, 0, 16};

		h2r_frame(&c, NGHTTP2_PRIORITY, 0, 1 + 2 * i, pr, 5);
	}
	h2p_pump(&c, 20);
	is_int(c.goaways, 1);
	is_int(c.goaway_code, NGHTTP2_ENHANCE_YOUR_CALM);
	h2p_fini(&c);

	subtest("PRIORITY_UPDATE flood (RFC 9218): GOAWAY ENHANCE_YOUR_CALM");
	h2r_init(&c, &conf);
	for (int i = 0; i < 200; i++) {
		uint8_t pu[7] = {0, 0, 0, (uint8_t)(1 + 2 * (i % 50)), 'u', '=', '3'};

		h2r_frame(&c, NGHTTP2_PRIORITY_UPDATE, 0, 0, pu, 7);
	}
	h2p_pump(&c, 20);
	is_int(c.goaways, 1);
	is_int(c.goaway_code, NGHTTP2_ENHANCE_YOUR_CALM);
	h2p_fini(&c);
	conf.control_budget = 1000;

	subtest("empty DATA flood: GOAWAY ENHANCE_YOUR_CALM");
	conf.empty_data_budget = 20;
	h2r_init(&c, &conf);
	c.app.mode = H2P_HOLD;
	h2r_headers(&c, 1, kv, false);
	for (int i = 0; i < 20; i++)
		h2r_frame(&c, NGHTTP2_DATA, 0, 1, NULL, 0);
	h2p_pump(&c, 20);
	is_int(c.goaways, 0);
	for (int i = 0; i < 500; i++)
		h2r_frame(&c, NGHTTP2_DATA, 0, 1, NULL, 0);
	h2p_pump(&c, 20);
	is_int(c.goaways, 1);
	is_int(c.goaway_code, NGHTTP2_ENHANCE_YOUR_CALM);
	is_int(c.app.closes, 0);
	h2p_fini(&c);
	conf.empty_data_budget = 100;

	subtest("a bad preface: no session");
	h2r_init(&c, &conf);
	evbuffer_drain(c.raw, evbuffer_get_length(c.raw));
	evbuffer_add(c.raw, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 27);
	h2p_pump(&c, 5);
	is_int(c.srv_rv, EDGE_H2_E_PROTO);
	is_int(c.app.requests, 0);
	h2p_fini(&c);
}

static void
test_drain_and_timeouts(void)
{
	struct h2p c;
	int32_t a, b;

	subtest("drain: GOAWAY 2^31-1, PING, then the last stream taken; it finishes");
	h2p_init(&c, &conf, NULL, 0, true);
	c.app.mode = H2P_HOLD;
	a = h2p_get(&c, "/a", "example.com");
	h2p_pump(&c, 20);
	is_int(c.app.requests, 1);
	edge_h2_drain(c.srv);
	edge_h2_drain(c.srv);
	h2p_pump(&c, 20);
	is_int(c.goaways, 2);
	is_int(c.goaway_last, a);
	is_int(c.goaway_code, NGHTTP2_NO_ERROR);
	ok(!edge_h2_done(c.srv), "a stream still open");
	b = h2p_get(&c, "/b", "example.com");
	h2p_pump(&c, 20);
	ok(b < 0 || c.app.requests == 1, "no stream after the last taken");
	h2p_app_respond(&c.app, c.app.last);
	h2p_pump(&c, 20);
	is_int(h2p_st(&c, a)->status, 200);
	ok(h2p_st(&c, a)->end, "the stream in flight finished");
	ok(edge_h2_done(c.srv), "then the connection is done");
	is_int(counter(&c, EDGE_H2_C_GOAWAY_SENT), 2);
	h2p_fini(&c);

	subtest("settings and idle timeouts");
	h2r_init(&c, &conf);
	h2p_pump(&c, 5);
	ok(edge_h2_settings_pending(c.srv), "raw client did not acknowledge");
	ok(edge_h2_idle(c.srv), "idle");
	edge_h2_timeout(c.srv, EDGE_H2_TIMEOUT_SETTINGS);
	h2p_pump(&c, 5);
	is_int(c.goaways, 1);
	is_int(c.goaway_code, NGHTTP2_SETTINGS_TIMEOUT);
	ok(edge_h2_done(c.srv), "done");
	h2p_fini(&c);

	h2p_init(&c, &conf, NULL, 0, true);
	h2p_pump(&c, 5);
	edge_h2_timeout(c.srv, EDGE_H2_TIMEOUT_IDLE);
	h2p_pump(&c, 5);
	is_int(c.goaways, 1);
	is_int(c.goaway_code, NGHTTP2_NO_ERROR);
	ok(edge_h2_done(c.srv), "done");
	h2p_fini(&c);
}

static void
test_api(void)
{
	struct edge_h2_conf k;
	char err[128];
	struct h2p c;

	subtest("settings check");
	edge_h2_conf_defaults(&k);
	is_int(edge_h2_conf_check(&k, err, sizeof err), 0);
	k.max_frame_bytes = 1000;
	is_int(edge_h2_conf_check(&k, err, sizeof err), -1);
	is_str(err, "max_frame_bytes: 1000 is below 16384");
	edge_h2_conf_defaults(&k);
	k.stream_window_bytes = 2147483648u;
	is_int(edge_h2_conf_check(&k, err, sizeof err), -1);
	is_str(err, "stream_window_bytes: 2147483648 is above 2147483647");
	edge_h2_conf_defaults(&k);
	k.max_concurrent_streams = 0;
	is_int(edge_h2_conf_check(&k, err, sizeof err), -1);
	is_str(err, "max_concurrent_streams: 0 is below 1");
	is_str(edge_h2_strerror(EDGE_H2_E_CALM), "connection error: the peer exceeded a budget");
	is_str(edge_h2_counter_name(EDGE_H2_C_RAPID_RESET), "rapid_reset");

	subtest("input from an evbuffer of many chunks");
	h2r_init(&c, &conf);
	h2r_headers(&c, 1, get_kv, true);
	{
		struct evbuffer *in = evbuffer_new();
		size_t n = evbuffer_get_length(c.raw);
		const uint8_t *p = evbuffer_pullup(c.raw, -1);

		for (size_t off = 0; off < n; off += 7)
			evbuffer_add_reference(in, p + off, n - off < 7 ? n - off : 7, NULL, NULL);
		ok(evbuffer_peek(in, -1, NULL, NULL, 0) > 8, "more chunks than one peek takes");
		is_int(edge_h2_recv_evbuffer(c.srv, in), 0);
		is_int(evbuffer_get_length(in), 0);
		evbuffer_free(in);
		evbuffer_drain(c.raw, n);
	}
	h2p_pump(&c, 20);
	is_int(c.app.requests, 1);
	is_int(h2p_st(&c, 1)->status, 200);
	h2p_fini(&c);

	subtest("response heads the session refuses, calls out of order");
	h2p_init(&c, &conf, NULL, 0, true);
	c.app.mode = H2P_HOLD;
	h2p_get(&c, "/a", "example.com");
	h2p_pump(&c, 20);
	is_int(
	    edge_h2_send_body(c.srv, c.app.last, "x", 1, NULL, NULL, NULL, true), EDGE_H2_E_STATE);
	is_int(edge_h2_send_head(c.srv, c.app.last, 101, NULL, 0, false), EDGE_H2_E_HEAD);
	is_int(edge_h2_send_head(c.srv, c.app.last, 1000, NULL, 0, false), EDGE_H2_E_HEAD);
	is_int(edge_h2_send_head(c.srv, c.app.last, 103, NULL, 0, false), 0);
	is_int(edge_h2_send_head(c.srv, c.app.last, 200, NULL, 0, false), 0);
	is_int(edge_h2_send_head(c.srv, c.app.last, 200, NULL, 0, false), EDGE_H2_E_STATE);
	is_int(edge_h2_send_body(c.srv, c.app.last, "static", 6, NULL, NULL, NULL, false), 0);
	is_int(edge_h2_send_body(c.srv, c.app.last, NULL, 0, NULL, NULL, NULL, true), 0);
	is_int(
	    edge_h2_send_body(c.srv, c.app.last, "x", 1, NULL, NULL, NULL, true), EDGE_H2_E_STATE);
	h2p_pump(&c, 20);
	is_int(h2p_st(&c, 1)->heads, 2);
	is_int(h2p_st(&c, 1)->status, 200);
	is_int(h2p_st(&c, 1)->body, 6);
	ok(h2p_st(&c, 1)->end, "ended by an empty last piece");

	/* a relayed origin head of 256 fields and the node's own */
	{
		static struct edge_h2_field many[EDGE_H2_HEAD_FIELDS_MAX + 1];
		static char names[EDGE_H2_HEAD_FIELDS_MAX + 1][16];
		int32_t id;

		for (unsigned i = 0; i <= EDGE_H2_HEAD_FIELDS_MAX; i++) {
			snprintf(names[i], sizeof names[i], "X-Field-%u", i);
			many[i] = (struct edge_h2_field){str_cstr(names[i]), STR_LIT("v")};
		}
		id = h2p_get(&c, "/many", "example.com");
		h2p_pump(&c, 20);
		is_int(edge_h2_send_head(
		           c.srv, c.app.last, 200, many, EDGE_H2_HEAD_FIELDS_MAX + 1, true),
		    EDGE_H2_E_HEAD);
		is_int(
		    edge_h2_send_head(c.srv, c.app.last, 200, many, EDGE_H2_HEAD_FIELDS_MAX, true),
		    0);
		h2p_pump(&c, 20);
		is_int(h2p_st(&c, id)->status, 200);
		is_int(h2p_st(&c, id)->fields, EDGE_H2_HEAD_FIELDS_MAX + 1);
	}

	h2p_get(&c, "/b", "example.com");
	h2p_pump(&c, 20);
	edge_h2_send_head(c.srv, c.app.last, 200, NULL, 0, false);
	edge_h2_send_body(c.srv, c.app.last, "abc", 3, NULL, NULL, NULL, false);
	edge_h2_abort(c.srv, c.app.last);
	h2p_pump(&c, 20);
	is_int(h2p_st(&c, 5)->rst, NGHTTP2_INTERNAL_ERROR);
	is_int(c.app.closes, 3);
	is_int(counter(&c, EDGE_H2_C_RESETS_SENT), 1);
	h2p_fini(&c);
}

int
main(void)
{
	for (size_t i = 0; i < sizeof h2p_body; i++)
		h2p_body[i] = (uint8_t)('a' + i % 26);
	edge_h2_conf_defaults(&conf);
	test_get();
	test_post();
	test_flow_control();
	test_concurrency();
	test_invalid();
	test_rapid_reset();
	test_stream_ids();
	test_header_limits();
	test_floods();
	test_drain_and_timeouts();
	test_api();
	return tap_done();
}
