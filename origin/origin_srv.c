/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * origin/origin_srv.c — see origin_srv.h.
 *
 * One round at a time: the SRV query, then one address lookup per target
 * (origin_dns: cached, coalesced), then the membership.  While the watcher
 * is being freed, origin_dns_free calls what is pending with
 * origin_dns_err_shutdown: those callbacks only count down.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <event2/event.h>

#include "core/assert.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "origin/origin_dns.h"
#include "origin/origin_srv.h"

#define SRV_RETRY_S 5

struct srv_round {
	struct origin_srv *s;
	size_t n;       /* targets asked for */
	size_t pending; /* lookups not answered yet */
	unsigned ttl_s;
	struct origin_srv_member *m;  /* [n]; host "" while unknown or failed */
	struct origin_dns_query **qs; /* [n]: pending lookups */
	void **args;                  /* [n]: each lookup's (round, index) */
};

struct srv_slot {
	struct srv_round *r;
	size_t i;
};

struct origin_srv {
	struct origin_dns *dns;
	struct event *timer;
	char *name;
	origin_srv_cb *on_change;
	void *arg;
	bool dying;
	bool asking; /* the SRV query is in flight */
	struct srv_round *round;
	struct origin_srv_member *members; /* the last membership, sorted */
	size_t n_members;
	bool have;
	struct origin_srv_stats stats;
};

static void
srv_arm(struct origin_srv *s, unsigned secs)
{
	struct timeval tv = {(time_t)secs, 0};

	evtimer_add(s->timer, &tv);
}

static void
srv_round_free(struct srv_round *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->args[i]);
	free(r->args);
	free(r->qs);
	free(r->m);
	free(r);
}

static int
srv_member_cmp(const void *a, const void *b)
{
	const struct origin_srv_member *x = a, *y = b;
	int c = strcmp(x->host, y->host);

	return c != 0 ? c : (int)x->port - (int)y->port;
}

/* Every lookup of the round answered: the membership, if it changed. */
static void
srv_round_done(struct srv_round *r)
{
	struct origin_srv *s = r->s;
	size_t k = 0;

	s->round = NULL;
	for (size_t i = 0; i < r->n; i++) {
		bool dup = false;

		if (r->m[i].host[0] == '\0')
			continue;
		for (size_t j = 0; j < k; j++)
			dup = dup || (r->m[j].port == r->m[i].port &&
			                 strcmp(r->m[j].host, r->m[i].host) == 0);
		if (!dup)
			r->m[k++] = r->m[i];
	}
	if (k == 0) {
		s->stats.failures++;
		log_warn("siblings", "srv %s: no target resolved; the members stay", s->name);
		srv_arm(s, SRV_RETRY_S);
		srv_round_free(r);
		return;
	}
	qsort(r->m, k, sizeof r->m[0], srv_member_cmp);
	s->stats.refreshes++;
	srv_arm(s, r->ttl_s);
	if (s->have && k == s->n_members && memcmp(r->m, s->members, k * sizeof r->m[0]) == 0) {
		srv_round_free(r);
		return;
	}
	free(s->members);
	s->members = xmalloc(k * sizeof *s->members);
	memcpy(s->members, r->m, k * sizeof *s->members);
	s->n_members = k;
	s->stats.members = k;
	if (s->have)
		s->stats.changes++;
	s->have = true;
	log_info("siblings", "srv %s: %zu members", s->name, k);
	srv_round_free(r);
	s->on_change(s->members, s->n_members, s->arg);
}

static void
srv_set_member(struct origin_srv_member *m, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		(void)inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
		    m->host, sizeof m->host);
	else if (sa->sa_family == AF_INET6)
		(void)inet_ntop(AF_INET6,
		    &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, m->host,
		    sizeof m->host);
}

