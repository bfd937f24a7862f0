#include "group_explainer.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "consistency.hpp"
#include "decisions.hpp"
#include "groups.hpp"
#include "json_values.hpp"
#include "loupe/sdk/error.hpp"
#include "loupe/sdk/params.hpp"
#include "metrics.hpp"
#include "sampling.hpp"

namespace loupe::fairness {
namespace {

using loupe::sdk::DescribeJson;
using loupe::sdk::Host;
using loupe::sdk::InvalidArgument;
using nlohmann::json;

constexpr std::uint64_t kBootstrapStream = 0xF41B0000;  // + class index

// The rows a report is computed on, after dropping rows with a missing label, group or weight.
struct Rows {
  std::vector<std::int64_t> data_rows;  // data row indices
  std::vector<std::int32_t> group;      // group index
  std::vector<std::int32_t> label;      // true class index, -1 when the label is no model class
  std::vector<double> weight;           // empty without `sample_weight` (every weight is 1)
  bool weighted = false;
};

// One class's counts with that class as the favourable one: confusion counts per group and the weighted
// sum of the class's probability per group.
struct ClassTally {
  GroupCounts counts;
  std::vector<double> score_sum;
};

// Per-class inputs of one report.
struct ClassReport {
  const ClassTally* tally = nullptr;
  std::vector<std::vector<std::int64_t>> cell_rows;  // per cell (group*4 + y*2 + y_pred): indices into Rows;
                                                     // only for a bootstrap of weighted rows
  std::vector<double> y_pred;                        // 0/1 per row, only for consistency
};

json RatesJson(const Confusion& weighted, double rows) {
  const Rates r = ComputeRates(weighted);
  return json{{"n", rows},
              {"weighted_n", NumberOrNull(weighted.Total())},
              {"base_rate", NumberOrNull(r.base_rate)},
              {"selection_rate", NumberOrNull(r.selection_rate)},
              {"tpr", NumberOrNull(r.tpr)},
              {"fpr", NumberOrNull(r.fpr)},
              {"tnr", NumberOrNull(r.tnr)},
              {"fnr", NumberOrNull(r.fnr)},
              {"ppv", NumberOrNull(r.ppv)},
              {"npv", NumberOrNull(r.npv)},
              {"fdr", NumberOrNull(r.fdr)},
              {"for", NumberOrNull(r.for_rate)},
              {"accuracy", NumberOrNull(r.accuracy)},
              {"error_rate", NumberOrNull(r.error_rate)},
              {"f1", NumberOrNull(r.f1)},
              {"balanced_accuracy", NumberOrNull(r.balanced_accuracy)}};
}

// Notes on a group's undefined rates, one sentence per group.
void GroupNotes(const std::string& prefix, const std::string& name, const Confusion& c, double rows,
                std::vector<std::string>* notes) {
  std::vector<std::string> parts;
  if (rows > 0 && c.Total() == 0) {
    parts.push_back("its rows all have weight 0, so every rate is undefined");
  } else {
    if (c.Positives() == 0) parts.push_back("no favourable true labels, so tpr and fnr are undefined");
    if (c.Negatives() == 0) parts.push_back("no unfavourable true labels, so fpr and tnr are undefined");
    if (c.Selected() == 0) parts.push_back("no favourable predictions, so ppv and fdr are undefined");
    if (c.NotSelected() == 0) parts.push_back("no unfavourable predictions, so npv and for are undefined");
  }
  if (parts.empty()) return;
  std::string text = prefix + "group '" + name + "' has ";
  for (std::size_t i = 0; i < parts.size(); ++i) text += (i ? "; " : "") + parts[i];
  notes->push_back(text);
}

// numpy's default (linear) quantile of sorted values.
double Quantile(const std::vector<double>& sorted, double q) {
  const double h = (static_cast<double>(sorted.size()) - 1) * q;
  const auto lo = static_cast<std::size_t>(std::floor(h));
  if (lo + 1 >= sorted.size()) return sorted.back();
  return sorted[lo] + (h - static_cast<double>(lo)) * (sorted[lo + 1] - sorted[lo]);
}

// ---------------------------------------------------------------------------------------------------
// The phases of GroupExplainer::Explain, in order.

// True labels of data rows as class indices: -1 for a label that is none of the model's classes, -2 for a
// missing one. Each distinct target value is named and looked up once: a level by its code, a number by
// its value.
class LabelReader {
 public:
  LabelReader(const Host& host, const std::string& target_name, const ClassSetup& setup)
      : target_(host.ColumnView(target_name)), categorical_(target_.info.IsCategorical()), setup_(setup) {
    for (const std::string& level : target_.info.levels) class_of_level_.push_back(ClassOf(level));
  }

  std::int32_t operator()(std::int64_t data_row) {
    const double v = target_.values[static_cast<std::size_t>(data_row)];
    if (std::isnan(v)) return -2;
    return categorical_ ? class_of_level_[static_cast<std::size_t>(v)] : ClassOfNumber(v);
  }

  // The labels of `count` data rows into `label`.
  void ReadBlock(const std::int64_t* data_rows, std::int64_t count, std::int32_t* label) {
    if (!categorical_) {
      for (std::int64_t i = 0; i < count; ++i) label[i] = (*this)(data_rows[i]);
      return;
    }
    const double* values = target_.values;
    const std::int32_t* class_of_level = class_of_level_.data();
    for (std::int64_t i = 0; i < count; ++i) {
      const double v = values[data_rows[i]];
      label[i] = std::isnan(v) ? -2 : class_of_level[static_cast<std::size_t>(v)];
    }
  }

 private:
  std::int32_t ClassOfNumber(double v) {
    const auto [it, added] = class_of_number_.try_emplace(v, 0);
    if (added) it->second = ClassOf(FormatNumber(v));
    return it->second;
  }

  std::int32_t ClassOf(const std::string& text) const {
    const auto it = std::find(setup_.classes.begin(), setup_.classes.end(), text);
    return it == setup_.classes.end() ? -1 : static_cast<std::int32_t>(it - setup_.classes.begin());
  }

