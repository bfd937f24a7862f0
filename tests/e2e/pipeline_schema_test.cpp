// docs/pipeline.schema.json: `loupe schema` writes exactly the committed file; the schema accepts every
// pipeline of the repository and rejects each broken pipeline below, which `loupe validate` rejects too.
// The schema is checked with a validator of the JSON Schema subset `loupe schema` emits
// (core/cli/schema.cpp); a keyword outside that subset fails the test, so the two cannot drift apart
// silently.
#include <sys/wait.h>

#include <regex>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "config/yaml_document.hpp"
#include "e2e_util.hpp"

namespace loupe::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kSchemaSource = LOUPE_SOURCE_DIR;

// A validator of the keywords core/cli/schema.cpp uses. Collects "POINTER: what" for each violation.
class SchemaChecker {
 public:
  explicit SchemaChecker(json root) : root_(std::move(root)) {}

  std::vector<std::string> Errors(const json& value) {
    std::vector<std::string> errors;
    Valid(root_, value, "", &errors);
    return errors;
  }

 private:
  static bool HasType(const json& value, const std::string& type) {
    if (type == "object") return value.is_object();
    if (type == "array") return value.is_array();
    if (type == "string") return value.is_string();
    if (type == "integer") return value.is_number_integer();
    if (type == "number") return value.is_number();
    if (type == "boolean") return value.is_boolean();
    if (type == "null") return value.is_null();
    ADD_FAILURE() << "unknown type " << type;
    return false;
  }

  static bool TypeMatches(const json& schema_type, const json& value) {
    if (schema_type.is_string()) return HasType(value, schema_type.get<std::string>());
    for (const auto& type : schema_type) {
      if (HasType(value, type.get<std::string>())) return true;
    }
    return false;
  }

  const json& Resolve(const std::string& ref) const {
    EXPECT_EQ(ref.rfind("#/", 0), 0u) << "only local references: " << ref;
    return root_.at(json::json_pointer(ref.substr(1)));
  }

  // Each keyword's check; false (and an error when `errors` is given) on a violation.
  bool Valid(const json& schema, const json& value, const std::string& at, std::vector<std::string>* errors) {
    bool ok = true;
    auto fail = [&](const std::string& what) {
      ok = false;
      if (errors) errors->push_back((at.empty() ? "/" : at) + ": " + what);
    };
    for (const auto& [keyword, rule] : schema.items()) {
      if (keyword == "$ref") {
        ok = Valid(Resolve(rule.get<std::string>()), value, at, errors) && ok;
      } else if (keyword == "type") {
        if (!TypeMatches(rule, value)) fail("expected type " + rule.dump() + ", found " + value.dump());
      } else if (keyword == "const") {
        if (value != rule) fail("expected " + rule.dump());
      } else if (keyword == "enum") {
        if (std::find(rule.begin(), rule.end(), value) == rule.end())
          fail(value.dump() + " is not in " + rule.dump());
      } else if (keyword == "pattern") {
        if (value.is_string() &&
            !std::regex_search(value.get<std::string>(), std::regex(rule.get<std::string>())))
          fail(value.dump() + " does not match " + rule.get<std::string>());
      } else if (keyword == "minLength") {
        if (value.is_string() && value.get<std::string>().size() < rule.get<std::size_t>()) fail("too short");
      } else if (keyword == "minimum") {
        if (value.is_number() && value.get<double>() < rule.get<double>()) fail("below " + rule.dump());
      } else if (keyword == "maximum") {
        if (value.is_number() && value.get<double>() > rule.get<double>()) fail("above " + rule.dump());
      } else if (keyword == "minItems") {
        if (value.is_array() && value.size() < rule.get<std::size_t>())
          fail("fewer than " + rule.dump() + " items");
      } else if (keyword == "uniqueItems") {
        if (value.is_array() && std::set<json>(value.begin(), value.end()).size() != value.size())
          fail("repeated items");
      } else if (keyword == "items") {
        for (std::size_t i = 0; value.is_array() && i < value.size(); ++i)
          ok = Valid(rule, value[i], at + "/" + std::to_string(i), errors) && ok;
      } else if (keyword == "properties") {
        for (const auto& [key, sub] : rule.items()) {
          if (value.is_object() && value.contains(key))
            ok = Valid(sub, value[key], at + "/" + key, errors) && ok;
        }
      } else if (keyword == "required") {
        for (const auto& key : rule) {
          if (value.is_object() && !value.contains(key.get<std::string>())) fail("missing " + key.dump());
        }
      } else if (keyword == "additionalProperties") {
        EXPECT_EQ(rule, false) << "only additionalProperties: false";
        const json& known = schema.contains("properties") ? schema["properties"] : json::object();
        if (value.is_object()) {
          for (const auto& [key, unused] : value.items()) {
            if (!known.contains(key)) fail("unknown key '" + key + "'");
          }
        }
      } else if (keyword == "anyOf") {
        bool any = false;
        for (const auto& option : rule) any = any || Valid(option, value, at, nullptr);
        if (!any) fail(value.dump() + " matches none of anyOf");
      } else if (keyword == "allOf") {
        for (const auto& part : rule) ok = Valid(part, value, at, errors) && ok;
      } else if (keyword == "if") {
        if (Valid(rule, value, at, nullptr) && schema.contains("then"))
          ok = Valid(schema["then"], value, at, errors) && ok;
      } else if (keyword != "then" && keyword != "description" && keyword != "default" &&
                 keyword != "title" && keyword != "$schema" && keyword != "$defs") {
        ADD_FAILURE() << "the test's checker does not know the keyword '" << keyword << "' at " << at;
      }
    }
    return ok;
  }

