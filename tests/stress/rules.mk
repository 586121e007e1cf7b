# tests/stress: the malloc under load, linked statically with build/libaslab_malloc.a, and the
# same programs on glibc's malloc (build/*-libc) for comparison.
#
#   make test-stress        stress, 25 s on aslab and 5 s on glibc (part of make test)
#   make test-fork-storm    1000 forks while 8 threads allocate (part of make test)
#   make test-thread-churn  10,000 threads; RSS bound (part of make test)
#   make test-mem-return    1 GiB freed: RSS back after malloc_trim(0), and after the decay
#                           (the optional thread; by default, with calls while it waits)
#   make test-tls-hang      threads on their own stacks with dlopened TLS are joined (no hang)
#   make test-quiet         no thread of aslab's own: one task, unshare(CLONE_NEWUSER) works
#   make test-small-stack   threads on 16 KiB stacks allocate; aslab's static TLS within 7 KiB
#   make test-many-threads  500 threads holding 2 blocks of 20 sizes: RSS a thread <= 180 KiB
#   make test-secure-env    a set-user-ID program takes no ASLAB_* options (as root; else skipped)
#   make test-commit-charge a process's charge to the commit limit (overcommit=2) <= 16 MiB
#   make test-locked        under mlockall(MCL_FUTURE), small and medium blocks lock <= 40 MiB
#   make test-commit-limit  at the strict overcommit limit: NULL and ENOMEM (root: a sysctl
#                           changed for seconds, restored; skipped otherwise)
#   make test-mem-patterns  six patterns, RSS 2 s after the last free (no call) <= 20 MiB
#   make mem-table          the same patterns under six allocators, as a table (not in test)
#   make stress SECONDS=N   stress for N seconds (default 60) on aslab, then on glibc
#
# tls_hang, quiet, small_stack, many_threads, commit_charge, locked, commit_limit and
# mem_patterns contain no allocator: they run under aslab through
# LD_PRELOAD (the static link would leave glibc's own calls, the loader's frees included,
# to glibc), and under any other allocator the same way.

STRESS_DIR    := tests/stress
STRESS_CFLAGS := $(CSTD) $(WARN) -O2 -g -Iinclude
STRESS_ASLAB  := $(BUILD)/libaslab_malloc.a $(MALLOC_LIBS_$(FALLBACK)) -lpthread
STRESS_PROGS  := stress fork_storm thread_churn mem_return secure_env
STRESS_SEED   ?= 1
STRESS_ARGS   ?=

$(foreach p,$(STRESS_PROGS),$(eval $(BUILD)/$(p): $(STRESS_DIR)/$(p).c $(STRESS_DIR)/util.h tests/tools/rss.h \
    $(BUILD)/libaslab_malloc.a ; @mkdir -p $(BUILD) && \
    $$(CC) $$(STRESS_CFLAGS) -DSTRESS_ALLOCATOR='"aslab"' $$< $$(STRESS_ASLAB) -o $$@))
$(foreach p,$(STRESS_PROGS),$(eval $(BUILD)/$(p)-libc: $(STRESS_DIR)/$(p).c \
    $(STRESS_DIR)/util.h tests/tools/rss.h ; @mkdir -p $(BUILD) && $$(CC) $$(STRESS_CFLAGS) $$< -lpthread -o $$@))

QUIET_PROGS   := tls_hang quiet small_stack many_threads commit_charge locked commit_limit \
                 mem_patterns
ASLAB_PRELOAD := LD_PRELOAD=$(abspath $(BUILD))/libaslab_malloc.so

$(foreach p,$(QUIET_PROGS),$(eval $(BUILD)/$(p): $(STRESS_DIR)/$(p).c $(STRESS_DIR)/util.h \
    tests/tools/rss.h ; @mkdir -p $(BUILD) && $$(CC) $$(STRESS_CFLAGS) $$< -lpthread -ldl -o $$@))

$(BUILD)/libtls_block.so: $(STRESS_DIR)/tls_block.c
	@mkdir -p $(BUILD) && $(CC) $(STRESS_CFLAGS) -shared -fPIC $< -o $@

.PHONY: stress stress-build test-stress test-fork-storm test-thread-churn test-mem-return \
        test-tls-hang test-quiet test-small-stack test-many-threads test-secure-env \
        test-commit-charge test-locked test-commit-limit test-mem-patterns mem-table

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

