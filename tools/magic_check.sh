#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# tools/magic_check.sh [SRCDIR] — the object magics (core/assert.h) stay unique.
#
# Long-lived structs carry an `unsigned magic` checked with OBJ_CHECK; a magic
# shared by two structs would let one pass for the other.  So every *_MAGIC
# is defined once, in core/assert.h, where two equal values are seen at a
# glance, and this check (run by make check, TAP output) rejects:
#   1. a *_MAGIC defined anywhere else, or a magic assigned a bare number;
#   2. two magics with the same value;
#   3. a magic name defined twice.
# SRCDIR defaults to $OUTPOST_SRCDIR, else the tree this script is in.
set -u
src=${1:-${OUTPOST_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}}
cd "$src" || exit 99
home=core/assert.h
[ -f "$home" ] || {
	echo "Bail out! $src/$home not found"
	exit 99
}

# Source folders only: out-of-tree build directories under the source tree
# are not looked at.
files=$(find core cache origin edge config purge geo tests tools -name '*.[ch]' -type f \
	2>/dev/null | LC_ALL=C sort)

# "file:name:value" for every #define NAME_MAGIC value (value lower-cased,
# integer suffixes dropped).
defs=$(for f in $files; do
	sed -n 's/^[[:space:]]*#[[:space:]]*define[[:space:]]\{1,\}\([A-Z0-9_]*_MAGIC\)[[:space:]]\{1,\}\([0-9A-Fa-fxX]\{1,\}\)[uUlL]*\([[:space:]].*\)\{0,1\}$/\1:\2/p' "$f" |
		sed "s|^|$f:|"
done | awk -F: '{ printf "%s:%s:%s\n", $1, $2, tolower($3) }')

echo "1..3"
failed=0

outside=$(printf '%s\n' "$defs" | awk -F: -v home="$home" 'NF == 3 && $1 != home')
literal=$(for f in $files; do
	grep -Hn 'magic[[:space:]]*=[[:space:]]*0*[1-9xX]' "$f"
done | grep -v '^core/assert\.h:')
if [ -z "$outside$literal" ]; then
	echo "ok 1 - magics are defined in $home only"
else
	echo "not ok 1 - magics are defined in $home only"
	failed=1
	printf '%s\n' "$outside" "$literal" | sed '/^$/d; s/^/#   /'
fi

dupv=$(printf '%s\n' "$defs" | awk -F: 'NF == 3 { n[$3]++; w[$3] = w[$3] " " $2 }
	END { for (v in n) if (n[v] > 1) print v ":" w[v] }')
if [ -z "$dupv" ]; then
	echo "ok 2 - magic values are unique"
else
	echo "not ok 2 - magic values are unique"
	failed=1
	printf '%s\n' "$dupv" | sed 's/^/#   shared value /'
fi

dupn=$(printf '%s\n' "$defs" | awk -F: 'NF == 3 { print $2 }' | LC_ALL=C sort | uniq -d)
if [ -z "$dupn" ]; then
	echo "ok 3 - magic names are defined once"
else
	echo "not ok 3 - magic names are defined once"
	failed=1
	printf '%s\n' "$dupn" | sed 's/^/#   defined twice: /'
fi
exit $failed
