#include "text_explainer.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "indexed_text.hpp"
#include "labels.hpp"
#include "local_model.hpp"
#include "loupe/sdk/attribution.hpp"
#include "loupe/sdk/common_params.hpp"
#include "loupe/sdk/error.hpp"

namespace loupe::lime {
namespace {

using loupe::sdk::Host;
using loupe::sdk::InvalidArgument;

constexpr double kDefaultKernelWidth = 25.0;
constexpr const char* kDefaultMask = "UNKWORDZ";

struct TextConfig {
  const LoupeTextModel* model = nullptr;
  loupe::sdk::OutputSelection output;
  LabelRequest labels;
  std::int64_t num_samples = 5000;
  std::int64_t num_features = kDefaultNumFeatures;
  std::int64_t batch_size = 0;  // texts per predict_texts call
  double kernel_width = kDefaultKernelWidth;
  bool bow = true;
  std::string mask = kDefaultMask;
  Selection selection = Selection::kAuto;
};

const LoupeTextModel* TextCapability(const Host& host) {
  const auto* model = static_cast<const LoupeTextModel*>(host.Capability(LOUPE_TEXT_CAPABILITY, 1));
  if (model == nullptr) {
    throw loupe::sdk::Unsupported("lime.text needs a text model (the host's 'text' capability), but model '" +
                                  host.ModelInfo().name + "' reads no text");
  }
  const std::size_t needed = offsetof(LoupeTextModel, predict_texts) + sizeof(model->predict_texts);
  if (model->struct_size < needed || model->tokenize_rows == nullptr || model->predict_texts == nullptr) {
    throw loupe::sdk::Unsupported("the 'text' capability of model '" + host.ModelInfo().name +
                                  "' lacks tokenize_rows or predict_texts, which lime.text needs");
  }
  return model;
}

std::int64_t PositiveInt(const loupe::sdk::Params& params, const std::string& name, std::int64_t fallback,
                         std::int64_t minimum, const std::string& meaning) {
  const std::int64_t value = params.GetOr<std::int64_t>(name, fallback);
  if (value < minimum) {
    throw InvalidArgument("parameter '" + name + "' must be at least " + std::to_string(minimum) + " (" +
                          meaning + "), found " + std::to_string(value));
  }
  return value;
}

TextConfig ConfigureText(const Host& host) {
  const loupe::sdk::Params& params = host.Params();
  TextConfig config;
  config.model = TextCapability(host);
  config.output = loupe::sdk::SelectOutput(host);
  config.labels = ResolveLabels(host, config.output.names);
  config.num_samples = PositiveInt(params, "num_samples", 5000, 2, "the text and one perturbation");
  config.num_features =
      PositiveInt(params, "num_features", kDefaultNumFeatures, 1, "words kept in the local model");
  config.batch_size = PositiveInt(params, "batch_size", config.num_samples, 1, "texts per model call");
  config.kernel_width = params.GetOr<double>("kernel_width", kDefaultKernelWidth);
  if (!(config.kernel_width > 0) || !std::isfinite(config.kernel_width)) {
    throw InvalidArgument("parameter 'kernel_width' must be a positive number, found " +
                          loupe::sdk::FormatNumber(config.kernel_width));
  }
  config.bow = params.GetOr<bool>("bow", true);
  config.mask = params.GetOr<std::string>("mask_string", kDefaultMask);
  config.selection = ReadSelection(host);
  const std::string metric = params.GetOr<std::string>("distance_metric", "cosine");
  if (metric != "cosine")
    throw InvalidArgument("parameter 'distance_metric' must be \"cosine\", found \"" + metric + "\"");
  return config;
}

// tokenize_rows sink: keeps each row's words, in the order of the requested rows.
LoupeStatus CollectWords(void* ctx, std::int64_t index, std::int64_t, const char* const*, const std::int64_t*,
                         std::int64_t, const char* const* words, std::int64_t n_words) noexcept {
  try {
    auto& rows = *static_cast<std::vector<std::vector<std::string>>*>(ctx);
    rows.at(static_cast<std::size_t>(index)).assign(words, words + n_words);
    return LOUPE_OK;
  } catch (...) {
    return LOUPE_ERROR_OUT_OF_MEMORY;
  }
}

// The explained texts: each row's words (as the model's tokenizer splits them) joined by single spaces.
std::vector<IndexedText> ReadTexts(const Host& host, const TextConfig& config,
                                   const std::vector<std::int64_t>& rows) {
  std::vector<std::vector<std::string>> words(rows.size());
  const LoupeStatus status = config.model->tokenize_rows(
      host.raw(), rows.data(), static_cast<std::int64_t>(rows.size()), &CollectWords, &words);
  if (status != LOUPE_OK) throw loupe::sdk::Error::AlreadyReported(status);
  std::vector<IndexedText> texts;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    std::string text;
    for (const std::string& word : words[i]) text += (text.empty() ? "" : " ") + word;
    texts.emplace_back(std::move(text), config.bow);
    if (texts.back().num_features() == 0) {
      throw InvalidArgument("lime.text cannot explain row " + std::to_string(rows[i]) +
                            ": its text has no words (letters, digits or '_') to remove");
    }
  }
  return texts;
}

// lime's neighbourhood of one text: keep [n][d] (1 = the feature is present) and the perturbed texts.
struct Neighbourhood {
  std::vector<double> keep;
  std::vector<std::string> texts;
};

// Sample 0 is the text; sample i removes 1 + Below(d) distinct features picked by a partial Fisher-Yates
// shuffle of 0..d-1 (lime: randint(1, d + 1), then choice(d, size, replace=False)).
Neighbourhood Sample(const IndexedText& text, const TextConfig& config, loupe::sdk::Rng rng) {
  const std::int64_t n = config.num_samples;
  const std::int64_t d = text.num_features();
  Neighbourhood hood;
  hood.keep.assign(static_cast<std::size_t>(n * d), 1.0);
  hood.texts.reserve(static_cast<std::size_t>(n));
  hood.texts.push_back(text.text());
  std::vector<std::int64_t> order(static_cast<std::size_t>(d));
  for (std::int64_t i = 1; i < n; ++i) {
    double* keep = hood.keep.data() + i * d;
    const auto removed = static_cast<std::int64_t>(1 + rng.Below(static_cast<std::uint64_t>(d)));
    std::iota(order.begin(), order.end(), 0);
    for (std::int64_t t = 0; t < removed; ++t) {
      const auto pick = t + static_cast<std::int64_t>(rng.Below(static_cast<std::uint64_t>(d - t)));
      std::swap(order[static_cast<std::size_t>(t)], order[static_cast<std::size_t>(pick)]);
      keep[order[static_cast<std::size_t>(t)]] = 0.0;
    }
    hood.texts.push_back(text.Perturbed(keep, config.mask));
  }
  return hood;
}

// The model on every text, [n][n_outputs], batch_size texts per predict_texts call.
std::vector<double> PredictTexts(const Host& host, const TextConfig& config,
                                 const std::vector<std::string>& texts, std::int64_t n_outputs) {
  const auto n = static_cast<std::int64_t>(texts.size());
  std::vector<const char*> pointers;
  for (const std::string& text : texts) pointers.push_back(text.c_str());
  std::vector<double> out(static_cast<std::size_t>(n * n_outputs));
  for (std::int64_t begin = 0; begin < n; begin += config.batch_size) {
    const std::int64_t count = std::min(config.batch_size, n - begin);
    const LoupeStatus status =
        config.model->predict_texts(host.raw(), pointers.data() + begin, count, config.output.space,
                                    out.data() + begin * n_outputs, count * n_outputs);
    if (status != LOUPE_OK) throw loupe::sdk::Error::AlreadyReported(status);
  }
  return out;
}

// sqrt(exp(-D^2 / w^2)) with D = 100 * cosine distance of each sample's presence vector to all-ones
// (sklearn's cosine distance: 1 - k / (sqrt(k) sqrt(d)) with k features present; 1 when k is 0).
std::vector<double> CosineKernel(const std::vector<double>& keep, std::int64_t n, std::int64_t d,
                                 double width) {
  std::vector<double> weights(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    const double present = std::accumulate(keep.begin() + i * d, keep.begin() + (i + 1) * d, 0.0);
    const double similarity =
        present > 0 ? present / (std::sqrt(present) * std::sqrt(static_cast<double>(d))) : 0.0;
    const double distance = 100.0 * std::clamp(1.0 - similarity, 0.0, 2.0);
    weights[static_cast<std::size_t>(i)] = std::sqrt(std::exp(-(distance * distance) / (width * width)));
  }
  return weights;
}

RowFits ExplainRow(const Host& host, const TextConfig& config, const IndexedText& text, std::int64_t row,
                   std::int64_t n_outputs) {
  const std::int64_t n = config.num_samples;
  const std::int64_t d = text.num_features();
  const Neighbourhood hood =
      Sample(text, config, host.Rng(static_cast<std::uint64_t>(row), kTextSampleStream));
  const std::vector<double> out = PredictTexts(host, config, hood.texts, n_outputs);
  const std::vector<double> weights = CosineKernel(hood.keep, n, d, config.kernel_width);
  const LocalDesign design = SummarizeDesign(hood.keep.data(), n, d, weights.data());

  RowFits fits;
  fits.prediction.assign(out.begin(), out.begin() + n_outputs);
  std::vector<double> y(static_cast<std::size_t>(n));
  for (const std::int64_t output : RowLabels(config.labels, fits.prediction.data(), n_outputs)) {
    for (std::int64_t i = 0; i < n; ++i)
      y[static_cast<std::size_t>(i)] = out[static_cast<std::size_t>(i * n_outputs + output)];
    LabelFit fit = FitLabel(design, hood.keep.data(), n, y.data(), weights.data(), config.selection,
                            config.num_features);
    fit.output = output;
    fits.labels.push_back(std::move(fit));
  }
  return fits;
}

// words[r]: per feature, the word, its positions among the text's words and its code-point spans.
nlohmann::json WordsJson(const IndexedText& text) {
  nlohmann::json words = nlohmann::json::array();
  for (std::int64_t f = 0; f < text.num_features(); ++f) {
    nlohmann::json spans = nlohmann::json::array();
    for (const auto& [start, end] : text.spans(f)) spans.push_back({start, end});
    words.push_back(
        {{"word", text.word(f)}, {"positions", text.word_positions(f)}, {"spans", std::move(spans)}});
  }
  return words;
}

// lime's as_list() per reported output: {feature, word, weight} by |weight|; null when the row did not
// explain the output.
nlohmann::json AsList(const IndexedText& text, const RowFits& row, const std::vector<std::int64_t>& outputs) {
  nlohmann::json per_output = nlohmann::json::array();
  for (const std::int64_t output : outputs) {
    const LabelFit* fit = FindFit(row, output);
    if (fit == nullptr) {
      per_output.push_back(nullptr);
      continue;
    }
    nlohmann::json list = nlohmann::json::array();
    for (const auto& [feature, weight] : fit->ranked) {
      list.push_back({{"feature", feature}, {"word", text.word(feature)}, {"weight", weight}});
    }
    per_output.push_back(std::move(list));
  }
  return per_output;
}

// feature_names "word_0".."word_{F-1}" with F the most features of any row; data[r][f] is row r's word f
// ("" past its own features).
void DescribeFeatures(const std::vector<IndexedText>& texts, loupe::sdk::FeatureAttribution* attribution) {
  std::int64_t width = 0;
  for (const IndexedText& text : texts) width = std::max(width, text.num_features());
  for (std::int64_t f = 0; f < width; ++f) attribution->feature_names.push_back("word_" + std::to_string(f));
  for (const IndexedText& text : texts) {
    std::vector<std::string> data(static_cast<std::size_t>(width));
    for (std::int64_t f = 0; f < text.num_features(); ++f) data[static_cast<std::size_t>(f)] = text.word(f);
    attribution->data.push_back(std::move(data));
  }
}

}  // namespace

