/* threads.c - cross-thread malloc and free for the preload test.
 *
 * Eight threads per wave, created and joined in waves: four producers each malloc blocks,
 * fill them with a pattern and pass them through a bounded queue to one consumer, which
 * checks, sometimes reallocs, and frees them, so most frees happen on a thread other than
 * the one that allocated. A few blocks per consumer outlive their wave and are freed by a
 * thread of the next wave, after the threads that allocated them have exited. Roles swap
 * every wave. The output (a checksum and counts) does not depend on scheduling: each queue
 * is FIFO with one producer and one consumer, and the checksum is a sum.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THREADS     8
#define PAIRS       (THREADS / 2)
#define WAVES       10
#define ITEMS       60000 /* blocks per producer per wave */
#define QUEUE_CAP   256
#define CARRY_EVERY 97 /* a consumer keeps every 97th block for the next wave */
#define CARRY_MAX   (ITEMS / CARRY_EVERY + 1)
#define LOCAL_KEEP  64 /* blocks a producer keeps and frees itself */

typedef struct block {
    uint32_t producer, seq, size, pad;
    unsigned char payload[];
} block;

typedef struct queue {
    pthread_mutex_t lock;
    pthread_cond_t not_empty, not_full;
    block *slots[QUEUE_CAP];
    size_t head, count;
} queue;

typedef struct pair_state {
    queue q;
    uint32_t producer_id, wave;
    uint64_t sum, blocks, bytes, bad;
    block *carry[CARRY_MAX]; /* kept for the next wave */
    size_t carried;
} pair_state;

static pair_state pairs[PAIRS];
static block *previous_carry[PAIRS][CARRY_MAX];
static size_t previous_carried[PAIRS];

static uint64_t next_random(uint64_t *state) {
    uint64_t x = *state;
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    return *state = x;
}

static unsigned char pattern(const block *b, size_t i) {
    return (unsigned char)(b->seq * 31u + b->producer * 7u + i);
}

/* Mostly small, now and then a few KiB, rarely past the small classes. */
static uint32_t block_size(uint64_t *rng) {
    uint64_t r = next_random(rng);
    if (r % 1024 == 0) return (uint32_t)(20000 + r % 80000);
    if (r % 64 == 1) return (uint32_t)(1024 + r % 7168);
    return (uint32_t)(r % 512);
}

static uint64_t block_hash(const block *b) {
    uint64_t h = 1469598103934665603ull;
    h = (h ^ b->producer) * 1099511628211ull;
    h = (h ^ b->seq) * 1099511628211ull;
    h = (h ^ b->size) * 1099511628211ull;
    return h;
}

static void queue_init(queue *q) {
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->not_empty, NULL);
    pthread_cond_init(&q->not_full, NULL);
    q->head = q->count = 0;
}

static void queue_destroy(queue *q) {
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->not_empty);
    pthread_cond_destroy(&q->not_full);
}

static void queue_push(queue *q, block *b) {
    pthread_mutex_lock(&q->lock);
    while (q->count == QUEUE_CAP)
        pthread_cond_wait(&q->not_full, &q->lock);
    q->slots[(q->head + q->count) % QUEUE_CAP] = b;
    q->count++;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->lock);
}

static block *queue_pop(queue *q) {
    pthread_mutex_lock(&q->lock);
    while (q->count == 0)
        pthread_cond_wait(&q->not_empty, &q->lock);
    block *b = q->slots[q->head];
    q->head = (q->head + 1) % QUEUE_CAP;
    q->count--;
    pthread_cond_signal(&q->not_full);
    pthread_mutex_unlock(&q->lock);
    return b;
}

static block *make_block(uint32_t producer, uint32_t seq, uint64_t *rng) {
    uint32_t size = block_size(rng);
    block *b = malloc(sizeof *b + size);
    if (b == NULL) return NULL;
    b->producer = producer, b->seq = seq, b->size = size, b->pad = 0;
    for (size_t i = 0; i < size; i++)
        b->payload[i] = pattern(b, i);
    if (seq % 8 == 0) { /* grow it in place or move it: realloc on the allocating thread */
        block *grown = realloc(b, sizeof *b + size + 100);
        if (grown == NULL) {
            free(b);
            return NULL;
        }
        b = grown;
    }
    return b;
}

