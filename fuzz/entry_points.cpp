#include "fuzz/entry_points.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <memory>
#include <new>
#include <system_error>

#include "loupe/core/attention.hpp"
#include "loupe/core/dataset.hpp"
#include "loupe/core/gradient.hpp"
#include "loupe/core/model.hpp"
#include "loupe/core/pipeline.hpp"
#include "model/hf_tokenizer.hpp"
#include "model/native_model.hpp"
#include "model/onnx_model.hpp"
#include "model/safetensors.hpp"
#include "model/tokenizer.hpp"
#include "model/xgboost_model.hpp"
#include "onnx/graph.hpp"

#ifndef LOUPE_FUZZ_FIXTURES_DIR
#error "LOUPE_FUZZ_FIXTURES_DIR must name tests/fixtures"
#endif

namespace loupe::fuzz {
namespace {

namespace fs = std::filesystem;

// A parser that breaks its own contract is a finding like a crash: abort so that libFuzzer saves the
// input, and so that the regression test fails loudly.
void Require(bool condition, const char* what) {
  if (condition) return;
  std::fprintf(stderr, "loupe fuzz: contract broken: %s\n", what);
  std::abort();
}

// A refusal must say why in one line.
Status CheckedError(Status status) {
  if (!status.ok()) {
    Require(!status.message().empty(), "an error without a message");
  }
  return status;
}

// The file parsers read paths, so file inputs are written to a private folder in memory (/dev/shm when
// there is one), created once per process beside copies of the fixture files that model YAML may name.
class Scratch {
 public:
  static const Scratch& Get() {
    static const Scratch scratch;
    return scratch;
  }
  fs::path Write(const std::string& name, std::string_view bytes) const {
    const fs::path path = dir_ / name;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return path;
  }
  ~Scratch() {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

 private:
  Scratch() {
    const fs::path base = fs::is_directory("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    dir_ = base / ("loupe-fuzz-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    const fs::path fixtures = LOUPE_FUZZ_FIXTURES_DIR;
    const std::pair<const char*, const char*> copies[] = {
        {"models/credit_mlp.safetensors", "mlp.safetensors"},
        {"text/tiny.safetensors", "tiny.safetensors"},
        {"text/vocab.txt", "vocab.txt"}};
    for (const auto& [from, to] : copies) {
      fs::copy_file(fixtures / from, dir_ / to, fs::copy_options::overwrite_existing);
    }
  }
  fs::path dir_;
};

// Splits `input` at NUL bytes.
std::vector<std::string_view> SplitAtNul(std::string_view input) {
  std::vector<std::string_view> parts;
  for (;;) {
    const std::size_t nul = input.find('\0');
    parts.push_back(input.substr(0, nul));
    if (nul == std::string_view::npos) return parts;
    input.remove_prefix(nul + 1);
  }
}

// Predicts two rows (zeros and NaN, i.e. missing; for a text model two texts) and checks the shape of
// what comes back.
// The gradient capability, when the model offers it, on the rows PredictTwoRows predicts (its backward
// pass walks the same graph the forward did).
Status DifferentiateTwoRows(const Model& model, const TensorView& batch) {
  const GradientModel* gradient = model.gradient_model();
  if (gradient == nullptr) return Status::Ok();
  for (const OutputSpace space : {OutputSpace::kRaw, model.Info().default_space()}) {
    const std::vector<double> weights(2 * model.Info().OutputNames(space).size(), 1.0);
    std::vector<double> gradients(static_cast<std::size_t>(batch.size()));
    const Status status = gradient->Gradient(batch, space, weights, gradients);
    if (!status.ok()) return CheckedError(status);
  }
  return Status::Ok();
}

Status PredictTwoRows(const Model& model) {
  const ModelInfo& info = model.Info();
  if (const TextModel* text_model = model.text_model()) {
    for (const OutputSpace space : {OutputSpace::kRaw, info.default_space()}) {
      Result<Tensor> out = text_model->PredictText({"The food was good.", ""}, space);
      if (!out.ok()) return CheckedError(out.status());
      Require(out->ndim() == 2 && out->dim(0) == 2 &&
                  out->dim(1) == static_cast<std::int64_t>(info.OutputNames(space).size()),
              "PredictText returned a shape other than [texts, outputs]");
    }
    return Status::Ok();
  }
  for (const ModelInput& input : info.inputs) {
    if (input.type == ColumnType::kText) return Status::Ok();  // text rows are handles into a dataset
  }
  const auto width = static_cast<std::int64_t>(info.inputs.size());
  std::vector<double> rows(static_cast<std::size_t>(2 * width), 0.0);
  std::fill(rows.begin() + width, rows.end(), std::numeric_limits<double>::quiet_NaN());
  const TensorView batch(rows.data(), DType::kF64, {2, width});
  for (const OutputSpace space : {OutputSpace::kRaw, info.default_space()}) {
    Result<Tensor> out = model.Predict(batch, space);
    if (!out.ok()) return CheckedError(out.status());
    Require(out->ndim() == 2 && out->dim(0) == 2 &&
                out->dim(1) == static_cast<std::int64_t>(info.OutputNames(space).size()),
            "Predict returned a shape other than [rows, outputs]");
  }
  return DifferentiateTwoRows(model, batch);
}

// Checks one encoding against the text it came from.
void CheckHfEncoding(const model::hf::HfTokenizer& tokenizer, const model::hf::HfEncoding& encoding,
                     std::string_view text) {
  const std::size_t count = encoding.ids.size();
  Require(encoding.tokens.size() == count && encoding.offsets.size() == count &&
              encoding.type_ids.size() == count && encoding.special.size() == count,
          "encoding arrays of different lengths");
  for (const std::int64_t id : encoding.ids) {
    Require(id >= 0 && id < tokenizer.vocab_size(), "a token id outside the vocabulary");
  }
  for (const auto& [begin, end] : encoding.offsets) {
    Require(begin <= end && end <= text.size(), "a token offset outside its text");
  }
  if (tokenizer.max_length()) {
    Require(static_cast<std::int64_t>(count) <= *tokenizer.max_length(),
            "an encoding longer than max_length");
  }
}

}  // namespace

Status FuzzCsv(std::string_view input) {
  Result<Dataset> dataset = ParseCsv(std::string(input), "fuzz.csv");
  if (!dataset.ok()) return CheckedError(dataset.status());
  Require(dataset->num_rows() > 0, "a dataset without rows was accepted");
  std::vector<std::string> names;
  for (const Column& column : dataset->columns()) {
    Require(column.size() == dataset->num_rows(), "columns of different lengths");
    for (std::int64_t row = 0; row < column.size(); ++row) (void)column.Format(row);
    names.push_back(column.name());
  }
  Result<Tensor> matrix = dataset->Matrix(names);
  Require(matrix.ok(), "Matrix() refused the dataset's own columns");
  return Status::Ok();
}

Status FuzzPipeline(std::string_view input) {
  const std::vector<std::string_view> parts = SplitAtNul(input);
  std::vector<Override> overrides;
  for (std::size_t i = 1; i < parts.size(); ++i) {
    const std::string_view set = parts[i];
    const std::size_t eq = set.find('=');
    if (eq == std::string_view::npos || eq == 0) continue;  // the CLI refuses these before parsing
    overrides.push_back({std::string(set.substr(0, eq)), std::string(set.substr(eq + 1))});
  }
  const ParseOutcome outcome = ParsePipelineText(std::string(parts[0]), "/fuzz/pipeline.yaml", overrides);
  Require(outcome.spec.has_value() == outcome.diagnostics.empty(), "a spec together with diagnostics");
  for (const Diagnostic& diagnostic : outcome.diagnostics) {
    Require(!diagnostic.message.empty(), "a diagnostic without a message");
    (void)diagnostic.ToString();
  }
  if (outcome.diagnostics.empty()) return Status::Ok();
  return InvalidArgument(outcome.diagnostics.front().ToString());
}

Status FuzzNativeModel(std::string_view input) {
  const fs::path path = Scratch::Get().Write("model.yaml", input);
  Result<std::shared_ptr<const Model>> model = LoadNativeModel(path);
  if (!model.ok()) return CheckedError(model.status());
  return PredictTwoRows(**model);
}

Status FuzzSafetensors(std::string_view input) {
  std::vector<std::uint8_t> bytes(input.begin(), input.end());
  Result<model::SafetensorsFile> file = model::SafetensorsFile::Parse(std::move(bytes), "fuzz.safetensors");
  if (!file.ok()) return CheckedError(file.status());
  for (const std::string& name : file->Names()) {
    const model::SafeTensorInfo* info = file->Find(name);
    Require(info != nullptr, "a listed tensor that Find() does not know");
    if (info->floating()) {
      Result<std::vector<float>> values = file->Floats(name);
      if (!values.ok()) return CheckedError(values.status());
    } else {
      Result<std::vector<std::int64_t>> values = file->Int64s(name);
      if (!values.ok()) return CheckedError(values.status());
    }
  }
  return Status::Ok();
}

Status FuzzXGBoost(std::string_view input) {
  const fs::path path = Scratch::Get().Write("model.json", input);
  Result<std::shared_ptr<const Model>> model = LoadXGBoostModel(path);
  if (!model.ok()) return CheckedError(model.status());
  return PredictTwoRows(**model);
}

Status FuzzVocabulary(std::string_view input) {
  const std::vector<std::string_view> parts = SplitAtNul(input);
  const fs::path path = Scratch::Get().Write("vocab.fuzz.txt", parts[0]);
  const std::string text = parts.size() > 1 ? std::string(parts[1]) : std::string("Hello, world! Ça va?");
  for (const model::TokenizerKind kind :
       {model::TokenizerKind::kWhitespace, model::TokenizerKind::kWordPiece}) {
    model::TokenizerOptions options;
    options.kind = kind;
    options.max_length = 16;
    Result<model::Tokenizer> tokenizer = model::Tokenizer::FromFile(path, options);
    if (!tokenizer.ok()) return CheckedError(tokenizer.status());
    const TokenizedText tokens = tokenizer->Tokenize(text);
    Require(tokens.size() >= 2 && tokens.size() <= options.max_length,
            "a token count outside [2, max_length]");
    Require(tokens.tokens.size() == tokens.ids.size() && tokens.word_index.size() == tokens.ids.size(),
            "token arrays of different lengths");
    for (const std::int64_t id : tokens.ids) {
      Require(id >= 0 && id < tokenizer->vocab_size(), "a token id outside the vocabulary");
    }
    const TokenBatch batch = tokenizer->Pad({tokens, tokenizer->Tokenize("")});
    Require(batch.ids.size() == static_cast<std::size_t>(batch.rows * batch.length),
            "a padded batch of the wrong size");
  }
  return Status::Ok();
}

Status FuzzHfTokenizer(std::string_view input) {
  std::vector<std::string_view> parts = SplitAtNul(input);
  const std::string_view file = parts[0];
  std::vector<std::string_view> texts(parts.begin() + 1, parts.end());
  if (texts.empty()) texts.push_back("Hello, world! Ça va? 東京 👍🏽 don't");

  Result<model::hf::HfTokenizer> tokenizer = model::hf::HfTokenizer::FromJson(file, "tokenizer.json");
  if (!tokenizer.ok()) return CheckedError(tokenizer.status());
  for (const std::string_view text : texts) CheckHfEncoding(*tokenizer, tokenizer->Encode(text), text);

  // The same file as a text model reads it: truncation, padding and word indices.
  const fs::path path = Scratch::Get().Write("tokenizer.json", file);
  Result<model::Tokenizer> text_tokenizer = model::Tokenizer::FromHuggingFace(path, 16);
  if (!text_tokenizer.ok()) return CheckedError(text_tokenizer.status());
  std::vector<TokenizedText> rows;
  for (const std::string_view text : texts) {
    TokenizedText tokens = text_tokenizer->Tokenize(text);
    Require(tokens.size() <= 16, "a token count above max_length");
    Require(tokens.tokens.size() == tokens.ids.size() && tokens.word_index.size() == tokens.ids.size(),
            "token arrays of different lengths");
    rows.push_back(std::move(tokens));
  }
  const TokenBatch batch = text_tokenizer->Pad(rows);
  Require(batch.ids.size() == static_cast<std::size_t>(batch.rows * batch.length),
          "a padded batch of the wrong size");
  return Status::Ok();
}

Status FuzzOnnx(std::string_view input) {
  // Without the reader module (lib/loupe/modules beside bin/) every input would be refused with the same
  // sentence and the protobuf reading never fuzzed.
  static const bool module_found = !onnx::FindOnnxModule().module.empty();
  Require(module_found, "the ONNX reader module loupe_onnx_reader.so was not found beside the fuzz target");
  const fs::path path = Scratch::Get().Write("model.onnx", input);
  Result<std::shared_ptr<const Model>> model = LoadOnnxModel(path);
  if (!model.ok()) return CheckedError(model.status());
  return PredictTwoRows(**model);
}

const std::vector<Target>& Targets() {
  static const std::vector<Target> targets = {
      {"csv", FuzzCsv},
      {"pipeline", FuzzPipeline},
      {"native_model", FuzzNativeModel},
      {"safetensors", FuzzSafetensors},
      {"xgboost", FuzzXGBoost},
      {"vocabulary", FuzzVocabulary},
      {"tokenizer_json", FuzzHfTokenizer},
  };
  static const std::vector<Target> with_onnx = [] {
    std::vector<Target> all = targets;
    all.push_back({"onnx", FuzzOnnx});
    return all;
  }();
  return onnx::OnnxSupported() ? with_onnx : targets;
}

}  // namespace loupe::fuzz
