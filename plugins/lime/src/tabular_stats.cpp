#include "tabular_stats.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define LOUPE_LIME_AVX2 1
#endif

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
  SampleWords(std::uint64_t s0, std::uint64_t s1, std::uint64_t s2, std::uint64_t s3)
      : s0_(s0), s1_(s1), s2_(s2), s3_(s3) {
    if ((s0_ | s1_ | s2_ | s3_) == 0) s0_ = 1;  // the one invalid state
  }
  void Save(std::uint64_t* s0, std::uint64_t* s1, std::uint64_t* s2, std::uint64_t* s3) const {
    *s0 = s0_;
    *s1 = s1_;
    *s2 = s2_;
    *s3 = s3_;
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

// A uniform value on (-1, 1) from the high 53 bits of `word`, which leaves the low 8 bits to the
// ziggurat's layer.
inline double SignedUniform53(std::uint64_t word) {
  return 2.0 * (static_cast<double>(word >> 11) * 0x1.0p-53) - 1.0;
}

// A uniform value on [-1, 1) from the high 52 bits of `word` (exact: 2 d - 3 for d in [1, 2)), which leaves
// the low 8 bits to the ziggurat's layer; one integer OR and no int-to-double conversion, which AVX2 lacks.
inline double SignedUniform52(std::uint64_t word) {
  const std::uint64_t bits = (word >> 12) | 0x3FF0000000000000ULL;
  double d = 0.0;
  std::memcpy(&d, &bits, sizeof(d));
  return 2.0 * d - 3.0;
}

// The rest of ZigguratNormal once the first word's point fell outside its layer's rectangle core (~1.2%).
// Inlined like the rest: a call taking `words` by reference would make the compiler keep the generator's
// state in memory instead of registers on the common path.
template <double (*kSignedUniform)(std::uint64_t), typename Words>
inline double ZigguratRejected(Words& words, std::uint64_t word) {
  for (;;) {
    const auto layer = static_cast<std::size_t>(word & 0xFF);
    const double u = kSignedUniform(word);
    if (std::fabs(u) < kZiggurat.inside[layer]) return u * kZiggurat.edges[layer];
    if (layer == 0) return NormalTail(words, u < 0.0);
    const double x = u * kZiggurat.edges[layer];
    const double top = std::exp(-0.5 * (kZiggurat.edges[layer] * kZiggurat.edges[layer] - x * x));
    const double bottom = std::exp(-0.5 * (kZiggurat.edges[layer + 1] * kZiggurat.edges[layer + 1] - x * x));
    if (bottom + words.Uniform() * (top - bottom) < 1.0) return x;
    word = words.NextU64();
  }
}

// A standard normal value by the ziggurat: one 64-bit word gives the layer (its low 8 bits) and a uniform
// on (-1, 1) (kSignedUniform of its high bits); the common case is inlined into the samplers.
template <double (*kSignedUniform)(std::uint64_t), typename Words>
inline double ZigguratNormalOf(Words& words) {
  const std::uint64_t word = words.NextU64();
  const auto layer = static_cast<std::size_t>(word & 0xFF);
  const double u = kSignedUniform(word);
  if (std::fabs(u) < kZiggurat.inside[layer]) [[likely]]
    return u * kZiggurat.edges[layer];  // ~98.8% of the draws
  return ZigguratRejected<kSignedUniform>(words, word);
}

// StandardNormal over any source of 64-bit words with Uniform(): the uniform from the word's high 53 bits.
template <typename Words>
inline double ZigguratNormal(Words& words) {
  return ZigguratNormalOf<SignedUniform53>(words);
}

// A standard normal value of a lane: the same ziggurat, the uniform from the word's high 52 bits
// (SignedUniform52, which the AVX2 path computes the same way).
inline double LaneNormal(SampleWords& words) { return ZigguratNormalOf<SignedUniform52>(words); }

}  // namespace

double StandardNormal(loupe::sdk::Rng& rng) { return ZigguratNormal(rng); }

