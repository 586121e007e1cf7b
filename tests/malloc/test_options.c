/* test_options.c - what is fixed at start-up, checked in a fresh process (test_scenarios.c):
 * the ASLAB_* variables options.c reads from the environment (ASLAB_TCACHE, ASLAB_STATS,
 * ASLAB_DECAY_MS, ASLAB_DIRTY_MAX_MB, ASLAB_BACKGROUND_THREAD; a malformed value keeps the
 * default), and life under RLIMIT_AS = 1 GiB. */
#include "test_child.h"
#include "test_suites.h"
#include "test_util.h"

#include <stdio.h>
#include <string.h>

#define BURST_KIB (32 * 1024) /* test_scenarios.c's burst */

/* Runs a scenario, asserting that it exits 0; its output is in *c. */
static int scenario(tm_child *c, const char *name, const char *const *env, size_t as_limit) {
    tm_child_scenario(c, name, env, as_limit, TM_CHILD_TIMEOUT_MS);
    int ok = tm_child_exited(c, 0);
    if (!ok) tm_child_dump(c, name);
    CU_ASSERT(ok);
    return ok;
}

/* Bytes that another thread's 100 freed 48-byte blocks account for, seen from the main
 * thread: all of them while that thread's cache keeps them, none without a cache. */
static long long held_by_thread(const char *const *env) {
    tm_child c;
    long long held = -1;
    if (scenario(&c, "tcache", env, 0) && sscanf(c.out, "held %lld", &held) != 1)
        tm_child_dump(&c, "tcache");
    return held;
}

static void test_tcache_option(void) {
    static const char *const off[] = {"ASLAB_TCACHE=0", NULL};
    static const char *const malformed[] = {"ASLAB_TCACHE=off", NULL};
    CU_ASSERT(held_by_thread(NULL) >= 100 * 48);
    CU_ASSERT_EQUAL(held_by_thread(off), 0);
    CU_ASSERT(held_by_thread(malformed) >= 100 * 48); /* not a number: the default */
}

static void check_report(const tm_child *c) {
    static const char header[] = "aslab: heap statistics (fallback: ";
    unsigned long long requests = 0;
    size_t live = 0;
    CU_ASSERT_STRING_EQUAL(c->out, "done\n");
    CU_ASSERT_NSTRING_EQUAL(c->err, header, sizeof header - 1);
    CU_ASSERT(tm_stats_row(c->err, 48, &requests, &live));
    CU_ASSERT(requests >= 1000);
}

static void test_stats_option(void) {
    static const char *const on[] = {"ASLAB_STATS=1", NULL};
    tm_child c;
    if (scenario(&c, "stats", on, 0)) check_report(&c);
    if (scenario(&c, "stats-closed-stderr", on, 0)) check_report(&c);
    if (scenario(&c, "stats", NULL, 0)) CU_ASSERT_EQUAL(c.err_len, 0);
}

/* The burst's RSS: "full F freed X ..." as test_scenarios.c's burst() prints it. */
static int burst_figures(const tm_child *c, size_t *full, size_t *freed) {
    int ok = sscanf(c->out, "full %zu freed %zu", full, freed) == 2;
    CU_ASSERT(ok);
    return ok;
}

