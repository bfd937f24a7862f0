// The "row_variants" capability's computation on a FeatureModel, without a plugin call around it: the
// host's LoupeRowVariants::predict (host_row_variants.cpp) after it has checked the call, and an MPI rank
// predicting a block of another rank's variants (mpi/shared_predict.hpp).
#pragma once

#include <cstdint>
#include <functional>
#include <span>

#include "loupe/core/explainer.hpp"

namespace loupe::plugin {

// out[v][b][o] (exactly n_variants · n · outputs(space) values) = the model's output o on base row b
// (f64 [n, features] in dataset coding) with variant v's changes: feature columns[k] set to values[k]
// (dataset coding) for k in [offsets[v], offsets[v + 1]). `offsets` need not start at 0 (a block of a
// call's variants): columns and values are indexed by its entries. The call must be valid (the host's
// checks). Through the model's RowVariantModel; when the model cannot take that path for the base rows,
// every (variant, row) is materialised and predicted with `predict` when set, else the model's PredictInto.
// A (variant, row)'s bits depend on neither the other variants nor the other rows (docs/architecture.md §4).
Status PredictFeatureRowVariants(
    const FeatureModel& model, const TensorView& base, std::int64_t n_variants, const std::int64_t* offsets,
    const std::int64_t* columns, const double* values, OutputSpace space, std::span<double> out,
    const std::function<Status(const TensorView&, OutputSpace, std::span<double>)>* predict = nullptr);

}  // namespace loupe::plugin
