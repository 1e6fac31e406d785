# edgebert - build the library, the tool and the tests.
#   make            library (static + shared), tool, tests
#   make test       build and run every test (C, Python references)
#   make SAN=1 test the same under AddressSanitizer + UndefinedBehaviorSanitizer (build-san/)
#   make bench      benchmarks
#   make TSAN=1 test-threads  the multithreaded tests under ThreadSanitizer (build-tsan/)
#   make fuzz FUZZ_SECONDS=N  each libFuzzer harness (fuzz/) for N seconds (clang, build-fuzz/)
#   make fuzz-smoke           the same for a few seconds each (CI)
#   make install PREFIX=DIR   library, headers, tool, pkg-config file, man page, models
#   make cross-test ARCH=aarch64  cross-build everything for aarch64 (build-aarch64/) and run
#                    the C tests under qemu-aarch64 (CROSS_QUICK=1: the CI subset)
#   make NOBLAS=1    portable matmul instead of OpenBLAS; make EB_MINIMAL=1 lib: the RTOS-class
#                    library (no threads, no file I/O, no BLAS; build-minimal/), see docs/arm.md
#   make MPI=1       data-parallel training over MPI (`mpirun -np N build-mpi/edgebert train`,
#                    Debian's OpenMPI) in build-mpi/, beside the plain build; docs/training.md
# Sources are found by folder: src/<module>/*.c make the library, src/cli/*.c the
# tool, tests/test_*.c one test program each (linked with cmocka).

CC       ?= gcc
SAN      ?= 0
TSAN     ?= 0
PREFIX   ?= /usr/local
ARCH     ?=
NM       ?= nm
NOBLAS   ?= 0
EB_MINIMAL ?= 0
MPI      ?= 0
ifeq ($(ARCH),aarch64)
CC       := aarch64-linux-gnu-gcc
NM       := aarch64-linux-gnu-nm
BUILD    ?= build-aarch64
QEMU     ?= qemu-aarch64 -L /usr/aarch64-linux-gnu
else ifneq ($(ARCH),)
$(error ARCH=$(ARCH): only aarch64 is supported for cross builds)
endif
ifeq ($(EB_MINIMAL),1)
NOBLAS   := 1
BUILD    ?= build-minimal
else ifeq ($(NOBLAS),1)
BUILD    ?= build-noblas
endif
ifeq ($(MPI),1)
BUILD    ?= build-mpi
ifeq ($(origin MPI_CFLAGS),undefined)
MPI_CFLAGS := $(shell pkg-config --cflags mpi-c)
endif
ifeq ($(origin MPI_LIBS),undefined)
MPI_LIBS   := $(shell pkg-config --libs mpi-c)
endif
endif
ifeq ($(TSAN),1)
BUILD    ?= build-tsan
SANFLAGS  = -fsanitize=thread -fno-omit-frame-pointer
OPTFLAGS ?= -O1 -g
else ifeq ($(SAN),1)
BUILD    ?= build-san
SANFLAGS  = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPTFLAGS ?= -O1 -g
else
BUILD    ?= build
SANFLAGS  =
OPTFLAGS ?= -O2 -g
endif

ifeq ($(EB_MINIMAL),1)
# RTOS-class: no OpenMP, no pthreads, no BLAS; functions in their own sections so
# that a program linked with --gc-sections keeps only what it calls (minimal-check).
CPPFLAGS += -DEB_MINIMAL
THREADFLAGS :=
MINFLAGS := -ffunction-sections -fdata-sections -Wno-unknown-pragmas -Wno-unused-variable
else
THREADFLAGS := -fopenmp -pthread
MINFLAGS :=
endif
CPPFLAGS += -Iinclude -Isrc -D_GNU_SOURCE
CFLAGS   += -std=c11 -Wall -Wextra -Wshadow -Wno-unused-parameter $(OPTFLAGS) $(SANFLAGS) -fPIC $(THREADFLAGS) $(MINFLAGS)
LDFLAGS  += $(SANFLAGS) $(THREADFLAGS)
LDLIBS   += -lopenblas -lcjson -lutf8proc -lm
ifeq ($(NOBLAS),1)
CPPFLAGS += -DEB_NO_BLAS -Isrc/kernels/noblas
LDLIBS   := $(filter-out -lopenblas,$(LDLIBS))
endif
ifeq ($(MPI),1)
CPPFLAGS += -DEB_MPI $(MPI_CFLAGS)
LDLIBS   += $(MPI_LIBS)
endif

