/* test_scenarios.c - small programs that test_options.c runs in a fresh process (this binary
 * re-executed as `test_malloc --scenario name`), because what they observe is fixed when
 * the process starts: the ASLAB_* options and the address-space limit. Each prints what it
 * measured on stdout, or "FAIL <what>", and returns its exit status. */
#define _GNU_SOURCE /* RUSAGE_THREAD */
#include "../../src/malloc/arena.h"
#include "test_suites.h"
#include "test_util.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define BURST      (32 * TM_MIB) /* of 256-byte blocks, touched */
#define BURST_SIZE 256

static int fail(const char *what) {
    printf("FAIL %s (errno %d)\n", what, errno);
    return 1;
}

/* ---- tcache: heap use seen from the main thread after another thread freed 100 blocks it
 * allocated: none counts as in use, they are back on their slab's free list ---- */

#define FREED_BLOCKS 100 /* of the 48-byte class */

static pthread_barrier_t phase;

static void *free_blocks(void *arg) {
    void *blocks[FREED_BLOCKS];
    (void)arg;
    pthread_barrier_wait(&phase); /* the main thread has measured */
    for (int i = 0; i < FREED_BLOCKS; i++)
        blocks[i] = malloc(48);
    for (int i = 0; i < FREED_BLOCKS; i++)
        free(blocks[i]);
    pthread_barrier_wait(&phase); /* it measures again */
    pthread_barrier_wait(&phase);
    return NULL;
}

static int scenario_tcache(void) {
    pthread_t thread;
    pthread_barrier_init(&phase, NULL, 2);
    if (pthread_create(&thread, NULL, free_blocks, NULL) != 0) return fail("pthread_create");
    long long before = (long long)tm_in_use();
    pthread_barrier_wait(&phase);
    pthread_barrier_wait(&phase);
    long long held = (long long)tm_in_use() - before;
    pthread_barrier_wait(&phase);
    pthread_join(thread, NULL);
    printf("held %lld\n", held);
    return 0;
}

/* ---- stats: some traffic in the 48-byte class, then a normal exit; and the same in the
 * children of such a process ---- */

static void scenario_stats_traffic(void) {
    static void *objs[1000];
    for (int i = 0; i < 1000; i++)
        objs[i] = malloc(48);
    for (int i = 0; i < 1000; i++)
        free(objs[i]);
}

static int scenario_stats(void) {
    scenario_stats_traffic();
    printf("done\n");
    return 0;
}

/* Like coreutils: stderr is closed before the exit report is due. */
static int scenario_stats_closed_stderr(void) {
    scenario_stats();
    close(STDERR_FILENO);
    return 0;
}

/* The same, naming this process: "pid <pid>". */
static int scenario_stats_pid(void) {
    scenario_stats_traffic();
    printf("pid %d\n", (int)getpid());
    return 0;
}

/* Another program in this process's place, as `env` or `nice` would run it: "done". */
static int scenario_stats_exec_in_place(void) {
    char *argv[] = {"test_malloc", "--scenario", "stats", NULL};
    fflush(NULL);
    execve("/proc/self/exe", argv, environ);
    return fail("execve");
}

/* What a program exec'd by a reporting process sees: "exec <pid> ASLAB_STATS=<value>". */
static int scenario_stats_env(void) {
    const char *value = getenv("ASLAB_STATS");
    scenario_stats_traffic();
    printf("exec %d ASLAB_STATS=%s\n", (int)getpid(), value != NULL ? value : "(unset)");
    return 0;
}

/* A forked child that exits normally, then a child that execs scenario stats-env; prints
 * "parent <pid> fork <pid>" once both are done. Who reports is test_options.c's question. */
static int scenario_stats_children(void) {
    scenario_stats_traffic();
    fflush(NULL);
    pid_t forked = fork();
    if (forked == 0) {
        scenario_stats_traffic();
        exit(0); /* exit, not _exit: the library's destructor runs */
    }
    pid_t execed = fork();
    if (execed == 0) {
        char *argv[] = {"test_malloc", "--scenario", "stats-env", NULL};
        execve("/proc/self/exe", argv, environ);
        _exit(127);
    }
    int forked_status = -1, execed_status = -1;
    if (forked < 0 || execed < 0) return fail("fork");
    waitpid(forked, &forked_status, 0);
    waitpid(execed, &execed_status, 0);
    if (forked_status != 0 || execed_status != 0) return fail("a child failed");
    printf("parent %d fork %d\n", (int)getpid(), (int)forked);
    return 0;
}

/* ---- decay: RSS around the free of a 32 MiB burst ---- */

static void **burst_alloc(size_t n) {
    void **objs = malloc(n * sizeof *objs);
    for (size_t i = 0; objs != NULL && i < n; i++) {
        objs[i] = malloc(BURST_SIZE);
        if (objs[i] == NULL) return NULL;
        memset(objs[i], 0x77, BURST_SIZE);
    }
    return objs;
}

/* One call that reaches a slow path: a large block, over 16 KiB. */
static void slow_call(void) {
    free(malloc(tm_opaque(TM_MIB)));
}

/* Allocates the burst, frees it, prints "full <KiB> freed <KiB>" and, when wait_ms is not 0,
 * " later <KiB> waited <ms>" after polling until RSS falls or wait_ms pass, and when trim is
 * set " trimmed <KiB>" after malloc_trim. */