  loupe::sdk::ColumnView target_;
  bool categorical_;
  const ClassSetup& setup_;
  std::vector<std::int32_t> class_of_level_;
  std::unordered_map<double, std::int32_t> class_of_number_;
};

// The `sample_weight` column's value for each step row (NaN when missing); empty without the parameter.
std::vector<double> SampleWeights(const Host& host, const std::vector<std::int64_t>& step_rows) {
  if (!host.Params().Has("sample_weight")) return {};
  std::vector<double> weight_of(step_rows.size());
  const std::string name = host.Params().Get<std::string>("sample_weight");
  const loupe::sdk::ColumnView column = host.ColumnView(name);
  if (!column.info.IsNumeric()) {
    throw InvalidArgument("parameter 'sample_weight' must name a numeric column, found column '" + name +
                          "' of another type");
  }
  for (std::size_t i = 0; i < step_rows.size(); ++i) {
    const double w = column.values[static_cast<std::size_t>(step_rows[i])];
    if (!std::isnan(w) && (w < 0 || !std::isfinite(w))) {
      throw InvalidArgument("parameter 'sample_weight' column '" + name +
                            "' must hold finite weights >= 0, found " + FormatNumber(w) + " in data row " +
                            std::to_string(step_rows[i]));
    }
    weight_of[i] = w;
  }
  return weight_of;
}

// Why step rows are left out, counted over a block of them.
struct LeftOut {
  std::int64_t group = 0, label = 0, weight = 0;  // rows left out: no group, no label, no weight
  std::int64_t unknown_label = 0;                 // rows kept whose label is none of the model's classes
  std::int64_t Total() const { return group + label + weight; }
  void Add(const LeftOut& other) {
    group += other.group;
    label += other.label;
    weight += other.weight;
    unknown_label += other.unknown_label;
  }
};

// The step rows' labels and which rows a block of kPredictBatch step rows leaves out, read in parallel.
struct LabelPass {
  std::vector<std::int32_t> label_of;  // per step row
  std::vector<LeftOut> block_left_out;
};

// Reads the labels of `count` step rows into `label` and counts the rows left out.
LeftOut ReadBlockLabels(LabelReader& read_label, const std::int64_t* step_rows, const std::int32_t* group,
                        const double* weight, std::int32_t* label, std::int64_t count) {
  read_label.ReadBlock(step_rows, count, label);
  LeftOut left_out;
  for (std::int64_t i = 0; i < count; ++i) {
    const std::int32_t l = label[i];
    if ((group[i] | l) >= 0 && weight == nullptr) continue;  // measured: the common case, one test
    if (group[i] < 0) {
      ++left_out.group;
    } else if (l == -2) {
      ++left_out.label;
    } else if (weight != nullptr && std::isnan(weight[i])) {
      ++left_out.weight;
    } else if (l == -1) {
      ++left_out.unknown_label;
    }
  }
  return left_out;
}

LabelPass ReadLabels(const Host& host, const std::vector<std::int64_t>& step_rows,
                     const std::vector<std::int32_t>& group_of, const LabelReader& label_reader,
                     const std::vector<double>& weight_of) {
  const auto n = static_cast<std::int64_t>(step_rows.size());
  LabelPass pass;
  pass.label_of.resize(step_rows.size());
  pass.block_left_out.resize(static_cast<std::size_t>((n + kPredictBatch - 1) / kPredictBatch));
  host.ParallelFor(0, static_cast<std::int64_t>(pass.block_left_out.size()), 1,
                   [&](std::int64_t first, std::int64_t last) {
                     LabelReader read_label = label_reader;  // its cache of numeric labels is per thread
                     for (std::int64_t b = first; b < last; ++b) {
                       const auto begin = static_cast<std::size_t>(b * kPredictBatch);
                       pass.block_left_out[static_cast<std::size_t>(b)] = ReadBlockLabels(
                           read_label, &step_rows[begin], &group_of[begin],
                           weight_of.empty() ? nullptr : &weight_of[begin], &pass.label_of[begin],
                           std::min(n - b * kPredictBatch, kPredictBatch));
                     }
                   });
  return pass;
}

// The rows ReadLabels kept, in step order: each block writes from its first kept row's place. When every
// row is kept, the step's arrays are taken as they are.
Rows KeepMeasured(const Host& host, std::vector<std::int64_t> step_rows, std::vector<std::int32_t> group_of,
                  LabelPass pass, std::vector<double> weight_of) {
  Rows rows;
  rows.weighted = !weight_of.empty();
  const auto n = static_cast<std::int64_t>(step_rows.size());
  std::vector<std::int64_t> block_start(pass.block_left_out.size() + 1, 0);
  for (std::size_t b = 0; b < pass.block_left_out.size(); ++b) {
    const auto begin = static_cast<std::int64_t>(b) * kPredictBatch;
    block_start[b + 1] = block_start[b] + std::min(n - begin, kPredictBatch) - pass.block_left_out[b].Total();
  }
  if (block_start.back() == n) {  // every row is measured: the step's own arrays
    rows.data_rows = std::move(step_rows);
    rows.group = std::move(group_of);
    rows.label = std::move(pass.label_of);
    rows.weight = std::move(weight_of);
    return rows;
  }
  const auto n_kept = static_cast<std::size_t>(block_start.back());
  rows.data_rows.resize(n_kept);
  rows.group.resize(n_kept);
  rows.label.resize(n_kept);
  if (rows.weighted) rows.weight.resize(n_kept);
  host.ParallelFor(0, static_cast<std::int64_t>(pass.block_left_out.size()), 1,
                   [&](std::int64_t first, std::int64_t last) {
                     for (std::int64_t b = first; b < last; ++b) {
                       auto to = static_cast<std::size_t>(block_start[static_cast<std::size_t>(b)]);
                       for (std::int64_t i = b * kPredictBatch; i < std::min(n, (b + 1) * kPredictBatch);
                            ++i) {
                         const auto s = static_cast<std::size_t>(i);
                         const std::int32_t label = pass.label_of[s];
                         if (group_of[s] < 0 || label == -2 || (rows.weighted && std::isnan(weight_of[s])))
                           continue;
                         rows.data_rows[to] = step_rows[s];
                         rows.group[to] = group_of[s];
                         rows.label[to] = label;
                         if (rows.weighted) rows.weight[to] = weight_of[s];
                         ++to;
                       }
                     }
                   });
  return rows;
}

// A note for each kind of row left out, and for the groups' oddities.
void NoteLeftOut(const LeftOut& dropped, const Grouping& grouping, const std::string& target_name,
                 std::vector<std::string>* notes) {
  if (dropped.group > 0) {
    notes->push_back(std::to_string(dropped.group) +
                     " rows are left out: a sensitive value is missing or outside every bin");
  }
  if (dropped.label > 0)
    notes->push_back(std::to_string(dropped.label) + " rows are left out: the target '" + target_name +
                     "' is missing");
  if (dropped.weight > 0)
    notes->push_back(std::to_string(dropped.weight) + " rows are left out: their sample weight is missing");
  if (dropped.unknown_label > 0) {
    notes->push_back(std::to_string(dropped.unknown_label) +
                     " rows have a target label that is none of the model's classes; they "
                     "count as unfavourable for every class");
  }
  if (!grouping.empty_intersections.empty()) {
    std::string listed;
    for (const auto& name : grouping.empty_intersections)
      listed += (listed.empty() ? "'" : ", '") + name + "'";
    notes->push_back("intersections without rows are not groups: " + listed);
  }
  if (grouping.size() == 1) {
    notes->push_back("there is only one group ('" + grouping.group_names[0] +
                     "'): differences are 0 and ratios 1 by definition, and pairwise metrics are undefined");
  }
}

// The step rows with a group (`group_of`, per step row), a label and a weight; a note for each kind of
// row left out.
Rows MeasurableRows(const Host& host, std::vector<std::int64_t> step_rows, std::vector<std::int32_t> group_of,
                    const Grouping& grouping, const ClassSetup& setup, const std::string& target_name,
                    std::vector<std::string>* notes) {
  std::vector<double> weight_of = SampleWeights(host, step_rows);
  LabelPass pass = ReadLabels(host, step_rows, group_of, LabelReader(host, target_name, setup), weight_of);
  LeftOut dropped;
  for (const LeftOut& block : pass.block_left_out) dropped.Add(block);
  NoteLeftOut(dropped, grouping, target_name, notes);
  if (dropped.Total() == static_cast<std::int64_t>(step_rows.size())) {
    throw InvalidArgument(
        "fairness.group has no rows left to measure: every step row lacks a sensitive value, a "
        "target label or a weight");
  }
  return KeepMeasured(host, std::move(step_rows), std::move(group_of), std::move(pass), std::move(weight_of));
}

// Nearest neighbours of every measured row for aif360's consistency, shared by all classes; or why there
// are none.
struct Neighbourhood {
  std::vector<std::int64_t> neighbours;
  std::string why_none;
};

Neighbourhood ConsistencyNeighbours(const Host& host, const Rows& rows, std::int64_t n_neighbors,
                                    std::int64_t max_rows, bool standardize) {
  const auto n = static_cast<std::int64_t>(rows.data_rows.size());
  Neighbourhood out;
  if (n > max_rows) {
    out.why_none =
        "consistency compares every row with every other and is computed up to parameter "
        "'consistency_max_rows' = " +
        std::to_string(max_rows) + " rows, found " + std::to_string(n);
    return out;
  }
  if (n < n_neighbors) {
    out.why_none = "consistency needs at least n_neighbors = " + std::to_string(n_neighbors) +
                   " rows, found " + std::to_string(n);
    return out;
  }
  const loupe::sdk::Matrix x = host.Features();
  std::vector<double> features(static_cast<std::size_t>(n * x.cols()));
  for (std::int64_t i = 0; i < n; ++i) {
    std::copy(x.Row(rows.data_rows[static_cast<std::size_t>(i)]),
              x.Row(rows.data_rows[static_cast<std::size_t>(i)]) + x.cols(), features.begin() + i * x.cols());
  }
  if (std::any_of(features.begin(), features.end(), [](double v) { return std::isnan(v); })) {
    out.why_none = "consistency measures distances between feature rows and some features are missing";
    return out;
  }
  out.neighbours = NearestNeighbours(host, std::move(features), n, x.cols(), n_neighbors, standardize);
  return out;
}

// The model's decision for every measured row, and the tally of each class a report is written for.
struct Decisions {
  std::vector<std::int32_t> decision;  // [n] decided class, only where a report reads it (ClassInputs)
  std::vector<ClassTally> tally;       // per class; a binary model's has only the favourable class's
};

ClassTally EmptyTally(std::size_t n_groups) {
  ClassTally tally;
  tally.counts.weighted.assign(n_groups, Confusion{});
  tally.counts.rows.assign(n_groups, Confusion{});
  tally.score_sum.assign(n_groups, 0.0);
  return tally;
}

[[noreturn]] void ThrowNaNProbability(std::int64_t data_row) {
  throw loupe::sdk::Error(LOUPE_ERROR_MODEL,
                          "the model returned NaN as a probability for data row " + std::to_string(data_row));
}

// DecideBlock for a binary model's favourable class without weights: cells counted as integers, so the
// rows of one group do not wait on each other's floating-point adds; the same sums as the general path
// (whole numbers are exact in a double, and each group's scores are added in row order).
void DecideBinaryBlock(const Rows& rows, const ClassSetup& setup, double threshold, std::int64_t begin,
                       std::int64_t end, const double* probabilities, ClassTally& tally,
                       std::int32_t* decision) {
  const std::size_t n_groups = tally.score_sum.size();
  std::vector<std::int64_t> cells(n_groups * 4, 0);  // per group: tn, fp, fn, tp
  std::vector<double> score_sum(n_groups, 0.0);
  const std::int32_t favorable = setup.favorable;
  for (std::int64_t i = begin; i < end; ++i) {
    const double* p = &probabilities[static_cast<std::size_t>((i - begin) * 2)];
    if (std::isnan(p[0]) || std::isnan(p[1]))
      ThrowNaNProbability(rows.data_rows[static_cast<std::size_t>(i)]);
    const double score = p[favorable];
    const bool selected = score >= threshold;
    if (decision != nullptr) decision[i] = selected ? favorable : 1 - favorable;
    const auto s = static_cast<std::size_t>(i);
    const auto group = static_cast<std::size_t>(rows.group[s]);
    ++cells[group * 4 + 2 * static_cast<std::size_t>(rows.label[s] == favorable) +
            static_cast<std::size_t>(selected)];
    score_sum[group] += score;
  }
  for (std::size_t g = 0; g < n_groups; ++g) {
    const std::int64_t* c = &cells[g * 4];
    const Confusion counts{static_cast<double>(c[3]), static_cast<double>(c[1]), static_cast<double>(c[0]),
                           static_cast<double>(c[2])};
    tally.counts.weighted[g] = counts;
    tally.counts.rows[g] = counts;
    tally.score_sum[g] = score_sum[g];
  }
}

// Decides and counts the measured rows [begin, end) from their probabilities ([end - begin][n_classes]),
// for each class of `classes` as the favourable one, and the decisions into `decision` unless it is null.
// The counts go to cells indexed by (y, y_pred), not through branches: whether a row is a true or false
// positive is as good as random.
template <bool kWeighted>
void DecideBlock(const Rows& rows, const ClassSetup& setup, double threshold, std::int64_t begin,
                 std::int64_t end, const double* probabilities, const std::vector<std::int32_t>& classes,
                 std::vector<ClassTally>& tally, std::int32_t* decision) {
  const auto n_classes = static_cast<std::int64_t>(setup.classes.size());
  const std::size_t n_groups = tally[0].score_sum.size();
  // Per class and group: weighted cells [4], row cells [4] (cell = 2 y + y_pred: tn, fp, fn, tp), the
  // weighted sum of the class's probability.
  constexpr std::size_t kSlots = 9;
  std::vector<double> cells(classes.size() * n_groups * kSlots, 0.0);
  const std::int32_t* group = rows.group.data();
  const std::int32_t* label = rows.label.data();
  for (std::int64_t i = begin; i < end; ++i) {
    const double* p = &probabilities[static_cast<std::size_t>((i - begin) * n_classes)];
    bool nan = false;
    for (std::int64_t k = 0; k < n_classes; ++k) nan |= std::isnan(p[k]);
    if (nan) ThrowNaNProbability(rows.data_rows[static_cast<std::size_t>(i)]);
    const std::int32_t decided =
        setup.binary() ? (p[setup.favorable] >= threshold ? setup.favorable : 1 - setup.favorable)
                       : Decide(p, setup, threshold);
    if (decision != nullptr) decision[i] = decided;
    const double w = kWeighted ? rows.weight[static_cast<std::size_t>(i)] : 1.0;
    for (std::size_t c = 0; c < classes.size(); ++c) {
      const std::size_t cell = 2 * static_cast<std::size_t>(label[i] == classes[c]) +
                               static_cast<std::size_t>(decided == classes[c]);
      double* slots = &cells[(c * n_groups + static_cast<std::size_t>(group[i])) * kSlots];
      slots[cell] += w;
      slots[4 + cell] += 1.0;
      slots[8] += kWeighted ? w * p[classes[c]] : p[classes[c]];
    }
  }
  for (std::size_t c = 0; c < classes.size(); ++c) {
    for (std::size_t g = 0; g < n_groups; ++g) {
      const double* slots = &cells[(c * n_groups + g) * kSlots];
      tally[c].counts.weighted[g] = Confusion{slots[3], slots[1], slots[0], slots[2]};
      tally[c].counts.rows[g] = Confusion{slots[7], slots[5], slots[4], slots[6]};
      tally[c].score_sum[g] = slots[8];
    }
  }
}

// Whether rows[0..count) are consecutive data rows.
bool Consecutive(const std::int64_t* rows, std::int64_t count) {
  for (std::int64_t i = 1; i < count; ++i) {
    if (rows[i] != rows[0] + i) return false;
  }
  return true;
}

// One pass over the measured rows in blocks of kPredictBatch: gather a block's features, predict, decide
// and count; no array of rows x classes is held. The blocks' sums are added in block order, so the bits
// do not depend on the thread count. Each row's decision is kept only with `keep_decisions`.
Decisions DecideAndCount(const Host& host, const Rows& rows, const ClassSetup& setup, double threshold,
                         std::size_t n_groups, bool keep_decisions) {
  const auto n = static_cast<std::int64_t>(rows.data_rows.size());
  const auto n_classes = static_cast<std::int64_t>(setup.classes.size());
  std::vector<std::int32_t> classes;  // the reports' favourable classes: every class of a multi-class model
  for (std::int32_t c = 0; c < static_cast<std::int32_t>(n_classes); ++c) {
    if (!setup.binary() || c == setup.favorable) classes.push_back(c);
  }
  const loupe::sdk::Matrix x = host.Features();
  const std::int64_t d = x.cols();
  const std::int64_t n_blocks = (n + kPredictBatch - 1) / kPredictBatch;
  Decisions out;
  if (keep_decisions) out.decision.resize(static_cast<std::size_t>(n));
  std::int32_t* decision = keep_decisions ? out.decision.data() : nullptr;
  std::vector<std::vector<ClassTally>> block_tally(static_cast<std::size_t>(n_blocks));
  host.ParallelFor(0, n_blocks, 1, [&](std::int64_t first, std::int64_t last) {
    // Written before read, so not zeroed: a block's rows and probabilities, reused by the chunk's blocks.
    const auto batch = std::make_unique_for_overwrite<double[]>(static_cast<std::size_t>(kPredictBatch * d));
    const auto probabilities =
        std::make_unique_for_overwrite<double[]>(static_cast<std::size_t>(kPredictBatch * n_classes));
    for (std::int64_t b = first; b < last; ++b) {
      host.ThrowIfCancelled();
      const std::int64_t begin = b * kPredictBatch, end = std::min(n, begin + kPredictBatch);
      const std::int64_t* block_rows = &rows.data_rows[static_cast<std::size_t>(begin)];
      const double* features = x.Row(block_rows[0]);  // consecutive data rows are read in place
      if (!Consecutive(block_rows, end - begin)) {
        double* gathered = batch.get();
        for (std::int64_t i = 0; i < end - begin; ++i)
          gathered = std::copy_n(x.Row(block_rows[i]), d, gathered);
        features = batch.get();
      }
      host.Predict(features, end - begin, d, LOUPE_OUTPUT_PROBABILITY, probabilities.get(),
                   (end - begin) * n_classes);
      std::vector<ClassTally> tally(classes.size(), EmptyTally(n_groups));
      if (setup.binary() && !rows.weighted) {
        DecideBinaryBlock(rows, setup, threshold, begin, end, probabilities.get(), tally[0], decision);
      } else {
        (rows.weighted ? DecideBlock<true> : DecideBlock<false>)(rows, setup, threshold, begin, end,
                                                                 probabilities.get(), classes, tally,
                                                                 decision);
      }
      block_tally[static_cast<std::size_t>(b)] = std::move(tally);
    }
  });
  out.tally.resize(static_cast<std::size_t>(n_classes));
  for (std::size_t c = 0; c < classes.size(); ++c) {
    ClassTally& total = out.tally[static_cast<std::size_t>(classes[c])];
    total = EmptyTally(n_groups);
    for (const auto& block : block_tally) {
      for (std::size_t g = 0; g < n_groups; ++g) {
        total.counts.weighted[g] += block[c].counts.weighted[g];
        total.counts.rows[g] += block[c].counts.rows[g];
        total.score_sum[g] += block[c].score_sum[g];
      }
    }
  }
  return out;
}

// Everything one class's report reads: the measured rows, the model's decisions, the groups, the options.
struct ReportInputs {
  const Host& host;
  const Rows& rows;
  const Decisions& decisions;
  std::int64_t n_classes;
  const Grouping& grouping;
  const std::vector<std::string>& sensitive;
  const std::vector<char>& privileged;
  const MetricOptions& options;
  const Neighbourhood& neighbourhood;
  std::int64_t n_neighbors;
  std::int64_t n_boot;
  std::array<double, 2> ci;
  const std::vector<Bound>& bounds;
};

// One class's report inputs (favourable = that class): its tally, and the per-row cells and decisions
// only where a bootstrap of weighted rows or consistency reads them.
ClassReport ClassInputs(const ReportInputs& in, std::int32_t cls) {
  ClassReport r;
  r.tally = &in.decisions.tally[static_cast<std::size_t>(cls)];
  const bool cells = in.rows.weighted && in.n_boot > 0;
  const bool y_pred = !in.neighbourhood.neighbours.empty();
  if (!cells && !y_pred) return r;
  const auto n = static_cast<std::int64_t>(in.rows.data_rows.size());
  if (cells) r.cell_rows.assign(in.grouping.size() * 4, {});
  if (y_pred) r.y_pred.resize(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    const auto s = static_cast<std::size_t>(i);
    const bool y = in.rows.label[s] == cls;
    const bool yhat = in.decisions.decision[s] == cls;
    const auto g = static_cast<std::size_t>(in.rows.group[s]);
    if (cells) r.cell_rows[g * 4 + (y ? 2 : 0) + (yhat ? 1 : 0)].push_back(i);
    if (y_pred) r.y_pred[s] = yhat ? 1.0 : 0.0;
  }
  return r;
}

// The group counts of one bootstrap replicate: the n rows resampled with replacement, drawn per cell
// (only the cell sums matter).
GroupCounts ResampleCounts(const ReportInputs& in, const ClassReport& r,
                           const std::vector<std::int64_t>& sizes, loupe::sdk::Rng& rng) {
  const auto n = static_cast<std::int64_t>(in.rows.data_rows.size());
  const std::size_t n_groups = in.grouping.size();
  const std::vector<std::int64_t> drawn = Multinomial(n, sizes, rng);
  GroupCounts counts;
  counts.weighted.assign(n_groups, Confusion{});
  counts.rows.assign(n_groups, Confusion{});
  for (std::size_t k = 0; k < drawn.size(); ++k) {
    double w = static_cast<double>(drawn[k]);
    if (in.rows.weighted) {
      w = 0;
      const auto& members = r.cell_rows[k];
      for (std::int64_t j = 0; j < drawn[k]; ++j) {
        w += in.rows.weight[static_cast<std::size_t>(members[rng.Below(members.size())])];
      }
    }
    const std::size_t g = k / 4;
    double* w_slot[4] = {&counts.weighted[g].tn, &counts.weighted[g].fp, &counts.weighted[g].fn,
                         &counts.weighted[g].tp};
    double* n_slot[4] = {&counts.rows[g].tn, &counts.rows[g].fp, &counts.rows[g].fn, &counts.rows[g].tp};
    *w_slot[k % 4] = w;
    *n_slot[k % 4] = static_cast<double>(drawn[k]);
  }
  return counts;
}

// The first n_count_metrics metrics of n_boot bootstrap replicates, [n_boot][n_count_metrics]; replicate
// b draws from its own counter-based stream, so the result does not depend on the thread count.
std::vector<double> BootstrapReplicates(const ReportInputs& in, const ClassReport& r, std::int32_t cls,
                                        std::size_t n_count_metrics) {
  std::vector<double> replicates(static_cast<std::size_t>(in.n_boot) * n_count_metrics, kNaN);
  if (in.n_boot <= 0) return replicates;
  std::vector<std::int64_t> sizes;  // rows per cell (group*4 + y*2 + y_pred)
  for (const Confusion& c : r.tally->counts.rows) {
    for (const double cell : {c.tn, c.fp, c.fn, c.tp}) sizes.push_back(static_cast<std::int64_t>(cell));
  }
  in.host.ParallelFor(0, in.n_boot, 4, [&](std::int64_t begin, std::int64_t end) {
    in.host.ThrowIfCancelled();
    for (std::int64_t b = begin; b < end; ++b) {
      loupe::sdk::Rng rng =
          in.host.Rng(static_cast<std::uint64_t>(b), kBootstrapStream + static_cast<std::uint64_t>(cls));
      const std::vector<Metric> values = EvaluateMetrics(ResampleCounts(in, r, sizes, rng), in.options);
      for (std::size_t m = 0; m < n_count_metrics; ++m)
        replicates[static_cast<std::size_t>(b) * n_count_metrics + m] = values[m].value;
    }
  });
  return replicates;
}

// The report's `groups` and `overall` entries, with a note per group on its undefined rates.
void AddGroupRates(const ReportInputs& in, const ClassTally& tally, const std::string& prefix, json* out,
                   std::vector<std::string>* notes) {
  const GroupCounts& counts = tally.counts;
  const std::vector<double>& score_sum = tally.score_sum;
  json groups = json::array();
  Confusion all;
  double all_rows = 0, all_score = 0;
  for (std::size_t g = 0; g < in.grouping.size(); ++g) {
    json entry = {{"name", in.grouping.group_names[g]}};
    json attributes = json::object();
    for (std::size_t c = 0; c < in.sensitive.size(); ++c)
      attributes[in.sensitive[c]] = in.grouping.group_values[g][c];
    entry["attributes"] = attributes;
    if (!in.privileged.empty()) entry["privileged"] = in.privileged[g] != 0;
    entry.update(RatesJson(counts.weighted[g], counts.rows[g].Total()));
    entry["mean_score"] = NumberOrNull(Divide(score_sum[g], counts.weighted[g].Total()));
    groups.push_back(entry);
    GroupNotes(prefix, in.grouping.group_names[g], counts.weighted[g], counts.rows[g].Total(), notes);
    all += counts.weighted[g];
    all_rows += counts.rows[g].Total();
    all_score += score_sum[g];
  }
  (*out)["groups"] = groups;
  (*out)["overall"] = RatesJson(all, all_rows);
  (*out)["overall"]["mean_score"] = NumberOrNull(Divide(all_score, all.Total()));
}

// The metric blocks {"aif360": {...}, "fairlearn": {...}, "loupe": {...}}: each metric's value, or
// {value, ci} for the first n_count_metrics when bootstrapped; notes on undefined values.
json MetricBlocks(const ReportInputs& in, const std::vector<Metric>& metrics, std::size_t n_count_metrics,
                  const std::vector<double>& replicates, const std::string& prefix,
                  std::vector<std::string>* notes) {
  json blocks = {{"aif360", json::object()}, {"fairlearn", json::object()}, {"loupe", json::object()}};
  for (std::size_t m = 0; m < metrics.size(); ++m) {
    const Metric& metric = metrics[m];
    json value = NumberOrNull(metric.value);
    if (in.n_boot > 0 && m < n_count_metrics) {
      std::vector<double> sample;
      for (std::int64_t b = 0; b < in.n_boot; ++b) {
        const double v = replicates[static_cast<std::size_t>(b) * n_count_metrics + m];
        if (std::isfinite(v)) sample.push_back(v);
      }
      std::sort(sample.begin(), sample.end());
      json ci = sample.empty() ? json(nullptr)
                               : json::array({Quantile(sample, in.ci[0]), Quantile(sample, in.ci[1])});
      value = json{{"value", value}, {"ci", ci}};
      const auto undefined = in.n_boot - static_cast<std::int64_t>(sample.size());
      if (undefined > 0 && std::isfinite(metric.value)) {
        notes->push_back(prefix + metric.block + "." + metric.name + ": " + std::to_string(undefined) +
                         " of " + std::to_string(in.n_boot) +
                         " bootstrap replicates left it undefined; its interval uses the others");
      }
    }
    blocks[metric.block][metric.name] = value;
    if (!metric.note.empty()) {
      notes->push_back(prefix + metric.block + "." + metric.name +
                       (std::isfinite(metric.value) ? ": " : " is null: ") + metric.note);
    }
  }
  return blocks;
}

// One verdict per user bound: the metric's value, pass (null when the value is undefined) and, with an
// interval, whether the whole interval is inside.
json Verdicts(const std::vector<Bound>& bounds, const json& blocks) {
  json verdicts = json::array();
  for (const Bound& bound : bounds) {
    const auto dot = bound.metric.find('.');
    const std::string block = bound.metric.substr(0, dot), name = bound.metric.substr(dot + 1);
    if (!blocks[block].contains(name)) {
      throw InvalidArgument("parameter 'bounds' names metric '" + bound.metric +
                            "', which fairness.group does not report");
    }
    const json& entry = blocks[block][name];
    const json value = entry.is_object() ? entry["value"] : entry;
    auto inside = [&](double v) {
      return (std::isnan(bound.min) || v >= bound.min) && (std::isnan(bound.max) || v <= bound.max);
    };
    json verdict = {{"metric", bound.metric},
                    {"value", value},
                    {"min", NumberOrNull(bound.min)},
                    {"max", NumberOrNull(bound.max)}};
    verdict["pass"] = value.is_null() ? json(nullptr) : json(inside(value.get<double>()));
    if (entry.is_object() && entry["ci"].is_array()) {
      verdict["ci_pass"] = inside(entry["ci"][0].get<double>()) && inside(entry["ci"][1].get<double>());
    }
    verdicts.push_back(verdict);
  }
  return verdicts;
}

// The whole report with class `cls` as the favourable one: groups, overall, metrics (with intervals) and
// verdicts. `prefix` starts each note ("" for the main report, "class 'x': " one-vs-rest).
json ClassReportJson(const ReportInputs& in, std::int32_t cls, const std::string& prefix,
                     std::vector<std::string>* notes) {
  const ClassReport r = ClassInputs(in, cls);
  std::vector<Metric> metrics = EvaluateMetrics(r.tally->counts, in.options);
  // Consistency joins the aif360 block (not bootstrapped: it is not a function of the group counts).
  double consistency = kNaN;
  if (!in.neighbourhood.neighbours.empty()) {
    consistency = ConsistencyScore(in.neighbourhood.neighbours, r.y_pred, in.n_neighbors);
  }
  metrics.push_back(Metric{"aif360", "consistency", consistency, in.neighbourhood.why_none});
  const std::size_t n_count_metrics = metrics.size() - 1;
  const std::vector<double> replicates = BootstrapReplicates(in, r, cls, n_count_metrics);

  json out;
  AddGroupRates(in, *r.tally, prefix, &out, notes);
  const json blocks = MetricBlocks(in, metrics, n_count_metrics, replicates, prefix, notes);
  if (in.n_boot > 0 && !std::isnan(consistency)) {
    notes->push_back(prefix +
                     "aif360.consistency has no interval: it depends on the features, not only on "
                     "the group counts the bootstrap redraws");
  }
  out["metrics"] = blocks;
  out["verdicts"] = Verdicts(in.bounds, blocks);
  return out;
}

// null without bounds or when an undefined value leaves a passing run undetermined; else whether every
// bound passed.
json Passed(const json& verdicts) {
  bool all_pass = true, undetermined = false;
  for (const auto& verdict : verdicts) {
    if (verdict["pass"].is_null())
      undetermined = true;
    else
      all_pass = all_pass && verdict["pass"].get<bool>();
  }
  return verdicts.empty() || (undetermined && all_pass) ? json(nullptr) : json(all_pass);
}

}  // namespace

std::vector<Bound> ParseBounds(const json& bounds) {
  std::vector<Bound> out;
  if (bounds.is_null()) return out;
  if (!bounds.is_object()) {
    throw InvalidArgument(
        "parameter 'bounds' must map metric names (\"aif360.disparate_impact\") to {min, max}, found " +
        DescribeJson(bounds));
  }
  for (const auto& item : bounds.items()) {
    const std::string& key = item.key();
    const auto dot = key.find('.');
    const std::string block = key.substr(0, dot);
    if (dot == std::string::npos || (block != "aif360" && block != "fairlearn" && block != "loupe")) {
      throw InvalidArgument(
          "parameter 'bounds' keys must be 'aif360.<metric>', 'fairlearn.<metric>' or "
          "'loupe.<metric>', found '" +
          key + "'");
    }
    const json& spec = item.value();
    json lo = nullptr, hi = nullptr;
    if (spec.is_array() && spec.size() == 2) {
      lo = spec[0];
      hi = spec[1];
    } else if (spec.is_object()) {
      for (const auto& side : spec.items()) {
        if (side.key() != "min" && side.key() != "max") {
          throw InvalidArgument("parameter 'bounds' entry '" + key +
                                "' may only hold 'min' and 'max', found '" + side.key() + "'");
        }
      }
      lo = spec.value("min", json(nullptr));
      hi = spec.value("max", json(nullptr));
    } else {
      throw InvalidArgument("parameter 'bounds' entry '" + key +
                            "' must be {min: a, max: b} or [a, b], found " + DescribeJson(spec));
    }
    for (const json* side : {&lo, &hi}) {
      if (!side->is_null() && !side->is_number()) {
        throw InvalidArgument("parameter 'bounds' entry '" + key + "' must give numbers or null, found " +
                              DescribeJson(*side));
      }
    }
    if (lo.is_null() && hi.is_null()) {
      throw InvalidArgument("parameter 'bounds' entry '" + key + "' sets neither min nor max");
    }
    out.push_back(Bound{key, lo.is_null() ? kNaN : lo.get<double>(), hi.is_null() ? kNaN : hi.get<double>()});
  }
  return out;
}

GroupExplainer::GroupExplainer(const Host& host) {
  const auto& p = host.Params();
  threshold_ = p.Get<double>("threshold");
  n_boot_ = p.Get<std::int64_t>("n_boot");
  const json ci = p.Get<json>("ci");
  if (!ci.is_array() || ci.size() != 2 || !ci[0].is_number() || !ci[1].is_number() ||
      ci[0].get<double>() < 0 || ci[1].get<double>() > 1 || ci[0].get<double>() >= ci[1].get<double>()) {
    throw InvalidArgument("parameter 'ci' must be two quantiles [lo, hi] with 0 <= lo < hi <= 1, found " +
                          ci.dump());
  }
  ci_ = {ci[0].get<double>(), ci[1].get<double>()};
  equalized_odds_mean_ = p.Get<std::string>("agg") == "mean";
  bounds_ = ParseBounds(p.GetOr<json>("bounds", nullptr));
  n_neighbors_ = p.Get<std::int64_t>("n_neighbors");
  standardize_ = p.Get<bool>("standardize");
  consistency_max_rows_ = p.Get<std::int64_t>("consistency_max_rows");
  concentration_ = p.Get<double>("concentration");
  const json bins = p.GetOr<json>("bins", nullptr);
  if (!bins.is_null() && !bins.is_object()) {
    throw InvalidArgument(
        "parameter 'bins' must map numeric sensitive columns to lists of bin edges, found " +
        DescribeJson(bins));
  }
}

void GroupExplainer::Explain(const Host& host, const loupe::sdk::ResultBuilder& result) const {
  const loupe::sdk::DatasetInfo data = host.Dataset();
  const ClassSetup setup = ResolveClasses(host, data);
  const std::vector<std::string> sensitive = SensitiveColumns(host, data);
  if (data.target.empty()) {
    throw loupe::sdk::Unsupported(
        "fairness.group compares decisions with true labels, but the pipeline's data has no "
        "target column (set data.target)");
  }
  // Rows and groups.
  std::vector<std::int64_t> step_rows = host.StepRows();
  const auto n_step_rows = static_cast<double>(step_rows.size());
  Grouping grouping = BuildGroups(host, step_rows, sensitive, host.Params().GetOr<json>("bins", nullptr));
  const std::vector<char> privileged =
      PrivilegedGroups(grouping, host.Params().GetOr<json>("privileged", nullptr));
  std::vector<std::string> notes;
  const Rows rows = MeasurableRows(host, std::move(step_rows), std::move(grouping.group_of), grouping, setup,
                                   data.target, &notes);

  // The model's decisions, and the neighbours consistency compares them with.
  const auto n = static_cast<std::int64_t>(rows.data_rows.size());
  const auto n_classes = static_cast<std::int64_t>(setup.classes.size());
  const Neighbourhood neighbourhood =
      ConsistencyNeighbours(host, rows, n_neighbors_, consistency_max_rows_, standardize_);
  // Per-row decisions only where ClassInputs reads them: consistency, or a bootstrap of weighted rows.
  const bool keep_decisions = !neighbourhood.neighbours.empty() || (rows.weighted && n_boot_ > 0);
  const Decisions decisions = DecideAndCount(host, rows, setup, threshold_, grouping.size(), keep_decisions);

  // The report for the favourable class, and one-vs-rest for every class of a multi-class model.
  MetricOptions options;
  options.group_names = grouping.group_names;
  options.privileged = privileged;
  options.equalized_odds_mean = equalized_odds_mean_;
  options.concentration = concentration_;
  const ReportInputs inputs{host,    rows,          decisions,    n_classes, grouping, sensitive, privileged,
                            options, neighbourhood, n_neighbors_, n_boot_,   ci_,      bounds_};
  std::vector<std::string> report_notes;
  json main = ClassReportJson(inputs, setup.favorable, "", &report_notes);
  if (!setup.binary()) {
    json one_vs_rest = json::object();
    for (std::int32_t c = 0; c < static_cast<std::int32_t>(n_classes); ++c) {
      const std::string& name = setup.classes[static_cast<std::size_t>(c)];
      std::vector<std::string> class_notes;
      one_vs_rest[name] =
          c == setup.favorable ? main : ClassReportJson(inputs, c, "class '" + name + "': ", &class_notes);
      for (auto& note : class_notes) report_notes.push_back(std::move(note));
    }
    result.SetJson("one_vs_rest", one_vs_rest);
  }
  notes.insert(notes.end(), report_notes.begin(), report_notes.end());

  WriteDecisionRule(result, sensitive, setup, threshold_);
  if (!privileged.empty()) {
    std::vector<std::string> priv, unpriv;
    for (std::size_t g = 0; g < grouping.size(); ++g)
      (privileged[g] ? priv : unpriv).push_back(grouping.group_names[g]);
    result.SetJson("privileged_groups", priv);
    result.SetJson("unprivileged_groups", unpriv);
  }
  result.SetJson("groups", main["groups"]);
  result.SetJson("overall", main["overall"]);
  result.SetJson("metrics", main["metrics"]);
  result.SetJson("verdicts", main["verdicts"]);
  result.SetJson("passed", Passed(main["verdicts"]));
  result.SetStrings("notes", notes);
  result.SetNumber("quality.rows", static_cast<double>(n));
  result.SetNumber("quality.rows_left_out", n_step_rows - static_cast<double>(n));
  result.SetNumber("quality.groups", static_cast<double>(grouping.size()));
  result.SetNumber("quality.n_boot", static_cast<double>(n_boot_));
  result.SetNumber("quality.model_evaluations", static_cast<double>(n));
}

loupe::sdk::ExplainerDef GroupExplainer::Definition() {
  using loupe::sdk::Param;
  return loupe::sdk::ExplainerDef::Of<GroupExplainer>("fairness.group")
      .Summary(
          "Group fairness of a classifier's decisions: per-group rates and AIF360- and fairlearn-convention "
          "metrics, with bootstrap intervals and pass/fail bounds.")
      .Kind("fairness_report")
      .Scope(LOUPE_SCOPE_GLOBAL)
      .Parameters({
          Param::StringList("sensitive")
              .Role(LOUPE_PARAM_ROLE_COLUMN)
              .Doc("Sensitive columns; several form intersectional groups (default: the "
                   "pipeline's sensitive columns)."),
          Param::Json("privileged")
              .Role(LOUPE_PARAM_ROLE_GROUPS)
              .Doc("Privileged groups for AIF360-style metrics: a value, a list, {column: "
                   "value(s)} or a list of such objects."),
          FavorableParam(),
          ThresholdParam(),
          Param::Json("bins")
              .Role(LOUPE_PARAM_ROLE_COLUMN_KEYS)
              .Doc("Bin edges for numeric sensitive columns, {column: [e0, e1, ...]}, right-closed "
                   "buckets (e_i, e_i+1] as pandas.cut."),
          Param::String("sample_weight")
              .Role(LOUPE_PARAM_ROLE_COLUMN)
              .Doc("Numeric column of sample weights; counts become sums of weights."),
          Param::Int("n_boot").Default(0).Min(0).Max(100000).Doc(
              "Bootstrap replicates for confidence intervals (0: none)."),
          Param::Json("ci")
              .Default(nlohmann::json::array({0.025, 0.975}))
              .Doc("Quantiles [lo, hi] of the bootstrap distribution reported as the interval."),
          Param::Enum("agg", {"worst_case", "mean"})
              .Default("worst_case")
              .Doc("fairlearn's aggregation of the TPR and FPR parts of equalized odds."),
          Param::Json("bounds")
              .Default(nlohmann::json{{"aif360.disparate_impact", {{"min", 0.8}}},
                                      {"loupe.four_fifths_impact_ratio", {{"min", 0.8}}}})
              .Doc("Pass/fail bounds per metric, {\"block.metric\": {min, max}}; default: the four-fifths "
                   "rule."),
          Param::Int("n_neighbors")
              .Default(5)
              .Min(1)
              .Max(1000)
              .Doc("Neighbours per row for AIF360's consistency."),
          Param::Bool("standardize")
              .Default(false)
              .Doc("Z-score the features before consistency's nearest-neighbour search (AIF360 uses them as "
                   "given)."),
          Param::Int("consistency_max_rows")
              .Default(20000)
              .Min(0)
              .Doc("Consistency is an all-pairs search; above this many rows it is reported as null."),
          Param::Float("concentration")
              .Default(1.0)
              .Min(0)
              .Doc("Dirichlet concentration of smoothed empirical differential fairness (AIF360's default "
                   "1)."),
      });
}

}  // namespace loupe::fairness
