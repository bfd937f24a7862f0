#!/usr/bin/env bash
# Peak memory and wall time of a whole `loupe run` of shap.tree over many rows of an XGBoost model
# (issue 13: the result path). Prints peak RSS, wall time, the size of the attribution arrays (values +
# base_values; values + data, as issue 13 counts them: f64 each), the ratios, and the output sizes
# (MB = 1e6 bytes). With a second binary it runs that one too and checks that both wrote the same files
# byte for byte (elapsed_ms aside).
#
# usage: bench/result_memory.sh LOUPE [BASELINE_LOUPE] [ROWS] [WORK_DIR]
#   LOUPE           the loupe binary to measure (its plugins are found as usual, next to it)
#   BASELINE_LOUPE  optional: a build of an earlier commit to compare with ("" to skip)
#   ROWS            rows to explain (default 1045200)
#   WORK_DIR        where the data, model and outputs go (default /tmp/loupe_result_memory)
# The data and model come from bench/make_result_memory_data.py (seeded, standard library only).
set -euo pipefail

loupe=${1:?usage: result_memory.sh LOUPE [BASELINE_LOUPE] [ROWS] [WORK_DIR]}
baseline=${2:-}
rows=${3:-1045200}
work=${4:-/tmp/loupe_result_memory}
here=$(cd "$(dirname "$0")" && pwd)

if [[ ! -f "$work/data.csv" || $(($(wc -l <"$work/data.csv") - 1)) -ne $rows ]]; then
  echo "writing $rows rows, the model and the pipeline to $work ..."
  python3 "$here/make_result_memory_data.py" "$work" "$rows" "json, csv"
fi

# run NAME BINARY: runs the pipeline into $work/out_NAME and prints its figures.
run() {
  local name=$1 binary=$2 out="$work/out_$1" log="$work/time_$1.log"
  rm -rf "$out"
  /usr/bin/time -v "$binary" run "$work/pipeline.yaml" -o "$out" --quiet 2>"$log" >/dev/null || {
    cat "$log" >&2
    exit 1
  }
  local rss_kb wall
  rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log")
  # Attribution arrays: one CSV line per (row, output) holds one base value and F attributions.
  # values + data as the issue counts them: [R][O][F] attributions and the [R][F] feature values, 8 bytes each.
  local lines features rows array_bytes attribution_bytes
  lines=$(($(wc -l <"$out/treeshap.csv") - 1))
  features=$(($(head -1 "$out/treeshap.csv" | tr ',' '\n' | wc -l) - 3))
  rows=$(tail -n +2 "$out/treeshap.csv" | cut -d, -f1 | uniq | wc -l)
  array_bytes=$((lines * (features + 1) * 8))
  attribution_bytes=$(((lines + rows) * features * 8))
  awk -v name="$name" -v rss="$rss_kb" -v wall="$wall" -v arrays="$array_bytes" -v attribution="$attribution_bytes" \
    -v json="$(stat -c %s "$out/treeshap.json")" -v csv="$(stat -c %s "$out/treeshap.csv")" 'BEGIN {
      printf "%-9s peak RSS %7.1f MB   wall %s   values+base %6.1f MB (peak %5.2fx)   values+data %6.1f MB (peak %5.2fx)   json %6.1f MB   csv %6.1f MB\n",
        name, rss * 1024 / 1e6, wall, arrays / 1e6, rss * 1024 / arrays, attribution / 1e6, rss * 1024 / attribution,
        json / 1e6, csv / 1e6 }'
}

# The step's JSON without its elapsed_ms (the one field that differs between two runs).
normalised() { sed -E 's/"elapsed_ms":[-0-9.eE+]+/"elapsed_ms":0/' "$1"; }

[[ -n "$baseline" ]] && run before "$baseline"
run after "$loupe"
if [[ -n "$baseline" ]]; then
  if cmp -s <(normalised "$work/out_before/treeshap.json") <(normalised "$work/out_after/treeshap.json") &&
    cmp -s "$work/out_before/treeshap.csv" "$work/out_after/treeshap.csv"; then
    echo "treeshap.json (elapsed_ms aside) and treeshap.csv: byte-identical before and after"
  else
    echo "treeshap.json or treeshap.csv DIFFER between before and after" >&2
    exit 1
  fi
fi
