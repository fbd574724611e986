/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * ctl/outpostctl.c — outpostctl, the operator's and content owner's tool: it
 * talks to a node's admin listener (purge, status, stats, health).
 *
 * Settings come from, first to last: the flags, the environment
 * (OUTPOST_ADMIN, OUTPOST_TOKEN), the file (-c, OUTPOSTCTL_CONF, else
 * <sysconfdir>/outpost/outpostctl.conf, which may be missing) and the default
 * admin address 127.0.0.1:9090.  The token is never printed.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_value.h"
#include "core/xmalloc.h"
#include "ctl/ctl_cmd.h"
#include "ctl/ctl_ops.h"

#define CTL_DEFAULT_ADMIN        "127.0.0.1:9090"
#define CTL_DEFAULT_TIMEOUT      10000 /* ms */
#define CTL_CONF_DEFAULT         OUTPOST_SYSCONFDIR "/outpostctl.conf"
#define CTL_DEFAULT_NODE         "127.0.0.1:80"
#define CTL_TOP_INTERVAL         1000 /* ms */
#define CTL_WARM_CONCURRENCY     8
#define CTL_WARM_MAX_CONCURRENCY 1024

/* The settings file's values (owned strings; NULL: not set). */
struct ctl_conf {
	char *admin, *token_file;
};

static void
ctl_usage(FILE *f)
{
	fprintf(f,
	    "usage: outpostctl [options] purge URL... | --prefix P | --host H | --tag T | --all\n"
	    "                  [--soft] [--wait DURATION] [--json]\n"
	    "       outpostctl [options] status [--json]\n"
	    "       outpostctl [options] stats [--json] [FILTER]\n"
	    "       outpostctl [options] health\n"
	    "       outpostctl [options] drain [--announce DURATION] [--json]\n"
	    "       outpostctl [options] reload [--json]\n"
	    "       outpostctl [options] upgrade [--pid PID | --pidfile FILE]\n"
	    "       outpostctl [options] top [--once | --iterations N] [--interval DURATION]\n"
	    "       outpostctl [options] warm [--node ADDR] [--rate N] [--concurrency N] FILE\n"
	    "\n"
	    "Talks to an Outpost node's admin listener.\n"
	    "\n"
	    "options:\n"
	    "  -a, --admin ADDR      admin listener, host:port or [v6]:port (OUTPOST_ADMIN;\n"
	    "                        default " CTL_DEFAULT_ADMIN ")\n"
	    "  -T, --token TOKEN     purge or operator token (OUTPOST_TOKEN); prefer\n"
	    "                        --token-file\n"
	    "      --token-file FILE read the token from FILE (its first line)\n"
	    "      --timeout DURATION  for the whole exchange (default 10s; 250ms, 5s, 1m)\n"
	    "  -c, --config FILE     settings file (OUTPOSTCTL_CONF; default\n"
	    "                        " CTL_CONF_DEFAULT ")\n"
	    "      --json            print the node's JSON\n"
	    "  -h, --help            this help\n"
	    "  -V, --version         the version\n"
	    "\n"
	    "purge: URL... every variant of each URL; --prefix, --host, --tag (each may be\n"
	    "repeated) and --all select more; --soft marks them stale instead; --wait D\n"
	    "waits up to D for every node of the fleet to apply the purge.\n"
	    "drain: the node answers /healthz with 503, serves on for --announce (default\n"
	    "its timeouts.drain_announce) so that load balancers move clients away, then\n"
	    "closes its listeners, finishes what is in flight (at most timeouts.drain)\n"
	    "and exits.  reload: the node reads its configuration\n"
	    "file again, as on SIGHUP.  Both need an operator token (all: true).\n"
	    "\n"
	    "top: a live view (req/s, hit ratio by tier, bandwidth, origin, latency, cache,\n"
	    "sites, hosts, members) redrawn every --interval (default 1s) until Ctrl-C;\n"
	    "--once draws one frame, --iterations N draws N.\n"
	    "\n"
	    "warm: GETs every http:// URL of FILE (\"-\": standard input) through the node's\n"
	    "client listener (--node, default " CTL_DEFAULT_NODE "), at most --rate a second\n"
	    "(default: no bound) and --concurrency at a time (default 8), each within\n"
	    "--timeout; a progress bar on a terminal.  Exit 1 when any URL failed.\n"
	    "\n"
	    "upgrade: SIGUSR2 to the node's process (--pid, --pidfile, or the pid a local\n"
	    "node reports), then waits (--timeout) until it has handed over and exited.\n"
	    "\n"
	    "exit status: 0 success, 1 the node answered with an error, 2 usage or\n"
	    "settings error, 3 no answer (connection refused, timeout, malformed reply),\n"
	    "4 reload: the configuration was rejected (its errors on stderr; the running\n"
	    "one stays).\n");
}

