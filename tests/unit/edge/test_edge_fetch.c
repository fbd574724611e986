/* SPDX-License-Identifier: BSD-2-Clause */
/* tests/unit/edge/test_edge_fetch.c — NORMAL and PASS fetches (edge/edge_fetch.c)
 * driven against scripted origins: loopback listeners on the test's own event
 * loop that answer each request head with what the case scripts (or close,
 * or say nothing).  The request side is a recording sink.  Every loop run is
 * bounded by a timer. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "cache/cache.h"
#include "config/config.h"
#include "core/assert.h"
#include "core/xmalloc.h"
#include "edge/edge_fetch.h"
#include "edge/edge_worker.h"
#include "origin/origin_dns.h"
#include "origin/origin_pool.h"
#include "tests/unit/cache/fill_drain.h"
#include "tests/unit/tap.h"

#define RUN_LIMIT_MS 5000 /* a case that has not ended by then fails */

/* ---- scripted origins ---- */

struct origin;
/* The answer to the n-th request head (1-based) the origin read; NULL: no
 * answer at all. */
typedef const char *origin_reply_fn(struct origin *o, unsigned n);

struct origin {
	struct evconnlistener *lis;
	int port;
	unsigned requests; /* request heads read */
	unsigned accepted; /* connections */
	unsigned close_on; /* the n-th request is answered by a close (0: none) */
	bool close_after;  /* close after each answer */
	const char *tail;  /* sent 50 ms after the answer, then a close */
	origin_reply_fn *reply;
};

static struct event_base *base;
static struct edge_server srv;
static struct edge_worker *w;
static struct edge_gen *gen;
static struct origin org[2];

static void
origin_on_write(struct bufferevent *bev, void *arg)
{
	(void)arg;
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		bufferevent_free(bev);
}

static void
origin_send_tail(evutil_socket_t fd, short what, void *arg)
{
	struct bufferevent *bev = arg;
	struct origin *o;

	(void)fd;
	(void)what;
	bufferevent_getcb(bev, NULL, NULL, NULL, (void **)&o);
	evbuffer_add(bufferevent_get_output(bev), o->tail, strlen(o->tail));
	bufferevent_setcb(bev, NULL, origin_on_write, NULL, o);
}

static void
origin_on_read(struct bufferevent *bev, void *arg)
{
	struct origin *o = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr end;

	while ((end = evbuffer_search(in, "\r\n\r\n", 4, NULL)).pos >= 0) {
		const char *r;

		evbuffer_drain(in, (size_t)end.pos + 4);
		o->requests++;
		if (o->close_on == o->requests) {
			bufferevent_free(bev);
			return;
		}
		r = o->reply(o, o->requests);
		if (r == NULL)
			continue;
		evbuffer_add(bufferevent_get_output(bev), r, strlen(r));
		if (o->tail != NULL) {
			struct timeval tv = {0, 50 * 1000};

			event_base_once(base, -1, EV_TIMEOUT, origin_send_tail, bev, &tv);
			return;
		}
		if (o->close_after) {
			bufferevent_setcb(bev, NULL, origin_on_write, NULL, o);
			return;
		}
	}
}

static void
origin_on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)arg;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		bufferevent_free(bev);
}

static void
origin_on_accept(
    struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len, void *arg)
{
	struct origin *o = arg;
	struct bufferevent *bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);

	(void)l;
	(void)sa;
	(void)len;
	o->accepted++;
	bufferevent_setcb(bev, origin_on_read, NULL, origin_on_event, o);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void
origin_open(struct origin *o)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof sin;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	o->lis = evconnlistener_new_bind(base, origin_on_accept, o,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16, (struct sockaddr *)&sin, sizeof sin);
	ASSERT(o->lis != NULL);
	getsockname(evconnlistener_get_fd(o->lis), (struct sockaddr *)&sin, &sl);
	o->port = ntohs(sin.sin_port);
}

