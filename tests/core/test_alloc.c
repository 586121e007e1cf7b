/* test_alloc.c - allocation across many slabs: every object distinct, inside a slab the
 * hook gave, aligned, writable in full; frees in random order checked step by step against
 * a model of the empty-slab reserve; breathing across a slab boundary; trim. */
#include "test_hooks.h"
#include "test_suites.h"
#include "test_util.h"

#include <stdlib.h>

#define MAX_SLABS 16
#define MAX_OBJS  8192
#define SLABS     10   /* how many slabs the many-slab test fills */
#define FEW_OBJS  1024 /* enough for a few slabs of 40-byte objects */

typedef struct config {
    size_t size, align, slab;
} config;

/* What the test knows of the cache: its slabs (the master first) and their live objects. */
typedef struct fixture {
    config cfg;
    aslab_cache *cache;
    size_t stride;
    void **objs;
    size_t n;
    uintptr_t base[MAX_SLABS];
    size_t live[MAX_SLABS];
    size_t slabs;
    size_t kept, returned; /* empty slaves kept, and handed back */
} fixture;

/* The pattern key of an object: its address, so two overlapping objects spoil each other. */
static uint64_t key_of(const void *obj) {
    return (uintptr_t)obj * 0x9e3779b97f4a7c15ull;
}

static size_t slab_index(fixture *f, uintptr_t base) {
    for (size_t i = 0; i < f->slabs; i++)
        if (f->base[i] == base) return i;
    CU_ASSERT_FATAL(f->slabs < MAX_SLABS);
    f->base[f->slabs] = base;
    f->live[f->slabs] = 0;
    return f->slabs++;
}

/* Checks a new object's placement, records it, and writes its pattern over the slot. */
static void take_object(fixture *f, void *obj) {
    CU_ASSERT_PTR_NOT_NULL_FATAL(obj);
    uintptr_t addr = (uintptr_t)obj, base = tu_slab_of(obj, f->cfg.slab);
    CU_ASSERT_EQUAL(addr % TU_MAX(f->cfg.align, 4), 0);
    CU_ASSERT_EQUAL(th_block_size((void *)base), f->cfg.slab);
    CU_ASSERT(addr > base); /* the header is at the base */
    CU_ASSERT(addr + f->stride <= base + f->cfg.slab);
    f->live[slab_index(f, base)]++;
    tu_fill(obj, f->stride, key_of(obj));
    f->objs[f->n++] = obj;
}

/* Allocates one object at a time until SLABS slabs are full. */
static void fill_slabs(fixture *f) {
    aslab_cache_stats st = tu_stats(f->cache);
    while (st.slabs < SLABS || st.objects_in_use < st.capacity) {
        CU_ASSERT_FATAL(f->n < MAX_OBJS);
        void *obj = NULL;
        CU_ASSERT_EQUAL_FATAL(aslab_alloc(f->cache, &obj), ASLAB_OK);
        take_object(f, obj);
        st = tu_stats(f->cache);
        CU_ASSERT_EQUAL(st.objects_in_use, f->n);
        CU_ASSERT_EQUAL(st.slabs, f->slabs);
        CU_ASSERT_EQUAL(st.slabs, th_outstanding());
        CU_ASSERT_EQUAL(st.empty_slabs, 0);
    }
    CU_ASSERT_EQUAL(st.slabs, SLABS);
    CU_ASSERT_EQUAL(st.capacity, f->n);
    CU_ASSERT_EQUAL(st.hook_allocs, SLABS);
}

/* Every pattern intact, and no two slots closer than the stride. */
static void check_all_objects(fixture *f) {
    void **sorted = malloc(f->n * sizeof *sorted);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sorted);
    for (size_t i = 0; i < f->n; i++) {
        CU_ASSERT(tu_intact(f->objs[i], f->stride, key_of(f->objs[i])));
        sorted[i] = f->objs[i];
    }
    tu_sort(sorted, f->n);
    for (size_t i = 1; i < f->n; i++)
        CU_ASSERT((uintptr_t)sorted[i] - (uintptr_t)sorted[i - 1] >= f->stride);
    free(sorted);
}

/* Frees one object and updates the model: a slave that empties is kept while the reserve
 * has room and handed back at once otherwise. */
static void free_one_modelled(fixture *f, void *obj) {
    CU_ASSERT(tu_intact(obj, f->stride, key_of(obj)));
    CU_ASSERT_EQUAL(aslab_free(obj, f->cfg.slab), ASLAB_OK);
    uintptr_t base = tu_slab_of(obj, f->cfg.slab);
    size_t slab = slab_index(f, base);
    if (--f->live[slab] != 0 || slab == 0) return;
    if (f->kept < ASLAB_EMPTY_RESERVE) {
        f->kept++;
        CU_ASSERT_EQUAL(th_block_size((void *)base), f->cfg.slab);
    } else {
        f->returned++;
        CU_ASSERT_EQUAL(th_block_size((void *)base), 0);
    }
}

