/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Unit tests for the request steps (edge_req.c): a worker of the edge's own
 * code, not started, whose loop the test runs; each request comes on a
 * loopback connection the worker accepts, and is carried by a recording
 * transport (edge_xport.h) that writes as HTTP/1.1 does and notes the
 * request as its final head goes: status, site, route, key, cache status.
 * The requests end at the step that answers them (recv, route, key,
 * lookup, only-if-cached), so no origin is asked.  Then the reset between
 * two requests of a connection: every field cleared, the buffers kept.
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

#include "cache/cache.h"
#include "config/config.h"
#include "core/assert.h"
#include "core/xmalloc.h"
#include "edge/edge_conn.h"
#include "edge/edge_h1.h"
#include "edge/edge_req.h"
#include "edge/edge_resp.h"
#include "edge/edge_worker.h"
#include "edge/edge_xport.h"
#include "origin/origin_health.h"
#include "tests/unit/tap.h"

static struct edge_server srv;
static struct edge_worker *w;

/* what the recording transport saw of the last final head */
static struct {
	int status;
	char site[32];
	char route[32];
	char key[256];
	char cache_status[16];
	unsigned heads;
} seen;

static size_t
rec_send_head(struct edge_req *req, const struct edge_resp *resp)
{
	if (!resp->interim) {
		seen.heads++;
		seen.status = resp->status;
		snprintf(
		    seen.site, sizeof seen.site, "%s", req->site != NULL ? req->site->name : "-");
		snprintf(seen.route, sizeof seen.route, "%s",
		    req->route != NULL ? req->route->path : "-");
		if (req->key_len >= 0)
			snprintf(seen.key, sizeof seen.key, "%.*s", req->key_len, req->key);
		else
			snprintf(seen.key, sizeof seen.key, "-");
		snprintf(seen.cache_status, sizeof seen.cache_status, "%s", req->cache_status);
	}
	return edge_h1_xport.send_head(req, resp);
}

static struct edge_xport rec_xport;

/* A loopback connection: its client end (returned) and the end the worker
 * accepted as a client connection, whose request is carried by rec_xport. */
static int
connect_client(struct edge_conn **cp)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t al = sizeof a;
	int lfd, cfd, sfd;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	ASSERT(lfd != -1);
	ASSERT(bind(lfd, (struct sockaddr *)&a, sizeof a) == 0);
	ASSERT(listen(lfd, 1) == 0);
	ASSERT(getsockname(lfd, (struct sockaddr *)&a, &al) == 0);
	cfd = socket(AF_INET, SOCK_STREAM, 0);
	ASSERT(cfd != -1);
	ASSERT(connect(cfd, (struct sockaddr *)&a, sizeof a) == 0);
	al = sizeof a;
	sfd = accept(lfd, (struct sockaddr *)&a, &al);
	ASSERT(sfd != -1);
	close(lfd);
	ASSERT(evutil_make_socket_nonblocking(sfd) == 0);
	edge_conn_accept(w, sfd, (struct sockaddr *)&a, (int)al, NULL);
	*cp = w->conns;
	ASSERT(*cp != NULL);
	(*cp)->req->xp = &rec_xport;
	return cfd;
}

/* Sends req on a new connection and runs the worker's loop until the
 * request has its final head (bounded: 200 turns of at most 10 ms). */
static void
ask(const char *req)
{
	struct edge_conn *c;
	int fd = connect_client(&c);
	unsigned before;

	memset(&seen, 0, sizeof seen);
	before = seen.heads;
	ASSERT(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
	for (int i = 0; i < 200 && seen.heads == before; i++) {
		struct timeval tv = {0, 10 * 1000};

		event_base_loopexit(w->base, &tv);
		event_base_loop(w->base, EVLOOP_ONCE);
	}
	close(fd);
}

static const struct {
	const char *what;
	const char *req;
	int status;
	const char *site, *route, *key, *cache_status;
} cases[] = {
    /* recv */
    {"CONNECT is refused at recv", "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example\r\n\r\n", 501,
        "-", "-", "-", "-"},
    {"OPTIONS * is answered at recv", "OPTIONS * HTTP/1.1\r\nHost: a.example\r\n\r\n", 200, "-",
        "-", "-", "-"},
    /* route */
    {"a host no site serves: 421", "GET / HTTP/1.1\r\nHost: other.example\r\n\r\n", 421, "-", "-",
        "-", "-"},
    {"a path no route matches: 404", "GET /elsewhere HTTP/1.1\r\nHost: a.example\r\n\r\n", 404, "a",
        "-", "-", "-"},
    {"a method the route refuses: 405", "DELETE /ro/x HTTP/1.1\r\nHost: a.example\r\n\r\n", 405,
        "a", "/ro/", "-", "-"},
    {"a redirect route answers", "GET /old/x HTTP/1.1\r\nHost: a.example\r\n\r\n", 301, "a",
        "/old/", "-", "-"},
    {"a GET with a body on a rejecting route: 400",
        "GET /strict/x HTTP/1.1\r\nHost: a.example\r\nContent-Length: 2\r\n\r\nhi", 400, "a",
        "/strict/", "-", "-"},
    /* key, lookup, then only-if-cached ends it before the origin */
    {"a miss with only-if-cached: 504 after the key and the lookup",
        "GET /pub/x?b=1 HTTP/1.1\r\nHost: A.example\r\nCache-Control: only-if-cached\r\n\r\n", 504,
        "a", "/pub/", "http://a.example/pub/x?b=1", "MISS"},
};

static void
test_steps(void)
{
	subtest("the request steps answer where they should");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ask(cases[i].req);
		is_int(seen.heads, 1);
		is_int(seen.status, cases[i].status);
		is_str(seen.site, cases[i].site);
		is_str(seen.route, cases[i].route);
		is_str(seen.cache_status, cases[i].cache_status);
		if (strcmp(cases[i].key, "-") == 0)
			is_str(seen.key, "-");
		else
			ok(strstr(seen.key, cases[i].key) != NULL, cases[i].what);
		ok(true, cases[i].what);
	}
}

