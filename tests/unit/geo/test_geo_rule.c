/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/geo/test_geo_rule.c — the geo access rule parser (good and bad
 * rows with their error texts), the compiled table's errors, and verdicts.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "geo/geo.h"
#include "tests/unit/geo/geo_test.h"
#include "tests/unit/tap.h"

static struct sockaddr_storage ss;

struct prow {
	const char *text;
	const char *want; /* good: the canonical form; bad: the error text */
	int rc;
};

static const struct prow parse_rows[] = {
    /* good */
    {"country:DE", "country:DE", 0},
    {"country:ZZ", "country:ZZ", 0},
    {"continent:AF", "continent:AF", 0},
    {"continent:SA", "continent:SA", 0},
    {"asn:64500", "asn:64500", 0},
    {"asn:1", "asn:1", 0},
    {"asn:4294967295", "asn:4294967295", 0},
    {"asn:00064500", "asn:64500", 0},
    {"cidr:192.0.2.0/24", "cidr:192.0.2.0/24", 0},
    {"cidr:0.0.0.0/0", "cidr:0.0.0.0/0", 0},
    {"cidr:203.0.113.7/32", "cidr:203.0.113.7/32", 0},
    {"cidr:2001:db8::/32", "cidr:2001:db8::/32", 0},
    {"cidr:2001:DB8:0:0::/48", "cidr:2001:db8::/48", 0},
    {"cidr:::1/128", "cidr:::1/128", 0},
    {"cidr:::/0", "cidr:::/0", 0},
    {"cidr:10.0.0.0/7", "cidr:10.0.0.0/7", 0},
    /* bad: kind */
    {"DE", "rule \"DE\" is not kind:value (country:, continent:, asn:, cidr:)", -1},
    {"", "rule \"\" is not kind:value (country:, continent:, asn:, cidr:)", -1},
    {"ip:192.0.2.1", "unknown rule kind \"ip\" (country, continent, asn, cidr)", -1},
    {"Country:DE", "unknown rule kind \"Country\" (country, continent, asn, cidr)", -1},
    {":DE", "unknown rule kind \"\" (country, continent, asn, cidr)", -1},
    {"country:", "country: value missing in \"country:\"", -1},
    {"cidr:", "cidr: value missing in \"cidr:\"", -1},
    /* bad: country */
    {"country:de",
        "country code \"de\" is not two upper-case letters (ISO 3166-1 alpha-2, e.g. country:DE)",
        -1},
    {"country:DEU",
        "country code \"DEU\" is not two upper-case letters (ISO 3166-1 alpha-2, e.g. "
        "country:DE)",
        -1},
    {"country: DE",
        "country code \" DE\" is not two upper-case letters (ISO 3166-1 alpha-2, e.g. "
        "country:DE)",
        -1},
    {"country:D",
        "country code \"D\" is not two upper-case letters (ISO 3166-1 alpha-2, e.g. "
        "country:DE)",
        -1},
    /* bad: continent */
    {"continent:EA", "continent code \"EA\" is not one of AF AN AS EU NA OC SA", -1},
    {"continent:eu", "continent code \"eu\" is not one of AF AN AS EU NA OC SA", -1},
    {"continent:Europe", "continent code \"Europe\" is not one of AF AN AS EU NA OC SA", -1},
    /* bad: asn */
    {"asn:0", "ASN 0 is out of range (1 to 4294967295)", -1},
    {"asn:4294967296", "ASN 4294967296 is out of range (1 to 4294967295)", -1},
    {"asn:99999999999999999999999", "ASN 9999999999999999 is out of range (1 to 4294967295)", -1},
    {"asn:AS64500", "ASN \"AS64500\" is not a decimal number (e.g. asn:64500)", -1},
    {"asn:-1", "ASN \"-1\" is not a decimal number (e.g. asn:64500)", -1},
    {"asn:64500 ", "ASN \"64500 \" is not a decimal number (e.g. asn:64500)", -1},
    /* bad: cidr */
    {"cidr:192.0.2.0", "CIDR \"192.0.2.0\" has no prefix length (e.g. cidr:192.0.2.0/24)", -1},
    {"cidr:192.0.2.0/33", "prefix length 33 is over 32 for IPv4", -1},
    {"cidr:2001:db8::/129", "prefix length 129 is over 128 for IPv6", -1},
    {"cidr:192.0.2.0/", "prefix length \"\" is not a number (0 to 32)", -1},
    {"cidr:192.0.2.0/2a", "prefix length \"2a\" is not a number (0 to 32)", -1},
    {"cidr:192.0.2.0/+8", "prefix length \"+8\" is not a number (0 to 32)", -1},
    {"cidr:2001:db8::/1000", "prefix length \"1000\" is not a number (0 to 128)", -1},
    {"cidr:192.0.2.1/24", "host bits set in 192.0.2.1/24 (the network is 192.0.2.0/24)", -1},
    {"cidr:2001:db8::1/32", "host bits set in 2001:db8::1/32 (the network is 2001:db8::/32)", -1},
    {"cidr:10.0.0.0/0", "host bits set in 10.0.0.0/0 (the network is 0.0.0.0/0)", -1},
    {"cidr:300.0.2.0/24", "\"300.0.2.0\" is not an IPv4 address", -1},
    {"cidr:192.0.2/24", "\"192.0.2\" is not an IPv4 address", -1},
    {"cidr:/24", "\"/24\" is not an IPv4 address", -1},
    {"cidr:2001:db8:::/32", "\"2001:db8:::\" is not an IPv6 address", -1},
    {"cidr:fe80::1%eth0/64", "\"fe80::1%eth0\" is not an IPv6 address", -1},
    {"cidr:::ffff:192.0.2.0/120", "::ffff:192.0.2.0/120 is IPv4-mapped: write cidr:192.0.2.0/24",
        -1},
    {"cidr:::ffff:0:0/64", "::ffff:0:0/64 mixes IPv4-mapped and other IPv6 addresses", -1},
};