static int burst(uint64_t wait_ms, int trim) {
    const size_t n = BURST / BURST_SIZE;
    void **objs = burst_alloc(n);
    if (objs == NULL) return fail("burst");
    size_t full = tm_rss_kib();
    for (size_t i = 0; i < n; i++)
        free(objs[i]);
    size_t freed = tm_rss_kib(), later = freed;
    uint64_t start = tm_now_ms();
    while (wait_ms != 0 && later + BURST / TM_KIB * 3 / 4 >= full &&
           tm_now_ms() - start < wait_ms) {
        usleep(10000);
        later = tm_rss_kib();
    }
    printf("full %zu freed %zu", full, freed);
    if (wait_ms != 0)
        printf(" later %zu waited %llu", later, (unsigned long long)(tm_now_ms() - start));
    if (trim) printf(" trimmed %zu", (malloc_trim(0), tm_rss_kib()));
    printf("\n");
    free(objs);
    return 0;
}

static int scenario_decay_now(void) {
    return burst(0, 0);
}
static int scenario_decay_wait(void) {
    return burst(5000, 0);
}
static int scenario_decay_trim(void) {
    return burst(0, 1);
}

/* A block of a class nothing used before: its cache's first slab comes from the arena, whose
 * hook applies the age to the dirty slabs. */
static void *fresh_class_block(size_t size) {
    void *p = malloc(tm_opaque(size));
    if (p != NULL) memset(p, 1, size);
    return p;
}

/* Ages (ASLAB_DECAY_MS=3000, no cap): burst X is freed at 0 s; burst Y, of the same class,
 * takes X's slabs at 1.5 s and is freed; at 3.2 s (X's slabs would be 3.2 s old, Y's are
 * 1.7 s) and at 5 s (3.5 s) a slab is fetched. Prints "full <KiB> kept <KiB> aged <KiB>":
 * the RSS with Y live, after the fetch at 3.2 s, after the one at 5 s. */
static int scenario_decay_ages(void) {
    const size_t n = BURST / BURST_SIZE;
    void **objs = burst_alloc(n);
    if (objs == NULL) return fail("burst");
    for (size_t i = 0; i < n; i++)
        free(objs[i]);
    usleep(1500 * 1000);
    for (size_t i = 0; i < n; i++) {
        objs[i] = malloc(BURST_SIZE);
        if (objs[i] == NULL) return fail("burst again");
        memset(objs[i], 0x55, BURST_SIZE);
    }
    size_t full = tm_rss_kib();
    for (size_t i = 0; i < n; i++)
        free(objs[i]);
    usleep(1700 * 1000);
    void *first = fresh_class_block(5000);
    size_t kept = tm_rss_kib();
    usleep(1800 * 1000);
    void *second = fresh_class_block(6000);
    size_t aged = tm_rss_kib();
    if (first == NULL || second == NULL) return fail("fresh class");
    printf("full %zu kept %zu aged %zu\n", full, kept, aged);
    free(first);
    free(second);
    free(objs);
    return 0;
}

/* With no thread: freed, then idle for 3 decay times (ASLAB_DECAY_MS=300), then one call:
 * prints "full <KiB> freed <KiB> idle <KiB> called <KiB>". */
static int scenario_decay_call(void) {
    const size_t n = BURST / BURST_SIZE;
    slow_call(); /* the large path's first use, before the measurements */
    void **objs = burst_alloc(n);
    if (objs == NULL) return fail("burst");
    size_t full = tm_rss_kib();
    for (size_t i = 0; i < n; i++)
        free(objs[i]);
    size_t freed = tm_rss_kib();
    usleep(900 * 1000);
    size_t idle = tm_rss_kib();
    slow_call();
    printf("full %zu freed %zu idle %zu called %zu\n", full, freed, idle, tm_rss_kib());
    free(objs);
    return 0;
}

/* ---- rlimit: run under RLIMIT_AS = 1 GiB ---- */

static int refuse_at_once(size_t size) {
    uint64_t start = tm_now_ms();
    errno = 0;
    void *p = malloc(tm_opaque(size));
    int ok = p == NULL && errno == ENOMEM && tm_now_ms() - start < 250;
    free(p);
    return ok;
}

/* 128 MiB of 1 KiB blocks and a 128 MiB block, touched, freed. */
static int work_within_limit(void) {
    const size_t n = 128 * TM_MIB / TM_KIB;
    void **objs = malloc(n * sizeof *objs);
    char *big = malloc(128 * TM_MIB);
    if (objs == NULL || big == NULL) return 0;
    for (size_t i = 0; i < 128 * TM_MIB; i += 4096)
        big[i] = 1;
    size_t got = 0;
    while (got < n && (objs[got] = malloc(TM_KIB)) != NULL)
        memset(objs[got++], 1, TM_KIB);
    for (size_t i = 0; i < got; i++)
        free(objs[i]);
    free(objs);
    free(big);
    return got == n;
}

/* malloc(size) into objs[0..max) until malloc says no: the count; *refused says whether it
 * said no with NULL and ENOMEM. The blocks are freed. */
static size_t fill_and_free(void **objs, size_t size, size_t max, int *refused) {
    size_t count = 0;
    errno = 0;
    while (count < max && (objs[count] = malloc(size)) != NULL)
        memset(objs[count++], 1, 64);
    *refused = count < max && errno == ENOMEM;
    for (size_t i = 0; i < count; i++)
        free(objs[i]);
    return count;
}

/* 16 KiB blocks until malloc says no: it must say so with NULL and ENOMEM, and once they
 * are freed the class serves again, as do the classes in use before, and a class never
 * used before (7 KiB): the freed regions change class. */
static int exhaust(size_t *count) {
    const size_t max = 2 * 1024 * TM_MIB / (16 * TM_KIB);
    void **objs = malloc(max * sizeof *objs);
    if (objs == NULL) return 0;
    int refused = 0, ignored;
    *count = fill_and_free(objs, 16 * TM_KIB, max, &refused);
    void *again = malloc(16 * TM_KIB), *small = malloc(TM_KIB);
    int ok = refused && again != NULL && small != NULL;
    free(again);
    free(small);
    /* 224 MiB of a new class, after the limit was reached */
    ok = ok && fill_and_free(objs, 7 * TM_KIB, max / 4, &ignored) == max / 4;
    free(objs);
    return ok;
}

