# tests/malloc/rules.mk - the malloc's CUnit suites, included by the top Makefile.
#
#   make test-malloc        build/test_malloc: the suites against build/libaslab_malloc.a;
#                           linked statically, so the binary's own malloc IS aslab's
#   make test-malloc-ubsan  the same with UBSan, the library's sources compiled in with it
#
# ASan and TSan cannot be used here: their runtimes replace malloc, free and the rest
# themselves (to put redzones and shadow state around every block), so under them the
# suites would test the sanitizer's allocator, not aslab's, and aslab's own symbols would
# clash with their interceptors. UBSan leaves the allocator alone.

TM_SRC     := $(filter-out tests/malloc/tsan_%.c,$(wildcard tests/malloc/*.c))
TM_HDR     := $(wildcard tests/malloc/*.h) tests/tools/rss.h
# Library sources the suites call directly, compiled in beside the library (whose copies of
# them are local to it): functions of their arguments alone, no state shared with the copy.
TM_UNIT    := src/malloc/clear.c src/malloc/os.c
# -fno-builtin: the compiler must not fold or elide the calls under test (malloc(SIZE_MAX),
# a malloc/free pair whose block is unused).
TM_FLAGS   := $(CSTD) $(WARN) -O1 -g -fno-builtin -Iinclude -Itests/malloc \
              -DTM_FALLBACK=\"$(FALLBACK)\" $(MALLOC_DEFS_$(FALLBACK))
# What the library's sources need for their fallback, as the top Makefile says for the
# FALLBACK it builds (the embedded jemalloc); with jemalloc, test_foreign.c also links
# Debian's libjemalloc.so itself, as a program with its own jemalloc does: aslab's copy is
# private. After the library on the command line, so that malloc stays aslab's.
TM_OWN_JEMALLOC_jemalloc := -ljemalloc
TM_LIBS    := $(MALLOC_LIBS_$(FALLBACK)) $(TM_OWN_JEMALLOC_$(FALLBACK)) -lcunit -lpthread -lm
TM_UBSAN   := -fsanitize=undefined -fno-sanitize-recover=all
TM_UBSAN_DIR := $(BUILD)/test-malloc-ubsan-$(FALLBACK)
TM_UBSAN_OBJ := $(patsubst %.c,$(TM_UBSAN_DIR)/%.o,$(MALLOC_SRC) $(LIB_SRC))

.PHONY: test-malloc test-malloc-ubsan

$(BUILD)/test_malloc: $(TM_SRC) $(TM_HDR) $(TM_UNIT) $(BUILD)/libaslab_malloc.a
	$(CC) $(TM_FLAGS) $(TM_SRC) $(TM_UNIT) $(BUILD)/libaslab_malloc.a $(TM_LIBS) -o $@

$(TM_UBSAN_DIR)/%.o: %.c $(MALLOC_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(MALLOC_CFLAGS) $(TM_UBSAN) $(if $(findstring override_new,$<),-fexceptions) -c $< -o $@

$(BUILD)/test_malloc_ubsan: $(TM_SRC) $(TM_HDR) $(TM_UBSAN_OBJ) $(MALLOC_EMBED_$(FALLBACK))
	$(CC) $(TM_FLAGS) $(TM_UBSAN) $(TM_SRC) $(TM_UBSAN_OBJ) $(TM_LIBS) -o $@

test-malloc: $(BUILD)/test_malloc
	$(BUILD)/test_malloc

test-malloc-ubsan: $(BUILD)/test_malloc_ubsan
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 $(BUILD)/test_malloc_ubsan

TEST_TARGETS += test-malloc test-malloc-ubsan
DEPS_PKGS    += libcunit1-dev libjemalloc-dev

# The cross-thread paths under ThreadSanitizer: the library's own sources (not the exported
# names, which would fight TSan's malloc) built with -fsanitize=thread, driven through the
# internal entry points. Only the jemalloc build: the libc fallback's __libc_* names are TSan's.
TM_TSAN_SRC := $(filter-out preload/%,$(MALLOC_SRC)) $(LIB_SRC)

$(BUILD)/tsan_remote: tests/malloc/tsan_remote.c $(TM_TSAN_SRC) $(MALLOC_HDR) $(MALLOC_EMBED_$(FALLBACK))
	$(CC) $(MALLOC_CFLAGS) -O1 -fsanitize=thread $< $(TM_TSAN_SRC) $(MALLOC_LIBS_$(FALLBACK)) \
	    -lpthread -o $@

test-malloc-tsan: $(if $(filter jemalloc,$(FALLBACK)),$(BUILD)/tsan_remote)
	$(if $(filter jemalloc,$(FALLBACK)),TSAN_OPTIONS=halt_on_error=1 setarch -R $(BUILD)/tsan_remote,@echo "test-malloc-tsan: skipped with FALLBACK=$(FALLBACK)")
	$(if $(filter jemalloc,$(FALLBACK)),ASLAB_DECAY_MS=0 TSAN_OPTIONS=halt_on_error=1 setarch -R $(BUILD)/tsan_remote --bursts)

.PHONY: test-malloc-tsan
TEST_TARGETS += test-malloc-tsan
