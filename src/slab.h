/* slab.h - the core's shared types, their invariants, and the inline helpers of the hot path.
 *
 * Layout of a slab (slab_size bytes, aligned to slab_size):
 *
 *   master: +-------------+------------------+--------+----------+------+------+---------+
 *           | aslab__slab | master extension | bitmap | pad to   | slot | ...  | tail    |
 *           | (64 bytes)  |                  |        | obj_align|  0   |      | padding |
 *           +-------------+------------------+--------+----------+------+------+---------+
 *   slave:  +-------------+---------+--------+----------+------+------+---------+
 *           | aslab__slab | reserve | bitmap | pad to   | slot | ...  | tail    |
 *           | (64 bytes)  |         |        | obj_align|  0   |      | padding |
 *           +-------------+---------+--------+----------+------+------+---------+
 *           0             64        bitmap_offset       data_offset
 *
 * The header (aslab__slab) is ASLAB_SLAB_HEADER_SIZE = 64 bytes on LP64 and ILP32, one cache
 * line: magic, master, list link, owner, free-list head, counts, geometry:
 *
 *   LP64:  0 magic | 8 master | 16 link.prev | 24 link.next | 32 owner | 40 free_head |
 *          44 fresh | 48 used | 52 capacity | 56 data_offset | 60 bitmap_offset
 *   ILP32: 0 magic | 4 master | 8 link | 16 owner | 20 .. 44 the six u32 | 44 padding to 64
 *
 * The reserve (header_reserve bytes, a multiple of 64, maybe 0) exists in slaves only: the
 * master is never lent, so it has none. The core never reads or writes it.
 *
 * Invariants (all under the master's lock unless marked immutable):
 * - magic == ASLAB__MAGIC ^ the slab's own address while the slab belongs to a cache and
 *   serves aslab_alloc ("live"), ASLAB__LENT_MAGIC ^ its address while it is lent, and 0
 *   once it is handed back; a copied or stale header never validates. Only lend and return
 *   change it between live and lent, under the lock.
 * - A lent slab is on no list and not current; the core touches nothing of it but its
 *   header's magic, owner and counts at lend and return (owner also through set_owner).
 *   It counts as full: used == capacity, and master->in_use includes all its slots, so the
 *   hierarchy outlives it. Its bitmap stays all zero (it was empty when lent), so a
 *   returned slab needs only its free-list head and counts reset.
 * - master, capacity, data_offset, bitmap_offset: immutable while the slab is live, so the
 *   free path validates a pointer before it takes any lock.
 * - Slots [0, fresh) have been handed out at least once; slots [fresh, capacity) never were,
 *   so a new slab needs no freelist built (O(1) attach). The freelist is a stack of slot
 *   indices threaded through the free slots' first four bytes, ending in ASLAB__NO_SLOT.
 * - Bit i of the bitmap is set exactly when slot i is allocated (double-free detection).
 * - Every link popped is checked (aslab__pop): it must be NO_SLOT or below fresh, and the slot
 *   it names must be free in the bitmap; a fresh slot must be below capacity. A slab that
 *   fails is quarantined: free_head = ASLAB__QUARANTINED, on no list, never current again,
 *   frees into it refused; its objects stay counted, so the hierarchy is never destroyed
 *   (its memory is leaked rather than trusted).
 * - The current slab (at most one) is where allocation happens; it is on no list, so an
 *   alloc/free pair on it moves nothing. Every other slab is on exactly one of the master's
 *   lists: empty (used == 0), full (used == capacity) or partial (otherwise); empty_slabs
 *   counts the empty list. The master is a slab like the others, but it is never handed
 *   back while a reference or an object remains.
 * - The hierarchy is destroyed when refs == 0, in_use == 0 and no slab is in flight to the
 *   free hook (pending == 0); whoever observes that under the lock destroys it, and nobody
 *   touches the master afterwards.
 */
#ifndef ASLAB_SLAB_H
#define ASLAB_SLAB_H

#include "aslab.h"

#define ASLAB__NO_SLOT     UINT32_MAX
#define ASLAB__QUARANTINED (UINT32_MAX - 1) /* free_head of a slab taken out of use */
#define ASLAB__MAGIC       ((uintptr_t)0x6a09e667f3bcc909ull)
#define ASLAB__LENT_MAGIC  ((uintptr_t)0xbb67ae8584caa73bull)
#define ASLAB__LIKELY(x)   __builtin_expect(!!(x), 1)
#define ASLAB__UNLIKELY(x) __builtin_expect(!!(x), 0)

