/* refill.c - malloc's slow path: when the current slab's free list is empty, take the blocks
 * other threads gave back, a medium slab's discarded block, the slab's never-used tail, or
 * make another slab current (a partial one, a full one that got remote frees, an abandoned one, or
 * a new one from the pool); and the per-class lists of a thread's slabs, under its record's lock.
 *
 * Free blocks before never-used ones (docs/thread-owned-slabs.md, "Partial slabs before
 * never-used blocks"). A small class's current slab hands out its never-used tail only while
 * the thread has no partial slab of the class: a partial slab's free blocks lie in pages the
 * program already touched, a never-used block's page is new memory. Otherwise the slab steps
 * aside onto the partial list's end, its tail with it, and the oldest partial slab becomes
 * current; the tail is used once no partial slab is left before it. Before, the current slab
 * took its whole tail first, and where blocks come home to slabs that are no longer current
 * (a ring of threads, an owner's kept list giving blocks back) those slabs stayed nearly
 * empty beside it: oversub's 8 threads held 37 MiB, 33 this way, bulk-remote 21 -> 18.
 * Medium classes keep their order: a never-used medium block's pages are zeroed by the
 * kernel at the program's first write (hot), and calloc need not clear it.
 */
#include "fallback.h"
#include "heap.h"
#include "large.h"
#include "pool.h"
#include "slab_list.h"
#include "thread.h"

#include <errno.h>

/* One extension threads onto the free list the never-used blocks that start in the page where
 * the next one starts (one at least), so that a new slab's memory is touched a page at a time
 * as it is used, not all at once, and a slab that lends a few blocks touches one page of them
 * (each link written is a block's first word). */
#define EXTEND_BYTES 4096
#define FULL_LOOKS   8 /* full slabs checked for remote frees before taking another slab */

static aslab__mslab **list_head(unsigned cls, unsigned list) {
    aslab__class_heap *ch = &aslab__thread_heap.rec->classes[cls];
    if (list == ASLAB__ON_EMPTY) return &ch->empty;
    return list == ASLAB__ON_PARTIAL ? &ch->partial : &ch->full;
}

void aslab__heap_list_push(unsigned cls, aslab__mslab *m, unsigned list) {
    aslab__list_add(list_head(cls, list), m, list);
}

void aslab__heap_list_unlink(unsigned cls, aslab__mslab *m) {
    aslab__list_del(list_head(cls, m->on_list), m);
}

/* Whether m's never-used blocks below `end` are writable, made so if they were not (arena.c:
 * a slab larger than a region is reserved, then made writable as it is used); 0 when the OS
 * refused (strict overcommit's limit). */
static int writable_to(aslab__mslab *m, const char *end) {
    if (ASLAB__LIKELY(end <= m->writable_end)) return 1;
    char *slab = (char *)aslab__slab_of(m);
    m->writable_end = slab + aslab__arena_commit(slab, (size_t)(end - slab));
    return end <= m->writable_end;
}

/* The never-used block at m's bump, next to the last one handed out or threaded, carries the
 * free key (aslab__mark_free) when m's blocks are MARK_MIN_SIZE or more: a free of it then
 * fails as a double free. For blocks under a page, that block starts a page no block before
 * it reaches (an extend threads whole pages), which the mark faults in before its time, in
 * vain if the slab's life ends first: marked in every class, sh8bench's peak RSS rose 5% and
 * larson's 8%. So under MARK_MIN_SIZE the neighbour of a page's last block stays unmarked (1
 * block in 8 at 512 bytes); from 1 KiB, where it is 1 in 2 to 4 and often a new slab's first
 * block (pool.c's colour), the page is worth it. */
#define MARK_MIN_SIZE 1024

static void mark_next_unused(aslab__mslab *m) {
    if (m->size < MARK_MIN_SIZE || m->bump == m->bump_end) return;
    if (writable_to(m, m->bump + 2 * sizeof(uintptr_t))) aslab__mark_free(m->bump);
}

/* m's never-used blocks at its colour's end ran out: the ones before the colour are next. */
static void bump_wrap_around(aslab__mslab *m) {
    m->bump = (char *)m->first;
    m->bump_end = (char *)aslab__slab_of(m) + m->bump_wrap;
    m->bump_wrap = 0;
}

/* Threads up to a page's worth of never-used blocks of small class cls of slab m onto `list`
 * (empty): m's own, or the calling thread's copy of it (hot.c). */
