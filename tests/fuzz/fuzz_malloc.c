/* fuzz_malloc.c - libFuzzer harness for the malloc built on the core. It calls the library's
 * internal entry points (src/malloc/api.h), not the exported malloc names, so that the
 * sanitizer's own malloc stays the harness's allocator and nothing is interposed twice.
 *
 * The input is a program of operations: malloc, calloc, realloc, reallocarray, aligned_alloc,
 * posix_memalign, memalign, valloc, pvalloc, free, free_sized, usable size, malloc_trim,
 * the calling thread's trim, mallinfo2, and frees and allocations on a short-lived second
 * thread. Sizes: mostly small, about a third from 16 KiB to 1 MiB (the medium classes of
 * issue 13, their edges +-1 included), a few up to 4 MiB; alignments to 64 KiB. make fuzz
 * also runs it with ASLAB_DECAY_MS=0: free slabs discarded at once, so that they come back
 * zero-filled. Each answer is checked against a model: contents intact (the realloc prefix
 * included), blocks overlapping nothing, alignment, the usable size (the README's classes
 * for blocks of aslab's classes, at least the request for the others), requests up to the
 * largest class served by aslab's classes or the fallback as the size and alignment say,
 * calloc zeroed, and errno and NULL for bad requests. Misuse that aborts (double free,
 * interior pointers) is left to the malloc's own test suites.
 */
#include "../../src/malloc/api.h"

#include "../../src/malloc/direct.h"
#include "../../src/malloc/large.h"
#include "../../src/malloc/stats_api.h"
#include "fuzz_input.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define MAX_LIVE 1024

/* Requests up to SERVED_MAX are aslab's own classes' (the small ones, and the medium ones
 * of issue 13 once size_class.h has them); above MEDIUM_TOP, blocks may be the fallback's
 * or mapped directly. MEDIUM_TOP is the largest medium class either way. */
#ifdef ASLAB_MEDIUM_MAX
#define SERVED_MAX ASLAB_MEDIUM_MAX
#else
#define SERVED_MAX ASLAB_SMALL_MAX
#endif
#define MEDIUM_TOP     ((size_t)1 << 20)
#define MEDIUM_CLASSES 48 /* 18 KiB .. 1 MiB, eight per doubling */
#define ALIGN_ROUTED   ((size_t)64 << 10)
#define LARGE_RANGE    ((size_t)3 << 20) /* large requests: MEDIUM_TOP + 1 .. + 3 MiB */

typedef struct block {
    uintptr_t addr;
    size_t size, usable, align;
    uint32_t seed;
} block;

static block live[MAX_LIVE];
static size_t nlive;
static uint32_t seeds;

__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *format, ...) {
    va_list args;
    va_start(args, format);
    fputs("fuzz_malloc: ", stderr);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    va_end(args);
    abort();
}

/* ---- the model ---- */

/* The README's classes: 16-byte steps to 256, then eight per doubling (the medium classes
 * continue the eighths to MEDIUM_TOP). */
static size_t class_size(size_t size) {
    if (size <= 256) return size <= 16 ? 16 : (size + 15) & ~(size_t)15;
    size_t group = 256;
    while (group * 2 < size)
        group *= 2;
    size_t step = group / 8;
    return (size + step - 1) / step * step;
}

