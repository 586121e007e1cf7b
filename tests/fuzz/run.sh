#!/bin/sh
# run.sh NAME BINARY SEEDS SECONDS BUILD: runs one libFuzzer target for SECONDS on its growing
# corpus (BUILD/fuzz-corpus/NAME) and the committed seeds (tests/fuzz/corpus/SEEDS); prints the
# coverage, speed and execution count, and on failure the end of the log and the crash input.
# Options for the program under test come from the environment (ASLAB_DECAY_MS=0 ...).
set -u
name=$1 bin=$2 seeds=$3 seconds=$4 build=$5
corpus=$build/fuzz-corpus/$name
log=$build/fuzz-$name.log
mkdir -p "$corpus" "$build/fuzz-artifacts"
echo "fuzz $name: $seconds s, log in $log"
"$bin" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 \
    -artifact_prefix="$build/fuzz-artifacts/$name-" "$corpus" "tests/fuzz/corpus/$seeds" \
    >"$log" 2>&1
rc=$?
grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)' "$log"
grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added)' "$log"
if [ "$rc" -ne 0 ]; then
    echo "fuzz $name: FAILED (exit $rc); the end of $log:"
    tail -n 40 "$log"
    echo "reproduce: $bin <the crash file named above>"
fi
exit "$rc"
