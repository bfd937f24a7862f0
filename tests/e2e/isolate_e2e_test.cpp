// `loupe run --isolate` as a user runs it: a plugin that crashes, aborts, exits or runs out of memory
// fails its own step with one sentence, the other steps finish and keep their outputs, the exit code is
// that of any failed step, no core file is left behind; and an isolated run writes the same bytes as an
// in-process one (elapsed times aside). The dying plugin is tests/fixtures/plugins/crash_plugin.cpp.
#include <sys/wait.h>

#include <cstdlib>
#include <cstring>
#include <regex>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "e2e_util.hpp"
#include "loupe/core/dataset.hpp"
#include "loupe/core/model.hpp"
#include "loupe/core/plugin.hpp"
#include "pipeline/isolate.hpp"

namespace loupe::e2e {
namespace {

using ::testing::HasSubstr;

struct CliResult {
  int exit_code = -1;
  std::string out, err;
};

class IsolateTest : public ScratchDir {
 protected:
  // Runs `loupe ARGS` in the scratch folder (where a core file would land) with the crash plugin's folder.
  CliResult Loupe(const std::string& args) {
    const std::string command = "cd '" + dir_.string() + "' && '" + LOUPE_EXE + "' " + args +
                                " --plugin-path '" + LOUPE_CRASH_PLUGIN_DIR + "' > stdout.txt 2> stderr.txt";
    const int status = std::system(command.c_str());
    CliResult result;
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    result.out = ReadText(dir_ / "stdout.txt");
    result.err = ReadText(dir_ / "stderr.txt");
    return result;
  }

  nlohmann::json RunFile(const std::string& out) const {
    return nlohmann::json::parse(ReadText(dir_ / out / "run.json"));
  }

  static const nlohmann::json& Step(const nlohmann::json& run, const std::string& id) {
    for (const nlohmann::json& step : run.at("steps")) {
      if (step.at("id") == id) return step;
    }
    throw std::runtime_error("run.json has no step '" + id + "'");
  }

  // Files of the scratch folder whose name says core dump ("core", "core.1234", "vgcore.*").
  std::vector<std::string> CoreFiles() const {
    std::vector<std::string> found;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(dir_)) {
      const std::string name = entry.path().filename().string();
      if (name == "core" || name.starts_with("core.") || name.find("vgcore") != std::string::npos) {
        found.push_back(name);
      }
    }
    return found;
  }
};

constexpr const char* kDyingSteps = R"(  - {id: before, explainer: crash.now, rows: "0:4"}
  - {id: segv, explainer: crash.now, rows: "0:4", params: {how: segv}}
  - {id: abort, explainer: crash.now, rows: "0:4", params: {how: abort}}
  - {id: exit, explainer: crash.now, rows: "0:4", params: {how: exit}}
  - {id: alloc, explainer: crash.now, rows: "0:4", params: {how: alloc}}
  - {id: after_segv, explainer: crash.now, rows: "0:2", needs: [segv]}
  - {id: after, explainer: crash.now, rows: "4:8", needs: [before]}
)";

// Under AddressSanitizer/UndefinedBehaviorSanitizer (make test-sanitize) the sanitizers catch the fixture's
// deliberate null store and over-allocation first and end the child as the errors they are, so the
// crash sentences are a sanitizer's exit; ThreadSanitizer does not support the fork either. The tests of
// the ways of dying run in the plain build.
// GCC says so with __SANITIZE_*__, Clang 14 only through __has_feature.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kUnderSanitizer = true;
#elif defined(__has_feature)
constexpr bool kUnderSanitizer = __has_feature(address_sanitizer) || __has_feature(thread_sanitizer);
#else
constexpr bool kUnderSanitizer = false;
#endif

TEST_F(IsolateTest, EachWayOfDyingFailsOnlyItsStepWithASentence) {
  if (kUnderSanitizer) GTEST_SKIP() << "the sanitizers catch the deliberate crashes first";
  WriteText(dir_ / "p.yaml", Pipeline(kDyingSteps));
  const CliResult r = Loupe("run p.yaml --isolate --max-memory 64M --threads 2");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  const nlohmann::json run = RunFile("out");
  EXPECT_EQ(run.at("status"), "failed");
  const std::pair<const char*, const char*> deaths[] = {
      {"segv", "plugin 'crash' crashed with SIGSEGV in step 'segv'."},
      {"abort", "plugin 'crash' crashed with SIGABRT in step 'abort'."},
      {"exit", "plugin 'crash' exited with status 3 in step 'exit' before returning a result."},
      {"alloc", "plugin 'crash' ran out of memory in step 'alloc' (--max-memory 64 MiB)."},
  };
  for (const auto& [id, sentence] : deaths) {
    const nlohmann::json& step = Step(run, id);
    EXPECT_EQ(step.at("status"), "failed") << id;
    EXPECT_EQ(step.value("failure", ""), "crashed") << id;
    EXPECT_EQ(step.at("message"), sentence) << id;
    EXPECT_FALSE(std::filesystem::exists(dir_ / "out" / (std::string(id) + ".json"))) << id;
    EXPECT_THAT(r.out, HasSubstr(std::string("[crashed] ") + sentence)) << id;
  }
  for (const char* id : {"before", "after"}) {
    EXPECT_EQ(Step(run, id).at("status"), "ok") << id;
    const nlohmann::json document =
        nlohmann::json::parse(ReadText(dir_ / "out" / (std::string(id) + ".json")));
    EXPECT_EQ(document.at("kind"), "crash_probe") << id;
    EXPECT_EQ(document.at("predictions").size(), 4u) << id;
  }
  EXPECT_EQ(Step(run, "after_segv").at("status"), "skipped");
  EXPECT_THAT(CoreFiles(), ::testing::IsEmpty());
}

