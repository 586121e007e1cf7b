/* test_medium.c - requests from 16 KiB to 1 MiB and the edges around them (issue 13): every
 * entry point at each class boundary -1, 0 and +1 with all those blocks live at once, calloc
 * over dirtied blocks, the aligned family at every power of two from 32 B to 64 KiB, and
 * realloc across small, medium and large sizes in both directions. Cross-thread frees of
 * these sizes: test_medium_threads.c.
 *
 * The tests pass whichever way these sizes are served, by the fallback (before issue 13) or
 * by aslab's medium classes, and check what both promise. Where size_class.h defines
 * ASLAB_MEDIUM_MAX, a plain request up to it must get exactly its class size and its class's
 * alignment, as small requests do (until then only up to ASLAB_SMALL_MAX).
 */
#include "../../src/malloc/size_class.h"
#include "test_suites.h"
#include "test_util.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef ASLAB_MEDIUM_MAX
#define SERVED_MAX ASLAB_MEDIUM_MAX /* aslab's own classes serve plain requests up to here */
#else
#define SERVED_MAX ASLAB_SMALL_MAX
#endif

#define MAX_ALIGN    (64 * TM_KIB)
/* What may stay counted as in use after every block of a round is freed: a fallback's
 * thread cache holds some freed blocks of 16-32 KiB. */
#define IN_USE_SLACK (4 * TM_MIB)

static size_t edges[TM_MEDIUM_EDGES];
static size_t n_edges;

static void collect_edges(void) {
    n_edges = tm_medium_edges(edges);
}

static size_t page_size(void) {
    return (size_t)sysconf(_SC_PAGESIZE);
}

/* A fallback may round a request up by a size class of its own (jemalloc: up to a quarter)
 * and a page, and an aligned one up to its alignment; a usable size beyond that is wasted
 * memory or a lie. Not bounded above TM_MEDIUM_TOP, where a block parked for reuse may serve
 * a smaller request (large.h). */
static int usable_fits(size_t usable, size_t need, size_t align) {
    size_t most = need > align ? need : align;
    return usable >= need && (need > TM_MEDIUM_TOP || usable <= most + most / 4 + 64 * TM_KIB);
}

/* The step between the classes of the group that holds size (size > 256). */
static size_t class_step(size_t size) {
    size_t base = 256;
    while (size > 2 * base)
        base *= 2;
    return base / 8;
}

/* ---- every entry point at every edge ---- */

typedef struct entry {
    const char *name;
    void *(*get)(size_t align, size_t n);
    int (*put)(void *p, size_t align, size_t n); /* frees p; nonzero if the call misbehaved */
    size_t align;                                /* promised; 0: the page size */
    int exact;  /* a plain request: where aslab serves n, the usable size is n's class */
    int zeroed; /* calloc */
} entry;

static void *get_malloc(size_t align, size_t n) {
    (void)align;
    return malloc(n);
}
static void *get_calloc(size_t align, size_t n) {
    (void)align;
    return calloc(1, n);
}
static void *get_calloc_bytes(size_t align, size_t n) {
    (void)align;
    return calloc(n, 1);
}
static void *get_realloc(size_t align, size_t n) {
    (void)align;
    return realloc(NULL, n);
}
static void *get_reallocarray(size_t align, size_t n) {
    (void)align;
    return reallocarray(NULL, n, 1);
}
static void *get_posix_memalign(size_t align, size_t n) {
    void *p = NULL;
    return posix_memalign(&p, align, n) == 0 ? p : NULL;
}
static void *get_aligned_alloc(size_t align, size_t n) {
    return aligned_alloc(align, n);
}
static void *get_memalign(size_t align, size_t n) {
    return memalign(align, n);
}
static void *get_valloc(size_t align, size_t n) {
    (void)align;
    return valloc(n);
}
static void *get_pvalloc(size_t align, size_t n) {
    (void)align;
    return pvalloc(n);
}

static int put_free(void *p, size_t align, size_t n) {
    (void)align, (void)n;
    free(p);
    return 0;
}
static int put_free_sized(void *p, size_t align, size_t n) {
    (void)align;
    free_sized(p, n);
    return 0;
}
static int put_free_aligned_sized(void *p, size_t align, size_t n) {
    free_aligned_sized(p, align, n);
    return 0;
}
static int put_realloc_zero(void *p, size_t align, size_t n) {
    (void)align;
    return tm_check(realloc(p, 0) == NULL, "realloc(p, 0) of a %zu-byte block kept it", n);
}

