/* clear.c - calloc's zeroing of a reused block, one granule at a time.
 *
 * A freed block of 16 KiB or more that calloc hands out again must read zero, and memset
 * makes every page of it resident, though a program that used it sparsely (a hash table, a
 * buffer sized for the worst case) may have written only a few of them: the others were never
 * faulted in. Reading such a page maps the kernel's zero page, charged to nobody, so a scan
 * that finds a granule all zero can leave it unwritten and the block's resident size stays
 * what its users wrote. Correct whatever the page's history: the scan reads the contents, so a
 * page swapped out or lazily freed (MADV_FREE) is judged by what it holds.
 *
 * Cost: a granule that holds data is found at its first line (freed blocks rarely start
 * with 64 zero bytes), and runs of such granules are cleared by one memset; a zero granule is
 * read in full, from the zero page (one physical page, hot in the cache) when it was never
 * written. Which blocks calloc scans and which it writes whole is api.c's choice (a program
 * that writes a page the scan mapped to the zero page takes a second fault for it):
 * docs/medium-classes.md, "calloc clears only the pages that hold data". */
#include "clear.h"

#include <stdint.h>
#include <string.h>

/* The smallest page size aslab runs on: a granule never spans two pages, so a granule left
 * alone never makes a page resident, whatever the page size. */
#define GRANULE ((uintptr_t)4096)

/* The most bytes of granules found holding data that wait to be cleared by one memset: few
 * enough that the lines the scan read are still in the first-level caches when it writes. */
#define RUN_MAX ((ptrdiff_t)(8 * GRANULE))

typedef uint64_t __attribute__((may_alias)) word;

static int line_is_zero(const word *w) {
    return (w[0] | w[1] | w[2] | w[3] | w[4] | w[5] | w[6] | w[7]) == 0;
}

/* Whether [at, end) (at 8-byte aligned, within one granule) holds a nonzero byte. */
static int holds_data(const char *at, const char *end) {
    for (; at + 64 <= end; at += 64)
        if (!line_is_zero((const word *)at)) return 1;
    for (; at + 8 <= end; at += 8)
        if (*(const word *)at != 0) return 1;
    for (; at < end; at++)
        if (*at != 0) return 1;
    return 0;
}

/* The end of the granule that holds `at`, or `end` if sooner. */
static char *granule_end(const char *at, char *end) {
    char *next = (char *)(((uintptr_t)at | (GRANULE - 1)) + 1);
    return next < end ? next : end;
}

size_t aslab__clear_written(void *p, size_t n, size_t *granules) {
    char *end = (char *)p + n, *run = p; /* [run, at): granules holding data, not cleared */
    size_t seen = 0, written = 0;
    for (char *at = p, *next; at < end; at = next, seen++) {
        next = granule_end(at, end);
        __builtin_prefetch(next + 3 * GRANULE);
        __builtin_prefetch(next + 3 * GRANULE + 64);
        if (!holds_data(at, next)) {
            if (run != at) memset(run, 0, (size_t)(at - run));
            run = next;
        } else {
            written++;
            if (next - run >= RUN_MAX) {
                memset(run, 0, (size_t)(next - run));
                run = next;
            }
        }
    }
    if (run != end) memset(run, 0, (size_t)(end - run));
    *granules = seen;
    return written;
}
