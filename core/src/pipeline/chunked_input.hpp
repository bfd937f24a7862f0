// Chunked input (docs/architecture.md §5 "Chunked input"): the feature matrix of a run whose steps read
// only their rows and the rows they resolve, its rows read from the CSV file as the plugin calls need them
// and returned to the system when no call needs them any more.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "data/csv_rows.hpp"
#include "loupe/core/status.hpp"
#include "loupe/core/tensor.hpp"

namespace loupe::pipeline {

class ChunkedFeatures {
 public:
  // Rows are read and released a block of kBlockRows at a time; the reader's index has a mark per block.
  static constexpr std::int64_t kBlockRows = 256;

  // The blocks one holder (a plugin call, or a step's resolved rows) holds, each once, released together
  // (and the first failure to read them).
  struct Pins {
    std::vector<std::int64_t> blocks;
    std::vector<std::uint8_t> held;  // per block: in `blocks`
    Status failure;
  };

  // `matrix`: Dataset::ShareUnfilledMatrix of the reader's columns.
  ChunkedFeatures(data::CsvRowReader reader, std::shared_ptr<Tensor> matrix);

  // Makes the blocks holding `rows` (every row when `rows` is null) ready, reading those no call holds,
  // and records those `pins` does not hold yet in it. Safe from several threads and steps at once.
  Status Pin(const std::int64_t* rows, std::int64_t n, Pins& pins);
  // Lets go of `pins`' blocks: a block no call holds any more is returned to the system (its whole pages;
  // read again when next needed).
  void Release(Pins& pins);
  // The rows read from the file so far (RunReport::rows_read_again).
  std::int64_t rows_read();

 private:
  std::mutex mutex_;
  data::CsvRowReader reader_;
  std::shared_ptr<Tensor> matrix_;
  std::vector<std::uint32_t> holders_;  // per block: the calls holding it (0: not there)
  std::int64_t rows_read_ = 0;
};

}  // namespace loupe::pipeline
