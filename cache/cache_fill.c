/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cache/cache_fill.c — request collapsing: the table of fills in progress and
 * their growing bodies (read-while-write).
 *
 * Table: n shards, each a chain of entries under its own mutex, chosen by key
 * hash; no global lock.  An entry is either a fill in progress (state WAIT or
 * BODY) or a hit-for-pass marker (state PASS, pass_until) left by a fill
 * whose response was not storable; expired markers are dropped by the next
 * lookup that walks their chain.  The table holds one reference on each entry;
 * the leader and every waiter hold their own.
 *
 * Body: a singly linked list of chunks that never move.  Only the leader
 * writes: it copies bytes into the tail chunk, then publishes the chunk's new
 * length with a release store; a full chunk gets a successor, published the
 * same way through its next pointer.  Readers follow the list with acquire
 * loads and no lock, each at its own position, and hand out views into a
 * chunk together with a reference on it (so an evbuffer may keep the bytes
 * after the reader moved on).  Every chunk holds a reference on its
 * successor; the fill holds the first chunk (an empty sentinel, so a reader
 * can start before any byte exists) while waiters may still join, and the
 * tail while it appends.  When joins close (cache_fill_close_joins) or the
 * fill ends, the fill lets go of the head of the list, so chunks every reader
 * has passed are freed.  Each chunk holds a reference on its fill, which
 * counts the bytes of live chunks (cache_fill_window): a leader whose body
 * is no longer stored paces itself by it, i.e. by its slowest reader.  The
 * chunks' bytes also go to the cache's memory account (cache_mem.c).
 *
 * Wake-ups: each fill has a 64-bit watch mask (one bit per group of workers,
 * set by waiters); the leader calls the table's notify callback for each set
 * bit after publishing, and the edge turns that into an eventfd write.  The
 * leader's publish and the waiter's watch are each followed by a seq_cst
 * fence before reading the other side, so a waiter either sees the new bytes
 * or is notified.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"
#include "cache/cache_int.h"
#include "core/assert.h"
#include "core/xmalloc.h"

#define FILL_CHUNK_MIN (16u * 1024)
#define FILL_CHUNK_MAX (256u * 1024)

struct cache_fill_chunk {
	atomic_uint refs;
	struct cache_fill *f;                    /* holds a reference: the fill counts live bytes */
	_Atomic(struct cache_fill_chunk *) next; /* holds a reference */
	atomic_size_t len;                       /* bytes published */
	size_t cap;
	char data[];
};

struct cache_fill {
	unsigned magic;
	atomic_uint refs;
	struct cache_fill *next; /* shard chain, under the shard lock */
	struct cache_fill_table *t;
	uint64_t hash;
	bool in_table;     /* under the shard lock */
	time_t pass_until; /* markers */
	_Atomic int state; /* enum cache_fill_state */
	struct cache_obj *obj;
	int64_t length;
	struct cache_fill_chunk *first; /* sentinel while joinable (shard lock) */
	struct cache_fill_chunk *tail;  /* the leader's */
	uint64_t total;                 /* the leader's */
	_Atomic uint64_t watch;
	atomic_size_t live;    /* capacity of the chunks not yet freed */
	atomic_uint n_readers; /* readers not yet done */
	size_t key_len;
	char key[];
};

#define FILL_SHARD_MARKERS 32u /* hit-for-pass markers kept per shard */

struct fill_shard {
	pthread_mutex_t mu;
	struct cache_fill *head;
	unsigned n_markers; /* at most FILL_SHARD_MARKERS */
};

struct cache_fill_table {
	unsigned n_shards;
	cache_fill_notify_cb *notify;
	void *arg;
	struct fill_shard shards[];
};

