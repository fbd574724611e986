/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_purge.c — the purge API on the admin listener (main thread):
 *   POST /purge       {"urls", "prefixes", "hosts", "tags", "all", "soft"}
 *   GET  /purge/<id>  the same reply later, with "done" once carried out
 *
 * A request is authenticated (bearer token: 401), authorized (every host it
 * names within the token's patterns, "all" only for a token with all: true:
 * 403), rate limited per token (429 with Retry-After), then turned into
 * cache bans (cache_ban_add: in force for every later lookup at once), which
 * are written to the purge log and synced (purge_log_put) before the 200.
 * Nothing is banned for a request answered 4xx.  URLs and prefixes are
 * normalized as cache keys are (cache_key_normalize: "/a/../b", "/%62" and
 * "/b" are one URL).  A tag purge by a token limited to some hosts only
 * reaches objects of those hosts.  Every purge is one JSON line in the audit
 * log (purge.audit_log, else the daemon log).
 *
 * The remover thread reports each ban carried out (edge_purge_retired, under
 * purge_lock): when a purge has none left, its log record is deleted.  At
 * start-up the records still in the log are restored as bans with their
 * generations before any worker serves (edge_purge_start).
 *
 * The log write is a synced LMDB commit: it runs on the purge thread
 * (purge_thread_main), which takes the requests of the admin listener (POST
 * /purge, PURGE) and of the client listeners (PURGE from the addresses of
 * purge.client_listeners) in turn and hands each answer back to the loop
 * that took it; no event loop waits for a commit, and a worker goes on
 * serving its other connections while a PURGE of one is made durable.
 *
 * With fleet.nats (purge/purge_fleet.c) the record also goes to the log's
 * outbox in the same commit, and the fleet thread publishes it; purges of
 * other nodes arrive on the NATS client's thread (purge_remote), are
 * applied with this node's ban clock and committed with their stream
 * sequence.  POST /purge?wait=D keeps the request on the main loop until
 * every member has acked or D has passed: acks arrive on the NATS thread
 * (purge_acked, under purge_lock) and wake the main loop through an eventfd;
 * only the main loop answers.  At start-up the node catches up on the
 * stream (at most fleet.catchup_timeout) before any worker serves.
 */
#include "config.h"

#include <errno.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/rand.h>

#include "cache/cache.h"
#include "config/config.h"
#include "config/config_value.h"
#include "core/assert.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "edge/edge_admin_http.h"
#include "edge/edge_req.h"
#include "edge/edge_purge.h"
#include "edge/edge_worker.h"
#include "purge/purge.h"

#define PURGE_KEPT        1024  /* purges GET /purge/<id> still knows */
#define PURGE_WAIT_MAX_MS 60000 /* the longest ?wait= */
#define PURGE_URL_MAX     8192  /* bytes of the URL a PURGE names */

struct purge_entry {
	char id[PURGE_ID_LEN + 1];
	uint64_t seq; /* owner cookie of its bans; 0: free slot */
	uint64_t removed;
	unsigned outstanding; /* bans not yet carried out */
	bool soft;
	bool logged; /* has a record in the purge log */
};

static pthread_mutex_t purge_lock = PTHREAD_MUTEX_INITIALIZER;
static struct purge_entry purge_table[PURGE_KEPT]; /* by seq % PURGE_KEPT */
static uint64_t purge_seq;
static struct purge_log *purge_log;
static struct purge_auth *purge_auth;
static struct config *purge_auth_cfg; /* the snapshot purge_auth was built from (held) */
static FILE *purge_audit;             /* under purge_audit_lock: the NATS thread writes too */
static char *purge_audit_path;
static pthread_mutex_t purge_audit_lock = PTHREAD_MUTEX_INITIALIZER;
static struct edge_server *purge_srv;
/* node.name (a restart changes it): a copy, for any thread, since the
 * snapshot purge_srv->cfg is replaced by reloads on the main thread */
static char *purge_node_name;
static struct purge_fleet *purge_fleet;

/* POST /purge?wait= requests waiting for the fleet's acks (under purge_lock;
 * only the main loop answers or frees them). */
struct purge_wait {
	unsigned magic;
	struct purge_wait *next;
	struct admin_req *req; /* NULL once it went away */
	struct event *timer;
	char id[PURGE_ID_LEN + 1];
	bool soft, complete;
	json_t *acked; /* node names */
};
static struct purge_wait *purge_waits;
static int purge_wake_fd = -1;
static struct event *purge_wake_ev;

/* counters (relaxed: /metrics reads them) */
static _Atomic uint64_t purge_requests_total, purge_fleet_applied_total;

/* ---- the table (any thread, under purge_lock) ---- */

static struct purge_entry *
purge_find(const char *id)
{
	for (size_t i = 0; i < PURGE_KEPT; i++)
		if (purge_table[i].seq != 0 && strcmp(purge_table[i].id, id) == 0)
			return &purge_table[i];
	return NULL;
}

static uint64_t
purge_register(const char *id, bool soft, bool logged)
{
	struct purge_entry *e;
	uint64_t seq;

	ASSERT(pthread_mutex_lock(&purge_lock) == 0);
	seq = ++purge_seq;
	e = &purge_table[seq % PURGE_KEPT];
	memset(e, 0, sizeof *e);
	snprintf(e->id, sizeof e->id, "%s", id);
	e->seq = seq;
	e->soft = soft;
	e->logged = logged;
	ASSERT(pthread_mutex_unlock(&purge_lock) == 0);
	return seq;
}

static void
purge_retired(void *arg, uint64_t owner, uint64_t removed)
{
	struct purge_entry *e;
	char id[PURGE_ID_LEN + 1] = "";

	(void)arg;
	ASSERT(pthread_mutex_lock(&purge_lock) == 0);
	e = &purge_table[owner % PURGE_KEPT];
	if (e->seq == owner) {
		e->removed += removed;
		if (e->outstanding > 0 && --e->outstanding == 0 && e->logged) {
			snprintf(id, sizeof id, "%s", e->id);
			e->logged = false;
		}
	}
	ASSERT(pthread_mutex_unlock(&purge_lock) == 0);
	if (id[0] != '\0' && purge_log != NULL)
		(void)purge_log_del(purge_log, id);
}

/* ---- bans ---- */

static const char *const purge_kind_names[] = {"url", "prefix", "host", "tag", "all"};

