#include "explain.hpp"

#include <pybind11/stl.h>
#include <tbb/task_arena.h>

#include <atomic>
#include <mutex>
#include <optional>

#include "callable_model.hpp"
#include "dataset.hpp"
#include "errors.hpp"
#include "interrupt.hpp"
#include "loupe/core/explainer.hpp"
#include "loupe/core/plugin.hpp"
#include "plugins.hpp"

namespace py = pybind11;

namespace loupe::python {

namespace {

std::string ParamNames(const ExplainerDescriptor& explainer) {
  std::string names;
  for (const ParamSpec& spec : explainer.params) {
    if (!names.empty()) names += ", ";
    names += spec.name;
  }
  return names.empty() ? "none" : names;
}

Result<std::shared_ptr<const LoadedExplainer>> FindExplainer(const std::string& name) {
  std::shared_ptr<const LoadedExplainer> explainer = Registry().FindShared(name);
  if (explainer != nullptr) return explainer;
  const std::string suggestion = Registry().Suggest(name);
  return NotFound("explainer '" + name + "' is not loaded" +
                  (suggestion.empty() ? "" : "; did you mean '" + suggestion + "'") +
                  "? loupe.explainers() lists the loaded ones.");
}

// The model as the explainers see it: the loaded one, or the callable with one input per feature.
std::shared_ptr<const Model> ModelFor(const ExplainArguments& arguments, const Dataset& dataset,
                                      const std::atomic<bool>* cancelled) {
  if (!arguments.callable) return arguments.model.cast<const ModelHandle&>().model;
  const CallableDescription& callable = *arguments.callable;
  ModelInfo info;
  info.name = callable.name;
  info.task = callable.task == "classification" ? Task::kClassification : Task::kRegression;
  for (std::size_t i = 0; i < arguments.features.size(); ++i) {
    const Column* column = dataset.Find(arguments.features[i]);
    ModelInput input{arguments.features[i], column != nullptr ? column->type() : ColumnType::kNumeric, {}};
    if (i < callable.input_levels.size()) input.levels = callable.input_levels[i];
    info.inputs.push_back(std::move(input));
  }
  info.output_names = callable.output_names;
  // A callable returns one space. A binary classifier's margin is recovered from its probabilities
  // (CallableModel::PredictInto); a multi-class softmax's logits are not (they are defined only up to a
  // constant per row), so such a callable has no raw outputs and `output: raw` is refused.
  if (info.task == Task::kRegression) {
    info.raw_output_names = callable.output_names;
  } else if (callable.output_names.size() == 2) {
    info.raw_output_names = {callable.output_names[1]};
  }
  return std::make_shared<CallableModel>(arguments.model, std::move(info), callable.batch_rows, cancelled);
}

// Runs the explainer inside a task arena of `threads` threads, on a thread of its own while this (the
// Python) thread waits for Ctrl-C (interrupt.hpp): a Ctrl-C sets `cancelled`, which the explainers poll
// (Host::ThrowIfCancelled) and the callable model checks before each call, and the KeyboardInterrupt is
// raised once the explainer has returned. The explainer never runs on the Python thread, so a model
// callable never receives the KeyboardInterrupt itself.
Result<Explanation> RunCancellable(const LoadedExplainer& explainer, const ExplainRequest& request,
                                   int threads, std::atomic<bool>& cancelled) {
  std::optional<Result<Explanation>> result;
  RunInterruptible(
      [&] {
        tbb::task_arena arena(threads > 0 ? threads : tbb::task_arena::automatic);
        result.emplace(arena.execute([&]() -> Result<Explanation> {
          try {  // an exception must not leave the worker thread: it would terminate the interpreter
            return explainer.Explain(request);
          } catch (const std::exception& error) {
            return Internal(std::string("the explainer failed: ") + error.what() + ".");
          }
        }));
      },
      cancelled);
  return std::move(*result);
}

// The JSON text the Python layer wrote with json.dumps; NaN or infinities (which it writes as bare words)
// are refused with a sentence naming the argument.
Result<nlohmann::json> ParseJson(const std::string& text, const std::string& argument) {
  nlohmann::json value = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded())
    return InvalidArgument(argument + " must hold only numbers, strings, lists and dicts (no NaN).");
  return value;
}

py::object StatsDict(const Model& model) {
  const auto* callable = dynamic_cast<const CallableModel*>(&model);
  if (callable == nullptr) return py::none();
  const CallableStats stats = callable->stats();
  py::dict dict;
  dict["calls"] = stats.calls;
  dict["rows"] = stats.rows;
  dict["seconds"] = stats.seconds;
  return dict;
}

}  // namespace

