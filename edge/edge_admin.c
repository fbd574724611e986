/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_admin.c — admin endpoints.  Counters are summed over the workers
 * with relaxed loads (each worker is the only writer of its own).
 *   GET /healthz      200 "ok" while serving, 503 "draining" after SIGTERM
 *   GET /metrics      Prometheus text exposition format 0.0.4
 *   GET /status.json  one JSON object: node, version, uptime, reloads,
 *                     counters, cache use, sites, pools and members
 *   GET /status       the status page (edge_admin_page.c) for a browser,
 *                     the JSON for a client preferring it (or no Accept)
 *   POST /drain       (operator token) as SIGTERM
 *   POST /reload      (operator token) as SIGHUP, with the errors of a
 *                     rejected configuration in the reply
 * and the purge API (edge_purge.h).  An operator token is one of
 * purge.tokens with all: true; its check is main-thread state of its own
 * (the purge thread keeps its token buckets).
 */
#include "config.h"

#include <stdatomic.h>
#include <errno.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>

#include "cache/cache.h"
#include "config/config.h"
#include "config/config_value.h"
#include "core/coding.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "edge/edge_admin.h"
#include "edge/edge_admin_http.h"
#include "edge/edge_metrics.h"
#include "edge/edge_purge.h"
#include "edge/edge_worker.h"
#include "origin/origin_health.h"
#include "origin/origin_srv.h"
#include "purge/purge.h"

const char *const edge_counter_names[EDGE_C__COUNT] = {
#define EDGE_COUNTER_NAME(name, help) "outpost_" #name,
    EDGE_COUNTER_TABLE(EDGE_COUNTER_NAME)
#undef EDGE_COUNTER_NAME
};

const char *const edge_counter_help[EDGE_C__COUNT] = {
#define EDGE_COUNTER_HELP(name, help) help,
    EDGE_COUNTER_TABLE(EDGE_COUNTER_HELP)
#undef EDGE_COUNTER_HELP
};

static time_t admin_started;

static void
admin_healthz(struct admin_req *r, void *arg)
{
	struct edge_server *srv = arg;
	bool draining = atomic_load(&srv->draining);

	admin_http_reply_text(r, draining ? 503 : 200, draining ? "draining" : "ok");
}

static void
admin_metric(
    struct evbuffer *b, const char *name, const char *type, const char *help, unsigned long long v)
{
	evbuffer_add_printf(
	    b, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name, v);
}

/* Per member of every pool: up (1) or down (0) by the active checks (1
 * without checks; passive ejections are per worker, counted above), and the
 * requests in flight of members with max_conns.  The flags and counts are
 * shared atomics (origin_health.h): relaxed loads, no lock. */
static void
admin_member_gauges(struct evbuffer *b, struct edge_server *srv)
{
	const struct config *cfg;

	if (srv->health == NULL)
		return;
	cfg = origin_health_config(srv->health); /* the pools the flags are for */
	for (int pass = 0; pass < 2; pass++) {
		evbuffer_add_printf(b, "%s",
		    pass == 0 ? "# HELP outpost_origin_member_up Member up (1) or down (0) by "
		                "active health checks\n# TYPE outpost_origin_member_up gauge\n"
		              : "# HELP outpost_origin_member_in_flight Requests in flight to a "
		                "member with max_conns\n"
		                "# TYPE outpost_origin_member_in_flight gauge\n");
		for (size_t i = 0; i < cfg->n_pools; i++) {
			const struct config_pool *pc = &cfg->pools[i];
			const _Atomic unsigned char *up =
			    origin_health_flags(srv->health, (unsigned)i);
			_Atomic unsigned *busy = origin_health_busy(srv->health, (unsigned)i);

			for (size_t m = 0; m < pc->n_members; m++) {
				unsigned v;

				if (pass == 0)
					v = up == NULL ||
					    atomic_load_explicit(&up[m], memory_order_relaxed) != 0;
				else if (pc->members[m].max_conns > 0)
					v = atomic_load_explicit(&busy[m], memory_order_relaxed);
				else
					continue;
				evbuffer_add_printf(b, "%s{pool=\"",
				    pass == 0 ? "outpost_origin_member_up"
				              : "outpost_origin_member_in_flight");
				edge_metrics_label(b, pc->name);
				evbuffer_add_printf(b, "\",member=\"%s%s%s:%u\"} %u\n",
				    strchr(pc->members[m].host, ':') != NULL ? "[" : "",
				    pc->members[m].host,
				    strchr(pc->members[m].host, ':') != NULL ? "]" : "",
				    (unsigned)pc->members[m].port, v);
			}
		}
	}
}

