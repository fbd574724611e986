/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * core/coding.c — streaming encoders and decoders for the content codings
 * (gzip and deflate through zlib, br through libbrotli, zstd through libzstd).
 *
 * Model: a stream owns one library state and one output buffer of
 * CODING_OUT_CHUNK bytes.  Each call runs the library until the input given is
 * consumed and the buffer is no longer filled up, handing every filled part of
 * the buffer to the caller's callback; nothing is queued on our side, so a
 * stream's memory is its struct plus the library state.  The libraries
 * allocate through our counting allocator (coding_stream_mem tells the figure;
 * doc/compression.md lists it per coding and level) and their windows bound
 * it: zstd windowLog <= 23 on both sides (RFC 9659 §3: 8 MiB), brotli lgwin
 * <= 24 with the large-window extension refused, zlib 32 KiB.
 *
 * A decoder checks its limits before it hands a piece of output on, so a
 * bomb ends with -CODING_E_LIMIT or -CODING_E_RATIO after at most
 * CODING_OUT_CHUNK bytes past what the caller has seen, and its memory stays
 * the window's.  After an error the stream answers that error until reset.
 *
 * A stream belongs to one thread at a time; nothing here is shared.
 */
#include "config.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <brotli/decode.h>
#include <brotli/encode.h>
#include <zlib.h>
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_createCCtx_advanced: our allocator */
#include <zstd.h>
#include <zstd_errors.h>

#include "core/assert.h"
#include "core/coding.h"

#define CODING_ZSTD_WLOG_MAX 23    /* RFC 9659 §3: windows up to 8 MiB */
#define CODING_ALLOC_HDR     16    /* room before each block for its size */
#define CODING_BR_STAGE      16384 /* input staged for brotli levels 0 and 1 */

enum coding_st_state {
	CODING_ST_OPEN = 0, /* taking input */
	CODING_ST_ENDED,    /* decoder: the coded stream ended; encoder: finished */
	CODING_ST_FAILED,   /* error holds the error */
};

struct coding_stream {
	enum coding coding;
	bool encoder;
	enum coding_st_state state;
	int error;
	bool z_ready;      /* zlib: inflateInit2/deflateInit2 done */
	bool z_member_gap; /* gzip decoder: between two members */
	uint8_t z_hdr[2];  /* deflate decoder: first bytes, to tell zlib from raw */
	uint8_t z_hdr_n;
	unsigned char *stage; /* brotli levels 0 and 1: input not yet coded */
	size_t stage_n;
	uint64_t in, out;
	uint64_t since_flush;
	size_t mem, mem_peak;
	struct coding_enc_conf enc;
	struct coding_dec_limits lim;
	union {
		z_stream z;
		BrotliEncoderState *be;
		BrotliDecoderState *bd;
		ZSTD_CCtx *zc;
		ZSTD_DCtx *zd;
	} u;
	unsigned char buf[CODING_OUT_CHUNK];
};

static const char *const coding_names[] = {
#define CODING_NAME(e, s) s,
    CODING_LIST(CODING_NAME)
#undef CODING_NAME
};

static const char *const coding_errors[] = {"success",
#define CODING_ERR_TEXT(e, s) s,
    CODING_ERROR_LIST(CODING_ERR_TEXT)
#undef CODING_ERR_TEXT
};

const char *
coding_name(enum coding c)
{
	return (unsigned)c < CODING_N ? coding_names[c] : "?";
}

int
coding_from_name(struct str name)
{
	for (unsigned i = 0; i < CODING_N; i++)
		if (str_eq_nocase(name, str_cstr(coding_names[i])))
			return (int)i;
	if (str_eq_nocase(name, STR_LIT("x-gzip")))
		return CODING_GZIP;
	return -1;
}

const char *
coding_strerror(int err)
{
	unsigned e = err < 0 ? (unsigned)-err : (unsigned)err;

	return e < sizeof coding_errors / sizeof coding_errors[0] ? coding_errors[e]
	                                                          : "unknown coding error";
}

void
coding_level_range(enum coding c, int *lo, int *hi)
{
	switch (c) {
	case CODING_BR:
		*lo = BROTLI_MIN_QUALITY;
		*hi = BROTLI_MAX_QUALITY;
		break;
	case CODING_ZSTD:
		*lo = 1;
		*hi = 19; /* 20..22 need windows past RFC 9659's 8 MiB */
		break;
	case CODING_GZIP:
	case CODING_DEFLATE:
		*lo = 1;
		*hi = 9;
		break;
	default:
		*lo = *hi = 0;
		break;
	}
}

