#!/usr/bin/env bash
# run.sh BUILD_DIR|LIBRARY [COMMAND]: `make run`, and `aslab-run --compare` (installed as
# libexec/aslab/compare.sh). Runs COMMAND (a bash command line; by default Debian's python3
# with PYTHONMALLOC=malloc on workload.py) RUNS times (default 3) under glibc and as many
# under aslab (LD_PRELOAD=BUILD_DIR/libaslab_malloc.so or LIBRARY, ASLAB_STATS=all),
# interleaved, and prints each run's wall time and peak RSS, the medians, the ratio
# glibc/aslab (>1: aslab is faster), whether the outputs match, and aslab's statistics.
# Exits 1 on FAIL: outputs that differ, exit statuses that differ, or aslab not preloaded.
# RUN_TITLE names the caller in the first line (default "make run").
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DEFAULT_CMD="PYTHONMALLOC=malloc PYTHONHASHSEED=0 /usr/bin/python3 $HERE/workload.py"
# The lines of the ASLAB_STATS report (src/malloc/stats.c).
STATS_LINES='^(aslab: heap statistics|class +size|small: |arena: |fallback \(|direct: |discards: |process: peak RSS)'
STATS_ROW='^ +[0-9]+ +[0-9]+( +-?[0-9.]+)+$'

usage() {
    echo "usage: [RUNS=3] $0 BUILD_DIR|LIBRARY [COMMAND]" >&2
    exit 2
}

# measure ALLOCATOR N: one run of $CMD; leaves N.ALLOCATOR.{out,err,status} and a line
# "wall user sys rss_kib" in N.ALLOCATOR.time under $WORK.
measure() {
    local alloc=$1 base=$WORK/$2.$1 start status=0 wall
    local run=(env)
    # =all: every process of the command line reports (=1: the first alone, bash or the
    # command bash execs in its own place).
    [ "$alloc" = glibc ] || run+=("LD_PRELOAD=$LIB" ASLAB_STATS=all)
    start=$EPOCHREALTIME
    /usr/bin/time -o "$base.rusage" -f '%U %S %M' "${run[@]}" bash -c "$CMD" \
        >"$base.out" 2>"$base.err" || status=$?
    wall=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }')
    echo "$status" >"$base.status"
    # time(1) writes "Command exited with non-zero status N" first when the command fails.
    echo "$wall $(tail -1 "$base.rusage")" >"$base.time"
}

# The median of the numbers on stdin.
median() {
    sort -g | awk '{ v[NR] = $1 }
        END { m = int((NR + 1) / 2); printf "%.3f", NR % 2 ? v[m] : (v[m] + v[m + 1]) / 2 }'
}

