#include "model/hf_encoder.hpp"

#include <algorithm>

#include "model/dense_layers.hpp"
#include "model/hf_config.hpp"
#include "model/safetensors.hpp"
#include "model/text_layers.hpp"
#include "model/text_model.hpp"
#include "model/tokenizer.hpp"

// Parameter names and semantics follow Hugging Face transformers 4.x: models/bert/modeling_bert.py
// (BertEmbeddings, BertSelfAttention, BertLayer, BertPooler, BertForSequenceClassification),
// models/distilbert/modeling_distilbert.py (Embeddings, MultiHeadSelfAttention, TransformerBlock,
// DistilBertForSequenceClassification) and models/roberta/modeling_roberta.py (RobertaEmbeddings'
// create_position_ids_from_input_ids, RobertaClassificationHead). tests/fixtures/hf_models re-implements
// them in PyTorch as the reference.
namespace loupe::model {
namespace {

constexpr const char* kWeightsFile = "model.safetensors";

ActivationShape Sequence(std::int64_t width) {
  ActivationShape shape;
  shape.sequence = true;
  shape.width = width;
  return shape;
}

// Token ids [n, t] → word + position + token-type(0) embeddings, then LayerNorm (BertEmbeddings; without
// token types for DistilBERT). Position s reads row s + offset: RoBERTa's positions start past padding_idx
// (pad + 1 + the count of non-padding tokens so far, which for right padding is pad + 1 + s).
// Its output (after the LayerNorm) is what the text gradient differentiates, as Captum's
// LayerIntegratedGradients(model, model.bert.embeddings) in the Hugging Face tutorials.
class HfEmbeddings final : public Layer, public EmbeddingOutputLayer {
 public:
  struct Tables {
    std::string name;  // "bert.embeddings"
    std::int64_t rows = 0, positions = 0, dim = 0, offset = 0;
    std::vector<float> word, position, token_type;  // [rows, dim], [positions, dim], [dim] or empty
    std::vector<float> gamma, beta;
    float eps = 1e-12f;
  };
  explicit HfEmbeddings(Tables tables) : e_(std::move(tables)) {}

  ActivationShape output() const override { return Sequence(e_.dim); }

  Status Forward(const Activations& in, Activations& out) const override {
    if (in.t + e_.offset > e_.positions) {
      return InvalidArgument("a sequence of " + std::to_string(in.t) +
                             " tokens needs more than the model's " +
                             std::to_string(e_.positions - e_.offset) + " positions.");
    }
    std::vector<float> sum(static_cast<std::size_t>(in.n * in.t * e_.dim));
    for (std::int64_t i = 0; i < in.n * in.t; ++i) {
      const std::int64_t id = in.ids[static_cast<std::size_t>(i)];
      if (id < 0 || id >= e_.rows) {
        return InvalidArgument("token id " + std::to_string(id) + " is outside the word embedding's " +
                               std::to_string(e_.rows) + " rows.");
      }
      AddRow(id, i % in.t, sum.data() + i * e_.dim);
    }
    out.lengths = in.lengths;
    out.Resize(in.n, in.t, e_.dim);
    return nn::LayerNorm(sum.data(), in.n * in.t, e_.dim, e_.gamma.data(), e_.beta.data(), e_.eps,
                         out.values.data());
  }

  const std::string& LayerName() const override { return e_.name; }

  // An all-padding input: BERT and DistilBERT number its positions 0, 1, ...; RoBERTa's
  // create_position_ids_from_input_ids gives every padding token position padding_idx (offset − 1).
  Status PaddingOutput(std::int64_t pad, std::int64_t t, std::vector<float>& out) const override {
    if (pad < 0 || pad >= e_.rows || t + e_.offset > e_.positions) {
      return InvalidArgument("the padding token " + std::to_string(pad) + " of a text of " +
                             std::to_string(t) + " tokens is outside the embeddings' " +
                             std::to_string(e_.rows) + " rows and " +
                             std::to_string(e_.positions - e_.offset) + " positions.");
    }
    std::vector<float> sum(static_cast<std::size_t>(t * e_.dim));
    for (std::int64_t s = 0; s < t; ++s) {
      const std::int64_t step = e_.offset > 0 ? -1 : s;  // AddRow reads position row step + offset
      AddRow(pad, step, sum.data() + s * e_.dim);
    }
    out.resize(sum.size());
    return nn::LayerNorm(sum.data(), t, e_.dim, e_.gamma.data(), e_.beta.data(), e_.eps, out.data());
  }

 private:
  void AddRow(std::int64_t id, std::int64_t step, float* y) const {
    const float* word = e_.word.data() + id * e_.dim;
    const float* position = e_.position.data() + (step + e_.offset) * e_.dim;
    for (std::int64_t j = 0; j < e_.dim; ++j) y[j] = word[j] + position[j];
    if (e_.token_type.empty()) return;
    for (std::int64_t j = 0; j < e_.dim; ++j) y[j] += e_.token_type[static_cast<std::size_t>(j)];
  }

