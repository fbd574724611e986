/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/origin/test_origin_dns.c — the per-worker resolver against a scripted DNS
 * server.
 *
 * The test runs its own authoritative-ish responder: a thread with a UDP socket on
 * 127.0.0.1 (ephemeral port) that answers A / AAAA queries for the names in
 * test_zone[] with their TTLs, NXDOMAIN for anything else, counts every query it
 * receives per name and type, and can be told to go silent (a dead server).  The
 * resolver is pointed at it with servers_csv.  The event loop is driven in slices of
 * 10 ms and every wait is bounded.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "origin/origin_dns.h"
#include "tests/unit/tap.h"

#define T_A    1
#define T_AAAA 28

/* ---- the scripted DNS server ---------------------------------------------------- */

struct zone_name {
	const char *name;
	unsigned ttl_s;
	const char *v4[3];
	const char *v6[2];
};

static const struct zone_name test_zone[] = {
    {"one.test", 300, {"192.0.2.10"}, {"2001:db8::10"}},
    {"rr.test", 300, {"192.0.2.1", "192.0.2.2"}, {NULL}},
    {"multi.test", 300, {"192.0.2.20"}, {NULL}},
    {"short.test", 1, {"192.0.2.30"}, {NULL}},
    {"refresh.test", 2, {"192.0.2.40"}, {NULL}},
    {"stale.test", 1, {"192.0.2.50"}, {NULL}},
    {"floor.test", 1, {"192.0.2.60"}, {NULL}},
    {"fresh.test", 300, {"192.0.2.70"}, {NULL}},
    {"cancel.test", 300, {"192.0.2.80"}, {NULL}},
    {"xa.test", 300, {"192.0.2.81"}, {NULL}},
    {"xb.test", 300, {"192.0.2.82"}, {NULL}},
    {"p1.test", 300, {"192.0.2.91"}, {NULL}},
    {"p2.test", 300, {"192.0.2.92"}, {NULL}},
};
#define ZONE_N (sizeof test_zone / sizeof test_zone[0])

static struct {
	int fd;
	uint16_t port;
	pthread_t thread;
	atomic_bool stop;
	atomic_bool silent;
	atomic_int count_a[ZONE_N];
	atomic_int count_aaaa[ZONE_N];
	atomic_int count_total;
} srv;

static int
zone_find(const char *name)
{
	for (size_t i = 0; i < ZONE_N; i++)
		if (strcmp(test_zone[i].name, name) == 0)
			return (int)i;
	return -1;
}

static void
put16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

