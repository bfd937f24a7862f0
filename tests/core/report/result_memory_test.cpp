// Memory of the host's result path (issue 13), measured, never timed: a plugin's attribution arrays go
// through result_set_tensor (one copy), into an Explanation (moved), through validation and the two
// streaming writers. The whole path must peak below 3x the arrays; the JSON tree it replaced took
// well over 5x (one nlohmann node per number, then the dumped text). Runs in a child process so the
// peak (VmHWM in /proc/self/status) is this path's alone. bench/result_memory.sh measures a whole run.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "plugin/host_context.hpp"
#include "report/output_files.hpp"

// AddressSanitizer keeps freed blocks in quarantine and adds shadow memory, so resident memory there says
// nothing about the result path: the test is skipped in that build.
#if defined(__SANITIZE_ADDRESS__)
#define LOUPE_MEASURE_MEMORY 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LOUPE_MEASURE_MEMORY 0
#endif
#endif
#ifndef LOUPE_MEASURE_MEMORY
#define LOUPE_MEASURE_MEMORY 1
#endif

namespace loupe {
namespace {

namespace fs = std::filesystem;

// A field of /proc/self/status ("VmRSS", "VmHWM") in bytes.
std::int64_t StatusBytes(const std::string& field) {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind(field + ":", 0) == 0) return std::stoll(line.substr(field.size() + 1)) * 1024;
  }
  return -1;
}

LoupeTensorView F64View(const std::vector<double>& data, const std::vector<std::int64_t>& shape) {
  LoupeTensorView view{};
  view.struct_size = sizeof(view);
  view.dtype = LOUPE_DTYPE_F64;
  view.ndim = static_cast<std::int32_t>(shape.size());
  view.read_only = 1;
  view.data = const_cast<double*>(data.data());
  view.shape = shape.data();
  return view;
}

struct Sizes {
  std::int64_t rows = 100000, outputs = 4, features = 7;
  std::int64_t ArrayBytes() const { return (rows * outputs * features + rows * outputs) * 8; }
};

// What a plugin does: fill its buffers, set the fields; then what the driver and the run do.
void ExplainAndWrite(const Sizes& n, const fs::path& dir) {
  LoupeResultBuilder builder;
  {
    std::vector<double> values(static_cast<std::size_t>(n.rows * n.outputs * n.features));
    std::vector<double> base(static_cast<std::size_t>(n.rows * n.outputs));
    std::vector<double> data(static_cast<std::size_t>(n.rows * n.features));
    for (std::size_t i = 0; i < values.size(); ++i) values[i] = std::sin(static_cast<double>(i)) / 3.0;
    for (std::size_t i = 0; i < base.size(); ++i) base[i] = 0.25 + static_cast<double>(i % 7) / 9.0;
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<double>(i % 1000) / 100.0;
    std::vector<std::string> features, outputs;
    for (std::int64_t f = 0; f < n.features; ++f) features.push_back("feature_" + std::to_string(f));
    for (std::int64_t o = 0; o < n.outputs; ++o) outputs.push_back("class_" + std::to_string(o));
    std::vector<const char*> feature_names, output_names;
    for (const std::string& s : features) feature_names.push_back(s.c_str());
    for (const std::string& s : outputs) output_names.push_back(s.c_str());
    std::vector<double> rows(static_cast<std::size_t>(n.rows));
    for (std::size_t r = 0; r < rows.size(); ++r) rows[r] = static_cast<double>(r);
    using namespace host_detail;
    ResultSetStrings(&builder, "feature_names", feature_names.data(), n.features);
    ResultSetStrings(&builder, "output_names", output_names.data(), n.outputs);
    const std::vector<std::int64_t> row_shape{n.rows}, base_shape{n.rows, n.outputs},
        value_shape{n.rows, n.outputs, n.features}, data_shape{n.rows, n.features};
    const LoupeTensorView row_view = F64View(rows, row_shape), base_view = F64View(base, base_shape),
                          value_view = F64View(values, value_shape), data_view = F64View(data, data_shape);
    ResultSetTensor(&builder, "rows", &row_view);
    ResultSetTensor(&builder, "base_values", &base_view);
    ResultSetTensor(&builder, "values", &value_view);
    ResultSetTensor(&builder, "data", &data_view);
  }  // the plugin's buffers go when its explain returns
  Explanation e = std::move(builder.fields);
  e.kind = "feature_attribution";
  e.step = "memory";
  if (!ValidateExplanation(e).ok()) std::_Exit(3);
  if (!report::WriteExplanationJson(dir / "memory.json", e).ok()) std::_Exit(4);
  if (!report::WriteAttributionCsv(dir / "memory.csv", e).ok()) std::_Exit(5);
}

TEST(ResultMemory, TheHostResultPathPeaksBelowThreeTimesTheArrays) {
  if (!LOUPE_MEASURE_MEMORY)
    GTEST_SKIP() << "resident memory is not the program's own under AddressSanitizer";
  const Sizes n;
  const fs::path dir = fs::temp_directory_path() / ("loupe_result_memory_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  int pipe_ends[2];
  ASSERT_EQ(::pipe(pipe_ends), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(pipe_ends[0]);
    std::ofstream("/proc/self/clear_refs") << "5";  // resets VmHWM to the current RSS where supported
    const std::int64_t before = StatusBytes("VmRSS");
    ExplainAndWrite(n, dir);
    const std::int64_t growth = StatusBytes("VmHWM") - before;
    const std::string report = std::to_string(growth);
    if (::write(pipe_ends[1], report.data(), report.size()) < 0) std::_Exit(6);
    std::_Exit(0);
  }
  ::close(pipe_ends[1]);
  char text[64] = {};
  const ssize_t got = ::read(pipe_ends[0], text, sizeof(text) - 1);
  ::close(pipe_ends[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0) << "the child failed to build, validate or write the explanation";
  ASSERT_GT(got, 0);
  const double growth = std::stod(text);
  const double arrays = static_cast<double>(n.ArrayBytes());
  std::printf("result path: peak growth %.1f MB for %.1f MB of arrays (%.2fx)\n", growth / 1048576,
              arrays / 1048576, growth / arrays);
  EXPECT_LT(growth, 3.0 * arrays) << "peak growth " << growth / 1048576 << " MB for " << arrays / 1048576
                                  << " MB of values + base_values";
  EXPECT_GT(fs::file_size(dir / "memory.json"), static_cast<std::uintmax_t>(arrays))
      << "the JSON should hold every number (about 20 characters each)";
  fs::remove_all(dir);
}

}  // namespace
}  // namespace loupe
