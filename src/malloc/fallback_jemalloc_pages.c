/* fallback_jemalloc_pages.c - the memory of aslab's jemalloc: its mmap and munmap calls
 * (redirected here by the Makefile) and the granule map that tells its blocks from blocks
 * of any other allocator (fallback_jemalloc.h).
 *
 * A mapping it asks for is rounded up to whole granules and placed on a granule boundary,
 * and its granules are marked before it sees the address. Nothing it maps is ever given
 * back to the kernel: an munmap only replaces the pages with inaccessible ones, so the
 * addresses stay ours and a mark never goes stale. jemalloc (with retain, which aslab sets)
 * unmaps nothing but the odd probe page at start-up, so what this keeps is address space, not
 * memory. */
#include "fallback_jemalloc.h"

#include "fallback.h"
#include "lazy_table.h"

#include <errno.h>
#include <sys/mman.h>

/* 8 MiB of .bss, read by every free of a pointer that is not aslab's: a lazy table
 * (lazy_table.h), charged and locked a page at a time as jemalloc maps memory. */
uint64_t aslab__je_granule_map[ASLAB__JE_GRANULES / 64];
static uint64_t granule_writable[ASLAB__LAZY_WORDS(sizeof aslab__je_granule_map)];
static aslab__lazy_table granule_table = ASLAB__LAZY_TABLE(aslab__je_granule_map, granule_writable);

static int in_map(uintptr_t start, size_t len) {
    return start + len >= start &&
           (start + len - 1) >> ASLAB__JE_GRANULE_SHIFT < ASLAB__JE_GRANULES;
}

/* Marks the granules of [start, start + len); 0 when the OS refused to make their words
 * of the map writable. */
static int mark(uintptr_t start, size_t len) {
    uintptr_t first = start >> ASLAB__JE_GRANULE_SHIFT;
    uintptr_t last = (start + len - 1) >> ASLAB__JE_GRANULE_SHIFT;
    if (!aslab__lazy_writable(&granule_table, &aslab__je_granule_map[first / 64],
                              &aslab__je_granule_map[last / 64 + 1]))
        return 0;
    for (uintptr_t g = first; g <= last; g++)
        __atomic_fetch_or(&aslab__je_granule_map[g / 64], (uint64_t)1 << (g % 64),
                          __ATOMIC_RELAXED);
    return 1;
}

/* `len` bytes (a multiple of the granule) on a granule boundary: the kernel's placement when
 * it happens to be aligned, else a larger mapping trimmed to it. */
static char *map_granules(size_t len, int prot, int flags) {
    char *raw = mmap(NULL, len, prot, flags, -1, 0);
    if (raw == MAP_FAILED || ((uintptr_t)raw & (ASLAB__JE_GRANULE - 1)) == 0) return raw;
    munmap(raw, len);
    size_t span = len + ASLAB__JE_GRANULE;
    if (span < len) return MAP_FAILED;
    raw = mmap(NULL, span, prot, flags, -1, 0);
    if (raw == MAP_FAILED) return raw;
    char *start = (char *)(((uintptr_t)raw + ASLAB__JE_GRANULE - 1) & ~(ASLAB__JE_GRANULE - 1));
    size_t head = (size_t)(start - raw), tail = span - head - len;
    if (head != 0) munmap(raw, head);
    if (tail != 0) munmap(start + len, tail);
    return start;
}

void *aslab__je_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t offset) {
    if (flags & MAP_FIXED) /* commit or decommit inside a mapping of its own */
        return mmap(addr, len, prot, flags, fd, offset);
    if (addr != NULL || len == 0 || !(flags & MAP_ANONYMOUS)) {
        errno = ENOMEM; /* a hint is only a hint: jemalloc then maps elsewhere */
        return MAP_FAILED;
    }
    size_t rounded = (len + ASLAB__JE_GRANULE - 1) & ~(ASLAB__JE_GRANULE - 1);
    if (rounded < len) {
        errno = ENOMEM;
        return MAP_FAILED;
    }
    char *start = map_granules(rounded, prot, flags);
    if (start == MAP_FAILED) return MAP_FAILED;
    /* beyond the map, it could not be told apart; unmarked, neither */
    if (!in_map((uintptr_t)start, rounded) || !mark((uintptr_t)start, rounded)) {
        munmap(start, rounded);
        errno = ENOMEM;
        return MAP_FAILED;
    }
    return start;
}

void aslab__fb_tables_init(void) {
    aslab__lazy_prepare(&granule_table);
}

void aslab__fb_fork_child(void) {
    aslab__lazy_fork_child(&granule_table);
}

/* The range is mapped afresh, inaccessible: its pages go, and under strict overcommit their
 * charge too. (MADV_DONTNEED, which this was, fails with EINVAL on locked pages, as every page
 * is under mlockall(MCL_FUTURE), and jemalloc printed "Error in munmap()".) */
int aslab__je_munmap(void *addr, size_t len) {
    void *fresh =
        mmap(addr, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
    return fresh == addr ? 0 : -1;
}
