/* medium.h - malloc and free of the medium classes (above ASLAB_SMALL_MAX, up to
 * ASLAB_MEDIUM_MAX), inline for api.c's cold paths: the small fast paths plus the count of
 * free bytes whose pages are resident (medium.c says why and what is done with them). */
#ifndef ASLAB_MALLOC_MEDIUM_H
#define ASLAB_MALLOC_MEDIUM_H

#include "heap.h"

#pragma GCC visibility push(hidden)

static inline void *aslab__malloc_medium(size_t size) {
    unsigned cls = aslab__medium_class_of(size);
    return aslab__pop_fast(aslab__thread_heap.cur[cls], cls, size, 1);
}

/* The owner's push of a medium block: counted as dirty, and a discard pass when that takes
 * the thread past its budget. */
static inline __attribute__((always_inline)) void aslab__push_medium(void *p, aslab__slab *slab,
                                                                     uintptr_t key) {
    if (ASLAB__UNLIKELY(aslab__medium_freed(p, aslab__mslab_of(slab)))) {
        aslab__free_local(p, slab, key);
        aslab__medium_discard();
        return;
    }
    aslab__free_local(p, slab, key);
}

/* The owner's free of medium block p, inline. */
static inline __attribute__((always_inline)) void
aslab__free_medium_owned(void *p, uintptr_t byte, aslab__slab *slab, const char *fn) {
    aslab__free_owned(p, slab, byte, fn, aslab__push_medium);
}

/* Frees p, whose map byte names a medium class, on behalf of fn: as aslab__free_small. */
static inline __attribute__((always_inline)) void aslab__free_medium(void *p, uintptr_t byte,
                                                                     const char *fn) {
    aslab__free_checked(p, aslab__slab_by_byte(p, byte), byte, fn, aslab__free_medium_owned);
}

#pragma GCC visibility pop
#endif
