/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cache/cache_key.c — normalized cache keys (DESIGN.md §Key, RFC 3986 §6.2.2).
 *
 * Model: a pure function writing into the caller's buffer; no allocation, no
 * shared state, any thread.  The target comes from the network, so every
 * read is bounded by the view lengths and every write by outlen
 * (tests/fuzz/fuzz_cache_key.c).
 *
 * Key = scheme "://" host [ ":" port ] path [ "?" query ]
 *
 *  - scheme and host lower-cased (RFC 3986 §6.2.2.1); an IPv6 literal keeps its
 *    brackets (added if the caller passed it bare);
 *  - the port is dropped when it is the scheme's default (§6.2.3), kept
 *    otherwise; port 0 means "none given";
 *  - path and query: percent-escapes of unreserved characters decoded, the
 *    hex digits of the others upper-cased (§6.2.2.2); a '%' not followed by two
 *    hex digits makes the target invalid;
 *  - dot-segments removed from the path (§5.2.4) after that decoding, so
 *    "%2E%2E" counts as ".." while "%2F" stays an escaped byte of a segment;
 *  - an escaped NUL ("%00") in the path makes the target invalid (the query
 *    may carry one);
 *  - an empty path becomes "/"; the query is otherwise kept byte for byte,
 *    or, per route (cache_key_normalize_query), sorted, dropped or filtered
 *    down to named parameters;
 *  - the fragment is dropped;
 *  - the asterisk-form target "*" gives scheme "://" host [":" port] "*",
 *    which cannot collide with an origin-form key (those have a '/' there).
 *
 * Control characters, SP and DEL in the target, and bytes in the host that
 * could make two keys ambiguous ('/', '?', '#', '@', ':' outside brackets,
 * CTLs), make the key invalid (-1).
 */
#include "config.h"

#include <limits.h>
#include <string.h>
#include <sys/types.h>

#include "cache/cache.h"
#include "core/assert.h"

struct key_out {
	char *p;
	size_t len;
	size_t cap; /* usable bytes, NUL excluded */
	bool overflow;
};

static void
key_put(struct key_out *o, char c)
{
	if (o->len >= o->cap) {
		o->overflow = true;
		return;
	}
	o->p[o->len++] = c;
}

static void
key_puts(struct key_out *o, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		key_put(o, s[i]);
}

