/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cache/cache.h — the cache facade the edge uses: key normalization, the
 * storability / freshness policy, cached objects and the RAM tier.
 *
 * Objects (struct cache_obj) are built by one fill, then published into the
 * RAM tier; once published they are immutable and shared by every worker
 * through reference counts, so a hit never copies the body under a lock: the
 * edge adds the object's head and body to its output buffer by reference and
 * drops its reference when the bytes have been written.
 *
 * The LMDB disk tier (cache_disk_*) sits behind the RAM tier: the edge looks
 * there on a RAM miss and promotes what it finds; fills are queued to it.
 * Vary variants (cache_vary.c) are stored under their own keys next to a
 * per-URL index; cache_lookup / cache_store / cache_invalidate hide that.
 * Request collapsing (cache_fill_*): a miss registers its fill in a shared
 * table, later misses for the key wait on it and stream its body while it
 * grows (read-while-write).
 *
 * One handle, struct cache (cache_new), owns the RAM tier, the disk tier,
 * the fill table and the ban list; lookups, stores, invalidations, fills and
 * bans take it.
 */
#ifndef OUTPOST_CACHE_CACHE_H
#define OUTPOST_CACHE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "core/h1.h"
#include "core/str.h"

/* ---- keys (cache_key.c) ---- */

#define CACHE_KEY_MAX 8192

/*
 * Writes the normalized key for a request into out (size outlen, NUL
 * terminated) and returns its length, or -1 if the target is invalid or the
 * key does not fit.  DESIGN.md §Key: scheme and host lower-cased, default port
 * (80 for http, 443 for https) dropped, dot-segments removed (RFC 3986 §5.2.4),
 * percent-escapes of unreserved characters decoded and the others' hex digits
 * upper-cased, an empty path becomes "/", the query kept as is, the fragment
 * dropped.  Result: "http://example.com/a/b?q=1".
 * path_query is the origin-form target (starts with '/') or "*".
 */
int cache_key_normalize(struct str scheme, struct str host, uint16_t port, struct str path_query,
    char *out, size_t outlen);

/*
 * The key of the URI reference ref (a Location or Content-Location value)
 * resolved against the request whose key is base (RFC 3986 §5.2): absolute
 * ("http://h/p"), network-path ("//h/p"), absolute-path ("/p"), query-only
 * ("?q") or relative-path ("p", "../p").  Written into out as by
 * cache_key_normalize; its length, or -1 when ref is invalid, empty, or names
 * another origin (scheme, host or port differ from base's, RFC 9111 §4.4).
 */
int cache_key_resolve(const char *base, size_t base_len, struct str ref, char *out, size_t outlen);

/*
 * The path part of a key alone: path (without query; a fragment is cut)
 * percent-normalized with dot-segments removed, "" giving "/", written to
 * out (NUL-terminated).  The length, or -1 if invalid or too long.  Routes
 * match on this, so "/a/../b" and "/%62" are routed as "/b" is.
 */
int cache_key_normalize_path(struct str path, char *out, size_t outlen);

/* What of the query a key keeps (a route's cache.query). */
enum cache_key_query {
	CACHE_KEY_QUERY_KEEP = 0, /* as received (percent-normalized) */
	CACHE_KEY_QUERY_SORT,     /* parameters sorted by bytes, empty ones dropped */
	CACHE_KEY_QUERY_DROP,     /* no query at all */
	CACHE_KEY_QUERY_ALLOW,    /* only the parameters named in allow[], in their order */
};
#define CACHE_KEY_MAX_PARAMS 256 /* sort / allow: more parameters make the key invalid */

/*
 * cache_key_normalize with a query mode: parameters are the '&'-separated
 * parts of the normalized query, a parameter's name is what precedes its
 * first '=' (compared byte for byte with allow[i], after normalization, so
 * "%61" is "a").  Sort and allow drop empty parameters, and the '?' when none
 * is left.  No allocation (a CACHE_KEY_MAX scratch on the stack).
 */
int cache_key_normalize_query(struct str scheme, struct str host, uint16_t port,
    struct str path_query, enum cache_key_query mode, const char *const *allow, size_t n_allow,
    char *out, size_t outlen);

/* ---- policy (cache_policy.c): RFC 9111 for a shared cache ---- */

struct cache_obj;

struct cache_policy {
	bool storable;
	int64_t ttl_s;         /* freshness lifetime, §4.2.1 */
	int64_t initial_age_s; /* corrected_initial_age, §4.2.3 */
};

/* Operator settings the policy applies (config/: routes[].cache.default_ttl,
 * routes[].cache.error_ttl, cache.heuristic_max, cache.grace or
 * routes[].cache.grace). */
struct cache_policy_conf {
	int64_t default_ttl_s;   /* freshness of a 2xx/3xx when the origin gives none; 0: none */
	int64_t heuristic_max_s; /* cap of heuristic freshness (§4.2.2); 0: no heuristic */
	int64_t grace_s;         /* serve stale this long when the origin fails (edge) */
	int64_t error_ttl_s;     /* freshness of a 4xx/5xx when the origin gives none; 0: none */
};

#define CACHE_HEURISTIC_MAX_DEFAULT 86400 /* cache.heuristic_max default: 1 day */

