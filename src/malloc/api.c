/* api.c - the semantics of the entry points beyond plain malloc and free: calloc, realloc,
 * the aligned family, usable size and sized free. Errors as POSIX and glibc give them:
 * NULL with errno ENOMEM for sizes that cannot be had, EINVAL for bad alignments. */
#include "api.h"

#include "clear.h"
#include "direct.h"
#include "large.h"
#include "os.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

extern uint64_t aslab__fallback_requests;

/* Requests above this fail at once, touching nothing (see aslab__os_request_limit). The
 * limits it comes from change under a running program (setrlimit, swap added): a request
 * above it reads them again before it is refused, and so does a request the fallback could
 * not serve, so that the bound follows RLIMIT_AS both ways, as glibc's mmap does. Requests
 * below it, and every small one, never pay for the system calls. */
static size_t request_limit = PTRDIFF_MAX;

static size_t refresh_limit(void) {
    size_t limit = aslab__os_request_limit();
    __atomic_store_n(&request_limit, limit, __ATOMIC_RELAXED);
    return limit;
}

void aslab__api_init(void) {
    refresh_limit();
}

/* Nonzero when a request of `size` bytes cannot be had: it is above the bound, even read anew. */
static int beyond_limit(size_t size) {
    if (size <= __atomic_load_n(&request_limit, __ATOMIC_RELAXED)) return 0;
    return size > refresh_limit();
}

static void *no_memory(void) {
    errno = ENOMEM;
    return NULL;
}

/* The fallback's answer: p, or NULL with ENOMEM and the limits read again. */
static void *served(void *p) {
    if (p != NULL) return p;
    refresh_limit();
    return no_memory();
}

static void count_fallback(void) {
    __atomic_add_fetch(&aslab__fallback_requests, 1, __ATOMIC_RELAXED);
}

/* Whether a nonzero map byte names one of the classes (small or medium): never 0 (not
 * ours) or ASLAB_MAP_DIRECT. */
static int is_class(unsigned owner) {
    return owner - 1 < ASLAB_NUM_CLASSES;
}

/* Beyond ASLAB_DIRECT_MALLOC_MIN a block is mapped directly; what the OS refuses there the
 * fallback may still serve (it may hold free memory). */
static void *large_block(size_t size, int zeroed) {
    if (size > ASLAB_DIRECT_MALLOC_MIN) {
        void *p = aslab__direct_malloc(size, zeroed);
        if (p != NULL) return p;
    }
    count_fallback();
    return served(aslab__large_get(size, zeroed));
}

/* Above the classes: the fallback's or a directly mapped block. */
void *aslab__malloc_cold(size_t size) {
    if (beyond_limit(size)) return no_memory(); /* never asked of the OS */
    aslab__heap_tick(1);
    return large_block(size, 0);
}

__attribute__((noinline)) void aslab__large_free(void *p, const char *fn) {
    aslab__large_put(p, fn);
    aslab__heap_tick(0);
}

/* Out of line, so that aslab__free_cold needs no stack frame of its own. */
__attribute__((noinline)) static void direct_free(void *p, const char *fn) {
    aslab__direct_free(p, fn);
    aslab__heap_tick(0);
}

void aslab__free_cold(void *p, unsigned byte, const char *fn) {
    if (byte == ASLAB_MAP_DIRECT) {
        direct_free(p, fn);
    } else if (p != NULL) {
        aslab__large_free(p, fn);
    }
}

/* The bounds of a class's calloc_sparse (heap.h): a few blocks used the other way turn it. */
#define SPARSE_MAX 4

/* Clears a block that calloc takes again from its class's lists where it holds data (clear.c:
 * the pages its last user never wrote stay out of memory), and learns from it how the class's
 * blocks are used. */
static void *clear_reused(void *p, size_t total, unsigned cls) {
    size_t granules, written = aslab__clear_written(p, total, &granules);
    int8_t *sparse = &aslab__thread_heap.rec->calloc_sparse[cls];
    if (2 * written < granules) {
        if (*sparse < SPARSE_MAX) (*sparse)++;
    } else if (*sparse > -SPARSE_MAX) {
        (*sparse)--;
    }
    return p;
}

/* Clears [p, p + n) of a block from the slow path: scanned like a reused block where the
 * class's blocks come back mostly unwritten, else written whole. A never-used block of a
 * dirty slab may hold pages nobody touched since they were discarded; the scan maps the zero
 * page there, and a program that then writes them takes a second fault, which in a threaded
 * program flushes the page from every CPU's TLB (mstress, which writes all it callocs: 7%
 * slower when every such block was scanned). */