LIB_SRC  := $(sort $(filter-out src/cli/%,$(wildcard src/*/*.c)))
CLI_SRC  := $(sort $(wildcard src/cli/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TOOL_SRC := $(sort $(wildcard tests/tools/*.c))
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tests/tools/%)

.PHONY: all lib tool tests test bench clean install format lint test-threads fuzz fuzz-build fuzz-seeds \
        fuzz-smoke cross-test cross-build test-fixedmem minimal-check
all: lib tool tests

lib: $(BUILD)/libedgebert.a $(BUILD)/libedgebert.so
tool: $(BUILD)/edgebert $(BUILD)/serve-load
tests: $(TEST_BIN) $(TOOL_BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

# The shared library exports only the public API (EB_API in include/): the library's
# objects are compiled with hidden visibility; the tool and the tests, which also use
# internal functions, link the static library (tests/py/test_exports.py checks the list).
$(LIB_OBJ): CFLAGS += -fvisibility=hidden

$(BUILD)/libedgebert.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

empty :=
space := $(empty) $(empty)
SOVERSION := 0
VERSION   := $(shell sed -n 's/^\#define EB_VERSION_STRING "\(.*\)"/\1/p' include/edgebert.h)

$(BUILD)/libedgebert.so: $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libedgebert.so.$(SOVERSION) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# the load test of edgebert serve (tools/serve_load.c; docs/serving.md)
$(BUILD)/serve-load: tools/serve_load.c $(BUILD)/libedgebert.a
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(BUILD)/libedgebert.a $(LDFLAGS) $(LDLIBS)

# the command alone links libmicrohttpd (edgebert serve); the library does not
CLI_LIBS := -lmicrohttpd
$(BUILD)/edgebert: $(CLI_OBJ) $(BUILD)/libedgebert.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libedgebert.a $(LDLIBS) $(CLI_LIBS)

$(BUILD)/tests/%: tests/%.c $(BUILD)/libedgebert.a tests/testutil.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests $(CFLAGS) -o $@ $< $(BUILD)/libedgebert.a $(LDFLAGS) $(LDLIBS) -lcmocka

# test_cli_opts compiles the CLI's option parser in (the CLI is not part of the library)
$(BUILD)/tests/test_cli_opts: src/cli/opts.c src/cli/opts.h

$(BUILD)/tests/tools/%: tests/tools/%.c $(BUILD)/libedgebert.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests $(CFLAGS) -o $@ $< $(BUILD)/libedgebert.a $(LDFLAGS) $(LDLIBS)

test: all
	BUILD=$(BUILD) ./tests/run.sh

bench: all
	./$(BUILD)/edgebert bench --quick

lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability --std=c11 \
	  -Iinclude -Isrc --suppressions-list=.cppcheck-suppressions src

format:
	clang-format -i include/*.h include/edgebert/*.h src/*/*.[ch] tests/*.[ch] tests/tools/*.c

# gcc's ifunc resolvers for target_clones run before the TSan runtime is up and crash the
# program at load when instrumented (even a two-line program does): under TSAN=1 the files
# that use target_clones are built without TSan instrumentation.
ifeq ($(TSAN),1)
TSAN_EXEMPT := $(shell grep -l target_clones $(LIB_SRC))
$(TSAN_EXEMPT:%.c=$(BUILD)/%.o): SANFLAGS := -fno-omit-frame-pointer
endif

# ThreadSanitizer: the tests that run threads (OpenBLAS/OpenMP kept to one
# thread: their own pools are not instrumented), and edgebert serve (connection threads,
# engine thread) through its end-to-end test: a race makes the server exit non-zero.
THREAD_TESTS := test_model test_stress
test-threads: $(THREAD_TESTS:%=$(BUILD)/tests/%) $(BUILD)/edgebert
	@set -e; for t in $(THREAD_TESTS); do echo "== $$t ($(BUILD))"; \
	  OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
	  ./$(BUILD)/tests/$$t; done
	@echo "== tests/py/test_serve.py ($(BUILD))"; \
	  EB_BUILD=$(BUILD) OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 \
	  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" /usr/bin/python3 tests/py/test_serve.py

# Fuzzing (libFuzzer, clang): every reader of outside data has fuzz/fuzz_<reader>.c.
FUZZ_CC      ?= clang
FUZZ_BUILD   := build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_SMOKE   ?= 4
FUZZ_FLAGS   := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -O1 -g
FUZZ_NAMES   := $(sort $(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c)))
FUZZ_BIN     := $(FUZZ_NAMES:%=$(FUZZ_BUILD)/fuzz_%)
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FUZZ_BUILD)/%.o)
FUZZ_RUN      = for f in $(FUZZ_NAMES); do mkdir -p $(FUZZ_BUILD)/corpus/$$f $(FUZZ_BUILD)/artifacts/$$f; \
	  echo "== fuzz_$$f ($(1) s)"; \
	  ./$(FUZZ_BUILD)/fuzz_$$f -max_total_time=$(1) -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_BUILD)/artifacts/$$f/ $(FUZZ_BUILD)/corpus/$$f $(FUZZ_BUILD)/seeds/$$f \
	    2>$(FUZZ_BUILD)/fuzz_$$f.log || { tail -60 $(FUZZ_BUILD)/fuzz_$$f.log; exit 1; }; \
	  grep -E 'stat::number_of_executed_units|^Done' $(FUZZ_BUILD)/fuzz_$$f.log | tr '\n' ' '; echo; done

$(FUZZ_BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) -std=c11 -Wall -Wextra -Wno-unused-parameter -Wno-pass-failed $(FUZZ_FLAGS) \
	  -fsanitize=fuzzer-no-link -fopenmp -pthread -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/libedgebert.a: $(FUZZ_LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: fuzz/fuzz_%.c $(FUZZ_BUILD)/libedgebert.a
	$(FUZZ_CC) $(CPPFLAGS) -std=c11 -Wall -Wextra $(FUZZ_FLAGS) -fsanitize=fuzzer -fopenmp -pthread \
	  -o $@ $< $(FUZZ_BUILD)/libedgebert.a $(LDLIBS)

fuzz-build: $(FUZZ_BIN)

$(FUZZ_BUILD)/seeds/.done: tools/fuzz_seeds.py tests/py/tiny_model.py
	$(MAKE) BUILD=build SAN=0 TSAN=0 tool
	/usr/bin/python3 tools/fuzz_seeds.py $(FUZZ_BUILD)/seeds build/edgebert
	touch $@

fuzz-seeds: $(FUZZ_BUILD)/seeds/.done

fuzz: fuzz-build fuzz-seeds
	@$(call FUZZ_RUN,$(FUZZ_SECONDS))

fuzz-smoke: fuzz-build fuzz-seeds
	@$(call FUZZ_RUN,$(FUZZ_SMOKE))

# Install: lib (static + shared with soname), headers, tool, pkg-config, man page, models.
DESTDIR ?=
LIBDIR  ?= $(PREFIX)/lib
install: lib tool
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(PREFIX)/include/edgebert \
	  $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/edgebert
	install -m 644 $(BUILD)/libedgebert.a $(DESTDIR)$(LIBDIR)/libedgebert.a
	install -m 755 $(BUILD)/libedgebert.so $(DESTDIR)$(LIBDIR)/libedgebert.so.$(VERSION)
	ln -sf libedgebert.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libedgebert.so.$(SOVERSION)
	ln -sf libedgebert.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libedgebert.so
	install -m 644 include/edgebert.h $(DESTDIR)$(PREFIX)/include/edgebert.h
	install -m 644 include/edgebert/*.h $(DESTDIR)$(PREFIX)/include/edgebert/
	install -m 755 $(BUILD)/edgebert $(DESTDIR)$(PREFIX)/bin/edgebert
	install -m 644 docs/edgebert.1 $(DESTDIR)$(PREFIX)/share/man/man1/edgebert.1
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
	  tools/edgebert.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/edgebert.pc
	cp -R models $(DESTDIR)$(PREFIX)/share/edgebert/

clean:
	rm -rf build build-san build-tsan build-fuzz build-aarch64 build-noblas build-minimal build-mpi

# Cross build for aarch64 (Debian gcc-aarch64-linux-gnu + arm64 -dev packages, see
# tools/install-deps.sh --arm) and the C tests under qemu-aarch64 (tools/cross-test.sh).
cross-build: all
cross-test: all
ifneq ($(ARCH),aarch64)
	$(error cross-test: say ARCH=aarch64)
endif
	BUILD=$(BUILD) QEMU="$(QEMU)" ./tools/cross-test.sh
	BUILD=$(BUILD) QEMU="$(QEMU)" ./tools/cross-compare.sh

# The fixed-memory test alone (with NOBLAS=1 its libc-level limit is enforced).
test-fixedmem: $(BUILD)/tests/test_fixedmem
	$(if $(QEMU),OPENBLAS_NUM_THREADS=1 LD_LIBRARY_PATH=/usr/lib/aarch64-linux-gnu $(QEMU) ,)./$(BUILD)/tests/test_fixedmem

# The RTOS-class build (EB_MINIMAL=1): the library without threads, BLAS or OpenMP, and a
# program using only the fixed-memory API linked with --gc-sections; it must reference no
# file I/O and no thread functions.
MINIMAL_FORBIDDEN := fopen fopen64 open open64 openat openat64 fread read mmap mmap64 stat stat64 \
  fstat fstat64 opendir pthread_create GOMP_parallel
minimal-check: $(BUILD)/libedgebert.a
ifneq ($(EB_MINIMAL),1)
	$(error minimal-check: say EB_MINIMAL=1)
endif
	$(CC) $(CPPFLAGS) $(CFLAGS) -Wl,--gc-sections -o $(BUILD)/rtos_demo tools/rtos_demo.c \
	  $(BUILD)/libedgebert.a $(LDLIBS)
	@bad=$$($(NM) -u $(BUILD)/rtos_demo | awk '{print $$2}' | sed 's/@.*//' | \
	  grep -xE '$(subst $(space),|,$(MINIMAL_FORBIDDEN))' || true); \
	if [ -n "$$bad" ]; then echo "minimal-check: rtos_demo still calls: $$bad"; exit 1; fi; \
	echo "minimal-check: rtos_demo references no file I/O and no threads ($$($(NM) -u $(BUILD)/rtos_demo | wc -l) libc symbols)"

# tests that write tiny models share tests/tinymodel.h
$(TEST_BIN): tests/tinymodel.h

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(FUZZ_LIB_OBJ:.o=.d)
