#!/usr/bin/env bash
# `mpirun -n K loupe run` (docs/scale_out.md): the demo, the XGBoost pipeline, the transformer text
# example and a pipeline of the other local explainers (shap.kernel, shap.permutation, a gradient method,
# lime.tabular with background and row counts that do not divide by K) give byte-identical outputs on
# 1, 2 and 3 ranks (oversubscribed on a small machine) to a plain run, elapsed times aside; a rank that
# fails its block fails the step on every rank with its sentence and the run ends, without hanging.
#
# Usage: mpi_run_test.sh LOUPE_EXE SOURCE_DIR WORK_DIR MPIRUN
# Exits 77 (ctest's SKIP_RETURN_CODE) when mpirun is absent or the build has no MPI.
set -euo pipefail
loupe=$1 src=$2 work=$3 mpirun=${4:-}
if [[ -z "$mpirun" || ! -x "$mpirun" ]]; then
  echo "skipped: mpirun was not found (install openmpi-bin)"
  exit 77
fi
if ! "$loupe" version | grep -q "MPI runs: supported"; then
  echo "skipped: this loupe was built without MPI (libopenmpi-dev)"
  exit 77
fi
# CI runs as root; Open MPI refuses that unless told. --oversubscribe: 3 ranks on 2 cores.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
rm -rf "$work"
mkdir -p "$work"
failures=0

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# A pipeline of the local explainers the configs do not run, on the demo's data and the credit network
# (which offers gradients).
cat > "$work/locals.yaml" <<YAML
version: 1
name: mpi-locals
seed: 5
data:
  path: $src/examples/credit_scoring/data/credit_data.csv
  target: Status
  positive: bad
  categorical: [Home, Marital, Records, Job]
  missing: ["NA", ""]
model:
  path: $src/tests/fixtures/models/credit_mlp.yaml
steps:
  - {id: kernel, explainer: shap.kernel, rows: "3:10", params: {background: 20, nsamples: 200}}
  - {id: permutation, explainer: shap.permutation, rows: [7, 1, 30, 12, 5], params: {background: 10}}
  - {id: ig, explainer: grad.integrated_gradients, rows: "0:8"}
  - {id: smooth, explainer: grad.smoothgrad, rows: "2:9"}
  - {id: lime, explainer: lime.tabular, rows: 4, params: {num_samples: 500}}
  - {id: summary, explainer: shap.summary, needs: [kernel]}
  # Every row (4,454, more than a chunk of 4,096): the plain run streams it to disk (architecture.md §5
  # "Streamed steps"), the ranks join it in memory; the same bytes.
  - {id: ig_all, explainer: grad.integrated_gradients, params: {n_steps: 16}}
output:
  dir: out
  formats: [json, csv, npy]
YAML

# The JSON with its elapsed times zeroed (the only bytes that differ between two runs).
normalised() { sed -E 's/"elapsed_ms":[-+0-9.eE]+/"elapsed_ms":0/g' "$1"; }

# compare NAME PLAIN_DIR OTHER_DIR: every output file of the plain run, byte for byte.
compare() {
  local name=$1 plain=$2 other=$3 file base
  for file in "$plain"/*; do
    base=$(basename "$file")
    case "$base" in
      run.json | report.html) continue ;;
    esac
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

pipelines=(
  "demo:$src/configs/credit_audit.yaml"
  "xgboost:$src/configs/credit_audit_xgboost.yaml"
  "text:$src/examples/text_classifier/transformer.yaml"
  "locals:$work/locals.yaml"
)
for entry in "${pipelines[@]}"; do
  name=${entry%%:*} pipeline=${entry#*:}
  formats='--set output.formats=[json,csv,npy]'
  "$loupe" run "$pipeline" -o "$work/$name-plain" --threads 2 --quiet $formats ||
    fail "$name: the plain run failed"
  for ranks in 1 2 3; do
    out="$work/$name-mpi$ranks"
    if ! timeout 300 "$mpirun" --oversubscribe -n "$ranks" "$loupe" run "$pipeline" -o "$out" --threads 1 \
      --quiet $formats > "$work/$name-mpi$ranks.log" 2>&1; then
      fail "$name: mpirun -n $ranks failed: $(tail -3 "$work/$name-mpi$ranks.log")"
      continue
    fi
    compare "$name on $ranks ranks" "$work/$name-plain" "$out"
    if [[ $ranks -gt 1 ]] && ! grep -q "\"ranks\": $ranks" "$out/run.json"; then
      fail "$name: run.json does not record $ranks ranks"
    fi
  done
done

# A failing rank: rank 1's block of step 'kernel' fails; every rank ends (no hang), the step fails with
# rank 1's sentence and its kind, the step after it that does not need it still runs, exit code 1.
out="$work/fault"
set +e
timeout 120 "$mpirun" --oversubscribe -n 3 -x LOUPE_MPI_FAULT=1:kernel "$loupe" run "$work/locals.yaml" \
  -o "$out" --threads 1 > "$work/fault.log" 2>&1
code=$?
set -e
[[ $code -eq 1 ]] || fail "fault: mpirun exited $code, expected 1 (124 means it hung): $(tail -3 "$work/fault.log")"
grep -q "MPI rank 1 of 3: a fault was injected into step 'kernel'" "$work/fault.log" ||
  fail "fault: the sentence of rank 1 is not printed"
grep -q '"failure": "plugin"' "$out/run.json" || fail "fault: run.json does not give the failure's kind"
[[ -f "$out/ig.json" && ! -f "$out/kernel.json" ]] || fail "fault: the other steps' outputs are not as expected"
grep -q "MPI rank 1 of 3" "$out/run.json" || fail "fault: run.json does not name the rank"

if [[ $failures -gt 0 ]]; then
  echo "$failures check(s) failed; outputs in $work"
  exit 1
fi
echo "mpirun -n 1/2/3: byte-identical outputs for ${#pipelines[@]} pipelines; a failing rank fails its step"
