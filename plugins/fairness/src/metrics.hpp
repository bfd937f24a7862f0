// Group fairness metrics from per-group confusion counts, with AIF360's and fairlearn's conventions.
//
// Every metric here (all but consistency, see consistency.hpp) is a function of the per-group confusion
// matrices: sums of sample weights of true/false positives/negatives, with "positive" meaning the
// favourable label, plus the same counted in rows (AIF360's entropy indices ignore sample weights). That
// makes the bootstrap cheap: a replicate only re-draws these counts.
//
// Conventions (docs/REFERENCES "Fairness"): AIF360 compares the unprivileged union u with the privileged
// union p, signed u - p and ratios u / p, never flipped; fairlearn compares all (intersectional) groups,
// max - min and min / max (`between_groups`) or against the overall value (`to_overall`). A value whose
// denominator is zero is NaN and carries a note saying why; the report writes it as null.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace loupe::fairness {

// One confusion matrix; "positive" is the favourable label.
struct Confusion {
  double tp = 0, fp = 0, tn = 0, fn = 0;

  double Total() const { return tp + fp + tn + fn; }
  double Positives() const { return tp + fn; }    // y = favourable
  double Negatives() const { return fp + tn; }    // y != favourable
  double Selected() const { return tp + fp; }     // y_pred = favourable
  double NotSelected() const { return tn + fn; }  // y_pred != favourable
  Confusion& operator+=(const Confusion& other) {
    tp += other.tp;
    fp += other.fp;
    tn += other.tn;
    fn += other.fn;
    return *this;
  }
};

// The rates of one confusion matrix; NaN where the denominator is zero.
struct Rates {
  double base_rate, selection_rate;
  double tpr, fpr, tnr, fnr;
  double ppv, npv, fdr, for_rate;
  double accuracy, error_rate, f1, balanced_accuracy;
};
Rates ComputeRates(const Confusion& c);

// a / b, NaN when b == 0.
double Divide(double a, double b);

// The sufficient statistics: one confusion matrix per group, in sample weights and in rows.
struct GroupCounts {
  std::vector<Confusion> weighted;
  std::vector<Confusion> rows;

  std::size_t size() const { return weighted.size(); }
};

// How the metrics are computed (everything but the counts).
struct MetricOptions {
  std::vector<std::string> group_names;  // for notes
  std::vector<char> privileged;          // per group; empty when no privileged groups were given
  bool equalized_odds_mean = false;      // fairlearn agg="mean" instead of "worst_case"
  double concentration = 1.0;            // smoothed EDF's Dirichlet concentration
};

// One named value. `note` says why the value is NaN, or qualifies a defined value.
struct Metric {
  std::string block;  // "aif360", "fairlearn" or "loupe"
  std::string name;
  double value;
  std::string note;
};

// Every count-based metric, always in the same order for the same options and group count (the bootstrap
// relies on it).
std::vector<Metric> EvaluateMetrics(const GroupCounts& counts, const MetricOptions& options);

// Generalized entropy index GE(alpha) of the benefits b_i, given as how many rows have b = 0, 1, 2 (AIF360:
// b_i = y_pred_i - y_i + 1). NaN for alpha = 0 when some b_i = 0 (the index is +infinity) or when every
// b_i = 0 (mean 0). `why` receives the reason.
double GeneralizedEntropy(const double counts[3], double alpha, std::string* why);

// Between-group GE(alpha): each row's benefit replaced by its group's mean benefit; `groups` holds each
// group's row counts of b = 0, 1, 2.
double BetweenGroupEntropy(const std::vector<std::array<double, 3>>& groups, double alpha, std::string* why);

}  // namespace loupe::fairness
