// Structure of report.html: what each renderer draws from the explanation JSON, escaping, tolerance of
// missing and malformed fields, self-containment. The fixture folder fixtures/every_kind/ (written by
// fixtures/make_every_kind.py) holds one hand-made step of every kind.
#include "report/html_report.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "loupe/core/report.hpp"
#include "pipeline/row_shards.hpp"
#include "report/charts.hpp"

namespace loupe::report {
namespace {

namespace fs = std::filesystem;

const fs::path kFixtures = fs::path(LOUPE_SOURCE_DIR) / "tests/core/report/fixtures/every_kind";

nlohmann::json ReadJson(const fs::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

// A fixture that does not load fails the test and yields an empty explanation, whose section then fails
// the caller's checks: never a dereference of a failed Result.
Explanation Step(const std::string& name) {
  Result<Explanation> e = Explanation::FromJson(ReadJson(kFixtures / (name + ".json")));
  if (!e.ok()) {
    ADD_FAILURE() << name << ".json: " << e.status().message();
    return Explanation();
  }
  return *e;
}

std::size_t Count(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++n;
  return n;
}

// The HTML of one step's section, rendered inside a complete report.
std::string Section(const Explanation& e) {
  const std::string html = RenderHtmlReport(ReadJson(kFixtures / "run.json"), {&e});
  const auto begin = html.find("<section");
  const auto end = html.find("</section>");
  EXPECT_NE(begin, std::string::npos);
  return html.substr(begin, end - begin);
}

// Every opened element of these kinds is closed: the SVG and panels are well nested enough to render.
void ExpectBalanced(const std::string& html) {
  for (const char* tag : {"svg", "div", "section", "table", "details", "select", "p", "g"}) {
    EXPECT_EQ(Count(html, std::string("<") + tag + ">") + Count(html, std::string("<") + tag + " "),
              Count(html, std::string("</") + tag + ">"))
        << tag;
  }
}

TEST(HtmlReport, EscapesEverySpecialCharacter) {
  EXPECT_EQ(HtmlEscape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
}

TEST(HtmlReport, RunSummaryListsStepsWithStatusTimeAndMessage) {
  const std::string html = RenderHtmlReport(ReadJson(kFixtures / "run.json"), {});
  EXPECT_NE(html.find("<title>Loupe: every-kind &lt;demo&gt;</title>"), std::string::npos);
  EXPECT_NE(html.find("420 rows, 3 features"), std::string::npos);
  EXPECT_NE(html.find("Loupe 0.1.0, plugin ABI 1.0"), std::string::npos);
  EXPECT_NE(
      html.find(
          "<td class=\"failed\">failed</td><td>0.4 ms</td><td></td><td>shap.kernel: &lt;nsamples&gt; must "
          "be positive</td>"),
      std::string::npos);
  EXPECT_NE(html.find("<td>1.23 s</td>"), std::string::npos);  // total time
  EXPECT_EQ(html.find("<nsamples>"), std::string::npos);
}

TEST(HtmlReport, IsSelfContained) {
  const fs::path dir = fs::temp_directory_path() / "loupe_report_self_contained";
  fs::remove_all(dir);
  fs::copy(kFixtures, dir);
  ASSERT_TRUE(RenderReportDirectory(dir).ok());
  std::ifstream in(dir / "report.html");
  const std::string html((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  fs::remove_all(dir);
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find(" src="), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("@import"), std::string::npos);
  EXPECT_EQ(Count(html, "<section class=\"step\""), 11u);  // every ok step; the failed one has none
  EXPECT_EQ(Count(html, "could not be drawn"), 0u);
  ExpectBalanced(html);
}

TEST(HtmlReport, ReportDirectoryNamesAMissingStepFile) {
  const fs::path dir = fs::temp_directory_path() / "loupe_report_missing_step";
  fs::remove_all(dir);
  fs::copy(kFixtures, dir);
  fs::remove(dir / "lime.json");
  const Status status = RenderReportDirectory(dir);
  fs::remove_all(dir);
  EXPECT_EQ(status.message(), "cannot read '" + (dir / "lime.json").string() + "'.");
}

// `loupe report` on a local explainer's step of 25,001 rows draws every 3rd row, as `loupe run` does for
// its report (shards::KeepEveryRow on the explanation in memory): the same page, byte for byte.
TEST(HtmlReport, ReportDirectoryDrawsTheRunsSampleOfAStepOfManyRows) {
  const fs::path dir = fs::temp_directory_path() / "loupe_report_sampled";
  fs::remove_all(dir);
  fs::copy(kFixtures, dir);
  nlohmann::json shap = ReadJson(kFixtures / "shap.json");
  constexpr std::int64_t kRows = 25001;
  for (const char* field : {"rows", "base_values", "values", "data"}) {
    nlohmann::json tiled = nlohmann::json::array();
    for (std::int64_t r = 0; r < kRows; ++r)
      tiled.push_back(field == std::string("rows") ? nlohmann::json(r) : shap[field][r % 3]);
    shap[field] = std::move(tiled);
  }
  std::ofstream(dir / "shap.json") << shap.dump();
  ASSERT_TRUE(RenderReportDirectory(dir).ok());
  std::ifstream in(dir / "report.html");
  const std::string html((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  fs::remove_all(dir);
  EXPECT_NE(html.find("The charts of this step show 8334 of its 25001 rows (one row in 3, from the first)"),
            std::string::npos);

  nlohmann::json run = ReadJson(kFixtures / "run.json");
  run["steps"][0]["report_sample"] = {{"every", 3}, {"of", kRows}};
  std::vector<Explanation> steps;
  for (const nlohmann::json& step : run["steps"]) {
    if (step["status"] != "ok") continue;
    steps.push_back(step["id"] == "shap" ? shards::KeepEveryRow(*Explanation::FromJson(shap), 0, 3)
                                         : Step(step["id"].get<std::string>()));
  }
  std::vector<const Explanation*> pointers;
  for (const Explanation& e : steps) pointers.push_back(&e);
  EXPECT_TRUE(html == RenderHtmlReport(run, pointers)) << "loupe report drew another page than the run's";
}

TEST(AttributionReport, GlobalBarsAreMeanAbsoluteValuesInDecreasingOrder) {
  const std::string html = Section(Step("shap"));
  // output bad: mean |phi| = Debt 0.12, Income 0.35/3, Age 0.05, Home 0.14/3
  const std::regex bars(
      "<text x=\"214.0\" y=\"[0-9.]+\" text-anchor=\"end\">([^<]+)</text><rect[^>]*><title>[^:]+: "
      "([0-9.e-]+)</title>");
  std::vector<std::pair<std::string, std::string>> found;
  const std::string first_chart = html.substr(0, html.find("</svg>"));
  for (std::sregex_iterator it(first_chart.begin(), first_chart.end(), bars), end; it != end; ++it) {
    found.push_back({(*it)[1], (*it)[2]});
  }
  ASSERT_EQ(found.size(), 4u);
  EXPECT_EQ(found[0],
            std::make_pair(std::string("Debt&lt;Assets &amp; &quot;ratio&quot;"), std::string("0.12")));
  EXPECT_EQ(found[1], std::make_pair(std::string("Income"), std::string("0.116667")));
  EXPECT_EQ(found[2], std::make_pair(std::string("Age"), std::string("0.05")));
  EXPECT_EQ(found[3], std::make_pair(std::string("Home"), std::string("0.0466667")));
}

TEST(AttributionReport, DrawsABeeswarmDotPerRowAndFeatureAndAWaterfallPerRowAndOutput) {
  const std::string html = Section(Step("shap"));
  EXPECT_EQ(Count(html, "<circle"), 2u * 3u * 4u);  // outputs × rows × features
  EXPECT_EQ(Count(html, "aria-label=\"waterfall of row"), 2u * 3u);
  // row 0 of output bad: 0.4 + 0.10 - 0.05 + 0.02 + 0.30 = 0.77; output good: 0.6 - 0.37 = 0.23
  EXPECT_NE(html.find(">f(x) = 0.77<"), std::string::npos);
  EXPECT_NE(html.find(">f(x) = 0.23<"), std::string::npos);
  EXPECT_NE(html.find(">E[f(x)] = 0.4<"), std::string::npos);
  EXPECT_NE(html.find(">Debt&lt;Assets &amp; &quot;ratio&quot; = 0.2<"), std::string::npos);
  EXPECT_NE(html.find("Home = rent: -0.05"), std::string::npos);  // a waterfall bar's tooltip
  // one switch for the output, one per output for the rows; only the first panel of each is shown
  EXPECT_EQ(Count(html, "<select data-switch="), 3u);
  EXPECT_NE(html.find("data-group=\"s0-out\" data-key=\"0\">"), std::string::npos);
  EXPECT_NE(html.find("data-group=\"s0-out\" data-key=\"1\" hidden>"), std::string::npos);
}

TEST(AttributionReport, ColoursTokensOfTextRowsBySign) {
  const std::string html = Section(Step("text_shap"));
  EXPECT_NE(html.find("title=\"awful: -0.33\">awful</span>"), std::string::npos);
  EXPECT_NE(html.find("<span style=\"background:#008bfb;color:#fff\" title=\"awful"),
            std::string::npos);  // the largest |w|, in white on the strong colour
  EXPECT_EQ(html.find("Global importance"), std::string::npos);  // word positions: no mean over rows
  EXPECT_NE(html.find("<span style=\"background:#ff0051;color:#fff\" title=\"lovely: 0.22\">lovely</span>"),
            std::string::npos);
}

TEST(AttributionReport, AMalformedResultBecomesASentence) {
  Explanation e = Step("shap");
  e.body["values"][1] = nlohmann::json::array({nlohmann::json::array({1, 2})});
  const std::string html = Section(e);
  EXPECT_NE(
      html.find(
          "<p class=\"error\">This feature_attribution could not be drawn: &#39;values[1]&#39; must have "
          "2 outputs, found 1. Its numbers are in shap.json.</p>"),
      std::string::npos);
  EXPECT_EQ(html.find("<svg"), std::string::npos);
}

TEST(LimeReport, DrawsEachConditionWithItsWeightAndTheLocalModelFigures) {
  const std::string html = Section(Step("lime"));
  EXPECT_NE(html.find(">Income &gt; 100.00</text>"), std::string::npos);
  EXPECT_NE(html.find("24.00 &lt; Age &lt;= 37.00: weight 0.05"), std::string::npos);
  EXPECT_NE(html.find("fill=\"#008bfb\"><title>Income &gt; 100.00: weight -0.21</title>"), std::string::npos);
  EXPECT_NE(html.find("model prediction 0.35 · local prediction 0.39 (intercept 0.43"), std::string::npos);
  EXPECT_NE(html.find("score (weighted R² of the local model) 0.61"), std::string::npos);
  EXPECT_NE(html.find("<option value=\"0\">row 4</option>"), std::string::npos);
  EXPECT_NE(html.find("<span>min score <b>0.61</b></span>"), std::string::npos);  // quality strip
}

TEST(LimeReport, DrawsTheWordsOfATextAndColoursTheTextByTheirWeights) {
  const std::string html = Section(Step("lime_text"));
  EXPECT_NE(html.find("a bar per word"), std::string::npos);
  EXPECT_NE(html.find("fill=\"#008bfb\"><title>dull: weight -0.3</title>"), std::string::npos);
  // the text in word order: a dull plot dull, "dull" (the largest |weight|) full blue, in white, both times
  const std::string text = html.substr(html.find("<p class=\"tokens\">"));
  EXPECT_LT(text.find(">a</span>"), text.find(">dull</span>"));
  EXPECT_LT(text.find(">dull</span>"), text.find(">plot</span>"));
  EXPECT_EQ(Count(text.substr(0, text.find("</p>")),
                  "<span style=\"background:#008bfb;color:#fff\" title=\"dull: -0.3\">"),
            2u);
  EXPECT_NE(
      html.find("model prediction 0.21 · local prediction 0.25 (intercept 0.62 + the weights of the words "
                "present)"),
      std::string::npos);
}

TEST(ShapSummaryReport, UsesTheSummaryImportanceAndItsPerFeatureDistributions) {
  const std::string html = Section(Step("summary"));
  EXPECT_NE(html.find("Summary of step <code>shap</code> over 3 rows."), std::string::npos);
  EXPECT_EQ(Count(html, "<circle"), 2u * 3u * 4u);
  EXPECT_NE(html.find("<title>Income: 0.116667</title>"), std::string::npos);
  EXPECT_NE(html.find("<title>Home = row 5: owner: -0.04</title>"), std::string::npos);
}

TEST(SurrogateReport, DrawsEveryNodeWithItsSplitAndTheRulesAndFidelity) {
  const std::string html = Section(Step("surrogate"));
  EXPECT_EQ(Count(html, "<g class=\"node\">"), 5u);
  EXPECT_EQ(Count(html, "class=\"edge\""), 4u);
  EXPECT_NE(html.find(">Income &lt;= 120.25</text>"), std::string::npos);
  EXPECT_NE(html.find(">Home in {rent, other}</text>"), std::string::npos);
  EXPECT_NE(html.find(">→ good (86.7%)</text>"), std::string::npos);
  EXPECT_NE(html.find("<li><code>Income &gt; 120.25 → good (87% of 60 rows)</code></li>"), std::string::npos);
  EXPECT_NE(html.find("<tr><td>holdout</td><td>accuracy</td><td>0.91</td></tr>"), std::string::npos);
  EXPECT_NE(html.find("<td><span class=\"fail\">no</span></td>"), std::string::npos);  // path disagrees
}

TEST(SurrogateReport, RefusesAChildThatIsNotANode) {
  Explanation e = Step("surrogate");
  e.body["nodes"][0]["children"] = nlohmann::json::array({1, 9});
  EXPECT_NE(Section(e).find("could not be drawn: a surrogate tree node has a bad child id."),
            std::string::npos);
}

TEST(FairnessReport, ShowsVerdictsRatesWithWilsonIntervalsAndMetricTables) {
  const std::string html = Section(Step("fairness"));
  EXPECT_NE(
      html.find("<p>Groups by Marital; favourable outcome <code>bad</code> (score ≥ 0.5). Overall: <strong "
                "class=\"fail\">FAIL</strong>.</p>"),
      std::string::npos);
  EXPECT_NE(html.find("<tr><td>loupe.four_fifths_impact_ratio</td><td>0.625</td><td>≥ 0.8</td><td "
                      "class=\"fail\">FAIL</td><td>no</td></tr>"),
            std::string::npos);
  EXPECT_NE(html.find("<td class=\"pass\">PASS</td>"), std::string::npos);
  // married: 0.25 on 300 rows -> Wilson [0.204, 0.302]
  EXPECT_NE(html.find("Marital=married (privileged): 0.25 on 300 rows, 95% interval [0.204, 0.302]"),
            std::string::npos);
  EXPECT_NE(html.find(">undefined</text>"), std::string::npos);  // single's FPR is null
  EXPECT_NE(html.find("<tr><td>statistical_parity_difference</td><td>0.15</td><td>[0.05, 0.24]</td></tr>"),
            std::string::npos);
  EXPECT_NE(html.find("<tr><td>equalized_odds_ratio</td><td>–</td><td></td></tr>"), std::string::npos);
  EXPECT_NE(html.find("<li>equalized_odds_ratio is undefined"), std::string::npos);
}

TEST(CounterfactualReport, ShowsFlipRatesScoreChangesAndTopRows) {
  const std::string html = Section(Step("counterfactual"));
  EXPECT_NE(html.find("Overall: 11.4% of rows flip"), std::string::npos);
  EXPECT_NE(html.find("<title>Marital=single: 0.15 on 120 rows, 95% interval"), std::string::npos);
  EXPECT_NE(html.find("<title>Marital=single: -0.08</title>"), std::string::npos);
  EXPECT_NE(
      html.find("<tr><td>17</td><td>Marital=single</td><td>Marital=married</td><td>0.55</td><td>0.31</td>"
                "<td>-0.24</td><td class=\"fail\">yes</td></tr>"),
      std::string::npos);
}

TEST(AttentionReport, DrawsRolloutFlowAndEveryLayerAndHead) {
  const std::string html = Section(Step("attention"));
  // per row: rollout and flow heatmaps, then per layer its head mean and 2 heads
  EXPECT_EQ(Count(html, "aria-label=\"Rollout heatmap\""), 2u);
  EXPECT_EQ(Count(html, "aria-label=\"Flow heatmap\""), 2u);
  EXPECT_EQ(Count(html, " head 1 attention\""), 2u * 2u);
  EXPECT_EQ(Count(html, " mean attention\""), 2u * 2u);
  EXPECT_NE(html.find("<option value=\"1-0\">layer 1, head 0</option>"), std::string::npos);
  EXPECT_EQ(Count(html, "aria-label=\"token importance\""), 2u);
  // attention.heads statistics: a layer × head table per statistic, null shown as a dash
  EXPECT_NE(
      html.find("<caption>entropy</caption><tr><th>layer \\ head</th><th>0</th><th>1</th></tr><tr><th>0</th>"
                "<td style=\"background:#4674af;color:#fff\">1.2</td>"),
      std::string::npos);
  EXPECT_NE(html.find(">0.9</td><td style=\"background:#ffffff\">–</td></tr></table>"), std::string::npos);
  EXPECT_NE(html.find(">&lt;b&gt;</span>"), std::string::npos);  // tokens are escaped
  EXPECT_NE(html.find("<title>[CLS] → dull: "), std::string::npos);
}

TEST(AttentionReport, ExplainsRolloutOnlyWhenThereIsAttention) {
  Explanation tokens_only = Step("attention_rollout");
  tokens_only.body.erase("rollout");
  EXPECT_EQ(Section(tokens_only).find("Rollout (Abnar"), std::string::npos);
  EXPECT_NE(Section(Step("attention_rollout")).find("Rollout (Abnar"), std::string::npos);
}

TEST(AttentionReport, ToleratesMissingOptionalFields) {
  std::string html = Section(Step("attention_rollout"));
  EXPECT_EQ(Count(html, "aria-label=\"Rollout heatmap\""), 2u);
  EXPECT_EQ(html.find("Flow"), std::string::npos);
  EXPECT_EQ(html.find("layer 0"), std::string::npos);
  Explanation bare = Step("attention_rollout");
  bare.body.erase("rollout");
  bare.body["tokens"][1] = "not a list";
  html = Section(bare);
  EXPECT_EQ(html.find("could not be drawn"), std::string::npos);
  EXPECT_NE(html.find(">gem</span>"), std::string::npos);
  EXPECT_NE(html.find("No tokens."), std::string::npos);
}

TEST(GenericReport, ListsTheScalarFieldsOfAnUnknownKind) {
  const std::string html = Section(Step("custom"));
  EXPECT_NE(html.find("no chart for results of kind <code>my_new_kind</code>"), std::string::npos);
  EXPECT_NE(html.find("<tr><td>label</td><td>&lt;i&gt;not markup&lt;/i&gt;</td></tr>"), std::string::npos);
}

TEST(Charts, NiceTicksAreRoundAndCoverTheRange) {
  EXPECT_EQ(NiceTicks(0, 1, 5), (std::vector<double>{0, 0.2, 0.4, 0.6000000000000001, 0.8, 1}));
  EXPECT_EQ(NiceTicks(-0.13, 0.31, 4), (std::vector<double>{-0.1, 0, 0.1, 0.2, 0.30000000000000004}));
  EXPECT_EQ(NiceTicks(0, 0.0966, 5), (std::vector<double>{0, 0.02, 0.04, 0.06, 0.08}));
  EXPECT_EQ(NiceTicks(2, 2, 5), std::vector<double>{2});
}

TEST(Charts, EvenSampleSpreadsOverAllRows) {
  EXPECT_EQ(EvenSample(3, 5), (std::vector<std::size_t>{0, 1, 2}));
  EXPECT_EQ(EvenSample(10, 4), (std::vector<std::size_t>{0, 2, 5, 7}));
}

TEST(Charts, WaterfallStepsStackFromTheBaseValue) {
  const std::string svg = WaterfallChart(1.0, {{"a", 0.5}, {"b", -0.25}}, "w");
  // b runs from 1 to 0.75, a from 0.75 to 1.25; the prediction is 1.25
  EXPECT_NE(svg.find(">f(x) = 1.25<"), std::string::npos);
  EXPECT_NE(svg.find("<title>a: +0.5</title>"), std::string::npos);
  EXPECT_NE(svg.find("<title>b: -0.25</title>"), std::string::npos);
}

}  // namespace
}  // namespace loupe::report
