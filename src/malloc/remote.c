/* remote.c - free's slow paths: a block of a slab the calling thread does not own (pushed onto
 * the slab's remote list with one compare-and-swap, or under the class lock once the owner has
 * left), the remote free that brings a full slab's last block back (it gives the slab back to
 * the pool), the owner's own free of a block of a slab that is not its current one, and the
 * one that emptied a slab or took it off the full list. */
#include "heap.h"
#include "pool.h"
#include "slab_list.h"
#include "thread.h"

/* Under the owner record's lock: m is still that record's full slab, and every block it had
 * out is on its remote list; then it leaves the list and goes back to the pool. */
static void give_back_full(aslab__mslab *m, aslab__heap_rec *rec) {
    aslab__rec_lock(rec);
    uint32_t out = __atomic_load_n(&m->full_used, __ATOMIC_ACQUIRE);
    uintptr_t word = __atomic_load_n(&m->remote, __ATOMIC_ACQUIRE);
    if (m->on_list != ASLAB__ON_FULL || __atomic_load_n(&m->heap, __ATOMIC_RELAXED) != rec ||
        out == 0 || (word & ASLAB__REMOTE_COUNT) / ASLAB__REMOTE_ONE != out) {
        aslab__rec_unlock(rec);
        return;
    }
    __atomic_store_n(&m->full_used, 0, __ATOMIC_RELAXED);
    aslab__list_del(&rec->classes[m->cls].full, m);
    aslab__rec_unlock(rec);
    m->used = out;
    aslab__pool_collect_remote(m);
    aslab__pool_return(m);
}

aslab__remote_flag aslab__remote;

/* Pushes p onto m's remote list with one compare-and-swap; returns the new remote word, or 0
 * when m is abandoned (nothing pushed). p's word 1 already holds the free key. */
static inline uintptr_t push_remote(aslab__mslab *m, void *p) {
    if (ASLAB__UNLIKELY(!__atomic_load_n(&aslab__remote.pushed, __ATOMIC_RELAXED)))
        __atomic_store_n(&aslab__remote.pushed, 1, __ATOMIC_RELAXED);
    uintptr_t *obj = p, slab = (uintptr_t)aslab__slab_of(m);
    uintptr_t word = __atomic_load_n(&m->remote, __ATOMIC_RELAXED), next;
    do {
        if (ASLAB__UNLIKELY(word & ASLAB__ABANDONED)) return 0;
        uintptr_t head = word >> 32 != 0 ? slab + (word >> 32) : (uintptr_t)m; /* m ends it */
        obj[0] = aslab__link_encode(head, p);
        next = ((uintptr_t)p - slab) << 32 | ((word & ASLAB__REMOTE_COUNT) + ASLAB__REMOTE_ONE);
    } while (!__atomic_compare_exchange_n(&m->remote, &word, next, 1, __ATOMIC_SEQ_CST,
                                          __ATOMIC_RELAXED));
    return next;
}

/* The remote free that pushed `next` may have brought a full slab's last block back. */
static inline int maybe_last(aslab__mslab *m, uintptr_t next) {
    uint32_t out = __atomic_load_n(&m->full_used, __ATOMIC_SEQ_CST);
    return out != 0 && (next & ASLAB__REMOTE_COUNT) / ASLAB__REMOTE_ONE == out;
}

__attribute__((noinline)) static void last_block_back(aslab__mslab *m) {
    aslab__heap_rec *rec = __atomic_load_n(&m->heap, __ATOMIC_ACQUIRE);
    if (rec != NULL) give_back_full(m, rec);
}

/* m was abandoned when p's free looked: under the class lock, or pushed after all if m has
 * been adopted since. */
__attribute__((noinline)) static void free_to_abandoned(aslab__mslab *m, void *p) {
    uintptr_t next;
    while (!aslab__pool_free_abandoned(m, p))
        if ((next = push_remote(m, p)) != 0) {
            if (maybe_last(m, next)) last_block_back(m);
            return;
        }
}

