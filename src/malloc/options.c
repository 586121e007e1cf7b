/* options.c - parses the ASLAB_* variables without allocating: a table built from
 * ASLAB__OPTIONS (options.h), one parser per kind, and a warning line for what does not
 * parse. Output goes through os.c's raw write. */
#include "options.h"

#include "os.h"

#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

extern char **environ;

#define ASLAB__OPTION_DEFAULT(NAME, field, kind, default_value) .field = default_value,

aslab__options_t aslab__options = {ASLAB__OPTIONS(ASLAB__OPTION_DEFAULT)};

/* ---- where the variables come from ---- */

/* Whether an environment entry is one of aslab's, tested against the letters one by one
 * rather than against the string "ASLAB_": a program with no ASLAB_* variable then makes the
 * set-up read nothing of the library's .rodata, whose first touch maps 64 KiB of it
 * (docs/footprint.md). */
static int is_aslab_entry(const char *entry) {
    return entry[0] == 'A' && entry[1] == 'S' && entry[2] == 'L' && entry[3] == 'A' &&
           entry[4] == 'B' && entry[5] == '_';
}

/* Before libc has set `environ` (a malloc from a .preinit_array function, as the clang
 * sanitizer runtimes make), the ASLAB_* entries come from /proc/self/environ instead. */
#define PROC_ENTRIES 8
static char proc_entries[PROC_ENTRIES][256];
static char *proc_environ[PROC_ENTRIES + 1];

