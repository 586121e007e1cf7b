/* test_stats.c - what the heap says about itself and the calls that steer it: mallinfo2 as
 * 10 MB of small objects come and go, the fallback's share, malloc_trim giving memory back,
 * mallopt's honest 0, malloc_stats' table, its count of remote frees, and the peak of slabs
 * out when counters move under it. */
#define _GNU_SOURCE /* program_invocation_short_name */
#include "../../src/malloc/pool.h"
#include "test_child.h"
#include "test_suites.h"
#include "test_util.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The fallback's name in the report (FALLBACK=libc builds on glibc's functions). */
#ifdef ASLAB_FALLBACK_LIBC
#define TM_FALLBACK_NAME "glibc"
#else
#define TM_FALLBACK_NAME "jemalloc"
#endif

#define TEN_MB (10 * TM_MIB)
#define SLACK  (256 * TM_KIB) /* thread caches and the odd block the harness allocates */

static void test_mallinfo2_small_objects(void) {
    const size_t size = 64, n = TEN_MB / size;
    void **objs = malloc(n * sizeof *objs); /* before the first snapshot: it is counted too */
    CU_ASSERT_PTR_NOT_NULL_FATAL(objs);
    /* Empty slabs that earlier suites left in the class caches (their reserve, sized to what
     * the program held) are counted as held and would take the new blocks: a CI run under
     * load once found no new slab at all. From a trimmed heap, the blocks need new slabs. */
    malloc_trim(0);
    struct mallinfo2 before = mallinfo2();
    for (size_t i = 0; i < n; i++)
        objs[i] = malloc(size);
    struct mallinfo2 full = mallinfo2();
    for (size_t i = 0; i < n; i++)
        free(objs[i]);
    struct mallinfo2 after = mallinfo2();
    free(objs);
    CU_ASSERT(full.uordblks >= before.uordblks + TEN_MB);
    CU_ASSERT(full.uordblks <= before.uordblks + TEN_MB + SLACK);
    CU_ASSERT(full.arena + SLACK >= before.arena + TEN_MB); /* slabs held (a part one before) */
    CU_ASSERT(full.ordblks > before.ordblks);               /* their number */
    CU_ASSERT(after.uordblks <= before.uordblks + SLACK);
    CU_ASSERT(after.arena + TEN_MB / 2 < full.arena); /* empty slabs went back */
}

#ifndef ASLAB_FALLBACK_LIBC
/* Large blocks are the fallback's: counted in uordblks, their mappings in hblkhd. */
static void test_mallinfo2_fallback(void) {
    const size_t big = 64 * TM_MIB;
    struct mallinfo2 before = mallinfo2();
    void *p = malloc(big);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    struct mallinfo2 during = mallinfo2();
    free(p);
    struct mallinfo2 after = mallinfo2();
    int ok = during.uordblks + SLACK >= before.uordblks + big && during.hblkhd >= big &&
             after.uordblks + big / 2 < during.uordblks;
    tm_check(ok, "uordblks %zu, %zu, %zu; hblkhd %zu, %zu, %zu", before.uordblks, during.uordblks,
             after.uordblks, before.hblkhd, during.hblkhd, after.hblkhd);
    CU_ASSERT(during.uordblks + SLACK >= before.uordblks + big);
    CU_ASSERT(during.hblkhd >= big);
    CU_ASSERT(after.uordblks + big / 2 < during.uordblks);
}
#endif

/* After a 32 MiB burst is freed, malloc_trim reports memory released and RSS falls at once
 * (the decay thread, a second away, has not had its turn). Memory still works after it. */
static void test_malloc_trim(void) {
    const size_t size = 256, n = 32 * TM_MIB / size;
    void **objs = malloc(n * sizeof *objs);
    CU_ASSERT_PTR_NOT_NULL_FATAL(objs);
    for (size_t i = 0; i < n; i++) {
        objs[i] = malloc(size);
        CU_ASSERT_PTR_NOT_NULL_FATAL(objs[i]);
        memset(objs[i], 0x11, size);
    }
    size_t rss_full = tm_rss_kib();
    for (size_t i = 0; i < n; i++)
        free(objs[i]);
    CU_ASSERT_EQUAL(malloc_trim(0), 1);
    size_t rss_trimmed = tm_rss_kib();
    CU_ASSERT(rss_trimmed + 24 * 1024 < rss_full);
    int bad = 0;
    for (size_t i = 0; i < n / 8; i++) {
        objs[i] = malloc(size);
        tm_fill(objs[i], size, i);
    }
    for (size_t i = 0; i < n / 8; i++) {
        bad += tm_check(tm_intact(objs[i], size, i), "block %p after malloc_trim", objs[i]);
        free(objs[i]);
    }
    free(objs);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(malloc_trim(0) | 1, 1); /* 0 or 1, and callable with nothing to do */
}

