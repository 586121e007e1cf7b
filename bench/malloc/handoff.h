/* handoff.h - blocks that cross threads in the micro benchmarks (xthread, bulk): a stamp any
 * thread can check without side information, and a channel that carries parcels of block
 * pointers from one thread to the next in a ring.
 *
 * The ring protocol: in every round each thread sends one parcel of exactly n pointers to its
 * successor and, from round WINDOW on, receives one parcel from its predecessor; after its
 * last round it receives the WINDOW - 1 parcels still due. A thread is then never more than
 * WINDOW parcels ahead of its predecessor, so one channel never holds more than
 * THREADS * WINDOW parcels (channel_capacity), and the threads cannot all wait at once: a
 * waiting thread has sent more parcels than its predecessor, which cannot hold all the way
 * round the ring. Sends therefore never wait; one that would overflow is a bug and dies. */
#ifndef HANDOFF_H
#define HANDOFF_H

#include "bench_util.h"

#include <pthread.h>

#define WINDOW 4

/* The tag of a travelling block: a check value above, the block's size below, so that the
 * thread that frees it learns the size from the block itself. */
#define TRAVEL_TAG(check, size) ((uint64_t)(check) << 32 | (uint64_t)(size))

/* A stamped block of size bytes (at least 16); its check value is added to *made. */
static inline void *travel_alloc(size_t size, uint64_t *rng, uint64_t *made) {
    uint32_t check = (uint32_t)(rng_next(rng) >> 32);
    void *p = malloc(size);
    if (p == NULL) die("malloc of a travelling block failed");
    stamp(p, size, TRAVEL_TAG(check, size));
    *made += check;
    return p;
}

/* Checks p's stamp (its size must be at most max_size), adds its check value to *sum or
 * counts it in *bad, wipes the stamp and frees p. The sums of what was made and what was
 * freed must agree at the end: a block handed out twice while live carries the later stamp
 * for both owners, which only the sums (or the wiped stamp, at the second free) reveal. */
static inline void travel_free(void *p, size_t max_size, uint64_t *sum, uint64_t *bad) {
    uint64_t tag;
    memcpy(&tag, p, sizeof tag);
    size_t size = (uint32_t)tag;
    if (size >= 16 && size <= max_size && stamp_ok(p, size, tag))
        *sum += tag >> 32;
    else
        (*bad)++;
    *(volatile uint64_t *)p = 0; /* volatile: a store before free is otherwise dead */
    free(p);
}

/* One thread's inbox: a ring buffer of pointers (from mmap, outside the allocator). */
struct channel {
    pthread_mutex_t lock;
    pthread_cond_t ready;
    void **ring;
    size_t cap, head, tail; /* tail - head pointers queued; both only grow */
};

/* Pointers a channel must hold in a ring of threads sending parcels of n. */
static inline size_t channel_capacity(long threads, size_t n) {
    return ((size_t)threads * WINDOW + 1) * n;
}

static inline void channel_init(struct channel *c, size_t capacity) {
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->ready, NULL);
    c->ring = bench_array(capacity * sizeof *c->ring);
    c->cap = capacity;
    c->head = c->tail = 0;
}

/* Copies n pointers between the ring (starting at index pos, wrapping) and buf. */
static inline void ring_copy(struct channel *c, size_t pos, void **buf, size_t n, int to_ring) {
    size_t at = pos % c->cap, first = c->cap - at < n ? c->cap - at : n;
    if (to_ring) {
        memcpy(c->ring + at, buf, first * sizeof *buf);
        memcpy(c->ring, buf + first, (n - first) * sizeof *buf);
    } else {
        memcpy(buf, c->ring + at, first * sizeof *buf);
        memcpy(buf + first, c->ring, (n - first) * sizeof *buf);
    }
}

static inline void channel_send(struct channel *c, void **parcel, size_t n) {
    pthread_mutex_lock(&c->lock);
    if (c->tail - c->head + n > c->cap) die("channel overflow: the ring protocol is broken");
    ring_copy(c, c->tail, parcel, n, 1);
    c->tail += n;
    pthread_cond_signal(&c->ready);
    pthread_mutex_unlock(&c->lock);
}

/* Waits for n pointers and moves them to parcel. */
static inline void channel_receive(struct channel *c, void **parcel, size_t n) {
    pthread_mutex_lock(&c->lock);
    while (c->tail - c->head < n)
        pthread_cond_wait(&c->ready, &c->lock);
    ring_copy(c, c->head, parcel, n, 0);
    c->head += n;
    pthread_mutex_unlock(&c->lock);
}

/* What a thread counted of the blocks it allocated (made: their check values summed) and
 * freed (sum, and bad for a block whose stamp was wrong). */
struct tally {
    uint64_t made, sum, bad;
};

/* Joins thread tid and adds its tally to *total. */
static inline void tally_join(pthread_t tid, const struct tally *mine, struct tally *total) {
    pthread_join(tid, NULL);
    total->made += mine->made;
    total->sum += mine->sum;
    total->bad += mine->bad;
}

/* Every thread joined: the blocks freed must carry the check values of those allocated (else
 * one was handed out twice, or lost). Returns the number of faults found. */
static inline uint64_t tally_faults(const char *prog, const struct tally *total) {
    uint64_t bad = total->bad;
    if (total->sum != total->made) {
        fprintf(stderr, "%s: the blocks freed carry other check values than those allocated\n",
                prog);
        bad++;
    }
    return bad;
}

#endif
