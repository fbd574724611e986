/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/cache/test_cache_fill.c — the collapsing table (roles, hit-for-pass
 * markers and their expiry, joins closing), the growing chunked body (views
 * stay valid while it grows, chunk references outlive the fill) and a
 * threaded read-while-write test (run it under --enable-tsan too).
 */
#include "config.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

#include "cache/cache.h"
#include "cache/cache_int.h"
#include "tests/unit/cache/fill_drain.h"
#include "tests/unit/tap.h"

static const char head[] = "HTTP/1.1 200 OK\r\n";
static unsigned notified[64];

static void
notify(void *arg, unsigned bit)
{
	(void)arg;
	__atomic_fetch_add(&notified[bit], 1, __ATOMIC_RELAXED);
}

static struct cache_obj *
mk_obj(const char *key)
{
	struct cache_policy pol = {true, 60, 0};

	return cache_obj_new(key, strlen(key), head, sizeof head - 1, 0, 1000, &pol);
}

static enum cache_fill_role
begin(struct cache_fill_table *t, const char *key, time_t now, struct cache_fill **f,
    struct cache_fill_reader *rd)
{
	return cache_fill_table_begin(t, key, strlen(key), now, f, rd);
}

static void
test_roles(void)
{
	struct cache_fill_table *t = cache_fill_table_new(4, notify, NULL);
	struct cache_fill *lead = NULL, *wait = NULL, *none = NULL;
	struct cache_fill_reader lrd, wrd, nrd;
	struct cache_obj *o = mk_obj("k1");

	subtest("roles");
	is_int(begin(t, "k1", 1000, &lead, &lrd), CACHE_FILL_LEADER);
	is_int(begin(t, "k1", 1000, &wait, &wrd), CACHE_FILL_WAITER);
	ok(wait == lead, "the waiter gets the leader's fill");
	is_int(begin(t, "k2", 1000, &none, &nrd), CACHE_FILL_LEADER);
	is_int(cache_fill_state(wait), CACHE_FILL_S_WAIT);

	cache_fill_watch(wait, 3);
	memset(notified, 0, sizeof notified);
	cache_fill_head(lead, o, 5);
	is_int(cache_fill_state(wait), CACHE_FILL_S_BODY);
	ok(cache_fill_obj(wait) == o, "the head object is shared");
	is_int((int)cache_fill_length(wait), 5);
	ok(notified[3] == 1 && notified[0] == 0, "only the watched bit is notified");
	is_int(cache_fill_append(lead, "hello", 5), 0);
	ok(notified[3] == 2, "append notifies");

	char buf[16];
	is_int((int)fill_drain(&wrd, buf, sizeof buf), 5);
	ok(memcmp(buf, "hello", 5) == 0, "the waiter reads the bytes");
	is_int((int)fill_drain(&wrd, buf, sizeof buf), 0);
	cache_fill_end(lead, CACHE_FILL_S_DONE, 1000);
	is_int(cache_fill_state(wait), CACHE_FILL_S_DONE);
	is_int((int)fill_drain(&lrd, buf, sizeof buf), 5);
	ok(notified[3] == 3, "the end notifies");

	/* ended: the next miss leads a new fill */
	struct cache_fill *again = NULL;
	struct cache_fill_reader ard;
	is_int(begin(t, "k1", 1001, &again, &ard), CACHE_FILL_LEADER);
	ok(again != lead, "a new fill");

	/* not storable: hit-for-pass until now + CACHE_FILL_PASS_S */
	cache_fill_end(again, CACHE_FILL_S_PASS, 1001);
	struct cache_fill *p = NULL;
	struct cache_fill_reader prd;
	is_int(begin(t, "k1", 1001 + CACHE_FILL_PASS_S - 1, &p, &prd), CACHE_FILL_PASS);
	ok(p == NULL, "no fill for a pass");
	is_int(begin(t, "k1", 1001 + CACHE_FILL_PASS_S, &p, &prd), CACHE_FILL_LEADER);
	cache_fill_end(p, CACHE_FILL_S_FAILED, 1020);
	cache_fill_reader_done(&prd);
	cache_fill_unref(&p);

	/* a failed fill leaves no marker */
	is_int(begin(t, "k1", 1020, &p, &prd), CACHE_FILL_LEADER);
	cache_fill_end(p, CACHE_FILL_S_FAILED, 1020);
	cache_fill_reader_done(&prd);
	cache_fill_unref(&p);

	cache_fill_end(none, CACHE_FILL_S_FAILED, 1000);
	cache_fill_reader_done(&nrd);
	cache_fill_unref(&none);
	cache_fill_reader_done(&ard);
	cache_fill_unref(&again);
	cache_fill_reader_done(&lrd);
	cache_fill_reader_done(&wrd);
	cache_fill_unref(&lead);
	cache_fill_unref(&wait);
	cache_obj_unref(&o);
	cache_fill_table_free(&t);
	ok(t == NULL, "table freed");
}

