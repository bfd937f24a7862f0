#!/usr/bin/env bash
# `loupe run --resume DIR` (docs/architecture.md §5 "Resuming a run"): a run killed with SIGKILL at three
# points (inside a step's chunks, between steps, and a second time while resuming), or stopped by Ctrl-C,
# then resumed, writes the same outputs byte for byte as a run never interrupted, elapsed times aside; the
# chunked run equals one call over all rows; a finished run and a changed pipeline are refused with a
# sentence.
#
# The kill is the test hook LOUPE_CHECKPOINT_KILL_AFTER=N (core/src/pipeline/checkpoint.cpp): the
# process sends itself SIGKILL right after recording its N-th finished piece, so the points are exact.
#
# Usage: resume_test.sh LOUPE_EXE SOURCE_DIR WORK_DIR
set -euo pipefail
loupe=$1 src=$2 work=$3
rm -rf "$work"
mkdir -p "$work"
failures=0

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# The demo's applicants five times over (22,270 rows), so that TreeSHAP over every row takes 23 chunks of
# 1,000 rows.
data=$work/credit_x5.csv
head -n 1 "$src/examples/credit_scoring/data/credit_data.csv" > "$data"
for _ in 1 2 3 4 5; do tail -n +2 "$src/examples/credit_scoring/data/credit_data.csv" >> "$data"; done

cat > "$work/pipeline.yaml" <<YAML
version: 1
name: resume
seed: 11
data:
  path: $data
  target: Status
  positive: bad
  categorical: [Home, Marital, Records, Job]
  missing: ["NA", ""]
model:
  type: xgboost
  path: $src/examples/credit_scoring/models/credit_xgb.json
steps:
  - {id: treeshap, explainer: shap.tree, params: {output: raw}}
  - {id: summary, explainer: shap.summary, needs: [treeshap]}
  - {id: kernel, explainer: shap.kernel, rows: "100:1600", params: {background: 10, nsamples: 60}}
  - {id: lime, explainer: lime.tabular, rows: "0:3", params: {num_samples: 500}}
  - {id: surrogate, explainer: surrogate.tree, params: {max_depth: 3}}
output:
  dir: out
  formats: [json, csv, npy, html]
YAML

# A file with what differs between two runs blanked: elapsed times (in the JSON and as the report shows
# them) and run.json's thread count.
normalised() {
  sed -E -e 's/"elapsed_ms": ?[-+0-9.eE]+/"elapsed_ms":0/g' -e 's/"threads": [0-9]+/"threads":0/' \
    -e 's#<td>[0-9.]+ (ms|s)</td>#<td>T</td>#g' -e 's# · [0-9.]+ (ms|s)</span>#</span>#g' "$1"
}

