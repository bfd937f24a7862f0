// Dense solves shared by shap.kernel's weighted least squares and the LARS feature selection.
#pragma once

#include <cstdint>
#include <vector>

namespace loupe::shap {

// Solves the symmetric system a x = b (n x n, row-major) for `nrhs` right-hand sides b[nrhs][n] in place:
// LU with partial pivoting (numpy's inv); when a pivot vanishes, the Moore-Penrose pseudo-inverse from a
// Jacobi eigendecomposition (numpy's pinv, rcond 1e-15), as shap falls back. Returns false in that case.
bool SolveSymmetric(std::vector<double> a, std::int64_t n, std::int64_t nrhs, double* b);

}  // namespace loupe::shap
