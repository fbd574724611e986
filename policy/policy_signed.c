/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * policy/policy_signed.c — signed URLs: HMAC-SHA256 over a path (or a path
 * prefix), an expiry, a key id and optionally the client address, carried in
 * the query as exp=, kid=, sig= and optional ip= and prefix=
 * (doc/protected-content.md gives the format and the string to sign).
 *
 * Model: a key file is read once into an immutable, refcounted set; each
 * key's HMAC is keyed at load (policy_hmac_prepare; each thread then keys
 * its own context from it once), so the set is shared by every worker
 * without a lock.
 * A verification parses the query in place, decodes the five parameters into
 * stack buffers, builds the string to sign on the stack and compares MACs with
 * CRYPTO_memcmp: no allocation of its own, nothing written outside its frame.
 *
 * The signature covers a field naming what it grants ("path" or "prefix"), so
 * a URL signed for the single resource "/a/" cannot be replayed as a grant
 * for the whole folder by adding prefix=/a/.  Only an authentic URL is judged
 * on its expiry, address and prefix, so the log's reasons are about URLs the
 * signer issued.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/xmalloc.h"
#include "policy/policy_token.h"
#include "policy/policy_token_int.h"

static const char *const signed_texts[] = {
#define SIGNED_X_TEXT(name, text, label) text,
    POLICY_SIGNED_RESULTS(SIGNED_X_TEXT)
#undef SIGNED_X_TEXT
};
static const char *const signed_labels[] = {
#define SIGNED_X_LABEL(name, text, label) label,
    POLICY_SIGNED_RESULTS(SIGNED_X_LABEL)
#undef SIGNED_X_LABEL
};

const char *
policy_signed_strerror(enum policy_signed_result r)
{
	return (unsigned)r < POLICY_SIGNED_N_RESULTS ? signed_texts[r] : "unknown";
}

const char *
policy_signed_label(enum policy_signed_result r)
{
	return (unsigned)r < POLICY_SIGNED_N_RESULTS ? signed_labels[r] : "unknown";
}

void
policy_signed_conf_defaults(struct policy_signed_conf *c)
{
	memset(c, 0, sizeof *c);
	c->leeway_s = 0;
	c->strip_from_origin = true;
}

/* ---- key sets ---- */

struct signed_key {
	char kid[POLICY_SIGNED_KID_MAX + 1];
	size_t kid_len;
	struct policy_hmac *mac; /* keyed at load */
};

struct policy_signed_keys {
	atomic_uint refs;
	size_t n;
	struct signed_key keys[POLICY_SIGNED_KEYS_MAX];
};

static bool
kid_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

static bool
kid_valid(struct str kid)
{
	if (kid.len == 0 || kid.len > POLICY_SIGNED_KID_MAX)
		return false;
	for (size_t i = 0; i < kid.len; i++)
		if (!kid_char((unsigned char)kid.p[i]))
			return false;
	return true;
}

static void
keys_free(struct policy_signed_keys *ks)
{
	for (size_t i = 0; i < ks->n; i++)
		policy_hmac_free(ks->keys[i].mac);
	OPENSSL_cleanse(ks, sizeof *ks);
	free(ks);
}

/* One line's fields, split on SP / HTAB; false when there are more than max. */
static bool
split_fields(struct str line, struct str *f, size_t max, size_t *n)
{
	size_t i = 0;

	*n = 0;
	while (i < line.len) {
		size_t start;

		while (i < line.len && (line.p[i] == ' ' || line.p[i] == '\t'))
			i++;
		if (i == line.len)
			break;
		if (*n == max)
			return false;
		start = i;
		while (i < line.len && line.p[i] != ' ' && line.p[i] != '\t')
			i++;
		f[(*n)++] = str_make(line.p + start, i - start);
	}
	return true;
}

