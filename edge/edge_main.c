/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_main.c — the outpost daemon: command line, start-up, signals,
 * graceful shutdown.
 *
 * The main thread loads the configuration, binds every listening socket (one
 * SO_REUSEPORT socket per listener per worker), starts the workers, then runs
 * its own event loop for signals and the admin listener.  SIGTERM/SIGINT:
 * /healthz turns to "draining", every worker closes its listeners, finishes
 * the requests in flight (bounded by timeouts.drain) and stops; the process
 * exits 0.  SIGUSR1 reopens the access log.
 *
 * SIGHUP reloads: the main thread loads and checks the file again (every
 * error logged with its file:line:column), builds the new TLS contexts and
 * health flags, and only when all of that succeeds hands the snapshot to the
 * workers (edge_worker_reload); otherwise the old configuration stays in
 * service.  What is fixed at start-up (listeners, admin listener, workers,
 * cache sizes and disk path, access log path, resolver) is compared and each
 * difference logged as needing a restart; the running values stay.
 *
 * Started as root, the daemon switches to node.user after binding, opening
 * the disk tier and the access log and reading the keys, and before the
 * workers start (edge/edge_privdrop.h).
 *
 * SIGUSR2 upgrades the binary without refusing a connection
 * (edge/edge_upgrade.h): the binary at the same path starts again with the
 * same configuration file (through the privilege helper when the daemon has
 * switched users, so the new process starts as root, reads its keys and
 * switches as at a start), takes the listening sockets (it binds none of
 * them), opens the disk tier once this process stopped writing it (both
 * have the LMDB environment open for a while: LMDB serializes writers and
 * keeps readers consistent across processes, and only one writes), takes
 * the admin listener over, starts its workers and says so; this process
 * then hands the service manager the new MAINPID and drains.  Settings the
 * two must share (listeners, node.workers, cache.disk) must be the same in
 * the file: otherwise the new process refuses and this one serves on.
 *
 * Under a service manager (NOTIFY_SOCKET, edge/edge_notify.h) the main thread
 * says READY=1 once every listener is bound, the disk tier is open and the
 * workers run; RELOADING=1 then READY=1 around a SIGHUP reload; STOPPING=1
 * when it drains; STATUS= lines with each; and WATCHDOG=1 from its own loop
 * at half of WATCHDOG_USEC, so a main loop that stops turning gets the
 * process restarted.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ares.h>
#include <brotli/decode.h>
#include <brotli/encode.h>
#include <event2/event.h>
#include <event2/http.h>
#include <lmdb.h>
#include <maxminddb.h>
#include <openssl/crypto.h>
#include <yaml.h>
#include <zlib.h>
#include <zstd.h>

#include "cache/cache.h"
#include "config/config.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "edge/edge_accesslog.h"
#include "edge/edge_admin.h"
#include "edge/edge_admin_http.h"
#include "edge/edge_guard.h"
#include "edge/edge_notify.h"
#include "edge/edge_privdrop.h"
#include "edge/edge_purge.h"
#include "edge/edge_tls.h"
#include "edge/edge_upgrade.h"
#include "edge/edge_worker.h"
#include "origin/origin_health.h"
#include "origin/origin_srv.h"

#define MAIN_DEFAULT_CONFIG OUTPOST_SYSCONFDIR "/outpost.yaml"
/* Shards of the fill table; each keeps at most 32 hit-for-pass markers. */
#define MAIN_FILL_SHARDS 1024u
/* Descriptors besides connections: per worker (event base, eventfds, resolver,
 * health probes), and for the process (stdio, logs, LMDB, admin listener and
 * its connections, signals). */
#define MAIN_FDS_PER_WORKER 16u
#define MAIN_FDS_BASE       64u
/* cached bodies in files of their own at most (cache_obj_body_file) */
#define MAIN_BODY_FILES 65536u

/* Body files main_check_nofile found room for (used with cache.sendfile). */
static unsigned main_body_files;
/* Upgrade: the new process's wait for each answer of the old one; the old
 * one's flush of its disk queue; the new one's attempts at the admin
 * address the old one just closed. */
#define MAIN_UPGRADE_STEP_MS  15000u
#define MAIN_UPGRADE_FLUSH_MS 5000u
#define MAIN_ADMIN_TRIES      20
#define MAIN_ADMIN_RETRY_US   100000

/* Where an upgrade is, seen from the old process. */
enum main_upgrade_state {
	MAIN_UPGRADE_NONE = 0,
	MAIN_UPGRADE_OFFERED, /* the new process runs and has the sockets */
	MAIN_UPGRADE_FROZEN,  /* this disk writer stopped */
	MAIN_UPGRADE_RELEASED /* this admin listener closed */
};

struct main_state {
	struct edge_server srv;
	const char *path;          /* the configuration file, read again on SIGHUP */
	const struct config *boot; /* the start-up snapshot: what needs a restart */
	struct event_base *base;
	struct event *poll_timer;
	struct event *watchdog_timer; /* WATCHDOG=1 pings; NULL without a watchdog */
	struct event *announce_timer; /* the announce phase of a drain, or NULL */
	bool stopping;
	struct admin_http *admin; /* NULL without (or while handed over) */
	struct edge_privdrop *pd; /* NULL when not switching users */
	int *listen_fds;          /* [worker * n_listens + listen]: the workers own them; read for
	                             an upgrade, never closed here */
	/* an upgrade this process hands over to */
	enum main_upgrade_state up_state;
	int up_sock;    /* its end of the pair; -1 */
	pid_t up_child; /* spawned here (to reap), or 0 (the helper started it) */
	pid_t up_pid;   /* the new process, from its HELLO */
	struct event *up_ev, *up_timer;
	/* siblings.srv: its watcher and the members it gave last (a reload
	 * loads the configuration with them) */
	struct origin_srv *srv_watch;
	struct origin_srv_member *srv_got;
	struct config_srv_member *srv_members;
	size_t n_srv_members;
};

