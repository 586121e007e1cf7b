/* fault.c - heap corruption and misuse found by the malloc: one line naming the fault and the
 * address, then abort. */
#include "heap.h"
#include "os.h"

void aslab__heap_fault_at(const char *fn, const char *fault, const void *p) {
    aslab__os_fatal(fn, fault, p);
}

void *aslab__list_fault(const void *block) {
    aslab__os_fatal("malloc()", "corrupted free list (a write after free?)", block);
    return NULL;
}

void aslab__free_invalid(const void *p, unsigned cls, const char *fn) {
    const aslab__slab *slab = aslab__slab_at(p, cls);
    if (slab->magic != aslab__lent_magic_for(slab))
        aslab__os_fatal(fn, "invalid pointer (no live aslab slab there)", p);
    aslab__os_fatal(fn, "invalid pointer (not the start of a block)", p);
}
