#!/usr/bin/env bash
# `mpirun -n K loupe run` (docs/scale_out.md): the demo, the XGBoost pipeline, the transformer text
# example and a pipeline of the other local explainers (shap.kernel, shap.permutation, a gradient method,
# lime.tabular with background and row counts that do not divide by K) give byte-identical outputs on
# 1, 2 and 3 ranks (oversubscribed on a small machine) to a plain run, elapsed times aside; a rank that
# fails its block fails the step on every rank with its sentence and the run ends, without hanging. A
# streamed step (12 chunks dealt to 2 or 3 ranks) gives the bytes of the plain streamed run and of the
# step held whole; a rank failing in the middle of it fails it on every rank, and `--resume` under another
# rank count completes it from rank 0's record.
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

# A streamed step under MPI (docs/scale_out.md "Results of any size"): with chunks of 400 rows, ig_all's
# 4,454 rows are 12 chunks, dealt to the ranks in turn (6 or 4 per rank) and written by rank 0 as they
# arrive; the same bytes as the plain run streamed (the same chunks) and as the step held whole. (That
# the ranks streamed it is shown below: the failed run recorded its chunks one by one.)
cat > "$work/streamed.yaml" <<YAML
version: 1
name: mpi-streamed
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
  - {id: ig, explainer: grad.integrated_gradients, rows: "0:8"}
  - {id: ig_all, explainer: grad.integrated_gradients, params: {n_steps: 8}}
output:
  dir: out
  formats: [json, csv, npy, html]
YAML
"$loupe" run "$work/streamed.yaml" -o "$work/streamed-plain" --threads 2 --quiet --chunk-rows 400 ||
  fail "streamed: the plain run failed"
"$loupe" run "$work/streamed.yaml" -o "$work/streamed-whole" --threads 2 --quiet --chunk-rows 100000 ||
  fail "streamed: the run held whole failed"
compare "streamed: plain streamed vs held whole" "$work/streamed-whole" "$work/streamed-plain"
for ranks in 2 3; do
  out="$work/streamed-mpi$ranks"
  if ! timeout 300 "$mpirun" --oversubscribe -n "$ranks" "$loupe" run "$work/streamed.yaml" -o "$out" \
    --threads 1 --quiet --chunk-rows 400 > "$out.log" 2>&1; then
    fail "streamed: mpirun -n $ranks failed: $(tail -3 "$out.log")"
    continue
  fi
  compare "streamed on $ranks ranks" "$work/streamed-whole" "$out"
  ! ls -A "$out" | grep -v -E '^(run\.json|report\.html|ig(_all)?\.(json|csv|[a-z_]+\.npy))$' > /dev/null ||
    fail "streamed: $ranks ranks left other files: $(ls -A "$out")"
done

# A rank that fails in the middle of streaming: rank 1's third chunk (chunk 5) fails after rank 0 wrote
# chunks 0-4; every rank ends, the step fails with rank 1's sentence, no file of the step is left (its
# .npy and CSV were temporary), and chunks 0-4 are recorded. `--resume` under 3 ranks then explains only
# chunks 5-11 and gives the uninterrupted bytes.
out="$work/streamed-fault"
set +e
timeout 120 "$mpirun" --oversubscribe -n 2 -x LOUPE_MPI_FAULT=1:ig_all:5 "$loupe" run "$work/streamed.yaml" \
  -o "$out" --threads 1 --chunk-rows 400 > "$out.log" 2>&1
code=$?
set -e
[[ $code -eq 1 ]] || fail "streamed fault: mpirun exited $code, expected 1 (124 means it hung): $(tail -3 "$out.log")"
grep -q "MPI rank 1 of 2: a fault was injected into step 'ig_all'" "$out.log" ||
  fail "streamed fault: the sentence of rank 1 is not printed"
[[ -f "$out/ig.json" ]] || fail "streamed fault: the step before it has no output"
! ls -A "$out" | grep '^ig_all' > /dev/null || fail "streamed fault: files of the failed step are left: $(ls -A "$out")"
! ls -A "$out" | grep -i -E 'tmp|spill|\.part' > /dev/null || fail "streamed fault: temporary files are left: $(ls -A "$out")"
recorded=$(grep -c '"chunk": *"ig_all"' "$out/.loupe-resume/manifest" || true)
[[ $recorded -eq 5 ]] || fail "streamed fault: $recorded chunks of ig_all are recorded, expected 5 (0-4)"
if timeout 300 "$mpirun" --oversubscribe -n 3 "$loupe" run --resume "$out" --threads 1 > "$out.resume.log" 2>&1; then
  compare "streamed, resumed on 3 ranks" "$work/streamed-whole" "$out"
  grep -q "resuming the run .* 5 finished chunks recorded" "$out.resume.log" ||
    fail "streamed resume: the resume did not find the 5 chunks: $(head -3 "$out.resume.log")"
  [[ ! -d "$out/.loupe-resume" ]] || fail "streamed resume: the record is left after a complete run"
else
  fail "streamed resume: mpirun -n 3 --resume failed: $(tail -3 "$out.resume.log")"
fi

if [[ $failures -gt 0 ]]; then
  echo "$failures check(s) failed; outputs in $work"
  exit 1
fi
echo "mpirun -n 1/2/3: byte-identical outputs for ${#pipelines[@]} pipelines and a streamed step; a failing rank fails its step; a streamed step resumes under MPI"
