/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * core/h1.c — strict, zero-copy HTTP/1.1 parsing and serialization (RFC 9112).
 *
 * Model: the parsers own nothing.  Every struct str they fill points into the
 * caller's buffer (the only exception is the path "/" of an absolute-form
 * target without a path, which points to a static string).  A head is parsed
 * from its first byte on every call (picohttpparser style): the caller appends
 * bytes and calls again until the result is not H1_AGAIN.  The scan is one
 * forward pass over a character-class table, so every error is reported at the
 * first byte that makes the message invalid, whatever the split of the input
 * across reads; as a consequence, for any prefix of a buffer the parser
 * returns either H1_AGAIN or exactly what it returns for the whole buffer (the
 * fuzz targets check this).  Limits are enforced by clipping the scan to the
 * limit: running out of bytes at a limit is an error, before it H1_AGAIN.
 *
 * Strictness (RFC 9112 §2.2 allows either rejecting or tolerating these; an
 * edge in front of other parsers must reject them to avoid request smuggling):
 *   - lines end in CRLF only: a bare LF is H1_E_BARE_LF, a CR not followed by
 *     LF is H1_E_BARE_CR (to classify a CR the parser waits for the next byte);
 *   - obs-fold (a field line starting with SP/HTAB) is H1_E_OBS_FOLD, also
 *     for whitespace between the start line and the first field;
 *   - whitespace between field name and colon is H1_E_WS_BEFORE_COLON (§5.1);
 *   - control characters other than HTAB in a field value are H1_E_CTL_CHAR;
 *     obs-text (0x80-0xff) is allowed (RFC 9110 §5.5);
 *   - a request-target holds only what RFC 3986 allows (§3.3 pchar, §3.4
 *     query): \ " < > ^ ` { | } anywhere and '[' ']' outside an IP literal or
 *     the query are H1_E_BAD_TARGET, so an origin that reads "\" as "/" never
 *     sees a path the cache key reads otherwise;
 *   - at most H1_MAX_EMPTY_LINES empty lines are skipped before a request
 *     line (§2.2); they count towards head_len and max_head.
 *
 * Framing (§6.1-§6.3) and Host (RFC 9110 §7.2, RFC 9112 §3.2) are checked once
 * the head is complete.  Repeated Content-Length fields and comma lists are
 * rejected even when the values agree; Transfer-Encoding together with
 * Content-Length is rejected for requests and responses.
 *
 * Host and authority: host keeps the brackets of an IP literal ("[::1]") so
 * that it can be used verbatim in cache keys; port is 0 when absent.  An
 * absolute-form target's authority wins over Host, but Host must still be
 * present on HTTP/1.1 and valid (it may be empty then).  An absolute-form
 * target with a query but no path ("http://a?x") is rejected as
 * H1_E_BAD_TARGET, since "/?x" cannot be expressed as a view of the buffer.
 *
 * Responses: the status line is bounded by max_head only (max_request_line
 * is for requests); a bare CR/LF in it is H1_E_BARE_CR/H1_E_BARE_LF like
 * anywhere else, other defects H1_E_BAD_STATUS_LINE.  "HTTP/1.x" with x > 1 is
 * read as 1.1 (RFC 9110 §6.2).
 *
 * The chunked decoder is a byte-wise state machine (data runs are handed out
 * as views without copying), so any split of the input works.  BWS is
 * accepted around ';' and '=' in extensions (§7.1.1) and therefore also after
 * the chunk size ("5 \r\n"); never before it.  Once failed it keeps
 * returning its error (kept in flags).
 *
 * No allocation, no locking; every function is safe from any thread as long as
 * the structures passed in are not shared.
 */
#include "config.h"

#include <string.h>

#include "core/h1.h"

#define H1_MAX_EMPTY_LINES 4
#define H1_CHUNK_LINE_MAX  4096
#define H1_TRAILER_MAX     16384
#define H1_CHUNK_SIZE_MAX  ((uint64_t)1 << 60)

/* Character classes, one table lookup per byte. */
enum {
	CC_TCHAR = 1,    /* RFC 9110 §5.6.2 tchar */
	CC_FVALUE = 2,   /* field-vchar, SP, HTAB, obs-text (RFC 9110 §5.5) */
	CC_TARGET = 4,   /* request-target bytes (RFC 9112 §3.2, RFC 3986 §3.3, §3.4): pchar,
	                    '/', '?', '%' and the gen-delims of an authority; not '#' (no
	                    fragment) nor \ " < > ^ ` { | } (never valid in a URI) */
	CC_HEX = 8,      /* HEXDIG */
	CC_REGNAME = 16, /* unreserved / sub-delims (RFC 3986 §3.2.2) */
};

