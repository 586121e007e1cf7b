/* batch.c - a free-only phase's frees of the thread's own small blocks, given back to their
 * slabs a batch at a time (session 25; docs/thread-owned-slabs.md, "Free-only phases in
 * batches").
 *
 * When a small class's kept list fills with no malloc of the class since it last filled, and
 * most of its blocks were the thread's own (kept.c), the class's frees stop going onto the
 * list and come here instead: free's fast path has checked the block by the table of lent
 * slabs (it starts a slot of a lent slab of the class), this checks the double-free key, marks
 * the block free and puts it in the thread's batch, ASLAB__BATCH_BLOCKS blocks of any class.
 * No line of the block's slab is read. When the batch is full, the slab lines of its blocks are
 * prefetched and each block goes to its slab (its own, or home by its owner's remote list: the
 * owner is not known until then), the misses overlapping: one by one, each random free touched
 * a second page, its slab's first, and the longer path left fewer of the program's own reads
 * in flight (frag's free phase 0.40-0.45 -> 0.35-0.37 s). A block in the same page as the one
 * taken before (so of the same slab) goes to its slab at once: that slab's lines are at hand,
 * and a phase that frees in allocation order (sh8bench's 200,000 blocks at a time) paid the
 * batch's stores and loads for nothing (session 37, docs/thread-owned-slabs.md). That slab,
 * when it is the thread's own, becomes the heap's batch_slab, and the phase's next frees into
 * it go onto its list in free itself (heap.h, aslab__batch_free_inline), told by the table
 * entry free has read for the block, with no owner read: only this thread can make the slab
 * stop being its own, and every way it can (a free that empties the slab or takes it off the
 * full list, the phase's start and end, a block that waits in the batch, the exit) clears
 * batch_slab first (session 40).
 *
 * What waits here is bounded for the whole thread, not per class: at most ASLAB__BATCH_BLOCKS
 * - 1 blocks, and so as many slabs, wait on a thread that goes quiet (a list per class left up
 * to 15 blocks of each of ~32 classes on mem_patterns' burst: 12 MiB more after its last free).
 * The thread's exit, malloc_trim and the memory-return round it runs give the batch back
 * (aslab__kept_flush). A malloc of the class ends the phase: while it lasts `cur` names the
 * class's empty kept list, so that malloc misses, and the slow path sets the class stopped
 * (aslab__batch_end); its next free goes the way it went before, which opens the list again,
 * and no free of the phase tests whether it is over. The batch is
 * the thread's alone; the statistics read what is in it (relaxed) to count those blocks as
 * free.
 */
#include "heap.h"

#define PAGE_SHIFT    12 /* blocks this close are in one slab (every slab is 64 KiB or more) */
/* Set in the heap's batch_last while blocks wait in the batch: above every user address, so
 * that no block is in its page. */
#define BATCH_WAITING ((uintptr_t)1 << 63)

/* The thread's own blocks of a free-only phase wait in its heap's batch (thread-local: the
 * fast paths' TLS base). Written by the owner with relaxed atomic stores, so that the
 * statistics may read them from another thread. */
static inline void batch_put(aslab__heap *h, void *p, uintptr_t cls) {
    uint32_t n = h->batched;
    __atomic_store_n(&h->batch[n], p, __ATOMIC_RELAXED);
    __atomic_store_n(&h->batch_cls[n], (uint8_t)cls, __ATOMIC_RELAXED);
    __atomic_store_n(&h->batched, n + 1, __ATOMIC_RELAXED);
}

void aslab__batch_flush(void) {
    aslab__heap *h = &aslab__thread_heap;
    uint32_t n = h->batched;
    /* emptied first, so that a flush reached from a give-back's slow path finds nothing to
     * give back twice */
    __atomic_store_n(&h->batched, 0, __ATOMIC_RELAXED);
    h->batch_last &= ~BATCH_WAITING;
    for (uint32_t i = 0; i < n; i++) {
        char *slab = (char *)aslab__slab_at(h->batch[i], h->batch_cls[i]);
        __builtin_prefetch(slab, 0);      /* the owner word */
        __builtin_prefetch(slab + 64, 1); /* the state an own block's push writes */
    }
    for (uint32_t i = 0; i < n; i++)
        aslab__give_back(h->batch[i], h->batch_cls[i]);
}

/* p (checked, class cls) goes to its slab now if it is in the page of the block taken before,
 * or waits in the batch. A slab of the thread's own that takes a block now is the one the
 * phase's next frees go straight to (batch_slab), until a block of another slab comes. */
static void batch_take(aslab__heap *h, void *p, uintptr_t cls) {
    if ((((uintptr_t)p ^ h->batch_last) & ~BATCH_WAITING) >> PAGE_SHIFT == 0) {
        /* the slab's lines are at hand; what waits is then the previous page's block at most,
         * not one of each of 16 pages (a quiet thread's batch would pin their slabs) */
        if (h->batched != 0) aslab__batch_flush();
        h->batch_last = (uintptr_t)p;
        /* set first: the free that empties the slab clears it (aslab__free_local_slow) */
        h->batch_entry = aslab__lent_entry(p);
        h->batch_slab = aslab__slab_at(p, (unsigned)cls);
        if (aslab__give_back(p, (unsigned)cls)) aslab__batch_slab_forget(); /* another's slab */
        return;
    }
    aslab__batch_slab_forget();
    aslab__mark_free(p); /* free while it waits */
    batch_put(h, p, cls);
    h->batch_last = (uintptr_t)p | BATCH_WAITING;
    if (ASLAB__UNLIKELY(h->batched == ASLAB__BATCH_BLOCKS)) aslab__batch_flush();
}

void aslab__batch_free(void *p, uintptr_t cls, const char *fn) {
    if (ASLAB__UNLIKELY(aslab__carries_key(p, aslab__keys.free))) {
        aslab__heap_fault_at(fn, "double free detected", p);
        return;
    }
    batch_take(&aslab__thread_heap, p, cls);
}

uint32_t aslab__batch_count(const aslab__heap *h, unsigned cls) {
    uint32_t n = __atomic_load_n(&h->batched, __ATOMIC_RELAXED), count = 0;
    for (uint32_t i = 0; i < n && i < ASLAB__BATCH_BLOCKS; i++)
        count += __atomic_load_n(&h->batch_cls[i], __ATOMIC_RELAXED) == cls;
    return count;
}
