#!/usr/bin/env bash
# bench/same_time.sh - two malloc libraries timed at the same moment, one per core.
#
#   bench/same_time.sh [--rounds N] LIB_A LIB_B -- COMMAND [ARGS...]
#
# Runs COMMAND under LD_PRELOAD=LIB_A pinned to core 0 and under LIB_B pinned to core 1, both
# at once, then the other way round, N rounds in all (default 10, an even number keeps the
# cores fair). Each round prints both runs' CPU seconds (user + system); the summary gives
# B's total over A's per pair of rounds, whose cores are swapped. LIB may be "glibc" for no
# preload.
#
# Why: on a shared machine the speed drifts by tens of percent within minutes, so runs made
# one after another compare the moments as much as the builds. Run together, both builds see
# the same moment (they share the last-level cache and memory, as two programs on one
# machine do). Meant for single-threaded commands; an A/A run (the same library twice)
# shows the noise left. Needs taskset (util-linux) and /usr/bin/time (Debian's time).
set -euo pipefail

rounds=10
if [[ ${1:-} == --rounds ]]; then
    rounds=$2
    shift 2
fi
if (($# < 4)) || [[ $3 != -- ]]; then
    echo "usage: $0 [--rounds N] LIB_A LIB_B -- COMMAND [ARGS...]" >&2
    exit 2
fi
lib_a=$1 lib_b=$2
shift 3
for tool in taskset /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "$0: $tool is missing" >&2; exit 2; }
done
(($(nproc) >= 2)) || { echo "$0: needs two cores" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# run CORE LIB OUT -- COMMAND...: COMMAND pinned to CORE under LIB; its CPU seconds into OUT.
run() {
    local core=$1 lib=$2 out=$3
    shift 4
    local preload=(env)
    [[ $lib != glibc ]] && preload=(env "LD_PRELOAD=$lib")
    if ! /usr/bin/time -f "%U %S" -o "$tmp/$out" taskset -c "$core" "${preload[@]}" "$@" \
        >/dev/null 2>&1; then
        echo "$0: the command failed under $lib" >&2
        return 1
    fi
}

cpu() { awk '{ printf "%.2f", $1 + $2 }' "$tmp/$1"; }

declare -a a_times b_times
failed=0
for ((r = 0; r < rounds; r++)); do
    core_a=$((r % 2)) core_b=$((1 - r % 2))
    run "$core_a" "$lib_a" a -- "$@" &
    pid_a=$!
    run "$core_b" "$lib_b" b -- "$@" &
    pid_b=$!
    wait "$pid_a" || failed=1
    wait "$pid_b" || failed=1
    ((failed == 0)) || exit 1
    a_times+=("$(cpu a)") b_times+=("$(cpu b)")
    printf 'round %2d  A on core %d: %s s   B on core %d: %s s\n' \
        "$((r + 1))" "$core_a" "${a_times[r]}" "$core_b" "${b_times[r]}"
done

printf '%s\n' "${a_times[@]}" >"$tmp/a.all"
printf '%s\n' "${b_times[@]}" >"$tmp/b.all"
paste "$tmp/a.all" "$tmp/b.all" | awk '
    { a += $1; b += $2; sa += $1; sb += $2 }
    NR % 2 == 0 { printf "pair %d: B/A %.3f\n", NR / 2, sb / sa; sa = sb = 0 }
    END { printf "all rounds: A %.2f s, B %.2f s, B/A %.3f\n", a, b, b / a }'
