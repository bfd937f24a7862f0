// The config.json of a Hugging Face `save_pretrained` directory, for the sequence classifiers Loupe runs
// itself (docs/architecture.md §5, "Hugging Face models"): BertForSequenceClassification,
// DistilBertForSequenceClassification and RobertaForSequenceClassification. Only the fields that decide
// the computation are read; every error is one sentence naming config.json and the field.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "loupe/core/model.hpp"
#include "nn/ops.hpp"

namespace loupe::model {

enum class HfArchitecture { kBert, kDistilBert, kRoberta };

struct HfConfig {
  HfArchitecture architecture = HfArchitecture::kBert;
  std::string architecture_name;  // as config.json's `architectures` spells it
  std::int64_t vocab_size = 0;
  std::int64_t hidden = 0;        // hidden_size (DistilBERT: dim)
  std::int64_t layers = 0;        // num_hidden_layers (n_layers)
  std::int64_t heads = 0;         // num_attention_heads (n_heads)
  std::int64_t intermediate = 0;  // intermediate_size (hidden_dim)
  std::int64_t max_positions = 0;
  std::int64_t type_vocab_size = 0;  // 0 for DistilBERT, which has no token types
  std::int64_t pad_token_id = 0;
  nn::Activation activation = nn::Activation::kGeluErf;
  float layer_norm_eps = 1e-12f;
  Task task = Task::kClassification;
  std::vector<std::string> labels;  // id2label by id; {"value"} for a regressor

  // Positions a text may use: RoBERTa's start past padding_idx (pad_token_id + 1).
  std::int64_t position_offset() const {
    return architecture == HfArchitecture::kRoberta ? pad_token_id + 1 : 0;
  }
};

// Reads and validates `config_json`.
Result<HfConfig> ReadHfConfig(const std::filesystem::path& config_json);

}  // namespace loupe::model
