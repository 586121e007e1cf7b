/* pc_queue.h - the bounded, blocking queue that the producer/consumer tests hand blocks
 * through (test_remote.c, test_medium_threads.c, tsan_remote.c): a block and a key (its
 * size, or what it was filled with) per slot, producers counted so that consumers know when
 * to stop. Header only, so that tsan_remote.c, built apart with the library's sources under
 * ThreadSanitizer, takes it too. */
#ifndef ASLAB_TESTS_PC_QUEUE_H
#define ASLAB_TESTS_PC_QUEUE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define PC_QUEUE_MAX 4096 /* the most blocks in flight any test asks for */

typedef struct pc_queue {
    pthread_mutex_t lock;
    pthread_cond_t more, room;
    void *blocks[PC_QUEUE_MAX];
    uint64_t keys[PC_QUEUE_MAX];
    size_t capacity, head, tail, producers_left;
    size_t bad; /* atomic: faults the test's threads found */
} pc_queue;

/* An empty queue of `capacity` slots (at most PC_QUEUE_MAX) awaiting `producers`. */
static inline void pc_init(pc_queue *q, size_t capacity, size_t producers) {
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->more, NULL);
    pthread_cond_init(&q->room, NULL);
    q->capacity = capacity < PC_QUEUE_MAX ? capacity : PC_QUEUE_MAX;
    q->head = q->tail = q->bad = 0;
    q->producers_left = producers;
}

static inline void pc_put(pc_queue *q, void *p, uint64_t key) {
    pthread_mutex_lock(&q->lock);
    while (q->tail - q->head == q->capacity)
        pthread_cond_wait(&q->room, &q->lock);
    q->blocks[q->tail % q->capacity] = p;
    q->keys[q->tail % q->capacity] = key;
    q->tail++;
    pthread_cond_signal(&q->more);
    pthread_mutex_unlock(&q->lock);
}

/* 0 when every producer has finished and the queue is empty. */
static inline int pc_take(pc_queue *q, void **p, uint64_t *key) {
    pthread_mutex_lock(&q->lock);
    while (q->tail == q->head && q->producers_left != 0)
        pthread_cond_wait(&q->more, &q->lock);
    int got = q->tail != q->head;
    if (got) {
        *p = q->blocks[q->head % q->capacity];
        *key = q->keys[q->head % q->capacity];
        q->head++;
        pthread_cond_signal(&q->room);
    }
    pthread_mutex_unlock(&q->lock);
    return got;
}

/* A producer is done: consumers stop once the queue is empty and every producer is. */
static inline void pc_producer_done(pc_queue *q) {
    pthread_mutex_lock(&q->lock);
    q->producers_left--;
    pthread_cond_broadcast(&q->more);
    pthread_mutex_unlock(&q->lock);
}

#endif
