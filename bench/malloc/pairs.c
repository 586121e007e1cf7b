/* pairs.c - `pairs [N]`: for each size from 16 B to 1 MiB (powers of two), N malloc+free
 * pairs (default 4000000; above 32 KiB, N * 32 KiB / size, so that a peer whose path maps
 * and unmaps each block still finishes), touching the first and last byte of each block.
 * The cost of the allocator's fastest path at each size, and where each allocator leaves
 * it. */
#include "bench_util.h"

void *volatile pairs_sink; /* every block escapes here, so no pair can be elided */

__attribute__((noinline)) static uint64_t run_pairs(size_t size, long n) {
    uint64_t sum = 0;
    for (long i = 0; i < n; i++) {
        unsigned char *p = malloc(size);
        if (p == NULL) die("pairs: malloc failed");
        p[0] = (unsigned char)i;
        p[size - 1] = (unsigned char)(i >> 8);
        pairs_sink = p;
        sum += (uint64_t)p[0] + p[size - 1];
        free(p);
    }
    return sum;
}

#define FULL_N_MAX 32768 /* sizes up to this get all N pairs */

int main(int argc, char **argv) {
    long n_arg = arg_long(argc, argv, 1, 4000000);
    uint64_t total = 0;
    for (size_t size = 16; size <= ((size_t)1 << 20); size *= 2) {
        long n = size <= FULL_N_MAX ? n_arg : n_arg / (long)(size / FULL_N_MAX);
        if (n < 1) n = 1;
        double t0 = now_sec();
        uint64_t sum = run_pairs(size, n);
        double ns = (now_sec() - t0) * 1e9 / (double)n;
        char name[32];
        snprintf(name, sizeof name, "ns_per_pair_%zu", size);
        metric(name, ns);
        printf("pairs: size %zu, %ld pairs, checksum %llu\n", size, n, (unsigned long long)sum);
        total += sum;
    }
    printf("pairs: total checksum %llu\n", (unsigned long long)total);
    return 0;
}
