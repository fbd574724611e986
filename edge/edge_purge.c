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
 * The log write is a synced LMDB commit on the main thread, which runs
 * admin requests only: workers are never held up by it.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/rand.h>

#include "cache/cache.h"
#include "config/config.h"
#include "core/assert.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "edge/edge_purge.h"
#include "edge/edge_worker.h"
#include "purge/purge.h"

#define PURGE_KEPT 1024 /* purges GET /purge/<id> still knows */

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
static const struct config *purge_auth_cfg; /* the snapshot purge_auth was built from */
static FILE *purge_audit;
static char *purge_audit_path;

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

/* Adds one ban to the purge seq and to the record's "bans" array. */
static void
purge_ban(json_t *bans, uint64_t seq, enum cache_ban_kind kind, const char *value,
    const struct purge_token_conf *tok, bool soft)
{
	bool scoped = kind == CACHE_BAN_TAG && tok != NULL;
	struct cache_ban_spec spec = {kind, value, NULL, 0, soft};
	uint64_t gen;

	for (size_t i = 0; scoped && i < tok->n_hosts; i++)
		if (strcmp(tok->hosts[i], "*") == 0)
			scoped = false;
	if (scoped) {
		spec.scope = (const char *const *)tok->hosts;
		spec.n_scope = tok->n_hosts;
	}
	ASSERT(pthread_mutex_lock(&purge_lock) == 0);
	purge_table[seq % PURGE_KEPT].outstanding++;
	ASSERT(pthread_mutex_unlock(&purge_lock) == 0);
	gen = cache_ban_add(&spec, 0, seq);
	json_array_append_new(
	    bans, json_pack("{s:s, s:s, s:I, s:b}", "kind", purge_kind_names[kind], "value", value,
	              "gen", (json_int_t)gen, "scoped", scoped));
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
purge_send(struct evhttp_request *req, int code, const char *reason, json_t *body)
{
	struct evbuffer *b = evbuffer_new();
	char *text = json_dumps(body, JSON_COMPACT);

	evbuffer_add_printf(b, "%s\n", text != NULL ? text : "{}");
	free(text);
	evhttp_add_header(
	    evhttp_request_get_output_headers(req), "Content-Type", "application/json");
	evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
	evhttp_send_reply(req, code, reason, b);
	evbuffer_free(b);
}

static void
purge_error(struct evhttp_request *req, int code, const char *reason, const char *msg)
{
	json_t *j = json_pack("{s:s}", "error", msg);

	purge_send(req, code, reason, j);
	json_decref(j);
}

/* {"id", "purged", "soft", "done", "fleet": {"acked": [node], "pending": []}} */
static json_t *
purge_reply(const struct edge_server *srv, const char *id, uint64_t removed, bool soft, bool done)
{
	return json_pack("{s:s, s:I, s:b, s:b, s:{s:[s], s:[]}}", "id", id, "purged",
	    (json_int_t)removed, "soft", soft, "done", done, "fleet", "acked", srv->cfg->node_name,
	    "pending");
}

static void
purge_audit_line(const char *text)
{
	if (purge_audit != NULL) {
		fprintf(purge_audit, "%s\n", text);
		fflush(purge_audit);
	} else {
		log_info("purge", "%s", text);
	}
}

/* ---- POST /purge ---- */

static const char *
purge_client(struct evhttp_request *req, char *buf, size_t len)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	char *addr = NULL;
	ev_uint16_t port = 0;

	if (conn != NULL)
		evhttp_connection_get_peer(conn, &addr, &port);
	snprintf(buf, len, "%s", addr != NULL ? addr : "");
	return buf;
}

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

static void
purge_free_keys(char **keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
}

