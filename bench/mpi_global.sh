#!/usr/bin/env bash
# Global explainers whose model evaluations the MPI ranks share (docs/scale_out.md "Measured here"): a
# plain run, `mpirun -n 1` and `mpirun -n 2`, one thread per rank, RUNS times each, on the credit data's
# rows copied COPIES times and the credit XGBoost model (50 trees). Prints, per run, the wall and CPU
# (user+sys of every rank, from /usr/bin/time on the launcher) of the whole run, each rank's own CPU, and
# each step's time on rank 0 from run.json (the step alone: not loading the data and the model, which
# every rank does; the "load" run is the same file with one tiny step: what loading costs each rank).
# Checks that every run's outputs are byte-identical to the plain run's (elapsed times aside).
#
# Usage: bench/mpi_global.sh LOUPE [COPIES] [RUNS] [WORK]     e.g. bench/mpi_global.sh build/bin/loupe 235 3
set -euo pipefail
loupe=$(realpath "$1") copies=${2:-235} runs=${3:-3} work=${4:-/tmp/loupe-mpi-global}
src=$(cd "$(dirname "$0")/.." && pwd)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$work"
data="$work/credit_x$copies.csv"
if [[ ! -f "$data" ]]; then
  head -1 "$src/examples/credit_scoring/data/credit_data.csv" > "$data"
  for _ in $(seq "$copies"); do tail -n +2 "$src/examples/credit_scoring/data/credit_data.csv" >> "$data"; done
fi
rows=$(($(wc -l < "$data") - 1))
cat > "$work/globals.yaml" <<YAML
version: 1
name: mpi-global-bench
seed: 3
data:
  path: $data
  target: Status
  positive: bad
  categorical: [Home, Marital, Records, Job]
  sensitive: [Marital, Records]
  missing: ["NA", ""]
model: {type: xgboost, path: $src/examples/credit_scoring/models/credit_xgb.json}
steps:
  - {id: fairness, explainer: fairness.group, params: {sensitive: [Marital], favorable: good, privileged: {Marital: married}}}
  - {id: flip, explainer: fairness.counterfactual, params: {sensitive: [Marital]}}
  - {id: importance, explainer: effects.permutation_importance, rows: "0:100000", params: {n_repeats: 3}}
output: {dir: out, formats: [json]}
YAML
normalised() { sed -E 's/"elapsed_ms":[-+0-9.eE]+/"elapsed_ms":0/g' "$1"; }
step_seconds() {
  /usr/bin/python3 -c "import json, sys; r = json.load(open(sys.argv[1])); print(' '.join('%s %.2f' % (s['id'], s['elapsed_ms'] / 1000) for s in r['steps']))" "$1"
}
# The loading alone (the data and the model, which every rank does): the same file with one tiny step.
sed -e '/^  - {id: \(fairness\|flip\)/d' -e 's/rows: "0:100000", params: {n_repeats: 3}/rows: "0:10", params: {n_repeats: 1}/' \
  "$work/globals.yaml" > "$work/load.yaml"
echo "rows: $rows"
printf "%-6s %3s %8s %8s %9s %9s  %s\n" how run "wall s" "CPU s" "rank 0 s" "rank 1 s" "steps on rank 0 (s)"
cpu_of() { [[ -f "$1" ]] && awk '{ printf "%.2f", $1 + $2 }' "$1" || echo "-"; }
for how in load plain mpi1 mpi2; do
  for run in $(seq "$runs"); do
    [[ $how == load && $run -gt 1 ]] && continue
    out="$work/$how-$run"
    rm -rf "$out" "$work"/time.rank*
    pipeline="$work/globals.yaml"
    [[ $how == load ]] && pipeline="$work/load.yaml"
    # Each rank's CPU (user+sys) from its own /usr/bin/time.
    timed=(bash -c '/usr/bin/time -f "%U %S" -o "$0.rank${OMPI_COMM_WORLD_RANK:-0}" "$@"' "$work/time")
    loupe_args=("$loupe" run "$pipeline" -o "$out" --threads 1 --quiet)
    case $how in
      load | plain) cmd=("${timed[@]}" "${loupe_args[@]}") ;;
      mpi1) cmd=(mpirun --oversubscribe -n 1 "${timed[@]}" "${loupe_args[@]}") ;;
      mpi2) cmd=(mpirun --oversubscribe -n 2 "${timed[@]}" "${loupe_args[@]}") ;;
    esac
    /usr/bin/time -f "%e %U %S" -o "$work/time" "${cmd[@]}"
    read -r wall user sys < "$work/time"
    printf "%-6s %3d %8.2f %8.2f %9s %9s  %s\n" "$how" "$run" "$wall" "$(echo "$user + $sys" | bc)" \
      "$(cpu_of "$work/time.rank0")" "$(cpu_of "$work/time.rank1")" "$(step_seconds "$out/run.json")"
    if [[ $how != load && "$how-$run" != plain-1 ]]; then
      for file in "$work/plain-1"/*.json; do
        base=$(basename "$file")
        [[ $base == run.json ]] && continue
        cmp -s <(normalised "$file") <(normalised "$out/$base") || echo "DIFFERS: $how-$run $base"
      done
    fi
  done
done