static const unsigned char cc[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0,                /* 0x00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,                /* 0x10 */
    2, 23, 2, 3, 23, 7, 23, 23, 22, 22, 23, 23, 22, 23, 23, 6,     /* 0x20 */
    31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 6, 22, 2, 22, 2, 6,    /* 0x30 */
    6, 31, 31, 31, 31, 31, 31, 23, 23, 23, 23, 23, 23, 23, 23, 23, /* 0x40 */
    23, 23, 23, 23, 23, 23, 23, 23, 23, 23, 23, 6, 2, 6, 3, 23,    /* 0x50 */
    3, 31, 31, 31, 31, 31, 31, 23, 23, 23, 23, 23, 23, 23, 23, 23, /* 0x60 */
    23, 23, 23, 23, 23, 23, 23, 23, 23, 23, 23, 2, 3, 2, 23, 0,    /* 0x70 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,                /* 0x80 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,                /* 0x90 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,                /* 0xa0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,                /* 0xb0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,                /* 0xc0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,                /* 0xd0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,                /* 0xe0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,                /* 0xf0 */
};

#define IS(c, cls) ((cc[(unsigned char)(c)] & (cls)) != 0)
#define IS_WS(c)   ((c) == ' ' || (c) == '\t')

static const char *const h1_texts[] = {
#define H1_TEXT(name, http, text) text,
    H1_STATUS_TABLE(H1_TEXT)
#undef H1_TEXT
};

static const short h1_https[] = {
#define H1_HTTP(name, http, text) http,
    H1_STATUS_TABLE(H1_HTTP)
#undef H1_HTTP
};

#define H1_N_STATUS (sizeof h1_texts / sizeof h1_texts[0])

const char *
h1_strerror(enum h1_status st)
{
	if ((unsigned)st >= H1_N_STATUS)
		return "unknown status";
	return h1_texts[st];
}

int
h1_status_http(enum h1_status st)
{
	if ((unsigned)st >= H1_N_STATUS)
		return 500;
	return h1_https[st];
}

static unsigned
hexval(unsigned char c)
{
	if (c <= '9')
		return c - '0';
	return (unsigned)(c | 0x20) - 'a' + 10;
}

/*
 * p < e points at CR or LF where a line must end.  H1_OK for CRLF, H1_AGAIN if
 * the CR is the last byte available, else the bare CR / LF error (§2.2).
 */
static enum h1_status
scan_eol(const char *p, const char *e)
{
	if (*p == '\n')
		return H1_E_BARE_LF;
	if (p + 1 == e)
		return H1_AGAIN;
	return p[1] == '\n' ? H1_OK : H1_E_BARE_CR;
}

/* p < e is a byte that does not belong here: a line end gives at_eol, a bare
 * CR or LF its own error, anything else other. */
static enum h1_status
unexpected(const char *p, const char *e, enum h1_status at_eol, enum h1_status other)
{
	if (*p == '\r' || *p == '\n') {
		enum h1_status st = scan_eol(p, e);
		return st == H1_OK ? at_eol : st;
	}
	return other;
}

/*
 * authority = host [ ":" port ] without userinfo (RFC 9110 §4.2.1, §7.2;
 * RFC 3986 §3.2).  host is an IP literal in brackets (kept in *host) or a
 * non-empty reg-name / IPv4 address; a ':' must be followed by 1-5 digits
 * <= 65535.  0 or -1.
 */
static int
parse_authority(struct str a, struct str *host, uint16_t *port, bool *has_port)
{
	const char *p = a.p, *e = a.p + a.len, *q;
	unsigned v = 0;

	if (a.len == 0)
		return -1;
	if (*p == '[') {
		bool colon = false;

		for (q = p + 1; q < e && *q != ']'; q++) {
			if (!IS(*q, CC_HEX) && *q != ':' && *q != '.')
				return -1;
			colon |= *q == ':';
		}
		if (q == e || !colon)
			return -1;
		q++;
	} else {
		q = p;
		while (q < e && *q != ':') {
			if (IS(*q, CC_REGNAME))
				q++;
			else if (*q == '%' && e - q >= 3 && IS(q[1], CC_HEX) && IS(q[2], CC_HEX))
				q += 3;
			else
				return -1;
		}
		if (q == p)
			return -1;
	}
	*host = str_make(p, (size_t)(q - p));
	*port = 0;
	*has_port = false;
	if (q == e)
		return 0;
	if (*q != ':')
		return -1;
	q++;
	if (q == e || e - q > 5)
		return -1;
	for (; q < e; q++) {
		if (*q < '0' || *q > '9')
			return -1;
		v = v * 10 + (unsigned)(*q - '0');
	}
	if (v > 65535)
		return -1;
	*port = (uint16_t)v;
	*has_port = true;
	return 0;
}

/*
 * RFC 3986 §3.3: '[' and ']' are gen-delims that a path may not hold (only an
 * IP literal in the authority has them).  The query keeps them: they have no
 * role after '?', clients send them raw (a[]=1), and the key and the origin
 * both see the same bytes there.  0 or -1.
 */
