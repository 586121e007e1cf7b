/* test_direct.c - directly mapped blocks (src/malloc/direct.h): large blocks in mappings of
 * their own, resized by mremap. malloc maps beyond 32 MiB; realloc moves a block into a
 * mapping when it grows it beyond a threshold that starts at 1 MiB and rises to the size of
 * the direct blocks the program frees (up to 32 MiB), so the chains below cross both ways
 * whatever the suites before them did. Contents must survive every move and resize, usable
 * sizes must hold, a freed or shrunk block's pages must go at once, and a pointer into a
 * block that is not its start must stop the program with one line. */
#include "../../src/malloc/arena.h"
#include "../../src/malloc/direct.h"
#include "test_child.h"
#include "test_suites.h"
#include "test_util.h"

#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define DIRECT_SIZE (64 * TM_MIB) /* above ASLAB_DIRECT_MALLOC_MIN: always mapped directly */

_Static_assert(DIRECT_SIZE > ASLAB_DIRECT_MALLOC_MIN, "DIRECT_SIZE is mapped directly");

/* The pattern's word at word index i, for key. Word-wise, so that checking 300 MiB after
 * every step of a chain costs little. */
static uint64_t word_at(uint64_t key, size_t i) {
    uint64_t x = (key + i) * 0x9e3779b97f4a7c15ull;
    return x ^ (x >> 29);
}

static uint8_t byte_at(uint64_t key, size_t offset) {
    return (uint8_t)(word_at(key, offset / 8) >> (8 * (offset % 8)));
}

/* Writes the pattern over [from, to) of p. */
static void fill(void *p, size_t from, size_t to, uint64_t key) {
    uint8_t *bytes = p;
    while (from < to && from % 8 != 0)
        bytes[from] = byte_at(key, from), from++;
    for (; from + 8 <= to; from += 8) {
        uint64_t word = word_at(key, from / 8);
        memcpy(bytes + from, &word, 8);
    }
    for (; from < to; from++)
        bytes[from] = byte_at(key, from);
}

/* 1 when [0, n) of p holds the pattern. */
static int intact(const void *p, size_t n, uint64_t key) {
    const uint8_t *bytes = p;
    size_t at = 0;
    for (; at + 8 <= n; at += 8) {
        uint64_t word;
        memcpy(&word, bytes + at, 8);
        if (word != word_at(key, at / 8)) return 0;
    }
    for (; at < n; at++)
        if (bytes[at] != byte_at(key, at)) return 0;
    return 1;
}

/* realloc of p from `old` to `size` bytes: the kept bytes checked, the new tail filled.
 * Returns the block (p itself if realloc failed, counted in *bad). */
static void *resize(void *p, size_t old, size_t size, uint64_t key, int *bad) {
    void *q = realloc(p, size);
    if (q == NULL) {
        *bad += tm_check(0, "realloc(%p, %zu) failed", p, size);
        return p;
    }
    size_t kept = old < size ? old : size;
    *bad += tm_check(intact(q, kept, key), "realloc %zu -> %zu lost data", old, size);
    *bad += tm_check(malloc_usable_size(q) >= size, "realloc to %zu: usable %zu", size,
                     malloc_usable_size(q));
    *bad += tm_check((uintptr_t)q % 16 == 0, "realloc to %zu: %p misaligned", size, q);
    if (size > old) fill(q, old, size, key);
    return q;
}

/* Grows a block from `from` to `to`, each step next(size), then shrinks it back through the
 * same sizes, down to 100 bytes (a small class). */
static void chain(size_t from, size_t to, size_t (*next)(size_t), uint64_t key) {
    size_t sizes[64], n = 0;
    for (size_t size = from; size < to && n < 63; size = next(size))
        sizes[n++] = size;
    sizes[n++] = to;
    int bad = 0;
    void *p = malloc(from);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    fill(p, 0, from, key);
    for (size_t i = 1; i < n; i++)
        p = resize(p, sizes[i - 1], sizes[i], key, &bad);
    size_t old = sizes[n - 1];
    for (size_t i = n - 1; i-- > 0; old = sizes[i])
        p = resize(p, old, sizes[i], key, &bad);
    p = resize(p, old, 100, key, &bad);
    CU_ASSERT_EQUAL(malloc_usable_size(p), tm_class_size(100)); /* back in a small class */
    free(p);
    CU_ASSERT_EQUAL(bad, 0);
}

