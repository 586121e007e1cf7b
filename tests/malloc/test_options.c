/* test_options.c - what is fixed at start-up, checked in a fresh process (test_scenarios.c):
 * the ASLAB_* variables options.c reads from the environment (every spelling of a boolean; a
 * malformed value or an unknown variable gets one line on stderr and the default), the
 * report of ASLAB_STATS (its first line, ASLAB_STATS_FILE, which processes report), the
 * memory-return options (ASLAB_DECAY_MS, ASLAB_DIRTY_MAX_MB, ASLAB_BACKGROUND_THREAD), life
 * under RLIMIT_AS = 1 GiB, and a limit that the program changes with setrlimit. */
#include "test_child.h"
#include "test_suites.h"
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

 * thread: none, since they are back on their slab's free list (there is no thread cache in
 * which they could count as in use). The child's output stays in *c. */
static long long held_by_thread(tm_child *c, const char *setting) {
    const char *const env[] = {setting, NULL};
    long long held = -1;
    if (scenario(c, "tcache", setting != NULL ? env : NULL, 0) &&
        sscanf(c->out, "held %lld", &held) != 1)
        tm_child_dump(c, "tcache");
    return held;
}

static void test_freed_blocks_not_held(void) {
    tm_child c;
    long long held = held_by_thread(&c, NULL);
    tm_check(held == 0 && c.err_len == 0, "held %lld, stderr [%s]", held, c.err);
    CU_ASSERT(held == 0 && c.err_len == 0);
}

#define REPORT_HEADER "aslab: heap statistics of pid "

/* The pids named by the reports' first lines in text, up to max; returns how many there are. */
static size_t report_pids(const char *text, int *pids, size_t max) {
    size_t n = 0;
    for (const char *at = strstr(text, REPORT_HEADER); at != NULL;
         at = strstr(at + 1, REPORT_HEADER)) {
        if (n < max) pids[n] = atoi(at + sizeof REPORT_HEADER - 1);
        n++;
    }
    return n;
}

/* A report of this binary's process `pid` at the start of text: its first line, then the
 * table with the scenario's 48-byte row. */
static int is_report_of(const char *text, int pid) {
    char header[128];
    unsigned long long requests = 0;
    size_t live = 0;
    snprintf(header, sizeof header, REPORT_HEADER "%d (test_malloc), fallback: ", pid);
    const char *end_of_header = strchr(text, '\n'); /* the table's column names follow */
    int ok = strncmp(text, header, strlen(header)) == 0 && end_of_header != NULL &&
             strncmp(end_of_header, "\nclass ", 7) == 0 &&
             tm_stats_row(text, 48, &requests, &live) && requests >= 1000;
    tm_check(ok, "expected a report that starts [%s], got [%.300s]", header, text);
    return ok;
}

static void check_report(const tm_child *c) {
    int pid = 0;
    CU_ASSERT_STRING_EQUAL(c->out, "done\n");
    CU_ASSERT_EQUAL(report_pids(c->err, &pid, 1), 1);
    CU_ASSERT(is_report_of(c->err, pid));
}

static void test_stats_option(void) {
    static const char *const on[] = {"ASLAB_STATS=1", NULL};
    tm_child c;
    if (scenario(&c, "stats", on, 0)) check_report(&c);
    if (scenario(&c, "stats-closed-stderr", on, 0)) check_report(&c);
    if (scenario(&c, "stats", NULL, 0)) CU_ASSERT_EQUAL(c.err_len, 0);
}

/* Every spelling of a boolean, in any case; "all" is a yes too. */
static void test_stats_spellings(void) {
    static const char *const yes[] = {"1",    "yes", "YES", "Yes", "true",
                                      "TRUE", "on",  "On",  "all", "ALL"};
    static const char *const no[] = {"0", "no", "NO", "false", "False", "off", "OFF", ""};
    char setting[64];
    const char *const env[] = {setting, NULL};
    tm_child c;
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
        snprintf(setting, sizeof setting, "ASLAB_STATS=%s", yes[i]);
        int pid = 0;
        if (!scenario(&c, "stats", env, 0)) continue;
        int ok = report_pids(c.err, &pid, 1) == 1 && is_report_of(c.err, pid);
        tm_check(ok, "%s: no report", setting);
        CU_ASSERT(ok);
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
    /* no cap: the cap alone would discard most of the burst */
    static const char *const decay[] = {"ASLAB_DECAY_MS=abc", "ASLAB_DIRTY_MAX_MB=-1", NULL};
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
                                      "true/false, on/off) or all; using 0\n");
    /* The thread caches are gone with threads owning slabs: the old switch is named as such. */
    long long held = held_by_thread(&c, "ASLAB_TCACHE=0");
    CU_ASSERT_EQUAL(held, 0);
    CU_ASSERT_NSTRING_EQUAL(c.err, "aslab: ASLAB_TCACHE is not an option (", 38);
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

