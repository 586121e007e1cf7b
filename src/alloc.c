/* alloc.c - taking objects from a cache: one at a time, or many under one lock round. */
#include "slab.h"

/* Makes the current slab one with a free slot: a partial slab first, so that empty ones stay
 * empty and can go back, then an empty one, then a new slave. Lock held. A released handle
 * has no current slab (release uncurrents it), so the fast path needs no check of its own. */
static __attribute__((noinline)) aslab_error refill_current(aslab__master *master) {
    if (ASLAB__UNLIKELY(master->refs == 0)) return ASLAB_ERR_RELEASED_HANDLE;
    for (;;) {
        aslab__slab *slab = master->current;
        if (slab != NULL && slab->used < slab->capacity) return ASLAB_OK;
        aslab__uncurrent(master);
        aslab__link *list = !aslab__list_empty(&master->partial) ? &master->partial
                            : !aslab__list_empty(&master->empty) ? &master->empty
                                                                 : NULL;
        if (list != NULL) {
            master->empty_slabs -= (list == &master->empty);
            master->current = aslab__slab_of_link(list->next);
            aslab__list_unlink(list->next);
            return ASLAB_OK;
        }
        aslab_error err = aslab__grow_locked(master); /* drops the lock for the hook */
        if (err != ASLAB_OK) return err;
    }
}

/* The current slab's free list is corrupt: takes the slab out of use for good. It goes on no
 * list and its objects stay counted (frees into it are refused), so nothing ever reads its
 * free list again and the hierarchy, which may still be reached through it, is never freed.
 * Lock held. */
static __attribute__((noinline, cold)) aslab_error quarantine_current(aslab__master *master) {
    aslab__slab *slab = master->current;
    master->current = NULL;
    slab->free_head = ASLAB__QUARANTINED;
    slab->link.prev = slab->link.next = NULL;
    master->slabs_quarantined++;
    return ASLAB_ERR_CORRUPT_FREELIST;
}

/* Pops from the current slab, which has a free slot. Lock held. */
static inline __attribute__((always_inline)) aslab_error pop_current(aslab__master *master,
                                                                     void **out) {
    void *obj = aslab__pop(master, master->current);
    if (ASLAB__UNLIKELY(obj == NULL)) return quarantine_current(master);
    *out = obj;
    return ASLAB_OK;
}

/* An allocation when the current slab is full or missing. Lock held. */
static __attribute__((noinline)) aslab_error alloc_refill(aslab__master *master, void **out) {
    aslab_error err = refill_current(master);
    return err == ASLAB_OK ? pop_current(master, out) : err;
}

static inline __attribute__((always_inline)) aslab_error alloc_one(aslab__master *master,
                                                                   void **out) {
    aslab__slab *slab = master->current;
    if (ASLAB__UNLIKELY(slab == NULL || slab->used == slab->capacity))
        return alloc_refill(master, out);
    return pop_current(master, out);
}

static __attribute__((noinline)) aslab_error alloc_locked(aslab__master *master, void **out) {
    master->lock_fn(master->lock_state);
    aslab_error err = alloc_one(master, out);
    master->unlock_fn(master->lock_state);
    return err;
}

/* Without a lock the fast path is a leaf: no call, no register to save. */
aslab_error aslab_alloc(aslab_cache *cache, void **out) {
    aslab__master *master;
    aslab_error err = aslab__master_of(cache, &master);
    if (ASLAB__UNLIKELY(err != ASLAB_OK)) return err;
    if (ASLAB__UNLIKELY(out == NULL)) return ASLAB_ERR_INVALID_ARGUMENT;
    if (master->lock_fn != NULL) return alloc_locked(master, out);
    return alloc_one(master, out);
}

/* Fills out[*got, n) from the current slab and the ones after it. Lock held. */
static aslab_error alloc_many_locked(aslab__master *master, void **out, size_t n, size_t *got) {
    while (*got < n) {
        aslab_error err = refill_current(master);
        if (err != ASLAB_OK) return err;
        const aslab__slab *slab = master->current;
        while (*got < n && slab->used < slab->capacity) {
            err = pop_current(master, &out[*got]);
            if (err != ASLAB_OK) return err;
            ++*got;
        }
    }
    return ASLAB_OK;
}

aslab_error aslab_alloc_bulk_status(aslab_cache *cache, void **out, size_t n, size_t *got) {
    if (got == NULL) return ASLAB_ERR_INVALID_ARGUMENT;
    *got = 0;
    aslab__master *master;
    aslab_error err = aslab__master_of(cache, &master);
    if (err != ASLAB_OK) return err;
    if (out == NULL) return ASLAB_ERR_INVALID_ARGUMENT;
    aslab__lock(master);
    err = alloc_many_locked(master, out, n, got);
    aslab__unlock(master);
    return err;
}

size_t aslab_alloc_bulk(aslab_cache *cache, void **out, size_t n) {
    size_t got;
    (void)aslab_alloc_bulk_status(cache, out, n, &got);
    return got;
}
