/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * origin/origin_dns.c — per-worker asynchronous resolver: c-ares on the worker's
 * event_base, with an answer cache.
 *
 * Model.  One struct origin_dns per worker thread owns a c-ares channel, one libevent
 * event per c-ares socket (learnt through the sock-state callback), one timer armed
 * from ares_timeout(), and a cache of at most DNS_CACHE_MAX names.  Nothing here
 * locks: every call comes from the thread running the event_base.
 *
 * A cache entry (struct dns_entry) holds all A and AAAA addresses of one name, the
 * times derived from the answer's smallest TTL (clamped to [min_ttl_s, max_ttl_s]):
 * refresh at 75 %, expiry at 100 %, and the end of the stale window one hour later.
 * Resolves of a name rotate through its addresses, skipping those the caller
 * marked bad (origin_dns_mark_bad) while another is good; a mark survives a
 * refreshed answer that still lists the address.  An entry has at most one
 * upstream lookup (struct dns_lookup, one ares_getaddrinfo) in flight; resolves that
 * need an answer join it as waiters (struct origin_dns_query, the public handle), so
 * concurrent resolves of a name cost one upstream query.
 *
 * Freshness.  Within 75 % of the TTL: answered from the cache.  Between 75 % and 100 %:
 * answered from the cache and a background lookup (no waiters) refreshes the entry.
 * Past expiry: the resolve waits for a lookup.  When a lookup fails for a reason other
 * than "the name does not exist" while an answer younger than its stale window exists,
 * the waiters get that old answer (stale-if-error, as RFC 8767 serve-stale), a warning
 * is logged at most once a minute per name, and the next DNS_RETRY_MS of resolves are
 * answered from the stale entry without a new lookup.  NXDOMAIN / no address is an
 * answer, not a failure: the entry is dropped and the waiters get not_found.
 *
 * Callbacks.  c-ares may complete a lookup inside ares_getaddrinfo() (/etc/hosts) or
 * inside ares_process_fd().  lookup_on_done() therefore only queues the result on
 * d->done and activates d->ev_done; user callbacks run from dns_on_done_event(),
 * outside c-ares, so they may resolve, cancel or free freely.  A waiter is unlinked
 * and freed before its callback runs, so a cancel from any callback only ever sees
 * handles that are still pending.  origin_dns_free() inside a callback only marks the
 * resolver dying (after delivering origin_dns_err_shutdown to every waiter); the
 * outermost dispatch frees it when the callback returns (d->busy counts the depth).
 *
 * Ownership.  d owns the entries, the lookups and the waiters; an entry is never freed
 * while a lookup points at it (e->lookup != NULL) or while its waiters are being
 * called (e->pinned).  Lookups are freed when their result has been delivered, or by
 * ares_destroy() (ARES_EDESTRUCTION) when the resolver goes away.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <ares.h>
#include <event2/event.h>

#include "core/assert.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "origin/origin_dns.h"

#define DNS_CACHE_MAX     1024             /* names per resolver; the oldest goes */
#define DNS_HASH_SIZE     2048             /* buckets, a power of two */
#define DNS_MAX_ADDRS     32               /* addresses kept per name */
#define DNS_STALE_MS      (3600ULL * 1000) /* stale-if-error window past expiry */
#define DNS_RETRY_MS      (30ULL * 1000)   /* after a failure, serve stale this long */
#define DNS_WARN_EVERY_MS (60ULL * 1000)   /* per-name rate limit of the warning */
#define DNS_TIMEOUT_MS    1000             /* first try; c-ares doubles it per round */
#define DNS_TRIES         2                /* so a dead server costs about 3 s */

const char origin_dns_err_not_found[] = "name not found";
const char origin_dns_err_timeout[] = "dns timeout";
const char origin_dns_err_failed[] = "dns lookup failed";
const char origin_dns_err_shutdown[] = "dns resolver shut down";

struct dns_ip {
	int family; /* AF_INET or AF_INET6 */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} u;
	uint64_t bad_until_ms; /* origin_dns_mark_bad: skipped until then */
};

struct dns_lookup;

