#include "errors.hpp"

namespace py = pybind11;

namespace loupe::python {

void RaiseStatus(const Status& status, const py::object& cause) {
  // The classes live in Python (multiple inheritance from ValueError or RuntimeError is natural there).
  py::object error =
      py::module_::import("loupe._errors").attr("error_for")(StatusCodeName(status.code()), status.message());
  if (!cause.is_none()) error.attr("__cause__") = cause;
  PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(error.ptr())), error.ptr());
  throw py::error_already_set();
}

}  // namespace loupe::python
