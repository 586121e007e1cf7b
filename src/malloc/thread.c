/* thread.c - the thread heap's life cycle (thread.h). */
#include "thread.h"

#include "pool.h"

#include <pthread.h>

/* Every class starts at the stand-in slab: the first malloc of a class takes the slow path. */
__thread aslab__heap aslab__thread_heap ASLAB_TLS = {
    .cur = {[0 ... ASLAB_CLASS_SLOTS - 1] = &aslab__no_slab}};
aslab__mslab aslab__no_slab = {.free = &aslab__no_slab};

static pthread_key_t exit_key;
static uint64_t registry_lock[2];
static aslab__heap *registry; /* circular through reg_prev/reg_next */

static void registry_add(aslab__heap *h) {
    aslab_futexlock.lock(registry_lock);
    if (registry == NULL) {
        h->reg_prev = h->reg_next = h;
        registry = h;
    } else {
        h->reg_next = registry;
        h->reg_prev = registry->reg_prev;
        registry->reg_prev->reg_next = h;
        registry->reg_prev = h;
    }
    aslab_futexlock.unlock(registry_lock);
}

/* Registry lock held. */
static void registry_del(aslab__heap *h) {
    if (h->reg_next == h) {
        registry = NULL;
    } else {
        h->reg_prev->reg_next = h->reg_next;
        h->reg_next->reg_prev = h->reg_prev;
        if (registry == h) registry = h->reg_next;
    }
    h->reg_prev = h->reg_next = NULL;
}

/* Registry lock held: h's counters go into the globals. */
static void merge_counts(aslab__heap *h) {
    for (unsigned cls = 1; cls <= ASLAB_NUM_CLASSES; cls++) {
        aslab__class_stats *st = &aslab__pool_stats[cls];
        __atomic_add_fetch(&st->allocs, h->allocs[cls], __ATOMIC_RELAXED);
        __atomic_add_fetch(&st->frees_remote, h->frees_remote[cls], __ATOMIC_RELAXED);
        h->allocs[cls] = h->frees_remote[cls] = 0;
    }
}

/* Blocks out in one of h's lists: at most a bounded number of slabs are looked at, since
 * another thread may be changing the list (every slab stays mapped, so reading one that left
 * the list is harmless). */
static uint64_t list_live(aslab__mslab *head) {
    uint64_t live = 0;
    aslab__mslab *m = head;
    for (int n = 0; m != NULL && n < 1000000; n++) {
        live += __atomic_load_n(&m->used, __ATOMIC_RELAXED) & ~ASLAB__FULL;
        m = __atomic_load_n(&m->next, __ATOMIC_RELAXED);
        if (m == head) break;
    }
    return live;
}

static uint64_t heap_live(aslab__heap *h, unsigned cls) {
    aslab__mslab *cur = __atomic_load_n(&h->cur[cls], __ATOMIC_RELAXED);
    uint64_t live = cur != &aslab__no_slab ? __atomic_load_n(&cur->used, __ATOMIC_RELAXED) - 1 : 0;
    return live + list_live(__atomic_load_n(&h->classes[cls].partial, __ATOMIC_RELAXED)) +
           list_live(__atomic_load_n(&h->classes[cls].full, __ATOMIC_RELAXED));
}

void aslab__thread_counts(unsigned cls, uint64_t out[3]) {
    const aslab__class_stats *st = &aslab__pool_stats[cls];
    out[0] += __atomic_load_n(&st->allocs, __ATOMIC_RELAXED);
    out[1] += __atomic_load_n(&st->frees_remote, __ATOMIC_RELAXED);
    out[2] += aslab__pool_abandoned_live(cls);
    aslab_futexlock.lock(registry_lock);
    aslab__heap *h = registry;
    if (h != NULL) do { /* other threads' counters, read as they are */
            out[0] += __atomic_load_n(&h->allocs[cls], __ATOMIC_RELAXED);
            out[1] += __atomic_load_n(&h->frees_remote[cls], __ATOMIC_RELAXED);
            out[2] += heap_live(h, cls);
            h = h->reg_next;
        } while (h != registry);
    aslab_futexlock.unlock(registry_lock);
}

/* Every slab of class cls the exiting thread owns, abandoned. */
static void abandon_class(unsigned cls) {
    aslab__mslab *m = aslab__thread_heap.cur[cls];
    if (m != &aslab__no_slab) {
        aslab__thread_heap.cur[cls] = &aslab__no_slab;
        m->used--; /* its phantom use as the current slab */
        aslab__pool_abandon(m);
    }
    aslab__class_heap *ch = &aslab__thread_heap.classes[cls];
    while ((m = ch->partial) != NULL) {
        aslab__heap_list_unlink(cls, m);
        aslab__pool_abandon(m);
    }
    while ((m = ch->full) != NULL) {
        aslab__heap_list_unlink(cls, m);
        m->used &= ~ASLAB__FULL;
        aslab__pool_abandon(m);
    }
}

/* From here on the thread's mallocs go to the fallback and its frees of its own blocks take
 * the abandoned path: other keys' destructors may still call both. */
static void thread_exit(void *arg) {
    aslab__heap *h = arg;
    h->state = ASLAB_HEAP_DEAD;
    for (unsigned cls = 1; cls <= ASLAB_NUM_CLASSES; cls++)
        abandon_class(cls);
    aslab_futexlock.lock(registry_lock);
    merge_counts(h);
    registry_del(h);
    aslab_futexlock.unlock(registry_lock);
}

int aslab__thread_global_init(void) {
    return pthread_key_create(&exit_key, thread_exit);
}

/* pthread_setspecific may allocate: while it runs the state is SETUP, and a nested call is
 * served by the fallback. */
int aslab__thread_setup(void) {
    if (ASLAB__LIKELY(aslab__thread_heap.state == ASLAB_HEAP_LIVE)) return 1;
    if (aslab__thread_heap.state != ASLAB_HEAP_NEW) return 0;
    aslab__thread_heap.state = ASLAB_HEAP_SETUP;
    registry_add(&aslab__thread_heap);
    pthread_setspecific(exit_key, &aslab__thread_heap);
    aslab__thread_heap.state = ASLAB_HEAP_LIVE;
    return 1;
}

void aslab__thread_fork_prepare(void) {
    aslab_futexlock.lock(registry_lock);
}

void aslab__thread_fork_parent(void) {
    aslab_futexlock.unlock(registry_lock);
}

void aslab__thread_fork_child(void) {
    aslab_futexlock.init(registry_lock);
    aslab__heap *h = registry, *self = &aslab__thread_heap;
    while (h != NULL && !(h == self && h->reg_next == self)) {
        aslab__heap *other = h == self ? h->reg_next : h;
        merge_counts(other);
        registry_del(other);
        h = registry;
    }
}

void aslab__heap_trim_thread(void) {
    if (aslab__thread_heap.state != ASLAB_HEAP_LIVE) return;
    for (unsigned cls = 1; cls <= ASLAB_NUM_CLASSES; cls++) {
        aslab__mslab *m = aslab__thread_heap.cur[cls];
        if (m == &aslab__no_slab) continue;
        aslab__pool_collect(m, 0);
        if (m->used != 1) continue; /* blocks are out */
        aslab__thread_heap.cur[cls] = &aslab__no_slab;
        m->used = 0;
        aslab__pool_return(m);
    }
}
