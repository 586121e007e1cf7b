/* test_slot.c - the free path's slot test (heap.h's aslab__slot_at): one multiply and one
 * compare must say exactly whether an offset from slot 0 starts a slot below the capacity,
 * and which. Checked against division, exhaustively for some geometries and at every slot
 * edge for every size the classes can have. */
#include "../../src/malloc/heap.h"
#include "test_suites.h"

#include <stdint.h>

/* What the slot test must answer for offset x: x / size when size divides x and the slot is
 * below the capacity, UINT32_MAX otherwise. */
static uint32_t expected_slot(uint32_t x, uint32_t size, uint32_t capacity) {
    return x % size == 0 && x / size < capacity ? x / size : UINT32_MAX;
}

static uint32_t slot_of(uint32_t x, uint32_t size, uint32_t capacity) {
    return aslab__slot_at(x, aslab__slot_magic(size), aslab__slot_bound(size, capacity));
}

/* Every offset of a slab of `slab` bytes and a page beyond it, and the page below slot 0
 * (offsets that wrapped); returns how many answers were wrong. */
static unsigned check_every_offset(uint32_t size, uint32_t slab) {
    uint32_t capacity = slab / size, wrong = 0;
    for (uint32_t x = 0; x < slab + 4096; x++)
        wrong += slot_of(x, size, capacity) != expected_slot(x, size, capacity);
    for (uint32_t below = 1; below <= 4096; below++)
        wrong += slot_of(0u - below, size, capacity) != UINT32_MAX;
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

CU_TestInfo test_slot_tests[] = {
    {"every offset of eleven geometries", test_slot_exhaustive},
    {"slot edges of every size to 1 MiB", test_slot_edges},
    CU_TEST_INFO_NULL,
};