static void
test_parse(void)
{
	struct geo_rule r;
	char err[256], fmt[GEO_RULE_TEXT_MAX];

	subtest("geo_rule_parse: good and bad rows");
	for (size_t i = 0; i < sizeof parse_rows / sizeof parse_rows[0]; i++) {
		const struct prow *p = &parse_rows[i];
		int rc;

		err[0] = '\0';
		rc = geo_rule_parse(p->text, &r, err, sizeof err);
		if (!tap_ok(rc == p->rc, __FILE__, __LINE__, p->text)) {
			printf("#   rc %d, err \"%s\"\n", rc, err);
			continue;
		}
		if (rc == 0) {
			geo_rule_format(&r, fmt, sizeof fmt);
			is_str(fmt, p->want);
		} else {
			is_str(err, p->want);
		}
	}

	/* The parsed fields. */
	is_int(geo_rule_parse("cidr:198.51.100.0/22", &r, err, sizeof err), 0);
	is_int(r.kind, GEO_RULE_CIDR);
	ok(!r.v6 && r.plen == 22 && r.addr[0] == 198 && r.addr[2] == 100, "cidr fields");
	is_int(geo_rule_parse("asn:13335", &r, err, sizeof err), 0);
	ok(r.kind == GEO_RULE_ASN && r.asn == 13335, "asn fields");
	is_int(geo_rule_parse("continent:OC", &r, err, sizeof err), 0);
	ok(r.kind == GEO_RULE_CONTINENT && strcmp(r.code, "OC") == 0, "continent fields");

	/* A long rule is quoted cut, the error still fits. */
	{
		char longrule[300];

		memset(longrule, 'x', sizeof longrule - 1);
		longrule[sizeof longrule - 1] = '\0';
		is_int(geo_rule_parse(longrule, &r, err, sizeof err), -1);
		ok(strlen(err) < 120, "a long rule is quoted cut");
		is_int(geo_rule_parse("country:DE", &r, err, 8), 0);
		is_int(geo_rule_parse("country:de", &r, err, 8), -1);
		is_int(strlen(err), 7);
	}
}