# Every check runs even when one fails. With no call at all, memory goes back only through
# the optional thread; by default, through the slow paths of the program's calls.
test-mem-return: $(BUILD)/mem_return
	@rc=0; \
	echo "$(BUILD)/mem_return --trim"; $(BUILD)/mem_return --trim || rc=1; \
	echo "ASLAB_BACKGROUND_THREAD=1 $(BUILD)/mem_return --decay --wait 3"; \
	ASLAB_BACKGROUND_THREAD=1 $(BUILD)/mem_return --decay --wait 3 || rc=1; \
	echo "$(BUILD)/mem_return --decay --call --wait 3"; \
	$(BUILD)/mem_return --decay --call --wait 3 || rc=1; \
	exit $$rc

test-tls-hang: $(BUILD)/tls_hang $(BUILD)/libtls_block.so $(BUILD)/libaslab_malloc.so
	$(ASLAB_PRELOAD) $(BUILD)/tls_hang $(abspath $(BUILD))/libtls_block.so --timeout 30
	$(ASLAB_PRELOAD) $(BUILD)/tls_hang $(abspath $(BUILD))/libtls_block.so --timeout 30 --own-free
	ASLAB_BACKGROUND_THREAD=1 $(ASLAB_PRELOAD) $(BUILD)/tls_hang \
	    $(abspath $(BUILD))/libtls_block.so --timeout 30

# glibc first: where the kernel refuses unshare(CLONE_NEWUSER) to glibc too (exit 77), the
# aslab run checks the thread count only.
test-quiet: $(BUILD)/quiet $(BUILD)/libaslab_malloc.so
	@echo "$(BUILD)/quiet (glibc)"; $(BUILD)/quiet; libc=$$?; unshare=; \
	if [ $$libc = 77 ]; then unshare=--no-unshare; echo "test-quiet: unshare skipped: refused under glibc too"; \
	elif [ $$libc != 0 ]; then exit 1; fi; \
	echo "$(BUILD)/quiet $$unshare (aslab)"; $(ASLAB_PRELOAD) $(BUILD)/quiet $$unshare || exit 1; \
	echo "$(BUILD)/quiet --background (aslab, ASLAB_BACKGROUND_THREAD=1)"; \
	ASLAB_BACKGROUND_THREAD=1 $(ASLAB_PRELOAD) $(BUILD)/quiet --background

# glibc first, with the same arguments: the margin the thread has there. The stack is
# PTHREAD_STACK_MIN's value; the TLS limit is aslab's (its private jemalloc's 2.6 KiB included).
test-small-stack: $(BUILD)/small_stack $(BUILD)/libaslab_malloc.so
	$(BUILD)/small_stack --stack 16384 --use 512
	$(ASLAB_PRELOAD) $(BUILD)/small_stack --stack 16384 --use 512 --tls-max 7168

# glibc's figure first, for the record (about 48 KiB a thread; aslab 144, 241 before session 26).
test-many-threads: $(BUILD)/many_threads $(BUILD)/libaslab_malloc.so
	$(BUILD)/many_threads --threads 500 --sizes 20
	$(ASLAB_PRELOAD) $(BUILD)/many_threads --threads 500 --sizes 20 --bound-kib 180

# glibc's figure first, for the record (45 MiB, its 40 MiB block's mapping included; aslab's
# was 554 MiB before session 26, its .bss map).
test-commit-charge: $(BUILD)/commit_charge $(BUILD)/libaslab_malloc.so
	$(BUILD)/commit_charge
	$(ASLAB_PRELOAD) $(BUILD)/commit_charge --bound-mib 16

test-locked: $(BUILD)/locked $(BUILD)/libaslab_malloc.so
	$(BUILD)/locked
	$(ASLAB_PRELOAD) $(BUILD)/locked --bound-mib 40

test-commit-limit: $(BUILD)/commit_limit $(BUILD)/libaslab_malloc.so
	$(STRESS_DIR)/commit_limit.sh $(BUILD)/commit_limit $(abspath $(BUILD))/libaslab_malloc.so

test-secure-env: $(BUILD)/secure_env
	$(STRESS_DIR)/secure_env.sh $(BUILD)

MEM_PATTERNS := burst prodcons exit random large sparse

test-mem-patterns: $(BUILD)/mem_patterns $(BUILD)/libaslab_malloc.so
	@rc=0; for p in $(MEM_PATTERNS); do \
	    $(ASLAB_PRELOAD) $(BUILD)/mem_patterns --pattern $$p || rc=1; \
	done; exit $$rc

mem-table: $(BUILD)/mem_patterns $(BUILD)/libaslab_malloc.so
	$(STRESS_DIR)/mem_table.sh $(BUILD)

TEST_TARGETS += test-stress test-fork-storm test-thread-churn test-mem-return test-tls-hang \
                test-quiet test-small-stack test-many-threads test-secure-env test-commit-charge \
                test-locked test-commit-limit test-mem-patterns
