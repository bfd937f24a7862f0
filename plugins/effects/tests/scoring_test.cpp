// The scores against values worked out by hand (and scikit-learn's on the same inputs, quoted).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "loupe/sdk/error.hpp"
#include "scoring.hpp"

namespace {

using namespace loupe::effects;

TEST(Scoring, AccuracyTakesTheFirstMostProbableClassOnTies) {
  const std::vector<double> y = {0, 1, 1, 0};
  const std::vector<double> p = {0.9, 0.1, 0.2, 0.8, 0.5, 0.5, 0.3, 0.7};
  EXPECT_DOUBLE_EQ(Accuracy(y, p.data(), 2), 0.5);  // the tie (row 2) predicts class 0
}

TEST(Scoring, RocAucCountsTiesAsOneHalf) {
  // sklearn.metrics.roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
  const std::vector<double> y = {0, 0, 1, 1};
  const std::vector<double> s = {0.1, 0.4, 0.35, 0.8};
  EXPECT_DOUBLE_EQ(RocAuc(y, 1, s.data(), 1), 0.75);
  // roc_auc_score([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9]) == 0.875
  const std::vector<double> y2 = {0, 1, 0, 1};
  const std::vector<double> s2 = {0.5, 0.5, 0.2, 0.9};
  EXPECT_DOUBLE_EQ(RocAuc(y2, 1, s2.data(), 1), 0.875);
  EXPECT_THROW(RocAuc({1, 1}, 1, s.data(), 1), loupe::sdk::Error);
}

TEST(Scoring, NegLogLossClipsAndRenormalises) {
  // -sklearn.metrics.log_loss([0, 1], [[0.8, 0.2], [0.4, 0.6]]) = (log 0.8 + log 0.6) / 2
  const std::vector<double> y = {0, 1};
  const std::vector<double> p = {0.8, 0.2, 0.4, 0.6};
  EXPECT_NEAR(NegLogLoss(y, p.data(), 2), (std::log(0.8) + std::log(0.6)) / 2, 1e-15);
  // A zero probability of the truth is clipped to eps, not -inf.
  const std::vector<double> certain = {1.0, 0.0};
  EXPECT_NEAR(NegLogLoss({1}, certain.data(), 2),
              std::log(2.220446049250313e-16 / (1 + 2.220446049250313e-16)), 1e-9);
}

TEST(Scoring, R2IsOneMinusResidualOverTotal) {
  // sklearn.metrics.r2_score([3, -0.5, 2, 7], [2.5, 0.0, 2, 8]) == 0.9486081370449679
  const std::vector<double> y = {3, -0.5, 2, 7};
  const std::vector<double> f = {2.5, 0.0, 2, 8};
  EXPECT_NEAR(R2(y, f.data(), 1), 0.9486081370449679, 1e-15);
  const std::vector<double> constant = {1, 1};
  EXPECT_EQ(R2({1, 1}, constant.data(), 1), 1.0);
}

TEST(Scoring, ParsesTheFourNamesAndRefusesOthers) {
  EXPECT_EQ(ParseScoring("roc_auc"), Scoring::kRocAuc);
  EXPECT_STREQ(ScoringName(ParseScoring("neg_log_loss")), "neg_log_loss");
  EXPECT_THROW(ParseScoring("f1"), loupe::sdk::Error);
}

}  // namespace
