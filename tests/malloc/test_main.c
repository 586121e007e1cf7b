/* test_main.c - runs the malloc suites: `test_malloc [suite]`, every suite by default. Exits
 * non-zero if any test or suite failed or CUnit itself reported an error. A watchdog alarm
 * kills the whole run if a deadlock outlives every per-test limit, and a cap on the address
 * space turns a runaway leak into failed mallocs rather than work for the OOM killer.
 *
 * `test_malloc --scenario name` runs one of test_scenarios.c's programs instead: the
 * options and fork suites re-execute this binary that way, with a chosen environment. */
#include "test_suites.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define WATCHDOG_SECONDS 120               /* the run takes seconds; a hang must not take forever */
#define ADDRESS_SPACE    ((rlim_t)4 << 30) /* the run peaks near 0.6 GiB */

extern char **environ;

#define SUITE(name, tests) \
    { name, NULL, NULL, NULL, NULL, tests }

static CU_SuiteInfo suites[] = {
    SUITE("entry_points", test_entry_points_tests),
    SUITE("realloc", test_realloc_tests),
    SUITE("aligned", test_aligned_tests),
    SUITE("slot", test_slot_tests),
    SUITE("layout", test_layout_tests),
    SUITE("empty", test_empty_tests),
    SUITE("math", test_math_tests),
    SUITE("medium", test_medium_tests),
    SUITE("medium_threads", test_medium_threads_tests),
    SUITE("calloc", test_calloc_tests),
    SUITE("stats", test_stats_tests),
    SUITE("foreign", test_foreign_tests),
    SUITE("cxx", test_cxx_tests),
    SUITE("threads", test_threads_tests),
    SUITE("remote", test_remote_tests),
    SUITE("kept", test_kept_tests),
    SUITE("own_kept", test_own_kept_tests),
    SUITE("keep_policy", test_keep_policy_tests),
    SUITE("fork", test_fork_tests),
    SUITE("misuse", test_misuse_tests),
    SUITE("direct", test_direct_tests),
    SUITE("large_live", test_large_live_tests),
    SUITE("os", test_os_tests),
    SUITE("commit", test_commit_tests),
    SUITE("options", test_options_tests),
    CU_SUITE_INFO_NULL,
};

static CU_ErrorCode run(const char *only) {
    CU_basic_set_mode(CU_BRM_VERBOSE);
    if (only == NULL) return CU_basic_run_tests();
    CU_pSuite suite = CU_get_suite(only);
    if (suite == NULL) {
        fprintf(stderr, "test_malloc: no suite named %s\n", only);
        return CUE_NOSUITE;
    }
    return CU_basic_run_suite(suite);
}

/* The suites test the default options; the options suite sets ASLAB_* in its children. */
static const char *aslab_setting(void) {
    for (char **entry = environ; *entry != NULL; entry++)
        if (strncmp(*entry, "ASLAB_", 6) == 0) return *entry;
    return NULL;
}

/* A leak in the allocator under test must make malloc fail, not wake the OOM killer. */
static void limit_address_space(void) {
    struct rlimit limit;
    if (getrlimit(RLIMIT_AS, &limit) != 0 || limit.rlim_cur <= ADDRESS_SPACE) return;
    limit.rlim_cur = ADDRESS_SPACE;
    setrlimit(RLIMIT_AS, &limit);
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--scenario") == 0) return tm_scenario_main(argv[2]);
    if (aslab_setting() != NULL) {
        fprintf(stderr, "test_malloc: the suites test the defaults; unset %s\n", aslab_setting());
        return 2;
    }
    alarm(WATCHDOG_SECONDS); /* default action: the run dies, with a non-zero status */
    limit_address_space();
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_ErrorCode err = CU_register_suites(suites);
    if (err == CUE_SUCCESS) err = run(argc > 1 ? argv[1] : NULL);
    int failed = err != CUE_SUCCESS || CU_get_number_of_failures() != 0 ||
                 CU_get_number_of_failure_records() != 0;
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
