/* heap.h - the small-object heap: slabs owned by threads, the malloc's state of each slab, and
 * the inline fast paths of malloc and free (docs/thread-owned-slabs.md has the design).
 *
 * A thread allocates from slabs it borrowed from its class's core cache (aslab_slab_lend).
 * Per class it has a current slab (the heap's `cur`), whose free list malloc pops; free pushes onto
 * the free list of the block's own slab when the calling thread owns it, with no lock and no
 * atomic instruction, and otherwise onto the slab's `remote` list with one compare-and-swap.
 *
 * Invariants of a lent slab's state (aslab__mslab), kept by its owner:
 * - `free` lists free blocks; each link is stored mangled (aslab__link_encode) and the list
 *   ends at the state's own address, which is never a block. Blocks in [bump, bump_end), and
 *   of a small slab those before `bump_wrap`, were never handed out and are on no list.
 * - `used` counts blocks handed out and not yet back on `free` (those on `remote` included),
 *   plus 1 while the slab is current (so a malloc/free loop never sees 0), plus ASLAB__FULL
 *   while the slab is on its owner's full list. It is below ASLAB__FULL otherwise.
 * - While a small slab is current, its list state (aslab__hot: `free`, `used` and what the
 *   fast paths check them with) is the thread's copy (hot.c), and the slab's own `free` and
 *   `used` hold only the frees that reached it meanwhile, counted down from ASLAB__HOT_USED.
 * - `remote` packs the list other threads push onto: the head block's offset in the slab
 *   (bits 32-63; 0 when empty), how many blocks it holds (bits 1-31), and ASLAB__ABANDONED
 *   (bit 0) once the owner has left. Blocks are linked like `free` and end like it, at the
 *   state's own address, so that it can become the free list without a walk. Only the owner, a
 * holder of its record's lock, or (abandoned) of the class lock takes from it.
 * - `full_used` is `used` while the slab is on its owner's full list, 0 otherwise: the remote
 *   free that makes the remote count reach it has freed the slab's last block, and gives the
 *   slab back to the pool itself, so an owner that has gone quiet pins no empty slab.
 *
 * Safety on free, all O(1) and before any write: the arena's byte map says whether the address
 * is ours (a pointer outside goes to the fallback untouched); the slab found by masking must
 * carry the lent magic for its own address; the pointer must be on a slot boundary; word 1 of a
 * free block holds a per-process key, and finding it there means a double free. Every pop of a
 * free list checks that the decoded link stays in its slab, 16-byte aligned.
 */
#ifndef ASLAB_MALLOC_HEAP_H
#define ASLAB_MALLOC_HEAP_H

#include "../slab.h"
#include "arena.h"
#include "size_class.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define ASLAB_TLS __attribute__((tls_model("initial-exec")))

/* Everything declared below is internal to the library: direct references, no GOT. */
#pragma GCC visibility push(hidden)

#define ASLAB__FULL         ((uint32_t)1 << 31)
#define ASLAB__ABANDONED    ((uintptr_t)1)
#define ASLAB__REMOTE_ONE   ((uintptr_t)2) /* one more block in a remote word's count */
#define ASLAB__REMOTE_COUNT ((uintptr_t)0xfffffffe)

struct aslab__heap_rec;

enum aslab__list_id {
    ASLAB__ON_NONE,
    ASLAB__ON_PARTIAL,
    ASLAB__ON_FULL,
    ASLAB__ON_ABANDONED,
    ASLAB__ON_EMPTY
};

/* What malloc's and free's fast paths read of a free list, first in every list's state: a
 * lent slab's (aslab__mslab), a kept list's, the stand-in's, and the thread's copy of the state
 * of its current slab of each small class (aslab__heap.hot). A list ends at aslab__list_end. */
#define ASLAB__HOT_FIELDS                                                               \
    void *free;                                                                         \
    uintptr_t first;     /* slot 0's address; 0 for a list of blocks of any slab */     \
    uintptr_t link_mask; /* ~(slab size - 1) | 15: a link leaves these bits as first */ \
    uint32_t used;                                                                      \
    uint32_t pad_hot; /* unused: two states to a cache line */

typedef struct aslab__hot {
    ASLAB__HOT_FIELDS
} aslab__hot;

/* The malloc's state of one lent slab, in the bytes the core reserves after its header. */
typedef struct aslab__mslab {
    /* line 1: the owner's alone; what its malloc and free read, named either way */
    union {
        aslab__hot hot;
        struct {
            ASLAB__HOT_FIELDS
        };
    };
    uint16_t cls;
    uint8_t on_list;   /* enum aslab__list_id */
    uint8_t bump_zero; /* the never-used blocks [bump, bump_end) read zero (calloc) */
    uint32_t size;     /* of a block: the class's, here where the fast paths look anyway */
    union {
        struct {
            /* Medium classes: bit i set when block i is free, on no list, and its pages
             * discarded (medium.c). The owner changes it; other threads' frees read it
             * (relaxed). */
            uint32_t clean;
            uint32_t pad1;
        };
        /* A kept list's: the slot test's bound of its class while free's fast path may put
         * blocks onto it, 0 before (the stand-in's is 0 for good). */
        uint64_t list_bound;
    };
    char *bump;
    /* line 2: where other threads give blocks back; the owner's rarely used fields after */
    _Alignas(64) uintptr_t remote;
    struct aslab__heap_rec *heap; /* the owner's record; NULL once abandoned */
    union {
        uint32_t full_used;
        /* A kept list's: the blocks it holds at most now (kept.c, "Its room"); read by the
         * statistics of other threads. */
        uint32_t room;
    };
    union {
        /* Small classes: a lent slab hands its never-used blocks out from a slot chosen by
         * its address (its colour, pool.c) to the end, then from slot 0 up to this offset
         * from the slab's start; 0 once [bump, bump_end) is the last run. */
        uint32_t bump_wrap;
        /* A kept list's: of the blocks it gave back since its room last changed, how many
         * more were the thread's own than other threads' (kept.c, "Its room"). */
        int32_t own_balance;
    };
    char *bump_end;
    struct aslab__mslab *prev, *next;
    /* Where the slab's writable memory ends (arena.c, memory reserved and made writable as it
     * is used): never-used blocks below it may be handed out. */
    char *writable_end;
} aslab__mslab;

#define ASLAB__MSLAB_RESERVE 128

_Static_assert(sizeof(aslab__mslab) <= ASLAB__MSLAB_RESERVE, "the slab state fits its reserve");
_Static_assert(offsetof(aslab__mslab, clean) < 64, "the fast paths' fields share line 1");
_Static_assert(sizeof(aslab__hot) == 32, "two copies of a list's state share a line");

static inline aslab__mslab *aslab__mslab_of(aslab__slab *slab) {
    return (aslab__mslab *)((char *)slab + ASLAB_SLAB_HEADER_SIZE);
}
static inline aslab__slab *aslab__slab_of(aslab__mslab *m) {
    return (aslab__slab *)((char *)m - ASLAB_SLAB_HEADER_SIZE);
}
/* The slab state whose list state h is: valid where h is one (not the thread's copy). */
static inline aslab__mslab *aslab__mslab_of_hot(aslab__hot *h) {
    return (aslab__mslab *)h;
}
/* Whether m has never-used blocks left: [bump, bump_end), or a small slab's run before its
 * colour (bump_wrap). */
