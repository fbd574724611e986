/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * policy/policy_proxyproto.c — the PROXY protocol, versions 1 and 2, as
 * HAProxy's proxy-protocol.txt specifies them; the receiving side.
 *
 * A listener with proxy_protocol on expects the header before anything
 * else: the first byte tells the version ('P' for v1, CR for v2's binary
 * signature) and anything else is refused.  The parser is a pure function
 * over the bytes received so far; it restarts from the start on each call
 * (a header is at most 107 bytes in v1, and a bounded, configured size in
 * v2), reports how many bytes it still needs, and never looks past the
 * header, so the application data that follows stays the caller's.
 *
 * Strictness (the spec lets a receiver be strict, and a header is written
 * by a trusted proxy, never by hand):
 *   v1: "PROXY" SP protocol; TCP4/TCP6 take exactly four more fields each
 *       after a single SP; addresses in the protocol's family; ports decimal
 *       0..65535 without leading zeros; the line ends with CRLF within 107
 *       bytes; UNKNOWN ignores the rest of the line (§2.1).
 *   v2: version 2; command LOCAL or PROXY; a known family and transport;
 *       LOCAL skips the whole block (§2.2: "the receiver must accept this
 *       connection as valid and must use the real connection endpoints");
 *       PROXY over INET/INET6 must be STREAM (we serve TCP) and carry the
 *       full address block; PROXY over UNSPEC or UNIX is accepted with no
 *       address (the real endpoints are used); TLVs after the addresses must
 *       each fit in the block (type, 2-byte length, value); their contents
 *       are not interpreted here (policy_pp_tlv_next walks them).
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "policy/policy.h"

static const uint8_t pp_v2_sig[12] = {
    0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
static const char pp_v1_sig[6] = {'P', 'R', 'O', 'X', 'Y', ' '};

#define PP_V1_MIN 15 /* "PROXY UNKNOWN\r\n" */

static const char *const pp_text[] = {
#define POLICY_PP_TEXT(name, text) text,
    POLICY_PP_STATUS_TABLE(POLICY_PP_TEXT)
#undef POLICY_PP_TEXT
};

const char *
policy_pp_strerror(enum policy_pp_status st)
{
	if ((size_t)st >= sizeof pp_text / sizeof pp_text[0])
		return "unknown PROXY protocol status";
	return pp_text[st];
}

void
policy_proxyproto_conf_defaults(struct policy_proxyproto_conf *c)
{
	memset(c, 0, sizeof *c);
	c->max_v2_bytes = 1024;
	c->timeout_ms = 5000;
}

/* ---- v1 ---------------------------------------------------------------- */

/* Decimal 0..65535, no sign, no leading zero. */
static int
pp_v1_port(struct str f, uint16_t *out)
{
	unsigned v = 0;

	if (f.len == 0 || f.len > 5 || (f.len > 1 && f.p[0] == '0'))
		return -1;
	for (size_t i = 0; i < f.len; i++) {
		if (f.p[i] < '0' || f.p[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(f.p[i] - '0');
	}
	if (v > 65535)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

static int
pp_v1_addr(struct str f, int family, struct sockaddr_storage *ss)
{
	char text[INET6_ADDRSTRLEN];

	if (f.len == 0 || f.len >= sizeof text)
		return -1;
	memcpy(text, f.p, f.len);
	text[f.len] = '\0';
	memset(ss, 0, sizeof *ss);
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)(void *)ss;

		sin->sin_family = AF_INET;
		return inet_pton(AF_INET, text, &sin->sin_addr) == 1 ? 0 : -1;
	}
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)(void *)ss;

	sin6->sin6_family = AF_INET6;
	return inet_pton(AF_INET6, text, &sin6->sin6_addr) == 1 ? 0 : -1;
}

static void
pp_set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)(void *)ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)(void *)ss)->sin6_port = htons(port);
}