static size_t doubled(size_t size) {
    return 2 * size;
}

/* Odd sizes: each step 3/2 of the last plus an odd number of bytes. */
static size_t odd_step(size_t size) {
    return size + size / 2 + 4093;
}

static void test_chain_doubling(void) {
    chain(2 * TM_MIB, 300 * TM_MIB, doubled, 11);
}

static void test_chain_odd_steps(void) {
    chain(2 * TM_MIB + 777, 300 * TM_MIB, odd_step, 12);
}

/* One page at a time, as a buffer read into grows: most steps stay within the mapping. */
static void test_chain_page_steps(void) {
    int bad = 0;
    size_t size = DIRECT_SIZE;
    void *p = malloc(size);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    fill(p, 0, size, 13);
    for (int i = 0; i < 3000; i++, size += 4096 + 3) {
        void *q = realloc(p, size + 4096 + 3);
        bad += tm_check(q != NULL && intact(q, 4096, 13), "step %d: lost the start", i);
        if (q == NULL) break;
        p = q;
        fill(p, size, size + 4096 + 3, 13);
    }
    bad += tm_check(intact(p, size, 13), "lost data after page steps");
    free(p);
    CU_ASSERT_EQUAL(bad, 0);
}

/* A direct block's usable size covers the request, all of it can be written, and free_sized
 * accepts the request's size. A block shrunk within its mapping keeps its address. */
static void test_usable_size(void) {
    const size_t sizes[] = {DIRECT_SIZE, DIRECT_SIZE + 1, 100 * TM_MIB - 5};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        char *p = malloc(sizes[i]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        size_t usable = malloc_usable_size(p);
        CU_ASSERT(usable >= sizes[i]);
        CU_ASSERT(usable < sizes[i] + ASLAB_REGION_SIZE); /* the mapping is rounded, no more */
        CU_ASSERT(tm_aligned(p, 64));
        memset(p, 0x5a, usable);
        CU_ASSERT_PTR_EQUAL(realloc(p, sizes[i] - 4096), p);
        free_sized(p, sizes[i] - 4096);
    }
}

/* In a child without the suites' cap on the address space (test_main.c), where a mapping
 * with MAP_NORESERVE of 32 TiB would succeed: the request limit (RAM and swap) must refuse
 * such sizes before any mapping is tried, whatever the block. Exits with the failures. */
static void impossible_sizes(void *arg) {
    (void)arg;
    struct rlimit limit;
    getrlimit(RLIMIT_AS, &limit);
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_AS, &limit);
    const size_t from[] = {100, 100000, 2 * TM_MIB, DIRECT_SIZE};
    const size_t huge[] = {(size_t)1 << 45, SIZE_MAX / 2, SIZE_MAX - 4096};
    int bad = 0;
    for (size_t i = 0; i < sizeof from / sizeof *from; i++) {
        char *p = malloc(from[i]);
        if (p == NULL) _exit(100);
        fill(p, 0, from[i], 41);
        for (size_t k = 0; k < sizeof huge / sizeof *huge; k++) {
            errno = 0;
            void *q = realloc(p, tm_opaque(huge[k]));
            bad +=
                tm_check(q == NULL && errno == ENOMEM, "realloc(%zu-byte block, %zu): %p, errno %d",
                         from[i], huge[k], q, errno);
            errno = 0;
            q = malloc(tm_opaque(huge[k]));
            bad += tm_check(q == NULL && errno == ENOMEM, "malloc(%zu): %p", huge[k], q);
        }
        bad += tm_check(intact(p, from[i], 41), "the %zu-byte block changed", from[i]);
        free(p);
    }
    fflush(stderr);
    _exit(bad);
}

static void test_impossible_sizes(void) {
    tm_child c;
    tm_child_run(&c, impossible_sizes, NULL, TM_CHILD_TIMEOUT_MS);
    if (!tm_child_exited(&c, 0)) tm_child_dump(&c, "impossible sizes");
    CU_ASSERT(tm_child_exited(&c, 0));
}

