// Row blocks of a local explainer across MPI ranks: the split, the bytes that travel, the join
// (row_shards.hpp says why the join is exact).
#include "pipeline/row_shards.hpp"

#include <algorithm>
#include <cstring>
#include <set>
#include <utility>

#include "pipeline/explanation_wire.hpp"

namespace loupe::shards {

namespace detail {

// Fields of a local explainer's document that hold one entry per explained row, along their first
// axis: feature_attribution's own (docs/architecture.md §5) and the extras of the explainers SplitsByRows
// names. A field not listed must be equal in every block.
bool IsPerRowField(const std::string& path) {
  static const std::set<std::string> kPerRowFields = {
      "rows",
      "base_values",
      "values",
      "data",                // feature_attribution
      "interaction_values",  // shap.tree interactions
      "error_std",           // shap.kernel, shap.permutation
      "intercept",
      "score",
      "local_pred",
      "prediction",  // lime
      "top_labels",
      "conditions",
      "texts",
      "words",
      "as_list",
      "convergence_delta"};  // grad.integrated_gradients and friends
  return kPerRowFields.count(path) > 0;
}

// How one quality figure of the whole step follows from those of its blocks.
enum class QualityRule {
  kSame,           // a property of the step (trees, background_rows, kernel_width): equal in every block
  kSum,            // a count over rows (model_evaluations, coalitions)
  kLargest,        // a worst case over rows (additivity_residual, standard_error)
  kSmallest,       // a best case over rows (lime's min_score)
  kSumLessShared,  // shap.kernel's model_evaluations: each block also counts v({}) over the background once
};

QualityRule RuleForQuality(const std::string& explainer, const std::string& name) {
  if (name == "model_evaluations")
    return explainer == "shap.kernel" ? QualityRule::kSumLessShared : QualityRule::kSum;
  if (name == "coalitions" || name == "pseudo_inverse_rows") return QualityRule::kSum;
  if (name == "additivity_residual" || name == "standard_error" || name == "convergence_delta")
    return QualityRule::kLargest;
  if (name == "min_score") return QualityRule::kSmallest;
  return QualityRule::kSame;
}

constexpr char kNothingTag = 'N';
constexpr char kErrorTag = 'E';
constexpr char kExplanationTag = 'X';

void AppendU64(std::string& out, std::uint64_t value) {
  char bytes[8];
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((value >> (8 * i)) & 0xFF);
  out.append(bytes, 8);
}

// Reads from a byte string front to back; every read checks what is left.
class ShardReader {
 public:
  explicit ShardReader(const std::string& bytes) : bytes_(bytes) {}
  bool U64(std::uint64_t& value) {
    if (left() < 8) return false;
    value = 0;
    for (int i = 0; i < 8; ++i)
      value |=
          static_cast<std::uint64_t>(static_cast<unsigned char>(bytes_[at_ + static_cast<std::size_t>(i)]))
          << (8 * i);
    at_ += 8;
    return true;
  }
  bool Bytes(void* out, std::uint64_t size) {
    if (left() < size) return false;
    if (size > 0) std::memcpy(out, bytes_.data() + at_, size);
    at_ += size;
    return true;
  }
  std::uint64_t left() const { return bytes_.size() - at_; }
  std::size_t at() const { return at_; }
  void Skip(std::size_t n) { at_ += n; }
  const std::string& bytes() const { return bytes_; }

 private:
  const std::string& bytes_;
  std::size_t at_ = 0;
};

Status Malformed(const std::string& what) {
  return Internal("the result of a row block sent between MPI ranks is malformed: " + what + ".");
}

// The rest of the message after the metadata.
class ShardPayload final : public wire::PayloadReader {
 public:
  explicit ShardPayload(ShardReader& reader) : reader_(reader) {}
  bool Read(void* out, std::uint64_t size) override { return reader_.Bytes(out, size); }
  std::uint64_t left() const override { return reader_.left(); }

