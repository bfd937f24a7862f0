// Counter-based random numbers (Philox4x32-10, Salmon et al. 2011), header-only.
//
// A stream of 64-bit words is identified by a key (seed, row, stream); word number `i` of a stream is a
// pure function of (key, i). That is what makes Loupe's results bit-identical for any thread count and
// batch size: no state is shared or carried between rows. The host's LoupeHostApi::random_u64 is this
// function; plugins may also use it directly (loupe::sdk::Rng).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

namespace loupe::sdk {

namespace detail {
inline std::uint64_t SplitMix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

inline void MulHiLo32(std::uint32_t a, std::uint32_t b, std::uint32_t* hi, std::uint32_t* lo) {
  const std::uint64_t product = static_cast<std::uint64_t>(a) * b;
  *hi = static_cast<std::uint32_t>(product >> 32);
  *lo = static_cast<std::uint32_t>(product);
}

// Ten rounds of Philox4x32 on `ctr` with `key`.
inline void Philox4x32x10(std::uint32_t ctr[4], std::uint32_t key0, std::uint32_t key1) {
  for (int round = 0; round < 10; ++round) {
    std::uint32_t hi0, lo0, hi1, lo1;
    MulHiLo32(0xD2511F53u, ctr[0], &hi0, &lo0);
    MulHiLo32(0xCD9E8D57u, ctr[2], &hi1, &lo1);
    const std::uint32_t next[4] = {hi1 ^ ctr[1] ^ key0, lo1, hi0 ^ ctr[3] ^ key1, lo0};
    ctr[0] = next[0];
    ctr[1] = next[1];
    ctr[2] = next[2];
    ctr[3] = next[3];
    key0 += 0x9E3779B9u;
    key1 += 0xBB67AE85u;
  }
}
}  // namespace detail

// Fills out[0..n) with words counter .. counter+n-1 of the stream keyed by (seed, row, stream).
inline void PhiloxFill(std::uint64_t seed, std::uint64_t row, std::uint64_t stream, std::uint64_t counter,
                       std::uint64_t* out, std::size_t n) {
  const std::uint64_t key = detail::SplitMix64(seed);
  const std::uint64_t lane = detail::SplitMix64(row ^ detail::SplitMix64(stream + 0x632BE59BD9B4E019ULL));
  for (std::size_t i = 0; i < n;) {
    const std::uint64_t word = counter + i;
    const std::uint64_t block = word >> 1;
    std::uint32_t ctr[4] = {static_cast<std::uint32_t>(block), static_cast<std::uint32_t>(block >> 32),
                            static_cast<std::uint32_t>(lane), static_cast<std::uint32_t>(lane >> 32)};
    detail::Philox4x32x10(ctr, static_cast<std::uint32_t>(key), static_cast<std::uint32_t>(key >> 32));
    const std::uint64_t words[2] = {(static_cast<std::uint64_t>(ctr[1]) << 32) | ctr[0],
                                    (static_cast<std::uint64_t>(ctr[3]) << 32) | ctr[2]};
    for (std::uint64_t half = word & 1; half < 2 && i < n; ++half, ++i) out[i] = words[half];
  }
}

// A convenient sequential reader over one stream. Cheap to construct; not shared between threads.
class Rng {
 public:
  Rng(std::uint64_t seed, std::uint64_t row, std::uint64_t stream)
      : seed_(seed), row_(row), stream_(stream) {}

  std::uint64_t NextU64() {
    if (pos_ == kBuffer) Refill();
    return buffer_[pos_++];
  }
  // Uniform on [0, 1) with 53 random bits.
  double Uniform() { return static_cast<double>(NextU64() >> 11) * 0x1.0p-53; }
  // Uniform integer on [0, bound) without modulo bias (Lemire's method with rejection).
  std::uint64_t Below(std::uint64_t bound) {
    if (bound <= 1) return 0;
    const std::uint64_t threshold = (0 - bound) % bound;
    for (;;) {
      const std::uint64_t x = NextU64();
      __extension__ typedef unsigned __int128 Wide;  // GCC/Clang; __extension__ keeps -pedantic quiet
      const Wide m = static_cast<Wide>(x) * bound;
      if (static_cast<std::uint64_t>(m) >= threshold) return static_cast<std::uint64_t>(m >> 64);
    }
  }
  // Standard normal (Box–Muller; uses two uniforms per call so the stream position stays predictable).
  double Normal() {
    const double u1 = 1.0 - Uniform();  // (0, 1]
    const double u2 = Uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586476925 * u2);
  }

 private:
  static constexpr std::size_t kBuffer = 16;
  void Refill() {
    PhiloxFill(seed_, row_, stream_, counter_, buffer_, kBuffer);
    counter_ += kBuffer;
    pos_ = 0;
  }

  std::uint64_t seed_, row_, stream_;
  std::uint64_t counter_ = 0;
  std::uint64_t buffer_[kBuffer] = {};
  std::size_t pos_ = kBuffer;
};

}  // namespace loupe::sdk
