// Executes a validated pipeline: data and model first, then the steps as a TBB flow graph.
#include <tbb/flow_graph.h>
#include <tbb/global_control.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>

#include "loupe/c/loupe_plugin.h"
#include "loupe/core/dataset.hpp"
#include "loupe/core/explainer.hpp"
#include "loupe/core/model.hpp"
#include "loupe/core/pipeline.hpp"
#include "loupe/core/plugin.hpp"
#include "loupe/sdk/random.hpp"
#include "model/remote_model.hpp"
#include "mpi/shared_predict.hpp"
#include "mpi/world.hpp"
#include "pipeline/checkpoint.hpp"
#include "pipeline/chunked_input.hpp"
#include "pipeline/isolate.hpp"
#include "pipeline/row_shards.hpp"
#include "pipeline/validate.hpp"
#include "plugin/tbb_handoff.hpp"
#include "report/html_report.hpp"
#include "report/npy_files.hpp"
#include "report/output_files.hpp"
#include "report/row_spill.hpp"

namespace loupe {

const char* StepStatusName(StepStatus status) {
  switch (status) {
    case StepStatus::kOk:
      return "ok";
    case StepStatus::kFailed:
      return "failed";
    case StepStatus::kSkipped:
      return "skipped";
  }
  return "failed";
}

StepFailure StepFailureFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return StepFailure::kNone;
    case StatusCode::kInvalidArgument:
    case StatusCode::kNotFound:
      return StepFailure::kBadParameters;
    case StatusCode::kUnsupported:
      return StepFailure::kUnsupported;
    case StatusCode::kModelError:
      return StepFailure::kModel;
    case StatusCode::kIoError:
      return StepFailure::kOutput;
    case StatusCode::kCancelled:
      return StepFailure::kCancelled;
    case StatusCode::kPluginError:
    case StatusCode::kInternal:  // from a plugin: LOUPE_ERROR_INTERNAL, an exception, a malformed result
      return StepFailure::kPlugin;
  }
  return StepFailure::kPlugin;
}

const char* StepFailureName(StepFailure failure) {
  switch (failure) {
    case StepFailure::kNone:
      return "";
    case StepFailure::kBadParameters:
      return "bad_parameters";
    case StepFailure::kUnsupported:
      return "unsupported";
    case StepFailure::kModel:
      return "model";
    case StepFailure::kPlugin:
      return "plugin";
    case StepFailure::kOutput:
      return "output";
    case StepFailure::kCancelled:
      return "cancelled";
    case StepFailure::kCrashed:
      return "crashed";
  }
  return "plugin";
}

std::uint64_t StepSeed(std::uint64_t pipeline_seed, const std::string& step_id) {
  std::uint64_t hash = 0xCBF29CE484222325ULL;  // FNV-1a over the id, then mixed with the seed
  for (unsigned char c : step_id) hash = (hash ^ c) * 0x100000001B3ULL;
  return sdk::detail::SplitMix64(hash ^ sdk::detail::SplitMix64(pipeline_seed));
}

namespace {

using Clock = std::chrono::steady_clock;

double MillisecondsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

Status ErrorAt(const SourcePos& pos, const std::string& message) {
  return InvalidArgument(Diagnostic{pos, message}.ToString());
}

SourcePos DataFieldPos(const DataSpec& data, const std::string& field) {
  const auto it = data.field_pos.find(field);
  return it != data.field_pos.end() ? it->second : data.pos;
}

// Every name of `names` must be a column of `dataset`.
Status CheckColumnsExist(const DataSpec& spec, const Dataset& dataset, const std::string& field,
                         const std::vector<std::string>& names) {
  for (const std::string& name : names) {
    if (dataset.Find(name) == nullptr) {
      return ErrorAt(DataFieldPos(spec, field), "data." + field + " names the column '" + name +
                                                    "', which '" + spec.path.filename().string() +
                                                    "' does not have.");
    }
  }
  return Status::Ok();
}

// The model's text inputs (loupe/core/attention.hpp): columns read as text even when not under data.text.
std::vector<std::string> ModelTextInputs(const Model& model) {
  std::vector<std::string> names;
  for (const ModelInput& input : model.Info().inputs) {
    if (input.type == ColumnType::kText) names.push_back(input.name);
  }
  return names;
}

bool Contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace

CsvOptions RunCsvOptions(const DataSpec& spec, std::int64_t index_every) {
  CsvOptions options;
  options.index_every = index_every;
  options.unheld_features = index_every > 0;
  options.features = spec.features;
  options.missing = spec.missing;
  options.categorical = spec.categorical;
  options.text = spec.text;
  options.target = spec.target;
  options.sensitive = spec.sensitive;
  options.option_prefix = "data.";  // errors name the pipeline's keys: "data.categorical names column ..."
  return options;
}

namespace {

// `index_every` > 0, chunked input: the feature columns' values are not held (CsvOptions::unheld_features)
// and the reader records where every index_every-th row starts, for reading them again. `given`: the data
// set validation read (RunOptions::data), taken when it was read with the same `index_every` (and so the
// same options) from the same file; otherwise the file is read here.
Result<Dataset> LoadData(const DataSpec& spec, const std::vector<std::string>& model_text,
                         std::int64_t index_every, Dataset* given) {
  CsvOptions options = RunCsvOptions(spec, index_every);
  const bool take = given != nullptr && given->num_columns() > 0 && given->source() == spec.path.string() &&
                    given->row_index().every == std::max<std::int64_t>(index_every, 0);
  Result<Dataset> dataset = take ? Result<Dataset>(std::move(*given)) : ReadCsv(spec.path, options);
  if (!dataset.ok()) return dataset.status();
  // A column the model reads as text but the reader inferred otherwise: read again, forcing it to text.
  bool reread = false;
  for (const std::string& name : model_text) {
    const Column* column = dataset->Find(name);
    if (column != nullptr && column->type() != ColumnType::kText && !Contains(spec.categorical, name)) {
      options.text.push_back(name);
      reread = true;
    }
  }
  if (reread) dataset = ReadCsv(spec.path, options);
  if (!dataset.ok()) return dataset.status();
  if (spec.target) LOUPE_RETURN_IF_ERROR(CheckColumnsExist(spec, *dataset, "target", {*spec.target}));
  LOUPE_RETURN_IF_ERROR(CheckColumnsExist(spec, *dataset, "features", spec.features));
  LOUPE_RETURN_IF_ERROR(CheckColumnsExist(spec, *dataset, "sensitive", spec.sensitive));
  if (spec.positive && spec.target) {
    const Column& target = *dataset->Find(*spec.target);
    const auto& levels = target.schema().levels;
    if (target.type() == ColumnType::kCategorical &&
        std::find(levels.begin(), levels.end(), *spec.positive) == levels.end()) {
      return ErrorAt(
          DataFieldPos(spec, "positive"),
          "data.positive is '" + *spec.positive + "', which is not a value of '" + *spec.target + "'.");
    }
  }
  return dataset;
}

// The pipeline's features: as listed, or every column but the target, leaving out text columns the
// model does not read as text (`model_text`).
Result<std::vector<std::string>> FeatureNames(const DataSpec& spec, const Dataset& dataset,
                                              const std::vector<std::string>& model_text) {
  if (!spec.features.empty()) {
    for (const std::string& name : spec.features) {
      if (dataset.Find(name)->type() == ColumnType::kText && !Contains(model_text, name)) {
        return ErrorAt(DataFieldPos(spec, "features"),
                       "feature '" + name +
                           "' is a text column, which the model does not read as text; tabular features "
                           "must be numeric or categorical.");
      }
    }
    return spec.features;
  }
  std::vector<std::string> names;
  for (const Column& column : dataset.columns()) {
    if ((column.type() != ColumnType::kText || Contains(model_text, column.name())) &&
        column.name() != spec.target.value_or("")) {
      names.push_back(column.name());
    }
  }
  return names;
}

// Draws one-line progress bars on stderr, at most ten times a second.
class ProgressPrinter {
 public:
  explicit ProgressPrinter(bool enabled) : enabled_(enabled) {}
  void Update(const std::string& step, std::uint64_t done, std::uint64_t total) {
    if (!enabled_ || total == 0) return;
    std::lock_guard<std::mutex> lock(mutex_);
    const auto now = Clock::now();
    if (done < total && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    const int width = 30;
    const int filled = static_cast<int>(width * static_cast<double>(done) / static_cast<double>(total));
    std::fprintf(stderr, "\r%-16.16s [%-*s] %3d%%", step.c_str(), width, std::string(filled, '#').c_str(),
                 static_cast<int>(100.0 * static_cast<double>(done) / static_cast<double>(total)));
    if (done >= total) std::fprintf(stderr, "\n");
    std::fflush(stderr);
  }

 private:
  bool enabled_;
  std::mutex mutex_;
  Clock::time_point last_{};
};

struct StepState {
  const StepSpec* spec = nullptr;
  std::vector<std::size_t> needs;  // indices of the steps it needs
  StepOutcome outcome;
  std::optional<Explanation> explanation;
  bool crashed = false;  // its isolated child died (--isolate): the failure is "crashed"
  bool resumed = false;  // finished by the run this one resumes: read back, not computed
  bool chunked = false;  // explained a chunk of rows at a time, each chunk recorded
  // Chunked input: the rows the step's plugin calls resolve (a background), held until the step ends
  // (its calls resolve the same rows), and the rows its current call explains, held for the call.
  std::shared_ptr<pipeline::ChunkedFeatures::Pins> resolved_pins;
  pipeline::ChunkedFeatures::Pins call_pins;
  // Streamed (its rows written to disk chunk by chunk), or sampled for the report at the end of the run
  // (SampleForReport): `explanation` then holds every `report_every`-th of its `report_of` rows.
  std::int64_t report_every = 0, report_of = 0;
};

constexpr std::int64_t kDefaultChunkRows = 4096;

class PipelineRunner {
 public:
  PipelineRunner(const PipelineSpec& spec, const PluginRegistry& registry, const RunOptions& options)
      : spec_(spec), registry_(registry), options_(options), progress_(options.progress && !options.quiet) {}

