// lime.text through the SDK's mock host, with a hand-made LoupeTextModel (the host's "text" capability)
// whose predictions are known functions of the words: lime's text splitting, the word that drives the
// model, a direct re-implementation of lime's formulas, top_labels, determinism across threads and batch
// sizes, refusals and the conformance kit.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "indexed_text.hpp"
#include "loupe/c/loupe_plugin.h"
#include "loupe/testing/conformance.hpp"

extern "C" const LoupePluginEntryFn loupe_plugin_entry_v1;

namespace {

using loupe::lime::IndexedText;
using loupe::testing::MockColumn;
using loupe::testing::MockDataset;
using loupe::testing::MockHost;
using loupe::testing::MockModel;
using loupe::testing::MockRunOptions;
using loupe::testing::MockRunResult;

const LoupeExplainerVTable& LimeText() {
  char error[256] = "";
  const LoupePluginInfo* info =
      loupe_plugin_entry_v1(LOUPE_PLUGIN_ABI_MAJOR, LOUPE_PLUGIN_ABI_MINOR, error, sizeof(error));
  EXPECT_NE(info, nullptr) << error;
  const LoupeExplainerVTable* text = loupe::testing::FindExplainer(*info, "lime.text");
  EXPECT_NE(text, nullptr);
  return *text;
}

// The ASCII words of a text, split like lime's r'\W+'.
std::vector<std::string> Words(const std::string& text) {
  std::vector<std::string> words;
  std::string current;
  for (const char c : text + " ") {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') {
      current += c;
    } else if (!current.empty()) {
      words.push_back(current);
      current.clear();
    }
  }
  return words;
}

bool Has(const std::string& text, const std::string& word) {
  const std::vector<std::string> words = Words(text);
  return std::find(words.begin(), words.end(), word) != words.end();
}

// A text model behind the C capability. The C functions have no context pointer, so the model of the
// running test is a global; tests run one at a time.
struct FakeTextModel {
  std::vector<std::string> texts;                                  // by data row
  std::function<std::vector<double>(const std::string&)> outputs;  // probabilities of one text
  bool record = false;
  std::mutex mutex;
  std::vector<std::string> seen;  // every text predicted, in call order (record = true)
  std::atomic<std::int64_t> calls{0}, max_batch{0};
};
FakeTextModel* g_model = nullptr;

std::vector<std::string> SplitWhitespace(const std::string& text) {
  std::vector<std::string> words;
  std::string current;
  for (const char c : text + " ") {
    if (c == ' ') {
      if (!current.empty()) words.push_back(current);
      current.clear();
    } else {
      current += c;
    }
  }
  return words;
}

LoupeStatus FakeTokenize(LoupeHost*, const std::int64_t* rows, std::int64_t n_rows, LoupeTokensSink sink,
                         void* ctx) {
  for (std::int64_t i = 0; i < n_rows; ++i) {
    const std::vector<std::string> words = SplitWhitespace(g_model->texts[static_cast<std::size_t>(rows[i])]);
    std::vector<const char*> pointers;
    std::vector<std::int64_t> word_index;
    for (std::size_t w = 0; w < words.size(); ++w) {
      pointers.push_back(words[w].c_str());
      word_index.push_back(static_cast<std::int64_t>(w));
    }
    const auto n = static_cast<std::int64_t>(words.size());
    const LoupeStatus status =
        sink(ctx, i, rows[i], pointers.data(), word_index.data(), n, pointers.data(), n);
    if (status != LOUPE_OK) return status;
  }
  return LOUPE_OK;
}

LoupeStatus FakePredict(LoupeHost*, const char* const* texts, std::int64_t n, LoupeOutputSpace, double* out,
                        std::int64_t capacity) {
  ++g_model->calls;
  std::int64_t seen = g_model->max_batch.load();
  while (n > seen && !g_model->max_batch.compare_exchange_weak(seen, n)) {
  }
  std::int64_t written = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    for (const double value : g_model->outputs(texts[i])) {
      if (written == capacity) return LOUPE_ERROR_INVALID_ARGUMENT;
      out[written++] = value;
    }
  }
  if (g_model->record) {
    std::lock_guard<std::mutex> lock(g_model->mutex);
    g_model->seen.insert(g_model->seen.end(), texts, texts + n);
  }
  return LOUPE_OK;
}

