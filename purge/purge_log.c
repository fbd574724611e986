/*
 * purge/purge_log.c — the durable purge log: one LMDB environment (its own,
 * beside the cache's), records id -> JSON.  A purge is written and synced
 * before the API answers 200, so after a kill -9 the node restores its bans
 * before it serves anything from disk; a record is deleted once its bans are
 * carried out on both tiers.  Writes are rare (one per purge): each is its
 * own synced transaction; LMDB serializes writers across threads.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lmdb.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "purge/purge.h"

#define PURGE_LOG_MAP (64u << 20)

struct purge_log {
	MDB_env *env;
	MDB_dbi dbi;
};

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
		rc = mdb_env_open(l->env, dir, MDB_NOTLS, 0600);
	if (rc == 0)
		rc = mdb_txn_begin(l->env, NULL, 0, &txn);
	if (rc == 0)
		rc = mdb_dbi_open(txn, NULL, 0, &l->dbi);
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

static int
log_write(struct purge_log *l, const char *id, const char *value, size_t len)
{
	MDB_txn *txn;
	MDB_val k = {strlen(id), (void *)(uintptr_t)id};
	MDB_val v = {len, (void *)(uintptr_t)value};
	int rc = mdb_txn_begin(l->env, NULL, 0, &txn);

	if (rc != 0)
		return rc;
	rc = value != NULL ? mdb_put(txn, l->dbi, &k, &v, 0) : mdb_del(txn, l->dbi, &k, NULL);
	if (rc != 0 && rc != MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		return rc;
	}
	return mdb_txn_commit(txn); /* synced: the environment has no NOSYNC flag */
}

int
purge_log_put(struct purge_log *l, const char *id, const char *value, size_t len)
{
	int rc = log_write(l, id, value, len);

	if (rc != 0)
		log_err("purge", "purge log: write %s: %s", id, mdb_strerror(rc));
	return rc == 0 ? 0 : -1;
}

int
purge_log_del(struct purge_log *l, const char *id)
{
	int rc = log_write(l, id, NULL, 0);

	if (rc != 0)
		log_err("purge", "purge log: delete %s: %s", id, mdb_strerror(rc));
	return rc == 0 ? 0 : -1;
}

int
purge_log_each(struct purge_log *l, purge_log_cb *cb, void *arg)
{
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	char id[64];
	int rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn);

	if (rc != 0)
		return -1;
	rc = mdb_cursor_open(txn, l->dbi, &cur);
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
