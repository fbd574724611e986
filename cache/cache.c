/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cache/cache.c — the handle (struct cache): what one node caches, in one
 * place.  It owns the RAM tier, the LMDB tier behind it, the table of fills
 * in progress and the ban list with its remover; the entry points of
 * cache_vary.c, cache_fill.c and cache_ban.c take it and reach the parts
 * they need.  Made and freed by the main thread; in between its parts do
 * not change, so every thread may use it without a lock of its own.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"
#include "cache/cache_int.h"
#include "core/xmalloc.h"

int
cache_new(const struct cache_conf *conf, unsigned ram_shards, unsigned fill_shards,
    cache_fill_notify_cb *notify, void *arg, struct cache **out, char *err, size_t errlen)
{
	struct cache *c = xcalloc(1, sizeof *c);

	c->bans = cache_bans_new();
	if (conf->ram_bytes > 0) {
		c->ram = cache_ram_new(conf->ram_bytes, ram_shards);
		c->fills = cache_fill_table_new(fill_shards, notify, arg);
		if (conf->disk_path != NULL) {
			struct cache_disk_conf dc;

			cache_disk_conf_defaults(&dc);
			dc.path = conf->disk_path;
			dc.max_bytes = conf->disk_bytes;
			if (cache_disk_open(&dc, &c->disk, err, errlen) != 0) {
				cache_free(&c);
				return -1;
			}
		}
	}
	*out = c;
	return 0;
}

void
cache_free(struct cache **cp)
{
	struct cache *c = *cp;

	if (c == NULL)
		return;
	*cp = NULL;
	cache_ban_stop(c);
	cache_disk_close(&c->disk);
	cache_fill_table_free(&c->fills);
	cache_ram_free(&c->ram);
	cache_bans_free(&c->bans);
	free(c);
}

bool
cache_enabled(const struct cache *c)
{
	return c->ram != NULL;
}

bool
cache_has_disk(const struct cache *c)
{
	return c->disk != NULL;
}

struct cache_disk *
cache_disk_tier(struct cache *c)
{
	return c->disk;
}

bool
cache_store_room(struct cache *c, uint64_t bytes)
{
	return c->disk == NULL || cache_disk_queue_room(c->disk, bytes);
}

bool
cache_store_draining(struct cache *c)
{
	return c->disk != NULL && cache_disk_queued_bytes(c->disk) > 0;
}

uint64_t
cache_store_written(struct cache *c)
{
	struct cache_disk_stats st;

	if (c->disk == NULL)
		return 0;
	cache_disk_stats(c->disk, &st);
	return st.writes;
}

bool
cache_stats_ram(struct cache *c, struct cache_ram_stats *out)
{
	memset(out, 0, sizeof *out);
	if (c->ram == NULL)
		return false;
	cache_ram_stats(c->ram, out);
	return true;
}

bool
cache_stats_disk(struct cache *c, struct cache_disk_stats *out)
{
	memset(out, 0, sizeof *out);
	if (c->disk == NULL)
		return false;
	cache_disk_stats(c->disk, out);
	return true;
}

enum cache_fill_role
cache_fill_begin(struct cache *c, const char *key, size_t key_len, time_t now,
    struct cache_fill **out, struct cache_fill_reader *rd)
{
	return cache_fill_table_begin(c->fills, key, key_len, now, out, rd);
}

int
cache_fill_private(struct cache *c, const char *key, size_t key_len, struct cache_fill **out,
    struct cache_fill_reader *rd)
{
	return cache_fill_table_private(c->fills, key, key_len, out, rd);
}
