/* test_hooks.h - the allocation hooks of the core tests: aligned_alloc/free behind a
 * ledger of every block handed out, with failure injection.
 *
 * The ledger checks the core's side of the hook contract: size == align, a power of two,
 * every freed block one the alloc hook returned, with the size it was asked for. A
 * breach counts as a violation. Every test runs between th_test_setup and
 * th_test_teardown, and the teardown fails the test unless it ended with no violation
 * and as many blocks outstanding as it began with (zero, unless an earlier test leaked).
 * All state sits behind one mutex, so the hooks may be called from any thread.
 */
#ifndef TEST_HOOKS_H
#define TEST_HOOKS_H

#include <stddef.h>

/* Offset of a misaligned block from the slab-aligned base it was carved from. */
#define TH_MISALIGN_OFFSET 64

/* Blocks the alloc hook gave and the free hook has not yet taken back. */
size_t th_outstanding(void);
/* Calls of each hook since the test began (th_allocs counts only blocks given). */
size_t th_allocs(void);
size_t th_frees(void);
size_t th_violations(void);
/* The size a live block was asked with, or 0 if block is not one the hook gave. */
size_t th_block_size(const void *block);

/* After `skip` more successful allocations, the next `count` return NULL. */
void th_fail_allocs(unsigned skip, unsigned count);
/* The next `count` allocations return a block not aligned to the slab size. */
void th_misalign_allocs(unsigned count);
/* The next `count` frees release the memory but return an error. */
void th_fail_frees(unsigned count);

/* CUnit per-test setup and teardown (see above). */
void th_test_setup(void);
void th_test_teardown(void);

#endif /* TEST_HOOKS_H */
