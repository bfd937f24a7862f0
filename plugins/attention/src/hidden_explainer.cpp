#include "hidden_explainer.hpp"

#include <cmath>

#include "attention_math.hpp"
#include "text_rows.hpp"

namespace loupe::attention {
namespace {

using loupe::sdk::ExplainerDef;
using loupe::sdk::Host;
using loupe::sdk::Param;
using loupe::sdk::ResultBuilder;
using nlohmann::json;

// What the explainer computes for one row, [S] states each.
struct RowViews {
  std::vector<std::vector<double>> norms;      // [S][T]
  std::vector<std::vector<double>> cosine;     // [S][T]; empty when the widths differ from the pooled one
  std::vector<std::vector<double>> pca;        // [S][T * 2]
  std::vector<std::vector<double>> explained;  // [S][2]
};

RowViews Views(const RowHidden& row, const HiddenShape& shape) {
  RowViews v;
  const auto t = static_cast<std::int64_t>(row.tokens.size());
  double pooled_norm = 0.0;
  for (const float p : row.pooled) pooled_norm += static_cast<double>(p) * p;
  pooled_norm = std::sqrt(pooled_norm);
  for (std::size_t s = 0; s < row.states.size(); ++s) {
    const std::int64_t d = shape.widths[s];
    const std::vector<double> x(row.states[s].begin(), row.states[s].end());
    std::vector<double> norms(static_cast<std::size_t>(t)), cosine;
    for (std::int64_t i = 0; i < t; ++i) {
      double sq = 0.0, dot = 0.0;
      for (std::int64_t j = 0; j < d; ++j) {
        const double value = x[static_cast<std::size_t>(i * d + j)];
        sq += value * value;
        if (d == shape.pooled_width) dot += value * row.pooled[static_cast<std::size_t>(j)];
      }
      norms[static_cast<std::size_t>(i)] = std::sqrt(sq);
      if (d == shape.pooled_width) {
        const double denominator = std::sqrt(sq) * pooled_norm;
        cosine.push_back(denominator > 0 ? dot / denominator : 0.0);
      }
    }
    std::vector<double> coordinates, explained;
    Pca(x, t, d, 2, coordinates, explained);
    v.norms.push_back(std::move(norms));
    v.cosine.push_back(std::move(cosine));
    v.pca.push_back(std::move(coordinates));
    v.explained.push_back(std::move(explained));
  }
  return v;
}

}  // namespace

HiddenExplainer::HiddenExplainer(const Host& host) : vectors_(host.Params().GetOr<bool>("vectors", false)) {}

ExplainerDef HiddenExplainer::Definition() {
  return ExplainerDef::Of<HiddenExplainer>("attention.hidden")
      .Summary(
          "The hidden state of every token after every sequence layer: norms, cosine similarity to the "
          "pooled output, a 2-D PCA projection per layer, and the raw vectors on request.")
      .Kind("attention_maps")
      .Scope(LOUPE_SCOPE_LOCAL)
      .Parameters({Param::Bool("vectors").Default(false).Doc(
          "Also write the raw hidden vectors (vectors[R][S][T][width]); large.")})
      .Requires({LOUPE_HIDDEN_STATES_CAPABILITY});
}

void HiddenExplainer::Explain(const Host& host, const ResultBuilder& result) const {
  const HiddenShape shape = RequireHiddenStates(host, "attention.hidden");
  const std::vector<RowHidden> rows = ReadHiddenStates(host, host.StepRows());
  std::vector<RowViews> views(rows.size());
  host.ParallelFor(0, static_cast<std::int64_t>(rows.size()), 1, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i)
      views[static_cast<std::size_t>(i)] = Views(rows[static_cast<std::size_t>(i)], shape);
  });
  json ids = json::array(), tokens = json::array(), word_index = json::array(), words = json::array();
  json norms = json::array(), cosine = json::array(), pca = json::array(), explained = json::array(),
       vectors = json::array();
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const auto t = static_cast<std::int64_t>(rows[r].tokens.size());
    ids.push_back(rows[r].row);
    tokens.push_back(rows[r].tokens);
    word_index.push_back(rows[r].word_index);
    words.push_back(rows[r].words);
    json row_norms = json::array(), row_cosine = json::array(), row_pca = json::array(),
         row_vectors = json::array();
    for (std::size_t s = 0; s < shape.widths.size(); ++s) {
      row_norms.push_back(views[r].norms[s]);
      row_cosine.push_back(views[r].cosine[s].empty() ? json() : json(views[r].cosine[s]));
      row_pca.push_back(MatrixJson(views[r].pca[s].data(), t, 2));
      if (vectors_) {
        const std::vector<double> x(rows[r].states[s].begin(), rows[r].states[s].end());
        row_vectors.push_back(MatrixJson(x.data(), t, shape.widths[s]));
      }
    }
    norms.push_back(std::move(row_norms));
    cosine.push_back(std::move(row_cosine));
    pca.push_back(std::move(row_pca));
    explained.push_back(views[r].explained);
    if (vectors_) vectors.push_back(std::move(row_vectors));
  }
  result.SetJson("rows", ids);
  result.SetJson("tokens", tokens);
  result.SetJson("word_index", word_index);
  result.SetJson("words", words);
  result.SetJson("states", shape.names);
  result.SetJson("widths", shape.widths);
  result.SetString("pooling", PoolingName(shape.pooling));
  result.SetJson("norms", norms);
  result.SetJson("cosine_to_pooled", cosine);
  result.SetJson("pca", pca);
  result.SetJson("pca_explained_variance", explained);
  if (vectors_) result.SetJson("vectors", vectors);
}

}  // namespace loupe::attention
