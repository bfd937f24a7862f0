// `loupe init`: a commented starter pipeline for a CSV file and a model. It reads the model's inputs and the
// CSV's columns, infers column kinds, picks the target when one column obviously is it, chooses the
// explainers that suit the model (TreeSHAP for tree ensembles, exact SHAP for few features, Kernel SHAP
// otherwise; lime.text and attention for text models), leaves a fairness step on sensitive-looking columns
// commented out, and checks what it wrote exactly as `loupe validate` would before saying it is done.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <utility>

#include <nlohmann/json.hpp>

#include "cli/cli.hpp"
#include "config/messages.hpp"
#include "loupe/core/attention.hpp"
#include "loupe/core/dataset.hpp"
#include "loupe/core/pipeline.hpp"
#include "loupe/core/tree_ensemble.hpp"

namespace loupe::cli {
namespace {

// More features than this and exact SHAP (2^F coalitions per row and background row) gets slow.
constexpr std::size_t kMaxExactShapFeatures = 10;
// A column with at most this many distinct values can be a classification target.
constexpr std::size_t kMaxTargetLevels = 20;
constexpr std::int64_t kShapRows = 10, kLimeRows = 5, kBackgroundRows = 50;

// Everything the pipeline text is written from.
struct Plan {
  fs::path pipeline_file, data_file, model_file;
  std::string written_as;  // the pipeline file as the user named it, for the commands in its comments
  std::string model_type;  // native | xgboost | onnx
  std::string name;
  std::shared_ptr<const Model> model;
  Dataset data;
  std::optional<std::string> target;
  std::string target_reason;  // why this column, or why none
  std::optional<std::string> positive;
  std::vector<std::string> categorical, text, features, sensitive;
};

std::string Lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// A YAML scalar: plain when it reads back as the same string (a name or a path: letters, digits, _ - . /,
// not starting like a number, and not a word YAML reads as a bool, null or number), otherwise JSON-quoted,
// which is valid YAML.
std::string Scalar(const std::string& text) {
  static const std::set<std::string> kReserved = {"y",  "n",   "yes",  "no",   "true", "false",
                                                  "on", "off", "null", ".inf", ".nan"};
  const auto plain_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' || c == '/';
  };
  const bool plain = !text.empty() && std::all_of(text.begin(), text.end(), plain_char) &&
                     !std::isdigit(static_cast<unsigned char>(text[0])) && text[0] != '-' &&
                     kReserved.count(Lower(text)) == 0;
  return plain ? text : nlohmann::json(text).dump();
}

std::string FlowList(const std::vector<std::string>& items) {
  std::string text = "[";
  for (std::size_t i = 0; i < items.size(); ++i) text += (i ? ", " : "") + Scalar(items[i]);
  return text + "]";
}

// The path as the pipeline writes it: relative to the pipeline file's folder, or absolute when the two
// share no folder but the root (a relative path climbing up to / helps nobody).
std::string RelativeTo(const fs::path& pipeline_file, const fs::path& target) {
  const fs::path base = fs::absolute(pipeline_file).parent_path();
  const fs::path absolute = fs::absolute(target).lexically_normal();
  const auto top_folder = [](const fs::path& path) {
    return std::distance(path.begin(), path.end()) > 1 ? *std::next(path.begin()) : fs::path();
  };
  if (top_folder(base) != top_folder(absolute)) return absolute.generic_string();
  return absolute.lexically_relative(base).generic_string();
}

// A "; did you mean 'x'?" or "; expected one of: ..." suffix, ended as a sentence.
std::string Sentence(const std::string& suffix) { return suffix.ends_with("?") ? suffix : suffix + "."; }

bool IsModelInput(const Model& model, const std::string& column) {
  const auto& inputs = model.Info().inputs;
  return std::any_of(inputs.begin(), inputs.end(),
                     [&](const ModelInput& input) { return input.name == column; });
}

std::size_t DistinctValues(const Column& column) {
  if (column.type() == ColumnType::kCategorical) return column.schema().levels.size();
  if (column.type() == ColumnType::kText) return kMaxTargetLevels + 1;
  std::set<double> seen;
  for (double v : column.values()) {
    if (!std::isnan(v)) seen.insert(v);
    if (seen.size() > kMaxTargetLevels) break;
  }
  return seen.size();
}

bool NamedLikeATarget(const std::string& column) {
  static const std::set<std::string> kNames = {"target", "label", "labels",  "class",
                                               "status", "y",     "outcome", "response",
                                               "result", "churn", "default", "survived"};
  const std::string name = Lower(column);
  return kNames.count(name) > 0 || name.ends_with("_label") || name.ends_with("_target");
}

// The column --target names, which must be in the data and not among the model's inputs.
Status UseGivenTarget(const std::string& target, Plan& plan) {
  std::vector<std::string> header;
  for (const Column& column : plan.data.columns()) header.push_back(column.name());
  if (plan.data.Find(target) == nullptr) {
    return InvalidArgument("--target names the column '" + target + "', which " +
                           plan.data_file.filename().string() + " does not have" +
                           Sentence(config::SuggestionSuffix(target, header)));
  }
  if (IsModelInput(*plan.model, target)) {
    return InvalidArgument("--target names '" + target + "', which is an input of the model (declared in " +
                           plan.model_file.filename().string() +
                           "); the target must be a column the model does not read.");
  }
  plan.target = target;
  plan.target_reason = "given with --target";
  return Status::Ok();
}

// The obvious target among the columns the model does not read: the one clearly ahead when a name like a
// target counts two and few distinct values count one. Sets plan.target_reason either way.
void PickObviousTarget(Plan& plan) {
  std::vector<std::pair<int, std::string>> scored;  // (how obvious, column)
  for (const Column& column : plan.data.columns()) {
    if (IsModelInput(*plan.model, column.name()) || column.type() == ColumnType::kText) continue;
    const std::size_t levels = DistinctValues(column);
    const bool few = levels >= 2 && levels <= kMaxTargetLevels;
    scored.emplace_back(2 * NamedLikeATarget(column.name()) + few, column.name());
  }
  std::stable_sort(scored.begin(), scored.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  const bool unique_best =
      !scored.empty() && scored[0].first > 0 && (scored.size() == 1 || scored[1].first < scored[0].first);
  if (!unique_best) {
    plan.target_reason =
        scored.empty() ? "every column is a model input" : "no column is obviously the target";
    return;
  }
  plan.target = scored[0].second;
  const std::size_t levels = DistinctValues(*plan.data.Find(*plan.target));
  plan.target_reason = "picked: not a model input";
  if (levels <= kMaxTargetLevels) plan.target_reason += ", " + std::to_string(levels) + " distinct values";
  if (NamedLikeATarget(*plan.target)) plan.target_reason += ", named like a target";
}

// For a binary classifier: the class its last output gives the probability of, when the target has it.
std::optional<std::string> PositiveLabel(const Plan& plan) {
  const ModelInfo& info = plan.model->Info();
  if (!plan.target || info.task != Task::kClassification || info.output_names.size() != 2)
    return std::nullopt;
  const Column& target = *plan.data.Find(*plan.target);
  if (target.type() != ColumnType::kCategorical) return std::nullopt;
  const auto& levels = target.schema().levels;
  if (std::find(levels.begin(), levels.end(), info.output_names.back()) == levels.end()) return std::nullopt;
  return info.output_names.back();
}

// "maritalStatus", "race_code" -> marital, status; race, code.
std::vector<std::string> Words(const std::string& name) {
  std::vector<std::string> words;
  std::string word;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    const bool camel_hump = std::isupper(c) && i > 0 && std::islower(static_cast<unsigned char>(name[i - 1]));
    if ((!std::isalnum(c) || camel_hump) && !word.empty()) words.push_back(std::exchange(word, ""));
    if (std::isalnum(c)) word += static_cast<char>(std::tolower(c));
  }
  if (!word.empty()) words.push_back(word);
  return words;
}

// Names that usually denote protected attributes (sex, race, age, marital status, ...), word by word, so
// "Age" counts and "Mortgage" does not. Stems longer than four letters also match as a prefix (ethnicity).
bool LooksSensitive(const std::string& column) {
  static const std::vector<std::string> kWords = {
      "sex",    "gender",  "race",  "ethnic", "age",   "marital",  "married", "single", "religion",
      "nation", "citizen", "disab", "afam",   "black", "hispanic", "pregnan", "veteran"};
  for (const std::string& word : Words(column)) {
    for (const std::string& stem : kWords) {
      if (word == stem || (stem.size() > 4 && word.rfind(stem, 0) == 0)) return true;
    }
  }
  return false;
}

// Quartile edges for a numeric sensitive column, as fairness.group's `bins` takes them (right-closed).
std::vector<double> QuartileEdges(const Column& column) {
  std::vector<double> values;
  for (double v : column.values()) {
    if (!std::isnan(v)) values.push_back(v);
  }
  std::sort(values.begin(), values.end());
  if (values.empty()) return {};
  std::vector<double> edges = {std::floor(values.front()) - 1};
  for (double q : {0.25, 0.5, 0.75}) {
    const double edge = std::round(values[static_cast<std::size_t>(q * (values.size() - 1))]);
    if (edge > edges.back() && edge < values.back()) edges.push_back(edge);
  }
  edges.push_back(std::ceil(values.back()));
  return edges;
}

// Column kinds: what the model reads as categories or text, and what the CSV holds as categories.
void PlanColumns(Plan& plan) {
  for (const ModelInput& input : plan.model->Info().inputs) {
    if (input.type == ColumnType::kText) plan.text.push_back(input.name);
    plan.features.push_back(input.name);
  }
  for (const Column& column : plan.data.columns()) {
    if (column.name() == plan.target) continue;
    const bool input = IsModelInput(*plan.model, column.name());
    if (column.type() == ColumnType::kCategorical && input) plan.categorical.push_back(column.name());
    if (input && LooksSensitive(column.name()) && column.type() != ColumnType::kText)
      plan.sensitive.push_back(column.name());
  }
  // Every column but the target is the default feature list; name the features only when the CSV has more.
  const std::size_t others = plan.data.columns().size() - (plan.target ? 1 : 0);
  if (others == plan.features.size()) plan.features.clear();
}

Result<Plan> MakePlan(const po::variables_map& vm) {
  Plan plan;
  plan.written_as = vm["output"].as<std::string>();
  plan.pipeline_file = fs::absolute(plan.written_as).lexically_normal();
  plan.data_file = vm["data"].as<std::string>();
  plan.model_file = vm["model"].as<std::string>();
  LOUPE_ASSIGN_OR_RETURN(plan.model, LoadModel(plan.model_file));
  plan.model_type = fs::path(plan.model_file).extension() == ".onnx" ? "onnx"
                    : plan.model->tree_ensemble() != nullptr         ? "xgboost"
                                                                     : "native";
  LOUPE_RETURN_IF_ERROR(CheckModelInputsPresent(*plan.model, plan.model_file, plan.data_file));
  CsvOptions csv;
  for (const ModelInput& input : plan.model->Info().inputs) {
    if (input.type == ColumnType::kCategorical) csv.categorical.push_back(input.name);
    if (input.type == ColumnType::kText) csv.text.push_back(input.name);
  }
  LOUPE_ASSIGN_OR_RETURN(plan.data, ReadCsv(plan.data_file, csv));
  if (vm.count("target")) {
    LOUPE_RETURN_IF_ERROR(UseGivenTarget(vm["target"].as<std::string>(), plan));
  } else {
    PickObviousTarget(plan);
  }
  plan.positive = PositiveLabel(plan);
  PlanColumns(plan);
  plan.name = plan.model->Info().name.empty() ? plan.model_file.stem().string() : plan.model->Info().name;
  for (char& c : plan.name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') c = '-';
  }
  return plan;
}

// Writes steps, leaving out (as a comment) those whose explainer no loaded plugin provides.
class StepWriter {
 public:
  StepWriter(std::ostream& out, const PluginRegistry& registry) : out_(out), registry_(registry) {}