static void
main_usage(FILE *f)
{
	fprintf(f,
	    "usage: outpost [-c FILE] [-t] [-V] [-h]\n"
	    "  -c, --config FILE  configuration file (default %s)\n"
	    "  -t, --test         check the configuration (certificates, log files too),\n"
	    "                     print every error, exit 0 or 1\n"
	    "  -V, --version      print the version and the versions of the linked libraries\n"
	    "  -h, --help         print this help\n"
	    "Signals: TERM/INT drain and exit, HUP reload the configuration (the old one\n"
	    "stays when the new one has errors), USR1 reopen the access log, USR2 start\n"
	    "the binary again and hand it the listeners (an upgrade without downtime).\n",
	    MAIN_DEFAULT_CONFIG);
}

static void
main_version(void)
{
	uint32_t bv = BrotliEncoderVersion();

	printf("outpost %s\n", PACKAGE_VERSION);
	printf("libevent %s\n", event_get_version());
	printf("%s\n", OpenSSL_version(OPENSSL_VERSION));
	printf("%s\n", mdb_version(NULL, NULL, NULL));
	printf("zstd %s\n", ZSTD_versionString());
	printf("brotli %u.%u.%u\n", bv >> 24, (bv >> 12) & 0xfff, bv & 0xfff);
	printf("zlib %s\n", zlibVersion());
	printf("c-ares %s\n", ares_version(NULL));
	printf("libyaml %s\n", yaml_get_version_string());
	printf("libmaxminddb %s\n", MMDB_lib_version());
}

/* A non-blocking SO_REUSEPORT listening socket for l; -1 (logged) on failure. */
static int
main_listen(const struct config_listen *l)
{
	int one = 1;
	int fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd == -1) {
		log_err("edge", "listen %s: socket: %s", l->address, strerror(errno));
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) == -1 ||
	    (l->addr.ss_family == AF_INET6 &&
	        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) == -1)) {
		log_err("edge", "listen %s: setsockopt: %s", l->address, strerror(errno));
		close(fd);
		return -1;
	}
	if (bind(fd, (const struct sockaddr *)&l->addr, l->addrlen) == -1) {
		log_err("edge", "listen %s: bind: %s", l->address, strerror(errno));
		close(fd);
		return -1;
	}
	if (listen(fd, 1024) == -1) {
		log_err("edge", "listen %s: %s", l->address, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Shards spread lock contention; each shard has an equal share of the bytes,
 * so a shard must hold several of the largest objects: up to 64 shards, each
 * at least four times cache.max_object.
 */
static unsigned
main_ram_shards(const struct config *cfg)
{
	uint64_t per = 4 * (cfg->cache.max_object_bytes ? cfg->cache.max_object_bytes : 1);
	uint64_t n = cfg->cache.ram_bytes / per;

	if (n < 1)
		n = 1;
	if (n > 64)
		n = 64;
	return (unsigned)n;
}

static void
main_on_poll(evutil_socket_t fd, short what, void *arg)
{
	struct main_state *ms = arg;

	(void)fd;
	(void)what;
	for (unsigned i = 0; i < ms->srv.n_workers; i++)
		if (!edge_worker_finished(ms->srv.workers[i]))
			return;
	event_base_loopbreak(ms->base);
}

static bool
main_str_differs(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0);
}

/* Logs each setting of n that only a restart applies (the running value
 * stays); returns how many. */
static unsigned
main_needs_restart(const struct config *o, const struct config *n)
{
	unsigned k = 0;
	bool listens = o->n_listens != n->n_listens;

	for (size_t i = 0; i < o->n_listens && !listens; i++) {
		const struct config_listen *a = &o->listens[i], *b = &n->listens[i];

		listens = strcmp(a->address, b->address) != 0 || a->tls != b->tls ||
		          a->tls_protocols != b->tls_protocols ||
		          main_str_differs(a->tls_ciphers, b->tls_ciphers) ||
		          main_str_differs(a->tls_ciphersuites, b->tls_ciphersuites);
	}
#define MAIN_RESTART(cond, key)                                                                    \
	do {                                                                                       \
		if (cond) {                                                                        \
			log_warn("main", "reload: %s changed: needs a restart, ignored", key);     \
			k++;                                                                       \
		}                                                                                  \
	} while (0)
	MAIN_RESTART(listens, "listen");
	MAIN_RESTART(main_str_differs(o->admin.address, n->admin.address), "admin.listen");
	MAIN_RESTART(o->workers != n->workers, "node.workers");
	MAIN_RESTART(main_str_differs(o->node_user, n->node_user) ||
	                 main_str_differs(o->node_group, n->node_group),
	    "node.user/node.group");
	MAIN_RESTART(o->fleet.n_servers != n->fleet.n_servers ||
	                 main_str_differs(o->node_name, n->node_name),
	    "fleet or node.name");
	MAIN_RESTART(o->cache.ram_bytes != n->cache.ram_bytes, "cache.ram");
	MAIN_RESTART(main_str_differs(o->cache.disk_path, n->cache.disk_path) ||
	                 o->cache.disk_bytes != n->cache.disk_bytes,
	    "cache.disk");
	MAIN_RESTART(main_str_differs(o->log.access, n->log.access), "log.access");
	MAIN_RESTART(main_str_differs(o->resolver.servers, n->resolver.servers) ||
	                 o->resolver.min_ttl_s != n->resolver.min_ttl_s ||
	                 o->resolver.max_ttl_s != n->resolver.max_ttl_s,
	    "resolver");
#undef MAIN_RESTART
	return k;
}

/* Logs what config_load wrote to its error stream, one line at a time. */
static void
main_log_lines(char *text)
{
	char *save = NULL;

	for (char *line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save))
		log_err("main", "reload: %s", line);
}

static int main_reload(struct main_state *ms, char **errors);

/* The members c's siblings listed (or its srv's records named): the pool's,
 * less this node when it was added for not being among them; into out[]
 * (the pool's members, n of them at most), their count. */
static size_t
main_listed_members(const struct config *c, const struct config_member **out)
{
	const struct origin_sibling_conf *sc = &c->siblings;
	const struct config_pool *p = &c->pools[sc->pool_idx];
	size_t k = 0;

	for (size_t i = 0; i < p->n_members; i++)
		if (sc->self_listed || i != sc->self_idx)
			out[k++] = &p->members[i];
	return k;
}

