// The model evaluations of a step that runs on MPI rank 0 alone, shared among the ranks (docs/scale_out.md
// "What is split", docs/architecture.md §4 "MPI"): a global explainer on rank 0 calls the model through
// the host (model_predict), and a call over enough rows is cut into one block per rank; rank 0 predicts
// its block while the other ranks predict theirs (RunServed's requests) and the answers come back into the
// caller's buffer. No explainer knows: the plugin sees one model_predict call and its outputs.
//
// The same bits on any number of ranks: a call is cut only at multiples of kPredictGranuleRows rows from
// its first row, the native networks' and the ONNX models' own chunk, so each block is predicted in the
// row groups the whole call would be (model/native_model.cpp, model/onnx_model.cpp; FeatureModel gathers
// 4,096 rows at a time, a multiple); tree ensembles predict each row on its own.
// tests/core/mpi/shared_predict_test.cpp checks every kind of model.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "loupe/core/explainer.hpp"
#include "loupe/core/status.hpp"
#include "loupe/core/tensor.hpp"

namespace loupe::mpi {

inline constexpr std::int64_t kPredictGranuleRows = 2048;

// Whether sharing a step's model calls pays: a model cheaper to predict than its rows are to send (a
// small network: ~0.15 µs a row against 104 bytes sent and received) is faster on rank 0 alone. The
// first kProbeCalls shared calls of a step are timed: rank 0's own block scaled to the whole call is
// what predicting it alone would have cost; when most of them took longer shared, the step's remaining
// calls are predicted on rank 0. Only the time changes: a call's bits are the same shared or not. Any
// thread may use it.
class SharingPolicy {
 public:
  static constexpr int kProbeCalls = 4;
  bool Share() const { return !off_.load(std::memory_order_relaxed); }
  // A shared call's time, and the time rank 0 alone would have taken.
  void Record(double shared_seconds, double alone_seconds);

 private:
  std::atomic<int> probes_{0}, losses_{0};
  std::atomic<bool> off_{false};
};

// Rows [begin, end) of a call.
struct PredictBlock {
  std::int64_t begin = 0, end = 0;
  std::int64_t size() const { return end - begin; }
};

// The blocks of a call of `n` rows on `ranks` ranks, block r for rank r: the call's granules in
// contiguous runs, the first (granules mod ranks) ranks one granule more, the last granule possibly
// partial. A call of fewer than 2 × kPredictGranuleRows rows is not cut: rank 0 takes it whole.
std::vector<PredictBlock> PredictBlocks(std::int64_t n, int ranks);

// A block's request (its rows, f64 [n, features] in dataset coding, and the output space) as bytes. A
// request of row variants (EncodeVariantsRequest, below) is answered by the same function.
std::string EncodePredictRequest(const double* rows, std::int64_t n, std::int64_t features,
                                 OutputSpace space);

// Another rank's answer to a request: the model's predictions of its rows, its granules spread over this
// rank's threads, or `fault` (a failure injected by a test) or the model's failure. Never throws.
std::string AnswerPredictRequest(const FeatureModel& model, std::string_view request, const Status& fault);

// An answer's predictions (`out`, which must hold exactly as many as the block's) or its failure.
Status DecodePredictAnswer(const std::string& answer, std::span<double> out);

// Rank 0 during RunServed's work, from any thread: model.PredictInto(rows, space, out), its blocks
// predicted by the ranks. A failure of another rank is "MPI rank r of K: <its sentence>". A model that
// reads text (its batches are padded together) and a call that PredictBlocks does not cut are predicted
// here.
Status SharedPredictInto(const FeatureModel& model, const TensorView& rows, OutputSpace space,
                         std::span<double> out, SharingPolicy* policy = nullptr);

// The same for the "row_variants" capability's calls (plugin/row_variants_predict.hpp): the variants are cut
// into K contiguous blocks (the first n_variants mod K ranks one more), each rank predicting its variants
// over every base row; a call of fewer than two variants or 4,096 (variant, row) pairs is not cut. A
// (variant, row)'s bits depend on neither the other variants nor the other rows (docs/architecture.md §4).
std::vector<PredictBlock> VariantBlocks(std::int64_t n_variants, int ranks);
std::string EncodeVariantsRequest(const double* base, std::int64_t n, std::int64_t features,
                                  std::int64_t n_variants, const std::int64_t* offsets,
                                  const std::int64_t* columns, const double* values, OutputSpace space);
Status SharedPredictVariantsInto(const FeatureModel& model, const TensorView& base, std::int64_t n_variants,
                                 const std::int64_t* offsets, const std::int64_t* columns,
                                 const double* values, OutputSpace space, std::span<double> out,
                                 SharingPolicy* policy = nullptr);

}  // namespace loupe::mpi
