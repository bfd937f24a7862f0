#!/usr/bin/env bash
# Rank 0's peak memory and the rows/s of shap.tree over many rows under `mpirun -n K loupe run` (issue 19:
# streamed results under MPI), on the data, model and pipeline of bench/result_memory.sh. For each K it
# runs the step streamed (the default: chunks dealt to the ranks, rank 0 writing each as it arrives) and
# held whole (`--chunk-rows 100000000`: each rank explains one contiguous block, rank 0 gathers and joins
# them in memory before writing, as before streaming under MPI), prints every rank's peak RSS, the run's
# wall and CPU time (all ranks), the step's time on rank 0 and its rows/s, and checks that the two runs
# wrote the same files byte for byte (elapsed_ms aside).
#
# usage: bench/mpi_stream_memory.sh LOUPE [ROWS] [WORK_DIR] [RANKS...]
#   LOUPE     a loupe binary built with MPI (its plugins are found as usual, next to it)
#   ROWS      rows to explain (default 1045200)
#   WORK_DIR  where the data, model and outputs go (default /tmp/loupe_mpi_stream_memory)
#   RANKS     the rank counts to run (default: 1 2); 1 is a plain run (no mpirun)
# Environment: FORMATS (default "json, csv, npy"), LOUPE_ARGS (extra options of every run, e.g.
# --threads 1), MPIRUN (default mpirun).
set -euo pipefail

loupe=$(realpath "${1:?usage: mpi_stream_memory.sh LOUPE [ROWS] [WORK_DIR] [RANKS...]}")
rows=${2:-1045200}
work=${3:-/tmp/loupe_mpi_stream_memory}
ranks_list=(1 2)
[[ $# -gt 3 ]] && ranks_list=("${@:4}")
here=$(cd "$(dirname "$0")" && pwd)
formats=${FORMATS:-json, csv, npy}
mpirun=${MPIRUN:-mpirun}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

mkdir -p "$work"
if [[ ! -f "$work/data.csv" || $(($(wc -l <"$work/data.csv") - 1)) -ne $rows ]]; then
  echo "writing $rows rows, the model and the pipeline to $work ..."
  python3 "$here/make_result_memory_data.py" "$work" "$rows" "$formats"
fi
sed -i -E "s/formats: \[.*\]/formats: [$formats]/" "$work/pipeline.yaml"

# run NAME RANKS [ARGS...]: the pipeline into $work/out_NAME, each rank under /usr/bin/time -v.
run() {
  local name=$1 ranks=$2 out="$work/out_$1"
  shift 2
  rm -rf "$out" "$work"/time_"$name".*.log
  local start end
  start=$(date +%s.%N)
  if [[ $ranks -eq 1 ]]; then
    /usr/bin/time -v -o "$work/time_$name.0.log" "$loupe" run "$work/pipeline.yaml" -o "$out" --quiet "$@"
  else
    # shellcheck disable=SC2016 # expanded by each rank's shell
    "$mpirun" --oversubscribe -n "$ranks" bash -c \
      '/usr/bin/time -v -o "$0.$OMPI_COMM_WORLD_RANK.log" "$@"' "$work/time_$name" \
      "$loupe" run "$work/pipeline.yaml" -o "$out" --quiet "$@"
  fi
  end=$(date +%s.%N)
  python3 - "$name" "$ranks" "$rows" "$work" "$out" "$start" "$end" <<'PY'
import json, re, sys
name, ranks, rows, work, out, start, end = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), *sys.argv[4:]
rss, cpu = [], 0.0
for r in range(ranks):
    text = open(f"{work}/time_{name}.{r}.log").read()
    rss.append(int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1)) * 1024 / 1e6)
    cpu += float(re.search(r"User time \(seconds\): ([\d.]+)", text).group(1))
    cpu += float(re.search(r"System time \(seconds\): ([\d.]+)", text).group(1))
run = json.load(open(f"{out}/run.json"))
step = next(s for s in run["steps"] if s["id"] == "treeshap")
step_s = step["elapsed_ms"] / 1000
others = ", ".join(f"{v:.1f}" for v in rss[1:]) or "-"
print(f"{name:<16} K={ranks}  rank 0 peak RSS {rss[0]:7.1f} MB  (other ranks {others} MB)  "
      f"wall {float(end) - float(start):6.1f} s  CPU {cpu:6.1f} s  step {step_s:6.2f} s  "
      f"{rows / step_s:9.0f} rows/s")
PY
}

# shellcheck disable=SC2086 # the extra arguments are words
for ranks in "${ranks_list[@]}"; do
  run "streamed_$ranks" "$ranks" ${LOUPE_ARGS:-}
  run "whole_$ranks" "$ranks" --chunk-rows 100000000 ${LOUPE_ARGS:-}
  same=true
  for file in "$work/out_whole_$ranks"/treeshap.*; do
    base=$(basename "$file")
    if [[ $base == *.json ]]; then
      python3 "$here/same_explanation.py" "$file" "$work/out_streamed_$ranks/$base" || same=false
    else
      cmp -s "$file" "$work/out_streamed_$ranks/$base" || same=false
    fi
  done
  if $same; then
    echo "K=$ranks: treeshap.* byte-identical streamed and whole (elapsed_ms aside)"
  else
    echo "K=$ranks: treeshap.* DIFFER between streamed and whole" >&2
    exit 1
  fi
done