  Tables e_;
};

// Reads tensors of model.safetensors with the shape config.json implies; errors name both files.
class TensorReader {
 public:
  TensorReader(const SafetensorsFile& file, const HfConfig& config) : file_(file), config_(config) {}

  Result<std::vector<float>> Read(const std::string& name, const Shape& expected) const {
    const SafeTensorInfo* info = file_.Find(name);
    if (info == nullptr) {
      return InvalidArgument(std::string(kWeightsFile) + " has no tensor '" + name + "', which " +
                             config_.architecture_name + " (config.json) needs.");
    }
    if (info->shape != expected) {
      return InvalidArgument(std::string(kWeightsFile) + ": tensor '" + name + "' has shape " +
                             ShapeToString(info->shape) + ", but config.json implies " +
                             ShapeToString(expected) + ".");
    }
    Result<std::vector<float>> values = file_.Floats(name);
    if (!values.ok()) return InvalidArgument(std::string(kWeightsFile) + ": " + values.status().message());
    return values;
  }

  // nn.Linear `prefix`.weight [out, in] and `prefix`.bias [out].
  Result<nn::DenseLayer> Dense(const std::string& prefix, std::int64_t out, std::int64_t in) const {
    LOUPE_ASSIGN_OR_RETURN(std::vector<float> weight, Read(prefix + ".weight", {out, in}));
    LOUPE_ASSIGN_OR_RETURN(std::vector<float> bias, Read(prefix + ".bias", {out}));
    return nn::DenseLayer(in, out, std::move(weight), std::move(bias));
  }

  // The query, key and value nn.Linears stacked into PyTorch's in_proj layout [3d, d].
  Result<nn::DenseLayer> StackedQkv(const std::string& q, const std::string& k, const std::string& v) const {
    const std::int64_t d = config_.hidden;
    std::vector<float> weight, bias;
    for (const std::string& prefix : {q, k, v}) {
      LOUPE_ASSIGN_OR_RETURN(const std::vector<float> w, Read(prefix + ".weight", {d, d}));
      LOUPE_ASSIGN_OR_RETURN(const std::vector<float> b, Read(prefix + ".bias", {d}));
      weight.insert(weight.end(), w.begin(), w.end());
      bias.insert(bias.end(), b.begin(), b.end());
    }
    return nn::DenseLayer(d, 3 * d, std::move(weight), std::move(bias));
  }

  const HfConfig& config() const { return config_; }