const LoupeTextModel kTextCapability = {sizeof(LoupeTextModel), 0, &FakeTokenize, &FakePredict};

double Sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }

// P(pos) = sigmoid(3 [great] + [good] - 2 [bad] - 0.5); outputs {neg, pos}.
std::vector<double> Sentiment(const std::string& text) {
  const double p = Sigmoid(3.0 * Has(text, "great") + Has(text, "good") - 2.0 * Has(text, "bad") - 0.5);
  return {1.0 - p, p};
}

// Installs `fake` as the model of the running test and returns the mock host's data and model: one text
// feature whose values are the data rows (text handles).
MockHost TextHost(FakeTextModel& fake, std::vector<std::string> classes, bool with_capability = true) {
  g_model = &fake;
  MockDataset data;
  std::vector<double> handles;
  for (std::size_t i = 0; i < fake.texts.size(); ++i) handles.push_back(static_cast<double>(i));
  data.features.push_back(MockColumn{"review", LOUPE_FEATURE_TEXT, {}, handles});
  const auto n_outputs = static_cast<std::int64_t>(classes.size());
  auto by_handle = [n_outputs](const double* rows, std::int64_t n, double* out) {
    for (std::int64_t i = 0; i < n; ++i) {
      const std::vector<double> p = g_model->outputs(g_model->texts[static_cast<std::size_t>(rows[i])]);
      for (std::int64_t o = 0; o < n_outputs; ++o) out[i * n_outputs + o] = p[static_cast<std::size_t>(o)];
    }
  };
  MockModel model = MockModel::Classifier(classes, by_handle, classes, by_handle);
  model.name = "fake_text";
  if (with_capability) {
    model.capabilities = {LOUPE_TEXT_CAPABILITY};
    model.capability_structs[LOUPE_TEXT_CAPABILITY] = &kTextCapability;
  }
  return MockHost(std::move(data), std::move(model));
}

MockRunResult RunLimeText(const MockHost& host, const nlohmann::json& params, std::vector<std::int64_t> rows,
                          int threads = 1) {
  MockRunOptions options;
  options.params = params;
  options.rows = std::move(rows);
  options.seed = 5;
  options.threads = threads;
  return host.Run(LimeText(), options);
}

TEST(LimeTextIndexing, SplitsLikeLimesIndexedString) {
  const IndexedText bow("Hello, world! Hello_there hello Hello", true);
  ASSERT_EQ(bow.num_features(),
            4);  // Hello, world, Hello_there, hello (case-sensitive, '_' is a word character)
  EXPECT_EQ(bow.word(0), "Hello");
  EXPECT_EQ(bow.word(2), "Hello_there");
  EXPECT_EQ(bow.word_positions(0), (std::vector<std::int64_t>{0, 4}));
  EXPECT_EQ(bow.spans(0), (std::vector<std::pair<std::int64_t, std::int64_t>>{{0, 5}, {32, 37}}));
  const std::vector<double> drop_hello = {0, 1, 1, 1};
  EXPECT_EQ(bow.Perturbed(drop_hello.data(), "UNKWORDZ"), ", world! Hello_there hello ");
  const IndexedText positions("Hello, world! Hello", false);
  ASSERT_EQ(positions.num_features(), 3);
  const std::vector<double> drop_last = {1, 0, 0};
  EXPECT_EQ(positions.Perturbed(drop_last.data(), "UNKWORDZ"), "Hello, UNKWORDZ! UNKWORDZ");
}

TEST(LimeTextIndexing, CountsCodePointsAndKeepsUnicodeLettersInWords) {
  const IndexedText text("caf\xC3\xA9\xE2\x80\x94na\xC3\xAFve \xC2\xB2x \xF0\x9F\x98\x80ok",
                         true);  // café—naïve ²x 😀ok
  ASSERT_EQ(text.num_features(), 4);
  EXPECT_EQ(text.word(0), "caf\xC3\xA9");
  EXPECT_EQ(text.spans(1), (std::vector<std::pair<std::int64_t, std::int64_t>>{{5, 10}}));
  EXPECT_EQ(text.word(2), "\xC2\xB2x");  // '²' is a digit to Python
  EXPECT_EQ(text.word(3), "ok");         // the emoji is a separator
  EXPECT_EQ(text.spans(3), (std::vector<std::pair<std::int64_t, std::int64_t>>{{15, 17}}));
  EXPECT_TRUE(loupe::lime::IsWordCodePoint(0x4E2D));   // CJK ideograph
  EXPECT_FALSE(loupe::lime::IsWordCodePoint(0x3002));  // ideographic full stop
}

