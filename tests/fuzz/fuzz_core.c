/* fuzz_core.c - libFuzzer harness for the core API. The input is a program of operations on
 * up to MAX_CACHES caches: create (random object sizes, alignments, slab sizes and locks, many
 * of them invalid), alloc, free, bulk alloc and free, clone, release, trim, failures injected
 * into the hooks, double frees, interior, header, tail and foreign pointers, frees with a
 * smaller slab size, NULL arguments, calls on released handles. Every answer is checked
 * against core_model.h: error codes (each fault its own), alignment, objects inside their own
 * cache's slabs and overlapping nothing, contents intact at free, statistics, and every slab back
 * with the hooks once a cache is finished and at the end of the input.
 */
#include "core_model.h"
#include "fuzz_input.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FREED_RING   64
#define FOREIGN_SIZE 4096
#define MAX_OPS      4096

typedef struct freed_obj {
    uintptr_t addr;
    int cache;
    uint32_t gen; /* of the slab it was in */
} freed_obj;

static freed_obj freed[FREED_RING];
static unsigned freed_next;
static unsigned char *foreign; /* a slab-aligned block the harness made itself */

static void expect(aslab_error got, aslab_error want, const char *what) {
    if (got != want)
        die("%s: got %s, expected %s", what, aslab_strerror(got), aslab_strerror(want));
}

/* ---- checks ---- */

/* Live objects of cache c in its master slab. */
static size_t live_in_master(int c) {
    uintptr_t base = (uintptr_t)M.caches[c].handle, end = base + M.caches[c].slab_size;
    size_t n = 0;
    for (size_t i = 0; i < M.nlive; i++)
        n += M.live[i].cache == c && M.live[i].addr >= base && M.live[i].addr < end;
    return n;
}

static aslab_cache_stats stats_of(int c) {
    aslab_cache_stats st;
    expect(aslab_cache_stats_get(M.caches[c].handle, &st), ASLAB_OK, "stats_get");
    return st;
}

static void check_cache(int c) {
    const model_cache *mc = &M.caches[c];
    aslab_cache_stats st = stats_of(c);
    size_t keep = mc->refs != 0 ? ASLAB_EMPTY_RESERVE + 1 : 1;
    if (st.objects_in_use != mc->live)
        die("cache %d: %zu objects in use, the model has %zu", c, st.objects_in_use, mc->live);
    if (st.slabs != slabs_of(c) || st.hook_allocs - st.hook_frees != st.slabs)
        die("cache %d: %zu slabs (%zu fetched, %zu handed back), the hooks hold %zu", c, st.slabs,
            st.hook_allocs, st.hook_frees, slabs_of(c));
    if (st.obj_size != mc->stride)
        die("cache %d: stride %zu, expected %zu", c, st.obj_size, mc->stride);
    if (st.capacity < st.objects_in_use || st.capacity < st.slabs || st.empty_slabs > st.slabs)
        die("cache %d: capacity %zu, empty %zu of %zu slabs", c, st.capacity, st.empty_slabs,
            st.slabs);
    if (st.empty_slabs > keep)
        die("cache %d: %zu empty slabs kept, at most %zu expected", c, st.empty_slabs, keep);
    if (st.hook_free_errors != mc->free_errors)
        die("cache %d: %zu free-hook errors counted, %zu injected", c, st.hook_free_errors,
            mc->free_errors);
}

/* After objects left or a reference went: a finished cache must have returned every slab. */
static void settle(int c) {
    model_cache *mc = &M.caches[c];
    if (mc->refs != 0 || mc->live != 0) {
        check_cache(c);
        return;
    }
    if (slabs_of(c) != 0) die("cache %d finished but %zu slabs not handed back", c, slabs_of(c));
    *mc = (model_cache){0};
}

/* A cache slot in use, starting from a slot the input names; with refs > 0 if need_ref. */
static int pick_cache(fuzz_input *in, int need_ref) {
    unsigned start = in_u8(in);
    for (unsigned k = 0; k < MAX_CACHES; k++) {
        int c = (int)((start + k) % MAX_CACHES);
        if (M.caches[c].handle != NULL && (M.caches[c].refs != 0 || !need_ref)) return c;
    }
    return -1;
}

