/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * config/config_value.c — parsers for the scalar values of the configuration:
 * sizes, durations, booleans, integers, ports, socket addresses, origin
 * addresses and site host patterns.
 *
 * Everything here is pure and allocation-free except config_value_hostport,
 * which returns the host it parsed.  Reasons name the value as written (cut
 * to 80 bytes) so the loader can prefix them with "file:line:column: key: ".
 */
/* <config.h>: "config.h" would find config/config.h, next to this file. */
#include <config.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config/config_value.h"
#include "core/str.h"
#include "core/xmalloc.h"

#define KIB 1024ULL

struct config_unit {
	const char *name;
	uint64_t mult;
};

static const struct config_unit config_value_size_units[] = {
    {"B", 1},
    {"KiB", KIB},
    {"MiB", KIB *KIB},
    {"GiB", KIB *KIB *KIB},
    {"TiB", KIB *KIB *KIB *KIB},
};

/* Decimal units that are easy to write by mistake: rejected with a hint. */
static const char *const config_value_size_decimal[] = {
    "KB",
    "kB",
    "MB",
    "GB",
    "TB",
    "K",
    "k",
    "M",
    "G",
    "T",
    "kb",
    "mb",
    "gb",
    "tb",
};

static const struct config_unit config_value_duration_units[] = {
    {"ms", 1},
    {"s", 1000},
    {"m", 60 * 1000},
    {"h", 60 * 60 * 1000},
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Leading decimal digits of s; -1 when there are none or on overflow. */
static int
config_value_digits(const char *s, uint64_t *out, const char **end)
{
	uint64_t v = 0;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*out = v;
	*end = p;
	return 0;
}

int
config_value_uint(const char *s, uint64_t *out)
{
	const char *end;
	uint64_t v;

	if (config_value_digits(s, &v, &end) == -1 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

static int
config_value_scaled(const char *s, uint64_t n, uint64_t mult, uint64_t *out, const char *what,
    char *err, size_t errlen)
{
	if (mult != 0 && n > UINT64_MAX / mult) {
		snprintf(err, errlen, "invalid %s \"%.80s\": too large", what, s);
		return -1;
	}
	*out = n * mult;
	return 0;
}

int
config_value_size(const char *s, uint64_t *out, char *err, size_t errlen)
{
	const char *unit;
	uint64_t n;
	size_t i;

	if (config_value_digits(s, &n, &unit) == -1) {
		if (*s >= '0' && *s <= '9')
			snprintf(err, errlen, "invalid size \"%.80s\": too large", s);
		else
			snprintf(err, errlen,
			    "invalid size \"%.80s\": expected an integer with an optional unit "
			    "(B, KiB, MiB, GiB, TiB)",
			    s);
		return -1;
	}
	while (*unit == ' ')
		unit++;
	if (*unit == '\0')
		return config_value_scaled(s, n, 1, out, "size", err, errlen);
	for (i = 0; i < NELEM(config_value_size_units); i++)
		if (strcmp(unit, config_value_size_units[i].name) == 0)
			return config_value_scaled(
			    s, n, config_value_size_units[i].mult, out, "size", err, errlen);
	for (i = 0; i < NELEM(config_value_size_decimal); i++) {
		if (strcmp(unit, config_value_size_decimal[i]) == 0) {
			snprintf(err, errlen,
			    "invalid size \"%.80s\": use KiB/MiB/GiB (powers of 1024)", s);
			return -1;
		}
	}
	snprintf(err, errlen,
	    "invalid size \"%.80s\": unknown unit \"%.16s\" "
	    "(use B, KiB, MiB, GiB or TiB)",
	    s, unit);
	return -1;
}

int
config_value_duration_ms(const char *s, uint64_t *out, char *err, size_t errlen)
{
	const char *unit;
	uint64_t n;
	size_t i;

	if (config_value_digits(s, &n, &unit) == -1) {
		if (*s >= '0' && *s <= '9')
			snprintf(err, errlen, "invalid duration \"%.80s\": too large", s);
		else
			snprintf(err, errlen,
			    "invalid duration \"%.80s\": expected an integer with a unit "
			    "(ms, s, m, h)",
			    s);
		return -1;
	}
	while (*unit == ' ')
		unit++;
	if (*unit == '\0') {
		snprintf(
		    err, errlen, "invalid duration \"%.80s\": a unit is required (ms, s, m, h)", s);
		return -1;
	}
	for (i = 0; i < NELEM(config_value_duration_units); i++)
		if (strcmp(unit, config_value_duration_units[i].name) == 0)
			return config_value_scaled(s, n, config_value_duration_units[i].mult, out,
			    "duration", err, errlen);
	snprintf(err, errlen,
	    "invalid duration \"%.80s\": unknown unit \"%.16s\" "
	    "(use ms, s, m or h)",
	    s, unit);
	return -1;
}

int
config_value_bool(const char *s, bool *out)
{
	if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0) {
		*out = true;
		return 0;
	}
	if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0) {
		*out = false;
		return 0;
	}
	return -1;
}

int
config_value_port(const char *s, size_t len, uint16_t *out)
{
	unsigned v = 0;
	size_t i;

	if (len == 0 || len > 5)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

bool
config_value_dns_name(const char *s, size_t len)
{
	size_t i, label = 0;

	if (len == 0 || len > 253)
		return false;
	for (i = 0; i < len; i++) {
		char ch = s[i];

		if (ch == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		        (ch >= '0' && ch <= '9') || ch == '-'))
			return false;
		if (ch == '-' && label == 0)
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0 && s[len - 1] != '-';
}

/* Only digits and dots: the author meant an IPv4 literal. */
static bool
config_value_looks_ipv4(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] != '.' && (s[i] < '0' || s[i] > '9'))
			return false;
	return len > 0;
}