static char **environ_from_proc(void) {
    char chunk[512], entry[256];
    size_t len = 0, count = 0;
    ssize_t got;
    int fd = open("/proc/self/environ", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    while ((got = read(fd, chunk, sizeof chunk)) > 0)
        for (ssize_t i = 0; i < got; i++) {
            if (chunk[i] != '\0') {
                if (len < sizeof entry) entry[len] = chunk[i];
                len++;
                continue;
            }
            if (len >= 6 && len < sizeof entry && count < PROC_ENTRIES && is_aslab_entry(entry)) {
                memcpy(proc_entries[count], entry, len);
                proc_entries[count][len] = '\0';
                proc_environ[count] = proc_entries[count];
                count++;
            }
            len = 0;
        }
    close(fd);
    proc_environ[count] = NULL;
    return proc_environ;
}

/* The slot of NAME=value in env, or NULL. */
static char **env_slot(char **env, const char *name) {
    if (env == NULL) return NULL;
    for (char **entry = env; *entry != NULL; entry++) {
        const char *e = *entry, *n = name;
        while (*n != '\0' && *e == *n)
            e++, n++;
        if (*n == '\0' && *e == '=') return entry;
    }
    return NULL;
}

/* ---- the kinds: each parser returns 0 for text it does not accept, leaving *field ---- */

static int lower(int c) {
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* text[0..len) equals word (lower case), ignoring case. */
static int same_word(const char *text, size_t len, const char *word) {
    size_t i = 0;
    for (; i < len && word[i] != '\0'; i++)
        if (lower((unsigned char)text[i]) != word[i]) return 0;
    return i == len && word[i] == '\0';
}

/* 1 or 0 for the spellings of a boolean in text[0..len); -1 for anything else. */
static int boolean(const char *text, size_t len) {
    static const char *const yes[] = {"1", "yes", "true", "on"}, *const no[] = {"0", "no", "false",
                                                                                "off"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
        if (same_word(text, len, yes[i])) return 1;
        if (same_word(text, len, no[i])) return 0;
    }
    return -1;
}

/* A decimal integer, optionally negative, that fits in int64_t. */
static int number(const char *text, int64_t *out) {
    int negative = *text == '-';
    int64_t value = 0;
    text += negative;
    if (*text == '\0') return 0;
    for (; *text != '\0'; text++) {
        if (*text < '0' || *text > '9' || value > (INT64_MAX - 9) / 10) return 0;
        value = value * 10 + (*text - '0');
    }
    *out = negative ? -value : value;
    return 1;
}

/* Unused while no option is a plain boolean; kept for those that are (the table is the list). */
__attribute__((unused)) static int parse_BOOL(const char *text, void *field) {
    int value = boolean(text, strlen(text));
    if (value < 0) return 0;
    *(aslab__option_BOOL *)field = value;
    return 1;
}

static int parse_NUMBER(const char *text, void *field) {
    return number(text, (aslab__option_NUMBER *)field);
}

/* "all", or a boolean with the pid of the process it belongs to once claimed ("1:1234"). */
static int parse_STATS(const char *text, void *field) {
    const char *colon = strchr(text, ':');
    size_t len = colon != NULL ? (size_t)(colon - text) : strlen(text);
    int value = boolean(text, len);
    int64_t owner = 0;
    if (colon == NULL && same_word(text, len, "all")) value = ASLAB__STATS_ALL;
    if (value < 0 || (colon != NULL && (!number(colon + 1, &owner) || owner <= 0))) return 0;
    if (colon != NULL && owner != aslab__os_pid()) value = ASLAB__STATS_OFF; /* a parent's */
    *(aslab__option_STATS *)field = value;
    return 1;
}

static int parse_PATH(const char *text, void *field) {
    *(aslab__option_PATH *)field = text;
    return 1;
}

/* What each kind accepts, in the warning's words; a PATH takes anything. */
#define ASLAB__EXPECT_BOOL   "is not a boolean (1/0, yes/no, true/false, on/off)"
#define ASLAB__EXPECT_NUMBER "is not a number"
#define ASLAB__EXPECT_STATS  "is not a boolean (1/0, yes/no, true/false, on/off) or all"
#define ASLAB__EXPECT_PATH   ""

typedef struct option_spec {
    const char *name;                            /* "ASLAB_..." */
    int (*parse)(const char *text, void *field); /* 0: not accepted */
    const char *expect;                          /* the warning, after NAME=value */
    int64_t default_value;                       /* the warning's "using N" */
    size_t offset;                               /* of the field in aslab__options */
} option_spec;

#define ASLAB__OPTION_SPEC(NAME, field, kind, default_value)                       \
    {"ASLAB_" #NAME, parse_##kind, ASLAB__EXPECT_##kind, (int64_t)(default_value), \
     offsetof(aslab__options_t, field)},

static const option_spec specs[] = {ASLAB__OPTIONS(ASLAB__OPTION_SPEC)};
#define NUM_SPECS (sizeof specs / sizeof *specs)

/* ---- warnings: one line each, built on the stack ---- */

typedef struct line {
    char text[400];
    size_t len;
} line;

static void put_n(line *l, const char *s, size_t n) {
    for (size_t i = 0; i < n && s[i] != '\0' && l->len < sizeof l->text - 1; i++)
        l->text[l->len++] = s[i];
}

static void put(line *l, const char *s) {
    put_n(l, s, sizeof l->text);
}

static void put_number(line *l, int64_t value) {
    char digits[24];
    size_t n = sizeof digits;
    uint64_t v = value < 0 ? 0 - (uint64_t)value : (uint64_t)value;
    do
        digits[--n] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    if (value < 0) put(l, "-");
    put_n(l, digits + n, sizeof digits - n);
}

static void say_line(line *l) {
    l->text[l->len++] = '\n';
    aslab__os_write_err(l->text, l->len);
}

#define SHOWN_VALUE 60 /* a longer value is cut, with "..." */

/* "aslab: ASLAB_DECAY_MS=abc is not a number; using 1000" */
static void warn_value(const option_spec *spec, const char *value) {
    line l = {.len = 0};
    put(&l, "aslab: ");
    put(&l, spec->name);
    put(&l, "=");
    put_n(&l, value, SHOWN_VALUE);
    if (strlen(value) > SHOWN_VALUE) put(&l, "...");
    put(&l, " ");
    put(&l, spec->expect);
    put(&l, "; using ");
    put_number(&l, spec->default_value);
    say_line(&l);
}

/* "aslab: ASLAB_STAT is not an option (ASLAB_STATS, ...); ignored" */
static void warn_unknown(const char *entry, size_t name_len) {
    line l = {.len = 0};
    put(&l, "aslab: ");
    put_n(&l, entry, name_len < SHOWN_VALUE ? name_len : SHOWN_VALUE);
    put(&l, " is not an option (");
    for (size_t i = 0; i < NUM_SPECS; i++) {
        put(&l, i == 0 ? "" : ", ");
        put(&l, specs[i].name);
    }
    put(&l, "); ignored");
    say_line(&l);
}

static int known(const char *entry, size_t name_len) {
    for (size_t i = 0; i < NUM_SPECS; i++)
        if (strncmp(entry, specs[i].name, name_len) == 0 && specs[i].name[name_len] == '\0')
            return 1;
    return 0;
}

static void warn_unknown_variables(char **env) {
    for (char **entry = env; entry != NULL && *entry != NULL; entry++) {
        if (!is_aslab_entry(*entry)) continue;
        const char *equals = strchr(*entry, '=');
        size_t name_len = equals != NULL ? (size_t)(equals - *entry) : strlen(*entry);
        if (!known(*entry, name_len)) warn_unknown(*entry, name_len);
    }
}

/* A set-user-ID or set-group-ID program (the loader's secure mode, AT_SECURE) takes no
 * options from an environment its unprivileged caller wrote: ASLAB_STATS_FILE would let
 * anyone append a report to any file the program may write. glibc ignores its MALLOC_*
 * variables there, and jemalloc reads MALLOC_CONF through secure_getenv, for the same
 * reason. */
static int secure_mode(void) {
    return getauxval(AT_SECURE) != 0;
}

static int any_aslab_entry(char **env) {
    for (char **entry = env; entry != NULL && *entry != NULL; entry++)
        if (is_aslab_entry(*entry)) return 1;
    return 0;
}

void aslab__options_read(void) {
    aslab__options.read_by = aslab__os_pid();
    if (secure_mode()) return; /* the defaults */
    char **env = environ != NULL ? environ : environ_from_proc();
    if (!any_aslab_entry(env)) return; /* the defaults, and no option name read */
    for (size_t i = 0; i < NUM_SPECS; i++) {
        char **slot = env_slot(env, specs[i].name);
        const char *value = slot != NULL ? *slot + strlen(specs[i].name) + 1 : NULL;
        if (value == NULL || *value == '\0') continue;
        if (!specs[i].parse(value, (char *)&aslab__options + specs[i].offset))
            warn_value(&specs[i], value);
    }
    if (aslab__options.decay_ms < -1) aslab__options.decay_ms = -1; /* "never", as -1 */
    if (aslab__options.dirty_max_mb < -1) aslab__options.dirty_max_mb = -1;
    warn_unknown_variables(env);
    aslab__options_claim_stats();
}

/* ---- ASLAB_STATS=1 belongs to the process that read it ---- */

void aslab__options_claim_stats(void) {
    static char claimed[48]; /* "ASLAB_STATS=" + a boolean's spelling + ":" + the pid */
    static int done;
    if (aslab__options.stats != ASLAB__STATS_SELF || done) return;
    char **slot = env_slot(environ, "ASLAB_STATS");
    if (slot == NULL) return; /* environ not set yet: the constructor comes back */
    done = 1;
    if (strchr(*slot, ':') != NULL) return; /* "1:<our pid>": exec'd in its claimer's place */
    line l = {.len = 0};
    put(&l, *slot);
    put(&l, ":");
    put_number(&l, aslab__options.read_by);
    if (l.len >= sizeof claimed) return; /* cannot happen: parse_STATS took the value */
    memcpy(claimed, l.text, l.len);
    claimed[l.len] = '\0';
    __atomic_store_n(slot, claimed, __ATOMIC_RELEASE); /* one pointer: a walker sees either */
}
