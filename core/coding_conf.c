/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * core/coding_conf.c — the compression settings (struct coding_conf), their
 * validators for config/, and the pure policy helpers: which responses are
 * compressed, the ETag of a coded variant, the Vary field that goes with it.
 *
 * No allocation, no global state; any thread.  Validators write one sentence
 * naming the bad part into the caller's buffer; config/ prefixes it with
 * file:line:column and the key.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>

#include "core/coding.h"

static const char *const coding_skip_names[] = {"compress",
#define CODING_SKIP_NAME(e, s) s,
    CODING_SKIP_LIST(CODING_SKIP_NAME)
#undef CODING_SKIP_NAME
};

const char *
coding_decision_name(enum coding_decision d)
{
	return (unsigned)d < sizeof coding_skip_names / sizeof coding_skip_names[0]
	           ? coding_skip_names[d]
	           : "?";
}

static const char *const coding_default_types[] = {
    "text/*",
    "application/json",
    "application/javascript",
    "application/xml",
    "application/wasm",
    "image/svg+xml",
    "+json",
    "+xml",
};

void
coding_conf_defaults(struct coding_conf *c)
{
	memset(c, 0, sizeof *c);
	c->enabled = true;
	c->pref.n = 3;
	c->pref.order[0] = CODING_ZSTD;
	c->pref.order[1] = CODING_BR;
	c->pref.order[2] = CODING_GZIP;
	for (unsigned i = 0; i < CODING_N; i++)
		c->level[i] = coding_level_default((enum coding)i);
	c->min_size = 1024;
	c->n_types = sizeof coding_default_types / sizeof coding_default_types[0];
	for (size_t i = 0; i < c->n_types; i++)
		c->types[i] = str_cstr(coding_default_types[i]);
	coding_dec_limits_defaults(&c->limits);
}

static int
conf_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errlen > 0) {
		va_start(ap, fmt);
		(void)vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -CODING_E_INVALID;
}

/* "%.*s" arguments for a view, cut to 40 bytes so a message stays a line. */
#define CONF_SHOW(s) (int)((s).len > 40 ? 40 : (s).len), (s).p

static const char coding_pref_names[] = "zstd, br, gzip or deflate";

int
coding_conf_parse_pref(const char *s, struct coding_pref *out, char *err, size_t errlen)
{
	struct str v = str_cstr(s), m;
	size_t pos = 0, start = 0;
	struct coding_pref p = {0};

	/* str_list_next drops empty elements; a list with them is a typo. */
	for (size_t i = 0; i <= v.len; i++) {
		if (i < v.len && v.p[i] != ',')
			continue;
		if (str_trim_ows(str_make(v.p + start, i - start)).len == 0)
			return conf_err(err, errlen,
			    v.len == 0 || str_trim_ows(v).len == 0
			        ? "empty coding list (expected codings such as \"zstd, br, gzip\")"
			        : "empty element in the coding list \"%.*s\"",
			    CONF_SHOW(v));
		start = i + 1;
	}
	while (str_list_next(v, &pos, &m)) {
		int c = coding_from_name(m);

		if (c < 0 || !str_eq(m, str_cstr(coding_name((enum coding)c))))
			return conf_err(err, errlen, "unknown coding \"%.*s\" (expected %s)",
			    CONF_SHOW(m), coding_pref_names);
		if (c == CODING_IDENTITY)
			return conf_err(err, errlen,
			    "\"identity\" cannot be listed: it is always the fallback");
		for (unsigned i = 0; i < p.n; i++)
			if (p.order[i] == c)
				return conf_err(err, errlen, "coding \"%s\" listed twice",
				    coding_name((enum coding)c));
		p.order[p.n++] = (uint8_t)c;
	}
	*out = p;
	return 0;
}

int
coding_conf_parse_level(enum coding c, const char *s, int *out, char *err, size_t errlen)
{
	struct str v = str_trim_ows(str_cstr(s));
	bool neg = v.len > 0 && v.p[0] == '-';
	uint64_t u;
	int lo, hi;

	coding_level_range(c, &lo, &hi);
	if (c == CODING_IDENTITY || (unsigned)c >= CODING_N)
		return conf_err(err, errlen, "no level for coding \"%s\"", coding_name(c));
	if (str_to_u64(neg ? str_make(v.p + 1, v.len - 1) : v, &u) != 0)
		return conf_err(err, errlen, "%s level \"%.*s\" is not a whole number",
		    coding_name(c), CONF_SHOW(v));
	if (neg || u < (uint64_t)lo || u > (uint64_t)hi)
		return conf_err(err, errlen, "%s level %.*s out of range %d..%d", coding_name(c),
		    CONF_SHOW(v), lo, hi);
	*out = (int)u;
	return 0;
}

