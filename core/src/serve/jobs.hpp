// Pipeline jobs of `loupe serve` (docs/serve.md "Pipeline jobs"): POST /v1/runs takes a pipeline's YAML,
// validates it as `loupe validate` does and runs it in the background; GET /v1/runs/{id} gives its status
// and each step's, GET /v1/runs/{id}/report.html and /steps/{step} its outputs, DELETE cancels it.
//
// Each job is a folder of jobs.dir named by its id: pipeline.yaml (as posted), job.json (its status) and
// out/ (the run's outputs, written by RunPipeline). The folder is the job's memory: a restarted server
// reads every job.json back, so finished jobs stay readable, and marks the ones that were queued or
// running then "interrupted" (their finished steps' outputs stay).
//
// Safety: an id is 16 lower-case hex digits and a step name a step id of the job's pipeline, both checked
// before any path is made of them, so no request reaches a file outside a job's folder. A posted
// pipeline's relative paths resolve against jobs.base_dir, and its data and model must lie inside it; its
// output folder is always the job's own; it may not load plugins (`plugins:`).
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "http/message.hpp"
#include "loupe/core/pipeline.hpp"
#include "loupe/core/plugin.hpp"
#include "serve/serve_config.hpp"

namespace loupe::serve {

class JobManager {
 public:
  // Reads the jobs already in config.dir (creating it when absent) and starts max_running workers.
  static Result<std::unique_ptr<JobManager>> Open(const JobsConfig& config,
                                                  std::shared_ptr<const PluginRegistry> registry);
  // Cancels the running jobs (they end "interrupted"), leaves the queued ones "interrupted" too, and joins
  // the workers.
  ~JobManager();

  http::Response Submit(const std::string& yaml);        // 202 {"id", "status"} or 400
  http::Response Describe(const std::string& id) const;  // 200 the job's status
  http::Response Report(const std::string& id) const;    // 200 report.html
  http::Response StepOutput(const std::string& id, const std::string& step) const;  // 200 STEP.json
  http::Response Cancel(const std::string& id);  // 202, or 409 when finished
  int running() const { return running_.load(); }

  struct Job;

 private:
  JobManager(JobsConfig config, std::shared_ptr<const PluginRegistry> registry);
  void LoadExisting();
  void Work();
  void RunJob(const std::shared_ptr<Job>& job);
  std::shared_ptr<Job> Find(const std::string& id) const;
  Status CheckPaths(const PipelineSpec& spec) const;
  std::string NewId();

  JobsConfig config_;
  std::shared_ptr<const PluginRegistry> registry_;
  mutable std::mutex mutex_;
  std::condition_variable queued_;
  std::map<std::string, std::shared_ptr<Job>> jobs_;
  std::deque<std::shared_ptr<Job>> queue_;
  std::vector<std::thread> workers_;
  std::atomic<int> running_{0};
  bool stopping_ = false;
  std::uint64_t id_counter_ = 0;
};

}  // namespace loupe::serve
