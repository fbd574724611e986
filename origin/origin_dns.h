/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * origin/origin_dns.h — per-worker asynchronous DNS resolver (c-ares on the worker's
 * event_base) with a small answer cache: A and AAAA, TTL respected and clamped,
 * round robin over a name's addresses, coalescing of concurrent lookups, refresh
 * ahead of expiry and stale-if-error.
 *
 * One struct origin_dns per worker thread; it and its query handles never cross
 * threads.  Every function below must be called from the thread that runs `base`.
 */
#ifndef OUTPOST_ORIGIN_DNS_H
#define OUTPOST_ORIGIN_DNS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct event_base;
struct origin_dns;       /* one per worker thread; never crosses threads */
struct origin_dns_query; /* a pending lookup handle */

/* Error strings passed to origin_dns_cb and through `err`; compare by pointer. */
extern const char origin_dns_err_not_found[]; /* NXDOMAIN / no address */
extern const char origin_dns_err_timeout[];   /* no server answered in time */
extern const char origin_dns_err_failed[];    /* other resolver failures, invalid name */
extern const char origin_dns_err_shutdown[];  /* the resolver was freed first */

/*
 * Completion of an asynchronous origin_dns_resolve().  err is NULL on success and sa
 * (salen bytes, AF_INET or AF_INET6, port set) is valid only during the call: copy it.
 * On failure err is one of the constants above and sa is NULL, salen 0.  Called from
 * the event loop of the resolver's thread, never from inside origin_dns_resolve().
 * The query handle is already gone when the callback runs: do not cancel it.
 */
typedef void origin_dns_cb(const char *err, const struct sockaddr *sa, socklen_t salen, void *arg);

/* Settings of the resolver (config/ fills them from resolver). */
struct origin_dns_conf {
	char *servers;      /* resolver.servers joined as "ip:port,ip:port" (c-ares
	                       CSV form, IPv6 as [addr]:port); NULL = /etc/resolv.conf */
	unsigned min_ttl_s; /* resolver.min_ttl, default 1s */
	unsigned max_ttl_s; /* resolver.max_ttl, default 3600s */
};
/* Sets every setting to its default (inline: config/ links no resolver). */
static inline void
origin_dns_conf_defaults(struct origin_dns_conf *c)
{
	*c = (struct origin_dns_conf){0};
	c->min_ttl_s = 1;
	c->max_ttl_s = 3600;
}

/*
 * servers_csv: NULL = /etc/resolv.conf; else c-ares CSV "ip:port,[ip6]:port".
 * TTLs of answers are clamped to [min_ttl_s, max_ttl_s].
 * Returns the resolver, or NULL (logged) if c-ares cannot be initialised or
 * servers_csv does not parse.  Does not take ownership of base, which must outlive
 * the resolver; servers_csv is only read during the call.  Worker thread.
 */
struct origin_dns *origin_dns_new(
    struct event_base *base, const char *servers_csv, unsigned min_ttl_s, unsigned max_ttl_s);

/*
 * Frees the resolver and sets *dp = NULL; NULL-safe.  Every still pending query gets
 * its callback once, before origin_dns_free() returns, with origin_dns_err_shutdown;
 * those callbacks may cancel other queries, and origin_dns_resolve() called from them
 * fails with origin_dns_err_shutdown.  May be called from inside an origin_dns_cb; the
 * memory is then released when that callback returns.  Worker thread.
 */
void origin_dns_free(struct origin_dns **dp);

/*
 * Resolve host (name or IP literal, IPv6 without brackets) for port.
 * Returns 0 and fills *out and *outlen synchronously when host is an IP literal or a cached
 * answer is still usable (no callback will come). Returns 1 when a query is pending:
 * *qp is set and cb is called exactly once later from the event loop, unless
 * origin_dns_cancel(qp) is called first. Returns -1 with *err set (e.g. invalid name).
 * host is copied (the caller's string may go away at once).  A usable cached answer
 * is one within its TTL, or past it while the name's servers fail (stale-if-error, up
 * to one hour past expiry).  Errors: origin_dns_err_failed for a malformed name,
 * origin_dns_err_shutdown while the resolver is being freed.  The handle in *qp is
 * owned by the resolver and valid until cb runs or it is cancelled.  Worker thread.
 */
int origin_dns_resolve(struct origin_dns *d, const char *host, uint16_t port,
    struct sockaddr_storage *out, socklen_t *outlen, origin_dns_cb *cb, void *arg,
    struct origin_dns_query **qp, const char **err);

/*
 * The address sa of host (as passed to origin_dns_resolve) failed: resolves
 * skip it until until_ms (monotonic) while the name has another address not
 * so marked.  *marked: it was not marked before (the caller logs).  Returns
 * how many other addresses of the name are not marked; 0 for IP literals and
 * names without a cached answer.  Worker thread.
 */
unsigned origin_dns_mark_bad(struct origin_dns *d, const char *host, const struct sockaddr *sa,
    uint64_t until_ms, bool *marked);

/*
 * Forgets a pending query: cb will not be called; sets *qp = NULL; NULL-safe (also for
 * *qp == NULL).  The upstream lookup goes on and still fills the cache.  Safe from
 * inside any origin_dns_cb, including the shutdown ones.  Worker thread.
 */
void origin_dns_cancel(struct origin_dns_query **qp);

/* One SRV record (RFC 2782); target is valid during the callback only. */
struct origin_dns_srv {
	const char *target;
	uint16_t port;
	uint16_t priority;
	uint16_t weight;
};

/*
 * Completion of origin_dns_query_srv: err NULL and the n records rr[0..n)
 * with ttl_s, the answer's TTL clamped like an address's; or err (one of the
 * constants above) and n 0.  May run before origin_dns_query_srv returns
 * (an answer c-ares had at once), and with origin_dns_err_shutdown from
 * origin_dns_free.
 */
typedef void origin_dns_srv_cb(
    const char *err, const struct origin_dns_srv *rr, size_t n, unsigned ttl_s, void *arg);

/* Asks for the SRV records of name (not cached: the caller refreshes them
 * by their TTL).  cb runs exactly once.  Worker (or main) thread. */
void origin_dns_query_srv(struct origin_dns *d, const char *name, origin_dns_srv_cb *cb, void *arg);

#endif