  RunReport Run() {
    const auto start = Clock::now();
    report_.output_dir = options_.output_dir.value_or(spec_.output.dir);
    seed_ = options_.seed.value_or(spec_.seed);
    report_.status = AgreeAcrossRanks(Prepare());  // under MPI: no rank starts a step another cannot
    if (report_.status.ok()) {
      if (mpi::Distributed()) {
        RunInOrder();
      } else {
        RunGraph();
      }
      report_.status = Summarise();
    }
    if (chunked_input_) report_.rows_read_again = chunked_input_->rows_read();
    if (mpi::IsRoot()) WriteRunFile(MillisecondsSince(start));
    if (checkpoints_ && report_.status.ok()) checkpoints_->Remove();  // nothing left to resume
    if (mpi::Distributed()) report_.status = RootStatusOnEveryRank(report_.status);
    return report_;
  }

 private:
  Status Prepare() {
    // The model ValidatePipeline loaded, when the caller passes it on: loaded once per run.
    Result<std::shared_ptr<const Model>> model =
        options_.model                 ? Result<std::shared_ptr<const Model>>(options_.model)
        : spec_.model.type == "remote" ? LoadRemoteModel(spec_.model.url, spec_.model.remote_options)
                                       : LoadModelOfSpec(spec_.model);
    if (!model.ok()) return model.status();
    const std::vector<std::string> model_text = ModelTextInputs(**model);
    const std::int64_t index_every = RunIndexEvery(spec_, options_.isolate);
    const bool chunked_input = index_every > 0;
    LOUPE_ASSIGN_OR_RETURN(dataset_, LoadData(spec_.data, model_text, index_every, options_.data.get()));
    LOUPE_ASSIGN_OR_RETURN(feature_names_, FeatureNames(spec_.data, dataset_, model_text));
    LOUPE_ASSIGN_OR_RETURN(model_, FeatureModel::Create(*model, dataset_, feature_names_));
    if (chunked_input) {
      // Chunked input: the matrix's rows are read from the file as the plugin calls need them; over no
      // more rows than a chunk, all of them now.
      CsvOptions options;
      options.missing = spec_.data.missing;
      LOUPE_ASSIGN_OR_RETURN(data::CsvRowReader reader,
                             data::CsvRowReader::Create(dataset_, options, feature_names_));
      LOUPE_ASSIGN_OR_RETURN(std::shared_ptr<Tensor> matrix, dataset_.ShareUnfilledMatrix(feature_names_));
      features_ = matrix;
      if (dataset_.num_rows() > chunk_rows_) {
        chunked_input_ = std::make_unique<pipeline::ChunkedFeatures>(std::move(reader), std::move(matrix));
      } else {
        LOUPE_RETURN_IF_ERROR(reader.Fill(0, dataset_.num_rows(), matrix->data<double>()));
        report_.rows_read_again = dataset_.num_rows();
      }
    } else {
      // The features are held once, in the matrix the explainers read; the data set's feature columns
      // become views of it.
      LOUPE_ASSIGN_OR_RETURN(features_, dataset_.ShareMatrix(feature_names_));
    }
    if (mpi::IsRoot()) {  // under MPI rank 0 alone writes the outputs
      std::error_code ec;
      std::filesystem::create_directories(report_.output_dir, ec);
      if (ec)
        return IoError("cannot create the output folder '" + report_.output_dir.string() +
                       "': " + ec.message() + ".");
      report::RemoveStaleTemporaries(report_.output_dir);  // left by a killed run (docs/architecture.md §5)
    }
    LOUPE_RETURN_IF_ERROR(OpenCheckpoints());
    steps_.resize(spec_.steps.size());
    for (std::size_t i = 0; i < spec_.steps.size(); ++i) {
      steps_[i].spec = &spec_.steps[i];
      steps_[i].outcome.id = spec_.steps[i].id;
      for (const std::string& need : spec_.steps[i].needs) {
        for (std::size_t j = 0; j < i; ++j) {
          if (spec_.steps[j].id == need) steps_[i].needs.push_back(j);
        }
      }
    }
    return Status::Ok();
  }

  // The record of what this run finishes (pipeline/checkpoint.hpp), or, with --resume, the one the
  // interrupted run left. Under MPI rank 0 keeps it: it receives every piece (ExplainStreamedAcrossRanks,
  // ResumeOrExplainAndWrite tell the other ranks what it holds).
  Status OpenCheckpoints() {
    if (!mpi::IsRoot()) return Status::Ok();  // under MPI rank 0 keeps the record of the whole run
    checkpoint::RunRecord record;
    record.pipeline = spec_.file;
    record.overrides = options_.overrides;
    record.seed = seed_;
    record.chunk_rows = chunk_rows_;
    record.identity = checkpoint::Identity(spec_);
    Result<checkpoint::Store> store = options_.resume ? checkpoint::Store::Resume(report_.output_dir, record)
                                                      : checkpoint::Store::Start(report_.output_dir, record);
    if (!store.ok()) return store.status();
    checkpoints_.emplace(std::move(*store));
    if (options_.resume) {
      Log(2, "resuming the run in '" + report_.output_dir.string() +
                 "': " + std::to_string(checkpoints_->resumed_steps()) + " finished steps and " +
                 std::to_string(checkpoints_->resumed_chunks()) + " finished chunks recorded.");
    }
    return Status::Ok();
  }