static inline int aslab__has_never_used(const aslab__mslab *m) {
    return m->bump != m->bump_end || m->bump_wrap != 0;
}

/* Per class, a thread's slabs besides the current one (slab_list.h lists). */
typedef struct aslab__class_heap {
    aslab__mslab *partial; /* blocks came back by the owner's free */
    aslab__mslab *full;    /* nothing free when last looked */
    aslab__mslab *empty;   /* no block out: kept for the next current slab (empty.c) */
} aslab__class_heap;

enum aslab__heap_state { ASLAB_HEAP_NEW, ASLAB_HEAP_SETUP, ASLAB_HEAP_LIVE, ASLAB_HEAP_DEAD };

/* What a small class's frees do besides the fast path (kept.c): go onto the kept list, or, a
 * free-only phase having stopped that until the next malloc of the class, go to their slabs
 * or home one by one, or (the thread's own blocks) a batch at a time (batch.c). */
enum aslab__keep_state { ASLAB__KEEP_TAKING, ASLAB__KEEP_STOPPED, ASLAB__KEEP_BATCHED };

/* The blocks a thread's batch holds (batch.c): the most a quiet thread leaves waiting. */
#define ASLAB__BATCH_BLOCKS 16

/* A thread's heap: in TLS, what the fast paths touch (cur first, so that they index it and
 * allocs from one TLS base); the counters are the thread's own (no atomics). Static TLS comes
 * out of every thread's stack (glibc places it there), so what only slow paths touch lives
 * in the record (aslab__heap_rec): a thread made with a small stack keeps it for its own use
 * (docs/thread-owned-slabs.md, "Static TLS"). */
typedef struct aslab__heap {
    /* the list malloc pops per class: the record's hot[cls] (the current small slab's), a slab's
     * own state (medium classes), the class's kept list, or the stand-in &aslab__no_slab.hot */
    aslab__hot *cur[ASLAB_CLASS_SLOTS];
    uint64_t allocs[ASLAB_CLASS_SLOTS]; /* blocks malloc handed out */
    /* Per small class, the kept list (kept.c) that free puts blocks onto: the record's while
     * the heap is live and a free-only phase has not stopped the class's frees from going
     * there, &aslab__no_slab (no room, a list_bound of 0) otherwise, so that the free needs no
     * test of either. */
    struct aslab__mslab *keep[ASLAB_CLASS_SLOTS]; /* a medium class's: the stand-in, for good */
    /* Per small class (kept.c): the low half of `allocs` when the list last filled up, and
     * whether a free-only phase stopped frees from going onto it until the next malloc of
     * the class (and sent the thread's own to its batch instead: batch.c). */
    uint32_t fill_mark[ASLAB_CLASS_SLOTS];
    uint8_t paused[ASLAB_CLASS_SLOTS]; /* enum aslab__keep_state */
    /* A free-only phase's own blocks, waiting to go to their slabs (batch.c), and their
     * classes. */
    void *batch[ASLAB__BATCH_BLOCKS];
    uint8_t batch_cls[ASLAB__BATCH_BLOCKS];
    uint32_t batched;
    uintptr_t batch_last; /* the block batch.c last took */
    /* The slab a free-only phase's frees go straight to (aslab__batch_free_inline): one the
     * thread owns with blocks out, of a class whose frees are batched, with no batch waiting;
     * its entry in the table of lent slabs (arena.h: slot 0's address with the class above),
     * which free compares with the entry it has read for the block, and the slab. 0 and NULL
     * otherwise. batch.c sets them; whatever could end one of those clears them (a free that
     * empties a slab or takes it off the full list, the phase's end, the batch, the exit). */
    uintptr_t batch_entry;
    struct aslab__slab *batch_slab;
    int may_keep; /* between kept.c's enable and disable: the heap is live */
    struct aslab__heap_rec *rec;
    int state;
    /* The dirty-byte budget (medium.c) less the dirty bytes of the medium slabs this thread
     * owns: below 0, the thread discards. Set to the budget when the thread's heap is set up. */
    int64_t medium_room;
    int64_t medium_allowance; /* dirty bytes allowed beyond the budget for now (medium.c) */
    /* Per medium class, the block of the thread's own that it freed last, held off its slab's
     * list for the next malloc of the class, or NULL (medium.h, "the last freed block").
     * Indexed by the class itself, so that malloc needs no arithmetic on it; the small
     * classes' slots and slot 0 (every request's class before set-up) stay NULL. */
    void *recent[ASLAB_CLASS_SLOTS];
} aslab__heap;

/* The rest of a thread's heap, outside TLS and never unmapped, so that another thread may
 * lock it to take back a slab that a remote free emptied, even as the owner exits (records
 * are reused; the taker checks under the lock that the slab is still the record's). Its lists
 * change only under its lock. */
typedef struct aslab__heap_rec {
    uint64_t lock[2];
    aslab__class_heap classes[ASLAB_CLASS_SLOTS];
    uint64_t empty_bytes;                        /* of the slabs on the empty lists (empty.c) */
    aslab__heap *tls;                            /* the live owner's heap; NULL when free */
    struct aslab__heap_rec *reg_prev, *reg_next; /* the registry of records in use */
    /* The current slab per class (or &aslab__no_slab): what the heap's `cur` names (a small
     * class's through its copy in the heap's `hot`), except while `cur` names the class's kept
     * list below. Changed by the owner only. */
    aslab__mslab *current[ASLAB_CLASS_SLOTS];
    /* Per small class, blocks of other threads' slabs that this thread freed, kept for its own
     * mallocs (kept.c): a list shaped like a slab's, so that malloc's fast path pops it as it
     * pops a slab's. Its `used` counts the room left. */
    aslab__mslab kept[ASLAB_CLASS_SLOTS];
    /* medium.c's record of which pages of a slab are resident (one byte a page, a 16 MiB slab
     * of 4 KiB pages at most), here rather than on the stack of a free */
    unsigned char resident[4096];
    uint64_t frees_remote[ASLAB_CLASS_SLOTS]; /* blocks the owner took off remote lists */
    /* Per medium class, how calloc found the blocks it cleared again (api.c): above 0 when
     * their earlier users mostly left them unwritten, so that calloc scans a never-used block
     * of a dirty slab for the pages that nobody wrote too, rather than writing it whole. */
    int8_t calloc_sparse[ASLAB_CLASS_SLOTS];
    /* Per small class, the list state of the current slab, moved here from the slab (hot.c):
     * dense, so that malloc and free of a class touch no line of the slab but the block's;
     * reached through the heap's `cur`. `first` is 0 while the class has none here. Changed
     * by the owner only; lines of their own (other threads write the record's lock). */
    _Alignas(64) aslab__hot hot[ASLAB_SMALL_CLASSES + 1];
} aslab__heap_rec;

