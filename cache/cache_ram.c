/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cache/cache_ram.c — the RAM tier: sharded, bounded in bytes, SIEVE eviction.
 *
 * Model: n_shards independent shards chosen by the key's hash; each has its own
 * mutex, a chained hash table of entries, a byte budget of max_bytes/n_shards,
 * and a SIEVE queue (Zhang et al., NSDI '24: a FIFO of entries, newest at the
 * head, each with a visited bit, and a hand that walks from the tail towards
 * the head clearing visited bits and evicts the first unvisited entry it
 * finds).  A hit only sets the visited bit — no list movement — so a one-time
 * scan of cold keys passes through the tail without displacing re-accessed
 * entries, unlike LRU.
 *
 * Locking: everything in a shard (table, queue, hand, counters) is guarded by
 * its mutex; the visited bit is additionally an atomic written with relaxed
 * order so a future lock-free probe may set it.  The tier holds one reference
 * on each stored object.  A lookup takes the lock only for the probe and the
 * reference increment and never allocates; objects displaced by insert,
 * remove or eviction are unreferenced (and maybe freed) after the lock is
 * dropped, so a free never runs under a shard lock.  Any thread may call
 * every function except cache_ram_free (no concurrent users allowed then).
 *
 * Invariant: shard->bytes (the sum of its entries' cache_obj_charge) never
 * exceeds shard->budget.
 */
#include "config.h"

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"
#include "cache/cache_int.h"
#include "core/assert.h"
#include "core/xmalloc.h"

#define RAM_BUCKETS_INITIAL 64u

struct ram_entry {
	struct ram_entry *chain; /* hash bucket; reused as the victim list */
	struct ram_entry *newer; /* towards the queue head */
	struct ram_entry *older; /* towards the queue tail */
	struct cache_obj *obj;   /* one reference owned by the tier */
	const char *key;         /* the object's own key */
	size_t key_len;
	uint64_t hash;
	size_t charge;
	atomic_bool visited;
};

struct ram_shard {
	alignas(64) pthread_mutex_t lock;
	struct ram_entry **buckets;
	size_t n_buckets; /* power of two */
	size_t n_entries;
	struct ram_entry *head; /* newest */
	struct ram_entry *tail; /* oldest */
	struct ram_entry *hand; /* SIEVE hand; NULL: start at the tail */
	uint64_t budget;
	uint64_t bytes;
	uint64_t evictions;
	uint64_t inserts;
};

struct cache_ram {
	unsigned n_shards;
	struct ram_shard *shards;
};

/* ---- hashing ---- */

static uint64_t
ram_rotl(uint64_t x, unsigned r)
{
	return (x << r) | (x >> (64 - r));
}

/* Final avalanche (multiply-xorshift, as in splitmix-style finalizers). */
static uint64_t
ram_fmix(uint64_t h)
{
	h ^= h >> 31;
	h *= 0x7fb5d329728ea185ULL;
	h ^= h >> 27;
	h *= 0x81dadef4bc2dd44dULL;
	h ^= h >> 33;
	return h;
}

/*
 * Word-at-a-time multiply-rotate hash: not cryptographic (keys are chosen by
 * clients, but a shard's chains are short and the table grows with its
 * entries, so a collision flood costs CPU, not memory).
 */
uint64_t
cache_hash(const char *p, size_t n)
{
	uint64_t h = 0x243f6a8885a308d3ULL ^ ((uint64_t)n * 0x9e3779b97f4a7c15ULL);
	uint64_t v;

	while (n >= 8) {
		memcpy(&v, p, 8);
		h ^= v * 0x9e3779b97f4a7c15ULL;
		h = ram_rotl(h, 29) * 0xc2b2ae3d27d4eb4fULL;
		p += 8;
		n -= 8;
	}
	v = 0;
	if (n > 0)
		memcpy(&v, p, n);
	h ^= v * 0x165667b19e3779f9ULL;
	h = ram_rotl(h, 31) * 0x9e3779b97f4a7c15ULL;
	return ram_fmix(h);
}

/* ---- shard internals (lock held) ---- */

static void
ram_lock(struct ram_shard *s)
{
	int rc = pthread_mutex_lock(&s->lock);

	ASSERT(rc == 0);
}

static void
ram_unlock(struct ram_shard *s)
{
	int rc = pthread_mutex_unlock(&s->lock);

	ASSERT(rc == 0);
}

static struct ram_shard *
ram_shard_of(struct cache_ram *r, uint64_t hash)
{
	/* High bits pick the shard, low bits the bucket. */
	return &r->shards[(hash >> 40) % r->n_shards];
}

static struct ram_entry **
ram_slot(struct ram_shard *s, uint64_t hash, const char *key, size_t key_len)
{
	struct ram_entry **pp = &s->buckets[hash & (s->n_buckets - 1)];

	for (; *pp != NULL; pp = &(*pp)->chain) {
		struct ram_entry *e = *pp;

		if (e->hash == hash && e->key_len == key_len && memcmp(e->key, key, key_len) == 0)
			return pp;
	}
	return pp;
}

static void
ram_grow(struct ram_shard *s)
{
	size_t nb = s->n_buckets * 2;
	struct ram_entry **b = calloc(nb, sizeof *b);

	if (b == NULL)
		return; /* keep the old table: longer chains, still correct */
	for (size_t i = 0; i < s->n_buckets; i++) {
		struct ram_entry *e = s->buckets[i], *next;

		for (; e != NULL; e = next) {
			next = e->chain;
			e->chain = b[e->hash & (nb - 1)];
			b[e->hash & (nb - 1)] = e;
		}
	}
	free(s->buckets);
	s->buckets = b;
	s->n_buckets = nb;
}

/* Takes e out of the queue (the table link is the caller's business). */
static void
ram_queue_unlink(struct ram_shard *s, struct ram_entry *e)
{
	if (s->hand == e)
		s->hand = e->newer;
	if (e->newer != NULL)
		e->newer->older = e->older;
	else
		s->head = e->older;
	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		s->tail = e->newer;
	e->newer = e->older = NULL;
	s->bytes -= e->charge;
	s->n_entries--;
}

/* Unlinks e from the table and the queue. */
static void
ram_unlink(struct ram_shard *s, struct ram_entry *e)
{
	struct ram_entry **pp = ram_slot(s, e->hash, e->key, e->key_len);

	ASSERT(*pp == e);
	*pp = e->chain;
	e->chain = NULL;
	ram_queue_unlink(s, e);
}

/* SIEVE: the entry to evict; the queue must not be empty. */
static struct ram_entry *
ram_sieve_victim(struct ram_shard *s)
{
	struct ram_entry *e = s->hand != NULL ? s->hand : s->tail;

	while (atomic_load_explicit(&e->visited, memory_order_relaxed)) {
		atomic_store_explicit(&e->visited, false, memory_order_relaxed);
		e = e->newer != NULL ? e->newer : s->tail;
	}
	return e;
}

static void
ram_release(struct ram_entry *victims)
{
	struct ram_entry *next;

	for (; victims != NULL; victims = next) {
		next = victims->chain;
		cache_obj_unref(&victims->obj);
		free(victims);
	}
}

/* ---- public ---- */

struct cache_ram *
cache_ram_new(uint64_t max_bytes, unsigned n_shards)
{
	struct cache_ram *r = xcalloc(1, sizeof *r);

	if (n_shards == 0)
		n_shards = 1;
	r->n_shards = n_shards;
	r->shards = aligned_alloc(alignof(struct ram_shard), n_shards * sizeof *r->shards);
	ASSERT(r->shards != NULL);
	for (unsigned i = 0; i < n_shards; i++) {
		struct ram_shard *s = &r->shards[i];
		int rc;

		memset(s, 0, sizeof *s);
		rc = pthread_mutex_init(&s->lock, NULL);
		ASSERT(rc == 0);
		s->n_buckets = RAM_BUCKETS_INITIAL;
		s->buckets = xcalloc(s->n_buckets, sizeof *s->buckets);
		s->budget = max_bytes / n_shards;
	}
	return r;
}

void
cache_ram_free(struct cache_ram **rp)
{
	struct cache_ram *r = *rp;

	*rp = NULL;
	if (r == NULL)
		return;
	for (unsigned i = 0; i < r->n_shards; i++) {
		struct ram_shard *s = &r->shards[i];
		struct ram_entry *e, *next;

		for (e = s->head; e != NULL; e = next) {
			next = e->older;
			cache_obj_unref(&e->obj);
			free(e);
		}
		free(s->buckets);
		(void)pthread_mutex_destroy(&s->lock);
	}
	free(r->shards);
	free(r);
}

int
cache_ram_lookup(struct cache_ram *r, const char *key, size_t key_len, struct cache_obj **out)
{
	uint64_t hash = cache_hash(key, key_len);
	struct ram_shard *s = ram_shard_of(r, hash);
	struct ram_entry *e;

	ram_lock(s);
	e = *ram_slot(s, hash, key, key_len);
	if (e != NULL) {
		atomic_store_explicit(&e->visited, true, memory_order_relaxed);
		*out = cache_obj_ref(e->obj);
	}
	ram_unlock(s);
	return e != NULL ? 0 : -1;
}

/* cache_ram_insert, or cache_ram_promote when !replace. */
static void
ram_insert(struct cache_ram *r, struct cache_obj *o, bool replace)
{
	size_t key_len;
	const char *key = cache_obj_key(o, &key_len);
	uint64_t hash = cache_hash(key, key_len);
	struct ram_shard *s = ram_shard_of(r, hash);
	size_t charge = cache_obj_charge(o);
	struct ram_entry *e, **pp, *victims = NULL;

	if (charge > s->budget || (e = malloc(sizeof *e)) == NULL) {
		/* Not storable here; whatever was stored under the key is
		 * superseded by this response all the same (not by a copy
		 * promoted from disk, which is no newer). */
		if (replace)
			cache_ram_remove(r, key, key_len);
		return;
	}
	e->chain = e->newer = e->older = NULL;
	e->obj = cache_obj_ref(o);
	e->key = key;
	e->key_len = key_len;
	e->hash = hash;
	e->charge = charge;
	atomic_init(&e->visited, false);

	ram_lock(s);
	pp = ram_slot(s, hash, key, key_len);
	if (*pp != NULL && !replace) {
		ram_unlock(s);
		ram_release(e); /* e->chain is NULL */
		return;
	}
	if (*pp != NULL) {
		struct ram_entry *old = *pp;

		ram_unlink(s, old);
		old->chain = victims;
		victims = old;
	}
	while (s->bytes + charge > s->budget) {
		struct ram_entry *v = ram_sieve_victim(s);

		s->hand = v->newer; /* SIEVE: the hand stays where it stopped */
		ram_unlink(s, v);
		v->chain = victims;
		victims = v;
		s->evictions++;
	}
	pp = ram_slot(s, hash, key, key_len);
	*pp = e;
	e->older = s->head;
	if (s->head != NULL)
		s->head->newer = e;
	s->head = e;
	if (s->tail == NULL)
		s->tail = e;
	s->bytes += charge;
	s->n_entries++;
	s->inserts++;
	if (s->n_entries > s->n_buckets)
		ram_grow(s);
	ASSERT(s->bytes <= s->budget);
	ram_unlock(s);

	ram_release(victims);
}

void
cache_ram_insert(struct cache_ram *r, struct cache_obj *o)
{
	ram_insert(r, o, true);
}

void
cache_ram_promote(struct cache_ram *r, struct cache_obj *o)
{
	ram_insert(r, o, false);
}

bool
cache_ram_remove(struct cache_ram *r, const char *key, size_t key_len)
{
	uint64_t hash = cache_hash(key, key_len);
	struct ram_shard *s = ram_shard_of(r, hash);
	struct ram_entry *e;
	bool removed;

	ram_lock(s);
	e = *ram_slot(s, hash, key, key_len);
	if (e != NULL)
		ram_unlink(s, e);
	ram_unlock(s);
	removed = e != NULL;
	ram_release(e);
	return removed;
}

void
cache_ram_stats(struct cache_ram *r, struct cache_ram_stats *out)
{
	memset(out, 0, sizeof *out);
	for (unsigned i = 0; i < r->n_shards; i++) {
		struct ram_shard *s = &r->shards[i];

		ram_lock(s);
		out->bytes += s->bytes;
		out->objects += s->n_entries;
		out->evictions += s->evictions;
		out->inserts += s->inserts;
		ram_unlock(s);
	}
}

unsigned
cache_ram_shards(const struct cache_ram *r)
{
	return r->n_shards;
}

size_t
cache_ram_sweep(struct cache_ram *r, unsigned shard, cache_ram_keep_cb *keep, void *arg)
{
	struct ram_shard *s = &r->shards[shard % r->n_shards];
	struct ram_entry *e, *older, *victims = NULL;
	size_t n = 0;

	ram_lock(s);
	for (e = s->head; e != NULL; e = older) {
		older = e->older;
		if (keep(arg, e->obj))
			continue;
		ram_unlink(s, e);
		e->chain = victims;
		victims = e;
		n++;
	}
	ram_unlock(s);
	ram_release(victims);
	return n;
}
