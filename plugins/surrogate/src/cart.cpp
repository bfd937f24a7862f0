#include "cart.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <numeric>
#include <queue>
#include <stdexcept>
#include <string>
#include <utility>

namespace loupe::surrogate {
namespace {

constexpr double kEpsilon = std::numeric_limits<double>::epsilon();
// sklearn's FEATURE_THRESHOLD: consecutive sorted values closer than this are one value.
constexpr double kFeatureThreshold = 1e-7;
// Categorical splits for three or more classes try every subset up to this many levels present.
constexpr std::int32_t kMaxExhaustiveLevels = 12;
constexpr double kMinusInfinity = -std::numeric_limits<double>::infinity();

// Sufficient statistics of a set of samples: per-class weights (classification) or {sum w*y, sum w*y^2}.
struct Stats {
  std::vector<double> s;
  double w = 0.0;
  std::int64_t n = 0;

  explicit Stats(std::int32_t size = 0) : s(static_cast<std::size_t>(size), 0.0) {}
  void Clear() {
    std::fill(s.begin(), s.end(), 0.0);
    w = 0.0;
    n = 0;
  }
  void Add(const Stats& other) {
    for (std::size_t k = 0; k < s.size(); ++k) s[k] += other.s[k];
    w += other.w;
    n += other.n;
  }
  // this = a - b
  void Difference(const Stats& a, const Stats& b) {
    for (std::size_t k = 0; k < s.size(); ++k) s[k] = a.s[k] - b.s[k];
    w = a.w - b.w;
    n = a.n - b.n;
  }
};

// A training sample's weight and target (class index or value), side by side.
struct Sample {
  double weight, y;
};

// The best split of one node on one feature found so far.
struct Candidate {
  bool valid = false;
  double proxy = kMinusInfinity;
  std::int32_t feature = -1;
  SplitKind kind = SplitKind::kNumeric;
  double threshold = std::numeric_limits<double>::quiet_NaN();
  std::vector<std::uint8_t> left_levels;
  bool missing_left = false;
  bool saw_missing = false;
};

// A chosen split with its children's statistics, ready to apply.
struct PendingSplit {
  bool split = false;
  Candidate candidate;
  std::int64_t n_left = 0;
  double improvement = 0.0;
};

double Entropy(const double* counts, std::int32_t k, double weight) {
  double entropy = 0.0;
  for (std::int32_t c = 0; c < k; ++c) {
    if (counts[c] > 0.0) {
      const double p = counts[c] / weight;
      entropy -= p * (std::log(p) / std::log(2.0));
    }
  }
  return entropy;
}

class Builder {
 public:
  Builder(const TrainingSet& data, const CartParams& params, const ParallelRunner& parallel)
      : data_(data),
        params_(params),
        parallel_(parallel),
        n_stats_(data.n_classes > 0 ? data.n_classes : 2),
        goes_left_(static_cast<std::size_t>(data.n), 0) {
    min_samples_split_ = std::max(params.min_samples_split, 2 * params.min_samples_leaf);
  }

  Tree Grow() {
    samples_.resize(static_cast<std::size_t>(data_.n));
    for (std::size_t i = 0; i < samples_.size(); ++i) samples_[i] = {data_.weight[i], data_.y[i]};
    Presort();
    Node root = MakeNode(0, data_.n, 0, -1);
    root_weight_ = root.weighted_samples;
    nodes_.push_back(std::move(root));
    ranges_.push_back({0, data_.n});
    if (params_.max_leaf_nodes > 0) {
      GrowBestFirst();
    } else {
      GrowDepthFirst();
    }
    Tree tree;
    tree.n_classes = data_.n_classes;
    tree.nodes = std::move(nodes_);
    if (params_.max_leaf_nodes <= 0) tree = Preorder(tree, std::vector<std::uint8_t>(tree.nodes.size(), 0));
    if (params_.ccp_alpha > 0.0) tree = PruneCostComplexity(tree, params_.ccp_alpha);
    return tree;
  }

 private:
  struct Range {
    std::int64_t begin, end;
  };

  // order_[f] holds the sample ids; each node owns the same range [begin, end) of every order_[f], and
  // for a numeric feature that range is sorted by value (missing last), with the values beside it in
  // sorted_x_[f] (so that a node's search reads them in order, not through the ids). Splits partition
  // both stably.
  void Presort() {
    const std::int64_t f_count = data_.n_features();
    order_.assign(static_cast<std::size_t>(f_count), {});
    sorted_x_.assign(static_cast<std::size_t>(f_count), {});
    parallel_(0, f_count, 1, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t f = begin; f < end; ++f) {
        auto& order = order_[static_cast<std::size_t>(f)];
        order.resize(static_cast<std::size_t>(data_.n));
        std::iota(order.begin(), order.end(), 0);
        if (data_.n_levels[static_cast<std::size_t>(f)] > 0) continue;
        SortByValue(data_.columns[static_cast<std::size_t>(f)], order,
                    sorted_x_[static_cast<std::size_t>(f)]);
      }
    });
  }

