/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/cache/test_cache_disk.c — the LMDB disk tier on a real
 * environment in a mkdtemp directory: round trip, multi-chunk bodies, long
 * keys, replace, remove, warm restart, byte bound with oldest-first eviction,
 * queue-full drops, concurrent readers during writes (run under --enable-tsan
 * too), and kill -9 of a writing child process at random moments followed by
 * a check that every object found is complete and exactly right; a body
 * chunk changed behind the tier's back fails its checksum (a miss, then
 * removed), and a database of an older format is emptied at open.
 *
 * Every object's body is derived from its key and a version number carried in
 * its head ("X-V: n"), so any object can be checked on its own.
 */
#include "config.h"

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>

#include "cache/cache.h"
#include "cache/cache_int.h"
#include "tests/unit/tap.h"

#define NOW ((time_t)1700000000)

static char tmpdir[64];
static int dir_seq;

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint32_t
fnv(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static unsigned char
pat(uint32_t kh, unsigned v, size_t i)
{
	return (unsigned char)(kh + v * 131u + i * 7u + (i >> 8) * 13u);
}

/* An object for key at version v with a body of len bytes. */
static struct cache_obj *
mk(const char *key, unsigned v, size_t len, int64_t ttl_s)
{
	struct cache_policy pol = {true, ttl_s, 3};
	char head[64];
	int hl = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nX-V: %u\r\n", v);
	struct cache_obj *o = cache_obj_new(key, strlen(key), head, (size_t)hl, len, NOW, &pol);
	uint32_t kh = fnv(key);
	char buf[4096];

	for (size_t off = 0; off < len;) {
		size_t n = len - off < sizeof buf ? len - off : sizeof buf;

		for (size_t i = 0; i < n; i++)
			buf[i] = (char)pat(kh, v, off + i);
		if (cache_obj_append(o, buf, n, len) != 0)
			abort();
		off += n;
	}
	return o;
}

/* 1 if o is exactly what mk(key, v, want_len) built, with v read from its head
 * (and *vout set); 0 otherwise.  want_len < 0: the length is len_of(key, v). */
static size_t (*len_of)(const char *key, unsigned v);

static int
verify(const struct cache_obj *o, const char *key, unsigned *vout)
{
	size_t hl, bl, kl;
	const char *h = cache_obj_head(o, &hl), *b = cache_obj_body(o, &bl), *k;
	const char *x = strstr(h, "X-V: ");
	unsigned v;
	uint32_t kh = fnv(key);

	k = cache_obj_key(o, &kl);
	if (kl != strlen(key) || memcmp(k, key, kl) != 0 || x == NULL ||
	    sscanf(x, "X-V: %u", &v) != 1)
		return 0;
	if (len_of != NULL && bl != len_of(key, v))
		return 0;
	for (size_t i = 0; i < bl; i++)
		if ((unsigned char)b[i] != pat(kh, v, i))
			return 0;
	if (vout != NULL)
		*vout = v;
	return 1;
}

static void
new_dir(char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/env%d", tmpdir, dir_seq++);
}

static struct cache_disk *
open_disk(const char *path, uint64_t max_bytes, void (*tweak)(struct cache_disk_conf *))
{
	struct cache_disk_conf c;
	struct cache_disk *d = NULL;
	char err[256];

	cache_disk_conf_defaults(&c);
	c.path = path;
	c.max_bytes = max_bytes;
	if (tweak != NULL)
		tweak(&c);
	if (cache_disk_open(&c, &d, err, sizeof err) != 0) {
		printf("# open: %s\n", err);
		return NULL;
	}
	return d;
}

static int
check_ok(struct cache_disk *d)
{
	char err[256];

	if (cache_disk_check(d, err, sizeof err) != 0) {
		printf("# check: %s\n", err);
		return 0;
	}
	return 1;
}

static int
has(struct cache_disk *d, const char *key, unsigned *v)
{
	struct cache_obj *o = NULL;
	int r;

	if (cache_disk_lookup(d, key, strlen(key), NOW, &o) != 0)
		return 0;
	r = verify(o, key, v);
	cache_obj_unref(&o);
	return r ? 1 : -1;
}

static void
put(struct cache_disk *d, const char *key, unsigned v, size_t len)
{
	struct cache_obj *o = mk(key, v, len, 60);

	cache_disk_store(d, o);
	cache_obj_unref(&o);
}

static void
test_round_trip(void)
{
	char path[128], longkey[2000], longkey2[2000];
	struct cache_disk *d;
	struct cache_obj *o = NULL, *in;
	struct cache_disk_stats st;
	const char *h1, *h2, *b1, *b2;
	size_t l1, l2, bl1, bl2;
	time_t sa;
	int64_t ttl, ia;
	const size_t sizes[] = {0, 1, 128 * 1024, 128 * 1024 + 1, (1u << 20) + 1};

	subtest("round trip, chunks, long keys, replace, remove, restart");
	new_dir(path, sizeof path);
	d = open_disk(path, 64u << 20, NULL);
	ok(d != NULL, "open creates the environment");
	if (d == NULL)
		return;
	in = mk("http://a/x", 1, 1000, 60);
	cache_disk_store(d, in);
	is_int(cache_disk_flush(d, 5000), 0);
	is_int(cache_disk_lookup(d, "http://a/x", 10, NOW + 5, &o), 0);
	ok(o != NULL && o != in, "a new object");
	if (o != NULL) {
		h1 = cache_obj_head(in, &l1);
		h2 = cache_obj_head(o, &l2);
		ok(l1 == l2 && memcmp(h1, h2, l1) == 0, "same head");
		b1 = cache_obj_body(in, &bl1);
		b2 = cache_obj_body(o, &bl2);
		ok(bl1 == bl2 && memcmp(b1, b2, bl1) == 0, "same body");
		cache_obj_times(o, &sa, &ttl, &ia);
		ok(sa == NOW && ttl == 60 && ia == 3, "same stored_at, ttl, initial age");
		is_int(cache_obj_age(o, NOW + 5), 8);
		cache_obj_unref(&o);
	}
	cache_obj_unref(&in);
	is_int(cache_disk_lookup(d, "http://a/y", 10, NOW, &o), -1);
	ok(o == NULL, "miss leaves out NULL");
	/* stale for longer than stale_keep_s: a miss */
	is_int(cache_disk_lookup(d, "http://a/x", 10, NOW + 60 + 86400 + 10, &o), -1);
	is_int(cache_disk_lookup(d, "http://a/x", 10, NOW + 60 + 3600, &o), 0);
	cache_obj_unref(&o);

	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		char key[64];

		snprintf(key, sizeof key, "http://a/size/%zu", sizes[i]);
		put(d, key, 7, sizes[i]);
	}
	memset(longkey, 'k', sizeof longkey - 1);
	longkey[sizeof longkey - 1] = '\0';
	memcpy(longkey, "http://a/", 9);
	memcpy(longkey2, longkey, sizeof longkey);
	longkey2[sizeof longkey2 - 2] = 'z'; /* same first 503 bytes */
	put(d, longkey, 1, 300);
	put(d, longkey2, 2, 400);
	is_int(cache_disk_flush(d, 5000), 0);
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		char key[64];

		snprintf(key, sizeof key, "http://a/size/%zu", sizes[i]);
		if (cache_disk_lookup(d, key, strlen(key), NOW, &o) == 0) {
			size_t bl;

			(void)cache_obj_body(o, &bl);
			ok(bl == sizes[i] && verify(o, key, NULL), key);
			cache_obj_unref(&o);
		} else {
			ok(0, key);
		}
	}
	is_int(has(d, longkey, NULL), 1);
	is_int(has(d, longkey2, NULL), 1);

	/* replace */
	{
		unsigned v = 0;

		put(d, "http://a/x", 2, 300000);
		put(d, "http://a/x", 3, 5);
		is_int(cache_disk_flush(d, 5000), 0);
		is_int(has(d, "http://a/x", &v), 1);
		is_int(v, 3);
	}
	cache_disk_stats(d, &st);
	is_int(st.objects, 8);
	is_int(st.writes, 10);
	ok(check_ok(d), "consistent after replace");

	/* remove */
	cache_disk_remove(d, "http://a/size/1", 15);
	cache_disk_remove(d, "http://a/nothing", 16);
	is_int(cache_disk_flush(d, 5000), 0);
	is_int(has(d, "http://a/size/1", NULL), 0);
	cache_disk_stats(d, &st);
	is_int(st.removes, 1);
	is_int(st.objects, 7);
	is_int(st.drops, 0);
	is_int(st.errors, 0);
	ok(check_ok(d), "consistent after remove");
	{
		uint64_t bytes = st.bytes;

		cache_disk_close(&d);
		ok(d == NULL, "close NULLs");
		cache_disk_close(&d);
		d = open_disk(path, 64u << 20, NULL);
		ok(d != NULL, "reopen");
		if (d == NULL)
			return;
		cache_disk_stats(d, &st);
		is_int(st.objects, 7);
		is_int(st.bytes, bytes);
	}
	{
		unsigned v = 0;

		is_int(has(d, "http://a/x", &v), 1);
		is_int(v, 3);
	}
	is_int(has(d, "http://a/size/1048577", NULL), 1);
	is_int(has(d, longkey2, NULL), 1);
	ok(check_ok(d), "consistent after restart");
	cache_disk_close(&d);
}

