/* large_live.c - the set of the fallback's blocks in the program's hands (large_live.h).
 *
 * 64 shards by address, each a power-of-two table of addresses (0 is a free cell) with
 * linear probing, at most half full. Writers take the shard's lock (nothing else is taken
 * under it) and mark their spell in a sequence count; a lookup, the common case (every free
 * of a big block, parked ones included), reads without the lock and looks again under it
 * only if a writer was at work. One lock for the whole set made `large_loop 1000000 2 1 4 2`
 * (two threads cycling 1-4 MiB blocks) 0.15 -> 0.43 s, and a lookup under a shard's lock
 * `large_loop 1000000 2 1 4 1` 0.07 -> 0.09 s. A removal shifts the cells after it back, so
 * that no tombstone is left to lengthen later probes. A table is mapped from the OS (it must
 * not come from the malloc it serves) and doubles as it fills. */
#include "large_live.h"

#include "aslab.h"
#include "os.h"

#include <stdint.h>

#define FIRST_CELLS 511 /* the first table: 512 cells and the mask, 4 KiB and a word */
#define SHARDS      64  /* each its own lock and table: threads cycling blocks rarely meet */

/* A table: its cells follow its mask, so that a reader loads both with one pointer. */
typedef struct table {
    size_t mask; /* cells - 1: a power of two less one */
    uintptr_t cells[];
} table;

typedef struct shard {
    uint64_t lock[2]; /* writers */
    uint64_t seq;     /* odd while a writer changes the table: readers look again */
    table *t;         /* NULL until the first address */
    size_t count;     /* addresses in it */
    int blind;        /* the table could not grow: the set no longer tells (large_live.h) */
} __attribute__((aligned(64))) shard;

static shard shards[SHARDS];

static uint64_t mixed(uintptr_t p) {
    return ((uint64_t)p >> 4) * 0x9e3779b97f4a7c15ull;
}

static shard *shard_of(uintptr_t p) {
    return &shards[mixed(p) >> 58];
}

/* Cells are stored with release and loaded with acquire (plain moves on x86-64): a reader
 * that sees a writer's cell then sees the writer's odd sequence count too, and its last look
 * at the count cannot come before its looks at the cells (no fences: TSan has none). */
static uintptr_t cell(const table *t, size_t i) {
    return __atomic_load_n(&t->cells[i], __ATOMIC_ACQUIRE);
}

/* The cell of t that holds p, or the free cell where its probe ends. */
static size_t find(const table *t, uintptr_t p) {
    size_t i = (size_t)(mixed(p) >> 20) & t->mask;
    for (uintptr_t c; (c = cell(t, i)) != 0 && c != p;)
        i = (i + 1) & t->mask;
    return i;
}

/* ---- writers: the shard's lock held, the table changed inside seq's odd spell ---- */

static void write_begin(shard *s) {
    __atomic_fetch_add(&s->seq, 1, __ATOMIC_ACQ_REL); /* before any cell changes */
}

static void write_end(shard *s) {
    __atomic_store_n(&s->seq, s->seq + 1, __ATOMIC_RELEASE);
}

static void set_cell(table *t, size_t i, uintptr_t value) {
    __atomic_store_n(&t->cells[i], value, __ATOMIC_RELEASE);
}

/* A table twice the size (or the first), the addresses moved over; 0 without memory. The
 * old table stays mapped: a reader may still be looking at it (it then looks again). What
 * that keeps is at most the size of the last table. */
static int grow(shard *s) {
    table *old = s->t;
    size_t old_cells = old != NULL ? old->mask + 1 : 0;
    size_t cells = old_cells != 0 ? old_cells * 2 : FIRST_CELLS + 1;
    table *t = aslab__os_map_aligned(sizeof *t + cells * sizeof t->cells[0], aslab__os_page_size());
    if (t == NULL) return 0;
    t->mask = cells - 1; /* the cells zeroed by the mapping */
    for (size_t i = 0; i < old_cells; i++)
        if (cell(old, i) != 0) set_cell(t, find(t, cell(old, i)), cell(old, i));
    __atomic_store_n(&s->t, t, __ATOMIC_RELEASE);
    return 1;
}

/* Empties cell i and moves back the cells after it that their probes would no longer find. */
static void remove_at(table *t, size_t i) {
    size_t hole = i;
    for (size_t j = (i + 1) & t->mask; cell(t, j) != 0; j = (j + 1) & t->mask) {
        size_t home = (size_t)(mixed(cell(t, j)) >> 20) & t->mask;
        /* cells[j] may fill the hole unless its home lies cyclically in (hole, j] */
        int stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (stays) continue;
        set_cell(t, hole, cell(t, j));
        hole = j;
    }
    set_cell(t, hole, 0);
}

/* Whether p is in s, read under its lock. */
static int has_locked(const shard *s, uintptr_t p) {
    return s->blind || (s->t != NULL && cell(s->t, find(s->t, p)) != 0);
}

void *aslab__large_live_add(void *p) {
    if (p == NULL) return p;
    shard *s = shard_of((uintptr_t)p);
    aslab_futexlock.lock(s->lock);
    write_begin(s);
    if (!s->blind && ((s->t != NULL && (s->count + 1) * 2 <= s->t->mask + 1) || grow(s))) {
        set_cell(s->t, find(s->t, (uintptr_t)p), (uintptr_t)p);
        s->count++;
    } else {
        __atomic_store_n(&s->blind, 1, __ATOMIC_RELAXED); /* read without the lock */
    }
    write_end(s);
    aslab_futexlock.unlock(s->lock);
    return p;
}

int aslab__large_live_remove(void *p) {
    shard *s = shard_of((uintptr_t)p);
    aslab_futexlock.lock(s->lock);
    int found = has_locked(s, (uintptr_t)p);
    if (s->t != NULL) {
        size_t i = find(s->t, (uintptr_t)p);
        if (cell(s->t, i) != 0) {
            write_begin(s);
            remove_at(s->t, i);
            s->count--;
            write_end(s);
        }
    }
    aslab_futexlock.unlock(s->lock);
    return found;
}

/* Without the lock when no writer is at work (seq even and unchanged around the look):
 * freeing a big block writes no shared line and never waits; with it otherwise. */
int aslab__large_live_has(void *p) {
    shard *s = shard_of((uintptr_t)p);
    uint64_t seq = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
    if ((seq & 1) == 0) {
        const table *t = __atomic_load_n(&s->t, __ATOMIC_ACQUIRE);
        int found = __atomic_load_n(&s->blind, __ATOMIC_ACQUIRE) ||
                    (t != NULL && cell(t, find(t, (uintptr_t)p)) != 0);
        if (__atomic_load_n(&s->seq, __ATOMIC_ACQUIRE) == seq) return found;
    }
    aslab_futexlock.lock(s->lock);
    int found = has_locked(s, (uintptr_t)p);
    aslab_futexlock.unlock(s->lock);
    return found;
}

/* p's shard and q's may differ: p leaves first, then q joins. */
void aslab__large_live_replace(void *p, void *q) {
    if (aslab__large_live_remove(p)) aslab__large_live_add(q);
}

void aslab__large_live_fork_prepare(void) {
    for (unsigned i = 0; i < SHARDS; i++)
        aslab_futexlock.lock(shards[i].lock);
}
void aslab__large_live_fork_parent(void) {
    for (unsigned i = SHARDS; i-- > 0;)
        aslab_futexlock.unlock(shards[i].lock);
}
void aslab__large_live_fork_child(void) {
    for (unsigned i = 0; i < SHARDS; i++)
        aslab_futexlock.init(shards[i].lock);
}
