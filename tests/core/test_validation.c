/* test_validation.c - what aslab_free must refuse, with the right code and no effect:
 * double frees, slots never handed out, interior pointers, the header, tail padding,
 * memory aslab never made, and a byte-for-byte copy of a real slab. */
#include "test_hooks.h"
#include "test_suites.h"
#include "test_util.h"

#include <stdlib.h>
#include <string.h>

#define MAX_SLOTS 4096 /* slots of the largest slab below */

typedef struct config {
    size_t size, align, slab;
} config;

static const config configs[] = {
    {24, 8, 4096}, {100, 4, 1024}, {3000, 8, 4096}, {16, 256, 4096}, {1, 1, 512}, {20, 4, 65536},
};
#define N_CONFIGS (sizeof configs / sizeof configs[0])

/* One slab filled to capacity: its base, and its objects sorted by address. */
typedef struct full_slab {
    uintptr_t base;
    void *objs[MAX_SLOTS];
    size_t n;
} full_slab;

/* The mark each object carries in its first 4 bytes (every slot has at least 4). */
#define MARK_SIZE 4
static uint64_t mark(size_t i) {
    return (i + 1) * 0x9e3779b97f4a7c15ull;
}

/* Allocates the next slab's worth: the rest of a fresh master, or one slave filled. */
static void fill_next_slab(aslab_cache *cache, size_t slab_size, full_slab *out) {
    size_t in_use = tu_stats(cache).objects_in_use;
    CU_ASSERT_EQUAL_FATAL(aslab_alloc(cache, &out->objs[0]), ASLAB_OK);
    out->n = tu_stats(cache).capacity - in_use;
    CU_ASSERT_FATAL(out->n >= 1 && out->n <= MAX_SLOTS);
    CU_ASSERT_EQUAL_FATAL(tu_alloc_n(cache, out->objs + 1, out->n - 1), out->n - 1);
    out->base = tu_slab_of(out->objs[0], slab_size);
    tu_sort(out->objs, out->n);
    for (size_t i = 0; i < out->n; i++) {
        CU_ASSERT_EQUAL(tu_slab_of(out->objs[i], slab_size), out->base);
        tu_fill(out->objs[i], MARK_SIZE, mark(i));
    }
    aslab_cache_stats st = tu_stats(cache);
    CU_ASSERT_EQUAL(st.objects_in_use, st.capacity);
}

static size_t offset_of(const full_slab *s, size_t i) {
    return (uintptr_t)s->objs[i] - s->base;
}

/* Frees every object of the slab, checking each still holds its mark. */
static void free_slab_objects(const full_slab *s, size_t slab_size) {
    for (size_t i = 0; i < s->n; i++) {
        CU_ASSERT(tu_intact(s->objs[i], MARK_SIZE, mark(i)));
        CU_ASSERT_EQUAL(aslab_free(s->objs[i], slab_size), ASLAB_OK);
    }
}

/* The code aslab_free must give for an offset of a full slab that does not start a slot: the
 * boundary just past the last slot is an index out of range, any other offset (header,
 * inside a slot, inside the tail) is off a slot boundary. */
static aslab_error code_for(const full_slab *s, size_t offset, size_t stride) {
    size_t end = offset_of(s, s->n - 1) + stride;
    return offset == end ? ASLAB_ERR_INDEX_OUT_OF_RANGE : ASLAB_ERR_NOT_SLOT_START;
}

/* Every byte of a full slab that does not start a slot is refused with its code, and nothing
 * changes. */
static void sweep_slab(aslab_cache *cache, const full_slab *s, size_t slab_size) {
    aslab_cache_stats before = tu_stats(cache);
    size_t next = 0, refused = 0, stride = before.obj_size, past_end = 0;
    for (size_t offset = 0; offset < slab_size; offset++) {
        if (next < s->n && offset == offset_of(s, next)) {
            next++;
            continue;
        }
        aslab_error want = code_for(s, offset, stride);
        past_end += want == ASLAB_ERR_INDEX_OUT_OF_RANGE;
        refused += aslab_free((void *)(s->base + offset), slab_size) == want;
    }
    CU_ASSERT_EQUAL(next, s->n);
    CU_ASSERT_EQUAL(refused, slab_size - s->n);
    CU_ASSERT(past_end <= 1); /* only if the tail is not empty */
    aslab_cache_stats after = tu_stats(cache);
    CU_ASSERT(tu_stats_equal(&before, &after));
}

