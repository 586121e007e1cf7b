#!/usr/bin/env bash
# run.sh BUILD_DIR quick|full [SUITE...]: test-real. Runs real projects' own regression test
# suites (suites.sh: Python's, from Debian's libpython3.11-testsuite, and GLib's installed
# tests, from libglib2.0-tests) once under glibc and once with
# LD_PRELOAD=BUILD_DIR/libaslab_malloc.so and ASLAB_STATS=1, one process per test module or
# test program, $JOBS at a time (default: the number of CPUs). glibc runs first; then each
# item is judged:
#   pass             passes under both;
#   FAIL             passes under glibc, fails under aslab (exit status, timeout or crash),
#                    or its aslab run printed no "small: N requests" line (malloc did not
#                    bind to aslab);
#   fails under both / under glibc only: reported, not counted as aslab's failures.
# Prints one line per suite (glibc's pass/fail counts beside aslab's), a line per item that is
# not a plain pass, and "test-real: N passed, N failed"; exits 1 if anything FAILed.
# KEEP=1 keeps the outputs (SUITE.glibc/ITEM/ and SUITE.aslab/ITEM/: out, status, seconds).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ALL_SUITES=(python glib)
# shellcheck source=tests/real/suites.sh
source "$HERE/suites.sh"

usage() {
    echo "usage: $0 BUILD_DIR quick|full [SUITE...]   suites: ${ALL_SUITES[*]}" >&2
    exit 2
}

# run_item SUITE ALLOCATOR ITEM: runs the item in $WORK/SUITE.ALLOCATOR/ITEM/cwd with its
# own TMPDIR; leaves out (stdout and stderr), status and seconds next to it.
run_item() {
    local suite=$1 alloc=$2 item=$3 dir start status run cmd
    dir=$WORK/$suite.$alloc/$item
    mkdir -p "$dir/cwd" "$dir/tmp"
    run=(timeout -k 10 "$(timeout_"$suite")" env "TMPDIR=$dir/tmp")
    if [ "$alloc" = aslab ]; then
        run+=("LD_PRELOAD=$LIB")
        nostats_"$suite" "$item" || run+=(ASLAB_STATS=1)
    fi
    mapfile -t cmd < <(cmd_"$suite" "$item")
    start=$EPOCHREALTIME
    set +e
    { # (bash's "Aborted" or "Segmentation fault" notice about the subshell to /dev/null)
        (cd "$dir/cwd" && "${run[@]}" "${cmd[@]}") </dev/null >"$dir/out" 2>&1
        status=$?
    } 2>/dev/null
    set -e
    echo "$status" >"$dir/status"
    awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f\n", b - a }' >"$dir/seconds"
    rm -rf "$dir/cwd" "$dir/tmp"
}

# run_all SUITE ALLOCATOR ITEM...: run_item for every item, $JOBS at a time.
run_all() {
    local suite=$1 alloc=$2 item running=0
    shift 2
    for item in "$@"; do
        if [ "$running" -ge "$JOBS" ]; then
            wait -n || true
            running=$((running - 1))
        fi
        run_item "$suite" "$alloc" "$item" &
        running=$((running + 1))
    done
    wait
}

# bound OUT: true if the output has an aslab report with at least one small request.
bound() { grep -Eq '^small: [1-9][0-9]* requests' "$1"; }

# judge SUITE ITEM: prints the item's verdict: pass, FAIL:reason, both or glibc-only.
judge() {
    local g=$WORK/$1.glibc/$2 a=$WORK/$1.aslab/$2 gs as
    gs=$(cat "$g/status")
    as=$(cat "$a/status")
    if ! nostats_"$1" "$2" && ! bound "$a/out"; then
        echo "FAIL:no aslab statistics in its output: malloc did not bind to aslab (exit $as)"
    elif [ "$gs" = 0 ] && [ "$as" = 0 ]; then
        echo pass
    elif [ "$gs" = 0 ]; then
        echo "FAIL:exit $as under aslab$(describe "$as"), 0 under glibc"
    elif [ "$as" = 0 ]; then
        echo glibc-only
    else
        echo both
    fi
}