static void
test_bound(void)
{
	char path[128];
	struct cache_disk *d;
	struct cache_disk_stats st;
	const uint64_t max = 4u << 20;
	bool within = true;

	subtest("byte bound, oldest evicted first");
	new_dir(path, sizeof path);
	d = open_disk(path, max, NULL);
	ok(d != NULL, "open");
	if (d == NULL)
		return;
	for (int i = 0; i < 200; i++) {
		char key[32];

		snprintf(key, sizeof key, "http://b/%d", i);
		put(d, key, (unsigned)i, 40000 + (size_t)i * 100);
		if (i % 10 == 9) {
			cache_disk_flush(d, 5000);
			cache_disk_stats(d, &st);
			if (st.bytes > max)
				within = false;
		}
	}
	is_int(cache_disk_flush(d, 5000), 0);
	cache_disk_stats(d, &st);
	ok(within, "bytes never above max_bytes");
	ok(st.evictions > 0, "evicted");
	is_int(st.objects + st.evictions, 200);
	ok(st.bytes > max / 2, "budget mostly used");
	{
		/* FIFO: the survivors are exactly the newest st.objects keys */
		int expect_first = 200 - (int)st.objects, bad = 0;

		for (int i = 0; i < 200; i++) {
			char key[32];

			snprintf(key, sizeof key, "http://b/%d", i);
			if (has(d, key, NULL) != (i >= expect_first ? 1 : 0))
				bad++;
		}
		is_int(bad, 0);
	}
	/* an object bigger than the whole tier is dropped */
	put(d, "http://b/huge", 1, (size_t)max + 1);
	is_int(cache_disk_flush(d, 5000), 0);
	is_int(has(d, "http://b/huge", NULL), 0);
	cache_disk_stats(d, &st);
	is_int(st.drops, 1);
	ok(check_ok(d), "consistent");
	cache_disk_close(&d);
	/* reopen with a smaller size: evicts down at open */
	d = open_disk(path, max / 2, NULL);
	ok(d != NULL, "reopen smaller");
	if (d == NULL)
		return;
	cache_disk_stats(d, &st);
	ok(st.bytes <= max / 2 && st.objects > 0, "shrunk to the new size");
	ok(check_ok(d), "consistent after shrink");
	cache_disk_close(&d);
}