/* Header, interior and tail padding of both a master and a slave. */
static void test_every_offset_that_is_not_a_slot(void) {
    static full_slab master, slave;
    for (size_t c = 0; c < N_CONFIGS; c++) {
        const config *cfg = &configs[c];
        aslab_cache *cache = tu_create(cfg->size, cfg->align, cfg->slab, NULL);
        fill_next_slab(cache, cfg->slab, &master);
        fill_next_slab(cache, cfg->slab, &slave);
        sweep_slab(cache, &master, cfg->slab);
        sweep_slab(cache, &slave, cfg->slab);
        free_slab_objects(&master, cfg->slab);
        free_slab_objects(&slave, cfg->slab);
        CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
    }
}

static void test_interior_pointers(void) {
    aslab_cache *cache = tu_create(24, 8, TU_SLAB, NULL);
    void *objs[2];
    CU_ASSERT_EQUAL_FATAL(tu_alloc_n(cache, objs, 2), 2);
    aslab_cache_stats before = tu_stats(cache);
    char *p = objs[0];
    static const size_t offsets[] = {1, 2, 3, 4, 8, 12, 23};
    for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++)
        CU_ASSERT_EQUAL(aslab_free(p + offsets[i], TU_SLAB), ASLAB_ERR_NOT_SLOT_START);
    aslab_cache_stats after = tu_stats(cache);
    CU_ASSERT(tu_stats_equal(&before, &after));
    CU_ASSERT_EQUAL(tu_free_n(objs, 2, TU_SLAB), 0);
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
}

/* From the slab base up to the first slot, including slot-aligned steps before it. */
static void test_header_pointers(void) {
    static full_slab master;
    aslab_cache *cache = tu_create(8, 8, TU_SLAB, NULL);
    fill_next_slab(cache, TU_SLAB, &master);
    aslab_cache_stats before = tu_stats(cache);
    size_t first = offset_of(&master, 0);
    CU_ASSERT(first > 0);
    for (size_t offset = 0; offset < first; offset++)
        CU_ASSERT_EQUAL(aslab_free((void *)(master.base + offset), TU_SLAB),
                        ASLAB_ERR_NOT_SLOT_START);
    aslab_cache_stats after = tu_stats(cache);
    CU_ASSERT(tu_stats_equal(&before, &after));
    free_slab_objects(&master, TU_SLAB);
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
}

/* Freed slots report a double free, for as long as they stay free. */
static void test_double_free(void) {
    static full_slab master;
    aslab_cache *cache = tu_create(24, 8, TU_SLAB, &aslab_spinlock);
    fill_next_slab(cache, TU_SLAB, &master);
    for (size_t i = 0; i < master.n; i += 2)
        CU_ASSERT_EQUAL(aslab_free(master.objs[i], TU_SLAB), ASLAB_OK);
    aslab_cache_stats before = tu_stats(cache);
    for (size_t i = 0; i < master.n; i += 2)
        CU_ASSERT_EQUAL(aslab_free(master.objs[i], TU_SLAB), ASLAB_ERR_DOUBLE_FREE);
    aslab_cache_stats after = tu_stats(cache);
    CU_ASSERT(tu_stats_equal(&before, &after));
    for (size_t i = 1; i < master.n; i += 2) {
        CU_ASSERT(tu_intact(master.objs[i], MARK_SIZE, mark(i)));
        CU_ASSERT_EQUAL(aslab_free(master.objs[i], TU_SLAB), ASLAB_OK);
    }
    CU_ASSERT_EQUAL(tu_stats(cache).objects_in_use, 0);
    for (size_t i = 0; i < master.n; i++)
        CU_ASSERT_EQUAL(aslab_free(master.objs[i], TU_SLAB), ASLAB_ERR_DOUBLE_FREE);
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
}

/* In a fresh slab, every slot but the one handed out is free: freeing it is a double free.
 * The slot offsets come from a twin cache of the same geometry, filled. */
static void check_never_allocated(const full_slab *twin, void *only, size_t slab_size,
                                  aslab_cache *cache) {
    aslab_cache_stats before = tu_stats(cache);
    uintptr_t base = tu_slab_of(only, slab_size);
    size_t found = 0;
    for (size_t i = 0; i < twin->n; i++) {
        void *slot = (void *)(base + offset_of(twin, i));
        if (slot == only)
            found++;
        else
            CU_ASSERT_EQUAL(aslab_free(slot, slab_size), ASLAB_ERR_DOUBLE_FREE);
    }
    CU_ASSERT_EQUAL(found, 1);
    aslab_cache_stats after = tu_stats(cache);
    CU_ASSERT(tu_stats_equal(&before, &after));
}

