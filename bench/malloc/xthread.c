/* xthread.c - `xthread [OBJECTS [THREADS [BATCH]]]`: threads free what other threads
 * allocate. THREADS threads (default 4) in a ring share OBJECTS blocks (default 40000000).
 * Each allocates blocks of 16-1024 B in parcels of BATCH (default 256), stamps them and sends
 * every parcel to the next thread, which checks and frees the blocks (handoff.h: at most
 * WINDOW parcels in flight per thread). Unlike prodcons, every thread both allocates and
 * frees, and every free (with THREADS > 1) is of a block another thread allocated. */
#include "handoff.h"

#define MAX_SIZE 1024

struct member {
    pthread_t tid;
    struct channel inbox, *next;
    void **parcel; /* one parcel, out or in (from mmap) */
    uint64_t seed;
    struct tally tally;
} PER_THREAD;

static long rounds, batch;

static void receive_and_free(struct member *m) {
    channel_receive(&m->inbox, m->parcel, (size_t)batch);
    for (long i = 0; i < batch; i++)
        travel_free(m->parcel[i], MAX_SIZE, &m->tally.sum, &m->tally.bad);
}

static void *member(void *arg) {
    struct member *m = arg;
    uint64_t rng = m->seed;
    for (long r = 0; r < rounds; r++) {
        for (long i = 0; i < batch; i++)
            m->parcel[i] = travel_alloc(16 + rng_below(&rng, MAX_SIZE - 15), &rng, &m->tally.made);
        channel_send(m->next, m->parcel, (size_t)batch);
        if (r >= WINDOW - 1) receive_and_free(m);
    }
    for (long r = 0; r < rounds && r < WINDOW - 1; r++)
        receive_and_free(m);
    return NULL;
}

int main(int argc, char **argv) {
    long objects = arg_long(argc, argv, 1, 40000000), threads = arg_long(argc, argv, 2, 4);
    batch = arg_long(argc, argv, 3, 256);
    rounds = objects / threads / batch > 0 ? objects / threads / batch : 1;
    struct member *m = bench_array((size_t)threads * sizeof *m);
    for (long t = 0; t < threads; t++) {
        channel_init(&m[t].inbox, channel_capacity(threads, (size_t)batch));
        m[t].next = &m[(t + 1) % threads].inbox;
        m[t].parcel = bench_array((size_t)batch * sizeof *m[t].parcel);
        m[t].seed = 0x9E3779B97F4A7C15ULL * (uint64_t)(t + 1);
    }
    double t0 = now_sec();
    for (long t = 0; t < threads; t++)
        if (pthread_create(&m[t].tid, NULL, member, &m[t]) != 0)
            die("xthread: pthread_create failed");
    struct tally all = {0, 0, 0};
    for (long t = 0; t < threads; t++)
        tally_join(m[t].tid, &m[t].tally, &all);
    uint64_t sum = all.sum, bad = tally_faults(argv[0], &all);
    long total = threads * rounds * batch;
    metric("ns_per_object", (now_sec() - t0) * 1e9 / (double)total);
    metric("rss_mib", rss_mib());
    printf("xthread: %ld threads, %ld objects in parcels of %ld, checksum %llu, corrupt %llu\n",
           threads, total, batch, (unsigned long long)sum, (unsigned long long)bad);
    return bad != 0;
}
