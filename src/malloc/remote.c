/* remote.c - free's slow paths: a block of a slab the calling thread does not own (pushed onto
 * the slab's remote list with one compare-and-swap, or under the class lock once the owner has
 * left), and the owner's own free that emptied a slab or took it off the full list. */
#include "heap.h"
#include "pool.h"
#include "thread.h"

/* Pushes p onto m's remote list, or frees it under the class lock once m is abandoned. */
static void free_remote(aslab__mslab *m, void *p, unsigned cls) {
    uintptr_t *obj = p;
    obj[1] = aslab__free_key;
    if (aslab__thread_heap.state == ASLAB_HEAP_NEW) aslab__thread_setup(); /* to count it */
    aslab__thread_heap.frees_remote[cls]++;
    uintptr_t head = __atomic_load_n(&m->remote, __ATOMIC_RELAXED);
    for (;;) {
        if (head == ASLAB__ABANDONED) {
            if (aslab__pool_free_abandoned(m, p)) return;
            head = __atomic_load_n(&m->remote, __ATOMIC_RELAXED); /* adopted meanwhile */
            continue;
        }
        obj[0] = aslab__link_encode(head, p);
        if (__atomic_compare_exchange_n(&m->remote, &head, (uintptr_t)p, 1, __ATOMIC_RELEASE,
                                        __ATOMIC_RELAXED))
            return;
    }
}

void aslab__free_other(void *p, unsigned cls, const char *fn) {
    aslab__slab *slab = (aslab__slab *)((uintptr_t)p & aslab__checks[cls].slab_mask);
    if (slab->magic != aslab__lent_magic_for(slab) || aslab__off_slot(p, slab, cls))
        aslab__free_invalid(p, cls, fn);
    if (((uintptr_t *)p)[1] == aslab__free_key) aslab__heap_fault(fn, "double free detected", p);
    if (__atomic_load_n(&slab->owner, __ATOMIC_ACQUIRE) == aslab__owner_tag(slab)) {
        aslab__free_local(p, slab,
                          aslab__free_key); /* the fast path raced with this thread's adoption */
        return;
    }
    free_remote(aslab__mslab_of(slab), p, cls);
}

/* m is on the partial list and now empty, or on the full list and gained a block. The current
 * slab never gets here: its phantom use keeps `used` above 0. */
void aslab__free_local_slow(aslab__mslab *m) {
    unsigned cls = m->cls;
    if (ASLAB__UNLIKELY(m->on_list == ASLAB__ON_NONE))
        aslab__heap_fault("free()", "more blocks freed than allocated in this slab",
                          aslab__slab_of(m));
    aslab__heap_list_unlink(cls, m);
    m->used &= ~ASLAB__FULL;
    if (m->used != 0) {
        aslab__heap_list_push(cls, m, ASLAB__ON_PARTIAL);
        return;
    }
    aslab__pool_return(m);
}
