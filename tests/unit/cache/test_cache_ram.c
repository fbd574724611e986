/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/cache/test_cache_ram.c — RAM tier: byte bound, replace, remove,
 * promote (no replace), S3-FIFO order and scan resistance, and a multi-threaded smoke test (run it
 * under --enable-tsan too).
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>

#include "cache/cache.h"
#include "cache/cache_int.h"
#include "tests/unit/tap.h"

static const char head[] = "HTTP/1.1 200 OK\r\n";

/* An object whose body is its key (so readers can check what they got). */
static struct cache_obj *
mk(const char *key, size_t body_len)
{
	struct cache_policy pol = {true, 60, 0};
	struct cache_obj *o =
	    cache_obj_new(key, strlen(key), head, sizeof head - 1, body_len, 1000, &pol);
	size_t klen = strlen(key);

	for (size_t n = 0; n < body_len; n += klen)
		cache_obj_append(o, key, body_len - n < klen ? body_len - n : klen, body_len);
	return o;
}

static bool
present(struct cache_ram *r, const char *key)
{
	struct cache_obj *o = NULL;

	if (cache_ram_lookup(r, key, strlen(key), &o) != 0)
		return false;
	cache_obj_unref(&o);
	return true;
}

/* The tier holds exactly one object, o, under "http://a/k". */
static void
holds_only(struct cache_ram *r, struct cache_obj *o, const char *what)
{
	struct cache_obj *got = NULL;
	struct cache_ram_stats st;

	is_int(cache_ram_lookup(r, "http://a/k", 10, &got), 0);
	ok(got == o, what);
	cache_obj_unref(&got);
	cache_ram_stats(r, &st);
	is_int(st.objects, 1);
	is_int(st.bytes, cache_obj_charge(o));
}

/* A lookup counts as a hit (it raises the entry's frequency): tests of the
 * eviction order look only where that does not matter. */

static void
test_bound(void)
{
	const uint64_t max = 64 * 1024;
	struct cache_ram *r = cache_ram_new(max, 4);
	struct cache_ram_stats st;
	bool within = true;
	uint32_t x = 12345;

	subtest("byte bound");
	for (int i = 0; i < 2000; i++) {
		char key[32];
		struct cache_obj *o;

		x = x * 1103515245u + 12345u;
		snprintf(key, sizeof key, "http://a/%d", i);
		o = mk(key, (x >> 8) % 3000);
		cache_ram_insert(r, o);
		cache_obj_unref(&o);
		cache_ram_stats(r, &st);
		if (st.bytes > max)
			within = false;
	}
	ok(within, "bytes never above max_bytes");
	cache_ram_stats(r, &st);
	is_int(st.inserts, 2000);
	ok(st.objects > 10, "many objects kept");
	ok(st.evictions > 0, "evicted");
	is_int(st.objects + st.evictions, 2000);
	ok(st.bytes > max / 2, "budget mostly used");
	cache_ram_free(&r);
	ok(r == NULL, "free NULLs");
	cache_ram_free(&r);
}

static void
test_replace_remove(void)
{
	struct cache_ram *r = cache_ram_new(1 << 20, 2);
	struct cache_obj *a = mk("http://a/k", 10), *b = mk("http://a/k", 20), *got = NULL;
	struct cache_obj *held = NULL, *huge;
	struct cache_ram_stats st;
	size_t n;

	subtest("replace and remove");
	is_int(cache_ram_lookup(r, "http://a/k", 10, &got), -1);
	cache_ram_insert(r, a);
	is_int(cache_ram_lookup(r, "http://a/k", 10, &held), 0);
	ok(held == a, "lookup returns the stored object");
	cache_ram_insert(r, b);
	holds_only(r, b, "replaced");
	/* The old object lives on for whoever holds it. */
	cache_obj_unref(&a);
	cache_obj_body(held, &n);
	is_int(n, 10);
	cache_obj_unref(&held);
	/* The same key length but another key is another object. */
	is_int(cache_ram_lookup(r, "http://a/K", 10, &got), -1);
	is_int(cache_ram_lookup(r, "http://a/k/", 11, &got), -1);

	cache_ram_remove(r, "http://a/k", 10);
	is_int(cache_ram_lookup(r, "http://a/k", 10, &got), -1);
	cache_ram_remove(r, "http://a/k", 10); /* absent: no-op */
	cache_ram_stats(r, &st);
	is_int(st.objects, 0);
	is_int(st.bytes, 0);

	/* Too large for a shard (512 KiB each): not stored, and the older
	 * object under the key is dropped since it is superseded. */
	cache_ram_insert(r, b);
	huge = mk("http://a/k", 600 * 1024);
	cache_ram_insert(r, huge);
	is_int(cache_ram_lookup(r, "http://a/k", 10, &got), -1);
	cache_ram_stats(r, &st);
	is_int(st.objects, 0);

	/* A promotion (a copy from disk) stores only under a free key, and a
	 * too large one leaves the stored object alone. */
	a = mk("http://a/k", 30);
	cache_ram_promote(r, a);
	holds_only(r, a, "promoted under a free key");
	cache_ram_insert(r, b);
	cache_ram_promote(r, a);
	cache_ram_promote(r, huge);
	holds_only(r, b, "a promotion does not replace a stored object");
	cache_obj_unref(&a);
	cache_obj_unref(&huge);
	cache_obj_unref(&b);
	cache_ram_free(&r);

	/* max_bytes 0: nothing is ever stored. */
	r = cache_ram_new(0, 1);
	b = mk("http://a/k", 1);
	cache_ram_insert(r, b);
	ok(!present(r, "http://a/k"), "zero budget stores nothing");
	cache_obj_unref(&b);
	cache_ram_free(&r);
}

