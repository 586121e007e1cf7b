#!/usr/bin/env bash
# symbols.sh BUILD_DIR EXPORTS_LIST - what libaslab_malloc.so and libaslab_malloc.a define for
# the rest of the program: the .so the malloc API of EXPORTS_LIST (from preload/exports.map),
# the .a that API and the core's public aslab_* names, nothing else (no jemalloc name, public
# or je_*, no malloc_conf, no hook, no aslab__ internal). Only glibc's __libc_* names may be
# missing: the FALLBACK=libc build leaves them to glibc.
set -euo pipefail
build=$1 exports=$2
fail=0

so_names=$(nm -D --defined-only "$build/libaslab_malloc.so" | awk 'NF == 3 {print $3}' | sort -u)
a_names=$(nm --defined-only "$build/libaslab_malloc.a" 2>/dev/null |
    awk 'NF == 3 && $2 ~ /[A-Z]/ {print $3}' | sort -u)
api=$(sort -u "$exports")
required=$(grep -v '^__libc_' <<<"$api")

extra=$(comm -23 <(echo "$so_names") <(echo "$api"))
missing=$(comm -13 <(echo "$so_names") <(echo "$required"))
if [ -n "$extra$missing" ]; then
    echo "FAIL: libaslab_malloc.so exports beyond the API: [${extra//$'\n'/ }]," \
        "misses: [${missing//$'\n'/ }]" >&2
    fail=1
fi

core=$(grep -x 'aslab_[a-z].*' <<<"$a_names" || true)
extra=$(comm -23 <(echo "$a_names") <(printf '%s\n' "$api" "$core" | sort -u))
missing=$(comm -13 <(echo "$a_names") <(echo "$required"))
hooks=$(grep -x 'aslab_hook_.*' <<<"$core" || true)
if [ -n "$extra$missing$hooks" ]; then
    echo "FAIL: libaslab_malloc.a defines beyond the API and the core:" \
        "[${extra//$'\n'/ } ${hooks//$'\n'/ }], misses: [${missing//$'\n'/ }]" >&2
    fail=1
fi

# The libraries it loads: libc (pthreads are in it) and the dynamic linker, not libm (0.3 MiB
# of resident memory in every process; src/malloc/fallback_jemalloc_math.c).
needed=$(readelf -d "$build/libaslab_malloc.so" | awk '/NEEDED/ {print $NF}' | tr -d '[]' |
    grep -v -e '^libc\.so' -e '^ld-linux' || true)
if [ -n "$needed" ]; then
    echo "FAIL: libaslab_malloc.so needs more than libc: [${needed//$'\n'/ }]" >&2
    fail=1
fi

echo "symbols: libaslab_malloc.so exports $(wc -l <<<"$so_names") names (the malloc API);" \
    "libaslab_malloc.a defines $(wc -l <<<"$a_names") global names" \
    "($(wc -l <<<"$core") of them the core's aslab_*)"
exit $fail