  void RunGraph() {
    std::optional<tbb::global_control> threads;
    if (options_.threads > 0) {
      threads.emplace(tbb::global_control::max_allowed_parallelism,
                      static_cast<std::size_t>(options_.threads));
    }
    tbb::flow::graph graph;
    // For ThreadSanitizer (plugin/tbb_handoff.hpp): the run's start, and each step's end for the steps
    // that need it and for the caller.
    plugin::TbbHandoff run_start;
    std::vector<plugin::TbbHandoff> step_ends(steps_.size());
    std::vector<std::unique_ptr<tbb::flow::continue_node<tbb::flow::continue_msg>>> nodes;
    for (std::size_t i = 0; i < steps_.size(); ++i) {
      nodes.push_back(std::make_unique<tbb::flow::continue_node<tbb::flow::continue_msg>>(
          graph, [this, i, &run_start, &step_ends](const tbb::flow::continue_msg&) {
            run_start.TaskStarts();
            for (std::size_t need : steps_[i].needs) step_ends[need].AfterJoin();
            RunStep(steps_[i]);
            step_ends[i].TaskEnds();
          }));
      for (std::size_t need : steps_[i].needs) tbb::flow::make_edge(*nodes[need], *nodes[i]);
    }
    run_start.BeforeSpawn();
    for (std::size_t i = 0; i < steps_.size(); ++i) {
      if (steps_[i].needs.empty()) nodes[i]->try_put(tbb::flow::continue_msg());
    }
    graph.wait_for_all();
    for (plugin::TbbHandoff& step_end : step_ends) step_end.AfterJoin();
  }

  // Under MPI (mpirun -n K, K > 1) the steps run one at a time in the file's order, which every rank
  // shares, so that the ranks enter the collectives of the steps split by rows in the same order. A step
  // still uses every thread of its rank. The file's order is a valid order: a step needs only earlier ones.
  void RunInOrder() {
    std::optional<tbb::global_control> threads;
    if (options_.threads > 0) {
      threads.emplace(tbb::global_control::max_allowed_parallelism,
                      static_cast<std::size_t>(options_.threads));
    }
    for (StepState& step : steps_) {
      if (SplitAcrossRanks(step)) {
        RunStep(step);
        continue;
      }
      // Rank 0 runs the step; the other ranks predict the blocks of its model calls (ServedByRanks).
      if (!mpi::IsRoot()) {
        step.outcome.status = StepStatus::kSkipped;
        step.outcome.message = "runs on MPI rank 0.";
      }
      const Status served = mpi::RunServed([this, &step] { RunStepOnItsThread(step); },
                                           [this, &step](std::string_view request) {
                                             return mpi::AnswerPredictRequest(
                                                 *model_, request, InjectedFault(step.spec->id, -1).status());
                                           });
      if (served.ok()) continue;
      if (mpi::IsRoot() && step.outcome.status != StepStatus::kFailed) {
        step.outcome.status = StepStatus::kFailed;
        step.outcome.failure = StepFailureFor(served.code());
        step.outcome.message = served.message();
      } else if (!mpi::IsRoot()) {
        std::cerr << "loupe: error: MPI rank " << mpi::Rank() << ", step '" << step.spec->id
                  << "': " << served.message() << "\n";
      }
    }
  }

  // RunStep on the thread mpi::RunServed gives it, which has no caller to pass an exception to.
  void RunStepOnItsThread(StepState& step) {
    try {
      RunStep(step);
    } catch (const std::exception& e) {
      step.outcome.status = StepStatus::kFailed;
      step.outcome.failure = StepFailure::kPlugin;
      step.outcome.message = std::string("the step failed: ") + e.what();
    }
  }

  // Whether the model calls of a step that rank 0 runs alone are shared among the ranks
  // (mpi/shared_predict.hpp). Not under --isolate: the step's child process cannot reach the other ranks.
  bool ServedByRanks(const StepState& step) const {
    return mpi::Distributed() && !SplitAcrossRanks(step) && !options_.isolate;
  }

  // Whether the step's rows are split across the MPI ranks (pipeline/row_shards.hpp): a local explainer
  // whose step needs no other step (the explanations of earlier steps live on rank 0 alone). Decided from
  // the pipeline alone, so every rank decides the same.
  bool SplitAcrossRanks(const StepState& step) const {
    return mpi::Distributed() && step.needs.empty() && shards::SplitsByRows(step.spec->explainer);
  }

  // Collective under MPI: every rank gets the first failure among the ranks' `mine` (in rank order), with
  // the rank that failed named; OK when all are OK. Without MPI, `mine`.
  static Status AgreeAcrossRanks(const Status& mine) {
    if (!mpi::Distributed()) return mine;
    const Result<std::vector<std::string>> gathered = mpi::GatherToRoot(EncodeStatus(mine));
    std::string verdict = shards::EncodeNothing();
    if (!gathered.ok()) {
      verdict = EncodeStatus(gathered.status());
    } else if (mpi::IsRoot()) {
      for (std::size_t rank = 0; rank < gathered->size(); ++rank) {
        bool has_explanation = false;
        const Result<Explanation> outcome = shards::DecodeOutcome((*gathered)[rank], has_explanation);
        if (outcome.ok()) continue;
        verdict = EncodeStatus(OnRank(outcome.status(), rank));
        break;
      }
    }
    return DecodedStatus(verdict);
  }

  // Collective under MPI: rank 0's status of the run on every rank, so that every rank exits alike.
  static Status RootStatusOnEveryRank(const Status& mine) {
    std::string verdict = EncodeStatus(mine);
    if (Status s = mpi::BroadcastFromRoot(verdict); !s.ok()) return s;
    return DecodedStatus(verdict);
  }

  // A Status as the bytes of a rank's outcome (row_shards.hpp), and back.
  static std::string EncodeStatus(const Status& status) {
    return status.ok() ? shards::EncodeNothing() : shards::EncodeOutcome(Result<Explanation>(status));
  }
  static Status DecodedStatus(const std::string& verdict) {
    bool has_explanation = false;
    const Result<Explanation> outcome = shards::DecodeOutcome(verdict, has_explanation);
    return outcome.ok() ? Status::Ok() : outcome.status();
  }

  // "MPI rank 2 of 3: <the sentence>", keeping its code (and so the step's kind of failure).
  static Status OnRank(const Status& status, std::size_t rank) {
    return Status(status.code(), "MPI rank " + std::to_string(rank) + " of " + std::to_string(mpi::Size()) +
                                     ": " + status.message());
  }

  bool Cancelled() const { return options_.cancelled != nullptr && options_.cancelled->load(); }

  // Out of line, so that ThreadSanitizer names a race in a step under this frame rather than under TBB's
  // node template it would be inlined into (tests/sanitizers/tsan.supp).
  [[gnu::noinline]] void RunStep(StepState& step) {
    const auto start = Clock::now();
    // Before the needs: every step a cancelled run did not start says so. A step split across MPI ranks
    // goes on to its collective, where its explainer sees the cancellation.
    if (Cancelled() && !SplitAcrossRanks(step)) {
      step.outcome.status = StepStatus::kFailed;
      step.outcome.failure = StepFailure::kCancelled;
      step.outcome.message = "the run was cancelled before this step started.";
      return;
    }
    for (std::size_t need : step.needs) {
      if (steps_[need].outcome.status != StepStatus::kOk) {
        step.outcome.status = StepStatus::kSkipped;
        step.outcome.message =
            "skipped because step '" + steps_[need].outcome.id + "' " +
            (steps_[need].outcome.status == StepStatus::kFailed ? "failed." : "was skipped.");
        return;
      }
    }
    const Status status = ResumeOrExplainAndWrite(step);
    if (!step.resumed) step.outcome.elapsed_ms = MillisecondsSince(start);
    step.outcome.status = status.ok() ? StepStatus::kOk : StepStatus::kFailed;
    step.outcome.failure = step.crashed ? StepFailure::kCrashed : StepFailureFor(status.code());
    step.outcome.message = status.ok() ? "" : status.message();
  }

