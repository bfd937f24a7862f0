// Atomic outputs (docs/architecture.md §5 "Output files"): `loupe run` killed with SIGKILL at random
// moments leaves, for every output file, the previous version or the new one, never a torn one; a
// writer's temporary files are recognisable and the next run removes them; and a failed step does not
// cost the outputs the other steps computed.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "e2e_util.hpp"
#include "report/output_files.hpp"

extern char** environ;

namespace loupe::e2e {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

class AtomicOutputsTest : public ScratchDir {
 protected:
  // Starts `loupe run pipeline.yaml --quiet` in the scratch folder, its output thrown away.
  pid_t StartRun(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {LOUPE_EXE, "run",       (dir_ / "pipeline.yaml").string(),
                                     "--quiet", "--threads", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    pid_t pid = -1;
    const int error = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    EXPECT_EQ(error, 0);
    return pid;
  }

  static int Wait(pid_t pid) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  }

  // Every file of the output folder is whole: JSON parses, a CSV has a header and complete lines of the
  // header's width, the report ends its document. Returns the number of temporary files seen. The record
  // a run keeps for --resume until it ends with every step ok (.loupe-resume/) is not an output.
  int CheckOutputs(const std::string& context) {
    int temporaries = 0;
    for (const auto& entry : fs::directory_iterator(dir_ / "out")) {
      const fs::path& path = entry.path();
      if (path.filename() == ".loupe-resume" && entry.is_directory()) continue;
      if (report::IsTemporaryOutput(path)) {
        ++temporaries;
        continue;
      }
      const std::string text = ReadText(path);
      const std::string ext = path.extension().string();
      if (ext == ".json") {
        EXPECT_TRUE(nlohmann::json::accept(text)) << context << ": torn " << path;
      } else if (ext == ".csv") {
        ExpectWholeCsv(text, context + ": " + path.string());
      } else if (ext == ".html") {
        EXPECT_TRUE(text.ends_with("</html>\n") || text.ends_with("</html>")) << context << ": torn " << path;
      } else {
        ADD_FAILURE() << context << ": unexpected file " << path;
      }
    }
    return temporaries;
  }

  static void ExpectWholeCsv(const std::string& text, const std::string& context) {
    ASSERT_FALSE(text.empty()) << context;
    EXPECT_EQ(text.back(), '\n') << context;
    std::size_t width = std::string::npos;
    std::size_t start = 0;
    while (start < text.size()) {
      const std::size_t end = text.find('\n', start);
      const std::string line = text.substr(start, end - start);
      const auto commas = static_cast<std::size_t>(std::count(line.begin(), line.end(), ','));
      if (width == std::string::npos) width = commas;
      EXPECT_EQ(commas, width) << context << ": line '" << line << "'";
      if (end == std::string::npos) break;
      start = end + 1;
    }
  }
};

// Several outputs of every kind: two attribution steps (JSON and CSV), a surrogate tree, run.json and
// report.html.
constexpr const char* kSteps =
    "  - {id: shap, explainer: shap.exact, rows: '0:12'}\n"
    "  - {id: lime, explainer: lime.tabular, rows: '0:6', params: {num_samples: 400}}\n"
    "  - {id: tree, explainer: surrogate.tree}\n";

TEST_F(AtomicOutputsTest, RunKilledAtRandomMomentsLeavesOnlyWholeFiles) {
  std::string yaml = Pipeline(kSteps);
  yaml.replace(yaml.find("formats: [json, csv]"), 20, "formats: [json, csv, html]");
  WriteText(dir_ / "pipeline.yaml", yaml);
  // A complete run first: the "previous" outputs, and how long a run takes.
  const auto start = Clock::now();
  ASSERT_EQ(Wait(StartRun()), 0);
  const auto full_run = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
  ASSERT_EQ(CheckOutputs("first run"), 0);

  std::mt19937_64 rng(14);  // seeded: the same kill moments on every run of the test
  std::uniform_int_distribution<std::int64_t> moment(0, full_run.count() * 11 / 10);
  int killed_with_temporaries = 0;
  for (int attempt = 0; attempt < 50; ++attempt) {
    const pid_t pid = StartRun();
    std::this_thread::sleep_for(std::chrono::microseconds(moment(rng)));
    ::kill(pid, SIGKILL);
    Wait(pid);
    killed_with_temporaries += CheckOutputs("kill #" + std::to_string(attempt)) > 0 ? 1 : 0;
    ASSERT_TRUE(fs::exists(dir_ / "out" / "shap.json")) << "the previous output was lost";
  }
  // The next complete run removes what the killed ones left behind.
  ASSERT_EQ(Wait(StartRun()), 0);
  EXPECT_EQ(CheckOutputs("last run"), 0);
  EXPECT_FALSE(fs::exists(dir_ / "out" / ".loupe-resume")) << "a complete run keeps no record to resume";
  RecordProperty("kills_that_left_temporaries", killed_with_temporaries);
}

TEST_F(AtomicOutputsTest, StaleTemporariesAreRecognisedAndRemovedByTheNextRun) {
  WriteText(dir_ / "pipeline.yaml", Pipeline("  - {id: shap, explainer: shap.exact, rows: '0:2'}\n"));
  // A temporary named for a writer that has exited: the pid of a finished run.
  const pid_t dead = StartRun({"--set", "steps.shap.rows=0:1"});
  Wait(dead);
  const fs::path stale = dir_ / "out" / (".shap.json.loupe-tmp." + std::to_string(dead) + ".0");
  WriteText(stale, "{\"schema\": ");
  EXPECT_TRUE(report::IsTemporaryOutput(stale));
  EXPECT_FALSE(report::IsTemporaryOutput(dir_ / "out" / "shap.json"));
  ASSERT_EQ(Wait(StartRun()), 0);
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_EQ(CheckOutputs("after the stale temporary"), 0);
}

TEST_F(AtomicOutputsTest, AFailedStepKeepsTheOutputsOfTheStepsThatSucceeded) {
  WriteText(dir_ / "pipeline.yaml",
            Pipeline("  - {id: shap, explainer: shap.exact, rows: '0:3'}\n"
                     "  - {id: broken, explainer: pipetest.noise, params: {fail: true}}\n"));
  const std::string command = "cd '" + dir_.string() + "' && LOUPE_PLUGIN_PATH='" + LOUPE_PIPETEST_DIR +
                              "' '" + LOUPE_EXE + "' run pipeline.yaml --quiet > /dev/null 2>&1";
  const int status = std::system(command.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1);  // a step failed; the configuration was fine
  EXPECT_TRUE(nlohmann::json::accept(ReadText(dir_ / "out" / "shap.json")));
  EXPECT_TRUE(fs::exists(dir_ / "out" / "shap.csv"));
  const auto run = nlohmann::json::parse(ReadText(dir_ / "out" / "run.json"));
  EXPECT_EQ(run["status"], "failed");
  EXPECT_EQ(run["steps"][0]["status"], "ok");
  EXPECT_EQ(run["steps"][1]["status"], "failed");
  EXPECT_EQ(CheckOutputs("after a failed step"), 0);
  EXPECT_TRUE(fs::exists(dir_ / "out" / ".loupe-resume" / "manifest"))
      << "kept, so --resume retries the step";
}

}  // namespace
}  // namespace loupe::e2e
