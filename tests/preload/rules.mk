# tests/preload/rules.mk - `make test-preload`: real programs (Debian's python3, a C++
# program, sort, git, xz, zstd, a cross-thread C program) under LD_PRELOAD of
# libaslab_malloc.so, their outputs compared byte for byte with the same runs under glibc.
# Installs its own packages first, so that it also works alone on a fresh machine.

PRELOAD_PKGS := python3 g++ git coreutils diffutils xz-utils zstd mawk sed grep
PRELOAD_BIN  := $(BUILD)/preload-tests
PRELOAD_PROGS := $(PRELOAD_BIN)/churn $(PRELOAD_BIN)/threads

TEST_TARGETS += test-preload
DEPS_PKGS    += $(PRELOAD_PKGS)

.PHONY: test-preload test-preload-run

$(PRELOAD_BIN):
	mkdir -p $@

$(PRELOAD_BIN)/churn: tests/preload/churn.cpp | $(PRELOAD_BIN)
	$(CXX) -std=c++17 $(WARN) -O2 -g $< -o $@

$(PRELOAD_BIN)/threads: tests/preload/threads.c | $(PRELOAD_BIN)
	$(CC) $(CSTD) $(WARN) -O2 -g -pthread $< -o $@

# Packages first, then the library and the programs (a recursive make, as `make test` does,
# so that nothing is compiled before g++ and libjemalloc-dev are there).
test-preload:
	@$(DEPS) $(BUILD_PKGS) $(PRELOAD_PKGS)
	@$(MAKE) --no-print-directory test-preload-run

# PRELOAD_CASES=git (for example) runs only those cases.
test-preload-run: malloc $(PRELOAD_PROGS)
	tests/preload/run.sh $(strip $(BUILD) $(PRELOAD_CASES))
