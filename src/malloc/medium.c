/* medium.c - giving back the pages of free medium blocks (the medium classes' malloc and free
 * are inline in medium.h, on the small classes' thread-owned slabs).
 *
 * A slab of a medium class holds 8 to 15 blocks, so a program that frees most of its buffers
 * while a few stay live would keep every slab, and every page of it, if only empty slabs went
 * back. So the pages of free medium blocks are discarded (MADV_DONTNEED) while their slabs
 * stay, and the discarded blocks leave the free list: a bit per block in the slab's `clean`
 * word says which are free and discarded. Off the list they need no link and no free key, so
 * all their pages go, and adjacent ones go in one call: a madvise in a process with several
 * threads also flushes the other cores' TLBs (docs/medium-classes.md). A free checks the bit,
 * as word 1's key is gone with its page; malloc hands clean blocks out from its slow path
 * only, when the list is empty, as it does never-used ones.
 *
 * Which blocks: each thread counts the bytes of its medium slabs' listed free blocks, all of
 * which may be resident ("dirty"; the heap's medium_room counts down from the budget plus an
 * allowance). A free that takes the thread past its budget (twice the dirty cap,
 * ASLAB_DIRTY_MAX_MB: 16 MiB by default) discards blocks down to half of it, but only in
 * slabs at most a sixth used, where the program has freed most of what it had: the free
 * blocks of a fuller slab will be handed out again soon, and discarding them would only fault
 * their pages back in. A block is discarded by the second pass that finds it free (the first
 * marks its word 2 with aslab__keys.seen; a free clears it): one handed out and freed again in
 * between never is. The largest classes go first (fewest calls per byte); the head of a
 * current slab's list (the next block malloc returns) stays. What stays dirty in fuller slabs
 * becomes the allowance, so that the next pass comes after another half budget of frees; it
 * shrinks as those slabs go back to the pool. A pass that cannot get down to half the budget
 * also sends the medium classes' empty reserve slabs on to the arena.
 *
 * Blocks that other threads free go onto remote lists; the owner counts them when it takes
 * them. A thread that has gone quiet keeps its remote lists, as for the small classes.
 */
#include "medium.h"

#include "os.h"
#include "purge.h"
#include "thread.h"

int64_t aslab__medium_budget = INT64_MAX / 2; /* room to count down from without overflow */

void aslab__medium_init(void) {
    /* twice the cap: see docs/medium-classes.md */
    size_t cap = aslab__purge_at_once() ? 0 : aslab__purge_cap(0, 0) * 2;
    aslab__medium_budget = cap > (size_t)INT64_MAX / 2 ? INT64_MAX / 2 : (int64_t)cap;
}

/* The first slot of m's slab. */
static char *first_slot(aslab__mslab *m) {
    return (char *)aslab__slab_of(m) + aslab__regions.slot_offset[aslab__map_byte(m->cls)];
}

/* Discards the whole pages in [start, end) (blocks of `size`): a page it shares with a
 * neighbour stays. A block whose word 1 was in a discarded page gets its free key back, so
 * that a second free finds it there (free's fast path reads no `clean` bit: kept.c): one page
 * of the block resident again, which its next malloc would write anyway (word 1 cleared). */
static void discard_range(uintptr_t start, uintptr_t end, size_t size) {
    uintptr_t lo, hi;
    if (!aslab__os_inner_pages(start, end, &lo, &hi)) return;
    aslab__os_discard((void *)lo, hi - lo);
    for (uintptr_t block = start; block < end; block += size)
        if (block + sizeof(uintptr_t) >= lo && block + sizeof(uintptr_t) < hi)
            ((uintptr_t *)block)[1] = aslab__keys.free;
}

/* Discards each run of adjacent clean blocks of m that holds one of `fresh` (blocks cleaned
 * just now), with one call per run. */
static void discard_runs(aslab__mslab *m, uint32_t fresh) {
    uint32_t clean = m->clean;
    char *first = first_slot(m);
    size_t size = m->size;
    while (fresh != 0) {
        unsigned lo = (unsigned)__builtin_ctz(fresh), hi = lo;
        while (lo > 0 && ((clean >> (lo - 1)) & 1))
            lo--;
        while (hi < 31 && ((clean >> (hi + 1)) & 1))
            hi++;
        discard_range((uintptr_t)(first + lo * size), (uintptr_t)(first + (hi + 1) * size), size);
        fresh &= ~(uint32_t)(((uint64_t)2 << hi) - ((uint64_t)1 << lo));
    }
}

/* The whole pages inside a clean block were discarded and nothing wrote them since (os.h:
 * they read zero); a page it shares with a neighbour may hold its old bytes or the
 * neighbour's. z may be NULL. */
