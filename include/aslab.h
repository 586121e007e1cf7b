/* aslab.h - the public API of the aslab core: an O(1) slab allocator.
 *
 * A cache hands out fixed-size slots carved from slabs. Every slab is slab_size bytes
 * (a power of two) aligned to slab_size, so any object finds its slab header by masking
 * its address; a magic value mixed with the slab's own address validates the header.
 * The first slab of a cache is its master: it holds the lock and the reference count
 * for the whole hierarchy. Slave slabs are attached when the hierarchy is full and
 * handed back when they empty, beyond a small reserve.
 *
 * The core never acquires memory itself. The program supplies two hooks, once, with
 * ASLAB_DEFINE_ALLOCATION_HOOKS; a program that does not define them fails to link.
 *
 * Every call reports failure through an aslab_error, each fault its own code; no call
 * aborts (ASLAB_AUTOFREE aside: see there). The core checks, always:
 * - arguments: sizes, alignments, locks, NULL pointers;
 * - every pointer it is given, before it changes anything: the slab header's magic (mixed with
 *   the slab's address, so a copied or stale header fails), the cache's slab size, the slot
 *   boundary, the index, that the slot is allocated (double free), that the slab is not lent;
 * - every free-list link it pops: a link left in a freed slot must name a slot handed out
 *   before and currently free, else the slab is quarantined (never used again, its memory
 *   leaked, the hierarchy kept) and the call fails with ASLAB_ERR_CORRUPT_FREELIST, without
 *   handing out the bad address;
 * - handles: the magic, and that the last reference was not released.
 * What it cannot detect, and what then happens is undefined: an address whose slab-aligned
 * header is not readable memory (the core reads it: check ownership first, as the malloc
 * does); writes into live objects, into slab headers or bitmaps, or a forged header; a
 * dangling write that stores the index of another free slot (it is caught late, when the
 * slab runs out of slots while its count says some are free, or not at all);
 * any use of a handle or object after its hierarchy went back to the free hook; calls that
 * race with the program's own misuse (two threads returning one lent slab, say).
 * The core depends on nothing but the two hooks (and memset/memcpy), so it
 * builds freestanding for kernels and firmware.
 */
#ifndef ASLAB_H
#define ASLAB_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library is built with hidden visibility; what this header declares is its interface. */
#if defined(__GNUC__) && !defined(__arm__)
#pragma GCC visibility push(default)
#define ASLAB__VISIBILITY_PUSHED
#endif

typedef enum aslab_error {
    ASLAB_OK = 0,
    ASLAB_ERR_OUT_OF_MEMORY,      /* a hook returned NULL, or a count would overflow */
    ASLAB_ERR_INVALID_POINTER,    /* NULL; a slab that is not a master given as a handle; an
                                     address that is not the start of a slab given as one */
    ASLAB_ERR_DOUBLE_FREE,        /* the slot is already free */
    ASLAB_ERR_ALIGNMENT_MISMATCH, /* a hook returned a block not aligned to the slab size */
    ASLAB_ERR_INVALID_ARGUMENT,   /* bad object size/alignment, slab size not a power of two
                                     or too small, lock too big, a NULL out-pointer */
    /* Added later: each fault its own code. Values are stable; new codes go at the end. */
    ASLAB_ERR_SLAB_LENT,          /* the object's slab is lent (aslab_slab_lend): its borrower
                                     manages its slots, the core does not */
    ASLAB_ERR_NOT_A_SLAB,         /* bad magic: no live aslab slab where the address masks to
                                     (memory aslab never made, a copy, a slab handed back) */
    ASLAB_ERR_WRONG_SLAB_SIZE,    /* a live slab, but its cache's slab size is another one */
    ASLAB_ERR_NOT_SLOT_START,     /* off a slot boundary: inside a slot, or in the header */
    ASLAB_ERR_INDEX_OUT_OF_RANGE, /* on a slot boundary, but past the last slot (tail) */
    ASLAB_ERR_CORRUPT_FREELIST,   /* a free slot's link was overwritten; the slab is
                                     quarantined: never used again, its memory leaked */
    ASLAB_ERR_RELEASED_HANDLE,    /* the cache's last reference was already released */
    ASLAB_ERR_SLAB_NOT_LENT,      /* a live slab that is not lent, given as a lent one */
} aslab_error;

