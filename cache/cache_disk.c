/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cache/cache_disk.c — the disk tier: one LMDB environment, one writer thread
 * that batches many objects per write transaction, lock-free reads from any
 * worker.
 *
 * Environment (DESIGN.md §Storage): the directory conf->path (created 0700),
 * map size = max_bytes + 25 % (at least + 64 MiB), so a tier that is full by
 * its own accounting never fills the map.  Sub-databases:
 *
 *   meta    mkey -> struct disk_meta, then the full key, then the stored head,
 *           then one 64-bit checksum per body chunk (see Integrity).
 *           mkey is the cache key itself when it fits LMDB's key limit (511
 *           bytes); a longer key becomes its first 503 bytes + the 64-bit
 *           cache_hash of the whole key, big-endian.  The full key in the value
 *           is compared on lookup, so two long keys that share an mkey replace
 *           each other (a miss, never a wrong object).
 *   chunks  object id (8 bytes BE) + chunk number (4 bytes BE) -> body bytes,
 *           DISK_CHUNK_SIZE per chunk (the last one shorter), so a big body is
 *           never one contiguous value and a range can read only its chunks.
 *   order   object id (8 bytes BE) -> mkey.  Ids come from a counter that only
 *           grows (stored in `state`), so the first entry is the oldest stored
 *           object: eviction is FIFO by store time, exact (not sampled).
 *   tags    surrogate key (bytes, <= 511) -> object id (8 bytes BE), MDB_DUPSORT.
 *           Created empty; the purge issue fills and reads it (an object's
 *           removal will then delete its tag entries in the same transaction).
 *   state   "totals" -> struct disk_state {version, bytes, objects, next_id},
 *           rewritten in every write transaction, so the byte accounting
 *           survives a restart or kill -9 exactly as the data does.  version
 *           is the format (DISK_FORMAT_VERSION): a database of another format
 *           is emptied at open, with a log line saying so.
 *
 * Object id = its generation: a replaced key gets a new id, so chunks of two
 * versions can never mix.
 *
 * Never a torn object: an object's chunks, its order entry and its meta record
 * (written last) go into one write transaction, together with the deletion of
 * the older version of the key and the new totals.  LMDB is copy-on-write:
 * a commit becomes visible (to readers, and after a crash) only when the meta
 * page pointing at the new B-tree roots is written, which happens after all the
 * transaction's pages; before that, the previous roots still describe the
 * previous, complete state.  So a reader or a restarted process sees all of a
 * transaction or none of it.  Writing meta last additionally means that even
 * inside the transaction an object's record only ever points at chunks already
 * written.
 *
 * Integrity: LMDB keeps its B-trees consistent but does not checksum what
 * it stores, so a damaged page (a bad disk sector, a stray write into the
 * file) would come back as a wrong body served as a HIT.  Each meta record
 * carries an XXH3-64 of itself (taken with its sum field zero), and a sum of
 * each chunk, seeded with the object id and chunk number so a chunk can only
 * match the place it was written for.  Every read verifies what it returns:
 * the record, and each chunk as it is copied out (XXH3 runs at many GB/s,
 * a small share of a hit).  A mismatch makes the lookup a miss, queues the
 * object's removal and counts in `corrupt`.
 *
 * Durability (conf->sync_each_batch, default true): the environment is opened
 * with MDB_NOMETASYNC — each commit fdatasyncs its data pages but not the meta
 * page, which is flushed by the next commit's sync (or mdb_env_sync on flush
 * and close).  LMDB documents that this keeps atomicity and consistency:
 * a system crash can only undo the last committed batch.  A process crash
 * (kill -9) loses nothing committed (the pages are in the OS cache).  With
 * sync_each_batch false: MDB_NOSYNC and mdb_env_sync every sync_interval_ms
 * from the writer; faster, but LMDB then relies on the filesystem keeping
 * write order for consistency after a power loss — opt-in only.
 *
 * Threads.  Callers (any thread) only append to a bounded ring under `lock`
 * and never wait: when the ring is full the op is dropped and counted.  The
 * writer thread owns every write transaction and `st` (the committed totals).
 * Readers use an LMDB read-only transaction (MDB_NOTLS) cached per thread and
 * reset/renewed per lookup, so a lookup takes no lock at all (mdb_txn_begin
 * would take LMDB's reader-table mutex); the cached handles are registered in
 * `readers` (under readers_lock, touched once per thread) so close can free
 * them.  close requires that no other thread uses the tier any more.
 *
 * Byte accounting: each object is charged an estimate of the pages it costs
 * in LMDB (disk_val_charge: values over a page's node limit go to overflow
 * pages, rounded up to whole pages; small entries count twice their size for
 * B-tree fill).  The writer evicts oldest-first before a store until the
 * accounted bytes stay <= max_bytes.  If LMDB still reports MDB_MAP_FULL
 * (free pages pinned by a long reader, say) or the disk is full (ENOSPC), the
 * batch is aborted, older objects are evicted in their own transaction and the
 * batch is retried once; then it is dropped.  Logged at most once per 10 s.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <lmdb.h>
#include <xxhash.h>

#include "cache/cache.h"
#include "cache/cache_int.h"
#include "core/assert.h"
#include "core/log.h"
#include "core/xmalloc.h"

#define DISK_CHUNK_SIZE  (128u * 1024u)
#define DISK_MKEY_MAX    511u /* LMDB's default key limit */
#define DISK_MKEY_HASHED (DISK_MKEY_MAX - 8u)
#define DISK_FORMAT_VERSION                                                                        \
	2u                       /* of the database (state) and of each meta record;               \
	                            2: checksums */
#define DISK_BAD_SUM        (-2) /* disk_read: a record or chunk fails its checksum */
#define DISK_PAGE           4096u
#define DISK_NODE_MAX       2000u /* larger nodes go to overflow pages */
#define DISK_OBJ_OVERHEAD   128u
#define DISK_HEADROOM_MIN   (64ull << 20)
#define DISK_READERS_MAX    256u
#define DISK_MAXREADERS     512u
#define DISK_WARN_PERIOD_MS 10000u

struct disk_meta {
	uint32_t version;
	uint32_t status;
	uint64_t id; /* generation: chunks and order are keyed by it */
	int64_t stored_at;
	int64_t ttl_s;
	int64_t initial_age_s;
	uint64_t body_len;
	uint64_t charge; /* bytes this object counts in the accounting */
	uint32_t chunk_count;
	uint32_t chunk_size;
	uint32_t key_len;
	uint32_t head_len;
	uint64_t sum; /* XXH3-64 of the record with sum 0 (disk_meta_sum) */
	              /* then key_len bytes of key, head_len bytes of head, chunk_count sums */
};

struct disk_state {
	uint64_t version;
	uint64_t bytes;
	uint64_t objects;
	uint64_t next_id;
};

static const char disk_state_key[] = "totals";

#define DISK_PENDING_SLOTS 4096u /* a power of two */

enum disk_op_kind {
	DISK_OP_STORE = 0,
	DISK_OP_REMOVE,
};

struct disk_op {
	enum disk_op_kind kind;
	struct cache_obj *obj; /* STORE: one reference owned by the queue */
	char *key;             /* REMOVE: owned copy */
	atomic_uint *pending;  /* REMOVE: its pending_removes slot, counted */
	size_t key_len;
	uint64_t bytes; /* counted in queued_bytes */
};

struct disk_reader {
	struct disk_reader *next;
	MDB_txn *txn;
};

/* Counter deltas of one write transaction, published only if it commits. */
struct disk_delta {
	uint64_t writes;
	uint64_t removes;
	uint64_t evictions;
	uint64_t drops;
};

struct cache_disk {
	unsigned magic;
	struct cache_disk_conf conf; /* path points at path_copy */
	char *path_copy;
	MDB_env *env;
	MDB_dbi dbi_meta, dbi_chunks, dbi_order, dbi_tags, dbi_state;
	uint64_t open_id; /* tells this open apart in the per-thread reader cache */

	pthread_t writer;
	pthread_mutex_t lock;
	pthread_cond_t wake; /* the writer waits on it */
	pthread_cond_t done; /* flushers wait on it */
	/* under lock */
	struct disk_op *ring;
	unsigned ring_cap, ring_head, ring_count;
	uint64_t queued_bytes;
	uint64_t enq_seq;     /* ops accepted */
	uint64_t done_seq;    /* ops finished by the writer */
	uint64_t sync_target; /* a flusher wants done_seq synced up to here */
	uint64_t synced_seq;  /* done_seq at the last mdb_env_sync */
	bool closing;
	bool paused;
	bool retired;      /* cache_disk_writing(false): ops are dropped */
	bool reload_state; /* the writer reads the totals again before writing */

	/* Removes queued and not yet committed, counted by key hash: a lookup
	 * of a key in a non-zero slot is a miss, so an invalidated object is
	 * never read back (and promoted to RAM) while its delete waits. */
	atomic_uint pending_removes[DISK_PENDING_SLOTS];

	/* writer only */
	struct disk_state st;
	uint64_t last_sync_ms;
	bool dirty;
	uint64_t last_warn_ms;
	uint64_t warn_suppressed;

	pthread_mutex_t readers_lock;
	struct disk_reader *readers;
	unsigned n_readers;

	atomic_uint_least64_t objects, bytes, writes, removes, drops, evictions, errors, batches,
	    hits, misses, corrupt;
};

static atomic_uint_least64_t disk_open_ids = 1;

/* The calling thread's cached read transaction for one open tier. */
static _Thread_local uint64_t disk_tls_open_id;
static _Thread_local MDB_txn *disk_tls_txn;

/* ---- small helpers ---- */

static void
disk_count(atomic_uint_least64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* A counter array, not a chained table: a collision only makes a lookup
 * miss while another key's removal is pending, so the stable hash (the same
 * keys share a slot in every run) serves as well as the keyed one. */
static atomic_uint *
disk_pending_slot(struct cache_disk *d, const char *key, size_t key_len)
{
	return &d->pending_removes[cache_hash_stable(key, key_len) & (DISK_PENDING_SLOTS - 1)];
}

static uint64_t
disk_now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void
disk_deadline(struct timespec *ts, uint64_t ms)
{
	(void)clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)(ms / 1000u);
	ts->tv_nsec += (long)(ms % 1000u) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static void
disk_be64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

static void
disk_chunk_key(unsigned char out[12], uint64_t id, uint32_t n)
{
	disk_be64(out, id);
	out[8] = (unsigned char)(n >> 24);
	out[9] = (unsigned char)(n >> 16);
	out[10] = (unsigned char)(n >> 8);
	out[11] = (unsigned char)n;
}

/* The meta key of a cache key into out (DISK_MKEY_MAX bytes); its length. */
static size_t
disk_mkey(const char *key, size_t key_len, unsigned char *out)
{
	if (key_len <= DISK_MKEY_MAX) {
		memcpy(out, key, key_len);
		return key_len;
	}
	memcpy(out, key, DISK_MKEY_HASHED);
	disk_be64(out + DISK_MKEY_HASHED, cache_hash_stable(key, key_len));
	return DISK_MKEY_MAX;
}

/* Estimated bytes one LMDB entry costs. */
static uint64_t
disk_val_charge(uint64_t klen, uint64_t vlen)
{
	uint64_t node = 8 + klen + vlen;

	if (node <= DISK_NODE_MAX)
		return 2 * (node + 2); /* leaf pages are about half full */
	/* overflow pages: a 16-byte page header then the value, whole pages */
	return (vlen + 16 + DISK_PAGE - 1) / DISK_PAGE * DISK_PAGE + 2 * (8 + klen + 8 + 2);
}

/* rest_len: the meta record's bytes after struct disk_meta. */
static uint64_t
disk_charge(size_t mkey_len, size_t rest_len, uint64_t body_len, uint32_t chunks)
{
	uint64_t c = DISK_OBJ_OVERHEAD;

	c += disk_val_charge(mkey_len, sizeof(struct disk_meta) + rest_len);
	c += disk_val_charge(8, mkey_len); /* order */
	for (uint32_t i = 0; i < chunks; i++) {
		uint64_t l = body_len - (uint64_t)i * DISK_CHUNK_SIZE;

		c += disk_val_charge(12, l < DISK_CHUNK_SIZE ? l : DISK_CHUNK_SIZE);
	}
	return c;
}

/* The status code from a stored head "HTTP/1.1 200 ..."; 0 if unreadable. */
static uint32_t
disk_head_status(const char *head, size_t len)
{
	const char *sp = memchr(head, ' ', len);
	uint32_t s = 0;

	if (sp == NULL || (size_t)(sp - head) + 4 > len)
		return 0;
	for (int i = 1; i <= 3; i++) {
		if (sp[i] < '0' || sp[i] > '9')
			return 0;
		s = s * 10 + (uint32_t)(sp[i] - '0');
	}
	return s;
}

/* The checksum of a meta record: m (its sum field aside), then the rest
 * (key, head, chunk sums) of rest_len bytes. */
static uint64_t
disk_meta_sum(const struct disk_meta *m, const void *rest, size_t rest_len)
{
	struct disk_meta z = *m;

	z.sum = 0;
	return XXH3_64bits_withSeed(rest, rest_len, XXH3_64bits(&z, sizeof z));
}

/* The checksum of chunk n of object id (its len bytes at p). */
static uint64_t
disk_chunk_sum(const void *p, size_t len, uint64_t id, uint32_t n)
{
	return XXH3_64bits_withSeed(p, len, id << 32 ^ n);
}

/* Copies and checks a meta record: 0; -1 if it is not one of ours (another
 * format, a size that does not add up); DISK_BAD_SUM if it is shaped like
 * one but fails its checksum. */
static int
disk_meta_decode(const MDB_val *v, struct disk_meta *m)
{
	if (v->mv_size < sizeof *m)
		return -1;
	memcpy(m, v->mv_data, sizeof *m);
	if (m->version != DISK_FORMAT_VERSION || m->chunk_size != DISK_CHUNK_SIZE)
		return -1;
	if (v->mv_size != sizeof *m + (uint64_t)m->key_len + m->head_len + 8ull * m->chunk_count)
		return -1;
	if ((m->body_len + DISK_CHUNK_SIZE - 1) / DISK_CHUNK_SIZE != m->chunk_count)
		return -1;
	if (disk_meta_sum(m, (const char *)v->mv_data + sizeof *m, v->mv_size - sizeof *m) !=
	    m->sum)
		return DISK_BAD_SUM;
	return 0;
}

/* The stored sum of chunk n of the record rec (decoded into m). */
static uint64_t
disk_meta_chunk_sum(const struct disk_meta *m, const char *rec, uint32_t n)
{
	uint64_t s;

	memcpy(&s, rec + sizeof *m + m->key_len + m->head_len + 8ull * n, sizeof s);
	return s;
}

static void
disk_warn(struct cache_disk *d, const char *what, int rc)
{
	uint64_t now = disk_now_ms();

	if (d->last_warn_ms != 0 && now - d->last_warn_ms < DISK_WARN_PERIOD_MS) {
		d->warn_suppressed++;
		return;
	}
	log_warn("cache", "disk tier \"%s\": %s: %s (%" PRIu64 " similar messages suppressed)",
	    d->conf.path, what, mdb_strerror(rc), d->warn_suppressed);
	d->last_warn_ms = now;
	d->warn_suppressed = 0;
}

/* ---- write side (writer thread, or open/close with no writer running) ---- */

/* Deletes the object recorded under mkey, if any; *found says whether there
 * was one. */
static int
disk_delete_mkey(struct cache_disk *d, MDB_txn *txn, const unsigned char *mkey, size_t mkey_len,
    struct disk_state *st, bool *found)
{
	MDB_val k = {mkey_len, (void *)(uintptr_t)mkey}, v;
	struct disk_meta m;
	unsigned char ok[8];
	int rc;

	*found = false;
	rc = mdb_get(txn, d->dbi_meta, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	rc = disk_meta_decode(&v, &m);
	if (rc == DISK_BAD_SUM) {
		/* a damaged record: its id is trusted only if the order entry of
		 * that id names this key, else the chunks stay (unreachable) */
		MDB_val ov;

		disk_be64(ok, m.id);
		k = (MDB_val){sizeof ok, ok};
		rc = mdb_get(txn, d->dbi_order, &k, &ov);
		k = (MDB_val){mkey_len, (void *)(uintptr_t)mkey};
		if (rc != 0 && rc != MDB_NOTFOUND)
			return rc;
		rc = rc == 0 && ov.mv_size == mkey_len && memcmp(ov.mv_data, mkey, mkey_len) == 0
		         ? 0
		         : -1;
	}
	if (rc != 0) {
		disk_count(&d->errors, 1);
		return mdb_del(txn, d->dbi_meta, &k, NULL);
	}
	for (uint32_t i = 0; i < m.chunk_count; i++) {
		unsigned char ck[12];
		MDB_val cv = {sizeof ck, ck};

		disk_chunk_key(ck, m.id, i);
		rc = mdb_del(txn, d->dbi_chunks, &cv, NULL);
		if (rc != 0 && rc != MDB_NOTFOUND)
			return rc;
	}
	disk_be64(ok, m.id);
	{
		MDB_val ov = {sizeof ok, ok};

		rc = mdb_del(txn, d->dbi_order, &ov, NULL);
		if (rc != 0 && rc != MDB_NOTFOUND)
			return rc;
	}
	rc = mdb_del(txn, d->dbi_meta, &k, NULL);
	if (rc != 0)
		return rc;
	st->bytes -= m.charge < st->bytes ? m.charge : st->bytes;
	if (st->objects > 0)
		st->objects--;
	*found = true;
	return 0;
}

/* Evicts the oldest stored object; MDB_NOTFOUND if there is none. */
static int
disk_evict_one(struct cache_disk *d, MDB_txn *txn, struct disk_state *st, struct disk_delta *dl)
{
	MDB_cursor *cur;
	MDB_val k, v;
	unsigned char mkey[DISK_MKEY_MAX], okey[8];
	size_t mkey_len;
	bool found;
	int rc;

	rc = mdb_cursor_open(txn, d->dbi_order, &cur);
	if (rc != 0)
		return rc;
	rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	if (rc == 0 && (k.mv_size != sizeof okey || v.mv_size == 0 || v.mv_size > DISK_MKEY_MAX))
		rc = MDB_CORRUPTED;
	if (rc == 0) {
		memcpy(okey, k.mv_data, sizeof okey);
		mkey_len = v.mv_size;
		memcpy(mkey, v.mv_data, mkey_len);
	}
	mdb_cursor_close(cur);
	if (rc != 0)
		return rc;
	rc = disk_delete_mkey(d, txn, mkey, mkey_len, st, &found);
	if (rc != 0)
		return rc;
	if (!found) {
		/* an order entry without its object: cannot happen, but never loop */
		MDB_val ov = {sizeof okey, okey};

		disk_count(&d->errors, 1);
		rc = mdb_del(txn, d->dbi_order, &ov, NULL);
		if (rc != 0 && rc != MDB_NOTFOUND)
			return rc;
	}
	dl->evictions++;
	return 0;
}

static int
disk_put_state(struct cache_disk *d, MDB_txn *txn, const struct disk_state *st)
{
	MDB_val k = {sizeof disk_state_key - 1, (void *)(uintptr_t)disk_state_key};
	MDB_val v = {sizeof *st, (void *)(uintptr_t)st};

	return mdb_put(txn, d->dbi_state, &k, &v, 0);
}

static int
disk_put_obj(struct cache_disk *d, MDB_txn *txn, struct cache_obj *o, struct disk_state *st,
    struct disk_delta *dl)
{
	const char *key, *head, *body;
	size_t key_len, head_len, body_len, mkey_len, rest_len;
	unsigned char mkey[DISK_MKEY_MAX], okey[8];
	struct disk_meta m;
	char *rest;
	uint64_t nchunks, charge;
	time_t stored_at;
	MDB_val k, v;
	bool found;
	int rc;

	key = cache_obj_key(o, &key_len);
	head = cache_obj_head(o, &head_len);
	body = cache_obj_body(o, &body_len);
	nchunks = ((uint64_t)body_len + DISK_CHUNK_SIZE - 1) / DISK_CHUNK_SIZE;
	if (key_len == 0 || key_len > UINT32_MAX || head_len > UINT32_MAX || nchunks > UINT32_MAX) {
		dl->drops++;
		return 0;
	}
	mkey_len = disk_mkey(key, key_len, mkey);
	rest_len = key_len + head_len + 8 * (size_t)nchunks;
	charge = disk_charge(mkey_len, rest_len, body_len, (uint32_t)nchunks);
	rc = disk_delete_mkey(d, txn, mkey, mkey_len, st, &found);
	if (rc != 0)
		return rc;
	if (charge > d->conf.max_bytes) {
		dl->drops++; /* the older version is gone: it was replaced */
		return 0;
	}
	while (st->bytes + charge > d->conf.max_bytes) {
		rc = disk_evict_one(d, txn, st, dl);
		if (rc == MDB_NOTFOUND)
			break;
		if (rc != 0)
			return rc;
	}

	memset(&m, 0, sizeof m);
	m.version = DISK_FORMAT_VERSION;
	m.status = disk_head_status(head, head_len);
	m.id = st->next_id++;
	cache_obj_times(o, &stored_at, &m.ttl_s, &m.initial_age_s);
	m.stored_at = (int64_t)stored_at;
	m.body_len = body_len;
	m.charge = charge;
	m.chunk_count = (uint32_t)nchunks;
	m.chunk_size = DISK_CHUNK_SIZE;
	m.key_len = (uint32_t)key_len;
	m.head_len = (uint32_t)head_len;

	/* chunks first: ids only grow, so every chunk key is the largest yet */
	for (uint32_t i = 0; i < m.chunk_count; i++) {
		unsigned char ck[12];
		size_t off = (size_t)i * DISK_CHUNK_SIZE;
		size_t len = body_len - off < DISK_CHUNK_SIZE ? body_len - off : DISK_CHUNK_SIZE;

		disk_chunk_key(ck, m.id, i);
		k = (MDB_val){sizeof ck, ck};
		v = (MDB_val){len, (void *)(uintptr_t)(body + off)};
		rc = mdb_put(txn, d->dbi_chunks, &k, &v, MDB_APPEND);
		if (rc != 0)
			return rc;
	}
	disk_be64(okey, m.id);
	k = (MDB_val){sizeof okey, okey};
	v = (MDB_val){mkey_len, mkey};
	rc = mdb_put(txn, d->dbi_order, &k, &v, MDB_APPEND);
	if (rc != 0)
		return rc;
	/* meta last: the record that makes the object findable */
	k = (MDB_val){mkey_len, mkey};
	v = (MDB_val){sizeof m + rest_len, NULL};
	rc = mdb_put(txn, d->dbi_meta, &k, &v, MDB_RESERVE);
	if (rc != 0)
		return rc;
	rest = (char *)v.mv_data + sizeof m;
	memcpy(rest, key, key_len);
	memcpy(rest + key_len, head, head_len);
	for (uint32_t i = 0; i < m.chunk_count; i++) {
		size_t off = (size_t)i * DISK_CHUNK_SIZE;
		size_t len = body_len - off < DISK_CHUNK_SIZE ? body_len - off : DISK_CHUNK_SIZE;
		uint64_t s = disk_chunk_sum(body + off, len, m.id, i);

		memcpy(rest + key_len + head_len + 8 * (size_t)i, &s, sizeof s);
	}
	m.sum = disk_meta_sum(&m, rest, rest_len);
	memcpy(v.mv_data, &m, sizeof m);
	st->bytes += charge;
	st->objects++;
	dl->writes++;
	return 0;
}

static void
disk_publish(struct cache_disk *d, const struct disk_delta *dl)
{
	atomic_store_explicit(&d->objects, d->st.objects, memory_order_relaxed);
	atomic_store_explicit(&d->bytes, d->st.bytes, memory_order_relaxed);
	if (dl != NULL) {
		disk_count(&d->writes, dl->writes);
		disk_count(&d->removes, dl->removes);
		disk_count(&d->evictions, dl->evictions);
		disk_count(&d->drops, dl->drops);
	}
}

/* One write transaction for ops[0..n) (only their removes when
 * removes_only); 0 when committed (totals adopted). */
static int
disk_apply(struct cache_disk *d, const struct disk_op *ops, unsigned n, bool removes_only)
{
	struct disk_state st = d->st;
	struct disk_delta dl = {0};
	MDB_txn *txn;
	int rc;

	rc = mdb_txn_begin(d->env, NULL, 0, &txn);
	if (rc != 0)
		return rc;
	for (unsigned i = 0; i < n && rc == 0; i++) {
		if (ops[i].kind == DISK_OP_STORE) {
			if (!removes_only)
				rc = disk_put_obj(d, txn, ops[i].obj, &st, &dl);
		} else {
			unsigned char mkey[DISK_MKEY_MAX];
			size_t mlen = disk_mkey(ops[i].key, ops[i].key_len, mkey);
			bool found = false;

			if (ops[i].key_len > 0)
				rc = disk_delete_mkey(d, txn, mkey, mlen, &st, &found);
			dl.removes += found;
		}
	}
	if (rc == 0)
		rc = disk_put_state(d, txn, &st);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	rc = mdb_txn_commit(txn); /* frees txn whatever the outcome */
	if (rc != 0)
		return rc;
	d->st = st;
	d->dirty = true;
	disk_count(&d->batches, 1);
	disk_publish(d, &dl);
	return 0;
}

/* Evicts oldest-first, in one transaction, until at most target bytes. */
static int
disk_evict_to(struct cache_disk *d, uint64_t target)
{
	struct disk_state st = d->st;
	struct disk_delta dl = {0};
	MDB_txn *txn;
	int rc;

	if (st.bytes <= target)
		return 0;
	rc = mdb_txn_begin(d->env, NULL, 0, &txn);
	if (rc != 0)
		return rc;
	while (st.bytes > target && rc == 0)
		rc = disk_evict_one(d, txn, &st, &dl);
	if (rc == MDB_NOTFOUND) {
		st.bytes = 0; /* nothing left: the totals drifted; start again */
		st.objects = 0;
		rc = 0;
	}
	if (rc == 0)
		rc = disk_put_state(d, txn, &st);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	rc = mdb_txn_commit(txn);
	if (rc != 0)
		return rc;
	d->st = st;
	d->dirty = true;
	disk_publish(d, &dl);
	return 0;
}

static void
disk_write_batch(struct cache_disk *d, const struct disk_op *ops, unsigned n)
{
	uint64_t need = d->conf.max_bytes / 8, stores = 0;
	int rc;

	rc = disk_apply(d, ops, n, false);
	if (rc == 0)
		return;
	disk_count(&d->errors, 1);
	disk_warn(d, "write failed, evicting and retrying", rc);
	for (unsigned i = 0; i < n; i++) {
		if (ops[i].kind == DISK_OP_STORE) {
			need += ops[i].bytes;
			stores++;
		}
	}
	if (rc == MDB_MAP_FULL || rc == ENOSPC || rc == MDB_TXN_FULL) {
		rc = disk_evict_to(d, d->st.bytes > need ? d->st.bytes - need : 0);
		if (rc == 0)
			rc = disk_apply(d, ops, n, false);
	} else {
		rc = disk_apply(d, ops, n, false);
	}
	if (rc != 0) {
		disk_count(&d->errors, 1);
		disk_count(&d->drops, stores);
		disk_warn(d, "batch dropped", rc);
		/* The stores are lost, the removes must not be: an invalidated
		 * object would otherwise come back from disk (after a restart
		 * too).  Deleting needs no new pages beyond the tree's own. */
		if (stores < n && (rc = disk_apply(d, ops, n, true)) != 0) {
			disk_count(&d->errors, 1);
			disk_warn(d, "removes of a dropped batch failed too", rc);
		}
	}
}

static void
disk_op_release(struct disk_op *op)
{
	cache_obj_unref(&op->obj);
	free(op->key);
	op->key = NULL;
}

static void
disk_sync(struct cache_disk *d)
{
	int rc = mdb_env_sync(d->env, 1);

	if (rc != 0) {
		disk_count(&d->errors, 1);
		disk_warn(d, "sync", rc);
	}
	d->dirty = false;
	d->last_sync_ms = disk_now_ms();
}

/* Syncs with d->lock released (held on entry and on return); what was done
 * before the call is then synced. */
static void
disk_sync_unlocked(struct cache_disk *d)
{
	uint64_t done = d->done_seq;

	ASSERT(pthread_mutex_unlock(&d->lock) == 0);
	disk_sync(d);
	ASSERT(pthread_mutex_lock(&d->lock) == 0);
	if (done > d->synced_seq)
		d->synced_seq = done;
}

static int disk_load_state(struct cache_disk *d, MDB_txn *txn);

/* Adopts the totals another process left in the database (it wrote while
 * this one did not: cache_disk_writing). */
static void
disk_reload_state(struct cache_disk *d)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(d->env, NULL, 0, &txn);

	if (rc == 0 && (rc = disk_load_state(d, txn)) != 0)
		mdb_txn_abort(txn);
	else if (rc == 0)
		rc = mdb_txn_commit(txn);
	if (rc != 0) {
		disk_count(&d->errors, 1);
		disk_warn(d, "reading the totals again", rc);
		return;
	}
	disk_publish(d, NULL);
}

static void *
disk_writer_main(void *arg)
{
	struct cache_disk *d = arg;
	unsigned bmax = d->conf.batch_max_objects;
	struct disk_op *batch = xcalloc(bmax, sizeof *batch);

	OBJ_CHECK(d, CACHE_DISK_MAGIC);
	log_set_thread_name("disk");
	ASSERT(pthread_mutex_lock(&d->lock) == 0);
	for (;;) {
		unsigned n = 0;
		uint64_t nbytes = 0;
		bool reload;

		/* idle: wait for work, a flush, or the periodic sync */
		while (!d->closing && (d->ring_count == 0 || d->paused) &&
		       !(d->sync_target > d->synced_seq && d->done_seq >= d->sync_target)) {
			if (!d->conf.sync_each_batch && d->dirty) {
				struct timespec ts;
				uint64_t now = disk_now_ms();
				uint64_t due = d->last_sync_ms + d->conf.sync_interval_ms;

				if (now >= due) {
					disk_sync_unlocked(d);
					continue;
				}
				disk_deadline(&ts, due - now);
				(void)pthread_cond_timedwait(&d->wake, &d->lock, &ts);
			} else {
				ASSERT(pthread_cond_wait(&d->wake, &d->lock) == 0);
			}
		}
		if (d->ring_count > 0 && !d->closing && !d->paused && d->ring_count < bmax &&
		    d->queued_bytes < d->conf.batch_max_bytes && d->sync_target <= d->synced_seq) {
			/* let the batch fill, a little */
			struct timespec ts;

			disk_deadline(&ts, d->conf.batch_max_ms);
			while (!d->closing && d->ring_count < bmax &&
			       d->queued_bytes < d->conf.batch_max_bytes &&
			       d->sync_target <= d->synced_seq)
				if (pthread_cond_timedwait(&d->wake, &d->lock, &ts) == ETIMEDOUT)
					break;
		}
		while (n < bmax && d->ring_count > 0 && (!d->paused || d->closing) &&
		       (n == 0 || nbytes < d->conf.batch_max_bytes)) {
			struct disk_op *op = &d->ring[d->ring_head];

			batch[n++] = *op;
			nbytes += op->bytes;
			memset(op, 0, sizeof *op);
			d->ring_head = (d->ring_head + 1) % d->ring_cap;
			d->ring_count--;
			d->queued_bytes -= batch[n - 1].bytes;
		}
		if (n == 0 && d->closing)
			break;
		reload = n > 0 && d->reload_state;
		if (reload)
			d->reload_state = false;
		ASSERT(pthread_mutex_unlock(&d->lock) == 0);
		if (reload)
			disk_reload_state(d);
		if (n > 0)
			disk_write_batch(d, batch, n);
		for (unsigned i = 0; i < n; i++) {
			if (batch[i].kind == DISK_OP_REMOVE) /* committed (or failed) */
				atomic_fetch_sub(batch[i].pending, 1);
			disk_op_release(&batch[i]);
		}
		ASSERT(pthread_mutex_lock(&d->lock) == 0);
		d->done_seq += n;
		if ((d->sync_target > d->synced_seq && d->done_seq >= d->sync_target) ||
		    (!d->conf.sync_each_batch && d->dirty &&
		        disk_now_ms() - d->last_sync_ms >= d->conf.sync_interval_ms))
			disk_sync_unlocked(d); /* a flush waits for it, or the periodic
			                          sync, also under sustained load */
		ASSERT(pthread_cond_broadcast(&d->done) == 0);
	}
	ASSERT(pthread_mutex_unlock(&d->lock) == 0);
	disk_sync(d);
	free(batch);
	return NULL;
}

/* ---- queue (any thread) ---- */

/* Doubles the ring, its ops kept in order.  Under lock. */
static void
disk_ring_grow(struct cache_disk *d)
{
	struct disk_op *r = xcalloc((size_t)d->ring_cap * 2, sizeof *r);

	for (unsigned i = 0; i < d->ring_count; i++)
		r[i] = d->ring[(d->ring_head + i) % d->ring_cap];
	free(d->ring);
	d->ring = r;
	d->ring_head = 0;
	d->ring_cap *= 2;
}

/* Would the queue take an op of bytes bytes now (a remove: whenever there
 * is a slot)?  Under d->lock. */
static bool
disk_queue_takes(const struct cache_disk *d, bool remove, uint64_t bytes)
{
	return !d->closing && !d->retired && d->ring_count < d->ring_cap &&
	       (d->ring_count == 0 || remove || d->queued_bytes + bytes <= d->conf.queue_max_bytes);
}

/* Queues op, or drops it (counted) when the queue is full.  A remove is never
 * dropped for room: the ring grows instead, as a lost remove would bring an
 * invalidated object back (from disk, and after a restart).  A remove is a
 * key; the writer applies hundreds of them per transaction. */
static void
disk_enqueue(struct cache_disk *d, struct disk_op *op)
{
	bool ok = false;

	ASSERT(pthread_mutex_lock(&d->lock) == 0);
	if (!d->closing && op->kind == DISK_OP_REMOVE && d->ring_count == d->ring_cap)
		disk_ring_grow(d);
	if (disk_queue_takes(d, op->kind == DISK_OP_REMOVE, op->bytes)) {
		d->ring[(d->ring_head + d->ring_count) % d->ring_cap] = *op;
		d->ring_count++;
		d->queued_bytes += op->bytes;
		d->enq_seq++;
		ok = true;
		if (d->ring_count == 1 || d->ring_count >= d->conf.batch_max_objects ||
		    d->queued_bytes >= d->conf.batch_max_bytes)
			ASSERT(pthread_cond_signal(&d->wake) == 0);
	}
	ASSERT(pthread_mutex_unlock(&d->lock) == 0);
	if (!ok) {
		if (op->kind == DISK_OP_REMOVE) /* closing: nothing reads any more */
			atomic_fetch_sub(op->pending, 1);
		disk_count(&d->drops, 1);
		disk_op_release(op);
	}
}

void
cache_disk_store(struct cache_disk *d, struct cache_obj *o)
{
	struct disk_op op = {DISK_OP_STORE, NULL, NULL, NULL, 0, 0};
	size_t kl, hl, bl;

	OBJ_CHECK(d, CACHE_DISK_MAGIC);
	(void)cache_obj_key(o, &kl);
	(void)cache_obj_head(o, &hl);
	(void)cache_obj_body(o, &bl);
	op.obj = cache_obj_ref(o);
	op.bytes = (uint64_t)kl + hl + bl;
	disk_enqueue(d, &op);
}

bool
cache_disk_queue_room(struct cache_disk *d, uint64_t bytes)
{
	bool ok;

	OBJ_CHECK(d, CACHE_DISK_MAGIC);
	ASSERT(pthread_mutex_lock(&d->lock) == 0);
	ok = disk_queue_takes(d, false, bytes);
	ASSERT(pthread_mutex_unlock(&d->lock) == 0);
	return ok;
}

uint64_t
cache_disk_queued_bytes(struct cache_disk *d)
{
	uint64_t n;

	OBJ_CHECK(d, CACHE_DISK_MAGIC);
	ASSERT(pthread_mutex_lock(&d->lock) == 0);
	n = d->queued_bytes;
	ASSERT(pthread_mutex_unlock(&d->lock) == 0);
	return n;
}

void
cache_disk_remove(struct cache_disk *d, const char *key, size_t key_len)
{
	struct disk_op op = {DISK_OP_REMOVE, NULL, NULL, NULL, key_len, key_len};

	OBJ_CHECK(d, CACHE_DISK_MAGIC);
	op.key = xmalloc(key_len + 1);
	memcpy(op.key, key, key_len);
	op.key[key_len] = '\0';
	op.pending = disk_pending_slot(d, key, key_len);
	atomic_fetch_add(op.pending, 1); /* before it is queued */
	disk_enqueue(d, &op);
}

int
cache_disk_flush(struct cache_disk *d, unsigned timeout_ms)
{
	struct timespec ts;
	uint64_t target;
	int rc = 0;

	OBJ_CHECK(d, CACHE_DISK_MAGIC);
	disk_deadline(&ts, timeout_ms);
	ASSERT(pthread_mutex_lock(&d->lock) == 0);
	target = d->enq_seq;
	if (target > d->sync_target)
		d->sync_target = target;
	ASSERT(pthread_cond_signal(&d->wake) == 0);
	while (d->synced_seq < target) {
		if (pthread_cond_timedwait(&d->done, &d->lock, &ts) == ETIMEDOUT) {
			rc = d->synced_seq < target ? -1 : 0;
			break;
		}
	}
	ASSERT(pthread_mutex_unlock(&d->lock) == 0);
	return rc;
}

int
cache_disk_writing(struct cache_disk *d, bool on, unsigned timeout_ms)
{
	OBJ_CHECK(d, CACHE_DISK_MAGIC);
	ASSERT(pthread_mutex_lock(&d->lock) == 0);
	if (on && d->retired)
		d->reload_state = true;
	d->retired = !on;
	ASSERT(pthread_mutex_unlock(&d->lock) == 0);
	return on ? 0 : cache_disk_flush(d, timeout_ms);
}

void
cache_disk_pause(struct cache_disk *d, bool paused)
{
	OBJ_CHECK(d, CACHE_DISK_MAGIC);
	ASSERT(pthread_mutex_lock(&d->lock) == 0);
	d->paused = paused;
	ASSERT(pthread_cond_signal(&d->wake) == 0);
	ASSERT(pthread_mutex_unlock(&d->lock) == 0);
}

/* ---- read side (any thread) ---- */

/* A read transaction: the thread's cached one renewed (*cached true), or a
 * fresh one when the thread cache is full. */
static int
disk_rtxn(struct cache_disk *d, MDB_txn **out, bool *cached)
{
	MDB_txn *txn = NULL;
	int rc;

	if (disk_tls_open_id == d->open_id && disk_tls_txn != NULL) {
		rc = mdb_txn_renew(disk_tls_txn);
		if (rc == 0) {
			*out = disk_tls_txn;
			*cached = true;
		}
		return rc;
	}
	rc = mdb_txn_begin(d->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0)
		return rc;
	*out = txn;
	*cached = false;
	ASSERT(pthread_mutex_lock(&d->readers_lock) == 0);
	if (d->n_readers < DISK_READERS_MAX) {
		struct disk_reader *r = xmalloc(sizeof *r);

		r->txn = txn;
		r->next = d->readers;
		d->readers = r;
		d->n_readers++;
		disk_tls_open_id = d->open_id;
		disk_tls_txn = txn;
		*cached = true;
	}
	ASSERT(pthread_mutex_unlock(&d->readers_lock) == 0);
	return 0;
}

static int
disk_read(struct cache_disk *d, MDB_txn *txn, const char *key, size_t key_len, time_t now,
    bool head_only, struct cache_obj **out)
{
	unsigned char mkey[DISK_MKEY_MAX];
	MDB_val k, v;
	struct disk_meta m;
	struct cache_policy pol;
	struct cache_obj *o;
	const char *rec;
	int64_t age;
	int rc;

	k.mv_size = disk_mkey(key, key_len, mkey);
	k.mv_data = mkey;
	rc = mdb_get(txn, d->dbi_meta, &k, &v);
	if (rc != 0)
		return rc == MDB_NOTFOUND ? -1 : rc;
	rc = disk_meta_decode(&v, &m);
	if (rc != 0)
		return rc == DISK_BAD_SUM ? rc : MDB_CORRUPTED;
	rec = (const char *)v.mv_data + sizeof m;
	if (m.key_len != key_len || memcmp(rec, key, key_len) != 0)
		return -1; /* a long key sharing the mkey */
	age = m.initial_age_s + ((int64_t)now > m.stored_at ? (int64_t)now - m.stored_at : 0);
	if (age > m.ttl_s + d->conf.stale_keep_s)
		return -1;
	pol.storable = true;
	pol.ttl_s = m.ttl_s;
	pol.initial_age_s = m.initial_age_s;
	o = cache_obj_new(key, key_len, rec + key_len, m.head_len, head_only ? 0 : m.body_len,
	    (time_t)m.stored_at, &pol);
	if (o == NULL)
		return ENOMEM;
	for (uint32_t i = 0; i < m.chunk_count && !head_only; i++) {
		unsigned char ck[12];
		uint64_t want = m.body_len - (uint64_t)i * DISK_CHUNK_SIZE;
		MDB_val cv;

		if (want > DISK_CHUNK_SIZE)
			want = DISK_CHUNK_SIZE;
		disk_chunk_key(ck, m.id, i);
		k = (MDB_val){sizeof ck, ck};
		rc = mdb_get(txn, d->dbi_chunks, &k, &cv);
		if (rc == 0 && cv.mv_size != want)
			rc = MDB_CORRUPTED;
		if (rc == 0 && disk_chunk_sum(cv.mv_data, cv.mv_size, m.id, i) !=
		                   disk_meta_chunk_sum(&m, (const char *)v.mv_data, i))
			rc = DISK_BAD_SUM;
		if (rc == 0 && cache_obj_append(o, cv.mv_data, cv.mv_size, m.body_len) != 0)
			rc = ENOMEM;
		if (rc != 0) {
			cache_obj_unref(&o);
			return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
		}
	}
	cache_obj_body_done(o); /* complete: no longer a body being built */
	*out = o;
	return 0;
}

/* disk_read in the thread's read transaction; a queued remove hides the key. */
static int
disk_get(struct cache_disk *d, const char *key, size_t key_len, time_t now, bool head_only,
    struct cache_obj **out)
{
	MDB_txn *txn;
	bool cached;
	int rc;

	OBJ_CHECK(d, CACHE_DISK_MAGIC);
	*out = NULL;
	if (key_len == 0 || atomic_load(disk_pending_slot(d, key, key_len)) != 0)
		return -1;
	rc = disk_rtxn(d, &txn, &cached);
	if (rc == 0) {
		rc = disk_read(d, txn, key, key_len, now, head_only, out);
		if (cached)
			mdb_txn_reset(txn);
		else
			mdb_txn_abort(txn);
	}
	if (rc == DISK_BAD_SUM) {
		/* damaged on disk: a miss, and the object goes */
		disk_count(&d->corrupt, 1);
		cache_disk_remove(d, key, key_len);
		rc = -1;
	}
	return rc;
}

int
cache_disk_lookup_head(
    struct cache_disk *d, const char *key, size_t key_len, time_t now, struct cache_obj **out)
{
	int rc = disk_get(d, key, key_len, now, true, out);

	if (rc > 0 || rc < -1)
		disk_count(&d->errors, 1);
	return rc == 0 ? 0 : -1;
}

int
cache_disk_lookup(
    struct cache_disk *d, const char *key, size_t key_len, time_t now, struct cache_obj **out)
{
	int rc = disk_get(d, key, key_len, now, false, out);

	if (rc == 0) {
		disk_count(&d->hits, 1);
		return 0;
	}
	if (rc > 0 || rc < -1)
		disk_count(&d->errors, 1);
	disk_count(&d->misses, 1);
	return -1;
}

void
cache_disk_stats(struct cache_disk *d, struct cache_disk_stats *out)
{
	OBJ_CHECK(d, CACHE_DISK_MAGIC);
	out->objects = atomic_load_explicit(&d->objects, memory_order_relaxed);
	out->bytes = atomic_load_explicit(&d->bytes, memory_order_relaxed);
	out->writes = atomic_load_explicit(&d->writes, memory_order_relaxed);
	out->removes = atomic_load_explicit(&d->removes, memory_order_relaxed);
	out->drops = atomic_load_explicit(&d->drops, memory_order_relaxed);
	out->evictions = atomic_load_explicit(&d->evictions, memory_order_relaxed);
	out->errors = atomic_load_explicit(&d->errors, memory_order_relaxed);
	out->batches = atomic_load_explicit(&d->batches, memory_order_relaxed);
	out->hits = atomic_load_explicit(&d->hits, memory_order_relaxed);
	out->misses = atomic_load_explicit(&d->misses, memory_order_relaxed);
	out->corrupt = atomic_load_explicit(&d->corrupt, memory_order_relaxed);
}

/* ---- consistency check (tests) ---- */

int
cache_disk_check(struct cache_disk *d, char *err, size_t errlen)
{
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	MDB_stat ms;
	struct disk_state st;
	uint64_t objects = 0, bytes = 0, chunks = 0, max_id = 0;
	int rc;

	OBJ_CHECK(d, CACHE_DISK_MAGIC);
	err[0] = '\0';
	rc = mdb_txn_begin(d->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0) {
		snprintf(err, errlen, "begin: %s", mdb_strerror(rc));
		return -1;
	}
	k = (MDB_val){sizeof disk_state_key - 1, (void *)(uintptr_t)disk_state_key};
	rc = mdb_get(txn, d->dbi_state, &k, &v);
	if (rc != 0 || v.mv_size != sizeof st) {
		snprintf(err, errlen, "no totals record");
		goto out;
	}
	memcpy(&st, v.mv_data, sizeof st);
	rc = mdb_cursor_open(txn, d->dbi_meta, &cur);
	for (rc = rc != 0 ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct disk_meta m;
		unsigned char mkey[DISK_MKEY_MAX], okey[8];
		MDB_val ov;
		uint64_t got = 0;

		if (disk_meta_decode(&v, &m) != 0) {
			snprintf(err, errlen, "bad meta record");
			goto out;
		}
		if (disk_mkey((const char *)v.mv_data + sizeof m, m.key_len, mkey) != k.mv_size ||
		    memcmp(mkey, k.mv_data, k.mv_size) != 0) {
			snprintf(err, errlen, "meta key does not match its record");
			goto out;
		}
		for (uint32_t i = 0; i <= m.chunk_count; i++) {
			unsigned char ck[12];
			MDB_val ckv = {sizeof ck, ck}, cv;

			disk_chunk_key(ck, m.id, i);
			rc = mdb_get(txn, d->dbi_chunks, &ckv, &cv);
			if (i == m.chunk_count) {
				if (rc != MDB_NOTFOUND) {
					snprintf(
					    err, errlen, "object %" PRIu64 ": extra chunk", m.id);
					goto out;
				}
				break;
			}
			if (rc != 0) {
				snprintf(
				    err, errlen, "object %" PRIu64 ": chunk %u missing", m.id, i);
				goto out;
			}
			if (disk_chunk_sum(cv.mv_data, cv.mv_size, m.id, i) !=
			    disk_meta_chunk_sum(&m, v.mv_data, i)) {
				snprintf(err, errlen,
				    "object %" PRIu64 ": chunk %u fails its checksum", m.id, i);
				goto out;
			}
			got += cv.mv_size;
		}
		if (got != m.body_len) {
			snprintf(err, errlen,
			    "object %" PRIu64 ": chunks hold %" PRIu64 " bytes, meta says %" PRIu64,
			    m.id, got, m.body_len);
			goto out;
		}
		disk_be64(okey, m.id);
		k = (MDB_val){sizeof okey, okey};
		rc = mdb_get(txn, d->dbi_order, &k, &ov);
		if (rc != 0 ||
		    ov.mv_size != disk_mkey((const char *)v.mv_data + sizeof m, m.key_len, mkey) ||
		    memcmp(ov.mv_data, mkey, ov.mv_size) != 0) {
			snprintf(err, errlen, "object %" PRIu64 ": no order entry", m.id);
			goto out;
		}
		if (m.id >= st.next_id) {
			snprintf(err, errlen, "object %" PRIu64 ": id not below next_id", m.id);
			goto out;
		}
		if (m.id > max_id)
			max_id = m.id;
		objects++;
		bytes += m.charge;
		chunks += m.chunk_count;
	}
	if (rc != MDB_NOTFOUND) {
		snprintf(err, errlen, "walk: %s", mdb_strerror(rc));
		goto out;
	}
	if (objects != st.objects || bytes != st.bytes) {
		snprintf(err, errlen,
		    "totals say %" PRIu64 " objects %" PRIu64 " bytes, found %" PRIu64 " %" PRIu64,
		    st.objects, st.bytes, objects, bytes);
		goto out;
	}
	if (mdb_stat(txn, d->dbi_chunks, &ms) != 0 || ms.ms_entries != chunks) {
		snprintf(err, errlen, "%zu chunks stored, %" PRIu64 " referenced",
		    (size_t)ms.ms_entries, chunks);
		goto out;
	}
	if (mdb_stat(txn, d->dbi_order, &ms) != 0 || ms.ms_entries != objects) {
		snprintf(err, errlen, "%zu order entries for %" PRIu64 " objects",
		    (size_t)ms.ms_entries, objects);
		goto out;
	}
	if (bytes > d->conf.max_bytes) {
		snprintf(err, errlen, "%" PRIu64 " bytes over max_bytes", bytes);
		goto out;
	}
out:
	if (cur != NULL)
		mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return err[0] == '\0' ? 0 : -1;
}

/* ---- open / close (main thread) ---- */

void
cache_disk_conf_defaults(struct cache_disk_conf *c)
{
	memset(c, 0, sizeof *c);
	c->queue_max = 4096;
	c->queue_max_bytes = 256ull << 20;
	c->batch_max_objects = 256;
	c->batch_max_bytes = 16ull << 20;
	c->batch_max_ms = 5;
	c->sync_each_batch = true;
	c->sync_interval_ms = 1000;
	c->stale_keep_s = 86400;
}

/* Reads the totals, or rebuilds them from the metadata if they are missing. */
static int
disk_load_state(struct cache_disk *d, MDB_txn *txn)
{
	MDB_val k = {sizeof disk_state_key - 1, (void *)(uintptr_t)disk_state_key}, v;
	MDB_cursor *cur;
	int rc;

	rc = mdb_get(txn, d->dbi_state, &k, &v);
	if (rc == 0 && v.mv_size == sizeof d->st) {
		memcpy(&d->st, v.mv_data, sizeof d->st);
		if (d->st.version == DISK_FORMAT_VERSION && d->st.next_id > 0)
			return 0;
		if (d->st.version != DISK_FORMAT_VERSION) {
			/* another format: none of its records can be read */
			log_warn("cache",
			    "disk tier \"%s\": format %" PRIu64 " found, this version "
			    "reads format %u: its %" PRIu64 " objects are discarded",
			    d->conf.path, d->st.version, DISK_FORMAT_VERSION, d->st.objects);
			if ((rc = mdb_drop(txn, d->dbi_meta, 0)) != 0 ||
			    (rc = mdb_drop(txn, d->dbi_chunks, 0)) != 0 ||
			    (rc = mdb_drop(txn, d->dbi_order, 0)) != 0 ||
			    (rc = mdb_drop(txn, d->dbi_tags, 0)) != 0)
				return rc;
		}
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	memset(&d->st, 0, sizeof d->st);
	d->st.version = DISK_FORMAT_VERSION;
	d->st.next_id = 1;
	rc = mdb_cursor_open(txn, d->dbi_meta, &cur);
	if (rc != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct disk_meta m;

		if (disk_meta_decode(&v, &m) != 0)
			continue;
		d->st.objects++;
		d->st.bytes += m.charge;
		if (m.id >= d->st.next_id)
			d->st.next_id = m.id + 1;
	}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND)
		return rc;
	return disk_put_state(d, txn, &d->st);
}

static int
disk_open_env(struct cache_disk *d, char *err, size_t errlen)
{
	uint64_t headroom = d->conf.max_bytes / 4, map;
	unsigned flags = MDB_NOTLS | MDB_NORDAHEAD;
	MDB_txn *txn = NULL;
	int rc, dead;

	if (headroom < DISK_HEADROOM_MIN)
		headroom = DISK_HEADROOM_MIN;
	map = (d->conf.max_bytes + headroom + DISK_PAGE - 1) / DISK_PAGE * DISK_PAGE;
	flags |= d->conf.sync_each_batch ? MDB_NOMETASYNC : MDB_NOSYNC;
	if ((rc = mdb_env_create(&d->env)) != 0 || (rc = mdb_env_set_maxdbs(d->env, 8)) != 0 ||
	    (rc = mdb_env_set_maxreaders(d->env, DISK_MAXREADERS)) != 0 ||
	    (rc = mdb_env_set_mapsize(d->env, (size_t)map)) != 0) {
		snprintf(err, errlen, "cache.disk \"%s\": %s", d->conf.path, mdb_strerror(rc));
		return -1;
	}
	rc = mdb_env_open(d->env, d->conf.path, flags, 0600);
	if (rc != 0) {
		snprintf(
		    err, errlen, "cache.disk \"%s\": open: %s", d->conf.path, mdb_strerror(rc));
		return -1;
	}
	if (mdb_env_get_maxkeysize(d->env) < (int)DISK_MKEY_MAX) {
		snprintf(err, errlen, "cache.disk \"%s\": lmdb key limit below %u", d->conf.path,
		    DISK_MKEY_MAX);
		return -1;
	}
	/* reader slots of a process that died (kill -9) */
	(void)mdb_reader_check(d->env, &dead);
	rc = mdb_txn_begin(d->env, NULL, 0, &txn);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &d->dbi_meta);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "chunks", MDB_CREATE, &d->dbi_chunks);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "order", MDB_CREATE, &d->dbi_order);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "tags", MDB_CREATE | MDB_DUPSORT, &d->dbi_tags);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "state", MDB_CREATE, &d->dbi_state);
	if (rc == 0)
		rc = disk_load_state(d, txn);
	if (rc != 0) {
		if (txn != NULL)
			mdb_txn_abort(txn);
		snprintf(err, errlen, "cache.disk \"%s\": sub-databases: %s", d->conf.path,
		    mdb_strerror(rc));
		return -1;
	}
	rc = mdb_txn_commit(txn);
	if (rc == 0 && d->st.bytes > d->conf.max_bytes)
		rc = disk_evict_to(d, d->conf.max_bytes); /* the size was lowered */
	if (rc != 0) {
		snprintf(err, errlen, "cache.disk \"%s\": %s", d->conf.path, mdb_strerror(rc));
		return -1;
	}
	disk_publish(d, NULL);
	return 0;
}