/*
 * Decides whether a response to a request may be stored by a shared cache and
 * for how long (RFC 9111 §3, §4.2.1, §4.2.2; RFC 9213).
 *
 * Which field rules: a valid, non-empty CDN-Cache-Control (RFC 9213 §2.1),
 * else a Surrogate-Control with max-age or no-store (Edge Architecture 1.0;
 * targets after ";" are not told apart), else Cache-Control and Expires; the
 * chosen field replaces the others entirely.  Freshness: s-maxage over
 * max-age over Expires - Date (an invalid Expires is already expired).
 *
 * Storable: method GET or HEAD; a final status other than 206 and 304; not
 * no-store (request or response) unless must-understand with a status we
 * understand (§5.2.2.3; must-understand with another status forbids); not
 * private; an Authorization request only with public, s-maxage or
 * must-revalidate (§3.5).  With explicit freshness any such status is
 * stored, Set-Cookie included (stored and replayed as the origin sent it,
 * §3.1).  Without, only a heuristically cacheable status (RFC 9110 §15.1:
 * 200 203 204 300 301 308 404 405 410 414 501) or a public response, and
 * never one with Set-Cookie: its freshness is conf->default_ttl_s (for
 * 2xx/3xx) or conf->error_ttl_s (for 4xx/5xx) when set,
 * else 10 % of Date - Last-Modified capped at conf->heuristic_max_s, else 0
 * (stored stale, for revalidation) when it has a validator, else it is not
 * stored.  A response that needs validation before any use
 * (no-cache: ttl 0, or stale on arrival) is stored only with a validator
 * (ETag or Last-Modified), so that it can be revalidated; no-cache and
 * private with field names store the response without those fields
 * (see cache_policy_store_field); Vary: * forbids (any other Vary is
 * stored as a variant, see cache_vary_key).  request_time and response_time are the
 * wall-clock seconds when the request was sent and the response head
 * arrived (for Age, §4.2.3).
 */
void cache_policy_evaluate_conf(const struct h1_request *req, const struct h1_response *resp,
    time_t request_time, time_t response_time, const struct cache_policy_conf *conf,
    struct cache_policy *out);
/* cache_policy_evaluate_conf with default_ttl_s and the default heuristic cap. */
void cache_policy_evaluate(const struct h1_request *req, const struct h1_response *resp,
    time_t request_time, time_t response_time, int64_t default_ttl_s, struct cache_policy *out);

/*
 * Request-side (RFC 9111 §5.2.1, §5.4):
 *   CACHE_REQ_PASS     neither look up nor store: not GET/HEAD, or no-store;
 *   CACHE_REQ_REFRESH  not returned any more: no-cache, max-age=0 and
 *                      Pragma: no-cache look up, and cache_policy_usable
 *                      sends them to the origin (revalidating what is stored);
 *   CACHE_REQ_LOOKUP   look up, and store on a miss.
 * Authorization does not prevent a lookup: what is stored is public by
 * construction (cache_policy_evaluate stores a response to a request with
 * Authorization only when public, s-maxage or must-revalidate allow it).
 */
enum cache_req {
	CACHE_REQ_PASS = 0,
	CACHE_REQ_REFRESH,
	CACHE_REQ_LOOKUP,
};
enum cache_req cache_policy_request(const struct h1_request *req);

/*
 * May the stored o answer req at now without asking the origin (RFC 9111
 * §4.2, §5.2.1)?  The request's no-cache (or Pragma: no-cache without
 * Cache-Control, §5.4) forbids; max-age=N wants age <= N; min-fresh=N wants
 * N more seconds of freshness; then a fresh o is CACHE_USE_FRESH, and a
 * stale one CACHE_USE_STALE when max-stale (with no value, or with one that
 * covers its staleness) allows it and o's own directives do not forbid
 * serving it stale (no-cache, must-revalidate, proxy-revalidate, s-maxage;
 * §4.2.4).  Else CACHE_USE_NO: revalidate or fetch.
 */
enum cache_use {
	CACHE_USE_NO = 0,
	CACHE_USE_FRESH,
	CACHE_USE_STALE,
};
enum cache_use cache_policy_usable(
    const struct h1_request *req, const struct cache_obj *o, time_t now);

/*
 * Is the field h of resp part of the stored head?  Not: framing
 * (Content-Length, Transfer-Encoding), Age (computed per response),
 * hop-by-hop fields (including those Connection names), the fields the cache
 * consumes (cache_policy_consumed_field), and the fields listed by
 * no-cache="..." or private="..." (RFC 9111 §5.2.2.4, §5.2.2.7: such a
 * response is stored without them rather than not at all).
 */
bool cache_policy_store_field(const struct h1_response *resp, const struct h1_header *h);
/* Surrogate-Control (meant for surrogates: this cache), Surrogate-Key and
 * Cache-Tag (tags for purges): stored with the response but never relayed to
 * clients.  (CDN-Cache-Control is stored and relayed: RFC 9213 §3.) */
bool cache_policy_consumed_field(struct str name);

/* Cache-Control: only-if-cached (RFC 9111 §5.2.1.7): a miss is answered with
 * 504 instead of going to the origin. */
bool cache_policy_only_if_cached(const struct h1_request *req);

/*
 * Preconditions of a request against a stored response (RFC 9110 §13.2.2, in
 * its order): If-Match (strong comparison; "*" matches), else
 * If-Unmodified-Since; then If-None-Match (weak comparison), else, for GET and
 * HEAD, If-Modified-Since against Last-Modified (or Date when the stored
 * response has none, RFC 9111 §4.3.2).  Invalid dates are ignored.
 */
enum cache_cond {
	CACHE_COND_NONE = 0,     /* serve the stored response */
	CACHE_COND_NOT_MODIFIED, /* answer 304 */
	CACHE_COND_FAILED,       /* answer 412 */
};
enum cache_cond cache_policy_conditional(const struct h1_request *req, const struct cache_obj *o);

/*
 * Revalidation of a stale stored response (RFC 9111 §4.3.1): true if the
 * request should go to the origin as a conditional request for o, with
 * *add_inm (If-None-Match: o's ETag) and *add_ims (If-Modified-Since: o's
 * Last-Modified) telling which validators to add — only those the client did
 * not send itself.  False (forward as a plain miss) when o has no validator,
 * when the client sent If-Match, If-Unmodified-Since or If-Range, or when the
 * client's own If-None-Match / If-Modified-Since do not select o.
 */
bool cache_policy_revalidation(
    const struct h1_request *req, const struct cache_obj *o, bool *add_inm, bool *add_ims);
/* Does a 304 answer to a conditional request validate o (§4.3.4)?  Its ETag,
 * else its Last-Modified, must equal o's; a 304 without validators does
 * only when the client sent no validators of its own. */