/* A constant, human-readable description of err; never NULL. */
const char *aslab_strerror(aslab_error err);

/* ---- Allocation hooks ------------------------------------------------------------------
 * aslab_hook_slab_alloc returns a block of `size` bytes aligned to `align` (the core always
 * asks with size == align == slab_size), or NULL when out of memory. aslab_hook_slab_free
 * takes back a block the alloc hook returned, with the same size and align. The core calls
 * the hooks without holding any cache lock, so they may take locks of their own.
 * Define both exactly once in the program:
 *     ASLAB_DEFINE_ALLOCATION_HOOKS(my_alloc, my_free)
 * where my_alloc and my_free have exactly the hooks' types (checked at compile time). */
void *aslab_hook_slab_alloc(size_t size, size_t align);
aslab_error aslab_hook_slab_free(void *slab, size_t size, size_t align);

#define ASLAB_DEFINE_ALLOCATION_HOOKS(alloc_fn, free_fn)                                           \
    void *aslab_hook_slab_alloc(size_t aslab__size, size_t aslab__align) {                         \
        void *(*const aslab__fn)(size_t, size_t) = (alloc_fn);                                     \
        return aslab__fn(aslab__size, aslab__align);                                               \
    }                                                                                              \
    aslab_error aslab_hook_slab_free(void *aslab__slab, size_t aslab__size, size_t aslab__align) { \
        aslab_error (*const aslab__fn)(void *, size_t, size_t) = (free_fn);                        \
        return aslab__fn(aslab__slab, aslab__size, aslab__align);                                  \
    }                                                                                              \
    typedef int aslab__hooks_defined_here

/* A cache may instead take its slabs from hooks of its own (aslab_cache_config.hooks): the
 * same contract, plus the context pointer the cache was created with, passed back unchanged
 * on every call, so that one pair of functions can serve many caches and know which one asks
 * (a size class, a memory pool, a NUMA node). Such a cache never calls the global hooks,
 * which a program must still define. The table and what the context points to must stay
 * valid until the hierarchy is gone: its master slab is the last block handed to free. */
typedef struct aslab_slab_hooks {
    void *(*alloc)(void *context, size_t size, size_t align);
    aslab_error (*free)(void *context, void *slab, size_t size, size_t align);
} aslab_slab_hooks;

/* ---- Locks -----------------------------------------------------------------------------
 * A cache's lock is an ops table plus up to ASLAB_LOCK_MAX bytes of state stored in the
 * master slab, aligned to 8 bytes. init is called once on the zeroed state. trylock may be
 * NULL; when present it returns nonzero when it took the lock. */
#define ASLAB_LOCK_MAX 16
typedef struct aslab_lock_ops {
    size_t size;
    void (*init)(void *state);
    void (*lock)(void *state);
    void (*unlock)(void *state);
    int (*trylock)(void *state);
} aslab_lock_ops;

extern const aslab_lock_ops aslab_nolock;    /* single-threaded use, or an outer lock */
extern const aslab_lock_ops aslab_spinlock;  /* test-and-test-and-set with backoff, 4 bytes */
extern const aslab_lock_ops aslab_futexlock; /* Linux futex, sleeps under contention, 12 bytes */
/* For a futex lock's state: how often a caller went to sleep on it and how often an unlock
 * woke one up (each a system call), since it was initialised. Hosted builds only. */
void aslab_futexlock_counts(const void *state, unsigned *sleeps, unsigned *wakes);