static void *producer_main(void *arg) {
    pair_state *p = arg;
    uint64_t rng = 0x9e3779b97f4a7c15ull ^ ((uint64_t)p->producer_id << 32 | p->wave);
    void *local[LOCAL_KEEP] = {0};
    for (uint32_t seq = 0; seq < ITEMS; seq++) {
        size_t slot = seq % LOCAL_KEEP; /* local churn: freed by this very thread */
        free(local[slot]);
        local[slot] = malloc(16 + seq % 200);
        block *b = make_block(p->producer_id, seq, &rng);
        if (b == NULL) abort();
        queue_push(&p->q, b);
    }
    for (size_t i = 0; i < LOCAL_KEEP; i++)
        free(local[i]);
    queue_push(&p->q, NULL);
    return NULL;
}

static int block_ok(const block *b) {
    for (size_t i = 0; i < b->size; i++)
        if (b->payload[i] != pattern(b, i)) return 0;
    return 1;
}

static void consume(pair_state *p, block *b) {
    p->blocks++;
    p->bytes += b->size;
    if (!block_ok(b)) p->bad++;
    p->sum += block_hash(b);
    if (p->blocks % CARRY_EVERY == 0 && p->carried < CARRY_MAX) {
        p->carry[p->carried++] = b;
        return;
    }
    if (b->seq % 16 == 5) { /* realloc of a block another thread allocated */
        block *moved = realloc(b, sizeof *b + b->size / 2);
        if (moved == NULL) abort();
        b = moved;
    }
    free(b);
}

static void *consumer_main(void *arg) {
    pair_state *p = arg;
    size_t index = (size_t)(p - pairs);
    /* Blocks kept by the previous wave, whose threads have all exited. */
    for (size_t i = 0; i < previous_carried[index]; i++) {
        if (!block_ok(previous_carry[index][i])) p->bad++;
        free(previous_carry[index][i]);
    }
    for (block *b; (b = queue_pop(&p->q)) != NULL;)
        consume(p, b);
    return NULL;
}

/* One wave: in even waves threads 0-3 produce, in odd waves threads 4-7 do. */
static int run_wave(uint32_t wave, uint64_t *total_sum, uint64_t *total_blocks,
                    uint64_t *total_bytes, uint64_t *total_bad) {
    pthread_t threads[THREADS];
    for (size_t i = 0; i < PAIRS; i++) {
        pair_state *p = &pairs[i];
        memset(p, 0, sizeof *p);
        queue_init(&p->q);
        p->wave = wave;
        p->producer_id = (uint32_t)(wave % 2 ? PAIRS + i : i);
    }
    for (size_t t = 0; t < THREADS; t++) {
        int producer = (t < PAIRS) == (wave % 2 == 0);
        pair_state *p = &pairs[t % PAIRS];
        if (pthread_create(&threads[t], NULL, producer ? producer_main : consumer_main, p) != 0)
            return -1;
    }
    for (size_t t = 0; t < THREADS; t++)
        pthread_join(threads[t], NULL);
    for (size_t i = 0; i < PAIRS; i++) {
        pair_state *p = &pairs[i];
        *total_sum += p->sum, *total_blocks += p->blocks;
        *total_bytes += p->bytes, *total_bad += p->bad;
        memcpy(previous_carry[i], p->carry, p->carried * sizeof p->carry[0]);
        previous_carried[i] = p->carried;
        queue_destroy(&p->q);
    }
    printf("wave %u: checksum %016llx\n", wave, (unsigned long long)*total_sum);
    return 0;
}

int main(void) {
    uint64_t sum = 0, blocks = 0, bytes = 0, bad = 0;
    for (uint32_t wave = 0; wave < WAVES; wave++) {
        if (run_wave(wave, &sum, &blocks, &bytes, &bad) != 0) {
            fprintf(stderr, "threads: pthread_create failed\n");
            return 1;
        }
    }
    for (size_t i = 0; i < PAIRS; i++)
        for (size_t j = 0; j < previous_carried[i]; j++)
            free(previous_carry[i][j]);
    printf("blocks %llu, payload bytes %llu, corrupted %llu, checksum %016llx\n",
           (unsigned long long)blocks, (unsigned long long)bytes, (unsigned long long)bad,
           (unsigned long long)sum);
    return bad == 0 ? 0 : 1;
}
