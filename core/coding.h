/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * core/coding.h — content codings for edge compression (RFC 9110 §8.4, §12.5.3):
 * Accept-Encoding negotiation, streaming encoders and decoders for br, zstd,
 * gzip and deflate, and the policy helpers (what to compress, ETag and Vary).
 * Knows nothing of caching; doc/compression.md says how the fetch and the
 * delivery use it.
 *
 * Negotiation (coding_accept_*) and the policy helpers are pure functions over
 * views: no allocation, any thread.  A stream (coding_stream_*) belongs to one
 * thread at a time; its memory is allocated at creation and by the libraries
 * while it warms up, counted, and bounded by the window sizes below.
 */
#ifndef OUTPOST_CORE_CODING_H
#define OUTPOST_CORE_CODING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/str.h"

/* The content codings the node knows: name (RFC 9110 §18.6 registry), enum. */
#define CODING_LIST(X)                                                                             \
	X(IDENTITY, "identity")                                                                    \
	X(GZIP, "gzip")                                                                            \
	X(DEFLATE, "deflate")                                                                      \
	X(BR, "br")                                                                                \
	X(ZSTD, "zstd")

enum coding {
#define CODING_ENUM(e, s) CODING_##e,
	CODING_LIST(CODING_ENUM)
#undef CODING_ENUM
	    CODING_N
};

#define CODING_BIT(c) (1u << (c))

/* Canonical token of c ("gzip"); "?" when c is out of range. */
const char *coding_name(enum coding c);
/* The coding a content-coding token names (case-insensitive; "x-gzip" is
 * gzip, RFC 9110 §8.4.1.3); -1 when unknown. */
int coding_from_name(struct str name);

/* Errors: enum, text.  Every fallible call returns 0 or one of these. */
#define CODING_ERROR_LIST(X)                                                                       \
	X(UNACCEPTABLE, "no acceptable content coding (406)")                                      \
	X(UNSUPPORTED, "content coding not supported here")                                        \
	X(CORRUPT, "coded data is corrupt")                                                        \
	X(TRUNCATED, "coded data ends before the end of its stream")                               \
	X(TRAILING, "data after the end of the coded stream")                                      \
	X(LIMIT, "decoded size limit exceeded")                                                    \
	X(RATIO, "decoded expansion ratio limit exceeded")                                         \
	X(NOMEM, "out of memory")                                                                  \
	X(CALLBACK, "the output callback stopped the stream")                                      \
	X(INVALID, "invalid value")                                                                \
	X(SPACE, "output buffer too small")

enum coding_error {
	CODING_OK = 0,
#define CODING_ERR_ENUM(e, s) CODING_E_##e,
	CODING_ERROR_LIST(CODING_ERR_ENUM)
#undef CODING_ERR_ENUM
};
/* Errors are returned negated: -CODING_E_LIMIT.  Text of such a value. */
const char *coding_strerror(int err);

/* ---------------------------------------------------------------------------
 * Negotiation (RFC 9110 §12.5.3)
 */

/* A server preference: codings most preferred first, identity never listed. */
struct coding_pref {
	uint8_t n;
	uint8_t order[CODING_N];
};

#define CODING_Q_UNSET 0xffffu /* coding not named in the field */

/* One Accept-Encoding field, parsed: q-values in thousandths (0..1000). */
struct coding_accept {
	bool present;         /* a field was seen (even empty) */
	uint16_t q[CODING_N]; /* CODING_Q_UNSET when not named */
	uint16_t q_star;      /* "*"; CODING_Q_UNSET when absent */
};

