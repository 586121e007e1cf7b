/* thread.c - the thread heap's life cycle (thread.h): records (the part of a heap outside
 * TLS), the registry of those in use, set-up, and exit. */
#include "thread.h"

#include "medium.h"
#include "os.h"
#include "pool.h"

#include <pthread.h>

/* Every class starts at the stand-in slab: the first malloc of a class takes the slow path. */
__thread aslab__heap aslab__thread_heap ASLAB_TLS = {
    .cur = {[0 ... ASLAB_CLASS_SLOTS - 1] = &aslab__no_slab.hot},
    .keep = {[0 ... ASLAB_CLASS_SLOTS - 1] = &aslab__no_slab}};
/* Every bit in its link mask: its own address decodes as the link key, a stray link (see
 * aslab__pop_fast). */
aslab__mslab aslab__no_slab = {.hot = {.free = &aslab__no_slab, .link_mask = ~(uintptr_t)0}};

static pthread_key_t exit_key;

/* The registry: records in use, circular through reg_prev/reg_next; and free records, chained
 * through reg_next. Both under registry_lock. Records come from chunks mapped as needed, taken
 * in order (a record is about 15 KiB: chaining a new chunk's records would touch a page of
 * each, 256 KiB of RSS in a process with one thread). */
static uint64_t registry_lock[2];
static aslab__heap_rec *registry, *spare, *chunk_next, *chunk_end;

/* Parked records: an exiting thread's record with the slabs it left empty, for the
 * next thread that starts (chained through reg_next, under registry_lock; docs/
 * thread-owned-slabs.md, "Threads that come and go"). Without them, a thread that lives for a
 * few hundred blocks borrows a slab of every class it uses from the class caches and gives
 * each back at its exit, through the class's lock and, beyond the caches' reserves, the
 * arena's one lock and its madvise calls: threads started in bursts queued there. A parked
 * slab's owner word says nobody until a thread adopts the record. They go back to the pool at
 * the memory-return round and at malloc_trim, as a live thread's kept empty slabs do. */
#define PARKED_MAX 4
static aslab__heap_rec *parked;
static int parked_count; /* written under registry_lock, read without it as a hint */

#define RECORDS_PER_CHUNK 64

/* Registry lock held; *adopted says whether the record is a parked one. */
static aslab__heap_rec *record_new(int *adopted) {
    aslab__heap_rec *rec = parked;
    *adopted = rec != NULL;
    if (rec != NULL) {
        parked = rec->reg_next;
        __atomic_store_n(&parked_count, parked_count - 1, __ATOMIC_RELAXED);
        return rec;
    }
    rec = spare;
    if (rec != NULL) {
        spare = rec->reg_next;
        return rec; /* its lists are empty: a record goes back only with every slab abandoned */
    }
    if (chunk_next == chunk_end) {
        chunk_next = aslab__os_map_aligned(RECORDS_PER_CHUNK * sizeof *rec, aslab__os_page_size());
        if (chunk_next == NULL) return chunk_end = NULL;
        chunk_end = chunk_next + RECORDS_PER_CHUNK;
    }
    return chunk_next++; /* zeroed by the mapping */
}

/* Registry lock held. */
static void registry_add(aslab__heap_rec *rec) {
    if (registry == NULL) {
        rec->reg_prev = rec->reg_next = rec;
        registry = rec;
    } else {
        rec->reg_next = registry;
        rec->reg_prev = registry->reg_prev;
        registry->reg_prev->reg_next = rec;
        registry->reg_prev = rec;
    }
}

/* Registry lock held. */
static void registry_del(aslab__heap_rec *rec) {
    if (rec->reg_next == rec) {
        registry = NULL;
    } else {
        rec->reg_prev->reg_next = rec->reg_next;
        rec->reg_next->reg_prev = rec->reg_prev;
        if (registry == rec) registry = rec->reg_next;
    }
}

/* Registry lock held: the counters of rec's heap go into the globals. Takes the record, not
 * the heap: a fork child merges heaps whose thread was between registering its record and
 * setting its heap's `rec` (thread_setup), whose `rec` is still NULL. */
static void merge_counts(aslab__heap_rec *rec) {
    aslab__heap *h = rec->tls;
    for (unsigned cls = 1; cls <= ASLAB_NUM_CLASSES; cls++) {
        aslab__class_stats *st = &aslab__pool_stats[cls];
        __atomic_add_fetch(&st->allocs, h->allocs[cls], __ATOMIC_RELAXED);
        __atomic_add_fetch(&st->frees_remote, rec->frees_remote[cls], __ATOMIC_RELAXED);
        h->allocs[cls] = rec->frees_remote[cls] = 0;
    }
}

