/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_guard.c — the request's policy stage (edge_guard.h).
 *
 * Everything it reads is either the request's own (the peer, the fields) or
 * the immutable configuration snapshot; the one shared mutable object is the
 * rate-limit table, whose calls lock one set of eight entries (policy_rl).
 * The denial counters of an access list live next to the list in the
 * snapshot: a denial is rare and costs one relaxed atomic add.  The
 * location of a client is kept on its connection (edge_guard_scratch), so a
 * kept-alive connection pays one database lookup, not one per request.
 *
 * The PROXY protocol part runs before there is a connection: a socket on a
 * proxy_protocol listener waits in a small object of its own (listed on its
 * worker, freed by the worker at teardown) until its header is in, then
 * becomes a connection whose peer is the header's source.
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "config/config.h"
#include "core/assert.h"
#include "core/h1.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "edge/edge_conn.h"
#include "edge/edge_guard.h"
#include "edge/edge_worker.h"
#include "geo/geo.h"
#include "origin/origin_balance.h"
#include "origin/origin_pool.h"

/* Field lines of the client-address header read at most: the rightmost
 * ones (the walk from the right stops after max_hops entries anyway). */
#define GUARD_XFF_LINES 32

void
edge_guard_client(const struct config *cfg, const struct policy_addr *peer, const char *peer_text,
    const struct h1_header *hdrs, size_t n, struct edge_guard_client *out)
{
	struct policy_clientip_conf cc;
	struct str fields[GUARD_XFF_LINES];
	const struct str name = cfg->client_address_header == POLICY_CLIENTIP_FORWARDED
	                            ? STR_LIT("Forwarded")
	                            : STR_LIT("X-Forwarded-For");
	size_t nf = 0;

	if (cfg->trusted_proxies == NULL || !policy_cidr_lookup(cfg->trusted_proxies, peer, NULL)) {
		/* the usual case: the peer, and *out often holds it already */
		if (out->source != POLICY_CLIENTIP_PEER || !policy_addr_eq(&out->addr, peer)) {
			out->addr = *peer;
			out->source = POLICY_CLIENTIP_PEER;
			memcpy(
			    out->text, peer_text, strnlen(peer_text, POLICY_ADDR_STRLEN - 1) + 1);
		}
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (!str_eq_nocase(hdrs[i].name, name))
			continue;
		if (nf == GUARD_XFF_LINES) { /* keep the rightmost lines */
			memmove(fields, fields + 1, (GUARD_XFF_LINES - 1) * sizeof fields[0]);
			nf--;
		}
		fields[nf++] = hdrs[i].value;
	}
	policy_clientip_conf_defaults(&cc);
	cc.trusted = cfg->trusted_proxies;
	cc.header = cfg->client_address_header;
	out->source = policy_clientip(&cc, peer, fields, nf, &out->addr);
	policy_addr_format(&out->addr, out->text);
}

/* a as a sockaddr (port 0), for geo_rules_eval. */
static void
guard_sockaddr(const struct policy_addr *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	if (a->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, a->b, 4);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, a->b, 16);
	}
}

/* The client's location in cfg's databases: s->loc, looked up unless it is
 * already this address's in these databases; NULL when nothing is known. */
static const struct geo_loc *
guard_locate(
    const struct config *cfg, const struct edge_guard_client *client, struct edge_guard_scratch *s)
{
	struct sockaddr_storage ss;

	if (cfg->geo == NULL)
		return NULL;
	if (s->loc_serial != cfg->geo_serial || !policy_addr_eq(&s->loc_addr, &client->addr)) {
		guard_sockaddr(&client->addr, &ss);
		if (geo_lookup(cfg->geo, (const struct sockaddr *)&ss, &s->loc) == -GEO_E_FAMILY)
			memset(&s->loc, 0, sizeof s->loc);
		s->loc_addr = client->addr;
		s->loc_serial = cfg->geo_serial;
	}
	return s->loc.found != 0 ? &s->loc : NULL;
}

const char *
edge_guard_country(
    const struct config *cfg, const struct edge_guard_client *client, struct edge_guard_scratch *s)
{
	const struct geo_loc *loc = guard_locate(cfg, client, s);

	return loc != NULL && (loc->found & GEO_FOUND_COUNTRY) ? loc->country : NULL;
}

