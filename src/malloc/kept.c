/* kept.c - blocks of other threads' slabs that the calling thread frees, kept for its own
 * mallocs.
 *
 * When memory crosses threads in a ring or a pipeline (a thread frees what another allocated,
 * and allocates about as much itself: xthread, larson), giving each block back to its owner
 * costs a compare-and-swap on the owner slab's remote word, and the owner's malloc of it then
 * reads the line the freeing thread wrote last: two transfers between cores per block. So a
 * thread keeps up to KEPT_BYTES of such blocks per small class (tcmalloc's thread caches hold
 * blocks of any span the same way) and its malloc hands them out before its current slab's:
 * the block stays on the core that freed it. Its slab still counts it as out and stays lent
 * while it is kept, so a thread that goes quiet may pin as many of its owners' slabs as it
 * keeps blocks (lists of one slab at a time lost what the lists won: docs/thread-owned-
 * slabs.md). Blocks of abandoned slabs go back at once (their slab may then return). The kept
 * blocks go back to their owners when the thread exits, calls malloc_trim, or runs the
 * memory-return round, and once a class's list is full further blocks go back at once.
 *
 * Keeping pays only where blocks travel one way for good, and a thread decides it per class
 * from what it does (docs/thread-owned-slabs.md, "When a thread keeps"). A kept block handed
 * out again stays foreign: each later free of it takes the other thread's path again, its
 * slab header is read again, and the blocks of every thread's slabs end up mixed in every
 * thread's working set. Where few blocks cross (a thread frees others' blocks now and then,
 * and mostly its own), that mixing grows until most frees are foreign (oversub: 70% of them,
 * for 1 crossing in 32) and costs more than the compare-and-swap that sends a block home.
 * So a thread starts out sending others' blocks home, counts them per class, and at the end
 * of each window of ASLAB__KEEP_WINDOW of them looks at how many blocks of the class it
 * allocated meanwhile: between half and twice as many (it takes in about what it hands out:
 * a ring, a pipeline stage, larson's shared array), it keeps; otherwise (it mostly frees
 * its own, or it only frees: a consumer) it sends them home. Only frees of others' blocks
 * count, so a thread that never gets any pays nothing, and one that does pays an increment
 * and a compare a free, and a call a window.
 *
 * The list is shaped like a slab's (heap.h): links mangled with the key and the block's
 * address, ending at the list's own state, whose `used` counts the room left. The heap's `cur`
 * names it while it holds blocks, so malloc's fast path pops it unchanged; a popped link is
 * checked for 16-byte alignment and a user-space address only (the next block may be in any
 * slab of the class). When it runs dry, malloc's failed pop (refill.c) turns `cur` back to the
 * current slab's list. Blocks above KEPT_MAX_SIZE always go back: few of them make up
 * KEPT_BYTES, and large blocks are rarely handed round.
 *
 * The thread's own blocks. A block the thread frees into one of its slabs that is on the full
 * list goes onto the same list when the list is empty (heap.h, aslab__kept_own), whatever the
 * keep decision says. Pushed onto its slab, it would move the slab to the partial list under
 * the record's lock, and when the current slab ran dry the slab would become current for that
 * one block: a program that overwrites values at random in a cache whose slabs are all full
 * (redis's SET on random keys, bench's kvcache) paid both on every overwrite (529 M
 * instructions for 1 M overwrites, 193 M now; tcmalloc 168 M). Such a free leaves `cur` alone,
 * so the current slab's frees keep their fast path; malloc turns to the list when the current
 * slab's list runs dry (refill.c, aslab__pop_failed), before any slab change. One block at a
 * time, because each holds its slab: with the list's whole room, a program that freed 1 GiB at
 * random and went idle kept 79 MiB. Blocks of slabs that are not full go back to their slab as
 * before (kept, they would keep it from emptying: bulk-1 ran 23% slower). Own blocks are not
 * remote frees: the list's `kept` counts only others' blocks (flush_class).
 */
#include "heap.h"
#include "thread.h"

#define KEPT_BYTES      16384 /* per class and thread */
#define KEPT_MAX_SIZE   2048
#define KEPT_MIN_BLOCKS 8
#define KEPT_MAX_BLOCKS 256

/* What a popped link is checked against: 16-byte aligned and below 2^47, where Linux maps
 * user space unless asked for more, so that a stray link passes one time in 2^21. */
