// The "gradient" capability's C form (loupe_plugin.h v1.3, LoupeGradientModel): the host maps the
// pipeline's feature matrix onto the model's inputs (by name, categorical codes through level names: the
// FeatureModel's map, as for model_predict), calls the model's GradientModel (loupe/core/gradient.hpp) and
// scatters the per-input results back onto the feature columns.
#include <cmath>
#include <new>
#include <span>

#include "loupe/core/gradient.hpp"
#include "plugin/host_context.hpp"

namespace loupe::host_detail {
namespace {

const GradientModel* GradientOf(const LoupeHost& host) {
  return host.request->model->model().gradient_model();
}

// A contiguous f64 [n, features] view, or the refusal.
LoupeStatus CheckRows(LoupeHost* host, const LoupeTensorView* rows, const char* what, std::int64_t n) {
  const std::int64_t features = static_cast<std::int64_t>(host->request->feature_names.size());
  if (rows == nullptr || rows->dtype != LOUPE_DTYPE_F64 || rows->ndim != 2 || rows->strides != nullptr ||
      rows->shape[1] != features || rows->shape[0] < 0 || (n >= 0 && rows->shape[0] != n)) {
    return SetError(
        host, LOUPE_ERROR_INVALID_ARGUMENT,
        (std::string("gradient needs ") + what + " as a contiguous f64 [n, " + std::to_string(features) +
         "] tensor" + (n >= 0 ? " of " + std::to_string(n) + " rows" : "") + ".")
            .c_str());
  }
  return LOUPE_OK;
}

// The rows in the model's input coding: f64 [n, inputs].
Tensor GatherInputs(const LoupeHost& host, const LoupeTensorView& rows) {
  const FeatureModel& model = *host.request->model;
  const std::int64_t n = rows.shape[0];
  Tensor gathered(DType::kF64, {n, static_cast<std::int64_t>(model.input_source().size())});
  model.ToModelInputs(static_cast<const double*>(rows.data), n, gathered.data<double>());
  return gathered;
}

// Per-input values [n, inputs] → the feature columns [n, features] (0 for a feature the model ignores).
void ScatterToFeatures(const LoupeHost& host, const std::vector<double>& per_input, std::int64_t n,
                       std::int64_t features, double* out) {
  const std::vector<int>& source = host.request->model->input_source();
  const auto inputs = static_cast<std::int64_t>(source.size());
  std::fill(out, out + n * features, 0.0);
  for (std::int64_t r = 0; r < n; ++r) {
    for (std::int64_t i = 0; i < inputs; ++i)
      out[r * features + source[static_cast<std::size_t>(i)]] +=
          per_input[static_cast<std::size_t>(r * inputs + i)];
  }
}

// A model status as the host's error.
LoupeStatus ModelFailure(LoupeHost* host, const Status& status) {
  const LoupeStatus code = status.code() == StatusCode::kUnsupported       ? LOUPE_ERROR_UNSUPPORTED
                           : status.code() == StatusCode::kInvalidArgument ? LOUPE_ERROR_INVALID_ARGUMENT
                                                                           : LOUPE_ERROR_MODEL;
  return SetError(host, code, status.message().c_str());
}

// The features are the model's inputs in its order, with its level codes: the plugin's rows go to the
// model and its results come back without a copy (integrated gradients sends megabytes per call).
LoupeStatus DifferentiateInPlace(LoupeHost* host, const LoupeTensorView* rows,
                                 const LoupeTensorView* references, OutputSpace space, const double* weights,
                                 double* out) {
  const std::int64_t n = rows->shape[0], features = rows->shape[1];
  const std::size_t n_out = host->request->model->model().Info().OutputNames(space).size();
  const std::span<const double> weight_span(weights, static_cast<std::size_t>(n) * n_out);
  const std::span<double> out_span(out, static_cast<std::size_t>(n * features));
  const TensorView view(rows->data, DType::kF64, {n, features});
  const Status status =
      references == nullptr
          ? GradientOf(*host)->Gradient(view, space, weight_span, out_span)
          : GradientOf(*host)->DeepLift(view, TensorView(references->data, DType::kF64, {n, features}), space,
                                        weight_span, out_span);
  return status.ok() ? LOUPE_OK : ModelFailure(host, status);
}

// gradient (references == nullptr) or deeplift. Never throws.
LoupeStatus Differentiate(LoupeHost* host, const LoupeTensorView* rows, const LoupeTensorView* references,
                          LoupeOutputSpace space, const double* weights, double* out, std::int64_t capacity) {
  try {
    if (LoupeStatus s = CheckRows(host, rows, "the rows", -1); s != LOUPE_OK) return s;
    const std::int64_t n = rows->shape[0], features = rows->shape[1];
    if (references != nullptr) {
      if (LoupeStatus s = CheckRows(host, references, "the references", n); s != LOUPE_OK) return s;
    }
    const ModelInfo& info = host->request->model->model().Info();
    const OutputSpace resolved = ResolveSpace(info, space);
    if (const LoupeStatus refused = CheckSpace(host, info, resolved); refused != LOUPE_OK) return refused;
    if (n * features > capacity || (n > 0 && (out == nullptr || weights == nullptr))) {
      return SetError(host, LOUPE_ERROR_INVALID_ARGUMENT,
                      ("gradient needs the output weights and room for " + std::to_string(n * features) +
                       " values, got " + std::to_string(out == nullptr ? 0 : capacity) + ".")
                          .c_str());
    }
    if (n == 0) return LOUPE_OK;
    if (host->request->model->gather_is_identity()) {
      return DifferentiateInPlace(host, rows, references, resolved, weights, out);
    }
    const auto inputs = static_cast<std::int64_t>(host->request->model->input_source().size());
    const std::span<const double> weight_span(
        weights, static_cast<std::size_t>(n) * info.OutputNames(resolved).size());
    std::vector<double> per_input(static_cast<std::size_t>(n * inputs));
    const Tensor gathered = GatherInputs(*host, *rows);
    Status status;
    if (references == nullptr) {
      status = GradientOf(*host)->Gradient(gathered.view(), resolved, weight_span, per_input);
    } else {
      const Tensor gathered_references = GatherInputs(*host, *references);
      status = GradientOf(*host)->DeepLift(gathered.view(), gathered_references.view(), resolved, weight_span,
                                           per_input);
    }
    if (!status.ok()) return ModelFailure(host, status);
    ScatterToFeatures(*host, per_input, n, features, out);
    return LOUPE_OK;
  } catch (const std::bad_alloc&) {
    return SetError(host, LOUPE_ERROR_OUT_OF_MEMORY, "gradient ran out of memory.");
  } catch (const std::exception& e) {
    return SetError(host, LOUPE_ERROR_INTERNAL, (std::string("gradient failed: ") + e.what()).c_str());
  }
}

LoupeStatus GradientFn(LoupeHost* host, const LoupeTensorView* rows, LoupeOutputSpace space,
                       const double* weights, double* gradients, std::int64_t capacity) {
  return Differentiate(host, rows, nullptr, space, weights, gradients, capacity);
}

LoupeStatus DeepLiftFn(LoupeHost* host, const LoupeTensorView* rows, const LoupeTensorView* references,
                       LoupeOutputSpace space, const double* weights, double* attributions,
                       std::int64_t capacity) {
  if (references == nullptr) {
    return SetError(host, LOUPE_ERROR_INVALID_ARGUMENT, "deeplift needs the reference rows.");
  }
  return Differentiate(host, rows, references, space, weights, attributions, capacity);
}

}  // namespace

void DescribeGradient(LoupeHost& host) {
  const ExplainRequest& r = *host.request;
  const GradientModel* gradient = GradientOf(host);
  if (gradient == nullptr || r.model->text_feature() >= 0) return;
  host.gradient.struct_size = sizeof(LoupeGradientModel);
  host.gradient.has_deeplift = gradient->DeepLiftRefusal().empty() ? 1 : 0;
  host.gradient.gradient = GradientFn;
  host.gradient.deeplift = DeepLiftFn;
}

const void* FindGradient(const LoupeHost& host) {
  return host.gradient.struct_size != 0 ? &host.gradient : nullptr;
}

}  // namespace loupe::host_detail