int
coding_level_default(enum coding c)
{
	switch (c) {
	case CODING_BR:
		return 5;
	case CODING_ZSTD:
		return 3;
	case CODING_GZIP:
	case CODING_DEFLATE:
		return 6;
	default:
		return 0;
	}
}

void
coding_enc_conf_defaults(struct coding_enc_conf *c, enum coding coding)
{
	c->level = coding_level_default(coding);
	c->flush_bytes = 64 * 1024;
	c->br_lgwin = CODING_BR_LGWIN_DEFAULT;
	c->zstd_wlog = CODING_ZSTD_WLOG_DEFAULT;
}

void
coding_dec_limits_defaults(struct coding_dec_limits *l)
{
	l->max_out = 256ull << 20;
	l->max_ratio = 200;
	l->ratio_after = 1u << 20;
}

/* ---- counting allocator (the libraries' state goes through it) ---- */

static void *
coding_alloc(void *opaque, size_t n)
{
	struct coding_stream *st = opaque;
	unsigned char *p;

	if (n > SIZE_MAX - CODING_ALLOC_HDR)
		return NULL;
	p = malloc(n + CODING_ALLOC_HDR);
	if (p == NULL)
		return NULL;
	memcpy(p, &n, sizeof n);
	st->mem += n;
	if (st->mem > st->mem_peak)
		st->mem_peak = st->mem;
	return p + CODING_ALLOC_HDR;
}

static void
coding_dealloc(void *opaque, void *addr)
{
	struct coding_stream *st = opaque;
	unsigned char *p;
	size_t n;

	if (addr == NULL)
		return;
	p = (unsigned char *)addr - CODING_ALLOC_HDR;
	memcpy(&n, p, sizeof n);
	ASSERT(st->mem >= n);
	st->mem -= n;
	free(p);
}

static voidpf
coding_zalloc(voidpf opaque, uInt items, uInt size)
{
	if (size != 0 && items > SIZE_MAX / size)
		return Z_NULL;
	return coding_alloc(opaque, (size_t)items * size);
}

static void
coding_zfree(voidpf opaque, voidpf addr)
{
	coding_dealloc(opaque, addr);
}

/* ---- library state ---- */

static int
coding_fail(struct coding_stream *st, int err)
{
	st->state = CODING_ST_FAILED;
	st->error = err;
	return err;
}

static int
coding_state_new(struct coding_stream *st)
{
	const struct coding_enc_conf *e = &st->enc;
	ZSTD_customMem zmem = {coding_alloc, coding_dealloc, st};

	switch (st->coding) {
	case CODING_GZIP:
	case CODING_DEFLATE:
		st->u.z.zalloc = coding_zalloc;
		st->u.z.zfree = coding_zfree;
		st->u.z.opaque = st;
		if (st->encoder) {
			int wbits = st->coding == CODING_GZIP ? 15 + 16 : 15;

			if (deflateInit2(&st->u.z, e->level, Z_DEFLATED, wbits, 8,
			        Z_DEFAULT_STRATEGY) != Z_OK)
				return -CODING_E_NOMEM;
		} else if (inflateInit2(&st->u.z, st->coding == CODING_GZIP ? 15 + 16 : 15) !=
		           Z_OK) {
			return -CODING_E_NOMEM;
		}
		st->z_ready = true;
		return 0;
	case CODING_BR:
		if (st->encoder) {
			st->u.be = BrotliEncoderCreateInstance(coding_alloc, coding_dealloc, st);
			if (st->u.be == NULL)
				return -CODING_E_NOMEM;
			if (!BrotliEncoderSetParameter(
			        st->u.be, BROTLI_PARAM_QUALITY, (uint32_t)e->level) ||
			    !BrotliEncoderSetParameter(st->u.be, BROTLI_PARAM_LGWIN, e->br_lgwin))
				return -CODING_E_INVALID;
		} else {
			st->u.bd = BrotliDecoderCreateInstance(coding_alloc, coding_dealloc, st);
			if (st->u.bd == NULL)
				return -CODING_E_NOMEM;
		}
		return 0;
	case CODING_ZSTD:
		if (st->encoder) {
			ZSTD_compressionParameters cp = ZSTD_getCParams(e->level, 0, 0);
			unsigned wlog = cp.windowLog < e->zstd_wlog ? cp.windowLog : e->zstd_wlog;

			st->u.zc = ZSTD_createCCtx_advanced(zmem);
			if (st->u.zc == NULL)
				return -CODING_E_NOMEM;
			if (ZSTD_isError(ZSTD_CCtx_setParameter(
			        st->u.zc, ZSTD_c_compressionLevel, e->level)) ||
			    ZSTD_isError(
			        ZSTD_CCtx_setParameter(st->u.zc, ZSTD_c_windowLog, (int)wlog)))
				return -CODING_E_INVALID;
		} else {
			st->u.zd = ZSTD_createDCtx_advanced(zmem);
			if (st->u.zd == NULL)
				return -CODING_E_NOMEM;
			if (ZSTD_isError(ZSTD_DCtx_setParameter(
			        st->u.zd, ZSTD_d_windowLogMax, CODING_ZSTD_WLOG_MAX)))
				return -CODING_E_INVALID;
		}
		return 0;
	default:
		return -CODING_E_UNSUPPORTED;
	}
}

