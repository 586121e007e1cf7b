#!/usr/bin/env bash
# run.sh BUILD_DIR: make test-link. Links a program each way README.md's "Linking" shows,
# with the commands as written there (each must be a line of README.md), for the core
# (core_prog.c, on its own hooks) and the malloc (malloc_prog.c, which checks that its
# malloc_stats() is aslab's), in a directory laid out like the repository's root (include/,
# build/, prog.c), and runs each program:
#   build-shared    from build/ with -Wl,-rpath,$PWD/build
#   build-static    the archives (and -lpthread for the malloc)
#   prefix-shared   make install PREFIX=$prefix, pkg-config, LD_LIBRARY_PATH
#   prefix-rpath    the same with the program's rpath instead of LD_LIBRARY_PATH
#   prefix-static   pkg-config --static, cc -static
#   prefix-aslab-run  the installed aslab-run on a program linked with glibc's malloc
# Checks the installed files (SONAMEs, links, no rpath, pkg-config) and that make uninstall
# leaves no file in the prefix. Prints the matrix way x library -> ok/FAIL and the reasons
# of each FAIL; exits 1 if any. With FALLBACK=libc (the library built with make
# FALLBACK=libc) the malloc cannot be linked -static: its fallback is glibc's malloc, whose
# object in libc.a defines malloc as well; that cell is n/a.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WAYS=(build-shared build-static prefix-shared prefix-rpath prefix-static prefix-aslab-run)
LIBS=(core malloc)
declare -A SONAME=([core]=libaslab.so.0 [malloc]=libaslab_malloc.so.0)
declare -A EXPECT=([core]='core: ' [malloc]='malloc: aslab')

# The README's commands. Single quotes: $PWD and $prefix are the shell's, at run time.
# shellcheck disable=SC2016
declare -A LINK=(
    [build-shared.core]='cc prog.c -Iinclude -Lbuild -Wl,-rpath,$PWD/build -laslab -o prog'
    [build-shared.malloc]='cc prog.c -Lbuild -Wl,-rpath,$PWD/build -laslab_malloc -o prog'
    [build-static.core]='cc prog.c -Iinclude build/libaslab.a -o prog'
    [build-static.malloc]='cc prog.c build/libaslab_malloc.a -lpthread -o prog'
    [prefix-shared.core]='cc prog.c $(pkg-config --cflags --libs aslab) -o prog'
    [prefix-shared.malloc]='cc prog.c $(pkg-config --cflags --libs aslab-malloc) -o prog'
    [prefix-rpath.core]='cc prog.c $(pkg-config --cflags --libs aslab) -Wl,-rpath,$prefix/lib -o prog'
    [prefix-rpath.malloc]='cc prog.c $(pkg-config --cflags --libs aslab-malloc) -Wl,-rpath,$prefix/lib -o prog'
    [prefix-static.core]='cc -static prog.c $(pkg-config --static --cflags --libs aslab) -o prog'
    [prefix-static.malloc]='cc -static prog.c $(pkg-config --static --cflags --libs aslab-malloc) -o prog'
)
# shellcheck disable=SC2016
{
    INSTALL='make install PREFIX=$prefix'
    UNINSTALL='make uninstall PREFIX=$prefix'
    PREFIX_ENV='export PKG_CONFIG_PATH=$prefix/lib/pkgconfig LD_LIBRARY_PATH=$prefix/lib'
    RUN='./prog'
}

usage() {
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
}

# in_readme CMD: true if CMD is a line of README.md, its trailing comment aside.
in_readme() {
    grep -Fx -- "$1" "$WORK/readme-lines" >/dev/null
}

# readme CMD: runs CMD as README.md shows it, or fails if README.md does not show it.
readme() {
    in_readme "$1" || { echo "not a line of README.md: $1" && return 1; }
    eval "$1"
}

