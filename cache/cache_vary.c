/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cache/cache_vary.c — Vary variants (RFC 9111 §4.1) over the two tiers, and
 * the store / lookup / invalidate entry points the edge uses.
 *
 * Key layout (the same strings in the RAM and the disk tier, so variants
 * survive a restart with nothing added to either tier):
 *   K            the URL key: either a plain stored response (no Vary), or
 *                the URL's variant index, an object whose head is
 *                "OUTPOST-VARY" CRLF "Vary: <names>" CRLF "Variants: <ids>"
 *                CRLF (no body; a head no origin response can have, since
 *                those start with "HTTP/");
 *   K US <id>    one variant (US = 0x1f, which no key contains): <id> is 32
 *                hex digits, the first 128 bits of a SHA-256 of the
 *                request's normalized selecting header values (vary_id).
 * <names> are the Vary field names lower-cased, sorted, without duplicates;
 * <ids> the listed variants, comma-separated, oldest first, at most
 * CACHE_VARY_MAX.
 *
 * A lookup is at most two probes per tier: K, then (when K is an index) the
 * variant whose id the request selects, and only when the index lists it.
 * Whatever is not listed is never served: a variant whose index was replaced
 * (Vary names changed, a plain response stored, an invalidation) is an
 * orphan that only a later store of the same id can bring back.  So
 * invalidating K only has to remove K; removing the listed variants as well
 * frees their space.
 *
 * Selecting values (§4.1): every request field line of a name, split as a
 * list, each member's OWS trimmed, joined by ","; an absent field differs
 * from an empty one.  Accept-Encoding is reduced to the set of content
 * codings the client names as acceptable (q > 0) and those it refuses by
 * name (q = 0) where that differs from not naming them (identity, "*", and
 * any coding when "*" accepts the rest), sorted ("x-gzip" is gzip): so
 * equivalent spellings share a variant, and a client that refuses a coding
 * ("*, zstd;q=0") never shares one with a client that takes it ("*");
 * Accept-Language is compared without case (RFC 4647 §2: language
 * ranges are case-insensitive; RFC 9110 §12.4.2: so is "q").
 *
 * Nothing with a Vary is stored under K (cache_store drops a plain response
 * that gained one from a 304), so a RAM hit on K needs no Vary check; a disk
 * hit is checked once, for objects written by an older layout.
 *
 * Any thread.  A lookup takes no lock of its own (the tiers lock
 * themselves) and does not allocate unless a tier does (a disk hit copies
 * the object out).  A store or an invalidation reads the URL's index, then
 * writes a new one: it holds the URL's stripe lock (one of VARY_STRIPES,
 * chosen by the URL key's hash) across that, so two workers storing
 * variants of one URL at once both stay listed.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "cache/cache.h"
#include "cache/cache_int.h"
#include "core/assert.h"

#define VARY_SEP         '\x1f'
#define VARY_ID_LEN      32
#define VARY_INDEX_LINE  "OUTPOST-VARY\r\n"
#define VARY_INDEX_TTL_S (365 * 86400) /* the index lives until replaced or evicted */
#define VARY_NAME_MAX    64            /* bytes of one field name */
#define VARY_NAMES_BUF   (CACHE_VARY_NAMES_MAX * (VARY_NAME_MAX + 2))
#define VARY_INDEX_BUF   (VARY_NAMES_BUF + CACHE_VARY_MAX * (VARY_ID_LEN + 2) + 64)
#define VARY_STRIPES     64 /* locks serializing index updates, by URL key */

/* ---- index update locks ---- */

static pthread_mutex_t vary_stripe[VARY_STRIPES];
static pthread_once_t vary_stripe_once = PTHREAD_ONCE_INIT;
/* Bumped under the stripe's lock by each invalidation, after its removes are
 * queued: a lookup that read an object from disk promotes it only if no
 * invalidation of its stripe ended since the lookup began. */
static atomic_uint_least64_t vary_invalidations[VARY_STRIPES];

static void
vary_stripe_init(void)
{
	for (size_t i = 0; i < VARY_STRIPES; i++)
		ASSERT(pthread_mutex_init(&vary_stripe[i], NULL) == 0);
}

static size_t
vary_stripe_of(const char *key, size_t key_len)
{
	return (size_t)(cache_hash(key, key_len) % VARY_STRIPES);
}

/* Locks stripe (vary_stripe_of a URL key) and returns it (the caller unlocks
 * it). */
