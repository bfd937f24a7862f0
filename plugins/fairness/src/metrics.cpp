#include "metrics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "json_values.hpp"

namespace loupe::fairness {
namespace {

// GE(alpha) of a distribution of values v_j held by c_j rows each (rows with c_j = 0 are ignored).
double EntropyOfValues(const std::vector<double>& values, const std::vector<double>& counts, double alpha,
                       std::string* why) {
  double n = 0, total = 0;
  for (std::size_t j = 0; j < values.size(); ++j) {
    n += counts[j];
    total += counts[j] * values[j];
  }
  if (n == 0) {
    *why = "there are no rows";
    return kNaN;
  }
  const double mean = total / n;
  if (mean == 0) {
    *why = "every benefit b = y_pred - y + 1 is 0, so their mean is 0";
    return kNaN;
  }
  double sum = 0;
  for (std::size_t j = 0; j < values.size(); ++j) {
    if (counts[j] == 0) continue;
    const double ratio = values[j] / mean;
    if (alpha == 1) {
      if (ratio > 0) sum += counts[j] * ratio * std::log(ratio);  // 0 ln 0 = 0
    } else if (alpha == 0) {
      if (ratio == 0) {
        *why =
            "some benefit b = y_pred - y + 1 is 0 (a false negative), so the mean log deviation is +infinity";
        return kNaN;
      }
      sum -= counts[j] * std::log(ratio);
    } else {
      sum += counts[j] * (std::pow(ratio, alpha) - 1);
    }
  }
  if (alpha == 0 || alpha == 1) return sum / n;
  return sum / (n * alpha * (alpha - 1));
}

// Collects metrics in order.
class Sink {
 public:
  explicit Sink(const char* block) : block_(block) {}
  void Add(std::string name, double value, std::string note = {}) {
    out_.push_back(Metric{block_, std::move(name), value, std::move(note)});
  }
  void SetBlock(const char* block) { block_ = block; }
  std::vector<Metric> Take() { return std::move(out_); }

 private:
  const char* block_;
  std::vector<Metric> out_;
};

// A per-group rate accessor with fairlearn's function name and a phrase for notes.
struct RateDef {
  const char* fairlearn_name;
  double Rates::*field;
  const char* undefined_when;  // why the rate is undefined in a group
};

constexpr RateDef kFairlearnRates[] = {
    {"selection_rate", &Rates::selection_rate, "has no rows with weight"},
    {"true_positive_rate", &Rates::tpr, "has no favourable true labels"},
    {"false_positive_rate", &Rates::fpr, "has no unfavourable true labels"},
    {"true_negative_rate", &Rates::tnr, "has no unfavourable true labels"},
    {"false_negative_rate", &Rates::fnr, "has no favourable true labels"},
    {"accuracy_score", &Rates::accuracy, "has no rows with weight"},
    {"balanced_accuracy_score", &Rates::balanced_accuracy, "lacks favourable or unfavourable true labels"},
    {"precision_score", &Rates::ppv, "has no favourable predictions"},
    {"recall_score", &Rates::tpr, "has no favourable true labels"},
    {"f1_score", &Rates::f1, "has neither favourable true labels nor favourable predictions"},
    {"zero_one_loss", &Rates::error_rate, "has no rows with weight"},
};

// min, max over the groups where a rate is defined, and the groups where it is not.
struct Spread {
  double min = kNaN, max = kNaN;
  std::vector<std::size_t> undefined;
  bool Any() const { return !std::isnan(min); }
};

Spread SpreadOf(const std::vector<double>& values) {
  Spread spread;
  for (std::size_t g = 0; g < values.size(); ++g) {
    if (std::isnan(values[g])) {
      spread.undefined.push_back(g);
    } else if (!spread.Any()) {
      spread.min = spread.max = values[g];
    } else {
      spread.min = std::min(spread.min, values[g]);
      spread.max = std::max(spread.max, values[g]);
    }
  }
  return spread;
}

std::string Quoted(const std::vector<std::string>& names, const std::vector<std::size_t>& which) {
  std::string out;
  for (std::size_t i = 0; i < which.size(); ++i) {
    if (i > 0) out += i + 1 == which.size() ? " and " : ", ";
    out += "'" + names[which[i]] + "'";
  }
  return out;
}

// fairlearn's difference/ratio of one per-group rate, between groups or to the overall value.
class Across {
 public:
  Across(const RateDef& def, const std::vector<Rates>& groups, const Rates& overall,
         const std::vector<std::string>& names)
      : def_(def), names_(names), overall_(overall.*def.field) {
    for (const Rates& rates : groups) values_.push_back(rates.*def.field);
    spread_ = SpreadOf(values_);
    if (!spread_.undefined.empty()) {
      const bool one = spread_.undefined.size() == 1;
      skipped_ = std::string(def.fairlearn_name) + " is undefined in group" + (one ? " " : "s ") +
                 Quoted(names, spread_.undefined) + " (" + (one ? "it " : "each ") + def.undefined_when +
                 "); the value is taken over the other groups";
    }
  }