int
coding_conf_parse_type(const char *s, struct str *out, char *err, size_t errlen)
{
	struct str v = str_trim_ows(str_cstr(s));
	const char *slash = memchr(v.p, '/', v.len);

	if (v.len == 0)
		return conf_err(err, errlen, "empty media type");
	for (size_t i = 0; i < v.len; i++) {
		unsigned char ch = (unsigned char)v.p[i];

		if (ch >= 'A' && ch <= 'Z')
			return conf_err(
			    err, errlen, "media type \"%.*s\" must be lower-case", CONF_SHOW(v));
		if (!str_is_tchar(ch) && ch != '/')
			return conf_err(err, errlen,
			    "media type \"%.*s\" has a character that is not allowed at byte %zu",
			    CONF_SHOW(v), i + 1);
	}
	if (v.p[0] == '+') {
		if (slash != NULL || v.len == 1)
			return conf_err(err, errlen,
			    "suffix \"%.*s\" must be \"+\" and a token, as \"+json\"",
			    CONF_SHOW(v));
	} else if (slash == NULL || slash == v.p || slash == v.p + v.len - 1 ||
	           memchr(slash + 1, '/', v.len - (size_t)(slash + 1 - v.p)) != NULL) {
		return conf_err(err, errlen,
		    "media type \"%.*s\" must be type/subtype, type/* or +suffix", CONF_SHOW(v));
	} else if (v.p[0] == '*') {
		return conf_err(
		    err, errlen, "media type \"%.*s\": the type cannot be *", CONF_SHOW(v));
	} else {
		struct str sub = str_make(slash + 1, v.len - (size_t)(slash + 1 - v.p));

		if (memchr(sub.p, '*', sub.len) != NULL && !str_eq(sub, STR_LIT("*")))
			return conf_err(err, errlen,
			    "media type \"%.*s\": * stands only for a whole subtype", CONF_SHOW(v));
	}
	*out = v;
	return 0;
}

int
coding_conf_check(const struct coding_conf *c, char *err, size_t errlen)
{
	bool seen[CODING_N] = {false};

	if (c->pref.n == 0 || c->pref.n >= CODING_N)
		return conf_err(
		    err, errlen, "the coding list must name 1 to %d codings", CODING_N - 1);
	for (unsigned i = 0; i < c->pref.n; i++) {
		unsigned k = c->pref.order[i];

		if (k == CODING_IDENTITY || k >= CODING_N || seen[k])
			return conf_err(
			    err, errlen, "coding list entry %u is invalid or repeated", i + 1);
		seen[k] = true;
	}
	for (unsigned i = 1; i < CODING_N; i++) {
		int lo, hi;

		coding_level_range((enum coding)i, &lo, &hi);
		if (c->level[i] < lo || c->level[i] > hi)
			return conf_err(err, errlen, "%s level %d out of range %d..%d",
			    coding_name((enum coding)i), c->level[i], lo, hi);
	}
	if (c->n_types > CODING_TYPES_MAX)
		return conf_err(err, errlen, "more than %d compressible types", CODING_TYPES_MAX);
	for (size_t i = 0; i < c->n_types; i++) {
		char buf[256];
		struct str t;

		if (c->types[i].len >= sizeof buf)
			return conf_err(err, errlen, "media type %zu is longer than %zu bytes",
			    i + 1, sizeof buf - 1);
		memcpy(buf, c->types[i].p, c->types[i].len);
		buf[c->types[i].len] = '\0';
		if (coding_conf_parse_type(buf, &t, err, errlen) != 0)
			return -CODING_E_INVALID;
	}
	if (c->limits.max_ratio != 0 && c->limits.max_ratio < 2)
		return conf_err(err, errlen, "decoded expansion ratio limit %u is below 2",
		    c->limits.max_ratio);
	if (c->limits.max_out != 0 && c->limits.max_out < CODING_OUT_CHUNK)
		return conf_err(err, errlen, "decoded size limit %llu is below %d bytes",
		    (unsigned long long)c->limits.max_out, CODING_OUT_CHUNK);
	return 0;
}

/* The media type of a Content-Type value (parameters and OWS dropped). */
static struct str
coding_media_type(struct str ct)
{
	const char *semi = ct.p != NULL ? memchr(ct.p, ';', ct.len) : NULL;

	if (semi != NULL)
		ct.len = (size_t)(semi - ct.p);
	return str_trim_ows(ct);
}

static bool
coding_has_suffix_nocase(struct str s, struct str suffix)
{
	return s.len >= suffix.len &&
	       str_eq_nocase(str_make(s.p + s.len - suffix.len, suffix.len), suffix);
}

