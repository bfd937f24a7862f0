#include "serve/jobs.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <random>
#include <sstream>

#include "report/output_files.hpp"

namespace loupe::serve {

namespace fs = std::filesystem;
using nlohmann::json;

struct JobManager::Job {
  std::string id;
  fs::path dir;
  std::vector<std::string> step_ids;
  // Guarded by JobManager::mutex_.
  std::string status;  // queued, running, succeeded, failed, cancelled, interrupted
  std::string message;
  std::string created, started, finished;
  json steps = json::array();  // each step's outcome, once the run has ended
  // While queued: what the run needs.
  std::optional<PipelineSpec> spec;
  std::shared_ptr<const Model> model;
  std::atomic<bool> cancelled{false};
};

namespace {

constexpr std::size_t kIdLength = 16;

bool IsJobId(const std::string& id) {
  return id.size() == kIdLength && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::string UtcNow() {
  char text[32];
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

http::Response JsonAnswer(int status, const json& body) {
  http::Response response;
  response.status = status;
  response.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return response;
}

bool Finished(const std::string& status) { return status != "queued" && status != "running"; }

// Whether `path` (symbolic links resolved) lies inside `base`.
bool Inside(const fs::path& path, const fs::path& base) {
  std::error_code ec;
  const fs::path resolved = fs::weakly_canonical(path, ec);
  const fs::path root = fs::weakly_canonical(base, ec);
  const auto [root_end, unused] = std::mismatch(root.begin(), root.end(), resolved.begin(), resolved.end());
  return root_end == root.end();
}

std::optional<std::string> ReadText(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

json JobJson(const JobManager::Job& job) {
  return {{"id", job.id},
          {"status", job.status},
          {"message", job.message},
          {"created", job.created},
          {"started", job.started},
          {"finished", job.finished},
          {"step_ids", job.step_ids},
          {"steps", job.steps}};
}

// job.json, replaced atomically so a crash leaves the old or the new one.
void Save(const JobManager::Job& job) {
  (void)report::WriteFileAtomically(job.dir / "job.json", JobJson(job).dump(2));
}

http::Response Refusal(const std::vector<Diagnostic>& diagnostics) {
  json sentences = json::array();
  for (const Diagnostic& d : diagnostics) sentences.push_back(d.ToString());
  return JsonAnswer(400, {{"error", sentences[0]}, {"diagnostics", sentences}});
}

}  // namespace

JobManager::JobManager(JobsConfig config, std::shared_ptr<const PluginRegistry> registry)
    : config_(std::move(config)), registry_(std::move(registry)) {}

Result<std::unique_ptr<JobManager>> JobManager::Open(const JobsConfig& config,
                                                     std::shared_ptr<const PluginRegistry> registry) {
  std::error_code ec;
  fs::create_directories(config.dir, ec);
  if (!fs::is_directory(config.dir, ec))
    return IoError("cannot create the jobs folder '" + config.dir.string() + "'.");
  std::unique_ptr<JobManager> manager(new JobManager(config, std::move(registry)));
  manager->LoadExisting();
  for (int i = 0; i < config.max_running; ++i)
    manager->workers_.emplace_back([m = manager.get()] { m->Work(); });
  return manager;
}

// A restart: every job folder's job.json comes back; one that was queued or running is interrupted.
void JobManager::LoadExisting() {
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(config_.dir, ec)) {
    const std::string id = entry.path().filename().string();
    if (!IsJobId(id)) continue;
    const std::optional<std::string> text = ReadText(entry.path() / "job.json");
    const json saved = text ? json::parse(*text, nullptr, false) : json();
    if (!saved.is_object()) continue;
    auto job = std::make_shared<Job>();
    job->id = id;
    job->dir = entry.path();
    job->status = saved.value("status", "interrupted");
    job->message = saved.value("message", "");
    job->created = saved.value("created", "");
    job->started = saved.value("started", "");
    job->finished = saved.value("finished", "");
    job->step_ids = saved.value("step_ids", std::vector<std::string>{});
    job->steps = saved.value("steps", json::array());
    if (!Finished(job->status)) {
      job->status = "interrupted";
      job->message = "the server stopped before the job finished.";
      Save(*job);
    }
    jobs_[id] = job;
  }
}

JobManager::~JobManager() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    for (const auto& job : queue_) {
      job->status = "interrupted";
      job->message = "the server stopped before the job started.";
      Save(*job);
    }
    queue_.clear();
    for (const auto& [id, job] : jobs_) {
      if (job->status == "running") job->cancelled = true;
    }
  }
  queued_.notify_all();
  for (std::thread& worker : workers_) worker.join();
}

// 16 hex digits from a generator seeded by the OS (ids are not guessable from one another); called with
// mutex_ held.
std::string JobManager::NewId() {
  static std::mt19937_64 random(std::random_device{}());
  char text[kIdLength + 1];
  std::snprintf(text, sizeof text, "%016llx",
                static_cast<unsigned long long>(random() ^ (++id_counter_ << 48)));
  return text;
}

Status JobManager::CheckPaths(const PipelineSpec& spec) const {
  if (!spec.plugins.empty()) {
    return InvalidArgument(
        "a posted pipeline cannot load plugins ('plugins'); the server loads only its own.");
  }
  if (!Inside(spec.data.path, config_.base_dir))
    return InvalidArgument("data.path names a file outside the server's base folder for jobs.");
  if (spec.model.type != "remote" && !Inside(spec.model.path, config_.base_dir))
    return InvalidArgument("model.path names a file outside the server's base folder for jobs.");
  return Status::Ok();
}

// Parses and validates as `loupe validate` does (the same positioned sentences), with relative paths
// against base_dir; then the job is saved and queued.
http::Response JobManager::Submit(const std::string& yaml) {
  ParseOutcome parsed = ParsePipelineText(yaml, config_.base_dir / "pipeline.yaml", {});
  if (!parsed.diagnostics.empty()) return Refusal(parsed.diagnostics);
  PipelineSpec& spec = *parsed.spec;
  if (Status paths = CheckPaths(spec); !paths.ok())
    return JsonAnswer(400, {{"error", paths.message()}, {"diagnostics", {paths.message()}}});
  PipelineCheck check = ValidatePipeline(spec, *registry_);
  if (!check.diagnostics.empty()) return Refusal(check.diagnostics);
  // The outputs the endpoints serve: every step's JSON and the report.
  for (const std::string format : {"json", "html"}) {
    if (std::find(spec.output.formats.begin(), spec.output.formats.end(), format) ==
        spec.output.formats.end())
      spec.output.formats.push_back(format);
  }
  auto job = std::make_shared<Job>();
  job->status = "queued";
  job->created = UtcNow();
  for (const StepSpec& step : spec.steps) job->step_ids.push_back(step.id);
  job->model = check.model;
  std::lock_guard<std::mutex> lock(mutex_);
  if (stopping_) return http::ErrorResponse(503, "the server is shutting down.");
  job->id = NewId();
  while (jobs_.count(job->id) != 0) job->id = NewId();  // 64 random bits: practically never repeats
  job->dir = config_.dir / job->id;
  std::error_code ec;
  fs::create_directories(job->dir / "out", ec);
  if (report::WriteFileAtomically(job->dir / "pipeline.yaml", yaml).ok() == false || ec)
    return http::ErrorResponse(500, "cannot write the job's folder under the jobs folder.");
  job->spec = std::move(spec);
  Save(*job);
  jobs_[job->id] = job;
  queue_.push_back(job);
  queued_.notify_one();
  return JsonAnswer(202, {{"id", job->id}, {"status", job->status}, {"location", "/v1/runs/" + job->id}});
}

void JobManager::Work() {
  for (;;) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      queued_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      job = queue_.front();
      queue_.pop_front();
      job->status = "running";
      job->started = UtcNow();
      Save(*job);
    }
    RunJob(job);
  }
}

