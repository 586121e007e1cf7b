/* size_class.h - the size classes and what each is served with.
 *
 * Classes step by 16 bytes up to 256, then by eighths of each power of two (288, 320, ...,
 * 512, 576, ...), so no class wastes more than 12.5% of a request above 256 bytes, and at
 * most 15 bytes below. Every class is a multiple of 16, so every slot is 16-byte aligned.
 * Classes 1..64 are small (up to ASLAB_SMALL_MAX, found by a table); 65..112 are medium (up to
 * ASLAB_MEDIUM_MAX, found by arithmetic on the request). Both are served the same way, from
 * slabs that threads own; larger requests go to the fallback. Each class has its own core
 * cache, its own slab size and its own regions of the arena: a small class's slab holds at
 * least 64 slots, a medium one's at least 8 and wastes at most 12.5% of itself (256 KiB for
 * 18 KiB blocks up to 16 MiB for 1 MiB ones).
 */
#ifndef ASLAB_MALLOC_SIZE_CLASS_H
#define ASLAB_MALLOC_SIZE_CLASS_H

#include <stddef.h>
#include <stdint.h>

#pragma GCC visibility push(hidden) /* internal to the library: no GOT */

#define ASLAB_SMALL_MAX       ((size_t)16384)
#define ASLAB_MEDIUM_MAX      ((size_t)1 << 20)
#define ASLAB_NUM_CLASSES     112 /* numbered 1..112: 0 means "not a class" (not ours) */
#define ASLAB_SMALL_CLASSES   64  /* classes 1..64 serve up to ASLAB_SMALL_MAX */
#define ASLAB_CLASS_SLOTS     (ASLAB_NUM_CLASSES + 1)
#define ASLAB_MIN_ALIGN       16
#define ASLAB_CLASS_ALIGN_MAX 65536 /* the most a class's blocks are aligned to */

typedef struct aslab__class_info {
    uint32_t size;       /* bytes a slot holds */
    uint32_t slab_shift; /* log2 of the slab size */
} aslab__class_info;

extern aslab__class_info aslab__classes[ASLAB_CLASS_SLOTS];
/* The class of each request size up to ASLAB_SMALL_MAX, indexed by the size itself: 16 KiB
 * where one entry per 16 bytes would take 1 KiB, but malloc indexes it with its argument as
 * is (no add and shift, two of its 21 instructions); a program's common sizes touch a few
 * lines of it (docs/thread-owned-slabs.md, "What it costs"). */
extern uint8_t aslab__class_lookup[ASLAB_SMALL_MAX + 1];
/* medium class for each request size above ASLAB_SMALL_MAX: medium_lookup[(size - 1) >> 11]
 * (every medium class is a multiple of 2 KiB, so no class boundary falls inside a step) */
#define ASLAB_MEDIUM_STEP_SHIFT 11
extern uint8_t aslab__medium_lookup[ASLAB_MEDIUM_MAX >> ASLAB_MEDIUM_STEP_SHIFT];

void aslab__size_classes_init(void);

/* The alignment of every block of a class of this size: the largest power of two dividing
 * it, up to 64 KiB (each class's slots start at a multiple of it). */
static inline size_t aslab__class_align(uint32_t size) {
    size_t align = (size_t)size & -(size_t)size;
    return align < ASLAB_CLASS_ALIGN_MAX ? align : ASLAB_CLASS_ALIGN_MAX;
}

/* The small class of a request of at most ASLAB_SMALL_MAX bytes (0 before set-up). */
static inline unsigned aslab__class_of(size_t size) {
    return aslab__class_lookup[size];
}

/* The medium class of a request above ASLAB_SMALL_MAX and at most ASLAB_MEDIUM_MAX (0 before
 * set-up). */
static inline unsigned aslab__medium_class_of(size_t size) {
    return aslab__medium_lookup[(size - 1) >> ASLAB_MEDIUM_STEP_SHIFT];
}

/* The class of any request up to ASLAB_MEDIUM_MAX. */
static inline unsigned aslab__class_for(size_t size) {
    return size <= ASLAB_SMALL_MAX ? aslab__class_of(size) : aslab__medium_class_of(size);
}

/* The size of class cls's slabs. */
static inline size_t aslab__class_slab_size(unsigned cls) {
    return (size_t)1 << aslab__classes[cls].slab_shift;
}

static inline int aslab__class_is_medium(unsigned cls) {
    return cls > ASLAB_SMALL_CLASSES;
}

#pragma GCC visibility pop
#endif