namespace {

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

namespace {

// ---------------------------------------------------------------------------------------------------------
// The neighbourhood's sampler. Its random words come from kSampleLanes independent xoshiro256++ streams
// (lanes); row i of a block belongs to lane (i - block start) % kSampleLanes, and every value of that row is
// drawn from that lane's stream alone, in an order fixed per lane (DrawLaneRows). So the values do not
// depend on how the lanes are interleaved: the AVX2 path draws one row of each lane at a time in the four
// 64-bit elements of a vector register, the portable path one lane after the other, with the same bits.

// `value` as rounded on its own: an empty asm statement the compiler cannot see through, so that
// `a + Rounded(b * c)` is never fused into one multiply-add (the AVX2 path and the portable path must round
// alike whatever -ffp-contract and -m flags the build uses).
inline double Rounded(double value) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  __asm__("" : "+x"(value));
#elif defined(__GNUC__) && defined(__aarch64__)
  __asm__("" : "+w"(value));
#endif
  return value;
}

// A pick uniform on [0, total), total < 2^32, from the product (word >> 32) * total: Lemire's method, exact
// by rejection (another word only when the product's low half is below 2^32 mod total, which is rarer than
// total / 2^32).
inline std::uint64_t FinishPick(SampleWords& words, std::uint64_t product, std::uint64_t total) {
  if ((product & 0xFFFFFFFFULL) < total) {
    const std::uint64_t threshold = (0x100000000ULL - total) % total;
    while ((product & 0xFFFFFFFFULL) < threshold) product = (words.NextU64() >> 32) * total;
  }
  return product >> 32;
}

constexpr std::uint64_t kPick32 = 0x100000000ULL;  // totals below this draw a pick from 32 bits
constexpr int kMaxAttempts = 1000;                 // rejections of a truncated normal before the fallback

// A bin by training frequency (cumulative counts `cumulative[0..bins)`, total cumulative[bins - 1]): its
// entry among the bins seen.
inline std::size_t LaneBin(SampleWords& words, const std::uint64_t* cumulative, std::size_t bins) {
  const std::uint64_t total = cumulative[bins - 1];
  const std::uint64_t pick =
      total < kPick32 ? FinishPick(words, (words.NextU64() >> 32) * total, total) : words.Below(total);
  std::size_t index = 0;
  for (std::size_t c = 0; c < bins; ++c) index += cumulative[c] <= pick ? 1 : 0;
  return index;
}

// A normal(mean, std) value truncated to the bin [low, high], by rejection: exactly the truncated normal.
// The bin's mean lies inside its edges, so a proposal is accepted with probability above 0.47 for the bins'
// usual shapes (0.73-0.93 on the breast-cancer data's quartiles); after kMaxAttempts rejections the value
// is drawn uniformly within the edges. A lane makes the first proposal of each of its rows of a block in
// turn (FirstProposal, together with the row's bin), then the further proposals of the rows rejected, in
// turn (FurtherProposals): a rejection is then a branch per rejected row rather than per row.
inline bool HasWidth(const FeatureStats::BinDraw& d) { return d.high > d.low; }
inline bool Inside(const FeatureStats::BinDraw& d, double value) { return value >= d.low && value <= d.high; }
inline double Proposal(const FeatureStats::BinDraw& d, SampleWords& words) {
  return d.mean + Rounded(d.std * LaneNormal(words));
}
inline double FurtherProposals(const FeatureStats::BinDraw& d, SampleWords& words) {
  for (int attempt = 1; attempt < kMaxAttempts; ++attempt) {
    const double value = Proposal(d, words);
    if (Inside(d, value)) return value;
  }
  return d.low + (d.high - d.low) * words.Uniform();
}

// What one feature's draws need, read once per block.
struct FeatureDraw {
  const FeatureStats* feature;
  std::int64_t j;
  double instance;             // x[j]
  double center;               // kContinuous: the normal's mean
  std::size_t instance_index;  // kDiscretized: the entry of x's bin (`bins` when training never saw it)
};

// The rows first, first + kSampleLanes, ... < end of one lane, one feature: the definition of the lane's
// stream. Continuous and categorical: one value per row, in row order. Discretized: per row in row order its
// bin and the first proposal of the bin's truncated normal, then the further proposals of the rows whose
// first one fell outside the bin, in row order.
inline void DrawLaneRows(const FeatureDraw& f, std::int64_t m, std::int64_t first, std::int64_t end,
                         SampleWords& words, double* local, double* inverse) {
  const FeatureStats& feature = *f.feature;
  const std::int64_t j = f.j;
  switch (feature.kind) {
    case FeatureStats::Kind::kContinuous:
      for (std::int64_t i = first; i < end; i += kSampleLanes) {
        const double value = Rounded(LaneNormal(words) * feature.scale) + f.center;
        inverse[i * m + j] = value;
        local[i * m + j] = (value - feature.mean) / feature.scale;
      }
      return;
    case FeatureStats::Kind::kCategorical:
      for (std::int64_t i = first; i < end; i += kSampleLanes) {
        const double category = DrawCategory(feature, words);
        local[i * m + j] = category == f.instance ? 1.0 : 0.0;
        inverse[i * m + j] = category;
      }
      return;
    case FeatureStats::Kind::kDiscretized:
      break;
  }
  const std::size_t bins = feature.cumulative.size();
  const std::uint64_t* cumulative = feature.cumulative.data();
  const FeatureStats::BinDraw* draws = feature.draws.data();
  std::size_t rejected[kSampleBlock / kSampleLanes];  // bins of the rows whose first proposal was rejected
  std::uint32_t pending = 0;                          // bit k: the lane's k-th row of the block
  int k = 0;
  for (std::int64_t i = first; i < end; i += kSampleLanes, ++k) {
    const std::size_t index = LaneBin(words, cumulative, bins);
    const FeatureStats::BinDraw& d = draws[index];
    local[i * m + j] = static_cast<double>(index == f.instance_index);
    double value = d.low;
    if (HasWidth(d)) {
      const double proposal = Proposal(d, words);
      if (Inside(d, proposal)) {
        value = proposal;
      } else {
        pending |= 1U << k;
        rejected[k] = index;
      }
    }
    inverse[i * m + j] = value;
  }
  for (k = 0; pending != 0; ++k, pending >>= 1) {
    if ((pending & 1) != 0)
      inverse[(first + k * kSampleLanes) * m + j] = FurtherProposals(draws[rejected[k]], words);
  }
}

// The generators' states, word k of lane l at s[k][l].
struct LaneStates {
  alignas(32) std::uint64_t s[4][kSampleLanes];
  SampleWords Lane(int l) const { return SampleWords(s[0][l], s[1][l], s[2][l], s[3][l]); }
  void Store(int l, const SampleWords& words) { words.Save(&s[0][l], &s[1][l], &s[2][l], &s[3][l]); }
};

// Rows [begin, end) of one feature, lane after lane: the portable path (and the AVX2 path's tail).
void DrawFeatureRows(const FeatureDraw& f, std::int64_t m, std::int64_t begin, std::int64_t end,
                     LaneStates& states, double* local, double* inverse) {
  for (int l = 0; l < kSampleLanes && begin + l < end; ++l) {
    SampleWords words = states.Lane(l);
    DrawLaneRows(f, m, begin + l, end, words, local, inverse);
    states.Store(l, words);
  }
}

#if defined(LOUPE_LIME_AVX2)
static_assert(kSampleLanes == 4, "the AVX2 path holds one lane per 64-bit element of a 256-bit register");
static_assert(sizeof(FeatureStats::BinDraw) == 5 * sizeof(double), "BinDraw is gathered as 5 doubles");
static_assert(kSampleBlock <= 64, "a block's rows are the bits of a 64-bit mask");

#define LOUPE_LIME_TARGET __attribute__((target("avx2")))

template <int k>
LOUPE_LIME_TARGET inline __m256i Rotate4(__m256i x) {
  return _mm256_or_si256(_mm256_slli_epi64(x, k), _mm256_srli_epi64(x, 64 - k));
}

// The ziggurat's edge and inside ratio of each layer side by side, for one 16-byte load per lane.
struct LayerPairs {
  alignas(16) double pair[256][2];
  LayerPairs() {
    for (int i = 0; i < 256; ++i) {
      pair[i][0] = kZiggurat.edges[i];
      pair[i][1] = kZiggurat.inside[i];
    }
  }
};
const LayerPairs kLayerPairs;

// Element i of `table` at the 64-bit element whose two 32-bit halves hold 2i and 2i + 1.
LOUPE_LIME_TARGET inline __m256d Permute4(__m256d table, __m256i halves) {
  return _mm256_castsi256_pd(_mm256_permutevar8x32_epi32(_mm256_castpd_si256(table), halves));
}

LOUPE_LIME_TARGET inline __m256d Rounded4(__m256d value) {
  __asm__("" : "+x"(value));
  return value;
}

// Four xoshiro256++ generators, one per 64-bit element; Next advances only the lanes set in `active`.
struct Words4 {
  __m256i s0, s1, s2, s3;