/* ASLAB_DIRTY_MAX_MB=-1 in each: the cap would discard most of the burst at once. */
static void test_decay_option(void) {
    static const char *const now[] = {"ASLAB_DECAY_MS=0", NULL};
    static const char *const never[] = {"ASLAB_DECAY_MS=-1", "ASLAB_DIRTY_MAX_MB=-1", NULL};
    static const char *const thread[] = {"ASLAB_DECAY_MS=300", "ASLAB_DIRTY_MAX_MB=-1",
                                         "ASLAB_BACKGROUND_THREAD=1", NULL};
    static const char *const quiet[] = {"ASLAB_DECAY_MS=300", "ASLAB_DIRTY_MAX_MB=-1", NULL};
    size_t full = 0, freed = 0, later = 0, trimmed = 0, idle = 0, called = 0;
    unsigned long long waited = 0;
    tm_child c;
    if (scenario(&c, "decay-now", now, 0) && burst_figures(&c, &full, &freed))
        CU_ASSERT(freed + BURST_KIB * 3 / 4 < full); /* discarded as the slabs go free */
    if (scenario(&c, "decay-trim", never, 0)) {      /* kept until malloc_trim */
        CU_ASSERT_EQUAL(sscanf(c.out, "full %zu freed %zu trimmed %zu", &full, &freed, &trimmed),
                        3);
        CU_ASSERT(freed + BURST_KIB / 4 > full);
        CU_ASSERT(trimmed + BURST_KIB * 3 / 4 < full);
    }
    if (scenario(&c, "decay-wait", thread, 0)) { /* kept a while, then gone with no call */
        CU_ASSERT_EQUAL(sscanf(c.out, "full %zu freed %zu later %zu waited %llu", &full, &freed,
                               &later, &waited),
                        4);
        CU_ASSERT(freed + BURST_KIB / 4 > full);
        CU_ASSERT(later + BURST_KIB * 3 / 4 < full);
    }
    if (scenario(&c, "decay-call", quiet, 0)) { /* no thread: kept while idle, gone at a call */
        CU_ASSERT_EQUAL(
            sscanf(c.out, "full %zu freed %zu idle %zu called %zu", &full, &freed, &idle, &called),
            4);
        CU_ASSERT(idle + BURST_KIB / 4 > full);
        CU_ASSERT(called + BURST_KIB * 3 / 4 < full);
    }
}

/* A slab freed again ages from its new free, not from when its region first had a free slab
 * (kept at 1.7 s of its own 3 s, gone at 3.5 s). */
static void test_decay_ages(void) {
    static const char *const env[] = {"ASLAB_DECAY_MS=3000", "ASLAB_DIRTY_MAX_MB=-1", NULL};
    size_t full = 0, kept = 0, aged = 0;
    tm_child c;
    if (scenario(&c, "decay-ages", env, 0)) {
        CU_ASSERT_EQUAL(sscanf(c.out, "full %zu kept %zu aged %zu", &full, &kept, &aged), 3);
        CU_ASSERT(kept + BURST_KIB / 4 > full);
        CU_ASSERT(aged + BURST_KIB * 3 / 4 < full);
    }
}

/* The cap alone (no age): what stays resident after the burst is about the cap. */
static void test_dirty_max_option(void) {
    static const char *const cap4[] = {"ASLAB_DECAY_MS=-1", "ASLAB_DIRTY_MAX_MB=4", NULL};
    static const char *const malformed[] = {"ASLAB_DECAY_MS=-1", "ASLAB_DIRTY_MAX_MB=4MB", NULL};
    size_t full = 0, freed = 0;
    tm_child c;
    if (scenario(&c, "decay-now", cap4, 0) && burst_figures(&c, &full, &freed))
        CU_ASSERT(freed + BURST_KIB - 8 * 1024 < full); /* 4 MiB, and a reserve per class */
    if (scenario(&c, "decay-now", malformed, 0) && burst_figures(&c, &full, &freed))
        CU_ASSERT(freed + BURST_KIB - 12 * 1024 < full); /* the default, 8 MiB */
}

/* Regions are mapped one at a time: a 1 GiB address-space limit leaves room for real work,
 * requests beyond it fail at once, and running into it is a clean ENOMEM. */
static void test_address_space_limit(void) {
    tm_child c;
    if (scenario(&c, "rlimit", NULL, 1024 * TM_MIB)) CU_ASSERT_NSTRING_EQUAL(c.out, "ok ", 3);
}

CU_TestInfo test_options_tests[] = {
    {"ASLAB_TCACHE=0: no thread cache", test_tcache_option},
    {"ASLAB_STATS=1: a report at exit, even with stderr closed", test_stats_option},
    {"ASLAB_DECAY_MS: 0 at once, -1 on trim, 300 soon (thread) or at a call", test_decay_option},
    {"ASLAB_DECAY_MS: a slab freed again ages from then", test_decay_ages},
    {"ASLAB_DIRTY_MAX_MB: the cap, with no age", test_dirty_max_option},
    {"under RLIMIT_AS = 1 GiB", test_address_space_limit},
    CU_TEST_INFO_NULL,
};
