// The conformance kit: checks every Loupe explainer must pass, runnable without the Loupe runtime and
// from any test framework (each check returns a list of failure sentences; empty means it passed).
//
// A plugin's test compiles the plugin's sources into the test program and runs its explainers through
// the in-memory MockHost (mock_host.hpp):
//
//   #include "loupe/testing/conformance.hpp"
//   extern "C" const LoupePluginEntryFn loupe_plugin_entry_v1;   // defined by LOUPE_PLUGIN
//
//   TEST(MyPlugin, Conformance) {
//     loupe::testing::ConformanceCase c;
//     c.dataset = ...;  c.model = ...;                     // small data and a model as a C++ function
//     c.params = {{"background", "0:20"}};  c.rows = {0, 1, 2};
//     c.bad_params = {{{{"groups", {{"g", {"no_such_feature"}}}}}, "groups"}};
//     const auto failures = loupe::testing::RunConformance(loupe_plugin_entry_v1, "my.explainer", c);
//     EXPECT_TRUE(failures.empty()) << loupe::testing::FormatFailures(failures);
//   }
//
// RunConformance checks:
//  1. the entry: returns the plugin's tables for this ABI version and refuses, with a sentence, a host of
//     another major (and of an older minor when the plugin needs minor > 0);
//  2. the plugin info: magic, versions, names "plugin.explainer", unique explainer names, all pointers set;
//  3. the parameter spec: unique non-empty names, non-empty docs, known types, enums with unique
//     choices, bounds only on numbers with min <= max, defaults that parse and satisfy their own spec,
//     no parameter both required and defaulted;
//  4. a run with `params` succeeds, and a feature_attribution result has consistent shapes;
//  5. determinism: two runs with the same seed give identical JSON;
//  6. thread invariance: 1 thread and `threads` threads give identical JSON (bit for bit);
//  7. refusal: every entry of `bad_params` passes the host's spec check yet makes create() or explain()
//     fail with a one-sentence message (mentioning `mentions` when given).
#pragma once

#include <algorithm>
#include <cstdint>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "loupe/c/loupe_plugin.h"
#include "loupe/testing/mock_host.hpp"

