// Test helper: an XGBoost model (Booster.save_model JSON, tests/fixtures/xgboost) as the C capability
// LoupeTreeEnsemble, an independent margin evaluator over the pipeline's feature matrix, the data sets
// the fixtures were trained on, and the mock models that serve them.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "loupe/c/loupe_plugin.h"
#include "loupe/testing/mock_host.hpp"

namespace loupe::shap::testing {

inline nlohmann::json ReadJson(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  return nlohmann::json::parse(in);
}

// The fixtures write NaN as a bare token; nlohmann accepts it only through this pre-pass.
inline nlohmann::json ReadJsonWithNaN(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string text = buffer.str();
  for (std::size_t at = text.find("NaN"); at != std::string::npos; at = text.find("NaN", at))
    text.replace(at, 3, "null");
  return nlohmann::json::parse(text);
}

// A small RFC 4180 reader (quoted strings, no embedded quotes or newlines): header + rows of cells.
inline std::vector<std::vector<std::string>> ReadCsv(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::vector<std::vector<std::string>> rows;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::vector<std::string> cells;
    std::string cell;
    bool quoted = false;
    for (const char c : line) {
      if (c == '"') {
        quoted = !quoted;
      } else if (c == ',' && !quoted) {
        cells.push_back(cell);
        cell.clear();
      } else {
        cell += c;
      }
    }
    cells.push_back(cell);
    rows.push_back(cells);
  }
  return rows;
}

// The capability, owning every array it points to.
class XgbEnsemble {
 public:
  explicit XgbEnsemble(const std::string& path) {
    const nlohmann::json model = ReadJsonWithNaN(path);
    const auto& learner = model["learner"];
    names_ = learner["feature_names"].get<std::vector<std::string>>();
    auto types = learner["feature_types"].get<std::vector<std::string>>();
    types.resize(names_.size(), "q");  // an empty list: every feature numeric
    const auto& attributes = learner["attributes"];
    const nlohmann::json levels = attributes.contains("loupe_levels")
                                      ? nlohmann::json::parse(attributes["loupe_levels"].get<std::string>())
                                      : nlohmann::json::object();
    if (attributes.contains("loupe_classes")) {
      classes_ = nlohmann::json::parse(attributes["loupe_classes"].get<std::string>())
                     .get<std::vector<std::string>>();
    }
    objective_ = learner["objective"]["name"].get<std::string>();
    const double base_score = std::stod(learner["learner_model_param"]["base_score"].get<std::string>());
    const int num_class = std::stoi(learner["learner_model_param"]["num_class"].get<std::string>());
    const std::int64_t n_outputs = std::max(1, num_class);
    const double margin =
        objective_ == "binary:logistic" ? std::log(base_score / (1.0 - base_score)) : base_score;
    base_margin_.assign(static_cast<std::size_t>(n_outputs), margin);

    levels_.resize(names_.size());
    level_pointers_.resize(names_.size());
    for (std::size_t f = 0; f < names_.size(); ++f) {
      LoupeColumnInfo info{};
      info.struct_size = sizeof(info);
      info.name = names_[f].c_str();
      info.type = types[f] == "c" ? LOUPE_FEATURE_CATEGORICAL : LOUPE_FEATURE_NUMERIC;
      if (types[f] == "c") {
        levels_[f] = levels.at(names_[f]).get<std::vector<std::string>>();
        for (const auto& level : levels_[f]) level_pointers_[f].push_back(level.c_str());
        info.levels = level_pointers_[f].data();
        info.n_levels = static_cast<std::int64_t>(levels_[f].size());
      }
      columns_.push_back(info);
    }

    const auto& booster = learner["gradient_booster"]["model"];
    const auto tree_info = booster["tree_info"].get<std::vector<int>>();
    const auto& trees = booster["trees"];
    for (std::size_t t = 0; t < trees.size(); ++t) trees_.push_back(MakeTree(trees[t], tree_info[t]));
    for (const auto& tree : trees_) tree_pointers_.push_back(&tree->tree);

    ensemble_ = LoupeTreeEnsemble{};
    ensemble_.struct_size = sizeof(LoupeTreeEnsemble);
    ensemble_.split_rule = LOUPE_TREE_SPLIT_LESS;
    ensemble_.link = objective_ == "binary:logistic"  ? LOUPE_TREE_LINK_LOGISTIC
                     : objective_ == "multi:softprob" ? LOUPE_TREE_LINK_SOFTMAX
                                                      : LOUPE_TREE_LINK_IDENTITY;
    for (const auto& tree : trees_) ensemble_.max_depth = std::max(ensemble_.max_depth, tree->tree.max_depth);
    ensemble_.n_outputs = n_outputs;
    ensemble_.base_margin = base_margin_.data();
    ensemble_.n_features = static_cast<std::int64_t>(columns_.size());
    ensemble_.features = columns_.data();
    ensemble_.n_trees = static_cast<std::int64_t>(tree_pointers_.size());
    ensemble_.trees = tree_pointers_.data();
  }
  XgbEnsemble(const XgbEnsemble&) = delete;
  XgbEnsemble& operator=(const XgbEnsemble&) = delete;