  LOUPE_LIME_TARGET void Load(const LaneStates& states) {
    s0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(states.s[0]));
    s1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(states.s[1]));
    s2 = _mm256_load_si256(reinterpret_cast<const __m256i*>(states.s[2]));
    s3 = _mm256_load_si256(reinterpret_cast<const __m256i*>(states.s[3]));
  }
  LOUPE_LIME_TARGET void Save(LaneStates& states) const {
    _mm256_store_si256(reinterpret_cast<__m256i*>(states.s[0]), s0);
    _mm256_store_si256(reinterpret_cast<__m256i*>(states.s[1]), s1);
    _mm256_store_si256(reinterpret_cast<__m256i*>(states.s[2]), s2);
    _mm256_store_si256(reinterpret_cast<__m256i*>(states.s[3]), s3);
  }
  // The next word of every lane; only the lanes set in `active` advance, unless `all` says every lane does.
  LOUPE_LIME_TARGET __m256i Next(__m256i active, bool all) {
    const __m256i result = _mm256_add_epi64(Rotate4<23>(_mm256_add_epi64(s0, s3)), s0);
    const __m256i t = _mm256_slli_epi64(s1, 17);
    __m256i n2 = _mm256_xor_si256(s2, s0);
    __m256i n3 = _mm256_xor_si256(s3, s1);
    const __m256i n1 = _mm256_xor_si256(s1, n2);
    const __m256i n0 = _mm256_xor_si256(s0, n3);
    n2 = _mm256_xor_si256(n2, t);
    n3 = Rotate4<45>(n3);
    if (all) {
      s0 = n0;
      s1 = n1;
      s2 = n2;
      s3 = n3;
    } else {
      s0 = _mm256_blendv_epi8(s0, n0, active);
      s1 = _mm256_blendv_epi8(s1, n1, active);
      s2 = _mm256_blendv_epi8(s2, n2, active);
      s3 = _mm256_blendv_epi8(s3, n3, active);
    }
    return result;
  }
};

