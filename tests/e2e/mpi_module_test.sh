#!/usr/bin/env bash
# The MPI module (docs/architecture.md §1, "Modules loaded on first use"): a plain `loupe run` and
# `loupe predict` load neither it nor libmpi; each rank of `mpirun -n 2 loupe run` loads both; a copy of
# loupe with no lib/loupe/modules beside it refuses a run under `mpirun -n 2` on every rank with the sentence
# naming where it looked (exit 2), and finds the module through LOUPE_MODULE_PATH, with the outputs
# of the build's binary.
#
#   mpi_module_test.sh LOUPE_EXE SOURCE_DIR WORK_DIR MODULE_FILE MPIRUN
# Exits 77 (ctest's SKIP_RETURN_CODE) when mpirun is absent.
set -uo pipefail
loupe=$1 source_dir=$2 work=$3 module=$(realpath "$4") mpirun=${5:-}
if [[ -z "$mpirun" || ! -x "$mpirun" ]]; then
  echo "skipped: mpirun was not found (install openmpi-bin)"
  exit 77
fi
# CI runs as root; Open MPI refuses that unless told. --oversubscribe: more ranks than cores.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpirun() { "$mpirun" --oversubscribe "$@"; }

source "$(dirname "${BASH_SOURCE[0]}")/module_checks.sh"
rm -rf "$work" && mkdir -p "$work" || exit 1
unset LOUPE_MODULE_PATH LOUPE_PLUGIN_PATH
plugins=$(dirname "$(dirname "$module")")/plugins

lazy_libraries='libmpi|libopen-rte|libopen-pal|libhwloc|libevent|loupe_mpi'
# step.json without its elapsed time.
step() { sed -E 's/("elapsed_ms": *)[-0-9.eE+]+/\1X/' "$1/step.json"; }

cat >"$work/perm.yaml" <<YAML
version: 1
name: mpi-module
seed: 7
data: {path: $source_dir/tests/data/breast_cancer.csv, target: target}
model: {type: native, path: $source_dir/tests/fixtures/models/breast_cancer_mlp.yaml}
steps:
  - {id: step, explainer: shap.permutation, rows: '0:4', params: {max_evals: 120, background: '100:120'}}
output: {dir: $work/plain, formats: [json]}
YAML

LD_DEBUG=files "$loupe" run "$work/perm.yaml" -q 2>"$work/plain.ld" ||
  fail "a plain run failed: $(grep -v '^ *[0-9]*:' "$work/plain.ld")"
loaded "$work/plain.ld" | grep -q 'libc\.so' || fail "LD_DEBUG=files reported nothing: cannot check what loads"
if loaded "$work/plain.ld" | grep -E "$lazy_libraries"; then fail "a plain run loaded the libraries above"; fi
LD_DEBUG=files "$loupe" predict --model "$source_dir/tests/fixtures/models/breast_cancer_mlp.yaml" \
  --data "$source_dir/tests/data/breast_cancer.csv" -o "$work/predict.csv" 2>"$work/predict.ld" ||
  fail "loupe predict failed: $(grep -v '^ *[0-9]*:' "$work/predict.ld")"
if loaded "$work/predict.ld" | grep -E "$lazy_libraries"; then fail "loupe predict loaded the libraries above"; fi

mpirun -n 2 env LD_DEBUG=files LD_DEBUG_OUTPUT="$work/ranks.ld" "$loupe" run "$work/perm.yaml" -q \
  -o "$work/ranks" >"$work/ranks.out" 2>&1 || fail "mpirun -n 2 loupe run failed: $(cat "$work/ranks.out")"
