/* cache.c - a cache's life: create, clone, release, growth by slaves, handing empty slabs
 * back, trim and statistics. */
#include "slab.h"

#include <string.h>

/* ceil(log2(value)) for value >= 1. */
static uint32_t ceil_log2(uint64_t value) {
    uint32_t bits = 0;
    while (((uint64_t)1 << bits) < value)
        bits++;
    return bits;
}

/* ceil(2^shift / divisor), shift < 64. A 64-bit machine divides natively; a 32-bit one
 * shifts and subtracts, so that the freestanding core needs no 64-bit division helper from
 * libgcc. */
static uint64_t ceil_pow2_div(uint32_t shift, uint32_t divisor) {
#if UINTPTR_MAX > 0xffffffffu
    return (((uint64_t)1 << shift) + divisor - 1) / divisor;
#else
    uint64_t quotient = 0, remainder = 0;
    for (int bit = (int)shift; bit >= 0; bit--) {
        remainder = (remainder << 1) | (bit == (int)shift);
        quotient <<= 1;
        if (remainder >= divisor) {
            remainder -= divisor;
            quotient |= 1;
        }
    }
    return quotient + (remainder != 0);
#endif
}

/* Slot offsets are below slab_size = 2^s. With k = s + ceil(log2 stride) and
 * m = ceil(2^k / stride), (offset * m) >> k == offset / stride for every such offset, and
 * offset * m < 2^(2s+1) fits in 64 bits because s <= 30. */
void aslab__divider_for(size_t slab_size, uint32_t stride, uint64_t *mul, uint32_t *shift) {
    *shift = ceil_log2(slab_size) + ceil_log2(stride);
    *mul = ceil_pow2_div(*shift, stride);
}

static void set_divider(aslab__master *master) {
    aslab__divider_for(master->slab_size, master->stride, &master->div_mul, &master->div_shift);
}

static aslab_error check_args(size_t obj_size, size_t obj_align, size_t slab_size,
                              const aslab_lock_ops *lock, const aslab_slab_hooks *hooks) {
    if (obj_size == 0 || !ASLAB__IS_POW2(obj_align)) return ASLAB_ERR_INVALID_ARGUMENT;
    if (!aslab__slab_size_valid(slab_size)) return ASLAB_ERR_INVALID_ARGUMENT;
    if (obj_size > slab_size || obj_align >= slab_size) return ASLAB_ERR_INVALID_ARGUMENT;
    if (lock->size > ASLAB_LOCK_MAX || !lock->init || !lock->lock || !lock->unlock)
        return ASLAB_ERR_INVALID_ARGUMENT;
    if (hooks != NULL && (hooks->alloc == NULL || hooks->free == NULL))
        return ASLAB_ERR_INVALID_ARGUMENT;
    return ASLAB_OK;
}

static void master_init(aslab__master *master, size_t obj_size, size_t obj_align, size_t stride,
                        size_t slab_size, const aslab_lock_ops *lock) {
    memset(master, 0, sizeof *master);
    if (lock != &aslab_nolock) {
        master->lock_fn = lock->lock;
        master->unlock_fn = lock->unlock;
    }
    master->slab_size = slab_size;
    master->obj_size = obj_size;
    master->obj_align = obj_align;
    master->stride = (uint32_t)stride;
    set_divider(master);
    aslab__list_init(&master->empty);
    aslab__list_init(&master->partial);
    aslab__list_init(&master->full);
    master->refs = 1;
    master->slabs = master->hook_allocs = master->empty_slabs = 1;
    master->init_fn = lock->init;
    lock->init(master->lock_state);
}

/* The reserve after a slave's header, rounded up to 64; SIZE_MAX if it cannot fit. */
static size_t reserve_for(size_t header_reserve, size_t slab_size) {
    if (header_reserve > slab_size) return SIZE_MAX;
    return (header_reserve + 63) & ~(size_t)63;
}

