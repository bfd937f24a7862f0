// One configuration of the Hugging Face encoder benchmark (bench/hf_bert_bench.py runs it beside PyTorch):
//
//   hf_bench DIR TEXTS BATCH THREADS PRECISION      (PRECISION: f32 | bf16)
//
// loads the save_pretrained directory DIR (`model: {type: huggingface}`), reads BATCH texts from TEXTS (one
// per line; each must tokenize to the same length), and times PredictText on them with THREADS threads the
// way the host runs a batch: the texts split into THREADS equal parts, each predicted on its own thread
// (Loupe runs oneDNN single-threaded per call and parallelises over rows, docs/architecture.md §4). Prints
// one JSON line: seconds per batch (median of repeated batches after a warm-up batch), tokens per text, and
// the peak resident memory the batches added over the loaded and warmed-up model (VmHWM after minus
// before), in MiB.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "loupe/core/attention.hpp"
#include "loupe/core/model.hpp"
#include "model/hf_encoder.hpp"

namespace {

// Resets VmHWM to the current resident size (Linux ≥ 4.0), so that the peak after it is the batches' own
// and not the load's (which holds the safetensors bytes and their f32 copies at once).
void ResetPeakResident() { std::ofstream("/proc/self/clear_refs") << "5"; }

double PeakResidentMiB() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

// Predicts `texts` split into `threads` parts, one thread each; false on an error.
bool PredictSplit(const loupe::TextModel& model, const std::vector<std::string>& texts, int threads) {
  const int parts = std::min<int>(threads, static_cast<int>(texts.size()));
  std::vector<std::thread> workers;
  std::vector<char> ok(static_cast<std::size_t>(parts), 1);
  for (int p = 0; p < parts; ++p) {
    workers.emplace_back([&, p] {
      const std::size_t begin = texts.size() * p / parts, end = texts.size() * (p + 1) / parts;
      const std::vector<std::string> part(texts.begin() + begin, texts.begin() + end);
      ok[p] = model.PredictText(part, loupe::OutputSpace::kProbability).ok();
    });
  }
  for (std::thread& w : workers) w.join();
  return std::all_of(ok.begin(), ok.end(), [](char c) { return c != 0; });
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: hf_bench DIR TEXTS BATCH THREADS f32|bf16\n");
    return 2;
  }
  const int batch = std::stoi(argv[3]), threads = std::stoi(argv[4]);
  const auto precision =
      std::string(argv[5]) == "bf16" ? loupe::nn::Precision::kBF16 : loupe::nn::Precision::kF32;
  auto model = loupe::model::LoadHuggingFaceModel(argv[1], precision);
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", model.status().message().c_str());
    return 1;
  }
  const loupe::TextModel& text_model = *(*model)->text_model();
  std::ifstream in(argv[2]);
  std::vector<std::string> texts;
  for (std::string line; texts.size() < static_cast<std::size_t>(batch) && std::getline(in, line);)
    texts.push_back(line);
  const std::int64_t tokens = text_model.Tokenize(texts.front()).value().size();
  // The first batch creates oneDNN's primitives and reordered weight copies, once per model: not per batch.
  if (!PredictSplit(text_model, texts, threads)) return 1;
  ResetPeakResident();
  const double before = PeakResidentMiB();
  std::vector<double> seconds;
  const auto start = std::chrono::steady_clock::now();
  while (seconds.size() < 2 ||
         (seconds.size() < 50 &&
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < 10.0)) {
    const auto t0 = std::chrono::steady_clock::now();
    if (!PredictSplit(text_model, texts, threads)) return 1;
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(seconds.begin(), seconds.end());
  std::printf("{\"seconds\": %.6f, \"tokens\": %lld, \"memory_mib\": %.1f, \"bf16_native\": %s}\n",
              seconds[seconds.size() / 2], static_cast<long long>(tokens), PeakResidentMiB() - before,
              loupe::nn::Bf16Supported() ? "true" : "false");
  return 0;
}
