// Hand-computed values of every count-based metric on a 9-row table, and the bootstrap sampler.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "metrics.hpp"
#include "sampling.hpp"

namespace loupe::fairness {
namespace {

// Group A (privileged): (y, y_pred) = (1,1) (1,1) (1,0) (0,1) (0,0): tp 2, fn 1, fp 1, tn 1.
// Group B (unprivileged): (1,1) (1,0) (0,0) (0,0): tp 1, fn 1, fp 0, tn 2.
GroupCounts HandCounts() {
  GroupCounts counts;
  counts.weighted = {Confusion{2, 1, 1, 1}, Confusion{1, 0, 2, 1}};
  counts.rows = counts.weighted;
  return counts;
}

std::map<std::string, Metric> ByName(const std::vector<Metric>& metrics) {
  std::map<std::string, Metric> out;
  for (const Metric& m : metrics) out.emplace(m.block + "." + m.name, m);
  return out;
}

MetricOptions HandOptions() {
  MetricOptions options;
  options.group_names = {"g=A", "g=B"};
  options.privileged = {1, 0};
  return options;
}

TEST(FairnessMetrics, Aif360ConventionOnAHandTable) {
  const auto m = ByName(EvaluateMetrics(HandCounts(), HandOptions()));
  auto v = [&](const char* name) { return m.at(std::string("aif360.") + name).value; };
  EXPECT_NEAR(v("statistical_parity_difference"), 0.25 - 0.6, 1e-15);
  EXPECT_NEAR(v("disparate_impact"), 0.25 / 0.6, 1e-15);
  EXPECT_NEAR(v("equal_opportunity_difference"), 0.5 - 2.0 / 3, 1e-15);
  EXPECT_NEAR(v("average_odds_difference"), -1.0 / 3, 1e-15);
  EXPECT_NEAR(v("average_abs_odds_difference"), 1.0 / 3, 1e-15);
  EXPECT_NEAR(v("equalized_odds_difference"), 0.5, 1e-15);
  EXPECT_NEAR(v("false_positive_rate_difference"), -0.5, 1e-15);
  EXPECT_NEAR(v("false_positive_rate_ratio"), 0.0, 1e-15);
  EXPECT_NEAR(v("false_negative_rate_difference"), 1.0 / 6, 1e-15);
  EXPECT_NEAR(v("false_negative_rate_ratio"), 1.5, 1e-15);
  EXPECT_NEAR(v("false_discovery_rate_difference"), -1.0 / 3, 1e-15);
  EXPECT_NEAR(v("false_discovery_rate_ratio"), 0.0, 1e-15);
  EXPECT_NEAR(v("false_omission_rate_difference"), -1.0 / 6, 1e-15);
  EXPECT_NEAR(v("false_omission_rate_ratio"), 2.0 / 3, 1e-15);
  EXPECT_NEAR(v("error_rate_difference"), -0.15, 1e-15);
  EXPECT_NEAR(v("error_rate_ratio"), 0.625, 1e-15);
  // b = y_pred - y + 1: two 0s (false negatives), six 1s, one 2; mean 8/9.
  EXPECT_NEAR(v("generalized_entropy_index"), 234.0 / 1152, 1e-15);
  EXPECT_NEAR(v("theil_index"), (6 * 1.125 * std::log(1.125) + 2.25 * std::log(2.25)) / 9, 1e-15);
  EXPECT_NEAR(v("coefficient_of_variation"), std::sqrt(2 * 234.0 / 1152), 1e-15);
  EXPECT_TRUE(std::isnan(v("generalized_entropy_index_alpha_0")));
  EXPECT_NE(m.at("aif360.generalized_entropy_index_alpha_0").note.find("false negative"), std::string::npos);
  // Between privileged (mean benefit 1) and unprivileged (3/4): ratios to 8/9 are 9/8 and 27/32.
  EXPECT_NEAR(v("between_group_generalized_entropy_index"),
              (5 * (1.125 * 1.125 - 1) + 4 * (27.0 / 32 * 27.0 / 32 - 1)) / 18, 1e-15);
  EXPECT_NEAR(v("between_group_theil_index"),
              (5 * 1.125 * std::log(1.125) + 4 * 27.0 / 32 * std::log(27.0 / 32)) / 9, 1e-15);
  EXPECT_NEAR(v("between_group_generalized_entropy_index_alpha_0"),
              -(5 * std::log(1.125) + 4 * std::log(27.0 / 32)) / 9, 1e-15);
  EXPECT_NEAR(v("between_all_groups_theil_index"), v("between_group_theil_index"), 1e-15);  // same two groups
  // Smoothed EDF: (selected + 1/2) / (n + 1) = 3.5/6 and 1.5/5.
  EXPECT_NEAR(v("smoothed_empirical_differential_fairness"),
              std::max(std::log(3.5 / 6) - std::log(0.3), std::log(0.7) - std::log(2.5 / 6)), 1e-15);
  // CDD: DD_A = 2/5 - 3/4, DD_B = 3/5 - 1/4, weighted by 5 and 4 rows.
  EXPECT_NEAR(v("conditional_demographic_disparity"), (5 * (0.4 - 0.75) + 4 * (0.6 - 0.25)) / 9, 1e-15);
}

TEST(FairnessMetrics, FairlearnConventionOnAHandTable) {
  const auto m = ByName(EvaluateMetrics(HandCounts(), HandOptions()));
  auto v = [&](const char* name) { return m.at(std::string("fairlearn.") + name).value; };
  EXPECT_NEAR(v("demographic_parity_difference"), 0.35, 1e-15);
  EXPECT_NEAR(v("demographic_parity_ratio"), 0.25 / 0.6, 1e-15);
  EXPECT_NEAR(v("demographic_parity_difference_to_overall"), 4.0 / 9 - 0.25, 1e-15);
  EXPECT_NEAR(v("demographic_parity_ratio_to_overall"), 0.25 / (4.0 / 9), 1e-15);
  EXPECT_NEAR(v("equalized_odds_difference"), 0.5, 1e-15);
  EXPECT_NEAR(v("equalized_odds_ratio"), 0.0, 1e-15);
  EXPECT_NEAR(v("equal_opportunity_difference"), 2.0 / 3 - 0.5, 1e-15);
  EXPECT_NEAR(v("equal_opportunity_ratio"), 0.75, 1e-15);
  EXPECT_NEAR(v("equal_opportunity_difference_to_overall"), 3.0 / 5 - 0.5, 1e-15);  // overall TPR 3/5
  EXPECT_NEAR(v("accuracy_score_difference"), 0.75 - 0.6, 1e-15);
  EXPECT_NEAR(v("accuracy_score_group_min"), 0.6, 1e-15);
  EXPECT_NEAR(v("precision_score_ratio"), (2.0 / 3) / 1.0, 1e-15);
  EXPECT_NEAR(v("f1_score_group_max"), 4.0 / 6, 1e-15);  // A: 2tp/(2tp+fp+fn) = 4/6, B: 2/3
  EXPECT_NEAR(v("balanced_accuracy_score_group_min"), 0.5 * (2.0 / 3 + 0.5), 1e-15);
  EXPECT_NEAR(v("zero_one_loss_difference"), 0.15, 1e-15);
  EXPECT_NEAR(m.at("loupe.four_fifths_impact_ratio").value, 0.25 / 0.6, 1e-15);
  EXPECT_EQ(m.at("loupe.groups_below_four_fifths").value, 1);

  MetricOptions mean = HandOptions();
  mean.equalized_odds_mean = true;
  const auto m2 = ByName(EvaluateMetrics(HandCounts(), mean));
  EXPECT_NEAR(m2.at("fairlearn.equalized_odds_difference").value, 0.5 * (1.0 / 6 + 0.5), 1e-15);
  EXPECT_NEAR(m2.at("fairlearn.equalized_odds_ratio").value, 0.5 * 0.75, 1e-15);
}

TEST(FairnessMetrics, UndefinedRatesAreNaNWithAReason) {
  GroupCounts counts = HandCounts();
  counts.weighted[1] = Confusion{0, 1, 3, 0};  // group B: no favourable true labels
  counts.rows = counts.weighted;
  const auto m = ByName(EvaluateMetrics(counts, HandOptions()));
  EXPECT_TRUE(std::isnan(m.at("aif360.equal_opportunity_difference").value));
  EXPECT_NE(m.at("aif360.equal_opportunity_difference").note.find("unprivileged"), std::string::npos);
  // fairlearn takes the spread over the groups where TPR is defined, and says so.
  EXPECT_EQ(m.at("fairlearn.true_positive_rate_difference").value, 0.0);
  EXPECT_NE(m.at("fairlearn.true_positive_rate_difference").note.find("'g=B'"), std::string::npos);
  EXPECT_FALSE(std::isnan(m.at("aif360.statistical_parity_difference").value));

  MetricOptions no_partition = HandOptions();
  no_partition.privileged.clear();
  const auto m2 = ByName(EvaluateMetrics(HandCounts(), no_partition));
  EXPECT_TRUE(std::isnan(m2.at("aif360.disparate_impact").value));
  EXPECT_NE(m2.at("aif360.disparate_impact").note.find("'privileged'"), std::string::npos);
  EXPECT_FALSE(std::isnan(m2.at("aif360.theil_index").value));
}

TEST(FairnessMetrics, SameOrderForAnyCounts) {
  const auto a = EvaluateMetrics(HandCounts(), HandOptions());
  GroupCounts empty;
  empty.weighted.assign(2, Confusion{});
  empty.rows = empty.weighted;
  const auto b = EvaluateMetrics(empty, HandOptions());
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].name, b[i].name);
}

