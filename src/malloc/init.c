/* init.c - process set-up of the small-object heap (class caches and checks, the keys, the
 * thread-exit key, fork handlers) and trimming. Set-up runs once, on the first slow call or
 * from the library constructor, whichever comes first; it never allocates through malloc, and
 * a malloc nested inside it (from pthread_atfork, say) is served by the fallback. */
#include "heap.h"

#include "api.h"
#include "decay.h"
#include "direct.h"
#include "fallback.h"
#include "large.h"
#include "options.h"
#include "os.h"
#include "pool.h"
#include "purge.h"
#include "stats_api.h"
#include "thread.h"

#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

aslab__class_check aslab__checks[ASLAB_CLASS_SLOTS];
aslab_cache *aslab__class_cache[ASLAB_CLASS_SLOTS];
/* The link key's bit 63 is set from the start: before set-up every class's list is the
 * stand-in, whose head (its own address) decodes as the key, and must read as a stray link
 * (aslab__pop_fast). */
aslab__key_set aslab__keys = {.link = (uintptr_t)1 << 63};

enum { INIT_NONE, INIT_RUNNING, INIT_DONE };
static int init_state;
static __thread int init_owner ASLAB_TLS; /* this thread is running the set-up */
/* 0 not known yet, 1 the process's main thread, -1 another */
static __thread int thread_is_main ASLAB_TLS;

static uintptr_t random_key(void) {
    uintptr_t key = 0;
    if (syscall(SYS_getrandom, &key, sizeof key, 1 /* GRND_NONBLOCK */) != (long)sizeof key)
        key = (uintptr_t)&key ^ (uintptr_t)aslab__os_now_ms() * 0x9e3779b97f4a7c15ull;
    return key | 1; /* never 0 or a valid pointer: an odd value */
}

static uint64_t create_lock[2]; /* guards class cache creation */

static void class_checks_init(void) {
    for (unsigned cls = 1; cls <= ASLAB_NUM_CLASSES; cls++) {
        const aslab__class_info *info = &aslab__classes[cls];
        size_t slab_size = (size_t)1 << info->slab_shift;
        aslab__regions.slab_mask[aslab__map_byte(cls)] = ~(uintptr_t)(slab_size - 1);
        aslab__regions.class_slab_mask[cls] = ~(uintptr_t)(slab_size - 1);
        aslab__regions.slot_magic[aslab__map_byte(cls)] = aslab__slot_magic(info->size);
        aslab__regions.lent_magic[cls] = aslab__slot_magic(info->size);
        aslab__regions.lent_adjust[cls] =
            ((uint64_t)cls << ASLAB_LENT_CLASS_SHIFT) * aslab__slot_magic(info->size);
    }
}

/* Where a lent slab's slots start and how many it holds, for the free path's checks: from the
 * first slab the cache lends, before the cache is published, so that every later reader sees
 * settled values. The slab stays lent: it goes to the caller, the class's first borrower,
 * never written (so calloc still knows whether it reads zero). */
static int class_geometry_learn(unsigned cls, aslab_cache *cache, aslab_slab_loan *loan,
                                int *zeroed) {
    if (!aslab__pool_lend_noting_zero(cache, loan, zeroed)) return 0;
    aslab__checks[cls].capacity = (uint32_t)loan->capacity;
    aslab__regions.slot_bound[aslab__map_byte(cls)] =
        aslab__slot_bound(aslab__classes[cls].size, (uint32_t)loan->capacity);
    aslab__regions.lent_bound[cls] = aslab__regions.slot_bound[aslab__map_byte(cls)];
    aslab__regions.slot_offset[aslab__map_byte(cls)] =
        (uint64_t)((char *)loan->slots - (char *)loan->slab);
    return 1;
}

/* A class's cache (and its first region) comes into being on the class's first use, so a
 * program pays in address space and RSS only for the classes it uses. */
aslab_cache *aslab__class_cache_get(unsigned cls, aslab_slab_loan *first, int *zeroed) {
    first->slab = NULL;
    aslab_cache *cache = __atomic_load_n(&aslab__class_cache[cls], __ATOMIC_ACQUIRE);
    if (ASLAB__LIKELY(cache != NULL)) return cache;
    aslab_futexlock.lock(create_lock);
    cache = aslab__class_cache[cls];
    if (cache == NULL) {
        const aslab__class_info *info = &aslab__classes[cls];
        aslab_cache_config config = {.obj_size = info->size,
                                     .obj_align = aslab__class_align(info->size),
                                     .slab_size = (size_t)1 << info->slab_shift,
                                     .lock = &aslab_futexlock,
                                     .header_reserve = ASLAB__MSLAB_RESERVE,
                                     .hooks = &aslab__arena_class_hooks,
                                     .hooks_context = (void *)(uintptr_t)cls};
        if (aslab_cache_create_config(&cache, &config) != ASLAB_OK) {
            cache = NULL;
        } else if (!class_geometry_learn(cls, cache, first, zeroed)) {
            aslab_cache_release(cache);
            cache = NULL;
        }
        __atomic_store_n(&aslab__class_cache[cls], cache, __ATOMIC_RELEASE);
    }
    aslab_futexlock.unlock(create_lock);
    return cache;
}

