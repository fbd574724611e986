/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_route.c — route selection and the route's request/response
 * transformations (see edge_route.h).
 *
 * Model: everything a route needs was compiled at config load (regexes with
 * JIT, header rule lines, templates validated); per request these functions
 * only read the snapshot and write into buffers the caller owns.  The only
 * mutable state is the PCRE2 match data, one per worker thread.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <event2/buffer.h>
#include <pcre2.h>

#include "cache/cache.h"
#include "config/config.h"
#include "core/xmalloc.h"
#include "edge/edge_route.h"
#include "origin/origin_balance.h"

struct edge_route_md {
	pcre2_match_data *md;
	pcre2_match_context *mc;
	char path[CACHE_KEY_MAX]; /* the normalized path of the current request */
};

struct edge_route_md *
edge_route_md_new(void)
{
	struct edge_route_md *m = xcalloc(1, sizeof *m);

	m->md = pcre2_match_data_create(EDGE_ROUTE_GROUPS, NULL);
	m->mc = pcre2_match_context_create(NULL);
	if (m->md == NULL || m->mc == NULL)
		abort(); /* as xmalloc: a few hundred bytes at worker start */
	pcre2_set_match_limit(m->mc, EDGE_ROUTE_MATCH_LIMIT);
	pcre2_set_depth_limit(m->mc, EDGE_ROUTE_MATCH_LIMIT);
	return m;
}

void
edge_route_md_free(struct edge_route_md **mdp)
{
	struct edge_route_md *m = *mdp;

	if (m == NULL)
		return;
	*mdp = NULL;
	pcre2_match_data_free(m->md);
	pcre2_match_context_free(m->mc);
	free(m);
}

/* Matches re against s; true with caps filled (when caps is not NULL). */
static bool
route_regex(const struct pcre2_real_code_8 *re, struct str s, struct edge_route_md *m,
    struct edge_route_caps *caps)
{
	const PCRE2_SIZE *ov;
	int rc;

	rc = pcre2_match(
	    (const pcre2_code *)re, (PCRE2_SPTR)(s.len > 0 ? s.p : ""), s.len, 0, 0, m->md, m->mc);
	if (rc < 0) /* no match, or a limit reached (PCRE2_ERROR_MATCHLIMIT, ...) */
		return false;
	if (caps == NULL)
		return true;
	/* rc == 0: more groups than the ovector holds; the first ones are set */
	ov = pcre2_get_ovector_pointer(m->md);
	caps->subject = s.p;
	for (unsigned i = 0; i < EDGE_ROUTE_GROUPS; i++) {
		bool set = (rc == 0 || i < (unsigned)rc) && ov[2 * i] != PCRE2_UNSET;

		caps->start[i] = set ? ov[2 * i] : SIZE_MAX;
		caps->end[i] = set ? ov[2 * i + 1] : SIZE_MAX;
	}
	return true;
}

static void
route_caps_clear(struct edge_route_caps *caps)
{
	caps->subject = NULL;
	for (unsigned i = 0; i < EDGE_ROUTE_GROUPS; i++)
		caps->start[i] = caps->end[i] = SIZE_MAX;
}

int
edge_route_path(struct edge_route_md *md, struct str path, struct str *out)
{
	int n = cache_key_normalize_path(path, md->path, sizeof md->path);

	if (n < 0)
		return -1;
	*out = str_make(md->path, (size_t)n);
	return 0;
}

const struct config_route *
edge_route_select(const struct config_site *s, struct str path, struct edge_route_md *md,
    struct edge_route_caps *caps)
{
	route_caps_clear(caps);
	/* Routes are sorted: exact, regex (config order), prefix (longest first). */
	for (size_t i = 0; i < s->n_routes; i++) {
		const struct config_route *r = &s->routes[i];

		switch (r->match) {
		case CONFIG_MATCH_EXACT:
			if (r->path_len == path.len && memcmp(r->path, path.p, path.len) == 0)
				return r;
			break;
		case CONFIG_MATCH_REGEX:
			if (route_regex(r->re, path, md, caps))
				return r;
			break;
		case CONFIG_MATCH_PREFIX:
			if (r->path_len <= path.len && memcmp(r->path, path.p, r->path_len) == 0)
				return r;
			break;
		}
	}
	return NULL;
}

bool
edge_route_method_ok(const struct config_route *r, struct str method)
{
	if (r->n_methods == 0)
		return true;
	for (size_t i = 0; i < r->n_methods; i++)
		if (str_eq(method, str_cstr(r->methods[i])))
			return true;
	return false;
}

