// The host-conformance probe plugin: one explainer per area of LoupeHostApi. Each calls the host through
// the raw C ABI (not the SDK's C++ layer, so that what is tested is the host) and writes what it saw into
// its result; host_conformance_test.cpp runs every probe against the SDK's mock host and the real host
// and checks both against the same expectations (docs/architecture.md §2).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "loupe/c/loupe_plugin.h"

namespace {

using json = nlohmann::json;

// --- writing what a probe saw ---

LoupeStatus SetJson(const LoupeHostApi* api, LoupeResultBuilder* result, const std::string& path,
                    const json& value) {
  return api->result_set_json(result, path.c_str(), value.dump().c_str());
}

void SetStatus(const LoupeHostApi* api, LoupeResultBuilder* result, const std::string& path, LoupeStatus s) {
  api->result_set_number(result, path.c_str(), static_cast<double>(s));
}

json Strings(const char* const* items, std::int64_t n) {
  if (items == nullptr) return nullptr;
  json out = json::array();
  for (std::int64_t i = 0; i < n; ++i) out.push_back(items[i] != nullptr ? json(items[i]) : json());
  return out;
}

json Text(const char* text) { return text != nullptr ? json(text) : json(); }

json ColumnJson(const LoupeColumnInfo& info) {
  return {{"name", Text(info.name)},
          {"type", info.type},
          {"levels", Strings(info.levels, info.n_levels)},
          {"n_levels", info.n_levels},
          {"n_missing", info.n_missing}};
}

json RowsJson(const std::int64_t* rows, std::int64_t n) {
  json out = json::array();
  for (std::int64_t i = 0; i < n; ++i) out.push_back(rows[i]);
  return out;
}

LoupeTensorView F64View(const double* data, const std::int64_t* shape, int ndim) {
  LoupeTensorView view{};
  view.struct_size = sizeof(view);
  view.dtype = LOUPE_DTYPE_F64;
  view.ndim = ndim;
  view.read_only = 1;
  view.data = const_cast<double*>(data);
  view.shape = shape;
  return view;
}

// --- probes ---

// One error: the host reports its sentence with the status the explainer returned. (Which of two
// sentences a host keeps differs today: the real host keeps the first, the mock the latest.)
LoupeStatus ProbeErrors(const LoupeHostApi* api, LoupeHost* host, LoupeResultBuilder*) {
  return api->set_error(host, LOUPE_ERROR_INVALID_ARGUMENT, "the one error is the cause.");
}

// A chunk fails without set_error: the host says so in a sentence of its own.
LoupeStatus ProbeSilentChunk(const LoupeHostApi* api, LoupeHost* host, LoupeResultBuilder*) {
  auto body = [](void*, std::int64_t begin, std::int64_t) -> LoupeStatus {
    return begin == 4 ? LOUPE_ERROR_MODEL : LOUPE_OK;
  };
  return api->parallel_for(host, 0, 10, 2, +body, nullptr);
}

// parallel_for without a body is refused.
LoupeStatus ProbeNoBody(const LoupeHostApi* api, LoupeHost* host, LoupeResultBuilder*) {
  return api->parallel_for(host, 0, 10, 1, nullptr, nullptr);
}

// The chunks parallel_for makes of a few ranges, sorted by their start.
LoupeStatus ProbeChunks(const LoupeHostApi* api, LoupeHost* host, LoupeResultBuilder* result) {
  struct Seen {
    std::mutex mutex;
    std::vector<std::pair<std::int64_t, std::int64_t>> chunks;
  };
  const std::int64_t ranges[][3] = {{0, 1000, 0}, {5, 40, 7},     {0, 1, 0},
                                    {3, 3, 5},    {0, 200, 1000}, {-10, 10, 3}};
  json all = json::array();
  for (const auto& range : ranges) {
    Seen seen;
    auto body = [](void* ctx, std::int64_t begin, std::int64_t end) -> LoupeStatus {
      auto* s = static_cast<Seen*>(ctx);
      std::lock_guard<std::mutex> lock(s->mutex);
      s->chunks.emplace_back(begin, end);
      return LOUPE_OK;
    };
    const LoupeStatus status = api->parallel_for(host, range[0], range[1], range[2], +body, &seen);
    std::sort(seen.chunks.begin(), seen.chunks.end());
    json chunks = json::array();
    for (const auto& [begin, end] : seen.chunks) chunks.push_back({begin, end});
    all.push_back({{"status", status}, {"chunks", chunks}});
  }
  return SetJson(api, result, "ranges", all);
}

// The step's seed and a few random words, as decimal strings (a double cannot hold every u64).
LoupeStatus ProbeRng(const LoupeHostApi* api, LoupeHost* host, LoupeResultBuilder* result) {
  std::uint64_t words[4] = {};
  api->random_u64(host, 3, 2, 5, words, 4);
  json out = {{"seed", std::to_string(api->seed(host))}, {"words", json::array()}};
  for (std::uint64_t word : words) out["words"].push_back(std::to_string(word));
  out["is_cancelled"] = api->is_cancelled(host);
  out["params"] = json::parse(api->params_json(host));
  return SetJson(api, result, "rng", out);
}

// The dataset: its description, the feature matrix, and columns by name.
LoupeStatus ProbeDataset(const LoupeHostApi* api, LoupeHost* host, LoupeResultBuilder* result) {
  LoupeDatasetInfo info{};
  if (LoupeStatus s = api->dataset_info(host, &info); s != LOUPE_OK) return s;
  json features = json::array();
  for (std::int64_t i = 0; i < info.n_features; ++i) features.push_back(ColumnJson(info.features[i]));
  SetJson(api, result, "info",
          {{"n_rows", info.n_rows},
           {"n_features", info.n_features},
           {"features", features},
           {"target", Text(info.target)},
           {"positive_label", Text(info.positive_label)},
           {"sensitive", Strings(info.sensitive, info.n_sensitive)}});
  LoupeTensorView matrix{};
  if (LoupeStatus s = api->dataset_features(host, &matrix); s != LOUPE_OK) return s;
  api->result_set_number(result, "matrix_read_only", matrix.read_only);
  api->result_set_tensor(result, "matrix", &matrix);
  for (const char* name : {"y", "color"}) {
    LoupeColumnInfo column{};
    LoupeTensorView values{};
    if (LoupeStatus s = api->dataset_column(host, name, &column, &values); s != LOUPE_OK) return s;
    SetJson(api, result, std::string("columns.") + name + ".info", ColumnJson(column));
    api->result_set_tensor(result, (std::string("columns.") + name + ".values").c_str(), &values);
  }
  LoupeColumnInfo column{};
  LoupeTensorView values{};
  SetStatus(api, result, "absent_column_status",
            api->dataset_column(host, "no_such_column", &column, &values));
  return LOUPE_OK;
}

// The step's rows and row selections.
LoupeStatus ProbeRows(const LoupeHostApi* api, LoupeHost* host, LoupeResultBuilder* result) {
  const std::int64_t* rows = nullptr;
  std::int64_t n = 0;
  if (LoupeStatus s = api->step_rows(host, &rows, &n); s != LOUPE_OK) return s;
  SetJson(api, result, "step_rows", RowsJson(rows, n));
  const char* selections[] = {"\"1:3\"", "[4, 0]", "\"all\"", "3", "\"9:2\"", "not json", "[7]"};
  json resolved = json::array();
  for (const char* selection : selections) {
    const LoupeStatus status = api->resolve_rows(host, selection, 9, &rows, &n);
    resolved.push_back({{"status", status}, {"rows", status == LOUPE_OK ? RowsJson(rows, n) : json()}});
  }
  return SetJson(api, result, "resolved", resolved);
}

// The model's description and predictions of the step's rows in each space.
LoupeStatus ProbeModel(const LoupeHostApi* api, LoupeHost* host, LoupeResultBuilder* result) {
  LoupeModelInfo model{};
  if (LoupeStatus s = api->model_info(host, &model); s != LOUPE_OK) return s;
  SetJson(api, result, "info",
          {{"task", model.task},
           {"default_space", model.default_space},
           {"n_outputs", model.n_outputs},
           {"output_names", Strings(model.output_names, model.n_outputs)},
           {"n_raw_outputs", model.n_raw_outputs},
           {"raw_output_names", Strings(model.raw_output_names, model.n_raw_outputs)},
           {"name", Text(model.name)}});
  LoupeDatasetInfo data{};
  LoupeTensorView matrix{};
  const std::int64_t* rows = nullptr;
  std::int64_t n = 0;
  if (LoupeStatus s = api->dataset_info(host, &data); s != LOUPE_OK) return s;
  if (LoupeStatus s = api->dataset_features(host, &matrix); s != LOUPE_OK) return s;
  if (LoupeStatus s = api->step_rows(host, &rows, &n); s != LOUPE_OK) return s;
  std::vector<double> batch;
  const auto* features = static_cast<const double*>(matrix.data);
  for (std::int64_t i = 0; i < n; ++i) {
    batch.insert(batch.end(), features + rows[i] * data.n_features,
                 features + (rows[i] + 1) * data.n_features);
  }
  const std::int64_t shape[2] = {n, data.n_features};
  const LoupeTensorView view = F64View(batch.data(), shape, 2);
  const std::pair<const char*, LoupeOutputSpace> spaces[] = {{"default", LOUPE_OUTPUT_DEFAULT},
                                                             {"raw", LOUPE_OUTPUT_RAW}};
  for (const auto& [name, space] : spaces) {
    std::vector<double> out(static_cast<std::size_t>(n * model.n_outputs));
    const LoupeStatus s =
        api->model_predict(host, &view, space, out.data(), static_cast<std::int64_t>(out.size()));
    SetStatus(api, result, std::string("predict.") + name + ".status", s);
    const std::int64_t out_shape[2] = {n, model.n_outputs};
    const LoupeTensorView out_view = F64View(out.data(), out_shape, 2);
    api->result_set_tensor(result, (std::string("predict.") + name + ".values").c_str(), &out_view);
  }
  std::vector<double> small(1);
  SetStatus(api, result, "small_capacity_status",
            api->model_predict(host, &view, LOUPE_OUTPUT_DEFAULT, small.data(), 1));
  const LoupeTensorView flat = F64View(batch.data(), shape, 1);
  std::vector<double> out(static_cast<std::size_t>(n * model.n_outputs));
  SetStatus(api, result, "bad_shape_status",
            api->model_predict(host, &flat, LOUPE_OUTPUT_DEFAULT, out.data(),
                               static_cast<std::int64_t>(out.size())));
  return LOUPE_OK;
}

// Which capabilities the host hands out, at which versions.
LoupeStatus ProbeCapabilities(const LoupeHostApi* api, LoupeHost* host, LoupeResultBuilder* result) {
  json out = json::object();
  const std::pair<const char*, std::uint32_t> asks[] = {{LOUPE_TREE_ENSEMBLE_CAPABILITY, 1},
                                                        {LOUPE_TREE_ENSEMBLE_CAPABILITY, 2},
                                                        {LOUPE_TREE_ENSEMBLE_CAPABILITY, 0},
                                                        {"tree_ensemble/cpp", 1},
                                                        {LOUPE_ATTENTION_CAPABILITY, 1},
                                                        {LOUPE_TEXT_CAPABILITY, 1},
                                                        {LOUPE_HIDDEN_STATES_CAPABILITY, 1},
                                                        {LOUPE_HEAD_MASK_CAPABILITY, 1},
                                                        {"no_such_capability", 1}};
  for (const auto& [name, version] : asks) {
    out[std::string(name) + "@" + std::to_string(version)] =
        api->model_capability(host, name, version) != nullptr;
  }
  out["has.tree_ensemble"] = api->model_has_capability(host, LOUPE_TREE_ENSEMBLE_CAPABILITY);
  out["has.attention"] = api->model_has_capability(host, LOUPE_ATTENTION_CAPABILITY);
  const auto* trees =
      static_cast<const LoupeTreeEnsemble*>(api->model_capability(host, LOUPE_TREE_ENSEMBLE_CAPABILITY, 1));
  if (trees != nullptr) {
    out["trees"] = {
        {"struct_size", trees->struct_size}, {"n_trees", trees->n_trees}, {"n_outputs", trees->n_outputs}};
  }
  return SetJson(api, result, "capabilities", out);
}

// The explanations of the steps this step needs.
LoupeStatus ProbeInputs(const LoupeHostApi* api, LoupeHost* host, LoupeResultBuilder* result) {
  json out = {{"count", api->input_count(host)},
              {"step", Text(api->input_step(host, 0))},
              {"kind", Text(api->input_kind(host, 0))},
              {"step_out_of_range", Text(api->input_step(host, 5))},
              {"json_out_of_range", Text(api->input_json(host, 5))}};
  const char* text = api->input_json(host, 0);
  const json document = text != nullptr ? json::parse(text, nullptr, false) : json();
  out["json_values"] = document.is_object() && document.contains("values") ? document["values"] : json();
  out["json_label"] = document.is_object() && document.contains("label") ? document["label"] : json();
  for (const char* path : {"values", "meta.score", "label", "absent", "meta.absent"}) {
    LoupeTensorView view{};
    const LoupeStatus status = api->input_array(host, 0, path, &view);
    out["arrays"][path]["status"] = status;
    if (status == LOUPE_OK) {
      api->result_set_tensor(result, (std::string("arrays.") + (path[0] == 'm' ? "score" : "values")).c_str(),
                             &view);
      out["arrays"][path]["read_only"] = view.read_only;
      out["arrays"][path]["shape"] = RowsJson(view.shape, view.ndim);
    }
  }
  LoupeTensorView view{};
  out["arrays"]["index_out_of_range"]["status"] = api->input_array(host, 5, "values", &view);
  return SetJson(api, result, "inputs", out);
}

// The result builder: numbers, strings, tensors of every dtype (strided too), JSON, and refusals.
LoupeStatus ProbeResults(const LoupeHostApi* api, LoupeHost*, LoupeResultBuilder* result) {
  json statuses = json::object();
  statuses["number"] = api->result_set_number(result, "number", 1.25);
  statuses["nan"] = api->result_set_number(result, "nan", std::nan(""));
  statuses["infinity"] = api->result_set_number(result, "infinity", std::numeric_limits<double>::infinity());
  statuses["nested"] = api->result_set_number(result, "a.b.c", 3.0);
  statuses["replaced"] = api->result_set_number(result, "replaced", 1.0);
  statuses["replaced_again"] = api->result_set_string(result, "replaced", "second");
  statuses["string"] = api->result_set_string(result, "string", "text");
  statuses["null_string"] = api->result_set_string(result, "null_string", nullptr);
  const char* strings[] = {"x", "y"};
  statuses["strings"] = api->result_set_strings(result, "strings", strings, 2);
  const char* with_null[] = {"x", nullptr};
  statuses["strings_with_null"] = api->result_set_strings(result, "strings_with_null", with_null, 2);
  statuses["empty_path"] = api->result_set_number(result, "", 1.0);
  statuses["null_path"] = api->result_set_number(result, nullptr, 1.0);

  const float f32[] = {0.5f, std::numeric_limits<float>::infinity(), -2.0f, std::nanf("")};
  const std::int64_t shape22[] = {2, 2};
  LoupeTensorView view{sizeof(LoupeTensorView), LOUPE_DTYPE_F32, 2,      1,
                       const_cast<float*>(f32), shape22,         nullptr};
  statuses["f32"] = api->result_set_tensor(result, "tensors.f32", &view);
  const std::int64_t i64[] = {1, -2, 3, 4, 5, 6};
  const std::int64_t shape23[] = {2, 3};
  const std::int64_t transposed_strides[] = {1, 3};  // the [3, 2] matrix read as its transpose
  const std::int64_t shape32[] = {3, 2};
  view = {sizeof(LoupeTensorView), LOUPE_DTYPE_I64, 2, 1, const_cast<std::int64_t*>(i64), shape32,
          transposed_strides};
  statuses["i64_strided"] = api->result_set_tensor(result, "tensors.i64_strided", &view);
  view = {sizeof(LoupeTensorView), LOUPE_DTYPE_I64, 2, 1, const_cast<std::int64_t*>(i64), shape23, nullptr};
  statuses["i64"] = api->result_set_tensor(result, "tensors.i64", &view);
  const std::int32_t i32[] = {7, -8};
  const std::int64_t shape2[] = {2};
  view = {sizeof(LoupeTensorView), LOUPE_DTYPE_I32, 1, 1, const_cast<std::int32_t*>(i32), shape2, nullptr};
  statuses["i32"] = api->result_set_tensor(result, "tensors.i32", &view);
  const std::uint8_t u8[] = {0, 255};
  view = {sizeof(LoupeTensorView), LOUPE_DTYPE_U8, 1, 1, const_cast<std::uint8_t*>(u8), shape2, nullptr};
  statuses["u8"] = api->result_set_tensor(result, "tensors.u8", &view);
  const double scalar = 9.5;
  view = {sizeof(LoupeTensorView), LOUPE_DTYPE_F64, 0, 1, const_cast<double*>(&scalar), nullptr, nullptr};
  statuses["scalar"] = api->result_set_tensor(result, "tensors.scalar", &view);
  view = {sizeof(LoupeTensorView), 99, 1, 1, const_cast<std::uint8_t*>(u8), shape2, nullptr};
  statuses["bad_dtype"] = api->result_set_tensor(result, "tensors.bad_dtype", &view);
  statuses["null_tensor"] = api->result_set_tensor(result, "tensors.null", nullptr);

  // Text arrays: cells "a", "", "é\"q" / "x\ny", "z", "" (a [2][3] array), an empty [2][0] one, and refusals.
  const char text_chars[] = "a\xc3\xa9\"qx\nyz";
  const std::uint64_t text_ends[] = {1, 1, 5, 8, 9, 9};
  statuses["text"] = api->result_set_text_array(result, "texts.grid", 2, shape23, text_chars, text_ends);
  const std::int64_t shape20[] = {2, 0};
  statuses["text_empty"] = api->result_set_text_array(result, "texts.empty", 2, shape20, nullptr, nullptr);
  const std::uint64_t decreasing[] = {2, 1};
  statuses["text_decreasing"] = api->result_set_text_array(result, "texts.bad1", 1, shape2, "ab", decreasing);
  const std::uint64_t one_each[] = {1, 2};
  statuses["text_not_utf8"] = api->result_set_text_array(result, "texts.bad2", 1, shape2, "a\xff", one_each);
  statuses["text_rank0"] = api->result_set_text_array(result, "texts.bad3", 0, shape2, "ab", one_each);
  // Appending rows: [0][2] grown by one row, then by two.
  const std::int64_t shape02[] = {0, 2};
  statuses["text_start"] = api->result_set_text_array(result, "texts.grown", 2, shape02, nullptr, nullptr);
  const std::uint64_t one_row[] = {1, 3};
  statuses["text_append"] = api->result_append_text_rows(result, "texts.grown", 1, "abc", one_row);
  const std::uint64_t two_rows[] = {0, 1, 2, 2};
  statuses["text_append2"] = api->result_append_text_rows(result, "texts.grown", 2, "de", two_rows);
  statuses["text_append_missing"] = api->result_append_text_rows(result, "texts.none", 1, "abc", one_row);
  statuses["text_append_not_utf8"] =
      api->result_append_text_rows(result, "texts.grown", 1, "a\xff", one_each);
  // Tensors written in place: an f64 [2][2] and an i32 [3] filled after creation, an empty one, refusals.
  void* in_place = nullptr;
  statuses["new_f64"] =
      api->result_new_tensor(result, "in_place.f64", LOUPE_DTYPE_F64, 2, shape22, &in_place);
  if (in_place != nullptr) {
    auto* f64 = static_cast<double*>(in_place);
    f64[0] = 1.5, f64[3] = -2.0;  // the rest stays zero
  }
  statuses["new_i32"] = api->result_new_tensor(result, "in_place.i32", LOUPE_DTYPE_I32, 1, shape2, &in_place);
  if (in_place != nullptr) static_cast<std::int32_t*>(in_place)[1] = 7;
  const std::int64_t shape0[] = {0};
  statuses["new_empty"] =
      api->result_new_tensor(result, "in_place.empty", LOUPE_DTYPE_F64, 1, shape0, &in_place);
  statuses["new_empty_is_null"] = in_place == nullptr ? LOUPE_OK : LOUPE_ERROR_INTERNAL;
  const std::int64_t negative[] = {-1};
  statuses["new_negative"] =
      api->result_new_tensor(result, "in_place.bad", LOUPE_DTYPE_F64, 1, negative, &in_place);
  statuses["new_bad_dtype"] = api->result_new_tensor(result, "in_place.bad", 99, 1, shape2, &in_place);
  statuses["new_no_out"] =
      api->result_new_tensor(result, "in_place.bad", LOUPE_DTYPE_F64, 1, shape2, nullptr);
  statuses["json"] = api->result_set_json(result, "json", R"({"k": [1, 2.5, null, "s"]})");
  statuses["bad_json"] = api->result_set_json(result, "bad_json", "{oops");
  return SetJson(api, result, "statuses", statuses);
}

// --- the plugin ---

int instance_token = 0;  // probes are stateless, but create must return an instance

LoupeStatus Create(const LoupeHostApi*, LoupeHost*, LoupeExplainerInstance** out) {
  *out = reinterpret_cast<LoupeExplainerInstance*>(&instance_token);
  return LOUPE_OK;
}

// Succeeds without an instance, which a host must refuse.
LoupeStatus CreateNothing(const LoupeHostApi*, LoupeHost*, LoupeExplainerInstance** out) {
  *out = nullptr;
  return LOUPE_OK;
}

using CreateFn = LoupeStatus (*)(const LoupeHostApi*, LoupeHost*, LoupeExplainerInstance**);
void Destroy(LoupeExplainerInstance*) {}

using ProbeFn = LoupeStatus (*)(const LoupeHostApi*, LoupeHost*, LoupeResultBuilder*);

template <ProbeFn kProbe>
LoupeStatus Explain(const LoupeExplainerInstance*, const LoupeHostApi* api, LoupeHost* host,
                    LoupeResultBuilder* result) {
  try {
    return kProbe(api, host, result);
  } catch (const std::exception& e) {
    return api->set_error(host, LOUPE_ERROR_INTERNAL, e.what());
  }
}

template <ProbeFn kProbe, CreateFn kCreate = &Create>
constexpr LoupeExplainerVTable MakeProbe(const char* name) {
  return {sizeof(LoupeExplainerVTable),
          LOUPE_SCOPE_LOCAL,
          name,
          "A host-conformance probe.",
          "probe",
          nullptr,
          0,
          nullptr,
          0,
          kCreate,
          &Explain<kProbe>,
          &Destroy};
}

const LoupeExplainerVTable kProbes[] = {
    MakeProbe<&ProbeErrors>("probe.errors"),
    MakeProbe<&ProbeSilentChunk>("probe.silent_chunk"),
    MakeProbe<&ProbeNoBody>("probe.no_body"),
    MakeProbe<&ProbeChunks>("probe.chunks"),
    MakeProbe<&ProbeRng>("probe.rng"),
    MakeProbe<&ProbeDataset>("probe.dataset"),
    MakeProbe<&ProbeRows>("probe.rows"),
    MakeProbe<&ProbeModel>("probe.model"),
    MakeProbe<&ProbeCapabilities>("probe.capabilities"),
    MakeProbe<&ProbeInputs>("probe.inputs"),
    MakeProbe<&ProbeResults>("probe.results"),
    MakeProbe<&ProbeResults, &CreateNothing>("probe.null_instance"),
};

const LoupeExplainerVTable* const kExplainers[] = {&kProbes[0], &kProbes[1], &kProbes[2],  &kProbes[3],
                                                   &kProbes[4], &kProbes[5], &kProbes[6],  &kProbes[7],
                                                   &kProbes[8], &kProbes[9], &kProbes[10], &kProbes[11]};

const LoupePluginInfo kInfo = {sizeof(LoupePluginInfo),
                               LOUPE_PLUGIN_ABI_MAJOR,
                               LOUPE_PLUGIN_ABI_MINOR,
                               0,
                               LOUPE_PLUGIN_MAGIC,
                               "probe",
                               "0.1.0",
                               "Probes every LoupeHostApi function for the host-conformance suite.",
                               kExplainers,
                               static_cast<std::int64_t>(std::size(kExplainers))};

const LoupePluginInfo* Entry(std::uint32_t, std::uint32_t, char*, std::size_t) { return &kInfo; }

}  // namespace

LOUPE_DEFINE_PLUGIN_ENTRY(Entry);
