#include "tree_explainer.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "background.hpp"
#include "fast_tree_shap.hpp"
#include "loupe/sdk/attribution.hpp"
#include "loupe/sdk/common_params.hpp"
#include "loupe/sdk/error.hpp"
#include "players.hpp"
#include "tree_model.hpp"

namespace loupe::shap {
namespace {

using loupe::sdk::Host;
using loupe::sdk::InvalidArgument;
using loupe::sdk::Unsupported;

// Explained rows per parallel chunk (and per progress report).
constexpr std::int64_t kRowGrain = 16;
constexpr std::int64_t kAdditivityBlock = 8192;  // rows per batched Predict of the additivity check

struct TreeSetup {
  loupe::sdk::DatasetInfo data;
  std::vector<std::string> output_names;  // the raw outputs
  bool interventional = false;
  bool interactions = false;
};

const LoupeTreeEnsemble& Ensemble(const Host& host) {
  const loupe::sdk::ModelInfo model = host.ModelInfo();
  const void* capability = host.HasCapability(LOUPE_TREE_ENSEMBLE_CAPABILITY)
                               ? host.Capability(LOUPE_TREE_ENSEMBLE_CAPABILITY, 1)
                               : nullptr;
  if (capability == nullptr) {
    throw Unsupported("shap.tree needs a tree ensemble (capability 'tree_ensemble') and model '" +
                      model.name +
                      "' offers none; use shap.exact, shap.permutation or shap.kernel for other models");
  }
  return *static_cast<const LoupeTreeEnsemble*>(capability);
}

TreeSetup ConfigureTree(const Host& host) {
  TreeSetup setup;
  setup.data = host.Dataset();
  setup.interventional = host.Params().Has("background");
  setup.interactions = host.Params().GetOr<bool>("interactions", false);
  if (host.Params().GetOr<std::string>("output", "raw") == "probability") {
    throw InvalidArgument(
        "parameter 'output' is \"probability\", but shap.tree explains the raw margin only: TreeSHAP values "
        "add up "
        "over the trees in margin space, and shap's TreeExplainer likewise does not explain probabilities "
        "with "
        "path-dependent perturbation; use output: raw");
  }
  if (setup.interactions && setup.interventional) {
    throw InvalidArgument(
        "parameter 'interactions' is true together with parameter 'background', but SHAP interaction values "
        "are "
        "computed path-dependent only (as in shap's TreeExplainer); drop 'background' or set interactions: "
        "false");
  }
  if (setup.data.n_features() == 0)
    throw Unsupported("shap.tree needs at least one feature, found none in the step's data");
  const loupe::sdk::ModelInfo model = host.ModelInfo();
  setup.output_names = model.OutputNames(LOUPE_OUTPUT_RAW);
  return setup;
}

TreeModel Load(const Host& host, const TreeSetup& setup) {
  TreeModel model(Ensemble(host), setup.data);
  if (model.n_outputs() != static_cast<std::int64_t>(setup.output_names.size())) {
    throw InvalidArgument("the model's tree_ensemble description has " + std::to_string(model.n_outputs()) +
                          " margins but the model reports " + std::to_string(setup.output_names.size()) +
                          " raw outputs");
  }
  if (!setup.interventional) {
    const std::int64_t tree = model.TreeWithoutCovers();
    if (tree >= 0) {
      throw Unsupported(
          "path-dependent TreeSHAP needs positive node covers, but tree " + std::to_string(tree) +
          " of the model has an inner node without; give parameter 'background' for interventional "
          "TreeSHAP");
    }
  }
  return model;
}

// The leaf tables of fast_tree_shap.hpp for this call (path-dependent, with interactions, or
// interventional over the background rows), built on the host's pool, a tree per task.
FastTreeShap LeafTables(const Host& host, const TreeModel& model, FastTreeShapOptions options) {
  FastTreeShap fast(model, std::move(options));
  if (!model.trees().empty()) {
    host.ParallelFor(0, static_cast<std::int64_t>(model.trees().size()), 1,
                     [&](std::int64_t begin, std::int64_t end) {
                       host.ThrowIfCancelled();
                       fast.BuildTables(begin, end);
                     });
  }
  return fast;
}

}  // namespace

TreeExplainer::TreeExplainer(const Host& host) {
  const TreeSetup setup = ConfigureTree(host);
  Load(host, setup);
  if (setup.interventional) ResolveBackgroundRows(host, setup.data.n_rows);
}

void TreeExplainer::Explain(const Host& host, const loupe::sdk::ResultBuilder& result) const {
  const TreeSetup setup = ConfigureTree(host);
  const TreeModel model = Load(host, setup);
  const loupe::sdk::Matrix x = host.Features();
  const std::vector<std::int64_t> rows = host.StepRows();
  const std::vector<std::int64_t> background =
      setup.interventional ? ResolveBackgroundRows(host, setup.data.n_rows) : std::vector<std::int64_t>{};
  const auto r = static_cast<std::int64_t>(rows.size());
  const std::int64_t o = model.n_outputs();
  const std::int64_t f = model.n_columns();
  const auto b = static_cast<std::int64_t>(background.size());
  const Players players = BuildPlayers(setup.data, nullptr);

  loupe::sdk::FeatureAttribution attribution;
  attribution.feature_names = setup.data.FeatureNames();
  attribution.output_names = setup.output_names;
  attribution.rows = rows;
  attribution.base_values.resize(static_cast<std::size_t>(r * o));
  double* const values = attribution.ValuesInHost(result);  // written in place: the host holds them
  double* const interactions =
      setup.interactions ? result.NewTensor("interaction_values", {r, o, f, f}) : nullptr;

  // Base values: the covers' expectation (path-dependent) or the mean margin of the background rows.
  std::vector<double> base = model.ExpectedMargin();
  if (setup.interventional) {
    std::fill(base.begin(), base.end(), 0.0);
    std::vector<double> margin(static_cast<std::size_t>(o));
    for (const std::int64_t row : background) {
      model.Margin(x.Row(row), margin.data());
      for (std::int64_t k = 0; k < o; ++k)
        base[static_cast<std::size_t>(k)] += margin[static_cast<std::size_t>(k)];
    }
    for (double& value : base) value /= static_cast<double>(b);
  }
  for (std::int64_t row = 0; row < r; ++row)
    std::copy(base.begin(), base.end(), attribution.base_values.begin() + row * o);

  // Every kind of value comes from leaf tables (fast_tree_shap.hpp); trees without fall back to
  // Algorithm 2, its conditional passes, or the recursion per background row.
  FastTreeShapOptions options;
  options.interactions = setup.interactions;
  options.explained_rows = r;
  for (const std::int64_t reference : background) options.background.push_back(x.Row(reference));
  const FastTreeShap fast = LeafTables(host, model, std::move(options));

  std::atomic<std::uint64_t> done{0};
  host.ParallelFor(0, r, kRowGrain, [&](std::int64_t begin, std::int64_t end) {
    host.ThrowIfCancelled();
    FastTreeShap::Scratch scratch = fast.MakeScratch();
    if (setup.interactions) {
      for (std::int64_t i = begin; i < end; ++i) {
        fast.RowInteractions(x.Row(rows[static_cast<std::size_t>(i)]), &scratch, values + i * o * f,
                             interactions + i * o * f * f);
      }
    } else {
      // The chunk as one block: each tree serves all its rows while in cache.
      std::vector<const double*> block;
      for (std::int64_t i = begin; i < end; ++i) block.push_back(x.Row(rows[static_cast<std::size_t>(i)]));
      fast.Rows(block.data(), end - begin, &scratch, values + begin * o * f);
    }
    done += static_cast<std::uint64_t>(end - begin);
    host.Progress(done.load(), static_cast<std::uint64_t>(r));
  });

  // Additivity against the model itself: batched calls for the margins of the explained rows, a block
  // of rows at a time (a copy of every explained row would cost as much memory as the values).
  const std::int64_t block = std::min<std::int64_t>(r, kAdditivityBlock);
  std::vector<double> batch(static_cast<std::size_t>(block * x.cols()));
  std::vector<double> margin(static_cast<std::size_t>(block * o));
  double residual = 0.0;
  for (std::int64_t first = 0; first < r; first += block) {
    const std::int64_t n = std::min(block, r - first);
    loupe::sdk::TextRows shown;  // the `data` of these rows, sent to the host at once
    shown.reserve(static_cast<std::size_t>(n), static_cast<std::size_t>(f));
    for (std::int64_t i = 0; i < n; ++i) {
      const double* row = x.Row(rows[static_cast<std::size_t>(first + i)]);
      std::copy(row, row + x.cols(), batch.begin() + i * x.cols());
      shown.push_back(PlayerValues(players, setup.data, row));
    }
    attribution.SendDataRows(result, shown);
    host.Predict(batch.data(), n, x.cols(), LOUPE_OUTPUT_RAW, margin.data(), n * o);
    for (std::int64_t i = 0; i < n * o; ++i) {
      const std::int64_t at = first * o + i;  // (row, output) of the attribution
      double total = attribution.base_values[static_cast<std::size_t>(at)];
      for (std::int64_t j = 0; j < f; ++j) total += values[at * f + j];
      residual = std::max(residual, std::fabs(total - margin[static_cast<std::size_t>(i)]));
    }
  }

  std::move(attribution).Write(result);
  result.SetString("feature_perturbation", setup.interventional ? "interventional" : "tree_path_dependent");
  result.SetNumber("quality.additivity_residual", residual);
  result.SetNumber("quality.trees", static_cast<double>(model.trees().size()));
  if (setup.interventional) result.SetNumber("quality.background_rows", static_cast<double>(b));
}

loupe::sdk::ExplainerDef TreeExplainer::Definition() {
  using loupe::sdk::Param;
  return loupe::sdk::ExplainerDef::Of<TreeExplainer>("shap.tree")
      .Summary(
          "Exact TreeSHAP values of a tree ensemble's raw margin: path-dependent, or interventional with a "
          "background.")
      .Kind(loupe::sdk::kFeatureAttribution)
      .Scope(LOUPE_SCOPE_LOCAL)
      .Requires({LOUPE_TREE_ENSEMBLE_CAPABILITY})
      .Parameters({
          Param::Rows("background")
              .Doc("Absent: path-dependent TreeSHAP over the node covers. Given (\"a:b\", a list of rows, or "
                   "a count "
                   "sampled with the step seed): exact interventional TreeSHAP averaged over these rows."),
          loupe::sdk::OutputParam().Default("raw").Doc(
              "Model outputs to explain: the raw margins (the only space TreeSHAP explains exactly; "
              "\"probability\" is refused)."),
          Param::Bool("interactions")
              .Default(false)
              .Doc("Also compute SHAP interaction values interaction_values[R][O][F][F] (path-dependent "
                   "only)."),
      });
}

}  // namespace loupe::shap
