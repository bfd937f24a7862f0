# The two commands of the README: `make demo` and `make test`. Both install missing Debian packages first.
BUILD_DIR ?= build
ASAN_BUILD_DIR ?= build-asan
TSAN_BUILD_DIR ?= build-tsan
FUZZ_BUILD_DIR ?= build-fuzz
FUZZ_SECONDS ?= 60
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
# Unity builds (CMake compiles up to 8 .cpp files of a target as one translation unit) for every tree the
# Makefile configures: a clean build parses the heavy headers (nlohmann/json, Boost, GoogleTest) once per
# batch rather than once per file, which is most of the CPU of a clean build. So names in anonymous
# namespaces must be unique within a target (CONTRIBUTING.md). A tree configured by hand builds file by file.
UNITY_FLAGS ?= -DCMAKE_UNITY_BUILD=ON

.PHONY: all deps configure build python demo test test-sanitize test-thread fuzz test-fuzz install clean format format-check check-minimal

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release $(UNITY_FLAGS) $(CMAKE_FLAGS)

configure: deps $(BUILD_DIR)/build.ninja

# Configures again (with tests and benchmarks, which a tree the demo configured lacks), so that packages
# installed since are found.
build: configure
	cmake -S . -B $(BUILD_DIR) -DLOUPE_BUILD_TESTS=ON -DLOUPE_BUILD_BENCH=ON $(UNITY_FLAGS) $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD_DIR) -j $(JOBS)

# The demo builds only what it runs: the loupe binary and the plugins of the explainers that
# configs/credit_audit.yaml names (shap, lime, surrogate, fairness; not the other plugins, tests or
# benchmarks), in the same tree, so a later `make build` or `make test` builds just the rest.
# It installs only what that build needs (LOUPE_FOR_DEMO=1: no test, benchmark, formatting or Python
# packages) and so configures a new tree without tests and benchmarks; `make build` turns them on.
DEMO_TARGETS = loupe loupe_shap loupe_lime loupe_surrogate loupe_fairness
demo:
	@LOUPE_FOR_DEMO=1 bash scripts/install-deps.sh
	@test -f $(BUILD_DIR)/build.ninja || cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release \
	  -DLOUPE_BUILD_TESTS=OFF -DLOUPE_BUILD_BENCH=OFF $(UNITY_FLAGS) $(CMAKE_FLAGS)
	cmake --build $(BUILD_DIR) -j $(JOBS) --target $(DEMO_TARGETS)
	@$(BUILD_DIR)/bin/loupe run configs/credit_audit.yaml -o out/demo
	@echo "Report: $(CURDIR)/out/demo/report.html (and run.json, one JSON per step)"

# The Python package (python/README.md) in $(BUILD_DIR)/lib/python, with the plugins it loads:
# PYTHONPATH=$(BUILD_DIR)/lib/python /usr/bin/python3 -c 'import loupe'.
python: configure
	cmake --build $(BUILD_DIR) -j $(JOBS) --target python

test: build
	cd $(BUILD_DIR) && ctest --no-tests=error --output-on-failure -j $(JOBS)

