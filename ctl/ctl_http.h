/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * ctl/ctl_http.h — the small blocking HTTP/1.1 client of outpostctl.
 *
 * One request per connection ("Connection: close"): connect to the admin
 * listener with a deadline, send the request, read the whole reply (framed by
 * Content-Length, chunked, or the close) and parse its head with core/h1.
 * Every step shares one deadline, so a node that accepts and never answers
 * costs at most the timeout.  Not for an event loop: it blocks in poll().
 */
#ifndef OUTPOST_CTL_CTL_HTTP_H
#define OUTPOST_CTL_CTL_HTTP_H

#include <stddef.h>
#include <stdint.h>

#define CTL_HTTP_ERRLEN 256

struct ctl_reply {
	int status;      /* 100..599 */
	char reason[64]; /* the reason phrase as received, cut */
	char *body;      /* NUL-terminated, body_len bytes before the NUL (caller frees) */
	size_t body_len;
};

/*
 * method path to the node at addr ("host:port", "[v6]:port"); token, when not
 * NULL, goes in "Authorization: Bearer"; body (JSON) when not NULL.  Returns 0
 * with *r filled (any status), or -1 with a reason in err: the address is
 * invalid, the connection failed or timed out, or the reply was malformed.
 * The reason never contains the token.
 */
int ctl_http(const char *addr, const char *method, const char *path, const char *token,
    const char *body, uint64_t timeout_ms, struct ctl_reply *r, char *err, size_t errlen);

void ctl_reply_free(struct ctl_reply *r);

#endif
