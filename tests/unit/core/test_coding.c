/* SPDX-License-Identifier: BSD-2-Clause */
/* tests/unit/core/test_coding.c — content codings (core/coding.h): negotiation,
 * streams and their limits, policy helpers, settings; table-driven. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "core/coding.h"
#include "tests/unit/tap.h"

#define ID   CODING_IDENTITY
#define GZ   CODING_GZIP
#define DF   CODING_DEFLATE
#define BR   CODING_BR
#define ZS   CODING_ZSTD
#define NONE (-CODING_E_UNACCEPTABLE)
#define ALL  (~0u)
#define NOZS (~CODING_BIT(ZS))
#define GZO  (CODING_BIT(GZ))

static struct coding_pref pref_default; /* zstd, br, gzip */

struct pick_case {
	const char *ae; /* NULL: no field */
	unsigned avail;
	int want;
};

static const struct pick_case pick_cases[] = {
    /* absent and empty: identity */
    {NULL, ALL, ID},
    {"", ALL, ID},
    {"  ", ALL, ID},
    {",,", ALL, ID},
    /* plain lists: the server's order breaks ties */
    {"gzip", ALL, GZ},
    {"gzip, br", ALL, BR},
    {"br, gzip", ALL, BR},
    {"gzip, deflate, br, zstd", ALL, ZS},
    {"gzip, deflate, br, zstd", NOZS, BR},
    {"gzip, deflate, br, zstd", GZO, GZ},
    {"deflate", ALL, ID}, /* not in the preference */
    /* q decides before the server's order */
    {"br;q=0.5, gzip", ALL, GZ},
    {"br;q=0.5, gzip;q=0.4", ALL, BR},
    {"zstd;q=0.1, br;q=0.2, gzip;q=0.3", ALL, GZ},
    {"zstd;q=0.999, br;q=1", ALL, BR},
    {"zstd;q=0.001", ALL, ZS},
    {"br;q=1.000, zstd;q=1.0", ALL, ZS},
    /* q=0 excludes */
    {"gzip;q=0", ALL, ID},
    {"gzip;q=0.000, br", ALL, BR},
    {"br;q=0, gzip;q=0, zstd;q=0", ALL, ID},
    /* "*" */
    {"*", ALL, ZS},
    {"*", GZO, GZ},
    {"*;q=0.5, br", ALL, BR},
    {"*, zstd;q=0", ALL, BR},
    {"*;q=0", ALL, NONE},
    {"*;q=0, identity", ALL, ID},
    {"*;q=0, gzip", ALL, GZ},
    {"gzip;q=0.5, *", GZO, ID}, /* identity by "*" at 1 beats gzip at 0.5 */
    /* identity */
    {"identity", ALL, ID},
    {"identity;q=0", ALL, NONE},
    {"identity;q=0, gzip", ALL, GZ},
    {"gzip;q=0.5, identity", ALL, ID},
    {"gzip, identity;q=0.5", ALL, GZ},
    {"gzip;q=0.5, identity;q=0.5", ALL, GZ}, /* a tie goes to the coding */
    {"identity;q=0, br", GZO, NONE},
    /* unknown codings are ignored */
    {"compress, sdch", ALL, ID},
    {"compress, sdch, gzip", ALL, GZ},
    {"x-gzip", ALL, GZ},
    {"exi;q=1, br;q=0.1", ALL, BR},
    /* case and OWS */
    {"GZIP", ALL, GZ},
    {"Br , GZip", ALL, BR},
    {"  zstd  ;  q=0.5  ,\tbr;q=0.4", ALL, ZS},
    {"br;Q=0.5, gzip;q=0.6", ALL, GZ},
    {"IDENTITY;Q=0", ALL, NONE},
    /* malformed members are skipped whole */
    {"gzip;q=2, br;q=0.1", ALL, BR},
    {"gzip;q=0.5555, br;q=0.1", ALL, BR},
    {"gzip;q=1.001, br;q=0.1", ALL, BR},
    {"gzip;q=.5, br;q=0.1", ALL, BR},
    {"gzip;q=-0, br;q=0.1", ALL, BR},
    {"gzip;q=, br;q=0.1", ALL, BR},
    {"gzip;q=0.5x, br;q=0.1", ALL, BR},
    {"gzip;level=1, br;q=0.1", ALL, BR},
    {"gzip;, br;q=0.1", ALL, BR},
    {"gz ip, br;q=0.1", ALL, BR},
    {"\"gzip\", br;q=0.1", ALL, BR},
    {"identity;q=zero", ALL, ID}, /* a garbled exclusion does not exclude */
    {"*;q=O", ALL, ID},
    {";q=0, gzip", ALL, GZ},
    {"gzip;q=0 ;q=1", ALL, ID},
    /* the first member of a coding wins */
    {"gzip;q=0, gzip", ALL, ID},
    {"gzip, gzip;q=0", ALL, GZ},
    /* garbage */
    {"\x01\x02\xff", ALL, ID},
    {"gzip\x7f", ALL, ID},
    {";;;,,,===", ALL, ID},
};

static void
test_pick(void)
{
	subtest("negotiation table");
	for (size_t i = 0; i < sizeof pick_cases / sizeof pick_cases[0]; i++) {
		const struct pick_case *c = &pick_cases[i];
		struct coding_accept a;
		int got;
		char what[160];

		coding_accept_init(&a);
		if (c->ae != NULL)
			coding_accept_parse(str_cstr(c->ae), &a);
		got = coding_accept_pick(&a, &pref_default, c->avail);
		snprintf(what, sizeof what, "pick \"%s\" avail %#x", c->ae ? c->ae : "(absent)",
		    c->avail);
		if (!ok(got == c->want, what))
			printf("#   got %d, want %d\n", got, c->want);
	}
}