static void add_object(int c, void *p) {
    const model_cache *mc = &M.caches[c];
    uintptr_t addr = (uintptr_t)p;
    model_slab *s = p != NULL ? slab_holding(c, addr) : NULL;
    if (s == NULL) die("cache %d handed out %p, not in one of its slabs", c, p);
    if (addr % mc->obj_align != 0 || addr % 4 != 0)
        die("cache %d handed out %p, not aligned to %zu", c, p, mc->obj_align);
    if (addr - s->base < model_data_min(s->base == (uintptr_t)mc->handle))
        die("cache %d handed out %p, inside the slab header", c, p);
    if (addr + mc->obj_size > s->base + s->size)
        die("cache %d: object %p runs past its slab", c, p);
    uint32_t seed = mix32(++M.seed);
    fill_seeded(p, mc->obj_size, seed);
    obj_insert(addr, mc->obj_size, c, seed);
}

static void verify_object(const model_obj *o) {
    size_t bad = check_seeded((void *)o->addr, o->size, o->seed);
    if (bad != SIZE_MAX)
        die("object %#lx of cache %d (%zu bytes) corrupted at offset %zu", (unsigned long)o->addr,
            o->cache, o->size, bad);
}

static void remember_freed(uintptr_t addr, int cache, uint32_t gen) {
    freed[freed_next++ % FREED_RING] = (freed_obj){addr, cache, gen};
}

/* ---- creating caches ---- */

static size_t pick_slab_size(fuzz_input *in) {
    static const size_t invalid[] = {0, 1, 256, 511, 768, 3 << 10, (size_t)1 << 31, SIZE_MAX};
    uint8_t b = in_u8(in);
    if (b < 224) return (size_t)512 << (b % 8);
    if (b < 248) return (size_t)512 << (8 + b % 4);
    return invalid[b % 8];
}

/* 0 (invalid), small, medium, any that fits, close to the slab size, too big. */
static size_t pick_obj_size(fuzz_input *in, size_t slab) {
    uint8_t kind = in_u8(in) % 8;
    if (kind == 0) return 0;
    if (kind <= 3) return 1 + in_u8(in) % 64;
    if (kind == 4) return 1 + in_u16(in) % 1024;
    if (kind == 5) return 1 + in_u32(in) % (slab != 0 ? slab : 1);
    if (kind == 6) return slab - in_u8(in) % 300;
    return in_u8(in) == 0 ? SIZE_MAX : slab + in_u8(in);
}

/* 0 and non-powers of two (invalid), powers of two up to 2 KiB, the slab size or half. */
static size_t pick_align(fuzz_input *in, size_t slab) {
    uint8_t kind = in_u8(in) % 8;
    if (kind == 0) return 0;
    if (kind == 1) return 3 + 8 * (in_u8(in) % 4);
    if (kind == 7) return in_u8(in) % 2 ? slab : slab / 2;
    return (size_t)1 << (in_u8(in) % 12);
}

/* Mostly the checking model lock; the library's locks; NULL; two invalid ones. */
static const aslab_lock_ops *pick_lock(fuzz_input *in) {
    static aslab_lock_ops too_big, no_unlock;
    too_big = model_lock, too_big.size = ASLAB_LOCK_MAX + 1;
    no_unlock = model_lock, no_unlock.unlock = NULL;
    const aslab_lock_ops *locks[] = {NULL,     &aslab_nolock, &aslab_spinlock, &aslab_futexlock,
                                     &too_big, &no_unlock,    &model_lock};
    uint8_t b = in_u8(in) % 12;
    return locks[b < 6 ? b : 6];
}

static void op_create(fuzz_input *in) {
    int c = 0;
    while (c < MAX_CACHES && M.caches[c].handle != NULL)
        c++;
    size_t slab = pick_slab_size(in), obj = pick_obj_size(in, slab), align = pick_align(in, slab);
    const aslab_lock_ops *lock = pick_lock(in);
    if (c == MAX_CACHES) return;
    aslab_error want = expect_create(obj, align, slab, lock);
    unsigned calls = M.alloc_calls;
    aslab_cache *h = NULL;
    hook_begin(c);
    aslab_error got = aslab_cache_create(&h, obj, align, slab, lock);
    if (want == ASLAB_OK) want = M.injected_alloc;
    if (got != want)
        die("create(size %zu, align %zu, slab %zu): got %s, expected %s", obj, align, slab,
            aslab_strerror(got), aslab_strerror(want));
    if (got != ASLAB_OK) {
        if (slabs_of(c) != 0 || (want == ASLAB_ERR_INVALID_ARGUMENT && M.alloc_calls != calls))
            die("a failed create kept a slab or called the hook");
        return;
    }
    size_t a = align < 4 ? 4 : align;
    M.caches[c] = (model_cache){h, obj, align, slab, (obj + a - 1) & ~(a - 1), 1, 0, 0};
    if ((uintptr_t)h % slab != 0 || slab_find((uintptr_t)h) == NULL)
        die("cache handle %p is not the master slab", (void *)h);
    check_cache(c);
}