TextExplainer::TextExplainer(const Host& host) { ConfigureText(host); }

void TextExplainer::Explain(const Host& host, const loupe::sdk::ResultBuilder& result) const {
  const TextConfig config = ConfigureText(host);
  const std::vector<std::int64_t> rows = host.StepRows();
  const std::vector<IndexedText> texts = ReadTexts(host, config, rows);
  const std::int64_t n_outputs = host.OutputCount(config.output.space);
  const auto r = static_cast<std::int64_t>(rows.size());

  std::vector<RowFits> explained(static_cast<std::size_t>(r));
  std::atomic<std::uint64_t> done{0};
  host.ParallelFor(0, r, 1, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      host.ThrowIfCancelled();
      const auto at = static_cast<std::size_t>(i);
      explained[at] = ExplainRow(host, config, texts[at], rows[at], n_outputs);
      host.Progress(++done, static_cast<std::uint64_t>(r));
    }
  });

  const std::vector<std::int64_t> outputs = ReportedOutputs(config.labels, explained);
  loupe::sdk::FeatureAttribution attribution;
  attribution.rows = rows;
  DescribeFeatures(texts, &attribution);
  nlohmann::json text_json = nlohmann::json::array(), words = nlohmann::json::array(),
                 as_list = nlohmann::json::array();
  for (std::size_t i = 0; i < texts.size(); ++i) {
    text_json.push_back(texts[i].text());
    words.push_back(WordsJson(texts[i]));
    as_list.push_back(AsList(texts[i], explained[i], outputs));
  }
  WriteLabelFields(result, config.labels, config.output.names, outputs, explained, &attribution);
  result.SetJson("texts", text_json);
  result.SetJson("words", words);
  result.SetJson("as_list", as_list);
  result.SetNumber("quality.model_evaluations", static_cast<double>(r * config.num_samples));
  result.SetNumber("quality.kernel_width", config.kernel_width);
  result.SetNumber("quality.num_features", static_cast<double>(config.num_features));
  result.SetNumber("quality.min_score", MinScore(explained));
}

