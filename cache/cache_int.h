/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cache/cache_int.h — what the cache/ modules share among themselves and
 * nobody outside cache/ may use (Varnish's second exposure level).
 */
#ifndef OUTPOST_CACHE_CACHE_INT_H
#define OUTPOST_CACHE_CACHE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct cache_obj;

/* The freshness numbers an object was built with (for the disk tier's
 * serialization: cache_obj_new takes them back). */
void cache_obj_times(
    const struct cache_obj *o, time_t *stored_at, int64_t *ttl_s, int64_t *initial_age_s);

/* The field set of old updated by upd as cache_obj_update stores it (Age
 * from upd included, for the policy's age calculation): *out is a malloc'd
 * array of views into old's head and upd; the count, or -1 on allocation
 * failure. */
struct h1_header;
ssize_t cache_obj_merge_fields(
    const struct cache_obj *o, const struct h1_header *upd, size_t n_upd, struct h1_header **out);

struct cache_disk;

/* Test hooks of the disk tier.  pause: the writer stops taking work from the
 * queue until resumed (so a test can fill the queue).  check: walks the whole
 * environment in one read transaction and verifies that every object's chunks
 * are all there with the recorded lengths, that the eviction order and the
 * stored totals agree with the metadata; 0, or -1 with the first problem in
 * err.  Any thread. */
void cache_disk_pause(struct cache_disk *d, bool paused);
int cache_disk_check(struct cache_disk *d, char *err, size_t errlen);

/* The memory account (cache_mem.c): cache_obj.c and cache_fill.c report each
 * allocation, growth and free of what they hold.  Lock-free; any thread. */
enum cache_mem_kind {
	CACHE_MEM_OBJECTS = 0, /* objects: struct, key, head, own body */
	CACHE_MEM_BUILDING,    /* bodies not complete yet (also in OBJECTS) */
	CACHE_MEM_FILLS,       /* fill chunks */
};
void cache_mem_add(enum cache_mem_kind k, size_t n);
void cache_mem_sub(enum cache_mem_kind k, size_t n);
/* Ban generations (cache_ban.c) of an object.  gen: the ban clock when the
 * fill that made it began (set by the fill before it is stored; a copy read
 * from disk gets the start of its store second).  ban_clear: no ban whose
 * generation is at most this applies (a lookup that found none raises it, so
 * the next one starts from there).  Any thread. */
uint64_t cache_obj_ban_clear(const struct cache_obj *o);
void cache_obj_set_ban_clear(struct cache_obj *o, uint64_t gen);
/* A NEW object (one reference) with o's key, head and shared body, stale from
 * now on (soft purge), whose generation is gen.  NULL on allocation failure. */
struct cache_obj *cache_obj_stale_copy(struct cache_obj *o, time_t now, uint64_t gen);

/* The RAM tier's shard count, and a walk of one shard under its lock:
 * keep(arg, o) for each object, which is removed when it returns false (its
 * reference dropped after the lock).  keep must be quick and must not call
 * into the tier.  The number removed.  Any thread (the ban remover's). */
typedef bool cache_ram_keep_cb(void *arg, struct cache_obj *o);
struct cache_ram;
unsigned cache_ram_shards(const struct cache_ram *r);
size_t cache_ram_sweep(struct cache_ram *r, unsigned shard, cache_ram_keep_cb *keep, void *arg);

/* A walk of the disk tier's stored objects in small read transactions: from
 * the record after cursor (*cursor_len 0: the first), at most max records,
 * each given to cb(arg, key, key_len, head, head_len, stored_at) while the
 * transaction is open (the views die with it; cb must not call into the
 * tier).  cursor (cap CACHE_DISK_CURSOR_MAX) is advanced past the last.  The
 * number of records seen: 0 at the end; -1 on an LMDB error.  Any thread
 * but the event loops (a read transaction of up to max records). */
#define CACHE_DISK_CURSOR_MAX 512
typedef void cache_disk_scan_cb(void *arg, const char *key, size_t key_len, const char *head,
    size_t head_len, time_t stored_at);
int cache_disk_scan(struct cache_disk *d, unsigned char *cursor, size_t *cursor_len, unsigned max,
    cache_disk_scan_cb *cb, void *arg);

/* Is o a URL's variant index rather than a response (cache_vary.c)? */
bool cache_vary_is_index(const struct cache_obj *o);

/* The bans a lookup or a store of o meets (cache_ban.c): CACHE_BAN_NONE, or
 * HARD (o must not be served or stored), or SOFT (o may be used only as a
 * stale copy: *gen is the generation to give that copy).  Lock-free; any
 * thread. */
enum cache_ban_hit {
	CACHE_BAN_NONE = 0,
	CACHE_BAN_HARD,
	CACHE_BAN_SOFT,
};
struct cache_bans;
enum cache_ban_hit cache_ban_check(struct cache_bans *bl, struct cache_obj *o, uint64_t *gen);
/* The ban list of one cache, empty; freed with every ban in it (its remover
 * stopped first).  Main thread. */
struct cache_bans *cache_bans_new(void);
void cache_bans_free(struct cache_bans **blp);

/* The fill table (cache_fill.c): cache_fill_begin on one table (the
 * handle's, or a test's own). */
struct cache_fill_table;
struct cache_fill_reader;
struct cache_fill;
enum cache_fill_role cache_fill_table_begin(struct cache_fill_table *t, const char *key,
    size_t key_len, time_t now, struct cache_fill **out, struct cache_fill_reader *rd);
int cache_fill_table_private(struct cache_fill_table *t, const char *key, size_t key_len,
    struct cache_fill **out, struct cache_fill_reader *rd);

/*
 * The handle (cache.c): what one node caches.  ram NULL: nothing is stored
 * (no fills and no disk tier either); bans always exist.  Set up by
 * cache_new and not changed until cache_free.
 */
struct cache {
	struct cache_ram *ram;
	struct cache_disk *disk;
	struct cache_fill_table *fills;
	struct cache_bans *bans;
};

/* Fast 64-bit hash of a key for in-memory tables (shard, bucket, stripe
 * choice): XXH3 keyed with a secret drawn once per process, so colliding
 * keys cannot be precomputed.  Any thread. */
uint64_t cache_hash(const char *p, size_t n);
/* The same for every process (the disk tier's key of a long URL). */
uint64_t cache_hash_stable(const char *p, size_t n);

#endif
