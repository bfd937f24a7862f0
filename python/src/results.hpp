// Explanations, model predictions and pipeline runs as the Python layer reads them (python/loupe/*.py).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <memory>
#include <string>

#include "explain.hpp"
#include "loupe/core/explanation.hpp"

namespace loupe::python {

// An explanation shared with Python: loupe.Explanation wraps one. Arrays are copied out on request, so a
// numpy array never points into the explanation.
struct ExplanationHandle {
  std::shared_ptr<const Explanation> explanation;
};

// Binds loupe._core.Explanation and read_explanation (a loupe.explanation/v1 file).
void BindExplanation(pybind11::module_& m);
// Binds loupe._core.run: a pipeline file run as `loupe run` runs it.
void BindRun(pybind11::module_& m);

// Model.predict: f64 [n, outputs] for f64 [n, inputs] in the model's coding, in chunks on TBB without the
// GIL. `output` is "", "probability" or "raw".
pybind11::array_t<double> PredictModel(
    const ModelHandle& model,
    pybind11::array_t<double, pybind11::array::c_style | pybind11::array::forcecast> inputs,
    const std::string& output);

}  // namespace loupe::python