static void clear_part(char *p, size_t n, unsigned cls) {
    size_t granules;
    if (aslab__thread_heap.state == ASLAB_HEAP_LIVE &&
        aslab__thread_heap.rec->calloc_sparse[cls] > 0)
        aslab__clear_written(p, n, &granules);
    else {
        aslab__os_prefault(p, n); /* likely pages nobody touched: mapped in one call */
        memset(p, 0, n);
    }
}

/* Clears [p, p + total) but for what z says reads zero already. */
static void clear_outside(char *p, size_t total, const aslab__zeroed *z, unsigned cls) {
    char *end = p + total;
    if (z->lo == z->hi || z->lo >= end) {
        clear_part(p, total, cls);
        return;
    }
    clear_part(p, (size_t)(z->lo - p), cls);
    if (z->hi < end) clear_part(z->hi, (size_t)(end - z->hi), cls);
}

/* A medium calloc: the held last freed block or one from the class's list is cleared where it
 * holds data; one from the slow path only where it may not read zero (a never-used block of
 * a slab that came zeroed, or the pages inside a discarded one, are left untouched: no write,
 * no page fault before the program's own). */
static void *calloc_medium(size_t total) {
    unsigned cls = aslab__medium_class_of(total);
    void **slot = aslab__recent_of(cls);
    if (*slot != NULL) return clear_reused(aslab__recent_take(slot, cls), total, cls);
    aslab__hot *h = aslab__thread_heap.cur[cls];
    if (h->free != aslab__list_end(h))
        return clear_reused(aslab__pop_fast(h, cls, total, 1), total, cls);
    aslab__zeroed z = {NULL, NULL};
    char *p = aslab__calloc_slow(total, &z);
    if (p != NULL) clear_outside(p, total, &z, cls);
    return p;
}

void *aslab__api_calloc(size_t n, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) return no_memory();
    if (total <= ASLAB_SMALL_MAX) {
        void *p = aslab__malloc_small(total);
        if (p != NULL) memset(p, 0, total);
        return p;
    }
    if (total <= ASLAB_MEDIUM_MAX) return calloc_medium(total);
    if (beyond_limit(total)) return no_memory();
    return large_block(total, 1);
}

/* Whether slab, of class cls, is lent, read from the hottest place that can say: the calling
 * thread's current slab of the class is (the list `cur` names says so without a line of the
 * slab: a block just allocated is nearly always there); any other slab's header says so by
 * its magic. Every slab header sits at the same offset in a page, so that line is a cache
 * miss in a program with many slabs (bench zmalloc: most of malloc_usable_size's time). */
static int slab_lent(const aslab__slab *slab, unsigned cls) {
    if (aslab__hot_slab(aslab__thread_heap.cur[cls]) == (uintptr_t)slab) return 1;
    return slab->magic == aslab__lent_magic_for(slab);
}

/* The index of p's slot in slab (p masked), p being in a region whose map byte `byte` names
 * class cls: p must start a slot of a lent slab, or fn aborts naming the fault. Indexes the
 * tables by the byte, as free does, and its faults do not return, so that its callers need
 * no stack frame. */
static inline __attribute__((always_inline)) uint32_t
checked_slot(const void *p, const aslab__slab *slab, uintptr_t byte, unsigned cls, const char *fn) {
    uint32_t index = aslab__slot_in(p, slab, byte);
    if (ASLAB__UNLIKELY(index == UINT32_MAX || !slab_lent(slab, cls))) aslab__invalid(p, cls, fn);
    return index;
}

/* The usable size of p, whose map byte `byte` names a small or medium class, checked as a free
 * would check it: p starts a slot, its slab is lent, and it is not free. Redis asks it of
 * every block it allocates and frees (bench/malloc/zmalloc.c), so it is a leaf with no stack
 * frame and no register saved (62 instructions a call before, with the class recomputed and
 * a frame). */
static size_t class_block_size(void *p, uintptr_t byte, const char *fn) {
    aslab__slab *slab = aslab__slab_by_byte(p, byte);
    unsigned cls = aslab__map_class((unsigned)byte);
    uint32_t index = checked_slot(p, slab, byte, cls, fn); /* a medium block's clean bit */
    if (ASLAB__UNLIKELY(aslab__block_freed(p, slab, cls, index)))
        aslab__heap_fault(fn, "block already freed", p);
    return aslab__classes[cls].size;
}

/* The class of p where the table of lent slabs (arena.h) names a lent slab that p starts a
 * slot of, as free's fast path finds it (heap.h, aslab__free_kept): no line of the slab is
 * read, only the block's word 1 for the free key (a discarded medium block has its key there
 * too: medium.c). 0 for any other pointer, which the map's path takes. Every slab header sits
 * at the same offset in its page, so in a program with many slabs that line was the size
 * query's cache miss (bench zmalloc). fn aborts on a freed block. */
