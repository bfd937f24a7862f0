#include "results.hpp"

#include <pybind11/stl.h>
#include <tbb/parallel_for.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <sstream>

#include "errors.hpp"
#include "interrupt.hpp"
#include "loupe/core/pipeline.hpp"
#include "loupe/core/plugin.hpp"
#include "plugins.hpp"

namespace py = pybind11;
namespace fs = std::filesystem;

namespace loupe::python {

namespace {

template <typename T>
py::array CopyOut(const Tensor& tensor) {
  std::vector<py::ssize_t> shape(tensor.shape().begin(), tensor.shape().end());
  return py::array(py::dtype::of<T>(), shape, tensor.data<T>());  // copies
}

py::array TensorToNumpy(const Tensor& tensor) {
  switch (tensor.dtype()) {
    case DType::kF32:
      return CopyOut<float>(tensor);
    case DType::kF64:
      return CopyOut<double>(tensor);
    case DType::kI32:
      return CopyOut<std::int32_t>(tensor);
    case DType::kI64:
      return CopyOut<std::int64_t>(tensor);
    case DType::kU8:
      return CopyOut<std::uint8_t>(tensor);
  }
  return CopyOut<double>(tensor);
}

// A typed array as numpy with its own dtype; a field still held as JSON (an explanation read from a file)
// as f64 when it is a rectangular array of numbers; otherwise None.
py::object ArrayField(const ExplanationHandle& handle, const std::string& path) {
  if (const Tensor* typed = handle.explanation->TypedArray(path)) return TensorToNumpy(*typed);
  std::optional<F64Array> converted = handle.explanation->Array(path);
  if (!converted || converted->ndim() == 0) return py::none();
  return TensorToNumpy(converted->tensor());
}

// A string array as a numpy object array of str, or None.
py::object TextField(const ExplanationHandle& handle, const std::string& path) {
  const TextArray* text = handle.explanation->Text(path);
  if (text == nullptr) return py::none();
  py::list cells;
  for (std::int64_t i = 0; i < text->size(); ++i) cells.append(py::str(std::string(text->at(i))));
  std::vector<py::ssize_t> shape(text->shape().begin(), text->shape().end());
  return py::module_::import("numpy").attr("array")(cells, "object").attr("reshape")(shape);
}

std::vector<std::string> Keys(const auto& map) {
  std::vector<std::string> keys;
  for (const auto& entry : map) keys.push_back(entry.first);
  return keys;
}

ExplanationHandle ReadExplanation(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) RaiseStatus(IoError("cannot read '" + path + "'."));
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json document = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded()) RaiseStatus(InvalidArgument("'" + path + "' is not a JSON document."));
  return ExplanationHandle{
      std::make_shared<const Explanation>(ValueOrRaise(Explanation::FromJson(document)))};
}

// A registry for one run: the plugins the package loaded (built-in, LOUPE_PLUGIN_PATH, load_plugins), then
// the pipeline's own `plugins`, whose failures are the run's error as in `loupe run`.
void LoadRunPlugins(PluginRegistry& registry, const PipelineSpec& spec) {
  for (const fs::path& location : PluginLocations()) {
    std::error_code ec;
    if (fs::is_directory(location, ec)) {
      (void)registry.LoadDirectory(location);
    } else {
      (void)registry.Load(location);
    }
  }
  for (const fs::path& entry : spec.plugins) {
    std::error_code ec;
    const std::vector<Status> failures = fs::is_directory(entry, ec)
                                             ? registry.LoadDirectory(entry)
                                             : std::vector<Status>{registry.Load(entry)};
    for (const Status& failure : failures) {
      if (!failure.ok()) RaiseStatus(failure);
    }
  }
}

[[noreturn]] void RaiseDiagnostics(const std::vector<Diagnostic>& diagnostics) {
  std::string message;
  for (const Diagnostic& d : diagnostics) {
    if (!message.empty()) message += '\n';
    message += d.ToString();
  }
  RaiseStatus(InvalidArgument(message));
}

py::dict ReportDict(const RunReport& report) {
  py::list steps;
  for (const StepOutcome& step : report.steps) {
    std::vector<std::string> files;
    for (const fs::path& file : step.files) files.push_back(file.string());
    py::dict entry;
    entry["id"] = step.id;
    entry["status"] = StepStatusName(step.status);
    entry["failure"] = StepFailureName(step.failure);
    entry["message"] = step.message;
    entry["elapsed_ms"] = step.elapsed_ms;
    entry["files"] = files;
    steps.append(entry);
  }
  py::dict dict;
  dict["steps"] = steps;
  dict["output_dir"] = report.output_dir.string();
  dict["ok"] = report.status.ok();
  dict["code"] = StatusCodeName(report.status.code());
  dict["message"] = report.status.message();
  return dict;
}

