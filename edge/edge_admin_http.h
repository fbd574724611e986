/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_admin_http.h — the admin listener's HTTP/1.1 server: the strict
 * request parser of the client listeners (core/h1.h), keep-alive, bounded
 * heads and bodies, timeouts, and a table of handlers by method and path.
 *
 * It runs on the main thread's event loop.  A handler gets a parsed request
 * (struct admin_req) and answers it with admin_http_reply, at once or later
 * (admin_http_defer: the connection reads nothing more until the answer).
 * Any method is parsed (PURGE included); a path no route names is a 404, a
 * method its routes do not take a 405 with Allow; malformed input gets the
 * 4xx h1_status_http gives with a short text body and the connection
 * closes.
 */
#ifndef OUTPOST_EDGE_EDGE_ADMIN_HTTP_H
#define OUTPOST_EDGE_EDGE_ADMIN_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "core/h1.h"
#include "core/str.h"

struct event_base;
struct evbuffer;
struct admin_http;
struct admin_conn;
struct json_t;

#define ADMIN_HTTP_MAX_HEAD    8192 /* bytes of a request head */
#define ADMIN_HTTP_MAX_HEADERS 64
#define ADMIN_HTTP_TIMEOUT_MS  10000 /* head, body, idle keep-alive and send */
#define ADMIN_HTTP_MAX_CONNS   256   /* connections open at once; more are closed */

/* One request, valid until it is answered or its connection goes. */
struct admin_req {
	unsigned magic;             /* ADMIN_REQ_MAGIC */
	const struct h1_request *h; /* method, target, Host, fields: views valid as r */
	struct str path;            /* the target's path, without the query */
	struct str query;           /* after '?', or empty */
	const char *body;           /* the request body (de-chunked), body_len bytes */
	size_t body_len;
	const char *peer; /* the client's address, as text */
	struct admin_conn *conn;
};

typedef void admin_handler_cb(struct admin_req *r, void *arg);
/* The request went away before it was answered (its connection failed, or
 * the server stops): r must not be used after this call. */
typedef void admin_gone_cb(struct admin_req *r, void *arg);

struct admin_route {
	const char *method; /* "GET" also takes HEAD (the body is left out) */
	const char *path;   /* exact; ending in '/' (other than "/"): a prefix;
	                       NULL: any target (a method of its own, as PURGE) */
	admin_handler_cb *cb;
};

/* The largest request body the server takes now (arg: the handlers'). */
typedef size_t admin_max_body_cb(void *arg);

/*
 * Serves fd (bound and listening; taken over) on base with the routes
 * routes[0..n_routes) (kept, not copied) and arg for the handlers; request
 * bodies above max_body(arg) bytes (asked at each request) are answered
 * 413.  NULL (logged) on failure.  Main thread.
 */
struct admin_http *admin_http_new(struct event_base *base, int fd, const struct admin_route *routes,
    size_t n_routes, void *arg, admin_max_body_cb *max_body);
/* Closes the listener and every connection (deferred requests get their
 * gone callback first); NULLs *hp, NULL-safe.  Main thread. */
void admin_http_free(struct admin_http **hp);

/* The value of the first field named name, or STR_NULL. */
struct str admin_http_header(const struct admin_req *r, const char *name);
/* Adds a field to r's answer (before admin_http_reply). */
void admin_http_field(struct admin_req *r, const char *name, const char *value);
/*
 * Answers r: status, Content-Type type, the fields added, and body (its
 * bytes are moved out; NULL: empty).  r is gone after this call.
 */
void admin_http_reply(struct admin_req *r, int status, const char *type, struct evbuffer *body);
/* Answers r with j as compact JSON (application/json; j is not taken). */
void admin_http_reply_json(struct admin_req *r, int status, const struct json_t *j);
/* Answers r with a short text/plain body (a newline is added). */
void admin_http_reply_text(struct admin_req *r, int status, const char *text);
/* r is answered later (from an event of the main loop); gone is called if
 * it goes away before.  Call before the handler returns. */
void admin_http_defer(struct admin_req *r, admin_gone_cb *gone, void *arg);

#endif