/* Per class, the capacity of a lent slab. Where its slots start, and the slot test's
 * constants, are in per-byte tables beside the slab masks (arena.h: aslab__regions.slot_offset,
 * slot_magic, slot_bound), where
 * the free path indexes them with the map byte it read. The slot test: with x a pointer's
 * offset from slot 0 (modulo 2^32), magic = (2^64 + c) / size for some 1 <= c <= size, and
 * bound = capacity * c, the low 64 bits of x * magic are k * c when x = k * size, and at least
 * magic otherwise (magic > 2^43 is far above any bound); the high 64 bits are k. So one
 * multiply and one compare say whether x is the start of a slot below the capacity, and which
 * (Lemire, Kaser and Kurz, "Faster remainder by direct computation"). */
typedef struct aslab__class_check {
    uint32_t capacity; /* slots of a lent slab */
} aslab__class_check;

/* The empty list's stand-in for a class a thread has no slab of: its free list is empty, so
 * the fast path needs no NULL test. Never written. */
extern aslab__mslab aslab__no_slab;
extern __thread aslab__heap aslab__thread_heap ASLAB_TLS;
extern aslab__class_check aslab__checks[ASLAB_CLASS_SLOTS];
extern aslab_cache *aslab__class_cache[ASLAB_CLASS_SLOTS];
/* The per-process secrets, set once at set-up (init.c); together, so that malloc and free
 * read one line for both of theirs. */
typedef struct aslab__key_set {
    uintptr_t free; /* word 1 of a free block */
    uintptr_t link; /* mixed into every stored free-list link */
    uintptr_t seen; /* word 2 of a free medium block a discard pass has seen free (medium.c) */
} aslab__key_set;
extern aslab__key_set aslab__keys;
/* `pushed` is set at the first block any thread pushes onto a slab's remote list (remote.c),
 * never cleared: until then no slab can hold remote frees, and an owner short of blocks need
 * not look for them (refill.c). A line of its own (the alignment pads the struct to 64
 * bytes): every remote free reads it. */
typedef struct aslab__remote_flag {
    _Alignas(64) int pushed;
} aslab__remote_flag;
extern aslab__remote_flag aslab__remote;

/* ---- init.c: process set-up ---- */
/* Sets the heap up once; 0 while the calling thread is itself inside the set-up (a malloc
 * nested in it), when the caller must use the fallback. */
int aslab__heap_init(void);
/* The class's core cache, created on first use; NULL if it cannot be. The call that creates
 * it also lends its first slab, to the caller: *first (first->slab NULL when this call did
 * not create the cache), *zeroed as aslab__pool_lend_noting_zero says. */
aslab_cache *aslab__class_cache_get(unsigned cls, aslab_slab_loan *first, int *zeroed);

/* ---- hot.c: the thread's copies of its current small slabs' list states ---- */
/* The slow paths work on a slab's own state: aslab__hot_park moves class cls's copy back into
 * its slab (and `cur` with it) before they look, aslab__hot_install moves the record's current
 * slab's state into the copy after. Both do nothing where there is nothing to move. */
void aslab__hot_park(unsigned cls);
void aslab__hot_install(unsigned cls);
void aslab__hot_park_all(void);
void aslab__hot_install_all(void);
/* copy, the calling thread's copy (empty) of its current slab m's list, takes the blocks the
 * thread freed onto m's own state meanwhile, as aslab__hot_park would join them; 0 if none. */
int aslab__hot_take_own(aslab__hot *copy, aslab__mslab *m);
/* The `used` of a slab whose state is the thread's copy: frees that reach the slab's own
 * state meanwhile count down from it (hot.c). */
#define ASLAB__HOT_USED ((uint32_t)1 << 30)

/* ---- list_order.c: blocks handed out in address order ---- */
/* Rebuilds the free list of m, a slab just taken off its owner's (the calling thread's)
 * partial list, lowest address first, when m's blocks are under 4 KiB and a quarter of it is
 * free. */
void aslab__list_order(aslab__mslab *m);

/* ---- refill.c / remote.c / thread.c: the slow paths ---- */
/* size <= ASLAB_MEDIUM_MAX; the class is recomputed after set-up (the lookup table is empty
 * before it). */
__attribute__((noinline)) void *aslab__malloc_slow(size_t size);
/* Of a block the slow path hands out, the bytes [lo, hi) known to read zero (lo == hi: none):
 * a medium slab's never-used block when the slab came zeroed, or the whole pages inside a
 * discarded one. calloc clears only the rest. */
typedef struct aslab__zeroed {
    char *lo, *hi;
} aslab__zeroed;
/* As aslab__malloc_slow, for calloc: *z says what of the block reads zero. */
void *aslab__calloc_slow(size_t size, aslab__zeroed *z);
/* After a local free made m empty or took it off the full list. */
__attribute__((noinline)) void aslab__free_local_slow(aslab__mslab *m);
/* p, in a region whose map byte is `byte` (a small or medium class's), is not in a slab the
 * calling thread owns (slab is p masked; owner is its owner word as the caller read it, not
 * the calling thread): checks it as the fast path does not (the magic, the slot, a double
 * free), then keeps it or gives it back to its owner. */
__attribute__((noinline)) void aslab__free_other(void *p, uintptr_t byte, aslab__slab *slab,
                                                 const char *fn, void *owner);
/* p failed the free path's checks: says which and aborts. Not noreturn, so that fast paths
 * reach it by a tail jump and need no stack frame of their own. */
__attribute__((noinline, cold)) void aslab__free_invalid(const void *p, unsigned cls,
                                                         const char *fn);
/* aslab__free_invalid for callers that need the compiler to know it does not return (so that
 * a fast path keeps no register alive across it, and needs no stack frame). */
__attribute__((noreturn)) static inline void aslab__invalid(const void *p, unsigned cls,
                                                            const char *fn) {
    aslab__free_invalid(p, cls, fn);
    __builtin_unreachable();
}
/* malloc found a corrupted link after block: says so and aborts. Returns (NULL) only so that
 * the fast path reaches it by a tail jump. */
__attribute__((noinline, cold)) void *aslab__list_fault(const void *block);
/* Heap corruption: prints "aslab: <fn>: <fault> <address>" and aborts. Not declared noreturn,
 * for the same reason; aslab__heap_fault is the same call for callers that need the compiler
 * to know it does not return. */
__attribute__((noinline, cold)) void aslab__heap_fault_at(const char *fn, const char *fault,
                                                          const void *p);