typedef struct aslab__link {
    struct aslab__link *prev, *next;
} aslab__link;

/* The header at the start of every slab: 64 bytes, one cache line (see the diagram). */
typedef struct aslab__slab {
    uintptr_t magic;
    struct aslab__master *master;
    aslab__link link; /* on the master's empty, partial or full list; unused while lent */
    void *owner;      /* the borrower's value while lent (atomic), NULL otherwise */
    uint32_t free_head;
    uint32_t fresh;
    uint32_t used;
    uint32_t capacity;
    uint32_t data_offset;
    uint32_t bitmap_offset;
#if UINTPTR_MAX == 0xffffffffu
    uint32_t padding[5]; /* ILP32: the header is 64 bytes there too */
#endif
} aslab__slab;

_Static_assert(sizeof(aslab__slab) == ASLAB_SLAB_HEADER_SIZE,
               "the slab header is exactly ASLAB_SLAB_HEADER_SIZE bytes");

/* Where slots start and how many fit, for the master or for a slave. */
typedef struct aslab__geometry {
    uint32_t capacity;
    uint32_t data_offset;
    uint32_t bitmap_offset;
} aslab__geometry;

/* Where a hierarchy's slabs come from: the cache's own hooks with their context, or, with
 * table NULL, the program's global pair (aslab_hook_slab_alloc / aslab_hook_slab_free). */
typedef struct aslab__hooks {
    const aslab_slab_hooks *table;
    void *context;
} aslab__hooks;

/* The master slab: a slab header followed by the state of the whole hierarchy. */
typedef struct aslab__master {
    aslab__slab slab;
    uint64_t lock_state[ASLAB_LOCK_MAX / sizeof(uint64_t)];
    void (*lock_fn)(void *);   /* NULL for aslab_nolock: no call at all */
    void (*unlock_fn)(void *); /* copied from the ops table: one load, no indirection */
    void (*init_fn)(void *);   /* for aslab_cache_lock_reinit */
    /* immutable after create */
    size_t slab_size;
    size_t obj_size;
    size_t obj_align;
    uint32_t stride;
    uint32_t div_shift; /* slot index = (offset * div_mul) >> div_shift, exact */
    uint64_t div_mul;
    aslab__geometry slave;
    size_t header_reserve; /* bytes after each slave's header, a multiple of 64 */
    aslab__hooks hooks;
    /* under the lock */
    aslab__slab *current;
    aslab__link empty, partial, full;
    size_t refs;
    size_t pending; /* slabs detached and on their way to the free hook */
    size_t slabs;
    size_t empty_slabs;
    size_t in_use;
    size_t capacity;
    size_t hook_allocs;
    size_t hook_frees;
    size_t hook_free_errors;
    size_t slabs_lent;
    size_t slabs_quarantined;
} aslab__master;

/* Slabs detached under the lock, to be handed back once it is dropped. */
typedef struct aslab__retire {
    aslab__slab *head; /* chained through link.next */
    size_t count;
    int destroy; /* the master goes too: the hierarchy is finished */
} aslab__retire;

/* ---- slab.c ---- */
aslab_error aslab__geometry_for(size_t header, size_t stride, size_t align, size_t slab_size,
                                aslab__geometry *out);
void aslab__slab_init(aslab__slab *slab, aslab__master *master, const aslab__geometry *geo);
aslab_error aslab__slab_fetch(const aslab__hooks *hooks, size_t slab_size, void **out);
aslab_error aslab__slab_give(const aslab__hooks *hooks, void *slab, size_t slab_size);

/* ---- cache.c ---- */
void aslab__divider_for(size_t slab_size, uint32_t stride, uint64_t *mul, uint32_t *shift);
aslab_error aslab__grow_locked(aslab__master *master);
void aslab__collect_locked(aslab__master *master, aslab__slab *slab, aslab__retire *retire);
aslab_error aslab__finish_unlock(aslab__master *master, aslab__retire *retire);

/* ---- inline helpers ---- */

static inline uintptr_t aslab__magic_for(const aslab__slab *slab) {
    return ASLAB__MAGIC ^ (uintptr_t)slab;
}

