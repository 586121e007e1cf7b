/* kept.c - the thread's kept lists: per small class up to 2 KiB and per medium class, the
 * blocks it freed, its own and other threads', kept for its own mallocs (a thread cache in
 * front of the slabs).
 *
 * Every free onto the list (session 21; docs/thread-owned-slabs.md, "Every free onto the
 * list"). free's fast path (heap.h, aslab__free_kept) puts any block of a lent slab of a
 * class with a list onto the calling thread's list while the list takes frees, whoever owns
 * the slab, and `cur` names the list: the next malloc of the class takes the block back, the
 * last freed first. It reads no line of the slab: the table of lent slabs (arena.h) says, by
 * the block's address alone, which lent slab covers it and where its slot 0 is, and the
 * slot test against it is also the test that the pointer is ours. One list and no test of
 * which slab a block is in, so no branch that goes either way at random: before, a free of
 * the current slab's block went to the slab and any other to the list or its slab's header,
 * and a program that frees blocks a little older than its current slab (a queue, xthread's
 * parcels) mispredicted that branch on every other free (tcmalloc 0.61 of aslab's time on a
 * queue of 1,024 blocks of 16-1024 B, 0.71 on a queue and one thread; docs). Blocks of other
 * threads' slabs stay on the core that freed them, as in tcmalloc's thread caches: no
 * compare-and-swap on the owner's remote word, no line that moves between cores.
 *
 * Its room. A small class's list holds START_BYTES of blocks at first, START_MAX_BLOCKS at
 * most, and grows to LIST_BYTES (8 to LIST_MAX_BLOCKS blocks either way; a medium class's holds
 * LIST_BYTES, at least MEDIUM_MIN_BLOCKS); its `used` counts the room left. It grows to its
 * full room once the blocks it gave back when full were the thread's own more often than
 * others', by half its room (the count goes on across fills), and on, doubling each time that
 * holds again, to OWN_LIST_BYTES (OWN_LIST_MAX_BLOCKS blocks at most): the thread's own blocks
 * stay in its slabs whether listed or not, so a longer list of them costs no memory, and a
 * thread that frees in bulk what it allocated in bulk then finds the whole batch on the list.
 * A batch larger than the room went through the list twice, half of each fill given back to
 * the slabs one block at a time (session 37: batches of 1,600 blocks of 16 B took 10.3 ns a
 * pair against mimalloc's 6.9, 6.5 with the list grown; docs/thread-owned-slabs.md). Other
 * threads' blocks go home, where their owner reuses them, and a list of them stays short:
 * where blocks go round a ring of threads (xthread), each list's level wanders between empty
 * and full, and every thread held about half of 64 KiB a class of others' blocks (peak RSS
 * 17.4 MiB, 11.1 with 16 KiB lists, 14.0 with 32 KiB; docs/thread-owned-slabs.md, "The kept
 * list's room"). A block going home costs the same whatever its size, and the memory a list
 * pins grows with its count of blocks (each holds its slot, and its owner's slab the page):
 * 32 KiB are 1,024 blocks of 32 B, which kept every page of their owners' slabs in use, so
 * the start is 32 blocks at most (xthread 12.6 -> 11.0 MiB at 64, 9.8 at 32; session 31).
 * The rooms start again at each return of every list (exit, trim, the memory-return round).
 * The free that fills it calls aslab__kept_filled: when the thread malloced the class since the
 * list last filled, a small class's list keeps the half freed last (the likeliest in cache)
 * and gives the rest back, each block to its slab, or to its owner by its remote list;
 * otherwise (a free-only phase: a consumer, a program freeing all it holds; and always for a
 * medium class, whose blocks are each pages the program wrote: docs/medium-classes.md, "On the
 * thread's kept list") it gives the whole list back and frees of the class stop going onto it until
 * the next malloc of the class (`paused`), so that slabs can empty and the owners of others'
 * blocks get them back. While stopped, a free goes home if the block is another thread's;
 * if most of the list was the thread's own blocks, the class's frees go to the thread's batch
 * (batch.c) and reach their slabs a batch at a time, otherwise by the map one by one (its own
 * block to its slab, the current one without reading its header). Each kept block holds
 * its slab (which counts it as out), so a thread that goes quiet may pin up to LIST_BYTES of
 * blocks a class (OWN_LIST_BYTES of its own): the thread's exit, malloc_trim and the memory-return
 * round it runs give them back.
 *
 * The list is shaped like a slab's (heap.h): links mangled with the key and the block's
 * address, ending at the list's own state. The heap's `cur` names it while it holds blocks, so
 * malloc's fast path pops it unchanged; a popped link is checked for 16-byte alignment and a
 * user-space address only (the next block may be in any slab of the class). When it runs
 * dry, malloc's failed pop (refill.c) turns `cur` back to the current slab's list. Small
 * blocks above KEPT_MAX_SIZE have no list: few of them make up LIST_BYTES, and they are
 * rarely handed round. A medium list's `size` is 0, so that the pop of one of its blocks adds
 * nothing to the thread's dirty-byte budget (medium.c): a kept block was never counted free.
 * The statistics' remote frees count the blocks that went home by a remote list (the owner
 * counts them as it takes them): a block freed onto another thread's list and malloced there
 * again never went home, and the fast path does not know whose it is.
 */
