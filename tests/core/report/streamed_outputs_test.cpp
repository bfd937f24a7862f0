// A streamed step's outputs (docs/architecture.md §5 "Streamed steps"): per-row fields appended chunk by
// chunk to files (report/row_spill.hpp), the JSON written with them read back, the CSV in pieces. Each is
// compared byte for byte with what the unstreamed writers produce for the whole explanation.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "loupe/core/explanation.hpp"
#include "report/npy_files.hpp"
#include "report/output_files.hpp"
#include "report/row_spill.hpp"

namespace loupe {
namespace {

namespace fs = std::filesystem;

std::string FileBytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

constexpr std::int64_t kRows = 10, kOutputs = 2, kFeatures = 3;

// Cells of `data` with quotes, backslashes, control characters and non-ASCII text, so that the JSON
// escapes and the .npy width (in code points) are exercised.
std::string DataCell(std::int64_t r, std::int64_t f) {
  if (r == 3 && f == 1) return "quote \" and \\ back";
  if (r == 7 && f == 0) return "tab\there";
  if (r == 8 && f == 2) return "日本語😀é";
  if (r == 9 && f == 1) return "";
  return std::to_string(r * 10 + f) + (f == 2 ? "x" : "");
}

// A feature_attribution over rows [begin, end) of the whole step, as a chunk of it would be.
Explanation Attribution(std::int64_t begin, std::int64_t end) {
  Explanation e;
  e.kind = "feature_attribution";
  e.step = "stream";
  e.explainer = "shap.tree";
  e.plugin_name = "shap";
  e.plugin_version = "1.0";
  e.params = {{"output", "raw"}};
  e.seed = 11;
  e.elapsed_ms = 12.5;
  e.quality = {{"additivity_residual", 1e-12}, {"trees", 3}};
  e.SetField("feature_names", {"a", "b,c", "d"});
  e.SetField("output_names", {"no", "yes"});
  const std::int64_t n = end - begin;
  std::vector<std::int64_t> rows;
  std::vector<double> base, values;
  std::string chars;
  std::vector<std::uint64_t> ends;
  for (std::int64_t r = begin; r < end; ++r) {
    rows.push_back(100 + r);
    for (std::int64_t o = 0; o < kOutputs; ++o) {
      base.push_back(0.25 * static_cast<double>(o) - 1.0 / 3.0);
      for (std::int64_t f = 0; f < kFeatures; ++f) {
        double v = std::sin(static_cast<double>(r * 7 + o * 3 + f)) / 7.0;
        if (r == 2 && f == 0) v = std::numeric_limits<double>::quiet_NaN();
        if (r == 4 && f == 1) v = -0.0;
        if (r == 5 && f == 2) v = 1e300;
        if (r == 6 && o == 1) v = std::numeric_limits<double>::infinity();
        values.push_back(v);
      }
    }
    for (std::int64_t f = 0; f < kFeatures; ++f) {
      chars += DataCell(r, f);
      ends.push_back(chars.size());
    }
  }
  e.SetArray("rows", Tensor::FromVector<std::int64_t>(rows, {n}));
  e.SetArray("base_values", Tensor::FromVector<double>(base, {n, kOutputs}));
  e.SetArray("values", Tensor::FromVector<double>(values, {n, kOutputs, kFeatures}));
  e.SetText("data", TextArray({n, kFeatures}, chars, ends));
  e.SetArray("stats.mean", Tensor::FromVector<float>({0.5F, -2.0F}, {2}));  // not per row: stays in memory
  return e;
}

const std::vector<std::string> kPerRow = {"base_values", "data", "rows", "values"};

class StreamedOutputsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("loupe_stream_test_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "whole");
    fs::create_directories(dir_ / "streamed");
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Rows [0, 10) in chunks of 4, 4 and 2, appended to `spill`.
  static void AppendChunks(report::RowSpill& spill) {
    for (const auto& [begin, end] : {std::pair<std::int64_t, std::int64_t>{0, 4}, {4, 8}, {8, 10}}) {
      ASSERT_TRUE(spill.Append(Attribution(begin, end), kPerRow).ok());
    }
  }

  fs::path dir_;
};

TEST_F(StreamedOutputsTest, TheJsonWithSpilledFieldsIsByteIdenticalToTheWholeExplanations) {
  const Explanation whole = Attribution(0, kRows);
  report::RowSpill spill(dir_ / "streamed", "stream", kRows);
  AppendChunks(spill);
  Result<report::SpilledArrays> spilled = spill.Finish();
  ASSERT_TRUE(spilled.ok()) << spilled.status().message();
  ASSERT_EQ(spilled->size(), 4u);
  EXPECT_TRUE(spilled->at("data").text);
  EXPECT_EQ(spilled->at("values").shape, (Shape{kRows, kOutputs, kFeatures}));
  // The explanation in memory holds 2 of the rows (a sample, as for the report); the files hold all 10.
  const Explanation sample = Attribution(3, 5);
  std::ostringstream streamed;
  ASSERT_TRUE(report::WriteExplanation(streamed, sample, *spilled).ok());
  EXPECT_EQ(streamed.str(), report::ExplanationText(whole));
  EXPECT_EQ(streamed.str(), whole.ToJson().dump());
  // Without spilled fields the sample is written as it is.
  std::ostringstream plain;
  ASSERT_TRUE(report::WriteExplanation(plain, sample, {}).ok());
  EXPECT_EQ(plain.str(), report::ExplanationText(sample));
}

TEST_F(StreamedOutputsTest, NpyFilesFromTheSpillAreByteIdenticalToTheWholeArrays) {
  const Explanation whole = Attribution(0, kRows);
  std::vector<fs::path> files;
  ASSERT_TRUE(report::WriteExplanationNpy(dir_ / "whole", whole, files).ok());
  {
    report::RowSpill spill(dir_ / "streamed", "stream", kRows);
    AppendChunks(spill);
    ASSERT_TRUE(spill.Finish().ok());
    for (const std::string& field : kPerRow) {
      fs::path written;
      ASSERT_TRUE(spill.WriteNpy(field, written).ok()) << field;
      EXPECT_EQ(written, dir_ / "streamed" / ("stream." + field + ".npy"));
      EXPECT_EQ(FileBytes(written), FileBytes(dir_ / "whole" / ("stream." + field + ".npy"))) << field;
    }
    // The .npy of data is as wide as its longest cell in code points: "quote \" and \\ back", 18.
    EXPECT_NE(FileBytes(dir_ / "streamed" / "stream.data.npy").find("'<U18'"), std::string::npos);
  }
  // Once the spill is gone nothing else is left in the folder: the string spill file was a temporary.
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir_ / "streamed"))
    names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"stream.base_values.npy", "stream.data.npy", "stream.rows.npy",
                                             "stream.values.npy"}));
}