static void
srv_on_address(const char *err, const struct sockaddr *sa, socklen_t salen, void *arg)
{
	struct srv_slot *slot = arg;
	struct srv_round *r = slot->r;

	(void)salen;
	r->qs[slot->i] = NULL;
	if (err == NULL && !r->s->dying)
		srv_set_member(&r->m[slot->i], sa);
	else if (!r->s->dying)
		log_warn("siblings", "srv %s: target of member %zu: %s", r->s->name, slot->i, err);
	if (--r->pending == 0 && !r->s->dying)
		srv_round_done(r);
}

static void
srv_on_records(
    const char *err, const struct origin_dns_srv *rr, size_t n, unsigned ttl_s, void *arg)
{
	struct origin_srv *s = arg;
	struct srv_round *r;
	unsigned lowest = UINT16_MAX + 1u;

	s->asking = false;
	if (s->dying)
		return;
	if (err != NULL || n == 0) {
		s->stats.failures++;
		log_warn("siblings", "srv %s: %s; the members stay", s->name,
		    err != NULL ? err : "no records");
		srv_arm(s, SRV_RETRY_S);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (rr[i].priority < lowest)
			lowest = rr[i].priority;
	r = xcalloc(1, sizeof *r);
	r->s = s;
	r->ttl_s = ttl_s;
	r->m = xcalloc(n, sizeof *r->m);
	r->qs = xcalloc(n, sizeof *r->qs);
	r->args = xcalloc(n, sizeof *r->args);
	s->round = r;
	for (size_t i = 0; i < n; i++) {
		struct sockaddr_storage ss;
		socklen_t len;
		const char *e = NULL;
		struct srv_slot *slot;
		int rc;

		if (rr[i].priority != lowest)
			continue;
		slot = xcalloc(1, sizeof *slot);
		*slot = (struct srv_slot){r, r->n};
		r->args[r->n] = slot;
		r->m[r->n].port = rr[i].port;
		/* RFC 2782: weight 0 is "very small"; the balancer takes 1..1000 */
		r->m[r->n].weight = rr[i].weight == 0     ? 1
		                    : rr[i].weight > 1000 ? 1000
		                                          : rr[i].weight;
		rc = origin_dns_resolve(s->dns, rr[i].target, rr[i].port, &ss, &len, srv_on_address,
		    slot, &r->qs[r->n], &e);
		if (rc == 0)
			srv_set_member(&r->m[r->n], (const struct sockaddr *)&ss);
		else if (rc == 1)
			r->pending++;
		else
			log_warn("siblings", "srv %s: target %s: %s", s->name, rr[i].target, e);
		r->n++;
	}
	if (r->pending == 0)
		srv_round_done(r);
}

static void
srv_ask(struct origin_srv *s)
{
	if (s->asking || s->round != NULL)
		return;
	s->asking = true;
	origin_dns_query_srv(s->dns, s->name, srv_on_records, s);
}

static void
srv_on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	srv_ask(arg);
}

struct origin_srv *
origin_srv_new(struct event_base *base, const char *name, const char *servers_csv,
    unsigned min_ttl_s, unsigned max_ttl_s, origin_srv_cb *on_change, void *arg)
{
	struct origin_srv *s = xcalloc(1, sizeof *s);

	s->dns = origin_dns_new(base, servers_csv, min_ttl_s, max_ttl_s);
	if (s->dns == NULL) {
		free(s);
		return NULL;
	}
	s->timer = evtimer_new(base, srv_on_timer, s);
	ASSERT(s->timer != NULL);
	s->name = xstrdup(name);
	s->on_change = on_change;
	s->arg = arg;
	srv_ask(s);
	return s;
}

void
origin_srv_free(struct origin_srv **sp)
{
	struct origin_srv *s = *sp;

	if (s == NULL)
		return;
	*sp = NULL;
	s->dying = true;
	event_free(s->timer);
	origin_dns_free(&s->dns); /* pending callbacks run now, and only count down */
	if (s->round != NULL)
		srv_round_free(s->round);
	free(s->members);
	free(s->name);
	free(s);
}

const char *
origin_srv_name(const struct origin_srv *s)
{
	return s->name;
}

void
origin_srv_stats(const struct origin_srv *s, struct origin_srv_stats *out)
{
	*out = s->stats;
}
