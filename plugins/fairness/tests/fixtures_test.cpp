// fairness.group against reference values computed by tests/fixtures/make_fixtures.py (numpy, the published
// AIF360 / fairlearn definitions) on hmda (afam, afam x single) and credit (Marital; Age in bins, weighted).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "loupe/c/loupe_plugin.h"
#include "loupe/testing/conformance.hpp"

extern "C" const LoupePluginEntryFn loupe_plugin_entry_v1;

namespace {

using loupe::testing::MockColumn;
using loupe::testing::MockDataset;
using loupe::testing::MockHost;
using loupe::testing::MockModel;
using nlohmann::json;

const json& Fixtures() {
  static const json fixtures = [] {
    std::ifstream in(std::string(LOUPE_FAIRNESS_FIXTURES) + "/fixtures.json");
    return json::parse(in);
  }();
  return fixtures;
}

MockColumn Column(const std::string& name, const json& spec) {
  std::vector<double> values;
  for (const auto& v : spec["values"]) values.push_back(v.is_null() ? NAN : v.get<double>());
  if (spec["levels"].is_null()) return MockColumn::Numeric(name, values);
  return MockColumn::Categorical(name, spec["levels"].get<std::vector<std::string>>(), values);
}

void ExpectClose(const json& expected, const json& actual, const std::string& where) {
  if (expected.is_null()) {
    EXPECT_TRUE(actual.is_null()) << where << " expected null, found " << actual.dump();
    return;
  }
  ASSERT_TRUE(actual.is_number()) << where << " expected " << expected.dump() << ", found " << actual.dump();
  EXPECT_NEAR(actual.get<double>(), expected.get<double>(), 1e-12) << where;
}

class FairnessFixture : public ::testing::TestWithParam<int> {};

TEST_P(FairnessFixture, MatchesTheReferenceDefinitions) {
  const json& c = Fixtures()["cases"][static_cast<std::size_t>(GetParam())];
  const json& columns = Fixtures()["columns"][c["data"].get<std::string>()];
  MockDataset data;
  for (const auto& name : c["features"])
    data.features.push_back(Column(name, columns[name.get<std::string>()]));
  for (const auto& item : columns.items()) {
    if (std::find(c["features"].begin(), c["features"].end(), item.key()) == c["features"].end()) {
      data.others.push_back(Column(item.key(), item.value()));
    }
  }
  data.target = c["target"];
  const std::vector<double> coef = c["coef"];
  const auto width = static_cast<std::int64_t>(coef.size() - 1);
  // P(second class) = 1 / (1 + exp(-(b0 + sum_j b_j x_j))), summed in the fixture script's order.
  auto model = MockModel::Classifier(
      c["classes"],
      [coef, width](const double* x, std::int64_t n, double* out) {
        for (std::int64_t i = 0; i < n; ++i) {
          double sum = 0;
          for (std::int64_t j = 0; j < width; ++j)
            sum += coef[static_cast<std::size_t>(j + 1)] * x[i * width + j];
          const double p = 1.0 / (1.0 + std::exp(-(coef[0] + sum)));
          out[2 * i] = 1 - p;
          out[2 * i + 1] = p;
        }
      },
      {"margin"}, nullptr);
  loupe::testing::MockRunOptions options;
  options.params = c["params"];
  options.params["consistency_max_rows"] = 10000;
  for (std::int64_t i = 0; i < data.rows(); ++i) options.rows.push_back(i);
  options.threads = 2;
  char error[256] = "";
  const LoupePluginInfo* info =
      loupe_plugin_entry_v1(LOUPE_PLUGIN_ABI_MAJOR, LOUPE_PLUGIN_ABI_MINOR, error, sizeof(error));
  const auto run =
      MockHost(data, model).Run(*loupe::testing::FindExplainer(*info, "fairness.group"), options);
  ASSERT_TRUE(run.ok()) << run.error;

  const json& expected = c["expected"];
  EXPECT_EQ(run.json["quality"]["rows"], c["rows_kept"]);
  ASSERT_EQ(run.json["groups"].size(), expected["groups"].size());
  for (std::size_t g = 0; g < expected["groups"].size(); ++g) {
    const json& eg = expected["groups"][g];
    const json& ag = run.json["groups"][g];
    EXPECT_EQ(ag["name"], eg["name"]);
    EXPECT_EQ(ag["n"], eg["n"]);
    for (const auto& item : eg.items()) {
      if (item.key() != "name" && item.key() != "n")
        ExpectClose(item.value(), ag[item.key()], "group " + eg["name"].dump() + " " + item.key());
    }
  }
  for (const auto& item : expected["overall"].items())
    ExpectClose(item.value(), run.json["overall"][item.key()], "overall " + item.key());
  int compared = 0;
  for (const char* block : {"aif360", "fairlearn"}) {
    for (const auto& item : expected["metrics"][block].items()) {
      ASSERT_TRUE(run.json["metrics"][block].contains(item.key()))
          << block << "." << item.key() << " is missing";
      ExpectClose(item.value(), run.json["metrics"][block][item.key()],
                  std::string(block) + "." + item.key());
      ++compared;
    }
  }
  EXPECT_GT(compared, 60);
}

INSTANTIATE_TEST_SUITE_P(HmdaAndCredit, FairnessFixture, ::testing::Values(0, 1, 2, 3));

}  // namespace