static void check_stats_against_model(fixture *f, size_t in_use) {
    aslab_cache_stats st = tu_stats(f->cache);
    CU_ASSERT_EQUAL(st.objects_in_use, in_use);
    CU_ASSERT_EQUAL(st.slabs, f->slabs - f->returned);
    CU_ASSERT_EQUAL(st.slabs, th_outstanding());
    CU_ASSERT_EQUAL(st.empty_slabs, f->kept + (f->live[0] == 0));
    CU_ASSERT_EQUAL(st.hook_frees, f->returned);
}

static void free_all_in_random_order(fixture *f) {
    uint64_t seed = 0x5eed0000 + f->cfg.size;
    tu_shuffle(f->objs, f->n, &seed);
    for (size_t i = 0; i < f->n; i++) {
        free_one_modelled(f, f->objs[i]);
        check_stats_against_model(f, f->n - i - 1);
    }
    CU_ASSERT_EQUAL(f->kept, ASLAB_EMPTY_RESERVE);
}

static void run_many_slabs(config cfg) {
    fixture f = {.cfg = cfg};
    f.cache = tu_create(cfg.size, cfg.align, cfg.slab, &aslab_spinlock);
    f.objs = malloc(MAX_OBJS * sizeof *f.objs);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.objs);
    size_t master_capacity = tu_stats(f.cache).capacity;
    f.stride = tu_stats(f.cache).obj_size;
    fill_slabs(&f);
    check_all_objects(&f);
    free_all_in_random_order(&f);
    CU_ASSERT_EQUAL(aslab_cache_trim(f.cache), f.kept);
    aslab_cache_stats st = tu_stats(f.cache);
    CU_ASSERT_EQUAL(st.slabs, 1);
    CU_ASSERT_EQUAL(st.empty_slabs, 1);
    CU_ASSERT_EQUAL(st.capacity, master_capacity);
    CU_ASSERT_EQUAL(aslab_cache_release(f.cache), ASLAB_OK);
    free(f.objs);
}

static void test_many_slabs_small_objects(void) {
    run_many_slabs((config){40, 8, 4096});
    run_many_slabs((config){13, 1, 512});
    run_many_slabs((config){24, 8, 16384});
}

static void test_many_slabs_large_alignment(void) {
    run_many_slabs((config){100, 64, 1024});
    run_many_slabs((config){16, 2048, 8192});
}

static void test_many_slabs_one_object_each(void) {
    run_many_slabs((config){3000, 8, 4096});
}

static void test_many_slabs_smallest_slab(void) {
    run_many_slabs((config){1, 1, ASLAB_MIN_SLAB_SIZE});
    run_many_slabs((config){4, 4, ASLAB_MIN_SLAB_SIZE});
}

/* Allocating a few objects past a full slab and freeing them again, over and over, finds
 * the reserve each time: the hooks are called in the first round only. */
static void breathe(aslab_cache *cache, size_t filled) {
    void *objs[FEW_OBJS], *extra[3];
    CU_ASSERT_FATAL(filled <= FEW_OBJS);
    CU_ASSERT_EQUAL_FATAL(tu_alloc_n(cache, objs, filled), filled);
    size_t allocs = 0, frees = 0;
    for (int round = 0; round < 100; round++) {
        CU_ASSERT_EQUAL(tu_alloc_n(cache, extra, 3), 3);
        CU_ASSERT_EQUAL(tu_free_n(extra, 3, TU_SLAB), 0);
        if (round == 0) allocs = th_allocs(), frees = th_frees();
    }
    CU_ASSERT_EQUAL(th_allocs(), allocs);
    CU_ASSERT_EQUAL(th_frees(), frees);
    aslab_cache_stats st = tu_stats(cache);
    CU_ASSERT_EQUAL(st.hook_allocs - st.hook_frees, st.slabs);
    CU_ASSERT_EQUAL(tu_free_n(objs, filled, TU_SLAB), 0);
}

static void test_breathing_across_a_slab_boundary(void) {
    aslab_cache *cache = tu_create(40, 8, TU_SLAB, NULL);
    size_t master = tu_stats(cache).capacity;
    breathe(cache, master); /* across the master and the first slave */
    aslab_cache_stats st = tu_stats(cache);
    CU_ASSERT_EQUAL(st.slabs, 2);
    CU_ASSERT_EQUAL(st.empty_slabs, 2);
    size_t slave = st.capacity - master;
    CU_ASSERT(slave >= master); /* a slave has no master extension */
    CU_ASSERT_EQUAL(aslab_cache_trim(cache), 1);
    breathe(cache, master + 2 * slave); /* across the second and third slaves */
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
}