static void
small_queue(struct cache_disk_conf *c)
{
	c->queue_max = 8;
}

static void
test_head_only(void)
{
	char path[128];
	struct cache_disk *d;
	struct cache_disk_stats st0, st;
	struct cache_obj *o = NULL, *full = NULL;
	size_t hl, fl, bl;
	const char *h, *fh;

	subtest("head only: no body read, not counted");
	new_dir(path, sizeof path);
	d = open_disk(path, 64u << 20, NULL);
	ok(d != NULL, "open");
	if (d == NULL)
		return;
	put(d, "http://h/big", 3, 300000);
	is_int(cache_disk_flush(d, 5000), 0);
	cache_disk_stats(d, &st0);
	is_int(cache_disk_lookup_head(d, "http://h/big", 12, NOW, &o), 0);
	is_int(cache_disk_lookup_head(d, "http://h/none", 13, NOW, &full), -1);
	cache_disk_stats(d, &st);
	ok(st.hits == st0.hits && st.misses == st0.misses, "not counted");
	is_int(cache_disk_lookup(d, "http://h/big", 12, NOW, &full), 0);
	if (o != NULL && full != NULL) {
		h = cache_obj_head(o, &hl);
		fh = cache_obj_head(full, &fl);
		ok(hl == fl && memcmp(h, fh, hl) == 0, "the same head");
		(void)cache_obj_body(o, &bl);
		is_int(bl, 0);
		(void)cache_obj_body(full, &bl);
		is_int(bl, 300000);
	}
	cache_obj_unref(&o);
	cache_obj_unref(&full);
	cache_disk_close(&d);
}

