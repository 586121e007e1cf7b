#!/usr/bin/env bash
# run.sh BUILD_DIR [CASE...]: test-preload. Runs real programs (the cases in cases.sh) once
# under glibc and once with LD_PRELOAD=BUILD_DIR/libaslab_malloc.so and ASLAB_STATS=all, and
# fails a case when the exit statuses, stdout or stderr (aslab's statistics removed) differ,
# when ld.so could not preload the library, or when a process of the aslab run reports no
# (or too few) small requests, i.e. its malloc did not bind to aslab.
# Prints one PASS/FAIL line per case and "N passed, N failed"; exits 1 if any failed.
# KEEP=1 keeps the outputs (CASE.glibc/ and CASE.aslab/: out, err, status, cwd/).
set -euo pipefail

ALL_CASES=(python3 cxx threads sort sort_parallel git xz zstd)
TIMEOUT=120 # seconds, per command
# The lines of the ASLAB_STATS report (stats.c), removed before stderr is compared.
STATS_LINES='^(aslab: heap statistics|class +size|small: |arena: |fallback \(|direct: |discards: |process: peak RSS)'
STATS_ROW='^ +[0-9]+ +[0-9]+( +-?[0-9.]+)+$'

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/preload/cases.sh
source "$HERE/cases.sh"

usage() {
    echo "usage: $0 BUILD_DIR [CASE...]   cases: ${ALL_CASES[*]}" >&2
    exit 2
}

# The inputs both runs of a case read: a few MB of lines to sort and compress.
prepare_inputs() {
    mkdir -p "$INPUT"
    /usr/bin/python3 "$HERE/gen_lines.py" 120000 >"$INPUT/lines"
}

# run_one ALLOCATOR CASE: runs the case in $WORK/CASE.ALLOCATOR/cwd; leaves out, err,
# status and seconds next to it.
run_one() {
    local alloc=$1 name=$2 dir=$WORK/$2.$1 start status
    mkdir -p "$dir/cwd"
    RUN=(timeout "$TIMEOUT" env)
    [ "$alloc" = glibc ] || RUN+=("LD_PRELOAD=$LIB" ASLAB_STATS=all) # every process reports
    start=$EPOCHREALTIME
    set +e
    (
        set -e
        cd "$dir/cwd"
        "case_$name"
    ) >"$dir/out" 2>"$dir/err"
    status=$?
    set -e
    echo "$status" >"$dir/status"
    awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f\n", b - a }' >"$dir/seconds"
}

strip_stats() { grep -Ev -e "$STATS_LINES" -e "$STATS_ROW" "$1" || true; }

# The "small: N requests" counts of every process of the aslab run, one a line.
small_requests() { sed -nE 's/^small: ([0-9]+) requests.*/\1/p' "$1"; }

# check_case CASE: prints the reasons the case fails, one a line; nothing if it passes.
check_case() {
    local name=$1 g=$WORK/$1.glibc a=$WORK/$1.aslab min=${MIN_REQUESTS[$1]:-1} counts
    grep -h -m1 'cannot be preloaded' "$a/err" | sed 's/^/aslab not preloaded: /' || true
    if [ "$(cat "$g/status")" != 0 ]; then
        echo "failed under glibc too (exit $(cat "$g/status")), the case is broken:"
        tail -5 "$g/err"
    fi
    [ "$(cat "$g/status")" = "$(cat "$a/status")" ] ||
        echo "exit status: glibc $(cat "$g/status"), aslab $(cat "$a/status")"
    cmp -s "$g/out" "$a/out" || {
        echo "stdout differs:"
        diff "$g/out" "$a/out" | head -20
    }
    cmp -s <(strip_stats "$g/err") <(strip_stats "$a/err") || {
        echo "stderr differs (aslab statistics removed):"
        diff <(strip_stats "$g/err") <(strip_stats "$a/err") | head -20
    }
    counts=$(small_requests "$a/err")
    if [ -z "$counts" ]; then
        echo "no aslab statistics on stderr: malloc did not bind to aslab"
    elif [ "$(sort -n <<<"$counts" | head -1)" -lt "$min" ]; then
        echo "a process served fewer than $min small requests:" "$(tr '\n' ' ' <<<"$counts")"
    fi
}

# report CASE: the PASS/FAIL line (and the reasons); returns 1 on FAIL.
report() {
    local name=$1 problems counts
    problems=$(check_case "$name")
    if [ -n "$problems" ]; then
        echo "FAIL $name"
        mapfile -t problems <<<"$problems"
        printf '    %s\n' "${problems[@]}"
        return 1
    fi
    counts=$(small_requests "$WORK/$name.aslab/err")
    printf 'PASS %-14s glibc %5s s, aslab %5s s; %d aslab process(es), small requests %s\n' \
        "$name" "$(cat "$WORK/$name.glibc/seconds")" "$(cat "$WORK/$name.aslab/seconds")" \
        "$(wc -l <<<"$counts")" "$(awk '{ n += $1 } END { print n }' <<<"$counts")"
}

main() {
    if [ $# -eq 0 ] || [ ! -d "$1" ]; then usage; fi
    BIN=$(cd "$1" && pwd)/preload-tests
    LIB=$(cd "$1" && pwd)/libaslab_malloc.so
    shift
    [ -f "$LIB" ] || { echo "run.sh: $LIB is missing (make malloc)" >&2 && exit 2; }
    local cases=("$@") name passed=0 failed=0
    [ $# -gt 0 ] || cases=("${ALL_CASES[@]}")
    WORK=$(mktemp -d)
    INPUT=$WORK/input
    trap 'rm -rf "$WORK"' EXIT
    [ -z "${KEEP:-}" ] || trap 'echo "outputs kept in $WORK"' EXIT
    unset LD_PRELOAD
    prepare_inputs
    for name in "${cases[@]}"; do
        declare -F "case_$name" >/dev/null || usage
        run_one glibc "$name"
        run_one aslab "$name"
        if report "$name"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
    done
    echo "test-preload: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}

main "$@"