static void
coding_state_free(struct coding_stream *st)
{
	switch (st->coding) {
	case CODING_GZIP:
	case CODING_DEFLATE:
		if (st->z_ready)
			(void)(st->encoder ? deflateEnd(&st->u.z) : inflateEnd(&st->u.z));
		st->z_ready = false;
		break;
	case CODING_BR:
		if (st->encoder && st->u.be != NULL)
			BrotliEncoderDestroyInstance(st->u.be);
		else if (!st->encoder && st->u.bd != NULL)
			BrotliDecoderDestroyInstance(st->u.bd);
		st->u.be = NULL;
		st->u.bd = NULL;
		break;
	case CODING_ZSTD:
		if (st->encoder)
			ZSTD_freeCCtx(st->u.zc);
		else
			ZSTD_freeDCtx(st->u.zd);
		st->u.zc = NULL;
		st->u.zd = NULL;
		break;
	default:
		break;
	}
}

static int
coding_stream_new(enum coding c, bool encoder, struct coding_stream **out)
{
	struct coding_stream *st;

	*out = NULL;
	if (c != CODING_GZIP && c != CODING_DEFLATE && c != CODING_BR && c != CODING_ZSTD)
		return -CODING_E_UNSUPPORTED;
	st = calloc(1, sizeof *st);
	if (st == NULL)
		return -CODING_E_NOMEM;
	st->coding = c;
	st->encoder = encoder;
	st->mem = st->mem_peak = sizeof *st;
	*out = st;
	return 0;
}

static int
coding_stream_start(struct coding_stream **stp)
{
	int rc = coding_state_new(*stp);

	if (rc != 0)
		coding_stream_free(stp);
	return rc;
}

int
coding_encoder_new(enum coding c, const struct coding_enc_conf *conf, struct coding_stream **out)
{
	struct coding_enc_conf d;
	int lo, hi, rc;

	coding_enc_conf_defaults(&d, c);
	if (conf == NULL)
		conf = &d;
	coding_level_range(c, &lo, &hi);
	if (conf->level < lo || conf->level > hi || conf->br_lgwin < BROTLI_MIN_WINDOW_BITS ||
	    conf->br_lgwin > BROTLI_MAX_WINDOW_BITS || conf->zstd_wlog < 10 ||
	    conf->zstd_wlog > CODING_ZSTD_WLOG_MAX) {
		*out = NULL;
		return c == CODING_IDENTITY || (unsigned)c >= CODING_N ? -CODING_E_UNSUPPORTED
		                                                       : -CODING_E_INVALID;
	}
	rc = coding_stream_new(c, true, out);
	if (rc != 0)
		return rc;
	(*out)->enc = *conf;
	return coding_stream_start(out);
}

int
coding_decoder_new(enum coding c, const struct coding_dec_limits *lim, struct coding_stream **out)
{
	int rc = coding_stream_new(c, false, out);

	if (rc != 0)
		return rc;
	if (lim != NULL)
		(*out)->lim = *lim;
	else
		coding_dec_limits_defaults(&(*out)->lim);
	return coding_stream_start(out);
}