static inline unsigned lent_class(void *p, const char *fn) {
    uintptr_t cls;
    if (aslab__lent_slot(p, &cls) >= aslab__regions.lent_bound[cls]) return 0;
    if (ASLAB__UNLIKELY(aslab__carries_key(p, aslab__keys.free)))
        aslab__heap_fault(fn, "block already freed", p);
    return (unsigned)cls;
}

/* A block for realloc to move into: beyond the threshold (direct.h) a directly mapped one,
 * whose later growth is an mremap, not a copy. */
static void *realloc_target(size_t size) {
    if (size > aslab__direct_realloc_min() && !beyond_limit(size)) {
        void *p = aslab__direct_malloc(size, 0);
        if (p != NULL) return p;
    }
    return aslab__api_malloc(size);
}

/* Copies p's first `keep` bytes to fresh, a block of `size` bytes, and frees p; NULL when
 * fresh is (p stays valid, as realloc promises). */
static void *moved(void *fresh, void *p, size_t keep, size_t size, const char *fn) {
    if (fresh == NULL) return NULL;
    memcpy(fresh, p, keep < size ? keep : size);
    aslab__api_free(p, fn);
    return fresh;
}

/* Moves p's first `keep` bytes to a new block of `size` bytes; frees p on success. */
static void *move_block(void *p, size_t keep, size_t size, const char *fn) {
    return moved(realloc_target(size), p, keep, size, fn);
}

/* A directly mapped block is resized by mremap while it stays large; one shrunk to what the
 * classes serve moves there. */
static void *direct_realloc(void *p, size_t size) {
    if (size <= ASLAB_DIRECT_MIN)
        return move_block(p, aslab__direct_usable_size(p, "realloc()"), size, "realloc()");
    if (beyond_limit(size)) return no_memory();
    aslab__heap_tick(1);
    return served(aslab__direct_realloc(p, size));
}

/* realloc of p, a block of class cls of `old` bytes: kept where the new size's class is its
 * own (glibc too keeps a chunk that shrinks by little), else moved. */
static void *class_realloc(void *p, unsigned cls, size_t old, size_t size) {
    if (size <= ASLAB_MEDIUM_MAX && aslab__class_for(size) == cls) return p;
    return move_block(p, old, size, "realloc()");
}

void *aslab__api_realloc(void *p, size_t size) {
    if (p == NULL) return aslab__api_malloc(size);
    if (size == 0) { /* glibc: free and return NULL */
        aslab__api_free(p, "realloc()");
        return NULL;
    }
    unsigned cls = lent_class(p, "realloc()");
    if (ASLAB__LIKELY(cls != 0)) return class_realloc(p, cls, aslab__classes[cls].size, size);
    unsigned byte = aslab__map_read(p), owner = aslab__map_class(byte);
    if (owner == ASLAB_MAP_DIRECT) return direct_realloc(p, size);
    if (is_class(owner))
        return class_realloc(p, owner, class_block_size(p, byte, "realloc()"), size);
    if (size <= ASLAB_MEDIUM_MAX)
        return move_block(p, aslab__large_usable_size(p, "realloc()"), size, "realloc()");
    if (beyond_limit(size)) return no_memory();
    aslab__heap_tick(1);
    if (size > aslab__direct_realloc_min()) { /* else, or if the OS refuses, the fallback's */
        size_t keep = aslab__large_usable_size(p, "realloc()");
        void *q = moved(aslab__direct_malloc(size, 0), p, keep, size, "realloc()");
        if (q != NULL) return q;
    }
    count_fallback();
    return served(aslab__large_realloc(p, size));
}

void *aslab__api_reallocarray(void *p, size_t n, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) return no_memory();
    return aslab__api_realloc(p, total);
}

/* The smallest class whose blocks hold size bytes and are all aligned to align (a class's
 * blocks are aligned to the largest power of two dividing its size, up to 64 KiB: see
 * aslab__class_align), or 0 when no class is. */
static unsigned aligned_class(size_t align, size_t size) {
    size_t need = size > align ? size : align;
    if (align > ASLAB_CLASS_ALIGN_MAX || need > ASLAB_MEDIUM_MAX) return 0;
    aslab__heap_init(); /* the class table */
    for (unsigned cls = aslab__class_for(need); cls != 0 && cls <= ASLAB_NUM_CLASSES; cls++)
        if ((aslab__classes[cls].size & (align - 1)) == 0) return cls;
    return 0;
}

/* align: a power of two. The classes serve alignments up to 64 KiB; larger ones are the
 * fallback's. */
