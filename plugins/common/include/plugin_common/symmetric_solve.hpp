// Dense symmetric solves shared by the built-in plugins: shap.kernel's weighted least squares, the LARS
// path (shap's l1_reg, lime's lasso_path) and lime's local ridge models.
//
// Plugin-side code: compiled into each plugin that links it (a static library with hidden visibility), so a
// plugin still sees only the SDK and its own code (docs/architecture.md §2).
#pragma once

#include <cstdint>
#include <vector>

namespace loupe::plugin_common {

// How SolveSymmetric solves (a + ridge I) x = b.
struct SymmetricSolveOptions {
  // Added to every diagonal entry first (lime's ridge alpha); 0 solves a x = b.
  double ridge = 0.0;
  // true: LU with partial pivoting (numpy's inv), falling back to the pseudo-inverse only when a pivot
  // vanishes, as shap does. false: always the pseudo-inverse (the minimum-norm solution an SVD-based
  // least-squares solver gives, as scikit-learn's Ridge does for lime).
  bool lu_first = true;
  // The pseudo-inverse drops eigenvalues at or below rcond times the largest |eigenvalue| (numpy's pinv
  // uses 1e-15).
  double rcond = 1e-15;
};

// Solves the symmetric system (a + ridge I) x = b (n x n, row-major) for `nrhs` right-hand sides
// b[nrhs][n], in place. Returns true when LU solved it, false when the pseudo-inverse did (a singular
// system, or options.lu_first false).
bool SolveSymmetric(std::vector<double> a, std::int64_t n, std::int64_t nrhs, double* b,
                    const SymmetricSolveOptions& options = {});

// The eigendecomposition a = V diag(values) V^T of a symmetric n x n matrix (row-major) by cyclic Jacobi
// rotations: values[n], and the eigenvectors as the columns of vectors[n][n] (row-major).
struct SymmetricEigen {
  std::vector<double> values;
  std::vector<double> vectors;
};
SymmetricEigen DecomposeSymmetric(std::vector<double> a, std::int64_t n);

}  // namespace loupe::plugin_common
