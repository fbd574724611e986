/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/config/test_config.c — the configuration loader: the full shape,
 * defaults, the documented sample, every error class with its exact text,
 * several errors at once, host and route lookup, reference counting.
 *
 * Inline cases are written to a temporary file whose name is replaced by "F"
 * in the captured error text, so expectations read "F:3:5: key: reason".
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "core/assert.h"
#include "tests/unit/tap.h"

#ifndef CONFIG_FIXTURES
#define CONFIG_FIXTURES "tests/unit/config"
#endif
#ifndef CONFIG_SAMPLE
#define CONFIG_SAMPLE "config/outpost.yaml"
#endif

static char test_tmp[64];

/* Loads path; returns config_load's result, the errors in *errs (malloc'd,
 * every occurrence of path replaced by "F"). */
static int
load_file(const char *path, struct config **out, char **errs)
{
	char *buf = NULL, *res, *p;
	size_t len = 0, plen = strlen(path), n = 0;
	FILE *f = open_memstream(&buf, &len);
	int rc;

	rc = config_load(path, out, f);
	fclose(f);
	res = malloc(len + 1);
	for (p = buf; *p != '\0';) {
		if (strncmp(p, path, plen) == 0) {
			res[n++] = 'F';
			p += plen;
		} else {
			res[n++] = *p++;
		}
	}
	res[n] = '\0';
	free(buf);
	*errs = res;
	return rc;
}

static int
load_str(const char *yaml, struct config **out, char **errs)
{
	FILE *f = fopen(test_tmp, "w");

	fputs(yaml, f);
	fclose(f);
	return load_file(test_tmp, out, errs);
}

/* The minimal valid document; cases append or replace sections. */
#define BASE_LISTEN "listen: [{ address: \"127.0.0.1:8080\" }]\n"
#define BASE_SITES  "sites: [{ name: s, hosts: [\"*\"], pool: p }]\n"
#define BASE_POOLS  "pools: [{ name: p, members: [{ address: \"127.0.0.1:8081\" }] }]\n"
#define BASE        BASE_LISTEN BASE_SITES BASE_POOLS

struct err_case {
	const char *what;
	const char *yaml;
	const char *errs;
};