static void
put32(unsigned char *p, unsigned v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

/* Builds the answer to one query; returns its length, 0 to drop the query. */
static size_t
srv_answer(const unsigned char *q, size_t qlen, unsigned char *r, size_t rcap)
{
	char name[256];
	size_t off = 12, nlen = 0, qend, len;
	unsigned qtype, ancount = 0, rcode = 0;
	int zi;

	if (qlen < 12 || (q[2] & 0x80) != 0 || q[4] != 0 || q[5] != 1)
		return 0;
	while (off < qlen && q[off] != 0) {
		size_t l = q[off];

		if (l > 63 || off + 1 + l >= qlen || nlen + l + 1 >= sizeof name)
			return 0;
		if (nlen > 0)
			name[nlen++] = '.';
		for (size_t i = 0; i < l; i++) {
			char c = (char)q[off + 1 + i];

			name[nlen++] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
		}
		off += 1 + l;
	}
	name[nlen] = '\0';
	if (off + 5 > qlen)
		return 0;
	qtype = (unsigned)q[off + 1] << 8 | q[off + 2];
	qend = off + 5;
	if (qend > rcap)
		return 0;

	zi = zone_find(name);
	atomic_fetch_add(&srv.count_total, 1);
	if (zi >= 0 && qtype == T_A)
		atomic_fetch_add(&srv.count_a[zi], 1);
	if (zi >= 0 && qtype == T_AAAA)
		atomic_fetch_add(&srv.count_aaaa[zi], 1);
	if (atomic_load(&srv.silent))
		return 0;

	memcpy(r, q, qend); /* id, flags, counts, question */
	len = qend;
	if (zi < 0) {
		rcode = 3; /* NXDOMAIN */
	} else {
		const struct zone_name *z = &test_zone[zi];
		unsigned char addr[16];

		for (int i = 0; i < 3; i++) {
			const char *txt = qtype == T_A ? z->v4[i] : (i < 2 ? z->v6[i] : NULL);
			int alen = qtype == T_A ? 4 : 16;

			if ((qtype != T_A && qtype != T_AAAA) || txt == NULL)
				break;
			if (inet_pton(qtype == T_A ? AF_INET : AF_INET6, txt, addr) != 1)
				abort();
			if (len + 12 + (size_t)alen > rcap)
				return 0;
			r[len] = 0xc0; /* name: pointer to the question */
			r[len + 1] = 12;
			put16(r + len + 2, qtype);
			put16(r + len + 4, 1); /* IN */
			put32(r + len + 6, z->ttl_s);
			put16(r + len + 10, (unsigned)alen);
			memcpy(r + len + 12, addr, (size_t)alen);
			len += 12 + (size_t)alen;
			ancount++;
		}
	}
	r[2] = (unsigned char)(0x84 | (q[2] & 0x01)); /* QR, AA, RD copied */
	r[3] = (unsigned char)(0x80 | rcode);         /* RA */
	put16(r + 6, ancount);
	put16(r + 8, 0);
	put16(r + 10, 0);
	return len;
}

static void *
srv_main(void *arg)
{
	unsigned char q[1500], r[1500];
	struct sockaddr_storage peer;
	socklen_t plen;
	struct pollfd pfd;
	ssize_t n;
	size_t rlen;

	(void)arg;
	while (!atomic_load(&srv.stop)) {
		pfd.fd = srv.fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 20) <= 0)
			continue;
		plen = sizeof peer;
		n = recvfrom(srv.fd, q, sizeof q, 0, (struct sockaddr *)&peer, &plen);
		if (n <= 0)
			continue;
		rlen = srv_answer(q, (size_t)n, r, sizeof r);
		if (rlen > 0)
			(void)sendto(srv.fd, r, rlen, 0, (struct sockaddr *)&peer, plen);
	}
	return NULL;
}

static int
srv_start(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof sin;

	srv.fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (srv.fd == -1)
		return -1;
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(srv.fd, (struct sockaddr *)&sin, sizeof sin) == -1 ||
	    getsockname(srv.fd, (struct sockaddr *)&sin, &len) == -1)
		return -1;
	srv.port = ntohs(sin.sin_port);
	if (pthread_create(&srv.thread, NULL, srv_main, NULL) != 0)
		return -1;
	return 0;
}

static void
srv_stop(void)
{
	atomic_store(&srv.stop, true);
	(void)pthread_join(srv.thread, NULL);
	(void)close(srv.fd);
}

static int
count_a(const char *name)
{
	int i = zone_find(name);

	return i < 0 ? -1 : atomic_load(&srv.count_a[i]);
}

static int
count_aaaa(const char *name)
{
	int i = zone_find(name);

	return i < 0 ? -1 : atomic_load(&srv.count_aaaa[i]);
}

/* ---- loop driving ----------------------------------------------------------------- */

static struct event_base *base;
static char servers[64];

/* Runs the loop in 10 ms slices until *p >= want or timeout_ms passes; returns *p >= want. */
static int
wait_int(const int *p, int want, unsigned timeout_ms)
{
	uint64_t deadline = time_mono_ms() + timeout_ms;
	struct timeval slice = {0, 10000};

	while (*p < want && time_mono_ms() < deadline) {
		(void)event_base_loopexit(base, &slice);
		(void)event_base_loop(base, 0);
	}
	return *p >= want;
}

static int
wait_atomic(atomic_int *p, int want, unsigned timeout_ms)
{
	uint64_t deadline = time_mono_ms() + timeout_ms;
	struct timeval slice = {0, 10000};

	while (atomic_load(p) < want && time_mono_ms() < deadline) {
		(void)event_base_loopexit(base, &slice);
		(void)event_base_loop(base, 0);
	}
	return atomic_load(p) >= want;
}

static void
run_for(unsigned ms)
{
	int never = 0;

	(void)wait_int(&never, 1, ms);
}

