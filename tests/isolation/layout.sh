#!/usr/bin/env bash
# layout.sh LIBRARY - what every process that preloads the library maps of it stays small
# (docs/footprint.md):
#   - aslab's own code lies before all of the fallback's (jemalloc's cold and start-up code
#     included), so that a program that never asks the fallback for a block runs code from the
#     first ~100 KiB of the text only (the kernel maps 64 KiB around each fault in a file);
#   - no DT_FINI: its empty _fini sits at the far end of the text, and an exit ran it;
#   - the relative relocations are packed (DT_RELR), so ld.so reads a table of under 1 KiB,
#     not one of 32 KiB.
# A library built with FALLBACK=libc has no fallback code: the order is not checked.
set -euo pipefail
lib=$1
fail=0

# Text symbols in address order: aslab's (its aslab* names; aslab__je_* are either jemalloc's
# renamed public names or aslab's stand-ins for what jemalloc calls, and are left out) and the
# fallback's (its internal je_* names). The last of aslab's must come before the first of the
# fallback's.
read -r last_own first_fallback < <(nm -n --defined-only "$lib" | awk '
    $2 !~ /^[tT]$/ { next }
    { name = $3; sub(/\..*/, "", name) }
    name ~ /^je_/ { if (fb == "") { fb = $1; fb_at = NR } next }
    name ~ /^aslab/ && name !~ /^aslab__je_/ { own = $1; own_at = NR }
    END {
        if (own == "") print "none none"
        else if (fb == "") print own, "none"
        else if (own_at > fb_at) print own, fb " late"
        else print own, fb
    }')
if [ "$last_own" = none ]; then
    echo "FAIL: layout: no aslab text symbols found in $lib" >&2
    fail=1
elif [[ $first_fallback == *late ]]; then
    echo "FAIL: layout: aslab code up to 0x$last_own, after the fallback's first at 0x${first_fallback% late}" >&2
    fail=1
fi

dynamic=$(readelf -d "$lib")
if grep -q '(FINI)' <<<"$dynamic"; then
    echo "FAIL: layout: the library has a DT_FINI" >&2
    fail=1
fi
if ! grep -q '(RELR)' <<<"$dynamic"; then
    echo "FAIL: layout: the library's relative relocations are not packed (no DT_RELR)" >&2
    fail=1
fi
if [ $fail -eq 0 ]; then
    fallback_at="from 0x$first_fallback"
    [ "$first_fallback" = none ] && fallback_at="absent"
    echo "layout: aslab code up to 0x$last_own, the fallback's $fallback_at; no DT_FINI; DT_RELR"
fi
exit $fail