static int
check_path_delims(struct str path)
{
	for (size_t i = 0; i < path.len && path.p[i] != '?'; i++)
		if (path.p[i] == '[' || path.p[i] == ']')
			return -1;
	return 0;
}

/*
 * Request target forms (RFC 9112 §3.2), once the request line is complete.
 * Methods are case-sensitive (RFC 9110 §9.1).
 */
static enum h1_status
parse_target(struct h1_request *req)
{
	struct str t = req->target;
	bool has_port;
	size_t i;

	if (str_eq(req->method, STR_LIT("CONNECT"))) {
		/* §3.2.3: authority-form = uri-host ":" port, CONNECT only. */
		if (parse_authority(t, &req->host, &req->port, &has_port) != 0 || !has_port)
			return H1_E_BAD_TARGET;
		req->form = H1_TARGET_AUTHORITY;
		req->authority = t;
		return H1_OK;
	}
	if (t.p[0] == '/') {
		req->form = H1_TARGET_ORIGIN;
		req->path = t;
		return check_path_delims(t) == 0 ? H1_OK : H1_E_BAD_TARGET;
	}
	if (t.len == 1 && t.p[0] == '*') {
		/* §3.2.4: asterisk-form, OPTIONS only. */
		if (!str_eq(req->method, STR_LIT("OPTIONS")))
			return H1_E_BAD_TARGET;
		req->form = H1_TARGET_ASTERISK;
		return H1_OK;
	}
	/* §3.2.2: absolute-form; the edge only serves http and https. */
	for (i = 0; i < t.len && t.p[i] != ':'; i++)
		;
	req->scheme = str_make(t.p, i);
	if (!str_eq_nocase(req->scheme, STR_LIT("http")) &&
	    !str_eq_nocase(req->scheme, STR_LIT("https")))
		return H1_E_BAD_TARGET;
	if (t.len - i < 3 || t.p[i + 1] != '/' || t.p[i + 2] != '/')
		return H1_E_BAD_TARGET;
	i += 3;
	size_t a = i;
	while (i < t.len && t.p[i] != '/' && t.p[i] != '?' && t.p[i] != '#')
		i++;
	if (i < t.len && t.p[i] != '/')
		return H1_E_BAD_TARGET;
	req->authority = str_make(t.p + a, i - a);
	/* RFC 9110 §4.2.1: an http(s) URI with an empty host is invalid. */
	if (parse_authority(req->authority, &req->host, &req->port, &has_port) != 0)
		return H1_E_BAD_HOST;
	req->path = i < t.len ? str_make(t.p + i, t.len - i) : STR_LIT("/");
	req->form = H1_TARGET_ABSOLUTE;
	return check_path_delims(req->path) == 0 ? H1_OK : H1_E_BAD_TARGET;
}

/*
 * request-line = method SP request-target SP HTTP-version CRLF (§3), scanned
 * in [p, e).  H1_OK with *out after the CRLF, H1_AGAIN when e was reached.
 */
static enum h1_status
parse_request_line(const char *p, const char *e, struct h1_request *req, const char **out)
{
	const char *start = p, *t;
	enum h1_status st;
	int i;

	while (p < e && IS(*p, CC_TCHAR))
		p++;
	if (p == e)
		return H1_AGAIN;
	if (*p != ' ')
		return unexpected(p, e, H1_E_BAD_REQUEST_LINE, H1_E_BAD_METHOD);
	if (p == start)
		return H1_E_BAD_REQUEST_LINE;
	req->method = str_make(start, (size_t)(p - start));

	t = ++p;
	while (p < e && IS(*p, CC_TARGET))
		p++;
	if (p == e)
		return H1_AGAIN;
	if (*p != ' ')
		return unexpected(p, e, H1_E_BAD_REQUEST_LINE, H1_E_BAD_TARGET);
	if (p == t)
		return H1_E_BAD_REQUEST_LINE;
	req->target = str_make(t, (size_t)(p - t));

	/* HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive (§2.3). */
	p++;
	for (i = 0; i < 8; i++) {
		char c;
		bool good;

		if (p + i == e)
			return H1_AGAIN;
		c = p[i];
		if (i < 5)
			good = c == "HTTP/"[i];
		else if (i == 6)
			good = c == '.';
		else
			good = c >= '0' && c <= '9';
		if (!good)
			return unexpected(p + i, e, H1_E_BAD_REQUEST_LINE, H1_E_BAD_REQUEST_LINE);
	}
	p += 8;
	if (p == e)
		return H1_AGAIN;
	if (*p != '\r')
		return unexpected(p, e, H1_E_BAD_REQUEST_LINE, H1_E_BAD_REQUEST_LINE);
	st = scan_eol(p, e);
	if (st != H1_OK)
		return st;
	if (p[-3] != '1' || p[-1] > '1')
		return H1_E_BAD_VERSION;
	req->minor = p[-1] - '0';
	*out = p + 2;
	return parse_target(req);
}