/* Every error class, each with its exact text. */
static const struct err_case err_cases[] = {
    {"yaml syntax", BASE "cache: { ram: 1MiB\n",
        "F:5:1: yaml: did not find expected ',' or '}' (while parsing a flow mapping at "
        "line 4, column 8)\n"},
    {"yaml scanner", BASE "node: \"abc\n",
        "F:5:1: yaml: found unexpected end of stream (while scanning a quoted scalar at "
        "line 4, column 7)\n"},
    {"two documents", BASE "---\n" BASE, "F:4:1: yaml: only one document is allowed\n"},
    {"anchor without alias", BASE "node: &n { name: a }\n", ""},
    {"alias use", BASE "node: { name: &n a, workers: *n }\n",
        "F:4:30: yaml: aliases are not supported (\"*n\")\n"},
    {"empty file", "# nothing\n", "F:1:1: top level: the file is empty\n"},
    {"top level not a mapping", "- a\n- b\n",
        "F:1:1: top level: expected a mapping, got a sequence\n"},
    {"unknown top key", BASE "cahce: {}\n", "F:4:1: cahce: unknown key\n"},
    {"unknown nested key", BASE "cache: { ram: 1MiB, rma: 2MiB }\n",
        "F:4:21: cache.rma: unknown key\n"},
    {"duplicate key", BASE "cache:\n  ram: 1MiB\n  ram: 2MiB\n",
        "F:6:3: cache.ram: duplicate key (first at line 5, column 3)\n"},
    {"duplicate top key", BASE BASE_LISTEN,
        "F:4:1: listen: duplicate key (first at line 1, column 1)\n"},
    {"mapping for scalar", BASE "cache: { ram: { a: 1 } }\n",
        "F:4:15: cache.ram: expected a scalar, got a mapping\n"},
    {"scalar for mapping", BASE "cache: 1MiB\n",
        "F:4:8: cache: expected a mapping, got a scalar\n"},
    {"scalar for sequence", "listen: \"127.0.0.1:1\"\n" BASE_SITES BASE_POOLS,
        "F:1:9: listen: expected a sequence, got a scalar\n"},
    {"empty sequence", "listen: []\n" BASE_SITES BASE_POOLS, "F:1:9: listen: must not be empty\n"},
    {"size unit", BASE "cache: { ram: 12XB }\n",
        "F:4:15: cache.ram: invalid size \"12XB\": unknown unit \"XB\" (use B, KiB, MiB, "
        "GiB or TiB)\n"},
    {"size decimal unit", BASE "cache: { ram: 1GB }\n",
        "F:4:15: cache.ram: invalid size \"1GB\": use KiB/MiB/GiB (powers of 1024)\n"},
    {"size not a number", BASE "cache: { max_object: big }\n",
        "F:4:22: cache.max_object: invalid size \"big\": expected an integer with an optional "
        "unit (B, KiB, MiB, GiB, TiB)\n"},
    {"range_fill_max not a size", BASE "cache: { range_fill_max: all }\n",
        "F:4:26: cache.range_fill_max: invalid size \"all\": expected an integer with an "
        "optional unit (B, KiB, MiB, GiB, TiB)\n"},
    {"fill_memory zero", BASE "cache: { fill_memory: 0 }\n",
        "F:4:23: cache.fill_memory: \"0\" is out of range (1B..1024TiB)\n"},
    {"size overflow", BASE "limits: { body: 99999999999TiB }\n",
        "F:4:17: limits.body: invalid size \"99999999999TiB\": too large\n"},
    {"size range", BASE "limits: { request_line: 2MiB }\n",
        "F:4:25: limits.request_line: \"2MiB\" is out of range (16B..1MiB)\n"},
    {"duration unit required", BASE "timeouts: { idle: 60 }\n",
        "F:4:19: timeouts.idle: invalid duration \"60\": a unit is required (ms, s, m, h)\n"},
    {"duration zero needs unit", BASE "timeouts: { drain: 0 }\n",
        "F:4:20: timeouts.drain: invalid duration \"0\": a unit is required (ms, s, m, h)\n"},
    {"duration bad unit", BASE "timeouts: { idle: 5d }\n",
        "F:4:19: timeouts.idle: invalid duration \"5d\": unknown unit \"d\" (use ms, s, m or "
        "h)\n"},
    {"duration range", BASE "timeouts: { header: 0s }\n",
        "F:4:21: timeouts.header: \"0s\" is out of range (1ms..24h)\n"},
    {"duration whole seconds", BASE "resolver: { min_ttl: 1500ms }\n",
        "F:4:22: resolver.min_ttl: \"1500ms\" is not a whole number of seconds\n"},
    {"ttl order", BASE "resolver: { min_ttl: 1m, max_ttl: 30s }\n",
        "F:4:35: resolver.max_ttl: must not be less than resolver.min_ttl\n"},
    {"workers", BASE "node: { workers: 300 }\n",
        "F:4:18: node.workers: 300 is out of range (1..256)\n"},
    {"workers word", BASE "node: { workers: many }\n",
        "F:4:18: node.workers: invalid value \"many\" (expected \"auto\" or 1..256)\n"},
    {"bool",
        BASE_LISTEN BASE_POOLS
        "sites: [{ name: s, hosts: [\"*\"], routes: [{ path: /, pool: p, cache: { enabled: "
        "yes } }] }]\n",
        "F:3:81: sites[0].routes[0].cache.enabled: expected true or false, got \"yes\"\n"},
    {"level", BASE "log: { level: verbose }\n",
        "F:4:15: log.level: invalid level \"verbose\" (expected error, warn, info or "
        "debug)\n"},
    {"balancer",
        BASE_LISTEN BASE_SITES
        "pools: [{ name: p, balancer: random, members: [{ address: \"a:1\" }] }]\n",
        "F:3:30: pools[0].balancer: unknown balancer \"random\" (expected round_robin, least_conn, "
        "random_two_choices, ip_hash, consistent_hash or ewma)\n"},
    {"hash_key",
        BASE_LISTEN BASE_SITES
        "pools: [{ name: p, balancer: consistent_hash, hash_key: cookie, members: [{ address: "
        "\"a:1\" }] }]\n",
        "F:3:57: pools[0].hash_key: unknown hash key \"cookie\" (expected uri, host or "
        "client_ip)\n"},
    {"hash_key without consistent_hash",
        BASE_LISTEN BASE_SITES
        "pools: [{ name: p, hash_key: uri, members: [{ address: \"a:1\" }] }]\n",
        "F:3:30: pools[0].hash_key: only used with balancer: consistent_hash\n"},
    {"all backup",
        BASE_LISTEN BASE_SITES
        "pools: [{ name: p, members: [{ address: \"a:1\", backup: true }] }]\n",
        "F:3:29: pools[0].members: needs at least one member without \"backup: true\"\n"},
    {"retries range",
        BASE_LISTEN BASE_SITES
        "pools: [{ name: p, retries: 9, members: [{ address: \"a:1\" }] }]\n",
        "F:3:29: pools[0].retries: 9 is out of range (0..7)\n"},
    {"retry_on",
        BASE_LISTEN BASE_SITES
        "pools: [{ name: p, retry_on: [503, 500], members: [{ address: \"a:1\" }] }]\n",
        "F:3:36: pools[0].retry_on[1]: invalid status \"500\" (expected 502, 503 or 504)\n"},
    {"passive order",
        BASE_LISTEN BASE_SITES
        "pools: [{ name: p, passive: { backoff: 10s, max_backoff: 5s }, members: [{ address: "
        "\"a:1\" }] }]\n",
        "F:3:58: pools[0].passive.max_backoff: must not be less than passive.backoff\n"},
    {"health path",
        BASE_LISTEN BASE_SITES
        "pools: [{ name: p, health: { path: healthz }, members: [{ address: \"a:1\" }] }]\n",
        "F:3:36: pools[0].health.path: \"healthz\" must start with '/' and contain no white "
        "space\n"},
    {"health expect",
        BASE_LISTEN BASE_SITES
        "pools: [{ name: p, health: { path: /h, expect: 200-99 }, members: [{ address: "
        "\"a:1\" }] }]\n",
        "F:3:48: pools[0].health.expect: invalid status range \"200-99\" (expected e.g. 200 "
        "or 200-399)\n"},
    {"health timeout",
        BASE_LISTEN BASE_SITES
        "pools: [{ name: p, health: { path: /h, interval: 1s, timeout: 2s }, members: [{ "
        "address: \"a:1\" }] }]\n",
        "F:3:63: pools[0].health.timeout: must not be longer than health.interval\n"},
    {"listen port", "listen: [{ address: \"127.0.0.1:99999\" }]\n" BASE_SITES BASE_POOLS,
        "F:1:21: listen[0].address: invalid port \"99999\"\n"},
    {"listen name", "listen: [{ address: \"localhost:80\" }]\n" BASE_SITES BASE_POOLS,
        "F:1:21: listen[0].address: invalid address \"localhost:80\": expected a numeric "
        "\"a.b.c.d:port\" or \"[IPv6]:port\"\n"},
    {"listen no port", "listen: [{ address: \"[::1]\" }]\n" BASE_SITES BASE_POOLS,
        "F:1:21: listen[0].address: missing port in \"[::1]\"\n"},
    {"listen bad v6", "listen: [{ address: \"[::g]:80\" }]\n" BASE_SITES BASE_POOLS,
        "F:1:21: listen[0].address: invalid IPv6 address \"::g\"\n"},
    {"listen v6 brackets", "listen: [{ address: \"::1:80\" }]\n" BASE_SITES BASE_POOLS,
        "F:1:21: listen[0].address: invalid address \"::1:80\": IPv6 addresses must be "
        "written \"[addr]:port\"\n"},
    {"listen duplicate",
        "listen: [{ address: \"127.0.0.1:80\" }, { address: \"127.0.0.1:80\" }]\n" BASE_SITES
            BASE_POOLS,
        "F:1:50: listen[1].address: duplicate address \"127.0.0.1:80\" (also listen[0])\n"},
    {"listen tls without certificates",
        "listen: [{ address: \"127.0.0.1:443\", tls: true }]\n" BASE_SITES BASE_POOLS,
        "F:1:43: listen[0].tls: a TLS listener needs at least one certificate "
        "(sites[].tls.certificates)\n"},
    {"tls certificate unreadable",
        BASE_LISTEN BASE_POOLS "sites: [{ name: s, hosts: [\"*\"], pool: p, tls: { certificates: "
                               "[{ cert: /nonexistent/c.pem, "
                               "key: /nonexistent/k.pem }] } }]\n",
        "F:3:73: sites[0].tls.certificates[0].cert: cannot open \"/nonexistent/c.pem\": No such "
        "file or directory\n"},
    {"tls without certificates",
        BASE_LISTEN BASE_POOLS
        "sites: [{ name: s, hosts: [\"*\"], pool: p, tls: { default: true } }]\n",
        "F:3:48: sites[0].tls.certificates: missing required key\n"},
    {"tls ticket keys", BASE "tls: { ticket_keys: /dev/null }\n",
        "F:4:21: tls.ticket_keys: \"/dev/null\" must hold 1..16 keys of 80 bytes each (e.g. "
        "\"openssl rand 80\")\n"},
    {"tls unknown key", BASE "tls: { protocols: [TLSv1.3] }\n",
        "F:4:8: tls.protocols: unknown key\n"},
    {"redirect_https",
        BASE_LISTEN BASE_POOLS
        "sites: [{ name: s, hosts: [\"*\"], pool: p, redirect_https: yes please }]\n",
        "F:3:59: sites[0].redirect_https: expected true or false, got \"yes please\"\n"},
    {"hsts without max-age",
        BASE_LISTEN BASE_POOLS
        "sites: [{ name: s, hosts: [\"*\"], pool: p, hsts: \"includeSubDomains\" }]\n",
        "F:3:49: sites[0].hsts: \"includeSubDomains\" has no max-age directive\n"},
    {"hsts bad max-age",
        BASE_LISTEN BASE_POOLS
        "sites: [{ name: s, hosts: [\"*\"], pool: p, hsts: \"max-age=1y\" }]\n",
        "F:3:49: sites[0].hsts: invalid max-age in \"max-age=1y\" (expected max-age=SECONDS)\n"},
    {"hsts repeated directive",
        BASE_LISTEN BASE_POOLS
        "sites: [{ name: s, hosts: [\"*\"], pool: p, hsts: \"max-age=1; Max-Age=2\" }]\n",
        "F:3:49: sites[0].hsts: directive \"Max-Age\" given twice in \"max-age=1; Max-Age=2\"\n"},
    {"hsts syntax",
        BASE_LISTEN BASE_POOLS
        "sites: [{ name: s, hosts: [\"*\"], pool: p, hsts: \"max-age=1;; preload\" }]\n",
        "F:3:49: sites[0].hsts: invalid Strict-Transport-Security value \"max-age=1;; preload\" "
        "(expected e.g. \"max-age=31536000; includeSubDomains\")\n"},
    {"listen missing address", "listen: [{ tls: false }]\n" BASE_SITES BASE_POOLS,
        "F:1:10: listen[0].address: missing required key\n"},
    {"admin same as listen", BASE "admin: { listen: \"127.0.0.1:8080\" }\n",
        "F:4:18: admin.listen: address \"127.0.0.1:8080\" is also listen[0]\n"},
    {"member port",
        BASE_LISTEN BASE_SITES
        "pools:\n  - name: p\n    members:\n      - address: \"a.example:80\"\n"
        "      - address: \"b.example:99999\"\n",
        "F:7:18: pools[0].members[1].address: invalid port \"99999\"\n"},
    {"member host",
        BASE_LISTEN BASE_SITES "pools: [{ name: p, members: [{ address: \"bad_host:80\" }] }]\n",
        "F:3:41: pools[0].members[0].address: invalid host name \"bad_host\"\n"},
    {"member long label",
        BASE_LISTEN BASE_SITES
        "pools: [{ name: p, members: [{ address: "
        "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.x:80\" }] }]\n",
        "F:3:41: pools[0].members[0].address: invalid host name "
        "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.x\"\n"},
    {"member ipv4",
        BASE_LISTEN BASE_SITES "pools: [{ name: p, members: [{ address: \"10.0.0.300:80\" }] }]\n",
        "F:3:41: pools[0].members[0].address: invalid IPv4 address \"10.0.0.300\"\n"},
    {"member no port",
        BASE_LISTEN BASE_SITES "pools: [{ name: p, members: [{ address: origin.example }] }]\n",
        "F:3:41: pools[0].members[0].address: missing port in \"origin.example\"\n"},
    {"member empty port",
        BASE_LISTEN BASE_SITES "pools: [{ name: p, members: [{ address: \"a.example:\" }] }]\n",
        "F:3:41: pools[0].members[0].address: missing port in \"a.example:\"\n"},
    {"member weight",
        BASE_LISTEN BASE_SITES "pools: [{ name: p, members: [{ address: \"a:1\", weight: 0 }] }]\n",
        "F:3:56: pools[0].members[0].weight: 0 is out of range (1..1000)\n"},
    {"missing sections", "node: { name: x }\n",
        "F:1:1: listen: missing required key\n"
        "F:1:1: pools: missing required key\n"
        "F:1:1: sites: missing required key\n"},
    {"null value", BASE "admin:\n", ""},
    {"null required", "listen:\n" BASE_SITES BASE_POOLS, "F:1:1: listen: a value is required\n"},
    {"unknown pool",
        BASE_LISTEN BASE_POOLS
        "sites: [{ name: s, hosts: [\"*\"], routes: [{ path: /, pool: nope }] }]\n",
        "F:3:60: sites[0].routes[0].pool: unknown pool \"nope\"\n"},
    {"unknown pool shorthand",
        BASE_LISTEN BASE_POOLS "sites: [{ name: s, hosts: [\"*\"], pool: nope }]\n",
        "F:3:40: sites[0].pool: unknown pool \"nope\"\n"},
    {"routes and pool",
        BASE_LISTEN BASE_POOLS
        "sites: [{ name: s, hosts: [\"*\"], pool: p, routes: [{ path: /, pool: p }] }]\n",
        "F:3:40: sites[0].pool: \"pool\" and \"routes\" are mutually exclusive\n"},
    {"neither routes nor pool", BASE_LISTEN BASE_POOLS "sites: [{ name: s, hosts: [\"*\"] }]\n",
        "F:3:9: sites[0]: needs \"routes\" or \"pool\"\n"},
    {"route path",
        BASE_LISTEN BASE_POOLS
        "sites: [{ name: s, hosts: [\"*\"], routes: [{ path: api, pool: p }] }]\n",
        "F:3:51: sites[0].routes[0].path: \"api\" does not start with '/'\n"},
    {"route path duplicate",
        BASE_LISTEN BASE_POOLS "sites:\n  - name: s\n    hosts: [\"*\"]\n    routes:\n"
                               "      - { path: /a, pool: p }\n      - { path: /a, pool: p }\n",
        "F:8:17: sites[0].routes[1].path: duplicate path \"/a\" (first at line 7, "
        "column 17)\n"},
    {"duplicate host",
        BASE_LISTEN BASE_POOLS "sites:\n  - { name: a, hosts: [\"x.example\"], pool: p }\n"
                               "  - { name: b, hosts: [\"y.example\", \"X.Example\"], pool: p }\n",
        "F:5:37: sites[1].hosts[1]: duplicate host \"x.example\" (first in site \"a\" at "
        "line 4, column 24)\n"},
    {"two catch-all sites",
        BASE_LISTEN BASE_POOLS "sites:\n  - { name: a, hosts: [\"*\"], pool: p }\n"
                               "  - { name: b, hosts: [\"*\"], pool: p }\n",
        "F:5:24: sites[1].hosts[0]: duplicate host \"*\" (first in site \"a\" at line 4, "
        "column 24)\n"},
    {"bad host", BASE_LISTEN BASE_POOLS "sites: [{ name: s, hosts: [\"a.*.com\"], pool: p }]\n",
        "F:3:28: sites[0].hosts[0]: invalid host \"a.*.com\" (expected a host name, \"*.\" "
        "followed by a host name, an IP address or \"*\")\n"},
    {"duplicate site name",
        BASE_LISTEN BASE_POOLS
        "sites:\n  - { name: a, hosts: [x], pool: p }\n  - { name: a, hosts: [y], pool: p }\n",
        "F:5:13: sites[1].name: duplicate site name \"a\" (first at line 4, column 13)\n"},
    {"duplicate pool name",
        BASE_LISTEN BASE_SITES "pools:\n  - { name: p, members: [{ address: \"a:1\" }] }\n"
                               "  - { name: p, members: [{ address: \"b:1\" }] }\n",
        "F:5:13: pools[1].name: duplicate pool name \"p\" (first at line 4, column 13)\n"},
    {"disk path", BASE "cache: { disk: { path: var/cache, size: 1GiB } }\n",
        "F:4:24: cache.disk.path: \"var/cache\" is not an absolute path\n"},
    {"disk size missing", BASE "cache: { disk: { path: /var/cache } }\n",
        "F:4:16: cache.disk.size: missing required key\n"},
    {"resolver server", BASE "resolver: { servers: [\"dns.example:53\"] }\n",
        "F:4:23: resolver.servers[0]: invalid address \"dns.example:53\": expected a numeric "
        "\"a.b.c.d:port\" or \"[IPv6]:port\"\n"},
    {"number", BASE "limits: { header_count: lots }\n",
        "F:4:25: limits.header_count: invalid number \"lots\" (expected an integer "
        "1..10000)\n"},
    {"handshakes per ip", BASE "limits: { handshakes_per_ip: -1 }\n",
        "F:4:30: limits.handshakes_per_ip: invalid number \"-1\" (expected an integer "
        "0..1000000)\n"},
    {"connections per ip", BASE "limits: { connections_per_ip: 1000001 }\n",
        "F:4:31: limits.connections_per_ip: 1000001 is out of range (0..1000000)\n"},
    {"requests per ip", BASE "limits: { requests_per_ip: 1000001 }\n",
        "F:4:28: limits.requests_per_ip: 1000001 is out of range (0..1000000)\n"},
    {"http2 streams", BASE "http2: { max_concurrent_streams: 0 }\n",
        "F:4:34: http2.max_concurrent_streams: 0 is out of range (1..1048576)\n"},
    {"listener tls protocol",
        "listen: [{ address: \"127.0.0.1:8080\", tls: { protocols: [SSLv3] } }]\n" BASE_SITES
            BASE_POOLS,
        "F:1:44: listen[0].tls: a TLS listener needs at least one certificate "
        "(sites[].tls.certificates)\n"
        "F:1:58: listen[0].tls.protocols[0]: \"SSLv3\" is not supported (TLSv1.2, TLSv1.3)\n"},
    {"non-scalar key", BASE "cache: { [a]: 1 }\n",
        "F:4:10: cache: keys must be scalars, got a sequence\n"},
};

