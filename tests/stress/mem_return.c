/* mem_return.c - freed memory must go back to the OS. Allocates 1 GiB of small blocks
 * (16..1024 bytes), writes every byte, frees them all in random order, and checks that the
 * resident set falls back to within 10% (plus a small slack) of what it was at the start:
 *   --trim    at once after malloc_trim(0);
 *   --decay   within --wait seconds, the program making no call (aslab: its optional thread,
 *             ASLAB_BACKGROUND_THREAD=1, discards slabs free for ASLAB_DECAY_MS, 1 s);
 *   --decay --call   the same, the program making one large call (2 MiB, beyond the size classes: a
 * malloc and a free) every 50 ms while it waits: aslab's default, no thread, returns memory in the
 * slow paths of such calls (docs/memory-return.md). The pointer array is mapped with mmap, not
 * malloc, and unmapped before the measurement.
 *
 *   mem_return --trim|--decay [--call] [--mib N] [--wait S] [--slack-mib M] [--seed N]
 */
#define _GNU_SOURCE
#include "util.h"

#include <aslab.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

static struct {
    int trim, call;
    size_t mib, slack_mib;
    double wait;
    uint64_t seed;
} opt = {-1, 0, 1024, 4, 3.0, 1};

typedef struct blocks {
    void **p;
    size_t count, map_bytes;
} blocks;

/* An upper bound on the blocks needed: every block at least 16 bytes. */
static int blocks_map(blocks *b) {
    b->map_bytes = (opt.mib << 20) / 16 * sizeof(void *);
    b->p = mmap(NULL, b->map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    b->count = 0;
    return b->p == MAP_FAILED ? -1 : 0;
}

static int allocate_all(blocks *b, rng *r) {
    size_t total = 0, goal = opt.mib << 20;
    while (total < goal) {
        size_t size = rng_range(r, 16, 1024);
        void *p = malloc(size);
        if (p == NULL) return -1;
        memset(p, (int)(size & 0xff), size);
        b->p[b->count++] = p;
        total += size;
    }
    return 0;
}

/* Frees in a random order (Fisher-Yates), so that slabs empty late and unevenly. */
static void free_all(blocks *b, rng *r) {
    for (size_t i = b->count; i > 1; i--) {
        size_t j = rng_below(r, i);
        void *t = b->p[i - 1];
        b->p[i - 1] = b->p[j];
        b->p[j] = t;
    }
    for (size_t i = 0; i < b->count; i++)
        free(b->p[i]);
}

/* One call the compiler keeps: a block beyond the classes, allocated, written and freed. */
static void one_call(void) {
    char *volatile p = malloc((size_t)2 << 20);
    if (p != NULL) p[0] = 1;
    free(p);
}

/* Polls the resident set until it is within `limit` KiB or `wait` seconds pass (with --call,
 * one call before each look); returns it and the time it took. */
static size_t wait_for_rss(size_t limit, double *took) {
    double start = now_seconds();
    size_t rss = rss_kib();
    while (rss > limit && now_seconds() - start < opt.wait) {
        sleep_seconds(0.05);
        if (opt.call) one_call();
        rss = rss_kib();
    }
    *took = now_seconds() - start;
    return rss;
}

static int parse_args(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *value = i + 1 < argc ? argv[i + 1] : "";
        if (strcmp(argv[i], "--trim") == 0 || strcmp(argv[i], "--decay") == 0)
            opt.trim = strcmp(argv[i], "--trim") == 0;
        else if (strcmp(argv[i], "--call") == 0)
            opt.call = 1;
        else if (strcmp(argv[i], "--mib") == 0 && ++i)
            opt.mib = strtoull(value, NULL, 0);
        else if (strcmp(argv[i], "--wait") == 0 && ++i)
            opt.wait = strtod(value, NULL);
        else if (strcmp(argv[i], "--slack-mib") == 0 && ++i)
            opt.slack_mib = strtoull(value, NULL, 0);
        else if (strcmp(argv[i], "--seed") == 0 && ++i)
            opt.seed = strtoull(value, NULL, 0);
        else
            return -1;
    }
    return opt.trim < 0 || opt.mib == 0 ? -1 : 0;
}

int main(int argc, char **argv) {
    if (parse_args(argc, argv) != 0) {
        fprintf(stderr,
                "usage: %s --trim|--decay [--call] [--mib N] [--wait S] [--slack-mib M] "
                "[--seed N]\n",
                argv[0]);
        return 2;
    }
    rng r = {mix64(opt.seed)};
    blocks b;
    size_t start = rss_kib();
    if (blocks_map(&b) != 0 || allocate_all(&b, &r) != 0) {
        fprintf(stderr, "mem_return: FAIL out of memory\n");
        return 1;
    }
    size_t peak = rss_kib();
    double t0 = now_seconds();
    free_all(&b, &r);
    double free_time = now_seconds() - t0;
    munmap(b.p, b.map_bytes);
    if (opt.trim) malloc_trim(0);
    size_t limit = start + start / 10 + (opt.slack_mib << 10), after;
    double took = 0;
    after = opt.trim ? rss_kib() : wait_for_rss(limit, &took);
    int ok = after <= limit;
    printf("mem_return[%s, %s]: %zu MiB in %zu blocks of 16..1024 B, freed in %.2f s\n",
           STRESS_ALLOCATOR,
           opt.trim   ? "malloc_trim(0)"
           : opt.call ? "no trim, calls"
                      : "no trim",
           opt.mib, b.count, free_time);
    printf("  RSS start %zu KiB, peak %zu KiB, after %zu KiB (%.2f s later); limit %zu KiB = "
           "start + 10%% + %zu MiB: %s\n",
           start, peak, after, took, limit, opt.slack_mib, ok ? "ok" : "FAIL");
    return ok ? 0 : 1;
}
