/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/policy/test_policy_proxyproto.c — the PROXY protocol parser
 * (policy/policy_proxyproto.c): every accepted and refused form of v1 and
 * v2, and the incremental contract (NEED_MORE never overshoots the header).
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"
#include "tests/unit/tap.h"

static const uint8_t sig[12] = {
    0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

static const char *
sa_text(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];
	unsigned port;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)ss;

		inet_ntop(AF_INET, &s->sin_addr, a, sizeof a);
		port = ntohs(s->sin_port);
		snprintf(buf, len, "%s:%u", a, port);
	} else {
		const struct sockaddr_in6 *s = (const void *)ss;

		inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof a);
		port = ntohs(s->sin6_port);
		snprintf(buf, len, "[%s]:%u", a, port);
	}
	return buf;
}

/* The input as a one-line TAP label (CR, LF shown as \r, \n). */
static const char *
label(const char *in)
{
	static char buf[256];
	size_t n = 0;

	for (; *in != '\0' && n + 3 < sizeof buf; in++) {
		if (*in == '\r' || *in == '\n') {
			buf[n++] = '\\';
			buf[n++] = *in == '\r' ? 'r' : 'n';
		} else {
			buf[n++] = *in;
		}
	}
	buf[n] = '\0';
	return buf;
}

/* Every strict prefix of a header is NEED_MORE, and never asks past it. */
static bool
prefixes_need_more(const uint8_t *buf, size_t header_len)
{
	for (size_t k = 0; k < header_len; k++) {
		struct policy_pp_result r;
		size_t need = 0;

		if (policy_pp_parse(buf, k, NULL, &r, &need) != POLICY_PP_NEED_MORE || need == 0 ||
		    k + need > header_len) {
			printf("#   prefix %zu: need %zu\n", k, need);
			return false;
		}
	}
	return true;
}