  const LoupeTreeEnsemble* capability() const { return &ensemble_; }
  const std::vector<std::string>& feature_names() const { return names_; }
  const std::vector<std::string>& levels(std::size_t feature) const { return levels_[feature]; }
  const std::vector<std::string>& classes() const { return classes_; }
  const std::string& objective() const { return objective_; }
  std::int64_t n_outputs() const { return ensemble_.n_outputs; }

  // Margins of `n` rows of the pipeline matrix (columns named `data_names`, categorical levels
  // `data_levels`), walking the XGBoost arrays directly: features by name, level codes by name.
  void Margins(const std::vector<std::string>& data_names,
               const std::vector<std::vector<std::string>>& data_levels, const double* rows, std::int64_t n,
               double* out) const {
    const auto width = static_cast<std::int64_t>(data_names.size());
    std::vector<double> model_row(names_.size());
    for (std::int64_t i = 0; i < n; ++i) {
      for (std::size_t f = 0; f < names_.size(); ++f) {
        const auto at = std::find(data_names.begin(), data_names.end(), names_[f]) - data_names.begin();
        double v = rows[i * width + at];
        if (!levels_[f].empty() && !std::isnan(v)) {
          const std::string& level = data_levels[static_cast<std::size_t>(at)][static_cast<std::size_t>(v)];
          const auto found = std::find(levels_[f].begin(), levels_[f].end(), level);
          v = found == levels_[f].end() ? NAN : static_cast<double>(found - levels_[f].begin());
        }
        model_row[f] = v;
      }
      for (std::int64_t o = 0; o < n_outputs(); ++o)
        out[i * n_outputs() + o] = base_margin_[static_cast<std::size_t>(o)];
      for (const auto& tree : trees_) {
        std::int32_t node = 0;
        while (tree->left[static_cast<std::size_t>(node)] >= 0) {
          const auto k = static_cast<std::size_t>(node);
          const double v = model_row[static_cast<std::size_t>(tree->feature[k])];
          bool left;
          if (std::isnan(v)) {
            left = tree->default_left[k] != 0;
          } else if (tree->is_categorical[k] != 0) {
            const auto begin = tree->categories.begin() + tree->offsets[k];
            const auto end = tree->categories.begin() + tree->offsets[k + 1];
            left = std::find(begin, end, static_cast<std::int32_t>(v)) == end;
          } else {
            left = static_cast<float>(v) < static_cast<float>(tree->threshold[k]);
          }
          node = left ? tree->left[k] : tree->right[k];
        }
        out[i * n_outputs() + tree->tree.output] += tree->value[static_cast<std::size_t>(node)];
      }
    }
  }

 private:
  struct OwnedTree {
    std::vector<std::int32_t> left, right, feature, categories;
    std::vector<double> threshold, value, cover;
    std::vector<std::uint8_t> default_left, is_leaf, is_categorical;
    std::vector<std::int64_t> offsets;
    LoupeTree tree{};
  };

