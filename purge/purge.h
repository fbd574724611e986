/* SPDX-License-Identifier: BSD-2-Clause */
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

#define PURGE_BODY_MAX   (1024 * 1024) /* bytes of a POST /purge body: purge.max_body's default */
#define PURGE_BODY_LIMIT (64 * 1024 * 1024) /* the most purge.max_body may be */
#define PURGE_ITEMS_MAX  10000              /* urls + prefixes + hosts + tags of one request */
#define PURGE_ID_LEN     16                 /* hex digits of a purge id */

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

/*
 * The URL a PURGE request names (the PURGE method on a client listener),
 * into url (NUL-terminated): a target that does not start with '/' as it
 * is; else scheme://host[:port] and the origin-form target, with host and
 * port those of the request (RFC 9112 §3.2: from the absolute-form target,
 * else from Host; port 0: none given).  The cache key of that URL
 * (purge_url_split, then cache_key_normalize) is what the purge bans.  0,
 * or -1 (no host for an origin-form target, an empty target, too long for
 * urllen).  Any thread; no state.
 */
int purge_url_from_request(
    struct str scheme, struct str host, uint16_t port, struct str target, char *url, size_t urllen);

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

/* An address block of purge.client_listeners: the client addresses whose
 * PURGE requests a client listener takes. */
struct purge_cidr {
	int family; /* AF_INET or AF_INET6 */
	unsigned char addr[16];
	unsigned bits;
};

/* "192.0.2.0/24", "2001:db8::/32" or a bare address (all its bits) into
 * *out, host bits cleared: 0, or -1 when s is none of these. */
int purge_cidr_parse(const char *s, struct purge_cidr *out);
/* Is the textual address addr (an IPv4-mapped IPv6 address counts as its
 * IPv4 address) within one of cidrs[0..n)?  Any thread. */
bool purge_cidr_match(const struct purge_cidr *cidrs, size_t n, const char *addr);

/* purge: in the configuration (the API on the admin listener, PURGE on
 * client listeners). */
struct purge_conf {
	struct purge_token_conf *tokens; /* purge.tokens */
	size_t n_tokens;
	unsigned rate;                   /* purge.rate: purges per second per token,
	                                    default 10; 0: none */
	char *audit_log;                 /* purge.audit_log: path of the JSON-lines
	                                    audit log, or NULL */
	char *audit_log_where;           /* "file:line:column: purge.audit_log" */
	struct purge_cidr *client_cidrs; /* purge.client_listeners: PURGE there from */
	size_t n_client_cidrs;
	uint64_t max_body; /* purge.max_body: bytes of a request body on the admin
	                      listener, default PURGE_BODY_MAX, at most PURGE_BODY_LIMIT */
};
static inline void
purge_conf_defaults(struct purge_conf *c)
{
	*c = (struct purge_conf){.rate = 10, .max_body = PURGE_BODY_MAX};
}

/* ---- the durable log (purge_log.c) ---- */

struct purge_log;

/* The log's tables (purge_log.c says what each holds). */
enum purge_log_table {
	PURGE_LOG_RECORDS = 0, /* id -> record, until its bans are carried out */
	PURGE_LOG_OUTBOX,      /* id -> record not yet published to the fleet bus */
	PURGE_LOG_APPLIED,     /* id -> time applied here (idempotence) */
	PURGE_LOG_META,        /* "seq" -> last fleet stream sequence applied */
	PURGE_LOG__N
};

/* Opens (creating) the LMDB environment in dir: 0, or -1 with err. */
int purge_log_open(const char *dir, struct purge_log **out, char *err, size_t errlen);
void purge_log_close(struct purge_log **lp);
/* Writes the record id -> value and syncs it to disk before returning: 0,
 * or -1 (logged).  Any thread (LMDB serializes writers). */
int purge_log_put(struct purge_log *l, const char *id, const char *value, size_t len);
/* Deletes the record id (done with): 0, or -1.  Any thread. */
int purge_log_del(struct purge_log *l, const char *id);
int purge_log_del_in(struct purge_log *l, enum purge_log_table t, const char *id);
/*
 * One synced transaction for a purge applied here: the record id -> value
 * (value NULL: none, e.g. a purge seen again), a copy in the outbox when
 * outbox (to publish), id marked applied, and the fleet sequence seq when
 * not 0.  0, or -1 (logged).  Any thread.
 */