/* ---- Caches ----------------------------------------------------------------------------- */
#define ASLAB_MIN_SLAB_SIZE ((size_t)512) /* the master header must fit, with a slot */
#define ASLAB_MAX_SLAB_SIZE ((size_t)1 << 30)
#ifndef ASLAB_EMPTY_RESERVE
#define ASLAB_EMPTY_RESERVE 2 /* empty slaves a cache keeps before handing slabs back */
#endif

typedef struct aslab_cache aslab_cache; /* a reference-counted handle */

/* Creates a cache of obj_size-byte objects aligned to obj_align (a power of two; slots are
 * at least 4 bytes and 4-aligned) in slabs of slab_size bytes (a power of two between
 * ASLAB_MIN_SLAB_SIZE and ASLAB_MAX_SLAB_SIZE). The master slab comes from the alloc hook
 * at once. lock NULL means aslab_nolock. The new handle holds one reference. */
aslab_error aslab_cache_create(aslab_cache **out, size_t obj_size, size_t obj_align,
                               size_t slab_size, const aslab_lock_ops *lock);

/* Every slab starts with a header of exactly this many bytes, on LP64 and ILP32 alike. */
#define ASLAB_SLAB_HEADER_SIZE 64

/* aslab_cache_create with more to say. aslab_cache_create(out, size, align, slab_size, lock)
 * is this with header_reserve 0 and the global hooks. Initialise it with designated
 * initializers (.obj_size = ...): a field left out is zero, its default, and fields may be
 * added at the end. */
typedef struct aslab_cache_config {
    size_t obj_size, obj_align, slab_size;
    const aslab_lock_ops *lock; /* NULL means aslab_nolock */
    /* Bytes the core leaves untouched right after each slave slab's header, at slab +
     * ASLAB_SLAB_HEADER_SIZE, for a borrower's own per-slab bookkeeping (see
     * aslab_slab_lend); rounded up to a multiple of 64; 0 for none. The master has no
     * reserve: it is never lent. The core never reads or writes these bytes, whether the
     * slab is lent or serves aslab_alloc; their content is whatever the alloc hook's block
     * held. */
    size_t header_reserve;
    /* The hooks every slab of the hierarchy comes from and goes back to, the master's
     * included; NULL means the global pair. Both functions must be set. */
    const aslab_slab_hooks *hooks;
    void *hooks_context; /* passed to them as is; ignored when hooks is NULL */
} aslab_cache_config;
aslab_error aslab_cache_create_config(aslab_cache **out, const aslab_cache_config *config);
/* One more reference to the same cache; returns cache, or NULL if cache is NULL, not a
 * cache, or its count would overflow. */
aslab_cache *aslab_cache_clone(aslab_cache *cache);
/* One reference less. The hierarchy goes back through the free hook once the last
 * reference is released and the last object freed, in either order. A handle whose last
 * reference is gone but whose hierarchy lives on (objects remain) answers
 * ASLAB_ERR_RELEASED_HANDLE to release, alloc and lend; once the hierarchy is gone the
 * handle is dangling and must not be used at all. */
aslab_error aslab_cache_release(aslab_cache *cache);

/* Takes one object. ASLAB_ERR_OUT_OF_MEMORY when a slave is needed and the hook has none;
 * ASLAB_ERR_CORRUPT_FREELIST when the free list of the slab it would come from is found
 * corrupt (that slab is quarantined; the next call serves from another one);
 * ASLAB_ERR_RELEASED_HANDLE after the cache's last reference was released. */
aslab_error aslab_alloc(aslab_cache *cache, void **out);
/* Frees obj, a slot of a cache whose slabs are slab_size bytes. No handle is needed: the
 * mask finds the slab. Validates magic (ASLAB_ERR_NOT_A_SLAB, ASLAB_ERR_SLAB_LENT), slab size
 * (ASLAB_ERR_WRONG_SLAB_SIZE), slot boundary (ASLAB_ERR_NOT_SLOT_START) and index
 * (ASLAB_ERR_INDEX_OUT_OF_RANGE), that the slot is allocated (ASLAB_ERR_DOUBLE_FREE) and
 * its slab not quarantined (ASLAB_ERR_CORRUPT_FREELIST), before touching any list; on
 * error nothing has changed. */
