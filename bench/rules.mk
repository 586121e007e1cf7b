# bench/rules.mk - the malloc benchmarks (bench/README.md). Included by the top Makefile;
# none of it is part of `make test`, and it adds nothing to DEPS_PKGS.
#
#   make bench                 every workload, RUNS runs (5) per allocator, then the callgrind table
#   make bench-quick           the quick subset at reduced scale, 3 runs (a few minutes)
#   RUNS=N                     runs per allocator, for either
#   make bench BENCH=name      one workload (or several: BENCH=python,sqlite)
#   make bench-callgrind       instructions per malloc+free pair under the seven allocators
#   make bench-threads         the threaded workloads alone, one table (bench/shapes.sh; refuses
#                              to start above load 1.0 unless FORCE=1)
#   make bench-list            the workloads
#
# Each target first installs what it needs (tests/tools/install-deps.sh).

BENCH_BIN    := $(BUILD)/bench
BENCH_PROGS  := burst pairs mixed prodcons larson oversub frag xthread bulk pair_calls randsize realloc_grow remap_copy mstress walk calloc_sparse reuse_age zmalloc kvcache replace xmalloc sh6 sh8 simple larsonn gthread
BENCH_EXES   := $(BENCH_PROGS:%=$(BENCH_BIN)/%)
BENCH_CFLAGS := $(CSTD) $(WARN) -O2 -g -pthread
BENCH_PY     := /usr/bin/python3
BENCH_RUNNER := $(BENCH_PY) bench/run_bench.py
BENCH_PKGS   := libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4 libtbbmalloc2 libclang-rt-14-dev \
                time python3 sqlite3 redis-server redis-tools g++ lua5.4 perl valgrind gnuplot-nox
RUNS         ?= 5
# bench-quick makes 3 runs unless RUNS is given on the command line or in the environment.
QUICK_RUNS   := $(if $(filter command line environment,$(origin RUNS)),$(RUNS),3)

.PHONY: bench bench-quick bench-callgrind bench-threads bench-list bench-deps bench-build

$(BENCH_BIN)/%: bench/malloc/%.c bench/malloc/bench_util.h bench/malloc/handoff.h
	@mkdir -p $(BENCH_BIN)
	$(CC) $(BENCH_CFLAGS) $< -o $@

bench-deps:
	@$(DEPS) $(BENCH_PKGS)

bench-build:
	@$(MAKE) --no-print-directory malloc $(BENCH_EXES)

bench: bench-deps
	@$(MAKE) --no-print-directory bench-build
	$(BENCH_RUNNER) --runs $(RUNS) $(if $(BENCH),--only $(BENCH)) \
	    --invoked-as "make bench$(if $(BENCH), BENCH=$(BENCH)) RUNS=$(RUNS)"
	$(if $(BENCH),,$(BENCH_RUNNER) --callgrind --invoked-as "make bench (callgrind part)")

bench-quick: bench-deps
	@$(MAKE) --no-print-directory bench-build
	$(BENCH_RUNNER) --quick --runs $(QUICK_RUNS) $(if $(BENCH),--only $(BENCH)) \
	    --invoked-as "make bench-quick$(if $(BENCH), BENCH=$(BENCH)) RUNS=$(QUICK_RUNS)"

bench-callgrind: bench-deps
	@$(MAKE) --no-print-directory bench-build
	$(BENCH_RUNNER) --callgrind --invoked-as "make bench-callgrind"

bench-threads:
	bench/shapes.sh --runs $(RUNS) $(if $(FORCE),--force)

bench-list:
	@$(BENCH_RUNNER) --list