TEST(FairnessSampling, BinomialMomentsMatch) {
  for (const auto& [n, p] :
       std::vector<std::pair<std::int64_t, double>>{{20, 0.1}, {1000, 0.3}, {100000, 0.77}, {7, 0.5}}) {
    double sum = 0, sq = 0;
    const int draws = 20000;
    for (int i = 0; i < draws; ++i) {
      loupe::sdk::Rng rng(3, static_cast<std::uint64_t>(i), 9);
      const auto x = static_cast<double>(Binomial(n, p, rng));
      ASSERT_GE(x, 0);
      ASSERT_LE(x, n);
      sum += x;
      sq += x * x;
    }
    const double mean = sum / draws, var = sq / draws - mean * mean;
    const double true_var = n * p * (1 - p);
    EXPECT_NEAR(mean, n * p, 5 * std::sqrt(true_var / draws)) << n << " " << p;
    EXPECT_NEAR(var / true_var, 1.0, 0.05) << n << " " << p;
  }
}

TEST(FairnessSampling, MultinomialSumsToDrawsAndRespectsEmptyCells) {
  loupe::sdk::Rng rng(1, 2, 3);
  const auto counts = Multinomial(1000, {5, 0, 300, 695}, rng);
  EXPECT_EQ(counts[0] + counts[1] + counts[2] + counts[3], 1000);
  EXPECT_EQ(counts[1], 0);
}

}  // namespace
}  // namespace loupe::fairness