void
coding_stream_reset(struct coding_stream *st)
{
	int rc = 0;

	st->state = CODING_ST_OPEN;
	st->error = 0;
	st->in = st->out = st->since_flush = 0;
	st->z_member_gap = false;
	st->z_hdr_n = 0;
	st->stage_n = 0;
	switch (st->coding) {
	case CODING_GZIP:
	case CODING_DEFLATE:
		rc = st->encoder ? deflateReset(&st->u.z) : inflateReset(&st->u.z);
		rc = rc == Z_OK ? 0 : -CODING_E_NOMEM;
		break;
	case CODING_ZSTD:
		if (st->encoder)
			(void)ZSTD_CCtx_reset(st->u.zc, ZSTD_reset_session_only);
		else
			(void)ZSTD_DCtx_reset(st->u.zd, ZSTD_reset_session_only);
		break;
	default: /* brotli has no reset: a new state */
		coding_state_free(st);
		rc = coding_state_new(st);
		break;
	}
	if (rc != 0)
		(void)coding_fail(st, rc);
}

void
coding_stream_free(struct coding_stream **stp)
{
	struct coding_stream *st = *stp;

	if (st == NULL)
		return;
	*stp = NULL;
	coding_state_free(st);
	coding_dealloc(st, st->stage);
	free(st);
}

uint64_t
coding_stream_in(const struct coding_stream *st)
{
	return st->in;
}

uint64_t
coding_stream_out(const struct coding_stream *st)
{
	return st->out;
}

size_t
coding_stream_mem(const struct coding_stream *st)
{
	return st->mem;
}

size_t
coding_stream_mem_peak(const struct coding_stream *st)
{
	return st->mem_peak;
}

/* ---- running the libraries ---- */

/* Hands st->buf[0..n) on, after a decoder's limits allow it. */
static int
coding_emit(struct coding_stream *st, size_t n, coding_out_cb cb, void *arg)
{
	uint64_t total = st->out + n;
	const struct coding_dec_limits *l = &st->lim;

	if (n == 0)
		return 0;
	if (!st->encoder) {
		if (l->max_out != 0 && total > l->max_out)
			return coding_fail(st, -CODING_E_LIMIT);
		if (l->max_ratio != 0 && total > l->ratio_after &&
		    (st->in == 0 || total / st->in > l->max_ratio))
			return coding_fail(st, -CODING_E_RATIO);
	}
	st->out = total;
	if (cb(arg, st->buf, n) != 0)
		return coding_fail(st, -CODING_E_CALLBACK);
	return 0;
}

enum coding_op {
	CODING_OP_RUN = 0,
	CODING_OP_FLUSH,
	CODING_OP_FINISH,
};

static int
coding_zlib_enc(struct coding_stream *st, const unsigned char *in, size_t len, enum coding_op op,
    coding_out_cb cb, void *arg)
{
	z_stream *z = &st->u.z;
	int flush = op == CODING_OP_FINISH  ? Z_FINISH
	            : op == CODING_OP_FLUSH ? Z_SYNC_FLUSH
	                                    : Z_NO_FLUSH;

	do {
		uInt take = len > UINT_MAX ? UINT_MAX : (uInt)len;
		int f = take == len ? flush : Z_NO_FLUSH, zr, rc;

		z->next_in = (Bytef *)(uintptr_t)in;
		z->avail_in = take;
		/* zlib: call again while the output fills up; Z_FINISH until
		 * Z_STREAM_END. */
		do {
			z->next_out = st->buf;
			z->avail_out = sizeof st->buf;
			zr = deflate(z, f);
			if (zr == Z_STREAM_ERROR)
				return coding_fail(st, -CODING_E_CORRUPT);
			rc = coding_emit(st, sizeof st->buf - z->avail_out, cb, arg);
			if (rc != 0)
				return rc;
		} while (z->avail_out == 0 || (f == Z_FINISH && zr != Z_STREAM_END));
		st->in += take;
		if (take != 0) /* in may be NULL when len is 0 */
			in += take;
		len -= take;
	} while (len > 0);
	return 0;
}

/* Deflate decoder: the zlib format (RFC 1950) if the first two bytes are a
 * valid zlib header, else raw deflate (RFC 1951). */
static int coding_deflate_detect(
    struct coding_stream *st, const unsigned char **in, size_t *len, coding_out_cb cb, void *arg);

static int
coding_zlib_dec(
    struct coding_stream *st, const unsigned char *in, size_t len, coding_out_cb cb, void *arg)
{
	z_stream *z = &st->u.z;