/* ---- fork: every lock, in the lock order (pool.h), so that no structure is half-changed ----
 * Each family of locks says how to take them before a fork, release them in the parent, and
 * set them up afresh in the child (which has one thread: a lock word copied with sleepers
 * counted would make each later unlock a system call). */
typedef struct lock_family {
    void (*prepare)(void), (*parent)(void), (*child)(void);
} lock_family;

static void create_lock_take(void) {
    aslab_futexlock.lock(create_lock);
}
static void create_lock_release(void) {
    aslab_futexlock.unlock(create_lock);
}
static void create_lock_reset(void) {
    aslab_futexlock.init(create_lock);
}

static void cache_locks_take(void) {
    for (unsigned cls = 1; cls <= ASLAB_NUM_CLASSES; cls++)
        if (aslab__class_cache[cls] != NULL) aslab_cache_lock(aslab__class_cache[cls]);
}
static void cache_locks_release(void) {
    for (unsigned cls = 1; cls <= ASLAB_NUM_CLASSES; cls++)
        if (aslab__class_cache[cls] != NULL) aslab_cache_unlock(aslab__class_cache[cls]);
}
static void cache_locks_reset(void) {
    for (unsigned cls = 1; cls <= ASLAB_NUM_CLASSES; cls++)
        if (aslab__class_cache[cls] != NULL) aslab_cache_lock_reinit(aslab__class_cache[cls]);
}

/* Outermost first. The registry, then every record: a record's owner may create a class
 * cache with its record locked. */
static const lock_family lock_order[] = {
    {aslab__large_fork_prepare, aslab__large_fork_parent, aslab__large_fork_child},
    {aslab__thread_fork_prepare, aslab__thread_fork_parent, aslab__thread_fork_child},
    {create_lock_take, create_lock_release, create_lock_reset},
    {aslab__pool_fork_prepare, aslab__pool_fork_parent, aslab__pool_fork_child},
    {cache_locks_take, cache_locks_release, cache_locks_reset},
    {aslab__arena_fork_prepare, aslab__arena_fork_parent, aslab__arena_fork_child},
};
#define LOCK_FAMILIES (sizeof lock_order / sizeof lock_order[0])

static void fork_prepare(void) {
    for (size_t i = 0; i < LOCK_FAMILIES; i++)
        lock_order[i].prepare();
}

static void fork_parent(void) {
    for (size_t i = LOCK_FAMILIES; i-- > 0;)
        lock_order[i].parent();
}

static void fork_child(void) {
    for (size_t i = LOCK_FAMILIES; i-- > 0;)
        lock_order[i].child();
    aslab__decay_fork_child();
    thread_is_main = 0; /* the forking thread is the child's main thread */
}

/* pthread_atfork is a stub from libc_nonshared.a that the link puts after the fallback's
 * code, at the far end of the library's text, where the kernel's fault-around maps 32-128 KiB
 * of code that nothing else runs (docs/footprint.md); glibc's pthread_atfork is exactly this
 * call, with the library's handle so that unloading drops the handlers. */
#ifdef __GLIBC__
extern int __register_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void),
                             void *dso_handle);
extern void *__dso_handle;
static int register_atfork(void) {
    return __register_atfork(fork_prepare, fork_parent, fork_child, &__dso_handle);
}
#else
static int register_atfork(void) {
    return pthread_atfork(fork_prepare, fork_parent, fork_child);
}
#endif

/* The process that runs the set-up, and the steps that must not run twice: a child forked in
 * the middle of the set-up finishes it itself (the thread that ran it is not in the child). */
static pid_t init_pid;
static int thread_key_made, atfork_made;

static void init_once(void) {
    init_owner = 1;
    __atomic_store_n(&init_pid, getpid(), __ATOMIC_RELAXED);
    aslab__options_read();
    if (aslab__options.stats) aslab__stats_prepare();
    if (aslab__options.decay_ms == 0) aslab__fb_decay_now();
    aslab__arena_tables_init();
    aslab__fb_tables_init();
    aslab__size_classes_init();
    aslab__keys.free = random_key();
    /* Bit 63 set: an empty list's head, its own address, decodes as the key itself, a stray
     * link, so that malloc's fast path tests emptiness and corruption at once
     * (aslab__pop_fast). No list holds a link yet. */
    aslab__keys.link = random_key() | (uintptr_t)1 << 63;
    aslab__keys.seen = random_key();
    class_checks_init();
    aslab__medium_init();
    aslab__kept_init();
    aslab__api_init();
    if (!thread_key_made) thread_key_made = aslab__thread_global_init() == 0;
    if (!atfork_made) atfork_made = register_atfork() == 0;
    init_owner = 0;
}

