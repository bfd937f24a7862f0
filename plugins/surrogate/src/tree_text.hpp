// A fitted tree in words: one plain-language rule per leaf, Graphviz DOT, and the `nodes` JSON of the
// surrogate_tree output kind (docs/architecture.md §5).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cart.hpp"
#include "loupe/sdk/host.hpp"

namespace loupe::surrogate {

// Names the tree's features and outcomes.
struct TreeVocabulary {
  std::vector<loupe::sdk::FeatureInfo> features;  // training layout: names, levels of categoricals
  std::vector<std::string> classes;               // classification: label of each class index
  std::string criterion;                          // "gini", "entropy" or "squared_error"
};

// The conditions on the way to node `id`, merged per feature in order of first use and joined with AND:
// "Income > 120.5 AND Job in {fixed, partime}", "30 < Age <= 45", "(Debt <= 10 or Debt is missing)".
// Missing values are mentioned only where training rows with a missing value reached the split.
// The root alone gives "all rows".
std::string Conditions(const Tree& tree, std::int64_t id, const TreeVocabulary& words);

// What the leaf predicts: "good (94% of 812 rows)" or "0.734 (812 rows)"; the percentage is the leaf's
// weighted share of its predicted class.
std::string Outcome(const Tree& tree, std::int64_t id, const TreeVocabulary& words);

// "conditions → outcome".
std::string Rule(const Tree& tree, std::int64_t leaf, const TreeVocabulary& words);

// The class label or the value a leaf predicts, as JSON.
nlohmann::json PredictionJson(const Tree& tree, std::int64_t id, const TreeVocabulary& words);

// nodes[]: id, depth, parent, samples, weighted_samples, impurity, value (class fractions or the mean),
// prediction; split nodes add feature, feature_index, split ("numeric" | "categorical" | "missing"),
// threshold or categories (the levels going left), missing ("left" | "right"), children [left, right];
// leaves have feature null, children [] and their rule.
nlohmann::json NodesJson(const Tree& tree, const TreeVocabulary& words);

// The tree in Graphviz DOT, laid out like sklearn's export_graphviz (True = left branch).
std::string Dot(const Tree& tree, const TreeVocabulary& words);

}  // namespace loupe::surrogate
