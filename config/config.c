/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * config/config.c — the configuration snapshot: defaults, lifetime and the
 * per-request lookups.
 *
 * A snapshot is built once by config_load() (config_parse.c) and never changes
 * afterwards, so readers need no lock, only a reference.  The refcount is a
 * C11 atomic: config_ref is a relaxed increment, config_unref an acq_rel
 * decrement (release for the readers' last accesses, acquire for the free).
 *
 * config_site_for_host runs for every request: it never allocates.  Hosts are
 * matched against two sorted arrays (exact names and wildcard suffixes) with a
 * binary search.  Routes are kept sorted (exact, regex in config order,
 * prefixes longest first) so the first route that matches is the one to use
 * (edge_route_select).
 */
/* <config.h>: "config.h" would find config/config.h, next to this file. */
#include <config.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <pcre2.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "config/config_parse.h"
#include "core/assert.h"
#include "core/str.h"
#include "core/xmalloc.h"

struct config *
config_parse_new(void)
{
	struct config *c = xcalloc(1, sizeof *c);
	const char *tmp;

	c->magic = CONFIG_MAGIC;
	atomic_init(&c->refcnt, 1);
	cache_conf_defaults(&c->cache); /* fill_memory: derived, see cparse_cache_defaults */
	edge_h2_conf_defaults(&c->http2);
	purge_conf_defaults(&c->purge);
	purge_fleet_conf_defaults(&c->fleet);
	geo_conf_defaults(&c->geo_conf);
	c->header_timeout_ms = 10000;
	c->idle_timeout_ms = 60000;
	c->body_timeout_ms = 30000;
	c->send_timeout_ms = 30000;
	c->drain_timeout_ms = 10000;
	c->tls_session_cache = 20000;
	c->max_request_line = 8U << 10;
	c->max_header_bytes = 32U << 10;
	c->max_header_count = 100;
	c->max_body_bytes = 100ULL << 20;
	c->body_buffer_bytes = 64ULL << 10;
	/* the system's temporary directory (checked when a body first needs it) */
	tmp = getenv("TMPDIR");
	c->body_temp_path = xstrdup(tmp != NULL && tmp[0] == '/' ? tmp : P_tmpdir);
	c->max_connections = 10000;
	c->hide_origin = true;
	c->max_handshakes_per_ip = 128;
	c->max_connections_per_ip = 256;
	origin_dns_conf_defaults(&c->resolver);
	return c;
}

static void
config_hdr_rules_free(struct config_hdr_rules *h)
{
	for (size_t i = 0; i < h->n; i++) {
		free(h->rules[i].name);
		free(h->rules[i].line);
	}
	free(h->rules);
}

void
config_access_free(struct config_access **ap)
{
	struct config_access *a = *ap;

	if (a == NULL)
		return;
	geo_rules_free(&a->rules);
	for (size_t i = 0; i < a->n; i++)
		free(a->text[i]);
	free(a->text);
	free(a->denials);
	free(a);
	*ap = NULL;
}

void
config_rate_limit_free(struct config_rate_limit **rp)
{
	if (*rp == NULL)
		return;
	free((*rp)->header);
	free(*rp);
	*rp = NULL;
}

void
config_signed_url_unref(struct config_signed_url **sp)
{
	struct config_signed_url *s = *sp;

	*sp = NULL;
	if (s == NULL || --s->refs > 0)
		return;
	policy_signed_keys_unref(&s->keys);
	free(s);
}

void
config_jwt_unref(struct config_jwt **jp)
{
	struct config_jwt *j = *jp;

	*jp = NULL;
	if (j == NULL || --j->refs > 0)
		return;
	policy_jwks_unref(&j->jwks);
	for (size_t i = 0; i < j->n_strs; i++)
		free(j->strs[i]);
	free(j);
}

static void
config_route_free(struct config_route *r)
{
	config_access_free(&r->access);
	config_rate_limit_free(&r->rate_limit);
	config_signed_url_unref(&r->signed_url);
	config_jwt_unref(&r->jwt);
	free(r->path);
	pcre2_code_free(r->re);
	for (size_t i = 0; i < r->n_query_allow; i++)
		free(r->query_allow[i]);
	free(r->query_allow);
	free(r->rewrite_from);
	pcre2_code_free(r->rewrite_re);
	free(r->rewrite_to);
	free(r->origin_host);
	free(r->redirect_to);
	config_hdr_rules_free(&r->req_hdrs);
	config_hdr_rules_free(&r->resp_hdrs);
	free(r->canary_cookie);
	geo_pool_map_free(&r->geo_pools);
	free(r->geo_pool_refs);
	for (size_t i = 0; i < r->n_methods; i++)
		free(r->methods[i]);
	free(r->methods);
	free(r->allow_line);
	free(r->compression_types);
}

void
config_parse_free(struct config *c)
{
	size_t i, j;

	if (c == NULL)
		return;
	c->magic = 0;
	free(c->path);
	free(c->node_name);
	free(c->node_user);
	free(c->node_group);
	for (i = 0; i < c->n_listens; i++) {
		free(c->listens[i].address);
		free(c->listens[i].tls_ciphers);
		free(c->listens[i].tls_ciphersuites);
	}
	free(c->listens);
	free(c->admin.address);
	for (i = 0; i < c->purge.n_tokens; i++) {
		free(c->purge.tokens[i].id);
		for (size_t h = 0; h < c->purge.tokens[i].n_hosts; h++)
			free(c->purge.tokens[i].hosts[h]);
		free(c->purge.tokens[i].hosts);
	}
	free(c->purge.tokens);
	free(c->purge.audit_log);
	free(c->purge.audit_log_where);
	free(c->purge.client_cidrs);
	for (i = 0; i < c->fleet.n_servers; i++)
		free(c->fleet.servers[i]);
	free(c->fleet.servers);
	free(c->fleet.credentials);
	free(c->fleet.tls_ca);
	free(c->fleet.tls_cert);
	free(c->fleet.tls_key);
	free(c->cache.disk_path);
	free(c->body_temp_path);
	free(c->resolver.servers);
	free(c->log.access);
	free(c->log.access_where);
	free(c->log.level);
	free(c->log.syslog_socket);
	free(c->log.syslog_tag);
	free(c->tls_ticket_keys);
	policy_cidr_free(&c->trusted_proxies);
	config_hdr_rules_free(&c->hide_origin_fields);
	geo_dbs_unref(&c->geo);
	for (i = 0; i < GEO_HDR__N; i++)
		free(c->geo_hdr_names[i]);
	for (i = 0; i < GEO_DB__N; i++)
		free(c->geo_paths[i]);
	for (i = 0; i < c->n_pools; i++) {
		struct config_pool *p = &c->pools[i];

		free(p->name);
		for (j = 0; j < p->n_members; j++) {
			free(p->members[j].host);
			free(p->members[j].probe_host);
		}
		free(p->members);
		free(p->health_path);
		free(p->health_host);
		free(p->tls_ca_file);
		free(p->tls_sni);
		free(p->tls_client_cert);
		free(p->tls_client_key);
	}
	free(c->pools);
	free(c->siblings.self);
	for (size_t k = 0; k < c->siblings.n_prev; k++)
		free(c->siblings.prev[k].host);
	free(c->siblings.prev);
	free(c->siblings.srv);
	free(c->siblings.key_file);
	if (c->siblings.key != NULL)
		OPENSSL_clear_free(c->siblings.key, c->siblings.key_len);
	for (i = 0; i < c->n_sites; i++) {
		struct config_site *s = &c->sites[i];

		free(s->name);
		for (j = 0; j < s->n_hosts; j++)
			free(s->hosts[j]);
		free(s->hosts);
		for (j = 0; j < s->n_routes; j++)
			config_route_free(&s->routes[j]);
		free(s->routes);
		for (j = 0; j < s->n_certs; j++) {
			free(s->certs[j].cert);
			free(s->certs[j].key);
			free(s->certs[j].ocsp);
			free(s->certs[j].where);
		}
		free(s->certs);
		free(s->hsts);
		config_access_free(&s->access);
		config_rate_limit_free(&s->rate_limit);
		config_signed_url_unref(&s->signed_url);
		config_jwt_unref(&s->jwt);
	}
	free(c->sites);
	free(c->hosts_exact);
	free(c->hosts_wild);
	free(c);
}

/* Exact paths first, then regexes in config order, then prefixes longest
 * first: the first route that matches a path is the one to use. */
static int
config_route_cmp(const void *a, const void *b)
{
	static const int rank[] = {
	    [CONFIG_MATCH_EXACT] = 0, [CONFIG_MATCH_REGEX] = 1, [CONFIG_MATCH_PREFIX] = 2};
	const struct config_route *ra = a, *rb = b;

	if (ra->match != rb->match)
		return rank[ra->match] < rank[rb->match] ? -1 : 1;
	if (ra->match == CONFIG_MATCH_REGEX)
		return ra->order < rb->order ? -1 : ra->order > rb->order;
	if (ra->path_len != rb->path_len)
		return ra->path_len > rb->path_len ? -1 : 1;
	return strcmp(ra->path, rb->path);
}

static int
config_host_cmp(const void *a, const void *b)
{
	const struct config_host *ha = a, *hb = b;

	if (ha->len != hb->len)
		return ha->len < hb->len ? -1 : 1;
	return memcmp(ha->name, hb->name, ha->len);
}

void
config_parse_index(struct config *c)
{
	size_t i, j, n = 0;

	for (i = 0; i < c->n_sites; i++) {
		struct config_site *s = &c->sites[i];

		for (j = 0; j < s->n_routes; j++) {
			s->routes[j].path_len = strlen(s->routes[j].path);
			s->routes[j].order = (unsigned)j;
		}
		qsort(s->routes, s->n_routes, sizeof s->routes[0], config_route_cmp);
		n += s->n_hosts;
	}
	c->hosts_exact = xcalloc(n, sizeof c->hosts_exact[0]);
	c->hosts_wild = xcalloc(n, sizeof c->hosts_wild[0]);
	for (i = 0; i < c->n_sites; i++) {
		const struct config_site *s = &c->sites[i];

		for (j = 0; j < s->n_hosts; j++) {
			const char *h = s->hosts[j];

			if (strcmp(h, "*") == 0)
				c->site_any = s;
			else if (h[0] == '*')
				c->hosts_wild[c->n_hosts_wild++] =
				    (struct config_host){h + 1, strlen(h + 1), s};
			else
				c->hosts_exact[c->n_hosts_exact++] =
				    (struct config_host){h, strlen(h), s};
		}
	}
	qsort(c->hosts_exact, c->n_hosts_exact, sizeof c->hosts_exact[0], config_host_cmp);
	qsort(c->hosts_wild, c->n_hosts_wild, sizeof c->hosts_wild[0], config_host_cmp);
}

struct config *
config_ref(struct config *c)
{
	OBJ_CHECK(c, CONFIG_MAGIC);
	atomic_fetch_add_explicit(&c->refcnt, 1, memory_order_relaxed);
	return c;
}

void
config_unref(struct config **cp)
{
	struct config *c = *cp;

	if (c == NULL)
		return;
	*cp = NULL;
	OBJ_CHECK(c, CONFIG_MAGIC);
	/* not release + acquire fence: ThreadSanitizer does not model fences */
	if (atomic_fetch_sub_explicit(&c->refcnt, 1, memory_order_acq_rel) != 1)
		return;
	config_parse_free(c);
}

/* Index entry vs. query; the query is compared as if lower-cased. */
static int
config_host_key_cmp(const char *q, size_t qlen, const struct config_host *h)
{
	size_t i;

	if (qlen != h->len)
		return qlen < h->len ? -1 : 1;
	for (i = 0; i < qlen; i++) {
		unsigned char a = str_lower((unsigned char)q[i]);
		unsigned char b = (unsigned char)h->name[i];

		if (a != b)
			return a < b ? -1 : 1;
	}
	return 0;
}

static const struct config_host *
config_host_find(const struct config_host *tab, size_t n, const char *q, size_t qlen)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = config_host_key_cmp(q, qlen, &tab[mid]);

		if (r == 0)
			return &tab[mid];
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

const struct config_site *
config_site_for_host(const struct config *c, const char *host, size_t host_len)
{
	const struct config_host *h;
	size_t i;

	/* "example.com." is the same name as "example.com" (RFC 1034 §3.1). */
	if (host_len > 1 && host[host_len - 1] == '.')
		host_len--;
	if (host_len > 0) {
		h = config_host_find(c->hosts_exact, c->n_hosts_exact, host, host_len);
		if (h != NULL)
			return h->site;
		/* The leftmost dot gives the longest suffix: try suffixes in that order.
		 * Position 0 is skipped: "*.x.com" needs a non-empty label. */
		for (i = 1; i < host_len && c->n_hosts_wild > 0; i++) {
			if (host[i] != '.')
				continue;
			h = config_host_find(
			    c->hosts_wild, c->n_hosts_wild, host + i, host_len - i);
			if (h != NULL)
				return h->site;
		}
	}
	return c->site_any;
}

int
config_template_var(const char *s, size_t *len, unsigned *group)
{
	static const struct {
		const char *name;
		size_t len;
		enum config_tvar var;
	} names[] = {
	    {"scheme", 6, CONFIG_TVAR_SCHEME},
	    {"host", 4, CONFIG_TVAR_HOST},
	    {"path", 4, CONFIG_TVAR_PATH},
	    {"query", 5, CONFIG_TVAR_QUERY},
	    {"request_uri", 11, CONFIG_TVAR_REQUEST_URI},
	};
	size_t n = 0;

	if (s[0] == '$') {
		*len = 1;
		return CONFIG_TVAR_DOLLAR;
	}
	if (s[0] >= '1' && s[0] <= '9') {
		*len = 1;
		*group = (unsigned)(s[0] - '0');
		return CONFIG_TVAR_GROUP;
	}
	while ((s[n] >= 'a' && s[n] <= 'z') || s[n] == '_')
		n++;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (names[i].len == n && memcmp(names[i].name, s, n) == 0) {
			*len = n;
			return (int)names[i].var;
		}
	}
	return -1;
}

