// The `row_variants` model capability (docs/architecture.md §3 and §4): base rows with a few inputs
// changed, evaluated by updating a linear first layer's pre-activations instead of evaluating every
// changed row from scratch. A model that offers it returns a RowVariantModel from
// Model::row_variant_model(); the host hands it to plugins as the C struct LoupeRowVariants of
// loupe_plugin.h, mapping the pipeline's features onto the model's inputs.
//
// Everything is in the MODEL's input coding (Model::Info().inputs, f64, categoricals as level codes).
#pragma once

#include <cstdint>
#include <span>

#include "loupe/core/model.hpp"

namespace loupe {

// Variant v's changes are entries [offsets[v], offsets[v + 1]) of `inputs` (model input indices, each at
// most once per variant) and `values` (the new raw values, NaN missing).
struct RowVariants {
  std::span<const std::int64_t> offsets;  // n_variants + 1 entries, offsets[0] = 0, non-decreasing
  std::span<const std::int64_t> inputs;
  std::span<const double> values;

  std::int64_t count() const { return offsets.empty() ? 0 : static_cast<std::int64_t>(offsets.size()) - 1; }
};

class RowVariantModel {
 public:
  virtual ~RowVariantModel() = default;

  // out[v][b][o] (row-major, exactly count · n · outputs(space) values) = the model's output o on row b
  // of `base` (f64 [n, inputs]) with variant v's changes applied. Equal to PredictInto on the
  // materialised rows up to the rounding of summing the first layer's terms in another order. Reentrant;
  // the bits of a (variant, row) do not depend on the other variants or rows of the call. Unsupported
  // when a base row cannot be encoded on its own (a missing value without an impute, which a change might
  // have replaced): the caller then materialises the rows.
  virtual Status PredictVariants(const TensorView& base, const RowVariants& variants, OutputSpace space,
                                 std::span<double> out) const = 0;
};

}  // namespace loupe
