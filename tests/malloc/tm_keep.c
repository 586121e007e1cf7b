/* tm_keep.c - see tm_keep.h. */
#include "tm_keep.h"

#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>

struct tm_partner {
    size_t size, n;
    void **blocks;
    pthread_t thread;
    pthread_barrier_t made, done;
};

static size_t blocks_in(size_t size, size_t bytes, size_t most) {
    void *p = malloc(size);
    size_t usable = malloc_usable_size(p), room = bytes / usable;
    free(p);
    return room < 8 ? 8 : room > most ? most : room;
}

size_t tm_list_room(size_t size) {
    return blocks_in(size, 65536, 1024);
}

size_t tm_list_own_room(size_t size) {
    return blocks_in(size, 262144, 8192);
}

size_t tm_list_start_room(size_t size) {
    return blocks_in(size, 32768, 32);
}

static void *partner_main(void *arg) {
    tm_partner *pt = arg;
    for (size_t i = 0; i < pt->n; i++)
        pt->blocks[i] = malloc(pt->size);
    pthread_barrier_wait(&pt->made);
    pthread_barrier_wait(&pt->done);
    return NULL;
}

tm_partner *tm_partner_start(size_t size, size_t n) {
    tm_partner *pt = malloc(sizeof *pt);
    void **blocks = calloc(n, sizeof *blocks);
    if (pt == NULL || blocks == NULL) {
        free(pt);
        free(blocks);
        return NULL;
    }
    *pt = (tm_partner){.size = size, .n = n, .blocks = blocks};
    pthread_barrier_init(&pt->made, NULL, 2);
    pthread_barrier_init(&pt->done, NULL, 2);
    if (pthread_create(&pt->thread, NULL, partner_main, pt) != 0) {
        pthread_barrier_destroy(&pt->made);
        pthread_barrier_destroy(&pt->done);
        free(blocks);
        free(pt);
        return NULL;
    }
    pthread_barrier_wait(&pt->made);
    return pt;
}

void **tm_partner_blocks(tm_partner *pt) {
    return pt->blocks;
}

void tm_partner_finish(tm_partner *pt) {
    pthread_barrier_wait(&pt->done);
    pthread_join(pt->thread, NULL);
    pthread_barrier_destroy(&pt->made);
    pthread_barrier_destroy(&pt->done);
    free(pt->blocks);
    free(pt);
}

int tm_keeps(size_t size) {
    tm_partner *pt = tm_partner_start(size, 1);
    if (pt == NULL) return -1;
    void *theirs = tm_partner_blocks(pt)[0];
    malloc_trim(0); /* the kept lists given back: a full one would hide keeping */
    free(theirs);
    void *mine = malloc(size);
    free(mine);
    tm_partner_finish(pt);
    return mine == theirs;
}

int tm_make_keeper(size_t size) {
    free(malloc(size)); /* a malloc of the class: a list stopped by a free-only phase opens */
    return tm_keeps(size);
}