static void
test_queue_full(void)
{
	char path[128];
	struct cache_disk *d;
	struct cache_disk_stats st;
	uint64_t t0, worst = 0;
	int present = 0;

	subtest("queue full: drop stores and count, never block, never drop a remove");
	new_dir(path, sizeof path);
	d = open_disk(path, 64u << 20, small_queue);
	ok(d != NULL, "open");
	if (d == NULL)
		return;
	put(d, "http://q/old", 7, 10);
	is_int(cache_disk_flush(d, 5000), 0);
	is_int(has(d, "http://q/old", NULL), 1);
	cache_disk_pause(d, true);
	for (int i = 0; i < 50; i++) {
		char key[32];
		struct cache_obj *o;

		snprintf(key, sizeof key, "http://q/%d", i);
		o = mk(key, 1, 1000, 60);
		t0 = now_ms();
		cache_disk_store(d, o);
		if (now_ms() - t0 > worst)
			worst = now_ms() - t0;
		cache_obj_unref(&o);
	}
	/* the queue is full: the removes are queued all the same */
	cache_disk_remove(d, "http://q/0", 10);
	cache_disk_remove(d, "http://q/old", 12);
	ok(worst < 100, "store never blocked");
	is_int(has(d, "http://q/old", NULL), 0); /* its remove waits: not read */
	is_int(cache_disk_flush(d, 50), -1);     /* the writer is paused */
	cache_disk_stats(d, &st);
	is_int(st.drops, 42);
	cache_disk_pause(d, false);
	is_int(cache_disk_flush(d, 5000), 0);
	for (int i = 0; i < 50; i++) {
		char key[32];

		snprintf(key, sizeof key, "http://q/%d", i);
		present += has(d, key, NULL) == 1;
	}
	is_int(present, 7); /* q/1..q/7; q/0 was removed after its store */
	is_int(has(d, "http://q/old", NULL), 0);
	cache_disk_stats(d, &st);
	is_int(st.writes, 9);
	is_int(st.removes, 2);
	/* close drains what is queued */
	cache_disk_pause(d, true);
	put(d, "http://q/late", 1, 10);
	cache_disk_close(&d);
	d = open_disk(path, 64u << 20, NULL);
	ok(d != NULL, "reopen");
	if (d == NULL)
		return;
	is_int(has(d, "http://q/late", NULL), 1);
	cache_disk_close(&d);
}

/* ---- concurrent readers ---- */

#define CONC_KEYS 32

struct reader_arg {
	struct cache_disk *d;
	atomic_bool *stop;
	unsigned long hits, bad, lookups;
};

static size_t
conc_len(const char *key, unsigned v)
{
	return (fnv(key) + v * 7919u) % 300000u;
}

static void *
reader_main(void *arg)
{
	struct reader_arg *a = arg;
	uint64_t t_end = now_ms() + 20000;

	for (unsigned i = 0; !atomic_load(a->stop) && i < 2000000 && now_ms() < t_end; i++) {
		char key[32];
		struct cache_obj *o = NULL;

		snprintf(key, sizeof key, "http://c/%u", i % CONC_KEYS);
		a->lookups++;
		if (cache_disk_lookup(a->d, key, strlen(key), NOW, &o) == 0) {
			a->hits++;
			if (!verify(o, key, NULL))
				a->bad++;
			cache_obj_unref(&o);
		}
	}
	return NULL;
}