static int
keys_parse_line(struct policy_signed_keys *ks, struct str line, const char **why)
{
	unsigned char secret[POLICY_SIGNED_SECRET_MAX + 3];
	struct str f[2];
	size_t nf;
	int len;
	struct signed_key *k;

	if (!split_fields(line, f, 2, &nf) || nf != 2) {
		*why = "expected \"kid secret\"";
		return -1;
	}
	if (!kid_valid(f[0])) {
		*why = "kid: 1 to 32 of A-Z a-z 0-9 . _ -";
		return -1;
	}
	for (size_t i = 0; i < ks->n; i++)
		if (str_eq(f[0], str_make(ks->keys[i].kid, ks->keys[i].kid_len))) {
			*why = "kid already defined";
			return -1;
		}
	if (ks->n == POLICY_SIGNED_KEYS_MAX) {
		*why = "more than 64 keys";
		return -1;
	}
	len = policy_b64_decode(f[1], POLICY_B64_ANY, secret, sizeof secret);
	if (len < 0) {
		*why = "secret: not base64";
		return -1;
	}
	if (len < POLICY_SIGNED_SECRET_MIN || len > POLICY_SIGNED_SECRET_MAX) {
		OPENSSL_cleanse(secret, sizeof secret);
		*why = "secret: 32 to 128 bytes once decoded";
		return -1;
	}
	k = &ks->keys[ks->n];
	k->mac = policy_hmac_prepare(secret, (size_t)len);
	OPENSSL_cleanse(secret, sizeof secret);
	if (k->mac == NULL) {
		*why = "OpenSSL cannot key HMAC-SHA256";
		return -1;
	}
	memcpy(k->kid, f[0].p, f[0].len);
	k->kid[f[0].len] = '\0';
	k->kid_len = f[0].len;
	ks->n++;
	return 0;
}

int
policy_signed_keys_parse(const char *name, const char *text, size_t len,
    struct policy_signed_keys **out, char *err, size_t errlen)
{
	struct policy_signed_keys *ks = xcalloc(1, sizeof *ks);
	size_t pos = 0;
	unsigned lineno = 0;

	atomic_init(&ks->refs, 1);
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl != NULL ? (size_t)(nl - text) : len;
		struct str line = str_trim_ows(str_make(text + pos, end - pos));
		const char *why = NULL;

		lineno++;
		pos = end + 1;
		if (line.len > 0 && line.p[line.len - 1] == '\r')
			line = str_trim_ows(str_make(line.p, line.len - 1));
		if (line.len == 0 || line.p[0] == '#')
			continue;
		if (memchr(line.p, '\0', line.len) != NULL ||
		    keys_parse_line(ks, line, &why) != 0) {
			snprintf(
			    err, errlen, "%s:%u: %s", name, lineno, why != NULL ? why : "NUL byte");
			keys_free(ks);
			return -1;
		}
	}
	if (ks->n == 0) {
		snprintf(err, errlen, "%s: no keys", name);
		keys_free(ks);
		return -1;
	}
	*out = ks;
	return 0;
}

int
policy_signed_keys_load(const char *path, struct policy_signed_keys **out, char *err, size_t errlen)
{
	char *text;
	size_t len;
	int rc;

	/* 64 keys of at most ~220 bytes, with room for comments. */
	if (policy_read_file(path, 256 * 1024, &text, &len, err, errlen) != 0)
		return -1;
	rc = policy_signed_keys_parse(path, text, len, out, err, errlen);
	OPENSSL_cleanse(text, len);
	free(text);
	return rc;
}

size_t
policy_signed_keys_count(const struct policy_signed_keys *ks)
{
	return ks->n;
}

struct policy_signed_keys *
policy_signed_keys_ref(struct policy_signed_keys *ks)
{
	atomic_fetch_add_explicit(&ks->refs, 1, memory_order_relaxed);
	return ks;
}

void
policy_signed_keys_unref(struct policy_signed_keys **ksp)
{
	struct policy_signed_keys *ks = *ksp;

	if (ks == NULL)
		return;
	*ksp = NULL;
	if (atomic_fetch_sub_explicit(&ks->refs, 1, memory_order_acq_rel) == 1)
		keys_free(ks);
}

int
policy_signed_keys_reload(
    struct policy_signed_keys **slot, const char *path, char *err, size_t errlen)
{
	struct policy_signed_keys *fresh;

	if (policy_signed_keys_load(path, &fresh, err, errlen) != 0)
		return -1;
	policy_signed_keys_unref(slot);
	*slot = fresh;
	return 0;
}

static const struct signed_key *
keys_find(const struct policy_signed_keys *ks, struct str kid)
{
	for (size_t i = 0; i < ks->n; i++)
		if (str_eq(kid, str_make(ks->keys[i].kid, ks->keys[i].kid_len)))
			return &ks->keys[i];
	return NULL;
}

/* ---- the query ---- */

enum signed_param {
	PARAM_EXP = 0,
	PARAM_KID,
	PARAM_SIG,
	PARAM_IP,
	PARAM_PREFIX,
	PARAM_N,
};

static const struct {
	const char *name;
	size_t max; /* decoded bytes */
} signed_params[PARAM_N] = {
    [PARAM_EXP] = {"exp", 19},
    [PARAM_KID] = {"kid", POLICY_SIGNED_KID_MAX},
    [PARAM_SIG] = {"sig", 64},
    [PARAM_IP] = {"ip", INET6_ADDRSTRLEN - 1},
    [PARAM_PREFIX] = {"prefix", POLICY_SIGNED_PREFIX_MAX},
};

