// `loupe schema`: a JSON Schema (draft 2020-12) of the pipeline format, made from the parser's own
// vocabulary (loupe::PipelineFormat) and the parameter specs of every loaded explainer, so it cannot drift
// from what `loupe validate` checks. docs/generate.sh writes docs/pipeline.schema.json with it; editors with
// a YAML language server read it from a `# yaml-language-server: $schema=...` line.
//
// The schema uses a small subset of JSON Schema (type, const, enum, pattern, minLength, minimum, maximum,
// items, minItems, uniqueItems, properties, required, additionalProperties: false, $ref into $defs,
// anyOf, allOf, if/then), which tests/e2e/pipeline_schema_test.cpp checks with a validator of its own.
// What a schema cannot say (a step's needs naming an earlier step, a:b with a < b, columns that exist in
// the data) stays with `loupe validate` and `loupe run`.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "cli/cli.hpp"
#include "loupe/core/explainer.hpp"
#include "loupe/core/pipeline.hpp"

namespace loupe::cli {
namespace {

using Json = nlohmann::ordered_json;

Json NonEmptyString() { return {{"type", "string"}, {"minLength", 1}}; }

Json StringList() { return {{"type", "array"}, {"items", NonEmptyString()}, {"uniqueItems", true}}; }

Json Described(Json schema, const std::string& description) {
  schema["description"] = description;
  return schema;
}

// A mapping whose keys are exactly `keys` (the parser's list), each with the schema `field(key)`.
template <typename Field>
Json Mapping(const std::vector<std::string>& keys, const std::vector<std::string>& required, Field field) {
  Json properties = Json::object();
  for (const std::string& key : keys) properties[key] = field(key);
  Json mapping = {{"type", "object"}, {"additionalProperties", false}, {"properties", properties}};
  if (!required.empty()) mapping["required"] = required;
  return mapping;
}

Json DataField(const std::string& key, const PipelineVocabulary& format) {
  static const std::map<std::string, std::string> kDocs = {
      {"path", "the CSV file, relative to the pipeline file"},
      {"target", "the target column (left out of the features)"},
      {"positive",
       "the class label treated as positive (a string, or a number or boolean as the data writes it)"},
      {"missing", "cells that mean a missing value (default: NA and the empty cell)"},
      {"features", "the columns explainers perturb (default: every column but the target)"},
      {"categorical", "columns read as categories even when they hold numbers"},
      {"text", "columns read as text"},
      {"sensitive", "protected attributes, for fairness steps"}};
  const std::string doc = kDocs.count(key) ? kDocs.at(key) : "";
  const auto& lists = format.data_column_lists;
  if (std::find(lists.begin(), lists.end(), key) != lists.end()) return Described(StringList(), doc);
  if (key == "positive") return Described({{"type", {"string", "number", "boolean"}}, {"minLength", 1}}, doc);
  if (key == "missing") {
    return Described({{"type", "array"}, {"items", {{"type", {"string", "number"}}}}, {"uniqueItems", true}},
                     doc);
  }
  return Described(NonEmptyString(), doc);
}

// The `rows` a step explains (or a rows-typed parameter takes): "all", "a:b", a count, or a list.
Json RowsSchema() {
  return {{"description",
           "\"all\", a half-open range \"a:b\" (0-based), a count N (a seeded sample) or a list of "
           "row numbers"},
          {"anyOf",
           {{{"const", "all"}},
            {{"type", "string"}, {"pattern", "^ *[0-9]* *: *[0-9]* *$"}},
            {{"type", "integer"}, {"minimum", 1}},
            {{"type", "array"},
             {"minItems", 1},
             {"uniqueItems", true},
             {"items", {{"type", "integer"}, {"minimum", 0}}}}}}};
}

// 1 rather than 1.0 for whole bounds, as a person writes them.
Json Bound(double value) {
  if (value == std::trunc(value) && std::fabs(value) < 1e15) return static_cast<std::int64_t>(value);
  return value;
}

Json ParamSchema(const ParamSpec& param) {
  Json schema;
  switch (param.type) {
    case ParamType::kBool:
      schema = {{"type", "boolean"}};
      break;
    case ParamType::kInt:
      schema = {{"type", "integer"}};
      break;
    case ParamType::kFloat:
      schema = {{"type", "number"}};
      break;
    case ParamType::kString:  // a class label may be written as the data holds it: `favorable: 1`
      schema = {
          {"type", param.role == ParamRole::kLabel ? Json{"string", "number", "boolean"} : Json("string")}};
      break;
    case ParamType::kEnum:
      schema = {{"enum", param.choices}};
      break;
    case ParamType::kRows:
      schema = {{"$ref", "#/$defs/rows"}};
      break;
    case ParamType::kStringList:
      schema = {{"type", "array"}, {"items", {{"type", "string"}}}};
      break;
    case ParamType::kJson:
      schema = Json::object();
      break;  // any value; the explainer checks it
  }
  if (param.min_value) schema["minimum"] = Bound(*param.min_value);
  if (param.max_value) schema["maximum"] = Bound(*param.max_value);
  if (param.default_value) schema["default"] = Json::parse(param.default_value->dump());
  schema["description"] = param.doc;
  return schema;
}

Json ParamsSchema(const ExplainerDescriptor& explainer) {
  Json properties = Json::object();
  std::vector<std::string> required;
  for (const ParamSpec& param : explainer.params) {
    properties[param.name] = ParamSchema(param);
    if (param.required && !param.default_value) required.push_back(param.name);
  }
  Json schema = {{"description", explainer.name + ": " + explainer.summary},
                 {"type", "object"},
                 {"additionalProperties", false},
                 {"properties", properties}};
  if (!required.empty()) schema["required"] = required;
  return schema;
}

// A step's params are checked against its explainer's spec: one if/then per known explainer.
Json StepSchema(const PipelineVocabulary& format, const PluginRegistry& registry) {
  std::vector<std::string> names;
  Json by_explainer = Json::array();
  for (const LoadedExplainer* explainer : registry.Explainers()) {
    const std::string& name = explainer->descriptor().name;
    names.push_back(name);
    by_explainer.push_back(
        {{"if", {{"properties", {{"explainer", {{"const", name}}}}}, {"required", {"explainer"}}}},
         {"then", {{"properties", {{"params", {{"$ref", "#/$defs/params/" + name}}}}}}}});
  }
  const Json explainer_name = {{"type", "string"}, {"pattern", "^" + format.explainer_name_pattern + "$"}};
  Json explainer = {{"description", "plugin.explainer; 'loupe plugins' lists the installed ones"},
                    {"anyOf", {{{"enum", names}}, explainer_name}}};
  Json step = Mapping(format.step_keys, {"id", "explainer"}, [&](const std::string& key) -> Json {
    if (key == "id") {
      return {{"description", "unique; names the step's output files and what --set steps.ID.… addresses"},
              {"type", "string"},
              {"pattern", "^" + format.step_id_pattern + "$"}};
    }
    if (key == "explainer") return explainer;
    if (key == "rows") return {{"$ref", "#/$defs/rows"}};
    if (key == "params")
      return {{"description", "the explainer's parameters ('loupe describe EXPLAINER')"}, {"type", "object"}};
    if (key == "needs")
      return Described(StringList(), "ids of earlier steps whose explanations this step reads");
    return Json::object();
  });
  if (!by_explainer.empty()) step["allOf"] = by_explainer;
  return step;
}

// A model has a path, or (type: remote) a url and the remote client's options (docs/serve.md).
Json ModelSchema(const PipelineVocabulary& format) {
  static const std::map<std::string, std::string> kCounts = {
      {"max_batch_rows", "type remote: rows per request (default 256)"},
      {"connections", "type remote: requests in flight at once (default 4)"},
      {"timeout_ms", "type remote: how long one request may take (default 30000)"},
      {"retries", "type remote: retries of a 429 or 503 answer, with backoff (default 4)"}};
  Json model = Mapping(format.model_keys, {}, [&](const std::string& key) -> Json {
    if (key == "type")
      return {{"description", "the model's format (default native)"}, {"enum", format.model_types}};
    if (key == "url")
      return Described(NonEmptyString(), "type remote: the model's url, http://HOST:PORT/v2/models/NAME");
    if (key == "protocol")
      return {{"description", "type remote: v2 (Open Inference Protocol) or v1 (KServe)"},
              {"enum", {"v2", "v1"}}};
    if (key == "task")
      return {{"description", "type remote: what the model does (default: from its metadata)"},
              {"enum", {"classification", "regression"}}};
    if (key == "outputs")
      return Described(StringList(), "type remote: the output names (default: from its metadata)");
    if (key == "precision")
      return {{"description",
               "types huggingface and onnx: f32 (default) or bf16, the products by the weights in "
               "bfloat16 where the CPU has it"},
              {"enum", {"f32", "bf16"}}};
    if (key == "features")
      return Described(StringList(),
                       "type onnx: the names of the model's inputs (default: from the graph); type "
                       "huggingface: the one text column the model reads (default: text)");
    if (key == "attention") {
      return Described(StringList(),
                       "type onnx: the tensors (or nodes) holding each self-attention layer's softmax, "
                       "in layer order");
    }
    if (key == "tokenizer")
      return Described(NonEmptyString(),
                       "type onnx: a tokenizer.json that makes a token-id graph a text model");
    if (key == "ca_file")
      return Described(NonEmptyString(),
                       "type remote, https: PEM certificates of CAs to trust besides the system's");
    if (kCounts.count(key))
      return {{"description", kCounts.at(key)}, {"type", "integer"}, {"minimum", key == "retries" ? 0 : 1}};
    return Described(NonEmptyString(), "the model file, relative to the pipeline file");
  });
  model["anyOf"] =
      Json::array({{{"required", {"path"}}},
                   {{"required", {"type", "url"}}, {"properties", {{"type", {{"const", "remote"}}}}}}});
  return model;
}

Json OutputSchema(const PipelineVocabulary& format) {
  return Mapping(format.output_keys, {}, [&](const std::string& key) -> Json {
    if (key == "formats") {
      return {{"description", "what to write (default json)"},
              {"type", "array"},
              {"minItems", 1},
              {"uniqueItems", true},
              {"items", {{"enum", format.output_formats}}}};
    }
    return Described(NonEmptyString(), "the output folder, relative to the pipeline file (default out/NAME)");
  });
}

Json TopLevelField(const std::string& key) {
  if (key == "version") return {{"description", "the pipeline format's version"}, {"const", 1}};
  if (key == "name") return Described(NonEmptyString(), "the pipeline's name (default: the file name)");
  if (key == "seed")
    return {{"description", "seed of every random draw (default 0)"}, {"type", "integer"}, {"minimum", 0}};
  if (key == "steps") return {{"type", "array"}, {"minItems", 1}, {"items", {{"$ref", "#/$defs/step"}}}};
  if (key == "plugins")
    return Described(StringList(), "extra plugin libraries or folders, relative to the pipeline file");
  if (key == "data" || key == "model" || key == "output") return {{"$ref", "#/$defs/" + key}};
  return Json::object();
}

Json PipelineSchema(const PluginRegistry& registry) {
  const PipelineVocabulary& format = PipelineFormat();
  Json schema = {
      {"$schema", "https://json-schema.org/draft/2020-12/schema"},
      {"title", "Loupe pipeline"},
      {"description", "Generated by 'loupe schema' (loupe " LOUPE_VERSION ") from the pipeline parser's "
                      "rules and the parameter specs of the loaded explainers. Do not edit by hand."}};
  const Json top = Mapping(format.pipeline_keys, format.required_pipeline_keys, TopLevelField);
  for (const auto& [key, value] : top.items()) schema[key] = value;
  Json params = Json::object();
  for (const LoadedExplainer* explainer : registry.Explainers()) {
    params[explainer->descriptor().name] = ParamsSchema(explainer->descriptor());
  }
  schema["$defs"] = {{"data", Mapping(format.data_keys, {"path"},
                                      [&](const std::string& key) { return DataField(key, format); })},
                     {"model", ModelSchema(format)},
                     {"step", StepSchema(format, registry)},
                     {"rows", RowsSchema()},
                     {"output", OutputSchema(format)},
                     {"params", params}};
  return schema;
}

int Schema(const po::variables_map& vm) {
  std::vector<Status> ignored;
  LoadedPlugins loaded = LoadPlugins(PluginPaths(vm), {}, &ignored);
  const std::string text = PipelineSchema(loaded.registry).dump(2) + "\n";
  for (const Status& f : loaded.failures) std::fprintf(stderr, "loupe: warning: %s\n", f.message().c_str());
  if (!vm.count("output")) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return kExitOk;
  }
  const std::string output = vm["output"].as<std::string>();
  std::ofstream out(output, std::ios::binary);
  out << text;
  if (!out) return Fail(kExitBadInput, "cannot write '" + output + "'.");
  return kExitOk;
}

}  // namespace

Command SchemaCommand() {
  return {"schema",
          "prints a JSON Schema of the pipeline format, with the parameters of every loaded explainer",
          "loupe schema [options]",
          "Editors with a YAML language server validate and complete a pipeline that starts with\n"
          "  # yaml-language-server: $schema=PATH/TO/pipeline.schema.json\n"
          "The repository's copy is docs/pipeline.schema.json (written by docs/generate.sh).",
          {{"output,o", "FILE", "write the schema to FILE instead of stdout", Text},
           {"plugin-path", "DIR", "also load the plugins of DIR (repeatable), adding their explainers",
            TextList}},
          {"loupe schema -o pipeline.schema.json"},
          Schema};
}

}  // namespace loupe::cli