bool cache_policy_304_applies(
    const struct cache_obj *o, const struct h1_response *resp, bool client_validators);
/* The policy of o updated by the 304 resp (§4.3.4): cache_policy_evaluate_conf
 * over the merged fields (see cache_obj_update) as if they came with a 200. */
void cache_policy_evaluate_304(const struct h1_request *req, const struct cache_obj *o,
    const struct h1_response *resp, time_t request_time, time_t response_time,
    const struct cache_policy_conf *conf, struct cache_policy *out);

/* Does o's Cache-Control (its CDN-Cache-Control instead, when that is valid
 * and not empty: RFC 9213 §2.2) forbid serving it stale at all (no-cache,
 * must-revalidate, proxy-revalidate, s-maxage: RFC 9111 §4.2.4, §5.2.2.2,
 * §5.2.2.8, §5.2.2.10)?  Any thread. */
bool cache_policy_never_stale(const struct cache_obj *o);

/*
 * May the stale o answer req at now (RFC 5861)?  stale-if-error: within the
 * response's stale-if-error window or the request's; stale-while-revalidate:
 * within the response's window, and only for a request without no-cache,
 * max-age or min-fresh (the client asked for a fresher answer).  Never for a
 * response with no-cache, must-revalidate, proxy-revalidate or s-maxage
 * (RFC 9111 §4.2.4, §5.2.2.10).
 */
enum cache_stale {
	CACHE_STALE_IF_ERROR = 0,
	CACHE_STALE_WHILE_REVALIDATE,
};
bool cache_policy_stale_ok(
    const struct h1_request *req, const struct cache_obj *o, time_t now, enum cache_stale why);
/* The operator's grace (cache.grace): may the stale o stand in for a failed
 * origin (refused, reset, timeout, 5xx) at now?  True when o is at most
 * grace_s seconds stale and its directives allow serving it stale at all
 * (as for cache_policy_stale_ok); never when the request has no-cache. */
bool cache_policy_grace_ok(
    const struct h1_request *req, const struct cache_obj *o, time_t now, int64_t grace_s);

/* ---- objects (cache_obj.c) ---- */

struct cache_obj;

/*
 * A new object under construction, with one reference.  head/head_len is the
 * stored response head: "HTTP/1.1 200 OK\r\n" then the stored header fields,
 * each ending in CRLF, WITHOUT the final empty line and without hop-by-hop
 * fields, Age or Content-Length (the edge writes those per response).  It is
 * copied.  body_hint: expected body size (0 if unknown).
 */
struct cache_obj *cache_obj_new(const char *key, size_t key_len, const char *head, size_t head_len,
    uint64_t body_hint, time_t stored_at, const struct cache_policy *pol);
/* Appends body bytes while building; -1 if the total would exceed max_bytes
 * (the fill then gives up storing) or on allocation failure. */
int cache_obj_append(struct cache_obj *o, const char *data, size_t len, uint64_t max_bytes);
/* The body is complete: gives back the room appends reserved beyond it (a
 * body of unknown length grows by doubling), so the object is charged for
 * its bytes, not its slack.  Only while no one holds a pointer into the body. */
void cache_obj_body_done(struct cache_obj *o);

struct cache_obj *cache_obj_ref(struct cache_obj *o);
void cache_obj_unref(struct cache_obj **op); /* NULLs *op; frees on last ref; any thread */

const char *cache_obj_head(const struct cache_obj *o, size_t *len);
const char *cache_obj_body(const struct cache_obj *o, size_t *len);
/* A complete body of 64 KiB or more lives in a memfd of its own, mapped where
 * cache_obj_body points, so a plain socket can be sent it by sendfile(2)
 * (pages still queued in a socket outlive the object: nothing rewrites
 * them).  The file of o's body and *off of p (a pointer into that body), or
 * -1 when the body is on the heap. */
int cache_obj_body_file(const struct cache_obj *o, const char *p, off_t *off);
/* At most max bodies in files at once (0, the default: none); the node sets
 * it from the descriptors its connections leave over. */
void cache_obj_files_limit(unsigned max);
unsigned cache_obj_files(void); /* body files open now */
/* Age in seconds now (§4.2.3 current_age). */
int64_t cache_obj_age(const struct cache_obj *o, time_t now);
bool cache_obj_fresh(const struct cache_obj *o, time_t now);
/* Does the stored head hold a field the policy consumes and the edge never
 * relays (cache_policy_consumed_field)?  Decided when the object is made. */
bool cache_obj_has_consumed_fields(const struct cache_obj *o);
/* Bytes this object is charged in the RAM tier (key + head + body + bookkeeping). */
size_t cache_obj_charge(const struct cache_obj *o);
/* The first stored field called name (ASCII case-insensitive): true, with its
 * value (OWS trimmed) in *value as a view into the object, valid while the
 * caller holds a reference.  Any thread. */
bool cache_obj_header(const struct cache_obj *o, struct str name, struct str *value);

/* Iterates the stored fields called name (every field when name is empty):
 * start with *pos = 0; each true return gives the next value (a view, as for
 * cache_obj_header) and advances *pos.  Any thread. */
bool cache_obj_header_next(
    const struct cache_obj *o, struct str name, size_t *pos, struct str *value);

/* May a shared cache store the response field called name, given the
 * response's fields hdrs (RFC 9111 §3.1)?  Not a hop-by-hop field or one
 * named in Connection, nor one named by a no-cache="..." or private="..."
 * directive (§5.2.2.4, §5.2.2.7).  Any thread. */
bool cache_obj_field_stored(const struct h1_header *hdrs, size_t n, struct str name);

/*
 * Revalidation (RFC 9111 §3.2, §4.3.4): a NEW object (one reference) for the
 * same key whose head is old's, updated by upd (the fields of a 304): every
 * stored field named in upd is replaced by upd's lines of that name, except
 * Content-Length, Transfer-Encoding, Content-Range and hop-by-hop fields,
 * which never update a stored head, and Age, which is not stored (a
 * CDN-Cache-Control or Surrogate-Control in upd replaces the stored one);
 * without a Date in upd the new head is dated stored_at.  The body is old's, shared (no copy: the
 * new object keeps a reference to the body's owner).  NULL on allocation
 * failure.  old may be published; it is not changed.
 */
