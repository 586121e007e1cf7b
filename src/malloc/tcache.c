/* tcache.c - refilling and flushing thread caches in batches, and the thread's life cycle:
 * set-up on its first slow call, flush at exit (pthread key destructor). */
#include "tcache.h"

#include "fallback.h"
#include "options.h"

#include <errno.h>
#include <pthread.h>

__thread aslab__tcache aslab__tc ASLAB_TLS;
aslab__class_counters aslab__counters[ASLAB_CLASS_SLOTS];
static pthread_key_t exit_key;

/* The first refill of a class takes this many objects; each later one twice as many, up to
 * the class's batch: a short-lived process or a rarely used class does not fill a bin it
 * will never empty. */
#define ASLAB_FIRST_FILL 8

static void count_out(unsigned cls, int64_t delta) {
    int64_t now = __atomic_add_fetch(&aslab__counters[cls].out, delta, __ATOMIC_RELAXED);
    int64_t peak = __atomic_load_n(&aslab__counters[cls].peak_out, __ATOMIC_RELAXED);
    while (now > peak && !__atomic_compare_exchange_n(&aslab__counters[cls].peak_out, &peak, now, 1,
                                                      __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}

static void merge_requests(aslab__bin *bin, unsigned cls) {
    if (bin->requests == 0) return;
    __atomic_add_fetch(&aslab__counters[cls].requests, bin->requests, __ATOMIC_RELAXED);
    bin->requests = 0;
}

/* Takes a batch from the class cache: returns one object and keeps the rest in the bin. */
static void *bin_refill(aslab__bin *bin, unsigned cls) {
    void *objs[256];
    aslab__arena_set_class(cls);
    size_t got = aslab_alloc_bulk(aslab__class_cache[cls], objs, bin->fill);
    if (got == 0) return NULL;
    if (bin->fill < aslab__classes[cls].batch) bin->fill *= 2; /* a class in use earns more */
    for (size_t i = got - 1; i > 0; i--) {
        *(void **)objs[i] = bin->head;
        bin->head = objs[i];
    }
    bin->count += (uint32_t)(got - 1);
    count_out(cls, (int64_t)got);
    merge_requests(bin, cls);
    return objs[0];
}

/* Gives the bin's objects back to the class cache until `keep` remain. */
static void bin_flush(aslab__bin *bin, unsigned cls, uint32_t keep) {
    void *objs[256];
    while (bin->count > keep) {
        size_t n = 0;
        while (bin->count > keep && n < 256) {
            objs[n++] = bin->head;
            bin->head = *(void **)bin->head;
            bin->count--;
        }
        aslab__arena_set_class(cls);
        size_t slab_size = (size_t)1 << aslab__classes[cls].slab_shift;
        aslab_error err = aslab_free_bulk(objs, n, slab_size);
        if (err != ASLAB_OK) aslab__heap_fault("free()", aslab_strerror(err), objs[0]);
        count_out(cls, -(int64_t)n);
    }
    merge_requests(bin, cls);
}

static void tcache_thread_exit(void *arg) {
    (void)arg;
    aslab__tc.state = ASLAB_TC_DEAD;
    for (unsigned cls = 1; cls <= ASLAB_NUM_CLASSES; cls++) {
        aslab__bin *bin = &aslab__tc.bins[cls];
        bin->limit = 0;
        bin_flush(bin, cls, 0);
    }
}

int aslab__tcache_global_init(void) {
    return pthread_key_create(&exit_key, tcache_thread_exit);
}

/* First slow call of a thread. pthread_setspecific may allocate: while it runs the state is
 * SETUP, and such a nested call takes the direct path. */
static void tcache_setup(void) {
    if (!aslab__options.tcache) {
        aslab__tc.state = ASLAB_TC_DEAD;
        return;
    }
    aslab__tc.state = ASLAB_TC_SETUP;
    pthread_setspecific(exit_key, &aslab__tc);
    for (unsigned cls = 1; cls <= ASLAB_NUM_CLASSES; cls++) {
        aslab__tc.bins[cls].limit = aslab__classes[cls].tcache_max;
        aslab__tc.bins[cls].fill = ASLAB_FIRST_FILL;
    }
    aslab__tc.state = ASLAB_TC_LIVE;
}

/* Without a thread cache: one object straight from the class cache. */
static void *direct_alloc(unsigned cls) {
    void *obj = NULL;
    aslab__arena_set_class(cls);
    if (aslab_alloc(aslab__class_cache[cls], &obj) != ASLAB_OK) return NULL;
    count_out(cls, 1);
    __atomic_add_fetch(&aslab__counters[cls].requests, 1, __ATOMIC_RELAXED);
    return obj;
}

void *aslab__malloc_slow(size_t size) {
    if (!aslab__heap_init()) return aslab__fb_malloc(size != 0 ? size : 1);
    unsigned cls = aslab__class_of(size);
    if (aslab__class_cache_get(cls) == NULL) return aslab__fb_malloc(aslab__classes[cls].size);
    if (aslab__tc.state == ASLAB_TC_NEW) tcache_setup();
    aslab__bin *bin = &aslab__tc.bins[cls];
    void **obj;
    if (aslab__tc.state == ASLAB_TC_LIVE) {
        bin->limit = aslab__classes[cls].tcache_max; /* back from pass-through, if it was */
        obj = bin_refill(bin, cls);
        if (obj != NULL) bin->requests++;
    } else {
        obj = direct_alloc(cls);
    }
    if (obj == NULL) { /* the arena could not grow (RLIMIT_AS?): the fallback may still */
        obj = aslab__fb_malloc(aslab__classes[cls].size);
        if (obj == NULL) errno = ENOMEM;
        return obj;
    }
    obj[1] = NULL;
    return obj;
}

/* One object straight back to its class cache. */
static void direct_free(void *p, unsigned cls) {
    aslab_error err = aslab_free(p, (size_t)1 << aslab__classes[cls].slab_shift);
    if (err != ASLAB_OK) aslab__heap_fault("free()", aslab_strerror(err), p);
    count_out(cls, -1);
}

/* A bin that overflows with no allocation from its class since its last refill or flush is
 * being drained by a free-only phase (a consumer thread, a program tearing a structure
 * down, a burst before going idle). Caching more would only pin slabs, one each in the
 * worst case, that could go back to the OS: the bin empties and passes frees straight to
 * the class cache (limit 0) until its thread allocates from the class again. */
void aslab__free_slow(void *p, unsigned cls) {
    if (aslab__tc.state == ASLAB_TC_NEW) tcache_setup();
    aslab__bin *bin = &aslab__tc.bins[cls];
    uintptr_t *obj = p;
    obj[1] = aslab__free_key;
    if (aslab__tc.state != ASLAB_TC_LIVE || bin->limit == 0) {
        direct_free(p, cls);
        return;
    }
    if (bin->requests == 0) {
        bin_flush(bin, cls, 0);
        bin->limit = 0;
        direct_free(p, cls);
        return;
    }
    bin_flush(bin, cls, bin->limit / 2);
    obj[0] = (uintptr_t)bin->head;
    bin->head = obj;
    bin->count++;
}

void aslab__tcache_flush_all(void) {
    for (unsigned cls = 1; cls <= ASLAB_NUM_CLASSES; cls++)
        bin_flush(&aslab__tc.bins[cls], cls, 0);
}

size_t aslab__tcache_cached(unsigned cls) {
    return aslab__tc.bins[cls].count;
}

void aslab__tcache_merge_requests(void) {
    for (unsigned cls = 1; cls <= ASLAB_NUM_CLASSES; cls++)
        merge_requests(&aslab__tc.bins[cls], cls);
}
