// Which model outputs lime explains, shared by lime.tabular and lime.text, the per-label fields of their
// output, and their common `feature_selection` parameter.
//
//  - `labels`: a list of output names or indices, the same for every row (unset: every output);
//  - `top_labels: K` (lime's top_labels): per row, the K outputs with the highest prediction at the
//    instance, highest first; like lime's np.argsort(p)[-K:][::-1], the higher index first among ties.
//    The step then reports the union of the rows' labels, in model order; a row's entries for an output
//    it did not explain are NaN (null in JSON), and `top_labels[R][K]` names each row's labels.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "local_model.hpp"
#include "loupe/sdk/attribution.hpp"
#include "loupe/sdk/explainer.hpp"
#include "loupe/sdk/host.hpp"
#include "loupe/sdk/result.hpp"

namespace loupe::lime {

struct LabelRequest {
  std::vector<std::int64_t> fixed;  // output indices in the order given; empty with top_labels
  std::int64_t top = 0;             // K of top_labels; 0 without it
};

// Reads `labels` and `top_labels` against the explained outputs; throws InvalidArgument naming the
// parameter when one is bad or both are set.
LabelRequest ResolveLabels(const loupe::sdk::Host& host, const std::vector<std::string>& output_names);

// The K outputs with the highest prediction, highest first (the higher index first among ties).
std::vector<std::int64_t> TopLabels(const double* prediction, std::int64_t n_outputs, std::int64_t k);

// The outputs one row explains, given the model's prediction at the instance.
std::vector<std::int64_t> RowLabels(const LabelRequest& request, const double* prediction,
                                    std::int64_t n_outputs);

// What one explained row yields.
struct RowFits {
  std::vector<double> prediction;  // [n_outputs] the model at the instance
  std::vector<LabelFit> labels;    // one per explained output, in RowLabels order
};

// The outputs the step reports: the fixed labels in their order, or the union of the rows' top labels in
// model order.
std::vector<std::int64_t> ReportedOutputs(const LabelRequest& request, const std::vector<RowFits>& rows);

// The fit of `output` in a row, or nullptr when the row did not explain it.
const LabelFit* FindFit(const RowFits& row, std::int64_t output);

// Fills attribution->values [R][O][F] (a row's weights, NaN past its own columns) and base_values (the
// intercepts), and writes intercept, score, local_pred and prediction [R][O] and, with top_labels,
// top_labels [R][K] (output names). `names` are all the model's output names in the explained space.
void WriteLabelFields(const loupe::sdk::ResultBuilder& result, const LabelRequest& request,
                      const std::vector<std::string>& names, const std::vector<std::int64_t>& outputs,
                      const std::vector<RowFits>& rows, loupe::sdk::FeatureAttribution* attribution);

// The smallest score of the explained labels (1 when nothing was explained).
double MinScore(const std::vector<RowFits>& rows);

// The `feature_selection` parameter of both lime explainers; `unit` names what is selected ("features",
// "words").
loupe::sdk::Param FeatureSelectionParam(const std::string& unit);

// Reads the `feature_selection` parameter (default "auto"); throws InvalidArgument on an unknown mode.
Selection ReadSelection(const loupe::sdk::Host& host);

}  // namespace loupe::lime
