#!/usr/bin/env bash
# Loupe against shap 0.42.1, lime and XGBoost, side by side in one run (issue 21): see bench/vs_reference.py
# for the workloads and how each side is timed. Needs ../shared/pyrefs (the reference libraries) and
# Debian's python3-numpy, -scipy, -pandas, -sklearn (lime) and, for the TreeSHAP rows, python3-xgboost.
#
#   bench/vs_reference.sh [BUILD_DIR] [vs_reference.py options: --runs 5 --threads 1,2 --workloads ...]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
[[ $# -gt 0 ]] && shift
if [[ ! -x "$build/bin/loupe" ]]; then
  echo "vs_reference: $build/bin/loupe is not built (cmake --build $build --target loupe loupe_shap loupe_lime)" >&2
  exit 2
fi
pyrefs="$root/../shared/pyrefs"
[[ -f "$pyrefs/env.sh" ]] || { echo "vs_reference: $pyrefs/env.sh is missing (the reference libraries)" >&2; exit 2; }
# shellcheck source=/dev/null
source "$pyrefs/env.sh"
/usr/bin/python3 -c 'import numpy, scipy, pandas, sklearn, shap, lime.lime_tabular' || {
  echo "vs_reference: the reference libraries do not import; see $pyrefs/README.md for the Debian packages" >&2
  exit 2
}
workloads="kernel,permutation,exact,lime,tree,interactions,interventional"
if ! /usr/bin/python3 -c 'import xgboost' 2>/dev/null; then
  echo "vs_reference: python3-xgboost is not installed: the TreeSHAP rows are skipped" >&2
  workloads="kernel,permutation,exact,lime"
fi
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
exec /usr/bin/python3 "$root/bench/vs_reference.py" --loupe "$build/bin/loupe" --workloads "$workloads" "$@"