  // The sample ids by (value, id), missing values last by id, into `order`, and the values in that order:
  // a least-significant-digit radix sort of the values' order-preserving bit patterns, 11 bits a pass, which
  // keeps equal values in id order (0.0 and -0.0 are one value, as the comparison sees them).
  static void SortByValue(const std::vector<double>& x, std::vector<std::int32_t>& order,
                          std::vector<double>& values) {
    struct Keyed {
      std::uint64_t key;
      std::int32_t id;
    };
    std::vector<Keyed> keyed, swapped;
    keyed.reserve(x.size());
    std::vector<std::int32_t> missing;
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (std::isnan(x[i])) {
        missing.push_back(static_cast<std::int32_t>(i));
      } else {
        keyed.push_back({OrderedBits(x[i] == 0.0 ? 0.0 : x[i]), static_cast<std::int32_t>(i)});
      }
    }
    swapped.resize(keyed.size());
    constexpr int kDigitBits = 11;
    constexpr std::size_t kBuckets = std::size_t{1} << kDigitBits;
    std::vector<std::size_t> start(kBuckets);
    for (int shift = 0; shift < 64; shift += kDigitBits) {
      std::fill(start.begin(), start.end(), 0);
      for (const Keyed& k : keyed) ++start[(k.key >> shift) & (kBuckets - 1)];
      if (std::count(start.begin(), start.end(), keyed.size()) == 1) continue;  // one digit: order kept
      std::size_t sum = 0;
      for (std::size_t& b : start) sum += std::exchange(b, sum);
      for (const Keyed& k : keyed) swapped[start[(k.key >> shift) & (kBuckets - 1)]++] = k;
      keyed.swap(swapped);
    }
    values.resize(x.size());
    for (std::size_t p = 0; p < keyed.size(); ++p) {
      order[p] = keyed[p].id;
      values[p] = x[static_cast<std::size_t>(keyed[p].id)];
    }
    for (std::size_t m = 0; m < missing.size(); ++m) {
      order[keyed.size() + m] = missing[m];
      values[keyed.size() + m] = std::nan("");
    }
  }

  // A double's bits as an unsigned integer in the same order as the numbers (NaN excluded).
  static std::uint64_t OrderedBits(double value) {
    const auto bits = std::bit_cast<std::uint64_t>(value);
    return (bits >> 63) != 0 ? ~bits : bits | (std::uint64_t{1} << 63);
  }

  void AddSample(Stats* stats, std::int64_t i) const {
    AddSample(stats, samples_[static_cast<std::size_t>(i)]);
  }
  void AddSample(Stats* stats, const Sample& sample) const {
    const auto [w, y] = sample;
    if (data_.n_classes > 0) {
      stats->s[static_cast<std::size_t>(y)] += w;
    } else {
      stats->s[0] += w * y;
      stats->s[1] += w * y * y;
    }
    stats->w += w;
    stats->n += 1;
  }

  double ImpurityOf(const Stats& stats) const {
    return Impurity(params_.criterion, stats.s.data(), n_stats_, stats.w);
  }

  // Comparable within one node: larger is better (sklearn's proxy_impurity_improvement, up to a constant).
  double Proxy(const Stats& left, const Stats& right) const {
    switch (params_.criterion) {
      case Criterion::kGini: {
        double sum_left = 0.0, sum_right = 0.0;
        for (std::int32_t k = 0; k < n_stats_; ++k) {
          sum_left += left.s[static_cast<std::size_t>(k)] * left.s[static_cast<std::size_t>(k)];
          sum_right += right.s[static_cast<std::size_t>(k)] * right.s[static_cast<std::size_t>(k)];
        }
        return sum_left / left.w + sum_right / right.w;
      }
      case Criterion::kEntropy:
        return -(left.w * Entropy(left.s.data(), n_stats_, left.w) +
                 right.w * Entropy(right.s.data(), n_stats_, right.w));
      case Criterion::kSquaredError:
        return left.s[0] * left.s[0] / left.w + right.s[0] * right.s[0] / right.w;
    }
    return kMinusInfinity;
  }

  Node MakeNode(std::int64_t begin, std::int64_t end, std::int64_t depth, std::int64_t parent) const {
    Stats stats(n_stats_);
    const auto& samples = order_[0];
    for (std::int64_t p = begin; p < end; ++p) AddSample(&stats, samples[static_cast<std::size_t>(p)]);
    Node node;
    node.depth = depth;
    node.parent = parent;
    node.samples = stats.n;
    node.weighted_samples = stats.w;
    node.impurity = ImpurityOf(stats);
    if (data_.n_classes > 0) {
      node.value = stats.s;
    } else {
      node.value = {stats.s[0] / stats.w};
    }
    return node;
  }

  bool MaySplit(const Node& node) const {
    if (params_.max_depth >= 0 && node.depth >= params_.max_depth) return false;
    if (node.samples < min_samples_split_ || node.samples < 2 * params_.min_samples_leaf) return false;
    return node.impurity > kEpsilon;
  }

  // Records (left, right) as the feature's best when it beats the best so far. The caller fills the
  // split's description through `describe` only on improvement.
  template <typename Describe>
  void Consider(const Stats& left, const Stats& total, Stats* right, Candidate* best,
                Describe&& describe) const {
    if (left.n < params_.min_samples_leaf || total.n - left.n < params_.min_samples_leaf) return;
    right->Difference(total, left);
    if (!(left.w > 0.0) || !(right->w > 0.0)) return;
    const double proxy = Proxy(left, *right);
    if (proxy > best->proxy) {
      best->valid = true;
      best->proxy = proxy;
      describe(best);
    }
  }

  Candidate SearchNumeric(std::int64_t node_id, std::int32_t f) const {
    Candidate best;
    best.feature = f;
    const Range range = ranges_[static_cast<std::size_t>(node_id)];
    const std::int32_t* ids = order_[static_cast<std::size_t>(f)].data() + range.begin;
    const double* x = sorted_x_[static_cast<std::size_t>(f)].data() + range.begin;  // x[p]: ids[p]'s value
    const std::int64_t n = range.end - range.begin;
    std::int64_t present = n;
    while (present > 0 && std::isnan(x[present - 1])) --present;
    // The node's samples in this feature's order, gathered once: the passes below then read them in order.
    thread_local std::vector<Sample> in_order;
    in_order.resize(static_cast<std::size_t>(n));
    for (std::int64_t p = 0; p < n; ++p)
      in_order[static_cast<std::size_t>(p)] = samples_[static_cast<std::size_t>(ids[p])];
    const Sample* sample = in_order.data();
    Stats total(n_stats_), missing(n_stats_), left(n_stats_), right(n_stats_), with_missing(n_stats_);
    for (std::int64_t p = 0; p < n; ++p) AddSample(&total, sample[p]);
    for (std::int64_t p = present; p < n; ++p) AddSample(&missing, sample[p]);
    const bool has_missing = present < n;
    best.saw_missing = has_missing;
    if (!has_missing && params_.criterion == Criterion::kGini && data_.n_classes == 2) {
      ScanTwoClassGini(sample, x, n, total, &best);
      return best;
    }
    for (std::int64_t p = 0; p < present; ++p) {
      AddSample(&left, sample[p]);
      if (p + 1 < present && x[p + 1] <= x[p] + kFeatureThreshold) continue;
      if (p + 1 == present) {
        if (has_missing) {
          Consider(left, total, &right, &best, [](Candidate* c) {
            c->kind = SplitKind::kMissing;
            c->threshold = std::numeric_limits<double>::infinity();
            c->missing_left = false;
          });
        }
        break;
      }
      const double low = x[p], high = x[p + 1];
      double threshold = low / 2.0 + high / 2.0;
      if (threshold == high || std::isinf(threshold)) threshold = low;
      Consider(left, total, &right, &best, [threshold](Candidate* c) {
        c->kind = SplitKind::kNumeric;
        c->threshold = threshold;
        c->missing_left = false;
      });
      if (has_missing) {
        with_missing = left;
        with_missing.Add(missing);
        Consider(with_missing, total, &right, &best, [threshold](Candidate* c) {
          c->kind = SplitKind::kNumeric;
          c->threshold = threshold;
          c->missing_left = true;
        });
      }
    }
    return best;
  }

  // SearchNumeric's scan for the most common surrogate (two classes, gini, no missing value in the node),
  // with the statistics in registers: the same candidates, arithmetic and order as Consider and Proxy.
  void ScanTwoClassGini(const Sample* sample, const double* x, std::int64_t n, const Stats& total,
                        Candidate* best) const {
    const double t0 = total.s[0], t1 = total.s[1], tw = total.w;
    const std::int64_t tn = total.n, min_leaf = params_.min_samples_leaf;
    double l0 = 0.0, l1 = 0.0, lw = 0.0;
    for (std::int64_t p = 0; p + 1 < n; ++p) {
      const auto [w, y] = sample[p];
      (y == 0.0 ? l0 : l1) += w;
      lw += w;
      if (x[p + 1] <= x[p] + kFeatureThreshold) continue;
      const std::int64_t ln = p + 1;
      if (ln < min_leaf || tn - ln < min_leaf) continue;
      const double r0 = t0 - l0, r1 = t1 - l1, rw = tw - lw;
      if (!(lw > 0.0) || !(rw > 0.0)) continue;
      const double proxy = (0.0 + l0 * l0 + l1 * l1) / lw + (0.0 + r0 * r0 + r1 * r1) / rw;
      if (!(proxy > best->proxy)) continue;
      const double low = x[p], high = x[p + 1];
      double threshold = low / 2.0 + high / 2.0;
      if (threshold == high || std::isinf(threshold)) threshold = low;
      best->valid = true;
      best->proxy = proxy;
      best->kind = SplitKind::kNumeric;
      best->threshold = threshold;
      best->missing_left = false;
    }
  }

  Candidate SearchCategorical(std::int64_t node_id, std::int32_t f) const {
    Candidate best;
    best.feature = f;
    const Range range = ranges_[static_cast<std::size_t>(node_id)];
    const std::int32_t* ids = order_[static_cast<std::size_t>(f)].data() + range.begin;
    const double* x = data_.columns[static_cast<std::size_t>(f)].data();
    const std::int32_t levels = data_.n_levels[static_cast<std::size_t>(f)];
    const std::int32_t missing_bucket = levels;  // missing values form one more level
    std::vector<Stats> buckets(static_cast<std::size_t>(levels + 1), Stats(n_stats_));
    Stats total(n_stats_), left(n_stats_), right(n_stats_);
    for (std::int64_t p = 0; p < range.end - range.begin; ++p) {
      const double value = x[ids[p]];
      const std::int32_t bucket = std::isnan(value) ? missing_bucket : static_cast<std::int32_t>(value);
      if (bucket < 0 || bucket > levels) {
        throw std::out_of_range("categorical feature " + std::to_string(f) + " holds the code " +
                                std::to_string(value) + ", outside its " + std::to_string(levels) +
                                " levels");
      }
      AddSample(&buckets[static_cast<std::size_t>(bucket)], ids[p]);
      AddSample(&total, ids[p]);
    }
    std::vector<std::int32_t> present;
    for (std::int32_t b = 0; b <= levels; ++b) {
      if (buckets[static_cast<std::size_t>(b)].n > 0) present.push_back(b);
    }
    best.saw_missing = buckets[static_cast<std::size_t>(missing_bucket)].n > 0;
    if (present.size() < 2) return best;
    const auto c_count = static_cast<std::int32_t>(present.size());

    // Sends the buckets in_left[0..c_count) (indexing `present`) left.
    auto describe = [&](const std::vector<std::uint8_t>& in_left) {
      return [&, in_left](Candidate* c) {
        c->kind = SplitKind::kCategorical;
        c->left_levels.assign(static_cast<std::size_t>(levels), 0);
        c->missing_left = false;
        for (std::int32_t j = 0; j < c_count; ++j) {
          if (!in_left[static_cast<std::size_t>(j)]) continue;
          const std::int32_t bucket = present[static_cast<std::size_t>(j)];
          if (bucket == missing_bucket) {
            c->missing_left = true;
          } else {
            c->left_levels[static_cast<std::size_t>(bucket)] = 1;
          }
        }
      };
    };
    // Tries every prefix of the buckets ordered by `key` (ties by level code).
    auto scan_ordering = [&](const std::function<double(const Stats&)>& key) {
      std::vector<std::int32_t> ranked(static_cast<std::size_t>(c_count));
      std::iota(ranked.begin(), ranked.end(), 0);
      std::vector<double> keys(static_cast<std::size_t>(c_count));
      for (std::int32_t j = 0; j < c_count; ++j) {
        const Stats& bucket = buckets[static_cast<std::size_t>(present[static_cast<std::size_t>(j)])];
        keys[static_cast<std::size_t>(j)] = bucket.w > 0.0 ? key(bucket) : 0.0;
      }
      std::stable_sort(ranked.begin(), ranked.end(), [&](std::int32_t a, std::int32_t b) {
        return keys[static_cast<std::size_t>(a)] < keys[static_cast<std::size_t>(b)];
      });
      left.Clear();
      std::vector<std::uint8_t> in_left(static_cast<std::size_t>(c_count), 0);
      for (std::int32_t j = 0; j + 1 < c_count; ++j) {
        const std::int32_t at = ranked[static_cast<std::size_t>(j)];
        left.Add(buckets[static_cast<std::size_t>(present[static_cast<std::size_t>(at)])]);
        in_left[static_cast<std::size_t>(at)] = 1;
        Consider(left, total, &right, &best, describe(in_left));
      }
    };

    if (data_.n_classes == 0) {
      scan_ordering([](const Stats& b) { return b.s[0] / b.w; });
    } else if (data_.n_classes == 2) {
      scan_ordering([](const Stats& b) { return b.s[1] / b.w; });
    } else if (c_count <= kMaxExhaustiveLevels) {
      // Every partition once: the last present bucket always stays right.
      const std::uint32_t subsets = 1u << (c_count - 1);
      std::vector<std::uint8_t> in_left(static_cast<std::size_t>(c_count), 0);
      for (std::uint32_t mask = 1; mask < subsets; ++mask) {
        left.Clear();
        for (std::int32_t j = 0; j < c_count; ++j) {
          in_left[static_cast<std::size_t>(j)] = (mask >> j) & 1u;
          if (in_left[static_cast<std::size_t>(j)])
            left.Add(buckets[static_cast<std::size_t>(present[static_cast<std::size_t>(j)])]);
        }
        Consider(left, total, &right, &best, describe(in_left));
      }
    } else {
      for (std::int32_t k = 0; k < data_.n_classes; ++k) {
        scan_ordering([k](const Stats& b) { return b.s[static_cast<std::size_t>(k)] / b.w; });
      }
    }
    return best;
  }

  // Best split of each node in `node_ids`: (node, feature) pairs run in parallel, then each node keeps
  // the first best in feature order.
  std::vector<Candidate> BestSplits(const std::vector<std::int64_t>& node_ids) const {
    const std::int64_t f_count = data_.n_features();
    const auto pairs = static_cast<std::int64_t>(node_ids.size()) * f_count;
    std::vector<Candidate> per_pair(static_cast<std::size_t>(pairs));
    parallel_(0, pairs, 1, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t pair = begin; pair < end; ++pair) {
        const std::int64_t node = node_ids[static_cast<std::size_t>(pair / f_count)];
        const auto f = static_cast<std::int32_t>(pair % f_count);
        per_pair[static_cast<std::size_t>(pair)] = data_.n_levels[static_cast<std::size_t>(f)] > 0
                                                       ? SearchCategorical(node, f)
                                                       : SearchNumeric(node, f);
      }
    });
    std::vector<Candidate> best(node_ids.size());
    for (std::size_t i = 0; i < node_ids.size(); ++i) {
      for (std::int64_t f = 0; f < f_count; ++f) {
        Candidate& c = per_pair[i * static_cast<std::size_t>(f_count) + static_cast<std::size_t>(f)];
        if (c.valid && c.proxy > best[i].proxy) best[i] = std::move(c);
      }
    }
    return best;
  }

  // Marks which samples of the node go left, measures the children and decides whether to split.
  PendingSplit Evaluate(std::int64_t node_id, Candidate candidate) {
    PendingSplit pending;
    if (!candidate.valid) return pending;
    const Node& node = nodes_[static_cast<std::size_t>(node_id)];
    const Range range = ranges_[static_cast<std::size_t>(node_id)];
    const double* x = data_.columns[static_cast<std::size_t>(candidate.feature)].data();
    Stats left(n_stats_), right(n_stats_);
    for (std::int64_t p = range.begin; p < range.end; ++p) {
      const std::int32_t i = order_[0][static_cast<std::size_t>(p)];
      const double value = x[i];
      bool goes_left;
      if (std::isnan(value)) {
        goes_left = candidate.missing_left;
      } else if (candidate.kind == SplitKind::kCategorical) {
        goes_left = candidate.left_levels[static_cast<std::size_t>(value)] != 0;
      } else {
        goes_left = candidate.kind == SplitKind::kMissing || value <= candidate.threshold;
      }
      goes_left_[static_cast<std::size_t>(i)] = goes_left ? 1 : 0;
      AddSample(goes_left ? &left : &right, i);
    }
    if (!candidate.saw_missing) candidate.missing_left = left.n >= right.n;
    const double w = node.weighted_samples;
    pending.improvement = (w / root_weight_) *
                          (node.impurity - right.w / w * ImpurityOf(right) - left.w / w * ImpurityOf(left));
    pending.n_left = left.n;
    pending.split =
        left.n > 0 && right.n > 0 && pending.improvement + kEpsilon >= params_.min_impurity_decrease;
    pending.candidate = std::move(candidate);
    return pending;
  }

  // Stable partition of every feature's order inside each node of `splits` (goes_left_ already set).
  // Branch-free: every sample is written to both sides and only its side's cursor advances, since which
  // side a sample takes is as good as random to the branch predictor.
  void Partition(const std::vector<std::int64_t>& node_ids) {
    const std::int64_t f_count = data_.n_features();
    parallel_(0, f_count, 1, [&](std::int64_t begin, std::int64_t end) {
      std::vector<std::int32_t> right;
      std::vector<double> right_x;
      for (std::int64_t f = begin; f < end; ++f) {
        std::int32_t* order = order_[static_cast<std::size_t>(f)].data();
        double* values = sorted_x_[static_cast<std::size_t>(f)].data();  // null for a categorical
        for (const std::int64_t id : node_ids) {
          const Range range = ranges_[static_cast<std::size_t>(id)];
          right.resize(static_cast<std::size_t>(range.end - range.begin));
          std::int64_t left_end = range.begin, right_end = 0;
          if (values != nullptr) {
            right_x.resize(right.size());
            for (std::int64_t p = range.begin; p < range.end; ++p) {
              const std::int32_t i = order[p];
              const double x = values[p];
              const std::int64_t left = goes_left_[static_cast<std::size_t>(i)];
              order[left_end] = i;
              values[left_end] = x;
              right[static_cast<std::size_t>(right_end)] = i;
              right_x[static_cast<std::size_t>(right_end)] = x;
              left_end += left;
              right_end += 1 - left;
            }
            std::copy_n(right_x.begin(), right_end, values + left_end);
          } else {
            for (std::int64_t p = range.begin; p < range.end; ++p) {
              const std::int32_t i = order[p];
              const std::int64_t left = goes_left_[static_cast<std::size_t>(i)];
              order[left_end] = i;
              right[static_cast<std::size_t>(right_end)] = i;
              left_end += left;
              right_end += 1 - left;
            }
          }
          std::copy_n(right.begin(), right_end, order + left_end);
        }
      }
    });
  }

  // Applies a split to node `id` and creates its two children (left first); returns their ids.
  std::pair<std::int64_t, std::int64_t> Split(std::int64_t id, PendingSplit& pending) {
    Node& node = nodes_[static_cast<std::size_t>(id)];
    node.feature = pending.candidate.feature;
    node.kind = pending.candidate.kind;
    node.threshold = pending.candidate.threshold;
    node.left_levels = std::move(pending.candidate.left_levels);
    node.missing_left = pending.candidate.missing_left;
    node.saw_missing = pending.candidate.saw_missing;
    node.improvement = pending.improvement;
    const Range range = ranges_[static_cast<std::size_t>(id)];
    const std::int64_t middle = range.begin + pending.n_left;
    const std::int64_t depth = node.depth + 1;
    const auto left_id = static_cast<std::int64_t>(nodes_.size());
    nodes_.push_back(MakeNode(range.begin, middle, depth, id));
    ranges_.push_back({range.begin, middle});
    const auto right_id = static_cast<std::int64_t>(nodes_.size());
    nodes_.push_back(MakeNode(middle, range.end, depth, id));
    ranges_.push_back({middle, range.end});
    nodes_[static_cast<std::size_t>(id)].left = left_id;
    nodes_[static_cast<std::size_t>(id)].right = right_id;
    return {left_id, right_id};
  }

  // Split decisions of the nodes in `ids` (leaves where no split is allowed or worth it).
  std::vector<PendingSplit> Decide(const std::vector<std::int64_t>& ids) {
    std::vector<std::int64_t> searchable;
    for (const std::int64_t id : ids) {
      if (MaySplit(nodes_[static_cast<std::size_t>(id)])) searchable.push_back(id);
    }
    std::vector<Candidate> candidates = BestSplits(searchable);
    std::vector<PendingSplit> decisions(ids.size());
    for (std::size_t i = 0, s = 0; i < ids.size(); ++i) {
      if (s < searchable.size() && searchable[s] == ids[i])
        decisions[i] = Evaluate(ids[i], std::move(candidates[s++]));
    }
    return decisions;
  }

  // Level by level (the same tree as sklearn's depth-first builder: a node's split depends only on its
  // own samples); renumbered in preorder afterwards.
  void GrowDepthFirst() {
    std::vector<std::int64_t> frontier = {0};
    while (!frontier.empty()) {
      std::vector<PendingSplit> decisions = Decide(frontier);
      std::vector<std::int64_t> splitting;
      for (std::size_t i = 0; i < frontier.size(); ++i) {
        if (decisions[i].split) splitting.push_back(frontier[i]);
      }
      Partition(splitting);
      std::vector<std::int64_t> next;
      for (std::size_t i = 0; i < frontier.size(); ++i) {
        if (!decisions[i].split) continue;
        const auto [left, right] = Split(frontier[i], decisions[i]);
        next.push_back(left);
        next.push_back(right);
      }
      frontier = std::move(next);
    }
  }

  // sklearn's BestFirstTreeBuilder: expand the frontier node of largest improvement (lowest id on a tie)
  // until max_leaf_nodes leaves exist.
  void GrowBestFirst() {
    std::vector<PendingSplit> pending(1);
    pending[0] = Decide({0})[0];
    auto worse = [&](std::int64_t a, std::int64_t b) {
      const double ia = pending[static_cast<std::size_t>(a)].improvement;
      const double ib = pending[static_cast<std::size_t>(b)].improvement;
      return ia < ib || (ia == ib && a > b);
    };
    std::priority_queue<std::int64_t, std::vector<std::int64_t>, decltype(worse)> frontier(worse);
    frontier.push(0);
    std::int64_t splits_left = params_.max_leaf_nodes - 1;
    while (!frontier.empty()) {
      const std::int64_t id = frontier.top();
      frontier.pop();
      if (!pending[static_cast<std::size_t>(id)].split || splits_left <= 0) continue;
      --splits_left;
      // Evaluate() of other nodes only touched their own samples' flags, so id's flags are still valid.
      Partition({id});
      const auto [left, right] = Split(id, pending[static_cast<std::size_t>(id)]);
      std::vector<PendingSplit> children = Decide({left, right});
      pending.resize(nodes_.size());
      pending[static_cast<std::size_t>(left)] = std::move(children[0]);
      pending[static_cast<std::size_t>(right)] = std::move(children[1]);
      frontier.push(left);
      frontier.push(right);
    }
  }

 public:
  // A copy of `tree` keeping the nodes reachable from the root, numbered in preorder; nodes with
  // `collapse[id]` set become leaves.
  static Tree Preorder(const Tree& tree, const std::vector<std::uint8_t>& collapse) {
    Tree out;
    out.n_classes = tree.n_classes;
    std::vector<std::pair<std::int64_t, std::int64_t>> stack = {{0, -1}};  // (old id, new parent)
    while (!stack.empty()) {
      const auto [old_id, parent] = stack.back();
      stack.pop_back();
      const auto new_id = static_cast<std::int64_t>(out.nodes.size());
      Node node = tree.nodes[static_cast<std::size_t>(old_id)];
      node.parent = parent;
      if (parent >= 0) {
        Node& p = out.nodes[static_cast<std::size_t>(parent)];
        (p.left < 0 ? p.left : p.right) = new_id;
      }
      const bool leaf = node.IsLeaf() || collapse[static_cast<std::size_t>(old_id)];
      const std::int64_t old_left = node.left, old_right = node.right;
      node.left = node.right = -1;
      if (leaf) {
        node.feature = -1;
        node.kind = SplitKind::kNumeric;
        node.threshold = std::numeric_limits<double>::quiet_NaN();
        node.left_levels.clear();
        node.missing_left = node.saw_missing = false;
        node.improvement = 0.0;
      }
      out.nodes.push_back(std::move(node));
      if (!leaf) {
        stack.push_back({old_right, new_id});
        stack.push_back({old_left, new_id});
      }
    }
    return out;
  }

 private:
  const TrainingSet& data_;
  const CartParams& params_;
  const ParallelRunner& parallel_;
  const std::int32_t n_stats_;
  std::int64_t min_samples_split_ = 2;
  double root_weight_ = 0.0;
  std::vector<std::vector<std::int32_t>> order_;
  std::vector<std::vector<double>> sorted_x_;  // numeric features: the values in order_[f]'s order
  std::vector<Sample> samples_;                // the weight and target of each sample id, side by side
  std::vector<std::uint8_t> goes_left_;
  std::vector<Node> nodes_;
  std::vector<Range> ranges_;
};

}  // namespace

