/* core_and_malloc.c - one program, two allocators: the core (include/aslab.h) with hooks of
 * its own, slabs from a static pool, and aslab's malloc from libaslab_malloc.a, which runs on
 * a private copy of the core with hooks of its own. Linked with the core from
 * libaslab_malloc.a alone, and with libaslab.a before it: both links must succeed (the
 * malloc's hooks are internal) and each allocator must keep to its own slabs. Prints "ok"
 * and exits 0, or names what failed and exits 1. */
#include <aslab.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLAB  65536
#define SLABS 16

static int failures;

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "core_and_malloc: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                                 \
        }                                                                               \
    } while (0)

static unsigned char pool[SLABS][SLAB] __attribute__((aligned(SLAB)));
static int pool_used[SLABS];
static unsigned hook_allocs, hook_frees;

static void *pool_get(size_t size, size_t align) {
    if (size != SLAB || align != SLAB) return NULL;
    for (int i = 0; i < SLABS; i++)
        if (!pool_used[i]) {
            pool_used[i] = 1;
            hook_allocs++;
            return pool[i];
        }
    return NULL;
}

static aslab_error pool_put(void *slab, size_t size, size_t align) {
    (void)size, (void)align;
    size_t i = (size_t)((unsigned char(*)[SLAB])slab - pool);
    if (i >= SLABS || !pool_used[i]) return ASLAB_ERR_INVALID_POINTER;
    pool_used[i] = 0;
    hook_frees++;
    return ASLAB_OK;
}

ASLAB_DEFINE_ALLOCATION_HOOKS(pool_get, pool_put);

static int in_pool(const void *p) {
    return (const unsigned char *)p >= pool[0] && (const unsigned char *)p < pool[SLABS];
}

/* aslab's malloc, small and large, never asks the program's hooks for a slab. */
static void check_malloc(void) {
    static void *blocks[4000];
    for (size_t i = 0; i < 4000; i++) {
        size_t size = (i % 40) * 450 + 1; /* 1 B to 17 KiB: small classes and the fallback */
        blocks[i] = malloc(size);
        CHECK(blocks[i] != NULL && !in_pool(blocks[i]));
        if (blocks[i] != NULL) memset(blocks[i], (int)i, size);
    }
    for (size_t i = 0; i < 4000; i++)
        free(blocks[i]);
    CHECK(hook_allocs == 0);
    CHECK(malloc_usable_size(malloc(100)) == 112); /* aslab's class; leaked on purpose */
}

/* The program's caches take their slabs from its hooks, while malloc keeps working. */
static void check_core(void) {
    aslab_cache *cache;
    CHECK(aslab_cache_create(&cache, 64, 16, SLAB, &aslab_nolock) == ASLAB_OK);
    if (failures) return;
    static void *objs[3000];
    for (size_t i = 0; i < 3000; i++) {
        CHECK(aslab_alloc(cache, &objs[i]) == ASLAB_OK && in_pool(objs[i]));
        memset(objs[i], (int)i, 64);
        free(malloc(i + 1)); /* interleaved with the malloc */
    }
    CHECK(hook_allocs >= 3); /* 3000 * 64 B need a master and slaves */
    for (size_t i = 0; i < 3000; i++) {
        CHECK(((unsigned char *)objs[i])[63] == (unsigned char)i);
        CHECK(aslab_free(objs[i], SLAB) == ASLAB_OK);
    }
    CHECK(aslab_free(objs[0], SLAB) == ASLAB_ERR_DOUBLE_FREE);
    CHECK(aslab_cache_release(cache) == ASLAB_OK);
    CHECK(hook_frees == hook_allocs);
}

int main(void) {
    check_malloc();
    check_core();
    if (failures != 0) return 1;
    printf("ok\n");
    return 0;
}
