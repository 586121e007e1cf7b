/* bench_hooks.c - the slab hooks shared by the core benchmarks. A slab of a page or more is
 * an anonymous mapping, over-allocated by its alignment and trimmed to a size-aligned block;
 * a smaller one comes from aligned_alloc. The free hook applies the same rule to the size. */
#include "aslab.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#define PAGE ((size_t)4096)

static void *bench_slab_alloc(size_t size, size_t align) {
    if (size < PAGE) return aligned_alloc(align, size);
    size_t span = size + (align > PAGE ? align - PAGE : 0);
    char *raw = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return NULL;
    char *block = (char *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
    size_t head = (size_t)(block - raw), tail = span - head - size;
    if (head != 0) munmap(raw, head);
    if (tail != 0) munmap(block + size, tail);
    return block;
}

static aslab_error bench_slab_free(void *slab, size_t size, size_t align) {
    (void)align;
    if (size < PAGE) {
        free(slab);
        return ASLAB_OK;
    }
    return munmap(slab, size) == 0 ? ASLAB_OK : ASLAB_ERR_INVALID_POINTER;
}

ASLAB_DEFINE_ALLOCATION_HOOKS(bench_slab_alloc, bench_slab_free);
