#!/bin/sh
# docs/design.md's "The tree" names every file of bpf/, include/, user/
# and scripts/: by its path, or in the row of its folder (`user/core/`) by
# its name (`ascii.h`) or by the name its .c and .h share (`log`); and the
# paths of its first column exist. Prints one line per miss and exits 1
# if there is any.
cd "$(dirname "$0")/.." || exit 2
status=0
rows=$(sed -n '/^## The tree$/,/^## /p' docs/design.md | grep '^| `')
if [ -z "$rows" ]; then
	echo "docs/design.md: no table under \"## The tree\""
	exit 1
fi

for f in $(find bpf include user scripts -type f | sort); do
	printf '%s\n' "$rows" | grep -qF "\`$f\`" && continue
	base=${f##*/}
	stem=${base%.[ch]}
	printf '%s\n' "$rows" | grep -F "| \`${f%/*}/\` |" |
		grep -qF -e "\`$base\`" -e "\`$stem\`" && continue
	echo "$f is not named in docs/design.md, \"The tree\""
	status=1
done

for p in $(printf '%s\n' "$rows" | cut -d'|' -f2 | grep -o '`[^`]*`' | tr -d '`'); do
	[ -e "$p" ] && continue
	echo "docs/design.md, \"The tree\", names $p, which does not exist"
	status=1
done
exit $status