static void
test_settings(void)
{
	struct geo_access_conf c;
	enum geo_verdict v = GEO_VERDICT_DENY;
	char err[256];

	subtest("access settings");
	geo_access_conf_defaults(&c);
	ok(c.mode == GEO_ACCESS_DENY && c.status == 403 && c.unknown == GEO_VERDICT_ALLOW,
	    "defaults: deny list, 403, unknown allowed");
	is_int(geo_verdict_parse("allow", &v, err, sizeof err), 0);
	is_int(v, GEO_VERDICT_ALLOW);
	is_int(geo_verdict_parse("deny", &v, err, sizeof err), 0);
	is_int(v, GEO_VERDICT_DENY);
	is_int(geo_verdict_parse("Deny", &v, err, sizeof err), -1);
	is_str(err, "\"Deny\" is not allow or deny");
	is_int(geo_access_status_check(403, err, sizeof err), 0);
	is_int(geo_access_status_check(451, err, sizeof err), 0);
	is_int(geo_access_status_check(404, err, sizeof err), -1);
	is_str(err, "status 404 is not 403 (Forbidden) or 451 (Unavailable For Legal Reasons)");
}

/* Parses texts[0..n) into rules (aborts on a bad one: the table is ours). */
static size_t
parse_all(const char *const *texts, struct geo_rule *rules)
{
	char err[256];
	size_t n;

	for (n = 0; texts[n] != NULL; n++) {
		if (geo_rule_parse(texts[n], &rules[n], err, sizeof err) != 0) {
			printf("# %s: %s\n", texts[n], err);
			abort();
		}
	}
	return n;
}

static int
compile(enum geo_access_mode mode, unsigned status, const char *const *texts,
    struct geo_rules **out, char *err, size_t errlen)
{
	struct geo_rule rules[64];
	struct geo_access_conf c;
	size_t n = parse_all(texts, rules);

	geo_access_conf_defaults(&c);
	c.mode = mode;
	c.status = status;
	err[0] = '\0';
	return geo_rules_compile(&c, rules, n, out, err, errlen);
}

static void
test_compile_errors(void)
{
	static const char *const dup_country[] = {"country:DE", "asn:1", "country:DE", NULL};
	static const char *const dup_cont[] = {"continent:EU", "continent:EU", NULL};
	static const char *const dup_asn[] = {"asn:7", "asn:9", "asn:8", "asn:9", NULL};
	static const char *const dup_cidr[] = {
	    "cidr:10.0.0.0/8", "cidr:192.0.2.0/24", "cidr:10.0.0.0/8", NULL};
	static const char *const dup_cidr6[] = {"cidr:2001:db8::/32", "cidr:2001:db8::/32", NULL};
	static const char *const none[] = {NULL};
	static const char *const fine[] = {"cidr:10.0.0.0/8", "cidr:10.0.0.0/9", "cidr:::/0",
	    "cidr:0.0.0.0/0", "country:DE", "continent:EU", "asn:1", NULL};
	struct geo_rules *r = NULL;
	char err[256];

	subtest("geo_rules_compile errors");
	is_int(compile(GEO_ACCESS_DENY, 403, dup_country, &r, err, sizeof err), -1);
	is_str(err, "rule 2 (\"country:DE\") repeats rule 0");
	is_int(compile(GEO_ACCESS_DENY, 403, dup_cont, &r, err, sizeof err), -1);
	is_str(err, "rule 1 (\"continent:EU\") repeats rule 0");
	is_int(compile(GEO_ACCESS_DENY, 403, dup_asn, &r, err, sizeof err), -1);
	is_str(err, "rule 3 (\"asn:9\") repeats rule 1");
	is_int(compile(GEO_ACCESS_DENY, 403, dup_cidr, &r, err, sizeof err), -1);
	is_str(err, "rule 2 (\"cidr:10.0.0.0/8\") repeats rule 0");
	is_int(compile(GEO_ACCESS_DENY, 403, dup_cidr6, &r, err, sizeof err), -1);
	is_str(err, "rule 1 (\"cidr:2001:db8::/32\") repeats rule 0");
	is_int(compile(GEO_ACCESS_ALLOW, 403, none, &r, err, sizeof err), -1);
	is_str(err, "an empty allow list would refuse every client");
	is_int(compile(GEO_ACCESS_DENY, 200, fine, &r, err, sizeof err), -1);
	is_str(err, "status 200 is not 403 (Forbidden) or 451 (Unavailable For Legal Reasons)");
	ok(r == NULL, "nothing compiled");
	is_int(compile(GEO_ACCESS_DENY, 451, fine, &r, err, sizeof err), 0);
	is_int(geo_rules_count(r), 7);
	is_int(geo_rules_status(r), 451);
	geo_rules_free(&r);
	ok(r == NULL, "free clears the pointer");
	is_int(compile(GEO_ACCESS_DENY, 403, none, &r, err, sizeof err), 0);
	geo_rules_free(&r);
	{
		struct geo_rule many[GEO_RULES_MAX + 1];
		struct geo_access_conf c;

		memset(many, 0, sizeof many);
		geo_access_conf_defaults(&c);
		is_int(geo_rules_compile(&c, many, GEO_RULES_MAX + 1, &r, err, sizeof err), -1);
		is_str(err, "4097 rules: at most 4096");
	}
}

