/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * policy/policy_jwt.c — JWT bearer tokens: a compact JWS (RFC 7515 §7.1)
 * checked as a JWT (RFC 7519 §7.2) against a JWK set (policy_jwks.c).
 *
 * Model: the token is a view into the request; its three parts are decoded
 * into stack buffers bounded by POLICY_JWT_TOKEN_MAX, and the header and the
 * claims are read by a small strict JSON reader of our own, so a request
 * allocates nothing here (jansson would allocate a tree per token; it is used
 * for JWK sets, at load).  The reader accepts RFC 8259 JSON only: one object,
 * strings of valid UTF-8 without raw control bytes, escapes and surrogate
 * pairs checked, nesting bounded by POLICY_JWT_JSON_DEPTH; a member we act on
 * given twice makes the token invalid (RFC 7515 §5.2 allows either that or
 * taking the last; taking none is the safe one).
 *
 * Order: size, shape, header (alg, kid, crit), key selection (the key must
 * allow the alg: policy_jwks_select), signature, and only then the claims of
 * an authentic token: exp, nbf, aud, iss, and the claims to forward.  The
 * header's jku, x5u and jwk are ignored: keys come from the operator's JWKS
 * only.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "policy/policy_token.h"
#include "policy/policy_token_int.h"

static const char *const jwt_texts[] = {
#define JWT_X_TEXT(name, text, label) text,
    POLICY_JWT_RESULTS(JWT_X_TEXT)
#undef JWT_X_TEXT
};
static const char *const jwt_labels[] = {
#define JWT_X_LABEL(name, text, label) label,
    POLICY_JWT_RESULTS(JWT_X_LABEL)
#undef JWT_X_LABEL
};

const char *
policy_jwt_strerror(enum policy_jwt_result r)
{
	return (unsigned)r < POLICY_JWT_N_RESULTS ? jwt_texts[r] : "unknown";
}

const char *
policy_jwt_label(enum policy_jwt_result r)
{
	return (unsigned)r < POLICY_JWT_N_RESULTS ? jwt_labels[r] : "unknown";
}

void
policy_jwt_conf_defaults(struct policy_jwt_conf *c)
{
	memset(c, 0, sizeof *c);
	c->leeway_s = 30;
	c->require_exp = true;
	c->max_token_bytes = 8192;
}

#define JWT_CLAIM_NAME_MAX 64

int
policy_jwt_conf_check(const struct policy_jwt_conf *c, char *err, size_t errlen)
{
	if (c->max_token_bytes < 64 || c->max_token_bytes > POLICY_JWT_TOKEN_MAX) {
		snprintf(err, errlen, "max_token_bytes: between 64 and %d", POLICY_JWT_TOKEN_MAX);
		return -1;
	}
	if (c->n_audiences > POLICY_JWT_AUD_MAX || c->n_forward > POLICY_JWT_FORWARD_MAX) {
		snprintf(err, errlen, "at most %d audiences and %d forwarded claims",
		    POLICY_JWT_AUD_MAX, POLICY_JWT_FORWARD_MAX);
		return -1;
	}
	for (size_t i = 0; i < c->n_audiences; i++)
		if (c->audiences[i] == NULL || c->audiences[i][0] == '\0') {
			snprintf(err, errlen, "audiences[%zu]: empty", i);
			return -1;
		}
	if (c->issuer != NULL && c->issuer[0] == '\0') {
		snprintf(err, errlen, "issuer: empty");
		return -1;
	}
	for (size_t i = 0; i < c->n_forward; i++) {
		const struct policy_jwt_forward *f = &c->forward[i];
		size_t hl = f->header != NULL ? strlen(f->header) : 0;

		if (f->claim == NULL || f->claim[0] == '\0' ||
		    strlen(f->claim) > JWT_CLAIM_NAME_MAX) {
			snprintf(err, errlen, "forward[%zu]: claim: 1 to %d bytes", i,
			    JWT_CLAIM_NAME_MAX);
			return -1;
		}
		if (hl == 0 || hl > 64) {
			snprintf(err, errlen, "forward[%zu]: header: 1 to 64 bytes", i);
			return -1;
		}
		for (size_t j = 0; j < hl; j++)
			if (!str_is_tchar((unsigned char)f->header[j])) {
				snprintf(err, errlen,
				    "forward[%zu]: header: \"%s\" is not a field name (RFC 9110 "
				    "§5.1)",
				    i, f->header);
				return -1;
			}
	}
	return 0;
}