/* Appends one ban {kind, value, scope?} to bans: a tag purge by a token
 * limited to some hosts carries those hosts as its scope. */
static void
purge_ban(
    json_t *bans, enum cache_ban_kind kind, const char *value, const struct purge_token_conf *tok)
{
	bool scoped = kind == CACHE_BAN_TAG && tok != NULL;
	json_t *b = json_pack("{s:s, s:s}", "kind", purge_kind_names[kind], "value", value);

	for (size_t i = 0; scoped && i < tok->n_hosts; i++)
		if (strcmp(tok->hosts[i], "*") == 0)
			scoped = false;
	if (scoped) {
		json_t *sc = json_array();

		for (size_t i = 0; i < tok->n_hosts; i++)
			json_array_append_new(sc, json_string(tok->hosts[i]));
		json_object_set_new(b, "scope", sc);
	}
	json_array_append_new(bans, b);
}

static enum cache_ban_kind
purge_kind_of(const char *name)
{
	for (size_t k = 0; k < sizeof purge_kind_names / sizeof purge_kind_names[0]; k++)
		if (strcmp(purge_kind_names[k], name) == 0)
			return (enum cache_ban_kind)k;
	return CACHE_BAN_ALL; /* an unreadable kind errs towards a miss */
}

/*
 * Puts the bans of a record in force for the purge seq: each {kind, value,
 * scope?, gen?}.  restore: with the generation the record holds (bans of
 * this node's log at start-up); else with a new one, written into the ban.
 * Any thread.
 */
static void
purge_apply_bans(uint64_t seq, json_t *bans, bool soft, bool restore)
{
	size_t i;
	json_t *b;

	json_array_foreach(bans, i, b)
	{
		const char *kind = NULL, *v = NULL, *scope[64];
		json_int_t gen = 0;
		json_t *sc = json_object_get(b, "scope"), *h;
		struct cache_ban_spec spec;
		size_t n = 0, j;

		if (json_unpack(b, "{s:s, s:s, s?I}", "kind", &kind, "value", &v, "gen", &gen) !=
		        0 ||
		    (restore && gen <= 0))
			continue;
		json_array_foreach(sc, j, h)
		{
			if (json_is_string(h) && n < sizeof scope / sizeof scope[0])
				scope[n++] = json_string_value(h);
		}
		spec =
		    (struct cache_ban_spec){purge_kind_of(kind), v, n > 0 ? scope : NULL, n, soft};
		if (json_is_array(sc) && n == 0)
			continue; /* scoped to nothing readable: nothing to ban */
		ASSERT(pthread_mutex_lock(&purge_lock) == 0);
		purge_table[seq % PURGE_KEPT].outstanding++;
		ASSERT(pthread_mutex_unlock(&purge_lock) == 0);
		gen = (json_int_t)cache_ban_add(
		    purge_srv->cache, &spec, restore ? (uint64_t)gen : 0, seq);
		if (!restore)
			json_object_set_new(b, "gen", json_integer(gen));
	}
}

/* A URL purge also frees the URL's variants from both tiers now, for the
 * purge seq.  The copies removed (cache_invalidate says which count) are
 * what the reply's "purged" says at once; they are added to the purge's
 * entry, to which the remover adds what it removes later (not these: gone
 * from RAM, and their disk removals queued before its flush).  Soft: 0
 * (the remover replaces the variants with stale copies). */
static uint64_t
purge_invalidate_urls(uint64_t seq, json_t *bans, bool soft)
{
	uint64_t removed = 0;
	size_t i;
	json_t *b;

	if (purge_srv == NULL || !cache_enabled(purge_srv->cache) || soft)
		return 0;
	json_array_foreach(bans, i, b)
	{
		const char *kind = "", *v = NULL;

		if (json_unpack(b, "{s:s, s:s}", "kind", &kind, "value", &v) == 0 &&
		    strcmp(kind, "url") == 0)
			removed += cache_invalidate(purge_srv->cache, v, strlen(v), time_now());
	}
	ASSERT(pthread_mutex_lock(&purge_lock) == 0);
	if (purge_table[seq % PURGE_KEPT].seq == seq)
		purge_table[seq % PURGE_KEPT].removed += removed;
	ASSERT(pthread_mutex_unlock(&purge_lock) == 0);
	return removed;
}

/* The cache key of an absolute URL (or the start of one, for a prefix) into
 * out; its length, or -1. */
static int
purge_key(const char *url, char *out, size_t outlen, struct str *host)
{
	struct str scheme, path;
	uint16_t port;

	if (purge_url_split(url, &scheme, host, &port, &path) != 0)
		return -1;
	return cache_key_normalize(scheme, *host, port, path, out, outlen);
}

/* ---- replies ---- */

static void
purge_error(struct admin_req *req, int code, const char *msg)
{
	json_t *j = json_pack("{s:s}", "error", msg);

	admin_http_reply_json(req, code, j);
	json_decref(j);
}

/* Does the JSON array of node names hold name? */
static bool
purge_names_have(json_t *names, const char *name)
{
	size_t i;
	json_t *n;

	json_array_foreach(names, i, n)
	{
		if (json_is_string(n) && strcmp(json_string_value(n), name) == 0)
			return true;
	}
	return false;
}

/* {"id", "purged", "soft", "done", "fleet": {"acked": [...], "pending": [...]}}:
 * acked: this node and the nodes that acked (NULL: this node alone);
 * pending: the other members (purge_fleet_members) not in acked. */
static json_t *
purge_reply(const char *id, uint64_t removed, bool soft, bool done, json_t *acked,
    char *const *members, size_t n_members)
{
	json_t *pending = json_array(), *a;

	if (acked == NULL) {
		a = json_array();
		json_array_append_new(a, json_string(purge_node_name));
	} else {
		a = json_incref(acked);
	}
	for (size_t i = 0; i < n_members; i++)
		if (!purge_names_have(a, members[i]))
			json_array_append_new(pending, json_string(members[i]));
	return json_pack("{s:s, s:I, s:b, s:b, s:{s:o, s:o}}", "id", id, "purged",
	    (json_int_t)removed, "soft", soft, "done", done, "fleet", "acked", a, "pending",
	    pending);
}

static void
purge_audit_line(const char *text)
{
	ASSERT(pthread_mutex_lock(&purge_audit_lock) == 0);
	if (purge_audit != NULL) {
		fprintf(purge_audit, "%s\n", text);
		fflush(purge_audit);
	} else {
		log_info("purge", "%s", text);
	}
	ASSERT(pthread_mutex_unlock(&purge_audit_lock) == 0);
}

