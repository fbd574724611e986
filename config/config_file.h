/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * config/config_file.h — how the configuration file and the files it names
 * (certificates, keys, OCSP responses, ticket keys) are opened for reading.
 *
 * Plain open(2) by default.  Once the daemon has dropped its privileges
 * (edge/edge_privdrop.c) it installs an opener that asks a helper process,
 * still root, for the descriptor, so a reload reads key files only root may
 * read.  Every reader of those files goes through config_file_open.
 */
#ifndef OUTPOST_CONFIG_CONFIG_FILE_H
#define OUTPOST_CONFIG_CONFIG_FILE_H

#include <stdio.h>

/* Opens path for reading: a descriptor (O_CLOEXEC), or -errno. */
typedef int config_file_open_cb(const char *path, void *arg);

/* Installs cb (NULL: plain open again).  Main thread, before the workers
 * start: readers on other threads see it through the thread creation. */
void config_file_set_opener(config_file_open_cb *cb, void *arg);

/* A descriptor open for reading on path (O_CLOEXEC), or -1 with errno set.
 * Any thread. */
int config_file_open(const char *path);

/* The same as a FILE * (the caller fcloses it), or NULL with errno set. */
FILE *config_file_fopen(const char *path);

/*
 * 1 when the YAML file conf holds path as a scalar (the helper of
 * edge/edge_privdrop.c opens only the files the configuration names, and the
 * configuration file itself), 0 when it does not, -errno when conf cannot be
 * read.  Reads conf with plain open(2), not through the opener.
 */
int config_file_names(const char *conf, const char *path);

#endif
