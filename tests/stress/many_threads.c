/* many_threads.c - what a thread that holds a few blocks of many sizes costs in memory.
 *
 * A server with a thread per connection, each holding a few blocks of many size classes,
 * pays per thread for every class's slab it touches. THREADS threads (64 KiB stacks) each
 * allocate and write 2 blocks of each of SIZES sizes (16 B up, 100 B apart), and wait while
 * the main thread reads the process's RSS; the growth per thread must stay within --bound-kib.
 * Under aslab a slab lent for a few blocks touches one page, its first (pool.c,
 * start_at_colour; refill.c, extend): 241 KiB a thread before (session 26), 144 after, with
 * 500 threads and 20 sizes (glibc 48, mimalloc 149, jemalloc 109, tcmalloc 72).
 *
 *   many_threads [--threads N] [--sizes K] [--bound-kib B]   (B 0: report only)
 */
#define _GNU_SOURCE
#include "util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCKS_PER_SIZE 2
#define MAX_SIZES       40

static pthread_barrier_t held, done;
static long sizes = 20;

static void *worker(void *arg) {
    (void)arg;
    char *blocks[MAX_SIZES * BLOCKS_PER_SIZE];
    long bad = 0;
    for (long i = 0; i < sizes * BLOCKS_PER_SIZE; i++) {
        size_t size = 16 + (size_t)(i % sizes) * 100;
        blocks[i] = malloc(size);
        if (blocks[i] == NULL)
            bad++;
        else
            memset(blocks[i], (int)i, size);
    }
    pthread_barrier_wait(&held);
    pthread_barrier_wait(&done);
    for (long i = 0; i < sizes * BLOCKS_PER_SIZE; i++)
        free(blocks[i]);
    return (void *)bad;
}

int main(int argc, char **argv) {
    long threads = 500, bound_kib = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0)
            threads = option_value("many_threads", argc, argv, &i);
        else if (strcmp(argv[i], "--sizes") == 0)
            sizes = option_value("many_threads", argc, argv, &i);
        else if (strcmp(argv[i], "--bound-kib") == 0)
            bound_kib = option_value("many_threads", argc, argv, &i);
        else {
            fprintf(stderr, "usage: many_threads [--threads N] [--sizes K] [--bound-kib B]\n");
            return 2;
        }
    }
    if (threads < 1 || sizes < 1 || sizes > MAX_SIZES) return 2;
    pthread_t *tid = calloc((size_t)threads, sizeof *tid);
    pthread_attr_t attr;
    if (tid == NULL || pthread_attr_init(&attr) != 0 ||
        pthread_attr_setstacksize(&attr, 65536) != 0)
        return 1;
    pthread_barrier_init(&held, NULL, (unsigned)threads + 1);
    pthread_barrier_init(&done, NULL, (unsigned)threads + 1);
    size_t before = rss_kib();
    for (long t = 0; t < threads; t++)
        if (pthread_create(&tid[t], &attr, worker, NULL) != 0) {
            fprintf(stderr, "many_threads: pthread_create failed at thread %ld\n", t);
            return 1;
        }
    pthread_barrier_wait(&held);
    double per_thread = (double)(rss_kib() - before) / (double)threads;
    pthread_barrier_wait(&done);
    long bad = 0;
    for (long t = 0; t < threads; t++) {
        void *status = NULL;
        pthread_join(tid[t], &status);
        bad += (long)status;
    }
    int over = bound_kib > 0 && per_thread > (double)bound_kib;
    printf("many_threads: %ld threads holding %d blocks of %ld sizes: %.1f KiB of RSS a thread "
           "(bound %ld)%s\n",
           threads, BLOCKS_PER_SIZE, sizes, per_thread, bound_kib,
           bad    ? ", a malloc failed"
           : over ? ": FAIL"
                  : "");
    return bad != 0 || over;
}