struct res {
	int called;
	const char *err;
	struct sockaddr_storage ss;
	socklen_t len;
	/* for the cancel and free tests */
	struct origin_dns_query **cancel_other;
	struct origin_dns **free_dns;
};

static void
on_res(const char *err, const struct sockaddr *sa, socklen_t salen, void *arg)
{
	struct res *r = arg;

	r->called++;
	r->err = err;
	r->len = salen;
	if (sa != NULL)
		memcpy(&r->ss, sa, salen);
	if (r->cancel_other != NULL)
		origin_dns_cancel(r->cancel_other);
	if (r->free_dns != NULL)
		origin_dns_free(r->free_dns);
}

/* "a.b.c.d:port" or "[v6]:port" of a result. */
static const char *
ss_str(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)ss;

		inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof ip);
		snprintf(buf, len, "%s:%u", ip, ntohs(sin->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof ip);
		snprintf(buf, len, "[%s]:%u", ip, ntohs(s6->sin6_port));
	} else {
		snprintf(buf, len, "(family %d)", ss->ss_family);
	}
	return buf;
}

static struct origin_dns *
new_dns(unsigned min_ttl_s, unsigned max_ttl_s)
{
	return origin_dns_new(base, servers, min_ttl_s, max_ttl_s);
}

/* ---- tests ------------------------------------------------------------------------ */

static void
test_literals(void)
{
	struct origin_dns *d = new_dns(0, 3600);
	struct origin_dns_query *q = NULL;
	struct sockaddr_storage ss;
	socklen_t len = 0;
	const char *err = NULL;
	struct res r = {0};
	char buf[80];
	int before = atomic_load(&srv.count_total);

	subtest("IP literals resolve synchronously; bad names fail");
	ok(d != NULL, "origin_dns_new");
	is_int(origin_dns_resolve(d, "192.0.2.7", 8080, &ss, &len, on_res, &r, &q, &err), 0);
	is_int(len, sizeof(struct sockaddr_in));
	is_str(ss_str(&ss, buf, sizeof buf), "192.0.2.7:8080");
	is_int(origin_dns_resolve(d, "2001:db8::7", 443, &ss, &len, on_res, &r, &q, &err), 0);
	is_int(len, sizeof(struct sockaddr_in6));
	is_str(ss_str(&ss, buf, sizeof buf), "[2001:db8::7]:443");
	ok(q == NULL && err == NULL, "no handle, no error");

	is_int(origin_dns_resolve(d, "bad name!", 80, &ss, &len, on_res, &r, &q, &err), -1);
	ok(err == origin_dns_err_failed, "invalid name -> origin_dns_err_failed");
	is_int(origin_dns_resolve(d, "[::1]", 80, &ss, &len, on_res, &r, &q, &err), -1);
	is_int(origin_dns_resolve(d, "a..b", 80, &ss, &len, on_res, &r, &q, &err), -1);
	is_int(origin_dns_resolve(d, "", 80, &ss, &len, on_res, &r, &q, &err), -1);
	is_int(origin_dns_resolve(d,
	           "x123456789012345678901234567890123456789012345678901234"
	           "567890123.test",
	           80, &ss, &len, on_res, &r, &q, &err),
	    -1);
	run_for(30);
	is_int(r.called, 0);
	is_int(atomic_load(&srv.count_total), before);
	origin_dns_free(&d);
	ok(d == NULL, "free NULLs the pointer");
	origin_dns_free(&d); /* NULL-safe */
}

