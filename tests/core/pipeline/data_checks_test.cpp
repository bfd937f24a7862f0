// The pieces of the complete validation that need no plugin: the CSV profile (header, row count, distinct
// values), the run's one read of the CSV that gives the same profile and the same data set, label matching,
// label parameters, and the writers' temporary files.
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "data/csv_read.hpp"
#include "loupe/core/dataset.hpp"
#include "loupe/core/plugin.hpp"
#include "pipeline/validate.hpp"
#include "report/output_files.hpp"

namespace loupe {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class DataChecksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("loupe-data-checks-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name, std::ios::binary) << text;
    return dir_ / name;
  }
  fs::path dir_;
};

TEST_F(DataChecksTest, ProfileReadsHeaderRowCountAndDistinctValuesOfTheAskedColumns) {
  const fs::path csv = Write("d.csv", "a,b,\"c,d\"\n1,x,\"q\nr\"\n2,NA,s\n3,x,\n");
  Result<DataProfile> profile = ProfileCsv(csv, {"NA", ""}, {"b", "c,d"});
  ASSERT_TRUE(profile.ok()) << profile.status().message();
  EXPECT_THAT(profile->columns, ElementsAre("a", "b", "c,d"));
  EXPECT_EQ(profile->rows, 3);
  EXPECT_THAT(profile->values["b"], ElementsAre("x"));  // NA is missing
  EXPECT_THAT(profile->values["c,d"], ElementsAre("q\nr", "s"));
  EXPECT_EQ(profile->values.count("a"), 0u);  // not asked for
}

TEST_F(DataChecksTest, ProfileRefusesEmptyRaggedAndRowlessFiles) {
  EXPECT_THAT(ProfileCsv(Write("e.csv", ""), {}, {}).status().message(), HasSubstr("the file is empty"));
  EXPECT_THAT(ProfileCsv(Write("h.csv", "a,b\n"), {}, {}).status().message(), HasSubstr("no data rows"));
  EXPECT_THAT(ProfileCsv(Write("r.csv", "a,b\n1,2\n3\n"), {}, {}).status().message(),
              HasSubstr("r.csv:3: the record has 1 fields, the header 2"));
  EXPECT_FALSE(ProfileCsv(dir_ / "absent.csv", {}, {}).ok());
}

// Two data sets hold the same columns (names, types, levels in order), the same values bit for bit (NaN
// included), texts, missing flags and row index.
void ExpectSameDataset(const Dataset& a, const Dataset& b) {
  ASSERT_EQ(a.num_columns(), b.num_columns());
  EXPECT_EQ(a.num_rows(), b.num_rows());
  EXPECT_EQ(a.source(), b.source());
  for (std::size_t i = 0; i < static_cast<std::size_t>(a.num_columns()); ++i) {
    const Column& x = a.column(i);
    const Column& y = b.column(i);
    SCOPED_TRACE(x.name());
    EXPECT_EQ(x.name(), y.name());
    EXPECT_EQ(x.type(), y.type());
    EXPECT_EQ(x.schema().levels, y.schema().levels);
    ASSERT_EQ(x.values().size(), y.values().size());
    if (!x.values().empty()) {  // a text column holds no values (and memcmp takes no null pointer)
      EXPECT_EQ(std::memcmp(x.values().data(), y.values().data(), x.values().size() * sizeof(double)), 0);
    }
    EXPECT_EQ(x.text(), y.text());
    EXPECT_EQ(x.missing(), y.missing());
  }
  EXPECT_EQ(a.row_index().every, b.row_index().every);
  EXPECT_EQ(a.row_index().offsets, b.row_index().offsets);
  EXPECT_EQ(a.row_index().lines, b.row_index().lines);
}

// A file where every way a column is typed and kept meets: numbers spelt two ways in the target, a
// category whose levels come in no sorted order (a missing cell among them), numbers that turn to a
// word in the last row (a column the reader reads again for its text), long distinct text, a column
// forced categorical whose levels are numbers, and quoted cells.
std::string MixedCsv() {
  std::string csv = "x,g,late,note,code,y\n";
  const char* groups[] = {"b", "a", "NA", "c", "\"a,b\""};
  for (int i = 0; i < 40; ++i) {
    csv += std::to_string(i % 7 == 3 ? -1 : i) + "." + std::to_string(i % 3) + ",";
    csv += std::string(groups[i % 5]) + ",";
    csv += (i == 39 ? std::string("abc") : std::to_string(i * 3)) + ",";
    csv += "\"a note of some length, number " + std::to_string(i) + "\",";
    csv += std::string(i % 4 == 0 ? "10" : i % 4 == 1 ? "2" : i % 4 == 2 ? "1.0" : "1") + ",";
    csv += std::string(i % 3 == 0 ? "1" : i % 3 == 1 ? "1.0" : "0") + "\n";
  }
  return csv;
}