	if (st->coding == CODING_DEFLATE && st->z_hdr_n < 2) {
		int rc = coding_deflate_detect(st, &in, &len, cb, arg);

		if (rc != 0 || len == 0)
			return rc;
	}
	while (len > 0) {
		uInt take = len > UINT_MAX ? UINT_MAX : (uInt)len;
		int zr = Z_OK, rc;

		if (st->state == CODING_ST_ENDED)
			return coding_fail(st, -CODING_E_TRAILING);
		if (st->z_member_gap) {
			/* RFC 1952 §2.2: a gzip file is a series of members. */
			if (in[0] != 0x1f)
				return coding_fail(st, -CODING_E_TRAILING);
			st->z_member_gap = false;
			if (inflateReset(z) != Z_OK)
				return coding_fail(st, -CODING_E_CORRUPT);
		}
		z->next_in = (Bytef *)(uintptr_t)in;
		z->avail_in = take;
		do {
			size_t used;

			z->next_out = st->buf;
			z->avail_out = sizeof st->buf;
			zr = inflate(z, Z_NO_FLUSH);
			if (zr == Z_NEED_DICT || zr == Z_DATA_ERROR || zr == Z_STREAM_ERROR)
				return coding_fail(st, -CODING_E_CORRUPT);
			if (zr == Z_MEM_ERROR)
				return coding_fail(st, -CODING_E_NOMEM);
			used = take - z->avail_in;
			st->in += used;
			in += used;
			len -= used;
			take = z->avail_in;
			rc = coding_emit(st, sizeof st->buf - z->avail_out, cb, arg);
			if (rc != 0)
				return rc;
		} while (zr == Z_OK && (z->avail_out == 0 || z->avail_in > 0));
		if (zr == Z_STREAM_END) {
			if (st->coding == CODING_GZIP)
				st->z_member_gap = true;
			else
				st->state = CODING_ST_ENDED;
		} else if (zr == Z_BUF_ERROR && z->avail_in > 0) {
			return coding_fail(st, -CODING_E_CORRUPT);
		}
	}
	return 0;
}

static int
coding_deflate_detect(
    struct coding_stream *st, const unsigned char **in, size_t *len, coding_out_cb cb, void *arg)
{
	const unsigned char *h = st->z_hdr;
	bool zlib;
	int rc;

	while (st->z_hdr_n < 2 && *len > 0) {
		st->z_hdr[st->z_hdr_n++] = **in;
		(*in)++;
		(*len)--;
	}
	if (st->z_hdr_n < 2)
		return 0;
	zlib = (h[0] & 0x0f) == Z_DEFLATED && (h[0] >> 4) <= 7 && ((h[0] << 8) | h[1]) % 31 == 0;
	if (inflateReset2(&st->u.z, zlib ? 15 : -15) != Z_OK)
		return coding_fail(st, -CODING_E_CORRUPT);
	/* z_hdr_n stays 2 from here on: the header goes through once. */
	rc = coding_zlib_dec(st, h, 2, cb, arg);
	return rc;
}

static int
coding_br_run(struct coding_stream *st, const unsigned char *in, size_t len, enum coding_op op,
    coding_out_cb cb, void *arg)
{
	BrotliEncoderOperation bop = op == CODING_OP_FINISH  ? BROTLI_OPERATION_FINISH
	                             : op == CODING_OP_FLUSH ? BROTLI_OPERATION_FLUSH
	                                                     : BROTLI_OPERATION_PROCESS;
	size_t avail_in = len;
	const uint8_t *next_in = in;

	for (;;) {
		size_t avail_out = sizeof st->buf;
		uint8_t *next_out = st->buf;
		int rc;

		if (!BrotliEncoderCompressStream(
		        st->u.be, bop, &avail_in, &next_in, &avail_out, &next_out, NULL))
			return coding_fail(st, -CODING_E_NOMEM);
		rc = coding_emit(st, sizeof st->buf - avail_out, cb, arg);
		if (rc != 0)
			return rc;
		if (BrotliEncoderHasMoreOutput(st->u.be) || avail_in > 0)
			continue;
		if (op == CODING_OP_FINISH && !BrotliEncoderIsFinished(st->u.be))
			continue;
		return 0;
	}
}

/*
 * Brotli's fast levels (0 and 1) code each piece of input as it comes, with
 * a block header per call: 1-byte pieces grow 4-fold.  For them the input is
 * staged into CODING_BR_STAGE bytes first (the other levels buffer inside
 * the library).
 */