/* Sets a to "no Accept-Encoding field": identity only. */
void coding_accept_init(struct coding_accept *a);
/*
 * Parses one Accept-Encoding value into a (after coding_accept_init; several
 * field lines are joined by the caller with ", ", or parsed in turn).  Never
 * fails; robustness choices (RFC 9110 §5.6.1 lets a recipient skip what it
 * cannot parse):
 *   - codings are case-insensitive tokens, "x-gzip" is gzip; unknown
 *     codings ("compress", "sdch") are ignored;
 *   - a member that is not `token [ OWS ";" OWS "q=" qvalue ]` (a bad token,
 *     a q above 1, more than three decimals, a parameter other than q) is
 *     skipped as a whole, so a garbled exclusion never excludes;
 *   - a coding named twice keeps its first member (as Cache-Control does);
 *   - an empty value means identity only (§12.5.3).
 */
void coding_accept_parse(struct str value, struct coding_accept *a);

/* The q (0..1000) a gives coding c, with "*" applied; identity not named
 * and not matched by "*" is 1000 (acceptable by default, §12.5.3). */
unsigned coding_accept_q(const struct coding_accept *a, enum coding c);

/*
 * The coding to answer with.  Candidates are the codings of pref that are in
 * `available` (CODING_BIT mask), each with its q; the highest q wins, ties go
 * to the earlier one in pref.  Identity is always available (a coded variant
 * can be decoded); it beats a coding only when the field names it (itself or
 * through "*") with a strictly higher q, and is the answer when no coding is
 * acceptable.  Returns the coding, or -CODING_E_UNACCEPTABLE when identity is
 * excluded too (identity;q=0, or *;q=0 without identity): a 406, or the
 * identity representation anyway as §12.5.3 allows.
 */
int coding_accept_pick(
    const struct coding_accept *a, const struct coding_pref *pref, unsigned available);

/* The acceptable codings of pref (q > 0), as a CODING_BIT mask; identity's
 * bit when identity is acceptable. */
unsigned coding_accept_mask(const struct coding_accept *a, const struct coding_pref *pref);

/*
 * The weight (0..1000) an Accept field value (RFC 9110 §12.5.1) gives the
 * media type `type` (lower-case "text/html"): the weight of the most
 * specific range that matches it (the type itself, "text/ *", "* / *",
 * case-insensitive; the first of equals), 0 when none does; 1000 for no
 * field (value.p == NULL).  Parameters other than q are skipped; a member
 * whose q is not a qvalue counts as q=0.  The admin listener's /status
 * chooses between its page and its JSON with it.
 */
unsigned coding_accept_media_q(struct str value, const char *type);

/*
 * The canonical form of an Accept-Encoding value for the cache key (the
 * secondary key of Vary: Accept-Encoding): the coding coding_accept_pick
 * chooses when every coding of pref is available, as a token ("zstd",
 * "identity"), or "!" when nothing is acceptable.  Every spelling of the
 * field that leads to one answer shares one key, so the cache keeps one
 * variant per served coding (at most pref->n + 2 keys).  The string is static.
 */
const char *coding_accept_key(const struct coding_accept *a, const struct coding_pref *pref);

/* ---------------------------------------------------------------------------
 * Streams
 *
 * Output goes to a callback as it is produced, in pieces of at most
 * CODING_OUT_CHUNK bytes; the bytes are valid during the call only.  A
 * callback returning non-zero stops the stream (-CODING_E_CALLBACK).
 */
typedef int (*coding_out_cb)(void *arg, const void *p, size_t len);

#define CODING_OUT_CHUNK 16384

/* Encoder settings. */
#define CODING_BR_LGWIN_DEFAULT  20
#define CODING_ZSTD_WLOG_DEFAULT 20

struct coding_enc_conf {
	int level;          /* coding_level_default(); see coding_level_range */
	size_t flush_bytes; /* flush after this much input (0: only on coding_stream_flush) */
	unsigned br_lgwin;  /* brotli window log, 10..24, default 22 (4 MiB) */
	unsigned zstd_wlog; /* zstd window log, 10..23, default 21 (2 MiB) */
};

