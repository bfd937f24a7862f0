# What onnx_module_test.sh and mpi_module_test.sh share (sourced): counting failed checks, the shared
# objects a process loaded, and a copy of loupe that cannot find core's modules beside it.

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# The shared objects a process loaded, from its LD_DEBUG=files output (ld.so's own account of it).
loaded() { grep -oE 'calling init: [^ ]+' "$1" | sed 's/calling init: //'; }

# Sets `copy` to a copy of the loupe binary $1 in a temporary folder outside the build tree (the module
# search would find the build's lib/loupe/modules above a copy inside it), with no lib/loupe/modules beside
# it; the folder is removed when the script exits.
copy_without_modules() {
  elsewhere=$(mktemp -d) || exit 1
  trap 'rm -rf "$elsewhere"' EXIT
  mkdir -p "$elsewhere/bin" && cp "$1" "$elsewhere/bin/loupe" || exit 1
  copy=$(realpath "$elsewhere/bin/loupe")
}

# Ends the script: 1 when a check failed, else 0 after printing `$1`.
finish() {
  if ((failures > 0)); then
    echo "$failures check(s) failed" >&2
    exit 1
  fi
  echo "$1"
}