/* The cache's memory account (cache/cache.h cache_mem_*): the whole, its
 * budget, the fills' share and what objects hold outside the RAM tier. */
static void
admin_memory_gauges(struct evbuffer *b, struct edge_server *srv)
{
	struct cache_mem_stats ms;
	struct cache_ram_stats rs = {0};
	uint64_t outside;

	cache_mem_stats(&ms);
	(void)cache_stats_ram(srv->cache, &rs);
	/* the RAM tier charges a shared body to each holder: never below 0 */
	outside = ms.objects > ms.building + rs.bytes ? ms.objects - ms.building - rs.bytes : 0;
	admin_metric(b, "outpost_cache_memory_bytes", "gauge",
	    "Bytes the cache holds: objects (in the RAM tier or not) and fill chunks",
	    ms.objects + ms.fills);
	admin_metric(b, "outpost_cache_memory_budget_bytes", "gauge",
	    "The cache's memory budget: cache.ram + cache.fill_memory",
	    config_cache_mem_budget(srv->cfg));
	admin_metric(b, "outpost_cache_fill_bytes", "gauge",
	    "Bytes held by fills: their chunks and the stored copies being built",
	    ms.fills + ms.building);
	admin_metric(b, "outpost_cache_detached_bytes", "gauge",
	    "Bytes of complete objects held outside the RAM tier (evicted or replaced while "
	    "still being sent, queued to disk)",
	    outside);
	admin_metric(b, "outpost_cache_body_files", "gauge",
	    "Cached bodies of 64 KiB or more held in memory files, which plain HTTP/1.1 "
	    "connections are sent by sendfile",
	    cache_obj_files());
}

/* One access list's denials, by rule ("default": no rule matched an allow
 * list; "unknown": the client's location lacked what a rule needs). */
static void
admin_access_series(
    struct evbuffer *b, const char *site, const char *route, const struct config_access *a)
{
	for (size_t i = 0; i < a->n + 2; i++) {
		uint64_t v = atomic_load_explicit(&a->denials[i].n, memory_order_relaxed);

		evbuffer_add(b, "outpost_access_denials_total{site=\"", 35);
		edge_metrics_label(b, site);
		evbuffer_add(b, "\",route=\"", 9);
		edge_metrics_label(b, route);
		evbuffer_add(b, "\",rule=\"", 8);
		edge_metrics_label(b, i < a->n ? a->text[i] : i == a->n ? "default" : "unknown");
		evbuffer_add_printf(b, "\"} %llu\n", (unsigned long long)v);
	}
}

/* Denials of every access list of the running configuration (route "" is
 * the site's own list). */
static void
admin_access_denials(struct evbuffer *b, const struct config *cfg)
{
	evbuffer_add_printf(b, "# HELP outpost_access_denials_total Requests refused by an access "
	                       "list, by site, route and rule (since the last reload)\n"
	                       "# TYPE outpost_access_denials_total counter\n");
	for (size_t i = 0; i < cfg->n_sites; i++) {
		const struct config_site *s = &cfg->sites[i];

		if (s->access != NULL)
			admin_access_series(b, s->name, "", s->access);
		for (size_t j = 0; j < s->n_routes; j++)
			if (s->routes[j].access != NULL)
				admin_access_series(
				    b, s->name, s->routes[j].path, s->routes[j].access);
	}
}

