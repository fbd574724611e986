/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * core/cc.c — Cache-Control field parsing (RFC 9111 §5.2, RFC 9110 §5.6).
 *
 * Model: a pure function over a view; no allocation, no state beyond the
 * struct cc the caller owns, so any thread may call it.  Every read is bounded
 * by value.len (the input comes from the network and is fuzzed by
 * tests/fuzz/fuzz_cc.c).
 *
 * Grammar (RFC 9111 §5.2, RFC 9110 §5.6.1 lists, §5.6.2 tokens, §5.6.4
 * quoted-strings):
 *
 *   Cache-Control   = #cache-directive
 *   cache-directive = token [ BWS "=" BWS ( token / quoted-string ) ]
 *
 * No whitespace is allowed around "=" (§5.2 has no BWS there): "max-age =5"
 * is a malformed element.  Empty list elements are skipped (§5.6.1).
 * Recipients accept both token and quoted-string forms of every argument
 * (§5.2).  A directive given more than once keeps its first occurrence
 * (§4.2.1).
 *
 * Malformed elements: an unknown directive is ignored (§5.2.3); a known one
 * whose syntax is broken (stray bytes after the name or the argument, an
 * unterminated quoted-string) still sets the restrictive flags (no-store,
 * no-cache, private, must-revalidate, proxy-revalidate, no-transform,
 * must-understand) and makes max-age / s-maxage 0 (§4.2.1: invalid means
 * stale), while permissive directives (public, immutable, max-stale, ...) are
 * dropped.
 */
#include "config.h"

#include "core/cc.h"

/* RFC 9111 §1.2.2: anything larger is taken as 2^31. */
#define CC_DELTA_MAX 2147483648LL

void
cc_init(struct cc *cc)
{
	cc->flags = 0;
	cc->max_age = CC_UNSET;
	cc->s_maxage = CC_UNSET;
	cc->max_stale = CC_UNSET;
	cc->min_fresh = CC_UNSET;
	cc->stale_while_revalidate = CC_UNSET;
	cc->stale_if_error = CC_UNSET;
}

/* One parsed list element. */
struct cc_elem {
	struct str name;
	bool has_arg;
	bool quoted; /* arg is the inside of a quoted-string (escapes still in it) */
	bool valid;  /* the whole element matched the grammar */
	struct str arg;
};

/* RFC 9110 §5.6.4 qdtext (without DQUOTE and backslash). */
static bool
cc_is_qdtext(unsigned char c)
{
	return c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) ||
	       (c >= 0x5d && c <= 0x7e) || c >= 0x80;
}

/* quoted-pair second byte: HTAB / SP / VCHAR / obs-text. */
static bool
cc_is_qpair(unsigned char c)
{
	return c == '\t' || c == ' ' || (c >= 0x21 && c <= 0x7e) || c >= 0x80;
}

static void
cc_split(struct str e, struct cc_elem *out)
{
	size_t i = 0;

	out->has_arg = false;
	out->quoted = false;
	out->valid = false;
	out->arg = STR_NULL;
	while (i < e.len && str_is_tchar((unsigned char)e.p[i]))
		i++;
	out->name = str_make(e.p, i);
	if (i == 0)
		return;
	if (i == e.len) {
		out->valid = true;
		return;
	}
	if (e.p[i] != '=')
		return;
	i++;
	out->has_arg = true;
	if (i < e.len && e.p[i] == '"') {
		size_t start = ++i;

		out->quoted = true;
		for (;;) {
			if (i >= e.len)
				return; /* unterminated */
			unsigned char c = (unsigned char)e.p[i];
			if (c == '"')
				break;
			if (c == '\\') {
				if (i + 1 >= e.len || !cc_is_qpair((unsigned char)e.p[i + 1]))
					return;
				i += 2;
				continue;
			}
			if (!cc_is_qdtext(c))
				return;
			i++;
		}
		out->arg = str_make(e.p + start, i - start);
		i++; /* closing quote */
	} else {
		size_t start = i;

		while (i < e.len && str_is_tchar((unsigned char)e.p[i]))
			i++;
		out->arg = str_make(e.p + start, i - start);
		if (i == start)
			return; /* "name=" with nothing usable */
	}
	/* str_list_next trimmed trailing OWS, so anything left is junk. */
	out->valid = i == e.len;
}

/*
 * delta-seconds = 1*DIGIT (RFC 9111 §1.2.2), read from a token or the inside
 * of a quoted-string (quoted-pairs unescaped).  0 and the value (clamped to
 * 2^31) on success, -1 if it is not all digits or empty.
 */