static void
test_errors(void)
{
	struct config *c;
	char *errs;
	size_t i;
	int rc;

	subtest("every error class, exact text");
	for (i = 0; i < sizeof err_cases / sizeof err_cases[0]; i++) {
		const struct err_case *t = &err_cases[i];

		rc = load_str(t->yaml, &c, &errs);
		if (t->errs[0] == '\0') {
			ok(rc == 0 && c != NULL, t->what);
			config_unref(&c);
		} else {
			ok(rc == -1 && c == NULL, t->what);
		}
		if (strcmp(errs, t->errs) != 0) {
			ok(0, t->what);
			printf("#   got:  %s#   want: %s", errs, t->errs);
		} else {
			ok(1, t->what);
		}
		free(errs);
	}
}

static void
test_multiple_errors(void)
{
	struct config *c;
	char *errs;

	subtest("all errors reported, in file order");
	is_int(load_file(CONFIG_FIXTURES "/errors.yaml", &c, &errs), -1);
	is_str(errs,
	    "F:2:27: node.workers: 0 is out of range (1..256)\n"
	    "F:4:16: listen[0].address: invalid port \"99999\"\n"
	    "F:6:8: cache.ram: invalid size \"1GB\": use KiB/MiB/GiB (powers of 1024)\n"
	    "F:7:3: cache.rma: unknown key\n"
	    "F:8:21: timeouts.header: invalid duration \"10\": a unit is required (ms, s, m, h)\n"
	    "F:12:11: sites[0].pool: unknown pool \"nope\"\n"
	    "F:15:15: pools[0].balancer: unknown balancer \"random\" (expected round_robin, "
	    "least_conn, "
	    "random_two_choices, ip_hash, consistent_hash or ewma)\n"
	    "F:16:26: pools[0].members[0].address: invalid host name \"bad_host\"\n");
	free(errs);
}

