/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * policy/policy_cidr.c — CIDR sets: longest-prefix match over IPv4 and IPv6.
 *
 * Model: one PATRICIA tree (a binary trie whose one-child chains are
 * collapsed) per family.  Keys are 128-bit numbers (hi, lo) — an IPv4
 * address sits in the top 32 bits — so one code path serves both trees.
 * Each node holds a prefix (key with host bits zero, length), the value if
 * the prefix was added (else it is a branching "glue" node), and two
 * children chosen by the bit just after the node's prefix.  A subtree only
 * holds prefixes that extend its root's prefix, so a lookup walks down,
 * remembers the value of the last node whose prefix matches and stops at
 * the first node whose prefix does not.  With n prefixes there are at most
 * 2n - 1 nodes and a lookup visits at most 33 (IPv4) or 129 (IPv6) of
 * them; in practice the depth is close to log2(n).
 *
 * Nodes live in one array (indices, not pointers: cache-friendly and one
 * allocation to free).  The array grows while the set is built (config load,
 * one thread); afterwards the set is immutable and any number of workers
 * look it up without a lock — publishing it through the config snapshot
 * provides the ordering.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/xmalloc.h"
#include "policy/policy.h"

#define NIL UINT32_MAX

struct cidr_node {
	uint64_t hi, lo;   /* prefix, host bits zero */
	uint32_t child[2]; /* by the bit at position len; NIL if none */
	uint32_t value;
	uint8_t len;
	uint8_t has_value; /* 0: glue node */
};

struct policy_cidr {
	struct cidr_node *nodes;
	uint32_t n_nodes, cap;
	uint32_t root[2]; /* [0] IPv4, [1] IPv6 */
	size_t n_prefixes;
};

struct k128 {
	uint64_t hi, lo;
};

static const char *const cidr_text[] = {
#define POLICY_CIDR_TEXT(name, text) text,
    POLICY_CIDR_STATUS_TABLE(POLICY_CIDR_TEXT)
#undef POLICY_CIDR_TEXT
};

const char *
policy_cidr_strerror(enum policy_cidr_status st)
{
	if ((size_t)st >= sizeof cidr_text / sizeof cidr_text[0])
		return "unknown CIDR status";
	return cidr_text[st];
}

static uint64_t
be64(const uint8_t *b)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

static void
put_be64(uint8_t *b, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		b[i] = (uint8_t)v;
}

static struct k128
key_of(const struct policy_addr *a)
{
	struct k128 k;

	if (a->family == AF_INET) {
		k.hi = (uint64_t)((uint32_t)a->b[0] << 24 | (uint32_t)a->b[1] << 16 |
		                  (uint32_t)a->b[2] << 8 | a->b[3])
		       << 32;
		k.lo = 0;
	} else {
		k.hi = be64(a->b);
		k.lo = be64(a->b + 8);
	}
	return k;
}

static struct k128
mask_of(unsigned len)
{
	struct k128 m;

	m.hi = len == 0 ? 0 : len >= 64 ? UINT64_MAX : UINT64_MAX << (64 - len);
	m.lo = len <= 64 ? 0 : len >= 128 ? UINT64_MAX : UINT64_MAX << (128 - len);
	return m;
}

static unsigned
bit_at(struct k128 k, unsigned i)
{
	return i < 64 ? (unsigned)(k.hi >> (63 - i)) & 1 : (unsigned)(k.lo >> (127 - i)) & 1;
}

/* Length of the common leading bits of a and b (0..128). */
static unsigned
common_len(struct k128 a, struct k128 b)
{
	uint64_t x = a.hi ^ b.hi;

	if (x != 0)
		return (unsigned)__builtin_clzll(x);
	x = a.lo ^ b.lo;
	if (x != 0)
		return 64 + (unsigned)__builtin_clzll(x);
	return 128;
}

/* True when the first len bits of k are those of p. */
static inline bool
prefix_has(uint64_t phi, uint64_t plo, unsigned len, struct k128 k)
{
	struct k128 m = mask_of(len);

	return (((k.hi ^ phi) & m.hi) | ((k.lo ^ plo) & m.lo)) == 0;
}

