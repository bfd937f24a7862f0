// Text models and their attention (docs/architecture.md §3, §5): how text reaches a model, the "text"
// capability (tokenize, predict strings) and the "attention" capability (AttentionSource) of
// loupe.model/v1 text models.
//
// How text rows reach a model. Model::Predict takes an f64 matrix, so a text input is carried in it as a
// *text handle*: the 0-based row number of the text in the dataset (NaN when the text is missing, which
// the model reads as the empty text). Dataset::Matrix writes that handle for a text column, so the feature
// matrix explainers receive already holds it, and FeatureModel::Predict replaces each handle with the
// dataset's string before it calls TextModel::PredictText. A text model's own Model::Predict has no
// dataset to resolve handles against and refuses a batch with a sentence saying so. Explainers that make
// new texts (lime.text removes words) call TextModel::PredictText — in C, the "text" capability's
// predict_texts — with the strings themselves.
//
// Tokens. The whitespace and wordpiece tokenizers write [CLS] first and [SEP] last and keep at most
// max_length tokens in all (the text's tokens are truncated to max_length − 2). Their vocabulary file
// holds one token per line, the id of a token is its 0-based line number, and it must contain [PAD]
// (padding id), [UNK] (unknown token), [CLS] and [SEP]. A huggingface tokenizer (tokenizer.json) adds
// the special tokens its post-processor names ([CLS] … [SEP], <s> … </s>, or none) and truncates to
// max_length in all. Each token records the index of the whitespace word of the text it came from
// (−1 for special tokens), so explainers can map token weights back to the words a person wrote.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "loupe/core/model.hpp"
#include "loupe/core/status.hpp"
#include "loupe/core/tensor.hpp"

namespace loupe {

// The names of the capabilities Model::text_model() and Model::attention_source() stand for, as plugins
// ask for their C forms (loupe_plugin.h).
inline constexpr std::string_view kTextCapability = "text";            // Model::text_model()
inline constexpr std::string_view kAttentionCapability = "attention";  // Model::attention_source()

// One text after tokenization, without padding.
struct TokenizedText {
  // The whitespace-separated words of the text after control and format characters are removed, as
  // written (not lower-cased). lime.text removes these words; word_index points into them.
  std::vector<std::string> words;
  std::vector<std::int64_t> ids;         // [T] vocabulary ids, special tokens included
  std::vector<std::string> tokens;       // [T] the tokens as the vocabulary spells them ("##ing" too)
  std::vector<std::int64_t> word_index;  // [T] index into `words`, −1 for special tokens ([CLS], [SEP])

  std::int64_t size() const { return static_cast<std::int64_t>(ids.size()); }
};

// Texts padded to one length for a network.
struct TokenBatch {
  std::int64_t rows = 0;
  std::int64_t length = 0;            // the longest row's token count
  std::vector<std::int64_t> ids;      // [rows, length]; [PAD]'s id past each row's end
  std::vector<std::uint8_t> mask;     // [rows, length]; 1 for a token, 0 for padding
  std::vector<std::int64_t> lengths;  // [rows] valid tokens per row
};

// Capability "text": a model whose input is one text.
class TextModel {
 public:
  virtual ~TextModel() = default;
  virtual Result<TokenizedText> Tokenize(std::string_view text) const = 0;
  // Evaluates the texts; returns f64 [texts.size(), Info().OutputNames(space).size()]. Reentrant.
  virtual Result<Tensor> PredictText(const std::vector<std::string>& texts, OutputSpace space) const = 0;
};

// The attention of one text, over its T valid tokens (padding excluded).
struct AttentionMaps {
  TokenizedText tokens;
  std::int64_t layers = 0;  // L: self-attention layers (0 for a model with attention pooling only)
  std::int64_t heads = 0;   // H (the same in every layer)
  // [L][H][T][T] row-major: probabilities[l][h][q][k] is how much query token q attends to key token k
  // in head h of layer l — the softmax output after the padding mask, per head, exactly what PyTorch's
  // nn.MultiheadAttention returns with need_weights=True, average_attn_weights=False. Rows sum to 1.
  std::vector<float> probabilities;
  // [T] the weights of attention pooling over the tokens (sum to 1); empty when the model has none.
  std::vector<float> pooling;
};

// Capability "attention": the attention probabilities of a text model.
class AttentionSource {
 public:
  virtual ~AttentionSource() = default;
  virtual std::int64_t AttentionLayers() const = 0;
  virtual std::int64_t AttentionHeads() const = 0;
  virtual bool HasPooling() const = 0;
  // One AttentionMaps per text, in order. Reentrant.
  virtual Result<std::vector<AttentionMaps>> Attention(const std::vector<std::string>& texts) const = 0;
};

}  // namespace loupe