/* The whole of a small file into buf (NUL-terminated); its length, or -1. */
static long read_file(const char *path, char *buf, size_t cap) {
    FILE *f = fopen(path, "r");
    if (f == NULL) return -1;
    size_t got = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[got] = '\0';
    return (long)got;
}

/* ASLAB_STATS_FILE: %p is the pid, %% a %; appended to; stderr stays quiet. */
static void test_stats_file(void) {
    char dir[] = "/tmp/aslab-stats-XXXXXX", file[128], setting[128], report[16384];
    const char *const env[] = {"ASLAB_STATS=1", setting, NULL};
    tm_child c;
    int pid = 0;
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    snprintf(setting, sizeof setting, "ASLAB_STATS_FILE=%s/report.%%p.%%%%", dir);
    if (scenario(&c, "stats-pid", env, 0) && sscanf(c.out, "pid %d", &pid) == 1) {
        CU_ASSERT_EQUAL(c.err_len, 0);
        snprintf(file, sizeof file, "%s/report.%d.%%", dir, pid);
        CU_ASSERT(read_file(file, report, sizeof report) > 0 && is_report_of(report, pid));
        unlink(file);
    }
    snprintf(setting, sizeof setting, "ASLAB_STATS_FILE=%s/both", dir);
    snprintf(file, sizeof file, "%s/both", dir);
    for (int run = 0; run < 2; run++)
        scenario(&c, "stats", env, 0);
    CU_ASSERT(read_file(file, report, sizeof report) > 0 && report_pids(report, NULL, 0) == 2);
    unlink(file);
    rmdir(dir);
}

/* A file that cannot be opened: one line says so, and the report goes to stderr. */
static void test_stats_file_unopenable(void) {
    static const char *const env[] = {"ASLAB_STATS=1", "ASLAB_STATS_FILE=/nonexistent/r.%p", NULL};
    static const char line[] = "aslab: cannot open ASLAB_STATS_FILE=/nonexistent/r.";
    static const char reason[] = " (No such file or directory); the report goes to stderr\n";
    tm_child c;
    int pid = 0;
    if (!scenario(&c, "stats-pid", env, 0) || sscanf(c.out, "pid %d", &pid) != 1) return;
    char expected[256];
    snprintf(expected, sizeof expected, "%s%d%s", line, pid, reason);
    CU_ASSERT_NSTRING_EQUAL(c.err, expected, strlen(expected));
    CU_ASSERT(is_report_of(c.err + strlen(expected), pid));
}

/* ASLAB_STATS=1: the process started with it reports, and a program exec'd in its place
 * (same pid) does; a forked child and an exec'd one do not, and see the variable marked with
 * the reporting pid. ASLAB_STATS=all: every one of them reports. */
