// AIF360's consistency (Zemel et al. 2013): 1 - mean_i |y_i - mean of y over the k nearest neighbours of
// x_i|, the neighbours found among all rows by euclidean distance on the features as given (the row itself
// is among them). Neighbours are found exactly (brute force, ties broken by the lower row index), in
// parallel over rows, so the result does not depend on the thread count.
#pragma once

#include <cstdint>
#include <vector>

#include "loupe/sdk/host.hpp"

namespace loupe::fairness {

// x: n rows of d features, row-major. Returns n*k neighbour indices (0..n-1), each row's nearest first.
// `standardize` z-scores each column first (population standard deviation; constant columns are centred).
std::vector<std::int64_t> NearestNeighbours(const loupe::sdk::Host& host, std::vector<double> x,
                                            std::int64_t n, std::int64_t d, std::int64_t k, bool standardize);

// 1 - mean_i |y_i - mean_{j in N(i)} y_j| for neighbours from NearestNeighbours.
double ConsistencyScore(const std::vector<std::int64_t>& neighbours, const std::vector<double>& y,
                        std::int64_t k);

}  // namespace loupe::fairness