/* The fast path raced with an adoption: the calling thread owns p's slab after all. */
__attribute__((noinline)) static void free_adopted(void *p, aslab__slab *slab, unsigned cls) {
    int over = aslab__class_is_medium(cls) && aslab__medium_freed(p, aslab__mslab_of(slab));
    aslab__free_local(p, slab, aslab__keys.free);
    if (over) aslab__medium_discard();
}

/* p, a checked free block of slab, which another thread owns or which is abandoned, is marked
 * free and goes onto the slab's remote list, or under the class lock. */
static inline __attribute__((always_inline)) void push_to_owner(void *p, aslab__slab *slab,
                                                                uintptr_t key) {
    aslab__mslab *m = aslab__mslab_of(slab);
    ((uintptr_t *)p)[1] = key;
    uintptr_t next = push_remote(m, p);
    if (ASLAB__UNLIKELY(next == 0))
        free_to_abandoned(m, p);
    else if (ASLAB__UNLIKELY(maybe_last(m, next)))
        last_block_back(m);
}

/* Whether p, a slot's start, is not free already: its word 1 is not the free key (the fault is
 * reported when it is). */
static inline int not_freed(void *p, const char *fn) {
    if (ASLAB__UNLIKELY(aslab__carries_key(p, aslab__keys.free))) {
        aslab__heap_fault_at(fn, "double free detected", p);
        return 0;
    }
    return 1;
}

/* The checks of a free of p, a block of a small class (map byte `byte`) of slab, that the
 * owner's path does not make: the slot, by the class's tables, and a double free. 0 when p
 * fails them (the fault is reported). */
static inline int checked_small(void *p, aslab__slab *slab, uintptr_t byte, const char *fn) {
    uintptr_t first = (uintptr_t)slab + aslab__regions.slot_offset[byte];
    if (ASLAB__UNLIKELY(!aslab__slot_starts(p, first, byte))) {
        aslab__free_invalid(p, aslab__map_class((unsigned)byte), fn);
        return 0;
    }
    return not_freed(p, fn);
}

/* The same for a block of any class: a medium one needs its index too, for its clean bit. */
static inline int checked_other(void *p, aslab__slab *slab, uintptr_t byte, const char *fn) {
    if (byte > ASLAB_MAP_SMALL_BIAS) return checked_small(p, slab, byte, fn);
    uint32_t index = aslab__slot_in(p, slab, byte);
    if (ASLAB__UNLIKELY(index == UINT32_MAX)) {
        aslab__free_invalid(p, aslab__map_class((unsigned)byte), fn);
        return 0;
    }
    if (ASLAB__UNLIKELY(aslab__carries_key(p, aslab__keys.free) ||
                        aslab__block_clean(aslab__mslab_of(slab), index))) {
        aslab__heap_fault_at(fn, "double free detected", p);
        return 0;
    }
    return 1;
}

/* A free of p into a slab whose owner word said NULL: an abandoned slab's block, or no lent
 * slab's at all (the lent magic decides), or a slab adopted since. */
__attribute__((noinline)) static void free_ownerless(void *p, aslab__slab *slab, uintptr_t byte,
                                                     const char *fn) {
    if (ASLAB__UNLIKELY(slab->magic != aslab__lent_magic_for(slab))) {
        aslab__free_invalid(p, aslab__map_class((unsigned)byte), fn);
        return;
    }
    if (!checked_other(p, slab, byte, fn)) return;
    if (__atomic_load_n(&slab->owner, __ATOMIC_ACQUIRE) == aslab__owner_tag()) {
        free_adopted(p, slab, aslab__map_class((unsigned)byte));
        return;
    }
    push_to_owner(p, slab, aslab__keys.free);
}

/* aslab__free_other of a medium block: out of line, so that the small blocks' path is
 * straight. */