/* No glibc tunable applies: mallopt says so with 0, and changes nothing. */
static void test_mallopt(void) {
    CU_ASSERT_EQUAL(mallopt(M_MMAP_THRESHOLD, 1 << 20), 0);
    CU_ASSERT_EQUAL(mallopt(M_TRIM_THRESHOLD, 0), 0);
    CU_ASSERT_EQUAL(mallopt(M_ARENA_MAX, 1), 0);
    CU_ASSERT_EQUAL(mallopt(12345, 1), 0);
    void *p = malloc(100);
    CU_ASSERT_EQUAL(malloc_usable_size(p), 112);
    free(p);
}

enum { STATS_OBJECTS = 1000 };

static void stats_child(void *arg) {
    static void *objs[STATS_OBJECTS];
    (void)arg;
    for (int i = 0; i < STATS_OBJECTS; i++)
        objs[i] = malloc(48);
    void *big = malloc(100000);
    malloc_stats();
    free(big);
    for (int i = 0; i < STATS_OBJECTS; i++)
        free(objs[i]);
    printf("%d\n", (int)getpid());
}

/* The report goes to stderr, as glibc's does, and its first line names the process. */
static void test_malloc_stats(void) {
    char header[128];
    tm_child c;
    tm_child_run(&c, stats_child, NULL, TM_CHILD_TIMEOUT_MS);
    snprintf(header, sizeof header,
             "aslab: heap statistics of pid %d (%s), fallback: " TM_FALLBACK_NAME "\n", atoi(c.out),
             program_invocation_short_name);
    unsigned long long requests = 0;
    size_t live = 0;
    int ok = tm_child_exited(&c, 0) && atoi(c.out) > 0 &&
             strncmp(c.err, header, strlen(header)) == 0 &&
             tm_stats_row(c.err, 48, &requests, &live);
    if (!ok) tm_child_dump(&c, "malloc_stats");
    CU_ASSERT_FATAL(ok);
    CU_ASSERT_PTR_NOT_NULL(strstr(c.err, "class"));
    CU_ASSERT_PTR_NOT_NULL(strstr(c.err, "requests"));
    CU_ASSERT_PTR_NOT_NULL(strstr(c.err, "\nsmall: "));
    CU_ASSERT_PTR_NOT_NULL(strstr(c.err, "\nfallback (" TM_FALLBACK_NAME "): "));
    CU_ASSERT_PTR_NOT_NULL(strstr(c.err, "\nprocess: peak RSS "));
    CU_ASSERT(requests >= STATS_OBJECTS);
    CU_ASSERT(live >= STATS_OBJECTS);
}

/* ---- the remote-free column: blocks another thread freed that went home ---- */

enum { REMOTE_BLOCKS = 3000 };

typedef struct block_set {
    void *blocks[REMOTE_BLOCKS];
    size_t size;
} block_set;

static void *malloc_all(void *arg) {
    block_set *set = arg;
    for (int i = 0; i < REMOTE_BLOCKS; i++)
        set->blocks[i] = malloc(set->size);
    return NULL;
}

static void *free_all(void *arg) {
    block_set *set = arg;
    for (int i = 0; i < REMOTE_BLOCKS; i++)
        free(set->blocks[i]);
    return NULL;
}

static void run_thread(void *(*fn)(void *), block_set *set) {
    pthread_t t;
    CU_ASSERT_FATAL(pthread_create(&t, NULL, fn, set) == 0);
    pthread_join(t, NULL);
}

/* A thread that never mallocs frees the calling thread's blocks: they go home, and count as
 * they are taken off the remote lists: by the owner's next mallocs, or by the free that brings
 * a full slab's last block back (in a thread with no heap record: until session 22 that count
 * was lost, and this test saw 32 of 3,000). The column can only grow, and never past the
 * class's requests (session 21's lists took blocks off it: larson's row read 2^64 - 27). */
static void test_remote_counted(void) {
    static block_set set = {.size = 176};
    unsigned long long requests, before, after;
    malloc_all(&set);
    CU_ASSERT_FATAL(tm_class_remote(176, &requests, &before));
    run_thread(free_all, &set);
    malloc_all(&set); /* takes them back */
    free_all(&set);
    CU_ASSERT_FATAL(tm_class_remote(176, &requests, &after));
    CU_ASSERT(after - before >= REMOTE_BLOCKS / 2);
    CU_ASSERT(after <= requests);
}

/* ---- the memory return's system calls: a discard takes a slab's dirty neighbours ---- */

enum { RUN_CLASSES = 4, RUN_SLABS = 24 };

/* Blocks of RUN_CLASSES small classes allocated in turn, RUN_SLABS slabs' worth of each, then
 * freed in the same order: the classes' slabs go free in turn, so slabs next to each other in
 * the arena's queue are never next to each other in address (frag's last phase). Under a
 * dirty cap of 1 MiB the cap discards most of them as they come. */
