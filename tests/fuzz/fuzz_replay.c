/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/fuzz/fuzz_replay.c — main() for fuzz targets in builds without
 * libFuzzer: runs LLVMFuzzerTestOneInput on every file of the seed corpus
 * (FUZZ_CORPUS_DIR, compiled in) or on the files and directories given as
 * arguments, in name order, and prints TAP.  An invariant violation aborts,
 * which the TAP driver reports as a failure.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/fuzz/fuzz.h"

#ifndef FUZZ_CORPUS_DIR
#error "FUZZ_CORPUS_DIR must name the seed corpus directory"
#endif

static int n_tests;
static int n_failed;

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
run_file(const char *path, const char *label)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data = NULL;
	size_t len = 0, cap = 0, n;

	n_tests++;
	if (f == NULL) {
		printf("not ok %d - %s: %s\n", n_tests, label, strerror(errno));
		n_failed++;
		return;
	}
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 4096;
			data = realloc(data, cap);
			if (data == NULL)
				abort();
		}
		n = fread(data + len, 1, cap - len, f);
		if (n == 0)
			break;
		len += n;
	}
	fclose(f);
	/* An exact-size copy, as libFuzzer passes it, so ASan sees overreads. */
	{
		uint8_t *exact = malloc(len ? len : 1);

		if (exact == NULL)
			abort();
		if (len)
			memcpy(exact, data, len);
		free(data);
		fflush(stdout);
		LLVMFuzzerTestOneInput(exact, len);
		free(exact);
	}
	printf("ok %d - %s\n", n_tests, label);
}

static void
run_path(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;

	if (stat(path, &st) == -1) {
		printf("not ok %d - %s: %s\n", ++n_tests, path, strerror(errno));
		n_failed++;
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		run_file(path, path);
		return;
	}
	d = opendir(path);
	if (d == NULL) {
		printf("not ok %d - %s: %s\n", ++n_tests, path, strerror(errno));
		n_failed++;
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			names = realloc(names, cap * sizeof *names);
			if (names == NULL)
				abort();
		}
		names[n] = strdup(de->d_name);
		if (names[n] == NULL)
			abort();
		n++;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof *names, cmp_names);
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(path) + strlen(names[i]) + 2;
		char *full = malloc(len);

		if (full == NULL)
			abort();
		snprintf(full, len, "%s/%s", path, names[i]);
		if (stat(full, &st) == 0 && S_ISREG(st.st_mode))
			run_file(full, names[i]);
		free(full);
		free(names[i]);
	}
	free(names);
}

int
main(int argc, char **argv)
{
	if (argc > 1)
		for (int i = 1; i < argc; i++)
			run_path(argv[i]);
	else
		run_path(FUZZ_CORPUS_DIR);
	if (n_tests == 0)
		printf("not ok %d - no corpus files found\n", ++n_tests), n_failed++;
	printf("1..%d\n", n_tests);
	return n_failed ? 1 : 0;
}
