#!/bin/sh
# mem_table.sh - the memory-return table: tests/stress/mem_patterns.c's six patterns under
# glibc, aslab and the four allocators Debian ships (LD_PRELOAD), one fresh process each.
# Each cell: resident MiB above the program's start 2 s after the last free, and (in
# brackets) the peak resident MiB. Not part of make test; `make mem-table` runs it.
#
#   tests/stress/mem_table.sh [BUILD_DIR]
set -u
build=${1:-build}
lib=/usr/lib/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
allocators="glibc=
aslab=$(cd "$build" && pwd)/libaslab_malloc.so
jemalloc=$lib/libjemalloc.so.2
mimalloc=$lib/libmimalloc.so.2
tcmalloc=$lib/libtcmalloc_minimal.so.4
tbbmalloc=$lib/libtbbmalloc_proxy.so.2"
patterns="burst prodcons exit random large sparse"

# One run: prints "after_mib (peak_mib)", or why there is no figure.
cell() {
    preload=$1 pattern=$2
    if [ -n "$preload" ] && [ ! -e "$preload" ]; then echo "not installed"; return; fi
    out=$(env -u MALLOC_CONF -u GLIBC_TUNABLES -u ASLAB_DECAY_MS -u ASLAB_DIRTY_MAX_MB \
          -u ASLAB_BACKGROUND_THREAD LD_PRELOAD="$preload" \
          "$build/mem_patterns" --pattern "$pattern" 2>&1 | grep '^result')
    if [ -z "$out" ]; then echo "failed"; return; fi
    echo "$out" | awk '{ printf "%.1f (%.0f)", ($8 - $4) / 1024, $6 / 1024 }'
}

header="| pattern |" rule="|---|"
for a in $allocators; do header="$header ${a%%=*} |" rule="$rule---|"; done
echo "Resident MiB above the start 2 s after the last free (peak MiB), $(date -u +%Y-%m-%d)"
echo
echo "$header"
echo "$rule"
for p in $patterns; do
    row="| $p |"
    for a in $allocators; do row="$row $(cell "${a#*=}" "$p") |"; done
    echo "$row"
done
