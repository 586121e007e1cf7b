/* test_scenarios.c - small programs that test_options.c runs in a fresh process (this binary
 * re-executed as `test_malloc --scenario name`), because what they observe is fixed when
 * the process starts: the ASLAB_* options and the address-space limit. Each prints what it
 * measured on stdout, or "FAIL <what>", and returns its exit status. */
#include "test_suites.h"
#include "test_util.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BURST      (32 * TM_MIB) /* of 256-byte blocks, touched */
#define BURST_SIZE 256

static int fail(const char *what) {
    printf("FAIL %s (errno %d)\n", what, errno);
    return 1;
}

/* ---- tcache: heap use seen from the main thread after another thread freed 100 blocks:
 * a thread cache keeps them (they count as in use), without one they are back ---- */

#define TCACHE_BLOCKS 100 /* fewer than a thread cache keeps of the 48-byte class */

static pthread_barrier_t phase;

static void *free_blocks(void *arg) {
    void *blocks[TCACHE_BLOCKS];
    (void)arg;
    pthread_barrier_wait(&phase); /* the main thread has measured */
    for (int i = 0; i < TCACHE_BLOCKS; i++)
        blocks[i] = malloc(48);
    for (int i = 0; i < TCACHE_BLOCKS; i++)
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

/* ---- stats: some traffic in the 48-byte class, then a normal exit ---- */

static int scenario_stats(void) {
    static void *objs[1000];
    for (int i = 0; i < 1000; i++)
        objs[i] = malloc(48);
    for (int i = 0; i < 1000; i++)
        free(objs[i]);
    printf("done\n");
    return 0;
}

/* Like coreutils: stderr is closed before the exit report is due. */
static int scenario_stats_closed_stderr(void) {
    scenario_stats();
    close(STDERR_FILENO);
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

/* 16 KiB blocks until malloc says no: it must say so with NULL and ENOMEM, and once they
 * are freed the class serves again, as do the classes in use before, and a class never
 * used before (7 KiB): the freed regions change class. */
static int exhaust(size_t *count) {
    const size_t max = 2 * 1024 * TM_MIB / (16 * TM_KIB);
    void **objs = malloc(max * sizeof *objs);
    if (objs == NULL) return 0;
    errno = 0;
    while (*count < max && (objs[*count] = malloc(16 * TM_KIB)) != NULL)
        (*count)++;
    int refused = *count < max && errno == ENOMEM;
    for (size_t i = 0; i < *count; i++)
        free(objs[i]);
    free(objs);
    void *again = malloc(16 * TM_KIB), *small = malloc(TM_KIB);
    int ok = refused && again != NULL && small != NULL;
    free(again);
    free(small);
    void **other = malloc(max * sizeof *other);
    size_t others = 0;
    while (other != NULL && others < max / 4 && (other[others] = malloc(7 * TM_KIB)) != NULL)
        memset(other[others++], 1, 64);
    ok = ok && others == max / 4; /* 224 MiB of a new class, after the limit was reached */
    for (size_t i = 0; i < others; i++)
        free(other[i]);
    free(other);
    return ok;
}

static int scenario_rlimit(void) {
    size_t count = 0;
    setvbuf(stdout, NULL, _IONBF, 0); /* no stdio buffer to allocate once memory is gone */
    if (!refuse_at_once(2048 * TM_MIB)) return fail("malloc(2 GiB) under a 1 GiB limit");
    if (!refuse_at_once((size_t)1 << 45)) return fail("malloc(1 << 45)");
    for (int round = 0; round < 2; round++)
        if (!work_within_limit()) return fail("256 MiB under a 1 GiB limit");
    if (!exhaust(&count)) return fail("exhausting the limit");
    printf("ok %zu blocks of 16 KiB at exhaustion\n", count);
    return 0;
}

/* ---- fork: test_fork.c's storm, in a process with the options under test ---- */

static int scenario_fork(void) {
    if (tm_fork_under_load(20) != 0) return fail("fork under load");
    printf("ok\n");
    return 0;
}

int tm_scenario_main(const char *name) {
    static const struct {
        const char *name;
        int (*run)(void);
    } scenarios[] = {
        {"tcache", scenario_tcache},
        {"stats", scenario_stats},
        {"stats-closed-stderr", scenario_stats_closed_stderr},
        {"decay-now", scenario_decay_now},
        {"decay-wait", scenario_decay_wait},
        {"decay-trim", scenario_decay_trim},
        {"decay-call", scenario_decay_call},
        {"decay-ages", scenario_decay_ages},
        {"rlimit", scenario_rlimit},
        {"fork", scenario_fork},
    };
    for (size_t i = 0; i < sizeof scenarios / sizeof *scenarios; i++)
        if (strcmp(name, scenarios[i].name) == 0) return scenarios[i].run();
    fprintf(stderr, "test_malloc: no scenario named %s\n", name);
    return 2;
}