# linkage WAY LIB: why ./prog is not linked as WAY says, if it is not.
linkage() {
    local way=$1 soname=${SONAME[$2]} needed loaded
    needed=$(readelf -d prog | sed -nE 's/.*\(NEEDED\).*\[(.*)\]/\1/p')
    case $way in
    build-shared | prefix-shared | prefix-rpath)
        local dir=$PWD/build
        [ "$way" = build-shared ] || dir=$prefix/lib
        loaded=$(ldd ./prog | grep -F "$soname" || true)
        grep -Fxq "$soname" <<<"$needed" || echo "does not need $soname (needs: ${needed//$'\n'/ })"
        grep -Fq "$soname => $dir/$soname " <<<"$loaded" || echo "not loaded from $dir: $loaded"
        ;;
    build-static)
        ! grep -q '^libaslab' <<<"$needed" || echo "needs a shared aslab library: $needed"
        ;;
    prefix-static)
        ! readelf -l prog | grep INTERP >/dev/null || echo "not statically linked (has a PT_INTERP)"
        ;;
    esac
}

# link_and_run WAY LIB: prints the reasons WAY fails for LIB; nothing if it works.
link_and_run() {
    local way=$1 lib=$2 out status=0
    [[ $way != prefix-* ]] || eval "$PREFIX_ENV"
    [ "$way" = prefix-shared ] || unset LD_LIBRARY_PATH
    if [ "$way" = prefix-aslab-run ]; then
        [ "$lib" = malloc ] || return 0
        cc prog.c -o prog
        out=$("$prefix/bin/aslab-run" ./prog 2>&1) || status=$?
    else
        readme "${LINK[$way.$lib]}" 2>&1 || { echo "link failed" && return 0; }
        linkage "$way" "$lib"
        in_readme "$RUN" || echo "not a line of README.md: $RUN"
        out=$(eval "$RUN" 2>&1) || status=$?
    fi
    [ "$status" = 0 ] || echo "exit status $status"
    [[ $out == "${EXPECT[$lib]}"* ]] || echo "output: $out"
}

# check_library NAME VERSION: the installed NAME.so.VERSION, its SONAME link and its dev link.
check_library() {
    local lib=$prefix/lib/$1 dynamic
    [ -f "$lib.so.$2" ] && [ ! -L "$lib.so.$2" ] || echo "$1.so.$2 is not a file"
    [ "$(readlink "$lib.so.0")" = "$1.so.$2" ] || echo "$1.so.0 does not link to $1.so.$2"
    [ "$(readlink "$lib.so")" = "$1.so.0" ] || echo "$1.so does not link to $1.so.0"
    [ -f "$lib.a" ] || echo "$1.a is missing"
    dynamic=$(readelf -d "$lib.so.$2")
    grep -Fq "Library soname: [$1.so.0]" <<<"$dynamic" || echo "$1.so.$2: SONAME is not $1.so.0"
    ! grep -Eq '\((RPATH|RUNPATH)\)' <<<"$dynamic" || echo "$1.so.$2 has an rpath"
}

# check_install VERSION: prints what is wrong with the installed files; nothing if all is right.
check_install() {
    check_library libaslab "$1"
    check_library libaslab_malloc "$1"
    eval "$PREFIX_ENV"
    local pc
    for pc in aslab aslab-malloc; do
        pkg-config --validate "$pc" || echo "$pc.pc does not validate"
        [ "$(pkg-config --modversion "$pc")" = "$1" ] || echo "$pc.pc: version is not $1"
    done
    [ "$(pkg-config --libs aslab-malloc)" = "-L$prefix/lib -laslab_malloc " ] ||
        echo "pkg-config --libs aslab-malloc: $(pkg-config --libs aslab-malloc)"
    [ "$(pkg-config --static --libs aslab-malloc)" = "-L$prefix/lib -laslab_malloc -lpthread " ] ||
        echo "pkg-config --static --libs aslab-malloc: $(pkg-config --static --libs aslab-malloc)"
    [ "$(pkg-config --static --libs aslab)" = "-L$prefix/lib -laslab " ] ||
        echo "pkg-config --static --libs aslab: $(pkg-config --static --libs aslab)"
    [ -f "$prefix/include/aslab.h" ] || echo "include/aslab.h is missing"
    "$prefix/bin/aslab-run" --version | grep -F "$prefix/lib/libaslab_malloc.so.0" >/dev/null ||
        echo "aslab-run --version: $("$prefix/bin/aslab-run" --version)"
}