/* After exhaust(): 1 KiB blocks until malloc says no, which leaves every free region to the
 * 1 KiB class, in its small regions (the larger regions of the classes used before are split
 * for it); once they are freed, 16 KiB blocks (whose regions are one 1 MiB slab each) are
 * served again from small regions merged back into large ones. objs holds `max` pointers,
 * taken before the address space ran out. */
static int exhaust_small_then_large(void **objs, size_t max) {
    int refused = 0, ignored;
    size_t small = fill_and_free(objs, TM_KIB, max, &refused);
    size_t large = fill_and_free(objs, 16 * TM_KIB, 8192, &ignored);
    return refused && small > 0 && large == 8192; /* 128 MiB */
}

/* ---- dirty-share: a pool keeps free pages up to an eighth of what the program holds ---- */

#define SHARE_LIVE   (128 * TM_MIB) /* held throughout */
#define SHARE_CYCLED (12 * TM_MIB)  /* freed and allocated again, each round */
#define SHARE_ROUNDS 4

/* The minor faults so far of the process (RUSAGE_SELF) or the calling thread
 * (RUSAGE_THREAD). */
static long minor_faults_of(int who) {
    struct rusage usage;
    getrusage(who, &usage);
    return usage.ru_minflt;
}

static long minor_faults(void) {
    return minor_faults_of(RUSAGE_SELF);
}

/* One round of a fault-counting scenario: 0, or nonzero when an allocation failed. */
typedef int (*fault_round)(int round, void *arg);

/* Runs round(i, arg) for i from 0 to rounds - 1 and stores the minor faults of each in
 * faults[i]; stops at the first round that fails and returns its result. */
static int count_faults(int rounds, fault_round round, void *arg, long *faults) {
    for (int i = 0; i < rounds; i++) {
        long before = minor_faults();
        int failed = round(i, arg);
        if (failed) return failed;
        faults[i] = minor_faults() - before;
    }
    return 0;
}

/* Holds SHARE_LIVE in blocks of `size` (touched), then frees SHARE_CYCLED of them and
 * allocates them again, touched, 1 + SHARE_ROUNDS times; returns the minor faults of the last
 * SHARE_ROUNDS (-1 when malloc failed): freed pages that stayed resident fault no more. (The
 * first round's big frees come before the program cycles: they stay only under the cap,
 * large.c.) */
static long cycled_faults(size_t size) {
    size_t n = SHARE_LIVE / size, cycled = SHARE_CYCLED / size;
    void **blocks = malloc(n * sizeof *blocks);
    if (blocks == NULL) return -1;
    for (size_t i = 0; i < n; i++)
        if ((blocks[i] = malloc(size)) == NULL)
            return -1;
        else
            memset(blocks[i], 1, size);
    long before = 0;
    for (int round = 0; round <= SHARE_ROUNDS; round++) {
        if (round == 1) before = minor_faults();
        for (size_t i = 0; i < cycled; i++)
            free(blocks[i]);
        for (size_t i = 0; i < cycled; i++)
            if ((blocks[i] = malloc(size)) == NULL)
                return -1;
            else
                memset(blocks[i], 2, size);
    }
    long faults = minor_faults() - before;
    for (size_t i = 0; i < n; i++)
        free(blocks[i]);
    free(blocks);
    return faults;
}

/* Prints "large <faults> small <faults>": 2 MiB blocks (the fallback's pool) and 1 KiB ones,
 * whose emptied slabs go to the arena. */
static int scenario_dirty_share(void) {
    long large = cycled_faults(2 * TM_MIB), small = cycled_faults(1024);
    if (large < 0 || small < 0) return fail("malloc");
    printf("large %ld small %ld\n", large, small);
    return 0;
}

/* ---- large-first, large-first-over: a big free before the program cycles ---- */

#define FIRST_UNDER (2 * TM_MIB)  /* a block under the default cap (8 MiB) */
#define FIRST_OVER  (24 * TM_MIB) /* ... and one over it (below the direct threshold) */

/* The process's first big block, touched and freed before any big request follows a big free
 * (so the program does not cycle yet, large.c), then one as large again, touched. Prints
 * "held <KiB> freed <KiB> again <faults>": RSS before and after the free, and the minor
 * faults of the second block. Under the cap the freed pages stay in the pool for the next
 * request; over it they go at once. */
static int first_big_free(size_t size) {
    (void)prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0); /* faults counted in pages, not huge pages */
    char *p = malloc(size);
    if (p == NULL) return fail("malloc");
    memset(p, 1, size);
    size_t held = tm_rss_kib();
    free(p);
    size_t freed = tm_rss_kib();
    long before = minor_faults();
    if ((p = malloc(size)) == NULL) return fail("malloc again");
    memset(p, 2, size);
    long again = minor_faults() - before;
    free(p);
    printf("held %zu freed %zu again %ld\n", held, freed, again);
    return 0;
}

static int scenario_large_first(void) {
    return first_big_free(FIRST_UNDER);
}
static int scenario_large_first_over(void) {
    return first_big_free(FIRST_OVER);
}

/* ---- refault: what the cap discarded and the program took again raises the cap ---- */

#define REFAULT_BYTES      (24 * TM_MIB)  /* allocated, touched and freed each round */
#define REFAULT_HEAP_BYTES (128 * TM_MIB) /* ... for a heap past the allowance's 64 MiB */
#define REFAULT_ROUNDS     5

typedef struct refault_arg {
    size_t size, n;
    void **blocks;
} refault_arg;

