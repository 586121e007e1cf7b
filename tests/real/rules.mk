# tests/real/rules.mk - `make test-real`: real projects' own regression suites (Python 3.11's,
# from Debian's libpython3.11-testsuite, and GLib's installed tests, from libglib2.0-tests)
# under LD_PRELOAD of libaslab_malloc.so, each test module or program's verdict compared with
# the same run under glibc. `make test-real-quick` (part of `make test`) runs a subset of both
# in about a minute and a half; `make test-real` runs all of them.
# Installs its own packages first, so that it also works alone on a fresh machine.

REAL_PKGS := python3 libpython3.11-testsuite libglib2.0-tests coreutils findutils mawk sed grep

TEST_TARGETS += test-real-quick
DEPS_PKGS    += $(REAL_PKGS)

REAL_MODE ?= quick

.PHONY: test-real test-real-quick test-real-run

# Packages first, then the library (a recursive make, as `make test` does, so that nothing
# is compiled before libjemalloc-dev is there).
test-real:
	@$(DEPS) $(BUILD_PKGS) $(REAL_PKGS)
	@$(MAKE) --no-print-directory test-real-run REAL_MODE=full

test-real-quick:
	@$(DEPS) $(BUILD_PKGS) $(REAL_PKGS)
	@$(MAKE) --no-print-directory test-real-run REAL_MODE=quick

# REAL_SUITES=python (for example) runs only those suites; JOBS=N items at a time.
test-real-run: malloc
	tests/real/run.sh $(strip $(BUILD) $(REAL_MODE) $(REAL_SUITES))