static struct cache_fill_chunk *
fill_chunk_new(struct cache_fill *f, size_t cap)
{
	struct cache_fill_chunk *c = malloc(sizeof *c + cap);

	if (c == NULL)
		return NULL;
	c->f = cache_fill_ref(f);
	atomic_fetch_add_explicit(&f->live, cap, memory_order_relaxed);
	cache_mem_add(CACHE_MEM_FILLS, cap);
	atomic_init(&c->refs, 1);
	atomic_init(&c->next, NULL);
	atomic_init(&c->len, 0);
	c->cap = cap;
	return c;
}

static struct cache_fill_chunk *
fill_chunk_ref(struct cache_fill_chunk *c)
{
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	return c;
}

/* Drops a reference; frees the chunk and, iteratively, the successors it was
 * the last holder of. */
static void
fill_chunk_unref(struct cache_fill_chunk *c)
{
	while (c != NULL && atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1) {
		struct cache_fill_chunk *next =
		    atomic_load_explicit(&c->next, memory_order_acquire);
		struct cache_fill *f = c->f;

		atomic_fetch_sub_explicit(&f->live, c->cap, memory_order_relaxed);
		cache_mem_sub(CACHE_MEM_FILLS, c->cap);
		free(c);
		cache_fill_unref(&f);
		c = next;
	}
}

void
cache_fill_chunk_release(void *ref)
{
	fill_chunk_unref(ref);
}

struct cache_fill_table *
cache_fill_table_new(unsigned n_shards, cache_fill_notify_cb *notify, void *arg)
{
	struct cache_fill_table *t;

	if (n_shards == 0)
		n_shards = 1;
	t = xcalloc(1, sizeof *t + n_shards * sizeof t->shards[0]);
	t->n_shards = n_shards;
	t->notify = notify;
	t->arg = arg;
	for (unsigned i = 0; i < n_shards; i++)
		pthread_mutex_init(&t->shards[i].mu, NULL);
	return t;
}

void
cache_fill_table_free(struct cache_fill_table **tp)
{
	struct cache_fill_table *t = *tp;

	*tp = NULL;
	if (t == NULL)
		return;
	for (unsigned i = 0; i < t->n_shards; i++) {
		struct cache_fill *e = t->shards[i].head;

		while (e != NULL) {
			struct cache_fill *next = e->next;

			e->in_table = false;
			cache_fill_unref(&e);
			e = next;
		}
		pthread_mutex_destroy(&t->shards[i].mu);
	}
	free(t);
}

/* A new entry with one reference (NULL on allocation failure). */
static struct cache_fill *
fill_new(struct cache_fill_table *t, const char *key, size_t key_len, uint64_t hash,
    enum cache_fill_state state)
{
	struct cache_fill *f = malloc(sizeof *f + key_len + 1);

	if (f == NULL)
		return NULL;
	f->magic = CACHE_FILL_MAGIC;
	atomic_init(&f->refs, 1);
	f->next = NULL;
	f->t = t;
	f->hash = hash;
	f->in_table = false;
	f->pass_until = 0;
	atomic_init(&f->state, (int)state);
	f->obj = NULL;
	f->length = -1;
	f->first = NULL;
	f->tail = NULL;
	f->total = 0;
	atomic_init(&f->watch, 0);
	atomic_init(&f->live, 0);
	atomic_init(&f->n_readers, 0);
	f->key_len = key_len;
	memcpy(f->key, key, key_len);
	f->key[key_len] = '\0';
	if (state == CACHE_FILL_S_WAIT) {
		f->first = fill_chunk_new(f, 0);
		if (f->first == NULL) {
			f->magic = 0;
			free(f);
			return NULL;
		}
		f->tail = fill_chunk_ref(f->first);
	}
	return f;
}

size_t
cache_fill_window(const struct cache_fill *f)
{
	OBJ_CHECK(f, CACHE_FILL_MAGIC);
	return atomic_load_explicit(&f->live, memory_order_relaxed);
}

unsigned
cache_fill_readers(const struct cache_fill *f)
{
	OBJ_CHECK(f, CACHE_FILL_MAGIC);
	return atomic_load_explicit(&f->n_readers, memory_order_relaxed);
}