static void
purge_post(struct evhttp_request *req, struct edge_server *srv)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	struct evbuffer *body = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(body);
	const struct purge_token_conf *tok;
	struct purge_req r;
	char msg[512], idbuf[PURGE_ID_LEN + 1], client[64];
	unsigned char rnd[PURGE_ID_LEN / 2];
	char **keys = NULL;
	size_t n_keys;
	json_t *rec, *bans, *reply;
	char *text;
	uint64_t seq;
	unsigned wait_s;
	int tokidx, code;

	if (purge_auth == NULL || purge_auth_cfg != srv->cfg) {
		purge_auth_free(&purge_auth);
		purge_auth = purge_auth_new(
		    srv->cfg->purge_tokens, srv->cfg->n_purge_tokens, srv->cfg->purge_rate);
		purge_auth_cfg = srv->cfg;
	}
	tokidx = purge_auth_token(purge_auth, evhttp_find_header(in, "Authorization"));
	if (tokidx < 0) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
		    "Bearer realm=\"outpost purge\"");
		purge_error(req, 401, "Unauthorized", "a valid bearer token is required");
		return;
	}
	tok = purge_auth_conf(purge_auth, tokidx);
	if (purge_req_parse((const char *)evbuffer_pullup(body, (ev_ssize_t)len), len, &r, msg,
	        sizeof msg) != 0) {
		purge_error(req, 400, "Bad Request", msg);
		return;
	}
	n_keys = r.n_urls + r.n_prefixes;
	keys = xcalloc(n_keys + 1, sizeof *keys);
	code = purge_check(&r, tok, keys, msg, sizeof msg);
	if (code != 0) {
		purge_error(req, code, code == 403 ? "Forbidden" : "Bad Request", msg);
		goto out;
	}
	wait_s = purge_auth_take(purge_auth, tokidx, time_mono_ms());
	if (wait_s > 0) {
		char ra[16];

		snprintf(ra, sizeof ra, "%u", wait_s);
		evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", ra);
		purge_error(req, 429, "Too Many Requests", "purge rate limit of the token");
		goto out;
	}

	if (RAND_bytes(rnd, sizeof rnd) != 1) {
		purge_error(req, 500, "Internal Server Error", "no random id");
		goto out;
	}
	for (size_t i = 0; i < sizeof rnd; i++)
		snprintf(idbuf + 2 * i, 3, "%02x", rnd[i]);
	seq = purge_register(idbuf, r.soft, purge_log != NULL);
	bans = json_array();
	/* the bans are in force from here on; then made durable */
	for (size_t i = 0; i < n_keys; i++)
		purge_ban(bans, seq, i < r.n_urls ? CACHE_BAN_URL : CACHE_BAN_PREFIX, keys[i], tok,
		    r.soft);
	for (size_t i = 0; i < r.n_hosts; i++)
		purge_ban(bans, seq, CACHE_BAN_HOST, r.hosts[i], tok, r.soft);
	for (size_t i = 0; i < r.n_tags; i++)
		purge_ban(bans, seq, CACHE_BAN_TAG, r.tags[i], tok, r.soft);
	if (r.all)
		purge_ban(bans, seq, CACHE_BAN_ALL, "", tok, r.soft);
	rec = json_pack("{s:s, s:I, s:s, s:s, s:b, s:o}", "id", idbuf, "time",
	    (json_int_t)time_now(), "token", tok->id, "client",
	    purge_client(req, client, sizeof client), "soft", r.soft, "bans", bans);
	text = json_dumps(rec, JSON_COMPACT);
	if (purge_log != NULL &&
	    (text == NULL || purge_log_put(purge_log, idbuf, text, strlen(text)) != 0)) {
		purge_error(req, 500, "Internal Server Error", "the purge log cannot be written");
		free(text);
		json_decref(rec);
		goto out;
	}
	/* a URL purge also frees the URL's variants from both tiers now */
	if (srv->ram != NULL && !r.soft)
		for (size_t i = 0; i < r.n_urls; i++)
			cache_invalidate(srv->ram, srv->disk, keys[i], strlen(keys[i]), time_now());
	purge_audit_line(text != NULL ? text : idbuf);
	free(text);
	json_decref(rec);
	reply = purge_reply(srv, idbuf, 0, r.soft, false);
	purge_send(req, 200, "OK", reply);
	json_decref(reply);
out:
	purge_free_keys(keys, n_keys);
	purge_req_clear(&r);
}

/* ---- GET /purge/<id> ---- */

static void
purge_get(struct evhttp_request *req, struct edge_server *srv, const char *id)
{
	struct purge_entry e = {0}, *p;
	json_t *reply;

	ASSERT(pthread_mutex_lock(&purge_lock) == 0);
	p = purge_find(id);
	if (p != NULL)
		e = *p;
	ASSERT(pthread_mutex_unlock(&purge_lock) == 0);
	if (p == NULL) {
		purge_error(req, 404, "Not Found", "no such purge");
		return;
	}
	reply = purge_reply(srv, e.id, e.removed, e.soft, e.outstanding == 0);
	purge_send(req, 200, "OK", reply);
	json_decref(reply);
}

