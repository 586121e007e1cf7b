/* pair_loop.c - `pair_loop MODE SIZE N`: N alloc+free pairs of SIZE bytes through an aslab
 * cache (MODE aslab, 64 KiB slabs, nolock) or glibc malloc (MODE malloc), all inside
 * run_pairs, so that `callgrind --toggle-collect=run_pairs` counts the pairs and nothing
 * else. Set-up (the cache's master slab) happens before; callgrind_pairs.sh cancels what is
 * left of it, and the first-touch costs, by differencing two values of N. */
#include "aslab.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLAB_SIZE ((size_t)65536)

void *volatile pair_sink; /* every pair's pointer escapes here, so no call can be elided */

/* External and noinline, with arguments known only at run time: the compiler keeps it as one
 * function under this name (no inlining, no specialised clone) for callgrind to find. */
__attribute__((noinline)) int run_pairs(aslab_cache *cache, size_t size, long n);

__attribute__((noinline)) int run_pairs(aslab_cache *cache, size_t size, long n) {
    if (cache != NULL) {
        for (long i = 0; i < n; i++) {
            void *p;
            if (aslab_alloc(cache, &p) != ASLAB_OK) return 1;
            pair_sink = p;
            if (aslab_free(p, SLAB_SIZE) != ASLAB_OK) return 1;
        }
    } else {
        for (long i = 0; i < n; i++) {
            void *p = malloc(size); /* glibc's malloc and free, through the PLT */
            if (p == NULL) return 1;
            pair_sink = p;
            free(p);
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    long size = argc == 4 ? atol(argv[2]) : 0, n = argc == 4 ? atol(argv[3]) : 0;
    int aslab = argc == 4 && strcmp(argv[1], "aslab") == 0;
    if (size < 4 || n < 0 || (!aslab && (argc != 4 || strcmp(argv[1], "malloc") != 0))) {
        fprintf(stderr, "usage: %s aslab|malloc SIZE N\n", argv[0]);
        return 2;
    }
    aslab_cache *cache = NULL;
    if (aslab) {
        aslab_error err = aslab_cache_create(&cache, (size_t)size, 8, SLAB_SIZE, &aslab_nolock);
        if (err != ASLAB_OK) {
            fprintf(stderr, "pair_loop: aslab_cache_create: %s\n", aslab_strerror(err));
            return 1;
        }
    }
    if (run_pairs(cache, (size_t)size, n) != 0) {
        fprintf(stderr, "pair_loop: an allocation or a free failed\n");
        return 1;
    }
    return cache != NULL && aslab_cache_release(cache) != ASLAB_OK;
}