TEST(LimeText, TheWordTheModelReliesOnGetsTheLargestWeight) {
  FakeTextModel fake;
  fake.texts = {"the plot was great and the acting good", "a bad film with a good cast"};
  fake.outputs = Sentiment;
  const MockHost host = TextHost(fake, {"neg", "pos"});
  const MockRunResult run = RunLimeText(host, {{"num_samples", 2000}}, {0, 1});
  ASSERT_TRUE(run.ok()) << run.error;
  EXPECT_EQ(run.json["output_names"], nlohmann::json({"neg", "pos"}));
  EXPECT_EQ(run.json["texts"][0], fake.texts[0]);
  // Row 0: "great" drives P(pos); removing it lowers the prediction, and it weighs most.
  const double with = Sentiment(fake.texts[0])[1];
  const double without = Sentiment("the plot was  and the acting good")[1];
  EXPECT_LT(without, with - 0.3);
  const nlohmann::json& pos = run.json["as_list"][0][1];
  EXPECT_EQ(pos[0]["word"], "great");
  EXPECT_GT(pos[0]["weight"].get<double>(), 0.2);
  EXPECT_EQ(run.json["as_list"][0][0][0]["word"], "great");
  EXPECT_LT(run.json["as_list"][0][0][0]["weight"].get<double>(), -0.2);
  // Row 1: "bad" pushes towards neg.
  EXPECT_EQ(run.json["as_list"][1][1][0]["word"], "bad");
  EXPECT_LT(run.json["as_list"][1][1][0]["weight"].get<double>(), 0.0);
  // F = the most distinct words of a row: row 0 has 7 (the, plot, was, great, and, acting, good), row 1
  // has 6 (a, bad, film, with, good, cast), so its 7th column is padding.
  EXPECT_EQ(run.json["feature_names"].size(), 7u);
  EXPECT_EQ(run.json["data"][0][3], "great");
  EXPECT_EQ(run.json["data"][1][5], "cast");
  EXPECT_EQ(run.json["data"][1][6], "");
  EXPECT_TRUE(run.json["values"][1][0][6].is_null());
  EXPECT_EQ(run.json["words"][0][0]["positions"], nlohmann::json({0, 5}));  // "the" twice
  EXPECT_EQ(run.json["words"][0][0]["spans"], nlohmann::json({{0, 3}, {23, 26}}));
  EXPECT_NEAR(run.json["prediction"][0][1].get<double>(), with, 1e-15);
  EXPECT_GT(run.json["score"][0][1].get<double>(), 0.5);
}

// Weighted ridge with an unpenalized intercept (scikit-learn's Ridge with sample_weight), solved by
// Gaussian elimination: returns {coef..., intercept}.
std::vector<double> ReferenceRidge(const std::vector<std::vector<double>>& x, const std::vector<double>& y,
                                   const std::vector<double>& w, double alpha) {
  const std::size_t n = x.size(), k = x[0].size();
  double sw = 0, ym = 0;
  std::vector<double> xm(k, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    sw += w[i];
    ym += w[i] * y[i];
    for (std::size_t j = 0; j < k; ++j) xm[j] += w[i] * x[i][j];
  }
  ym /= sw;
  for (double& m : xm) m /= sw;
  std::vector<std::vector<double>> a(k, std::vector<double>(k + 1, 0.0));
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t p = 0; p < k; ++p) {
      for (std::size_t q = 0; q < k; ++q) a[p][q] += w[i] * (x[i][p] - xm[p]) * (x[i][q] - xm[q]);
      a[p][k] += w[i] * (x[i][p] - xm[p]) * (y[i] - ym);
    }
  }
  for (std::size_t p = 0; p < k; ++p) a[p][p] += alpha;
  for (std::size_t c = 0; c < k; ++c) {
    std::size_t pivot = c;
    for (std::size_t r = c + 1; r < k; ++r) {
      if (std::fabs(a[r][c]) > std::fabs(a[pivot][c])) pivot = r;
    }
    std::swap(a[c], a[pivot]);
    for (std::size_t r = 0; r < k; ++r) {
      if (r == c) continue;
      const double factor = a[r][c] / a[c][c];
      for (std::size_t q = c; q <= k; ++q) a[r][q] -= factor * a[c][q];
    }
  }
  std::vector<double> solution(k + 1);
  double intercept = ym;
  for (std::size_t p = 0; p < k; ++p) {
    solution[p] = a[p][k] / a[p][p];
    intercept -= solution[p] * xm[p];
  }
  solution[k] = intercept;
  return solution;
}