static int
key_hex(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = str_lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static char
key_upper(char c)
{
	return (c >= 'a' && c <= 'z') ? (char)(c - 32) : c;
}

/* RFC 3986 §2.3 */
static bool
key_is_unreserved(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

/* RFC 3986 §2.2 sub-delims */
static bool
key_is_subdelim(unsigned char c)
{
	return c == '!' || c == '$' || c == '&' || c == '\'' || c == '(' || c == ')' || c == '*' ||
	       c == '+' || c == ',' || c == ';' || c == '=';
}

static bool
key_is_ctl(unsigned char c)
{
	return c <= 0x20 || c == 0x7f;
}

/*
 * Copies s[0..n) percent-normalized.  -1 on an invalid escape or a control
 * byte (overflow is recorded in o and checked by the caller).
 */
static int
key_put_pct(struct key_out *o, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (key_is_ctl(c))
			return -1;
		if (c != '%') {
			key_put(o, (char)c);
			continue;
		}
		if (n - i < 3)
			return -1;
		int hi = key_hex((unsigned char)s[i + 1]);
		int lo = key_hex((unsigned char)s[i + 2]);
		if (hi < 0 || lo < 0)
			return -1;
		unsigned char d = (unsigned char)(hi << 4 | lo);
		if (key_is_unreserved(d)) {
			key_put(o, (char)d);
		} else {
			key_put(o, '%');
			key_put(o, hex[hi]);
			key_put(o, hex[lo]);
		}
		i += 2;
	}
	return 0;
}

static int
key_put_scheme(struct key_out *o, struct str scheme)
{
	if (scheme.len == 0)
		return -1;
	for (size_t i = 0; i < scheme.len; i++) {
		unsigned char c = str_lower((unsigned char)scheme.p[i]);
		bool alpha = c >= 'a' && c <= 'z';

		/* RFC 3986 §3.1: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
		if (!alpha &&
		    (i == 0 || !((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.')))
			return -1;
		key_put(o, (char)c);
	}
	return 0;
}

static int
key_put_host(struct key_out *o, struct str host)
{
	bool bracketed = host.len >= 2 && host.p[0] == '[' && host.p[host.len - 1] == ']';
	bool bare_v6 = false;
	struct str h = host;

	if (bracketed) {
		h = str_make(host.p + 1, host.len - 2);
	} else {
		for (size_t i = 0; i < host.len; i++)
			if (host.p[i] == ':')
				bare_v6 = true;
	}
	if (bracketed || bare_v6) {
		/* RFC 3986 §3.2.2 IP-literal: IPv6address or IPvFuture; accept
		 * their alphabet (and a zone id's unreserved / pct-encoded). */
		if (h.len == 0)
			return -1;
		key_put(o, '[');
		for (size_t i = 0; i < h.len; i++) {
			unsigned char c = (unsigned char)h.p[i];

			if (!key_is_unreserved(c) && !key_is_subdelim(c) && c != ':' && c != '%')
				return -1;
			key_put(o, (char)str_lower(c));
		}
		key_put(o, ']');
		return 0;
	}
	/* reg-name / IPv4address: unreserved / pct-encoded / sub-delims */
	for (size_t i = 0; i < host.len; i++) {
		unsigned char c = (unsigned char)host.p[i];

		if (c == '%') {
			if (host.len - i < 3 || key_hex((unsigned char)host.p[i + 1]) < 0 ||
			    key_hex((unsigned char)host.p[i + 2]) < 0)
				return -1;
			key_put(o, '%');
			key_put(o, key_upper(host.p[i + 1]));
			key_put(o, key_upper(host.p[i + 2]));
			i += 2;
			continue;
		}
		if (!key_is_unreserved(c) && !key_is_subdelim(c))
			return -1;
		key_put(o, (char)str_lower(c));
	}
	return 0;
}

static void
key_put_port(struct key_out *o, struct str scheme, uint16_t port)
{
	char digits[5];
	size_t n = 0;

	if (port == 0)
		return;
	if (port == 80 && str_eq_nocase(scheme, STR_LIT("http")))
		return;
	if (port == 443 && str_eq_nocase(scheme, STR_LIT("https")))
		return;
	key_put(o, ':');
	for (unsigned v = port; v > 0; v /= 10)
		digits[n++] = (char)('0' + v % 10);
	while (n > 0)
		key_put(o, digits[--n]);
}

/* Length of s[0..n) once percent-normalized; -1 if it is invalid. */
static ssize_t
key_pct_len(const char *s, size_t n)
{
	size_t len = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		int hi, lo;

		if (key_is_ctl(c))
			return -1;
		len++;
		if (c != '%')
			continue;
		if (n - i < 3 || (hi = key_hex((unsigned char)s[i + 1])) < 0 ||
		    (lo = key_hex((unsigned char)s[i + 2])) < 0)
			return -1;
		/* "%00": an origin that decodes the path into a C string ends it
		 * there ("/account%00.css" read as "/account"), a path the key
		 * does not name; no resource has a NUL in its name */
		if (hi == 0 && lo == 0)
			return -1;
		if (!key_is_unreserved((unsigned char)(hi << 4 | lo)))
			len += 2;
		i += 2;
	}
	return (ssize_t)len;
}

/* 1 for ".", 2 for "..", 0 otherwise — after decoding ("%2E" is a dot). */
static int
key_dots(const char *s, size_t n)
{
	char tmp[6];
	struct key_out o = {tmp, 0, sizeof tmp, false};

	if (n == 0 || n > 6 || key_put_pct(&o, s, n) != 0 || o.overflow)
		return 0;
	if (o.len == 1 && tmp[0] == '.')
		return 1;
	if (o.len == 2 && tmp[0] == '.' && tmp[1] == '.')
		return 2;
	return 0;
}

/*
 * The path, percent-normalized with dot-segments removed.  For an absolute
 * path, RFC 3986 §5.2.4 amounts to: "." segments vanish, each ".." cancels the
 * nearest earlier segment not already cancelled (none at the root), and a
 * path whose last segment is "." or ".." ends in "/".  Walking the segments
 * from the end with a count of pending ".." decides each segment without a
 * stack, so two backward passes (measure, then write right to left) need no
 * scratch memory and no more output room than the result, however many
 * segments collapse.
 */