__attribute__((noreturn)) static inline void aslab__heap_fault(const char *fn, const char *fault,
                                                               const void *p) {
    aslab__heap_fault_at(fn, fault, p);
    __builtin_unreachable();
}
/* ---- kept.c: blocks of other threads' slabs kept for the calling thread's mallocs ---- */
void aslab__kept_init(void); /* at set-up, once the classes are known */
/* The most blocks a thread's list of small class cls may hold (0: none are kept). */
uint32_t aslab__kept_room(unsigned cls);
/* A new heap's lists, empty (rec is the calling thread's). */
void aslab__kept_reset(aslab__heap_rec *rec);
/* Gives every kept block of the calling thread back to its owner (exit, trim, the round). */
void aslab__kept_flush(void);
/* The calling thread's heap goes live (its frees go onto its kept lists), or it exits (they
 * never do again): its `keep` pointers name the lists, or &aslab__no_slab. */
void aslab__kept_enable(void);
void aslab__kept_disable(void);
/* Frees of class cls stopped after a free-only phase (paused), and a malloc of the class came
 * since: whether they go onto the list again (the heap is live), which then has room
 * (kept.c). */
int aslab__kept_reopen(unsigned cls);
/* A free filled class cls's kept list k: half of it goes back, or (no malloc of the class
 * since it last filled up: a free-only phase) all of it, and frees stop going onto it: they
 * go to the thread's batch if most of the list was the thread's own blocks (batch.c). */
__attribute__((noinline)) void aslab__kept_filled(aslab__mslab *k);
/* ---- batch.c: a free-only phase's own blocks, a batch at a time ---- */
/* p, a block of a lent slab of small class cls that free's fast path found (it starts a slot),
 * freed on behalf of fn while the class's frees are batched: checked, then pushed onto its slab
 * or put in the calling thread's batch. What free's own copy of the common case
 * (aslab__batch_free_inline) did not take. */
__attribute__((noinline)) void aslab__batch_free(void *p, uintptr_t cls, const char *fn);
/* Gives every block in the calling thread's batch back to its slab. */
void aslab__batch_flush(void);
/* The blocks of class cls in heap h's batch, read from any thread (the statistics). */
uint32_t aslab__batch_count(const aslab__heap *h, unsigned cls);

/* Gives back p, a checked free block of class cls on the calling thread's kept list, to its
 * slab (remote.c); returns 1 when another thread owns the slab, 0 when the calling thread
 * does (its own block, or a slab it adopted since). */
int aslab__give_back(void *p, unsigned cls);

/* The calling thread gives back what it can (empty slabs) before a trim. */
void aslab__heap_trim_thread(void);
/* Hands every class cache's empty slabs (its reserve included) back to the arena; returns
 * how many. The round does this, so a quiet class keeps nothing. */
size_t aslab__heap_release_empty(void);
/* A slow path ran (malloc's, refill.c; a large malloc or free): runs the memory-return round when
 * it is due (purge.h), one clock read when not. `from_malloc` also lets it start the optional
 * background thread: a free never does. Call with no lock held. */
void aslab__heap_tick(int from_malloc);
void aslab__stats_print(void);
int aslab__trim(void);

/* ---- inline helpers ---- */

/* A link as stored at `at` (and back: the encoding is its own inverse): the block's whole
 * address mixed in, not glibc's address >> 12, since the secret here is the key, not the
 * address's random bits; unshifted, the decode is one XOR with the block's own address
 * register (no copy and shift), in malloc and free alike. */
static inline uintptr_t aslab__link_encode_with(uintptr_t next, const void *at, uintptr_t key) {
    return next ^ key ^ (uintptr_t)at;
}
static inline uintptr_t aslab__link_encode(uintptr_t next, const void *at) {
    return aslab__link_encode_with(next, at, aslab__keys.link);
}

/* The slab of h's list, or 0 for a list of blocks of any slab (a kept list, the stand-in, a
 * thread's copy that holds no list): slot 0 is 16-byte aligned inside the slab. */
static inline uintptr_t aslab__hot_slab(const aslab__hot *h) {
    return h->first & h->link_mask;
}

/* Where the list of state h ends: its slab's state (whose `free`, while the list is not its
 * own, names itself), or for a list of blocks of any slab h itself. Never a block. */
static inline void *aslab__list_end(aslab__hot *h) {
    uintptr_t slab = aslab__hot_slab(h);
    return slab != 0 ? (void *)(slab + ASLAB_SLAB_HEADER_SIZE) : (void *)h;
}

/* Nonzero unless `link` is 16-byte aligned and in the same slab as h's list. */
static inline uintptr_t aslab__link_stray(uintptr_t link, const aslab__hot *h) {
    return (link ^ h->first) & h->link_mask;
}

/* Whether block p carries key in word 1. The fast paths compare the half at p + 8 first,
 * a 4-byte load: a narrow store the program made to the block's last bytes just before the
 * free (p[15] of a 16-byte block) does not overlap it, where it would stall the forwarding
 * of an 8-byte load (16-byte pairs 6.5 -> 3.6 ns, session 27). The whole word is compared
 * only when the halves match. */
static inline int aslab__carries_key(const void *p, uintptr_t key) {
    _Static_assert(sizeof(uintptr_t) == 8, "the malloc keeps 8-byte words");
    uint32_t half;
    memcpy(&half, (const char *)p + 8, sizeof half);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint32_t key_half = (uint32_t)key;
#else
    uint32_t key_half = (uint32_t)(key >> 32);
#endif
    if (ASLAB__LIKELY(half != key_half)) return 0;
    return ((const uintptr_t *)p)[1] == key;
}

/* Whether p, about to be pushed onto list h, is free already: it
 * carries the free key in word 1, or it is the head, the block freed last, which a write
 * after free may have wiped the key of (glibc's "fasttop" check): pushed again, the list
 * would loop on it and malloc hand it out twice. The kept lists' fast path (aslab__free_kept)
 * tests the key only, as glibc's tcache does: the head's test would cost the pair. */
static inline int aslab__already_free(const void *p, uintptr_t key, const aslab__hot *h) {
    return aslab__carries_key(p, key) || p == h->free;
}

/* Pushes block p onto h's free list (a slab's, or a kept list): its link, and key in word 1. */
static inline void aslab__list_push_block(aslab__hot *h, void *p, uintptr_t key) {
    uintptr_t *obj = p;
    obj[0] = aslab__link_encode((uintptr_t)h->free, p);
    obj[1] = key;
    h->free = p;
}

/* Marks `block`, free and on no list, free as a push would (the free key in word 1; no link):
 * a block waiting in a batch (batch.c), and never-used blocks next to those a slab has handed
 * out (refill.c says which; pool.c, the one before a new slab's first), so that a free of a
 * neighbour's address, `free(p + size)` with p the last block handed out, fails as a double
 * free instead of listing a block that the bump would hand out again. */
static inline void aslab__mark_free(void *block) {
    ((uintptr_t *)block)[1] = aslab__keys.free;
}

/* The block after `block` on h's free list, its link checked as malloc checks it; a slow
 * path's walk (fn names the call for the fault). */
static inline uintptr_t *aslab__list_next(aslab__hot *h, uintptr_t *block, const char *fn) {
    uintptr_t next = aslab__link_encode(block[0], block);
    if (aslab__link_stray(next, h) != 0)
        aslab__heap_fault(fn, "corrupted free list (a write after free?)", block);
    return (uintptr_t *)next;
}