#include "heap.h"
#include "options.h"
#include "thread.h"

#define LIST_BYTES          65536 /* per class and thread, at most, unless the thread's own */
#define START_BYTES         32768 /* a small class's list at first (its room grows: above) */
#define KEPT_MAX_SIZE       2048
#define KEPT_MIN_BLOCKS     8
#define LIST_MAX_BLOCKS     1024
#define START_MAX_BLOCKS    32 /* a small class's list at first, at most */
/* A small class's list of the thread's own blocks grows on, doubling, to these: a batch the
 * thread frees and then allocates again (glibc's bench-malloc-simple: 1,600 blocks of 16-64 B;
 * sh6bench: 2,000 of 1-709 B) then stays on the list whole ("Its room", above). */
#define OWN_LIST_BYTES      262144
#define OWN_LIST_MAX_BLOCKS 8192
/* A medium class's list: the blocks LIST_BYTES make up, at least 2, so that a free that
 * follows a malloc of the class never fills it (a list of 1 would give its block back at once:
 * kept.c's half of 1 is 0). */
#define MEDIUM_MIN_BLOCKS   2

/* What a popped link is checked against: 16-byte aligned and below 2^47, where Linux maps
 * user space unless asked for more, so that a stray link passes one time in 2^21. */
#define KEPT_LINK_MASK (~(((uintptr_t)1 << 47) - 1) | 15)

/* Blocks a class's list holds once the thread's own outnumber others' (its full room); 0 for
 * classes that are not kept. */
static uint32_t room_of[ASLAB_CLASS_SLOTS];
/* ... and at most, as the thread's own go on outnumbering others' (a small class's). */
static uint32_t own_room_of[ASLAB_CLASS_SLOTS];
/* ... and at first, and again after each return of every list (aslab__kept_flush). */
static uint32_t start_room[ASLAB_CLASS_SLOTS];

/* Blocks of `size` that make up `bytes`, within [KEPT_MIN_BLOCKS, most]. */
static uint32_t blocks_for(uint32_t size, uint32_t bytes, uint32_t most) {
    uint32_t n = bytes / size;
    return n < KEPT_MIN_BLOCKS ? KEPT_MIN_BLOCKS : n > most ? most : n;
}

void aslab__kept_init(void) {
    for (unsigned cls = 1; cls <= ASLAB_NUM_CLASSES; cls++) {
        uint32_t size = aslab__classes[cls].size;
        if (aslab__class_is_medium(cls)) { /* as many as LIST_BYTES make up, 2 at least */
            room_of[cls] =
                size >= LIST_BYTES / MEDIUM_MIN_BLOCKS ? MEDIUM_MIN_BLOCKS : LIST_BYTES / size;
            start_room[cls] = own_room_of[cls] = room_of[cls];
            continue;
        }
        if (size > KEPT_MAX_SIZE) continue; /* no list: room 0 */
        room_of[cls] = blocks_for(size, LIST_BYTES, LIST_MAX_BLOCKS);
        start_room[cls] = blocks_for(size, START_BYTES, START_MAX_BLOCKS);
        own_room_of[cls] = blocks_for(size, OWN_LIST_BYTES, OWN_LIST_MAX_BLOCKS);
    }
}

