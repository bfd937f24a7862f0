// loupe_conformance_runner PLUGIN.so: runs the conformance kit on every explainer of a plugin library,
// on a small generic data set (three numeric features and one categorical) and a logistic model, with
// each explainer's default parameters. Exits 0 when every check passes, 1 otherwise.
#include <dlfcn.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "loupe/testing/conformance.hpp"

namespace {

using loupe::testing::MockColumn;

loupe::testing::ConformanceCase GenericCase() {
  loupe::testing::ConformanceCase c;
  const int rows = 30;
  for (int f = 0; f < 3; ++f) {
    std::vector<double> values;
    for (int r = 0; r < rows; ++r) values.push_back(std::sin(1.7 * r + f) * (f + 1));
    c.dataset.features.push_back(MockColumn::Numeric("x" + std::to_string(f), values));
  }
  std::vector<double> codes;
  for (int r = 0; r < rows; ++r) codes.push_back(r % 3);
  c.dataset.features.push_back(MockColumn::Categorical("color", {"blue", "green", "red"}, codes));
  auto logit = [](const double* x) { return 0.8 * x[0] - 0.5 * x[1] + 0.3 * x[2] + (x[3] == 2 ? 1.0 : 0.0); };
  c.model = loupe::testing::MockModel::Classifier(
      {"no", "yes"},
      [logit](const double* x, std::int64_t n, double* out) {
        for (std::int64_t i = 0; i < n; ++i) {
          const double p = 1 / (1 + std::exp(-logit(x + 4 * i)));
          out[2 * i] = 1 - p;
          out[2 * i + 1] = p;
        }
      },
      {"yes"},
      [logit](const double* x, std::int64_t n, double* out) {
        for (std::int64_t i = 0; i < n; ++i) out[i] = logit(x + 4 * i);
      });
  c.rows = {0, 5, 17};
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: loupe_conformance_runner PLUGIN.so\n");
    return 2;
  }
  void* library = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) {
    std::fprintf(stderr, "cannot load %s: %s\n", argv[1], dlerror());
    return 2;
  }
  const auto* entry = static_cast<const LoupePluginEntryFn*>(dlsym(library, LOUPE_PLUGIN_ENTRY_SYMBOL));
  if (entry == nullptr) {
    std::fprintf(stderr, "%s exports no %s\n", argv[1], LOUPE_PLUGIN_ENTRY_SYMBOL);
    return 2;
  }
  char error[256] = {0};
  const LoupePluginInfo* info = (*entry)(LOUPE_PLUGIN_ABI_MAJOR, LOUPE_PLUGIN_ABI_MINOR, error, sizeof error);
  if (info == nullptr) {
    std::fprintf(stderr, "%s refused this host: %s\n", argv[1], error);
    return 1;
  }
  int failed = 0;
  for (std::int64_t i = 0; i < info->n_explainers; ++i) {
    const std::string name = info->explainers[i]->name;
    const auto failures = loupe::testing::RunConformance(*entry, name, GenericCase());
    std::printf("%s: %s\n", name.c_str(), failures.empty() ? "conformant" : "FAILED");
    if (!failures.empty()) {
      std::printf("%s", loupe::testing::FormatFailures(failures).c_str());
      ++failed;
    }
  }
  return failed == 0 ? 0 : 1;
}