/* A shard keeps at most 32 hit-for-pass markers, the newest; readers are
 * counted until done. */
static void
test_markers_and_readers(void)
{
	struct cache_fill_table *t = cache_fill_table_new(1, notify, NULL);
	struct cache_fill *f = NULL, *w = NULL;
	struct cache_fill_reader rd, wrd;
	char key[16];
	int pass = 0;

	subtest("marker cap, reader count");
	for (int i = 0; i < 100; i++) {
		snprintf(key, sizeof key, "u%d", i);
		is_int(begin(t, key, 1000, &f, &rd), CACHE_FILL_LEADER);
		cache_fill_end(f, CACHE_FILL_S_PASS, 1000);
		cache_fill_reader_done(&rd);
		cache_fill_unref(&f);
	}
	for (int i = 0; i < 100; i++) {
		snprintf(key, sizeof key, "u%d", i);
		switch (begin(t, key, 1001, &f, &rd)) {
		case CACHE_FILL_PASS:
			pass++;
			ok(i >= 68, "the newest markers are kept");
			break;
		default:
			cache_fill_end(f, CACHE_FILL_S_FAILED, 1001);
			cache_fill_reader_done(&rd);
			cache_fill_unref(&f);
			break;
		}
	}
	is_int(pass, 32);

	is_int(begin(t, "r", 1001, &f, &rd), CACHE_FILL_LEADER);
	is_int((int)cache_fill_readers(f), 1);
	is_int(begin(t, "r", 1001, &w, &wrd), CACHE_FILL_WAITER);
	is_int((int)cache_fill_readers(f), 2);
	cache_fill_reader_done(&wrd);
	cache_fill_reader_done(&wrd); /* twice: counted once */
	is_int((int)cache_fill_readers(f), 1);
	cache_fill_reader_done(&rd);
	is_int((int)cache_fill_readers(f), 0);
	cache_fill_end(f, CACHE_FILL_S_FAILED, 1001);
	cache_fill_unref(&w);
	cache_fill_unref(&f);
	cache_fill_table_free(&t);
}

/* Big appends cross chunks; views taken before later appends stay valid and
 * references outlive the fill and the readers. */
static void
test_chunks(void)
{
	struct cache_fill_table *t = cache_fill_table_new(1, notify, NULL);
	struct cache_fill *f = NULL, *w = NULL;
	struct cache_fill_reader rd, wrd;
	struct cache_obj *o = mk_obj("big");
	size_t total = 3u << 20, n = 0;
	char *src = malloc(total), *dst = malloc(total);
	void *refs[4096];
	size_t nrefs = 0;
	const char *p;
	size_t len;
	void *ref;

	subtest("chunks");
	for (size_t i = 0; i < total; i++)
		src[i] = (char)(i % 251);
	is_int(begin(t, "big", 1, &f, &rd), CACHE_FILL_LEADER);
	is_int(begin(t, "big", 1, &w, &wrd), CACHE_FILL_WAITER);
	cache_fill_head(f, o, -1);
	for (size_t off = 0; off < total;) {
		size_t k = total - off < 100003 ? total - off : 100003;

		is_int(cache_fill_append(f, src + off, k), 0);
		off += k;
		/* keep the views, as an evbuffer would */
		while (cache_fill_read(&wrd, &p, &len, &ref)) {
			ok(nrefs < 4096, "ref slots");
			refs[nrefs++] = ref;
			memcpy(dst + n, p, len);
			n += len;
		}
	}
	is_int((int)n, (int)total);
	ok(memcmp(src, dst, total) == 0, "the waiter read every byte in order");
	/* joins close: the key becomes hit-for-pass, readers keep going */
	cache_fill_close_joins(f, 1);
	struct cache_fill *x = NULL;
	struct cache_fill_reader xrd;
	is_int(begin(t, "big", 2, &x, &xrd), CACHE_FILL_PASS);
	ok(cache_fill_window(f) >= total, "the views keep every chunk alive");
	n = fill_drain(&rd, dst, total);
	is_int((int)n, (int)total);
	for (size_t i = 0; i < nrefs; i++)
		cache_fill_chunk_release(refs[i]);
	nrefs = 0;
	/* everything read and released: only the tail chunk is left */
	ok(cache_fill_window(f) <= 256u * 1024, "passed chunks are freed");
	cache_fill_end(f, CACHE_FILL_S_DONE, 2);
	cache_fill_reader_done(&rd);
	cache_fill_reader_done(&wrd);
	cache_fill_unref(&f);
	cache_fill_unref(&w);
	/* the fill and its readers are gone; the views held by reference are
	 * intact (ASan would catch a freed chunk) */
	{
		struct cache_fill_reader none = {0};

		cache_fill_reader_done(&none); /* NULL-safe */
	}
	for (size_t i = 0; i < nrefs; i++)
		cache_fill_chunk_release(refs[i]);
	cache_obj_unref(&o);
	cache_fill_table_free(&t);
	free(src);
	free(dst);
}