struct cache_obj *cache_obj_update(struct cache_obj *old, const struct h1_header *upd, size_t n_upd,
    time_t stored_at, const struct cache_policy *pol);
/* A NEW object (one reference) under key with o's head, freshness and body
 * (shared, as cache_obj_update does).  NULL on allocation failure. */
struct cache_obj *cache_obj_rekey(struct cache_obj *o, const char *key, size_t key_len);
/* A NEW object (one reference) under key with o's freshness and ban
 * generation, the head head/head_len and an empty body to build
 * (cache_obj_append; body_hint as for cache_obj_new): what stored parts of a
 * representation combine into.  NULL on allocation failure. */
struct cache_obj *cache_obj_new_like(const struct cache_obj *o, const char *key, size_t key_len,
    const char *head, size_t head_len, uint64_t body_hint);
/* o's key (NUL-terminated, immutable for the object's life; its length in
 * *len).  Any thread. */
const char *cache_obj_key(const struct cache_obj *o, size_t *len);

/* A NEW object (one reference) with o's key, head and freshness and no body:
 * what the readers of a fill need, without keeping the body being built
 * alive (the fill may stop storing it).  NULL on allocation failure. */
struct cache_obj *cache_obj_head_copy(const struct cache_obj *o);

/* ---- RAM tier (cache_ram.c) ---- */

struct cache_ram;

/* Sharded by key hash (lock per shard), bounded by max_bytes in total (the
 * eviction's own bookkeeping included), S3-FIFO eviction per shard with a
 * size-aware main queue. */
struct cache_ram *cache_ram_new(uint64_t max_bytes, unsigned n_shards);
void cache_ram_free(struct cache_ram **rp);

/* 0 and a new reference in *out if a fresh-or-stale object is stored under
 * the key; -1 (miss) otherwise.  Any thread. */
int cache_ram_lookup(struct cache_ram *r, const char *key, size_t key_len, struct cache_obj **out);
/* Publishes o (the tier takes its own reference; the caller keeps theirs).
 * Replaces an older object with the same key.  Evicts to stay under
 * max_bytes; an object larger than a shard's budget is not stored.  Any thread. */
void cache_ram_insert(struct cache_ram *r, struct cache_obj *o);
/* As cache_ram_insert, but only when nothing is stored under o's key: for a
 * copy read from the disk tier, which must not replace an object stored
 * since the lookup missed (a newer response, or a newer Vary index).  Any
 * thread. */
void cache_ram_promote(struct cache_ram *r, struct cache_obj *o);
/* Removes the object stored under key, if any: true when this call unlinked
 * one. */
bool cache_ram_remove(struct cache_ram *r, const char *key, size_t key_len);

struct cache_ram_stats {
	uint64_t bytes;
	uint64_t objects;
	uint64_t evictions;
	uint64_t inserts;
};
void cache_ram_stats(struct cache_ram *r, struct cache_ram_stats *out);

/* ---- request collapsing and read-while-write (cache_fill.c) ---- */

struct cache_fill;
struct cache_fill_chunk;
struct cache_fill_table;

/* Called by the leader's thread for each watcher bit of a fill that grew or
 * ended (cache_fill_watch): the callee wakes the workers of that bit. */
typedef void cache_fill_notify_cb(void *arg, unsigned bit);

/* How long a key whose response was not storable goes straight to the origin
 * (hit-for-pass) before misses collapse again. */
#define CACHE_FILL_PASS_S 10

/*
 * The table of fills in progress, shared by every worker: n_shards chains,
 * each under its own mutex (shard by key hash).  notify(arg, bit) runs on the
 * leader's thread when a watched fill changes.  Main thread.  (The handle
 * makes its own, cache_conf.fill_shards.)
 */
struct cache_fill_table *cache_fill_table_new(
    unsigned n_shards, cache_fill_notify_cb *notify, void *arg);
/* Frees the table; every fill must have ended.  Sets *tp = NULL; NULL-safe. */
void cache_fill_table_free(struct cache_fill_table **tp);

enum cache_fill_role {
	CACHE_FILL_LEADER = 0, /* a new fill: fetch, then cache_fill_head/append/end */
	CACHE_FILL_WAITER,     /* a fill is in progress: read it */
	CACHE_FILL_PASS,       /* hit-for-pass: go to the origin without collapsing */
};

/* A reader's position in a fill: the chunk it is in (one reference), the
 * offset there and the bytes read so far.  Owned by one thread. */
struct cache_fill_reader {
	struct cache_fill_chunk *chunk;
	size_t off;
	uint64_t pos;
};

struct cache;

/*
 * Looks key up at now in c's fill table (c must have a RAM tier).  LEADER: a
 * new fill is registered (in *out, one reference for the caller, who must end
 * it with cache_fill_end); WAITER: *out is the fill in progress (one
 * reference); PASS: a hit-for-pass marker is alive, *out is NULL.  For LEADER
 * and WAITER, *rd is set to read the fill from its first byte
 * (cache_fill_reader_done releases it).  Any thread; one shard lock.
 */
enum cache_fill_role cache_fill_begin(struct cache *c, const char *key, size_t key_len, time_t now,
    struct cache_fill **out, struct cache_fill_reader *rd);

/*
 * A fill of key outside c's fill table: nobody joins it, and ending it
 * leaves no hit-for-pass marker.  For a reader that a key's marker (or
 * the key's fill having stopped storing) turned away but that must have
 * the bytes all the same: it leads this fill itself.  0 with *out (one
 * reference, the caller leads and ends it) and *rd set to read it from its
 * first byte; -1 without memory.  Any thread.
 */
int cache_fill_private(struct cache *c, const char *key, size_t key_len, struct cache_fill **out,
    struct cache_fill_reader *rd);

