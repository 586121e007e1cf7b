/* error.c - the meaning of each aslab_error, in words. */
#include "aslab.h"

const char *aslab_strerror(aslab_error err) {
    switch (err) {
    case ASLAB_OK:
        return "success";
    case ASLAB_ERR_OUT_OF_MEMORY:
        return "out of memory: the slab hook returned NULL";
    case ASLAB_ERR_INVALID_POINTER:
        return "invalid pointer: NULL, or not what the call asks for (a cache, a slab's start)";
    case ASLAB_ERR_DOUBLE_FREE:
        return "double free: the slot is already free";
    case ASLAB_ERR_ALIGNMENT_MISMATCH:
        return "alignment mismatch: the slab hook returned a block not aligned to the slab size";
    case ASLAB_ERR_INVALID_ARGUMENT:
        return "invalid argument";
    case ASLAB_ERR_SLAB_LENT:
        return "slab lent: the object's slab is on loan, its borrower manages its slots";
    case ASLAB_ERR_NOT_A_SLAB:
        return "not an aslab slab: no live slab header (bad magic) where the address masks to";
    case ASLAB_ERR_WRONG_SLAB_SIZE:
        return "wrong slab size: the slab belongs to a cache with another slab size";
    case ASLAB_ERR_NOT_SLOT_START:
        return "not the start of a slot: inside a slot or inside the slab header";
    case ASLAB_ERR_INDEX_OUT_OF_RANGE:
        return "slot index out of range: past the slab's last slot";
    case ASLAB_ERR_CORRUPT_FREELIST:
        return "corrupt free list: a freed slot was overwritten; the slab is quarantined";
    case ASLAB_ERR_RELEASED_HANDLE:
        return "released handle: the cache's last reference was already released";
    case ASLAB_ERR_SLAB_NOT_LENT:
        return "slab not lent: a live slab that is not on loan";
    }
    return "unknown aslab error";
}

/* What a failed ASLAB_AUTOFREE calls unless the program defines its own: a scope's end cannot
 * report, and carrying on past a bad free would hide corrupt memory. */
__attribute__((weak)) void aslab_autofree_failed(void *obj, aslab_error err) {
    (void)obj;
    (void)err;
    __builtin_trap();
}