struct dns_entry {
	struct dns_entry *hnext;    /* hash chain */
	TAILQ_ENTRY(dns_entry) age; /* d->entries, oldest answer first */
	uint32_t hash;
	char *name;         /* lower-case */
	struct dns_ip *ips; /* NULL when nips == 0 */
	unsigned nips;
	unsigned rr;         /* next address handed out */
	uint64_t refresh_ms; /* monotonic times, see the model above */
	uint64_t expire_ms;
	uint64_t stale_until_ms;
	uint64_t retry_ms; /* no new lookup before this */
	uint64_t warned_ms;
	bool warned;
	bool pinned;               /* its waiters are being called */
	struct dns_lookup *lookup; /* in flight, or NULL */
};

struct dns_lookup {
	unsigned magic; /* ORIGIN_LOOKUP_MAGIC */
	struct origin_dns *d;
	struct dns_entry *e;
	TAILQ_HEAD(, origin_dns_query) waiters;
	TAILQ_ENTRY(dns_lookup) link;      /* d->lookups: every live lookup */
	TAILQ_ENTRY(dns_lookup) done_link; /* d->done once c-ares is finished */
	int status;
	struct ares_addrinfo *ai; /* owned; freed with the lookup */
};

struct origin_dns_query {
	unsigned magic; /* ORIGIN_QUERY_MAGIC */
	struct dns_lookup *lk;
	TAILQ_ENTRY(origin_dns_query) link;
	uint16_t port;
	origin_dns_cb *cb;
	void *arg;
};

struct dns_sock {
	struct origin_dns *d;
	ares_socket_t fd;
	struct event *ev;
	struct dns_sock *next;
};

struct origin_dns {
	unsigned magic; /* ORIGIN_DNS_MAGIC */
	struct event_base *base;
	ares_channel channel;
	struct event *timer;   /* ares_timeout() */
	struct event *ev_done; /* runs queued completions */
	struct dns_sock *socks;
	unsigned min_ttl_s;
	unsigned max_ttl_s;
	unsigned nentries;
	unsigned busy;   /* depth of user-callback dispatch */
	bool dying;      /* origin_dns_free() was called */
	bool destroying; /* inside ares_destroy() */
	TAILQ_HEAD(, dns_entry) entries;
	TAILQ_HEAD(, dns_lookup) lookups;
	TAILQ_HEAD(, dns_lookup) done;
	struct dns_entry *hash[DNS_HASH_SIZE];
};

static pthread_once_t dns_lib_once = PTHREAD_ONCE_INIT;

static void
dns_lib_init(void)
{
	int rc = ares_library_init(ARES_LIB_INIT_ALL);

	if (rc != ARES_SUCCESS)
		log_err("dns", "c-ares library init: %s", ares_strerror(rc));
}

/* ---- event plumbing ------------------------------------------------------------ */

static void
dns_timer_update(struct origin_dns *d)
{
	struct timeval tv, *tvp;

	if (d->destroying)
		return;
	tvp = ares_timeout(d->channel, NULL, &tv);
	if (tvp != NULL)
		(void)evtimer_add(d->timer, tvp);
	else
		(void)evtimer_del(d->timer);
}

static void
dns_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct origin_dns *d = arg;

	OBJ_CHECK(d, ORIGIN_DNS_MAGIC);
	ares_process_fd(d->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	dns_timer_update(d);
}

static void
dns_on_sock(evutil_socket_t fd, short what, void *arg)
{
	struct dns_sock *s = arg;
	struct origin_dns *d = s->d;

	/* s may be freed by the sock-state callback inside ares_process_fd(). */
	OBJ_CHECK(d, ORIGIN_DNS_MAGIC);
	ares_process_fd(d->channel, (what & EV_READ) ? (ares_socket_t)fd : ARES_SOCKET_BAD,
	    (what & EV_WRITE) ? (ares_socket_t)fd : ARES_SOCKET_BAD);
	dns_timer_update(d);
}

