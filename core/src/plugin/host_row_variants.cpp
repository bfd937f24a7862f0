// The "row_variants" capability's C form (loupe_plugin.h v1.4, LoupeRowVariants): the host maps the base
// rows and each change onto the model's inputs (by name, categorical codes through level names: the
// FeatureModel's map, as for model_predict) and calls the model's RowVariantModel
// (loupe/core/row_variants.hpp). When the model cannot take the fast path for a call (a base row it cannot
// encode on its own) the host materialises the changed rows and predicts them as model_predict would: the
// plugin sees one behaviour.
#include <algorithm>
#include <cmath>
#include <new>
#include <span>

#include "loupe/core/row_variants.hpp"
#include "model/predict_buffers.hpp"
#include "plugin/host_context.hpp"
#include "plugin/row_variants_predict.hpp"

namespace loupe::host_detail {
namespace {

const RowVariantModel* RowVariantsOf(const LoupeHost& host) {
  return host.request->model->model().row_variant_model();
}

LoupeStatus RefuseVariants(LoupeHost* host, const std::string& sentence) {
  return SetError(host, LOUPE_ERROR_INVALID_ARGUMENT, ("row_variants " + sentence).c_str());
}

// The call's arguments as the C struct documents them, or the refusal as the host's error.
LoupeStatus CheckVariantsCall(LoupeHost* host, const LoupeTensorView* base, std::int64_t n_variants,
                              const std::int64_t* offsets, const std::int64_t* columns,
                              const double* values) {
  const auto features = static_cast<std::int64_t>(host->request->feature_names.size());
  if (base == nullptr || base->dtype != LOUPE_DTYPE_F64 || base->ndim != 2 || base->strides != nullptr ||
      base->shape[1] != features || base->shape[0] < 0 || (base->shape[0] > 0 && base->data == nullptr)) {
    return RefuseVariants(
        host, "needs the base rows as a contiguous f64 [n, " + std::to_string(features) + "] tensor.");
  }
  if (n_variants < 0 || offsets == nullptr || offsets[0] != 0) {
    return RefuseVariants(host, "needs a non-negative variant count and offsets starting at 0.");
  }
  for (std::int64_t v = 0; v < n_variants; ++v) {
    if (offsets[v + 1] < offsets[v]) return RefuseVariants(host, "needs non-decreasing offsets.");
    if (offsets[v + 1] > offsets[v] && (columns == nullptr || values == nullptr)) {
      return RefuseVariants(host, "needs the changed columns and their values.");
    }
    for (std::int64_t k = offsets[v]; k < offsets[v + 1]; ++k) {
      if (columns[k] < 0 || columns[k] >= features) {
        return RefuseVariants(host, "was given column " + std::to_string(columns[k]) +
                                        " but the features have " + std::to_string(features) + " columns.");
      }
      // A variant changes a few columns: a quadratic check allocates nothing.
      for (std::int64_t earlier = offsets[v]; earlier < k; ++earlier) {
        if (columns[earlier] == columns[k]) {
          return RefuseVariants(host, "variant " + std::to_string(v) + " changes column " +
                                          std::to_string(columns[k]) + " twice.");
        }
      }
    }
  }
  return LOUPE_OK;
}

// The base rows in the model's input coding: f64 [n, inputs].
void GatherBase(const FeatureModel& model, const TensorView& base, std::vector<double>& out) {
  const std::int64_t n = base.dim(0);
  out.resize(static_cast<std::size_t>(n) * model.input_source().size());
  model.ToModelInputs(base.data<double>(), n, out.data());
}

// One thread's buffers of a call: the mapped base rows and changes, reused call after call.
struct VariantScratch {
  std::vector<double> base, values;
  std::vector<std::int64_t> offsets, inputs;
  std::vector<int> input_of_feature;
};
std::size_t ScratchBytes(const VariantScratch& s) {
  return model::ScratchBytes(s.base) + model::ScratchBytes(s.values) + model::ScratchBytes(s.offsets) +
         model::ScratchBytes(s.inputs) + model::ScratchBytes(s.input_of_feature);
}

// The changes in the model's coding: a change of a feature the model does not read is dropped.
void MapChanges(const FeatureModel& model, std::int64_t n_features, std::int64_t n_variants,
                const std::int64_t* offsets, const std::int64_t* columns, const double* values,
                VariantScratch& s) {
  const std::vector<int>& source = model.input_source();
  s.input_of_feature.assign(static_cast<std::size_t>(n_features), -1);
  for (std::size_t input = 0; input < source.size(); ++input)
    s.input_of_feature[static_cast<std::size_t>(source[input])] = static_cast<int>(input);
  s.offsets.assign(1, 0);
  s.inputs.clear();
  s.values.clear();
  for (std::int64_t v = 0; v < n_variants; ++v) {
    for (std::int64_t k = offsets[v]; k < offsets[v + 1]; ++k) {
      const int input = s.input_of_feature[static_cast<std::size_t>(columns[k])];
      if (input < 0) continue;
      s.inputs.push_back(input);
      s.values.push_back(model.ToModelCoding(static_cast<std::size_t>(input), values[k]));
    }
    s.offsets.push_back(static_cast<std::int64_t>(s.inputs.size()));
  }
}

// The slow path: every (variant, base row) materialised in feature coding, a variant at a time, and
// predicted as model_predict predicts (`predict` when set: shared among MPI ranks as model_predict's are).
Status PredictMaterialised(
    const FeatureModel& model, const TensorView& base, std::int64_t n_variants, const std::int64_t* offsets,
    const std::int64_t* columns, const double* values, OutputSpace space, double* outputs,
    const std::function<Status(const TensorView&, OutputSpace, std::span<double>)>* predict) {
  const std::int64_t n = base.dim(0), features = base.dim(1);
  const auto n_out = static_cast<std::int64_t>(model.model().Info().OutputNames(space).size());
  const double* source = base.data<double>();
  model::Scratch<std::vector<double>> rows;
  for (std::int64_t v = 0; v < n_variants; ++v) {
    rows->assign(source, source + n * features);
    for (std::int64_t k = offsets[v]; k < offsets[v + 1]; ++k) {
      for (std::int64_t r = 0; r < n; ++r)
        (*rows)[static_cast<std::size_t>(r * features + columns[k])] = values[k];
    }
    const TensorView view(rows->data(), DType::kF64, {n, features});
    const std::span<double> out(outputs + v * n * n_out, static_cast<std::size_t>(n * n_out));
    LOUPE_RETURN_IF_ERROR(predict != nullptr && *predict ? (*predict)(view, space, out)
                                                         : model.PredictInto(view, space, out));
  }
  return Status::Ok();
}

// LoupeRowVariants::predict. Never throws.
LoupeStatus PredictRowVariants(LoupeHost* host, const LoupeTensorView* base, std::int64_t n_variants,
                               const std::int64_t* offsets, const std::int64_t* columns, const double* values,
                               LoupeOutputSpace space, double* outputs, std::int64_t capacity) {
  try {
    if (LoupeStatus s = CheckVariantsCall(host, base, n_variants, offsets, columns, values); s != LOUPE_OK)
      return s;
    const ModelInfo& info = host->request->model->model().Info();
    const OutputSpace resolved = ResolveSpace(info, space);
    if (const LoupeStatus refused = CheckSpace(host, info, resolved); refused != LOUPE_OK) return refused;
    const std::int64_t n = base->shape[0];
    const std::int64_t needed = n_variants * n * static_cast<std::int64_t>(info.OutputNames(resolved).size());
    if (needed > capacity || (needed > 0 && outputs == nullptr)) {
      return RefuseVariants(host, "needs room for " + std::to_string(needed) + " outputs, got " +
                                      std::to_string(outputs == nullptr ? 0 : capacity) + ".");
    }
    if (needed == 0) return LOUPE_OK;
    const ExplainRequest& request = *host->request;
    const TensorView base_view(base->data, DType::kF64, {n, base->shape[1]});
    const std::span<double> out(outputs, static_cast<std::size_t>(needed));
    // Under MPI a step on rank 0 alone shares the variants among the ranks
    // (ExplainRequest::predict_variants).
    const Status status =
        request.predict_variants
            ? request.predict_variants(base_view, n_variants, offsets, columns, values, resolved, out)
            : plugin::PredictFeatureRowVariants(*request.model, base_view, n_variants, offsets, columns,
                                                values, resolved, out, &request.predict);
    if (status.ok()) return LOUPE_OK;
    const LoupeStatus code =
        status.code() == StatusCode::kInvalidArgument ? LOUPE_ERROR_INVALID_ARGUMENT : LOUPE_ERROR_MODEL;
    return SetError(host, code, status.message().c_str());
  } catch (const std::bad_alloc&) {
    return SetError(host, LOUPE_ERROR_OUT_OF_MEMORY, "row_variants ran out of memory.");
  } catch (const std::exception& e) {
    return SetError(host, LOUPE_ERROR_INTERNAL, (std::string("row_variants failed: ") + e.what()).c_str());
  }
}

}  // namespace

void DescribeRowVariants(LoupeHost& host) {
  const ExplainRequest& r = *host.request;
  if (RowVariantsOf(host) == nullptr || r.model->text_feature() >= 0) return;
  host.row_variants.struct_size = sizeof(LoupeRowVariants);
  host.row_variants.predict = PredictRowVariants;
}

const void* FindRowVariants(const LoupeHost& host) {
  return host.row_variants.struct_size != 0 ? &host.row_variants : nullptr;
}

}  // namespace loupe::host_detail