/* Blocks of m out and not freed, `used` being its count: those on its remote list are counted
 * in it until the owner takes them, and the remote word says how many there are. */
static uint64_t blocks_out(const aslab__mslab *m, uint32_t used_now) {
    uint64_t used = used_now & ~ASLAB__FULL;
    uintptr_t word = __atomic_load_n(&m->remote, __ATOMIC_RELAXED);
    uint64_t remote =
        word & ASLAB__ABANDONED ? 0 : (word & ASLAB__REMOTE_COUNT) / ASLAB__REMOTE_ONE;
    return used > remote ? used - remote : 0;
}

static uint64_t slab_live(const aslab__mslab *m) {
    return blocks_out(m, __atomic_load_n(&m->used, __ATOMIC_RELAXED));
}

/* The live blocks of rec's current slab m of class cls, whose count may be in the owner's
 * copy (hot.c, less the frees onto m's own list meanwhile), read as it is. */
static uint64_t current_live(aslab__heap_rec *rec, unsigned cls, aslab__mslab *m) {
    uint32_t used = __atomic_load_n(&m->used, __ATOMIC_RELAXED);
    if (cls <= ASLAB_SMALL_CLASSES &&
        __atomic_load_n(&rec->hot[cls].first, __ATOMIC_RELAXED) == m->first)
        used = __atomic_load_n(&rec->hot[cls].used, __ATOMIC_RELAXED) - (ASLAB__HOT_USED - used);
    return blocks_out(m, used);
}

/* Free blocks that rec's thread keeps while their slabs count them as out, read as they are:
 * its kept list's, and for a medium class its last freed block (medium.h). */
static uint64_t kept_blocks(aslab__heap_rec *rec, unsigned cls) {
    if (cls >= ASLAB_CLASS_SLOTS) return 0;
    uint64_t recent = cls > ASLAB_SMALL_CLASSES &&
                      __atomic_load_n(&rec->tls->recent[cls], __ATOMIC_RELAXED) != NULL;
    uint32_t room = __atomic_load_n(&rec->kept[cls].used, __ATOMIC_RELAXED);
    uint32_t full = __atomic_load_n(&rec->kept[cls].room, __ATOMIC_RELAXED);
    return recent + (room < full ? full - room : 0) + aslab__batch_count(rec->tls, cls);
}

/* Blocks out in one of a record's lists: at most a bounded number of slabs are looked at,
 * since the owner may be changing the list (every slab stays mapped, so reading one that left
 * the list is harmless). */
static uint64_t list_live(aslab__mslab *head) {
    uint64_t live = 0;
    aslab__mslab *m = head;
    for (int n = 0; m != NULL && n < 1000000; n++) {
        live += slab_live(m);
        m = __atomic_load_n(&m->next, __ATOMIC_RELAXED);
        if (m == head) break;
    }
    return live;
}

static uint64_t heap_live(aslab__heap_rec *rec, unsigned cls) {
    aslab__mslab *cur = __atomic_load_n(&rec->current[cls], __ATOMIC_RELAXED);
    uint64_t live = cur != &aslab__no_slab ? current_live(rec, cls, cur) - 1 : 0; /* phantom */
    live += list_live(__atomic_load_n(&rec->classes[cls].partial, __ATOMIC_RELAXED)) +
            list_live(__atomic_load_n(&rec->classes[cls].full, __ATOMIC_RELAXED));
    return live - kept_blocks(rec, cls);
}

void aslab__thread_counts(unsigned cls, uint64_t out[3]) {
    const aslab__class_stats *st = &aslab__pool_stats[cls];
    out[0] += __atomic_load_n(&st->allocs, __ATOMIC_RELAXED);
    out[1] += __atomic_load_n(&st->frees_remote, __ATOMIC_RELAXED);
    out[2] += aslab__pool_abandoned_live(cls);
    aslab_futexlock.lock(registry_lock);
    aslab__heap_rec *rec = registry;
    if (rec != NULL) do { /* other threads' counters, read as they are */
            out[0] += __atomic_load_n(&rec->tls->allocs[cls], __ATOMIC_RELAXED);
            out[1] += __atomic_load_n(&rec->frees_remote[cls], __ATOMIC_RELAXED);
            out[2] += heap_live(rec, cls);
            rec = rec->reg_next;
        } while (rec != registry);
    aslab_futexlock.unlock(registry_lock);
}