// lime's inverse_removing of a text split by r'\W+' (ASCII): words not kept are dropped (bow) or masked.
std::string ReferencePerturbed(const std::string& text, const std::vector<bool>& kept_position,
                               const std::vector<std::string>& vocabulary, const std::vector<bool>& kept_word,
                               bool bow) {
  std::string out, piece;
  std::size_t position = 0;
  auto flush_word = [&] {
    if (piece.empty()) return;
    const auto at = std::find(vocabulary.begin(), vocabulary.end(), piece) - vocabulary.begin();
    const bool keep = bow ? kept_word[static_cast<std::size_t>(at)] : kept_position[position];
    out += keep ? piece : (bow ? "" : "UNKWORDZ");
    ++position;
    piece.clear();
  };
  for (const char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') {
      piece += c;
    } else {
      flush_word();
      out += c;
    }
  }
  flush_word();
  return out;
}

TEST(LimeText, AgreesWithADirectImplementationOfLimesFormulas) {
  for (const bool bow : {true, false}) {
    SCOPED_TRACE(bow ? "bow" : "positions");
    FakeTextModel fake;
    fake.texts = {"good food, good service; bad parking!"};
    fake.outputs = [](const std::string& text) {
      const double p = Sigmoid(1.5 * Has(text, "good") - 1.0 * Has(text, "bad") +
                               0.7 * Has(text, "food") * Has(text, "service") +
                               0.1 * static_cast<double>(Words(text).size()));
      return std::vector<double>{1.0 - p, p};
    };
    fake.record = true;
    const MockHost host = TextHost(fake, {"neg", "pos"});
    const std::int64_t n = 300;
    const MockRunResult run =
        RunLimeText(host, {{"num_samples", n}, {"feature_selection", "none"}, {"bow", bow}}, {0});
    ASSERT_TRUE(run.ok()) << run.error;
    ASSERT_EQ(fake.seen.size(), static_cast<std::size_t>(n));
    EXPECT_EQ(fake.seen[0], fake.texts[0]);

    // The binary representation lime builds, read back from the texts the model received.
    const std::vector<std::string> vocabulary =
        bow ? std::vector<std::string>{"good", "food", "service", "bad", "parking"} : Words(fake.texts[0]);
    const std::size_t d = vocabulary.size();
    ASSERT_EQ(run.json["feature_names"].size(), d);
    std::vector<std::vector<double>> x;
    std::vector<double> y, w;
    for (const std::string& text : fake.seen) {
      std::vector<double> row(d);
      std::vector<bool> kept_word(d), kept_position(d);
      const std::vector<std::string> words = Words(text);
      for (std::size_t j = 0; j < d; ++j) {
        row[j] = bow ? Has(text, vocabulary[j]) : words[j] != "UNKWORDZ";
        kept_word[j] = kept_position[j] = row[j] == 1.0;
      }
      EXPECT_EQ(text, ReferencePerturbed(fake.texts[0], kept_position, vocabulary, kept_word, bow));
      double k = 0;
      for (const double v : row) k += v;
      if (x.empty()) {
        EXPECT_EQ(k, static_cast<double>(d));  // sample 0 is the text itself
      } else {
        EXPECT_LT(k, static_cast<double>(d));  // every other sample removes at least one word
      }
      const double distance = (1.0 - std::sqrt(k / static_cast<double>(d))) * 100.0;
      w.push_back(std::sqrt(std::exp(-distance * distance / (25.0 * 25.0))));
      y.push_back(fake.outputs(text)[1]);
      x.push_back(row);
    }
    const std::vector<double> ridge = ReferenceRidge(x, y, w, 1.0);
    for (std::size_t j = 0; j < d; ++j)
      EXPECT_NEAR(run.json["values"][0][1][j].get<double>(), ridge[j], 1e-9) << j;
    EXPECT_NEAR(run.json["intercept"][0][1].get<double>(), ridge[d], 1e-9);
    double local_pred = ridge[d], ssr = 0, sst = 0, sw = 0, mean = 0;
    for (std::size_t j = 0; j < d; ++j) local_pred += ridge[j];
    for (std::size_t i = 0; i < x.size(); ++i) {
      sw += w[i];
      mean += w[i] * y[i];
    }
    mean /= sw;
    for (std::size_t i = 0; i < x.size(); ++i) {
      double fitted = ridge[d];
      for (std::size_t j = 0; j < d; ++j) fitted += ridge[j] * x[i][j];
      ssr += w[i] * (y[i] - fitted) * (y[i] - fitted);
      sst += w[i] * (y[i] - mean) * (y[i] - mean);
    }
    EXPECT_NEAR(run.json["local_pred"][0][1].get<double>(), local_pred, 1e-9);
    EXPECT_NEAR(run.json["score"][0][1].get<double>(), 1.0 - ssr / sst, 1e-9);
    EXPECT_NEAR(run.json["prediction"][0][1].get<double>(), y[0], 1e-15);
  }
}