__attribute__((noinline)) static void free_other_medium(void *p, uintptr_t byte, aslab__slab *slab,
                                                        const char *fn) {
    if (checked_other(p, slab, byte, fn)) push_to_owner(p, slab, aslab__keys.free);
}

/* p, a checked free small block of class cls, another thread's, goes onto the calling
 * thread's kept list k (with room) for its mallocs: counted as a remote free (the ones given
 * back, by the owner that takes them). */
static inline __attribute__((always_inline)) void keep(void *p, intptr_t cls, aslab__mslab *k) {
    aslab__thread_heap.cur[cls] = &k->hot;
    aslab__kept_push(k, p, aslab__keys.free);
}

/* The same once a malloc came since frees of the class stopped: the list takes frees again,
 * or p goes home. Out of line, so that aslab__free_other needs no stack frame. */
__attribute__((noinline)) static void reopen_or_send_home(void *p, aslab__slab *slab,
                                                          intptr_t cls) {
    aslab__mslab *k = aslab__kept_taking(cls);
    if (k != NULL)
        keep(p, cls, k);
    else
        push_to_owner(p, slab, aslab__keys.free);
}

/* p, a checked free small block of class cls of slab, another thread's, is kept for the
 * calling thread's mallocs while its list has room, or sent home. Every call a tail call:
 * aslab__kept_taking's common case written out, its rare one out of line. */
static inline __attribute__((always_inline)) void keep_or_send_home(void *p, aslab__slab *slab,
                                                                    intptr_t cls) {
    aslab__mslab *k = aslab__thread_heap.keep[cls];
    if (ASLAB__LIKELY(k->used != 0))
        keep(p, cls, k);
    else if (ASLAB__UNLIKELY(aslab__kept_may_reopen(cls)))
        reopen_or_send_home(p, slab, cls);
    else
        push_to_owner(p, slab, aslab__keys.free);
}

/* Kept without a stack frame of its own: everything rare is a tail call. A non-NULL owner
 * word stands for the lent magic, as on the owner's own path (heap.h): the core sets it on a
 * lent slab only and clears it when the slab comes back, and a slab's header holds nothing
 * else of the malloc's. The class is taken from the byte only where it is needed; the tables
 * are indexed by the byte itself. */
void aslab__free_other(void *p, uintptr_t byte, aslab__slab *slab, const char *fn, void *owner) {
    if (ASLAB__UNLIKELY(owner == NULL)) {
        free_ownerless(p, slab, byte, fn);
        return;
    }
    if (byte <= ASLAB_MAP_SMALL_BIAS) { /* a medium block: never kept */
        free_other_medium(p, byte, slab, fn);
        return;
    }
    if (!checked_other(p, slab, byte, fn)) return;
    /* Kept for this thread's mallocs or sent home. Had the thread adopted the slab since the
     * caller read the owner (a malloc in a signal handler between the two), the block would be
     * kept, or pushed onto a remote list of the thread's own: both are taken back correctly. */
    keep_or_send_home(p, slab, (intptr_t)byte - ASLAB_MAP_SMALL_BIAS);
}

/* The thread's own block of class cls once a malloc came since the class's frees stopped: the
 * list opens again first, since aslab__free_small gives a block of the current slab to the
 * slab without asking, and a class whose blocks all lie in its current slab (bulk's smallest)
 * would stay stopped for good. Out of line, so that aslab__free_lent_small needs no stack
 * frame (the consumer of prodcons comes there for every free: 14% of its time). */
__attribute__((noinline)) static void reopen_and_free_small(void *p, uintptr_t cls,
                                                            const char *fn) {
    aslab__kept_reopen((unsigned)cls);
    aslab__free_small(p, cls + ASLAB_MAP_SMALL_BIAS, fn);
}