/*
 * field-line = field-name ":" OWS field-value OWS CRLF (§5), up to the empty
 * line ending the head.  H1_OK with *pp after the empty line.
 */
static enum h1_status
parse_fields(const char **pp, const char *e, size_t max, struct h1_header *hdrs, size_t *np)
{
	const char *p = *pp;
	size_t n = 0;

	for (;;) {
		const char *name, *v, *ve;
		enum h1_status st;

		if (p == e)
			return H1_AGAIN;
		if (*p == '\r' || *p == '\n') {
			st = scan_eol(p, e);
			if (st != H1_OK)
				return st;
			*pp = p + 2;
			*np = n;
			return H1_OK;
		}
		name = p;
		while (p < e && IS(*p, CC_TCHAR))
			p++;
		if (p == e)
			return H1_AGAIN;
		if (*p != ':') {
			if (IS_WS(*p)) {
				if (p == name)
					return H1_E_OBS_FOLD;
				while (p < e && IS_WS(*p))
					p++;
				if (p == e)
					return H1_AGAIN;
				if (*p == ':')
					return H1_E_WS_BEFORE_COLON;
			}
			return unexpected(p, e, H1_E_BAD_HEADER, H1_E_BAD_HEADER);
		}
		if (p == name)
			return H1_E_BAD_HEADER;
		if (n == max)
			return H1_E_TOO_MANY_HEADERS;
		hdrs[n].name = str_make(name, (size_t)(p - name));
		p++;
		while (p < e && IS_WS(*p))
			p++;
		v = p;
		while (p < e && IS(*p, CC_FVALUE))
			p++;
		if (p == e)
			return H1_AGAIN;
		if (*p != '\r')
			return *p == '\n' ? H1_E_BARE_LF : H1_E_CTL_CHAR;
		st = scan_eol(p, e);
		if (st != H1_OK)
			return st;
		for (ve = p; ve > v && IS_WS(ve[-1]); ve--)
			;
		hdrs[n].value = str_make(v, (size_t)(ve - v));
		n++;
		p += 2;
	}
}

/* What the framing and connection fields of one head say. */
struct h1_fields {
	unsigned n_cl;
	uint64_t cl;
	unsigned n_te;      /* Transfer-Encoding fields */
	unsigned n_codings; /* codings listed in them */
	unsigned n_chunked; /* of which "chunked" */
	unsigned n_host;
	struct str host;
	bool close, keep_alive, expect_continue;
};

/* One pass over the fields; errors that depend on a single field (or its
 * repetition) are returned in field order. */
static enum h1_status
scan_fields(const struct h1_header *h, size_t n, bool request, struct h1_fields *f)
{
	memset(f, 0, sizeof *f);
	for (size_t i = 0; i < n; i++) {
		struct str name = h[i].name, v = h[i].value, el;
		size_t pos = 0;

		switch (name.len) {
		case 4:
			if (request && str_eq_nocase(name, STR_LIT("Host"))) {
				/* RFC 9110 §7.2, RFC 9112 §3.2: exactly one Host. */
				if (f->n_host++ > 0)
					return H1_E_DUP_HOST;
				f->host = v;
			}
			break;
		case 6:
			if (request && str_eq_nocase(name, STR_LIT("Expect")) &&
			    str_eq_nocase(v, STR_LIT("100-continue")))
				f->expect_continue = true;
			break;
		case 10:
			if (!str_eq_nocase(name, STR_LIT("Connection")))
				break;
			/* RFC 9110 §7.6.1 */
			while (str_list_next(v, &pos, &el)) {
				if (str_eq_nocase(el, STR_LIT("close")))
					f->close = true;
				else if (str_eq_nocase(el, STR_LIT("keep-alive")))
					f->keep_alive = true;
			}
			break;
		case 14:
			if (!str_eq_nocase(name, STR_LIT("Content-Length")))
				break;
			/* RFC 9110 §8.6 lets a recipient merge identical values; a
			 * strict edge does not (RFC 9112 §6.3 item 5). */
			if (f->n_cl++ > 0 || memchr(v.p, ',', v.len) != NULL)
				return H1_E_DUP_CONTENT_LENGTH;
			if (str_to_u64(v, &f->cl) != 0)
				return H1_E_BAD_CONTENT_LENGTH;
			break;
		case 17:
			if (!str_eq_nocase(name, STR_LIT("Transfer-Encoding")))
				break;
			f->n_te++;
			while (str_list_next(v, &pos, &el)) {
				f->n_codings++;
				f->n_chunked += str_eq_nocase(el, STR_LIT("chunked"));
			}
			break;
		default:
			break;
		}
	}
	return H1_OK;
}