namespace loupe::plugin {

Status PredictFeatureRowVariants(
    const FeatureModel& model, const TensorView& base, std::int64_t n_variants, const std::int64_t* offsets,
    const std::int64_t* columns, const double* values, OutputSpace space, std::span<double> out,
    const std::function<Status(const TensorView&, OutputSpace, std::span<double>)>* predict) {
  const RowVariantModel* fast = model.model().row_variant_model();
  if (n_variants == 0 || base.dim(0) == 0) return Status::Ok();
  model::Scratch<host_detail::VariantScratch> scratch;
  host_detail::GatherBase(model, base, scratch->base);
  host_detail::MapChanges(model, base.dim(1), n_variants, offsets, columns, values, *scratch);
  const auto inputs = static_cast<std::int64_t>(model.input_source().size());
  const RowVariants variants{scratch->offsets, scratch->inputs, scratch->values};
  Status status = fast == nullptr ? Unsupported("the model has no row_variants capability.")
                                  : fast->PredictVariants(
                                        TensorView(scratch->base.data(), DType::kF64, {base.dim(0), inputs}),
                                        variants, space, out);
  if (status.code() == StatusCode::kUnsupported) {
    status = host_detail::PredictMaterialised(model, base, n_variants, offsets, columns, values, space,
                                              out.data(), predict);
  }
  return status;
}

}  // namespace loupe::plugin