/* The slab p lies in, p being in a region of class cls. */
static inline aslab__slab *aslab__slab_at(const void *p, unsigned cls) {
    return (aslab__slab *)((uintptr_t)p & aslab__regions.class_slab_mask[cls]);
}

/* What a lent slab's header says as its owner when the calling thread owns it: the thread
 * pointer, so that one compare checks both that the header is a live lent slab's (a stale
 * header says NULL) and that the caller owns it. p masked is always a slab's start (a region
 * holds only its class's slabs), so no header can be read from anywhere else. Threads are told
 * apart by their thread pointers; a thread's slabs are all abandoned (owner NULL) before its
 * thread pointer can be reused. */
static inline void *aslab__owner_tag(void) {
    return __builtin_thread_pointer();
}

/* The slot test's multiplier for blocks of `size` bytes (16 to 2^20): floor(2^64 / size) + 1,
 * so that magic * size = 2^64 + c with 1 <= c <= size (a power of two gets c = size, not 0). */
static inline uint64_t aslab__slot_magic(uint32_t size) {
    return UINT64_MAX / size + 1 + ((size & (size - 1)) == 0);
}

/* The slot test's bound for `capacity` blocks of `size` bytes: capacity * c. */
static inline uint64_t aslab__slot_bound(uint32_t size, uint32_t capacity) {
    return capacity * (aslab__slot_magic(size) * size); /* magic * size wraps to c */
}

/* The slot test of aslab__class_check: x's slot index when x, an offset from slot 0 taken
 * modulo 2^64, is the start of a slot below the capacity, and UINT32_MAX otherwise. Exact
 * whenever (|x| + (capacity + 1) * size) * size <= 2^64, x read as signed
 * (docs/thread-owned-slabs.md, "The slot test"): for any x within a slab, and for a small
 * class (size <= 16 KiB) for any two addresses below 2^48, which lets the free path test a
 * pointer against its current slab's slot 0 without first finding the pointer's slab. */
static inline uint32_t aslab__slot_at(uint64_t x, uint64_t magic, uint64_t bound) {
    unsigned __int128 product = (unsigned __int128)x * magic;
    return (uint64_t)product < bound ? (uint32_t)(product >> 64) : UINT32_MAX;
}

/* The index of p's slot when it starts one below the capacity of a slab whose slot 0 starts
 * at `first`, the class's slot test taken by p's map byte; UINT32_MAX otherwise. */
static inline uint32_t aslab__slot_by_byte(const void *p, uintptr_t first, uintptr_t byte) {
    return aslab__slot_at((uintptr_t)p - first, aslab__regions.slot_magic[byte],
                          aslab__regions.slot_bound[byte]);
}

/* aslab__slot_at's test alone, without the index: the low 64 bits of its product, one
 * multiply and one compare. */
static inline int aslab__slot_starts_at(uint64_t x, uint64_t magic, uint64_t bound) {
    return x * magic < bound;
}

/* Whether p starts a slot below the capacity of the slab whose slot 0 is `first`, for p in a
 * small class's region (byte its map byte) and `first` below 2^48 (0 for a list of no slab:
 * every region lies at or above 4 MiB, beyond every small slab's last slot). */
static inline int aslab__slot_starts(const void *p, uintptr_t first, uintptr_t byte) {
    return aslab__slot_starts_at((uintptr_t)p - first, aslab__regions.slot_magic[byte],
                                 aslab__regions.slot_bound[byte]);
}

/* The index of p's slot when p, in a region whose map byte is `byte`, is the start of one,
 * and UINT32_MAX otherwise; slab is p masked. A pointer below slot 0 wraps to an offset that
 * fails the test too. */
static inline uint32_t aslab__slot_in(const void *p, const aslab__slab *slab, uintptr_t byte) {
    return aslab__slot_by_byte(p, (uintptr_t)slab + aslab__regions.slot_offset[byte], byte);
}

/* Whether block `index` of medium slab m is free and discarded (on no list). */
static inline int aslab__block_clean(const aslab__mslab *m, uint32_t index) {
    return (__atomic_load_n(&m->clean, __ATOMIC_RELAXED) >> index) & 1;
}

/* Whether p, slot `index` of slab (a live lent slab of class cls), is free: the key in its
 * word 1, or for a medium block a discarded one's bit (its word 1 went with its page). */
static inline int aslab__block_freed(const void *p, aslab__slab *slab, unsigned cls,
                                     uint32_t index) {
    return aslab__carries_key(p, aslab__keys.free) ||
           (aslab__class_is_medium(cls) && aslab__block_clean(aslab__mslab_of(slab), index));
}

/* The list malloc pops for class cls when its kept list is empty (the heap is set up). */
static inline aslab__hot *aslab__cur_home(unsigned cls) {
    aslab__heap_rec *rec = aslab__thread_heap.rec;
    if (cls <= ASLAB_SMALL_CLASSES && rec->hot[cls].first != 0) return &rec->hot[cls];
    return &rec->current[cls]->hot;
}

/* Counts block, of h's list, as handed out by its owner, the calling thread, and clears its
 * double-free key. */
static inline void *aslab__handed_out(aslab__hot *h, void **block, unsigned cls) {
    h->used++;
    aslab__thread_heap.allocs[cls]++;
    block[1] = NULL; /* no longer free */
    return block;
}

/* Pops block, the head of h's free list (not empty), after checking its link; the calling
 * thread owns the list. */
static inline void *aslab__pop_block(aslab__hot *h, void **block, unsigned cls) {
    uintptr_t next = aslab__link_encode((uintptr_t)block[0], block);
    if (ASLAB__UNLIKELY(aslab__link_stray(next, h) != 0)) return aslab__list_fault(block);
    h->free = (void *)next;
    return aslab__handed_out(h, block, cls);
}

/* Pushes p onto kept list k, whose `used` counts the room left (not 0), in a slow path: the
 * fast path may take the list from now on. */
static inline void aslab__kept_push(aslab__mslab *k, void *p, uintptr_t key) {
    aslab__list_push_block(&k->hot, p, key);
    /* The bound is the class's, fixed once its first slab is lent; stored here rather than when
     * the list is set up, which may come before that (a thread may free blocks of a class it
     * never malloced), and on every slow push because the store costs what a test of it would. */
    k->list_bound = aslab__regions.slot_bound[aslab__map_byte(k->cls)];
    if (--k->used == 0) aslab__kept_filled(k);
}

/* Whether the calling thread's frees of class cls stopped after a free-only phase and may go
 * onto its list again: a malloc of the class came since (kept.c). */
static inline int aslab__kept_may_reopen(intptr_t cls) {
    aslab__heap *h = &aslab__thread_heap;
    return h->paused[cls] && (uint32_t)h->allocs[cls] != h->fill_mark[cls];
}

/* The calling thread's frees stop going straight to its batch_slab (batch.c). */
static inline void aslab__batch_slab_forget(void) {
    aslab__thread_heap.batch_entry = 0;
    aslab__thread_heap.batch_slab = NULL;
}

