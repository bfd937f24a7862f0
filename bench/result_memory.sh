#!/usr/bin/env bash
# Peak memory and wall time of a whole `loupe run` of shap.tree over many rows of an XGBoost model
# (issue 13: the result path). Prints peak RSS, wall time, the size of the attribution arrays (values +
# base_values; values + data, as issue 13 counts them: f64 each), the ratios, and the output sizes
# (MB = 1e6 bytes). With a second binary it runs that one too and checks that both wrote the same files
# byte for byte (elapsed_ms aside).
#
# usage: bench/result_memory.sh LOUPE [BASELINE_LOUPE] [ROWS] [WORK_DIR]
#   LOUPE           the loupe binary to measure (its plugins are found as usual, next to it)
#   BASELINE_LOUPE  optional: a build of an earlier commit to compare with ("" to skip); may be LOUPE
#                   itself with BASELINE_ARGS="--chunk-rows 100000000": the step in one call, written whole
#   ROWS            rows to explain (default 1045200)
#   WORK_DIR        where the data, model and outputs go (default /tmp/loupe_result_memory)
# Environment: FORMATS (default "json, csv"; add npy for the .npy files), LOUPE_ARGS and BASELINE_ARGS
# (extra options of each run, e.g. --threads 2).
# The data and model come from bench/make_result_memory_data.py (seeded, standard library only).
set -euo pipefail

loupe=${1:?usage: result_memory.sh LOUPE [BASELINE_LOUPE] [ROWS] [WORK_DIR]}
baseline=${2:-}
rows=${3:-1045200}
work=${4:-/tmp/loupe_result_memory}
here=$(cd "$(dirname "$0")" && pwd)
formats=${FORMATS:-json, csv}

if [[ ! -f "$work/data.csv" || $(($(wc -l <"$work/data.csv") - 1)) -ne $rows ]]; then
  echo "writing $rows rows, the model and the pipeline to $work ..."
  python3 "$here/make_result_memory_data.py" "$work" "$rows" "$formats"
fi
sed -i -E "s/formats: \[.*\]/formats: [$formats]/" "$work/pipeline.yaml"

# run NAME BINARY [ARGS...]: runs the pipeline into $work/out_NAME and prints its figures.
run() {
  local name=$1 binary=$2 out="$work/out_$1" log="$work/time_$1.log"
  shift 2
  rm -rf "$out"
  /usr/bin/time -v "$binary" run "$work/pipeline.yaml" -o "$out" --quiet "$@" 2>"$log" >/dev/null || {
    cat "$log" >&2
    exit 1
  }
  local rss_kb wall cpu npy_bytes=0
  rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log")
  cpu=$(awk -F': ' '/User time/ {u = $2} /System time/ {s = $2} END {printf "%.1f s", u + s}' "$log")
  if compgen -G "$out/treeshap.*.npy" >/dev/null; then npy_bytes=$(cat "$out"/treeshap.*.npy | wc -c); fi
  # Attribution arrays: one CSV line per (row, output) holds one base value and F attributions.
  # values + data as the issue counts them: [R][O][F] attributions and the [R][F] feature values, 8 bytes each.
  local lines features rows array_bytes attribution_bytes
  lines=$(($(wc -l <"$out/treeshap.csv") - 1))
  features=$(($(head -1 "$out/treeshap.csv" | tr ',' '\n' | wc -l) - 3))
  rows=$(tail -n +2 "$out/treeshap.csv" | cut -d, -f1 | uniq | wc -l)
  array_bytes=$((lines * (features + 1) * 8))
  attribution_bytes=$(((lines + rows) * features * 8))
  awk -v name="$name" -v rss="$rss_kb" -v wall="$wall" -v cpu="$cpu" -v arrays="$array_bytes" -v attribution="$attribution_bytes" \
    -v json="$(stat -c %s "$out/treeshap.json")" -v csv="$(stat -c %s "$out/treeshap.csv")" -v npy="$npy_bytes" 'BEGIN {
      printf "%-9s peak RSS %7.1f MB   wall %s   cpu %s   values+base %6.1f MB (peak %5.2fx)   values+data %6.1f MB (peak %5.2fx)   json %6.1f MB   csv %6.1f MB   npy %6.1f MB\n",
        name, rss * 1024 / 1e6, wall, cpu, arrays / 1e6, rss * 1024 / arrays, attribution / 1e6, rss * 1024 / attribution,
        json / 1e6, csv / 1e6, npy / 1e6 }'
}


# shellcheck disable=SC2086 # the extra arguments are words
[[ -n "$baseline" ]] && run before "$baseline" ${BASELINE_ARGS:-}
# shellcheck disable=SC2086
run after "$loupe" ${LOUPE_ARGS:-}
if [[ -n "$baseline" ]]; then
  same_npy=true
  for npy in "$work"/out_after/treeshap.*.npy; do
    [[ -e "$npy" ]] || continue
    cmp -s "$npy" "$work/out_before/$(basename "$npy")" || same_npy=false
  done
  # The step's JSON but for its elapsed_ms (the one field that differs between two runs), a block at a time:
  # at 10M rows it is one line of 2.3 GB, longer than sed takes.
  if python3 "$here/same_explanation.py" "$work/out_before/treeshap.json" "$work/out_after/treeshap.json" &&
    cmp -s "$work/out_before/treeshap.csv" "$work/out_after/treeshap.csv" && $same_npy; then
    echo "treeshap.json (elapsed_ms aside), treeshap.csv and the .npy files: byte-identical before and after"
  else
    echo "treeshap.json or treeshap.csv DIFFER between before and after" >&2
    exit 1
  fi
fi