 private:
  const SafetensorsFile& file_;
  const HfConfig& config_;
};

// The state_dict names of one architecture.
struct Names {
  std::string embeddings;  // "bert.embeddings."
  std::string layer;       // "bert.encoder.layer." (+ index + ".")
  // Within a layer:
  std::string query, key, value, attention_out, attention_norm, ffn_in, ffn_out, ffn_norm;
};

Names NamesOf(HfArchitecture architecture) {
  if (architecture == HfArchitecture::kDistilBert) {
    return {"distilbert.embeddings.",
            "distilbert.transformer.layer.",
            "attention.q_lin",
            "attention.k_lin",
            "attention.v_lin",
            "attention.out_lin",
            "sa_layer_norm",
            "ffn.lin1",
            "ffn.lin2",
            "output_layer_norm"};
  }
  const std::string base = architecture == HfArchitecture::kRoberta ? "roberta." : "bert.";
  return {
      base + "embeddings.",   base + "encoder.layer.",  "attention.self.query",       "attention.self.key",
      "attention.self.value", "attention.output.dense", "attention.output.LayerNorm", "intermediate.dense",
      "output.dense",         "output.LayerNorm"};
}

Result<std::unique_ptr<Layer>> ReadEmbeddings(const TensorReader& reader, const Names& names) {
  const HfConfig& c = reader.config();
  HfEmbeddings::Tables t;
  t.name = names.embeddings.substr(0, names.embeddings.size() - 1);  // without the dot
  t.rows = c.vocab_size;
  t.positions = c.max_positions;
  t.dim = c.hidden;
  t.offset = c.position_offset();
  t.eps = c.layer_norm_eps;
  LOUPE_ASSIGN_OR_RETURN(t.word, reader.Read(names.embeddings + "word_embeddings.weight", {t.rows, t.dim}));
  LOUPE_ASSIGN_OR_RETURN(t.position,
                         reader.Read(names.embeddings + "position_embeddings.weight", {t.positions, t.dim}));
  if (c.type_vocab_size > 0) {
    LOUPE_ASSIGN_OR_RETURN(
        std::vector<float> types,
        reader.Read(names.embeddings + "token_type_embeddings.weight", {c.type_vocab_size, t.dim}));
    t.token_type.assign(types.begin(), types.begin() + t.dim);  // one sentence: every token has type 0
  }
  LOUPE_ASSIGN_OR_RETURN(t.gamma, reader.Read(names.embeddings + "LayerNorm.weight", {t.dim}));
  LOUPE_ASSIGN_OR_RETURN(t.beta, reader.Read(names.embeddings + "LayerNorm.bias", {t.dim}));
  return std::unique_ptr<Layer>(std::make_unique<HfEmbeddings>(std::move(t)));
}

// Encoder layer `index`: post-LN, LN1(x + SA(x)) then LN2(x + FF(x)), as BertLayer and TransformerBlock.
Result<std::unique_ptr<Layer>> ReadEncoderLayer(const TensorReader& reader, const Names& names,
                                                std::int64_t index, nn::Precision precision) {
  const HfConfig& c = reader.config();
  const std::string at = names.layer + std::to_string(index) + ".";
  TransformerEncoderParts parts;
  parts.d = c.hidden;
  parts.heads = c.heads;
  parts.norm_first = false;
  parts.activation = c.activation;
  parts.eps = c.layer_norm_eps;
  parts.precision = precision;
  LOUPE_ASSIGN_OR_RETURN(nn::DenseLayer qkv,
                         reader.StackedQkv(at + names.query, at + names.key, at + names.value));
  LOUPE_ASSIGN_OR_RETURN(nn::DenseLayer out, reader.Dense(at + names.attention_out, c.hidden, c.hidden));
  LOUPE_ASSIGN_OR_RETURN(nn::DenseLayer ffn_in, reader.Dense(at + names.ffn_in, c.intermediate, c.hidden));
  LOUPE_ASSIGN_OR_RETURN(nn::DenseLayer ffn_out, reader.Dense(at + names.ffn_out, c.hidden, c.intermediate));
  LOUPE_ASSIGN_OR_RETURN(std::vector<float> g1,
                         reader.Read(at + names.attention_norm + ".weight", {c.hidden}));
  LOUPE_ASSIGN_OR_RETURN(std::vector<float> b1, reader.Read(at + names.attention_norm + ".bias", {c.hidden}));
  LOUPE_ASSIGN_OR_RETURN(std::vector<float> g2, reader.Read(at + names.ffn_norm + ".weight", {c.hidden}));
  LOUPE_ASSIGN_OR_RETURN(std::vector<float> b2, reader.Read(at + names.ffn_norm + ".bias", {c.hidden}));
  TransformerEncoderWeights weights{std::move(qkv), std::move(out), std::move(ffn_in), std::move(ffn_out),
                                    std::move(g1),  std::move(b1),  std::move(g2),     std::move(b2)};
  return std::unique_ptr<Layer>(MakeTransformerEncoderLayer(parts, std::move(weights)));
}

std::unique_ptr<Layer> Elementwise(DenseKind kind, std::int64_t width) {
  DenseSpec spec;
  spec.kind = kind;
  spec.in = spec.out = width;
  ActivationShape shape;
  shape.width = width;
  return MakeDenseLayer(std::move(spec), shape, nn::Precision::kF32);
}

Result<std::unique_ptr<Layer>> Linear(const TensorReader& reader, const std::string& prefix, std::int64_t out,
                                      std::int64_t in, nn::Precision precision) {
  DenseSpec spec;
  spec.kind = DenseKind::kLinear;
  spec.in = in;
  spec.out = out;
  LOUPE_ASSIGN_OR_RETURN(spec.weight, reader.Read(prefix + ".weight", {out, in}));
  LOUPE_ASSIGN_OR_RETURN(spec.bias, reader.Read(prefix + ".bias", {out}));
  ActivationShape shape;
  shape.width = in;
  return MakeDenseLayer(std::move(spec), shape, precision);
}

// After the encoder: the first token's vector, then the architecture's head — BertPooler (dense, tanh) and
// classifier; DistilBERT's pre_classifier, ReLU, classifier; RobertaClassificationHead's dense, tanh,
// out_proj — and a softmax for a classifier. Dropout is the identity at inference.
Status AppendHead(const TensorReader& reader, nn::Precision precision,
                  std::vector<std::unique_ptr<Layer>>& layers) {
  const HfConfig& c = reader.config();
  const auto labels = static_cast<std::int64_t>(c.labels.size());
  std::string dense = "bert.pooler.dense", output = "classifier";
  DenseKind activation = DenseKind::kTanh;
  if (c.architecture == HfArchitecture::kDistilBert) {
    dense = "pre_classifier";
    activation = DenseKind::kRelu;
  } else if (c.architecture == HfArchitecture::kRoberta) {
    dense = "classifier.dense";
    output = "classifier.out_proj";
  }
  layers.push_back(MakeClsPool(c.hidden));
  LOUPE_ASSIGN_OR_RETURN(std::unique_ptr<Layer> first, Linear(reader, dense, c.hidden, c.hidden, precision));
  layers.push_back(std::move(first));
  layers.push_back(Elementwise(activation, c.hidden));
  LOUPE_ASSIGN_OR_RETURN(std::unique_ptr<Layer> last, Linear(reader, output, labels, c.hidden, precision));
  layers.push_back(std::move(last));
  if (c.task == Task::kClassification) layers.push_back(Elementwise(DenseKind::kSoftmax, labels));
  return Status::Ok();
}

Result<std::vector<std::unique_ptr<Layer>>> ReadLayers(const TensorReader& reader, nn::Precision precision) {
  const HfConfig& c = reader.config();
  const Names names = NamesOf(c.architecture);
  std::vector<std::unique_ptr<Layer>> layers;
  LOUPE_ASSIGN_OR_RETURN(std::unique_ptr<Layer> embeddings, ReadEmbeddings(reader, names));
  layers.push_back(std::move(embeddings));
  for (std::int64_t i = 0; i < c.layers; ++i) {
    LOUPE_ASSIGN_OR_RETURN(std::unique_ptr<Layer> layer, ReadEncoderLayer(reader, names, i, precision));
    layers.push_back(std::move(layer));
  }
  LOUPE_RETURN_IF_ERROR(AppendHead(reader, precision, layers));
  return layers;
}

// tokenizer.json, truncated to the positions the model has when the file allows longer texts.
Result<Tokenizer> ReadTokenizer(const std::filesystem::path& dir, const HfConfig& config) {
  const std::filesystem::path file = dir / "tokenizer.json";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) {
    return NotFound("'" + dir.string() +
                    "' has no tokenizer.json; save it beside the model with tokenizer.save_pretrained(dir).");
  }
  const std::int64_t positions = config.max_positions - config.position_offset();
  LOUPE_ASSIGN_OR_RETURN(Tokenizer tokenizer, Tokenizer::FromHuggingFace(file, std::nullopt));
  if (tokenizer.options().max_length > positions) {
    LOUPE_ASSIGN_OR_RETURN(tokenizer, Tokenizer::FromHuggingFace(file, positions));
  }
  if (tokenizer.vocab_size() > config.vocab_size) {
    return InvalidArgument("tokenizer.json has " + std::to_string(tokenizer.vocab_size()) +
                           " tokens but config.json's vocab_size is " + std::to_string(config.vocab_size) +
                           ".");
  }
  return tokenizer;
}

ModelInfo InfoOf(const std::filesystem::path& dir, const HfConfig& config, const std::string& text_column) {
  ModelInfo info;
  info.name = dir.filename().empty() ? dir.parent_path().filename().string() : dir.filename().string();
  info.task = config.task;
  ModelInput input;
  input.name = text_column;
  input.type = ColumnType::kText;
  info.inputs.push_back(input);
  info.output_names = info.raw_output_names = config.labels;
  return info;
}

}  // namespace