  json root_;
};

json LoadJson(const fs::path& file) { return json::parse(ReadText(file)); }

json LoadYaml(const fs::path& file) {
  config::YamlParseOutcome outcome = config::LoadYamlFile(file);
  EXPECT_TRUE(outcome.document.has_value()) << file;
  return outcome.document ? outcome.document->value : json();
}

// Every pipeline of the repository: configs/*.yaml and examples/*/*.yaml with a steps list.
std::vector<fs::path> RepositoryPipelines() {
  std::vector<fs::path> pipelines;
  auto add_folder = [&](const fs::path& dir) {
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (entry.path().extension() == ".yaml" && ReadText(entry.path()).find("\nsteps:") != std::string::npos)
        pipelines.push_back(entry.path());
    }
  };
  add_folder(kSchemaSource / "configs");
  for (const auto& example : fs::directory_iterator(kSchemaSource / "examples")) {
    if (example.is_directory()) add_folder(example.path());
  }
  std::sort(pipelines.begin(), pipelines.end());
  return pipelines;
}

int RunQuietly(const std::string& command) {
  const int status = std::system((command + " > /dev/null 2>&1").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(PipelineSchema, CommittedFileIsWhatLoupeSchemaWrites) {
  // The committed schema lists the bundled plugins' explainers; a build without one of them differs.
  for (const char* plugin : {"shap", "lime", "surrogate", "fairness", "attention"}) {
    if (!fs::exists(fs::path(LOUPE_PLUGIN_DIR) / ("libloupe_" + std::string(plugin) + ".so")))
      GTEST_SKIP() << "plugin " << plugin << " is not built";
  }
  const fs::path written =
      fs::temp_directory_path() / ("loupe-schema-" + std::to_string(::getpid()) + ".json");
  ASSERT_EQ(RunQuietly("env -u LOUPE_PLUGIN_PATH '" + std::string(LOUPE_EXE) + "' schema -o '" +
                       written.string() + "'"),
            0);
  const std::string generated = ReadText(written);
  fs::remove(written);
  EXPECT_EQ(generated, ReadText(kSchemaSource / "docs/pipeline.schema.json"))
      << "docs/pipeline.schema.json is stale: run docs/generate.sh";
}

TEST(PipelineSchema, AcceptsEveryPipelineOfTheRepository) {
  SchemaChecker schema(LoadJson(kSchemaSource / "docs/pipeline.schema.json"));
  const auto pipelines = RepositoryPipelines();
  ASSERT_GE(pipelines.size(), 5u);
  for (const fs::path& pipeline : pipelines) {
    EXPECT_THAT(schema.Errors(LoadYaml(pipeline)), ::testing::IsEmpty()) << pipeline;
  }
}

// A pipeline the schema and `loupe validate` both accept; each bad case changes one thing in it.
const std::string kGoodPipeline = R"(version: 1
name: schema-test
seed: 3
data:
  path: data.csv
  target: y
  positive: "yes"
  categorical: [c]
model:
  type: native
  path: model.yaml
steps:
  - id: shap
    explainer: shap.kernel
    rows: "0:4"
    params: {background: 5, output: probability}
  - id: tree
    explainer: surrogate.tree
    params: {max_depth: 2}
  - id: summary
    explainer: shap.summary
    needs: [shap]
output:
  dir: out
  formats: [json, html]
)";

struct BadCase {
  const char* what;
  const char* replace;
  const char* with;
};

const BadCase kBadCases[] = {
    {"wrong version", "version: 1", "version: 2"},
    {"unknown top-level key", "seed: 3", "sed: 3"},
    {"negative seed", "seed: 3", "seed: -3"},
    {"unknown data key", "  target: y", "  targte: y"},
    {"column list as a string", "categorical: [c]", "categorical: c"},
    {"missing model path", "  path: model.yaml", "  file: model.yaml"},
    {"unknown model type", "type: native", "type: pmml"},
    {"step without explainer", "    explainer: surrogate.tree\n", ""},
    {"step id not an identifier", "id: tree", "id: 1tree"},
    {"explainer without plugin", "explainer: surrogate.tree", "explainer: surrogate"},
    {"unknown parameter", "max_depth: 2", "max_dept: 2"},
    {"parameter below its minimum", "max_depth: 2", "max_depth: 0"},
    {"parameter of the wrong type", "max_depth: 2", "max_depth: two"},
    {"enum parameter off its list", "output: probability", "output: prob"},
    {"bad rows", "rows: \"0:4\"", "rows: \"a:b\""},
    {"needs as a string", "needs: [shap]", "needs: shap"},
    {"unknown output format", "formats: [json, html]", "formats: [json, pdf]"},
    {"empty steps",
     "steps:\n  - id: shap\n    explainer: shap.kernel\n    rows: \"0:4\"\n    params: {background: 5, "
     "output: "
     "probability}\n  - id: tree\n    explainer: surrogate.tree\n    params: {max_depth: 2}\n  - id: "
     "summary\n    "
     "explainer: shap.summary\n    needs: [shap]\n",
     "steps: []\n"},
};

class SchemaRejects : public ScratchDir {};

TEST_F(SchemaRejects, EachBrokenPipelineThatLoupeValidateRejects) {
  SchemaChecker schema(LoadJson(kSchemaSource / "docs/pipeline.schema.json"));
  const std::string validate =
      "cd '" + dir_.string() + "' && '" + std::string(LOUPE_EXE) + "' validate p.yaml";
  WriteText(dir_ / "p.yaml", kGoodPipeline);
  ASSERT_THAT(schema.Errors(LoadYaml(dir_ / "p.yaml")), ::testing::IsEmpty());
  ASSERT_EQ(RunQuietly(validate), 0) << "the good pipeline must validate";
  for (const BadCase& bad : kBadCases) {
    std::string text = kGoodPipeline;
    const std::size_t at = text.find(bad.replace);
    ASSERT_NE(at, std::string::npos) << bad.what;
    text.replace(at, std::string(bad.replace).size(), bad.with);
    WriteText(dir_ / "p.yaml", text);
    EXPECT_THAT(schema.Errors(LoadYaml(dir_ / "p.yaml")), ::testing::Not(::testing::IsEmpty())) << bad.what;
    EXPECT_EQ(RunQuietly(validate), 2) << bad.what;
  }
}

}  // namespace
}  // namespace loupe::e2e