static void
origin_script(struct origin *o, origin_reply_fn *reply, unsigned close_on, bool close_after)
{
	o->requests = 0;
	o->accepted = 0;
	o->reply = reply;
	o->close_on = close_on;
	o->close_after = close_after;
	o->tail = NULL;
}

static const char *
reply_hello(struct origin *o, unsigned n)
{
	(void)o;
	(void)n;
	return "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
}

static const char *
reply_chunked(struct origin *o, unsigned n)
{
	(void)o;
	(void)n;
	return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	       "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n";
}

static const char *
reply_chunked_head(struct origin *o, unsigned n)
{
	(void)o;
	(void)n;
	return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n";
}

static const char *
reply_503(struct origin *o, unsigned n)
{
	(void)o;
	(void)n;
	return "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n";
}

static const char *
reply_none(struct origin *o, unsigned n)
{
	(void)o;
	(void)n;
	return NULL;
}

/* ---- the request side: a recording sink ---- */

struct rec {
	struct edge_fetch *f;
	bool normal; /* hand the fill over on the head */
	bool detach; /* let go of the fetch on the first fill notice */
	bool pause;  /* ask for a pause on the first body piece */
	unsigned pauses;
	struct cache_fill *cf;
	int status;
	bool ended;
	bool errored;
	bool fill_ended;
	enum edge_fetch_error err;
	int err_status;
	char err_msg[128];
	char body[256];
	size_t body_len;
};

static void
rec_nop(void *arg)
{
	(void)arg;
}

static void
rec_send(void *arg, struct evbuffer *out)
{
	(void)arg;
	evbuffer_add_printf(out, "GET /x HTTP/1.1\r\nHost: origin\r\n\r\n");
}

static void
rec_writable(void *arg, struct evbuffer *out)
{
	(void)arg;
	(void)out;
}

static bool
rec_sent(void *arg)
{
	(void)arg;
	return true;
}

static void
rec_interim(void *arg, const struct h1_response *resp)
{
	(void)arg;
	(void)resp;
}

static enum edge_fetch_verdict
rec_head(void *arg, struct edge_fetch *f, struct h1_response *resp)
{
	struct rec *r = arg;

	r->status = resp->status;
	if (r->normal) {
		edge_fetch_store(f, NULL, r->cf);
		r->cf = NULL;
	}
	return EDGE_FETCH_READ;
}

static bool
rec_body(void *arg, struct evbuffer *in, size_t n)
{
	struct rec *r = arg;
	size_t room = sizeof r->body - r->body_len;

	evbuffer_remove(in, r->body + r->body_len, n < room ? n : room);
	if (n > room)
		evbuffer_drain(in, n - room);
	r->body_len += n < room ? n : room;
	if (!r->pause)
		return false;
	r->pause = false;
	r->pauses++;
	return true;
}

static void
rec_end(void *arg)
{
	struct rec *r = arg;

	r->f = NULL;
	r->ended = true;
	event_base_loopbreak(base);
}

static void
rec_error(void *arg, enum edge_fetch_error e, int status, const char *msg)
{
	struct rec *r = arg;

	r->f = NULL;
	r->errored = true;
	r->err = e;
	r->err_status = status;
	snprintf(r->err_msg, sizeof r->err_msg, "%s", msg);
	event_base_loopbreak(base);
}

static void
rec_fill(void *arg)
{
	struct rec *r = arg;

	if (r->detach)
		edge_fetch_detach(&r->f);
}

static void
rec_fill_end(void *arg, struct cache_mem_client *cl, uint64_t bytes)
{
	struct rec *r = arg;

	ok(cl == NULL && bytes == 0, "no fill_per_client charge without a cap");
	r->f = NULL;
	r->fill_ended = true;
	event_base_loopbreak(base);
}

static const struct edge_fetch_client rec_client = {
    rec_nop,
    rec_nop,
    rec_send,
    rec_writable,
    rec_sent,
    rec_interim,
    rec_head,
    rec_body,
    rec_end,
    rec_error,
    rec_fill,
    rec_fill_end,
};

