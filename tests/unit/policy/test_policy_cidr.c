/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/policy/test_policy_cidr.c — prefix parsing and longest-prefix
 * match (policy/policy_cidr.c), table-driven, then 100,000 random prefixes
 * checked against a brute-force scan on random addresses.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"
#include "tests/unit/tap.h"

static struct policy_addr
addr(const char *s)
{
	struct policy_addr a;

	if (policy_addr_parse(str_cstr(s), &a) != 0) {
		printf("# bad test address %s\n", s);
		abort();
	}
	return a;
}

static void
test_parse(void)
{
	static const struct {
		const char *in;
		enum policy_cidr_status st;
		const char *canon; /* policy_prefix_format of the result */
	} cases[] = {
	    {"192.0.2.0/24", POLICY_CIDR_OK, "192.0.2.0/24"},
	    {"192.0.2.1", POLICY_CIDR_OK, "192.0.2.1/32"},
	    {"0.0.0.0/0", POLICY_CIDR_OK, "0.0.0.0/0"},
	    {"10.0.0.0/8", POLICY_CIDR_OK, "10.0.0.0/8"},
	    {"2001:db8::/32", POLICY_CIDR_OK, "2001:db8::/32"},
	    {"2001:DB8::1", POLICY_CIDR_OK, "2001:db8::1/128"},
	    {"::/0", POLICY_CIDR_OK, "::/0"},
	    {"::ffff:192.0.2.0/120", POLICY_CIDR_OK, "192.0.2.0/24"},
	    {"::ffff:0:0/96", POLICY_CIDR_OK, "0.0.0.0/0"},
	    {"::ffff:192.0.2.7", POLICY_CIDR_OK, "192.0.2.7/32"},
	    {"::ffff:0:0/95", POLICY_CIDR_E_HOST_BITS, "::fffe:0:0/95"},
	    {"", POLICY_CIDR_E_EMPTY, NULL},
	    {"/24", POLICY_CIDR_E_BAD_ADDRESS, NULL},
	    {"192.0.2/24", POLICY_CIDR_E_BAD_ADDRESS, NULL},
	    {"192.0.2.256", POLICY_CIDR_E_BAD_ADDRESS, NULL},
	    {"192.0.2.01", POLICY_CIDR_E_BAD_ADDRESS, NULL},
	    {" 192.0.2.0/24", POLICY_CIDR_E_BAD_ADDRESS, NULL},
	    {"fe80::1%eth0", POLICY_CIDR_E_BAD_ADDRESS, NULL},
	    {"[2001:db8::]/32", POLICY_CIDR_E_BAD_ADDRESS, NULL},
	    {"example.com/24", POLICY_CIDR_E_BAD_ADDRESS, NULL},
	    {"192.0.2.0/", POLICY_CIDR_E_BAD_LENGTH, NULL},
	    {"192.0.2.0/x", POLICY_CIDR_E_BAD_LENGTH, NULL},
	    {"192.0.2.0/+24", POLICY_CIDR_E_BAD_LENGTH, NULL},
	    {"192.0.2.0/024", POLICY_CIDR_E_BAD_LENGTH, NULL},
	    {"192.0.2.0/24 ", POLICY_CIDR_E_BAD_LENGTH, NULL},
	    {"192.0.2.0/1000", POLICY_CIDR_E_BAD_LENGTH, NULL},
	    {"192.0.2.0/24/8", POLICY_CIDR_E_BAD_LENGTH, NULL},
	    {"192.0.2.0/33", POLICY_CIDR_E_LENGTH_RANGE, NULL},
	    {"2001:db8::/129", POLICY_CIDR_E_LENGTH_RANGE, NULL},
	    {"192.0.2.1/24", POLICY_CIDR_E_HOST_BITS, "192.0.2.0/24"},
	    {"10.1.2.3/8", POLICY_CIDR_E_HOST_BITS, "10.0.0.0/8"},
	    {"2001:db8::1/32", POLICY_CIDR_E_HOST_BITS, "2001:db8::/32"},
	    {"::ffff:192.0.2.1/120", POLICY_CIDR_E_HOST_BITS, "192.0.2.0/24"},
	};

	subtest("prefix parsing");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct policy_prefix p;
		char buf[POLICY_PREFIX_STRLEN];
		enum policy_cidr_status st = policy_prefix_parse(str_cstr(cases[i].in), &p);

		if (!ok(st == cases[i].st, cases[i].in))
			printf("#   got %s, want %s\n", policy_cidr_strerror(st),
			    policy_cidr_strerror(cases[i].st));
		if (cases[i].canon != NULL && st == cases[i].st)
			is_str(policy_prefix_format(&p, buf), cases[i].canon);
	}
	is_str(policy_cidr_strerror(POLICY_CIDR_E_HOST_BITS),
	    "address has bits set after the prefix length");
}