aslab_error aslab_free(void *obj, size_t slab_size);

/* Allocates up to n objects into out under one lock round (plus one per slab that must be
 * fetched from the hook); returns how many it allocated: fewer when aslab_alloc would have
 * failed, 0 for a bad cache or a NULL out. aslab_alloc_bulk_status says why. */
size_t aslab_alloc_bulk(aslab_cache *cache, void **out, size_t n);
/* aslab_alloc_bulk that reports: *got objects are allocated (valid even on error), and the
 * answer is ASLAB_OK when *got == n, else the error that stopped it, as aslab_alloc's. */
aslab_error aslab_alloc_bulk_status(aslab_cache *cache, void **out, size_t n, size_t *got);
/* Frees n objects, possibly of different caches with the same slab size, taking each
 * master's lock once per run of objects that share it. Every valid object is freed; an
 * invalid one is skipped untouched, and the first error met is returned. */
aslab_error aslab_free_bulk(void *const *objs, size_t n, size_t slab_size);

typedef struct aslab_cache_stats {
    size_t slabs;             /* slabs in the hierarchy, the master included */
    size_t empty_slabs;       /* of those, slabs with no object in use */
    size_t objects_in_use;    /* live objects */
    size_t capacity;          /* slots in all slabs */
    size_t hook_allocs;       /* calls to the alloc hook that gave a slab */
    size_t hook_frees;        /* slabs handed to the free hook */
    size_t obj_size;          /* the slot stride: what each object really occupies */
    size_t hook_free_errors;  /* free-hook calls that returned an error */
    size_t slabs_lent;        /* slabs out on loan (aslab_slab_lend); counted in slabs, and
                                 all their slots in objects_in_use */
    size_t slabs_quarantined; /* slabs whose free list was found corrupt: counted in slabs,
                                 never used again, never handed back */
} aslab_cache_stats;
aslab_error aslab_cache_stats_get(aslab_cache *cache, aslab_cache_stats *out);

/* Hands every empty slave slab back through the free hook now (the reserve included);
 * returns how many, or 0. The master stays. */
size_t aslab_cache_trim(aslab_cache *cache);

/* ---- Lending whole slabs -----------------------------------------------------------------
 * A cache can serve as a pool of whole slabs: a borrower (a thread's heap, say) takes an
 * empty slave slab, manages every slot of it alone, with no call into the core and no lock,
 * and gives it back when every slot is free again. Objects of a lent slab still find its
 * header by masking, and the header stays valid (ASLAB_SLAB_HEADER_SIZE bytes: a magic of
 * its own for lent slabs, the master, the geometry, the owner), so the borrower can recognise
 * its slabs on a free path. */
typedef struct aslab_slab_loan {
    void *slab;      /* the slab, aligned to its size */
    void *slots;     /* its first slot; slot i is at slots + i * stride */
    size_t capacity; /* slots in the slab */
    size_t stride;   /* bytes per slot: the object size rounded up to its alignment (>= 4) */
    void *reserve;   /* slab + ASLAB_SLAB_HEADER_SIZE if the cache reserves header bytes,
                        else NULL */
} aslab_slab_loan;

/* Lends one empty slave slab (one of the cache's empty slabs, else a new one from the alloc
 * hook, called without the lock) and records `owner` (any value, NULL included) in its
 * header. The master is never lent. While lent, the core never reads or writes the slab's
 * slots, free list, bitmap or reserve, and writes its header only through
 * aslab_slab_set_owner and aslab_slab_return; aslab_free / aslab_free_bulk of an address
 * in it return ASLAB_ERR_SLAB_LENT; all its slots count as in use, so the hierarchy is not
 * destroyed while it is out, whatever the handles do. ASLAB_ERR_OUT_OF_MEMORY when the
 * hook returns NULL; ASLAB_ERR_INVALID_ARGUMENT for a NULL out. */
