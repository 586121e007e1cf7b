/* pool.c - lending and returning whole slabs, abandoned slabs and their adoption (pool.h). */
#include "pool.h"

#include "arena.h"
#include "os.h"
#include "slab_list.h"

aslab__class_stats aslab__pool_stats[ASLAB_CLASS_SLOTS];

/* Per class: the lock that guards its abandoned slabs, on a cache line of its own. */
typedef struct class_pool {
    _Alignas(64) uint64_t lock[2];
    aslab__mslab *abandoned;
    int any_abandoned; /* abandoned != NULL, readable without the lock */
} class_pool;

static class_pool pools[ASLAB_CLASS_SLOTS];

/* After a change of the abandoned list, under the class lock. */
static void abandoned_changed(unsigned cls) {
    __atomic_store_n(&pools[cls].any_abandoned, pools[cls].abandoned != NULL, __ATOMIC_RELAXED);
}

static void count(uint64_t *counter, uint64_t n) {
    __atomic_add_fetch(counter, n, __ATOMIC_RELAXED);
}

static void class_lock(unsigned cls) {
    if (!aslab_futexlock.trylock(pools[cls].lock)) {
        count(&aslab__pool_stats[cls].lock_contended, 1);
        aslab_futexlock.lock(pools[cls].lock);
    }
    count(&aslab__pool_stats[cls].lock_taken, 1);
}

static void class_unlock(unsigned cls) {
    aslab_futexlock.unlock(pools[cls].lock);
}

void aslab__pool_set_owner(aslab__mslab *m, void *tag) {
    aslab__slab *slab = aslab__slab_of(m);
    aslab_error err = aslab_slab_set_owner(slab, aslab__class_slab_size(m->cls), tag);
    if (err != ASLAB_OK) aslab__heap_fault("malloc()", aslab_strerror(err), slab);
}

static void note_lent(unsigned cls) {
    aslab__class_stats *st = &aslab__pool_stats[cls];
    uint64_t lent = __atomic_add_fetch(&st->slabs_lent, 1, __ATOMIC_RELAXED);
    aslab__out_peak_raise(&st->slabs_out_peak, lent,
                          __atomic_load_n(&st->slabs_returned, __ATOMIC_RELAXED));
}

int aslab__pool_lend_noting_zero(aslab_cache *cache, aslab_slab_loan *loan, int *zeroed) {
    (void)aslab__arena_zero_note(); /* from an earlier call: see aslab__arena_zero_note */
    if (aslab_slab_lend(cache, NULL, loan) != ASLAB_OK) return 0;
    *zeroed = aslab__arena_zero_note() == loan->slab; /* grown for this loan */
    return 1;
}

/* Where a small slab starts handing out never-used blocks: at a slot its address picks, up to
 * the end, then from slot 0 (extend, refill.c). Every lent slab is aligned to its size, so
 * slot 0 of every slab of every class would sit at the same offset in a page, and a program
 * that uses a few blocks of many classes would crowd them into the same few sets of the
 * 8-way L1 cache (whose sets repeat every 4 KiB) while the rest stay empty: Bonwick's slab
 * colouring, done by the order of first use, so that the slot geometry the free path checks
 * stays one per class. Measured in docs/thread-owned-slabs.md ("Where a slab's blocks start").
 * The slot is one that starts in the slab's first page, whose offsets in a page are all there
 * are: the same spread over the cache's sets, and a slab lent for a few blocks touches one
 * page, the header's, not two (threads that each use a few blocks of many classes). */
static void start_at_colour(aslab__mslab *m, const aslab_slab_loan *loan) {
    uint64_t mixed = (uint64_t)(uintptr_t)loan->slab * 0x9e3779b97f4a7c15ull;
    size_t page = aslab__os_page_size();
    size_t offset = (size_t)((char *)loan->slots - (char *)loan->slab);
    size_t in_first_page = offset < page ? (page - offset + loan->stride - 1) / loan->stride : 1;
    if (in_first_page > loan->capacity) in_first_page = loan->capacity;
    if (in_first_page <= 1) return; /* one slot to choose: slot 0 */
    size_t colour = (size_t)((mixed >> 32) % in_first_page);
    if (colour == 0) return;
    m->bump = (char *)loan->slots + colour * loan->stride;
    m->bump_wrap = (uint32_t)(m->bump - (char *)loan->slab);
    aslab__mark_free(m->bump - loan->stride); /* in the header's page: written already */
}

/* Whether m's class is in the table of lent slabs (arena.h): a small class with a kept list,
 * or a medium class. */
static int lent_listed(const aslab__mslab *m) {
    return aslab__kept_room(m->cls) != 0;
}

static uintptr_t lent_entry(const aslab__mslab *m) {
    return m->first | (uintptr_t)m->cls << ASLAB_LENT_CLASS_SHIFT;
}

