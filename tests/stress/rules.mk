# tests/stress: the malloc under load, linked statically with build/libaslab_malloc.a, and the
# same programs on glibc's malloc (build/*-libc) for comparison.
#
#   make test-stress        stress, 25 s on aslab and 5 s on glibc (part of make test)
#   make test-fork-storm    1000 forks while 8 threads allocate (part of make test)
#   make test-thread-churn  10,000 threads; RSS bound (part of make test)
#   make test-mem-return    1 GiB freed: RSS back after malloc_trim(0), and after the decay
#   make stress SECONDS=N   stress for N seconds (default 60) on aslab, then on glibc

STRESS_DIR    := tests/stress
STRESS_CFLAGS := $(CSTD) $(WARN) -O2 -g -Iinclude
STRESS_ASLAB  := $(BUILD)/libaslab_malloc.a $(MALLOC_LIBS_$(FALLBACK)) -lpthread
STRESS_PROGS  := stress fork_storm thread_churn mem_return
STRESS_SEED   ?= 1
STRESS_ARGS   ?=

$(foreach p,$(STRESS_PROGS),$(eval $(BUILD)/$(p): $(STRESS_DIR)/$(p).c $(STRESS_DIR)/util.h tests/tools/rss.h \
    $(BUILD)/libaslab_malloc.a ; @mkdir -p $(BUILD) && \
    $$(CC) $$(STRESS_CFLAGS) -DSTRESS_ALLOCATOR='"aslab"' $$< $$(STRESS_ASLAB) -o $$@))
$(foreach p,$(STRESS_PROGS),$(eval $(BUILD)/$(p)-libc: $(STRESS_DIR)/$(p).c \
    $(STRESS_DIR)/util.h tests/tools/rss.h ; @mkdir -p $(BUILD) && $$(CC) $$(STRESS_CFLAGS) $$< -lpthread -o $$@))

.PHONY: stress stress-build test-stress test-fork-storm test-thread-churn test-mem-return

stress-build: $(STRESS_PROGS:%=$(BUILD)/%) $(STRESS_PROGS:%=$(BUILD)/%-libc)

test-stress: $(BUILD)/stress $(BUILD)/stress-libc
	$(BUILD)/stress --seconds 25 --seed $(STRESS_SEED) $(STRESS_ARGS)
	$(BUILD)/stress-libc --seconds 5 --seed $(STRESS_SEED) $(STRESS_ARGS)

stress: $(BUILD)/stress $(BUILD)/stress-libc
	$(BUILD)/stress --seconds $(if $(SECONDS),$(SECONDS),60) --seed $(STRESS_SEED) $(STRESS_ARGS)
	$(BUILD)/stress-libc --seconds $(if $(SECONDS),$(SECONDS),60) --seed $(STRESS_SEED) \
	    $(STRESS_ARGS)

test-fork-storm: $(BUILD)/fork_storm
	$(BUILD)/fork_storm --forks 1000 --threads 8 --timeout 10

test-thread-churn: $(BUILD)/thread_churn
	$(BUILD)/thread_churn --threads 10000 --concurrent 4 --bound-mib 16

# Both checks run even when the first fails.
test-mem-return: $(BUILD)/mem_return
	@rc=0; \
	echo "$(BUILD)/mem_return --trim"; $(BUILD)/mem_return --trim || rc=1; \
	echo "$(BUILD)/mem_return --decay --wait 3"; $(BUILD)/mem_return --decay --wait 3 || rc=1; \
	exit $$rc

TEST_TARGETS += test-stress test-fork-storm test-thread-churn test-mem-return