uint32_t aslab__kept_room(unsigned cls) {
    return room_of[cls];
}

static void empty_list(aslab__mslab *k) {
    k->free = k;
    k->used = k->room;
}

/* The room of k (class cls) at its start; the statistics read it from other threads. */
static void room_restart(aslab__mslab *k, unsigned cls) {
    __atomic_store_n(&k->room, start_room[cls], __ATOMIC_RELAXED);
    k->own_balance = 0;
}

/* k (class cls) filled up and gave blocks back, own_minus_home more of them the thread's own
 * than other threads'. Once the thread's own outnumber the others by half the room, the room
 * grows, and what is left of it with it: from its start to its full room, then doubling up to
 * own_room_of, each step once the own blocks outnumber the others by half the room again. */
static void room_learn(aslab__mslab *k, unsigned cls, int32_t own_minus_home) {
    k->own_balance += own_minus_home;
    if (k->own_balance < (int32_t)(k->room / 2) || k->room >= own_room_of[cls]) return;
    uint32_t room = k->room < room_of[cls] ? room_of[cls] : k->room * 2;
    if (room > own_room_of[cls]) room = own_room_of[cls];
    k->used += room - k->room;
    __atomic_store_n(&k->room, room, __ATOMIC_RELAXED);
    k->own_balance = 0;
}

void aslab__kept_reset(aslab__heap_rec *rec) {
    for (unsigned cls = 0; cls < ASLAB_CLASS_SLOTS; cls++) {
        aslab__mslab *k = &rec->kept[cls];
        k->size = 0;  /* a medium pop adds it to the dirty budget: a kept block was never freed */
        k->first = 0; /* blocks of any slab: the end is the list's own state */
        room_restart(k, cls);
        empty_list(k);
        k->cls = (uint16_t)cls;
        k->link_mask = KEPT_LINK_MASK;
    }
    for (unsigned cls = 0; cls < ASLAB_CLASS_SLOTS; cls++)
        rec->current[cls] = &aslab__no_slab;
}

/* Gives back the blocks of list k (class cls) from `block` to the list's end, each to its slab
 * or home; returns how many more of them were the thread's own than other threads'. The list
 * holds runs of blocks of one slab (a batch freed together): after a block went to a slab of
 * the thread's own, the next ones of that slab go onto its list with no owner read and no
 * call, until a free empties the slab or takes it off the full list (either may hand it to
 * another thread). sh8bench's walks (8,192 blocks at most): 49 -> 32 instructions a block. */
static int32_t give_back_from(aslab__mslab *k, unsigned cls, uintptr_t *block) {
    int32_t own_minus_home = 0;
    aslab__slab *own = NULL; /* never a medium class's: its frees count its dirty bytes */
    uintptr_t key = aslab__keys.free;
    while ((void *)block != (void *)k) {
        uintptr_t *next = aslab__list_next(&k->hot, block, "free()");
        aslab__slab *slab = aslab__slab_at(block, cls);
        if (slab == own) {
            if (ASLAB__UNLIKELY(aslab__free_local(block, slab, key))) own = NULL;
            own_minus_home++;
        } else if (aslab__give_back(block, cls)) {
            own_minus_home--;
        } else {
            own_minus_home++;
            own = aslab__class_is_medium(cls) ? NULL : slab;
        }
        block = next;
    }
    return own_minus_home;
}

/* Gives class cls's kept blocks back (rec is the calling thread's); `cur` turns to the
 * current slab. Returns how many more of them were the thread's own than other threads'. The
 * heap is named, not passed: gcc 12's -fsanitize=null tests a pointer to a TLS variable with
 * the flags of an earlier compare. */
static int32_t flush_class(aslab__heap_rec *rec, unsigned cls) {
    aslab__mslab *k = &rec->kept[cls];
    uintptr_t *block = k->free;
    aslab__thread_heap.cur[cls] = aslab__cur_home(cls);
    aslab__batch_end(cls); /* its next malloc would not see it end: `cur` has turned */
    empty_list(k);
    return give_back_from(k, cls, block);
}