int tm_discard_runs(void) {
    static const size_t sizes[RUN_CLASSES] = {64, 128, 256, 512};
    enum { COUNT = RUN_SLABS * TM_SMALL_SLAB / 64 };
    static void *blocks[RUN_CLASSES][COUNT];
    size_t count[RUN_CLASSES];
    for (int c = 0; c < RUN_CLASSES; c++)
        count[c] = RUN_SLABS * TM_SMALL_SLAB / sizes[c];
    for (size_t i = 0; i < COUNT; i++)
        for (int c = 0; c < RUN_CLASSES; c++)
            if (i < count[c] && (blocks[c][i] = malloc(tm_opaque(sizes[c]))) == NULL) return 1;
    for (size_t i = 0; i < COUNT; i++)
        for (int c = 0; c < RUN_CLASSES; c++)
            if (i < count[c]) free(blocks[c][i]);
    return 0;
}

/* The discards' average length, from ASLAB_STATS's line: at least two slabs a call (one a
 * call when only the queue's neighbours were merged). */
static void test_discard_runs(void) {
    static const char *const env[] = {"ASLAB_STATS=1", "ASLAB_DIRTY_MAX_MB=1", NULL};
    tm_child c;
    tm_child_scenario(&c, "discard-runs", env, 0, TM_CHILD_TIMEOUT_MS);
    unsigned long long calls = 0;
    double discarded = 0;
    const char *line = strstr(c.err, "\ndiscards: ");
    int ok = tm_child_exited(&c, 0) && line != NULL &&
             sscanf(line, "\ndiscards: %llu calls, %lf MiB", &calls, &discarded) == 2;
    if (!ok) tm_child_dump(&c, "discard-runs");
    CU_ASSERT_FATAL(ok);
    double slabs = discarded * 1048576.0 / (double)TM_SMALL_SLAB;
    CU_ASSERT(slabs >= RUN_CLASSES * RUN_SLABS / 2); /* the cap took most of them */
    CU_ASSERT(calls > 0 && slabs >= 2.0 * (double)calls);
    if (!(calls > 0 && slabs >= 2.0 * (double)calls))
        printf("\n    discard-runs: %llu calls for %.0f slabs\n", calls, slabs);
}

/* ASLAB_STATS's arena line: every slab of discard-runs came from the arena, and most went back
 * to it (the class caches keep 2 empty ones a class, the thread its current ones and 1 MiB of
 * those it emptied), and one thread never waits on its lock. */
static void test_arena_line(void) {
    static const char *const env[] = {"ASLAB_STATS=1", NULL};
    tm_child c;
    tm_child_scenario(&c, "discard-runs", env, 0, TM_CHILD_TIMEOUT_MS);
    unsigned long long taken = 0, given = 0, sleeps = ~0ull, wakes = ~0ull;
    const char *line = strstr(c.err, "\narena: ");
    int ok = tm_child_exited(&c, 0) && line != NULL &&
             sscanf(line,
                    "\narena: %llu slabs taken, %llu given back; its lock slept %llu times, "
                    "woke %llu",
                    &taken, &given, &sleeps, &wakes) == 4;
    if (!ok) tm_child_dump(&c, "discard-runs");
    CU_ASSERT_FATAL(ok);
    CU_ASSERT(taken >= RUN_CLASSES * RUN_SLABS);
    CU_ASSERT(given <= taken && given >= RUN_CLASSES * RUN_SLABS / 2);
    CU_ASSERT(sleeps == 0 && wakes == 0);
}

/* The peak of a class's slabs out (pool.c note_lent): `returned`, read after the lend was
 * counted, may have passed it while the thread was preempted. */
static void test_peak_with_stale_counts(void) {
    uint64_t peak = 3;
    aslab__out_peak_raise(&peak, 10, 12); /* stale: 2^64 - 2 before */
    CU_ASSERT_EQUAL(peak, 3);
    aslab__out_peak_raise(&peak, 10, 10);
    CU_ASSERT_EQUAL(peak, 3);
    aslab__out_peak_raise(&peak, 10, 5);
    CU_ASSERT_EQUAL(peak, 5);
    aslab__out_peak_raise(&peak, 11, 8); /* fewer out: the peak stays */
    CU_ASSERT_EQUAL(peak, 5);
}

CU_TestInfo test_stats_tests[] = {
    {"mallinfo2 follows 10 MB of small objects", test_mallinfo2_small_objects},
#ifndef ASLAB_FALLBACK_LIBC
    {"mallinfo2 counts the fallback's blocks", test_mallinfo2_fallback},
#endif
    {"malloc_trim releases, memory still works", test_malloc_trim},
    {"mallopt returns 0", test_mallopt},
    {"malloc_stats prints the table on stderr, naming the process", test_malloc_stats},
    {"remote frees are counted when their owner takes them back", test_remote_counted},
    {"the cap's discards take a slab's dirty neighbours in one call", test_discard_runs},
    {"the arena's line: slabs taken and given back, its lock's sleeps", test_arena_line},
    {"the peak of slabs out ignores counts that moved under it", test_peak_with_stale_counts},
    CU_TEST_INFO_NULL,
};
