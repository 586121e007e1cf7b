/* heap.h - the malloc's small-object heap: one core cache per size class behind a
 * thread-local cache per thread, and the inline fast paths of malloc and free.
 *
 * Thread cache: per class, a LIFO list threaded through the free objects' first word, with a
 * count and a limit. malloc pops, free pushes; neither takes a lock or an atomic instruction.
 * A bin whose limit is 0 sends every call to the slow path, which is how a thread that has
 * not set up its cache yet, or that is exiting, is handled without a flag test on the fast
 * path. The slow path refills or flushes a batch under the class cache's lock
 * (aslab_alloc_bulk / aslab_free_bulk).
 *
 * Safety on free, all O(1) and before any write:
 * - ownership: the arena's byte map says whether the address is in one of our regions;
 *   a pointer outside goes to the fallback untouched;
 * - the slab header found by masking must carry the magic for its own address, and the
 *   pointer must be on a slot boundary of that slab: otherwise "invalid pointer", abort;
 * - word 1 of a free object holds a per-process random key; finding it there on free means
 *   the object is already free: "double free detected", abort. malloc clears it.
 */
#ifndef ASLAB_MALLOC_HEAP_H
#define ASLAB_MALLOC_HEAP_H

#include "../slab.h"
#include "arena.h"
#include "size_class.h"

#include <stddef.h>
#include <stdint.h>

#define ASLAB_TLS __attribute__((tls_model("initial-exec")))

/* Everything declared below is internal to the library: direct references, no GOT. */
#pragma GCC visibility push(hidden)

typedef struct aslab__bin {
    void *head;        /* free objects, linked through their first word */
    uint32_t count;    /* objects on the list */
    uint32_t limit;    /* most the list may hold; 0 = always take the slow path */
    uint64_t requests; /* allocations served, merged into the global stats in batches */
    uint32_t fill;     /* objects the next refill takes: starts small, doubles to the batch */
    uint32_t pad;      /* 32 bytes, like aslab__class_check: free indexes both with one shift */
} aslab__bin;

enum aslab__tcache_state { ASLAB_TC_NEW, ASLAB_TC_SETUP, ASLAB_TC_LIVE, ASLAB_TC_DEAD };

typedef struct aslab__tcache {
    aslab__bin bins[ASLAB_CLASS_SLOTS];
    int state;
} aslab__tcache;

/* Per class, what the free path needs to check a pointer without reading the master. */
typedef struct aslab__class_check {
    uintptr_t slab_mask; /* ~(slab size - 1) */
    uint64_t div_mul;    /* slot index = (offset * div_mul) >> div_shift */
    uint32_t div_shift;
    uint32_t size;
    uint64_t pad; /* 32 bytes: indexing is a shift */
} aslab__class_check;

extern __thread aslab__tcache aslab__tc ASLAB_TLS;
extern aslab__class_check aslab__checks[ASLAB_CLASS_SLOTS];
extern aslab_cache *aslab__class_cache[ASLAB_CLASS_SLOTS];
extern uintptr_t aslab__free_key;

/* ---- heap.c / tcache.c: the slow paths ---- */
/* Sets the heap up once; 0 while the calling thread is itself inside the set-up (a malloc
 * nested in it), when the caller must use the fallback. */
int aslab__heap_init(void);
/* The class's core cache, created on first use; NULL if it cannot be. */
aslab_cache *aslab__class_cache_get(unsigned cls);
/* size <= ASLAB_SMALL_MAX; the class is recomputed after set-up (the lookup table is empty
 * before it). */
__attribute__((noinline)) void *aslab__malloc_slow(size_t size);
__attribute__((noinline)) void aslab__free_slow(void *p, unsigned cls);
/* Heap corruption: prints "aslab: <fn>: <fault> <address>" and aborts. */
__attribute__((noreturn, noinline, cold)) void aslab__heap_fault(const char *fn, const char *fault,
                                                                 const void *p);