  // A step the resumed run finished is read back (its output files written again only if one is gone);
  // any other step is computed, and recorded once its outputs are written.
  // Under MPI rank 0 alone keeps the record; a step split across the ranks is skipped by every rank when
  // rank 0 has it.
  Status ResumeOrExplainAndWrite(StepState& step) {
    std::optional<checkpoint::FinishedPiece> finished;
    Result<Explanation> explanation{Explanation{}};
    bool has_explanation = false;
    if (checkpoints_ && (finished = checkpoints_->FinishedStep(step.spec->id))) {
      explanation = shards::DecodeOutcome(finished->bytes, has_explanation);
      has_explanation = has_explanation && explanation.ok();
    }
    if (SplitAcrossRanks(step)) {
      std::string recorded = has_explanation ? "1" : "0";
      LOUPE_RETURN_IF_ERROR(mpi::BroadcastFromRoot(recorded));
      if (!mpi::IsRoot() && recorded == "1") return Status::Ok();  // rank 0 reads it back
    }
    if (!checkpoints_) return ExplainAndWrite(step);
    if (has_explanation) {
      bool outputs_present = true;
      for (const std::string& file : finished->files) {
        step.outcome.files.push_back(report_.output_dir / file);
        outputs_present = outputs_present && std::filesystem::exists(step.outcome.files.back());
      }
      if (!outputs_present) {
        step.outcome.files.clear();
        LOUPE_RETURN_IF_ERROR(WriteOutputs(*explanation, step.outcome.files));
      }
      step.explanation = std::move(*explanation);
      step.outcome.elapsed_ms = finished->elapsed_ms;
      step.resumed = true;
      return Status::Ok();
    }
    const auto start = Clock::now();
    LOUPE_RETURN_IF_ERROR(ExplainAndWrite(step));
    if (step.chunked) return Status::Ok();  // its chunks are recorded: a resume joins them again
    std::vector<std::string> files;
    for (const std::filesystem::path& file : step.outcome.files) files.push_back(file.filename().string());
    return checkpoints_->SaveStep(step.spec->id, files, MillisecondsSince(start),
                                  shards::EncodeOutcome(*step.explanation));
  }

  Status ExplainAndWrite(StepState& step) {
    const StepSpec& spec = *step.spec;
    const LoadedExplainer* explainer = registry_.Find(spec.explainer);
    if (explainer == nullptr) return NotFound("explainer '" + spec.explainer + "' is not loaded.");
    ExplainRequest request;
    request.step_id = spec.id;
    request.dataset = &dataset_;
    request.feature_names = feature_names_;
    request.features = features_;
    request.model = model_;
    request.params = spec.params;
    request.seed = StepSeed(seed_, spec.id);
    request.positive_label = spec_.data.positive;
    request.cancelled = options_.cancelled;
    struct ReleaseResolved {  // the resolved rows let go when the step ends, however it ends
      pipeline::ChunkedFeatures* chunked;
      pipeline::ChunkedFeatures::Pins* pins;
      ~ReleaseResolved() {
        if (chunked != nullptr && pins != nullptr) chunked->Release(*pins);
      }
    } release_resolved{chunked_input_.get(), nullptr};
    if (chunked_input_) {
      step.resolved_pins = std::make_shared<pipeline::ChunkedFeatures::Pins>();
      release_resolved.pins = step.resolved_pins.get();
      request.read_rows = [chunked = chunked_input_.get(), pins = step.resolved_pins](
                              const std::int64_t* rows, std::int64_t n) {
        return chunked->Pin(rows, n, *pins);
      };
    }
    for (std::size_t need : step.needs) request.inputs.push_back(&*steps_[need].explanation);
    RowSelection selection;
    if (!spec.rows.is_null()) {
      LOUPE_ASSIGN_OR_RETURN(selection, RowSelection::FromJson(spec.rows));
    }
    LOUPE_ASSIGN_OR_RETURN(request.rows, selection.Resolve(dataset_.num_rows(), request.seed, /*stream=*/0));
    request.progress = [this, id = spec.id](std::uint64_t done, std::uint64_t total) {
      progress_.Update(id, done, total);
    };
    if (ServedByRanks(step)) {
      // Whether sharing pays for this step's model (mpi::SharingPolicy): decided by its first calls.
      auto policy = std::make_shared<mpi::SharingPolicy>();
      request.predict = [model = model_, policy](const TensorView& rows, OutputSpace space,
                                                 std::span<double> out) {
        return mpi::SharedPredictInto(*model, rows, space, out, policy.get());
      };
      request.predict_variants = [model = model_, policy](const TensorView& base, std::int64_t n_variants,
                                                          const std::int64_t* offsets,
                                                          const std::int64_t* columns, const double* values,
                                                          OutputSpace space, std::span<double> out) {
        return mpi::SharedPredictVariantsInto(*model, base, n_variants, offsets, columns, values, space, out,
                                              policy.get());
      };
    }
    if (SplitAcrossRanks(step)) {
      if (CanStream(step, request)) return ExplainStreamedAcrossRanks(*explainer, request, step);
      return ExplainJoinedAcrossRanks(*explainer, request, step);
    }
    if (checkpoints_ && CanStream(step, request)) return ExplainStreamed(*explainer, request, step);
    return ExplainWhole(*explainer, request, step);
  }

  // Collective: the step's rows split into one block per rank (ExplainAcrossRanks), written by rank 0.
  Status ExplainJoinedAcrossRanks(const LoadedExplainer& explainer, const ExplainRequest& request,
                                  StepState& step) {
    LOUPE_ASSIGN_OR_RETURN(Explanation explanation, ExplainAcrossRanks(explainer, request, step));
    if (!mpi::IsRoot()) return Status::Ok();  // rank 0 writes; the step's outcome is the same everywhere
    LOUPE_RETURN_IF_ERROR(WriteOutputs(explanation, step.outcome.files));
    step.explanation = std::move(explanation);
    return Status::Ok();
  }

  Status ExplainWhole(const LoadedExplainer& explainer, const ExplainRequest& request, StepState& step) {
    LOUPE_ASSIGN_OR_RETURN(Explanation explanation, ExplainInChunks(explainer, request, step));
    LOUPE_RETURN_IF_ERROR(WriteOutputs(explanation, step.outcome.files));
    step.explanation = std::move(explanation);
    return Status::Ok();
  }

  // Whether the step's outputs stream to disk as its chunks finish (docs/architecture.md §5 "Streamed
  // steps"): a local step over more rows than a chunk whose explanation no later step needs (those read it
  // whole from memory). Decided from the pipeline and the chunk size alone, so every MPI rank decides the
  // same.
  bool CanStream(const StepState& step, const ExplainRequest& request) const {
    if (!step.needs.empty() || !shards::SplitsByRows(step.spec->explainer) ||
        static_cast<std::int64_t>(request.rows.size()) <= chunk_rows_) {
      return false;
    }
    const auto index = static_cast<std::size_t>(&step - steps_.data());
    for (const StepState& other : steps_) {
      if (std::find(other.needs.begin(), other.needs.end(), index) != other.needs.end()) return false;
    }
    return true;
  }

  // The typed and string fields of a chunk that hold one entry per row; empty when the chunk also has a
  // per-row field as JSON (which cannot be streamed: the step is then joined in memory).
  static std::vector<std::string> StreamedFields(const Explanation& chunk) {
    const Tensor* rows = chunk.TypedArray("rows");
    if (rows == nullptr || rows->ndim() != 1) return {};
    const std::int64_t n = rows->dim(0);
    for (const auto& [key, value] : chunk.body.items()) {
      if (shards::IsPerRowField(key) && value.is_array() && static_cast<std::int64_t>(value.size()) == n)
        return {};
    }
    std::vector<std::string> fields;
    for (const auto& [path, tensor] : chunk.arrays) {
      if (shards::IsPerRowField(path) && tensor.ndim() >= 1 && tensor.dim(0) == n) fields.push_back(path);
    }
    for (const auto& [path, text] : chunk.texts) {
      if (shards::IsPerRowField(path) && text.dim(0) == n) fields.push_back(path);
    }
    return fields;
  }

  // The outputs of a streamed step, written as its chunks arrive in row order (ExplainStreamed, and rank 0
  // of ExplainStreamedAcrossRanks): each chunk's per-row fields are appended to their .npy files
  // (report/row_spill.hpp) and its lines to the CSV, and only the chunk's metadata and a sample of its rows
  // stay in memory. At the end those are joined (shards::MergeRowBlocks: the same metadata and quality
  // figures as the whole join) and the JSON is written from them with the per-row fields read back from
  // the files: the same bytes as the unstreamed path. The step's explanation in memory is the sample, for
  // the report.
  class StreamedOutputs {
   public:
    StreamedOutputs(const PipelineRunner& runner, const std::string& id, std::int64_t rows)
        : runner_(runner),
          id_(id),
          rows_(rows),
          every_(shards::ReportSampleEvery(rows)),
          spill_(runner.report_.output_dir, id, rows) {}