void JobManager::RunJob(const std::shared_ptr<Job>& job) {
  ++running_;
  RunOptions options;
  options.output_dir = job->dir / "out";
  options.threads = config_.threads;
  options.quiet = true;
  options.model = job->model;
  options.cancelled = &job->cancelled;
  const RunReport report = RunPipeline(*job->spec, *registry_, options);
  --running_;
  std::lock_guard<std::mutex> lock(mutex_);
  job->finished = UtcNow();
  job->steps = json::array();
  for (const StepOutcome& step : report.steps) {
    json outcome = {
        {"id", step.id}, {"status", StepStatusName(step.status)}, {"elapsed_ms", step.elapsed_ms}};
    if (step.failure != StepFailure::kNone) outcome["failure"] = StepFailureName(step.failure);
    if (!step.message.empty()) outcome["message"] = step.message;
    job->steps.push_back(std::move(outcome));
  }
  if (job->cancelled) {
    job->status = stopping_ ? "interrupted" : "cancelled";
    job->message = stopping_ ? "the server stopped while the job ran." : "the job was cancelled.";
  } else {
    job->status = report.status.ok() ? "succeeded" : "failed";
    job->message = report.status.ok() ? "" : report.status.message();
  }
  job->spec.reset();
  job->model.reset();
  Save(*job);
}