/* line: the v1 line without its CRLF, starting after "PROXY ". */
static enum policy_pp_status
pp_v1_fields(struct str line, struct policy_pp_result *r)
{
	struct str f[5];
	size_t nf = 0, start = 0;
	uint16_t sport, dport;
	int family;

	/* Split on single spaces; "UNKNOWN" ignores whatever follows it. */
	for (size_t i = 0; i <= line.len; i++) {
		if (i < line.len && line.p[i] != ' ')
			continue;
		if (nf < 5)
			f[nf] = str_make(line.p + start, i - start);
		nf++;
		start = i + 1;
		if (nf == 1 && str_eq(f[0], STR_LIT("UNKNOWN"))) {
			r->local = true;
			r->family = AF_UNSPEC;
			return POLICY_PP_OK;
		}
	}
	if (str_eq(f[0], STR_LIT("TCP4")))
		family = AF_INET;
	else if (str_eq(f[0], STR_LIT("TCP6")))
		family = AF_INET6;
	else
		return POLICY_PP_E_V1_BAD_PROTOCOL;
	if (nf < 5)
		return POLICY_PP_E_V1_MISSING_FIELD;
	if (nf > 5)
		return POLICY_PP_E_V1_EXTRA_FIELD;
	if (pp_v1_addr(f[1], family, &r->src) != 0)
		return POLICY_PP_E_V1_BAD_SRC_ADDR;
	if (pp_v1_addr(f[2], family, &r->dst) != 0)
		return POLICY_PP_E_V1_BAD_DST_ADDR;
	if (pp_v1_port(f[3], &sport) != 0)
		return POLICY_PP_E_V1_BAD_SRC_PORT;
	if (pp_v1_port(f[4], &dport) != 0)
		return POLICY_PP_E_V1_BAD_DST_PORT;
	pp_set_port(&r->src, sport);
	pp_set_port(&r->dst, dport);
	r->family = family;
	return POLICY_PP_OK;
}

static enum policy_pp_status
pp_v1(const uint8_t *buf, size_t len, struct policy_pp_result *r, size_t *need)
{
	size_t n = len < sizeof pp_v1_sig ? len : sizeof pp_v1_sig;
	/* The CR of the CRLF is at index POLICY_PP_V1_MAX - 2 at the latest. */
	size_t scan = len < POLICY_PP_V1_MAX - 1 ? len : POLICY_PP_V1_MAX - 1;

	if (memcmp(buf, pp_v1_sig, n) != 0)
		return POLICY_PP_E_NOT_PROXY;
	for (size_t i = 0; i < scan; i++) {
		if (buf[i] == '\n')
			return POLICY_PP_E_V1_BAD_EOL; /* LF without CR */
		if (buf[i] != '\r')
			continue;
		if (i + 1 == len) {
			*need = PP_V1_MIN > len + 1 ? PP_V1_MIN - len : 1;
			return POLICY_PP_NEED_MORE;
		}
		if (buf[i + 1] != '\n')
			return POLICY_PP_E_V1_BAD_EOL; /* CR without LF */
		/* i >= 6: the signature holds no CR or LF */
		r->version = 1;
		r->header_len = i + 2;
		return pp_v1_fields(
		    str_make((const char *)buf + sizeof pp_v1_sig, i - sizeof pp_v1_sig), r);
	}
	if (len >= POLICY_PP_V1_MAX - 1)
		return POLICY_PP_E_V1_TOO_LONG;
	*need = PP_V1_MIN > len ? PP_V1_MIN - len : 1;
	return POLICY_PP_NEED_MORE;
}

/* ---- v2 ---------------------------------------------------------------- */

enum {
	PP2_CMD_LOCAL = 0x0,
	PP2_CMD_PROXY = 0x1,
	PP2_AF_UNSPEC = 0x0,
	PP2_AF_INET = 0x1,
	PP2_AF_INET6 = 0x2,
	PP2_AF_UNIX = 0x3,
	PP2_TP_UNSPEC = 0x0,
	PP2_TP_STREAM = 0x1,
	PP2_TP_DGRAM = 0x2,
};

static const size_t pp2_addr_len[4] = {0, 12, 36, 216};

static bool
pp2_tlvs_ok(const uint8_t *p, size_t len)
{
	size_t pos = 0;

	while (pos < len) {
		size_t vlen;

		if (len - pos < 3)
			return false;
		vlen = (size_t)p[pos + 1] << 8 | p[pos + 2];
		if (len - pos - 3 < vlen)
			return false;
		pos += 3 + vlen;
	}
	return true;
}

static enum policy_pp_status
pp_v2(const uint8_t *buf, size_t len, const struct policy_proxyproto_conf *conf,
    struct policy_pp_result *r, size_t *need)
{
	size_t n = len < sizeof pp_v2_sig ? len : sizeof pp_v2_sig;
	size_t max = conf->max_v2_bytes;
	unsigned cmd, fam, tp;
	size_t blen, alen;
	const uint8_t *a;