static void
purge_free_keys(char **keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
}

/* ---- POST /purge?wait=: answering once the fleet has acked (main loop) ---- */

/* ?wait=D (a duration, at most PURGE_WAIT_MAX_MS) into *ms: 0, or -1 with
 * msg.  No query or no wait: 0 ms. */
static int
purge_wait_param(const struct admin_req *req, uint64_t *ms, char *msg, size_t msglen)
{
	struct evkeyvalq params;
	const char *w;
	char err[128], q[1024];
	int rc = 0;

	*ms = 0;
	if (req->query.len == 0)
		return 0;
	if (req->query.len >= sizeof q) {
		snprintf(msg, msglen, "query too long");
		return -1;
	}
	memcpy(q, req->query.p, req->query.len);
	q[req->query.len] = '\0';
	memset(&params, 0, sizeof params); /* evhttp_parse_query_str initializes it */
	if (evhttp_parse_query_str(q, &params) != 0) {
		snprintf(msg, msglen, "unreadable query");
		return -1;
	}
	w = evhttp_find_header(&params, "wait");
	if (w != NULL &&
	    (config_value_duration_ms(w, ms, err, sizeof err) != 0 || *ms > PURGE_WAIT_MAX_MS)) {
		snprintf(msg, msglen, "wait=%.40s: a duration up to 60s", w);
		rc = -1;
	}
	evhttp_clear_headers(&params);
	return rc;
}

static void
purge_wait_free(struct purge_wait *w)
{
	ASSERT(pthread_mutex_lock(&purge_lock) == 0);
	for (struct purge_wait **pp = &purge_waits; *pp != NULL; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	ASSERT(pthread_mutex_unlock(&purge_lock) == 0);
	event_free(w->timer);
	json_decref(w->acked);
	w->magic = 0;
	free(w);
}

static void
purge_wait_answer(struct purge_wait *w)
{
	char **members = NULL;
	size_t n = purge_fleet_members(purge_fleet, &members);
	json_t *reply;

	ASSERT(pthread_mutex_lock(&purge_lock) == 0);
	reply = purge_reply(w->id, 0, w->soft, false, w->acked, members, n);
	ASSERT(pthread_mutex_unlock(&purge_lock) == 0);
	admin_http_reply_json(w->req, 200, reply);
	json_decref(reply);
	purge_free_keys(members, n);
	purge_wait_free(w);
}

static void
purge_wait_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct purge_wait *w = arg;

	(void)fd;
	(void)what;
	OBJ_CHECK(w, PURGE_WAIT_MAGIC);
	purge_wait_answer(w);
}

/* The client went away: nothing to answer. */
static void
purge_wait_on_gone(struct admin_req *req, void *arg)
{
	struct purge_wait *w = arg;

	(void)req;
	OBJ_CHECK(w, PURGE_WAIT_MAGIC);
	w->req = NULL;
	purge_wait_free(w);
}

/* The NATS thread marked some waits complete. */
static void
purge_on_wake(evutil_socket_t fd, short what, void *arg)
{
	uint64_t v;
	struct purge_wait *w;

	(void)what;
	(void)arg;
	(void)read(fd, &v, sizeof v);
	for (;;) {
		ASSERT(pthread_mutex_lock(&purge_lock) == 0);
		for (w = purge_waits; w != NULL && !w->complete; w = w->next)
			;
		ASSERT(pthread_mutex_unlock(&purge_lock) == 0);
		if (w == NULL)
			break;
		purge_wait_answer(w);
	}
}

/* Is every member in w->acked?  Under purge_lock. */
static bool
purge_wait_all(const struct purge_wait *w, char *const *members, size_t n_members)
{
	for (size_t i = 0; i < n_members; i++)
		if (!purge_names_have(w->acked, members[i]))
			return false;
	return true;
}

static void
purge_wait_start(struct admin_req *req, const char *id, bool soft, uint64_t wait_ms)
{
	struct purge_wait *w = xcalloc(1, sizeof *w);
	struct timeval tv = {(time_t)(wait_ms / 1000), (suseconds_t)(wait_ms % 1000) * 1000};

	w->magic = PURGE_WAIT_MAGIC;
	w->req = req;
	snprintf(w->id, sizeof w->id, "%s", id);
	w->soft = soft;
	w->acked = json_array();
	json_array_append_new(w->acked, json_string(purge_node_name));
	w->timer = evtimer_new(event_get_base(purge_wake_ev), purge_wait_on_timer, w);
	evtimer_add(w->timer, &tv);
	admin_http_defer(req, purge_wait_on_gone, w);
	ASSERT(pthread_mutex_lock(&purge_lock) == 0);
	w->next = purge_waits;
	purge_waits = w;
	ASSERT(pthread_mutex_unlock(&purge_lock) == 0);
}

/* ---- the fleet's callbacks (the NATS client's threads) ---- */

static void
purge_acked(void *arg, const char *id, const char *node)
{
	char **members = NULL;
	size_t n_members =
	    purge_fleet_members(purge_fleet, &members); /* fresh: see fleet_publish */
	bool wake = false;

	(void)arg;
	ASSERT(pthread_mutex_lock(&purge_lock) == 0);
	for (struct purge_wait *w = purge_waits; w != NULL; w = w->next) {
		if (strcmp(w->id, id) != 0)
			continue;
		if (!purge_names_have(w->acked, node))
			json_array_append_new(w->acked, json_string(node));
		if (!w->complete && purge_wait_all(w, members, n_members))
			w->complete = wake = true;
	}
	ASSERT(pthread_mutex_unlock(&purge_lock) == 0);
	purge_free_keys(members, n_members);
	if (wake) {
		uint64_t one = 1;

		(void)write(purge_wake_fd, &one, sizeof one);
	}
}

