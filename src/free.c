/* free.c - giving objects back: validate first (without the lock), then push onto the
 * slab's freelist and hand back whatever emptied. */
#include "slab.h"

/* Frees slot `index` of `slab`; lock held. On error nothing has changed. A free into the
 * current slab moves no list; one into a quarantined slab (never current) is refused. */
static inline aslab_error free_locked(aslab__master *master, aslab__slab *slab, uint32_t index,
                                      aslab__retire *retire) {
    if (ASLAB__UNLIKELY(slab->free_head == ASLAB__QUARANTINED)) return ASLAB_ERR_CORRUPT_FREELIST;
    int current = slab == master->current;
    aslab__link *was = current ? NULL : aslab__list_for(master, slab);
    aslab_error err = aslab__push(master, slab, index);
    if (ASLAB__UNLIKELY(err != ASLAB_OK)) return err;
    if (!current) aslab__relist(master, slab, was);
    if (ASLAB__UNLIKELY(slab->used == 0)) aslab__collect_locked(master, slab, retire);
    return ASLAB_OK;
}

/* Everything but a free into the current slab that leaves the cache alive: relisting, slabs
 * going back, the end of the hierarchy. Lock held on entry, dropped on return. */
static __attribute__((noinline)) aslab_error free_slow(aslab__master *master, aslab__slab *slab,
                                                       uint32_t index, int pushed) {
    aslab__retire retire = {0};
    aslab_error err = ASLAB_OK;
    if (pushed)
        aslab__collect_locked(master, slab, &retire);
    else
        err = free_locked(master, slab, index, &retire);
    if (retire.head == NULL && !retire.destroy) {
        aslab__unlock(master);
        return err;
    }
    /* The object is freed; an error of the free hook is counted in the cache's stats. */
    (void)aslab__finish_unlock(master, &retire);
    return err;
}

/* One free, after validation. The rare cases go to free_slow as tail calls, so that without
 * a lock the fast path is a leaf: no call, no register to save. */
static inline __attribute__((always_inline)) aslab_error
free_one(aslab__master *master, aslab__slab *slab, void *obj, uint32_t index, int locked) {
    if (locked) master->lock_fn(master->lock_state);
    if (ASLAB__UNLIKELY(slab != master->current)) return free_slow(master, slab, index, 0);
    aslab_error err = aslab__push_obj(master, slab, obj, index);
    /* An emptied current slab needs a decision only if it may have to go back. */
    if (ASLAB__UNLIKELY(slab->used == 0 && err == ASLAB_OK &&
                        (master->refs == 0 || master->empty_slabs >= ASLAB_EMPTY_RESERVE)))
        return free_slow(master, slab, index, 1);
    if (locked) master->unlock_fn(master->lock_state);
    return err;
}

static __attribute__((noinline)) aslab_error
free_locked_one(aslab__master *master, aslab__slab *slab, void *obj, uint32_t index) {
    return free_one(master, slab, obj, index, 1);
}

aslab_error aslab_free(void *obj, size_t slab_size) {
    aslab__place at;
    aslab_error err = aslab__locate(obj, slab_size, &at);
    if (ASLAB__UNLIKELY(err != ASLAB_OK)) return err;
    if (at.master->lock_fn != NULL) return free_locked_one(at.master, at.slab, obj, at.index);
    return free_one(at.master, at.slab, obj, at.index, 0);
}

/* Runs of objects that share a master are freed under one lock acquisition. */
aslab_error aslab_free_bulk(void *const *objs, size_t n, size_t slab_size) {
    if (objs == NULL && n != 0) return ASLAB_ERR_INVALID_ARGUMENT;
    aslab_error first = ASLAB_OK;
    aslab__master *held = NULL;
    aslab__retire retire = {0};
    for (size_t i = 0; i < n; i++) {
        aslab__place at;
        aslab_error err = aslab__locate(objs[i], slab_size, &at);
        if (err == ASLAB_OK) {
            if (held == NULL || at.master != held) {
                if (held != NULL) (void)aslab__finish_unlock(held, &retire);
                retire = (aslab__retire){0};
                held = at.master;
                aslab__lock(at.master);
            }
            err = free_locked(at.master, at.slab, at.index, &retire);
        }
        if (first == ASLAB_OK) first = err;
    }
    if (held != NULL) (void)aslab__finish_unlock(held, &retire);
    return first;
}
