// Text models of loupe.model/v1 (docs/architecture.md §5): a tokenizer, a safetensors weights file and layers
// from the kind registry, evaluated on strings. Offers the "text" and "attention" capabilities of
// loupe/core/attention.hpp.
//
//   format: loupe.model/v1
//   name: fortunes
//   task: classification                 # or regression (one output)
//   classes: [computers, food, ...]
//   input: {name: text, type: text}      # the dataset column the model reads
//   tokenizer: {type: whitespace | wordpiece, vocab: vocab.txt, lowercase: true, max_length: 64}
//          or  {type: huggingface, file: tokenizer.json, max_length: 64}
//   weights: model.safetensors           # relative to this file
//   layers:                              # embedding first; a classifier ends in softmax (raw = before it)
//     - {type: embedding, name: tok}
//     - {type: positional_embedding, name: pos}
//     - {type: transformer_encoder, name: layers.0, nhead: 2, norm_first: false, activation: relu}
//     - {type: pool, mode: mean}
//     - {type: linear, name: head}
//     - {type: softmax}
#pragma once

#include <memory>

#include "config/yaml_document.hpp"
#include "loupe/core/model.hpp"
#include "model/layer_registry.hpp"
#include "model/tokenizer.hpp"

namespace loupe::model {

// True when the document describes a text model (it has an `input` of type text or a `tokenizer`).
bool IsTextModel(const config::YamlDocument& doc);

// Builds a text model; every error is one sentence "FILE:LINE:COL: ..." naming the field or layer.
Result<std::shared_ptr<const Model>> LoadTextModel(const config::YamlDocument& doc,
                                                   const std::filesystem::path& path);

// The text model over layers built elsewhere (the Hugging Face encoders of hf_encoder.cpp): the first layer
// reads token ids, the sequence layers are transformer encoders or LSTMs, a pool layer (cls) ends the
// sequence, and `final_softmax` says the last layer is the softmax that the raw output space leaves out.
// It offers the same text, attention, hidden-state, head-mask and text-gradient capabilities as a
// loupe.model/v1 text model; `precision` is the dense layers' (a bf16 model refuses gradients).
std::shared_ptr<const Model> MakeTextNetworkModel(ModelInfo info, Tokenizer tokenizer,
                                                  std::vector<std::unique_ptr<Layer>> layers,
                                                  bool final_softmax,
                                                  nn::Precision precision = nn::Precision::kF32);

}  // namespace loupe::model