static void
on_limit(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	event_base_loopbreak(base);
}

/* Runs a fetch of pool pool_idx for r until it reports its end (bounded). */
static void
run_fetch(struct rec *r, unsigned pool_idx, enum edge_fetch_mode mode)
{
	struct edge_fetch_req q;
	struct event *limit = evtimer_new(base, on_limit, NULL);
	struct timeval tv = {RUN_LIMIT_MS / 1000, 0};

	memset(&q, 0, sizeof q);
	q.mode = mode;
	q.gen = gen;
	q.pool = &gen->cfg->pools[pool_idx];
	q.retry_safe = true;
	q.peer = "127.0.0.1";
	q.client = &rec_client;
	q.arg = r;
	r->f = edge_fetch_new(w, &q);
	edge_fetch_start(r->f);
	evtimer_add(limit, &tv);
	while (r->f != NULL && evtimer_pending(limit, NULL))
		event_base_loop(base, EVLOOP_ONCE);
	event_free(limit);
	edge_fetch_detach(&r->f); /* a case that did not end */
}

static uint64_t
counter(enum edge_counter k)
{
	return atomic_load(&w->metrics.c[k]);
}

/* ---- cases ---- */

static void
test_pass_head_and_body(void)
{
	struct rec r = {0};

	subtest("PASS: head and a Content-Length body");
	origin_script(&org[0], reply_hello, 0, false);
	run_fetch(&r, 0, EDGE_FETCH_PASS);
	ok(r.ended && !r.errored, "ended");
	is_int(r.status, 200);
	is_int(r.body_len, 5);
	ok(memcmp(r.body, "hello", 5) == 0, "body relayed");
	is_int(origin_pool_idle_count(gen->opool), 1); /* kept alive */

	subtest("PASS: a chunked body through the dechunk filter");
	memset(&r, 0, sizeof r);
	origin_script(&org[0], reply_chunked, 0, false);
	run_fetch(&r, 0, EDGE_FETCH_PASS);
	ok(r.ended, "ended");
	is_int(r.body_len, 7);
	ok(memcmp(r.body, "abcdefg", 7) == 0, "dechunked");
}

static void
on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct rec *r = arg;

	(void)fd;
	(void)what;
	ok(!r->ended, "nothing ends while the sink is paused");
	edge_fetch_resume(r->f);
}

static void
test_pass_backpressure(void)
{
	struct rec r = {0};
	struct timeval tv = {0, 300 * 1000};

	subtest("PASS: a full client output pauses the fetch until resumed");
	origin_script(&org[0], reply_chunked, 0, false);
	r.pause = true;
	event_base_once(base, -1, EV_TIMEOUT, on_resume, &r, &tv);
	run_fetch(&r, 0, EDGE_FETCH_PASS);
	is_int(r.pauses, 1);
	ok(r.ended && !r.errored, "ended after the resume");
	is_int(r.body_len, 7);
	ok(memcmp(r.body, "abcdefg", 7) == 0, "the whole body, in order");
}

static void
test_retry_on_closed_reused_connection(void)
{
	struct rec r = {0};
	uint64_t retries = counter(EDGE_C_origin_retries_total);
	uint64_t reused = counter(EDGE_C_origin_conn_reused_total);

	subtest("a kept-alive connection closed under the fetch: once more, fresh");
	/* the idle connection from the case before is taken; the origin closes
	 * it on the first request it reads there */
	origin_script(&org[0], reply_hello, 1, false);
	run_fetch(&r, 0, EDGE_FETCH_PASS);
	ok(r.ended && !r.errored, "answered");
	is_int(r.status, 200);
	is_int(org[0].requests, 2);
	is_int(org[0].accepted, 1); /* the fresh connection */
	is_int(counter(EDGE_C_origin_conn_reused_total) - reused, 1);
	is_int(counter(EDGE_C_origin_retries_total) - retries, 1);
}