static void
ctl_conf_free(struct ctl_conf *cf)
{
	free(cf->admin);
	free(cf->token_file);
}

/*
 * Reads "key = value" lines ('#' starts a comment line); keys admin and
 * token_file.  A missing file is fine unless it was named (must_exist).
 * 0, or -1 after printing "file:line: reason".
 */
static int
ctl_conf_load(const char *path, bool must_exist, struct ctl_conf *cf)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	unsigned lineno = 0;
	int rc = 0;

	if (f == NULL) {
		if (errno == ENOENT && !must_exist)
			return 0;
		fprintf(stderr, "outpostctl: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (rc == 0 && fgets(line, sizeof line, f) != NULL) {
		char *p = line, *eq, *key, *val, *end;
		char **slot;

		lineno++;
		p += strspn(p, " \t");
		if (*p == '#' || *p == '\n' || *p == '\0')
			continue;
		eq = strchr(p, '=');
		if (eq == NULL) {
			fprintf(
			    stderr, "outpostctl: %s:%u: expected \"key = value\"\n", path, lineno);
			rc = -1;
			break;
		}
		key = p;
		for (end = eq; end > key && (end[-1] == ' ' || end[-1] == '\t'); end--)
			;
		*end = '\0';
		val = eq + 1 + strspn(eq + 1, " \t");
		for (end = val + strlen(val); end > val && (end[-1] == '\n' || end[-1] == '\r' ||
		                                               end[-1] == ' ' || end[-1] == '\t');
		     end--)
			;
		*end = '\0';
		if (strcmp(key, "admin") == 0) {
			slot = &cf->admin;
		} else if (strcmp(key, "token_file") == 0) {
			slot = &cf->token_file;
		} else {
			fprintf(stderr,
			    "outpostctl: %s:%u: unknown key \"%.40s\" (admin, token_file)\n", path,
			    lineno, key);
			rc = -1;
			break;
		}
		if (*val == '\0') {
			fprintf(stderr, "outpostctl: %s:%u: %s: empty value\n", path, lineno, key);
			rc = -1;
			break;
		}
		free(*slot);
		*slot = xstrdup(val);
	}
	fclose(f);
	return rc;
}

/* The first line of path, without its line end: the token (caller frees).
 * NULL after printing why. */
static char *
ctl_token_read(const char *path)
{
	FILE *f = fopen(path, "r");
	char buf[4096];
	size_t n;

	if (f == NULL) {
		fprintf(stderr, "outpostctl: token file %s: %s\n", path, strerror(errno));
		return NULL;
	}
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		buf[--n] = '\0';
	if (n == 0) {
		fprintf(stderr, "outpostctl: token file %s: empty\n", path);
		return NULL;
	}
	return xstrdup(buf);
}

/* A token may not carry bytes that would break the request head. */
static bool
ctl_token_ok(const char *t)
{
	for (; *t != '\0'; t++)
		if ((unsigned char)*t <= ' ' || *t == 0x7f)
			return false;
	return true;
}

enum {
	OPT_TOKEN_FILE = 256,
	OPT_TIMEOUT,
	OPT_JSON,
	OPT_PREFIX,
	OPT_HOST,
	OPT_TAG,
	OPT_ALL,
	OPT_SOFT,
	OPT_WAIT,
	OPT_PID,
	OPT_PIDFILE,
	OPT_NODE,
	OPT_RATE,
	OPT_CONCURRENCY,
	OPT_ONCE,
	OPT_ITERATIONS,
	OPT_INTERVAL,
	OPT_ANNOUNCE,
};