# The same suite under AddressSanitizer + UndefinedBehaviorSanitizer, in its own build tree. Debug info
# -g1 (line tables only): the reports still name file:line of every frame, and objects compile 5-25%
# faster than with -g (measured); configure $(ASAN_BUILD_DIR) with -g to debug a finding in gdb.
# Not run again under the sanitizers: the two tests that check packaging and rendering rather than Loupe's
# own code paths (out_of_tree_plugin installs Loupe and builds Release projects against it; report_browser
# drives an uninstrumented Chromium), 200 of the 270 seconds of the Release suite; mpi_run, sixteen
# whole runs under mpirun (over five minutes under ASan; its row split and join run under the sanitizers
# in loupe_pipeline_tests), and mpi_global, the same for global steps (its shared predictions run under
# the sanitizers in loupe_mpi_tests); and resume_run, nine whole runs over 22,270 rows (its pieces travel
# in the wire form the isolate tests decode under the sanitizers); and mpi_module_lazy, which runs loupe under
# mpirun (LeakSanitizer would report Open MPI's own allocations; the module's loading is the same code as
# in the Release build). `make test` runs all six.
# Built with Clang: at -O0 with the sanitizers it compiles in about half the CPU time GCC takes (measured
# per translation unit: 0.45-0.65x); the suite passes under both. The Release build stays on GCC.
SANITIZE_COMPILER = -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++
SANITIZE_DEBUG_INFO = -DCMAKE_CXX_FLAGS_DEBUG=-g1 -DCMAKE_C_FLAGS_DEBUG=-g1
SANITIZE_SKIPPED_TESTS = ^(out_of_tree_plugin|report_browser|mpi_run|mpi_global|mpi_module_lazy|resume_run)$$
# The same tree builds the fuzz targets (LOUPE_FUZZ: coverage instrumentation in the parsing layers), which
# `make test-fuzz` then runs.
test-sanitize:
	@LOUPE_WITH_FUZZ=1 bash scripts/install-deps.sh
	cmake -S . -B $(ASAN_BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DLOUPE_SANITIZE=ON -DLOUPE_FUZZ=ON -DLOUPE_BUILD_BENCH=OFF $(SANITIZE_COMPILER) $(SANITIZE_DEBUG_INFO) $(UNITY_FLAGS) $(CMAKE_FLAGS)
	cmake --build $(ASAN_BUILD_DIR) -j $(JOBS)
	cd $(ASAN_BUILD_DIR) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:suppressions=$(CURDIR)/tests/sanitizers/ubsan.supp \
	  ctest --no-tests=error --output-on-failure -j $(JOBS) -E '$(SANITIZE_SKIPPED_TESTS)'

# The core, pipeline, host and plugin tests under ThreadSanitizer, in their own build tree. Only the test
# binaries that run code on several threads are built, with every plugin the e2e tests load (no
# benchmarks; not the single-threaded tensor, data, config and report tests); of the e2e tests, not those
# that install or build outside the tree (out_of_tree_plugin, embedding_example), drive a browser
# (report_browser) or start sixteen runs under mpirun (mpi_run: Open MPI is not instrumented, and the row
# split it checks runs under TSan in loupe_pipeline_tests), nor resume_run (nine whole runs). The tests of binaries left unbuilt show up in
# ctest as <binary>_NOT_BUILT and are skipped. tests/sanitizers/tsan.supp says why
# each suppression is there. GCC, not Clang as for test-sanitize: Clang's ThreadSanitizer turns the copies
# inside TBB's inline task code into memcpy calls, which the narrow `race_top:tbb::detail::d1::`
# suppression no longer matches (the top frame is memcpy), and a wider one would hide races in our own
# loop bodies.
TSAN_TEST_TARGETS = loupe_nn_tests loupe_model_tests loupe_pipeline_tests loupe_plugin_tests \
  loupe_host_conformance_tests loupe_plugin_loader_tests loupe_e2e_tests \
  loupe_shap_tests loupe_lime_tests loupe_fairness_tests loupe_surrogate_tests loupe_attention_tests \
  loupe_effects loupe_counterfactual loupe_gradients loupe_gradients_e2e_tests loupe_onnx_tests loupe_serve_tests \
  loupe_serve_e2e_tests loupe_http_tests
TSAN_SKIPPED_TESTS = _NOT_BUILT$$|^(out_of_tree_plugin|embedding_example|report_browser|mpi_run|mpi_global|mpi_module_lazy|resume_run|input_memory)$$
# -O1 (with assertions, no debug info): compiles in 50-65% of -O3's CPU per file (measured) and still runs the
# suites fast enough; reports name every frame's function. Add -g1 to debug a finding at file:line.
TSAN_OPTIMISATION = -DCMAKE_CXX_FLAGS_RELEASE=-O1 -DCMAKE_C_FLAGS_RELEASE=-O1
test-thread: deps
	cmake -S . -B $(TSAN_BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release -DLOUPE_SANITIZE=thread -DLOUPE_BUILD_BENCH=OFF $(TSAN_OPTIMISATION) $(UNITY_FLAGS) $(CMAKE_FLAGS)
	cmake --build $(TSAN_BUILD_DIR) -j $(JOBS) --target $(TSAN_TEST_TARGETS)
	cd $(TSAN_BUILD_DIR) && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/sanitizers/tsan.supp" \
	  ctest --no-tests=error --output-on-failure -j $(JOBS) -E '$(TSAN_SKIPPED_TESTS)'

# The code behind an optional feature's #if (TLS in core/src/http, ONNX in core/src/onnx, MPI in
# core/src/mpi) compiled with every optional feature off, as `make demo` builds it on a fresh machine
# (which has none of their packages) and no other tree does (`make test` installs them all): only those
# layers' objects, unoptimised, about 30 s. A fresh machine's demo once failed to compile this way.
MINIMAL_BUILD_DIR ?= build-minimal
check-minimal: deps
	cmake -S . -B $(MINIMAL_BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-O0 \
	  -DLOUPE_WITH_TLS=OFF -DLOUPE_WITH_ONNX=OFF -DLOUPE_WITH_MPI=OFF -DLOUPE_BUILD_PYTHON=OFF \
	  -DLOUPE_BUILD_TESTS=OFF -DLOUPE_BUILD_BENCH=OFF $(UNITY_FLAGS) $(CMAKE_FLAGS)
	cd $(MINIMAL_BUILD_DIR) && ninja -j $(JOBS) \
	  $$(ninja -t targets all | grep -oE '^core/CMakeFiles/loupe_(http|onnx|mpi)\.dir/[^:]+\.o')

# libFuzzer targets for every parser that reads user files (fuzz/README.md), built with clang in their own
# tree; each runs FUZZ_SECONDS seconds. Needs clang and libFuzzer (LOUPE_WITH_FUZZ=1 installs them).
fuzz:
	@LOUPE_WITH_FUZZ=1 bash scripts/install-deps.sh
	cmake -S fuzz -B $(FUZZ_BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ $(UNITY_FLAGS) $(CMAKE_FLAGS)
	cmake --build $(FUZZ_BUILD_DIR) -j $(JOBS)
	bash fuzz/run.sh $(FUZZ_BUILD_DIR) $(FUZZ_SECONDS)

# Every fuzz target for TEST_FUZZ_SECONDS seconds, JOBS at a time, from the tree `make test-sanitize` built
# (unoptimised: 100-1,500 executions per second, a tenth of `make fuzz`'s; a check that each parser still
# survives its seeds and some thousands of mutations, not a campaign). Fails on any finding.
TEST_FUZZ_SECONDS ?= 20
test-fuzz:
	@test -x $(ASAN_BUILD_DIR)/bin/fuzz_csv || $(MAKE) test-sanitize
	FUZZ_JOBS=$(JOBS) bash fuzz/run.sh $(ASAN_BUILD_DIR) $(TEST_FUZZ_SECONDS)

install: build
	cmake --install $(BUILD_DIR) --prefix $(or $(PREFIX),/usr/local)

FORMAT_FILES = find core sdk plugins tests bench examples python -name '*.[ch]pp' -o -name '*.[ch]'

format:
	$(FORMAT_FILES) | xargs clang-format -i

# Fails, naming each file and line, when a source file differs from what `make format` would write.
format-check:
	@bash scripts/install-deps.sh
	$(FORMAT_FILES) | xargs clang-format --dry-run -Werror

clean:
	rm -rf $(BUILD_DIR) $(ASAN_BUILD_DIR) $(TSAN_BUILD_DIR) $(FUZZ_BUILD_DIR) $(MINIMAL_BUILD_DIR) out