static void
dns_on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct origin_dns *d = data;
	struct dns_sock *s, **sp;
	short what;

	OBJ_CHECK(d, ORIGIN_DNS_MAGIC);
	for (sp = &d->socks; (s = *sp) != NULL; sp = &s->next)
		if (s->fd == fd)
			break;
	if (!readable && !writable) {
		if (s == NULL)
			return;
		*sp = s->next;
		event_free(s->ev);
		free(s);
		return;
	}
	if (d->destroying)
		return;
	if (s == NULL) {
		s = xcalloc(1, sizeof *s);
		s->d = d;
		s->fd = fd;
		s->next = d->socks;
		d->socks = s;
	} else {
		event_free(s->ev); /* safe even from its own callback */
	}
	what = EV_PERSIST | (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0);
	s->ev = event_new(d->base, fd, what, dns_on_sock, s);
	ASSERT(s->ev != NULL);
	(void)event_add(s->ev, NULL);
}

/* ---- cache --------------------------------------------------------------------- */

static uint32_t
dns_hash(const char *name)
{
	uint32_t h = 2166136261U; /* FNV-1a */

	for (; *name != '\0'; name++) {
		h ^= (unsigned char)*name;
		h *= 16777619U;
	}
	return h;
}

static struct dns_entry *
entry_find(struct origin_dns *d, const char *name, uint32_t hash)
{
	struct dns_entry *e;

	for (e = d->hash[hash & (DNS_HASH_SIZE - 1)]; e != NULL; e = e->hnext)
		if (e->hash == hash && strcmp(e->name, name) == 0)
			return e;
	return NULL;
}

static void
entry_drop_ips(struct dns_entry *e)
{
	free(e->ips);
	e->ips = NULL;
	e->nips = 0;
	e->rr = 0;
}

static void
entry_remove(struct origin_dns *d, struct dns_entry *e)
{
	struct dns_entry **ep;

	ASSERT(e->lookup == NULL && !e->pinned);
	for (ep = &d->hash[e->hash & (DNS_HASH_SIZE - 1)]; *ep != e; ep = &(*ep)->hnext)
		ASSERT(*ep != NULL);
	*ep = e->hnext;
	TAILQ_REMOVE(&d->entries, e, age);
	d->nentries--;
	entry_drop_ips(e);
	free(e->name);
	free(e);
}

static struct dns_entry *
entry_new(struct origin_dns *d, const char *name, uint32_t hash)
{
	struct dns_entry *e, *victim;
	size_t slot = hash & (DNS_HASH_SIZE - 1);

	if (d->nentries >= DNS_CACHE_MAX) {
		/* Evict the entry whose answer is oldest and that nobody is waiting on. */
		TAILQ_FOREACH(victim, &d->entries, age)
		if (victim->lookup == NULL && !victim->pinned)
			break;
		if (victim != NULL)
			entry_remove(d, victim);
	}
	e = xcalloc(1, sizeof *e);
	e->name = xstrdup(name);
	e->hash = hash;
	e->hnext = d->hash[slot];
	d->hash[slot] = e;
	TAILQ_INSERT_TAIL(&d->entries, e, age);
	d->nentries++;
	return e;
}

static bool
dns_ip_eq(const struct dns_ip *a, const struct dns_ip *b)
{
	if (a->family != b->family)
		return false;
	if (a->family == AF_INET)
		return a->u.v4.s_addr == b->u.v4.s_addr;
	return memcmp(&a->u.v6, &b->u.v6, sizeof a->u.v6) == 0;
}