/* The workers' counters summed (relaxed loads). */
static void
admin_sum(struct edge_server *srv, uint64_t *sum, uint64_t *origin_ms, int64_t *active)
{
	for (unsigned w = 0; w < srv->n_workers; w++) {
		struct edge_metrics *m = &srv->workers[w]->metrics;

		for (int k = 0; k < EDGE_C__COUNT; k++)
			sum[k] += atomic_load_explicit(&m->c[k], memory_order_relaxed);
		*origin_ms += atomic_load_explicit(&m->origin_answer_ms, memory_order_relaxed);
		*active += atomic_load_explicit(&m->connections_active, memory_order_relaxed);
	}
}

/* outpost_responses_total and the histograms, summed over the workers. */
static void
admin_labelled(struct evbuffer *b, struct edge_server *srv)
{
	struct edge_metrics **m = xcalloc(srv->n_workers > 0 ? srv->n_workers : 1, sizeof *m);

	for (unsigned w = 0; w < srv->n_workers; w++)
		m[w] = &srv->workers[w]->metrics;
	edge_metrics_write_labelled(b, m, srv->n_workers, &srv->site_labels, &srv->pool_labels);
	free(m);
}

static void
admin_metrics(struct admin_req *r, void *arg)
{
	struct edge_server *srv = arg;
	struct evbuffer *b = evbuffer_new();
	uint64_t sum[EDGE_C__COUNT] = {0}, origin_ms = 0;
	int64_t active = 0;
	struct cache_ram_stats st;
	struct cache_disk_stats ds;

	admin_sum(srv, sum, &origin_ms, &active);
	for (int k = 0; k < EDGE_C__COUNT; k++)
		admin_metric(b, edge_counter_names[k], "counter", edge_counter_help[k], sum[k]);
	admin_metric(b, "outpost_connections_active", "gauge", "Client connections open",
	    active > 0 ? (unsigned long long)active : 0);
	evbuffer_add_printf(b,
	    "# HELP outpost_origin_answer_seconds_total Time the outpost_origin_answers_total "
	    "requests took, end to end\n# TYPE outpost_origin_answer_seconds_total counter\n"
	    "outpost_origin_answer_seconds_total %.3f\n",
	    (double)origin_ms / 1000.0);
	admin_labelled(b, srv);
	admin_member_gauges(b, srv);
	admin_access_denials(b, srv->cfg);
	admin_memory_gauges(b, srv);
	edge_purge_metrics(b);
	if (cache_stats_ram(srv->cache, &st)) {
		admin_metric(
		    b, "outpost_cache_ram_bytes", "gauge", "Bytes held by the RAM tier", st.bytes);
		admin_metric(b, "outpost_cache_ram_objects", "gauge",
		    "Objects held by the RAM tier", st.objects);
		admin_metric(b, "outpost_cache_ram_evictions_total", "counter",
		    "Objects evicted from the RAM tier", st.evictions);
	} else {
		admin_metric(
		    b, "outpost_cache_ram_bytes", "gauge", "Bytes held by the RAM tier", 0);
		admin_metric(
		    b, "outpost_cache_ram_objects", "gauge", "Objects held by the RAM tier", 0);
	}
	if (cache_stats_disk(srv->cache, &ds)) {
		admin_metric(b, "outpost_cache_disk_bytes", "gauge", "Bytes held by the disk tier",
		    ds.bytes);
		admin_metric(b, "outpost_cache_disk_objects", "gauge",
		    "Objects held by the disk tier", ds.objects);
		admin_metric(b, "outpost_cache_disk_writes_total", "counter",
		    "Objects written to the disk tier", ds.writes);
		admin_metric(b, "outpost_cache_disk_drops_total", "counter",
		    "Objects not written because the queue was full or a batch failed", ds.drops);
		admin_metric(b, "outpost_cache_disk_evictions_total", "counter",
		    "Objects evicted from the disk tier", ds.evictions);
		admin_metric(b, "outpost_cache_disk_errors_total", "counter",
		    "LMDB errors of the disk tier", ds.errors);
		admin_metric(b, "outpost_cache_disk_checksum_failures_total", "counter",
		    "Disk tier objects that failed their checksum on a read (a miss; removed)",
		    ds.corrupt);
	}
	admin_metric(b, "outpost_workers", "gauge", "Worker threads", srv->n_workers);
	admin_metric(
	    b, "outpost_draining", "gauge", "1 after SIGTERM", atomic_load(&srv->draining));
	admin_metric(b, "outpost_config_reloads_total", "counter",
	    "New configurations put in service by SIGHUP", srv->reloads_total);
	if (srv->srv_watch != NULL) {
		struct origin_srv_stats ss;

		origin_srv_stats(srv->srv_watch, &ss);
		admin_metric(b, "outpost_sibling_srv_refreshes_total", "counter",
		    "Answers of siblings.srv that gave a membership", ss.refreshes);
		admin_metric(b, "outpost_sibling_srv_failures_total", "counter",
		    "Lookups of siblings.srv that failed (the members stayed)", ss.failures);
		admin_metric(b, "outpost_sibling_membership_changes_total", "counter",
		    "Memberships of siblings.srv that differed from the last one", ss.changes);
		admin_metric(b, "outpost_sibling_members", "gauge",
		    "Members siblings.srv names now", ss.members);
	}
	admin_metric(b, "outpost_config_reload_failures_total", "counter",
	    "New configurations rejected (the running one stayed)", srv->reload_failures_total);
	admin_metric(b, "outpost_config_last_reload_success", "gauge",
	    "1 when the last reload succeeded (or none was tried)",
	    srv->last_reload_time == 0 || srv->last_reload_ok);
	admin_metric(b, "outpost_config_last_reload_seconds", "gauge",
	    "Unix time of the last reload attempt (0: none)",
	    (unsigned long long)srv->last_reload_time);
	admin_http_reply(r, 200, "text/plain; version=0.0.4; charset=utf-8", b);
	evbuffer_free(b);
}