static bool
main_same_members(
    const struct config_member **a, size_t na, const struct config_member **b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (a[i]->port != b[i]->port || a[i]->weight != b[i]->weight ||
		    strcmp(a[i]->host, b[i]->host) != 0)
			return false;
	return true;
}

static void
main_copy_members(struct origin_sibling_conf *to, const struct config_member **m, size_t n)
{
	to->prev = xcalloc(n ? n : 1, sizeof *to->prev);
	for (size_t i = 0; i < n; i++)
		to->prev[i] = (struct config_member){
		    xstrdup(m[i]->host), m[i]->port, m[i]->weight, false, 0, NULL, 0};
	to->n_prev = n;
}

/*
 * siblings.grace: the members the running snapshot listed, when ncfg lists
 * others, and when that was (or what the running one still carries), set in
 * ncfg before it is published: a miss of a key this node owns since then
 * asks the previous owner first (edge_forward.c).  A node that joins was not
 * among the members before, even when it counted itself in.
 */
static void
main_sibling_grace(const struct config *old, struct config *ncfg)
{
	const struct origin_sibling_conf *o = &old->siblings;
	struct origin_sibling_conf *n = &ncfg->siblings;
	const struct config_member **om, **nm;
	size_t no, nn;

	if (!o->enabled || !n->enabled || n->grace_ms == 0)
		return;
	om = xcalloc(old->pools[o->pool_idx].n_members + o->n_prev + 1, sizeof *om);
	nm = xcalloc(ncfg->pools[n->pool_idx].n_members + 1, sizeof *nm);
	no = main_listed_members(old, om);
	nn = main_listed_members(ncfg, nm);
	if (!main_same_members(om, no, nm, nn)) {
		main_copy_members(n, om, no);
		n->changed_ms = time_mono_ms();
	} else if (o->n_prev > 0 && time_mono_ms() - o->changed_ms < n->grace_ms) {
		/* the running snapshot's previous members, carried */
		for (size_t i = 0; i < o->n_prev; i++)
			om[i] = &o->prev[i];
		main_copy_members(n, om, o->n_prev);
		n->changed_ms = o->changed_ms;
	}
	free(om);
	free(nm);
}

static void
main_srv_forget(struct main_state *ms)
{
	ms->srv.srv_watch = NULL;
	origin_srv_free(&ms->srv_watch);
	free(ms->srv_got);
	free(ms->srv_members);
	ms->srv_got = NULL;
	ms->srv_members = NULL;
	ms->n_srv_members = 0;
}

/* siblings.srv gave another membership: the configuration again, with it. */
static void
main_on_srv(const struct origin_srv_member *m, size_t n, void *arg)
{
	struct main_state *ms = arg;

	free(ms->srv_got);
	free(ms->srv_members);
	ms->srv_got = xmalloc(n * sizeof *ms->srv_got);
	memcpy(ms->srv_got, m, n * sizeof *m);
	ms->srv_members = xmalloc(n * sizeof *ms->srv_members);
	for (size_t i = 0; i < n; i++)
		ms->srv_members[i] =
		    (struct config_srv_member){ms->srv_got[i].host, m[i].port, m[i].weight};
	ms->n_srv_members = n;
	log_info("main", "siblings.srv: %zu members: loading the configuration with them", n);
	if (ms->stopping || main_reload(ms, NULL) != 0)
		log_err("main", "siblings.srv: the new members are not in service");
}

/* Watches the records of the running configuration's siblings.srv (a new
 * name starts over; none stops watching). */
static void
main_srv_update(struct main_state *ms)
{
	const struct config *cfg = ms->srv.cfg;
	const char *name = cfg->siblings.enabled ? cfg->siblings.srv : NULL;

	if (name == NULL) {
		main_srv_forget(ms);
		return;
	}
	if (ms->srv_watch != NULL && strcmp(origin_srv_name(ms->srv_watch), name) == 0)
		return;
	main_srv_forget(ms);
	ms->srv_watch = origin_srv_new(ms->base, name, cfg->resolver.servers,
	    cfg->resolver.min_ttl_s, cfg->resolver.max_ttl_s, main_on_srv, ms);
	if (ms->srv_watch == NULL)
		log_err("main", "siblings.srv %s: the resolver did not start", name);
	ms->srv.srv_watch = ms->srv_watch; /* for /metrics */
}

/* SIGHUP (or POST /reload): a new snapshot in service (0), or the old one
 * kept (-1, logged).  errors: when not NULL, what config_load reported, one
 * error a line (malloc'd; NULL when it said nothing). */
static int
main_reload(struct main_state *ms, char **errors)
{
	struct edge_server *srv = &ms->srv;
	struct config *ncfg = NULL;
	struct edge_tls *tls = NULL;
	struct origin_health *health;
	char *errs = NULL;
	size_t errs_len = 0;
	FILE *ef = open_memstream(&errs, &errs_len);
	enum log_level lvl;
	int r;

	log_info("main", "SIGHUP: reloading %s", ms->path);
	srv->last_reload_time = time(NULL);
	r = ef != NULL
	        ? config_load_members(ms->path, ms->srv_members, ms->n_srv_members, &ncfg, ef)
	        : -1;
	if (ef != NULL)
		fclose(ef);
	if (errors != NULL && errs != NULL)
		*errors = xstrdup(errs);
	if (errs != NULL)
		main_log_lines(errs);
	free(errs);
	/* TLS contexts exist for the running listeners (a restart changes those) */
	if (r == 0 && srv->tls != NULL && (tls = edge_tls_new(ncfg)) == NULL)
		r = -1;
	if (r != 0) {
		srv->reload_failures_total++;
		srv->last_reload_ok = false;
		log_err("main", "reload: %s has errors; the running configuration stays", ms->path);
		config_unref(&ncfg);
		return -1;
	}
	(void)main_needs_restart(ms->boot, ncfg);
	main_sibling_grace(srv->cfg, ncfg);
	/* cache.sendfile turned off: bodies already in files stay in them */
	cache_obj_files_limit(ncfg->cache.sendfile ? main_body_files : 0);
	edge_guard_tables(srv, ncfg); /* before the workers see ncfg */
	if (ncfg->log.level != NULL && log_level_parse(ncfg->log.level, &lvl) == 0)
		log_set_level(lvl);
	health = origin_health_new(ncfg);
	origin_health_inherit(health, srv->health);
	for (unsigned w = 0; w < srv->n_workers; w++)
		edge_worker_reload(srv->workers[w], ncfg, tls, health);
	origin_health_unref(&srv->health); /* the workers hold theirs */
	srv->health = health;              /* for /metrics, on this thread */
	edge_tls_unref(&srv->tls);
	srv->tls = tls;
	config_unref(&srv->cfg);
	srv->cfg = ncfg;
	srv->reloads_total++;
	srv->last_reload_ok = true;
	log_info("main", "reload: configuration in service (%zu sites, %zu pools)", ncfg->n_sites,
	    ncfg->n_pools);
	main_srv_update(ms);
	return 0;
}