static void
test_async_cache_rotation(void)
{
	struct origin_dns *d = new_dns(0, 3600);
	struct origin_dns_query *q = NULL;
	struct sockaddr_storage ss;
	socklen_t len;
	const char *err = NULL;
	struct res r = {0};
	char buf[80], first[80], prev[80];
	int seen1 = 0, seen2 = 0, alternates = 1;

	subtest("a name resolves through the event loop, then from the cache");
	is_int(origin_dns_resolve(d, "One.Test", 80, &ss, &len, on_res, &r, &q, &err), 1);
	ok(q != NULL, "handle set");
	is_int(r.called, 0); /* never from inside resolve */
	ok(wait_int(&r.called, 1, 5000), "callback within 5 s");
	is_int(r.called, 1);
	ok(r.err == NULL, "no error");
	ss_str(&r.ss, buf, sizeof buf);
	ok(strcmp(buf, "192.0.2.10:80") == 0 || strcmp(buf, "[2001:db8::10]:80") == 0,
	    "one.test address");
	is_int(count_a("one.test"), 1);
	is_int(count_aaaa("one.test"), 1);

	q = NULL;
	is_int(origin_dns_resolve(d, "one.test", 81, &ss, &len, on_res, &r, &q, &err), 0);
	ok(q == NULL, "cache hit: no handle");
	ss_str(&ss, buf, sizeof buf);
	ok(strcmp(buf, "192.0.2.10:81") == 0 || strcmp(buf, "[2001:db8::10]:81") == 0,
	    "cached address with the new port");
	run_for(30);
	is_int(count_a("one.test"), 1);
	is_int(count_aaaa("one.test"), 1);
	is_int(r.called, 1);

	subtest("round robin over two A records");
	memset(&r, 0, sizeof r);
	is_int(origin_dns_resolve(d, "rr.test", 80, &ss, &len, on_res, &r, &q, &err), 1);
	ok(wait_int(&r.called, 1, 5000), "rr.test answered");
	ss_str(&r.ss, first, sizeof first);
	strcpy(prev, first);
	seen1 += strcmp(first, "192.0.2.1:80") == 0;
	seen2 += strcmp(first, "192.0.2.2:80") == 0;
	for (int i = 0; i < 4; i++) {
		if (origin_dns_resolve(d, "rr.test", 80, &ss, &len, on_res, &r, &q, &err) != 0)
			alternates = 0;
		ss_str(&ss, buf, sizeof buf);
		seen1 += strcmp(buf, "192.0.2.1:80") == 0;
		seen2 += strcmp(buf, "192.0.2.2:80") == 0;
		if (strcmp(buf, prev) == 0)
			alternates = 0;
		strcpy(prev, buf);
	}
	ok(alternates, "successive resolves alternate");
	is_int(seen1 + seen2, 5);
	ok(seen1 == 2 || seen1 == 3, "both addresses handed out");
	is_int(count_a("rr.test"), 1);

	subtest("an address marked bad is skipped while the other one is good");
	{
		struct sockaddr_in bad = {.sin_family = AF_INET, .sin_port = htons(80)};
		bool marked = false;
		int only2 = 1;

		inet_pton(AF_INET, "192.0.2.1", &bad.sin_addr);
		is_int(origin_dns_mark_bad(d, "rr.test", (const struct sockaddr *)&bad,
		           time_mono_ms() + 60000, &marked),
		    1);
		ok(marked, "newly marked");
		for (int i = 0; i < 4; i++) {
			is_int(
			    origin_dns_resolve(d, "rr.test", 80, &ss, &len, on_res, &r, &q, &err),
			    0);
			only2 &= strcmp(ss_str(&ss, buf, sizeof buf), "192.0.2.2:80") == 0;
		}
		ok(only2, "only the good address is handed out");
		/* both bad: rotation as if none were */
		inet_pton(AF_INET, "192.0.2.2", &bad.sin_addr);
		is_int(origin_dns_mark_bad(d, "rr.test", (const struct sockaddr *)&bad,
		           time_mono_ms() + 60000, &marked),
		    0);
		is_int(origin_dns_resolve(d, "rr.test", 80, &ss, &len, on_res, &r, &q, &err), 0);
		ss_str(&ss, first, sizeof first);
		is_int(origin_dns_resolve(d, "rr.test", 80, &ss, &len, on_res, &r, &q, &err), 0);
		ok(strcmp(first, ss_str(&ss, buf, sizeof buf)) != 0, "all bad: both again");
		is_int(origin_dns_mark_bad(d, "192.0.2.1", (const struct sockaddr *)&bad,
		           time_mono_ms() + 60000, &marked),
		    0);
		ok(!marked, "an IP literal has no answer to mark");
	}
	origin_dns_free(&d);
}