static void
test_open(void)
{
	struct config *c = (struct config *)1;
	char *errs;

	subtest("file errors");
	is_int(load_file("/nonexistent/outpost.yaml", &c, &errs), -1);
	ok(c == NULL, "no snapshot");
	is_str(errs, "F: cannot open: No such file or directory\n");
	free(errs);
	is_int(load_file("/", &c, &errs), -1);
	is_str(errs, "F: cannot open: Is a directory\n");
	free(errs);
	is_int(load_file("/dev/null", &c, &errs), -1);
	is_str(errs, "F: cannot open: not a regular file\n");
	free(errs);
}

static const char *
addr_str(const struct config_listen *l, char *buf, size_t len)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&l->addr;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&l->addr;
	char a[INET6_ADDRSTRLEN];

	if (l->addr.ss_family == AF_INET) {
		inet_ntop(AF_INET, &sin->sin_addr, a, sizeof a);
		snprintf(buf, len, "%s:%u", a, ntohs(sin->sin_port));
	} else {
		inet_ntop(AF_INET6, &sin6->sin6_addr, a, sizeof a);
		snprintf(buf, len, "[%s]:%u", a, ntohs(sin6->sin6_port));
	}
	return buf;
}

static void
test_full(void)
{
	struct config *c;
	const struct config_pool *web, *api;
	const struct config_site *ex;
	char *errs, buf[64];

	subtest("full shape: every field");
	is_int(load_file(CONFIG_FIXTURES "/full.yaml", &c, &errs), 0);
	is_str(errs, "");
	free(errs);
	if (c == NULL)
		return;
	is_int(c->magic, CONFIG_MAGIC);
	ok(strstr(c->path, "full.yaml") != NULL, "path kept");
	is_str(c->node_name, "fra1-a");
	is_int(c->workers, 4);
	is_int(c->n_listens, 2);
	is_str(c->listens[0].address, "127.0.0.1:8080");
	is_str(addr_str(&c->listens[0], buf, sizeof buf), "127.0.0.1:8080");
	is_int(c->listens[0].addrlen, sizeof(struct sockaddr_in));
	is_str(c->listens[1].address, "[::1]:8080");
	is_str(addr_str(&c->listens[1], buf, sizeof buf), "[::1]:8080");
	is_int(c->listens[1].addrlen, sizeof(struct sockaddr_in6));
	ok(!c->listens[0].tls && !c->listens[1].tls, "no tls");
	is_str(c->admin.address, "127.0.0.1:9090");
	is_str(addr_str(&c->admin, buf, sizeof buf), "127.0.0.1:9090");
	is_int(c->cache.ram_bytes, 512ULL << 20);
	is_int(c->cache.max_object_bytes, 8ULL << 20);
	is_int(c->cache.grace_s, 30);
	ok(c->cache.grace_set, "cache.grace given: covers every failure");
	is_int(c->cache.heuristic_max_s, 3600);
	is_str(c->cache.disk_path, "/var/cache/outpost");
	is_int(c->cache.disk_bytes, 1ULL << 30);
	is_int(c->header_timeout_ms, 5000);
	is_int(c->idle_timeout_ms, 120000);
	is_int(c->body_timeout_ms, 1500);
	is_int(c->send_timeout_ms, 20000);
	is_int(c->drain_timeout_ms, 0);
	is_int(c->max_request_line, 4096);
	is_int(c->max_header_bytes, 16384);
	is_int(c->max_header_count, 50);
	is_int(c->max_body_bytes, 1ULL << 30);
	is_int(c->max_connections, 2000);
	is_int(c->max_handshakes_per_ip, 16);
	is_str(c->resolver.servers, "127.0.0.1:5353,[::1]:53");
	is_int(c->resolver.min_ttl_s, 5);
	is_int(c->resolver.max_ttl_s, 3600);
	is_str(c->log.access, "/var/log/outpost/access.log");
	is_str(c->log.level, "debug");

	is_int(c->n_pools, 3);
	web = &c->pools[0];
	api = &c->pools[1];
	is_str(web->name, "web");
	is_int(web->balancer, CONFIG_BALANCER_ROUND_ROBIN);
	is_int(web->n_members, 3);
	is_str(web->members[0].host, "127.0.0.1");
	is_int(web->members[0].port, 8081);
	is_int(web->members[0].weight, 2);
	is_str(web->members[1].host, "origin.example.net");
	is_int(web->members[1].port, 80);
	is_int(web->members[1].weight, 1);
	is_str(web->members[2].host, "::1");
	is_int(web->members[2].port, 8082);
	is_int(web->connect_timeout_ms, 1000);
	is_int(web->first_byte_timeout_ms, 10000);
	is_int(web->between_bytes_timeout_ms, 5000);
	is_int(web->idle_timeout_ms, 15000);
	is_int(web->max_idle_per_worker, 8);
	is_str(api->name, "api");
	is_str(api->members[0].host, "api.example.net");
	is_int(api->members[0].port, 8443);
	is_int(api->connect_timeout_ms, 2000);
	is_int(api->first_byte_timeout_ms, 30000);
	is_int(api->between_bytes_timeout_ms, 30000);
	is_int(api->idle_timeout_ms, 30000);
	is_int(api->max_idle_per_worker, 32);
	is_int(api->balancer, CONFIG_BALANCER_CONSISTENT_HASH);
	is_int(api->hash_key, CONFIG_HASH_KEY_HOST);
	is_int(api->n_members, 2);
	ok(!api->members[0].backup && api->members[1].backup, "backup member");
	is_int(api->retries, 2);
	is_int(api->retry_budget_pct, 10);
	is_int(api->retry_on, CONFIG_RETRY_ON_502 | CONFIG_RETRY_ON_503);
	is_int(api->passive_failures, 5);
	is_int(api->passive_backoff_ms, 2000);
	is_int(api->passive_max_backoff_ms, 30000);
	is_str(api->health_path, "/healthz");
	is_str(api->health_host, "api.example.net");
	is_int(api->health_interval_ms, 3000);
	is_int(api->health_timeout_ms, 1000);
	is_int(api->health_expect_min, 200);
	is_int(api->health_expect_max, 299);
	is_int(api->health_rise, 3);
	is_int(api->health_fall, 4);
	ok(web->health_path == NULL, "no active checks by default");
	is_str(c->pools[2].name, "unused");

	is_int(c->n_sites, 2);
	ex = &c->sites[0];
	is_str(ex->name, "example");
	is_str(ex->hsts, "max-age=31536000; includeSubDomains; preload");
	ok(c->sites[1].hsts == NULL, "hsts off by default");
	is_int(ex->n_hosts, 2);
	is_str(ex->hosts[0], "example.com");
	is_str(ex->hosts[1], "*.example.com");
	is_int(ex->n_routes, 3);
	/* Sorted longest first. */
	is_str(ex->routes[0].path, "/api/v2/");
	is_int(ex->routes[0].path_len, 8);
	ok(ex->routes[0].pool == api, "route pool resolved");
	ok(ex->routes[0].cache, "cache enabled by default");
	is_int(ex->routes[0].default_ttl_s, 60);
	is_int(ex->routes[0].grace_s, 300);
	is_str(ex->routes[1].path, "/api/");
	ok(!ex->routes[1].cache, "cache disabled");
	is_str(ex->routes[2].path, "/");
	ok(ex->routes[2].pool == web, "pool defined later is resolved");
	is_int(ex->routes[2].default_ttl_s, 0);
	ok(ex->routes[2].grace_s == CONFIG_GRACE_INHERIT, "grace from cache.grace");
	is_str(c->sites[1].name, "default");
	is_int(c->sites[1].n_routes, 1);
	is_str(c->sites[1].routes[0].path, "/");
	ok(c->sites[1].routes[0].pool == web, "pool shorthand");
	ok(c->sites[1].routes[0].cache, "shorthand caches");

	subtest("config_site_for_host");
	ok(config_site_for_host(c, "example.com", 11) == ex, "exact");
	ok(config_site_for_host(c, "EXAMPLE.com", 11) == ex, "exact, any case");
	ok(config_site_for_host(c, "example.com.", 12) == ex, "trailing dot");
	ok(config_site_for_host(c, "www.example.com", 15) == ex, "wildcard");
	ok(config_site_for_host(c, "a.b.Example.COM", 15) == ex, "wildcard, deeper, any case");
	ok(config_site_for_host(c, "example.org", 11) == &c->sites[1], "catch-all");
	ok(config_site_for_host(c, "xexample.com", 12) == &c->sites[1], "suffix needs a dot");
	ok(config_site_for_host(c, "", 0) == &c->sites[1], "empty host: catch-all");
	ok(config_site_for_host(c, "example.com:80", 11) == ex, "length respected");

	config_unref(&c);
	ok(c == NULL, "unref NULLs");
}

