/* large.c - the fallback's freed blocks: the pool under the cap, the parked block, and
 * discarding the pages of big blocks nobody is about to reuse (see large.h). */
#include "large.h"

#include "aslab.h"
#include "fallback.h"
#include "heap.h"
#include "os.h"
#include "purge.h"

#include <string.h>

static uint64_t large_lock[2];   /* guards the four fields below */
static void *parked;             /* a freed block kept aside, or NULL */
static size_t parked_size;       /* its usable size */
static uint64_t parked_since_ms; /* when it was last freed */
static uint64_t last_big_free_ms, cycle_until_ms;

/* Big blocks' pages discarded for the cap: a block freed while the program cycled that the
 * pool had no room for, or the pool's free pages purged past the cap. A big request the
 * parked block cannot serve, or a realloc that grows a big block, may fault such pages in
 * again: then the cap learns (purge.h, the refault allowance). */
static aslab__squeezed squeezed;

static size_t pool_bytes; /* freed to the fallback and not taken since: an estimate */
static size_t live_bytes; /* the usable bytes of the fallback's blocks in the program's hands */
static uint64_t pool_since_ms; /* when the pool last went from purged to dirty; 0 = purged */
static int pool_checking;      /* one thread at a time asks the fallback for its true count */

static void lock(void) {
    aslab_futexlock.lock(large_lock);
}
static void unlock(void) {
    aslab_futexlock.unlock(large_lock);
}

static uint64_t plus(uint64_t now, uint64_t ms) {
    return ms > UINT64_MAX - now ? UINT64_MAX : now + ms;
}

/* Gives the whole pages inside the block back to the OS; the block itself stays the
 * fallback's to free. Only pages wholly inside [p, p + size) are touched: the fallback's
 * own words around the block stay. */
static void discard_pages(void *p, size_t size) {
    uintptr_t page = aslab__os_page_size();
    uintptr_t start = ((uintptr_t)p + page - 1) & ~(page - 1);
    uintptr_t end = ((uintptr_t)p + size) & ~(page - 1);
    if (end > start) aslab__os_discard((void *)start, end - start);
}

/* Frees one of the fallback's own blocks with its pages discarded first, all but the page
 * that holds its freed mark (below). */
static void free_discarded(void *p, size_t size) {
    discard_pages((char *)p + sizeof(uintptr_t), size - sizeof(uintptr_t));
    aslab__fb_free(p, "free()");
}

/* ---- the freed mark: a second free of a fallback block ----
 * jemalloc checks nothing when a block is freed twice: the second free corrupts its extent
 * heaps, and two later requests get overlapping blocks. So a fallback block the program frees
 * gets word 0 set to the free key mixed with its address (a value the program cannot write by
 * chance), and a free that finds it there aborts. The mark lives while the block's first page
 * does: a purge of the fallback's pool, or the block handed out again (whose word 0 is then
 * cleared or overwritten), ends it. Not before set-up, while the key is still 0. */

static uintptr_t freed_mark(const void *p) {
    return aslab__keys.free ^ (uintptr_t)p;
}

/* Whether p, one of the fallback's own blocks, carries the mark (never before set-up). */
static int carries_mark(const void *p) {
    return aslab__keys.free != 0 && *(const uintptr_t *)p == freed_mark(p);
}

/* Aborts if p (a fallback block the program frees) carries the mark; marks it. */
static void mark_freed(void *p, const char *fn) {
    if (aslab__keys.free == 0) return;
    if (carries_mark(p)) aslab__heap_fault(fn, "double free detected", p);
    *(uintptr_t *)p = freed_mark(p);
}

size_t aslab__large_usable_size(void *p, const char *fn) {
    if (aslab__fb_owns(p) && carries_mark(p)) aslab__heap_fault(fn, "block already freed", p);
    return aslab__fb_usable_size(p, fn);
}

/* A block the fallback or the parked slot hands out: no mark, as calloc's zeroes say. */
static void *unmarked(void *p) {
    if (p != NULL) *(uintptr_t *)p = 0;
    return p;
}

/* ---- the pool ---- */

/* The pool's cap and the target of a purge, for as many bytes as the program holds. */
static size_t pool_cap(void) {
    return aslab__purge_cap(__atomic_load_n(&live_bytes, __ATOMIC_RELAXED));
}

