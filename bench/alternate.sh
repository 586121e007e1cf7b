#!/usr/bin/env bash
# bench/alternate.sh - two malloc libraries on a threaded command, in alternating runs.
#
#   bench/alternate.sh [--runs N] LIB_A LIB_B -- COMMAND [ARGS...]
#
# Runs COMMAND under LD_PRELOAD=LIB_A, then under LIB_B, N times each (default 5), one after
# the other, and prints each run's wall time and peak RSS, then the medians and B's over A's.
# LIB may be "glibc" for no preload.
#
# Why: bench/same_time.sh runs both libraries at once, one per core, which is the fairer
# comparison on this shared machine but pins each run to one core; a command with several
# threads then measures one core's scheduling, not the allocator's threaded paths. Here each
# run has the whole machine, and alternating spreads the machine's drift over both sides.
# Run it on an idle machine (`uptime`: load below 1). Needs /usr/bin/time (Debian's time).
set -euo pipefail

runs=5
if [[ ${1:-} == --runs ]]; then
    runs=$2
    shift 2
fi
if (($# < 4)) || [[ $3 != -- ]]; then
    echo "usage: $0 [--runs N] LIB_A LIB_B -- COMMAND [ARGS...]" >&2
    exit 2
fi
lib_a=$1 lib_b=$2
shift 3
command -v /usr/bin/time >/dev/null || { echo "$0: /usr/bin/time is missing" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# run LIB OUT -- COMMAND...: appends COMMAND's wall seconds and peak RSS (KiB) under LIB to OUT.
run() {
    local lib=$1 out=$2
    shift 3
    local preload=(env)
    [[ $lib != glibc ]] && preload=(env "LD_PRELOAD=$lib")
    if ! /usr/bin/time -f "%e %M" -o "$tmp/one" "${preload[@]}" "$@" >/dev/null 2>&1; then
        echo "$0: the command failed under $lib" >&2
        return 1
    fi
    cat "$tmp/one" >>"$tmp/$out"
}

for ((r = 0; r < runs; r++)); do
    run "$lib_a" a -- "$@"
    run "$lib_b" b -- "$@"
    read -r time_a rss_a <<<"$(tail -1 "$tmp/a")"
    read -r time_b rss_b <<<"$(tail -1 "$tmp/b")"
    printf 'run %2d  A %s s %s KiB   B %s s %s KiB\n' "$((r + 1))" "$time_a" "$rss_a" "$time_b" \
        "$rss_b"
done

# median COLUMN FILE: the median of one column (the lower middle one for an even count).
median() { sort -n -k"$1" "$2" | awk -v c="$1" '{ v[NR] = $c } END { print v[int((NR + 1) / 2)] }'; }

ta=$(median 1 "$tmp/a") tb=$(median 1 "$tmp/b") ra=$(median 2 "$tmp/a") rb=$(median 2 "$tmp/b")
awk -v ta="$ta" -v tb="$tb" -v ra="$ra" -v rb="$rb" 'BEGIN {
    printf "medians: A %.2f s %.1f MiB, B %.2f s %.1f MiB; B/A time %.3f, peak RSS %.3f\n",
           ta, ra / 1024, tb, rb / 1024, tb / ta, rb / ra }'
