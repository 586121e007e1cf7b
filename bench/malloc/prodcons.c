/* prodcons.c - `prodcons [OBJECTS [PAIRS]]`: PAIRS producer/consumer thread pairs (default 1)
 * share OBJECTS blocks (default 20000000). A producer mallocs blocks of 16-1024 B, stamps
 * them and hands them over in batches of 256 through a bounded queue (64 batches); its
 * consumer checks and frees every block. Every free is of memory another thread allocated:
 * the remote-free path, and whether memory flows back to the producer or piles up. */
#include "bench_util.h"

#include <pthread.h>

#define BATCH 256
#define DEPTH 64

struct batch {
    int n;
    void *obj[BATCH];
    uint32_t size[BATCH];
    uint64_t tag[BATCH];
};

struct channel {
    pthread_mutex_t lock;
    pthread_cond_t not_empty, not_full;
    struct batch *q[DEPTH];
    unsigned head, tail; /* tail - head batches queued */
    long objects;
    uint64_t seed;
    uint64_t sum PER_THREAD, bad; /* the consumer's counters, apart from the next channel */
};

static void channel_put(struct channel *c, struct batch *b) {
    pthread_mutex_lock(&c->lock);
    while (c->tail - c->head == DEPTH)
        pthread_cond_wait(&c->not_full, &c->lock);
    c->q[c->tail++ % DEPTH] = b;
    pthread_cond_signal(&c->not_empty);
    pthread_mutex_unlock(&c->lock);
}

static struct batch *channel_get(struct channel *c) {
    pthread_mutex_lock(&c->lock);
    while (c->tail == c->head)
        pthread_cond_wait(&c->not_empty, &c->lock);
    struct batch *b = c->q[c->head++ % DEPTH];
    pthread_cond_signal(&c->not_full);
    pthread_mutex_unlock(&c->lock);
    return b;
}

static void *producer(void *arg) {
    struct channel *c = arg;
    uint64_t rng = c->seed;
    for (long done = 0; done < c->objects;) {
        struct batch *b = malloc(sizeof *b); /* freed by the consumer too */
        if (b == NULL) die("prodcons: malloc failed");
        b->n = (int)(c->objects - done < BATCH ? c->objects - done : BATCH);
        for (int i = 0; i < b->n; i++) {
            b->size[i] = (uint32_t)(16 + rng_below(&rng, 1009));
            b->tag[i] = rng_next(&rng);
            if ((b->obj[i] = malloc(b->size[i])) == NULL) die("prodcons: malloc failed");
            stamp(b->obj[i], b->size[i], b->tag[i]);
        }
        done += b->n;
        channel_put(c, b);
    }
    channel_put(c, NULL);
    return NULL;
}

static void *consumer(void *arg) {
    struct channel *c = arg;
    for (struct batch *b; (b = channel_get(c)) != NULL;) {
        for (int i = 0; i < b->n; i++) {
            if (stamp_ok(b->obj[i], b->size[i], b->tag[i]))
                c->sum += b->tag[i] >> 32;
            else
                c->bad++;
            free(b->obj[i]);
        }
        free(b);
    }
    return NULL;
}

int main(int argc, char **argv) {
    long objects = arg_long(argc, argv, 1, 20000000), pairs = arg_long(argc, argv, 2, 1);
    struct channel *ch = bench_array((size_t)pairs * sizeof *ch);
    pthread_t *tid = calloc((size_t)pairs * 2, sizeof *tid);
    if (tid == NULL) die("prodcons: calloc failed");
    double t0 = now_sec();
    for (long p = 0; p < pairs; p++) {
        pthread_mutex_init(&ch[p].lock, NULL);
        pthread_cond_init(&ch[p].not_empty, NULL);
        pthread_cond_init(&ch[p].not_full, NULL);
        ch[p].objects = objects / pairs;
        ch[p].seed = 0x9E3779B97F4A7C15ULL * (uint64_t)(p + 1);
        if (pthread_create(&tid[2 * p], NULL, producer, &ch[p]) != 0 ||
            pthread_create(&tid[2 * p + 1], NULL, consumer, &ch[p]) != 0)
            die("prodcons: pthread_create failed");
    }
    uint64_t sum = 0, bad = 0;
    for (long p = 0; p < pairs; p++) {
        pthread_join(tid[2 * p], NULL);
        pthread_join(tid[2 * p + 1], NULL);
        sum += ch[p].sum;
        bad += ch[p].bad;
    }
    metric("ns_per_object", (now_sec() - t0) * 1e9 / (double)objects);
    metric("rss_mib", rss_mib());
    printf("prodcons: %ld pairs, %ld objects, checksum %llu, corrupt %llu\n", pairs,
           objects / pairs * pairs, (unsigned long long)sum, (unsigned long long)bad);
    free(tid);
    return bad != 0;
}
