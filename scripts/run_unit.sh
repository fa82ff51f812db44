#!/bin/sh
# Runs each cmocka unit test binary and prints one summary line that CI
# reads. A skipped test is reported as skipped, never as passed: cmocka
# exits 0 when it skips, so its own summary line is read for the count.
passed=0
failed=0
skipped=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for t in "$@"; do
	"$t" >"$out" 2>&1
	rc=$?
	cat "$out"
	n=$(sed -n 's/^\[  SKIPPED \] \([0-9][0-9]*\) test(s), listed below:$/\1/p' "$out")
	skipped=$((skipped + ${n:-0}))
	if [ "$rc" -ne 0 ]; then
		failed=$((failed + 1))
		echo "FAILED: $t"
	elif [ "${n:-0}" -gt 0 ]; then
		echo "SKIPPED: $t ($n test(s))"
	else
		passed=$((passed + 1))
	fi
done
echo "unit: $passed passed, $failed failed, $skipped tests skipped"
[ "$failed" -eq 0 ]
