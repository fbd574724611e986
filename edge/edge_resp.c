/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_resp.c — the response object: which fields an answer carries.
 *
 * Every answer to a client is built here, then written by the transport
 * (edge_h1.c for HTTP/1.1).  The fields the node adds are decided in one
 * place per kind of answer:
 *
 *   kind                     relayed               node's fields, in order
 *   own (errors, redirects,  -                     Date, Content-Type, Content-Length,
 *   OPTIONS *, 412, 416)                           Via, the caller's
 *   stored (hit, 206)        stored head           rules, Age, Via, X-Cache,
 *                                                  Cache-Status, the caller's framing
 *   304 from the cache       -                     the caller's picks of the stored
 *                                                  head, rules, Age, Via, X-Cache,
 *                                                  Cache-Status
 *   origin (miss, pass)      origin head less      rules, Date (unless relayed), Via,
 *                            hop-by-hop etc.       X-Cache, Cache-Status, framing
 *   interim 1xx, 100         origin head / -       none
 *
 * and Strict-Transport-Security last on every final answer over TLS when
 * the site sets hsts.  The route's response_headers rules apply to hits,
 * 206 and 304 from the cache and relayed answers, not to the node's own.
 *
 * A hit costs no allocation: the stored head is referenced whole when
 * nothing in it is dropped (its status line included), and the few fields
 * the node adds are views, their values formatted into r->scratch.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "cache/cache.h"
#include "config/config.h"
#include "core/assert.h"
#include "core/timeutil.h"
#include "edge/edge_req.h"
#include "edge/edge_resp.h"
#include "edge/edge_route.h"
#include "edge/edge_worker.h"

static void
resp_reset(struct edge_resp *r, int status, bool keep_alive, bool http10)
{
	r->status = status;
	r->reason = STR_NULL;
	r->interim = status < 200;
	r->relay = EDGE_RESP_RELAY_NONE;
	r->rules = NULL;
	r->rules_at = 0;
	r->n_fields = 0;
	r->framing = EDGE_RESP_FRAMING_FIELDS;
	r->keep_alive = keep_alive;
	r->http10 = http10;
	r->body = STR_NULL;
	r->body_tail = STR_NULL;
	r->scratch_used = 0;
}

void
edge_resp_init(struct edge_resp *r, const struct edge_req *req, int status)
{
	resp_reset(r, status, req->sess->keep_alive, req->h1.minor == 0);
}

void
edge_resp_add(struct edge_resp *r, struct str name, struct str value)
{
	ASSERT(r->n_fields < EDGE_RESP_FIELDS_MAX);
	r->fields[r->n_fields].name = name;
	r->fields[r->n_fields].value = value;
	r->n_fields++;
}

/* Room for len bytes in the scratch space. */
static char *
resp_scratch(struct edge_resp *r, size_t len)
{
	char *p = r->scratch + r->scratch_used;

	ASSERT(len <= sizeof r->scratch - r->scratch_used);
	r->scratch_used += len;
	return p;
}

void
edge_resp_add_u64(struct edge_resp *r, struct str name, uint64_t n)
{
	char digits[20];
	size_t len = 0;
	char *p;

	do {
		digits[sizeof digits - 1 - len++] = (char)('0' + n % 10);
		n /= 10;
	} while (n > 0);
	p = resp_scratch(r, len);
	memcpy(p, digits + sizeof digits - len, len);
	edge_resp_add(r, name, str_make(p, len));
}

void
edge_resp_addf(struct edge_resp *r, struct str name, const char *fmt, ...)
{
	size_t room = sizeof r->scratch - r->scratch_used;
	char *p = r->scratch + r->scratch_used;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(p, room, fmt, ap);
	va_end(ap);
	ASSERT(n >= 0 && (size_t)n < room);
	r->scratch_used += (size_t)n;
	edge_resp_add(r, name, str_make(p, (size_t)n));
}

/* Appends name: a then b (copied into the object). */
static void
resp_add_cat(struct edge_resp *r, struct str name, struct str a, struct str b)
{
	char *p = resp_scratch(r, a.len + b.len);

	memcpy(p, a.p, a.len);
	memcpy(p + a.len, b.p, b.len);
	edge_resp_add(r, name, str_make(p, a.len + b.len));
}

static void
resp_add_via(struct edge_resp *r, const struct edge_req *req)
{
	const char *node = req->sess->gen->cfg->node_name;

	resp_add_cat(r, STR_LIT("Via"), STR_LIT("1.1 "), str_make(node, strlen(node)));
}

static void
resp_add_date(struct edge_resp *r, const struct edge_req *req)
{
	const char *date = edge_worker_date(req->sess->w);

	edge_resp_add(r, STR_LIT("Date"), str_make(date, strlen(date)));
}

void
edge_resp_rules(struct edge_resp *r, const struct edge_req *req)
{
	if (req->route == NULL || req->route->resp_hdrs.n == 0)
		return;
	r->rules = &req->route->resp_hdrs;
	r->rules_at = r->n_fields;
}

void
edge_resp_own(struct edge_resp *r, const struct edge_req *req, int status, const char *body,
    const char *tail, bool always_body)
{
	edge_resp_own_typed(r, req, status, "text/plain; charset=utf-8", body, tail, always_body);
}