static const struct option ctl_options[] = {
    {"admin", required_argument, NULL, 'a'},
    {"token", required_argument, NULL, 'T'},
    {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"config", required_argument, NULL, 'c'},
    {"json", no_argument, NULL, OPT_JSON},
    {"prefix", required_argument, NULL, OPT_PREFIX},
    {"host", required_argument, NULL, OPT_HOST},
    {"tag", required_argument, NULL, OPT_TAG},
    {"all", no_argument, NULL, OPT_ALL},
    {"soft", no_argument, NULL, OPT_SOFT},
    {"wait", required_argument, NULL, OPT_WAIT},
    {"pid", required_argument, NULL, OPT_PID},
    {"pidfile", required_argument, NULL, OPT_PIDFILE},
    {"node", required_argument, NULL, OPT_NODE},
    {"rate", required_argument, NULL, OPT_RATE},
    {"concurrency", required_argument, NULL, OPT_CONCURRENCY},
    {"once", no_argument, NULL, OPT_ONCE},
    {"iterations", required_argument, NULL, OPT_ITERATIONS},
    {"interval", required_argument, NULL, OPT_INTERVAL},
    {"announce", required_argument, NULL, OPT_ANNOUNCE},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

static int
ctl_usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "outpostctl: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n(outpostctl --help for usage)\n");
	return CTL_EXIT_USAGE;
}

static void
ctl_push(const char ***v, size_t *n, const char *s)
{
	*v = xrealloc(*v, (*n + 1) * sizeof **v);
	(*v)[(*n)++] = s;
}

static int
ctl_duration(const char *opt, const char *s, uint64_t *ms)
{
	char err[CONFIG_VALUE_ERRLEN];

	if (config_value_duration_ms(s, ms, err, sizeof err) == -1) {
		fprintf(stderr, "outpostctl: %s: %s\n(outpostctl --help for usage)\n", opt, err);
		return -1;
	}
	return 0;
}

/* Everything main() collects, freed by ctl_run's caller. */
struct ctl_args {
	const char *admin, *token, *token_file, *conf;
	struct ctl_purge_args purge;
	bool purge_opts; /* a purge-only option was given */
	struct ctl_upgrade_args upgrade;
	bool upgrade_opts; /* an upgrade-only option was given */
	struct ctl_warm_args warm;
	bool warm_opts; /* a warm-only option was given */
	struct ctl_top_args top;
	bool top_opts;       /* a top-only option was given */
	int64_t announce_ms; /* drain --announce, or -1 */
	struct ctl_ctx ctx;
};