# compare NAME REFERENCE_DIR OTHER_DIR: every output file of the reference run, byte for byte.
compare() {
  local name=$1 reference=$2 other=$3 file base
  for file in "$reference"/*; do
    base=$(basename "$file")
    if [[ ! -f "$other/$base" ]]; then
      fail "$name: $base is missing"
    elif [[ "$base" == *.json || "$base" == report.html ]]; then
      cmp -s <(normalised "$file") <(normalised "$other/$base") || fail "$name: $base differs"
    else
      cmp -s "$file" "$other/$base" || fail "$name: $base differs"
    fi
  done
  grep -q '"status": "ok"' "$other/run.json" || fail "$name: run.json does not say ok"
  [[ ! -e "$other/.loupe-resume" ]] || fail "$name: the finished run left its record behind"
}

run() { "$loupe" run "$@" -q --chunk-rows 1000; }

# The reference: one uninterrupted run; and the same with every step in one call.
run "$work/pipeline.yaml" -o "$work/plain" --threads 2 || fail "the uninterrupted run failed"
"$loupe" run "$work/pipeline.yaml" -q -o "$work/whole" --chunk-rows 1000000 || fail "the one-chunk run failed"
compare "chunks vs one call" "$work/whole" "$work/plain"

# expect_killed DIR N [ARGS...]: a run into DIR that the hook kills after its N-th recorded piece.
expect_killed() {
  local dir=$1 after=$2 status=0
  shift 2
  # In a subshell whose stderr is dropped: bash's own "Killed" line is expected here, not news.
  (LOUPE_CHECKPOINT_KILL_AFTER=$after "$loupe" "$@" -q >/dev/null 2>&1) 2>/dev/null || status=$?
  [[ $status -eq 137 ]] || fail "the run into $dir was to be killed after piece $after, but exited $status"
  [[ -f "$dir/.loupe-resume/manifest" ]] || fail "the killed run into $dir left no record"
}

# 1. Early: 3 of the 28 pieces recorded (steps without needs run at once, so which ones varies).
expect_killed "$work/a" 3 run "$work/pipeline.yaml" -o "$work/a" --chunk-rows 1000 --threads 2
"$loupe" run --resume "$work/a" -q --threads 1 || fail "resuming a (killed inside treeshap) failed"
compare "killed inside a step's chunks, resumed on 1 thread" "$work/plain" "$work/a"

# 2. Late: 26 of the 28 pieces recorded (treeshap 23 chunks, kernel 2, summary, lime, surrogate).
expect_killed "$work/b" 26 run "$work/pipeline.yaml" -o "$work/b" --chunk-rows 1000
"$loupe" run --resume "$work/b" -q || fail "resuming b (killed between steps) failed"
compare "killed between steps" "$work/plain" "$work/b"

# 3. Killed again while resuming: each resume keeps what the ones before it finished.
expect_killed "$work/c" 10 run "$work/pipeline.yaml" -o "$work/c" --chunk-rows 1000
expect_killed "$work/c" 16 run --resume "$work/c"
lines=$(wc -l < "$work/c/.loupe-resume/manifest")
[[ $lines -ge 26 ]] || fail "the second run into c should have added 16 pieces to the first's 10, found $lines"
"$loupe" run --resume "$work/c" -q || fail "resuming c the second time failed"
compare "killed twice" "$work/plain" "$work/c"

# 4. Ctrl-C: the first SIGINT (sent by the hook after the 5th piece, as a terminal would) cancels the
# run: exit 130 with a sentence naming --resume, the finished pieces kept; the resume completes it.
status=0
LOUPE_CHECKPOINT_INTERRUPT_AFTER=5 "$loupe" run "$work/pipeline.yaml" -q -o "$work/e" --chunk-rows 1000 \
  > /dev/null 2> "$work/err.txt" || status=$?
[[ $status -eq 130 ]] || fail "the interrupted run exited $status, expected 130: $(cat "$work/err.txt")"
grep -qF "stopped by SIGINT (Ctrl-C); \`loupe run --resume $work/e\`" "$work/err.txt" ||
  fail "the interrupted run did not say how to resume: $(cat "$work/err.txt")"
grep -q '"status": "failed"' "$work/e/run.json" || fail "the interrupted run's run.json shows no stopped step"
lines=$(wc -l < "$work/e/.loupe-resume/manifest")
[[ $lines -ge 5 && $lines -lt 28 ]] || fail "the interrupted run should keep its 5+ of 28 pieces, found $lines"
"$loupe" run --resume "$work/e" -q || fail "resuming e (interrupted with Ctrl-C) failed"
compare "interrupted with Ctrl-C" "$work/plain" "$work/e"

# Refusals, each one sentence with exit 2.
expect_refusal() {
  local name=$1 needle=$2 status=0
  shift 2
  "$loupe" "$@" > "$work/out.txt" 2> "$work/err.txt" || status=$?
  [[ $status -eq 2 ]] || fail "$name: exit $status, expected 2"
  grep -qF "$needle" "$work/err.txt" || fail "$name: stderr lacks '$needle': $(cat "$work/err.txt")"
}
expect_refusal "a finished run" "holds no interrupted run to resume" run --resume "$work/plain"
expect_refusal "resume with a pipeline" "drop the pipeline file" run "$work/pipeline.yaml" --resume "$work/plain"
expect_killed "$work/d" 2 run "$work/pipeline.yaml" -o "$work/d" --chunk-rows 1000
sed -i 's/seed: 11/seed: 12/' "$work/pipeline.yaml"
expect_refusal "a changed pipeline" "changed since it started" run --resume "$work/d"

if [[ $failures -gt 0 ]]; then
  echo "$failures failures"
  exit 1
fi
echo "resume: every interrupted run resumed to the uninterrupted run's outputs"
