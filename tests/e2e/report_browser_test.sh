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

# One step of every kind, hand-made (attention included, whose plugin may not be built).
cp -r "$source_dir/tests/core/report/fixtures/every_kind" "$work/every_kind"
"$loupe" report "$work/every_kind" >/dev/null || fail "every_kind: loupe report failed"
check_report every_kind "$work/every_kind/report.html"

if ((failures > 0)); then
  echo "$failures check(s) failed; logs and screenshots in $work" >&2
  exit 1
fi