  // `lines` follow "- id: ID" and "explainer: NAME  # why", each indented under the item.
  void Step(const std::string& id, const std::string& explainer, const std::string& why,
            const std::vector<std::string>& lines) {
    const bool loaded = registry_.Find(explainer) != nullptr;
    const std::string prefix = loaded ? "  " : "  # ";
    if (!loaded) out_ << "  # " << explainer << " is not loaded (install its plugin, then uncomment):\n";
    out_ << prefix << "- id: " << id << "\n"
         << prefix << "  explainer: " << explainer << "   # " << why << "\n";
    for (const std::string& line : lines) out_ << prefix << "  " << line << "\n";
    if (loaded) written_.push_back(id);
  }
  const std::vector<std::string>& written() const { return written_; }
  bool Loaded(const std::string& explainer) const { return registry_.Find(explainer) != nullptr; }

 private:
  std::ostream& out_;
  const PluginRegistry& registry_;
  std::vector<std::string> written_;
};

std::string RowRange(const Plan& plan, std::int64_t rows) {
  return "rows: \"0:" + std::to_string(std::min(rows, plan.data.num_rows())) + "\"";
}

// The features explainers perturb: as listed, or every column but the target.
std::size_t FeatureCount(const Plan& plan) {
  return plan.features.empty() ? plan.data.columns().size() - (plan.target ? 1 : 0) : plan.features.size();
}

void WriteShapSteps(const Plan& plan, StepWriter& steps) {
  const std::size_t features = FeatureCount(plan);
  const std::string background = "params: {background: " + std::to_string(kBackgroundRows) + "}";
  std::string shap;
  if (plan.model->tree_ensemble() != nullptr && steps.Loaded("shap.tree")) {
    shap = "shap.tree";
    steps.Step("shap", shap, "exact TreeSHAP on the trees' raw margin (path-dependent)",
               {RowRange(plan, 100)});
  } else if (features <= kMaxExactShapFeatures) {
    shap = "shap.exact";
    steps.Step("shap", shap,
               "exact Shapley values: " + std::to_string(features) + " features, 2^" +
                   std::to_string(features) + " coalitions per row",
               {RowRange(plan, kShapRows) + "   # the rows explained: \"all\", \"a:b\", a list or a count",
                background});
  } else {
    shap = "shap.kernel";
    steps.Step("shap", shap, std::to_string(features) + " features: too many for shap.exact, so Kernel SHAP",
               {RowRange(plan, kShapRows) + "   # the rows explained: \"all\", \"a:b\", a list or a count",
                background});
  }
  steps.Step("summary", "shap.summary", "global importance and beeswarm from the shap step",
             {"needs: [shap]"});
}

void WriteFairnessComment(const Plan& plan, std::ostream& out) {
  if (plan.sensitive.empty()) return;
  out << "  # Fairness by the columns that look sensitive: uncomment to audit them, and set `privileged` "
         "and\n"
         "  # `favorable` ('loupe describe fairness.group').\n"
         "  # - id: fairness\n  #   explainer: fairness.group\n  #   params:\n  #     sensitive: "
      << FlowList(plan.sensitive) << "\n";
  std::vector<std::string> bins;
  for (const std::string& name : plan.sensitive) {
    const Column& column = *plan.data.Find(name);
    if (column.type() != ColumnType::kNumeric) continue;
    std::vector<std::string> edges;
    for (double edge : QuartileEdges(column)) edges.push_back(config::NumberText(edge));
    bins.push_back(Scalar(name) + ": [" + config::JoinNames(edges) + "]");
  }
  if (!bins.empty()) out << "  #     bins: {" << config::JoinNames(bins) << "}   # quartiles of the data\n";
}

void WriteTabularSteps(const Plan& plan, StepWriter& steps, std::ostream& out) {
  WriteShapSteps(plan, steps);
  steps.Step(
      "lime", "lime.tabular", "LIME: a weighted linear model around each row",
      {RowRange(plan, kLimeRows), "params: {num_samples: 2000, num_features: " +
                                      std::to_string(std::min<std::size_t>(6, FeatureCount(plan))) + "}"});
  steps.Step("surrogate", "surrogate.tree",
             "a readable decision tree that mimics the model, with its fidelity", {"params: {max_depth: 3}"});
  WriteFairnessComment(plan, out);
}

void WriteTextSteps(const Plan& plan, StepWriter& steps) {
  const std::string rows = RowRange(plan, kLimeRows);
  steps.Step("lime", "lime.text", "LIME on words: which words move each prediction",
             {rows, "params: {num_samples: 1000, num_features: 6}"});
  if (plan.model->attention_source() == nullptr) return;
  steps.Step("attention", "attention.inspect", "the model's attention, every layer and head", {rows});
  steps.Step("rollout", "attention.rollout", "attention rolled out through the layers", {rows});
}

void WriteData(const Plan& plan, std::ostream& out) {
  const std::string path = RelativeTo(plan.pipeline_file, plan.data_file);
  out << "data:\n  path: " << Scalar(path)
      << (fs::path(path).is_relative() ? "   # relative to this file\n" : "\n");
  if (plan.target) {
    out << "  target: " << Scalar(*plan.target) << "   # " << plan.target_reason << "\n";
  } else {
    out << "  # target: COLUMN   # " << plan.target_reason << "; name the column the model predicts\n";
  }
  if (plan.positive) {
    out << "  positive: " << Scalar(*plan.positive)
        << "   # the class whose probability is the model's last output\n";
  }
  if (!plan.features.empty()) {
    out << "  features: " << FlowList(plan.features)
        << "   # the model's inputs (the CSV has other columns)\n";
  }
  if (!plan.categorical.empty()) out << "  categorical: " << FlowList(plan.categorical) << "\n";
  if (!plan.text.empty()) out << "  text: " << FlowList(plan.text) << "   # the model reads these as text\n";
  out << "  missing: [\"NA\", \"\"]   # cells that mean a missing value\n";
}

std::string PipelineText(const Plan& plan, const PluginRegistry& registry,
                         std::vector<std::string>& step_ids) {
  std::ostringstream out;
  const std::string& file = plan.written_as;
  out << "# Starter pipeline written by `loupe init` for the model " << plan.model_file.filename().string()
      << " on " << plan.data_file.filename().string() << ".\n"
      << "# Check it with `loupe validate " << file << "`, run it with `loupe run " << file << "`; each\n"
      << "# explainer's parameters: `loupe describe EXPLAINER`; checks and completion in an editor: `loupe\n"
      << "# schema --help`. Paths are relative to this file.\n"
      << "version: 1\nname: " << Scalar(plan.name) << "\nseed: 0\n";
  WriteData(plan, out);
  out << "model:\n  type: " << plan.model_type
      << "\n  path: " << Scalar(RelativeTo(plan.pipeline_file, plan.model_file)) << "\nsteps:\n";
  StepWriter steps(out, registry);
  if (plan.text.empty()) {
    WriteTabularSteps(plan, steps, out);
  } else {
    WriteTextSteps(plan, steps);
  }
  out << "output:\n  dir: " << Scalar("out/" + plan.name) << "   # relative to this file\n"
      << "  formats: [json, csv, html]\n";
  step_ids = steps.written();
  return out.str();
}

// Reads the written file back as `loupe validate` does: a starter that does not validate is a bug here.
int CheckWritten(const fs::path& file, const PluginRegistry& registry) {
  ParseOutcome parsed = ParsePipelineFile(file);
  std::vector<Diagnostic> diagnostics = std::move(parsed.diagnostics);
  if (parsed.spec) diagnostics = ValidateAgainstPlugins(*parsed.spec, registry);
  for (const Diagnostic& d : diagnostics) std::cerr << d.ToString() << "\n";
  return diagnostics.empty() ? kExitOk : kExitBadInput;
}

int Init(const po::variables_map& vm) {
  const std::string output = vm["output"].as<std::string>();
  std::error_code ec;
  if (fs::exists(output, ec) && !vm["force"].as<bool>()) {
    return Fail(kExitBadInput,
                output + " already exists; choose another file with -o or replace it with --force.");
  }
  Result<Plan> plan = MakePlan(vm);
  if (!plan.ok()) return FailWith(plan.status());
  std::vector<Status> ignored;
  LoadedPlugins plugins = LoadPlugins(PluginPaths(vm), {}, &ignored);
  std::vector<std::string> step_ids;
  const std::string text = PipelineText(*plan, plugins.registry, step_ids);
  if (step_ids.empty())
    return Fail(kExitPlugin, "no plugin providing the starter's explainers is loaded ('loupe plugins').");
  if (const fs::path folder = fs::path(output).parent_path(); !folder.empty())
    fs::create_directories(folder, ec);
  std::ofstream(output, std::ios::binary) << text;
  if (!fs::exists(output, ec)) return Fail(kExitBadInput, "cannot write '" + output + "'.");
  if (int code = CheckWritten(output, plugins.registry); code != kExitOk) return code;
  std::printf("wrote %s: %zu steps (%s)%s\nrun it with: loupe run %s\n", output.c_str(), step_ids.size(),
              config::JoinNames(step_ids).c_str(), plan->target ? "" : "; no target picked (see data.target)",
              output.c_str());
  return kExitOk;
}

}  // namespace

Command InitCommand() {
  return {
      "init",
      "writes a commented starter pipeline for a CSV file and a model",
      "loupe init --data CSV --model MODEL [options]",
      "Reads the CSV's header and the model's inputs, infers each column's kind, picks the target when one "
      "column obviously is it, and chooses explainers that suit the model. A fairness step on columns that "
      "look sensitive is left commented out. The result passes 'loupe validate' and runs as written.",
      {{"data", "CSV", "the data file, with a header row", Text, false, true},
       {"model", "MODEL", "a loupe.model/v1 YAML file or an XGBoost JSON model", Text, false, true},
       {"target", "COLUMN", "the column the model predicts (default: picked when obvious)", Text},
       {"output,o", "FILE", "where to write the pipeline (default pipeline.yaml)",
        [] {
          return static_cast<po::value_semantic*>(po::value<std::string>()->default_value("pipeline.yaml"));
        }},
       {"force", "", "replace FILE when it exists"},
       {"plugin-path", "DIR", "also load the plugins of DIR (repeatable)", TextList}},
      {"loupe init --data examples/credit_scoring/data/credit_data.csv \\\n"
       "             --model examples/credit_scoring/models/credit_logreg.yaml -o credit.yaml"},
      Init};
}

}  // namespace loupe::cli