// ReadCsvWithValues, the pass `loupe run`'s validation makes, gives ReadCsv's data set and ProfileCsv's
// values with the run's options, whether the features are held or not (chunked input).
TEST_F(DataChecksTest, TheRunsOneReadGivesTheReadersDataSetAndTheProfilesValues) {
  const fs::path csv = Write("mixed.csv", MixedCsv());
  const std::set<std::string> asked = {"x", "g", "late", "note", "code", "y"};
  Result<DataProfile> profile = ProfileCsv(csv, {"NA", ""}, asked);
  ASSERT_TRUE(profile.ok()) << profile.status().message();
  DataSpec spec;
  spec.path = csv;
  spec.target = "y";
  spec.categorical = {"code"};
  spec.sensitive = {"g"};
  for (const std::int64_t index_every : {std::int64_t{0}, std::int64_t{4}}) {
    SCOPED_TRACE(index_every);
    const CsvOptions options = RunCsvOptions(spec, index_every);
    Result<Dataset> read = ReadCsv(csv, options);
    ASSERT_TRUE(read.ok()) << read.status().message();
    std::map<std::string, std::set<std::string>> values;
    Result<Dataset> once = data::ReadCsvWithValues(csv, options, asked, &values);
    ASSERT_TRUE(once.ok()) << once.status().message();
    ExpectSameDataset(*read, *once);
    EXPECT_EQ(values, profile->values);
    EXPECT_EQ(once->num_rows(), profile->rows);
  }
  // What the values hold: each spelling as written, never a missing token.
  EXPECT_THAT(profile->values["y"], ElementsAre("0", "1", "1.0"));
  EXPECT_THAT(profile->values["g"], ElementsAre("a", "a,b", "b", "c"));
}

// The levels of the one read keep their documented order (sorted: by bytes, or numerically when every
// level is a number, ties by bytes) and the codes their values, whatever order the rows meet them in.
TEST_F(DataChecksTest, TheOneReadKeepsTheLevelsSortedAndTheCodes) {
  const fs::path csv = Write("levels.csv", "g,code,late\nb,10,1\na,2,2\nNA,1.0,NA\nc,1,b\nb,2,a\n");
  DataSpec spec;
  spec.path = csv;
  spec.categorical = {"code"};
  std::map<std::string, std::set<std::string>> values;
  Result<Dataset> once = data::ReadCsvWithValues(csv, RunCsvOptions(spec, 0), {"late"}, &values);
  ASSERT_TRUE(once.ok()) << once.status().message();
  const Column& g = *once->Find("g");
  EXPECT_THAT(g.schema().levels, ElementsAre("a", "b", "c"));
  EXPECT_EQ(g.values()[0], 1.0);
  EXPECT_EQ(g.values()[1], 0.0);
  EXPECT_TRUE(std::isnan(g.values()[2]));
  EXPECT_EQ(g.values()[3], 2.0);
  EXPECT_EQ(g.values()[4], 1.0);
  const Column& code = *once->Find("code");
  EXPECT_THAT(code.schema().levels, ElementsAre("1", "1.0", "2", "10"));
  EXPECT_THAT(code.values(), ElementsAre(3.0, 2.0, 1.0, 0.0, 2.0));
  const Column& late = *once->Find("late");  // numbers, then words: read again, categorical
  EXPECT_EQ(late.type(), ColumnType::kCategorical);
  EXPECT_THAT(late.schema().levels, ElementsAre("1", "2", "a", "b"));
  EXPECT_THAT(values["late"], ElementsAre("1", "2", "a", "b"));
}

// A file the reader refuses: ReadCsvWithValues fails with ReadCsv's sentence (validation then profiles
// the file for its own sentences, and the run reads it again and fails as without the one read).
TEST_F(DataChecksTest, TheOneReadFailsWithTheReadersSentence) {
  const char* files[] = {"a,b,a\n1,2,3\n", "a,b\n1,2\n3\n", "a,b\n", "", "a,b\n\"1,2\n"};
  DataSpec spec;
  for (const char* text : files) {
    SCOPED_TRACE(text);
    const fs::path csv = Write("bad.csv", text);
    spec.path = csv;
    std::map<std::string, std::set<std::string>> values;
    const Status once = data::ReadCsvWithValues(csv, RunCsvOptions(spec, 0), {"a"}, &values).status();
    const Status read = ReadCsv(csv, RunCsvOptions(spec, 0)).status();
    ASSERT_FALSE(read.ok());
    EXPECT_EQ(once.code(), read.code());
    EXPECT_EQ(once.message(), read.message());
  }
}

