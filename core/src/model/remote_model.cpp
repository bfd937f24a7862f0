#include "model/remote_model.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>

#include "http/client.hpp"

namespace loupe {

using nlohmann::json;

const std::vector<std::string>& RemoteModelKeys() {
  static const std::vector<std::string> keys = {"protocol", "max_batch_rows", "connections", "timeout_ms",
                                                "retries",  "task",           "outputs",     "ca_file"};
  return keys;
}

namespace {

struct RemoteOptions {
  std::string protocol;  // "v2" or "v1"
  std::int64_t max_batch_rows = 256;
  http::ClientOptions client;
  std::optional<Task> task;
  std::vector<std::string> outputs;
};

std::string Dump(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

Result<std::int64_t> ReadCount(const json& options, const std::string& key, std::int64_t fallback,
                               std::int64_t minimum) {
  if (!options.contains(key)) return fallback;
  const json& value = options[key];
  if (!value.is_number_integer() || value.get<std::int64_t>() < minimum) {
    return InvalidArgument("model." + key + " must be an integer of at least " + std::to_string(minimum) +
                           ", found " + Dump(value) + ".");
  }
  return value.get<std::int64_t>();
}

Result<RemoteOptions> ReadOptions(const json& options, const http::Url& url) {
  RemoteOptions read;
  if (!options.is_object()) return InvalidArgument("a remote model's options must be a mapping.");
  for (const auto& [key, unused] : options.items()) {
    const auto& keys = RemoteModelKeys();
    if (std::find(keys.begin(), keys.end(), key) == keys.end())
      return InvalidArgument("model." + key + " is not an option of a remote model.");
  }
  read.protocol = url.path.rfind("/v1/", 0) == 0 ? "v1" : "v2";
  if (options.contains("protocol")) {
    const json& protocol = options["protocol"];
    if (!protocol.is_string() || (protocol != "v1" && protocol != "v2"))
      return InvalidArgument("model.protocol must be v2 or v1, found " + Dump(protocol) + ".");
    read.protocol = protocol.get<std::string>();
  }
  LOUPE_ASSIGN_OR_RETURN(read.max_batch_rows, ReadCount(options, "max_batch_rows", 256, 1));
  LOUPE_ASSIGN_OR_RETURN(const std::int64_t connections, ReadCount(options, "connections", 4, 1));
  read.client.connections = static_cast<int>(std::min<std::int64_t>(connections, 64));
  LOUPE_ASSIGN_OR_RETURN(read.client.timeout_ms, ReadCount(options, "timeout_ms", 30000, 1));
  LOUPE_ASSIGN_OR_RETURN(const std::int64_t retries, ReadCount(options, "retries", 4, 0));
  read.client.retries = static_cast<int>(std::min<std::int64_t>(retries, 20));
  if (options.contains("ca_file")) {
    if (!options["ca_file"].is_string())
      return InvalidArgument("model.ca_file must be the path of a PEM file, found " +
                             Dump(options["ca_file"]) + ".");
    read.client.ca_file = options["ca_file"].get<std::string>();
  }
  if (options.contains("task")) {
    const json& task = options["task"];
    if (!task.is_string() || (task != "classification" && task != "regression"))
      return InvalidArgument("model.task must be classification or regression, found " + Dump(task) + ".");
    read.task = task == "classification" ? Task::kClassification : Task::kRegression;
  }
  if (options.contains("outputs")) {
    const json& outputs = options["outputs"];
    if (!outputs.is_array() || outputs.empty() ||
        !std::all_of(outputs.begin(), outputs.end(), [](const json& name) { return name.is_string(); }))
      return InvalidArgument("model.outputs must be a non-empty list of output names.");
    read.outputs = outputs.get<std::vector<std::string>>();
  }
  return read;
}

// The server's own sentence from an error answer: its JSON "error" (KServe and Loupe) or the body's text.
std::string ServerMessage(const http::Response& response) {
  const json body = json::parse(response.body, nullptr, false);
  if (body.is_object() && body.contains("error") && body["error"].is_string())
    return body["error"].get<std::string>();
  std::string text = response.body.substr(0, 200);
  std::replace(text.begin(), text.end(), '\n', ' ');
  return text.empty() ? "(no message)" : text;
}

void Flatten(const json& data, std::vector<const json*>& out) {
  if (!data.is_array()) {
    out.push_back(&data);
    return;
  }
  for (const json& item : data) Flatten(item, out);
}

class RemoteModel : public Model {
 public:
  RemoteModel(http::Url url, RemoteOptions options, std::unique_ptr<http::Client> client)
      : url_(std::move(url)), options_(std::move(options)), client_(std::move(client)) {}

  Status ReadMetadata();
  const ModelInfo& Info() const override { return info_; }
  Result<Tensor> Predict(const TensorView& batch, OutputSpace space) const override;

 private:
  Status ReadInputs(const json& inputs);
  Status ReadOutputs(const json& metadata);
  Result<json> Get(const std::string& what) const;
  Status PredictBatch(const double* rows, std::int64_t n, double* out) const;
  json Cell(double value, std::size_t input) const;
  std::string EncodeV2(const double* rows, std::int64_t n) const;
  std::string EncodeV1(const double* rows, std::int64_t n) const;
  Status DecodeV2(const json& answer, std::int64_t n, double* out) const;
  Status DecodeV1(const json& answer, std::int64_t n, double* out) const;
  Status ReadValues(const std::vector<const json*>& values, const std::string& what, double* out) const;
  std::string Where() const { return "the remote model at " + url_.ToString(); }

  http::Url url_;
  RemoteOptions options_;
  std::unique_ptr<http::Client> client_;
  ModelInfo info_;
  std::string output_name_;  // v2: the output to read ("" = the only one)
};

Result<json> RemoteModel::Get(const std::string& what) const {
  LOUPE_ASSIGN_OR_RETURN(const http::Response response, client_->Send("GET", url_.path, ""));
  if (response.status != 200) {
    return ModelError(Where() + " answered " + std::to_string(response.status) + " to its " + what +
                      " request: " + ServerMessage(response));
  }
  json body = json::parse(response.body, nullptr, false);
  if (!body.is_object())
    return ModelError(Where() + " answered its " + what + " request with no JSON object.");
  return body;
}

Status RemoteModel::ReadInputs(const json& inputs) {
  for (const json& input : inputs) {
    ModelInput model_input;
    std::string datatype = "FP64";
    if (input.is_string()) {
      model_input.name = input.get<std::string>();
    } else if (input.is_object() && input.contains("name") && input["name"].is_string()) {
      model_input.name = input["name"].get<std::string>();
      if (input.contains("datatype") && input["datatype"].is_string()) datatype = input["datatype"];
    } else {
      return ModelError(Where() + " lists an input that has no name: " + Dump(input) + ".");
    }
    if (datatype == "BYTES") {
      const json* levels = input.contains("parameters") && input["parameters"].contains("levels")
                               ? &input["parameters"]["levels"]
                               : nullptr;
      if (levels == nullptr || !levels->is_array())
        return ModelError(Where() + " has the BYTES input '" + model_input.name +
                          "' but its metadata gives no levels (parameters.levels) to code it by.");
      model_input.type = ColumnType::kCategorical;
      for (const json& level : *levels)
        model_input.levels.push_back(level.is_string() ? level.get<std::string>() : level.dump());
    }
    info_.inputs.push_back(std::move(model_input));
  }
  if (info_.inputs.empty()) return ModelError(Where() + " lists no inputs in its metadata.");
  return Status::Ok();
}

// The output names and the task: the pipeline's, else the metadata's (v2: the first output's
// parameters.output_names and shape; v1: Loupe's "outputs" and "task").
Status RemoteModel::ReadOutputs(const json& metadata) {
  std::vector<std::string> names = options_.outputs;
  std::optional<Task> task = options_.task;
  if (options_.protocol == "v2" && metadata.contains("outputs") && metadata["outputs"].is_array() &&
      !metadata["outputs"].empty()) {
    const json& output = metadata["outputs"][0];
    if (output.contains("name") && output["name"].is_string()) output_name_ = output["name"];
    if (names.empty() && output.contains("parameters") && output["parameters"].contains("output_names"))
      names = output["parameters"]["output_names"].get<std::vector<std::string>>();
    if (names.empty() && output.contains("shape") && output["shape"].is_array() &&
        output["shape"].size() == 2 && output["shape"][1].is_number_integer() &&
        output["shape"][1].get<int>() > 0) {
      for (int k = 0; k < output["shape"][1].get<int>(); ++k) names.push_back("output_" + std::to_string(k));
    }
    if (!task) task = output_name_ == "probabilities" ? Task::kClassification : Task::kRegression;
  }
  if (options_.protocol == "v1") {
    if (names.empty() && metadata.contains("outputs") && metadata["outputs"].is_array())
      names = metadata["outputs"].get<std::vector<std::string>>();
    if (!task && metadata.contains("task") && metadata["task"].is_string())
      task = metadata["task"] == "classification" ? Task::kClassification : Task::kRegression;
  }
  if (names.empty())
    return ModelError(Where() + " does not say what it outputs: give model.outputs (the output names).");
  info_.task = task.value_or(Task::kRegression);
  info_.output_names = names;
  // A classifier's server answers probabilities only; a regressor's values are its raw outputs too.
  if (info_.task == Task::kRegression) info_.raw_output_names = names;
  return Status::Ok();
}

Status RemoteModel::ReadMetadata() {
  LOUPE_ASSIGN_OR_RETURN(const json metadata, Get("metadata"));
  const std::string last = url_.path.substr(url_.path.rfind('/') + 1);
  info_.name =
      metadata.contains("name") && metadata["name"].is_string() ? metadata["name"].get<std::string>() : last;
  const char* inputs_key = metadata.contains("inputs") ? "inputs" : "features";
  if (!metadata.contains(inputs_key) || !metadata[inputs_key].is_array())
    return ModelError(Where() + " gives no inputs in its metadata (" +
                      (options_.protocol == "v2" ? "'inputs'" : "'inputs' or 'features'") + ").");
  LOUPE_RETURN_IF_ERROR(ReadInputs(metadata[inputs_key]));
  return ReadOutputs(metadata);
}

json RemoteModel::Cell(double value, std::size_t input) const {
  if (std::isnan(value)) return nullptr;
  const ModelInput& model_input = info_.inputs[input];
  if (model_input.type != ColumnType::kCategorical) return value;
  const auto code = static_cast<std::size_t>(value);
  if (value < 0 || code >= model_input.levels.size()) return nullptr;
  return model_input.levels[code];
}

std::string RemoteModel::EncodeV2(const double* rows, std::int64_t n) const {
  const std::size_t width = info_.inputs.size();
  json inputs = json::array();
  for (std::size_t j = 0; j < width; ++j) {
    json data = json::array();
    for (std::int64_t row = 0; row < n; ++row) data.push_back(Cell(rows[row * width + j], j));
    inputs.push_back({{"name", info_.inputs[j].name},
                      {"datatype", info_.inputs[j].type == ColumnType::kCategorical ? "BYTES" : "FP64"},
                      {"shape", {n}},
                      {"data", std::move(data)}});
  }
  json request = {{"inputs", std::move(inputs)}};
  if (!output_name_.empty()) request["outputs"] = {{{"name", output_name_}}};
  return Dump(request);
}

std::string RemoteModel::EncodeV1(const double* rows, std::int64_t n) const {
  const std::size_t width = info_.inputs.size();
  json instances = json::array();
  for (std::int64_t row = 0; row < n; ++row) {
    json instance = json::array();
    for (std::size_t j = 0; j < width; ++j) instance.push_back(Cell(rows[row * width + j], j));
    instances.push_back(std::move(instance));
  }
  return Dump(json{{"instances", std::move(instances)}});
}

Status RemoteModel::ReadValues(const std::vector<const json*>& values, const std::string& what,
                               double* out) const {
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (values[i]->is_number()) {
      out[i] = values[i]->get<double>();
    } else if (values[i]->is_null()) {
      out[i] = std::numeric_limits<double>::quiet_NaN();
    } else {
      return ModelError(Where() + " answered " + what + " holding " + Dump(*values[i]) + ", not a number.");
    }
  }
  return Status::Ok();
}

Status RemoteModel::DecodeV2(const json& answer, std::int64_t n, double* out) const {
  const auto k = static_cast<std::int64_t>(info_.output_names.size());
  if (!answer.contains("outputs") || !answer["outputs"].is_array() || answer["outputs"].empty())
    return ModelError(Where() + " answered with no 'outputs'.");
  const json* output = nullptr;
  for (const json& candidate : answer["outputs"]) {
    if (output_name_.empty() || (candidate.contains("name") && candidate["name"] == output_name_)) {
      output = &candidate;
      break;
    }
  }
  if (output == nullptr) return ModelError(Where() + " answered without the output '" + output_name_ + "'.");
  const std::string name = output->value("name", std::string("?"));
  const json shape = output->value("shape", json::array());
  const bool shape_fits = (shape == json{n, k}) || (k == 1 && shape == json{n});
  if (!shape_fits) {
    return ModelError(Where() + " answered the output '" + name + "' of shape " + Dump(shape) + " for " +
                      std::to_string(n) + " rows, but " + std::to_string(n) + " rows of its " +
                      std::to_string(k) + " outputs are shape [" + std::to_string(n) + ", " +
                      std::to_string(k) + "].");
  }
  std::vector<const json*> values;
  static const json kNoData = json::array();
  Flatten(output->contains("data") ? (*output)["data"] : kNoData, values);  // pointers into `answer`
  if (static_cast<std::int64_t>(values.size()) != n * k) {
    return ModelError(Where() + " answered " + std::to_string(values.size()) + " values in the output '" +
                      name + "' of shape " + Dump(shape) + ".");
  }
  return ReadValues(values, "the output '" + name + "'", out);
}

Status RemoteModel::DecodeV1(const json& answer, std::int64_t n, double* out) const {
  const auto k = static_cast<std::int64_t>(info_.output_names.size());
  if (!answer.contains("predictions") || !answer["predictions"].is_array())
    return ModelError(Where() + " answered with no 'predictions' list.");
  const json& predictions = answer["predictions"];
  if (static_cast<std::int64_t>(predictions.size()) != n) {
    return ModelError(Where() + " answered " + std::to_string(predictions.size()) + " predictions for " +
                      std::to_string(n) + " instances.");
  }
  for (std::int64_t row = 0; row < n; ++row) {
    std::vector<const json*> values;
    Flatten(predictions[static_cast<std::size_t>(row)], values);
    if (static_cast<std::int64_t>(values.size()) != k) {
      return ModelError(Where() + " answered " + std::to_string(values.size()) + " values for instance " +
                        std::to_string(row) + ", but it has " + std::to_string(k) + " outputs.");
    }
    LOUPE_RETURN_IF_ERROR(ReadValues(values, "a prediction", out + row * k));
  }
  return Status::Ok();
}

Status RemoteModel::PredictBatch(const double* rows, std::int64_t n, double* out) const {
  const bool v2 = options_.protocol == "v2";
  const std::string target = url_.path + (v2 ? "/infer" : ":predict");
  LOUPE_ASSIGN_OR_RETURN(const http::Response response,
                         client_->Send("POST", target, v2 ? EncodeV2(rows, n) : EncodeV1(rows, n)));
  if (response.status != 200) {
    return ModelError(Where() + " answered " + std::to_string(response.status) + ": " +
                      ServerMessage(response));
  }
  const json answer = json::parse(response.body, nullptr, false);
  if (!answer.is_object()) return ModelError(Where() + " answered a prediction with no JSON object.");
  return v2 ? DecodeV2(answer, n, out) : DecodeV1(answer, n, out);
}

// Batches of max_batch_rows go out on up to `connections` threads at once (this one included). Each batch
// writes its own rows of the result, so the values do not depend on the order the answers arrive in; of
// several failures, the first batch's is reported.
Result<Tensor> RemoteModel::Predict(const TensorView& batch, OutputSpace space) const {
  const auto width = static_cast<std::int64_t>(info_.inputs.size());
  if (batch.ndim() != 2 || batch.dim(1) != width || batch.dtype() != DType::kF64) {
    return InvalidArgument("a prediction batch must be f64 [n, " + std::to_string(width) + "], found " +
                           DTypeName(batch.dtype()) + " " + ShapeToString(batch.shape()) + ".");
  }
  if (info_.OutputNames(space).empty()) {
    return InvalidArgument("remote model '" + info_.name +
                           "' answers class probabilities only, so its raw outputs cannot be explained.");
  }
  const std::int64_t n = batch.dim(0);
  const auto k = static_cast<std::int64_t>(info_.output_names.size());
  Tensor result(DType::kF64, {n, k});
  const std::int64_t batch_rows = options_.max_batch_rows;
  const std::int64_t batches = (n + batch_rows - 1) / batch_rows;
  std::atomic<std::int64_t> next{0};
  std::mutex error_mutex;
  std::int64_t failed_batch = batches;
  Status failure;
  auto work = [&] {
    for (std::int64_t b = next++; b < batches; b = next++) {
      const std::int64_t begin = b * batch_rows, rows = std::min(batch_rows, n - begin);
      Status status =
          PredictBatch(batch.data<double>() + begin * width, rows, result.data<double>() + begin * k);
      if (status.ok()) continue;
      std::lock_guard<std::mutex> lock(error_mutex);
      if (b < failed_batch) failed_batch = b, failure = std::move(status);
      next = batches;
    }
  };
  const std::int64_t helpers = std::min<std::int64_t>(options_.client.connections, batches) - 1;
  std::vector<std::thread> threads;
  for (std::int64_t t = 0; t < helpers; ++t) threads.emplace_back(work);
  work();
  for (std::thread& thread : threads) thread.join();
  if (!failure.ok()) return failure;
  return result;
}

}  // namespace

Result<std::shared_ptr<const Model>> LoadRemoteModel(const std::string& url_text, const json& options) {
  LOUPE_ASSIGN_OR_RETURN(http::Url url, http::Url::Parse(url_text));
  LOUPE_ASSIGN_OR_RETURN(RemoteOptions read, ReadOptions(options, url));
  LOUPE_ASSIGN_OR_RETURN(std::unique_ptr<http::Client> client, http::Client::Create(url, read.client));
  auto model = std::make_shared<RemoteModel>(std::move(url), std::move(read), std::move(client));
  LOUPE_RETURN_IF_ERROR(model->ReadMetadata());
  return std::shared_ptr<const Model>(std::move(model));
}

}  // namespace loupe