struct cache_fill *
cache_fill_ref(struct cache_fill *f)
{
	OBJ_CHECK(f, CACHE_FILL_MAGIC);
	atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
	return f;
}

void
cache_fill_unref(struct cache_fill **fp)
{
	struct cache_fill *f = *fp;

	*fp = NULL;
	if (f == NULL)
		return;
	OBJ_CHECK(f, CACHE_FILL_MAGIC);
	if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1)
		return;
	ASSERT(!f->in_table);
	f->magic = 0;
	fill_chunk_unref(f->first);
	fill_chunk_unref(f->tail);
	cache_obj_unref(&f->obj);
	free(f);
}

static struct fill_shard *
fill_shard(struct cache_fill_table *t, uint64_t hash)
{
	return &t->shards[hash % t->n_shards];
}

/* Unlinks e from its shard chain and drops the table's reference.  Shard
 * lock held; e must be in the chain. */
static void
fill_unlink(struct fill_shard *s, struct cache_fill *e)
{
	struct cache_fill **pp = &s->head;

	while (*pp != e) {
		ASSERT(*pp != NULL);
		pp = &(*pp)->next;
	}
	*pp = e->next;
	e->next = NULL;
	e->in_table = false;
	cache_fill_unref(&e);
}

static bool
fill_is_marker(const struct cache_fill *e)
{
	return atomic_load_explicit(&e->state, memory_order_relaxed) == CACHE_FILL_S_PASS;
}

/* Removes the shard's oldest marker (the list is newest first). */
static void
fill_drop_oldest_marker(struct fill_shard *s)
{
	struct cache_fill *e, *oldest = NULL;

	for (e = s->head; e != NULL; e = e->next)
		if (fill_is_marker(e))
			oldest = e;
	if (oldest != NULL) {
		fill_unlink(s, oldest);
		s->n_markers--;
	}
}

/* Puts a hit-for-pass marker for f's key in f's place (shard lock held, f in
 * the table).  Without memory for a marker the key simply collapses again.
 * A shard keeps FILL_SHARD_MARKERS markers at most, so that unique
 * uncacheable URLs (each leaving a marker for 10 s) cannot make the walk of
 * every miss and fill end long: the oldest goes. */
static void
fill_replace_by_marker(struct fill_shard *s, struct cache_fill *f, time_t now)
{
	struct cache_fill *m = fill_new(f->t, f->key, f->key_len, f->hash, CACHE_FILL_S_PASS);

	fill_unlink(s, f);
	if (m == NULL)
		return;
	if (s->n_markers >= FILL_SHARD_MARKERS)
		fill_drop_oldest_marker(s);
	s->n_markers++;
	m->pass_until = now + CACHE_FILL_PASS_S;
	m->in_table = true;
	m->next = s->head;
	s->head = m;
}

static void
fill_reader_init(struct cache_fill *f, struct cache_fill_reader *rd)
{
	ASSERT(f->first != NULL);
	rd->chunk = fill_chunk_ref(f->first);
	rd->off = 0;
	rd->pos = 0;
	atomic_fetch_add_explicit(&f->n_readers, 1, memory_order_relaxed);
}

enum cache_fill_role
cache_fill_table_begin(struct cache_fill_table *t, const char *key, size_t key_len, time_t now,
    struct cache_fill **out, struct cache_fill_reader *rd)
{
	uint64_t hash = cache_hash(key, key_len);
	struct fill_shard *s = fill_shard(t, hash);
	struct cache_fill **pp, *e, *f;