/* Allocates a->n blocks of a->size, touched, and frees them all. */
static int refault_round(int round, void *arg) {
    refault_arg *a = arg;
    for (size_t i = 0; i < a->n; i++)
        if ((a->blocks[i] = malloc(a->size)) == NULL)
            return -1;
        else
            memset(a->blocks[i], round, a->size);
    for (size_t i = 0; i < a->n; i++)
        free(a->blocks[i]);
    return 0;
}

/* Runs that REFAULT_ROUNDS times with `bytes` in blocks of `size`; the minor faults of the
 * second round (the cap discarded most of the first round's memory, and the program takes it
 * again) and of the last. -1 when malloc failed. */
static int refault_rounds(size_t size, size_t bytes, long *second, long *last) {
    long faults[REFAULT_ROUNDS];
    refault_arg a = {size, bytes / size, malloc(bytes / size * sizeof(void *))};
    if (a.blocks == NULL || count_faults(REFAULT_ROUNDS, refault_round, &a, faults) != 0) return -1;
    free(a.blocks);
    *second = faults[1];
    *last = faults[REFAULT_ROUNDS - 1];
    return 0;
}

static int print_refault_rounds(size_t size, size_t bytes) {
    long second = -1, last = -1;
    if (refault_rounds(size, bytes, &second, &last) != 0) return fail("malloc");
    printf("%ld %ld\n", second, last);
    return 0;
}

/* Prints "<second> <last>" for 1 KiB blocks, whose emptied slabs go to the arena. */
static int scenario_refault_small(void) {
    return print_refault_rounds(1024, REFAULT_BYTES);
}

/* ... the same with REFAULT_HEAP_BYTES: the arena's allowance may grow past 64 MiB, up to what
 * it gave back under its recent peak (purge.h). */
static int scenario_refault_heap(void) {
    return print_refault_rounds(1024, REFAULT_HEAP_BYTES);
}

/* ... and for 2 MiB ones, the fallback's pool (a first big free and malloc make the program
 * cycle). */
static int scenario_refault_large(void) {
    void *cycle = malloc(2 * TM_MIB);
    free(cycle);
    cycle = malloc(2 * TM_MIB);
    free(cycle);
    return print_refault_rounds(2 * TM_MIB, REFAULT_BYTES);
}

/* ---- direct-pages: a freed or shrunk direct block's pages go at once ---- */

#define PAGES_SIZE (64 * TM_MIB) /* mapped directly (test_direct.c) */

/* In a fresh process, where the program has taken back nothing it freed (no refault
 * allowance, so no spare mapping): prints the KiB resident at the start, with 64 MiB
 * written, shrunk to 43 MiB (its mapping: 44 MiB of the 64), shrunk within the mapping to
 * 40 MiB, and freed. */
static int scenario_direct_pages(void) {
    size_t start = tm_rss_kib();
    char *p = malloc(PAGES_SIZE);
    if (p == NULL) return fail("malloc");
    memset(p, 1, PAGES_SIZE);
    size_t full = tm_rss_kib();
    if ((p = realloc(p, 43 * TM_MIB)) == NULL) return fail("realloc");
    size_t shrunk = tm_rss_kib();
    if (realloc(p, 40 * TM_MIB + 100) != p) return fail("realloc within the mapping");
    size_t within = tm_rss_kib();
    free(p);
    printf("start %zu full %zu shrunk %zu within %zu freed %zu\n", start, full, shrunk, within,
           tm_rss_kib());
    return 0;
}

/* ---- direct-spare: a program that frees a direct block and asks for another ---- */

#define SPARE_SIZE   (40 * TM_MIB)
#define SPARE_ROUNDS 6

/* calloc's a 40 MiB block, checks that it is zero (*arg is cleared if not), writes it whole
 * and frees it. */
static int spare_round(int round, void *arg) {
    unsigned char *p = calloc(1, SPARE_SIZE);
    if (p == NULL) return -1;
    *(int *)arg &= tm_all_zero(p, SPARE_SIZE);
    memset(p, round + 1, SPARE_SIZE);
    free(p);
    return 0;
}

/* Runs that SPARE_ROUNDS times, then takes a 33 MiB block and a slightly larger calloc'd one from
 * the spare; prints the minor faults of the first round and of the last, whether every calloc'd
 * block came zeroed, and the KiB resident before and after malloc_trim. */
static int scenario_direct_spare(void) {
    long faults[SPARE_ROUNDS];
    int zeroed = 1;
    if (count_faults(SPARE_ROUNDS, spare_round, &zeroed, faults) != 0) return fail("calloc");
    /* A smaller block from the spare (its mapping shrunk to whole map entries), written and
     * freed, then a calloc that needs more than that block wrote and fits the shrunk mapping:
     * zero too. */
    const size_t more_size = 33 * TM_MIB + ASLAB_REGION_SIZE / 2;
    unsigned char *less = malloc(33 * TM_MIB), *more;
    if (less == NULL) return fail("malloc");
    memset(less, 9, 33 * TM_MIB);
    free(less);
    if ((more = calloc(1, more_size)) == NULL) return fail("calloc");
    zeroed &= tm_all_zero(more, more_size);
    size_t used = mallinfo2().uordblks;
    free(more); /* kept as the spare: free memory, not the program's */
    size_t used_after = mallinfo2().uordblks, kept = tm_rss_kib();
    malloc_trim(0);
    printf("first %ld last %ld zeroed %d kept %zu trimmed %zu used %zu after %zu\n", faults[0],
           faults[SPARE_ROUNDS - 1], zeroed, kept, tm_rss_kib(), used, used_after);
    return 0;
}

/* ---- direct-spare-cycling: a direct block freed while the program cycles big blocks ---- */

#define CYCLE_SIZE (2 * TM_MIB)  /* the fallback's, and parked (large.c) */
#define HUGE_SIZE  (96 * TM_MIB) /* beyond the most a spare holds for a cycling program */