static int extend(aslab__mslab *m, aslab__hot *list, unsigned cls) {
    size_t size = aslab__classes[cls].size;
    if (m->bump == m->bump_end && m->bump_wrap != 0) bump_wrap_around(m);
    size_t room = (size_t)(m->bump_end - m->bump) / size;
    if (room == 0) return 0;
    size_t to_page_end = EXTEND_BYTES - ((uintptr_t)m->bump & (EXTEND_BYTES - 1));
    size_t n = (to_page_end + size - 1) / size; /* the blocks that start before the page ends */
    if (n > room) n = room;
    char *first = m->bump;
    if (!writable_to(m, first + n * size)) return 0;
    /* The keys are read once (the stores might alias them: reloading the link key and the
     * index's multiply were two of the loop's nine instructions; sh8bench threads every block
     * it mallocs here, its slabs emptied and lent again). Each block is free as a push leaves
     * it: its link, and the free key in word 1 (a free of it before malloc hands it out is a
     * double free). */
    uintptr_t next = (uintptr_t)list->free, key = aslab__keys.link, free_key = aslab__keys.free;
    for (char *block = first + (n - 1) * size;; block -= size) { /* n >= 1 */
        ((uintptr_t *)block)[0] = aslab__link_encode_with(next, block, key);
        ((uintptr_t *)block)[1] = free_key;
        next = (uintptr_t)block;
        if (block == first) break;
    }
    list->free = first;
    m->bump = first + n * size;
    mark_next_unused(m);
    return 1;
}

/* Hands out the next never-used block of medium slab m, or NULL. Medium blocks never join
 * the free list before their first use: every listed one counts as dirty (medium.c), and in
 * a slab that came zeroed, every never-used one reads zero. z may be NULL. */
static void *take_fresh(aslab__mslab *m, unsigned cls, aslab__zeroed *z) {
    if (m->bump == m->bump_end) return NULL;
    if (!writable_to(m, m->bump + m->size)) return NULL;
    void **block = (void **)m->bump;
    m->bump += m->size;
    if (z != NULL && m->bump_zero) z->lo = (char *)block, z->hi = m->bump;
    mark_next_unused(m); /* the block's own word 1 is cleared as it is handed out */
    return aslab__handed_out(&m->hot, block, cls);
}

/* A block of m that is on no list: a medium slab's discarded block or never-used one, or a
 * small slab's never-used tail threaded onto the free list; NULL when m has none. */
static void *take_unlisted(aslab__mslab *m, unsigned cls, aslab__zeroed *z) {
    if (!aslab__class_is_medium(cls))
        return extend(m, &m->hot, cls) ? aslab__pop_block(&m->hot, m->free, cls) : NULL;
    if (m->clean != 0) return aslab__medium_take_clean(m, z);
    return take_fresh(m, cls, z);
}

/* The owner takes m's remote list (the blocks count in the thread's medium bytes). */
static uint32_t take_remote(aslab__mslab *m, unsigned cls) {
    uint32_t n = aslab__pool_collect(m, 0);
    aslab__medium_took(m, (uint64_t)n * aslab__classes[cls].size);
    return n;
}

/* Whether the calling thread has a partial slab of small class cls, whose free blocks go
 * before the current slab's never-used ones. Read without the record's lock: only the thread
 * itself changes its partial lists (and were the list empty after all, the slab that steps
 * aside would be the one made current again). */
static int partial_waiting(unsigned cls) {
    aslab__class_heap *ch = &aslab__thread_heap.rec->classes[cls];
    return !aslab__class_is_medium(cls) && __atomic_load_n(&ch->partial, __ATOMIC_RELAXED) != NULL;
}

/* A block of m, the current slab, whose free list is empty; NULL when m has none, or when
 * only its never-used tail is left and a partial slab waits. */
static void *refill(aslab__mslab *m, unsigned cls, aslab__zeroed *z) {
    if (__atomic_load_n(&m->remote, __ATOMIC_RELAXED) != 0 && take_remote(m, cls) != 0)
        return aslab__pop_any(&m->hot, m->free, cls);
    if (partial_waiting(cls)) return NULL;
    return take_unlisted(m, cls, z);
}

/* The current slab is spent: onto the full list, without its phantom use, its count of
 * blocks out published for the remote free that will bring the last one back. */
static void retire_current(unsigned cls, aslab__mslab *m) {
    uint32_t out = m->used - 1;
    m->used = out | ASLAB__FULL;
    aslab__heap_list_push(cls, m, ASLAB__ON_FULL);
    __atomic_store_n(&m->full_used, out, __ATOMIC_SEQ_CST);
    /* A remote free between the refill's look and the store above saw no count to reach
     * (sequentially consistent on both sides: one of the two sees the other). */
    if ((__atomic_load_n(&m->remote, __ATOMIC_SEQ_CST) & ASLAB__REMOTE_COUNT) / ASLAB__REMOTE_ONE ==
        out) {
        __atomic_store_n(&m->full_used, 0, __ATOMIC_RELAXED);
        aslab__heap_list_unlink(cls, m);
        m->used = out;
        aslab__pool_collect(m, 0);
        aslab__pool_return(m);
    }
}