aslab_error aslab_cache_create_config(aslab_cache **out, const aslab_cache_config *config) {
    if (out == NULL || config == NULL) return ASLAB_ERR_INVALID_ARGUMENT;
    const aslab_lock_ops *lock = config->lock != NULL ? config->lock : &aslab_nolock;
    size_t obj_size = config->obj_size, obj_align = config->obj_align;
    size_t slab_size = config->slab_size;
    aslab_error err = check_args(obj_size, obj_align, slab_size, lock, config->hooks);
    if (err != ASLAB_OK) return err;
    size_t reserve = reserve_for(config->header_reserve, slab_size);
    if (reserve == SIZE_MAX) return ASLAB_ERR_INVALID_ARGUMENT;
    size_t align = obj_align < 4 ? 4 : obj_align;
    size_t stride = (obj_size + align - 1) & ~(align - 1);
    aslab__geometry master_geo, slave_geo;
    err = aslab__geometry_for(sizeof(aslab__master), stride, align, slab_size, &master_geo);
    if (err == ASLAB_OK)
        err = aslab__geometry_for(sizeof(aslab__slab) + reserve, stride, align, slab_size,
                                  &slave_geo);
    if (err != ASLAB_OK) return err;

    const aslab__hooks hooks = {config->hooks, config->hooks_context};
    void *block;
    err = aslab__slab_fetch(&hooks, slab_size, &block);
    if (err != ASLAB_OK) return err;
    aslab__master *master = block;
    master_init(master, obj_size, obj_align, stride, slab_size, lock);
    master->hooks = hooks;
    master->slave = slave_geo;
    master->header_reserve = reserve;
    master->capacity = master_geo.capacity;
    aslab__slab_init(&master->slab, master, &master_geo);
    aslab__list_push(&master->empty, &master->slab.link);
    *out = (aslab_cache *)master;
    return ASLAB_OK;
}

aslab_error aslab_cache_create(aslab_cache **out, size_t obj_size, size_t obj_align,
                               size_t slab_size, const aslab_lock_ops *lock) {
    const aslab_cache_config config = {obj_size, obj_align, slab_size, lock, 0, NULL, NULL};
    return aslab_cache_create_config(out, &config);
}

aslab_cache *aslab_cache_clone(aslab_cache *cache) {
    aslab__master *master;
    if (aslab__master_of(cache, &master) != ASLAB_OK) return NULL;
    aslab__lock(master);
    int ok = master->refs != 0 && master->refs != SIZE_MAX;
    if (ok) master->refs++;
    aslab__unlock(master);
    return ok ? cache : NULL;
}

/* Attaches one more slave. Called and returns with the lock held; drops it around the hook
 * so that other threads keep going and the hook may take locks of its own. */
aslab_error aslab__grow_locked(aslab__master *master) {
    void *block;
    aslab__unlock(master);
    aslab_error err = aslab__slab_fetch(&master->hooks, master->slab_size, &block);
    if (err == ASLAB_OK) aslab__slab_init(block, master, &master->slave);
    aslab__lock(master);
    if (err != ASLAB_OK) return err;
    aslab__slab *slab = block;
    aslab__list_push(&master->empty, &slab->link);
    master->slabs++;
    master->empty_slabs++;
    master->hook_allocs++;
    master->capacity += slab->capacity;
    return ASLAB_OK;
}

static void detach(aslab__master *master, aslab__slab *slab, aslab__retire *retire) {
    aslab__list_unlink(&slab->link);
    master->slabs--;
    master->empty_slabs--;
    master->hook_frees++;
    master->capacity -= slab->capacity;
    master->pending++;
    slab->link.next = (aslab__link *)retire->head;
    retire->head = slab;
    retire->count++;
}

/* Empty slaves on the empty list: the master is there too when it is empty and not current. */
static size_t empty_slaves(const aslab__master *master) {
    int master_listed = master->current != &master->slab && master->slab.used == 0;
    return master->empty_slabs - (size_t)master_listed;
}

static void detach_all_empty_slaves(aslab__master *master, aslab__retire *retire) {
    aslab__uncurrent(master);
    aslab__link *link = master->empty.next;
    while (link != &master->empty) {
        aslab__link *next = link->next;
        aslab__slab *slab = aslab__slab_of_link(link);
        if (slab != &master->slab) detach(master, slab, retire);
        link = next;
    }
}

static void check_finished(aslab__master *master, aslab__retire *retire) {
    if (master->refs != 0 || master->in_use != 0) return;
    detach_all_empty_slaves(master, retire);
    if (master->pending == retire->count) retire->destroy = 1;
}

/* After an object of `slab` was freed, under the lock: decides what goes back to the hook.
 * An empty slave goes back at once when ASLAB_EMPTY_RESERVE other empty slaves are kept
 * already (the current slab counts like any other); with no handle left nothing is kept,
 * and with no object left either the whole hierarchy goes. */
void aslab__collect_locked(aslab__master *master, aslab__slab *slab, aslab__retire *retire) {
    if (slab->used != 0) return;
    if (slab != &master->slab) {
        size_t keep = master->refs != 0 ? ASLAB_EMPTY_RESERVE : 0;
        const aslab__slab *current = master->current;
        int current_empty_slave = current != NULL && current != &master->slab && current->used == 0;
        size_t others = empty_slaves(master) + (size_t)current_empty_slave - 1;
        if (others >= keep) {
            if (slab == current) aslab__uncurrent(master);
            detach(master, slab, retire);
        }
    }
    check_finished(master, retire);
}