static size_t lower_bound(uintptr_t addr) {
    size_t lo = 0, hi = nlive;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (live[mid].addr < addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void model_insert(const block *b) {
    size_t i = lower_bound(b->addr);
    if (i < nlive && live[i].addr < b->addr + b->usable)
        die("block %#lx+%zu overlaps live block %#lx", (unsigned long)b->addr, b->usable,
            (unsigned long)live[i].addr);
    if (i > 0 && live[i - 1].addr + live[i - 1].usable > b->addr)
        die("block %#lx overlaps live block %#lx+%zu", (unsigned long)b->addr,
            (unsigned long)live[i - 1].addr, live[i - 1].usable);
    memmove(&live[i + 1], &live[i], (nlive - i) * sizeof live[0]);
    live[i] = *b;
    nlive++;
}

static block model_take(size_t i) {
    block b = live[i];
    memmove(&live[i], &live[i + 1], (nlive - i - 1) * sizeof live[0]);
    nlive--;
    return b;
}

static void verify(const block *b, const char *when) {
    size_t bad = check_seeded((void *)b->addr, b->size, b->seed);
    if (bad != SIZE_MAX)
        die("block %#lx (%zu bytes) corrupted at offset %zu %s", (unsigned long)b->addr, b->size,
            bad, when);
}

/* Nonzero when aslab's classes serve this request: alignments up to the classes' own
 * (ASLAB_CLASS_ALIGN_MAX) are served by a class whose blocks are all aligned so. */
static int served_by_classes(size_t size, size_t align) {
    size_t need_size = size > align ? size : align;
    return align <= 16 ? size <= SERVED_MAX
                       : align <= ASLAB_CLASS_ALIGN_MAX && need_size <= SERVED_MAX;
}

/* Nonzero when p is in a region of one of aslab's classes (a directly mapped block is not). */
static int in_class(const void *p) {
    unsigned owner = aslab__owner_class(p);
    return owner != 0 && owner != ASLAB_MAP_DIRECT;
}

/* Checks a new block against what the README promises, fills it, and adds it. `align` is
 * the alignment asked for (0: malloc's 16); zeroed: calloc's promise. Who owns the block
 * is checked where issue 13 decides it (requests up to MEDIUM_TOP, alignments up to 64 KiB:
 * the classes or the fallback); above, a block may be the fallback's or mapped directly. */
static void adopt(void *p, size_t size, size_t align, int zeroed) {
    uintptr_t addr = (uintptr_t)p;
    size_t need = align > 16 ? align : 16, usable = aslab__api_usable_size(p);
    size_t need_size = size > align ? size : align;
    int ours = served_by_classes(size, align), owned = in_class(p);
    int routed = need_size <= MEDIUM_TOP && align <= ALIGN_ROUTED;
    if (addr % need != 0) die("block %p for %zu bytes not aligned to %zu", p, size, need);
    if (ours ? !owned : routed && owned)
        die("block %p for %zu bytes (align %zu) %s aslab's", p, size, align,
            ours ? "is not" : "is");
    if (ours && align <= 16 ? usable != class_size(size) : usable < size)
        die("block %p for %zu bytes: usable size %zu", p, size, usable);
    if (zeroed && zero_check(p, size) != SIZE_MAX) die("calloc block %p not zeroed", p);
    block b = {addr, size, usable, align, mix32(++seeds)};
    fill_seeded(p, size, b.seed);
    model_insert(&b);
}

/* ---- sizes ---- */

/* A medium class's size -1, itself or +1 (the last class + 1 is large). */
static size_t medium_edge(fuzz_input *in) {
    size_t cls = in_u8(in) % MEDIUM_CLASSES, group = ASLAB_SMALL_MAX << (cls / 8);
    return group + (cls % 8 + 1) * (group / 8) + in_u8(in) % 3 - 1;
}

/* Most requests small, about a third medium (16 KiB to 1 MiB: edges, and sizes spread
 * evenly over the doublings), a few large. */
static size_t pick_size(fuzz_input *in) {
    static const size_t edges[] = {0,   1,    15,   16,   17,   255,   256,   257,  512,
                                   513, 1024, 4095, 4096, 8193, 16383, 16384, 16385};
    uint8_t b = in_u8(in);
    if (b < 72) return in_u8(in) + (size_t)(b % 2) * 256;
    if (b < 136) return in_u16(in) % (ASLAB_SMALL_MAX + 1);
    if (b < 160) return edges[in_u8(in) % (sizeof edges / sizeof edges[0])];
    if (b < 184) return medium_edge(in);
    if (b < 240) {
        size_t group = ASLAB_SMALL_MAX << (in_u8(in) % 6);
        return group + 1 + in_u32(in) % group;
    }
    return MEDIUM_TOP + 1 + in_u32(in) % LARGE_RANGE;
}

/* Sizes no system can grant: NULL and ENOMEM at once. */
static size_t impossible_size(fuzz_input *in) {
    static const size_t sizes[] = {SIZE_MAX, SIZE_MAX / 2, (size_t)1 << 45, PTRDIFF_MAX};
    return sizes[in_u8(in) % 4];
}

static void expect_enomem(void *p, const char *what, size_t size) {
    if (p != NULL || errno != ENOMEM)
        die("%s(%zu): %p, errno %d; expected NULL and ENOMEM", what, size, p, errno);
}

/* ---- operations ---- */

static void op_malloc(fuzz_input *in) {
    errno = 0;
    if (in_u8(in) % 16 == 0) {
        size_t size = impossible_size(in);
        expect_enomem(aslab__api_malloc(size), "malloc", size);
        return;
    }
    size_t size = pick_size(in);
    void *p = aslab__api_malloc(size);
    if (p == NULL) die("malloc(%zu) failed, errno %d", size, errno);
    adopt(p, size, 0, 0);
}

static void op_calloc(fuzz_input *in) {
    size_t n = in_u8(in) % 8 + 1, size = pick_size(in) / n;
    errno = 0;
    if (in_u8(in) % 16 == 0) {
        expect_enomem(aslab__api_calloc((SIZE_MAX >> 1) + 1, n + 1), "calloc (overflow)", n);
        return;
    }
    void *p = aslab__api_calloc(n, size);
    if (p == NULL) die("calloc(%zu, %zu) failed, errno %d", n, size, errno);
    adopt(p, n * size, 0, 1);
}

/* realloc and reallocarray: the prefix survives, a failure leaves the block as it was. */
static void op_realloc(fuzz_input *in) {
    if (nlive == 0) return;
    size_t i = in_index(in, nlive), size = pick_size(in);
    verify(&live[i], "before realloc");
    uint8_t kind = in_u8(in) % 16;
    errno = 0;
    if (kind == 0) {
        size_t huge = impossible_size(in);
        expect_enomem(aslab__api_realloc((void *)live[i].addr, huge), "realloc", huge);
        verify(&live[i], "after a failed realloc");
        return;
    }
    if (kind == 1) {
        void *p = aslab__api_reallocarray((void *)live[i].addr, SIZE_MAX / 2, 3);
        expect_enomem(p, "reallocarray (overflow)", 3);
        return;
    }
    if (kind == 2) size = ASLAB_DIRECT_MIN + 1 + in_u32(in) % (5 * ASLAB_DIRECT_MIN); /* mremap */
    block old = model_take(i);
    void *p = aslab__api_realloc((void *)old.addr, size);
    if (size == 0 && p == NULL) return; /* freed, as glibc does */
    if (p == NULL) die("realloc(%zu) failed, errno %d", size, errno);
    size_t keep = old.size < size ? old.size : size;
    if (check_seeded(p, keep, old.seed) != SIZE_MAX)
        die("realloc from %zu to %zu bytes lost the preserved prefix", old.size, size);
    adopt(p, size, 0, 0);
}

/* Bad alignments, every power of two to 64 KiB, and often those from a page to 64 KiB,
 * which the medium classes serve (issue 13). */
static size_t pick_align(fuzz_input *in) {
    uint8_t b = in_u8(in);
    if (b < 16) return (size_t[]){0, 3, 24, 48, 100, 4095, SIZE_MAX, (size_t)3 << 20}[b % 8];
    if (b < 160) return (size_t)1 << (b % 17);
    return (size_t)1 << (12 + b % 5);
}

static int pow2(size_t x) {
    return x != 0 && (x & (x - 1)) == 0;
}

static void op_aligned(fuzz_input *in) {
    size_t align = pick_align(in), size = pick_size(in);
    uint8_t kind = in_u8(in) % 3;
    void *p = NULL;
    errno = 0;
    if (kind == 0) {
        p = aslab__api_aligned_alloc(align, size);
        if (!pow2(align) && (p != NULL || errno != EINVAL))
            die("aligned_alloc(%zu): %p, errno %d; expected EINVAL", align, p, errno);
    } else if (kind == 1) {
        int err = aslab__api_posix_memalign(&p, align, size);
        int valid = pow2(align) && align >= sizeof(void *);
        if (!valid && (err != EINVAL || p != NULL))
            die("posix_memalign(%zu): %d, %p; expected EINVAL, untouched", align, err, p);
        if (valid && err != 0) die("posix_memalign(%zu, %zu): %d", align, size, err);
    } else if (align <= ((size_t)1 << 20)) {
        p = aslab__api_memalign(align, size);
        while (!pow2(align))
            align++; /* memalign rounds a bad alignment up */
    }
    if (p == NULL) return;
    adopt(p, size, align, 0);
}

static void op_page_aligned(fuzz_input *in) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE), size = pick_size(in);
    int pv = in_u8(in) % 2;
    void *p = pv ? aslab__api_pvalloc(size) : aslab__api_valloc(size);
    if (p == NULL) die("%s(%zu) failed", pv ? "pvalloc" : "valloc", size);
    size_t rounded = size == 0 ? page : (size + page - 1) / page * page;
    if (pv && aslab__api_usable_size(p) < rounded) die("pvalloc(%zu) too small", size);
    adopt(p, size, page, 0);
}