/* Accept (RFC 9110 §12.5.1): the weight of a media type. */
static const struct {
	const char *accept; /* NULL: no field */
	const char *type;
	unsigned want;
} media_cases[] = {
    {NULL, "text/html", 1000},
    {"", "text/html", 0},
    {"text/html", "text/html", 1000},
    {"TEXT/HTML", "text/html", 1000},
    {"application/json", "text/html", 0},
    {"*/*", "application/json", 1000},
    {"text/*;q=0.4", "text/html", 400},
    {"text/*;q=0.4", "application/json", 0},
    /* the most specific range wins, whatever its place or weight */
    {"*/*;q=0.8, text/html;q=0.1", "text/html", 100},
    {"text/html;q=0.2, text/*;q=0.9, */*", "text/html", 200},
    {"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "text/html", 1000},
    {"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "application/json", 800},
    /* other parameters are skipped; spaces around them too */
    {"text/html;level=1 ; q=0.5", "text/html", 500},
    {"text/html ; Q=0.125", "text/html", 125},
    /* a weight that is not a qvalue excludes */
    {"text/html;q=2", "text/html", 0},
    {"text/html;q=0.1234", "text/html", 0},
    {"text/html;q=", "text/html", 0},
    /* the first of two equal ranges */
    {"application/json;q=0.3, application/json", "application/json", 300},
    {"\x01,\xff;q=1,,;", "text/html", 0},
    {"text/", "text/html", 0},
};

static void
test_accept_media(void)
{
	subtest("Accept: the weight of a media type");
	for (size_t i = 0; i < sizeof media_cases / sizeof media_cases[0]; i++) {
		struct str v =
		    media_cases[i].accept != NULL ? str_cstr(media_cases[i].accept) : STR_NULL;
		unsigned got = coding_accept_media_q(v, media_cases[i].type);
		char what[160];

		snprintf(what, sizeof what, "\"%s\" gives %s %u",
		    media_cases[i].accept ? media_cases[i].accept : "(absent)", media_cases[i].type,
		    media_cases[i].want);
		if (!ok(got == media_cases[i].want, what))
			printf("#   got %u\n", got);
	}
}

static void
test_accept_misc(void)
{
	struct coding_accept a;
	struct coding_pref br_first = {2, {BR, GZ}};

	subtest("q-values and joined field lines");
	coding_accept_init(&a);
	coding_accept_parse(STR_LIT("gzip;q=0.123, br;q=0.5, zstd;q=1"), &a);
	is_int(coding_accept_q(&a, GZ), 123);
	is_int(coding_accept_q(&a, BR), 500);
	is_int(coding_accept_q(&a, ZS), 1000);
	is_int(coding_accept_q(&a, DF), 0);
	is_int(coding_accept_q(&a, ID), 1000);
	/* two field lines, parsed in turn, are one list */
	coding_accept_init(&a);
	coding_accept_parse(STR_LIT("gzip;q=0.2"), &a);
	coding_accept_parse(STR_LIT("br;q=0.1"), &a);
	is_int(coding_accept_pick(&a, &pref_default, ALL), GZ);
	/* the server's preference is the tie-breaker */
	coding_accept_init(&a);
	coding_accept_parse(STR_LIT("gzip, br, zstd"), &a);
	is_int(coding_accept_pick(&a, &br_first, ALL), BR);
	is_int(coding_accept_pick(&a, &pref_default, ALL), ZS);
	/* an acceptable coding the server does not serve is not chosen */
	is_int(coding_accept_pick(&a, &pref_default, CODING_BIT(DF)), ID);

	subtest("acceptable mask");
	coding_accept_init(&a);
	is_int(coding_accept_mask(&a, &pref_default), CODING_BIT(ID));
	coding_accept_parse(STR_LIT("gzip, br;q=0, deflate"), &a);
	is_int(coding_accept_mask(&a, &pref_default), CODING_BIT(ID) | CODING_BIT(GZ));
	coding_accept_init(&a);
	coding_accept_parse(STR_LIT("*, identity;q=0"), &a);
	is_int(coding_accept_mask(&a, &pref_default),
	    CODING_BIT(GZ) | CODING_BIT(BR) | CODING_BIT(ZS));
}

struct key_case {
	const char *ae;
	const char *key;
};

static const struct key_case key_cases[] = {
    {NULL, "identity"},
    {"", "identity"},
    {"compress", "identity"},
    {"gzip", "gzip"},
    {"GZIP", "gzip"},
    {"x-gzip;q=0.3", "gzip"},
    {"gzip, deflate", "gzip"},
    {"gzip, deflate, br", "br"},
    {"br;q=1.0, gzip;q=0.8, *;q=0.1", "br"},
    {"br;q=0.5, gzip;q=0.5, *;q=0.5", "zstd"},
    {"br, gzip, zstd", "zstd"},
    {"*", "zstd"},
    {"zstd;q=0.5, br", "br"},
    {"identity;q=0", "!"},
    {"*;q=0", "!"},
    {"identity", "identity"},
};

static void
test_key(void)
{
	subtest("cache key form");
	for (size_t i = 0; i < sizeof key_cases / sizeof key_cases[0]; i++) {
		struct coding_accept a;

		coding_accept_init(&a);
		if (key_cases[i].ae != NULL)
			coding_accept_parse(str_cstr(key_cases[i].ae), &a);
		is_str(coding_accept_key(&a, &pref_default), key_cases[i].key);
	}
}

/* ---- streams ---- */

struct sink {
	unsigned char *p;
	size_t len, cap;
	size_t calls;
	size_t max_piece;
	size_t stop_after; /* stop (non-zero return) once len passes this; 0: never */
};

static int
sink_cb(void *arg, const void *p, size_t len)
{
	struct sink *s = arg;

	if (len > s->max_piece)
		s->max_piece = len;
	s->calls++;
	if (s->len + len > s->cap) {
		s->cap = (s->len + len) * 2;
		s->p = realloc(s->p, s->cap);
		if (s->p == NULL)
			abort();
	}
	memcpy(s->p + s->len, p, len);
	s->len += len;
	return s->stop_after != 0 && s->len > s->stop_after;
}

static void
sink_free(struct sink *s)
{
	free(s->p);
	memset(s, 0, sizeof *s);
}

/* Runs all of in through a stream in pieces of `chunk` bytes (0: one
 * piece); returns the first error, or finish's. */
static int
run_stream(
    struct coding_stream *st, const unsigned char *in, size_t len, size_t chunk, struct sink *out)
{
	size_t off = 0;
	int rc;

	if (chunk == 0)
		chunk = len > 0 ? len : 1;
	while (off < len) {
		size_t n = len - off < chunk ? len - off : chunk;

		rc = coding_stream_update(st, in + off, n, sink_cb, out);
		if (rc != 0)
			return rc;
		off += n;
	}
	return coding_stream_finish(st, sink_cb, out);
}

static int
encode(
    enum coding c, int level, const unsigned char *in, size_t len, size_t chunk, struct sink *out)
{
	struct coding_enc_conf conf;
	struct coding_stream *st;
	int rc;

	coding_enc_conf_defaults(&conf, c);
	if (level >= 0)
		conf.level = level;
	rc = coding_encoder_new(c, &conf, &st);
	if (rc != 0)
		return rc;
	rc = run_stream(st, in, len, chunk, out);
	coding_stream_free(&st);
	return rc;
}

static int
decode(enum coding c, const struct coding_dec_limits *lim, const unsigned char *in, size_t len,
    size_t chunk, struct sink *out, size_t *mem_peak)
{
	struct coding_stream *st;
	int rc = coding_decoder_new(c, lim, &st);

	if (rc != 0)
		return rc;
	rc = run_stream(st, in, len, chunk, out);
	if (mem_peak != NULL)
		*mem_peak = coding_stream_mem_peak(st);
	coding_stream_free(&st);
	return rc;
}

static unsigned char *corpus;
static size_t corpus_len;

/* Text-like data (words from a small vocabulary, some digits) and a random
 * tail, deterministic. */
static void
make_corpus(void)
{
	static const char *const words[] = {"edge", "cache", "origin", "the", "content", "coding",
	    "<div class=\"x\">", "</div>\n", "{\"id\": ", "}, ", "purge", "vary", "zstd", "br",
	    "gzip", "\n"};
	uint32_t x = 12345;

	corpus_len = 1u << 20;
	corpus = malloc(corpus_len);
	if (corpus == NULL)
		abort();
	for (size_t i = 0; i < corpus_len;) {
		const char *w;
		size_t n;

		x = x * 1103515245u + 12345u;
		if (i > corpus_len - 65536) { /* incompressible tail */
			corpus[i++] = (unsigned char)(x >> 16);
			continue;
		}
		w = words[(x >> 16) % (sizeof words / sizeof words[0])];
		n = strlen(w);
		if (n > corpus_len - i)
			n = corpus_len - i;
		memcpy(corpus + i, w, n);
		i += n;
		if (i < corpus_len)
			corpus[i++] =
			    (x >> 8) % 3 == 0 ? (unsigned char)('0' + (x >> 20) % 10) : ' ';
	}
}

static const enum coding stream_codings[] = {GZ, DF, BR, ZS};

static void
test_round_trips(void)
{
	static const size_t sizes[] = {0, 1, 100, 4096, 1u << 20};
	static const size_t chunks[] = {0, 1, 7, 1000, 65536};

	subtest("round trips, one piece and many small pieces");
	for (size_t ci = 0; ci < sizeof stream_codings / sizeof stream_codings[0]; ci++) {
		enum coding c = stream_codings[ci];
		int lo, hi;

		coding_level_range(c, &lo, &hi);
		for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
			int levels[] = {lo, -1, hi};

			for (size_t li = 0; li < 3; li++) {
				struct sink enc = {0}, one = {0};
				size_t len = sizes[si];
				char what[128];
				int rc;

				/* the slowest levels only on the smaller inputs */
				if (li == 2 && len > 4096)
					continue;
				rc = encode(c, levels[li], corpus, len, 0, &enc);
				snprintf(what, sizeof what,
				    "%s level %d, %zu bytes: encodes and decodes", coding_name(c),
				    levels[li], len);
				rc = rc != 0 ? rc : decode(c, NULL, enc.p, enc.len, 0, &one, NULL);
				ok(rc == 0 && one.len == len &&
				        (len == 0 || memcmp(one.p, corpus, len) == 0),
				    what);
				/* the coded bytes in small pieces decode the same */
				for (size_t k = 1; k < sizeof chunks / sizeof chunks[0]; k++) {
					struct sink d = {0};

					if (li != 1 || (chunks[k] == 1 && len > 4096))
						continue;
					rc = decode(c, NULL, enc.p, enc.len, chunks[k], &d, NULL);
					snprintf(what, sizeof what,
					    "%s %zu bytes decoded in pieces of %zu", coding_name(c),
					    len, chunks[k]);
					ok(rc == 0 && d.len == len &&
					        (len == 0 || memcmp(d.p, corpus, len) == 0),
					    what);
					ok(d.max_piece <= CODING_OUT_CHUNK, "pieces bounded");
					sink_free(&d);
				}
				/* input in small pieces encodes to a stream that decodes the same
				 */
				if (li == 1 && len > 0) {
					struct sink e2 = {0}, d2 = {0};
					size_t chunk = len > 4096 ? 1000 : 7;

					rc = encode(c, -1, corpus, len, chunk, &e2);
					rc = rc != 0 ? rc
					             : decode(c, NULL, e2.p, e2.len, 0, &d2, NULL);
					snprintf(what, sizeof what,
					    "%s %zu bytes encoded in pieces of %zu", coding_name(c),
					    len, chunk);
					ok(rc == 0 && d2.len == len &&
					        memcmp(d2.p, corpus, len) == 0,
					    what);
					sink_free(&e2);
					sink_free(&d2);
				}
				sink_free(&enc);
				sink_free(&one);
			}
		}
	}
}

/* A fetch filter gets coded bytes before the body ends, and each flush point
 * makes everything fed so far decodable. */
static void
test_streaming(void)
{
	subtest("output before the last input byte; flush points");
	for (size_t ci = 0; ci < sizeof stream_codings / sizeof stream_codings[0]; ci++) {
		enum coding c = stream_codings[ci];
		struct coding_enc_conf conf;
		struct coding_stream *enc, *dec;
		struct sink e = {0}, d = {0};
		size_t fed = 0, out_before_end;
		char what[128];
		int rc = 0;

		coding_enc_conf_defaults(&conf, c);
		conf.flush_bytes = 0; /* explicit flushes only */
		if (coding_encoder_new(c, &conf, &enc) != 0 ||
		    coding_decoder_new(c, NULL, &dec) != 0)
			abort();
		while (fed < 256 * 1024 && rc == 0) {
			size_t before = e.len;

			rc = coding_stream_update(enc, corpus + fed, 4096, sink_cb, &e);
			fed += 4096;
			if (rc == 0 && fed % 32768 == 0) {
				rc = coding_stream_flush(enc, sink_cb, &e);
				if (rc == 0)
					rc = coding_stream_update(
					    dec, e.p + before, e.len - before, sink_cb, &d);
				snprintf(what, sizeof what,
				    "%s: after a flush at %zu the decoder has all of it",
				    coding_name(c), fed);
				if (fed == 32768 || fed == 256 * 1024)
					ok(rc == 0 && d.len == fed && memcmp(d.p, corpus, fed) == 0,
					    what);
			} else if (rc == 0) {
				rc = coding_stream_update(
				    dec, e.p + before, e.len - before, sink_cb, &d);
			}
		}
		ok(rc == 0, "streaming runs");
		coding_stream_free(&enc);
		coding_stream_free(&dec);
		sink_free(&e);
		sink_free(&d);

		/* with the default flush_bytes, 1 MiB in 4 KiB pieces yields coded
		 * bytes long before the end */
		coding_enc_conf_defaults(&conf, c);
		if (coding_encoder_new(c, &conf, &enc) != 0)
			abort();
		for (fed = 0; fed < corpus_len && rc == 0; fed += 4096)
			rc = coding_stream_update(enc, corpus + fed, 4096, sink_cb, &e);
		out_before_end = e.len;
		rc = rc != 0 ? rc : coding_stream_finish(enc, sink_cb, &e);
		snprintf(what, sizeof what, "%s: %zu of %zu coded bytes out before finish",
		    coding_name(c), out_before_end, e.len);
		ok(rc == 0 && out_before_end > e.len / 2, what);
		ok(e.calls > 10, "output comes in many pieces");
		coding_stream_free(&enc);
		sink_free(&e);
	}
}

/* Input in tiny pieces (an origin's 1-byte chunks) codes about as small as
 * in one piece, at every level: brotli's fast levels used to grow 4-fold. */
static void
test_small_pieces(void)
{
	subtest("tiny input pieces do not inflate the output");
	for (size_t ci = 0; ci < sizeof stream_codings / sizeof stream_codings[0]; ci++) {
		enum coding c = stream_codings[ci];
		int lo, hi;

		coding_level_range(c, &lo, &hi);
		for (int level = lo; level <= (lo + 2 < hi ? lo + 2 : hi); level++) {
			struct sink one = {0}, tiny = {0}, d = {0};
			char what[128];
			int rc = encode(c, level, corpus, 20000, 0, &one);

			rc = rc != 0 ? rc : encode(c, level, corpus, 20000, 1, &tiny);
			rc = rc != 0 ? rc : decode(c, NULL, tiny.p, tiny.len, 0, &d, NULL);
			snprintf(what, sizeof what,
			    "%s level %d: 1-byte pieces %zu bytes, one piece %zu", coding_name(c),
			    level, tiny.len, one.len);
			ok(rc == 0 && tiny.len <= one.len + one.len / 10 + 64 && d.len == 20000 &&
			        memcmp(d.p, corpus, 20000) == 0,
			    what);
			sink_free(&one);
			sink_free(&tiny);
			sink_free(&d);
		}
	}
}

/* 10 MiB of zeros, coded in a few KiB, against a decoder with a 1 MiB limit. */
static void
test_bombs(void)
{
	size_t zlen = 10u << 20;
	unsigned char *zeros = calloc(1, zlen);

	subtest("decompression bombs");
	if (zeros == NULL)
		abort();
	for (size_t ci = 0; ci < sizeof stream_codings / sizeof stream_codings[0]; ci++) {
		enum coding c = stream_codings[ci];
		struct coding_dec_limits lim;
		struct sink e = {0}, d = {0};
		size_t peak = 0;
		char what[160];
		int rc;

		is_int(encode(c, -1, zeros, zlen, 0, &e), 0);
		snprintf(what, sizeof what, "%s: 10 MiB of zeros code to %zu bytes", coding_name(c),
		    e.len);
		ok(e.len < 64 * 1024, what);

		coding_dec_limits_defaults(&lim);
		lim.max_out = 1u << 20;
		lim.max_ratio = 0;
		rc = decode(c, &lim, e.p, e.len, 4096, &d, &peak);
		snprintf(what, sizeof what,
		    "%s: 1 MiB limit stops it (%zu bytes out, peak %zu bytes)", coding_name(c),
		    d.len, peak);
		ok(rc == -CODING_E_LIMIT && d.len <= lim.max_out, what);
		/* memory: the window's (zlib 32 KiB, zstd and brotli what the
		 * encoder declared), never the output's */
		ok(peak < (c == BR || c == ZS ? 9u << 20 : 256u << 10), "decoder memory bounded");
		sink_free(&d);

		/* the ratio limit alone */
		coding_dec_limits_defaults(&lim);
		lim.max_out = 0;
		lim.max_ratio = 100;
		lim.ratio_after = 256 * 1024;
		rc = decode(c, &lim, e.p, e.len, 0, &d, NULL);
		snprintf(what, sizeof what, "%s: ratio 100 stops it after %zu bytes",
		    coding_name(c), d.len);
		ok(rc == -CODING_E_RATIO && d.len <= 256 * 1024 + 100 * e.len + CODING_OUT_CHUNK,
		    what);
		sink_free(&d);

		/* the defaults (256 MiB, ratio 200 after 1 MiB) stop it too */
		rc = decode(c, NULL, e.p, e.len, 0, &d, NULL);
		ok(rc == -CODING_E_RATIO, "the default limits stop it");
		sink_free(&d);

		/* and a limit above the size lets it through */
		coding_dec_limits_defaults(&lim);
		lim.max_out = zlen;
		lim.max_ratio = 0;
		rc = decode(c, &lim, e.p, e.len, 0, &d, NULL);
		ok(rc == 0 && d.len == zlen, "a limit of exactly the size passes");
		sink_free(&d);
		sink_free(&e);
	}
	free(zeros);
}

/* Raw deflate (RFC 1951) as some servers send for "deflate". */
static size_t
raw_deflate(const unsigned char *in, size_t len, unsigned char *out, size_t cap)
{
	z_stream z;

	memset(&z, 0, sizeof z);
	if (deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		abort();
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END)
		abort();
	deflateEnd(&z);
	return cap - z.avail_out;
}

static void
test_bad_streams(void)
{
	static const unsigned char junk[] = "this is not coded data at all, not in any coding!";
	unsigned char raw[8192];
	size_t rawlen;

	subtest("corrupt, truncated and trailing data");
	for (size_t ci = 0; ci < sizeof stream_codings / sizeof stream_codings[0]; ci++) {
		enum coding c = stream_codings[ci];
		struct sink e = {0}, d = {0};
		unsigned char *buf;
		char what[128];
		int rc;

		rc = decode(c, NULL, junk, sizeof junk - 1, 0, &d, NULL);
		snprintf(what, sizeof what, "%s: junk is corrupt (%s)", coding_name(c),
		    coding_strerror(rc));
		ok(rc == -CODING_E_CORRUPT, what);
		sink_free(&d);

		is_int(encode(c, -1, corpus, 5000, 0, &e), 0);
		rc = decode(c, NULL, e.p, e.len - 3, 0, &d, NULL);
		snprintf(what, sizeof what, "%s: cut short is truncated (%s)", coding_name(c),
		    coding_strerror(rc));
		ok(rc == -CODING_E_TRUNCATED, what);
		sink_free(&d);
		rc = decode(c, NULL, e.p, 0, 0, &d, NULL);
		ok(rc == -CODING_E_TRUNCATED, "no input at all is truncated");
		sink_free(&d);

		buf = malloc(e.len + 4);
		memcpy(buf, e.p, e.len);
		memcpy(buf + e.len, "xyz!", 4);
		rc = decode(c, NULL, buf, e.len + 4, 0, &d, NULL);
		snprintf(what, sizeof what, "%s: bytes after the end are trailing (%s)",
		    coding_name(c), coding_strerror(rc));
		ok(rc == -CODING_E_TRAILING, what);
		sink_free(&d);
		/* the same, the trailing bytes in a later update */
		{
			struct coding_stream *st;

			if (coding_decoder_new(c, NULL, &st) != 0)
				abort();
			rc = coding_stream_update(st, buf, e.len, sink_cb, &d);
			ok(rc == 0, "whole stream accepted");
			rc = coding_stream_update(st, buf + e.len, 4, sink_cb, &d);
			ok(rc == -CODING_E_TRAILING, "trailing bytes in a later piece");
			is_int(coding_stream_finish(st, sink_cb, &d), -CODING_E_TRAILING);
			/* reset makes it usable again */
			coding_stream_reset(st);
			sink_free(&d);
			rc = coding_stream_update(st, e.p, e.len, sink_cb, &d);
			rc = rc != 0 ? rc : coding_stream_finish(st, sink_cb, &d);
			ok(rc == 0 && d.len == 5000 && memcmp(d.p, corpus, 5000) == 0,
			    "after reset it decodes again");
			ok(coding_stream_in(st) == e.len && coding_stream_out(st) == 5000,
			    "counters after reset");
			coding_stream_free(&st);
			ok(st == NULL, "free clears the pointer");
			coding_stream_free(&st);
		}
		free(buf);
		sink_free(&d);

		/* the callback stops the stream */
		d.stop_after = 100;
		rc = decode(c, NULL, e.p, e.len, 0, &d, NULL);
		ok(rc == -CODING_E_CALLBACK, "callback stop");
		sink_free(&d);
		sink_free(&e);
	}

	subtest("gzip members, zstd frames, raw deflate");
	{
		struct sink a = {0}, b = {0}, d = {0};
		unsigned char *cat;

		for (size_t k = 0; k < 2; k++) {
			enum coding c = k == 0 ? GZ : ZS;

			is_int(encode(c, -1, corpus, 3000, 0, &a), 0);
			is_int(encode(c, -1, corpus + 3000, 2000, 0, &b), 0);
			cat = malloc(a.len + b.len);
			memcpy(cat, a.p, a.len);
			memcpy(cat + a.len, b.p, b.len);
			is_int(decode(c, NULL, cat, a.len + b.len, 5, &d, NULL), 0);
			ok(d.len == 5000 && memcmp(d.p, corpus, 5000) == 0,
			    k == 0 ? "two gzip members decode as one body"
			           : "two zstd frames decode as one body");
			free(cat);
			sink_free(&a);
			sink_free(&b);
			sink_free(&d);
		}
		rawlen = raw_deflate(corpus, 5000, raw, sizeof raw);
		is_int(decode(DF, NULL, raw, rawlen, 0, &d, NULL), 0);
		ok(d.len == 5000 && memcmp(d.p, corpus, 5000) == 0, "raw deflate decodes");
		sink_free(&d);
		is_int(decode(DF, NULL, raw, rawlen, 1, &d, NULL), 0);
		ok(d.len == 5000 && memcmp(d.p, corpus, 5000) == 0,
		    "raw deflate byte by byte decodes");
		sink_free(&d);
	}
}

static void
test_new_errors(void)
{
	struct coding_enc_conf conf;
	struct coding_stream *st = (struct coding_stream *)1;

	subtest("creation errors and settings");
	is_int(coding_encoder_new(ID, NULL, &st), -CODING_E_UNSUPPORTED);
	ok(st == NULL, "no stream on error");
	is_int(coding_decoder_new(ID, NULL, &st), -CODING_E_UNSUPPORTED);
	is_int(coding_decoder_new((enum coding)42, NULL, &st), -CODING_E_UNSUPPORTED);
	coding_enc_conf_defaults(&conf, BR);
	conf.level = 12;
	is_int(coding_encoder_new(BR, &conf, &st), -CODING_E_INVALID);
	coding_enc_conf_defaults(&conf, ZS);
	conf.zstd_wlog = 24;
	is_int(coding_encoder_new(ZS, &conf, &st), -CODING_E_INVALID);
	coding_enc_conf_defaults(&conf, GZ);
	conf.level = 0;
	is_int(coding_encoder_new(GZ, &conf, &st), -CODING_E_INVALID);
	is_int(coding_level_default(BR), 5);
	is_int(coding_level_default(ZS), 3);
	is_int(coding_level_default(GZ), 6);
	is_str(coding_strerror(-CODING_E_LIMIT), "decoded size limit exceeded");
	is_str(coding_strerror(0), "success");
	is_str(coding_name(BR), "br");
	is_int(coding_from_name(STR_LIT("ZSTD")), ZS);
	is_int(coding_from_name(STR_LIT("x-gzip")), GZ);
	is_int(coding_from_name(STR_LIT("compress")), -1);

	/* an encoder refuses input after finish; reset reuses it */
	{
		struct sink a = {0}, b = {0};

		if (coding_encoder_new(BR, NULL, &st) != 0)
			abort();
		is_int(run_stream(st, corpus, 3000, 0, &a), 0);
		is_int(coding_stream_update(st, corpus, 1, sink_cb, &a), -CODING_E_INVALID);
		coding_stream_reset(st);
		is_int(run_stream(st, corpus, 3000, 0, &b), 0);
		ok(a.len == b.len && memcmp(a.p, b.p, a.len) == 0, "reset encoder repeats itself");
		coding_stream_free(&st);
		sink_free(&a);
		sink_free(&b);
	}
}

/* ---- policy ---- */

struct policy_case {
	int status;
	bool head, range;
	const char *ce, *cc, *ct;
	int64_t len;
	enum coding_decision want;
};

#define CT_HTML "text/html; charset=utf-8"

static const struct policy_case policy_cases[] = {
    {200, false, false, NULL, NULL, CT_HTML, 5000, CODING_COMPRESS},
    {200, false, false, NULL, NULL, CT_HTML, -1, CODING_COMPRESS},
    {203, false, false, NULL, NULL, CT_HTML, 5000, CODING_COMPRESS},
    {404, false, false, NULL, NULL, CT_HTML, 5000, CODING_COMPRESS},
    {410, false, false, NULL, NULL, CT_HTML, 5000, CODING_COMPRESS},
    {200, true, false, NULL, NULL, CT_HTML, 5000, CODING_SKIP_NO_BODY},
    {204, false, false, NULL, NULL, CT_HTML, 5000, CODING_SKIP_NO_BODY},
    {304, false, false, NULL, NULL, CT_HTML, 5000, CODING_SKIP_NO_BODY},
    {206, false, false, NULL, NULL, CT_HTML, 5000, CODING_SKIP_STATUS},
    {301, false, false, NULL, NULL, CT_HTML, 5000, CODING_SKIP_STATUS},
    {500, false, false, NULL, NULL, CT_HTML, 5000, CODING_SKIP_STATUS},
    {200, false, true, NULL, NULL, CT_HTML, 5000, CODING_SKIP_RANGE},
    {200, false, false, "gzip", NULL, CT_HTML, 5000, CODING_SKIP_ENCODED},
    {200, false, false, "br", NULL, CT_HTML, 5000, CODING_SKIP_ENCODED},
    {200, false, false, "identity", NULL, CT_HTML, 5000, CODING_COMPRESS},
    {200, false, false, " Identity ", NULL, CT_HTML, 5000, CODING_COMPRESS},
    {200, false, false, "", NULL, CT_HTML, 5000, CODING_COMPRESS},
    {200, false, false, NULL, "no-transform", CT_HTML, 5000, CODING_SKIP_NO_TRANSFORM},
    {200, false, false, NULL, "max-age=60, No-Transform", CT_HTML, 5000, CODING_SKIP_NO_TRANSFORM},
    {200, false, false, NULL, "max-age=60, public", CT_HTML, 5000, CODING_COMPRESS},
    {200, false, false, NULL, "no-transforms", CT_HTML, 5000, CODING_COMPRESS},
    {200, false, false, NULL, NULL, CT_HTML, 1023, CODING_SKIP_TOO_SMALL},
    {200, false, false, NULL, NULL, CT_HTML, 1024, CODING_COMPRESS},
    {200, false, false, NULL, NULL, CT_HTML, 0, CODING_SKIP_TOO_SMALL},
    {200, false, false, NULL, NULL, "image/png", 5000, CODING_SKIP_TYPE},
    {200, false, false, NULL, NULL, NULL, 5000, CODING_SKIP_TYPE},
    {200, false, false, NULL, NULL, "application/json", 5000, CODING_COMPRESS},
    {200, false, false, NULL, NULL, "application/octet-stream", 5000, CODING_SKIP_TYPE},
    /* order: the first reason wins */
    {206, true, true, "gzip", "no-transform", "image/png", 10, CODING_SKIP_NO_BODY},
    {200, false, true, "gzip", "no-transform", "image/png", 10, CODING_SKIP_RANGE},
    {200, false, false, "gzip", "no-transform", "image/png", 10, CODING_SKIP_ENCODED},
    {200, false, false, NULL, "no-transform", "image/png", 10, CODING_SKIP_NO_TRANSFORM},
    {200, false, false, NULL, NULL, "image/png", 10, CODING_SKIP_TOO_SMALL},
};

static struct str
opt(const char *s)
{
	return s != NULL ? str_cstr(s) : STR_NULL;
}

static void
test_policy(void)
{
	struct coding_conf conf;

	subtest("should compress");
	coding_conf_defaults(&conf);
	for (size_t i = 0; i < sizeof policy_cases / sizeof policy_cases[0]; i++) {
		const struct policy_case *c = &policy_cases[i];
		struct coding_resp r = {
		    c->status, c->head, c->range, opt(c->ce), opt(c->cc), opt(c->ct), c->len};
		enum coding_decision got = coding_should_compress(&conf, &r);
		char what[200];

		snprintf(what, sizeof what, "%d head=%d range=%d ce=%s cc=%s ct=%s len=%lld → %s",
		    c->status, c->head, c->range, c->ce ? c->ce : "-", c->cc ? c->cc : "-",
		    c->ct ? c->ct : "-", (long long)c->len, coding_decision_name(c->want));
		if (!ok(got == c->want, what))
			printf("#   got %s\n", coding_decision_name(got));
	}
	conf.enabled = false;
	{
		struct coding_resp r = {
		    200, false, false, STR_NULL, STR_NULL, STR_LIT("text/html"), 5000};

		is_int(coding_should_compress(&conf, &r), CODING_SKIP_DISABLED);
	}
	is_str(coding_decision_name(CODING_SKIP_NO_TRANSFORM), "no_transform");
	is_str(coding_decision_name(CODING_COMPRESS), "compress");
}

struct type_case {
	const char *ct;
	bool want;
};

static const struct type_case type_cases[] = {
    {"text/html", true},
    {"text/plain; charset=utf-8", true},
    {"TEXT/CSS", true},
    {"  text/javascript  ", true},
    {"application/json", true},
    {"Application/JSON;charset=UTF-8", true},
    {"application/javascript", true},
    {"application/xml", true},
    {"application/wasm", true},
    {"image/svg+xml", true},
    {"application/ld+json", true},
    {"application/problem+json", true},
    {"application/atom+xml", true},
    {"application/vnd.api+json; ext=x", true},
    {"image/png", false},
    {"image/jpeg", false},
    {"application/octet-stream", false},
    {"video/mp4", false},
    {"application/jsonx", false},
    {"application/+json", false}, /* a suffix needs a subtype before it */
    {"textual/html", false},
    {"text", false},
    {"text/", false},
    {"/html", false},
    {"", false},
};

static void
test_types(void)
{
	struct coding_conf conf;

	subtest("compressible types");
	coding_conf_defaults(&conf);
	for (size_t i = 0; i < sizeof type_cases / sizeof type_cases[0]; i++)
		ok(coding_type_compressible(&conf, str_cstr(type_cases[i].ct)) ==
		        type_cases[i].want,
		    type_cases[i].ct);
	ok(!coding_type_compressible(&conf, STR_NULL), "absent type");
	/* a configured list replaces the defaults */
	conf.n_types = 2;
	conf.types[0] = STR_LIT("image/*");
	conf.types[1] = STR_LIT("application/x-custom");
	ok(coding_type_compressible(&conf, STR_LIT("image/bmp")), "image/*");
	ok(coding_type_compressible(&conf, STR_LIT("application/x-custom")), "custom type");
	ok(!coding_type_compressible(&conf, STR_LIT("text/html")), "text/html not listed");
}

static void
test_etag_vary(void)
{
	static const struct {
		const char *in, *out; /* out NULL: invalid */
	} etags[] = {
	    {"\"abc\"", "W/\"abc\""},
	    {"W/\"abc\"", "W/\"abc\""},
	    {"  \"abc\" ", "W/\"abc\""},
	    {"\"\"", "W/\"\""},
	    {"abc", NULL},
	    {"\"abc", NULL},
	    {"w/\"abc\"", NULL},
	    {"W/abc", NULL},
	    {"\"a\"b\"", NULL},
	    {"\"a b\"", NULL},
	    {"", NULL},
	};
	static const struct {
		const char *in, *out;
	} varies[] = {
	    {NULL, "Accept-Encoding"},
	    {"", "Accept-Encoding"},
	    {" , ", "Accept-Encoding"},
	    {"Accept-Encoding", "Accept-Encoding"},
	    {"accept-encoding", "accept-encoding"},
	    {"Accept-Language", "Accept-Language, Accept-Encoding"},
	    {"Accept-Language, ACCEPT-ENCODING", "Accept-Language, ACCEPT-ENCODING"},
	    {" Origin ,Accept ", "Origin ,Accept, Accept-Encoding"},
	    {"*", "*"},
	    {"Origin, *", "Origin, *"},
	    {"Accept-Encodings", "Accept-Encodings, Accept-Encoding"},
	};
	char buf[64];
	struct str res;

	subtest("weak ETag");
	for (size_t i = 0; i < sizeof etags / sizeof etags[0]; i++) {
		int rc = coding_etag_weaken(str_cstr(etags[i].in), buf, sizeof buf, &res);

		if (etags[i].out == NULL) {
			ok(rc == -CODING_E_INVALID, etags[i].in);
		} else {
			ok(rc == 0 && str_eq(res, str_cstr(etags[i].out)), etags[i].in);
		}
	}
	is_int(coding_etag_weaken(STR_NULL, buf, sizeof buf, &res), -CODING_E_INVALID);
	is_int(coding_etag_weaken(STR_LIT("\"abc\""), buf, 6, &res), -CODING_E_SPACE);
	is_int(coding_etag_weaken(STR_LIT("\"abc\""), buf, 7, &res), 0);

	subtest("Vary merge");
	for (size_t i = 0; i < sizeof varies / sizeof varies[0]; i++) {
		int rc = coding_vary_merge(opt(varies[i].in), buf, sizeof buf, &res);

		ok(rc == 0 && str_eq(res, str_cstr(varies[i].out)),
		    varies[i].in ? varies[i].in : "(absent)");
	}
	is_int(coding_vary_merge(STR_LIT("Accept"), buf, 22, &res), -CODING_E_SPACE);
	is_int(coding_vary_merge(STR_LIT("Accept"), buf, 23, &res), 0);
}

static void
test_conf(void)
{
	static const struct {
		const char *in;
		const char *err; /* NULL: valid */
	} prefs[] = {
	    {"zstd, br, gzip", NULL},
	    {"gzip", NULL},
	    {" br ,gzip,deflate,zstd ", NULL},
	    {"", "empty coding list (expected codings such as \"zstd, br, gzip\")"},
	    {"  ", "empty coding list (expected codings such as \"zstd, br, gzip\")"},
	    {"br,,gzip", "empty element in the coding list \"br,,gzip\""},
	    {"br, gzip,", "empty element in the coding list \"br, gzip,\""},
	    {"br, lzma", "unknown coding \"lzma\" (expected zstd, br, gzip or deflate)"},
	    {"Br", "unknown coding \"Br\" (expected zstd, br, gzip or deflate)"},
	    {"x-gzip", "unknown coding \"x-gzip\" (expected zstd, br, gzip or deflate)"},
	    {"br, identity", "\"identity\" cannot be listed: it is always the fallback"},
	    {"br, gzip, br", "coding \"br\" listed twice"},
	};
	static const struct {
		enum coding c;
		const char *in;
		int want;
		const char *err;
	} levels[] = {
	    {BR, "0", 0, NULL},
	    {BR, "11", 11, NULL},
	    {BR, "12", 0, "br level 12 out of range 0..11"},
	    {ZS, "3", 3, NULL},
	    {ZS, "19", 19, NULL},
	    {ZS, "20", 0, "zstd level 20 out of range 1..19"},
	    {ZS, "-1", 0, "zstd level -1 out of range 1..19"},
	    {ZS, "0", 0, "zstd level 0 out of range 1..19"},
	    {GZ, "9", 9, NULL},
	    {GZ, "10", 0, "gzip level 10 out of range 1..9"},
	    {GZ, "six", 0, "gzip level \"six\" is not a whole number"},
	    {GZ, "", 0, "gzip level \"\" is not a whole number"},
	    {GZ, "99999999999999999999999", 0,
	        "gzip level \"99999999999999999999999\" is not a whole number"},
	    {ID, "1", 0, "no level for coding \"identity\""},
	};
	static const struct {
		const char *in;
		const char *err;
	} types[] = {
	    {"text/*", NULL},
	    {"application/json", NULL},
	    {" +json ", NULL},
	    {"image/svg+xml", NULL},
	    {"", "empty media type"},
	    {"Text/html", "media type \"Text/html\" must be lower-case"},
	    {"text/ html",
	        "media type \"text/ html\" has a character that is not allowed at byte 6"},
	    {"text", "media type \"text\" must be type/subtype, type/* or +suffix"},
	    {"text/", "media type \"text/\" must be type/subtype, type/* or +suffix"},
	    {"a/b/c", "media type \"a/b/c\" must be type/subtype, type/* or +suffix"},
	    {"*/*", "media type \"*/*\": the type cannot be *"},
	    {"text/h*", "media type \"text/h*\": * stands only for a whole subtype"},
	    {"+", "suffix \"+\" must be \"+\" and a token, as \"+json\""},
	    {"+a/b", "suffix \"+a/b\" must be \"+\" and a token, as \"+json\""},
	};
	struct coding_conf conf;
	struct coding_pref p;
	char err[160];
	struct str t;
	int lvl;

	subtest("settings and their validation");
	coding_conf_defaults(&conf);
	is_int(coding_conf_check(&conf, err, sizeof err), 0);
	ok(conf.enabled && conf.min_size == 1024, "enabled, 1 KiB");
	is_int(conf.pref.n, 3);
	ok(conf.pref.order[0] == ZS && conf.pref.order[1] == BR && conf.pref.order[2] == GZ,
	    "zstd, br, gzip");
	ok(conf.level[BR] == 5 && conf.level[ZS] == 3 && conf.level[GZ] == 6, "levels");
	for (size_t i = 0; i < sizeof prefs / sizeof prefs[0]; i++) {
		int rc = coding_conf_parse_pref(prefs[i].in, &p, err, sizeof err);

		if (prefs[i].err == NULL) {
			ok(rc == 0, prefs[i].in);
		} else {
			is_int(rc, -CODING_E_INVALID);
			is_str(err, prefs[i].err);
		}
	}
	is_int(coding_conf_parse_pref(" br ,gzip,deflate,zstd ", &p, err, sizeof err), 0);
	ok(p.n == 4 && p.order[0] == BR && p.order[1] == GZ && p.order[2] == DF && p.order[3] == ZS,
	    "list order kept");
	for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
		int rc;

		lvl = -100;
		rc = coding_conf_parse_level(levels[i].c, levels[i].in, &lvl, err, sizeof err);
		if (levels[i].err == NULL) {
			ok(rc == 0 && lvl == levels[i].want, levels[i].in);
		} else {
			is_int(rc, -CODING_E_INVALID);
			is_str(err, levels[i].err);
		}
	}
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		int rc = coding_conf_parse_type(types[i].in, &t, err, sizeof err);

		if (types[i].err == NULL) {
			ok(rc == 0 && t.len > 0 && t.p[0] != ' ', types[i].in);
		} else {
			is_int(rc, -CODING_E_INVALID);
			is_str(err, types[i].err);
		}
	}
	conf.level[BR] = 12;
	is_int(coding_conf_check(&conf, err, sizeof err), -CODING_E_INVALID);
	is_str(err, "br level 12 out of range 0..11");
	coding_conf_defaults(&conf);
	conf.types[1] = STR_LIT("Application/json");
	is_int(coding_conf_check(&conf, err, sizeof err), -CODING_E_INVALID);
	is_str(err, "media type \"Application/json\" must be lower-case");
	coding_conf_defaults(&conf);
	conf.pref.n = 0;
	is_int(coding_conf_check(&conf, err, sizeof err), -CODING_E_INVALID);
	is_str(err, "the coding list must name 1 to 4 codings");
	coding_conf_defaults(&conf);
	conf.limits.max_ratio = 1;
	is_int(coding_conf_check(&conf, err, sizeof err), -CODING_E_INVALID);
	is_str(err, "decoded expansion ratio limit 1 is below 2");
	/* a short error buffer is cut, still terminated */
	is_int(coding_conf_parse_pref("br, lzma", &p, err, 8), -CODING_E_INVALID);
	is_str(err, "unknown");
}

int
main(void)
{
	struct coding_conf conf;

	coding_conf_defaults(&conf);
	pref_default = conf.pref;
	make_corpus();
	test_pick();
	test_accept_misc();
	test_accept_media();
	test_key();
	test_round_trips();
	test_streaming();
	test_small_pieces();
	test_bombs();
	test_bad_streams();
	test_new_errors();
	test_policy();
	test_types();
	test_etag_vary();
	test_conf();
	free(corpus);
	return tap_done();
}