/* Clipped scan end: min(len, a, b) as an offset. */
static size_t
min3(size_t len, size_t a, size_t b)
{
	size_t m = a < b ? a : b;

	return len < m ? len : m;
}

enum h1_status
h1_parse_request(const char *buf, size_t len, const struct h1_limits *lim, struct h1_header *hdrs,
    struct h1_request *req)
{
	const char *p = buf, *end;
	size_t head_lim = lim->max_head, rl_lim;
	struct h1_fields f;
	enum h1_status st;
	bool has_port;

	memset(req, 0, sizeof *req);
	req->headers = hdrs;

	/* §2.2: skip a few empty lines before the request line. */
	end = buf + min3(len, head_lim, head_lim);
	for (int i = 0; p < end && (*p == '\r' || *p == '\n'); i++) {
		if (i == H1_MAX_EMPTY_LINES)
			return H1_E_BAD_REQUEST_LINE;
		st = scan_eol(p, end);
		if (st != H1_OK)
			goto fail_head;
		p += 2;
	}
	if (p == end) {
		st = H1_AGAIN;
		goto fail_head;
	}

	rl_lim = (size_t)(p - buf) + lim->max_request_line;
	if (rl_lim < lim->max_request_line)
		rl_lim = SIZE_MAX;
	st = parse_request_line(p, buf + min3(len, rl_lim, head_lim), req, &p);
	if (st == H1_AGAIN) {
		if (rl_lim <= len && rl_lim <= head_lim)
			return H1_E_URI_TOO_LONG;
		goto fail_head;
	}
	if (st != H1_OK)
		return st;

	st = parse_fields(&p, end, lim->max_headers, hdrs, &req->n_headers);
	if (st != H1_OK)
		goto fail_head;
	req->head_len = (size_t)(p - buf);

	st = scan_fields(hdrs, req->n_headers, true, &f);
	if (st != H1_OK)
		return st;

	/* §6.1-§6.3: framing. */
	if (f.n_te > 0) {
		if (f.n_cl > 0)
			return H1_E_CL_AND_TE;
		/* §6.1: chunked must be final; we accept nothing else on requests,
		 * and Transfer-Encoding in HTTP/1.0 means faulty framing. */
		if (req->minor == 0 || f.n_codings != 1 || f.n_chunked != 1)
			return H1_E_BAD_TE;
		req->body = H1_BODY_CHUNKED;
	} else if (f.n_cl > 0) {
		req->body = H1_BODY_LENGTH;
		req->content_length = f.cl;
	}

	/* RFC 9110 §7.2, RFC 9112 §3.2: Host. */
	if (f.n_host == 0) {
		if (req->minor == 1)
			return H1_E_NO_HOST;
	} else if (f.host.len == 0) {
		/* Empty Host is what a client sends for a URI without authority;
		 * only the target can then supply one. */
		if (req->minor == 1 && req->form != H1_TARGET_ABSOLUTE &&
		    req->form != H1_TARGET_AUTHORITY)
			return H1_E_BAD_HOST;
	} else {
		struct str host;
		uint16_t port;

		if (parse_authority(f.host, &host, &port, &has_port) != 0)
			return H1_E_BAD_HOST;
		if (req->form != H1_TARGET_ABSOLUTE && req->form != H1_TARGET_AUTHORITY) {
			req->authority = f.host;
			req->host = host;
			req->port = port;
		}
	}

	req->keep_alive = req->minor == 1 ? !f.close : f.keep_alive && !f.close;
	req->expect_continue = req->minor == 1 && f.expect_continue;
	return H1_OK;

fail_head:
	if (st == H1_AGAIN && head_lim <= len)
		return H1_E_HEADERS_TOO_LARGE;
	return st;
}

/*
 * status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF (§4),
 * also accepting a missing SP before an empty reason.
 */
static enum h1_status
parse_status_line(const char *p, const char *e, struct h1_response *resp, const char **out)
{
	const char *r;
	int i;

	for (i = 0; i < 13; i++) {
		char c;
		bool good;

		if (p + i == e)
			return H1_AGAIN;
		c = p[i];
		if (i < 7)
			good = c == "HTTP/1."[i];
		else if (i == 8 || i == 12)
			good = c == ' ';
		else if (i == 9)
			good = c >= '1' && c <= '9';
		else
			good = c >= '0' && c <= '9';
		if (!good && i == 12 && c == '\r')
			break;
		if (!good)
			return unexpected(p + i, e, H1_E_BAD_STATUS_LINE, H1_E_BAD_STATUS_LINE);
	}
	/* A higher 1.x minor is compatible with 1.1 (RFC 9110 §6.2). */
	resp->minor = p[7] == '0' ? 0 : 1;
	resp->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	/* RFC 9110 §15: "Values outside the range 100..599 are invalid" (the
	 * first digit is 1..9 already) */
	if (resp->status > 599)
		return H1_E_BAD_STATUS_LINE;
	p += i;
	r = p;
	while (p < e && IS(*p, CC_FVALUE))
		p++;
	if (p == e)
		return H1_AGAIN;
	if (*p != '\r')
		return unexpected(p, e, H1_E_BAD_STATUS_LINE, H1_E_BAD_STATUS_LINE);
	i = scan_eol(p, e);
	if (i != H1_OK)
		return (enum h1_status)i;
	resp->reason = str_make(r, (size_t)(p - r));
	*out = p + 2;
	return H1_OK;
}