struct route_out {
	char *p;
	size_t len, cap; /* cap excludes the NUL */
	bool overflow;
};

static void
route_put(struct route_out *o, const char *s, size_t n)
{
	if (n == 0) /* s may be NULL (an empty variable) */
		return;
	if (n > o->cap - o->len) {
		o->overflow = true;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

int
edge_route_expand(const char *t, const struct edge_route_vars *v, char *out, size_t outlen)
{
	struct route_out o = {out, 0, outlen > 0 ? outlen - 1 : 0, outlen == 0};

	while (*t != '\0' && !o.overflow) {
		const char *d = strchr(t, '$');
		size_t len = 0;
		unsigned g = 0;
		struct str s = STR_NULL;

		if (d == NULL) {
			route_put(&o, t, strlen(t));
			break;
		}
		route_put(&o, t, (size_t)(d - t));
		switch (config_template_var(d + 1, &len, &g)) {
		case CONFIG_TVAR_DOLLAR:
			s = STR_LIT("$");
			break;
		case CONFIG_TVAR_SCHEME:
			s = v->scheme;
			break;
		case CONFIG_TVAR_HOST:
			s = v->host;
			break;
		case CONFIG_TVAR_PATH:
			s = v->path;
			break;
		case CONFIG_TVAR_QUERY:
			s = v->query;
			break;
		case CONFIG_TVAR_REQUEST_URI:
			s = v->request_uri;
			break;
		case CONFIG_TVAR_GROUP:
			if (v->caps != NULL && v->caps->start[g] != SIZE_MAX)
				s = str_make(v->caps->subject + v->caps->start[g],
				    v->caps->end[g] - v->caps->start[g]);
			break;
		default: /* the loader rejects these; keep the text */
			s = STR_LIT("$");
			len = 0;
			break;
		}
		route_put(&o, s.p, s.len);
		t = d + 1 + len;
	}
	if (o.overflow)
		return -1;
	out[o.len] = '\0';
	return (int)o.len;
}

int
edge_route_rewrite(const struct config_route *r, struct str path, struct str query,
    struct edge_route_md *md, char *out, size_t outlen)
{
	struct route_out o = {out, 0, outlen > 0 ? outlen - 1 : 0, outlen == 0};
	struct edge_route_caps caps;
	struct edge_route_vars v = {.caps = &caps};
	int n;

	switch (r->rewrite) {
	case CONFIG_REWRITE_PREFIX:
		if (path.len < r->rewrite_from_len ||
		    memcmp(path.p, r->rewrite_from, r->rewrite_from_len) != 0)
			return 0;
		route_put(&o, r->rewrite_to, strlen(r->rewrite_to));
		route_put(&o, path.p + r->rewrite_from_len, path.len - r->rewrite_from_len);
		break;
	case CONFIG_REWRITE_REGEX:
		if (!route_regex(r->rewrite_re, path, md, &caps))
			return 0;
		v.path = path;
		n = edge_route_expand(r->rewrite_to, &v, out, outlen);
		if (n < 0)
			return -1;
		o.len = (size_t)n;
		break;
	case CONFIG_REWRITE_NONE:
		return 0;
	}
	route_put(&o, query.p, query.len);
	if (o.overflow || o.len == 0)
		return -1;
	out[o.len] = '\0';
	return (int)o.len;
}

/* The value of cookie name in the request's Cookie fields, or STR_NULL. */
static struct str
route_cookie(const struct h1_header *hdrs, size_t n, const char *name, size_t name_len)
{
	for (size_t i = 0; i < n; i++) {
		struct str v = hdrs[i].value;
		size_t pos = 0;

		if (!str_eq_nocase(hdrs[i].name, STR_LIT("Cookie")))
			continue;
		/* RFC 6265 §4.2.1: cookie-pair *( ";" SP cookie-pair ) */
		while (pos < v.len) {
			const char *semi = memchr(v.p + pos, ';', v.len - pos);
			size_t end = semi ? (size_t)(semi - v.p) : v.len;
			struct str pair = str_trim_ows(str_make(v.p + pos, end - pos));

			if (pair.len > name_len && pair.p[name_len] == '=' &&
			    memcmp(pair.p, name, name_len) == 0)
				return str_make(pair.p + name_len + 1, pair.len - name_len - 1);
			pos = end + 1;
		}
	}
	return STR_NULL;
}

bool
edge_route_canary(
    const struct config_route *r, struct str peer, const struct h1_header *hdrs, size_t n_hdrs)
{
	struct str key = peer;
	uint64_t h;

	if (r->canary_pool == NULL || r->canary_weight == 0)
		return false;
	if (r->canary_sticky == CONFIG_STICKY_COOKIE) {
		struct str v = route_cookie(hdrs, n_hdrs, r->canary_cookie, r->canary_cookie_len);

		if (v.len > 0)
			key = v;
	}
	/* Salted with the canary pool's name, so two routes' splits are independent
	 * and a client's bucket does not line up with the balancer's ip_hash. */
	h = origin_balance_hash(key.p, key.len) ^
	    origin_balance_hash(r->canary_pool->name, strlen(r->canary_pool->name));
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h % 10000 < r->canary_weight;
}

bool
edge_route_hdr_drops(const struct config_hdr_rules *rules, struct str name)
{
	for (size_t i = 0; i < rules->n; i++) {
		const struct config_hdr_rule *rule = &rules->rules[i];

		if (rule->op != CONFIG_HDR_ADD &&
		    str_eq_nocase(name, str_make(rule->name, rule->name_len)))
			return true;
	}
	return false;
}

void
edge_route_hdr_append(const struct config_hdr_rules *rules, struct evbuffer *out)
{
	for (size_t i = 0; i < rules->n; i++)
		if (rules->rules[i].line != NULL)
			evbuffer_add(out, rules->rules[i].line, rules->rules[i].line_len);
}

int
edge_route_key(const struct config_route *r, const struct config_pool *pool, struct str scheme,
    struct str host, uint16_t port, struct str path_query, char *out, size_t outlen)
{
	static const enum cache_key_query modes[] = {
	    [CONFIG_QUERY_KEEP] = CACHE_KEY_QUERY_KEEP,
	    [CONFIG_QUERY_SORT] = CACHE_KEY_QUERY_SORT,
	    [CONFIG_QUERY_DROP] = CACHE_KEY_QUERY_DROP,
	    [CONFIG_QUERY_ALLOW] = CACHE_KEY_QUERY_ALLOW,
	};
	int n = cache_key_normalize_query(scheme, host, port, path_query, modes[r->query],
	    (const char *const *)r->query_allow, r->n_query_allow, out, outlen);
	int m;

	if (n < 0 || pool != r->canary_pool || pool == r->pool)
		return n; /* a geo pool's objects share the route's entries */
	m = snprintf(out + n, outlen - (size_t)n, "#canary=%s", pool->name);
	return m > 0 && (size_t)m < outlen - (size_t)n ? n + m : -1;
}

int
edge_route_key_fields(const struct config_route *r, const struct h1_header *hdrs, size_t n_hdrs,
    char *out, size_t len, size_t outlen)
{
	for (unsigned i = 0; i < CONFIG_N_OVERRIDE; i++) {
		const char *name = config_override_name(i);
		size_t nl = strlen(name), vlen = 0, k;
		bool present = false;

		if (r->override[i] != CONFIG_OVERRIDE_KEY)
			continue;
		/* the field lines combined as one list (RFC 9110 §5.3) */
		for (k = 0; k < n_hdrs; k++) {
			if (config_override_index(hdrs[k].name.p, hdrs[k].name.len) != (int)i)
				continue;
			vlen += (present ? 1 : 0) + hdrs[k].value.len;
			present = true;
		}
		/* "#name" when absent, "#name=LEN:value" when present: the length
		 * keeps a value from passing for another field */
		if (outlen - len < nl + 2 + 24 + vlen)
			return -1;
		out[len++] = '#';
		for (k = 0; k < nl; k++)
			out[len++] = (char)str_lower((unsigned char)name[k]);
		if (!present)
			continue;
		len += (size_t)snprintf(out + len, outlen - len, "=%zu:", vlen);
		present = false;
		for (k = 0; k < n_hdrs; k++) {
			if (config_override_index(hdrs[k].name.p, hdrs[k].name.len) != (int)i)
				continue;
			if (present)
				out[len++] = ',';
			memcpy(out + len, hdrs[k].value.p, hdrs[k].value.len);
			len += hdrs[k].value.len;
			present = true;
		}
	}
	if (len >= outlen)
		return -1;
	out[len] = '\0';
	return (int)len;
}