static void
test_lookup_none(void)
{
	struct config *c;
	char *errs;

	subtest("no catch-all site; wildcard precedence");
	is_int(load_str(BASE_LISTEN BASE_POOLS
	           "sites:\n"
	           "  - { name: a, hosts: [\"*.example.com\"], pool: p }\n"
	           "  - { name: b, hosts: [\"*.img.example.com\", \"img.example.com\"], pool: p }\n"
	           "  - { name: c, hosts: [\"[::1]\", \"10.0.0.1\"], "
	           "routes: [{ path: /x, pool: p }] }\n",
	           &c, &errs),
	    0);
	is_str(errs, "");
	free(errs);
	if (c == NULL)
		return;
	ok(config_site_for_host(c, "other.org", 9) == NULL, "none");
	ok(config_site_for_host(c, "example.com", 11) == NULL, "wildcard needs a label");
	ok(config_site_for_host(c, "a.img.example.com", 17) == &c->sites[1], "longest wildcard");
	ok(config_site_for_host(c, "img.example.com", 15) == &c->sites[1], "exact before wild");
	ok(config_site_for_host(c, "a.example.com", 13) == &c->sites[0], "shorter wildcard");
	ok(config_site_for_host(c, "[::1]", 5) == &c->sites[2], "IPv6 literal");
	ok(config_site_for_host(c, "10.0.0.1", 8) == &c->sites[2], "IPv4 literal");
	is_int(c->sites[2].n_routes, 1);
	config_unref(&c);
}