static int
key_put_path(struct key_out *o, struct str path)
{
	size_t total = 0, skip = 0, w, end;
	bool trailing, kept_any = false;

	if (path.len == 0) {
		key_put(o, '/');
		return 0;
	}
	/* path.p[0] == '/' */
	trailing = false;
	for (end = path.len;;) {
		size_t j = end;
		int dots;
		ssize_t dl;

		while (path.p[j - 1] != '/')
			j--;
		/* segment [j, end), its '/' at j - 1 */
		dl = key_pct_len(path.p + j, end - j);
		if (dl < 0)
			return -1;
		dots = key_dots(path.p + j, end - j);
		if (end == path.len)
			trailing = dots != 0;
		if (dots == 2) {
			skip++;
		} else if (dots == 0) {
			if (skip > 0) {
				skip--;
			} else {
				total += 1 + (size_t)dl;
				kept_any = true;
			}
		}
		if (j == 1)
			break;
		end = j - 1;
	}
	if (trailing || !kept_any)
		total++;
	if (total > o->cap - o->len) {
		o->overflow = true;
		return 0;
	}

	/* Second pass: the same decisions, written right to left. */
	w = o->len + total;
	o->len = w;
	if (trailing || !kept_any)
		o->p[--w] = '/';
	skip = 0;
	for (end = path.len;;) {
		size_t j = end;
		int dots;

		while (path.p[j - 1] != '/')
			j--;
		dots = key_dots(path.p + j, end - j);
		if (dots == 2) {
			skip++;
		} else if (dots == 0) {
			if (skip > 0) {
				skip--;
			} else {
				struct key_out seg;
				size_t dl = (size_t)key_pct_len(path.p + j, end - j);

				seg = (struct key_out){o->p, w - dl, w, false};
				(void)key_put_pct(&seg, path.p + j, end - j);
				ASSERT(!seg.overflow && seg.len == w);
				w -= dl;
				o->p[--w] = '/';
			}
		}
		if (j == 1)
			break;
		end = j - 1;
	}
	ASSERT(w + total == o->len);
	return 0;
}

int
cache_key_normalize_path(struct str path, char *out, size_t outlen)
{
	struct key_out o = {out, 0, outlen > 0 ? outlen - 1 : 0, outlen == 0};
	const char *hash = path.len > 0 ? memchr(path.p, '#', path.len) : NULL;

	if (outlen == 0 || (path.len > 0 && (path.p == NULL || path.p[0] != '/')))
		return -1;
	if (hash != NULL)
		path.len = (size_t)(hash - path.p);
	if (key_put_path(&o, path) != 0 || o.overflow || o.len > INT_MAX)
		return -1;
	out[o.len] = '\0';
	return (int)o.len;
}

/* One query parameter: [off, off + len) of the key being built. */
struct key_param {
	size_t off, len;
};

static bool
key_param_allowed(const char *p, size_t len, const char *const *allow, size_t n_allow)
{
	const char *eq = memchr(p, '=', len);
	size_t nl = eq != NULL ? (size_t)(eq - p) : len;

	for (size_t i = 0; i < n_allow; i++)
		if (strlen(allow[i]) == nl && memcmp(allow[i], p, nl) == 0)
			return true;
	return false;
}

static int
key_param_cmp(const char *base, const struct key_param *a, const struct key_param *b)
{
	int r = memcmp(base + a->off, base + b->off, a->len < b->len ? a->len : b->len);

	if (r != 0)
		return r;
	return a->len < b->len ? -1 : a->len > b->len;
}

/*
 * Rewrites the normalized query o->p[q, o->len) per mode; q is just after
 * the '?'.  -1 if it has too many parameters.
 */
