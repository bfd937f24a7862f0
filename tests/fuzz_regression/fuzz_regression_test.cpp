// Every input a fuzzer found crashing stays here as a test (fuzz/regressions/<target>/<file>): the parser
// must now refuse it with one clear sentence, or, for a file named valid_*, a valid input on which the code
// hit undefined behaviour (UBSan's finding), accept it. The seed corpora (fuzz/corpus/<target>/) must still
// be accepted, so that the fuzzers start from inputs that reach past the first check.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "fuzz/entry_points.hpp"

namespace loupe::fuzz {
namespace {

namespace fs = std::filesystem;

std::string ReadBytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// The files of fuzz/<kind>/<target>/, sorted; none when the folder does not exist.
std::vector<fs::path> Inputs(const std::string& kind, const std::string& target) {
  const fs::path dir = fs::path(LOUPE_FUZZ_DIR) / kind / target;
  std::vector<fs::path> files;
  if (!fs::is_directory(dir)) return files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file() && entry.path().filename() != "README.md") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

class FuzzTarget : public testing::TestWithParam<Target> {};

TEST_P(FuzzTarget, SavedCrashingInputsAreRefusedWithOneSentence) {
  const Target& target = GetParam();
  for (const fs::path& file : Inputs("regressions", target.name)) {
    SCOPED_TRACE(file.string());
    const Status status = target.run(ReadBytes(file));
    if (file.filename().string().starts_with("valid_")) {
      EXPECT_TRUE(status.ok()) << status.message();
      continue;
    }
    EXPECT_FALSE(status.ok()) << "the input that crashed the parser is now accepted";
    EXPECT_FALSE(status.message().empty());
    EXPECT_EQ(status.message().find('\n'), std::string::npos) << status.message();
  }
}

TEST_P(FuzzTarget, EverySeedIsAccepted) {
  const Target& target = GetParam();
  const std::vector<fs::path> seeds = Inputs("corpus", target.name);
  EXPECT_GE(seeds.size(), 2u) << "each target starts from at least two seeds";
  for (const fs::path& file : seeds) {
    SCOPED_TRACE(file.string());
    const Status status = target.run(ReadBytes(file));
    EXPECT_TRUE(status.ok()) << status.message();
  }
}

INSTANTIATE_TEST_SUITE_P(Parsers, FuzzTarget, testing::ValuesIn(Targets()),
                         [](const testing::TestParamInfo<Target>& info) {
                           return std::string(info.param.name);
                         });

}  // namespace
}  // namespace loupe::fuzz
