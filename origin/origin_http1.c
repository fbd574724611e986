/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * origin/origin_http1.c — the response reader of the HTTP/1.1 client (see
 * origin_http1.h).
 *
 * The head is parsed from the start of the input buffer each time more
 * bytes arrive (core/h1 parses a whole head and says H1_AGAIN while it is
 * incomplete), over at most lim.max_head + 1 contiguous bytes, so a head
 * larger than the limit fails instead of being waited for.  The body is
 * taken one evbuffer chunk at a time, by reference: Content-Length and
 * close-delimited bytes go to the callback as they lie in the buffer,
 * chunked ones through the incremental decoder.  Connection thread only.
 */
#include "config.h"

#include <sys/time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "core/timeutil.h"
#include "origin/origin_http1.h"

static const char *const oh1_text[] = {
#define ORIGIN_HTTP1_TEXT(name, text) text,
    ORIGIN_HTTP1_STATUS_TABLE(ORIGIN_HTTP1_TEXT)
#undef ORIGIN_HTTP1_TEXT
};

const char *
origin_http1_strerror(enum origin_http1_status st)
{
	return (size_t)st < sizeof oh1_text / sizeof oh1_text[0] ? oh1_text[st] : "unknown";
}

void
origin_http1_init(struct origin_http1_reader *r, const struct h1_limits *lim, unsigned max_interim,
    bool head_request, const struct origin_http1_timeouts *tmo)
{
	*r = (struct origin_http1_reader){0};
	r->lim = *lim;
	r->max_interim = max_interim;
	r->head_request = head_request;
	if (tmo != NULL)
		r->tmo = *tmo;
	r->body = H1_BODY_NONE;
}

enum origin_http1_status
origin_http1_read_head(struct origin_http1_reader *r, struct evbuffer *in, struct h1_header *hdrs,
    struct h1_response *resp, enum h1_status *h1st)
{
	for (;;) {
		size_t len = evbuffer_get_length(in);
		size_t n = len < r->lim.max_head + 1 ? len : r->lim.max_head + 1;
		const char *p;
		enum h1_status st;

		if (len == 0)
			return ORIGIN_HTTP1_AGAIN;
		p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
		st = h1_parse_response(p, n, &r->lim, r->head_request, hdrs, resp);
		if (st == H1_AGAIN)
			return ORIGIN_HTTP1_AGAIN;
		if (st != H1_OK) {
			*h1st = st;
			return ORIGIN_HTTP1_E_MALFORMED;
		}
		if (resp->status < 100 || resp->status >= 200)
			return ORIGIN_HTTP1_OK;
		if (resp->status == 101)
			return ORIGIN_HTTP1_E_UPGRADE;
		if (++r->n_interim > r->max_interim)
			return ORIGIN_HTTP1_E_INTERIM;
		evbuffer_drain(in, resp->head_len);
	}
}

void
origin_http1_body_begin(
    struct origin_http1_reader *r, struct evbuffer *in, const struct h1_response *resp)
{
	/* the header views die with the head: keep only the framing */
	r->body = resp->body;
	r->keep_alive = resp->keep_alive;
	r->remaining = resp->content_length;
	h1_chunked_init(&r->dec);
	r->in_body = true;
	evbuffer_drain(in, resp->head_len);
}

enum origin_http1_status
origin_http1_read_body(struct origin_http1_reader *r, struct evbuffer *in, bool eof,
    origin_http1_body_cb *on_body, void *arg)
{
	for (;;) {
		size_t avail = evbuffer_get_length(in);
		struct evbuffer_iovec v;

		if (r->body == H1_BODY_NONE || (r->body == H1_BODY_LENGTH && r->remaining == 0))
			return ORIGIN_HTTP1_OK;
		if (r->body == H1_BODY_CHUNKED) {
			const char *d = NULL;
			size_t used = 0, dl = 0;
			enum h1_status st;

			if (avail == 0 || evbuffer_peek(in, -1, NULL, &v, 1) < 1)
				return eof ? ORIGIN_HTTP1_E_TRUNCATED : ORIGIN_HTTP1_AGAIN;
			st = h1_chunked_decode(&r->dec, v.iov_base, v.iov_len, &used, &d, &dl);
			if (dl > 0 && !on_body(arg, d, dl))
				return ORIGIN_HTTP1_STOP;
			evbuffer_drain(in, used);
			if (st == H1_OK)
				return ORIGIN_HTTP1_OK;
			if (st != H1_AGAIN)
				return ORIGIN_HTTP1_E_CHUNKED;
			if (used == 0)
				return eof ? ORIGIN_HTTP1_E_TRUNCATED : ORIGIN_HTTP1_AGAIN;
			continue;
		}
		/* LENGTH or CLOSE: as it comes */
		if (avail == 0 || evbuffer_peek(in, -1, NULL, &v, 1) < 1) {
			if (r->body == H1_BODY_CLOSE && eof) {
				r->keep_alive = false;
				return ORIGIN_HTTP1_OK;
			}
			return eof ? ORIGIN_HTTP1_E_TRUNCATED : ORIGIN_HTTP1_AGAIN;
		}
		if (r->body == H1_BODY_LENGTH && v.iov_len > r->remaining)
			v.iov_len = (size_t)r->remaining;
		if (!on_body(arg, v.iov_base, v.iov_len))
			return ORIGIN_HTTP1_STOP;
		evbuffer_drain(in, v.iov_len);
		if (r->body == H1_BODY_LENGTH)
			r->remaining -= v.iov_len;
	}
}

bool
origin_http1_reusable(const struct origin_http1_reader *r)
{
	return r->keep_alive && r->body != H1_BODY_CLOSE;
}

void
origin_http1_set_timeouts(struct bufferevent *bev, unsigned read_ms, unsigned write_ms)
{
	struct timeval rtv = time_ms_to_tv(read_ms), wtv = time_ms_to_tv(write_ms);

	bufferevent_set_timeouts(bev, read_ms > 0 ? &rtv : NULL, write_ms > 0 ? &wtv : NULL);
}

unsigned
origin_http1_read_timeout_ms(const struct origin_http1_reader *r)
{
	return r->in_body ? r->tmo.between_bytes_ms : r->tmo.first_byte_ms;
}

void
origin_http1_arm(const struct origin_http1_reader *r, struct bufferevent *bev)
{
	origin_http1_set_timeouts(bev, origin_http1_read_timeout_ms(r), r->tmo.send_ms);
}