static void
put(struct cache_ram *r, const char *key, size_t body_len)
{
	struct cache_obj *o = mk(key, body_len);

	cache_ram_insert(r, o);
	cache_obj_unref(&o);
}

/* One pass of n cold objects whose keys are as long as "http://a/c/00000". */
static void
cold_pass(struct cache_ram *r, int from, int n)
{
	char key[32];

	for (int i = from; i < from + n; i++) {
		snprintf(key, sizeof key, "http://a/c/%05d", i);
		put(r, key, 100);
	}
}

static void
test_s3fifo_order(void)
{
	struct cache_obj *o = mk("http://a/c/00000", 100);
	size_t charge = cache_obj_charge(o);
	struct cache_ram *r = cache_ram_new(20 * charge, 1);

	subtest("S3-FIFO: two hits in the small queue earn main; one does not");
	cache_obj_unref(&o);
	put(r, "http://a/h/twice", 100);
	put(r, "http://a/h/once0", 100);
	ok(present(r, "http://a/h/twice") && present(r, "http://a/h/twice"), "hit twice");
	ok(present(r, "http://a/h/once0"), "hit once");
	cold_pass(r, 0, 200);
	ok(present(r, "http://a/h/twice"), "the twice-hit object outlived 10 budgets of cold ones");
	ok(!present(r, "http://a/h/once0"), "the once-hit one did not");

	subtest("S3-FIFO: an object the ghost remembers comes back to main");
	cache_ram_free(&r);
	r = cache_ram_new(400 * charge, 1);
	put(r, "http://a/h/ghost", 100);
	cold_pass(r, 1000, 450); /* a budget and a bit: evicted, remembered */
	ok(!present(r, "http://a/h/ghost"), "evicted from small");
	put(r, "http://a/h/ghost", 100); /* refilled: straight to main */
	put(r, "http://a/h/fresh", 100); /* never seen: small */
	cold_pass(r, 2000, 4000);
	ok(present(r, "http://a/h/ghost"), "the remembered object survived a cold pass");
	ok(!present(r, "http://a/h/fresh"), "the new one did not");
	cache_ram_free(&r);
}

static void
test_scan_resistance(void)
{
	enum { HOT = 50, CAP = 100, COLD = 5000 };
	struct cache_obj *o = mk("http://a/hot/00", 200);
	size_t charge = cache_obj_charge(o);
	struct cache_ram *r = cache_ram_new(CAP * charge, 1);
	int survivors = 0, hits = 0, tries = 0;
	char key[32];

	subtest("S3-FIFO: a re-accessed hot set survives a cold scan 50x the budget");
	cache_obj_unref(&o);
	for (int i = 0; i < HOT; i++) {
		snprintf(key, sizeof key, "http://a/hot/%02d", i);
		put(r, key, 200);
	}
	for (int i = 0; i < COLD; i++) {
		snprintf(key, sizeof key, "http://a/c/%05d", i); /* same length */
		put(r, key, 200);
		if (i % 40 == 39) {
			/* as a node does: a hot key that missed is fetched and
			 * stored again */
			for (int h = 0; h < HOT; h++) {
				snprintf(key, sizeof key, "http://a/hot/%02d", h);
				tries++;
				if (present(r, key))
					hits++;
				else
					put(r, key, 200);
			}
		}
	}
	for (int h = 0; h < HOT; h++) {
		snprintf(key, sizeof key, "http://a/hot/%02d", h);
		survivors += present(r, key);
	}
	printf("# hot survivors %d/%d, hot hit ratio during scan %d/%d\n", survivors, HOT, hits,
	    tries);
	ok(survivors >= HOT * 9 / 10, "most of the hot set is still cached");
	ok(hits >= tries * 9 / 10, "hot set kept hitting during the scan");
	cache_ram_free(&r);
}