static int
hex_val(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Percent-decodes in (RFC 3986 §2.1; '+' stays '+') into out; the length, or
 * -1 for a broken escape or more than max bytes.
 */
static ssize_t
pct_decode(struct str in, char *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < in.len; i++) {
		unsigned char c = (unsigned char)in.p[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= in.len)
				return -1;
			hi = hex_val((unsigned char)in.p[i + 1]);
			lo = hex_val((unsigned char)in.p[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		}
		if (n == max)
			return -1;
		out[n++] = (char)c;
	}
	return (ssize_t)n;
}

/* Which signature parameter a raw name is (escapes decoded), or PARAM_N. */
static enum signed_param
param_of(struct str name)
{
	char buf[8];
	ssize_t n = pct_decode(name, buf, sizeof buf);

	if (n <= 0)
		return PARAM_N;
	for (int i = 0; i < PARAM_N; i++)
		if (str_eq(str_make(buf, (size_t)n), str_cstr(signed_params[i].name)))
			return (enum signed_param)i;
	return PARAM_N;
}

bool
policy_signed_is_param(struct str name)
{
	return param_of(name) != PARAM_N;
}

/* Yields the next '&'-separated parameter of q from *pos, split at its first '='. */
static bool
query_next(struct str q, size_t *pos, struct str *param, struct str *name, struct str *value)
{
	const char *amp, *eq;
	size_t end;

	if (*pos > q.len || q.len == 0)
		return false;
	amp = memchr(q.p + *pos, '&', q.len - *pos);
	end = amp != NULL ? (size_t)(amp - q.p) : q.len;
	*param = str_make(q.p + *pos, end - *pos);
	*pos = end + 1;
	eq = param->len > 0 ? memchr(param->p, '=', param->len) : NULL;
	if (eq != NULL) {
		*name = str_make(param->p, (size_t)(eq - param->p));
		*value = str_make(eq + 1, param->len - name->len - 1);
	} else {
		*name = *param;
		*value = str_make(param->p + param->len, 0);
	}
	return true;
}

int
policy_signed_strip(struct str query, char *out, size_t outlen)
{
	size_t pos = 0, n = 0;
	struct str param, name, value;

	if (outlen == 0)
		return -1;
	while (query_next(query, &pos, &param, &name, &value)) {
		if (param_of(name) != PARAM_N)
			continue;
		if (n + (n > 0) + param.len + 1 > outlen)
			return -1;
		if (n > 0)
			out[n++] = '&';
		if (param.len > 0)
			memcpy(out + n, param.p, param.len);
		n += param.len;
	}
	out[n] = '\0';
	return (int)n;
}

static bool
has_ctl(struct str s)
{
	for (size_t i = 0; i < s.len; i++)
		if ((unsigned char)s.p[i] < 0x20 || (unsigned char)s.p[i] == 0x7f)
			return true;
	return false;
}

int
policy_signed_string_to_sign(bool prefix, struct str resource, struct str exp, struct str kid,
    struct str ip, char *out, size_t outlen)
{
	const struct str parts[] = {STR_LIT(POLICY_SIGNED_CONTEXT),
	    prefix ? STR_LIT("prefix") : STR_LIT("path"), resource, exp, kid, ip};
	size_t n = 0;

	for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
		if (has_ctl(parts[i]) || n + (i > 0) + parts[i].len + 1 > outlen)
			return -1;
		if (i > 0)
			out[n++] = '\n';
		if (parts[i].len > 0)
			memcpy(out + n, parts[i].p, parts[i].len);
		n += parts[i].len;
	}
	out[n] = '\0';
	return (int)n;
}

/* Decoded parameters of one URL: views into bufs[i]. */
struct signed_parsed {
	struct str v[PARAM_N];
	bool seen[PARAM_N];
	char exp[20], kid[POLICY_SIGNED_KID_MAX], sig[64], ip[INET6_ADDRSTRLEN];
	char prefix[POLICY_SIGNED_PREFIX_MAX];
};

