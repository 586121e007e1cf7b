/* lazy_table.h - tables in .bss that cost memory only where they are written.
 *
 * aslab keeps its address-indexed tables at fixed addresses in .bss (the byte map, the
 * region table and hash, the fallback's granule map: 550 MiB of it), so that the paths that
 * read them need no pointer load. .bss is a private writable mapping: under strict
 * overcommit (vm.overcommit_memory=2) the kernel charges all of it to the commit limit at
 * start, and under mlockall(MCL_CURRENT) it faults in and locks all of it. So before a
 * table's first entry is written, its pages are mapped again over themselves read-only
 * (MAP_NORESERVE: charged to nothing, locked as the shared zero page), and each page is made
 * writable (charged, 4 KiB) before anything is written to it. A read still finds zero where
 * nothing was written, and never faults: the ownership tests need that.
 *
 * Invariants: the remap happens once, before any write (a writer that comes meanwhile waits);
 * every writer calls aslab__lazy_writable for the bytes it is about to write, before any step
 * it could not undo, and treats 0 (the OS refused: ENOMEM at the commit limit) as a failure
 * of what it was doing. Pages the table shares with its neighbours in .bss stay as loaded.
 */
#ifndef ASLAB_LAZY_TABLE_H
#define ASLAB_LAZY_TABLE_H

#include <stddef.h>
#include <stdint.h>

#define ASLAB__LAZY_PAGE_SHIFT 12 /* the mprotect grain; on larger pages nothing is remapped */

/* Words of the bitmap of writable pages for a table of `bytes` bytes. */
#define ASLAB__LAZY_WORDS(bytes) (((bytes) >> ASLAB__LAZY_PAGE_SHIFT) / 64 + 2)

typedef struct aslab__lazy_table {
    char *start;        /* the table */
    size_t size;        /* its bytes */
    uint64_t *writable; /* a bit a page of [lo, hi): made writable (ASLAB__LAZY_WORDS(size)) */
    uintptr_t lo, hi;   /* the part mapped again read-only; equal when there is none */
    int state;          /* 0: .bss as loaded; 1: being mapped again; 2: done */
} aslab__lazy_table;

/* A table's description: its array and a static bitmap of ASLAB__LAZY_WORDS(sizeof array). */
#define ASLAB__LAZY_TABLE(array, bitmap) \
    { (char *)(array), sizeof(array), (bitmap), 0, 0, 0 }

/* Maps table t again, if that was not done: at set-up, so that a table written late (or
 * never) costs nothing meanwhile. */
void aslab__lazy_prepare(aslab__lazy_table *t);

/* Makes the bytes [from, to) of table t writable (mapping the table again first, once);
 * 0 if the OS refused. */
int aslab__lazy_writable(aslab__lazy_table *t, const void *from, const void *to);

/* In a fork child: a thread of the parent's that was mapping the table again is not in the
 * child, which maps it again itself at its first write (no entry was written before). */
void aslab__lazy_fork_child(aslab__lazy_table *t);

#endif /* ASLAB_LAZY_TABLE_H */