/* A malloc of class cls came (its slow path: refill.c), or `cur` turned away from the class's
 * kept list (kept.c), so that the next malloc will not miss: a free-only phase whose frees were
 * batched is over. Its frees go the way stopped ones do, which opens the list again (kept.c);
 * batch_free then tests nothing per free for it. */
static inline void aslab__batch_end(unsigned cls) {
    aslab__heap *h = &aslab__thread_heap;
    if (h->paused[cls] == ASLAB__KEEP_BATCHED) {
        h->paused[cls] = ASLAB__KEEP_STOPPED;
        aslab__batch_slab_forget(); /* mallocs may fill the slab, and a remote free give it back */
    }
}

/* The calling thread's kept list for class cls if it takes a free now (it has room, or frees
 * of the class turn back on after a malloc: aslab__kept_may_reopen), NULL otherwise. */
static inline __attribute__((always_inline)) aslab__mslab *aslab__kept_taking(intptr_t cls) {
    aslab__mslab *k = aslab__thread_heap.keep[cls];
    if (ASLAB__LIKELY(k->used != 0)) return k;
    if (ASLAB__UNLIKELY(aslab__kept_may_reopen(cls)) && aslab__kept_reopen((unsigned)cls))
        return aslab__thread_heap.keep[cls];
    return NULL;
}

/* ---- medium.c: the medium classes' free pages ---- */
void aslab__medium_init(void);       /* at set-up, once the options are read */
extern int64_t aslab__medium_budget; /* the most dirty medium bytes a thread keeps */
/* The calling thread holds more than the budget: discards down to half of it. */
__attribute__((noinline)) void aslab__medium_discard(void);
/* The bytes of m's listed free blocks, all dirty (resident or may be): a walk of its free
 * list, for the rare moments a slab joins or leaves a thread. */
uint64_t aslab__medium_slab_dirty(aslab__mslab *m);
/* The owner of medium slab m took n blocks off its remote list onto `free` (they are dirty);
 * the thread counts them. */
static inline void aslab__medium_took(aslab__mslab *m, uint64_t bytes) {
    if (aslab__class_is_medium(m->cls)) aslab__thread_heap.medium_room -= (int64_t)bytes;
}
/* The calling thread adopted m: its dirty free blocks become the thread's. */
static inline void aslab__medium_adopted(aslab__mslab *m) {
    if (aslab__class_is_medium(m->cls))
        aslab__thread_heap.medium_room -= (int64_t)aslab__medium_slab_dirty(m);
}
/* room -= n, and whether it went below 0: on x86-64 one read-modify-write and a branch on
 * its flags (compilers load, subtract, store and test). No output operand: gcc 12 loses the
 * jump's target when an asm goto has one here (the discard call vanished), so the write is
 * declared by a memory clobber instead. */
static inline int aslab__room_spent(int64_t *room, int64_t n) {
#if defined(__x86_64__) && defined(__GNUC__)
    __asm__ goto("subq %1, %0\n\tjs %l[low]" : : "m"(*room), "er"(n) : "cc", "memory" : low);
    return 0;
low:
    return 1;
#else
    return (*room -= n) < 0;
#endif
}
/* The owner frees p, a block of medium slab m: its pages are resident until discarded, and a
 * discard pass has not seen it free yet. Returns nonzero when the thread is past its budget. */
static inline int aslab__medium_freed(void *p, const aslab__mslab *m) {
    ((uintptr_t *)p)[2] = 0; /* not aslab__keys.seen */
    return aslab__room_spent(&aslab__thread_heap.medium_room, m->size);
}
/* The owner gives medium slab m back to the pool: its free blocks leave the thread's count,
 * and the allowance (medium.c) shrinks with them. */
static inline void aslab__medium_gives(aslab__mslab *m) {
    if (!aslab__class_is_medium(m->cls)) return;
    aslab__heap *h = &aslab__thread_heap;
    int64_t dirty = (int64_t)aslab__medium_slab_dirty(m);
    int64_t less = h->medium_allowance < dirty ? h->medium_allowance : dirty;
    h->medium_allowance -= less;
    h->medium_room += dirty - less;
}
/* Discards the pages of the calling thread's free medium blocks (malloc_trim). */
void aslab__medium_trim_thread(void);
/* Hands out a clean block of medium slab m (m->clean not 0); the calling thread owns m. */
void *aslab__medium_take_clean(aslab__mslab *m, aslab__zeroed *z);

/* malloc's fast path found h's list empty (block is its end) or its head's link stray: the
 * slow path, or the fault. Out of line, so that the fast path reaches it by a tail jump. */
__attribute__((noinline)) void *aslab__pop_failed(size_t size, aslab__hot *h, void **block);

/* Starts fetching `next`, the block the class's following malloc will hand out: that malloc
 * reads its link and the program then writes it, and a block freed a batch ago, or on another
 * core, is out of this core's cache. Fetched one malloc early, its miss overlaps the program's
 * own work instead of stalling the pop (docs/thread-owned-slabs.md, "Prefetching the next
 * block"). A prefetch never faults, so a list's end costs nothing. On x86-64 it is prefetcht0,
 * which every x86-64 has (prefetchw, for writing, measured the same and is not baseline), and
 * the asm pins `block`, malloc's result, in rax: with __builtin_prefetch, gcc 12 puts `next`
 * there and pays a move, one instruction of the pair's 60. */
static inline void aslab__prefetch_next(uintptr_t next, void **block) {
#if defined(__x86_64__) && defined(__GNUC__)
    __asm__("prefetcht0 (%1)" : : "a"(block), "r"(next));
#else
    (void)block;
    __builtin_prefetch((void *)next, 1, 3);
#endif
}

/* malloc's pop from h, the list of class cls that `cur` names: one test for an empty list and
 * a corrupted link. An empty list's head is its end, whose first word (`free`) names itself:
 * decoded as a link, that is end ^ key ^ end = key, and the key's bit 63 (init.c) puts it
 * outside every slab, so it fails the stray test too. `medium` (a constant) counts the block
 * out of the thread's dirty bytes, as aslab__pop_medium; a medium class's list is always its
 * slab's own. */
static inline void *aslab__pop_fast(aslab__hot *h, unsigned cls, size_t size, int medium) {
    void **block = h->free;
    uintptr_t next = aslab__link_encode((uintptr_t)block[0], block);
    if (ASLAB__UNLIKELY(aslab__link_stray(next, h) != 0)) return aslab__pop_failed(size, h, block);
    h->free = (void *)next;
    aslab__prefetch_next(next, block);
    if (medium) aslab__thread_heap.medium_room += aslab__mslab_of_hot(h)->size;
    return aslab__handed_out(h, block, cls);
}

/* Pops block off medium slab m's free list as aslab__pop_block does: every listed medium
 * block is dirty, and leaves the thread's count. */
static inline void *aslab__pop_medium(aslab__mslab *m, void **block, unsigned cls) {
    aslab__thread_heap.medium_room += m->size;
    return aslab__pop_block(&m->hot, block, cls); /* last, so that its fault is a tail call */
}

