# The two commands of the README: `make demo` and `make test`. Both install missing Debian packages first.
BUILD_DIR ?= build
ASAN_BUILD_DIR ?= build-asan
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps configure build demo test test-sanitize install clean format format-check

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

configure: deps $(BUILD_DIR)/build.ninja

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

# The demo builds only what it runs: the loupe binary and the plugin modules (no tests, no benchmarks),
# in the same tree, so a later `make test` builds just the rest.
demo: configure
	cmake --build $(BUILD_DIR) -j $(JOBS) --target loupe loupe_builtin_plugins
	@$(BUILD_DIR)/bin/loupe run configs/credit_audit.yaml -o out/demo
	@echo "Report: $(CURDIR)/out/demo/report.html (and run.json, one JSON per step)"

test: build
	cd $(BUILD_DIR) && ctest --no-tests=error --output-on-failure -j $(JOBS)

# The same suite under AddressSanitizer + UndefinedBehaviorSanitizer, in its own build tree.
test-sanitize: deps
	cmake -S . -B $(ASAN_BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DLOUPE_SANITIZE=ON -DLOUPE_BUILD_BENCH=OFF $(CMAKE_FLAGS)
	cmake --build $(ASAN_BUILD_DIR) -j $(JOBS)
	cd $(ASAN_BUILD_DIR) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:suppressions=$(CURDIR)/tests/sanitizers/ubsan.supp \
	  ctest --no-tests=error --output-on-failure -j $(JOBS)

install: build
	cmake --install $(BUILD_DIR) --prefix $(or $(PREFIX),/usr/local)

FORMAT_FILES = find core sdk plugins tests bench examples -name '*.[ch]pp' -o -name '*.[ch]'

format:
	$(FORMAT_FILES) | xargs clang-format -i

# Fails, naming each file and line, when a source file differs from what `make format` would write.
format-check:
	@bash scripts/install-deps.sh
	$(FORMAT_FILES) | xargs clang-format --dry-run -Werror

clean:
	rm -rf $(BUILD_DIR) $(ASAN_BUILD_DIR) out