/* A purge of another node (or one of ours coming back): applied once. */
static int
purge_remote(void *arg, const char *id, const char *value, size_t len, uint64_t stream_seq)
{
	json_t *rec, *bans;
	char *text;
	uint64_t seq;
	int soft = 0, rc;

	(void)arg;
	if (purge_log_applied(purge_log, id))
		return purge_log_set_seq(purge_log, stream_seq);
	rec = json_loadb(value, len, 0, NULL);
	if (rec == NULL || json_unpack(rec, "{s:b, s:o}", "soft", &soft, "bans", &bans) != 0 ||
	    !json_is_array(bans)) {
		log_warn("purge", "fleet: purge %s unreadable: skipped", id);
		json_decref(rec);
		return purge_log_set_seq(purge_log, stream_seq);
	}
	seq = purge_register(id, soft, true);
	purge_apply_bans(seq, bans, soft, false); /* with this node's ban clock */
	text = json_dumps(rec, JSON_COMPACT);
	rc = text != NULL ? purge_log_commit(purge_log, id, text, strlen(text), false, stream_seq)
	                  : -1;
	if (rc == 0) {
		(void)purge_invalidate_urls(seq, bans, soft);
		atomic_fetch_add_explicit(&purge_fleet_applied_total, 1, memory_order_relaxed);
		purge_audit_line(text);
	}
	free(text);
	json_decref(rec);
	return rc;
}

/* ---- POST /purge ---- */

/* Is host within the token's patterns? */
static bool
purge_host_ok(const struct purge_token_conf *tok, struct str host)
{
	for (size_t i = 0; i < tok->n_hosts; i++)
		if (cache_ban_host_match(str_cstr(tok->hosts[i]), host))
			return true;
	return false;
}

/* Checks what r names against tok and normalizes it: keys[] (urls then
 * prefixes, malloc'd) and lower-cased hosts.  0, or the HTTP status (400,
 * 403) with msg. */
static int
purge_check(const struct purge_req *r, const struct purge_token_conf *tok, char **keys, char *msg,
    size_t msglen)
{
	size_t n = 0;

	if (r->all && !tok->all) {
		snprintf(msg, msglen, "token \"%s\" may not purge all", tok->id);
		return 403;
	}
	for (size_t i = 0; i < r->n_urls + r->n_prefixes; i++) {
		const char *u = i < r->n_urls ? r->urls[i] : r->prefixes[i - r->n_urls];
		char key[CACHE_KEY_MAX];
		struct str host;
		int len = purge_key(u, key, sizeof key, &host);

		if (len < 0) {
			snprintf(msg, msglen, "\"%.200s\" is not an absolute http(s) URL", u);
			return 400;
		}
		if (!purge_host_ok(tok, host)) {
			snprintf(msg, msglen, "token \"%s\" may not purge \"%.200s\"", tok->id, u);
			return 403;
		}
		keys[n++] = xstrndup(key, (size_t)len);
	}
	for (size_t i = 0; i < r->n_hosts; i++) {
		for (char *h = r->hosts[i]; *h != '\0'; h++)
			*h = (char)str_lower((unsigned char)*h);
		if (strchr(r->hosts[i], '/') != NULL || strchr(r->hosts[i], ':') != NULL) {
			snprintf(msg, msglen, "\"%.200s\" is not a host name", r->hosts[i]);
			return 400;
		}
		if (!purge_host_ok(tok, str_cstr(r->hosts[i]))) {
			snprintf(msg, msglen, "token \"%s\" may not purge host \"%.200s\"", tok->id,
			    r->hosts[i]);
			return 403;
		}
	}
	return 0;
}

/* A purge request, wherever it arrived: POST /purge (a JSON body) or the
 * PURGE method (one URL). */
struct purge_call {
	struct config *cfg;
	const char *authorization; /* the field's value, or NULL */
	const char *client;        /* the peer's address */
	const char *body;          /* POST /purge: the JSON body (body_len bytes) */
	size_t body_len;
	const char *const *urls; /* PURGE: the absolute URLs (n_urls; one, or the same
	                            target under http and https) */
	size_t n_urls;
	const char *wait_err; /* a bad ?wait=: its message (400, after the 403 checks) */
};

/* What purge_exec answers: status, one optional header field and a JSON
 * body (owned). */
struct purge_answer {
	int code;
	const char *reason;
	const char *field; /* "WWW-Authenticate" or "Retry-After", or NULL */
	char value[64];
	json_t *body;
	char id[PURGE_ID_LEN + 1]; /* accepted (200): its id */
	bool soft;
};

static void
purge_answer_error(struct purge_answer *a, int code, const char *reason, const char *msg)
{
	a->code = code;
	a->reason = reason;
	a->body = json_pack("{s:s}", "error", msg);
}

/* Serializes purge_exec: the admin listener and the client listeners'
 * workers share the token buckets and the purge log's order. */
static pthread_mutex_t purge_exec_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * The one path of a purge request: authentication (401), its items parsed
 * and checked against the token (400, 403), the rate limit (429), the bans
 * put in force, the URL variants removed, the record committed to the purge
 * log, the audit line (the caller kicks the fleet, after it has registered
 * any ?wait= for the acks); a 200 carries the reply {"id", "purged", ...}
 * with "purged" the copies the URL purges removed at once.  The purge
 * thread.
 */