static int
coding_br_enc(struct coding_stream *st, const unsigned char *in, size_t len, enum coding_op op,
    coding_out_cb cb, void *arg)
{
	int rc;

	st->in += len;
	if (st->enc.level >= 2)
		return coding_br_run(st, in, len, op, cb, arg);
	if (st->stage == NULL) {
		st->stage = coding_alloc(st, CODING_BR_STAGE);
		if (st->stage == NULL)
			return coding_fail(st, -CODING_E_NOMEM);
	}
	while (len > 0) {
		size_t n =
		    CODING_BR_STAGE - st->stage_n < len ? CODING_BR_STAGE - st->stage_n : len;

		memcpy(st->stage + st->stage_n, in, n);
		st->stage_n += n;
		in += n;
		len -= n;
		if (st->stage_n == CODING_BR_STAGE) {
			st->stage_n = 0;
			rc = coding_br_run(st, st->stage, CODING_BR_STAGE, CODING_OP_RUN, cb, arg);
			if (rc != 0)
				return rc;
		}
	}
	if (op == CODING_OP_RUN)
		return 0;
	rc = coding_br_run(st, st->stage, st->stage_n, op, cb, arg);
	st->stage_n = 0;
	return rc;
}

static int
coding_br_dec(
    struct coding_stream *st, const unsigned char *in, size_t len, coding_out_cb cb, void *arg)
{
	size_t avail_in = len;
	const uint8_t *next_in = in;

	while (avail_in > 0) {
		BrotliDecoderResult r;

		if (st->state == CODING_ST_ENDED)
			return coding_fail(st, -CODING_E_TRAILING);
		do {
			size_t avail_out = sizeof st->buf;
			uint8_t *next_out = st->buf;
			int rc;

			r = BrotliDecoderDecompressStream(
			    st->u.bd, &avail_in, &next_in, &avail_out, &next_out, NULL);
			st->in += (size_t)(next_in - in);
			in = next_in;
			if (r == BROTLI_DECODER_RESULT_ERROR) {
				BrotliDecoderErrorCode ec = BrotliDecoderGetErrorCode(st->u.bd);

				return coding_fail(
				    st, ec <= BROTLI_DECODER_ERROR_ALLOC_CONTEXT_MODES &&
				                ec >= BROTLI_DECODER_ERROR_ALLOC_BLOCK_TYPE_TREES
				            ? -CODING_E_NOMEM
				            : -CODING_E_CORRUPT);
			}
			rc = coding_emit(st, sizeof st->buf - avail_out, cb, arg);
			if (rc != 0)
				return rc;
			/* It may say NEEDS_MORE_INPUT with output still held. */
		} while (r == BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT ||
		         BrotliDecoderHasMoreOutput(st->u.bd));
		if (r == BROTLI_DECODER_RESULT_SUCCESS)
			st->state = CODING_ST_ENDED;
	}
	return 0;
}

static int
coding_zstd_enc(struct coding_stream *st, const unsigned char *in, size_t len, enum coding_op op,
    coding_out_cb cb, void *arg)
{
	ZSTD_EndDirective zop = op == CODING_OP_FINISH  ? ZSTD_e_end
	                        : op == CODING_OP_FLUSH ? ZSTD_e_flush
	                                                : ZSTD_e_continue;
	ZSTD_inBuffer ib = {in, len, 0};

	for (;;) {
		ZSTD_outBuffer ob = {st->buf, sizeof st->buf, 0};
		size_t left = ZSTD_compressStream2(st->u.zc, &ob, &ib, zop);
		int rc;

		if (ZSTD_isError(left))
			return coding_fail(st, -CODING_E_NOMEM);
		rc = coding_emit(st, ob.pos, cb, arg);
		if (rc != 0)
			return rc;
		if (zop == ZSTD_e_continue ? ib.pos == ib.size : left == 0)
			break;
	}
	st->in += len;
	return 0;
}

static int
coding_zstd_dec(
    struct coding_stream *st, const unsigned char *in, size_t len, coding_out_cb cb, void *arg)
{
	ZSTD_inBuffer ib = {in, len, 0};
	ZSTD_outBuffer ob;