// Three topics; each row's text favours another one.
std::vector<double> Topics(const std::string& text) {
  const double a = 2.0 * Has(text, "ball"), b = 2.0 * Has(text, "vote"), c = 2.0 * Has(text, "cell") + 0.5;
  const double total = std::exp(a) + std::exp(b) + std::exp(c);
  return {std::exp(a) / total, std::exp(b) / total, std::exp(c) / total};
}

TEST(LimeText, TopLabelsExplainEachRowsMostLikelyOutputs) {
  FakeTextModel fake;
  fake.texts = {"the ball game went on", "the vote count went on", "the ball and the vote"};
  fake.outputs = Topics;
  const MockHost host = TextHost(fake, {"sport", "politics", "biology"});
  const MockRunResult top = RunLimeText(host, {{"num_samples", 500}, {"top_labels", 1}}, {0, 1});
  ASSERT_TRUE(top.ok()) << top.error;
  EXPECT_EQ(top.json["output_names"], nlohmann::json({"sport", "politics"}));  // the union, in model order
  EXPECT_EQ(top.json["top_labels"], nlohmann::json({{"sport"}, {"politics"}}));
  EXPECT_TRUE(top.json["values"][0][1][0].is_null());  // row 0 did not explain politics
  EXPECT_TRUE(top.json["intercept"][1][0].is_null());
  EXPECT_TRUE(top.json["as_list"][0][1].is_null());
  EXPECT_EQ(top.json["as_list"][0][0][0]["word"], "ball");
  // The same fit as asking for the label.
  const MockRunResult fixed = RunLimeText(host, {{"num_samples", 500}, {"labels", {"politics"}}}, {1});
  ASSERT_TRUE(fixed.ok()) << fixed.error;
  EXPECT_EQ(fixed.json["values"][0][0], top.json["values"][1][1]);
  // Two labels, highest first: row 2 ties sport and politics, lime's argsort puts the higher index first.
  const MockRunResult two = RunLimeText(host, {{"num_samples", 300}, {"top_labels", 2}}, {2});
  ASSERT_TRUE(two.ok()) << two.error;
  EXPECT_EQ(two.json["top_labels"], nlohmann::json::array({nlohmann::json::array({"politics", "sport"})}));
  EXPECT_EQ(two.json["output_names"], nlohmann::json({"sport", "politics"}));
}