	if (memcmp(buf, pp_v2_sig, n) != 0)
		return POLICY_PP_E_NOT_PROXY;
	if (len > 12) {
		if (buf[12] >> 4 != 2)
			return POLICY_PP_E_V2_BAD_VERSION;
		if ((buf[12] & 0xF) > PP2_CMD_PROXY)
			return POLICY_PP_E_V2_BAD_COMMAND;
	}
	if (len > 13) {
		if (buf[13] >> 4 > PP2_AF_UNIX)
			return POLICY_PP_E_V2_BAD_FAMILY;
		if ((buf[13] & 0xF) > PP2_TP_DGRAM)
			return POLICY_PP_E_V2_BAD_TRANSPORT;
	}
	if (len < POLICY_PP_V2_HEADER) {
		*need = POLICY_PP_V2_HEADER - len;
		return POLICY_PP_NEED_MORE;
	}
	if (max < POLICY_PP_V2_HEADER || max > POLICY_PP_V2_MAX_LEN)
		max = POLICY_PP_V2_MAX_LEN;
	cmd = buf[12] & 0xF;
	fam = buf[13] >> 4;
	tp = buf[13] & 0xF;
	blen = (size_t)buf[14] << 8 | buf[15];
	if (POLICY_PP_V2_HEADER + blen > max)
		return POLICY_PP_E_V2_TOO_LONG;
	alen = pp2_addr_len[fam];
	/* The length is known: a short address block is an error already. */
	if (cmd == PP2_CMD_PROXY && blen < alen)
		return POLICY_PP_E_V2_SHORT_ADDRESS;
	if (cmd == PP2_CMD_PROXY && (fam == PP2_AF_INET || fam == PP2_AF_INET6) &&
	    tp != PP2_TP_STREAM)
		return POLICY_PP_E_V2_NOT_STREAM;
	if (len < POLICY_PP_V2_HEADER + blen) {
		*need = POLICY_PP_V2_HEADER + blen - len;
		return POLICY_PP_NEED_MORE;
	}
	r->version = 2;
	r->header_len = POLICY_PP_V2_HEADER + blen;
	r->family = AF_UNSPEC;
	if (cmd == PP2_CMD_LOCAL) {
		r->local = true;
		return POLICY_PP_OK;
	}
	/* UNSPEC: the block is unspecified, to be ignored (no TLVs either). */
	if (fam == PP2_AF_UNSPEC)
		return POLICY_PP_OK;
	if (!pp2_tlvs_ok(buf + POLICY_PP_V2_HEADER + alen, blen - alen))
		return POLICY_PP_E_V2_BAD_TLV;
	r->tlv_off = POLICY_PP_V2_HEADER + alen;
	r->tlv_len = blen - alen;
	a = buf + POLICY_PP_V2_HEADER;
	if (fam == PP2_AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)(void *)&r->src;
		struct sockaddr_in *d = (struct sockaddr_in *)(void *)&r->dst;

		s->sin_family = d->sin_family = AF_INET;
		memcpy(&s->sin_addr, a, 4);
		memcpy(&d->sin_addr, a + 4, 4);
		memcpy(&s->sin_port, a + 8, 2);
		memcpy(&d->sin_port, a + 10, 2);
		r->family = AF_INET;
	} else if (fam == PP2_AF_INET6) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)(void *)&r->src;
		struct sockaddr_in6 *d = (struct sockaddr_in6 *)(void *)&r->dst;

		s->sin6_family = d->sin6_family = AF_INET6;
		memcpy(&s->sin6_addr, a, 16);
		memcpy(&d->sin6_addr, a + 16, 16);
		memcpy(&s->sin6_port, a + 32, 2);
		memcpy(&d->sin6_port, a + 34, 2);
		r->family = AF_INET6;
	}
	return POLICY_PP_OK;
}

enum policy_pp_status
policy_pp_parse(const uint8_t *buf, size_t len, const struct policy_proxyproto_conf *conf,
    struct policy_pp_result *r, size_t *need)
{
	struct policy_proxyproto_conf def;

	if (conf == NULL) {
		policy_proxyproto_conf_defaults(&def);
		conf = &def;
	}
	memset(r, 0, sizeof *r);
	*need = 0;
	if (len == 0) {
		*need = 1;
		return POLICY_PP_NEED_MORE;
	}
	if (buf[0] == pp_v1_sig[0])
		return pp_v1(buf, len, r, need);
	if (buf[0] == pp_v2_sig[0])
		return pp_v2(buf, len, conf, r, need);
	return POLICY_PP_E_NOT_PROXY;
}

bool
policy_pp_tlv_next(const uint8_t *buf, const struct policy_pp_result *r, size_t *pos, uint8_t *type,
    struct str *value)
{
	const uint8_t *p = buf + r->tlv_off;
	size_t vlen;

	/* policy_pp_parse checked that the TLVs tile the block exactly. */
	if (r->version != 2 || *pos + 3 > r->tlv_len)
		return false;
	vlen = (size_t)p[*pos + 1] << 8 | p[*pos + 2];
	*type = p[*pos];
	*value = str_make((const char *)p + *pos + 3, vlen);
	*pos += 3 + vlen;
	return true;
}
