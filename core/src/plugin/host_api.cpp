// The host side of the plugin ABI: the LoupeHostApi function table that plugins call back into, and the
// driver that runs an explainer's create/explain/destroy with a LoupeHost context for one explain call.
// The table's functions live by concern in host_context.cpp, host_data.cpp, host_capabilities.cpp and
// host_results.cpp.
#include <chrono>

#include "loupe/core/plugin.hpp"
#include "loupe/sdk/detail/host_rules.hpp"
#include "plugin/host_context.hpp"

namespace loupe {
namespace {

using namespace host_detail;

const LoupeHostApi& HostApi() {
  static const LoupeHostApi api = [] {
    LoupeHostApi a{};
    a.struct_size = sizeof(LoupeHostApi);
    a.abi_major = LOUPE_PLUGIN_ABI_MAJOR;
    a.abi_minor = LOUPE_PLUGIN_ABI_MINOR;
    a.set_error = SetError;
    a.log = Log;
    a.report_progress = ReportProgress;
    a.is_cancelled = IsCancelled;
    a.parallel_for = ParallelFor;
    a.seed = Seed;
    a.random_u64 = RandomU64;
    a.params_json = ParamsJson;
    a.dataset_info = DatasetInfo;
    a.dataset_features = DatasetFeatures;
    a.dataset_column = DatasetColumn;
    a.step_rows = StepRows;
    a.resolve_rows = ResolveRows;
    a.model_info = ModelInfoFn;
    a.model_predict = ModelPredict;
    a.model_has_capability = ModelHasCapability;
    a.model_capability = ModelCapability;
    a.input_count = InputCount;
    a.input_step = InputStep;
    a.input_kind = InputKind;
    a.input_json = InputJson;
    a.input_array = InputArray;
    a.result_set_number = ResultSetNumber;
    a.result_set_string = ResultSetString;
    a.result_set_strings = ResultSetStrings;
    a.result_set_tensor = ResultSetTensor;
    a.result_set_json = ResultSetJson;
    a.result_set_text_array = ResultSetTextArray;
    a.result_append_text_rows = ResultAppendTextRows;
    a.result_new_tensor = ResultNewTensor;
    return a;
  }();
  return api;
}

Status StatusFromPlugin(const LoupeHost& host, LoupeStatus status, const std::string& what) {
  std::string message = host.error_message;
  if (message.empty()) {
    message = what + " failed with status " + std::to_string(status) + " without saying why.";
  }
  switch (status) {
    case LOUPE_ERROR_INVALID_ARGUMENT:
      return InvalidArgument(message);
    case LOUPE_ERROR_UNSUPPORTED:
      return Unsupported(message);
    case LOUPE_ERROR_MODEL:
      return ModelError(message);
    case LOUPE_ERROR_CANCELLED:
      return Status(StatusCode::kCancelled, message);
    case LOUPE_ERROR_NOT_FOUND:
      return NotFound(message);
    default:
      return Internal(message);
  }
}

// The plugin's "quality" object becomes the explanation's quality figures (small: typed arrays under it
// become JSON there). A "quality" that is not an object stays in the body, which never writes it.
void MoveQualityOutOfBody(Explanation& e) {
  const auto quality = e.body.find("quality");
  if (quality == e.body.end() || !quality->is_object()) return;
  e.quality = std::move(*quality);
  e.body.erase("quality");
  const std::string prefix = "quality.";
  for (auto it = e.arrays.lower_bound(prefix); it != e.arrays.end() && it->first.starts_with(prefix);) {
    sdk::detail::SetDottedPath(e.quality, it->first.substr(prefix.size()), TensorToJson(it->second));
    it = e.arrays.erase(it);
  }
  for (auto it = e.texts.lower_bound(prefix); it != e.texts.end() && it->first.starts_with(prefix);) {
    sdk::detail::SetDottedPath(e.quality, it->first.substr(prefix.size()), TextToJson(it->second));
    it = e.texts.erase(it);
  }
}

}  // namespace

Result<Explanation> LoadedExplainer::Explain(const ExplainRequest& request) const {
  if (request.dataset == nullptr || request.model == nullptr || request.features == nullptr) {
    return Internal("an explain request needs a dataset, a feature matrix and a model.");
  }
  const auto start = std::chrono::steady_clock::now();
  LoupeHost host;
  host.request = &request;
  host.descriptor = &descriptor_;
  host.params_text = request.params.dump();
  std::vector<std::vector<const char*>> level_pointers;
  level_pointers.reserve(request.feature_names.size());
  DescribeDataset(host, level_pointers);
  DescribeCapabilities(host);

  const LoupeHostApi& api = HostApi();
  const std::string who = "explainer '" + descriptor_.name + "'";
  LoupeExplainerInstance* instance = nullptr;
  LoupeStatus status = vtable_->create(&api, &host, &instance);
  if (status != LOUPE_OK) return StatusFromPlugin(host, status, who + " (create)");
  if (instance == nullptr) return Internal(who + " returned no instance from create.");

  LoupeResultBuilder builder;
  status = vtable_->explain(instance, &api, &host, &builder);
  vtable_->destroy(instance);
  if (status != LOUPE_OK) return StatusFromPlugin(host, status, who);

  Explanation explanation = std::move(builder.fields);  // the arrays move, they are not copied
  MoveQualityOutOfBody(explanation);
  explanation.kind = descriptor_.output_kind;
  explanation.step = request.step_id;
  explanation.explainer = descriptor_.name;
  explanation.plugin_name = descriptor_.plugin_name;
  explanation.plugin_version = descriptor_.plugin_version;
  explanation.params = request.params;
  explanation.seed = request.seed;
  explanation.elapsed_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (Status valid = ValidateExplanation(explanation); !valid.ok()) {
    return Internal(who + " of plugin '" + descriptor_.plugin_name + "' produced a malformed " +
                    explanation.kind + ": " + valid.message());
  }
  return explanation;
}

}  // namespace loupe
