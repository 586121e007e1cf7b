/* medium.h - malloc and free of the medium classes (above ASLAB_SMALL_MAX, up to
 * ASLAB_MEDIUM_MAX), inline for api.c's cold paths: the small fast paths plus the count of
 * free bytes whose pages are resident (medium.c says why and what is done with them). */
#ifndef ASLAB_MALLOC_MEDIUM_H
#define ASLAB_MALLOC_MEDIUM_H

#include "heap.h"

#pragma GCC visibility push(hidden)

/* The last freed block. A medium class's free list is its slab's, and malloc pops the
 * current slab's: a block freed into another slab of the thread's waits there, cold, until
 * that slab is current again, while malloc hands out blocks the program has not touched for
 * long. So the owner's free of a medium block holds it aside, one per class, and the next
 * malloc of the class takes it while its lines are still in the cache (glibc hands out the
 * chunk just freed the same way; `make stress`: docs/medium-classes.md, "The last freed
 * block"). The block it displaces goes onto its slab's list. A held block is free to every
 * check (word 1 holds the free key, so freeing it again is a double free) but still counted
 * out by its slab, so the slab stays lent; its bytes count as dirty in the thread's medium
 * budget from its free on, and a discard pass first gives every held block to its slab, so
 * that what a thread holds stays within the budget and can be discarded. The thread gives
 * its held blocks back at exit, malloc_trim and each memory-return round too
 * (aslab__medium_release_recent). */

/* The thread's held block of medium class cls (or of class 0 before set-up: none). */
static inline void **aslab__recent_of(unsigned cls) {
    return &aslab__thread_heap.recent[cls];
}

/* Hands out *slot, the held block of medium class cls (not NULL), as malloc's pop would. */
static inline void *aslab__recent_take(void **slot, unsigned cls) {
    uintptr_t *p = *slot;
    *slot = NULL;
    p[1] = 0; /* no longer free */
    aslab__heap *h = &aslab__thread_heap;
    h->medium_room += aslab__classes[cls].size;
    h->allocs[cls]++;
    return p;
}

static inline void *aslab__malloc_medium(size_t size) {
    unsigned cls = aslab__medium_class_of(size);
    void **slot = aslab__recent_of(cls);
    if (*slot != NULL) return aslab__recent_take(slot, cls);
    return aslab__pop_fast(aslab__thread_heap.cur[cls], cls, size, 1);
}

/* Gives the calling thread's held medium blocks to their slabs' lists (they stay dirty). */
void aslab__medium_release_recent(void);

/* The owner's push of a medium block p of slab: held as its class's last freed block, and
 * counted as dirty (a discard pass when that takes the thread past its budget); the block it
 * displaces goes onto its own slab's list. */
static inline __attribute__((always_inline)) void aslab__push_medium(void *p, aslab__slab *slab,
                                                                     uintptr_t key) {
    aslab__mslab *m = aslab__mslab_of(slab);
    unsigned cls = m->cls;
    int over = aslab__medium_freed(p, m);
    void **slot = aslab__recent_of(cls);
    void *displaced = *slot;
    ((uintptr_t *)p)[1] = key;
    *slot = p;
    if (displaced != NULL) aslab__free_local(displaced, aslab__slab_at(displaced, cls), key);
    if (ASLAB__UNLIKELY(over)) aslab__medium_discard();
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
