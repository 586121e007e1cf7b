#!/usr/bin/env bash
# run.sh BUILD_DIR BIN_DIR FALLBACK - `make test-isolation`: one allocator per process, and
# clean symbols (tests/isolation/rules.mk builds the programs into BIN_DIR).
set -uo pipefail
build=$1 bin=$2 fallback=$3
preload=$build/libaslab_malloc.so
fail=0
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
ulimit -c 0 # the aborts below are on purpose: no core files

bad() {
    echo "FAIL: $*" >&2
    echo "  stdout: $(head -c 2000 "$out")" >&2
    echo "  stderr: $(head -c 2000 "$err")" >&2
    fail=1
}

# run NAME EXPECTED_RC COMMAND...: runs it with output captured, checks its exit status.
run() {
    local name=$1 want=$2
    shift 2
    local rc
    { "$@" >"$out" 2>"$err"; rc=$?; } 2>/dev/null # no "Aborted" from bash: it is expected
    if [ "$rc" -ne "$want" ]; then
        bad "$name: exit status $rc, expected $want"
        return 1
    fi
    echo "isolation: $name: ok"
}

tests/isolation/symbols.sh "$build" "$build/malloc-$fallback/exports.list" || fail=1
tests/isolation/layout.sh "$preload" || fail=1
# No ASLAB_* variable (the options' names are read-only data): a bare environment.
run "mallocs map none of the library's read-only data" 0 \
    env -i PATH="$PATH" LD_PRELOAD="$preload" "$bin/untouched" && cat "$out"

# The core with the program's own hooks beside the malloc, the core from either library.
run "core + own hooks + libaslab_malloc.a" 0 "$bin/core_and_malloc"
run "core from libaslab.a + own hooks + libaslab_malloc.a" 0 "$bin/core_and_malloc_two_libs"

if [ "$fallback" != jemalloc ]; then
    echo "isolation: the jemalloc checks need FALLBACK=jemalloc: skipped with FALLBACK=$fallback"
    exit $fail
fi

# A program with Debian's libjemalloc: its options are its own (jemalloc's default dirty decay
# is 10 s), from its MALLOC_CONF too, and its blocks go back to it from aslab's free.
for how in preload static; do
    if [ $how = preload ]; then cmd=(env LD_PRELOAD="$preload" "$bin/own_jemalloc"); else
        cmd=("$bin/own_jemalloc_static"); fi
    run "own jemalloc ($how), its defaults" 0 "${cmd[@]}" 10000
    run "own jemalloc ($how), its MALLOC_CONF" 0 env MALLOC_CONF=dirty_decay_ms:7000 "${cmd[@]}" 7000
    # confirm_conf makes every jemalloc that reads MALLOC_CONF list its sources on stderr:
    # only the program's may, and it must find no malloc_conf of aslab's.
    if run "own jemalloc ($how), MALLOC_CONF read once" 0 \
        env MALLOC_CONF=confirm_conf:true "${cmd[@]}" 10000; then
        readers=$(grep -c 'value of the environment variable MALLOC_CONF' "$err")
        [ "$readers" -eq 1 ] || bad "own jemalloc ($how): $readers jemallocs read MALLOC_CONF"
        grep -q 'global variable malloc_conf): ""' "$err" ||
            bad "own jemalloc ($how): its malloc_conf symbol is not empty"
    fi
done

# A library opened with RTLD_DEEPBIND mallocs with libc's malloc (its own lookup finds libc
# first): its block, freed by the program, is none of aslab's, and says so (with FALLBACK=libc
# it would go to glibc's free). Preloaded, jemalloc and mimalloc crash there with SIGSEGV,
# tcmalloc aborts: "Attempt to free invalid pointer".
run "a library's block, the library opened plainly: aslab's" 0 \
    env LD_PRELOAD="$preload" "$bin/deepbind" "$bin/deepbind_lib.so"
if run "a library's block under RTLD_DEEPBIND (libc's malloc), freed: abort" 134 \
    env LD_PRELOAD="$preload" "$bin/deepbind" "$bin/deepbind_lib.so" deep; then
    line="aslab: free(): invalid pointer (not allocated by aslab, and no jemalloc of the program's to take it) $(head -1 "$out")"
    [ "$(cat "$err")" = "$line" ] || bad "deepbind: expected [$line]"
fi

# A program without a jemalloc: aslab's copy reads no MALLOC_CONF, and a pointer of nobody's
# reaching free, realloc or malloc_usable_size is one line and an abort.
for how in preload static; do
    if [ $how = preload ]; then cmd=(env LD_PRELOAD="$preload" "$bin/no_jemalloc"); else
        cmd=("$bin/no_jemalloc_static"); fi
    if run "no jemalloc ($how), MALLOC_CONF ignored" 0 env MALLOC_CONF=confirm_conf:true \
        "${cmd[@]}" large; then
        [ ! -s "$err" ] || bad "no jemalloc ($how): aslab's jemalloc read MALLOC_CONF"
    fi
    for call in free realloc usable free-high; do
        fn=${call%-high}'()'
        [ $call = usable ] && fn='malloc_usable_size()'
        if run "no jemalloc ($how), $call of a pointer of nobody's: abort" 134 "${cmd[@]}" $call; then
            line="aslab: $fn: invalid pointer (not allocated by aslab, and no jemalloc of the program's to take it) $(head -1 "$out")"
            [ "$(cat "$err")" = "$line" ] || bad "no jemalloc ($how), $call: expected [$line]"
        fi
    done
done
exit $fail
