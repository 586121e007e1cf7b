/* test_slot.c - the free path's slot test (heap.h's aslab__slot_at): one multiply and one
 * compare must say exactly whether an offset from slot 0 starts a slot below the capacity,
 * and which. Checked against division, exhaustively for some geometries and at every slot
 * edge for every size the classes can have; and, for the small classes, for offsets between
 * any two addresses below 2^48 (the free path tests a pointer against its current slab's
 * slot 0 before it knows the pointer's slab: aslab__slot_starts). */
#include "../../src/malloc/heap.h"
#include "test_suites.h"

#include <stdint.h>

/* What the slot test must answer for offset x: x / size when size divides x and the slot is
 * below the capacity, UINT32_MAX otherwise. */
static uint32_t expected_slot(uint32_t x, uint32_t size, uint32_t capacity) {
    return x % size == 0 && x / size < capacity ? x / size : UINT32_MAX;
}

static uint32_t slot_of(uint64_t x, uint32_t size, uint32_t capacity) {
    return aslab__slot_at(x, aslab__slot_magic(size), aslab__slot_bound(size, capacity));
}

/* Every offset of a slab of `slab` bytes and a page beyond it, and the page below slot 0
 * (offsets that wrapped); returns how many answers were wrong. */
static unsigned check_every_offset(uint32_t size, uint32_t slab) {
    uint32_t capacity = slab / size, wrong = 0;
    for (uint32_t x = 0; x < slab + 4096; x++)
        wrong += slot_of(x, size, capacity) != expected_slot(x, size, capacity);
    for (uint32_t below = 1; below <= 4096; below++)
        wrong += slot_of((uint64_t)0 - below, size, capacity) != UINT32_MAX;
    return wrong;
}

static void test_slot_exhaustive(void) {
    static const uint32_t sizes[][2] = {
        {16, 1 << 16},     {48, 1 << 16},     {80, 1 << 16},      {1040, 1 << 17},
        {3072, 1 << 18},   {16384, 1 << 20},  {18432, 1 << 18},   {20480, 1 << 19},
        {229376, 1 << 21}, {917504, 1 << 23}, {1048576, 1 << 24},
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        CU_ASSERT_EQUAL(check_every_offset(sizes[i][0], sizes[i][1]), 0);
}

/* Offsets around slot k's start, for the slots where a test could go wrong: the first, the
 * last, the capacity itself, and the last slot that 32 bits of offset can name. */
static unsigned check_edges(uint32_t size, uint32_t capacity) {
    static const int32_t deltas[] = {-16, -1, 0, 1, 8, 16};
    const uint64_t ks[] = {
        0, 1, 2, capacity / 2, capacity - 1, capacity, capacity + 1, (uint64_t)UINT32_MAX / size};
    unsigned wrong = 0;
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++)
        for (size_t j = 0; j < sizeof deltas / sizeof deltas[0]; j++) {
            uint32_t x = (uint32_t)(ks[i] * size + (uint64_t)(int64_t)deltas[j]);
            wrong += slot_of(x, size, capacity) != expected_slot(x, size, capacity);
        }
    return wrong;
}

static void test_slot_edges(void) {
    /* every multiple of 16 a small class can be, then every multiple of 256 to 1 MiB, each
     * with the most slots a 16 MiB slab could hold and with a few */
    for (uint32_t size = 16; size <= (1u << 20); size += size < 4096 ? 16 : 256) {
        CU_ASSERT_EQUAL_FATAL(check_edges(size, (1u << 24) / size), 0);
        CU_ASSERT_EQUAL_FATAL(check_edges(size, 8), 0);
    }
}

/* What the test must answer for a signed 64-bit offset x: the slot when x starts one below
 * the capacity, UINT32_MAX otherwise. */
static uint32_t expected_far(int64_t x, uint32_t size, uint32_t capacity) {
    if (x < 0 || x % size != 0 || x / size >= capacity) return UINT32_MAX;
    return (uint32_t)(x / size);
}