double Impurity(Criterion criterion, const double* stats, std::int32_t n_stats, double weight) {
  switch (criterion) {
    case Criterion::kGini: {
      double squares = 0.0;
      for (std::int32_t k = 0; k < n_stats; ++k) squares += stats[k] * stats[k];
      return 1.0 - squares / (weight * weight);
    }
    case Criterion::kEntropy:
      return Entropy(stats, n_stats, weight);
    case Criterion::kSquaredError: {
      const double mean = stats[0] / weight;
      return stats[1] / weight - mean * mean;
    }
  }
  return 0.0;
}

void SerialRunner(std::int64_t begin, std::int64_t end, std::int64_t grain,
                  const std::function<void(std::int64_t, std::int64_t)>& body) {
  if (grain <= 0) grain = std::max<std::int64_t>(1, end - begin);
  for (std::int64_t b = begin; b < end; b += grain) body(b, std::min(end, b + grain));
}

Tree FitCart(const TrainingSet& data, const CartParams& params, const ParallelRunner& parallel) {
  if (data.n <= 0) throw std::invalid_argument("CART needs at least one training sample");
  if (data.n > std::numeric_limits<std::int32_t>::max()) {
    throw std::invalid_argument("CART supports at most 2^31 - 1 training samples");
  }
  Builder builder(data, params, parallel);
  return builder.Grow();
}