bool IsHuggingFaceDirectory(const std::filesystem::path& dir) {
  std::error_code ec;
  return std::filesystem::is_directory(dir, ec) && std::filesystem::is_regular_file(dir / "config.json", ec);
}

Result<std::shared_ptr<const Model>> LoadHuggingFaceModel(const std::filesystem::path& dir,
                                                          nn::Precision precision,
                                                          const std::string& text_column) {
  if (!IsHuggingFaceDirectory(dir)) {
    return NotFound("'" + dir.string() +
                    "' is not a save_pretrained directory: it must be a directory holding config.json.");
  }
  LOUPE_ASSIGN_OR_RETURN(const HfConfig config, ReadHfConfig(dir / "config.json"));
  std::error_code ec;
  if (!std::filesystem::is_regular_file(dir / kWeightsFile, ec)) {
    return NotFound("'" + dir.string() + "' has no " + kWeightsFile +
                    "; save the model with model.save_pretrained(dir) (safe_serialization, the default).");
  }
  LOUPE_ASSIGN_OR_RETURN(const SafetensorsFile weights, SafetensorsFile::Open(dir / kWeightsFile));
  LOUPE_ASSIGN_OR_RETURN(Tokenizer tokenizer, ReadTokenizer(dir, config));
  const TensorReader reader(weights, config);
  LOUPE_ASSIGN_OR_RETURN(std::vector<std::unique_ptr<Layer>> layers, ReadLayers(reader, precision));
  return MakeTextNetworkModel(InfoOf(dir, config, text_column), std::move(tokenizer), std::move(layers),
                              config.task == Task::kClassification, precision);
}

}  // namespace loupe::model
