/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * config/config_file.c — see config_file.h.  One opener for the process,
 * set on the main thread before the workers (which read these files on a
 * reload) start, and only read after.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <yaml.h>

#include "config/config_file.h"

static config_file_open_cb *file_open_cb;
static void *file_open_arg;

void
config_file_set_opener(config_file_open_cb *cb, void *arg)
{
	file_open_cb = cb;
	file_open_arg = arg;
}

int
config_file_open(const char *path)
{
	int fd;

	if (file_open_cb == NULL)
		return open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	fd = file_open_cb(path, file_open_arg);
	if (fd < 0) {
		errno = -fd;
		return -1;
	}
	return fd;
}

FILE *
config_file_fopen(const char *path)
{
	int fd = config_file_open(path);
	FILE *f;
	int e;

	if (fd == -1)
		return NULL;
	if ((f = fdopen(fd, "r")) == NULL) {
		e = errno;
		close(fd);
		errno = e;
	}
	return f;
}

int
config_file_names(const char *conf, const char *path)
{
	yaml_parser_t yp;
	yaml_event_t ev;
	size_t plen = strlen(path);
	int found = 0, done = 0;
	FILE *f;

	if (strcmp(conf, path) == 0)
		return 1;
	if ((f = fopen(conf, "r")) == NULL)
		return -errno;
	if (yaml_parser_initialize(&yp) == 0) {
		fclose(f);
		return -ENOMEM;
	}
	yaml_parser_set_input_file(&yp, f);
	/* a syntax error ends the scan: what was read so far counts */
	while (!found && !done && yaml_parser_parse(&yp, &ev) == 1) {
		found = ev.type == YAML_SCALAR_EVENT && ev.data.scalar.length == plen &&
		        memcmp(ev.data.scalar.value, path, plen) == 0;
		done = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&yp);
	fclose(f);
	return found;
}