static size_t pool_target(void) {
    return aslab__purge_target(__atomic_load_n(&live_bytes, __ATOMIC_RELAXED));
}

static void live_add(size_t bytes) {
    __atomic_add_fetch(&live_bytes, bytes, __ATOMIC_RELAXED);
}
static void live_sub(size_t bytes) {
    __atomic_sub_fetch(&live_bytes, bytes, __ATOMIC_RELAXED);
}

static int pool_fits(size_t size) {
    size_t cap = pool_cap(), held = __atomic_load_n(&pool_bytes, __ATOMIC_RELAXED);
    return cap == SIZE_MAX || (size <= cap && held <= cap - size);
}

/* Purges the fallback's free pages and marks the pool clean. */
static void pool_purge(void) {
    __atomic_store_n(&pool_since_ms, 0, __ATOMIC_RELAXED);
    aslab__fb_trim();
    __atomic_store_n(&pool_bytes, 0, __ATOMIC_RELAXED);
}

/* The estimate passed the cap: the fallback's own count decides (about 15 us with
 * jemalloc, once per quarter of the cap freed). Down to the target it keeps its pages. */
static void pool_check(void) {
    int idle = 0;
    if (!__atomic_compare_exchange_n(&pool_checking, &idle, 1, 0, __ATOMIC_ACQUIRE,
                                     __ATOMIC_RELAXED))
        return;
    size_t dirty = aslab__fb_dirty_bytes();
    if (dirty > pool_target()) {
        pool_purge();
        aslab__squeezed_add(&squeezed, dirty);
    } else
        __atomic_store_n(&pool_bytes, dirty, __ATOMIC_RELAXED);
    __atomic_store_n(&pool_checking, 0, __ATOMIC_RELEASE);
}

static void pool_added(size_t size) {
    if (__atomic_load_n(&pool_since_ms, __ATOMIC_RELAXED) == 0) {
        uint64_t clean = 0;
        __atomic_compare_exchange_n(&pool_since_ms, &clean, aslab__purge_now(), 0, __ATOMIC_RELAXED,
                                    __ATOMIC_RELAXED);
    }
    size_t held = __atomic_add_fetch(&pool_bytes, size, __ATOMIC_RELAXED);
    if (held > pool_cap()) pool_check();
}

/* A block the fallback handed out came, we assume, from its free pages first. */
static void pool_taken(size_t size) {
    size_t held = __atomic_load_n(&pool_bytes, __ATOMIC_RELAXED), left;
    do
        left = held > size ? held - size : 0;
    while (!__atomic_compare_exchange_n(&pool_bytes, &held, left, 1, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED));
}

/* ---- the parked block ---- */

/* A request for a big block within the decay time of a big free: the program cycles, and
 * does so for at least the decay time more. */
static void *park_take(size_t size) {
    uint64_t now = aslab__purge_now(), window = aslab__purge_age();
    void *p = NULL;
    lock();
    if (last_big_free_ms != 0 && now - last_big_free_ms <= window)
        cycle_until_ms = plus(now, window);
    if (parked != NULL && size <= parked_size && size >= parked_size / 8) {
        p = parked;
        parked = NULL;
    }
    unlock();
    return p;
}

/* Parks p if the program cycles and p is at least as large as the parked block. Returns the
 * block that is not parked (p, or the one it displaced, or NULL) with its size in *size. */
static void *park_put(void *p, size_t *size, int *cycling) {
    uint64_t now = aslab__purge_now();
    lock();
    last_big_free_ms = now;
    *cycling = now <= cycle_until_ms;
    if (*cycling && *size <= ASLAB_LARGE_PARK_MAX && (parked == NULL || *size >= parked_size)) {
        void *out = parked;
        size_t out_size = parked_size;
        parked = p, parked_size = *size, parked_since_ms = now;
        p = out, *size = out_size;
    }
    unlock();
    return p;
}

/* Takes the parked block if `all`, or if it has idled for the decay time by `now`. */
static void *park_evict(int all, uint64_t now, size_t *size) {
    void *p = NULL;
    lock();
    if (parked != NULL && (all || now - parked_since_ms >= aslab__purge_age())) {
        p = parked, *size = parked_size;
        parked = NULL;
    }
    unlock();
    return p;
}

