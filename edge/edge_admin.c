/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_admin.c — admin endpoints.  Counters are summed over the workers
 * with relaxed loads (each worker is the only writer of its own).
 *   GET /healthz  200 "ok" while serving, 503 "draining" after SIGTERM
 *   GET /metrics  Prometheus text exposition format 0.0.4
 *   GET /status   one JSON object: node, version, workers, uptime, cache use
 */
#include "config.h"

#include <stdatomic.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "cache/cache.h"
#include "config/config.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "edge/edge_admin.h"
#include "edge/edge_metrics.h"
#include "edge/edge_purge.h"
#include "edge/edge_worker.h"
#include "origin/origin_health.h"
#include "purge/purge.h"

#define ADMIN_MAX_HEAD 8192 /* bytes of a request head on the admin listener */

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
admin_reply(struct evhttp_request *req, int code, const char *reason, const char *type,
    struct evbuffer *body)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
	evhttp_send_reply(req, code, reason, body);
}

static void
admin_healthz(struct evhttp_request *req, void *arg)
{
	struct edge_server *srv = arg;
	struct evbuffer *b = evbuffer_new();
	bool draining = atomic_load(&srv->draining);

	evbuffer_add_printf(b, "%s\n", draining ? "draining" : "ok");
	admin_reply(req, draining ? 503 : 200, draining ? "Service Unavailable" : "OK",
	    "text/plain; charset=utf-8", b);
	evbuffer_free(b);
}

static void
admin_metric(
    struct evbuffer *b, const char *name, const char *type, const char *help, unsigned long long v)
{
	evbuffer_add_printf(
	    b, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name, v);
}

/* A label value with \\, \" and newlines escaped (text format 0.0.4). */
static void
admin_label(struct evbuffer *b, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			evbuffer_add_printf(b, "\\%c", *s);
		else if (*s == '\n')
			evbuffer_add(b, "\\n", 2);
		else
			evbuffer_add(b, s, 1);
	}
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
				admin_label(b, pc->name);
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
}

