// A step's model evaluations shared among the MPI ranks (shared_predict.hpp).
#include "mpi/shared_predict.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <exception>
#include <mutex>

#include <tbb/blocked_range.h>

#include "mpi/world.hpp"
#include "plugin/row_variants_predict.hpp"
#include "plugin/tbb_handoff.hpp"

namespace loupe::mpi {

namespace {

// A request: its kind and output space (1 byte each, then 6 bytes of padding), rows and features (8 bytes
// each), then the rows' values (8-byte aligned in a received buffer, so read where they are). A request of
// row variants has, after the features, its number of variants and of changes (8 bytes each), then the
// base rows, the changes' values, the variants' offsets (from 0) and the changes' columns.
enum class PredictKind : char { kRows = 0, kVariants = 1 };
constexpr std::size_t kPredictRequestHeader = 8 + 2 * sizeof(std::int64_t);
constexpr std::size_t kVariantsRequestHeader = kPredictRequestHeader + 2 * sizeof(std::int64_t);
// A request goes in one message of at most 1 GiB (mpi::Errands); a call whose blocks are larger (never
// the built-in explainers': 8,192-262,144 rows) is predicted on rank 0.
constexpr std::uint64_t kMaxRequestBytes = (std::uint64_t{1} << 30) - 4096;

template <typename T>
void AppendValue(std::string& bytes, const T& value) {
  bytes.append(reinterpret_cast<const char*>(&value), sizeof(T));
}

// An answer: 0 then the predictions, or the failure's code (1 byte, never 0) then its sentence.
std::string FailureAnswer(const Status& status) {
  std::string bytes(1, static_cast<char>(status.code()));
  return bytes + status.message();
}

}  // namespace

void SharingPolicy::Record(double shared_seconds, double alone_seconds) {
  if (probes_.fetch_add(1, std::memory_order_relaxed) >= kProbeCalls) return;
  if (shared_seconds <= 0.9 * alone_seconds) return;
  if (losses_.fetch_add(1, std::memory_order_relaxed) + 1 > kProbeCalls / 2) {
    off_.store(true, std::memory_order_relaxed);
  }
}

namespace {

double SecondsBetween(std::chrono::steady_clock::time_point from, std::chrono::steady_clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace

std::vector<PredictBlock> PredictBlocks(std::int64_t n, int ranks) {
  const auto k = static_cast<std::int64_t>(std::max(1, ranks));
  std::vector<PredictBlock> blocks(static_cast<std::size_t>(k), PredictBlock{n, n});
  if (n < 2 * kPredictGranuleRows) {
    blocks[0] = {0, n};
    return blocks;
  }
  const std::int64_t granules = (n + kPredictGranuleRows - 1) / kPredictGranuleRows;
  std::int64_t granule = 0;
  for (std::int64_t r = 0; r < k; ++r) {
    const std::int64_t count = granules / k + (r < granules % k ? 1 : 0);
    blocks[static_cast<std::size_t>(r)] = {std::min(n, granule * kPredictGranuleRows),
                                           std::min(n, (granule + count) * kPredictGranuleRows)};
    granule += count;
  }
  return blocks;
}

std::string EncodePredictRequest(const double* rows, std::int64_t n, std::int64_t features,
                                 OutputSpace space) {
  std::string bytes;
  bytes.reserve(kPredictRequestHeader + static_cast<std::size_t>(n * features) * sizeof(double));
  bytes.push_back(static_cast<char>(PredictKind::kRows));
  bytes.push_back(static_cast<char>(space));
  bytes.append(6, '\0');
  AppendValue(bytes, n);
  AppendValue(bytes, features);
  bytes.append(reinterpret_cast<const char*>(rows), static_cast<std::size_t>(n * features) * sizeof(double));
  return bytes;
}

namespace {

std::string MalformedRequest(std::size_t bytes) {
  return FailureAnswer(
      Internal("a request for predictions from rank 0 is malformed (" + std::to_string(bytes) + " bytes)."));
}

// The values at `offset` of a received request, where they are when aligned for T, else copied to `copy`.
template <typename T>
const T* ValuesAt(std::string_view request, std::size_t offset, std::int64_t count, std::vector<T>& copy) {
  const char* at = request.data() + offset;
  if (reinterpret_cast<std::uintptr_t>(at) % alignof(T) == 0) return reinterpret_cast<const T*>(at);
  copy.resize(static_cast<std::size_t>(count));
  std::memcpy(copy.data(), at, copy.size() * sizeof(T));
  return copy.data();
}

// Runs task(t) -> Status for t in [0, tasks) on this rank's threads; the failure of the lowest-numbered
// task that failed, whatever the threads' order, or OK.
template <typename Task>
Status RunTasksInParallel(std::int64_t tasks, Task&& task) {
  std::mutex mutex;
  std::int64_t failed_task = tasks;
  Status failure = Status::Ok();
  plugin::TbbHandoff handoff;  // for ThreadSanitizer (docs/architecture.md §4)
  handoff.BeforeSpawn();
  tbb_spawn::ChunksInParallel(tasks, [&](const tbb::blocked_range<std::int64_t>& range) {
    handoff.TaskStarts();
    for (std::int64_t t = range.begin(); t < range.end(); ++t) {
      Status s = task(t);
      if (s.ok()) continue;
      std::lock_guard<std::mutex> lock(mutex);
      if (t < failed_task) {
        failed_task = t;
        failure = std::move(s);
      }
    }
    handoff.TaskEnds();
  });
  handoff.AfterJoin();
  return failure;
}

// The answer to a request of row variants: its variants predicted in runs of about a granule's rows on
// this rank's threads (a (variant, row)'s bits depend on no other variant: docs/architecture.md §4).
std::string AnswerVariantsRequest(const FeatureModel& model, std::string_view request) {
  std::int64_t head[4] = {0, 0, 0, 0};  // rows, features, variants, changes
  if (request.size() < kVariantsRequestHeader) return MalformedRequest(request.size());
  std::memcpy(head, request.data() + 8, sizeof(head));
  const auto space = static_cast<OutputSpace>(request[1]);
  const std::int64_t n = head[0], features = head[1], n_variants = head[2], changes = head[3];
  if (n < 0 || n_variants < 0 || changes < 0 ||
      features != static_cast<std::int64_t>(model.feature_names().size()) ||
      (space != OutputSpace::kRaw && space != OutputSpace::kProbability) ||
      request.size() != kVariantsRequestHeader +
                            static_cast<std::size_t>(n * features + changes) * sizeof(double) +
                            static_cast<std::size_t>(n_variants + 1 + changes) * sizeof(std::int64_t)) {
    return MalformedRequest(request.size());
  }
  std::vector<double> base_copy, values_copy;
  std::vector<std::int64_t> offsets_copy, columns_copy;
  std::size_t at = kVariantsRequestHeader;
  const double* base = ValuesAt(request, at, n * features, base_copy);
  at += static_cast<std::size_t>(n * features) * sizeof(double);
  const double* values = ValuesAt(request, at, changes, values_copy);
  at += static_cast<std::size_t>(changes) * sizeof(double);
  const std::int64_t* offsets = ValuesAt(request, at, n_variants + 1, offsets_copy);
  at += static_cast<std::size_t>(n_variants + 1) * sizeof(std::int64_t);
  const std::int64_t* columns = ValuesAt(request, at, changes, columns_copy);
  if (offsets[0] != 0 || offsets[n_variants] != changes) return MalformedRequest(request.size());
  for (std::int64_t v = 0; v < n_variants; ++v) {
    if (offsets[v + 1] < offsets[v]) return MalformedRequest(request.size());
  }
  for (std::int64_t k = 0; k < changes; ++k) {
    if (columns[k] < 0 || columns[k] >= features) return MalformedRequest(request.size());
  }
  const auto n_out = static_cast<std::int64_t>(model.model().Info().OutputNames(space).size());
  std::vector<double> out(static_cast<std::size_t>(n_variants * n * n_out));
  const std::int64_t per_task = std::max<std::int64_t>(1, kPredictGranuleRows / std::max<std::int64_t>(1, n));
  const std::int64_t tasks = (n_variants + per_task - 1) / per_task;
  const TensorView base_view(base, DType::kF64, {n, features});
  const Status predicted = RunTasksInParallel(tasks, [&](std::int64_t t) {
    const std::int64_t first = t * per_task, last = std::min(n_variants, first + per_task);
    return plugin::PredictFeatureRowVariants(
        model, base_view, last - first, offsets + first, columns, values, space,
        std::span<double>(out).subspan(static_cast<std::size_t>(first * n * n_out),
                                       static_cast<std::size_t>((last - first) * n * n_out)));
  });
  if (!predicted.ok()) return FailureAnswer(predicted);
  std::string answer(1 + out.size() * sizeof(double), '\0');
  std::memcpy(answer.data() + 1, out.data(), out.size() * sizeof(double));
  return answer;
}

std::string AnswerRowsRequest(const FeatureModel& model, std::string_view request) {
  std::int64_t n = 0, features = 0;
  if (request.size() >= kPredictRequestHeader) {
    std::memcpy(&n, request.data() + 8, sizeof(n));
    std::memcpy(&features, request.data() + 8 + sizeof(n), sizeof(features));
  }
  const auto space = static_cast<OutputSpace>(request.size() < 2 ? 0 : request[1]);
  if (request.size() < kPredictRequestHeader || n < 0 ||
      features != static_cast<std::int64_t>(model.feature_names().size()) ||
      request.size() != kPredictRequestHeader + static_cast<std::size_t>(n * features) * sizeof(double) ||
      (space != OutputSpace::kRaw && space != OutputSpace::kProbability)) {
    return MalformedRequest(request.size());
  }
  std::vector<double> copied;
  const double* rows = ValuesAt(request, kPredictRequestHeader, n * features, copied);
  const auto n_out = static_cast<std::int64_t>(model.model().Info().OutputNames(space).size());
  std::string answer(1 + static_cast<std::size_t>(n * n_out) * sizeof(double), '\0');
  std::vector<double> out(static_cast<std::size_t>(n * n_out));
  // The block's granules on this rank's threads: each granule predicted as the whole call would.
  const std::int64_t granules = (n + kPredictGranuleRows - 1) / kPredictGranuleRows;
  const Status predicted = RunTasksInParallel(granules, [&](std::int64_t g) {
    const std::int64_t begin = g * kPredictGranuleRows, end = std::min(n, begin + kPredictGranuleRows);
    return model.PredictInto(TensorView(rows + begin * features, DType::kF64, {end - begin, features}), space,
                             std::span<double>(out).subspan(static_cast<std::size_t>(begin * n_out),
                                                            static_cast<std::size_t>((end - begin) * n_out)));
  });
  if (!predicted.ok()) return FailureAnswer(predicted);
  std::memcpy(answer.data() + 1, out.data(), out.size() * sizeof(double));
  return answer;
}

}  // namespace

std::string AnswerPredictRequest(const FeatureModel& model, std::string_view request, const Status& fault) {
  if (!fault.ok()) return FailureAnswer(fault);
  try {
    if (!request.empty() && request[0] == static_cast<char>(PredictKind::kVariants))
      return AnswerVariantsRequest(model, request);
    if (!request.empty() && request[0] != static_cast<char>(PredictKind::kRows))
      return MalformedRequest(request.size());
    return AnswerRowsRequest(model, request);
  } catch (const std::bad_alloc&) {
    return FailureAnswer(Status(StatusCode::kModelError, "predicting rank 0's rows ran out of memory."));
  } catch (const std::exception& e) {
    return FailureAnswer(Internal(std::string("predicting rank 0's rows failed: ") + e.what()));
  }
}

Status DecodePredictAnswer(const std::string& answer, std::span<double> out) {
  if (answer.empty()) return Internal("an answer with predictions is empty.");
  if (answer[0] != 0) {
    const auto code = static_cast<StatusCode>(static_cast<unsigned char>(answer[0]));
    return Status(code, answer.substr(1));
  }
  if (answer.size() != 1 + out.size() * sizeof(double)) {
    return Internal("an answer holds " + std::to_string((answer.size() - 1) / sizeof(double)) +
                    " predictions, but its block needs " + std::to_string(out.size()) + ".");
  }
  std::memcpy(out.data(), answer.data() + 1, out.size() * sizeof(double));
  return Status::Ok();
}

Status SharedPredictInto(const FeatureModel& model, const TensorView& rows, OutputSpace space,
                         std::span<double> out, SharingPolicy* policy) {
  const int ranks = Size();
  if (ranks < 2 || model.text_feature() >= 0 || rows.ndim() != 2 || rows.dtype() != DType::kF64 ||
      rows.dim(0) < 2 * kPredictGranuleRows || (policy != nullptr && !policy->Share())) {
    return model.PredictInto(rows, space, out);
  }
  const std::int64_t n = rows.dim(0), features = rows.dim(1);
  const ModelInfo& info = model.model().Info();
  const auto n_out = static_cast<std::int64_t>(info.OutputNames(space).size());
  if (n_out == 0 || out.size() != static_cast<std::size_t>(n * n_out) ||
      (space == OutputSpace::kProbability && info.task != Task::kClassification)) {
    return model.PredictInto(rows, space, out);  // its refusal
  }
  const std::vector<PredictBlock> blocks = PredictBlocks(n, ranks);
  if (static_cast<std::uint64_t>(blocks[1].size() * features) * sizeof(double) > kMaxRequestBytes) {
    return model.PredictInto(rows, space, out);  // a block too large for one message
  }
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::string> requests(static_cast<std::size_t>(ranks - 1));
  for (int r = 1; r < ranks; ++r) {
    const PredictBlock& block = blocks[static_cast<std::size_t>(r)];
    if (block.size() > 0) {
      requests[static_cast<std::size_t>(r - 1)] =
          EncodePredictRequest(rows.data<double>() + block.begin * features, block.size(), features, space);
    }
  }
  Errands errands(std::move(requests));
  const PredictBlock& mine = blocks[0];
  const auto mine_start = std::chrono::steady_clock::now();
  const Status predicted =
      model.PredictInto(TensorView(rows.data<double>(), DType::kF64, {mine.size(), features}), space,
                        out.subspan(0, static_cast<std::size_t>(mine.size() * n_out)));
  const auto mine_end = std::chrono::steady_clock::now();
  Result<std::vector<std::string>> answers = errands.Wait();
  LOUPE_RETURN_IF_ERROR(predicted);
  if (!answers.ok()) return answers.status();
  for (int r = 1; r < ranks; ++r) {
    const PredictBlock& block = blocks[static_cast<std::size_t>(r)];
    if (block.size() == 0) continue;
    const Status s = DecodePredictAnswer((*answers)[static_cast<std::size_t>(r - 1)],
                                         out.subspan(static_cast<std::size_t>(block.begin * n_out),
                                                     static_cast<std::size_t>(block.size() * n_out)));
    if (!s.ok()) {
      return Status(s.code(),
                    "MPI rank " + std::to_string(r) + " of " + std::to_string(ranks) + ": " + s.message());
    }
  }
  if (policy != nullptr) {
    policy->Record(
        SecondsBetween(start, std::chrono::steady_clock::now()),
        SecondsBetween(mine_start, mine_end) * static_cast<double>(n) / static_cast<double>(mine.size()));
  }
  return Status::Ok();
}

std::string EncodeVariantsRequest(const double* base, std::int64_t n, std::int64_t features,
                                  std::int64_t n_variants, const std::int64_t* offsets,
                                  const std::int64_t* columns, const double* values, OutputSpace space) {
  const std::int64_t first = offsets[0], changes = offsets[n_variants] - first;
  std::string bytes;
  bytes.reserve(kVariantsRequestHeader + static_cast<std::size_t>(n * features + changes) * sizeof(double) +
                static_cast<std::size_t>(n_variants + 1 + changes) * sizeof(std::int64_t));
  bytes.push_back(static_cast<char>(PredictKind::kVariants));
  bytes.push_back(static_cast<char>(space));
  bytes.append(6, '\0');
  AppendValue(bytes, n);
  AppendValue(bytes, features);
  AppendValue(bytes, n_variants);
  AppendValue(bytes, changes);
  bytes.append(reinterpret_cast<const char*>(base), static_cast<std::size_t>(n * features) * sizeof(double));
  bytes.append(reinterpret_cast<const char*>(values + first),
               static_cast<std::size_t>(changes) * sizeof(double));
  for (std::int64_t v = 0; v <= n_variants; ++v) AppendValue(bytes, offsets[v] - first);
  bytes.append(reinterpret_cast<const char*>(columns + first),
               static_cast<std::size_t>(changes) * sizeof(std::int64_t));
  return bytes;
}

std::vector<PredictBlock> VariantBlocks(std::int64_t n_variants, int ranks) {
  const auto k = static_cast<std::int64_t>(std::max(1, ranks));
  std::vector<PredictBlock> blocks;
  std::int64_t at = 0;
  for (std::int64_t r = 0; r < k; ++r) {
    const std::int64_t count = n_variants / k + (r < n_variants % k ? 1 : 0);
    blocks.push_back({at, at + count});
    at += count;
  }
  return blocks;
}

Status SharedPredictVariantsInto(const FeatureModel& model, const TensorView& base, std::int64_t n_variants,
                                 const std::int64_t* offsets, const std::int64_t* columns,
                                 const double* values, OutputSpace space, std::span<double> out,
                                 SharingPolicy* policy) {
  const int ranks = Size();
  const std::int64_t n = base.dim(0), features = base.dim(1);
  if (ranks < 2 || model.text_feature() >= 0 || n_variants < 2 || n_variants * n < 2 * kPredictGranuleRows ||
      (policy != nullptr && !policy->Share())) {
    return plugin::PredictFeatureRowVariants(model, base, n_variants, offsets, columns, values, space, out);
  }
  const auto n_out = static_cast<std::int64_t>(model.model().Info().OutputNames(space).size());
  const std::vector<PredictBlock> blocks = VariantBlocks(n_variants, ranks);
  if (static_cast<std::uint64_t>(n * features + 2 * (offsets[blocks[1].end] - offsets[blocks[1].begin])) *
          sizeof(double) >
      kMaxRequestBytes) {  // a block too large for one message
    return plugin::PredictFeatureRowVariants(model, base, n_variants, offsets, columns, values, space, out);
  }
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::string> requests(static_cast<std::size_t>(ranks - 1));
  for (int r = 1; r < ranks; ++r) {
    const PredictBlock& block = blocks[static_cast<std::size_t>(r)];
    if (block.size() > 0) {
      requests[static_cast<std::size_t>(r - 1)] = EncodeVariantsRequest(
          base.data<double>(), n, features, block.size(), offsets + block.begin, columns, values, space);
    }
  }
  Errands errands(std::move(requests));
  const PredictBlock& mine = blocks[0];
  const auto mine_start = std::chrono::steady_clock::now();
  const Status predicted =
      plugin::PredictFeatureRowVariants(model, base, mine.size(), offsets, columns, values, space,
                                        out.subspan(0, static_cast<std::size_t>(mine.size() * n * n_out)));
  const auto mine_end = std::chrono::steady_clock::now();
  Result<std::vector<std::string>> answers = errands.Wait();
  LOUPE_RETURN_IF_ERROR(predicted);
  if (!answers.ok()) return answers.status();
  for (int r = 1; r < ranks; ++r) {
    const PredictBlock& block = blocks[static_cast<std::size_t>(r)];
    if (block.size() == 0) continue;
    const Status s = DecodePredictAnswer((*answers)[static_cast<std::size_t>(r - 1)],
                                         out.subspan(static_cast<std::size_t>(block.begin * n * n_out),
                                                     static_cast<std::size_t>(block.size() * n * n_out)));
    if (!s.ok()) {
      return Status(s.code(),
                    "MPI rank " + std::to_string(r) + " of " + std::to_string(ranks) + ": " + s.message());
    }
  }
  if (policy != nullptr) {
    policy->Record(SecondsBetween(start, std::chrono::steady_clock::now()),
                   SecondsBetween(mine_start, mine_end) * static_cast<double>(n_variants) /
                       static_cast<double>(mine.size()));
  }
  return Status::Ok();
}

}  // namespace loupe::mpi