// ValidatePipeline reads the data set only when a run asks (loupe validate does not hold it), and the
// checks it makes from that read equal those of the scan: data.positive is spelt as the data spells it.
TEST_F(DataChecksTest, ValidationHoldsTheDataOnlyForARunAndChecksTheSame) {
  Write("mixed.csv", MixedCsv());
  Write("m.yaml",
        "format: loupe.model/v1\nname: m\ntask: classification\nclasses: ['0', '1']\ninputs:\n"
        "  - {name: x, type: numeric}\nlayers:\n"
        "  - {type: linear, in_features: 1, out_features: 1, weight: [[0.5]], bias: [0.1]}\n"
        "  - {type: sigmoid}\n");
  const std::string text =
      "version: 1\ndata: {path: mixed.csv, target: y, positive: 1, features: [x], "
      "categorical: [code], sensitive: [g]}\nmodel: {path: m.yaml}\nsteps:\n"
      "  - {id: s, explainer: none.such}\n";
  PluginRegistry registry;  // no explainer: its step is refused, the data and the model still checked
  std::vector<std::vector<std::string>> messages;
  std::vector<std::string> positives;
  for (const bool read_data : {false, true}) {
    ParseOutcome parsed = ParsePipelineText(text, dir_ / "p.yaml");
    ASSERT_TRUE(parsed.spec) << (parsed.diagnostics.empty() ? "" : parsed.diagnostics[0].ToString());
    const PipelineCheck check = ValidatePipeline(*parsed.spec, registry, {.read_data = read_data});
    EXPECT_EQ(check.data != nullptr, read_data);
    std::vector<std::string> lines;
    for (const Diagnostic& diagnostic : check.diagnostics) lines.push_back(diagnostic.ToString());
    messages.push_back(lines);
    positives.push_back(parsed.spec->data.positive.value_or(""));
    if (check.data) {
      Result<Dataset> read = ReadCsv(dir_ / "mixed.csv", RunCsvOptions(parsed.spec->data, 0));
      ASSERT_TRUE(read.ok());
      ExpectSameDataset(*read, *check.data);
    }
  }
  EXPECT_EQ(messages[0], messages[1]);
  ASSERT_EQ(messages[1].size(), 1u);
  EXPECT_THAT(messages[1][0], HasSubstr("unknown explainer 'none.such'"));
  EXPECT_EQ(positives[0], "1");
  EXPECT_EQ(positives[1], "1");
}

// Sets LOUPE_CHUNKED_INPUT (null: unsets it) for one scope, restoring what it was.
class ChunkedInputEnv {
 public:
  explicit ChunkedInputEnv(const char* value) {
    if (const char* old = std::getenv("LOUPE_CHUNKED_INPUT")) old_ = old;
    Set(value);
  }
  ~ChunkedInputEnv() { Set(old_ ? old_->c_str() : nullptr); }
  ChunkedInputEnv(const ChunkedInputEnv&) = delete;
  ChunkedInputEnv& operator=(const ChunkedInputEnv&) = delete;

 private:
  static void Set(const char* value) {
    if (value != nullptr) {
      ::setenv("LOUPE_CHUNKED_INPUT", value, 1);
    } else {
      ::unsetenv("LOUPE_CHUNKED_INPUT");
    }
  }
  std::optional<std::string> old_;
};

