#include "kernel_sampling.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <unordered_map>
#include <utility>

namespace loupe::shap {
namespace {

double Binomial(std::int64_t n, std::int64_t k) {
  double c = 1.0;
  for (std::int64_t i = 1; i <= k; ++i) c = c * static_cast<double>(n - k + i) / static_cast<double>(i);
  return std::round(c) < 9.0e15 ? std::round(c) : c;
}

// Visits every size-k subset of {0..m) in lexicographic order (itertools.combinations).
template <typename Visit>
void ForEachCombination(std::int64_t m, std::int64_t k, Visit&& visit) {
  std::vector<std::int64_t> idx(static_cast<std::size_t>(k));
  std::iota(idx.begin(), idx.end(), 0);
  for (;;) {
    visit(idx);
    std::int64_t i = k - 1;
    while (i >= 0 && idx[static_cast<std::size_t>(i)] == m - k + i) --i;
    if (i < 0) return;
    ++idx[static_cast<std::size_t>(i)];
    for (std::int64_t j = i + 1; j < k; ++j)
      idx[static_cast<std::size_t>(j)] = idx[static_cast<std::size_t>(j - 1)] + 1;
  }
}

}  // namespace

void BuildPlan(std::int64_t m, std::int64_t nsamples, loupe::sdk::Rng& rng, RowPlan* out) {
  const auto um = static_cast<std::size_t>(m);
  std::vector<unsigned char> mask(um);
  std::vector<double> counts;      // per drawn coalition
  auto add = [&](double weight) {  // an enumerated coalition
    out->masks.insert(out->masks.end(), mask.begin(), mask.end());
    out->fixed_weights.push_back(weight);
  };
  auto draw = [&](std::int64_t coalition) {  // one drawn entry; a new coalition when coalition == count()
    if (coalition == out->count()) {
      out->masks.insert(out->masks.end(), mask.begin(), mask.end());
      counts.push_back(0.0);
    }
    counts[static_cast<std::size_t>(coalition - out->fixed())] += 1.0;
    out->draw_coalition.push_back(coalition);
  };
  auto complement = [&] {
    for (auto& bit : mask) bit = static_cast<unsigned char>(1 - bit);
  };

  const std::int64_t num_subset_sizes = m / 2;               // ceil((m - 1) / 2)
  const std::int64_t num_paired_subset_sizes = (m - 1) / 2;  // floor((m - 1) / 2)
  std::vector<double> weight_vector(static_cast<std::size_t>(num_subset_sizes));
  for (std::int64_t i = 1; i <= num_subset_sizes; ++i) {
    weight_vector[static_cast<std::size_t>(i - 1)] =
        (static_cast<double>(m) - 1.0) / (static_cast<double>(i) * static_cast<double>(m - i));
  }
  for (std::int64_t i = 0; i < num_paired_subset_sizes; ++i) weight_vector[static_cast<std::size_t>(i)] *= 2;
  const double total = std::accumulate(weight_vector.begin(), weight_vector.end(), 0.0);
  for (double& w : weight_vector) w /= total;

  std::int64_t num_full_subsets = 0;
  double num_samples_left = static_cast<double>(nsamples);
  std::vector<double> remaining = weight_vector;
  for (std::int64_t size = 1; size <= num_subset_sizes; ++size) {
    const bool paired = size <= num_paired_subset_sizes;
    double nsubsets = Binomial(m, size);
    if (paired) nsubsets *= 2;
    const double share = remaining[static_cast<std::size_t>(size - 1)];
    if (num_samples_left * share / nsubsets < 1.0 - 1e-8) break;
    ++num_full_subsets;
    num_samples_left -= nsubsets;
    if (share < 1.0) {
      for (double& w : remaining) w /= (1.0 - share);
    }
    double w = weight_vector[static_cast<std::size_t>(size - 1)] / Binomial(m, size);
    if (paired) w /= 2.0;
    ForEachCombination(m, size, [&](const std::vector<std::int64_t>& inds) {
      std::fill(mask.begin(), mask.end(), 0);
      for (const std::int64_t i : inds) mask[static_cast<std::size_t>(i)] = 1;
      add(w);
      if (paired) {
        complement();
        add(w);
      }
    });
  }

  std::int64_t samples_left = nsamples - out->fixed();
  if (num_full_subsets == num_subset_sizes || samples_left <= 0) return;

  // Sizes num_full_subsets + 1 .. num_subset_sizes, paired sizes halved because each draw adds two.
  std::vector<double> cdf;
  for (std::int64_t i = num_full_subsets; i < num_subset_sizes; ++i) {
    const double w = weight_vector[static_cast<std::size_t>(i)] / (i < num_paired_subset_sizes ? 2.0 : 1.0);
    cdf.push_back((cdf.empty() ? 0.0 : cdf.back()) + w);
  }
  for (double& c : cdf) c /= cdf.back();
  std::unordered_map<std::string, std::int64_t> used;
  std::vector<std::int64_t> order(um);
  const std::int64_t draws = 4 * samples_left;
  for (std::int64_t attempt = 0; attempt < draws && samples_left > 0; ++attempt) {
    const double u = rng.Uniform();
    const auto ind = static_cast<std::int64_t>(std::upper_bound(cdf.begin(), cdf.end() - 1, u) - cdf.begin());
    const std::int64_t size = ind + num_full_subsets + 1;
    // The first `size` entries of a uniform random permutation (partial Fisher-Yates).
    std::iota(order.begin(), order.end(), 0);
    std::fill(mask.begin(), mask.end(), 0);
    for (std::int64_t i = 0; i < size; ++i) {
      const auto j = i + static_cast<std::int64_t>(rng.Below(static_cast<std::uint64_t>(m - i)));
      std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(j)]);
      mask[static_cast<std::size_t>(order[static_cast<std::size_t>(i)])] = 1;
    }
    const std::string key(mask.begin(), mask.end());
    const auto [it, is_new] = used.emplace(key, out->count());
    if (is_new) --samples_left;
    draw(it->second);
    if (samples_left > 0 && size <= num_paired_subset_sizes) {
      complement();
      if (is_new) --samples_left;
      draw(it->second + 1);
    }
    out->event_end.push_back(static_cast<std::int64_t>(out->draw_coalition.size()));
  }
  for (std::int64_t i = num_full_subsets; i < num_subset_sizes; ++i)
    out->sampled_mass += weight_vector[static_cast<std::size_t>(i)];
}