static void
test_v1(void)
{
	static const struct {
		const char *in;
		enum policy_pp_status st;
		const char *src, *dst; /* for OK with addresses */
	} cases[] = {
	    {"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n", POLICY_PP_OK, "192.0.2.1:56324",
	        "198.51.100.2:443"},
	    {"PROXY TCP6 2001:db8::1 2001:db8::2 0 65535\r\n", POLICY_PP_OK, "[2001:db8::1]:0",
	        "[2001:db8::2]:65535"},
	    {"PROXY TCP6 ::ffff:192.0.2.1 ::1 1 2\r\n", POLICY_PP_OK, "[::ffff:192.0.2.1]:1",
	        "[::1]:2"},
	    {"PROXY UNKNOWN\r\n", POLICY_PP_OK, NULL, NULL},
	    {"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", POLICY_PP_OK, NULL, NULL},
	    {"PROXY TCP4 192.0.2.1 198.51.100.2 1 2\r\nGET / HTTP/1.1\r\n", POLICY_PP_OK,
	        "192.0.2.1:1", "198.51.100.2:2"},
	    {"GET / HTTP/1.1\r\n", POLICY_PP_E_NOT_PROXY, NULL, NULL},
	    {"PROXI TCP4", POLICY_PP_E_NOT_PROXY, NULL, NULL},
	    {"proxy TCP4 192.0.2.1 198.51.100.2 1 2\r\n", POLICY_PP_E_NOT_PROXY, NULL, NULL},
	    {"PROXY\r\n", POLICY_PP_E_NOT_PROXY, NULL, NULL},
	    {"PROXY TCP4 192.0.2.1 198.51.100.2 1 2\n", POLICY_PP_E_V1_BAD_EOL, NULL, NULL},
	    {"PROXY TCP4 192.0.2.1 198.51.100.2 1 2\rX", POLICY_PP_E_V1_BAD_EOL, NULL, NULL},
	    {"PROXY TCP4 192.0.2.1\r198.51.100.2 1 2\r\n", POLICY_PP_E_V1_BAD_EOL, NULL, NULL},
	    {"PROXY \r\n", POLICY_PP_E_V1_BAD_PROTOCOL, NULL, NULL},
	    {"PROXY UDP4 192.0.2.1 198.51.100.2 1 2\r\n", POLICY_PP_E_V1_BAD_PROTOCOL, NULL, NULL},
	    {"PROXY tcp4 192.0.2.1 198.51.100.2 1 2\r\n", POLICY_PP_E_V1_BAD_PROTOCOL, NULL, NULL},
	    {"PROXY UNKNOWNX\r\n", POLICY_PP_E_V1_BAD_PROTOCOL, NULL, NULL},
	    {"PROXY TCP4 192.0.2.1 198.51.100.2 1\r\n", POLICY_PP_E_V1_MISSING_FIELD, NULL, NULL},
	    {"PROXY TCP4\r\n", POLICY_PP_E_V1_MISSING_FIELD, NULL, NULL},
	    {"PROXY TCP4 192.0.2.1 198.51.100.2 1 2 3\r\n", POLICY_PP_E_V1_EXTRA_FIELD, NULL, NULL},
	    {"PROXY TCP4 192.0.2.1 198.51.100.2 1 2 \r\n", POLICY_PP_E_V1_EXTRA_FIELD, NULL, NULL},
	    {"PROXY TCP4  192.0.2.1 198.51.100.2 1 2\r\n", POLICY_PP_E_V1_EXTRA_FIELD, NULL, NULL},
	    {"PROXY TCP4 2001:db8::1 198.51.100.2 1 2\r\n", POLICY_PP_E_V1_BAD_SRC_ADDR, NULL,
	        NULL},
	    {"PROXY TCP4 192.0.2.01 198.51.100.2 1 2\r\n", POLICY_PP_E_V1_BAD_SRC_ADDR, NULL, NULL},
	    {"PROXY TCP6 192.0.2.1 2001:db8::2 1 2\r\n", POLICY_PP_E_V1_BAD_SRC_ADDR, NULL, NULL},
	    {"PROXY TCP4 192.0.2.1 2001:db8::2 1 2\r\n", POLICY_PP_E_V1_BAD_DST_ADDR, NULL, NULL},
	    {"PROXY TCP4 192.0.2.1 198.51.100.2 65536 2\r\n", POLICY_PP_E_V1_BAD_SRC_PORT, NULL,
	        NULL},
	    {"PROXY TCP4 192.0.2.1 198.51.100.2 01 2\r\n", POLICY_PP_E_V1_BAD_SRC_PORT, NULL, NULL},
	    {"PROXY TCP4 192.0.2.1 198.51.100.2 -1 2\r\n", POLICY_PP_E_V1_BAD_SRC_PORT, NULL, NULL},
	    {"PROXY TCP4 192.0.2.1 198.51.100.2 1 x\r\n", POLICY_PP_E_V1_BAD_DST_PORT, NULL, NULL},
	    {"PROXY TCP4 192.0.2.1 198.51.100.2 1 999999\r\n", POLICY_PP_E_V1_BAD_DST_PORT, NULL,
	        NULL},
	};

	subtest("v1");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct policy_pp_result r;
		size_t len = strlen(cases[i].in), need = 0;
		enum policy_pp_status st =
		    policy_pp_parse((const uint8_t *)cases[i].in, len, NULL, &r, &need);

		if (!ok(st == cases[i].st, label(cases[i].in)))
			printf("#   got %s\n", policy_pp_strerror(st));
		if (st != POLICY_PP_OK || cases[i].st != POLICY_PP_OK)
			continue;
		is_int(r.version, 1);
		ok(r.header_len <= len && memcmp(cases[i].in + r.header_len - 2, "\r\n", 2) == 0,
		    "header ends at its CRLF");
		ok(prefixes_need_more((const uint8_t *)cases[i].in, r.header_len),
		    "prefixes are NEED_MORE");
		if (cases[i].src == NULL) {
			ok(r.local && r.family == AF_UNSPEC,
			    "UNKNOWN keeps the socket's addresses");
		} else {
			char b1[80], b2[80];

			ok(!r.local, "not local");
			is_str(sa_text(&r.src, b1, sizeof b1), cases[i].src);
			is_str(sa_text(&r.dst, b2, sizeof b2), cases[i].dst);
		}
	}
	/* the 107-byte bound */
	{
		char line[200];
		struct policy_pp_result r;
		size_t need;

		/* UNKNOWN with padding up to exactly 107 bytes is fine, 108 is not. */
		memset(line, 'x', sizeof line);
		memcpy(line, "PROXY UNKNOWN ", 14);
		memcpy(line + 105, "\r\n", 2);
		is_int(policy_pp_parse((const uint8_t *)line, 107, NULL, &r, &need), POLICY_PP_OK);
		is_int(r.header_len, 107);
		memset(line, 'x', sizeof line);
		memcpy(line, "PROXY UNKNOWN ", 14);
		memcpy(line + 106, "\r\n", 2);
		is_int(policy_pp_parse((const uint8_t *)line, 108, NULL, &r, &need),
		    POLICY_PP_E_V1_TOO_LONG);
		/* found as soon as 106 bytes hold no CR */
		is_int(policy_pp_parse((const uint8_t *)line, 106, NULL, &r, &need),
		    POLICY_PP_E_V1_TOO_LONG);
		is_int(policy_pp_parse((const uint8_t *)line, 105, NULL, &r, &need),
		    POLICY_PP_NEED_MORE);
		is_int(need, 1);
		is_int(policy_pp_parse((const uint8_t *)"PROX", 4, NULL, &r, &need),
		    POLICY_PP_NEED_MORE);
		is_int(need, 11);
		is_int(
		    policy_pp_parse((const uint8_t *)"", 0, NULL, &r, &need), POLICY_PP_NEED_MORE);
		is_int(need, 1);
	}
}