namespace loupe::testing {

using Failures = std::vector<std::string>;

// Parameters the explainer must refuse, and a text the refusal must contain (e.g. the parameter's name).
struct BadParams {
  nlohmann::json params;
  std::string mentions;
};

// Everything RunConformance needs to exercise one explainer.
struct ConformanceCase {
  MockDataset dataset;
  MockModel model;
  nlohmann::json params = nlohmann::json::object();  // a configuration that must succeed
  std::vector<std::int64_t> rows;                    // the step's rows
  std::uint64_t seed = 42;
  int threads = 2;  // compared against 1 thread
  std::vector<MockInput> inputs;
  std::vector<BadParams> bad_params;
};

// One line per failure, for test framework messages.
inline std::string FormatFailures(const Failures& failures) {
  std::ostringstream out;
  for (const auto& failure : failures) out << "  - " << failure << "\n";
  return out.str();
}

namespace detail {
inline bool Blank(const char* text) { return text == nullptr || *text == '\0'; }
inline void Append(Failures* into, const Failures& more) {
  into->insert(into->end(), more.begin(), more.end());
}
inline std::string Name(const char* text) { return text != nullptr ? text : "(null)"; }

inline Failures CheckOneSpec(const std::string& where, const LoupeParamSpec& spec,
                             std::set<std::string>* names) {
  Failures failures;
  const std::string at = where + " parameter '" + Name(spec.name) + "'";
  if (Blank(spec.name)) failures.push_back(where + " has a parameter without a name");
  if (!Blank(spec.name) && !names->insert(spec.name).second) failures.push_back(at + " is declared twice");
  if (spec.struct_size < sizeof(LoupeParamSpec))
    failures.push_back(at + " has a struct_size below sizeof(LoupeParamSpec)");
  if (Blank(spec.doc)) failures.push_back(at + " has no doc sentence");
  if (spec.type < LOUPE_PARAM_BOOL || spec.type > LOUPE_PARAM_STRING_LIST) {
    failures.push_back(at + " has the unknown type code " + std::to_string(spec.type));
  }
  if (spec.type == LOUPE_PARAM_ENUM) {
    std::set<std::string> choices;
    if (spec.n_choices <= 0 || spec.choices == nullptr)
      failures.push_back(at + " is an enum without choices");
    for (std::int64_t i = 0; spec.choices != nullptr && i < spec.n_choices; ++i) {
      if (Blank(spec.choices[i]) || !choices.insert(spec.choices[i]).second) {
        failures.push_back(at + " has an empty or repeated choice");
      }
    }
  }
  const bool numeric = spec.type == LOUPE_PARAM_INT || spec.type == LOUPE_PARAM_FLOAT;
  if ((spec.has_min || spec.has_max) && !numeric) failures.push_back(at + " has bounds but is not a number");
  if (spec.has_min && spec.has_max && spec.min_value > spec.max_value)
    failures.push_back(at + " has min > max");
  if (spec.required && spec.default_json != nullptr)
    failures.push_back(at + " is required yet has a default");
  if (spec.default_json != nullptr) {
    const nlohmann::json value = nlohmann::json::parse(spec.default_json, nullptr, false);
    if (value.is_discarded()) {
      failures.push_back(at + " has a default that is not JSON: " + spec.default_json);
    } else if (const std::string error = CheckParamValue(spec, value); !error.empty()) {
      failures.push_back(at + " has a default outside its own spec: " + error);
    }
  }
  return failures;
}

// Sizes of a feature_attribution result (docs/architecture.md §5).
inline Failures CheckFeatureAttribution(const std::string& where, const nlohmann::json& result) {
  Failures failures;
  for (const char* field : {"feature_names", "output_names", "rows", "base_values", "values", "data"}) {
    if (!result.contains(field) || !result[field].is_array()) {
      failures.push_back(where + " wrote no array '" + field + "'");
    }
  }
  if (!failures.empty()) return failures;
  const std::size_t f = result["feature_names"].size(), o = result["output_names"].size(),
                    r = result["rows"].size();
  auto expect = [&](const std::string& field, const nlohmann::json& value, std::size_t n) {
    if (!value.is_array() || value.size() != n) {
      failures.push_back(where + " wrote '" + field + "' with " + std::to_string(value.size()) +
                         " entries instead of " + std::to_string(n));
      return false;
    }
    return true;
  };
  if (expect("base_values", result["base_values"], r)) {
    for (const auto& row : result["base_values"]) expect("base_values[r]", row, o);
  }
  if (expect("values", result["values"], r)) {
    for (const auto& row : result["values"]) {
      if (!expect("values[r]", row, o)) continue;
      for (const auto& output : row) expect("values[r][o]", output, f);
    }
  }
  if (expect("data", result["data"], r)) {
    for (const auto& row : result["data"]) expect("data[r]", row, f);
  }
  return failures;
}
}  // namespace detail

// Checks the plugin description returned by an entry.
inline Failures CheckPluginInfo(const LoupePluginInfo& info) {
  Failures failures;
  const std::string plugin = "plugin '" + detail::Name(info.name) + "'";
  if (info.magic != LOUPE_PLUGIN_MAGIC) failures.push_back(plugin + " has the wrong magic number");
  if (info.struct_size < sizeof(LoupePluginInfo)) failures.push_back(plugin + " has a short struct_size");
  if (info.abi_major != LOUPE_PLUGIN_ABI_MAJOR || info.abi_minor > LOUPE_PLUGIN_ABI_MINOR) {
    failures.push_back(plugin + " declares ABI v" + std::to_string(info.abi_major) + "." +
                       std::to_string(info.abi_minor) + ", not one this SDK supports");
  }
  if (detail::Blank(info.name)) failures.push_back("a plugin has no name");
  if (detail::Blank(info.version)) failures.push_back(plugin + " has no version");
  if (detail::Blank(info.description)) failures.push_back(plugin + " has no description");
  if (info.n_explainers <= 0 || info.explainers == nullptr) failures.push_back(plugin + " has no explainers");
  std::set<std::string> names;
  for (std::int64_t i = 0; info.explainers != nullptr && i < info.n_explainers; ++i) {
    const LoupeExplainerVTable* explainer = info.explainers[i];
    if (explainer == nullptr) {
      failures.push_back(plugin + " has a null explainer entry");
      continue;
    }
    const std::string name = detail::Name(explainer->name);
    if (!names.insert(name).second) failures.push_back(plugin + " declares explainer '" + name + "' twice");
    if (!detail::Blank(info.name) && name.rfind(std::string(info.name) + ".", 0) != 0) {
      failures.push_back(plugin + " has explainer '" + name + "', which is not named '" + info.name +
                         ".<explainer>'");
    }
  }
  return failures;
}

// Checks one explainer's table: names, summary, kind, scope, functions and its parameter spec.
inline Failures CheckParamSpecs(const LoupeExplainerVTable& explainer) {
  Failures failures;
  const std::string where = "explainer '" + detail::Name(explainer.name) + "'";
  if (explainer.struct_size < sizeof(LoupeExplainerVTable))
    failures.push_back(where + " has a short struct_size");
  if (detail::Blank(explainer.name) || std::string(explainer.name).find('.') == std::string::npos) {
    failures.push_back(where + " is not named 'plugin.explainer'");
  }
  if (detail::Blank(explainer.summary)) failures.push_back(where + " has no summary");
  if (detail::Blank(explainer.output_kind)) failures.push_back(where + " has no output kind");
  if (explainer.scope != LOUPE_SCOPE_LOCAL && explainer.scope != LOUPE_SCOPE_GLOBAL) {
    failures.push_back(where + " has an unknown scope");
  }
  if (explainer.create == nullptr || explainer.explain == nullptr || explainer.destroy == nullptr) {
    failures.push_back(where + " lacks create, explain or destroy");
  }
  if (explainer.n_params > 0 && explainer.params == nullptr)
    failures.push_back(where + " has n_params but no params");
  std::set<std::string> names;
  for (std::int64_t i = 0; explainer.params != nullptr && i < explainer.n_params; ++i) {
    // Strided by the plugin's own sizeof(LoupeParamSpec) (its first spec's struct_size): a plugin built
    // for an older minor has shorter specs (loupe_plugin.h, LoupeExplainerVTable::params).
    const std::size_t stride = i == 0 ? 0 : explainer.params[0].struct_size;
    const auto* spec = reinterpret_cast<const LoupeParamSpec*>(
        reinterpret_cast<const char*>(explainer.params) + static_cast<std::size_t>(i) * stride);
    detail::Append(&failures, detail::CheckOneSpec(where, *spec, &names));
  }
  for (std::int64_t i = 0; i < explainer.n_required_capabilities; ++i) {
    if (explainer.required_capabilities == nullptr || detail::Blank(explainer.required_capabilities[i])) {
      failures.push_back(where + " has an empty required capability");
    } else {
      // A name no host offers ("gradients" for "gradient") would fail every pipeline's validation; each of
      // the alternatives "a|b" (v1.6) must be one a host offers.
      const std::string required = explainer.required_capabilities[i];
      for (std::size_t begin = 0; begin <= required.size();) {
        const std::size_t bar = std::min(required.find('|', begin), required.size());
        const std::string name = required.substr(begin, bar - begin);
        if (sdk::detail::SupportedCapabilityVersion(name) == 0) {
          failures.push_back(where + " requires the capability '" + name + "', which no Loupe host offers");
        }
        begin = bar + 1;
      }
    }
  }
  return failures;
}

// Runs the case once with `threads` threads.
inline MockRunResult RunCase(const LoupeExplainerVTable& explainer, const ConformanceCase& c, int threads,
                             const nlohmann::json& params) {
  MockHost host(c.dataset, c.model);
  MockRunOptions options;
  options.params = params;
  options.rows = c.rows;
  options.seed = c.seed;
  options.threads = threads;
  options.inputs = c.inputs;
  return host.Run(explainer, options);
}

// A run with the case's params succeeds and its result has the fields of its kind.
inline Failures CheckRunSucceeds(const LoupeExplainerVTable& explainer, const ConformanceCase& c) {
  const std::string where = "explainer '" + detail::Name(explainer.name) + "'";
  const MockRunResult run = RunCase(explainer, c, 1, c.params);
  if (!run.ok()) {
    return {where + " failed in " + run.failed_in + " with params " + c.params.dump() + ": " + run.error};
  }
  if (std::string(detail::Name(explainer.output_kind)) == "feature_attribution") {
    return detail::CheckFeatureAttribution(where, run.json);
  }
  return {};
}

// Two runs with the same seed write identical JSON.
inline Failures CheckDeterministic(const LoupeExplainerVTable& explainer, const ConformanceCase& c) {
  const MockRunResult first = RunCase(explainer, c, 1, c.params);
  const MockRunResult second = RunCase(explainer, c, 1, c.params);
  if (!first.ok() || !second.ok()) return {};  // reported by CheckRunSucceeds
  if (first.json.dump() != second.json.dump()) {
    return {"explainer '" + detail::Name(explainer.name) +
            "' wrote different results in two runs with seed " + std::to_string(c.seed)};
  }
  return {};
}

// 1 thread and c.threads threads write identical JSON.
inline Failures CheckThreadInvariant(const LoupeExplainerVTable& explainer, const ConformanceCase& c) {
  const MockRunResult one = RunCase(explainer, c, 1, c.params);
  const MockRunResult many = RunCase(explainer, c, c.threads, c.params);
  if (!one.ok() || !many.ok()) {
    return many.ok() ? Failures{}
                     : Failures{"explainer '" + detail::Name(explainer.name) + "' failed on " +
                                std::to_string(c.threads) + " threads: " + many.error};
  }
  if (one.json.dump() != many.json.dump()) {
    return {"explainer '" + detail::Name(explainer.name) + "' wrote different results on 1 and " +
            std::to_string(c.threads) + " threads"};
  }
  return {};
}

// Each bad configuration is refused by the explainer (not by the host's spec check) with one sentence.
inline Failures CheckRefusesBadParams(const LoupeExplainerVTable& explainer, const ConformanceCase& c) {
  Failures failures;
  const std::string where = "explainer '" + detail::Name(explainer.name) + "'";
  for (const auto& bad : c.bad_params) {
    const MockRunResult run = RunCase(explainer, c, 1, bad.params);
    const std::string with = " params " + bad.params.dump();
    if (run.ok()) {
      failures.push_back(where + " accepted the bad" + with);
    } else if (run.rejected_by_host) {
      failures.push_back("the host's spec check, not " + where + ", refused" + with + " (" + run.error +
                         "); pick params the spec allows");
    } else if (run.error.empty()) {
      failures.push_back(where + " refused" + with + " without a message");
    } else if (run.error.find('\n') != std::string::npos) {
      failures.push_back(where + " refused" + with + " with a message of several lines: " + run.error);
    } else if (!bad.mentions.empty() && run.error.find(bad.mentions) == std::string::npos) {
      failures.push_back(where + " refused" + with + " with a message not mentioning '" + bad.mentions +
                         "': " + run.error);
    }
  }
  return failures;
}

// The entry accepts this ABI and refuses incompatible hosts with a sentence.
inline Failures CheckEntry(LoupePluginEntryFn entry) {
  Failures failures;
  char error[512] = "";
  if (entry(LOUPE_PLUGIN_ABI_MAJOR, LOUPE_PLUGIN_ABI_MINOR, error, sizeof(error)) == nullptr) {
    failures.push_back(std::string("the plugin entry refused a host of its own ABI version: ") + error);
  }
  error[0] = '\0';
  if (entry(LOUPE_PLUGIN_ABI_MAJOR + 1, 0, error, sizeof(error)) != nullptr || error[0] == '\0') {
    failures.push_back("the plugin entry did not refuse, with a sentence, a host of ABI major " +
                       std::to_string(LOUPE_PLUGIN_ABI_MAJOR + 1));
  }
  const LoupePluginInfo* info = entry(LOUPE_PLUGIN_ABI_MAJOR, LOUPE_PLUGIN_ABI_MINOR, error, sizeof(error));
  if (info != nullptr && info->abi_minor > 0) {
    error[0] = '\0';
    if (entry(LOUPE_PLUGIN_ABI_MAJOR, info->abi_minor - 1, error, sizeof(error)) != nullptr ||
        error[0] == '\0') {
      failures.push_back("the plugin entry did not refuse, with a sentence, a host older than its ABI minor");
    }
  }
  return failures;
}

// The explainer called `name`, or nullptr.
inline const LoupeExplainerVTable* FindExplainer(const LoupePluginInfo& info, const std::string& name) {
  for (std::int64_t i = 0; info.explainers != nullptr && i < info.n_explainers; ++i) {
    if (info.explainers[i] != nullptr && detail::Name(info.explainers[i]->name) == name)
      return info.explainers[i];
  }
  return nullptr;
}

// Checks 2-7 on explainer `name` of a plugin description.
inline Failures RunConformance(const LoupePluginInfo* info, const std::string& name,
                               const ConformanceCase& c) {
  if (info == nullptr) return {"no plugin description to check"};
  Failures failures = CheckPluginInfo(*info);
  const LoupeExplainerVTable* explainer = FindExplainer(*info, name);
  if (explainer == nullptr) {
    failures.push_back("plugin '" + detail::Name(info->name) + "' has no explainer '" + name + "'");
    return failures;
  }
  detail::Append(&failures, CheckParamSpecs(*explainer));
  if (explainer->create == nullptr || explainer->explain == nullptr || explainer->destroy == nullptr)
    return failures;
  detail::Append(&failures, CheckRunSucceeds(*explainer, c));
  detail::Append(&failures, CheckDeterministic(*explainer, c));
  detail::Append(&failures, CheckThreadInvariant(*explainer, c));
  detail::Append(&failures, CheckRefusesBadParams(*explainer, c));
  return failures;
}

// Checks 1-7 through the plugin's entry function (loupe_plugin_entry_v1).
inline Failures RunConformance(LoupePluginEntryFn entry, const std::string& name, const ConformanceCase& c) {
  if (entry == nullptr) return {"the plugin entry is null"};
  Failures failures = CheckEntry(entry);
  char error[512] = "";
  const LoupePluginInfo* info = entry(LOUPE_PLUGIN_ABI_MAJOR, LOUPE_PLUGIN_ABI_MINOR, error, sizeof(error));
  if (info == nullptr) return failures;
  detail::Append(&failures, RunConformance(info, name, c));
  return failures;
}

}  // namespace loupe::testing
