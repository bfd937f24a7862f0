#include "quadrature.hpp"

#include <cmath>

#include "loupe/sdk/error.hpp"

namespace loupe::gradients {
namespace {

// n evenly spaced values from `first` to `last` inclusive (torch.linspace).
std::vector<double> Linspace(double first, double last, int n) {
  std::vector<double> values(static_cast<std::size_t>(n));
  for (int k = 0; k < n; ++k) {
    values[static_cast<std::size_t>(k)] = n == 1 ? first : first + (last - first) * k / (n - 1);
  }
  return values;
}

}  // namespace

void GaussLegendre(int n, std::vector<double>& nodes, std::vector<double>& weights) {
  nodes.assign(static_cast<std::size_t>(n), 0.0);
  weights.assign(static_cast<std::size_t>(n), 0.0);
  const double pi = 3.14159265358979323846;
  for (int i = 0; i < (n + 1) / 2; ++i) {
    double x = std::cos(pi * (i + 0.75) / (n + 0.5));  // the i-th largest root's usual first guess
    double derivative = 0.0;
    for (int iteration = 0; iteration < 100; ++iteration) {
      double p0 = 1.0, p1 = x;  // P_0, P_1, then the recurrence up to P_n
      for (int k = 2; k <= n; ++k) {
        const double p2 = ((2.0 * k - 1.0) * x * p1 - (k - 1.0) * p0) / k;
        p0 = p1;
        p1 = p2;
      }
      derivative = n * (x * p1 - p0) / (x * x - 1.0);
      const double step = p1 / derivative;
      x -= step;
      if (std::abs(step) < 1e-16) break;
    }
    const double w = 2.0 / ((1.0 - x * x) * derivative * derivative);
    nodes[static_cast<std::size_t>(i)] = -x;  // ascending, as numpy
    nodes[static_cast<std::size_t>(n - 1 - i)] = x;
    weights[static_cast<std::size_t>(i)] = weights[static_cast<std::size_t>(n - 1 - i)] = w;
  }
  if (n % 2 == 1) nodes[static_cast<std::size_t>(n / 2)] = 0.0;  // exactly, as numpy's symmetrised nodes
}

Quadrature MakeQuadrature(const std::string& method, int n_steps) {
  Quadrature q;
  if (method == "gausslegendre") {
    std::vector<double> nodes, weights;
    GaussLegendre(n_steps, nodes, weights);
    for (int k = 0; k < n_steps; ++k) {
      q.alphas.push_back(0.5 * (1.0 + nodes[static_cast<std::size_t>(k)]));
      q.weights.push_back(0.5 * weights[static_cast<std::size_t>(k)]);
    }
    return q;
  }
  if (n_steps < 2) {
    throw sdk::InvalidArgument("parameter 'n_steps' must be at least 2 for the Riemann rules, found " +
                               std::to_string(n_steps));
  }
  const double n = n_steps;
  q.weights.assign(static_cast<std::size_t>(n_steps), 1.0 / n);
  if (method == "riemann_left") {
    q.alphas = Linspace(0.0, 1.0 - 1.0 / n, n_steps);
  } else if (method == "riemann_right") {
    q.alphas = Linspace(1.0 / n, 1.0, n_steps);
  } else if (method == "riemann_middle") {
    q.alphas = Linspace(1.0 / (2.0 * n), 1.0 - 1.0 / (2.0 * n), n_steps);
  } else if (method == "riemann_trapezoid") {
    q.alphas = Linspace(0.0, 1.0, n_steps);
    q.weights.front() /= 2.0;
    q.weights.back() /= 2.0;
  } else {
    throw sdk::InvalidArgument(
        "parameter 'method' must be gausslegendre, riemann_left, riemann_right, "
        "riemann_middle or riemann_trapezoid, found \"" +
        method + "\"");
  }
  return q;
}

}  // namespace loupe::gradients