static void test_stats_children(void) {
    static const char *const self[] = {"ASLAB_STATS=1", NULL}, *const all[] = {"ASLAB_STATS=all",
                                                                               NULL};
    int parent = 0, forked = 0, execed = 0, pids[4] = {0};
    char value[64] = "", expected[64];
    tm_child c;
    if (scenario(&c, "stats-children", self, 0)) {
        const char *exec_line = strstr(c.out, "exec "), *parent_line = strstr(c.out, "parent ");
        CU_ASSERT_FATAL(exec_line != NULL && parent_line != NULL);
        CU_ASSERT_EQUAL(sscanf(exec_line, "exec %d ASLAB_STATS=%63s", &execed, value), 2);
        CU_ASSERT_EQUAL(sscanf(parent_line, "parent %d fork %d", &parent, &forked), 2);
        snprintf(expected, sizeof expected, "1:%d", parent);
        CU_ASSERT_STRING_EQUAL(value, expected);
        size_t reports = report_pids(c.err, pids, 4);
        tm_check(reports == 1 && pids[0] == parent, "reports [%s]", c.err);
        CU_ASSERT(reports == 1 && pids[0] == parent);
    }
    if (scenario(&c, "stats-children", all, 0)) {
        CU_ASSERT(sscanf(c.out, "exec %d ASLAB_STATS=%63s", &execed, value) == 2);
        CU_ASSERT_STRING_EQUAL(value, "all");
        const char *parent_line = strstr(c.out, "parent ");
        CU_ASSERT(parent_line != NULL &&
                  sscanf(parent_line, "parent %d fork %d", &parent, &forked) == 2);
        int seen = 0;
        size_t reports = report_pids(c.err, pids, 4);
        for (size_t i = 0; i < reports && i < 4; i++)
            seen |= (pids[i] == parent) | (pids[i] == forked) << 1 | (pids[i] == execed) << 2;
        tm_check(reports == 3 && seen == 7, "reports [%s]", c.err);
        CU_ASSERT(reports == 3 && seen == 7);
    }
    if (scenario(&c, "stats-exec-in-place", self, 0)) check_report(&c);
}

/* The burst's RSS: "full F freed X ..." as test_scenarios.c's burst() prints it. */
static int burst_figures(const tm_child *c, size_t *full, size_t *freed) {
    int ok = sscanf(c->out, "full %zu freed %zu", full, freed) == 2;
    CU_ASSERT(ok);
    return ok;
}

/* ASLAB_DIRTY_MAX_MB=-1 in the last three: the cap would discard most of the burst at once. */
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
    if (scenario(&c, "decay-now", malformed, 0) && burst_figures(&c, &full, &freed)) {
        CU_ASSERT(freed + BURST_KIB - 12 * 1024 < full); /* the default, 8 MiB */
        CU_ASSERT_STRING_EQUAL(c.err, "aslab: ASLAB_DIRTY_MAX_MB=4MB is not a number; using 8\n");
    }
}

/* Under a cap of 4 MiB, a program that holds 128 MiB keeps 12 MiB it frees and allocates
 * again resident (an eighth of what it holds: 16 MiB): four rounds fault almost nothing,
 * where discarding them would fault 4 x 3072 pages. */
static void test_dirty_share(void) {
    static const char *const cap4[] = {"ASLAB_DECAY_MS=-1", "ASLAB_DIRTY_MAX_MB=4", NULL};
    long large = -1, small = -1;
    tm_child c;
    if (scenario(&c, "dirty-share", cap4, 0)) {
        CU_ASSERT_EQUAL(sscanf(c.out, "large %ld small %ld", &large, &small), 2);
        CU_ASSERT(large >= 0 && large < 1000);
        CU_ASSERT(small >= 0 && small < 1000);
    }
}

/* Every block of the fallback counts as the program's, calloc's and the aligned calls' too:
 * with DIRTY_MAX_MB=4 and nothing held, 32 MiB of 2 MiB blocks freed after them leave at
 * most the cap and the parked block resident (4 + 2 MiB, and 2 of slack). */
static void test_fallback_count(void) {
    static const char *const cap4[] = {"ASLAB_DECAY_MS=-1", "ASLAB_DIRTY_MAX_MB=4", NULL};
    size_t start = 0, full = 0, freed = 0;
    tm_child c;
    if (scenario(&c, "fallback-count", cap4, 0)) {
        CU_ASSERT_EQUAL_FATAL(sscanf(c.out, "start %zu full %zu freed %zu", &start, &full, &freed),
                              3);
        CU_ASSERT(full >= start + 32 * 1024);
        CU_ASSERT(freed <= start + 8 * 1024);
    }
}

/* Big blocks one thread freed, kept resident under the cap, serve another thread's requests:
 * the fallback's free pages are not split by thread (one jemalloc arena; with one per thread
 * the taker faulted in about 1,560 pages, three fresh blocks of 2 MiB). */
static void test_large_threads(void) {
    long faults = -1;
    tm_child c;
    if (strcmp(TM_FALLBACK, "jemalloc") != 0) return; /* glibc's arenas are per thread */
    if (scenario(&c, "large-threads", NULL, 0)) {
        CU_ASSERT_EQUAL_FATAL(sscanf(c.out, "%ld", &faults), 1);
        CU_ASSERT(faults >= 0 && faults < 100);
    }
}

