/* deepbind_lib.c - a library that allocates for its caller (tests/isolation/deepbind.c). */
#include <stdlib.h>
#include <string.h>

char *deepbind_make(size_t size);

char *deepbind_make(size_t size) {
    char *p = malloc(size);
    if (p != NULL) memset(p, 'x', size);
    return p;
}
