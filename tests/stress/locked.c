/* locked.c - memory of a process that locks all of it, as cryptsetup, chronyd and real-time
 * audio programs do: mlockall(MCL_CURRENT | MCL_FUTURE).
 *
 * Under MCL_FUTURE the kernel faults in and locks every page of a writable mapping as it is
 * made, touched or not. aslab mapped its regions writable 16 at a time (4 MiB) and a medium
 * class's slab whole (up to 16 MiB for one block), so 1,000 small blocks and 20 medium ones
 * locked 149 MiB (glibc 7, jemalloc 9). Its regions are now reserved read-only and made
 * writable a slab, or in a large slab a grain, at a time (src/malloc/arena.c). This program
 * locks, allocates and writes small and medium blocks, and fails when the resident memory grew
 * by more than --bound-mib. Without the right to lock (no CAP_IPC_LOCK, RLIMIT_MEMLOCK too
 * low) it says so and passes: there is nothing to measure.
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

#define SMALL_BLOCKS  1000
#define MEDIUM_BLOCKS 20

/* The process's resident memory, in KiB (VmRSS); 0 if it cannot be read. */
static long resident_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL) return 0;
    char line[256];
    long kib = 0;
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "VmRSS:", 6) == 0) kib = strtol(line + 6, NULL, 10);
    fclose(f);
    return kib;
}

int main(int argc, char **argv) {
    long long bound_mib = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--bound-mib") == 0) {
            bound_mib = option_value("locked", argc, argv, &i);
        } else {
            fprintf(stderr, "usage: locked [--bound-mib B]\n");
            return 2;
        }
    }
    free(malloc(1)); /* the allocator set up before the lock, as in a program that locks later */
    if (mlockall(MCL_CURRENT | MCL_FUTURE) != 0) {
        printf("locked: mlockall: %s: skipped\n", strerror(errno));
        return 0;
    }
    long before = resident_kib();
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
    long grew = resident_kib() - before;
    for (size_t i = 0; i < SMALL_BLOCKS; i++)
        free(small[i]);
    for (size_t i = 0; i < MEDIUM_BLOCKS; i++)
        free(medium[i]);
    munlockall();
    int over = bound_mib > 0 && grew > bound_mib << 10;
    printf("locked: resident memory grew %ld KiB for %d small and %d medium blocks (bound %lld "
           "MiB)%s\n",
           grew, SMALL_BLOCKS, MEDIUM_BLOCKS, bound_mib, over ? ": FAIL" : "");
    return over;
}