loupe::sdk::ExplainerDef TextExplainer::Definition() {
  using loupe::sdk::Param;
  return loupe::sdk::ExplainerDef::Of<TextExplainer>("lime.text")
      .Summary(
          "LIME for text: a weighted ridge on word presence, fitted to the model on texts with words "
          "removed.")
      .Kind(loupe::sdk::kFeatureAttribution)
      .Scope(LOUPE_SCOPE_LOCAL)
      .Requires({LOUPE_TEXT_CAPABILITY})
      .Parameters({
          Param::Int("num_samples")
              .Default(5000)
              .Doc("Perturbed texts per explained row, the text itself included (at least 2)."),
          Param::Int("num_features")
              .Default(kDefaultNumFeatures)
              .Doc("Words kept in the local model (at most the row's number of words)."),
          Param::Float("kernel_width")
              .Default(kDefaultKernelWidth)
              .Doc("Width w of the kernel sqrt(exp(-D^2/w^2)) on D = 100 x the cosine distance to the text."),
          Param::Bool("bow").Default(true).Doc("Bag of words: one feature per distinct word, removed "
                                               "everywhere; false: one per position, masked."),
          Param::String("mask_string")
              .Default(kDefaultMask)
              .Doc("With bow false, the string that replaces a masked word."),
          FeatureSelectionParam("words"),
          loupe::sdk::LabelsParam(),
          loupe::sdk::TopLabelsParam(),
          Param::Enum("distance_metric", {"cosine"})
              .Default("cosine")
              .Doc("Distance between the word-presence vectors of a perturbed text and of the text."),
          Param::Int("batch_size")
              .Doc("Texts per model call; unset: all num_samples texts of a row in one call. Results do not "
                   "depend on it."),
          loupe::sdk::OutputParam(),
      });
}

}  // namespace loupe::lime