static void op_free(fuzz_input *in) {
    if (nlive == 0) return;
    block b = model_take(in_index(in, nlive));
    verify(&b, "before free");
    uint8_t how = in_u8(in) % 4;
    if (how == 0)
        aslab__api_free_sized((void *)b.addr, b.size - (b.size != 0 ? in_u8(in) % b.size : 0),
                              "free_sized()");
    else if (how == 1 && aslab__api_realloc((void *)b.addr, 0) != NULL)
        die("realloc(p, 0) did not free");
    else if (how > 1)
        aslab__api_free((void *)b.addr, "free()");
}

static void op_usable(fuzz_input *in) {
    if (aslab__api_usable_size(NULL) != 0) die("usable size of NULL is not 0");
    if (nlive == 0) return;
    const block *b = &live[in_index(in, nlive)];
    size_t usable = aslab__api_usable_size((void *)b->addr);
    if (usable != b->usable)
        die("usable size of %#lx changed: %zu, was %zu", (unsigned long)b->addr, usable, b->usable);
}

/* Trim and flush must not touch a live block. */
static void op_trim(fuzz_input *in) {
    if (in_u8(in) % 2)
        aslab__trim();
    else
        aslab__heap_trim_thread();
    for (size_t i = 0; i < nlive; i++)
        verify(&live[i], "after malloc_trim or a thread trim");
}

