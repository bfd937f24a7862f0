// The model's "gradient" capability (loupe_plugin.h v1.3, LoupeGradientModel) as the explainers use it:
// one capability call for every explained output of a batch of rows.
#pragma once

#include <cstdint>
#include <vector>

#include "loupe/sdk/attribution.hpp"
#include "loupe/sdk/host.hpp"

namespace loupe::gradients {

class GradientCalls {
 public:
  // Throws loupe::sdk::Error (unsupported) with one sentence when the model lacks the capability, or when
  // `need_deeplift` and the model has a layer DeepLIFT's rescale rule does not define.
  GradientCalls(const sdk::Host& host, const sdk::OutputSelection& output, bool need_deeplift = false);

  std::int64_t outputs() const { return outputs_; }
  std::int64_t features() const { return features_; }

  // out[o][r][j] (o over the explained outputs, r over the n rows [n, F] of `rows`): the gradient of output
  // o of row r with respect to feature j. One capability call of n · outputs() rows.
  void Gradients(const double* rows, std::int64_t n, std::vector<double>& out) const;
  // out[o][r][j]: DeepLIFT's attribution of feature j to output o's difference between row r and
  // references[r]. One capability call.
  void DeepLift(const double* rows, const double* references, std::int64_t n, std::vector<double>& out) const;

 private:
  // `rows` repeated once per output, with one-hot output weights.
  void Stack(const double* rows, std::int64_t n, std::vector<double>& stacked,
             std::vector<double>& weights) const;

  const sdk::Host& host_;
  const LoupeGradientModel* capability_;
  LoupeOutputSpace space_;
  std::int64_t outputs_, features_;
};

}  // namespace loupe::gradients