/* The X-Geo-* lines for loc into s->fields. */
static void
guard_geo_fields(const struct config *cfg, const struct geo_loc *loc, struct edge_guard_scratch *s)
{
	char val[GEO_HDR_VALUE_MAX];

	for (int h = 0; h < GEO_HDR__N; h++) {
		size_t vl = geo_hdr_value(loc, (enum geo_hdr)h, val, sizeof val);
		const char *name = cfg->geo_hdr_names[h];
		size_t nl = strlen(name);

		if (vl == 0 || s->fields_len + nl + vl + 4 > sizeof s->fields)
			continue;
		memcpy(s->fields + s->fields_len, name, nl);
		memcpy(s->fields + s->fields_len + nl, ": ", 2);
		memcpy(s->fields + s->fields_len + nl + 2, val, vl);
		memcpy(s->fields + s->fields_len + nl + 2 + vl, "\r\n", 2);
		s->fields_len += nl + vl + 4;
	}
}

/* geo_headers of the route, else of the site, else geo.headers. */
static bool
guard_geo_headers_on(
    const struct config *cfg, const struct config_site *site, const struct config_route *route)
{
	if (cfg->geo == NULL)
		return false;
	if (route->geo_headers != CONFIG_INHERIT)
		return route->geo_headers == CONFIG_ON;
	if (site->geo_headers != CONFIG_INHERIT)
		return site->geo_headers == CONFIG_ON;
	return cfg->geo_conf.headers;
}

int
edge_guard_key_geo(const struct config *cfg, const struct config_route *route,
    const struct edge_guard_client *client, struct edge_guard_scratch *s, char *out, size_t len,
    size_t outlen)
{
	const struct geo_loc *loc;
	const char *v = NULL;

	if (route->vary_geo == CONFIG_VARY_GEO_NONE)
		return (int)len;
	loc = guard_locate(cfg, client, s);
	if (loc != NULL && route->vary_geo == CONFIG_VARY_GEO_COUNTRY)
		v = loc->found & GEO_FOUND_COUNTRY ? loc->country : NULL;
	else if (loc != NULL)
		v = loc->found & GEO_FOUND_CONTINENT ? loc->continent : NULL;
	if (v == NULL || v[0] == '\0')
		v = "--";
	if (outlen - len < sizeof "#geo=" + 2)
		return -1;
	len += (size_t)snprintf(out + len, outlen - len, "#geo=%.2s", v);
	return (int)len;
}

const struct config_pool *
edge_guard_geo_pool(const struct config *cfg, const struct config_route *route,
    const struct edge_guard_client *client, struct edge_guard_scratch *s, struct origin_pool *opool)
{
	int cand[3];
	size_t n = geo_pools_candidates(route->geo_pools, guard_locate(cfg, client, s), cand);
	uint64_t now = time_mono_ms();

	for (size_t i = 0; i < n; i++) {
		const struct config_pool *pool = route->geo_pool_refs[cand[i]];

		if (origin_balance_any(
		        origin_pool_balance(opool, (unsigned)(pool - cfg->pools)), NULL, 0, now))
			return pool;
	}
	return route->pool;
}

bool
edge_guard_geo_field(const struct config *cfg, struct str name)
{
	if (name.len > 6 && str_eq_nocase(str_make(name.p, 6), STR_LIT("X-Geo-")))
		return true;
	for (int h = 0; h < GEO_HDR__N; h++)
		if (cfg->geo_hdr_names[h] != NULL &&
		    str_eq_nocase(name, str_cstr(cfg->geo_hdr_names[h])))
			return true;
	return false;
}

/* access: true when the list lets the client in; else *v says how not. */
static bool
guard_access(const struct config_access *a, const struct edge_guard_client *client,
    const struct geo_loc *loc, struct edge_guard_verdict *v)
{
	struct sockaddr_storage ss;
	int rule;
	size_t slot;

	guard_sockaddr(&client->addr, &ss);
	if (geo_rules_eval(a->rules, loc, (const struct sockaddr *)&ss, &rule) == GEO_VERDICT_ALLOW)
		return true;
	slot = rule >= 0 ? (size_t)rule : rule == GEO_EVAL_DEFAULT ? a->n : a->n + 1;
	atomic_fetch_add_explicit(&a->denials[slot].n, 1, memory_order_relaxed);
	memset(v, 0, sizeof *v);
	v->status = (int)geo_rules_status(a->rules);
	v->body = v->status == 451 ? "unavailable for legal reasons\n" : "forbidden\n";
	return false;
}

