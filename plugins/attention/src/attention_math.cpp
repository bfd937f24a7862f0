#include "attention_math.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstddef>
#include <stdexcept>

namespace loupe::attention {

Aggregate ParseAggregate(const std::string& name) {
  if (name == "mean") return Aggregate::kMean;
  if (name == "max") return Aggregate::kMax;
  if (name == "none") return Aggregate::kNone;
  throw std::invalid_argument("aggregate must be none, mean or max, found '" + name + "'");
}

std::vector<double> CombineHeads(const float* attention, std::int64_t heads, std::int64_t tokens,
                                 const std::vector<std::int64_t>& layer_indices,
                                 const std::vector<std::int64_t>& head_indices, Aggregate aggregate) {
  const std::int64_t tt = tokens * tokens;
  std::vector<double> out(layer_indices.size() * static_cast<std::size_t>(tt), 0.0);
  for (std::size_t li = 0; li < layer_indices.size(); ++li) {
    double* dst = out.data() + static_cast<std::int64_t>(li) * tt;
    bool first = true;
    for (const std::int64_t h : head_indices) {
      const float* src = attention + (layer_indices[li] * heads + h) * tt;
      for (std::int64_t i = 0; i < tt; ++i) {
        const double v = src[i];
        dst[i] = aggregate == Aggregate::kMax ? (first ? v : std::max(dst[i], v)) : dst[i] + v;
      }
      first = false;
    }
    if (aggregate == Aggregate::kMean) {
      const double n = static_cast<double>(head_indices.size());
      for (std::int64_t i = 0; i < tt; ++i) dst[i] /= n;
    }
  }
  return out;
}

void AddResidual(std::vector<double>& layers, std::int64_t n_layers, std::int64_t tokens) {
  for (std::int64_t l = 0; l < n_layers; ++l) {
    for (std::int64_t q = 0; q < tokens; ++q) {
      double* row = layers.data() + (l * tokens + q) * tokens;
      row[q] += 1.0;
      double sum = 0.0;
      for (std::int64_t k = 0; k < tokens; ++k) sum += row[k];
      for (std::int64_t k = 0; k < tokens; ++k) row[k] /= sum;
    }
  }
}

std::vector<double> Rollout(const std::vector<double>& adjusted, std::int64_t n_layers, std::int64_t tokens) {
  const auto tt = static_cast<std::size_t>(tokens * tokens);
  std::vector<double> rollout(tt, 0.0), next(tt);
  for (std::int64_t i = 0; i < tokens; ++i) rollout[static_cast<std::size_t>(i * tokens + i)] = 1.0;
  for (std::int64_t l = 0; l < n_layers; ++l) {
    const double* a = adjusted.data() + l * tokens * tokens;
    std::fill(next.begin(), next.end(), 0.0);
    for (std::int64_t q = 0; q < tokens; ++q) {
      for (std::int64_t m = 0; m < tokens; ++m) {
        const double w = a[q * tokens + m];
        const double* r = rollout.data() + m * tokens;
        double* out = next.data() + q * tokens;
        for (std::int64_t k = 0; k < tokens; ++k) out[k] += w * r[k];
      }
    }
    rollout.swap(next);
  }
  return rollout;
}

std::vector<double> PooledImportance(const std::vector<double>& matrix, const std::vector<double>& weights,
                                     std::int64_t tokens) {
  std::vector<double> out(static_cast<std::size_t>(tokens), 0.0);
  for (std::int64_t q = 0; q < tokens; ++q) {
    const double w = weights[static_cast<std::size_t>(q)];
    for (std::int64_t k = 0; k < tokens; ++k)
      out[static_cast<std::size_t>(k)] += w * matrix[static_cast<std::size_t>(q * tokens + k)];
  }
  return out;
}

namespace {
bool IsPunctuation(const std::string& token) {
  if (token.empty()) return false;
  return std::all_of(token.begin(), token.end(),
                     [](char c) { return std::ispunct(static_cast<unsigned char>(c)) != 0; });
}
}  // namespace

TokenClasses ClassifyTokens(const std::vector<std::string>& tokens,
                            const std::vector<std::int64_t>& word_index) {
  TokenClasses classes;
  const bool by_word = word_index.size() == tokens.size();
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    // A special token belongs to no word: the first one opens the text ([CLS], <s>), the others close or
    // separate it ([SEP], </s>), whatever the tokenizer calls them.
    const bool special = by_word && word_index[i] < 0;
    classes.cls.push_back(by_word ? special && i == 0 : tokens[i] == "[CLS]");
    classes.sep.push_back(by_word ? special && i > 0 : tokens[i] == "[SEP]");
    classes.punctuation.push_back(IsPunctuation(tokens[i]) ? 1 : 0);
  }
  return classes;
}

HeadStatistics Statistics(const float* matrix, std::int64_t tokens, const TokenClasses& classes) {
  HeadStatistics s;
  for (std::int64_t q = 0; q < tokens; ++q) {
    const float* row = matrix + q * tokens;
    double entropy = 0, max_weight = 0, distance = 0;
    for (std::int64_t k = 0; k < tokens; ++k) {
      const double a = row[k];
      if (a > 0) entropy -= a * std::log(a);
      max_weight = std::max(max_weight, a);
      distance += a * static_cast<double>(std::llabs(q - k));
      const auto at = static_cast<std::size_t>(k);
      if (classes.cls[at]) s.to_cls += a;
      if (classes.sep[at]) s.to_sep += a;
      if (classes.punctuation[at]) s.to_punctuation += a;
    }
    s.entropy += entropy;
    s.max_weight += max_weight;
    s.distance += distance;
  }
  const double n = static_cast<double>(tokens);
  s.entropy /= n;
  s.max_weight /= n;
  s.to_cls /= n;
  s.to_sep /= n;
  s.to_punctuation /= n;
  s.distance /= n;
  return s;
}

