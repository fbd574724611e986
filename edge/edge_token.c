/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_token.c — protected content in the request's policy stage
 * (edge_guard.h): a route's signed URLs and JWT bearer tokens, checked with
 * the verifiers of policy/policy_token.h against the key sets the
 * configuration snapshot loaded (doc/protected-content.md).
 *
 * A request allocates nothing here: the signature parameters are cut from
 * the query into the caller's buffer, and the claims to forward are written
 * after the geo fields into a buffer of the connection's guard scratch (made
 * by its first token with claims, kept until the connection ends).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/assert.h"
#include "core/h1.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "edge/edge_guard.h"
#include "policy/policy_token.h"

/* The short bodies of the refusals (no secret, signature or token in them). */
static const char *
token_signed_body(enum policy_signed_result r)
{
	switch (r) {
	case POLICY_SIGNED_MISSING:
		return "forbidden: signature missing\n";
	case POLICY_SIGNED_EXPIRED:
		return "forbidden: URL expired\n";
	default:
		return "forbidden: signature invalid\n";
	}
}

/* signed_url: true when the URL's signature holds; *qlen as for
 * edge_guard_protect. */
static bool
token_signed(const struct config_signed_url *su, struct str npath, struct str query,
    const struct edge_guard_client *client, int64_t now_s, char *qout, size_t qoutlen, int *qlen,
    struct edge_guard_verdict *v)
{
	struct policy_signed_req req = {
	    .path = npath,
	    .query = query,
	    .client_ip = str_cstr(client->text),
	    .now_s = now_s,
	};
	enum policy_signed_result r = policy_signed_verify(su->keys, &su->conf, &req);

	if (r == POLICY_SIGNED_OK) {
		*qlen = policy_signed_strip(query, qout, qoutlen);
		if (*qlen >= 0)
			return true;
		r = POLICY_SIGNED_MALFORMED; /* the caller's buffer is the key's bound */
	}
	log_debug("edge", "signed URL refused for %s: %s", client->text, policy_signed_strerror(r));
	v->status = 403;
	v->retry_after_s = 0;
	v->body = token_signed_body(r);
	v->challenge = NULL;
	v->signed_url = true;
	return false;
}

/* jwt: true when the request's bearer token holds; the field lines for the
 * origin are then s->fields followed by its claims, in s->claims. */
static bool
token_jwt(const struct config_jwt *j, const struct h1_header *hdrs, size_t n, int64_t now_s,
    struct edge_guard_scratch *s, struct edge_guard_verdict *v)
{
	struct policy_jwt_claims claims;
	enum policy_jwt_result r = POLICY_JWT_MISSING;
	struct str token = STR_NULL;
	size_t seen = 0;

	for (size_t i = 0; i < n; i++)
		if (str_eq_nocase(hdrs[i].name, STR_LIT("Authorization")) && seen++ == 0)
			r = policy_jwt_bearer(hdrs[i].value, &token);
	if (seen > 1) /* a singleton field (RFC 9110 §11.6.2) */
		r = POLICY_JWT_MALFORMED;
	if (r == POLICY_JWT_OK)
		r = policy_jwt_verify(j->jwks, &j->conf, token, now_s, &claims);
	if (r == POLICY_JWT_OK) {
		if (claims.n == 0)
			return true;
		/* the geo fields, then the claims, in the connection's larger buffer */
		if (s->claims == NULL)
			s->claims = xmalloc(EDGE_GUARD_FIELDS_MAX + EDGE_GUARD_CLAIMS_MAX);
		memcpy(s->claims, s->fields, s->fields_len);
		s->claims_len = s->fields_len;
		for (size_t i = 0; i < claims.n; i++) {
			size_t room = EDGE_GUARD_FIELDS_MAX + EDGE_GUARD_CLAIMS_MAX - s->claims_len;
			int w = snprintf(s->claims + s->claims_len, room, "%s: %.*s\r\n",
			    claims.fields[i].header, (int)claims.fields[i].value.len,
			    claims.fields[i].value.p);

			ASSERT(w > 0 && (size_t)w < room); /* EDGE_GUARD_CLAIMS_MAX holds them */
			s->claims_len += (size_t)w;
		}
		return true;
	}
	log_debug("edge", "bearer token refused: %s", policy_jwt_strerror(r));
	/* RFC 6750 §3: no error code when the request had no token at all */
	v->status = 401;
	v->retry_after_s = 0;
	v->body = r == POLICY_JWT_MISSING ? "unauthorized: bearer token missing\n"
	                                  : "unauthorized: token invalid\n";
	v->challenge = r == POLICY_JWT_MISSING ? "Bearer" : "Bearer error=\"invalid_token\"";
	v->signed_url = false;
	return false;
}

bool
edge_guard_protect(const struct config_route *route, bool signed_ok, struct str npath,
    struct str query, const struct edge_guard_client *client, const struct h1_header *hdrs,
    size_t n, int64_t now_s, struct edge_guard_scratch *s, char *qout, size_t qoutlen, int *qlen,
    struct edge_guard_verdict *v)
{
	*qlen = -1;
	if (route->signed_url != NULL && !signed_ok &&
	    !token_signed(route->signed_url, npath, query, client, now_s, qout, qoutlen, qlen, v))
		return false;
	return route->jwt == NULL || token_jwt(route->jwt, hdrs, n, now_s, s, v);
}

struct str
edge_guard_fields(const struct edge_guard_scratch *s)
{
	return s->claims_len > 0 ? str_make(s->claims, s->claims_len)
	                         : str_make(s->fields, s->fields_len);
}

void
edge_guard_scratch_free(struct edge_guard_scratch *s)
{
	free(s->claims);
	s->claims = NULL;
	s->claims_len = 0;
}

bool
edge_guard_jwt_field(const struct config_route *route, struct str name)
{
	const struct config_jwt *j = route->jwt;

	for (size_t i = 0; j != NULL && i < j->conf.n_forward; i++)
		if (str_eq_nocase(name, str_cstr(j->conf.forward[i].header)))
			return true;
	return false;
}