/*
 * Splits "host:port" / "[v6]:port" into the host (brackets removed) and the
 * port text.  *v6 tells whether brackets were used.  0 or -1 with a reason.
 */
static int
config_value_split(const char *s, const char **host, size_t *host_len, const char **port,
    size_t *port_len, bool *v6, char *err, size_t errlen)
{
	const char *colon;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL) {
			snprintf(err, errlen, "invalid address \"%.80s\": missing ']'", s);
			return -1;
		}
		*host = s + 1;
		*host_len = (size_t)(close - s - 1);
		*v6 = true;
		if (close[1] != ':') {
			if (close[1] == '\0')
				snprintf(err, errlen, "missing port in \"%.80s\"", s);
			else
				snprintf(err, errlen,
				    "invalid address \"%.80s\": expected ':' "
				    "after ']'",
				    s);
			return -1;
		}
		*port = close + 2;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL) {
			snprintf(err, errlen, "missing port in \"%.80s\"", s);
			return -1;
		}
		if (memchr(s, ':', (size_t)(colon - s)) != NULL) {
			snprintf(err, errlen,
			    "invalid address \"%.80s\": IPv6 addresses must "
			    "be written \"[addr]:port\"",
			    s);
			return -1;
		}
		*host = s;
		*host_len = (size_t)(colon - s);
		*v6 = false;
		*port = colon + 1;
	}
	*port_len = strlen(*port);
	if (*port_len == 0) {
		snprintf(err, errlen, "missing port in \"%.80s\"", s);
		return -1;
	}
	return 0;
}

static int
config_value_ip(int af, const char *host, size_t host_len, void *dst)
{
	char buf[INET6_ADDRSTRLEN + 1];

	if (host_len == 0 || host_len >= sizeof buf)
		return -1;
	memcpy(buf, host, host_len);
	buf[host_len] = '\0';
	return inet_pton(af, buf, dst) == 1 ? 0 : -1;
}

