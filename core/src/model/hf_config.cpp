#include "model/hf_config.hpp"

#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

namespace loupe::model {
namespace {

using nlohmann::json;

constexpr const char* kFile = "config.json";

Status ConfigError(const std::string& field, const std::string& message) {
  return InvalidArgument(std::string(kFile) + ": " + field + " " + message);
}

Result<std::int64_t> PositiveInt(const json& config, const char* key) {
  const auto it = config.find(key);
  if (it == config.end()) return ConfigError(key, "is missing.");
  if (!it->is_number_integer() || it->get<std::int64_t>() < 1) {
    return ConfigError(key, "must be a positive whole number, found " + it->dump() + ".");
  }
  return it->get<std::int64_t>();
}

Result<std::int64_t> IntOr(const json& config, const char* key, std::int64_t fallback) {
  const auto it = config.find(key);
  if (it == config.end() || it->is_null()) return fallback;
  if (!it->is_number_integer() || it->get<std::int64_t>() < 0) {
    return ConfigError(key, "must be a whole number of at least 0, found " + it->dump() + ".");
  }
  return it->get<std::int64_t>();
}

Result<std::string> StringOr(const json& config, const char* key, const std::string& fallback) {
  const auto it = config.find(key);
  if (it == config.end() || it->is_null()) return fallback;
  if (!it->is_string()) return ConfigError(key, "must be a string, found " + it->dump() + ".");
  return it->get<std::string>();
}

// `architectures[0]`, else `model_type` + "ForSequenceClassification".
Result<std::string> ArchitectureName(const json& config) {
  const auto it = config.find("architectures");
  if (it != config.end() && !it->is_null()) {
    if (!it->is_array() || it->empty() || !(*it)[0].is_string()) {
      return ConfigError("architectures", "must be a list of class names, found " + it->dump() + ".");
    }
    return (*it)[0].get<std::string>();
  }
  LOUPE_ASSIGN_OR_RETURN(const std::string model_type, StringOr(config, "model_type", ""));
  static const std::map<std::string, std::string> kByType = {
      {"bert", "BertForSequenceClassification"},
      {"distilbert", "DistilBertForSequenceClassification"},
      {"roberta", "RobertaForSequenceClassification"}};
  const auto found = kByType.find(model_type);
  if (found == kByType.end()) {
    return ConfigError("architectures",
                       "is missing and model_type '" + model_type + "' is not bert, distilbert or roberta.");
  }
  return found->second;
}

Result<HfArchitecture> ArchitectureOf(const std::string& name) {
  if (name == "BertForSequenceClassification") return HfArchitecture::kBert;
  if (name == "DistilBertForSequenceClassification") return HfArchitecture::kDistilBert;
  if (name == "RobertaForSequenceClassification") return HfArchitecture::kRoberta;
  return ConfigError("architectures",
                     "names '" + name +
                         "', which Loupe does not run; it runs BertForSequenceClassification, "
                         "DistilBertForSequenceClassification and "
                         "RobertaForSequenceClassification.");
}

Result<nn::Activation> ActivationOf(const json& config, const char* key) {
  LOUPE_ASSIGN_OR_RETURN(const std::string name, StringOr(config, key, "gelu"));
  if (name == "gelu") return nn::Activation::kGeluErf;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh") return nn::Activation::kGeluTanh;
  if (name == "relu") return nn::Activation::kRelu;
  return ConfigError(key, "is '" + name + "', which Loupe does not run; use gelu, gelu_new or relu.");
}

// The encoder's sizes: BERT and RoBERTa spell them one way, DistilBERT another.
Status ReadSizes(const json& config, HfConfig& c) {
  const bool distil = c.architecture == HfArchitecture::kDistilBert;
  LOUPE_ASSIGN_OR_RETURN(c.vocab_size, PositiveInt(config, "vocab_size"));
  LOUPE_ASSIGN_OR_RETURN(c.hidden, PositiveInt(config, distil ? "dim" : "hidden_size"));
  LOUPE_ASSIGN_OR_RETURN(c.layers, PositiveInt(config, distil ? "n_layers" : "num_hidden_layers"));
  LOUPE_ASSIGN_OR_RETURN(c.heads, PositiveInt(config, distil ? "n_heads" : "num_attention_heads"));
  LOUPE_ASSIGN_OR_RETURN(c.intermediate, PositiveInt(config, distil ? "hidden_dim" : "intermediate_size"));
  LOUPE_ASSIGN_OR_RETURN(c.max_positions, PositiveInt(config, "max_position_embeddings"));
  LOUPE_ASSIGN_OR_RETURN(c.activation, ActivationOf(config, distil ? "activation" : "hidden_act"));
  LOUPE_ASSIGN_OR_RETURN(c.pad_token_id,
                         IntOr(config, "pad_token_id", c.architecture == HfArchitecture::kRoberta ? 1 : 0));
  if (c.hidden % c.heads != 0) {
    return ConfigError(
        distil ? "n_heads" : "num_attention_heads",
        std::to_string(c.heads) + " does not divide the hidden size " + std::to_string(c.hidden) + ".");
  }
  if (distil) return Status::Ok();  // DistilBERT: no token types, LayerNorm eps fixed at 1e-12
  LOUPE_ASSIGN_OR_RETURN(c.type_vocab_size, PositiveInt(config, "type_vocab_size"));
  const auto eps = config.find("layer_norm_eps");
  if (eps != config.end() && !eps->is_null()) {
    if (!eps->is_number() || !(eps->get<double>() > 0)) {
      return ConfigError("layer_norm_eps", "must be a positive number, found " + eps->dump() + ".");
    }
    c.layer_norm_eps = static_cast<float>(eps->get<double>());
  }
  LOUPE_ASSIGN_OR_RETURN(const std::string positions,
                         StringOr(config, "position_embedding_type", "absolute"));
  if (positions != "absolute") {
    return ConfigError(
        "position_embedding_type",
        "is '" + positions + "', which Loupe does not run; only absolute positions are supported.");
  }
  if (c.architecture == HfArchitecture::kRoberta && c.max_positions <= c.position_offset()) {
    return ConfigError("max_position_embeddings",
                       "leaves no position past pad_token_id " + std::to_string(c.pad_token_id) + ".");
  }
  return Status::Ok();
}

// id2label → labels by id (every id from 0 to num_labels − 1 once); problem_type and num_labels → task.
Status ReadLabels(const json& config, HfConfig& c) {
  std::map<std::int64_t, std::string> by_id;
  const auto id2label = config.find("id2label");
  if (id2label != config.end() && !id2label->is_null()) {
    if (!id2label->is_object()) return ConfigError("id2label", "must be a mapping of ids to labels.");
    for (const auto& [key, label] : id2label->items()) {
      std::size_t used = 0;
      std::int64_t id = -1;
      try {
        id = std::stoll(key, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != key.size() || id < 0 || !label.is_string()) {
        return ConfigError("id2label", "must map ids 0, 1, ... to label strings, found \"" + key +
                                           "\": " + label.dump() + ".");
      }
      by_id[id] = label.get<std::string>();
    }
  }
  const auto n = static_cast<std::int64_t>(by_id.size());
  if (n == 0) by_id = {{0, "LABEL_0"}, {1, "LABEL_1"}};  // PretrainedConfig's default num_labels is 2
  if (by_id.rbegin()->first != static_cast<std::int64_t>(by_id.size()) - 1) {
    return ConfigError("id2label", "must hold every id from 0 to " + std::to_string(by_id.size() - 1) + ".");
  }
  LOUPE_ASSIGN_OR_RETURN(const std::string problem, StringOr(config, "problem_type", ""));
  if (problem == "multi_label_classification") {
    return ConfigError("problem_type",
                       "is multi_label_classification (independent sigmoids), which Loupe does "
                       "not run; single_label_classification and regression are supported.");
  }
  if (!problem.empty() && problem != "single_label_classification" && problem != "regression") {
    return ConfigError("problem_type",
                       "is '" + problem + "'; expected single_label_classification or regression.");
  }
  // As the model's forward decides: one label without a problem_type is a regression.
  if (problem == "regression" || (problem.empty() && by_id.size() == 1)) {
    if (by_id.size() != 1) {
      return ConfigError("problem_type", "is regression, but id2label has " + std::to_string(by_id.size()) +
                                             " labels; Loupe runs regressors with one output.");
    }
    c.task = Task::kRegression;
    c.labels = {"value"};
    return Status::Ok();
  }
  c.task = Task::kClassification;
  for (const auto& [id, label] : by_id) c.labels.push_back(label);
  return Status::Ok();
}

}  // namespace

Result<HfConfig> ReadHfConfig(const std::filesystem::path& config_json) {
  std::ifstream in(config_json);
  if (!in) return NotFound("'" + config_json.string() + "' cannot be read.");
  json config;
  try {
    config = json::parse(in);
  } catch (const json::exception& e) {
    return InvalidArgument("'" + config_json.string() + "' is not valid JSON: " + e.what());
  }
  if (!config.is_object()) return InvalidArgument("'" + config_json.string() + "' must hold a JSON object.");
  HfConfig c;
  LOUPE_ASSIGN_OR_RETURN(c.architecture_name, ArchitectureName(config));
  LOUPE_ASSIGN_OR_RETURN(c.architecture, ArchitectureOf(c.architecture_name));
  LOUPE_RETURN_IF_ERROR(ReadSizes(config, c));
  LOUPE_RETURN_IF_ERROR(ReadLabels(config, c));
  return c;
}

}  // namespace loupe::model
