#include "errors.hpp"

namespace py = pybind11;

namespace loupe::python {

const char* ErrorKindName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "ok";
    case StatusCode::kInvalidArgument:
      return "invalid_argument";
    case StatusCode::kNotFound:
      return "not_found";
    case StatusCode::kIoError:
      return "io";
    case StatusCode::kPluginError:
      return "plugin";
    case StatusCode::kModelError:
      return "model";
    case StatusCode::kUnsupported:
      return "unsupported";
    case StatusCode::kCancelled:
      return "cancelled";
    case StatusCode::kInternal:
      return "internal";
  }
  return "internal";
}

void RaiseStatus(const Status& status, const py::object& cause) {
  // The classes live in Python (multiple inheritance from ValueError or RuntimeError is natural there).
  py::object error =
      py::module_::import("loupe._errors").attr("error_for")(ErrorKindName(status.code()), status.message());
  if (!cause.is_none()) error.attr("__cause__") = cause;
  PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(error.ptr())), error.ptr());
  throw py::error_already_set();
}

}  // namespace loupe::python