/* Stores a successful answer; returns the number of addresses kept (0: none usable). */
static unsigned
entry_fill(struct origin_dns *d, struct dns_entry *e, const struct ares_addrinfo *ai, uint64_t now)
{
	const struct ares_addrinfo_node *n;
	struct dns_ip *ips;
	unsigned cnt = 0;
	long long ttl = -1;

	if (ai == NULL)
		return 0;
	ips = xcalloc(DNS_MAX_ADDRS, sizeof *ips);
	for (n = ai->nodes; n != NULL && cnt < DNS_MAX_ADDRS; n = n->ai_next) {
		if (n->ai_family == AF_INET && n->ai_addrlen >= sizeof(struct sockaddr_in)) {
			ips[cnt].family = AF_INET;
			ips[cnt].u.v4 =
			    ((const struct sockaddr_in *)(const void *)n->ai_addr)->sin_addr;
		} else if (n->ai_family == AF_INET6 &&
		           n->ai_addrlen >= sizeof(struct sockaddr_in6)) {
			ips[cnt].family = AF_INET6;
			ips[cnt].u.v6 =
			    ((const struct sockaddr_in6 *)(const void *)n->ai_addr)->sin6_addr;
		} else {
			continue;
		}
		cnt++;
		if (ttl < 0 || n->ai_ttl < ttl)
			ttl = n->ai_ttl < 0 ? 0 : n->ai_ttl;
	}
	if (cnt == 0) {
		free(ips);
		return 0;
	}
	if (ttl < (long long)d->min_ttl_s)
		ttl = d->min_ttl_s;
	if (ttl > (long long)d->max_ttl_s)
		ttl = d->max_ttl_s;
	for (unsigned i = 0; i < cnt; i++)
		for (unsigned j = 0; j < e->nips; j++)
			if (dns_ip_eq(&ips[i], &e->ips[j]))
				ips[i].bad_until_ms = e->ips[j].bad_until_ms;
	entry_drop_ips(e);
	e->ips = ips;
	e->nips = cnt;
	e->refresh_ms = now + (uint64_t)ttl * 750;
	e->expire_ms = now + (uint64_t)ttl * 1000;
	e->stale_until_ms = e->expire_ms + DNS_STALE_MS;
	e->retry_ms = 0;
	/* Oldest answer first: a fresh answer moves the name to the young end. */
	TAILQ_REMOVE(&d->entries, e, age);
	TAILQ_INSERT_TAIL(&d->entries, e, age);
	return cnt;
}

/* Next address of e in round-robin order, with port: the next one not marked
 * bad, or the next one when all are. */
static socklen_t
entry_pick(struct dns_entry *e, uint16_t port, struct sockaddr_storage *out)
{
	const struct dns_ip *ip;
	uint64_t now = time_mono_ms();
	unsigned k = 0;

	ASSERT(e->nips > 0);
	while (k < e->nips && e->ips[(e->rr + k) % e->nips].bad_until_ms > now)
		k++;
	if (k == e->nips)
		k = 0;
	ip = &e->ips[(e->rr + k) % e->nips];
	e->rr = (e->rr + k + 1) % e->nips;
	memset(out, 0, sizeof *out);
	if (ip->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)(void *)out;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		sin->sin_addr = ip->u.v4;
		return sizeof *sin;
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)(void *)out;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		sin6->sin6_addr = ip->u.v6;
		return sizeof *sin6;
	}
}

/* ---- lookups ------------------------------------------------------------------- */

static void
lookup_free(struct dns_lookup *lk)
{
	struct origin_dns *d = lk->d;

	ASSERT(TAILQ_EMPTY(&lk->waiters));
	TAILQ_REMOVE(&d->lookups, lk, link);
	if (lk->e != NULL && lk->e->lookup == lk)
		lk->e->lookup = NULL;
	if (lk->ai != NULL)
		ares_freeaddrinfo(lk->ai);
	lk->magic = 0;
	free(lk);
}

/* c-ares is done with lk: queue it; user callbacks run from dns_on_done_event(). */
static void
lookup_on_done(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
	struct dns_lookup *lk = arg;
	struct origin_dns *d;

	OBJ_CHECK(lk, ORIGIN_LOOKUP_MAGIC);
	d = lk->d;
	OBJ_CHECK(d, ORIGIN_DNS_MAGIC);
	lk->status = status;
	lk->ai = ai;
	if (d->destroying) {
		lookup_free(lk);
		return;
	}
	TAILQ_INSERT_TAIL(&d->done, lk, done_link);
	event_active(d->ev_done, EV_TIMEOUT, 0);
}

static void
lookup_start(struct origin_dns *d, struct dns_entry *e)
{
	struct ares_addrinfo_hints hints;
	struct dns_lookup *lk;

	ASSERT(e->lookup == NULL);
	lk = xcalloc(1, sizeof *lk);
	lk->magic = ORIGIN_LOOKUP_MAGIC;
	lk->d = d;
	lk->e = e;
	TAILQ_INIT(&lk->waiters);
	TAILQ_INSERT_TAIL(&d->lookups, lk, link);
	e->lookup = lk;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC; /* A and AAAA */
	/* May call lookup_on_done() at once (/etc/hosts); that only queues. */
	ares_getaddrinfo(d->channel, e->name, NULL, &hints, lookup_on_done, lk);
	dns_timer_update(d);
}

