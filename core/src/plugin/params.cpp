// Explainer parameters: checking one value against its ParamSpec (docs/architecture.md §3 "Explainer").
#include <algorithm>
#include <cmath>

#include "config/messages.hpp"
#include "loupe/core/explainer.hpp"

namespace loupe {
namespace {

using config::ValueText;
using nlohmann::json;

std::string Subject(const ParamSpec& spec) { return "parameter '" + spec.name + "'"; }

Status Expected(const ParamSpec& spec, const std::string& expected, const json& found) {
  return InvalidArgument(Subject(spec) + " must be " + expected + ", found " + ValueText(found));
}

// Bounds are inclusive; an int parameter's bounds print as integers ("must be >= 1").
Status CheckBounds(const ParamSpec& spec, const json& value) {
  const double number = value.get<double>();
  if (spec.min_value && !(number >= *spec.min_value)) {
    return Expected(spec, ">= " + config::NumberText(*spec.min_value), value);
  }
  if (spec.max_value && !(number <= *spec.max_value)) {
    return Expected(spec, "<= " + config::NumberText(*spec.max_value), value);
  }
  return Status::Ok();
}

std::string QuotedName(const std::string& name) {
  std::string quoted = "'";
  return quoted.append(name).append("'");
}

Status CheckEnum(const ParamSpec& spec, const json& value) {
  const bool listed = value.is_string() && std::find(spec.choices.begin(), spec.choices.end(),
                                                     value.get<std::string>()) != spec.choices.end();
  if (listed) return Status::Ok();
  // Enum values are names, so a wrong one is quoted as a name: found 'prob'.
  const std::string found = value.is_string() ? QuotedName(value.get<std::string>()) : ValueText(value);
  return InvalidArgument(Subject(spec) + " must be one of " + config::JoinNames(spec.choices) + "; found " +
                         found);
}

Status CheckStringList(const ParamSpec& spec, const json& value) {
  const bool all_strings = value.is_array() && std::all_of(value.begin(), value.end(),
                                                           [](const json& item) { return item.is_string(); });
  return all_strings ? Status::Ok() : Expected(spec, "a list of strings", value);
}

// A class label is written as the data holds it: a string, a number (`favorable: 1`) or a boolean.
Status CheckLabel(const ParamSpec& spec, const json& value) {
  if (value.is_string() && !value.get<std::string>().empty()) return Status::Ok();
  if (value.is_boolean() || (value.is_number() && std::isfinite(value.get<double>()))) return Status::Ok();
  return Expected(spec, "a class label (a string, a number or a boolean)", value);
}

Status CheckRows(const ParamSpec& spec, const json& value) {
  Result<RowSelection> selection = RowSelection::FromJson(value);
  if (selection.ok()) return Status::Ok();
  return InvalidArgument(config::RenameSubject(selection.status().message(), "rows", Subject(spec)));
}

}  // namespace

const char* ParamTypeName(ParamType type) {
  switch (type) {
    case ParamType::kBool:
      return "bool";
    case ParamType::kInt:
      return "int";
    case ParamType::kFloat:
      return "float";
    case ParamType::kString:
      return "string";
    case ParamType::kEnum:
      return "enum";
    case ParamType::kRows:
      return "rows";
    case ParamType::kJson:
      return "json";
    case ParamType::kStringList:
      return "string_list";
  }
  return "unknown";
}

const ParamSpec* ExplainerDescriptor::FindParam(const std::string& param) const {
  const auto found =
      std::find_if(params.begin(), params.end(), [&](const ParamSpec& spec) { return spec.name == param; });
  return found == params.end() ? nullptr : &*found;
}

Status CheckParamValue(const ParamSpec& spec, const nlohmann::json& value) {
  switch (spec.type) {
    case ParamType::kBool:
      return value.is_boolean() ? Status::Ok() : Expected(spec, "true or false", value);
    case ParamType::kInt:
      // Only values written as integers: 3.0 is a float in YAML and JSON alike.
      return value.is_number_integer() ? CheckBounds(spec, value) : Expected(spec, "an integer", value);
    case ParamType::kFloat:
      if (!value.is_number() || std::isnan(value.get<double>())) return Expected(spec, "a number", value);
      return CheckBounds(spec, value);
    case ParamType::kString:
      if (spec.role == ParamRole::kLabel) return CheckLabel(spec, value);
      return value.is_string() ? Status::Ok() : Expected(spec, "a string", value);
    case ParamType::kEnum:
      return CheckEnum(spec, value);
    case ParamType::kRows:
      return CheckRows(spec, value);
    case ParamType::kStringList:
      return CheckStringList(spec, value);
    case ParamType::kJson:
      return Status::Ok();
  }
  return Internal("parameter '" + spec.name + "' has an unknown type");
}

std::string LabelText(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  return value.dump();  // 1 -> "1", 2.5 -> "2.5", true -> "true"
}

}  // namespace loupe
