// `loupe report DIR`: report.html again from DIR/run.json and the steps' JSON files. A local explainer's
// step of many rows is read as the sample `loupe run` draws for its report (shards::kReportSampleRows), a
// row at a time through a SAX parser, so that neither the whole document nor its rows are ever held: the
// report is the same as the run's, and its memory does not grow with the step's rows.
#include <algorithm>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "loupe/core/explanation.hpp"
#include "loupe/core/report.hpp"
#include "pipeline/row_shards.hpp"
#include "report/html_report.hpp"
#include "report/html_util.hpp"
#include "report/output_files.hpp"

namespace loupe {
namespace {

using Json = nlohmann::json;

// A SAX handler that ignores everything; the readers below override what they look at.
class QuietSax : public nlohmann::json_sax<Json> {
 public:
  bool null() override { return Value(); }
  bool boolean(bool) override { return Value(); }
  bool number_integer(number_integer_t) override { return Value(); }
  bool number_unsigned(number_unsigned_t) override { return Value(); }
  bool number_float(number_float_t, const string_t&) override { return Value(); }
  bool string(string_t&) override { return Value(); }
  bool binary(binary_t&) override { return Value(); }
  bool start_object(std::size_t) override { return Open(); }
  bool key(string_t&) override { return true; }
  bool end_object() override { return Close(); }
  bool start_array(std::size_t) override { return Open(); }
  bool end_array() override { return Close(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    // "[json.exception.parse_error.101] parse error at line 2, column 1: syntax error ..." -> from "line".
    error = e.what();
    if (const auto at = error.find("parse error at "); at != std::string::npos) error.erase(0, at + 15);
    return false;
  }

  std::string error;

 protected:
  // depth: 0 outside the document, 1 inside its top-level object, 2 inside a top-level field's array...
  int depth = 0;
  virtual bool Value() { return true; }
  virtual bool Open() {
    ++depth;
    return true;
  }
  virtual bool Close() {
    --depth;
    return true;
  }
};

// First pass: the document's explainer and the length of each top-level array field.
class Survey final : public QuietSax {
 public:
  std::string explainer;
  std::map<std::string, std::int64_t> array_lengths;

  bool key(string_t& name) override {
    if (depth == 1) field_ = name;
    return true;
  }
  bool string(string_t& text) override {
    if (depth == 1 && field_ == "explainer") explainer = text;
    return Value();
  }
  bool start_array(std::size_t) override {
    Value();
    if (depth == 1) {
      counting_ = true;
      array_lengths[field_] = 0;
    }
    return Open();
  }
  bool end_array() override {
    if (depth == 2) counting_ = false;
    return Close();
  }
  bool start_object(std::size_t) override {
    Value();
    return Open();
  }

 private:
  bool Value() override {  // one more entry of the top-level array being counted
    if (depth == 2 && counting_) ++array_lengths[field_];
    return true;
  }

  std::string field_;
  bool counting_ = false;
};

// Second pass: the document as JSON, each of the `sampled` top-level arrays cut to its entries 0, every,
// 2 every, ... (the rows of the others are skipped as they are parsed).
class SampledDocument final : public QuietSax {
 public:
  SampledDocument(std::vector<std::string> sampled, std::int64_t every)
      : sampled_(std::move(sampled)), every_(every) {}

  Json document;

  bool null() override { return Put(nullptr); }
  bool boolean(bool value) override { return Put(value); }
  bool number_integer(number_integer_t value) override { return Put(value); }
  bool number_unsigned(number_unsigned_t value) override { return Put(value); }
  bool number_float(number_float_t value, const string_t&) override { return Put(value); }
  bool string(string_t& value) override { return Put(std::move(value)); }
  bool binary(binary_t& value) override { return Put(Json::binary(std::move(value))); }
  bool key(string_t& name) override {
    if (skipping_ == 0) key_ = name;
    if (depth == 1) field_ = name;
    return true;
  }
  bool start_object(std::size_t) override { return Enter(Json::object()); }
  bool start_array(std::size_t) override { return Enter(Json::array()); }
  bool end_object() override { return Leave(); }
  bool end_array() override { return Leave(); }