# verdict NAME PROBLEMS: records ok or FAIL for NAME; the reasons go to $WORK/reasons.
verdict() {
    if [ -z "$2" ]; then
        RESULT[$1]=ok
    else
        RESULT[$1]=FAIL
        FAILED=1
        sed "s/^/    $1: /" <<<"$2" >>"$WORK/reasons"
    fi
}

print_matrix() {
    local way
    echo "test-link: each way README.md shows, run (ok: linked as said, and the program passed)"
    printf '  %-18s %-8s %s\n' way core malloc
    for way in "${WAYS[@]}"; do
        printf '  %-18s %-8s %s\n' "$way" "${RESULT[$way.core]:--}" "${RESULT[$way.malloc]:--}"
    done
    printf '  %-18s %s\n' install "${RESULT[install]} (SONAMEs, links, no rpath, pkg-config files)"
    printf '  %-18s %s\n' uninstall "${RESULT[uninstall]} (no file left in the prefix)"
    if ((FAILED)); then
        echo "FAIL:"
        cat "$WORK/reasons"
    fi
}

main() {
    if [ $# -ne 1 ] || [ ! -d "$1" ]; then usage; fi
    local build way lib version problems
    build=$(cd "$1" && pwd)
    version=$(readlink "$build/libaslab.so.0") && version=${version#libaslab.so.}
    WORK=$(mktemp -d)
    trap 'rm -rf "$WORK"' EXIT
    prefix=$WORK/prefix
    unset LD_PRELOAD LD_LIBRARY_PATH PKG_CONFIG_PATH DESTDIR ASLAB_STATS
    declare -gA RESULT=()
    FAILED=0
    : >"$WORK/reasons"
    sed -E 's/ +# .*$//; s/ +$//' "$ROOT/README.md" >"$WORK/readme-lines"
    problems=$(cd "$ROOT" && readme "$INSTALL" >"$WORK/install.log" 2>&1 ||
        echo "$INSTALL failed: $(tail -5 "$WORK/install.log")")
    [ -n "$problems" ] || problems=$(check_install "$version" 2>&1)
    verdict install "$problems"
    for way in "${WAYS[@]}"; do
        for lib in "${LIBS[@]}"; do
            [ "$way" != prefix-aslab-run ] || [ "$lib" = malloc ] || continue
            if [ "$way.$lib.${FALLBACK:-jemalloc}" = prefix-static.malloc.libc ]; then
                RESULT[$way.$lib]=n/a
                continue
            fi
            local dir=$WORK/$way.$lib
            mkdir -p "$dir"
            ln -s "$ROOT/include" "$dir/include"
            ln -s "$build" "$dir/build"
            cp "$HERE/${lib}_prog.c" "$dir/prog.c"
            problems=$(cd "$dir" && link_and_run "$way" "$lib" 2>&1)
            verdict "$way.$lib" "$problems"
        done
    done
    problems=$(cd "$ROOT" && readme "$UNINSTALL" >"$WORK/uninstall.log" 2>&1 ||
        echo "$UNINSTALL failed: $(tail -5 "$WORK/uninstall.log")")
    [ -n "$problems" ] || problems=$(find "$prefix" ! -type d | sed 's/^/left: /')
    verdict uninstall "$problems"
    print_matrix
    return "$FAILED"
}

main "$@"
