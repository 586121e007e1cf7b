/* os.h - the malloc's only boundary with the operating system: mappings, time, the process's
 * memory figures, and raw output that never allocates. Porting means replacing os.c. */
#ifndef ASLAB_MALLOC_OS_H
#define ASLAB_MALLOC_OS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>

#ifndef MADV_POPULATE_WRITE /* Linux 5.14; older headers lack the name */
#define MADV_POPULATE_WRITE 23
#endif

/* Reserves `size` bytes (rounded up to whole pages) aligned to `align` (a power of two, a
 * multiple of the page size), readable and writable, zero-filled, not yet resident. NULL when
 * the OS refuses. */
void *aslab__os_map_aligned(size_t size, size_t align);
void aslab__os_unmap(void *addr, size_t size);
/* Maps zero pages over [addr, addr + size) (page-aligned, ours), read-only and charged to no
 * commit limit; 1 on success. */
int aslab__os_map_fixed_readonly(void *addr, size_t size);
/* Makes [addr, addr + size) (page-aligned) readable and writable; 0 if refused (ENOMEM). */
int aslab__os_make_writable(void *addr, size_t size);
/* As aslab__os_map_aligned, but inaccessible: address space held for a mapping to be moved
 * onto (aslab__os_remap_to). Counts against RLIMIT_AS, not against memory. */
void *aslab__os_reserve_aligned(size_t size, size_t align);
/* As aslab__os_map_aligned, but read-only until aslab__os_make_writable: every byte reads zero
 * (a read never faults), and neither the commit limit of strict overcommit nor mlockall's
 * MCL_FUTURE puts memory behind it. */
void *aslab__os_reserve_readable(size_t size, size_t align);
/* Resizes the mapping [addr, addr + size) to new_size bytes where it is: 0, or -1 when the
 * addresses after it are taken (a shrink always succeeds). Pages keep their contents. */
int aslab__os_remap_in_place(void *addr, size_t size, size_t new_size);
/* Moves the mapping, resized to new_size, to `to` (replacing what is mapped there) with its
 * pages: the page tables move, the bytes are not copied. 0, or -1 with nothing changed. */
int aslab__os_remap_to(void *addr, size_t size, size_t new_size, void *to);
/* Gives the pages back; they read as zero when next touched (cleared in place where the OS
 * keeps them: locked pages). */
void aslab__os_discard(void *addr, size_t size);
/* Calls of aslab__os_discard and the bytes they covered, for ASLAB_STATS (a system call each:
 * what the memory return costs). */
extern uint64_t aslab__os_discards, aslab__os_discarded_bytes;
/* Gives the pages back where the OS lets it; what they read after is not known (memory that
 * nothing reads as zero: the fallback's freed blocks). */
void aslab__os_release(void *addr, size_t size);
/* Whether the kernel holds the commit limit strictly (vm.overcommit_memory=2), as read with
 * the request limit (aslab__os_request_limit, at set-up). */
int aslab__os_strict_overcommit(void);
/* Whether the page at `page` is resident; asked of a page nobody touched, whether the kernel
 * populated its mapping as it made it (mlockall's MCL_FUTURE). */
int aslab__os_populated(void *page);
/* Which pages of [addr, addr + size) are resident (addr page-aligned): vec[i] & 1 for page i.
 * 0, or -1 when the OS cannot say. No page is touched. */
int aslab__os_residency(void *addr, size_t size, unsigned char *vec);
/* calloc is about to clear [addr, addr + size) whole: when its last page is not resident (a
 * fresh mapping, or pages given back), the kernel maps every page of it in one call
 * (MADV_POPULATE_WRITE, Linux 5.14) instead of a fault per page as the clearing reaches it.
 * The same pages end up resident either way. Does nothing below PREFAULT_MIN bytes (os.c)
 * and once the kernel refuses the call. 1 when it asked the kernel, else 0; errno kept. */
int aslab__os_prefault(void *addr, size_t size);
uint64_t aslab__os_now_ms(void);
/* Milliseconds on the coarse monotonic clock: a read of the vDSO's page, no system call,
 * a few milliseconds of resolution. What the slow paths' memory-return checks read. */
uint64_t aslab__os_coarse_ms(void);
/* The largest request the system could ever grant: the address-space limit, and unless
 * the kernel is told to overcommit always, RAM plus swap (what the kernel's own heuristic
 * refuses beyond). Larger requests fail at once with ENOMEM, touching nothing. */
size_t aslab__os_request_limit(void);
size_t aslab__os_page_size(void);
/* The whole pages inside [start, end): *lo rounded up, *hi down to a page; 0 when there are
 * none (the range's first and last pages may be shared with neighbours). */
int aslab__os_inner_pages(uintptr_t start, uintptr_t end, uintptr_t *lo, uintptr_t *hi);
/* Peak and current resident set of the process in KiB (0 when unknown). */
size_t aslab__os_peak_rss_kib(void);
size_t aslab__os_rss_kib(void);
/* Keeps a private copy of stderr for the exit report: programs such as coreutils close
 * fd 2 before they exit. */
void aslab__os_keep_stderr(void);
/* Writes to stderr with write(2): usable inside malloc, before and after everything. */
void aslab__os_write_err(const char *text, size_t len);
/* The same to any descriptor. */
void aslab__os_write(int fd, const char *text, size_t len);
/* Opens path for appending, creating it (0644); close-on-exec. The fd, or -errno. */
int aslab__os_open_append(const char *path);
void aslab__os_close(int fd);
/* An errno value in words (English, static: nothing is allocated or loaded). */
const char *aslab__os_error_text(int err);
int64_t aslab__os_pid(void);
/* The program's short name (argv[0]'s last part, else /proc/self/comm), or "?". */
const char *aslab__os_program_name(void);
/* Writes the working directory into buf (cap bytes); its length, 0 when unknown. */
size_t aslab__os_cwd(char *buf, size_t cap);
/* Prints "aslab: <fn>: <fault> <address>" on one line and aborts. */
__attribute__((noreturn)) void aslab__os_fatal(const char *fn, const char *fault,
                                               const void *address);

#endif