/* Decoder limits against decompression bombs (0 disables a limit). */
struct coding_dec_limits {
	uint64_t max_out;     /* decoded bytes, default 256 MiB */
	uint32_t max_ratio;   /* decoded / coded bytes, default 200 */
	uint64_t ratio_after; /* ratio checked once the output passes this, default 1 MiB */
};

void coding_enc_conf_defaults(struct coding_enc_conf *c, enum coding coding);
void coding_dec_limits_defaults(struct coding_dec_limits *l);

/* Valid levels of a coding: gzip and deflate 1..9, br 0..11, zstd 1..19. */
void coding_level_range(enum coding c, int *lo, int *hi);
/* Default level: gzip and deflate 6, br 5, zstd 3 (doc/compression.md). */
int coding_level_default(enum coding c);

struct coding_stream; /* opaque */

/*
 * A new encoder (conf NULL: defaults) or decoder (lim NULL: defaults) for
 * coding c (not identity).  Returns 0 and the stream in *out, or
 * -CODING_E_UNSUPPORTED, -CODING_E_INVALID (a setting out of range),
 * -CODING_E_NOMEM.  A deflate decoder takes the zlib format (RFC 1950) and
 * raw deflate (RFC 1951), which some servers send; a gzip decoder takes
 * several members, a zstd decoder several frames, as their tools write them.
 * A zstd decoder refuses a window above 8 MiB (RFC 9659 §3), a brotli
 * decoder the large-window extension.
 */
int coding_encoder_new(
    enum coding c, const struct coding_enc_conf *conf, struct coding_stream **out);
int coding_decoder_new(
    enum coding c, const struct coding_dec_limits *lim, struct coding_stream **out);

/*
 * Feeds len bytes; output so far goes to cb.  Returns 0, or a negative error
 * after which the stream only accepts coding_stream_reset or _free.  A
 * decoder stops before passing on a byte past a limit (-CODING_E_LIMIT,
 * -CODING_E_RATIO); it never holds more than one CODING_OUT_CHUNK of output.
 */
int coding_stream_update(
    struct coding_stream *st, const void *in, size_t len, coding_out_cb cb, void *arg);
/* Encoder: emits everything fed so far as complete bytes (a sync flush point),
 * at some cost in ratio.  Decoder: no-op. */
int coding_stream_flush(struct coding_stream *st, coding_out_cb cb, void *arg);
/* Ends the stream: an encoder writes its trailer; a decoder checks that its
 * input ended where the coded stream did (-CODING_E_TRUNCATED). */
int coding_stream_finish(struct coding_stream *st, coding_out_cb cb, void *arg);
/* Back to the state after _new, same settings, memory kept. */
void coding_stream_reset(struct coding_stream *st);
/* Frees; sets *stp = NULL; NULL-safe. */
void coding_stream_free(struct coding_stream **stp);

/* Bytes consumed and produced since _new or the last reset. */
uint64_t coding_stream_in(const struct coding_stream *st);
uint64_t coding_stream_out(const struct coding_stream *st);
/* Memory held by the stream now, and its peak, in bytes (the stream and what
 * the library allocated through it). */
size_t coding_stream_mem(const struct coding_stream *st);
size_t coding_stream_mem_peak(const struct coding_stream *st);

/* ---------------------------------------------------------------------------
 * Settings and policy
 */

#define CODING_TYPES_MAX 32

struct coding_conf {
	bool enabled;                       /* default true */
	struct coding_pref pref;            /* default zstd, br, gzip */
	int level[CODING_N];                /* default per coding_level_default */
	uint64_t min_size;                  /* bytes; default 1024 */
	size_t n_types;                     /* compressible media types */
	struct str types[CODING_TYPES_MAX]; /* patterns, see coding_conf_parse_type */
	struct coding_dec_limits limits;    /* decoder limits */
};

/* Defaults; types are text/\*, application/json, application/javascript,
 * application/xml, application/wasm, image/svg+xml, +json, +xml. */
void coding_conf_defaults(struct coding_conf *c);