static int
cc_delta(const struct cc_elem *el, int64_t *out)
{
	int64_t v = 0;
	size_t n = 0;

	if (!el->has_arg)
		return -1;
	for (size_t i = 0; i < el->arg.len; i++) {
		char c = el->arg.p[i];

		if (el->quoted && c == '\\' && i + 1 < el->arg.len)
			c = el->arg.p[++i];
		if (c < '0' || c > '9')
			return -1;
		if (v <= CC_DELTA_MAX)
			v = v * 10 + (c - '0');
		n++;
	}
	if (n == 0)
		return -1;
	*out = v > CC_DELTA_MAX ? CC_DELTA_MAX : v;
	return 0;
}

/* §4.2.1: a directive given more than once keeps its first occurrence. */
static void
cc_set_first(int64_t *slot, int64_t v)
{
	if (*slot == CC_UNSET)
		*slot = v;
}

enum cc_kind {
	CC_K_FLAG = 0,        /* plain flag; restrictive ones kept even when malformed */
	CC_K_FLAG_PERMISSIVE, /* plain flag; dropped when malformed */
	CC_K_FIELDS,          /* flag, or *_FIELDS flag when it has an argument */
	CC_K_MAX_AGE,
	CC_K_S_MAXAGE,
	CC_K_MAX_STALE,
	CC_K_MIN_FRESH,
	CC_K_SWR,
	CC_K_SIE,
};

struct cc_directive {
	struct str name;
	enum cc_kind kind;
	unsigned flag;
	unsigned fields_flag;
};

static const struct cc_directive cc_directives[] = {
    {STR_LIT("no-store"), CC_K_FLAG, CC_NO_STORE, 0},
    {STR_LIT("no-cache"), CC_K_FIELDS, CC_NO_CACHE, CC_NO_CACHE_FIELDS},
    {STR_LIT("private"), CC_K_FIELDS, CC_PRIVATE, CC_PRIVATE_FIELDS},
    {STR_LIT("public"), CC_K_FLAG_PERMISSIVE, CC_PUBLIC, 0},
    {STR_LIT("must-revalidate"), CC_K_FLAG, CC_MUST_REVALIDATE, 0},
    {STR_LIT("proxy-revalidate"), CC_K_FLAG, CC_PROXY_REVALIDATE, 0},
    {STR_LIT("no-transform"), CC_K_FLAG, CC_NO_TRANSFORM, 0},
    {STR_LIT("only-if-cached"), CC_K_FLAG_PERMISSIVE, CC_ONLY_IF_CACHED, 0},
    {STR_LIT("must-understand"), CC_K_FLAG, CC_MUST_UNDERSTAND, 0},
    {STR_LIT("immutable"), CC_K_FLAG_PERMISSIVE, CC_IMMUTABLE, 0},
    {STR_LIT("max-age"), CC_K_MAX_AGE, 0, 0},
    {STR_LIT("s-maxage"), CC_K_S_MAXAGE, 0, 0},
    {STR_LIT("max-stale"), CC_K_MAX_STALE, 0, 0},
    {STR_LIT("min-fresh"), CC_K_MIN_FRESH, 0, 0},
    {STR_LIT("stale-while-revalidate"), CC_K_SWR, 0, 0},
    {STR_LIT("stale-if-error"), CC_K_SIE, 0, 0},
};

static const struct cc_directive *
cc_lookup(struct str name)
{
	for (size_t i = 0; i < sizeof cc_directives / sizeof cc_directives[0]; i++)
		if (str_eq_nocase(name, cc_directives[i].name))
			return &cc_directives[i];
	return NULL;
}

static void
cc_apply(const struct cc_elem *el, struct cc *cc)
{
	const struct cc_directive *d = cc_lookup(el->name);
	int64_t v;

	if (d == NULL)
		return; /* §5.2.3: unknown directives are ignored */

	switch (d->kind) {
	case CC_K_FLAG:
		cc->flags |= d->flag;
		break;
	case CC_K_FLAG_PERMISSIVE:
		if (el->valid)
			cc->flags |= d->flag;
		break;
	case CC_K_FIELDS:
		/* §5.2.2.4 / §5.2.2.7: with field names the directive only
		 * concerns those fields; malformed counts as the plain form. */
		if (el->valid && el->has_arg)
			cc->flags |= d->fields_flag;
		else
			cc->flags |= d->flag;
		break;
	case CC_K_MAX_AGE:
	case CC_K_S_MAXAGE:
		/* §4.2.1: an invalid value means stale. */
		if (!el->valid || cc_delta(el, &v) != 0)
			v = 0;
		cc_set_first(d->kind == CC_K_MAX_AGE ? &cc->max_age : &cc->s_maxage, v);
		break;
	case CC_K_MAX_STALE:
		if (!el->valid)
			break;
		if (!el->has_arg)
			cc->flags |= CC_MAX_STALE_ANY;
		else if (cc_delta(el, &v) == 0)
			cc_set_first(&cc->max_stale, v);
		break;
	case CC_K_MIN_FRESH:
		if (el->valid && cc_delta(el, &v) == 0)
			cc_set_first(&cc->min_fresh, v);
		break;
	case CC_K_SWR:
		if (el->valid && cc_delta(el, &v) == 0)
			cc_set_first(&cc->stale_while_revalidate, v);
		break;
	case CC_K_SIE:
		if (el->valid && cc_delta(el, &v) == 0)
			cc_set_first(&cc->stale_if_error, v);
		break;
	}
}