TEST_F(IsolateTest, ACrashWithoutMemoryLimitIsStillIsolated) {
  if (kUnderSanitizer) GTEST_SKIP() << "the sanitizers catch the deliberate crashes first";
  WriteText(dir_ / "p.yaml", Pipeline(R"(  - {id: segv, explainer: crash.now, params: {how: segv}}
  - {id: fine, explainer: crash.now, rows: "0:3"}
)"));
  const CliResult r = Loupe("run p.yaml --isolate --quiet");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "loupe: step 'segv' failed: plugin 'crash' crashed with SIGSEGV in step 'segv'.\n");
  EXPECT_EQ(Step(RunFile("out"), "fine").at("status"), "ok");
  EXPECT_TRUE(std::filesystem::exists(dir_ / "out" / "fine.json"));
  EXPECT_THAT(CoreFiles(), ::testing::IsEmpty());
}

// The step documents without their elapsed times, which are the only bytes allowed to differ.
std::string WithoutElapsed(const std::string& text) {
  static const std::regex elapsed(R"("elapsed_ms": ?[-0-9.e+]+)");
  return std::regex_replace(text, elapsed, "\"elapsed_ms\": 0");
}

TEST_F(IsolateTest, IsolatedRunWritesTheSameBytesAsInProcess) {
  std::string steps = R"(  - {id: probe, explainer: crash.now, rows: "0:6"}
  - {id: probe_all, explainer: crash.now}
)";
  std::vector<std::string> files = {"probe.json", "probe_all.json"};
#ifdef LOUPE_HAVE_SHAP
  steps += R"(  - {id: exact, explainer: shap.exact, rows: "0:4", params: {background: "0:8"}}
  - {id: kernel, explainer: shap.kernel, rows: "2:5", params: {background: 6, nsamples: 64}}
  - {id: summary, explainer: shap.summary, needs: [exact]}
)";
  files.insert(files.end(), {"exact.json", "exact.csv", "kernel.json", "kernel.csv", "summary.json"});
#endif
  WriteText(dir_ / "p.yaml", Pipeline(steps));
  const CliResult in_process = Loupe("run p.yaml -o plain --threads 2");
  ASSERT_EQ(in_process.exit_code, 0) << in_process.err;
  const CliResult isolated = Loupe("run p.yaml -o isolated --threads 2 --isolate");
  ASSERT_EQ(isolated.exit_code, 0) << isolated.err;
  for (const std::string& file : files) {
    const std::string plain = ReadText(dir_ / "plain" / file);
    ASSERT_FALSE(plain.empty()) << file;
    EXPECT_EQ(WithoutElapsed(ReadText(dir_ / "isolated" / file)), WithoutElapsed(plain)) << file;
  }
  // The probe carries every dtype, NaN and infinities: check that they came through as typed arrays.
  const nlohmann::json probe = nlohmann::json::parse(ReadText(dir_ / "isolated" / "probe.json"));
  EXPECT_EQ(probe.at("stats").at("codes"), nlohmann::json::parse("[-7, 0, 2147483647]"));
  EXPECT_EQ(probe.at("flags"), nlohmann::json::parse("[[0], [1], [255]]"));
  EXPECT_TRUE(probe.at("squares").at(0).at(0).at(1).is_null());  // NaN
}

