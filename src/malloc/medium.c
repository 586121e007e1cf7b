/* medium.c - the medium classes (above 16 KiB, up to 1 MiB): malloc and free on the same
 * thread-owned slabs as the small classes, and giving back the pages of free blocks.
 *
 * A slab of a medium class holds 8 to 15 blocks, so a program that frees most of its buffers
 * while a few stay live would keep every slab, and every page of it, if only empty slabs went
 * back. So the pages of free medium blocks are discarded (MADV_DONTNEED) while their slabs
 * stay: all but the page that holds a free block's links, which stays resident.
 *
 * Which blocks: each thread counts the bytes of the free blocks on its medium slabs' free
 * lists whose pages may be resident ("dirty"; the heap's medium_room is the budget less
 * them). Word 2 of a free block says
 * which are not (aslab__clean_key: discarded, or never used). A free that takes the thread past its
 * budget (the dirty cap, ASLAB_DIRTY_MAX_MB) discards blocks down to half of it: the largest
 * classes first (fewest calls per byte), a class's partial slabs before its current one, and never
 * the head of the current slab's list (the next block malloc hands out). Cycling through a few
 * buffers costs no system call; a program that frees much keeps at most the budget resident per
 * thread.
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
    size_t cap = aslab__purge_at_once() ? 0 : aslab__purge_cap();
    aslab__medium_budget = cap > (size_t)INT64_MAX / 2 ? INT64_MAX / 2 : (int64_t)cap;
}

/* The whole pages of block p past the one that holds its links. */
static void discard_block(void *p, size_t size) {
    uintptr_t page = aslab__os_page_size();
    uintptr_t start = ((uintptr_t)p + 3 * sizeof(uintptr_t) + page - 1) & ~(page - 1);
    uintptr_t end = ((uintptr_t)p + size) & ~(page - 1);
    if (end > start) aslab__os_discard((void *)start, end - start);
}

/* The next block after `block` on m's free list, checked as malloc checks it. */
static uintptr_t *next_free(aslab__mslab *m, uintptr_t *block) {
    uintptr_t next = aslab__link_encode(block[0], block);
    if (aslab__link_stray(next, m) != 0)
        aslab__heap_fault("free()", "corrupted free list (a write after free?)", block);
    return (uintptr_t *)next;
}

uint64_t aslab__medium_slab_dirty(aslab__mslab *m) {
    uint64_t dirty = 0, size = aslab__classes[m->cls].size;
    for (uintptr_t *block = m->free; (void *)block != (void *)m; block = next_free(m, block))
        if (block[2] != aslab__clean_key) dirty += size;
    return dirty;
}

/* The calling thread's dirty medium bytes. */
static int64_t dirty_bytes(const aslab__heap *h) {
    return aslab__medium_budget - h->medium_room;
}

/* Discards m's dirty free blocks, the first `keep` blocks of its list aside, while the thread
 * holds more than `target` dirty bytes. */
static void discard_slab(aslab__mslab *m, unsigned keep, int64_t target) {
    aslab__heap *h = &aslab__thread_heap;
    uint32_t size = aslab__classes[m->cls].size;
    uintptr_t *block = m->free;
    for (unsigned seen = 0; (void *)block != (void *)m && dirty_bytes(h) > target; seen++) {
        if (seen >= keep && block[2] != aslab__clean_key) {
            discard_block(block, size);
            block[2] = aslab__clean_key;
            h->medium_room += size;
        }
        block = next_free(m, block);
    }
}

/* Discards the calling thread's dirty medium blocks until it holds at most `target` bytes
 * of them (keep_heads: the head of each current slab's list stays). */
static void discard_thread(int64_t target, unsigned keep_heads) {
    aslab__heap *h = &aslab__thread_heap;
    aslab__rec_lock(h->rec);
    for (unsigned cls = ASLAB_NUM_CLASSES; cls > ASLAB_SMALL_CLASSES; cls--) {
        aslab__mslab *first = h->rec->classes[cls].partial, *m = first;
        if (m != NULL) do {
                discard_slab(m, 0, target);
                m = m->next;
            } while (m != first && dirty_bytes(h) > target);
        if (h->cur[cls] != &aslab__no_slab) discard_slab(h->cur[cls], keep_heads, target);
        if (dirty_bytes(h) <= target) break;
    }
    aslab__rec_unlock(h->rec);
}

void aslab__medium_trim_thread(void) {
    if (aslab__thread_heap.state == ASLAB_HEAP_LIVE) discard_thread(0, 0);
}

void aslab__medium_discard(void) {
    discard_thread(aslab__medium_budget / 2, 1);
}
