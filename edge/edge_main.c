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
#include "edge/edge_privdrop.h"
#include "edge/edge_purge.h"
#include "edge/edge_tls.h"
#include "edge/edge_worker.h"
#include "origin/origin_health.h"

#define MAIN_DEFAULT_CONFIG OUTPOST_SYSCONFDIR "/outpost.yaml"
/* Shards of the fill table; each keeps at most 32 hit-for-pass markers. */
#define MAIN_FILL_SHARDS 1024u
/* Descriptors besides connections: per worker (event base, eventfds, resolver,
 * health probes), and for the process (stdio, logs, LMDB, admin listener and
 * its connections, signals). */
#define MAIN_FDS_PER_WORKER 16u
#define MAIN_FDS_BASE       64u

struct main_state {
	struct edge_server srv;
	const char *path;          /* the configuration file, read again on SIGHUP */
	const struct config *boot; /* the start-up snapshot: what needs a restart */
	struct event_base *base;
	struct event *poll_timer;
	bool stopping;
};

static void
main_usage(FILE *f)
{
	fprintf(f,
	    "usage: outpost [-c FILE] [-t] [-V] [-h]\n"
	    "  -c, --config FILE  configuration file (default %s)\n"
	    "  -t, --test         check the configuration, print every error, exit 0 or 1\n"
	    "  -V, --version      print the version and the versions of the linked libraries\n"
	    "  -h, --help         print this help\n"
	    "Signals: TERM/INT drain and exit, HUP reload the configuration (the old one\n"
	    "stays when the new one has errors), USR1 reopen the access log.\n",
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

/* SIGHUP: a new snapshot in service, or the old one kept (logged). */
static void
main_reload(struct main_state *ms)
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
	r = ef != NULL ? config_load(ms->path, &ncfg, ef) : -1;
	if (ef != NULL)
		fclose(ef);
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
		return;
	}
	(void)main_needs_restart(ms->boot, ncfg);
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
}

static void
main_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct main_state *ms = arg;
	struct timeval tv = time_ms_to_tv(50);

	(void)what;
	switch (sig) {
	case SIGTERM:
	case SIGINT:
		if (ms->stopping)
			return;
		ms->stopping = true;
		log_info("main", "received %s: draining (up to %u ms)",
		    sig == SIGTERM ? "SIGTERM" : "SIGINT", ms->srv.cfg->drain_timeout_ms);
		atomic_store(&ms->srv.draining, true);
		for (unsigned i = 0; i < ms->srv.n_workers; i++)
			edge_worker_drain(ms->srv.workers[i]);
		ms->poll_timer = event_new(ms->base, -1, EV_PERSIST, main_on_poll, ms);
		event_add(ms->poll_timer, &tv);
		break;
	case SIGUSR1:
		if (ms->srv.access_log_fd != -1 &&
		    edge_accesslog_reopen(ms->srv.access_log_fd, ms->boot->log.access) == 0)
			log_info("main", "access log reopened");
		edge_purge_reopen();
		break;
	case SIGHUP:
		if (!ms->stopping)
			main_reload(ms);
		break;
	}
}

/*
 * The descriptors cfg may need at its busiest: every worker at
 * limits.connections clients, each with an origin exchange in flight, the
 * pools' idle connections, each worker's listeners and own descriptors, and
 * the process's files.  A lower soft RLIMIT_NOFILE is raised towards the
 * hard one; if that is still short, a warning says so (accept then pauses
 * whenever descriptors run out: edge_worker.c).
 */
static void
main_check_nofile(const struct config *cfg)
{
	uint64_t need = 2 * (uint64_t)cfg->max_connections * cfg->workers + MAIN_FDS_BASE;
	struct rlimit rl;

	for (size_t i = 0; i < cfg->n_pools; i++)
		need += (uint64_t)cfg->pools[i].max_idle_per_worker * cfg->workers;
	need += (uint64_t)cfg->workers * (cfg->n_listens + MAIN_FDS_PER_WORKER);
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur >= need)
		return;
	if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max > rl.rlim_cur) {
		struct rlimit up = rl;

		up.rlim_cur =
		    rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need ? rl.rlim_max : need;
		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			rl = up;
	}
	if (rl.rlim_cur >= need)
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
	static const int sigs[] = {SIGTERM, SIGINT, SIGUSR1, SIGHUP};
	struct main_state ms;
	struct event *sigev[sizeof sigs / sizeof sigs[0]] = {0};
	struct evhttp *admin = NULL;
	struct edge_privdrop *pd = NULL;
	enum log_level lvl;
	int rc = 1;
	size_t nl = cfg->n_listens;
	int *fds = NULL;

	memset(&ms, 0, sizeof ms);
	ms.path = path;
	ms.boot = cfg;
	ms.srv.cfg = config_ref(cfg);
	ms.srv.access_log_fd = -1;
	if (cfg->log.level != NULL && log_level_parse(cfg->log.level, &lvl) == 0)
		log_set_level(lvl);
	signal(SIGPIPE, SIG_IGN);
	/* first: it may fork a helper, which must not inherit threads or sockets */
	if (edge_privdrop_prepare(cfg, path, &pd) != 0) {
		config_unref(&ms.srv.cfg);
		return 1;
	}
	main_check_nofile(cfg);
	ms.srv.conn_ip = edge_ip_counts_new();
	ms.base = event_base_new();
	if (ms.base == NULL) {
		log_err("main", "cannot create the main event base");
		return 1;
	}
	if (cfg->log.access != NULL) {
		ms.srv.access_log_fd = edge_accesslog_open(cfg->log.access);
		if (ms.srv.access_log_fd == -1 ||
		    edge_privdrop_chown_fd(pd, ms.srv.access_log_fd, cfg->log.access) != 0)
			goto out;
	}
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

	/* Bind everything before any thread starts, so a bad address fails cleanly. */
	fds = xcalloc(cfg->workers * nl, sizeof *fds);
	for (size_t i = 0; i < cfg->workers * nl; i++)
		fds[i] = -1;
	for (unsigned w = 0; w < cfg->workers; w++)
		for (size_t i = 0; i < nl; i++)
			if ((fds[w * nl + i] = main_listen(&cfg->listens[i])) == -1)
				goto out;
	if (cfg->admin.addrlen != 0) {
		admin = edge_admin_start(ms.base, &ms.srv, &cfg->admin);
		if (admin == NULL)
			goto out;
	}
	ms.srv.workers = xcalloc(cfg->workers, sizeof *ms.srv.workers);
	for (unsigned w = 0; w < cfg->workers; w++) {
		ms.srv.workers[w] = edge_worker_new(&ms.srv, w, &fds[w * nl], nl);
		for (size_t i = 0; i < nl; i++)
			fds[w * nl + i] = -1; /* owned by the worker now */
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
	if (admin != NULL)
		log_info("main", "admin listening on %s", cfg->admin.address);
	log_info("main", "outpost %s node \"%s\" started with %u workers", PACKAGE_VERSION,
	    cfg->node_name, cfg->workers);
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
	if (fds != NULL)
		for (size_t i = 0; i < cfg->workers * nl; i++)
			if (fds[i] != -1)
				close(fds[i]);
	free(fds);
	for (size_t s = 0; s < sizeof sigs / sizeof sigs[0]; s++)
		if (sigev[s] != NULL)
			event_free(sigev[s]);
	if (ms.poll_timer != NULL)
		event_free(ms.poll_timer);
	if (admin != NULL)
		evhttp_free(admin);
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
	if (config_load(path, &cfg, stderr) != 0) {
		fprintf(stderr, "outpost: configuration %s has errors\n", path);
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
