#!/usr/bin/env bash
# The third-party path, as a plugin author walks it: install Loupe into a prefix, build the SDK template
# and examples/third_party_plugin against it with find_package(loupe), load them with the installed
# loupe, and run a pipeline that uses the example's explainer; then build examples/embedding against the
# installed loupe::core and run it.
set -euo pipefail
build_dir=$1 source_dir=$2 work=$3
rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix

cmake --install "$build_dir" --prefix "$prefix" > "$work/install.log"
for header in loupe/c/loupe_plugin.h loupe/sdk/plugin.hpp loupe/testing/conformance.hpp; do
  test -f "$prefix/include/$header" || { echo "not installed: include/$header"; exit 1; }
done
test -f "$prefix/lib/cmake/loupe/loupeConfig.cmake" || { echo "not installed: loupeConfig.cmake"; exit 1; }

build_plugin() {  # NAME SOURCE_DIR
  cmake -S "$2" -B "$work/$1" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" > "$work/$1.configure.log"
  cmake --build "$work/$1" > "$work/$1.build.log"
  mkdir -p "$work/plugins-$1"
  find "$work/$1" -maxdepth 2 -name '*.so' -exec cp {} "$work/plugins-$1/" \;
  test -n "$(ls "$work/plugins-$1")" || { echo "$1 built no shared library"; exit 1; }
}
build_plugin template "$source_dir/sdk/template"
build_plugin example "$source_dir/examples/third_party_plugin"

# Every explainer of both passes the SDK's conformance kit, run by a program built against the install.
cmake -S "$source_dir/tests/e2e/conformance_runner" -B "$work/runner" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" > "$work/runner.configure.log"
cmake --build "$work/runner" > "$work/runner.build.log"
for plugin in "$work"/plugins-template/*.so "$work"/plugins-example/*.so; do
  "$work/runner/loupe_conformance_runner" "$plugin"
done

loupe=$prefix/bin/loupe
"$loupe" plugins --plugin-path "$work/plugins-template" --plugin-path "$work/plugins-example" > "$work/plugins.txt"
grep -q '^shap ' "$work/plugins.txt" || { echo "the installed loupe does not find its built-in shap plugin"; cat "$work/plugins.txt"; exit 1; }
grep -q 'occlusion.ablation' "$work/plugins.txt" || { echo "the example plugin is not listed"; cat "$work/plugins.txt"; exit 1; }

cat > "$work/pipeline.yaml" <<YAML
version: 1
name: third-party
data:
  path: $source_dir/examples/credit_scoring/data/credit_data.csv
  target: Status
  categorical: [Home, Marital, Records, Job]
model:
  path: $source_dir/examples/credit_scoring/models/credit_logreg.yaml
steps:
  - {id: ablation, explainer: occlusion.ablation, rows: "0:5"}
output:
  dir: $work/out
YAML
"$loupe" run "$work/pipeline.yaml" --plugin-path "$work/plugins-example" -q
grep -Eq '"kind": ?"feature_attribution"' "$work/out/ablation.json" || { echo "no attribution written"; exit 1; }
grep -Eq '"explainer": ?"occlusion.ablation"' "$work/out/ablation.json"
# The embedding path: examples/embedding built against the installed loupe::core (COMPONENTS core).
cmake -S "$source_dir/examples/embedding" -B "$work/embedding" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" > "$work/embedding.configure.log"
cmake --build "$work/embedding" > "$work/embedding.build.log"
LOUPE_PLUGIN_PATH=$prefix/lib/loupe/plugins "$work/embedding/explain_credit" \
  "$source_dir/examples/credit_scoring/data/credit_data.csv" \
  "$source_dir/examples/credit_scoring/models/credit_logreg.yaml" 1 > "$work/embedding.txt"
grep -q '^row 0: P(bad) = 0.3614' "$work/embedding.txt" || { echo "the embedding example built against the install did not explain row 0"; cat "$work/embedding.txt"; exit 1; }
echo "out-of-tree plugins and the embedding example built, loaded and run"