/* ---- a strict, allocation-free JSON reader ---- */

struct jp {
	const unsigned char *p;
	size_t len, pos;
};

static void
jp_ws(struct jp *j)
{
	while (j->pos < j->len && (j->p[j->pos] == ' ' || j->p[j->pos] == '\t' ||
	                              j->p[j->pos] == '\n' || j->p[j->pos] == '\r'))
		j->pos++;
}

static int
jp_hex4(const unsigned char *p)
{
	int v = 0;

	for (int i = 0; i < 4; i++) {
		unsigned char c = p[i];
		int d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		v = v << 4 | d;
	}
	return v;
}

/* Length of the UTF-8 sequence at p (RFC 3629 §4), or 0 when invalid. */
static size_t
utf8_len(const unsigned char *p, size_t avail)
{
	unsigned char c = p[0];
	size_t n;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	if (n > avail)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

/* Appends a code point as UTF-8 to out when there is room; counts it in *n always. */
static void
put_cp(uint32_t cp, char *out, size_t max, size_t *n, bool *fits)
{
	unsigned char b[4];
	size_t k;

	if (cp < 0x80)
		b[0] = (unsigned char)cp, k = 1;
	else if (cp < 0x800)
		b[0] = (unsigned char)(0xc0 | cp >> 6), b[1] = (unsigned char)(0x80 | (cp & 0x3f)),
		k = 2;
	else if (cp < 0x10000)
		b[0] = (unsigned char)(0xe0 | cp >> 12),
		b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f)),
		b[2] = (unsigned char)(0x80 | (cp & 0x3f)), k = 3;
	else
		b[0] = (unsigned char)(0xf0 | cp >> 18),
		b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f)),
		b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f)),
		b[3] = (unsigned char)(0x80 | (cp & 0x3f)), k = 4;
	if (out != NULL && *n + k <= max)
		memcpy(out + *n, b, k);
	else
		*fits = false;
	*n += k;
}

/*
 * The string at j->pos ('"'), validated and, when out is given, decoded into
 * out[0..max) with its length in *outlen; *fits false when it did not fit.
 * False on invalid JSON.
 */
static bool
jp_string(struct jp *j, char *out, size_t max, size_t *outlen, bool *fits)
{
	size_t n = 0;
	bool dummy;

	if (fits == NULL)
		fits = &dummy;
	*fits = true;
	if (j->pos >= j->len || j->p[j->pos] != '"')
		return false;
	j->pos++;
	while (j->pos < j->len) {
		unsigned char c = j->p[j->pos];
		size_t k;

		if (c == '"') {
			j->pos++;
			if (outlen != NULL)
				*outlen = n;
			return true;
		}
		if (c < 0x20)
			return false;
		if (c == '\\') {
			uint32_t cp;
			int v;

			if (j->pos + 1 >= j->len)
				return false;
			c = j->p[j->pos + 1];
			j->pos += 2;
			switch (c) {
			case '"':
			case '\\':
			case '/':
				cp = c;
				break;
			case 'b':
				cp = '\b';
				break;
			case 'f':
				cp = '\f';
				break;
			case 'n':
				cp = '\n';
				break;
			case 'r':
				cp = '\r';
				break;
			case 't':
				cp = '\t';
				break;
			case 'u':
				if (j->len - j->pos < 4 || (v = jp_hex4(j->p + j->pos)) < 0)
					return false;
				j->pos += 4;
				cp = (uint32_t)v;
				if (cp >= 0xdc00 && cp <= 0xdfff)
					return false; /* a lone low surrogate */
				if (cp >= 0xd800 && cp <= 0xdbff) {
					if (j->len - j->pos < 6 || j->p[j->pos] != '\\' ||
					    j->p[j->pos + 1] != 'u' ||
					    (v = jp_hex4(j->p + j->pos + 2)) < 0xdc00 || v > 0xdfff)
						return false;
					j->pos += 6;
					cp = 0x10000 + ((cp - 0xd800) << 10) +
					     ((uint32_t)v - 0xdc00);
				}
				break;
			default:
				return false;
			}
			put_cp(cp, out, max, &n, fits);
			continue;
		}
		k = utf8_len(j->p + j->pos, j->len - j->pos);
		if (k == 0)
			return false;
		if (out != NULL && n + k <= max)
			memcpy(out + n, j->p + j->pos, k);
		else
			*fits = false;
		n += k;
		j->pos += k;
	}
	return false;
}

