// Splitting a local explainer's rows across MPI ranks and putting the blocks' results back together
// (`mpirun -n K loupe run`, docs/architecture.md §4 "Parallelism and numbers", §5 "CLI").
//
// A local explainer explains each row on its own: its random draws are keyed by the data row (§4), its
// background and statistics come from the whole data set, never from the other rows of the step. So
// the step's rows can be cut into K contiguous blocks, each explained by one rank exactly as it would be
// inside the whole step, and the K explanations concatenated along the rows give the whole step's
// explanation bit for bit. The plugin never knows: it sees a step over its block of rows (the ABI does
// not change).
//
// What the host must know to join the blocks is small and explicit here: which explainers are local,
// which fields hold one entry per row, and how each quality figure combines (a sum, a largest, a
// smallest, or one value every block shares). An explanation that does not fit (a field that differs
// between blocks and is not known to be per row) is refused by MergeRowBlocks, and the runner then runs
// the step whole on rank 0: slower, never wrong.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "loupe/core/explanation.hpp"
#include "loupe/core/status.hpp"

namespace loupe::shards {

// Whether `explainer` ("shap.kernel") explains rows independently, with quality figures this file knows
// how to combine: shap.exact, .kernel, .permutation, .tree, lime.tabular, .text and the grad.* family.
bool SplitsByRows(const std::string& explainer);

// Whether `explainer` with its step's `params` (as written in the pipeline) reads no row of the feature
// matrix but the step's rows and the rows it resolves through the host (resolve_rows: a background or
// training selection), so that a run may read the data's rows from the file as its calls need them
// (docs/architecture.md §5 "Chunked input"): shap.tree, shap.kernel, shap.exact, shap.permutation and
// lime.tabular, except with a {kmeans: K} background (the centres of every row).
bool ReadsOnlyItsRows(const std::string& explainer, const nlohmann::json& params);

// Whether the document field `path` of a local explainer holds one entry per explained row along its
// first axis (rows, values, base_values, data, error_std, ...): the fields a join concatenates.
bool IsPerRowField(const std::string& path);

// A local explainer's step over more rows than this reaches the HTML report as a sample of them: every
// k-th row from the first, k = ReportSampleEvery(rows) (docs/report.md), whether the step streamed or not
// and whether `loupe run` or `loupe report` draws it.
inline constexpr std::int64_t kReportSampleRows = 10000;
inline std::int64_t ReportSampleEvery(std::int64_t rows) {
  return rows > kReportSampleRows ? (rows + kReportSampleRows - 1) / kReportSampleRows : 1;
}

// `e` with each per-row field (typed, string or JSON, whose first axis has as many entries as e's `rows`)
// cut to the rows at step positions first, first + every, ... (`first`: the position in the step of e's
// first row). An explanation without a `rows` array is returned as it is.
Explanation KeepEveryRow(Explanation e, std::int64_t first, std::int64_t every);

// The contiguous block [begin, end) of `n_rows` that rank `rank` of `ranks` explains: the first
// n_rows % ranks ranks hold one row more. Depends only on (n_rows, rank, ranks).
struct RowBlock {
  std::size_t begin = 0, end = 0;
  std::size_t size() const { return end - begin; }
};
RowBlock BlockOfRank(std::size_t n_rows, int rank, int ranks);

// One rank's outcome of its block as bytes for MPI: an explanation (its metadata as CBOR, exact doubles,
// NaN kept, then each typed array's raw bytes), an error (its code and sentence), or nothing (an empty
// block). Decoding gives back the same explanation or the same Status.
std::string EncodeNothing();
std::string EncodeOutcome(const Result<Explanation>& outcome);
// `has_explanation` is false for an empty block (then the result is OK and empty).
Result<Explanation> DecodeOutcome(const std::string& bytes, bool& has_explanation);

// The explanation of the whole step from those of its blocks, in row order: per-row fields concatenated
// along their first axis, every other field equal in all blocks (else an error naming the field), the
// quality figures combined as above. `blocks` must not be empty; elapsed_ms is the caller's to set.
Result<Explanation> MergeRowBlocks(const std::vector<Explanation>& blocks);

}  // namespace loupe::shards
