/* error.c - the meaning of each aslab_error, in words. */
#include "aslab.h"

const char *aslab_strerror(aslab_error err) {
    switch (err) {
    case ASLAB_OK:
        return "success";
    case ASLAB_ERR_OUT_OF_MEMORY:
        return "out of memory: the slab hook returned NULL";
    case ASLAB_ERR_INVALID_POINTER:
        return "invalid pointer: not a live slot of an aslab slab";
    case ASLAB_ERR_DOUBLE_FREE:
        return "double free: the slot is already free";
    case ASLAB_ERR_ALIGNMENT_MISMATCH:
        return "alignment mismatch: the slab hook returned a block not aligned to the slab size";
    case ASLAB_ERR_INVALID_ARGUMENT:
        return "invalid argument";
    case ASLAB_ERR_SLAB_LENT:
        return "slab lent: the object's slab is on loan, its borrower manages its slots";
    }
    return "unknown aslab error";
}