/* A 2 MiB block freed, then asked for again: the program cycles big blocks. */
static int cycle_big_blocks(void) {
    for (int i = 0; i < 2; i++) {
        char *cycled = malloc(CYCLE_SIZE);
        if (cycled == NULL) return -1;
        memset(cycled, i + 1, CYCLE_SIZE);
        free(cycled);
    }
    return 0;
}

/* Cycles big blocks, then calloc's a SPARE_SIZE block, writes it whole and frees it, and
 * calloc's another; prints the minor faults of that second block's calloc and write, whether
 * it read zero, the KiB resident before and after malloc_trim, and then, cycling again, the
 * KiB a written and freed HUGE_SIZE block leaves resident. */
static int scenario_direct_spare_cycling(void) {
    if (cycle_big_blocks() != 0) return fail("malloc");
    unsigned char *p = calloc(1, SPARE_SIZE);
    if (p == NULL) return fail("calloc");
    memset(p, 7, SPARE_SIZE);
    free(p);
    long before = minor_faults();
    if ((p = calloc(1, SPARE_SIZE)) == NULL) return fail("calloc");
    int zeroed = tm_all_zero(p, SPARE_SIZE);
    memset(p, 8, SPARE_SIZE);
    long faults = minor_faults() - before;
    free(p);
    size_t kept = tm_rss_kib();
    malloc_trim(0);
    size_t trimmed = tm_rss_kib();
    if (cycle_big_blocks() != 0) return fail("malloc");
    size_t start = tm_rss_kib();
    char *huge = malloc(HUGE_SIZE);
    if (huge == NULL) return fail("malloc");
    memset(huge, 9, HUGE_SIZE);
    free(huge);
    size_t after = tm_rss_kib();
    printf("faults %ld zeroed %d kept %zu trimmed %zu huge %zu\n", faults, zeroed, kept, trimmed,
           after > start ? after - start : 0);
    return 0;
}

/* ---- grow-chain: a block grown by realloc from 1 to 16 MiB a MiB at a time, and freed ---- */

#define CHAIN_TOP  (16 * TM_MIB)
#define CHAIN_REPS 8

/* One chain, each step's new bytes written, then the block freed. */
static int chain_round(int round, void *arg) {
    char *p = NULL;
    (void)arg;
    for (size_t size = TM_MIB, had = 0; size <= CHAIN_TOP; had = size, size += TM_MIB) {
        char *q = realloc(p, size);
        if (q == NULL) return -1;
        memset(q + had, round + 1, size - had);
        p = q;
    }
    free(p);
    return 0;
}

/* Runs the chain CHAIN_REPS times; prints the minor faults of the second chain and of the
 * last. The fallback moves the block as it grows and its pool purges the old copies past the
 * cap: the next chain faulted all 16 MiB in again until the purges counted for the refault
 * allowance. */
static int scenario_grow_chain(void) {
    long faults[CHAIN_REPS];
    if (count_faults(CHAIN_REPS, chain_round, NULL, faults) != 0) return fail("realloc");
    printf("%ld %ld\n", faults[1], faults[CHAIN_REPS - 1]);
    return 0;
}

/* ---- fallback-count: blocks from calloc and the aligned calls count as the program's ---- */

#define COUNT_BLOCKS 16 /* of 2 MiB, touched */
#define COUNT_EARLY  8  /* calloc'd blocks of 3 MiB, and as many aligned ones of 300 KiB */

/* Frees calloc'd and over-aligned blocks of the fallback, then cycles through 32 MiB of 2 MiB
 * blocks and frees them all. Prints the KiB resident at the start, before those last frees
 * and after them: under the cap the pool keeps at most the cap and the parked block. (When
 * calloc and the aligned calls went past the count, the first frees took it 26 MiB below
 * zero; the last frees then took it below zero again, and a cap of an eighth of that kept
 * everything they freed.) */
static int scenario_fallback_count(void) {
    size_t start = tm_rss_kib();
    void *early[2 * COUNT_EARLY], *blocks[COUNT_BLOCKS];
    for (int i = 0; i < COUNT_EARLY; i++) {
        early[2 * i] = calloc(3, TM_MIB);
        early[2 * i + 1] = aligned_alloc(128 * TM_KIB, 300 * TM_KIB);
        if (early[2 * i] == NULL || early[2 * i + 1] == NULL)
            return fail("calloc or aligned_alloc");
    }
    for (int i = 0; i < 2 * COUNT_EARLY; i++)
        free(early[i]);
    for (int i = 0; i < COUNT_BLOCKS; i++)
        if ((blocks[i] = malloc(2 * TM_MIB)) == NULL)
            return fail("malloc");
        else
            memset(blocks[i], 1, 2 * TM_MIB);
    free(blocks[0]); /* a big free and a big malloc: the program cycles */
    if ((blocks[0] = malloc(2 * TM_MIB)) == NULL) return fail("malloc");
    memset(blocks[0], 2, 2 * TM_MIB);
    size_t full = tm_rss_kib();
    for (int i = 0; i < COUNT_BLOCKS; i++)
        free(blocks[i]);
    printf("start %zu full %zu freed %zu\n", start, full, tm_rss_kib());
    return 0;
}

/* ---- large-threads: a big block one thread freed serves another thread's request ---- */

#define SHARED_BLOCKS 4 /* of 2 MiB, touched */

static pthread_barrier_t handover;
static long taker_faults = -1;

/* Allocates and touches SHARED_BLOCKS blocks, waits until the taker has made its first
 * fallback call, and frees them while it waits. */