static void
test_defaults(void)
{
	struct config *c;
	char *errs, host[256];
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	subtest("defaults");
	is_int(load_file(CONFIG_FIXTURES "/minimal.yaml", &c, &errs), 0);
	is_str(errs, "");
	free(errs);
	if (c == NULL)
		return;
	gethostname(host, sizeof host);
	host[sizeof host - 1] = '\0';
	is_str(c->node_name, host);
	is_int(c->workers, ncpu > 256 ? 256 : ncpu);
	is_int(c->admin.addrlen, 0);
	ok(c->admin.address == NULL, "no admin");
	is_int(c->cache.ram_bytes, 256ULL << 20);
	is_int(c->cache.max_object_bytes, 16ULL << 20);
	is_int(c->cache.grace_s, 10);
	ok(!c->cache.grace_set, "default grace: an origin that gave no answer only");
	is_int(c->cache.heuristic_max_s, 86400);
	is_int(c->cache.range_fill_max_bytes, 1ULL << 20);
	is_int(c->cache.fill_memory_bytes, 64ULL << 20);     /* 4 x max_object */
	is_int(c->cache.fill_per_client_bytes, 32ULL << 20); /* half of it */
	is_int(config_cache_mem_budget(c), 320ULL << 20);
	ok(c->cache.disk_path == NULL, "no disk");
	is_int(c->cache.disk_bytes, 0);
	is_int(c->header_timeout_ms, 10000);
	is_int(c->idle_timeout_ms, 60000);
	is_int(c->body_timeout_ms, 30000);
	is_int(c->send_timeout_ms, 30000);
	is_int(c->drain_timeout_ms, 10000);
	is_int(c->max_request_line, 8192);
	is_int(c->max_header_bytes, 32768);
	is_int(c->max_header_count, 100);
	is_int(c->max_body_bytes, 100ULL << 20);
	is_int(c->body_buffer_bytes, 64ULL << 10);
	is_int(c->body_min_rate, 0);
	is_int(c->send_min_rate, 0);
	is_int(c->body_total_ms, 0);
	ok(c->body_temp_path != NULL && c->body_temp_path[0] == '/', "body_temp_path: absolute");
	ok(c->sites[0].routes[0].request_buffering, "request_buffering: default true");
	is_int(c->max_connections, 10000);
	is_int(c->max_handshakes_per_ip, 128);
	is_int(c->max_connections_per_ip, 256);
	is_int(c->max_requests_per_ip, 0);
	is_int(c->http2.max_concurrent_streams, 100);
	is_int(c->http2.max_header_list_bytes, 65536);
	is_int(c->http2.settings_timeout_ms, 10000);
	ok(c->resolver.servers == NULL, "resolv.conf");
	is_int(c->resolver.min_ttl_s, 1);
	is_int(c->resolver.max_ttl_s, 3600);
	ok(c->log.access == NULL, "no access log");
	is_str(c->log.level, "info");
	is_int(c->pools[0].balancer, CONFIG_BALANCER_ROUND_ROBIN);
	is_int(c->pools[0].members[0].weight, 1);
	is_int(c->pools[0].connect_timeout_ms, 2000);
	is_int(c->pools[0].first_byte_timeout_ms, 30000);
	is_int(c->pools[0].between_bytes_timeout_ms, 30000);
	is_int(c->pools[0].idle_timeout_ms, 30000);
	is_int(c->pools[0].max_idle_per_worker, 32);
	is_int(c->pools[0].hash_key, CONFIG_HASH_KEY_URI);
	ok(!c->pools[0].members[0].backup, "not backup");
	is_int(c->pools[0].retries, 1);
	is_int(c->pools[0].retry_budget_pct, 20);
	is_int(c->pools[0].retry_on, 0);
	is_int(c->pools[0].passive_failures, 3);
	is_int(c->pools[0].passive_backoff_ms, 5000);
	is_int(c->pools[0].passive_max_backoff_ms, 60000);
	ok(c->pools[0].health_path == NULL, "no health");
	is_int(c->pools[0].health_interval_ms, 5000);
	is_int(c->pools[0].health_timeout_ms, 2000);
	is_int(c->pools[0].health_expect_min, 200);
	is_int(c->pools[0].health_expect_max, 399);
	is_int(c->pools[0].health_rise, 2);
	is_int(c->pools[0].health_fall, 3);
	ok(c->sites[0].routes[0].cache, "route caches");
	is_int(c->sites[0].routes[0].default_ttl_s, 0);
	config_unref(&c);

	subtest("units");
	is_int(load_str(BASE "cache: { ram: 0, max_object: 512 KiB, range_fill_max: 0 }\n"
	                     "limits: { body: 1TiB, request_line: 100B }\ntimeouts: { idle: 250ms, "
	                     "header: 1h }\n"
	                     "node: { workers: auto }\n",
	           &c, &errs),
	    0);
	is_str(errs, "");
	free(errs);
	if (c == NULL)
		return;
	is_int(c->cache.ram_bytes, 0);
	is_int(c->cache.max_object_bytes, 512 * 1024);
	is_int(c->cache.range_fill_max_bytes, 0);
	is_int(c->cache.fill_memory_bytes, 2ULL << 20);
	is_int(config_cache_mem_budget(c), 0); /* no cache, no budget */
	is_int(c->max_body_bytes, 1ULL << 40);
	is_int(c->max_request_line, 100);
	is_int(c->idle_timeout_ms, 250);
	is_int(c->header_timeout_ms, 3600000);
	config_unref(&c);
}

