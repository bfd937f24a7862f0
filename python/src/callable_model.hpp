// A Python callable f(X: np.ndarray) -> np.ndarray as a loupe::Model (python/README.md "Any Python
// model"), so every explainer runs on it through the same FeatureModel and host API as on a loaded model.
//
// Explainers call Predict from several TBB threads at once with thousands of rows a call
// (docs/architecture.md §4). Each call takes the GIL only around the Python call (copying the batch into
// a new numpy array and the result back out); the thread that started the explanation holds no GIL while
// it waits (python/src/explain.cpp), so the calls are serialised by the GIL and nothing else.
#pragma once

#include <pybind11/pybind11.h>

#include <atomic>
#include <cstdint>
#include <mutex>

#include "loupe/core/model.hpp"

namespace loupe::python {

// How much of an explanation's time went into the callable: for the benchmark's "share of time inside
// the model" and for users asking the same question.
struct CallableStats {
  std::uint64_t calls = 0;
  std::uint64_t rows = 0;
  double seconds = 0;  // wall time inside the callable, GIL waits excluded, summed over threads
};

class CallableModel final : public Model {
 public:
  // `info` describes the callable as the Python layer probed it: inputs (one per feature, categoricals
  // with the codes the callable expects as levels), task and output names. A batch is passed on in calls
  // of at most `batch_rows` rows, the GIL taken for each. `cancelled` may be null; when it is set, calls
  // return kCancelled without entering Python.
  CallableModel(pybind11::object function, ModelInfo info, std::int64_t batch_rows,
                const std::atomic<bool>* cancelled);
  // Needs the GIL (it drops a reference to the callable and to the first error).
  ~CallableModel() override;

  const ModelInfo& Info() const override { return info_; }
  Result<Tensor> Predict(const TensorView& batch, OutputSpace space) const override;
  // A callable returns one space, what it returns. A binary classifier's raw output is the margin of its
  // second class, log(p1 / p0), computed from the probabilities it returns (what a logistic model's raw
  // output is, and shap's logit link of p1 when p0 = 1 - p1).
  Status PredictInto(const TensorView& batch, OutputSpace space, std::span<double> out) const override;

  // The first exception the callable raised during this model's life, or None. Needs the GIL.
  pybind11::object first_error() const;
  CallableStats stats() const;

 private:
  Status CallWithGil(const TensorView& batch, std::span<double> out) const;
  // The margins of a binary classifier's rows, out[r] = log(p1 / p0), one callable call per batch part.
  Status PredictMargins(const TensorView& batch, std::span<double> out) const;
  Status CopyResult(const pybind11::handle& result, std::int64_t rows, std::span<double> out) const;

  pybind11::object function_;
  ModelInfo info_;
  std::int64_t batch_rows_;
  const std::atomic<bool>* cancelled_;
  mutable pybind11::object first_error_;  // guarded by the GIL
  mutable std::atomic<std::uint64_t> calls_{0}, rows_{0}, nanoseconds_{0};
};

}  // namespace loupe::python
