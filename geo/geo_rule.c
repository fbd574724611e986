/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * geo/geo_rule.c — geo access rules: the parser of one rule, the compiled
 * table, and the verdict for one client.
 *
 * Model.  A rule list (`access: { deny: [...] }` or `allow: [...]`) is parsed
 * rule by rule (geo_rule_parse, so config/ can point at the bad item), then
 * compiled into one immutable struct geo_rules shared read-only by every
 * worker.  The verdict asks every rule at once and keeps the lowest index of
 * those that match, so the answer (and the metric label, the rule index) is
 * the same as walking the list in order, at a cost that does not grow with
 * the list:
 *
 *  - country and continent rules: arrays indexed by the code (26 x 26 and 7
 *    entries) holding the lowest rule index for that code, one load each;
 *  - ASN rules: one sorted array, one binary search;
 *  - CIDR rules: per address family, one sorted array of networks per prefix
 *    length present, one binary search per length (a list of a few hundred
 *    prefixes has a handful of lengths).  The lowest index among all lengths
 *    is kept, not the longest prefix: the list's order decides, as it reads.
 *
 * A rule that needs a field the lookup did not find (a country rule and no
 * country; a cidr rule and no address) cannot be decided; when no rule
 * matched and one could not be decided, the `unknown` setting decides.
 */
#include "config.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/assert.h"
#include "core/xmalloc.h"
#include "geo/geo.h"
#include "geo/geo_int.h"

static const char geo_continents[GEO_N_CONTINENT][3] = {"AF", "AN", "AS", "EU", "NA", "OC", "SA"};

int
geo_continent_index(const char *c)
{
	for (int i = 0; i < GEO_N_CONTINENT; i++)
		if (strcmp(c, geo_continents[i]) == 0)
			return i;
	return -1;
}

/* ---- one rule ---- */

/* Writes the reason into err (in scope as err, errlen) and yields -1. */
#define RULE_ERR(...) (snprintf(err, errlen, __VA_ARGS__), -1)

static int
parse_country(const char *v, struct geo_rule *out, char *err, size_t errlen)
{
	if (geo_country_index(v) < 0)
		return RULE_ERR(
		    "country code \"%.16s\" is not two upper-case letters (ISO 3166-1 alpha-2, "
		    "e.g. country:DE)",
		    v);
	memcpy(out->code, v, 3);
	return 0;
}

static int
parse_continent(const char *v, struct geo_rule *out, char *err, size_t errlen)
{
	if (geo_continent_index(v) < 0)
		return RULE_ERR("continent code \"%.16s\" is not one of %s", v, GEO_CONTINENT_LIST);
	memcpy(out->code, v, 3);
	return 0;
}

static int
parse_asn(const char *v, struct geo_rule *out, char *err, size_t errlen)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; v[i] != '\0'; i++) {
		if (v[i] < '0' || v[i] > '9')
			return RULE_ERR(
			    "ASN \"%.16s\" is not a decimal number (e.g. asn:64500)", v);
		if (n <= UINT32_MAX)
			n = n * 10 + (uint64_t)(v[i] - '0');
	}
	if (n == 0 || n > UINT32_MAX)
		return RULE_ERR("ASN %.16s is out of range (1 to 4294967295)", v);
	out->asn = (uint32_t)n;
	return 0;
}

/* Are the bits of a[0..len) past the first plen zero? */
static bool
host_bits_zero(const uint8_t *a, size_t len, unsigned plen)
{
	for (size_t i = plen / 8; i < len; i++) {
		uint8_t keep = i == plen / 8 ? (uint8_t)(0xff00u >> (plen % 8)) : 0;

		if (a[i] & (uint8_t)~keep)
			return false;
	}
	return true;
}

static void
clear_host_bits(uint8_t *a, size_t len, unsigned plen)
{
	for (size_t i = plen / 8; i < len; i++)
		a[i] &= i == plen / 8 ? (uint8_t)(0xff00u >> (plen % 8)) : 0;
}

