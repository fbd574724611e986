/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tools/bench/micro_coding.c — what compression costs a request: per coding
 * and level, encode and decode speed (MiB/s of identity bytes, wall clock),
 * CPU milliseconds per MiB, the ratio and the stream's peak memory; and the
 * nanoseconds an Accept-Encoding parse + pick takes.  Not run by make check.
 *
 *   micro_coding [-s SECONDS] [-b BR_LGWIN] [-z ZSTD_WLOG] FILE...
 *
 * The corpus is the files given, concatenated (e.g. the repository's
 * README.md and doc/ files, or text from /usr/share/doc); each measurement
 * repeats whole passes over it for at least SECONDS (default 0.5).  Input goes
 * in 16 KiB pieces, as a fetch filter receives it.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/coding.h"

struct bench_buf {
	unsigned char *p;
	size_t len, cap;
};

static int
bench_sink(void *arg, const void *p, size_t len)
{
	struct bench_buf *b = arg;

	if (b->len + len > b->cap) {
		b->cap = (b->len + len) * 2;
		b->p = realloc(b->p, b->cap);
		if (b->p == NULL)
			abort();
	}
	memcpy(b->p + b->len, p, len);
	b->len += len;
	return 0;
}

static int
bench_count(void *arg, const void *p, size_t len)
{
	(void)p;
	*(size_t *)arg += len;
	return 0;
}

static double
bench_now(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
bench_read(const char *path, struct bench_buf *b)
{
	FILE *f = fopen(path, "rb");
	unsigned char tmp[65536];
	size_t n;

	if (f == NULL) {
		perror(path);
		exit(2);
	}
	while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
		bench_sink(b, tmp, n);
	fclose(f);
}

/* One pass of in through st (16 KiB pieces) into cb; returns the error. */
static int
bench_pass(
    struct coding_stream *st, const unsigned char *in, size_t len, coding_out_cb cb, void *arg)
{
	int rc = 0;

	coding_stream_reset(st);
	for (size_t off = 0; off < len && rc == 0; off += 16384)
		rc = coding_stream_update(
		    st, in + off, len - off < 16384 ? len - off : 16384, cb, arg);
	return rc != 0 ? rc : coding_stream_finish(st, cb, arg);
}

struct bench_res {
	double mib_s, cpu_ms_per_mib;
};

static struct bench_res
bench_time(
    struct coding_stream *st, const unsigned char *in, size_t len, size_t ident_len, double min_s)
{
	double w0 = bench_now(CLOCK_MONOTONIC), c0 = bench_now(CLOCK_PROCESS_CPUTIME_ID), w, c;
	unsigned passes = 0;
	size_t sink = 0;
	struct bench_res r;

	do {
		if (bench_pass(st, in, len, bench_count, &sink) != 0) {
			fprintf(stderr, "micro_coding: a pass failed\n");
			exit(1);
		}
		passes++;
		w = bench_now(CLOCK_MONOTONIC) - w0;
	} while (w < min_s);
	c = bench_now(CLOCK_PROCESS_CPUTIME_ID) - c0;
	r.mib_s = (double)ident_len * passes / (1 << 20) / w;
	r.cpu_ms_per_mib = c * 1000 / ((double)ident_len * passes / (1 << 20));
	return r;
}

static void
bench_negotiation(double min_s)
{
	static const char *const fields[] = {
	    "gzip, deflate, br, zstd",
	    "gzip, deflate, br",
	    "br;q=1.0, gzip;q=0.8, *;q=0.1",
	    "identity",
	};
	struct coding_conf conf;
	volatile int sink = 0;

	coding_conf_defaults(&conf);
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		struct str v = str_cstr(fields[i]);
		double t0 = bench_now(CLOCK_MONOTONIC), t;
		unsigned long n = 0;

		do {
			for (int k = 0; k < 10000; k++) {
				struct coding_accept a;

				coding_accept_init(&a);
				coding_accept_parse(v, &a);
				sink += coding_accept_pick(&a, &conf.pref, ~0u);
			}
			n += 10000;
			t = bench_now(CLOCK_MONOTONIC) - t0;
		} while (t < min_s);
		printf("negotiation  %-32s %6.1f ns per parse + pick\n", fields[i], t * 1e9 / n);
	}
	(void)sink;
}