/* The admin listener's POST /reload and POST /drain (edge_admin.h). */
static int
main_admin_reload(void *arg, char **errors)
{
	struct main_state *ms = arg;

	if (ms->stopping) {
		*errors = xstrdup("the node is draining\n");
		return -1;
	}
	return main_reload(ms, errors);
}

static void main_stop(struct main_state *ms, const char *why, unsigned announce_ms);
static void main_upgrade_abort(struct main_state *ms, const char *why);

static void
main_admin_drain(void *arg, int64_t announce_ms)
{
	struct main_state *ms = arg;

	if (ms->up_state != MAIN_UPGRADE_NONE)
		main_upgrade_abort(ms, "stopping");
	main_stop(ms, "POST /drain",
	    announce_ms >= 0 ? (unsigned)announce_ms : ms->srv.cfg->drain_announce_ms);
}

/* The admin listener of cfg, its POST /reload and POST /drain going to ms. */
static struct admin_http *
main_admin_start(struct main_state *ms, const struct config *cfg)
{
	static const struct edge_admin_ops ops = {main_admin_reload, main_admin_drain};

	return edge_admin_start(ms->base, &ms->srv, &cfg->admin, &ops, ms);
}

/* READY=1 with a STATUS= line saying what serves and how the last reload
 * went. */
static void
main_notify_ready(const struct main_state *ms)
{
	const struct edge_server *srv = &ms->srv;

	edge_notify("READY=1\nSTATUS=serving: %zu listeners, %u workers, %zu sites%s",
	    srv->cfg->n_listens, srv->n_workers, srv->cfg->n_sites,
	    srv->last_reload_time == 0 ? ""
	    : srv->last_reload_ok      ? "; last reload ok"
	                          : "; last reload rejected, the previous configuration serves");
}

/* Stops accepting and drains: /healthz answers "draining", every worker
 * closes its listeners and finishes what is in flight (timeouts.drain), then
 * the main loop ends.  The service stops (STOPPING=1) unless this process
 * handed it over (an upgrade). */
static void
main_drain(struct main_state *ms, const char *why, bool handed_over)
{
	struct timeval tv = time_ms_to_tv(50);

	if (ms->announce_timer != NULL) { /* the announce ends early, or is over */
		event_free(ms->announce_timer);
		ms->announce_timer = NULL;
	} else if (ms->stopping) {
		return;
	}
	ms->stopping = true;
	log_info("main", "%s: draining (up to %u ms)", why, ms->srv.cfg->drain_timeout_ms);
	if (!handed_over)
		edge_notify(
		    "STOPPING=1\nSTATUS=draining (up to %u ms)", ms->srv.cfg->drain_timeout_ms);
	atomic_store(&ms->srv.draining, true);
	for (unsigned i = 0; i < ms->srv.n_workers; i++)
		edge_worker_drain(ms->srv.workers[i]);
	ms->poll_timer = event_new(ms->base, -1, EV_PERSIST, main_on_poll, ms);
	event_add(ms->poll_timer, &tv);
}

static void
main_on_announced(evutil_socket_t fd, short what, void *arg)
{
	struct main_state *ms = arg;

	(void)fd;
	(void)what;
	main_drain(ms, "drain announced", false);
}

/* SIGTERM, POST /drain: with announce_ms, the drain is announced first:
 * /healthz answers 503 while the node goes on accepting and serving for
 * announce_ms, so that a load balancer takes it out before its listeners
 * close; then (or at once without) main_drain. */
static void
main_stop(struct main_state *ms, const char *why, unsigned announce_ms)
{
	struct timeval tv = time_ms_to_tv(announce_ms);

	if (ms->stopping)
		return;
	if (announce_ms == 0) {
		main_drain(ms, why, false);
		return;
	}
	ms->stopping = true;
	log_info("main",
	    "%s: /healthz answers 503, serving on for %u ms, then draining (up to %u ms)", why,
	    announce_ms, ms->srv.cfg->drain_timeout_ms);
	edge_notify(
	    "STOPPING=1\nSTATUS=drain announced: serving on for %u ms, then draining", announce_ms);
	atomic_store(&ms->srv.draining, true);
	ms->announce_timer = evtimer_new(ms->base, main_on_announced, ms);
	evtimer_add(ms->announce_timer, &tv);
}

static void
main_on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	edge_notify("WATCHDOG=1");
}

/* Pings the watchdog from the main loop when one applies. */
static void
main_watchdog_start(struct main_state *ms)
{
	uint64_t ms_ival = edge_notify_watchdog_ms();
	struct timeval tv = time_ms_to_tv(ms_ival);

	if (ms_ival == 0)
		return;
	ms->watchdog_timer = event_new(ms->base, -1, EV_PERSIST, main_on_watchdog, ms);
	event_add(ms->watchdog_timer, &tv);
	edge_notify("WATCHDOG=1");
}

/* The settings an old and a new process must share to hand over: the
 * listening sockets per worker and the disk tier's environment. */
static void
main_upgrade_fingerprint(const struct config *cfg, char *buf, size_t len)
{
	size_t n = (size_t)snprintf(buf, len, "node.workers %u; cache.disk %s %llu; listen",
	    cfg->workers, cfg->cache.disk_path != NULL ? cfg->cache.disk_path : "-",
	    (unsigned long long)cfg->cache.disk_bytes);

	for (size_t i = 0; i < cfg->n_listens && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, " %s%s", cfg->listens[i].address,
		    cfg->listens[i].tls ? "(tls)" : "");
}