/*
 * Config string validators: 0, or -CODING_E_INVALID with a sentence in err
 * (NUL-terminated, truncated to errlen) that names the bad part.
 *   _parse_pref:  "zstd, br, gzip": known codings other than identity,
 *                 each once, at least one;
 *   _parse_level: a decimal level for coding c within coding_level_range;
 *   _parse_type:  "type/subtype", "type/\*" or "+suffix", lower-case
 *                 tokens; on success *out is s without surrounding blanks.
 */
int coding_conf_parse_pref(const char *s, struct coding_pref *out, char *err, size_t errlen);
int coding_conf_parse_level(enum coding c, const char *s, int *out, char *err, size_t errlen);
int coding_conf_parse_type(const char *s, struct str *out, char *err, size_t errlen);
/* The whole struct: levels in range, pref and types valid, limits sane. */
int coding_conf_check(const struct coding_conf *c, char *err, size_t errlen);

/* Is a Content-Type value (parameters allowed) one of c's compressible types?
 * Case-insensitive; false for an empty or unparsable value. */
bool coding_type_compressible(const struct coding_conf *c, struct str content_type);

/* Why a response is not compressed: enum, text (also a metric label). */
#define CODING_SKIP_LIST(X)                                                                        \
	X(DISABLED, "disabled")                                                                    \
	X(NO_BODY, "no_body")                                                                      \
	X(STATUS, "status")                                                                        \
	X(RANGE, "range")                                                                          \
	X(ENCODED, "encoded")                                                                      \
	X(NO_TRANSFORM, "no_transform")                                                            \
	X(TOO_SMALL, "too_small")                                                                  \
	X(TYPE, "type")

enum coding_decision {
	CODING_COMPRESS = 0,
#define CODING_SKIP_ENUM(e, s) CODING_SKIP_##e,
	CODING_SKIP_LIST(CODING_SKIP_ENUM)
#undef CODING_SKIP_ENUM
};
const char *coding_decision_name(enum coding_decision d);

/* What the decision looks at; fields that are absent have p == NULL. */
struct coding_resp {
	int status;
	bool head;                   /* the request is HEAD */
	bool range;                  /* the request carries Range (served from identity) */
	struct str content_encoding; /* of the response */
	struct str cache_control;    /* of the response, all lines joined */
	struct str content_type;
	int64_t content_length; /* -1 when unknown (chunked, close-delimited) */
};

/*
 * Whether to compress a response on its way through (before negotiation:
 * this says the representation may be coded; coding_accept_pick says how).
 * Pure.  In order: disabled; HEAD or 204/304 (no body); a status other than
 * 200, 203, 404, 410 (ranges and validators of 206, redirects); a Range
 * request; a Content-Encoding other than identity; Cache-Control
 * no-transform (RFC 9110 §7.7); a known length under min_size; a type not in
 * the list.
 */
enum coding_decision coding_should_compress(
    const struct coding_conf *c, const struct coding_resp *r);

/*
 * The ETag of a coded variant made from a representation with ETag etag:
 * W/"x" for "x", a weak tag unchanged (RFC 9110 §8.8.3, reasons in
 * doc/compression.md).  Writes into out (size outlen) and sets *res to it;
 * -CODING_E_INVALID when etag is not an entity-tag (drop the field then),
 * -CODING_E_SPACE when out is too small.
 */
int coding_etag_weaken(struct str etag, char *out, size_t outlen, struct str *res);

/*
 * The Vary value of a response that depends on Accept-Encoding, given its
 * Vary (all lines joined; p == NULL when absent): "Accept-Encoding" when
 * absent or empty; unchanged when it is "*" or already names
 * Accept-Encoding (any case); else the old value + ", Accept-Encoding".
 * Writes into out and sets *res; -CODING_E_SPACE when out is too small.
 */
int coding_vary_merge(struct str vary, char *out, size_t outlen, struct str *res);

#endif
