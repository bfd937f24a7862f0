#!/usr/bin/env bash
# Opens every example pipeline's report.html (configs/*.yaml and examples/*/*.yaml, run here) and the
# hand-made report of every explanation kind (tests/core/report/fixtures/every_kind) in headless
# Chromium, and fails when:
#   - the page's script did not finish (<html data-report-ready="1"> missing from the DOM),
#   - a script error happened (<html data-js-errors=...>, recorded by the report's first script),
#   - anything reached the console (the report never logs, so any console line is an error or a warning),
#   - the screenshot is missing or blank.
# Screenshots stay in WORK_DIR/*.png for a look. Exits 77 (ctest SKIP_RETURN_CODE) without Chromium.
#
#   report_browser_test.sh LOUPE_EXE SOURCE_DIR WORK_DIR
set -euo pipefail
loupe=$1 source_dir=$2 work=$3

browser=${LOUPE_CHROMIUM:-}
for candidate in chromium chromium-browser /usr/bin/chromium; do
  if [[ -z "$browser" ]] && command -v "$candidate" >/dev/null 2>&1; then browser=$(command -v "$candidate"); fi
done
if [[ -z "$browser" ]]; then
  echo "SKIP: Chromium is not installed; 'LOUPE_WITH_BROWSER=1 bash scripts/install-deps.sh' installs it."
  exit 77
fi

rm -rf "$work" && mkdir -p "$work/profile"
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# Headless Chromium on a file; $1 report, $2... extra flags. Stdout: the DOM (or nothing), stderr: its log.
browse() {
  local page=$1
  shift
  timeout 120 "$browser" --headless --disable-gpu --no-sandbox --disable-dev-shm-usage --no-first-run \
    --user-data-dir="$work/profile" --enable-logging=stderr --v=0 "$@" "file://$page"
}

check_report() {
  local name=$1 report=$2
  if [[ ! -s "$report" ]]; then
    fail "$name: no report at $report"
    return
  fi
  browse "$report" --dump-dom >"$work/$name.dom" 2>"$work/$name.log" || fail "$name: Chromium exited with $?"
  grep -q 'data-report-ready="1"' "$work/$name.dom" || fail "$name: the report's script did not finish"
  if grep -o 'data-js-errors="[^"]*"' "$work/$name.dom"; then fail "$name: script errors"; fi
  if grep ':CONSOLE' "$work/$name.log"; then fail "$name: console output"; fi
  browse "$report" --hide-scrollbars --window-size=1100,2400 --screenshot="$work/$name.png" \
    >/dev/null 2>>"$work/$name.log" || fail "$name: the screenshot failed"
  local size
  size=$(stat -c %s "$work/$name.png" 2>/dev/null || echo 0)
  # a white page of this size compresses to a few kilobytes; charts and text take far more
  if ((size < 40000)); then fail "$name: the screenshot is blank or missing ($size bytes)"; fi
  echo "$name: ok ($work/$name.png, $size bytes)"
}

# Every example pipeline (a YAML file with steps; model files live deeper, under examples/*/models/).
for pipeline in "$source_dir"/configs/*.yaml "$source_dir"/examples/*/*.yaml; do
  grep -q '^steps:' "$pipeline" || continue
  name=$(basename "$(dirname "$pipeline")")_$(basename "$pipeline" .yaml)
  if ! "$loupe" run "$pipeline" -o "$work/$name" --quiet --set output.formats='[json, html]' \
    >"$work/$name.run.log" 2>&1; then
    cat "$work/$name.run.log" >&2
    fail "$name: loupe run failed"
    continue
  fi
  check_report "$name" "$work/$name/report.html"
done

# A surrogate tree of depth 6 (up to 64 leaves, several times the page width) on the credit data: the page
# says the tree scrolls, the tree scrolls inside its own box (opened at its root, mid-way) while the page
# keeps its width, and the "fit it to the page width" switch scales the tree into the box. A probe script appended to a copy of the report
# measures the layout in Chromium and writes it on <html data-*> for the DOM dump.
credit=$source_dir/examples/credit_scoring
cat >"$work/wide_tree.yaml" <<EOF
version: 1
name: wide-tree
data: {path: $credit/data/credit_data.csv, target: Status, positive: bad, categorical: [Home, Marital, Records, Job]}
model: {path: $credit/models/credit_logreg.yaml}
steps:
  - {id: surrogate, explainer: surrogate.tree, params: {max_depth: 6}}
output: {dir: wide_tree, formats: [json, html]}
EOF
probe='<script>(function(){var h=document.documentElement,box=document.querySelector(".tree-scroll");'
probe+='h.setAttribute("data-box",box.clientWidth);h.setAttribute("data-tree",box.scrollWidth);'
probe+='h.setAttribute("data-page",h.scrollWidth);h.setAttribute("data-scrolled",Math.round(box.scrollLeft));'
probe+='document.querySelector(".fit-toggle").checked=true;'
probe+='h.setAttribute("data-fitted",Math.round(box.querySelector("svg").getBoundingClientRect().width));})();</script>'
measure() { grep -o "data-$1=\"[0-9]*\"" "$work/wide_tree.probe.dom" | grep -o '[0-9][0-9]*' || echo 0; }
if "$loupe" run "$work/wide_tree.yaml" --quiet >"$work/wide_tree.run.log" 2>&1; then
  check_report wide_tree "$work/wide_tree/report.html"
  grep -q 'class="muted tree-hint"' "$work/wide_tree/report.html" || fail "wide_tree: the page does not say the tree scrolls"
  sed "s#</body>#${probe}</body>#" "$work/wide_tree/report.html" >"$work/wide_tree/probe.html"
  browse "$work/wide_tree/probe.html" --window-size=1100,2400 --dump-dom >"$work/wide_tree.probe.dom" 2>/dev/null || true
  box=$(measure box) tree=$(measure tree) page=$(measure page) scrolled=$(measure scrolled) fitted=$(measure fitted)
  echo "wide_tree: box $box px, tree $tree px (opens scrolled by $scrolled px), page $page px, fitted $fitted px"
  ((box > 0 && tree > 2 * box)) || fail "wide_tree: the depth-6 tree does not scroll inside its box"
  ((scrolled > 0)) || fail "wide_tree: the tree does not open at its root (scrolled by $scrolled px)"
  ((page <= 1100)) || fail "wide_tree: the page itself is $page px wide; only the tree's box should scroll"
  ((fitted > 0 && fitted <= box)) || fail "wide_tree: 'fit it to the page width' leaves the tree $fitted px wide"
else
  cat "$work/wide_tree.run.log" >&2
  fail "wide_tree: loupe run failed"
fi

# One step of every kind, hand-made (attention included, whose plugin may not be built).
cp -r "$source_dir/tests/core/report/fixtures/every_kind" "$work/every_kind"
"$loupe" report "$work/every_kind" >/dev/null || fail "every_kind: loupe report failed"
check_report every_kind "$work/every_kind/report.html"

if ((failures > 0)); then
  echo "$failures check(s) failed; logs and screenshots in $work" >&2
  exit 1
fi