/* A v2 header: ver_cmd, fam, then the block (addresses + TLVs). */
static size_t
v2(uint8_t *out, uint8_t ver_cmd, uint8_t fam, const uint8_t *block, size_t blen)
{
	memcpy(out, sig, 12);
	out[12] = ver_cmd;
	out[13] = fam;
	out[14] = (uint8_t)(blen >> 8);
	out[15] = (uint8_t)blen;
	if (blen > 0)
		memcpy(out + 16, block, blen);
	return 16 + blen;
}

static void
test_v2(void)
{
	static const uint8_t in4[12] = {192, 0, 2, 1, 198, 51, 100, 2, 0xdc, 0x04, 0x01, 0xbb};
	uint8_t in6[36], blk[600], buf[2048];
	struct policy_pp_result r;
	size_t len, need, pos;
	char b1[80], b2[80];
	uint8_t type;
	struct str val;

	subtest("v2");
	memset(in6, 0, sizeof in6);
	in6[0] = 0x20, in6[1] = 0x01, in6[2] = 0x0d, in6[3] = 0xb8, in6[15] = 1;
	in6[16] = 0x20, in6[17] = 0x01, in6[18] = 0x0d, in6[19] = 0xb8, in6[31] = 2;
	in6[32] = 0x30, in6[33] = 0x39, in6[34] = 0x00, in6[35] = 0x50;

	len = v2(buf, 0x21, 0x11, in4, sizeof in4);
	is_int(policy_pp_parse(buf, len, NULL, &r, &need), POLICY_PP_OK);
	is_int(r.version, 2);
	is_int(r.header_len, 28);
	is_int(r.family, AF_INET);
	is_str(sa_text(&r.src, b1, sizeof b1), "192.0.2.1:56324");
	is_str(sa_text(&r.dst, b2, sizeof b2), "198.51.100.2:443");
	ok(prefixes_need_more(buf, len), "v2 prefixes are NEED_MORE");
	is_int(policy_pp_parse(buf, 16, NULL, &r, &need), POLICY_PP_NEED_MORE);
	is_int(need, 12);

	len = v2(buf, 0x21, 0x21, in6, sizeof in6);
	is_int(policy_pp_parse(buf, len, NULL, &r, &need), POLICY_PP_OK);
	is_str(sa_text(&r.src, b1, sizeof b1), "[2001:db8::1]:12345");
	is_str(sa_text(&r.dst, b2, sizeof b2), "[2001:db8::2]:80");

	/* TLVs after the addresses: walked, not interpreted */
	memcpy(blk, in4, 12);
	memcpy(blk + 12,
	    "\x02\x00\x0b"
	    "example.com"
	    "\x04\x00\x00",
	    17);
	len = v2(buf, 0x21, 0x11, blk, 29);
	is_int(policy_pp_parse(buf, len, NULL, &r, &need), POLICY_PP_OK);
	is_int(r.tlv_len, 17);
	pos = 0;
	ok(policy_pp_tlv_next(buf, &r, &pos, &type, &val) && type == 2 &&
	        str_eq(val, STR_LIT("example.com")),
	    "TLV authority");
	ok(policy_pp_tlv_next(buf, &r, &pos, &type, &val) && type == 4 && val.len == 0,
	    "TLV noop, empty");
	ok(!policy_pp_tlv_next(buf, &r, &pos, &type, &val), "no more TLVs");
	/* a TLV that runs past the block */
	memcpy(blk + 12,
	    "\x02\x00\x0c"
	    "example.com",
	    14);
	len = v2(buf, 0x21, 0x11, blk, 26);
	is_int(policy_pp_parse(buf, len, NULL, &r, &need), POLICY_PP_E_V2_BAD_TLV);
	len = v2(buf, 0x21, 0x11, blk, 14);
	is_int(policy_pp_parse(buf, len, NULL, &r, &need), POLICY_PP_E_V2_BAD_TLV);

	/* LOCAL: accepted whatever the block holds (health checks) */
	len = v2(buf, 0x20, 0x00, NULL, 0);
	is_int(policy_pp_parse(buf, len, NULL, &r, &need), POLICY_PP_OK);
	ok(r.local && r.family == AF_UNSPEC && r.header_len == 16, "LOCAL");
	len = v2(buf, 0x20, 0x11, (const uint8_t *)"\x01\x02", 2);
	is_int(policy_pp_parse(buf, len, NULL, &r, &need), POLICY_PP_OK);
	ok(r.local && r.header_len == 18, "LOCAL with a short block");
	/* PROXY over UNSPEC and UNIX: no IP address, the socket's are used */
	len = v2(buf, 0x21, 0x00, (const uint8_t *)"junk", 4);
	is_int(policy_pp_parse(buf, len, NULL, &r, &need), POLICY_PP_OK);
	ok(!r.local && r.family == AF_UNSPEC, "PROXY UNSPEC: no addresses");
	memset(blk, 0, 216);
	len = v2(buf, 0x21, 0x31, blk, 216);
	is_int(policy_pp_parse(buf, len, NULL, &r, &need), POLICY_PP_OK);
	ok(r.family == AF_UNSPEC, "PROXY UNIX: no IP addresses");

	/* refused forms, each with its own status, found early */
	len = v2(buf, 0x11, 0x11, in4, 12);
	is_int(policy_pp_parse(buf, 13, NULL, &r, &need), POLICY_PP_E_V2_BAD_VERSION);
	len = v2(buf, 0x22, 0x11, in4, 12);
	is_int(policy_pp_parse(buf, 13, NULL, &r, &need), POLICY_PP_E_V2_BAD_COMMAND);
	len = v2(buf, 0x21, 0x41, in4, 12);
	is_int(policy_pp_parse(buf, 14, NULL, &r, &need), POLICY_PP_E_V2_BAD_FAMILY);
	len = v2(buf, 0x21, 0x13, in4, 12);
	is_int(policy_pp_parse(buf, 14, NULL, &r, &need), POLICY_PP_E_V2_BAD_TRANSPORT);
	len = v2(buf, 0x21, 0x12, in4, 12);
	is_int(policy_pp_parse(buf, 16, NULL, &r, &need), POLICY_PP_E_V2_NOT_STREAM);
	len = v2(buf, 0x21, 0x10, in4, 12);
	is_int(policy_pp_parse(buf, len, NULL, &r, &need), POLICY_PP_E_V2_NOT_STREAM);
	len = v2(buf, 0x21, 0x11, in4, 11);
	is_int(policy_pp_parse(buf, 16, NULL, &r, &need), POLICY_PP_E_V2_SHORT_ADDRESS);
	len = v2(buf, 0x21, 0x21, in6, 12);
	is_int(policy_pp_parse(buf, len, NULL, &r, &need), POLICY_PP_E_V2_SHORT_ADDRESS);
	memset(blk, 0, sizeof blk);
	len = v2(buf, 0x21, 0x31, blk, 100);
	is_int(policy_pp_parse(buf, len, NULL, &r, &need), POLICY_PP_E_V2_SHORT_ADDRESS);
	buf[6] = 0x0B;
	is_int(policy_pp_parse(buf, 7, NULL, &r, &need), POLICY_PP_E_NOT_PROXY);
	/* the size limit: known from the 16 fixed bytes */
	{
		struct policy_proxyproto_conf c;

		policy_proxyproto_conf_defaults(&c);
		is_int(c.max_v2_bytes, 1024);
		memcpy(blk, in4, 12);
		memset(blk + 12, 0, 600 - 12); /* NOOP TLVs of length 0 */
		len = v2(buf, 0x21, 0x11, blk, 600 - 12 - 12 % 3 + 12);
		c.max_v2_bytes = 512;
		is_int(policy_pp_parse(buf, 16, &c, &r, &need), POLICY_PP_E_V2_TOO_LONG);
		c.max_v2_bytes = len;
		is_int(policy_pp_parse(buf, len, &c, &r, &need), POLICY_PP_OK);
		c.max_v2_bytes = len - 1;
		is_int(policy_pp_parse(buf, len, &c, &r, &need), POLICY_PP_E_V2_TOO_LONG);
	}
	is_str(policy_pp_strerror(POLICY_PP_E_V2_BAD_TLV), "v2 TLV runs past the header");
}

int
main(void)
{
	test_v1();
	test_v2();
	return tap_done();
}