aslab_error aslab_slab_lend(aslab_cache *cache, void *owner, aslab_slab_loan *out);
/* Gives a lent slab back with every slot free (the borrower's promise: the core does not
 * look at the slots). Fails, changing nothing, for an address that is not a slab's start
 * (ASLAB_ERR_INVALID_POINTER), no slab (ASLAB_ERR_NOT_A_SLAB), a slab of another size
 * (ASLAB_ERR_WRONG_SLAB_SIZE), a slab not lent (ASLAB_ERR_SLAB_NOT_LENT: returned twice,
 * say). The slab joins the empty slabs, and beyond the reserve goes to the free hook,
 * exactly like a slab emptied by aslab_free; if the last handle was released and this was
 * the hierarchy's last slab in use, the hierarchy is destroyed. Thread-safe against every
 * other call on the cache. */
aslab_error aslab_slab_return(void *slab, size_t slab_size);
/* The owner recorded for the lent slab that holds obj (any address inside it), and a new
 * one. The owner is read and written atomically (acquire/release), without the cache lock;
 * the borrower orders set_owner against its own uses. Errors as for aslab_slab_return (but
 * any address inside the slab will do). */
aslab_error aslab_slab_owner(const void *obj, size_t slab_size, void **owner);
aslab_error aslab_slab_set_owner(void *obj, size_t slab_size, void *owner);

/* Takes / drops the cache's lock from outside, for fork handlers: lock every cache before
 * fork(), unlock in both parent and child, and the child inherits consistent caches. */
aslab_error aslab_cache_lock(aslab_cache *cache);
aslab_error aslab_cache_unlock(aslab_cache *cache);
/* In the child of a fork whose parent took the lock with aslab_cache_lock: initialises the
 * lock afresh instead of unlocking it, so that nothing the parent's other threads left in it
 * (a futex lock's sleeper count, say) survives. The child must be single-threaded then. */
aslab_error aslab_cache_lock_reinit(aslab_cache *cache);
/* The lock state of the cache's master, for aslab_futexlock_counts; NULL if not a cache. */
const void *aslab_cache_lock_state(aslab_cache *cache);

/* ---- Typed caches ------------------------------------------------------------------------
 * ASLAB_TYPED_CACHE(pairs, struct pair, 4096, &aslab_spinlock) defines
 *   aslab_error pairs_create(aslab_cache **out);
 *   struct pair *pairs_alloc(aslab_cache *c);          (NULL on failure)
 *   aslab_error pairs_free(struct pair *obj);
 * and checks at compile time that the type can hold a freelist index (sizeof >= 4), that
 * its alignment is a power of two below the slab size, and that the slab size is a power
 * of two within the limits. */
#define ASLAB__IS_POW2(x) ((x) != 0 && (((x) & ((x)-1)) == 0))
#define ASLAB_TYPED_CACHE(name, T, slab_size, lock)                                  \
    _Static_assert(sizeof(T) >= 4, #T ": objects must be at least 4 bytes");         \
    _Static_assert(ASLAB__IS_POW2(_Alignof(T)) && _Alignof(T) < (slab_size),         \
                   #T ": alignment must be a power of two below the slab size");     \
    _Static_assert(ASLAB__IS_POW2((size_t)(slab_size)) &&                            \
                       (size_t)(slab_size) >= ASLAB_MIN_SLAB_SIZE &&                 \
                       (size_t)(slab_size) <= ASLAB_MAX_SLAB_SIZE,                   \
                   #name ": slab size must be a power of two within the limits");    \
    static inline aslab_error name##_create(aslab_cache **out) {                     \
        return aslab_cache_create(out, sizeof(T), _Alignof(T), (slab_size), (lock)); \
    }                                                                                \
    static inline T *name##_alloc(aslab_cache *cache) {                              \
        void *obj = NULL;                                                            \
        return aslab_alloc(cache, &obj) == ASLAB_OK ? (T *)obj : NULL;               \
    }                                                                                \
    static inline aslab_error name##_free(T *obj) {                                  \
        return aslab_free(obj, (slab_size));                                         \
    }                                                                                \
    typedef int aslab__typed_cache_##name