/* A number (RFC 8259 §6) at j->pos. */
static bool
jp_number(struct jp *j)
{
	size_t start;

	if (j->pos < j->len && j->p[j->pos] == '-')
		j->pos++;
	if (j->pos >= j->len)
		return false;
	if (j->p[j->pos] == '0') {
		j->pos++;
	} else if (j->p[j->pos] >= '1' && j->p[j->pos] <= '9') {
		while (j->pos < j->len && j->p[j->pos] >= '0' && j->p[j->pos] <= '9')
			j->pos++;
	} else {
		return false;
	}
	if (j->pos < j->len && j->p[j->pos] == '.') {
		start = ++j->pos;
		while (j->pos < j->len && j->p[j->pos] >= '0' && j->p[j->pos] <= '9')
			j->pos++;
		if (j->pos == start)
			return false;
	}
	if (j->pos < j->len && (j->p[j->pos] == 'e' || j->p[j->pos] == 'E')) {
		j->pos++;
		if (j->pos < j->len && (j->p[j->pos] == '+' || j->p[j->pos] == '-'))
			j->pos++;
		start = j->pos;
		while (j->pos < j->len && j->p[j->pos] >= '0' && j->p[j->pos] <= '9')
			j->pos++;
		if (j->pos == start)
			return false;
	}
	return true;
}

static bool
jp_lit(struct jp *j, const char *lit)
{
	size_t n = strlen(lit);

	if (j->len - j->pos < n || memcmp(j->p + j->pos, lit, n) != 0)
		return false;
	j->pos += n;
	return true;
}

/* Skips one value at j->pos (after white space), validating it. */
static bool
jp_value(struct jp *j, int depth)
{
	jp_ws(j);
	if (j->pos >= j->len)
		return false;
	switch (j->p[j->pos]) {
	case '"':
		return jp_string(j, NULL, 0, NULL, NULL);
	case 't':
		return jp_lit(j, "true");
	case 'f':
		return jp_lit(j, "false");
	case 'n':
		return jp_lit(j, "null");
	case '[':
	case '{': {
		bool obj = j->p[j->pos] == '{';
		unsigned char close = obj ? '}' : ']';

		if (depth >= POLICY_JWT_JSON_DEPTH)
			return false;
		j->pos++;
		jp_ws(j);
		if (j->pos < j->len && j->p[j->pos] == close) {
			j->pos++;
			return true;
		}
		for (;;) {
			if (obj) {
				jp_ws(j);
				if (!jp_string(j, NULL, 0, NULL, NULL))
					return false;
				jp_ws(j);
				if (j->pos >= j->len || j->p[j->pos] != ':')
					return false;
				j->pos++;
			}
			if (!jp_value(j, depth + 1))
				return false;
			jp_ws(j);
			if (j->pos >= j->len)
				return false;
			if (j->p[j->pos] == close) {
				j->pos++;
				return true;
			}
			if (j->p[j->pos] != ',')
				return false;
			j->pos++;
		}
	}
	default:
		return jp_number(j);
	}
}

