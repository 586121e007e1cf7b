# tests/link/rules.mk - linking and the launcher, included by the top Makefile.
#
#   make test-link       every link command of README.md's "Linking", run as written there,
#                        for the core and the malloc: from build/ (shared, static) and through
#                        pkg-config after make install into a temporary prefix (shared, rpath,
#                        -static); then make uninstall; prints the matrix way x library
#   make test-aslab-run  aslab-run's messages, exit statuses and options

LINK_PKGS := gcc libc6-dev binutils pkgconf time coreutils

TEST_TARGETS += test-link test-aslab-run
DEPS_PKGS    += $(LINK_PKGS)

.PHONY: test-link test-aslab-run

test-link: all
	FALLBACK=$(FALLBACK) tests/link/run.sh $(BUILD)

test-aslab-run: malloc
	tests/link/aslab-run.sh $(BUILD)