  double Difference(std::string* note) const {
    if (!spread_.Any()) return Undefined(note);
    *note = skipped_;
    return spread_.max - spread_.min;
  }
  double Ratio(std::string* note) const {
    if (!spread_.Any()) return Undefined(note);
    if (spread_.max == 0) {
      *note = std::string("the ratio is 0/0: ") + def_.fairlearn_name + " is 0 in every group";
      return kNaN;
    }
    *note = skipped_;
    return spread_.min / spread_.max;
  }
  double GroupMin(std::string* note) const {
    if (!spread_.Any()) return Undefined(note);
    *note = skipped_;
    return spread_.min;
  }
  double GroupMax(std::string* note) const {
    if (!spread_.Any()) return Undefined(note);
    *note = skipped_;
    return spread_.max;
  }
  double DifferenceToOverall(std::string* note) const {
    if (std::isnan(overall_)) return UndefinedOverall(note);
    if (!spread_.Any()) return Undefined(note);
    double worst = 0;
    for (const double value : values_) {
      if (!std::isnan(value)) worst = std::max(worst, std::fabs(value - overall_));
    }
    *note = skipped_;
    return worst;
  }
  double RatioToOverall(std::string* note) const {
    if (std::isnan(overall_)) return UndefinedOverall(note);
    if (!spread_.Any()) return Undefined(note);
    if (overall_ == 0) {
      *note = std::string("the ratio to overall divides by 0: the overall ") + def_.fairlearn_name + " is 0";
      return kNaN;
    }
    double worst = std::numeric_limits<double>::infinity();
    for (const double value : values_) {
      if (std::isnan(value)) continue;
      const double ratio = value / overall_;
      worst = std::min(worst, ratio == 0 ? 0.0 : std::min(ratio, 1 / ratio));
    }
    *note = skipped_;
    return worst;
  }

 private:
  double Undefined(std::string* note) const {
    *note =
        std::string(def_.fairlearn_name) + " is undefined in every group (each " + def_.undefined_when + ")";
    return kNaN;
  }
  double UndefinedOverall(std::string* note) const {
    *note =
        std::string("the overall ") + def_.fairlearn_name + " is undefined: the data " + def_.undefined_when;
    return kNaN;
  }