	*out = NULL;
	pthread_mutex_lock(&s->mu);
	for (pp = &s->head; (e = *pp) != NULL;) {
		bool marker = fill_is_marker(e);

		if (marker && e->pass_until <= now) {
			*pp = e->next;
			e->in_table = false;
			s->n_markers--;
			cache_fill_unref(&e);
			continue;
		}
		if (e->hash == hash && e->key_len == key_len && memcmp(e->key, key, key_len) == 0) {
			if (marker) {
				pthread_mutex_unlock(&s->mu);
				return CACHE_FILL_PASS;
			}
			*out = cache_fill_ref(e);
			fill_reader_init(e, rd);
			pthread_mutex_unlock(&s->mu);
			return CACHE_FILL_WAITER;
		}
		pp = &e->next;
	}
	f = fill_new(t, key, key_len, hash, CACHE_FILL_S_WAIT);
	if (f == NULL) {
		/* no memory to collapse: the request goes to the origin alone */
		pthread_mutex_unlock(&s->mu);
		return CACHE_FILL_PASS;
	}
	f->in_table = true;
	f->next = s->head;
	s->head = f;
	*out = cache_fill_ref(f);
	fill_reader_init(f, rd);
	pthread_mutex_unlock(&s->mu);
	return CACHE_FILL_LEADER;
}

int
cache_fill_table_private(struct cache_fill_table *t, const char *key, size_t key_len,
    struct cache_fill **out, struct cache_fill_reader *rd)
{
	struct cache_fill *f =
	    fill_new(t, key, key_len, cache_hash(key, key_len), CACHE_FILL_S_WAIT);

	*out = NULL;
	if (f == NULL)
		return -1;
	fill_reader_init(f, rd);
	*out = f;
	return 0;
}

/* After a publish: wake every watcher group. */
static void
fill_notify(struct cache_fill *f)
{
	uint64_t m;

	atomic_thread_fence(memory_order_seq_cst);
	m = atomic_load_explicit(&f->watch, memory_order_relaxed);
	while (m != 0) {
		unsigned bit = (unsigned)__builtin_ctzll(m);

		m &= m - 1;
		f->t->notify(f->t->arg, bit);
	}
}

void
cache_fill_watch(struct cache_fill *f, unsigned bit)
{
	OBJ_CHECK(f, CACHE_FILL_MAGIC);
	atomic_fetch_or_explicit(&f->watch, (uint64_t)1 << (bit % 64), memory_order_seq_cst);
	atomic_thread_fence(memory_order_seq_cst);
}

void
cache_fill_head(struct cache_fill *f, struct cache_obj *obj, int64_t length)
{
	OBJ_CHECK(f, CACHE_FILL_MAGIC);
	ASSERT(f->obj == NULL);
	f->obj = cache_obj_ref(obj);
	f->length = length;
	atomic_store_explicit(&f->state, CACHE_FILL_S_BODY, memory_order_release);
	fill_notify(f);
}

/* Size of the next chunk: the rest of an announced body, else growing with
 * what came so far; within [FILL_CHUNK_MIN, FILL_CHUNK_MAX] except that a
 * short announced rest gets an exact fit. */
static size_t
fill_next_cap(const struct cache_fill *f, size_t want)
{
	uint64_t cap;

	if (f->length >= 0 && (uint64_t)f->length > f->total)
		cap = (uint64_t)f->length - f->total;
	else
		cap = f->total < FILL_CHUNK_MIN ? FILL_CHUNK_MIN : f->total;
	if (cap < want && cap < FILL_CHUNK_MIN)
		cap = want < FILL_CHUNK_MIN ? want : FILL_CHUNK_MIN;
	if (cap > FILL_CHUNK_MAX)
		cap = FILL_CHUNK_MAX;
	return (size_t)cap;
}

