// attention.heads: what each head of a transformer does over the explained rows — mean entropy, mean
// maximum weight, attention to [CLS], [SEP] and punctuation, mean attended distance — and how much the
// model's output depends on it (ablation: the head's probabilities are multiplied by 0 through the
// model's "head_mask" capability and the change of the output is measured). See README.md.
#pragma once

#include "loupe/sdk/explainer.hpp"
#include "loupe/sdk/host.hpp"
#include "loupe/sdk/result.hpp"
#include "map_explainers.hpp"

namespace loupe::attention {

class HeadsExplainer final : public loupe::sdk::Explainer {
 public:
  explicit HeadsExplainer(const loupe::sdk::Host& host);
  void Explain(const loupe::sdk::Host& host, const loupe::sdk::ResultBuilder& result) const override;
  static loupe::sdk::ExplainerDef Definition();

 private:
  Selection selection_;
  bool ablation_;
};

}  // namespace loupe::attention
