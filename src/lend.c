/* lend.c - a cache as a pool of whole slabs: lending an empty slave to a borrower, who then
 * manages its slots alone, and taking it back once every slot is free again.
 *
 * A lent slab keeps a valid header with a magic of its own (aslab__lent_magic_for), so objects
 * still find it by masking and aslab_free can refuse them precisely. It is on no list; the
 * master counts all its slots as in use, so the hierarchy cannot be destroyed under it. */
#include "slab.h"

/* An empty slave off the empty list, or NULL. The master may be on that list too, but only
 * once, so this looks at two entries at most. Lock held. */
static aslab__slab *take_empty_slave(aslab__master *master) {
    for (aslab__link *link = master->empty.next; link != &master->empty; link = link->next) {
        aslab__slab *slab = aslab__slab_of_link(link);
        if (slab == &master->slab) continue;
        aslab__list_unlink(link);
        master->empty_slabs--;
        return slab;
    }
    return NULL;
}

/* Marks an empty slave lent to `owner`. Its bitmap is all zero and stays so. Lock held. */
static void lend_locked(aslab__master *master, aslab__slab *slab, void *owner) {
    slab->link.prev = slab->link.next = NULL;
    slab->free_head = ASLAB__NO_SLOT;
    slab->fresh = slab->capacity;
    slab->used = slab->capacity;
    __atomic_store_n(&slab->owner, owner, __ATOMIC_RELAXED);
    slab->magic = aslab__lent_magic_for(slab);
    master->in_use += slab->capacity;
    master->slabs_lent++;
}

static void describe(const aslab__master *master, aslab__slab *slab, aslab_slab_loan *out) {
    out->slab = slab;
    out->slots = (char *)slab + slab->data_offset;
    out->capacity = slab->capacity;
    out->stride = master->stride;
    out->reserve = master->header_reserve != 0 ? (char *)slab + ASLAB_SLAB_HEADER_SIZE : NULL;
}

aslab_error aslab_slab_lend(aslab_cache *cache, void *owner, aslab_slab_loan *out) {
    aslab__master *master;
    aslab_error err = aslab__master_of(cache, &master);
    if (err != ASLAB_OK) return err;
    if (out == NULL) return ASLAB_ERR_INVALID_ARGUMENT;
    aslab__lock(master);
    if (master->refs == 0) {
        aslab__unlock(master);
        return ASLAB_ERR_RELEASED_HANDLE;
    }
    aslab__slab *slab;
    /* Growing drops the lock, so another borrower may take the new slab first: try again. */
    while ((slab = take_empty_slave(master)) == NULL) {
        err = aslab__grow_locked(master);
        if (err != ASLAB_OK) {
            aslab__unlock(master);
            return err;
        }
    }
    lend_locked(master, slab, owner);
    aslab__unlock(master);
    describe(master, slab, out);
    return ASLAB_OK;
}

/* The lent slab that holds addr, checked as far as it can be without the lock. */
static aslab_error lent_slab_of(const void *addr, size_t slab_size, aslab__slab **out) {
    if (addr == NULL) return ASLAB_ERR_INVALID_POINTER;
    if (!aslab__slab_size_valid(slab_size)) return ASLAB_ERR_INVALID_ARGUMENT;
    aslab__slab *slab = (aslab__slab *)((uintptr_t)addr & ~(uintptr_t)(slab_size - 1));
    int lent = slab->magic == aslab__lent_magic_for(slab);
    if (!lent && slab->magic != aslab__magic_for(slab)) return ASLAB_ERR_NOT_A_SLAB;
    if (slab->master->slab_size != slab_size) return ASLAB_ERR_WRONG_SLAB_SIZE;
    if (!lent) return ASLAB_ERR_SLAB_NOT_LENT;
    *out = slab;
    return ASLAB_OK;
}

aslab_error aslab_slab_return(void *slab_addr, size_t slab_size) {
    if (slab_addr == NULL || ((uintptr_t)slab_addr & (slab_size - 1)) != 0)
        return aslab__slab_size_valid(slab_size) ? ASLAB_ERR_INVALID_POINTER
                                                 : ASLAB_ERR_INVALID_ARGUMENT;
    aslab__slab *slab;
    aslab_error err = lent_slab_of(slab_addr, slab_size, &slab);
    if (err != ASLAB_OK) return err;
    aslab__master *master = slab->master;
    aslab__lock(master);
    if (slab->magic != aslab__lent_magic_for(slab)) { /* returned twice, concurrently */
        aslab__unlock(master);
        return ASLAB_ERR_SLAB_NOT_LENT;
    }
    slab->magic = aslab__magic_for(slab);
    __atomic_store_n(&slab->owner, NULL, __ATOMIC_RELAXED);
    slab->free_head = ASLAB__NO_SLOT;
    slab->fresh = 0;
    slab->used = 0;
    master->in_use -= slab->capacity;
    master->slabs_lent--;
    aslab__list_push(&master->empty, &slab->link);
    master->empty_slabs++;
    aslab__retire retire = {0};
    aslab__collect_locked(master, slab, &retire);
    /* As for aslab_free: an error of the free hook is counted in the cache's stats. */
    (void)aslab__finish_unlock(master, &retire);
    return ASLAB_OK;
}

aslab_error aslab_slab_owner(const void *obj, size_t slab_size, void **owner) {
    aslab__slab *slab;
    aslab_error err = lent_slab_of(obj, slab_size, &slab);
    if (err != ASLAB_OK) return err;
    if (owner == NULL) return ASLAB_ERR_INVALID_ARGUMENT;
    *owner = __atomic_load_n(&slab->owner, __ATOMIC_ACQUIRE);
    return ASLAB_OK;
}

aslab_error aslab_slab_set_owner(void *obj, size_t slab_size, void *owner) {
    aslab__slab *slab;
    aslab_error err = lent_slab_of(obj, slab_size, &slab);
    if (err == ASLAB_OK) __atomic_store_n(&slab->owner, owner, __ATOMIC_RELEASE);
    return err;
}