static void *giver(void *arg) {
    void *blocks[SHARED_BLOCKS];
    int failed = 0;
    (void)arg;
    for (int i = 0; i < SHARED_BLOCKS; i++)
        if ((blocks[i] = malloc(2 * TM_MIB)) == NULL)
            failed = 1;
        else
            memset(blocks[i], 1, 2 * TM_MIB);
    pthread_barrier_wait(&handover);
    for (int i = 0; i < SHARED_BLOCKS && !failed; i++)
        free(blocks[i]);
    pthread_barrier_wait(&handover);
    return failed ? NULL : arg;
}

/* Holds a big block from before the giver's frees (with a fallback that gives each thread
 * an arena of its own, it is bound to another one than the giver's), then allocates and
 * touches SHARED_BLOCKS blocks, counting the page faults of this thread alone. */
static void *taker(void *arg) {
    void *first = malloc(2 * TM_MIB), *blocks[SHARED_BLOCKS];
    pthread_barrier_wait(&handover);
    pthread_barrier_wait(&handover);
    long before = minor_faults_of(RUSAGE_THREAD);
    for (int i = 0; i < SHARED_BLOCKS; i++)
        if ((blocks[i] = malloc(2 * TM_MIB)) == NULL)
            return NULL;
        else
            memset(blocks[i], 2, 2 * TM_MIB);
    taker_faults = minor_faults_of(RUSAGE_THREAD) - before;
    for (int i = 0; i < SHARED_BLOCKS; i++)
        free(blocks[i]);
    free(first);
    return first != NULL ? arg : NULL;
}

/* After a big malloc, free and malloc (the program cycles, so freed big blocks are kept
 * resident under the cap), one thread frees 8 MiB of 2 MiB blocks and another, alive all
 * along, asks for as many: prints the page faults of those requests (a fallback arena per
 * thread: 3 fresh blocks, about 1,560). */
static int scenario_large_threads(void) {
    char *volatile cycle = malloc(2 * TM_MIB);
    if (cycle == NULL) return fail("malloc");
    cycle[0] = 1;
    free(cycle);
    if ((cycle = malloc(2 * TM_MIB)) == NULL) return fail("malloc");
    cycle[0] = 1;
    free(cycle);
    pthread_t give, take;
    void *gave = NULL, *took = NULL;
    pthread_barrier_init(&handover, NULL, 2);
    if (pthread_create(&give, NULL, giver, &handover) != 0 ||
        pthread_create(&take, NULL, taker, &handover) != 0)
        return fail("pthread_create");
    pthread_join(give, &gave);
    pthread_join(take, &took);
    pthread_barrier_destroy(&handover);
    if (gave == NULL || took == NULL) return fail("malloc in a thread");
    printf("%ld\n", taker_faults);
    return 0;
}

/* ---- large-own: two threads cycling big blocks each get their own block back ---- */

static pthread_barrier_t cycling;

struct own_cycle {
    int second;          /* frees after the other thread */
    void *freed, *again; /* the block the thread freed, and what its next request got */
};

/* Holds a 2 MiB block while the other thread takes one, frees it in its turn, and asks for
 * 2 MiB once both are free. */
static void *own_cycle(void *arg) {
    struct own_cycle *c = arg;
    int second = c->second;
    char *volatile p = malloc(2 * TM_MIB);
    if (p != NULL) p[0] = 1;
    pthread_barrier_wait(&cycling);
    if (second) pthread_barrier_wait(&cycling);
    c->freed = p;
    free(p);
    if (!second) pthread_barrier_wait(&cycling);
    pthread_barrier_wait(&cycling);
    c->again = malloc(2 * TM_MIB);
    return NULL;
}

/* Once the program cycles, two threads each free a 2 MiB block, one after the other, and
 * then each asks for 2 MiB: prints "own" when each got back the block it freed (its own
 * parked block), else what each got. With one parked block for the process the second
 * free displaced the first, and the first thread got the second thread's block. */
static int scenario_large_own(void) {
    char *volatile cycle = malloc(2 * TM_MIB);
    if (cycle == NULL) return fail("malloc");
    free(cycle);
    if ((cycle = malloc(2 * TM_MIB)) == NULL) return fail("malloc");
    free(cycle);
    struct own_cycle first = {0, NULL, NULL}, second = {1, NULL, NULL};
    pthread_t a, b;
    pthread_barrier_init(&cycling, NULL, 2);
    if (pthread_create(&a, NULL, own_cycle, &first) != 0 ||
        pthread_create(&b, NULL, own_cycle, &second) != 0)
        return fail("pthread_create");
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    pthread_barrier_destroy(&cycling);
    if (first.freed == NULL || second.freed == NULL) return fail("malloc in a thread");
    if (first.again == first.freed && second.again == second.freed)
        printf("own\n");
    else
        printf("first %p got %p, second %p got %p\n", first.freed, first.again, second.freed,
               second.again);
    free(first.again);
    free(second.again);
    return 0;
}

/* ---- large-quiet: a block parked by a thread that exited goes at a round ---- */

#define QUIET_BLOCK (8 * TM_MIB)

static void *park_and_exit(void *arg) {
    char *p = malloc(QUIET_BLOCK);
    if (p == NULL) return NULL;
    memset(p, 1, QUIET_BLOCK);
    free(p); /* the program cycles: parked in this thread's slot */
    return arg;
}

/* Once the program cycles (two big blocks freed and asked for again), a thread frees a
 * touched block of 8 MiB and exits; then the process idles for three decay times
 * (ASLAB_DECAY_MS=300) and makes one call. Prints "parked <KiB> idle <KiB> called <KiB>":
 * the RSS once the thread is gone, before the call and after it. */