static void test_never_allocated_slots(void) {
    static full_slab twin_master, twin_slave, master;
    aslab_cache *twin = tu_create(40, 8, TU_SLAB, NULL);
    fill_next_slab(twin, TU_SLAB, &twin_master);
    fill_next_slab(twin, TU_SLAB, &twin_slave);
    aslab_cache *cache = tu_create(40, 8, TU_SLAB, &aslab_futexlock);
    void *obj;
    CU_ASSERT_EQUAL_FATAL(aslab_alloc(cache, &obj), ASLAB_OK);
    check_never_allocated(&twin_master, obj, TU_SLAB, cache);
    CU_ASSERT_EQUAL(aslab_free(obj, TU_SLAB), ASLAB_OK);
    fill_next_slab(cache, TU_SLAB, &master);
    CU_ASSERT_EQUAL_FATAL(aslab_alloc(cache, &obj), ASLAB_OK); /* the first of a slave */
    check_never_allocated(&twin_slave, obj, TU_SLAB, cache);
    CU_ASSERT_EQUAL(aslab_free(obj, TU_SLAB), ASLAB_OK);
    free_slab_objects(&master, TU_SLAB);
    free_slab_objects(&twin_master, TU_SLAB);
    free_slab_objects(&twin_slave, TU_SLAB);
    CU_ASSERT_EQUAL(aslab_cache_release(twin), ASLAB_OK);
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
}

/* Every 4th byte of a slab-aligned block aslab never made is refused. */
static void check_foreign_block(unsigned char *block, size_t size) {
    size_t refused = 0;
    for (size_t offset = 0; offset < size; offset += 4)
        refused += aslab_free(block + offset, size) == ASLAB_ERR_NOT_A_SLAB;
    CU_ASSERT_EQUAL(refused, size / 4);
}

static void test_foreign_memory(void) {
    unsigned char *block = aligned_alloc(TU_SLAB, TU_SLAB);
    CU_ASSERT_PTR_NOT_NULL_FATAL(block);
    memset(block, 0, TU_SLAB);
    check_foreign_block(block, TU_SLAB);
    uint64_t seed = 0xf0e1d2c3b4a59687ull;
    for (int round = 0; round < 8; round++) {
        for (size_t i = 0; i < TU_SLAB; i++)
            block[i] = (unsigned char)tu_random(&seed);
        check_foreign_block(block, TU_SLAB);
    }
    free(block);
    CU_ASSERT_EQUAL(th_allocs(), 0);
}

/* A byte-for-byte copy of a live slab elsewhere is not a slab: its header names the
 * original's address. Its slots are refused and the original is untouched. */
static void check_copy_refused(aslab_cache *cache, const full_slab *s) {
    unsigned char *copy = aligned_alloc(TU_SLAB, TU_SLAB);
    CU_ASSERT_PTR_NOT_NULL_FATAL(copy);
    memcpy(copy, (void *)s->base, TU_SLAB);
    aslab_cache_stats before = tu_stats(cache);
    for (size_t i = 0; i < s->n; i++)
        CU_ASSERT_EQUAL(aslab_free(copy + offset_of(s, i), TU_SLAB), ASLAB_ERR_NOT_A_SLAB);
    aslab_cache_stats after = tu_stats(cache);
    CU_ASSERT(tu_stats_equal(&before, &after));
    CU_ASSERT_EQUAL(memcmp(copy, (void *)s->base, TU_SLAB), 0);
    free(copy);
}

static void test_copy_of_a_slab(void) {
    static full_slab master, slave;
    aslab_cache *cache = tu_create(40, 8, TU_SLAB, &aslab_spinlock);
    fill_next_slab(cache, TU_SLAB, &master);
    fill_next_slab(cache, TU_SLAB, &slave);
    check_copy_refused(cache, &master);
    check_copy_refused(cache, &slave);
    free_slab_objects(&master, TU_SLAB);
    free_slab_objects(&slave, TU_SLAB);
    CU_ASSERT_EQUAL(tu_stats(cache).objects_in_use, 0);
    CU_ASSERT_EQUAL(aslab_cache_release(cache), ASLAB_OK);
}

CU_TestInfo test_validation_tests[] = {
    {"every offset that is not a slot", test_every_offset_that_is_not_a_slot},
    {"interior pointers", test_interior_pointers},
    {"header pointers", test_header_pointers},
    {"double free", test_double_free},
    {"slots never allocated", test_never_allocated_slots},
    {"foreign memory", test_foreign_memory},
    {"a copy of a slab", test_copy_of_a_slab},
    CU_TEST_INFO_NULL,
};