/* Unix time with its fraction (for the page's rates). */
static double
admin_time_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The member's "host:port" ("[v6]:port") into buf. */
static const char *
admin_member_name(const struct config_member *m, char *buf, size_t len)
{
	bool v6 = strchr(m->host, ':') != NULL;

	snprintf(buf, len, "%s%s%s:%u", v6 ? "[" : "", m->host, v6 ? "]" : "", (unsigned)m->port);
	return buf;
}

/* The sites of the configuration in service: name, hosts, routes. */
static json_t *
admin_sites_json(const struct config *cfg)
{
	json_t *sites = json_array();

	for (size_t i = 0; i < cfg->n_sites; i++) {
		const struct config_site *st = &cfg->sites[i];
		json_t *hosts = json_array(), *routes = json_array();

		for (size_t h = 0; h < st->n_hosts; h++)
			json_array_append_new(hosts, json_string(st->hosts[h]));
		for (size_t k = 0; k < st->n_routes; k++)
			json_array_append_new(routes,
			    json_pack("{s:s, s:s?, s:b}", "path", st->routes[k].path, "pool",
			        st->routes[k].pool != NULL ? st->routes[k].pool->name : NULL,
			        "cache", st->routes[k].cache));
		json_array_append_new(sites, json_pack("{s:s, s:o, s:o}", "name", st->name, "hosts",
		                                 hosts, "routes", routes));
	}
	return sites;
}

/* The pools with each member's state by the active checks (as
 * outpost_origin_member_up) and its requests in flight (max_conns). */