static void
test_reset_keeps_buffers(void)
{
	static const char one[] =
	    "GET /pub/y HTTP/1.1\r\nHost: a.example\r\nCache-Control: only-if-cached\r\n\r\n";
	struct edge_conn *c;
	int fd = connect_client(&c);
	struct edge_req *r = c->req;
	char *head_buf, *key;
	struct h1_header *hdrs;

	subtest("the reset between two requests clears all, keeps the buffers");
	memset(&seen, 0, sizeof seen);
	ASSERT(write(fd, one, strlen(one)) == (ssize_t)strlen(one));
	for (int i = 0; i < 200 && seen.heads == 0; i++) {
		struct timeval tv = {0, 10 * 1000};

		event_base_loopexit(w->base, &tv);
		event_base_loop(w->base, EVLOOP_ONCE);
	}
	is_int(seen.status, 504);
	ok(r == c->req, "the connection keeps its request object");
	ok(r->head_buf != NULL && r->hdrs != NULL && r->key != NULL, "the request has buffers");
	ok(r->site != NULL && r->pool != NULL && r->key_len > 0, "and its fields are set");
	head_buf = r->head_buf;
	hdrs = r->hdrs;
	key = r->key;
	edge_req_reset(r);
	ok(r->head_buf == head_buf && r->hdrs == hdrs && r->key == key, "buffers kept");
	ok(r->head_cap > 0 && r->hdrs_cap > 0 && r->key_cap > 0, "with their sizes");
	ok(r->site == NULL && r->route == NULL && r->pool == NULL, "site, route, pool cleared");
	is_int(r->key_len, -1);
	is_str(r->cache_status, "-");
	is_int(r->status, 0);
	is_int(r->bytes_out, 0);
	is_int(r->h1.n_headers, 0);
	ok(r->conn == c && r->xp == &rec_xport, "still the connection's, on its transport");
	edge_req_release(r);
	ok(r->head_buf == NULL && r->hdrs == NULL && r->key == NULL && r->up_buf == NULL,
	    "released: no buffers");
	close(fd);
}

static const char yaml[] = "listen: [{ address: \"127.0.0.1:18080\" }]\n"
                           "pools:\n"
                           "  - { name: one, members: [{ address: \"127.0.0.1:9\" }] }\n"
                           "sites:\n"
                           "  - name: a\n"
                           "    hosts: [a.example]\n"
                           "    routes:\n"
                           "      - { path: /ro/, pool: one, methods: [GET, HEAD] }\n"
                           "      - path: /old/\n"
                           "        redirect: { status: 301, to: \"https://$host/new\" }\n"
                           "      - path: /strict/\n"
                           "        pool: one\n"
                           "        cache: { get_body: reject }\n"
                           "      - { path: /pub/, pool: one }\n";

static void
notify_nop(void *arg, unsigned bit)
{
	(void)arg;
	(void)bit;
}

int
main(void)
{
	char path[] = "/tmp/test_edge_req_XXXXXX";
	struct config *cfg = NULL;
	char err[128];
	FILE *fp;
	int fd;

	rec_xport = edge_h1_xport;
	rec_xport.send_head = rec_send_head;
	fd = mkstemp(path);
	ASSERT(fd != -1);
	fp = fdopen(fd, "w");
	fputs(yaml, fp);
	fclose(fp);
	if (!ok(config_load(path, &cfg, stderr) == 0, "config loads")) {
		unlink(path);
		return tap_done();
	}
	unlink(path);
	srv.cfg = cfg;
	srv.access_log_fd = -1;
	srv.conn_ip = edge_ip_counts_new();
	ASSERT(cache_new(&cfg->cache, 1, 4, notify_nop, NULL, &srv.cache, err, sizeof err) == 0);
	w = edge_worker_new(&srv, 0, NULL, 0);
	ASSERT(w != NULL);

	test_steps();
	test_reset_keeps_buffers();

	edge_worker_join_free(&w);
	origin_health_unref(&srv.health);
	cache_free(&srv.cache);
	edge_ip_counts_free(&srv.conn_ip);
	config_unref(&cfg);
	return tap_done();
}
