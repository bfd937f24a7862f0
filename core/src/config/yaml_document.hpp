// YAML files as JSON values with source positions. The only door to yaml-cpp (docs/architecture.md §1): the
// rest of the core reads configuration (pipelines, model files) as nlohmann::json plus a position table.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "loupe/core/pipeline.hpp"  // SourcePos, Diagnostic

namespace loupe::config {

struct YamlDocument {
  std::string file;  // as given, for messages
  // Plain scalars are typed as YAML 1.2 core schema would: null (~, null, empty), bool (true/false),
  // integer, float (.inf, .nan too), otherwise string. Quoted scalars are always strings.
  nlohmann::json value;
  // Position (1-based) of each node by JSON pointer: "" is the root, "/steps/0/params/nsamples" a value.
  std::map<std::string, SourcePos> positions;
  // Position of each mapping key by the JSON pointer of its value ("/seed" -> where `seed:` starts), so
  // an error about the key itself (unknown, misspelt) points at the key rather than at its value.
  std::map<std::string, SourcePos> key_positions;

  // Position of the node at `pointer`, or of its nearest ancestor that has one (a missing key has none:
  // errors about it point at the parent mapping).
  SourcePos At(const std::string& pointer) const;
  // Position of the key whose value is at `pointer`; falls back to At(pointer).
  SourcePos KeyAt(const std::string& pointer) const;
};

struct YamlParseOutcome {
  std::optional<YamlDocument> document;  // set when there are no diagnostics
  std::vector<Diagnostic> diagnostics;   // syntax errors, duplicate keys (each "duplicate key 'x'")
};

YamlParseOutcome LoadYamlFile(const std::filesystem::path& file);
YamlParseOutcome ParseYamlText(const std::string& text, const std::string& file);
// Parses one scalar or flow value (for --set KEY=VALUE) with the same typing rules.
std::optional<nlohmann::json> ParseYamlValue(const std::string& text);

// Builds a JSON pointer token-safely: JsonPointer({"steps", "0", "params"}) == "/steps/0/params".
std::string JsonPointer(const std::vector<std::string>& tokens);

}  // namespace loupe::config
