/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edge/edge_privdrop.h — started as root, the daemon does what needs root
 * (binds the listeners, opens the disk tier and the access log, reads every
 * key) and then runs as node.user / node.group with no capability left.
 *
 * A reload reads the configuration and its key files again: a small helper
 * process, forked before anything else and still root, opens them and hands
 * the descriptors over (config/config_file.h), and only for the files the
 * configuration file names.
 */
#ifndef OUTPOST_EDGE_EDGE_PRIVDROP_H
#define OUTPOST_EDGE_EDGE_PRIVDROP_H

struct config;
struct edge_privdrop; /* opaque */

/*
 * Decides from cfg (node.user, node.group) and the user the process runs as
 * whether to switch: as root, to node.user (default "outpost"; "root" stays
 * root); otherwise only to itself.  0 and *out (NULL: no switch), or -1
 * (logged).  When it will switch it forks the helper, so call it first, on
 * the main thread, before any other thread or descriptor exists.
 */
int edge_privdrop_prepare(const struct config *cfg, const char *path, struct edge_privdrop **out);

/* Gives the directory path and the files in it to the user switched to (the
 * disk tier).  0, or -1 (logged).  pd NULL: nothing to do. */
int edge_privdrop_chown_dir(const struct edge_privdrop *pd, const char *path);

/* The same for an open file (the access log). */
int edge_privdrop_chown_fd(const struct edge_privdrop *pd, int fd, const char *path);

/*
 * Switches: supplementary groups (initgroups), group, user — glibc applies
 * each to every thread of the process — then checks that no capability is
 * left and root cannot be taken back, and installs the helper as the opener
 * of config_file_open.  0, or -1 (logged: the daemon must stop).  Main
 * thread, before the workers start.  pd NULL: nothing to do.
 */
int edge_privdrop_apply(struct edge_privdrop *pd);

/* Asks the helper (still root) to start the binary again for an upgrade
 * (edge_upgrade.h) with fd, its end of the handover socket pair.  0, or
 * -errno (logged).  Main thread. */
int edge_privdrop_upgrade(struct edge_privdrop *pd, int fd);

/* Ends the helper and frees pd; sets *pdp = NULL; NULL-safe.  After the
 * workers have stopped (nothing reads through the helper any more). */
void edge_privdrop_free(struct edge_privdrop **pdp);

#endif
