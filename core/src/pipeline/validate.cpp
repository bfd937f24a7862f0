// The checks of a pipeline before any step runs (docs/architecture.md §5 "Validation"): explainer names
// and step parameters against the loaded plugins, then the data, the model and every name, row and label
// the steps use against them. Every error is collected with the position of the key it is about.
#include "pipeline/validate.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <memory>
#include <optional>
#include <string_view>
#include <unordered_set>

#include "config/messages.hpp"
#include "data/csv_read.hpp"
#include "data/csv_tokenizer.hpp"
#include "data/interner.hpp"
#include "data/numbers.hpp"
#include "loupe/core/gradient.hpp"
#include "loupe/core/model.hpp"
#include "loupe/core/plugin.hpp"
#include "loupe/core/text_gradient.hpp"
#include "model/remote_model.hpp"

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
  std::vector<std::string> labels_to_text;
  for (const auto& [name, value] : step.params.items()) {
    const SourcePos pos = PosOr(step.param_pos, name, PosOr(step.field_pos, "params", step.pos));
    const ParamSpec* spec = descriptor.FindParam(name);
    if (spec == nullptr) {
      diagnostics.push_back(Diagnostic{pos, UnknownParamMessage(name, descriptor)});
      continue;
    }
    if (Status status = CheckParamValue(*spec, value); !status.ok()) {
      diagnostics.push_back(Diagnostic{pos, status.message()});
    } else if (spec->role == ParamRole::kLabel && !value.is_string()) {
      labels_to_text.push_back(name);
    }
  }
  // A label written as a number or boolean reaches the plugin as text (`favorable: 1` -> "1").
  for (const std::string& name : labels_to_text) step.params[name] = LabelText(step.params[name]);
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

// ---- the data, the model and what the steps name in them ----

Result<DataProfile> ProfileCsv(const std::filesystem::path& path, const std::vector<std::string>& missing,
                               const std::set<std::string>& value_columns) {
  const std::string name = path.string();
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(name.c_str(), "rb"), &std::fclose);
  if (!file) return NotFound("cannot open '" + name + "'");
  // Read a block at a time (a read error is the tokenizer's, naming the file): the file's text is
  // never held whole, which at 10M rows was a 420 MB transient before the run read the data.
  data::CsvTokenizer tokenizer(file.get(), name);
  std::vector<std::string> fields;
  LOUPE_ASSIGN_OR_RETURN(const bool has_header, tokenizer.Next(&fields));
  if (!has_header)
    return InvalidArgument(name + ": the file is empty; expected a header row of column names");
  DataProfile profile;
  profile.columns = fields;
  // Column index -> its value set, filled at the end from the column's distinct cells (each cell is
  // hashed once, not compared along a std::set's path).
  std::vector<std::pair<std::size_t, std::set<std::string>*>> wanted;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (value_columns.count(fields[i]) != 0) wanted.emplace_back(i, &profile.values[fields[i]]);
  }
  std::vector<data::Interner> distinct(wanted.size());
  const std::unordered_set<std::string_view> missing_tokens(missing.begin(), missing.end());
  while (true) {
    LOUPE_ASSIGN_OR_RETURN(const bool more, tokenizer.Next(&fields));
    if (!more) break;
    if (fields.size() != profile.columns.size()) {
      return InvalidArgument(name + ":" + std::to_string(tokenizer.record_line()) + ": the record has " +
                             std::to_string(fields.size()) + " fields, the header " +
                             std::to_string(profile.columns.size()));
    }
    ++profile.rows;
    for (std::size_t k = 0; k < wanted.size(); ++k) {
      const std::string& cell = fields[wanted[k].first];
      if (missing_tokens.count(cell) == 0) distinct[k].Intern(cell);
    }
  }
  if (profile.rows == 0) return InvalidArgument(name + ": the file has a header but no data rows");
  for (std::size_t k = 0; k < wanted.size(); ++k) {
    for (std::uint32_t id = 0; id < distinct[k].size(); ++id)
      wanted[k].second->emplace(distinct[k].value(id));
  }
  return profile;
}