aslab__mslab *aslab__pool_lend(unsigned cls) {
    aslab_slab_loan loan;
    int zeroed = 0;
    aslab_cache *cache = aslab__class_cache_get(cls, &loan, &zeroed);
    if (cache == NULL) return NULL;
    if (loan.slab == NULL && !aslab__pool_lend_noting_zero(cache, &loan, &zeroed)) return NULL;
    aslab__mslab *m = loan.reserve;
    m->bump_zero = (uint8_t)zeroed;
    m->free = m;
    m->used = 0;
    m->cls = (uint16_t)cls;
    m->on_list = ASLAB__ON_NONE;
    m->bump_end = (char *)loan.slots + loan.capacity * loan.stride;
    /* A slab of a region's size or less is writable whole, and so is every slab while the
     * arena maps regions writable; a larger one may not be, and the arena says as its
     * never-used blocks are handed out (writable_to, refill.c). A slab lent before the arena
     * turned lazy is in a region mapped writable whole. */
    m->writable_end =
        aslab__class_slab_size(cls) <= ASLAB_REGION_SIZE || !aslab__arena_commits_lazily()
            ? m->bump_end
            : (char *)loan.slab;
    m->bump = loan.slots;
    m->bump_wrap = 0;
    if (!aslab__class_is_medium(cls)) start_at_colour(m, &loan);
    m->prev = m->next = NULL;
    m->link_mask = ~(uintptr_t)(aslab__class_slab_size(cls) - 1) | 15;
    m->size = aslab__classes[cls].size;
    m->clean = 0;
    m->first = (uintptr_t)loan.slots;
    __atomic_store_n(&m->remote, 0, __ATOMIC_RELAXED); /* nobody else sees the slab yet */
    m->full_used = 0;
    __atomic_store_n(&m->heap, aslab__thread_heap.rec, __ATOMIC_RELAXED);
    aslab__pool_set_owner(m, aslab__owner_tag());
    if (lent_listed(m))
        aslab__arena_lent_set(loan.slab, aslab__class_slab_size(cls), lent_entry(m), 1);
    note_lent(cls);
    return m;
}

void aslab__pool_return(aslab__mslab *m) {
    unsigned cls = m->cls;
    if (lent_listed(m))
        aslab__arena_lent_set(aslab__slab_of(m), aslab__class_slab_size(cls), lent_entry(m), 0);
    aslab_error err = aslab_slab_return(aslab__slab_of(m), aslab__class_slab_size(cls));
    if (err != ASLAB_OK) aslab__heap_fault("free()", aslab_strerror(err), aslab__slab_of(m));
    count(&aslab__pool_stats[cls].slabs_returned, 1);
}

/* Takes m's remote list onto `into` (m's own list or the owner's copy of it), putting `mark`
 * in its place; returns how many blocks it held, for the caller to count. */
static uint32_t take_remote_list(aslab__mslab *m, aslab__hot *into, uintptr_t mark) {
    uintptr_t word = __atomic_exchange_n(&m->remote, mark, __ATOMIC_ACQUIRE);
    if (word == 0 || (word & ASLAB__ABANDONED)) return 0;
    uint32_t n = (uint32_t)((word & ASLAB__REMOTE_COUNT) / ASLAB__REMOTE_ONE);
    uintptr_t head = (uintptr_t)aslab__slab_of(m) + (word >> 32), block = head;
    /* The remote list ends at m, as the local one does: when the local list is empty (the
     * owner collects because it ran dry), the remote list becomes it as it is, and each link
     * is checked when it is popped, with no walk over blocks the program touches anyway. */
    if (into->free != (void *)m)
        for (uint32_t i = 1;; i++) { /* exactly n blocks, each link checked */
            uintptr_t next = aslab__link_encode(*(uintptr_t *)block, (void *)block);
            if (i == n && next == (uintptr_t)m) break;
            if (i == n || aslab__link_stray(next, &m->hot) != 0)
                aslab__heap_fault("malloc()", "corrupted remote free list (a write after free?)",
                                  (void *)block);
            block = next;
        }
    if (into->free != (void *)m)
        *(uintptr_t *)block = aslab__link_encode((uintptr_t)into->free, (void *)block);
    into->free = (void *)head;
    into->used -= n;
    return n;
}

/* The remote frees are counted as they are taken, not by each remote free: by the owner in its
 * heap (merged into the class's total at its exit), by another thread in the total itself. */
uint32_t aslab__pool_collect_into(aslab__mslab *m, aslab__hot *into, uintptr_t mark) {
    uint32_t n = take_remote_list(m, into, mark);
    aslab__thread_heap.rec->frees_remote[m->cls] += n;
    return n;
}

uint32_t aslab__pool_collect(aslab__mslab *m, uintptr_t mark) {
    return aslab__pool_collect_into(m, &m->hot, mark);
}