 private:
  // Whether the next value at depth 2 is a row the sample drops (and counts the rows of a sampled array).
  bool DropsRow() {
    if (depth != 2 || !sampling_) return false;
    return row_++ % every_ != 0;
  }
  template <typename Value>
  bool Put(Value&& value) {
    if (skipping_ > 0 || DropsRow()) return true;
    Place(Json(std::forward<Value>(value)));
    return true;
  }
  bool Enter(Json container) {
    if (skipping_ > 0 || DropsRow()) {
      ++skipping_;
      return Open();
    }
    if (depth == 1) {
      sampling_ =
          container.is_array() && std::find(sampled_.begin(), sampled_.end(), field_) != sampled_.end();
      row_ = 0;
    }
    open_.push_back(Place(std::move(container)));
    return Open();
  }
  bool Leave() {
    if (skipping_ > 0) {
      --skipping_;
    } else {
      open_.pop_back();
    }
    return Close();
  }
  // Puts `value` into the innermost open container (or makes it the document) and returns where it is.
  Json* Place(Json value) {
    if (open_.empty()) {
      document = std::move(value);
      return &document;
    }
    Json& parent = *open_.back();
    if (parent.is_object()) return &(parent[key_] = std::move(value));
    parent.push_back(std::move(value));
    return &parent.back();
  }

  std::vector<std::string> sampled_;
  std::int64_t every_;
  std::vector<Json*> open_;
  std::string key_, field_;
  int skipping_ = 0;  // > 0: inside a dropped row, that many containers deep
  bool sampling_ = false;
  std::int64_t row_ = 0;
};

Status Parse(const std::filesystem::path& path, QuietSax& handler) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return IoError("cannot read '" + path.string() + "'.");
  if (!Json::sax_parse(in, &handler)) {
    return InvalidArgument("'" + path.string() + "' is not valid JSON" +
                           (handler.error.empty() ? "." : ": " + handler.error + "."));
  }
  return Status::Ok();
}

// A step's document as the report reads it, and which sample of its rows it holds (every = 1: all).
struct ReportDocument {
  Json json;
  std::int64_t every = 1, of = 0;
};

Result<ReportDocument> ReadForReport(const std::filesystem::path& path) {
  Survey survey;
  LOUPE_RETURN_IF_ERROR(Parse(path, survey));
  const auto rows = survey.array_lengths.find("rows");
  ReportDocument out;
  std::vector<std::string> sampled;
  if (shards::SplitsByRows(survey.explainer) && rows != survey.array_lengths.end()) {
    out.every = shards::ReportSampleEvery(rows->second);
    for (const auto& [field, length] : survey.array_lengths) {
      if (shards::IsPerRowField(field) && length == rows->second) sampled.push_back(field);
    }
  }
  if (out.every > 1) out.of = rows->second;
  SampledDocument reader(std::move(sampled), out.every);
  LOUPE_RETURN_IF_ERROR(Parse(path, reader));
  out.json = std::move(reader.document);
  return out;
}

}  // namespace

Status RenderReportDirectory(const std::filesystem::path& dir) {
  LOUPE_ASSIGN_OR_RETURN(ReportDocument run, ReadForReport(dir / "run.json"));
  std::vector<Explanation> explanations;
  Json no_steps = Json::array();
  Json& steps = run.json.is_object() && run.json.contains("steps") ? run.json["steps"] : no_steps;
  for (Json& step : steps.is_array() ? steps : no_steps) {
    if (report::TextMember(step, "status") != "ok") continue;
    const std::filesystem::path file = dir / (report::TextMember(step, "id") + ".json");
    LOUPE_ASSIGN_OR_RETURN(ReportDocument document, ReadForReport(file));
    Result<Explanation> explanation = Explanation::FromJson(document.json);
    if (!explanation.ok())
      return InvalidArgument("'" + file.string() + "': " + explanation.status().message());
    if (document.every > 1) step["report_sample"] = {{"every", document.every}, {"of", document.of}};
    explanations.push_back(std::move(*explanation));
  }
  std::vector<const Explanation*> pointers;
  for (const Explanation& e : explanations) pointers.push_back(&e);
  return report::WriteFileAtomically(dir / "report.html", report::RenderHtmlReport(run.json, pointers));
}

}  // namespace loupe
