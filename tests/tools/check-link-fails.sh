#!/usr/bin/env bash
# check-link-fails.sh CC LIBASLAB
# A program that calls the core but does not define the allocation hooks must not link, and
# the linker must name the missing hooks. The same program with the hooks must link.
set -euo pipefail
cc=$1; lib=$2
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
cat >"$dir/use.c" <<'C'
#include <aslab.h>
#include <stdlib.h>
#ifdef WITH_HOOKS
static void *hook_alloc(size_t size, size_t align) { return aligned_alloc(align, size); }
static aslab_error hook_free(void *slab, size_t size, size_t align) {
    (void)size, (void)align;
    free(slab);
    return ASLAB_OK;
}
ASLAB_DEFINE_ALLOCATION_HOOKS(hook_alloc, hook_free);
#endif
int main(void) {
    aslab_cache *cache;
    return aslab_cache_create(&cache, 16, 8, 4096, NULL) == ASLAB_OK ? aslab_cache_release(cache) : 1;
}
C
if "$cc" -Iinclude "$dir/use.c" "$lib" -o "$dir/a.out" 2>"$dir/err"; then
    echo "FAIL: a program without allocation hooks linked" >&2; exit 1
fi
grep -q aslab_hook_slab_alloc "$dir/err" || { echo "FAIL: link error does not name the hook" >&2; cat "$dir/err" >&2; exit 1; }
"$cc" -Iinclude -DWITH_HOOKS "$dir/use.c" "$lib" -o "$dir/a.out"
"$dir/a.out"
echo "check-link: without hooks the link fails (undefined aslab_hook_slab_alloc); with them it links and runs"