/* One member of the top-level object: its decoded name and its value's bytes. */
struct jp_member {
	char name[JWT_CLAIM_NAME_MAX];
	size_t name_len;
	bool name_fits;
	struct jp value; /* [pos, len) is the value, white space trimmed */
};

/*
 * Iterates the members of the object in j: start with *state = 0 (checks the
 * '{'), then true per member, false at the end; *bad set on invalid JSON.
 * The object must be all of j, but for white space.
 */
static bool
jp_member_next(struct jp *j, int *state, struct jp_member *m, bool *bad)
{
	size_t vstart;

	jp_ws(j);
	if (*state == 0) {
		*state = 1;
		if (j->pos >= j->len || j->p[j->pos] != '{')
			goto bad;
		j->pos++;
		jp_ws(j);
		if (j->pos < j->len && j->p[j->pos] == '}') {
			j->pos++;
			goto end;
		}
	} else {
		if (j->pos >= j->len)
			goto bad;
		if (j->p[j->pos] == '}') {
			j->pos++;
			goto end;
		}
		if (j->p[j->pos] != ',')
			goto bad;
		j->pos++;
		jp_ws(j);
	}
	if (!jp_string(j, m->name, sizeof m->name, &m->name_len, &m->name_fits))
		goto bad;
	jp_ws(j);
	if (j->pos >= j->len || j->p[j->pos] != ':')
		goto bad;
	j->pos++;
	jp_ws(j);
	vstart = j->pos;
	if (!jp_value(j, 1))
		goto bad;
	m->value = (struct jp){j->p, j->pos, vstart};
	return true;
end:
	jp_ws(j);
	if (j->pos != j->len)
		goto bad;
	return false;
bad:
	*bad = true;
	return false;
}

static bool
member_is(const struct jp_member *m, const char *name)
{
	return m->name_fits && str_eq(str_make(m->name, m->name_len), str_cstr(name));
}

/* The string value v decoded into out; false when not a string or too long. */
static bool
value_string(struct jp v, char *out, size_t max, size_t *len)
{
	bool fits;

	return v.pos < v.len && v.p[v.pos] == '"' && jp_string(&v, out, max, len, &fits) && fits;
}

/* A NumericDate (RFC 7519 §2): any JSON number, as a double. */
static bool
value_number(struct jp v, double *out)
{
	char buf[64];
	size_t n = v.len - v.pos;
	char *end;

	if (n == 0 || n >= sizeof buf ||
	    !(v.p[v.pos] == '-' || (v.p[v.pos] >= '0' && v.p[v.pos] <= '9')))
		return false;
	memcpy(buf, v.p + v.pos, n);
	buf[n] = '\0';
	*out = strtod(buf, &end);
	return *end == '\0';
}

/* ---- the token ---- */

#define JWT_HEADER_MAX 2048 /* decoded bytes of a JOSE header */

static enum policy_jwt_result
jwt_header(const unsigned char *h, size_t len, enum policy_jwt_alg *alg, char *kid, size_t *kid_len,
    bool *has_kid)
{
	struct jp j = {h, len, 0};
	struct jp_member m;
	int state = 0;
	bool bad = false, has_alg = false;
	char name[16];
	size_t nl;

	*has_kid = false;
	while (jp_member_next(&j, &state, &m, &bad)) {
		if (member_is(&m, "alg")) {
			if (has_alg)
				return POLICY_JWT_BAD_JSON;
			has_alg = true;
			if (!value_string(m.value, name, sizeof name, &nl))
				return POLICY_JWT_BAD_ALG;
			if (str_eq(str_make(name, nl), STR_LIT("RS256")))
				*alg = POLICY_JWT_ALG_RS256;
			else if (str_eq(str_make(name, nl), STR_LIT("ES256")))
				*alg = POLICY_JWT_ALG_ES256;
			else if (str_eq(str_make(name, nl), STR_LIT("HS256")))
				*alg = POLICY_JWT_ALG_HS256;
			else /* "none" among them (RFC 7518 §3.6): never */
				return POLICY_JWT_BAD_ALG;
		} else if (member_is(&m, "kid")) {
			if (*has_kid)
				return POLICY_JWT_BAD_JSON;
			*has_kid = true;
			if (!value_string(m.value, kid, POLICY_JWKS_KID_MAX, kid_len))
				return POLICY_JWT_UNKNOWN_KEY; /* not a string we could hold */
		} else if (member_is(&m, "crit")) {
			/* RFC 7515 §4.1.11: extensions we do not know make it invalid. */
			return POLICY_JWT_MALFORMED;
		}
	}
	if (bad)
		return POLICY_JWT_BAD_JSON;
	if (!has_alg)
		return POLICY_JWT_BAD_ALG;
	return POLICY_JWT_OK;
}

