/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * core/range.c — Range and If-Range (RFC 9110 §14, §13.1.5).
 *
 * The grammar (§14.1.1, §14.2), checked strictly:
 *
 *   Range        = range-unit "=" range-set
 *   range-set    = 1#range-spec            ; OWS around commas, empty elements ok
 *   range-spec   = int-range / suffix-range
 *   int-range    = first-pos "-" [ last-pos ]
 *   suffix-range = "-" suffix-length
 *
 * No whitespace inside a range-spec or around "=".  Positions are 1*DIGIT;
 * numbers beyond UINT64_MAX saturate (a first-pos that large is simply not
 * satisfiable, a last-pos or suffix-length that large means "to the end").
 */
#include "config.h"

#include <time.h>

#include "core/range.h"
#include "core/timeutil.h"

/* Empty list elements accepted before the field counts as invalid
 * (§5.6.1: "a reasonable number"). */
#define RANGE_MAX_EMPTY 16

struct range_spec {
	bool suffix;
	bool open; /* int-range without last-pos */
	uint64_t a, b;
};

static bool
range_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* 1*DIGIT at s[*i..], saturating; false if there is no digit. */
static bool
range_digits(struct str s, size_t *i, uint64_t *out)
{
	uint64_t v = 0;
	size_t start = *i;

	while (*i < s.len && range_is_digit(s.p[*i])) {
		unsigned d = (unsigned)(s.p[*i] - '0');

		v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
		(*i)++;
	}
	*out = v;
	return *i > start;
}

static bool
range_spec_parse(struct str e, struct range_spec *sp)
{
	size_t i = 0;

	sp->suffix = false;
	sp->open = false;
	if (e.len > 0 && e.p[0] == '-') {
		i = 1;
		sp->suffix = true;
		return range_digits(e, &i, &sp->b) && i == e.len;
	}
	if (!range_digits(e, &i, &sp->a) || i == e.len || e.p[i] != '-')
		return false;
	i++;
	if (i == e.len) {
		sp->open = true;
		return true;
	}
	/* §14.1.1: an int-range with last-pos < first-pos is invalid */
	return range_digits(e, &i, &sp->b) && i == e.len && sp->b >= sp->a;
}

/* The satisfiable part of one spec against length (> 0), §14.1.2. */
static bool
range_resolve(const struct range_spec *sp, uint64_t length, struct range *r)
{
	if (sp->suffix) {
		if (sp->b == 0)
			return false;
		r->first = sp->b >= length ? 0 : length - sp->b;
		r->last = length - 1;
		return true;
	}
	if (sp->a >= length)
		return false;
	r->first = sp->a;
	r->last = sp->open || sp->b >= length ? length - 1 : sp->b;
	return true;
}

static void
range_coalesce(struct range_set *s)
{
	unsigned n = 0;

	/* insertion sort: at most RANGE_MAX entries */
	for (unsigned i = 1; i < s->n; i++) {
		struct range t = s->r[i];
		unsigned j = i;

		while (j > 0 && s->r[j - 1].first > t.first) {
			s->r[j] = s->r[j - 1];
			j--;
		}
		s->r[j] = t;
	}
	for (unsigned i = 0; i < s->n; i++) {
		if (n > 0 && s->r[i].first <= s->r[n - 1].last + 1) {
			if (s->r[i].last > s->r[n - 1].last)
				s->r[n - 1].last = s->r[i].last;
			continue;
		}
		s->r[n++] = s->r[i];
	}
	s->n = n;
}

/* Do any two ranges overlap or touch? */
static bool
range_any_overlap(const struct range_set *s)
{
	for (unsigned i = 0; i < s->n; i++)
		for (unsigned j = i + 1; j < s->n; j++) {
			const struct range *a = &s->r[i], *b = &s->r[j];

			if (a->first <= b->last + 1 && b->first <= a->last + 1)
				return true;
		}
	return false;
}

