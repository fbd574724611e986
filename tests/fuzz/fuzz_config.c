/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/fuzz/fuzz_config.c — the YAML configuration loader (config_load:
 * libyaml events, every key's parser and the checks across keys).
 *
 * The input is the configuration file, in a memfd named by its /proc path.
 * The opener (config_file_set_opener) opens that file only: every other file
 * the input names (certificates, keys, CA files, token files) fails as
 * unreadable, so a run reads nothing else through it.  Checked: a load that
 * succeeds gives a snapshot and no error; one that fails gives no snapshot
 * and at least one error line, each "FILE:LINE:COLUMN: " with FILE the path
 * loaded and LINE, COLUMN positive numbers, or a line naming the file alone.
 */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config/config.h"
#include "config/config_file.h"
#include "core/assert.h"
#include "tests/fuzz/fuzz.h"

static char conf_path[64];

static int
open_conf_only(const char *path, void *arg)
{
	int fd;

	(void)arg;
	if (strcmp(path, conf_path) != 0)
		return -EACCES;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd >= 0 ? fd : -errno;
}

/* One error line: "<conf_path>:L:C: ..." with L, C > 0, or "<conf_path>: ...". */
static void
check_error_line(const char *ln, size_t len)
{
	size_t pl = strlen(conf_path), i;
	unsigned long v;

	ASSERT(len > pl && memcmp(ln, conf_path, pl) == 0 && ln[pl] == ':');
	i = pl + 1;
	if (i < len && ln[i] == ' ')
		return;
	for (int k = 0; k < 2; k++) {
		v = 0;
		ASSERT(i < len && ln[i] >= '0' && ln[i] <= '9');
		while (i < len && ln[i] >= '0' && ln[i] <= '9')
			v = v * 10 + (unsigned long)(ln[i++] - '0');
		ASSERT(v > 0 && i < len && ln[i] == ':');
		i++;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	struct config *c = NULL;
	char *errs = NULL;
	size_t errs_len = 0;
	FILE *ef;
	int rc;

	if (fd < 0) {
		fd = memfd_create("fuzz-config", MFD_CLOEXEC);
		ASSERT(fd >= 0);
		snprintf(conf_path, sizeof conf_path, "/proc/self/fd/%d", fd);
		config_file_set_opener(open_conf_only, NULL);
	}
	ASSERT(ftruncate(fd, 0) == 0);
	ASSERT(pwrite(fd, data, size, 0) == (ssize_t)size);
	ef = open_memstream(&errs, &errs_len);
	ASSERT(ef != NULL);
	rc = config_load(conf_path, &c, ef);
	fclose(ef);
	if (rc == 0) {
		ASSERT(c != NULL);
		config_unref(&c);
	} else {
		ASSERT(rc == -1 && c == NULL);
		ASSERT(errs_len > 0);
		for (const char *p = errs, *e; p < errs + errs_len; p = e + 1) {
			e = memchr(p, '\n', errs_len - (size_t)(p - errs));
			ASSERT(e != NULL); /* every line ends */
			check_error_line(p, (size_t)(e - p));
		}
	}
	free(errs);
	return 0;
}