  static std::unique_ptr<OwnedTree> MakeTree(const nlohmann::json& j, int output) {
    auto t = std::make_unique<OwnedTree>();
    const auto n = j["left_children"].size();
    t->left = j["left_children"].get<std::vector<std::int32_t>>();
    t->right = j["right_children"].get<std::vector<std::int32_t>>();
    const auto split = j["split_indices"].get<std::vector<std::int32_t>>();
    const auto& conditions = j["split_conditions"];
    const auto types = j["split_type"].get<std::vector<int>>();
    const auto dleft = j["default_left"].get<std::vector<int>>();
    const auto hess = j["sum_hessian"].get<std::vector<double>>();
    std::map<std::int32_t, std::vector<std::int32_t>> sets;
    const auto cat_nodes = j["categories_nodes"].get<std::vector<std::int32_t>>();
    const auto cat_segments = j["categories_segments"].get<std::vector<std::int64_t>>();
    const auto cat_sizes = j["categories_sizes"].get<std::vector<std::int64_t>>();
    const auto cats = j["categories"].get<std::vector<std::int32_t>>();
    for (std::size_t c = 0; c < cat_nodes.size(); ++c) {
      auto& set = sets[cat_nodes[c]];
      for (std::int64_t k = 0; k < cat_sizes[c]; ++k)
        set.push_back(cats[static_cast<std::size_t>(cat_segments[c] + k)]);
      std::sort(set.begin(), set.end());
    }
    t->offsets.push_back(0);
    for (std::size_t k = 0; k < n; ++k) {
      const bool leaf = t->left[k] < 0;
      const double condition = conditions[k].is_null() ? NAN : conditions[k].get<double>();
      t->is_leaf.push_back(leaf ? 1 : 0);
      t->feature.push_back(leaf ? -1 : split[k]);
      t->is_categorical.push_back(!leaf && types[k] == 1 ? 1 : 0);
      t->threshold.push_back(!leaf && types[k] == 0 ? static_cast<double>(static_cast<float>(condition))
                                                    : NAN);
      t->value.push_back(leaf ? condition : 0.0);
      t->cover.push_back(hess[k]);
      t->default_left.push_back(dleft[k] != 0 ? 1 : 0);
      if (!leaf && types[k] == 1) {
        const auto& set = sets[static_cast<std::int32_t>(k)];
        t->categories.insert(t->categories.end(), set.begin(), set.end());
      }
      t->offsets.push_back(static_cast<std::int64_t>(t->categories.size()));
    }
    // Inner values: cover-weighted means of the children (children have higher indices in XGBoost).
    std::int32_t depth = 0;
    std::vector<std::int32_t> node_depth(n, 0);
    for (std::size_t k = 0; k < n; ++k) {
      if (t->left[k] >= 0) {
        node_depth[static_cast<std::size_t>(t->left[k])] = node_depth[k] + 1;
        node_depth[static_cast<std::size_t>(t->right[k])] = node_depth[k] + 1;
      }
      depth = std::max(depth, node_depth[k]);
    }
    for (std::size_t k = n; k-- > 0;) {
      if (t->left[k] < 0) continue;
      const auto l = static_cast<std::size_t>(t->left[k]), r = static_cast<std::size_t>(t->right[k]);
      t->value[k] = (t->value[l] * t->cover[l] + t->value[r] * t->cover[r]) / t->cover[k];
    }
    LoupeTree& tree = t->tree;
    tree.struct_size = sizeof(LoupeTree);
    tree.output = output;
    tree.n_nodes = static_cast<std::int64_t>(n);
    tree.max_depth = depth;
    tree.left = t->left.data();
    tree.right = t->right.data();
    tree.feature = t->feature.data();
    tree.threshold = t->threshold.data();
    tree.default_left = t->default_left.data();
    tree.is_leaf = t->is_leaf.data();
    tree.is_categorical = t->is_categorical.data();
    tree.value = t->value.data();
    tree.cover = t->cover.data();
    tree.category_offsets = t->offsets.data();
    tree.categories = t->categories.data();
    return t;
  }

  std::vector<std::string> names_;
  std::vector<std::vector<std::string>> levels_;
  std::vector<std::vector<const char*>> level_pointers_;
  std::vector<std::string> classes_;
  std::string objective_;
  std::vector<double> base_margin_;
  std::vector<LoupeColumnInfo> columns_;
  std::vector<std::unique_ptr<OwnedTree>> trees_;
  std::vector<const LoupeTree*> tree_pointers_;
  LoupeTreeEnsemble ensemble_{};
};