bool
coding_type_compressible(const struct coding_conf *c, struct str content_type)
{
	struct str mt = coding_media_type(content_type);
	const char *slash = mt.len > 0 ? memchr(mt.p, '/', mt.len) : NULL;
	struct str type, sub;

	if (slash == NULL || slash == mt.p || slash == mt.p + mt.len - 1)
		return false;
	type = str_make(mt.p, (size_t)(slash - mt.p));
	sub = str_make(slash + 1, mt.len - type.len - 1);
	for (size_t i = 0; i < c->n_types; i++) {
		struct str t = c->types[i];

		if (t.len > 0 && t.p[0] == '+') {
			if (sub.len > t.len && coding_has_suffix_nocase(sub, t))
				return true;
		} else if (t.len == type.len + 2 && t.p[t.len - 1] == '*') {
			if (str_eq_nocase(type, str_make(t.p, type.len)) && t.p[type.len] == '/')
				return true;
		} else if (str_eq_nocase(mt, t)) {
			return true;
		}
	}
	return false;
}

/* Does a Cache-Control value carry no-transform? (a directive, not a
 * substring of another one or of a quoted argument's text before a comma) */
static bool
coding_no_transform(struct str cc)
{
	size_t pos = 0;
	struct str m;

	if (cc.p == NULL)
		return false;
	while (str_list_next(cc, &pos, &m)) {
		const char *eq = memchr(m.p, '=', m.len);
		struct str name = str_trim_ows(eq != NULL ? str_make(m.p, (size_t)(eq - m.p)) : m);

		if (str_eq_nocase(name, STR_LIT("no-transform")))
			return true;
	}
	return false;
}

enum coding_decision
coding_should_compress(const struct coding_conf *c, const struct coding_resp *r)
{
	struct str ce = str_trim_ows(r->content_encoding);

	if (!c->enabled)
		return CODING_SKIP_DISABLED;
	if (r->head || r->status == 204 || r->status == 304)
		return CODING_SKIP_NO_BODY;
	if (r->status != 200 && r->status != 203 && r->status != 404 && r->status != 410)
		return CODING_SKIP_STATUS;
	if (r->range)
		return CODING_SKIP_RANGE;
	if (r->content_encoding.p != NULL && ce.len > 0 && !str_eq_nocase(ce, STR_LIT("identity")))
		return CODING_SKIP_ENCODED;
	if (coding_no_transform(r->cache_control))
		return CODING_SKIP_NO_TRANSFORM;
	if (r->content_length >= 0 && (uint64_t)r->content_length < c->min_size)
		return CODING_SKIP_TOO_SMALL;
	if (!coding_type_compressible(c, r->content_type))
		return CODING_SKIP_TYPE;
	return CODING_COMPRESS;
}

/* RFC 9110 §8.8.3: entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE,
 * etagc = %x21 / %x23-7E / obs-text. */
static bool
coding_opaque_tag(struct str t)
{
	if (t.len < 2 || t.p[0] != '"' || t.p[t.len - 1] != '"')
		return false;
	for (size_t i = 1; i + 1 < t.len; i++) {
		unsigned char ch = (unsigned char)t.p[i];

		if (ch < 0x21 || ch == '"' || ch == 0x7f)
			return false;
	}
	return true;
}

int
coding_etag_weaken(struct str etag, char *out, size_t outlen, struct str *res)
{
	struct str t = str_trim_ows(etag);
	bool weak = t.len >= 2 && t.p[0] == 'W' && t.p[1] == '/';
	size_t need = weak ? t.len : t.len + 2;

	if (t.p == NULL || !coding_opaque_tag(weak ? str_make(t.p + 2, t.len - 2) : t))
		return -CODING_E_INVALID;
	if (need > outlen)
		return -CODING_E_SPACE;
	if (weak) {
		memcpy(out, t.p, t.len);
	} else {
		out[0] = 'W';
		out[1] = '/';
		memcpy(out + 2, t.p, t.len);
	}
	*res = str_make(out, need);
	return 0;
}

int
coding_vary_merge(struct str vary, char *out, size_t outlen, struct str *res)
{
	static const struct str ae = STR_LIT("Accept-Encoding");
	struct str v = vary.p != NULL ? str_trim_ows(vary) : STR_NULL, m;
	bool keep = false;
	size_t pos = 0, need;

	while (str_list_next(v, &pos, &m))
		if (str_eq(m, STR_LIT("*")) || str_eq_nocase(m, ae))
			keep = true;
	if (keep) {
		need = v.len;
	} else {
		pos = 0;
		if (!str_list_next(v, &pos, &m))
			v.len = 0; /* empty, or only commas */
		need = v.len > 0 ? v.len + 2 + ae.len : ae.len;
	}
	if (need > outlen)
		return -CODING_E_SPACE;
	if (keep) {
		memcpy(out, v.p, v.len);
	} else if (v.len > 0) {
		memcpy(out, v.p, v.len);
		memcpy(out + v.len, ", ", 2);
		memcpy(out + v.len + 2, ae.p, ae.len);
	} else {
		memcpy(out, ae.p, ae.len);
	}
	*res = str_make(out, need);
	return 0;
}