static const char *
dns_status_err(int status)
{
	switch (status) {
	case ARES_ENOTFOUND:
	case ARES_ENODATA:
	case ARES_ENONAME:
		return origin_dns_err_not_found;
	case ARES_ETIMEOUT:
		return origin_dns_err_timeout;
	case ARES_ECANCELLED:
	case ARES_EDESTRUCTION:
		return origin_dns_err_shutdown;
	default:
		return origin_dns_err_failed;
	}
}

/* Applies lk's result to its entry and calls its waiters. */
static void
lookup_complete(struct origin_dns *d, struct dns_lookup *lk)
{
	struct dns_entry *e = lk->e;
	struct origin_dns_query *q;
	struct sockaddr_storage ss;
	const char *err = NULL;
	uint64_t now = time_mono_ms();
	origin_dns_cb *cb;
	void *arg;
	uint16_t port;

	ASSERT(e != NULL && e->lookup == lk);
	e->lookup = NULL;
	lk->e = NULL;
	if (lk->status != ARES_SUCCESS || entry_fill(d, e, lk->ai, now) == 0) {
		err = lk->status == ARES_SUCCESS ? origin_dns_err_not_found
		                                 : dns_status_err(lk->status);
		if (err != origin_dns_err_not_found && e->nips > 0 && now < e->stale_until_ms) {
			e->retry_ms = now + DNS_RETRY_MS;
			if (e->retry_ms > e->stale_until_ms)
				e->retry_ms = e->stale_until_ms;
			if (!e->warned || now - e->warned_ms >= DNS_WARN_EVERY_MS) {
				e->warned = true;
				e->warned_ms = now;
				log_warn("dns",
				    "dns \"%s\": lookup failed (%s), serving the "
				    "previous answer (%s)",
				    e->name, ares_strerror(lk->status),
				    now < e->expire_ms ? "still fresh" : "stale");
			}
			err = NULL;
		} else {
			entry_drop_ips(e);
			log_debug("dns", "dns \"%s\": %s", e->name, ares_strerror(lk->status));
		}
	}

	e->pinned = true;
	while ((q = TAILQ_FIRST(&lk->waiters)) != NULL) {
		OBJ_CHECK(q, ORIGIN_QUERY_MAGIC);
		TAILQ_REMOVE(&lk->waiters, q, link);
		cb = q->cb;
		arg = q->arg;
		port = q->port;
		q->magic = 0;
		free(q);
		/* The entry may have lost its addresses to a later lookup of the same
		 * name started from a callback; report what this lookup found. */
		if (err == NULL && e->nips > 0)
			cb(NULL, (const struct sockaddr *)&ss, entry_pick(e, port, &ss), arg);
		else
			cb(err != NULL ? err : origin_dns_err_not_found, NULL, 0, arg);
	}
	e->pinned = false;
	if (e->nips == 0 && e->lookup == NULL)
		entry_remove(d, e);
}

static void dns_destroy(struct origin_dns *d);

static void
dns_on_done_event(evutil_socket_t fd, short what, void *arg)
{
	struct origin_dns *d = arg;
	struct dns_lookup *lk;

	OBJ_CHECK(d, ORIGIN_DNS_MAGIC);
	d->busy++;
	while (!d->dying && (lk = TAILQ_FIRST(&d->done)) != NULL) {
		TAILQ_REMOVE(&d->done, lk, done_link);
		lookup_complete(d, lk);
		lookup_free(lk);
	}
	d->busy--;
	if (d->dying && d->busy == 0)
		dns_destroy(d);
}

/* ---- SRV ------------------------------------------------------------------------- */

#define DNS_CLASS_IN 1
#define DNS_TYPE_SRV 33

struct dns_srv_query {
	struct origin_dns *d;
	origin_dns_srv_cb *cb;
	void *arg;
};