static json_t *
admin_pools_json(struct edge_server *srv)
{
	const struct config *cfg =
	    srv->health != NULL ? origin_health_config(srv->health) : srv->cfg;
	json_t *pools = json_array();

	for (size_t i = 0; i < cfg->n_pools; i++) {
		const struct config_pool *pc = &cfg->pools[i];
		const _Atomic unsigned char *up =
		    srv->health != NULL ? origin_health_flags(srv->health, (unsigned)i) : NULL;
		_Atomic unsigned *busy =
		    srv->health != NULL ? origin_health_busy(srv->health, (unsigned)i) : NULL;
		json_t *members = json_array();

		for (size_t m = 0; m < pc->n_members; m++) {
			char name[300];
			json_t *mj;

			json_array_append_new(members,
			    mj = json_pack("{s:s, s:b, s:b, s:I, s:I}", "address",
			        admin_member_name(&pc->members[m], name, sizeof name), "up",
			        up == NULL ||
			            atomic_load_explicit(&up[m], memory_order_relaxed) != 0,
			        "backup", pc->members[m].backup, "in_flight",
			        (json_int_t)(busy != NULL && pc->members[m].max_conns > 0
			                         ? atomic_load_explicit(
			                               &busy[m], memory_order_relaxed)
			                         : 0),
			        "max_conns", (json_int_t)pc->members[m].max_conns));
			/* the siblings: this node among them */
			if (pc->sibling && m == cfg->siblings.self_idx)
				json_object_set_new(mj, "self", json_true());
		}
		json_array_append_new(pools, json_pack("{s:s, s:b, s:o}", "name", pc->name,
		                                 "siblings", pc->sibling, "members", members));
	}
	return pools;
}

/*
 * GET /status.json: the node, its uptime and reloads, the counters the
 * status page turns into rates (summed over the workers), the cache's use,
 * the sites and the pools.
 */
static json_t *
admin_status_json(struct edge_server *srv)
{
	struct cache_ram_stats st = {0};
	struct cache_disk_stats ds = {0};
	uint64_t sum[EDGE_C__COUNT] = {0}, origin_ms = 0;
	int64_t active = 0;
	json_t *counters = json_object();

	admin_sum(srv, sum, &origin_ms, &active);
	for (int k = 0; k < EDGE_C__COUNT; k++) /* "outpost_requests_total" -> "requests_total" */
		json_object_set_new(
		    counters, edge_counter_names[k] + 8, json_integer((json_int_t)sum[k]));
	json_object_set_new(counters, "origin_answer_seconds_total", json_real(origin_ms / 1000.0));
	(void)cache_stats_ram(srv->cache, &st);
	(void)cache_stats_disk(srv->cache, &ds);
	return json_pack("{s:s, s:s, s:I, s:I, s:I, s:f, s:b, s:I, s:I, s:I, s:I, s:{s:I, s:s}, "
	                 "s:I, s:o, s:{s:I, s:I, s:I, s:I, s:b}, s:o, s:o}",
	    "node", srv->cfg->node_name, "version", PACKAGE_VERSION, "pid", (json_int_t)getpid(),
	    "workers", (json_int_t)srv->n_workers, "uptime_s",
	    (json_int_t)(time_now() - admin_started), "time", admin_time_s(), "draining",
	    atomic_load(&srv->draining), "cache_ram_bytes", (json_int_t)st.bytes,
	    "cache_ram_objects", (json_int_t)st.objects, "reloads", (json_int_t)srv->reloads_total,
	    "reload_failures", (json_int_t)srv->reload_failures_total, "last_reload", "time",
	    (json_int_t)srv->last_reload_time, "status",
	    srv->last_reload_time == 0 ? "none"
	    : srv->last_reload_ok      ? "ok"
	                               : "failed",
	    "connections_active", (json_int_t)(active > 0 ? active : 0), "counters", counters,
	    "cache", "ram_bytes", (json_int_t)st.bytes, "ram_objects", (json_int_t)st.objects,
	    "disk_bytes", (json_int_t)ds.bytes, "disk_objects", (json_int_t)ds.objects, "disk",
	    cache_has_disk(srv->cache), "sites", admin_sites_json(srv->cfg), "pools",
	    admin_pools_json(srv));
}