/* ::ffff:0:0/96, byte by byte (a need not be aligned as an in6_addr). */
static bool
is_v4mapped(const uint8_t *a)
{
	static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	return memcmp(a, prefix, sizeof prefix) == 0;
}

static int
parse_cidr(const char *v, struct geo_rule *out, char *err, size_t errlen)
{
	const char *slash = strchr(v, '/'), *fam;
	char addr[INET6_ADDRSTRLEN + 1], net[INET6_ADDRSTRLEN + 8];
	size_t alen, blen;
	unsigned plen = 0, max;
	uint8_t a[16];

	if (slash == NULL)
		return RULE_ERR("CIDR \"%.48s\" has no prefix length (e.g. cidr:192.0.2.0/24)", v);
	alen = (size_t)(slash - v);
	out->v6 = memchr(v, ':', alen) != NULL;
	fam = out->v6 ? "IPv6" : "IPv4";
	if (alen == 0 || alen >= sizeof addr)
		return RULE_ERR("\"%.48s\" is not an %s address", v, fam);
	memcpy(addr, v, alen);
	addr[alen] = '\0';
	if (inet_pton(out->v6 ? AF_INET6 : AF_INET, addr, a) != 1)
		return RULE_ERR("\"%.48s\" is not an %s address", addr, fam);
	max = out->v6 ? 128 : 32;
	blen = strlen(slash + 1);
	if (blen == 0 || blen > 3 || strspn(slash + 1, "0123456789") != blen)
		return RULE_ERR("prefix length \"%.16s\" is not a number (0 to %s)", slash + 1,
		    out->v6 ? "128" : "32");
	for (size_t i = 0; i < blen; i++)
		plen = plen * 10 + (unsigned)(slash[1 + i] - '0');
	if (plen > max) {
		snprintf(err, errlen, "prefix length %u is over %u for %s", plen, max, fam);
		return -1;
	}
	if (out->v6 && is_v4mapped(a)) {
		/* Clients' mapped addresses are matched as IPv4; a mapped rule
		 * would never match, so say how to write it. */
		uint8_t a4[4];

		if (plen < 96) {
			snprintf(err, errlen, "%s/%u mixes IPv4-mapped and other IPv6 addresses",
			    addr, plen);
			return -1;
		}
		memcpy(a4, a + 12, 4);
		clear_host_bits(a4, 4, plen - 96);
		inet_ntop(AF_INET, a4, net, sizeof net);
		snprintf(err, errlen, "%s/%u is IPv4-mapped: write cidr:%s/%u", addr, plen, net,
		    plen - 96);
		return -1;
	}
	if (!host_bits_zero(a, out->v6 ? 16 : 4, plen)) {
		clear_host_bits(a, out->v6 ? 16 : 4, plen);
		inet_ntop(out->v6 ? AF_INET6 : AF_INET, a, net, sizeof net);
		snprintf(err, errlen, "host bits set in %s/%u (the network is %s/%u)", addr, plen,
		    net, plen);
		return -1;
	}
	memset(out->addr, 0, sizeof out->addr);
	memcpy(out->addr, a, out->v6 ? 16 : 4);
	out->plen = plen;
	return 0;
}