/* Every class with a list takes frees. */
void aslab__kept_enable(void) {
    aslab__heap *h = &aslab__thread_heap;
    h->may_keep = 1;
    for (unsigned cls = 0; cls < ASLAB_CLASS_SLOTS; cls++) {
        h->keep[cls] = room_of[cls] != 0 ? &h->rec->kept[cls] : &aslab__no_slab;
        h->paused[cls] = ASLAB__KEEP_TAKING;
    }
}

/* Before the record can go to another thread: a free this thread makes after its exit
 * (another key's destructor) must not add to it, nor a free turn the list back on. */
void aslab__kept_disable(void) {
    aslab__heap *h = &aslab__thread_heap;
    h->may_keep = 0;
    aslab__batch_slab_forget();
    for (unsigned cls = 0; cls < ASLAB_CLASS_SLOTS; cls++) {
        h->keep[cls] = &aslab__no_slab;
        if (h->paused[cls] == ASLAB__KEEP_BATCHED) h->paused[cls] = ASLAB__KEEP_STOPPED;
    }
}

int aslab__kept_reopen(unsigned cls) {
    aslab__heap *h = &aslab__thread_heap;
    if (!h->may_keep) return 0; /* paused before the thread's exit */
    h->paused[cls] = ASLAB__KEEP_TAKING;
    h->keep[cls] = &h->rec->kept[cls];
    return h->rec->kept[cls].used != 0;
}

/* Gives back the blocks of list k (class cls) after its first `keep`, the ones freed last,
 * which stay for the next mallocs: the likeliest to be in cache. Returns how many more of
 * those given back were the thread's own than other threads'. */
static int32_t give_back_after(aslab__mslab *k, unsigned cls, uint32_t keep) {
    uintptr_t *block = k->free, *last = NULL;
    uint32_t kept = 0;
    for (; kept < keep && (void *)block != (void *)k; kept++) {
        last = block;
        block = aslab__list_next(&k->hot, block, "free()");
    }
    if (last == NULL) return flush_class(aslab__thread_heap.rec, cls);
    *last = aslab__link_encode((uintptr_t)k, last); /* the list ends after `last` now */
    k->used = k->room - kept;
    return give_back_from(k, cls, block);
}

void aslab__kept_filled(aslab__mslab *k) {
    aslab__heap *h = &aslab__thread_heap;
    unsigned cls = k->cls;
    uint32_t now = (uint32_t)h->allocs[cls];
    /* mallocs of the class go on; a medium class's list (a few blocks, each of them pages the
     * program wrote) goes back whole, so that it holds as much as the last freed block did */
    if (now != h->fill_mark[cls] && !aslab__class_is_medium(cls)) {
        h->fill_mark[cls] = now;
        room_learn(k, cls, give_back_after(k, cls, k->room / 2));
        return;
    }
    h->fill_mark[cls] = now;
    /* No malloc since it last filled up: a free-only phase. The thread's own blocks go on to
     * its batch (batch.c); others' (a consumer's) go home one by one, so that their owners
     * get them back at once. The background thread, whose rounds return what quiet threads
     * hold, cannot reach a batch: none then. */
    int32_t own_minus_home = flush_class(h->rec, cls);
    int batch = own_minus_home > 0 && !aslab__class_is_medium(cls) && !aslab__options.background;
    if (!aslab__class_is_medium(cls)) room_learn(k, cls, own_minus_home);
    h->paused[cls] = batch ? ASLAB__KEEP_BATCHED : ASLAB__KEEP_STOPPED;
    aslab__batch_slab_forget(); /* set again by the phase's own frees (batch.c) */
    h->keep[cls] = &aslab__no_slab;
    /* Batched, `cur` names the list, empty now: the class's next malloc misses and its slow
     * path ends the phase (aslab__batch_end), so that no free of the phase tests for it. */
    if (batch) h->cur[cls] = &k->hot;
}

void aslab__kept_flush(void) {
    aslab__heap_rec *rec = aslab__thread_heap.rec;
    if (rec == NULL) return; /* never set up */
    aslab__batch_flush();
    for (unsigned cls = 1; cls < ASLAB_CLASS_SLOTS; cls++) {
        aslab__mslab *k = &rec->kept[cls];
        if (k->room == start_room[cls] && k->free == (void *)k) continue;
        room_restart(k, cls);
        flush_class(rec, cls);
    }
}
