/* test_typed.c - the header's conveniences: ASLAB_TYPED_CACHE, ASLAB_AUTOFREE and
 * ASLAB_FIELD_PTR; and a custom lock, whose calls must be balanced. */
#include "test_hooks.h"
#include "test_suites.h"
#include "test_util.h"

#define PAIR_SLAB 4096

struct pair {
    uint64_t a, b;
};

struct wide {
    _Alignas(64) char bytes[100];
};

ASLAB_TYPED_CACHE(pairs, struct pair, PAIR_SLAB, &aslab_spinlock);
ASLAB_TYPED_CACHE(wides, struct wide, 8192, NULL);

static void test_typed_cache(void) {
    aslab_cache *cache = NULL;
    CU_ASSERT_EQUAL_FATAL(pairs_create(&cache), ASLAB_OK);
    CU_ASSERT_EQUAL(tu_stats(cache).obj_size, sizeof(struct pair));
    struct pair *p = pairs_alloc(cache);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL((uintptr_t)p % _Alignof(struct pair), 0);
    p->a = 1, p->b = 2;
    CU_ASSERT_EQUAL(tu_stats(cache).objects_in_use, 1);
    CU_ASSERT_EQUAL(pairs_free(p), ASLAB_OK);
    CU_ASSERT_EQUAL(pairs_free(p), ASLAB_ERR_DOUBLE_FREE);
    CU_ASSERT_PTR_NULL(pairs_alloc(NULL));
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
}

static void test_typed_cache_over_aligned(void) {
    aslab_cache *cache = NULL;
    CU_ASSERT_EQUAL_FATAL(wides_create(&cache), ASLAB_OK);
    CU_ASSERT_EQUAL(tu_stats(cache).obj_size, sizeof(struct wide)); /* 128: a multiple of 64 */
    struct wide *w[3];
    for (int i = 0; i < 3; i++) {
        w[i] = wides_alloc(cache);
        CU_ASSERT_PTR_NOT_NULL_FATAL(w[i]);
        CU_ASSERT_EQUAL((uintptr_t)w[i] % 64, 0);
        tu_fill(w[i]->bytes, sizeof w[i]->bytes, (uint64_t)i);
    }
    for (int i = 0; i < 3; i++) {
        CU_ASSERT(tu_intact(w[i]->bytes, sizeof w[i]->bytes, (uint64_t)i));
        CU_ASSERT_EQUAL(wides_free(w[i]), ASLAB_OK);
    }
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
}

static size_t in_use(aslab_cache *cache) {
    return tu_stats(cache).objects_in_use;
}

/* Leaves the scope of an autofree object early, by return. */
static int early_return(aslab_cache *cache) {
    struct pair *p ASLAB_AUTOFREE(4096) = pairs_alloc(cache);
    if (p == NULL) return 0;
    return in_use(cache) == 1;
}

static void test_autofree(void) {
    aslab_cache *cache = NULL;
    CU_ASSERT_EQUAL_FATAL(pairs_create(&cache), ASLAB_OK);
    {
        struct pair *p ASLAB_AUTOFREE(4096) = pairs_alloc(cache);
        struct pair *q ASLAB_AUTOFREE(PAIR_SLAB) = pairs_alloc(cache); /* a macro naming it */
        CU_ASSERT_PTR_NOT_NULL(p);
        CU_ASSERT_PTR_NOT_NULL(q);
        CU_ASSERT_EQUAL(in_use(cache), 2);
    }
    CU_ASSERT_EQUAL(in_use(cache), 0);
    CU_ASSERT(early_return(cache));
    CU_ASSERT_EQUAL(in_use(cache), 0);
    for (int i = 0; i < 10; i++) {
        struct pair *p ASLAB_AUTOFREE(4096) = pairs_alloc(cache);
        if (i % 2 == 0) continue;
        CU_ASSERT_PTR_NOT_NULL(p);
    }
    CU_ASSERT_EQUAL(in_use(cache), 0);
    {
        struct pair *none ASLAB_AUTOFREE(4096) = NULL; /* left alone */
        CU_ASSERT_PTR_NULL(none);
    }
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
}

