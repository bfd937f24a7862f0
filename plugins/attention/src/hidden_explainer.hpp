// attention.hidden: per explained text, the hidden state of every token after every sequence layer (the
// model's "hidden_states" capability): norms, cosine similarity of each token to the pooled output, a 2-D
// principal-component projection of the tokens per layer, and the raw vectors on request. See README.md.
#pragma once

#include "loupe/sdk/explainer.hpp"
#include "loupe/sdk/host.hpp"
#include "loupe/sdk/result.hpp"

namespace loupe::attention {

class HiddenExplainer final : public loupe::sdk::Explainer {
 public:
  explicit HiddenExplainer(const loupe::sdk::Host& host);
  void Explain(const loupe::sdk::Host& host, const loupe::sdk::ResultBuilder& result) const override;
  static loupe::sdk::ExplainerDef Definition();

 private:
  bool vectors_;
};

}  // namespace loupe::attention