Tree PruneCostComplexity(const Tree& tree, double ccp_alpha) {
  const std::size_t n = tree.nodes.size();
  const double total = tree.nodes[0].weighted_samples;
  std::vector<double> r_node(n), r_branch(n, 0.0);
  std::vector<std::int64_t> n_leaves(n, 0);
  std::vector<std::uint8_t> in_subtree(n, 1), leaf_now(n, 0), candidate(n, 0);
  for (std::size_t i = 0; i < n; ++i) {
    const Node& node = tree.nodes[i];
    r_node[i] = node.weighted_samples * node.impurity / total;
    leaf_now[i] = node.IsLeaf() ? 1 : 0;
    candidate[i] = node.IsLeaf() ? 0 : 1;
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (!leaf_now[i]) continue;
    for (std::int64_t up = static_cast<std::int64_t>(i); up >= 0;
         up = tree.nodes[static_cast<std::size_t>(up)].parent) {
      n_leaves[static_cast<std::size_t>(up)] += 1;
      r_branch[static_cast<std::size_t>(up)] += r_node[i];
    }
  }
  while (candidate[0]) {
    double alpha = std::numeric_limits<double>::max();
    std::size_t chosen = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (!candidate[i]) continue;
      const double subtree_alpha = (r_node[i] - r_branch[i]) / static_cast<double>(n_leaves[i] - 1);
      if (subtree_alpha < alpha) {
        alpha = subtree_alpha;
        chosen = i;
      }
    }
    if (ccp_alpha < alpha) break;
    std::vector<std::size_t> stack = {chosen};
    while (!stack.empty()) {
      const std::size_t id = stack.back();
      stack.pop_back();
      if (!in_subtree[id]) continue;
      candidate[id] = 0;
      leaf_now[id] = 0;
      in_subtree[id] = 0;
      const Node& node = tree.nodes[id];
      if (!node.IsLeaf()) {
        stack.push_back(static_cast<std::size_t>(node.left));
        stack.push_back(static_cast<std::size_t>(node.right));
      }
    }
    leaf_now[chosen] = 1;
    in_subtree[chosen] = 1;
    const std::int64_t pruned_leaves = n_leaves[chosen] - 1;
    n_leaves[chosen] = 0;
    const double r_diff = r_node[chosen] - r_branch[chosen];
    r_branch[chosen] = r_node[chosen];
    for (std::int64_t up = tree.nodes[chosen].parent; up >= 0;
         up = tree.nodes[static_cast<std::size_t>(up)].parent) {
      n_leaves[static_cast<std::size_t>(up)] -= pruned_leaves;
      r_branch[static_cast<std::size_t>(up)] += r_diff;
    }
  }
  std::vector<std::uint8_t> collapse(n, 0);
  for (std::size_t i = 0; i < n; ++i) collapse[i] = leaf_now[i] && !tree.nodes[i].IsLeaf() ? 1 : 0;
  return Builder::Preorder(tree, collapse);
}

