/* deepbind.c - `deepbind LIB [deep]`: a block made by a dlopen'ed library, freed here.
 *
 * A library opened with RTLD_DEEPBIND looks its symbols up in itself and its own
 * dependencies first, so its malloc is libc's, not the preloaded aslab's: the block it hands
 * over is glibc's, and aslab's free must say so (one line and an abort, as for any pointer no
 * allocator of its knows) rather than take it for its own. Opened without RTLD_DEEPBIND, the
 * library's malloc is aslab's and the free is ordinary. Prints the block's address first. */
#define _GNU_SOURCE /* RTLD_DEEPBIND */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    int deep = argc > 2 && strcmp(argv[2], "deep") == 0;
    void *lib = dlopen(argv[1], RTLD_NOW | (deep ? RTLD_DEEPBIND : 0));
    if (lib == NULL) {
        fprintf(stderr, "deepbind: %s\n", dlerror());
        return 2;
    }
    char *(*make)(size_t) = (char *(*)(size_t))dlsym(lib, "deepbind_make");
    char *p = make != NULL ? make(100) : NULL;
    if (p == NULL || p[99] != 'x') return 2;
    printf("%p\n", (void *)p);
    fflush(stdout);
    free(p);
    return 0;
}