enum cache_fill_state {
	CACHE_FILL_S_WAIT = 0, /* no response head yet */
	CACHE_FILL_S_BODY,     /* head known, body growing */
	CACHE_FILL_S_DONE,     /* body complete */
	CACHE_FILL_S_FAILED,   /* ended without a whole body to share (the fetch
	                          failed, or a 304 refreshed the stored entry) */
	CACHE_FILL_S_PASS,     /* the response is not storable: nothing to read */
};

/* The leader: the response head is known.  obj (a reference is taken)
 * carries the stored head and freshness; length is the body length, or -1
 * when it comes unframed (chunked, close-delimited).  Watchers are notified. */
void cache_fill_head(struct cache_fill *f, struct cache_obj *obj, int64_t length);
/* The leader: appends body bytes (copied into the fill's chunks, which never
 * move); readers see them at once and watchers are notified.  0, or -1 on
 * allocation failure (the leader then ends the fill FAILED). */
int cache_fill_append(struct cache_fill *f, const char *data, size_t len);
/* The leader: no new waiter may join (the body outgrew what will be stored):
 * the key becomes hit-for-pass, and chunks every attached reader has passed
 * are freed (the fill keeps a window bounded by its slowest reader).  now:
 * for the marker's expiry. */
void cache_fill_close_joins(struct cache_fill *f, time_t now);
/* Bytes held by the fill's chunks still alive (not yet passed by every
 * reader, including the views readers handed out).  Any thread. */
size_t cache_fill_window(const struct cache_fill *f);
/* Readers attached and not yet done (cache_fill_reader_done).  Any thread. */
unsigned cache_fill_readers(const struct cache_fill *f);
/* The leader: ends the fill in state (DONE, FAILED or PASS; PASS leaves a
 * hit-for-pass marker until now + CACHE_FILL_PASS_S), removes it from the
 * table and notifies watchers.  Publish a complete object in the RAM tier
 * BEFORE ending DONE, so a miss that no longer finds the fill finds it. */
void cache_fill_end(struct cache_fill *f, enum cache_fill_state state, time_t now);

/* State of f (acquire: a reader that sees BODY sees the head; one that sees
 * DONE sees every byte).  Any thread. */
enum cache_fill_state cache_fill_state(const struct cache_fill *f);
/* The head object (valid once the state left WAIT; the fill holds it) and
 * the announced length (-1 unframed). */
struct cache_obj *cache_fill_obj(const struct cache_fill *f);
int64_t cache_fill_length(const struct cache_fill *f);
/* Asks for notify(bit) on every change of f from now on.  Any thread. */
void cache_fill_watch(struct cache_fill *f, unsigned bit);

/*
 * The next bytes for rd: true with a view (*p, *len) into a chunk and *ref,
 * a new reference on that chunk which keeps the view valid until
 * cache_fill_chunk_release(ref) (e.g. an evbuffer_add_reference cleanup);
 * false when nothing more is published now.  Lock-free; the reader's thread.
 */
bool cache_fill_read(struct cache_fill_reader *rd, const char **p, size_t *len, void **ref);
/* Drops a reference from cache_fill_read.  Any thread. */
void cache_fill_chunk_release(void *ref);
/* Releases the reader's position (NULL-safe on a released reader). */
void cache_fill_reader_done(struct cache_fill_reader *rd);

struct cache_fill *cache_fill_ref(struct cache_fill *f);
void cache_fill_unref(struct cache_fill **fp); /* NULLs *fp; any thread */

/* ---- the memory budget (cache_mem.c) ---- */

/*
 * What the cache holds in memory, process-wide: objects (struct, key, head
 * and the body each owns — a body shared by a revalidated copy counts once),
 * whether in the RAM tier, being filled, or still referenced by readers
 * after the tier let them go; of those the bodies still being built; and the
 * chunks of fills (cache_fill_*), which slow readers of a finished fill keep
 * until they have passed them.  Any thread; each figure is read atomically,
 * the three not at one instant.
 */
struct cache_mem_stats {
	uint64_t objects;
	uint64_t building;
	uint64_t fills;
};
void cache_mem_stats(struct cache_mem_stats *out);
/* Do objects and fill chunks together exceed budget bytes (0: no budget)?
 * Lock-free; any thread. */
bool cache_mem_over(uint64_t budget);

/*
 * Per client address: the bytes that address's fills pin, charged by the
 * edge.  cache_mem_client_get returns the address's account (created on
 * first use) with a reference the caller drops with cache_mem_client_put
 * (NULLs *cp; the account goes with its last reference).  One lock per call
 * of those two; the others are lock-free.  Any thread.
 */
struct cache_mem_client;
struct cache_mem_client *cache_mem_client_get(const char *addr);
void cache_mem_client_put(struct cache_mem_client **cp);
/* Adds n bytes unless that takes the account over cap (0: no cap): true if
 * charged. */
bool cache_mem_client_charge(struct cache_mem_client *cl, uint64_t n, uint64_t cap);
void cache_mem_client_uncharge(struct cache_mem_client *cl, uint64_t n);
uint64_t cache_mem_client_bytes(const struct cache_mem_client *cl);

/* ---- disk tier (cache_disk.c): LMDB, one writer thread, lock-free reads ---- */

struct cache_disk;

/*
 * Plain configuration of the disk tier (config/ fills it from cache.disk).
 * Call cache_disk_conf_defaults first, then set path and max_bytes.
 */
