#include "anchors_explainer.hpp"

#include <cmath>
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "loupe/sdk/error.hpp"
#include "search_explainer.hpp"

namespace loupe::counterfactual {
namespace {

using loupe::sdk::Host;
using nlohmann::json;

constexpr std::uint64_t kAnchorStream = 2;    // Rng(row, kAnchorStream): one row's samples
constexpr std::uint64_t kCoverageStream = 3;  // Rng(0, kCoverageStream): the coverage sample

std::string Fixed(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.2f", value);
  return buffer;
}

std::vector<double> ReadPercentiles(const loupe::sdk::Params& params) {
  const json value = params.Get<json>("disc_perc");
  std::vector<double> percentiles;
  if (value.is_array()) {
    for (const json& p : value) {
      if (!p.is_number() || p.get<double>() <= 0 || p.get<double>() >= 100) {
        percentiles.clear();
        break;
      }
      percentiles.push_back(p.get<double>());
    }
  }
  if (percentiles.empty()) {
    throw loupe::sdk::InvalidArgument(
        "parameter 'disc_perc' must be a non-empty list of percentiles strictly "
        "between 0 and 100, found " +
        value.dump());
  }
  return percentiles;
}

// "IF Income > 129 AND Records = no THEN the model predicts bad (precision 0.97, coverage 0.21)".
std::string Sentence(const std::vector<std::string>& conditions, const std::string& label,
                     const Anchor& anchor, double threshold) {
  std::string rule;
  for (const auto& condition : conditions) rule += (rule.empty() ? "" : " AND ") + condition;
  const std::string figures =
      "(precision " + Fixed(anchor.precision) + ", coverage " + Fixed(anchor.coverage) + ")";
  std::string sentence = rule.empty() ? "The model predicts " + label + " for almost any input " + figures
                                      : "IF " + rule + " THEN the model predicts " + label + " " + figures;
  if (!anchor.success) {
    sentence =
        "No anchor reached precision " + Fixed(threshold) + "; the most precise rule found: " + sentence;
  }
  return sentence;
}

json AnchorJson(std::int64_t row, const Anchor& anchor, const std::string& label,
                const Discretizer& discretizer, const loupe::sdk::DatasetInfo& data, double threshold) {
  std::vector<std::string> conditions, features;
  json prefixes = json::array();
  for (std::size_t k = 0; k < anchor.features.size(); ++k) {
    conditions.push_back(discretizer.Condition(anchor.features[k], anchor.bins[k]));
    features.push_back(data.features[anchor.features[k]].name);
    prefixes.push_back(json{{"condition", conditions.back()},
                            {"precision", anchor.prefix_precision[k]},
                            {"coverage", anchor.prefix_coverage[k]}});
  }
  return json{{"row", row},
              {"prediction", label},
              {"anchor", conditions},
              {"features", features},
              {"precision", anchor.precision},
              {"coverage", anchor.coverage},
              {"success", anchor.success},
              {"sentence", Sentence(conditions, label, anchor, threshold)},
              {"prefixes", prefixes},
              {"model_evaluations", anchor.evaluations}};
}

}  // namespace

AnchorsExplainer::AnchorsExplainer(const Host& host) {
  const loupe::sdk::Params& params = host.Params();
  settings_.threshold = params.Get<double>("threshold");
  settings_.delta = params.Get<double>("delta");
  settings_.tau = params.Get<double>("tau");
  settings_.batch_size = params.Get<std::int64_t>("batch_size");
  settings_.beam_size = params.Get<std::int64_t>("beam_size");
  settings_.max_anchor_size = params.GetOr<std::int64_t>("max_anchor_size", 0);
  settings_.min_samples_start = params.Get<std::int64_t>("min_samples_start");
  coverage_samples_ = params.Get<std::int64_t>("coverage_samples");
  percentiles_ = ReadPercentiles(params);
  DecisionRule::ForAnchors(host, "counterfactual.anchors");
}

void AnchorsExplainer::Explain(const Host& host, const loupe::sdk::ResultBuilder& result) const {
  const loupe::sdk::DatasetInfo data = host.Dataset();
  const loupe::sdk::Matrix x = host.Features();
  const std::vector<std::int64_t> rows = host.StepRows();
  const DecisionRule decision = DecisionRule::ForAnchors(host, "counterfactual.anchors");
  const std::vector<FeatureStats> stats = ComputeFeatureStats(data, x);
  const Discretizer discretizer(data, x, percentiles_, stats);
  std::vector<std::int64_t> coverage_rows;
  loupe::sdk::Rng coverage_rng = host.Rng(0, kCoverageStream);
  for (std::int64_t i = 0; i < coverage_samples_; ++i) {
    coverage_rows.push_back(
        static_cast<std::int64_t>(coverage_rng.Below(static_cast<std::uint64_t>(x.rows()))));
  }
  const AnchorSearch search(discretizer, x, std::move(coverage_rows), decision, settings_);
  const std::int64_t o = decision.n_outputs();
  const std::int64_t f = x.cols();
  const auto r = static_cast<std::int64_t>(rows.size());
  const std::vector<double> row_outputs = PredictStepRows(host, x, rows, o);

  std::vector<Anchor> anchors(rows.size());
  // One row per task: a row's beam search is sequential and reads only its own Rng (docs/architecture.md §4).
  host.ParallelFor(0, r, 1, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      host.ThrowIfCancelled();
      loupe::sdk::Rng rng = host.Rng(static_cast<std::uint64_t>(rows[i]), kAnchorStream);
      const Evaluate evaluate = [&](const double* batch, std::int64_t n, double* out) {
        host.Predict(batch, n, f, LOUPE_OUTPUT_DEFAULT, out, n * o);
      };
      const std::int32_t label = decision.Class(row_outputs.data() + i * o);
      anchors[static_cast<std::size_t>(i)] = search.Run(x.Row(rows[i]), label, rng, evaluate);
      host.Progress(static_cast<std::uint64_t>(i + 1), static_cast<std::uint64_t>(r));
    }
  });

  json rows_json = json::array();
  double evaluations = static_cast<double>(r), found = 0, precision = 0, coverage = 0;
  for (std::int64_t i = 0; i < r; ++i) {
    const Anchor& anchor = anchors[static_cast<std::size_t>(i)];
    const std::string label =
        decision.outputs()[static_cast<std::size_t>(decision.Class(row_outputs.data() + i * o))];
    rows_json.push_back(
        AnchorJson(rows[static_cast<std::size_t>(i)], anchor, label, discretizer, data, settings_.threshold));
    evaluations += static_cast<double>(anchor.evaluations);
    found += anchor.success ? 1 : 0;
    precision += anchor.precision;
    coverage += anchor.coverage;
  }
  json bins = json::object();
  for (std::size_t j = 0; j < data.features.size(); ++j) {
    if (!data.features[j].IsCategorical()) bins[data.features[j].name] = discretizer.Cuts(j);
  }
  result.SetStrings("feature_names", data.FeatureNames());
  result.SetStrings("classes", decision.outputs());
  result.SetNumber("threshold", settings_.threshold);
  result.SetJson("cut_points", bins);
  result.SetJson("rows", rows_json);
  result.SetStrings(
      "notes",
      {"precision: the fraction of samples satisfying the anchor on which the model keeps the row's "
       "class; samples are data rows whose anchored features are set to the row's level or to a data "
       "value from the row's quantile bin",
       "coverage: the fraction of " + std::to_string(coverage_samples_) +
           " data rows drawn at random that satisfy the anchor"});
  result.SetNumber("quality.rows", static_cast<double>(r));
  result.SetNumber("quality.anchors_found", found);
  result.SetNumber("quality.model_evaluations", evaluations);
  result.SetNumber("quality.evaluations_per_anchor",
                   r > 0 ? evaluations / static_cast<double>(r) : std::nan(""));
  result.SetNumber("quality.mean_precision", r > 0 ? precision / static_cast<double>(r) : std::nan(""));
  result.SetNumber("quality.mean_coverage", r > 0 ? coverage / static_cast<double>(r) : std::nan(""));
}