/* ---- threads ---- */

enum { N_THREADS = 4, N_OPS = 20000, N_KEYS = 300 };

struct worker {
	struct cache_ram *r;
	unsigned seed;
	int bad;
	int hits;
};

static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	uint32_t x = w->seed;

	for (int i = 0; i < N_OPS; i++) {
		char key[32];
		struct cache_obj *o = NULL;
		size_t n, klen;

		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		snprintf(key, sizeof key, "http://t/%u", x % N_KEYS);
		klen = strlen(key);
		if (x % 17 == 0) {
			cache_ram_remove(w->r, key, klen);
		} else if (cache_ram_lookup(w->r, key, klen, &o) == 0) {
			const char *b = cache_obj_body(o, &n);

			if (n < klen || memcmp(b, key, klen) != 0)
				w->bad++;
			w->hits++;
			cache_obj_unref(&o);
		} else {
			o = mk(key, klen * (1 + x % 20));
			cache_ram_insert(w->r, o);
			cache_obj_unref(&o);
		}
	}
	return NULL;
}

static void
test_threads(void)
{
	const uint64_t max = 32 * 1024;
	struct cache_ram *r = cache_ram_new(max, 4);
	struct worker w[N_THREADS];
	pthread_t t[N_THREADS];
	struct cache_ram_stats st;
	int bad = 0, hits = 0, started = 0;

	subtest("threads");
	for (int i = 0; i < N_THREADS; i++) {
		w[i] = (struct worker){r, 2463534242u + (unsigned)i * 7919u, 0, 0};
		if (pthread_create(&t[i], NULL, worker_run, &w[i]) == 0)
			started++;
	}
	is_int(started, N_THREADS);
	for (int i = 0; i < started; i++) {
		pthread_join(t[i], NULL);
		bad += w[i].bad;
		hits += w[i].hits;
	}
	is_int(bad, 0);
	ok(hits > 0, "some hits");
	cache_ram_stats(r, &st);
	ok(st.bytes <= max, "bound held");
	ok(st.evictions > 0, "evictions happened");
	cache_ram_free(&r);
}

/* Another run of this program: its keyed and stable hashes of a fixed key. */
static bool
hash_in_child(const char *argv0, unsigned long long out[2])
{
	char cmd[4096];
	FILE *f;
	bool got;

	snprintf(cmd, sizeof cmd, "'%s' --hash", argv0);
	f = popen(cmd, "r");
	if (f == NULL)
		return false;
	got = fscanf(f, "%llx %llx", &out[0], &out[1]) == 2;
	return pclose(f) == 0 && got;
}

static void
test_keyed_hash(const char *argv0)
{
	unsigned long long a[2], b[2];
	uint64_t here = cache_hash("http://a/k", 10);
	uint64_t stable = cache_hash_stable("http://a/k", 10);

	subtest("the tables' hash is keyed per process; the disk tier's is not");
	ok(hash_in_child(argv0, a) && hash_in_child(argv0, b),
	    "two other processes hashed the key");
	ok(a[0] != b[0] && a[0] != here && b[0] != here, "three processes, three keyed hashes");
	ok(cache_hash("http://a/k", 10) == here, "the keyed hash is stable within a process");
	ok(a[1] == stable && b[1] == stable, "three processes, one stable hash");
}

int
main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--hash") == 0) {
		printf("%llx %llx\n", (unsigned long long)cache_hash("http://a/k", 10),
		    (unsigned long long)cache_hash_stable("http://a/k", 10));
		return 0;
	}
	test_keyed_hash(argv[0]);
	test_bound();
	test_replace_remove();
	test_s3fifo_order();
	test_scan_resistance();
	test_threads();
	return tap_done();
}