static void
test_retry_on_moves_to_another_member(void)
{
	uint64_t retries = counter(EDGE_C_origin_retries_total);
	uint64_t fails = counter(EDGE_C_origin_member_failures_total);

	subtest("a 503 in retry_on moves to the other member");
	origin_script(&org[0], reply_503, 0, false);
	origin_script(&org[1], reply_hello, 0, false);
	/* round robin: one of the two fetches asks the 503 member first */
	for (int i = 0; i < 2; i++) {
		struct rec r = {0};

		run_fetch(&r, 1, EDGE_FETCH_PASS);
		ok(r.ended && !r.errored, "answered");
		is_int(r.status, 200);
	}
	ok(org[0].requests >= 1, "the 503 member was asked");
	is_int(org[1].requests, 2);
	is_int(counter(EDGE_C_origin_retries_total) - retries, org[0].requests);
	is_int(counter(EDGE_C_origin_member_failures_total) - fails, org[0].requests);
}

static void
test_first_byte_timeout(void)
{
	struct rec r = {0};
	uint64_t timeouts = counter(EDGE_C_origin_timeouts_total);

	subtest("an origin that does not answer: first_byte timeout, 504");
	origin_script(&org[0], reply_none, 0, false);
	run_fetch(&r, 2, EDGE_FETCH_PASS);
	ok(r.errored && !r.ended, "failed");
	is_int(r.err, EDGE_FETCH_E_ORIGIN);
	is_int(r.err_status, 504);
	is_str(r.err_msg, "gateway timeout: the origin did not answer in time");
	is_int(counter(EDGE_C_origin_timeouts_total) - timeouts, 1);
}

static void
test_busy(void)
{
	struct rec r = {0};
	uint64_t queued = counter(EDGE_C_origin_queued_total);

	subtest("each member at max_conns: queued, then E_BUSY without asking anyone");
	origin_script(&org[0], reply_hello, 0, false);
	run_fetch(&r, 3, EDGE_FETCH_PASS);
	ok(r.errored, "refused");
	is_int(r.err, EDGE_FETCH_E_BUSY);
	is_int(r.err_status, 503);
	is_int(org[0].requests, 0);
	is_int(counter(EDGE_C_origin_queued_total) - queued, 1);
}

static void
test_normal_into_the_fill(bool detach)
{
	struct rec r = {0};
	struct cache_fill *cf = NULL;
	struct cache_fill_reader rd;
	char buf[64];

	subtest(detach ? "NORMAL: the request lets go, the fetch goes on for the fill"
	               : "NORMAL: the body goes into the fill, read back");
	is_int(cache_fill_begin(srv.cache, detach ? "k2" : "k1", 2, time(NULL), &cf, &rd),
	    CACHE_FILL_LEADER);
	r.normal = true;
	r.detach = detach;
	r.cf = cache_fill_ref(cf);
	origin_script(&org[0], detach ? reply_chunked_head : reply_chunked, 0, true);
	if (detach) /* the rest of the body comes after the request let go */
		org[0].tail = "4\r\ndefg\r\n0\r\n\r\n";
	if (detach) {
		struct event *limit = evtimer_new(base, on_limit, NULL);
		struct timeval tv = {RUN_LIMIT_MS / 1000, 0};

		run_fetch(&r, 0, EDGE_FETCH_NORMAL);
		ok(!r.fill_ended && r.f == NULL, "the request let go");
		ok(w->fetches != NULL, "the fetch goes on, listed on its worker");
		/* the fill completes without anyone asking */
		evtimer_add(limit, &tv);
		while (cache_fill_state(cf) != CACHE_FILL_S_DONE &&
		       cache_fill_state(cf) != CACHE_FILL_S_FAILED && evtimer_pending(limit, NULL))
			event_base_loop(base, EVLOOP_ONCE);
		event_free(limit);
	} else {
		run_fetch(&r, 0, EDGE_FETCH_NORMAL);
		ok(r.fill_ended && !r.errored, "fill ended, request told");
	}
	is_int(cache_fill_state(cf), CACHE_FILL_S_DONE);
	is_int(r.body_len, 0); /* nothing straight to the request */
	is_int(fill_drain(&rd, buf, sizeof buf), 7);
	ok(memcmp(buf, "abcdefg", 7) == 0, "the fill holds the dechunked body");
	cache_fill_reader_done(&rd);
	cache_fill_unref(&cf);
	ok(w->fetches == NULL, "no fetch left behind");
}