static struct pair *counted(struct pair *p, int *calls) {
    (*calls)++;
    return p;
}

static void test_field_ptr(void) {
    struct pair pair = {1, 2};
    struct pair *none = NULL;
    int calls = 0;
    CU_ASSERT_PTR_EQUAL(ASLAB_FIELD_PTR(&pair, struct pair, b), &pair.b);
    CU_ASSERT_PTR_EQUAL(ASLAB_FIELD_PTR(&pair, struct pair, a), &pair.a);
    CU_ASSERT_PTR_NULL(ASLAB_FIELD_PTR(none, struct pair, b));
    CU_ASSERT_PTR_EQUAL(ASLAB_FIELD_PTR(counted(&pair, &calls), struct pair, b), &pair.b);
    CU_ASSERT_EQUAL(calls, 1);
    CU_ASSERT_PTR_NULL(ASLAB_FIELD_PTR(counted(NULL, &calls), struct pair, b));
    CU_ASSERT_EQUAL(calls, 2);
}

/* The counting lock: init once, on zeroed 8-aligned state; every lock matched. */
static void test_custom_lock(void) {
    tu_lock_counts start = tu_lock_counts_get();
    aslab_cache *cache = tu_create(24, 8, 1024, &tu_counting_lock);
    tu_lock_counts now = tu_lock_counts_get();
    CU_ASSERT_EQUAL(now.inits, start.inits + 1);
    void *objs[100];
    CU_ASSERT_EQUAL_FATAL(tu_alloc_n(cache, objs, 100), 100); /* several slabs */
    CU_ASSERT_PTR_EQUAL(aslab_cache_clone(cache), cache);
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
    CU_ASSERT_EQUAL(tu_free_n(objs, 100, 1024), 0);
    aslab_cache_trim(cache);
    now = tu_lock_counts_get();
    CU_ASSERT(now.locks >= start.locks + 200);
    CU_ASSERT_EQUAL(now.locks - start.locks, now.unlocks - start.unlocks);
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
    now = tu_lock_counts_get();
    CU_ASSERT_EQUAL(now.locks - start.locks, now.unlocks - start.unlocks);
    CU_ASSERT_EQUAL(now.inits, start.inits + 1);
    CU_ASSERT_EQUAL(now.misuses, start.misuses);
}

/* A lock state of the full ASLAB_LOCK_MAX bytes, with no trylock. */
static void test_largest_custom_lock(void) {
    aslab_lock_ops ops = tu_counting_lock;
    ops.size = ASLAB_LOCK_MAX;
    ops.trylock = NULL;
    tu_lock_counts start = tu_lock_counts_get();
    aslab_cache *cache = tu_create(24, 8, TU_SLAB, &ops);
    void *obj;
    CU_ASSERT_EQUAL_FATAL(aslab_alloc(cache, &obj), ASLAB_OK);
    CU_ASSERT_EQUAL(aslab_free(obj, TU_SLAB), ASLAB_OK);
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
    tu_lock_counts now = tu_lock_counts_get();
    CU_ASSERT(now.locks > start.locks);
    CU_ASSERT_EQUAL(now.locks - start.locks, now.unlocks - start.unlocks);
    CU_ASSERT_EQUAL(now.misuses, start.misuses);
}

CU_TestInfo test_typed_tests[] = {
    {"typed cache", test_typed_cache},
    {"typed cache, over-aligned type", test_typed_cache_over_aligned},
    {"ASLAB_AUTOFREE", test_autofree},
    {"ASLAB_FIELD_PTR", test_field_ptr},
    {"a custom lock", test_custom_lock},
    {"the largest custom lock", test_largest_custom_lock},
    CU_TEST_INFO_NULL,
};
