#!/usr/bin/env bash
# Rows per second of shap.tree, shap.kernel and lime.tabular on 1 and 2 MPI ranks, one thread each
# (docs/scale_out.md "Measured here"). Reads each step's time from run.json (rank 0's wall time of the
# step: the ranks' explaining, the gather and the join; not the data and model loading).
#
# Usage: bench/mpi_scaling.sh BUILD_DIR [WORK_DIR]     e.g. bench/mpi_scaling.sh build
set -euo pipefail
build=$(cd "$1" && pwd) work=${2:-/tmp/loupe-mpi-scaling}
src=$(cd "$(dirname "$0")/.." && pwd)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$work"
# 20 copies of the credit data's complete rows (lime.tabular refuses a missing value) for shap.tree,
# whose rows take microseconds each.
data="$work/credit_x20.csv"
head -1 "$src/examples/credit_scoring/data/credit_data.csv" > "$data"
for _ in $(seq 20); do tail -n +2 "$src/examples/credit_scoring/data/credit_data.csv" | grep -v -e NA -e ',,' -e ',$' >> "$data"; done
total_rows=$(($(wc -l < "$data") - 1))
cat > "$work/scaling.yaml" <<YAML
version: 1
name: mpi-scaling
seed: 1
data: {path: $data, target: Status, positive: bad, categorical: [Home, Marital, Records, Job], missing: ["NA", ""]}
model: {type: xgboost, path: $src/examples/credit_scoring/models/credit_xgb.json}
steps:
  - {id: tree, explainer: shap.tree}
  - {id: kernel, explainer: shap.kernel, rows: "0:200", params: {background: 50}}
  - {id: lime, explainer: lime.tabular, rows: "0:400", params: {num_samples: 5000}}
output: {dir: out, formats: [json]}
YAML
rows_of() { case $1 in tree) echo "$total_rows" ;; kernel) echo 200 ;; lime) echo 400 ;; esac; }
printf "%-8s %6s %12s %12s\n" step ranks "seconds" "rows/s"
for ranks in 1 2; do
  out="$work/out$ranks"
  mpirun --oversubscribe -n "$ranks" "$build/bin/loupe" run "$work/scaling.yaml" -o "$out" --threads 1 --quiet
  for step in tree kernel lime; do
    ms=$(/usr/bin/python3 -c "import json, sys; print(next(s['elapsed_ms'] for s in json.load(open(sys.argv[1]))['steps'] if s['id'] == sys.argv[2]))" "$out/run.json" "$step")
    awk -v s="$step" -v k="$ranks" -v ms="$ms" -v n="$(rows_of "$step")" \
      'BEGIN { printf "%-8s %6d %12.2f %12.1f\n", s, k, ms / 1000, n / (ms / 1000) }'
  done
done
