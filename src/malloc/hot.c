/* hot.c - the thread's copies of its current small slabs' list states (aslab__heap_rec.hot).
 *
 * malloc pops, and free pushes onto, the free list of a class's current slab many times for
 * each time the slab changes. Kept in the slab (the line after the core's header), that state
 * is one line per class at an address aligned to the slab's size, and free reads the header's
 * owner word besides: when a program streams more data than the L1 cache holds between two
 * uses of a class, both lines are gone (docs/thread-owned-slabs.md). So while a small slab is
 * current its list state lives in the thread's heap record (outside TLS: heap.h), 32 bytes a
 * class side by side, and the free path knows a block is of that slab, the caller's own, by
 * the slot test against the copy's slot 0 (`first`), without finding or reading the block's
 * slab.
 *
 * Meanwhile the slab's own state holds a list of its own, empty at first (`free` names the
 * state, which is where the copy's list ends too), and a count of ASLAB__HOT_USED. A free can
 * still reach it, since the slab's owner word is the thread's: one made while `cur` names the
 * kept list, or a kept block given back to a slab the thread adopted since. Such frees push
 * onto the slab's own list and count down from ASLAB__HOT_USED, far from 0, as on any slab of
 * the thread's. Every slow path works on the slab's own state and moves the copy back first
 * (aslab__hot_park), joining the two lists and counts. Other threads never read the copied
 * fields: their frees use `remote`, which stays in the slab; the statistics read the copy.
 */
#include "heap.h"

void aslab__hot_install(unsigned cls) {
    aslab__heap *h = &aslab__thread_heap;
    aslab__heap_rec *rec = h->rec;
    if (cls > ASLAB_SMALL_CLASSES || rec->hot[cls].first != 0) return;
    aslab__mslab *m = rec->current[cls];
    if (m == &aslab__no_slab) return;
    rec->hot[cls] = m->hot;
    m->free = m;
    m->used = ASLAB__HOT_USED;
    if (h->cur[cls] == &m->hot) h->cur[cls] = &rec->hot[cls];
}

/* Puts the copy's list (head `first`, not empty) after the blocks freed onto m's own list. */
static void join_lists(aslab__mslab *m, void *first) {
    if (m->free == (void *)m) {
        m->free = first;
        return;
    }
    uintptr_t *tail = m->free, *next;
    while ((void *)(next = aslab__list_next(&m->hot, tail, "free()")) != (void *)m)
        tail = next;
    tail[0] = aslab__link_encode((uintptr_t)first, tail);
}

int aslab__hot_take_own(aslab__hot *copy, aslab__mslab *m) {
    if (m->free == (void *)m) return 0;
    copy->free = m->free; /* both lists end at m: m's becomes the copy's as it is */
    copy->used -= ASLAB__HOT_USED - m->used;
    m->free = m;
    m->used = ASLAB__HOT_USED;
    return 1;
}

void aslab__hot_park(unsigned cls) {
    aslab__heap *h = &aslab__thread_heap;
    if (cls > ASLAB_SMALL_CLASSES || h->rec->hot[cls].first == 0) return;
    aslab__hot *copy = &h->rec->hot[cls];
    aslab__mslab *m = aslab__mslab_of((aslab__slab *)aslab__hot_slab(copy));
    uint32_t freed_here = ASLAB__HOT_USED - m->used;
    if (copy->free != (void *)m) join_lists(m, copy->free);
    m->used = copy->used - freed_here;
    copy->first = 0;
    if (h->cur[cls] == copy) h->cur[cls] = &m->hot;
}

void aslab__hot_park_all(void) {
    for (unsigned cls = 1; cls <= ASLAB_SMALL_CLASSES; cls++)
        aslab__hot_park(cls);
}

void aslab__hot_install_all(void) {
    for (unsigned cls = 1; cls <= ASLAB_SMALL_CLASSES; cls++)
        aslab__hot_install(cls);
}