static const entry entries[] = {
    {"malloc/free", get_malloc, put_free, 16, 1, 0},
    {"malloc/free_sized", get_malloc, put_free_sized, 16, 1, 0},
    {"calloc(1, n)/free", get_calloc, put_free, 16, 1, 1},
    {"calloc(n, 1)/free_sized", get_calloc_bytes, put_free_sized, 16, 1, 1},
    {"realloc(NULL, n)/realloc(p, 0)", get_realloc, put_realloc_zero, 16, 1, 0},
    {"reallocarray(NULL, n, 1)/free", get_reallocarray, put_free, 16, 1, 0},
    {"posix_memalign(64)/free_aligned_sized", get_posix_memalign, put_free_aligned_sized, 64, 0, 0},
    {"aligned_alloc(4096)/free", get_aligned_alloc, put_free, 4096, 0, 0},
    {"memalign(64 KiB)/free", get_memalign, put_free, MAX_ALIGN, 0, 0},
    {"valloc/free", get_valloc, put_free, 0, 0, 0},
    {"pvalloc/free_sized", get_pvalloc, put_free_sized, 0, 0, 0},
};

/* A new block of n bytes from e: the promises of the call, then of aslab's classes. */
static int check_new(const entry *e, void *p, size_t n) {
    if (p == NULL) return tm_check(0, "%s(%zu) failed", e->name, n);
    size_t align = e->align != 0 ? e->align : page_size(), usable = malloc_usable_size(p);
    size_t need = e->get == get_pvalloc ? (n + page_size() - 1) / page_size() * page_size() : n;
    int bad =
        tm_check(tm_aligned(p, align), "%s(%zu) = %p: not aligned to %zu", e->name, n, p, align);
    bad +=
        tm_check(usable_fits(usable, need, align), "%s(%zu): usable size %zu", e->name, n, usable);
    if (e->exact && n <= SERVED_MAX) {
        size_t cls = tm_class_size(n), cls_align = aslab__class_align((uint32_t)cls);
        bad += tm_check(usable == cls, "%s(%zu): usable size %zu, its class is %zu", e->name, n,
                        usable, cls);
        bad += tm_check(tm_aligned(p, cls_align), "%s(%zu) = %p: class %zu is aligned to %zu",
                        e->name, n, p, cls, cls_align);
    }
    if (e->zeroed) bad += tm_check(tm_zero_words(p, n), "%s(%zu) = %p: not zeroed", e->name, n, p);
    return bad;
}

typedef struct span {
    uintptr_t start, end;
} span;

static int by_start(const void *a, const void *b) {
    const span *x = a, *y = b;
    return (x->start > y->start) - (x->start < y->start);
}

/* Sorts the live blocks' usable bytes by address: no byte may be in two. */
static int count_overlaps(span *spans, size_t n) {
    int bad = 0;
    qsort(spans, n, sizeof *spans, by_start);
    for (size_t i = 1; i < n; i++)
        bad += tm_check(spans[i - 1].end <= spans[i].start, "blocks %#lx..%#lx and %#lx overlap",
                        (unsigned long)spans[i - 1].start, (unsigned long)spans[i - 1].end,
                        (unsigned long)spans[i].start);
    return bad;
}

/* One block of every edge size from e, all live at once: each checked, filled to its last
 * usable byte, no two overlapping; then each checked again and freed as e frees. */
static int run_entry(const entry *e) {
    void *blocks[TM_MEDIUM_EDGES];
    size_t usable[TM_MEDIUM_EDGES];
    span spans[TM_MEDIUM_EDGES];
    size_t in_use = tm_in_use();
    int bad = 0;
    for (size_t i = 0; i < n_edges; i++) {
        void *p = blocks[i] = e->get(e->align, edges[i]);
        bad += check_new(e, p, edges[i]);
        usable[i] = malloc_usable_size(p);
        spans[i] = (span){(uintptr_t)p, (uintptr_t)p + usable[i]};
        if (p != NULL) tm_fill_words(p, usable[i], (uint64_t)e->align << 32 | i);
    }
    bad += count_overlaps(spans, n_edges);
    for (size_t i = 0; i < n_edges; i++) {
        if (blocks[i] == NULL) continue;
        bad += tm_check(tm_intact_words(blocks[i], usable[i], (uint64_t)e->align << 32 | i),
                        "%s(%zu) = %p overwritten", e->name, edges[i], blocks[i]);
        bad += e->put(blocks[i], e->align, edges[i]);
    }
    size_t after = tm_in_use();
    bad += tm_check(after < in_use + IN_USE_SLACK, "%s: %zu bytes in use before, %zu after",
                    e->name, in_use, after);
    return bad;
}

