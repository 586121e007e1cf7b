# aslab - a slab allocator core (libaslab) and, on it, a malloc.
#
#   make              the core (build/libaslab.a, .so) and the malloc (build/libaslab_malloc.so,
#                     .a, build/aslab-run)
#   make test         install what is missing, build, run every test suite (plain, ASan+UBSan,
#                     TSan), and check the freestanding and Cortex-M4 builds
#   make bench-core   the core's benchmarks (not part of make test)
#   make format lint  clang-format; cppcheck and clang-tidy

CC      ?= gcc
BUILD   := build
CSTD    := -std=gnu11
WARN    := -Wall -Wextra -Werror
CFLAGS  ?= -O2 -g
ALL_CFLAGS := $(CSTD) $(WARN) $(CFLAGS) -Iinclude
DEPS    := tests/tools/install-deps.sh
# The Debian packages a plain `make` needs, recommends named too (apt may skip them: gcc's
# libc6-dev, each cross compiler's C library), then those of `make test`: `make deps` installs
# DEPS_PKGS, to which each rules.mk fragment adds its own.
BUILD_PKGS := gcc libc6-dev libjemalloc-dev
DEPS_PKGS  := $(BUILD_PKGS) libcunit1-dev gcc-arm-none-eabi libnewlib-arm-none-eabi \
              gcc-aarch64-linux-gnu libc6-dev-arm64-cross

# Goals that install what they need first, or compile nothing; any other goal stops at once,
# with one line, when a package of BUILD_PKGS is missing.
INSTALLING_GOALS := deps test run test-real test-preload bench bench-quick bench-callgrind \
                    bench-deps bench-list test-real-quick fresh-machine clean format lint
ifneq ($(filter-out $(INSTALLING_GOALS),$(or $(MAKECMDGOALS),all)),)
MISSING_PKGS := $(shell $(DEPS) --missing $(BUILD_PKGS))
ifneq ($(MISSING_PKGS),)
$(error missing Debian packages $(MISSING_PKGS): `make deps` installs them (root or sudo), \
    as `make test` and `make run` do first)
endif
endif

# The libraries' version: the .so names (libaslab.so.0 -> libaslab.so.0.1.0), aslab.pc,
# aslab-malloc.pc and aslab-run --version. The first number is the SONAME's: raise it when a
# program built against the old library would break against the new one.
VERSION := 0.1.0
SO_MAJOR := $(firstword $(subst ., ,$(VERSION)))

CORE_SRC  := src/slab.c src/cache.c src/alloc.c src/free.c src/lend.c src/lock.c src/error.c
HOSTED_SRC := src/lock_futex.c
LIB_SRC   := $(CORE_SRC) $(HOSTED_SRC)
LIB_OBJ   := $(LIB_SRC:src/%.c=$(BUILD)/obj/%.o)
HEADERS   := include/aslab.h src/slab.h src/cpu_relax.h

