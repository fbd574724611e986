/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * core/h1.h — strict, zero-copy HTTP/1.1 message parsing and serialization
 * (RFC 9112, with the framing rules of RFC 9110).
 *
 * Parsing never allocates: the caller provides the header array and every
 * struct str points into the caller's buffer, which must stay unchanged while
 * the views are used.  h1_parse_request / h1_parse_response parse a complete
 * message head from the start of the buffer every time they are called and
 * return H1_AGAIN while it is incomplete; errors are detected as early as the
 * bytes allow (a bare LF or a bad method fails before the head is complete).
 *
 * Status codes are an X-macro table: the enum, h1_strerror() and the HTTP
 * status the edge answers with come from the same list.
 */
#ifndef OUTPOST_CORE_H1_H
#define OUTPOST_CORE_H1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/str.h"

/*       name                   http  text */
#define H1_STATUS_TABLE(X)                                                                         \
	X(OK, 0, "ok")                                                                             \
	X(AGAIN, 0, "incomplete")                                                                  \
	X(E_BAD_REQUEST_LINE, 400, "malformed request line")                                       \
	X(E_BAD_METHOD, 400, "method is not a token")                                              \
	X(E_BAD_TARGET, 400, "malformed request target")                                           \
	X(E_BAD_VERSION, 505, "unsupported HTTP version")                                          \
	X(E_BAD_HEADER, 400, "malformed header field")                                             \
	X(E_WS_BEFORE_COLON, 400, "whitespace before colon")                                       \
	X(E_OBS_FOLD, 400, "obsolete line folding")                                                \
	X(E_BARE_CR, 400, "bare CR")                                                               \
	X(E_BARE_LF, 400, "bare LF")                                                               \
	X(E_CTL_CHAR, 400, "control character")                                                    \
	X(E_BAD_CONTENT_LENGTH, 400, "invalid Content-Length")                                     \
	X(E_DUP_CONTENT_LENGTH, 400, "repeated Content-Length")                                    \
	X(E_CL_AND_TE, 400, "Content-Length with Transfer-Encoding")                               \
	X(E_BAD_TE, 400, "unsupported Transfer-Encoding")                                          \
	X(E_NO_HOST, 400, "missing Host")                                                          \
	X(E_DUP_HOST, 400, "repeated Host")                                                        \
	X(E_BAD_HOST, 400, "invalid Host")                                                         \
	X(E_URI_TOO_LONG, 414, "request line too long")                                            \
	X(E_HEADERS_TOO_LARGE, 431, "header section too large")                                    \
	X(E_TOO_MANY_HEADERS, 431, "too many header fields")                                       \
	X(E_BAD_STATUS_LINE, 502, "malformed status line")                                         \
	X(E_BAD_CHUNK, 400, "malformed chunk")                                                     \
	X(E_CHUNK_TOO_LARGE, 400, "chunk size too large")                                          \
	X(E_BAD_TRAILER, 400, "malformed trailer")

enum h1_status {
#define H1_ENUM(name, http, text) H1_##name,
	H1_STATUS_TABLE(H1_ENUM)
#undef H1_ENUM
};

const char *h1_strerror(enum h1_status st);
/* The HTTP status a server answers an invalid request with (400, 414, 431, 505...). */
int h1_status_http(enum h1_status st);

struct h1_header {
	struct str name;  /* as received; compare with str_eq_nocase */
	struct str value; /* OWS trimmed */
};

enum h1_body {
	H1_BODY_NONE = 0, /* no body */
	H1_BODY_LENGTH,   /* content_length bytes (may be 0) */
	H1_BODY_CHUNKED,  /* chunked transfer coding */
	H1_BODY_CLOSE,    /* responses only: until the connection closes */
};

/* The size of the field arrays the node parses heads into (requests and the
 * origin's responses); the configured limit applies below it. */
#define H1_MAX_HEADERS 256

struct h1_limits {
	size_t max_request_line; /* request line incl. CRLF; exceeding → H1_E_URI_TOO_LONG */
	size_t max_head;         /* whole head incl. final CRLF; → H1_E_HEADERS_TOO_LARGE */
	size_t max_headers;      /* <= the caller's array size; → H1_E_TOO_MANY_HEADERS */
};

enum h1_target_form {
	H1_TARGET_ORIGIN = 0, /* "/path?query" */
	H1_TARGET_ABSOLUTE,   /* "http://host:port/path?query" */
	H1_TARGET_AUTHORITY,  /* CONNECT "host:port" */
	H1_TARGET_ASTERISK,   /* OPTIONS "*" */
};

