// The integration rules of integrated gradients, as Captum defines them
// (captum/attr/_utils/approximation_methods.py): for n steps, the points α_k on [0, 1] where the gradient
// is evaluated and the weight of each.
//   riemann_left       α_k = linspace(0, 1 − 1/n, n)            weights 1/n
//   riemann_right      α_k = linspace(1/n, 1, n)                weights 1/n
//   riemann_middle     α_k = linspace(1/(2n), 1 − 1/(2n), n)    weights 1/n
//   riemann_trapezoid  α_k = linspace(0, 1, n)                  weights 1/n, the first and last halved
//   gausslegendre      α_k = (1 + x_k) / 2, weights w_k / 2 for the n-point Gauss–Legendre rule on
//                      [−1, 1] (numpy.polynomial.legendre.leggauss: nodes ascending)
// Captum evaluates its linspace in float32 (torch.linspace); these are the exact values in double, which
// differ from Captum's by float32 rounding (~6e-8 relative).
#pragma once

#include <string>
#include <vector>

namespace loupe::gradients {

struct Quadrature {
  std::vector<double> alphas;   // where the gradient is evaluated, on [0, 1]
  std::vector<double> weights;  // Captum's step_sizes
};

// The rule named as Captum names it (`method` of IntegratedGradients.attribute); throws
// loupe::sdk::Error naming the parameter for another name, or for a Riemann rule with fewer than 2 steps.
Quadrature MakeQuadrature(const std::string& method, int n_steps);

// The n-point Gauss–Legendre nodes (ascending) and weights on [−1, 1], by Newton's method on P_n.
void GaussLegendre(int n, std::vector<double>& nodes, std::vector<double>& weights);

}  // namespace loupe::gradients
