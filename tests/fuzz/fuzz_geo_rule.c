/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/fuzz/fuzz_geo_rule.c — geo access rules (geo/geo_rule.c) and geo
 * pool keys (geo/geo_pool.c) on arbitrary bytes.
 *
 * Input: lines.  Each line is copied into an exactly sized, NUL-terminated
 * heap buffer (ASan sees an overread) and parsed as a rule, as a pool key
 * and as an `unknown:` value.  Checked: a failed parse says why in a
 * NUL-terminated text that fits its buffer; a rule that parses formats to a
 * text that parses back to the same rule and the same text; the rules that
 * parsed compile (unless one repeats another, which must then be said) and
 * every verdict names a rule in range or GEO_EVAL_DEFAULT/UNKNOWN, for
 * locations and addresses drawn from the input.
 */
#include "config.h"

#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/assert.h"
#include "geo/geo.h"
#include "tests/fuzz/fuzz.h"

enum { FUZZ_RULES = 64 };

static bool
rule_same(const struct geo_rule *a, const struct geo_rule *b)
{
	return a->kind == b->kind && strcmp(a->code, b->code) == 0 && a->asn == b->asn &&
	       a->v6 == b->v6 && a->plen == b->plen && memcmp(a->addr, b->addr, 16) == 0;
}

static void
check_err(const char *err, size_t errlen)
{
	size_t n = strnlen(err, errlen);

	ASSERT(n > 0 && n < errlen);
}

static void
fuzz_line(const char *line, struct geo_rule *rules, size_t *n, struct geo_pool_map *m, int pool)
{
	struct geo_rule r, back;
	enum geo_verdict v;
	char err[160], fmt[GEO_RULE_TEXT_MAX], fmt2[GEO_RULE_TEXT_MAX];

	err[0] = '\0';
	if (geo_rule_parse(line, &r, err, sizeof err) == 0) {
		geo_rule_format(&r, fmt, sizeof fmt);
		ASSERT(strlen(fmt) < sizeof fmt - 1);
		ASSERT(geo_rule_parse(fmt, &back, err, sizeof err) == 0);
		ASSERT(rule_same(&r, &back));
		geo_rule_format(&back, fmt2, sizeof fmt2);
		ASSERT(strcmp(fmt, fmt2) == 0);
		if (*n < FUZZ_RULES)
			rules[(*n)++] = r;
	} else {
		check_err(err, sizeof err);
	}
	/* A small buffer cuts the text, never overruns it. */
	if (geo_rule_parse(line, &r, err, 9) != 0)
		check_err(err, 9);
	err[0] = '\0';
	if (geo_pool_map_add(m, line, pool, err, sizeof err) != 0)
		check_err(err, sizeof err);
	err[0] = '\0';
	if (geo_verdict_parse(line, &v, err, sizeof err) != 0)
		check_err(err, sizeof err);
	else
		ASSERT(v == GEO_VERDICT_ALLOW || v == GEO_VERDICT_DENY);
}

static void
fuzz_eval(const struct geo_rules *t, size_t n, const uint8_t *data, size_t size)
{
	struct sockaddr_in s4;
	struct sockaddr_in6 s6;
	struct geo_loc loc;
	uint8_t b[24];
	int rule;

	memset(b, 0, sizeof b);
	memcpy(b, data, size < sizeof b ? size : sizeof b);
	memset(&loc, 0, sizeof loc);
	loc.found = b[0];
	loc.country[0] = (char)('A' + b[1] % 27), loc.country[1] = (char)('A' + b[2] % 26);
	loc.continent[0] = (char)('A' + b[3] % 26), loc.continent[1] = (char)('A' + b[4] % 26);
	memcpy(&loc.asn, b + 5, 4);
	memset(&s4, 0, sizeof s4);
	s4.sin_family = AF_INET;
	memcpy(&s4.sin_addr, b + 9, 4);
	memset(&s6, 0, sizeof s6);
	s6.sin6_family = AF_INET6;
	memcpy(&s6.sin6_addr, b + 8, 16);
	const struct sockaddr *sas[] = {
	    (const struct sockaddr *)&s4, (const struct sockaddr *)&s6, NULL};
	for (size_t i = 0; i < 3; i++) {
		enum geo_verdict v = geo_rules_eval(t, &loc, sas[i], &rule);

		ASSERT(v == GEO_VERDICT_ALLOW || v == GEO_VERDICT_DENY);
		ASSERT(rule == GEO_EVAL_DEFAULT || rule == GEO_EVAL_UNKNOWN ||
		       (rule >= 0 && (size_t)rule < n));
		(void)geo_rules_eval(t, NULL, sas[i], &rule);
		ASSERT(rule == GEO_EVAL_DEFAULT || rule == GEO_EVAL_UNKNOWN ||
		       (rule >= 0 && (size_t)rule < n));
	}
	/* An IPv4-mapped address and its IPv4 address get the same answer. */
	{
		int r4, r6;
		enum geo_verdict v4, v6;

		memset(s6.sin6_addr.s6_addr, 0, 10);
		s6.sin6_addr.s6_addr[10] = s6.sin6_addr.s6_addr[11] = 0xff;
		memcpy(s6.sin6_addr.s6_addr + 12, &s4.sin_addr, 4);
		v4 = geo_rules_eval(t, &loc, (const struct sockaddr *)&s4, &r4);
		v6 = geo_rules_eval(t, &loc, (const struct sockaddr *)&s6, &r6);
		ASSERT(v4 == v6 && r4 == r6);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct geo_rule rules[FUZZ_RULES];
	const char *p = (const char *)data, *end = p + size;
	struct geo_pool_map *m = geo_pool_map_new();
	struct geo_access_conf c;
	struct geo_rules *t = NULL;
	struct geo_loc loc;
	char err[160];
	size_t n = 0;
	int pool = 0, out[3];

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl != NULL ? nl : end) - p);
		char *line = malloc(len + 1);

		if (line == NULL)
			break;
		memcpy(line, p, len);
		line[len] = '\0';
		fuzz_line(line, rules, &n, m, pool++);
		free(line);
		p = nl != NULL ? nl + 1 : end;
	}
	geo_access_conf_defaults(&c);
	c.mode = size > 0 && data[0] & 1 ? GEO_ACCESS_ALLOW : GEO_ACCESS_DENY;
	err[0] = '\0';
	if (geo_rules_compile(&c, rules, n, &t, err, sizeof err) == 0) {
		ASSERT(geo_rules_count(t) == n);
		fuzz_eval(t, n, data, size);
		geo_rules_free(&t);
	} else {
		/* Only a repeated rule or an empty allow list is refused here. */
		check_err(err, sizeof err);
		ASSERT(
		    strstr(err, "repeats rule") != NULL || (n == 0 && c.mode == GEO_ACCESS_ALLOW));
	}
	memset(&loc, 0, sizeof loc);
	loc.found = GEO_FOUND_COUNTRY | GEO_FOUND_CONTINENT;
	memcpy(loc.country, "DE", 3);
	memcpy(loc.continent, "EU", 3);
	ASSERT(geo_pools_candidates(m, &loc, out) <= 3);
	ASSERT(geo_pools_pick(m, &loc) >= GEO_POOL_NONE);
	geo_pool_map_free(&m);
	return 0;
}
