/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cache/cache_ram.c — the RAM tier: sharded, bounded in bytes, S3-FIFO
 * eviction with a size-aware main queue.
 *
 * Model: n_shards independent shards chosen by the key's hash; each has its own
 * mutex, a chained hash table of entries, a byte budget of max_bytes/n_shards,
 * and the three queues of S3-FIFO (Yang et al., SOSP '23):
 *
 *   - small: a FIFO of a tenth of the budget where every new object starts;
 *     an object leaving it moves to main if it was hit RAM_PROMOTE_HITS times
 *     while there, else it is evicted and remembered in the ghost;
 *   - main: a FIFO of the rest, with a frequency per entry (hits, capped at
 *     RAM_FREQ_MAX); an entry at its tail goes back to the head paying
 *     1 + charge / (budget / RAM_SIZE_DIV) of its frequency, or is evicted
 *     when it cannot pay — so a large object must be hit more often than a
 *     small one to keep its place (it displaces more of them);
 *   - ghost: the hashes of objects evicted from small, bounded by the bytes
 *     they had (RAM_GHOST_MULT times the budget) and by a fixed number of
 *     slots; an object found there on its next insert goes straight to main.
 *
 * A hit only raises the entry's frequency (no list movement), so a one-time
 * scan of cold keys passes through the small queue without displacing
 * re-accessed entries.  Replayed through the node, the caffeine trace
 * reaches higher object hit ratios than plain S3-FIFO at 1, 5 and 10 % of
 * its unique bytes (doc/benchmarks.md), counting each object's real charge.
 *
 * Locking: everything in a shard (table, queues, ghost, counters) is guarded
 * by its mutex; the frequency is additionally an atomic written with relaxed
 * order so a future lock-free probe may raise it.  The tier holds one
 * reference on each stored object.  A lookup takes the lock only for the
 * probe and the reference increment and never allocates; objects displaced
 * by insert, remove or eviction are unreferenced (and maybe freed) after the
 * lock is dropped, so a free never runs under a shard lock.  Any thread may
 * call every function except cache_ram_free (no concurrent users allowed
 * then).
 *
 * Invariant: shard->bytes (the sum of its entries' cache_obj_charge, plus
 * the ghost's own memory) never exceeds shard->budget.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <xxhash.h>

#include "cache/cache.h"
#include "cache/cache_int.h"
#include "core/assert.h"
#include "core/xmalloc.h"

#define RAM_BUCKETS_INITIAL 64u
#define RAM_SMALL_DIV       10u   /* the small queue: budget / 10 */
#define RAM_PROMOTE_HITS    2u    /* hits in small that earn main */
#define RAM_FREQ_MAX        7u    /* frequency cap */
#define RAM_SIZE_DIV        200u  /* main: one more frequency point per budget/200 of charge */
#define RAM_GHOST_MULT      3u    /* ghost: the bytes of 3 budgets of evicted objects */
#define RAM_GHOST_AVG       4096u /* ghost slots: one per RAM_GHOST_AVG bytes of those */
#define RAM_GHOST_MIN       8u
#define RAM_GHOST_NIL       UINT32_MAX

enum ram_queue { RAM_SMALL, RAM_MAIN };

struct ram_entry {
	struct ram_entry *chain; /* hash bucket; reused as the victim list */
	struct ram_entry *newer; /* towards its queue's head */
	struct ram_entry *older; /* towards its queue's tail */
	struct cache_obj *obj;   /* one reference owned by the tier */
	const char *key;         /* the object's own key */
	size_t key_len;
	uint64_t hash;
	size_t charge;
	atomic_uchar freq;   /* hits, capped at RAM_FREQ_MAX */
	unsigned char queue; /* enum ram_queue */
};

/* A FIFO of entries, newest at the head. */
struct ram_fifo {
	struct ram_entry *head;
	struct ram_entry *tail;
	uint64_t bytes;
};

/* An evicted object's hash in the ghost ring, chained in its index bucket. */
struct ram_ghost_slot {
	uint64_t hash; /* 0: free */
	uint32_t charge;
	uint32_t next; /* index chain, RAM_GHOST_NIL ends it */
};

struct ram_ghost {
	struct ram_ghost_slot *ring;
	uint32_t *index; /* bucket heads */
	uint32_t n_slots;
	uint32_t n_index; /* power of two */
	uint32_t oldest;  /* ring position of the oldest slot */
	uint32_t count;
	uint64_t bytes; /* charges remembered */
	uint64_t max_bytes;
};

struct ram_shard {
	alignas(64) pthread_mutex_t lock;
	struct ram_entry **buckets;
	size_t n_buckets; /* power of two */
	size_t n_entries;
	struct ram_fifo small, main;
	struct ram_ghost ghost;
	uint64_t budget;
	uint64_t bytes; /* entries' charges and the ghost's memory */
	uint64_t small_budget;
	uint64_t size_step; /* main: charge per extra frequency point */
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
 * Word-at-a-time multiply-rotate hash, the same in every process: for what
 * outlives one (the disk tier's keys of long URLs).  Not for tables a client
 * can aim at: cache_hash.
 */
uint64_t
cache_hash_stable(const char *p, size_t n)
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

/* XXH3 under a secret drawn at the first use in this process: keys are
 * chosen by clients, and colliding ones must not be computable in advance
 * (a flood of them would make one shard's chains long). */
static unsigned char cache_hash_secret[192];
static pthread_once_t cache_hash_once = PTHREAD_ONCE_INIT;

static void
cache_hash_init(void)
{
	size_t got = 0;

	_Static_assert(sizeof cache_hash_secret >= XXH3_SECRET_SIZE_MIN, "XXH3 secret too short");
	while (got < sizeof cache_hash_secret) {
		ssize_t n = getrandom(cache_hash_secret + got, sizeof cache_hash_secret - got, 0);

		if (n == -1 && errno != EINTR)
			UNREACHABLE("getrandom failed");
		if (n > 0)
			got += (size_t)n;
	}
}

uint64_t
cache_hash(const char *p, size_t n)
{
	(void)pthread_once(&cache_hash_once, cache_hash_init);
	return XXH3_64bits_withSecret(p, n, cache_hash_secret, sizeof cache_hash_secret);
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

/* ---- queues ---- */

static struct ram_fifo *
ram_fifo_of(struct ram_shard *s, const struct ram_entry *e)
{
	return e->queue == RAM_MAIN ? &s->main : &s->small;
}

static void
ram_fifo_push(struct ram_fifo *q, struct ram_entry *e)
{
	e->newer = NULL;
	e->older = q->head;
	if (q->head != NULL)
		q->head->newer = e;
	q->head = e;
	if (q->tail == NULL)
		q->tail = e;
	q->bytes += e->charge;
}

static void
ram_fifo_unlink(struct ram_fifo *q, struct ram_entry *e)
{
	if (e->newer != NULL)
		e->newer->older = e->older;
	else
		q->head = e->older;
	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		q->tail = e->newer;
	e->newer = e->older = NULL;
	q->bytes -= e->charge;
}

/* Takes e out of its queue (the table link is the caller's business). */
static void
ram_queue_unlink(struct ram_shard *s, struct ram_entry *e)
{
	ram_fifo_unlink(ram_fifo_of(s, e), e);
	s->bytes -= e->charge;
	s->n_entries--;
}

/* Unlinks e from the table and its queue. */
static void
ram_unlink(struct ram_shard *s, struct ram_entry *e)
{
	struct ram_entry **pp = ram_slot(s, e->hash, e->key, e->key_len);

	ASSERT(*pp == e);
	*pp = e->chain;
	e->chain = NULL;
	ram_queue_unlink(s, e);
}

/* ---- ghost ---- */

static size_t
ram_ghost_memory(uint32_t n_slots, uint32_t n_index)
{
	return (size_t)n_slots * sizeof(struct ram_ghost_slot) + (size_t)n_index * sizeof(uint32_t);
}

static void
ram_ghost_init(struct ram_ghost *g, uint64_t budget)
{
	uint64_t want = budget / RAM_GHOST_AVG * RAM_GHOST_MULT;

	g->n_slots = (uint32_t)(want < RAM_GHOST_MIN ? RAM_GHOST_MIN
	                        : want > (1u << 30)  ? (1u << 30)
	                                             : want);
	for (g->n_index = 1; g->n_index < g->n_slots; g->n_index *= 2)
		;
	g->ring = xcalloc(g->n_slots, sizeof *g->ring);
	g->index = xmalloc((size_t)g->n_index * sizeof *g->index);
	memset(g->index, 0xff, (size_t)g->n_index * sizeof *g->index); /* RAM_GHOST_NIL */
	g->max_bytes = budget * RAM_GHOST_MULT;
}

static uint32_t *
ram_ghost_link(struct ram_ghost *g, uint64_t hash)
{
	uint32_t *pi = &g->index[hash & (g->n_index - 1)];

	while (*pi != RAM_GHOST_NIL && g->ring[*pi].hash != hash)
		pi = &g->ring[*pi].next;
	return pi;
}

/* Forgets the oldest remembered hash. */
static void
ram_ghost_drop_oldest(struct ram_ghost *g)
{
	struct ram_ghost_slot *o = &g->ring[g->oldest];
	uint32_t *pi;

	if (o->hash != 0) {
		pi = ram_ghost_link(g, o->hash);
		ASSERT(*pi == g->oldest);
		*pi = o->next;
		g->bytes -= o->charge;
		o->hash = 0;
	}
	g->count--; /* a slot or the hole ram_ghost_take left */
	g->oldest = (g->oldest + 1) % g->n_slots;
}

static void
ram_ghost_add(struct ram_ghost *g, uint64_t hash, size_t charge)
{
	uint32_t c = charge > UINT32_MAX ? UINT32_MAX : (uint32_t)charge;
	uint32_t pos, *pi;

	hash |= 1; /* 0 marks a free slot */
	if (*ram_ghost_link(g, hash) != RAM_GHOST_NIL)
		return;
	while (g->count > 0 && (g->count == g->n_slots || g->bytes + c > g->max_bytes))
		ram_ghost_drop_oldest(g);
	pos = (g->oldest + g->count) % g->n_slots;
	ASSERT(g->ring[pos].hash == 0);
	pi = &g->index[hash & (g->n_index - 1)];
	g->ring[pos] = (struct ram_ghost_slot){.hash = hash, .charge = c, .next = *pi};
	*pi = pos;
	g->bytes += c;
	g->count++;
}

/* Whether hash was remembered (and forgets it: the object is back). */
static bool
ram_ghost_take(struct ram_ghost *g, uint64_t hash)
{
	uint32_t *pi = ram_ghost_link(g, hash | 1), pos;

	if (*pi == RAM_GHOST_NIL)
		return false;
	pos = *pi;
	*pi = g->ring[pos].next;
	g->bytes -= g->ring[pos].charge;
	g->ring[pos].hash = 0; /* a hole the ring's walk skips */
	/* the count stays until the hole is the oldest: the ring's positions
	 * are oldest + 0 .. count - 1 */
	g->ring[pos].charge = 0;
	return true;
}

/* ---- eviction (S3-FIFO) ---- */

static void ram_evict_main(struct ram_shard *s, struct ram_entry **victims);

static void
ram_victim(struct ram_shard *s, struct ram_entry *v, struct ram_entry **victims)
{
	ram_unlink(s, v);
	v->chain = *victims;
	*victims = v;
	s->evictions++;
}

/* Evicts one entry from the small queue's tail, moving the ones hit often
 * enough to main on the way (which may evict from main). */
static void
ram_evict_small(struct ram_shard *s, struct ram_entry **victims)
{
	struct ram_entry *e;

	while ((e = s->small.tail) != NULL) {
		if (atomic_load_explicit(&e->freq, memory_order_relaxed) >= RAM_PROMOTE_HITS) {
			ram_fifo_unlink(&s->small, e);
			atomic_store_explicit(&e->freq, 0, memory_order_relaxed);
			e->queue = RAM_MAIN;
			ram_fifo_push(&s->main, e);
			while (s->main.bytes > s->budget - s->small_budget && s->main.tail != NULL)
				ram_evict_main(s, victims);
			continue;
		}
		ram_ghost_add(&s->ghost, e->hash, e->charge);
		ram_victim(s, e, victims);
		return;
	}
}

/* Evicts one entry from main's tail; entries that can pay for another round
 * (1 + charge / size_step of their frequency) go back to the head. */
static void
ram_evict_main(struct ram_shard *s, struct ram_entry **victims)
{
	struct ram_entry *e;

	while ((e = s->main.tail) != NULL) {
		unsigned freq = atomic_load_explicit(&e->freq, memory_order_relaxed);
		uint64_t cost = 1 + e->charge / s->size_step;

		if (freq >= cost) {
			atomic_store_explicit(
			    &e->freq, (unsigned char)(freq - cost), memory_order_relaxed);
			ram_fifo_unlink(&s->main, e);
			ram_fifo_push(&s->main, e);
			continue;
		}
		ram_victim(s, e, victims);
		return;
	}
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
		ram_ghost_init(&s->ghost, s->budget);
		/* the ghost's memory counts against the budget it serves */
		s->bytes = ram_ghost_memory(s->ghost.n_slots, s->ghost.n_index);
		if (s->bytes > s->budget)
			s->bytes = s->budget;
		s->small_budget = s->budget / RAM_SMALL_DIV;
		s->size_step = s->budget / RAM_SIZE_DIV > 0 ? s->budget / RAM_SIZE_DIV : 1;
	}
	return r;
}

static void
ram_fifo_free(struct ram_fifo *q)
{
	struct ram_entry *e, *next;

	for (e = q->head; e != NULL; e = next) {
		next = e->older;
		cache_obj_unref(&e->obj);
		free(e);
	}
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

		ram_fifo_free(&s->small);
		ram_fifo_free(&s->main);
		free(s->ghost.ring);
		free(s->ghost.index);
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
		unsigned f = atomic_load_explicit(&e->freq, memory_order_relaxed);

		if (f < RAM_FREQ_MAX)
			atomic_store_explicit(
			    &e->freq, (unsigned char)(f + 1), memory_order_relaxed);
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
	uint64_t room = s->budget - ram_ghost_memory(s->ghost.n_slots, s->ghost.n_index);

	if (s->budget < ram_ghost_memory(s->ghost.n_slots, s->ghost.n_index) || charge > room ||
	    (e = malloc(sizeof *e)) == NULL) {
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
	e->queue = RAM_SMALL;
	atomic_init(&e->freq, 0);

	ram_lock(s);
	pp = ram_slot(s, hash, key, key_len);
	if (*pp != NULL && !replace) {
		ram_unlock(s);
		ram_release(e); /* e->chain is NULL */
		return;
	}
	if (*pp != NULL) {
		/* a newer response for the key keeps the old one's place */
		struct ram_entry *old = *pp;

		e->queue = old->queue;
		atomic_store_explicit(&e->freq,
		    atomic_load_explicit(&old->freq, memory_order_relaxed), memory_order_relaxed);
		ram_unlink(s, old);
		old->chain = victims;
		victims = old;
	} else if (ram_ghost_take(&s->ghost, hash)) {
		e->queue = RAM_MAIN;
	}
	while (s->bytes + charge > s->budget) {
		if (s->small.bytes > s->small_budget || s->main.tail == NULL)
			ram_evict_small(s, &victims);
		else
			ram_evict_main(s, &victims);
	}
	pp = ram_slot(s, hash, key, key_len);
	*pp = e;
	ram_fifo_push(ram_fifo_of(s, e), e);
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
		out->bytes += s->small.bytes + s->main.bytes;
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

static size_t
ram_fifo_sweep(struct ram_shard *s, struct ram_fifo *q, cache_ram_keep_cb *keep, void *arg,
    struct ram_entry **victims)
{
	struct ram_entry *e, *older;
	size_t n = 0;

	for (e = q->head; e != NULL; e = older) {
		older = e->older;
		if (keep(arg, e->obj))
			continue;
		ram_unlink(s, e);
		e->chain = *victims;
		*victims = e;
		n++;
	}
	return n;
}

size_t
cache_ram_sweep(struct cache_ram *r, unsigned shard, cache_ram_keep_cb *keep, void *arg)
{
	struct ram_shard *s = &r->shards[shard % r->n_shards];
	struct ram_entry *victims = NULL;
	size_t n;

	ram_lock(s);
	n = ram_fifo_sweep(s, &s->small, keep, arg, &victims);
	n += ram_fifo_sweep(s, &s->main, keep, arg, &victims);
	ram_unlock(s);
	ram_release(victims);
	return n;
}