static bool
is_v4mapped(const struct policy_addr *a)
{
	static const uint8_t pre[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	return a->family == AF_INET6 && memcmp(a->b, pre, sizeof pre) == 0;
}

/* A mapped IPv6 prefix of length >= 96 is the IPv4 prefix (see policy.h). */
static void
prefix_canon(const struct policy_prefix *in, struct policy_prefix *out)
{
	*out = *in;
	if (is_v4mapped(&in->addr) && in->len >= 96) {
		memset(&out->addr, 0, sizeof out->addr);
		out->addr.family = AF_INET;
		memcpy(out->addr.b, in->addr.b + 12, 4);
		out->len = (uint8_t)(in->len - 96);
	}
}

enum policy_cidr_status
policy_prefix_parse(struct str s, struct policy_prefix *out)
{
	const char *slash = s.len > 0 ? memchr(s.p, '/', s.len) : NULL;
	struct str a = slash != NULL ? str_make(s.p, (size_t)(slash - s.p)) : s;
	struct policy_prefix p;
	unsigned max, len;
	struct k128 k, m;

	if (s.len == 0)
		return POLICY_CIDR_E_EMPTY;
	memset(&p, 0, sizeof p);
	/* Parse without the mapped → IPv4 step of policy_addr_parse: the length
	 * given counts bits of the IPv6 form. */
	{
		char text[POLICY_ADDR_STRLEN];
		struct in6_addr a6;
		struct in_addr a4;

		if (a.len == 0 || a.len >= sizeof text)
			return POLICY_CIDR_E_BAD_ADDRESS;
		memcpy(text, a.p, a.len);
		text[a.len] = '\0';
		if (memchr(text, '\0', a.len) != NULL)
			return POLICY_CIDR_E_BAD_ADDRESS;
		if (inet_pton(AF_INET, text, &a4) == 1) {
			p.addr.family = AF_INET;
			memcpy(p.addr.b, &a4, 4);
		} else if (inet_pton(AF_INET6, text, &a6) == 1) {
			p.addr.family = AF_INET6;
			memcpy(p.addr.b, &a6, 16);
		} else {
			return POLICY_CIDR_E_BAD_ADDRESS;
		}
	}
	max = p.addr.family == AF_INET ? 32 : 128;
	len = max;
	if (slash != NULL) {
		struct str l = str_make(slash + 1, s.len - a.len - 1);

		/* 1..3 digits, no sign, no leading zero ("/08" is a typo). */
		if (l.len == 0 || l.len > 3 || (l.len > 1 && l.p[0] == '0'))
			return POLICY_CIDR_E_BAD_LENGTH;
		len = 0;
		for (size_t i = 0; i < l.len; i++) {
			if (l.p[i] < '0' || l.p[i] > '9')
				return POLICY_CIDR_E_BAD_LENGTH;
			len = len * 10 + (unsigned)(l.p[i] - '0');
		}
		if (len > max)
			return POLICY_CIDR_E_LENGTH_RANGE;
	}
	p.len = (uint8_t)len;
	k = key_of(&p.addr);
	m = mask_of(len);
	if ((k.hi & ~m.hi) == 0 && (k.lo & ~m.lo) == 0) {
		prefix_canon(&p, out);
		return POLICY_CIDR_OK;
	}
	/* Give the network meant, for the message. */
	k.hi &= m.hi;
	k.lo &= m.lo;
	if (p.addr.family == AF_INET) {
		uint32_t v = (uint32_t)(k.hi >> 32);

		p.addr.b[0] = (uint8_t)(v >> 24);
		p.addr.b[1] = (uint8_t)(v >> 16);
		p.addr.b[2] = (uint8_t)(v >> 8);
		p.addr.b[3] = (uint8_t)v;
	} else {
		put_be64(p.addr.b, k.hi);
		put_be64(p.addr.b + 8, k.lo);
	}
	prefix_canon(&p, out);
	return POLICY_CIDR_E_HOST_BITS;
}

const char *
policy_prefix_format(const struct policy_prefix *p, char *buf)
{
	char a[POLICY_ADDR_STRLEN];

	snprintf(
	    buf, POLICY_PREFIX_STRLEN, "%s/%u", policy_addr_format(&p->addr, a), (unsigned)p->len);
	return buf;
}

struct policy_cidr *
policy_cidr_new(void)
{
	struct policy_cidr *s = xcalloc(1, sizeof *s);

	s->root[0] = s->root[1] = NIL;
	return s;
}

void
policy_cidr_free(struct policy_cidr **sp)
{
	if (*sp == NULL)
		return;
	free((*sp)->nodes);
	free(*sp);
	*sp = NULL;
}

static uint32_t
node_new(struct policy_cidr *s, struct k128 k, unsigned len)
{
	struct cidr_node *n;

	ASSERT(s->n_nodes < s->cap);
	n = &s->nodes[s->n_nodes];
	n->hi = k.hi;
	n->lo = k.lo;
	n->len = (uint8_t)len;
	n->child[0] = n->child[1] = NIL;
	n->has_value = 0;
	n->value = 0;
	return s->n_nodes++;
}

enum policy_cidr_status
policy_cidr_add(struct policy_cidr *s, const struct policy_prefix *in, uint32_t value)
{
	struct policy_prefix p;
	struct k128 k, m;
	uint32_t *link, idx;
	unsigned len;

	prefix_canon(in, &p);
	len = p.len;
	ASSERT(len <= (p.addr.family == AF_INET ? 32u : 128u));
	k = key_of(&p.addr);
	m = mask_of(len);
	if ((k.hi & ~m.hi) != 0 || (k.lo & ~m.lo) != 0)
		return POLICY_CIDR_E_HOST_BITS;
	/* At most two new nodes: make room first, so `link` stays valid. */
	if (s->cap - s->n_nodes < 2) {
		ASSERT(s->cap < UINT32_MAX / 2 - 2);
		s->cap = s->cap ? s->cap * 2 : 64;
		s->nodes = xrealloc(s->nodes, (size_t)s->cap * sizeof *s->nodes);
	}
	link = &s->root[p.addr.family == AF_INET ? 0 : 1];
	for (;;) {
		struct cidr_node *n;
		struct k128 nk;
		unsigned c;

		idx = *link;
		if (idx == NIL) {
			idx = node_new(s, k, len);
			*link = idx;
			break;
		}
		n = &s->nodes[idx];
		nk = (struct k128){n->hi, n->lo};
		c = common_len(k, nk);
		if (c > len)
			c = len;
		if (c > n->len)
			c = n->len;
		if (c == n->len) {
			if (len == n->len) {
				if (n->has_value)
					return POLICY_CIDR_E_DUPLICATE;
				n->has_value = 1;
				n->value = value;
				s->n_prefixes++;
				return POLICY_CIDR_OK;
			}
			link = &n->child[bit_at(k, n->len)];
			continue;
		}
		/* The new prefix and n part at bit c < n->len. */
		if (c == len) {
			/* The new prefix contains n: it becomes n's parent. */
			uint32_t nn = node_new(s, k, len);

			s->nodes[nn].child[bit_at(nk, len)] = idx;
			*link = nn;
			idx = nn;
		} else {
			/* Siblings under a glue node at their common prefix. */
			struct k128 gm = mask_of(c);
			uint32_t g = node_new(s, (struct k128){k.hi & gm.hi, k.lo & gm.lo}, c);
			uint32_t leaf = node_new(s, k, len);

			s->nodes[g].child[bit_at(nk, c)] = idx;
			s->nodes[g].child[bit_at(k, c)] = leaf;
			*link = g;
			idx = leaf;
		}
		break;
	}
	s->nodes[idx].has_value = 1;
	s->nodes[idx].value = value;
	s->n_prefixes++;
	return POLICY_CIDR_OK;
}

enum policy_cidr_status
policy_cidr_add_str(struct policy_cidr *s, struct str text, uint32_t value)
{
	struct policy_prefix p;
	enum policy_cidr_status st = policy_prefix_parse(text, &p);

	if (st != POLICY_CIDR_OK)
		return st;
	return policy_cidr_add(s, &p, value);
}

bool
policy_cidr_lookup(const struct policy_cidr *s, const struct policy_addr *a, uint32_t *value)
{
	const struct cidr_node *nodes = s->nodes;
	struct policy_addr v4;
	struct k128 k;
	uint32_t idx;
	unsigned max;
	bool found = false;

	if (is_v4mapped(a)) {
		memset(&v4, 0, sizeof v4);
		v4.family = AF_INET;
		memcpy(v4.b, a->b + 12, 4);
		a = &v4;
	}
	if (a->family == AF_INET) {
		idx = s->root[0];
		max = 32;
	} else {
		idx = s->root[1];
		max = 128;
	}
	k = key_of(a);
	while (idx != NIL) {
		const struct cidr_node *n = &nodes[idx];

		if (!prefix_has(n->hi, n->lo, n->len, k))
			break;
		if (n->has_value) {
			found = true;
			if (value != NULL)
				*value = n->value;
		}
		if (n->len >= max)
			break;
		idx = n->child[bit_at(k, n->len)];
	}
	return found;
}

size_t
policy_cidr_count(const struct policy_cidr *s)
{
	return s->n_prefixes;
}

size_t
policy_cidr_bytes(const struct policy_cidr *s)
{
	return sizeof *s + (size_t)s->cap * sizeof *s->nodes;
}
