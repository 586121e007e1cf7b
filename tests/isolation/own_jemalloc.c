/* own_jemalloc.c - a program that links Debian's libjemalloc.so itself (as redis does) while
 * aslab is its malloc, preloaded or linked statically. Its jemalloc must stay its own: the
 * options it was given (argv[1]: the opt.dirty_decay_ms it expects), mallocx, dallocx and
 * mallctl working on its own heap, and its blocks going back to it when they reach free,
 * realloc or malloc_usable_size, which are aslab's. Prints "ok" and exits 0, or names what
 * failed and exits 1. */
#include <jemalloc/jemalloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

static int failures;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "own_jemalloc: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                              \
        }                                                                            \
    } while (0)

static uint64_t counter(const char *name) {
    uint64_t value = 0;
    size_t len = sizeof value;
    CHECK(mallctl(name, &value, &len, NULL, 0) == 0);
    return value;
}

/* Its options are what it was configured with (MALLOC_CONF or nothing), not aslab's. */
static void check_options(long expected_dirty_decay_ms) {
    ssize_t dirty = 0;
    size_t len = sizeof dirty;
    CHECK(mallctl("opt.dirty_decay_ms", &dirty, &len, NULL, 0) == 0);
    if (dirty != expected_dirty_decay_ms)
        fprintf(stderr, "own_jemalloc: opt.dirty_decay_ms is %zd, expected %ld\n", dirty,
                expected_dirty_decay_ms);
    CHECK(dirty == expected_dirty_decay_ms);
    len = sizeof dirty;
    CHECK(mallctl("arenas.dirty_decay_ms", &dirty, &len, NULL, 0) == 0);
    CHECK(dirty == expected_dirty_decay_ms);
}

/* mallocx, rallocx, sallocx, dallocx, sdallocx and its statistics, on its own heap. */
static void check_own_api(void) {
    uint64_t allocated = counter("thread.allocated"), freed = counter("thread.deallocated");
    char *p = mallocx(1000, MALLOCX_ZERO);
    CHECK(p != NULL && p[999] == 0);
    size_t real = sallocx(p, 0);
    CHECK(real >= 1000 && counter("thread.allocated") - allocated == real);
    memset(p, 7, 1000);
    p = rallocx(p, 300000, 0);
    CHECK(p != NULL && p[999] == 7);
    dallocx(p, 0);
    void *q = mallocx(64, MALLOCX_ALIGN(4096));
    CHECK(q != NULL && ((uintptr_t)q & 4095) == 0);
    sdallocx(q, 64, MALLOCX_ALIGN(4096));
    CHECK(counter("thread.deallocated") > freed);
    uint64_t epoch = 1;
    size_t len = sizeof epoch, stats = 0;
    CHECK(mallctl("epoch", &epoch, &len, &epoch, len) == 0);
    len = sizeof stats;
    CHECK(mallctl("stats.allocated", &stats, &len, NULL, 0) == 0 && stats > 0);
}

/* malloc and free are aslab's: its blocks never touch this jemalloc. */
static void check_malloc_is_not_jemalloc(void) {
    uint64_t allocated = counter("thread.allocated"), freed = counter("thread.deallocated");
    void *small = malloc(100), *large = malloc(300000), *aligned = aligned_alloc(4096, 8192);
    CHECK(small != NULL && large != NULL && aligned != NULL);
    free(small);
    free(large);
    free(aligned);
    CHECK(counter("thread.allocated") == allocated && counter("thread.deallocated") == freed);
}

/* Its blocks handed to aslab's free, realloc and malloc_usable_size go back to it. */
static void check_its_blocks_come_back(void) {
    const size_t sizes[] = {16, 5000, 100000, 3 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        void *p = mallocx(sizes[i], 0);
        CHECK(p != NULL);
        size_t real = sallocx(p, 0);
        CHECK(malloc_usable_size(p) == real);
        uint64_t freed = counter("thread.deallocated");
        free(p);
        CHECK(counter("thread.deallocated") - freed == real);
    }
    char *p = mallocx(3000, 0);
    memset(p, 5, 3000);
    uint64_t freed = counter("thread.deallocated");
    char *q = realloc(p, 200000); /* moves to aslab; the old block goes back */
    CHECK(q != NULL && q[2999] == 5 && counter("thread.deallocated") > freed);
    free(q);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: own_jemalloc EXPECTED_DIRTY_DECAY_MS\n");
        return 2;
    }
    check_options(strtol(argv[1], NULL, 10));
    check_own_api();
    check_malloc_is_not_jemalloc();
    check_its_blocks_come_back();
    if (failures != 0) return 1;
    printf("ok\n");
    return 0;
}