/* ---- the entry points ---- */

/* A block the fallback just handed out (or NULL), counted as the program's: it came, we
 * assume, from the fallback's free pages first. */
static void *counted(void *p) {
    if (p != NULL) {
        size_t usable = aslab__fb_usable_size(p, "malloc()");
        pool_taken(usable);
        live_add(usable);
    }
    return p;
}

static void *fb_get(size_t size, int zeroed) {
    return zeroed ? aslab__fb_calloc(size) : unmarked(aslab__fb_malloc(size));
}

/* A request the fallback refused may fit once the parked block is gone (RLIMIT_AS). */
void *aslab__large_get(size_t size, int zeroed) {
    if (size >= ASLAB_LARGE_PARK_MIN && !aslab__purge_at_once()) {
        void *p = park_take(size);
        if (p != NULL) {
            live_add(aslab__fb_usable_size(p, "malloc()"));
            return zeroed ? memset(p, 0, size) : unmarked(p);
        }
        aslab__squeezed_take(&squeezed, size);
    }
    void *p = fb_get(size, zeroed);
    size_t parked_bytes = 0;
    void *spare = p == NULL ? park_evict(1, 0, &parked_bytes) : NULL;
    if (spare != NULL) {
        free_discarded(spare, parked_bytes);
        p = fb_get(size, zeroed);
    }
    return counted(p);
}

void *aslab__large_aligned(size_t align, size_t size) {
    return counted(unmarked(aslab__fb_aligned(align, size)));
}

void *aslab__large_realloc(void *p, size_t size) {
    if (!aslab__fb_owns(p)) return aslab__fb_realloc(p, size);
    if (carries_mark(p)) aslab__heap_fault("realloc()", "block already freed", p);
    size_t before = aslab__fb_usable_size(p, "realloc()");
    void *q = aslab__fb_realloc(p, size);
    if (q == NULL) return NULL;
    size_t after = aslab__fb_usable_size(q, "realloc()");
    live_sub(before);
    live_add(after);
    if (q != p) {
        pool_added(before);
        pool_taken(after);
    } else if (after < before) {
        pool_added(before - after);
    } else {
        pool_taken(after - before);
    }
    if (after > before && after >= ASLAB_LARGE_PARK_MIN)
        aslab__squeezed_take(&squeezed, after - before);
    return q;
}

void aslab__large_put(void *p, const char *fn) {
    /* At once: the fallback purges by itself (fb_decay_now). Foreign: not ours to keep. */
    if (aslab__purge_at_once() || !aslab__fb_owns(p)) {
        aslab__fb_free(p, fn);
        return;
    }
    mark_freed(p, fn);
    size_t size = aslab__fb_usable_size(p, fn);
    live_sub(size);
    if (size >= ASLAB_LARGE_PARK_MIN) {
        int cycling;
        p = park_put(p, &size, &cycling);
        if (p == NULL) return;
        if (!cycling || !pool_fits(size)) {
            if (cycling) aslab__squeezed_add(&squeezed, size);
            free_discarded(p, size);
            return;
        }
    }
    aslab__fb_free(p, fn);
    pool_added(size);
}

void aslab__large_round(uint64_t now) {
    size_t size = 0;
    void *p = park_evict(0, now, &size);
    if (p != NULL) free_discarded(p, size);
    uint64_t since = __atomic_load_n(&pool_since_ms, __ATOMIC_RELAXED);
    if (since != 0 && now - since >= aslab__purge_age()) pool_purge();
}

size_t aslab__large_parked_bytes(void) {
    lock();
    size_t bytes = parked != NULL ? parked_size : 0;
    unlock();
    return bytes;
}

int aslab__large_trim(void) {
    size_t size = 0;
    void *p = park_evict(1, 0, &size);
    if (p != NULL) free_discarded(p, size);
    __atomic_store_n(&pool_since_ms, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&pool_bytes, 0, __ATOMIC_RELAXED);
    return aslab__fb_trim() || p != NULL;
}

void aslab__large_fork_prepare(void) {
    lock();
}
void aslab__large_fork_parent(void) {
    unlock();
}
void aslab__large_fork_child(void) {
    aslab_futexlock.init(large_lock);
    pool_checking = 0;
}
