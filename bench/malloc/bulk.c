/* bulk.c - `bulk [OBJECTS [THREADS [BATCH [REMOTE_PERCENT]]]]`: batches allocated, then freed
 * in bulk. THREADS threads (default 1) share OBJECTS blocks (default 40000000). Each works in
 * rounds: it allocates a batch of BATCH blocks (default 4000) of 16 B-2 KiB, weighted to
 * small sizes, stamps each, then checks and frees the whole batch, in allocation order in
 * even rounds and in reverse in odd ones: an allocation-only phase, then a free-only phase,
 * over and over. With REMOTE_PERCENT (default 0), that share of every batch, spread evenly
 * through it, is sent to the next thread in a ring (handoff.h), which checks and frees those
 * blocks after its own batch: the free-only phase mixes in blocks other threads allocated. */
#include "handoff.h"

#define MAX_SIZE 2048

struct worker {
    pthread_t tid;
    struct channel inbox, *next;
    void **mine, **parcel; /* the batch's blocks kept, and those sent (from mmap) */
    uint64_t seed;
    struct tally tally;
} PER_THREAD;

static long rounds, batch, remote_percent, parcel_size;

/* Half the blocks 16-64 B, 30% to 256 B, 15% to 1 KiB, 5% to 2 KiB. */
static size_t small_weighted_size(uint64_t *rng) {
    uint64_t r = rng_below(rng, 100);
    if (r < 50) return 16 + rng_below(rng, 49);
    if (r < 80) return 65 + rng_below(rng, 192);
    if (r < 95) return 257 + rng_below(rng, 768);
    return 1025 + rng_below(rng, MAX_SIZE - 1024);
}

/* Allocates a batch: remote_percent of it into w->parcel, the rest into w->mine; the number
 * kept. */
static long allocate_batch(struct worker *w, uint64_t *rng) {
    long kept = 0, sent = 0, share = 0;
    for (long i = 0; i < batch; i++) {
        void *p = travel_alloc(small_weighted_size(rng), rng, &w->tally.made);
        share += remote_percent;
        if (share >= 100) {
            share -= 100;
            w->parcel[sent++] = p;
        } else {
            w->mine[kept++] = p;
        }
    }
    return kept;
}

static void free_batch(struct worker *w, long kept, int reverse) {
    for (long i = 0; i < kept; i++)
        travel_free(w->mine[reverse ? kept - 1 - i : i], MAX_SIZE, &w->tally.sum, &w->tally.bad);
}

static void receive_and_free(struct worker *w) {
    channel_receive(&w->inbox, w->parcel, (size_t)parcel_size);
    for (long i = 0; i < parcel_size; i++)
        travel_free(w->parcel[i], MAX_SIZE, &w->tally.sum, &w->tally.bad);
}

static void *worker(void *arg) {
    struct worker *w = arg;
    uint64_t rng = w->seed;
    for (long r = 0; r < rounds; r++) {
        long kept = allocate_batch(w, &rng);
        if (parcel_size > 0) channel_send(w->next, w->parcel, (size_t)parcel_size);
        free_batch(w, kept, (int)(r & 1));
        if (parcel_size > 0 && r >= WINDOW - 1) receive_and_free(w);
    }
    for (long r = 0; parcel_size > 0 && r < rounds && r < WINDOW - 1; r++)
        receive_and_free(w);
    return NULL;
}

int main(int argc, char **argv) {
    long objects = arg_long(argc, argv, 1, 40000000), threads = arg_long(argc, argv, 2, 1);
    batch = arg_long(argc, argv, 3, 4000);
    if (argc > 4) {
        char *end;
        remote_percent = strtol(argv[4], &end, 10);
        if (*end != '\0' || end == argv[4] || remote_percent < 0 || remote_percent > 100)
            die("bulk: REMOTE_PERCENT must be an integer from 0 to 100");
    }
    rounds = objects / threads / batch > 0 ? objects / threads / batch : 1;
    parcel_size = batch * remote_percent / 100;
    struct worker *w = bench_array((size_t)threads * sizeof *w);
    for (long t = 0; t < threads; t++) {
        if (parcel_size > 0)
            channel_init(&w[t].inbox, channel_capacity(threads, (size_t)parcel_size));
        w[t].next = &w[(t + 1) % threads].inbox;
        w[t].mine = bench_array((size_t)batch * sizeof *w[t].mine);
        w[t].parcel = bench_array((size_t)batch * sizeof *w[t].parcel);
        w[t].seed = 0x9E3779B97F4A7C15ULL * (uint64_t)(t + 1);
    }
    double t0 = now_sec();
    for (long t = 0; t < threads; t++)
        if (pthread_create(&w[t].tid, NULL, worker, &w[t]) != 0) die("bulk: pthread_create failed");
    struct tally all = {0, 0, 0};
    for (long t = 0; t < threads; t++)
        tally_join(w[t].tid, &w[t].tally, &all);
    uint64_t sum = all.sum, bad = tally_faults(argv[0], &all);
    long total = threads * rounds * batch;
    metric("ns_per_object", (now_sec() - t0) * 1e9 / (double)total);
    metric("rss_mib", rss_mib());
    printf("bulk: %ld threads, %ld objects in batches of %ld, %ld%% freed by the next thread, "
           "checksum %llu, corrupt %llu\n",
           threads, total, batch, remote_percent, (unsigned long long)sum, (unsigned long long)bad);
    return bad != 0;
}