    // Appends chunk k of the step (its rows from k × the chunk size on). An error of kind kInternal: the
    // chunks cannot be streamed (the step is then joined in memory). whole() after chunk 0: the chunk has
    // a per-row field stored as JSON, which cannot be streamed either.
    Status Add(Explanation chunk, std::int64_t k) {
      if (k == 0) {
        fields_ = StreamedFields(chunk);
        if (fields_.empty()) {
          whole_ = true;
          return Status::Ok();
        }
        if (runner_.Wants("csv") && chunk.kind == "feature_attribution") {
          LOUPE_ASSIGN_OR_RETURN(csv_, report::AtomicFile::Open(runner_.report_.output_dir / (id_ + ".csv")));
          LOUPE_RETURN_IF_ERROR(report::WriteAttributionCsvHeader(csv_->out(), chunk));
        }
      }
      LOUPE_RETURN_IF_ERROR(spill_.Append(chunk, fields_));
      if (csv_) LOUPE_RETURN_IF_ERROR(report::WriteAttributionCsvRows(csv_->out(), chunk));
      samples_.push_back(shards::KeepEveryRow(std::move(chunk), k * runner_.chunk_rows_, every_));
      return Status::Ok();
    }
    bool whole() const { return whole_; }

    // Once every chunk is added: the samples joined and the spilled fields closed. kInternal: they cannot
    // be joined (the step then runs whole).
    Status Join() {
      Result<Explanation> sample = shards::MergeRowBlocks(samples_);
      samples_.clear();
      if (!sample.ok()) return sample.status();
      LOUPE_ASSIGN_OR_RETURN(spilled_, spill_.Finish());
      sample_ = std::move(*sample);
      return Status::Ok();
    }

    // After Join: the JSON, CSV and .npy files in place, the sample as the step's explanation.
    Status Write(StepState& step, Clock::time_point start) {
      sample_.elapsed_ms = MillisecondsSince(start);
      const std::filesystem::path& dir = runner_.report_.output_dir;
      std::vector<std::filesystem::path>& files = step.outcome.files;
      const std::filesystem::path json = dir / (id_ + ".json");
      LOUPE_RETURN_IF_ERROR(report::WriteExplanationJson(json, sample_, spilled_));
      files.push_back(json);
      if (csv_) {
        LOUPE_RETURN_IF_ERROR(csv_->Commit());
        files.push_back(csv_->path());
      }
      if (runner_.Wants("npy"))
        LOUPE_RETURN_IF_ERROR(report::WriteExplanationNpy(dir, sample_, files, &spill_));
      step.report_every = every_;
      step.report_of = rows_;
      step.explanation = std::move(sample_);
      return Status::Ok();
    }

   private:
    const PipelineRunner& runner_;
    std::string id_;
    std::int64_t rows_, every_;
    report::RowSpill spill_;
    std::unique_ptr<report::AtomicFile> csv_;
    std::vector<std::string> fields_;
    std::vector<Explanation> samples_;
    bool whole_ = false;
    Explanation sample_;
    report::SpilledArrays spilled_;
  };

  // A step explained a chunk of rows at a time (as ExplainInChunks) with its outputs streamed
  // (StreamedOutputs); falls back to the step joined in memory when its chunks cannot be streamed.
  Status ExplainStreamed(const LoadedExplainer& explainer, const ExplainRequest& request, StepState& step) {
    const auto start = Clock::now();
    step.chunked = true;
    const std::string& id = step.spec->id;
    const auto rows = static_cast<std::int64_t>(request.rows.size());
    const std::int64_t count = (rows + chunk_rows_ - 1) / chunk_rows_;
    StreamedOutputs outputs(*this, id, rows);
    const ExplainRequest base = WithoutRows(request);
    for (std::int64_t k = 0; k < count; ++k) {
      if (Cancelled()) return Status(StatusCode::kCancelled, "the run was cancelled.");
      LOUPE_ASSIGN_OR_RETURN(Explanation chunk, ChunkOfStep(explainer, request, base, step, k, count));
      if (Status s = outputs.Add(std::move(chunk), k); !s.ok()) {
        if (s.code() != StatusCode::kInternal) return s;
        Log(2, "step '" + id + "': " + s.message() + " It is joined in memory.");
        return ExplainWhole(explainer, request, step);
      }
      if (outputs.whole()) return ExplainWhole(explainer, request, step);  // chunk 0 is read back
    }
    if (Status s = outputs.Join(); !s.ok()) {
      if (s.code() != StatusCode::kInternal || step.crashed) return s;
      Log(2, "step '" + id + "': " + s.message() + " It runs whole.");
      return ExplainWhole(explainer, request, step);
    }
    return outputs.Write(step, start);
  }

  // Under MPI, a step that streams (CanStream): its chunks (the same as a plain run's) are dealt to
  // the ranks in turn, chunk k to rank k mod K, and explained a round of K chunks at a time. After each
  // round rank 0 gathers the round's chunks (its own first: row order), tells every rank whether the
  // step goes on, and writes them through StreamedOutputs on one more thread while the ranks explain the
  // next round. So a rank is at most one chunk ahead of rank 0 (it waits in the gather), rank 0 holds at
  // most two rounds (one being written), and a rank that fails its chunk fails the step on every rank
  // after that round with its sentence (a failure to write a round, after the next one). With --resume, rank
  // 0's record names the chunks already finished: the ranks deal out only the others and rank 0 reads those
  // back. Chunks that cannot be streamed make the ranks join the step in memory (ExplainJoinedAcrossRanks).
  Status ExplainStreamedAcrossRanks(const LoadedExplainer& explainer, const ExplainRequest& request,
                                    StepState& step) {
    const auto start = Clock::now();
    const std::string& id = step.spec->id;
    const auto rows = static_cast<std::int64_t>(request.rows.size());
    const std::int64_t count = (rows + chunk_rows_ - 1) / chunk_rows_;
    const auto ranks = static_cast<std::size_t>(mpi::Size()), rank = static_cast<std::size_t>(mpi::Rank());
    LOUPE_ASSIGN_OR_RETURN(std::vector<bool> finished, FinishedChunksOnEveryRank(id, count));
    std::vector<std::int64_t> pending;  // the chunks the record does not hold, in row order
    for (std::int64_t k = 0; k < count; ++k) {
      if (!finished[static_cast<std::size_t>(k)]) pending.push_back(k);
    }
    std::optional<StreamedOutputs> outputs;
    if (mpi::IsRoot()) {
      step.chunked = checkpoints_.has_value();  // its chunks are recorded
      outputs.emplace(*this, id, rows);
    }
    const ExplainRequest base = WithoutRows(request);
    std::map<std::int64_t, Explanation> received;  // rank 0: explained, not yet written
    std::int64_t next = 0;                         // rank 0: the next chunk to write
    bool whole = false;
    // Rank 0: the previous round's chunks being written (on one more thread) while the ranks, rank 0
    // included, explain the next round. Declared after `outputs`: a return waits for it before those go.
    std::future<Status> writing;
    for (std::size_t round = 0; round * ranks < pending.size() && !whole; ++round) {
      std::string mine = shards::EncodeNothing();
      if (const std::size_t i = round * ranks + rank; i < pending.size()) {
        Result<Explanation> chunk = InjectedFault(id, pending[i]);
        if (chunk.ok() && Cancelled()) chunk = Status(StatusCode::kCancelled, "the run was cancelled.");
        if (chunk.ok()) chunk = ExplainChunk(explainer, request, base, step, pending[i]);
        mine = shards::EncodeOutcome(chunk);
      }
      Result<std::vector<std::string>> gathered = mpi::GatherToRoot(mine);
      mine.clear();
      std::string verdict = shards::EncodeNothing();
      if (!gathered.ok()) {
        verdict = EncodeStatus(gathered.status());
      } else if (mpi::IsRoot()) {
        Status s = ReceiveRound(std::move(*gathered), pending, round * ranks, count, id, received);
        const Status written = writing.valid() ? writing.get() : Status::Ok();
        whole = outputs->whole() || written.code() == StatusCode::kInternal;
        if (written.code() == StatusCode::kInternal)
          Log(2, "step '" + id + "': " + written.message() + " It is joined in memory.");
        if (s.ok()) s = written;
        std::vector<std::pair<std::int64_t, Explanation>> ready;  // the next chunks in row order
        while (s.ok() && !whole && next < count) {
          if (received.count(next) > 0) {
            ready.emplace_back(next, TakeChunk(received, next));
          } else if (finished[static_cast<std::size_t>(next)]) {
            Result<Explanation> chunk = RecordedChunk(id, next, count);
            if (!chunk.ok()) s = chunk.status();
            if (chunk.ok()) ready.emplace_back(next, std::move(*chunk));
          } else {
            break;  // explained in a later round
          }
          ++next;
        }
        if (s.ok() && !whole) {
          writing = std::async(std::launch::async, [&outputs, ready = std::move(ready)]() mutable {
            for (auto& [k, chunk] : ready) {
              const Status added = outputs->Add(std::move(chunk), k);
              if (!added.ok() || outputs->whole()) return added;
            }
            return Status::Ok();
          });
        }
        if (whole) {
          verdict = kJoinWholeVerdict;
        } else if (!s.ok()) {
          verdict = EncodeStatus(s);
        }
      }
      LOUPE_RETURN_IF_ERROR(mpi::BroadcastFromRoot(verdict));
      whole = verdict == kJoinWholeVerdict;
      if (!whole) LOUPE_RETURN_IF_ERROR(DecodedStatus(verdict));
    }
    if (whole) {
      outputs.reset();  // its temporary files go
      step.chunked = false;
      return ExplainJoinedAcrossRanks(explainer, request, step);
    }
    if (!mpi::IsRoot()) return Status::Ok();  // rank 0 writes; the step's outcome is the same everywhere
    if (const Status written = writing.valid() ? writing.get() : Status::Ok();
        !written.ok() || outputs->whole()) {
      if (!written.ok() && written.code() != StatusCode::kInternal) return written;
      return ExplainWholeOnRoot(explainer, request, step,
                                written.ok() ? Internal("its chunks cannot be streamed.") : written);
    }
    for (; next < count; ++next) {  // the recorded chunks after the last one explained
      LOUPE_ASSIGN_OR_RETURN(Explanation chunk, RecordedChunk(id, next, count));
      if (Status s = outputs->Add(std::move(chunk), next); !s.ok() || outputs->whole()) {
        if (!s.ok() && s.code() != StatusCode::kInternal) return s;
        return ExplainWholeOnRoot(explainer, request, step,
                                  s.ok() ? Internal("its recorded chunks cannot be streamed.") : s);
      }
    }
    if (Status s = outputs->Join(); !s.ok()) {
      if (s.code() != StatusCode::kInternal || step.crashed) return s;
      return ExplainWholeOnRoot(explainer, request, step, s);
    }
    return outputs->Write(step, start);
  }