/* ---- threaded: one writer, several readers on their own threads ---- */

#define T_READERS 4
#define T_TOTAL   (6u << 20)

struct tctx {
	struct cache_fill_table *t;
	struct cache_fill *f;
	int joined;
	int bad;
	size_t got;
};

static void *
reader_main(void *arg)
{
	struct tctx *x = arg;
	struct cache_fill *f = NULL;
	struct cache_fill_reader rd;
	size_t pos = 0;
	const char *p;
	size_t len;
	void *ref;

	if (cache_fill_table_begin(x->t, "thr", 3, 1, &f, &rd) != CACHE_FILL_WAITER) {
		__atomic_fetch_add(&x->bad, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&x->joined, 1, __ATOMIC_RELEASE);
		return NULL;
	}
	__atomic_fetch_add(&x->joined, 1, __ATOMIC_RELEASE);
	for (;;) {
		enum cache_fill_state st = cache_fill_state(f);
		bool any = false;

		while (cache_fill_read(&rd, &p, &len, &ref)) {
			for (size_t i = 0; i < len; i++)
				if (p[i] != (char)((pos + i) % 251))
					__atomic_fetch_add(&x->bad, 1, __ATOMIC_RELAXED);
			pos += len;
			cache_fill_chunk_release(ref);
			any = true;
		}
		if (st == CACHE_FILL_S_DONE && !any)
			break;
		if (!any)
			sched_yield();
	}
	__atomic_fetch_add(&x->got, pos, __ATOMIC_RELAXED);
	cache_fill_reader_done(&rd);
	cache_fill_unref(&f);
	return NULL;
}

static void
test_threads(void)
{
	struct tctx x = {0};
	struct cache_fill_reader rd;
	struct cache_obj *o = mk_obj("thr");
	pthread_t th[T_READERS];
	char buf[7919];
	size_t off = 0;

	subtest("threads");
	x.t = cache_fill_table_new(8, notify, NULL);
	is_int(cache_fill_table_begin(x.t, "thr", 3, 1, &x.f, &rd), CACHE_FILL_LEADER);
	cache_fill_reader_done(&rd);
	for (int i = 0; i < T_READERS; i++)
		pthread_create(&th[i], NULL, reader_main, &x);
	/* every reader has joined before the first byte; they then read while
	 * the writer appends */
	while (__atomic_load_n(&x.joined, __ATOMIC_ACQUIRE) < T_READERS)
		sched_yield();
	cache_fill_head(x.f, o, T_TOTAL);
	while (off < T_TOTAL) {
		size_t k = T_TOTAL - off < sizeof buf ? T_TOTAL - off : sizeof buf;

		for (size_t i = 0; i < k; i++)
			buf[i] = (char)((off + i) % 251);
		cache_fill_append(x.f, buf, k);
		off += k;
	}
	cache_fill_end(x.f, CACHE_FILL_S_DONE, 2);
	for (int i = 0; i < T_READERS; i++)
		pthread_join(th[i], NULL);
	cache_fill_unref(&x.f);
	is_int(x.bad, 0);
	ok(x.got == (size_t)T_READERS * T_TOTAL, "every reader read every byte");
	cache_obj_unref(&o);
	cache_fill_table_free(&x.t);
}

int
main(void)
{
	test_roles();
	test_markers_and_readers();
	test_chunks();
	test_threads();
	return tap_done();
}
