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
 * docs/medium-classes.md, "calloc clears only the pages that hold data".
 *
 * Pages nobody mapped are not read at all. Reading one to find it zero took a page fault (the
 * zero page mapped in): a quarter of the faults of a program that callocs big tables and fills
 * one entry in four pages (bench calloc_sparse). So for a block of MAPPED_MIN or more the scan
 * first asks /proc/self/pagemap which of its pages are in the page tables: a page with no
 * entry, neither present nor swapped out, was never written since it was mapped or last
 * discarded, and reads zero; it is skipped without a read. A page present or swapped is
 * scanned as before. The file is opened for each block, never kept: a descriptor kept open
 * would describe the parent's pages after a fork, and a program may close it or reuse its
 * number. Where it cannot be read (no /proc, a sandbox) every granule is scanned. */
#include "clear.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

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

/* Blocks from this size on ask pagemap first: below, a scan of every granule costs less than
 * the system calls. */
#define MAPPED_MIN    ((size_t)65536)
/* Entries one read brings in: 64 pages, 512 bytes of stack. */
#define ENTRIES       64
/* A pagemap entry's bits for "present" (63) and "swapped" (62): a page with neither holds no
 * data of its own. */
#define MAY_HOLD_DATA ((uint64_t)3 << 62)

/* What pagemap says of a run of the block's pages, read ENTRIES at a time. */
typedef struct page_map {
    int fd;          /* /proc/self/pagemap, or -1: every granule is scanned */
    uintptr_t first; /* the page map[0] describes */
    uintptr_t count; /* entries in map */
    uintptr_t shift; /* log2 of the page size */
    uint64_t map[ENTRIES];
} page_map;

static void page_map_open(page_map *m, size_t n) {
    m->fd = -1;
    m->first = m->count = 0;
    if (n < MAPPED_MIN) return;
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0 || (page & (page - 1)) != 0) return;
    m->shift = (uintptr_t)__builtin_ctzl((unsigned long)page);
    m->fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
}

static void page_map_close(page_map *m) {
    if (m->fd >= 0) close(m->fd);
}

/* Whether the page that holds `at` has no data of its own (reads zero without being read):
 * 0 when it may have, or when pagemap cannot say. `end` bounds what is read ahead. */
static int page_unmapped(page_map *m, const char *at, const char *end) {
    if (m->fd < 0) return 0;
    uintptr_t page = (uintptr_t)at >> m->shift;
    if (page - m->first >= m->count) {
        uintptr_t last = ((uintptr_t)end - 1) >> m->shift;
        uintptr_t count = last - page + 1 < ENTRIES ? last - page + 1 : ENTRIES;
        ssize_t want = (ssize_t)(count * sizeof m->map[0]);
        if (pread(m->fd, m->map, (size_t)want, (off_t)(page * sizeof m->map[0])) != want) {
            close(m->fd);
            m->fd = -1;
            return 0;
        }
        m->first = page;
        m->count = count;
    }
    return (m->map[page - m->first] & MAY_HOLD_DATA) == 0;
}

size_t aslab__clear_written(void *p, size_t n, size_t *granules) {
    char *end = (char *)p + n, *run = p; /* [run, at): granules holding data, not cleared */
    size_t seen = 0, written = 0;
    int saved_errno = errno; /* a calloc that succeeds leaves errno as it found it */
    page_map map;
    page_map_open(&map, n);
    for (char *at = p, *next; at < end; at = next, seen++) {
        next = granule_end(at, end);
        __builtin_prefetch(next + 3 * GRANULE);
        __builtin_prefetch(next + 3 * GRANULE + 64);
        if (page_unmapped(&map, at, end) || !holds_data(at, next)) {
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
    page_map_close(&map);
    errno = saved_errno;
    *granules = seen;
    return written;
}