static void
admin_metrics(struct evhttp_request *req, void *arg)
{
	struct edge_server *srv = arg;
	struct evbuffer *b = evbuffer_new();
	uint64_t sum[EDGE_C__COUNT] = {0};
	int64_t active = 0;
	struct cache_ram_stats st;
	struct cache_disk_stats ds;

	for (unsigned w = 0; w < srv->n_workers; w++) {
		struct edge_metrics *m = &srv->workers[w]->metrics;

		for (int k = 0; k < EDGE_C__COUNT; k++)
			sum[k] += atomic_load_explicit(&m->c[k], memory_order_relaxed);
		active += atomic_load_explicit(&m->connections_active, memory_order_relaxed);
	}
	for (int k = 0; k < EDGE_C__COUNT; k++)
		admin_metric(b, edge_counter_names[k], "counter", edge_counter_help[k], sum[k]);
	admin_metric(b, "outpost_connections_active", "gauge", "Client connections open",
	    active > 0 ? (unsigned long long)active : 0);
	admin_member_gauges(b, srv);
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
	admin_metric(b, "outpost_config_reload_failures_total", "counter",
	    "New configurations rejected (the running one stayed)", srv->reload_failures_total);
	admin_metric(b, "outpost_config_last_reload_success", "gauge",
	    "1 when the last reload succeeded (or none was tried)",
	    srv->last_reload_time == 0 || srv->last_reload_ok);
	admin_metric(b, "outpost_config_last_reload_seconds", "gauge",
	    "Unix time of the last reload attempt (0: none)",
	    (unsigned long long)srv->last_reload_time);
	admin_reply(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", b);
	evbuffer_free(b);
}

static void
admin_status(struct evhttp_request *req, void *arg)
{
	struct edge_server *srv = arg;
	struct evbuffer *b = evbuffer_new();
	struct cache_ram_stats st = {0};

	(void)cache_stats_ram(srv->cache, &st);
	evbuffer_add_printf(b,
	    "{\"node\":\"%s\",\"version\":\"%s\",\"workers\":%u,\"uptime_s\":%lld,"
	    "\"draining\":%s,\"cache_ram_bytes\":%llu,\"cache_ram_objects\":%llu,"
	    "\"reloads\":%lu,\"reload_failures\":%lu,\"last_reload\":{\"time\":%lld,"
	    "\"status\":\"%s\"}}\n",
	    srv->cfg->node_name, PACKAGE_VERSION, srv->n_workers,
	    (long long)(time_now() - admin_started), atomic_load(&srv->draining) ? "true" : "false",
	    (unsigned long long)st.bytes, (unsigned long long)st.objects, srv->reloads_total,
	    srv->reload_failures_total, (long long)srv->last_reload_time,
	    srv->last_reload_time == 0 ? "none"
	    : srv->last_reload_ok      ? "ok"
	                               : "failed");
	admin_reply(req, 200, "OK", "application/json", b);
	evbuffer_free(b);
}

static void
admin_not_found(struct evhttp_request *req, void *arg)
{
	struct evbuffer *b;

	if (edge_purge_handle(req, arg))
		return;
	b = evbuffer_new();
	evbuffer_add_printf(b, "not found\n");
	admin_reply(req, 404, "Not Found", "text/plain; charset=utf-8", b);
	evbuffer_free(b);
}

static void
admin_on_accept_resume(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	evconnlistener_enable(arg);
}

/* accept(2) out of descriptors or memory: pause as the workers do
 * (edge_worker.c), or the main loop would spin on the pending connection. */
static void
admin_on_accept_error(struct evconnlistener *l, void *arg)
{
	static uint64_t last_ms;
	struct timeval tv = time_ms_to_tv(EDGE_ACCEPT_PAUSE_MS);
	uint64_t now = time_mono_ms();
	int err = EVUTIL_SOCKET_ERROR();

	(void)arg;
	if (now - last_ms >= 10000) {
		last_ms = now;
		log_err("admin", "accept: %s", evutil_socket_error_to_string(err));
	}
	if (!edge_accept_exhausted(err))
		return;
	evconnlistener_disable(l);
	(void)event_base_once(
	    evconnlistener_get_base(l), -1, EV_TIMEOUT, admin_on_accept_resume, l, &tv);
}

struct evhttp *
edge_admin_start(struct event_base *base, struct edge_server *srv, const struct config_listen *l)
{
	struct evhttp *h = evhttp_new(base);
	struct evhttp_bound_socket *bs;
	evutil_socket_t fd;
	int one = 1;

	admin_started = time_now();
	fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1 ||
	    bind(fd, (const struct sockaddr *)&l->addr, l->addrlen) == -1 || listen(fd, 64) == -1) {
		log_err("admin", "listen %s: %s", l->address, strerror(errno));
		if (fd != -1)
			close(fd);
		evhttp_free(h);
		return NULL;
	}
	bs = evhttp_accept_socket_with_handle(h, fd);
	if (bs == NULL) {
		log_err("admin", "listen %s: cannot accept", l->address);
		close(fd);
		evhttp_free(h);
		return NULL;
	}
	evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(bs), admin_on_accept_error);
	evhttp_set_allowed_methods(h, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST);
	evhttp_set_timeout(h, 10);
	/* libevent buffers heads and bodies without limit by default, on the
	 * main thread: GET and HEAD need a small head and no body */
	evhttp_set_max_headers_size(h, ADMIN_MAX_HEAD);
	evhttp_set_max_body_size(h, PURGE_BODY_MAX); /* POST /purge only */
	evhttp_set_cb(h, "/healthz", admin_healthz, srv);
	evhttp_set_cb(h, "/metrics", admin_metrics, srv);
	evhttp_set_cb(h, "/status", admin_status, srv);
	evhttp_set_gencb(h, admin_not_found, srv);
	return h;
}