/* Threads cycling through big blocks each park their own (large.c): two threads that each
 * free a 2 MiB block, one after the other, get each its own block back, with no lock or
 * block shared between them (with one parked block for the process, the second free
 * displaced the first and the first thread got the second's block). */
static void test_large_own(void) {
    /* a 10 s window for "the program cycles", so that a slow machine's thread start-up
     * cannot end it between the main thread's cycle and the threads' */
    static const char *const slow[] = {"ASLAB_DECAY_MS=10000", NULL};
    tm_child c;
    if (scenario(&c, "large-own", slow, 0)) CU_ASSERT_STRING_EQUAL(c.out, "own\n");
}

/* A block parked by a thread that then exited stays resident while the process idles (no
 * background thread) and goes at the first call after the decay time: the round looks at
 * every thread's parked block, not the caller's alone. */
static void test_large_quiet(void) {
    static const char *const quiet[] = {"ASLAB_DECAY_MS=300", "ASLAB_DIRTY_MAX_MB=-1", NULL};
    size_t parked = 0, idle = 0, called = 0;
    tm_child c;
    if (scenario(&c, "large-quiet", quiet, 0)) {
        CU_ASSERT_EQUAL_FATAL(
            sscanf(c.out, "parked %zu idle %zu called %zu", &parked, &idle, &called), 3);
        CU_ASSERT(idle + 1024 > parked);
        CU_ASSERT(called + 6 * 1024 < parked);
    }
}

/* A process's first big free, before it can show that it cycles: 2 MiB under the cap stays
 * in the pool, and the next request of the size faults few of its 512 pages (all of them
 * until session 38); 24 MiB over the cap goes at once, and the next request faults it all. */
static void test_large_first_free(void) {
    size_t held = 0, freed = 0;
    long again = -1;
    tm_child c;
    if (scenario(&c, "large-first", NULL, 0)) {
        CU_ASSERT_EQUAL_FATAL(sscanf(c.out, "held %zu freed %zu again %ld", &held, &freed, &again),
                              3);
        CU_ASSERT(again >= 0 && again < 64);
        if (again >= 64) printf("\n    large-first: %s", c.out);
    }
    if (scenario(&c, "large-first-over", NULL, 0)) {
        CU_ASSERT_EQUAL_FATAL(sscanf(c.out, "held %zu freed %zu again %ld", &held, &freed, &again),
                              3);
        long pages = (long)(24 * 1024 * 1024 / sysconf(_SC_PAGESIZE));
        CU_ASSERT(freed + 20 * 1024 < held);
        CU_ASSERT(again > pages * 3 / 4);
        if (freed + 20 * 1024 >= held || again <= pages * 3 / 4)
            printf("\n    large-first-over: %s", c.out);
    }
}

/* The refault allowance (purge.h): under a cap of 4 MiB, a program that allocates 24 MiB,
 * frees it and allocates it again faults the discarded pages in once; then the cap has grown
 * by what it took again, and the next rounds fault almost nothing. Without an age
 * (ASLAB_DECAY_MS=-1) the cap stays as set and every round faults. */
static void test_refault_allowance(void) {
    static const char *const cap4[] = {"ASLAB_DIRTY_MAX_MB=4", NULL};
    static const char *const no_age[] = {"ASLAB_DIRTY_MAX_MB=4", "ASLAB_DECAY_MS=-1", NULL};
    static const char *const names[] = {"refault-small", "refault-large"};
    for (int i = 0; i < 2; i++) {
        long second = -1, last = -1;
        tm_child c;
        if (scenario(&c, names[i], cap4, 0)) {
            CU_ASSERT_EQUAL(sscanf(c.out, "%ld %ld", &second, &last), 2);
            CU_ASSERT(second > 2000); /* 16 MiB or more over the cap went, and came back */
            CU_ASSERT(last >= 0 && last < 500);
        }
        if (scenario(&c, names[i], no_age, 0)) {
            CU_ASSERT_EQUAL(sscanf(c.out, "%ld %ld", &second, &last), 2);
            CU_ASSERT(last > 2000);
        }
    }
}