/* Answers r with the JSON j (takes it). */
static void
admin_send_json(struct admin_req *r, int status, json_t *j)
{
	admin_http_reply_json(r, status, j);
	json_decref(j);
}

static void
admin_status_json_get(struct admin_req *r, void *arg)
{
	admin_send_json(r, 200, admin_status_json(arg));
}

/*
 * GET /status: the HTML page for a client that prefers text/html to
 * application/json (a browser), else the JSON of /status.json (scripts,
 * curl's Accept: * / *, no Accept at all).
 */
static void
admin_status(struct admin_req *r, void *arg)
{
	struct str accept = admin_http_header(r, "Accept");
	struct evbuffer *b;

	admin_http_field(r, "Vary", "Accept");
	if (coding_accept_media_q(accept, "text/html") <=
	    coding_accept_media_q(accept, "application/json")) {
		admin_status_json_get(r, arg);
		return;
	}
	b = evbuffer_new();
	evbuffer_add_reference(b, edge_admin_page, strlen(edge_admin_page), NULL, NULL);
	admin_http_field(r, "Content-Security-Policy",
	    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
	    "connect-src 'self'; img-src data:");
	admin_http_reply(r, 200, "text/html; charset=utf-8", b);
	evbuffer_free(b);
}

/* ---- operator endpoints: POST /drain, POST /reload ---- */

static const struct edge_admin_ops *admin_ops;
static void *admin_ops_arg;
static struct purge_auth *admin_auth; /* the tokens of admin_auth_cfg */
static struct config *admin_auth_cfg; /* held (main thread) */

/* Is r sent with an operator token (one of purge.tokens with all: true)?
 * Else answered 401 or 403: false. */
static bool
admin_operator(struct admin_req *r, struct edge_server *srv)
{
	struct str v = admin_http_header(r, "Authorization");
	char authz[1024];
	int tok;

	if (admin_auth == NULL || admin_auth_cfg != srv->cfg) {
		purge_auth_free(&admin_auth);
		admin_auth = purge_auth_new(srv->cfg->purge.tokens, srv->cfg->purge.n_tokens, 0);
		config_unref(&admin_auth_cfg); /* held: a later snapshot cannot reuse its address */
		admin_auth_cfg = config_ref(srv->cfg);
	}
	if (v.p != NULL && v.len < sizeof authz) {
		memcpy(authz, v.p, v.len);
		authz[v.len] = '\0';
	} else {
		authz[0] = '\0';
	}
	tok = purge_auth_token(admin_auth, authz);
	if (tok < 0) {
		admin_http_field(r, "WWW-Authenticate", "Bearer realm=\"outpost admin\"");
		admin_send_json(
		    r, 401, json_pack("{s:s}", "error", "a valid bearer token is required"));
		return false;
	}
	if (!purge_auth_conf(admin_auth, tok)->all) {
		admin_send_json(r, 403,
		    json_pack("{s:s}", "error", "an operator token (all: true) is required"));
		return false;
	}
	log_info("admin", "%.*s %.*s by token \"%s\" from %s", (int)r->h->method.len,
	    r->h->method.p, (int)r->path.len, r->path.p, purge_auth_conf(admin_auth, tok)->id,
	    r->peer);
	return true;
}

/* The announce=DURATION of POST /drain's query ("30s", "0s"; at most 1 h)
 * in *ms, else the configured timeouts.drain_announce; false after
 * answering 400. */