// Chunked input (docs/architecture.md §5) is decided before the data is read, from the pipeline and the data
// file's size: a file under kChunkedInputMinBytes is held whole, one of that size or more is read in chunks
// (a sparse file of each size: only the size is read); LOUPE_CHUNKED_INPUT=on chunks a file of any size and
// =off none, and any other value is as if unset. A step that reads rows other than its own, --isolate and a
// file whose size cannot be read keep their rules.
TEST_F(DataChecksTest, ChunkedInputIsDecidedFromTheDataFilesSize) {
  const fs::path small = dir_ / "small.csv", large = dir_ / "large.csv";
  Write("small.csv", "");
  Write("large.csv", "");
  fs::resize_file(small, kChunkedInputMinBytes - 1);
  fs::resize_file(large, kChunkedInputMinBytes);
  PipelineSpec spec;
  StepSpec step;
  step.id = "s";
  step.explainer = "shap.permutation";
  spec.steps.push_back(step);
  const auto decided = [&](const fs::path& path) {
    spec.data.path = path;
    return RunIndexEvery(spec, false);
  };
  {
    const ChunkedInputEnv unset(nullptr);
    EXPECT_EQ(decided(small), 0);
    EXPECT_EQ(decided(large), 256);
    EXPECT_EQ(decided(dir_ / "absent.csv"), 256);  // the read says why it cannot be read
    spec.data.path = large;
    EXPECT_EQ(RunIndexEvery(spec, true), 0);
  }
  {
    const ChunkedInputEnv on("on");
    EXPECT_EQ(decided(small), 256);
    EXPECT_EQ(decided(large), 256);
  }
  {
    const ChunkedInputEnv off("off");
    EXPECT_EQ(decided(small), 0);
    EXPECT_EQ(decided(large), 0);
  }
  {
    const ChunkedInputEnv other("yes");
    EXPECT_EQ(decided(small), 0);
    EXPECT_EQ(decided(large), 256);
  }
  // A step that reads every row (a {kmeans: K} background), or one that needs another: never chunked.
  spec.steps[0].params = {{"background", {{"kmeans", 5}}}};
  {
    const ChunkedInputEnv on("on");
    EXPECT_EQ(decided(large), 0);
  }
  spec.steps[0].params = nlohmann::json::object();
  step.id = "t";
  step.needs = {"s"};
  spec.steps.push_back(step);
  {
    const ChunkedInputEnv on("on");
    EXPECT_EQ(decided(large), 0);
  }
}

TEST(FindLabelTest, MatchesTextNumbersAndBooleansAsTheDataSpellsThem) {
  const std::set<std::string> values = {"0", "1.0", "True", "bad"};
  EXPECT_EQ(FindLabel(values, "bad"), "bad");
  EXPECT_EQ(FindLabel(values, "1"), "1.0");
  EXPECT_EQ(FindLabel(values, "0.0"), "0");
  EXPECT_EQ(FindLabel(values, "true"), "True");
  EXPECT_EQ(FindLabel(values, "Bad"), "");  // text is matched exactly
  EXPECT_EQ(FindLabel(values, "2"), "");
}

TEST(LabelParamTest, AcceptsStringsNumbersAndBooleansAndHandsThePluginText) {
  ParamSpec favorable;
  favorable.name = "favorable";
  favorable.type = ParamType::kString;
  favorable.role = ParamRole::kLabel;
  EXPECT_TRUE(CheckParamValue(favorable, "yes").ok());
  EXPECT_TRUE(CheckParamValue(favorable, 1).ok());
  EXPECT_TRUE(CheckParamValue(favorable, true).ok());
  EXPECT_THAT(CheckParamValue(favorable, nlohmann::json::array({1})).message(),
              HasSubstr("must be a class label (a string, a number or a boolean)"));
  ParamSpec plain = favorable;
  plain.role = ParamRole::kNone;
  EXPECT_FALSE(CheckParamValue(plain, 1).ok());  // an ordinary string parameter still wants a string

  ExplainerDescriptor descriptor;
  descriptor.name = "fairness.group";
  descriptor.params = {favorable};
  StepSpec step;
  step.id = "f";
  step.params = {{"favorable", 1}};
  EXPECT_TRUE(ValidateStepParams(step, descriptor).empty());
  EXPECT_EQ(step.params["favorable"], "1");
}

TEST_F(DataChecksTest, TemporaryFilesAreRecognisableAndStaleOnesAreRemoved) {
  EXPECT_TRUE(report::IsTemporaryOutput(".shap.json.loupe-tmp.123.0"));
  EXPECT_FALSE(report::IsTemporaryOutput("shap.json"));
  EXPECT_FALSE(report::IsTemporaryOutput(".hidden"));
  ASSERT_TRUE(report::WriteFileAtomically(dir_ / "a.json", "{}\n").ok());
  // A writer that is gone (a pid far beyond pid_max) and one that still runs (this process).
  Write(".a.json.loupe-tmp.2147483646.0", "{");
  Write(".b.json.loupe-tmp." + std::to_string(::getppid()) + ".0", "{");
  EXPECT_EQ(report::RemoveStaleTemporaries(dir_), 1);
  EXPECT_FALSE(fs::exists(dir_ / ".a.json.loupe-tmp.2147483646.0"));
  EXPECT_TRUE(fs::exists(dir_ / (".b.json.loupe-tmp." + std::to_string(::getppid()) + ".0")));
  EXPECT_TRUE(fs::exists(dir_ / "a.json"));
}

}  // namespace
}  // namespace loupe
