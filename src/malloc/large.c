/* large.c - the fallback's freed blocks: the pool under the cap, the parked block, and
 * discarding the pages of big blocks nobody is about to reuse (see large.h). */
#include "large.h"

#include "aslab.h"
#include "fallback.h"
#include "heap.h"
#include "large_live.h"
#include "os.h"
#include "purge.h"

#include <string.h>

/* The parked blocks, one slot per thread (threads beyond PARK_SLOTS share slots in turn):
 * each thread cycles through its own big blocks under its own slot's lock, so that two
 * threads doing so never wait for each other, as glibc's threads each reuse the top of their
 * own arena. A thread that exits leaves its block to the round, as one that goes quiet does. */
#define PARK_SLOTS 32

typedef struct park_slot {
    uint64_t lock[2];         /* guards the fields below */
    void *parked;             /* a freed block kept aside, or NULL */
    size_t parked_size;       /* its usable size */
    uint64_t parked_since_ms; /* when it was last freed */
} __attribute__((aligned(64))) park_slot;

static park_slot slots[PARK_SLOTS];
static unsigned slots_handed;                   /* slots given to threads so far */
static __thread unsigned thread_slot ASLAB_TLS; /* the thread's slot + 1; 0 before its first */

/* Whether the process cycles through big blocks is the process's, not a thread's: threads
 * that come and go free big blocks that the next ones ask for. Relaxed atomics written only
 * when the coarse clock has moved, so that threads share the line without bouncing it. */
static uint64_t last_big_free_ms, cycle_until_ms;

/* Big blocks' pages discarded for the cap: a block freed while the program cycled that the
 * pool had no room for, or the pool's free pages purged past the cap. A big request the
 * parked block cannot serve, or a realloc that grows a big block, may fault such pages in
 * again: then the cap learns (purge.h, the refault allowance). */
static aslab__squeezed squeezed;

static size_t pool_bytes; /* freed to the fallback and not taken since: an estimate */
/* The usable bytes of the fallback's blocks in the program's hands or parked: a parked block
 * stays counted, so that a thread cycling through its own big blocks writes no shared line. */
static size_t live_bytes;
static uint64_t pool_since_ms; /* when the pool last went from purged to dirty; 0 = purged */
static int pool_checking;      /* one thread at a time asks the fallback for its true count */

static void lock(park_slot *slot) {
    aslab_futexlock.lock(slot->lock);
}
static void unlock(park_slot *slot) {
    aslab_futexlock.unlock(slot->lock);
}

/* The calling thread's slot, handed out round robin at its first big block. */
static park_slot *own_slot(void) {
    unsigned slot = thread_slot;
    if (slot == 0)
        thread_slot = slot =
            __atomic_fetch_add(&slots_handed, 1, __ATOMIC_RELAXED) % PARK_SLOTS + 1;
    return &slots[slot - 1];
}

static uint64_t plus(uint64_t now, uint64_t ms) {
    return ms > UINT64_MAX - now ? UINT64_MAX : now + ms;
}

/* Gives the whole pages inside the block back to the OS; the block itself stays the
 * fallback's to free. Only pages wholly inside [p, p + size) are touched: the fallback's
 * own words around the block stay. */
static void discard_pages(void *p, size_t size) {
    uintptr_t lo, hi;
    if (aslab__os_inner_pages((uintptr_t)p, (uintptr_t)p + size, &lo, &hi))
        aslab__os_release((void *)lo, hi - lo);
}

/* Gives back to the fallback one of its blocks that the program held (or that was parked). */
static void to_fallback(void *p, const char *fn) {
    aslab__large_live_remove(p);
    aslab__fb_free(p, fn);
}

/* Frees one of the fallback's own blocks with its pages discarded first, all but the page
 * that holds its freed mark (below). */