static pthread_mutex_t *
vary_lock(size_t stripe)
{
	pthread_mutex_t *m;

	(void)pthread_once(&vary_stripe_once, vary_stripe_init);
	m = &vary_stripe[stripe];
	pthread_mutex_lock(m);
	return m;
}

/* Promotes o, read from disk by a lookup of a URL key of stripe that began
 * when the stripe's invalidation count was gen, unless an invalidation ended
 * since (o may be what it removed). */
static void
vary_promote(struct cache_ram *ram, struct cache_obj *o, size_t stripe, uint64_t gen)
{
	pthread_mutex_t *m = vary_lock(stripe);

	if (atomic_load(&vary_invalidations[stripe]) == gen)
		cache_ram_promote(ram, o);
	pthread_mutex_unlock(m);
}

/* ---- selecting header values ---- */

/*
 * The variant id is the first 128 bits of a SHA-256 of the selecting values:
 * a request crafted to select another variant's id (and be served it, or
 * store its own response as it) would need a SHA-256 collision.  The bytes
 * are gathered in buf and digested in pieces; each thread keeps one digest
 * context (vary_ctx_key), made on its first id.
 */
struct vary_hash {
	EVP_MD_CTX *ctx;
	size_t n;
	unsigned char buf[512];
};

static pthread_once_t vary_md_once = PTHREAD_ONCE_INIT;
static EVP_MD *vary_md;
static pthread_key_t vary_ctx_key;

static void
vary_ctx_free(void *ctx)
{
	EVP_MD_CTX_free(ctx);
}

static void
vary_md_init(void)
{
	vary_md = EVP_MD_fetch(NULL, "SHA256", NULL);
	ASSERT(vary_md != NULL);
	ASSERT(pthread_key_create(&vary_ctx_key, vary_ctx_free) == 0);
}

static void
vary_hash_init(struct vary_hash *h)
{
	ASSERT(pthread_once(&vary_md_once, vary_md_init) == 0);
	h->ctx = pthread_getspecific(vary_ctx_key);
	if (h->ctx == NULL) {
		h->ctx = EVP_MD_CTX_new();
		ASSERT(h->ctx != NULL && pthread_setspecific(vary_ctx_key, h->ctx) == 0);
	}
	ASSERT(EVP_DigestInit_ex(h->ctx, vary_md, NULL) == 1);
	h->n = 0;
}

static void
vary_hash_add(struct vary_hash *h, const char *p, size_t n)
{
	while (n > 0) {
		size_t k = n < sizeof h->buf - h->n ? n : sizeof h->buf - h->n;

		memcpy(h->buf + h->n, p, k);
		h->n += k;
		p += k;
		n -= k;
		if (h->n == sizeof h->buf) {
			ASSERT(EVP_DigestUpdate(h->ctx, h->buf, h->n) == 1);
			h->n = 0;
		}
	}
}

/* vary_hash_add of p with ASCII letters lower-cased. */
static void
vary_hash_add_lower(struct vary_hash *h, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = (char)str_lower((unsigned char)p[i]);

		vary_hash_add(h, &c, 1);
	}
}