/* Reaps a new process this one spawned and that gave up (later: it may
 * still be on its way out when the abort is seen). */
static void
main_on_reap(evutil_socket_t fd, short what, void *arg)
{
	struct main_state *ms = arg;

	(void)fd;
	(void)what;
	if (ms->up_child > 0 && ms->up_state == MAIN_UPGRADE_NONE &&
	    waitpid(ms->up_child, NULL, WNOHANG) != 0)
		ms->up_child = 0;
}

/* The old process ends an upgrade that did not complete: its disk writer
 * and admin listener come back, and it serves on. */
static void
main_upgrade_abort(struct main_state *ms, const char *why)
{
	struct timeval reap = time_ms_to_tv(1000);

	log_err("main", "upgrade: %s; this process (%d) goes on serving", why, (int)getpid());
	if (ms->up_state >= MAIN_UPGRADE_FROZEN && cache_has_disk(ms->srv.cache))
		(void)cache_disk_writing(cache_disk_tier(ms->srv.cache), true, 0);
	if (ms->up_state >= MAIN_UPGRADE_RELEASED && ms->admin == NULL)
		ms->admin = main_admin_start(ms, ms->boot);
	event_free(ms->up_ev);
	event_free(ms->up_timer);
	ms->up_ev = ms->up_timer = NULL;
	close(ms->up_sock);
	ms->up_sock = -1;
	ms->up_state = MAIN_UPGRADE_NONE;
	if (ms->up_child > 0 && waitpid(ms->up_child, NULL, WNOHANG) == 0)
		(void)event_base_once(ms->base, -1, EV_TIMEOUT, main_on_reap, ms, &reap);
	else
		ms->up_child = 0;
	edge_notify("STATUS=upgrade failed (%s); serving on", why);
}

/* The old process answers the new one, step by step (edge_upgrade.h). */
static void
main_on_upgrade_msg(evutil_socket_t fd, short what, void *arg)
{
	struct main_state *ms = arg;
	struct edge_upgrade_msg m;
	uint32_t reply = 0;
	int r;

	(void)what;
	r = edge_upgrade_recv(fd, 0, &m);
	if (r == -ETIMEDOUT)
		return;
	if (r != 0) {
		main_upgrade_abort(ms, r == -EPIPE || r == -ECONNRESET
		                           ? "the new process exited before it was ready"
		                           : strerror(-r));
		return;
	}
	if (m.fd != -1)
		close(m.fd);
	if (m.type == EDGE_UPGRADE_HELLO && ms->up_state == MAIN_UPGRADE_OFFERED) {
		ms->up_pid = (pid_t)m.a;
		log_info("main",
		    "upgrade: new process %d has the listeners; stopping the disk "
		    "tier's writes",
		    (int)ms->up_pid);
		if (cache_has_disk(ms->srv.cache) &&
		    cache_disk_writing(
		        cache_disk_tier(ms->srv.cache), false, MAIN_UPGRADE_FLUSH_MS) != 0)
			log_warn("main", "upgrade: the disk queue was not written within %u ms",
			    MAIN_UPGRADE_FLUSH_MS);
		ms->up_state = MAIN_UPGRADE_FROZEN;
		reply = EDGE_UPGRADE_FROZEN;
	} else if (m.type == EDGE_UPGRADE_ADMIN && ms->up_state == MAIN_UPGRADE_FROZEN) {
		admin_http_free(&ms->admin);
		ms->up_state = MAIN_UPGRADE_RELEASED;
		reply = EDGE_UPGRADE_RELEASED;
	} else if (m.type == EDGE_UPGRADE_READY && ms->up_state == MAIN_UPGRADE_RELEASED) {
		log_info("main", "upgrade: new process %d ready; draining", (int)ms->up_pid);
		/* the manager follows the new process from now on */
		edge_notify("MAINPID=%d\nSTATUS=handed over to %d, draining", (int)ms->up_pid,
		    (int)ms->up_pid);
		(void)edge_upgrade_send(
		    ms->up_sock, EDGE_UPGRADE_DONE, (uint32_t)getpid(), 0, NULL, -1);
		event_free(ms->up_ev);
		event_free(ms->up_timer);
		ms->up_ev = ms->up_timer = NULL;
		close(ms->up_sock);
		ms->up_sock = -1;
		main_drain(ms, "handed over to the new process", true);
		return;
	} else {
		main_upgrade_abort(ms, "a message out of turn from the new process");
		return;
	}
	r = edge_upgrade_send(ms->up_sock, reply, (uint32_t)getpid(), 0, NULL, -1);
	if (r != 0)
		main_upgrade_abort(ms, strerror(-r));
}

static void
main_on_upgrade_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	main_upgrade_abort(arg, "the new process was not ready in time");
}

/* SIGUSR2: starts the new binary and offers it the listening sockets. */
static void
main_upgrade_begin(struct main_state *ms)
{
	struct timeval snd = {MAIN_UPGRADE_FLUSH_MS / 1000, 0};
	struct timeval tv = time_ms_to_tv(EDGE_UPGRADE_WAIT_MS);
	const struct config *cfg = ms->boot;
	char fp[EDGE_UPGRADE_TEXT];
	int sv[2], r;

	if (ms->stopping || ms->up_state != MAIN_UPGRADE_NONE) {
		log_warn("main", "SIGUSR2: %s: ignored",
		    ms->stopping ? "draining" : "an upgrade is in progress");
		return;
	}
	if (ms->up_child > 0 && waitpid(ms->up_child, NULL, WNOHANG) != 0)
		ms->up_child = 0; /* a failed attempt's */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		log_err("main", "upgrade: socketpair: %s", strerror(errno));
		return;
	}
	(void)setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &snd, sizeof snd);
	log_info("main", "SIGUSR2: starting the binary again for an upgrade");
	r = ms->pd != NULL ? edge_privdrop_upgrade(ms->pd, sv[1])
	                   : edge_upgrade_spawn(sv[1], &ms->up_child);
	close(sv[1]);
	if (r != 0) {
		log_err("main", "upgrade: cannot start the new binary: %s", strerror(-r));
		close(sv[0]);
		return;
	}
	ms->up_sock = sv[0];
	ms->up_state = MAIN_UPGRADE_OFFERED;
	edge_notify("STATUS=upgrading: starting the new binary");
	main_upgrade_fingerprint(cfg, fp, sizeof fp);
	r = edge_upgrade_send(ms->up_sock, EDGE_UPGRADE_OFFER, (uint32_t)getpid(), 0, fp, -1);
	for (unsigned w = 0; w < ms->srv.n_workers && r == 0; w++)
		for (size_t i = 0; i < cfg->n_listens && r == 0; i++)
			r = edge_upgrade_send(ms->up_sock, EDGE_UPGRADE_FDS, (uint32_t)i, w, NULL,
			    ms->listen_fds[w * cfg->n_listens + i]);
	ms->up_ev = event_new(ms->base, ms->up_sock, EV_READ | EV_PERSIST, main_on_upgrade_msg, ms);
	ms->up_timer = evtimer_new(ms->base, main_on_upgrade_timeout, ms);
	event_add(ms->up_ev, NULL);
	event_add(ms->up_timer, &tv);
	if (r != 0)
		main_upgrade_abort(ms, strerror(-r));
}

