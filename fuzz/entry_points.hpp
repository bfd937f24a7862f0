// The parser entry points the fuzz targets drive (fuzz/README.md). Each takes the bytes of one user file
// and feeds them to the parser Loupe uses for that kind of file. The same functions back the libFuzzer
// targets (fuzz/fuzz_target.cpp, built with clang) and the regression test that replays every saved
// crashing input in `make test` (tests/core/fuzz_regression, built with any compiler).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "loupe/core/status.hpp"

namespace loupe::fuzz {

// One fuzzed parser. `run` returns OK when the parser accepted the input and its error otherwise; it
// never throws. It aborts (a finding) when the parser breaks its own contract: an error without a
// message, or an accepted input whose result is inconsistent.
struct Target {
  const char* name;  // also the folder of its corpus, dictionary and saved regressions
  Status (*run)(std::string_view input);
};

// CSV data files: loupe::ParseCsv, then every cell of the dataset read back.
Status FuzzCsv(std::string_view input);
// Pipeline YAML plus --set overrides: the text before the first NUL byte is the pipeline; each following
// NUL-separated part is one KEY.PATH=VALUE override (as the CLI splits it).
Status FuzzPipeline(std::string_view input);
// loupe.model/v1 YAML, written beside the fixture weights (mlp.safetensors, tiny.safetensors,
// vocab.txt) so that relative references resolve; an accepted model also predicts two rows (or texts).
Status FuzzNativeModel(std::string_view input);
// safetensors weight files: SafetensorsFile::Parse, then every tensor read.
Status FuzzSafetensors(std::string_view input);
// XGBoost JSON (Booster.save_model); an accepted model also predicts a row of zeros and one of NaN.
Status FuzzXGBoost(std::string_view input);
// Vocabulary files: the text before the first NUL byte is the vocabulary; the text after it is tokenized
// with the whitespace and the WordPiece tokenizer.
Status FuzzVocabulary(std::string_view input);
// Hugging Face tokenizer.json (HfTokenizer::FromJson, core/src/model/hf_*.cpp): the text before the first
// NUL byte is the file; each following NUL-separated part is a text encoded with it (one default text when
// there is none), directly and through the Tokenizer that maps tokens to words.
Status FuzzHfTokenizer(std::string_view input);
// ONNX model files (loupe::LoadOnnxModel, core/src/onnx); an accepted model also predicts two rows. Listed
// by Targets() only in builds that read ONNX files.
Status FuzzOnnx(std::string_view input);

// The targets of this build (fuzz_onnx only where ONNX files are read).
const std::vector<Target>& Targets();

}  // namespace loupe::fuzz