void
edge_resp_own_typed(struct edge_resp *r, const struct edge_req *req, int status, const char *type,
    const char *body, const char *tail, bool always_body)
{
	size_t blen = body != NULL ? strlen(body) : 0;
	size_t tlen = tail != NULL ? strlen(tail) : 0;

	edge_resp_init(r, req, status);
	resp_add_date(r, req);
	if (blen + tlen > 0)
		edge_resp_add(r, STR_LIT("Content-Type"), str_make(type, strlen(type)));
	edge_resp_add_u64(r, STR_LIT("Content-Length"), blen + tlen);
	resp_add_via(r, req);
	if (always_body || !str_eq(req->h1.method, STR_LIT("HEAD"))) {
		r->body = str_make(body, blen);
		r->body_tail = str_make(tail, tlen);
	}
}

void
edge_resp_cache_status(struct edge_resp *r, const char *xcache, const char *cs)
{
	edge_resp_add(r, STR_LIT("X-Cache"), str_make(xcache, strlen(xcache)));
	resp_add_cat(r, STR_LIT("Cache-Status"), STR_LIT("outpost; "), str_make(cs, strlen(cs)));
}

void
edge_resp_age_via(struct edge_resp *r, const struct edge_req *req, const struct cache_obj *o)
{
	int64_t age = cache_obj_age(o, time_now());

	edge_resp_add_u64(r, STR_LIT("Age"), age > 0 ? (uint64_t)age : 0);
	resp_add_via(r, req);
}

void
edge_resp_stored(struct edge_resp *r, const struct edge_req *req, struct cache_obj *o, int status,
    bool whole, const char *xcache, const char *cs)
{
	size_t head_len;
	const char *head = cache_obj_head(o, &head_len);

	edge_resp_init(r, req, status);
	edge_resp_rules(r, req);
	r->relay = EDGE_RESP_RELAY_STORED;
	r->obj = o;
	r->skip_ctype = false;
	if (whole) {
		r->stored = head;
		r->stored_len = head_len;
		r->stored_line = true;
		r->stored_filter = r->rules != NULL || cache_obj_has_consumed_fields(o);
	} else {
		const char *eol = memchr(head, '\n', head_len);
		size_t sl = eol != NULL ? (size_t)(eol + 1 - head) : head_len;

		r->stored = head + sl;
		r->stored_len = head_len - sl;
		r->stored_line = false;
		r->stored_filter = true;
	}
	edge_resp_age_via(r, req, o);
	edge_resp_cache_status(r, xcache, cs);
}

/* Is name one the route's rules remove or set? */
static bool
resp_rules_drop(const struct edge_resp *r, struct str name)
{
	return r->rules != NULL && edge_route_hdr_drops(r->rules, name);
}

bool
edge_resp_drops_stored(const struct edge_resp *r, struct str name)
{
	return str_eq_nocase(name, STR_LIT("Content-Range")) || cache_policy_consumed_field(name) ||
	       resp_rules_drop(r, name) ||
	       (r->skip_ctype && str_eq_nocase(name, STR_LIT("Content-Type")));
}

bool
edge_resp_drops_origin(const struct edge_resp *r, const struct h1_header *h)
{
	if (r->skip != NULL && r->skip(r->skip_arg, h))
		return true;
	return !r->interim && (cache_policy_consumed_field(h->name) || resp_rules_drop(r, h->name));
}

/* Relays the fields of h less skip's. */
static void
resp_relay_origin(
    struct edge_resp *r, const struct h1_response *h, edge_resp_skip_cb *skip, const void *arg)
{
	r->relay = EDGE_RESP_RELAY_ORIGIN;
	r->origin = h->headers;
	r->n_origin = h->n_headers;
	r->skip = skip;
	r->skip_arg = arg;
	r->reason = h->reason;
}

void
edge_resp_origin(struct edge_resp *r, const struct edge_req *req, const struct h1_response *h,
    int status, edge_resp_skip_cb *skip, const void *skip_arg, const char *cs)
{
	bool has_date = false;

	edge_resp_init(r, req, status);
	resp_relay_origin(r, h, skip, skip_arg);
	edge_resp_rules(r, req);
	for (size_t i = 0; i < h->n_headers && !has_date; i++)
		has_date = str_eq_nocase(h->headers[i].name, STR_LIT("Date")) &&
		           !edge_resp_drops_origin(r, &h->headers[i]);
	if (!has_date)
		resp_add_date(r, req);
	resp_add_via(r, req);
	edge_resp_cache_status(r, "MISS", cs);
}

void
edge_resp_interim(
    struct edge_resp *r, const struct h1_response *h, edge_resp_skip_cb *skip, const void *skip_arg)
{
	resp_reset(r, h->status, true, false);
	resp_relay_origin(r, h, skip, skip_arg);
}

size_t
edge_resp_send(struct edge_resp *r, struct edge_req *req)
{
	size_t n;

	/* RFC 6797 §7.1, §7.2: only over a secure transport, on every response. */
	if (!r->interim && req->sess->tls && req->site != NULL && req->site->hsts != NULL)
		edge_resp_add(r, STR_LIT("Strict-Transport-Security"),
		    str_make(req->site->hsts, strlen(req->site->hsts)));
	n = edge_req_send_head(req, r);
	if (!r->interim) {
		req->status = r->status;
		req->bytes_out += n;
	}
	return n;
}
