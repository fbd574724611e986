/* SPDX-License-Identifier: BSD-2-Clause */
/* core/str.c — string views: comparison, trimming, numbers, list elements. */
#include "config.h"

#include "core/str.h"

#define T(c) [(unsigned char)(c)] = 1
const unsigned char str_tchar[256] = {
    T('!'),
    T('#'),
    T('$'),
    T('%'),
    T('&'),
    T('\''),
    T('*'),
    T('+'),
    T('-'),
    T('.'),
    T('^'),
    T('_'),
    T('`'),
    T('|'),
    T('~'),
    T('0'),
    T('1'),
    T('2'),
    T('3'),
    T('4'),
    T('5'),
    T('6'),
    T('7'),
    T('8'),
    T('9'),
    T('a'),
    T('b'),
    T('c'),
    T('d'),
    T('e'),
    T('f'),
    T('g'),
    T('h'),
    T('i'),
    T('j'),
    T('k'),
    T('l'),
    T('m'),
    T('n'),
    T('o'),
    T('p'),
    T('q'),
    T('r'),
    T('s'),
    T('t'),
    T('u'),
    T('v'),
    T('w'),
    T('x'),
    T('y'),
    T('z'),
    T('A'),
    T('B'),
    T('C'),
    T('D'),
    T('E'),
    T('F'),
    T('G'),
    T('H'),
    T('I'),
    T('J'),
    T('K'),
    T('L'),
    T('M'),
    T('N'),
    T('O'),
    T('P'),
    T('Q'),
    T('R'),
    T('S'),
    T('T'),
    T('U'),
    T('V'),
    T('W'),
    T('X'),
    T('Y'),
    T('Z'),
};
#undef T

bool
str_eq_nocase(struct str a, struct str b)
{
	if (a.len != b.len)
		return false;
	for (size_t i = 0; i < a.len; i++)
		if (str_lower((unsigned char)a.p[i]) != str_lower((unsigned char)b.p[i]))
			return false;
	return true;
}

bool
str_has_prefix(struct str a, struct str prefix)
{
	return a.len >= prefix.len && (prefix.len == 0 || memcmp(a.p, prefix.p, prefix.len) == 0);
}

struct str
str_trim_ows(struct str s)
{
	while (s.len > 0 && (s.p[0] == ' ' || s.p[0] == '\t')) {
		s.p++;
		s.len--;
	}
	while (s.len > 0 && (s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t'))
		s.len--;
	return s;
}

int
str_to_u64(struct str s, uint64_t *out)
{
	uint64_t v = 0;

	if (s.len == 0)
		return -1;
	for (size_t i = 0; i < s.len; i++) {
		unsigned d = (unsigned char)s.p[i] - '0';
		if (d > 9)
			return -1;
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int
str_copy(struct str s, char *dst, size_t dstlen)
{
	if (s.len >= dstlen)
		return -1;
	if (s.len > 0)
		memcpy(dst, s.p, s.len);
	dst[s.len] = '\0';
	return 0;
}

bool
str_list_next(struct str list, size_t *pos, struct str *elem)
{
	while (*pos < list.len) {
		size_t start = *pos;
		size_t end = start;
		bool quoted = false;

		while (end < list.len) {
			char c = list.p[end];
			if (quoted) {
				if (c == '\\' && end + 1 < list.len)
					end++;
				else if (c == '"')
					quoted = false;
			} else if (c == '"') {
				quoted = true;
			} else if (c == ',') {
				break;
			}
			end++;
		}
		*pos = end < list.len ? end + 1 : end;
		*elem = str_trim_ows(str_make(list.p + start, end - start));
		if (elem->len > 0)
			return true;
	}
	return false;
}