static void
purge_exec(const struct purge_call *call, struct purge_answer *a)
{
	struct config *cfg = call->cfg;
	const struct purge_token_conf *tok;
	struct purge_req r;
	char msg[512], client[64];
	unsigned char rnd[PURGE_ID_LEN / 2];
	char **keys = NULL;
	size_t n_keys = 0;
	json_t *rec, *bans;
	char *text;
	uint64_t seq, removed;
	unsigned wait_s;
	int tokidx, code;

	memset(a, 0, sizeof *a);
	memset(&r, 0, sizeof r);
	ASSERT(pthread_mutex_lock(&purge_exec_lock) == 0);
	if (purge_auth == NULL || purge_auth_cfg != cfg) {
		purge_auth_free(&purge_auth);
		purge_auth =
		    purge_auth_new(cfg->purge.tokens, cfg->purge.n_tokens, cfg->purge.rate);
		/* held, so that a later snapshot cannot reuse its address */
		config_unref(&purge_auth_cfg);
		purge_auth_cfg = config_ref(cfg);
	}
	tokidx = purge_auth_token(purge_auth, call->authorization);
	if (tokidx < 0) {
		a->field = "WWW-Authenticate";
		snprintf(a->value, sizeof a->value, "Bearer realm=\"outpost purge\"");
		purge_answer_error(a, 401, "Unauthorized", "a valid bearer token is required");
		goto out;
	}
	tok = purge_auth_conf(purge_auth, tokidx);
	if (call->n_urls > 0) {
		r.urls = xcalloc(call->n_urls, sizeof *r.urls);
		for (size_t i = 0; i < call->n_urls; i++)
			r.urls[i] = xstrdup(call->urls[i]);
		r.n_urls = call->n_urls;
	} else if (purge_req_parse(call->body, call->body_len, &r, msg, sizeof msg) != 0) {
		purge_answer_error(a, 400, "Bad Request", msg);
		goto out;
	}
	n_keys = r.n_urls + r.n_prefixes;
	keys = xcalloc(n_keys + 1, sizeof *keys);
	code = purge_check(&r, tok, keys, msg, sizeof msg);
	if (code == 0 && call->wait_err != NULL) {
		snprintf(msg, sizeof msg, "%s", call->wait_err);
		code = 400;
	}
	if (code != 0) {
		purge_answer_error(a, code, code == 403 ? "Forbidden" : "Bad Request", msg);
		goto out;
	}
	wait_s = purge_auth_take(purge_auth, tokidx, time_mono_ms());
	if (wait_s > 0) {
		a->field = "Retry-After";
		snprintf(a->value, sizeof a->value, "%u", wait_s);
		purge_answer_error(a, 429, "Too Many Requests", "purge rate limit of the token");
		goto out;
	}
	if (RAND_bytes(rnd, sizeof rnd) != 1) {
		purge_answer_error(a, 500, "Internal Server Error", "no random id");
		goto out;
	}
	for (size_t i = 0; i < sizeof rnd; i++)
		snprintf(a->id + 2 * i, 3, "%02x", rnd[i]);
	bans = json_array();
	for (size_t i = 0; i < n_keys; i++)
		purge_ban(bans, i < r.n_urls ? CACHE_BAN_URL : CACHE_BAN_PREFIX, keys[i], tok);
	for (size_t i = 0; i < r.n_hosts; i++)
		purge_ban(bans, CACHE_BAN_HOST, r.hosts[i], tok);
	for (size_t i = 0; i < r.n_tags; i++)
		purge_ban(bans, CACHE_BAN_TAG, r.tags[i], tok);
	if (r.all)
		purge_ban(bans, CACHE_BAN_ALL, "", tok);
	/* the bans are in force from here on; then made durable */
	seq = purge_register(a->id, r.soft, purge_log != NULL);
	purge_apply_bans(seq, bans, r.soft, false);
	/* at once, before the remover's first flush of the disk queue */
	removed = purge_invalidate_urls(seq, bans, r.soft);
	rec = json_pack("{s:s, s:I, s:s, s:s, s:s, s:b, s:o}", "id", a->id, "time",
	    (json_int_t)time_now(), "node", cfg->node_name, "token", tok->id, "client",
	    snprintf(client, sizeof client, "%s", call->client) >= 0 ? client : "", "soft", r.soft,
	    "bans", bans);
	text = json_dumps(rec, JSON_COMPACT);
	if (purge_log != NULL && (text == NULL || purge_log_commit(purge_log, a->id, text,
	                                              strlen(text), purge_fleet != NULL, 0) != 0)) {
		purge_answer_error(
		    a, 500, "Internal Server Error", "the purge log cannot be written");
		free(text);
		json_decref(rec);
		goto out;
	}
	atomic_fetch_add_explicit(&purge_requests_total, 1, memory_order_relaxed);
	purge_audit_line(text != NULL ? text : a->id);
	free(text);
	json_decref(rec);
	{
		char **members = NULL;
		size_t n = purge_fleet != NULL ? purge_fleet_members(purge_fleet, &members) : 0;

		a->body = purge_reply(a->id, removed, r.soft, false, NULL, members, n);
		purge_free_keys(members, n);
	}
	a->code = 200;
	a->reason = "OK";
	a->soft = r.soft;
out:
	ASSERT(pthread_mutex_unlock(&purge_exec_lock) == 0);
	purge_free_keys(keys, n_keys);
	purge_req_clear(&r);
}

/* Sends what purge_exec answered, with its one field; a 200 kicks the fleet
 * (after any ?wait= is registered).  Takes a->body.  Main thread. */
static void
purge_answer_send(struct admin_req *req, struct purge_answer *a, uint64_t wait_ms)
{
	if (a->field != NULL)
		admin_http_field(req, a->field, a->value);
	if (a->code == 200 && purge_fleet != NULL && wait_ms > 0) {
		purge_wait_start(req, a->id, a->soft, wait_ms); /* answers later */
		purge_fleet_kick(purge_fleet);
	} else {
		if (a->code == 200 && purge_fleet != NULL)
			purge_fleet_kick(purge_fleet);
		admin_http_reply_json(req, a->code, a->body);
	}
	json_decref(a->body);
	a->body = NULL;
}

/* ---- the purge thread ---- */

/*
 * A purge request on its way through the purge thread, which runs
 * purge_exec (and so the purge log's synced commit) off every event loop.
 * The loop that took the request queues it; the thread carries it out and
 * puts it on that loop's box, whose eventfd wakes the loop; the loop sends
 * the answer and frees the job.  Queue, thread and box hand it on under
 * purge_job_lock.  When the client goes away first, its loop marks the job
 * gone (edge_purge_request_gone, purge_job_on_gone): the purge is still
 * carried out (it was sent), and whoever holds the job then frees it
 * unanswered.
 */
struct edge_purge_job {
	unsigned magic; /* PURGE_JOB_MAGIC */
	struct edge_purge_job *next;
	struct edge_purge_box *box;
	struct config *cfg; /* one reference */
	char *authorization, *body;
	size_t body_len;
	char *urls[2];
	size_t n_urls;
	char client[64];
	char wait_err[128];
	uint64_t wait_ms;
	struct admin_req *req;       /* taken on the admin listener, or */
	struct edge_req *client_req; /* on a client listener */
	bool done;                   /* on its box */
	bool gone;                   /* its client went away */
	struct purge_answer a;
};

static pthread_mutex_t purge_job_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t purge_job_cond = PTHREAD_COND_INITIALIZER;
static struct edge_purge_job *purge_jobs; /* queued, oldest first */
static pthread_t purge_thread;
static bool purge_thread_on, purge_thread_stop;
static struct edge_purge_box purge_main_box = {-1, NULL, NULL}; /* the admin listener's */