/* ---- allocating ---- */

static void op_alloc(fuzz_input *in) {
    int c = pick_cache(in, 1);
    if (c < 0 || M.nlive == MAX_LIVE) return;
    void *p = NULL;
    hook_begin(c);
    aslab_error err = aslab_alloc(M.caches[c].handle, &p);
    expect(err, M.injected_alloc, "alloc (expected the hook's failure, if any)");
    if (err == ASLAB_OK) add_object(c, p);
    check_cache(c);
}

static void op_alloc_bulk(fuzz_input *in) {
    static void *objs[256];
    int c = pick_cache(in, 1);
    size_t n = in_u8(in);
    if (c < 0) return;
    if (n > MAX_LIVE - M.nlive) n = MAX_LIVE - M.nlive;
    hook_begin(c);
    size_t got = aslab_alloc_bulk(M.caches[c].handle, objs, n);
    if (got > n || (got < n) != (M.injected_alloc != ASLAB_OK))
        die("alloc_bulk(%zu): %zu objects, hook failure injected: %s", n, got,
            aslab_strerror(M.injected_alloc));
    for (size_t i = 0; i < got; i++)
        add_object(c, objs[i]);
    check_cache(c);
}

/* ---- freeing ---- */

static void free_object(size_t index) {
    model_obj o = M.live[index];
    verify_object(&o);
    uint32_t gen = slab_holding(o.cache, o.addr)->gen;
    hook_begin(o.cache);
    expect(aslab_free((void *)o.addr, M.caches[o.cache].slab_size), ASLAB_OK, "free");
    obj_remove(index);
    remember_freed(o.addr, o.cache, gen);
    settle(o.cache);
}

static void op_free(fuzz_input *in) {
    if (M.nlive != 0) free_object(in_index(in, M.nlive));
}

/* A freed object whose slab is still the same slab and whose slot is still free: freeing it
 * again must be reported and change nothing. NULL if the entry does not qualify. */
static const freed_obj *double_free_candidate(fuzz_input *in) {
    const freed_obj *e = &freed[in_u8(in) % FREED_RING];
    if (e->addr == 0 || M.caches[e->cache].handle == NULL) return NULL;
    const model_slab *s = slab_holding(e->cache, e->addr);
    if (s == NULL || s->gen != e->gen || obj_find(e->addr) != SIZE_MAX) return NULL;
    return e;
}

static void op_double_free(fuzz_input *in) {
    const freed_obj *e = double_free_candidate(in);
    if (e == NULL) return;
    aslab_error err = aslab_free((void *)e->addr, M.caches[e->cache].slab_size);
    expect(err, ASLAB_ERR_DOUBLE_FREE, "double free");
    check_cache(e->cache);
}

/* A random slab the hooks handed out and the core still holds. */
static const model_slab *pick_slab(fuzz_input *in) {
    if (M.nslabs == 0) return NULL;
    const model_slab *s = &M.slabs[in_index(in, M.nslabs)];
    return s->misaligned ? NULL : s;
}

