#!/bin/sh
# Runs each libFuzzer target given for SECONDS, one at a time and niced
# (a shared machine), and prints one line per target and a summary. New
# inputs go to WORK/corpus/NAME, failing ones to WORK/artifacts/;
# tests/fuzz/corpus/NAME, the seeds and the inputs that once failed, is
# read, never written. A failed target's log is shown whole.
# usage: run_fuzz.sh SECONDS WORK BINARY...
secs=$1
work=$2
shift 2
root=$(cd "$(dirname "$0")/.." && pwd)
passed=0
failed=0
mkdir -p "$work/artifacts" "$work/logs"
for bin in "$@"; do
	name=${bin##*/}
	name=${name#fuzz_}
	mkdir -p "$work/corpus/$name"
	log=$work/logs/$name.log
	nice -n 10 "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$work/artifacts/$name-" \
		"$work/corpus/$name" "$root/tests/fuzz/corpus/$name" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	if [ "$rc" -ne 0 ]; then
		cat "$log"
		echo "FAILED: $name (exit $rc; input in $work/artifacts/)"
		failed=$((failed + 1))
	else
		echo "fuzz $name: ${runs:-?} runs in ${secs} s"
		passed=$((passed + 1))
	fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
