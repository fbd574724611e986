/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_resp.h — the response object: a status and the fields of one
 * answer to a client, whatever its kind (a hit from a stored head, a
 * 304/412/416/206 from the cache, a miss or pass relayed from an origin
 * head, an interim 1xx, the node's own short answers).
 *
 * edge_resp.c is the one place that decides which fields an answer carries
 * (Via, Age, X-Cache, Cache-Status, Date, Strict-Transport-Security, the
 * route's response_headers rules, what is dropped from a relayed head);
 * edge_h1.c writes the object as HTTP/1.1 bytes (status line, field lines,
 * framing, Connection).  Another transport serializes the same object.
 *
 * No allocation: the object lives on the caller's stack; fields are views
 * (a fixed array), the relayed fields stay where they are (the stored head
 * of a cache object, the origin's parsed head) and the route's rules are
 * referenced whole.  Values the node formats (Age, Content-Length, Via) go
 * to the object's scratch space.  Every view must outlive edge_resp_send().
 * Single thread: the connection's worker.
 */
#ifndef OUTPOST_EDGE_EDGE_RESP_H
#define OUTPOST_EDGE_EDGE_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/h1.h"
#include "core/str.h"

struct cache_obj;
struct config_hdr_rules;
struct edge_req;

#define EDGE_RESP_FIELDS_MAX  16
#define EDGE_RESP_SCRATCH_MAX 512

struct edge_resp_field {
	struct str name;
	struct str value;
};

/* How the HTTP/1.1 body is delimited beyond the fields (Content-Length is a
 * field of its own). */
enum edge_resp_framing {
	EDGE_RESP_FRAMING_FIELDS = 0, /* Content-Length among the fields, or no body */
	EDGE_RESP_FRAMING_CHUNKED,    /* Transfer-Encoding: chunked */
	EDGE_RESP_FRAMING_CLOSE,      /* delimited by closing (HTTP/1.0 client) */
};

/* A relayed origin field the caller leaves out (hop-by-hop, framing, ...). */
typedef bool edge_resp_skip_cb(const void *arg, const struct h1_header *h);

enum edge_resp_relay {
	EDGE_RESP_RELAY_NONE = 0,
	EDGE_RESP_RELAY_STORED, /* field lines of a stored head, by reference */
	EDGE_RESP_RELAY_ORIGIN, /* an origin's parsed fields */
};

struct edge_resp {
	int status;
	struct str reason; /* the origin's phrase, or empty: the standard one */
	bool interim;      /* a 1xx: no fields of the node's, no Connection */

	/* relayed fields, written first */
	enum edge_resp_relay relay;
	struct cache_obj *obj; /* STORED: holds the head (a reference per chunk out) */
	const char *stored;    /* STORED: field lines (may start with the status line) */
	size_t stored_len;
	bool stored_line;               /* STORED: stored starts with the status line to send */
	bool stored_filter;             /* STORED: drop per edge_resp_drops_stored (else whole) */
	bool skip_ctype;                /* STORED: drop Content-Type (a multipart answer) */
	const struct h1_header *origin; /* ORIGIN */
	size_t n_origin;
	edge_resp_skip_cb *skip; /* ORIGIN: the caller's own exclusions, or NULL */
	const void *skip_arg;

	/* the route's response_headers: set and add lines, written before
	 * fields[rules_at] */
	const struct config_hdr_rules *rules;
	unsigned rules_at;

	struct edge_resp_field fields[EDGE_RESP_FIELDS_MAX];
	unsigned n_fields;

	enum edge_resp_framing framing;
	bool keep_alive;
	bool http10; /* the client spoke HTTP/1.0: keep-alive is announced */

	/* a short body of the node's own, written after the head */
	struct str body;
	struct str body_tail;

	char scratch[EDGE_RESP_SCRATCH_MAX];
	size_t scratch_used;
};

/* ---- building (edge_resp.c): which fields ---- */

/* A response of status to req: keep-alive and version from
 * req, no fields yet. */
void edge_resp_init(struct edge_resp *r, const struct edge_req *req, int status);
/* Appends the field name: value (views kept, not copied). */
void edge_resp_add(struct edge_resp *r, struct str name, struct str value);
/* Appends name: the decimal n (formatted into the object). */
void edge_resp_add_u64(struct edge_resp *r, struct str name, uint64_t n);
/* Appends name: value formatted like printf into the object. */
void edge_resp_addf(struct edge_resp *r, struct str name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The route's response_headers rules of req's route apply here (after the fields
 * added so far); relayed fields they remove or set are dropped. */
void edge_resp_rules(struct edge_resp *r, const struct edge_req *req);

/*
 * The node's own answer: Date, Content-Type (text) and Content-Length when
 * body is not NULL (else Content-Length: 0), Via; the caller adds its own
 * fields (Location, Allow, Retry-After, ...).  body (and tail, e.g. "\n")
 * is sent after the head, except to a HEAD request unless always_body.
 */
void edge_resp_own(struct edge_resp *r, const struct edge_req *req, int status, const char *body,
    const char *tail, bool always_body);
/* The same with a body of the given Content-Type (type is kept, not copied). */
void edge_resp_own_typed(struct edge_resp *r, const struct edge_req *req, int status,
    const char *type, const char *body, const char *tail, bool always_body);
/* X-Cache: xcache and "Cache-Status: outpost; cs" (RFC 9211). */
void edge_resp_cache_status(struct edge_resp *r, const char *xcache, const char *cs);
/*
 * An answer from the stored o (whose status is status): the stored fields
 * relayed by reference (whole: with the stored status line; else without
 * it, for a 206 that has its own), the route's rules, Age, Via, X-Cache and
 * Cache-Status.  The caller adds framing fields.
 */
void edge_resp_stored(struct edge_resp *r, const struct edge_req *req, struct cache_obj *o,
    int status, bool whole, const char *xcache, const char *cs);
/* Age of o and Via (a 304 whose fields the caller picked from o). */
void edge_resp_age_via(struct edge_resp *r, const struct edge_req *req, const struct cache_obj *o);
/*
 * A final answer relayed from an origin's head h (its reason phrase kept:
 * the caller clears r->reason when status is not h's): its fields less skip's, the fields the cache
 * policy consumes and those the route's rules remove or set; the rules; Date unless relayed; Via,
 * "X-Cache: MISS" and Cache-Status with cs.  The caller adds framing.
 */
void edge_resp_origin(struct edge_resp *r, const struct edge_req *req, const struct h1_response *h,
    int status, edge_resp_skip_cb *skip, const void *skip_arg, const char *cs);
/* An interim 1xx relayed from an origin's head h: its fields less skip's. */
void edge_resp_interim(struct edge_resp *r, const struct h1_response *h, edge_resp_skip_cb *skip,
    const void *skip_arg);

/* Is the stored field called name left out of r (Content-Range, fields the
 * cache policy consumes, those rules remove or set, Content-Type with
 * skip_ctype)? */
bool edge_resp_drops_stored(const struct edge_resp *r, struct str name);
/* Is the relayed origin field h left out of r? */
bool edge_resp_drops_origin(const struct edge_resp *r, const struct h1_header *h);

/*
 * Ends r (Strict-Transport-Security on a TLS connection of a site with
 * hsts, RFC 6797 §7.2) and queues it on req's transport; for a final answer
 * sets req->status and counts the bytes in req->bytes_out.  Returns the bytes
 * queued.
 */
size_t edge_resp_send(struct edge_resp *r, struct edge_req *req);

#endif