// The call itself, without the CLI: the child's progress and log lines reach the request's callbacks, and
// the rebuilt explanation holds the very arrays (dtype, shape, bytes) an in-process call returns.
TEST_F(IsolateTest, ChildProgressAndLogReachTheParentAndArraysComeBackTyped) {
  PluginRegistry registry;
  ASSERT_TRUE(registry.Load(std::filesystem::path(LOUPE_CRASH_PLUGIN_DIR) / "libloupe_crashtest.so").ok());
  const LoadedExplainer* explainer = registry.Find("crash.now");
  ASSERT_NE(explainer, nullptr);
  CsvOptions csv;
  csv.target = "y";
  Result<Dataset> data = ReadCsv(dir_ / "data.csv", csv);
  ASSERT_TRUE(data.ok()) << data.status().message();
  Result<std::shared_ptr<const Model>> model = LoadModel(dir_ / "model.yaml", "native");
  ASSERT_TRUE(model.ok()) << model.status().message();
  const std::vector<std::string> features = {"x1", "x2", "c"};
  Result<std::shared_ptr<const FeatureModel>> feature_model = FeatureModel::Create(*model, *data, features);
  ASSERT_TRUE(feature_model.ok()) << feature_model.status().message();
  Result<Tensor> matrix = data->Matrix(features);
  ASSERT_TRUE(matrix.ok());

  ExplainRequest request;
  request.step_id = "probe";
  request.dataset = &*data;
  request.feature_names = features;
  request.features = std::make_shared<const Tensor>(std::move(*matrix));
  request.model = *feature_model;
  request.rows = {0, 3, 5};
  request.params = {{"how", "none"}};
  request.seed = 11;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> progress;
  std::vector<std::string> logs;
  request.progress = [&](std::uint64_t done, std::uint64_t total) { progress.emplace_back(done, total); };
  request.log = [&](int level, const std::string& line) {
    logs.push_back(std::to_string(level) + " " + line);
  };

  IsolatedExplain isolated = ExplainInChild(*explainer, request, IsolationLimits{});
  ASSERT_TRUE(isolated.result.ok()) << isolated.result.status().message();
  EXPECT_FALSE(isolated.crashed);
  const std::vector<std::pair<std::uint64_t, std::uint64_t>> expected_progress = {{1, 2}, {2, 2}};
  EXPECT_EQ(progress, expected_progress);
  EXPECT_EQ(logs, std::vector<std::string>{"1 crash.now is writing its probe result."});

  request.progress = nullptr;
  request.log = nullptr;
  Result<Explanation> direct = explainer->Explain(request);
  ASSERT_TRUE(direct.ok()) << direct.status().message();
  const Explanation& child = *isolated.result;
  EXPECT_EQ(child.body, direct->body);
  EXPECT_EQ(child.quality, direct->quality);
  EXPECT_EQ(child.params, direct->params);
  EXPECT_EQ(child.seed, direct->seed);
  ASSERT_EQ(child.arrays.size(), direct->arrays.size());
  EXPECT_EQ(child.arrays.size(), 8u);
  for (const auto& [path, tensor] : direct->arrays) {
    const Tensor* rebuilt = child.TypedArray(path);
    ASSERT_NE(rebuilt, nullptr) << path;
    EXPECT_EQ(rebuilt->dtype(), tensor.dtype()) << path;
    EXPECT_EQ(rebuilt->shape(), tensor.shape()) << path;
    if (tensor.nbytes() == 0) continue;  // an empty tensor has no buffer to compare
    EXPECT_EQ(std::memcmp(rebuilt->raw(), tensor.raw(), tensor.nbytes()), 0) << path;  // NaN bits included
  }
}

TEST_F(IsolateTest, MaxMemoryNeedsIsolateAndASize) {
  WriteText(dir_ / "p.yaml", Pipeline("  - {id: probe, explainer: crash.now}\n"));
  CliResult r = Loupe("run p.yaml --max-memory 64M");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "loupe: --max-memory limits the child processes of --isolate; add --isolate.\n");
  r = Loupe("run p.yaml --isolate --max-memory lots");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "loupe: --max-memory expects a size such as 512M or 2G, found 'lots'.\n");
  EXPECT_FALSE(std::filesystem::exists(dir_ / "out"));
}

TEST_F(IsolateTest, RunHelpListsIsolateAndMaxMemory) {
  const CliResult r = Loupe("run --help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("--isolate"));
  EXPECT_THAT(r.out, HasSubstr("--max-memory SIZE"));
}

TEST(MemorySize, ReadsBytesAndBinarySuffixes) {
  EXPECT_EQ(*ParseMemorySize("1048576"), 1048576u);
  EXPECT_EQ(*ParseMemorySize("64M"), 64u << 20);
  EXPECT_EQ(*ParseMemorySize("64MiB"), 64u << 20);
  EXPECT_EQ(*ParseMemorySize("2g"), 2ull << 30);
  EXPECT_EQ(*ParseMemorySize("512KB"), 512u << 10);
  EXPECT_EQ(*ParseMemorySize("1T"), 1ull << 40);
  for (const char* bad : {"", "M", "12X", "-5M", "1.5G", "99999999999999999999", "20000000T"}) {
    EXPECT_FALSE(ParseMemorySize(bad).ok()) << bad;
  }
  EXPECT_EQ(ParseMemorySize("0").status().message(), "--max-memory must be more than 0 bytes.");
  EXPECT_EQ(FormatMemorySize(64u << 20), "64 MiB");
  EXPECT_EQ(FormatMemorySize(1000), "1000 bytes");
}

}  // namespace
}  // namespace loupe::e2e