static void
test_concurrent(void)
{
	char path[128];
	struct cache_disk *d;
	struct reader_arg args[4];
	pthread_t th[4];
	atomic_bool stop = false;
	unsigned long hits = 0, bad = 0;

	subtest("4 reader threads while the writer writes");
	new_dir(path, sizeof path);
	d = open_disk(path, 16u << 20, NULL); /* small: evictions too */
	ok(d != NULL, "open");
	if (d == NULL)
		return;
	len_of = conc_len;
	for (int t = 0; t < 4; t++) {
		args[t] = (struct reader_arg){d, &stop, 0, 0, 0};
		pthread_create(&th[t], NULL, reader_main, &args[t]);
	}
	for (unsigned v = 0; v < 600; v++) {
		char key[32];

		snprintf(key, sizeof key, "http://c/%u", v % CONC_KEYS);
		put(d, key, v, conc_len(key, v));
		if (v % 50 == 49)
			cache_disk_flush(d, 5000);
	}
	cache_disk_flush(d, 5000);
	atomic_store(&stop, true);
	for (int t = 0; t < 4; t++) {
		pthread_join(th[t], NULL);
		hits += args[t].hits;
		bad += args[t].bad;
	}
	len_of = NULL;
	ok(hits > 0, "readers found objects");
	is_int(bad, 0);
	ok(check_ok(d), "consistent");
	cache_disk_close(&d);
}

/* ---- kill -9 while writing ---- */

#define CRASH_KEYS   200
#define CRASH_ROUNDS 6

static size_t
crash_len(const char *key, unsigned v)
{
	return (fnv(key) + v * 104729u) % (600u * 1024u);
}

static void
crash_conf(struct cache_disk_conf *c)
{
	c->queue_max = 64;
	c->batch_max_objects = 16;
}

static void
crash_child(const char *path, unsigned round)
{
	struct cache_disk *d = open_disk(path, 24u << 20, crash_conf);
	uint64_t t_end = now_ms() + 10000;

	if (d == NULL)
		_exit(2);
	for (unsigned i = 0; i < 1000000 && now_ms() < t_end; i++) {
		char key[32];
		unsigned v = round * 1000000u + i;
		unsigned k = (i * 7u + round) % CRASH_KEYS;
		struct cache_obj *o;

		snprintf(key, sizeof key, "http://k/%u", k);
		o = mk(key, v, crash_len(key, v), 60);
		cache_disk_store(d, o);
		cache_obj_unref(&o);
		if (i % 64 == 63)
			usleep(1000); /* let the writer keep up, mostly */
	}
	_exit(3); /* never reached in a normal run: the parent kills first */
}

/* Writing handed to another process (a binary upgrade) and back: while this
 * one does not write, its stores are dropped and the other's writes are seen;
 * then it writes again on the totals and ids the other left, so no object id
 * is used twice (a reused id would overwrite another object's chunks). */