TEST(LimeText, OneModelCallPerRowAndIdenticalBitsForAnyThreadsOrBatchSize) {
  FakeTextModel fake;
  fake.texts = {"good food and bad parking", "great view, good staff", "bad bad service but good wine",
                "fine"};
  fake.outputs = Sentiment;
  const MockHost host = TextHost(fake, {"neg", "pos"});
  const nlohmann::json params = {{"num_samples", 700}};
  const MockRunResult one = RunLimeText(host, params, {0, 1, 2, 3}, 1);
  ASSERT_TRUE(one.ok()) << one.error;
  EXPECT_EQ(fake.calls.load(), 4);
  EXPECT_EQ(fake.max_batch.load(), 700);
  const MockRunResult two = RunLimeText(host, params, {0, 1, 2, 3}, 2);
  ASSERT_TRUE(two.ok()) << two.error;
  EXPECT_EQ(one.json.dump(), two.json.dump());
  fake.calls = 0;
  fake.max_batch = 0;
  nlohmann::json batched = params;
  batched["batch_size"] = 64;
  const MockRunResult small = RunLimeText(host, batched, {0, 1, 2, 3}, 2);
  ASSERT_TRUE(small.ok()) << small.error;
  EXPECT_EQ(fake.calls.load(), 4 * 11);  // ceil(700 / 64) per row
  EXPECT_EQ(fake.max_batch.load(), 64);
  EXPECT_EQ(one.json["values"].dump(), small.json["values"].dump());
  EXPECT_EQ(one.json["as_list"].dump(), small.json["as_list"].dump());
  const MockRunResult alone = RunLimeText(host, params, {2}, 2);
  ASSERT_TRUE(alone.ok()) << alone.error;
  EXPECT_EQ(alone.json["values"][0].dump(), one.json["values"][2].dump());
}

TEST(LimeText, BadParametersAndInputsGetOneSentenceEach) {
  FakeTextModel fake;
  fake.texts = {"good food and bad parking", "?! ..."};
  fake.outputs = Sentiment;
  const MockHost host = TextHost(fake, {"neg", "pos"});
  const std::vector<std::pair<nlohmann::json, std::string>> cases = {
      {{{"num_samples", 1}}, "num_samples"},     {{{"num_features", 0}}, "num_features"},
      {{{"kernel_width", 0.0}}, "kernel_width"}, {{{"batch_size", 0}}, "batch_size"},
      {{{"labels", {"maybe"}}}, "maybe"},        {{{"labels", {"pos"}}, {"top_labels", 1}}, "top_labels"},
      {{{"top_labels", 0}}, "top_labels"},       {{{"top_labels", 3}}, "top_labels"},
  };
  for (const auto& [params, mentions] : cases) {
    const MockRunResult run = RunLimeText(host, params, {0});
    EXPECT_FALSE(run.ok()) << params.dump();
    EXPECT_FALSE(run.rejected_by_host) << params.dump();
    EXPECT_EQ(run.status, LOUPE_ERROR_INVALID_ARGUMENT) << params.dump();
    EXPECT_NE(run.error.find(mentions), std::string::npos) << run.error;
    EXPECT_EQ(run.error.find('\n'), std::string::npos) << run.error;
  }
  EXPECT_TRUE(RunLimeText(host, {{"distance_metric", "euclidean"}}, {0}).rejected_by_host);
  const MockRunResult wordless = RunLimeText(host, nlohmann::json::object(), {0, 1});
  EXPECT_EQ(wordless.status, LOUPE_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(wordless.error.find("row 1"), std::string::npos) << wordless.error;
  FakeTextModel plain;
  plain.texts = fake.texts;
  plain.outputs = Sentiment;
  const MockHost tabular = TextHost(plain, {"neg", "pos"}, /*with_capability=*/false);
  const MockRunResult no_text = RunLimeText(tabular, nlohmann::json::object(), {0});
  EXPECT_EQ(no_text.status, LOUPE_ERROR_UNSUPPORTED);
  EXPECT_NE(no_text.error.find("fake_text"), std::string::npos) << no_text.error;
}

TEST(LimeText, PassesTheConformanceKit) {
  static FakeTextModel fake;
  fake.texts = {"good food and bad parking", "great view, good staff", "bad service but good wine",
                "fine food"};
  fake.outputs = Sentiment;
  const MockHost host = TextHost(fake, {"neg", "pos"});
  loupe::testing::ConformanceCase c;
  c.dataset = host.dataset();
  c.model = host.model();
  c.params = {{"num_samples", 400}, {"num_features", 3}};
  c.rows = {0, 1, 3};
  c.threads = 2;
  c.bad_params = {
      {{{"num_samples", 1}}, "num_samples"},      {{{"num_features", 0}}, "num_features"},
      {{{"kernel_width", -2.0}}, "kernel_width"}, {{{"labels", {"neutral"}}}, "labels"},
      {{{"top_labels", 5}}, "top_labels"},
  };
  const auto failures = loupe::testing::RunConformance(loupe_plugin_entry_v1, "lime.text", c);
  EXPECT_TRUE(failures.empty()) << loupe::testing::FormatFailures(failures);
}

}  // namespace