/* rate_limit: true while the client's bucket holds a token. */
static bool
guard_rate(struct policy_rl *rl, const struct config_rate_limit *r,
    const struct edge_guard_client *client, const struct h1_header *hdrs, size_t n,
    struct edge_guard_verdict *v)
{
	const struct h1_header *h;
	struct timespec ts;
	uint64_t key;

	switch (r->conf.by) {
	case POLICY_RL_BY_PREFIX:
		key = policy_rl_key_prefix(rl, r->zone, &client->addr);
		break;
	case POLICY_RL_BY_HEADER:
		/* a request without the field is limited by its address */
		h = h1_header_find(hdrs, n, r->conf.header);
		key = h != NULL ? policy_rl_key_bytes(rl, r->zone, h->value)
		                : policy_rl_key_addr(rl, r->zone, &client->addr);
		break;
	case POLICY_RL_BY_ADDRESS:
	default:
		key = policy_rl_key_addr(rl, r->zone, &client->addr);
		break;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (policy_rl_check(rl, key, &r->limit,
	        (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec, &v->retry_after_s))
		return true;
	v->status = 429;
	v->body = "too many requests\n";
	v->challenge = NULL;
	v->signed_url = false;
	return false;
}

bool
edge_guard_check(struct policy_rl *rl, const struct config *cfg, const struct config_site *site,
    const struct config_route *route, const struct edge_guard_client *client,
    const struct h1_header *hdrs, size_t n, bool judged, struct edge_guard_scratch *s,
    struct edge_guard_verdict *v)
{
	const struct config_access *a = route->access != NULL ? route->access : site->access;
	const struct config_rate_limit *r =
	    route->rate_limit != NULL ? route->rate_limit : site->rate_limit;
	bool geo_fields = guard_geo_headers_on(cfg, site, route);
	const struct geo_loc *loc = NULL;

	s->fields_len = 0;
	s->claims_len = 0;
	if (geo_fields || (a != NULL && a->geo))
		loc = guard_locate(cfg, client, s);
	if (!judged && a != NULL && !guard_access(a, client, loc, v))
		return false;
	if (!judged && r != NULL && rl != NULL && !guard_rate(rl, r, client, hdrs, n, v))
		return false;
	if (geo_fields && loc != NULL)
		guard_geo_fields(cfg, loc, s);
	return true;
}

/* ---- the node's tables ---- */

static bool
guard_has_rate_limit(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->n_sites; i++) {
		const struct config_site *s = &cfg->sites[i];

		if (s->rate_limit != NULL)
			return true;
		for (size_t j = 0; j < s->n_routes; j++)
			if (s->routes[j].rate_limit != NULL)
				return true;
	}
	return false;
}

void
edge_guard_tables(struct edge_server *srv, const struct config *cfg)
{
	struct policy_rl_table_conf rc;

	if (atomic_load_explicit(&srv->rate_limits, memory_order_relaxed) != NULL ||
	    !guard_has_rate_limit(cfg))
		return;
	policy_rl_table_conf_defaults(&rc);
	atomic_store_explicit(&srv->rate_limits, policy_rl_new(&rc), memory_order_release);
}

void
edge_guard_tables_free(struct edge_server *srv)
{
	struct policy_rl *t = atomic_exchange(&srv->rate_limits, NULL);

	policy_rl_free(&t);
}

/* ---- the PROXY protocol, before the connection ---- */

/*
 * A socket waiting for its PROXY header.  Bytes are peeked; those that are
 * certainly header (everything while the parser asks for more) are consumed
 * into buf, so a level-triggered read event never spins on peeked data; once
 * the header is complete, exactly its remaining bytes are consumed.
 */
struct edge_guard_pp {
	unsigned magic; /* EDGE_GUARD_PP_MAGIC */
	struct edge_worker *w;
	int fd;
	struct sockaddr_storage peer;
	int peer_len;
	const struct config_listen *listen;
	struct event *ev;
	struct edge_guard_pp *next, *prev; /* w->pp_waits */
	size_t have;
	uint8_t buf[1024]; /* policy_proxyproto_conf's default max_v2_bytes */
};

static void
guard_pp_free(struct edge_guard_pp *p, bool close_fd)
{
	OBJ_CHECK(p, EDGE_GUARD_PP_MAGIC);
	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		p->w->pp_waits = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	event_free(p->ev);
	if (close_fd)
		(void)close(p->fd);
	p->magic = 0;
	free(p);
}

static void
guard_pp_fail(struct edge_guard_pp *p, const char *why)
{
	char peer[POLICY_ADDR_STRLEN] = "?";
	struct policy_addr a;

	if (policy_addr_from_sockaddr((const struct sockaddr *)&p->peer, &a) == 0)
		(void)policy_addr_format(&a, peer);
	log_debug("edge", "PROXY protocol from %s: %s: connection closed", peer, why);
	EDGE_COUNT(&p->w->metrics, proxy_protocol_errors_total);
	guard_pp_free(p, true);
}

static void
guard_pp_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct edge_guard_pp *p = arg;
	struct policy_pp_result r;
	struct sockaddr_storage src;
	int src_len;
	enum policy_pp_status st;
	size_t need = 0;
	ssize_t n;