/* Takes m off the full list: no remote free may give it back from now on. */
static void leave_full(unsigned cls, aslab__mslab *m) {
    __atomic_store_n(&m->full_used, 0, __ATOMIC_RELEASE);
    aslab__heap_list_unlink(cls, m);
    m->used &= ~ASLAB__FULL;
}

/* A full slab that other threads gave blocks back to. Looks at a few, rotating the list, so
 * that every full slab is looked at in turn; none until some thread has pushed a block onto a
 * remote list: each look reads a line of a slab the thread has not touched since it filled,
 * and a program that only grows (frag's 1 GiB of small blocks) took a miss for each of 8
 * slabs at every new one (4.6% of its run, perf). */
static aslab__mslab *from_full(unsigned cls) {
    if (!__atomic_load_n(&aslab__remote.pushed, __ATOMIC_RELAXED)) return NULL;
    aslab__mslab **head = list_head(cls, ASLAB__ON_FULL);
    for (int looked = 0; looked < FULL_LOOKS && *head != NULL; looked++) {
        aslab__mslab *m = *head;
        if (__atomic_load_n(&m->remote, __ATOMIC_RELAXED) != 0) {
            leave_full(cls, m);
            take_remote(m, cls); /* at least one block: only the owner takes them */
            return m;
        }
        *head = m->next;
    }
    return NULL;
}

/* The next current slab of class cls, with a free block, a discarded one or a never-used
 * tail: the slabs that hold blocks first (a partial one, a full one that got remote frees, an
 * abandoned one), then an empty one the thread kept, then a new loan. */
static aslab__mslab *next_current(unsigned cls) {
    aslab__mslab *m = *list_head(cls, ASLAB__ON_PARTIAL);
    if (m != NULL) {
        aslab__heap_list_unlink(cls, m);
        aslab__list_order(m);
        return m;
    }
    m = from_full(cls);
    if (m == NULL && (m = aslab__pool_adopt(cls)) != NULL) aslab__medium_adopted(m);
    if (m == NULL) m = aslab__empty_take(aslab__thread_heap.rec, cls);
    if (m == NULL) m = aslab__pool_lend(cls);
    return m;
}

static void *from_fallback(size_t size) {
    void *p = aslab__large_get(size != 0 ? size : 1, 0);
    if (p == NULL) errno = ENOMEM;
    return p;
}

/* The current slab stops being current: a small one with never-used blocks and blocks out
 * steps aside onto the partial list's end (refill gave way to a partial slab), without its
 * phantom use; any other is spent. */
static void step_aside(unsigned cls, aslab__mslab *m) {
    if (!aslab__class_is_medium(cls) && aslab__has_never_used(m) && m->used > 1) {
        m->used--;
        aslab__heap_list_push(cls, m, ASLAB__ON_PARTIAL);
        return;
    }
    retire_current(cls, m);
}

/* A new current slab for class cls, with a block to hand out; NULL when none can be had. */
static aslab__mslab *replace_current(unsigned cls, aslab__mslab *spent) {
    aslab__heap_rec *rec = aslab__thread_heap.rec;
    aslab__rec_lock(rec);
    if (spent != &aslab__no_slab) step_aside(cls, spent);
    aslab__thread_heap.cur[cls] = &aslab__no_slab.hot;
    rec->current[cls] = &aslab__no_slab;
    aslab__mslab *m = next_current(cls);
    if (m != NULL) {
        m->used++; /* the phantom use of the current slab */
        aslab__thread_heap.cur[cls] = &m->hot;
        rec->current[cls] = m;
    }
    aslab__rec_unlock(rec);
    return m;
}

/* The list malloc turns to when h, the list `cur` names for the class of `size`, ran dry (*cls
 * set to that class), or NULL: after a kept list (kept.c), the current slab's; after the
 * current slab's, the kept list, which a free by the map may have added to without naming it
 * (the current slab's blocks while frees of the class stop: the list is empty then). Kept
 * lists are of small classes and name their class. */
static aslab__hot *other_list(size_t size, aslab__hot *h, unsigned *cls) {
    aslab__heap *heap = &aslab__thread_heap;
    if (h == &aslab__no_slab.hot) return NULL; /* no slab, or a dead heap */
    if (aslab__hot_slab(h) == 0) {             /* a kept list, and the heap is live */
        *cls = aslab__mslab_of_hot(h)->cls;
        aslab__batch_end(*cls); /* cur names the empty list while frees are batched (kept.c) */
        return aslab__cur_home(*cls);
    }
    if (size > ASLAB_SMALL_MAX || !heap->may_keep) return NULL;
    *cls = aslab__class_of(size);
    return &heap->rec->kept[*cls].hot;
}