static void
disk_free(struct cache_disk *d)
{
	struct disk_reader *r;

	while ((r = d->readers) != NULL) {
		d->readers = r->next;
		mdb_txn_abort(r->txn);
		free(r);
	}
	if (d->env != NULL)
		mdb_env_close(d->env);
	for (unsigned i = 0; i < d->ring_count; i++)
		disk_op_release(&d->ring[(d->ring_head + i) % d->ring_cap]);
	(void)pthread_cond_destroy(&d->wake);
	(void)pthread_cond_destroy(&d->done);
	(void)pthread_mutex_destroy(&d->lock);
	(void)pthread_mutex_destroy(&d->readers_lock);
	free(d->ring);
	free(d->path_copy);
	d->magic = 0;
	free(d);
}

int
cache_disk_open(
    const struct cache_disk_conf *conf, struct cache_disk **out, char *err, size_t errlen)
{
	struct cache_disk *d;
	pthread_condattr_t ca;
	struct stat sb;

	*out = NULL;
	if (conf->path == NULL || conf->path[0] == '\0' || conf->max_bytes == 0) {
		snprintf(err, errlen, "cache.disk: path and size are required");
		return -1;
	}
	if (mkdir(conf->path, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "cache.disk \"%s\": mkdir: %s", conf->path, strerror(errno));
		return -1;
	}
	if (stat(conf->path, &sb) == -1 || !S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "cache.disk \"%s\": not a directory", conf->path);
		return -1;
	}
	d = xcalloc(1, sizeof *d);
	d->magic = CACHE_DISK_MAGIC;
	d->conf = *conf;
	d->path_copy = xstrdup(conf->path);
	d->conf.path = d->path_copy;
	if (d->conf.queue_max == 0)
		d->conf.queue_max = 1;
	if (d->conf.batch_max_objects == 0)
		d->conf.batch_max_objects = 1;
	if (d->conf.sync_interval_ms == 0)
		d->conf.sync_interval_ms = 1;
	d->open_id = atomic_fetch_add(&disk_open_ids, 1);
	d->ring_cap = d->conf.queue_max;
	d->ring = xcalloc(d->ring_cap, sizeof *d->ring);
	ASSERT(pthread_mutex_init(&d->lock, NULL) == 0);
	ASSERT(pthread_mutex_init(&d->readers_lock, NULL) == 0);
	ASSERT(pthread_condattr_init(&ca) == 0);
	ASSERT(pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0);
	ASSERT(pthread_cond_init(&d->wake, &ca) == 0);
	ASSERT(pthread_cond_init(&d->done, &ca) == 0);
	(void)pthread_condattr_destroy(&ca);
	d->last_sync_ms = disk_now_ms();
	if (disk_open_env(d, err, errlen) != 0) {
		disk_free(d);
		return -1;
	}
	if (pthread_create(&d->writer, NULL, disk_writer_main, d) != 0) {
		snprintf(
		    err, errlen, "cache.disk \"%s\": cannot start the writer thread", conf->path);
		disk_free(d);
		return -1;
	}
	*out = d;
	return 0;
}

