#!/usr/bin/env bash
# Chunked input (docs/architecture.md §5 "Chunked input"): a pipeline whose steps read only their rows and
# the rows they resolve reads the CSV once for its schema without holding the feature columns, then each
# plugin call's rows (and its background or training rows) from the file just before the call. Its
# outputs must equal, byte for byte (elapsed times aside), those of the same run with the whole data read
# first (LOUPE_CHUNKED_INPUT=off; the others say `on`, as the file is small), on 1 and 2 threads, over
# categorical features and missing values, with a small --chunk-rows; a run killed with SIGKILL and resumed
# equals them too; and a CSV error in the last row is still found before any step runs, with the whole
# read's sentence naming FILE:LINE.
#
# Under MPI (when MPIRUN is given and this loupe has MPI) each rank reads only its chunks' rows: the outputs
# of `mpirun -n 2` and `-n 3`, and of a 2-rank run killed and resumed, must equal them too, and a rank
# that fails in a chunked step fails that step, with its sentence, and no other.
#
# Usage: chunked_input_test.sh LOUPE_EXE SOURCE_DIR WORK_DIR [MPIRUN]
set -euo pipefail
loupe=$1 src=$2 work=$3 mpirun=${4:-}
rm -rf "$work"
mkdir -p "$work"
failures=0

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# The demo's applicants three times over (13,362 rows): four categorical features, missing values. At
# 933 kB the file is under the size a run reads in chunks on its own (1 MiB, kChunkedInputMinBytes in
# core/src/pipeline/validate.hpp): LOUPE_CHUNKED_INPUT=on (exported, so mpirun's ranks see it too) makes
# every run below read it in chunks but those that say `off`.
export LOUPE_CHUNKED_INPUT=on
data=$work/credit_x3.csv
head -n 1 "$src/examples/credit_scoring/data/credit_data.csv" >"$data"
for _ in 1 2 3; do tail -n +2 "$src/examples/credit_scoring/data/credit_data.csv" >>"$data"; done

# lime.tabular refuses a row with a missing feature: 750 rows without one, from row 10,000 on (two chunks).
lime_rows=$(python3 - "$data" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))[1:]
print([i for i, r in enumerate(rows) if i >= 10000 and not any(c in ("NA", "") for c in r[1:])][:750])
PY
)

# pipeline FILE DATA: every step reads only its rows and the rows it resolves (shards::ReadsOnlyItsRows).
pipeline() {
  cat >"$1" <<YAML
version: 1
name: chunked-input
seed: 5
data:
  path: $2
  target: Status
  positive: bad
  categorical: [Home, Marital, Records, Job]
  missing: ["NA", ""]
model:
  type: xgboost
  path: $src/examples/credit_scoring/models/credit_xgb.json
steps:
  - {id: treeshap, explainer: shap.tree, params: {output: raw}}
  - {id: interventional, explainer: shap.tree, rows: "2500:4700", params: {background: 30}}
  - {id: kernel, explainer: shap.kernel, rows: "7000:7300", params: {background: 8, nsamples: 40}}
  - {id: lime, explainer: lime.tabular, rows: $lime_rows, params: {num_samples: 100}}
output:
  dir: out
  formats: [json, csv, npy]
YAML
}
pipeline "$work/pipeline.yaml" "$data"

normalised() {
  sed -E -e 's/"elapsed_ms": ?[-+0-9.eE]+/"elapsed_ms":0/g' -e 's/"threads": [0-9]+/"threads":0/' "$1"
}