/* The offset past the name at off in the message, or 0 when malformed. */
static int
dns_skip_name(const unsigned char *m, int len, int off)
{
	while (off < len) {
		unsigned n = m[off];

		if (n == 0)
			return off + 1;
		if ((n & 0xc0) == 0xc0)
			return off + 2 <= len ? off + 2 : 0;
		if ((n & 0xc0) != 0)
			return 0;
		off += 1 + (int)n;
	}
	return 0;
}

/* The TTL of the first answer record of the message (RFC 1035 §4.1), or 0. */
static unsigned
dns_first_ttl(const unsigned char *m, int len)
{
	int off = 12;
	unsigned qd;

	if (len < 12 || ((unsigned)m[6] << 8 | m[7]) == 0)
		return 0;
	for (qd = (unsigned)m[4] << 8 | m[5]; qd > 0; qd--) {
		if ((off = dns_skip_name(m, len, off)) == 0)
			return 0;
		off += 4; /* type, class */
	}
	if ((off = dns_skip_name(m, len, off)) == 0 || off + 8 > len)
		return 0;
	off += 4; /* type, class */
	return (unsigned)m[off] << 24 | (unsigned)m[off + 1] << 16 | (unsigned)m[off + 2] << 8 |
	       m[off + 3];
}

static void
dns_srv_on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_srv_query *q = arg;
	struct ares_srv_reply *rr = NULL, *r;
	struct origin_dns_srv *out;
	unsigned ttl;
	size_t n = 0;

	(void)timeouts;
	if (status == ARES_SUCCESS)
		status = ares_parse_srv_reply(abuf, alen, &rr);
	if (status != ARES_SUCCESS) {
		q->cb(dns_status_err(status), NULL, 0, 0, q->arg);
		free(q);
		return;
	}
	for (r = rr; r != NULL; r = r->next)
		n++;
	out = xcalloc(n ? n : 1, sizeof *out);
	n = 0;
	for (r = rr; r != NULL; r = r->next)
		out[n++] = (struct origin_dns_srv){r->host, r->port, r->priority, r->weight};
	ttl = dns_first_ttl(abuf, alen);
	if (ttl < q->d->min_ttl_s)
		ttl = q->d->min_ttl_s;
	if (ttl > q->d->max_ttl_s)
		ttl = q->d->max_ttl_s;
	q->cb(NULL, out, n, ttl, q->arg);
	free(out);
	ares_free_data(rr);
	free(q);
}

void
origin_dns_query_srv(struct origin_dns *d, const char *name, origin_dns_srv_cb *cb, void *arg)
{
	struct dns_srv_query *q = xcalloc(1, sizeof *q);

	ASSERT(d->magic == ORIGIN_DNS_MAGIC);
	q->d = d;
	q->cb = cb;
	q->arg = arg;
	if (d->dying) {
		free(q);
		cb(origin_dns_err_shutdown, NULL, 0, 0, arg);
		return;
	}
	ares_query(d->channel, name, DNS_CLASS_IN, DNS_TYPE_SRV, dns_srv_on_answer, q);
	dns_timer_update(d);
}

/* ---- public -------------------------------------------------------------------- */

struct origin_dns *
origin_dns_new(
    struct event_base *base, const char *servers_csv, unsigned min_ttl_s, unsigned max_ttl_s)
{
	struct ares_options opts;
	struct origin_dns *d;
	int rc;

	ASSERT(base != NULL);
	(void)pthread_once(&dns_lib_once, dns_lib_init);
	d = xcalloc(1, sizeof *d);
	d->magic = ORIGIN_DNS_MAGIC;
	d->base = base;
	d->min_ttl_s = min_ttl_s;
	d->max_ttl_s = max_ttl_s < min_ttl_s ? min_ttl_s : max_ttl_s;
	TAILQ_INIT(&d->entries);
	TAILQ_INIT(&d->lookups);
	TAILQ_INIT(&d->done);

