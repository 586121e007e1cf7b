/* rss.h - the test programs' one reader of the process's resident set: /proc/self/statm,
 * read with open/read into a stack buffer, so that measuring never allocates. */
#ifndef ASLAB_TESTS_RSS_H
#define ASLAB_TESTS_RSS_H

#include <fcntl.h>
#include <stddef.h>
#include <unistd.h>

/* Resident set in KiB; 0 if unknown. statm holds the whole size, then the resident pages. */
static inline size_t test_rss_kib(void) {
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t got = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (got <= 0) return 0;
    buf[got] = '\0';
    const char *p = buf;
    while (*p != ' ' && *p != '\0')
        p++;
    size_t pages = 0;
    for (; *p == ' '; p++) {
    }
    for (; *p >= '0' && *p <= '9'; p++)
        pages = pages * 10 + (size_t)(*p - '0');
    return pages * ((size_t)sysconf(_SC_PAGESIZE) / 1024);
}

#endif
