#!/usr/bin/env bash
# shapes.sh [--force] [--runs N] [--quick] [--only NAME,...] [--allocators NAME,...]
#
# The threaded workloads only (bench/README.md: xmalloc, sh6, sh8, simple, larsonn, gthread,
# xthread, bulk-1, bulk-2, bulk-4, bulk-remote, prodcons, prodcons-4p, larson, mstress, mstress-2t, oversub-8,
# oversub-32, burst), under
# every allocator, interleaved, N runs each (default 5), and one table of time relative to
# glibc (lower is better) and peak RSS per workload and allocator:
# bench/results/threads/summary.md, printed at the end (every run and the min-max spreads:
# latest.md and latest.csv beside it).
# `make bench-threads [RUNS=N] [FORCE=1]` runs it.
#
# Timings are only worth reading on an idle machine: it refuses to start when the 1-minute
# load average (uptime's first figure) is above 1.0, unless --force, which measures anyway
# under a loud warning. The load is checked before the build (bench-deps, bench-build), which
# would raise it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORKLOADS=xmalloc,sh6,sh8,simple,larsonn,gthread,xthread,bulk-1,bulk-2,bulk-4,bulk-remote,prodcons,prodcons-4p,larson,mstress,mstress-2t,oversub-8,oversub-32,burst
MAX_LOAD=1.0
force=0 runs=5 quick=() only=$WORKLOADS allocators=()

usage() {
    sed -n '2,2s/^# //p' "${BASH_SOURCE[0]}" >&2
    exit 2
}

while [ $# -gt 0 ]; do
    case $1 in
    --force) force=1 ;;
    --runs) runs=${2:?--runs needs a number}; shift ;;
    --quick) quick=(--quick) ;;
    --only) only=${2:?--only needs workload names}; shift ;;
    --allocators) allocators=(--allocators "${2:?--allocators needs names}"); shift ;;
    *) usage ;;
    esac
    shift
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || usage

# /proc/loadavg holds what uptime prints, without uptime's locale-dependent decimal comma.
load=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$load" -v m="$MAX_LOAD" 'BEGIN { exit !(l > m) }'; then
    if [ "$force" = 0 ]; then
        cat >&2 <<EOF
shapes.sh: NOT STARTED: the 1-minute load average is $load, above $MAX_LOAD.
  Other work on this machine would decide the figures. Stop builds, tests and helpers, wait
  for the load to fall, and run again; or pass --force to measure anyway (noise, not results).
EOF
        exit 1
    fi
    cat >&2 <<EOF
################################################################################
shapes.sh: WARNING: the 1-minute load average is $load, above $MAX_LOAD.
  Measuring anyway (--force): these figures are noise, not results.
################################################################################
EOF
fi

cd "$ROOT"
make --no-print-directory bench-deps
make --no-print-directory bench-build
invoked="bench/shapes.sh --runs $runs${quick:+ --quick} --only $only"
[ ${#allocators[@]} -eq 0 ] || invoked+=" ${allocators[*]}"
[ "$force" = 0 ] || invoked+=" --force (load average $load at the start)"
exec /usr/bin/python3 bench/run_bench.py --runs "$runs" "${quick[@]}" --only "$only" \
    "${allocators[@]}" --results bench/results/threads --summary --invoked-as "$invoked"