 private:
  ShardReader& reader_;
};

Result<Explanation> DecodeShardExplanation(ShardReader& reader) {
  std::uint64_t meta_size = 0;
  if (!reader.U64(meta_size) || meta_size > reader.left()) return Malformed("its metadata is cut short");
  const auto* meta = reinterpret_cast<const std::uint8_t*>(reader.bytes().data() + reader.at());
  reader.Skip(meta_size);
  ShardPayload payload(reader);
  Result<Explanation> decoded = wire::DecodeExplanation({meta, meta_size}, payload);
  if (!decoded.ok()) return Malformed(decoded.status().message());
  return decoded;
}

// --- joining -----------------------------------------------------------------------------------------

Status Disagree(const std::string& field) {
  return Internal("the row blocks' explanations disagree on '" + field +
                  "', which is not a per-row field, so they cannot be joined.");
}

bool SameTensor(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

bool SameText(const TextArray& a, const TextArray& b) {
  if (a.shape() != b.shape()) return false;
  for (std::int64_t i = 0; i < a.size(); ++i) {
    if (a.at(i) != b.at(i)) return false;
  }
  return true;
}

// Whether `shape` is one block's per-row field: `rows` entries along its first axis and the same
// trailing extents as block 0's.
bool RowShaped(const Shape& shape, std::int64_t rows, const Shape& first) {
  return !shape.empty() && shape[0] == rows && first.size() == shape.size() &&
         std::equal(shape.begin() + 1, shape.end(), first.begin() + 1);
}

Result<std::vector<std::int64_t>> RowsPerBlock(const std::vector<Explanation>& blocks) {
  std::vector<std::int64_t> rows;
  for (const Explanation& block : blocks) {
    const Tensor* block_rows = block.TypedArray("rows");
    if (block_rows == nullptr || block_rows->ndim() != 1)
      return Internal("a row block's explanation has no typed 'rows' array, so its rows cannot be joined.");
    rows.push_back(block_rows->dim(0));
  }
  return rows;
}

Result<Tensor> JoinTensor(const std::string& path, const std::vector<Explanation>& blocks,
                          const std::vector<std::int64_t>& rows) {
  const Tensor& first = blocks[0].arrays.at(path);
  bool per_row = IsPerRowField(path);
  std::int64_t total = 0;
  for (std::size_t k = 0; k < blocks.size(); ++k) {
    const auto it = blocks[k].arrays.find(path);
    if (it == blocks[k].arrays.end()) return Disagree(path);
    per_row = per_row && it->second.dtype() == first.dtype() &&
              RowShaped(it->second.shape(), rows[k], first.shape());
    total += rows[k];
  }
  if (!per_row) {
    for (const Explanation& block : blocks) {
      if (!SameTensor(block.arrays.at(path), first)) return Disagree(path);
    }
    return Tensor(first);
  }
  Shape shape = first.shape();
  shape[0] = total;
  Tensor joined(first.dtype(), shape);
  auto* out = static_cast<std::byte*>(joined.raw());
  for (const Explanation& block : blocks) {
    const Tensor& part = block.arrays.at(path);
    if (part.nbytes() > 0) std::memcpy(out, part.raw(), part.nbytes());
    out += part.nbytes();
  }
  return joined;
}

Result<TextArray> JoinText(const std::string& path, const std::vector<Explanation>& blocks,
                           const std::vector<std::int64_t>& rows) {
  const TextArray& first = blocks[0].texts.at(path);
  bool per_row = IsPerRowField(path);
  for (std::size_t k = 0; k < blocks.size(); ++k) {
    const auto it = blocks[k].texts.find(path);
    if (it == blocks[k].texts.end()) return Disagree(path);
    per_row = per_row && RowShaped(it->second.shape(), rows[k], first.shape());
  }
  if (!per_row) {
    for (const Explanation& block : blocks) {
      if (!SameText(block.texts.at(path), first)) return Disagree(path);
    }
    return first;
  }
  TextArray joined = first;
  for (std::size_t k = 1; k < blocks.size(); ++k) {
    const TextArray& part = blocks[k].texts.at(path);
    std::string chars;
    std::vector<std::uint64_t> ends;
    ends.reserve(static_cast<std::size_t>(part.size()));
    for (std::int64_t i = 0; i < part.size(); ++i) {
      chars += part.at(i);
      ends.push_back(chars.size());
    }
    joined.AppendRows(rows[k], chars.data(), ends.data());
  }
  return joined;
}

Result<nlohmann::json> JoinBodyField(const std::string& key, const std::vector<Explanation>& blocks,
                                     const std::vector<std::int64_t>& rows) {
  const nlohmann::json& first = blocks[0].body.at(key);
  bool per_row = IsPerRowField(key);
  for (std::size_t k = 0; k < blocks.size(); ++k) {
    const auto it = blocks[k].body.find(key);
    if (it == blocks[k].body.end()) return Disagree(key);
    per_row = per_row && it->is_array() && static_cast<std::int64_t>(it->size()) == rows[k];
  }
  if (!per_row) {
    for (const Explanation& block : blocks) {
      if (block.body.at(key) != first) return Disagree(key);
    }
    return first;
  }
  nlohmann::json joined = nlohmann::json::array();
  for (const Explanation& block : blocks) {
    for (const nlohmann::json& entry : block.body.at(key)) joined.push_back(entry);
  }
  return joined;
}

Result<nlohmann::json> JoinQuality(const std::vector<Explanation>& blocks) {
  nlohmann::json joined = nlohmann::json::object();
  const std::string& explainer = blocks[0].explainer;
  for (const auto& [name, first] : blocks[0].quality.items()) {
    const QualityRule rule = RuleForQuality(explainer, name);
    double combined = first.is_number() ? first.get<double>() : 0.0;
    for (std::size_t k = 0; k < blocks.size(); ++k) {
      const auto it = blocks[k].quality.find(name);
      if (it == blocks[k].quality.end()) return Disagree("quality." + name);
      if (rule == QualityRule::kSame || !it->is_number() || !first.is_number()) {
        if (*it != first) return Disagree("quality." + name);
        continue;
      }
      if (k == 0) continue;
      const double value = it->get<double>();
      if (rule == QualityRule::kSum || rule == QualityRule::kSumLessShared) combined += value;
      if (rule == QualityRule::kLargest) combined = std::max(combined, value);
      if (rule == QualityRule::kSmallest) combined = std::min(combined, value);
    }
    if (rule == QualityRule::kSumLessShared) {
      const auto background = blocks[0].quality.find("background_rows");
      if (background == blocks[0].quality.end() || !background->is_number())
        return Disagree("quality." + name);
      combined -= static_cast<double>(blocks.size() - 1) * background->get<double>();
    }
    if (rule == QualityRule::kSame || !first.is_number()) {
      joined[name] = first;
    } else if (first.is_number_float()) {  // keep the JSON number's type, so the text is the same
      joined[name] = combined;
    } else {
      joined[name] = static_cast<std::int64_t>(combined);
    }
  }
  for (const Explanation& block : blocks) {
    if (block.quality.size() != joined.size()) return Disagree("quality");
  }
  return joined;
}

Status CheckSameProvenance(const std::vector<Explanation>& blocks) {
  const Explanation& first = blocks[0];
  for (const Explanation& block : blocks) {
    if (block.kind != first.kind) return Disagree("kind");
    if (block.step != first.step || block.explainer != first.explainer) return Disagree("explainer");
    if (block.plugin_name != first.plugin_name || block.plugin_version != first.plugin_version)
      return Disagree("plugin");
    if (block.params != first.params) return Disagree("params");
    if (block.seed != first.seed) return Disagree("seed");
    if (block.arrays.size() != first.arrays.size() || block.texts.size() != first.texts.size() ||
        block.body.size() != first.body.size())
      return Disagree("fields");
  }
  return Status::Ok();
}

}  // namespace detail

bool SplitsByRows(const std::string& explainer) {
  static const std::set<std::string> kRowLocal = {"shap.exact", "shap.kernel",  "shap.permutation",
                                                  "shap.tree",  "lime.tabular", "lime.text"};
  return kRowLocal.count(explainer) > 0 || explainer.starts_with("grad.");
}

bool ReadsOnlyItsRows(const std::string& explainer, const nlohmann::json& params) {
  static const std::set<std::string> kOwnRows = {"shap.exact", "shap.kernel", "shap.permutation", "shap.tree",
                                                 "lime.tabular"};
  if (kOwnRows.count(explainer) == 0) return false;
  if (!params.is_object()) return params.is_null();
  const auto background = params.find("background");
  return background == params.end() || !background->is_object();
}

bool IsPerRowField(const std::string& path) { return detail::IsPerRowField(path); }

namespace {

// The row count of `e`: its typed or JSON `rows` array's length; -1 without one.
std::int64_t RowsOf(const Explanation& e) {
  if (const Tensor* rows = e.TypedArray("rows"); rows != nullptr)
    return rows->ndim() == 1 ? rows->dim(0) : -1;
  const auto it = e.body.find("rows");
  return it != e.body.end() && it->is_array() ? static_cast<std::int64_t>(it->size()) : -1;
}

Tensor KeepTensorRows(const Tensor& whole, const std::vector<std::int64_t>& keep) {
  Shape shape = whole.shape();
  shape[0] = static_cast<std::int64_t>(keep.size());
  Tensor kept(whole.dtype(), shape);
  const std::size_t row_bytes =
      whole.dim(0) > 0 ? whole.nbytes() / static_cast<std::size_t>(whole.dim(0)) : 0;
  for (std::size_t i = 0; i < keep.size(); ++i) {
    std::memcpy(static_cast<char*>(kept.raw()) + i * row_bytes,
                static_cast<const char*>(whole.raw()) + static_cast<std::size_t>(keep[i]) * row_bytes,
                row_bytes);
  }
  return kept;
}

TextArray KeepTextRows(const TextArray& whole, const std::vector<std::int64_t>& keep) {
  const std::int64_t cells = whole.RowCells();
  std::string chars;
  std::vector<std::uint64_t> ends;
  for (const std::int64_t r : keep) {
    for (std::int64_t c = 0; c < cells; ++c) {
      chars += whole.at(r * cells + c);
      ends.push_back(chars.size());
    }
  }
  Shape shape = whole.shape();
  shape[0] = static_cast<std::int64_t>(keep.size());
  return TextArray(shape, chars, ends);
}

}  // namespace

Explanation KeepEveryRow(Explanation e, std::int64_t first, std::int64_t every) {
  const std::int64_t n = RowsOf(e);
  if (n < 0) return e;
  std::vector<std::int64_t> keep;
  for (std::int64_t r = (every - first % every) % every; r < n; r += every) keep.push_back(r);
  for (auto& [path, tensor] : e.arrays) {
    if (IsPerRowField(path) && tensor.ndim() >= 1 && tensor.dim(0) == n)
      tensor = KeepTensorRows(tensor, keep);
  }
  for (auto& [path, text] : e.texts) {
    if (IsPerRowField(path) && text.dim(0) == n) text = KeepTextRows(text, keep);
  }
  for (auto& [key, value] : e.body.items()) {
    if (!IsPerRowField(key) || !value.is_array() || static_cast<std::int64_t>(value.size()) != n) continue;
    nlohmann::json kept = nlohmann::json::array();
    for (const std::int64_t r : keep) kept.push_back(std::move(value[static_cast<std::size_t>(r)]));
    value = std::move(kept);
  }
  return e;
}

RowBlock BlockOfRank(std::size_t n_rows, int rank, int ranks) {
  const auto k = static_cast<std::size_t>(std::max(ranks, 1));
  const auto r = static_cast<std::size_t>(std::clamp(rank, 0, static_cast<int>(k) - 1));
  const std::size_t base = n_rows / k, extra = n_rows % k;
  const std::size_t begin = r * base + std::min(r, extra);
  return {begin, begin + base + (r < extra ? 1 : 0)};
}

std::string EncodeNothing() { return std::string(1, detail::kNothingTag); }

std::string EncodeOutcome(const Result<Explanation>& outcome) {
  std::string out;
  if (!outcome.ok()) {
    out.push_back(detail::kErrorTag);
    detail::AppendU64(out, static_cast<std::uint64_t>(outcome.status().code()));
    out += outcome.status().message();
    return out;
  }
  const Explanation& e = *outcome;
  const wire::EncodedExplanation encoded = wire::EncodeExplanation(e);
  out.push_back(detail::kExplanationTag);
  detail::AppendU64(out, encoded.meta.size());
  out.append(reinterpret_cast<const char*>(encoded.meta.data()), encoded.meta.size());
  out.reserve(out.size() + encoded.payload_bytes);
  wire::WritePayload(e, encoded, [&out](const void* data, std::uint64_t size) {
    out.append(static_cast<const char*>(data), size);
    return true;
  });
  return out;
}

Result<Explanation> DecodeOutcome(const std::string& bytes, bool& has_explanation) {
  has_explanation = false;
  if (bytes.empty()) return detail::Malformed("it is empty");
  detail::ShardReader reader(bytes);
  reader.Skip(1);
  switch (bytes[0]) {
    case detail::kNothingTag:
      return Explanation{};
    case detail::kErrorTag: {
      std::uint64_t code = 0;
      if (!reader.U64(code) || code > static_cast<std::uint64_t>(StatusCode::kInternal) || code == 0)
        return detail::Malformed("its error code is unknown");
      return Status(static_cast<StatusCode>(code), bytes.substr(9));
    }
    case detail::kExplanationTag:
      has_explanation = true;
      return detail::DecodeShardExplanation(reader);
    default:
      return detail::Malformed("it starts with an unknown tag");
  }
}

Result<Explanation> MergeRowBlocks(const std::vector<Explanation>& blocks) {
  if (blocks.empty()) return Internal("no row block to join.");
  if (blocks.size() == 1) return blocks[0];
  LOUPE_RETURN_IF_ERROR(detail::CheckSameProvenance(blocks));
  LOUPE_ASSIGN_OR_RETURN(const std::vector<std::int64_t> rows, detail::RowsPerBlock(blocks));
  Explanation merged;
  merged.kind = blocks[0].kind;
  merged.step = blocks[0].step;
  merged.explainer = blocks[0].explainer;
  merged.plugin_name = blocks[0].plugin_name;
  merged.plugin_version = blocks[0].plugin_version;
  merged.params = blocks[0].params;
  merged.seed = blocks[0].seed;
  LOUPE_ASSIGN_OR_RETURN(merged.quality, detail::JoinQuality(blocks));
  for (const auto& [key, value] : blocks[0].body.items()) {
    LOUPE_ASSIGN_OR_RETURN(merged.body[key], detail::JoinBodyField(key, blocks, rows));
  }
  for (const auto& [path, tensor] : blocks[0].arrays) {
    LOUPE_ASSIGN_OR_RETURN(Tensor joined, detail::JoinTensor(path, blocks, rows));
    merged.arrays.emplace(path, std::move(joined));
  }
  for (const auto& [path, text] : blocks[0].texts) {
    LOUPE_ASSIGN_OR_RETURN(TextArray joined, detail::JoinText(path, blocks, rows));
    merged.texts.emplace(path, std::move(joined));
  }
  return merged;
}

}  // namespace loupe::shards
