#include "serve/service.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "report/output_files.hpp"

namespace loupe::serve {

namespace {

// A request's path split into the route it matches and the model name in it.
struct RouteMatch {
  std::string route = "unmatched";  // the template
  std::string method;               // the method the route answers
  std::string model;                // or a job's id
  std::string step;                 // /v1/runs/{id}/steps/{step}
};

std::string PathOf(const std::string& target) { return target.substr(0, target.find('?')); }

bool StartsWith(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }
bool EndsWith(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Model names are [A-Za-z0-9_.-]+ (serve_config.cpp); anything else matches no route, so no request can
// reach a file through a name.
bool IsModelName(const std::string& name) {
  if (name.empty() || name == "." || name == "..") return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

RouteMatch Match(const std::string& target) {
  const std::string path = PathOf(target);
  RouteMatch match;
  auto with_model = [&](const std::string& route, const std::string& method, const std::string& name) {
    if (IsModelName(name)) match = {route, method, name, ""};
  };
  if (path == "/v1/runs") {
    match = {"/v1/runs", "POST", "", ""};
  } else if (StartsWith(path, "/v1/runs/")) {
    // Ids and step names are checked by the JobManager before they name any file; here they only have to
    // be names (no '/').
    const std::string rest = path.substr(9);
    const std::size_t slash = rest.find('/');
    const std::string id = rest.substr(0, slash);
    const std::string tail = slash == std::string::npos ? "" : rest.substr(slash);
    if (tail.empty() && IsModelName(id)) {
      match = {"/v1/runs/{id}", "GET", id, ""};
    } else if (tail == "/report.html" && IsModelName(id)) {
      match = {"/v1/runs/{id}/report.html", "GET", id, ""};
    } else if (StartsWith(tail, "/steps/") && IsModelName(id) && IsModelName(tail.substr(7))) {
      match = {"/v1/runs/{id}/steps/{step}", "GET", id, tail.substr(7)};
    }
  } else if (path == "/v1/models") {
    match = {"/v1/models", "GET", "", ""};
  } else if (StartsWith(path, "/v1/models/")) {
    const std::string rest = path.substr(11);
    if (EndsWith(rest, ":predict")) {
      with_model("/v1/models/{name}:predict", "POST", rest.substr(0, rest.size() - 8));
    } else if (EndsWith(rest, ":explain")) {
      with_model("/v1/models/{name}:explain", "POST", rest.substr(0, rest.size() - 8));
    } else {
      with_model("/v1/models/{name}", "GET", rest);
    }
  } else if (path == "/v2/health/live" || path == "/v2/health/ready" || path == "/v2" || path == "/metrics") {
    match = {path, "GET", "", ""};
  } else if (StartsWith(path, "/v2/models/")) {
    const std::string rest = path.substr(11);
    if (EndsWith(rest, "/ready")) {
      with_model("/v2/models/{name}/ready", "GET", rest.substr(0, rest.size() - 6));
    } else if (EndsWith(rest, "/infer")) {
      with_model("/v2/models/{name}/infer", "POST", rest.substr(0, rest.size() - 6));
    } else {
      with_model("/v2/models/{name}", "GET", rest);
    }
  }
  return match;
}

HttpResponse JsonResponse(int status, const nlohmann::json& body) {
  HttpResponse response;
  response.status = status;
  response.body = body.dump();
  return response;
}

// Equal strings in a time that depends only on their lengths, so a token is not guessed byte by byte.
bool ConstantTimeEquals(const std::string& given, const std::string& expected) {
  unsigned char difference = given.size() == expected.size() ? 0 : 1;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    difference |= static_cast<unsigned char>(expected[i] ^ (i < given.size() ? given[i] : 0));
  }
  return difference == 0;
}

Result<nlohmann::json> ParseBody(const std::string& body) {
  nlohmann::json value = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return InvalidArgument("the request body is not valid JSON.");
  if (!value.is_object()) return InvalidArgument("the request body must be a JSON object.");
  return value;
}

int HttpStatusOf(const Status& status) {
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kUnsupported:
      return 400;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kCancelled:
      return 503;
    default:
      return 500;
  }
}

nlohmann::json TensorRows(const Tensor& predictions) {
  const std::int64_t rows = predictions.dim(0), outputs = predictions.dim(1);
  const double* data = predictions.data<double>();
  nlohmann::json list = nlohmann::json::array();
  for (std::int64_t row = 0; row < rows; ++row) {
    if (outputs == 1) {
      list.push_back(data[row]);
      continue;
    }
    list.push_back(std::vector<double>(data + row * outputs, data + (row + 1) * outputs));
  }
  return list;
}

// The values of a v2 tensor's "data", flat or nested, in row-major order.
void Flatten(const nlohmann::json& data, std::vector<const nlohmann::json*>& out) {
  if (!data.is_array()) {
    out.push_back(&data);
    return;
  }
  for (const nlohmann::json& item : data) Flatten(item, out);
}

// Checks that a v2 tensor's elements are of its datatype.
Status CheckDatatype(const std::string& name, const std::string& datatype,
                     const std::vector<const nlohmann::json*>& values) {
  const bool bytes = datatype == "BYTES", integer = datatype == "INT64";
  if (!bytes && !integer && datatype != "FP32" && datatype != "FP64") {
    return InvalidArgument("input '" + name + "' has datatype '" + datatype +
                           "'; expected FP32, FP64, INT64 or BYTES.");
  }
  for (const nlohmann::json* value : values) {
    // null is a missing value, as in v1 instances (a remote model sends its NaNs so).
    const bool fits = value->is_null() || (bytes     ? value->is_string()
                                           : integer ? value->is_number_integer()
                                                     : value->is_number());
    if (!fits)
      return InvalidArgument("input '" + name + "' is " + datatype + " but holds " + value->dump() + ".");
  }
  return {};
}

// One v2 tensor description per feature: FP64, or BYTES for a categorical, whose levels the parameters
// list (what a remote model needs to send the level text: docs/serve.md "Remote models").
nlohmann::json InputsMetadata(const ServedModel& model) {
  nlohmann::json inputs = nlohmann::json::array();
  for (std::size_t f = 0; f < model.features().size(); ++f) {
    const ColumnSchema& schema = model.feature_schema(f);
    const bool categorical = schema.type == ColumnType::kCategorical;
    const bool bytes = categorical || schema.type == ColumnType::kText;
    nlohmann::json input = {
        {"name", model.features()[f]}, {"datatype", bytes ? "BYTES" : "FP64"}, {"shape", {-1}}};
    if (categorical) input["parameters"] = {{"levels", schema.levels}};
    inputs.push_back(std::move(input));
  }
  return inputs;
}

}  // namespace

std::unique_ptr<Service> Service::Create(ServeConfig config, std::shared_ptr<const PluginRegistry> registry,
                                         std::vector<Diagnostic>& diagnostics) {
  std::unique_ptr<Service> service(new Service());
  for (const ServedModelSpec& spec : config.models) {
    if (std::shared_ptr<const ServedModel> model = ServedModel::Load(spec, *registry, diagnostics))
      service->models_[spec.name] = std::move(model);
  }
  if (!diagnostics.empty()) return nullptr;
  if (!config.jobs.dir.empty()) {
    Result<std::unique_ptr<JobManager>> jobs = JobManager::Open(config.jobs, registry);
    if (!jobs.ok()) {
      diagnostics.push_back(Diagnostic{SourcePos{config.file, 0, 0}, jobs.status().message()});
      return nullptr;
    }
    service->jobs_ = std::move(*jobs);
  }
  service->config_ = std::move(config);
  service->registry_ = std::move(registry);
  return service;
}

std::string Service::RouteOf(const HttpRequest& request) { return Match(request.target).route; }

bool Service::IsExplanation(const HttpRequest& request) {
  return request.method == "POST" && Match(request.target).route == "/v1/models/{name}:explain";
}

std::optional<HttpResponse> Service::Authenticate(const HttpRequest& request) const {
  if (config_.tokens.empty()) return std::nullopt;
  const std::string scheme = "Bearer ";
  if (request.authorization.size() <= scheme.size() || !StartsWith(request.authorization, scheme)) {
    HttpResponse response =
        ErrorResponse(401, "this server needs a bearer token (Authorization: Bearer TOKEN).");
    response.headers.emplace_back("WWW-Authenticate", "Bearer");
    return response;
  }
  const std::string token = request.authorization.substr(scheme.size());
  bool known = false;
  for (const std::string& expected : config_.tokens) known |= ConstantTimeEquals(token, expected);
  if (!known) return ErrorResponse(403, "the bearer token is not one this server accepts.");
  return std::nullopt;
}

const ServedModel* Service::FindModel(const std::string& name) const {
  const auto found = models_.find(name);
  return found == models_.end() ? nullptr : found->second.get();
}

HttpResponse Service::Handle(const HttpRequest& request, const std::atomic<bool>* cancelled) const {
  const std::string route = Match(request.target).route;
  // Probes from load balancers carry no token: liveness and readiness stay open.
  if (route != "/v2/health/live" && route != "/v2/health/ready") {
    if (std::optional<HttpResponse> refused = Authenticate(request)) return *refused;
  }
  if (static_cast<std::int64_t>(request.body.size()) > config_.limits.max_body_bytes) {
    return ErrorResponse(413, "the request body has " + std::to_string(request.body.size()) +
                                  " bytes, more than this server's limit of " +
                                  std::to_string(config_.limits.max_body_bytes) + ".");
  }
  return Route(request, cancelled);
}

HttpResponse Service::Route(const HttpRequest& request, const std::atomic<bool>* cancelled) const {
  const RouteMatch match = Match(request.target);
  if (match.route == "unmatched") return ErrorResponse(404, "no route for '" + PathOf(request.target) + "'.");
  if (match.route == "/v1/runs/{id}" && request.method == "DELETE")  // the one route with two methods
    return Runs(request, match.route, match.model, match.step);
  if (request.method != match.method) {
    HttpResponse response =
        ErrorResponse(405, match.route + " answers " + match.method + ", not " + request.method + ".");
    response.headers.emplace_back("Allow", match.method);
    return response;
  }
  if (match.route == "/v2/health/live") return JsonResponse(200, {{"live", true}});
  if (match.route == "/v2/health/ready") return JsonResponse(ready_ ? 200 : 503, {{"ready", ready_.load()}});
  if (match.route == "/v2") {
    return JsonResponse(
        200, {{"name", "loupe"}, {"version", LOUPE_VERSION}, {"extensions", nlohmann::json::array()}});
  }
  if (match.route == "/metrics") return RenderMetrics();
  if (match.route == "/v1/models") return ListModels();
  if (StartsWith(match.route, "/v1/runs")) return Runs(request, match.route, match.model, match.step);
  const ServedModel* model = FindModel(match.model);
  if (model == nullptr) return ErrorResponse(404, "no model is called '" + match.model + "'.");
  if (match.route == "/v1/models/{name}") return V1ModelStatus(*model);
  if (match.route == "/v1/models/{name}:predict") return V1Predict(*model, request.body);
  if (match.route == "/v1/models/{name}:explain") return V1Explain(*model, request.body, cancelled);
  if (match.route == "/v2/models/{name}") return V2Metadata(*model);
  if (match.route == "/v2/models/{name}/ready")
    return JsonResponse(200, {{"name", model->name()}, {"ready", true}});
  return V2Infer(*model, request.body);
}

HttpResponse Service::ListModels() const {
  nlohmann::json names = nlohmann::json::array();
  for (const auto& [name, model] : models_) names.push_back(name);
  return JsonResponse(200, {{"models", names}});
}

HttpResponse Service::V1ModelStatus(const ServedModel& model) const {
  return JsonResponse(200, {{"name", model.name()},
                            {"ready", true},
                            {"explainer", model.spec().explainer},
                            {"features", model.features()},
                            {"inputs", InputsMetadata(model)},
                            {"outputs", model.info().OutputNames(model.info().default_space())},
                            {"task", TaskName(model.info().task)}});
}

std::optional<HttpResponse> Service::ReadV1Rows(const ServedModel& model, const std::string& body,
                                                ServedModel::EncodedRows& rows) const {
  Result<nlohmann::json> request = ParseBody(body);
  if (!request.ok()) return ErrorResponse(400, request.status().message());
  if (!request->contains("instances")) return ErrorResponse(400, "the request body must have 'instances'.");
  const nlohmann::json& instances = (*request)["instances"];
  if (instances.is_array() && static_cast<std::int64_t>(instances.size()) > config_.limits.max_rows) {
    return ErrorResponse(400, "the request has " + std::to_string(instances.size()) +
                                  " instances, more than this server's limit of " +
                                  std::to_string(config_.limits.max_rows) + ".");
  }
  Result<ServedModel::EncodedRows> encoded = model.EncodeInstances(instances);
  if (!encoded.ok()) return ErrorResponse(400, encoded.status().message());
  rows = std::move(*encoded);
  return std::nullopt;
}

HttpResponse Service::V1Predict(const ServedModel& model, const std::string& body) const {
  ServedModel::EncodedRows rows;
  if (std::optional<HttpResponse> refused = ReadV1Rows(model, body, rows)) return *refused;
  Result<Tensor> predictions = model.Predict(rows);
  if (!predictions.ok())
    return ErrorResponse(HttpStatusOf(predictions.status()), predictions.status().message());
  return JsonResponse(200, {{"predictions", TensorRows(*predictions)}});
}

HttpResponse Service::V1Explain(const ServedModel& model, const std::string& body,
                                const std::atomic<bool>* cancelled) const {
  ServedModel::EncodedRows rows;
  if (std::optional<HttpResponse> refused = ReadV1Rows(model, body, rows)) return *refused;
  Result<Explanation> explanation = model.Explain(rows, cancelled);
  if (!explanation.ok())
    return ErrorResponse(HttpStatusOf(explanation.status()), explanation.status().message());
  HttpResponse response;
  response.body = report::ExplanationText(*explanation);
  return response;
}

HttpResponse Service::V2Metadata(const ServedModel& model) const {
  const nlohmann::json inputs = InputsMetadata(model);
  const auto& outputs = model.info().OutputNames(model.info().default_space());
  const std::string output = model.info().task == Task::kClassification ? "probabilities" : "predictions";
  return JsonResponse(200, {{"name", model.name()},
                            {"versions", nlohmann::json::array()},
                            {"platform", "loupe"},
                            {"inputs", inputs},
                            {"outputs",
                             {{{"name", output},
                               {"datatype", "FP64"},
                               {"shape", {-1, static_cast<std::int64_t>(outputs.size())}},
                               {"parameters", {{"output_names", outputs}}}}}}});
}

namespace {

// v2 inputs as rows of cells in feature order: either one 2-D tensor [n, features] or one tensor per
// feature, named by it, of shape [n] or [n, 1].
Result<nlohmann::json> V2InputsToInstances(const nlohmann::json& inputs,
                                           const std::vector<std::string>& features) {
  if (!inputs.is_array() || inputs.empty())
    return InvalidArgument("'inputs' must be a non-empty list of tensors.");
  std::vector<std::vector<const nlohmann::json*>> columns(features.size());
  std::int64_t rows = -1;
  for (const nlohmann::json& input : inputs) {
    if (!input.is_object() || !input.contains("name") || !input["name"].is_string() ||
        !input.contains("shape") || !input["shape"].is_array() || !input.contains("datatype") ||
        !input["datatype"].is_string() || !input.contains("data")) {
      return InvalidArgument("each input must be an object with 'name', 'shape', 'datatype' and 'data'.");
    }
    const std::string name = input["name"].get<std::string>();
    std::vector<std::int64_t> shape;
    for (const nlohmann::json& dim : input["shape"]) {
      if (!dim.is_number_integer() || dim.get<std::int64_t>() < 0)
        return InvalidArgument("input '" + name + "' has a shape that is not a list of sizes.");
      shape.push_back(dim.get<std::int64_t>());
    }
    std::vector<const nlohmann::json*> values;
    Flatten(input["data"], values);
    std::int64_t count = 1;
    for (std::int64_t dim : shape) count *= dim;
    if (shape.empty() || count != static_cast<std::int64_t>(values.size())) {
      return InvalidArgument("input '" + name + "' has shape " + input["shape"].dump() + " but " +
                             std::to_string(values.size()) + " values.");
    }
    LOUPE_RETURN_IF_ERROR(CheckDatatype(name, input["datatype"].get<std::string>(), values));
    const auto feature = std::find(features.begin(), features.end(), name) - features.begin();
    const bool whole =
        inputs.size() == 1 && shape.size() == 2 && shape[1] == static_cast<std::int64_t>(features.size());
    if (whole) {
      rows = shape[0];
      for (std::size_t f = 0; f < features.size(); ++f) {
        for (std::int64_t row = 0; row < rows; ++row) columns[f].push_back(values[row * features.size() + f]);
      }
      break;
    }
    if (static_cast<std::size_t>(feature) == features.size())
      return InvalidArgument("input '" + name +
                             "' is not a feature of this model (see GET /v2/models/{name}).");
    if (shape.size() > 2 || (shape.size() == 2 && shape[1] != 1))
      return InvalidArgument("input '" + name + "' must have shape [n] or [n, 1], found " +
                             input["shape"].dump() + ".");
    if (rows >= 0 && rows != shape[0])
      return InvalidArgument("the inputs do not all have the same number of rows.");
    rows = shape[0];
    columns[feature] = std::move(values);
  }
  nlohmann::json instances = nlohmann::json::array();
  for (std::int64_t row = 0; row < rows; ++row) {
    nlohmann::json instance = nlohmann::json::array();
    for (std::size_t f = 0; f < features.size(); ++f) {
      if (columns[f].empty()) return InvalidArgument("the inputs lack feature '" + features[f] + "'.");
      instance.push_back(*columns[f][row]);
    }
    instances.push_back(std::move(instance));
  }
  return instances;
}

}  // namespace

HttpResponse Service::V2Infer(const ServedModel& model, const std::string& body) const {
  Result<nlohmann::json> request = ParseBody(body);
  if (!request.ok()) return ErrorResponse(400, request.status().message());
  if (!request->contains("inputs")) return ErrorResponse(400, "the request body must have 'inputs'.");
  Result<nlohmann::json> instances = V2InputsToInstances((*request)["inputs"], model.features());
  if (!instances.ok()) return ErrorResponse(400, instances.status().message());
  if (static_cast<std::int64_t>(instances->size()) > config_.limits.max_rows) {
    return ErrorResponse(400, "the request has " + std::to_string(instances->size()) +
                                  " rows, more than this server's limit of " +
                                  std::to_string(config_.limits.max_rows) + ".");
  }
  Result<ServedModel::EncodedRows> rows = model.EncodeInstances(*instances);
  if (!rows.ok()) return ErrorResponse(400, rows.status().message());
  Result<Tensor> predictions = model.Predict(*rows);
  if (!predictions.ok())
    return ErrorResponse(HttpStatusOf(predictions.status()), predictions.status().message());
  const auto& names = model.info().OutputNames(model.info().default_space());
  const double* data = predictions->data<double>();
  nlohmann::json response = {
      {"model_name", model.name()},
      {"outputs",
       {{{"name", model.info().task == Task::kClassification ? "probabilities" : "predictions"},
         {"datatype", "FP64"},
         {"shape", {predictions->dim(0), predictions->dim(1)}},
         {"parameters", {{"output_names", names}}},
         {"data", std::vector<double>(data, data + predictions->size())}}}}};
  if (request->contains("id")) response["id"] = (*request)["id"];
  return JsonResponse(200, response);
}

HttpResponse Service::Runs(const HttpRequest& request, const std::string& route, const std::string& id,
                           const std::string& step) const {
  if (jobs_ == nullptr)
    return ErrorResponse(404, "this server runs no pipeline jobs (serve.yaml has no jobs.dir).");
  if (route == "/v1/runs") return jobs_->Submit(request.body);
  if (route == "/v1/runs/{id}") return request.method == "DELETE" ? jobs_->Cancel(id) : jobs_->Describe(id);
  if (route == "/v1/runs/{id}/report.html") return jobs_->Report(id);
  return jobs_->StepOutput(id, step);
}

HttpResponse Service::RenderMetrics() const {
  std::vector<std::pair<std::string, std::uint64_t>> evaluations;
  for (const auto& [name, model] : models_) evaluations.emplace_back(name, model->evaluations());
  HttpResponse response;
  response.content_type = "text/plain; version=0.0.4";
  response.body = metrics_.Render(evaluations);
  if (jobs_ != nullptr) {
    response.body +=
        "# HELP loupe_jobs_running Pipeline jobs running.\n# TYPE loupe_jobs_running gauge\n"
        "loupe_jobs_running " +
        std::to_string(jobs_->running()) + "\n";
  }
  return response;
}

}  // namespace loupe::serve
