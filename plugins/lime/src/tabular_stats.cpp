#include "tabular_stats.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "loupe/sdk/attribution.hpp"
#include "loupe/sdk/error.hpp"

namespace loupe::lime {

std::int64_t FeatureStats::Bin(double value) const {
  return static_cast<std::int64_t>(std::lower_bound(edges.begin(), edges.end(), value) - edges.begin());
}

double Percentile(const std::vector<double>& sorted, double q) {
  const double position = q / 100.0 * static_cast<double>(sorted.size() - 1);
  const auto below = static_cast<std::size_t>(std::floor(position));
  const std::size_t above = std::min(below + 1, sorted.size() - 1);
  const double t = position - static_cast<double>(below);
  const double a = sorted[below], b = sorted[above];
  // numpy's _lerp: exact at both ends.
  return t >= 0.5 ? b - (b - a) * (1.0 - t) : a + (b - a) * t;
}

std::string Fixed2(double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.2f", value);
  return buffer;
}

namespace {

void SetFrequencies(const std::map<double, std::uint64_t>& counts, FeatureStats* stats) {
  std::uint64_t total = 0;
  for (const auto& [value, count] : counts) {
    total += count;
    stats->values.push_back(value);
    stats->cumulative.push_back(total);
  }
}

// Entropy (bits) of class counts, times the node size: what scikit-learn's criterion weighs children by.
double WeightedEntropy(const std::vector<double>& counts, double total) {
  if (total <= 0) return 0.0;
  double entropy = 0.0;
  for (const double count : counts) {
    if (count > 0) {
      const double p = count / total;
      entropy -= p * std::log2(p);
    }
  }
  return entropy;
}

// One node of the depth-first entropy tree over sorted (float32 value, class) pairs [begin, end).
void SplitNode(const std::vector<std::pair<float, std::size_t>>& items, std::size_t begin, std::size_t end,
               int depth, std::size_t classes, std::vector<double>* thresholds) {
  constexpr int kMaxDepth = 3;
  constexpr double kFeatureThreshold = 1e-7;
  constexpr double kEpsilon = 2.220446049250313e-16;
  const std::size_t n = end - begin;
  if (depth >= kMaxDepth || n < 2) return;
  std::vector<double> total(classes, 0.0);
  for (std::size_t i = begin; i < end; ++i) total[items[i].second] += 1.0;
  if (WeightedEntropy(total, static_cast<double>(n)) <= kEpsilon) return;  // pure
  if (static_cast<double>(items[end - 1].first) <=
      static_cast<double>(items[begin].first) + kFeatureThreshold)
    return;
  std::vector<double> left(classes, 0.0);
  double best = -INFINITY;
  std::size_t best_pos = end;
  double best_threshold = 0;
  std::size_t p = begin;
  std::size_t counted = begin;  // items [begin, counted) are in `left`
  while (p < end) {
    while (p + 1 < end &&
           static_cast<double>(items[p + 1].first) <= static_cast<double>(items[p].first) + kFeatureThreshold)
      ++p;
    ++p;
    if (p >= end) break;
    for (; counted < p; ++counted) left[items[counted].second] += 1.0;
    std::vector<double> right(classes);
    for (std::size_t c = 0; c < classes; ++c) right[c] = total[c] - left[c];
    const double n_left = static_cast<double>(p - begin), n_right = static_cast<double>(end - p);
    const double proxy = -n_right * WeightedEntropy(right, n_right) - n_left * WeightedEntropy(left, n_left);
    if (proxy > best) {
      best = proxy;
      best_pos = p;
      const double a = static_cast<double>(items[p - 1].first), b = static_cast<double>(items[p].first);
      best_threshold = a / 2.0 + b / 2.0;
      if (best_threshold == b || std::isinf(best_threshold)) best_threshold = a;
    }
  }
  if (best_pos >= end) return;
  thresholds->push_back(best_threshold);
  SplitNode(items, begin, best_pos, depth + 1, classes, thresholds);
  SplitNode(items, best_pos, end, depth + 1, classes, thresholds);
}

void Discretize(const std::string& name, std::vector<double> column, std::vector<double> edges,
                FeatureStats* stats) {
  std::sort(column.begin(), column.end());
  std::sort(edges.begin(), edges.end());
  stats->edges = std::move(edges);
  stats->edges.erase(std::unique(stats->edges.begin(), stats->edges.end()), stats->edges.end());
  const std::size_t bins = stats->edges.size() + 1;
  const auto& e = stats->edges;
  stats->bin_names.push_back(name + " <= " + Fixed2(e[0]));
  for (std::size_t i = 0; i + 1 < e.size(); ++i) {
    stats->bin_names.push_back(Fixed2(e[i]) + " < " + name + " <= " + Fixed2(e[i + 1]));
  }
  stats->bin_names.push_back(name + " > " + Fixed2(e.back()));
  std::vector<double> sum(bins, 0.0), sum_sq(bins, 0.0);
  std::vector<std::uint64_t> count(bins, 0);
  std::map<double, std::uint64_t> counts;
  for (const double value : column) {
    const auto bin = static_cast<std::size_t>(stats->Bin(value));
    sum[bin] += value;
    ++count[bin];
    ++counts[static_cast<double>(bin)];
  }
  for (std::size_t b = 0; b < bins; ++b) {
    const double mean = count[b] == 0 ? 0.0 : sum[b] / static_cast<double>(count[b]);
    stats->bin_mean.push_back(mean);
    sum_sq[b] = 0.0;
  }
  for (const double value : column) {
    const auto bin = static_cast<std::size_t>(stats->Bin(value));
    sum_sq[bin] += (value - stats->bin_mean[bin]) * (value - stats->bin_mean[bin]);
  }
  for (std::size_t b = 0; b < bins; ++b) {
    const double std = count[b] == 0 ? 0.0 : std::sqrt(sum_sq[b] / static_cast<double>(count[b]));
    stats->bin_std.push_back(std + 1e-11);
    stats->bin_min.push_back(b == 0 ? column.front() : e[b - 1]);
    stats->bin_max.push_back(b + 1 == bins ? column.back() : e[b]);
  }
  SetFrequencies(counts, stats);
  for (const double value : stats->values) {
    const auto b = static_cast<std::size_t>(value);
    stats->draws.push_back(
        {stats->bin_mean[b], stats->bin_std[b], stats->bin_min[b], stats->bin_max[b], value});
  }
}

// The neighbourhood's random words: xoshiro256++ (Blackman & Vigna 2019), seeded with four words of the
// row's Philox stream. Philox (ten rounds per two words) was most of the sampling's time; xoshiro costs a
// few instructions per word and passes the same statistical batteries. The values still depend only on
// (step seed, row), never on threads.
class SampleWords {
 public:
  explicit SampleWords(loupe::sdk::Rng& seed)
      : s0_(seed.NextU64()), s1_(seed.NextU64()), s2_(seed.NextU64()), s3_(seed.NextU64()) {
    if ((s0_ | s1_ | s2_ | s3_) == 0) s0_ = 1;  // the one invalid state
  }
  // Four scalars rather than an array, which the compiler keeps in registers through the sampling loops.
  std::uint64_t NextU64() {
    const std::uint64_t result = Rotate(s0_ + s3_, 23) + s0_;
    const std::uint64_t t = s1_ << 17;
    s2_ ^= s0_;
    s3_ ^= s1_;
    s1_ ^= s2_;
    s0_ ^= s3_;
    s2_ ^= t;
    s3_ = Rotate(s3_, 45);
    return result;
  }
  // Uniform on [0, 1) with 53 random bits, as Rng::Uniform.
  double Uniform() { return static_cast<double>(NextU64() >> 11) * 0x1.0p-53; }
  // Uniform integer on [0, bound), Lemire's method with rejection: the values of Rng::Below, but the
  // division that gives the rejection threshold (< bound) only when the low half is below `bound`, which
  // almost never happens for the few levels or bins drawn here.
  std::uint64_t Below(std::uint64_t bound) {
    if (bound <= 1) return 0;
    __extension__ typedef unsigned __int128 Wide;  // GCC/Clang; __extension__ keeps -pedantic quiet
    Wide m = static_cast<Wide>(NextU64()) * bound;
    if (static_cast<std::uint64_t>(m) < bound) {
      const std::uint64_t threshold = (0 - bound) % bound;
      while (static_cast<std::uint64_t>(m) < threshold) m = static_cast<Wide>(NextU64()) * bound;
    }
    return static_cast<std::uint64_t>(m >> 64);
  }