static void
test_coalesce_nx(void)
{
	struct origin_dns *d = new_dns(0, 3600);
	struct origin_dns_query *q[3];
	struct sockaddr_storage ss;
	socklen_t len;
	const char *err;
	struct res r[3], nx = {0};
	int total = 0;

	subtest("concurrent resolves of one name share one upstream query");
	memset(r, 0, sizeof r);
	for (int i = 0; i < 3; i++)
		is_int(origin_dns_resolve(d, "multi.test", (uint16_t)(80 + i), &ss, &len, on_res,
		           &r[i], &q[i], &err),
		    1);
	ok(q[0] != q[1] && q[1] != q[2], "one handle per waiter");
	for (int i = 0; i < 3; i++) {
		ok(wait_int(&r[i].called, 1, 5000), "waiter called");
		total += r[i].called;
		ok(r[i].err == NULL, "waiter got an answer");
		is_int(ntohs(((struct sockaddr_in *)(void *)&r[i].ss)->sin_port), 80 + i);
	}
	is_int(total, 3);
	is_int(count_a("multi.test"), 1);

	subtest("NXDOMAIN -> origin_dns_err_not_found");
	is_int(origin_dns_resolve(d, "nx.test", 80, &ss, &len, on_res, &nx, &q[0], &err), 1);
	ok(wait_int(&nx.called, 1, 5000), "nx callback");
	ok(nx.err == origin_dns_err_not_found, "err is origin_dns_err_not_found");
	ok(nx.len == 0, "no address");
	origin_dns_free(&d);
}

static void
test_cancel(void)
{
	struct origin_dns *d = new_dns(0, 3600);
	struct origin_dns_query *q = NULL, *q2 = NULL, *qa = NULL, *qb = NULL;
	struct sockaddr_storage ss;
	socklen_t len;
	const char *err;
	struct res r = {0}, w1 = {0}, w2 = {0}, ra = {0}, rb = {0};

	subtest("cancel: the callback never comes, the cache still fills");
	is_int(origin_dns_resolve(d, "cancel.test", 80, &ss, &len, on_res, &r, &q, &err), 1);
	origin_dns_cancel(&q);
	ok(q == NULL, "cancel NULLs the handle");
	origin_dns_cancel(&q); /* NULL-safe */
	ok(wait_atomic(&srv.count_a[zone_find("cancel.test")], 1, 5000), "query went out");
	run_for(200);
	is_int(r.called, 0);
	is_int(origin_dns_resolve(d, "cancel.test", 80, &ss, &len, on_res, &r, &q, &err), 0);
	is_int(count_a("cancel.test"), 1);

	subtest("cancel from inside another waiter's callback");
	w1.cancel_other = &q2;
	is_int(origin_dns_resolve(d, "multi.test", 80, &ss, &len, on_res, &w1, &q, &err), 1);
	is_int(origin_dns_resolve(d, "multi.test", 80, &ss, &len, on_res, &w2, &q2, &err), 1);
	ok(wait_int(&w1.called, 1, 5000), "first waiter called");
	run_for(100);
	is_int(w2.called, 0);
	ok(q2 == NULL, "second handle cancelled");

	subtest("cancel across names from a callback");
	ra.cancel_other = &qb;
	rb.cancel_other = &qa;
	is_int(origin_dns_resolve(d, "xa.test", 80, &ss, &len, on_res, &ra, &qa, &err), 1);
	is_int(origin_dns_resolve(d, "xb.test", 80, &ss, &len, on_res, &rb, &qb, &err), 1);
	run_for(1);
	{
		int both = 0;

		for (int i = 0; i < 500 && ra.called + rb.called == 0; i++)
			run_for(10);
		run_for(200);
		both = ra.called + rb.called;
		is_int(both, 1);
	}
	origin_dns_free(&d);
}