static int
key_query_mode(struct key_out *o, size_t q, enum cache_key_query mode, const char *const *allow,
    size_t n_allow)
{
	struct key_param prm[CACHE_KEY_MAX_PARAMS];
	char tmp[CACHE_KEY_MAX];
	size_t n = 0, i, j, w = 0, start = q;

	if (mode == CACHE_KEY_QUERY_DROP) {
		o->len = q - 1;
		return 0;
	}
	if (o->len - q > sizeof tmp)
		return -1;
	for (i = q; i <= o->len; i++) {
		if (i < o->len && o->p[i] != '&')
			continue;
		if (i > start && (mode != CACHE_KEY_QUERY_ALLOW ||
		                     key_param_allowed(o->p + start, i - start, allow, n_allow))) {
			if (n == CACHE_KEY_MAX_PARAMS)
				return -1;
			prm[n++] = (struct key_param){start, i - start};
		}
		start = i + 1;
	}
	if (mode == CACHE_KEY_QUERY_SORT) {
		/* insertion sort: stable, in place, n is bounded */
		for (i = 1; i < n; i++) {
			struct key_param k = prm[i];

			for (j = i; j > 0 && key_param_cmp(o->p, &prm[j - 1], &k) > 0; j--)
				prm[j] = prm[j - 1];
			prm[j] = k;
		}
	}
	for (i = 0; i < n; i++) {
		if (i > 0)
			tmp[w++] = '&';
		memcpy(tmp + w, o->p + prm[i].off, prm[i].len);
		w += prm[i].len;
	}
	if (n == 0) {
		o->len = q - 1; /* no parameter left: no '?' either */
		return 0;
	}
	memcpy(o->p + q, tmp, w);
	o->len = q + w;
	return 0;
}

int
cache_key_normalize(struct str scheme, struct str host, uint16_t port, struct str path_query,
    char *out, size_t outlen)
{
	return cache_key_normalize_query(
	    scheme, host, port, path_query, CACHE_KEY_QUERY_KEEP, NULL, 0, out, outlen);
}

int
cache_key_normalize_query(struct str scheme, struct str host, uint16_t port, struct str path_query,
    enum cache_key_query mode, const char *const *allow, size_t n_allow, char *out, size_t outlen)
{
	struct key_out o = {out, 0, outlen > 0 ? outlen - 1 : 0, outlen == 0};
	struct str path, query = STR_NULL;
	bool has_query = false;
	size_t end = path_query.len;

	if (outlen == 0)
		return -1;
	if (path_query.len > 0 && path_query.p == NULL)
		return -1;
	if (key_put_scheme(&o, scheme) != 0)
		return -1;
	key_puts(&o, "://", 3);
	if (host.len > 0 && key_put_host(&o, host) != 0)
		return -1;
	key_put_port(&o, scheme, port);

	if (path_query.len == 1 && path_query.p[0] == '*') {
		key_put(&o, '*');
		goto done;
	}
	/* Fragment first: it ends the query too (RFC 3986 §3.5). */
	for (size_t i = 0; i < path_query.len; i++) {
		if (path_query.p[i] == '#') {
			end = i;
			break;
		}
	}
	path = str_make(path_query.p, end);
	for (size_t i = 0; i < end; i++) {
		if (path_query.p[i] == '?') {
			path = str_make(path_query.p, i);
			query = str_make(path_query.p + i + 1, end - i - 1);
			has_query = true;
			break;
		}
	}
	if (path.len > 0 && path.p[0] != '/')
		return -1;
	if (key_put_path(&o, path) != 0)
		return -1;
	if (has_query) {
		size_t q;

		key_put(&o, '?');
		q = o.len;
		if (key_put_pct(&o, query.p, query.len) != 0)
			return -1;
		if (!o.overflow && mode != CACHE_KEY_QUERY_KEEP &&
		    key_query_mode(&o, q, mode, allow, n_allow) != 0)
			return -1;
	}
done:
	if (o.overflow || o.len > INT_MAX)
		return -1;
	out[o.len] = '\0';
	return (int)o.len;
}

/* "host[:port]" or "[v6][:port]" into host and port (0 if none); -1 if invalid. */
static int
key_split_authority(struct str auth, struct str *host, uint16_t *port)
{
	size_t colon = auth.len;
	uint64_t v;

	*port = 0;
	if (auth.len > 0 && auth.p[0] == '[') {
		const char *rb = memchr(auth.p, ']', auth.len);

		if (rb == NULL)
			return -1;
		colon = (size_t)(rb - auth.p) + 1;
		if (colon < auth.len && auth.p[colon] != ':')
			return -1;
	} else {
		const char *c = memchr(auth.p, ':', auth.len);

		if (c != NULL)
			colon = (size_t)(c - auth.p);
	}
	*host = str_make(auth.p, colon);
	if (colon + 1 < auth.len) {
		if (str_to_u64(str_make(auth.p + colon + 1, auth.len - colon - 1), &v) != 0 ||
		    v == 0 || v > 65535)
			return -1;
		*port = (uint16_t)v;
	}
	return host->len > 0 ? 0 : -1;
}