int aslab__heap_init(void) {
    if (ASLAB__LIKELY(__atomic_load_n(&init_state, __ATOMIC_ACQUIRE) == INIT_DONE)) return 1;
    if (init_owner) return 0; /* nested inside our own set-up */
    int expected = INIT_NONE;
    if (__atomic_compare_exchange_n(&init_state, &expected, INIT_RUNNING, 0, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE)) {
        init_once();
        __atomic_store_n(&init_state, INIT_DONE, __ATOMIC_RELEASE);
        return 1;
    }
    for (unsigned spins = 1; __atomic_load_n(&init_state, __ATOMIC_ACQUIRE) != INIT_DONE; spins++) {
        sched_yield();
        pid_t setter = __atomic_load_n(&init_pid, __ATOMIC_RELAXED);
        if (spins % 1024 == 0 && setter != 0 && setter != getpid()) {
            init_once(); /* forked while another thread set up: this child has only us */
            __atomic_store_n(&init_state, INIT_DONE, __ATOMIC_RELEASE);
        }
    }
    return 1;
}

__attribute__((constructor)) static void aslab_heap_constructor(void) {
    aslab__heap_init();
    aslab__options_claim_stats(); /* done by the set-up unless it ran before libc set environ */
}

__attribute__((destructor)) static void aslab_heap_destructor(void) {
    aslab__stats_at_exit();
}

size_t aslab__heap_release_empty(void) {
    size_t released = 0;
    for (unsigned cls = 1; cls <= ASLAB_NUM_CLASSES; cls++) {
        aslab_cache *cache = __atomic_load_n(&aslab__class_cache[cls], __ATOMIC_ACQUIRE);
        if (cache != NULL) released += aslab_cache_trim(cache);
    }
    return released;
}

/* The round (purge.h): the class caches' reserves go back to the arena, and every pool
 * drops what is old. A reserve is taken only by malloc's slow path, which ticks first;
 * so when no slow path ran for the decay time, the reserves idled that long and are
 * discarded at once rather than queued as freshly free. */
static void heap_round(uint64_t now, int idle) {
    if (aslab__thread_heap.state == ASLAB_HEAP_LIVE)
        aslab__heap_give_back_held(); /* bounds what idles */
    aslab__thread_give_back_empty();
    aslab__arena_discard_frees(idle);
    aslab__heap_release_empty();
    aslab__arena_discard_frees(0);
    aslab__arena_purge(aslab__purge_age());
    aslab__large_round(now);
    aslab__direct_round(now);
}

/* The background thread's turn: the round when due, old slabs in between; its own calls
 * are not the program's activity. Returns how long it may sleep. */
static uint64_t background_round(void) {
    uint64_t now = aslab__purge_now();
    int idle = 0;
    if (aslab__purge_round_due(now, 0, &idle))
        heap_round(now, idle);
    else
        aslab__arena_purge(aslab__purge_age());
    uint64_t round = aslab__purge_round_wait(now), slabs = aslab__arena_next_due();
    return round < slabs ? round : slabs;
}

/* ASLAB_BACKGROUND_THREAD=1 starts the thread here, in a malloc slow path of the main
 * thread once set-up is done: never inside free (glibc frees a thread's TLS under its
 * stack-cache lock, which pthread_create takes), never from a constructor (under the
 * loader's lock), never inside aslab's own set-up. Other threads' slow paths may run
 * inside anything; the main thread's first malloc after set-up is the program's own. */
static void background_maybe_start(void) {
    if (!aslab__options.background || aslab__options.decay_ms <= 0 || init_owner ||
        __atomic_load_n(&init_state, __ATOMIC_ACQUIRE) != INIT_DONE)
        return;
    if (thread_is_main == 0) thread_is_main = syscall(SYS_gettid) == getpid() ? 1 : -1;
    if (thread_is_main > 0) aslab__decay_start(background_round);
}

/* Before set-up (a large malloc from another library's constructor can come first) the
 * options are not read yet and there is nothing to trim: no round. */
void aslab__heap_tick(int from_malloc) {
    if (__atomic_load_n(&init_state, __ATOMIC_ACQUIRE) != INIT_DONE) return;
    uint64_t now = aslab__purge_now();
    int idle = 0;
    if (aslab__purge_round_due(now, 1, &idle)) heap_round(now, idle);
    if (from_malloc) background_maybe_start();
}

int aslab__trim(void) {
    aslab__heap_init();
    aslab__heap_trim_thread();
    aslab__thread_give_back_empty();
    size_t released = aslab__heap_release_empty();
    released += aslab__arena_purge(0);
    int spare = aslab__direct_trim();
    return aslab__large_trim() || spare || released != 0;
}
