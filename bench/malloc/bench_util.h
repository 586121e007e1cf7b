/* bench_util.h - what the malloc micro benchmarks share: a seeded PRNG, a clock, the resident
 * set size, object stamps, and the output convention.
 *
 * Output: stdout carries only deterministic lines, which the runner compares with the glibc
 * run's (a broken allocator shows FAIL, not fast); timings and memory figures go to stderr
 * as "metric NAME VALUE" lines, which the runner collects and never compares.
 *
 * Stamps: every object gets a tag in its first word and the tag mixed with its size in its
 * last word; checking both on free catches overlapping or clobbered blocks. */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* xorshift64*: fast, seeded, the same sequence under every allocator. */
static inline uint64_t rng_next(uint64_t *state) {
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* A value in [0, n) without division (multiply-shift). */
static inline uint64_t rng_below(uint64_t *state, uint64_t n) {
    return (uint64_t)(((unsigned __int128)rng_next(state) * n) >> 64);
}

/* A size log-uniform from 2^min_shift to 2^max_shift: 2^k plus a uniform part of the next 2^k
 * bytes, k uniform in [min_shift, max_shift), so that each doubling is equally likely;
 * `with_top` lets the top doubling include 2^max_shift itself. */
static inline size_t rng_size_log_uniform(uint64_t *state, unsigned min_shift, unsigned max_shift,
                                          int with_top) {
    unsigned k = min_shift + (unsigned)rng_below(state, max_shift - min_shift);
    size_t base = (size_t)1 << k;
    return base + rng_below(state, base + (with_top && k == max_shift - 1));
}

static inline double now_sec(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Resident set size of this process in MiB (/proc/self/statm), -1 if unreadable. */
static inline double rss_mib(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = -1;
    if (f == NULL) return -1;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2) resident = -1;
    fclose(f);
    return resident < 0 ? -1 : (double)resident * (double)sysconf(_SC_PAGESIZE) / 1048576.0;
}

static inline void metric(const char *name, double value) {
    fprintf(stderr, "metric %s %.3f\n", name, value);
}

static inline void die(const char *what) {
    fprintf(stderr, "%s\n", what);
    exit(1);
}

/* Zeroed memory from mmap, for the benchmarks' own bookkeeping: it stays out of the
 * allocator under test. */
static inline void *bench_array(size_t bytes) {
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) die("mmap of the bookkeeping array failed");
    return p;
}

/* Marks a struct of one thread's state that sits in an array beside the other threads': each
 * element then starts on lines of its own (two, since the adjacent-line prefetcher fetches
 * lines in pairs), so a thread's counters, updated between its mallocs and frees, do not pull
 * another thread's line back and forth. The programs modelled keep such counters on each
 * thread's stack; with shared lines, two of sh6's threads made each malloc 1.8 times slower
 * than two processes of one thread did, under every allocator (session 41). Arrays of such
 * structs come from bench_array, whose pages keep the alignment (malloc need not). */
#define PER_THREAD __attribute__((aligned(128)))

/* size >= 16. */
static inline void stamp(void *p, size_t size, uint64_t tag) {
    unsigned char *b = p;
    uint64_t tail = tag ^ (uint64_t)size;
    memcpy(b, &tag, sizeof tag);
    memcpy(b + size - sizeof tail, &tail, sizeof tail);
}

/* 1 if p still carries the stamp (tag, size). */
static inline int stamp_ok(const void *p, size_t size, uint64_t tag) {
    const unsigned char *b = p;
    uint64_t head, tail;
    memcpy(&head, b, sizeof head);
    memcpy(&tail, b + size - sizeof tail, sizeof tail);
    return head == tag && tail == (tag ^ (uint64_t)size);
}

/* A positive integer argument, or the default when absent. */
static inline long arg_long(int argc, char **argv, int i, long dflt) {
    if (i >= argc) return dflt;
    char *end;
    long v = strtol(argv[i], &end, 10);
    if (*end != '\0' || v <= 0) {
        fprintf(stderr, "%s: argument %d must be a positive integer\n", argv[0], i);
        exit(2);
    }
    return v;
}

#endif