/* Either pop, by class: the slow path serves both. */
static inline void *aslab__pop_any(aslab__hot *h, void **block, unsigned cls) {
    if (aslab__class_is_medium(cls)) return aslab__pop_medium(aslab__mslab_of_hot(h), block, cls);
    return aslab__pop_block(h, block, cls);
}

static inline void *aslab__malloc_small(size_t size) {
    unsigned cls = aslab__class_of(size);
    return aslab__pop_fast(aslab__thread_heap.cur[cls], cls, size, 0);
}

/* --*used, and whether the result is 0 or negative as a signed count. On x86-64 one
 * read-modify-write and a branch on its flags; compilers make a load, a store and a test of it.
 * The write is declared by a memory clobber, as in aslab__room_spent. */
static inline int aslab__drop_used(uint32_t *used) {
#if defined(__x86_64__) && defined(__GNUC__)
    __asm__ goto("subl $1, %0\n\tjle %l[low]" : : "m"(*used) : "cc", "memory" : low);
    return 0;
low:
    return 1;
#else
    return (int32_t)-- * used <= 0;
#endif
}

/* Pushes p, a block of a slab the calling thread owns, onto the free list of the slab's own
 * state; key is aslab__keys.free. Returns 1 when the slab was emptied or taken off the full
 * list (aslab__free_local_slow ran: the slab may have left the thread), 0 otherwise. */
static inline int aslab__free_local(void *p, aslab__slab *slab, uintptr_t key) {
    aslab__mslab *m = aslab__mslab_of(slab);
    aslab__list_push_block(&m->hot, p, key);
    /* One test for both rare events: the slab is now empty (used 0), or it was on the full
     * list (ASLAB__FULL set: the count reads as negative). */
    if (ASLAB__LIKELY(!aslab__drop_used(&m->used))) return 0;
    aslab__free_local_slow(m);
    return 1;
}

/* The common case of a free-only phase's free (batch.c), in free itself: p, a slot of the lent
 * slab whose table entry is `entry`, in the slab a free of the phase went to last (batch_slab:
 * the thread's own, blocks out, no batch waiting), and not free already. Onto the slab's list
 * with no call, no owner read and no other table read: the out-of-line way cost a third of the
 * free, and the tests of the page, the owner and the class state eight instructions more
 * (wrapf: 200,000 blocks malloced, then freed in order; docs/thread-owned-slabs.md, "In
 * allocation order"). Returns 0, having done nothing, for any other block. */
static inline __attribute__((always_inline)) int aslab__batch_free_inline(void *p, uintptr_t entry,
                                                                          const char *fn) {
    aslab__heap *h = &aslab__thread_heap;
    if (ASLAB__UNLIKELY(entry != h->batch_entry)) return 0;
    aslab__slab *slab = h->batch_slab;
    uintptr_t key = aslab__keys.free;
    if (ASLAB__UNLIKELY(aslab__carries_key(p, key))) {
        aslab__heap_fault_at(fn, "double free detected", p);
        return 1;
    }
    aslab__free_local(p, slab, key);
    return 1;
}

/* How a checked free gives p, a block of slab, back (key is aslab__keys.free); the calling
 * thread owns slab. */
typedef void aslab__push_fn(void *p, aslab__slab *slab, uintptr_t key);

/* The slab of p, whose map byte names a small or medium class. */
static inline aslab__slab *aslab__slab_by_byte(const void *p, uintptr_t byte) {
    return (aslab__slab *)((uintptr_t)p & aslab__regions.slab_mask[byte]);
}

/* The push of a small class's block (a medium class's is aslab__push_medium). */
static inline __attribute__((always_inline)) void aslab__push_small(void *p, aslab__slab *slab,
                                                                    uintptr_t key) {
    aslab__free_local(p, slab, key);
}

/* The checks and the push of a free of p once the calling thread is known to own slab;
 * `push` is a constant that always_inline folds in, and says the kind of class. */
static inline __attribute__((always_inline)) void aslab__free_owned(void *p, aslab__slab *slab,
                                                                    uintptr_t byte, const char *fn,
                                                                    aslab__push_fn *push) {
    aslab__mslab *m = aslab__mslab_of(slab); /* the caller's own: read its slot 0 */
    if (push != aslab__push_small) {         /* a medium class's */
        uint32_t index = aslab__slot_by_byte(p, m->first, byte);
        if (ASLAB__UNLIKELY(index == UINT32_MAX)) {
            aslab__free_invalid(p, aslab__map_class((unsigned)byte), fn);
            return;
        }
        /* A discarded medium block's word 1 went with its page: its bit in `clean` says it
         * is free (tested first, while the index is at hand). The thread's held block of the
         * class (medium.h) is free too, its key wiped or not (aslab__already_free). */
        if (ASLAB__UNLIKELY(aslab__block_clean(m, index) ||
                            aslab__thread_heap.recent[m->cls] == p)) {
            aslab__heap_fault_at(fn, "double free detected", p);
            return;
        }
    } else if (ASLAB__UNLIKELY(!aslab__slot_starts(p, m->first, byte))) {
        aslab__free_invalid(p, aslab__map_class((unsigned)byte), fn);
        return;
    }
    uintptr_t key = aslab__keys.free; /* read once: the push's stores might alias it */
    if (ASLAB__UNLIKELY(aslab__already_free(p, key, &m->hot))) {
        aslab__heap_fault_at(fn, "double free detected", p);
        return;
    }
    push(p, slab, key);
}

/* What free does with p, a block of slab, once the calling thread is known to own it. */
typedef void aslab__owned_fn(void *p, uintptr_t byte, aslab__slab *slab, const char *fn);

/* Frees p, whose map byte `byte` names a small class, on behalf of fn: a block of slab, which
 * the calling thread owns but which is not its current slab (or is, while `cur` names the
 * kept list), that free's fast path did not take: onto the kept list while it takes frees
 * (kept.c) or its slab's list (free_owned). Out of line, so that the current slab's path
 * keeps its registers to itself. */
__attribute__((noinline)) void aslab__free_small_owned(void *p, uintptr_t byte, aslab__slab *slab,
                                                       const char *fn);

/* Frees p, whose map byte (aslab__map_byte) names a small or medium class, on behalf of
 * function fn, by its slab (p masked): `owned` when the calling thread owns the slab. The
 * owner tag stands for the header's magic on this path; any other owner takes
 * aslab__free_other, which checks the magic itself. Every way out is a tail call; `owned` is
 * a constant that always_inline folds in. The byte is a uintptr_t, so that gcc indexes the
 * tables with the register it loaded it into. */
static inline __attribute__((always_inline)) void aslab__free_checked(void *p, aslab__slab *slab,
                                                                      uintptr_t byte,
                                                                      const char *fn,
                                                                      aslab__owned_fn *owned) {
    /* acquire: aslab__free_other goes on to the slab's state with it (a plain load on x86) */
    void *owner = __atomic_load_n(&slab->owner, __ATOMIC_ACQUIRE);
    if (ASLAB__UNLIKELY(owner != aslab__owner_tag())) {
        aslab__free_other(p, byte, slab, fn, owner);
        return;
    }
    owned(p, byte, slab, fn);
}

