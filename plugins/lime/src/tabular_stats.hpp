// Training statistics of lime.tabular (LimeTabularExplainer.__init__ of lime 0.2) and its sampler
// (__data_inverse).
//
// Per feature, from the training rows (missing values skipped):
//  - categorical: the level codes seen and their counts;
//  - numeric, discretize_continuous: the bin edges (numpy percentiles 25/50/75, or 10..90, or the split
//    thresholds of an entropy decision tree of depth 3 on the feature and the labels; duplicates dropped), a
//    value's bin = number of edges strictly below it (searchsorted, side left); per bin the mean, the
//    population std + 1e-11, the lower edge (the training minimum for bin 0), the upper edge (the training
//    maximum for the last bin), the count, and lime's condition text
//    ("Age <= 28.00", "28.00 < Age <= 37.00", "Age > 51.00");
//  - numeric without discretization: StandardScaler's mean and scale (population std, 1 when 0).
// Sampling a neighbourhood of an instance x (n rows, row 0 = x itself):
//  - numeric without discretization: normal(mean, scale) per value, or normal(x, scale) with
//    sample_around_instance; the local representation is the scaled value (v - mean) / scale;
//  - categorical / discretized: a category (bin) drawn by training frequency; the local representation is
//    1 when it equals the instance's category (bin) and 0 otherwise; a discretized value is drawn inside
//    its bin from a normal with the bin's mean and std truncated to the bin's edges.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "loupe/sdk/host.hpp"
#include "loupe/sdk/random.hpp"

namespace loupe::lime {

enum class Discretizer { kQuartile, kDecile, kEntropy };

struct FeatureStats {
  enum class Kind { kCategorical, kDiscretized, kContinuous } kind = Kind::kContinuous;
  // kContinuous: StandardScaler statistics.
  double mean = 0.0;
  double scale = 1.0;
  // kCategorical / kDiscretized: the categories (level codes or bin indices) seen in training, ascending,
  // and the running totals of their counts (for drawing by frequency).
  std::vector<double> values;
  std::vector<std::uint64_t> cumulative;
  // kDiscretized: edges and per-bin statistics ([edges.size() + 1] each).
  std::vector<double> edges;
  std::vector<double> bin_mean, bin_std, bin_min, bin_max;
  std::vector<std::string> bin_names;
  // kDiscretized, per entry of `values` (the bins seen in training): what the sampler draws from, in one
  // place (the bin's truncated normal and the bin's index).
  struct BinDraw {
    double mean, std, low, high, bin;
  };
  std::vector<BinDraw> draws;

  // The bin of a value: the number of edges strictly below it.
  std::int64_t Bin(double value) const;
};

struct TrainingStats {
  std::vector<FeatureStats> features;
};

// numpy.percentile(values, q) with linear interpolation; `sorted` is ascending and not empty.
double Percentile(const std::vector<double>& sorted, double q);

// lime's "%.2f".
std::string Fixed2(double value);

// lime's EntropyDiscretizer edges: the sorted thresholds of scikit-learn's
// DecisionTreeClassifier(criterion="entropy", max_depth=3) fitted on (value, label) pairs (values compared
// in float32 as the tree does; thresholds at midpoints); the median when the tree does not split.
std::vector<double> EntropyEdges(std::vector<std::pair<double, double>> value_label);

// Statistics of the training rows `rows` of `x`. `labels` (one per data row, NaN = missing) is needed by
// the entropy discretizer only. Throws loupe::sdk::Error naming the feature when a
// feature has no observed value in those rows.
TrainingStats ComputeStats(const loupe::sdk::Matrix& x, const std::vector<std::int64_t>& rows,
                           const loupe::sdk::DatasetInfo& data, bool discretize, Discretizer discretizer,
                           const std::vector<double>* labels = nullptr);

// lime's name of feature `j` of instance `x` in the explanation: the bin condition for a discretized
// feature, "name=level" for a categorical one, the feature name for a continuous one.
std::string Condition(const TrainingStats& stats, const loupe::sdk::DatasetInfo& data, std::int64_t j,
                      const double* x);

// A standard normal value by the 256-layer ziggurat (Marsaglia & Tsang 2000, as Doornik's ZIGNOR): one
// 64-bit word of `rng` and a table look-up for ~98.8% of the values, exact rejection sampling for the rest
// (no approximation of the distribution). Replaced Box-Muller (a logarithm, a square root, a sine and a
// cosine per pair) in lime.tabular's sampling: the stream of values changed, their distribution did not.
// SampleNeighbourhood runs the same ziggurat on a xoshiro256++ stream seeded from its Philox stream.
double StandardNormal(loupe::sdk::Rng& rng);

// Draws the neighbourhood of instance `x` (all features present): n rows of the local representation
// `local` [n][M] (what the local model and the distance see) and of model inputs `inverse` [n][M]. Row 0
// is the instance itself. The draws come from kSampleLanes xoshiro256++ streams, lane l seeded with words
// 4l..4l+3 of `rng` (the values depend only on `rng`'s key, never on threads or on the machine). Rows
// 1..n-1 are drawn in blocks of kSampleBlock rows, within a block feature by feature; row i of a block
// belongs to lane (i - block start) % kSampleLanes, and each lane draws its rows of the feature from its own
// stream alone: a category by frequency, or a normal value, row by row; for a discretized feature, row by
// row a bin by training frequency (Lemire's method on a word's high 32 bits) and a first proposal of the
// bin's normal (ziggurat, its uniform from a word's high 52 bits), then, for the rows whose proposal fell
// outside the bin, further proposals until one falls inside (rejection: exactly the truncated normal).
// (Until 2026-12-06 one stream drew the rows of a feature in turn, each row's proposals in a row: the same
// distributions, another stream.) kFastest draws four lanes at once with AVX2 when the CPU has it;
// kPortable is plain C++; both give the same bits (a test compares them).
inline constexpr std::int64_t kSampleBlock = 64;
inline constexpr int kSampleLanes = 4;
enum class SamplerPath { kFastest, kPortable };
void SampleNeighbourhood(const TrainingStats& stats, const double* x, std::int64_t n,
                         bool sample_around_instance, loupe::sdk::Rng& rng, double* local, double* inverse,
                         SamplerPath path = SamplerPath::kFastest);

}  // namespace loupe::lime
