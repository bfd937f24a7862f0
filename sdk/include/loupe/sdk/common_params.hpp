// Parameter declarations that several explainers share, declared once so that their names, types,
// choices and meaning cannot drift apart from one plugin to the next (docs/architecture.md §5 lists the
// names outside tools rely on). An explainer lists them in its Spec like any other parameter and may
// refine one where its meaning narrows, e.g. a different default:
//
//   .Parameters({
//       loupe::sdk::OutputParam(),                  // probability | raw, unset: the model's default
//       loupe::sdk::OutputParam().Default("raw").Doc("..."),  // an explainer that prefers margins
//       loupe::sdk::GroupsParam(),
//   })
//
// Reading them stays with the helpers that interpret them (SelectOutput in attribution.hpp for `output`).
#pragma once

#include "loupe/sdk/explainer.hpp"

namespace loupe::sdk {

// `output`: which space of the model's outputs to explain (read it with SelectOutput). No default: unset
// means the model's own space.
inline Param OutputParam() {
  return Param::Enum("output", {"probability", "raw"})
      .Doc(
          "Model outputs to explain: class probabilities or raw margins; unset, the model's default "
          "(probabilities for classifiers, values for regressors).");
}

// `groups`: features explained together as one player, as shap's partition of the features.
inline Param GroupsParam() {
  return Param::Json("groups").Doc(
      "Optional mapping of group name to feature names; each group becomes one player and every feature "
      "must be in exactly one group.");
}

// `labels`: the model outputs to explain, by name or index (lime's `labels`).
inline Param LabelsParam() {
  return Param::Json("labels").Doc(
      "Outputs to explain, as a list of output names or indices; unset: every output.");
}

// `top_labels`: explain each row's K most probable outputs instead of fixed labels (lime's `top_labels`).
inline Param TopLabelsParam() {
  return Param::Int("top_labels")
      .Doc(
          "Explain each row's K outputs with the highest prediction instead of fixed labels (lime's "
          "top_labels).");
}

}  // namespace loupe::sdk
