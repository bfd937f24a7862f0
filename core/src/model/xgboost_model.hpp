// XGBoost tree ensembles: the JSON written by Booster.save_model("m.json") (XGBoost >= 1.0 schema).
//
// Supported: the gbtree and dart boosters (dart's tree weights are folded into the leaf values) with the
// objectives binary:logistic, reg:squarederror, multi:softprob and multi:softmax (both multi-class
// objectives give class probabilities, as XGBClassifier.predict_proba does); numeric splits (left when
// x < split_condition, compared in f32 as XGBoost does), missing values (NaN) along default_left, and
// categorical splits (the listed categories go right). base_score becomes the margin offset as in XGBoost
// 1.7: logit(base_score) for binary:logistic, base_score itself for the others. Anything else (gblinear,
// another objective, vector-leaf or multi-target trees) is refused with one sentence.
//
// Inputs: learner.feature_names (f0, f1, ... when absent), numeric unless learner.feature_types says "c".
// Outputs: class probabilities named by class labels, or one "value" for a regressor; the raw outputs are
// the margins (one for binary:logistic, named by the positive class). XGBoost's JSON stores neither class
// labels nor category names; a training script may store them as booster attributes (Booster.set_attr,
// kept in learner.attributes), each a JSON text:
//   loupe_classes  ["good", "bad"]                      labels by class index (default "0", "1", ...)
//   loupe_levels   {"Home": ["owner", "rent"], ...}     a categorical feature's level names by code
// Without loupe_levels a categorical input's levels are its codes written as text ("0", "1", ... up to
// the largest code any split uses), so a data column holding the codes maps onto them by name.
//
// The model offers the capabilities "tree_ensemble" (LoupeTreeEnsemble) and "tree_ensemble/cpp"
// (TreeEnsembleView), see loupe/core/tree_ensemble.hpp.
#pragma once

#include <filesystem>
#include <memory>

#include "loupe/core/model.hpp"

namespace loupe {

// Errors are one sentence: "FILE: /json/pointer: expected ..., found ...".
Result<std::shared_ptr<const Model>> LoadXGBoostModel(const std::filesystem::path& path);

}  // namespace loupe
