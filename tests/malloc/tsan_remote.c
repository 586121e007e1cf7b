/* tsan_remote.c - the malloc's cross-thread paths under ThreadSanitizer. TSan replaces the
 * program's malloc with its own, so this program calls aslab's internal entry points
 * (src/malloc/api.h) directly, with the library's sources built with -fsanitize=thread:
 * producers allocate blocks of every small class, consumers check and free them (remote
 * frees onto the producers' slabs), producers exit while consumers still hold their blocks
 * (abandoned slabs, adopted by later producers). Exits 0 when every block checked out. */
#include "../../src/malloc/api.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PRODUCERS 2
#define CONSUMERS 2
#define ROUNDS    3
#define BLOCKS    20000 /* per producer per round */
#define RING      1024

static struct {
    pthread_mutex_t lock;
    pthread_cond_t more, room;
    void *block[RING];
    size_t size[RING];
    size_t head, tail;
    int producers_left;
} q = {.lock = PTHREAD_MUTEX_INITIALIZER,
       .more = PTHREAD_COND_INITIALIZER,
       .room = PTHREAD_COND_INITIALIZER};

static size_t bad; /* atomic */

static size_t size_of(size_t i) {
    return 1 + (i * 2654435761u) % (i % 16 == 0 ? 16384 : 1024);
}

static void put(void *p, size_t size) {
    pthread_mutex_lock(&q.lock);
    while (q.tail - q.head == RING)
        pthread_cond_wait(&q.room, &q.lock);
    q.block[q.tail % RING] = p;
    q.size[q.tail % RING] = size;
    q.tail++;
    pthread_cond_signal(&q.more);
    pthread_mutex_unlock(&q.lock);
}

static int take(void **p, size_t *size) {
    pthread_mutex_lock(&q.lock);
    while (q.tail == q.head && q.producers_left > 0)
        pthread_cond_wait(&q.more, &q.lock);
    int got = q.tail != q.head;
    if (got) {
        *p = q.block[q.head % RING];
        *size = q.size[q.head % RING];
        q.head++;
        pthread_cond_signal(&q.room);
    }
    pthread_mutex_unlock(&q.lock);
    return got;
}

static void *producer(void *arg) {
    size_t seed = (size_t)arg;
    for (size_t i = 0; i < BLOCKS; i++) {
        size_t size = size_of(seed + i);
        unsigned char *p = aslab__api_malloc(size);
        if (p == NULL) {
            __atomic_add_fetch(&bad, 1, __ATOMIC_RELAXED);
            continue;
        }
        memset(p, (int)(size & 0xff), size);
        if (i % 4 == 0)
            aslab__api_free(p, "free()"); /* a local free between remote ones */
        else
            put(p, size);
    }
    pthread_mutex_lock(&q.lock);
    q.producers_left--;
    pthread_cond_broadcast(&q.more);
    pthread_mutex_unlock(&q.lock);
    return NULL;
}

static void *consumer(void *arg) {
    void *p;
    size_t size;
    (void)arg;
    while (take(&p, &size)) {
        const unsigned char *c = p;
        for (size_t i = 0; i < size; i++)
            if (c[i] != (unsigned char)(size & 0xff)) {
                __atomic_add_fetch(&bad, 1, __ATOMIC_RELAXED);
                break;
            }
        aslab__api_free(p, "free()");
    }
    return NULL;
}

int main(void) {
    for (int round = 0; round < ROUNDS; round++) {
        pthread_t p[PRODUCERS], c[CONSUMERS];
        q.producers_left = PRODUCERS;
        for (int i = 0; i < CONSUMERS; i++)
            pthread_create(&c[i], NULL, consumer, NULL);
        for (int i = 0; i < PRODUCERS; i++)
            pthread_create(&p[i], NULL, producer,
                           (void *)((size_t)(round * PRODUCERS + i) * BLOCKS));
        for (int i = 0; i < PRODUCERS; i++)
            pthread_join(p[i], NULL);
        for (int i = 0; i < CONSUMERS; i++)
            pthread_join(c[i], NULL);
    }
    printf("tsan_remote: %d rounds of %d producers and %d consumers, %zu bad blocks\n", ROUNDS,
           PRODUCERS, CONSUMERS, bad);
    return bad != 0;
}
