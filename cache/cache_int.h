/*
 * cache/cache_int.h — what the cache/ modules share among themselves and
 * nobody outside cache/ may use (Varnish's second exposure level).
 */
#ifndef OUTPOST_CACHE_CACHE_INT_H
#define OUTPOST_CACHE_CACHE_INT_H

#include <stddef.h>
#include <stdint.h>

struct cache_obj;

/* The object's key (NUL-terminated, immutable for the object's life). */
const char *cache_obj_key(const struct cache_obj *o, size_t *len);

/* Fast non-cryptographic 64-bit hash of a key (shard and bucket choice). */
uint64_t cache_hash(const char *p, size_t n);

#endif