struct erow {
	const char *country, *continent;
	uint32_t asn;
	const char *ip; /* NULL: no address */
	enum geo_verdict v;
	int rule;
};

static void
run_eval(const char *name, enum geo_access_mode mode, enum geo_verdict unknown,
    const char *const *texts, const struct erow *rows, size_t n)
{
	struct geo_rule rules[64];
	struct geo_access_conf c;
	struct geo_rules *r = NULL;
	char err[256], what[256];
	size_t nr = parse_all(texts, rules);

	subtest(name);
	geo_access_conf_defaults(&c);
	c.mode = mode;
	c.unknown = unknown;
	if (!ok(geo_rules_compile(&c, rules, nr, &r, err, sizeof err) == 0, "compile")) {
		printf("# %s\n", err);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct geo_loc l = geo_test_loc(rows[i].country, rows[i].continent, rows[i].asn);
		int rule = 12345;
		enum geo_verdict v = geo_rules_eval(r, &l, geo_test_addr(rows[i].ip, &ss), &rule);

		snprintf(what, sizeof what, "%s: %s/%s/AS%u/%s -> %s rule %d", name,
		    rows[i].country, rows[i].continent, (unsigned)rows[i].asn,
		    rows[i].ip ? rows[i].ip : "-", rows[i].v == GEO_VERDICT_DENY ? "deny" : "allow",
		    rows[i].rule);
		if (!tap_ok(v == rows[i].v && rule == rows[i].rule, __FILE__, __LINE__, what))
			printf(
			    "#   got %s rule %d\n", v == GEO_VERDICT_DENY ? "deny" : "allow", rule);
	}
	geo_rules_free(&r);
}