static void
test_lookup(void)
{
	static const struct {
		const char *prefix;
		uint32_t value;
	} rules[] = {
	    {"0.0.0.0/0", 1},
	    {"10.0.0.0/8", 2},
	    {"10.1.0.0/16", 3},
	    {"10.1.2.0/24", 4},
	    {"10.1.2.3", 5},
	    {"192.0.2.0/25", 6},
	    {"192.0.2.128/25", 7},
	    {"2001:db8::/32", 8},
	    {"2001:db8:1::/48", 9},
	    {"2001:db8:1:2::/64", 10},
	    {"::1", 11},
	    {"::ffff:198.51.100.0/120", 12},
	};
	static const struct {
		const char *addr;
		int found;
		uint32_t value;
	} q[] = {
	    {"10.1.2.3", 1, 5},
	    {"10.1.2.4", 1, 4},
	    {"10.1.3.4", 1, 3},
	    {"10.2.3.4", 1, 2},
	    {"11.0.0.1", 1, 1},
	    {"192.0.2.1", 1, 6},
	    {"192.0.2.200", 1, 7},
	    {"198.51.100.9", 1, 12},
	    {"::ffff:10.1.2.3", 1, 5}, /* policy_addr_parse makes it IPv4 */
	    {"2001:db8:1:2::5", 1, 10},
	    {"2001:db8:1:3::5", 1, 9},
	    {"2001:db8:2::", 1, 8},
	    {"2001:db9::", 0, 0},
	    {"::1", 1, 11},
	    {"::2", 0, 0},
	};
	struct policy_cidr *s = policy_cidr_new();
	struct policy_addr mapped;
	uint32_t v = 0;

	subtest("longest-prefix match");
	for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
		is_int(policy_cidr_add_str(s, str_cstr(rules[i].prefix), rules[i].value),
		    POLICY_CIDR_OK);
	is_int(policy_cidr_add_str(s, STR_LIT("10.1.0.0/16"), 99), POLICY_CIDR_E_DUPLICATE);
	is_int(policy_cidr_add_str(s, STR_LIT("::ffff:10.0.0.0/104"), 99), POLICY_CIDR_E_DUPLICATE);
	is_int(policy_cidr_count(s), sizeof rules / sizeof rules[0]);
	for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
		struct policy_addr a = addr(q[i].addr);
		bool f;

		v = 0;
		f = policy_cidr_lookup(s, &a, &v);
		ok(f == (bool)q[i].found && (!f || v == q[i].value), q[i].addr);
	}
	/* An IPv4-mapped IPv6 address built by hand (not normalized) still
	 * matches the IPv4 prefixes. */
	memset(&mapped, 0, sizeof mapped);
	mapped.family = AF_INET6;
	mapped.b[10] = mapped.b[11] = 0xff;
	mapped.b[12] = 10, mapped.b[13] = 1, mapped.b[14] = 2, mapped.b[15] = 3;
	ok(policy_cidr_lookup(s, &mapped, &v) && v == 5, "raw ::ffff:10.1.2.3 matches 10.1.2.3");
	/* ::/0 covers IPv6 clients only. */
	policy_cidr_free(&s);
	s = policy_cidr_new();
	is_int(policy_cidr_add_str(s, STR_LIT("::/0"), 1), POLICY_CIDR_OK);
	{
		struct policy_addr a4 = addr("192.0.2.1"), a6 = addr("2001:db8::1");

		ok(!policy_cidr_lookup(s, &a4, NULL), "::/0 does not cover IPv4");
		ok(!policy_cidr_lookup(s, &mapped, NULL), "::/0 does not cover mapped IPv4");
		ok(policy_cidr_lookup(s, &a6, NULL), "::/0 covers IPv6");
	}
	policy_cidr_free(&s);
	ok(s == NULL, "free clears the pointer");
	policy_cidr_free(&s);
	/* An empty set matches nothing. */
	s = policy_cidr_new();
	{
		struct policy_addr a = addr("192.0.2.1");

		ok(!policy_cidr_lookup(s, &a, NULL), "empty set");
	}
	policy_cidr_free(&s);
}

