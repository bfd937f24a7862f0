// One explanation from Python (loupe.explain, python/loupe/__init__.py): the ExplainRequest a pipeline
// step would make, built from a Python dataset and a loaded model or a Python callable, run with the GIL
// released, and cancellable by Ctrl-C.
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "loupe/core/explainer.hpp"
#include "loupe/core/explanation.hpp"
#include "loupe/core/model.hpp"

namespace loupe::python {

// A model loupe.load_model() read: the Python object `loupe._core.Model` holds one.
struct ModelHandle {
  std::shared_ptr<const Model> model;
  std::string path;
};

// How the Python layer described a callable model: one input per feature, in feature order, with the
// categorical levels in the callable's own coding; its output names and task ("classification" or
// "regression").
struct CallableDescription {
  std::vector<std::vector<std::string>> input_levels;
  std::vector<std::string> output_names;
  std::string task;
  std::string name;
  std::int64_t batch_rows = 1024;  // the most rows per call (loupe.CALLABLE_BATCH_ROWS)
};

struct ExplainArguments {
  std::string explainer;
  pybind11::object model;  // a ModelHandle or a callable (then `callable` describes it)
  std::optional<CallableDescription> callable;
  pybind11::list columns;  // python/src/dataset.hpp
  std::vector<std::string> features;
  std::optional<std::string> target, positive;
  std::vector<std::string> sensitive;
  std::string rows_json = "null";  // RowSelection's JSON form; null: every row
  std::string params_json = "{}";
  std::uint64_t seed = 0;
  int threads = 0;  // 0: every core
  std::string step_id;
};

struct ExplainOutcome {
  std::shared_ptr<const Explanation> explanation;
  pybind11::object callable_stats;  // a dict (calls, rows, seconds) for a callable model, else None
  std::vector<std::pair<int, std::string>> log;  // the explainer's log lines (level, message)
};

// Runs the explainer; raises the Python exception of the Status that stopped it, or KeyboardInterrupt
// when Ctrl-C cancelled it. Needs the GIL (and releases it while the explainer runs).
ExplainOutcome Explain(ExplainArguments arguments);

// The parameters a pipeline step would pass: `params` checked against the explainer's spec (unknown
// names, types, bounds, choices, required ones) with the defaults filled in and labels as text.
Result<nlohmann::json> CanonicalParams(const ExplainerDescriptor& explainer, nlohmann::json params);

}  // namespace loupe::python