static void
test_eval(void)
{
#define A GEO_VERDICT_ALLOW
#define D GEO_VERDICT_DENY
	static const char *const deny[] = {"country:DE", /* 0 */
	    "continent:AF",                              /* 1 */
	    "asn:64500",                                 /* 2 */
	    "cidr:192.0.2.0/24",                         /* 3 */
	    "cidr:192.0.2.128/25",                       /* 4: inside 3, later */
	    "cidr:2001:db8::/32",                        /* 5 */
	    "cidr:2001:db8:1::/48",                      /* 6: inside 5 */
	    "cidr:198.51.100.7/32",                      /* 7 */
	    "continent:EU",                              /* 8: DE is also EU; 0 is lower */
	    "cidr:203.0.113.0/24",                       /* 9 */
	    "cidr:203.0.113.64/26",                      /* 10 */
	    "cidr:2001:db8:ff00::/40",                   /* 11 */
	    NULL};
	static const struct erow deny_rows[] = {
	    {"DE", "EU", 1, "10.0.0.1", D, 0},
	    {"FR", "EU", 1, "10.0.0.1", D, 8},
	    {"NG", "AF", 1, "10.0.0.1", D, 1},
	    {"US", "NA", 64500, "10.0.0.1", D, 2},
	    {"US", "NA", 64501, "10.0.0.1", A, GEO_EVAL_DEFAULT},
	    {"US", "NA", 64501, "192.0.2.1", D, 3},
	    {"US", "NA", 64501, "192.0.2.200", D, 3},
	    {"US", "NA", 64501, "192.0.3.1", A, GEO_EVAL_DEFAULT},
	    {"US", "NA", 64501, "::ffff:192.0.2.200", D, 3},
	    {"US", "NA", 64501, "198.51.100.7", D, 7},
	    {"US", "NA", 64501, "198.51.100.8", A, GEO_EVAL_DEFAULT},
	    {"US", "NA", 64501, "203.0.113.65", D, 9},
	    {"US", "NA", 64501, "2001:db8:1::1", D, 5},
	    {"US", "NA", 64501, "2001:db8:ff00::1", D, 5},
	    {"US", "NA", 64501, "2001:db9::1", A, GEO_EVAL_DEFAULT},
	    {"US", "NA", 64500, "192.0.2.1", D, 2},
	    {"DE", "EU", 64500, "192.0.2.1", D, 0},
	    /* missing fields: no rule matched, one could not be decided */
	    {"", "NA", 64501, "10.0.0.1", A, GEO_EVAL_UNKNOWN},
	    {"US", "", 64501, "10.0.0.1", A, GEO_EVAL_UNKNOWN},
	    {"US", "NA", 0, "10.0.0.1", A, GEO_EVAL_UNKNOWN},
	    {"US", "NA", 64501, NULL, A, GEO_EVAL_UNKNOWN},
	    /* a missing field does not hide a match elsewhere */
	    {"", "", 0, "192.0.2.9", D, 3},
	    {"DE", "", 0, NULL, D, 0},
	};
	static const struct erow deny_unknown_rows[] = {
	    {"", "", 0, "10.0.0.1", D, GEO_EVAL_UNKNOWN},
	    {"", "", 0, "192.0.2.9", D, 3},
	    {"US", "NA", 64501, "10.0.0.1", A, GEO_EVAL_DEFAULT},
	};
	static const char *const allow[] = {"country:FR", "country:BE", "cidr:10.0.0.0/8", NULL};
	static const struct erow allow_rows[] = {
	    {"FR", "EU", 0, "192.0.2.1", A, 0},
	    {"BE", "EU", 0, "192.0.2.1", A, 1},
	    {"DE", "EU", 0, "192.0.2.1", D, GEO_EVAL_DEFAULT},
	    {"DE", "EU", 0, "10.1.2.3", A, 2},
	    {"DE", "EU", 0, "::ffff:10.1.2.3", A, 2},
	    {"", "EU", 0, "192.0.2.1", D, GEO_EVAL_UNKNOWN},
	    {"", "", 0, "10.9.9.9", A, 2},
	};
	static const char *const country_only[] = {"country:CN", NULL};
	static const struct erow country_only_rows[] = {
	    /* no cidr rule: the address is not needed, nothing is unknown */
	    {"US", "", 0, NULL, A, GEO_EVAL_DEFAULT},
	    {"CN", "", 0, NULL, D, 0},
	    {"", "AS", 0, NULL, A, GEO_EVAL_UNKNOWN},
	};
	static const char *const wide[] = {"cidr:0.0.0.0/0", "cidr:::/0", NULL};
	static const struct erow wide_rows[] = {
	    {"", "", 0, "1.2.3.4", D, 0},
	    {"", "", 0, "::ffff:1.2.3.4", D, 0},
	    {"", "", 0, "2001:db8::1", D, 1},
	    {"", "", 0, "::1", D, 1},
	};
	static const char *const empty[] = {NULL};
	static const struct erow empty_rows[] = {
	    {"", "", 0, NULL, A, GEO_EVAL_DEFAULT},
	    {"DE", "EU", 5, "1.2.3.4", A, GEO_EVAL_DEFAULT},
	};

	run_eval("eval: deny list", GEO_ACCESS_DENY, GEO_VERDICT_ALLOW, deny, deny_rows,
	    sizeof deny_rows / sizeof deny_rows[0]);
	run_eval("eval: deny list, unknown: deny", GEO_ACCESS_DENY, GEO_VERDICT_DENY, deny,
	    deny_unknown_rows, sizeof deny_unknown_rows / sizeof deny_unknown_rows[0]);
	run_eval("eval: allow list, unknown: deny", GEO_ACCESS_ALLOW, GEO_VERDICT_DENY, allow,
	    allow_rows, sizeof allow_rows / sizeof allow_rows[0]);
	run_eval("eval: a country rule only", GEO_ACCESS_DENY, GEO_VERDICT_ALLOW, country_only,
	    country_only_rows, sizeof country_only_rows / sizeof country_only_rows[0]);
	run_eval("eval: /0 prefixes", GEO_ACCESS_DENY, GEO_VERDICT_ALLOW, wide, wide_rows,
	    sizeof wide_rows / sizeof wide_rows[0]);
	run_eval("eval: no rules", GEO_ACCESS_DENY, GEO_VERDICT_ALLOW, empty, empty_rows,
	    sizeof empty_rows / sizeof empty_rows[0]);
}

