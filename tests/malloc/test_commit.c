/* test_commit.c - what malloc answers when the kernel refuses to make a slab's memory
 * writable. Under strict overcommit or mlockall(MCL_FUTURE) the arena reserves a slab larger
 * than a region read-only and makes it writable as its blocks are handed out (arena.c,
 * refill.c's writable_to); at the commit limit the kernel refuses. A malloc that meets the
 * refusal must serve the block some other way or return NULL with errno ENOMEM: a new slab
 * whose header page got in but whose first block did not returned NULL with errno untouched
 * (session 37's CI run, commit_limit.sh's blocks of 200,000 bytes).
 *
 * The scenario takes mprotect's place for the library (linked statically, its calls are this
 * binary's): while armed, a call that would make more than a page writable fails with ENOMEM,
 * as the limit does once only a page or so is left.
 *
 *   commit-refused   mlockall(MCL_FUTURE), then blocks of medium classes whose slabs are
 *                    larger than a region, with the refusal armed: each one served and
 *                    writable, or NULL with ENOMEM; then, disarmed, served again. Prints
 *                    "served <n> refused <n>", or "skip: ..." where mlockall is refused.
 */
#define _GNU_SOURCE
#include "test_child.h"
#include "test_suites.h"
#include "test_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static volatile int refuse_commits;

/* The library's mprotect (see above); the kernel's otherwise. */
int mprotect(void *addr, size_t len, int prot) {
    if (refuse_commits && (prot & PROT_WRITE) && len > (size_t)sysconf(_SC_PAGESIZE)) {
        errno = ENOMEM;
        return -1;
    }
    return (int)syscall(SYS_mprotect, addr, len, prot);
}

#define BLOCKS_EACH 6

/* Sizes of medium classes with slabs larger than a region (512 KiB at most): 200,000 bytes
 * (commit_limit.sh's), 320 KiB (4 MiB slabs) and the largest class. */
static const size_t refused_sizes[] = {200000, 320 * TM_KIB, TM_MEDIUM_TOP};
#define REFUSED_SIZES (sizeof refused_sizes / sizeof *refused_sizes)

/* Asks for BLOCKS_EACH blocks of `size` with the refusal armed; counts the served and the
 * refused ones; 0 if each was one or the other as it should be. */
static int blocks_under_refusal(size_t size, void **blocks, size_t *served, size_t *refused) {
    int ok = 1;
    for (int i = 0; i < BLOCKS_EACH; i++) {
        errno = 0;
        refuse_commits = 1;
        blocks[i] = malloc(size);
        int saved = errno;
        refuse_commits = 0;
        if (blocks[i] != NULL) {
            memset(blocks[i], 0x5a, size); /* faults if the pages are still read-only */
            ++*served;
        } else if (saved == ENOMEM) {
            ++*refused;
        } else {
            printf("FAIL malloc(%zu): NULL with errno %d, not ENOMEM\n", size, saved);
            ok = 0;
        }
    }
    return ok;
}

/* Whether the lock's limit leaves room for what the scenario maps (RLIMIT_MEMLOCK binds a
 * process without CAP_IPC_LOCK: 8 MiB by default), tried with a mapping of that size. */
#define LOCKED_ROOM (64 * TM_MIB)
static int room_to_lock(void) {
    void *probe =
        mmap(NULL, LOCKED_ROOM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (probe == MAP_FAILED) return 0;
    munmap(probe, LOCKED_ROOM);
    return 1;
}

int tm_commit_refused(void) {
    if (mlockall(MCL_FUTURE) != 0) {
        printf("skip: mlockall: %s\n", strerror(errno));
        return 0;
    }
    if (!room_to_lock()) {
        munlockall();
        printf("skip: no room to lock %zu MiB (RLIMIT_MEMLOCK)\n", LOCKED_ROOM / TM_MIB);
        return 0;
    }
    size_t served = 0, refused = 0;
    int ok = 1;
    for (size_t s = 0; s < REFUSED_SIZES; s++) {
        void *blocks[BLOCKS_EACH], *again;
        ok &= blocks_under_refusal(refused_sizes[s], blocks, &served, &refused);
        if ((again = malloc(refused_sizes[s])) == NULL) {
            printf("FAIL malloc(%zu) once the kernel agrees again: NULL\n", refused_sizes[s]);
            ok = 0;
        } else {
            memset(again, 0xa5, refused_sizes[s]);
        }
        free(again);
        for (int i = 0; i < BLOCKS_EACH; i++)
            free(blocks[i]);
    }
    munlockall();
    printf("served %zu refused %zu\n", served, refused);
    return ok ? 0 : 1;
}

static void test_commit_refused(void) {
    tm_child c;
    tm_child_scenario(&c, "commit-refused", NULL, 0, TM_CHILD_TIMEOUT_MS);
    size_t served = 0, refused = 0;
    int skipped = strncmp(c.out, "skip", 4) == 0;
    int ok = tm_child_exited(&c, 0) &&
             (skipped || sscanf(c.out, "served %zu refused %zu", &served, &refused) == 2);
    ok = ok && c.err_len == 0; /* no complaint: the fallback's set-up ran under mlockall */
    if (!ok || skipped) tm_child_dump(&c, "commit-refused");
    CU_ASSERT(ok);
    CU_ASSERT(skipped || served + refused == REFUSED_SIZES * BLOCKS_EACH);
}

CU_TestInfo test_commit_tests[] = {
    {"a slab's memory refused writable: the block served, or NULL with ENOMEM",
     test_commit_refused},
    CU_TEST_INFO_NULL,
};
