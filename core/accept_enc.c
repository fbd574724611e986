/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * core/accept_enc.c — Accept-Encoding (RFC 9110 §12.5.3): parsing, the choice
 * of a content coding, and the canonical form the cache key uses; and the
 * weight an Accept field (§12.5.1) gives one media type.
 *
 *   Accept-Encoding  = #( codings [ weight ] )
 *   codings          = content-coding / "identity" / "*"
 *   weight           = OWS ";" OWS "q=" qvalue
 *   qvalue           = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
 *
 * One pass over the value, no allocation, no state outside struct
 * coding_accept; any thread.  What the parser does with input outside the
 * grammar is listed in core/coding.h.
 */
#include "config.h"

#include <string.h>

#include "core/coding.h"

void
coding_accept_init(struct coding_accept *a)
{
	a->present = false;
	for (unsigned i = 0; i < CODING_N; i++)
		a->q[i] = CODING_Q_UNSET;
	a->q_star = CODING_Q_UNSET;
}

/* qvalue → thousandths; -1 if it is not a qvalue. */
static int
accept_qvalue(struct str v)
{
	unsigned q, scale = 100;

	if (v.len == 0 || (v.p[0] != '0' && v.p[0] != '1'))
		return -1;
	q = v.p[0] == '1' ? 1000 : 0;
	if (v.len == 1)
		return (int)q;
	if (v.p[1] != '.' || v.len > 5)
		return -1;
	for (size_t i = 2; i < v.len; i++, scale /= 10) {
		if (v.p[i] < '0' || v.p[i] > '9')
			return -1;
		q += (unsigned)(v.p[i] - '0') * scale;
	}
	return q > 1000 ? -1 : (int)q;
}

/* One list member: its coding and q (1000 without a weight); false when the
 * member is outside the grammar. */
static bool
accept_member(struct str m, struct str *coding, int *q)
{
	const char *semi = memchr(m.p, ';', m.len);
	struct str w;

	*coding = str_trim_ows(str_make(m.p, semi != NULL ? (size_t)(semi - m.p) : m.len));
	*q = 1000;
	if (coding->len == 0)
		return false;
	if (!(coding->len == 1 && coding->p[0] == '*'))
		for (size_t i = 0; i < coding->len; i++)
			if (!str_is_tchar((unsigned char)coding->p[i]))
				return false;
	if (semi == NULL)
		return true;
	w = str_trim_ows(str_make(semi + 1, m.len - (size_t)(semi + 1 - m.p)));
	if (w.len < 2 || (w.p[0] != 'q' && w.p[0] != 'Q') || w.p[1] != '=')
		return false;
	*q = accept_qvalue(str_make(w.p + 2, w.len - 2));
	return *q >= 0;
}

void
coding_accept_parse(struct str value, struct coding_accept *a)
{
	size_t pos = 0;
	struct str m;

	a->present = true;
	while (str_list_next(value, &pos, &m)) {
		struct str name;
		int q, c;

		if (!accept_member(m, &name, &q))
			continue;
		if (name.len == 1 && name.p[0] == '*') {
			if (a->q_star == CODING_Q_UNSET)
				a->q_star = (uint16_t)q;
			continue;
		}
		c = coding_from_name(name);
		if (c >= 0 && a->q[c] == CODING_Q_UNSET)
			a->q[c] = (uint16_t)q;
	}
}

/* q of c, or CODING_Q_UNSET when neither c nor "*" is named. */
static unsigned
accept_q_named(const struct coding_accept *a, enum coding c)
{
	if (!a->present)
		return CODING_Q_UNSET;
	return a->q[c] != CODING_Q_UNSET ? a->q[c] : a->q_star;
}

unsigned
coding_accept_q(const struct coding_accept *a, enum coding c)
{
	unsigned q = accept_q_named(a, c);

	if (q != CODING_Q_UNSET)
		return q;
	return c == CODING_IDENTITY ? 1000 : 0;
}

int
coding_accept_pick(
    const struct coding_accept *a, const struct coding_pref *pref, unsigned available)
{
	unsigned best_q = 0, idq = accept_q_named(a, CODING_IDENTITY);
	int best = -1;

	for (unsigned i = 0; i < pref->n; i++) {
		enum coding c = (enum coding)pref->order[i];
		unsigned q;

		if (c == CODING_IDENTITY || !(available & CODING_BIT(c)))
			continue;
		q = coding_accept_q(a, c);
		if (q > best_q) {
			best_q = q;
			best = (int)c;
		}
	}
	if (best >= 0 && (idq == CODING_Q_UNSET || best_q >= idq))
		return best;
	if (coding_accept_q(a, CODING_IDENTITY) > 0)
		return CODING_IDENTITY;
	return -CODING_E_UNACCEPTABLE;
}

unsigned
coding_accept_mask(const struct coding_accept *a, const struct coding_pref *pref)
{
	unsigned m = coding_accept_q(a, CODING_IDENTITY) > 0 ? CODING_BIT(CODING_IDENTITY) : 0;

	for (unsigned i = 0; i < pref->n; i++)
		if (coding_accept_q(a, (enum coding)pref->order[i]) > 0)
			m |= CODING_BIT(pref->order[i]);
	return m;
}

const char *
coding_accept_key(const struct coding_accept *a, const struct coding_pref *pref)
{
	int c = coding_accept_pick(a, pref, ~0u);

	return c < 0 ? "!" : coding_name((enum coding)c);
}

/* The q parameter of a member's parameters (after its first ';'): 1000
 * without one, 0 when it is not a qvalue. */
static unsigned
accept_media_weight(struct str params)
{
	size_t pos = 0;

	while (pos < params.len) {
		const char *semi = memchr(params.p + pos, ';', params.len - pos);
		size_t end = semi != NULL ? (size_t)(semi - params.p) : params.len;
		struct str p = str_trim_ows(str_make(params.p + pos, end - pos));
		int q;

		pos = end + 1;
		if (p.len < 2 || (p.p[0] != 'q' && p.p[0] != 'Q') || p.p[1] != '=')
			continue;
		q = accept_qvalue(str_make(p.p + 2, p.len - 2));
		return q < 0 ? 0 : (unsigned)q;
	}
	return 1000;
}

unsigned
coding_accept_media_q(struct str value, const char *type)
{
	const char *slash = strchr(type, '/');
	size_t major = slash != NULL ? (size_t)(slash - type) + 1 : 0, pos = 0; /* "text/" */
	unsigned best = 0, best_spec = 0;
	struct str m;

	if (value.p == NULL)
		return 1000;
	while (str_list_next(value, &pos, &m)) {
		const char *semi = memchr(m.p, ';', m.len);
		struct str range =
		    str_trim_ows(str_make(m.p, semi != NULL ? (size_t)(semi - m.p) : m.len));
		unsigned spec = 0;

		if (str_eq_nocase(range, str_cstr(type)))
			spec = 3;
		else if (major > 0 && range.len == major + 1 && range.p[major] == '*' &&
		         str_eq_nocase(str_make(range.p, major), str_make(type, major)))
			spec = 2;
		else if (str_eq(range, STR_LIT("*/*")))
			spec = 1;
		if (spec > best_spec) {
			best_spec = spec;
			best = accept_media_weight(
			    semi != NULL ? str_make(semi + 1, m.len - (size_t)(semi + 1 - m.p))
			                 : STR_NULL);
		}
	}
	return best;
}
