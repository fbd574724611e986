/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tools/bench/micro_h2.c — what a small GET costs in the HTTP/2 session
 * (edge/edge_h2.h): an nghttp2 client session and the server session in
 * memory, a GET with four request fields answered by a 200 with two fields
 * and a 1 KiB body by reference.  Prints ns per request for the server
 * side (edge_h2_recv + edge_h2_send, with the owner's answer inside) and
 * for the round trip with the client's share, one stream at a time and
 * 100 streams per batch.
 *
 *   make tools/bench/micro_h2 && tools/bench/micro_h2 [REQUESTS]
 *
 * One thread; each figure is the best of three runs.  Built by make, never
 * run by make check.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tests/unit/edge/h2_peer.h"
#include "tools/bench/micro.h"

/* One exchange both ways; the server's part timed into *srv_ns. */
static void
exchange(struct h2p *c, double *srv_ns)
{
	for (;;) {
		const uint8_t *p;
		ssize_t n;
		bool moved = false;
		double t0;

		while ((n = nghttp2_session_mem_send(c->cli, &p)) > 0) {
			t0 = micro_now_ns();
			edge_h2_recv(c->srv, p, (size_t)n);
			edge_h2_send(c->srv);
			*srv_ns += micro_now_ns() - t0;
			moved = true;
		}
		t0 = micro_now_ns();
		edge_h2_send(c->srv);
		*srv_ns += micro_now_ns() - t0;
		if (evbuffer_get_length(c->out) > 0) {
			size_t len = evbuffer_get_length(c->out);

			nghttp2_session_mem_recv(c->cli, evbuffer_pullup(c->out, -1), len);
			t0 = micro_now_ns();
			evbuffer_drain(c->out, len); /* the socket took it */
			*srv_ns += micro_now_ns() - t0;
			moved = true;
		}
		if (!moved)
			return;
	}
}

static void
run(long requests, int batch, double *total, double *server)
{
	struct edge_h2_conf conf;
	struct h2p c;
	double srv = 0, t0;
	long done = 0;

	edge_h2_conf_defaults(&conf);
	h2p_init(&c, &conf, NULL, 0, true);
	c.app.body_len = 1024;
	exchange(&c, &srv);
	srv = 0;
	t0 = micro_now_ns();
	while (done < requests) {
		for (int i = 0; i < batch; i++) {
			nghttp2_nv nv[] = {
			    H2P_NV(":method", "GET"),
			    H2P_NV(":scheme", "https"),
			    H2P_NV(":authority", "www.example.com"),
			    H2P_NV(":path", "/static/app.js"),
			    H2P_NV("user-agent", "micro_h2/1"),
			    H2P_NV("accept", "*/*"),
			    H2P_NV("accept-encoding", "gzip, br"),
			    H2P_NV("cookie", "session=abcdef0123"),
			};

			if (nghttp2_submit_request(c.cli, NULL, nv, 8, NULL, NULL) < 0)
				abort();
		}
		exchange(&c, &srv);
		done += batch;
	}
	*total = (micro_now_ns() - t0) / (double)done;
	*server = srv / (double)done;
	if (c.app.closes != (unsigned)done || c.app.live_refs != 0) {
		fprintf(stderr, "micro_h2: %u of %ld requests closed, %d references live\n",
		    c.app.closes, done, c.app.live_refs);
		exit(1);
	}
	h2p_fini(&c);
}

int
main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 200000;
	static const int batches[] = {1, 100};

	if (n < 100)
		n = 100;
	for (size_t i = 0; i < sizeof h2p_body; i++)
		h2p_body[i] = (uint8_t)('a' + i % 26);
	printf("small GET, 1 KiB body by reference, %ld requests, best of 3\n", n);
	for (size_t b = 0; b < 2; b++) {
		double best_t = 1e30, best_s = 1e30;

		for (int r = 0; r < 3; r++) {
			double t, s;

			run(n, batches[b], &t, &s);
			if (t < best_t)
				best_t = t;
			if (s < best_s)
				best_s = s;
		}
		printf("%3d stream(s) per batch: server %6.0f ns/request, round trip with the "
		       "client %6.0f ns/request\n",
		    batches[b], best_s, best_t);
	}
	return 0;
}