std::int64_t RowPlan::CoalitionsFor(std::int64_t events) const {
  std::int64_t needed = fixed();
  for (std::int64_t e = 0; e < EntriesOf(events); ++e)
    needed = std::max(needed, draw_coalition[static_cast<std::size_t>(e)] + 1);
  return needed;
}

std::vector<double> RowPlan::WeightsFor(std::int64_t events) const {
  std::vector<double> weights = fixed_weights;
  weights.resize(static_cast<std::size_t>(CoalitionsFor(events)), 0.0);
  const std::int64_t entries = EntriesOf(events);
  for (std::int64_t e = 0; e < entries; ++e)
    weights[static_cast<std::size_t>(draw_coalition[static_cast<std::size_t>(e)])] += 1.0;
  const double scale = entries > 0 ? sampled_mass / static_cast<double>(entries) : 0.0;
  for (std::size_t k = fixed_weights.size(); k < weights.size(); ++k) weights[k] *= scale;
  return weights;
}

std::int64_t KernelBudget(std::int64_t requested, std::int64_t m) {
  std::int64_t nsamples = requested > 0 ? requested : 2 * m + 2048;
  if (m <= 30) nsamples = std::min(nsamples, (std::int64_t{1} << m) - 2);
  return nsamples;
}

}  // namespace loupe::shap