static struct edge_purge_job *
purge_job_new(struct config *cfg, struct str authz, const char *client)
{
	struct edge_purge_job *j = xcalloc(1, sizeof *j);

	j->magic = PURGE_JOB_MAGIC;
	j->cfg = config_ref(cfg);
	if (authz.p != NULL)
		j->authorization = xstrndup(authz.p, authz.len);
	snprintf(j->client, sizeof j->client, "%s", client);
	return j;
}

static void
purge_job_free(struct edge_purge_job *j)
{
	OBJ_CHECK(j, PURGE_JOB_MAGIC);
	config_unref(&j->cfg);
	free(j->authorization);
	free(j->body);
	for (size_t i = 0; i < j->n_urls; i++)
		free(j->urls[i]);
	json_decref(j->a.body);
	j->magic = 0;
	free(j);
}

static void
purge_job_queue(struct edge_purge_job *j)
{
	struct edge_purge_job **pp;

	ASSERT(pthread_mutex_lock(&purge_job_lock) == 0);
	for (pp = &purge_jobs; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = j;
	ASSERT(pthread_cond_signal(&purge_job_cond) == 0);
	ASSERT(pthread_mutex_unlock(&purge_job_lock) == 0);
}

/* Its client went away: freed now when it waits on its box, else by the
 * thread or by the box's walk that holds it.  The owner's loop. */
static void
purge_job_cancel(struct edge_purge_job *j)
{
	bool unlinked = false;

	ASSERT(pthread_mutex_lock(&purge_job_lock) == 0);
	j->gone = true;
	j->req = NULL;
	j->client_req = NULL;
	if (j->done)
		for (struct edge_purge_job **pp = &j->box->done; *pp != NULL; pp = &(*pp)->next)
			if (*pp == j) {
				*pp = j->next;
				unlinked = true;
				break;
			}
	ASSERT(pthread_mutex_unlock(&purge_job_lock) == 0);
	if (unlinked)
		purge_job_free(j);
}

static void
purge_job_on_gone(struct admin_req *req, void *arg)
{
	(void)req;
	purge_job_cancel(arg);
}

static void *
purge_thread_main(void *arg)
{
	(void)arg;
	ASSERT(pthread_mutex_lock(&purge_job_lock) == 0);
	for (;;) {
		struct edge_purge_job *j, **pp;
		uint64_t one = 1;

		while (purge_jobs == NULL && !purge_thread_stop)
			ASSERT(pthread_cond_wait(&purge_job_cond, &purge_job_lock) == 0);
		if ((j = purge_jobs) == NULL)
			break;
		purge_jobs = j->next;
		j->next = NULL;
		ASSERT(pthread_mutex_unlock(&purge_job_lock) == 0);
		/* carried out even when its client has gone: it was sent */
		purge_exec(&(struct purge_call){j->cfg, j->authorization, j->client, j->body,
		               j->body_len, (const char *const *)j->urls, j->n_urls,
		               j->wait_err[0] != '\0' ? j->wait_err : NULL},
		    &j->a);
		ASSERT(pthread_mutex_lock(&purge_job_lock) == 0);
		if (j->gone) {
			purge_job_free(j);
			continue;
		}
		j->done = true;
		for (pp = &j->box->done; *pp != NULL; pp = &(*pp)->next)
			;
		*pp = j;
		(void)!write(j->box->fd, &one, sizeof one);
	}
	ASSERT(pthread_mutex_unlock(&purge_job_lock) == 0);
	return NULL;
}

/* A client listener's PURGE answered: send it, then the connection goes on.
 * The worker's thread. */
static void
purge_req_answer(struct edge_req *req, struct purge_answer *a)
{
	char *text = json_dumps(a->body, JSON_COMPACT);

	req->purge_job = NULL;
	req->sess->state = EDGE_SESS_READ_HEAD;
	if (a->code == 200 && purge_fleet != NULL)
		purge_fleet_kick(purge_fleet);
	edge_req_enter(req);
	edge_req_send_typed(
	    req, a->code, "application/json", a->field, a->value, text != NULL ? text : "{}");
	(void)edge_req_leave(req);
	free(text);
}

/* The box's eventfd: answer what the thread left on it, in order. */
static void
purge_box_on_ready(evutil_socket_t fd, short what, void *arg)
{
	struct edge_purge_box *b = arg;
	struct edge_purge_job *list, *j;
	uint64_t v;

	(void)what;
	(void)!read(fd, &v, sizeof v);
	ASSERT(pthread_mutex_lock(&purge_job_lock) == 0);
	list = b->done;
	b->done = NULL;
	ASSERT(pthread_mutex_unlock(&purge_job_lock) == 0);
	while ((j = list) != NULL) {
		list = j->next;
		OBJ_CHECK(j, PURGE_JOB_MAGIC);
		/* an answer sent may have closed another client: gone is
		 * set on this thread, no lock needed */
		if (!j->gone && j->req != NULL)
			purge_answer_send(j->req, &j->a, j->wait_ms);
		else if (!j->gone && j->client_req != NULL)
			purge_req_answer(j->client_req, &j->a);
		purge_job_free(j);
	}
}

int
edge_purge_box_init(struct edge_purge_box *b, struct event_base *base)
{
	b->done = NULL;
	b->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (b->fd == -1) {
		log_err("purge", "eventfd: %s", strerror(errno));
		return -1;
	}
	b->ev = event_new(base, b->fd, EV_READ | EV_PERSIST, purge_box_on_ready, b);
	event_add(b->ev, NULL);
	return 0;
}

void
edge_purge_box_fini(struct edge_purge_box *b)
{
	struct edge_purge_job *j;

	if (b->ev != NULL)
		event_free(b->ev);
	b->ev = NULL;
	if (b->fd != -1)
		close(b->fd);
	b->fd = -1;
	ASSERT(pthread_mutex_lock(&purge_job_lock) == 0);
	while ((j = b->done) != NULL) {
		b->done = j->next;
		purge_job_free(j);
	}
	ASSERT(pthread_mutex_unlock(&purge_job_lock) == 0);
}

/* The Authorization field of req, or STR_NULL. */
static struct str
purge_authorization(const struct admin_req *req)
{
	return admin_http_header(req, "Authorization");
}

/* Hands an admin listener's purge to the thread; answered from the box. */
static void
purge_defer(struct admin_req *req, struct edge_purge_job *j)
{
	j->req = req;
	j->box = &purge_main_box;
	admin_http_defer(req, purge_job_on_gone, j);
	purge_job_queue(j);
}

void
edge_purge_post(struct admin_req *req, void *arg)
{
	struct edge_server *srv = arg;
	struct edge_purge_job *j = purge_job_new(srv->cfg, purge_authorization(req), req->peer);

	if (purge_wait_param(req, &j->wait_ms, j->wait_err, sizeof j->wait_err) != 0)
		j->wait_ms = 0;
	else
		j->wait_err[0] = '\0';
	j->body = xmalloc(req->body_len + 1);
	memcpy(j->body, req->body, req->body_len);
	j->body_len = req->body_len;
	purge_defer(req, j);
}

/* ---- GET /purge/<id> ---- */

void
edge_purge_get(struct admin_req *req, void *arg)
{
	struct purge_entry e = {0}, *p = NULL;
	char id[PURGE_ID_LEN + 1];
	struct str want = str_make(req->path.p + 7, req->path.len - 7); /* after "/purge/" */
	json_t *reply;

	(void)arg;
	if (want.len < sizeof id) {
		memcpy(id, want.p, want.len);
		id[want.len] = '\0';
		ASSERT(pthread_mutex_lock(&purge_lock) == 0);
		p = purge_find(id);
		if (p != NULL)
			e = *p;
		ASSERT(pthread_mutex_unlock(&purge_lock) == 0);
	}
	if (p == NULL) {
		purge_error(req, 404, "no such purge");
		return;
	}
	reply = purge_reply(e.id, e.removed, e.soft, e.outstanding == 0, NULL, NULL, 0);
	admin_http_reply_json(req, 200, reply);
	json_decref(reply);
}

/* ---- the PURGE method ---- */

/* The URL a PURGE names under scheme, into a new string; NULL if none. */
static char *
purge_method_url(struct str scheme, const struct h1_request *r)
{
	char url[PURGE_URL_MAX];

	if (purge_url_from_request(scheme, r->host, r->port, r->path, url, sizeof url) != 0)
		return NULL;
	return xstrdup(url);
}

/*
 * PURGE on the admin listener: the URL of an absolute-form target, or for
 * an origin-form target (PURGE /a/b + Host) the URL under http and https
 * alike (the admin listener cannot tell which of them clients use).
 */
void
edge_purge_method(struct admin_req *req, void *arg)
{
	struct edge_server *srv = arg;
	const struct h1_request *r = req->h;
	struct edge_purge_job *j = purge_job_new(srv->cfg, purge_authorization(req), req->peer);
	char sch[8];
	size_t n = r->form == H1_TARGET_ABSOLUTE && r->scheme.len < sizeof sch ? r->scheme.len : 0;

	for (size_t i = 0; i < n; i++)
		sch[i] = (char)str_lower((unsigned char)r->scheme.p[i]);
	if (n > 0) {
		j->urls[j->n_urls++] = purge_method_url(str_make(sch, n), r);
	} else {
		j->urls[j->n_urls++] = purge_method_url(STR_LIT("http"), r);
		j->urls[j->n_urls++] = purge_method_url(STR_LIT("https"), r);
	}
	if (j->urls[0] == NULL || (j->n_urls == 2 && j->urls[1] == NULL)) {
		purge_job_free(j);
		purge_error(req, 400, "PURGE needs a Host and a target URL");
		return;
	}
	purge_defer(req, j);
}

bool
edge_purge_request(struct edge_req *req)
{
	struct config *cfg = req->sess->gen->cfg;
	const struct h1_request *r = &req->h1;
	const struct h1_header *h;
	struct edge_purge_job *j;
	char *url;

	if (!str_eq(r->method, STR_LIT("PURGE")) ||
	    !purge_cidr_match(cfg->purge.client_cidrs, cfg->purge.n_client_cidrs, req->sess->peer))
		return false;
	req->cache_status = "PURGE";
	url = purge_method_url(req->sess->tls ? STR_LIT("https") : STR_LIT("http"), r);
	if (url == NULL) {
		edge_req_send_error(req, 400, "bad request: PURGE needs a Host and a target URL");
		return true;
	}
	h = h1_header_find(r->headers, r->n_headers, STR_LIT("Authorization"));
	j = purge_job_new(cfg, h != NULL ? h->value : STR_NULL, req->sess->peer);
	j->urls[j->n_urls++] = url;
	j->client_req = req;
	j->box = &req->sess->w->purge_box;
	/* the connection reads nothing more until the answer (purge_req_answer) */
	req->purge_job = j;
	req->sess->state = EDGE_SESS_PURGE;
	edge_req_read_body(req, false);
	purge_job_queue(j);
	return true;
}

void
edge_purge_request_gone(struct edge_req *req)
{
	if (req->purge_job != NULL)
		purge_job_cancel(req->purge_job);
	req->purge_job = NULL;
}

/* ---- /metrics ---- */

static void
purge_metric(struct evbuffer *b, const char *name, bool gauge, const char *help, uint64_t v)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name,
	    gauge ? "gauge" : "counter", name, (unsigned long long)v);
}

