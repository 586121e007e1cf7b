/* test_options.c - what is fixed at start-up, checked in a fresh process (test_scenarios.c):
 * the ASLAB_* variables options.c reads from the environment (every spelling of a boolean; a
 * malformed value or an unknown variable gets one line on stderr and the default), life
 * under RLIMIT_AS = 1 GiB, and a limit that the program changes with setrlimit. */
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
 * thread: all of them while that thread's cache keeps them, none without a cache. The
 * child's output stays in *c. */
static long long held_by_thread(tm_child *c, const char *setting) {
    const char *const env[] = {setting, NULL};
    long long held = -1;
    if (scenario(c, "tcache", setting != NULL ? env : NULL, 0) &&
        sscanf(c->out, "held %lld", &held) != 1)
        tm_child_dump(c, "tcache");
    return held;
}

#define WITH_CACHE (100 * 48) /* at least what held_by_thread sees with a thread cache */

static void test_tcache_option(void) {
    static const char *const on[] = {NULL, "ASLAB_TCACHE=1", "ASLAB_TCACHE=yes",
                                     "ASLAB_TCACHE=True", "ASLAB_TCACHE=ON"};
    static const char *const off[] = {"ASLAB_TCACHE=0", "ASLAB_TCACHE=no", "ASLAB_TCACHE=FALSE",
                                      "ASLAB_TCACHE=off"};
    tm_child c;
    for (size_t i = 0; i < sizeof on / sizeof *on; i++) {
        long long held = held_by_thread(&c, on[i]);
        tm_check(held >= WITH_CACHE && c.err_len == 0, "%s: held %lld, stderr [%s]",
                 on[i] != NULL ? on[i] : "(unset)", held, c.err);
        CU_ASSERT(held >= WITH_CACHE && c.err_len == 0);
    }
    for (size_t i = 0; i < sizeof off / sizeof *off; i++) {
        long long held = held_by_thread(&c, off[i]);
        tm_check(held == 0 && c.err_len == 0, "%s: held %lld, stderr [%s]", off[i], held, c.err);
        CU_ASSERT(held == 0 && c.err_len == 0);
    }
}

static int is_report(const char *text) {
    static const char header[] = "aslab: heap statistics (fallback: ";
    unsigned long long requests = 0;
    size_t live = 0;
    return strncmp(text, header, sizeof header - 1) == 0 &&
           tm_stats_row(text, 48, &requests, &live) && requests >= 1000;
}

static void check_report(const tm_child *c) {
    CU_ASSERT_STRING_EQUAL(c->out, "done\n");
    CU_ASSERT(is_report(c->err));
}

static void test_stats_option(void) {
    static const char *const on[] = {"ASLAB_STATS=1", NULL};
    tm_child c;
    if (scenario(&c, "stats", on, 0)) check_report(&c);
    if (scenario(&c, "stats-closed-stderr", on, 0)) check_report(&c);
    if (scenario(&c, "stats", NULL, 0)) CU_ASSERT_EQUAL(c.err_len, 0);
}

/* Every spelling of a boolean, in any case. */
static void test_stats_spellings(void) {
    static const char *const yes[] = {"1", "yes", "YES", "Yes", "true", "TRUE", "on", "On"};
    static const char *const no[] = {"0", "no", "NO", "false", "False", "off", "OFF", ""};
    char setting[64];
    const char *const env[] = {setting, NULL};
    tm_child c;
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
        snprintf(setting, sizeof setting, "ASLAB_STATS=%s", yes[i]);
        if (!scenario(&c, "stats", env, 0)) continue;
        tm_check(is_report(c.err), "%s: no report", setting);
        CU_ASSERT(is_report(c.err));
    }
    for (size_t i = 0; i < sizeof no / sizeof *no; i++) {
        snprintf(setting, sizeof setting, "ASLAB_STATS=%s", no[i]);
        if (!scenario(&c, "stats", env, 0)) continue;
        tm_check(c.err_len == 0, "%s: stderr [%s]", setting, c.err);
        CU_ASSERT_EQUAL(c.err_len, 0);
    }
}

/* A value that does not parse: one line that says so, and the default. */
static void test_bad_values(void) {
    static const char *const decay[] = {"ASLAB_DECAY_MS=abc", NULL};
    static const char *const huge[] = {"ASLAB_DECAY_MS=99999999999999999999", NULL};
    static const char *const stats[] = {"ASLAB_STATS=maybe", NULL};
    size_t full = 0, freed = 0;
    tm_child c;
    if (scenario(&c, "decay-now", decay, 0)) { /* the default, 1000 ms: kept after the free */
        CU_ASSERT_STRING_EQUAL(c.err, "aslab: ASLAB_DECAY_MS=abc is not a number; using 1000\n");
        CU_ASSERT_EQUAL(sscanf(c.out, "full %zu freed %zu", &full, &freed), 2);
        CU_ASSERT(freed + BURST_KIB / 4 > full);
    }
    if (scenario(&c, "stats", huge, 0))
        CU_ASSERT_STRING_EQUAL(
            c.err, "aslab: ASLAB_DECAY_MS=99999999999999999999 is not a number; using 1000\n");
    if (scenario(&c, "stats", stats, 0)) /* no report */
        CU_ASSERT_STRING_EQUAL(c.err, "aslab: ASLAB_STATS=maybe is not a boolean (1/0, yes/no, "
                                      "true/false, on/off); using 0\n");
    long long held = held_by_thread(&c, "ASLAB_TCACHE=maybe");
    CU_ASSERT(held >= WITH_CACHE);
    CU_ASSERT_STRING_EQUAL(c.err, "aslab: ASLAB_TCACHE=maybe is not a boolean (1/0, yes/no, "
                                  "true/false, on/off); using 1\n");
}