void
cc_parse(struct str value, struct cc *cc)
{
	struct str e;
	struct cc_elem el;
	size_t pos = 0;

	if (value.p == NULL)
		return;
	while (str_list_next(value, &pos, &e)) {
		cc_split(e, &el);
		if (el.name.len > 0)
			cc_apply(&el, cc);
	}
}

/* ---- CDN-Cache-Control: a Structured Field Dictionary (RFC 9213, RFC 8941) ---- */

enum cc_sf_type {
	CC_SF_OTHER = 0, /* decimal, token, byte sequence, inner list */
	CC_SF_INTEGER,
	CC_SF_STRING,
	CC_SF_TRUE,
	CC_SF_FALSE,
};

struct cc_sf {
	struct str in;
	size_t i;
};

static bool
cc_sf_lcalpha(char c)
{
	return c >= 'a' && c <= 'z';
}

static bool
cc_sf_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool
cc_sf_at(const struct cc_sf *s, char c)
{
	return s->i < s->in.len && s->in.p[s->i] == c;
}

static void
cc_sf_skip_sp(struct cc_sf *s)
{
	while (cc_sf_at(s, ' '))
		s->i++;
}

/* key = ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" ) */
static int
cc_sf_key(struct cc_sf *s, struct str *key)
{
	size_t start = s->i;

	if (s->i >= s->in.len || !(cc_sf_lcalpha(s->in.p[s->i]) || s->in.p[s->i] == '*'))
		return -1;
	for (s->i++; s->i < s->in.len; s->i++) {
		char c = s->in.p[s->i];

		if (!cc_sf_lcalpha(c) && !cc_sf_digit(c) && c != '_' && c != '-' && c != '.' &&
		    c != '*')
			break;
	}
	*key = str_make(s->in.p + start, s->i - start);
	return 0;
}

/* RFC 8941 §4.2.3.1 bare-item; *v gets an Integer's value. */
static int
cc_sf_bare_item(struct cc_sf *s, enum cc_sf_type *t, int64_t *v)
{
	char c;

	*t = CC_SF_OTHER;
	if (s->i >= s->in.len)
		return -1;
	c = s->in.p[s->i];
	if (c == '-' || cc_sf_digit(c)) {
		size_t n = 0, frac = 0;
		bool neg = c == '-', dot = false;
		int64_t x = 0;

		if (neg)
			s->i++;
		for (; s->i < s->in.len; s->i++) {
			c = s->in.p[s->i];
			if (c == '.' && !dot && n > 0 && n <= 12) {
				dot = true;
				continue;
			}
			if (!cc_sf_digit(c))
				break;
			if (dot)
				frac++;
			else
				x = x * 10 + (c - '0');
			n++;
			if (n > 15)
				return -1;
		}
		if (n == 0 || (dot && (frac == 0 || frac > 3)))
			return -1;
		if (!dot) {
			*t = CC_SF_INTEGER;
			*v = neg ? -x : x;
		}
		return 0;
	}
	if (c == '"') {
		for (s->i++; s->i < s->in.len; s->i++) {
			c = s->in.p[s->i];
			if (c == '\\') {
				if (s->i + 1 >= s->in.len ||
				    (s->in.p[s->i + 1] != '"' && s->in.p[s->i + 1] != '\\'))
					return -1;
				s->i++;
			} else if (c == '"') {
				s->i++;
				*t = CC_SF_STRING;
				return 0;
			} else if (c < 0x20 || c > 0x7e) {
				return -1;
			}
		}
		return -1;
	}
	if (c == '*' || (c >= 'A' && c <= 'Z') || cc_sf_lcalpha(c)) {
		for (s->i++; s->i < s->in.len; s->i++) {
			c = s->in.p[s->i];
			if (!str_is_tchar((unsigned char)c) && c != ':' && c != '/')
				break;
		}
		return 0;
	}
	if (c == ':') {
		for (s->i++; s->i < s->in.len; s->i++) {
			c = s->in.p[s->i];
			if (c == ':') {
				s->i++;
				return 0;
			}
			if (!(c >= 'A' && c <= 'Z') && !cc_sf_lcalpha(c) && !cc_sf_digit(c) &&
			    c != '+' && c != '/' && c != '=')
				return -1;
		}
		return -1;
	}
	if (c == '?' && s->i + 1 < s->in.len &&
	    (s->in.p[s->i + 1] == '0' || s->in.p[s->i + 1] == '1')) {
		*t = s->in.p[s->i + 1] == '1' ? CC_SF_TRUE : CC_SF_FALSE;
		s->i += 2;
		return 0;
	}
	return -1;
}