  // The round's bytes every rank sent (chunk pending[first + r] from rank r), on rank 0: each decoded into
  // `received` (and recorded under --resume); the first failure, with its rank, as the step's.
  Status ReceiveRound(std::vector<std::string> gathered, const std::vector<std::int64_t>& pending,
                      std::size_t first, std::int64_t count, const std::string& id,
                      std::map<std::int64_t, Explanation>& received) {
    for (std::size_t r = 0; r < gathered.size() && first + r < pending.size(); ++r) {
      bool has_explanation = false;
      Result<Explanation> chunk = shards::DecodeOutcome(gathered[r], has_explanation);
      if (!chunk.ok()) return OnRank(chunk.status(), r);
      if (!has_explanation)
        return Internal("MPI rank " + std::to_string(r) + " sent no chunk of step '" + id + "'.");
      if (checkpoints_)
        LOUPE_RETURN_IF_ERROR(checkpoints_->SaveChunk(id, pending[first + r], count, gathered[r]));
      gathered[r].clear();
      received.emplace(pending[first + r], std::move(*chunk));
    }
    return Status::Ok();
  }

  static Explanation TakeChunk(std::map<std::int64_t, Explanation>& received, std::int64_t k) {
    auto node = received.extract(k);
    return std::move(node.mapped());
  }

  // Chunk k of `count` as the resumed run recorded it (rank 0).
  Result<Explanation> RecordedChunk(const std::string& id, std::int64_t k, std::int64_t count) {
    if (checkpoints_) {
      if (std::optional<checkpoint::FinishedPiece> piece = checkpoints_->FinishedChunk(id, k, count)) {
        bool has_explanation = false;
        Result<Explanation> chunk = shards::DecodeOutcome(piece->bytes, has_explanation);
        if (chunk.ok() && has_explanation) return chunk;
      }
    }
    return IoError("chunk " + std::to_string(k) + " of step '" + id + "' recorded in '" +
                   report_.output_dir.string() +
                   "/.loupe-resume' can no longer be read; run the pipeline again without --resume.");
  }

  // Collective: which of the step's `count` chunks rank 0's record of the resumed run holds (none without
  // --resume), on every rank.
  Result<std::vector<bool>> FinishedChunksOnEveryRank(const std::string& id, std::int64_t count) {
    std::string marks(static_cast<std::size_t>(count), '0');
    if (mpi::IsRoot() && checkpoints_ && options_.resume) {
      for (std::int64_t k = 0; k < count; ++k) {
        if (checkpoints_->FinishedChunk(id, k, count)) marks[static_cast<std::size_t>(k)] = '1';
      }
    }
    LOUPE_RETURN_IF_ERROR(mpi::BroadcastFromRoot(marks));
    if (marks.size() != static_cast<std::size_t>(count))
      return Internal("MPI ranks disagree on the chunks of step '" + id + "'.");
    std::vector<bool> finished(static_cast<std::size_t>(count));
    for (std::size_t k = 0; k < marks.size(); ++k) finished[k] = marks[k] == '1';
    return finished;
  }

  // Rank 0 alone, when a streamed step's chunks cannot be joined: the step in one call, held whole.
  Status ExplainWholeOnRoot(const LoadedExplainer& explainer, const ExplainRequest& request, StepState& step,
                            const Status& why) {
    Log(2, "step '" + step.spec->id + "': " + why.message() + " It runs whole on rank 0.");
    step.chunked = false;
    LOUPE_ASSIGN_OR_RETURN(Explanation explanation, CallExplainer(explainer, request, step));
    LOUPE_RETURN_IF_ERROR(WriteOutputs(explanation, step.outcome.files));
    step.explanation = std::move(explanation);
    return Status::Ok();
  }

  // The verdict of a round that tells the ranks to join the step in memory instead (not a status's bytes).
  static constexpr const char* kJoinWholeVerdict = "join whole";
  // The plugin call, in a child process under --isolate (pipeline/isolate.hpp).
  Result<Explanation> CallExplainer(const LoadedExplainer& explainer, const ExplainRequest& request,
                                    StepState& step) {
    if (chunked_input_ && step.resolved_pins) {  // the call's rows read first, let go after it
      struct Release {
        pipeline::ChunkedFeatures& chunked;
        pipeline::ChunkedFeatures::Pins& pins;
        ~Release() { chunked.Release(pins); }
      } release{*chunked_input_, step.call_pins};
      LOUPE_RETURN_IF_ERROR(chunked_input_->Pin(
          request.rows.data(), static_cast<std::int64_t>(request.rows.size()), step.call_pins));
      Result<Explanation> explanation = CallPlugin(explainer, request, step);
      // A resolved row that could not be read: the host's sentence, not the plugin's.
      if (!step.resolved_pins->failure.ok()) return step.resolved_pins->failure;
      return explanation;
    }
    return CallPlugin(explainer, request, step);
  }

  Result<Explanation> CallPlugin(const LoadedExplainer& explainer, const ExplainRequest& request,
                                 StepState& step) {
    if (!options_.isolate) return explainer.Explain(request);
    IsolatedExplain isolated = ExplainInChild(explainer, request, IsolationLimits{options_.max_memory_bytes});
    // A terminal's Ctrl-C reaches the child too (the same process group): it is the cancellation.
    if (isolated.crashed && Cancelled()) return Status(StatusCode::kCancelled, "the run was cancelled.");
    step.crashed = isolated.crashed;
    return std::move(isolated.result);
  }