/* calloc beyond the threshold maps fresh pages: zero, even where a freed block just was. */
static void test_calloc_zero(void) {
    char *p = malloc(DIRECT_SIZE);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    memset(p, 0xff, DIRECT_SIZE);
    free(p);
    char *q = calloc(DIRECT_SIZE / 8, 8);
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    CU_ASSERT(tm_all_zero(q, DIRECT_SIZE));
    free(q);
}

/* Runs scenario `name` in a fresh process; fatal unless it exited 0 (its output in *c). */
static void direct_scenario(tm_child *c, const char *name) {
    tm_child_scenario(c, name, NULL, 0, TM_CHILD_TIMEOUT_MS);
    if (!tm_child_exited(c, 0)) tm_child_dump(c, name);
    CU_ASSERT_FATAL(tm_child_exited(c, 0));
}

/* Freed, or shrunk, a direct block's pages are gone at once: no decay, no call needed. In a
 * fresh process (the scenario direct-pages): one that took back blocks it freed keeps a
 * spare mapping (the test below). */
static void test_pages_go_at_once(void) {
    size_t start = 0, full = 0, shrunk = 0, within = 0, freed = 0;
    tm_child c;
    direct_scenario(&c, "direct-pages");
    CU_ASSERT_EQUAL_FATAL(sscanf(c.out, "start %zu full %zu shrunk %zu within %zu freed %zu",
                                 &start, &full, &shrunk, &within, &freed),
                          5);
    CU_ASSERT(full > start + 60 * 1024);
    CU_ASSERT(shrunk + 20 * 1024 < full);
    CU_ASSERT(within + 2 * 1024 < shrunk);
    CU_ASSERT(freed + 30 * 1024 < within);
}

/* A program that frees a 40 MiB block and asks for another within the decay time takes back
 * what it returned (the refault allowance): from then on the freed mapping is kept as the
 * spare, and the next block comes from it, cleared for calloc, with no page faulted in.
 * malloc_trim unmaps it. */
static void test_spare_mapping(void) {
    long first = -1, last = -1;
    int zeroed = 0;
    size_t kept = 0, trimmed = 0;
    tm_child c;
    direct_scenario(&c, "direct-spare");
    size_t used = 0, used_after = 0;
    CU_ASSERT_EQUAL_FATAL(sscanf(c.out,
                                 "first %ld last %ld zeroed %d kept %zu trimmed %zu used %zu "
                                 "after %zu",
                                 &first, &last, &zeroed, &kept, &trimmed, &used, &used_after),
                          7);
    CU_ASSERT(first > 9000); /* 10,240 pages */
    CU_ASSERT(last >= 0 && last < 200);
    CU_ASSERT(zeroed == 1);
    CU_ASSERT(trimmed + 30 * 1024 < kept);
    CU_ASSERT(used_after + 30 * TM_MIB < used); /* mallinfo2 counts the spare as free */
}

/* A program that cycles big blocks (a 2 MiB one freed and asked for again) keeps a freed
 * direct block's mapping as the spare from its first free: the next block comes from it,
 * cleared, with no page faulted in; malloc_trim unmaps it. A block beyond the refault
 * allowance's most (64 MiB) still goes at once. */
static void test_spare_while_cycling(void) {
    long faults = -1;
    int zeroed = 0;
    size_t kept = 0, trimmed = 0, huge = SIZE_MAX;
    tm_child c;
    direct_scenario(&c, "direct-spare-cycling");
    CU_ASSERT_EQUAL_FATAL(sscanf(c.out, "faults %ld zeroed %d kept %zu trimmed %zu huge %zu",
                                 &faults, &zeroed, &kept, &trimmed, &huge),
                          5);
    CU_ASSERT(faults >= 0 && faults < 200); /* 10,240 pages when mapped afresh */
    CU_ASSERT(zeroed == 1);
    CU_ASSERT(trimmed + 30 * 1024 < kept);
    CU_ASSERT(huge < 10 * 1024); /* of 96 MiB written */
}

/* ---- misuse: one line, then SIGABRT ---- */

