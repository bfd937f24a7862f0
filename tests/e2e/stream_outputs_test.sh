#!/usr/bin/env bash
# Streamed steps (docs/architecture.md §5 "Streamed steps"): shap.tree over 60,000 generated rows
# (bench/make_result_memory_data.py), explained 2,000 rows at a time with its outputs streamed to disk,
# writes the same JSON (elapsed times aside), CSV and .npy files byte for byte as the same step in one
# call written whole; its report says it shows a sample, is the whole step's report and is what `loupe
# report` writes again from the files; and its peak memory is lower than the whole
# step's by more than twice its values and base_values (the whole step holds them, the data as text and
# their join at once).
#
# Usage: stream_outputs_test.sh LOUPE_EXE SOURCE_DIR WORK_DIR
set -euo pipefail
loupe=$1 src=$2 work=$3
rows=60000
rm -rf "$work"
mkdir -p "$work"
failures=0

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

python3 "$src/bench/make_result_memory_data.py" "$work" "$rows" "json, csv, npy, html"

# run NAME CHUNK_ROWS: a run into $work/NAME; prints its peak resident memory in kB (the child's, from
# the kernel's rusage).
run() {
  python3 - "$loupe" run "$work/pipeline.yaml" -o "$work/$1" -q --threads 2 --chunk-rows "$2" <<'PY'
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
PY
}

streamed_kb=$(run streamed 2000) || fail "the streamed run failed"
whole_kb=$(run whole 1000000) || fail "the run in one call failed"

normalised() { sed -E 's/"elapsed_ms": ?[-+0-9.eE]+/"elapsed_ms":0/g' "$1"; }
for file in treeshap.json treeshap.csv treeshap.values.npy treeshap.base_values.npy treeshap.rows.npy \
  treeshap.data.npy; do
  if [[ ! -f "$work/streamed/$file" || ! -f "$work/whole/$file" ]]; then
    fail "$file is missing"
  elif [[ $file == *.json ]]; then
    cmp -s <(normalised "$work/whole/$file") <(normalised "$work/streamed/$file") || fail "$file differs"
  else
    cmp -s "$work/whole/$file" "$work/streamed/$file" || fail "$file differs"
  fi
done
# Both folders hold the same files and nothing else (no spill or temporary file left behind).
diff <(ls -A "$work/whole") <(ls -A "$work/streamed") || fail "the two runs wrote different files"

# The report draws a sample of the step's rows and says so, the same page whether the step streamed or
# was held whole (times aside) ...
grep -qF "The charts of this step show 10000 of its 60000 rows (one row in 6, from the first)" \
  "$work/streamed/report.html" || fail "the streamed report does not say it shows a sample"
# ... and counts the step's rows, not the sample's, as explained.
grep -qF "$rows rows explained (10000 drawn below)" "$work/streamed/report.html" ||
  fail "the streamed report does not count the step's $rows rows as explained"
untimed() { sed -E 's/[0-9]+(\.[0-9]+)? (ms|s)\b/T/g' "$1"; }
cmp -s <(untimed "$work/whole/report.html") <(untimed "$work/streamed/report.html") ||
  fail "the reports of the streamed and the whole step differ"
# `loupe report` draws the same sample from the step's JSON file: the run's page again, byte for byte.
cp "$work/streamed/report.html" "$work/streamed.report.html"
"$loupe" report "$work/streamed" >/dev/null || fail "loupe report failed"
cmp -s "$work/streamed.report.html" "$work/streamed/report.html" ||
  fail "loupe report did not write the run's report again"

# Memory: values [R][1][7] and base_values [R][1], f64 (one output: the model's margin), 3.8 MB; with the
# data as the JSON holds it (text) and the join, the whole run holds several times that. The streamed run
# holds a chunk at a time. Not under a sanitizer: AddressSanitizer's quarantine keeps freed memory resident,
# ThreadSanitizer's shadow memory grows with every address touched.
arrays_kb=$((rows * 8 * 8 / 1024))
echo "peak RSS: streamed ${streamed_kb} kB, whole ${whole_kb} kB; values and base_values ${arrays_kb} kB"
# Clang links ASan's runtime into the binary, GCC links TSan's as libtsan.so: look for either.
if grep -q -E 'AddressSanitizer|ThreadSanitizer' "$loupe" || ldd "$loupe" 2>/dev/null | grep -q -E 'lib[at]san'; then
  echo "peak memory not compared: a sanitizer build"
else
  ((whole_kb - streamed_kb > 2 * arrays_kb)) ||
    fail "the streamed run should peak at least twice the arrays' ${arrays_kb} kB below the whole run"
fi

if [[ $failures -gt 0 ]]; then
  echo "$failures failures"
  exit 1
fi
echo "stream: the streamed step wrote the whole step's files byte for byte"