/* Offsets of either sign, up to 2^48 (two addresses below 2^48 apart), around the slots
 * where the arithmetic could wrap: the first and last of the slab, and the farthest. */
static unsigned check_far(uint32_t size, uint32_t capacity) {
    static const int64_t limit = (int64_t)1 << 48;
    const int64_t ks[] = {
        0,           1, capacity - 1, capacity, capacity + 1, limit / size / 2, limit / size - 1,
        limit / size};
    const int64_t rests[] = {0, 1, 8, 16, size / 2, size - 16, size - 1};
    unsigned wrong = 0;
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++)
        for (size_t j = 0; j < sizeof rests / sizeof rests[0]; j++)
            for (int sign = -1; sign <= 1; sign += 2) {
                int64_t x = sign * (ks[i] * size + rests[j]);
                if (x <= -limit || x >= limit) continue;
                wrong += slot_of((uint64_t)x, size, capacity) != expected_far(x, size, capacity);
            }
    uint64_t rng = 0x9E3779B97F4A7C15u ^ size;
    for (int n = 0; n < 20000; n++) { /* anywhere between */
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        int64_t x = (int64_t)(rng % (2 * (uint64_t)limit - 1)) - (limit - 1);
        if (n % 2) x -= x % size; /* half of them on a multiple of the size */
        wrong += slot_of((uint64_t)x, size, capacity) != expected_far(x, size, capacity);
    }
    return wrong;
}

static void test_slot_far(void) {
    for (uint32_t size = 16; size <= ASLAB_SMALL_MAX; size += 16) {
        CU_ASSERT_EQUAL_FATAL(check_far(size, (1u << 20) / size), 0); /* the most in a slab */
        CU_ASSERT_EQUAL_FATAL(check_far(size, 8), 0);
    }
}

/* The free path's own form of the test (the low half of the product alone), between pointers:
 * a pointer is a block of the slab whose slot 0 is `first` only when it is one, wherever
 * both lie below 2^48; a list of no slab (first 0) claims no pointer in any region (all at
 * or above 4 MiB). */
static unsigned check_pointers(uint64_t size, uint64_t capacity, uint64_t *rng) {
    uint64_t magic = aslab__slot_magic((uint32_t)size);
    uint64_t bound = aslab__slot_bound((uint32_t)size, (uint32_t)capacity);
    unsigned wrong = 0;
    for (int n = 0; n < 2000; n++) {
        *rng ^= *rng << 13, *rng ^= *rng >> 7, *rng ^= *rng << 17;
        uintptr_t first = ((*rng >> 17) + ASLAB_REGION_SIZE) & ~(uintptr_t)15;
        uintptr_t x = (*rng % (2 * capacity * size)) & ~(uintptr_t)15, p = first + x;
        if (p >> 48 != 0) continue;
        wrong += aslab__slot_starts_at(p - first, magic, bound) !=
                 (x % size == 0 && x / size < capacity);
        wrong += aslab__slot_starts_at(first - p, magic, bound) != (x == 0); /* below slot 0 */
        wrong += aslab__slot_starts_at(p - 0, magic, bound); /* p is at or above 4 MiB */
    }
    return wrong;
}

static void test_slot_pointers(void) {
    uint64_t rng = 42;
    for (uint32_t size = 16; size <= ASLAB_SMALL_MAX; size += 16) {
        CU_ASSERT_EQUAL_FATAL(check_pointers(size, (1u << 20) / size, &rng), 0);
        CU_ASSERT_EQUAL_FATAL(check_pointers(size, (1u << 16) / size, &rng), 0);
    }
}

CU_TestInfo test_slot_tests[] = {
    {"every offset of eleven geometries", test_slot_exhaustive},
    {"slot edges of every size to 1 MiB", test_slot_edges},
    {"small sizes: offsets between any two addresses below 2^48", test_slot_far},
    {"small sizes: the free path's form, between pointers", test_slot_pointers},
    CU_TEST_INFO_NULL,
};