/* aud (RFC 7519 §4.1.3): one string or an array of strings, one of them ours. */
static enum policy_jwt_result
jwt_audience(const struct policy_jwt_conf *c, struct jp v)
{
	char buf[512];
	size_t n;
	bool array = v.p[v.pos] == '[', match = false;

	if (array) {
		v.pos++;
		jp_ws(&v);
		if (v.pos < v.len && v.p[v.pos] == ']')
			return POLICY_JWT_BAD_AUDIENCE;
	}
	for (;;) {
		bool fits;

		jp_ws(&v);
		if (v.pos >= v.len || v.p[v.pos] != '"' ||
		    !jp_string(&v, buf, sizeof buf, &n, &fits))
			return POLICY_JWT_BAD_CLAIMS;
		for (size_t i = 0; fits && i < c->n_audiences; i++)
			if (str_eq(str_make(buf, n), str_cstr(c->audiences[i])))
				match = true;
		if (!array)
			break;
		jp_ws(&v);
		if (v.pos < v.len && v.p[v.pos] == ']')
			break;
		if (v.pos >= v.len || v.p[v.pos] != ',')
			return POLICY_JWT_BAD_CLAIMS;
		v.pos++;
	}
	return match ? POLICY_JWT_OK : POLICY_JWT_BAD_AUDIENCE;
}

/* A claim's value as a header value: strings decoded, numbers and booleans as written. */
static void
jwt_forward(
    struct policy_jwt_claims *out, const struct policy_jwt_forward *f, struct jp v, size_t *used)
{
	char *dst = out->buf + *used;
	size_t room = sizeof out->buf - *used, n;

	if (room > POLICY_JWT_CLAIM_MAX)
		room = POLICY_JWT_CLAIM_MAX;
	if (v.p[v.pos] == '"') {
		if (!value_string(v, dst, room, &n))
			return;
	} else if (v.p[v.pos] == '-' || (v.p[v.pos] >= '0' && v.p[v.pos] <= '9') ||
	           v.p[v.pos] == 't' || v.p[v.pos] == 'f') {
		n = v.len - v.pos;
		if (n > room)
			return;
		memcpy(dst, v.p + v.pos, n);
	} else {
		return; /* null, objects and arrays are not forwarded */
	}
	/* Header hygiene: no CR, LF, NUL or other control byte (RFC 9110 §5.5). */
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)dst[i] < 0x20 || dst[i] == 0x7f)
			return;
	while (n > 0 && (dst[n - 1] == ' '))
		n--;
	if (n == 0)
		return;
	out->fields[out->n].header = f->header;
	out->fields[out->n].value = str_make(dst, n);
	out->n++;
	*used += n;
}

static enum policy_jwt_result
jwt_claims(const struct policy_jwt_conf *c, const unsigned char *p, size_t len, int64_t now_s,
    struct policy_jwt_claims *out)
{
	struct jp j = {p, len, 0};
	struct jp_member m;
	int state = 0;
	bool bad = false, has_exp = false, has_nbf = false, has_aud = false, has_iss = false;
	bool fwd_seen[POLICY_JWT_FORWARD_MAX] = {false};
	struct jp fwd[POLICY_JWT_FORWARD_MAX];
	double exp = 0, nbf = 0, now = (double)now_s;
	enum policy_jwt_result res = POLICY_JWT_OK;
	size_t used = 0;

