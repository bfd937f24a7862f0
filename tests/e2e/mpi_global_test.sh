#!/usr/bin/env bash
# `mpirun -n K loupe run` with global explainers (docs/scale_out.md "What is split"): rank 0 runs each
# such step and the other ranks predict the blocks of its model calls (surrogate targets and fidelity,
# fairness predictions and counterfactual re-predictions, permutation importance, ALE, partial
# dependence's grid through row_variants). On the credit network and 4,454 rows, on 1, 2 and 3 ranks of
# one thread and 2 and 3 ranks of two: every output file byte-identical to a plain two-thread run. A
# rank whose predictions fail (LOUPE_MPI_FAULT) fails the step on rank 0 with its sentence, the other
# steps still run, exit code 1, no hang; run.json names the rank.
#
# Usage: mpi_global_test.sh LOUPE_EXE SOURCE_DIR WORK_DIR MPIRUN
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
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
rm -rf "$work"
mkdir -p "$work"
failures=0

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

cat > "$work/globals.yaml" <<YAML
version: 1
name: mpi-globals
seed: 11
data:
  path: $src/examples/credit_scoring/data/credit_data.csv
  target: Status
  positive: bad
  categorical: [Home, Marital, Records, Job]
  sensitive: [Marital, Age]
  missing: ["NA", ""]
model:
  path: $src/tests/fixtures/models/credit_mlp.yaml
steps:
  # holdout 0: the targets are one call over every row (with a holdout, two calls under 4,096 rows).
  - {id: surrogate, explainer: surrogate.tree, params: {max_depth: 4, paths_for: "0:3", holdout: 0}}
  - id: fairness
    explainer: fairness.group
    params: {sensitive: [Marital], favorable: good, privileged: {Marital: married}, n_boot: 20}
  - {id: flip, explainer: fairness.counterfactual, params: {sensitive: [Marital], top_k: 5}}
  - {id: importance, explainer: effects.permutation_importance, params: {n_repeats: 2}}
  - {id: ale, explainer: effects.ale, params: {features: [Income, Age], bins: 10}}
  - {id: pdp, explainer: effects.partial_dependence, rows: "0:300", params: {features: [Income], kind: both}}
  - id: counterfactuals
    explainer: counterfactual.search
    rows: "0:3"
    params: {n: 2, desired: good, immutable: [Age, Marital], max_evaluations: 2000}
output:
  dir: out
  formats: [json, csv, npy]
YAML

normalised() { sed -E 's/"elapsed_ms":[-+0-9.eE]+/"elapsed_ms":0/g' "$1"; }

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

"$loupe" run "$work/globals.yaml" -o "$work/plain" --threads 2 --quiet || fail "the plain run failed"
[[ $(ls "$work/plain"/*.json | wc -l) -ge 8 ]] || fail "the plain run wrote too few files: $(ls "$work/plain")"
# RANKS:THREADS. With two threads per rank, rank 0's threads make model calls at once, which its runner's
# thread carries to the ranks together.
for entry in 1:1 2:1 3:1 2:2 3:2; do
  ranks=${entry%%:*} threads=${entry#*:}
  out="$work/mpi$ranks-t$threads"
  if ! timeout 300 "$mpirun" --oversubscribe -n "$ranks" "$loupe" run "$work/globals.yaml" -o "$out" \
    --threads "$threads" --quiet > "$out.log" 2>&1; then
    fail "mpirun -n $ranks --threads $threads failed: $(tail -3 "$out.log")"
    continue
  fi
  compare "$ranks ranks of $threads threads" "$work/plain" "$out"
done

# Rank 2 of 3 fails every block of step 'fairness' it is asked to predict: the step fails on rank 0 with
# rank 2's sentence; the steps after it still run; exit code 1 (124: it hung).
out="$work/fault"
set +e
timeout 120 "$mpirun" --oversubscribe -n 3 -x LOUPE_MPI_FAULT=2:fairness "$loupe" run "$work/globals.yaml" \
  -o "$out" --threads 1 > "$out.log" 2>&1
code=$?
set -e
[[ $code -eq 1 ]] || fail "fault: mpirun exited $code, expected 1 (124 means it hung): $(tail -3 "$out.log")"
grep -q "step 'fairness' failed: .*MPI rank 2 of 3: a fault was injected into step 'fairness' by LOUPE_MPI_FAULT" \
  "$out.log" || fail "fault: rank 2's sentence is not printed: $(tail -3 "$out.log")"
grep -q "MPI rank 2 of 3: a fault was injected" "$out/run.json" || fail "fault: run.json does not name the rank"
[[ -f "$out/surrogate.json" && -f "$out/flip.json" && -f "$out/counterfactuals.json" && ! -f "$out/fairness.json" ]] ||
  fail "fault: the other steps' outputs are not as expected: $(ls "$out")"
cmp -s <(normalised "$work/plain/flip.json") <(normalised "$out/flip.json") ||
  fail "fault: the step after the failed one differs from the plain run"

# Which steps' model calls the ranks predict: a fault on rank 1 of 2 fails exactly those (each makes
# calls of 4,096 rows or more through model_predict, or, partial_dependence on this network, a grid of
# variants through the "row_variants" capability); counterfactual.search on 3 rows makes calls too small
# to cut.
for entry in surrogate:failed flip:failed importance:failed ale:failed pdp:failed counterfactuals:ok; do
  step=${entry%%:*} expected=${entry#*:}
  out="$work/fault-$step"
  set +e
  timeout 120 "$mpirun" --oversubscribe -n 2 -x LOUPE_MPI_FAULT=1:$step "$loupe" run "$work/globals.yaml" \
    -o "$out" --threads 1 > "$out.log" 2>&1
  code=$?
  set -e
  [[ $code -eq 0 || $code -eq 1 ]] || fail "fault in $step: mpirun exited $code (124 means it hung)"
  got=$(grep -A3 "\"id\": \"$step\"" "$out/run.json" | grep -o '"status": "[a-z]*"' | head -1)
  [[ "$got" == "\"status\": \"$expected\"" ]] || fail "fault in $step: the step's $got, expected $expected"
done

if [[ $failures -gt 0 ]]; then
  echo "$failures check(s) failed; outputs in $work"
  exit 1
fi
echo "mpirun -n 1/2/3, 1 and 2 threads: global explainers' outputs byte-identical to a plain run; a rank's failed predictions fail the step with its sentence"
