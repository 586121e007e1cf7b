/* test_util.c - helpers shared by the core tests. */
#include "test_util.h"

#include <CUnit/CUnit.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

void tu_shuffle(void **items, size_t n, uint64_t *state) {
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(tu_random(state) % i);
        void *tmp = items[i - 1];
        items[i - 1] = items[j];
        items[j] = tmp;
    }
}

static int compare_addresses(const void *a, const void *b) {
    uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
    return (x > y) - (x < y);
}

void tu_sort(void **items, size_t n) {
    qsort(items, n, sizeof *items, compare_addresses);
}

static uint8_t pattern_byte(uint64_t key, size_t i) {
    return (uint8_t)((key >> (8 * (i % 8))) ^ (i * 0x9d) ^ (i >> 8));
}

void tu_fill(void *obj, size_t size, uint64_t key) {
    uint8_t *bytes = obj;
    for (size_t i = 0; i < size; i++)
        bytes[i] = pattern_byte(key, i);
}

int tu_intact(const void *obj, size_t size, uint64_t key) {
    const uint8_t *bytes = obj;
    for (size_t i = 0; i < size; i++)
        if (bytes[i] != pattern_byte(key, i)) return 0;
    return 1;
}

aslab_cache *tu_create(size_t obj_size, size_t obj_align, size_t slab_size,
                       const aslab_lock_ops *lock) {
    aslab_cache *cache = NULL;
    CU_ASSERT_EQUAL_FATAL(aslab_cache_create(&cache, obj_size, obj_align, slab_size, lock),
                          ASLAB_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cache);
    return cache;
}

aslab_cache_stats tu_stats(aslab_cache *cache) {
    aslab_cache_stats st = {0};
    CU_ASSERT_EQUAL(aslab_cache_stats_get(cache, &st), ASLAB_OK);
    CU_ASSERT(st.slabs >= 1);
    CU_ASSERT_EQUAL(st.slabs, st.hook_allocs - st.hook_frees);
    CU_ASSERT(st.empty_slabs <= st.slabs);
    CU_ASSERT(st.objects_in_use <= st.capacity);
    CU_ASSERT(st.capacity >= st.slabs);  /* every slab holds at least one slot */
    CU_ASSERT(st.slabs_lent < st.slabs); /* the master is never lent */
    CU_ASSERT(st.slabs_lent + st.slabs_quarantined <= st.slabs);
    return st;
}

int tu_stats_equal(const aslab_cache_stats *a, const aslab_cache_stats *b) {
    return a->slabs == b->slabs && a->empty_slabs == b->empty_slabs &&
           a->objects_in_use == b->objects_in_use && a->capacity == b->capacity &&
           a->hook_allocs == b->hook_allocs && a->hook_frees == b->hook_frees &&
           a->obj_size == b->obj_size && a->hook_free_errors == b->hook_free_errors &&
           a->slabs_lent == b->slabs_lent && a->slabs_quarantined == b->slabs_quarantined;
}

size_t tu_alloc_n(aslab_cache *cache, void **objs, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (aslab_alloc(cache, &objs[i]) != ASLAB_OK) return i;
    return n;
}

size_t tu_free_n(void *const *objs, size_t n, size_t slab_size) {
    size_t errors = 0;
    for (size_t i = 0; i < n; i++)
        errors += aslab_free(objs[i], slab_size) != ASLAB_OK;
    return errors;
}

/* ---- the counting lock ---- */

#define TU_LOCK_READY 0x10c4ed

typedef struct counting_state {
    atomic_uint held;
    unsigned ready; /* TU_LOCK_READY once init ran */
} counting_state;

static atomic_size_t inits, locks, unlocks, trylocks, misuses;

static void counting_init(void *state) {
    counting_state *s = state;
    atomic_fetch_add(&inits, 1);
    if ((uintptr_t)state % 8 != 0 || atomic_load(&s->held) != 0 || s->ready != 0)
        atomic_fetch_add(&misuses, 1);
    s->ready = TU_LOCK_READY;
}

static int counting_trylock(void *state) {
    counting_state *s = state;
    atomic_fetch_add(&trylocks, 1);
    if (s->ready != TU_LOCK_READY) atomic_fetch_add(&misuses, 1);
    return atomic_exchange_explicit(&s->held, 1, memory_order_acquire) == 0;
}

static void counting_lock(void *state) {
    counting_state *s = state;
    atomic_fetch_add(&locks, 1);
    if (s->ready != TU_LOCK_READY) atomic_fetch_add(&misuses, 1);
    while (atomic_exchange_explicit(&s->held, 1, memory_order_acquire) != 0)
        sched_yield();
}

static void counting_unlock(void *state) {
    counting_state *s = state;
    atomic_fetch_add(&unlocks, 1);
    if (s->ready != TU_LOCK_READY) atomic_fetch_add(&misuses, 1);
    if (atomic_exchange_explicit(&s->held, 0, memory_order_release) != 1)
        atomic_fetch_add(&misuses, 1);
}

const aslab_lock_ops tu_counting_lock = {sizeof(counting_state), counting_init, counting_lock,
                                         counting_unlock, counting_trylock};

tu_lock_counts tu_lock_counts_get(void) {
    return (tu_lock_counts){atomic_load(&inits), atomic_load(&locks), atomic_load(&unlocks),
                            atomic_load(&trylocks), atomic_load(&misuses)};
}