/* One object per slab: each slave empties on its own, so the reserve is easy to watch. */
static void test_reserve_keeps_two_empty_slaves(void) {
    void *objs[5];
    aslab_cache *cache = tu_create(3000, 8, TU_SLAB, NULL);
    CU_ASSERT_EQUAL_FATAL(tu_alloc_n(cache, objs, 5), 5); /* objs[0] is in the master */
    CU_ASSERT_EQUAL(tu_stats(cache).slabs, 5);
    static const size_t slabs_after[] = {5, 5, 4, 3}, empty_after[] = {1, 2, 2, 2};
    for (size_t i = 0; i < 4; i++) {
        CU_ASSERT_EQUAL(aslab_free(objs[4 - i], TU_SLAB), ASLAB_OK);
        aslab_cache_stats st = tu_stats(cache);
        CU_ASSERT_EQUAL(st.slabs, slabs_after[i]);
        CU_ASSERT_EQUAL(st.empty_slabs, empty_after[i]);
        CU_ASSERT_EQUAL(st.slabs, th_outstanding());
    }
    CU_ASSERT_EQUAL(aslab_free(objs[0], TU_SLAB), ASLAB_OK);
    CU_ASSERT_EQUAL(tu_stats(cache).empty_slabs, 3); /* the master too */
    CU_ASSERT_EQUAL(aslab_cache_trim(cache), 2);
    CU_ASSERT_EQUAL(aslab_cache_trim(cache), 0);
    CU_ASSERT_EQUAL(th_outstanding(), 1); /* the master stays */
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
}

/* Trim hands back only empty slaves; live objects anywhere stay intact. */
static void test_trim_keeps_live_objects(void) {
    void *objs[8];
    aslab_cache *cache = tu_create(3000, 8, TU_SLAB, &aslab_futexlock);
    CU_ASSERT_EQUAL_FATAL(tu_alloc_n(cache, objs, 5), 5);
    for (int i = 0; i < 5; i++)
        tu_fill(objs[i], 3000, key_of(objs[i]));
    CU_ASSERT_EQUAL(aslab_cache_trim(cache), 0);
    CU_ASSERT_EQUAL(aslab_free(objs[1], TU_SLAB), ASLAB_OK);
    CU_ASSERT_EQUAL(aslab_free(objs[3], TU_SLAB), ASLAB_OK);
    CU_ASSERT_EQUAL(aslab_cache_trim(cache), 2);
    aslab_cache_stats st = tu_stats(cache);
    CU_ASSERT_EQUAL(st.slabs, 3);
    CU_ASSERT_EQUAL(st.objects_in_use, 3);
    CU_ASSERT_EQUAL(st.empty_slabs, 0);
    CU_ASSERT_EQUAL(th_outstanding(), 3);
    for (int i = 0; i < 5; i += 2) {
        CU_ASSERT(tu_intact(objs[i], 3000, key_of(objs[i])));
        CU_ASSERT_EQUAL(aslab_free(objs[i], TU_SLAB), ASLAB_OK);
    }
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
}

/* Freed slots are reused before any slave is attached. */
static void test_freed_slots_are_reused(void) {
    void *objs[FEW_OBJS], *freed[FEW_OBJS], *again[FEW_OBJS];
    aslab_cache *cache = tu_create(40, 8, TU_SLAB, NULL);
    size_t n = tu_stats(cache).capacity, n_freed = 0;
    CU_ASSERT_FATAL(n <= FEW_OBJS);
    CU_ASSERT_EQUAL_FATAL(tu_alloc_n(cache, objs, n), n);
    for (size_t i = 0; i < n; i += 2) {
        CU_ASSERT_EQUAL(aslab_free(objs[i], TU_SLAB), ASLAB_OK);
        freed[n_freed++] = objs[i];
    }
    CU_ASSERT_EQUAL_FATAL(tu_alloc_n(cache, again, n_freed), n_freed);
    CU_ASSERT_EQUAL(tu_stats(cache).slabs, 1);
    tu_sort(freed, n_freed);
    tu_sort(again, n_freed);
    for (size_t i = 0; i < n_freed; i++)
        CU_ASSERT_PTR_EQUAL(again[i], freed[i]);
    CU_ASSERT_EQUAL(tu_free_n(objs, n, TU_SLAB), 0);
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
}

CU_TestInfo test_alloc_tests[] = {
    {"many slabs: small objects", test_many_slabs_small_objects},
    {"many slabs: large alignment", test_many_slabs_large_alignment},
    {"many slabs: one object each", test_many_slabs_one_object_each},
    {"many slabs: the smallest slab", test_many_slabs_smallest_slab},
    {"breathing across a slab boundary", test_breathing_across_a_slab_boundary},
    {"the reserve keeps two empty slaves", test_reserve_keeps_two_empty_slaves},
    {"trim keeps live objects", test_trim_keeps_live_objects},
    {"freed slots are reused", test_freed_slots_are_reused},
    CU_TEST_INFO_NULL,
};