/* ---- Scope-bound objects (GCC and Clang) ---------------------------------------------------
 *     struct pair *p ASLAB_AUTOFREE(4096) = pairs_alloc(c);   freed at the end of the scope
 * slab_size must expand to a decimal literal power of two from 512 to 1073741824 (a macro
 * naming one is fine); anything else fails to compile. A NULL pointer is left alone.
 * A scope's end cannot return an error, so a free that fails calls
 * aslab_autofree_failed(obj, err). The library's definition is weak and traps
 * (__builtin_trap(): SIGILL on Linux, an undefined-instruction fault on a Cortex-M); a
 * program may define its own, strong, to log, count or abort in its own way. */
void aslab_autofree_failed(void *obj, aslab_error err);

#define ASLAB_AUTOFREE(slab_size)         ASLAB__AUTOFREE_EXPAND(slab_size)
#define ASLAB__AUTOFREE_EXPAND(slab_size) __attribute__((cleanup(aslab__autofree_##slab_size)))
#define ASLAB__AUTOFREE_FN(slab_size)                                              \
    static inline void aslab__autofree_##slab_size(void *ptr_to_obj) {             \
        void *obj = *(void **)ptr_to_obj;                                          \
        if (obj == NULL) return;                                                   \
        aslab_error err = aslab_free(obj, (size_t)slab_size##u);                   \
        if (__builtin_expect(err != ASLAB_OK, 0)) aslab_autofree_failed(obj, err); \
    }
ASLAB__AUTOFREE_FN(512)
ASLAB__AUTOFREE_FN(1024)
ASLAB__AUTOFREE_FN(2048)
ASLAB__AUTOFREE_FN(4096)
ASLAB__AUTOFREE_FN(8192)
ASLAB__AUTOFREE_FN(16384)
ASLAB__AUTOFREE_FN(32768)
ASLAB__AUTOFREE_FN(65536)
ASLAB__AUTOFREE_FN(131072)
ASLAB__AUTOFREE_FN(262144)
ASLAB__AUTOFREE_FN(524288)
ASLAB__AUTOFREE_FN(1048576)
ASLAB__AUTOFREE_FN(2097152)
ASLAB__AUTOFREE_FN(4194304)
ASLAB__AUTOFREE_FN(8388608)
ASLAB__AUTOFREE_FN(16777216)
ASLAB__AUTOFREE_FN(33554432)
ASLAB__AUTOFREE_FN(67108864)
ASLAB__AUTOFREE_FN(134217728)
ASLAB__AUTOFREE_FN(268435456)
ASLAB__AUTOFREE_FN(536870912)
ASLAB__AUTOFREE_FN(1073741824)

/* The address of ptr->field for a possibly-NULL ptr of type `type *`; NULL when ptr is
 * NULL. ptr is evaluated once. */
#define ASLAB_FIELD_PTR(ptr, type, field)             \
    __extension__({                                   \
        type *aslab__fp = (ptr);                      \
        aslab__fp != NULL ? &aslab__fp->field : NULL; \
    })

#ifdef ASLAB__VISIBILITY_PUSHED
#pragma GCC visibility pop
#undef ASLAB__VISIBILITY_PUSHED
#endif

#ifdef __cplusplus
}
#endif
#endif /* ASLAB_H */