std::string FindLabel(const std::set<std::string>& values, const std::string& label) {
  if (values.count(label) != 0) return label;
  const std::optional<double> number = data::ParseNumber(label);
  auto lower = [](std::string text) {
    std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
    return text;
  };
  const bool boolean = lower(label) == "true" || lower(label) == "false";
  for (const std::string& value : values) {
    if (number && data::ParseNumber(value) == number) return value;
    if (boolean && lower(value) == lower(label)) return value;
  }
  return "";
}

namespace {

// The alternatives of a required capability: "gradient|text_gradient" (loupe_plugin.h v1.6) or one name.
std::vector<std::string> CapabilityAlternatives(const std::string& required) {
  std::vector<std::string> names;
  std::size_t begin = 0;
  for (std::size_t bar = required.find('|'); bar != std::string::npos; bar = required.find('|', begin)) {
    names.push_back(required.substr(begin, bar - begin));
    begin = bar + 1;
  }
  names.push_back(required.substr(begin));
  return names;
}

bool ModelOffersOneCapability(const Model& model, const std::string& capability) {
  const auto& inputs = model.Info().inputs;
  const bool reads_text = std::any_of(
      inputs.begin(), inputs.end(), [](const ModelInput& input) { return input.type == ColumnType::kText; });
  if (capability == "tree_ensemble") return model.tree_ensemble() != nullptr;
  if (capability == "gradient") return model.gradient_model() != nullptr;
  if (capability == "row_variants") return model.row_variant_model() != nullptr;
  if (!reads_text) return false;
  if (capability == "text") return model.text_model() != nullptr;
  if (capability == "attention") return model.attention_source() != nullptr;
  if (capability == "hidden_states") return model.hidden_state_source() != nullptr;
  if (capability == "head_mask") return model.head_masked_model() != nullptr;
  if (capability == "text_gradient") {
    return model.text_gradient_model() != nullptr && model.text_gradient_model()->Refusal().empty();
  }
  return false;  // a capability this host does not know
}

// "the model capability 'a'" or "one of the model capabilities 'a' or 'b'", for messages.
std::string CapabilityPhrase(const std::vector<std::string>& names) {
  if (names.size() == 1) return "the model capability '" + names[0] + "'";
  std::string phrase = "one of the model capabilities ";
  for (std::size_t i = 0; i < names.size(); ++i) {
    phrase += (i == 0 ? "'" : i + 1 == names.size() ? " or '" : ", '") + names[i] + "'";
  }
  return phrase;
}

}  // namespace

Result<std::shared_ptr<const Model>> LoadModelOfSpec(const ModelSpec& spec) {
  return LoadModel(spec.path, spec.type,
                   {.bf16 = spec.precision == "bf16",
                    .features = spec.features,
                    .attention = spec.attention,
                    .tokenizer = spec.tokenizer});
}

bool ModelOffersCapability(const Model& model, const std::string& capability) {
  const std::vector<std::string> names = CapabilityAlternatives(capability);
  return std::any_of(names.begin(), names.end(),
                     [&](const std::string& name) { return ModelOffersOneCapability(model, name); });
}

