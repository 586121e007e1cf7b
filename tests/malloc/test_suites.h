/* test_suites.h - the test tables of the malloc suites, one per file, registered by
 * test_main.c. Each table ends with CU_TEST_INFO_NULL. */
#ifndef TM_SUITES_H
#define TM_SUITES_H

#include <CUnit/CUnit.h>

extern CU_TestInfo test_entry_points_tests[];   /* test_entry_points.c: malloc, calloc, sizes */
extern CU_TestInfo test_realloc_tests[];        /* test_realloc.c: realloc, reallocarray */
extern CU_TestInfo test_aligned_tests[];        /* test_aligned.c: the aligned family */
extern CU_TestInfo test_medium_tests[];         /* test_medium.c: 16 KiB to 1 MiB, every entry */
extern CU_TestInfo test_medium_threads_tests[]; /* test_medium_threads.c: ... across threads */
extern CU_TestInfo test_calloc_tests[];         /* test_calloc.c: what medium calloc clears */
extern CU_TestInfo test_stats_tests[];          /* test_stats.c: trim, mallinfo2, malloc_stats */
extern CU_TestInfo test_foreign_tests[];        /* test_foreign.c: jemalloc's and glibc's names */
extern CU_TestInfo test_cxx_tests[];            /* test_cxx.c: operator new and delete */
extern CU_TestInfo test_threads_tests[];        /* test_threads.c: cross-thread free, exit */
extern CU_TestInfo test_remote_tests[];      /* test_remote.c: thread-owned slabs across threads */
extern CU_TestInfo test_kept_tests[];        /* test_kept.c: others' blocks kept by their freer */
extern CU_TestInfo test_own_kept_tests[];    /* test_own_kept.c: own blocks of full slabs kept */
extern CU_TestInfo test_keep_policy_tests[]; /* test_keep_policy.c: when a thread keeps them */
extern CU_TestInfo test_fork_tests[];        /* test_fork.c: fork under load */
extern CU_TestInfo test_misuse_tests[];      /* test_misuse.c: faults that must abort */
extern CU_TestInfo test_direct_tests[];      /* test_direct.c: directly mapped large blocks */
extern CU_TestInfo test_large_live_tests[];  /* test_large_live.c: the fallback's live blocks */
extern CU_TestInfo test_options_tests[];     /* test_options.c: ASLAB_*, RLIMIT_AS */
extern CU_TestInfo test_slot_tests[];        /* test_slot.c: the free path's slot test */
extern CU_TestInfo test_layout_tests[];      /* test_layout.c: where a slab's blocks lie */
extern CU_TestInfo test_empty_tests[];       /* test_empty.c: emptied slabs kept, given back */
extern CU_TestInfo test_os_tests[];          /* test_os.c: aligned mappings from the kernel */
extern CU_TestInfo test_commit_tests[];      /* test_commit.c: memory the kernel refuses */
extern CU_TestInfo test_math_tests[]; /* test_math.c: the private jemalloc's exp, log, round */

/* test_scenarios.c: `test_malloc --scenario name`, the programs that test_options.c and
 * test_fork.c run in a fresh process with chosen options; returns the exit status. */
int tm_scenario_main(const char *name);
/* test_calloc.c's scenarios, which the table of test_scenarios.c names. */
int tm_calloc_fresh(void);
int tm_calloc_recycled(void);
int tm_calloc_clean(void);
int tm_calloc_locked(void);
int tm_calloc_sparse(void);
/* test_layout.c's scenario: a partial slab and a current one with never-used blocks. */
int tm_partial_first(void);
/* test_stats.c's scenario: slabs of several classes freed in turn under a small cap. */
int tm_discard_runs(void);
/* test_commit.c's scenario: blocks whose slab's memory the kernel refuses writable. */
int tm_commit_refused(void);
/* test_fork.c's fork storm, which the scenario "fork" runs under ASLAB_DECAY_MS=0; 0 if all
 * went well. */
int tm_fork_under_load(int forks);

#endif /* TM_SUITES_H */