enum h1_status
h1_parse_response(const char *buf, size_t len, const struct h1_limits *lim, bool head_request,
    struct h1_header *hdrs, struct h1_response *resp)
{
	const char *p = buf, *end = buf + min3(len, lim->max_head, lim->max_head);
	struct h1_fields f;
	enum h1_status st;

	memset(resp, 0, sizeof *resp);
	resp->headers = hdrs;

	st = parse_status_line(p, end, resp, &p);
	if (st == H1_OK)
		st = parse_fields(&p, end, lim->max_headers, hdrs, &resp->n_headers);
	if (st == H1_AGAIN && lim->max_head <= len)
		return H1_E_HEADERS_TOO_LARGE;
	if (st != H1_OK)
		return st;
	resp->head_len = (size_t)(p - buf);

	st = scan_fields(hdrs, resp->n_headers, false, &f);
	if (st != H1_OK)
		return st;
	resp->keep_alive = resp->minor == 1 ? !f.close : f.keep_alive && !f.close;

	/* §6.3 */
	if (f.n_te > 0) {
		if (f.n_cl > 0)
			return H1_E_CL_AND_TE;
		/* chunked, once, and no other coding (§6.1): we would relay and
		 * store a body still coded (gzip, ...) that nothing says is
		 * coded. */
		if (f.n_codings != 1 || f.n_chunked != 1)
			return H1_E_BAD_TE;
		/* Transfer-Encoding in an HTTP/1.0 message: "the recipient
		 * MUST treat the message as if the framing is faulty" (§6.1),
		 * as for a request; read until close, the chunk framing would
		 * be relayed and stored as the body. */
		if (resp->minor == 0)
			return H1_E_BAD_TE;
		resp->body = H1_BODY_CHUNKED;
	} else if (f.n_cl > 0) {
		resp->body = H1_BODY_LENGTH;
		resp->content_length = f.cl;
	} else {
		resp->body = H1_BODY_CLOSE;
	}
	/* §6.3 item 1: no body whatever the fields say; content_length is kept
	 * for HEAD (it describes the GET representation). */
	if (head_request || resp->status < 200 || resp->status == 204 || resp->status == 304)
		resp->body = H1_BODY_NONE;
	if (resp->body == H1_BODY_CLOSE)
		resp->keep_alive = false;
	return H1_OK;
}

const struct h1_header *
h1_header_find(const struct h1_header *hdrs, size_t n, struct str name)
{
	for (size_t i = 0; i < n; i++)
		if (str_eq_nocase(hdrs[i].name, name))
			return &hdrs[i];
	return NULL;
}

bool
h1_is_hop_by_hop(struct str name, const struct h1_header *hdrs, size_t n)
{
	static const struct str fixed[] = {
	    STR_LIT("Connection"),
	    STR_LIT("Keep-Alive"),
	    STR_LIT("Proxy-Connection"),
	    STR_LIT("TE"),
	    STR_LIT("Trailer"),
	    STR_LIT("Transfer-Encoding"),
	    STR_LIT("Upgrade"),
	    STR_LIT("Proxy-Authenticate"),
	    STR_LIT("Proxy-Authorization"),
	    /* RFC 9110 §11.7.3: for the next client only; RFC 9111 §3.1: never stored. */
	    STR_LIT("Proxy-Authentication-Info"),
	};

	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
		if (str_eq_nocase(name, fixed[i]))
			return true;
	/* RFC 9110 §7.6.1: connection options name further hop-by-hop fields. */
	for (size_t i = 0; i < n; i++) {
		struct str el;
		size_t pos = 0;

		if (!str_eq_nocase(hdrs[i].name, STR_LIT("Connection")))
			continue;
		while (str_list_next(hdrs[i].value, &pos, &el))
			if (str_eq_nocase(el, name))
				return true;
	}
	return false;
}

/*
 * Chunked decoder states (§7.1):
 *   chunk      = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 *   chunk-ext  = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
 *   last-chunk = 1*("0") [ chunk-ext ] CRLF, then trailer-section CRLF.
 * flags holds the error once the decoder has failed.
 */
