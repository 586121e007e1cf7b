/* slab.c - one slab: its geometry, its header, and fetching it from its hooks and handing it
 * back. */
#include "slab.h"

#include <string.h>

static size_t round_up(size_t value, size_t align) {
    return (value + align - 1) & ~(align - 1);
}

/* Lays out a slab whose fixed header is `header` bytes: the bitmap, then slots of `stride`
 * bytes from the first `align` boundary after it. Fails if not one slot fits. */
aslab_error aslab__geometry_for(size_t header, size_t stride, size_t align, size_t slab_size,
                                aslab__geometry *out) {
    if (header + stride > slab_size) return ASLAB_ERR_INVALID_ARGUMENT;
    size_t upper = (slab_size - header) / stride; /* bitmap sized for at most this many */
    size_t bitmap_bytes = (upper + 31) / 32 * sizeof(uint32_t);
    size_t data_offset = round_up(header + bitmap_bytes, align);
    if (data_offset >= slab_size) return ASLAB_ERR_INVALID_ARGUMENT;
    size_t capacity = (slab_size - data_offset) / stride;
    if (capacity == 0) return ASLAB_ERR_INVALID_ARGUMENT;
    out->capacity = (uint32_t)capacity;
    out->data_offset = (uint32_t)data_offset;
    out->bitmap_offset = (uint32_t)header;
    return ASLAB_OK;
}

void aslab__slab_init(aslab__slab *slab, aslab__master *master, const aslab__geometry *geo) {
    slab->magic = aslab__magic_for(slab);
    slab->master = master;
    slab->owner = NULL;
    slab->free_head = ASLAB__NO_SLOT;
    slab->fresh = 0;
    slab->used = 0;
    slab->capacity = geo->capacity;
    slab->data_offset = geo->data_offset;
    slab->bitmap_offset = geo->bitmap_offset;
    memset(aslab__bitmap(slab), 0, (geo->capacity + 31) / 32 * sizeof(uint32_t));
}

static void *hook_alloc(const aslab__hooks *hooks, size_t slab_size) {
    if (hooks->table == NULL) return aslab_hook_slab_alloc(slab_size, slab_size);
    return hooks->table->alloc(hooks->context, slab_size, slab_size);
}

/* Hands a slab back to the hooks it came from. */
aslab_error aslab__slab_give(const aslab__hooks *hooks, void *slab, size_t slab_size) {
    if (hooks->table == NULL) return aslab_hook_slab_free(slab, slab_size, slab_size);
    return hooks->table->free(hooks->context, slab, slab_size, slab_size);
}

/* Asks the hooks for one slab; a block off the slab alignment goes straight back. */
aslab_error aslab__slab_fetch(const aslab__hooks *hooks, size_t slab_size, void **out) {
    void *block = hook_alloc(hooks, slab_size);
    if (block == NULL) return ASLAB_ERR_OUT_OF_MEMORY;
    if (((uintptr_t)block & (slab_size - 1)) != 0) {
        (void)aslab__slab_give(hooks, block, slab_size);
        return ASLAB_ERR_ALIGNMENT_MISMATCH;
    }
    *out = block;
    return ASLAB_OK;
}