	OBJ_CHECK(p, EDGE_GUARD_PP_MAGIC);
	if (what & EV_TIMEOUT) {
		guard_pp_fail(p, "no complete header in time");
		return;
	}
	n = recv(fd, p->buf + p->have, sizeof p->buf - p->have, MSG_PEEK);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		guard_pp_fail(p, n == 0 ? "closed before the header" : strerror(errno));
		return;
	}
	st = policy_pp_parse(p->buf, p->have + (size_t)n, NULL, &r, &need);
	if (st == POLICY_PP_NEED_MORE) {
		/* every byte so far is header: take them */
		if (recv(fd, p->buf + p->have, (size_t)n, 0) != n) {
			guard_pp_fail(p, "short read");
			return;
		}
		p->have += (size_t)n;
		if (p->have == sizeof p->buf)
			guard_pp_fail(p, policy_pp_strerror(POLICY_PP_E_V2_TOO_LONG));
		return;
	}
	if (st != POLICY_PP_OK) {
		guard_pp_fail(p, policy_pp_strerror(st));
		return;
	}
	ASSERT(r.header_len > p->have && r.header_len <= p->have + (size_t)n);
	n = (ssize_t)(r.header_len - p->have);
	if (recv(fd, p->buf + p->have, (size_t)n, 0) != n) {
		guard_pp_fail(p, "short read");
		return;
	}
	if (r.local || r.family == AF_UNSPEC) {
		src = p->peer;
		src_len = p->peer_len;
	} else {
		src = r.src;
		src_len = r.family == AF_INET ? (int)sizeof(struct sockaddr_in)
		                              : (int)sizeof(struct sockaddr_in6);
	}
	{
		struct edge_worker *w = p->w;
		const struct config_listen *l = p->listen;

		guard_pp_free(p, false);
		edge_conn_accept(w, fd, (const struct sockaddr *)&src, src_len, l);
	}
}

void
edge_guard_pp_accept(struct edge_worker *w, int fd, const struct sockaddr *sa, int salen,
    const struct config_listen *listen)
{
	const struct config *cfg = w->gen->cfg;
	struct policy_addr peer;
	struct edge_guard_pp *p;
	struct timeval tv = time_ms_to_tv(5000);

	if (w->draining) {
		(void)close(fd);
		return;
	}
	p = xcalloc(1, sizeof *p);
	p->magic = EDGE_GUARD_PP_MAGIC;
	p->w = w;
	p->fd = fd;
	memcpy(&p->peer, sa, (size_t)salen < sizeof p->peer ? (size_t)salen : sizeof p->peer);
	p->peer_len = salen;
	p->listen = listen;
	p->ev = event_new(w->base, fd, EV_READ | EV_PERSIST, guard_pp_on_read, p);
	p->next = w->pp_waits;
	if (w->pp_waits != NULL)
		w->pp_waits->prev = p;
	w->pp_waits = p;
	if (policy_addr_from_sockaddr(sa, &peer) != 0 || cfg->trusted_proxies == NULL ||
	    !policy_cidr_lookup(cfg->trusted_proxies, &peer, NULL)) {
		guard_pp_fail(p, "peer not in trusted_proxies");
		return;
	}
	event_add(p->ev, &tv);
}

void
edge_guard_pp_abort_all(struct edge_worker *w)
{
	while (w->pp_waits != NULL)
		guard_pp_free(w->pp_waits, true);
}
