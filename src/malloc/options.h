/* options.h - settings from ASLAB_* environment variables, read once at start-up straight
 * from `environ` (no getenv, no allocation: it runs inside malloc's set-up). A value that
 * does not parse, and an ASLAB_* variable that names no option, get one line on stderr each;
 * the default is then used. Each option is documented in the README's options table.
 *
 * Adding an option is one line in ASLAB__OPTIONS: its name after ASLAB_, its field in
 * aslab__options, its kind, its default. The kinds (parsed in options.c):
 *   BOOL    1/0, yes/no, true/false, on/off, in any case                       -> int 1 or 0
 *   NUMBER  a decimal integer, optionally negative                             -> int64_t
 * An empty value (ASLAB_STATS=) is the same as none: the default, without a word. */
#ifndef ASLAB_MALLOC_OPTIONS_H
#define ASLAB_MALLOC_OPTIONS_H

#include <stdint.h>

#define ASLAB__OPTIONS(OPTION)                                                                \
    OPTION(STATS, stats, BOOL, 0)            /* a report at exit */                           \
    OPTION(DECAY_MS, decay_ms, NUMBER, 1000) /* age before a free slab goes back to the OS */ \
    OPTION(TCACHE, tcache, BOOL, 1)          /* 0: no thread caches, every call locks */

typedef int aslab__option_BOOL;
typedef int64_t aslab__option_NUMBER;

#define ASLAB__OPTION_FIELD(NAME, field, kind, default_value) aslab__option_##kind field;

typedef struct aslab__options_t {
    ASLAB__OPTIONS(ASLAB__OPTION_FIELD)
} aslab__options_t;

extern aslab__options_t aslab__options;

/* Reads every option; warns on stderr about bad values and unknown ASLAB_* variables. */
void aslab__options_read(void);

#endif