/* mallinfo2 when no other thread holds blocks: the small blocks in use are exactly the live
 * small blocks' classes; the fallback's share is what it reports, less a block parked for
 * reuse (free to the program: large.h), at least what its live blocks use when it can tell
 * (jemalloc; glibc's reports nothing). */
static void op_mallinfo(fuzz_input *in) {
    (void)in;
    struct mallinfo2 info = aslab__mallinfo2();
    size_t small = 0, large = 0, fb_allocated, fb_mapped;
    size_t parked = aslab__large_parked_bytes();
    aslab__fb_stats(&fb_allocated, &fb_mapped);
    fb_allocated -= parked < fb_allocated ? parked : fb_allocated;
    aslab__direct_stats direct;
    aslab__direct_stats_get(&direct);
    /* direct blocks', the spare mapping (a freed block's, kept) not among them */
    fb_allocated += direct.mapped - direct.spare - direct.blocks * ASLAB_DIRECT_HEADER;
    for (size_t i = 0; i < nlive; i++) {
        if (in_class((void *)live[i].addr))
            small += live[i].usable;
        else
            large += live[i].usable;
    }
    if (info.uordblks != small + fb_allocated || info.arena < small ||
        (fb_mapped != 0 && fb_allocated < large))
        die("mallinfo2: uordblks %zu, arena %zu, fallback %zu; live small blocks use %zu, "
            "the fallback's %zu",
            info.uordblks, info.arena, fb_allocated, small, large);
}

/* ---- a second thread: it frees blocks main made, makes blocks main will free, and exits
 * (its slabs are abandoned at exit) ---- */

typedef struct job {
    void *frees[32];
    size_t nfree;
    void *made[32];
    size_t sizes[32], nmade;
} job;

static void *job_main(void *arg) {
    job *j = arg;
    for (size_t i = 0; i < j->nfree; i++)
        aslab__api_free(j->frees[i], "free()");
    for (size_t i = 0; i < j->nmade; i++)
        j->made[i] = aslab__api_malloc(j->sizes[i]);
    return NULL;
}

static void op_thread(fuzz_input *in) {
    job j = {.nfree = 0, .nmade = in_u8(in) % 33};
    for (size_t k = in_u8(in) % 33; k > 0 && nlive > 0; k--) {
        block b = model_take(in_index(in, nlive));
        verify(&b, "before a free on another thread");
        j.frees[j.nfree++] = (void *)b.addr;
    }
    for (size_t i = 0; i < j.nmade; i++)
        j.sizes[i] = pick_size(in);
    pthread_t thread;
    if (pthread_create(&thread, NULL, job_main, &j) != 0) die("pthread_create failed");
    pthread_join(thread, NULL);
    for (size_t i = 0; i < j.nmade; i++) {
        if (j.made[i] == NULL) die("malloc(%zu) on a thread failed", j.sizes[i]);
        adopt(j.made[i], j.sizes[i], 0, 0);
    }
}

/* ---- the driver ---- */

typedef void (*op_fn)(fuzz_input *in);
static const op_fn ops[] = {op_malloc,  op_malloc,  op_malloc,       op_calloc, op_realloc,
                            op_realloc, op_aligned, op_page_aligned, op_free,   op_free,
                            op_free,    op_usable,  op_trim,         op_thread, op_mallinfo};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_input in = {data, size, 0};
    for (unsigned n = 0; in_more(&in) && n < 2048; n++) {
        if (nlive >= MAX_LIVE - 64) { /* room for the largest batch an operation adds */
            block b = model_take(0);
            verify(&b, "before free");
            aslab__api_free((void *)b.addr, "free()");
        }
        ops[in_u8(&in) % (sizeof ops / sizeof ops[0])](&in);
    }
    while (nlive > 0) {
        block b = model_take(nlive - 1);
        verify(&b, "at the end of the input");
        aslab__api_free((void *)b.addr, "free()");
    }
    return 0;
}