static void op_bad_pointer(fuzz_input *in) {
    uint8_t kind = in_u8(in) % 4;
    const model_slab *s = pick_slab(in);
    if (kind == 3) {
        expect(aslab_free(NULL, 4096), ASLAB_ERR_INVALID_POINTER, "free(NULL)");
        return;
    }
    if (kind == 0 && M.nlive != 0) {
        const model_obj *o = &M.live[in_index(in, M.nlive)];
        size_t off = 1 + in_u8(in) % (M.caches[o->cache].stride - 1);
        aslab_error err = aslab_free((void *)(o->addr + off), M.caches[o->cache].slab_size);
        expect(err, ASLAB_ERR_NOT_SLOT_START, "free of an interior pointer");
        check_cache(o->cache);
        return;
    }
    if (s == NULL) return;
    uintptr_t p = kind == 1 ? s->base + in_u8(in) % 56 : s->base + s->size - 1 - in_u8(in) % 3;
    expect(aslab_free((void *)p, s->size), ASLAB_ERR_NOT_SLOT_START,
           kind == 1 ? "free of a pointer into a slab header" : "free of the slab's last bytes");
    /* Just past the last slot, when the slab has a tail: a slot boundary out of range. */
    uintptr_t end = s->base + model_slots_end(s->base);
    if (end < s->base + s->size)
        expect(aslab_free((void *)end, s->size), ASLAB_ERR_INDEX_OUT_OF_RANGE,
               "free just past the last slot");
    check_cache(s->cache);
}

/* The right object, the wrong slab size: a smaller one, or one that is no slab size. */
static void op_wrong_slab_size(fuzz_input *in) {
    static const size_t invalid[] = {0, 3, 256, 1000, (size_t)1 << 31};
    if (M.nlive == 0) return;
    const model_obj *o = &M.live[in_index(in, M.nlive)];
    size_t slab = M.caches[o->cache].slab_size;
    uint8_t b = in_u8(in);
    if (b % 2 == 0) {
        expect(aslab_free((void *)o->addr, invalid[b / 2 % 5]), ASLAB_ERR_INVALID_ARGUMENT,
               "free with an invalid slab size");
    } else if (slab > ASLAB_MIN_SLAB_SIZE) {
        size_t smaller = slab >> (1 + b / 2 % 8);
        if (smaller < ASLAB_MIN_SLAB_SIZE) smaller = ASLAB_MIN_SLAB_SIZE;
        /* The mask lands on the real header, or inside the slab where no header is. */
        uintptr_t masked = o->addr & ~(uintptr_t)(smaller - 1);
        aslab_error want = masked == (o->addr & ~(uintptr_t)(slab - 1)) ? ASLAB_ERR_WRONG_SLAB_SIZE
                                                                        : ASLAB_ERR_NOT_A_SLAB;
        expect(aslab_free((void *)o->addr, smaller), want, "free with a smaller slab size");
    }
    check_cache(o->cache);
}

/* A block aslab never made: seeded contents, or a copy of a real slab header. */
static void op_foreign(fuzz_input *in) {
    fill_seeded(foreign, FOREIGN_SIZE, in_u32(in));
    const model_slab *s = pick_slab(in);
    if (s != NULL && in_u8(in) % 2) memcpy(foreign, (void *)s->base, 512);
    void *p = foreign + (in_u8(in) % 64) * 64;
    aslab_cache *fake = (aslab_cache *)foreign;
    aslab_cache_stats st;
    void *obj;
    expect(aslab_free(p, FOREIGN_SIZE), ASLAB_ERR_NOT_A_SLAB, "free of a foreign pointer");
    expect(aslab_alloc(fake, &obj), ASLAB_ERR_NOT_A_SLAB, "alloc from a foreign handle");
    expect(aslab_cache_stats_get(fake, &st), ASLAB_ERR_NOT_A_SLAB, "stats of a foreign");
    expect(aslab_cache_release(fake), ASLAB_ERR_NOT_A_SLAB, "release of a foreign handle");
    if (aslab_cache_clone(fake) != NULL || aslab_cache_trim(fake) != 0)
        die("clone or trim accepted a foreign handle");
}

/* ---- bulk free: invalid entries first (evaluated while the model still holds), then valid
 * objects of every cache with the same slab size ---- */

typedef struct bulk {
    void *objs[128];
    size_t n;
    aslab_error want; /* the first error expected */
} bulk;

static void bulk_add_invalid(bulk *b, fuzz_input *in, size_t slab) {
    void *p = NULL;
    aslab_error err = ASLAB_ERR_INVALID_POINTER;
    uint8_t kind = in_u8(in) % 3;
    if (kind == 1 && M.nlive != 0) {
        const model_obj *o = &M.live[in_index(in, M.nlive)];
        if (M.caches[o->cache].slab_size != slab) return;
        p = (void *)(o->addr + 1 + in_u8(in) % (M.caches[o->cache].stride - 1));
        err = ASLAB_ERR_NOT_SLOT_START;
    } else if (kind == 2) {
        const freed_obj *e = double_free_candidate(in);
        if (e == NULL || M.caches[e->cache].slab_size != slab) return;
        p = (void *)e->addr, err = ASLAB_ERR_DOUBLE_FREE;
    }
    if (b->want == ASLAB_OK) b->want = err;
    b->objs[b->n++] = p;
}

