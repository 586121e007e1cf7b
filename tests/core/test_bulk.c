/* test_bulk.c - aslab_alloc_bulk and aslab_free_bulk: many slabs at once, partial counts
 * under out-of-memory, frees mixing caches and invalid pointers, one lock round per run. */
#include "test_hooks.h"
#include "test_suites.h"
#include "test_util.h"

#include <stdlib.h>

#define SLAB     TU_SLAB
#define MAX_OBJS 1024

static uint64_t key_of(const void *obj) {
    return (uintptr_t)obj ^ 0xb01cull;
}

/* Objects distinct, aligned, and in slabs the hook gave; each gets its pattern. */
static void check_and_fill(void **objs, size_t n, size_t size, size_t align) {
    void *sorted[MAX_OBJS];
    CU_ASSERT_FATAL(n <= MAX_OBJS);
    for (size_t i = 0; i < n; i++) {
        CU_ASSERT_PTR_NOT_NULL_FATAL(objs[i]);
        CU_ASSERT_EQUAL((uintptr_t)objs[i] % align, 0);
        CU_ASSERT_EQUAL(th_block_size((void *)tu_slab_of(objs[i], SLAB)), SLAB);
        tu_fill(objs[i], size, key_of(objs[i]));
        sorted[i] = objs[i];
    }
    tu_sort(sorted, n);
    for (size_t i = 1; i < n; i++)
        CU_ASSERT((uintptr_t)sorted[i] - (uintptr_t)sorted[i - 1] >= size);
}

static size_t count_intact(void **objs, size_t n, size_t size) {
    size_t intact = 0;
    for (size_t i = 0; i < n; i++)
        intact += tu_intact(objs[i], size, key_of(objs[i]));
    return intact;
}

static void test_bulk_across_slabs(void) {
    void *objs[MAX_OBJS];
    aslab_cache *cache = tu_create(40, 8, SLAB, &aslab_spinlock);
    size_t master = tu_stats(cache).capacity;
    CU_ASSERT_EQUAL(aslab_alloc_bulk(cache, objs, 0), 0);
    size_t n = 4 * master + 5; /* the master and at least three slaves */
    CU_ASSERT_FATAL(n <= MAX_OBJS);
    CU_ASSERT_EQUAL_FATAL(aslab_alloc_bulk(cache, objs, n), n);
    check_and_fill(objs, n, 40, 8);
    aslab_cache_stats st = tu_stats(cache);
    CU_ASSERT_EQUAL(st.objects_in_use, n);
    CU_ASSERT_EQUAL(st.slabs, th_outstanding());
    CU_ASSERT(st.slabs >= 4);
    CU_ASSERT_EQUAL(count_intact(objs, n, 40), n);
    uint64_t seed = 77;
    tu_shuffle(objs, n, &seed);
    CU_ASSERT_EQUAL(aslab_free_bulk(objs, 0, SLAB), ASLAB_OK);
    CU_ASSERT_EQUAL(aslab_free_bulk(objs, n, SLAB), ASLAB_OK);
    st = tu_stats(cache);
    CU_ASSERT_EQUAL(st.objects_in_use, 0);
    CU_ASSERT(st.slabs <= 1 + ASLAB_EMPTY_RESERVE);
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
}

/* Out of memory, bulk alloc returns what it could get: the master's slots, then those of
 * the one slave the hook still gave. */
static void test_bulk_alloc_partial_on_oom(void) {
    void *objs[MAX_OBJS];
    aslab_cache *cache = tu_create(40, 8, SLAB, NULL);
    size_t master = tu_stats(cache).capacity;
    th_fail_allocs(0, 100);
    CU_ASSERT_EQUAL_FATAL(aslab_alloc_bulk(cache, objs, master + 10), master);
    th_fail_allocs(1, 100);
    size_t got = aslab_alloc_bulk(cache, objs + master, 3 * master);
    aslab_cache_stats st = tu_stats(cache);
    CU_ASSERT_EQUAL(st.slabs, 2);
    CU_ASSERT_EQUAL(got, st.capacity - master); /* exactly the slave's slots */
    CU_ASSERT_EQUAL(st.objects_in_use, master + got);
    check_and_fill(objs, master + got, 40, 8);
    th_fail_allocs(0, 0);
    CU_ASSERT_EQUAL(aslab_free_bulk(objs, master + got, SLAB), ASLAB_OK);
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
}

/* Objects of two caches interleaved, and an interior pointer to a live object of the first
 * in the middle: every valid object is freed, the live one untouched, the error returned. */