static void
test_free_pending(void)
{
	struct origin_dns *d = new_dns(0, 3600);
	struct origin_dns_query *q[4];
	struct sockaddr_storage ss;
	socklen_t len;
	const char *err;
	struct res r[4];

	subtest("free with queries pending: each gets origin_dns_err_shutdown");
	memset(r, 0, sizeof r);
	is_int(origin_dns_resolve(d, "p1.test", 80, &ss, &len, on_res, &r[0], &q[0], &err), 1);
	is_int(origin_dns_resolve(d, "p2.test", 80, &ss, &len, on_res, &r[1], &q[1], &err), 1);
	is_int(origin_dns_resolve(d, "p2.test", 80, &ss, &len, on_res, &r[2], &q[2], &err), 1);
	/* r[0]'s shutdown callback cancels the fourth, which must then stay silent. */
	is_int(origin_dns_resolve(d, "p1.test", 80, &ss, &len, on_res, &r[3], &q[3], &err), 1);
	r[0].cancel_other = &q[3];
	origin_dns_free(&d);
	ok(d == NULL, "pointer cleared");
	for (int i = 0; i < 3; i++) {
		is_int(r[i].called, 1);
		ok(r[i].err == origin_dns_err_shutdown, "shutdown error");
	}
	is_int(r[3].called, 0);
	run_for(100); /* late answers hit closed sockets */
	is_int(r[0].called + r[1].called + r[2].called + r[3].called, 3);

	subtest("free from inside a callback");
	d = new_dns(0, 3600);
	memset(r, 0, sizeof r);
	r[0].free_dns = &d;
	is_int(origin_dns_resolve(d, "p1.test", 80, &ss, &len, on_res, &r[0], &q[0], &err), 1);
	is_int(origin_dns_resolve(d, "p1.test", 80, &ss, &len, on_res, &r[1], &q[1], &err), 1);
	is_int(origin_dns_resolve(d, "p2.test", 80, &ss, &len, on_res, &r[2], &q[2], &err), 1);
	ok(wait_int(&r[0].called, 1, 5000), "first callback ran");
	ok(r[0].err == NULL, "with an answer");
	ok(d == NULL, "freed from the callback");
	is_int(r[1].called, 1);
	ok(r[1].err == origin_dns_err_shutdown, "the other waiter got shutdown");
	is_int(r[2].called, 1);
	ok(r[2].err == origin_dns_err_shutdown || r[2].err == NULL, "p2 waiter called once");
	run_for(100);
	is_int(r[0].called + r[1].called + r[2].called, 3);
}

static void
test_localhost(void)
{
	struct origin_dns *d = new_dns(0, 3600);
	struct origin_dns_query *q = NULL;
	struct sockaddr_storage ss;
	socklen_t len;
	const char *err;
	struct res r = {0};
	char buf[80];
	int before = atomic_load(&srv.count_total);

	subtest("localhost is the loopback address (RFC 6761), never a query");
	is_int(origin_dns_resolve(d, "localhost", 8080, &ss, &len, on_res, &r, &q, &err), 0);
	ss_str(&ss, buf, sizeof buf);
	is_str(buf, "127.0.0.1:8080");
	is_int(origin_dns_resolve(d, "Api.LOCALHOST.", 81, &ss, &len, on_res, &r, &q, &err), 0);
	ss_str(&ss, buf, sizeof buf);
	is_str(buf, "127.0.0.1:81");
	run_for(50);
	is_int(r.called, 0);
	is_int(atomic_load(&srv.count_total), before);
	origin_dns_free(&d);
}

/*
 * One timeline for everything that needs the clock: TTL expiry, refresh at 75 %,
 * the min_ttl floor, the max_ttl ceiling, stale-if-error and timeouts.
 */
