/* empty.c - slabs of small classes that their owner's frees emptied, kept on the owner's record
 * for its next current slab instead of going back to the pool at once.
 *
 * A thread that allocates a batch larger than a slab and then frees it (a list, a tree, a
 * request's objects) empties every slab of the batch but its current one. Given back, each
 * went through the class cache's lock to the pool and came back for the next batch as a new
 * loan: its free list built again a few pages at a time, a trip through malloc's slow path
 * each, with the blocks' old links rewritten. Kept, the slab comes back as it was left: its
 * free list whole, its blocks the ones the thread touched last.
 *
 * What a thread keeps is bounded (EMPTY_KEEP_BYTES of slabs, all classes together) and
 * returns at the memory-return round and at malloc_trim: the thread that runs either takes back
 * every record's (a thread that has gone quiet pins only its current slabs after the next
 * round, run by any thread); a thread's exit gives back its own. Medium slabs are not
 * kept: their free pages are discarded block by block (medium.c), and one of them can be as
 * large as all the small ones together.
 *
 * A kept slab has no block out, so no free reaches it and only its record's lock guards it:
 * the empty lists, and `empty_bytes`, change only under that lock (read without it by the
 * round, to pass over the records that keep none).
 */
#include "heap.h"
#include "pool.h"
#include "slab_list.h"
#include "thread.h"

#define EMPTY_KEEP_BYTES ((uint64_t)1 << 20) /* per thread */
/* Per record parked at a thread's exit (thread.c): a thread's current slabs of every small
 * class together are about 8.5 MiB of address, of which a short-lived thread touched a page
 * or two each. */
#define EMPTY_PARK_BYTES ((uint64_t)8 << 20)

static void empty_bytes_add(aslab__heap_rec *rec, int64_t bytes) {
    __atomic_store_n(&rec->empty_bytes, rec->empty_bytes + (uint64_t)bytes, __ATOMIC_RELAXED);
}

static int keep_within(aslab__heap_rec *rec, aslab__mslab *m, uint64_t bound) {
    uint64_t bytes = aslab__class_slab_size(m->cls);
    if (aslab__class_is_medium(m->cls) || rec->empty_bytes + bytes > bound) return 0;
    aslab__list_add_first(&rec->classes[m->cls].empty, m, ASLAB__ON_EMPTY);
    empty_bytes_add(rec, (int64_t)bytes);
    return 1;
}

int aslab__empty_keep(aslab__heap_rec *rec, aslab__mslab *m) {
    return keep_within(rec, m, EMPTY_KEEP_BYTES);
}

int aslab__empty_park(aslab__heap_rec *rec, aslab__mslab *m) {
    return keep_within(rec, m, EMPTY_PARK_BYTES);
}

void aslab__empty_set_owner(aslab__heap_rec *rec, void *tag) {
    for (unsigned cls = 1; cls <= ASLAB_SMALL_CLASSES; cls++) {
        aslab__mslab *head = rec->classes[cls].empty, *m = head;
        if (m != NULL) do {
                aslab__pool_set_owner(m, tag);
                m = m->next;
            } while (m != head);
    }
}

aslab__mslab *aslab__empty_take(aslab__heap_rec *rec, unsigned cls) {
    aslab__mslab **head = &rec->classes[cls].empty, *m = *head;
    if (m == NULL) return NULL;
    aslab__list_del(head, m);
    empty_bytes_add(rec, -(int64_t)aslab__class_slab_size(m->cls));
    return m;
}

/* Every slab rec keeps, taken off its lists into a chain through `next`; rec's lock held. */
static aslab__mslab *take_all(aslab__heap_rec *rec) {
    aslab__mslab *chain = NULL, *m;
    for (unsigned cls = 1; cls <= ASLAB_SMALL_CLASSES; cls++)
        while ((m = aslab__empty_take(rec, cls)) != NULL) {
            m->next = chain;
            chain = m;
        }
    return chain;
}

static void return_chain(aslab__mslab *chain) {
    while (chain != NULL) {
        aslab__mslab *next = chain->next;
        chain->next = NULL;
        aslab__pool_return(chain);
        chain = next;
    }
}

void aslab__empty_give_back(aslab__heap_rec *rec) {
    if (__atomic_load_n(&rec->empty_bytes, __ATOMIC_RELAXED) == 0) return;
    aslab__rec_lock(rec);
    aslab__mslab *chain = take_all(rec);
    aslab__rec_unlock(rec);
    return_chain(chain);
}

void aslab__empty_give_back_locked(aslab__heap_rec *rec) {
    return_chain(take_all(rec));
}