/* The magic of a lent slab: another constant, also mixed with the slab's address. The
 * malloc's free path compares it to tell its own slabs from those serving aslab_alloc. */
static inline uintptr_t aslab__lent_magic_for(const aslab__slab *slab) {
    return ASLAB__LENT_MAGIC ^ (uintptr_t)slab;
}

static inline int aslab__slab_size_valid(size_t slab_size) {
    return (slab_size & (slab_size - 1)) == 0 &&
           slab_size - ASLAB_MIN_SLAB_SIZE <= ASLAB_MAX_SLAB_SIZE - ASLAB_MIN_SLAB_SIZE;
}

/* The master behind a handle, if the handle is one. */
static inline aslab_error aslab__master_of(aslab_cache *cache, aslab__master **out) {
    if (ASLAB__UNLIKELY(cache == NULL)) return ASLAB_ERR_INVALID_ARGUMENT;
    aslab__master *master = (aslab__master *)cache;
    if (ASLAB__UNLIKELY(master->slab.magic != aslab__magic_for(&master->slab)))
        return ASLAB_ERR_NOT_A_SLAB;
    if (ASLAB__UNLIKELY(master->slab.master != master)) return ASLAB_ERR_INVALID_POINTER;
    *out = master;
    return ASLAB_OK;
}

/* Where a validated object lives. */
typedef struct aslab__place {
    aslab__master *master;
    aslab__slab *slab;
    uint32_t index;
} aslab__place;

/* Finds the master, slab and slot index of obj, checking everything that can be checked
 * without the lock: the header's magic, the slab size, the slot boundary and the index, each
 * failure its own code. Reads only the header of the slab_size-aligned block that holds obj,
 * and its master. */
static inline aslab_error aslab__locate(const void *obj, size_t slab_size, aslab__place *out) {
    if (ASLAB__UNLIKELY(obj == NULL)) return ASLAB_ERR_INVALID_POINTER;
    if (ASLAB__UNLIKELY(!aslab__slab_size_valid(slab_size))) return ASLAB_ERR_INVALID_ARGUMENT;
    uintptr_t addr = (uintptr_t)obj;
    aslab__slab *slab = (aslab__slab *)(addr & ~(uintptr_t)(slab_size - 1));
    if (ASLAB__UNLIKELY(slab->magic != aslab__magic_for(slab)))
        return slab->magic == aslab__lent_magic_for(slab) ? ASLAB_ERR_SLAB_LENT
                                                          : ASLAB_ERR_NOT_A_SLAB;
    aslab__master *master = slab->master;
    if (ASLAB__UNLIKELY(master->slab_size != slab_size)) return ASLAB_ERR_WRONG_SLAB_SIZE;
    uint32_t offset = (uint32_t)(addr - (uintptr_t)slab);
    if (ASLAB__UNLIKELY(offset < slab->data_offset)) return ASLAB_ERR_NOT_SLOT_START;
    offset -= slab->data_offset;
    uint32_t index = (uint32_t)(((uint64_t)offset * master->div_mul) >> master->div_shift);
    if (ASLAB__UNLIKELY(index * master->stride != offset || index >= slab->capacity))
        return index * master->stride != offset ? ASLAB_ERR_NOT_SLOT_START
                                                : ASLAB_ERR_INDEX_OUT_OF_RANGE;
    out->master = master;
    out->slab = slab;
    out->index = index;
    return ASLAB_OK;
}

static inline uint32_t *aslab__bitmap(aslab__slab *slab) {
    return (uint32_t *)((char *)slab + slab->bitmap_offset);
}

static inline void *aslab__slot(const aslab__master *master, aslab__slab *slab, uint32_t index) {
    return (char *)slab + slab->data_offset + (size_t)index * master->stride;
}

static inline void aslab__lock(aslab__master *master) {
    if (master->lock_fn != NULL) master->lock_fn(master->lock_state);
}

static inline void aslab__unlock(aslab__master *master) {
    if (master->unlock_fn != NULL) master->unlock_fn(master->lock_state);
}

static inline void aslab__list_init(aslab__link *head) {
    head->prev = head->next = head;
}

static inline int aslab__list_empty(const aslab__link *head) {
    return head->next == head;
}

