/* rss.h - the test programs' one reader of the process's resident set and mapped size:
 * /proc/self/statm,
 * read with open/read into a stack buffer, so that measuring never allocates. */
#ifndef ASLAB_TESTS_RSS_H
#define ASLAB_TESTS_RSS_H

#include <fcntl.h>
#include <stddef.h>
#include <unistd.h>

/* Field `field` (0: the whole size, 1: the resident set) of /proc/self/statm in KiB; 0 if
 * unknown. */
static inline size_t test_statm_kib(int field) {
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t got = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (got <= 0) return 0;
    buf[got] = '\0';
    const char *p = buf;
    for (int i = 0; i < field; i++) {
        while (*p != ' ' && *p != '\0')
            p++;
        for (; *p == ' '; p++) {
        }
    }
    size_t pages = 0;
    for (; *p >= '0' && *p <= '9'; p++)
        pages = pages * 10 + (size_t)(*p - '0');
    return pages * ((size_t)sysconf(_SC_PAGESIZE) / 1024);
}

/* Resident set in KiB; 0 if unknown. */
static inline size_t test_rss_kib(void) {
    return test_statm_kib(1);
}

/* Address space mapped in KiB; 0 if unknown. */
static inline size_t test_mapped_kib(void) {
    return test_statm_kib(0);
}

#endif