void
edge_purge_metrics(struct evbuffer *b)
{
	struct cache_ban_stats bs = {0};
	struct purge_fleet_stats fs = {0};

	if (purge_srv != NULL)
		cache_ban_stats(purge_srv->cache, &bs);
	purge_metric(b, "outpost_purge_requests_total", false, "Purges accepted on this node's API",
	    atomic_load_explicit(&purge_requests_total, memory_order_relaxed));
	purge_metric(b, "outpost_purge_bans_active", true,
	    "Bans in force (not yet carried out by the remover)", bs.active);
	purge_metric(b, "outpost_purge_bans_added_total", false, "Bans added", bs.added);
	purge_metric(b, "outpost_purge_removed_total", false,
	    "Objects the ban remover removed or marked stale", bs.removed);
	purge_metric(b, "outpost_purge_lazy_total", false,
	    "Lookups and stores a ban turned away or made stale", bs.lazy);
	if (purge_fleet == NULL)
		return;
	purge_fleet_stats(purge_fleet, &fs);
	purge_metric(b, "outpost_purge_fleet_applied_total", false,
	    "Purges of other nodes applied from the fleet bus",
	    atomic_load_explicit(&purge_fleet_applied_total, memory_order_relaxed));
	purge_metric(b, "outpost_purge_fleet_duplicates_total", false,
	    "Fleet deliveries of purges applied here already", fs.duplicates);
	purge_metric(b, "outpost_purge_fleet_published_total", false,
	    "Purges published to the fleet bus", fs.published);
	purge_metric(b, "outpost_purge_fleet_publish_failures_total", false,
	    "Publish attempts that failed (the purge stays queued)", fs.publish_failures);
	purge_metric(b, "outpost_purge_fleet_outbox", true,
	    "Purges waiting to be published to the fleet bus", fs.outbox);
	purge_metric(b, "outpost_purge_fleet_lag", true,
	    "Fleet purges published but not yet applied here", fs.lag);
	purge_metric(b, "outpost_purge_fleet_connected", true, "Connected to NATS (1) or not (0)",
	    fs.connected ? 1 : 0);
}

