// ONNX models (`model: {type: onnx, path: m.onnx}`, detected by the .onnx extension), executed by Loupe's
// own ONNX session (core/src/onnx: the operator registry on the oneDNN runtime; protobuf only in
// onnx/reader.cpp). docs/onnx.md describes what is read.
//
// Inputs: either one float or double tensor [N, F], its columns named by the JSON list in metadata_props
// "feature_names" (else f0, f1, ...), or one numeric [N, 1] tensor per column (skl2onnx's style), named
// by the graph inputs. Outputs: the first float graph output (a ZipMap's input standing for the ZipMap);
// a classifier when it comes from TreeEnsembleClassifier / LinearClassifier (labels from the node) or from
// Softmax (labels from metadata_props "class_labels", else "0", "1", ...), else a regressor ("value", or
// value0, value1, ...). Raw outputs: a classifier node's scores before its post_transform, a Softmax's
// input (the logits).
//
// A model whose output is a tree ensemble reading the model's inputs directly (through Cast or Identity,
// or a Concat of the column inputs) offers the "tree_ensemble" capability, for the node modes BRANCH_LEQ /
// LT / GTE / GT and the links the view knows (identity, logistic on the binary one-score form, softmax).
// ONNX stores no node covers: path-dependent TreeSHAP is refused, interventional (a background) works.
#pragma once

// Text models and attention (docs/onnx.md "Text models and attention"): with a tokenizer (a Hugging Face
// tokenizer.json), a graph whose first input is int64 token ids [N, T] is a text model reading one text
// column (named by `features`, else "text"): texts are tokenized, grouped by token count and run without
// padding (a second input named attention_mask is fed ones, token_type_ids zeros). The tensors listed in
// `attention` (tensor names, or names of the nodes making them) are the softmax outputs of the
// self-attention layers in order, [N, H, T, T] or [N·H, T, T] (torch.onnx.export's nn.MultiheadAttention):
// the model then offers the "attention" capability. `features` renames a tabular model's inputs.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "loupe/core/model.hpp"

namespace loupe {

// What a pipeline's model mapping adds to an .onnx file (model.features, model.attention,
// model.tokenizer).
struct OnnxLoadOptions {
  std::vector<std::string> features;
  std::vector<std::string> attention;
  std::filesystem::path tokenizer;  // empty: a tabular model
  // model.precision: bf16: the dense layers (MatMul / Gemm by constant weights) compute in bf16 where the
  // CPU has it (nn::Bf16Supported; elsewhere in f32, with the native runtime's notice).
  bool bf16 = false;
};

// Gradients (docs/onnx.md "Gradients"): a tabular model whose inputs are float tensors offers the
// "gradient" capability, and a text model whose token ids feed one embedding Gather the "text_gradient"
// capability (the Gather's output is the differentiated layer), when every node between those and the
// output tensors (the probabilities and the raw scores, e.g. a Softmax's logits) has a backward in
// core/src/onnx/backward.cpp. Otherwise the model's GradientRefusal() says why (naming the first node
// without one) and the capability is not offered.

Result<std::shared_ptr<const Model>> LoadOnnxModel(const std::filesystem::path& path,
                                                   const OnnxLoadOptions& options = {});

}  // namespace loupe