/* The id: VARY_ID_LEN hex digits of the digest's first bytes, and a NUL. */
static void
vary_hash_final(struct vary_hash *h, char *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned dl = 0;

	ASSERT(EVP_DigestUpdate(h->ctx, h->buf, h->n) == 1 &&
	       EVP_DigestFinal_ex(h->ctx, d, &dl) == 1 && dl * 2 >= VARY_ID_LEN);
	for (size_t i = 0; i < VARY_ID_LEN / 2; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[VARY_ID_LEN] = '\0';
}

/* The content codings Accept-Encoding is reduced to (bit per coding). */
static const struct str vary_codings[] = {
    STR_LIT("br"),
    STR_LIT("compress"),
    STR_LIT("deflate"),
    STR_LIT("gzip"),
    STR_LIT("identity"),
    STR_LIT("zstd"),
    STR_LIT("*"),
};

/* Is the member's q parameter (if any) above zero: a digit 1-9 in it? */
static bool
vary_q_positive(struct str params)
{
	size_t i = 0;

	while (i < params.len) {
		struct str p;
		const char *semi = memchr(params.p + i, ';', params.len - i);
		size_t end = semi != NULL ? (size_t)(semi - params.p) : params.len;

		p = str_trim_ows(str_make(params.p + i, end - i));
		if (p.len >= 2 && (p.p[0] == 'q' || p.p[0] == 'Q') && p.p[1] == '=') {
			for (size_t k = 2; k < p.len; k++)
				if (p.p[k] >= '1' && p.p[k] <= '9')
					return true;
			return false;
		}
		i = end + 1;
	}
	return true;
}

#define VARY_CODINGS_N (sizeof vary_codings / sizeof vary_codings[0])
#define VARY_IDENTITY  4 /* indexes in vary_codings */
#define VARY_STAR      6

/* Accept-Encoding member → bit of vary_codings, shifted by VARY_CODINGS_N
 * when q=0; 0 if unknown. */
static unsigned
vary_coding_bit(struct str member)
{
	const char *semi = memchr(member.p, ';', member.len);
	struct str coding = member, params = STR_NULL;

	if (semi != NULL) {
		coding = str_make(member.p, (size_t)(semi - member.p));
		params = str_make(semi + 1, member.len - coding.len - 1);
	}
	coding = str_trim_ows(coding);
	if (str_eq_nocase(coding, STR_LIT("x-gzip"))) /* RFC 9110 §8.4.1.3 */
		coding = STR_LIT("gzip");
	for (size_t i = 0; i < VARY_CODINGS_N; i++)
		if (str_eq_nocase(coding, vary_codings[i]))
			return 1u << (vary_q_positive(params) ? i : i + VARY_CODINGS_N);
	return 0;
}

/* Adds the normalized value of the request field name (lower-case) to h. */
static void
vary_hash_field(struct vary_hash *h, const struct h1_request *req, struct str name)
{
	bool ae = str_eq(name, STR_LIT("accept-encoding"));
	bool lang = str_eq(name, STR_LIT("accept-language"));
	bool present = false, first = true;
	unsigned codings = 0;

	for (size_t i = 0; i < req->n_headers; i++) {
		struct str m;
		size_t pos = 0;

		if (!str_eq_nocase(req->headers[i].name, name))
			continue;
		present = true;
		while (str_list_next(req->headers[i].value, &pos, &m)) {
			m = str_trim_ows(m);
			if (ae) {
				codings |= vary_coding_bit(m);
				continue;
			}
			if (!first)
				vary_hash_add(h, ",", 1);
			if (lang) /* language ranges and q are case-insensitive */
				vary_hash_add_lower(h, m.p, m.len);
			else
				vary_hash_add(h, m.p, m.len);
			first = false;
		}
	}
	if (ae && !(codings & (1u << VARY_STAR))) /* a coding not named is refused */
		codings &= ~(((1u << VARY_CODINGS_N) - 1) << VARY_CODINGS_N) |
		           (1u << (VARY_IDENTITY + VARY_CODINGS_N)) |
		           (1u << (VARY_STAR + VARY_CODINGS_N));
	if (ae && present)
		for (size_t i = 0; i < 2 * VARY_CODINGS_N; i++)
			if (codings & (1u << i)) {
				if (i >= VARY_CODINGS_N)
					vary_hash_add(h, "!", 1);
				vary_hash_add(h, vary_codings[i % VARY_CODINGS_N].p,
				    vary_codings[i % VARY_CODINGS_N].len);
				vary_hash_add(h, ",", 1);
			}
	vary_hash_add(h, present ? "\n" : "\0\n", present ? 1 : 2);
}

/* ---- Vary field names ---- */

struct vary_names {
	size_t n;
	char name[CACHE_VARY_NAMES_MAX][VARY_NAME_MAX];
	size_t len[CACHE_VARY_NAMES_MAX];
};

static int
vary_name_cmp(const struct vary_names *v, size_t i, struct str s)
{
	size_t n = v->len[i] < s.len ? v->len[i] : s.len;
	int c = memcmp(v->name[i], s.p, n);

	return c != 0 ? c : (v->len[i] > s.len) - (v->len[i] < s.len);
}

/* Inserts one member (sorted, deduplicated); -1 for "*", an invalid name or
 * too many names. */
static int
vary_names_add(struct vary_names *v, struct str m)
{
	char lc[VARY_NAME_MAX];
	size_t at = 0;
	int c = 1;

	m = str_trim_ows(m);
	if (m.len == 0)
		return 0;
	if (m.len >= VARY_NAME_MAX || str_eq(m, STR_LIT("*")))
		return -1;
	for (size_t i = 0; i < m.len; i++) {
		if (!str_is_tchar((unsigned char)m.p[i]))
			return -1;
		lc[i] = (char)str_lower((unsigned char)m.p[i]);
	}
	m = str_make(lc, m.len);
	while (at < v->n && (c = vary_name_cmp(v, at, m)) < 0)
		at++;
	if (at < v->n && c == 0)
		return 0;
	if (v->n == CACHE_VARY_NAMES_MAX)
		return -1;
	memmove(&v->name[at + 1], &v->name[at], (v->n - at) * sizeof v->name[0]);
	memmove(&v->len[at + 1], &v->len[at], (v->n - at) * sizeof v->len[0]);
	memcpy(v->name[at], lc, m.len);
	v->len[at] = m.len;
	v->n++;
	return 0;
}

static int
vary_names_add_list(struct vary_names *v, struct str list)
{
	struct str m;
	size_t pos = 0;

	/* a list of only empty members is not "*" but names nothing */
	while (str_list_next(list, &pos, &m))
		if (vary_names_add(v, m) != 0)
			return -1;
	return 0;
}

/* "a, b, c" into out (VARY_NAMES_BUF bytes); its length. */
static size_t
vary_names_format(const struct vary_names *v, char *out)
{
	size_t len = 0;

	for (size_t i = 0; i < v->n; i++) {
		if (i > 0) {
			memcpy(out + len, ", ", 2);
			len += 2;
		}
		memcpy(out + len, v->name[i], v->len[i]);
		len += v->len[i];
	}
	out[len] = '\0';
	return len;
}

/* The variant id (VARY_ID_LEN hex digits + NUL) the request selects. */
static void
vary_id(const struct vary_names *v, const struct h1_request *req, char *out)
{
	struct vary_hash h;

	vary_hash_init(&h);
	for (size_t i = 0; i < v->n; i++) {
		struct str name = str_make(v->name[i], v->len[i]);

		vary_hash_add(&h, name.p, name.len);
		vary_hash_add(&h, ":", 1);
		vary_hash_field(&h, req, name);
	}
	vary_hash_final(&h, out);
}

static int
vary_variant_key(const char *key, size_t key_len, const char *id, char *out, size_t outlen)
{
	if (key_len + 1 + VARY_ID_LEN + 1 > outlen)
		return -1;
	memmove(out, key, key_len);
	out[key_len] = VARY_SEP;
	memcpy(out + key_len + 1, id, VARY_ID_LEN + 1);
	return (int)(key_len + 1 + VARY_ID_LEN);
}

int
cache_vary_key(const struct h1_request *req, const struct h1_header *resp, size_t n_resp,
    const char *key, size_t key_len, char *out, size_t outlen)
{
	struct vary_names v;
	char id[VARY_ID_LEN + 1];
	bool vary = false;

	v.n = 0;
	for (size_t i = 0; i < n_resp; i++) {
		if (!str_eq_nocase(resp[i].name, STR_LIT("Vary")))
			continue;
		vary = true;
		if (vary_names_add_list(&v, resp[i].value) != 0)
			return -1;
	}
	if (!vary || v.n == 0) {
		if (key_len + 1 > outlen)
			return -1;
		memmove(out, key, key_len);
		out[key_len] = '\0';
		return (int)key_len;
	}
	/* A selecting field the request names in Connection is not forwarded
	 * (RFC 9110 §7.6.1): the origin did not see the value that would key
	 * the variant. */
	for (size_t i = 0; i < v.n; i++)
		if (h1_is_hop_by_hop(str_make(v.name[i], v.len[i]), req->headers, req->n_headers))
			return -1;
	vary_id(&v, req, id);
	return vary_variant_key(key, key_len, id, out, outlen);
}

/* ---- the index object ---- */

static bool
vary_is_index(const struct cache_obj *o)
{
	size_t len;
	const char *head = cache_obj_head(o, &len);

	return len >= sizeof VARY_INDEX_LINE - 1 &&
	       memcmp(head, VARY_INDEX_LINE, sizeof VARY_INDEX_LINE - 1) == 0;
}

/* The names of an index (or of a stored response's Vary fields); -1 if
 * they cannot be used (then nothing matches). */
static int
vary_obj_names(const struct cache_obj *o, struct vary_names *v)
{
	struct str val;
	size_t pos = 0;

	v->n = 0;
	while (cache_obj_header_next(o, STR_LIT("Vary"), &pos, &val))
		if (vary_names_add_list(v, val) != 0)
			return -1;
	return 0;
}

/* Is id listed in the index? */
static bool
vary_index_lists(const struct cache_obj *idx, const char *id)
{
	struct str ids;
	size_t pos = 0;
	struct str m;

	if (!cache_obj_header(idx, STR_LIT("Variants"), &ids))
		return false;
	while (str_list_next(ids, &pos, &m)) {
		m = str_trim_ows(m);
		if (m.len == VARY_ID_LEN && memcmp(m.p, id, VARY_ID_LEN) == 0)
			return true;
	}
	return false;
}

/* ---- tiers ---- */

/* RAM, else disk; *from_disk says where it came from (the caller promotes). */
static int
vary_get(struct cache_ram *ram, struct cache_disk *disk, const char *key, size_t key_len,
    time_t now, struct cache_obj **out, bool *from_disk)
{
	*from_disk = false;
	if (cache_ram_lookup(ram, key, key_len, out) == 0)
		return 0;
	if (disk == NULL || cache_disk_lookup(disk, key, key_len, now, out) != 0)
		return -1;
	*from_disk = true;
	return 0;
}

/* RAM, else the head alone from disk (no body copied, no hit counted): to look
 * at what is stored under a URL key (an index, or a response without Vary). */
static int
vary_get_head(struct cache_ram *ram, struct cache_disk *disk, const char *key, size_t key_len,
    time_t now, struct cache_obj **out)
{
	if (cache_ram_lookup(ram, key, key_len, out) == 0)
		return 0;
	return disk != NULL ? cache_disk_lookup_head(disk, key, key_len, now, out) : -1;
}

static void
vary_put(struct cache_ram *ram, struct cache_disk *disk, struct cache_obj *o)
{
	cache_ram_insert(ram, o);
	if (disk != NULL)
		cache_disk_store(disk, o); /* queued; never blocks */
}

static void
vary_drop(struct cache_ram *ram, struct cache_disk *disk, const char *key, size_t key_len)
{
	cache_ram_remove(ram, key, key_len);
	if (disk != NULL)
		cache_disk_remove(disk, key, key_len);
}

/* The variant key (in vkey) of the next id the index idx of the URL key
 * lists from *pos on: its length, or -1 when no more are listed. */
static int
vary_next_listed(const struct cache_obj *idx, size_t *pos, const char *key, size_t key_len,
    char *vkey, size_t vkey_len)
{
	char id[VARY_ID_LEN + 1];
	struct str ids, m;

	if (!cache_obj_header(idx, STR_LIT("Variants"), &ids))
		return -1;
	while (str_list_next(ids, pos, &m)) {
		int n;

		m = str_trim_ows(m);
		if (m.len != VARY_ID_LEN)
			continue;
		memcpy(id, m.p, VARY_ID_LEN);
		id[VARY_ID_LEN] = '\0';
		n = vary_variant_key(key, key_len, id, vkey, vkey_len);
		if (n > 0)
			return n;
	}
	return -1;
}

/* How many copies of the response under key there are, before its removal:
 * 1 when this call unlinks it from RAM, plus 1 when its disk record is there
 * (a head read at now).  Look before any removal is queued: a queued one
 * hides the keys of its hash slot from disk lookups until it commits. */
static size_t
vary_unlink_counted(
    struct cache_ram *ram, struct cache_disk *disk, const char *key, size_t key_len, time_t now)
{
	struct cache_obj *o = NULL;
	size_t n = cache_ram_remove(ram, key, key_len) ? 1 : 0;

	if (disk != NULL && cache_disk_lookup_head(disk, key, key_len, now, &o) == 0) {
		cache_obj_unref(&o);
		n++;
	}
	return n;
}

/* Removes every variant the index idx lists.  count: first each counted
 * (vary_unlink_counted at now), then their disk removals queued, and the
 * sum returned; else 0. */
static size_t
vary_drop_listed(struct cache_ram *ram, struct cache_disk *disk, const struct cache_obj *idx,
    bool count, time_t now)
{
	size_t key_len, pos = 0, removed = 0;
	const char *key = cache_obj_key(idx, &key_len);
	char vkey[CACHE_KEY_MAX + VARY_ID_LEN + 2];
	int n;

	if (count) {
		while ((n = vary_next_listed(idx, &pos, key, key_len, vkey, sizeof vkey)) > 0)
			removed += vary_unlink_counted(ram, disk, vkey, (size_t)n, now);
		pos = 0;
	}
	while ((n = vary_next_listed(idx, &pos, key, key_len, vkey, sizeof vkey)) > 0)
		vary_drop(ram, disk, vkey, (size_t)n);
	return removed;
}

bool
cache_vary_is_index(const struct cache_obj *o)
{
	return vary_is_index(o);
}

/* The bans o meets (cache_ban.c), before it is promoted or served: a purged
 * object is dropped (a miss), a soft-purged one is replaced by a stale copy
 * (in RAM, when o came from there).  0 with *op usable, or -1. */
static int
vary_banned(struct cache *c, struct cache_obj **op, bool from_disk, time_t now)
{
	uint64_t gen;
	struct cache_obj *copy;

	switch (cache_ban_check(c->bans, *op, &gen)) {
	case CACHE_BAN_NONE:
		return 0;
	case CACHE_BAN_HARD:
		cache_obj_unref(op);
		return -1;
	case CACHE_BAN_SOFT:
		copy = cache_obj_stale_copy(*op, now, gen);
		if (copy == NULL) {
			cache_obj_unref(op);
			return -1;
		}
		if (!from_disk)
			cache_ram_insert(c->ram, copy);
		cache_obj_unref(op);
		*op = copy;
		return 0;
	}
	UNREACHABLE("ban hit");
}

/* cache_lookup in ram, then disk (NULL: RAM only). */
static int
vary_lookup(struct cache *c, struct cache_disk *disk, const struct h1_request *req, const char *key,
    size_t key_len, time_t now, struct cache_obj **out, bool *from_disk)
{
	struct cache_ram *ram = c->ram;
	struct cache_obj *o = NULL;
	struct vary_names v;
	char id[VARY_ID_LEN + 1];
	char vkey[CACHE_KEY_MAX + VARY_ID_LEN + 2];
	size_t stripe = vary_stripe_of(key, key_len);
	uint64_t gen = atomic_load(&vary_invalidations[stripe]);
	int n;

	if (vary_get(ram, disk, key, key_len, now, &o, from_disk) != 0)
		return -1;
	if (!vary_is_index(o)) {
		struct str val;

		/* a response with Vary is only ever stored as a variant; one
		 * under K on disk comes from an older layout and cannot be
		 * matched (checked once, before it reaches RAM) */
		if (*from_disk && cache_obj_header(o, STR_LIT("Vary"), &val)) {
			cache_obj_unref(&o);
			return -1;
		}
		if (vary_banned(c, &o, *from_disk, now) != 0)
			return -1;
		if (*from_disk)
			vary_promote(ram, o, stripe, gen);
		*out = o;
		return 0;
	}
	if (*from_disk)
		vary_promote(ram, o, stripe, gen);
	if (vary_obj_names(o, &v) != 0 || v.n == 0) {
		cache_obj_unref(&o);
		return -1;
	}
	vary_id(&v, req, id);
	if (!vary_index_lists(o, id)) {
		cache_obj_unref(&o);
		return -1;
	}
	cache_obj_unref(&o);
	n = vary_variant_key(key, key_len, id, vkey, sizeof vkey);
	if (n < 0 || vary_get(ram, disk, vkey, (size_t)n, now, out, from_disk) != 0)
		return -1;
	if (vary_banned(c, out, *from_disk, now) != 0)
		return -1;
	if (*from_disk)
		vary_promote(ram, *out, stripe, gen);
	return 0;
}

int
cache_lookup(struct cache *c, const struct h1_request *req, const char *key, size_t key_len,
    time_t now, struct cache_obj **out, bool *from_disk)
{
	return vary_lookup(c, c->disk, req, key, key_len, now, out, from_disk);
}

int
cache_lookup_ram(struct cache *c, const struct h1_request *req, const char *key, size_t key_len,
    time_t now, struct cache_obj **out)
{
	bool from_disk;

	return vary_lookup(c, NULL, req, key, key_len, now, out, &from_disk);
}

/* The index for key after storing the variant id with names: the old index's
 * list (when its names are the same) without id, then id, the oldest beyond
 * CACHE_VARY_MAX dropped (and removed from the tiers). */
static struct cache_obj *
vary_index_build(struct cache_ram *ram, struct cache_disk *disk, const char *key, size_t key_len,
    const char *names, const struct cache_obj *old, const char *id, time_t now)
{
	struct cache_policy pol = {true, VARY_INDEX_TTL_S, 0};
	char list[CACHE_VARY_MAX][VARY_ID_LEN + 1];
	char head[VARY_INDEX_BUF];
	char vkey[CACHE_KEY_MAX + VARY_ID_LEN + 2];
	size_t n = 0, len;
	struct str ids, m;
	size_t pos = 0;

	if (old != NULL && cache_obj_header(old, STR_LIT("Variants"), &ids)) {
		while (str_list_next(ids, &pos, &m)) {
			m = str_trim_ows(m);
			if (m.len != VARY_ID_LEN || memcmp(m.p, id, VARY_ID_LEN) == 0)
				continue;
			if (n == CACHE_VARY_MAX - 1) {
				/* oldest first: drop list[0] */
				int k = vary_variant_key(key, key_len, list[0], vkey, sizeof vkey);

				if (k > 0)
					vary_drop(ram, disk, vkey, (size_t)k);
				memmove(list[0], list[1], (n - 1) * sizeof list[0]);
				n--;
			}
			memcpy(list[n], m.p, VARY_ID_LEN);
			list[n++][VARY_ID_LEN] = '\0';
		}
	}
	memcpy(list[n++], id, VARY_ID_LEN + 1);
	len =
	    (size_t)snprintf(head, sizeof head, "%sVary: %s\r\nVariants:", VARY_INDEX_LINE, names);
	for (size_t i = 0; i < n && len + VARY_ID_LEN + 5 < sizeof head; i++)
		len += (size_t)snprintf(
		    head + len, sizeof head - len, "%s %s", i > 0 ? "," : "", list[i]);
	len += (size_t)snprintf(head + len, sizeof head - len, "\r\n");
	return cache_obj_new(key, key_len, head, len, 0, now, &pol);
}

/* cache_store with the URL's stripe held: o's key is key[0..key_len), sep its
 * variant separator or NULL. */
static void
vary_store(struct cache_ram *ram, struct cache_disk *disk, struct cache_obj *o, const char *key,
    size_t key_len, const char *sep, time_t now)
{
	size_t plen;
	struct cache_obj *old = NULL, *idx;
	struct vary_names v, ov;
	char names[VARY_NAMES_BUF], onames[VARY_NAMES_BUF];
	char id[VARY_ID_LEN + 1];
	bool same = false;

	if (sep == NULL) {
		/* a plain response replaces whatever was stored for the URL; the
		 * variants an index listed are unreachable now, free them */
		if (cache_ram_lookup(ram, key, key_len, &old) == 0 && vary_is_index(old))
			(void)vary_drop_listed(ram, disk, old, false, now);
		cache_obj_unref(&old);
		/* one that gained a Vary (a 304 added it) was not selected by
		 * it: it cannot stand for every request any more */
		if (vary_obj_names(o, &v) != 0 || v.n > 0)
			vary_drop(ram, disk, key, key_len);
		else
			vary_put(ram, disk, o);
		return;
	}
	plen = (size_t)(sep - key);
	if (key_len - plen - 1 != VARY_ID_LEN || vary_obj_names(o, &v) != 0 || v.n == 0)
		return;
	memcpy(id, sep + 1, VARY_ID_LEN);
	id[VARY_ID_LEN] = '\0';
	vary_names_format(&v, names);
	if (vary_get_head(ram, disk, key, plen, now, &old) == 0) {
		if (vary_is_index(old) && vary_obj_names(old, &ov) == 0) {
			vary_names_format(&ov, onames);
			same = strcmp(names, onames) == 0;
			if (!same)
				(void)vary_drop_listed(ram, disk, old, false, now);
		}
		if (!same)
			cache_obj_unref(&old);
	}
	idx = vary_index_build(ram, disk, key, plen, names, old, id, now);
	cache_obj_unref(&old);
	vary_put(ram, disk, o);
	if (idx != NULL) {
		vary_put(ram, disk, idx);
		cache_obj_unref(&idx);
	}
}

void
cache_store(struct cache *c, struct cache_obj *o, time_t now)
{
	size_t key_len;
	const char *key = cache_obj_key(o, &key_len);
	const char *sep = memchr(key, VARY_SEP, key_len);
	pthread_mutex_t *m =
	    vary_lock(vary_stripe_of(key, sep != NULL ? (size_t)(sep - key) : key_len));
	struct cache_obj *copy = NULL;
	uint64_t gen;

	/* a purge since the fill began wins: not stored, or stored stale */
	switch (cache_ban_check(c->bans, o, &gen)) {
	case CACHE_BAN_NONE:
		break;
	case CACHE_BAN_HARD:
		pthread_mutex_unlock(m);
		return;
	case CACHE_BAN_SOFT:
		copy = cache_obj_stale_copy(o, now, gen);
		if (copy == NULL) {
			pthread_mutex_unlock(m);
			return;
		}
		o = copy;
		break;
	}
	vary_store(c->ram, c->disk, o, key, key_len, sep, now);
	pthread_mutex_unlock(m);
	cache_obj_unref(&copy);
}

size_t
cache_invalidate(struct cache *c, const char *key, size_t key_len, time_t now)
{
	struct cache_ram *ram = c->ram;
	struct cache_disk *disk = c->disk;
	struct cache_obj *old = NULL;
	size_t stripe = vary_stripe_of(key, key_len), removed = 0;
	pthread_mutex_t *m = vary_lock(stripe);
	bool index = false;

	if (vary_get_head(ram, disk, key, key_len, now, &old) == 0) {
		index = vary_is_index(old);
		if (index)
			removed = vary_drop_listed(ram, disk, old, true, now);
		cache_obj_unref(&old);
	}
	/* the index itself is no response: removed, not counted */
	if (!index)
		removed += vary_unlink_counted(ram, disk, key, key_len, now);
	vary_drop(ram, disk, key, key_len);
	atomic_fetch_add(&vary_invalidations[stripe], 1);
	pthread_mutex_unlock(m);
	return removed;
}

size_t
cache_variants(struct cache *c, const char *key, size_t key_len, struct cache_obj **out, size_t max)
{
	struct cache_ram *ram = c->ram;
	struct cache_obj *idx = NULL;
	char vkey[CACHE_KEY_MAX + VARY_ID_LEN + 2];
	size_t n = 0, pos = 0;
	int k;

	if (cache_ram_lookup(ram, key, key_len, &idx) != 0)
		return 0;
	if (vary_is_index(idx))
		while (n < max &&
		       (k = vary_next_listed(idx, &pos, key, key_len, vkey, sizeof vkey)) > 0)
			if (cache_ram_lookup(ram, vkey, (size_t)k, &out[n]) == 0)
				n++;
	cache_obj_unref(&idx);
	return n;
}

struct cache_obj *
cache_variant_by_etag(struct cache *c, const char *key, size_t key_len, struct str etag)
{
	struct cache_obj *v[CACHE_VARY_MAX], *pick = NULL;
	size_t n = cache_variants(c, key, key_len, v, CACHE_VARY_MAX);

	for (size_t i = 0; i < n; i++) {
		struct str e;

		if (pick == NULL && cache_obj_header(v[i], STR_LIT("ETag"), &e) && str_eq(e, etag))
			pick = cache_obj_ref(v[i]);
		cache_obj_unref(&v[i]);
	}
	return pick;
}

/* The key under which req's selecting values would store o's URL with o's
 * Vary, in buf: its length; 0 when o has no Vary or req selects o itself;
 * -1 when o's Vary cannot be used or the key does not fit buflen. */
static int
vary_request_key(const struct h1_request *req, const struct cache_obj *o, char *buf, size_t buflen)
{
	struct vary_names v;
	char id[VARY_ID_LEN + 1];
	size_t own_len, url_len;
	const char *own = cache_obj_key(o, &own_len);
	const char *sep = memchr(own, VARY_SEP, own_len);

	if (vary_obj_names(o, &v) != 0)
		return -1;
	if (v.n == 0)
		return 0;
	vary_id(&v, req, id);
	url_len = sep != NULL ? (size_t)(sep - own) : own_len;
	if (sep != NULL && own_len - url_len - 1 == VARY_ID_LEN &&
	    memcmp(sep + 1, id, VARY_ID_LEN) == 0)
		return 0;
	return vary_variant_key(own, url_len, id, buf, buflen);
}

bool
cache_vary_selects(const struct h1_request *req, const struct cache_obj *o)
{
	return vary_request_key(req, o, NULL, 0) == 0;
}

struct cache_obj *
cache_vary_for_request(const struct h1_request *req, struct cache_obj *o)
{
	char buf[CACHE_KEY_MAX + VARY_ID_LEN + 2];
	int len = vary_request_key(req, o, buf, sizeof buf);

	return len > 0 ? cache_obj_rekey(o, buf, (size_t)len) : NULL;
}
