// The distinct values of a column as the CSV reader meets them: each distinct text is kept once and given
// an id (0, 1, 2... in the order first seen), found again by a flat open-addressing hash table keyed by
// its bytes. The reader keeps a categorical column as one id a row (4 bytes) instead of each cell's text,
// and finds a cell's id with one hash and, on a hit, one comparison of bytes.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace loupe::data {

class Interner {
 public:
  // The id of `text`, added when it is new.
  std::uint32_t Intern(std::string_view text) {
    const std::uint64_t hash = std::hash<std::string_view>{}(text);
    if (2 * (size() + 1) > slots_.size()) Grow();
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t slot = static_cast<std::size_t>(hash) & mask;; slot = (slot + 1) & mask) {
      const std::uint32_t entry = slots_[slot];
      if (entry == 0) {
        const auto id = static_cast<std::uint32_t>(size());
        slots_[slot] = id + 1;
        hashes_.push_back(hash);
        chars_.append(text);
        ends_.push_back(chars_.size());
        return id;
      }
      if (hashes_[entry - 1] == hash && value(entry - 1) == text) return entry - 1;
    }
  }

  // Distinct values so far.
  std::size_t size() const { return hashes_.size(); }
  std::string_view value(std::uint32_t id) const {
    const std::uint64_t begin = id == 0 ? 0 : ends_[id - 1];
    return std::string_view(chars_).substr(static_cast<std::size_t>(begin),
                                           static_cast<std::size_t>(ends_[id] - begin));
  }
  // Every distinct value, in the order first seen (by id).
  std::vector<std::string> Values() const {
    std::vector<std::string> values;
    values.reserve(size());
    for (std::uint32_t id = 0; id < size(); ++id) values.emplace_back(value(id));
    return values;
  }

 private:
  void Grow() {
    std::vector<std::uint32_t> slots(slots_.empty() ? 16 : 2 * slots_.size(), 0);
    const std::size_t mask = slots.size() - 1;
    for (std::uint32_t id = 0; id < size(); ++id) {
      std::size_t slot = static_cast<std::size_t>(hashes_[id]) & mask;
      while (slots[slot] != 0) slot = (slot + 1) & mask;
      slots[slot] = id + 1;
    }
    slots_ = std::move(slots);
  }

  std::string chars_;                // the distinct values, one after another
  std::vector<std::uint64_t> ends_;  // value id is chars_[ends_[id-1], ends_[id])
  std::vector<std::uint64_t> hashes_;
  std::vector<std::uint32_t> slots_;  // id + 1; 0: empty
};

}  // namespace loupe::data
