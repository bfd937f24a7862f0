#!/usr/bin/env bash
# Installs the Debian 12 packages Loupe needs to build and test, when some are missing.
# Run as root (make demo / make test call it first). Only Debian's package registry is used.
set -euo pipefail

# What building the loupe binary and its plugins needs: all that `make demo` installs (LOUPE_FOR_DEMO=1).
packages=(cmake ninja-build g++ make libboost-dev libboost-program-options-dev libdnnl-dev ocl-icd-opencl-dev
  libtbb-dev libyaml-cpp-dev nlohmann-json3-dev)
# PCRE2: the regular expressions of huggingface tokenizers (core/src/model/hf_regex.cpp); small, so required.
packages+=(libpcre2-dev)
# The tests, the benchmarks and `make format-check`: not for the demo, which configures without tests and
# benchmarks. clang-format alone brings LLVM, a third of the demo's download.
if [[ "${LOUPE_FOR_DEMO:-0}" != 1 ]]; then
  packages+=(libgtest-dev libgmock-dev libbenchmark-dev clang-format)
fi
# The Python package (python/, LOUPE_BUILD_PYTHON) and its tests: Debian's Python 3.11 with its numpy,
# pandas, scikit-learn and pytest. Not for `make demo`, which does not build it: scikit-learn and SciPy
# alone are a minute of downloading.
if [[ "${LOUPE_FOR_DEMO:-0}" != 1 && "${LOUPE_WITH_PYTHON:-1}" == 1 ]]; then
  packages+=(pybind11-dev python3-dev python3-numpy python3-pandas python3-sklearn python3-pytest)
fi
# ONNX models (core/src/onnx, LOUPE_WITH_ONNX=AUTO): Debian's ONNX and protobuf libraries. Not for `make
# demo`, whose pipeline reads no ONNX model: without them the feature is absent and `loupe version` says so.
if [[ "${LOUPE_FOR_DEMO:-0}" != 1 && "${LOUPE_WITH_ONNX:-1}" == 1 ]]; then
  packages+=(libonnx-dev libprotobuf-dev)
fi
# TLS in `loupe serve` and https:// remote models (core/src/http, LOUPE_WITH_TLS=AUTO): Debian's OpenSSL
# headers. Not for `make demo`, which serves nothing: without them TLS is absent and `loupe version` says so.
if [[ "${LOUPE_FOR_DEMO:-0}" != 1 && "${LOUPE_WITH_TLS:-1}" == 1 ]]; then
  packages+=(libssl-dev)
fi
# MPI runs (`mpirun -n K loupe run`, core/src/mpi, LOUPE_WITH_MPI=AUTO; docs/scale_out.md): Open MPI's
# headers and its launcher, for `make test` (tests/e2e/mpi_run_test.sh runs mpirun). Not for `make demo`,
# which runs on one machine: without them MPI runs are absent and `loupe version` says so.
if [[ "${LOUPE_FOR_DEMO:-0}" != 1 && "${LOUPE_WITH_MPI:-1}" == 1 ]]; then
  packages+=(libopenmpi-dev openmpi-bin)
fi
# Chromium is only for the browser test of report.html (tests/e2e/report_browser_test.sh, skipped without
# it): installed with LOUPE_WITH_BROWSER=1, and by default on CI machines (which set CI=true) but not
# for the demo.
if [[ -n "${CI:-}" && "${CI}" != false && "${LOUPE_FOR_DEMO:-0}" != 1 ]]; then default_browser=1; else default_browser=0; fi
if [[ "${LOUPE_WITH_BROWSER:-$default_browser}" == 1 ]]; then packages+=(chromium); fi
# Clang builds the AddressSanitizer tree (make test-sanitize: LOUPE_WITH_CLANG=1) and the fuzz
# targets (make fuzz: LOUPE_WITH_FUZZ=1, which adds libFuzzer). libomp-14-dev only for its omp.h:
# cmake/LoupeOpenMP.cmake links GCC's OpenMP runtime, as oneDNN's.
if [[ "${LOUPE_WITH_CLANG:-0}" == 1 || "${LOUPE_WITH_FUZZ:-0}" == 1 ]]; then packages+=(clang libomp-14-dev); fi
if [[ "${LOUPE_WITH_FUZZ:-0}" == 1 ]]; then packages+=(libfuzzer-14-dev); fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$package")
  fi
done
if [[ ${#missing[@]} -eq 0 ]]; then exit 0; fi

if [[ $(id -u) -ne 0 ]]; then
  echo "Loupe needs these Debian packages: ${missing[*]}; run 'sudo $0' or install them yourself." >&2
  exit 1
fi
echo "Installing ${missing[*]} ..." >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