  // A step whose explainer explains rows independently, over more rows than a chunk, is explained a chunk
  // of rows at a time, each chunk recorded as it finishes (or read back when the resumed run finished it),
  // and the chunks joined: the same explanation as one call, by the argument of row_shards.hpp. Chunks
  // that cannot be joined make the step run whole, as under MPI. Any other step: one call.
  Result<Explanation> ExplainInChunks(const LoadedExplainer& explainer, const ExplainRequest& request,
                                      StepState& step) {
    const auto rows = static_cast<std::int64_t>(request.rows.size());
    if (!checkpoints_ || !step.needs.empty() || !shards::SplitsByRows(step.spec->explainer) ||
        rows <= chunk_rows_) {
      return CallExplainer(explainer, request, step);
    }
    const auto start = Clock::now();
    step.chunked = true;
    const std::int64_t count = (rows + chunk_rows_ - 1) / chunk_rows_;
    const ExplainRequest base = WithoutRows(request);
    std::vector<Explanation> chunks;
    for (std::int64_t k = 0; k < count; ++k) {
      if (Cancelled()) return Status(StatusCode::kCancelled, "the run was cancelled.");
      LOUPE_ASSIGN_OR_RETURN(Explanation chunk, ChunkOfStep(explainer, request, base, step, k, count));
      chunks.push_back(std::move(chunk));
    }
    Result<Explanation> whole = shards::MergeRowBlocks(chunks);
    chunks.clear();
    if (!whole.ok() && whole.status().code() == StatusCode::kInternal && !step.crashed) {
      Log(2, "step '" + step.spec->id + "': " + whole.status().message() + " It runs whole.");
      return CallExplainer(explainer, request, step);
    }
    if (whole.ok()) whole->elapsed_ms = MillisecondsSince(start);
    return whole;
  }

  // The step's request without its rows, copied once per step: each chunk's request is this one with its
  // rows (copying the whole request per chunk would copy every row of the step each time, quadratic).
  static ExplainRequest WithoutRows(const ExplainRequest& request) {
    ExplainRequest base = request;
    std::vector<std::int64_t>().swap(base.rows);
    return base;
  }

  // Chunk k of `count` of the step's rows: read back when recorded, else explained and recorded. `base`:
  // WithoutRows(request).
  Result<Explanation> ChunkOfStep(const LoadedExplainer& explainer, const ExplainRequest& request,
                                  const ExplainRequest& base, StepState& step, std::int64_t k,
                                  std::int64_t count) {
    const std::string& id = step.spec->id;
    if (std::optional<checkpoint::FinishedPiece> finished = checkpoints_->FinishedChunk(id, k, count)) {
      bool has_explanation = false;
      Result<Explanation> chunk = shards::DecodeOutcome(finished->bytes, has_explanation);
      if (chunk.ok() && has_explanation) return chunk;
    }
    LOUPE_ASSIGN_OR_RETURN(Explanation chunk, ExplainChunk(explainer, request, base, step, k));
    LOUPE_RETURN_IF_ERROR(checkpoints_->SaveChunk(id, k, count, shards::EncodeOutcome(chunk)));
    return chunk;
  }

  // Chunk k of the step's rows explained (the plugin call over rows [k × chunk rows, ...)). `base`:
  // WithoutRows(request).
  Result<Explanation> ExplainChunk(const LoadedExplainer& explainer, const ExplainRequest& request,
                                   const ExplainRequest& base, StepState& step, std::int64_t k) {
    const std::string& id = step.spec->id;
    const auto rows = static_cast<std::int64_t>(request.rows.size());
    const std::int64_t begin = k * chunk_rows_, end = std::min(rows, begin + chunk_rows_);
    ExplainRequest chunk_request = base;
    chunk_request.rows.assign(request.rows.begin() + begin, request.rows.begin() + end);
    chunk_request.progress = [this, id, begin, end, rows](std::uint64_t done, std::uint64_t total) {
      if (total == 0) return;  // the chunk's progress as a share of the step's rows
      const double share = static_cast<double>(done) / static_cast<double>(total);
      progress_.Update(id, static_cast<std::uint64_t>(begin + share * static_cast<double>(end - begin)),
                       static_cast<std::uint64_t>(rows));
    };
    return CallExplainer(explainer, chunk_request, step);
  }

  // Collective: this rank explains its contiguous block of the step's rows (row_shards.hpp); rank 0
  // gathers the blocks in rank order and joins them into the step's explanation, which it returns (the
  // other ranks return an empty one). A rank whose block failed fails the step on every rank with its
  // sentence; blocks that cannot be joined make rank 0 run the step whole instead.
  Result<Explanation> ExplainAcrossRanks(const LoadedExplainer& explainer, const ExplainRequest& request,
                                         StepState& step) {
    const auto start = Clock::now();
    const shards::RowBlock block = shards::BlockOfRank(request.rows.size(), mpi::Rank(), mpi::Size());
    std::string mine = shards::EncodeNothing();
    if (block.size() > 0) {
      ExplainRequest block_request = request;
      block_request.rows.assign(request.rows.begin() + static_cast<std::ptrdiff_t>(block.begin),
                                request.rows.begin() + static_cast<std::ptrdiff_t>(block.end));
      Result<Explanation> outcome = InjectedFault(step.spec->id, -1);
      if (outcome.ok()) outcome = CallExplainer(explainer, block_request, step);
      mine = shards::EncodeOutcome(outcome);
    }
    Result<std::vector<std::string>> gathered = mpi::GatherToRoot(mine);
    mine.clear();
    Result<Explanation> whole{Explanation{}};
    if (!gathered.ok()) whole = Result<Explanation>(gathered.status());
    if (gathered.ok() && mpi::IsRoot()) {
      whole = JoinRankBlocks(std::move(*gathered));
      if (!whole.ok() && whole.status().code() == StatusCode::kInternal && !step.crashed) {
        Log(2, "step '" + step.spec->id + "': " + whole.status().message() + " It runs whole on rank 0.");
        whole = CallExplainer(explainer, request, step);
      } else if (whole.ok()) {
        whole->elapsed_ms = MillisecondsSince(start);
      }
    }
    std::string verdict = EncodeStatus(whole.ok() ? Status::Ok() : whole.status());
    LOUPE_RETURN_IF_ERROR(mpi::BroadcastFromRoot(verdict));
    LOUPE_RETURN_IF_ERROR(DecodedStatus(verdict));
    return whole;
  }

  // Rank 0: the ranks' outcomes in rank order, the first failure as the step's (kept as the rank said
  // it, with its rank), else the blocks joined. A join that fails is kInternal.
  static Result<Explanation> JoinRankBlocks(std::vector<std::string> gathered) {
    std::vector<Explanation> blocks;
    for (std::size_t rank = 0; rank < gathered.size(); ++rank) {
      bool has_explanation = false;
      Result<Explanation> outcome = shards::DecodeOutcome(gathered[rank], has_explanation);
      gathered[rank].clear();
      if (!outcome.ok()) return OnRank(outcome.status(), rank);
      if (has_explanation) blocks.push_back(std::move(*outcome));
    }
    return shards::MergeRowBlocks(blocks);
  }

  // The failure tests inject (tests/e2e/mpi_run_test.sh): LOUPE_MPI_FAULT="RANK:STEP" fails that rank's
  // block of that step (of a streamed step: the first chunk the rank explains; of a step rank 0 runs
  // alone: every block of its model calls the rank predicts), "RANK:STEP:K" chunk K of a streamed step on
  // that rank, with a sentence, as a plugin error would. `chunk`: -1 for a block.
  static Result<Explanation> InjectedFault(const std::string& step_id, std::int64_t chunk) {
    const char* fault = std::getenv("LOUPE_MPI_FAULT");
    const std::string block = std::to_string(mpi::Rank()) + ":" + step_id;
    if (fault == nullptr || (fault != block && (chunk < 0 || fault != block + ":" + std::to_string(chunk)))) {
      return Explanation{};
    }
    return PluginError("a fault was injected into step '" + step_id + "' by LOUPE_MPI_FAULT.");
  }

