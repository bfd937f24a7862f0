#include "pipeline/chunked_input.hpp"

#include <algorithm>
#include <utility>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace loupe::pipeline {

ChunkedFeatures::ChunkedFeatures(data::CsvRowReader reader, std::shared_ptr<Tensor> matrix)
    : reader_(std::move(reader)),
      matrix_(std::move(matrix)),
      holders_(static_cast<std::size_t>((reader_.rows() + kBlockRows - 1) / kBlockRows), 0) {}

Status ChunkedFeatures::Pin(const std::int64_t* rows, std::int64_t n, Pins& pins) {
  std::vector<std::int64_t> blocks;
  const auto count = static_cast<std::int64_t>(holders_.size());
  if (rows == nullptr) {
    blocks.resize(static_cast<std::size_t>(count));
    for (std::int64_t b = 0; b < count; ++b) blocks[static_cast<std::size_t>(b)] = b;
  } else {
    blocks.reserve(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
      if (rows[i] < 0 || rows[i] >= reader_.rows())
        return Internal("row " + std::to_string(rows[i]) + " asked for, outside the data's " +
                        std::to_string(reader_.rows()) + " rows.");
      const std::int64_t block = rows[i] / kBlockRows;
      if (blocks.empty() || blocks.back() != block) blocks.push_back(block);
    }
    std::sort(blocks.begin(), blocks.end());
    blocks.erase(std::unique(blocks.begin(), blocks.end()), blocks.end());
  }
  std::lock_guard<std::mutex> lock(mutex_);
  pins.held.resize(holders_.size(), 0);
  std::erase_if(blocks, [&](std::int64_t block) { return pins.held[static_cast<std::size_t>(block)] != 0; });
  const std::int64_t width = reader_.width();
  double* data = matrix_->data<double>();
  // The blocks no call holds, read a run of consecutive ones at a time.
  for (std::size_t i = 0; i < blocks.size();) {
    if (holders_[static_cast<std::size_t>(blocks[i])] > 0) {
      ++i;
      continue;
    }
    std::size_t j = i + 1;
    while (j < blocks.size() && blocks[j] == blocks[j - 1] + 1 &&
           holders_[static_cast<std::size_t>(blocks[j])] == 0)
      ++j;
    const std::int64_t begin = blocks[i] * kBlockRows;
    const std::int64_t end = std::min(reader_.rows(), (blocks[j - 1] + 1) * kBlockRows);
    if (Status read = reader_.Fill(begin, end, data + begin * width); !read.ok()) {
      if (pins.failure.ok()) pins.failure = read;
      return read;
    }
    rows_read_ += end - begin;
    i = j;
  }
  for (const std::int64_t block : blocks) {
    ++holders_[static_cast<std::size_t>(block)];
    pins.held[static_cast<std::size_t>(block)] = 1;
    pins.blocks.push_back(block);
  }
  return Status::Ok();
}

std::int64_t ChunkedFeatures::rows_read() {
  std::lock_guard<std::mutex> lock(mutex_);
  return rows_read_;
}

void ChunkedFeatures::Release(Pins& pins) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::int64_t width = reader_.width();
  const double* data = matrix_->data<double>();
  for (const std::int64_t block : pins.blocks) {
    pins.held[static_cast<std::size_t>(block)] = 0;
    if (--holders_[static_cast<std::size_t>(block)] > 0) continue;
#if defined(__linux__)
    // The block's whole pages: a page it shares with a neighbour stays (its values stay valid).
    static const auto page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
    const std::int64_t end_row = std::min(reader_.rows(), (block + 1) * kBlockRows);
    const auto first = reinterpret_cast<std::uintptr_t>(data + block * kBlockRows * width);
    const auto last = reinterpret_cast<std::uintptr_t>(data + end_row * width);
    const std::uintptr_t begin = (first + page - 1) / page * page, end = last / page * page;
    if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
#else
    (void)data;
    (void)width;
#endif
  }
  pins.blocks.clear();
}

}  // namespace loupe::pipeline
