# bench/run/rules.mk - `make run`: a real program under glibc and under aslab, timed.
#
#   make run                         Debian's python3 (PYTHONMALLOC=malloc) on workload.py
#   make run CMD='sort big.txt'      any command line (run by bash, in this directory)
#   make run RUNS=5                  runs per allocator (default 3), interleaved; medians
#
# Installs what it needs, then builds the library (a recursive make, as `make test` does,
# so that nothing is compiled before libjemalloc-dev is there).

RUN_PKGS := $(BUILD_PKGS) python3 time coreutils mawk diffutils
# RUNS is shared with bench/rules.mk, whose default is 5; make run's default is 3.
RUN_RUNS := $(if $(filter command line environment,$(origin RUNS)),$(RUNS),3)

.PHONY: run run-bench

run:
	@$(DEPS) $(RUN_PKGS)
	@$(MAKE) --no-print-directory run-bench

# $(value CMD): the command line exactly as given, `$` included.
run-bench: export ASLAB_RUN_CMD := $(value CMD)
run-bench: export RUNS := $(RUN_RUNS)
run-bench: malloc
	@bench/run/run.sh $(BUILD) "$$ASLAB_RUN_CMD"
