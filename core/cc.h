/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * core/cc.h — Cache-Control field parsing (RFC 9111 §5.2, RFC 9110 §5.6).
 *
 * Directive names are case-insensitive; arguments may be tokens or
 * quoted-strings; unknown directives are ignored; several Cache-Control lines
 * accumulate (call cc_parse once per field line).  A directive given twice
 * keeps its first occurrence (RFC 9111 §4.2.1).  An invalid delta-seconds on max-age or s-maxage
 * (RFC 9111 §4.2.1: "a cache SHOULD consider a response with an invalid ... as stale") sets the
 * value to 0. Values beyond 2^31 clamp to 2147483648 (RFC 9111 §1.2.2).
 */
#ifndef OUTPOST_CORE_CC_H
#define OUTPOST_CORE_CC_H

#include <stdbool.h>
#include <stdint.h>

#include "core/str.h"

enum cc_flag {
	CC_NO_STORE = 1u << 0,
	CC_NO_CACHE = 1u << 1, /* without field names */
	CC_PRIVATE = 1u << 2,  /* without field names */
	CC_PUBLIC = 1u << 3,
	CC_MUST_REVALIDATE = 1u << 4,
	CC_PROXY_REVALIDATE = 1u << 5,
	CC_NO_TRANSFORM = 1u << 6,
	CC_ONLY_IF_CACHED = 1u << 7,
	CC_MUST_UNDERSTAND = 1u << 8,
	CC_IMMUTABLE = 1u << 9,
	CC_MAX_STALE_ANY = 1u << 10,   /* max-stale without a value */
	CC_NO_CACHE_FIELDS = 1u << 11, /* no-cache="field,..." */
	CC_PRIVATE_FIELDS = 1u << 12,  /* private="field,..." */
};

#define CC_UNSET (-1)

struct cc {
	unsigned flags;
	int64_t max_age; /* CC_UNSET when absent */
	int64_t s_maxage;
	int64_t max_stale;
	int64_t min_fresh;
	int64_t stale_while_revalidate;
	int64_t stale_if_error;
};

void cc_init(struct cc *cc);
/* Adds the directives of one Cache-Control field value.  Never fails. */
void cc_parse(struct str value, struct cc *cc);
/*
 * Adds the directives of one CDN-Cache-Control field line (RFC 9213): a
 * Structured Field Dictionary (RFC 8941 §3.2: lower-case keys, Integer
 * values, parameters allowed and ignored).  A later member replaces an
 * earlier one; a directive whose value has the wrong type (max-age="5") is
 * dropped.  Returns the number of members, or -1 if the line is not a valid
 * Dictionary — RFC 9213 §2.1: the caller then ignores the whole field.
 */
int cc_parse_sf(struct str value, struct cc *cc);

#endif
