/* size_class.c - builds the class table and the size-to-class lookup once, at start-up. */
#include "size_class.h"

aslab__class_info aslab__classes[ASLAB_CLASS_SLOTS];
uint8_t aslab__class_lookup[ASLAB_SMALL_MAX / 16 + 1];

static uint32_t class_size(unsigned index) {
    if (index < 16) return 16 * (index + 1);
    unsigned group = (index - 16) / 8, step = (index - 16) % 8 + 1; /* group 0 is 256..512 */
    uint32_t base = (uint32_t)256 << group;
    return base + step * (base / 8);
}

/* Slabs of at least 64 slots, and at least 64 KiB so that headers cost little. */
static uint32_t slab_shift_for(uint32_t size) {
    uint32_t shift = 16;
    while (((uint32_t)1 << shift) < 64 * size)
        shift++;
    return shift;
}

void aslab__size_classes_init(void) {
    unsigned index = 0;
    for (unsigned c = 1; c <= ASLAB_NUM_CLASSES; c++) {
        aslab__class_info *info = &aslab__classes[c];
        info->size = class_size(c - 1);
        info->slab_shift = slab_shift_for(info->size);
        while (index <= info->size / 16 && index <= ASLAB_SMALL_MAX / 16)
            aslab__class_lookup[index++] = (uint8_t)c;
    }
}