/* The edges are the table of issue 13: 18, 20, ... 32 KiB, 36 ... 64 KiB, ..., 1 MiB; the
 * class numbered k (from 0) is edges[3 + 3 * k + 1]. */
#define CLASS_EDGE(k) edges[3 + 3 * (k) + 1]

static void test_medium_edges_table(void) {
    collect_edges();
    CU_ASSERT_EQUAL_FATAL(n_edges, TM_MEDIUM_EDGES);
    CU_ASSERT_EQUAL(edges[1], TM_SMALL_MAX);
    CU_ASSERT_EQUAL(CLASS_EDGE(0), 18 * TM_KIB);
    CU_ASSERT_EQUAL(CLASS_EDGE(7), 32 * TM_KIB);
    CU_ASSERT_EQUAL(CLASS_EDGE(8), 36 * TM_KIB);
    CU_ASSERT_EQUAL(CLASS_EDGE(16), 72 * TM_KIB);
    CU_ASSERT_EQUAL(CLASS_EDGE(39), 512 * TM_KIB);
    CU_ASSERT_EQUAL(CLASS_EDGE(40), 576 * TM_KIB);
    CU_ASSERT_EQUAL(CLASS_EDGE(47), TM_MEDIUM_TOP);
    CU_ASSERT_EQUAL(edges[n_edges - 1], TM_MEDIUM_TOP + 1);
    for (size_t k = 1; k < TM_MEDIUM_CLASSES; k++) /* eight steps per doubling */
        CU_ASSERT_EQUAL(CLASS_EDGE(k) - CLASS_EDGE(k - 1), class_step(CLASS_EDGE(k)));
}

static void test_medium_entry_points(void) {
    int bad = 0;
    collect_edges();
    for (size_t i = 0; i < sizeof entries / sizeof *entries; i++)
        bad += run_entry(&entries[i]);
    CU_ASSERT_EQUAL(bad, 0);
}

/* posix_memalign, aligned_alloc and memalign at every power of two from 32 B to 64 KiB. */
static void test_medium_alignments(void) {
    static const entry fns[] = {
        {"posix_memalign", get_posix_memalign, put_free, 0, 0, 0},
        {"aligned_alloc", get_aligned_alloc, put_free_sized, 0, 0, 0},
        {"memalign", get_memalign, put_free_aligned_sized, 0, 0, 0},
    };
    int bad = 0;
    collect_edges();
    for (size_t align = 32; align <= MAX_ALIGN; align *= 2)
        for (size_t f = 0; f < sizeof fns / sizeof *fns; f++) {
            entry e = fns[f];
            e.align = align;
            bad += run_entry(&e);
        }
    CU_ASSERT_EQUAL(bad, 0);
}

/* ---- calloc over dirt ---- */

static void *dirty_block(size_t n) {
    void *p = malloc(n);
    if (p != NULL) memset(p, 0xff, malloc_usable_size(p));
    return p;
}

/* Blocks of n bytes dirtied and freed, then as many calloc'd back (the freed blocks serve
 * them, in whatever order the allocator reuses them); then a loop of dirty, free, calloc. */
static int calloc_over_dirt(size_t n) {
    enum { BATCH = 4, ROUNDS = 8 };
    void *blocks[BATCH];
    int bad = 0;
    for (int i = 0; i < BATCH; i++)
        blocks[i] = dirty_block(n);
    for (int i = 0; i < BATCH; i++)
        free(blocks[i]);
    for (int i = 0; i < BATCH; i++) {
        void *q = blocks[i] = i % 3 == 0   ? calloc(1, n)
                              : i % 3 == 1 ? calloc(n, 1)
                                           : calloc(n / 8, 8);
        size_t want = i % 3 == 2 ? n / 8 * 8 : n;
        bad += tm_check(q != NULL && tm_zero_words(q, want), "calloc of %zu bytes = %p: not zeroed",
                        want, q);
        if (q != NULL) memset(q, 0xff, malloc_usable_size(q));
    }
    for (int i = 0; i < BATCH; i++)
        free(blocks[i]);
    for (int r = 0; r < ROUNDS; r++) {
        free(dirty_block(n));
        void *q = calloc(1, n);
        bad += tm_check(q != NULL && tm_zero_words(q, n), "calloc(1, %zu) = %p after a dirty free",
                        n, q);
        free(q);
    }
    return bad;
}