int
geo_rule_parse(const char *text, struct geo_rule *out, char *err, size_t errlen)
{
	static const struct {
		const char *name;
		enum geo_rule_kind kind;
		int (*parse)(const char *, struct geo_rule *, char *, size_t);
	} kinds[] = {
	    {"country", GEO_RULE_COUNTRY, parse_country},
	    {"continent", GEO_RULE_CONTINENT, parse_continent},
	    {"asn", GEO_RULE_ASN, parse_asn},
	    {"cidr", GEO_RULE_CIDR, parse_cidr},
	};
	const char *colon = strchr(text, ':');
	size_t klen;

	memset(out, 0, sizeof *out);
	if (colon == NULL)
		return RULE_ERR(
		    "rule \"%.48s\" is not kind:value (country:, continent:, asn:, cidr:)", text);
	klen = (size_t)(colon - text);
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		if (strlen(kinds[i].name) != klen || memcmp(kinds[i].name, text, klen) != 0)
			continue;
		out->kind = kinds[i].kind;
		if (colon[1] == '\0')
			return RULE_ERR("%s: value missing in \"%.48s\"", kinds[i].name, text);
		return kinds[i].parse(colon + 1, out, err, errlen);
	}
	snprintf(err, errlen, "unknown rule kind \"%.*s\" (country, continent, asn, cidr)",
	    (int)(klen > 32 ? 32 : klen), text);
	return -1;
}

void
geo_rule_format(const struct geo_rule *r, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	switch (r->kind) {
	case GEO_RULE_COUNTRY:
		snprintf(buf, len, "country:%s", r->code);
		break;
	case GEO_RULE_CONTINENT:
		snprintf(buf, len, "continent:%s", r->code);
		break;
	case GEO_RULE_ASN:
		snprintf(buf, len, "asn:%u", (unsigned)r->asn);
		break;
	case GEO_RULE_CIDR:
		inet_ntop(r->v6 ? AF_INET6 : AF_INET, r->addr, a, sizeof a);
		snprintf(buf, len, "cidr:%s/%u", a, r->plen);
		break;
	default:
		UNREACHABLE("no such rule kind");
	}
}

/* ---- settings ---- */

void
geo_access_conf_defaults(struct geo_access_conf *c)
{
	c->mode = GEO_ACCESS_DENY;
	c->status = 403;
	c->unknown = GEO_VERDICT_ALLOW;
}

int
geo_verdict_parse(const char *text, enum geo_verdict *out, char *err, size_t errlen)
{
	if (strcmp(text, "allow") == 0) {
		*out = GEO_VERDICT_ALLOW;
		return 0;
	}
	if (strcmp(text, "deny") == 0) {
		*out = GEO_VERDICT_DENY;
		return 0;
	}
	return RULE_ERR("\"%.32s\" is not allow or deny", text);
}

int
geo_access_status_check(unsigned status, char *err, size_t errlen)
{
	if (status == 403 || status == 451)
		return 0;
	snprintf(err, errlen,
	    "status %u is not 403 (Forbidden) or 451 (Unavailable For Legal Reasons)", status);
	return -1;
}

/* ---- the compiled table ---- */

struct cidr4 {
	uint32_t net; /* host order, host bits zero */
	int32_t rule;
};

struct cidr6 {
	uint64_t hi, lo;
	int32_t rule;
};

struct asn_ent {
	uint32_t asn;
	int32_t rule;
};

/* The entries of one prefix length: [off, off + n) of the family's array. */
struct plen_run {
	unsigned plen;
	size_t off, n;
};

struct geo_rules {
	struct geo_access_conf conf;
	size_t n_rules;
	bool has_country, has_continent, has_asn, has_cidr;
	int32_t country[GEO_N_COUNTRY]; /* lowest rule index, -1: none */
	int32_t continent[GEO_N_CONTINENT];
	struct asn_ent *asn; /* sorted by asn */
	size_t n_asn;
	struct cidr4 *c4; /* sorted by (plen, net) */
	struct plen_run runs4[33];
	size_t n_runs4;
	struct cidr6 *c6;
	struct plen_run runs6[129];
	size_t n_runs6;
};

static uint32_t
mask4(unsigned plen)
{
	return plen == 0 ? 0 : UINT32_MAX << (32 - plen);
}

static void
mask6(unsigned plen, uint64_t *hi, uint64_t *lo)
{
	*hi = plen == 0 ? 0 : plen >= 64 ? UINT64_MAX : UINT64_MAX << (64 - plen);
	*lo = plen <= 64 ? 0 : plen == 128 ? UINT64_MAX : UINT64_MAX << (128 - plen);
}