std::shared_ptr<JobManager::Job> JobManager::Find(const std::string& id) const {
  if (!IsJobId(id)) return nullptr;
  std::lock_guard<std::mutex> lock(mutex_);
  const auto found = jobs_.find(id);
  return found == jobs_.end() ? nullptr : found->second;
}

// The job's status; while it runs, a step whose JSON output exists has finished ("ok"), and the others
// are "pending".
http::Response JobManager::Describe(const std::string& id) const {
  const std::shared_ptr<Job> job = Find(id);
  if (job == nullptr) return http::ErrorResponse(404, "no job has the id '" + id + "'.");
  json body;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    body = JobJson(*job);
  }
  body.erase("step_ids");
  if (body["steps"].empty()) {
    for (const std::string& step : job->step_ids) {
      std::error_code ec;
      const bool done = fs::exists(job->dir / "out" / (step + ".json"), ec);
      body["steps"].push_back({{"id", step}, {"status", done ? "ok" : "pending"}});
    }
  }
  int done = 0;
  for (const json& step : body["steps"]) done += step["status"] != "pending";
  body["progress"] = {{"steps_done", done}, {"steps", job->step_ids.size()}};
  return JsonAnswer(200, body);
}

http::Response JobManager::Report(const std::string& id) const {
  const std::shared_ptr<Job> job = Find(id);
  if (job == nullptr) return http::ErrorResponse(404, "no job has the id '" + id + "'.");
  const std::optional<std::string> html = ReadText(job->dir / "out" / "report.html");
  if (!html) return http::ErrorResponse(404, "job '" + id + "' has no report yet.");
  http::Response response;
  response.content_type = "text/html; charset=utf-8";
  response.body = *html;
  return response;
}

http::Response JobManager::StepOutput(const std::string& id, const std::string& step) const {
  const std::shared_ptr<Job> job = Find(id);
  if (job == nullptr) return http::ErrorResponse(404, "no job has the id '" + id + "'.");
  // Only a step id of the job's own pipeline becomes a file name.
  if (std::find(job->step_ids.begin(), job->step_ids.end(), step) == job->step_ids.end())
    return http::ErrorResponse(404, "job '" + id + "' has no step '" + step + "'.");
  const std::optional<std::string> text = ReadText(job->dir / "out" / (step + ".json"));
  if (!text) return http::ErrorResponse(404, "step '" + step + "' of job '" + id + "' has no output (yet).");
  http::Response response;
  response.body = *text;
  return response;
}

http::Response JobManager::Cancel(const std::string& id) {
  const std::shared_ptr<Job> job = Find(id);
  if (job == nullptr) return http::ErrorResponse(404, "no job has the id '" + id + "'.");
  std::lock_guard<std::mutex> lock(mutex_);
  if (Finished(job->status))
    return http::ErrorResponse(409, "job '" + id + "' has already ended (" + job->status + ").");
  job->cancelled = true;
  if (job->status == "queued") {
    queue_.erase(std::remove(queue_.begin(), queue_.end(), job), queue_.end());
    job->status = "cancelled";
    job->message = "the job was cancelled before it started.";
    job->finished = UtcNow();
    job->spec.reset();
    job->model.reset();
    Save(*job);
  }
  return JsonAnswer(202, {{"id", id}, {"status", job->status == "running" ? "cancelling" : job->status}});
}

}  // namespace loupe::serve