// Rows [begin, end) of a discretized feature whose total count is below 2^32, four rows (one per lane) at
// a time; the values of DrawLaneRows. The rare steps (a pick's rejection, the ziggurat's outer layers, the
// fallback after kMaxAttempts) run the scalar code on the lane's own generator.
LOUPE_LIME_TARGET void DrawDiscretizedAvx2(const FeatureDraw& f, std::int64_t m, std::int64_t begin,
                                           std::int64_t end, LaneStates& states, double* local,
                                           double* inverse) {
  const FeatureStats& feature = *f.feature;
  const std::int64_t j = f.j;
  const std::size_t bins = feature.cumulative.size();
  const std::uint64_t* cumulative = feature.cumulative.data();
  const double* draws = &feature.draws.data()->mean;
  const std::uint64_t total = cumulative[bins - 1];
  const __m256i total4 = _mm256_set1_epi64x(static_cast<long long>(total));
  const __m256i low32 = _mm256_set1_epi64x(0xFFFFFFFFLL);
  const __m256i all = _mm256_set1_epi64x(-1);
  const __m256i lane_numbers = _mm256_set_epi64x(3, 2, 1, 0);
  const __m256i instance4 = _mm256_set1_epi64x(static_cast<long long>(f.instance_index));
  const __m256i one_bits = _mm256_set1_epi64x(0x3FF0000000000000LL);
  const __m256d two = _mm256_set1_pd(2.0), three = _mm256_set1_pd(3.0), one = _mm256_set1_pd(1.0);
  const __m256d abs_mask = _mm256_castsi256_pd(_mm256_set1_epi64x(0x7FFFFFFFFFFFFFFFLL));
  alignas(32) std::uint64_t spill[kSampleLanes];
  alignas(32) double spill_d[kSampleLanes];
  alignas(32) double values[kSampleLanes];
  alignas(32) double locals[kSampleLanes];
  alignas(32) std::uint64_t rejected[kSampleBlock / kSampleLanes][kSampleLanes];  // bins, per group and lane
  std::uint64_t pending = 0;  // bit kSampleLanes g + l: lane l's row of group g was rejected
  // Up to four bins: their parameters in registers, parameter k of bin c at table[k][c].
  const bool small = bins <= 4;
  __m256d table[4];
  {
    alignas(32) double column[4][4] = {};
    for (std::size_t c = 0; c < bins && small; ++c) {
      column[0][c] = feature.draws[c].mean;
      column[1][c] = feature.draws[c].std;
      column[2][c] = feature.draws[c].low;
      column[3][c] = feature.draws[c].high;
    }
    for (int k = 0; k < 4; ++k) table[k] = _mm256_load_pd(column[k]);
  }
  const __m256i one64 = _mm256_set1_epi64x(1);
  // cumulative[c] - 1 for c < 3, the total - 1 past the last bin (pick > bound: cumulative[c] <= pick).
  __m256i bounds[3];
  for (std::size_t c = 0; c < 3; ++c) {
    const std::uint64_t bound = c + 1 < bins ? cumulative[c] : total;
    bounds[c] = _mm256_set1_epi64x(static_cast<long long>(bound) - 1);
  }
  Words4 words;
  words.Load(states);
  std::int64_t row = begin;
  for (; row < end; row += kSampleLanes) {
    // The lanes with a row left (all but in a block's last group).
    const std::int64_t left = end - row;
    const __m256i present =
        left >= kSampleLanes ? all : _mm256_cmpgt_epi64(_mm256_set1_epi64x(left), lane_numbers);
    // The bin: a pick on [0, total) from the word's high half (< total in every lane, so the gathers below
    // stay inside the table even in a lane without a row).
    __m256i product =
        _mm256_mul_epu32(_mm256_srli_epi64(words.Next(present, left >= kSampleLanes), 32), total4);
    const int rare = _mm256_movemask_pd(_mm256_castsi256_pd(
        _mm256_and_si256(present, _mm256_cmpgt_epi64(total4, _mm256_and_si256(product, low32)))));
    if (rare != 0) [[unlikely]] {
      words.Save(states);
      _mm256_store_si256(reinterpret_cast<__m256i*>(spill), product);
      for (int l = 0; l < kSampleLanes; ++l) {
        if ((rare >> l & 1) == 0) continue;
        SampleWords lane = states.Lane(l);
        spill[l] = FinishPick(lane, spill[l], total) << 32;  // shifted back below
        states.Store(l, lane);
      }
      product = _mm256_load_si256(reinterpret_cast<const __m256i*>(spill));
      words.Load(states);
    }
    const __m256i pick = _mm256_srli_epi64(product, 32);
    // The number of cumulative counts <= pick (the last, the total, never is).
    __m256i index = _mm256_setzero_si256();
    if (small) {
      index = _mm256_sub_epi64(index, _mm256_cmpgt_epi64(pick, bounds[0]));
      index = _mm256_sub_epi64(index, _mm256_cmpgt_epi64(pick, bounds[1]));
      index = _mm256_sub_epi64(index, _mm256_cmpgt_epi64(pick, bounds[2]));
    } else {
      for (std::size_t c = 0; c + 1 < bins; ++c) {
        const __m256i bound = _mm256_set1_epi64x(static_cast<long long>(cumulative[c]) - 1);
        index = _mm256_sub_epi64(index, _mm256_cmpgt_epi64(pick, bound));  // - (-1) where pick > cum - 1
      }
    }
    const __m256d same = _mm256_and_pd(_mm256_castsi256_pd(_mm256_cmpeq_epi64(index, instance4)), one);
    __m256d mean, std, low, high;
    if (small) {  // up to four bins: the parameters by a permutation of registers instead of gathers
      const __m256i twice = _mm256_slli_epi64(index, 1);
      const __m256i halves = _mm256_or_si256(twice, _mm256_slli_epi64(_mm256_add_epi64(twice, one64), 32));
      mean = Permute4(table[0], halves);
      std = Permute4(table[1], halves);
      low = Permute4(table[2], halves);
      high = Permute4(table[3], halves);
    } else {
      const __m256i offset = _mm256_add_epi64(index, _mm256_slli_epi64(index, 2));  // 5 doubles per bin
      mean = _mm256_i64gather_pd(draws, offset, 8);
      std = _mm256_i64gather_pd(draws + 1, offset, 8);
      low = _mm256_i64gather_pd(draws + 2, offset, 8);
      high = _mm256_i64gather_pd(draws + 3, offset, 8);
    }
    // The first proposal of every lane whose bin has a width; the rows rejected are finished below.
    const __m256i active =
        _mm256_and_si256(present, _mm256_castpd_si256(_mm256_cmp_pd(high, low, _CMP_GT_OQ)));
    const __m256i word = words.Next(active, _mm256_movemask_pd(_mm256_castsi256_pd(active)) == 0xF);
    const __m256d u = _mm256_sub_pd(
        _mm256_mul_pd(_mm256_castsi256_pd(_mm256_or_si256(_mm256_srli_epi64(word, 12), one_bits)), two),
        three);
    // The layers' (edge, inside) pairs by four 16-byte loads: shorter latency than two gathers.
    const __m128i low_words = _mm256_castsi256_si128(word), high_words = _mm256_extracti128_si256(word, 1);
    const __m128d p0 = _mm_load_pd(kLayerPairs.pair[_mm_cvtsi128_si64(low_words) & 0xFF]);
    const __m128d p1 = _mm_load_pd(kLayerPairs.pair[_mm_extract_epi64(low_words, 1) & 0xFF]);
    const __m128d p2 = _mm_load_pd(kLayerPairs.pair[_mm_cvtsi128_si64(high_words) & 0xFF]);
    const __m128d p3 = _mm_load_pd(kLayerPairs.pair[_mm_extract_epi64(high_words, 1) & 0xFF]);
    const __m256d pairs02 = _mm256_insertf128_pd(_mm256_castpd128_pd256(p0), p2, 1);
    const __m256d pairs13 = _mm256_insertf128_pd(_mm256_castpd128_pd256(p1), p3, 1);
    const __m256d edge = _mm256_unpacklo_pd(pairs02, pairs13);
    const __m256d inside = _mm256_unpackhi_pd(pairs02, pairs13);
    __m256d z = _mm256_mul_pd(u, edge);
    const int slow = _mm256_movemask_pd(_mm256_andnot_pd(
        _mm256_cmp_pd(_mm256_and_pd(u, abs_mask), inside, _CMP_LT_OQ), _mm256_castsi256_pd(active)));
    if (slow != 0) [[unlikely]] {
      words.Save(states);
      _mm256_store_si256(reinterpret_cast<__m256i*>(spill), word);
      _mm256_store_pd(spill_d, z);
      for (int l = 0; l < kSampleLanes; ++l) {
        if ((slow >> l & 1) == 0) continue;
        SampleWords lane = states.Lane(l);
        spill_d[l] = ZigguratRejected<SignedUniform52>(lane, spill[l]);
        states.Store(l, lane);
      }
      z = _mm256_load_pd(spill_d);
      words.Load(states);
    }
    const __m256d v = _mm256_add_pd(mean, Rounded4(_mm256_mul_pd(std, z)));
    const __m256d ok = _mm256_and_pd(_mm256_cmp_pd(v, low, _CMP_GE_OQ), _mm256_cmp_pd(v, high, _CMP_LE_OQ));
    const __m256d value = _mm256_blendv_pd(low, v, ok);
    const int group = static_cast<int>((row - begin) / kSampleLanes);
    const int rejects = _mm256_movemask_pd(_mm256_andnot_pd(ok, _mm256_castsi256_pd(active)));
    pending |= static_cast<std::uint64_t>(rejects) << (kSampleLanes * group);
    _mm256_store_si256(reinterpret_cast<__m256i*>(rejected[group]), index);
    if (left >= kSampleLanes) {
      double* in = inverse + row * m + j;
      double* lo = local + row * m + j;
      const __m128d value01 = _mm256_castpd256_pd128(value), value23 = _mm256_extractf128_pd(value, 1);
      const __m128d same01 = _mm256_castpd256_pd128(same), same23 = _mm256_extractf128_pd(same, 1);
      _mm_storel_pd(in, value01);
      _mm_storeh_pd(in + m, value01);
      _mm_storel_pd(in + 2 * m, value23);
      _mm_storeh_pd(in + 3 * m, value23);
      _mm_storel_pd(lo, same01);
      _mm_storeh_pd(lo + m, same01);
      _mm_storel_pd(lo + 2 * m, same23);
      _mm_storeh_pd(lo + 3 * m, same23);
    } else {
      _mm256_store_pd(values, value);
      _mm256_store_pd(locals, same);
      for (int l = 0; l < left; ++l) {
        inverse[(row + l) * m + j] = values[l];
        local[(row + l) * m + j] = locals[l];
      }
    }
  }
  // The further proposals of the rejected rows, lane by lane in row order (~10% of the rows).
  words.Save(states);
  for (int l = 0; l < kSampleLanes && pending != 0; ++l) {
    std::uint64_t groups = pending & (0x1111111111111111ULL << l);  // lane l's rejected rows
    if (groups == 0) continue;
    SampleWords lane = states.Lane(l);
    for (; groups != 0; groups &= groups - 1) {
      const int g = std::countr_zero(groups) / kSampleLanes;
      const FeatureStats::BinDraw& d = feature.draws[static_cast<std::size_t>(rejected[g][l])];
      inverse[(begin + g * kSampleLanes + l) * m + j] = FurtherProposals(d, lane);
    }
    states.Store(l, lane);
  }
}