static void
test_handover(void)
{
	static const char *keys[] = {"http://h/a", "http://h/b", "http://h/c", "http://h/d"};
	char path[128];
	struct cache_disk *d;
	struct cache_disk_stats st;
	pid_t pid;
	int status = 0;

	subtest("writing handed to another process and back");
	new_dir(path, sizeof path);
	d = open_disk(path, 64u << 20, NULL);
	if (d == NULL) {
		ok(0, "open");
		return;
	}
	put(d, keys[0], 1, 1000);
	is_int(cache_disk_writing(d, false, 5000), 0);
	is_int(has(d, keys[0], NULL), 1);
	put(d, "http://h/dropped", 1, 1000);
	is_int(cache_disk_flush(d, 5000), 0);
	is_int(has(d, "http://h/dropped", NULL), 0);
	cache_disk_stats(d, &st);
	ok(st.drops == 1, "a store while not writing is dropped and counted");
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct cache_disk *d2 = open_disk(path, 64u << 20, NULL);

		if (d2 == NULL || has(d2, keys[0], NULL) != 1)
			_exit(2);
		put(d2, keys[1], 2, 3000);
		put(d2, keys[2], 3, 200000);
		cache_disk_close(&d2);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	is_int(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0);
	is_int(has(d, keys[1], NULL), 1);
	is_int(cache_disk_writing(d, true, 0), 0);
	put(d, keys[3], 4, 5000);
	is_int(cache_disk_flush(d, 5000), 0);
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		is_int(has(d, keys[i], NULL), 1);
	cache_disk_stats(d, &st);
	is_int(st.objects, 4);
	ok(check_ok(d), "the environment checks out");
	cache_disk_close(&d);
	d = open_disk(path, 64u << 20, NULL);
	if (d == NULL) {
		ok(0, "reopen");
		return;
	}
	cache_disk_stats(d, &st);
	is_int(st.objects, 4);
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		is_int(has(d, keys[i], NULL), 1);
	cache_disk_close(&d);
}

static void
test_crash(void)
{
	char path[128];
	unsigned seed = (unsigned)time(NULL);
	unsigned total_found = 0, total_bad = 0, killed = 0, check_bad = 0;

	subtest("kill -9 while writing: no torn or mixed object");
	printf("# seed %u\n", seed);
	srand(seed);
	new_dir(path, sizeof path);
	len_of = crash_len;
	for (unsigned round = 0; round < CRASH_ROUNDS; round++) {
		pid_t pid;
		int status = 0;
		unsigned delay_ms = 50 + (unsigned)rand() % 700;
		struct cache_disk *d;
		unsigned found = 0;

		fflush(stdout);
		pid = fork();
		if (pid == 0)
			crash_child(path, round);
		if (pid == -1) {
			ok(0, "fork");
			break;
		}
		usleep(delay_ms * 1000);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
			killed++;
		d = open_disk(path, 24u << 20, crash_conf);
		if (d == NULL) {
			ok(0, "reopen after kill -9");
			break;
		}
		if (!check_ok(d))
			check_bad++;
		for (unsigned k = 0; k < CRASH_KEYS; k++) {
			char key[32];
			int r;

			snprintf(key, sizeof key, "http://k/%u", k);
			r = has(d, key, NULL);
			found += r == 1;
			total_bad += r == -1;
		}
		printf(
		    "# round %u: killed after %u ms, %u objects found\n", round, delay_ms, found);
		total_found += found;
		cache_disk_close(&d);
	}
	len_of = NULL;
	is_int(killed, CRASH_ROUNDS);
	ok(total_found > 0, "objects survived the kills");
	is_int(total_bad, 0);
	is_int(check_bad, 0);
}

static void
rm_rf(const char *dir)
{
	DIR *dh = opendir(dir);
	struct dirent *e;

	if (dh == NULL)
		return;
	while ((e = readdir(dh)) != NULL) {
		char p[512];
		struct stat sb;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
		if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
			rm_rf(p);
		else
			unlink(p);
	}
	closedir(dh);
	rmdir(dir);
}

/* Opens the environment at path directly and runs fn in a write
 * transaction on sub-database name; 0 when it all committed. */
static int
raw_edit(const char *path, const char *name, int (*fn)(MDB_txn *txn, MDB_dbi dbi))
{
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi dbi;
	int rc;

	if ((rc = mdb_env_create(&env)) == 0 && (rc = mdb_env_set_maxdbs(env, 8)) == 0 &&
	    (rc = mdb_env_open(env, path, MDB_NOTLS, 0600)) == 0 &&
	    (rc = mdb_txn_begin(env, NULL, 0, &txn)) == 0 &&
	    (rc = mdb_dbi_open(txn, name, 0, &dbi)) == 0 && (rc = fn(txn, dbi)) == 0) {
		rc = mdb_txn_commit(txn);
		txn = NULL;
	}
	if (txn != NULL)
		mdb_txn_abort(txn);
	mdb_env_close(env);
	if (rc != 0)
		printf("# raw edit of %s: %s\n", name, mdb_strerror(rc));
	return rc;
}