static int
ctl_run(int argc, char **argv, struct ctl_args *a, struct ctl_conf *cf, char **token_owned)
{
	const char *env, *cmd;
	char err[CONFIG_VALUE_ERRLEN], *host = NULL;
	uint16_t port;
	int ch;

	a->ctx.timeout_ms = CTL_DEFAULT_TIMEOUT;
	a->announce_ms = -1;
	while ((ch = getopt_long(argc, argv, "a:T:c:hV", ctl_options, NULL)) != -1) {
		switch (ch) {
		case 'a':
			a->admin = optarg;
			break;
		case 'T':
			a->token = optarg;
			break;
		case OPT_TOKEN_FILE:
			a->token_file = optarg;
			break;
		case 'c':
			a->conf = optarg;
			break;
		case OPT_TIMEOUT:
			if (ctl_duration("--timeout", optarg, &a->ctx.timeout_ms) == -1)
				return CTL_EXIT_USAGE;
			if (a->ctx.timeout_ms == 0)
				return ctl_usage_error("--timeout: must be more than 0%s", "");
			break;
		case OPT_JSON:
			a->ctx.json = true;
			break;
		case OPT_PREFIX:
			ctl_push(&a->purge.prefixes, &a->purge.n_prefixes, optarg);
			a->purge_opts = true;
			break;
		case OPT_HOST:
			ctl_push(&a->purge.hosts, &a->purge.n_hosts, optarg);
			a->purge_opts = true;
			break;
		case OPT_TAG:
			ctl_push(&a->purge.tags, &a->purge.n_tags, optarg);
			a->purge_opts = true;
			break;
		case OPT_ALL:
			a->purge.all = a->purge_opts = true;
			break;
		case OPT_SOFT:
			a->purge.soft = a->purge_opts = true;
			break;
		case OPT_WAIT:
			if (ctl_duration("--wait", optarg, &a->purge.wait_ms) == -1)
				return CTL_EXIT_USAGE;
			a->purge_opts = true;
			break;
		case OPT_PID: {
			char *end;

			a->upgrade.pid = strtol(optarg, &end, 10);
			if (end == optarg || *end != '\0' || a->upgrade.pid <= 0)
				return ctl_usage_error(
				    "--pid: \"%.40s\" is not a process id", optarg);
			a->upgrade_opts = true;
			break;
		}
		case OPT_PIDFILE:
			a->upgrade.pidfile = optarg;
			a->upgrade_opts = true;
			break;
		case OPT_NODE:
			a->warm.node = optarg;
			a->warm_opts = true;
			break;
		case OPT_RATE: {
			char *end;

			a->warm.rate = strtod(optarg, &end);
			if (end == optarg || *end != '\0' || !(a->warm.rate > 0) ||
			    a->warm.rate > 1e6)
				return ctl_usage_error(
				    "--rate: \"%.40s\" is not a rate above 0 (requests a second)",
				    optarg);
			a->warm_opts = true;
			break;
		}
		case OPT_CONCURRENCY: {
			uint64_t v;

			if (config_value_uint(optarg, &v) == -1 || v == 0 ||
			    v > CTL_WARM_MAX_CONCURRENCY)
				return ctl_usage_error(
				    "--concurrency: \"%.40s\" is not 1..1024", optarg);
			a->warm.concurrency = (unsigned)v;
			a->warm_opts = true;
			break;
		}
		case OPT_ONCE:
			a->top.iterations = 1;
			a->top_opts = true;
			break;
		case OPT_ITERATIONS: {
			uint64_t v;

			if (config_value_uint(optarg, &v) == -1 || v == 0 || v > 1000000)
				return ctl_usage_error(
				    "--iterations: \"%.40s\" is not 1..1000000", optarg);
			a->top.iterations = (unsigned)v;
			a->top_opts = true;
			break;
		}
		case OPT_ANNOUNCE: {
			uint64_t ms;

			if (ctl_duration("--announce", optarg, &ms) == -1)
				return CTL_EXIT_USAGE;
			if (ms > 3600 * 1000)
				return ctl_usage_error("--announce: at most 1h%s", "");
			a->announce_ms = (int64_t)ms;
			break;
		}
		case OPT_INTERVAL:
			if (ctl_duration("--interval", optarg, &a->top.interval_ms) == -1)
				return CTL_EXIT_USAGE;
			if (a->top.interval_ms < 100)
				return ctl_usage_error("--interval: at least 100ms%s", "");
			a->top_opts = true;
			break;
		case 'h':
			ctl_usage(stdout);
			return CTL_EXIT_OK;
		case 'V':
			printf("outpostctl %s\n", PACKAGE_VERSION);
			return CTL_EXIT_OK;
		default:
			fprintf(stderr, "(outpostctl --help for usage)\n");
			return CTL_EXIT_USAGE;
		}
	}
	if (optind == argc)
		return ctl_usage_error("no command (purge, status, stats, health, drain, reload, "
		                       "top, upgrade, warm)%s",
		    "");
	cmd = argv[optind++];
	if (strcmp(cmd, "purge") != 0 && a->purge_opts)
		return ctl_usage_error(
		    "%s: --prefix, --host, --tag, --all, --soft and --wait are for purge", cmd);
	if (strcmp(cmd, "upgrade") != 0 && a->upgrade_opts)
		return ctl_usage_error("%s: --pid and --pidfile are for upgrade", cmd);
	if (strcmp(cmd, "top") != 0 && a->top_opts)
		return ctl_usage_error("%s: --once, --iterations and --interval are for top", cmd);
	if (strcmp(cmd, "drain") != 0 && a->announce_ms >= 0)
		return ctl_usage_error("%s: --announce is for drain", cmd);
	if (strcmp(cmd, "warm") != 0 && a->warm_opts)
		return ctl_usage_error("%s: --node, --rate and --concurrency are for warm", cmd);

	/* the settings: flags, then the environment, then the file */
	if (a->conf == NULL)
		a->conf = getenv("OUTPOSTCTL_CONF");
	if (ctl_conf_load(a->conf != NULL ? a->conf : CTL_CONF_DEFAULT, a->conf != NULL, cf) == -1)
		return CTL_EXIT_USAGE;
	env = getenv("OUTPOST_ADMIN");
	a->ctx.admin = a->admin != NULL                ? a->admin
	               : env != NULL && env[0] != '\0' ? env
	               : cf->admin != NULL             ? cf->admin
	                                               : CTL_DEFAULT_ADMIN;
	if (config_value_hostport(a->ctx.admin, &host, &port, err, sizeof err) == -1)
		return ctl_usage_error("admin address %s", err);
	free(host);
	env = getenv("OUTPOST_TOKEN");
	if (a->token != NULL) {
		a->ctx.token = a->token;
	} else if (a->token_file != NULL) {
		a->ctx.token = *token_owned = ctl_token_read(a->token_file);
		if (a->ctx.token == NULL)
			return CTL_EXIT_USAGE;
	} else if (env != NULL && env[0] != '\0') {
		a->ctx.token = env;
	} else if (cf->token_file != NULL &&
	           (strcmp(cmd, "purge") == 0 || strcmp(cmd, "drain") == 0 ||
	               strcmp(cmd, "reload") == 0)) {
		a->ctx.token = *token_owned = ctl_token_read(cf->token_file);
		if (a->ctx.token == NULL)
			return CTL_EXIT_USAGE;
	}

	if (strcmp(cmd, "purge") == 0) {
		for (; optind < argc; optind++)
			ctl_push(&a->purge.urls, &a->purge.n_urls, argv[optind]);
		if (a->purge.n_urls + a->purge.n_prefixes + a->purge.n_hosts + a->purge.n_tags ==
		        0 &&
		    !a->purge.all)
			return ctl_usage_error(
			    "purge: nothing to purge (URL..., --prefix, --host, --tag or --all)%s",
			    "");
		if (a->ctx.token == NULL)
			return ctl_usage_error(
			    "purge: no token (--token-file, -T, OUTPOST_TOKEN or "
			    "token_file in %s)",
			    a->conf != NULL ? a->conf : CTL_CONF_DEFAULT);
		if (!ctl_token_ok(a->ctx.token))
			return ctl_usage_error(
			    "purge: the token has spaces or control bytes%s", "");
		return ctl_cmd_purge(&a->ctx, &a->purge);
	}
	if (strcmp(cmd, "stats") == 0) {
		if (argc - optind > 1)
			return ctl_usage_error("stats: one FILTER at most%s", "");
		return ctl_cmd_stats(&a->ctx, optind < argc ? argv[optind] : NULL);
	}
	if (strcmp(cmd, "top") == 0) {
		if (optind < argc)
			return ctl_usage_error("top takes no argument%s", "");
		if (a->top.interval_ms == 0)
			a->top.interval_ms = CTL_TOP_INTERVAL;
		return ctl_ops_top(&a->ctx, &a->top);
	}
	if (strcmp(cmd, "warm") == 0) {
		if (argc - optind != 1)
			return ctl_usage_error(
			    "warm: one FILE of URLs (\"-\": standard input)%s", "");
		a->warm.file = argv[optind];
		if (a->warm.node == NULL)
			a->warm.node = CTL_DEFAULT_NODE;
		if (a->warm.concurrency == 0)
			a->warm.concurrency = CTL_WARM_CONCURRENCY;
		return ctl_ops_warm(&a->ctx, &a->warm);
	}
	if (strcmp(cmd, "upgrade") == 0) {
		if (optind < argc)
			return ctl_usage_error("upgrade takes no argument%s", "");
		return ctl_ops_upgrade(&a->ctx, &a->upgrade);
	}
	if (strcmp(cmd, "status") != 0 && strcmp(cmd, "health") != 0 && strcmp(cmd, "drain") != 0 &&
	    strcmp(cmd, "reload") != 0)
		return ctl_usage_error("unknown command \"%.40s\" (purge, status, stats, health, "
		                       "drain, reload, top, upgrade, warm)",
		    cmd);
	if (optind < argc)
		return ctl_usage_error("%s takes no argument", cmd);
	if (strcmp(cmd, "drain") == 0 || strcmp(cmd, "reload") == 0) {
		if (a->ctx.token == NULL)
			return ctl_usage_error("%s: no operator token (--token-file, -T, "
			                       "OUTPOST_TOKEN or token_file in the settings file)",
			    cmd);
		if (!ctl_token_ok(a->ctx.token))
			return ctl_usage_error("the token has spaces or control bytes%s", "");
		return strcmp(cmd, "drain") == 0 ? ctl_cmd_drain(&a->ctx, a->announce_ms)
		                                 : ctl_cmd_reload(&a->ctx);
	}
	if (strcmp(cmd, "health") == 0) {
		if (a->ctx.json)
			return ctl_usage_error("health: no --json (the body is one word)%s", "");
		return ctl_cmd_health(&a->ctx);
	}
	return ctl_cmd_status(&a->ctx);
}

int
main(int argc, char **argv)
{
	struct ctl_args a = {0};
	struct ctl_conf cf = {0};
	char *token = NULL;
	int rc = ctl_run(argc, argv, &a, &cf, &token);

	if (token != NULL) {
		explicit_bzero(token, strlen(token));
		free(token);
	}
	free(a.purge.urls);
	free(a.purge.prefixes);
	free(a.purge.hosts);
	free(a.purge.tags);
	ctl_conf_free(&cf);
	return rc;
}