bool HasAvx2() {
  static const bool has = __builtin_cpu_supports("avx2");
  return has;
}
#endif

}  // namespace

void SampleNeighbourhood(const TrainingStats& stats, const double* x, std::int64_t n,
                         bool sample_around_instance, loupe::sdk::Rng& rng, double* local, double* inverse,
                         SamplerPath path) {
  const auto m = static_cast<std::int64_t>(stats.features.size());
  LaneStates states;
  for (int l = 0; l < kSampleLanes; ++l) {
    const std::uint64_t s0 = rng.NextU64(), s1 = rng.NextU64(), s2 = rng.NextU64(), s3 = rng.NextU64();
    states.Store(l, SampleWords(s0, s1, s2, s3));
  }
  std::vector<FeatureDraw> features(static_cast<std::size_t>(m));
  for (std::int64_t j = 0; j < m; ++j) {
    const FeatureStats& feature = stats.features[static_cast<std::size_t>(j)];
    local[j] = feature.kind == FeatureStats::Kind::kContinuous ? (x[j] - feature.mean) / feature.scale : 1.0;
    inverse[j] = x[j];
    FeatureDraw& f = features[static_cast<std::size_t>(j)];
    f.feature = &feature;
    f.j = j;
    f.instance = x[j];
    f.center = sample_around_instance ? x[j] : feature.mean;
    f.instance_index = feature.cumulative.size();
    if (feature.kind == FeatureStats::Kind::kDiscretized) {
      const double bin = static_cast<double>(feature.Bin(x[j]));
      for (std::size_t c = 0; c < feature.draws.size(); ++c) {
        if (feature.draws[c].bin == bin) f.instance_index = c;
      }
    }
  }
  bool vector = false;
#if defined(LOUPE_LIME_AVX2)
  vector = path == SamplerPath::kFastest && HasAvx2();
#else
  (void)path;
#endif
  // Rows are drawn in blocks of kSampleBlock, feature by feature within a block: the block's rows of
  // `local` and `inverse` stay in the L1 cache while they are written.
  for (std::int64_t begin = 1; begin < n; begin += kSampleBlock) {
    const std::int64_t end = std::min(n, begin + kSampleBlock);
    for (const FeatureDraw& f : features) {
#if defined(LOUPE_LIME_AVX2)
      if (vector && f.feature->kind == FeatureStats::Kind::kDiscretized &&
          f.feature->cumulative.back() < kPick32) {
        DrawDiscretizedAvx2(f, m, begin, end, states, local, inverse);
        continue;
      }
#endif
      DrawFeatureRows(f, m, begin, end, states, local, inverse);
    }
  }
}

}  // namespace loupe::lime