static void op_free_bulk(fuzz_input *in) {
    if (M.nlive == 0) return;
    size_t slab = M.caches[M.live[in_index(in, M.nlive)].cache].slab_size;
    bulk b = {.n = 0, .want = ASLAB_OK};
    for (unsigned i = in_u8(in) % 4; i > 0; i--)
        bulk_add_invalid(&b, in, slab);
    size_t first_valid = b.n;
    for (unsigned k = in_u8(in) % 100; k > 0 && b.n < 128; k--) {
        const model_obj *o = &M.live[in_index(in, M.nlive)];
        int dup = 0;
        for (size_t j = first_valid; j < b.n && !dup; j++)
            dup = b.objs[j] == (void *)o->addr;
        if (!dup && M.caches[o->cache].slab_size == slab) b.objs[b.n++] = (void *)o->addr;
    }
    freed_obj gone[128];
    for (size_t j = first_valid; j < b.n; j++) {
        const model_obj *o = &M.live[obj_find((uintptr_t)b.objs[j])];
        verify_object(o);
        gone[j] = (freed_obj){o->addr, o->cache, slab_holding(o->cache, o->addr)->gen};
    }
    expect(aslab_free_bulk(b.objs, b.n, slab), b.want, "free_bulk");
    for (size_t j = first_valid; j < b.n; j++) {
        obj_remove(obj_find(gone[j].addr));
        remember_freed(gone[j].addr, gone[j].cache, gone[j].gen);
    }
    for (size_t j = first_valid; j < b.n; j++)
        if (M.caches[gone[j].cache].handle != NULL) settle(gone[j].cache);
}

/* ---- references, trim, injected failures, argument checks ---- */

static void op_clone(fuzz_input *in) {
    int c = pick_cache(in, 0);
    if (aslab_cache_clone(NULL) != NULL) die("clone(NULL) gave a handle");
    if (c < 0) return;
    model_cache *mc = &M.caches[c];
    aslab_cache *h = aslab_cache_clone(mc->handle);
    if (mc->refs == 0 && h != NULL) die("clone of a released cache gave a handle");
    if (mc->refs != 0 && h != mc->handle)
        die("clone gave %p for %p", (void *)h, (void *)mc->handle);
    mc->refs += h != NULL;
    check_cache(c);
}

static void op_release(fuzz_input *in) {
    int c = pick_cache(in, 0);
    if (c < 0) return;
    model_cache *mc = &M.caches[c];
    if (mc->refs == 0) { /* the hierarchy lives on for its objects; the handle has no refs */
        void *obj = NULL, *objs[2];
        size_t got = 1;
        expect(aslab_cache_release(mc->handle), ASLAB_ERR_RELEASED_HANDLE, "release, no refs");
        expect(aslab_alloc(mc->handle, &obj), ASLAB_ERR_RELEASED_HANDLE, "alloc, no refs");
        expect(aslab_alloc_bulk_status(mc->handle, objs, 2, &got), ASLAB_ERR_RELEASED_HANDLE,
               "alloc_bulk, no refs");
        if (obj != NULL || got != 0) die("a released handle handed out an object");
        check_cache(c);
        return;
    }
    hook_begin(c);
    aslab_error err = aslab_cache_release(mc->handle);
    expect(err, M.injected_free ? ASLAB_ERR_INVALID_ARGUMENT : ASLAB_OK, "release");
    mc->refs--;
    settle(c);
}

static void op_trim(fuzz_input *in) {
    int c = pick_cache(in, 0);
    if (c < 0) return;
    aslab_cache_stats before = stats_of(c);
    size_t want = before.empty_slabs - (live_in_master(c) == 0);
    hook_begin(c);
    size_t got = aslab_cache_trim(M.caches[c].handle);
    aslab_cache_stats after = stats_of(c);
    if (got != want || after.slabs != before.slabs - got || after.empty_slabs > 1)
        die("trim: %zu slabs handed back, %zu expected; %zu -> %zu slabs, %zu empty left", got,
            want, before.slabs, after.slabs, after.empty_slabs);
    check_cache(c);
}