/* The same, without the noreturn attribute, so that fast paths reach it by a tail jump and
 * need no stack frame of their own. It does not return. */
__attribute__((noinline, cold)) void aslab__heap_fault_at(const char *fn, const char *fault,
                                                          const void *p);
void aslab__tcache_flush_all(void);
/* Hands every class cache's empty slabs (its reserve included) back to the arena; returns
 * how many. The round does this, so a quiet class keeps nothing. */
size_t aslab__heap_release_empty(void);
/* A slow path ran (a refill, a large malloc or free): runs the memory-return round when it
 * is due (purge.h), one clock read when not. `from_malloc` also lets it start the optional
 * background thread: a free never does. Call with no lock held. */
void aslab__heap_tick(int from_malloc);
void aslab__stats_print(void);
int aslab__trim(void);

/* Why p, in a region of class cls, is not the start of a slot of a live slab, or NULL if
 * it is. A pointer below the first slot (in the header) makes the unsigned offset wrap far
 * beyond the slab, which the index test rejects: with index < capacity, index * size <
 * slab size, so it cannot equal such an offset. */
static inline const char *aslab__slot_fault(const void *p, unsigned cls) {
    const aslab__class_check *check = &aslab__checks[cls];
    uintptr_t addr = (uintptr_t)p;
    const aslab__slab *slab = (const aslab__slab *)(addr & check->slab_mask);
    if (ASLAB__UNLIKELY(slab->magic != aslab__magic_for(slab)))
        return "invalid pointer (no live aslab slab there)";
    uint32_t offset = (uint32_t)(addr - (uintptr_t)slab) - slab->data_offset;
    uint32_t index = (uint32_t)(((uint64_t)offset * check->div_mul) >> check->div_shift);
    if (ASLAB__UNLIKELY(index >= slab->capacity || index * check->size != offset))
        return "invalid pointer (not the start of a block)";
    return NULL;
}

/* As aslab__slot_fault, aborting on a fault. */
static inline void aslab__check_slot(const void *p, unsigned cls, const char *fn) {
    const char *fault = aslab__slot_fault(p, cls);
    if (ASLAB__UNLIKELY(fault != NULL)) aslab__heap_fault(fn, fault, p);
}

static inline void *aslab__malloc_small(size_t size) {
    unsigned cls = aslab__class_of(size);
    aslab__bin *bin = &aslab__tc.bins[cls];
    void **obj = bin->head;
    if (ASLAB__UNLIKELY(obj == NULL)) return aslab__malloc_slow(size);
    bin->head = obj[0];
    bin->count--;
    bin->requests++;
    obj[1] = NULL; /* no longer free: clear the double-free key */
    return obj;
}

/* Frees p, already checked to be a slot of class cls, on behalf of function fn. */
static inline void aslab__free_push(void *p, unsigned cls, const char *fn) {
    uintptr_t *obj = p;
    const uintptr_t key = aslab__free_key;
    if (ASLAB__UNLIKELY(obj[1] == key)) {
        aslab__heap_fault_at(fn, "double free detected", p);
        return;
    }
    aslab__bin *bin = &aslab__tc.bins[cls];
    if (ASLAB__UNLIKELY(bin->count >= bin->limit)) {
        aslab__free_slow(p, cls);
        return;
    }
    obj[0] = (uintptr_t)bin->head;
    obj[1] = key;
    bin->head = obj;
    bin->count++;
}

/* Frees p, known to be in a region of class cls, on behalf of function fn. */
static inline void aslab__free_small(void *p, unsigned cls, const char *fn) {
    const char *fault = aslab__slot_fault(p, cls);
    if (ASLAB__UNLIKELY(fault != NULL)) {
        aslab__heap_fault_at(fn, fault, p);
        return;
    }
    aslab__free_push(p, cls, fn);
}

#pragma GCC visibility pop
#endif
