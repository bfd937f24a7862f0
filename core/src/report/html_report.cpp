#include "report/html_report.hpp"

#include <map>
#include <sstream>

#include "report/output_files.hpp"
#include "report/renderers.hpp"

namespace loupe::report {
namespace {

const char* const kStyle = R"(<style>
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1000px;padding:0 1rem;color:#222;line-height:1.4}
h1{font-size:1.5rem}h2{font-size:1.25rem;margin-top:2.5rem;border-bottom:2px solid #ddd;padding-bottom:.2rem}
h3{font-size:1.05rem;margin:1.2rem 0 .4rem}h4{font-size:.95rem;margin:1.2rem 0 .3rem;color:#333}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}td,th{padding:.2rem .7rem;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
code{font-size:.85rem}.muted{color:#666;font-size:.88rem}.sub{color:#666;font-weight:normal;font-size:.9rem}
.ok,.pass{color:#176b2c;font-weight:600}.failed,.fail{color:#b3261e;font-weight:600}.skipped{color:#8a6d00}
.quality{display:flex;flex-wrap:wrap;gap:.4rem;margin:.4rem 0}.quality span{background:#f3f5f8;border:1px solid #dde3ea;border-radius:4px;padding:.1rem .5rem;font-size:.85rem}
.quality b{font-weight:600}.switch{display:inline-block;margin:.3rem 0;font-size:.9rem}
.scroll{overflow-x:auto}.tree-scroll{border:1px solid #eee;border-radius:4px}.tree-hint input{vertical-align:middle}
.tree-hint:has(.fit-toggle:checked)+.tree-scroll svg{width:100%;height:auto}.tokens{line-height:2}.tokens span{padding:.1rem .2rem;border-radius:3px;border:1px solid #eee}
.error{background:#fdecea;border:1px solid #f5c2c0;padding:.5rem;border-radius:4px}
svg{display:block;margin:.3rem 0}svg text{font-size:12px;font-family:system-ui,sans-serif;fill:#222}
svg text.tick{font-size:10px;fill:#555}svg text.value{font-size:10px;fill:#333}svg text.split{font-weight:600}
svg text.muted{fill:#777;font-size:11px}svg text.cell{font-size:10px;fill:#222}svg text.cell.light{fill:#fff}
.row-label{color:#666;font-size:.85rem;border:none!important}
line.axis{stroke:#888}line.zero{stroke:#999;stroke-dasharray:2 2}line.reference{stroke:#555;stroke-dasharray:4 3}
line.whisker{stroke:#222;stroke-width:1.2}line.connector{stroke:#bbb}line.edge{stroke:#999}
html[data-js-errors] body::before{content:"A script in this report failed; some panels may not switch.";display:block;background:#fdecea;padding:.5rem}
.head-tables{display:flex;flex-wrap:wrap;gap:1rem}table.heads td{text-align:right;font-size:.8rem}
table.heads caption{font-weight:600;font-size:.85rem;text-align:left}
details{margin:.4rem 0}summary{cursor:pointer;color:#1e4f9a}
</style>
)";

// Records script errors on <html data-js-errors> (the browser test reads it), before any other script.
const char* const kErrorCatcher =
    R"(<script>window.addEventListener('error',function(e){var h=document.documentElement;h.setAttribute('data-js-errors',(h.getAttribute('data-js-errors')||'')+(e.message||'error')+'; ');});</script>
)";

// Each <select data-switch=G> shows the panel of group G whose data-key is selected.
const char* const kSwitchScript = R"(<script>
(function(){
  function show(select){
    var group=select.getAttribute('data-switch');
    var panels=document.querySelectorAll('.panel[data-group="'+group+'"]');
    for(var i=0;i<panels.length;i++){panels[i].hidden=panels[i].getAttribute('data-key')!==select.value;}
  }
  var selects=document.querySelectorAll('select[data-switch]');
  for(var i=0;i<selects.length;i++){(function(s){s.addEventListener('change',function(){show(s);});show(s);})(selects[i]);}
  // A tree wider than its box opens scrolled to the middle, where its root is drawn.
  var trees=document.querySelectorAll('.tree-scroll');
  for(var i=0;i<trees.length;i++){trees[i].scrollLeft=(trees[i].scrollWidth-trees[i].clientWidth)/2;}
  document.documentElement.setAttribute('data-report-ready','1');
})();
</script>
)";

std::string Milliseconds(double ms) { return ms < 1000 ? Num(ms, 3) + " ms" : Num(ms / 1000, 3) + " s"; }

std::string Row(const std::string& header, const std::string& cell_html) {
  return "<tr><th>" + HtmlEscape(header) + "</th><td>" + cell_html + "</td></tr>";
}

std::string RunFacts(const nlohmann::json& run) {
  std::string html = "<table class=\"facts\">";
  html += Row("pipeline file", "<code>" + HtmlEscape(TextMember(run, "file")) + "</code>");
  if (const nlohmann::json* data = Member(run, "data")) {
    const nlohmann::json* features = ArrayMember(*data, "features");
    html += Row("data", "<code>" + HtmlEscape(TextMember(*data, "path")) + "</code>, " +
                            HtmlEscape(TextMember(*data, "rows", "?")) + " rows" +
                            (features ? ", " + std::to_string(features->size()) + " features" : ""));
  }
  if (const nlohmann::json* model = Member(run, "model")) {
    html += Row("model", HtmlEscape(TextMember(*model, "name")) + " <span class=\"muted\"><code>" +
                             HtmlEscape(TextMember(*model, "path")) + "</code></span>");
  }
  html += Row("seed", HtmlEscape(TextMember(run, "seed", "0")));
  if (const auto elapsed = NumberMember(run, "elapsed_ms")) html += Row("total time", Milliseconds(*elapsed));
  const nlohmann::json versions = run.value("versions", nlohmann::json::object());
  html += Row("versions", "Loupe " + HtmlEscape(TextMember(versions, "loupe", "?")) + ", plugin ABI " +
                              HtmlEscape(TextMember(versions, "plugin_abi", "?")));
  const std::string status = TextMember(run, "status", "?");
  html += Row("status", "<span class=\"" + HtmlEscape(status) + "\">" + HtmlEscape(status) + "</span>" +
                            (Member(run, "error") ? " — " + HtmlEscape(TextMember(run, "error")) : ""));
  return html + "</table>\n";
}

const Explanation* FindStep(const std::vector<const Explanation*>& explanations, const std::string& step) {
  for (const Explanation* e : explanations) {
    if (e->step == step) return e;
  }
  return nullptr;
}

std::string StepTable(const nlohmann::json& run, const std::vector<const Explanation*>& explanations) {
  std::string html =
      "<h2>Steps</h2>\n<table><tr><th>step</th><th>explainer</th><th>status</th><th>time</th>"
      "<th>files</th><th>message</th></tr>";
  const nlohmann::json* steps = ArrayMember(run, "steps");
  for (std::size_t i = 0; steps != nullptr && i < steps->size(); ++i) {
    const nlohmann::json& step = (*steps)[i];
    const std::string id = TextMember(step, "id");
    const std::string status = TextMember(step, "status");
    const std::string failure = TextMember(step, "failure");  // what kind of failure, on failed steps
    const std::string status_text = failure.empty() ? status : status + " (" + failure + ")";
    const Explanation* e = FindStep(explanations, id);
    std::string files;
    if (const nlohmann::json* list = ArrayMember(step, "files")) {
      for (const auto& file : *list) files += (files.empty() ? "" : ", ") + HtmlEscape(DisplayText(file));
    }
    html += "<tr><td>" +
            (e ? "<a href=\"#step-" + HtmlEscape(id) + "\">" + HtmlEscape(id) + "</a>" : HtmlEscape(id)) +
            "</td><td>" + (e ? HtmlEscape(e->explainer) : "") + "</td><td class=\"" + HtmlEscape(status) +
            "\">" + HtmlEscape(status_text) + "</td><td>" +
            Milliseconds(NumberMember(step, "elapsed_ms").value_or(0)) + "</td><td>" + files + "</td><td>" +
            HtmlEscape(TextMember(step, "message")) + "</td></tr>";
  }
  return html + "</table>\n";
}

std::string Label(const std::string& key) {
  std::string label = key;
  for (char& c : label) {
    if (c == '_') c = ' ';
  }
  return label;
}

std::string StepHeader(const Explanation& e) {
  std::string html = "<h2 id=\"step-" + HtmlEscape(e.step) + "\">" + HtmlEscape(e.step) +
                     " <span class=\"sub\">" + HtmlEscape(e.explainer) + " · " + HtmlEscape(e.plugin_name) +
                     " " + HtmlEscape(e.plugin_version) + " · " + Milliseconds(e.elapsed_ms) +
                     "</span></h2>\n";
  html += QualityStrip(e);
  if (e.params.is_object() && !e.params.empty()) {
    html += "<details><summary>parameters</summary><table>";
    for (const auto& [key, value] : e.params.items()) {
      html +=
          "<tr><td>" + HtmlEscape(key) + "</td><td><code>" + HtmlEscape(value.dump()) + "</code></td></tr>";
    }
    html += "</table></details>\n";
  }
  return html;
}

using Renderer = void (*)(const Explanation&, const std::string&, std::string&);

Renderer RendererFor(const std::string& kind) {
  static const std::map<std::string, Renderer> renderers = {
      {"feature_attribution", RenderFeatureAttribution},
      {"shap_summary", RenderShapSummary},
      {"surrogate_tree", RenderSurrogateTree},
      {"fairness_report", RenderFairnessReport},
      {"counterfactual_report", RenderCounterfactualReport},
      {"counterfactual_explanations", RenderCounterfactualExplanations},
      {"anchors", RenderAnchors},
      {"attention_maps", RenderAttentionMaps},
      {"partial_dependence", RenderPartialDependence},
      {"accumulated_local_effects", RenderAccumulatedLocalEffects},
      {"permutation_importance", RenderPermutationImportance}};
  const auto it = renderers.find(kind);
  return it == renderers.end() ? RenderGeneric : it->second;
}

// A step whose rows were streamed to disk (docs/architecture.md §5 "Streamed steps") reaches the report as
// a sample of them; its entry in `run` says which ("report_sample": every k-th of N rows, from the first).
struct ReportSample {
  std::int64_t every = 1, of = 0;  // of = 0: not a sample
};

ReportSample SampleOf(const nlohmann::json& run, const Explanation& e) {
  const nlohmann::json* steps = ArrayMember(run, "steps");
  for (std::size_t i = 0; steps != nullptr && i < steps->size(); ++i) {
    const nlohmann::json& step = (*steps)[i];
    if (TextMember(step, "id") != e.step || !step.contains("report_sample")) continue;
    const nlohmann::json& sample = step["report_sample"];
    return {sample.value("every", std::int64_t{1}), sample.value("of", std::int64_t{0})};
  }
  return {};
}

std::string SampleNote(const ReportSample& sample, const Explanation& e) {
  if (sample.of == 0) return "";
  const std::int64_t shown = (sample.of + sample.every - 1) / sample.every;
  return "<p class=\"muted sample\">The charts of this step show " + std::to_string(shown) + " of its " +
         std::to_string(sample.of) + " rows (one row in " + std::to_string(sample.every) +
         ", from the first); every row is in " + HtmlEscape(e.step) + ".json.</p>\n";
}

// One step's section; a result the renderer cannot read becomes a sentence, never a broken page.
std::string StepSection(const Explanation& e, std::size_t index, const std::string& note = "") {
  std::string body = note;
  try {
    RendererFor(e.kind)(e, "s" + std::to_string(index), body);
  } catch (const std::exception& error) {
    std::string reason = error.what();
    if (!reason.empty() && reason.back() == '.') reason.pop_back();
    body = "<p class=\"error\">This " + HtmlEscape(e.kind) + " could not be drawn: " + HtmlEscape(reason) +
           ". Its numbers are in " + HtmlEscape(e.step) + ".json.</p>\n";
  }
  return "<section class=\"step\" data-kind=\"" + HtmlEscape(e.kind) + "\">\n" + StepHeader(e) + body +
         "</section>\n";
}

}  // namespace

std::string QualityStrip(const Explanation& e) {
  if (!e.quality.is_object() || e.quality.empty()) return "";
  std::string html = "<div class=\"quality\" title=\"quality figures of this result\">";
  for (const auto& [key, value] : e.quality.items()) {
    const std::string text = value.is_number() ? Num(value.get<double>(), 4) : DisplayText(value);
    html += "<span>" + HtmlEscape(Label(key)) + " <b>" + HtmlEscape(text) + "</b></span>";
  }
  return html + "</div>\n";
}

void RenderGeneric(const Explanation& e, const std::string&, std::string& html) {
  html += "<p class=\"muted\">The report has no chart for results of kind <code>" + HtmlEscape(e.kind) +
          "</code>; its fields are in " + HtmlEscape(e.step) + ".json.</p>\n<table>";
  // The top-level scalars, in key order: JSON ones and typed arrays of rank 0 (numbers).
  std::map<std::string, nlohmann::json> scalars;
  for (const auto& [key, value] : e.body.items()) {
    if (value.is_primitive()) scalars.emplace(key, value);
  }
  for (const auto& [path, tensor] : e.arrays) {
    if (tensor.ndim() == 0 && path.find('.') == std::string::npos)
      scalars.emplace(path, TensorToJson(tensor));
  }
  for (const auto& [key, value] : scalars) {
    html += "<tr><td>" + HtmlEscape(key) + "</td><td>" + HtmlEscape(DisplayText(value)) + "</td></tr>";
  }
  html += "</table>\n";
}

std::string RenderHtmlReport(const nlohmann::json& run, const std::vector<const Explanation*>& explanations) {
  const std::string name = TextMember(run, "pipeline", "run");
  std::string html =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Loupe: " +
      HtmlEscape(name) + "</title>\n" + kStyle + kErrorCatcher + "</head><body>\n";
  html += "<h1>Loupe report: " + HtmlEscape(name) + "</h1>\n" + RunFacts(run) + StepTable(run, explanations);
  for (std::size_t i = 0; i < explanations.size(); ++i) {
    const ReportSample sample = SampleOf(run, *explanations[i]);
    if (sample.of == 0) {
      html += StepSection(*explanations[i], i);
      continue;
    }
    // The renderers count what they draw; the step's own row count reaches them as `report_rows_of`.
    Explanation drawn = *explanations[i];
    drawn.body["report_rows_of"] = sample.of;
    html += StepSection(drawn, i, SampleNote(sample, drawn));
  }
  html +=
      "<p class=\"muted\">Written by Loupe. Every number above is in the step's JSON file beside this "
      "report.</p>\n";
  return html + kSwitchScript + "</body></html>\n";
}

}  // namespace loupe::report