static void *aligned(size_t align, size_t size) {
    if (align <= ASLAB_MIN_ALIGN) return aslab__api_malloc(size);
    unsigned cls = aligned_class(align, size);
    if (cls != 0) {
        void *p = aslab__api_malloc(aslab__classes[cls].size);
        if (p != NULL && ((uintptr_t)p & (align - 1)) == 0) return p;
        if (p != NULL) aslab__api_free(p, "memalign()"); /* the fallback served the class */
    }
    if (beyond_limit(size) || beyond_limit(align)) return no_memory();
    count_fallback();
    return served(aslab__large_aligned(align, size != 0 ? size : 1));
}

void *aslab__api_memalign(size_t align, size_t size) {
    if (align > ((size_t)1 << (sizeof(size_t) * 8 - 1))) {
        errno = EINVAL;
        return NULL;
    }
    size_t rounded = 1;
    while (rounded < align)
        rounded <<= 1; /* glibc rounds a bad alignment up */
    return aligned(rounded, size);
}

void *aslab__api_aligned_alloc(size_t align, size_t size) {
    if (align == 0 || (align & (align - 1)) != 0) {
        errno = EINVAL;
        return NULL;
    }
    return aligned(align, size);
}

int aslab__api_posix_memalign(void **out, size_t align, size_t size) {
    if (align < sizeof(void *) || (align & (align - 1)) != 0) return EINVAL;
    int saved = errno;
    void *p = aligned(align, size);
    if (p == NULL) {
        errno = saved;
        return ENOMEM;
    }
    *out = p;
    return 0;
}

void *aslab__api_valloc(size_t size) {
    return aligned(aslab__os_page_size(), size);
}

void *aslab__api_pvalloc(size_t size) {
    size_t page = aslab__os_page_size();
    if (size > SIZE_MAX - page) return no_memory();
    size_t rounded = size == 0 ? page : (size + page - 1) & ~(page - 1);
    return aligned(page, rounded);
}

size_t aslab__api_usable_size(void *p) {
    unsigned cls = lent_class(p, "malloc_usable_size()");
    if (ASLAB__LIKELY(cls != 0)) return aslab__classes[cls].size;
    uintptr_t byte = aslab__map_read(p); /* 0 for NULL */
    if (ASLAB__LIKELY(byte >= ASLAB_MAP_MEDIUM_MIN))
        return class_block_size(p, byte, "malloc_usable_size()");
    if (p == NULL) return 0;
    if (byte == ASLAB_MAP_DIRECT) return aslab__direct_usable_size(p, "malloc_usable_size()");
    return aslab__large_usable_size(p, "malloc_usable_size()");
}

/* free_sized / free_aligned_sized: a size larger than the block is a misuse that would
 * corrupt an allocator that trusts it; aslab checks it and aborts. */
void aslab__api_free_sized(void *p, size_t size, const char *fn) {
    unsigned byte = aslab__map_read(p), owner = aslab__map_class(byte);
    if (owner == ASLAB_MAP_DIRECT) {
        if (size > aslab__direct_usable_size(p, fn))
            aslab__heap_fault(fn, "size larger than the block", p);
        aslab__free_cold(p, owner, fn);
        return;
    }
    if (is_class(owner)) {
        checked_slot(p, aslab__slab_by_byte(p, byte), byte, owner, fn);
        if (size > aslab__classes[owner].size)
            aslab__heap_fault(fn, "size larger than the block", p);
        aslab__api_free(p, fn);
        return;
    }
    if (p == NULL) return;
    if (size > aslab__large_usable_size(p, fn))
        aslab__heap_fault(fn, "size larger than the block", p);
    aslab__large_free(p, fn);
}

void aslab__free_by_map(void *p, const char *fn) {
    unsigned byte = aslab__map_read(p);
    if (ASLAB__LIKELY(byte > ASLAB_MAP_SMALL_BIAS)) {
        aslab__free_small(p, byte, fn);
        return;
    }
    if (ASLAB__LIKELY(aslab__byte_is_medium(byte))) {
        aslab__free_medium(p, byte, fn);
        return;
    }
    aslab__free_cold(p, byte, fn);
}

/* aslab__free_lent of a medium block: out of line, so that the small blocks' way is a jump
 * with no register saved. */
__attribute__((noinline)) static void free_lent_medium(void *p, uintptr_t cls, const char *fn) {
    aslab__mslab *k = aslab__kept_taking((intptr_t)cls);
    if (k != NULL) { /* the list takes it (and opens for the fast path) */
        aslab__free_to_kept(p, k, (intptr_t)cls, fn);
        return;
    }
    aslab__free_medium(p, aslab__map_byte((unsigned)cls), fn);
}

void aslab__free_lent(void *p, uintptr_t cls, const char *fn) {
    if (aslab__class_is_medium((unsigned)cls))
        free_lent_medium(p, cls, fn);
    else
        aslab__free_lent_small(p, cls, fn);
}