void *aslab__medium_take_clean(aslab__mslab *m, aslab__zeroed *z) {
    unsigned i = (unsigned)__builtin_ctz(m->clean);
    __atomic_store_n(&m->clean, m->clean & ~((uint32_t)1 << i), __ATOMIC_RELAXED);
    char *block = first_slot(m) + (size_t)i * m->size;
    uintptr_t lo, hi;
    if (z != NULL && aslab__os_inner_pages((uintptr_t)block, (uintptr_t)block + m->size, &lo, &hi))
        z->lo = (char *)lo, z->hi = (char *)hi;
    return aslab__handed_out(&m->hot, (void **)block, m->cls);
}

/* The next block after `block` on m's free list, checked as malloc checks it. */
static uintptr_t *next_free(aslab__mslab *m, uintptr_t *block) {
    return aslab__list_next(&m->hot, block, "free()");
}

uint64_t aslab__medium_slab_dirty(aslab__mslab *m) {
    uint64_t dirty = 0;
    for (uintptr_t *block = m->free; (void *)block != (void *)m; block = next_free(m, block))
        dirty += m->size;
    return dirty;
}

/* The calling thread's dirty medium bytes: room counts down from budget + allowance. */
static int64_t dirty_bytes(const aslab__heap *h) {
    return aslab__medium_budget + h->medium_allowance - h->medium_room;
}

/* A slab used no more than 1/WORTH_DISCARDING_DEN of its blocks is worth discarding. At 1/4
 * randsize (4000 blocks, 16 B-1 MiB) took 526-733 ns a replacement in 44 MiB; at 1/6,
 * 300-400 ns in 56 MiB; at 1/8, 270 ns in 60 MiB (all with a budget of 8 MiB), but the
 * sparse pattern of test-mem-patterns kept 29.8 MiB of its 30 MiB bound. */
#define WORTH_DISCARDING_DEN 6

/* Whether the discard takes m's free blocks: a mostly free slab, or any slab when `all`. */
static int worth_discarding(const aslab__mslab *m, int is_current, int all) {
    uint32_t in_use = m->used - (is_current ? 1 : 0);
    return all || in_use * WORTH_DISCARDING_DEN <= aslab__checks[m->cls].capacity;
}

/* Discards m's listed free blocks, the first `keep` aside, while the thread holds more than
 * `target` dirty bytes: every one when `all`, else those a previous pass already saw free (a
 * block handed out and freed again in between is new again); the others are marked as seen.
 * The discarded ones leave the list for `clean`. */
static void discard_slab(aslab__mslab *m, unsigned keep, int64_t target, int all) {
    aslab__heap *h = &aslab__thread_heap;
    char *first = first_slot(m);
    uintptr_t *prev = NULL; /* the last block kept on the list; NULL: m->free links */
    uintptr_t *block = m->free;
    uint32_t fresh = 0;
    for (unsigned n = 0; (void *)block != (void *)m && dirty_bytes(h) > target; n++) {
        uintptr_t *next = next_free(m, block);
        if (n >= keep && (all || block[2] == aslab__keys.seen)) {
            if (prev == NULL)
                m->free = next;
            else
                prev[0] = aslab__link_encode((uintptr_t)next, prev);
            fresh |= (uint32_t)1 << (((char *)block - first) / m->size);
            h->medium_room += m->size;
        } else {
            if (n >= keep) block[2] = aslab__keys.seen; /* discarded at the next pass if free */
            prev = block;
        }
        block = next;
    }
    if (fresh == 0) return;
    __atomic_store_n(&m->clean, m->clean | fresh, __ATOMIC_RELAXED);
    discard_runs(m, fresh);
}

/* Discards the calling thread's dirty medium blocks until it holds at most `target` bytes
 * of them: every slab's when `all` (trim), else only mostly free slabs' with the head of each
 * current slab's list kept. */
static void discard_thread(int64_t target, int all) {
    aslab__heap *h = &aslab__thread_heap;
    aslab__rec_lock(h->rec);
    for (unsigned cls = ASLAB_NUM_CLASSES; cls > ASLAB_SMALL_CLASSES; cls--) {
        aslab__mslab *first = h->rec->classes[cls].partial, *m = first;
        if (m != NULL) do {
                if (worth_discarding(m, 0, all)) discard_slab(m, 0, target, all);
                m = m->next;
            } while (m != first && dirty_bytes(h) > target);
        aslab__mslab *cur = h->rec->current[cls];
        if (cur != &aslab__no_slab && worth_discarding(cur, 1, all))
            discard_slab(cur, all ? 0 : 1, target, all);
        if (dirty_bytes(h) <= target) break;
    }
    aslab__rec_unlock(h->rec);
}

void aslab__medium_trim_thread(void) {
    if (aslab__thread_heap.state == ASLAB_HEAP_LIVE) discard_thread(0, 1);
}

/* The medium classes' empty slabs (256 KiB to 16 MiB, their pages touched) go on to the arena,
 * whose dirty cap bounds them, rather than wait in the core caches' reserves, which only the
 * round empties (test-mem-patterns large: 17.1 MiB left 2 s after the last free, 6.8 with). */
