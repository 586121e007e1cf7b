/* alloc.c - taking objects from a cache: one at a time, or many under one lock round. */
#include "slab.h"

/* Makes the current slab one with a free slot: a partial slab first, so that empty ones stay
 * empty and can go back, then an empty one, then a new slave. Lock held. */
static __attribute__((noinline)) aslab_error refill_current(aslab__master *master) {
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

/* An allocation when the current slab is full or missing. Lock held. */
static __attribute__((noinline)) aslab_error alloc_refill(aslab__master *master, void **out) {
    aslab_error err = refill_current(master);
    if (err == ASLAB_OK) *out = aslab__pop(master, master->current);
    return err;
}

static inline __attribute__((always_inline)) aslab_error alloc_one(aslab__master *master,
                                                                   void **out) {
    aslab__slab *slab = master->current;
    if (ASLAB__UNLIKELY(slab == NULL || slab->used == slab->capacity))
        return alloc_refill(master, out);
    *out = aslab__pop(master, slab);
    return ASLAB_OK;
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

size_t aslab_alloc_bulk(aslab_cache *cache, void **out, size_t n) {
    aslab__master *master;
    if (aslab__master_of(cache, &master) != ASLAB_OK || out == NULL) return 0;
    size_t got = 0;
    aslab__lock(master);
    while (got < n && refill_current(master) == ASLAB_OK) {
        aslab__slab *slab = master->current;
        while (got < n && slab->used < slab->capacity)
            out[got++] = aslab__pop(master, slab);
    }
    aslab__unlock(master);
    return got;
}