void SymmetricEigen(std::vector<double> a, std::int64_t n, std::vector<double>& values,
                    std::vector<double>& vectors) {
  auto at = [n](std::int64_t i, std::int64_t j) { return static_cast<std::size_t>(i * n + j); };
  std::vector<double> v(static_cast<std::size_t>(n * n), 0.0);
  for (std::int64_t i = 0; i < n; ++i) v[at(i, i)] = 1.0;
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0.0, total = 0.0;
    for (std::int64_t i = 0; i < n; ++i) {
      for (std::int64_t j = 0; j < n; ++j) (i == j ? total : off) += a[at(i, j)] * a[at(i, j)];
    }
    if (off <= 1e-30 * (total + off) || off == 0.0) break;
    for (std::int64_t p = 0; p < n; ++p) {
      for (std::int64_t q = p + 1; q < n; ++q) {
        const double apq = a[at(p, q)];
        if (apq == 0.0) continue;
        const double theta = (a[at(q, q)] - a[at(p, p)]) / (2.0 * apq);
        const double t = (theta >= 0 ? 1.0 : -1.0) / (std::fabs(theta) + std::sqrt(theta * theta + 1.0));
        const double c = 1.0 / std::sqrt(t * t + 1.0), s = t * c;
        for (std::int64_t k = 0; k < n; ++k) {  // A = J^T A J, columns then rows
          const double akp = a[at(k, p)], akq = a[at(k, q)];
          a[at(k, p)] = c * akp - s * akq;
          a[at(k, q)] = s * akp + c * akq;
        }
        for (std::int64_t k = 0; k < n; ++k) {
          const double apk = a[at(p, k)], aqk = a[at(q, k)];
          a[at(p, k)] = c * apk - s * aqk;
          a[at(q, k)] = s * apk + c * aqk;
        }
        for (std::int64_t k = 0; k < n; ++k) {
          const double vkp = v[at(k, p)], vkq = v[at(k, q)];
          v[at(k, p)] = c * vkp - s * vkq;
          v[at(k, q)] = s * vkp + c * vkq;
        }
      }
    }
  }
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) order[static_cast<std::size_t>(i)] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::int64_t x, std::int64_t y) { return a[at(x, x)] > a[at(y, y)]; });
  values.assign(static_cast<std::size_t>(n), 0.0);
  vectors.assign(static_cast<std::size_t>(n * n), 0.0);
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t col = order[static_cast<std::size_t>(i)];
    values[static_cast<std::size_t>(i)] = a[at(col, col)];
    for (std::int64_t j = 0; j < n; ++j) vectors[at(i, j)] = v[at(j, col)];
  }
}

void Pca(const std::vector<double>& x, std::int64_t n, std::int64_t d, std::int64_t components,
         std::vector<double>& coordinates, std::vector<double>& explained) {
  coordinates.assign(static_cast<std::size_t>(n * components), 0.0);
  explained.assign(static_cast<std::size_t>(components), 0.0);
  if (n == 0) return;
  std::vector<double> centred(x);
  for (std::int64_t j = 0; j < d; ++j) {
    double mean = 0.0;
    for (std::int64_t i = 0; i < n; ++i) mean += x[static_cast<std::size_t>(i * d + j)];
    mean /= static_cast<double>(n);
    for (std::int64_t i = 0; i < n; ++i) centred[static_cast<std::size_t>(i * d + j)] -= mean;
  }
  // The Gram matrix G = Xc Xc^T shares the non-zero eigenvalues of the scatter matrix; the projection of
  // row i on axis c is sqrt(lambda_c) u_c[i].
  std::vector<double> gram(static_cast<std::size_t>(n * n), 0.0);
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t j = i; j < n; ++j) {
      double dot = 0.0;
      for (std::int64_t k = 0; k < d; ++k)
        dot += centred[static_cast<std::size_t>(i * d + k)] * centred[static_cast<std::size_t>(j * d + k)];
      gram[static_cast<std::size_t>(i * n + j)] = gram[static_cast<std::size_t>(j * n + i)] = dot;
    }
  }
  std::vector<double> values, vectors;
  SymmetricEigen(gram, n, values, vectors);
  double trace = 0.0;
  for (const double v : values) trace += std::max(v, 0.0);
  for (std::int64_t c = 0; c < std::min(components, n); ++c) {
    const double lambda = std::max(values[static_cast<std::size_t>(c)], 0.0);
    const double* u = vectors.data() + c * n;
    std::int64_t largest = 0;
    for (std::int64_t i = 1; i < n; ++i) {
      if (std::fabs(u[i]) > std::fabs(u[largest])) largest = i;
    }
    const double sign = u[largest] < 0 ? -1.0 : 1.0;
    for (std::int64_t i = 0; i < n; ++i) {
      coordinates[static_cast<std::size_t>(i * components + c)] = sign * std::sqrt(lambda) * u[i];
    }
    explained[static_cast<std::size_t>(c)] = trace > 0 ? lambda / trace : 0.0;
  }
}

}  // namespace loupe::attention
