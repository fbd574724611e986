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

/* The object's key (NUL-terminated, immutable for the object's life). */
const char *cache_obj_key(const struct cache_obj *o, size_t *len);

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

/* Fast non-cryptographic 64-bit hash of a key (shard and bucket choice). */
uint64_t cache_hash(const char *p, size_t n);

#endif