/* The new process: one step of the handover, send then wait for the
 * answer.  0, or -errno (logged). */
static int
main_upgrade_ask(int sock, uint32_t type, uint32_t want, const char *what)
{
	struct edge_upgrade_msg m;
	int r = edge_upgrade_send(sock, type, (uint32_t)getpid(), 0, NULL, -1);

	if (r == 0)
		r = edge_upgrade_recv(sock, MAIN_UPGRADE_STEP_MS, &m);
	if (r == 0 && m.fd != -1)
		close(m.fd);
	if (r == 0 && m.type != want)
		r = -EPROTO;
	if (r != 0)
		log_err("main", "upgrade: %s: %s", what, strerror(-r));
	return r;
}

/* The new process: takes the offer and the listening sockets into
 * fds[worker * n_listens + listen], and the old pid.  0, or -1 (logged). */
static int
main_upgrade_take(const struct config *cfg, int sock, int *fds, pid_t *old)
{
	struct edge_upgrade_msg m;
	char fp[EDGE_UPGRADE_TEXT];
	size_t nl = cfg->n_listens, want = (size_t)cfg->workers * nl, got = 0;
	int r = edge_upgrade_recv(sock, MAIN_UPGRADE_STEP_MS, &m);

	if (r == 0 && (m.type != EDGE_UPGRADE_OFFER || m.fd != -1))
		r = -EPROTO;
	if (r != 0) {
		log_err("main", "upgrade: no offer from the running process: %s", strerror(-r));
		return -1;
	}
	*old = (pid_t)m.a;
	main_upgrade_fingerprint(cfg, fp, sizeof fp);
	if (strcmp(fp, m.text) != 0) {
		log_err("main",
		    "upgrade: the running process (%d) has \"%s\", the configuration says \"%s\": "
		    "changing those needs a restart",
		    (int)*old, m.text, fp);
		return -1;
	}
	while (got < want) {
		r = edge_upgrade_recv(sock, MAIN_UPGRADE_STEP_MS, &m);
		if (r == 0 && (m.type != EDGE_UPGRADE_FDS || m.fd == -1 || m.a >= nl ||
		                  m.b >= cfg->workers || fds[m.b * nl + m.a] != -1)) {
			if (m.fd != -1)
				close(m.fd);
			r = -EPROTO;
		}
		if (r != 0) {
			log_err("main", "upgrade: listening sockets: %s", strerror(-r));
			return -1;
		}
		fds[m.b * nl + m.a] = m.fd;
		got++;
	}
	return 0;
}

/* The new process: the admin listener, once the old one closed it. */
static struct admin_http *
main_admin_take(struct main_state *ms, const struct config *cfg)
{
	struct admin_http *h = NULL;

	for (int i = 0; i < MAIN_ADMIN_TRIES && h == NULL; i++) {
		if (i > 0)
			usleep(MAIN_ADMIN_RETRY_US);
		h = main_admin_start(ms, cfg);
	}
	return h;
}

static void
main_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct main_state *ms = arg;

	(void)what;
	switch (sig) {
	case SIGTERM:
	case SIGINT:
		if (ms->announce_timer != NULL) { /* a second signal: no more waiting */
			main_drain(ms,
			    sig == SIGTERM ? "received SIGTERM again" : "received SIGINT again",
			    false);
			return;
		}
		if (ms->stopping)
			return;
		if (ms->up_state != MAIN_UPGRADE_NONE)
			main_upgrade_abort(ms, "stopping");
		main_stop(ms, sig == SIGTERM ? "received SIGTERM" : "received SIGINT",
		    ms->srv.cfg->drain_announce_ms);
		break;
	case SIGUSR1:
		if (ms->srv.access_log_fd != -1 &&
		    edge_accesslog_reopen(ms->srv.access_log_fd, ms->boot->log.access) == 0)
			log_info("main", "access log reopened");
		edge_purge_reopen();
		break;
	case SIGUSR2:
		main_upgrade_begin(ms);
		break;
	case SIGHUP:
		if (ms->stopping)
			break;
		edge_notify_reloading("reloading the configuration");
		(void)main_reload(ms, NULL);
		main_notify_ready(ms);
		break;
	}
}

/*
 * The descriptors cfg may need at its busiest: every worker at
 * limits.connections clients, each with an origin exchange in flight, the
 * pools' idle connections, each worker's listeners and own descriptors, and
 * the process's files.  A lower soft RLIMIT_NOFILE is raised towards the
 * hard one, with room for MAIN_BODY_FILES cached bodies in files of their own
 * (cache_obj_body_file, with cache.sendfile); those get what the connections leave, but at least
 * an eighth of the limit (past it, bodies stay on the heap).  If the
 * connections' share is still short, a
 * warning says so (accept then pauses whenever descriptors run out:
 * edge_worker.c).
 */