/* A misspelt option is named, with the options there are, in one line. */
static void test_unknown_variable(void) {
    static const char *const typo[] = {"ASLAB_STAT=1", NULL};
    static const char prefix[] = "aslab: ASLAB_STAT is not an option (ASLAB_STATS, ";
    tm_child c;
    if (!scenario(&c, "stats", typo, 0)) return;
    CU_ASSERT_NSTRING_EQUAL(c.err, prefix, sizeof prefix - 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(c.err, "ASLAB_DECAY_MS"));
    const char *newline = strchr(c.err, '\n');
    CU_ASSERT(newline != NULL && newline[1] == '\0'); /* one line, and no report */
    CU_ASSERT(c.err_len > sizeof prefix && strcmp(c.err + c.err_len - 10, "; ignored\n") == 0);
}

static void test_decay_option(void) {
    static const char *const now[] = {"ASLAB_DECAY_MS=0", NULL};
    static const char *const never[] = {"ASLAB_DECAY_MS=-1", NULL};
    static const char *const soon[] = {"ASLAB_DECAY_MS=300", NULL};
    size_t full = 0, freed = 0, later = 0, trimmed = 0;
    unsigned long long waited = 0;
    tm_child c;
    if (scenario(&c, "decay-now", now, 0)) { /* discarded as the slabs go free */
        CU_ASSERT_EQUAL(sscanf(c.out, "full %zu freed %zu", &full, &freed), 2);
        CU_ASSERT(freed + BURST_KIB * 3 / 4 < full);
    }
    if (scenario(&c, "decay-trim", never, 0)) { /* kept until malloc_trim */
        CU_ASSERT_EQUAL(sscanf(c.out, "full %zu freed %zu trimmed %zu", &full, &freed, &trimmed),
                        3);
        CU_ASSERT(freed + BURST_KIB / 4 > full);
        CU_ASSERT(trimmed + BURST_KIB * 3 / 4 < full);
    }
    if (scenario(&c, "decay-wait", soon, 0)) { /* kept a while, then gone with no call */
        CU_ASSERT_EQUAL(sscanf(c.out, "full %zu freed %zu later %zu waited %llu", &full, &freed,
                               &later, &waited),
                        4);
        CU_ASSERT(freed + BURST_KIB / 4 > full);
        CU_ASSERT(later + BURST_KIB * 3 / 4 < full);
        CU_ASSERT(waited < 3000);
    }
}

/* Regions are mapped one at a time: a 1 GiB address-space limit leaves room for real work,
 * requests beyond it fail at once, and running into it is a clean ENOMEM. */
static void test_address_space_limit(void) {
    tm_child c;
    if (scenario(&c, "rlimit", NULL, 1024 * TM_MIB)) CU_ASSERT_NSTRING_EQUAL(c.out, "ok ", 3);
}

/* RLIMIT_AS is read when a request needs it, not once: a process started under a 1 GiB soft
 * limit that raises it with setrlimit is served a 1.25 GiB block, as glibc would serve it;
 * lowered again, the limit refuses more, and raised again, it serves. */
static void test_address_space_limit_raised(void) {
    tm_child c;
    if (scenario(&c, "rlimit-raise", NULL, 1024 * TM_MIB)) {
        if (strncmp(c.out, "skipped", 7) == 0) fprintf(stderr, "\n  rlimit-raise: %s", c.out);
        CU_ASSERT(strcmp(c.out, "ok\n") == 0 || strncmp(c.out, "skipped", 7) == 0);
    }
}

CU_TestInfo test_options_tests[] = {
    {"ASLAB_TCACHE=0/no/false/off: no thread cache", test_tcache_option},
    {"ASLAB_STATS=1: a report at exit, even with stderr closed", test_stats_option},
    {"ASLAB_STATS: every spelling of yes and no", test_stats_spellings},
    {"a value that does not parse: one line, the default", test_bad_values},
    {"an unknown ASLAB_* variable: one line", test_unknown_variable},
    {"ASLAB_DECAY_MS: 0 at once, -1 on trim, 300 soon", test_decay_option},
    {"under RLIMIT_AS = 1 GiB", test_address_space_limit},
    {"RLIMIT_AS raised and lowered with setrlimit", test_address_space_limit_raised},
    CU_TEST_INFO_NULL,
};