enum {
	CH_SIZE = 0,     /* first HEXDIG */
	CH_SIZE_MORE,    /* further HEXDIGs, or what follows */
	CH_EXT,          /* BWS, then ";" or CR */
	CH_EXT_NAME_PRE, /* BWS before a name */
	CH_EXT_NAME,
	CH_EXT_NAME_POST, /* BWS after a name: "=", ";" or CR */
	CH_EXT_VAL_PRE,   /* BWS after "=" */
	CH_EXT_VAL_TOKEN,
	CH_EXT_VAL_QUOTED,
	CH_EXT_VAL_QP, /* after a backslash in a quoted string */
	CH_SIZE_LF,
	CH_DATA,
	CH_DATA_CR,
	CH_DATA_LF,
	CH_TRAILER_START, /* start of a trailer line or the final CRLF */
	CH_TRAILER_NAME,
	CH_TRAILER_VALUE,
	CH_TRAILER_LF,
	CH_FINAL_LF,
	CH_DONE,
	CH_ERROR,
};

void
h1_chunked_init(struct h1_chunked *c)
{
	memset(c, 0, sizeof *c);
	c->state = CH_SIZE;
}

/* Where a chunk extension may end or continue: ";" or the size line's CR. */
static int
chunk_ext_sep(unsigned char ch)
{
	if (ch == ';')
		return CH_EXT_NAME_PRE;
	if (ch == '\r')
		return CH_SIZE_LF;
	return -1;
}

enum h1_status
h1_chunked_decode(struct h1_chunked *c, const char *in, size_t len, size_t *consumed,
    const char **data, size_t *data_len)
{
	size_t i = 0;
	enum h1_status err;
	int next;

	*consumed = 0;
	*data = NULL;
	*data_len = 0;
	if (c->state == CH_ERROR)
		return (enum h1_status)c->flags;
	if (c->state == CH_DONE)
		return H1_OK;

	while (i < len) {
		unsigned char ch = (unsigned char)in[i];

		if (c->state == CH_DATA) {
			size_t run = len - i;

			if (run > c->remaining)
				run = (size_t)c->remaining;
			*data = in + i;
			*data_len = run;
			c->remaining -= run;
			if (c->remaining == 0)
				c->state = CH_DATA_CR;
			*consumed = i + run;
			return H1_AGAIN;
		}
		if (c->state < CH_DATA) {
			if (++c->line_len > H1_CHUNK_LINE_MAX) {
				err = H1_E_BAD_CHUNK;
				goto fail;
			}
		} else if (c->state >= CH_TRAILER_START) {
			if (++c->line_len > H1_CHUNK_LINE_MAX ||
			    ++c->trailer_bytes > H1_TRAILER_MAX) {
				err = H1_E_BAD_TRAILER;
				goto fail;
			}
		}

		err = H1_E_BAD_CHUNK;
		next = -1;
		switch (c->state) {
		case CH_SIZE:
			/* chunk-size = 1*HEXDIG: no sign, no "0x", no leading space. */
			if (IS(ch, CC_HEX)) {
				c->remaining = hexval(ch);
				next = CH_SIZE_MORE;
			}
			break;
		case CH_SIZE_MORE:
			if (IS(ch, CC_HEX)) {
				if (c->remaining > (H1_CHUNK_SIZE_MAX - hexval(ch)) / 16) {
					err = H1_E_CHUNK_TOO_LARGE;
					break;
				}
				c->remaining = c->remaining * 16 + hexval(ch);
				next = CH_SIZE_MORE;
				break;
			}
			/* fall through */
		case CH_EXT:
			next = IS_WS(ch) ? CH_EXT : chunk_ext_sep(ch);
			break;
		case CH_EXT_NAME_PRE:
			if (IS_WS(ch))
				next = CH_EXT_NAME_PRE;
			else if (IS(ch, CC_TCHAR))
				next = CH_EXT_NAME;
			break;
		case CH_EXT_NAME:
			if (IS(ch, CC_TCHAR)) {
				next = CH_EXT_NAME;
				break;
			}
			/* fall through */
		case CH_EXT_NAME_POST:
			if (IS_WS(ch))
				next = CH_EXT_NAME_POST;
			else if (ch == '=')
				next = CH_EXT_VAL_PRE;
			else
				next = chunk_ext_sep(ch);
			break;
		case CH_EXT_VAL_PRE:
			if (IS_WS(ch))
				next = CH_EXT_VAL_PRE;
			else if (ch == '"')
				next = CH_EXT_VAL_QUOTED;
			else if (IS(ch, CC_TCHAR))
				next = CH_EXT_VAL_TOKEN;
			break;
		case CH_EXT_VAL_TOKEN:
			if (IS(ch, CC_TCHAR))
				next = CH_EXT_VAL_TOKEN;
			else if (IS_WS(ch))
				next = CH_EXT;
			else
				next = chunk_ext_sep(ch);
			break;
		case CH_EXT_VAL_QUOTED:
			/* RFC 9110 §5.6.4 quoted-string */
			if (ch == '"')
				next = CH_EXT;
			else if (ch == '\\')
				next = CH_EXT_VAL_QP;
			else if (IS(ch, CC_FVALUE))
				next = CH_EXT_VAL_QUOTED;
			break;
		case CH_EXT_VAL_QP:
			if (IS(ch, CC_FVALUE))
				next = CH_EXT_VAL_QUOTED;
			break;
		case CH_SIZE_LF:
			if (ch == '\n') {
				c->line_len = 0;
				next = c->remaining == 0 ? CH_TRAILER_START : CH_DATA;
			}
			break;
		case CH_DATA_CR:
			if (ch == '\r')
				next = CH_DATA_LF;
			break;
		case CH_DATA_LF:
			if (ch == '\n')
				next = CH_SIZE;
			break;
		case CH_TRAILER_START:
			/* Trailer fields follow the field-line rules (§7.1.2, §5). */
			err = H1_E_BAD_TRAILER;
			if (ch == '\r')
				next = CH_FINAL_LF;
			else if (IS(ch, CC_TCHAR))
				next = CH_TRAILER_NAME;
			break;
		case CH_TRAILER_NAME:
			err = H1_E_BAD_TRAILER;
			if (IS(ch, CC_TCHAR))
				next = CH_TRAILER_NAME;
			else if (ch == ':')
				next = CH_TRAILER_VALUE;
			break;
		case CH_TRAILER_VALUE:
			err = H1_E_BAD_TRAILER;
			if (IS(ch, CC_FVALUE))
				next = CH_TRAILER_VALUE;
			else if (ch == '\r')
				next = CH_TRAILER_LF;
			break;
		case CH_TRAILER_LF:
			err = H1_E_BAD_TRAILER;
			if (ch == '\n') {
				c->line_len = 0;
				next = CH_TRAILER_START;
			}
			break;
		case CH_FINAL_LF:
			err = H1_E_BAD_TRAILER;
			if (ch == '\n') {
				c->state = CH_DONE;
				*consumed = i + 1;
				return H1_OK;
			}
			break;
		default:
			break;
		}
		if (next < 0)
			goto fail;
		c->state = next;
		i++;
	}
	*consumed = i;
	return H1_AGAIN;

fail:
	c->state = CH_ERROR;
	c->flags = (int)err;
	*consumed = i;
	return err;
}