struct h1_request {
	struct str method;
	struct str target; /* as received */
	enum h1_target_form form;
	struct str scheme; /* absolute-form only (lower-case not guaranteed) */
	struct str path;   /* path and query ("/" for absolute-form without path) */
	int minor;         /* 0 or 1 (HTTP/1.0, HTTP/1.1) */

	struct h1_header *headers; /* caller's array */
	size_t n_headers;

	/* Derived while parsing (RFC 9112 §3.2, §6, §9.3; RFC 9110 §7.2): */
	struct str authority; /* absolute-form authority if present, else Host;
	                         validated (no userinfo, valid port); may be empty
	                         on HTTP/1.0 without Host */
	struct str host;      /* authority without the port */
	uint16_t port;        /* port from authority, 0 if none */
	enum h1_body body;    /* NONE, LENGTH or CHUNKED */
	uint64_t content_length;
	bool keep_alive;      /* per version and Connection */
	bool expect_continue; /* Expect: 100-continue */
	size_t head_len;      /* bytes of the head including the final CRLF */
};

/*
 * Parses a request head from buf[0..len).  Returns H1_OK (req filled),
 * H1_AGAIN (need more bytes; no error so far and limits not exceeded) or an
 * H1_E_* error.  hdrs has room for lim->max_headers entries.
 */
enum h1_status h1_parse_request(const char *buf, size_t len, const struct h1_limits *lim,
    struct h1_header *hdrs, struct h1_request *req);

struct h1_response {
	int minor;
	int status; /* 100..599 */
	struct str reason;
	struct h1_header *headers;
	size_t n_headers;
	enum h1_body body; /* per RFC 9112 §6.3 given the request method */
	uint64_t content_length;
	bool keep_alive; /* the server allows reuse of the connection */
	size_t head_len;
};

/*
 * Parses a response head.  head_request: the request was HEAD (no body);
 * 1xx, 204 and 304 have no body either.  Same return convention as above;
 * malformed status lines give H1_E_BAD_STATUS_LINE, framing errors the same
 * codes as requests (the proxy maps any of them to 502).
 */
enum h1_status h1_parse_response(const char *buf, size_t len, const struct h1_limits *lim,
    bool head_request, struct h1_header *hdrs, struct h1_response *resp);

/* First header with this name (case-insensitive), or NULL. */
const struct h1_header *h1_header_find(const struct h1_header *hdrs, size_t n, struct str name);

/*
 * Hop-by-hop: Connection, Keep-Alive, Proxy-Connection, TE, Trailer,
 * Transfer-Encoding, Upgrade, Proxy-Authenticate, Proxy-Authorization,
 * Proxy-Authentication-Info, and every field named in a Connection header of the same message (RFC
 * 9110 §7.6.1).
 */
bool h1_is_hop_by_hop(struct str name, const struct h1_header *hdrs, size_t n);

/*
 * Chunked transfer coding decoder (RFC 9112 §7.1), incremental across reads.
 * Chunk extensions are parsed and ignored; trailer fields are parsed and
 * dropped.  Chunk sizes above 2^60 are H1_E_CHUNK_TOO_LARGE.
 */
struct h1_chunked {
	int state;
	uint64_t remaining;   /* data bytes left in the current chunk */
	size_t line_len;      /* bytes of the current size/trailer line seen (limit 4 KiB) */
	size_t trailer_bytes; /* limit 16 KiB */
	int flags;
};

void h1_chunked_init(struct h1_chunked *c);
/*
 * Consumes bytes from in[0..len).  *consumed is set to how many bytes were
 * used; if some of them are body data, *data / *data_len give the first run
 * of data (a view into in) and the call returns after it, so callers loop:
 *
 *     while (len > 0) { st = h1_chunked_decode(&c, in, len, &used, &d, &dl);
 *                       if (dl) emit(d, dl); in += used; len -= used;
 *                       if (st != H1_AGAIN) break; }
 *
 * Returns H1_AGAIN while the body is not finished, H1_OK when the last chunk
 * and the trailer section have been consumed (bytes after it are not consumed),
 * or an H1_E_* error.
 */
enum h1_status h1_chunked_decode(struct h1_chunked *c, const char *in, size_t len, size_t *consumed,
    const char **data, size_t *data_len);

/* Serialization helpers: write into out (size outlen), return bytes written or
 * 0 when it does not fit. */
/* "1a2b\r\n" for a chunk of n bytes. */
size_t h1_chunk_header(uint64_t n, char *out, size_t outlen);
/* The status line "HTTP/1.1 404 Not Found\r\n" for any status 100..599. */
size_t h1_status_line(int status, char *out, size_t outlen);
/* Standard reason phrase, "Unknown" for unlisted codes. */
const char *h1_reason(int status);

#endif
