/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * policy/policy_clientip.c — the client address behind trusted proxies,
 * from X-Forwarded-For or Forwarded (RFC 7239).
 *
 * Trust model: an entry of the list is only as good as the hop that wrote
 * it, and each hop appends the address it received the connection from.
 * So the walk starts at the socket's peer and moves left one entry at a
 * time for as long as the hop it stands on is a trusted proxy; the first
 * untrusted address is the client.  Everything left of that point may have
 * been written by the client and is never read.  When the walk meets an
 * entry it cannot use (not an address, "unknown", an obfuscated identifier)
 * it stops on the last trusted hop: skipping the entry would hand the
 * choice to whatever the client put further left.  The caller then sees a
 * proxy's address as the client's — limits and rules apply to that proxy,
 * which is the conservative failure — and the source says why (a metric).
 *
 * The list is read right to left without copying: element boundaries are
 * found by scanning back for a comma outside a quoted-string (Forwarded
 * values may quote commas); an element the backward scan splits wrongly is
 * not well-formed, and the walk stops on it.  Addresses are parsed from a
 * small stack copy.  No allocation; any thread.
 *
 * Accepted entry forms:
 *   X-Forwarded-For: 192.0.2.1, 192.0.2.1:5678, 2001:db8::1, [2001:db8::1],
 *     [2001:db8::1]:443 (ports are ignored); "unknown" stops the walk.
 *   Forwarded: elements of ";"-separated pairs; the "for" pair's node
 *     (RFC 7239 §6): IPv4 [":" port], a quoted "[IPv6]" [":" port],
 *     "unknown" or "_obfuscated" (§6.3) which stop the walk.  An element
 *     without "for", with two, or with a malformed pair is malformed.
 */
#include "config.h"

#include <string.h>

#include "policy/policy.h"

static const char *const clientip_names[] = {
#define POLICY_CLIENTIP_NAME(name, text) text,
    POLICY_CLIENTIP_SOURCE_TABLE(POLICY_CLIENTIP_NAME)
#undef POLICY_CLIENTIP_NAME
};

const char *
policy_clientip_source_name(enum policy_clientip_source s)
{
	if ((size_t)s >= sizeof clientip_names / sizeof clientip_names[0])
		return "invalid";
	return clientip_names[s];
}

void
policy_clientip_conf_defaults(struct policy_clientip_conf *c)
{
	memset(c, 0, sizeof *c);
	c->trusted = NULL;
	c->header = POLICY_CLIENTIP_XFF;
	c->max_hops = 32;
}

enum entry {
	ENTRY_ADDR = 0,
	ENTRY_UNKNOWN,
	ENTRY_MALFORMED,
};

static bool
is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* 1*5 DIGIT (RFC 7239 port; its value does not matter here). */
static bool
port_ok(struct str p)
{
	if (p.len == 0 || p.len > 5)
		return false;
	for (size_t i = 0; i < p.len; i++)
		if (!is_digit(p.p[i]))
			return false;
	return true;
}