Result<nlohmann::json> CanonicalParams(const ExplainerDescriptor& explainer, nlohmann::json params) {
  if (!params.is_object()) return InvalidArgument("params must be a dict of parameter names to values.");
  for (const auto& [name, value] : params.items()) {
    if (explainer.FindParam(name) == nullptr) {
      return InvalidArgument("explainer '" + explainer.name + "' has no parameter '" + name +
                             "'; its parameters are " + ParamNames(explainer) + ".");
    }
  }
  for (const ParamSpec& spec : explainer.params) {
    if (!params.contains(spec.name) && spec.default_value) params[spec.name] = *spec.default_value;
    if (!params.contains(spec.name)) {
      if (spec.required) {
        return InvalidArgument("explainer '" + explainer.name + "' needs the parameter '" + spec.name + "'.");
      }
      continue;
    }
    LOUPE_RETURN_IF_ERROR(CheckParamValue(spec, params[spec.name]));
    if (spec.role == ParamRole::kLabel && !params[spec.name].is_null()) {
      params[spec.name] = LabelText(params[spec.name]);
    }
  }
  return params;
}

ExplainOutcome Explain(ExplainArguments arguments) {
  const std::shared_ptr<const LoadedExplainer> explainer = ValueOrRaise(FindExplainer(arguments.explainer));
  auto dataset = std::make_shared<const Dataset>(
      ValueOrRaise(BuildDataset(arguments.columns, arguments.target, arguments.sensitive)));
  std::atomic<bool> cancelled{false};
  const std::shared_ptr<const Model> model = ModelFor(arguments, *dataset, &cancelled);

  ExplainRequest request;
  request.step_id = arguments.step_id;
  request.dataset = dataset.get();
  request.feature_names = arguments.features;
  request.model = ValueOrRaise(FeatureModel::Create(model, *dataset, arguments.features));
  request.features = std::make_shared<const Tensor>(ValueOrRaise(dataset->Matrix(arguments.features)));
  request.params = ValueOrRaise(
      CanonicalParams(explainer->descriptor(), ValueOrRaise(ParseJson(arguments.params_json, "params"))));
  request.seed = arguments.seed;
  request.positive_label = arguments.positive;
  const nlohmann::json rows = ValueOrRaise(ParseJson(arguments.rows_json, "rows"));
  const RowSelection selection = rows.is_null() ? RowSelection{} : ValueOrRaise(RowSelection::FromJson(rows));
  request.rows = ValueOrRaise(selection.Resolve(dataset->num_rows(), request.seed, /*stream=*/0));
  request.cancelled = &cancelled;
  ExplainOutcome outcome;
  std::mutex log_mutex;
  request.log = [&](int level, const std::string& message) {
    std::lock_guard<std::mutex> lock(log_mutex);
    outcome.log.emplace_back(level, message);
  };

  Result<Explanation> explained = RunCancellable(*explainer, request, arguments.threads, cancelled);
  if (!explained.ok()) {
    const auto* callable = dynamic_cast<const CallableModel*>(model.get());
    RaiseStatus(explained.status(), callable != nullptr ? callable->first_error() : py::none());
  }
  outcome.explanation = std::make_shared<const Explanation>(std::move(explained).value());
  outcome.callable_stats = StatsDict(*model);
  return outcome;
}

}  // namespace loupe::python
