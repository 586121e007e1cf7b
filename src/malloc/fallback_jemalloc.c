/* fallback_jemalloc.c - the fallback on jemalloc's *allocx API (Debian's libjemalloc). */
#include "fallback.h"

#include <jemalloc/jemalloc.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <unistd.h>

const char aslab__fallback_name[] = "jemalloc";

/* jemalloc reads its options from this symbol (and MALLOC_CONF after it, which still
 * overrides). Its time-based decay purges large blocks while a program is still cycling
 * through them: a loop over 5-25 MiB blocks ran 10x slower than under glibc, every page
 * faulted in again (with a 10 s decay too: its decay follows the growth of the free pages,
 * not their age, and a loop that reuses them shows none). large.c purges it instead, past
 * ASLAB_DIRTY_MAX_MB and once its free pages are ASLAB_DECAY_MS old (docs/memory-return.md). */
__attribute__((visibility("default"))) const char *malloc_conf =
    "dirty_decay_ms:-1,muzzy_decay_ms:-1";

void *aslab__fb_malloc(size_t size) {
    return mallocx(size, 0);
}
void *aslab__fb_calloc(size_t size) {
    return mallocx(size, MALLOCX_ZERO);
}
void *aslab__fb_aligned(size_t align, size_t size) {
    return mallocx(size, MALLOCX_ALIGN(align));
}
void *aslab__fb_realloc(void *p, size_t size) {
    return rallocx(p, size, 0);
}
void aslab__fb_free(void *p) {
    dallocx(p, 0);
}
size_t aslab__fb_usable_size(void *p) {
    return sallocx(p, 0);
}

void aslab__fb_stats(size_t *allocated, size_t *mapped) {
    uint64_t epoch = 1;
    size_t len = sizeof epoch;
    *allocated = *mapped = 0;
    mallctl("epoch", &epoch, &len, &epoch, len); /* refresh the statistics */
    len = sizeof(size_t);
    mallctl("stats.allocated", allocated, &len, NULL, 0);
    len = sizeof(size_t);
    mallctl("stats.mapped", mapped, &len, NULL, 0);
}

size_t aslab__fb_dirty_bytes(void) {
    char name[64];
    uint64_t epoch = 1;
    size_t len = sizeof epoch, pages = 0;
    mallctl("epoch", &epoch, &len, &epoch, len); /* refresh the statistics */
    snprintf(name, sizeof name, "stats.arenas.%u.pdirty", (unsigned)MALLCTL_ARENAS_ALL);
    len = sizeof pages;
    if (mallctl(name, &pages, &len, NULL, 0) != 0) return 0;
    return pages * (size_t)sysconf(_SC_PAGESIZE);
}

int aslab__fb_trim(void) {
    char name[64];
    snprintf(name, sizeof name, "arena.%u.purge", (unsigned)MALLCTL_ARENAS_ALL);
    return mallctl(name, NULL, NULL, NULL, 0) == 0;
}

void aslab__fb_decay_now(void) {
    ssize_t zero = 0;
    unsigned arenas = 0;
    size_t len = sizeof arenas;
    mallctl("arenas.dirty_decay_ms", NULL, NULL, &zero, sizeof zero); /* arenas to come */
    mallctl("arenas.muzzy_decay_ms", NULL, NULL, &zero, sizeof zero);
    mallctl("arenas.narenas", &arenas, &len, NULL, 0);
    for (unsigned i = 0; i < arenas; i++) { /* arenas that exist (the others fail: fine) */
        char name[64];
        snprintf(name, sizeof name, "arena.%u.dirty_decay_ms", i);
        mallctl(name, NULL, NULL, &zero, sizeof zero);
        snprintf(name, sizeof name, "arena.%u.muzzy_decay_ms", i);
        mallctl(name, NULL, NULL, &zero, sizeof zero);
    }
}