int
main(int argc, char **argv)
{
	static const struct {
		enum coding c;
		int level;
	} runs[] = {
	    {CODING_GZIP, 1},
	    {CODING_GZIP, 6},
	    {CODING_GZIP, 9},
	    {CODING_BR, 1},
	    {CODING_BR, 4},
	    {CODING_BR, 5},
	    {CODING_BR, 6},
	    {CODING_BR, 9},
	    {CODING_BR, 11},
	    {CODING_ZSTD, 1},
	    {CODING_ZSTD, 3},
	    {CODING_ZSTD, 6},
	    {CODING_ZSTD, 12},
	    {CODING_ZSTD, 19},
	};
	struct bench_buf corpus = {0};
	double min_s = 0.5;
	unsigned br_lgwin = 0, zstd_wlog = 0;
	int opt;

	while ((opt = getopt(argc, argv, "s:b:z:")) != -1) {
		if (opt == 's')
			min_s = atof(optarg);
		else if (opt == 'b')
			br_lgwin = (unsigned)atoi(optarg);
		else if (opt == 'z')
			zstd_wlog = (unsigned)atoi(optarg);
		else
			optind = argc; /* usage */
	}
	if (optind >= argc) {
		fprintf(stderr, "usage: micro_coding [-s SECONDS] [-b BR_LGWIN] [-z ZSTD_WLOG] "
		                "FILE...\n");
		return 2;
	}
	for (int i = optind; i < argc; i++)
		bench_read(argv[i], &corpus);
	printf("corpus: %zu bytes from %d files, input in 16 KiB pieces, br lgwin %u, zstd "
	       "windowLog at most %u\n",
	    corpus.len, argc - optind, br_lgwin ? br_lgwin : CODING_BR_LGWIN_DEFAULT,
	    zstd_wlog ? zstd_wlog : CODING_ZSTD_WLOG_DEFAULT);
	printf("%-5s %5s %7s %9s %9s %9s %9s %9s %9s\n", "coding", "level", "ratio", "enc MiB/s",
	    "enc ms/MiB", "dec MiB/s", "dec ms/MiB", "enc mem", "dec mem");
	for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
		struct coding_enc_conf ec;
		struct coding_stream *enc, *dec;
		struct bench_buf coded = {0};
		struct bench_res er, dr;

		coding_enc_conf_defaults(&ec, runs[i].c);
		ec.level = runs[i].level;
		if (br_lgwin != 0)
			ec.br_lgwin = br_lgwin;
		if (zstd_wlog != 0)
			ec.zstd_wlog = zstd_wlog;
		if (coding_encoder_new(runs[i].c, &ec, &enc) != 0 ||
		    coding_decoder_new(runs[i].c, NULL, &dec) != 0) {
			fprintf(stderr, "micro_coding: cannot make streams\n");
			return 1;
		}
		if (bench_pass(enc, corpus.p, corpus.len, bench_sink, &coded) != 0)
			return 1;
		er = bench_time(enc, corpus.p, corpus.len, corpus.len, min_s);
		dr = bench_time(dec, coded.p, coded.len, corpus.len, min_s);
		printf("%-6s %5d %7.2f %9.1f %10.2f %9.1f %10.2f %8zuK %8zuK\n",
		    coding_name(runs[i].c), runs[i].level, (double)corpus.len / (double)coded.len,
		    er.mib_s, er.cpu_ms_per_mib, dr.mib_s, dr.cpu_ms_per_mib,
		    coding_stream_mem_peak(enc) >> 10, coding_stream_mem_peak(dec) >> 10);
		coding_stream_free(&enc);
		coding_stream_free(&dec);
		free(coded.p);
	}
	bench_negotiation(min_s);
	free(corpus.p);
	return 0;
}
