/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * purge/purge_log.c — the durable purge log: one LMDB environment (its own,
 * beside the cache's), records id -> JSON.  A purge is written and synced
 * before the API answers 200, so after a kill -9 the node restores its bans
 * before it serves anything from disk; a record is deleted once its bans are
 * carried out on both tiers.  Writes are rare (one per purge): each is its
 * own synced transaction; LMDB serializes writers across threads.
 *
 * Four sub-databases: "purges" (id -> record, until carried out), "outbox"
 * (id -> record not yet published to the fleet bus: the log, not NATS, is
 * the source of truth, so a purge taken while NATS is away is published
 * when it returns), "applied" (id -> the time it was applied here: a purge
 * that comes back from the bus, or twice, is applied once; pruned after
 * PURGE_APPLIED_KEEP_S, beyond the bus's own retention) and "meta" ("seq":
 * the last stream sequence applied, written in the same transaction as the
 * purge it applies).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <lmdb.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "purge/purge.h"

#define PURGE_LOG_MAP        (64u << 20)
#define PURGE_APPLIED_KEEP_S (8 * 86400)

static const char *const purge_log_names[PURGE_LOG__N] = {"purges", "outbox", "applied", "meta"};

struct purge_log {
	MDB_env *env;
	MDB_dbi dbi[PURGE_LOG__N];
};

static void purge_log_prune(struct purge_log *l);

int
purge_log_open(const char *dir, struct purge_log **out, char *err, size_t errlen)
{
	struct purge_log *l = xcalloc(1, sizeof *l);
	MDB_txn *txn = NULL;
	int rc;

	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "mkdir %s: %s", dir, strerror(errno));
		free(l);
		return -1;
	}
	rc = mdb_env_create(&l->env);
	if (rc == 0)
		rc = mdb_env_set_mapsize(l->env, PURGE_LOG_MAP);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(l->env, PURGE_LOG__N);
	if (rc == 0)
		rc = mdb_env_open(l->env, dir, MDB_NOTLS, 0600);
	if (rc == 0)
		rc = mdb_txn_begin(l->env, NULL, 0, &txn);
	for (int t = 0; rc == 0 && t < PURGE_LOG__N; t++)
		rc = mdb_dbi_open(txn, purge_log_names[t], MDB_CREATE, &l->dbi[t]);
	if (rc == 0) {
		rc = mdb_txn_commit(txn);
		txn = NULL;
	}
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s", dir, mdb_strerror(rc));
		if (txn != NULL)
			mdb_txn_abort(txn);
		if (l->env != NULL)
			mdb_env_close(l->env);
		free(l);
		return -1;
	}
	purge_log_prune(l);
	*out = l;
	return 0;
}

void
purge_log_close(struct purge_log **lp)
{
	if (*lp == NULL)
		return;
	mdb_env_close((*lp)->env);
	free(*lp);
	*lp = NULL;
}

static MDB_val
log_val(const void *p, size_t len)
{
	return (MDB_val){len, (void *)(uintptr_t)p};
}

/* One synced write transaction over the steps w[0..n): a put (value not
 * NULL) or a delete (a missing key is no error). */
struct log_step {
	enum purge_log_table t;
	const char *key;
	const void *value;
	size_t len;
};

static int
log_write(struct purge_log *l, const struct log_step *w, size_t n)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(l->env, NULL, 0, &txn);

	for (size_t i = 0; rc == 0 && i < n; i++) {
		MDB_val k = log_val(w[i].key, strlen(w[i].key)), v = log_val(w[i].value, w[i].len);

		rc = w[i].value != NULL ? mdb_put(txn, l->dbi[w[i].t], &k, &v, 0)
		                        : mdb_del(txn, l->dbi[w[i].t], &k, NULL);
		if (rc == MDB_NOTFOUND)
			rc = 0;
	}
	if (rc != 0) {
		if (txn != NULL)
			mdb_txn_abort(txn);
		return rc;
	}
	return mdb_txn_commit(txn); /* synced: the environment has no NOSYNC flag */
}

static int
log_report(int rc, const char *what, const char *id)
{
	if (rc != 0)
		log_err("purge", "purge log: %s %s: %s", what, id, mdb_strerror(rc));
	return rc == 0 ? 0 : -1;
}

int
purge_log_put(struct purge_log *l, const char *id, const char *value, size_t len)
{
	struct log_step w = {PURGE_LOG_RECORDS, id, value, len};

	return log_report(log_write(l, &w, 1), "write", id);
}