bool Tree::GoesLeft(std::int64_t id, double x) const {
  const Node& node = nodes[static_cast<std::size_t>(id)];
  if (std::isnan(x)) return node.missing_left;
  switch (node.kind) {
    case SplitKind::kCategorical: {
      const double code = std::trunc(x);
      return code >= 0 && code < static_cast<double>(node.left_levels.size()) &&
             node.left_levels[static_cast<std::size_t>(code)] != 0;
    }
    case SplitKind::kMissing:
      return true;
    case SplitKind::kNumeric:
      break;
  }
  return x <= node.threshold;
}

std::int64_t Tree::Apply(const double* row) const {
  std::int64_t id = 0;
  while (!nodes[static_cast<std::size_t>(id)].IsLeaf()) {
    const Node& node = nodes[static_cast<std::size_t>(id)];
    id = GoesLeft(id, row[node.feature]) ? node.left : node.right;
  }
  return id;
}

std::vector<std::int64_t> Tree::Path(const double* row) const {
  std::vector<std::int64_t> path = {0};
  while (!nodes[static_cast<std::size_t>(path.back())].IsLeaf()) {
    const Node& node = nodes[static_cast<std::size_t>(path.back())];
    path.push_back(GoesLeft(path.back(), row[node.feature]) ? node.left : node.right);
  }
  return path;
}

