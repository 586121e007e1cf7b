/* test_calloc.c - calloc of medium blocks clears only what may not read zero (api.c): a
 * never-used block of a slab that came zeroed from the arena is not written at all, a
 * discarded block only in the pages it shares with its neighbours. Each case runs in a fresh
 * process (a scenario), so that which slabs are new, dirty or discarded is known:
 *
 *   calloc-fresh     blocks of new slabs: zero, and their pages not faulted in by calloc
 *   calloc-recycled  blocks of slabs a program wrote and freed, lent again: zero all the same
 *   calloc-clean     blocks whose pages malloc_trim discarded, their neighbours live and
 *                    written: zero, the inner pages left alone, the neighbours intact
 *   calloc-locked    the same with the blocks' pages locked (mlock), where the kernel keeps
 *                    discarded pages (so aslab clears them instead): zero, neighbours intact
 *   calloc-sparse    medium blocks that a program wrote in three places and freed, calloc'd
 *                    again: zero, and the pages nobody wrote not faulted in (clear.c)
 *
 * Each prints one line that the test below reads; the old calloc (a memset of every block)
 * fails the "not faulted in" halves, a calloc that trusted a recycled or locked slab fails
 * the "zero" halves. Other calloc tests: test_entry_points.c, test_medium.c.
 */
#include "../../src/malloc/clear.h"
#include "test_child.h"
#include "test_suites.h"
#include "test_util.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#define WIDE       (320 * TM_KIB) /* a class of 4 MiB slabs, 12 blocks each */
#define WIDE_COUNT 64
#define EDGY       (18 * TM_KIB) /* a class whose blocks share pages: 18 KiB, 256 KiB slabs */
#define EDGY_COUNT 39            /* three slabs' worth */
#define PATTERN    0xa5

/* The kernel's transparent huge pages off for this process: with them on for every mapping
 * (`always`, some distributions' default), the first touch of a region can fault in 2 MiB,
 * and the resident counts below would measure that policy rather than which pages calloc
 * wrote. Where the kernel lacks the setting, nothing changes. */
static void no_huge_pages(void) {
    (void)prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
}

static size_t page_size(void) {
    return (size_t)sysconf(_SC_PAGESIZE);
}

/* Resident pages among the whole pages inside [p, p + n). */
static size_t inner_resident(const char *p, size_t n, size_t *pages) {
    size_t page = page_size();
    uintptr_t lo = ((uintptr_t)p + page - 1) & ~(page - 1), hi = ((uintptr_t)p + n) & ~(page - 1);
    *pages = hi > lo ? (hi - lo) / page : 0;
    if (*pages == 0) return 0;
    unsigned char vec[64];
    size_t resident = 0;
    for (size_t i = 0; i < *pages && i < sizeof vec; i++)
        vec[i] = 0;
    size_t count = *pages < sizeof vec ? *pages : sizeof vec;
    if (mincore((void *)lo, count * page, vec) != 0) return *pages; /* cannot tell: count all */
    for (size_t i = 0; i < count; i++)
        resident += vec[i] & 1;
    return resident;
}

static int all_bytes(const unsigned char *p, size_t n, unsigned char value) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != value) return 0;
    return 1;
}

int tm_calloc_fresh(void) {
    static char *blocks[WIDE_COUNT];
    no_huge_pages();
    size_t before = tm_rss_kib(), bad = 0;
    for (int i = 0; i < WIDE_COUNT; i++)
        if ((blocks[i] = calloc(1, tm_opaque(WIDE))) == NULL) return 1;
    size_t grew = tm_rss_kib() - before;
    for (int i = 0; i < WIDE_COUNT; i++) {
        bad += !tm_zero_words(blocks[i], WIDE);
        free(blocks[i]);
    }
    printf("bad %zu grew %zu of %zu KiB\n", bad, grew, (size_t)WIDE_COUNT * WIDE / 1024);
    return 0;
}

int tm_calloc_recycled(void) {
    static char *blocks[WIDE_COUNT];
    size_t bad = 0;
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < WIDE_COUNT; i++)
            if ((blocks[i] = calloc(1, tm_opaque(WIDE))) == NULL) return 1;
        for (int i = 0; i < WIDE_COUNT; i++) {
            bad += !tm_zero_words(blocks[i], WIDE);
            memset(blocks[i], PATTERN, WIDE);
        }
        for (int i = 0; i < WIDE_COUNT; i++)
            free(blocks[i]);
    }
    printf("bad %zu\n", bad);
    return 0;
}