uint32_t aslab__pool_collect_remote(aslab__mslab *m) {
    uint32_t n = take_remote_list(m, &m->hot, 0);
    count(&aslab__pool_stats[m->cls].frees_remote, n);
    return n;
}

/* ---- abandoned slabs: a list per class, under the class lock ---- */

void aslab__pool_abandon(aslab__mslab *m) {
    unsigned cls = m->cls;
    class_lock(cls);
    aslab__pool_collect(m, ASLAB__ABANDONED);
    if (m->used == 0) {
        class_unlock(cls);
        aslab__pool_return(m);
        return;
    }
    aslab__pool_set_owner(m, NULL);
    __atomic_store_n(&m->heap, NULL, __ATOMIC_RELEASE);
    aslab__list_add(&pools[cls].abandoned, m, ASLAB__ON_ABANDONED);
    abandoned_changed(cls);
    count(&aslab__pool_stats[cls].abandoned, 1);
    class_unlock(cls);
}

static int has_free_block(const aslab__mslab *m) {
    return m->free != (const void *)m || aslab__has_never_used(m) || m->clean != 0;
}

/* Looks at the first few abandoned slabs only: the list's head is where frees put the slabs
 * that gained a block. */
aslab__mslab *aslab__pool_adopt(unsigned cls) {
    if (!__atomic_load_n(&pools[cls].any_abandoned, __ATOMIC_RELAXED)) return NULL;
    class_lock(cls);
    aslab__mslab *m = pools[cls].abandoned;
    for (int looked = 0; m != NULL && !has_free_block(m) && looked < 8; looked++) {
        m = m->next;
        if (m == pools[cls].abandoned) m = NULL; /* once round */
    }
    if (m != NULL && has_free_block(m)) {
        aslab__list_del(&pools[cls].abandoned, m);
        abandoned_changed(cls);
        __atomic_store_n(&m->heap, aslab__thread_heap.rec, __ATOMIC_RELEASE);
        aslab__pool_set_owner(m, aslab__owner_tag());
        __atomic_store_n(&m->remote, 0, __ATOMIC_RELEASE);
        count(&aslab__pool_stats[cls].adopted, 1);
    } else {
        m = NULL;
    }
    class_unlock(cls);
    return m;
}

int aslab__pool_free_abandoned(aslab__mslab *m, void *p) {
    unsigned cls = m->cls;
    class_lock(cls);
    if (__atomic_load_n(&m->remote, __ATOMIC_ACQUIRE) != ASLAB__ABANDONED) {
        class_unlock(cls);
        return 0;
    }
    *(uintptr_t *)p = aslab__link_encode((uintptr_t)m->free, p);
    m->free = p;
    count(&aslab__pool_stats[cls].frees_remote, 1);
    if (--m->used == 0) {
        aslab__list_del(&pools[cls].abandoned, m);
        abandoned_changed(cls);
        class_unlock(cls);
        aslab__pool_return(m);
        return 1;
    }
    if (pools[cls].abandoned != m) { /* to the head, where adoption looks */
        aslab__list_del(&pools[cls].abandoned, m);
        aslab__list_add_first(&pools[cls].abandoned, m, ASLAB__ON_ABANDONED);
    }
    class_unlock(cls);
    return 1;
}

void aslab__pool_lock_counts(unsigned cls, unsigned *sleeps, unsigned *wakes) {
    aslab_futexlock_counts(pools[cls].lock, sleeps, wakes);
    const void *core =
        aslab__class_cache[cls] != NULL ? aslab_cache_lock_state(aslab__class_cache[cls]) : NULL;
    if (core != NULL) {
        unsigned more_sleeps, more_wakes;
        aslab_futexlock_counts(core, &more_sleeps, &more_wakes);
        *sleeps += more_sleeps;
        *wakes += more_wakes;
    }
}

uint64_t aslab__pool_abandoned_live(unsigned cls) {
    uint64_t live = 0;
    class_lock(cls);
    aslab__mslab *m = pools[cls].abandoned;
    if (m != NULL) do {
            live += m->used;
            m = m->next;
        } while (m != pools[cls].abandoned);
    class_unlock(cls);
    return live;
}

/* ---- fork: the child re-initialises, so that no sleeper count of the parent's threads
 * survives in a lock word ---- */

void aslab__pool_fork_prepare(void) {
    for (unsigned cls = 1; cls <= ASLAB_NUM_CLASSES; cls++)
        aslab_futexlock.lock(pools[cls].lock);
}

void aslab__pool_fork_parent(void) {
    for (unsigned cls = 1; cls <= ASLAB_NUM_CLASSES; cls++)
        aslab_futexlock.unlock(pools[cls].lock);
}

void aslab__pool_fork_child(void) {
    for (unsigned cls = 1; cls <= ASLAB_NUM_CLASSES; cls++)
        aslab_futexlock.init(pools[cls].lock);
}
