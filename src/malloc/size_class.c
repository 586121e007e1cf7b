/* size_class.c - builds the class table and the size-to-class lookup once, at start-up. */
#include "size_class.h"

#include <string.h>

aslab__class_info aslab__classes[ASLAB_CLASS_SLOTS];
uint8_t aslab__class_lookup[ASLAB_SMALL_MAX + 1];
uint8_t aslab__medium_lookup[ASLAB_MEDIUM_MAX >> ASLAB_MEDIUM_STEP_SHIFT];

static uint32_t class_size(unsigned index) {
    if (index < 16) return 16 * (index + 1);
    unsigned group = (index - 16) / 8, step = (index - 16) % 8 + 1; /* group 0 is 256..512 */
    uint32_t base = (uint32_t)256 << group;
    return base + step * (base / 8);
}

/* Small classes: slabs of at least 64 slots, and at least 64 KiB so that headers cost
 * little. */
static uint32_t small_slab_shift(uint32_t size) {
    uint32_t shift = 16;
    while (((uint32_t)1 << shift) < 64 * size)
        shift++;
    return shift;
}

/* Medium classes: the smallest slab that holds at least 8 blocks after its header (which
 * takes the first multiple of the blocks' alignment) and wastes at most an eighth of itself.
 * The header is the core's 64 bytes plus the malloc's reserve, under 256 bytes. */
#define MEDIUM_MIN_SLOTS 8
#define HEADER_BOUND     256

static uint32_t medium_slab_shift(uint32_t size) {
    size_t align = aslab__class_align(size);
    size_t offset = (HEADER_BOUND + align - 1) / align * align;
    uint32_t shift = 16;
    for (;; shift++) {
        size_t slab = (size_t)1 << shift, slots = (slab - offset) / size;
        if (slab > offset && slots >= MEDIUM_MIN_SLOTS && (slab - slots * size) * 8 <= slab)
            return shift;
    }
}

static uint32_t slab_shift_for(unsigned cls, uint32_t size) {
    return aslab__class_is_medium(cls) ? medium_slab_shift(size) : small_slab_shift(size);
}

void aslab__size_classes_init(void) {
    unsigned index = 0;
    size_t step = ASLAB_SMALL_MAX >> ASLAB_MEDIUM_STEP_SHIFT;
    for (unsigned c = 1; c <= ASLAB_NUM_CLASSES; c++) {
        aslab__class_info *info = &aslab__classes[c];
        info->size = class_size(c - 1);
        info->slab_shift = slab_shift_for(c, info->size);
        /* a run at a time: byte by byte it was 160,000 instructions, a fifth of `ls` */
        size_t end = info->size < ASLAB_SMALL_MAX ? info->size : ASLAB_SMALL_MAX;
        if (index <= end) {
            memset(&aslab__class_lookup[index], (int)c, end + 1 - index);
            index = (unsigned)end + 1;
        }
        /* step k holds the sizes 2^11 k + 1 .. 2^11 (k + 1): the first class that holds them */
        for (; aslab__class_is_medium(c) && (step + 1) << ASLAB_MEDIUM_STEP_SHIFT <= info->size;
             step++)
            aslab__medium_lookup[step] = (uint8_t)c;
    }
}
