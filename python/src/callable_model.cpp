#include "callable_model.hpp"

#include <pybind11/numpy.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

namespace py = pybind11;

namespace loupe::python {

namespace {

std::string ShapeText(const py::array& array) {
  std::string text = "(";
  for (py::ssize_t axis = 0; axis < array.ndim(); ++axis) {
    text += (axis > 0 ? ", " : "") + std::to_string(array.shape(axis));
  }
  return text + (array.ndim() == 1 ? ",)" : ")");
}

// "ValueError: the message" for the exception being handled.
std::string Describe(const py::error_already_set& error) {
  const std::string type = py::str(error.type().attr("__name__"));
  const std::string message = py::str(error.value());
  return message.empty() ? type : type + ": " + message;
}

}  // namespace

CallableModel::CallableModel(py::object function, ModelInfo info, std::int64_t batch_rows,
                             const std::atomic<bool>* cancelled)
    : function_(std::move(function)),
      info_(std::move(info)),
      batch_rows_(std::max<std::int64_t>(1, batch_rows)),
      cancelled_(cancelled),
      first_error_(py::none()) {}

CallableModel::~CallableModel() = default;

Result<Tensor> CallableModel::Predict(const TensorView& batch, OutputSpace space) const {
  return PredictThroughInto(batch, space);
}

// The GIL is taken for each call and released between calls, so other threads' calls interleave.
Status CallableModel::PredictInto(const TensorView& batch, OutputSpace space, std::span<double> out) const {
  if (space == OutputSpace::kRaw && info_.task == Task::kClassification) return PredictMargins(batch, out);
  const std::int64_t rows = batch.dim(0), columns = batch.dim(1);
  const auto outputs = static_cast<std::int64_t>(info_.output_names.size());
  for (std::int64_t begin = 0; begin < rows; begin += batch_rows_) {
    if (cancelled_ != nullptr && cancelled_->load())
      return Status(StatusCode::kCancelled, "the run was cancelled.");
    const std::int64_t count = std::min(batch_rows_, rows - begin);
    const TensorView part(batch.data<double>() + begin * columns, DType::kF64, {count, columns});
    py::gil_scoped_acquire gil;
    LOUPE_RETURN_IF_ERROR(CallWithGil(part, out.subspan(static_cast<std::size_t>(begin * outputs),
                                                        static_cast<std::size_t>(count * outputs))));
  }
  return Status::Ok();
}

Status CallableModel::PredictMargins(const TensorView& batch, std::span<double> out) const {
  if (info_.raw_output_names.size() != 1 || info_.output_names.size() != 2) {
    return InvalidArgument(
        "model '" + info_.name + "' is a callable returning the probabilities of " +
        std::to_string(info_.output_names.size()) +
        " classes, whose logits cannot be recovered from them; explain output: probability.");
  }
  std::vector<double> probabilities(static_cast<std::size_t>(batch.dim(0)) * 2);
  LOUPE_RETURN_IF_ERROR(PredictInto(batch, OutputSpace::kProbability, probabilities));
  for (std::size_t r = 0; r < out.size(); ++r)
    out[r] = std::log(probabilities[2 * r + 1] / probabilities[2 * r]);
  return Status::Ok();
}

// The batch is copied into an array the callable owns (it may keep it or write to it); the result is
// read through a C-contiguous f64 view, converting only when the callable returned another layout.
Status CallableModel::CallWithGil(const TensorView& batch, std::span<double> out) const {
  const std::int64_t rows = batch.dim(0), columns = batch.dim(1);
  py::array_t<double> inputs({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(columns)});
  std::memcpy(inputs.mutable_data(), batch.data<double>(),
              static_cast<std::size_t>(rows * columns) * sizeof(double));
  const auto start = std::chrono::steady_clock::now();
  try {
    py::object result = function_(inputs);
    nanoseconds_ += static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start)
            .count());
    calls_ += 1;
    rows_ += static_cast<std::uint64_t>(rows);
    return CopyResult(result, rows, out);
  } catch (py::error_already_set& error) {
    const std::string description = Describe(error);
    if (first_error_.is_none()) first_error_ = error.value();
    return ModelError("the model callable raised " + description);
  }
}

Status CallableModel::CopyResult(const py::handle& result, std::int64_t rows, std::span<double> out) const {
  using F64Array = py::array_t<double, py::array::c_style | py::array::forcecast>;
  const std::int64_t outputs = static_cast<std::int64_t>(info_.output_names.size());
  F64Array values;
  try {
    values = F64Array::ensure(result);
  } catch (py::error_already_set&) {
  }
  if (!values) {
    PyErr_Clear();
    return ModelError("the model callable returned a " +
                      std::string(py::str(result.get_type().attr("__name__"))) +
                      ", expected a numpy array of numbers with one row per input row.");
  }
  const bool one_column = values.ndim() == 1 && outputs == 1 && values.shape(0) == rows;
  const bool matrix = values.ndim() == 2 && values.shape(0) == rows && values.shape(1) == outputs;
  if (!one_column && !matrix) {
    return ModelError("the model callable returned an array of shape " + ShapeText(values) + " for " +
                      std::to_string(rows) + " rows, expected (" + std::to_string(rows) + ", " +
                      std::to_string(outputs) + ")" +
                      (outputs == 1 ? " or (" + std::to_string(rows) + ",)." : "."));
  }
  std::memcpy(out.data(), values.data(), static_cast<std::size_t>(rows * outputs) * sizeof(double));
  return Status::Ok();
}

py::object CallableModel::first_error() const { return first_error_; }

CallableStats CallableModel::stats() const {
  return CallableStats{calls_.load(), rows_.load(), static_cast<double>(nanoseconds_.load()) * 1e-9};
}

}  // namespace loupe::python