void aslab__free_lent_small(void *p, uintptr_t cls, const char *fn) {
    uintptr_t byte = cls + ASLAB_MAP_SMALL_BIAS;
    aslab__slab *slab = aslab__slab_by_byte(p, byte);
    void *owner = __atomic_load_n(&slab->owner, __ATOMIC_ACQUIRE);
    if (owner == aslab__owner_tag() || owner == NULL) { /* its own, or abandoned */
        if (ASLAB__UNLIKELY(aslab__kept_may_reopen((intptr_t)cls)))
            reopen_and_free_small(p, cls, fn);
        else
            aslab__free_small(p, byte, fn);
        return;
    }
    if (not_freed(p, fn)) keep_or_send_home(p, slab, (intptr_t)cls);
}

int aslab__give_back(void *p, unsigned cls) {
    aslab__slab *slab = aslab__slab_at(p, cls);
    if (__atomic_load_n(&slab->owner, __ATOMIC_ACQUIRE) == aslab__owner_tag()) {
        free_adopted(p, slab, cls); /* its own, or a slab it adopted since */
        return 0;
    }
    push_to_owner(p, slab, aslab__keys.free);
    return 1;
}

/* p, the calling thread's own free block of small class cls of slab, goes onto its kept list
 * k (not full), which `cur` then names: the next malloc of the class takes p back. The checks
 * are those of another thread's block (the slot by the class's tables, the double-free key),
 * so that neither line of the slab's state is read. */
static inline __attribute__((always_inline)) void own_push(void *p, uintptr_t byte,
                                                           aslab__slab *slab, const char *fn,
                                                           intptr_t cls, aslab__mslab *k) {
    if (!checked_small(p, slab, byte, fn)) return;
    aslab__thread_heap.cur[cls] = &k->hot;
    aslab__kept_push(k, p, aslab__keys.free);
}

/* The thread's own block of a small class, not found by the fast path: onto the kept list
 * while it has room (or the check turns it back on: kept.c), otherwise onto its slab's list. */
void aslab__free_small_owned(void *p, uintptr_t byte, aslab__slab *slab, const char *fn) {
    intptr_t cls = (intptr_t)byte - ASLAB_MAP_SMALL_BIAS;
    aslab__mslab *k = aslab__kept_taking(cls);
    if (k != NULL) {
        own_push(p, byte, slab, fn, cls, k);
        return;
    }
    aslab__free_owned(p, slab, byte, fn, aslab__push_small);
}

/* m is on the partial list and now empty, or on the full list and gained a block: back on the
 * partial list, or kept empty (empty.c), or given back to the pool. The current slab never
 * gets here: its phantom use keeps `used` above 0 (or its state is the thread's
 * copy, and the slab's own count starts at ASLAB__HOT_USED: hot.c). */
void aslab__free_local_slow(aslab__mslab *m) {
    unsigned cls = m->cls;
    aslab__heap_rec *rec = aslab__thread_heap.rec;
    aslab__batch_slab_forget(); /* it may be m, about to go back (batch.c) */
    aslab__rec_lock(rec);
    /* no list (a slab on none is current or being changed), or kept empty (empty.c): either
     * way no block of it was out */
    if (ASLAB__UNLIKELY(m->on_list == ASLAB__ON_NONE || m->on_list == ASLAB__ON_EMPTY))
        aslab__heap_fault("free()", "more blocks freed than allocated in this slab",
                          aslab__slab_of(m));
    __atomic_store_n(&m->full_used, 0, __ATOMIC_RELEASE);
    aslab__heap_list_unlink(cls, m);
    m->used &= ~ASLAB__FULL;
    if (m->used != 0) {
        aslab__heap_list_push(cls, m, ASLAB__ON_PARTIAL);
        aslab__rec_unlock(rec);
        return;
    }
    int kept = aslab__empty_keep(rec, m);
    aslab__rec_unlock(rec);
    if (kept) return;
    aslab__medium_gives(m);
    aslab__pool_return(m);
}