namespace {

bool Lists(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// Checks what a pipeline names in its data and model, after ValidateAgainstPlugins. Each Check* method
// reports what is wrong at the key it is about and keeps going, so one run lists every error.
class InputValidator {
 public:
  InputValidator(PipelineSpec& spec, const PluginRegistry& registry, const ValidateOptions& options,
                 std::vector<Diagnostic>& diagnostics)
      : spec_(spec), registry_(registry), options_(options), diagnostics_(diagnostics) {}

  // With ValidateOptions::read_data, the data set its one pass read; null otherwise.
  std::shared_ptr<Dataset> TakeDataset() { return std::move(dataset_); }

  std::shared_ptr<const Model> Run() {
    ProfileData();
    if (data_) {
      CheckDataColumns();
      CheckPositive();
    }
    LoadAndCheckModel();
    for (StepSpec& step : spec_.steps) {
      const LoadedExplainer* explainer = registry_.Find(step.explainer);
      if (explainer == nullptr) continue;  // reported by ValidateAgainstPlugins
      CheckCapabilities(step, explainer->descriptor());
      if (!data_) continue;
      CheckStepRows(step);
      for (const ParamSpec& param : explainer->descriptor().params) CheckParam(step, param);
    }
    return model_;
  }

 private:
  void Error(const SourcePos& pos, std::string message) {
    diagnostics_.push_back(Diagnostic{pos, std::move(message)});
  }
  static SourcePos PosOf(const std::map<std::string, SourcePos>& positions, const std::string& key,
                         const SourcePos& fallback) {
    return PosOr(positions, key, fallback);
  }
  SourcePos DataPos(const std::string& key) const { return PosOf(spec_.data.field_pos, key, spec_.data.pos); }
  SourcePos ModelPos(const std::string& key) const {
    return PosOf(spec_.model.field_pos, key, spec_.model.pos);
  }
  std::string DataName() const { return spec_.data.path.filename().string(); }
  bool HasColumn(const std::string& name) const { return data_ && Lists(data_->columns, name); }

  // "'credit.csv' has no column 'Incme'; did you mean 'Income'?"
  std::string MissingColumn(const std::string& name) const {
    std::string message = "'";  // built by appending: GCC 12 warns falsely on "'" + std::string (-Wrestrict)
    message.append(DataName()).append("' has no column '").append(name).append("'");
    const std::string suggestion = config::ClosestMatch(name, data_->columns);
    return message + (suggestion.empty() ? "" : "; did you mean '" + suggestion + "'?");
  }

  // The columns whose distinct values labels and groups are checked against.
  std::set<std::string> ValueColumns() const {
    std::set<std::string> columns(spec_.data.sensitive.begin(), spec_.data.sensitive.end());
    if (spec_.data.target) columns.insert(*spec_.data.target);
    for (const StepSpec& step : spec_.steps) {
      const LoadedExplainer* explainer = registry_.Find(step.explainer);
      if (explainer == nullptr) continue;
      for (const ParamSpec& param : explainer->descriptor().params) {
        const auto value = step.params.find(param.name);
        if (value == step.params.end()) continue;
        if (param.role == ParamRole::kColumn && param.type == ParamType::kStringList && value->is_array()) {
          for (const auto& item : *value)
            if (item.is_string()) columns.insert(item.get<std::string>());
        }
        if (param.role == ParamRole::kGroups) CollectGroupColumns(*value, columns);
      }
    }
    return columns;
  }
  static void CollectGroupColumns(const nlohmann::json& value, std::set<std::string>& columns) {
    if (value.is_object()) {
      for (const auto& [key, unused] : value.items()) columns.insert(key);
    } else if (value.is_array()) {
      for (const auto& item : value) CollectGroupColumns(item, columns);
    }
  }

  void ProfileData() {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(spec_.data.path, ec)) {
      Error(DataPos("path"),
            "data.path names '" + spec_.data.path.string() + "', which " +
                (std::filesystem::exists(spec_.data.path, ec) ? "is not a file" : "does not exist"));
      return;
    }
    if (options_.read_data && ReadData()) return;
    Result<DataProfile> profile = ProfileCsv(spec_.data.path, spec_.data.missing, ValueColumns());
    if (!profile.ok()) {
      Error(DataPos("path"), "data.path: " + profile.status().message());
      return;
    }
    data_ = std::move(*profile);
  }

  // The run's read of the data (ValidateOptions::read_data), which gives what ProfileCsv gives besides: the
  // header, the rows and the asked columns' distinct cells. When it fails, false: ProfileCsv reads the file
  // again for validation's own sentences (a file the reader refuses but ProfileCsv accepts, such as one
  // with a duplicate column name, passes validation, and the run reads it again and fails as before).
  bool ReadData() {
    DataProfile profile;
    Result<Dataset> dataset = data::ReadCsvWithValues(
        spec_.data.path, RunCsvOptions(spec_.data, RunIndexEvery(spec_, options_.isolate)), ValueColumns(),
        &profile.values);
    if (!dataset.ok()) return false;
    for (const Column& column : dataset->columns()) profile.columns.push_back(column.name());
    profile.rows = dataset->num_rows();
    data_ = std::move(profile);
    dataset_ = std::make_shared<Dataset>(std::move(*dataset));
    return true;
  }

  void CheckDataColumns() {
    if (spec_.data.target && !HasColumn(*spec_.data.target)) {
      Error(DataPos("target"),
            "data.target is '" + *spec_.data.target + "', but " + MissingColumn(*spec_.data.target));
    }
    const std::pair<const char*, const std::vector<std::string>*> lists[] = {
        {"features", &spec_.data.features},
        {"categorical", &spec_.data.categorical},
        {"text", &spec_.data.text},
        {"sensitive", &spec_.data.sensitive}};
    for (const auto& [key, names] : lists) {
      for (const std::string& name : *names) {
        if (!HasColumn(name))
          Error(DataPos(key),
                std::string("data.") + key + " lists '" + name + "', but " + MissingColumn(name));
      }
    }
    if (spec_.data.target && Lists(spec_.data.features, *spec_.data.target)) {
      Error(DataPos("features"), "data.features lists the target '" + *spec_.data.target +
                                     "'; a model's features cannot include the label it predicts");
    }
  }

  // data.positive must be a value of the target column; written as the data spells it from here on.
  void CheckPositive() {
    if (!spec_.data.positive || !spec_.data.target || !HasColumn(*spec_.data.target)) return;
    const std::set<std::string>& values = data_->values[*spec_.data.target];
    const std::string found = FindLabel(values, *spec_.data.positive);
    if (found.empty()) {
      Error(DataPos("positive"), "data.positive is '" + *spec_.data.positive +
                                     "', which is not a value of '" + *spec_.data.target + "' (" +
                                     ValuesText(values) + ")");
    } else {
      spec_.data.positive = found;
    }
  }

  static std::string ValuesText(const std::set<std::string>& values) {
    std::vector<std::string> shown;
    for (const std::string& value : values) {
      if (shown.size() == 8) {
        shown.push_back("...");
        break;
      }
      shown.push_back("'" + value + "'");
    }
    return values.empty() ? "it has no values" : "its values are " + config::JoinNames(shown);
  }

  void LoadAndCheckModel() {
    if (spec_.model.type == "remote") return LoadAndCheckRemoteModel();
    std::error_code ec;
    const bool directory_model = spec_.model.type == "huggingface";  // a save_pretrained directory
    if (!directory_model && !std::filesystem::is_regular_file(spec_.model.path, ec)) {
      Error(ModelPos("path"),
            "model.path names '" + spec_.model.path.string() + "', which " +
                (std::filesystem::exists(spec_.model.path, ec) ? "is not a file" : "does not exist"));
      return;
    }
    Result<std::shared_ptr<const Model>> model = LoadModelOfSpec(spec_.model);
    if (!model.ok()) {
      Error(ModelPos("path"), "model.path: " + model.status().message());
      return;
    }
    model_ = *model;
    if (data_) CheckModelInputs();
  }

  // A remote model is loaded by reading its server's metadata, so validating one calls the server.
  void LoadAndCheckRemoteModel() {
    Result<std::shared_ptr<const Model>> model = LoadRemoteModel(spec_.model.url, spec_.model.remote_options);
    if (!model.ok()) {
      Error(ModelPos("url"), "model.url: " + model.status().message());
      return;
    }
    model_ = *model;
    if (data_) CheckModelInputs();
  }

  // The model reads its inputs from the pipeline's features by name (docs/architecture.md §5).
  void CheckModelInputs() {
    const ModelInfo& info = model_->Info();
    for (const ModelInput& input : info.inputs) {
      if (!HasColumn(input.name)) {
        Error(ModelPos("path"), "model '" + info.name + "' reads the input '" + input.name + "', but " +
                                    MissingColumn(input.name));
      } else if (spec_.data.target && input.name == *spec_.data.target) {
        Error(DataPos("target"),
              "data.target is '" + input.name + "', which model '" + info.name + "' reads as an input");
      } else if (!spec_.data.features.empty() && !Lists(spec_.data.features, input.name)) {
        Error(DataPos("features"),
              "data.features leaves out '" + input.name + "', an input of model '" + info.name + "'");
      }
    }
  }

  // ": why" when a gradient capability among `names` is missing for a reason the model states (a bf16
  // text network, an ONNX graph with an operator without a backward); "" otherwise.
  std::string GradientRefusalClause(const std::vector<std::string>& names) const {
    const auto wants = [&names](const char* name) {
      return std::find(names.begin(), names.end(), name) != names.end();
    };
    std::string why;
    const TextGradientModel* text_gradient = model_->text_gradient_model();
    if (wants("text_gradient") && text_gradient != nullptr) why = text_gradient->Refusal();
    if (why.empty() && (wants("gradient") || wants("text_gradient"))) why = model_->GradientRefusal();
    if (!why.empty() && why.back() == '.') why.pop_back();
    return why.empty() ? "" : ": " + why;
  }

  void CheckCapabilities(const StepSpec& step, const ExplainerDescriptor& descriptor) {
    if (!model_) return;
    for (const std::string& capability : descriptor.required_capabilities) {
      if (ModelOffersCapability(*model_, capability)) continue;
      const std::vector<std::string> names = CapabilityAlternatives(capability);
      Error(PosOf(step.field_pos, "explainer", step.pos),
            "explainer '" + descriptor.name + "' needs " + CapabilityPhrase(names) + ", which model '" +
                model_->Info().name + "' does not offer" + GradientRefusalClause(names));
    }
  }

  // A row selection must lie inside the data; `subject` names it as the message does ("'steps.a.rows'").
  void CheckRowsValue(const nlohmann::json& value, const StepSpec& step, const SourcePos& pos,
                      const std::string& subject) {
    Result<RowSelection> selection = RowSelection::FromJson(value);
    if (!selection.ok()) return;  // a shape error is the parser's or the param check's to report
    Result<std::vector<std::int64_t>> rows =
        selection->Resolve(data_->rows, StepSeed(spec_.seed, step.id), /*stream=*/0);
    if (!rows.ok()) Error(pos, subject + " lies outside the data (" + rows.status().message() + ")");
  }

  void CheckStepRows(const StepSpec& step) {
    if (step.rows.is_null()) return;
    CheckRowsValue(step.rows, step, PosOf(step.field_pos, "rows", step.pos), "'steps." + step.id + ".rows'");
  }

  // A parameter the step sets (defaults are the explainer's business) against the data.
  void CheckParam(StepSpec& step, const ParamSpec& param) {
    if (step.param_pos.count(param.name) == 0 || !step.params.contains(param.name)) return;
    nlohmann::json& value = step.params[param.name];
    const SourcePos pos = step.param_pos.at(param.name);
    const std::string subject = "parameter '" + param.name + "'";
    if (param.type == ParamType::kRows) CheckRowsValue(value, step, pos, subject);
    switch (param.role) {
      case ParamRole::kNone:
        return;
      case ParamRole::kColumn:
        if (value.is_string()) CheckColumn(pos, subject, value.get<std::string>());
        if (value.is_array()) {
          for (const auto& item : value)
            if (item.is_string()) CheckColumn(pos, subject, item.get<std::string>());
        }
        return;
      case ParamRole::kColumnKeys:
        if (value.is_object()) {
          for (const auto& [key, unused] : value.items()) CheckColumn(pos, subject, key);
        }
        return;
      case ParamRole::kLabel:
        return CheckLabelParam(pos, subject, value);
      case ParamRole::kGroups:
        return CheckGroups(step, pos, subject, value);
    }
  }

  void CheckColumn(const SourcePos& pos, const std::string& subject, const std::string& name) {
    if (!HasColumn(name))
      Error(pos, subject + " names the column '" + name + "', but " + MissingColumn(name));
  }

  // A class label: a class the model outputs (what the plugins compare it with), or, for a model that
  // names no classes, a value of the target column. Rewritten as the classes spell it (1 -> "1.0"...).
  void CheckLabelParam(const SourcePos& pos, const std::string& subject, nlohmann::json& value) {
    if (!value.is_string()) return;
    std::set<std::string> candidates;
    std::string owner;
    if (model_ && model_->Info().task == Task::kClassification && !model_->Info().output_names.empty()) {
      candidates.insert(model_->Info().output_names.begin(), model_->Info().output_names.end());
      owner = "a class of model '" + model_->Info().name + "'";
    } else if (spec_.data.target && HasColumn(*spec_.data.target)) {
      candidates = data_->values[*spec_.data.target];
      owner = "a value of '" + *spec_.data.target + "'";
    } else {
      return;  // nothing to check it against
    }
    const std::string label = value.get<std::string>();
    const std::string found = FindLabel(candidates, label);
    if (!found.empty()) {
      value = found;
      return;
    }
    Error(pos, subject + " is '" + label + "', which is not " + owner + " (" + ValuesText(candidates) + ")");
  }

  // Groups: a value, a list of values, {column: value(s)} or a list of such mappings. A bare value is a
  // value of the step's one sensitive column. Columns a step bins are left to the plugin.
  void CheckGroups(const StepSpec& step, const SourcePos& pos, const std::string& subject,
                   const nlohmann::json& value) {
    if (value.is_object()) {
      for (const auto& [column, values] : value.items()) {
        if (!HasColumn(column)) {
          CheckColumn(pos, subject, column);
        } else {
          CheckGroupValues(step, pos, subject, column, values);
        }
      }
      return;
    }
    if (value.is_array() &&
        std::any_of(value.begin(), value.end(), [](const auto& v) { return v.is_object(); })) {
      for (const auto& item : value) CheckGroups(step, pos, subject, item);
      return;
    }
    const std::vector<std::string> sensitive = StepSensitive(step);
    if (sensitive.size() == 1 && HasColumn(sensitive.front()))
      CheckGroupValues(step, pos, subject, sensitive.front(), value);
  }

  std::vector<std::string> StepSensitive(const StepSpec& step) const {
    const auto given = step.params.find("sensitive");
    if (given == step.params.end() || !given->is_array()) return spec_.data.sensitive;
    std::vector<std::string> names;
    for (const auto& item : *given)
      if (item.is_string()) names.push_back(item.get<std::string>());
    return names;
  }

  void CheckGroupValues(const StepSpec& step, const SourcePos& pos, const std::string& subject,
                        const std::string& column, const nlohmann::json& values) {
    const auto bins = step.params.find("bins");
    if (bins != step.params.end() && bins->is_object() && bins->contains(column)) return;
    const auto known = data_->values.find(column);
    if (known == data_->values.end()) return;
    auto check = [&](const nlohmann::json& item) {
      if (!(item.is_string() || item.is_number() || item.is_boolean())) return;
      const std::string text = LabelText(item);
      if (FindLabel(known->second, text).empty()) {
        Error(pos, subject + " names the group '" + text + "', which is not a value of '" + column + "' (" +
                       ValuesText(known->second) + ")");
      }
    };
    if (values.is_array()) {
      for (const auto& item : values) check(item);
    } else {
      check(values);
    }
  }

  PipelineSpec& spec_;
  const PluginRegistry& registry_;
  const ValidateOptions& options_;
  std::vector<Diagnostic>& diagnostics_;
  std::optional<DataProfile> data_;
  std::shared_ptr<Dataset> dataset_;
  std::shared_ptr<const Model> model_;
};

}  // namespace

PipelineCheck ValidatePipeline(PipelineSpec& spec, const PluginRegistry& registry,
                               const ValidateOptions& options) {
  PipelineCheck check;
  check.diagnostics = ValidateAgainstPlugins(spec, registry);
  InputValidator validator(spec, registry, options, check.diagnostics);
  check.model = validator.Run();
  check.data = validator.TakeDataset();
  return check;
}

}  // namespace loupe
