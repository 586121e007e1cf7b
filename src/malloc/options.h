/* options.h - settings from ASLAB_* environment variables, read once at start-up straight
 * from `environ` (no getenv, no allocation: it runs inside malloc's set-up). A value that
 * does not parse, and an ASLAB_* variable that names no option, get one line on stderr each;
 * the default is then used. Each option is documented in the README's options table.
 *
 * Adding an option is one line in ASLAB__OPTIONS: its name after ASLAB_, its field in
 * aslab__options, its kind, its default. The kinds (parsed in options.c):
 *   BOOL    1/0, yes/no, true/false, on/off, in any case                       -> int 1 or 0
 *   NUMBER  a decimal integer, optionally negative                             -> int64_t
 *   STATS   a BOOL, or "all"                                                   -> int, below
 *   PATH    any text                                                           -> const char *
 * An empty value (ASLAB_STATS=) is the same as none: the default, without a word. */
#ifndef ASLAB_MALLOC_OPTIONS_H
#define ASLAB_MALLOC_OPTIONS_H

#include <stdint.h>

#define ASLAB__OPTIONS(OPTION)                                                                     \
    OPTION(STATS, stats, STATS, ASLAB__STATS_OFF) /* a report at exit */                           \
    OPTION(STATS_FILE, stats_file, PATH, 0)       /* ... written there instead of stderr */        \
    OPTION(DECAY_MS, decay_ms, NUMBER, 1000)      /* age before a free slab goes back to the OS */ \
    OPTION(DIRTY_MAX_MB, dirty_max_mb, NUMBER, 8) /* free MiB a pool keeps (purge.h); -1 no cap */ \
    OPTION(BACKGROUND_THREAD, background, BOOL, 0) /* a thread returns memory when idle */

/* ASLAB_STATS: who prints the report at exit. SELF is the process that read the option
 * (see aslab__options_claim_stats); ALL is every process that reads it, its children too. */
enum { ASLAB__STATS_OFF, ASLAB__STATS_SELF, ASLAB__STATS_ALL };

typedef int aslab__option_BOOL;
typedef int64_t aslab__option_NUMBER;
typedef int aslab__option_STATS;
typedef const char *aslab__option_PATH; /* NULL when not set */

#define ASLAB__OPTION_FIELD(NAME, field, kind, default_value) aslab__option_##kind field;

typedef struct aslab__options_t {
    ASLAB__OPTIONS(ASLAB__OPTION_FIELD)
    int64_t read_by; /* the pid that read them: a forked child has another */
} aslab__options_t;

extern aslab__options_t aslab__options;

/* Reads every option; warns on stderr about bad values and unknown ASLAB_* variables. */
void aslab__options_read(void);

/* ASLAB_STATS=1 is the started process's alone: its entry in `environ` is swapped in place
 * for one that carries the pid (ASLAB_STATS=1:1234), so a program exec'd by it reads "not
 * mine" and stays silent, while one exec'd in its place (env, nice: the same pid) reports.
 * Called at the end of the set-up and again from the library constructor, for a set-up that
 * ran before libc had set `environ`; does nothing the second time. */
void aslab__options_claim_stats(void);

#endif