void aslab__rec_lock(aslab__heap_rec *rec) {
    aslab_futexlock.lock(rec->lock);
}

void aslab__rec_unlock(aslab__heap_rec *rec) {
    aslab_futexlock.unlock(rec->lock);
}

/* Every slab of class cls the exiting thread owns, abandoned. Record lock held. */
static void abandon_class(aslab__heap_rec *rec, unsigned cls) {
    aslab__mslab *m = rec->current[cls];
    if (m != &aslab__no_slab) {
        aslab__thread_heap.cur[cls] = &aslab__no_slab.hot;
        rec->current[cls] = &aslab__no_slab;
        m->used--; /* its phantom use as the current slab */
        aslab__pool_abandon(m);
    }
    aslab__class_heap *ch = &rec->classes[cls];
    while ((m = ch->partial) != NULL) {
        aslab__heap_list_unlink(cls, m);
        aslab__pool_abandon(m);
    }
    while ((m = ch->full) != NULL) {
        aslab__heap_list_unlink(cls, m);
        __atomic_store_n(&m->full_used, 0, __ATOMIC_RELEASE);
        m->used &= ~ASLAB__FULL;
        aslab__pool_abandon(m);
    }
}

/* Calls fn on every record in the registry, in order; the registry lock held. */
static void each_record(void (*fn)(aslab__heap_rec *)) {
    aslab__heap_rec *rec = registry;
    if (rec != NULL) do {
            fn(rec);
            rec = rec->reg_next;
        } while (rec != registry);
}

/* Registry lock held. */
static void spare_add(aslab__heap_rec *rec) {
    rec->reg_next = spare;
    spare = rec;
}

void aslab__thread_give_back_empty(void) {
    aslab_futexlock.lock(registry_lock);
    each_record(aslab__empty_give_back);
    while (parked != NULL) {
        aslab__heap_rec *rec = parked;
        parked = rec->reg_next;
        aslab__empty_give_back(rec);
        spare_add(rec);
    }
    __atomic_store_n(&parked_count, 0, __ATOMIC_RELAXED);
    aslab_futexlock.unlock(registry_lock);
}

void aslab__heap_give_back_held(void) {
    aslab__kept_flush();
    aslab__medium_release_recent();
}

/* The exiting thread's current slab of small class cls joins its record's kept empty slabs if
 * no block of it is out (remote frees taken first). Record lock held. */
static void park_current(aslab__heap_rec *rec, unsigned cls) {
    aslab__mslab *m = rec->current[cls];
    if (m == &aslab__no_slab) return;
    aslab__pool_collect(m, 0);
    /* blocks out besides its phantom use, or no room: abandoned */
    if (m->used != 1 || !aslab__empty_park(rec, m)) return;
    m->used = 0;
    aslab__thread_heap.cur[cls] = &aslab__no_slab.hot;
    rec->current[cls] = &aslab__no_slab;
}

/* Whether the exiting thread may leave its empty slabs on its record for the next thread. */
static int may_park(void) {
    return __atomic_load_n(&parked_count, __ATOMIC_RELAXED) < PARKED_MAX;
}

/* The record leaves the registry: parked if it kept slabs and there is room, else spare
 * once its slabs went back. */
static void record_retire(aslab__heap_rec *rec) {
    aslab_futexlock.lock(registry_lock);
    merge_counts(rec);
    registry_del(rec);
    rec->tls = NULL;
    int kept = __atomic_load_n(&rec->empty_bytes, __ATOMIC_RELAXED) != 0;
    int park = kept && parked_count < PARKED_MAX;
    if (park) {
        rec->reg_next = parked;
        parked = rec;
        __atomic_store_n(&parked_count, parked_count + 1, __ATOMIC_RELAXED);
    } else if (!kept) {
        spare_add(rec);
    }
    aslab_futexlock.unlock(registry_lock);
    if (!kept || park) return;
    aslab__empty_give_back(rec); /* no room: parked records filled up meanwhile */
    aslab_futexlock.lock(registry_lock);
    spare_add(rec);
    aslab_futexlock.unlock(registry_lock);
}

/* From here on the thread's mallocs go to the fallback and its frees of its own blocks take
 * the abandoned path: other keys' destructors may still call both. */
