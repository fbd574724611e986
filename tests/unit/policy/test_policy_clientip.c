/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/policy/test_policy_clientip.c — the client address behind
 * trusted proxies (policy/policy_clientip.c), table-driven over
 * X-Forwarded-For and Forwarded.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"
#include "tests/unit/tap.h"

#define X  POLICY_CLIENTIP_XFF
#define F  POLICY_CLIENTIP_FORWARDED
#define S_ POLICY_CLIENTIP_

static const struct {
	enum policy_clientip_header hdr;
	const char *peer;
	const char *fields[3]; /* field lines, NULL-terminated */
	enum policy_clientip_source source;
	const char *want;
} cases[] = {
    /* the peer decides whether the fields are read at all */
    {X, "203.0.113.5", {"198.51.100.1"}, POLICY_CLIENTIP_PEER, "203.0.113.5"},
    {X, "2001:db8::5", {"198.51.100.1"}, POLICY_CLIENTIP_PEER, "2001:db8::5"},
    {X, "10.0.0.1", {NULL}, POLICY_CLIENTIP_NO_HEADER, "10.0.0.1"},
    {X, "10.0.0.1", {"", " , "}, POLICY_CLIENTIP_NO_HEADER, "10.0.0.1"},
    {X, "::ffff:10.0.0.1", {"203.0.113.7"}, POLICY_CLIENTIP_HEADER, "203.0.113.7"},
    /* the rightmost untrusted entry; what is left of it is never read */
    {X, "10.0.0.1", {"203.0.113.7"}, POLICY_CLIENTIP_HEADER, "203.0.113.7"},
    {X, "10.0.0.1", {"1.1.1.1, 203.0.113.7"}, POLICY_CLIENTIP_HEADER, "203.0.113.7"},
    {X, "10.0.0.1", {"garbage, 203.0.113.7"}, POLICY_CLIENTIP_HEADER, "203.0.113.7"},
    {X, "10.0.0.1", {"203.0.113.7, 10.0.0.2"}, POLICY_CLIENTIP_HEADER, "203.0.113.7"},
    {X, "10.0.0.1", {"203.0.113.7,10.0.0.2,127.0.0.1"}, POLICY_CLIENTIP_HEADER, "203.0.113.7"},
    {X, "10.0.0.1", {"198.51.100.1", "203.0.113.7, 10.0.0.2"}, POLICY_CLIENTIP_HEADER,
        "203.0.113.7"},
    {X, "10.0.0.1", {"198.51.100.1", "10.0.0.3", "10.0.0.2"}, POLICY_CLIENTIP_HEADER,
        "198.51.100.1"},
    {X, "10.0.0.1", {"203.0.113.7, , 10.0.0.2,"}, POLICY_CLIENTIP_HEADER, "203.0.113.7"},
    {X, "10.0.0.1", {"  203.0.113.7\t"}, POLICY_CLIENTIP_HEADER, "203.0.113.7"},
    /* forms of an entry */
    {X, "10.0.0.1", {"203.0.113.7:4711"}, POLICY_CLIENTIP_HEADER, "203.0.113.7"},
    {X, "10.0.0.1", {"2001:db8::7"}, POLICY_CLIENTIP_HEADER, "2001:db8::7"},
    {X, "10.0.0.1", {"[2001:db8::7]"}, POLICY_CLIENTIP_HEADER, "2001:db8::7"},
    {X, "10.0.0.1", {"[2001:db8::7]:443"}, POLICY_CLIENTIP_HEADER, "2001:db8::7"},
    {X, "10.0.0.1", {"::ffff:203.0.113.7"}, POLICY_CLIENTIP_HEADER, "203.0.113.7"},
    {X, "2001:db8:ffff::1", {"2001:db8::7, 2001:db8:ffff::2"}, POLICY_CLIENTIP_HEADER,
        "2001:db8::7"},
    /* every entry trusted: the leftmost */
    {X, "10.0.0.1", {"10.0.0.3, 10.0.0.2"}, POLICY_CLIENTIP_ALL_TRUSTED, "10.0.0.3"},
    /* the walk stops on the last trusted hop at what it cannot use */
    {X, "10.0.0.1", {"1.1.1.1, garbage, 10.0.0.2"}, POLICY_CLIENTIP_STOP_MALFORMED, "10.0.0.2"},
    {X, "10.0.0.1", {"garbage"}, POLICY_CLIENTIP_STOP_MALFORMED, "10.0.0.1"},
    {X, "10.0.0.1", {"1.1.1.1, unknown"}, POLICY_CLIENTIP_STOP_UNKNOWN, "10.0.0.1"},
    {X, "10.0.0.1", {"1.2.3.4:abc"}, POLICY_CLIENTIP_STOP_MALFORMED, "10.0.0.1"},
    {X, "10.0.0.1", {"1.2.3.4:"}, POLICY_CLIENTIP_STOP_MALFORMED, "10.0.0.1"},
    {X, "10.0.0.1", {"1.2.3.4:123456"}, POLICY_CLIENTIP_STOP_MALFORMED, "10.0.0.1"},
    {X, "10.0.0.1", {"[1.2.3.4]"}, POLICY_CLIENTIP_STOP_MALFORMED, "10.0.0.1"},
    {X, "10.0.0.1", {"[2001:db8::7"}, POLICY_CLIENTIP_STOP_MALFORMED, "10.0.0.1"},
    {X, "10.0.0.1", {"[2001:db8::7]x"}, POLICY_CLIENTIP_STOP_MALFORMED, "10.0.0.1"},
    {X, "10.0.0.1", {"1.2.3"}, POLICY_CLIENTIP_STOP_MALFORMED, "10.0.0.1"},
    {X, "10.0.0.1", {"fe80::1%eth0"}, POLICY_CLIENTIP_STOP_MALFORMED, "10.0.0.1"},
    {X, "10.0.0.1", {"1.2.3.4 5.6.7.8"}, POLICY_CLIENTIP_STOP_MALFORMED, "10.0.0.1"},
    {X, "10.0.0.1", {"_hidden"}, POLICY_CLIENTIP_STOP_MALFORMED, "10.0.0.1"},

    /* Forwarded (RFC 7239) */
    {F, "10.0.0.1", {"for=203.0.113.7"}, POLICY_CLIENTIP_HEADER, "203.0.113.7"},
    {F, "10.0.0.1", {"for=\"[2001:db8::7]:4711\""}, POLICY_CLIENTIP_HEADER, "2001:db8::7"},
    {F, "10.0.0.1", {"for=\"[2001:db8::7]\""}, POLICY_CLIENTIP_HEADER, "2001:db8::7"},
    {F, "10.0.0.1", {"for=\"[2001:db8::7]:_p0rt\""}, POLICY_CLIENTIP_HEADER, "2001:db8::7"},
    {F, "10.0.0.1", {"for=\"203.0.113.7:80\""}, POLICY_CLIENTIP_HEADER, "203.0.113.7"},
    {F, "10.0.0.1", {"for=192.0.2.60;proto=http;by=203.0.113.43"}, POLICY_CLIENTIP_HEADER,
        "192.0.2.60"},
    {F, "10.0.0.1", {"proto=https; For=192.0.2.60 ; host=example.com"}, POLICY_CLIENTIP_HEADER,
        "192.0.2.60"},
    {F, "10.0.0.1", {"for=198.51.100.17, for=10.0.0.2"}, POLICY_CLIENTIP_HEADER, "198.51.100.17"},
    {F, "10.0.0.1", {"for=198.51.100.17", "for=10.0.0.2;by=\"a,b\""}, POLICY_CLIENTIP_HEADER,
        "198.51.100.17"},
    {F, "10.0.0.1", {"by=\"x, for=1.1.1.1\";for=203.0.113.7"}, POLICY_CLIENTIP_HEADER,
        "203.0.113.7"},
    {F, "10.0.0.1", {"for=\"x, for=1.1.1.1\", for=203.0.113.9"}, POLICY_CLIENTIP_HEADER,
        "203.0.113.9"},
    {F, "10.0.0.1", {"for=\"[2001:db8::7\\]\""}, POLICY_CLIENTIP_HEADER, "2001:db8::7"},
    {F, "10.0.0.1", {"by=\"q\\\"uote, x\";for=203.0.113.7"}, POLICY_CLIENTIP_HEADER, "203.0.113.7"},
    {F, "10.0.0.1", {"for=10.0.0.3, for=10.0.0.2"}, POLICY_CLIENTIP_ALL_TRUSTED, "10.0.0.3"},
    {F, "10.0.0.1", {"for=1.1.1.1, for=_hidden, for=10.0.0.2"}, POLICY_CLIENTIP_STOP_UNKNOWN,
        "10.0.0.2"},
    {F, "10.0.0.1", {"for=unknown"}, POLICY_CLIENTIP_STOP_UNKNOWN, "10.0.0.1"},
    {F, "10.0.0.1", {"for=\"unknown:80\""}, POLICY_CLIENTIP_STOP_MALFORMED, "10.0.0.1"},
    {F, "10.0.0.1", {"for=_a+b"}, POLICY_CLIENTIP_STOP_MALFORMED, "10.0.0.1"},
    {F, "10.0.0.1", {"for=2001:db8::7"}, POLICY_CLIENTIP_STOP_MALFORMED, "10.0.0.1"},
    {F, "10.0.0.1", {"for=\"2001:db8::7\""}, POLICY_CLIENTIP_STOP_MALFORMED, "10.0.0.1"},
    {F, "10.0.0.1", {"proto=https"}, POLICY_CLIENTIP_STOP_MALFORMED, "10.0.0.1"},
    {F, "10.0.0.1", {"for=1.2.3.4;for=5.6.7.8"}, POLICY_CLIENTIP_STOP_MALFORMED, "10.0.0.1"},
    {F, "10.0.0.1", {"for = 1.2.3.4"}, POLICY_CLIENTIP_STOP_MALFORMED, "10.0.0.1"},
    {F, "10.0.0.1", {"for=\"203.0.113.7"}, POLICY_CLIENTIP_STOP_MALFORMED, "10.0.0.1"},
    {F, "10.0.0.1", {"for="}, POLICY_CLIENTIP_STOP_MALFORMED, "10.0.0.1"},
    {F, "10.0.0.1", {"for=1.2.3.4;"}, POLICY_CLIENTIP_STOP_MALFORMED, "10.0.0.1"},
    {F, "10.0.0.1", {"203.0.113.7"}, POLICY_CLIENTIP_STOP_MALFORMED, "10.0.0.1"},
    {F, "10.0.0.1",
        {"for=\"[2001:db8:0000:0000:0000:0000:0000:0007]:65535xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\""},
        POLICY_CLIENTIP_STOP_MALFORMED, "10.0.0.1"},
};

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