static void
main_check_nofile(const struct config *cfg)
{
	uint64_t need = 2 * (uint64_t)cfg->max_connections * cfg->workers + MAIN_FDS_BASE;
	uint64_t want;
	struct rlimit rl;

	for (size_t i = 0; i < cfg->n_pools; i++)
		need += (uint64_t)cfg->pools[i].max_idle_per_worker * cfg->workers;
	need += (uint64_t)cfg->workers * (cfg->n_listens + MAIN_FDS_PER_WORKER);
	want = need + MAIN_BODY_FILES;
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want &&
	    (rl.rlim_max == RLIM_INFINITY || rl.rlim_max > rl.rlim_cur)) {
		struct rlimit up = rl;

		up.rlim_cur =
		    rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want ? rl.rlim_max : want;
		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			rl = up;
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want)
		main_body_files = MAIN_BODY_FILES;
	else /* what the connections leave, and never less than an eighth */
		main_body_files =
		    (unsigned)(rl.rlim_cur > need + rl.rlim_cur / 8 ? rl.rlim_cur - need
		                                                    : rl.rlim_cur / 8);
	cache_obj_files_limit(cfg->cache.sendfile ? main_body_files : 0);
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
		return;
	log_warn("main",
	    "file descriptors: the limit (RLIMIT_NOFILE) is %llu, below the %llu that "
	    "limits.connections (%u) x %u workers with their origin connections may need; "
	    "when they run out, accepting pauses for %s: raise the limit (LimitNOFILE) or "
	    "lower limits.connections",
	    (unsigned long long)rl.rlim_cur, (unsigned long long)need, cfg->max_connections,
	    cfg->workers, EDGE_ACCEPT_PAUSE_TEXT);
}