/* Refills in place between two that go the slow way, whose tick (aslab__heap_tick) keeps the
 * memory-return rounds coming in a thread that never runs out of slabs (a producer whose
 * blocks keep coming back). */
#define REFILLS_PER_TICK 16
static __thread unsigned refills __attribute__((tls_model("initial-exec")));

/* h, the calling thread's copy of its current slab's list of class cls (hot.c), ran dry:
 * refilled in place, in the slow path's order: from the blocks the thread itself freed onto
 * the slab's own state meanwhile (a kept list's give-back), from those other threads gave
 * back, or else with a page's worth of the slab's never-used ones unless a partial slab waits
 * (the slow path then makes it current). The slow path would do the same after moving the
 * copy back and the memory-return tick, some 200 instructions more, and a thread that
 * allocates a class steadily comes here every few blocks: every 8 mallocs of 512 B (a producer
 * whose blocks are freed by others). 0 when the slab has none of them (the slow path turns to
 * another slab), or when the slow path's turn has come. */
static int refill_hot(aslab__hot *h, unsigned cls) {
    if (++refills % REFILLS_PER_TICK == 0) return 0;
    aslab__mslab *m = aslab__mslab_of((aslab__slab *)aslab__hot_slab(h));
    if (aslab__hot_take_own(h, m)) return 1;
    if (__atomic_load_n(&m->remote, __ATOMIC_RELAXED) != 0 &&
        aslab__pool_collect_into(m, h, 0) != 0)
        return 1;
    return !partial_waiting(cls) && extend(m, h, cls);
}

/* Turns to the other list here rather than in the slow path (a thread that frees others'
 * blocks one at a time, as in larson, comes here every other malloc). When that list is empty
 * too, the slow path sets `cur` itself (take_block). */
void *aslab__pop_failed(size_t size, aslab__hot *h, void **block) {
    if ((void *)block != aslab__list_end(h)) return aslab__list_fault(block);
    unsigned cls = 0;
    aslab__hot *other = other_list(size, h, &cls);
    if (other == NULL || other->free == aslab__list_end(other)) {
        cls = size <= ASLAB_SMALL_MAX ? aslab__class_of(size) : 0; /* a copy's class, if h is */
        if (cls != 0 && aslab__thread_heap.rec != NULL && h == &aslab__thread_heap.rec->hot[cls] &&
            refill_hot(h, cls))
            return aslab__pop_block(h, h->free, cls);
        return aslab__malloc_slow(size);
    }
    aslab__thread_heap.cur[cls] = other;
    return aslab__pop_any(other, other->free, cls); /* a medium slab's counts its block */
}

/* A block of class cls from the slow path, the current slab's state its own. */
static void *take_block(unsigned cls, aslab__zeroed *z) {
    void *block;
    aslab__mslab *m = aslab__thread_heap.rec->current[cls];
    aslab__thread_heap.cur[cls] = &m->hot; /* it may have named the kept list */
    if (m->free != (void *)m) return aslab__pop_any(&m->hot, m->free, cls); /* hot.c's frees */
    if (m != &aslab__no_slab && (block = refill(m, cls, z)) != NULL) return block;
    m = replace_current(cls, m);
    if (m != NULL) {
        if (m->free != (void *)m) return aslab__pop_any(&m->hot, m->free, cls);
        if ((block = take_unlisted(m, cls, z)) != NULL) return block;
    }
    /* No slab could be had (no address space left), or next_current's slab has a block but the
     * kernel refused to make a never-used one writable (the commit limit, writable_to): the
     * fallback's turn. */
    return from_fallback(aslab__classes[cls].size);
}

/* z: NULL, or what calloc need not clear (left empty where the block is the fallback's). */
static void *slow_path(size_t size, aslab__zeroed *z) {
    void *block;
    if (!aslab__heap_init()) return from_fallback(size);
    if (ASLAB__UNLIKELY(aslab__thread_heap.state != ASLAB_HEAP_LIVE) && !aslab__thread_setup())
        return from_fallback(size); /* set-up nested in itself, or after the thread's exit */
    /* memory return (purge.h), before any lock is taken */
    aslab__heap_tick(1);
    unsigned cls = aslab__class_for(size);
    aslab__batch_end(cls);
    aslab__hot_park(cls);
    block = take_block(cls, z);
    aslab__hot_install(cls);
    return block;
}

void *aslab__malloc_slow(size_t size) {
    return slow_path(size, NULL);
}

void *aslab__calloc_slow(size_t size, aslab__zeroed *z) {
    return slow_path(size, z);
}