static inline void aslab__list_unlink(aslab__link *link) {
    link->prev->next = link->next;
    link->next->prev = link->prev;
}

static inline void aslab__list_push(aslab__link *head, aslab__link *link) {
    link->prev = head;
    link->next = head->next;
    head->next->prev = link;
    head->next = link;
}

static inline aslab__slab *aslab__slab_of_link(aslab__link *link) {
    return (aslab__slab *)((char *)link - __builtin_offsetof(aslab__slab, link));
}

/* The list a slab belongs on, given its use count. */
static inline aslab__link *aslab__list_for(aslab__master *master, const aslab__slab *slab) {
    if (slab->used == 0) return &master->empty;
    return slab->used == slab->capacity ? &master->full : &master->partial;
}

/* Moves slab to the list its use count calls for, if that is not `was`. O(1). */
static inline void aslab__relist(aslab__master *master, aslab__slab *slab, aslab__link *was) {
    aslab__link *now = aslab__list_for(master, slab);
    if (ASLAB__LIKELY(now == was)) return;
    aslab__list_unlink(&slab->link);
    aslab__list_push(now, &slab->link);
    master->empty_slabs += (now == &master->empty) - (was == &master->empty);
}

/* Puts the current slab, if any, back on the list it belongs on. */
static inline void aslab__uncurrent(aslab__master *master) {
    aslab__slab *slab = master->current;
    if (slab == NULL) return;
    master->current = NULL;
    aslab__link *list = aslab__list_for(master, slab);
    aslab__list_push(list, &slab->link);
    master->empty_slabs += (list == &master->empty);
}

/* Sets slot index's bit in the bitmap; 0, changing nothing, if it was set already. */
static inline int aslab__mark_allocated(aslab__slab *slab, uint32_t index) {
    uint32_t *word = &aslab__bitmap(slab)[index >> 5];
    uint32_t bit = (uint32_t)1 << (index & 31), bits = *word;
    if (ASLAB__UNLIKELY(bits & bit)) return 0;
    *word = bits | bit;
    return 1;
}

/* Takes a free slot of a slab that has one (used < capacity); does not relist. Returns NULL,
 * having changed nothing, when the free list is corrupt: the link read from the popped slot
 * (memory the program may still write through a dangling pointer) is neither NO_SLOT nor a
 * slot handed out before (one compare: NO_SLOT + 1 wraps to 0), the slot the list leads to is
 * allocated (a cycle), or the list ended while the count says slots are free and none is
 * fresh. */
static inline void *aslab__pop(aslab__master *master, aslab__slab *slab) {
    uint32_t index = slab->free_head;
    void *obj;
    if (ASLAB__LIKELY(index != ASLAB__NO_SLOT)) {
        obj = aslab__slot(master, slab, index);
        uint32_t next = *(uint32_t *)obj;
        if (ASLAB__UNLIKELY(next + 1 > slab->fresh)) return NULL;
        if (ASLAB__UNLIKELY(!aslab__mark_allocated(slab, index))) return NULL;
        slab->free_head = next;
    } else {
        index = slab->fresh;
        if (ASLAB__UNLIKELY(index >= slab->capacity)) return NULL;
        if (ASLAB__UNLIKELY(!aslab__mark_allocated(slab, index))) return NULL;
        slab->fresh = index + 1;
        obj = aslab__slot(master, slab, index);
    }
    slab->used++;
    master->in_use++;
    return obj;
}

/* Returns slot `index` (at obj) to its slab's freelist, or reports it already free; does not
 * relist. */
static inline aslab_error aslab__push_obj(aslab__master *master, aslab__slab *slab, void *obj,
                                          uint32_t index) {
    uint32_t *word = &aslab__bitmap(slab)[index >> 5];
    uint32_t bit = (uint32_t)1 << (index & 31);
    if (ASLAB__UNLIKELY(!(*word & bit))) return ASLAB_ERR_DOUBLE_FREE;
    *word &= ~bit;
    *(uint32_t *)obj = slab->free_head;
    slab->free_head = index;
    slab->used--;
    master->in_use--;
    return ASLAB_OK;
}

static inline aslab_error aslab__push(aslab__master *master, aslab__slab *slab, uint32_t index) {
    return aslab__push_obj(master, slab, aslab__slot(master, slab, index), index);
}

#endif /* ASLAB_SLAB_H */