TEST_CORE_SRC := $(wildcard tests/core/*.c)
TEST_CORE_HDR := $(wildcard tests/core/*.h)
TEST_FLAGS    := $(CSTD) $(WARN) -O1 -g -Iinclude -Itests/core
TEST_LIBS     := -lcunit -lpthread
SAN_ASAN      := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
SAN_TSAN      := -fsanitize=thread

.PHONY: all malloc install uninstall FORCE test deps fresh-machine test-example test-core test-core-asan test-core-tsan check-freestanding check-arm check-arm64 \
        check-link bench-core format lint clean

all: $(BUILD)/libaslab.a $(BUILD)/libaslab.so $(BUILD)/libaslab.so.$(SO_MAJOR) malloc

$(BUILD)/obj/%.o: src/%.c $(HEADERS) | $(BUILD)/obj
	$(CC) $(ALL_CFLAGS) -fPIC -fvisibility=hidden -c $< -o $@

$(BUILD)/obj $(BUILD)/freestanding $(BUILD)/arm $(BUILD)/arm64:
	mkdir -p $@

$(BUILD)/libaslab.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libaslab.so.$(VERSION): $(LIB_OBJ) src/aslab.map
	$(CC) -shared -Wl,-soname,libaslab.so.$(SO_MAJOR) -Wl,--version-script=src/aslab.map -o $@ \
	    $(LIB_OBJ)

# In build/ as in an installed lib/: the SONAME link (what a program loads) and the dev link
# (what -laslab finds), each to the next name down.
$(BUILD)/%.so.$(SO_MAJOR): $(BUILD)/%.so.$(VERSION)
	ln -sf $(<F) $@

$(BUILD)/%.so: $(BUILD)/%.so.$(SO_MAJOR)
	ln -sf $(<F) $@

# ---- the malloc: libaslab_malloc.so / .a, the launcher ------------------------------------

FALLBACK ?= jemalloc
MALLOC_DIR  := $(BUILD)/malloc-$(FALLBACK)
MALLOC_SRC  := $(filter-out src/malloc/fallback_%.c,$(wildcard src/malloc/*.c)) \
               $(wildcard src/malloc/fallback_$(FALLBACK)*.c) preload/override.c preload/override_new.c
MALLOC_HDR  := $(wildcard src/malloc/*.h) $(HEADERS)
MALLOC_OBJ  := $(patsubst %.c,$(MALLOC_DIR)/%.o,$(MALLOC_SRC) $(LIB_SRC))
# jemalloc is linked in, from Debian's libjemalloc_pic.a, rather than loaded as
# libjemalloc.so.2: that one pulls libstdc++ into every process (about 0.7 ms and 2 MiB per
# process start). Its constructor goes (jemalloc.pic.o's .init_array): the copy sets itself
# up at its first call, as it does on platforms without constructors, so that a process that
# never asks for a block above 1 MiB never runs its set-up, which faulted 0.6 MiB of its code
# and data into every process (a one-malloc program: 2.77 -> 2.18 MiB). A first call with
# the address space exhausted (RLIMIT_AS) gets NULL and ENOMEM, as with the constructor
# (test_options.c, test_scenarios.c).
# The copy is aslab's alone (src/malloc/fallback_jemalloc.h). Its C++ operators are left out;
# every public name N of it (mallocx, malloc_conf, malloc, ...) becomes aslab__je_N, so that a
# program's own jemalloc keeps those names to itself, and its calls that read configuration
# (secure_getenv of MALLOC_CONF, readlink of /etc/malloc.conf), map memory (mmap, munmap) or
# use libm (exp, log, round: its profiler's) go to aslab's functions of the same shape. Renaming the calls rather than patching the
# string "MALLOC_CONF" in place depends on no byte of jemalloc's data and also covers
# /etc/malloc.conf. Its internal je_* names stay as they are: MALLOC_MERGED hides them.
# The compiler's multiarch directory, asked quietly: before make deps installs a compiler,
# make must say what is missing, not `cc: No such file` (and nothing is built then).
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null || \
                     dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null)
JEMALLOC_PIC := /usr/lib/$(MULTIARCH)/libjemalloc_pic.a
JEMALLOC_EMBED := $(BUILD)/jemalloc/libjemalloc_private.a
JEMALLOC_REDIRECT := secure_getenv:aslab__je_getenv readlink:aslab__je_readlink \
                     mmap:aslab__je_mmap munmap:aslab__je_munmap \
                     exp:aslab__je_exp log:aslab__je_log round:aslab__je_round
# The copy's cold and start-up code goes after aslab's own code, not before it: the linker puts
# every .text.unlikely and .text.startup at the start of the library's text, where they took the
# place of aslab's code in the first 64 KiB that the kernel maps whole at the first fault there
# (docs/footprint.md). Renamed, they stay with the rest of the copy's code, after aslab's.
JEMALLOC_SECTIONS := --rename-section .text.unlikely=.text.jemalloc.cold \
                     --rename-section .text.startup=.text.jemalloc.startup
# What the library's objects need besides themselves; MALLOC_LIBS, what its sources need.
MALLOC_SYSLIBS_jemalloc := -static-libgcc # no -lm: fallback_jemalloc_math.c
MALLOC_LIBS_jemalloc := $(JEMALLOC_EMBED) $(MALLOC_SYSLIBS_jemalloc)
MALLOC_DEFS_libc     := -DASLAB_FALLBACK_LIBC
# No builtin malloc knowledge: GCC would turn our own malloc+memset into a call to calloc.
MALLOC_CFLAGS := $(ALL_CFLAGS) -fPIC -fvisibility=hidden -ftls-model=initial-exec \
    -fno-builtin-malloc -fno-builtin-calloc -fno-builtin-realloc -fno-builtin-free \
    -fno-tree-slp-vectorize \
    $(MALLOC_DEFS_$(FALLBACK))
PREFIX ?= /usr/local

malloc: $(BUILD)/libaslab_malloc.so $(BUILD)/libaslab_malloc.so.$(SO_MAJOR) \
        $(BUILD)/libaslab_malloc.a $(BUILD)/aslab-run

$(MALLOC_DIR)/%.o: %.c $(MALLOC_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(MALLOC_CFLAGS) $(if $(findstring override_new,$<),-fexceptions) -c $< -o $@

# Relink when FALLBACK changes: the stamp holds the fallback the library was built with.
$(BUILD)/fallback.stamp: FORCE
	@mkdir -p $(BUILD); echo $(FALLBACK) | cmp -s - $@ || echo $(FALLBACK) > $@

$(JEMALLOC_EMBED): $(JEMALLOC_PIC)
	rm -rf $(@D) && mkdir -p $(@D)/objs
	cd $(@D)/objs && ar x $(JEMALLOC_PIC) && rm -f jemalloc_cpp.pic.o
	objcopy --remove-section=.rela.init_array --remove-section=.init_array \
	    $(@D)/objs/jemalloc.pic.o
	nm -g --defined-only $(@D)/objs/*.o | awk 'NF == 3 && $$3 !~ /^je_/ {print $$3, "aslab__je_" $$3}' \
	    | sort -u > $(@D)/renames
	printf '%s\n' $(subst :, ,$(JEMALLOC_REDIRECT)) | paste -d ' ' - - >> $(@D)/renames
	for o in $(@D)/objs/*.o; do objcopy --redefine-syms=$(@D)/renames $(JEMALLOC_SECTIONS) $$o \
	    || exit 1; done
	ar rcs $@ $(@D)/objs/*.o

MALLOC_EMBED_jemalloc := $(JEMALLOC_EMBED)

# The malloc, the copy of the core it runs on and its jemalloc, partly linked (ld -r) into one
# object of which only the malloc API (preload/exports.map) stays global: the .so and the .a
# are both made of it, so neither shows jemalloc's names (public or je_*), the core copy's, or
# the hooks the malloc gives that copy, and a program may link the core with hooks of its own
# beside it. Chosen over a prefix on every name: one list of what is exported, kept in one
# place, rather than a list of everything that must not be, which grows with each jemalloc.
MALLOC_EXPORTS := $(MALLOC_DIR)/exports.list
MALLOC_MERGED  := $(MALLOC_DIR)/aslab_malloc.o
# The public core (its aslab_* names only, calling the program's hooks) goes into the .a too.
CORE_MERGED    := $(BUILD)/aslab_core.o

$(MALLOC_EXPORTS): preload/exports.map
	@mkdir -p $(@D)
	awk '/global:/ {on = 1; next} /local:/ {on = 0} on' $< | tr ';' '\n' | tr -d ' ' \
	    | grep -v '^$$' > $@

$(MALLOC_MERGED): $(MALLOC_OBJ) $(MALLOC_EMBED_$(FALLBACK)) $(MALLOC_EXPORTS)
	$(LD) -r -o $@.all $(MALLOC_OBJ) $(MALLOC_EMBED_$(FALLBACK))
	objcopy --keep-global-symbols=$(MALLOC_EXPORTS) $@.all $@ && rm -f $@.all

$(CORE_MERGED): $(LIB_OBJ)
	$(LD) -r -o $@.all $(LIB_OBJ)
	objcopy --wildcard --keep-global-symbol='aslab_[a-z]*' $@.all $@ && rm -f $@.all

# A file just written sits in the page cache in large folios, and the kernel maps a whole folio
# (128 KiB and more) at a fault in it: every process that preloads the library then counts
# pages of code it never runs. Written out and dropped from the cache, the file is read back
# as any installed library is, and a fault maps at most the 64 KiB around it
# (docs/footprint.md). Best effort: a file system that refuses leaves the file as it is.
drop_cached = sync $(1) && dd if=$(1) iflag=nocache count=0 status=none || true

# -z now: the library's calls into libc are bound as it loads, not at their first call, whose
# lazy binding (_dl_runtime_resolve, the vector registers saved on the stack) took 3-4 KiB of
# the calling thread's stack: too much for a thread made with a 16 KiB stack (test-small-stack).
# The rest keeps what every process maps of the library small (docs/footprint.md): relative
# relocations packed (DT_RELR: the table ld.so reads at load, 32 KiB -> 0.4 KiB); no DT_FINI,
# whose empty _fini at the end of the text made every exit fault in the last 64 KiB of the
# fallback's code (ld leaves DT_FINI out when the symbol -fini names does not exist).
$(BUILD)/libaslab_malloc.so.$(VERSION): $(MALLOC_MERGED) preload/exports.map $(BUILD)/fallback.stamp
	$(CC) -shared -Wl,--version-script=preload/exports.map -Wl,-z,nodelete -Wl,-z,now -Wl,-z,relro \
	    -Wl,-z,pack-relative-relocs -Wl,-fini=aslab__no_dt_fini \
	    -o $@ $(MALLOC_MERGED) \
	    $(MALLOC_SYSLIBS_$(FALLBACK)) -lpthread -Wl,-soname,libaslab_malloc.so.$(SO_MAJOR)
	$(call drop_cached,$@)

# Link it with -lpthread only; it holds the fallback and the public core too.
$(BUILD)/libaslab_malloc.a: $(MALLOC_MERGED) $(CORE_MERGED) $(BUILD)/fallback.stamp
	rm -f $@ && ar rcs $@ $(MALLOC_MERGED) $(CORE_MERGED)

# aslab-run for the library in directory $1 and the comparison script $2 (bench/run/run.sh,
# installed as libexec/aslab/compare.sh).
aslab_run_in = sed -e 's|@LIB@|$1/libaslab_malloc.so.$(SO_MAJOR)|' -e 's|@COMPARE@|$2|' \
                   -e 's|@VERSION@|$(VERSION)|' preload/aslab-run.in

$(BUILD)/aslab-run: preload/aslab-run.in $(BUILD)/libaslab_malloc.so.$(SO_MAJOR)
	$(call aslab_run_in,$(abspath $(BUILD)),$(abspath bench/run/run.sh)) > $@ && chmod +x $@

# What install puts under PREFIX, and uninstall removes: no more, no less (make test-link).
INSTALLED := $(foreach lib,libaslab libaslab_malloc, \
                 lib/$(lib).a lib/$(lib).so.$(VERSION) lib/$(lib).so.$(SO_MAJOR) lib/$(lib).so) \
             lib/pkgconfig/aslab.pc lib/pkgconfig/aslab-malloc.pc include/aslab.h bin/aslab-run \
             libexec/aslab/compare.sh

# No rpath: the libraries are found through ld.so's cache (run ldconfig after installing into
# a system directory), LD_LIBRARY_PATH or the program's own rpath.
install: all malloc
	install -d $(addprefix $(DESTDIR)$(PREFIX)/,lib lib/pkgconfig include bin libexec/aslab)
	install -m 644 $(BUILD)/libaslab.a $(BUILD)/libaslab_malloc.a $(DESTDIR)$(PREFIX)/lib
	install -m 755 $(BUILD)/libaslab.so.$(VERSION) $(BUILD)/libaslab_malloc.so.$(VERSION) \
	    $(DESTDIR)$(PREFIX)/lib
	$(call drop_cached,$(DESTDIR)$(PREFIX)/lib/libaslab_malloc.so.$(VERSION))
	for lib in libaslab libaslab_malloc; do \
	    ln -sf $$lib.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/$$lib.so.$(SO_MAJOR) && \
	    ln -sf $$lib.so.$(SO_MAJOR) $(DESTDIR)$(PREFIX)/lib/$$lib.so || exit 1; \
	done
	install -m 644 include/aslab.h $(DESTDIR)$(PREFIX)/include
	$(call aslab_run_in,$(PREFIX)/lib,$(PREFIX)/libexec/aslab/compare.sh) \
	    > $(DESTDIR)$(PREFIX)/bin/aslab-run
	chmod 755 $(DESTDIR)$(PREFIX)/bin/aslab-run
	install -m 755 bench/run/run.sh $(DESTDIR)$(PREFIX)/libexec/aslab/compare.sh
	for pc in aslab aslab-malloc; do \
	    sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' preload/$$pc.pc.in \
	        > $(DESTDIR)$(PREFIX)/lib/pkgconfig/$$pc.pc || exit 1; \
	done

uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/,$(INSTALLED))
	rmdir $(DESTDIR)$(PREFIX)/libexec/aslab 2>/dev/null || true

FORCE:

# ---- tests ----------------------------------------------------------------------------------

deps:
	@$(DEPS) $(sort $(DEPS_PKGS))

test: deps
	@$(MAKE) --no-print-directory all test-core test-core-asan test-core-tsan \
	    test-example check-freestanding check-link check-arm check-arm64 $(TEST_TARGETS)
	@echo "make test: all suites passed"

# The README's two commands on a fresh Debian 12 root (tests/tools/fresh-machine.sh): not
# part of make test, since it needs root, the Debian mirror and minutes. FRESH_ARGS='--only
# test --keep', for example.
fresh-machine:
	@$(DEPS) debootstrap git
	tests/tools/fresh-machine.sh $(FRESH_ARGS)

$(BUILD)/test_core: $(TEST_CORE_SRC) $(TEST_CORE_HDR) $(BUILD)/libaslab.a
	$(CC) $(TEST_FLAGS) $(TEST_CORE_SRC) $(BUILD)/libaslab.a $(TEST_LIBS) -o $@

$(BUILD)/test_core_asan: $(TEST_CORE_SRC) $(TEST_CORE_HDR) $(LIB_SRC) $(HEADERS)
	$(CC) $(TEST_FLAGS) $(SAN_ASAN) $(TEST_CORE_SRC) $(LIB_SRC) $(TEST_LIBS) -o $@

$(BUILD)/test_core_tsan: $(TEST_CORE_SRC) $(TEST_CORE_HDR) $(LIB_SRC) $(HEADERS)
	$(CC) $(TEST_FLAGS) $(SAN_TSAN) $(TEST_CORE_SRC) $(LIB_SRC) $(TEST_LIBS) -o $@

test-core: $(BUILD)/test_core
	$(BUILD)/test_core

test-core-asan: $(BUILD)/test_core_asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    $(BUILD)/test_core_asan

test-core-tsan: $(BUILD)/test_core_tsan
	TSAN_OPTIONS=halt_on_error=1 setarch -R $(BUILD)/test_core_tsan

$(BUILD)/example: tests/example/example.c $(BUILD)/libaslab.a
	$(CC) $(ALL_CFLAGS) $< $(BUILD)/libaslab.a -o $@

test-example: $(BUILD)/example
	@tests/tools/check-readme-example.sh
	$(BUILD)/example

# The core objects build freestanding and need nothing but the two hooks, memset and memcpy.
FREESTANDING_FLAGS := $(CSTD) $(WARN) -O2 -ffreestanding -fno-builtin -Iinclude
ALLOWED_UNDEFINED  := aslab_hook_slab_alloc aslab_hook_slab_free memset memcpy

check-freestanding: | $(BUILD)/freestanding
	@for f in $(CORE_SRC); do \
	    $(CC) $(FREESTANDING_FLAGS) -c $$f -o $(BUILD)/freestanding/$$(basename $$f .c).o || exit 1; \
	done
	@tests/tools/check-undefined.sh nm "$(ALLOWED_UNDEFINED)" $(BUILD)/freestanding/*.o

ARM_CC    := arm-none-eabi-gcc
ARM_FLAGS := -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16

check-arm: | $(BUILD)/arm
	@for f in $(CORE_SRC); do \
	    $(ARM_CC) $(ARM_FLAGS) $(FREESTANDING_FLAGS) -c $$f -o $(BUILD)/arm/$$(basename $$f .c).o || exit 1; \
	done
	@tests/tools/check-undefined.sh arm-none-eabi-nm "$(ALLOWED_UNDEFINED)" $(BUILD)/arm/*.o
	@arm-none-eabi-size $(BUILD)/arm/*.o | tail -n +2 | awk '{t+=$$1+$$2} END {print "check-arm: core for Cortex-M4 is " t " bytes of code and data"}'

# arm64 (48-bit user addresses, mmap near 2^48): the core freestanding with nothing undefined
# but the hooks and memset/memcpy (atomics inline: no libgcc helper), and the malloc's sources
# as they build for Linux on it.
ARM64_CC := aarch64-linux-gnu-gcc

check-arm64: | $(BUILD)/arm64
	@for f in $(CORE_SRC); do \
	    $(ARM64_CC) $(FREESTANDING_FLAGS) -mno-outline-atomics -c $$f -o $(BUILD)/arm64/$$(basename $$f .c).o || exit 1; \
	done
	@tests/tools/check-undefined.sh aarch64-linux-gnu-nm "$(ALLOWED_UNDEFINED)" $(BUILD)/arm64/*.o
	@mkdir -p $(BUILD)/arm64-malloc; for f in $(filter-out $(CORE_SRC),$(LIB_SRC) $(MALLOC_SRC)); do \
	    $(ARM64_CC) $(MALLOC_CFLAGS) -c $$f -o $(BUILD)/arm64-malloc/$$(basename $$f .c).o || exit 1; \
	done
	@echo "check-arm64: the core and the malloc's sources build for arm64"

# A program that uses the core but defines no hooks must fail to link.
check-link: $(BUILD)/libaslab.a
	@tests/tools/check-link-fails.sh $(CC) $(BUILD)/libaslab.a

# ---- benchmarks --------------------------------------------------------------------------------

BENCH_FLAGS := $(CSTD) $(WARN) -O2 -g -Iinclude

$(BUILD)/bench_core: bench/core/bench_core.c bench/core/bench_hooks.c $(BUILD)/libaslab.a
	$(CC) $(BENCH_FLAGS) bench/core/bench_core.c bench/core/bench_hooks.c $(BUILD)/libaslab.a -lpthread -o $@

$(BUILD)/pair_loop: bench/core/pair_loop.c bench/core/bench_hooks.c $(BUILD)/libaslab.a
	$(CC) $(BENCH_FLAGS) bench/core/pair_loop.c bench/core/bench_hooks.c $(BUILD)/libaslab.a -lpthread -o $@

bench-core: $(BUILD)/bench_core $(BUILD)/pair_loop
	$(BUILD)/bench_core $(BENCH_ARGS)
	bench/core/callgrind_pairs.sh $(BUILD)/pair_loop

# ---- hygiene -------------------------------------------------------------------------------

FORMAT_FILES = $(shell git ls-files '*.c' '*.h') $(wildcard tests/core/*.[ch] bench/core/*.[ch])

format:
	clang-format -i $(sort $(FORMAT_FILES))

LINT_SRC = $(LIB_SRC) $(MALLOC_SRC)

lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	    --inline-suppr -Iinclude -Isrc $(LINT_SRC)
	clang-tidy --quiet $(LINT_SRC) -- $(CSTD) -Iinclude

clean:
	rm -rf $(BUILD)

# ---- parts with rules of their own -------------------------------------------------------
# Each fragment adds its targets, appends to TEST_TARGETS (run by make test after the
# core's suites) and names the Debian packages it needs in DEPS_PKGS.
-include tests/malloc/rules.mk tests/preload/rules.mk tests/stress/rules.mk tests/fuzz/rules.mk \
         tests/isolation/rules.mk \
         bench/rules.mk bench/run/rules.mk tests/real/rules.mk tests/link/rules.mk