int
config_value_sockaddr(
    const char *s, struct sockaddr_storage *ss, socklen_t *len, char *err, size_t errlen)
{
	const char *host, *port;
	size_t host_len, port_len;
	uint16_t pnum;
	bool v6;

	if (config_value_split(s, &host, &host_len, &port, &port_len, &v6, err, errlen) == -1)
		return -1;
	if (config_value_port(port, port_len, &pnum) == -1) {
		snprintf(err, errlen, "invalid port \"%.*s\"", (int)(port_len > 16 ? 16 : port_len),
		    port);
		return -1;
	}
	memset(ss, 0, sizeof *ss);
	if (v6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		if (config_value_ip(AF_INET6, host, host_len, &sin6->sin6_addr) == -1) {
			snprintf(err, errlen, "invalid IPv6 address \"%.*s\"",
			    (int)(host_len > 80 ? 80 : host_len), host);
			return -1;
		}
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(pnum);
		*len = sizeof *sin6;
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		if (config_value_ip(AF_INET, host, host_len, &sin->sin_addr) == -1) {
			snprintf(err, errlen,
			    "invalid address \"%.80s\": expected a numeric "
			    "\"a.b.c.d:port\" or \"[IPv6]:port\"",
			    s);
			return -1;
		}
		sin->sin_family = AF_INET;
		sin->sin_port = htons(pnum);
		*len = sizeof *sin;
	}
	return 0;
}

int
config_value_hostport(const char *s, char **host_out, uint16_t *port_out, char *err, size_t errlen)
{
	const char *host, *port;
	size_t host_len, port_len;
	unsigned char addr[sizeof(struct in6_addr)];
	uint16_t pnum;
	bool v6;

	if (config_value_split(s, &host, &host_len, &port, &port_len, &v6, err, errlen) == -1)
		return -1;
	if (v6) {
		if (config_value_ip(AF_INET6, host, host_len, addr) == -1) {
			snprintf(err, errlen, "invalid IPv6 address \"%.*s\"",
			    (int)(host_len > 80 ? 80 : host_len), host);
			return -1;
		}
	} else if (config_value_looks_ipv4(host, host_len)) {
		if (config_value_ip(AF_INET, host, host_len, addr) == -1) {
			snprintf(err, errlen, "invalid IPv4 address \"%.*s\"",
			    (int)(host_len > 80 ? 80 : host_len), host);
			return -1;
		}
	} else if (!config_value_dns_name(host, host_len)) {
		snprintf(err, errlen, "invalid host name \"%.*s\"",
		    (int)(host_len > 80 ? 80 : host_len), host);
		return -1;
	}
	if (config_value_port(port, port_len, &pnum) == -1) {
		snprintf(err, errlen, "invalid port \"%.*s\"", (int)(port_len > 16 ? 16 : port_len),
		    port);
		return -1;
	}
	*host_out = xstrndup(host, host_len);
	*port_out = pnum;
	return 0;
}

int
config_value_host_pattern(const char *s, char *err, size_t errlen)
{
	size_t len = strlen(s);
	unsigned char addr[sizeof(struct in6_addr)];

	if (strcmp(s, "*") == 0)
		return 0;
	if (len > 2 && s[0] == '[' && s[len - 1] == ']' &&
	    config_value_ip(AF_INET6, s + 1, len - 2, addr) == 0)
		return 0;
	if (config_value_looks_ipv4(s, len)) {
		if (config_value_ip(AF_INET, s, len, addr) == 0)
			return 0;
	} else if (len > 2 && s[0] == '*' && s[1] == '.') {
		if (config_value_dns_name(s + 2, len - 2))
			return 0;
	} else if (config_value_dns_name(s, len)) {
		return 0;
	}
	snprintf(err, errlen,
	    "invalid host \"%.80s\" (expected a host name, \"*.\" followed by "
	    "a host name, an IP address or \"*\")",
	    s);
	return -1;
}