/* The same past 64 MiB: 128 MiB of 1 KiB blocks freed and taken again, round after round. The
 * allowance grows up to what the arena gave back under its recent peak, so that the last
 * round faults almost nothing; held to 64 MiB (before), the fifth round faulted 18,512 pages
 * in again (mstress's rounds of threads: docs/memory-return.md). */
static void test_refault_allowance_past_64_mib(void) {
    static const char *const cap4[] = {"ASLAB_DIRTY_MAX_MB=4", NULL};
    long second = -1, last = -1;
    tm_child c;
    if (scenario(&c, "refault-heap", cap4, 0)) {
        CU_ASSERT_EQUAL(sscanf(c.out, "%ld %ld", &second, &last), 2);
        CU_ASSERT(second > 10000); /* 64 MiB or more over the cap went, and came back */
        CU_ASSERT(last >= 0 && last < 500);
    }
}

/* A block grown by realloc from 1 to 16 MiB and freed, again and again: the fallback's pool
 * purges the copies it leaves behind past the cap, the next chain takes them back, and the
 * refault allowance lets the pool keep them: the last of 8 chains faults almost nothing in
 * (each faulted 3,300 pages before the purges counted; glibc 0 after the first). */
static void test_grow_chain(void) {
    long second = -1, last = -1;
    tm_child c;
    if (scenario(&c, "grow-chain", NULL, 0)) {
        CU_ASSERT_EQUAL(sscanf(c.out, "%ld %ld", &second, &last), 2);
        CU_ASSERT(last >= 0 && last < 500);
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

/* The private jemalloc sets itself up at its first call: from 8 threads at once, and with
 * the address space already taken by small blocks (NULL and ENOMEM, not a crash). */
static void test_fallback_first_call(void) {
    tm_child c;
    if (scenario(&c, "fallback-first", NULL, 0)) CU_ASSERT_STRING_EQUAL(c.out, "ok\n");
    if (scenario(&c, "fallback-exhausted", NULL, 1024 * TM_MIB))
        CU_ASSERT_STRING_EQUAL(c.out, "ok\n");
}

CU_TestInfo test_options_tests[] = {
    {"blocks a thread freed are not in use", test_freed_blocks_not_held},
    {"ASLAB_STATS=1: a report at exit, even with stderr closed", test_stats_option},
    {"ASLAB_STATS: every spelling of yes and no", test_stats_spellings},
    {"a value that does not parse: one line, the default", test_bad_values},
    {"an unknown ASLAB_* variable: one line", test_unknown_variable},
    {"ASLAB_STATS_FILE: %p, appended, names the pid", test_stats_file},
    {"ASLAB_STATS_FILE that cannot be opened: stderr", test_stats_file_unopenable},
    {"ASLAB_STATS=1: not in children; =all: in all", test_stats_children},
    {"ASLAB_DECAY_MS: 0 at once, -1 on trim, 300 soon (thread) or at a call", test_decay_option},
    {"ASLAB_DECAY_MS: a slab freed again ages from then", test_decay_ages},
    {"ASLAB_DIRTY_MAX_MB: the cap, with no age", test_dirty_max_option},
    {"ASLAB_DIRTY_MAX_MB: an eighth of what the program holds beyond the cap", test_dirty_share},
    {"ASLAB_DIRTY_MAX_MB: calloc's and aligned blocks count as held", test_fallback_count},
    {"a big block one thread freed serves another thread", test_large_threads},
    {"threads cycling big blocks each reuse their own", test_large_own},
    {"a quiet thread's parked block goes at a round", test_large_quiet},
    {"a first big free: kept under the cap, gone at once over it", test_large_first_free},
    {"ASLAB_DIRTY_MAX_MB grows by what the program takes again after a discard",
     test_refault_allowance},
    {"... past 64 MiB, up to what the arena gave back under its recent peak",
     test_refault_allowance_past_64_mib},
    {"a block grown to 16 MiB and freed, again and again, stays resident", test_grow_chain},
    {"under RLIMIT_AS = 1 GiB", test_address_space_limit},
    {"RLIMIT_AS raised and lowered with setrlimit", test_address_space_limit_raised},
    {"the fallback's first call: 8 threads at once; at exhaustion", test_fallback_first_call},
    CU_TEST_INFO_NULL,
};
