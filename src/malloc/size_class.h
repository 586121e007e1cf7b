/* size_class.h - the small size classes and what each is served with.
 *
 * Classes step by 16 bytes up to 256, then by eighths of each power of two (288, 320, ...,
 * 512, 576, ...), so no class wastes more than 12.5% of a request above 256 bytes, and at
 * most 15 bytes below. Every class is a multiple of 16, so every slot is 16-byte aligned.
 * Requests above ASLAB_SMALL_MAX go to the fallback. Each class has its own core cache, its
 * own slab size (at least 64 slots a slab) and its own regions of the arena.
 */
#ifndef ASLAB_MALLOC_SIZE_CLASS_H
#define ASLAB_MALLOC_SIZE_CLASS_H

#include <stddef.h>
#include <stdint.h>

#pragma GCC visibility push(hidden) /* internal to the library: no GOT */

#define ASLAB_SMALL_MAX       ((size_t)16384)
#define ASLAB_NUM_CLASSES     64 /* numbered 1..64: 0 means "not a class" (not ours) */
#define ASLAB_SMALL_CLASSES   64 /* classes 1..64 serve up to ASLAB_SMALL_MAX */
#define ASLAB_CLASS_SLOTS     (ASLAB_NUM_CLASSES + 1)
#define ASLAB_MIN_ALIGN       16
#define ASLAB_CLASS_ALIGN_MAX 4096 /* the most a class's blocks are aligned to */

typedef struct aslab__class_info {
    uint32_t size;       /* bytes a slot holds */
    uint32_t slab_shift; /* log2 of the slab size */
} aslab__class_info;

extern aslab__class_info aslab__classes[ASLAB_CLASS_SLOTS];
/* class index for each request size rounded up to 16 bytes: lookup[(size + 15) >> 4] */
extern uint8_t aslab__class_lookup[ASLAB_SMALL_MAX / 16 + 1];

void aslab__size_classes_init(void);

/* The alignment of every block of a class of this size: the largest power of two dividing
 * it, up to a page (each class's slots start at a multiple of it). */
static inline size_t aslab__class_align(uint32_t size) {
    size_t align = (size_t)size & -(size_t)size;
    return align < ASLAB_CLASS_ALIGN_MAX ? align : ASLAB_CLASS_ALIGN_MAX;
}

static inline unsigned aslab__class_of(size_t size) {
    return aslab__class_lookup[(size + 15) >> 4];
}

#pragma GCC visibility pop
#endif
