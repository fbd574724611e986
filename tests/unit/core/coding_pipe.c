/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/core/coding_pipe.c — stdin through one coding stream to stdout,
 * for the round trips against Debian's brotli, zstd and gzip tools
 * (tests/unit/core/test_coding_tools.py).
 *
 *   coding_pipe encode|decode CODING [-l LEVEL] [-c CHUNK] [-f FLUSH] [-m MAX_OUT] [-r RATIO]
 *
 * Reads stdin in pieces of CHUNK bytes (default 4096) and feeds each to the
 * stream.  Exit status: 0, 2 on a usage or I/O error, 10 + the coding error
 * (core/coding.h) when the stream fails, its text on stderr.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/coding.h"

static int
pipe_out(void *arg, const void *p, size_t len)
{
	(void)arg;
	return fwrite(p, 1, len, stdout) == len ? 0 : -1;
}

static int
pipe_usage(void)
{
	fprintf(stderr, "usage: coding_pipe encode|decode CODING [-l LEVEL] [-c CHUNK] "
	                "[-f FLUSH] [-m MAX_OUT] [-r RATIO]\n");
	return 2;
}

int
main(int argc, char **argv)
{
	struct coding_enc_conf enc;
	struct coding_dec_limits lim;
	struct coding_stream *st;
	size_t chunk = 4096;
	unsigned char *buf;
	bool encode;
	int c, rc, opt;

	if (argc < 3 || (strcmp(argv[1], "encode") != 0 && strcmp(argv[1], "decode") != 0))
		return pipe_usage();
	encode = strcmp(argv[1], "encode") == 0;
	c = coding_from_name(str_cstr(argv[2]));
	if (c < 0)
		return pipe_usage();
	coding_enc_conf_defaults(&enc, (enum coding)c);
	coding_dec_limits_defaults(&lim);
	optind = 3;
	while ((opt = getopt(argc, argv, "l:c:f:m:r:")) != -1) {
		switch (opt) {
		case 'l':
			enc.level = atoi(optarg);
			break;
		case 'c':
			chunk = strtoul(optarg, NULL, 10);
			break;
		case 'f':
			enc.flush_bytes = strtoul(optarg, NULL, 10);
			break;
		case 'm':
			lim.max_out = strtoull(optarg, NULL, 10);
			break;
		case 'r':
			lim.max_ratio = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		default:
			return pipe_usage();
		}
	}
	if (chunk == 0 || (buf = malloc(chunk)) == NULL)
		return pipe_usage();
	rc = encode ? coding_encoder_new((enum coding)c, &enc, &st)
	            : coding_decoder_new((enum coding)c, &lim, &st);
	while (rc == 0) {
		size_t n = fread(buf, 1, chunk, stdin);

		if (n > 0)
			rc = coding_stream_update(st, buf, n, pipe_out, NULL);
		if (n < chunk) {
			if (ferror(stdin)) {
				perror("coding_pipe: stdin");
				return 2;
			}
			break;
		}
	}
	if (rc == 0)
		rc = coding_stream_finish(st, pipe_out, NULL);
	coding_stream_free(&st);
	free(buf);
	if (fflush(stdout) != 0) {
		perror("coding_pipe: stdout");
		return 2;
	}
	if (rc != 0) {
		fprintf(stderr, "coding_pipe: %s %s: %s\n", argv[1], argv[2], coding_strerror(rc));
		return 10 - rc;
	}
	return 0;
}