py::dict RunFile(const std::string& file, const std::vector<std::pair<std::string, std::string>>& overrides,
                 std::optional<std::string> output_dir, int threads, std::optional<std::uint64_t> seed) {
  std::vector<Override> parsed_overrides;
  for (const auto& [path, value] : overrides) parsed_overrides.push_back(Override{path, value});
  ParseOutcome parsed = ParsePipelineFile(file, parsed_overrides);
  if (!parsed.diagnostics.empty()) RaiseDiagnostics(parsed.diagnostics);
  PipelineSpec spec = std::move(*parsed.spec);
  PluginRegistry registry;
  LoadRunPlugins(registry, spec);
  RunOptions options;
  options.threads = threads;
  options.seed = seed;
  options.quiet = true;
  if (output_dir) options.output_dir = fs::absolute(*output_dir);
  RunReport report;
  // Ctrl-C stops the run (RunOptions::cancelled): the steps that finished keep their files, the others end
  // "cancelled" in run.json, and KeyboardInterrupt is raised here.
  std::atomic<bool> cancelled{false};
  options.cancelled = &cancelled;
  RunInterruptible(
      [&] {
        try {  // an exception must not leave the worker thread: it would terminate the interpreter
          // The data set is read once, by the validation, for the run (ValidateOptions::read_data).
          PipelineCheck check =
              ValidatePipeline(spec, registry, {.read_data = true, .isolate = options.isolate});
          if (check.diagnostics.empty()) {
            options.model = check.model;
            options.data = check.data;
            report = RunPipeline(spec, registry, options);
          } else {
            report.status = InvalidArgument("");
            parsed.diagnostics = std::move(check.diagnostics);
          }
        } catch (const std::exception& error) {
          report.status = Internal(std::string("the run failed: ") + error.what() + ".");
        }
      },
      cancelled);
  if (!parsed.diagnostics.empty()) RaiseDiagnostics(parsed.diagnostics);
  // A run that failed before any step (the data or model would not load) is an error; a failed step is not:
  // the other steps' outputs are written and the Run says which failed, as `loupe run` does with exit code 1.
  if (!report.status.ok() && report.steps.empty()) RaiseStatus(report.status);
  return ReportDict(report);
}

}  // namespace

py::array_t<double> PredictModel(const ModelHandle& model,
                                 py::array_t<double, py::array::c_style | py::array::forcecast> inputs,
                                 const std::string& output) {
  const ModelInfo& info = model.model->Info();
  const auto expected = static_cast<py::ssize_t>(info.inputs.size());
  if (inputs.ndim() != 2 || inputs.shape(1) != expected) {
    RaiseStatus(InvalidArgument("model '" + info.name + "' reads " + std::to_string(expected) +
                                " inputs: predict needs an array of shape (rows, " +
                                std::to_string(expected) + ")."));
  }
  if (output != "" && output != "probability" && output != "raw") {
    RaiseStatus(InvalidArgument("output is '" + output + "', expected 'probability' or 'raw'."));
  }
  const OutputSpace space = output == "raw"           ? OutputSpace::kRaw
                            : output == "probability" ? OutputSpace::kProbability
                                                      : info.default_space();
  if (space == OutputSpace::kProbability && info.task != Task::kClassification) {
    RaiseStatus(InvalidArgument("model '" + info.name + "' is a regressor and has no probability outputs."));
  }
  const std::int64_t rows = inputs.shape(0);
  const auto outputs = static_cast<std::int64_t>(info.OutputNames(space).size());
  py::array_t<double> result({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(outputs)});
  const double* in = inputs.data();
  double* out = result.mutable_data();
  Status failure;
  {
    py::gil_scoped_release release;
    constexpr std::int64_t kChunk = 4096;
    std::mutex mutex;
    tbb::parallel_for(std::int64_t{0}, (rows + kChunk - 1) / kChunk, [&](std::int64_t chunk) {
      const std::int64_t begin = chunk * kChunk, end = std::min(rows, begin + kChunk);
      const TensorView batch(in + begin * expected, DType::kF64, {end - begin, expected});
      const Status status = model.model->PredictInto(
          batch, space, {out + begin * outputs, static_cast<std::size_t>((end - begin) * outputs)});
      std::lock_guard<std::mutex> lock(mutex);
      if (!status.ok() && failure.ok()) failure = status;
    });
  }
  if (!failure.ok()) RaiseStatus(failure);
  return result;
}

void BindExplanation(py::module_& m) {
  py::class_<ExplanationHandle>(m, "Explanation", "One explainer's result, as the host holds it.")
      .def_property_readonly("kind", [](const ExplanationHandle& h) { return h.explanation->kind; })
      .def_property_readonly("step", [](const ExplanationHandle& h) { return h.explanation->step; })
      .def_property_readonly("explainer", [](const ExplanationHandle& h) { return h.explanation->explainer; })
      .def_property_readonly("plugin_name",
                             [](const ExplanationHandle& h) { return h.explanation->plugin_name; })
      .def_property_readonly("plugin_version",
                             [](const ExplanationHandle& h) { return h.explanation->plugin_version; })
      .def_property_readonly("seed", [](const ExplanationHandle& h) { return h.explanation->seed; })
      .def_property_readonly("elapsed_ms",
                             [](const ExplanationHandle& h) { return h.explanation->elapsed_ms; })
      .def("params_json", [](const ExplanationHandle& h) { return h.explanation->params.dump(); })
      .def("quality_json", [](const ExplanationHandle& h) { return h.explanation->quality.dump(); })
      .def(
          "body_json", [](const ExplanationHandle& h) { return h.explanation->body.dump(); },
          "The fields held as JSON (typed and string arrays left out).")
      .def("array_paths", [](const ExplanationHandle& h) { return Keys(h.explanation->arrays); })
      .def("text_paths", [](const ExplanationHandle& h) { return Keys(h.explanation->texts); })
      .def("array", &ArrayField, py::arg("path"))
      .def("text", &TextField, py::arg("path"))
      .def(
          "to_json", [](const ExplanationHandle& h) { return h.explanation->ToJson().dump() + "\n"; },
          "The loupe.explanation/v1 document, byte for byte as `loupe run` writes DIR/<step>.json.");
  m.def("read_explanation", &ReadExplanation, py::arg("path"), "Reads a loupe.explanation/v1 file.");
}

void BindRun(py::module_& m) {
  m.def("run", &RunFile, py::arg("file"), py::arg("overrides"), py::arg("output_dir"), py::arg("threads"),
        py::arg("seed"), "Validates and runs a pipeline file; returns the run's report as a dict.");
}

}  // namespace loupe::python
