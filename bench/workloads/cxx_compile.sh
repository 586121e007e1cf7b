#!/usr/bin/env bash
# cxx_compile.sh SOURCE OUTPUT - compiles SOURCE (from gen_cxx.py) with g++ -O2 into the object
# file OUTPUT and prints the object's SHA-256: the compiler's output must not depend on the
# allocator it ran on. The driver, cc1plus and as all run under the allocator being measured.
set -euo pipefail
src=${1:?usage: cxx_compile.sh SOURCE OUTPUT}
out=${2:?usage: cxx_compile.sh SOURCE OUTPUT}
g++ -O2 -frandom-seed=aslab -c "$src" -o "$out"
echo "cxx_compile: $(sha256sum <"$out" | cut -d' ' -f1)"
