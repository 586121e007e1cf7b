# tests/isolation/rules.mk - `make test-isolation`: aslab's malloc shares a process with
# other allocators and shows nothing of its insides (tests/isolation/run.sh):
#   - symbols.sh: libaslab_malloc.so exports the malloc API only, libaslab_malloc.a that API
#     and the core's aslab_* names (no jemalloc name, no malloc_conf, no hook);
#   - layout.sh: what a process maps of libaslab_malloc.so stays small (aslab's code before the
#     fallback's, no DT_FINI, packed relocations: docs/footprint.md); untouched: a program that
#     mallocs and frees under it maps none of its read-only data;
#   - core_and_malloc: the core with the program's own hooks, and -laslab_malloc, in one
#     program (the core from libaslab_malloc.a, and from libaslab.a);
#   - own_jemalloc: a program linking Debian's libjemalloc.so, aslab preloaded or linked
#     statically: its jemalloc keeps its options and its API, and gets its blocks back;
#   - no_jemalloc: aslab's jemalloc ignores MALLOC_CONF; a pointer of nobody's aborts;
#   - deepbind: a block from a library opened with RTLD_DEEPBIND (whose malloc is libc's)
#     freed by the program aborts with the same line; opened without it, the block is aslab's.

ISO_BIN   := $(BUILD)/isolation
ISO_FLAGS := $(CSTD) $(WARN) -O1 -g -Iinclude
ISO_LIBS  := $(MALLOC_SYSLIBS_$(FALLBACK)) -lpthread
ISO_PROGS := $(addprefix $(ISO_BIN)/,core_and_malloc core_and_malloc_two_libs own_jemalloc \
                 own_jemalloc_static no_jemalloc no_jemalloc_static untouched deepbind \
                 deepbind_lib.so)

.PHONY: test-isolation

$(ISO_BIN)/core_and_malloc: tests/isolation/core_and_malloc.c $(BUILD)/libaslab_malloc.a
	@mkdir -p $(@D)
	$(CC) $(ISO_FLAGS) $< $(BUILD)/libaslab_malloc.a $(ISO_LIBS) -o $@

$(ISO_BIN)/core_and_malloc_two_libs: tests/isolation/core_and_malloc.c $(BUILD)/libaslab.a \
                                     $(BUILD)/libaslab_malloc.a
	@mkdir -p $(@D)
	$(CC) $(ISO_FLAGS) $< $(BUILD)/libaslab.a $(BUILD)/libaslab_malloc.a $(ISO_LIBS) -o $@

$(ISO_BIN)/own_jemalloc: tests/isolation/own_jemalloc.c
	@mkdir -p $(@D)
	$(CC) $(ISO_FLAGS) $< -ljemalloc -o $@

# The library before -ljemalloc: malloc is aslab's, mallocx the program's jemalloc's.
$(ISO_BIN)/own_jemalloc_static: tests/isolation/own_jemalloc.c $(BUILD)/libaslab_malloc.a
	@mkdir -p $(@D)
	$(CC) $(ISO_FLAGS) $< $(BUILD)/libaslab_malloc.a -ljemalloc $(ISO_LIBS) -o $@

$(ISO_BIN)/no_jemalloc: tests/isolation/no_jemalloc.c
	@mkdir -p $(@D)
	$(CC) $(ISO_FLAGS) $< -o $@

$(ISO_BIN)/untouched: tests/isolation/untouched.c
	@mkdir -p $(@D)
	$(CC) $(ISO_FLAGS) $< -o $@

$(ISO_BIN)/deepbind: tests/isolation/deepbind.c
	@mkdir -p $(@D)
	$(CC) $(ISO_FLAGS) $< -ldl -o $@

$(ISO_BIN)/deepbind_lib.so: tests/isolation/deepbind_lib.c
	@mkdir -p $(@D)
	$(CC) $(ISO_FLAGS) -shared -fPIC $< -o $@

$(ISO_BIN)/no_jemalloc_static: tests/isolation/no_jemalloc.c $(BUILD)/libaslab_malloc.a
	@mkdir -p $(@D)
	$(CC) $(ISO_FLAGS) $< $(BUILD)/libaslab_malloc.a $(ISO_LIBS) -o $@

test-isolation: malloc $(ISO_PROGS)
	tests/isolation/run.sh $(BUILD) $(ISO_BIN) $(FALLBACK)

TEST_TARGETS += test-isolation
DEPS_PKGS    += libjemalloc-dev