static const char yaml_fmt[] =
    "listen: [{ address: \"127.0.0.1:18080\" }]\n"
    "pools:\n"
    "  - { name: one, members: [{ address: \"127.0.0.1:%d\" }] }\n"
    "  - name: two\n"
    "    members: [{ address: \"127.0.0.1:%d\" }, { address: \"127.0.0.1:%d\" }]\n"
    "    retries: 1\n"
    "    retry_on: [503]\n"
    "  - name: slow\n"
    "    members: [{ address: \"127.0.0.1:%d\" }]\n"
    "    timeouts: { first_byte: 200ms }\n"
    "  - name: busy\n"
    "    members: [{ address: \"127.0.0.1:%d\", max_conns: 1 }]\n"
    "    queue_timeout: 100ms\n"
    "sites:\n"
    "  - name: s\n"
    "    hosts: [\"*\"]\n"
    "    routes:\n"
    "      - { path: /, pool: one }\n";

static void
notify_nop(void *arg, unsigned bit)
{
	(void)arg;
	(void)bit;
}

int
main(void)
{
	char path[] = "/tmp/test_edge_fetch_XXXXXX";
	struct config *cfg = NULL;
	FILE *fp;
	int fd;

	base = event_base_new();
	origin_open(&org[0]);
	origin_open(&org[1]);
	fd = mkstemp(path);
	ASSERT(fd != -1);
	fp = fdopen(fd, "w");
	fprintf(fp, yaml_fmt, org[0].port, org[0].port, org[1].port, org[0].port, org[0].port);
	fclose(fp);
	if (!ok(config_load(path, &cfg, stderr) == 0, "config loads")) {
		unlink(path);
		return tap_done();
	}
	unlink(path);

	srv.cfg = cfg;
	{
		char err[128];

		ASSERT(cache_new(
		           &cfg->cache, 1, 4, notify_nop, NULL, &srv.cache, err, sizeof err) == 0);
	}
	w = xcalloc(1, sizeof *w);
	w->magic = EDGE_WORKER_MAGIC;
	w->srv = &srv;
	w->base = base;
	w->dns = origin_dns_new(base, cfg->resolver.servers, 1, 60);
	gen = xcalloc(1, sizeof *gen);
	gen->cfg = config_ref(cfg);
	gen->opool = origin_pool_new(base, cfg, NULL, 42);
	gen->users = 1;
	/* every site and pool in metrics slot 0 */
	gen->site_slot = xcalloc(cfg->n_sites, 1);
	gen->pool_slot = xcalloc(cfg->n_pools, 1);

	test_pass_head_and_body();
	test_pass_backpressure();
	test_retry_on_closed_reused_connection();
	test_retry_on_moves_to_another_member();
	test_first_byte_timeout();
	test_normal_into_the_fill(false);
	test_normal_into_the_fill(true);
	/* the one member of "busy" is at its max_conns, held by the test */
	ok(origin_pool_acquire(gen->opool, 3, 0), "the slot taken");
	test_busy();
	origin_pool_release(gen->opool, 3, 0);

	edge_fetch_abort_all(w);
	origin_pool_free(&gen->opool);
	/* the origins see the idle connections close and free their ends */
	{
		struct timeval tv = {0, 200 * 1000};

		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	config_unref(&gen->cfg);
	free(gen->site_slot);
	free(gen->pool_slot);
	free(gen);
	origin_dns_free(&w->dns);
	free(w);
	cache_free(&srv.cache);
	config_unref(&cfg);
	evconnlistener_free(org[0].lis);
	evconnlistener_free(org[1].lis);
	event_base_free(base);
	return tap_done();
}