/* The owner's free of p, a block of its current slab of a small class (p starts one of its
 * slots), whose state is h, the thread's copy: the double-free key, then the push. Its count
 * cannot reach 0 (the current slab's phantom use) unless blocks were freed that were never
 * handed out. */
static inline __attribute__((always_inline)) void aslab__free_hot(void *p, aslab__hot *h,
                                                                  const char *fn) {
    uintptr_t key = aslab__keys.free;
    if (ASLAB__UNLIKELY(aslab__already_free(p, key, h))) {
        aslab__heap_fault_at(fn, "double free detected", p);
        return;
    }
    aslab__list_push_block(h, p, key);
    if (ASLAB__UNLIKELY(aslab__drop_used(&h->used)))
        aslab__heap_fault_at(fn, "more blocks freed than allocated in this slab", p);
}

/* Puts p, a block of the calling thread's current slab of small class cls, or a medium block,
 * onto kept list k (with room), checked as the current slab's blocks are (its slot by the list
 * `cur` names). */
static inline void aslab__free_to_kept(void *p, aslab__mslab *k, intptr_t cls, const char *fn) {
    uintptr_t key = aslab__keys.free;
    if (ASLAB__UNLIKELY(aslab__already_free(p, key, &k->hot))) {
        aslab__heap_fault_at(fn, "double free detected", p);
        return;
    }
    aslab__thread_heap.cur[cls] = &k->hot;
    aslab__kept_push(k, p, key);
}

/* Frees p, whose map byte names a small class, on behalf of function fn, when the fast path
 * (aslab__free_kept) did not: its kept list is full or stopped, or the table of lent slabs
 * does not name p's slab, or its class has no list. The list `cur` names for the class says
 * whether p is a block of the calling thread's current slab: the slot test against the list's
 * slot 0 passes only then (a kept list's and the stand-in's `first` is 0, below every
 * region), so no line of p's slab is looked at. Any other slab goes by its header's owner. */
static inline void aslab__free_small(void *p, uintptr_t byte, const char *fn) {
    intptr_t index = (intptr_t)byte; /* signed, so that the bias below folds into the load */
    aslab__hot *h = aslab__thread_heap.cur[index - ASLAB_MAP_SMALL_BIAS];
    if (ASLAB__LIKELY(aslab__slot_starts(p, h->first, (uintptr_t)index))) {
        aslab__mslab *k = aslab__thread_heap.keep[index - ASLAB_MAP_SMALL_BIAS];
        if (k->used != 0) { /* the list takes it (and opens for the fast path) */
            aslab__free_to_kept(p, k, index - ASLAB_MAP_SMALL_BIAS, fn);
            return;
        }
        aslab__free_hot(p, h, fn);
        return;
    }
    aslab__free_checked(p, aslab__slab_by_byte(p, (uintptr_t)index), (uintptr_t)index, fn,
                        aslab__free_small_owned);
}

/* Frees p, a block of a lent slab of class cls that no kept list took (a medium class's, or a
 * small class's whose list does not take frees and whose frees are not batched: those go to
 * aslab__batch_free), by the class's path after the map (api.c): out of line, so that free's
 * fast path needs no register saved. */
void aslab__free_lent(void *p, uintptr_t cls, const char *fn);
/* The same for a small class (remote.c): p starts a slot of the lent slab the table names,
 * so another thread's block needs no map, no current-slab test and no second slot test, only
 * the double-free key before it goes onto the list or home (a consumer that never mallocs
 * comes here for every free); the calling thread's own block, or an abandoned slab's, goes
 * by aslab__free_small. Never for a class whose frees are batched (the callers test it). */
void aslab__free_lent_small(void *p, uintptr_t cls, const char *fn);

/* The slot test of p against the table of lent slabs' entry for p's address (arena.h):
 * *cls is the entry's class (0 for an empty entry), and the result is below
 * aslab__regions.lent_bound[*cls] exactly when p starts a slot of the lent slab the entry
 * names. p less the entry is p - slot 0 less the class shifted up; lent_adjust adds back what
 * that costs the product. */
static inline __attribute__((always_inline)) uint64_t
aslab__lent_slot_of(const void *p, uintptr_t entry, uintptr_t *cls) {
    *cls = entry >> ASLAB_LENT_CLASS_SHIFT;
    return ((uintptr_t)p - entry) * aslab__regions.lent_magic[*cls] +
           aslab__regions.lent_adjust[*cls];
}
static inline __attribute__((always_inline)) uint64_t aslab__lent_slot(const void *p,
                                                                       uintptr_t *cls) {
    return aslab__lent_slot_of(p, aslab__lent_entry(p), cls);
}

/* The fast path of free (kept.c, "Every free onto the list"): when the table of lent slabs
 * names, for p's address, a lent slab of a class with a kept list, p starts one of its slots,
 * and the list takes frees, p goes onto the list, which `cur` then names: the next malloc of
 * the class takes it back. No line of the slab is read, and the map is not either: the
 * table's entry, slot 0's address with the class above it, is the test that p is ours, since
 * any other entry (another slab's, or 0) is too far from p for the slot test to pass, and
 * entry 0's class, 0, has the stand-in's bound of 0. A block of such a slab whose list does
 * not take it goes to aslab__free_small directly; returns 0, having done nothing, for any
 * other pointer. */
static inline __attribute__((always_inline)) int aslab__free_kept(void *p, const char *fn) {
    uintptr_t cls, entry = aslab__lent_entry(p);
    uint64_t slot = aslab__lent_slot_of(p, entry, &cls);
    aslab__mslab *k = aslab__thread_heap.keep[cls];
    if (ASLAB__UNLIKELY(slot >= k->list_bound)) {
        if (slot >= aslab__regions.lent_bound[cls]) return 0;
        if (ASLAB__LIKELY(aslab__batch_free_inline(p, entry, fn))) return 1; /* a phase's */
        if (aslab__thread_heap.paused[cls] == ASLAB__KEEP_BATCHED) /* only small classes */
            aslab__batch_free(p, cls, fn); /* the class's free-only phase, another slab */
        else
            aslab__free_lent(p, cls, fn);
        return 1;
    }
    uintptr_t key = aslab__keys.free;
    if (ASLAB__UNLIKELY(aslab__carries_key(p, key))) {
        aslab__heap_fault_at(fn, "double free detected", p);
        return 1;
    }
    aslab__list_push_block(&k->hot, p, key);
    /* Stored only when it changes: the next malloc loads `cur`, and a load that must wait
     * for this store's data made a malloc/free loop 3-4% slower (session 22). */
    if (aslab__thread_heap.cur[cls] != &k->hot) aslab__thread_heap.cur[cls] = &k->hot;
    if (ASLAB__UNLIKELY(--k->used == 0)) aslab__kept_filled(k);
    return 1;
}

#pragma GCC visibility pop
#endif
