// One libFuzzer target: compiled once per parser with LOUPE_FUZZ_TARGET set to its entry point
// (fuzz/CMakeLists.txt). An exception escaping a parser is a finding: Loupe's parsers return a Status.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz/entry_points.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  (void)loupe::fuzz::LOUPE_FUZZ_TARGET(input);
  return 0;
}
