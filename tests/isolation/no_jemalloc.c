/* no_jemalloc.c - a program with no jemalloc of its own, aslab its malloc (preloaded, or
 * linked statically). argv[1] says what it does:
 *   large    mallocs and frees blocks that go to aslab's copy of jemalloc, prints "ok": with
 *            MALLOC_CONF=confirm_conf:true in the environment, that copy must print nothing;
 *   free, realloc, usable
 *            hands a pointer no allocator made (inside a private mapping) to that call:
 *            aslab must abort with one line naming the call, the fault and the address. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    if (strcmp(argv[1], "large") == 0) {
        for (size_t size = 20000; size < (64u << 20); size *= 2)
            free(malloc(size));
        printf("ok\n");
        return 0;
    }
    char *mapping = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapping == MAP_FAILED) return 2;
    void *volatile nobodys = mapping + 4096; /* volatile: the compiler must not see through it */
    printf("%p\n", nobodys);
    fflush(stdout);
    if (strcmp(argv[1], "free") == 0) free(nobodys);
    if (strcmp(argv[1], "realloc") == 0) free(realloc(nobodys, 100000));
    if (strcmp(argv[1], "usable") == 0) printf("%zu\n", malloc_usable_size(nobodys));
    return 0; /* not reached when aslab aborts, as it must */
}
