/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * config/config_value.h — scalar value parsers for the configuration loader
 * (internal to config/): sizes, durations, booleans, integers, addresses and
 * host names.  Every parser is pure: it reads a NUL-terminated string, writes
 * its result only on success, and on failure writes one reason line ("invalid
 * size \"1GB\": use KiB/MiB/GiB (powers of 1024)") into err.  Any thread.
 */
#ifndef OUTPOST_CONFIG_CONFIG_VALUE_H
#define OUTPOST_CONFIG_CONFIG_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Reasons are short; this is enough for any of them with a long value cut. */
#define CONFIG_VALUE_ERRLEN 256

/* "256MiB", "8 KiB", "4096", "0": B, KiB, MiB, GiB, TiB.  0 or -1. */
int config_value_size(const char *s, uint64_t *out, char *err, size_t errlen);
/* "10s", "250ms", "5m", "1h"; the unit is required.  Milliseconds.  0 or -1. */
int config_value_duration_ms(const char *s, uint64_t *out, char *err, size_t errlen);
/* Plain decimal, no sign.  0 or -1. */
int config_value_uint(const char *s, uint64_t *out);
/* true/True/TRUE/false/False/FALSE.  0 or -1. */
int config_value_bool(const char *s, bool *out);
/* Port 1..65535 from s[0..len).  0 or -1. */
int config_value_port(const char *s, size_t len, uint16_t *out);
/* DNS name: labels of [A-Za-z0-9-], 1..63 bytes, not starting or ending with
 * '-', total <= 253 bytes. */
bool config_value_dns_name(const char *s, size_t len);

/*
 * Numeric socket address "a.b.c.d:port" or "[v6]:port" (port 1..65535) into
 * *ss / *len (zeroed first).  0 or -1.
 */
int config_value_sockaddr(
    const char *s, struct sockaddr_storage *ss, socklen_t *len, char *err, size_t errlen);
/*
 * Origin address "host:port": host is a DNS name, an IPv4 literal or a
 * bracketed IPv6 literal.  On success *host is a new string without brackets
 * (caller frees) and *port is set.  0 or -1.
 */
int config_value_hostport(const char *s, char **host, uint16_t *port, char *err, size_t errlen);
/*
 * Site host pattern: "*", "*.name", a DNS name, an IPv4 literal or a
 * bracketed IPv6 literal; the caller lower-cases it.  0 or -1.
 */
int config_value_host_pattern(const char *s, char *err, size_t errlen);

/*
 * Strict-Transport-Security field value (RFC 6797 §6.1): directives separated
 * by ';' (OWS around them), each a token, optionally "=" token or
 * quoted-string; "max-age" (delta-seconds, possibly quoted) is required; no
 * directive twice (names compared case-insensitively); at most 256 bytes of
 * visible ASCII and spaces.  0 or -1.
 */
int config_value_hsts(const char *s, char *err, size_t errlen);

/* Formats a byte count with the largest exact unit ("16MiB", "1000B"). */
void config_value_fmt_size(uint64_t v, char *out, size_t outlen);
/* Formats milliseconds with the largest exact unit ("30s", "1500ms"). */
void config_value_fmt_duration(uint64_t ms, char *out, size_t outlen);

#endif