	memset(&opts, 0, sizeof opts);
	opts.sock_state_cb = dns_on_sock_state;
	opts.sock_state_cb_data = d;
	opts.timeout = DNS_TIMEOUT_MS;
	opts.tries = DNS_TRIES;
	rc = ares_init_options(
	    &d->channel, &opts, ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
	if (rc != ARES_SUCCESS) {
		log_err("dns", "c-ares channel init: %s", ares_strerror(rc));
		d->magic = 0;
		free(d);
		return NULL;
	}
	if (servers_csv != NULL) {
		rc = ares_set_servers_ports_csv(d->channel, servers_csv);
		if (rc != ARES_SUCCESS) {
			log_err("dns", "dns servers \"%s\": %s", servers_csv, ares_strerror(rc));
			ares_destroy(d->channel);
			d->magic = 0;
			free(d);
			return NULL;
		}
	}
	d->timer = evtimer_new(base, dns_on_timer, d);
	d->ev_done = event_new(base, -1, 0, dns_on_done_event, d);
	ASSERT(d->timer != NULL && d->ev_done != NULL);
	return d;
}

static void
dns_destroy(struct origin_dns *d)
{
	struct dns_lookup *lk;
	struct dns_entry *e;
	struct dns_sock *s;

	ASSERT(d->dying && d->busy == 0);
	d->destroying = true;
	/* Calls lookup_on_done(ARES_EDESTRUCTION) for each lookup c-ares still holds,
	 * and the sock-state callback for each socket it closes. */
	ares_destroy(d->channel);
	while ((lk = TAILQ_FIRST(&d->lookups)) != NULL) /* completed, not yet run */
		lookup_free(lk);
	while ((s = d->socks) != NULL) {
		d->socks = s->next;
		event_free(s->ev);
		free(s);
	}
	while ((e = TAILQ_FIRST(&d->entries)) != NULL) {
		e->lookup = NULL;
		e->pinned = false;
		entry_remove(d, e);
	}
	event_free(d->timer);
	event_free(d->ev_done);
	d->magic = 0;
	free(d);
}

void
origin_dns_free(struct origin_dns **dp)
{
	struct origin_dns *d = *dp;
	struct origin_dns_query *q;
	struct dns_lookup *lk;
	origin_dns_cb *cb;
	void *arg;

	if (d == NULL)
		return;
	*dp = NULL;
	OBJ_CHECK(d, ORIGIN_DNS_MAGIC);
	if (d->dying)
		return;
	d->dying = true;
	/* No lookup is created (resolve fails) or freed while these callbacks run. */
	d->busy++;
	TAILQ_FOREACH(lk, &d->lookups, link)
	{
		while ((q = TAILQ_FIRST(&lk->waiters)) != NULL) {
			OBJ_CHECK(q, ORIGIN_QUERY_MAGIC);
			TAILQ_REMOVE(&lk->waiters, q, link);
			cb = q->cb;
			arg = q->arg;
			q->magic = 0;
			free(q);
			cb(origin_dns_err_shutdown, NULL, 0, arg);
		}
	}
	d->busy--;
	if (d->busy == 0)
		dns_destroy(d);
}

/* Lower-cases a host name into buf; -1 unless it is a plausible DNS name (RFC 1123
 * letters, digits, hyphens, plus '_'; labels of 1..63; at most 253 bytes). */
static int
dns_name_norm(const char *host, char *buf, size_t buflen)
{
	size_t i, label = 0, len = strlen(host);

	if (len > 0 && host[len - 1] == '.')
		len--; /* absolute name: keep the dot below */
	if (len == 0 || len > 253 || len + 2 > buflen)
		return -1;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)host[i];

		if (c == '.') {
			if (label == 0)
				return -1;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		           (c >= '0' && c <= '9') || c == '-' || c == '_') {
			if (++label > 63)
				return -1;
		} else {
			return -1;
		}
		buf[i] = (char)str_lower(c);
	}
	if (host[len] == '.')
		buf[len++] = '.';
	buf[len] = '\0';
	return 0;
}

/* "localhost" or a name under ".localhost" (name is already lower-case; an
 * absolute name keeps its trailing dot). */
static bool
dns_is_localhost(const char *name)
{
	size_t n = strlen(name);

	if (n > 0 && name[n - 1] == '.')
		n--;
	return (n == 9 && memcmp(name, "localhost", 9) == 0) ||
	       (n > 10 && memcmp(name + n - 10, ".localhost", 10) == 0);
}

int
origin_dns_resolve(struct origin_dns *d, const char *host, uint16_t port,
    struct sockaddr_storage *out, socklen_t *outlen, origin_dns_cb *cb, void *arg,
    struct origin_dns_query **qp, const char **err)
{
	struct origin_dns_query *q;
	struct dns_entry *e;
	char name[256];
	uint64_t now;
	uint32_t hash;