static bool
admin_drain_announce(struct admin_req *r, const struct config *cfg, uint64_t *ms)
{
	struct str q = r->query;
	char val[64], err[128];

	*ms = cfg->drain_announce_ms;
	while (q.len > 0) {
		const char *amp = memchr(q.p, '&', q.len);
		struct str item = str_make(q.p, amp != NULL ? (size_t)(amp - q.p) : q.len);

		q = amp != NULL ? str_make(amp + 1, q.len - item.len - 1) : STR_NULL;
		if (item.len < 9 || memcmp(item.p, "announce=", 9) != 0)
			continue;
		snprintf(val, sizeof val, "%.*s", (int)(item.len - 9), item.p + 9);
		if (item.len - 9 >= sizeof val ||
		    config_value_duration_ms(val, ms, err, sizeof err) != 0 || *ms > 3600 * 1000) {
			admin_send_json(r, 400,
			    json_pack("{s:s}", "error",
			        "announce: a duration of at most 1h is expected (e.g. "
			        "announce=30s)"));
			return false;
		}
	}
	return true;
}

static void
admin_drain(struct admin_req *r, void *arg)
{
	struct edge_server *srv = arg;
	bool already = atomic_load(&srv->draining);
	uint64_t announce_ms;

	if (!admin_operator(r, srv) || !admin_drain_announce(r, srv->cfg, &announce_ms))
		return;
	admin_send_json(r, 200,
	    json_pack("{s:b, s:b, s:I, s:I}", "draining", true, "already", already, "announce_ms",
	        (json_int_t)announce_ms, "drain_timeout_ms",
	        (json_int_t)srv->cfg->drain_timeout_ms));
	if (!already)
		admin_ops->drain(admin_ops_arg, (int64_t)announce_ms);
}

static void
admin_reload(struct admin_req *r, void *arg)
{
	struct edge_server *srv = arg;
	char *errors = NULL, *save = NULL;
	json_t *list = json_array();
	int rc;

	if (!admin_operator(r, srv)) {
		json_decref(list);
		return;
	}
	rc = admin_ops->reload(admin_ops_arg, &errors);
	for (char *line = errors != NULL ? strtok_r(errors, "\n", &save) : NULL; line != NULL;
	     line = strtok_r(NULL, "\n", &save))
		json_array_append_new(list, json_string(line));
	free(errors);
	/* 422: the file cannot be put in service as it is; the running one stays */
	admin_send_json(r, rc == 0 ? 200 : 422,
	    json_pack("{s:b, s:o, s:I, s:I}", "reloaded", rc == 0, "errors", list, "reloads",
	        (json_int_t)srv->reloads_total, "reload_failures",
	        (json_int_t)srv->reload_failures_total));
}

void
edge_admin_stop(void)
{
	purge_auth_free(&admin_auth);
	config_unref(&admin_auth_cfg);
}

/* purge.max_body of the configuration in service. */
static size_t
admin_max_body(void *arg)
{
	const struct edge_server *srv = arg;

	return (size_t)srv->cfg->purge.max_body;
}

static const struct admin_route admin_routes[] = {
    {"GET", "/healthz", admin_healthz},
    {"GET", "/metrics", admin_metrics},
    {"GET", "/status", admin_status},
    {"GET", "/status.json", admin_status_json_get},
    {"POST", "/drain", admin_drain},
    {"POST", "/reload", admin_reload},
    {"POST", "/purge", edge_purge_post},
    {"GET", "/purge/", edge_purge_get},
    {"PURGE", NULL, edge_purge_method},
};

struct admin_http *
edge_admin_start(struct event_base *base, struct edge_server *srv, const struct config_listen *l,
    const struct edge_admin_ops *ops, void *ops_arg)
{
	struct admin_http *h;
	int fd, one = 1;

	admin_started = time_now();
	admin_ops = ops;
	admin_ops_arg = ops_arg;
	fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1 ||
	    bind(fd, (const struct sockaddr *)&l->addr, l->addrlen) == -1 || listen(fd, 64) == -1) {
		log_err("admin", "listen %s: %s", l->address, strerror(errno));
		if (fd != -1)
			close(fd);
		return NULL;
	}
	h = admin_http_new(base, fd, admin_routes, sizeof admin_routes / sizeof admin_routes[0],
	    srv, admin_max_body);
	if (h == NULL)
		log_err("admin", "listen %s: cannot accept", l->address);
	return h;
}