static uint64_t
load_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static uint32_t
load_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int
cmp_asn(const void *a, const void *b)
{
	const struct asn_ent *x = a, *y = b;

	return x->asn < y->asn ? -1 : x->asn > y->asn;
}

static int
cmp_c4(const void *a, const void *b)
{
	const struct cidr4 *x = a, *y = b;

	return x->net < y->net ? -1 : x->net > y->net;
}

static int
cmp_c6(const void *a, const void *b)
{
	const struct cidr6 *x = a, *y = b;

	if (x->hi != y->hi)
		return x->hi < y->hi ? -1 : 1;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static int
dup_err(const struct geo_rule *rules, int32_t later, int32_t earlier, char *err, size_t errlen)
{
	char t[GEO_RULE_TEXT_MAX];

	if (later < earlier) {
		int32_t x = later;

		later = earlier;
		earlier = x;
	}
	geo_rule_format(&rules[later], t, sizeof t);
	snprintf(err, errlen, "rule %d (\"%s\") repeats rule %d", (int)later, t, (int)earlier);
	return -1;
}

/* Fills the runs of one family from per-length counts: entries of length
 * plen go to [runs[i].off, + n).  Returns the number of runs. */
static size_t
make_runs(const size_t *count, unsigned max, struct plen_run *runs)
{
	size_t nr = 0, off = 0;

	/* Longest first: a client inside a long prefix is usually what a
	 * short list names; the order does not change the answer. */
	for (unsigned plen = max + 1; plen-- > 0;) {
		if (count[plen] == 0)
			continue;
		runs[nr].plen = plen;
		runs[nr].off = off;
		runs[nr].n = 0;
		off += count[plen];
		nr++;
	}
	return nr;
}

static struct plen_run *
run_of(struct plen_run *runs, size_t nr, unsigned plen)
{
	for (size_t i = 0; i < nr; i++)
		if (runs[i].plen == plen)
			return &runs[i];
	UNREACHABLE("prefix length without a run");
}

static int
compile_cidrs(struct geo_rules *t, const struct geo_rule *rules, size_t n, char *err, size_t errlen)
{
	size_t count4[33] = {0}, count6[129] = {0}, n4 = 0, n6 = 0;

	for (size_t i = 0; i < n; i++) {
		if (rules[i].kind != GEO_RULE_CIDR)
			continue;
		if (rules[i].v6)
			count6[rules[i].plen]++, n6++;
		else
			count4[rules[i].plen]++, n4++;
	}
	t->c4 = xcalloc(n4 ? n4 : 1, sizeof *t->c4);
	t->c6 = xcalloc(n6 ? n6 : 1, sizeof *t->c6);
	t->n_runs4 = make_runs(count4, 32, t->runs4);
	t->n_runs6 = make_runs(count6, 128, t->runs6);
	for (size_t i = 0; i < n; i++) {
		const struct geo_rule *r = &rules[i];
		struct plen_run *run;

		if (r->kind != GEO_RULE_CIDR)
			continue;
		if (r->v6) {
			run = run_of(t->runs6, t->n_runs6, r->plen);
			t->c6[run->off + run->n] =
			    (struct cidr6){load_be64(r->addr), load_be64(r->addr + 8), (int32_t)i};
		} else {
			run = run_of(t->runs4, t->n_runs4, r->plen);
			t->c4[run->off + run->n] = (struct cidr4){load_be32(r->addr), (int32_t)i};
		}
		run->n++;
	}
	for (size_t k = 0; k < t->n_runs4; k++) {
		struct cidr4 *e = t->c4 + t->runs4[k].off;

		qsort(e, t->runs4[k].n, sizeof *e, cmp_c4);
		for (size_t j = 1; j < t->runs4[k].n; j++)
			if (e[j].net == e[j - 1].net)
				return dup_err(rules, e[j].rule, e[j - 1].rule, err, errlen);
	}
	for (size_t k = 0; k < t->n_runs6; k++) {
		struct cidr6 *e = t->c6 + t->runs6[k].off;

		qsort(e, t->runs6[k].n, sizeof *e, cmp_c6);
		for (size_t j = 1; j < t->runs6[k].n; j++)
			if (cmp_c6(&e[j], &e[j - 1]) == 0)
				return dup_err(rules, e[j].rule, e[j - 1].rule, err, errlen);
	}
	t->has_cidr = n4 + n6 > 0;
	return 0;
}

int
geo_rules_compile(const struct geo_access_conf *c, const struct geo_rule *rules, size_t n,
    struct geo_rules **out, char *err, size_t errlen)
{
	struct geo_rules *t;
	size_t n_asn = 0;

	if (geo_access_status_check(c->status, err, errlen) != 0)
		return -1;
	if (n > GEO_RULES_MAX) {
		snprintf(err, errlen, "%zu rules: at most %d", n, GEO_RULES_MAX);
		return -1;
	}
	if (n == 0 && c->mode == GEO_ACCESS_ALLOW) {
		snprintf(err, errlen, "an empty allow list would refuse every client");
		return -1;
	}
	t = xcalloc(1, sizeof *t);
	t->conf = *c;
	t->n_rules = n;
	for (size_t i = 0; i < GEO_N_COUNTRY; i++)
		t->country[i] = -1;
	for (size_t i = 0; i < GEO_N_CONTINENT; i++)
		t->continent[i] = -1;
	for (size_t i = 0; i < n; i++)
		n_asn += rules[i].kind == GEO_RULE_ASN;
	t->asn = xcalloc(n_asn ? n_asn : 1, sizeof *t->asn);
	for (size_t i = 0; i < n; i++) {
		const struct geo_rule *r = &rules[i];
		int32_t *slot;
		int x;

		switch (r->kind) {
		case GEO_RULE_COUNTRY:
			x = geo_country_index(r->code);
			ASSERT(x >= 0);
			slot = &t->country[x];
			t->has_country = true;
			break;
		case GEO_RULE_CONTINENT:
			x = geo_continent_index(r->code);
			ASSERT(x >= 0);
			slot = &t->continent[x];
			t->has_continent = true;
			break;
		case GEO_RULE_ASN:
			t->asn[t->n_asn++] = (struct asn_ent){r->asn, (int32_t)i};
			t->has_asn = true;
			continue;
		case GEO_RULE_CIDR:
			continue;
		default:
			UNREACHABLE("no such rule kind");
		}
		if (*slot >= 0) {
			dup_err(rules, (int32_t)i, *slot, err, errlen);
			geo_rules_free(&t);
			return -1;
		}
		*slot = (int32_t)i;
	}
	qsort(t->asn, t->n_asn, sizeof *t->asn, cmp_asn);
	for (size_t j = 1; j < t->n_asn; j++) {
		if (t->asn[j].asn == t->asn[j - 1].asn) {
			dup_err(rules, t->asn[j].rule, t->asn[j - 1].rule, err, errlen);
			geo_rules_free(&t);
			return -1;
		}
	}
	if (compile_cidrs(t, rules, n, err, errlen) != 0) {
		geo_rules_free(&t);
		return -1;
	}
	*out = t;
	return 0;
}

void
geo_rules_free(struct geo_rules **rp)
{
	struct geo_rules *t = *rp;

	if (t == NULL)
		return;
	*rp = NULL;
	free(t->asn);
	free(t->c4);
	free(t->c6);
	free(t);
}

unsigned
geo_rules_status(const struct geo_rules *r)
{
	return r->conf.status;
}

size_t
geo_rules_count(const struct geo_rules *r)
{
	return r->n_rules;
}

/* ---- the verdict ---- */

static int32_t
find_asn(const struct geo_rules *t, uint32_t asn)
{
	size_t lo = 0, hi = t->n_asn;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->asn[mid].asn == asn)
			return t->asn[mid].rule;
		if (t->asn[mid].asn < asn)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* The lowest rule index of the IPv4 prefixes holding a (host order), or
 * INT32_MAX. */
static int32_t
match4(const struct geo_rules *t, uint32_t a)
{
	int32_t best = INT32_MAX;

	for (size_t k = 0; k < t->n_runs4; k++) {
		const struct cidr4 *e = t->c4 + t->runs4[k].off;
		uint32_t key = a & mask4(t->runs4[k].plen);
		size_t lo = 0, hi = t->runs4[k].n;

		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (e[mid].net == key) {
				if (e[mid].rule < best)
					best = e[mid].rule;
				break;
			}
			if (e[mid].net < key)
				lo = mid + 1;
			else
				hi = mid;
		}
	}
	return best;
}

