# tests/fuzz: libFuzzer harnesses, built with clang -fsanitize=fuzzer,address,undefined:
# fuzz_core drives the core API (include/aslab.h) against core_model.c; fuzz_malloc drives the
# malloc's internal entry points (src/malloc/api.h; the exported names would fight the
# sanitizer's own malloc) against a model of blocks.
#
#   make fuzz SECONDS=N   fuzz_core and fuzz_malloc N seconds each (default 60), then fuzz_malloc
#                         N/2 s more with ASLAB_DECAY_MS=0; corpora grow in
#                         build/fuzz-corpus
#   make test-fuzz        the same with N = 20 (part of make test; skipped without libFuzzer)

FUZZ_CC      ?= clang
FUZZ_DIR     := tests/fuzz
FUZZ_SAN     := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
                -fno-omit-frame-pointer
FUZZ_HDR     := $(wildcard $(FUZZ_DIR)/*.h) $(HEADERS)
FUZZ_CORE    := $(FUZZ_DIR)/fuzz_core.c $(FUZZ_DIR)/core_model.c
FUZZ_LIBSRC  := $(filter-out preload/%,$(MALLOC_SRC)) $(LIB_SRC)
FUZZ_TEST_SECONDS ?= 20
FUZZ_SECONDS  = $(if $(SECONDS),$(SECONDS),60)

$(BUILD)/fuzz_core: $(FUZZ_CORE) $(LIB_SRC) $(FUZZ_HDR)
	@mkdir -p $(BUILD)
	$(FUZZ_CC) $(CSTD) $(WARN) -g -O1 $(FUZZ_SAN) -Iinclude -Isrc $(FUZZ_CORE) $(LIB_SRC) \
	    -lpthread -o $@

# The library's own flags, so that the fuzzed code is the code that ships.
$(BUILD)/fuzz_malloc: $(FUZZ_DIR)/fuzz_malloc.c $(FUZZ_LIBSRC) $(FUZZ_HDR) $(MALLOC_HDR) \
                      $(MALLOC_EMBED_$(FALLBACK))
	@mkdir -p $(BUILD)
	$(FUZZ_CC) $(MALLOC_CFLAGS) $(FUZZ_SAN) $< $(FUZZ_LIBSRC) $(MALLOC_LIBS_$(FALLBACK)) \
	    -lpthread -o $@

# With FALLBACK=libc the fallback calls glibc's __libc_* functions, and ASan intercepts one of
# them (__libc_memalign): the fallback's usable-size reader then reads an ASan redzone. Only the
# jemalloc build's malloc is fuzzed.
FUZZ_MALLOC := $(if $(filter jemalloc,$(FALLBACK)),yes)

.PHONY: fuzz fuzz-build test-fuzz

fuzz-build: $(BUILD)/fuzz_core $(if $(FUZZ_MALLOC),$(BUILD)/fuzz_malloc)

FUZZ_RUN = sh $(FUZZ_DIR)/run.sh $(1) $(BUILD)/fuzz_$(2) $(2) $(3) $(BUILD)

fuzz: fuzz-build
	@rc=0; \
	$(call FUZZ_RUN,core,core,$(FUZZ_SECONDS)) || rc=1; \
	if [ -z "$(FUZZ_MALLOC)" ]; then echo "fuzz malloc: skipped with FALLBACK=$(FALLBACK)"; \
	    exit $$rc; fi; \
	$(call FUZZ_RUN,malloc,malloc,$(FUZZ_SECONDS)) || rc=1; \
	ASLAB_DECAY_MS=0 \
	    $(call FUZZ_RUN,malloc-direct,malloc,$(shell expr $(FUZZ_SECONDS) / 2)) || rc=1; \
	exit $$rc

FUZZ_PROBE = printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' \
    | $(FUZZ_CC) -fsanitize=fuzzer -x c - -o $(BUILD)/fuzz-probe >/dev/null 2>&1

test-fuzz:
	@mkdir -p $(BUILD); if $(FUZZ_PROBE); then \
	    $(MAKE) --no-print-directory fuzz SECONDS=$(FUZZ_TEST_SECONDS); \
	else \
	    echo "test-fuzz: skipped: no $(FUZZ_CC) with libFuzzer (Debian: clang libclang-rt-14-dev)"; \
	fi

DEPS_PKGS    += clang libclang-rt-14-dev
TEST_TARGETS += test-fuzz
