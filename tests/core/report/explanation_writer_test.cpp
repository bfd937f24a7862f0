// Typed explanations and the streaming writers: the files stay byte for byte what the JSON-tree path
// wrote before arrays became typed (loupe.explanation/v1 and the attribution CSV). The old path is kept
// here, copied from the host and report code it replaced: the result builder turned every tensor into
// nlohmann nodes (TensorToJson over the plugin's LoupeTensorView), Explanation::ToJson merged provenance
// and body, and dump() wrote it; the CSV was read back out of the tree.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>

#include "loupe/c/loupe_plugin.h"
#include "loupe/core/explanation.hpp"
#include "report/html_report.hpp"
#include "report/output_files.hpp"

namespace loupe {
namespace {

namespace fs = std::filesystem;

const fs::path kFixtures = fs::path(LOUPE_SOURCE_DIR) / "tests/core/report/fixtures/every_kind";
const char* const kEveryKind[] = {"attention", "attention_rollout", "counterfactual", "custom",  "fairness",
                                  "lime",      "lime_text",         "shap",           "summary", "surrogate",
                                  "text_shap"};

// ---- the old path, as it was ----

namespace old_path {

double ElementAsDouble(const LoupeTensorView& t, std::int64_t offset) {
  switch (t.dtype) {
    case LOUPE_DTYPE_F32:
      return static_cast<const float*>(t.data)[offset];
    case LOUPE_DTYPE_F64:
      return static_cast<const double*>(t.data)[offset];
    case LOUPE_DTYPE_I32:
      return static_cast<const std::int32_t*>(t.data)[offset];
    case LOUPE_DTYPE_I64:
      return static_cast<double>(static_cast<const std::int64_t*>(t.data)[offset]);
    default:
      return static_cast<const std::uint8_t*>(t.data)[offset];
  }
}

nlohmann::json NumberOrNull(double value) {
  return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json();
}

nlohmann::json TensorToJson(const LoupeTensorView& t, int dim, std::int64_t offset) {
  if (dim == t.ndim) {
    const double v = ElementAsDouble(t, offset);
    if (t.dtype == LOUPE_DTYPE_I32 || t.dtype == LOUPE_DTYPE_I64 || t.dtype == LOUPE_DTYPE_U8) {
      return static_cast<std::int64_t>(v);
    }
    return NumberOrNull(v);
  }
  std::int64_t stride = 1;
  if (t.strides != nullptr) {
    stride = t.strides[dim];
  } else {
    for (int d = dim + 1; d < t.ndim; ++d) stride *= t.shape[d];
  }
  nlohmann::json array = nlohmann::json::array();
  for (std::int64_t i = 0; i < t.shape[dim]; ++i)
    array.push_back(TensorToJson(t, dim + 1, offset + i * stride));
  return array;
}

void SetPath(nlohmann::json& body, const std::string& path, nlohmann::json value) {
  nlohmann::json* node = &body;
  std::stringstream parts(path);
  std::string part;
  std::getline(parts, part, '.');
  for (std::string next; std::getline(parts, next, '.'); part = next) {
    if (!(*node)[part].is_object()) (*node)[part] = nlohmann::json::object();
    node = &(*node)[part];
  }
  (*node)[part] = std::move(value);
}

// Explanation::ToJson before typed arrays: everything in one tree.
nlohmann::json ToJson(const Explanation& e, const nlohmann::json& body) {
  nlohmann::json document = nlohmann::json::object();
  document["schema"] = kExplanationSchema;
  document["kind"] = e.kind;
  document["step"] = e.step;
  document["explainer"] = e.explainer;
  document["plugin"] = {{"name", e.plugin_name}, {"version", e.plugin_version}};
  document["params"] = e.params;
  document["seed"] = e.seed;
  document["elapsed_ms"] = e.elapsed_ms;
  document["quality"] = e.quality;
  for (const auto& [key, value] : body.items()) {
    if (!IsProvenanceKey(key)) document[key] = value;
  }
  return document;
}

std::string NumberText(const nlohmann::json& value) {
  if (value.is_null()) return "";
  if (value.is_number()) return value.dump();
  if (value.is_string()) return value.get<std::string>();
  return value.dump();
}

// WriteAttributionCsv's text before typed arrays.
std::string AttributionCsv(const nlohmann::json& body) {
  std::ostringstream csv;
  csv << "row,output,base_value";
  for (const auto& name : body["feature_names"]) csv << ',' << report::CsvField(name.get<std::string>());
  csv << '\n';
  for (std::size_t r = 0; r < body["rows"].size(); ++r) {
    for (std::size_t o = 0; o < body["output_names"].size(); ++o) {
      csv << NumberText(body["rows"][r]) << ','
          << report::CsvField(body["output_names"][o].get<std::string>()) << ','
          << NumberText(body["base_values"][r][o]);
      for (const auto& value : body["values"][r][o]) csv << ',' << NumberText(value);
      csv << '\n';
    }
  }
  return csv.str();
}

}  // namespace old_path

// ---- helpers ----

nlohmann::json ReadJson(const fs::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

Explanation Fixture(const std::string& name) {
  Result<Explanation> e = Explanation::FromJson(ReadJson(kFixtures / (name + ".json")));
  EXPECT_TRUE(e.ok()) << name << ": " << e.status().message();
  return e.ok() ? *e : Explanation{};
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The rectangular numeric array `value` as a tensor when a plugin could have set it with
// result_set_tensor and the old builder would have written the same JSON: all integers (i64) or all
// floats and nulls (f64).
std::optional<Tensor> AsTensor(const nlohmann::json& value) {
  if (!value.is_array() || value.empty()) return std::nullopt;
  std::vector<double> flat;
  std::vector<std::int64_t> integers;
  Shape shape;
  bool any_float = false, any_integer = false;
  const std::function<bool(const nlohmann::json&, std::size_t)> walk = [&](const nlohmann::json& v,
                                                                           std::size_t depth) {
    if (!v.is_array()) {
      if (depth != shape.size()) return false;
      if (v.is_number_integer()) {
        any_integer = true;
        integers.push_back(v.get<std::int64_t>());
        flat.push_back(v.get<double>());
        return true;
      }
      if (!v.is_number_float() && !v.is_null()) return false;
      any_float = true;
      flat.push_back(v.is_null() ? std::nan("") : v.get<double>());
      return true;
    }
    if (depth == shape.size()) shape.push_back(static_cast<std::int64_t>(v.size()));
    if (depth >= shape.size() || shape[depth] != static_cast<std::int64_t>(v.size())) return false;
    for (const auto& item : v) {
      if (!walk(item, depth + 1)) return false;
    }
    return true;
  };
  if (!walk(value, 0) || (any_float && any_integer) || NumElements(shape) == 0) return std::nullopt;
  if (any_integer) return Tensor::FromVector(integers, shape);
  return Tensor::FromVector(flat, shape);
}

// Moves every field (at any depth of objects) that a plugin could have set as a tensor into a typed
// array, the way the new result builder holds it.
void Typify(Explanation& e, const nlohmann::json& node, const std::string& prefix, int& typed) {
  for (const auto& [key, value] : node.items()) {
    const std::string path = prefix.empty() ? key : prefix + "." + key;
    if (prefix.empty() && IsProvenanceKey(key)) continue;
    if (value.is_object()) {
      Typify(e, value, path, typed);
    } else if (std::optional<Tensor> tensor = AsTensor(value)) {
      e.SetArray(path, std::move(*tensor));
      ++typed;
    }
  }
}

int Typify(Explanation& e) {
  int typed = 0;
  const nlohmann::json body = e.body;
  Typify(e, body, "", typed);
  return typed;
}

LoupeTensorView ViewOf(const void* data, LoupeDType dtype, const std::vector<std::int64_t>& shape) {
  LoupeTensorView view{};
  view.struct_size = sizeof(view);
  view.dtype = dtype;
  view.ndim = static_cast<std::int32_t>(shape.size());
  view.read_only = 1;
  view.data = const_cast<void*>(data);
  view.shape = shape.data();
  return view;
}

DType CoreDType(LoupeDType dtype) {
  switch (dtype) {
    case LOUPE_DTYPE_F32:
      return DType::kF32;
    case LOUPE_DTYPE_I32:
      return DType::kI32;
    case LOUPE_DTYPE_I64:
      return DType::kI64;
    case LOUPE_DTYPE_U8:
      return DType::kU8;
    default:
      return DType::kF64;
  }
}

// One result_set_tensor call applied the old way (to a JSON body) and the new way (a typed array).
void SetBoth(nlohmann::json& old_body, Explanation& e, const std::string& path, const void* data,
             LoupeDType dtype, const std::vector<std::int64_t>& shape) {
  const LoupeTensorView view = ViewOf(data, dtype, shape);
  old_path::SetPath(old_body, path, old_path::TensorToJson(view, 0, 0));
  Tensor tensor(CoreDType(dtype), Shape(shape.begin(), shape.end()));
  if (tensor.nbytes() > 0) std::memcpy(tensor.raw(), data, tensor.nbytes());
  e.SetArray(path, std::move(tensor));
}

void SetBothJson(nlohmann::json& old_body, Explanation& e, const std::string& path,
                 const nlohmann::json& value) {
  old_path::SetPath(old_body, path, value);
  e.SetField(path, value);
}

// ---- tests ----

TEST(ExplanationWriter, EveryKindIsByteIdenticalToTheOldWriterWithArraysTyped) {
  int typed_total = 0;
  for (const char* kind : kEveryKind) {
    Explanation e = Fixture(kind);
    const std::string expected = old_path::ToJson(e, e.body).dump();
    EXPECT_EQ(report::ExplanationText(e), expected) << kind << " (every field JSON, as read from a file)";
    typed_total += Typify(e);
    EXPECT_EQ(report::ExplanationText(e), expected) << kind << " (numeric arrays typed)";
    EXPECT_EQ(e.ToJson().dump(), expected) << kind;
  }
  EXPECT_GT(typed_total, 20) << "the fixtures should exercise typed arrays";
}

TEST(ExplanationWriter, WritesTheFileWithANewline) {
  Explanation e = Fixture("shap");
  const std::string expected = old_path::ToJson(e, e.body).dump() + "\n";
  ASSERT_GT(Typify(e), 0);
  const fs::path file =
      fs::temp_directory_path() / ("loupe_writer_test_" + std::to_string(::getpid())) / "s.json";
  ASSERT_TRUE(report::WriteExplanationJson(file, e).ok());
  EXPECT_EQ(ReadFile(file), expected);
  fs::remove_all(file.parent_path());
}

TEST(ExplanationWriter, EveryDtypeAndAwkwardNumberMatchesTheOldBuilder) {
  nlohmann::json old_body = nlohmann::json::object();
  Explanation e;
  e.kind = "custom_kind";
  e.step = "s";
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<double> f64 = {0.1,
                                   -0.0,
                                   0.0,
                                   1e-300,
                                   1e21,
                                   123456789.0,
                                   std::nan(""),
                                   inf,
                                   -inf,
                                   5e-324,
                                   1.7976931348623157e308,
                                   0.30000000000000004};
  const std::vector<float> f32 = {0.1f, -2.5f, std::nanf(""), 3.4028235e38f, 1e-45f, 16777217.0f};
  const std::vector<std::int32_t> i32 = {0, -1, 2147483647, -2147483647 - 1};
  const std::vector<std::int64_t> i64 = {0, -7, 9007199254740992, -9007199254740992};
  const std::vector<std::uint8_t> u8 = {0, 1, 255};
  const double scalar = 2.5;
  SetBoth(old_body, e, "f64", f64.data(), LOUPE_DTYPE_F64, {3, 4});
  SetBoth(old_body, e, "f32", f32.data(), LOUPE_DTYPE_F32, {2, 1, 3});
  SetBoth(old_body, e, "i32", i32.data(), LOUPE_DTYPE_I32, {4});
  SetBoth(old_body, e, "stats.i64", i64.data(), LOUPE_DTYPE_I64, {2, 2});
  SetBoth(old_body, e, "stats.deeper.u8", u8.data(), LOUPE_DTYPE_U8, {3});
  SetBothJson(old_body, e, "stats.label", "x");
  SetBoth(old_body, e, "scalar", &scalar, LOUPE_DTYPE_F64, {});
  SetBoth(old_body, e, "empty", f64.data(), LOUPE_DTYPE_F64, {0});
  SetBoth(old_body, e, "empty_rows", f64.data(), LOUPE_DTYPE_F64, {2, 0});
  SetBothJson(old_body, e, "zz_json", nlohmann::json::array({1, 2.5, nullptr, "a"}));
  SetBothJson(old_body, e, "\"quoted\"", 1);
  // Replacing: a tensor by JSON, JSON by a tensor, a tensor's path turned into an object and back.
  SetBoth(old_body, e, "replaced", f64.data(), LOUPE_DTYPE_F64, {2});
  SetBothJson(old_body, e, "replaced", "now text");
  SetBothJson(old_body, e, "retyped", "text first");
  SetBoth(old_body, e, "retyped", f64.data(), LOUPE_DTYPE_F64, {1});
  SetBoth(old_body, e, "grown", f64.data(), LOUPE_DTYPE_F64, {1});
  SetBoth(old_body, e, "grown.inner", f64.data(), LOUPE_DTYPE_F64, {1});
  SetBoth(old_body, e, "shrunk.inner", f64.data(), LOUPE_DTYPE_F64, {1});
  SetBoth(old_body, e, "shrunk", f64.data(), LOUPE_DTYPE_F64, {2});
  // A body field named like a provenance field is not written, typed or not.
  SetBoth(old_body, e, "seed", f64.data(), LOUPE_DTYPE_F64, {1});
  EXPECT_EQ(report::ExplanationText(e), old_path::ToJson(e, old_body).dump());
  EXPECT_EQ(e.ToJson().dump(), old_path::ToJson(e, old_body).dump());
  EXPECT_EQ(e.BodyJson(), old_body);
  EXPECT_EQ(e.TypedArray("grown"), nullptr);
  EXPECT_NE(e.TypedArray("shrunk"), nullptr);
  EXPECT_EQ(e.TypedArray("shrunk.inner"), nullptr);
}

TEST(ExplanationWriter, StringArraysAreWrittenAsNlohmannWritesTheirJson) {
  // Cells that need escapes (quote, backslash, control characters), multi-byte UTF-8, empty cells.
  const std::vector<std::string> cells = {
      "plain", "",  "q\"uote", "back\\slash", "tab\tnew\nline\x01", "\xc3\xa9t\xc3\xa9 \xe2\x82\xac",
      "\x7f",  "NA"};
  std::string chars;
  std::vector<std::uint64_t> ends;
  nlohmann::json rows = nlohmann::json::array();
  for (std::size_t r = 0; r < 4; ++r) {
    rows.push_back(nlohmann::json::array());
    for (std::size_t c = 0; c < 2; ++c) {
      chars += cells[r * 2 + c];
      ends.push_back(chars.size());
      rows.back().push_back(cells[r * 2 + c]);
    }
  }
  nlohmann::json old_body = nlohmann::json::object();
  Explanation e;
  e.kind = "custom_kind";
  e.step = "s";
  old_path::SetPath(old_body, "data", rows);
  e.SetText("data", TextArray({4, 2}, chars, ends));
  old_path::SetPath(old_body, "nested.empty", nlohmann::json::array({nlohmann::json::array()}));
  e.SetText("nested.empty", TextArray({1, 0}, "", {}));
  SetBothJson(old_body, e, "nested.label", "x");
  SetBothJson(old_body, e, "replaced", "json first");
  e.SetText("replaced", TextArray({1}, "t", {1}));
  old_path::SetPath(old_body, "replaced", nlohmann::json::array({"t"}));
  EXPECT_EQ(report::ExplanationText(e), old_path::ToJson(e, old_body).dump());
  EXPECT_EQ(e.ToJson().dump(), old_path::ToJson(e, old_body).dump());
  EXPECT_EQ(e.BodyJson(), old_body);
  ASSERT_NE(e.Text("data"), nullptr);
  EXPECT_EQ(e.Text("data")->at(5), cells[5]);
  EXPECT_TRUE(e.Has("nested.empty"));
  EXPECT_FALSE(e.JsonField("data").has_value());
  EXPECT_FALSE(e.Array("data").has_value());
  SetBothJson(old_body, e, "data", 3);  // JSON replaces a string array
  EXPECT_EQ(e.Text("data"), nullptr);
  EXPECT_EQ(report::ExplanationText(e), old_path::ToJson(e, old_body).dump());
}

TEST(ExplanationWriter, AttributionCsvIsByteIdenticalToTheOldWriter) {
  for (const char* kind : {"shap", "text_shap", "lime"}) {
    Explanation e = Fixture(kind);
    if (e.kind != "feature_attribution") continue;
    const std::string expected = old_path::AttributionCsv(e.body);
    ASSERT_GT(Typify(e), 0) << kind;
    ASSERT_NE(e.TypedArray("values"), nullptr) << kind;
    const fs::path file =
        fs::temp_directory_path() / ("loupe_writer_test_csv_" + std::to_string(::getpid())) / "s.csv";
    ASSERT_TRUE(report::WriteAttributionCsv(file, e).ok()) << kind;
    EXPECT_EQ(ReadFile(file), expected) << kind;
    fs::remove_all(file.parent_path());
  }
}

TEST(ExplanationWriter, TheReportDrawsTypedArraysAsItDrawsTheirJson) {
  const nlohmann::json run = ReadJson(kFixtures / "run.json");
  for (const char* kind : kEveryKind) {
    Explanation e = Fixture(kind);
    const std::string from_json = report::RenderHtmlReport(run, {&e});
    Typify(e);
    EXPECT_EQ(report::RenderHtmlReport(run, {&e}), from_json) << kind;
  }
}

TEST(ExplanationArray, IsTheStoredTensorWhenF64AndAConversionOtherwise) {
  Explanation e = Fixture("shap");
  std::optional<F64Array> from_json = e.Array("values");
  ASSERT_TRUE(from_json.has_value());
  const Shape shape = from_json->shape();
  const std::vector<double> numbers(from_json->data(), from_json->data() + from_json->size());
  ASSERT_GT(Typify(e), 0);
  const Tensor* stored = e.TypedArray("values");
  ASSERT_NE(stored, nullptr);
  std::optional<F64Array> typed = e.Array("values");
  ASSERT_TRUE(typed.has_value());
  EXPECT_EQ(typed->data(), stored->data<double>()) << "an f64 array is read in place";
  EXPECT_EQ(typed->shape(), shape);
  EXPECT_EQ(std::vector<double>(typed->data(), typed->data() + typed->size()), numbers);

  std::optional<F64Array> rows = e.Array("rows");  // i64, converted
  ASSERT_TRUE(rows.has_value());
  EXPECT_EQ(rows->shape(), Shape{static_cast<std::int64_t>(e.body["data"].size())});
  EXPECT_FALSE(e.Array("feature_names").has_value()) << "strings are not numbers";
  EXPECT_FALSE(e.Array("no_such_field").has_value());
  EXPECT_TRUE(e.Array("elapsed_ms").has_value()) << "provenance fields resolve like the document's";
}

TEST(ExplanationValidate, ChecksTypedShapesWithTheSameSentences) {
  Explanation json_form = Fixture("shap");
  Explanation typed = json_form;
  ASSERT_GT(Typify(typed), 0);
  EXPECT_TRUE(ValidateExplanation(typed).ok());

  const long rows = static_cast<long>(json_form.body["rows"].size());
  const long outputs = static_cast<long>(json_form.body["output_names"].size());
  const long features = static_cast<long>(json_form.body["feature_names"].size());
  // The same wrong shape, once as JSON and once typed, must be refused with the same sentence.
  const auto refuse_both = [&](const std::string& field, const Shape& shape) {
    Explanation as_json = json_form, as_typed = typed;
    const Tensor wrong(DType::kF64, shape);
    as_typed.SetArray(field, wrong);
    as_json.SetField(field, TensorToJson(wrong));
    const Status from_json = ValidateExplanation(as_json), from_typed = ValidateExplanation(as_typed);
    EXPECT_FALSE(from_typed.ok()) << field << " " << ShapeToString(shape);
    EXPECT_EQ(from_typed.message(), from_json.message()) << field << " " << ShapeToString(shape);
  };
  refuse_both("values", {rows + 1, outputs, features});
  refuse_both("values", {rows, outputs + 1, features});
  refuse_both("values", {rows, outputs, features + 1});
  refuse_both("base_values", {rows - 1, outputs});
  refuse_both("base_values", {rows, outputs + 2});
  refuse_both("base_values", {rows});
}

}  // namespace
}  // namespace loupe