TEST_F(StreamedOutputsTest, AnUnfinishedSpillLeavesNoFileBehind) {
  {
    report::RowSpill spill(dir_ / "streamed", "stream", kRows);
    ASSERT_TRUE(spill.Append(Attribution(0, 4), kPerRow).ok());
    EXPECT_EQ(std::distance(fs::directory_iterator(dir_ / "streamed"), fs::directory_iterator()), 4);
    const Result<report::SpilledArrays> spilled = spill.Finish();
    ASSERT_FALSE(spilled.ok());
    EXPECT_EQ(spilled.status().message(),
              "field 'base_values' of step 'stream' got 4 rows of the step's 10, shape [10, 2].");
  }
  EXPECT_TRUE(fs::is_empty(dir_ / "streamed"));
}

TEST_F(StreamedOutputsTest, AChunkThatDoesNotFitIsRefusedWithTheField) {
  report::RowSpill spill(dir_ / "streamed", "stream", kRows);
  ASSERT_TRUE(spill.Append(Attribution(0, 4), kPerRow).ok());
  Explanation other = Attribution(4, 8);
  other.SetArray("values", Tensor::FromVector<float>(std::vector<float>(4 * 2 * 3, 1.0F), {4, 2, 3}));
  const Status status = spill.Append(other, kPerRow);
  EXPECT_EQ(status.code(), StatusCode::kInternal);
  EXPECT_EQ(
      status.message(),
      "field 'values' of step 'stream' changes its type or trailing extents between chunks, so it cannot "
      "be streamed.");
  const Status too_many = spill.Append(Attribution(0, 7), {"rows"});
  EXPECT_EQ(too_many.message(), "field 'rows' of step 'stream' has more rows than the step's 10.");
}

TEST_F(StreamedOutputsTest, AttributionCsvInPiecesIsByteIdenticalToTheWholeCsv) {
  const Explanation whole = Attribution(0, kRows);
  ASSERT_TRUE(report::WriteAttributionCsv(dir_ / "whole.csv", whole).ok());
  std::ostringstream pieces;
  ASSERT_TRUE(report::WriteAttributionCsvHeader(pieces, Attribution(0, 4)).ok());
  for (const auto& [begin, end] : {std::pair<std::int64_t, std::int64_t>{0, 4}, {4, 8}, {8, 10}}) {
    ASSERT_TRUE(report::WriteAttributionCsvRows(pieces, Attribution(begin, end)).ok());
  }
  EXPECT_EQ(pieces.str(), FileBytes(dir_ / "whole.csv"));
}

TEST_F(StreamedOutputsTest, AnAtomicFileIsInPlaceOnlyOnceCommitted) {
  const fs::path path = dir_ / "streamed" / "out.csv";
  {
    Result<std::unique_ptr<report::AtomicFile>> file = report::AtomicFile::Open(path);
    ASSERT_TRUE(file.ok());
    (*file)->out() << "first";
    ASSERT_TRUE((*file)->Flush().ok());
    EXPECT_TRUE(report::IsTemporaryOutput((*file)->temporary()));
    EXPECT_EQ(FileBytes((*file)->temporary()), "first");
    EXPECT_FALSE(fs::exists(path));
  }
  EXPECT_TRUE(fs::is_empty(dir_ / "streamed"));  // dropped without Commit: gone
  Result<std::unique_ptr<report::AtomicFile>> file = report::AtomicFile::Open(path);
  ASSERT_TRUE(file.ok());
  (*file)->out() << "second";
  ASSERT_TRUE((*file)->Commit().ok());
  EXPECT_EQ(FileBytes(path), "second");
}

}  // namespace
}  // namespace loupe
