/* The README's example, compiled and run by `make test` so that it cannot rot. */
#include <aslab.h>
#include <stdio.h>
#include <stdlib.h>

/* 1. The hooks: where slabs come from. Here the C library; a kernel would hand out pages. */
static void *slab_get(size_t size, size_t align) {
    return aligned_alloc(align, size);
}
static aslab_error slab_put(void *slab, size_t size, size_t align) {
    (void)size, (void)align;
    free(slab);
    return ASLAB_OK;
}
ASLAB_DEFINE_ALLOCATION_HOOKS(slab_get, slab_put);

/* 2. A typed cache: pairs_create, pairs_alloc, pairs_free, checked at compile time. */
struct pair {
    long key, value;
};
ASLAB_TYPED_CACHE(pairs, struct pair, 4096, &aslab_spinlock);

/* 3. A custom lock: any ops table whose state fits in ASLAB_LOCK_MAX bytes. */
static unsigned lock_calls;
static void ticket_init(void *state) {
    ((unsigned *)state)[0] = ((unsigned *)state)[1] = 0;
}
static void ticket_lock(void *state) {
    unsigned *t = state, mine = __atomic_fetch_add(&t[0], 1, __ATOMIC_RELAXED);
    while (__atomic_load_n(&t[1], __ATOMIC_ACQUIRE) != mine) {
    }
    lock_calls++;
}
static void ticket_unlock(void *state) {
    unsigned *t = state;
    __atomic_store_n(&t[1], t[1] + 1, __ATOMIC_RELEASE);
}
static const aslab_lock_ops ticket_lock_ops = {2 * sizeof(unsigned), ticket_init, ticket_lock,
                                               ticket_unlock, NULL};

int main(void) {
    aslab_cache *cache;
    aslab_error err = pairs_create(&cache);
    if (err != ASLAB_OK) {
        fprintf(stderr, "pairs_create: %s\n", aslab_strerror(err));
        return 1;
    }
    struct pair *p = pairs_alloc(cache);
    if (p == NULL) return 1;
    p->key = 1, p->value = 42;
    {
        /* 4. Scope-bound: q is freed when the block ends. */
        struct pair *q ASLAB_AUTOFREE(4096) = pairs_alloc(cache);
        long *value = ASLAB_FIELD_PTR(q, struct pair, value); /* NULL if q is NULL */
        if (value != NULL) *value = p->value;
    }
    struct pair *r = pairs_alloc(cache);
    pairs_free(r);
    printf("second free of r: %s\n", aslab_strerror(pairs_free(r))); /* double free, harmless */
    /* p outlives the handle, and its free hands the last slab back. */
    aslab_cache_release(cache);
    err = pairs_free(p);
    if (err != ASLAB_OK) return 1;

    aslab_cache *strings;
    err = aslab_cache_create(&strings, 48, 16, 16384, &ticket_lock_ops);
    if (err != ASLAB_OK) return 1;
    void *objs[100];
    size_t got = aslab_alloc_bulk(strings, objs, 100); /* one lock round */
    err = aslab_free_bulk(objs, got, 16384);
    aslab_cache_stats stats;
    aslab_cache_stats_get(strings, &stats);
    printf("%zu objects in %zu slabs, %zu in use, lock taken %u times\n", got, stats.slabs,
           stats.objects_in_use, lock_calls);
    aslab_cache_release(strings);
    return err == ASLAB_OK ? 0 : 1;
}