# column ALLOCATOR FIELD: that field of every run's time line (1 wall, 4 RSS in KiB).
column() { cat "$WORK"/*."$1".time | awk -v f="$2" '{ print $f }'; }

print_runs() {
    local i alloc wall user sys rss
    printf '%4s  %-9s %8s %8s %8s %13s\n' run allocator "wall s" "user s" "sys s" "peak RSS MiB"
    for ((i = 1; i <= RUNS; i++)); do
        for alloc in $(order "$i"); do
            read -r wall user sys rss <"$WORK/$i.$alloc.time"
            printf '%4d  %-9s %8s %8s %8s %13.1f\n' "$i" "$alloc" "$wall" "$user" "$sys" \
                "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')"
        done
    done
}

# Odd runs start with glibc, even runs with aslab, so that drift favours neither.
order() { if (($1 % 2)); then echo glibc aslab; else echo aslab glibc; fi; }

# The medians of one allocator: "wall cpu rss_kib" (cpu = user + sys).
medians() {
    local cpu
    cpu=$(cat "$WORK"/*."$1".time | awk '{ print $2 + $3 }' | median)
    echo "$(column "$1" 1 | median) $cpu $(column "$1" 4 | median)"
}

print_summary() {
    local g a
    g=$(medians glibc) a=$(medians aslab)
    awk -v g="$g" -v a="$a" 'BEGIN {
        split(g, G); split(a, A)
        line = "median %s  %8.3f s wall  %7.2f s user+sys  %7.1f MiB peak RSS\n"
        printf line, "glibc", G[1], G[2], G[3] / 1024
        printf line, "aslab", A[1], A[2], A[3] / 1024
        printf "ratio glibc/aslab: %.2f wall, %.2f user+sys (>1: aslab is faster); ", \
            (A[1] > 0 ? G[1] / A[1] : 0), (A[2] > 0 ? G[2] / A[2] : 0)
        printf "peak RSS aslab/glibc: %.2f\n", (G[3] > 0 ? A[3] / G[3] : 0)
    }'
}

# Prints the FAIL reasons, one a line; nothing when every run agrees with glibc's first.
check_runs() {
    local i alloc ref=$WORK/1.glibc
    for ((i = 1; i <= RUNS; i++)); do
        for alloc in glibc aslab; do
            local base=$WORK/$i.$alloc
            [ "$(cat "$base.status")" = "$(cat "$ref.status")" ] ||
                echo "run $i $alloc: exit status $(cat "$base.status")," \
                    "glibc run 1: $(cat "$ref.status")"
            cmp -s "$base.out" "$ref.out" || echo "run $i $alloc: output differs from glibc run 1"
        done
        grep -h -m1 'cannot be preloaded' "$WORK/$i.aslab.err" || true
        grep -q '^small: ' "$WORK/$i.aslab.err" ||
            echo "run $i aslab: no aslab statistics on stderr (malloc not bound to aslab?)"
    done
}

# Outputs that differ between glibc runs mean the command is not deterministic: then the
# comparison says nothing and is skipped.
glibc_deterministic() {
    local i
    for ((i = 2; i <= RUNS; i++)); do
        cmp -s "$WORK/$i.glibc.out" "$WORK/1.glibc.out" || return 1
    done
}

print_verdict() {
    local problems out=$WORK/1.glibc.out status compared=1
    status=$(cat "$WORK/1.glibc.status")
    [ "$status" = 0 ] || echo "note: the command exits with status $status under glibc"
    problems=$(check_runs)
    if ! glibc_deterministic; then
        compared=0
        problems=$(grep -v 'output differs' <<<"$problems" || true)
    fi
    if [ -n "$problems" ]; then
        echo "FAIL"
        mapfile -t problems <<<"$problems"
        printf '    %s\n' "${problems[@]}"
        return 1
    fi
    if ((compared)); then
        printf 'output: identical in all %d runs (%d lines, %d bytes, sha256 %.16s)  PASS\n' \
            $((2 * RUNS)) "$(wc -l <"$out")" "$(wc -c <"$out")" "$(sha256sum <"$out")"
    else
        echo "output: differs between glibc runs (not deterministic), not compared  PASS"
    fi
}

print_stats() {
    local processes
    processes=$(grep -c '^aslab: heap statistics' "$WORK/$RUNS.aslab.err" || true)
    echo "aslab statistics (ASLAB_STATS=all, run $RUNS, $processes process(es)):"
    grep -E -e "$STATS_LINES" -e "$STATS_ROW" "$WORK/$RUNS.aslab.err" || echo "    (none)"
}

# Other processes competing for the CPUs inflate wall times, not user and sys times.
print_load() {
    local load cpus
    load=$(cut -d' ' -f1 /proc/loadavg) cpus=$(nproc)
    echo "$RUNS runs each, glibc and aslab interleaved; load average $load on $cpus CPUs"
    if awk -v l="$load" -v c="$cpus" 'BEGIN { exit !(l > c - 0.5) }'; then
        echo "note: the machine is busy: wall times are noisy, user times less so"
    fi
}

main() {
    if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
    if [ -d "$1" ]; then
        LIB=$(cd "$1" && pwd)/libaslab_malloc.so
    else
        LIB=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
    fi
    CMD=${2:-$DEFAULT_CMD}
    [ -n "$CMD" ] || CMD=$DEFAULT_CMD
    RUNS=${RUNS:-3}
    [[ $RUNS =~ ^[1-9][0-9]*$ ]] || usage
    [ -f "$LIB" ] || { echo "run.sh: $LIB is missing (make malloc)" >&2 && exit 2; }
    [ -x /usr/bin/time ] ||
        { echo "run.sh: /usr/bin/time is missing (apt-get install time)" >&2 && exit 2; }
    WORK=$(mktemp -d)
    trap 'rm -rf "$WORK"' EXIT
    unset LD_PRELOAD
    echo "${RUN_TITLE:-make run}: $CMD"
    unset RUN_TITLE
    print_load
    local i alloc
    for ((i = 1; i <= RUNS; i++)); do
        for alloc in $(order "$i"); do measure "$alloc" "$i"; done
    done
    print_runs
    print_summary
    local verdict=0
    print_verdict || verdict=1
    print_stats
    return "$verdict"
}

main "$@"
