/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cache/cache_mem.c — the one memory account of the cache: what objects hold
 * (in the RAM tier, being filled, or still referenced by the clients that
 * read them after they left the tier) and what the chunks of fills hold, and
 * the share of it each client address pins.
 *
 * Model: three process-wide counters, moved by cache_obj.c (object bytes,
 * and of those the bodies still being built) and cache_fill.c (fill chunks)
 * at each allocation, growth and free, with relaxed atomics: no lock, and a
 * reader sees a sum that is at most a few appends stale, which is all a
 * budget check needs.  The RAM tier is a part of the object bytes (its own
 * bound is cache.ram), so objects + fills is the memory the budget covers
 * (cache_mem_over); what lies outside the tier is objects - building - RAM.
 *
 * Client accounts: a table of n shards (mutex each, chosen by hashing the
 * address), an entry per address while a connection from it holds a
 * reference; the bytes are an atomic the holders move without the lock.  The
 * lock is taken once per fill that charges an address, not per append.
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

static _Atomic uint64_t mem_objects;  /* live objects: struct, key, head, own body */
static _Atomic uint64_t mem_building; /* of which: bodies not complete yet */
static _Atomic uint64_t mem_fills;    /* fill chunks alive */

static _Atomic uint64_t *
mem_counter(enum cache_mem_kind k)
{
	switch (k) {
	case CACHE_MEM_OBJECTS:
		return &mem_objects;
	case CACHE_MEM_BUILDING:
		return &mem_building;
	case CACHE_MEM_FILLS:
		return &mem_fills;
	}
	UNREACHABLE("cache_mem_kind");
}

void
cache_mem_add(enum cache_mem_kind k, size_t n)
{
	if (n > 0)
		atomic_fetch_add_explicit(mem_counter(k), n, memory_order_relaxed);
}

void
cache_mem_sub(enum cache_mem_kind k, size_t n)
{
	if (n > 0)
		atomic_fetch_sub_explicit(mem_counter(k), n, memory_order_relaxed);
}

bool
cache_mem_over(uint64_t budget)
{
	return budget > 0 && atomic_load_explicit(&mem_objects, memory_order_relaxed) +
	                             atomic_load_explicit(&mem_fills, memory_order_relaxed) >
	                         budget;
}

void
cache_mem_stats(struct cache_mem_stats *out)
{
	out->objects = atomic_load_explicit(&mem_objects, memory_order_relaxed);
	out->building = atomic_load_explicit(&mem_building, memory_order_relaxed);
	out->fills = atomic_load_explicit(&mem_fills, memory_order_relaxed);
}

/* ---- client accounts ---- */

#define MEM_CLIENT_SHARDS 64u
#define MEM_CLIENT_ADDR   48u /* an IPv6 text address and its NUL */

struct cache_mem_client {
	struct cache_mem_client *next; /* shard chain, under the shard lock */
	unsigned refs;                 /* under the shard lock */
	unsigned shard;
	_Atomic uint64_t bytes;
	char addr[MEM_CLIENT_ADDR];
};

static struct {
	pthread_mutex_t mu;
	struct cache_mem_client *head;
} mem_clients[MEM_CLIENT_SHARDS];
static pthread_once_t mem_clients_once = PTHREAD_ONCE_INIT;

static void
mem_clients_init(void)
{
	for (unsigned i = 0; i < MEM_CLIENT_SHARDS; i++) {
		pthread_mutex_init(&mem_clients[i].mu, NULL);
		mem_clients[i].head = NULL;
	}
}

struct cache_mem_client *
cache_mem_client_get(const char *addr)
{
	size_t len = strnlen(addr, MEM_CLIENT_ADDR - 1);
	unsigned shard = (unsigned)(cache_hash(addr, len) % MEM_CLIENT_SHARDS);
	struct cache_mem_client *cl;

	pthread_once(&mem_clients_once, mem_clients_init);
	pthread_mutex_lock(&mem_clients[shard].mu);
	for (cl = mem_clients[shard].head; cl != NULL; cl = cl->next)
		if (strncmp(cl->addr, addr, len) == 0 && cl->addr[len] == '\0')
			break;
	if (cl == NULL) {
		cl = xcalloc(1, sizeof *cl);
		memcpy(cl->addr, addr, len);
		cl->shard = shard;
		atomic_init(&cl->bytes, 0);
		cl->next = mem_clients[shard].head;
		mem_clients[shard].head = cl;
	}
	cl->refs++;
	pthread_mutex_unlock(&mem_clients[shard].mu);
	return cl;
}

void
cache_mem_client_put(struct cache_mem_client **cp)
{
	struct cache_mem_client *cl = *cp, **pp;
	unsigned shard;

	*cp = NULL;
	if (cl == NULL)
		return;
	shard = cl->shard;
	pthread_mutex_lock(&mem_clients[shard].mu);
	ASSERT(cl->refs > 0);
	if (--cl->refs > 0) {
		pthread_mutex_unlock(&mem_clients[shard].mu);
		return;
	}
	for (pp = &mem_clients[shard].head; *pp != cl; pp = &(*pp)->next)
		ASSERT(*pp != NULL);
	*pp = cl->next;
	pthread_mutex_unlock(&mem_clients[shard].mu);
	free(cl);
}

bool
cache_mem_client_charge(struct cache_mem_client *cl, uint64_t n, uint64_t cap)
{
	uint64_t cur = atomic_load_explicit(&cl->bytes, memory_order_relaxed);

	do {
		if (cap > 0 && cur + n > cap)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(
	    &cl->bytes, &cur, cur + n, memory_order_relaxed, memory_order_relaxed));
	return true;
}

void
cache_mem_client_uncharge(struct cache_mem_client *cl, uint64_t n)
{
	atomic_fetch_sub_explicit(&cl->bytes, n, memory_order_relaxed);
}

uint64_t
cache_mem_client_bytes(const struct cache_mem_client *cl)
{
	return atomic_load_explicit(&cl->bytes, memory_order_relaxed);
}
