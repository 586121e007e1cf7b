/* test_hooks.c - the ledger-keeping allocation hooks of the core tests. */
#include "test_hooks.h"

#include <CUnit/CUnit.h>
#include <aslab.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#define TH_MAX_BLOCKS 4096

typedef struct th_block {
    void *ptr;  /* what the alloc hook returned */
    void *base; /* what aligned_alloc returned */
    size_t size;
} th_block;

static struct {
    pthread_mutex_t mutex;
    th_block blocks[TH_MAX_BLOCKS];
    size_t live;
    size_t live_at_setup;
    size_t allocs, frees, violations;
    unsigned fail_skip, fail_count, misalign_count, free_error_count;
} th = {.mutex = PTHREAD_MUTEX_INITIALIZER};

static int is_pow2(size_t x) {
    return x != 0 && (x & (x - 1)) == 0;
}

static th_block *find_locked(const void *ptr) {
    for (size_t i = 0; i < th.live; i++)
        if (th.blocks[i].ptr == ptr) return &th.blocks[i];
    return NULL;
}

/* Decides, under the lock, whether this allocation fails or comes back misaligned. */
static int take_injection_locked(int *misalign) {
    if (th.fail_skip > 0)
        th.fail_skip--;
    else if (th.fail_count > 0) {
        th.fail_count--;
        return 1;
    }
    *misalign = th.misalign_count > 0;
    if (*misalign) th.misalign_count--;
    return 0;
}

static void *carve(size_t size, int misalign) {
    if (!misalign) return aligned_alloc(size, size);
    char *base = aligned_alloc(size, 2 * size);
    return base != NULL ? base + TH_MISALIGN_OFFSET : NULL;
}

static void *th_alloc(size_t size, size_t align) {
    int misalign = 0;
    pthread_mutex_lock(&th.mutex);
    int bad_args =
        size != align || !is_pow2(size) || size < ASLAB_MIN_SLAB_SIZE || size > ASLAB_MAX_SLAB_SIZE;
    int fail = bad_args || take_injection_locked(&misalign) || th.live == TH_MAX_BLOCKS;
    th.violations += bad_args || th.live == TH_MAX_BLOCKS;
    void *ptr = fail ? NULL : carve(size, misalign);
    if (ptr != NULL) {
        void *base = misalign ? (char *)ptr - TH_MISALIGN_OFFSET : ptr;
        th.blocks[th.live++] = (th_block){ptr, base, size};
        th.allocs++;
    }
    pthread_mutex_unlock(&th.mutex);
    return ptr;
}

static aslab_error th_free(void *ptr, size_t size, size_t align) {
    pthread_mutex_lock(&th.mutex);
    th_block *block = find_locked(ptr);
    th.frees++;
    aslab_error err = ASLAB_OK;
    if (block == NULL || block->size != size || size != align) {
        th.violations++;
        err = ASLAB_ERR_INVALID_POINTER;
    }
    if (block != NULL) {
        free(block->base);
        *block = th.blocks[--th.live];
    }
    if (th.free_error_count > 0 && err == ASLAB_OK) {
        th.free_error_count--;
        err = ASLAB_ERR_INVALID_POINTER;
    }
    pthread_mutex_unlock(&th.mutex);
    return err;
}

ASLAB_DEFINE_ALLOCATION_HOOKS(th_alloc, th_free);

static size_t read_counter(const size_t *counter) {
    pthread_mutex_lock(&th.mutex);
    size_t value = *counter;
    pthread_mutex_unlock(&th.mutex);
    return value;
}

size_t th_outstanding(void) {
    return read_counter(&th.live);
}
size_t th_allocs(void) {
    return read_counter(&th.allocs);
}
size_t th_frees(void) {
    return read_counter(&th.frees);
}
size_t th_violations(void) {
    return read_counter(&th.violations);
}

size_t th_block_size(const void *block) {
    pthread_mutex_lock(&th.mutex);
    th_block *found = find_locked(block);
    size_t size = found != NULL ? found->size : 0;
    pthread_mutex_unlock(&th.mutex);
    return size;
}

void th_fail_allocs(unsigned skip, unsigned count) {
    pthread_mutex_lock(&th.mutex);
    th.fail_skip = skip;
    th.fail_count = count;
    pthread_mutex_unlock(&th.mutex);
}

void th_misalign_allocs(unsigned count) {
    pthread_mutex_lock(&th.mutex);
    th.misalign_count = count;
    pthread_mutex_unlock(&th.mutex);
}

void th_fail_frees(unsigned count) {
    pthread_mutex_lock(&th.mutex);
    th.free_error_count = count;
    pthread_mutex_unlock(&th.mutex);
}

void th_test_setup(void) {
    pthread_mutex_lock(&th.mutex);
    th.live_at_setup = th.live;
    th.allocs = th.frees = th.violations = 0;
    th.fail_skip = th.fail_count = th.misalign_count = th.free_error_count = 0;
    pthread_mutex_unlock(&th.mutex);
}

/* Named so that a failure reads as what went wrong. */
static size_t slabs_leaked_by_this_test(void) {
    return th_outstanding() - read_counter(&th.live_at_setup);
}

void th_test_teardown(void) {
    CU_ASSERT_EQUAL(slabs_leaked_by_this_test(), 0);
    CU_ASSERT_EQUAL(th_violations(), 0);
}