/* Flips a byte in the middle of the second body chunk stored. */
static int
damage_chunk(MDB_txn *txn, MDB_dbi dbi)
{
	MDB_cursor *cur;
	MDB_val k, v;
	unsigned char *copy;
	int rc;

	if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0)
		return rc;
	rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	if (rc == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	mdb_cursor_close(cur);
	if (rc != 0)
		return rc;
	copy = malloc(v.mv_size);
	memcpy(copy, v.mv_data, v.mv_size);
	copy[v.mv_size / 2] ^= 0x01;
	v.mv_data = copy;
	rc = mdb_put(txn, dbi, &k, &v, 0);
	free(copy);
	return rc;
}

/* Marks the database as written in format 1 (before checksums). */
static int
set_format_1(MDB_txn *txn, MDB_dbi dbi)
{
	MDB_val k = {6, (void *)(uintptr_t) "totals"}, v;
	uint64_t st[4];
	int rc;

	if ((rc = mdb_get(txn, dbi, &k, &v)) != 0)
		return rc;
	if (v.mv_size != sizeof st)
		return MDB_CORRUPTED;
	memcpy(st, v.mv_data, sizeof st);
	st[0] = 1; /* version */
	v = (MDB_val){sizeof st, st};
	return mdb_put(txn, dbi, &k, &v, 0);
}

static void
test_damage(void)
{
	char path[128];
	struct cache_disk *d;
	struct cache_disk_stats st;
	unsigned v = 0;

	subtest("a damaged chunk fails its checksum: a miss, then removed");
	new_dir(path, sizeof path);
	d = open_disk(path, 64u << 20, NULL);
	ok(d != NULL, "open");
	if (d == NULL)
		return;
	put(d, "http://h/dmg", 1, 300000);
	put(d, "http://h/ok", 2, 5000);
	is_int(cache_disk_flush(d, 5000), 0);
	cache_disk_close(&d);
	is_int(raw_edit(path, "chunks", damage_chunk), 0);
	d = open_disk(path, 64u << 20, NULL);
	ok(d != NULL, "reopen");
	if (d == NULL)
		return;
	ok(check_ok(d) == 0, "the check sees the damage");
	is_int(has(d, "http://h/dmg", NULL), 0);
	is_int(has(d, "http://h/ok", NULL), 1);
	cache_disk_stats(d, &st);
	is_int(st.corrupt, 1);
	is_int(cache_disk_flush(d, 5000), 0);
	cache_disk_stats(d, &st);
	is_int(st.objects, 1);
	ok(check_ok(d), "consistent once the damaged object is removed");
	put(d, "http://h/dmg", 3, 300000);
	is_int(cache_disk_flush(d, 5000), 0);
	is_int(has(d, "http://h/dmg", &v), 1);
	is_int(v, 3);
	cache_disk_close(&d);

	subtest("a database of format 1 is emptied at open");
	is_int(raw_edit(path, "state", set_format_1), 0);
	d = open_disk(path, 64u << 20, NULL);
	ok(d != NULL, "open");
	if (d == NULL)
		return;
	cache_disk_stats(d, &st);
	is_int(st.objects, 0);
	is_int(st.bytes, 0);
	is_int(has(d, "http://h/ok", NULL), 0);
	ok(check_ok(d), "consistent");
	put(d, "http://h/ok", 4, 5000);
	is_int(cache_disk_flush(d, 5000), 0);
	is_int(has(d, "http://h/ok", NULL), 1);
	cache_disk_close(&d);
}

int
main(void)
{
	char err[256];
	struct cache_disk_conf c;
	struct cache_disk *d = NULL;

	snprintf(tmpdir, sizeof tmpdir, "/tmp/outpost-disk-XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	cache_disk_conf_defaults(&c);
	c.path = "";
	is_int(cache_disk_open(&c, &d, err, sizeof err), -1);
	ok(d == NULL && err[0] != '\0', "no path: an error message");
	test_round_trip();
	test_bound();
	test_head_only();
	test_queue_full();
	test_damage();
	test_concurrent();
	test_handover();
	test_crash();
	rm_rf(tmpdir);
	return tap_done();
}