static void thread_exit(void *arg) {
    aslab__heap *h = arg;
    aslab__heap_rec *rec = h->rec;
    aslab__kept_disable();
    aslab__heap_give_back_held();
    h->state = ASLAB_HEAP_DEAD;
    aslab__hot_park_all();
    int park = may_park();
    aslab__rec_lock(rec);
    if (park) {
        for (unsigned cls = 1; cls <= ASLAB_SMALL_CLASSES; cls++)
            park_current(rec, cls);
        aslab__empty_set_owner(rec, NULL); /* the thread pointer may be the next thread's */
    } else {
        aslab__empty_give_back_locked(rec);
    }
    for (unsigned cls = 1; cls <= ASLAB_NUM_CLASSES; cls++)
        abandon_class(rec, cls);
    aslab__rec_unlock(rec);
    /* No list of the record stays named: an empty kept list could be `cur` still, and the
     * record goes to the next thread. */
    for (unsigned cls = 0; cls < ASLAB_CLASS_SLOTS; cls++)
        h->cur[cls] = &aslab__no_slab.hot;
    record_retire(rec);
}

int aslab__thread_global_init(void) {
    return pthread_key_create(&exit_key, thread_exit);
}

/* pthread_setspecific may allocate: while it runs the state is SETUP, and a nested call is
 * served by the fallback. */
int aslab__thread_setup(void) {
    aslab__heap *h = &aslab__thread_heap;
    if (ASLAB__LIKELY(h->state == ASLAB_HEAP_LIVE)) return 1;
    if (h->state != ASLAB_HEAP_NEW) return 0;
    h->state = ASLAB_HEAP_SETUP;
    aslab_futexlock.lock(registry_lock);
    int adopted = 0;
    aslab__heap_rec *rec = record_new(&adopted);
    if (rec != NULL) {
        aslab__kept_reset(rec);
        rec->tls = h;
        registry_add(rec);
    }
    aslab_futexlock.unlock(registry_lock);
    if (rec == NULL) { /* no memory for a record: this thread is served by the fallback */
        h->state = ASLAB_HEAP_DEAD;
        return 0;
    }
    h->rec = rec;
    if (adopted) { /* a parked record's slabs become the thread's */
        aslab__rec_lock(rec);
        aslab__empty_set_owner(rec, aslab__owner_tag());
        aslab__rec_unlock(rec);
    }
    pthread_setspecific(exit_key, h);
    h->medium_room = aslab__medium_budget;
    h->state = ASLAB_HEAP_LIVE;
    aslab__kept_enable();
    return 1;
}

void aslab__heap_trim_thread(void) {
    aslab__heap *h = &aslab__thread_heap;
    if (h->state != ASLAB_HEAP_LIVE) return;
    aslab__heap_give_back_held();
    aslab__hot_park_all();
    aslab__rec_lock(h->rec);
    for (unsigned cls = 1; cls <= ASLAB_NUM_CLASSES; cls++) {
        aslab__mslab *m = h->rec->current[cls];
        if (m == &aslab__no_slab) continue;
        aslab__medium_took(m, (uint64_t)aslab__pool_collect(m, 0) * aslab__classes[cls].size);
        if (m->used != 1) continue; /* blocks are out */
        h->cur[cls] = &aslab__no_slab.hot;
        h->rec->current[cls] = &aslab__no_slab;
        m->used = 0;
        aslab__medium_gives(m);
        aslab__pool_return(m);
    }
    aslab__rec_unlock(h->rec);
    aslab__hot_install_all();
    aslab__medium_trim_thread();
}

/* Fork: every record's lock is taken, so that no record is half-changed in the child. */
void aslab__thread_fork_prepare(void) {
    aslab_futexlock.lock(registry_lock);
    each_record(aslab__rec_lock);
}

void aslab__thread_fork_parent(void) {
    each_record(aslab__rec_unlock);
    aslab_futexlock.unlock(registry_lock);
}

/* The child's one thread keeps its record; the others leave the registry, their slabs still
 * theirs (blocks of them freed in the child go onto remote lists nobody takes: a leak in the
 * child, never a reuse). */
void aslab__thread_fork_child(void) {
    aslab__heap_rec *self = aslab__thread_heap.rec, *rec = registry;
    if (rec != NULL) do {
            aslab_futexlock.init(rec->lock);
            rec = rec->reg_next;
        } while (rec != registry);
    aslab_futexlock.init(registry_lock);
    while (registry != NULL && !(registry == self && self->reg_next == self)) {
        aslab__heap_rec *other = registry == self ? self->reg_next : registry;
        merge_counts(other);
        registry_del(other);
        other->tls = NULL; /* not reused: a remote free may still lock it */
    }
}
