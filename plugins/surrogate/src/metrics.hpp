// Agreement measures between two label or value vectors, as scikit-learn's metrics define them.
#pragma once

#include <cstdint>
#include <vector>

namespace loupe::surrogate {

// Fraction of positions where the labels agree (sklearn accuracy_score); NaN for empty input.
double Accuracy(const std::vector<std::int32_t>& truth, const std::vector<std::int32_t>& predicted);

// Unweighted mean of the per-label F1 over the labels present in `truth` or `predicted` (sklearn
// f1_score(average="macro")); a label with no true and no predicted positives never enters, one whose
// precision or recall is undefined scores 0 (sklearn's zero_division default). Labels < 0 (unknown)
// count as wrong answers and never as a label.
double MacroF1(const std::vector<std::int32_t>& truth, const std::vector<std::int32_t>& predicted);

// Coefficient of determination (sklearn r2_score): 1 - SS_res / SS_tot; when SS_tot is 0, 1 for a
// perfect prediction and 0 otherwise (force_finite). NaN for empty input.
double R2(const std::vector<double>& truth, const std::vector<double>& predicted);

}  // namespace loupe::surrogate