struct cache_disk_conf {
	const char *path;           /* directory of the LMDB environment (created 0700) */
	uint64_t max_bytes;         /* cache.disk.size: accounted bytes kept on disk */
	unsigned queue_max;         /* pending stores/removes, default 4096 */
	uint64_t queue_max_bytes;   /* bytes of queued bodies, default 256MiB */
	unsigned batch_max_objects; /* per write transaction, default 256 */
	uint64_t batch_max_bytes;   /* per write transaction, default 16MiB */
	unsigned batch_max_ms;      /* wait for a batch to fill, default 5 */
	bool sync_each_batch;       /* fdatasync per commit (MDB_NOMETASYNC), default true;
	                               false: MDB_NOSYNC + mdb_env_sync every sync_interval_ms */
	unsigned sync_interval_ms;  /* default 1000 (only without sync_each_batch) */
	int64_t stale_keep_s;       /* a lookup misses once age > ttl + this, default 86400 */
};
void cache_disk_conf_defaults(struct cache_disk_conf *c);

/*
 * Opens (creating if needed) the environment in conf->path and starts the
 * writer thread.  0 and the tier in *out, or -1 with a message in err.  The
 * objects already there are found (warm restart); the byte accounting comes
 * back from the stored totals.  conf is copied.  Main thread, at start-up.
 */
int cache_disk_open(
    const struct cache_disk_conf *conf, struct cache_disk **out, char *err, size_t errlen);
/*
 * Drains the queue (every queued store and remove is written), syncs, joins
 * the writer and frees the tier; sets *dp = NULL; NULL-safe.  No other thread
 * may use the tier any more.  Main thread, at shutdown.
 */
void cache_disk_close(struct cache_disk **dp);

/*
 * Queues o for writing (takes its own reference; the caller keeps theirs).
 * Never blocks and never fails the caller: when the queue is full the object
 * is dropped and counted.  A complete, immutable object only.  Any thread.
 */
void cache_disk_store(struct cache_disk *d, struct cache_obj *o);
/* Would the queue take a store of bytes bytes now (cache_disk_store would
 * not drop it)?  Any thread. */
bool cache_disk_queue_room(struct cache_disk *d, uint64_t bytes);
/* Bytes of stores in the queue, not yet written.  Any thread. */
uint64_t cache_disk_queued_bytes(struct cache_disk *d);
/* Queues the removal of key (copied); never dropped for room (the queue
 * grows).  From the call until the writer commits it, cache_disk_lookup of
 * key is a miss (as, for those few milliseconds, is a lookup of a key that
 * shares its hash slot).  Any thread. */
void cache_disk_remove(struct cache_disk *d, const char *key, size_t key_len);

/*
 * 0 and a NEW object (one reference, owned by the caller; head and body are
 * copied out of LMDB, so it may be published in the RAM tier) if an object is
 * stored under key and its age is within ttl + stale_keep_s at now; -1 on a
 * miss, on an object stale beyond that, or on a read error (counted).  Never
 * sees a half-written object.  Lock-free (an LMDB read transaction kept per
 * thread); any thread.
 */
int cache_disk_lookup(
    struct cache_disk *d, const char *key, size_t key_len, time_t now, struct cache_obj **out);
/* cache_disk_lookup without the body (the object's body is empty) and not
 * counted as a hit or miss: for looking at a stored head only.  Any thread. */
int cache_disk_lookup_head(
    struct cache_disk *d, const char *key, size_t key_len, time_t now, struct cache_obj **out);

/*
 * Waits until everything queued before the call is committed and synced to
 * disk, at most timeout_ms.  0, or -1 on timeout.  For tests and shutdown;
 * any thread but the event loops.
 */
int cache_disk_flush(struct cache_disk *d, unsigned timeout_ms);

/*
 * Hands the writing of the environment to another process and back (a binary
 * upgrade).  on false: stores and removes queued from now on are dropped
 * (counted in drops), what was queued before is committed and synced (at
 * most timeout_ms: 0, or -1 on timeout); lookups go on.  Another process may
 * then open the same directory and write: LMDB serializes writers and keeps
 * readers consistent across processes, and this process, whose writer keeps
 * the totals and the next object id in memory, no longer writes.  on true:
 * writes again, the totals and ids read afresh from the database before the
 * next batch (returns 0).  Any thread but the event loops.
 */
int cache_disk_writing(struct cache_disk *d, bool on, unsigned timeout_ms);

struct cache_disk_stats {
	uint64_t objects;   /* stored now */
	uint64_t bytes;     /* accounted now (<= max_bytes) */
	uint64_t writes;    /* objects committed */
	uint64_t removes;   /* removals committed that found an object */
	uint64_t drops;     /* stores not written: queue full, too big, failed batch */
	uint64_t evictions; /* objects evicted to make room */
	uint64_t errors;    /* LMDB errors (map full, I/O, corrupt record) */
	uint64_t batches;   /* write transactions committed */
	uint64_t hits;      /* lookups that returned an object */
	uint64_t misses;    /* lookups that did not */
	uint64_t corrupt;   /* objects that failed their checksum on a read (a miss;
	                       each is removed) */
};
/* A snapshot of the counters (each read atomically).  Any thread. */
void cache_disk_stats(struct cache_disk *d, struct cache_disk_stats *out);

/* ---- the handle (cache.c): both tiers, the fills, the bans ---- */

/* The operator's settings of the cache (config/ fills them from cache).
 * Call cache_conf_defaults first. */