static int32_t
match6(const struct geo_rules *t, uint64_t ahi, uint64_t alo)
{
	int32_t best = INT32_MAX;

	for (size_t k = 0; k < t->n_runs6; k++) {
		const struct cidr6 *e = t->c6 + t->runs6[k].off;
		struct cidr6 key;
		uint64_t mhi, mlo;
		size_t lo = 0, hi = t->runs6[k].n;

		mask6(t->runs6[k].plen, &mhi, &mlo);
		key.hi = ahi & mhi;
		key.lo = alo & mlo;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			int c = cmp_c6(&e[mid], &key);

			if (c == 0) {
				if (e[mid].rule < best)
					best = e[mid].rule;
				break;
			}
			if (c < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
	}
	return best;
}

/* The lowest CIDR rule index holding sa, INT32_MAX when none does, -1 when
 * sa is neither IPv4 nor IPv6. */
static int32_t
match_addr(const struct geo_rules *t, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;

		return match4(t, ntohl(s4->sin_addr.s_addr));
	}
	if (sa->sa_family == AF_INET6) {
		const uint8_t *b =
		    ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;

		if (is_v4mapped(b))
			return match4(t, load_be32(b + 12));
		return match6(t, load_be64(b), load_be64(b + 8));
	}
	return -1;
}