int
cache_fill_append(struct cache_fill *f, const char *data, size_t len)
{
	OBJ_CHECK(f, CACHE_FILL_MAGIC);
	ASSERT(f->tail != NULL);
	while (len > 0) {
		struct cache_fill_chunk *c = f->tail;
		size_t used = atomic_load_explicit(&c->len, memory_order_relaxed);
		size_t n = c->cap - used;

		if (n == 0) {
			struct cache_fill_chunk *nc = fill_chunk_new(f, fill_next_cap(f, len));

			if (nc == NULL)
				return -1;
			f->tail = fill_chunk_ref(nc);
			/* c's reference on its successor is the one nc was made with */
			atomic_store_explicit(&c->next, nc, memory_order_release);
			fill_chunk_unref(c);
			continue;
		}
		if (n > len)
			n = len;
		memcpy(c->data + used, data, n);
		atomic_store_explicit(&c->len, used + n, memory_order_release);
		data += n;
		len -= n;
		f->total += n;
	}
	fill_notify(f);
	return 0;
}

void
cache_fill_close_joins(struct cache_fill *f, time_t now)
{
	struct fill_shard *s;
	struct cache_fill_chunk *first;

	OBJ_CHECK(f, CACHE_FILL_MAGIC);
	s = fill_shard(f->t, f->hash);
	pthread_mutex_lock(&s->mu);
	if (f->in_table)
		fill_replace_by_marker(s, f, now);
	first = f->first;
	f->first = NULL;
	pthread_mutex_unlock(&s->mu);
	fill_chunk_unref(first);
}

void
cache_fill_end(struct cache_fill *f, enum cache_fill_state state, time_t now)
{
	struct fill_shard *s;
	struct cache_fill_chunk *first;

	OBJ_CHECK(f, CACHE_FILL_MAGIC);
	ASSERT(state == CACHE_FILL_S_DONE || state == CACHE_FILL_S_FAILED ||
	       state == CACHE_FILL_S_PASS);
	s = fill_shard(f->t, f->hash);
	pthread_mutex_lock(&s->mu);
	if (f->in_table) {
		if (state == CACHE_FILL_S_PASS)
			fill_replace_by_marker(s, f, now);
		else
			fill_unlink(s, f);
	}
	first = f->first;
	f->first = NULL;
	pthread_mutex_unlock(&s->mu);
	fill_chunk_unref(first);
	fill_chunk_unref(f->tail);
	f->tail = NULL;
	atomic_store_explicit(&f->state, (int)state, memory_order_release);
	fill_notify(f);
}

enum cache_fill_state
cache_fill_state(const struct cache_fill *f)
{
	OBJ_CHECK(f, CACHE_FILL_MAGIC);
	return (enum cache_fill_state)atomic_load_explicit(&f->state, memory_order_acquire);
}

struct cache_obj *
cache_fill_obj(const struct cache_fill *f)
{
	OBJ_CHECK(f, CACHE_FILL_MAGIC);
	return f->obj;
}

int64_t
cache_fill_length(const struct cache_fill *f)
{
	OBJ_CHECK(f, CACHE_FILL_MAGIC);
	return f->length;
}

bool
cache_fill_read(struct cache_fill_reader *rd, const char **p, size_t *len, void **ref)
{
	for (;;) {
		struct cache_fill_chunk *c = rd->chunk, *next;
		size_t l;

		if (c == NULL)
			return false;
		l = atomic_load_explicit(&c->len, memory_order_acquire);
		if (rd->off < l) {
			*p = c->data + rd->off;
			*len = l - rd->off;
			*ref = fill_chunk_ref(c);
			rd->off = l;
			rd->pos += *len;
			return true;
		}
		if (rd->off < c->cap)
			return false; /* the leader is still filling this chunk */
		next = atomic_load_explicit(&c->next, memory_order_acquire);
		if (next == NULL)
			return false;
		rd->chunk = fill_chunk_ref(next);
		rd->off = 0;
		fill_chunk_unref(c);
	}
}

void
cache_fill_reader_done(struct cache_fill_reader *rd)
{
	if (rd->chunk == NULL)
		return;
	atomic_fetch_sub_explicit(&rd->chunk->f->n_readers, 1, memory_order_relaxed);
	fill_chunk_unref(rd->chunk);
	rd->chunk = NULL;
}
