// The host's per-call context: errors, buffers kept until the call ends, log, progress, cancellation,
// parallel_for, seeds and the step's parameters.
#include <iostream>

#include "loupe/sdk/detail/host_rules.hpp"
#include "loupe/sdk/random.hpp"
#include "plugin/host_context.hpp"
#include "plugin/tbb_handoff.hpp"

namespace loupe::host_detail {

const std::vector<const char*>& KeepPointers(LoupeHost* host, const std::vector<std::string>& strings) {
  std::vector<const char*> pointers;
  for (const std::string& s : strings) pointers.push_back(s.c_str());
  std::lock_guard<std::mutex> lock(host->mutex);
  host->pointer_buffers.push_back(std::move(pointers));
  return host->pointer_buffers.back();
}

LoupeStatus SetError(LoupeHost* host, LoupeStatus status, const char* message) {
  std::lock_guard<std::mutex> lock(host->mutex);
  if (host->error_status == LOUPE_OK) {  // the first error is the cause; later ones are consequences
    host->error_status = status == LOUPE_OK ? LOUPE_ERROR_INTERNAL : status;
    host->error_message = message != nullptr ? message : "";
  }
  return status;
}

const char* KeepText(LoupeHost* host, std::string text) {
  std::lock_guard<std::mutex> lock(host->mutex);
  host->text_buffers.push_back(std::move(text));
  return host->text_buffers.back().c_str();
}

void FillView(LoupeTensorView* out, const double* data, const std::int64_t* shape, int ndim) {
  *out = LoupeTensorView{};
  out->struct_size = sizeof(LoupeTensorView);
  out->dtype = LOUPE_DTYPE_F64;
  out->ndim = ndim;
  out->read_only = 1;
  out->data = const_cast<double*>(data);
  out->shape = shape;
  out->strides = nullptr;
}

void Log(LoupeHost* host, LoupeLogLevel level, const char* message) {
  const std::string text = message != nullptr ? message : "";
  if (host->request->log) {
    host->request->log(level, text);
  } else if (level >= LOUPE_LOG_WARNING) {
    std::lock_guard<std::mutex> lock(host->mutex);
    std::cerr << "loupe: step '" << host->request->step_id << "': " << text << "\n";
  }
}

void ReportProgress(LoupeHost* host, std::uint64_t done, std::uint64_t total) {
  if (host->request->progress) host->request->progress(done, total);
}

std::int32_t IsCancelled(LoupeHost* host) {
  return host->request->cancelled != nullptr && host->request->cancelled->load() ? 1 : 0;
}

LoupeStatus ParallelFor(LoupeHost* host, std::int64_t begin, std::int64_t end, std::int64_t grain,
                        LoupeStatus (*body)(void*, std::int64_t, std::int64_t), void* ctx) {
  if (end <= begin) return LOUPE_OK;
  if (body == nullptr) return SetError(host, LOUPE_ERROR_INVALID_ARGUMENT, "parallel_for needs a body.");
  grain = sdk::detail::EffectiveGrain(begin, end, grain);
  const std::int64_t chunks = sdk::detail::ChunkCount(begin, end, grain);
  std::vector<LoupeStatus> statuses(static_cast<std::size_t>(chunks), LOUPE_OK);
  plugin::TbbHandoff handoff;  // for ThreadSanitizer (plugin/tbb_handoff.hpp)
  const auto run_chunks = [&](const tbb::blocked_range<std::int64_t>& range) {
    handoff.TaskStarts();
    for (std::int64_t c = range.begin(); c != range.end(); ++c) {
      const std::int64_t b = begin + c * grain;
      statuses[static_cast<std::size_t>(c)] = body(ctx, b, std::min(end, b + grain));
    }
    handoff.TaskEnds();
  };
  if (ParallelForRunsInline()) {  // a forked child: the same chunks, in order, without TBB
    run_chunks(tbb::blocked_range<std::int64_t>(0, chunks, 1));
  } else {
    handoff.BeforeSpawn();
    tbb_spawn::ChunksInParallel(chunks, run_chunks);
    handoff.AfterJoin();
  }
  for (LoupeStatus status : statuses) {
    if (status != LOUPE_OK) {
      SetError(host, status, sdk::detail::kSilentChunkFailure);
      return status;
    }
  }
  return LOUPE_OK;
}

std::atomic<bool>& ParallelForRunsInline() {
  static std::atomic<bool> runs_inline{false};
  return runs_inline;
}

std::uint64_t Seed(LoupeHost* host) { return host->request->seed; }

void RandomU64(LoupeHost* host, std::uint64_t row, std::uint64_t stream, std::uint64_t counter,
               std::uint64_t* out, std::size_t n) {
  sdk::PhiloxFill(host->request->seed, row, stream, counter, out, n);
}

const char* ParamsJson(LoupeHost* host) { return host->params_text.c_str(); }

}  // namespace loupe::host_detail