/* Locks the pages of every block (a few slabs: within the default RLIMIT_MEMLOCK of 8 MiB,
 * so no privilege is needed); 0 if the kernel refuses. */
static int lock_blocks(char **blocks, int count) {
    uintptr_t lo = UINTPTR_MAX, hi = 0, page = page_size();
    for (int i = 0; i < count; i++) {
        if ((uintptr_t)blocks[i] < lo) lo = (uintptr_t)blocks[i];
        if ((uintptr_t)blocks[i] + EDGY > hi) hi = (uintptr_t)blocks[i] + EDGY;
    }
    lo &= ~(page - 1);
    if (mlock((void *)lo, hi - lo) == 0) return 1;
    printf("skip: mlock of %zu KiB refused (%s)\n", (size_t)(hi - lo) / 1024, strerror(errno));
    return 0;
}

/* Three slabs of EDGY blocks written whole; every third stays live, the others are freed
 * and their pages discarded by malloc_trim; as many callocs then take the discarded ones.
 * `locked`: the blocks' pages are locked first, so the kernel refuses to discard them. */
static int clean_blocks(int locked) {
    static char *blocks[EDGY_COUNT], *again[EDGY_COUNT];
    size_t bad = 0, resident = 0, pages = 0, n = 0;
    no_huge_pages();
    for (int i = 0; i < EDGY_COUNT; i++) {
        if ((blocks[i] = malloc(tm_opaque(EDGY))) == NULL) return 1;
        memset(blocks[i], PATTERN, EDGY);
    }
    if (locked && !lock_blocks(blocks, EDGY_COUNT)) return 0;
    for (int i = 0; i < EDGY_COUNT; i++)
        if (i % 3 != 0) free(blocks[i]);
    malloc_trim(0);
    for (int i = 0; i < EDGY_COUNT; i++) {
        if (i % 3 == 0) continue;
        if ((again[n] = calloc(tm_opaque(EDGY), 1)) == NULL) return 1;
        size_t inner;
        resident += inner_resident(again[n], EDGY, &inner);
        pages += inner;
        bad += !all_bytes((unsigned char *)again[n], EDGY, 0);
        n++;
    }
    for (int i = 0; i < EDGY_COUNT; i += 3)
        bad += !all_bytes((unsigned char *)blocks[i], EDGY, PATTERN);
    for (size_t i = 0; i < n; i++)
        free(again[i]);
    for (int i = 0; i < EDGY_COUNT; i += 3)
        free(blocks[i]);
    printf("bad %zu resident %zu of %zu inner pages\n", bad, resident, pages);
    return 0;
}

/* `count` blocks of `size` written at three bytes (the first, one in the middle, the last),
 * freed, then as many calloc'd of size - 3 (a length that ends inside a word): adds the
 * blocks that do not read zero to *bad, and the growth of the resident set over the callocs
 * to *grew (KiB). */
static void sparse_reuse(size_t size, int count, size_t *bad, size_t *grew) {
    static unsigned char *blocks[64];
    for (int i = 0; i < count; i++) {
        if ((blocks[i] = malloc(tm_opaque(size))) == NULL) exit(1);
        blocks[i][0] = blocks[i][size / 2 + 5] = blocks[i][size - 1] = PATTERN;
    }
    for (int i = 0; i < count; i++)
        free(blocks[i]);
    size_t before = tm_rss_kib();
    for (int i = 0; i < count; i++)
        if ((blocks[i] = calloc(1, tm_opaque(size - 3))) == NULL) exit(1);
    *grew += tm_rss_kib() - before;
    for (int i = 0; i < count; i++) {
        *bad += !all_bytes(blocks[i] + size - 16, 13, 0) || !tm_zero_words(blocks[i], size - 3);
        free(blocks[i]);
    }
}

/* Prints how many blocks did not read zero, and how many shapes grew the resident set by a
 * sixteenth of what their callocs asked or more (three written pages a block, a few more
 * where a page holds the block's free-list links, stay far below). */