/* ---- random prefixes against a brute-force reference ------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

struct ref {
	uint8_t family;
	uint8_t len;
	uint8_t b[16];
	uint32_t value;
};

static bool
ref_has(const struct ref *r, const struct policy_addr *a)
{
	unsigned full = r->len / 8, rest = r->len % 8;

	if (r->family != a->family)
		return false;
	if (memcmp(r->b, a->b, full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((r->b[full] ^ a->b[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

static int
ref_cmp(const void *x, const void *y)
{
	const struct ref *a = x, *b = y;

	if (a->family != b->family)
		return a->family - b->family;
	if (a->len != b->len)
		return a->len - b->len;
	return memcmp(a->b, b->b, 16);
}

static void
mask_bytes(uint8_t *b, unsigned len, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++) {
		unsigned keep = len > i * 8 ? len - i * 8 : 0;

		if (keep < 8)
			b[i] &= (uint8_t)(0xff << (8 - keep)) & 0xff;
		if (keep == 0)
			b[i] = 0;
	}
}

#define N_PREFIXES 100000
#define N_BASES    64
#define N_QUERIES  4000

static void
test_random(void)
{
	struct policy_addr bases[N_BASES];
	struct ref *refs = calloc(N_PREFIXES, sizeof *refs), *sorted;
	struct policy_cidr *s = policy_cidr_new();
	size_t n = 0, distinct = 0, dups = 0, bad = 0;

	subtest("100,000 random prefixes against a brute-force scan");
	for (int i = 0; i < N_BASES; i++) {
		memset(&bases[i], 0, sizeof bases[i]);
		bases[i].family = i % 3 == 0 ? AF_INET : AF_INET6;
		for (int j = 0; j < 16; j += 8) {
			uint64_t r = rnd();

			memcpy(bases[i].b + j, &r, 8);
		}
		if (bases[i].family == AF_INET)
			memset(bases[i].b + 4, 0, 12);
		else if (bases[i].b[0] == 0)
			bases[i].b[0] = 0x20; /* stay clear of ::ffff:0:0/96 */
	}
	for (int i = 0; i < N_PREFIXES; i++) {
		struct policy_addr a = bases[rnd() % N_BASES];
		unsigned max = a.family == AF_INET ? 32 : 128, bytes = max / 8;
		unsigned min = a.family == AF_INET ? 8 : 16;
		unsigned len = min + (unsigned)(rnd() % (max - min + 1));
		/* keep the base's first bits (prefixes nest), randomize the rest */
		unsigned from = (unsigned)(rnd() % (len + 1));
		struct policy_prefix p;
		enum policy_cidr_status st;

		for (unsigned bit = from; bit < max; bit++)
			if (rnd() & 1)
				a.b[bit / 8] ^= (uint8_t)(0x80 >> (bit % 8));
		mask_bytes(a.b, len, bytes);
		memset(&p, 0, sizeof p);
		p.addr = a;
		p.len = (uint8_t)len;
		if (i % 10 == 0) {
			/* through the text form */
			char buf[POLICY_PREFIX_STRLEN];

			st = policy_cidr_add_str(
			    s, str_cstr(policy_prefix_format(&p, buf)), (uint32_t)i);
		} else {
			st = policy_cidr_add(s, &p, (uint32_t)i);
		}
		if (st == POLICY_CIDR_E_DUPLICATE) {
			dups++;
			continue;
		}
		if (st != POLICY_CIDR_OK) {
			bad++;
			continue;
		}
		refs[n].family = a.family;
		refs[n].len = (uint8_t)len;
		memcpy(refs[n].b, a.b, 16);
		refs[n].value = (uint32_t)i;
		n++;
	}
	is_int(bad, 0);
	is_int(policy_cidr_count(s), n);
	/* The set refused exactly the repeated prefixes. */
	sorted = malloc(n * sizeof *sorted);
	memcpy(sorted, refs, n * sizeof *sorted);
	qsort(sorted, n, sizeof *sorted, ref_cmp);
	for (size_t i = 0; i < n; i++)
		if (i == 0 || ref_cmp(&sorted[i - 1], &sorted[i]) != 0)
			distinct++;
	is_int(distinct, n);
	ok(dups > 0 && n > N_PREFIXES * 8 / 10, "mostly distinct, some repeated");
	printf(
	    "# %zu prefixes, %zu duplicates refused, %zu bytes\n", n, dups, policy_cidr_bytes(s));
	free(sorted);

	{
		size_t mismatches = 0, matched = 0;

		for (int q = 0; q < N_QUERIES; q++) {
			struct policy_addr a;
			int best = -1;
			uint32_t v = 0;
			bool f;

			if (q % 2 == 0) {
				/* an address inside a random stored prefix */
				const struct ref *r = &refs[rnd() % n];
				unsigned max = r->family == AF_INET ? 32 : 128;

				memset(&a, 0, sizeof a);
				a.family = r->family;
				memcpy(a.b, r->b, 16);
				for (unsigned bit = r->len; bit < max; bit++)
					if (rnd() & 1)
						a.b[bit / 8] ^= (uint8_t)(0x80 >> (bit % 8));
			} else if (q % 4 == 1) {
				/* anywhere */
				uint64_t r1 = rnd(), r2 = rnd();

				memset(&a, 0, sizeof a);
				a.family = r1 & 1 ? AF_INET : AF_INET6;
				memcpy(a.b, &r1, 8);
				memcpy(a.b + 8, &r2, 8);
				if (a.family == AF_INET)
					memset(a.b + 4, 0, 12);
				else
					a.b[0] |= 0x20; /* not IPv4-mapped */
			} else {
				/* near a base */
				a = bases[rnd() % N_BASES];
				unsigned max = a.family == AF_INET ? 32 : 128;
				unsigned from = (unsigned)(rnd() % (max + 1));

				for (unsigned bit = from; bit < max; bit++)
					if (rnd() & 1)
						a.b[bit / 8] ^= (uint8_t)(0x80 >> (bit % 8));
			}
			for (size_t i = 0; i < n; i++)
				if (ref_has(&refs[i], &a) &&
				    (best < 0 || refs[i].len > refs[best].len))
					best = (int)i;
			f = policy_cidr_lookup(s, &a, &v);
			if (f != (best >= 0) || (f && v != refs[best].value))
				mismatches++;
			matched += f;
			if (a.family == AF_INET) {
				/* the same client as an IPv4-mapped IPv6 address */
				struct policy_addr m;
				uint32_t mv = 0;

				memset(&m, 0, sizeof m);
				m.family = AF_INET6;
				m.b[10] = m.b[11] = 0xff;
				memcpy(m.b + 12, a.b, 4);
				if (policy_cidr_lookup(s, &m, &mv) != f || mv != v)
					mismatches++;
			}
		}
		is_int(mismatches, 0);
		ok(matched > N_QUERIES / 2 && matched < N_QUERIES, "queries match and miss");
		printf("# %zu of %d queries matched\n", matched, N_QUERIES);
	}
	free(refs);
	policy_cidr_free(&s);
}

int
main(void)
{
	test_parse();
	test_lookup();
	test_random();
	return tap_done();
}