static void op_inject(fuzz_input *in) {
    uint8_t b = in_u8(in);
    M.fail_allocs = b % 3;
    M.misalign_allocs = b / 3 % 2;
    M.fail_frees = b / 6 % 3;
}

static void op_bad_args(fuzz_input *in) {
    int c = pick_cache(in, 1);
    aslab_cache *h = c >= 0 ? M.caches[c].handle : NULL;
    aslab_cache_stats st;
    void *obj = NULL, *objs[4];
    expect(aslab_alloc(NULL, &obj), ASLAB_ERR_INVALID_ARGUMENT, "alloc(NULL cache)");
    expect(aslab_cache_stats_get(NULL, &st), ASLAB_ERR_INVALID_ARGUMENT, "stats(NULL)");
    expect(aslab_cache_release(NULL), ASLAB_ERR_INVALID_ARGUMENT, "release(NULL)");
    expect(aslab_cache_create(NULL, 16, 8, 4096, NULL), ASLAB_ERR_INVALID_ARGUMENT,
           "create(NULL out)");
    expect(aslab_free_bulk(NULL, 1, 4096), ASLAB_ERR_INVALID_ARGUMENT, "free_bulk(NULL, 1)");
    expect(aslab_free_bulk(NULL, 0, 4096), ASLAB_OK, "free_bulk(NULL, 0)");
    if (aslab_cache_trim(NULL) != 0 || aslab_alloc_bulk(NULL, objs, 4) != 0)
        die("trim or alloc_bulk accepted a NULL cache");
    for (int e = -1; e <= ASLAB_ERR_SLAB_NOT_LENT + 1; e++)
        if (aslab_strerror((aslab_error)e) == NULL) die("aslab_strerror(%d) is NULL", e);
    if (h == NULL) return;
    expect(aslab_alloc(h, NULL), ASLAB_ERR_INVALID_ARGUMENT, "alloc(NULL out)");
    expect(aslab_cache_stats_get(h, NULL), ASLAB_ERR_INVALID_ARGUMENT, "stats(NULL out)");
    if (aslab_alloc_bulk(h, NULL, 4) != 0 || aslab_alloc_bulk(h, objs, 0) != 0)
        die("alloc_bulk with no room gave objects");
    check_cache(c);
}

static void op_lock(fuzz_input *in) {
    int c = pick_cache(in, 1);
    if (c < 0) return;
    unsigned held = M.locks_held;
    expect(aslab_cache_lock(M.caches[c].handle), ASLAB_OK, "cache_lock");
    int model_locked = M.locks_held == held + 1;
    expect(aslab_cache_unlock(M.caches[c].handle), ASLAB_OK, "cache_unlock");
    if (model_locked && M.locks_held != held) die("cache_unlock did not release the lock");
}

/* ---- the driver ---- */

typedef void (*op_fn)(fuzz_input *in);
static const op_fn ops[] = {
    op_create,      op_alloc,           op_alloc,   op_alloc,   op_free,     op_free,
    op_alloc_bulk,  op_free_bulk,       op_clone,   op_release, op_trim,     op_double_free,
    op_bad_pointer, op_wrong_slab_size, op_foreign, op_inject,  op_bad_args, op_lock};

/* Frees every object (contents checked), drops every reference: all slabs must come back. */
static void teardown(void) {
    M.fail_allocs = M.misalign_allocs = M.fail_frees = 0;
    while (M.nlive != 0)
        free_object(M.nlive / 2);
    for (int c = 0; c < MAX_CACHES; c++)
        while (M.caches[c].handle != NULL) {
            hook_begin(c);
            expect(aslab_cache_release(M.caches[c].handle), ASLAB_OK, "release at the end");
            M.caches[c].refs--;
            settle(c);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_input in = {data, size, 0};
    model_reset();
    memset(freed, 0, sizeof freed);
    freed_next = 0;
    foreign = aligned_alloc(FOREIGN_SIZE, FOREIGN_SIZE);
    if (foreign == NULL) die("out of memory in the harness");
    for (unsigned n = 0; in_more(&in) && n < MAX_OPS; n++) {
        ops[in_u8(&in) % (sizeof ops / sizeof ops[0])](&in);
        if (M.locks_held != 0) die("a cache lock is still held after an operation");
    }
    teardown();
    model_reset();
    free(foreign);
    return 0;
}
