// The loupe.model/v1 native format, in the subset the foundation needs: tabular inputs with their
// preprocessing (impute, standardize, one-hot with explicit levels) and dense layers with inline weights
// (linear, relu, tanh, sigmoid, softmax). Enough for linear and logistic regression and small MLPs.
// A file with a `tokenizer` (or an `input` of type text) is a text model and loads through
// model/text_model.hpp.
#pragma once

#include <filesystem>
#include <memory>

#include "loupe/core/model.hpp"

namespace loupe {

Result<std::shared_ptr<const Model>> LoadNativeModel(const std::filesystem::path& path);

}  // namespace loupe
