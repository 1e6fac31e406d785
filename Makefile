# edgebert - build the library, the tool and the tests.
#   make            library (static + shared), tool, tests
#   make test       build and run every test (C, Python references)
#   make SAN=1 test the same under AddressSanitizer + UndefinedBehaviorSanitizer (build-san/)
#   make bench      benchmarks
# Sources are found by folder: src/<module>/*.c make the library, src/cli/*.c the
# tool, tests/test_*.c one test program each (linked with cmocka).

CC       ?= gcc
SAN      ?= 0
PREFIX   ?= /usr/local
ifeq ($(SAN),1)
BUILD    ?= build-san
SANFLAGS  = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPTFLAGS ?= -O1 -g
else
BUILD    ?= build
SANFLAGS  =
OPTFLAGS ?= -O2 -g
endif

CPPFLAGS += -Iinclude -Isrc -D_GNU_SOURCE
CFLAGS   += -std=c11 -Wall -Wextra -Wshadow -Wno-unused-parameter $(OPTFLAGS) $(SANFLAGS) -fPIC -fopenmp -pthread
LDFLAGS  += $(SANFLAGS) -fopenmp -pthread
LDLIBS   += -lopenblas -lcjson -lutf8proc -lm

LIB_SRC  := $(sort $(filter-out src/cli/%,$(wildcard src/*/*.c)))
CLI_SRC  := $(sort $(wildcard src/cli/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TOOL_SRC := $(sort $(wildcard tests/tools/*.c))
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tests/tools/%)

.PHONY: all lib tool tests test bench clean install format lint
all: lib tool tests

lib: $(BUILD)/libedgebert.a $(BUILD)/libedgebert.so
tool: $(BUILD)/edgebert
tests: $(TEST_BIN) $(TOOL_BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libedgebert.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libedgebert.so: $(LIB_OBJ)
	$(CC) -shared $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/edgebert: $(CLI_OBJ) $(BUILD)/libedgebert.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libedgebert.a $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(BUILD)/libedgebert.a tests/testutil.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests $(CFLAGS) -o $@ $< $(BUILD)/libedgebert.a $(LDFLAGS) $(LDLIBS) -lcmocka

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

clean:
	rm -rf build build-san

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
