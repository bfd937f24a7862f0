#!/usr/bin/env bash
# The input's memory (docs/architecture.md §3 "Dataset"): the CSV reader streams the file and keeps
# numbers rather than their text, and a run holds its feature columns once, in the feature matrix
# (Dataset::ShareMatrix). A step of 10 rows of shap.tree over 200,000 generated rows (7 numeric features
# and a yes/no target, bench/make_result_memory_data.py) and over 2,000 rows: the extra peak memory per
# extra row must stay below 110 bytes. What a row needs is 56 bytes of features (f64) and the target
# (8 bytes of code and a missing flag): 65 (feature columns without a missing value keep no mask), and
# while the file is read the eight columns (9 bytes a cell) and the label's cells' text; reading the
# whole file's text and every cell's text,
# then the columns and the matrix beside them, as the reader did before, cost about 218. Then: a new
# target level in the last row leaves the explanation unchanged, and a feature of numbers that holds
# 'abc' in its last row (a column the reader reads a second time, for its cells' text) is categorical,
# which the model refuses naming it, as before.
# Chunked input (docs/architecture.md §5): this pipeline reads only its rows, so with chunked input
# (LOUPE_CHUNKED_INPUT=on: the 2,000-row file, 84 kB, is under the 1 MiB a run reads in chunks on its own)
# the feature columns are not held at all (each call's rows are read from the file): what a row costs is
# the target and, while the file is read, the label's cells and the features' missing flags, under 40
# bytes (19 measured); the whole read (LOUPE_CHUNKED_INPUT=off) must stay under 110 (90 measured).
#
# Usage: input_memory_test.sh LOUPE_EXE SOURCE_DIR WORK_DIR
set -euo pipefail
loupe=$1 src=$2 work=$3
rm -rf "$work"
mkdir -p "$work/small" "$work/large"
failures=0

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

python3 "$src/bench/make_result_memory_data.py" "$work/small" 2000 "json, csv" >/dev/null
python3 "$src/bench/make_result_memory_data.py" "$work/large" 200000 "json, csv" >/dev/null
for dir in small large; do
  sed -i 's/    explainer: shap.tree/    explainer: shap.tree\n    rows: "0:10"/' "$work/$dir/pipeline.yaml"
done

# peak DIR: a run of DIR's pipeline; prints its peak resident memory in kB (the child's rusage).
peak() {
  python3 - "$loupe" run "$work/$1/pipeline.yaml" -o "$work/$1/out" -q --threads 1 <<'PY'
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
PY
}

# per_row MODE LIMIT: the extra peak per extra row with LOUPE_CHUNKED_INPUT=MODE, checked against LIMIT.
per_row() {
  local small_kb large_kb bytes
  small_kb=$(LOUPE_CHUNKED_INPUT=$1 peak small) || fail "the run over 2,000 rows failed ($1)"
  large_kb=$(LOUPE_CHUNKED_INPUT=$1 peak large) || fail "the run over 200,000 rows failed ($1)"
  bytes=$(((large_kb - small_kb) * 1024 / 198000))
  echo "chunked input $1: peak RSS ${small_kb} kB over 2,000 rows, ${large_kb} kB over 200,000: ${bytes} bytes per extra row"
  # Clang links ASan's runtime into the binary, GCC links TSan's as libtsan.so: look for either.
  if grep -q -E 'AddressSanitizer|ThreadSanitizer' "$loupe" || ldd "$loupe" 2>/dev/null | grep -q -E 'lib[at]san'; then
    echo "peak memory not compared: a sanitizer build"
  elif ((bytes >= $2)); then
    fail "the data should cost less than $2 bytes per row with chunked input $1, found ${bytes}"
  fi
  per_row=$bytes
}
per_row off 110
per_row on 40

# The same explanation of rows 0-9 when the label holds a third level in its last row; f6 with 'abc' in
# its last row is a categorical feature, which the model refuses, naming it. Both with the data held whole
# (the default for a file this small, under 1 MiB: kChunkedInputMinBytes) and read in chunks.
normalised() { sed -E 's/"elapsed_ms": ?[-+0-9.eE]+/"elapsed_ms":0/g' "$1"; }
mkdir -p "$work/late" "$work/late_feature"
cp "$work/small/model.json" "$work/small/pipeline.yaml" "$work/late/"
sed '$ s/,yes$/,maybe/; $ s/,no$/,maybe/' "$work/small/data.csv" >"$work/late/data.csv"
cp "$work/small/model.json" "$work/small/pipeline.yaml" "$work/late_feature/"
sed -E '$ s/,[^,]+,([a-z]+)$/,abc,\1/' "$work/small/data.csv" >"$work/late_feature/data.csv"
for mode in off on; do
  LOUPE_CHUNKED_INPUT=$mode "$loupe" run "$work/small/pipeline.yaml" -o "$work/small/out_$mode" -q --threads 1 ||
    fail "the run over 2,000 rows failed ($mode)"
  LOUPE_CHUNKED_INPUT=$mode "$loupe" run "$work/late/pipeline.yaml" -o "$work/late/out_$mode" -q --threads 1 ||
    fail "the run with a late level failed ($mode)"
  cmp -s <(normalised "$work/small/out_$mode/treeshap.json") <(normalised "$work/late/out_$mode/treeshap.json") ||
    fail "a late level of the target changed the explanation ($mode)"
  if LOUPE_CHUNKED_INPUT=$mode "$loupe" run "$work/late_feature/pipeline.yaml" -o "$work/late_feature/out_$mode" \
    -q 2>"$work/late_feature/err_$mode"; then
    fail "a feature the model reads as a number that holds 'abc' in its last row should fail ($mode)"
  fi
  grep -q "f6" "$work/late_feature/err_$mode" ||
    fail "the error should name the column f6 ($mode): $(cat "$work/late_feature/err_$mode")"
done

if [[ $failures -gt 0 ]]; then
  echo "$failures failures"
  exit 1
fi
echo "input memory: ${per_row} bytes per row"