/* ---- start-up: the bans still in the log ---- */

static void
purge_restore(void *arg, const char *id, const char *value, size_t len)
{
	json_t *rec = json_loadb(value, len, 0, NULL), *bans;
	uint64_t seq;
	int soft = 0;

	(void)arg;
	if (rec == NULL || json_unpack(rec, "{s:b, s:o}", "soft", &soft, "bans", &bans) != 0 ||
	    !json_is_array(bans)) {
		log_warn("purge", "purge log: record %s unreadable: dropped", id);
		json_decref(rec);
		(void)purge_log_del(purge_log, id);
		return;
	}
	seq = purge_register(id, soft, true);
	purge_apply_bans(seq, bans, soft, true);
	json_decref(rec);
}

/* Joins the fleet bus and catches up on it before any worker serves. */
static int
purge_fleet_join(struct edge_server *srv, struct event_base *base)
{
	static const struct purge_fleet_cbs cbs = {purge_remote, purge_acked};
	const struct config *cfg = srv->cfg;
	uint64_t t0 = time_mono_ms();

	if (purge_log == NULL) {
		log_err("purge", "fleet: needs the disk tier (cache.disk) for its purge log");
		return -1;
	}
	purge_wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (purge_wake_fd == -1) {
		log_err("purge", "fleet: eventfd: %s", strerror(errno));
		return -1;
	}
	purge_wake_ev = event_new(base, purge_wake_fd, EV_READ | EV_PERSIST, purge_on_wake, NULL);
	event_add(purge_wake_ev, NULL);
	purge_fleet = purge_fleet_start(&cfg->fleet, cfg->node_name, purge_log, &cbs, NULL);
	if (purge_fleet == NULL)
		return -1;
	if (purge_fleet_catch_up(purge_fleet, cfg->fleet.catchup_timeout_ms))
		log_info("purge", "fleet: caught up in %llu ms",
		    (unsigned long long)(time_mono_ms() - t0));
	else
		log_warn("purge",
		    "fleet: not caught up within fleet.catchup_timeout (%u ms): "
		    "serving; what is missed is applied when it arrives",
		    cfg->fleet.catchup_timeout_ms);
	return 0;
}

int
edge_purge_start(struct edge_server *srv, struct event_base *base)
{
	const struct config *cfg = srv->cfg;

	purge_srv = srv;
	free(purge_node_name);
	purge_node_name = xstrdup(cfg->node_name);

	if (cfg->purge.audit_log != NULL) {
		purge_audit = fopen(cfg->purge.audit_log, "ae");
		if (purge_audit == NULL) {
			log_err(
			    "purge", "audit log \"%s\": %s", cfg->purge.audit_log, strerror(errno));
			return -1;
		}
		purge_audit_path = xstrdup(cfg->purge.audit_log);
	}
	if (cfg->cache.disk_path != NULL && cache_has_disk(srv->cache)) {
		char dir[4096], err[256];

		snprintf(dir, sizeof dir, "%s/purge", cfg->cache.disk_path);
		if (purge_log_open(dir, &purge_log, err, sizeof err) != 0) {
			log_err("purge", "purge log: %s", err);
			return -1;
		}
		(void)purge_log_each(purge_log, purge_restore, NULL);
	}
	if (cfg->fleet.n_servers > 0 && purge_fleet_join(srv, base) != 0)
		return -1;
	if (cache_enabled(srv->cache) && cache_ban_start(srv->cache, purge_retired, NULL) != 0) {
		log_err("purge", "cannot start the ban remover");
		return -1;
	}
	if (edge_purge_box_init(&purge_main_box, base) != 0)
		return -1;
	purge_thread_stop = false;
	if (pthread_create(&purge_thread, NULL, purge_thread_main, NULL) != 0) {
		log_err("purge", "cannot start the purge thread");
		return -1;
	}
	purge_thread_on = true;
	return 0;
}

int
edge_purge_audit_fd(void)
{
	return purge_audit != NULL ? fileno(purge_audit) : -1;
}

void
edge_purge_reopen(void)
{
	ASSERT(pthread_mutex_lock(&purge_audit_lock) == 0);
	if (purge_audit != NULL) {
		fclose(purge_audit);
		purge_audit = fopen(purge_audit_path, "ae");
	}
	ASSERT(pthread_mutex_unlock(&purge_audit_lock) == 0);
}

void
edge_purge_stop(void)
{
	/* the admin listener and the workers are gone: every job left is */
	if (purge_thread_on) {
		ASSERT(pthread_mutex_lock(&purge_job_lock) == 0);
		purge_thread_stop = true;
		ASSERT(pthread_cond_signal(&purge_job_cond) == 0);
		ASSERT(pthread_mutex_unlock(&purge_job_lock) == 0);
		pthread_join(purge_thread, NULL);
		purge_thread_on = false;
	}
	edge_purge_box_fini(&purge_main_box);
	purge_fleet_free(&purge_fleet); /* no fleet callback runs after this */
	while (purge_waits != NULL)
		purge_wait_free(purge_waits);
	if (purge_wake_ev != NULL)
		event_free(purge_wake_ev);
	purge_wake_ev = NULL;
	if (purge_wake_fd != -1)
		close(purge_wake_fd);
	purge_wake_fd = -1;
	if (purge_srv != NULL)
		cache_ban_stop(purge_srv->cache); /* the bans go with the cache */
	purge_log_close(&purge_log);
	purge_auth_free(&purge_auth);
	config_unref(&purge_auth_cfg);
	if (purge_audit != NULL)
		fclose(purge_audit);
	purge_audit = NULL;
	free(purge_audit_path);
	purge_audit_path = NULL;
	free(purge_node_name);
	purge_node_name = NULL;
}