static int
main_run(struct config *cfg, const char *path)
{
	static const int sigs[] = {SIGTERM, SIGINT, SIGUSR1, SIGUSR2, SIGHUP};
	struct main_state ms;
	struct event *sigev[sizeof sigs / sizeof sigs[0]] = {0};
	struct edge_privdrop *pd = NULL;
	enum log_level lvl;
	int rc = 1;
	size_t nl = cfg->n_listens;
	int *fds = NULL;
	int up = edge_upgrade_inherited(); /* an upgrade's new process: the old one's end */
	pid_t old_pid = 0;

	memset(&ms, 0, sizeof ms);
	ms.path = path;
	ms.boot = cfg;
	ms.srv.cfg = config_ref(cfg);
	ms.srv.access_log_fd = -1;
	ms.up_sock = -1;
	edge_labels_init(&ms.srv.site_labels);
	edge_labels_init(&ms.srv.pool_labels);
	if (cfg->log.level != NULL && log_level_parse(cfg->log.level, &lvl) == 0)
		log_set_level(lvl);
	signal(SIGPIPE, SIG_IGN);
	/* first: it may fork a helper, which must not inherit threads or sockets */
	if (edge_privdrop_prepare(cfg, path, &pd) != 0) {
		config_unref(&ms.srv.cfg);
		if (up != -1)
			close(up);
		return 1;
	}
	ms.pd = pd;
	fds = xcalloc(cfg->workers * nl, sizeof *fds);
	for (size_t i = 0; i < cfg->workers * nl; i++)
		fds[i] = -1;
	ms.listen_fds = xcalloc(cfg->workers * nl, sizeof *ms.listen_fds);
	if (up != -1 && main_upgrade_take(cfg, up, fds, &old_pid) != 0)
		goto early;
	main_check_nofile(cfg);
	(void)edge_notify_open(old_pid);
	edge_notify("STATUS=starting: opening the caches, binding the listeners");
	ms.srv.conn_ip = edge_ip_counts_new();
	ms.srv.req_ip = edge_ip_counts_new();
	edge_guard_tables(&ms.srv, cfg);
	ms.base = event_base_new();
	if (ms.base == NULL) {
		log_err("main", "cannot create the main event base");
		goto early;
	}
	if (cfg->log.access != NULL) {
		ms.srv.access_log_fd = edge_accesslog_open(cfg->log.access);
		if (ms.srv.access_log_fd == -1 ||
		    edge_privdrop_chown_fd(pd, ms.srv.access_log_fd, cfg->log.access) != 0)
			goto out;
	}
	if (ms.srv.access_log_fd != -1 || cfg->log.syslog_socket != NULL) {
		size_t ring = 4096;

		while (ring < (cfg->log.buffer_bytes > 0 ? cfg->log.buffer_bytes : 1u << 20))
			ring <<= 1;
		ms.srv.alog =
		    edge_accesslog_start(&cfg->log, ms.srv.access_log_fd, cfg->workers, ring);
		if (ms.srv.alog == NULL)
			goto out;
	}
	/* the old process stops writing the disk tier before this one opens it */
	if (up != -1 &&
	    main_upgrade_ask(up, EDGE_UPGRADE_HELLO, EDGE_UPGRADE_FROZEN, "disk tier") != 0)
		goto out;
	{
		char err[256];

		if (cache_new(&cfg->cache, main_ram_shards(cfg), MAIN_FILL_SHARDS,
		        edge_worker_fill_notify, &ms.srv, &ms.srv.cache, err, sizeof err) != 0) {
			log_err("main", "cache.disk \"%s\": %s", cfg->cache.disk_path, err);
			goto out;
		}
		if (cache_has_disk(ms.srv.cache))
			log_info("main", "disk tier \"%s\" open", cfg->cache.disk_path);
	}

	if (edge_purge_start(&ms.srv, ms.base) != 0)
		goto out;
	/* the disk tier and the purge log in it go to node.user */
	if (cache_has_disk(ms.srv.cache) && edge_privdrop_chown_dir(pd, cfg->cache.disk_path) != 0)
		goto out;
	if (edge_purge_audit_fd() != -1 && cfg->purge.audit_log != NULL &&
	    edge_privdrop_chown_fd(pd, edge_purge_audit_fd(), cfg->purge.audit_log) != 0)
		goto out;

	if (cfg->n_tls_listens > 0 && (ms.srv.tls = edge_tls_new(cfg)) == NULL)
		goto out;

	/* Bind everything before any thread starts, so a bad address fails
	 * cleanly (an upgrade's new process has them all already). */
	for (unsigned w = 0; w < cfg->workers && up == -1; w++)
		for (size_t i = 0; i < nl; i++)
			if ((fds[w * nl + i] = main_listen(&cfg->listens[i])) == -1)
				goto out;
	if (up != -1 &&
	    main_upgrade_ask(up, EDGE_UPGRADE_ADMIN, EDGE_UPGRADE_RELEASED, "admin listener") != 0)
		goto out;
	if (cfg->admin.addrlen != 0) {
		ms.admin = up != -1 ? main_admin_take(&ms, cfg) : main_admin_start(&ms, cfg);
		if (ms.admin == NULL)
			goto out;
	}
	ms.srv.workers = xcalloc(cfg->workers, sizeof *ms.srv.workers);
	for (unsigned w = 0; w < cfg->workers; w++) {
		ms.srv.workers[w] = edge_worker_new(&ms.srv, w, &fds[w * nl], nl);
		for (size_t i = 0; i < nl; i++) {
			ms.listen_fds[w * nl + i] = fds[w * nl + i];
			fds[w * nl + i] = -1; /* owned by the worker now */
		}
		if (ms.srv.workers[w] == NULL)
			goto out;
		ms.srv.n_workers = w + 1;
	}
	if (edge_privdrop_apply(pd) != 0)
		goto out;
	for (size_t s = 0; s < sizeof sigs / sizeof sigs[0]; s++) {
		sigev[s] = evsignal_new(ms.base, sigs[s], main_on_signal, &ms);
		event_add(sigev[s], NULL);
	}
	for (unsigned w = 0; w < ms.srv.n_workers; w++) {
		int r = edge_worker_start(ms.srv.workers[w]);

		if (r != 0) {
			log_err("main", "cannot start worker %u: %s", w, strerror(-r));
			for (unsigned k = 0; k < w; k++)
				edge_worker_drain(ms.srv.workers[k]);
			goto out;
		}
	}
	for (size_t i = 0; i < nl; i++)
		log_info("main", "listening on %s%s", cfg->listens[i].address,
		    cfg->listens[i].tls ? " (TLS)" : "");
	if (ms.admin != NULL)
		log_info("main", "admin listening on %s", cfg->admin.address);
	log_info("main", "outpost %s node \"%s\" started with %u workers", PACKAGE_VERSION,
	    cfg->node_name, cfg->workers);
	if (up != -1) {
		/* the old process drains once it reads this, and names this one
		 * the main process to the service manager */
		if (main_upgrade_ask(up, EDGE_UPGRADE_READY, EDGE_UPGRADE_DONE, "handover") == 0)
			log_info("main", "upgrade: took over from %d", (int)old_pid);
		close(up);
		up = -1;
	}
	main_notify_ready(&ms);
	main_watchdog_start(&ms);
	main_srv_update(&ms);
	event_base_dispatch(ms.base);
	log_info("main", "stopped");
	rc = 0;
out:
	for (unsigned w = 0; w < ms.srv.n_workers; w++)
		edge_worker_drain(ms.srv.workers[w]);
	for (unsigned w = 0; w < ms.srv.n_workers; w++)
		edge_worker_join(ms.srv.workers[w]);
	for (unsigned w = 0; w < ms.srv.n_workers; w++)
		edge_worker_join_free(&ms.srv.workers[w]);
	free(ms.srv.workers);
	edge_ip_counts_free(&ms.srv.conn_ip); /* every connection closed with its worker */
	edge_ip_counts_free(&ms.srv.req_ip);
	edge_guard_tables_free(&ms.srv);
	edge_accesslog_stop(&ms.srv.alog); /* the workers' last lines are written */
	if (ms.up_sock != -1)
		main_upgrade_abort(&ms, "stopping");
	for (size_t s = 0; s < sizeof sigs / sizeof sigs[0]; s++)
		if (sigev[s] != NULL)
			event_free(sigev[s]);
	if (ms.poll_timer != NULL)
		event_free(ms.poll_timer);
	if (ms.watchdog_timer != NULL)
		event_free(ms.watchdog_timer);
	admin_http_free(&ms.admin);
	main_srv_forget(&ms);
	edge_admin_stop();
	edge_labels_fini(&ms.srv.site_labels); /* /metrics reads them */
	edge_labels_fini(&ms.srv.pool_labels);
	edge_purge_stop(); /* its remover uses the tiers; its waits, the main loop */
	event_base_free(ms.base);
	cache_free(&ms.srv.cache); /* drains the disk queue: nothing stored is lost; every
	                              fill ended with its worker */
	edge_tls_unref(&ms.srv.tls);
	origin_health_unref(&ms.srv.health);
	if (ms.srv.access_log_fd != -1)
		close(ms.srv.access_log_fd);
	config_unref(&ms.srv.cfg);
	edge_privdrop_free(&pd);
	edge_notify_close();
early:
	for (size_t i = 0; i < cfg->workers * nl; i++)
		if (fds[i] != -1)
			close(fds[i]);
	free(fds);
	free(ms.listen_fds);
	if (up != -1)
		close(up);
	if (ms.base == NULL) { /* a start that went no further */
		edge_privdrop_free(&pd);
		config_unref(&ms.srv.cfg);
	}
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"test", no_argument, NULL, 't'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *path = MAIN_DEFAULT_CONFIG;
	bool test_only = false;
	struct config *cfg = NULL;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "c:tVh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 't':
			test_only = true;
			break;
		case 'V':
			main_version();
			return 0;
		case 'h':
			main_usage(stdout);
			return 0;
		default:
			main_usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "outpost: unexpected argument \"%s\"\n", argv[optind]);
		main_usage(stderr);
		return 2;
	}
	if (!test_only)
		(void)edge_upgrade_init(path);
	if (config_load(path, &cfg, stderr) != 0 || config_check_files(cfg, stderr) != 0) {
		fprintf(stderr, "outpost: configuration %s has errors\n", path);
		config_unref(&cfg);
		return 1;
	}
	if (test_only) {
		/* also build the TLS contexts: what OpenSSL refuses fails here too */
		if (cfg->n_tls_listens > 0) {
			struct edge_tls *tls = edge_tls_new(cfg);

			if (tls == NULL) {
				fprintf(stderr, "outpost: configuration %s has errors\n", path);
				config_unref(&cfg);
				return 1;
			}
			edge_tls_unref(&tls);
		}
		printf("outpost: configuration ok (%s)\n", path);
		config_unref(&cfg);
		return 0;
	}
	rc = main_run(cfg, path);
	config_unref(&cfg);
	return rc;
}
