/* realloc_grow.c - `realloc_grow [MODE [FROM_KIB [TO_KIB [ROUNDS [TOUCH [BLOCKS]]]]]]`: blocks
 * grown by realloc, as vectors or buffers being read into grow. Each round mallocs BLOCKS
 * blocks of FROM_KIB and writes them, then grows them in turn, one step each, to TO_KIB,
 * writing each new tail, and frees them. MODE: `double` (each step doubles the size; default)
 * or `step` (each step adds 4 KiB). Defaults: double, 64 KiB to 256 MiB, 4 rounds, 1 block.
 * TOUCH: 1 (default) writes every new byte (memset), 0 one byte per 4 KiB page (the
 * allocator's part: faults, copies, system calls). With 2 blocks or more, a block seldom has
 * free addresses after it to grow into: an allocator that cannot remap copies.
 *
 * Where a block's growth is served by a copy (malloc, memcpy, free) the work grows with the
 * bytes moved; where it is served by mremap (glibc's mmapped chunks, aslab's directly mapped
 * blocks) the pages move with their page tables. Compare wall time and minor faults, e.g.
 *   /usr/bin/time -f '%e s %R faults %M KiB' build/bench/realloc_grow
 *   /usr/bin/time -f '%e s %R faults %M KiB' env LD_PRELOAD=build/libaslab_malloc.so \
 *       build/bench/realloc_grow
 * or instructions with valgrind --tool=callgrind (they leave out the kernel's part: faults
 * and mremap cost time but no user instructions). The stdout line checks that every byte
 * kept its value through the moves; "moves" counts the steps that returned a new address.
 */
#include "bench_util.h"

#define PAGE 4096

static void fill(unsigned char *p, size_t from, size_t to, int touch_all, unsigned char value) {
    if (touch_all) {
        memset(p + from, value, to - from);
        return;
    }
    for (size_t at = from; at < to; at += PAGE)
        p[at] = value;
}

/* The byte a round writes at offset `at`, given the size at which it was written. */
static unsigned char value_at(size_t written_at_size, long round) {
    return (unsigned char)((written_at_size >> 12) + (size_t)round);
}

/* Reads back one byte per page: each must hold what was written when its step added it. */
static uint64_t check(const unsigned char *p, size_t from, size_t to, int doubling, long round) {
    uint64_t sum = 0;
    size_t step_end = from;
    for (size_t at = 0; at < to; at += PAGE) {
        while (at >= step_end) {
            step_end = doubling ? step_end * 2 : step_end + PAGE;
            if (step_end > to) step_end = to;
        }
        size_t written = at < from ? from : step_end;
        if (p[at] != value_at(written, round)) die("realloc_grow: a byte changed in a move");
        sum += p[at];
    }
    return sum;
}

/* One step of block p from *size: realloc, then the new tail written. */
static unsigned char *grow(unsigned char *p, size_t *size, size_t to, int doubling, int touch_all,
                           long round, uint64_t *moves) {
    size_t next = doubling ? *size * 2 : *size + PAGE;
    if (next > to) next = to;
    unsigned char *q = realloc(p, next);
    if (q == NULL) die("realloc_grow: realloc failed");
    *moves += q != p;
    fill(q, *size, next, touch_all, value_at(next, round));
    *size = next;
    return q;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "double";
    int doubling = strcmp(mode, "double") == 0;
    if (!doubling && strcmp(mode, "step") != 0) die("realloc_grow: MODE is double or step");
    size_t from = (size_t)arg_long(argc, argv, 2, 64) << 10;
    size_t to = (size_t)arg_long(argc, argv, 3, 256 << 10) << 10;
    long rounds = arg_long(argc, argv, 4, 4);
    int touch_all = argc > 5 ? atoi(argv[5]) != 0 : 1;
    long count = arg_long(argc, argv, 6, 1);
    if (from % PAGE != 0 || to < from) die("realloc_grow: FROM_KIB a multiple of 4, TO_KIB >= it");
    unsigned char **blocks = bench_array((size_t)count * sizeof *blocks);
    uint64_t sum = 0, steps = 0, moves = 0;
    double start = now_sec();
    for (long round = 0; round < rounds; round++) {
        for (long b = 0; b < count; b++) {
            blocks[b] = malloc(from);
            if (blocks[b] == NULL) die("realloc_grow: malloc failed");
            fill(blocks[b], 0, from, touch_all, value_at(from, round));
        }
        for (size_t size = from; size < to; steps++) {
            size_t at = size;
            for (long b = 0; b < count; b++) {
                at = size;
                blocks[b] = grow(blocks[b], &at, to, doubling, touch_all, round, &moves);
            }
            size = at;
        }
        __asm__ volatile("" : : "r"(blocks) : "memory"); /* the writes happen: free is not told */
        for (long b = 0; b < count; b++) {
            sum += check(blocks[b], from, to, doubling, round);
            free(blocks[b]);
        }
    }
    printf(
        "realloc_grow: %s %zu KiB to %zu KiB, %ld rounds, %ld blocks, %llu steps, checksum %llu\n",
        mode, from >> 10, to >> 10, rounds, count, (unsigned long long)steps,
        (unsigned long long)sum);
    metric("seconds", now_sec() - start);
    metric("moves", (double)moves);
    metric("rss_end_mib", rss_mib());
    return 0;
}