bool
edge_purge_handle(struct evhttp_request *req, struct edge_server *srv)
{
	const char *uri = evhttp_request_get_uri(req);
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);

	if (strcmp(uri, "/purge") == 0 || strncmp(uri, "/purge?", 7) == 0) {
		if (cmd != EVHTTP_REQ_POST) {
			evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "POST");
			purge_error(req, 405, "Method Not Allowed", "POST a JSON body");
			return true;
		}
		purge_post(req, srv);
		return true;
	}
	if (strncmp(uri, "/purge/", 7) == 0) {
		if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
			purge_error(req, 405, "Method Not Allowed", "GET");
			return true;
		}
		purge_get(req, srv, uri + 7);
		return true;
	}
	return false;
}

/* ---- start-up: the bans still in the log ---- */

static enum cache_ban_kind
purge_kind_of(const char *name)
{
	for (size_t k = 0; k < sizeof purge_kind_names / sizeof purge_kind_names[0]; k++)
		if (strcmp(purge_kind_names[k], name) == 0)
			return (enum cache_ban_kind)k;
	return CACHE_BAN_ALL; /* an unreadable kind errs towards a miss */
}

static void
purge_restore(void *arg, const char *id, const char *value, size_t len)
{
	const struct config *cfg = arg;
	json_t *rec = json_loadb(value, len, 0, NULL), *bans, *b;
	const struct purge_token_conf *tok = NULL;
	const char *tokid = NULL;
	uint64_t seq;
	size_t i;
	int soft = 0;

	if (rec == NULL ||
	    json_unpack(rec, "{s:s, s:b, s:o}", "token", &tokid, "soft", &soft, "bans", &bans) !=
	        0 ||
	    !json_is_array(bans)) {
		log_warn("purge", "purge log: record %s unreadable: dropped", id);
		json_decref(rec);
		(void)purge_log_del(purge_log, id);
		return;
	}
	for (i = 0; i < cfg->n_purge_tokens; i++)
		if (strcmp(cfg->purge_tokens[i].id, tokid) == 0)
			tok = &cfg->purge_tokens[i];
	seq = purge_register(id, soft, true);
	json_array_foreach(bans, i, b)
	{
		const char *kind = "", *v = "";
		json_int_t gen = 0;
		int scoped = 0;
		struct cache_ban_spec spec;

		if (json_unpack(b, "{s:s, s:s, s:I, s:b}", "kind", &kind, "value", &v, "gen", &gen,
		        "scoped", &scoped) != 0 ||
		    gen <= 0)
			continue;
		spec = (struct cache_ban_spec){purge_kind_of(kind), v, NULL, 0, soft};
		if (scoped && tok != NULL) {
			spec.scope = (const char *const *)tok->hosts;
			spec.n_scope = tok->n_hosts;
		}
		ASSERT(pthread_mutex_lock(&purge_lock) == 0);
		purge_table[seq % PURGE_KEPT].outstanding++;
		ASSERT(pthread_mutex_unlock(&purge_lock) == 0);
		(void)cache_ban_add(&spec, (uint64_t)gen, seq);
	}
	json_decref(rec);
}

int
edge_purge_start(struct edge_server *srv)
{
	const struct config *cfg = srv->cfg;

	if (cfg->purge_audit_log != NULL) {
		purge_audit = fopen(cfg->purge_audit_log, "ae");
		if (purge_audit == NULL) {
			log_err(
			    "purge", "audit log \"%s\": %s", cfg->purge_audit_log, strerror(errno));
			return -1;
		}
		purge_audit_path = xstrdup(cfg->purge_audit_log);
	}
	if (cfg->cache_disk_path != NULL && srv->disk != NULL) {
		char dir[4096], err[256];

		snprintf(dir, sizeof dir, "%s/purge", cfg->cache_disk_path);
		if (purge_log_open(dir, &purge_log, err, sizeof err) != 0) {
			log_err("purge", "purge log: %s", err);
			return -1;
		}
		(void)purge_log_each(purge_log, purge_restore, srv->cfg);
	}
	if (srv->ram != NULL && cache_ban_start(srv->ram, srv->disk, purge_retired, NULL) != 0) {
		log_err("purge", "cannot start the ban remover");
		return -1;
	}
	return 0;
}

void
edge_purge_reopen(void)
{
	if (purge_audit == NULL)
		return;
	fclose(purge_audit);
	purge_audit = fopen(purge_audit_path, "ae");
}

void
edge_purge_stop(void)
{
	cache_ban_stop();
	cache_ban_reset();
	purge_log_close(&purge_log);
	purge_auth_free(&purge_auth);
	if (purge_audit != NULL)
		fclose(purge_audit);
	purge_audit = NULL;
	free(purge_audit_path);
	purge_audit_path = NULL;
}