static void test_bulk_free_mixed_caches_and_invalid(void) {
    void *a[8], *b[8], *victim, *objs[17];
    aslab_cache *ca = tu_create(24, 8, SLAB, &aslab_spinlock);
    aslab_cache *cb = tu_create(48, 16, SLAB, &aslab_futexlock);
    CU_ASSERT_EQUAL_FATAL(tu_alloc_n(ca, a, 8), 8);
    CU_ASSERT_EQUAL_FATAL(tu_alloc_n(cb, b, 8), 8);
    CU_ASSERT_EQUAL_FATAL(aslab_alloc(ca, &victim), ASLAB_OK);
    tu_fill(victim, 24, key_of(victim));
    size_t n = 0;
    for (int i = 0; i < 8; i++) { /* runs of one to three objects */
        if (i == 4) objs[n++] = (char *)victim + 8;
        objs[n++] = a[i];
        if (i % 3 == 0) objs[n++] = b[i];
    }
    for (int i = 0; i < 8; i++)
        if (i % 3 != 0) objs[n++] = b[i];
    CU_ASSERT_EQUAL(n, 17);
    CU_ASSERT_EQUAL(aslab_free_bulk(objs, n, SLAB), ASLAB_ERR_NOT_SLOT_START);
    CU_ASSERT_EQUAL(tu_stats(ca).objects_in_use, 1);
    CU_ASSERT_EQUAL(tu_stats(cb).objects_in_use, 0);
    CU_ASSERT(tu_intact(victim, 24, key_of(victim)));
    CU_ASSERT_EQUAL(aslab_free(victim, SLAB), ASLAB_OK);
    CU_ASSERT_EQUAL(aslab_cache_release(ca), ASLAB_OK);
    CU_ASSERT_EQUAL(aslab_cache_release(cb), ASLAB_OK);
}

/* The first error met is returned, whatever follows; valid objects are freed anyway. */
static void test_bulk_free_returns_first_error(void) {
    void *a[4];
    aslab_cache *cache = tu_create(16, 8, SLAB, NULL);
    CU_ASSERT_EQUAL_FATAL(tu_alloc_n(cache, a, 4), 4);
    void *dup_first[] = {a[0], a[0], NULL, a[1]};
    CU_ASSERT_EQUAL(aslab_free_bulk(dup_first, 4, SLAB), ASLAB_ERR_DOUBLE_FREE);
    CU_ASSERT_EQUAL(tu_stats(cache).objects_in_use, 2);
    void *null_first[] = {NULL, a[2], a[2], (char *)a[3] + 1, a[3]};
    CU_ASSERT_EQUAL(aslab_free_bulk(null_first, 5, SLAB), ASLAB_ERR_INVALID_POINTER);
    CU_ASSERT_EQUAL(tu_stats(cache).objects_in_use, 0);
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
}

static void test_bulk_free_bad_slab_size(void) {
    void *objs[4];
    aslab_cache *cache = tu_create(16, 8, SLAB, NULL);
    CU_ASSERT_EQUAL_FATAL(aslab_alloc_bulk(cache, objs, 4), 4);
    CU_ASSERT_EQUAL(aslab_free_bulk(objs, 4, SLAB - 1), ASLAB_ERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(aslab_free_bulk(objs, 4, SLAB / 2), ASLAB_ERR_WRONG_SLAB_SIZE);
    CU_ASSERT_EQUAL(tu_stats(cache).objects_in_use, 4);
    CU_ASSERT_EQUAL(aslab_free_bulk(objs, 4, SLAB), ASLAB_OK);
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
}

/* One lock round per call while no slab has to come from or go to the hook, and one per
 * run of objects that share a master. */
static void test_bulk_lock_rounds(void) {
    void *objs[20];
    aslab_cache *ca = tu_create(16, 8, SLAB, &tu_counting_lock);
    aslab_cache *cb = tu_create(16, 8, SLAB, &tu_counting_lock);
    tu_lock_counts before = tu_lock_counts_get();
    CU_ASSERT_EQUAL_FATAL(aslab_alloc_bulk(ca, objs, 10), 10);
    CU_ASSERT_EQUAL(tu_lock_counts_get().locks, before.locks + 1);
    CU_ASSERT_EQUAL_FATAL(aslab_alloc_bulk(cb, objs + 10, 10), 10);
    before = tu_lock_counts_get();
    CU_ASSERT_EQUAL(aslab_free_bulk(objs, 5, SLAB), ASLAB_OK); /* one run */
    CU_ASSERT_EQUAL(tu_lock_counts_get().locks, before.locks + 1);
    void *alternating[] = {objs[5], objs[15], objs[6], objs[16], objs[17]}; /* three runs */
    before = tu_lock_counts_get();
    CU_ASSERT_EQUAL(aslab_free_bulk(alternating, 5, SLAB), ASLAB_OK);
    CU_ASSERT_EQUAL(tu_lock_counts_get().locks, before.locks + 4);
    void *rest[] = {objs[7],  objs[8],  objs[9],  objs[10], objs[11],
                    objs[12], objs[13], objs[14], objs[18], objs[19]};
    CU_ASSERT_EQUAL(aslab_free_bulk(rest, 10, SLAB), ASLAB_OK);
    tu_lock_counts after = tu_lock_counts_get();
    CU_ASSERT_EQUAL(after.locks, after.unlocks);
    CU_ASSERT_EQUAL(after.misuses, 0);
    CU_ASSERT_EQUAL(aslab_cache_release(ca), ASLAB_OK);
    CU_ASSERT_EQUAL(aslab_cache_release(cb), ASLAB_OK);
}

CU_TestInfo test_bulk_tests[] = {
    {"bulk across slabs", test_bulk_across_slabs},
    {"bulk alloc is partial on OOM", test_bulk_alloc_partial_on_oom},
    {"bulk free: mixed caches and an invalid pointer", test_bulk_free_mixed_caches_and_invalid},
    {"bulk free returns the first error", test_bulk_free_returns_first_error},
    {"bulk free: bad slab size", test_bulk_free_bad_slab_size},
    {"bulk lock rounds", test_bulk_lock_rounds},
    CU_TEST_INFO_NULL,
};