struct cache_conf {
	uint64_t ram_bytes;        /* cache.ram, default 256MiB; 0 disables caching */
	uint64_t max_object_bytes; /* cache.max_object, default 16MiB */
	char *disk_path;           /* cache.disk.path: the LMDB tier's directory, or NULL */
	uint64_t disk_bytes;       /* cache.disk.size */
	/* cache.disk.max_object: the largest object kept as slices (its whole
	 * length); at least max_object; default 0: the disk tier's size (no
	 * disk tier: no bound but the RAM tier's eviction) */
	uint64_t disk_max_object_bytes;
	unsigned grace_s;         /* cache.grace: serve stale this long when the origin
	                             fails; default 10 */
	bool grace_set;           /* cache.grace was given: it covers every failure;
	                             the default only an origin that gave no answer */
	unsigned heuristic_max_s; /* cache.heuristic_max: cap of heuristic freshness;
	                             default 86400, 0 disables heuristics */
	/* cache.range_fill_max: the window a range miss asks the origin for;
	 * default 1MiB (the smaller of it and cache.max_object applies); 0: a
	 * range miss always passes through */
	uint64_t range_fill_max_bytes;
	/* cache.fill_memory: memory beyond cache.ram for fills in progress and
	 * objects still being sent after they left the RAM tier; default the
	 * larger of cache.ram / 4 and 4 * cache.max_object (config/ derives it:
	 * UINT64_MAX until then).  The cache's memory budget is cache.ram + this. */
	uint64_t fill_memory_bytes;
	/* cache.fill_per_client: what the fills one client address leads may
	 * pin; default half of cache.fill_memory (derived as that is); 0: no cap */
	uint64_t fill_per_client_bytes;
	/* cache.sendfile: bodies of 64 KiB or more in memory files, sent to
	 * plain HTTP/1.1 clients by sendfile(2) (cache_obj_body_file); default
	 * false */
	bool sendfile;
	/* cache.slice: range requests and full GETs of objects larger than
	 * slice_bytes are fetched and stored as slices of that size, each its
	 * own entry (edge_slice.h); default 4MiB (cache.slice.size), 0 when
	 * cache.slice.enabled is false */
	uint64_t slice_bytes;
};
/* Sets every setting to its default (the comments above).  Inline, so
 * that config/ needs no cache code to link. */
static inline void
cache_conf_defaults(struct cache_conf *c)
{
	*c = (struct cache_conf){0};
	c->ram_bytes = 256ULL << 20;
	c->max_object_bytes = 16ULL << 20;
	c->heuristic_max_s = CACHE_HEURISTIC_MAX_DEFAULT;
	c->grace_s = 10; /* RFC 9111 §4.2.4: stale when disconnected */
	c->range_fill_max_bytes = 1ULL << 20;
	c->slice_bytes = 4ULL << 20;
	c->fill_memory_bytes = UINT64_MAX;     /* derived by config/ */
	c->fill_per_client_bytes = UINT64_MAX; /* idem */
}

/*
 * Makes the cache conf describes: a RAM tier of conf->ram_bytes in
 * ram_shards shards, a fill table of fill_shards shards whose watchers
 * notify(arg, bit) wakes, and the disk tier in conf->disk_path (opened warm,
 * see cache_disk_open; its other settings the defaults) — none of them when
 * ram_bytes is 0.  conf is read during the call only.  0 and the handle in
 * *out, or -1 with a message in err (the disk tier could not be opened).
 * Main thread.
 */
int cache_new(const struct cache_conf *conf, unsigned ram_shards, unsigned fill_shards,
    cache_fill_notify_cb *notify, void *arg, struct cache **out, char *err, size_t errlen);
/*
 * Stops the ban remover if it runs, closes the disk tier (its queue drained:
 * nothing stored is lost), frees the fill table (every fill must have
 * ended), the RAM tier and the bans; sets *cp = NULL; NULL-safe.  No other
 * thread may use the cache any more.  Main thread, at shutdown.
 */
void cache_free(struct cache **cp);

/* Does c store anything (a RAM tier, with fills)?  Has it a disk tier? */
bool cache_enabled(const struct cache *c);
bool cache_has_disk(const struct cache *c);
/* c's disk tier, or NULL: for what acts on the tier itself (a binary
 * upgrade stops and resumes its writes, cache_disk_writing). */
struct cache_disk *cache_disk_tier(struct cache *c);
/* Would a store of an object of bytes bytes be kept by every tier now:
 * the disk tier's write queue has room for it (or there is no disk tier)?
 * Any thread. */
bool cache_store_room(struct cache *c, uint64_t bytes);
/* Does the disk tier's write queue hold stores (memory it gives back as
 * they are written)?  Any thread. */
bool cache_store_draining(struct cache *c);
/* The disk tier's count of objects written so far (0 without one): it moves
 * while the queue drains.  Any thread. */
uint64_t cache_store_written(struct cache *c);

/* The counters of c's RAM (disk) tier: false, with *out zeroed, when c has
 * none.  Any thread. */
bool cache_stats_ram(struct cache *c, struct cache_ram_stats *out);
bool cache_stats_disk(struct cache *c, struct cache_disk_stats *out);

/* ---- both tiers, with Vary variants (cache_vary.c, RFC 9111 §4.1) ---- */

#define CACHE_VARY_MAX       8  /* variants kept per URL; the oldest is replaced */
#define CACHE_VARY_NAMES_MAX 16 /* field names a stored Vary may list */

/*
 * The key to store a response to req under, given the response's fields
 * resp: key itself when it has no Vary (or only empty members), else the
 * variant key of the selecting header values req sends (key, 0x1f, 32 hex
 * digits).  Written into out (NUL-terminated; out may be key's buffer); its
 * length, or -1 when the response must not be stored: Vary "*" or an invalid
 * member, more than CACHE_VARY_NAMES_MAX names, a member that is hop-by-hop in
 * req (named in its Connection: not forwarded), or the key does not fit.
 */
int cache_vary_key(const struct h1_request *req, const struct h1_header *resp, size_t n_resp,
    const char *key, size_t key_len, char *out, size_t outlen);

/*
 * Is o (a response stored, or being filled, under a URL key or one of its
 * variant keys) the one req selects?  True without Vary; with Vary, when
 * req's selecting header values give o's own variant key.  For a request
 * that waited on another request's fill.  Any thread.
 */
bool cache_vary_selects(const struct h1_request *req, const struct cache_obj *o);

/*
 * When o (a stored variant) is not the one req selects: a NEW object (one
 * reference) with o's head, freshness and shared body under the variant key
 * req selects, to store as req's own variant (a 304 to req named o, RFC 9111
 * §4.3.4); else NULL.  Any thread.
 */
struct cache_obj *cache_vary_for_request(const struct h1_request *req, struct cache_obj *o);

/*
 * The variants the URL key's index lists that are in the RAM tier (at most
 * max, newest last), as new references in out[] that the caller drops with
 * cache_obj_unref; 0 when the URL has no index in RAM.  For revalidating
 * with the ETags of every stored variant (RFC 9111 §4.3.1).  Any thread.
 */
