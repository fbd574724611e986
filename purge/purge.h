/*
 * purge/purge.h — the purge API's own parts, for the edge: the JSON request
 * (purge_req.c), bearer tokens of content owners with their rate limits
 * (purge_auth.c), and the durable purge log (purge_log.c).  The edge turns a
 * request into cache bans (cache/cache.h) and answers on the admin listener.
 */
#ifndef OUTPOST_PURGE_PURGE_H
#define OUTPOST_PURGE_PURGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/str.h"

#define PURGE_BODY_MAX  (1024 * 1024) /* bytes of a POST /purge body */
#define PURGE_ITEMS_MAX 10000         /* urls + prefixes + hosts + tags of one request */
#define PURGE_ID_LEN    16            /* hex digits of a purge id */

/* ---- the request (purge_req.c) ---- */

/* A parsed POST /purge body: {"urls": [...], "prefixes": [...], "hosts":
 * [...], "tags": [...], "all": false, "soft": false}.  Strings are owned. */
struct purge_req {
	char **urls;
	size_t n_urls;
	char **prefixes;
	size_t n_prefixes;
	char **hosts;
	size_t n_hosts;
	char **tags;
	size_t n_tags;
	bool all;
	bool soft;
};

/*
 * Parses body (len bytes, not NUL-terminated) into *out: 0, or -1 with the
 * reason in err (an object with unknown keys, a member of the wrong type, an
 * empty or non-string item, an item over 8 KiB, more than PURGE_ITEMS_MAX
 * items, or nothing to purge).  Any thread.
 */
int purge_req_parse(const char *body, size_t len, struct purge_req *out, char *err, size_t errlen);
/* Frees what purge_req_parse filled; NULL-safe members. */
void purge_req_clear(struct purge_req *r);

/* The parts of an absolute http(s) URL: scheme, host (brackets kept for
 * IPv6), port (0: none given) and path-and-query (from the first '/'; "/"
 * when empty).  0, or -1 when url is not absolute http(s). */
int purge_url_split(
    const char *url, struct str *scheme, struct str *host, uint16_t *port, struct str *path);

/* ---- tokens (purge_auth.c) ---- */

struct purge_token_conf {
	char *id;
	unsigned char sha256[32]; /* of the token (from sha256: or from the file's contents) */
	char **hosts;             /* patterns: "example.com", "*.example.com", "*" */
	size_t n_hosts;
	bool all; /* may purge everything */
};

struct purge_auth;

/* A token table over tokens[0..n) (copied), each limited to rate purges per
 * second with a burst of as many (rate 0: no limit).  Main thread. */
struct purge_auth *purge_auth_new(const struct purge_token_conf *tokens, size_t n, unsigned rate);
void purge_auth_free(struct purge_auth **ap);

/* The token an Authorization field value ("Bearer <token>") names: its index
 * (SHA-256 of the presented token compared with every configured digest in
 * constant time), or -1 (no field, another scheme, an unknown token). */
int purge_auth_token(const struct purge_auth *a, const char *authorization);
const struct purge_token_conf *purge_auth_conf(const struct purge_auth *a, int token);
/* Takes one purge from the token's bucket at now_ms: 0, or the seconds to
 * wait (Retry-After) when it is empty.  Main thread. */
unsigned purge_auth_take(struct purge_auth *a, int token, uint64_t now_ms);

/* ---- the durable log (purge_log.c) ---- */

struct purge_log;

/* Opens (creating) the LMDB environment in dir: 0, or -1 with err. */
int purge_log_open(const char *dir, struct purge_log **out, char *err, size_t errlen);
void purge_log_close(struct purge_log **lp);
/* Writes the record id -> value and syncs it to disk before returning: 0,
 * or -1 (logged).  Any thread (LMDB serializes writers). */
int purge_log_put(struct purge_log *l, const char *id, const char *value, size_t len);
/* Deletes the record id (done with): 0, or -1.  Any thread. */
int purge_log_del(struct purge_log *l, const char *id);
/* Calls cb(arg, id, value, len) for every record, in id order.  The views
 * die with the call.  At start-up. */
typedef void purge_log_cb(void *arg, const char *id, const char *value, size_t len);
int purge_log_each(struct purge_log *l, purge_log_cb *cb, void *arg);

#endif