size_t
h1_chunk_header(uint64_t n, char *out, size_t outlen)
{
	char tmp[16];
	size_t k = 0;

	do {
		tmp[k++] = "0123456789abcdef"[n & 15];
		n >>= 4;
	} while (n != 0);
	if (outlen < k + 2)
		return 0;
	for (size_t i = 0; i < k; i++)
		out[i] = tmp[k - 1 - i];
	out[k] = '\r';
	out[k + 1] = '\n';
	return k + 2;
}

size_t
h1_status_line(int status, char *out, size_t outlen)
{
	const char *reason;
	size_t rlen, n;

	if (status < 100 || status > 599)
		return 0;
	reason = h1_reason(status);
	rlen = strlen(reason);
	n = 9 + 3 + 1 + rlen + 2;
	if (outlen < n)
		return 0;
	memcpy(out, "HTTP/1.1 ", 9);
	out[9] = (char)('0' + status / 100);
	out[10] = (char)('0' + status / 10 % 10);
	out[11] = (char)('0' + status % 10);
	out[12] = ' ';
	memcpy(out + 13, reason, rlen);
	out[13 + rlen] = '\r';
	out[14 + rlen] = '\n';
	return n;
}

/* RFC 9110 §15 (plus 429/431 from RFC 6585). */
const char *
h1_reason(int status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 101:
		return "Switching Protocols";
	case 103:
		return "Early Hints";
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 202:
		return "Accepted";
	case 203:
		return "Non-Authoritative Information";
	case 204:
		return "No Content";
	case 205:
		return "Reset Content";
	case 206:
		return "Partial Content";
	case 300:
		return "Multiple Choices";
	case 301:
		return "Moved Permanently";
	case 302:
		return "Found";
	case 303:
		return "See Other";
	case 304:
		return "Not Modified";
	case 305:
		return "Use Proxy";
	case 307:
		return "Temporary Redirect";
	case 308:
		return "Permanent Redirect";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 402:
		return "Payment Required";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 406:
		return "Not Acceptable";
	case 407:
		return "Proxy Authentication Required";
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 410:
		return "Gone";
	case 411:
		return "Length Required";
	case 412:
		return "Precondition Failed";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 415:
		return "Unsupported Media Type";
	case 416:
		return "Range Not Satisfiable";
	case 417:
		return "Expectation Failed";
	case 421:
		return "Misdirected Request";
	case 422:
		return "Unprocessable Content";
	case 426:
		return "Upgrade Required";
	case 428:
		return "Precondition Required";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Unknown";
	}
}