#define KEPT_LINK_MASK (~(((uintptr_t)1 << 47) - 1) | 15)

/* Blocks a class's list holds at most; 0 for classes that are not kept. */
static uint32_t room_of[ASLAB_SMALL_CLASSES + 1];

void aslab__kept_init(void) {
    for (unsigned cls = 1; cls <= ASLAB_SMALL_CLASSES; cls++) {
        uint32_t size = aslab__classes[cls].size, n = KEPT_BYTES / size;
        if (n < KEPT_MIN_BLOCKS) n = KEPT_MIN_BLOCKS;
        if (n > KEPT_MAX_BLOCKS) n = KEPT_MAX_BLOCKS;
        room_of[cls] = size <= KEPT_MAX_SIZE ? n : 0;
    }
}

uint32_t aslab__kept_room(unsigned cls) {
    return room_of[cls];
}

static void empty_list(aslab__mslab *k, unsigned cls) {
    k->free = k;
    k->used = room_of[cls];
}

void aslab__kept_reset(aslab__heap_rec *rec) {
    for (unsigned cls = 0; cls <= ASLAB_SMALL_CLASSES; cls++) {
        aslab__mslab *k = &rec->kept[cls];
        k->kept = 0;
        k->first = 0; /* blocks of any slab: the end is the list's own state */
        empty_list(k, cls);
        k->cls = (uint16_t)cls;
        k->link_mask = KEPT_LINK_MASK;
    }
    for (unsigned cls = 0; cls < ASLAB_CLASS_SLOTS; cls++)
        rec->current[cls] = &aslab__no_slab;
}

/* Gives class cls's kept blocks back (rec is the calling thread's); `cur` turns to the
 * current slab. The heap is named, not passed: gcc 12's -fsanitize=null tests a pointer to a
 * TLS variable with the flags of an earlier compare. */
static void flush_class(aslab__heap_rec *rec, unsigned cls) {
    aslab__mslab *k = &rec->kept[cls];
    uintptr_t *block = k->free;
    aslab__thread_heap.cur[cls] = aslab__cur_home(cls);
    empty_list(k, cls);
    while ((void *)block != (void *)k) {
        uintptr_t *next = aslab__list_next(&k->hot, block, "free()");
        if (aslab__give_back(block, cls)) k->kept--; /* the owner counts it when it takes it */
        block = next;
    }
}

/* A new window of the keep decision for class cls. The heap is named, not passed
 * (flush_class). */
static void window_start(unsigned cls) {
    aslab__thread_heap.foreign_frees[cls] = 0;
    aslab__thread_heap.window_allocs[cls] = (uint32_t)aslab__thread_heap.allocs[cls];
}

/* Every class starts a window, sending home. */
void aslab__kept_enable(void) {
    for (unsigned cls = 0; cls <= ASLAB_SMALL_CLASSES; cls++) {
        aslab__thread_heap.keep[cls] = &aslab__no_slab;
        window_start(cls);
    }
    aslab__thread_heap.may_keep = 1;
}

/* Before the record can go to another thread: a free this thread makes after its exit
 * (another key's destructor) must not add to it, nor a window end turn keeping back on. */
void aslab__kept_disable(void) {
    aslab__thread_heap.may_keep = 0;
    for (unsigned cls = 0; cls <= ASLAB_SMALL_CLASSES; cls++)
        aslab__thread_heap.keep[cls] = &aslab__no_slab;
}

void aslab__kept_decide(unsigned cls) {
    uint32_t made =
        (uint32_t)aslab__thread_heap.allocs[cls] - aslab__thread_heap.window_allocs[cls];
    uint32_t freed = aslab__thread_heap.foreign_frees[cls];
    int keep =
        aslab__thread_heap.may_keep && room_of[cls] != 0 && made <= 2 * freed && freed <= 2 * made;
    aslab__thread_heap.keep[cls] = keep ? &aslab__thread_heap.rec->kept[cls] : &aslab__no_slab;
    window_start(cls);
}

void aslab__kept_flush(void) {
    aslab__heap_rec *rec = aslab__thread_heap.rec;
    if (rec == NULL) return; /* never set up */
    for (unsigned cls = 1; cls <= ASLAB_SMALL_CLASSES; cls++)
        if (rec->kept[cls].free != (void *)&rec->kept[cls]) flush_class(rec, cls);
}