typedef struct misuse {
    char *p;
    size_t size;
} misuse;

static void expect_fault(void (*fn)(void *), misuse m, const char *call, const char *fault) {
    char want[256];
    snprintf(want, sizeof want, "aslab: %s: %s 0x%" PRIxPTR "\n", call, fault, (uintptr_t)m.p);
    tm_child c;
    tm_child_run(&c, fn, &m, TM_CHILD_TIMEOUT_MS);
    if (!tm_child_killed_by(&c, SIGABRT) || strcmp(c.err, want) != 0) {
        fprintf(stderr, "\n  expected stderr: %s", want);
        tm_child_dump(&c, call);
    }
    CU_ASSERT(tm_child_killed_by(&c, SIGABRT));
    CU_ASSERT_STRING_EQUAL(c.err, want);
}

static void free_it(void *arg) {
    free(((misuse *)arg)->p);
}
static void realloc_it(void *arg) {
    free(realloc(((misuse *)arg)->p, 2 * DIRECT_SIZE));
}
static void usable_size_of_it(void *arg) {
    malloc_usable_size(((misuse *)arg)->p);
}
static void free_sized_it(void *arg) {
    free_sized(((misuse *)arg)->p, ((misuse *)arg)->size);
}

/* Frees a 40 MiB block three times over (the third mapping is kept as the spare), then
 * frees the last one again. */
static void free_spare_twice(void *arg) {
    char *p = NULL;
    (void)arg;
    for (int round = 0; round < 3; round++) {
        p = malloc(40 * TM_MIB);
        memset(p, 1, 40 * TM_MIB);
        free(p);
    }
    free(p);
}

/* A block whose mapping became the spare is not a block: a second free aborts, naming the
 * fault. */
static void test_spare_double_free(void) {
    tm_child c;
    tm_child_run(&c, free_spare_twice, NULL, TM_CHILD_TIMEOUT_MS);
    CU_ASSERT(tm_child_killed_by(&c, SIGABRT));
    CU_ASSERT_PTR_NOT_NULL(strstr(c.err, "aslab: free(): block already freed 0x"));
}

/* Inside the mapping's first entry the position alone gives it away; in a later entry the
 * header is looked for where the pointer's entry starts, and is not there. */
static void test_interior_pointers(void) {
    char *p = malloc(DIRECT_SIZE);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    memset(p, 0, DIRECT_SIZE); /* no stray magic in the block */
    const char *not_start = "invalid pointer (not the start of a block)";
    const char *no_header = "invalid pointer (no directly mapped block starts there)";
    expect_fault(free_it, (misuse){p + 16, 0}, "free()", not_start);
    expect_fault(free_it, (misuse){p + 5 * TM_MIB + 48, 0}, "free()", not_start);
    expect_fault(free_it, (misuse){p + ASLAB_REGION_SIZE, 0}, "free()", no_header);
    expect_fault(realloc_it, (misuse){p + 4096, 0}, "realloc()", not_start);
    expect_fault(usable_size_of_it, (misuse){p + 2 * ASLAB_REGION_SIZE, 0}, "malloc_usable_size()",
                 no_header);
    expect_fault(free_sized_it, (misuse){p, malloc_usable_size(p) + 1}, "free_sized()",
                 "size larger than the block");
    free(p);
}

/* A header copied to where another entry starts does not pass: the magic holds its address. */
static void test_copied_header(void) {
    char *p = malloc(DIRECT_SIZE);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    char *header = p - ASLAB_DIRECT_HEADER, *copy = header + ASLAB_REGION_SIZE;
    memcpy(copy, header, ASLAB_DIRECT_HEADER);
    expect_fault(free_it, (misuse){copy + ASLAB_DIRECT_HEADER, 0}, "free()",
                 "invalid pointer (no directly mapped block starts there)");
    free(p);
}

/* ---- fork and threads ---- */