int tm_calloc_sparse(void) {
    static const struct {
        size_t size;
        int count;
    } shapes[] = {{40 * TM_KIB, 64}, {WIDE, 64}, {900 * TM_KIB, 16}};
    size_t bad = 0, over = 0, n = sizeof shapes / sizeof *shapes;
    no_huge_pages();
    for (size_t s = 0; s < n; s++) {
        size_t grew = 0, asked = shapes[s].size * (size_t)shapes[s].count / 1024;
        sparse_reuse(shapes[s].size, shapes[s].count, &bad, &grew);
        over += grew >= asked / 16;
        fprintf(stderr, "%zu KiB x %d: grew %zu of %zu KiB\n", shapes[s].size / 1024,
                shapes[s].count, grew, asked);
    }
    printf("bad %zu over %zu of %zu\n", bad, over, n);
    return 0;
}

int tm_calloc_clean(void) {
    return clean_blocks(0);
}
int tm_calloc_locked(void) {
    return clean_blocks(1);
}

/* ---- the tests: each scenario in a child, its line read back ---- */

/* Runs scenario `name` with `env` and reads its line by `format` into v[0..n-1]; 1 if it
 * exited 0 and the line had them all, else 0 (the child's output shown). *out keeps the
 * line for checks of its own. */
static int scenario_line(const char *name, const char *const *env, const char *format, size_t v[3],
                         int n, char out[64]) {
    tm_child c;
    tm_child_scenario(&c, name, env, 0, TM_CHILD_TIMEOUT_MS);
    int ok = tm_child_exited(&c, 0) && sscanf(c.out, format, &v[0], &v[1], &v[2]) == n;
    snprintf(out, 64, "%s", c.out);
    if (!ok) tm_child_dump(&c, name);
    CU_ASSERT(ok);
    return ok;
}

static void test_fresh(void) {
    size_t v[3]; /* bad, KiB grown, KiB asked */
    char line[64];
    if (!scenario_line("calloc-fresh", NULL, "bad %zu grew %zu of %zu", v, 3, line)) return;
    CU_ASSERT_EQUAL(v[0], 0);
    CU_ASSERT(v[1] < v[2] / 16); /* 20 MiB asked: a page or so per block may be touched */
    if (v[0] != 0 || v[1] >= v[2] / 16) printf("\n    calloc-fresh: %s", line);
}

static void test_recycled(void) {
    static const char *const at_once[] = {"ASLAB_DECAY_MS=0", NULL};
    const char *const *envs[] = {NULL, at_once};
    for (int i = 0; i < 2; i++) {
        size_t v[3]; /* bad */
        char line[64];
        if (scenario_line("calloc-recycled", envs[i], "bad %zu", v, 1, line))
            CU_ASSERT_EQUAL(v[0], 0);
    }
}

static void test_clean(void) {
    size_t v[3]; /* bad, resident inner pages, inner pages */
    char line[64];
    if (!scenario_line("calloc-clean", NULL, "bad %zu resident %zu of %zu", v, 3, line)) return;
    CU_ASSERT_EQUAL(v[0], 0);
    CU_ASSERT(v[2] > 0 && v[1] * 4 < v[2]); /* the discarded pages stay untouched */
    if (v[0] != 0 || v[1] * 4 >= v[2]) printf("\n    calloc-clean: %s", line);
}

static void test_sparse(void) {
    size_t v[3]; /* bad, shapes over their bound, shapes */
    char line[64];
    if (!scenario_line("calloc-sparse", NULL, "bad %zu over %zu of %zu", v, 3, line)) return;
    CU_ASSERT_EQUAL(v[0], 0);
    CU_ASSERT_EQUAL(v[1], 0);
    if (v[0] != 0 || v[1] != 0) printf("\n    calloc-sparse: %s", line);
}

/* aslab__clear_written on ranges of every alignment to a word and a granule, over buffers
 * whose bytes are set here and there: every byte inside reads zero after, every byte outside
 * keeps its value. */