static void test_medium_calloc_dirty(void) {
    int bad = 0;
    collect_edges();
    for (size_t i = 0; i < n_edges; i++)
        bad += calloc_over_dirt(edges[i]);
    CU_ASSERT_EQUAL(bad, 0);
}

/* ---- realloc ---- */

/* Reallocates p (n bytes filled with `key`) to `size`, checks the kept prefix and the usable
 * size, refills it with key + 1. Returns the block (p itself if realloc failed). */
static void *resize(void *p, size_t old, size_t size, uint64_t key, int *bad) {
    void *q = realloc(p, size);
    if (q == NULL) {
        *bad += tm_check(0, "realloc(%p, %zu) failed", p, size);
        return p;
    }
    size_t kept = old < size ? old : size, usable = malloc_usable_size(q);
    *bad += tm_check(tm_intact_words(q, kept, key), "realloc %zu -> %zu lost data", old, size);
    *bad += tm_check(usable_fits(usable, size, 16), "realloc %zu -> %zu: usable size %zu", old,
                     size, usable);
    if (size <= ASLAB_SMALL_MAX) /* a small block is exactly its class, wherever it came from */
        *bad += tm_check(usable == tm_class_size(size), "realloc %zu -> %zu: usable size %zu", old,
                         size, usable);
    tm_fill_words(q, size, key + 1);
    return q;
}

/* Small, medium and large, up and down, and across each edge. */
static void test_medium_realloc_path(void) {
    static const size_t path[] = {
        100,
        20 * TM_KIB,
        300 * TM_KIB,
        3 * TM_MIB,
        40 * TM_KIB,
        8,
        16385,
        TM_MEDIUM_TOP,
        TM_MEDIUM_TOP + 1,
        TM_MEDIUM_TOP,
        16384,
        16385,
        18432,
        18433,
        600 * TM_KIB,
        2,
        5 * TM_MIB,
        TM_MEDIUM_TOP - 1,
        17 * TM_KIB,
        65536,
        65537,
        16383,
        1,
        TM_MEDIUM_TOP,
        100,
    };
    int bad = 0;
    void *p = malloc(path[0]);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    tm_fill_words(p, path[0], 0);
    for (size_t i = 1; i < sizeof path / sizeof *path; i++)
        p = resize(p, path[i - 1], path[i], i - 1, &bad);
    free(p);
    CU_ASSERT_EQUAL(bad, 0);
}

/* A random size: small, an edge, medium (every doubling alike), near the old size, large. */
static size_t walk_size(uint64_t *rng, size_t old) {
    uint64_t r = tm_random(rng), pick = r % 16;
    r >>= 8;
    if (pick < 4) return 1 + r % TM_SMALL_MAX;
    if (pick < 6) return edges[r % n_edges];
    if (pick < 12) {
        size_t base = (TM_SMALL_MAX << (r % 6));
        return base + 1 + (r >> 8) % base;
    }
    if (pick < 15) return old > 64 ? old - 64 + (r >> 8) % 129 : 1 + (r >> 8) % 128;
    return TM_MEDIUM_TOP + 1 + r % (2 * TM_MIB);
}

/* Several blocks, each walked through random sizes in turn, seeded: every step keeps the
 * prefix, and every other block stays intact (checked at its next step). */