static const struct {
	const char *name;
	size_t len;
} config_overrides[CONFIG_N_OVERRIDE] = {
#define CONFIG_OVERRIDE_ENTRY(s) {s, sizeof s - 1},
    CONFIG_OVERRIDE_FIELDS(CONFIG_OVERRIDE_ENTRY)
#undef CONFIG_OVERRIDE_ENTRY
};

int
config_override_index(const char *name, size_t len)
{
	for (unsigned i = 0; i < CONFIG_N_OVERRIDE; i++)
		if (str_eq_nocase(str_make(name, len),
		        str_make(config_overrides[i].name, config_overrides[i].len)))
			return (int)i;
	return -1;
}

const char *
config_override_name(unsigned i)
{
	ASSERT(i < CONFIG_N_OVERRIDE);
	return config_overrides[i].name;
}

/* One file the node appends to: open it without creating it; when it does
 * not exist, its directory must take a new file.  0, or -1 with the reason
 * in errno. */
static int
config_check_append(const char *path)
{
	char dir[4096];
	const char *slash;
	int fd = open(path, O_WRONLY | O_APPEND | O_NOCTTY | O_CLOEXEC);

	if (fd != -1) {
		close(fd);
		return 0;
	}
	if (errno != ENOENT)
		return -1;
	slash = strrchr(path, '/');
	if (slash == NULL)
		snprintf(dir, sizeof dir, ".");
	else if (slash == path)
		snprintf(dir, sizeof dir, "/");
	else
		snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
	return access(dir, W_OK | X_OK);
}

int
config_check_files(const struct config *c, FILE *errf)
{
	const struct {
		const char *path, *where;
	} files[] = {
	    {c->log.access, c->log.access_where},
	    {c->purge.audit_log, c->purge.audit_log_where},
	};
	int bad = 0;

	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		if (files[i].path == NULL || config_check_append(files[i].path) == 0)
			continue;
		fprintf(errf, "%s: cannot open \"%s\" for appending: %s\n",
		    files[i].where != NULL ? files[i].where : "configuration", files[i].path,
		    strerror(errno));
		bad++;
	}
	return bad;
}
