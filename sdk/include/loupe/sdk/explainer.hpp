// Writing an explainer with the C++ SDK: derive from loupe::sdk::Explainer and describe it with an
// ExplainerDef (name, summary, output kind, scope, parameters, required capabilities).
//
//   class Occlusion final : public loupe::sdk::Explainer {
//    public:
//     explicit Occlusion(const loupe::sdk::Host& host);   // create(): read and check parameters, throw
//                                                         // loupe::sdk::Error on a bad configuration
//     void Explain(const loupe::sdk::Host& host, const loupe::sdk::ResultBuilder& result) const override;
//   };
//
//   loupe::sdk::ExplainerDef::Of<Occlusion>("occlusion.ablation")
//       .Summary("Drop in each output when one feature is replaced by its background mean or mode.")
//       .Kind(loupe::sdk::kFeatureAttribution)
//       .Scope(LOUPE_SCOPE_LOCAL)
//       .Parameters({loupe::sdk::Param::Rows("background").Default(100).Doc("Rows whose mean/mode ...")})
//
// The definitions are handed to LOUPE_PLUGIN (plugin.hpp), which turns them into the static C tables the
// host reads. One explainer class per definition: the class's constructor is the create() entry point.
//
// Contract (docs/architecture.md §2, §4): the constructor and Explain() may run on any thread; Explain() is
// const and may run concurrently for distinct hosts, so keep per-call state on the stack. Never call the
// model row by row: fill batches of thousands of rows and call Host::Predict once per batch, inside
// Host::ParallelFor. Draw random numbers from Host::Rng(row, stream) only.
#pragma once

#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "loupe/c/loupe_plugin.h"
#include "loupe/sdk/error.hpp"
#include "loupe/sdk/host.hpp"
#include "loupe/sdk/result.hpp"

namespace loupe::sdk {

// Base class of every C++ explainer.
class Explainer {
 public:
  virtual ~Explainer() = default;
  // Explains the step's rows (Host::StepRows) into `result`. Throw loupe::sdk::Error to fail.
  virtual void Explain(const Host& host, const ResultBuilder& result) const = 0;
};

// A parameter specification, built fluently:
//   Param::Int("nsamples").Default(2048).Min(1).Doc("Number of coalitions evaluated per row.")
//   Param::Enum("output", {"probability", "raw"}).Doc("Which model outputs to explain.")
// The host validates a step's parameters against these (type, bounds, choices) and fills in defaults
// before create() runs, and `loupe describe` shows them. A parameter without Default() and without
// Required() is optional: Params::Has tells whether the step set it.
class Param {
 public:
  static Param Bool(std::string name) { return Param(LOUPE_PARAM_BOOL, std::move(name)); }
  static Param Int(std::string name) { return Param(LOUPE_PARAM_INT, std::move(name)); }
  static Param Float(std::string name) { return Param(LOUPE_PARAM_FLOAT, std::move(name)); }
  static Param String(std::string name) { return Param(LOUPE_PARAM_STRING, std::move(name)); }
  // A string restricted to `choices`.
  static Param Enum(std::string name, std::vector<std::string> choices) {
    Param param(LOUPE_PARAM_ENUM, std::move(name));
    param.choices_ = std::move(choices);
    return param;
  }
  // A row selection: "a:b", a list of rows, a count (seeded sample), or "all".
  static Param Rows(std::string name) { return Param(LOUPE_PARAM_ROWS, std::move(name)); }
  // Any value, passed on as JSON; the explainer validates it.
  static Param Json(std::string name) { return Param(LOUPE_PARAM_JSON, std::move(name)); }
  static Param StringList(std::string name) { return Param(LOUPE_PARAM_STRING_LIST, std::move(name)); }

  // The default value (any JSON value: 2048, 0.75, "quartile", true, "0:100").
  Param& Default(const nlohmann::json& value) {
    default_json_ = value.dump();
    has_default_ = true;
    return *this;
  }
  // Inclusive bounds (INT and FLOAT).
  Param& Min(double value) {
    has_min_ = true;
    min_ = value;
    return *this;
  }
  Param& Max(double value) {
    has_max_ = true;
    max_ = value;
    return *this;
  }
  // One sentence shown by `loupe describe`.
  Param& Doc(std::string doc) {
    doc_ = std::move(doc);
    return *this;
  }
  // The step must set this parameter.
  Param& Required(bool required = true) {
    required_ = required;
    return *this;
  }
#if LOUPE_PLUGIN_ABI_MINOR >= 2
  // What the value names in the data (LOUPE_PARAM_ROLE_*): the host checks it against the data before
  // any step runs. Param::String("sample_weight").Role(LOUPE_PARAM_ROLE_COLUMN).
  Param& Role(LoupeParamRole role) {
    role_ = role;
    return *this;
  }
#endif

  LoupeParamType type() const { return type_; }
  const std::string& name() const { return name_; }
  const std::string& doc() const { return doc_; }
  bool has_default() const { return has_default_; }
  const std::string& default_json() const { return default_json_; }
  bool required() const { return required_; }
  bool has_min() const { return has_min_; }
  bool has_max() const { return has_max_; }
  double min() const { return min_; }
  double max() const { return max_; }
  const std::vector<std::string>& choices() const { return choices_; }
  std::int32_t role() const { return role_; }

 private:
  Param(LoupeParamType type, std::string name) : type_(type), name_(std::move(name)) {}