	/* A frame ends when the call returns 0; another frame may follow
	 * (RFC 8878 §3: a zstd stream is a series of frames). */
	do {
		size_t before = ib.pos, r;
		int rc;

		ob = (ZSTD_outBuffer){st->buf, sizeof st->buf, 0};
		r = ZSTD_decompressStream(st->u.zd, &ob, &ib);
		st->in += ib.pos - before;
		if (ZSTD_isError(r)) {
			ZSTD_ErrorCode ec = ZSTD_getErrorCode(r);

			if (ec == ZSTD_error_memory_allocation)
				return coding_fail(st, -CODING_E_NOMEM);
			if (ec == ZSTD_error_prefix_unknown && st->state == CODING_ST_ENDED)
				return coding_fail(st, -CODING_E_TRAILING);
			return coding_fail(st, -CODING_E_CORRUPT);
		}
		rc = coding_emit(st, ob.pos, cb, arg);
		if (rc != 0)
			return rc;
		if (ib.pos > before || ob.pos > 0)
			st->state = r == 0 ? CODING_ST_ENDED : CODING_ST_OPEN;
	} while (ib.pos < ib.size || ob.pos == ob.size);
	return 0;
}

/* Encoder step for any coding. */
static int
coding_enc(struct coding_stream *st, const unsigned char *in, size_t len, enum coding_op op,
    coding_out_cb cb, void *arg)
{
	switch (st->coding) {
	case CODING_GZIP:
	case CODING_DEFLATE:
		return coding_zlib_enc(st, in, len, op, cb, arg);
	case CODING_BR:
		return coding_br_enc(st, in, len, op, cb, arg);
	case CODING_ZSTD:
		return coding_zstd_enc(st, in, len, op, cb, arg);
	default:
		UNREACHABLE("stream of an unsupported coding");
	}
}

static int
coding_dec(
    struct coding_stream *st, const unsigned char *in, size_t len, coding_out_cb cb, void *arg)
{
	switch (st->coding) {
	case CODING_GZIP:
	case CODING_DEFLATE:
		return coding_zlib_dec(st, in, len, cb, arg);
	case CODING_BR:
		return coding_br_dec(st, in, len, cb, arg);
	case CODING_ZSTD:
		return coding_zstd_dec(st, in, len, cb, arg);
	default:
		UNREACHABLE("stream of an unsupported coding");
	}
}

int
coding_stream_update(
    struct coding_stream *st, const void *in, size_t len, coding_out_cb cb, void *arg)
{
	const unsigned char *p = in;

	if (st->state == CODING_ST_FAILED)
		return st->error;
	if (!st->encoder)
		return len == 0 ? 0 : coding_dec(st, p, len, cb, arg);
	if (st->state == CODING_ST_ENDED)
		return coding_fail(st, -CODING_E_INVALID);
	while (len > 0) {
		size_t n = len;
		int rc;

		if (st->enc.flush_bytes != 0 && n > st->enc.flush_bytes - st->since_flush)
			n = st->enc.flush_bytes - st->since_flush;
		rc = coding_enc(st, p, n, CODING_OP_RUN, cb, arg);
		if (rc != 0)
			return rc;
		p += n;
		len -= n;
		st->since_flush += n;
		if (st->enc.flush_bytes != 0 && st->since_flush >= st->enc.flush_bytes) {
			rc = coding_stream_flush(st, cb, arg);
			if (rc != 0)
				return rc;
		}
	}
	return 0;
}

int
coding_stream_flush(struct coding_stream *st, coding_out_cb cb, void *arg)
{
	if (st->state == CODING_ST_FAILED)
		return st->error;
	if (!st->encoder || st->state == CODING_ST_ENDED)
		return 0;
	st->since_flush = 0;
	return coding_enc(st, NULL, 0, CODING_OP_FLUSH, cb, arg);
}

int
coding_stream_finish(struct coding_stream *st, coding_out_cb cb, void *arg)
{
	int rc;

	if (st->state == CODING_ST_FAILED)
		return st->error;
	if (!st->encoder) {
		if (st->coding == CODING_ZSTD && st->state != CODING_ST_ENDED) {
			/* Output the decoder still holds comes out on an empty call. */
			rc = coding_zstd_dec(st, NULL, 0, cb, arg);
			if (rc != 0)
				return rc;
		}
		if (st->state == CODING_ST_ENDED || st->z_member_gap)
			return 0;
		return coding_fail(st, -CODING_E_TRUNCATED);
	}
	if (st->state == CODING_ST_ENDED)
		return 0;
	rc = coding_enc(st, NULL, 0, CODING_OP_FINISH, cb, arg);
	if (rc == 0)
		st->state = CODING_ST_ENDED;
	return rc;
}
