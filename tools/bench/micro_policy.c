/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tools/bench/micro_policy.c — what the policy primitives cost a request:
 * ns per CIDR lookup (1,000 and 100,000 random prefixes), per PROXY header (v1, v2),
 * per client-address walk, and per rate check with two threads on one
 * shared table.  Not a test: prints figures, asserts nothing.
 *
 *   build/tools/bench/micro_policy [iterations]
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy/policy.h"
#include "tools/bench/micro.h"

static uint64_t rng = 88172645463325252ull;

static uint64_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static volatile uint64_t sink;

static void
random_addr(struct policy_addr *a, int family)
{
	uint64_t r1 = rnd(), r2 = rnd();

	memset(a, 0, sizeof *a);
	a->family = (uint8_t)family;
	memcpy(a->b, &r1, 8);
	if (family == AF_INET6) {
		memcpy(a->b + 8, &r2, 8);
		a->b[0] = 0x20;
	} else {
		memset(a->b + 4, 0, 12);
	}
}

static void
bench_cidr(long iters, int n_prefixes)
{
	struct policy_cidr *s = policy_cidr_new();
	struct policy_addr *q = malloc(4096 * sizeof *q);
	double t0;
	uint64_t hits = 0;

	for (int i = 0; i < n_prefixes; i++) {
		struct policy_prefix p;
		int fam = i % 2 ? AF_INET : AF_INET6;
		unsigned max = fam == AF_INET ? 32 : 128;

		random_addr(&p.addr, fam);
		p.len = (uint8_t)(fam == AF_INET ? 8 + rnd() % 25 : 16 + rnd() % 49);
		for (unsigned bit = p.len; bit < max; bit++)
			p.addr.b[bit / 8] &= (uint8_t) ~(0x80 >> (bit % 8));
		(void)policy_cidr_add(s, &p, (uint32_t)i);
	}
	for (int i = 0; i < 4096; i++)
		random_addr(&q[i], i % 2 ? AF_INET : AF_INET6);
	t0 = micro_now_ns();
	for (long i = 0; i < iters; i++) {
		uint32_t v;

		hits += policy_cidr_lookup(s, &q[i & 4095], &v);
	}
	sink = hits;
	printf("cidr lookup (%zu prefixes, %zu KiB): %.1f ns\n", policy_cidr_count(s),
	    policy_cidr_bytes(s) / 1024, (micro_now_ns() - t0) / (double)iters);
	policy_cidr_free(&s);
	free(q);
}

static void
bench_pp(long iters)
{
	static const char v1[] = "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n";
	static const uint8_t v2[] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49,
	    0x54, 0x0A, 0x21, 0x11, 0x00, 0x0C, 192, 0, 2, 1, 198, 51, 100, 2, 0xdc, 0x04, 0x01,
	    0xbb};
	struct policy_proxyproto_conf c;
	struct policy_pp_result r;
	size_t need;
	double t0;
	uint64_t acc = 0;

	policy_proxyproto_conf_defaults(&c);
	t0 = micro_now_ns();
	for (long i = 0; i < iters; i++)
		acc += policy_pp_parse((const uint8_t *)v1, sizeof v1 - 1, &c, &r, &need) +
		       r.header_len;
	printf("proxy v1 TCP4 header: %.1f ns\n", (micro_now_ns() - t0) / (double)iters);
	t0 = micro_now_ns();
	for (long i = 0; i < iters; i++)
		acc += policy_pp_parse(v2, sizeof v2, &c, &r, &need) + r.header_len;
	printf("proxy v2 INET header: %.1f ns\n", (micro_now_ns() - t0) / (double)iters);
	sink = acc;
}

static void
bench_clientip(long iters)
{
	struct policy_cidr *t = policy_cidr_new();
	struct policy_clientip_conf c;
	struct policy_addr peer, out;
	struct str xff = STR_LIT("198.51.100.9, 203.0.113.7, 10.0.0.2");
	struct str fwd = STR_LIT("for=198.51.100.9, for=\"[2001:db8::7]:443\";proto=https, "
	                         "for=10.0.0.2");
	double t0;
	uint64_t acc = 0;

	(void)policy_cidr_add_str(t, STR_LIT("10.0.0.0/8"), 0);
	policy_clientip_conf_defaults(&c);
	c.trusted = t;
	(void)policy_addr_parse(STR_LIT("10.0.0.1"), &peer);
	t0 = micro_now_ns();
	for (long i = 0; i < iters; i++)
		acc += policy_clientip(&c, &peer, &xff, 1, &out);
	printf("client address, X-Forwarded-For of 3 (2 read): %.1f ns\n",
	    (micro_now_ns() - t0) / (double)iters);
	c.header = POLICY_CLIENTIP_FORWARDED;
	t0 = micro_now_ns();
	for (long i = 0; i < iters; i++)
		acc += policy_clientip(&c, &peer, &fwd, 1, &out);
	printf("client address, Forwarded of 3 (2 read): %.1f ns\n",
	    (micro_now_ns() - t0) / (double)iters);
	sink = acc;
	policy_cidr_free(&t);
}

struct rl_arg {
	struct policy_rl *t;
	long iters;
	int id;
	uint64_t ns;
};

static void *
rl_thread(void *p)
{
	struct rl_arg *a = p;
	struct policy_rl_limit l;
	struct policy_addr addr;
	double t0;
	uint64_t acc = 0;

	policy_rl_limit_make(&(struct policy_rate){100, 1}, 200, &l);
	random_addr(&addr, AF_INET);
	t0 = micro_now_ns();
	for (long i = 0; i < a->iters; i++) {
		/* 65,536 clients per thread, keyed and checked as a request would */
		memcpy(addr.b, &(uint32_t){(uint32_t)(i & 65535) | (uint32_t)a->id << 24}, 4);
		acc += policy_rl_check(
		    a->t, policy_rl_key_addr(a->t, 1, &addr), &l, t0 + (uint64_t)i * 100, NULL);
	}
	a->ns = micro_now_ns() - t0;
	sink = acc;
	return NULL;
}

static void
bench_rl(long iters)
{
	struct policy_rl_table_conf c;
	struct rl_arg a[2];
	pthread_t th[2];

	policy_rl_table_conf_defaults(&c);
	a[0].t = a[1].t = policy_rl_new(&c);
	for (int i = 0; i < 2; i++) {
		a[i].iters = iters;
		a[i].id = i + 1;
		pthread_create(&th[i], NULL, rl_thread, &a[i]);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	printf("rate check incl. key hash, 2 threads, one %zu KiB table: %.1f / %.1f ns\n",
	    policy_rl_bytes(a[0].t) / 1024, (double)a[0].ns / (double)iters,
	    (double)a[1].ns / (double)iters);
	policy_rl_free(&a[0].t);
}

int
main(int argc, char **argv)
{
	long iters = argc > 1 ? atol(argv[1]) : 5000000;

	if (iters <= 0)
		iters = 5000000;
	bench_cidr(iters, 1000);
	bench_cidr(iters, 100000);
	bench_pp(iters);
	bench_clientip(iters);
	bench_rl(iters);
	return 0;
}