  LoupeParamType type_;
  std::string name_;
  std::string doc_;
  bool has_default_ = false;
  std::string default_json_;
  bool required_ = false;
  bool has_min_ = false, has_max_ = false;
  double min_ = 0, max_ = 0;
  std::vector<std::string> choices_;
  std::int32_t role_ = 0;  // LOUPE_PARAM_ROLE_NONE
};

namespace detail {
using CreateFn = LoupeStatus (*)(const LoupeHostApi*, LoupeHost*, LoupeExplainerInstance**);

// Runs `body` and converts whatever it throws into a status reported with set_error. Never throws.
template <typename Body>
LoupeStatus Guard(const LoupeHostApi* api, LoupeHost* host, Body&& body) noexcept {
  if (api == nullptr) return LOUPE_ERROR_INTERNAL;
  LoupeStatus status = LOUPE_ERROR_INTERNAL;
  const char* fallback = "the explainer failed with an unknown exception";
  try {
    if (api->struct_size < sizeof(LoupeHostApi)) {
      return api->set_error(host, LOUPE_ERROR_INTERNAL,
                            "the host's LoupeHostApi table is shorter than the one this plugin was built "
                            "against, so the host is older than the plugin");
    }
    body();
    return LOUPE_OK;
  } catch (const Error& error) {
    if (error.already_reported()) return error.status();
    return api->set_error(host, error.status(), error.what());
  } catch (const std::bad_alloc&) {
    status = LOUPE_ERROR_OUT_OF_MEMORY;
    fallback = "the explainer ran out of memory";
  } catch (const std::exception& error) {
    try {
      const std::string message = std::string("internal error in the explainer: ") + error.what();
      return api->set_error(host, LOUPE_ERROR_INTERNAL, message.c_str());
    } catch (...) {
      fallback = "internal error in the explainer, and no memory left to describe it";
    }
  } catch (...) {
  }
  return api->set_error(host, status, fallback);
}

// create(): constructs T from the host (T reads and checks its parameters).
template <typename T>
LoupeStatus CreateTrampoline(const LoupeHostApi* api, LoupeHost* host,
                             LoupeExplainerInstance** out) noexcept {
  return Guard(api, host, [&] {
    const Host wrapped(api, host);
    std::unique_ptr<Explainer> explainer = std::make_unique<T>(wrapped);
    *out = reinterpret_cast<LoupeExplainerInstance*>(explainer.release());
  });
}

inline LoupeStatus ExplainTrampoline(const LoupeExplainerInstance* instance, const LoupeHostApi* api,
                                     LoupeHost* host, LoupeResultBuilder* result) noexcept {
  return Guard(api, host, [&] {
    if (instance == nullptr) throw Internal("explain() was called without an instance from create()");
    const Host wrapped(api, host);
    const ResultBuilder builder(api, result);
    reinterpret_cast<const Explainer*>(instance)->Explain(wrapped, builder);
  });
}

inline void DestroyTrampoline(LoupeExplainerInstance* instance) noexcept {
  delete reinterpret_cast<Explainer*>(instance);
}
}  // namespace detail

// Describes one explainer to the host. Build it with Of<T>(name) and the fluent setters.
class ExplainerDef {
 public:
  // `T` derives from Explainer and has a constructor T(const Host&). `name` is "plugin.explainer".
  template <typename T>
  static ExplainerDef Of(std::string name) {
    static_assert(std::is_base_of_v<Explainer, T>,
                  "ExplainerDef::Of<T>: T must derive from loupe::sdk::Explainer");
    static_assert(std::is_constructible_v<T, const Host&>,
                  "ExplainerDef::Of<T>: T needs a constructor T(const loupe::sdk::Host&)");
    ExplainerDef def;
    def.name_ = std::move(name);
    def.create_ = &detail::CreateTrampoline<T>;
    return def;
  }

  // One sentence shown by `loupe plugins` and `loupe describe`.
  ExplainerDef& Summary(std::string summary) {
    summary_ = std::move(summary);
    return *this;
  }
  // The output kind: "feature_attribution", "surrogate_tree", "attention_maps", "fairness_report".
  ExplainerDef& Kind(std::string output_kind) {
    output_kind_ = std::move(output_kind);
    return *this;
  }
  // LOUPE_SCOPE_LOCAL (explains the step's rows, the default) or LOUPE_SCOPE_GLOBAL.
  ExplainerDef& Scope(LoupeScope scope) {
    scope_ = scope;
    return *this;
  }
  ExplainerDef& Parameters(std::vector<Param> params) {
    params_ = std::move(params);
    return *this;
  }
  // Model capabilities the explainer needs ("attention", "tree_ensemble"), all of them; an entry may list
  // alternatives, "gradient|text_gradient" (ABI v1.6): the model must offer one of them, and Explain asks
  // the host which (Host::Capability<T>() or HasCapability).
  ExplainerDef& Requires(std::vector<std::string> capabilities) {
    capabilities_ = std::move(capabilities);
    return *this;
  }

  const std::string& name() const { return name_; }
  const std::string& summary() const { return summary_; }
  const std::string& output_kind() const { return output_kind_; }
  LoupeScope scope() const { return scope_; }
  const std::vector<Param>& params() const { return params_; }
  const std::vector<std::string>& capabilities() const { return capabilities_; }
  detail::CreateFn create() const { return create_; }

 private:
  ExplainerDef() = default;

  std::string name_;
  std::string summary_;
  std::string output_kind_;
  LoupeScope scope_ = LOUPE_SCOPE_LOCAL;
  std::vector<Param> params_;
  std::vector<std::string> capabilities_;
  detail::CreateFn create_ = nullptr;
};

}  // namespace loupe::sdk
