// What both fairness explainers share: the classifier's classes and favourable class, the sensitive
// columns, batched predictions and the decision rule.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "loupe/sdk/explainer.hpp"
#include "loupe/sdk/host.hpp"
#include "loupe/sdk/result.hpp"

namespace loupe::fairness {

// Rows per model call.
inline constexpr std::int64_t kPredictBatch = 16384;

// The model's classes and the favourable one.
struct ClassSetup {
  std::vector<std::string> classes;  // the model's outputs (class labels)
  std::int32_t favorable = 1;        // index into classes
  bool binary() const { return classes.size() == 2; }
};

// The `favorable` and `threshold` parameters both explainers read through ResolveClasses and Decide.
loupe::sdk::Param FavorableParam();
loupe::sdk::Param ThresholdParam();

// Checks that the model is a classifier with at least 2 outputs and resolves `favorable` (parameter, else
// the pipeline's positive label, else the second class). Throws naming the parameter when it is no class.
ClassSetup ResolveClasses(const loupe::sdk::Host& host, const loupe::sdk::DatasetInfo& data);

// The `sensitive` parameter, else the pipeline's sensitive columns; throws when there are none or a name
// repeats.
std::vector<std::string> SensitiveColumns(const loupe::sdk::Host& host, const loupe::sdk::DatasetInfo& data);

// The model's probabilities [rows.size(), n_outputs] for `rows` of `x` (or for `x` itself when `rows` is
// empty and `all_rows` is true), one Predict call per kPredictBatch rows, in parallel.
std::vector<double> PredictRows(const loupe::sdk::Host& host, const loupe::sdk::Matrix& x,
                                const std::vector<std::int64_t>& rows, std::int64_t n_outputs);

// The decision for one row's probabilities: binary -> favourable when p[favourable] >= threshold, else the
// other class; multiclass -> the argmax (the first on ties).
std::int32_t Decide(const double* probabilities, const ClassSetup& setup, double threshold);

// The result fields both reports open with: `sensitive`, `classes`, `favorable`, `decision` ("threshold"
// or "argmax") and, for a binary model, `threshold`.
void WriteDecisionRule(const loupe::sdk::ResultBuilder& result, const std::vector<std::string>& sensitive,
                       const ClassSetup& setup, double threshold);

}  // namespace loupe::fairness