/* Many prefixes of many lengths: the verdict equals a walk of the list. */
static void
test_eval_against_walk(void)
{
	enum { N = 600 };
	static struct geo_rule rules[N];
	struct geo_access_conf c;
	struct geo_rules *r = NULL;
	char err[256];
	unsigned seed = 12345, bad = 0;
	size_t n = 0;

	subtest("eval: compiled table equals walking the list in order");
	while (n < N) {
		char text[GEO_RULE_TEXT_MAX];
		unsigned plen, a;
		bool v6 = n % 3 == 0;

		seed = seed * 1103515245u + 12345u;
		plen = v6 ? 8 + seed % 57 : 4 + seed % 29;
		a = seed ^ (seed >> 13);
		if (v6)
			snprintf(text, sizeof text, "cidr:2001:%x:%x::/%u", a & 0xff,
			    (a >> 8) & 0xff, plen);
		else
			snprintf(text, sizeof text, "cidr:%u.%u.%u.0/%u", 10 + (a & 3),
			    (a >> 8) & 0xff, (a >> 16) & 0xff, plen);
		/* Not every draw is a network (host bits), nor new: skip those. */
		if (geo_rule_parse(text, &rules[n], err, sizeof err) != 0)
			continue;
		bool dup = false;
		for (size_t j = 0; j < n && !dup; j++)
			dup = rules[j].v6 == rules[n].v6 && rules[j].plen == rules[n].plen &&
			      memcmp(rules[j].addr, rules[n].addr, 16) == 0;
		if (!dup)
			n++;
	}
	geo_access_conf_defaults(&c);
	if (!ok(geo_rules_compile(&c, rules, n, &r, err, sizeof err) == 0, "compile 600 prefixes"))
		return;
	for (unsigned i = 0; i < 20000; i++) {
		uint8_t a[16];
		int rule, want = GEO_EVAL_DEFAULT;
		bool v6 = i % 2 == 0;

		seed = seed * 1103515245u + 12345u;
		memset(a, 0, sizeof a);
		if (v6) {
			a[0] = 0x20, a[1] = 0x01, a[2] = 0, a[3] = (uint8_t)(seed & 0xff);
			a[4] = 0, a[5] = (uint8_t)(seed >> 8);
			a[6] = (uint8_t)(seed >> 16), a[7] = (uint8_t)(seed >> 24);
		} else {
			a[0] = (uint8_t)(10 + (seed & 3)), a[1] = (uint8_t)(seed >> 8);
			a[2] = (uint8_t)(seed >> 16), a[3] = (uint8_t)(seed >> 24);
		}
		for (size_t j = 0; j < n && want < 0; j++) {
			const struct geo_rule *g = &rules[j];
			unsigned full = g->plen / 8, rest = g->plen % 8;

			if (g->v6 != v6)
				continue;
			if (memcmp(g->addr, a, full) != 0)
				continue;
			if (rest && ((g->addr[full] ^ a[full]) & (0xff00 >> rest)))
				continue;
			want = (int)j;
		}
		memset(&ss, 0, sizeof ss);
		if (v6) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

			s6->sin6_family = AF_INET6;
			memcpy(&s6->sin6_addr, a, 16);
		} else {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

			s4->sin_family = AF_INET;
			memcpy(&s4->sin_addr, a, 4);
		}
		(void)geo_rules_eval(r, NULL, (const struct sockaddr *)&ss, &rule);
		if (rule != want && bad++ < 5)
			printf("# address %u: rule %d, want %d\n", i, rule, want);
	}
	is_int(bad, 0);
	geo_rules_free(&r);
}

int
main(void)
{
	test_parse();
	test_settings();
	test_compile_errors();
	test_eval();
	test_eval_against_walk();
	return tap_done();
}