static void
test_ttl_timeline(void)
{
	struct origin_dns *d = new_dns(0, 3600);
	struct origin_dns *dfloor = new_dns(5, 3600);
	struct origin_dns *dceil = new_dns(0, 1);
	struct origin_dns_query *q = NULL;
	struct sockaddr_storage ss;
	socklen_t len;
	const char *err;
	struct res r[5], rs = {0}, rf = {0};
	char buf[80];
	uint64_t t0;

	subtest("TTL timeline: fill");
	memset(r, 0, sizeof r);
	t0 = time_mono_ms();
	is_int(origin_dns_resolve(d, "short.test", 80, &ss, &len, on_res, &r[0], &q, &err), 1);
	is_int(origin_dns_resolve(d, "refresh.test", 80, &ss, &len, on_res, &r[1], &q, &err), 1);
	is_int(origin_dns_resolve(d, "stale.test", 80, &ss, &len, on_res, &r[2], &q, &err), 1);
	is_int(origin_dns_resolve(dfloor, "floor.test", 80, &ss, &len, on_res, &r[3], &q, &err), 1);
	is_int(origin_dns_resolve(dceil, "one.test", 80, &ss, &len, on_res, &r[4], &q, &err), 1);
	for (int i = 0; i < 5; i++) {
		ok(wait_int(&r[i].called, 1, 5000), "filled");
		ok(r[i].err == NULL, "answer");
	}
	/* Past 75 % of refresh.test's 2 s, before its expiry; short.test (1 s) expired. */
	while (time_mono_ms() < t0 + 1600)
		run_for(10);
	ok(time_mono_ms() < t0 + 1900, "timeline still inside the refresh window");

	subtest("past 75 % of the TTL: cached answer now, refresh in the background");
	is_int(count_a("refresh.test"), 1);
	is_int(origin_dns_resolve(d, "refresh.test", 80, &ss, &len, on_res, &r[1], &q, &err), 0);
	is_str(ss_str(&ss, buf, sizeof buf), "192.0.2.40:80");
	ok(wait_atomic(&srv.count_a[zone_find("refresh.test")], 2, 3000), "refresh query sent");
	run_for(50);
	is_int(origin_dns_resolve(d, "refresh.test", 80, &ss, &len, on_res, &r[1], &q, &err), 0);
	is_int(count_a("refresh.test"), 2);
	is_int(r[1].called, 1); /* the refresh calls nobody */

	subtest("expired: a new query");
	memset(&r[0], 0, sizeof r[0]);
	is_int(origin_dns_resolve(d, "short.test", 80, &ss, &len, on_res, &r[0], &q, &err), 1);
	ok(wait_int(&r[0].called, 1, 5000), "answered");
	ok(r[0].err == NULL, "no error");
	is_int(count_a("short.test"), 2);

	subtest("min_ttl floor keeps a 1 s answer");
	is_int(origin_dns_resolve(dfloor, "floor.test", 80, &ss, &len, on_res, &r[3], &q, &err), 0);
	is_int(count_a("floor.test"), 1);

	subtest("max_ttl ceiling expires a 300 s answer after 1 s");
	memset(&r[4], 0, sizeof r[4]);
	is_int(origin_dns_resolve(dceil, "one.test", 80, &ss, &len, on_res, &r[4], &q, &err), 1);
	ok(wait_int(&r[4].called, 1, 5000), "answered");

	subtest("stale-if-error: dead server after expiry");
	atomic_store(&srv.silent, true);
	is_int(origin_dns_resolve(d, "stale.test", 80, &ss, &len, on_res, &rs, &q, &err), 1);
	is_int(origin_dns_resolve(d, "fresh.test", 80, &ss, &len, on_res, &rf, &q, &err), 1);
	ok(wait_int(&rs.called, 1, 10000), "stale waiter called");
	ok(wait_int(&rf.called, 1, 10000), "uncached waiter called");
	ok(rs.err == NULL, "old answer served");
	is_str(ss_str(&rs.ss, buf, sizeof buf), "192.0.2.50:80");
	ok(rf.err == origin_dns_err_timeout, "no old answer: origin_dns_err_timeout");
	ok(count_a("stale.test") >= 2, "a query was attempted");
	{
		int n = count_a("stale.test");

		is_int(
		    origin_dns_resolve(d, "stale.test", 80, &ss, &len, on_res, &rs, &q, &err), 0);
		is_str(ss_str(&ss, buf, sizeof buf), "192.0.2.50:80");
		run_for(50);
		is_int(count_a("stale.test"), n);
	}
	atomic_store(&srv.silent, false);
	origin_dns_free(&d);
	origin_dns_free(&dfloor);
	origin_dns_free(&dceil);
}

int
main(void)
{
	log_set_level(LOG_LEVEL_WARN);
	base = event_base_new();
	if (base == NULL || srv_start() == -1) {
		printf("Bail out! cannot set up the event base or the DNS responder\n");
		return 1;
	}
	snprintf(servers, sizeof servers, "127.0.0.1:%u", srv.port);

	test_literals();
	test_async_cache_rotation();
	test_coalesce_nx();
	test_cancel();
	test_free_pending();
	test_localhost();
	test_ttl_timeline();

	srv_stop();
	event_base_free(base);
	return tap_done();
}