static enum policy_signed_result
signed_parse(struct str query, struct signed_parsed *sp)
{
	char *bufs[PARAM_N] = {sp->exp, sp->kid, sp->sig, sp->ip, sp->prefix};
	struct str param, name, value;
	size_t pos = 0;
	bool any = false;

	memset(sp->seen, 0, sizeof sp->seen);
	while (query_next(query, &pos, &param, &name, &value)) {
		enum signed_param which = param_of(name);
		ssize_t n;

		if (which == PARAM_N)
			continue;
		any = true;
		if (sp->seen[which]) /* twice: which one was signed? */
			return POLICY_SIGNED_MALFORMED;
		n = pct_decode(value, bufs[which], signed_params[which].max);
		if (n <= 0)
			return POLICY_SIGNED_MALFORMED;
		sp->seen[which] = true;
		sp->v[which] = str_make(bufs[which], (size_t)n);
	}
	if (!any)
		return POLICY_SIGNED_MISSING;
	if (!sp->seen[PARAM_EXP] || !sp->seen[PARAM_KID] || !sp->seen[PARAM_SIG])
		return POLICY_SIGNED_MALFORMED;
	if (!kid_valid(sp->v[PARAM_KID]))
		return POLICY_SIGNED_MALFORMED;
	if (sp->seen[PARAM_PREFIX] &&
	    (sp->v[PARAM_PREFIX].p[0] != '/' || has_ctl(sp->v[PARAM_PREFIX])))
		return POLICY_SIGNED_MALFORMED;
	if (sp->seen[PARAM_IP] && has_ctl(sp->v[PARAM_IP]))
		return POLICY_SIGNED_MALFORMED;
	return POLICY_SIGNED_OK;
}

/* Binary form of a textual address (IPv4-mapped IPv6 as IPv4); its length or 0. */
static size_t
addr_parse(struct str s, unsigned char out[16])
{
	char buf[INET6_ADDRSTRLEN];
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (str_copy(s, buf, sizeof buf) != 0)
		return 0;
	if (inet_pton(AF_INET, buf, out) == 1)
		return 4;
	if (inet_pton(AF_INET6, buf, out) != 1)
		return 0;
	if (memcmp(out, mapped, sizeof mapped) == 0) {
		memmove(out, out + 12, 4);
		return 4;
	}
	return 16;
}

enum policy_signed_result
policy_signed_verify(const struct policy_signed_keys *ks, const struct policy_signed_conf *c,
    const struct policy_signed_req *r)
{
	struct signed_parsed sp;
	unsigned char sig[POLICY_HMAC_LEN + 3], mac[POLICY_HMAC_LEN];
	unsigned char want_ip[16], got_ip[16];
	char tosign[POLICY_SIGNED_PATH_MAX + 256];
	const struct signed_key *k;
	enum policy_signed_result res;
	bool prefix;
	uint64_t exp;
	int n;

	res = signed_parse(r->query, &sp);
	if (res != POLICY_SIGNED_OK)
		return res;
	if (str_to_u64(sp.v[PARAM_EXP], &exp) != 0 || exp > INT64_MAX)
		return POLICY_SIGNED_MALFORMED;
	if (policy_b64_decode(sp.v[PARAM_SIG], POLICY_B64_URL, sig, sizeof sig) != POLICY_HMAC_LEN)
		return POLICY_SIGNED_MALFORMED;
	if (sp.seen[PARAM_IP] && addr_parse(sp.v[PARAM_IP], want_ip) == 0)
		return POLICY_SIGNED_MALFORMED;
	k = keys_find(ks, sp.v[PARAM_KID]);
	if (k == NULL)
		return POLICY_SIGNED_UNKNOWN_KEY;

	prefix = sp.seen[PARAM_PREFIX];
	n = policy_signed_string_to_sign(prefix, prefix ? sp.v[PARAM_PREFIX] : r->path,
	    sp.v[PARAM_EXP], sp.v[PARAM_KID], sp.seen[PARAM_IP] ? sp.v[PARAM_IP] : STR_NULL, tosign,
	    sizeof tosign);
	if (n < 0) /* a path too long to have been signed, or with a control byte */
		return POLICY_SIGNED_BAD_SIGNATURE;
	if (!policy_hmac(k->mac, (const unsigned char *)tosign, (size_t)n, mac))
		return POLICY_SIGNED_BAD_SIGNATURE;
	if (CRYPTO_memcmp(mac, sig, POLICY_HMAC_LEN) != 0)
		return POLICY_SIGNED_BAD_SIGNATURE;

	if (r->now_s < 0 || (uint64_t)r->now_s > exp + c->leeway_s)
		return POLICY_SIGNED_EXPIRED;
	if (sp.seen[PARAM_IP]) {
		size_t wl = addr_parse(sp.v[PARAM_IP], want_ip),
		       gl = addr_parse(r->client_ip, got_ip);

		if (gl != wl || memcmp(want_ip, got_ip, wl) != 0)
			return POLICY_SIGNED_WRONG_IP;
	}
	if (prefix && !str_has_prefix(r->path, sp.v[PARAM_PREFIX]))
		return POLICY_SIGNED_WRONG_PREFIX;
	return POLICY_SIGNED_OK;
}