static void release_medium_reserves(void) {
    for (unsigned cls = ASLAB_SMALL_CLASSES + 1; cls <= ASLAB_NUM_CLASSES; cls++) {
        aslab_cache *cache = __atomic_load_n(&aslab__class_cache[cls], __ATOMIC_ACQUIRE);
        if (cache != NULL) aslab_cache_trim(cache);
    }
}

/* Slabs whose residency one pass looks at: a sample, largest classes first. */
#define RESIDENCY_SLABS   32
/* The most the count may be taken to overstate what is resident: a program that freed large
 * blocks it had barely touched may start to fill the next ones, and each pass raises the
 * budget by this much at most. */
#define MAX_OVERSTATEMENT 16

/* Adds m's listed free blocks to *listed and the bytes of their pages that are resident
 * (those that start inside a block) to *resident: all of them when the kernel cannot say.
 * The thread's record holds the kernel's answer, a byte a page. */
static void measure_slab(aslab__mslab *m, uint64_t *listed, uint64_t *resident) {
    unsigned char *vec = aslab__thread_heap.rec->resident;
    size_t page = aslab__os_page_size(), size = m->size;
    uintptr_t first = (uintptr_t)first_slot(m), base = first & ~(page - 1);
    size_t pages = (first + aslab__checks[m->cls].capacity * size - base + page - 1) / page;
    int known = pages <= sizeof aslab__thread_heap.rec->resident &&
                aslab__os_residency((void *)base, pages * page, vec) == 0;
    for (uintptr_t *block = m->free; (void *)block != (void *)m; block = next_free(m, block)) {
        *listed += size;
        if (!known) {
            *resident += size;
            continue;
        }
        size_t from = ((uintptr_t)block - base + page - 1) / page;
        size_t to = ((uintptr_t)block + size - base + page - 1) / page;
        for (size_t i = from; i < to; i++)
            *resident += (vec[i] & 1) ? page : 0;
    }
}

/* How many times the count of dirty bytes overstates what is resident, from a sample of the
 * thread's medium slabs (1 to MAX_OVERSTATEMENT): a program that touches a few pages of each
 * large buffer (a header, a last word) leaves blocks that count whole but hold a page or two,
 * and discarding them at the full-count rate only faults those pages back in (randsize:
 * docs/medium-classes.md). */
static int64_t overstatement(void) {
    aslab__heap *h = &aslab__thread_heap;
    uint64_t listed = 0, resident = 0;
    unsigned looked = 0;
    aslab__rec_lock(h->rec);
    for (unsigned cls = ASLAB_NUM_CLASSES; cls > ASLAB_SMALL_CLASSES; cls--) {
        aslab__mslab *first = h->rec->classes[cls].partial, *m = first;
        if (m != NULL) do {
                measure_slab(m, &listed, &resident);
                m = m->next;
            } while (m != first && ++looked < RESIDENCY_SLABS);
        aslab__mslab *cur = h->rec->current[cls];
        if (cur != &aslab__no_slab) measure_slab(cur, &listed, &resident);
        if (++looked >= RESIDENCY_SLABS) break;
    }
    aslab__rec_unlock(h->rec);
    if (resident * MAX_OVERSTATEMENT <= listed) return MAX_OVERSTATEMENT;
    return (int64_t)(listed / resident); /* resident > 0 here; at least 1 */
}

void aslab__medium_release_recent(void) {
    for (unsigned cls = ASLAB_SMALL_CLASSES + 1; cls <= ASLAB_NUM_CLASSES; cls++) {
        void **slot = aslab__recent_of(cls);
        void *p = *slot;
        if (p == NULL) continue;
        *slot = NULL;
        aslab__free_local(p, aslab__slab_at(p, cls), aslab__keys.free);
    }
}

/* Past the budget: down to half of it where slabs are mostly free, the budget scaled by how
 * much the count overstates residency. What stays dirty in fuller slabs raises the
 * allowance, so that the next pass comes after another half budget of frees rather than at
 * the next free. */
void aslab__medium_discard(void) {
    aslab__heap *h = &aslab__thread_heap;
    aslab__medium_release_recent(); /* so that the pass may take them, and counts them */
    int64_t budget = aslab__medium_budget, scale = 1;
    if (budget > 0 && budget <= INT64_MAX / 4 / MAX_OVERSTATEMENT)
        budget *= scale = overstatement();
    int64_t half = budget / 2;
    discard_thread(half, 0);
    int64_t dirty = dirty_bytes(h);
    /* The blocks alone could not bring it down: the empty slabs go too, unless the blocks are
     * barely touched, as the empty slabs then likely are (randsize on 2 threads: 117,000 page
     * faults and 177 ns a replacement when they went, 43,000 and 124 ns when they stay). */
    if (dirty > half && scale == 1) release_medium_reserves();
    h->medium_allowance = (dirty > half ? dirty - half : 0) + budget - aslab__medium_budget;
    h->medium_room = aslab__medium_budget + h->medium_allowance - dirty;
}
