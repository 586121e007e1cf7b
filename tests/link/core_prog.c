/* The link test's core program: a cache on the program's own hooks, filled past one slab and
 * emptied again. It passes only if the library called these hooks (a shared libaslab finds
 * them in the executable) and handed every slab back. */
#include <aslab.h>
#include <stdio.h>
#include <stdlib.h>

#define OBJECTS 500 /* 64-byte objects in 4 KiB slabs: several slaves */

static unsigned slabs_fetched, slabs_returned;

static void *slab_get(size_t size, size_t align) {
    slabs_fetched++;
    return aligned_alloc(align, size);
}

static aslab_error slab_put(void *slab, size_t size, size_t align) {
    (void)size, (void)align;
    slabs_returned++;
    free(slab);
    return ASLAB_OK;
}

ASLAB_DEFINE_ALLOCATION_HOOKS(slab_get, slab_put);

static int fail(const char *what, aslab_error err) {
    printf("core: %s: %s\n", what, aslab_strerror(err));
    return 1;
}

int main(void) {
    static void *objects[OBJECTS];
    aslab_cache *cache;
    aslab_error err = aslab_cache_create(&cache, 64, 16, 4096, &aslab_spinlock);
    if (err != ASLAB_OK) return fail("aslab_cache_create", err);
    for (int i = 0; i < OBJECTS; i++) {
        err = aslab_alloc(cache, &objects[i]);
        if (err != ASLAB_OK) return fail("aslab_alloc", err);
    }
    unsigned fetched = slabs_fetched;
    for (int i = 0; i < OBJECTS; i++) {
        err = aslab_free(objects[i], 4096);
        if (err != ASLAB_OK) return fail("aslab_free", err);
    }
    err = aslab_cache_release(cache);
    if (err != ASLAB_OK) return fail("aslab_cache_release", err);
    if (fetched < 2 || slabs_returned != slabs_fetched) {
        printf("core: the program's hooks gave %u slabs and got %u back\n", slabs_fetched,
               slabs_returned);
        return 1;
    }
    printf("core: %d objects in %u slabs from the program's hooks, all handed back\n", OBJECTS,
           fetched);
    return 0;
}