loupe::sdk::ExplainerDef AnchorsExplainer::Definition() {
  using loupe::sdk::Param;
  return loupe::sdk::ExplainerDef::Of<AnchorsExplainer>("counterfactual.anchors")
      .Summary(
          "Anchors (Ribeiro et al. 2018, as Alibi's AnchorTabular): for each row, a rule of quantile bins "
          "and "
          "levels under which the classifier keeps its decision with high precision, found by beam search "
          "with "
          "the KL-LUCB bandit, with its coverage.")
      .Kind(kAnchors)
      .Scope(LOUPE_SCOPE_LOCAL)
      .Parameters({
          Param::Float("threshold")
              .Default(0.95)
              .Min(0.0)
              .Max(1.0)
              .Doc("Precision an anchor must reach: the fraction of samples satisfying it that keep the "
                   "decision."),
          Param::Float("delta").Default(0.1).Min(1e-6).Max(0.5).Doc(
              "Significance of the bandit's confidence bounds (1 - confidence)."),
          Param::Float("tau").Default(0.15).Min(1e-4).Max(1.0).Doc(
              "KL-LUCB's tolerance: arms whose bounds are within tau are treated as equal."),
          Param::Int("batch_size")
              .Default(100)
              .Min(1)
              .Max(1000000)
              .Doc("Samples drawn per arm each time the bandit samples it."),
          Param::Int("coverage_samples")
              .Default(10000)
              .Min(1)
              .Max(10000000)
              .Doc("Data rows drawn to estimate an anchor's coverage."),
          Param::Int("beam_size")
              .Default(1)
              .Min(1)
              .Max(100)
              .Doc("Anchors kept at each size of the beam search."),
          Param::Int("max_anchor_size")
              .Min(1)
              .Max(10000)
              .Doc("Most conditions an anchor may have; unset: every feature."),
          Param::Int("min_samples_start")
              .Default(100)
              .Min(1)
              .Max(1000000)
              .Doc("Samples drawn first to check whether the empty anchor already holds."),
          Param::Json("disc_perc")
              .Default(nlohmann::json::array({25, 50, 75}))
              .Doc("Percentiles at which numeric features are cut into bins (Alibi's disc_perc)."),
      });
}

}  // namespace loupe::counterfactual