static void test_medium_realloc_walk(void) {
    enum { BLOCKS = 6, STEPS = 3000 };
    void *blocks[BLOCKS];
    size_t sizes[BLOCKS];
    uint64_t keys[BLOCKS], rng = 0x2545f4914f6cdd1dull;
    int bad = 0;
    collect_edges();
    for (int b = 0; b < BLOCKS; b++) {
        sizes[b] = walk_size(&rng, 0), keys[b] = (uint64_t)b << 40;
        blocks[b] = malloc(sizes[b]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(blocks[b]);
        tm_fill_words(blocks[b], sizes[b], keys[b]);
    }
    for (int s = 0; s < STEPS; s++) {
        int b = (int)(tm_random(&rng) % BLOCKS);
        size_t size = walk_size(&rng, sizes[b]);
        blocks[b] = resize(blocks[b], sizes[b], size, keys[b]++, &bad);
        sizes[b] = size;
    }
    for (int b = 0; b < BLOCKS; b++) {
        bad +=
            tm_check(tm_intact_words(blocks[b], sizes[b], keys[b]), "walked block %d lost data", b);
        free(blocks[b]);
    }
    CU_ASSERT_EQUAL(bad, 0);
}

/* A new size within the block's own class keeps the block where it is, as for small
 * classes (test_realloc.c). The class is the one the usable size ends, so the promise holds
 * for jemalloc's classes too, which are never finer than aslab's; glibc's realloc (the
 * libc fallback) shrinks in place and moves mmapped chunks, so there it is aslab's alone. */
static int in_place_promised(size_t usable) {
#ifdef ASLAB_FALLBACK_LIBC
    return usable <= SERVED_MAX;
#else
    (void)usable;
    return 1;
#endif
}

static void test_medium_realloc_in_place(void) {
    int bad = 0;
    for (size_t c = tm_class_size(TM_SMALL_MAX + 1); c <= TM_MEDIUM_TOP; c = tm_class_size(c + 1)) {
        void *p = malloc(c);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        size_t usable = malloc_usable_size(p), lowest = usable - class_step(usable) + 1;
        const size_t sizes[] = {usable, usable - 1, lowest, usable};
        int promised = in_place_promised(usable);
        tm_fill_words(p, usable, c);
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
            void *q = realloc(p, sizes[i]);
            bad += tm_check(q != NULL, "realloc(%p, %zu) failed", p, sizes[i]);
            if (q == NULL) continue;
            bad +=
                tm_check(!promised || q == p, "realloc(%p, %zu) of a %zu-byte block moved it to %p",
                         p, sizes[i], usable, q);
            bad += tm_check(!promised || malloc_usable_size(q) == usable,
                            "realloc to %zu: usable size %zu, was %zu", sizes[i],
                            malloc_usable_size(q), usable);
            p = q;
        }
        bad += tm_check(tm_intact_words(p, lowest, c), "realloc in place lost data (%zu)", c);
        free(p);
    }
    CU_ASSERT_EQUAL(bad, 0);
}

/* ---- the last freed block ---- */

/* A thread's next malloc of a medium class returns the block of the class it freed last,
 * whichever of its slabs holds it (medium.h, "the last freed block"), so that the program
 * gets lines it touched last rather than a block of the current slab. The blocks span
 * several slabs (at least 8 blocks a slab), so most freed here are not in the current one. */
static void test_medium_last_freed_reused(void) {
    enum { N = 40 };
    const size_t size = 100 * TM_KIB;
    void *blocks[N];
    int bad = 0;
    for (int i = 0; i < N; i++) {
        blocks[i] = malloc(size);
        CU_ASSERT_PTR_NOT_NULL_FATAL(blocks[i]);
        tm_fill_words(blocks[i], size, (uint64_t)i);
    }
    for (int i = 0; i < N; i += 3) {
        void *p = blocks[i];
        free(p);
        blocks[i] = malloc(size - 1024); /* the same class */
        bad += tm_check(blocks[i] == p, "free(%p), block %d of %d: malloc gave %p", p, i, N,
                        blocks[i]);
    }
    for (int i = 0; i < N; i++) {
        bad += tm_check(i % 3 == 0 || tm_intact_words(blocks[i], size, (uint64_t)i),
                        "block %d changed", i);
        free(blocks[i]);
    }
    CU_ASSERT_EQUAL(bad, 0);
}

CU_TestInfo test_medium_tests[] = {
    {"a medium class's next malloc is the block it freed last", test_medium_last_freed_reused},
    {"the medium edges are issue 13's table", test_medium_edges_table},
    {"every entry point at every medium edge +-1, all live", test_medium_entry_points},
    {"aligned family: 32 B to 64 KiB at every medium edge", test_medium_alignments},
    {"calloc zeroes dirtied medium blocks", test_medium_calloc_dirty},
    {"realloc small -> medium -> large and back, data kept", test_medium_realloc_path},
    {"realloc random walk over all sizes (seeded)", test_medium_realloc_walk},
    {"realloc within a medium block's class stays in place", test_medium_realloc_in_place},
    CU_TEST_INFO_NULL,
};