int
main(void)
{
	struct policy_cidr *trusted = policy_cidr_new();
	struct policy_clientip_conf conf;

	is_int(policy_cidr_add_str(trusted, STR_LIT("10.0.0.0/8"), 0), POLICY_CIDR_OK);
	is_int(policy_cidr_add_str(trusted, STR_LIT("2001:db8:ffff::/48"), 0), POLICY_CIDR_OK);
	is_int(policy_cidr_add_str(trusted, STR_LIT("127.0.0.1"), 0), POLICY_CIDR_OK);
	policy_clientip_conf_defaults(&conf);
	is_int(conf.header, POLICY_CLIENTIP_XFF);
	is_int(conf.max_hops, 32);
	conf.trusted = trusted;

	subtest("table");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct str f[3];
		size_t n = 0;
		struct policy_addr peer = addr(cases[i].peer), want = addr(cases[i].want), got;
		enum policy_clientip_source src;
		char label[300], b1[POLICY_ADDR_STRLEN];

		while (n < 3 && cases[i].fields[n] != NULL) {
			f[n] = str_cstr(cases[i].fields[n]);
			n++;
		}
		conf.header = cases[i].hdr;
		src = policy_clientip(&conf, &peer, f, n, &got);
		snprintf(label, sizeof label, "%s peer %s, %s%s%s",
		    cases[i].hdr == F ? "Fwd" : "XFF", cases[i].peer,
		    n > 0 ? cases[i].fields[0] : "(none)", n > 1 ? " | " : "",
		    n > 1 ? cases[i].fields[1] : "");
		if (!ok(src == cases[i].source && policy_addr_eq(&got, &want), label))
			printf("#   got %s %s, want %s %s\n", policy_clientip_source_name(src),
			    policy_addr_format(&got, b1),
			    policy_clientip_source_name(cases[i].source), cases[i].want);
	}

	subtest("hops are bounded");
	{
		struct policy_addr peer = addr("10.0.0.1"), got;
		struct str f = STR_LIT("203.0.113.7, 10.0.0.5, 10.0.0.4, 10.0.0.3");

		conf.header = X;
		conf.max_hops = 2;
		is_int(policy_clientip(&conf, &peer, &f, 1, &got), POLICY_CLIENTIP_STOP_HOPS);
		ok(policy_addr_eq(
		       &got, &(struct policy_addr){.family = AF_INET, .b = {10, 0, 0, 4}}),
		    "stops on the second hop");
		conf.max_hops = 4;
		is_int(policy_clientip(&conf, &peer, &f, 1, &got), POLICY_CLIENTIP_HEADER);
		conf.max_hops = 32;
	}

	subtest("no trusted proxies");
	{
		struct policy_addr peer = addr("10.0.0.1"), got;
		struct str f = STR_LIT("203.0.113.7");

		conf.trusted = NULL;
		is_int(policy_clientip(&conf, &peer, &f, 1, &got), POLICY_CLIENTIP_PEER);
		ok(policy_addr_eq(&got, &peer), "the peer");
	}
	is_str(policy_clientip_source_name(POLICY_CLIENTIP_STOP_HOPS), "too_many_hops");
	policy_cidr_free(&trusted);
	return tap_done();
}