double Tree::Prediction(std::int64_t id) const {
  const Node& node = nodes[static_cast<std::size_t>(id)];
  if (n_classes == 0) return node.value[0];
  return static_cast<double>(std::max_element(node.value.begin(), node.value.end()) - node.value.begin());
}

std::vector<double> Tree::FeatureImportances(std::int64_t n_features) const {
  std::vector<double> importances(static_cast<std::size_t>(n_features), 0.0);
  for (const Node& node : nodes) {
    if (node.IsLeaf()) continue;
    const Node& left = nodes[static_cast<std::size_t>(node.left)];
    const Node& right = nodes[static_cast<std::size_t>(node.right)];
    importances[static_cast<std::size_t>(node.feature)] += node.weighted_samples * node.impurity -
                                                           left.weighted_samples * left.impurity -
                                                           right.weighted_samples * right.impurity;
  }
  double sum = 0.0;
  for (double& importance : importances) {
    importance /= nodes[0].weighted_samples;
    sum += importance;
  }
  if (sum > 0.0) {
    for (double& importance : importances) importance /= sum;
  }
  return importances;
}

std::int64_t Tree::LeafCount() const {
  return std::count_if(nodes.begin(), nodes.end(), [](const Node& node) { return node.IsLeaf(); });
}

std::int64_t Tree::Depth() const {
  std::int64_t depth = 0;
  for (const Node& node : nodes) depth = std::max(depth, node.depth);
  return depth;
}

}  // namespace loupe::surrogate
