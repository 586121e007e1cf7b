/* test_os.c - the malloc's boundary with the kernel (os.c): an aligned mapping of a size that
 * is not a whole number of pages is the size rounded up to pages, and nothing after it stays
 * mapped; one goes right below the last where there is room. A copy of os.c is compiled in
 * (TM_UNIT); the library's is its own. */
#include "../../src/malloc/os.h"
#include "../tools/rss.h"
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

/* Maps `size` bytes at `align`, checks the rounded size mapped, writable and zero, and
 * nothing else left mapped by the call (the slack of an over-mapping trimmed away). */
static void check_map(size_t size, size_t align) {
    size_t rounded = (size + page() - 1) / page() * page(), before = test_mapped_kib();
    char *p = aslab__os_map_aligned(size, align);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(test_mapped_kib() - before, rounded / 1024);
    CU_ASSERT_EQUAL((uintptr_t)p % align, 0);
    for (size_t off = 0; off < rounded; off += page()) {
        CU_ASSERT(mapped(p + off));
        CU_ASSERT_EQUAL(p[off], 0);
        p[off] = 1;
    }
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

/* Whether no page of [p, p + size) is mapped. */
static int room_at(char *p, size_t size) {
    for (size_t off = 0; off < size; off += page())
        if (mapped(p + off)) return 0;
    return 1;
}

/* An aligned mapping is asked for right below the one made before it: where that room is
 * free it goes there, one mmap and no slack to trim (mapping `align` more and trimming, the
 * other way, puts it lower still). Mappings are made until one with free room below turns up
 * (another may sit right below the first). */
static void test_aligned_goes_below_the_last(void) {
    size_t align = 16 * page(), size = 2 * align;
    char *held[8];
    int n = 0, checked = 0;
    while (n < 8 && !checked) {
        char *first = aslab__os_map_aligned(size, align);
        CU_ASSERT_PTR_NOT_NULL_FATAL(first);
        held[n++] = first;
        if (!room_at(first - size, size)) continue;
        char *second = aslab__os_map_aligned(size, align);
        CU_ASSERT_PTR_EQUAL(second, first - size);
        aslab__os_unmap(second, size);
        checked = 1;
    }
    CU_ASSERT(checked);
    while (n > 0)
        aslab__os_unmap(held[--n], size);
}

/* With the room below taken, the mapping is still aligned, whole, and alone (check_map). */
static void test_aligned_when_the_room_below_is_taken(void) {
    size_t align = 16 * page(), size = 2 * align;
    char *first = aslab__os_map_aligned(size, align);
    CU_ASSERT_PTR_NOT_NULL_FATAL(first);
    char *taken = mmap(first - size, size, PROT_NONE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    check_map(size, align);
    if (taken != MAP_FAILED) aslab__os_unmap(taken, size); /* or another's, there already */
    aslab__os_unmap(first, size);
}

static void test_size_that_cannot_round_refused(void) {
    CU_ASSERT_PTR_NULL(aslab__os_map_aligned(SIZE_MAX - 10, page()));
    CU_ASSERT_PTR_NULL(aslab__os_map_aligned(SIZE_MAX - 3 * page(), 2 * page()));
}

/* Whether the kernel knows MADV_POPULATE_WRITE (Linux 5.14), asked of a page of our own. */
static int kernel_populates(void) {
    char *p = aslab__os_map_aligned(page(), page());
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    int known = madvise(p, page(), MADV_POPULATE_WRITE) == 0;
    aslab__os_unmap(p, page());
    return known;
}

static int resident(const char *p) {
    unsigned char vec = 0;
    return mincore((void *)p, page(), &vec) == 0 && (vec & 1);
}

/* calloc's prefault maps the whole pages inside the range, and only those, in one call; the
 * pages read zero; errno stays. Asked again, the range is resident and it does nothing. */
static void test_prefault_maps_the_inner_pages(void) {
    size_t n = 64 * page();
    char *p = aslab__os_map_aligned(n, page());
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    errno = EDOM;
    int asked = aslab__os_prefault(p + 100, n - 200);
    CU_ASSERT_EQUAL(errno, EDOM);
    if (kernel_populates()) {
        CU_ASSERT_EQUAL(asked, 1);
        for (size_t off = page(); off < n - page(); off += page())
            CU_ASSERT(resident(p + off));
        CU_ASSERT_EQUAL(aslab__os_prefault(p + 100, n - 200), 0);
    }
    CU_ASSERT(!resident(p));              /* shared with whatever lies before the range */
    CU_ASSERT(!resident(p + n - page())); /* and after it */
    for (size_t off = 0; off < n; off += 64)
        CU_ASSERT_EQUAL(p[off], 0);
    aslab__os_unmap(p, n);
}

/* Below its minimum (64 KiB) it leaves the pages to the program's own faults. */
static void test_prefault_leaves_small_ranges(void) {
    size_t n = 8 * page();
    char *p = aslab__os_map_aligned(n, page());
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(aslab__os_prefault(p, n), 0);
    for (size_t off = 0; off < n; off += page())
        CU_ASSERT(!resident(p + off));
    aslab__os_unmap(p, n);
}

CU_TestInfo test_os_tests[] = {
    {"a size of part pages: rounded up, no tail left mapped", test_part_page_size_leaves_no_tail},
    {"whole pages: mapped as asked, nothing after", test_whole_pages_as_asked},
    {"a size that cannot be rounded or aligned: NULL", test_size_that_cannot_round_refused},
    {"an aligned mapping goes right below the last: one call, no slack",
     test_aligned_goes_below_the_last},
    {"an aligned mapping with the room below taken: aligned, nothing around it",
     test_aligned_when_the_room_below_is_taken},
    {"calloc's prefault: the inner pages of a fresh range, once",
     test_prefault_maps_the_inner_pages},
    {"calloc's prefault: nothing below 64 KiB", test_prefault_leaves_small_ranges},
    CU_TEST_INFO_NULL,
};
