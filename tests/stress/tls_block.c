/* tls_block.c - a library with 64 KiB of __thread data, for tls_hang.c to dlopen: a
 * dlopened library's TLS comes from malloc, one block per thread that touches it, and glibc
 * frees it when the thread's stack goes (for a stack the program supplied, under its
 * stack-cache lock). */
#include <stddef.h>

#define TLS_BLOCK (64 * 1024)

/* Exported, and written through a volatile pointer: a static array that nothing reads back
 * would be optimised away, and with it the TLS allocation. */
__thread unsigned char tls_block[TLS_BLOCK];

/* Writes the calling thread's block (so that it is allocated) and returns a checksum. */
unsigned tls_block_touch(unsigned seed) {
    volatile unsigned char *block = tls_block;
    unsigned sum = 0;
    for (size_t i = 0; i < TLS_BLOCK; i += 512) {
        block[i] = (unsigned char)(seed + i);
        sum += block[i];
    }
    return sum;
}