void
cache_disk_close(struct cache_disk **dp)
{
	struct cache_disk *d = *dp;

	*dp = NULL;
	if (d == NULL)
		return;
	OBJ_CHECK(d, CACHE_DISK_MAGIC);
	ASSERT(pthread_mutex_lock(&d->lock) == 0);
	d->closing = true;
	d->paused = false;
	ASSERT(pthread_cond_signal(&d->wake) == 0);
	ASSERT(pthread_mutex_unlock(&d->lock) == 0);
	ASSERT(pthread_join(d->writer, NULL) == 0);
	disk_free(d);
}

int
cache_disk_scan(struct cache_disk *d, unsigned char *cursor, size_t *cursor_len, unsigned max,
    cache_disk_scan_cb *cb, void *arg)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc, n = 0;

	OBJ_CHECK(d, CACHE_DISK_MAGIC);
	/* a transaction of its own, closed after max records: a long-lived
	 * reader would keep the writer from reusing pages */
	rc = mdb_txn_begin(d->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0)
		return -1;
	rc = mdb_cursor_open(txn, d->dbi_meta, &cur);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return -1;
	}
	k.mv_size = *cursor_len;
	k.mv_data = cursor;
	rc = *cursor_len == 0 ? mdb_cursor_get(cur, &k, &v, MDB_FIRST)
	                      : mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	if (rc == 0 && *cursor_len > 0 && k.mv_size == *cursor_len &&
	    memcmp(k.mv_data, cursor, *cursor_len) == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	for (; rc == 0 && (unsigned)n < max; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct disk_meta m;
		const char *rec = (const char *)v.mv_data + sizeof m;

		n++;
		if (k.mv_size <= CACHE_DISK_CURSOR_MAX) {
			memcpy(cursor, k.mv_data, k.mv_size);
			*cursor_len = k.mv_size;
		}
		if (disk_meta_decode(&v, &m) == 0)
			cb(arg, rec, m.key_len, rec + m.key_len, m.head_len, (time_t)m.stored_at);
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return rc == 0 || rc == MDB_NOTFOUND ? n : -1;
}
