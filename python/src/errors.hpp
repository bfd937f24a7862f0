// Loupe's Status as a Python exception (python/README.md "Errors"): one place turns a Status into the
// exception class python/loupe/_errors.py picks for its code, carrying the Status's sentence unchanged.
#pragma once

#include <pybind11/pybind11.h>

#include "loupe/core/status.hpp"

namespace loupe::python {

// Raises the Python exception for `status` (which must not be OK), with `cause` as its __cause__ when it
// is not None (the exception a model callable raised). Needs the GIL. Never returns.
[[noreturn]] void RaiseStatus(const Status& status, const pybind11::object& cause = pybind11::none());

// The value of a Result, or RaiseStatus of its error.
template <typename T>
T ValueOrRaise(Result<T> result) {
  if (!result.ok()) RaiseStatus(result.status());
  return std::move(result).value();
}

}  // namespace loupe::python