/* "_" 1*( ALPHA / DIGIT / "." / "_" / "-" ) (RFC 7239 §6.3 obfnode/obfport). */
static bool
obf_ok(struct str s)
{
	if (s.len < 2 || s.p[0] != '_')
		return false;
	for (size_t i = 1; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit((char)c) ||
		        c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/*
 * A node: "[v6]" [":" port], or v4 [":" port], or (xff only) a bare v6.
 * forwarded: RFC 7239 rules (obfuscated ports allowed, no bare IPv6).
 */
static enum entry
node_parse(struct str s, bool forwarded, struct policy_addr *out)
{
	struct str host = s, port = STR_NULL;
	const char *colon;

	if (s.len == 0)
		return ENTRY_MALFORMED;
	if (str_eq_nocase(s, STR_LIT("unknown")))
		return ENTRY_UNKNOWN;
	if (forwarded && s.p[0] == '_')
		return obf_ok(s) ? ENTRY_UNKNOWN : ENTRY_MALFORMED;
	if (s.p[0] == '[') {
		const char *close = memchr(s.p, ']', s.len);
		size_t after;

		if (close == NULL)
			return ENTRY_MALFORMED;
		host = str_make(s.p + 1, (size_t)(close - s.p - 1));
		after = s.len - (size_t)(close - s.p) - 1;
		if (after > 0) {
			if (close[1] != ':')
				return ENTRY_MALFORMED;
			port = str_make(close + 2, after - 1);
			if (!port_ok(port) && !(forwarded && obf_ok(port)))
				return ENTRY_MALFORMED;
		}
		/* Inside brackets only IPv6 (RFC 3986 IP-literal). */
		if (memchr(host.p, ':', host.len) == NULL)
			return ENTRY_MALFORMED;
		return policy_addr_parse(host, out) == 0 ? ENTRY_ADDR : ENTRY_MALFORMED;
	}
	colon = memchr(s.p, ':', s.len);
	if (colon != NULL && memchr(colon + 1, ':', s.len - (size_t)(colon - s.p) - 1) == NULL) {
		/* exactly one colon: IPv4 with a port */
		host = str_make(s.p, (size_t)(colon - s.p));
		port = str_make(colon + 1, s.len - host.len - 1);
		if (!port_ok(port) && !(forwarded && obf_ok(port)))
			return ENTRY_MALFORMED;
		if (memchr(host.p, '.', host.len) == NULL)
			return ENTRY_MALFORMED;
	} else if (colon != NULL && forwarded) {
		return ENTRY_MALFORMED; /* RFC 7239 §6: IPv6 must be bracketed */
	}
	return policy_addr_parse(host, out) == 0 ? ENTRY_ADDR : ENTRY_MALFORMED;
}

/* The end of a quoted-string that starts at s.p[i] == '"'; s.len if none. */
static size_t
quoted_end(struct str s, size_t i)
{
	for (i++; i < s.len; i++) {
		if (s.p[i] == '\\') {
			i++;
			continue;
		}
		if (s.p[i] == '"')
			return i;
	}
	return s.len;
}

/*
 * One Forwarded element: the node of its single "for" pair.  A pair is
 * token "=" ( token / quoted-string ); pairs are split by ";" (with OWS
 * tolerated around it, as senders emit "for=x; proto=https").
 */
static enum entry
forwarded_element(struct str el, struct policy_addr *out)
{
	enum entry verdict = ENTRY_MALFORMED;
	bool have_for = false;
	size_t i = 0;

	for (;;) {
		char unq[64];
		struct str name, value;
		bool too_long = false;

		while (i < el.len && is_ows(el.p[i]))
			i++;
		name.p = el.p + i;
		while (i < el.len && str_is_tchar((unsigned char)el.p[i]))
			i++;
		name.len = (size_t)(el.p + i - name.p);
		if (name.len == 0 || i >= el.len || el.p[i] != '=')
			return ENTRY_MALFORMED;
		i++;
		if (i < el.len && el.p[i] == '"') {
			size_t end = quoted_end(el, i), n = 0;

			if (end >= el.len)
				return ENTRY_MALFORMED;
			/* quoted-pair → its char; a node is short */
			for (size_t j = i + 1; j < end; j++) {
				if (el.p[j] == '\\')
					j++;
				if (n == sizeof unq) {
					too_long = true;
					break;
				}
				unq[n++] = el.p[j];
			}
			value = str_make(unq, n);
			i = end + 1;
		} else {
			value.p = el.p + i;
			while (i < el.len && str_is_tchar((unsigned char)el.p[i]))
				i++;
			value.len = (size_t)(el.p + i - value.p);
			if (value.len == 0)
				return ENTRY_MALFORMED;
		}
		if (str_eq_nocase(name, STR_LIT("for"))) {
			if (have_for || too_long)
				return ENTRY_MALFORMED;
			have_for = true;
			verdict = node_parse(value, true, out);
			if (verdict == ENTRY_MALFORMED)
				return verdict;
		}
		while (i < el.len && is_ows(el.p[i]))
			i++;
		if (i == el.len)
			break;
		if (el.p[i] != ';')
			return ENTRY_MALFORMED;
		i++;
	}
	return have_for ? verdict : ENTRY_MALFORMED;
}

/*
 * The last element of list[0..*end), with OWS trimmed; *end moves to the
 * comma before it (or 0).  Commas inside a quoted-string do not split.
 * Empty elements (", ,") are skipped as the list rule allows (RFC 9110
 * §5.6.1).  false when nothing is left.
 */
static bool
list_prev(struct str list, size_t *end, struct str *el)
{
	while (*end > 0) {
		size_t e = *end, i = e;
		bool quoted = false;

		while (i > 0) {
			char c = list.p[i - 1];

			if (c == '"') {
				/* A quote preceded by an odd run of backslashes is
				 * escaped (only meaningful inside a quoted-string). */
				size_t bs = 0;

				while (i - 1 > bs && list.p[i - 2 - bs] == '\\')
					bs++;
				if (!quoted || bs % 2 == 0)
					quoted = !quoted;
			} else if (c == ',' && !quoted) {
				break;
			}
			i--;
		}
		*el = str_trim_ows(str_make(list.p + i, e - i));
		*end = i > 0 ? i - 1 : 0;
		if (el->len > 0)
			return true;
		if (i == 0)
			break;
	}
	return false;
}

enum policy_clientip_source
policy_clientip(const struct policy_clientip_conf *conf, const struct policy_addr *peer,
    const struct str *fields, size_t n, struct policy_addr *out)
{
	const bool fwd = conf->header == POLICY_CLIENTIP_FORWARDED;
	unsigned hops = 0;
	bool any = false;

	*out = *peer;
	if (conf->trusted == NULL || !policy_cidr_lookup(conf->trusted, peer, NULL))
		return POLICY_CLIENTIP_PEER;
	/* *out is the hop the walk stands on: trusted. */
	for (size_t f = n; f-- > 0;) {
		size_t end = fields[f].len;
		struct str el;

		while (list_prev(fields[f], &end, &el)) {
			struct policy_addr a;
			enum entry e;

			if (conf->max_hops != 0 && hops++ >= conf->max_hops)
				return POLICY_CLIENTIP_STOP_HOPS;
			any = true;
			e = fwd ? forwarded_element(el, &a) : node_parse(el, false, &a);
			if (e == ENTRY_MALFORMED)
				return POLICY_CLIENTIP_STOP_MALFORMED;
			if (e == ENTRY_UNKNOWN)
				return POLICY_CLIENTIP_STOP_UNKNOWN;
			*out = a;
			if (!policy_cidr_lookup(conf->trusted, &a, NULL))
				return POLICY_CLIENTIP_HEADER;
		}
	}
	return any ? POLICY_CLIENTIP_ALL_TRUSTED : POLICY_CLIENTIP_NO_HEADER;
}
