/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * config/config_parse.h — what the YAML loader (config_parse.c) needs from the
 * snapshot code (config.c).  Internal to config/.
 */
#ifndef OUTPOST_CONFIG_CONFIG_PARSE_H
#define OUTPOST_CONFIG_CONFIG_PARSE_H

#include "config/config.h"

/* A new, empty snapshot with every default set and one reference. */
struct config *config_parse_new(void);
/* Frees a snapshot that was never published (any refcount).  NULL-safe. */
void config_parse_free(struct config *c);
/* Free a site's or route's access and rate_limit; set *p = NULL; NULL-safe. */
void config_access_free(struct config_access **ap);
/* Drop a holder of a signed_url / jwt; the last frees.  NULL-safe. */
void config_signed_url_unref(struct config_signed_url **sp);
void config_jwt_unref(struct config_jwt **jp);
void config_rate_limit_free(struct config_rate_limit **rp);
/*
 * Finishes a valid snapshot: sorts each site's routes longest first and builds
 * the host index.  Hosts must already be lower-case and unique.
 */
void config_parse_index(struct config *c);

#endif