static void free_discarded(void *p, size_t size) {
    discard_pages((char *)p + sizeof(uintptr_t), size - sizeof(uintptr_t));
    to_fallback(p, "free()");
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

/* Marks p, a fallback block the program frees. */
static void mark_freed(void *p) {
    if (aslab__keys.free != 0) *(uintptr_t *)p = freed_mark(p);
}

/* Aborts unless p, in the fallback's memory, is a block the program holds: one the fallback
 * handed out and did not get back (large_live.h; a parked one stays there) and that carries
 * no freed mark; `freed` names the fault when the mark is there, and a pointer the set does
 * not know is not a block's start. Reading p's word is safe: the fallback's memory stays
 * mapped (fallback_jemalloc_pages.c). */
static void check_held(void *p, const char *fn, const char *freed) {
    if (aslab__large_live_has(p) && !carries_mark(p)) return;
    aslab__heap_fault(fn, carries_mark(p) ? freed : "invalid pointer (not the start of a block)",
                      p);
}

size_t aslab__large_usable_size(void *p, const char *fn) {
    if (aslab__fb_owns(p)) check_held(p, fn, "block already freed");
    return aslab__fb_usable_size(p, fn);
}

/* A block the parked slot hands out (in the set since the fallback handed it out): no mark,
 * as calloc's zeroes say. */
static void *unmarked(void *p) {
    if (p != NULL) *(uintptr_t *)p = 0;
    return p;
}

/* A block the fallback just handed out (or NULL): unmarked, and in the set of the program's
 * blocks. */
static void *fresh(void *p) {
    return aslab__large_live_add(unmarked(p));
}

/* ---- the pool ---- */

/* The pool's cap and the target of a purge, for as many bytes as the program holds. Its
 * allowance takes no headroom under a recent peak, as the arena's does: measured on mstress,
 * that saved no fault here, whose big blocks fault in as they are first used, not again. */
static size_t pool_cap(void) {
    size_t live = __atomic_load_n(&live_bytes, __ATOMIC_RELAXED);
    return aslab__purge_cap(live, live);
}

static size_t pool_target(void) {
    size_t live = __atomic_load_n(&live_bytes, __ATOMIC_RELAXED);
    return aslab__purge_target(live, live);
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

/* ---- the parked blocks ---- */

static void store_if_changed(uint64_t *ms, uint64_t value) {
    if (__atomic_load_n(ms, __ATOMIC_RELAXED) != value)
        __atomic_store_n(ms, value, __ATOMIC_RELAXED);
}

/* A request for a big block within the decay time of a big free: the program cycles, and
 * does so for at least the decay time more. (Another thread's free may be stamped later
 * than this thread's `now`.) */
static void note_request(uint64_t now) {
    uint64_t window = aslab__purge_age(),
             last = __atomic_load_n(&last_big_free_ms, __ATOMIC_RELAXED);
    if (last != 0 && (now <= last || now - last <= window))
        store_if_changed(&cycle_until_ms, plus(now, window));
}

static int cycles_at(uint64_t now) {
    return now <= __atomic_load_n(&cycle_until_ms, __ATOMIC_RELAXED);
}

int aslab__large_cycling(void) {
    return !aslab__purge_at_once() && cycles_at(aslab__purge_now());
}

/* A slot's fields are written under its lock, and parked and parked_size are also read
 * without it (a peek from another thread, fits_at): hence relaxed atomics. */
static void *parked_at(const park_slot *slot, size_t *size) {
    *size = __atomic_load_n(&slot->parked_size, __ATOMIC_RELAXED);
    return __atomic_load_n(&slot->parked, __ATOMIC_RELAXED);
}
static void set_parked(park_slot *slot, void *p, size_t size, uint64_t since) {
    __atomic_store_n(&slot->parked_size, size, __ATOMIC_RELAXED);
    __atomic_store_n(&slot->parked, p, __ATOMIC_RELAXED);
    slot->parked_since_ms = since;
}

/* Whether the slot's parked block serves `size` bytes without wasting most of it. */
static int fits_at(const park_slot *slot, size_t size) {
    size_t parked_size;
    return parked_at(slot, &parked_size) != NULL && size <= parked_size && size >= parked_size / 8;
}

/* Its lock held: the slot's parked block and its size, the slot left empty. */
static void *unpark(park_slot *slot, size_t *size) {
    void *p = parked_at(slot, size);
    set_parked(slot, NULL, 0, 0);
    return p;
}

/* The slots handed to threads so far: only those can hold a block. */
static unsigned slots_in_use(void) {
    unsigned handed = __atomic_load_n(&slots_handed, __ATOMIC_RELAXED);
    return handed < PARK_SLOTS ? handed : PARK_SLOTS;
}

static void *take_from(park_slot *slot, size_t size) {
    size_t unused;
    lock(slot);
    void *p = fits_at(slot, size) ? unpark(slot, &unused) : NULL;
    unlock(slot);
    return p;
}

/* The calling thread's parked block if it serves `size` bytes; else another thread's, one
 * that exited or went quiet perhaps (a peek at each slot handed out, locking only one that
 * fits): cheap next to the fallback's call and the page faults of a fresh block. */
static void *park_take(size_t size) {
    park_slot *own = own_slot();
    note_request(aslab__purge_now());
    void *p = take_from(own, size);
    for (unsigned i = 0, n = slots_in_use(); p == NULL && i < n; i++)
        if (&slots[i] != own && fits_at(&slots[i], size)) p = take_from(&slots[i], size);
    return p;
}

/* Parks p if the program cycles and p is at least as large as the thread's parked block.
 * Returns the block that is not parked (p, or the one it displaced, or NULL) with its size
 * in *size. */
static void *park_put(void *p, size_t *size, int *cycling) {
    uint64_t now = aslab__purge_now();
    park_slot *slot = own_slot();
    store_if_changed(&last_big_free_ms, now);
    *cycling = cycles_at(now);
    if (!*cycling || *size > ASLAB_LARGE_PARK_MAX) return p;
    lock(slot);
    size_t out_size;
    void *out = parked_at(slot, &out_size);
    if (out == NULL || *size >= out_size) {
        set_parked(slot, p, *size, now);
        p = out, *size = out_size;
    }
    unlock(slot);
    return p;
}

/* Takes the slot's parked block if `all`, or if it has idled for the decay time by `now`. */
static void *park_evict(park_slot *slot, int all, uint64_t now, size_t *size) {
    void *p = NULL;
    lock(slot);
    uint64_t since = slot->parked_since_ms; /* another thread's clock may be ahead of `now` */
    if (parked_at(slot, size) != NULL &&
        (all || (now >= since && now - since >= aslab__purge_age())))
        p = unpark(slot, size);
    unlock(slot);
    return p;
}

/* Frees every slot's parked block (all), or those idle for the decay time by `now`, with
 * their pages discarded; nonzero if there was one. */
static int park_evict_all(int all, uint64_t now) {
    int any = 0;
    for (unsigned i = 0, n = slots_in_use(); i < n; i++) {
        size_t size = 0;
        void *p = park_evict(&slots[i], all, now, &size);
        if (p != NULL) {
            live_sub(size);
            free_discarded(p, size);
            any = 1;
        }
    }
    return any;
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
    return fresh(zeroed ? aslab__fb_calloc(size) : aslab__fb_malloc(size));
}

/* A request the fallback refused may fit once the parked block is gone (RLIMIT_AS). */
void *aslab__large_get(size_t size, int zeroed) {
    if (size >= ASLAB_LARGE_PARK_MIN && !aslab__purge_at_once()) {
        void *p = park_take(size);
        if (p != NULL) {
            return zeroed ? memset(p, 0, size) : unmarked(p);
        }
        aslab__squeezed_take(&squeezed, size);
    }
    void *p = fb_get(size, zeroed);
    if (p == NULL && park_evict_all(1, 0)) p = fb_get(size, zeroed);
    return counted(p);
}

void *aslab__large_aligned(size_t align, size_t size) {
    return counted(fresh(aslab__fb_aligned(align, size)));
}

void *aslab__large_realloc(void *p, size_t size) {
    if (!aslab__fb_owns(p)) return aslab__large_live_add(aslab__fb_realloc(p, size)); /* moved in */
    check_held(p, "realloc()", "block already freed");
    size_t before = aslab__fb_usable_size(p, "realloc()");
    void *q = aslab__fb_realloc(p, size);
    if (q == NULL) return NULL;
    if (q != p) aslab__large_live_replace(p, q);
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
    if (!aslab__fb_owns(p)) { /* foreign: not ours to keep */
        aslab__fb_free(p, fn);
        return;
    }
    check_held(p, fn, "double free detected");
    if (aslab__purge_at_once()) { /* the fallback purges by itself (fb_decay_now) */
        to_fallback(p, fn);
        return;
    }
    mark_freed(p);
    size_t size = aslab__fb_usable_size(p, fn);
    if (size >= ASLAB_LARGE_PARK_MIN) {
        int cycling;
        p = park_put(p, &size, &cycling); /* parked, p stays counted as the program's */
        if (p == NULL) return;
        live_sub(size);
        /* Under the cap it goes to the pool, as a smaller block does, cycling or not: a
         * program's first big frees come before it can show that it cycles (mstress's first
         * round faulted 1,000 pages more, session 38). */
        if (!pool_fits(size)) {
            if (cycling) aslab__squeezed_add(&squeezed, size);
            free_discarded(p, size);
            return;
        }
    } else
        live_sub(size);
    to_fallback(p, fn);
    pool_added(size);
}

void aslab__large_round(uint64_t now) {
    park_evict_all(0, now);
    uint64_t since = __atomic_load_n(&pool_since_ms, __ATOMIC_RELAXED);
    if (since != 0 && now - since >= aslab__purge_age()) pool_purge();
}

size_t aslab__large_parked_bytes(void) {
    size_t bytes = 0;
    for (unsigned i = 0, n = slots_in_use(); i < n; i++) {
        size_t size;
        lock(&slots[i]);
        if (parked_at(&slots[i], &size) != NULL) bytes += size;
        unlock(&slots[i]);
    }
    return bytes;
}

int aslab__large_trim(void) {
    int parked = park_evict_all(1, 0);
    __atomic_store_n(&pool_since_ms, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&pool_bytes, 0, __ATOMIC_RELAXED);
    return aslab__fb_trim() || parked;
}

void aslab__large_fork_prepare(void) {
    for (unsigned i = 0; i < PARK_SLOTS; i++)
        lock(&slots[i]);
    aslab__large_live_fork_prepare();
}
void aslab__large_fork_parent(void) {
    aslab__large_live_fork_parent();
    for (unsigned i = PARK_SLOTS; i-- > 0;)
        unlock(&slots[i]);
}
void aslab__large_fork_child(void) {
    aslab__large_live_fork_child();
    aslab__fb_fork_child();
    for (unsigned i = 0; i < PARK_SLOTS; i++)
        aslab_futexlock.init(slots[i].lock);
    pool_checking = 0;
}
