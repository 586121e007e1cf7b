/* test_suites.h - the test tables of the core suites, one per file, registered by
 * test_main.c. Each table ends with CU_TEST_INFO_NULL. */
#ifndef TEST_SUITES_H
#define TEST_SUITES_H

#include <CUnit/CUnit.h>

extern CU_TestInfo test_errors_tests[];      /* test_errors.c: every error code, bad args */
extern CU_TestInfo test_lifecycle_tests[];   /* test_lifecycle.c: create, clone, release */
extern CU_TestInfo test_alloc_tests[];       /* test_alloc.c: many slabs, reserve, trim */
extern CU_TestInfo test_validation_tests[];  /* test_validation.c: pointers free rejects */
extern CU_TestInfo test_bulk_tests[];        /* test_bulk.c: alloc_bulk, free_bulk */
extern CU_TestInfo test_threads_tests[];     /* test_threads.c: shared caches, many threads */
extern CU_TestInfo test_typed_tests[];       /* test_typed.c: typed caches, macros, locks */
extern CU_TestInfo test_lend_tests[];        /* test_lend.c: whole slabs lent and returned */
extern CU_TestInfo test_hardening_tests[];   /* test_hardening.c: corrupt lists, released */
extern CU_TestInfo test_cache_hooks_tests[]; /* test_cache_hooks.c: a cache's own hooks */

#endif /* TEST_SUITES_H */
