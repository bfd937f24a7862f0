#!/usr/bin/env bash
# Runs every fuzz target for a while: bash fuzz/run.sh BUILD_DIR SECONDS [TARGET...] (`make fuzz`, and
# `make test-fuzz` on the sanitizer tree). Without TARGETs, every BUILD_DIR/bin/fuzz_* the build made.
# Each target starts from its committed seeds (fuzz/corpus/<target>) plus what earlier runs in BUILD_DIR
# found (BUILD_DIR/corpus/<target>), with its dictionary (fuzz/dict/<target>.dict). A crashing input is
# saved as BUILD_DIR/findings/<target>-crash-<sha1>: reproduce it with BUILD_DIR/bin/fuzz_<target> FILE,
# fix the parser, and copy the file to fuzz/regressions/<target>/ so `make test` replays it for good.
# FUZZ_RUNS=N runs each target for N executions instead (SECONDS then caps the time). FUZZ_JOBS=N runs N
# targets at once (default 1; each target is one process on one core).
# Prints one line per target (executions, executions per second, new corpus entries); exits 1 if any
# target found something.
set -uo pipefail
build_dir=$(realpath "$1")
seconds=$2
shift 2
fuzz_dir=$(cd "$(dirname "$0")" && pwd)
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  for binary in "$build_dir"/bin/fuzz_*; do
    [[ -x $binary ]] && targets+=("${binary##*/fuzz_}")
  done
fi
if [[ ${#targets[@]} -eq 0 ]]; then
  echo "fuzz: no fuzz_* targets in $build_dir/bin" >&2
  exit 1
fi
mkdir -p "$build_dir/findings" "$build_dir/logs"

# Fuzzes one target and writes its summary line to logs/<target>.summary; returns non-zero on a finding.
fuzz_one() {
  local target=$1
  local work_corpus=$build_dir/corpus/$target
  local log=$build_dir/logs/$target.log
  local runs_flag=()
  mkdir -p "$work_corpus"
  if [[ -n "${FUZZ_RUNS:-}" ]]; then runs_flag=(-runs="$FUZZ_RUNS"); fi
  # detect_leaks=0 (ASan's and libFuzzer's own): the parsers' leaks would be found by `make test-sanitize`;
  # LeakSanitizer stalls libFuzzer's loop, and libFuzzer runs every input that allocates more than it frees
  # a second time to look for a leak. rss/timeouts catch runaway allocations and loops.
  # quarantine_size_mb=16: with ASan's default 256 MB quarantine every execution's allocations land on
  # fresh pages, and the page faults cost 2-5x the executions' own work (measured with perf on fuzz_vocabulary
  # and fuzz_pipeline); an input of a few kilobytes frees far less than 16 MB, so a use after free is still
  # caught within the execution that made it.
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:quarantine_size_mb=16 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:suppressions=$fuzz_dir/../tests/sanitizers/ubsan.supp \
    "$build_dir/bin/fuzz_$target" -max_total_time="$seconds" "${runs_flag[@]}" -timeout=10 -rss_limit_mb=2048 -detect_leaks=0 \
    -dict="$fuzz_dir/dict/$target.dict" -artifact_prefix="$build_dir/findings/$target-" -print_final_stats=1 \
    "$work_corpus" "$fuzz_dir/corpus/$target" >"$log" 2>&1
  local status=$?
  local executions rate new_units
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  new_units=$(sed -n 's/^stat::new_units_added: *//p' "$log" | tail -1)
  if [[ $status -eq 0 ]]; then
    echo "fuzz_$target: ok, ${executions:-?} executions (${rate:-?}/s), ${new_units:-?} new inputs" >"$build_dir/logs/$target.summary"
  else
    {
      echo "fuzz_$target: FOUND A CRASH (exit $status) after ${executions:-?} executions; see $log and $build_dir/findings/"
      grep -m3 -E 'ERROR|runtime error|contract broken|SUMMARY' "$log" | sed 's/^/  /'
    } >"$build_dir/logs/$target.summary"
  fi
  return $status
}
export -f fuzz_one
export build_dir seconds fuzz_dir

printf '%s\n' "${targets[@]}" | xargs -P "${FUZZ_JOBS:-1}" -I{} bash -c 'fuzz_one "$1"' _ {}
failed=()
for target in "${targets[@]}"; do
  cat "$build_dir/logs/$target.summary"
  grep -q "FOUND A CRASH" "$build_dir/logs/$target.summary" && failed+=("$target")
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz: crashes in ${failed[*]}" >&2
  exit 1
fi