# compare NAME REFERENCE_DIR OTHER_DIR: every output file of the reference run, byte for byte.
compare() {
  local name=$1 reference=$2 other=$3 file base
  for file in "$reference"/*; do
    base=$(basename "$file")
    if [[ ! -f "$other/$base" ]]; then
      fail "$name: $base is missing"
    elif [[ "$base" == *.json ]]; then
      cmp -s <(normalised "$file") <(normalised "$other/$base") || fail "$name: $base differs"
    else
      cmp -s "$file" "$other/$base" || fail "$name: $base differs"
    fi
  done
  grep -q '"status": "ok"' "$other/run.json" || fail "$name: run.json does not say ok"
}

run() { "$loupe" run "$@" -q --chunk-rows 700; }

LOUPE_CHUNKED_INPUT=off run "$work/pipeline.yaml" -o "$work/whole" --threads 2 || fail "the run reading the data whole failed"
run "$work/pipeline.yaml" -o "$work/chunked2" --threads 2 || fail "the chunked-input run on 2 threads failed"
run "$work/pipeline.yaml" -o "$work/chunked1" --threads 1 || fail "the chunked-input run on 1 thread failed"
[[ -f "$work/whole/treeshap.values.npy" ]] || fail "the reference run wrote no treeshap.values.npy"
compare "chunked input, 2 threads" "$work/whole" "$work/chunked2"
compare "chunked input, 1 thread" "$work/whole" "$work/chunked1"

# Killed with SIGKILL after its 9th finished chunk (inside treeshap's), then resumed.
if LOUPE_CHECKPOINT_KILL_AFTER=9 run "$work/pipeline.yaml" -o "$work/killed" --threads 2 2>/dev/null; then
  fail "the run that should have been killed finished"
fi
[[ -f "$work/killed/.loupe-resume/run.json" || -d "$work/killed/.loupe-resume" ]] || fail "the killed run left no record"
"$loupe" run --resume "$work/killed" -q --threads 1 || fail "the resumed run failed"
compare "killed and resumed" "$work/whole" "$work/killed"

# Under MPI: every output file but run.json (which gives the ranks), byte for byte.
if [[ -n "$mpirun" && -x "$mpirun" ]] && "$loupe" version | grep -q "MPI runs: supported"; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  for ranks in 2 3; do
    out=$work/mpi$ranks
    if ! timeout 300 "$mpirun" --oversubscribe -n "$ranks" -x LOUPE_CHUNKED_INPUT "$loupe" run "$work/pipeline.yaml" \
      -o "$out" -q --threads 1 --chunk-rows 700 >"$out.log" 2>&1; then
      fail "mpirun -n $ranks failed: $(tail -3 "$out.log")"
      continue
    fi
    mkdir -p "$work/whole_outputs"
    cp "$work/whole"/* "$work/whole_outputs/"
    rm -f "$work/whole_outputs/run.json"
    compare "mpirun -n $ranks" "$work/whole_outputs" "$out"
  done
  # Killed with SIGKILL after rank 0 recorded its 9th chunk, then resumed under 2 ranks.
  out=$work/mpi_killed
  if timeout 300 "$mpirun" --oversubscribe -n 2 -x LOUPE_CHUNKED_INPUT -x LOUPE_CHECKPOINT_KILL_AFTER=9 "$loupe" run \
    "$work/pipeline.yaml" -o "$out" -q --threads 1 --chunk-rows 700 >"$out.log" 2>&1; then
    fail "the MPI run that should have been killed finished"
  fi
  timeout 300 "$mpirun" --oversubscribe -n 2 -x LOUPE_CHUNKED_INPUT "$loupe" run --resume "$out" -q --threads 1 \
    >"$out.resume.log" 2>&1 ||
    fail "resuming the killed MPI run failed: $(tail -3 "$out.resume.log")"
  compare "mpirun -n 2, killed and resumed" "$work/whole_outputs" "$out"
  # A rank that fails in a chunked step fails that step on every rank with its sentence, no hang; the
  # other steps still write what a whole read writes.
  out=$work/mpi_fault
  if timeout 300 "$mpirun" --oversubscribe -n 3 -x LOUPE_CHUNKED_INPUT -x LOUPE_MPI_FAULT=1:treeshap "$loupe" run \
    "$work/pipeline.yaml" -o "$out" --threads 1 --chunk-rows 700 >"$out.log" 2>&1; then
    fail "the MPI run with a failing rank should exit non-zero"
  fi
  grep -q "step 'treeshap' failed: MPI rank 1 of 3: a fault was injected into step 'treeshap'" "$out.log" ||
    fail "the failing rank's sentence is missing: $(tail -3 "$out.log")"
  for step in interventional kernel; do
    cmp -s "$work/whole/$step.values.npy" "$out/$step.values.npy" ||
      fail "mpirun -n 3 with a failing rank: $step.values.npy differs from the whole read's"
  done
else
  echo "MPI part skipped: no mpirun, or this loupe was built without MPI"
fi

# A record in the last row with a field too many, and a forced number that is not one in the last row:
# the whole read's sentences, before any step writes anything.
check_late_error() {
  local name=$1 expected=$2 dir=$work/$1
  mkdir -p "$dir"
  pipeline "$dir/pipeline.yaml" "$dir/data.csv"
  for mode in on off; do
    rm -rf "$dir/out_$mode"
    if LOUPE_CHUNKED_INPUT=$mode "$loupe" run "$dir/pipeline.yaml" -o "$dir/out_$mode" -q 2>"$dir/err_$mode"; then
      fail "$name ($mode): the run should fail"
    fi
  done
  grep -qF "$expected" "$dir/err_on" || fail "$name: expected '$expected', found: $(cat "$dir/err_on")"
  cmp -s "$dir/err_on" "$dir/err_off" || fail "$name: the error differs from the whole read's"
  [[ ! -e "$dir/out_on/treeshap.json" && ! -e "$dir/out_on/treeshap.values.npy" ]] ||
    fail "$name: a step ran before the error was found"
}
lines=$(wc -l <"$data")
mkdir -p "$work/late_fields"
sed '$ s/$/,1/' "$data" >"$work/late_fields/data.csv"
check_late_error late_fields "data.csv:$lines: the record has 15 fields, the header 14"
mkdir -p "$work/late_number"
sed -E '$ s/^([^,]*),([^,]*),/\1,abc,/' "$data" >"$work/late_number/data.csv"
check_late_error late_number "column 'Seniority'"

if [[ $failures -gt 0 ]]; then
  echo "$failures failures"
  exit 1
fi
echo "chunked input: outputs identical to the whole read on 1 and 2 threads and after a resume"