	OBJ_CHECK(d, ORIGIN_DNS_MAGIC);
	ASSERT(host != NULL && out != NULL && outlen != NULL && cb != NULL && qp != NULL &&
	       err != NULL);
	*err = NULL;
	if (d->dying) {
		*err = origin_dns_err_shutdown;
		return -1;
	}

	memset(out, 0, sizeof *out);
	{
		struct sockaddr_in *sin = (struct sockaddr_in *)(void *)out;
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)(void *)out;

		if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
			sin->sin_family = AF_INET;
			sin->sin_port = htons(port);
			*outlen = sizeof *sin;
			return 0;
		}
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
			sin6->sin6_family = AF_INET6;
			sin6->sin6_port = htons(port);
			*outlen = sizeof *sin6;
			return 0;
		}
	}

	if (dns_name_norm(host, name, sizeof name) == -1) {
		*err = origin_dns_err_failed;
		return -1;
	}
	if (dns_is_localhost(name)) {
		/* RFC 6761 §6.3: localhost names are the loopback address, whatever
		 * /etc/hosts (absent in some minimal roots) or DNS say. */
		struct sockaddr_in *sin = (struct sockaddr_in *)(void *)out;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		*outlen = sizeof *sin;
		return 0;
	}
	hash = dns_hash(name);
	now = time_mono_ms();
	e = entry_find(d, name, hash);
	if (e != NULL && e->nips > 0 && now >= e->stale_until_ms)
		entry_drop_ips(e);
	if (e != NULL && e->nips > 0) {
		if (now < e->expire_ms) {
			if (now >= e->refresh_ms && now >= e->retry_ms && e->lookup == NULL)
				lookup_start(d, e); /* refresh ahead, nobody waits */
			*outlen = entry_pick(e, port, out);
			return 0;
		}
		if (e->lookup == NULL && now < e->retry_ms) {
			/* Expired, and the last lookup failed recently: stale-if-error. */
			*outlen = entry_pick(e, port, out);
			return 0;
		}
	}
	if (e == NULL)
		e = entry_new(d, name, hash);
	if (e->lookup == NULL)
		lookup_start(d, e);
	q = xcalloc(1, sizeof *q);
	q->magic = ORIGIN_QUERY_MAGIC;
	q->lk = e->lookup;
	q->port = port;
	q->cb = cb;
	q->arg = arg;
	TAILQ_INSERT_TAIL(&q->lk->waiters, q, link);
	*qp = q;
	return 1;
}

unsigned
origin_dns_mark_bad(struct origin_dns *d, const char *host, const struct sockaddr *sa,
    uint64_t until_ms, bool *marked)
{
	struct dns_entry *e;
	struct dns_ip ip;
	char name[256];
	uint64_t now = time_mono_ms();
	unsigned good = 0;

	OBJ_CHECK(d, ORIGIN_DNS_MAGIC);
	*marked = false;
	memset(&ip, 0, sizeof ip);
	ip.family = sa->sa_family;
	if (sa->sa_family == AF_INET)
		ip.u.v4 = ((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6)
		ip.u.v6 = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	else
		return 0;
	if (dns_name_norm(host, name, sizeof name) == -1 ||
	    (e = entry_find(d, name, dns_hash(name))) == NULL)
		return 0;
	for (unsigned i = 0; i < e->nips; i++) {
		if (dns_ip_eq(&e->ips[i], &ip)) {
			if (e->ips[i].bad_until_ms <= now)
				*marked = true;
			e->ips[i].bad_until_ms = until_ms;
		} else if (e->ips[i].bad_until_ms <= now) {
			good++;
		}
	}
	return good;
}

void
origin_dns_cancel(struct origin_dns_query **qp)
{
	struct origin_dns_query *q = *qp;

	if (q == NULL)
		return;
	*qp = NULL;
	OBJ_CHECK(q, ORIGIN_QUERY_MAGIC);
	TAILQ_REMOVE(&q->lk->waiters, q, link);
	q->magic = 0;
	free(q);
}