	while (res == POLICY_JWT_OK && jp_member_next(&j, &state, &m, &bad)) {
		for (size_t i = 0; i < c->n_forward; i++)
			if (member_is(&m, c->forward[i].claim)) {
				if (fwd_seen[i])
					res = POLICY_JWT_BAD_JSON;
				fwd_seen[i] = true;
				fwd[i] = m.value;
			}
		if (member_is(&m, "exp")) {
			if (has_exp)
				return POLICY_JWT_BAD_JSON;
			has_exp = true;
			if (!value_number(m.value, &exp))
				return POLICY_JWT_BAD_CLAIMS;
		} else if (member_is(&m, "nbf")) {
			if (has_nbf)
				return POLICY_JWT_BAD_JSON;
			has_nbf = true;
			if (!value_number(m.value, &nbf))
				return POLICY_JWT_BAD_CLAIMS;
		} else if (member_is(&m, "aud")) {
			if (has_aud)
				return POLICY_JWT_BAD_JSON;
			has_aud = true;
			if (c->n_audiences > 0)
				res = jwt_audience(c, m.value);
		} else if (member_is(&m, "iss")) {
			char buf[512];
			size_t n;

			if (has_iss)
				return POLICY_JWT_BAD_JSON;
			has_iss = true;
			if (m.value.p[m.value.pos] != '"')
				return POLICY_JWT_BAD_CLAIMS;
			if (c->issuer != NULL &&
			    (!value_string(m.value, buf, sizeof buf, &n) ||
			        !str_eq(str_make(buf, n), str_cstr(c->issuer))))
				res = POLICY_JWT_BAD_ISSUER;
		}
	}
	if (bad)
		return POLICY_JWT_BAD_JSON;
	if (res == POLICY_JWT_BAD_JSON || res == POLICY_JWT_BAD_CLAIMS)
		return res;
	/* RFC 7519 §4.1.4: the current time must be before exp; §4.1.5: not before nbf. */
	if (!has_exp && c->require_exp)
		return POLICY_JWT_BAD_CLAIMS;
	if (has_exp && !(now < exp + (double)c->leeway_s))
		return POLICY_JWT_EXPIRED;
	if (has_nbf && !(now + (double)c->leeway_s >= nbf))
		return POLICY_JWT_NOT_YET_VALID;
	if (res != POLICY_JWT_OK)
		return res;
	if (c->n_audiences > 0 && !has_aud)
		return POLICY_JWT_BAD_AUDIENCE;
	if (c->issuer != NULL && !has_iss)
		return POLICY_JWT_BAD_ISSUER;
	if (out != NULL) {
		out->n = 0;
		out->exp = has_exp ? (exp >= 9.2e18 ? INT64_MAX : (int64_t)exp) : 0;
		for (size_t i = 0; i < c->n_forward; i++)
			if (fwd_seen[i])
				jwt_forward(out, &c->forward[i], fwd[i], &used);
	}
	return POLICY_JWT_OK;
}

static bool
b64url_part(struct str s)
{
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		        c == '-' || c == '_'))
			return false;
	}
	return s.len > 0;
}