static int scenario_large_quiet(void) {
    for (int i = 0; i < 2; i++)
        free(malloc(tm_opaque(2 * TM_MIB)));
    static int token;
    pthread_t t;
    void *ok = NULL;
    if (pthread_create(&t, NULL, park_and_exit, &token) != 0) return fail("pthread_create");
    pthread_join(t, &ok);
    if (ok == NULL) return fail("malloc in a thread");
    size_t parked = tm_rss_kib();
    usleep(900 * 1000);
    size_t idle = tm_rss_kib();
    slow_call();
    printf("parked %zu idle %zu called %zu\n", parked, idle, tm_rss_kib());
    return 0;
}

static int scenario_rlimit(void) {
    size_t count = 0, small_max = 1024 * TM_MIB / TM_KIB;
    setvbuf(stdout, NULL, _IONBF, 0); /* no stdio buffer to allocate once memory is gone */
    void **small_objs = malloc(small_max * sizeof *small_objs);
    if (small_objs == NULL) return fail("malloc");
    if (!refuse_at_once(2048 * TM_MIB)) return fail("malloc(2 GiB) under a 1 GiB limit");
    if (!refuse_at_once((size_t)1 << 45)) return fail("malloc(1 << 45)");
    for (int round = 0; round < 2; round++)
        if (!work_within_limit()) return fail("256 MiB under a 1 GiB limit");
    if (!exhaust(&count)) return fail("exhausting the limit");
    if (!exhaust_small_then_large(small_objs, small_max))
        return fail("16 KiB blocks after 1 KiB ones took it all");
    free(small_objs);
    printf("ok %zu blocks of 16 KiB at exhaustion\n", count);
    return 0;
}

/* ---- rlimit-raise: started under a soft RLIMIT_AS of 1 GiB, which it raises, lowers and
 * raises again: a large request follows the limit of the moment, not the one at start-up.
 * Each refusal is of a size beyond what the fallback already holds (jemalloc keeps the
 * address space of freed blocks, and serves from it whatever the limit says). ---- */

#define LOW_LIMIT  ((rlim_t)1 << 30)
#define HIGH_LIMIT ((rlim_t)4 << 30)

static int set_soft_limit(rlim_t soft) {
    struct rlimit limit;
    if (getrlimit(RLIMIT_AS, &limit) != 0 || soft > limit.rlim_max) return 0;
    limit.rlim_cur = soft;
    return setrlimit(RLIMIT_AS, &limit) == 0;
}

/* One request of `size` through each way into the fallback, freed before the next: 1 when all
 * are served (and their ends writable), 0 when all fail with ENOMEM, -1 for a mix. */
static int large_requests(size_t size) {
    int served = 0, refused = 0;
    size = tm_opaque(size);
    for (int way = 0; way < 5; way++) {
        char *p = NULL;
        errno = 0;
        if (way == 0) p = malloc(size);
        if (way == 1) p = calloc(1, size);
        if (way == 2) p = aligned_alloc(4096, size);
        if (way == 3 && posix_memalign((void **)&p, 64, size) != 0) errno = ENOMEM;
        if (way == 4) {
            char *small = malloc(100);
            p = realloc(small, size);
            if (p == NULL) free(small);
        }
        if (p != NULL) {
            p[0] = p[size - 1] = 1;
            free(p);
            served++;
        } else if (errno == ENOMEM) {
            refused++;
        }
    }
    return served == 5 ? 1 : refused == 5 ? 0 : -1;
}

static int scenario_rlimit_raise(void) {
    const size_t first = 1280 * TM_MIB, second = 1792 * TM_MIB;
    setvbuf(stdout, NULL, _IONBF, 0);
    if (large_requests(first) != 0) return fail("1.25 GiB under the 1 GiB limit of start-up");
    if (!set_soft_limit(HIGH_LIMIT)) {
        printf("skipped: the hard RLIMIT_AS is below 4 GiB\n");
        return 0;
    }
    if (large_requests(first) != 1) return fail("1.25 GiB once the limit is raised to 4 GiB");
    if (!set_soft_limit(LOW_LIMIT)) return fail("setrlimit back to 1 GiB");
    if (large_requests(second) != 0) return fail("1.75 GiB once the limit is lowered again");
    if (!set_soft_limit(HIGH_LIMIT)) return fail("setrlimit to 4 GiB again");
    if (large_requests(second) != 1) return fail("1.75 GiB once the limit is raised again");
    printf("ok\n");
    return 0;
}

/* ---- fallback-first: the private jemalloc sets itself up at its first call (no constructor:
 * Makefile), here made by 8 threads at once, each its first block above 1 MiB, by malloc or
 * by realloc's growth of a medium block. The set-up is not the program's business: errno
 * keeps its value (jemalloc's parse of its options set it to 0, which no library function
 * may do) ---- */

#define FIRST_THREADS 8
#define ERRNO_MARK    1234
static pthread_barrier_t first_start;

static unsigned char *first_block(uintptr_t i, size_t size) {
    if (i % 2 == 0) return malloc(size);
    void *medium = malloc(512 * TM_KIB);
    if (medium == NULL) return NULL;
    void *grown = realloc(medium, size);
    if (grown == NULL) free(medium);
    return grown;
}

static void *first_large(void *arg) {
    uintptr_t i = (uintptr_t)arg;
    size_t size = 2 * TM_MIB + i * 4096;
    pthread_barrier_wait(&first_start);
    errno = ERRNO_MARK + (int)i;
    unsigned char *p = first_block(i, size);
    if (p == NULL) return (void *)1;
    int kept = errno == ERRNO_MARK + (int)i;
    memset(p, (int)i, size);
    int ok = p[0] == (unsigned char)i && p[size - 1] == p[0];
    free(p);
    kept = kept && errno == ERRNO_MARK + (int)i;
    if (!kept) printf("FAIL errno %d after the first large block of thread %d\n", errno, (int)i);
    return ok && kept ? NULL : (void *)1;
}

