// The .npy writer: headers byte for byte what numpy.save writes (the expected headers below were printed
// by numpy 1.24's np.save for the same dtype and shape), data in C order, strings as UTF-32.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "loupe/core/explanation.hpp"
#include "report/npy_files.hpp"

namespace loupe {
namespace {

namespace fs = std::filesystem;

std::string NumpyHeader(const std::string& dict_and_growth_spaces) {
  std::string header =
      std::string("\x93NUMPY\x01\x00", 8) + std::string("\x76\x00", 2) + dict_and_growth_spaces;
  header.append(127 - header.size(), ' ');
  return header + "\n";
}

std::string ReadNpyFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

class NpyFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("loupe_npy_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST(NpyHeader, EqualsNumpySaveForMatricesVectorsAndScalars) {
  EXPECT_EQ(report::NpyHeader("<f8", {2, 3}),
            NumpyHeader("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }"));
  EXPECT_EQ(report::NpyHeader("<i8", {3}),
            NumpyHeader("{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }"));
  EXPECT_EQ(report::NpyHeader("<U3", {3}),
            NumpyHeader("{'descr': '<U3', 'fortran_order': False, 'shape': (3,), }"));
  EXPECT_EQ(report::NpyHeader("<f8", {}),
            NumpyHeader("{'descr': '<f8', 'fortran_order': False, 'shape': (), }"));
}

TEST(NpyHeader, IsPaddedToSixtyFourBytesForLongShapes) {
  const std::string header = report::NpyHeader("<f4", {1000000, 2, 30, 4, 5, 6, 7, 8, 9, 10, 11});
  EXPECT_EQ(header.size() % 64, 0u);
  EXPECT_EQ(header.back(), '\n');
  const auto length = static_cast<std::size_t>(static_cast<unsigned char>(header[8])) |
                      static_cast<std::size_t>(static_cast<unsigned char>(header[9])) << 8;
  EXPECT_EQ(length + 10, header.size());
}

TEST_F(NpyFilesTest, NumericArraysFollowTheHeaderInCOrder) {
  Tensor values = Tensor::FromVector<double>({0.5, -1, 2, 3, 4e300, -0.0}, {2, 3});
  ASSERT_TRUE(report::WriteNpy(dir_ / "v.npy", values).ok());
  const std::string file = ReadNpyFile(dir_ / "v.npy");
  const std::string header = report::NpyHeader("<f8", {2, 3});
  ASSERT_EQ(file.size(), header.size() + 6 * sizeof(double));
  EXPECT_EQ(file.substr(0, header.size()), header);
  EXPECT_EQ(std::memcmp(file.data() + header.size(), values.raw(), 6 * sizeof(double)), 0);

  Tensor codes = Tensor::FromVector<std::int64_t>({7, -8}, {2});
  ASSERT_TRUE(report::WriteNpy(dir_ / "c.npy", codes).ok());
  EXPECT_EQ(ReadNpyFile(dir_ / "c.npy").substr(0, 128), report::NpyHeader("<i8", {2}));
}

TEST_F(NpyFilesTest, StringsAreFixedWidthUtf32OfTheLongestCell) {
  const std::string chars =
      "a\xC3\xA9t\xC3\xA9\xE6\x97\xA5\xF0\x9F\x98\x80x\xFFy";  // a | été | 日😀x | \xFF y
  const TextArray text({4}, chars, {1, 6, 14, 16});
  ASSERT_TRUE(report::WriteNpy(dir_ / "t.npy", text).ok());
  const std::string file = ReadNpyFile(dir_ / "t.npy");
  const std::string header = report::NpyHeader("<U3", {4});
  ASSERT_EQ(file.size(), header.size() + 4 * 3 * 4);
  const char32_t expected[4][3] = {
      {U'a', 0, 0}, {U'é', U't', U'é'}, {U'日', U'😀', U'x'}, {U'\uFFFD', U'y', 0}};
  EXPECT_EQ(std::memcmp(file.data() + header.size(), expected, sizeof expected), 0);
}

TEST_F(NpyFilesTest, EveryTypedAndStringArrayOfAnExplanationGetsItsFile) {
  Explanation explanation;
  explanation.kind = "feature_attribution";
  explanation.step = "shap";
  explanation.SetArray("values", Tensor::FromVector<double>({1, 2}, {1, 1, 2}));
  explanation.SetArray("stats.mean", Tensor::FromVector<float>({3}, {1}));
  explanation.SetText("data", TextArray({1, 2}, "ab", {1, 2}));
  explanation.SetField("feature_names", {"x", "y"});
  std::vector<fs::path> files;
  ASSERT_TRUE(report::WriteExplanationNpy(dir_, explanation, files).ok());
  ASSERT_EQ(files.size(), 3u);
  for (const char* name : {"shap.values.npy", "shap.stats.mean.npy", "shap.data.npy"}) {
    EXPECT_TRUE(fs::exists(dir_ / name)) << name;
  }
  EXPECT_FALSE(fs::exists(dir_ / "shap.feature_names.npy"));
  EXPECT_EQ(ReadNpyFile(dir_ / "shap.stats.mean.npy").substr(0, 128), report::NpyHeader("<f4", {1}));
}

}  // namespace
}  // namespace loupe