enum policy_jwt_result
policy_jwt_verify(const struct policy_jwks *ks, const struct policy_jwt_conf *c, struct str token,
    int64_t now_s, struct policy_jwt_claims *out)
{
	unsigned char header[JWT_HEADER_MAX], sig[1024 + 3];
	unsigned char payload[POLICY_JWT_TOKEN_MAX / 4 * 3 + 3];
	size_t max = c->max_token_bytes, kid_len = 0;
	const char *dot1, *dot2;
	struct str ph, pp, ps;
	char kid[POLICY_JWKS_KID_MAX];
	enum policy_jwt_alg alg = POLICY_JWT_ALG_RS256;
	enum policy_jwt_result res;
	const struct policy_jwk *key;
	bool has_kid;
	int hl, pl, sl;

	if (out != NULL)
		out->n = 0;
	if (token.len == 0)
		return POLICY_JWT_MISSING;
	if (max == 0 || max > POLICY_JWT_TOKEN_MAX)
		max = POLICY_JWT_TOKEN_MAX;
	if (token.len > max)
		return POLICY_JWT_TOO_LARGE;
	dot1 = memchr(token.p, '.', token.len);
	dot2 =
	    dot1 != NULL ? memchr(dot1 + 1, '.', token.len - (size_t)(dot1 + 1 - token.p)) : NULL;
	if (dot2 == NULL)
		return POLICY_JWT_MALFORMED;
	ph = str_make(token.p, (size_t)(dot1 - token.p));
	pp = str_make(dot1 + 1, (size_t)(dot2 - dot1 - 1));
	ps = str_make(dot2 + 1, token.len - (size_t)(dot2 + 1 - token.p));
	/*
	 * Exactly three parts of base64url characters (a fourth '.' fails here
	 * too); the signature may be empty so that "alg":"none" is refused as
	 * such, and an empty signature under a real alg fails to verify.
	 */
	if (!b64url_part(ph) || !b64url_part(pp) || (ps.len > 0 && !b64url_part(ps)))
		return POLICY_JWT_MALFORMED;
	hl = policy_b64_decode(ph, POLICY_B64_URL, header, sizeof header);
	if (hl < 0)
		return POLICY_JWT_MALFORMED;
	res = jwt_header(header, (size_t)hl, &alg, kid, &kid_len, &has_kid);
	if (res != POLICY_JWT_OK)
		return res;
	/* the bits follow enum policy_jwt_alg */
	if (c->algs != 0 && (c->algs & (1u << alg)) == 0)
		return POLICY_JWT_BAD_ALG;
	res = policy_jwks_select(ks, has_kid ? str_make(kid, kid_len) : STR_NULL, alg, &key);
	if (res != POLICY_JWT_OK)
		return res;
	sl = policy_b64_decode(ps, POLICY_B64_URL, sig, sizeof sig);
	if (sl < 0)
		return POLICY_JWT_MALFORMED;
	/* RFC 7515 §5.2: the signing input is the first two parts as sent. */
	if (!policy_jwk_verify(key, alg, (const unsigned char *)token.p, (size_t)(dot2 - token.p),
	        sig, (size_t)sl))
		return POLICY_JWT_BAD_SIGNATURE;
	pl = policy_b64_decode(pp, POLICY_B64_URL, payload, sizeof payload);
	if (pl < 0)
		return POLICY_JWT_MALFORMED;
	return jwt_claims(c, payload, (size_t)pl, now_s, out);
}

enum policy_jwt_result
policy_jwt_bearer(struct str value, struct str *token)
{
	struct str v = str_trim_ows(value), t;
	size_t i, eq = 0;

	if (v.len < 6 || !str_eq_nocase(str_make(v.p, 6), STR_LIT("Bearer")))
		return POLICY_JWT_MISSING;
	if (v.len == 6)
		return POLICY_JWT_MALFORMED;
	if (v.p[6] != ' ')
		return POLICY_JWT_MISSING; /* "Bearerx": another scheme */
	for (i = 6; i < v.len && v.p[i] == ' '; i++)
		;
	t = str_make(v.p + i, v.len - i);
	if (t.len == 0)
		return POLICY_JWT_MALFORMED;
	/* token68 (RFC 9110 §11.2): 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" */
	for (i = 0; i < t.len; i++) {
		unsigned char c = (unsigned char)t.p[i];

		if (c == '=') {
			eq++;
			continue;
		}
		if (eq > 0 ||
		    !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		        c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/'))
			return POLICY_JWT_MALFORMED;
	}
	if (eq == t.len)
		return POLICY_JWT_MALFORMED;
	*token = t;
	return POLICY_JWT_OK;
}
