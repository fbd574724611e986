/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/fuzz/fuzz_h2_xport.c — arbitrary bytes after the client preface
 * into a client connection of a worker (not started: its loop is turned
 * here) on a listener with http2: prior_knowledge, so the bytes go through
 * the HTTP/2 transport (edge/edge_h2_xport.c) and each request it hands on
 * through the request layer: routing, a redirect, the node's own errors,
 * OPTIONS, a PURGE refused, misses to an origin that refuses connections,
 * request bodies.  The client end reads what the node writes, then closes.
 * Invariants: no sanitizer report, and the connection (its streams and
 * their requests) is gone once the client has left.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/util.h>

#include "cache/cache.h"
#include "config/config.h"
#include "core/assert.h"
#include "edge/edge_conn.h"
#include "edge/edge_worker.h"
#include "origin/origin_health.h"
#include "tests/fuzz/fuzz.h"

#define PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define TURNS   24
#define MAX_IN  (48 * 1024) /* what a socketpair takes without blocking */

static const char yaml[] = "listen: [{ address: \"127.0.0.1:18080\", http2: prior_knowledge }]\n"
                           "limits: { body: 64KiB }\n"
                           "pools:\n"
                           "  - name: dead\n"
                           "    members: [{ address: \"127.0.0.1:9\" }]\n"
                           "    timeouts: { connect: 50ms, first_byte: 50ms }\n"
                           "sites:\n"
                           "  - name: a\n"
                           "    hosts: [a.example, localhost, example.com]\n"
                           "    routes:\n"
                           "      - path: /old/\n"
                           "        redirect: { status: 301, to: \"https://$host/new\" }\n"
                           "      - { path: /ro/, pool: dead, methods: [GET, HEAD] }\n"
                           "      - { path: /nocache/, pool: dead, cache: { enabled: false } }\n"
                           "      - { path: /, pool: dead }\n";

static struct edge_server srv;
static struct edge_worker *w;
static struct config_listen *listen_conf;

static void
notify_nop(void *arg, unsigned bit)
{
	(void)arg;
	(void)bit;
}

static void
setup(void)
{
	char path[] = "/tmp/fuzz_h2_xport_XXXXXX";
	struct config *cfg = NULL;
	char err[128];
	FILE *fp;
	int fd = mkstemp(path);

	ASSERT(fd != -1);
	fp = fdopen(fd, "w");
	ASSERT(fp != NULL);
	fputs(yaml, fp);
	fclose(fp);
	ASSERT(config_load(path, &cfg, stderr) == 0);
	unlink(path);
	srv.cfg = cfg;
	srv.access_log_fd = -1;
	srv.conn_ip = edge_ip_counts_new();
	ASSERT(cache_new(&cfg->cache, 1, 4, notify_nop, NULL, &srv.cache, err, sizeof err) == 0);
	w = edge_worker_new(&srv, 0, NULL, 0);
	ASSERT(w != NULL);
	listen_conf = &cfg->listens[0];
}

/* One turn of the worker's loop, then what the node wrote is read away. */
static void
turn(int cfd)
{
	char buf[65536];

	event_base_loop(w->base, EVLOOP_NONBLOCK);
	while (recv(cfd, buf, sizeof buf, MSG_DONTWAIT) > 0)
		;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	int sv[2];

	if (w == NULL)
		setup();
	if (size > MAX_IN)
		size = MAX_IN;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ASSERT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	ASSERT(evutil_make_socket_nonblocking(sv[0]) == 0);
	ASSERT(evutil_make_socket_nonblocking(sv[1]) == 0);
	edge_conn_accept(w, sv[1], (struct sockaddr *)&a, (int)sizeof a, listen_conf);
	ASSERT(w->n_conns == 1);
	ASSERT(send(sv[0], PREFACE, sizeof PREFACE - 1, 0) == (ssize_t)(sizeof PREFACE - 1));
	if (size > 0)
		ASSERT(send(sv[0], data, size, 0) == (ssize_t)size);
	for (int i = 0; i < TURNS && w->n_conns > 0; i++)
		turn(sv[0]);
	close(sv[0]);
	/* the client left: the connection, its streams and their requests go */
	for (int i = 0; i < TURNS * 4 && w->n_conns > 0; i++)
		event_base_loop(w->base, EVLOOP_NONBLOCK);
	while (w->n_conns > 0)
		edge_conn_abort(w->conns);
	event_base_loop(w->base, EVLOOP_NONBLOCK);
	ASSERT(w->n_conns == 0);
	return 0;
}