  void Log(int level, const std::string& message) const {
    if (level >= 2 && !options_.quiet) std::cerr << "loupe: warning: " << message << "\n";
  }

  bool Wants(const std::string& format) const {
    const auto& formats = spec_.output.formats;
    return std::find(formats.begin(), formats.end(), format) != formats.end();
  }

  Status WriteOutputs(const Explanation& explanation, std::vector<std::filesystem::path>& files) {
    const std::filesystem::path json = report_.output_dir / (explanation.step + ".json");
    LOUPE_RETURN_IF_ERROR(report::WriteExplanationJson(json, explanation));
    files.push_back(json);
    if (Wants("csv") && explanation.kind == "feature_attribution") {
      const std::filesystem::path csv = report_.output_dir / (explanation.step + ".csv");
      LOUPE_RETURN_IF_ERROR(report::WriteAttributionCsv(csv, explanation));
      files.push_back(csv);
    }
    if (Wants("npy")) {
      LOUPE_RETURN_IF_ERROR(report::WriteExplanationNpy(report_.output_dir, explanation, files));
    }
    return Status::Ok();
  }

  Status Summarise() {
    int failed = 0;
    std::string first;
    for (StepState& step : steps_) {
      report_.steps.push_back(step.outcome);
      if (step.outcome.status == StepStatus::kFailed) {
        if (failed++ == 0) first = "step '" + step.outcome.id + "' failed: " + step.outcome.message;
      }
    }
    if (failed == 0) return Status::Ok();
    if (Cancelled()) return Status(StatusCode::kCancelled, "the run was cancelled.");
    return Status(
        StatusCode::kModelError,
        failed == 1 ? first : first + " (and " + std::to_string(failed - 1) + " more steps failed)");
  }

  // A local explainer's step held whole reaches the report as the sample a streamed one keeps
  // (shards::kReportSampleRows), so that the report is the same either way and the same as `loupe report`
  // draws from the step's file. Called last: the step's explanation is not needed whole any more.
  static void SampleForReport(StepState& step) {
    if (step.report_every > 0 || !shards::SplitsByRows(step.explanation->explainer)) return;
    const Tensor* rows = step.explanation->TypedArray("rows");
    if (rows == nullptr || rows->ndim() != 1) return;
    const std::int64_t every = shards::ReportSampleEvery(rows->dim(0));
    if (every == 1) return;
    step.report_every = every;
    step.report_of = rows->dim(0);
    step.explanation = shards::KeepEveryRow(std::move(*step.explanation), 0, every);
  }

  void WriteRunFile(double elapsed_ms) {
    nlohmann::json run = {{"schema", "loupe.run/v1"},
                          {"pipeline", spec_.name},
                          {"file", spec_.file.string()},
                          {"seed", seed_},
                          {"elapsed_ms", elapsed_ms},
                          {"versions",
                           {{"loupe", LOUPE_VERSION},
                            {"plugin_abi", std::to_string(LOUPE_PLUGIN_ABI_MAJOR) + "." +
                                               std::to_string(LOUPE_PLUGIN_ABI_MINOR)}}},
                          {"threads", options_.threads},
                          {"status", report_.status.ok() ? "ok" : "failed"}};
    if (!report_.status.ok()) run["error"] = report_.status.message();
    if (mpi::Distributed()) run["ranks"] = mpi::Size();  // mpirun -n K: the steps split by rows used K ranks
    run["data"] = {
        {"path", spec_.data.path.string()}, {"rows", dataset_.num_rows()}, {"features", feature_names_}};
    if (model_) {
      const std::string where = spec_.model.type == "remote" ? spec_.model.url : spec_.model.path.string();
      run["model"] = {{"name", model_->model().Info().name}, {"path", where}};  // a remote model: its url
    }
    nlohmann::json steps = nlohmann::json::array();
    for (const StepOutcome& outcome : report_.steps) {
      nlohmann::json files = nlohmann::json::array();
      for (const auto& file : outcome.files) files.push_back(file.filename().string());
      nlohmann::json entry = {{"id", outcome.id},
                              {"status", StepStatusName(outcome.status)},
                              {"message", outcome.message},
                              {"elapsed_ms", outcome.elapsed_ms},
                              {"files", files}};
      if (outcome.failure != StepFailure::kNone) entry["failure"] = StepFailureName(outcome.failure);
      steps.push_back(std::move(entry));
    }
    run["steps"] = steps;
    std::error_code ec;
    if (!std::filesystem::is_directory(report_.output_dir, ec)) return;  // failed before any output
    if (Status s = report::WriteFileAtomically(report_.output_dir / "run.json", run.dump(2) + "\n");
        !s.ok()) {
      if (report_.status.ok()) report_.status = s;
    }
    if (Wants("html")) {
      std::vector<const Explanation*> explanations;
      for (std::size_t i = 0; i < steps_.size(); ++i) {
        StepState& step = steps_[i];
        if (!step.explanation) continue;
        SampleForReport(step);
        explanations.push_back(&*step.explanation);
        if (step.report_every > 1) {  // for the report only: run.json on disk does not carry it
          run["steps"][i]["report_sample"] = {{"every", step.report_every}, {"of", step.report_of}};
        }
      }
      Status s = report::WriteFileAtomically(report_.output_dir / "report.html",
                                             report::RenderHtmlReport(run, explanations));
      if (!s.ok() && report_.status.ok()) report_.status = s;
    }
  }

  const PipelineSpec& spec_;
  const PluginRegistry& registry_;
  const RunOptions& options_;
  ProgressPrinter progress_;
  RunReport report_;
  std::uint64_t seed_ = 0;
  Dataset dataset_;
  std::vector<std::string> feature_names_;
  std::shared_ptr<const FeatureModel> model_;
  std::shared_ptr<const Tensor> features_;
  std::unique_ptr<pipeline::ChunkedFeatures> chunked_input_;  // chunked input; null: the rows are all there
  std::vector<StepState> steps_;
  std::int64_t chunk_rows_ = options_.chunk_rows > 0 ? options_.chunk_rows : kDefaultChunkRows;
  std::optional<checkpoint::Store> checkpoints_;
};

}  // namespace

// Whether the run may read the data's rows as its plugin calls need them (docs/architecture.md §5 "Chunked
// input"), decided before the data is read from the pipeline and the data file's size alone, so every MPI
// rank decides the same (each then reads only the rows it explains), and validation can read the data as
// the run will: not --isolate, every step reads only its rows and the rows it resolves
// (shards::ReadsOnlyItsRows) and neither needs nor is needed by another step, and the file has at least
// kChunkedInputMinBytes (a smaller one is held whole: validation's one read is the run's). The data must
// also have more rows than a chunk (Prepare). LOUPE_CHUNKED_INPUT=off turns it off, =on drops the size rule.
std::int64_t RunIndexEvery(const PipelineSpec& spec, bool isolate) {
  if (isolate || spec.steps.empty()) return 0;
  // LOUPE_CHUNKED_INPUT: "off", the whole data read at the start anyway (to compare the two, and a way
  // out); "on", chunked input for a file of any size (the tests of chunked input, on small files); unset or
  // any other value, the rules above.
  const char* env = std::getenv("LOUPE_CHUNKED_INPUT");
  const std::string mode = env != nullptr ? env : "";
  if (mode == "off") return 0;
  for (const StepSpec& step : spec.steps) {
    if (!step.needs.empty() || !shards::ReadsOnlyItsRows(step.explainer, step.params)) return 0;
  }
  if (mode != "on") {
    // The size on disk (stat), the same on every rank. A file whose size cannot be read is left to the
    // read, which says why.
    std::error_code ec;
    const std::uintmax_t bytes = std::filesystem::file_size(spec.data.path, ec);
    if (!ec && bytes < static_cast<std::uintmax_t>(kChunkedInputMinBytes)) return 0;
  }
  return pipeline::ChunkedFeatures::kBlockRows;
}

RunReport RunPipeline(const PipelineSpec& spec, const PluginRegistry& registry, const RunOptions& options) {
  return PipelineRunner(spec, registry, options).Run();
}

}  // namespace loupe
