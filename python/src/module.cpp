// loupe._core: the bindings of the Python package (python/README.md). The public API, its docstrings and
// everything pandas- or shap-specific live in python/loupe/*.py; this module exposes the C++ host to it:
// models, plugins, explanations and pipeline runs. Every call that can run for long releases the GIL.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include "errors.hpp"
#include "explain.hpp"
#include "loupe/c/loupe_plugin.h"
#include "loupe/core/explainer.hpp"
#include "loupe/core/pipeline.hpp"
#include "plugins.hpp"
#include "results.hpp"

namespace py = pybind11;

namespace loupe::python {

namespace {

py::dict DescribeModel(const ModelHandle& handle) {
  const ModelInfo& info = handle.model->Info();
  py::list inputs;
  for (const ModelInput& input : info.inputs) {
    inputs.append(py::make_tuple(input.name, ColumnTypeName(input.type), input.levels));
  }
  py::dict dict;
  dict["name"] = info.name;
  dict["task"] = TaskName(info.task);
  dict["inputs"] = inputs;
  dict["output_names"] = info.output_names;
  dict["raw_output_names"] = info.raw_output_names;
  dict["path"] = handle.path;
  return dict;
}

ModelHandle LoadModelHandle(const std::string& path, const std::string& type, const std::string& tokenizer,
                            const std::vector<std::string>& attention,
                            const std::vector<std::string>& features, const std::string& precision) {
  if (precision != "f32" && precision != "bf16") {
    throw py::value_error("precision must be 'f32' or 'bf16', found '" + precision + "'.");
  }
  const ModelLoadOptions options{
      .bf16 = precision == "bf16", .features = features, .attention = attention, .tokenizer = tokenizer};
  Result<std::shared_ptr<const Model>> model = [&] {
    py::gil_scoped_release release;
    return LoadModel(path, type, options);
  }();
  return ModelHandle{ValueOrRaise(std::move(model)), path};
}

py::list DescribeExplainers() {
  py::list explainers;
  for (const LoadedExplainer* explainer : Registry().Explainers()) {
    const ExplainerDescriptor& d = explainer->descriptor();
    py::list params;
    for (const ParamSpec& spec : d.params) {
      py::dict param;
      param["name"] = spec.name;
      param["type"] = ParamTypeName(spec.type);
      param["doc"] = spec.doc;
      param["default"] = spec.default_value ? spec.default_value->dump() : std::string("null");
      param["has_default"] = spec.default_value.has_value();
      param["required"] = spec.required;
      param["choices"] = spec.choices;
      params.append(param);
    }
    py::dict entry;
    entry["name"] = d.name;
    entry["summary"] = d.summary;
    entry["kind"] = d.output_kind;
    entry["scope"] = d.scope == ExplainerScope::kGlobal ? "global" : "local";
    entry["plugin"] = d.plugin_name;
    entry["plugin_version"] = d.plugin_version;
    entry["params"] = params;
    explainers.append(entry);
  }
  return explainers;
}

py::tuple ExplainFromPython(const std::string& explainer, py::object model, std::optional<py::dict> callable,
                            py::list columns, std::vector<std::string> features,
                            std::optional<std::string> target, std::optional<std::string> positive,
                            std::vector<std::string> sensitive, std::string rows_json,
                            std::string params_json, std::uint64_t seed, int threads, std::string step_id) {
  ExplainArguments arguments{explainer,
                             std::move(model),
                             std::nullopt,
                             std::move(columns),
                             std::move(features),
                             std::move(target),
                             std::move(positive),
                             std::move(sensitive),
                             std::move(rows_json),
                             std::move(params_json),
                             seed,
                             threads,
                             std::move(step_id)};
  if (callable) {
    arguments.callable = CallableDescription{
        (*callable)["input_levels"].cast<std::vector<std::vector<std::string>>>(),
        (*callable)["output_names"].cast<std::vector<std::string>>(), (*callable)["task"].cast<std::string>(),
        (*callable)["name"].cast<std::string>(), (*callable)["batch_rows"].cast<std::int64_t>()};
  }
  ExplainOutcome outcome = Explain(std::move(arguments));
  return py::make_tuple(ExplanationHandle{outcome.explanation}, outcome.callable_stats, outcome.log);
}

}  // namespace

}  // namespace loupe::python

PYBIND11_MODULE(_core, m) {
  using namespace loupe;
  using namespace loupe::python;
  m.doc() = "The C++ host of Loupe, bound for the loupe package; use the functions of `loupe` instead.";
  m.attr("__version__") = LOUPE_VERSION;
  m.attr("plugin_abi") =
      std::to_string(LOUPE_PLUGIN_ABI_MAJOR) + "." + std::to_string(LOUPE_PLUGIN_ABI_MINOR);

  py::class_<ModelHandle>(m, "Model",
                          "A model Loupe loaded (loupe.model/v1 YAML, XGBoost JSON, ONNX or a Hugging Face "
                          "save_pretrained directory).")
      .def("describe", &DescribeModel, "name, task, inputs, output names and path, as a dict.")
      .def("predict", &PredictModel, py::arg("inputs"), py::arg("output") = "",
           "f64 [n, outputs] for f64 [n, inputs] in the model's input coding; output '', 'probability' or "
           "'raw'.");
  m.def("load_model", &LoadModelHandle, py::arg("path"), py::arg("type") = "auto", py::arg("tokenizer") = "",
        py::arg("attention") = std::vector<std::string>{}, py::arg("features") = std::vector<std::string>{},
        py::arg("precision") = "f32",
        "Loads a model: type 'auto', 'native', 'xgboost', 'onnx' or 'huggingface', with a pipeline's model "
        "keys.");

  BindExplanation(m);

  m.def("explainers", &DescribeExplainers, "The loaded explainers with their parameter specs.");
  m.def("load_warnings", &LoadWarnings, "Why a library of the plugin search path was not loaded.");
  m.def(
      "plugin_locations",
      [] {
        std::vector<std::string> paths;
        for (const auto& path : PluginLocations()) paths.push_back(path.string());
        return paths;
      },
      "The plugin folders and libraries loaded so far.");
  m.def(
      "load_plugins",
      [](const std::string& path) {
        const Status status = LoadPlugins(path);
        if (!status.ok()) RaiseStatus(status);
      },
      py::arg("path"), "Loads a plugin library or every library of a folder.");
  m.def("explain", &ExplainFromPython, py::arg("explainer"), py::arg("model"), py::arg("callable"),
        py::arg("columns"), py::arg("features"), py::arg("target"), py::arg("positive"), py::arg("sensitive"),
        py::arg("rows_json"), py::arg("params_json"), py::arg("seed"), py::arg("threads"), py::arg("step_id"),
        "Runs one explainer; returns (Explanation, callable stats or None, log lines).");
  m.def("step_seed", &StepSeed, py::arg("pipeline_seed"), py::arg("step_id"),
        "The seed `loupe run` gives a step: a hash of the pipeline's seed and the step's id.");
  BindRun(m);
}
