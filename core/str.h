/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * core/str.h — non-owning string views and the small helpers the HTTP code needs.
 *
 * A struct str never owns its bytes (h2o iovec, HAProxy ist); it is valid as long
 * as the buffer it points into.
 */
#ifndef OUTPOST_CORE_STR_H
#define OUTPOST_CORE_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct str {
	const char *p;
	size_t len;
};

#define STR_LIT(s) ((struct str){(s), sizeof(s) - 1})
#define STR_NULL   ((struct str){NULL, 0})

static inline struct str
str_make(const char *p, size_t len)
{
	return (struct str){p, len};
}

static inline struct str
str_cstr(const char *s)
{
	return (struct str){s, strlen(s)};
}

static inline bool
str_eq(struct str a, struct str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* ASCII case-insensitive comparison (header names, tokens, host names). */
bool str_eq_nocase(struct str a, struct str b);
/* True when a starts with prefix (case-sensitive). */
bool str_has_prefix(struct str a, struct str prefix);
/* Leading and trailing SP / HTAB removed. */
struct str str_trim_ows(struct str s);
/* Parses a non-negative decimal without sign or spaces; 0 on success, -1 on any
 * other byte, empty input or overflow past UINT64_MAX. */
int str_to_u64(struct str s, uint64_t *out);
/* Copies s into dst (size dstlen, NUL-terminated); -1 if it does not fit. */
int str_copy(struct str s, char *dst, size_t dstlen);

/* Comma-separated list iteration (RFC 9110 §5.6.1): yields each non-empty
 * element with OWS trimmed.  Start with *pos = 0; returns false at the end. */
bool str_list_next(struct str list, size_t *pos, struct str *elem);

/* RFC 9110 tchar. */
extern const unsigned char str_tchar[256];
static inline bool
str_is_tchar(unsigned char c)
{
	return str_tchar[c] != 0;
}

static inline unsigned char
str_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

#endif