/* Hands the retired slabs to the hooks; returns the first error they gave. */
static aslab_error give_back(const aslab__hooks *hooks, aslab__slab *head, size_t slab_size,
                             size_t *errors) {
    aslab_error first = ASLAB_OK;
    while (head != NULL) {
        aslab__slab *next = (aslab__slab *)head->link.next;
        head->magic = 0; /* stale pointers into a reused block no longer validate */
        aslab_error err = aslab__slab_give(hooks, head, slab_size);
        if (err != ASLAB_OK) {
            (*errors)++;
            if (first == ASLAB_OK) first = err;
        }
        head = next;
    }
    return first;
}

/* Drops the lock, then hands back what was retired under it. Slabs in flight keep the
 * master alive (pending); the last one back rechecks whether the hierarchy is finished. */
aslab_error aslab__finish_unlock(aslab__master *master, aslab__retire *retire) {
    aslab_error first = ASLAB_OK;
    const size_t slab_size = master->slab_size;
    const aslab__hooks hooks = master->hooks; /* the master itself may be the last slab */
    for (;;) {
        aslab__unlock(master);
        if (retire->head == NULL && !retire->destroy) return first;
        size_t errors = 0;
        aslab_error err = give_back(&hooks, retire->head, slab_size, &errors);
        if (first == ASLAB_OK) first = err;
        if (retire->destroy) {
            master->slab.magic = 0;
            err = aslab__slab_give(&hooks, master, slab_size);
            return first != ASLAB_OK ? first : err;
        }
        aslab__lock(master);
        master->pending -= retire->count;
        master->hook_free_errors += errors;
        *retire = (aslab__retire){0};
        check_finished(master, retire);
    }
}

aslab_error aslab_cache_release(aslab_cache *cache) {
    aslab__master *master;
    aslab_error err = aslab__master_of(cache, &master);
    if (err != ASLAB_OK) return err;
    aslab__lock(master);
    if (master->refs == 0) {
        aslab__unlock(master);
        return ASLAB_ERR_RELEASED_HANDLE;
    }
    aslab__retire retire = {0};
    if (--master->refs == 0) detach_all_empty_slaves(master, &retire);
    check_finished(master, &retire);
    return aslab__finish_unlock(master, &retire);
}

size_t aslab_cache_trim(aslab_cache *cache) {
    aslab__master *master;
    if (aslab__master_of(cache, &master) != ASLAB_OK) return 0;
    aslab__lock(master);
    aslab__retire retire = {0};
    detach_all_empty_slaves(master, &retire);
    size_t count = retire.count;
    (void)aslab__finish_unlock(master, &retire);
    return count;
}

aslab_error aslab_cache_stats_get(aslab_cache *cache, aslab_cache_stats *out) {
    aslab__master *master;
    aslab_error err = aslab__master_of(cache, &master);
    if (err != ASLAB_OK) return err;
    if (out == NULL) return ASLAB_ERR_INVALID_ARGUMENT;
    aslab__lock(master);
    out->slabs = master->slabs;
    const aslab__slab *current = master->current;
    out->empty_slabs = master->empty_slabs + (current != NULL && current->used == 0);
    out->objects_in_use = master->in_use;
    out->capacity = master->capacity;
    out->hook_allocs = master->hook_allocs;
    out->hook_frees = master->hook_frees;
    out->obj_size = master->stride;
    out->hook_free_errors = master->hook_free_errors;
    out->slabs_lent = master->slabs_lent;
    out->slabs_quarantined = master->slabs_quarantined;
    aslab__unlock(master);
    return ASLAB_OK;
}

aslab_error aslab_cache_lock(aslab_cache *cache) {
    aslab__master *master;
    aslab_error err = aslab__master_of(cache, &master);
    if (err == ASLAB_OK) aslab__lock(master);
    return err;
}

aslab_error aslab_cache_unlock(aslab_cache *cache) {
    aslab__master *master;
    aslab_error err = aslab__master_of(cache, &master);
    if (err == ASLAB_OK) aslab__unlock(master);
    return err;
}

aslab_error aslab_cache_lock_reinit(aslab_cache *cache) {
    aslab__master *master;
    aslab_error err = aslab__master_of(cache, &master);
    if (err == ASLAB_OK) master->init_fn(master->lock_state);
    return err;
}

const void *aslab_cache_lock_state(aslab_cache *cache) {
    aslab__master *master;
    return aslab__master_of(cache, &master) == ASLAB_OK ? master->lock_state : NULL;
}
