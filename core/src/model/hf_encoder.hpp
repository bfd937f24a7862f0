// `model: {type: huggingface, path: DIR}` (docs/architecture.md §5, "Hugging Face models"): the directory a
// Hugging Face sequence classifier's `save_pretrained` writes (config.json, model.safetensors) together
// with its tokenizer's tokenizer.json, run on the same oneDNN transformer layers as loupe.model/v1 text
// models (text_layers.hpp) and offering the same capabilities (text, attention, hidden states, head masks).
#pragma once

#include <filesystem>
#include <memory>

#include "loupe/core/model.hpp"
#include "nn/ops.hpp"

namespace loupe::model {

// True when `dir` is a directory holding config.json.
bool IsHuggingFaceDirectory(const std::filesystem::path& dir);

// Loads BertForSequenceClassification, DistilBertForSequenceClassification or
// RobertaForSequenceClassification from `dir`. The model reads the dataset column `text_column`; its outputs
// are config.json's id2label (softmax probabilities; raw = logits), or one `value` for a regressor.
// `precision` kBF16 runs the dense projections in bf16 where the CPU has it (as `precision: bf16` of native
// models). Every error is one sentence naming the file and the field or tensor.
Result<std::shared_ptr<const Model>> LoadHuggingFaceModel(const std::filesystem::path& dir,
                                                          nn::Precision precision = nn::Precision::kF32,
                                                          const std::string& text_column = "text");

}  // namespace loupe::model