enum geo_verdict
geo_rules_eval(
    const struct geo_rules *t, const struct geo_loc *loc, const struct sockaddr *sa, int *rule)
{
	unsigned found = loc != NULL ? loc->found : 0;
	int32_t best = INT32_MAX, x;
	bool undecided = false;

	if (t->has_country) {
		if (found & GEO_FOUND_COUNTRY) {
			x = geo_country_index(loc->country);
			if (x >= 0 && t->country[x] >= 0 && t->country[x] < best)
				best = t->country[x];
		} else {
			undecided = true;
		}
	}
	if (t->has_continent) {
		x = found & GEO_FOUND_CONTINENT ? geo_continent_index(loc->continent) : -1;
		if (!(found & GEO_FOUND_CONTINENT))
			undecided = true;
		else if (x >= 0 && t->continent[x] >= 0 && t->continent[x] < best)
			best = t->continent[x];
	}
	if (t->has_asn) {
		if (found & GEO_FOUND_ASN) {
			x = find_asn(t, loc->asn);
			if (x >= 0 && x < best)
				best = x;
		} else {
			undecided = true;
		}
	}
	if (t->has_cidr) {
		x = sa != NULL ? match_addr(t, sa) : -1;
		if (x < 0)
			undecided = true;
		else if (x < best)
			best = x;
	}
	if (best != INT32_MAX) {
		*rule = best;
		return t->conf.mode == GEO_ACCESS_DENY ? GEO_VERDICT_DENY : GEO_VERDICT_ALLOW;
	}
	if (undecided) {
		*rule = GEO_EVAL_UNKNOWN;
		return t->conf.unknown;
	}
	*rule = GEO_EVAL_DEFAULT;
	return t->conf.mode == GEO_ACCESS_DENY ? GEO_VERDICT_ALLOW : GEO_VERDICT_DENY;
}
