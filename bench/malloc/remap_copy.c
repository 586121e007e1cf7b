/* remap_copy.c - `remap_copy [MAX_KIB [TOTAL_MIB]]`: what it costs to move a block of S bytes
 * that grows to 2S, for S from 64 KiB to MAX_KIB (default 256 MiB), with no allocator in the
 * way: the crossover between a copy and mremap that sets where realloc should remap.
 *
 *   copy-warm  memcpy to a destination whose pages are resident (an allocator's free memory)
 *   copy-cold  memcpy to fresh pages (each faulted in as it is written)
 *   remap      mremap(MREMAP_MAYMOVE | MREMAP_FIXED) onto a reserved range (the page tables move)
 *
 * The source is written whole before each move; the new half is not written by any (its cost
 * is the same whoever moved the block). Each size is moved until about TOTAL_MIB (default
 * 2048) have moved. Reported per move, in microseconds of the process's CPU time (user and
 * system: it counts the kernel's share, which callgrind cannot, and less of other processes'
 * load than wall time does). One line per size on stdout:
 *   size_kib copy_warm_us copy_cold_us remap_us
 */
#define _GNU_SOURCE
#include "bench_util.h"

#include <sys/mman.h>

static double cpu_sec(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *map(size_t size, int prot) {
    void *p = mmap(NULL, size, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) die("remap_copy: mmap failed");
    return p;
}

/* Microseconds of CPU per move of `size` bytes, `n` moves, by `how`; the source written
 * anew before each (not timed). */
static double per_move(const char *how, size_t size, long n) {
    double spent = 0;
    unsigned char *warm =
        strcmp(how, "copy-warm") == 0 ? map(2 * size, PROT_READ | PROT_WRITE) : NULL;
    if (warm != NULL) memset(warm, 1, 2 * size);
    for (long i = 0; i < n; i++) {
        unsigned char *src = map(size, PROT_READ | PROT_WRITE);
        memset(src, (int)i, size);
        double t0 = cpu_sec();
        if (strcmp(how, "remap") == 0) {
            void *to = map(2 * size, PROT_NONE);
            void *got = mremap(src, size, 2 * size, MREMAP_MAYMOVE | MREMAP_FIXED, to);
            if (got != to) die("remap_copy: mremap failed");
            spent += cpu_sec() - t0;
            munmap(to, 2 * size);
            continue;
        }
        unsigned char *dst = warm != NULL ? warm : map(2 * size, PROT_READ | PROT_WRITE);
        memcpy(dst, src, size);
        munmap(src, size); /* the old block's pages go back, as a free of a large block's would */
        spent += cpu_sec() - t0;
        if (dst != warm) munmap(dst, 2 * size);
    }
    if (warm != NULL) munmap(warm, 2 * size);
    return spent * 1e6 / (double)n;
}

int main(int argc, char **argv) {
    size_t max = (size_t)arg_long(argc, argv, 1, 256 << 10) << 10;
    size_t total = (size_t)arg_long(argc, argv, 2, 2048) << 20;
    printf("size_kib copy_warm_us copy_cold_us remap_us\n");
    for (size_t size = (size_t)64 << 10; size <= max; size *= 2) {
        long n = (long)(total / size);
        if (n < 4) n = 4;
        double warm = per_move("copy-warm", size, n), cold = per_move("copy-cold", size, n);
        double remap = per_move("remap", size, n);
        printf("%8zu %12.1f %12.1f %8.1f\n", size >> 10, warm, cold, remap);
    }
    return 0;
}
