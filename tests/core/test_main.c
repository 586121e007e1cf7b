/* test_main.c - runs the core suites: `test_core [suite]`, every suite by default. Exits
 * non-zero if any test or suite failed or CUnit itself reported an error. */
#include "test_hooks.h"
#include "test_suites.h"

#include <CUnit/Basic.h>
#include <stdio.h>

#define SUITE(name, tests) \
    { name, NULL, NULL, th_test_setup, th_test_teardown, tests }

static CU_SuiteInfo suites[] = {
    SUITE("errors", test_errors_tests),
    SUITE("lifecycle", test_lifecycle_tests),
    SUITE("alloc", test_alloc_tests),
    SUITE("validation", test_validation_tests),
    SUITE("bulk", test_bulk_tests),
    SUITE("threads", test_threads_tests),
    SUITE("typed", test_typed_tests),
    SUITE("lend", test_lend_tests),
    SUITE("hardening", test_hardening_tests),
    SUITE("cache hooks", test_cache_hooks_tests),
    CU_SUITE_INFO_NULL,
};

static CU_ErrorCode run(const char *only) {
    CU_basic_set_mode(CU_BRM_VERBOSE);
    if (only == NULL) return CU_basic_run_tests();
    CU_pSuite suite = CU_get_suite(only);
    if (suite == NULL) {
        fprintf(stderr, "test_core: no suite named %s\n", only);
        return CUE_NOSUITE;
    }
    return CU_basic_run_suite(suite);
}

int main(int argc, char **argv) {
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_ErrorCode err = CU_register_suites(suites);
    if (err == CUE_SUCCESS) err = run(argc > 1 ? argv[1] : NULL);
    int failed = err != CUE_SUCCESS || CU_get_number_of_failures() != 0 ||
                 CU_get_number_of_failure_records() != 0;
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