int purge_log_commit(
    struct purge_log *l, const char *id, const char *value, size_t len, bool outbox, uint64_t seq);
/* Records seq as the last fleet sequence applied: 0, or -1.  Any thread. */
int purge_log_set_seq(struct purge_log *l, uint64_t seq);
/* Was purge id applied here?  Any thread. */
bool purge_log_applied(struct purge_log *l, const char *id);
/* The last fleet sequence applied (0: none).  Any thread. */
uint64_t purge_log_seq(struct purge_log *l);
/* Calls cb(arg, id, value, len) for every record (of table t), in id order.
 * The views die with the call; cb may not write the log. */
typedef void purge_log_cb(void *arg, const char *id, const char *value, size_t len);
int purge_log_each(struct purge_log *l, purge_log_cb *cb, void *arg);
int purge_log_each_in(struct purge_log *l, enum purge_log_table t, purge_log_cb *cb, void *arg);

/* ---- the fleet bus (purge_fleet.c) ---- */

/* fleet: in the configuration.  No servers: purges stay local. */
struct purge_fleet_conf {
	char **servers; /* fleet.nats.servers: nats:// or tls:// URLs */
	size_t n_servers;
	char *credentials; /* fleet.nats.credentials: a .creds file (JWT and NKey seed) */
	char *tls_ca;      /* fleet.nats.tls.ca: CA bundle to verify the servers */
	char *tls_cert;    /* fleet.nats.tls.cert, .key: client certificate */
	char *tls_key;
	unsigned catchup_timeout_ms; /* fleet.catchup_timeout, default 5000 */
};
static inline void
purge_fleet_conf_defaults(struct purge_fleet_conf *c)
{
	*c = (struct purge_fleet_conf){.catchup_timeout_ms = 5000};
}

struct purge_fleet;

/* What the fleet asks of its user.  Both run on the NATS client's threads. */
struct purge_fleet_cbs {
	/* Applies the record (JSON of the purge id) published at stream
	 * sequence seq, or only records seq when id was applied here already,
	 * durably (purge_log_commit with seq): 0 (the message is acked), or -1
	 * (not acked: JetStream delivers it again). */
	int (*apply)(void *arg, const char *id, const char *rec, size_t len, uint64_t seq);
	/* Node node has applied the purge id this node published. */
	void (*acked)(void *arg, const char *id, const char *node);
};

struct purge_fleet_stats {
	uint64_t published;        /* purges published to the stream */
	uint64_t publish_failures; /* publish attempts that failed (retried) */
	uint64_t applied;          /* purges of other nodes applied here */
	uint64_t duplicates;       /* deliveries of purges applied already */
	uint64_t outbox;           /* purges waiting to be published */
	uint64_t lag;              /* stream messages not yet applied here */
	bool connected;
};

/*
 * Connects to the NATS servers (retrying in the background while they are
 * away), creates the stream when missing, binds this node's durable
 * consumer (named node), publishes the log's outbox and applies what the
 * others publish.  NULL on a setup error (logged).  Main thread; the log
 * must outlive the fleet.
 */
struct purge_fleet *purge_fleet_start(const struct purge_fleet_conf *conf, const char *node,
    struct purge_log *log, const struct purge_fleet_cbs *cbs, void *arg);
/* Waits up to timeout_ms until every purge published before now is applied
 * here: true, or false when the time ran out.  Main thread, at start-up. */
bool purge_fleet_catch_up(struct purge_fleet *f, unsigned timeout_ms);
/* A record was put in the outbox: publish it now.  Any thread. */
void purge_fleet_kick(struct purge_fleet *f);
/* The fleet's members (the durable consumers of the stream, this node
 * included) as malloc'd names in *out; their count.  Any thread. */
size_t purge_fleet_members(struct purge_fleet *f, char ***out);
void purge_fleet_stats(struct purge_fleet *f, struct purge_fleet_stats *out);
/* Stops the thread, closes the connection; no callback runs after it
 * returns.  NULL-safe.  Main thread. */
void purge_fleet_free(struct purge_fleet **fp);

#endif
