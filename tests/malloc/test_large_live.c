/* test_large_live.c - the set of the fallback's blocks in the program's hands (large_live.c):
 * every address added is found until removed and never after, through the table's growth and
 * the shifts that a removal makes; replace swaps one address for another. A copy of the set
 * is compiled in (the library's is its own), on made-up addresses. */
#include <CUnit/CUnit.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

/* The library keeps its internal names to itself: a copy of the set, compiled in here, on
 * the OS calls below. */
#define aslab__os_map_aligned          tested_map
#define aslab__os_unmap                tested_unmap
#define aslab__os_page_size            tested_page_size
#define aslab__large_live_add          tested_add
#define aslab__large_live_remove       tested_remove
#define aslab__large_live_has          tested_has
#define aslab__large_live_replace      tested_replace
#define aslab__large_live_fork_prepare tested_fork_prepare
#define aslab__large_live_fork_parent  tested_fork_parent
#define aslab__large_live_fork_child   tested_fork_child
#define aslab_futexlock                tested_lock /* one thread here: no lock needed */
#include "aslab.h"
static void no_op(void *state) {
    (void)state;
}
const aslab_lock_ops tested_lock = {0, no_op, no_op, no_op, NULL};
#include "../../src/malloc/large_live.c"
#include "test_suites.h"

void *tested_map(size_t size, size_t align) {
    (void)align; /* a page: mmap's own */
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}
void tested_unmap(void *p, size_t size) {
    munmap(p, size);
}
size_t tested_page_size(void) {
    return (size_t)sysconf(_SC_PAGESIZE);
}

#define ADDRESSES 5000 /* past several doublings of the first table (512 cells) */
#define BASE      ((uintptr_t)0x123400000000)

/* Addresses 16 bytes apart and, every fourth, 1 MiB apart: neighbours and strides alike. */
static void *address(int i) {
    uintptr_t step = i % 4 == 0 ? ((uintptr_t)1 << 20) : 16;
    return (void *)(BASE + (uintptr_t)i * step);
}

static void test_added_found_removed_gone(void) {
    for (int i = 0; i < ADDRESSES; i++)
        CU_ASSERT_PTR_EQUAL(aslab__large_live_add(address(i)), address(i));
    int found = 0;
    for (int i = 0; i < ADDRESSES; i++)
        found += aslab__large_live_has(address(i));
    CU_ASSERT_EQUAL(found, ADDRESSES);
    CU_ASSERT(!aslab__large_live_has((void *)(BASE + 8))); /* inside, not a start */
    for (int i = 0; i < ADDRESSES; i += 3) /* every third: holes all over the probes */
        CU_ASSERT(aslab__large_live_remove(address(i)));
    int right = 0;
    for (int i = 0; i < ADDRESSES; i++)
        right += aslab__large_live_has(address(i)) == (i % 3 != 0);
    CU_ASSERT_EQUAL(right, ADDRESSES);
    for (int i = 0; i < ADDRESSES; i += 3)
        CU_ASSERT(!aslab__large_live_remove(address(i))); /* a second removal finds nothing */
    for (int i = 0; i < ADDRESSES; i++)
        if (i % 3 != 0) CU_ASSERT(aslab__large_live_remove(address(i)));
    found = 0;
    for (int i = 0; i < ADDRESSES; i++)
        found += aslab__large_live_has(address(i));
    CU_ASSERT_EQUAL(found, 0);
}

static void test_replace(void) {
    void *p = address(1), *q = address(2);
    aslab__large_live_add(p);
    aslab__large_live_replace(p, q);
    CU_ASSERT(!aslab__large_live_has(p));
    CU_ASSERT(aslab__large_live_has(q));
    CU_ASSERT(aslab__large_live_remove(q));
    CU_ASSERT(!aslab__large_live_has(q));
}

CU_TestInfo test_large_live_tests[] = {
    {"addresses added are found until removed, and never after", test_added_found_removed_gone},
    {"replace swaps one address for another", test_replace},
    CU_TEST_INFO_NULL,
};