describe() {
    case $1 in
    124 | 137) echo " (timed out)" ;;
    134) echo " (SIGABRT)" ;;
    139) echo " (SIGSEGV)" ;;
    *) [ "$1" -le 128 ] || echo " (signal $(($1 - 128)))" ;;
    esac
}

# sum_seconds DIR: the seconds of every item of one run, added up (CPU-slot seconds).
sum_seconds() { cat "$1"/*/seconds | awk '{ s += $1 } END { printf "%.0f", s }'; }

# suite SUITE: runs the suite's items (items_SUITE $MODE) under both allocators and
# reports; adds to PASSED and FAILED.
suite() {
    local s=$1 items item verdict gp=0 gf=0 ap=0 af=0 start gsec asec
    local lines=()
    mapfile -t items < <(items_"$s" "$MODE")
    start=$EPOCHREALTIME
    run_all "$s" glibc "${items[@]}"
    gsec=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }')
    start=$EPOCHREALTIME
    run_all "$s" aslab "${items[@]}"
    asec=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }')
    for item in "${items[@]}"; do
        if [ "$(cat "$WORK/$s.glibc/$item/status")" = 0 ]; then gp=$((gp + 1)); else gf=$((gf + 1)); fi
        if [ "$(cat "$WORK/$s.aslab/$item/status")" = 0 ]; then ap=$((ap + 1)); else af=$((af + 1)); fi
        verdict=$(judge "$s" "$item")
        case $verdict in
        pass) PASSED=$((PASSED + 1)) ;;
        both) lines+=("    both   $item: fails under glibc too (exit $(cat "$WORK/$s.glibc/$item/status")), not counted") ;;
        glibc-only) lines+=("    glibc  $item: fails under glibc only (exit $(cat "$WORK/$s.glibc/$item/status")), not counted") ;;
        FAIL:*)
            FAILED=$((FAILED + 1))
            lines+=("    FAIL   $item: ${verdict#FAIL:}")
            mapfile -t tail < <(grep -Ev "$STATS_LINES" "$WORK/$s.aslab/$item/out" | tail -8)
            lines+=("${tail[@]/#/        | }")
            ;;
        esac
    done
    printf '%-7s %3d %-8s glibc %3d passed %2d failed (%4s s) | aslab %3d passed %2d failed (%4s s)\n' \
        "$s" "${#items[@]}" "$(unit_"$s")" "$gp" "$gf" "$gsec" "$ap" "$af" "$asec"
    [ ${#lines[@]} -eq 0 ] || printf '%s\n' "${lines[@]}"
}

# The lines of the ASLAB_STATS report (stats.c), left out of the failure excerpts.
STATS_LINES='^(aslab: heap statistics|class +size|small: |arena: |fallback \(|direct: |discards: |process: peak RSS| +[0-9]+ +[0-9]+( +-?[0-9.]+)+$)'

main() {
    if [ $# -lt 2 ] || [ ! -d "$1" ]; then usage; fi
    LIB=$(cd "$1" && pwd)/libaslab_malloc.so
    MODE=$2
    shift 2
    case $MODE in quick | full) ;; *) usage ;; esac
    [ -f "$LIB" ] || { echo "run.sh: $LIB is missing (make malloc)" >&2 && exit 2; }
    local suites=("$@") s
    [ $# -gt 0 ] || suites=("${ALL_SUITES[@]}")
    for s in "${suites[@]}"; do declare -F "items_$s" >/dev/null || usage; done
    JOBS=${JOBS:-$(nproc)}
    PASSED=0
    FAILED=0
    WORK=$(mktemp -d)
    trap 'rm -rf "$WORK"' EXIT
    [ -z "${KEEP:-}" ] || trap 'echo "outputs kept in $WORK"' EXIT
    unset LD_PRELOAD ASLAB_STATS
    for s in "${suites[@]}"; do suite "$s"; done
    echo "test-real ($MODE): $PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
}

main "$@"