static int scenario_fallback_first(void) {
    pthread_t threads[FIRST_THREADS];
    pthread_barrier_init(&first_start, NULL, FIRST_THREADS);
    for (uintptr_t i = 0; i < FIRST_THREADS; i++)
        if (pthread_create(&threads[i], NULL, first_large, (void *)i) != 0)
            return fail("pthread_create");
    int bad = 0;
    for (int i = 0; i < FIRST_THREADS; i++) {
        void *result;
        pthread_join(threads[i], &result);
        bad += result != NULL;
    }
    if (bad != 0) return fail("a first large block");
    printf("ok\n");
    return 0;
}

/* ---- fallback-exhausted: under RLIMIT_AS, small blocks take all the address space before
 * the first block above 1 MiB: that one gets NULL and ENOMEM (the fallback cannot set itself
 * up), and the process goes on ---- */

static int scenario_fallback_exhausted(void) {
    const size_t max = 2 * 1024 * TM_MIB / (16 * TM_KIB);
    void **objs = malloc(max * sizeof *objs);
    size_t n = 0;
    if (objs == NULL) return fail("malloc");
    setvbuf(stdout, NULL, _IONBF, 0);
    while (n < max && (objs[n] = malloc(16 * TM_KIB)) != NULL)
        n++;
    errno = 0;
    void *large = malloc(2 * TM_MIB);
    int refused = large == NULL && errno == ENOMEM;
    free(large);
    for (size_t i = 0; i < n; i++)
        free(objs[i]);
    void *small = malloc(100);
    free(objs);
    if (!refused || n == max || small == NULL) return fail("the first large block at exhaustion");
    free(small);
    printf("ok\n");
    return 0;
}

/* ---- fork: test_fork.c's storm, in a process with the options under test ---- */

static int scenario_fork(void) {
    if (tm_fork_under_load(20) != 0) return fail("fork under load");
    printf("ok\n");
    return 0;
}

/* ---- free-unused: a free of the address next to the block malloc handed out last, which the
 * slab never handed out: TM_SIZE bytes, the first blocks of their class in this process (no
 * stdio until the free: its buffer would be the next block). TM_SIDE=after frees p + usable,
 * before frees p - usable. Prints the address, then must be stopped by the free (refill.c,
 * mark_next_unused; pool.c, the block before a new slab's first). ---- */

#define EXTEND_PAGE 4096 /* refill.c's EXTEND_BYTES: the blocks under 1 KiB it threads */

static int scenario_free_unused(void) {
    const char *size_text = getenv("TM_SIZE"), *side = getenv("TM_SIDE");
    if (size_text == NULL || side == NULL) return fail("TM_SIZE and TM_SIDE");
    size_t size = strtoul(size_text, NULL, 10);
    char *p = malloc(size);
    size_t usable = malloc_usable_size(p);
    int after = strcmp(side, "after") == 0;
    /* Under 1 KiB, a never-used block is marked only if the slab has threaded it: it starts in
     * the page where the block before it starts. */
    while (p != NULL && after && usable < 1024 &&
           ((uintptr_t)(p + usable) ^ (uintptr_t)p) >= EXTEND_PAGE)
        p = malloc(size);
    if (p == NULL) return fail("malloc");
    char *target = after ? p + usable : p - usable;
    char line[32];
    int n = snprintf(line, sizeof line, "%p\n", (void *)target);
    if (write(STDOUT_FILENO, line, (size_t)n) != n) return fail("write");
    free(target);
    return fail("the free returned");
}

int tm_scenario_main(const char *name) {
    static const struct {
        const char *name;
        int (*run)(void);
    } scenarios[] = {
        {"tcache", scenario_tcache},
        {"free-unused", scenario_free_unused},
        {"stats", scenario_stats},
        {"stats-closed-stderr", scenario_stats_closed_stderr},
        {"stats-pid", scenario_stats_pid},
        {"stats-exec-in-place", scenario_stats_exec_in_place},
        {"stats-env", scenario_stats_env},
        {"stats-children", scenario_stats_children},
        {"decay-now", scenario_decay_now},
        {"decay-wait", scenario_decay_wait},
        {"decay-trim", scenario_decay_trim},
        {"decay-call", scenario_decay_call},
        {"decay-ages", scenario_decay_ages},
        {"rlimit", scenario_rlimit},
        {"dirty-share", scenario_dirty_share},
        {"fallback-count", scenario_fallback_count},
        {"large-threads", scenario_large_threads},
        {"large-own", scenario_large_own},
        {"large-quiet", scenario_large_quiet},
        {"large-first", scenario_large_first},
        {"large-first-over", scenario_large_first_over},
        {"direct-pages", scenario_direct_pages},
        {"direct-spare", scenario_direct_spare},
        {"direct-spare-cycling", scenario_direct_spare_cycling},
        {"grow-chain", scenario_grow_chain},
        {"refault-small", scenario_refault_small},
        {"refault-heap", scenario_refault_heap},
        {"refault-large", scenario_refault_large},
        {"rlimit-raise", scenario_rlimit_raise},
        {"fork", scenario_fork},
        {"fallback-first", scenario_fallback_first},
        {"fallback-exhausted", scenario_fallback_exhausted},
        {"calloc-fresh", tm_calloc_fresh},
        {"calloc-recycled", tm_calloc_recycled},
        {"calloc-clean", tm_calloc_clean},
        {"calloc-locked", tm_calloc_locked},
        {"calloc-sparse", tm_calloc_sparse},
        {"discard-runs", tm_discard_runs},
        {"partial-first", tm_partial_first},
        {"commit-refused", tm_commit_refused},
    };
    for (size_t i = 0; i < sizeof scenarios / sizeof *scenarios; i++)
        if (strcmp(name, scenarios[i].name) == 0) return scenarios[i].run();
    fprintf(stderr, "test_malloc: no scenario named %s\n", name);
    return 2;
}