int
purge_log_del(struct purge_log *l, const char *id)
{
	return purge_log_del_in(l, PURGE_LOG_RECORDS, id);
}

int
purge_log_del_in(struct purge_log *l, enum purge_log_table t, const char *id)
{
	struct log_step w = {t, id, NULL, 0};

	return log_report(log_write(l, &w, 1), "delete", id);
}

int
purge_log_commit(
    struct purge_log *l, const char *id, const char *value, size_t len, bool outbox, uint64_t seq)
{
	uint64_t now = (uint64_t)time(NULL);
	struct log_step w[4];
	size_t n = 0;

	if (value != NULL)
		w[n++] = (struct log_step){PURGE_LOG_RECORDS, id, value, len};
	if (value != NULL && outbox)
		w[n++] = (struct log_step){PURGE_LOG_OUTBOX, id, value, len};
	w[n++] = (struct log_step){PURGE_LOG_APPLIED, id, &now, sizeof now};
	if (seq != 0)
		w[n++] = (struct log_step){PURGE_LOG_META, "seq", &seq, sizeof seq};
	return log_report(log_write(l, w, n), "commit", id);
}

int
purge_log_set_seq(struct purge_log *l, uint64_t seq)
{
	struct log_step w = {PURGE_LOG_META, "seq", &seq, sizeof seq};

	return log_report(log_write(l, &w, 1), "write", "seq");
}

/* The value of key in table t copied into out (at most outlen bytes): its
 * length, or -1 when absent. */
static long
log_get(struct purge_log *l, enum purge_log_table t, const char *key, void *out, size_t outlen)
{
	MDB_txn *txn;
	MDB_val k = log_val(key, strlen(key)), v;
	long n = -1;

	if (mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn) != 0)
		return -1;
	if (mdb_get(txn, l->dbi[t], &k, &v) == 0) {
		memcpy(out, v.mv_data, v.mv_size < outlen ? v.mv_size : outlen);
		n = (long)v.mv_size;
	}
	mdb_txn_abort(txn);
	return n;
}

bool
purge_log_applied(struct purge_log *l, const char *id)
{
	uint64_t t;

	return log_get(l, PURGE_LOG_APPLIED, id, &t, sizeof t) >= 0;
}

uint64_t
purge_log_seq(struct purge_log *l)
{
	uint64_t seq = 0;

	if (log_get(l, PURGE_LOG_META, "seq", &seq, sizeof seq) != (long)sizeof seq)
		return 0;
	return seq;
}

int
purge_log_each_in(struct purge_log *l, enum purge_log_table t, purge_log_cb *cb, void *arg)
{
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	char id[64];
	int rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn);

	if (rc != 0)
		return -1;
	rc = mdb_cursor_open(txn, l->dbi[t], &cur);
	for (rc = rc == 0 ? mdb_cursor_get(cur, &k, &v, MDB_FIRST) : rc; rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size >= sizeof id)
			continue;
		memcpy(id, k.mv_data, k.mv_size);
		id[k.mv_size] = '\0';
		cb(arg, id, v.mv_data, v.mv_size);
	}
	if (cur != NULL)
		mdb_cursor_close(cur); /* a read-only transaction's cursor is the caller's */
	mdb_txn_abort(txn);
	return rc == MDB_NOTFOUND ? 0 : -1;
}

int
purge_log_each(struct purge_log *l, purge_log_cb *cb, void *arg)
{
	return purge_log_each_in(l, PURGE_LOG_RECORDS, cb, arg);
}

/* Forgets the applied ids older than PURGE_APPLIED_KEEP_S (at open). */
static void
purge_log_prune(struct purge_log *l)
{
	uint64_t cutoff = (uint64_t)time(NULL) - PURGE_APPLIED_KEEP_S, t;
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	if (mdb_txn_begin(l->env, NULL, 0, &txn) != 0)
		return;
	rc = mdb_cursor_open(txn, l->dbi[PURGE_LOG_APPLIED], &cur);
	for (rc = rc == 0 ? mdb_cursor_get(cur, &k, &v, MDB_FIRST) : rc; rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (v.mv_size != sizeof t)
			continue;
		memcpy(&t, v.mv_data, sizeof t);
		if (t < cutoff && mdb_cursor_del(cur, 0) != 0)
			break;
	}
	if (mdb_txn_commit(txn) != 0)
		log_warn("purge", "purge log: pruning the applied ids failed");
}