size_t cache_variants(
    struct cache *c, const char *key, size_t key_len, struct cache_obj **out, size_t max);

/*
 * The variant of the URL key in the RAM tier whose ETag is etag (the first
 * listed), as a new reference; NULL if none.  For a 304 that names another
 * variant than the one revalidated (RFC 9111 §4.3.4).  Any thread.
 */
struct cache_obj *cache_variant_by_etag(
    struct cache *c, const char *key, size_t key_len, struct str etag);

/*
 * Looks up the response stored for req under the URL key: RAM, then disk (a
 * disk hit is promoted to RAM, *from_disk set); when the URL has variants,
 * the one whose selecting header values equal req's, if the URL's index
 * lists it.  0 and a new reference in *out (fresh or stale), or -1 (miss).
 * c must have a RAM tier.  Any thread.
 */
int cache_lookup(struct cache *c, const struct h1_request *req, const char *key, size_t key_len,
    time_t now, struct cache_obj **out, bool *from_disk);
/* cache_lookup in the RAM tier only (a quick second look, no disk read). */
int cache_lookup_ram(struct cache *c, const struct h1_request *req, const char *key, size_t key_len,
    time_t now, struct cache_obj **out);

/*
 * Publishes the complete object o in RAM and queues it to disk (the tiers
 * take their own references).  o's key comes from cache_vary_key: a variant
 * is added to its URL's index (replacing the oldest beyond CACHE_VARY_MAX, or
 * every listed one when the Vary names changed); a plain response replaces
 * the URL's index.  Any thread; never blocks on disk; stores and
 * invalidations of one URL are serialized (a per-URL-hash lock), so variants
 * stored at once by several workers all stay listed.
 */
void cache_store(struct cache *c, struct cache_obj *o, time_t now);

/*
 * Removes what is stored for the URL key from both tiers, every variant
 * included (RFC 9111 §4.4).  Returns how many copies of
 * responses it removed, as far as is known at once: one for each response
 * (a variant, or the URL's response without Vary) that this call unlinked
 * from the RAM tier, and one for each whose record it found on the disk tier
 * (a head read) before queuing the record's removal; the Vary index is no
 * response and is not counted.  So a response held by both tiers counts
 * twice, as the ban remover counts it.  Any thread.
 */
size_t cache_invalidate(struct cache *c, const char *key, size_t key_len, time_t now);

/* ---- bans: purges applied lazily, then by a background remover (cache_ban.c) ---- */

enum cache_ban_kind {
	CACHE_BAN_URL = 0, /* value: a normalized URL key; every variant */
	CACHE_BAN_PREFIX,  /* value: the start of normalized URL keys */
	CACHE_BAN_HOST,    /* value: a lower-case host (any scheme and port) */
	CACHE_BAN_TAG,     /* value: a tag of Surrogate-Key or Cache-Tag */
	CACHE_BAN_ALL,     /* value: "" */
};

/* One ban.  scope: host patterns ("example.com", "*.example.com", "*") the
 * ban is limited to (n_scope 0: none, every host).  Strings are copied. */
struct cache_ban_spec {
	enum cache_ban_kind kind;
	const char *value;
	const char *const *scope;
	size_t n_scope;
	bool soft; /* mark stale instead of removing */
};

/* c's ban clock now: a fill that begins gives its object this generation
 * (cache_obj_set_gen) before storing it, so a ban added after the fill began
 * (a larger generation) beats it.  Lock-free; any thread. */
uint64_t cache_ban_clock(struct cache *c);
void cache_obj_set_gen(struct cache_obj *o, uint64_t gen);
uint64_t cache_obj_gen(const struct cache_obj *o);

/* Called on the remover's thread when the ban owner added has been carried
 * out on both tiers and retired: removed objects were removed (soft: marked
 * stale) by the remover (lookups may have met others first). */
typedef void cache_ban_retire_cb(void *arg, uint64_t owner, uint64_t removed);

/*
 * Adds a ban to c: from the return on, no lookup serves (soft: as fresh) an object
 * that matches it and whose generation is older, and no store keeps one
 * fresh.  gen 0: a new ban, its generation is the clock's next tick;
 * otherwise a ban restored at start-up with the generation it had (the clock
 * moves past it).  owner: the caller's cookie for the retire callback.
 * Returns the ban's generation.  Any thread (a mutex among adders).
 */
uint64_t cache_ban_add(
    struct cache *c, const struct cache_ban_spec *spec, uint64_t gen, uint64_t owner);

/* Starts c's remover thread over its tiers (c must have a RAM tier): it
 * sweeps the RAM shards and walks the disk tier in small read transactions,
 * queues the removals to the disk writer, waits until they are committed,
 * then retires the bans (retire(arg, ...)).  0, or -1 if the thread cannot
 * start.  Main thread, once. */
int cache_ban_start(struct cache *c, cache_ban_retire_cb *retire, void *arg);
/* Stops and joins c's remover (NULL-safe, and when none runs); the bans are
 * kept (cache_free frees them).  Main thread. */
void cache_ban_stop(struct cache *c);

struct cache_ban_stats {
	uint64_t active;  /* bans in the list */
	uint64_t added;   /* bans added */
	uint64_t retired; /* bans carried out and retired */
	uint64_t removed; /* objects the remover removed or marked stale */
	uint64_t lazy;    /* lookups and stores a ban turned away or made stale */
};
void cache_ban_stats(struct cache *c, struct cache_ban_stats *out);

/* Does host (lower-case, no port) match pattern: "*" every host, "*.x.y"
 * every host ending in ".x.y", else equal ignoring case?  Any thread. */
bool cache_ban_host_match(struct str pattern, struct str host);

/* The host of a normalized URL key ("http://h:81/p" -> "h"; "[::1]" kept
 * with brackets).  False when key has no authority. */
bool cache_ban_key_host(struct str key, struct str *host);

#endif
