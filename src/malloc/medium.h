/* medium.h - malloc and free of the medium classes (above ASLAB_SMALL_MAX, up to
 * ASLAB_MEDIUM_MAX), inline for api.c's cold paths: the small fast paths plus the count of
 * free bytes whose pages are resident (medium.c says why and what is done with them). */
#ifndef ASLAB_MALLOC_MEDIUM_H
#define ASLAB_MALLOC_MEDIUM_H

#include "heap.h"

#pragma GCC visibility push(hidden)

static inline void *aslab__malloc_medium(size_t size) {
    unsigned cls = aslab__medium_class_of(size);
    aslab__mslab *m = aslab__thread_heap.cur[cls];
    void **block = m->free;
    if (ASLAB__UNLIKELY((void *)block == (void *)m)) return aslab__malloc_slow(size);
    return aslab__pop_medium(m, block, cls);
}

/* Frees p, in a region of medium class cls, on behalf of fn: as aslab__free_small, counting
 * the block as dirty, and discarding when the thread holds more than its budget. */
static inline void aslab__free_medium(void *p, unsigned cls, const char *fn) {
    aslab__slab *slab = (aslab__slab *)((uintptr_t)p & aslab__checks[cls].slab_mask);
    if (ASLAB__UNLIKELY(__atomic_load_n(&slab->owner, __ATOMIC_RELAXED) !=
                        aslab__owner_tag(slab))) {
        aslab__free_other(p, slab, cls, fn);
        return;
    }
    if (ASLAB__UNLIKELY(aslab__off_slot(p, slab, cls))) {
        aslab__free_invalid(p, cls, fn);
        return;
    }
    const uintptr_t key = aslab__free_key;
    if (ASLAB__UNLIKELY(((uintptr_t *)p)[1] == key)) {
        aslab__heap_fault_at(fn, "double free detected", p);
        return;
    }
    if (ASLAB__UNLIKELY(aslab__medium_freed(p, aslab__mslab_of(slab)))) {
        aslab__free_local(p, slab, key);
        aslab__medium_discard();
        return;
    }
    aslab__free_local(p, slab, key);
}

#pragma GCC visibility pop
#endif