// A data set read from CSV with the columns in `order` (names; "noise" adds an unused numeric column of
// deterministic values). Categorical columns (`categorical`) get their levels in order of first appearance,
// which differs from the models' sorted levels, so the explainer must map codes by level name. Numbers are
// rounded to float32, which is what XGBoost compares.
inline loupe::testing::MockDataset CsvDataset(const std::string& path, const std::vector<std::string>& order,
                                              const std::vector<std::string>& categorical) {
  const auto rows = ReadCsv(path);
  const auto& header = rows[0];
  loupe::testing::MockDataset data;
  for (const auto& name : order) {
    if (name == "noise") {
      std::vector<double> values;
      for (std::size_t i = 1; i < rows.size(); ++i)
        values.push_back(std::sin(static_cast<double>(i) * 1.7) * 10.0);
      data.features.push_back(loupe::testing::MockColumn::Numeric(name, values));
      continue;
    }
    const auto at = static_cast<std::size_t>(std::find(header.begin(), header.end(), name) - header.begin());
    if (at == header.size()) throw std::runtime_error("no column " + name + " in " + path);
    const bool is_categorical = std::find(categorical.begin(), categorical.end(), name) != categorical.end();
    std::vector<std::string> levels;
    std::vector<double> values;
    for (std::size_t i = 1; i < rows.size(); ++i) {
      const std::string& cell = rows[i][at];
      if (cell == "NA") {
        values.push_back(NAN);
      } else if (is_categorical) {
        auto found = std::find(levels.begin(), levels.end(), cell);
        if (found == levels.end()) found = levels.insert(levels.end(), cell);
        values.push_back(static_cast<double>(found - levels.begin()));
      } else {
        values.push_back(static_cast<double>(static_cast<float>(std::stod(cell))));
      }
    }
    data.features.push_back(is_categorical ? loupe::testing::MockColumn::Categorical(name, levels, values)
                                           : loupe::testing::MockColumn::Numeric(name, values));
  }
  return data;
}

// A mock model serving `ensemble` over `data`'s columns: the capability plus predictions from the
// independent evaluator (probabilities through the link for classifiers). With `with_capability` false
// the model offers no trees.
inline loupe::testing::MockModel XgbModel(const std::shared_ptr<const XgbEnsemble>& ensemble,
                                          const loupe::testing::MockDataset& data,
                                          bool with_capability = true) {
  std::vector<std::string> names;
  std::vector<std::vector<std::string>> levels;
  for (const auto& column : data.features) {
    names.push_back(column.name);
    levels.push_back(column.levels);
  }
  auto margins = [ensemble, names, levels](const double* rows, std::int64_t n, double* out) {
    ensemble->Margins(names, levels, rows, n, out);
  };
  loupe::testing::MockModel model;
  const std::int64_t k = ensemble->n_outputs();
  if (ensemble->objective() == "reg:squarederror") {
    model = loupe::testing::MockModel::Regressor({"y"}, margins);
  } else if (ensemble->objective() == "binary:logistic") {
    model = loupe::testing::MockModel::Classifier(
        ensemble->classes(),
        [margins](const double* rows, std::int64_t n, double* out) {
          std::vector<double> m(static_cast<std::size_t>(n));
          margins(rows, n, m.data());
          for (std::int64_t i = 0; i < n; ++i) {
            const double p = 1.0 / (1.0 + std::exp(-m[static_cast<std::size_t>(i)]));
            out[2 * i] = 1.0 - p;
            out[2 * i + 1] = p;
          }
        },
        {"margin"}, margins);
  } else {
    std::vector<std::string> raw;
    for (const auto& c : ensemble->classes()) raw.push_back("margin_" + c);
    model = loupe::testing::MockModel::Classifier(
        ensemble->classes(),
        [margins, k](const double* rows, std::int64_t n, double* out) {
          margins(rows, n, out);
          for (std::int64_t i = 0; i < n; ++i) {
            double* p = out + i * k;
            const double top = *std::max_element(p, p + k);
            double total = 0;
            for (std::int64_t c = 0; c < k; ++c) total += (p[c] = std::exp(p[c] - top));
            for (std::int64_t c = 0; c < k; ++c) p[c] /= total;
          }
        },
        raw, margins);
  }
  model.name = ensemble->objective();
  if (with_capability) {
    model.capabilities = {LOUPE_TREE_ENSEMBLE_CAPABILITY};
    model.capability_structs[LOUPE_TREE_ENSEMBLE_CAPABILITY] = ensemble->capability();
  }
  return model;
}

}  // namespace loupe::shap::testing