static void
test_sample(void)
{
	struct config *c;
	char *errs;

	subtest("config/outpost.yaml loads cleanly");
	is_int(load_file(CONFIG_SAMPLE, &c, &errs), 0);
	is_str(errs, "");
	free(errs);
	if (c == NULL)
		return;
	is_str(c->listens[0].address, "127.0.0.1:8080");
	is_str(c->admin.address, "127.0.0.1:9090");
	is_str(c->pools[0].members[0].host, "127.0.0.1");
	is_int(c->pools[0].members[0].port, 8081);
	ok(config_site_for_host(c, "localhost", 9) == &c->sites[0], "demo site");
	ok(config_site_for_host(c, "x.localhost", 11) == &c->sites[0], "demo wildcard");
	ok(config_site_for_host(c, "127.0.0.1", 9) == &c->sites[1], "catch-all");
	config_unref(&c);
}

static void
test_ref(void)
{
	struct config *c, *r;
	char *errs;

	subtest("config_ref / config_unref");
	is_int(load_str(BASE, &c, &errs), 0);
	free(errs);
	if (c == NULL)
		return;
	r = config_ref(c);
	ok(r == c, "ref returns the snapshot");
	is_int(c->refcnt, 2);
	config_unref(&r);
	ok(r == NULL, "unref NULLs the pointer");
	is_int(c->refcnt, 1);
	is_str(c->sites[0].name, "s");
	config_unref(&c);
	ok(c == NULL, "last unref frees");
	config_unref(&c);
	ok(1, "unref of NULL is a no-op");
}

int
main(void)
{
	const char *dir = getenv("TMPDIR");
	int fd;

	snprintf(test_tmp, sizeof test_tmp, "%s/outpost-cfg-XXXXXX",
	    dir && strlen(dir) < 32 ? dir : "/tmp");
	fd = mkstemp(test_tmp);
	if (fd == -1) {
		perror("mkstemp");
		return 1;
	}
	close(fd);
	test_full();
	test_lookup_none();
	test_defaults();
	test_sample();
	test_errors();
	test_multiple_errors();
	test_open();
	test_ref();
	unlink(test_tmp);
	return tap_done();
}
