// The binary form of an Explanation sent between processes: an isolated step's child to its parent
// (isolate.cpp) and an MPI rank's row block to rank 0 (row_shards.cpp). Metadata as CBOR (exact doubles,
// NaN kept) naming every typed and string array with its shape, then the arrays' bytes in that order:
// each typed array raw, each string array as its cells' end offsets (u64) and then its characters.
// The framing around it (pipe frames, MPI tags) is each caller's own.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "loupe/core/explanation.hpp"
#include "loupe/core/status.hpp"

namespace loupe::wire {

struct EncodedExplanation {
  std::vector<std::uint8_t> meta;  // CBOR
  // Each string array laid out once: cell end offsets, characters.
  std::vector<std::pair<std::vector<std::uint64_t>, std::string>> texts;
  std::uint64_t payload_bytes = 0;  // what follows the metadata
};

EncodedExplanation EncodeExplanation(const Explanation& e);

// Hands `write` the payload in order (typed arrays straight from their tensors, then the string
// arrays); stops at, and returns, the first false.
bool WritePayload(const Explanation& e, const EncodedExplanation& encoded,
                  const std::function<bool(const void* data, std::uint64_t size)>& write);

// Where the payload is read from (a pipe, or a message already in memory).
class PayloadReader {
 public:
  virtual ~PayloadReader() = default;
  virtual bool Read(void* out, std::uint64_t size) = 0;
  virtual std::uint64_t left() const = 0;
};

// The explanation back, with every size checked against what is left before anything is allocated.
// A failure is an Internal status whose message is a phrase without a full stop ("its metadata is not
// valid CBOR") for the caller to put into its own sentence.
Result<Explanation> DecodeExplanation(std::span<const std::uint8_t> meta, PayloadReader& payload);

}  // namespace loupe::wire
