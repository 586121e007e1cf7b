/* lazy_table.c - tables in .bss made writable a page at a time (lazy_table.h). */
#include "lazy_table.h"

#include "os.h"

#include <sched.h>

#define PAGE ((uintptr_t)1 << ASLAB__LAZY_PAGE_SHIFT)

/* Maps t's whole pages again, read-only, over themselves. */
static void remap(aslab__lazy_table *t) {
    uintptr_t lo = ((uintptr_t)t->start + PAGE - 1) & ~(PAGE - 1);
    uintptr_t hi = ((uintptr_t)t->start + t->size) & ~(PAGE - 1);
    if (hi <= lo || aslab__os_page_size() != PAGE) return;
    if (aslab__os_map_fixed_readonly((void *)lo, hi - lo)) t->lo = lo, t->hi = hi;
}

/* The remap, once, before any write; a caller that comes meanwhile waits for it. */
void aslab__lazy_prepare(aslab__lazy_table *t) {
    if (__atomic_load_n(&t->state, __ATOMIC_ACQUIRE) == 2) return;
    int expected = 0;
    if (__atomic_compare_exchange_n(&t->state, &expected, 1, 0, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE)) {
        remap(t);
        __atomic_store_n(&t->state, 2, __ATOMIC_RELEASE);
        return;
    }
    while (__atomic_load_n(&t->state, __ATOMIC_ACQUIRE) != 2)
        sched_yield();
}

int aslab__lazy_writable(aslab__lazy_table *t, const void *from, const void *to) {
    aslab__lazy_prepare(t);
    uintptr_t first = (uintptr_t)from >> ASLAB__LAZY_PAGE_SHIFT;
    uintptr_t last = ((uintptr_t)to - 1) >> ASLAB__LAZY_PAGE_SHIFT;
    for (uintptr_t at = first; at <= last; at++) {
        uintptr_t addr = at << ASLAB__LAZY_PAGE_SHIFT;
        if (addr < t->lo || addr >= t->hi) continue; /* .bss as it was */
        size_t bit = (addr - t->lo) >> ASLAB__LAZY_PAGE_SHIFT;
        uint64_t mask = (uint64_t)1 << (bit % 64);
        if (__atomic_load_n(&t->writable[bit / 64], __ATOMIC_ACQUIRE) & mask) continue;
        if (!aslab__os_make_writable((void *)addr, PAGE)) return 0;
        __atomic_fetch_or(&t->writable[bit / 64], mask, __ATOMIC_RELEASE);
    }
    return 1;
}

void aslab__lazy_fork_child(aslab__lazy_table *t) {
    if (__atomic_load_n(&t->state, __ATOMIC_RELAXED) == 1)
        __atomic_store_n(&t->state, 0, __ATOMIC_RELAXED);
}
