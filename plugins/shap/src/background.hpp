// The `background` parameter of the shap explainers (DESIGN.md §5): the rows whose values replace the
// features outside a coalition.
#pragma once

#include <cstdint>
#include <vector>

#include "loupe/sdk/host.hpp"

namespace loupe::shap {

// RNG stream of the seeded background sample (a count N), so it never collides with other draws.
inline constexpr std::uint64_t kBackgroundStream = 0x5348415042470000ULL;  // "SHAPBG"

// Resolves `background` ("a:b", a list of rows, a count N drawn with the step seed, or "all") into data
// rows. A count of at least the data's row count means every row, as with shap when the data is smaller
// than the requested sample. Throws loupe::sdk::Error naming the parameter when it selects no row.
std::vector<std::int64_t> ResolveBackground(const loupe::sdk::Host& host, std::int64_t n_rows);

}  // namespace loupe::shap