/* Length of a URI scheme at the start of s followed by ':', 0 if none (§3.1). */
static size_t
key_scheme_len(struct str s)
{
	size_t i = 0;

	if (s.len == 0 || !((s.p[0] | 0x20) >= 'a' && (s.p[0] | 0x20) <= 'z'))
		return 0;
	while (i < s.len && (((s.p[i] | 0x20) >= 'a' && (s.p[i] | 0x20) <= 'z') ||
	                        (s.p[i] >= '0' && s.p[i] <= '9') || s.p[i] == '+' ||
	                        s.p[i] == '-' || s.p[i] == '.'))
		i++;
	return i < s.len && s.p[i] == ':' ? i : 0;
}

int
cache_key_resolve(const char *base, size_t base_len, struct str ref, char *out, size_t outlen)
{
	struct str b = str_make(base, base_len), scheme, auth, host, bpath;
	const char *sep, *slash;
	char merged[CACHE_KEY_MAX];
	size_t origin_len, sl, plen;
	uint16_t port;
	int n;

	sep = base_len >= 3 ? memchr(base, ':', base_len) : NULL;
	if (sep == NULL || (size_t)(sep - base) + 3 > base_len || sep[1] != '/' || sep[2] != '/')
		return -1;
	scheme = str_make(base, (size_t)(sep - base));
	slash = memchr(sep + 3, '/', base_len - scheme.len - 3);
	if (slash == NULL)
		return -1; /* "*" keys name no resource */
	origin_len = (size_t)(slash - base);
	auth = str_make(sep + 3, origin_len - scheme.len - 3);
	bpath = str_make(slash, base_len - origin_len);
	ref = str_trim_ows(ref);
	if (ref.len == 0 || ref.len >= sizeof merged)
		return -1;
	sl = key_scheme_len(ref);
	if (sl > 0) {
		scheme = str_make(ref.p, sl);
		ref = str_make(ref.p + sl + 1, ref.len - sl - 1);
		if (ref.len < 2 || ref.p[0] != '/' || ref.p[1] != '/')
			return -1;
	}
	if (ref.len >= 2 && ref.p[0] == '/' && ref.p[1] == '/') {
		size_t e = 2;

		while (e < ref.len && ref.p[e] != '/' && ref.p[e] != '?' && ref.p[e] != '#')
			e++;
		auth = str_make(ref.p + 2, e - 2);
		ref = str_make(ref.p + e, ref.len - e);
		if (ref.len == 0 || ref.p[0] != '/') {
			/* empty path: "/" then the query */
			merged[0] = '/';
			memcpy(merged + 1, ref.p, ref.len);
			ref = str_make(merged, ref.len + 1);
		}
	} else if (ref.p[0] == '?' || ref.p[0] == '#') {
		const char *q = memchr(bpath.p, ref.p[0] == '?' ? '?' : '#', bpath.len);

		plen = q != NULL ? (size_t)(q - bpath.p) : bpath.len;
		if (plen + ref.len >= sizeof merged)
			return -1;
		memcpy(merged, bpath.p, plen);
		memcpy(merged + plen, ref.p, ref.len);
		ref = str_make(merged, plen + ref.len);
	} else if (ref.p[0] != '/') {
		/* relative path: merged with the base path's directory (§5.2.3) */
		const char *q = memchr(bpath.p, '?', bpath.len);

		plen = q != NULL ? (size_t)(q - bpath.p) : bpath.len;
		while (plen > 0 && bpath.p[plen - 1] != '/')
			plen--;
		if (plen + ref.len >= sizeof merged)
			return -1;
		memcpy(merged, bpath.p, plen);
		memcpy(merged + plen, ref.p, ref.len);
		ref = str_make(merged, plen + ref.len);
	}
	if (key_split_authority(auth, &host, &port) != 0)
		return -1;
	n = cache_key_normalize(scheme, host, port, ref, out, outlen);
	if (n < 0 || (size_t)n <= origin_len || memcmp(out, b.p, origin_len) != 0 ||
	    out[origin_len] != '/')
		return -1;
	return n;
}
