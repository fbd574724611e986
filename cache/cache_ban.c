/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cache/cache_ban.c — purges as bans (after Varnish's ban list): a purge by
 * URL, prefix, host, tag or of everything takes effect for every later
 * request at once, without a walk of the cache on any event loop.
 *
 * Generations.  The ban clock counts up: a new ban takes max(last + 1, the
 * wall clock in microseconds), so generations survive a restart (the
 * persisted bans come back with theirs and the clock moves past them).  A
 * fill takes cache_ban_clock() (the last ban's generation) when it begins
 * and its object carries it: a ban applies to an object whose generation is
 * older (smaller) than the ban's.  A copy read back from disk carries the
 * start of the second it was stored in, so a ban of that same second applies
 * to it too: a miss, never a purged object.
 *
 * The list.  Each cache (struct cache) has its own, with its own clock and
 * remover.  Newest first, from an atomic head; readers walk it without a
 * lock and stop at the first ban not newer than what the object has already
 * been cleared against (cache_obj_ban_clear, raised after each walk that
 * found nothing), so a hit on an object younger than every ban costs one
 * comparison.  Adders and the remover take the list's lock among themselves.  A
 * retired ban stays in the list (still matched) for BAN_LINGER_MS: a lookup
 * that read an object just before the remover deleted it still meets the ban
 * before it promotes the object to RAM.  Then it is unlinked, and freed
 * BAN_LINGER_MS later (a reader in the middle of a walk is long gone).
 *
 * The remover (one thread).  For the bans not yet carried out: it lets
 * stores in flight land, flushes the disk queue (objects queued before the
 * bans are committed, so the walk sees them), sweeps each RAM shard under
 * its lock (removing hard matches; soft matches are replaced by stale
 * copies), walks the disk tier's records in read transactions of
 * BAN_DISK_BATCH records, queues removals (and stale copies) to the disk
 * writer thread, waits until they are committed, then retires the bans and
 * reports to the owner, which deletes them from its durable log.  So once a
 * ban is retired no older matching object is left on either tier.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "cache/cache.h"
#include "cache/cache_int.h"
#include "core/assert.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"

#define BAN_LINGER_MS   5000u /* a retired ban is still matched this long */
#define BAN_DISK_BATCH  256u  /* records per read transaction of the disk walk */
#define BAN_SETTLE_MS   20u   /* lets stores in flight land before a sweep */
#define BAN_FLUSH_MS    60000u
#define BAN_MAX_PENDING 4096u /* keys of a disk batch acted on at once */

struct ban {
	struct ban *_Atomic next; /* older */
	uint64_t gen;
	uint64_t owner;
	enum cache_ban_kind kind;
	bool soft;
	bool swept;             /* remover only */
	atomic_bool retired;    /* carried out; still matched until unlinked */
	uint64_t retired_ms;    /* under the list's lock */
	uint64_t removed;       /* remover only */
	struct ban *grave_next; /* unlinked, waiting to be freed */
	uint64_t unlinked_ms;
	char *value;
	size_t value_len;
	char **scope;
	size_t n_scope;
};

/* One cache's ban list (struct cache's bans) and its remover. */
struct cache_bans {
	struct ban *_Atomic head;
	atomic_uint_least64_t last;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct ban *grave; /* under lock */
	bool stopping;     /* under lock */
	bool running;
	pthread_t thread;
	struct cache_ram *ram; /* the remover's tiers */
	struct cache_disk *disk;
	cache_ban_retire_cb *retire;
	void *retire_arg;
	atomic_uint_least64_t n_active, n_added, n_retired, n_removed, n_lazy;
};

static uint64_t
ban_wall_us(void)
{
	struct timeval tv;

	(void)gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

uint64_t
cache_ban_clock(struct cache *c)
{
	struct cache_bans *bl = c->bans;

	return atomic_load(&bl->last);
}

/* ---- matching ---- */

bool
cache_ban_key_host(struct str key, struct str *host)
{
	const char *p = memchr(key.p, ':', key.len), *end = key.p + key.len, *h, *e;

	if (p == NULL || end - p < 3 || p[1] != '/' || p[2] != '/')
		return false;
	h = p + 3;
	for (e = h; e < end && *e != '/' && *e != '?' && *e != '\x1f'; e++)
		;
	if (h < e && *h == '[') {
		const char *rb = memchr(h, ']', (size_t)(e - h));

		if (rb != NULL)
			e = rb + 1;
	} else {
		const char *colon = memchr(h, ':', (size_t)(e - h));

		if (colon != NULL)
			e = colon;
	}
	*host = str_make(h, (size_t)(e - h));
	return true;
}

bool
cache_ban_host_match(struct str pattern, struct str host)
{
	if (pattern.len == 1 && pattern.p[0] == '*')
		return true;
	if (pattern.len >= 2 && pattern.p[0] == '*' && pattern.p[1] == '.') {
		struct str suffix = str_make(pattern.p + 1, pattern.len - 1);

		return host.len > suffix.len &&
		       str_eq_nocase(str_make(host.p + host.len - suffix.len, suffix.len), suffix);
	}
	return str_eq_nocase(pattern, host);
}

/* Is tag a member of the head's tag fields: Surrogate-Key (space-separated,
 * as Fastly) or Cache-Tag (comma-separated, as Cloudflare)? */
static bool
ban_head_has_tag(const char *head, size_t head_len, struct str tag)
{
	const char *p = head, *end = head + head_len;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *le = eol != NULL ? eol : end;
		const char *colon = memchr(p, ':', (size_t)(le - p));
		char sep;

		if (colon != NULL) {
			struct str name = str_make(p, (size_t)(colon - p));

			sep = str_eq_nocase(name, STR_LIT("Surrogate-Key")) ? ' '
			      : str_eq_nocase(name, STR_LIT("Cache-Tag"))   ? ','
			                                                    : 0;
			for (const char *q = colon + 1; sep != 0 && q < le;) {
				const char *m;

				while (
				    q < le && (*q == ' ' || *q == '\t' || *q == ',' || *q == '\r'))
					q++;
				m = q;
				while (
				    q < le && *q != sep && *q != '\r' && (sep == ',' || *q != '\t'))
					q++;
				{
					struct str member =
					    str_trim_ows(str_make(m, (size_t)(q - m)));

					if (member.len > 0 && str_eq(member, tag))
						return true;
				}
			}
		}
		p = le + 1;
	}
	return false;
}

/* Does b match the object stored under key (a URL key, or a variant key:
 * URL, 0x1f, id) with head?  A URL key may end in tags ('#'...). */
static bool
ban_match(const struct ban *b, const char *key, size_t key_len, const char *head, size_t head_len)
{
	const char *sep = memchr(key, '\x1f', key_len);
	struct str url = str_make(key, sep != NULL ? (size_t)(sep - key) : key_len);
	struct str host = STR_LIT("");
	bool hosted = cache_ban_key_host(url, &host);

	if (b->n_scope > 0) {
		size_t i;

		if (!hosted)
			return false;
		for (i = 0; i < b->n_scope; i++)
			if (cache_ban_host_match(str_cstr(b->scope[i]), host))
				break;
		if (i == b->n_scope)
			return false;
	}
	switch (b->kind) {
	case CACHE_BAN_URL: {
		/* a URL's every copy: the key's tags ("#canary=", "#geo=", the
		 * override_headers fields) follow the URL, which has no '#' */
		const char *tag = memchr(url.p, '#', url.len);

		if (tag != NULL)
			url.len = (size_t)(tag - url.p);
		return str_eq(url, str_make(b->value, b->value_len));
	}
	case CACHE_BAN_PREFIX:
		return str_has_prefix(url, str_make(b->value, b->value_len));
	case CACHE_BAN_HOST:
		return hosted && str_eq_nocase(host, str_make(b->value, b->value_len));
	case CACHE_BAN_TAG:
		return ban_head_has_tag(head, head_len, str_make(b->value, b->value_len));
	case CACHE_BAN_ALL:
		return true;
	}
	UNREACHABLE("ban kind");
}

static bool
ban_match_obj(const struct ban *b, const struct cache_obj *o)
{
	size_t key_len, head_len;
	const char *key = cache_obj_key(o, &key_len);
	const char *head = cache_obj_head(o, &head_len);

	return ban_match(b, key, key_len, head, head_len);
}

enum cache_ban_hit
cache_ban_check(struct cache_bans *bl, struct cache_obj *o, uint64_t *gen)
{
	uint64_t clear = cache_obj_ban_clear(o), top;
	struct ban *b = atomic_load_explicit(&bl->head, memory_order_acquire);
	bool soft = false;

	if (b == NULL || b->gen <= clear)
		return CACHE_BAN_NONE;
	top = b->gen;
	for (; b != NULL && b->gen > clear;
	     b = atomic_load_explicit(&b->next, memory_order_acquire)) {
		if (!ban_match_obj(b, o))
			continue;
		if (!b->soft) {
			atomic_fetch_add_explicit(&bl->n_lazy, 1, memory_order_relaxed);
			return CACHE_BAN_HARD;
		}
		soft = true;
	}
	if (soft) {
		*gen = top;
		atomic_fetch_add_explicit(&bl->n_lazy, 1, memory_order_relaxed);
		return CACHE_BAN_SOFT;
	}
	cache_obj_set_ban_clear(o, top);
	return CACHE_BAN_NONE;
}

/* ---- adding ---- */

uint64_t
cache_ban_add(struct cache *c, const struct cache_ban_spec *spec, uint64_t gen, uint64_t owner)
{
	struct cache_bans *bl = c->bans;
	struct ban *b = xcalloc(1, sizeof *b);
	uint64_t last;

	b->kind = spec->kind;
	b->soft = spec->soft;
	b->owner = owner;
	b->value = xstrdup(spec->value != NULL ? spec->value : "");
	b->value_len = strlen(b->value);
	if (spec->n_scope > 0) {
		b->scope = xcalloc(spec->n_scope, sizeof *b->scope);
		for (size_t i = 0; i < spec->n_scope; i++)
			b->scope[i] = xstrdup(spec->scope[i]);
		b->n_scope = spec->n_scope;
	}
	atomic_init(&b->retired, false);
	ASSERT(pthread_mutex_lock(&bl->lock) == 0);
	last = atomic_load(&bl->last);
	if (gen == 0) {
		gen = ban_wall_us();
		if (gen <= last)
			gen = last + 1;
	}
	b->gen = gen;
	if (gen > last) {
		/* newest first: a ban restored out of order goes where it belongs */
		atomic_store_explicit(&b->next, atomic_load(&bl->head), memory_order_relaxed);
		atomic_store_explicit(&bl->head, b, memory_order_release);
		atomic_store(&bl->last, gen);
	} else {
		struct ban *_Atomic *pp = &bl->head;
		struct ban *cur;

		while ((cur = atomic_load(pp)) != NULL && cur->gen > gen)
			pp = &cur->next;
		atomic_store_explicit(&b->next, cur, memory_order_relaxed);
		atomic_store_explicit(pp, b, memory_order_release);
	}
	atomic_fetch_add(&bl->n_active, 1);
	atomic_fetch_add(&bl->n_added, 1);
	ASSERT(pthread_cond_signal(&bl->wake) == 0);
	ASSERT(pthread_mutex_unlock(&bl->lock) == 0);
	return gen;
}

static void
ban_free(struct ban *b)
{
	for (size_t i = 0; i < b->n_scope; i++)
		free(b->scope[i]);
	free(b->scope);
	free(b->value);
	free(b);
}

/* ---- the remover ---- */

/* The bans a round carries out: the unswept ones when it began, newest
 * first (a snapshot; the list itself may grow meanwhile). */
struct ban_round {
	struct cache_bans *bl;
	struct ban **bans;
	size_t n;
	uint64_t removed;
	struct cache_obj **soft; /* RAM objects to replace by stale copies */
	size_t n_soft, cap_soft;
	char **keys; /* disk keys matched in a batch */
	size_t *key_lens;
	bool *key_soft;
	size_t n_keys;
};

/* The newest ban of the round that o is older than and matches: NULL if
 * none; a hard one wins over soft ones. */
static struct ban *
ban_round_match(struct ban_round *r, uint64_t gen, const char *key, size_t key_len,
    const char *head, size_t head_len)
{
	struct ban *soft = NULL;

	for (size_t i = 0; i < r->n && r->bans[i]->gen > gen; i++) {
		struct ban *b = r->bans[i];

		if (!ban_match(b, key, key_len, head, head_len))
			continue;
		if (!b->soft)
			return b;
		if (soft == NULL)
			soft = b;
	}
	return soft;
}

static bool
ban_ram_keep(void *arg, struct cache_obj *o)
{
	struct ban_round *r = arg;
	size_t key_len, head_len;
	const char *key = cache_obj_key(o, &key_len);
	const char *head = cache_obj_head(o, &head_len);
	struct ban *b;

	if (cache_vary_is_index(o))
		return true;
	b = ban_round_match(r, cache_obj_gen(o), key, key_len, head, head_len);
	if (b == NULL)
		return true;
	if (!b->soft) {
		b->removed++;
		return false;
	}
	if (r->n_soft == r->cap_soft) {
		r->cap_soft = r->cap_soft > 0 ? 2 * r->cap_soft : 64;
		r->soft = xrealloc(r->soft, r->cap_soft * sizeof *r->soft);
	}
	r->soft[r->n_soft++] = cache_obj_ref(o);
	b->removed++;
	return true;
}

static void
ban_disk_seen(
    void *arg, const char *key, size_t key_len, const char *head, size_t head_len, time_t stored_at)
{
	struct ban_round *r = arg;
	struct ban *b;
	uint64_t gen = stored_at > 0 ? (uint64_t)stored_at * 1000000u : 0;

	if (head_len >= 12 && memcmp(head, "OUTPOST-VARY", 12) == 0)
		return;
	b = ban_round_match(r, gen, key, key_len, head, head_len);
	if (b == NULL || r->n_keys == BAN_MAX_PENDING)
		return;
	r->keys[r->n_keys] = xmalloc(key_len + 1);
	memcpy(r->keys[r->n_keys], key, key_len);
	r->keys[r->n_keys][key_len] = '\0';
	r->key_lens[r->n_keys] = key_len;
	r->key_soft[r->n_keys] = b->soft;
	r->n_keys++;
	b->removed++;
}

/* The matched keys of a disk batch, after its read transaction: removals
 * and stale copies queued to the writer thread. */
static void
ban_disk_act(struct ban_round *r, time_t now)
{
	struct cache_bans *bl = r->bl;

	for (size_t i = 0; i < r->n_keys; i++) {
		if (r->key_soft[i]) {
			struct cache_obj *o = NULL, *copy;

			if (cache_disk_lookup(bl->disk, r->keys[i], r->key_lens[i], now, &o) == 0) {
				copy = cache_obj_stale_copy(o, now, r->bans[0]->gen);
				if (copy != NULL)
					cache_disk_store(bl->disk, copy);
				cache_obj_unref(&copy);
				cache_obj_unref(&o);
			}
		} else {
			cache_disk_remove(bl->disk, r->keys[i], r->key_lens[i]);
		}
		free(r->keys[i]);
	}
	r->n_keys = 0;
}

static void
ban_round_run(struct ban_round *r)
{
	struct cache_bans *bl = r->bl;
	time_t now = time_now();
	unsigned char cursor[CACHE_DISK_CURSOR_MAX];
	size_t cursor_len = 0;
	struct timespec settle = {0, BAN_SETTLE_MS * 1000000L};

	(void)nanosleep(&settle, NULL);
	if (bl->disk != NULL)
		(void)cache_disk_flush(bl->disk, BAN_FLUSH_MS);
	if (bl->ram != NULL) {
		for (unsigned s = 0; s < cache_ram_shards(bl->ram); s++)
			(void)cache_ram_sweep(bl->ram, s, ban_ram_keep, r);
		for (size_t i = 0; i < r->n_soft; i++) {
			struct cache_obj *copy =
			    cache_obj_stale_copy(r->soft[i], now, r->bans[0]->gen);

			if (copy != NULL) {
				/* only if nothing replaced it since the sweep */
				size_t kl;
				const char *k = cache_obj_key(copy, &kl);
				struct cache_obj *cur = NULL;

				if (cache_ram_lookup(bl->ram, k, kl, &cur) == 0 &&
				    cur == r->soft[i])
					cache_ram_insert(bl->ram, copy);
				cache_obj_unref(&cur);
			}
			cache_obj_unref(&copy);
			cache_obj_unref(&r->soft[i]);
		}
		free(r->soft);
		r->soft = NULL;
		r->n_soft = r->cap_soft = 0;
	}
	if (bl->disk == NULL)
		return;
	r->keys = xcalloc(BAN_MAX_PENDING, sizeof *r->keys);
	r->key_lens = xcalloc(BAN_MAX_PENDING, sizeof *r->key_lens);
	r->key_soft = xcalloc(BAN_MAX_PENDING, sizeof *r->key_soft);
	for (;;) {
		int n = cache_disk_scan(
		    bl->disk, cursor, &cursor_len, BAN_DISK_BATCH, ban_disk_seen, r);

		ban_disk_act(r, now);
		if (n <= 0)
			break;
	}
	free(r->keys);
	free(r->key_lens);
	free(r->key_soft);
	(void)cache_disk_flush(bl->disk, BAN_FLUSH_MS);
}

/* Under bl->lock: unlinks bans retired for BAN_LINGER_MS and frees those
 * unlinked for as long. */
static void
ban_collect(struct cache_bans *bl, uint64_t now_ms)
{
	struct ban *_Atomic *pp = &bl->head;
	struct ban *b, **gp;

	while ((b = atomic_load(pp)) != NULL) {
		if (atomic_load(&b->retired) && now_ms - b->retired_ms >= BAN_LINGER_MS) {
			atomic_store_explicit(pp, atomic_load(&b->next), memory_order_release);
			b->unlinked_ms = now_ms;
			b->grave_next = bl->grave;
			bl->grave = b;
			atomic_fetch_sub(&bl->n_active, 1);
			continue;
		}
		pp = &b->next;
	}
	for (gp = &bl->grave; (b = *gp) != NULL;) {
		if (now_ms - b->unlinked_ms >= BAN_LINGER_MS) {
			*gp = b->grave_next;
			ban_free(b);
		} else {
			gp = &b->grave_next;
		}
	}
}

static void *
ban_main(void *arg)
{
	struct cache_bans *bl = arg;

	ASSERT(pthread_mutex_lock(&bl->lock) == 0);
	while (!bl->stopping) {
		struct ban_round r = {.bl = bl};
		struct ban *b;
		struct timespec ts;

		for (b = atomic_load(&bl->head); b != NULL; b = atomic_load(&b->next))
			if (!b->swept)
				r.n++;
		if (r.n == 0) {
			ban_collect(bl, time_mono_ms());
			(void)clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			(void)pthread_cond_timedwait(&bl->wake, &bl->lock, &ts);
			continue;
		}
		r.bans = xcalloc(r.n, sizeof *r.bans);
		r.n = 0;
		for (b = atomic_load(&bl->head); b != NULL; b = atomic_load(&b->next))
			if (!b->swept)
				r.bans[r.n++] = b;
		ASSERT(pthread_mutex_unlock(&bl->lock) == 0);
		ban_round_run(&r);
		ASSERT(pthread_mutex_lock(&bl->lock) == 0);
		for (size_t i = 0; i < r.n; i++) {
			b = r.bans[i];
			b->swept = true;
			b->retired_ms = time_mono_ms();
			atomic_store(&b->retired, true);
			atomic_fetch_add(&bl->n_retired, 1);
			atomic_fetch_add(&bl->n_removed, b->removed);
		}
		ASSERT(pthread_mutex_unlock(&bl->lock) == 0);
		for (size_t i = 0; i < r.n; i++)
			if (bl->retire != NULL)
				bl->retire(bl->retire_arg, r.bans[i]->owner, r.bans[i]->removed);
		free(r.bans);
		ASSERT(pthread_mutex_lock(&bl->lock) == 0);
	}
	ASSERT(pthread_mutex_unlock(&bl->lock) == 0);
	return NULL;
}

int
cache_ban_start(struct cache *c, cache_ban_retire_cb *retire, void *arg)
{
	struct cache_bans *bl = c->bans;

	ASSERT(!bl->running && c->ram != NULL);
	bl->ram = c->ram;
	bl->disk = c->disk;
	bl->retire = retire;
	bl->retire_arg = arg;
	bl->stopping = false;
	if (pthread_create(&bl->thread, NULL, ban_main, bl) != 0)
		return -1;
	bl->running = true;
	return 0;
}

void
cache_ban_stop(struct cache *c)
{
	struct cache_bans *bl = c != NULL ? c->bans : NULL;

	if (bl == NULL || !bl->running)
		return;
	ASSERT(pthread_mutex_lock(&bl->lock) == 0);
	bl->stopping = true;
	ASSERT(pthread_cond_signal(&bl->wake) == 0);
	ASSERT(pthread_mutex_unlock(&bl->lock) == 0);
	ASSERT(pthread_join(bl->thread, NULL) == 0);
	bl->running = false;
}

struct cache_bans *
cache_bans_new(void)
{
	struct cache_bans *bl = xcalloc(1, sizeof *bl);

	atomic_init(&bl->head, NULL);
	ASSERT(pthread_mutex_init(&bl->lock, NULL) == 0);
	ASSERT(pthread_cond_init(&bl->wake, NULL) == 0);
	return bl;
}

void
cache_bans_free(struct cache_bans **blp)
{
	struct cache_bans *bl = *blp;
	struct ban *b, *next;

	if (bl == NULL)
		return;
	*blp = NULL;
	ASSERT(!bl->running);
	for (b = atomic_load(&bl->head); b != NULL; b = next) {
		next = atomic_load(&b->next);
		ban_free(b);
	}
	for (b = bl->grave; b != NULL; b = next) {
		next = b->grave_next;
		ban_free(b);
	}
	ASSERT(pthread_mutex_destroy(&bl->lock) == 0);
	ASSERT(pthread_cond_destroy(&bl->wake) == 0);
	free(bl);
}

void
cache_ban_stats(struct cache *c, struct cache_ban_stats *out)
{
	struct cache_bans *bl = c->bans;

	out->active = atomic_load(&bl->n_active);
	out->added = atomic_load(&bl->n_added);
	out->retired = atomic_load(&bl->n_retired);
	out->removed = atomic_load(&bl->n_removed);
	out->lazy = atomic_load(&bl->n_lazy);
}
