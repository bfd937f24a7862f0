// The checks of a pipeline that need the loaded plugins: explainer names and step parameters.
#include "pipeline/validate.hpp"

#include "config/messages.hpp"
#include "loupe/core/plugin.hpp"

namespace loupe {
namespace {

SourcePos PosOr(const std::map<std::string, SourcePos>& positions, const std::string& key,
                const SourcePos& fallback) {
  const auto found = positions.find(key);
  return found == positions.end() ? fallback : found->second;
}

std::vector<std::string> ParamNames(const ExplainerDescriptor& descriptor) {
  std::vector<std::string> names;
  for (const ParamSpec& spec : descriptor.params) names.push_back(spec.name);
  return names;
}

std::string UnknownParamMessage(const std::string& name, const ExplainerDescriptor& descriptor) {
  const std::string head = "unknown parameter '" + name + "' for explainer '" + descriptor.name + "'";
  if (descriptor.params.empty()) return head + ", which takes no parameters";
  return head + config::SuggestionSuffix(name, ParamNames(descriptor));
}

std::string UnknownExplainerMessage(const std::string& name, const PluginRegistry& registry) {
  const std::string head = "unknown explainer '" + name + "'";
  if (const std::string suggestion = registry.Suggest(name); !suggestion.empty()) {
    return head + "; did you mean '" + suggestion + "'?";
  }
  std::vector<std::string> names;
  for (const LoadedExplainer* explainer : registry.Explainers())
    names.push_back(explainer->descriptor().name);
  if (names.empty()) return head + "; no explainer plugins are loaded";
  return head + "; the loaded explainers are: " + config::JoinNames(names);
}

}  // namespace

std::vector<Diagnostic> ValidateStepParams(StepSpec& step, const ExplainerDescriptor& descriptor) {
  std::vector<Diagnostic> diagnostics;
  for (const auto& [name, value] : step.params.items()) {
    const SourcePos pos = PosOr(step.param_pos, name, PosOr(step.field_pos, "params", step.pos));
    const ParamSpec* spec = descriptor.FindParam(name);
    if (spec == nullptr) {
      diagnostics.push_back(Diagnostic{pos, UnknownParamMessage(name, descriptor)});
      continue;
    }
    if (Status status = CheckParamValue(*spec, value); !status.ok()) {
      diagnostics.push_back(Diagnostic{pos, status.message()});
    }
  }
  for (const ParamSpec& spec : descriptor.params) {
    if (step.params.contains(spec.name)) continue;
    if (spec.required) {
      const SourcePos pos = PosOr(step.field_pos, "params", step.pos);
      diagnostics.push_back(Diagnostic{
          pos, "missing required parameter '" + spec.name + "' for explainer '" + descriptor.name + "'"});
    } else if (spec.default_value) {
      step.params[spec.name] = *spec.default_value;
    }
  }
  return diagnostics;
}

std::vector<Diagnostic> ValidateAgainstPlugins(PipelineSpec& spec, const PluginRegistry& registry) {
  std::vector<Diagnostic> diagnostics;
  for (StepSpec& step : spec.steps) {
    const LoadedExplainer* explainer = registry.Find(step.explainer);
    if (explainer == nullptr) {
      const SourcePos pos = PosOr(step.field_pos, "explainer", step.pos);
      diagnostics.push_back(Diagnostic{pos, UnknownExplainerMessage(step.explainer, registry)});
      continue;
    }
    // A local explainer without `rows` explains every row; RowSelection's default says so already.
    std::vector<Diagnostic> step_diagnostics = ValidateStepParams(step, explainer->descriptor());
    diagnostics.insert(diagnostics.end(), step_diagnostics.begin(), step_diagnostics.end());
  }
  return diagnostics;
}

}  // namespace loupe
