#!/usr/bin/env bash
# The ONNX reader module (docs/architecture.md §1, "Modules loaded on first use"): `loupe version` and a run
# without an ONNX model load neither it nor protobuf; `loupe predict` on an ONNX model loads them on first
# use; a copy of loupe with no lib/loupe/modules beside it refuses the model with the sentence naming where
# it looked, and finds the module through LOUPE_MODULE_PATH, or beside a LOUPE_PLUGIN_PATH folder, with the
# same predictions.
#
#   onnx_module_test.sh LOUPE_EXE SOURCE_DIR WORK_DIR MODULE_FILE
set -uo pipefail
loupe=$1 source_dir=$2 work=$3 module=$(realpath "$4")
model=$source_dir/examples/onnx_models/models/credit_gb.onnx
data=$source_dir/examples/credit_scoring/data/credit_data.csv
native=$source_dir/examples/credit_scoring/models/credit_logreg.yaml

source "$(dirname "${BASH_SOURCE[0]}")/module_checks.sh"
rm -rf "$work" && mkdir -p "$work" || exit 1
unset LOUPE_MODULE_PATH LOUPE_PLUGIN_PATH

lazy_libraries='libprotobuf|libonnx_proto|loupe_onnx_reader'

LD_DEBUG=files "$loupe" version >"$work/version.out" 2>"$work/version.ld" || fail "loupe version failed"
grep -qF "ONNX models: supported (libonnx" "$work/version.out" || fail "loupe version: $(cat "$work/version.out")"
grep -qF "reader module $module)" "$work/version.out" || fail "loupe version does not name $module"
if loaded "$work/version.ld" | grep -E "$lazy_libraries"; then fail "loupe version loaded the libraries above"; fi
loaded "$work/version.ld" | grep -q 'libc\.so' || fail "LD_DEBUG=files reported nothing: cannot check what loads"

LD_DEBUG=files "$loupe" predict --model "$native" --data "$data" -o "$work/native.csv" 2>"$work/native.ld" ||
  fail "loupe predict on a native model failed: $(grep -v '^ *[0-9]*:' "$work/native.ld")"
if loaded "$work/native.ld" | grep -E "$lazy_libraries"; then fail "a native model's predict loaded the libraries above"; fi

LD_DEBUG=files "$loupe" predict --model "$model" --data "$data" -o "$work/onnx.csv" 2>"$work/onnx.ld" ||
  fail "loupe predict on $model failed: $(grep -v '^ *[0-9]*:' "$work/onnx.ld")"
for library in libprotobuf libonnx_proto loupe_onnx_reader; do
  loaded "$work/onnx.ld" | grep -q "$library" || fail "an ONNX model's predict did not load $library"
done
[[ $(wc -l <"$work/onnx.csv") -gt 100 ]] || fail "$work/onnx.csv holds too few predictions"

# A copy of the binary with no lib/loupe/modules beside it, outside the build tree (the search finds the
# build's lib/loupe/modules up to four levels above build/tests/e2e/onnx_module/bin): the configured install
# prefix is the only other place, skipped when a Loupe installed there holds a module.
copy_without_modules "$loupe"
"$copy" version >"$work/copy-version.out" 2>&1
if grep -qF "ONNX models: supported" "$work/copy-version.out"; then
  echo "SKIP the missing-module checks: $(grep '^ONNX' "$work/copy-version.out")"
else
  grep -qF "ONNX models: not available: this build reads them, but its reader module loupe_onnx_reader.so was not found (looked above $copy for lib/loupe/modules" \
    "$work/copy-version.out" || fail "loupe version without the module: $(cat "$work/copy-version.out")"
  "$copy" predict --model "$model" --data "$data" -o "$work/missing.csv" >"$work/missing.out" 2>&1
  rc=$?
  [[ $rc == 2 ]] || fail "predict without the module exited $rc, not 2"
  grep -qE "model '$model' is an ONNX model, but Loupe's ONNX reader module loupe_onnx_reader.so was not found \(looked above $copy for lib/loupe/modules[^)]*\); reinstall Loupe, or set LOUPE_MODULE_PATH to the folder that holds it\." \
    "$work/missing.out" || fail "predict without the module said: $(cat "$work/missing.out")"
fi
LOUPE_MODULE_PATH=$work/nothing-here:$(dirname "$module") "$copy" predict --model "$model" --data "$data" \
  -o "$work/module-path.csv" 2>"$work/module-path.err" || fail "LOUPE_MODULE_PATH: $(cat "$work/module-path.err")"
cmp -s "$work/onnx.csv" "$work/module-path.csv" || fail "the predictions through LOUPE_MODULE_PATH differ"
LOUPE_PLUGIN_PATH=$(dirname "$(dirname "$module")")/plugins/ "$copy" predict --model "$model" --data "$data" \
  -o "$work/plugin-path.csv" 2>"$work/plugin-path.err" || fail "LOUPE_PLUGIN_PATH: $(cat "$work/plugin-path.err")"
cmp -s "$work/onnx.csv" "$work/plugin-path.csv" || fail "the predictions through LOUPE_PLUGIN_PATH differ"

finish "ok: the ONNX reader module loads on first use only, and is found or named when missing"
