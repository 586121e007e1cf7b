/* pair_calls.c - `pair_calls SIZE N`: N malloc+free pairs of SIZE bytes inside run_pairs, so
 * that `callgrind --toggle-collect=run_pairs` counts the pairs and nothing else; malloc and
 * free are whatever the dynamic linker bound (glibc, or a preloaded allocator), called
 * through the PLT, the stubs counted. One pair before run_pairs sets the allocator up;
 * the runner cancels what set-up is left by differencing two values of N. */
#include "bench_util.h"

void *volatile pair_sink; /* every block escapes here, so no call can be elided */

/* External and noinline, with arguments known only at run time: one function under this
 * name for callgrind to find. */
__attribute__((noinline)) int run_pairs(size_t size, long n);

__attribute__((noinline)) int run_pairs(size_t size, long n) {
    for (long i = 0; i < n; i++) {
        void *p = malloc(size);
        if (p == NULL) return 1;
        pair_sink = p;
        free(p);
    }
    return 0;
}

int main(int argc, char **argv) {
    long size = arg_long(argc, argv, 1, 16), n = arg_long(argc, argv, 2, 10000);
    void *p = malloc((size_t)size);
    pair_sink = p;
    free(p);
    if (run_pairs((size_t)size, n) != 0) die("pair_calls: malloc failed");
    printf("pair_calls: %ld pairs of %ld bytes\n", n, size);
    return 0;
}
