#include "decision.hpp"

#include <cmath>
#include <cstdio>

#include "loupe/sdk/error.hpp"
#include "loupe/sdk/params.hpp"

namespace loupe::counterfactual {
namespace {

using loupe::sdk::InvalidArgument;

std::string Fixed(double value, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.*f", decimals, value);
  return buffer;
}

std::string Joined(const std::vector<std::string>& names) {
  std::string text;
  for (const auto& name : names) text += (text.empty() ? "'" : ", '") + name + "'";
  return text;
}

}  // namespace

DecisionRule DecisionRule::Classifier(std::vector<std::string> classes, std::int32_t desired,
                                      double threshold) {
  DecisionRule rule;
  rule.outputs_ = std::move(classes);
  rule.desired_ = desired;
  rule.threshold_ = threshold;
  return rule;
}

DecisionRule DecisionRule::ForCounterfactuals(const loupe::sdk::Host& host) {
  const loupe::sdk::ModelInfo model = host.ModelInfo();
  const loupe::sdk::Params& params = host.Params();
  DecisionRule rule;
  rule.outputs_ = model.output_names;
  const std::string desired = params.GetOr<std::string>("desired", "opposite");
  if (!model.IsClassifier()) {
    rule.classifier_ = false;
    if (!params.Has("desired_range")) {
      throw InvalidArgument("model '" + model.name +
                            "' is a regressor, so counterfactual.search needs parameter 'desired_range' "
                            "[low, high], the predictions a counterfactual must reach");
    }
    const nlohmann::json range = params.Get<nlohmann::json>("desired_range");
    if (!range.is_array() || range.size() != 2 || !range[0].is_number() || !range[1].is_number() ||
        range[0].get<double>() > range[1].get<double>()) {
      throw InvalidArgument("parameter 'desired_range' must be [low, high] with low <= high, found " +
                            range.dump());
    }
    rule.range_lo_ = range[0].get<double>();
    rule.range_hi_ = range[1].get<double>();
    return rule;
  }
  rule.threshold_ = params.GetOr<double>("threshold", 0.5);
  if (desired == "opposite") {
    if (rule.outputs_.size() != 2) {
      throw InvalidArgument(
          "parameter 'desired' is \"opposite\", which needs a binary classifier, but model '" + model.name +
          "' has " + std::to_string(rule.outputs_.size()) + " classes; name one of " + Joined(rule.outputs_));
    }
    return rule;
  }
  for (std::size_t c = 0; c < rule.outputs_.size(); ++c) {
    if (rule.outputs_[c] == desired) rule.desired_ = static_cast<std::int32_t>(c);
  }
  if (rule.desired_ < 0) {
    throw InvalidArgument("parameter 'desired' names class '" + desired +
                          "', which is not a class of model '" + model.name +
                          "' (classes: " + Joined(rule.outputs_) + ")");
  }
  return rule;
}

DecisionRule DecisionRule::ForAnchors(const loupe::sdk::Host& host, const std::string& explainer) {
  const loupe::sdk::ModelInfo model = host.ModelInfo();
  if (!model.IsClassifier() || model.output_names.size() < 2) {
    throw loupe::sdk::Unsupported(explainer + " explains a classifier's decisions, but model '" + model.name +
                                  "' is a regressor");
  }
  DecisionRule rule;
  rule.outputs_ = model.output_names;
  return rule;
}

std::int32_t DecisionRule::Class(const double* outputs) const {
  std::int32_t best = 0;
  for (std::int32_t c = 1; c < static_cast<std::int32_t>(outputs_.size()); ++c) {
    if (outputs[c] > outputs[best]) best = c;
  }
  return best;
}

std::int32_t DecisionRule::DesiredFor(const double* outputs) const {
  if (!classifier_) return -1;
  if (desired_ >= 0) return desired_;
  return 1 - Class(outputs);  // binary only (checked when the rule is read)
}

bool DecisionRule::Valid(const double* outputs, std::int32_t desired) const {
  if (!classifier_) return outputs[0] >= range_lo_ && outputs[0] <= range_hi_;
  for (std::int64_t c = 0; c < n_outputs(); ++c) {
    if (std::isnan(outputs[c])) return false;
  }
  if (outputs[desired] < threshold_) return false;
  return outputs_.size() == 2 || Class(outputs) == desired;
}

std::string DecisionRule::Describe(const double* outputs, std::int32_t desired) const {
  if (!classifier_) return Fixed(outputs[0], 4);
  const std::int32_t shown = desired >= 0 ? desired : Class(outputs);
  return outputs_[static_cast<std::size_t>(shown)] + " (p = " + Fixed(outputs[shown], 2) + ")";
}

std::string DecisionRule::Sentence() const {
  if (!classifier_) {
    return "a counterfactual is valid when the model's prediction lies in [" + Fixed(range_lo_, 4) + ", " +
           Fixed(range_hi_, 4) + "]";
  }
  const std::string target =
      desired_ >= 0 ? "class '" + outputs_[static_cast<std::size_t>(desired_)] + "'" : "the other class";
  return "a counterfactual is valid when the model's probability of " + target + " is at least " +
         Fixed(threshold_, 2) + (outputs_.size() > 2 ? " and that class is the most probable" : "") +
         "; validity is checked by predicting the counterfactual";
}

}  // namespace loupe::counterfactual
