/* pool.h - each size class's pool of slabs: whole slabs lent to threads by the class's core
 * cache and returned to it, the slabs of exited threads (abandoned) and their adoption, and
 * the class's counters. Everything here is a slow path, taken per slab, never per block.
 *
 * Lock order, which fork_prepare (init.c) follows: the registry of heap records, a record,
 * the class-cache creation lock, a class lock, the class's core cache lock (inside
 * aslab_slab_*), the arena's lock (inside the core's hooks).
 */
#ifndef ASLAB_MALLOC_POOL_H
#define ASLAB_MALLOC_POOL_H

#include "heap.h"

#pragma GCC visibility push(hidden)

typedef struct aslab__class_stats {
    /* merged from heaps as their threads exit (live heaps are added at report time) */
    uint64_t allocs, frees_remote;
    /* updated with relaxed atomics */
    uint64_t slabs_lent, slabs_returned, slabs_out_peak;
    uint64_t lock_taken, lock_contended; /* the class lock */
    uint64_t abandoned, adopted;
} aslab__class_stats;

extern aslab__class_stats aslab__pool_stats[ASLAB_CLASS_SLOTS];

/* Raises *peak to the slabs out, lent - returned: `lent` as the lend just counted made it,
 * `returned` read after. Other threads' lends and returns between the two reads may make
 * `returned` the larger (a thread preempted between them while others churn: 200 threads
 * coming and going); the difference is then stale and nothing is noted, where the unsigned
 * subtraction wrapped and the statistics printed a peak of 2^64 - 1. */
static inline void aslab__out_peak_raise(uint64_t *peak, uint64_t lent, uint64_t returned) {
    if (returned >= lent) return;
    uint64_t out = lent - returned, seen = __atomic_load_n(peak, __ATOMIC_RELAXED);
    while (out > seen &&
           !__atomic_compare_exchange_n(peak, &seen, out, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}

/* Lends a slab of `cache` (aslab_slab_lend); *zeroed says whether it reads zero: it was grown
 * for this loan from a slab the arena noted as zero (aslab__arena_zero_note). 0 on failure. */
int aslab__pool_lend_noting_zero(aslab_cache *cache, aslab_slab_loan *loan, int *zeroed);
/* An empty slab of class cls from its core cache, owned by the calling thread, its state
 * set up; NULL when the arena cannot grow. */
aslab__mslab *aslab__pool_lend(unsigned cls);
/* Gives m, with no block out, back to the class's core cache. */
void aslab__pool_return(aslab__mslab *m);
/* Says `tag` (a thread pointer, or NULL for nobody) as m's owner in its slab's header. */
void aslab__pool_set_owner(aslab__mslab *m, void *tag);
/* Takes m's remote list, putting `mark` (0, or ASLAB__ABANDONED) in its place, and splices
 * it in front of m->free; returns how many blocks it held. */
uint32_t aslab__pool_collect(aslab__mslab *m, uintptr_t mark);
/* The same onto `into`, m's own list or the calling thread's copy of it (hot.c), which
 * counts the blocks. */
uint32_t aslab__pool_collect_into(aslab__mslab *m, aslab__hot *into, uintptr_t mark);
/* aslab__pool_collect by a thread that does not own m (the free that brings a full slab's
 * last block back): the blocks count in the class's total, since that thread may have no
 * heap record to merge its own counts at its exit (one that never mallocs). */
uint32_t aslab__pool_collect_remote(aslab__mslab *m);
/* The calling thread is leaving: m (on no list, its used count without flags) becomes
 * everybody's, or goes back to the pool if nothing in it is live. */
void aslab__pool_abandon(aslab__mslab *m);
/* An abandoned slab of class cls with a free block, now owned by the calling thread; or
 * NULL. */
aslab__mslab *aslab__pool_adopt(unsigned cls);
/* Frees p into m, which was abandoned when the caller looked; returns 0 if m has been
 * adopted since (the caller then pushes onto its remote list again). */
int aslab__pool_free_abandoned(aslab__mslab *m, void *p);

/* Futex sleeps and wake-ups on class cls's locks (its class lock and its core cache's). */
void aslab__pool_lock_counts(unsigned cls, unsigned *sleeps, unsigned *wakes);
/* Blocks out in the abandoned slabs of class cls. */
uint64_t aslab__pool_abandoned_live(unsigned cls);

void aslab__pool_fork_prepare(void);
void aslab__pool_fork_parent(void);
void aslab__pool_fork_child(void);

#pragma GCC visibility pop
#endif