enum range_result
range_parse(struct str value, uint64_t length, struct range_set *out)
{
	struct str v = str_trim_ows(value);
	size_t i = 0, n_specs = 0, n_empty = 0;

	out->n = 0;
	if (v.len < 6 || !str_eq_nocase(str_make(v.p, 6), STR_LIT("bytes=")))
		return RANGE_IGNORE;
	i = 6;
	while (i <= v.len) {
		size_t end = i;
		struct range_spec sp;
		struct range r;
		struct str e;

		while (end < v.len && v.p[end] != ',')
			end++;
		e = str_trim_ows(str_make(v.p + i, end - i));
		i = end + 1;
		if (e.len == 0) {
			if (++n_empty > RANGE_MAX_EMPTY)
				goto ignore;
			continue;
		}
		if (++n_specs > RANGE_MAX || !range_spec_parse(e, &sp))
			goto ignore;
		if (length > 0 && range_resolve(&sp, length, &r))
			out->r[out->n++] = r;
	}
	if (n_specs == 0 || length == 0)
		goto ignore;
	if (out->n == 0)
		return RANGE_UNSATISFIABLE;
	if (range_any_overlap(out))
		range_coalesce(out);
	return RANGE_SATISFIABLE;
ignore:
	out->n = 0;
	return RANGE_IGNORE;
}

bool
range_ascending(const struct range_set *s)
{
	for (unsigned i = 1; i < s->n; i++)
		if (s->r[i].first <= s->r[i - 1].last)
			return false;
	return true;
}

bool
range_if_range(struct str if_range, const struct range_validators *v)
{
	struct str ir = str_trim_ows(if_range);
	time_t when, lm, date;

	if (str_has_prefix(ir, STR_LIT("W/")))
		return false; /* a weak tag never matches strongly */
	if (ir.len > 0 && ir.p[0] == '"') {
		/* entity-tag: a strong tag equal, octet by octet, to a strong ETag */
		struct str et = str_trim_ows(v->etag);

		if (v->etag.p == NULL || ir.len < 2 || ir.p[ir.len - 1] != '"')
			return false;
		return et.len >= 2 && et.p[0] == '"' && str_eq(ir, et);
	}
	if (v->last_modified.p == NULL || time_parse_http_date(ir, &when) != 0 ||
	    time_parse_http_date(v->last_modified, &lm) != 0 || when != lm)
		return false;
	/* §8.8.2.2: Last-Modified is strong only if at least a second older
	 * than the response's Date */
	return v->date.p != NULL && time_parse_http_date(v->date, &date) == 0 && date - lm >= 1;
}

enum range_result
range_request(const struct h1_request *req, const struct range_validators *v, uint64_t length,
    struct range_set *out)
{
	const struct h1_header *range = NULL, *if_range = NULL;

	out->n = 0;
	if (!str_eq(req->method, STR_LIT("GET")))
		return RANGE_IGNORE;
	for (size_t i = 0; i < req->n_headers; i++) {
		const struct h1_header *h = &req->headers[i];

		if (str_eq_nocase(h->name, STR_LIT("Range"))) {
			if (range != NULL)
				return RANGE_IGNORE; /* a singleton field sent twice */
			range = h;
		} else if (str_eq_nocase(h->name, STR_LIT("If-Range"))) {
			if (if_range != NULL)
				return RANGE_IGNORE;
			if_range = h;
		}
	}
	if (range == NULL || (if_range != NULL && !range_if_range(if_range->value, v)))
		return RANGE_IGNORE;
	return range_parse(range->value, length, out);
}

bool
range_content_range(struct str v, uint64_t *first, uint64_t *last, uint64_t *length)
{
	const char *dash, *slash;

	v = str_trim_ows(v);
	if (v.len < 6 || !str_eq_nocase(str_make(v.p, 6), STR_LIT("bytes ")))
		return false;
	v = str_make(v.p + 6, v.len - 6);
	if ((dash = memchr(v.p, '-', v.len)) == NULL ||
	    (slash = memchr(dash, '/', v.len - (size_t)(dash - v.p))) == NULL)
		return false;
	return str_to_u64(str_make(v.p, (size_t)(dash - v.p)), first) == 0 &&
	       str_to_u64(str_make(dash + 1, (size_t)(slash - dash - 1)), last) == 0 &&
	       str_to_u64(str_make(slash + 1, v.len - (size_t)(slash + 1 - v.p)), length) == 0 &&
	       *first <= *last && *last < *length;
}
