/* refill.c - malloc's slow path: when the current slab's free list is empty, take the blocks
 * other threads gave back, extend the list into the slab's never-used tail, or make another
 * slab current (a partial one, a full one that got remote frees, an abandoned one, or a new
 * one from the pool); and the per-class lists of a thread's slabs. */
#include "fallback.h"
#include "heap.h"
#include "pool.h"
#include "slab_list.h"
#include "thread.h"

#include <errno.h>

/* Most blocks one extension threads onto the free list: about a page's worth, so that a new
 * slab's memory is touched as it is used, not all at once. */
#define EXTEND_BYTES 4096
#define FULL_LOOKS   8 /* full slabs checked for remote frees before taking another slab */

static aslab__mslab **list_head(unsigned cls, unsigned list) {
    aslab__class_heap *ch = &aslab__thread_heap.classes[cls];
    return list == ASLAB__ON_PARTIAL ? &ch->partial : &ch->full;
}

void aslab__heap_list_push(unsigned cls, aslab__mslab *m, unsigned list) {
    aslab__list_add(list_head(cls, list), m, list);
}

void aslab__heap_list_unlink(unsigned cls, aslab__mslab *m) {
    aslab__list_del(list_head(cls, m->on_list), m);
}

/* Threads up to a page's worth of never-used blocks onto m's (empty) free list. */
static int extend(aslab__mslab *m, unsigned cls) {
    size_t size = aslab__classes[cls].size;
    size_t room = (size_t)(m->bump_end - m->bump) / size;
    if (room == 0) return 0;
    size_t n = EXTEND_BYTES / size;
    if (n == 0) n = 1;
    if (n > room) n = room;
    char *first = m->bump;
    uintptr_t next = (uintptr_t)m->free;
    for (size_t i = n; i-- > 0;) {
        char *block = first + i * size;
        *(uintptr_t *)block = aslab__link_encode(next, block);
        next = (uintptr_t)block;
    }
    m->free = first;
    m->bump = first + n * size;
    return 1;
}

static int refill(aslab__mslab *m, unsigned cls) {
    if (__atomic_load_n(&m->remote, __ATOMIC_RELAXED) != 0 && aslab__pool_collect(m, 0) != 0)
        return 1;
    return extend(m, cls);
}

/* The current slab is spent: onto the full list, without its phantom use. */
static void retire_current(unsigned cls, aslab__mslab *m) {
    m->used = (m->used - 1) | ASLAB__FULL;
    aslab__heap_list_push(cls, m, ASLAB__ON_FULL);
}

/* A full slab that other threads gave blocks back to. Looks at a few, rotating the list, so
 * that every full slab is looked at in turn. */
static aslab__mslab *from_full(unsigned cls) {
    aslab__mslab **head = &aslab__thread_heap.classes[cls].full;
    for (int looked = 0; looked < FULL_LOOKS && *head != NULL; looked++) {
        aslab__mslab *m = *head;
        if (__atomic_load_n(&m->remote, __ATOMIC_RELAXED) != 0) {
            aslab__list_del(head, m);
            m->used &= ~ASLAB__FULL;
            aslab__pool_collect(m, 0); /* at least one block: only the owner takes them */
            return m;
        }
        *head = m->next;
    }
    return NULL;
}

/* The next current slab of class cls, with a free block or a never-used tail. */
static aslab__mslab *next_current(unsigned cls) {
    aslab__class_heap *ch = &aslab__thread_heap.classes[cls];
    aslab__mslab *m = ch->partial;
    if (m != NULL) {
        aslab__heap_list_unlink(cls, m);
        return m;
    }
    m = from_full(cls);
    if (m == NULL) m = aslab__pool_adopt(cls);
    if (m == NULL) m = aslab__pool_lend(cls);
    return m;
}

/* Pops a block of m, whose free list is not empty. */
static void *pop(aslab__mslab *m, unsigned cls) {
    void **block = m->free;
    uintptr_t next = aslab__link_encode((uintptr_t)block[0], block);
    if (ASLAB__UNLIKELY(aslab__link_stray(next, m) != 0))
        aslab__heap_fault("malloc()", "corrupted free list (a write after free?)", block);
    m->free = (void *)next;
    m->used++;
    aslab__thread_heap.allocs[cls]++;
    block[1] = NULL;
    return block;
}

static void *from_fallback(size_t size) {
    void *p = aslab__fb_malloc(size != 0 ? size : 1);
    if (p == NULL) errno = ENOMEM;
    return p;
}

void *aslab__malloc_slow(size_t size) {
    if (!aslab__heap_init()) return from_fallback(size);
    if (ASLAB__UNLIKELY(aslab__thread_heap.state != ASLAB_HEAP_LIVE) && !aslab__thread_setup())
        return from_fallback(size); /* set-up nested in itself, or after the thread's exit */
    unsigned cls = aslab__class_of(size);
    aslab__mslab *m = aslab__thread_heap.cur[cls];
    if (m != &aslab__no_slab) {
        if (refill(m, cls)) return pop(m, cls);
        retire_current(cls, m);
        aslab__thread_heap.cur[cls] = &aslab__no_slab;
    }
    m = next_current(cls);
    if (m == NULL) return from_fallback(aslab__classes[cls].size); /* no address space left */
    m->used++; /* the phantom use of the current slab */
    aslab__thread_heap.cur[cls] = m;
    if (m->free == (void *)m) extend(m, cls);
    return pop(m, cls);
}
