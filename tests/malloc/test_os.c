/* test_os.c - the malloc's boundary with the kernel (os.c): an aligned mapping of a size that
 * is not a whole number of pages is the size rounded up to pages, and nothing after it stays
 * mapped. A copy of os.c is compiled in (TM_UNIT); the library's is its own. */
#include "../../src/malloc/os.h"
#include "test_suites.h"

#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

static size_t page(void) {
    return (size_t)sysconf(_SC_PAGESIZE);
}

/* Whether the page at p is mapped: mincore reads page tables only and fails with ENOMEM on
 * an address with no mapping, so asking cannot fault. */
static int mapped(const char *p) {
    unsigned char vec;
    errno = 0;
    if (mincore((void *)p, page(), &vec) == 0) return 1;
    CU_ASSERT_EQUAL(errno, ENOMEM);
    return 0;
}

/* Maps `size` bytes at `align`, checks the rounded size mapped, writable and zero, and the
 * page after it unmapped (inside the slack mmap gave: ours until the trim). */
static void check_map(size_t size, size_t align) {
    size_t rounded = (size + page() - 1) / page() * page();
    char *p = aslab__os_map_aligned(size, align);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL((uintptr_t)p % align, 0);
    for (size_t off = 0; off < rounded; off += page()) {
        CU_ASSERT(mapped(p + off));
        CU_ASSERT_EQUAL(p[off], 0);
        p[off] = 1;
    }
    CU_ASSERT(!mapped(p + rounded));
    aslab__os_unmap(p, rounded);
    CU_ASSERT(!mapped(p));
}

/* The large blocks' table of live addresses asks for 4 KiB and a word at page alignment. */
static void test_part_page_size_leaves_no_tail(void) {
    check_map(page() + 8, page());
    check_map(3 * page() + 100, 16 * page());
    check_map(1, 64 * page());
}

static void test_whole_pages_as_asked(void) {
    check_map(page(), page());
    check_map(5 * page(), 4 * page());
}

static void test_size_that_cannot_round_refused(void) {
    CU_ASSERT_PTR_NULL(aslab__os_map_aligned(SIZE_MAX - 10, page()));
    CU_ASSERT_PTR_NULL(aslab__os_map_aligned(SIZE_MAX - 3 * page(), 2 * page()));
}

CU_TestInfo test_os_tests[] = {
    {"a size of part pages: rounded up, no tail left mapped", test_part_page_size_leaves_no_tail},
    {"whole pages: mapped as asked, nothing after", test_whole_pages_as_asked},
    {"a size that cannot be rounded or aligned: NULL", test_size_that_cannot_round_refused},
    CU_TEST_INFO_NULL,
};
