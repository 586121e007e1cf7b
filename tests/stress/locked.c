/* locked.c - memory of a process that locks all of it, as cryptsetup, chronyd and real-time
 * audio programs do: mlockall(MCL_CURRENT | MCL_FUTURE).
 *
 * Under MCL_FUTURE the kernel faults in and locks every page of a writable mapping as it is
 * made, touched or not. aslab mapped its regions writable 16 at a time (4 MiB) and a medium
 * class's slab whole (up to 16 MiB for one block), so 1,000 small blocks and 20 medium ones
 * locked 149 MiB (glibc 7, jemalloc 9). Its regions are now reserved read-only and made
 * writable a slab, or in a large slab a grain, at a time (src/malloc/arena.c). This program
 * locks, allocates and writes small and medium blocks, and fails when the resident memory grew
 * by more than --bound-mib. Then, still locked, under an address-space limit 192 MiB above
 * what it has mapped, it fills the space with 16 KiB blocks, frees them, fills it with 1 KiB
 * blocks (free regions change class: split, made writable whole), frees them, and takes
 * 16 KiB blocks again (merged back): each fill must end in NULL and ENOMEM, every block be
 * writable, and the last take 64 MiB. Without the right to lock (no CAP_IPC_LOCK,
 * RLIMIT_MEMLOCK too low) it says so and passes: there is nothing to measure.
 *
 *   locked [--bound-mib B]   (B 0: report only)
 */
#define _GNU_SOURCE
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#define SMALL_BLOCKS  1000
#define MEDIUM_BLOCKS 20

/* A field of /proc/self/status in KiB ("VmRSS:", "VmSize:"); 0 if it cannot be read. */
static long status_kib(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL) return 0;
    char line[256];
    long kib = 0;
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, field, strlen(field)) == 0) kib = strtol(line + strlen(field), NULL, 10);
    fclose(f);
    return kib;
}

#define FILL_MAX (1 << 20)
static void *fill[FILL_MAX];

/* Blocks of `size`, each written whole, until malloc says no (at most `max`): how many; -1
 * when it did not say so with ENOMEM. The blocks are freed. */
static long fill_and_free(size_t size, long max) {
    long n = 0;
    errno = 0;
    while (n < max && (fill[n] = malloc(size)) != NULL)
        memset(fill[n++], 0x5a, size);
    long result = n < max && errno != ENOMEM ? -1 : n;
    while (n > 0)
        free(fill[--n]);
    return result;
}

/* Locked, under an address-space limit: regions change class as the space runs out. */
static int recycle_locked(void) {
    struct rlimit limit;
    if (getrlimit(RLIMIT_AS, &limit) != 0) return 0;
    rlim_t soft = (rlim_t)(status_kib("VmSize:") + (192 << 10)) << 10;
    if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < soft) return 1; /* cannot test */
    struct rlimit lowered = {soft, limit.rlim_max};
    if (setrlimit(RLIMIT_AS, &lowered) != 0) return 0;
    long large = fill_and_free(16 << 10, FILL_MAX);
    long small = fill_and_free(1 << 10, FILL_MAX);
    long again = fill_and_free(16 << 10, 4096); /* 64 MiB */
    setrlimit(RLIMIT_AS, &limit);
    int ok = large > 0 && large < FILL_MAX && small > 0 && small < FILL_MAX && again == 4096;
    printf("locked: under the address-space limit: %ld blocks of 16 KiB, %ld of 1 KiB, %ld of "
           "16 KiB again%s\n",
           large, small, again, ok ? "" : ": FAIL");
    return ok;
}

int main(int argc, char **argv) {
    long long bound_mib = bound_mib_option("locked", argc, argv);
    free(malloc(1)); /* the allocator set up before the lock, as in a program that locks later */
    if (mlockall(MCL_CURRENT | MCL_FUTURE) != 0) {
        printf("locked: mlockall: %s: skipped\n", strerror(errno));
        return 0;
    }
    long before = status_kib("VmRSS:");
    static void *small[SMALL_BLOCKS], *medium[MEDIUM_BLOCKS];
    for (size_t i = 0; i < SMALL_BLOCKS; i++) {
        small[i] = malloc(16 + i * 37 % 3000); /* most classes up to 3 KiB */
        if (small[i] == NULL) return 1;
        memset(small[i], 1, 16);
    }
    for (size_t i = 0; i < MEDIUM_BLOCKS; i++) {
        medium[i] = malloc(20000 + i * 45000); /* 20 KB to 875 KB */
        if (medium[i] == NULL) return 1;
        memset(medium[i], 1, 4096);
    }
    long grew = status_kib("VmRSS:") - before;
    for (size_t i = 0; i < SMALL_BLOCKS; i++)
        free(small[i]);
    for (size_t i = 0; i < MEDIUM_BLOCKS; i++)
        free(medium[i]);
    int over = bound_mib > 0 && grew > bound_mib << 10;
    printf("locked: resident memory grew %ld KiB for %d small and %d medium blocks (bound %lld "
           "MiB)%s\n",
           grew, SMALL_BLOCKS, MEDIUM_BLOCKS, bound_mib, over ? ": FAIL" : "");
    int recycled = recycle_locked();
    munlockall();
    return over || !recycled;
}
