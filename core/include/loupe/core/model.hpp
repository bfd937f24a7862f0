// The Model interface and model loading (docs/architecture.md §3, §5).
//
// A model reads a batch of rows in its own input layout: f64 [n, inputs], one column per declared input
// (numeric values, or level codes into the input's own `levels` for categoricals; NaN for missing). The
// host maps a dataset's columns onto a model's inputs by name (see ModelAdapter in pipeline code).
#pragma once

#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "loupe/core/dataset.hpp"
#include "loupe/core/status.hpp"
#include "loupe/core/tensor.hpp"

namespace loupe {

enum class Task { kClassification, kRegression };
// What a model's outputs mean. kProbability: class probabilities; kRaw: margins/logits for classifiers,
// values for regressors.
enum class OutputSpace { kProbability, kRaw };

const char* TaskName(Task task);
const char* OutputSpaceName(OutputSpace space);

struct ModelInput {
  std::string name;
  ColumnType type = ColumnType::kNumeric;
  std::vector<std::string> levels;  // categorical inputs: the levels the model knows, by code
};

struct ModelInfo {
  std::string name;
  Task task = Task::kRegression;
  std::vector<ModelInput> inputs;
  // Default outputs: class probabilities for classifiers (one per class, binary included, named by the
  // class labels), the value for regressors.
  std::vector<std::string> output_names;
  // Raw outputs: margins/logits (one for a binary logistic model), the value for regressors.
  std::vector<std::string> raw_output_names;

  OutputSpace default_space() const {
    return task == Task::kClassification ? OutputSpace::kProbability : OutputSpace::kRaw;
  }
  const std::vector<std::string>& OutputNames(OutputSpace space) const {
    return space == OutputSpace::kRaw ? raw_output_names : output_names;
  }
};

// The typed capabilities a model may offer (see Model below).
class TextModel;
class AttentionSource;
class HiddenStateSource;
class HeadMaskedModel;
class TreeEnsembleCapability;
class GradientModel;
class TextGradientModel;
class RowVariantModel;

class Model {
 public:
  virtual ~Model() = default;
  virtual const ModelInfo& Info() const = 0;
  // Evaluates f64 [n, Info().inputs.size()] and returns f64 [n, Info().OutputNames(space).size()].
  // Reentrant: safe to call from many TBB tasks at once.
  virtual Result<Tensor> Predict(const TensorView& batch, OutputSpace space) const = 0;
  // Evaluates like Predict but writes the f64 [n, Info().OutputNames(space).size()] values, row-major,
  // into `out`, which must hold exactly that many. Reentrant. The native tabular and XGBoost models
  // override it and allocate nothing once the calling thread has warmed up (their Predict is a thin
  // wrapper over it); this default calls Predict and copies, for models that have no such path.
  virtual Status PredictInto(const TensorView& batch, OutputSpace space, std::span<double> out) const;

  // Optional capabilities, typed (docs/architecture.md §3): each is nullptr when the model lacks it, and
  // otherwise lives, unchanged, as long as the model. Their types are defined in attention.hpp,
  // text_probes.hpp and tree_ensemble.hpp. The host builds the C forms plugins receive from these and
  // from nothing else, so no C++ object crosses the plugin ABI.
  virtual const TextModel* text_model() const { return nullptr; }                   // "text"
  virtual const AttentionSource* attention_source() const { return nullptr; }       // "attention"
  virtual const HiddenStateSource* hidden_state_source() const { return nullptr; }  // "hidden_states"
  virtual const HeadMaskedModel* head_masked_model() const { return nullptr; }      // "head_mask"
  virtual const TreeEnsembleCapability* tree_ensemble() const { return nullptr; }   // "tree_ensemble"
  virtual const GradientModel* gradient_model() const { return nullptr; }  // "gradient" (gradient.hpp)
  // "row_variants" (row_variants.hpp)
  virtual const RowVariantModel* row_variant_model() const { return nullptr; }
  // "text_gradient" (text_gradient.hpp)
  virtual const TextGradientModel* text_gradient_model() const { return nullptr; }
  // Why a network offers neither "gradient" nor "text_gradient" when it could be expected to (an ONNX
  // graph with an operator that has no backward): one sentence, for `loupe validate`; empty otherwise.
  virtual std::string GradientRefusal() const { return {}; }

 protected:
  // Predict for a model that implements PredictInto: allocates the result and fills it through PredictInto.
  Result<Tensor> PredictThroughInto(const TensorView& batch, OutputSpace space) const;
};

// What LoadModel cannot read from the model itself: a pipeline's `model` keys (docs/pipeline.md), which
// `loupe serve`, `loupe predict` and the Python package take too.
struct ModelLoadOptions {
  // huggingface and onnx models: the matrix products by the weights in bfloat16 where the CPU has it (a
  // pipeline's `model.precision: bf16`); loupe.model/v1 files state their own precision.
  bool bf16 = false;
  // onnx models: the feature names of a single [N, F] input (`model.features`, docs/onnx.md); huggingface
  // models: the one data column the model reads (default `text`).
  std::vector<std::string> features;
  // onnx models: the tensors holding each self-attention layer's probabilities (`model.attention`) and
  // the tokenizer.json of a graph over token ids (`model.tokenizer`).
  std::vector<std::string> attention;
  std::filesystem::path tokenizer;
};

// Loads a model. `type` is "native" (a loupe.model/v1 YAML file), "xgboost" (the JSON written by
// Booster.save_model) or "onnx" (a .onnx file; refused with a sentence when Loupe was built without ONNX
// support) or "huggingface" (a save_pretrained directory of a BERT, DistilBERT or RoBERTa sequence
// classifier); "auto" detects it from the file or directory. Errors name the file and the offending field.
Result<std::shared_ptr<const Model>> LoadModel(const std::filesystem::path& path,
                                               const std::string& type = "auto",
                                               const ModelLoadOptions& options = {});

}  // namespace loupe