ld_files=("$work"/ranks.ld.*)
[[ ${#ld_files[@]} -ge 2 ]] || fail "mpirun -n 2 left ${#ld_files[@]} LD_DEBUG files, not one a rank"
ranks_with_mpi=0
for file in "${ld_files[@]}"; do
  libraries=$(loaded "$file")
  if grep -q libmpi <<<"$libraries" && grep -qF "$module" <<<"$libraries"; then
    ranks_with_mpi=$((ranks_with_mpi + 1))
  fi
done
[[ $ranks_with_mpi -ge 2 ]] || fail "$ranks_with_mpi process(es) of mpirun -n 2 loaded libmpi and $module, not 2"
grep -qE '"ranks": *2' "$work/ranks/run.json" || fail "mpirun -n 2: run.json does not say 2 ranks"
cmp -s <(step "$work/plain") <(step "$work/ranks") || fail "mpirun -n 2 wrote another step.json than a plain run"

# A copy of the binary with no lib/loupe/modules beside it, outside the build tree (whose lib/loupe/modules
# the search would find above it), given the build's plugins by --plugin-path (which, unlike
# LOUPE_PLUGIN_PATH, names no module folder): the configured install prefix is the only other place,
# skipped when a Loupe installed there holds a module.
copy_without_modules "$loupe"
"$copy" version >"$work/copy-version.out" 2>&1
if grep -qF "MPI runs: supported" "$work/copy-version.out"; then
  echo "SKIP the missing-module checks: $(grep '^MPI' "$work/copy-version.out")"
else
  grep -qF "MPI runs: not available: this build has MPI, but its MPI module loupe_mpi.so was not found (looked above $copy for lib/loupe/modules" \
    "$work/copy-version.out" || fail "loupe version without the module: $(cat "$work/copy-version.out")"
  "$copy" run "$work/perm.yaml" --plugin-path "$plugins" -q -o "$work/copy-plain" >"$work/copy-plain.out" 2>&1 ||
    fail "a plain run without the MPI module failed: $(cat "$work/copy-plain.out")"
  # Each rank's stderr and exit status go to files of its own (on one stream, the ranks' lines interleave),
  # and mpirun lets every rank finish instead of killing the others when the first exits non-zero.
  mpirun -n 2 --mca orte_abort_on_non_zero_status 0 \
    sh -c '"$@" 2>"$0.$OMPI_COMM_WORLD_RANK.err"; echo $? >"$0.$OMPI_COMM_WORLD_RANK.rc"' "$work/missing" \
    "$copy" run "$work/perm.yaml" --plugin-path "$plugins" -q -o "$work/missing" >"$work/missing.out" 2>&1
  sentence="loupe: this loupe was built with MPI, but its MPI module loupe_mpi.so was not found \(looked above $copy for lib/loupe/modules[^)]*\), so it cannot split a run across the 2 ranks the launcher started; reinstall Loupe, or set LOUPE_MODULE_PATH to the folder that holds it\."
  for rank in 0 1; do
    rc=$(cat "$work/missing.$rank.rc" 2>/dev/null)
    [[ $rc == 2 ]] || fail "mpirun -n 2 without the module: rank $rank exited '$rc', not 2: $(cat "$work/missing.out")"
    said=$(grep -cE "^$sentence\$" "$work/missing.$rank.err" 2>/dev/null)
    [[ $said == 1 ]] ||
      fail "mpirun -n 2 without the module: rank $rank said the sentence ${said:-0} times, not once: $(cat "$work/missing.$rank.err" "$work/missing.out" 2>&1)"
  done
  [[ ! -e "$work/missing/step.json" ]] || fail "mpirun -n 2 without the module wrote outputs"
fi
mpirun -n 2 env LOUPE_MODULE_PATH="$work/nothing-here:$(dirname "$module")" "$copy" run "$work/perm.yaml" --plugin-path "$plugins" -q \
  -o "$work/module-path" >"$work/module-path.out" 2>&1 || fail "LOUPE_MODULE_PATH: $(cat "$work/module-path.out")"
grep -qE '"ranks": *2' "$work/module-path/run.json" || fail "LOUPE_MODULE_PATH: run.json does not say 2 ranks"
cmp -s <(step "$work/plain") <(step "$work/module-path") || fail "the run through LOUPE_MODULE_PATH differs"

finish "ok: the MPI module loads under a launcher only, and is found or named when missing"