  const RateDef& def_;
  const std::vector<std::string>& names_;
  double overall_;
  std::vector<double> values_;
  Spread spread_;
  std::string skipped_;
};

const RateDef& Def(const char* name) {
  for (const RateDef& def : kFairlearnRates) {
    if (std::string(def.fairlearn_name) == name) return def;
  }
  return kFairlearnRates[0];
}

// AIF360's difference u - p and ratio u / p of one rate of the privileged partition.
struct PartitionRate {
  double u, p;
  std::string why;  // non-empty when u or p is undefined
};

// The unprivileged and privileged partitions of the groups (AIF360's split), or why there is none.
struct Partition {
  Confusion u_w, p_w, u_rows, p_rows;  // weighted and row counts of each side
  std::string why;                     // non-empty when the split is not available
};

Partition SplitByPrivilege(const GroupCounts& counts, const MetricOptions& options) {
  Partition split;
  const bool has_partition = !options.privileged.empty();
  bool any_u = false, any_p = false;
  for (std::size_t g = 0; has_partition && g < counts.size(); ++g) {
    if (options.privileged[g]) {
      split.p_w += counts.weighted[g];
      split.p_rows += counts.rows[g];
      any_p = any_p || counts.rows[g].Total() > 0;
    } else {
      split.u_w += counts.weighted[g];
      split.u_rows += counts.rows[g];
      any_u = any_u || counts.rows[g].Total() > 0;
    }
  }
  if (!has_partition) {
    split.why = "parameter 'privileged' is not set, so there is no privileged/unprivileged split";
  } else if (!any_p) {
    split.why = "no row belongs to a privileged group";
  } else if (!any_u) {
    split.why = "no row belongs to an unprivileged group";
  }
  return split;
}

// AIF360's differences (unprivileged - privileged) and ratios of the partition's rates.
void AddAif360RateMetrics(Sink& sink, const Partition& split) {
  const Rates ru = ComputeRates(split.u_w);
  const Rates rp = ComputeRates(split.p_w);
  const std::string& partition_why = split.why;

  // Emits difference and/or ratio for a rate; reasons name the side whose rate is undefined.
  auto rate = [&](double Rates::*field, const char* what) -> PartitionRate {
    PartitionRate out{ru.*field, rp.*field, partition_why};
    if (out.why.empty() && std::isnan(out.u))
      out.why = std::string("the unprivileged groups' ") + what + " is undefined";
    if (out.why.empty() && std::isnan(out.p))
      out.why = std::string("the privileged groups' ") + what + " is undefined";
    return out;
  };
  auto difference = [&](const char* name, const PartitionRate& r) {
    if (!r.why.empty()) return sink.Add(name, kNaN, r.why);
    sink.Add(name, r.u - r.p);
  };
  auto ratio = [&](const char* name, const PartitionRate& r, const char* what) {
    if (!r.why.empty()) return sink.Add(name, kNaN, r.why);
    if (r.p == 0)
      return sink.Add(name, kNaN,
                      std::string("the privileged groups' ") + what + " is 0, so the ratio divides by 0");
    sink.Add(name, r.u / r.p);
  };

  const PartitionRate sr = rate(&Rates::selection_rate, "selection rate");
  const PartitionRate tpr = rate(&Rates::tpr, "true positive rate");
  const PartitionRate fpr = rate(&Rates::fpr, "false positive rate");
  const PartitionRate fnr = rate(&Rates::fnr, "false negative rate");
  const PartitionRate fdr = rate(&Rates::fdr, "false discovery rate");
  const PartitionRate for_rate = rate(&Rates::for_rate, "false omission rate");
  const PartitionRate err = rate(&Rates::error_rate, "error rate");

  difference("statistical_parity_difference", sr);
  ratio("disparate_impact", sr, "selection rate");
  difference("equal_opportunity_difference", tpr);
  difference("true_positive_rate_difference", tpr);
  const std::string odds_why = !tpr.why.empty() ? tpr.why : fpr.why;
  if (!odds_why.empty()) {
    sink.Add("average_odds_difference", kNaN, odds_why);
    sink.Add("average_abs_odds_difference", kNaN, odds_why);
    sink.Add("equalized_odds_difference", kNaN, odds_why);
  } else {
    const double dfpr = fpr.u - fpr.p, dtpr = tpr.u - tpr.p;
    sink.Add("average_odds_difference", 0.5 * (dfpr + dtpr));
    sink.Add("average_abs_odds_difference", 0.5 * (std::fabs(dfpr) + std::fabs(dtpr)));
    sink.Add("equalized_odds_difference", std::max(std::fabs(dfpr), std::fabs(dtpr)));
  }
  difference("false_positive_rate_difference", fpr);
  ratio("false_positive_rate_ratio", fpr, "false positive rate");
  difference("false_negative_rate_difference", fnr);
  ratio("false_negative_rate_ratio", fnr, "false negative rate");
  difference("false_discovery_rate_difference", fdr);
  ratio("false_discovery_rate_ratio", fdr, "false discovery rate");
  difference("false_omission_rate_difference", for_rate);
  ratio("false_omission_rate_ratio", for_rate, "false omission rate");
  difference("error_rate_difference", err);
  ratio("error_rate_ratio", err, "error rate");
}

// The entropy indices of the benefits b = y_pred - y + 1 over all rows, between the partition's two
// sides and between all groups. Over rows: AIF360 ignores instance weights here.
void AddAif360EntropyIndices(Sink& sink, const GroupCounts& counts, const Partition& split) {
  auto benefits = [](const Confusion& c) { return std::array<double, 3>{c.fn, c.tp + c.tn, c.fp}; };
  Confusion all_rows;
  for (const Confusion& c : counts.rows) all_rows += c;
  const std::array<double, 3> all = benefits(all_rows);
  std::string why;
  auto add_entropy = [&](const char* name, double value) {
    sink.Add(name, value, std::isnan(value) ? why : std::string());
    why.clear();
  };
  add_entropy("generalized_entropy_index", GeneralizedEntropy(all.data(), 2, &why));
  add_entropy("generalized_entropy_index_alpha_0", GeneralizedEntropy(all.data(), 0, &why));
  add_entropy("theil_index", GeneralizedEntropy(all.data(), 1, &why));
  const double ge2 = GeneralizedEntropy(all.data(), 2, &why);
  add_entropy("coefficient_of_variation", std::sqrt(2 * ge2));

  auto add_between = [&](const char* prefix, const std::vector<std::array<double, 3>>& groups,
                         const std::string& unavailable) {
    const std::string p(prefix);
    const char* names[] = {"generalized_entropy_index", "generalized_entropy_index_alpha_0", "theil_index",
                           "coefficient_of_variation"};
    const double alphas[] = {2, 0, 1, 2};
    for (int i = 0; i < 4; ++i) {
      const std::string name = p + names[i];
      if (!unavailable.empty()) {
        sink.Add(name, kNaN, unavailable);
        continue;
      }
      double value = BetweenGroupEntropy(groups, alphas[i], &why);
      if (i == 3) value = std::sqrt(2 * value);
      add_entropy(name.c_str(), value);
    }
  };
  add_between("between_group_", {benefits(split.u_rows), benefits(split.p_rows)}, split.why);
  std::vector<std::array<double, 3>> all_groups;
  for (const Confusion& c : counts.rows) all_groups.push_back(benefits(c));
  add_between("between_all_groups_", all_groups, "");
}

// Smoothed empirical differential fairness over the (intersectional) groups, on the predictions.
void AddDifferentialFairness(Sink& sink, const GroupCounts& counts, const MetricOptions& options) {
  std::vector<double> smoothed;
  for (std::size_t g = 0; g < counts.size(); ++g) {
    const Confusion& c = counts.weighted[g];
    if (counts.rows[g].Total() == 0 || (c.Total() == 0 && options.concentration == 0)) continue;
    smoothed.push_back((c.Selected() + options.concentration / 2) / (c.Total() + options.concentration));
  }
  if (smoothed.size() < 2) {
    sink.Add("smoothed_empirical_differential_fairness", kNaN,
             "differential fairness compares pairs of groups and there is only one group");
  } else {
    const auto [lo, hi] = std::minmax_element(smoothed.begin(), smoothed.end());
    if (*lo <= 0 || *hi >= 1) {
      sink.Add("smoothed_empirical_differential_fairness", kNaN,
               "a group's smoothed selection rate is 0 or 1 (concentration 0), so its logarithm is infinite");
    } else {
      sink.Add("smoothed_empirical_differential_fairness",
               std::max(std::log(*hi) - std::log(*lo), std::log1p(-*lo) - std::log1p(-*hi)));
    }
  }
}

// Conditional demographic disparity (AIF360's definition over the groups, on the predictions).
void AddConditionalDemographicDisparity(Sink& sink, const GroupCounts& counts) {
  Confusion all_w;
  for (const Confusion& c : counts.weighted) all_w += c;
  if (all_w.Selected() == 0 || all_w.NotSelected() == 0) {
    sink.Add("conditional_demographic_disparity", kNaN,
             std::string("no row is predicted ") + (all_w.Selected() == 0 ? "favourable" : "unfavourable") +
                 ", so the demographic disparities divide by 0");
  } else {
    double sum = 0;
    for (const Confusion& c : counts.weighted) {
      sum += c.Total() * (c.NotSelected() / all_w.NotSelected() - c.Selected() / all_w.Selected());
    }
    sink.Add("conditional_demographic_disparity", sum / all_w.Total());
  }
}

void AddAif360(Sink& sink, const GroupCounts& counts, const MetricOptions& options) {
  const Partition split = SplitByPrivilege(counts, options);
  AddAif360RateMetrics(sink, split);
  AddAif360EntropyIndices(sink, counts, split);
  AddDifferentialFairness(sink, counts, options);
  AddConditionalDemographicDisparity(sink, counts);
}

void AddFairlearn(Sink& sink, const std::vector<Rates>& groups, const Rates& overall,
                  const MetricOptions& options) {
  const auto& names = options.group_names;
  std::string note;
  auto add = [&](std::string name, double value) {
    sink.Add(std::move(name), value, note);
    note.clear();
  };
  const Across sr(Def("selection_rate"), groups, overall, names);
  const Across tpr(Def("true_positive_rate"), groups, overall, names);
  const Across fpr(Def("false_positive_rate"), groups, overall, names);

  add("demographic_parity_difference", sr.Difference(&note));
  add("demographic_parity_ratio", sr.Ratio(&note));
  add("demographic_parity_difference_to_overall", sr.DifferenceToOverall(&note));
  add("demographic_parity_ratio_to_overall", sr.RatioToOverall(&note));

  // equalized odds: agg over the TPR and FPR differences (ratios); NaN if either is undefined.
  auto combine = [&](const char* name, double a, const std::string& note_a, double b,
                     const std::string& note_b, bool larger_is_worse) {
    note = !note_a.empty() ? note_a : note_b;
    if (std::isnan(a) || std::isnan(b)) return add(name, kNaN);
    if (!note_a.empty() && !note_b.empty() && note_a != note_b) note = note_a + "; " + note_b;
    double value;
    if (options.equalized_odds_mean) {
      value = 0.5 * (a + b);
    } else {
      value = larger_is_worse ? std::max(a, b) : std::min(a, b);
    }
    add(name, value);
  };
  std::string na, nb;
  double a = tpr.Difference(&na), b = fpr.Difference(&nb);
  combine("equalized_odds_difference", a, na, b, nb, true);
  a = tpr.Ratio(&na), b = fpr.Ratio(&nb);
  combine("equalized_odds_ratio", a, na, b, nb, false);
  a = tpr.DifferenceToOverall(&na), b = fpr.DifferenceToOverall(&nb);
  combine("equalized_odds_difference_to_overall", a, na, b, nb, true);
  a = tpr.RatioToOverall(&na), b = fpr.RatioToOverall(&nb);
  combine("equalized_odds_ratio_to_overall", a, na, b, nb, false);

  add("equal_opportunity_difference", tpr.Difference(&note));
  add("equal_opportunity_ratio", tpr.Ratio(&note));
  add("equal_opportunity_difference_to_overall", tpr.DifferenceToOverall(&note));
  add("equal_opportunity_ratio_to_overall", tpr.RatioToOverall(&note));

  for (const RateDef& def : kFairlearnRates) {
    const Across across(def, groups, overall, names);
    const std::string base(def.fairlearn_name);
    add(base + "_difference", across.Difference(&note));
    add(base + "_ratio", across.Ratio(&note));
    add(base + "_group_min", across.GroupMin(&note));
    add(base + "_group_max", across.GroupMax(&note));
  }
}

void AddLoupe(Sink& sink, const std::vector<Rates>& groups, const MetricOptions& options) {
  // The EEOC four-fifths rule across all groups: each group's selection rate over the highest one.
  const Across sr(Def("selection_rate"), groups, Rates{}, options.group_names);
  std::string note;
  const double ratio = sr.Ratio(&note);
  sink.Add("four_fifths_impact_ratio", ratio, note);
  double below = 0;
  std::vector<std::size_t> which;
  if (!std::isnan(ratio)) {
    double top = 0;
    for (const Rates& r : groups) {
      if (!std::isnan(r.selection_rate)) top = std::max(top, r.selection_rate);
    }
    for (std::size_t g = 0; g < groups.size(); ++g) {
      if (!std::isnan(groups[g].selection_rate) && groups[g].selection_rate < 0.8 * top) {
        ++below;
        which.push_back(g);
      }
    }
  }
  sink.Add("groups_below_four_fifths", std::isnan(ratio) ? kNaN : below,
           std::isnan(ratio)
               ? note
               : (which.empty() ? std::string() : "below: " + Quoted(options.group_names, which)));
}

}  // namespace

double Divide(double a, double b) { return b == 0 ? kNaN : a / b; }

Rates ComputeRates(const Confusion& c) {
  Rates r{};
  const double n = c.Total();
  r.base_rate = Divide(c.Positives(), n);
  r.selection_rate = Divide(c.Selected(), n);
  r.tpr = Divide(c.tp, c.Positives());
  r.fnr = Divide(c.fn, c.Positives());
  r.fpr = Divide(c.fp, c.Negatives());
  r.tnr = Divide(c.tn, c.Negatives());
  r.ppv = Divide(c.tp, c.Selected());
  r.fdr = Divide(c.fp, c.Selected());
  r.npv = Divide(c.tn, c.NotSelected());
  r.for_rate = Divide(c.fn, c.NotSelected());
  r.accuracy = Divide(c.tp + c.tn, n);
  r.error_rate = Divide(c.fp + c.fn, n);
  r.f1 = Divide(2 * c.tp, 2 * c.tp + c.fp + c.fn);
  r.balanced_accuracy = 0.5 * (r.tpr + r.tnr);  // NaN if either is
  return r;
}

double GeneralizedEntropy(const double counts[3], double alpha, std::string* why) {
  return EntropyOfValues({0, 1, 2}, {counts[0], counts[1], counts[2]}, alpha, why);
}

double BetweenGroupEntropy(const std::vector<std::array<double, 3>>& groups, double alpha, std::string* why) {
  std::vector<double> values, counts;
  for (const auto& g : groups) {
    const double n = g[0] + g[1] + g[2];
    if (n == 0) continue;
    values.push_back((g[1] + 2 * g[2]) / n);
    counts.push_back(n);
  }
  const double value = EntropyOfValues(values, counts, alpha, why);
  if (std::isnan(value) && alpha == 0 && why->find("false negative") != std::string::npos) {
    *why =
        "some group's mean benefit is 0 (all its rows are false negatives), so the mean log deviation is "
        "+infinity";
  }
  return value;
}

std::vector<Metric> EvaluateMetrics(const GroupCounts& counts, const MetricOptions& options) {
  std::vector<Rates> group_rates;
  Confusion all;
  for (const Confusion& c : counts.weighted) {
    group_rates.push_back(ComputeRates(c));
    all += c;
  }
  const Rates overall = ComputeRates(all);
  Sink sink("aif360");
  AddAif360(sink, counts, options);
  sink.SetBlock("fairlearn");
  AddFairlearn(sink, group_rates, overall, options);
  sink.SetBlock("loupe");
  AddLoupe(sink, group_rates, options);
  return sink.Take();
}

}  // namespace loupe::fairness
