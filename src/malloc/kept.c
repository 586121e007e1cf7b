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
 * The thread's own blocks. While the thread keeps no other thread's blocks of a class, its
 * free of its own block of a slab that is not its current one (or of the current one while
 * `cur` names the list) puts the block on the list too (remote.c, aslab__free_small_owned),
 * checked by the class's tables so that no line of the slab's state is read, and `cur` names
 * the list: the next malloc takes it back, the last freed first, as from a thread cache. Given
 * to its slab, a random free reads and writes the slab's state, two lines at a random place: a
 * program that replaces random blocks (larson's loop in one thread, bench's replace) ran a
 * third slower than under tcmalloc for it. The list then holds up to OWN_BYTES a class, and
 * others' blocks stay within KEPT_BYTES of it (the room left must stay above
 * aslab__kept_floor for them). Each block holds its slab while it waits, so a free-only phase
 * gives the list back: when OWN_STREAK frees in a row find it full with no malloc of the class
 * between them, the list goes back to the slabs, and the thread's own blocks go to their slabs
 * until its next malloc of the class (aslab__own_list_check), so that a program that frees
 * everything lets its slabs empty. A thread that keeps others' blocks of the class gives its
 * own to their slabs, except that one block of a full slab may wait on an empty list (heap.h,
 * aslab__kept_own): pushed onto its slab, it would move the slab to the partial list under the
 * record's lock, and the next malloc would make that slab current for the one block (redis's
 * SET on random keys, bench's kvcache: 529 M instructions for 1 M overwrites before, 193 M
 * after). Own blocks are not remote frees: the list's `kept` counts only others' blocks
 * (flush_class).
 */
#include "heap.h"
#include "thread.h"

#define KEPT_BYTES      16384 /* of others' blocks, per class and thread */
#define OWN_BYTES       65536 /* of the list's blocks when they are the thread's own */
#define KEPT_MAX_SIZE   2048
#define KEPT_MIN_BLOCKS 8
#define KEPT_MAX_BLOCKS 256
#define OWN_MAX_BLOCKS  1024
/* Frees of the thread's own blocks in a row that find the list full with no malloc of the
 * class between them: a free-only phase, whose list goes back to the slabs. */
#define OWN_STREAK      32

/* What a popped link is checked against: 16-byte aligned and below 2^47, where Linux maps
 * user space unless asked for more, so that a stray link passes one time in 2^21. */
#define KEPT_LINK_MASK (~(((uintptr_t)1 << 47) - 1) | 15)

/* Blocks a class's list holds at most (of the thread's own); 0 for classes that are not kept. */
static uint32_t room_of[ASLAB_SMALL_CLASSES + 1];
uint32_t aslab__kept_floor[ASLAB_SMALL_CLASSES + 1];
unsigned aslab__kept_last_class;

/* Blocks of `size` that make up `bytes`, within [KEPT_MIN_BLOCKS, most]. */
static uint32_t blocks_for(uint32_t size, uint32_t bytes, uint32_t most) {
    uint32_t n = bytes / size;
    return n < KEPT_MIN_BLOCKS ? KEPT_MIN_BLOCKS : n > most ? most : n;
}

void aslab__kept_init(void) {
    for (unsigned cls = 1; cls <= ASLAB_SMALL_CLASSES; cls++) {
        uint32_t size = aslab__classes[cls].size;
        if (size > KEPT_MAX_SIZE) continue; /* no list: room and floor 0 */
        room_of[cls] = blocks_for(size, OWN_BYTES, OWN_MAX_BLOCKS);
        aslab__kept_floor[cls] = room_of[cls] - blocks_for(size, KEPT_BYTES, KEPT_MAX_BLOCKS);
        aslab__kept_last_class = cls; /* the classes grow in size */
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

int aslab__own_list_check(unsigned cls) {
    aslab__heap *h = &aslab__thread_heap;
    uint32_t now = (uint32_t)h->allocs[cls];
    if (h->own_paused[cls]) { /* since a free-only phase */
        if (now == h->own_mark[cls]) return 0;
        h->own_paused[cls] = 0;
        return h->rec->kept[cls].used != 0;
    }
    if (now != h->own_mark[cls]) { /* full, but mallocs of the class go on */
        h->own_mark[cls] = now;
        h->own_streak[cls] = 0;
        return 0;
    }
    if (++h->own_streak[cls] < OWN_STREAK) return 0;
    flush_class(h->rec, cls);
    h->own_streak[cls] = 0;
    h->own_paused[cls] = 1;
    return 0;
}

void aslab__kept_flush(void) {
    aslab__heap_rec *rec = aslab__thread_heap.rec;
    if (rec == NULL) return; /* never set up */
    for (unsigned cls = 1; cls <= ASLAB_SMALL_CLASSES; cls++)
        if (rec->kept[cls].free != (void *)&rec->kept[cls]) flush_class(rec, cls);
}