static void test_clear_range(void) {
    enum { SPAN = 5 * 4096 + 512 };
    static unsigned char buf[SPAN + 64] __attribute__((aligned(4096)));
    uint64_t rng = 0x9e3779b97f4a7c15u;
    size_t wrong = 0;
    for (int round = 0; round < 400; round++) {
        memset(buf, 0, sizeof buf);
        for (int k = 0; k < round % 7; k++) {
            rng = rng * 6364136223846793005u + 1442695040888963407u;
            buf[(rng >> 33) % sizeof buf] = (unsigned char)(1 + (rng >> 20) % 255);
        }
        buf[0] = buf[sizeof buf - 1] = PATTERN;
        size_t from = 8 * (size_t)(round % 67) + (round % 3 == 0 ? 4096 - 64 : 0);
        size_t n = SPAN - from - (size_t)(round % 13);
        unsigned char copy[sizeof buf];
        memcpy(copy, buf, sizeof buf);
        size_t granules, written = aslab__clear_written(buf + from, n, &granules);
        CU_ASSERT(written <= granules && granules == (from + n - 1) / 4096 - from / 4096 + 1);
        for (size_t i = 0; i < sizeof buf; i++)
            wrong += buf[i] != (i >= from && i < from + n ? 0 : copy[i]);
    }
    CU_ASSERT_EQUAL(wrong, 0);
}

/* aslab__clear_written on 1 MiB of fresh memory, data in two of its pages and in a third whose
 * pages were discarded since: the two are cleared, everything reads zero, and no other page is
 * brought into memory (the scan asks pagemap first, rather than reading a page nobody mapped,
 * which maps the zero page: mincore counts that one too). */
static void test_clear_unmapped(void) {
    enum { PAGES = 256, PAGE = 4096 };
    unsigned char *region =
        mmap(NULL, PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CU_ASSERT_FATAL(region != MAP_FAILED);
    region[3 * PAGE + 17] = 1;
    region[200 * PAGE + PAGE - 1] = 2;
    region[100 * PAGE] = 3;
    CU_ASSERT_EQUAL(madvise(region + 100 * PAGE, PAGE, MADV_DONTNEED), 0);
    size_t granules, written = aslab__clear_written(region, PAGES * PAGE, &granules);
    unsigned char resident[PAGES];
    CU_ASSERT_EQUAL_FATAL(mincore(region, PAGES * PAGE, resident), 0);
    size_t in_memory = 0, nonzero = 0;
    for (size_t i = 0; i < PAGES; i++)
        in_memory += resident[i] & 1;
    CU_ASSERT_EQUAL(granules, PAGES);
    CU_ASSERT_EQUAL(written, 2);
    CU_ASSERT_EQUAL(in_memory, 2);
    for (size_t i = 0; i < PAGES * PAGE; i++)
        nonzero += region[i] != 0;
    CU_ASSERT_EQUAL(nonzero, 0);
    if (written != 2 || in_memory != 2)
        printf("\n    clear_written: %zu granules written, %zu pages in memory", written,
               in_memory);
    munmap(region, PAGES * PAGE);
}

/* The scenario says "skip: ..." where the kernel refuses the lock: nothing to check. */
static void test_locked(void) {
    tm_child c;
    tm_child_scenario(&c, "calloc-locked", NULL, 0, TM_CHILD_TIMEOUT_MS);
    size_t bad = 1, resident, pages;
    int ok =
        tm_child_exited(&c, 0) &&
        (strncmp(c.out, "skip", 4) == 0 ||
         (sscanf(c.out, "bad %zu resident %zu of %zu", &bad, &resident, &pages) == 3 && bad == 0));
    if (!ok || strncmp(c.out, "skip", 4) == 0) tm_child_dump(&c, "calloc-locked");
    CU_ASSERT(ok);
}

CU_TestInfo test_calloc_tests[] = {
    {"calloc of new medium slabs: zero, pages not faulted in", test_fresh},
    {"calloc of recycled medium slabs: zero (kept and discarded)", test_recycled},
    {"calloc of discarded medium blocks: zero, inner pages left", test_clean},
    {"calloc of discarded blocks whose pages are locked: zero", test_locked},
    {"calloc of freed blocks written sparsely: zero, unwritten pages left out", test_sparse},
    {"calloc's clearing: zero inside its range, nothing outside it touched", test_clear_range},
    {"calloc's clearing: pages nobody mapped stay out of memory", test_clear_unmapped},
    CU_TEST_INFO_NULL,
};