static void
config_value_fmt(uint64_t v, const struct config_unit *units, size_t n, char *out, size_t outlen)
{
	size_t i = n;

	while (i > 1 && (v == 0 || v % units[i - 1].mult != 0))
		i--;
	if (v == 0)
		i = n > 1 && units[1].mult == 1000 ? 2 : 1;
	snprintf(
	    out, outlen, "%llu%s", (unsigned long long)(v / units[i - 1].mult), units[i - 1].name);
}

void
config_value_fmt_size(uint64_t v, char *out, size_t outlen)
{
	config_value_fmt(v, config_value_size_units, NELEM(config_value_size_units), out, outlen);
}

void
config_value_fmt_duration(uint64_t ms, char *out, size_t outlen)
{
	config_value_fmt(
	    ms, config_value_duration_units, NELEM(config_value_duration_units), out, outlen);
}

static bool
config_value_tchar(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

static bool
config_value_hsts_name(const char *p, size_t n, const char *name)
{
	size_t i;

	if (n != strlen(name))
		return false;
	for (i = 0; i < n; i++)
		if (str_lower((unsigned char)p[i]) != (unsigned char)name[i])
			return false;
	return true;
}

int
config_value_hsts(const char *s, char *err, size_t errlen)
{
	const char *p = s;
	const char *seen[8];
	size_t seen_len[8], n_seen = 0;
	bool max_age = false;

	if (strlen(s) > 256) {
		snprintf(err, errlen, "Strict-Transport-Security value longer than 256 bytes");
		return -1;
	}
	for (const char *q = s; *q != '\0'; q++)
		if ((unsigned char)*q < 0x20 || (unsigned char)*q > 0x7e) {
			snprintf(err, errlen, "invalid character in \"%.80s\"", s);
			return -1;
		}
	for (;;) {
		const char *name, *val = NULL;
		size_t nlen, vlen = 0;

		while (*p == ' ' || *p == '\t')
			p++;
		name = p;
		while (config_value_tchar(*p))
			p++;
		nlen = (size_t)(p - name);
		if (nlen == 0)
			goto bad;
		if (*p == '=') {
			p++;
			if (*p == '"') {
				val = ++p;
				while (*p != '"' && *p != '\0')
					p++;
				if (*p != '"')
					goto bad;
				vlen = (size_t)(p - val);
				p++;
			} else {
				val = p;
				while (config_value_tchar(*p))
					p++;
				vlen = (size_t)(p - val);
				if (vlen == 0)
					goto bad;
			}
		}
		for (size_t i = 0; i < n_seen; i++)
			if (seen_len[i] == nlen && strncasecmp(seen[i], name, nlen) == 0) {
				snprintf(err, errlen, "directive \"%.*s\" given twice in \"%.80s\"",
				    (int)nlen, name, s);
				return -1;
			}
		if (n_seen == sizeof seen / sizeof seen[0])
			goto bad;
		seen[n_seen] = name;
		seen_len[n_seen++] = nlen;
		if (config_value_hsts_name(name, nlen, "max-age")) {
			if (val == NULL || vlen == 0 || vlen > 10)
				goto bad_age;
			for (size_t i = 0; i < vlen; i++)
				if (val[i] < '0' || val[i] > '9')
					goto bad_age;
			max_age = true;
		}
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		if (*p != ';')
			goto bad;
		p++;
	}
	if (!max_age) {
		snprintf(err, errlen, "\"%.80s\" has no max-age directive", s);
		return -1;
	}
	return 0;
bad_age:
	snprintf(err, errlen, "invalid max-age in \"%.80s\" (expected max-age=SECONDS)", s);
	return -1;
bad:
	snprintf(err, errlen,
	    "invalid Strict-Transport-Security value \"%.80s\" (expected e.g. "
	    "\"max-age=31536000; includeSubDomains\")",
	    s);
	return -1;
}