static void child_uses_block(void *arg) {
    misuse *m = arg;
    int ok = intact(m->p, m->size, 21);
    char *q = realloc(m->p, 3 * m->size); /* its own copy of the mapping moves or grows */
    ok = ok && q != NULL && intact(q, m->size, 21);
    if (q != NULL) {
        fill(q, m->size, 3 * m->size, 21);
        q = realloc(q, m->size / 2);
        ok = ok && q != NULL && intact(q, m->size / 2, 21);
        free(q);
    }
    char *r = malloc(DIRECT_SIZE);
    ok = ok && r != NULL;
    free(r);
    fflush(stdout);
    _exit(ok ? 0 : 1);
}

/* The child has its own copy of the mapping and its map entries, and may resize and free it;
 * the parent's block is untouched by that. */
static void test_fork_with_live_block(void) {
    misuse m = {malloc(DIRECT_SIZE), DIRECT_SIZE};
    CU_ASSERT_PTR_NOT_NULL_FATAL(m.p);
    fill(m.p, 0, m.size, 21);
    tm_child c;
    tm_child_run(&c, child_uses_block, &m, TM_CHILD_TIMEOUT_MS);
    if (!tm_child_exited(&c, 0)) tm_child_dump(&c, "fork child");
    CU_ASSERT(tm_child_exited(&c, 0));
    CU_ASSERT(intact(m.p, m.size, 21));
    void *q = realloc(m.p, 2 * m.size);
    CU_ASSERT(q != NULL && intact(q, m.size, 21));
    free(q);
}

#define THREADS 4
#define ROUNDS  40

/* Each thread resizes its own block at random between 1 and 48 MiB (direct and not, moves and
 * in place), with small blocks in between, checking its data at every step. */
static void *resize_own(void *arg) {
    uint64_t key = (uintptr_t)arg, state = key * 0x2545f4914f6cdd1dull + 1;
    size_t size = 2 * TM_MIB;
    char *p = malloc(size);
    int bad = p == NULL;
    if (p != NULL) fill(p, 0, size, key);
    for (int i = 0; i < ROUNDS && p != NULL; i++) {
        size_t next = TM_MIB + (size_t)(tm_random(&state) % (47 * TM_MIB));
        void *small = malloc(100 + i);
        char *q = realloc(p, next);
        free(small);
        if (q == NULL) {
            bad++;
            break;
        }
        size_t kept = size < next ? size : next;
        bad += tm_check(intact(q, kept, key), "thread %" PRIu64 ": realloc %zu -> %zu lost data",
                        key, size, next);
        if (next > size) fill(q, size, next, key);
        p = q, size = next;
    }
    free(p);
    return (void *)(uintptr_t)bad;
}

static void test_threads_resize_own_blocks(void) {
    pthread_t threads[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++)
        CU_ASSERT_EQUAL_FATAL(pthread_create(&threads[i], NULL, resize_own, (void *)(i + 31)), 0);
    uintptr_t bad = 0;
    for (int i = 0; i < THREADS; i++) {
        void *result;
        pthread_join(threads[i], &result);
        bad += (uintptr_t)result;
    }
    CU_ASSERT_EQUAL(bad, 0);
}

CU_TestInfo test_direct_tests[] = {
    {"realloc 2 MiB -> 300 MiB by doubling and back to small, data kept", test_chain_doubling},
    {"realloc 2 MiB -> 300 MiB by odd steps and back to small, data kept", test_chain_odd_steps},
    {"realloc of a direct block a page at a time", test_chain_page_steps},
    {"usable size of a direct block, free_sized", test_usable_size},
    {"sizes no system could grant: NULL and ENOMEM, the block kept", test_impossible_sizes},
    {"calloc beyond the threshold is zero", test_calloc_zero},
    {"a freed or shrunk direct block's pages go at once", test_pages_go_at_once},
    {"a program that takes back what it frees gets a spare mapping, zeroed for calloc",
     test_spare_mapping},
    {"a second free of a block whose mapping is the spare aborts", test_spare_double_free},
    {"a program that cycles big blocks gets a spare mapping at its first direct free",
     test_spare_while_cycling},
    {"interior pointers of a direct block abort with one line", test_interior_pointers},
    {"a copied header does not pass", test_copied_header},
    {"fork with a direct block live: the child resizes and frees its copy",
     test_fork_with_live_block},
    {"threads resize their own blocks at once", test_threads_resize_own_blocks},
    CU_TEST_INFO_NULL,
};