 private:
  static std::uint64_t Rotate(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s0_, s1_, s2_, s3_;
};

// The 256 layers of Marsaglia & Tsang's ziggurat for the standard normal's right half (Doornik's ZIGNOR
// layout, "An improved ziggurat method to generate normal random samples", 2005): edges[0] is the base
// strip's width (its area v includes the tail beyond r), edges[1] = r, edges[i + 1] the next layer up,
// edges[256] = 0; inside[i] = edges[i + 1] / edges[i], below which a point of layer i lies under the curve.
struct ZigguratTables {
  static constexpr double kR = 3.6541528853610088;  // start of the tail
  static constexpr double kV = 0.00492867323399;    // area of every layer
  double edges[257];
  double inside[256];

  ZigguratTables() {
    const auto density = [](double x) { return std::exp(-0.5 * x * x); };
    edges[0] = kV / density(kR);
    edges[1] = kR;
    for (int i = 1; i < 255; ++i)
      edges[i + 1] = std::sqrt(-2.0 * std::log(kV / edges[i] + density(edges[i])));
    edges[256] = 0.0;
    for (int i = 0; i < 256; ++i) inside[i] = edges[i + 1] / edges[i];
  }
};

// The normal's tail beyond kR (Marsaglia 1964), on the side of `negative`.
template <typename Words>
inline double NormalTail(Words& words, bool negative) {
  double x = 0.0, y = 0.0;
  do {
    x = std::log(1.0 - words.Uniform()) / ZigguratTables::kR;  // (0, 1] keeps the logarithms finite
    y = std::log(1.0 - words.Uniform());
  } while (-2.0 * y < x * x);
  return negative ? x - ZigguratTables::kR : ZigguratTables::kR - x;
}

const ZigguratTables kZiggurat;

// The rest of ZigguratNormal once the first word's point fell outside its layer's rectangle core (~1.2%).
// Inlined like the rest: a call taking `words` by reference would make the compiler keep the generator's
// state in memory instead of registers on the common path.
template <typename Words>
inline double ZigguratRejected(Words& words, std::uint64_t word) {
  for (;;) {
    const auto layer = static_cast<std::size_t>(word & 0xFF);
    const double u = 2.0 * (static_cast<double>(word >> 11) * 0x1.0p-53) - 1.0;
    if (std::fabs(u) < kZiggurat.inside[layer]) return u * kZiggurat.edges[layer];
    if (layer == 0) return NormalTail(words, u < 0.0);
    const double x = u * kZiggurat.edges[layer];
    const double top = std::exp(-0.5 * (kZiggurat.edges[layer] * kZiggurat.edges[layer] - x * x));
    const double bottom = std::exp(-0.5 * (kZiggurat.edges[layer + 1] * kZiggurat.edges[layer + 1] - x * x));
    if (bottom + words.Uniform() * (top - bottom) < 1.0) return x;
    word = words.NextU64();
  }
}

// StandardNormal over any source of 64-bit words with Uniform(). One 64-bit word gives the layer (its low
// 8 bits) and a uniform on (-1, 1) (its high 53 bits); the common case is inlined into the samplers.
template <typename Words>
inline double ZigguratNormal(Words& words) {
  const std::uint64_t word = words.NextU64();
  const auto layer = static_cast<std::size_t>(word & 0xFF);
  const double u = 2.0 * (static_cast<double>(word >> 11) * 0x1.0p-53) - 1.0;
  if (std::fabs(u) < kZiggurat.inside[layer]) [[likely]]
    return u * kZiggurat.edges[layer];  // ~98.8% of the draws
  return ZigguratRejected(words, word);
}

}  // namespace

double StandardNormal(loupe::sdk::Rng& rng) { return ZigguratNormal(rng); }

namespace {

// A normal(mean, std) value truncated to [low, high]. The bin's mean lies inside its edges and its std is
// at most half their distance, so each proposal is accepted with probability above 0.47; after 1000
// rejections (never in practice) the value is drawn uniformly within the edges.
inline double TruncatedNormal(double mean, double std, double low, double high, SampleWords& words) {
  if (!(high > low)) return low;
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const double value = mean + std * ZigguratNormal(words);
    if (value >= low && value <= high) return value;
  }
  return low + (high - low) * words.Uniform();
}

inline double DrawCategory(const FeatureStats& stats, SampleWords& words) {
  const std::uint64_t pick = words.Below(stats.cumulative.back());
  const std::size_t size = stats.cumulative.size();
  if (size <= 16) {  // bins and most categoricals: count without branches (a random pick mispredicts them)
    std::size_t index = 0;
    for (std::size_t c = 0; c < size; ++c) index += stats.cumulative[c] <= pick ? 1 : 0;
    return stats.values[index];
  }
  const auto it = std::upper_bound(stats.cumulative.begin(), stats.cumulative.end(), pick);
  return stats.values[static_cast<std::size_t>(it - stats.cumulative.begin())];
}

std::vector<double> QuantileEdges(std::vector<double> column, Discretizer discretizer) {
  std::sort(column.begin(), column.end());
  std::vector<double> quantiles;
  if (discretizer == Discretizer::kQuartile) {
    quantiles = {25, 50, 75};
  } else {
    for (int q = 10; q < 100; q += 10) quantiles.push_back(q);
  }
  std::vector<double> edges;
  for (const double q : quantiles) edges.push_back(Percentile(column, q));
  return edges;
}

}  // namespace

std::vector<double> EntropyEdges(std::vector<std::pair<double, double>> value_label) {
  std::map<double, std::size_t> classes;
  for (const auto& item : value_label) classes.emplace(item.second, 0);
  std::size_t next = 0;
  for (auto& entry : classes) entry.second = next++;
  std::vector<std::pair<float, std::size_t>> items;
  for (const auto& [value, label] : value_label)
    items.emplace_back(static_cast<float>(value), classes[label]);
  std::stable_sort(items.begin(), items.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<double> thresholds;
  SplitNode(items, 0, items.size(), 0, classes.size(), &thresholds);
  if (thresholds.empty()) {
    std::vector<double> values;
    for (const auto& item : value_label) values.push_back(item.first);
    std::sort(values.begin(), values.end());
    thresholds.push_back(Percentile(values, 50));
  }
  std::sort(thresholds.begin(), thresholds.end());
  return thresholds;
}

TrainingStats ComputeStats(const loupe::sdk::Matrix& x, const std::vector<std::int64_t>& rows,
                           const loupe::sdk::DatasetInfo& data, bool discretize, Discretizer discretizer,
                           const std::vector<double>* labels) {
  TrainingStats stats;
  const std::int64_t m = x.cols();
  for (std::int64_t j = 0; j < m; ++j) {
    const loupe::sdk::FeatureInfo& info = data.features[static_cast<std::size_t>(j)];
    FeatureStats feature;
    std::vector<double> column;
    for (const std::int64_t row : rows) {
      const double value = x(row, j);
      if (!std::isnan(value)) column.push_back(value);
    }
    if (column.empty()) {
      throw loupe::sdk::InvalidArgument("lime.tabular needs training values of feature '" + info.name +
                                        "', but it is missing in all " + std::to_string(rows.size()) +
                                        " training rows selected by parameter 'background'");
    }
    if (info.IsCategorical()) {
      feature.kind = FeatureStats::Kind::kCategorical;
      std::map<double, std::uint64_t> counts;
      for (const double value : column) ++counts[value];
      SetFrequencies(counts, &feature);
    } else if (discretize) {
      feature.kind = FeatureStats::Kind::kDiscretized;
      std::vector<double> edges;
      if (discretizer == Discretizer::kEntropy) {
        if (labels == nullptr) throw loupe::sdk::Internal("the entropy discretizer was given no labels");
        std::vector<std::pair<double, double>> value_label;
        for (const std::int64_t row : rows) {
          const double value = x(row, j), label = (*labels)[static_cast<std::size_t>(row)];
          if (!std::isnan(value) && !std::isnan(label)) value_label.emplace_back(value, label);
        }
        if (value_label.empty()) {
          throw loupe::sdk::InvalidArgument("discretizer \"entropy\" needs training rows where feature '" +
                                            info.name + "' and the target are both present, found none");
        }
        edges = EntropyEdges(std::move(value_label));
      } else {
        edges = QuantileEdges(column, discretizer);
      }
      Discretize(info.name, column, std::move(edges), &feature);
    } else {
      feature.kind = FeatureStats::Kind::kContinuous;
      double sum = 0;
      for (const double value : column) sum += value;
      feature.mean = sum / static_cast<double>(column.size());
      double sum_sq = 0;
      for (const double value : column) sum_sq += (value - feature.mean) * (value - feature.mean);
      feature.scale = std::sqrt(sum_sq / static_cast<double>(column.size()));
      if (feature.scale == 0.0) feature.scale = 1.0;
    }
    stats.features.push_back(std::move(feature));
  }
  return stats;
}

std::string Condition(const TrainingStats& stats, const loupe::sdk::DatasetInfo& data, std::int64_t j,
                      const double* x) {
  const FeatureStats& feature = stats.features[static_cast<std::size_t>(j)];
  const loupe::sdk::FeatureInfo& info = data.features[static_cast<std::size_t>(j)];
  switch (feature.kind) {
    case FeatureStats::Kind::kDiscretized:
      return feature.bin_names[static_cast<std::size_t>(feature.Bin(x[j]))];
    case FeatureStats::Kind::kCategorical:
      return info.name + "=" + loupe::sdk::FormatValue(info, x[j]);
    case FeatureStats::Kind::kContinuous:
      break;
  }
  return info.name;
}

void SampleNeighbourhood(const TrainingStats& stats, const double* x, std::int64_t n,
                         bool sample_around_instance, loupe::sdk::Rng& rng, double* local, double* inverse) {
  const auto m = static_cast<std::int64_t>(stats.features.size());
  SampleWords words(rng);
  for (std::int64_t j = 0; j < m; ++j) {
    const FeatureStats& feature = stats.features[static_cast<std::size_t>(j)];
    local[j] = feature.kind == FeatureStats::Kind::kContinuous ? (x[j] - feature.mean) / feature.scale : 1.0;
    inverse[j] = x[j];
  }
  // Rows are drawn in blocks of kSampleBlock, feature by feature within a block and row by row within a
  // feature: the block's rows of `local` and `inverse` stay in the L1 cache while they are written (a whole
  // column of [n][M] at a time touched a cache line per value, over 2.4 MB at 5,000 samples and M = 30).
  for (std::int64_t begin = 1; begin < n; begin += kSampleBlock) {
    const std::int64_t end = std::min(n, begin + kSampleBlock);
    for (std::int64_t j = 0; j < m; ++j) {
      const FeatureStats& feature = stats.features[static_cast<std::size_t>(j)];
      if (feature.kind == FeatureStats::Kind::kContinuous) {
        const double center = sample_around_instance ? x[j] : feature.mean;
        for (std::int64_t i = begin; i < end; ++i) {
          const double value = ZigguratNormal(words) * feature.scale + center;
          inverse[i * m + j] = value;
          local[i * m + j] = (value - feature.mean) / feature.scale;
        }
        continue;
      }
      if (feature.kind == FeatureStats::Kind::kCategorical) {
        for (std::int64_t i = begin; i < end; ++i) {
          const double category = DrawCategory(feature, words);
          local[i * m + j] = category == x[j] ? 1.0 : 0.0;
          inverse[i * m + j] = category;
        }
        continue;
      }
      // Discretized: the bin's index by frequency, then a value inside it. The per-bin numbers are read
      // through local pointers (stores to `local` / `inverse` could otherwise alias the vectors' contents).
      const std::size_t bins = feature.cumulative.size();
      const std::uint64_t* cumulative = feature.cumulative.data();
      const std::uint64_t total = cumulative[bins - 1];
      const FeatureStats::BinDraw* draws = feature.draws.data();
      // The entry of x's bin among the bins drawn (`bins` when training never saw it): an integer compare
      // per draw, without a branch that a random bin would mispredict.
      const double instance = static_cast<double>(feature.Bin(x[j]));
      std::size_t instance_index = bins;
      for (std::size_t c = 0; c < bins; ++c) {
        if (draws[c].bin == instance) instance_index = c;
      }
      for (std::int64_t i = begin; i < end; ++i) {
        const std::uint64_t pick = words.Below(total);
        std::size_t index = 0;
        for (std::size_t c = 0; c < bins; ++c) index += cumulative[c] <= pick ? 1 : 0;
        const FeatureStats::BinDraw& draw = draws[index];
        local[i * m + j] = static_cast<double>(index == instance_index);
        inverse[i * m + j] = TruncatedNormal(draw.mean, draw.std, draw.low, draw.high, words);
      }
    }
  }
}

}  // namespace loupe::lime
