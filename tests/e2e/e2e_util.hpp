// Shared helpers of the end-to-end tests: a scratch folder with a small data set, a model and pipelines.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

namespace loupe::e2e {

inline std::string ReadText(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

inline void WriteText(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

// A fresh folder per test, holding data.csv (12 rows: x1, x2 numeric, c categorical, y target) and
// model.yaml (a logistic regression over x1, x2 and c).
class ScratchDir : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::temp_directory_path() /
           ("loupe-e2e-" + std::to_string(::getpid()) + "-" + info->test_suite_name() + "-" + info->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    std::string csv = "x1,x2,c,y\n";
    for (int i = 0; i < 12; ++i) {
      csv += std::to_string(i) + "," + std::to_string((i * 7) % 5) + "," +
             (i % 3 == 0   ? "red"
              : i % 3 == 1 ? "green"
                           : "blue") +
             "," + (i % 2 ? "yes" : "no") + "\n";
    }
    WriteText(dir_ / "data.csv", csv);
    WriteText(dir_ / "model.yaml", R"(format: loupe.model/v1
name: tiny_logreg
task: classification
classes: [no, yes]
inputs:
  - {name: x1, type: numeric}
  - {name: x2, type: numeric, standardize: {mean: 2, std: 2}}
  - {name: c, type: categorical, levels: [blue, green, red]}
layers:
  - {type: linear, in_features: 5, out_features: 1, weight: [[0.5, -1.0, 0.25, 0.0, -0.5]], bias: [-1.5]}
  - {type: sigmoid}
)");
  }
  void TearDown() override {
    if (!HasFailure()) std::filesystem::remove_all(dir_);
  }

  // A pipeline over data.csv and model.yaml with the given steps (YAML list items), output in dir_/out.
  std::string Pipeline(const std::string& steps, const std::string& extra = "") const {
    return "version: 1\nname: e2e\nseed: 7\ndata:\n  path: data.csv\n  target: y\n  positive: 'yes'\n"
           "model:\n  path: model.yaml\nsteps:\n" +
           steps + "output:\n  dir: out\n  formats: [json, csv]\n" + extra;
  }

  std::filesystem::path dir_;
};

}  // namespace loupe::e2e