/* parameters = *( ";" *SP key [ "=" bare-item ] ): checked, then ignored. */
static int
cc_sf_params(struct cc_sf *s)
{
	struct str key;
	enum cc_sf_type t;
	int64_t v;

	while (cc_sf_at(s, ';')) {
		s->i++;
		cc_sf_skip_sp(s);
		if (cc_sf_key(s, &key) != 0)
			return -1;
		if (cc_sf_at(s, '=')) {
			s->i++;
			if (cc_sf_bare_item(s, &t, &v) != 0)
				return -1;
		}
	}
	return 0;
}

/* member-value = sf-item / inner-list */
static int
cc_sf_member_value(struct cc_sf *s, enum cc_sf_type *t, int64_t *v)
{
	if (!cc_sf_at(s, '('))
		return cc_sf_bare_item(s, t, v) == 0 ? cc_sf_params(s) : -1;
	*t = CC_SF_OTHER;
	s->i++;
	for (;;) {
		enum cc_sf_type it;
		int64_t iv;

		cc_sf_skip_sp(s);
		if (cc_sf_at(s, ')')) {
			s->i++;
			return cc_sf_params(s);
		}
		if (cc_sf_bare_item(s, &it, &iv) != 0 || cc_sf_params(s) != 0)
			return -1;
		if (!cc_sf_at(s, ' ') && !cc_sf_at(s, ')'))
			return -1;
	}
}

/* One dictionary member, RFC 9213 §2.1: later members replace earlier ones
 * (RFC 8941 §4.2.2); a value of an unexpected type ignores the directive. */
static void
cc_sf_apply(struct str key, enum cc_sf_type t, int64_t v, struct cc *cc)
{
	const struct cc_directive *d = cc_lookup(key);
	int64_t *slot = NULL;

	if (d == NULL)
		return;
	switch (d->kind) {
	case CC_K_FLAG:
	case CC_K_FLAG_PERMISSIVE:
	case CC_K_FIELDS:
		cc->flags &= ~(d->flag | d->fields_flag);
		if (t == CC_SF_TRUE)
			cc->flags |= d->flag;
		else if (t == CC_SF_STRING && d->kind == CC_K_FIELDS)
			cc->flags |= d->fields_flag;
		return;
	case CC_K_MAX_AGE:
		slot = &cc->max_age;
		break;
	case CC_K_S_MAXAGE:
		slot = &cc->s_maxage;
		break;
	case CC_K_MAX_STALE:
		slot = &cc->max_stale;
		break;
	case CC_K_MIN_FRESH:
		slot = &cc->min_fresh;
		break;
	case CC_K_SWR:
		slot = &cc->stale_while_revalidate;
		break;
	case CC_K_SIE:
		slot = &cc->stale_if_error;
		break;
	}
	*slot = t == CC_SF_INTEGER && v >= 0 ? (v > CC_DELTA_MAX ? CC_DELTA_MAX : v) : CC_UNSET;
}

int
cc_parse_sf(struct str value, struct cc *cc)
{
	struct cc_sf s = {value, 0};
	struct str key;
	enum cc_sf_type t;
	int64_t v;
	int members = 0;

	if (value.p == NULL)
		return -1;
	cc_sf_skip_sp(&s);
	while (s.i < s.in.len) {
		if (cc_sf_key(&s, &key) != 0)
			return -1;
		v = 0;
		if (cc_sf_at(&s, '=')) {
			s.i++;
			if (cc_sf_member_value(&s, &t, &v) != 0)
				return -1;
		} else {
			t = CC_SF_TRUE;
			if (cc_sf_params(&s) != 0)
				return -1;
		}
		cc_sf_apply(key, t, v, cc);
		members++;
		while (cc_sf_at(&s, ' ') || cc_sf_at(&s, '\t'))
			s.i++;
		if (s.i == s.in.len)
			break;
		if (!cc_sf_at(&s, ','))
			return -1;
		s.i++;
		while (cc_sf_at(&s, ' ') || cc_sf_at(&s, '\t'))
			s.i++;
		if (s.i == s.in.len)
			return -1; /* trailing comma */
	}
	return members;
}
