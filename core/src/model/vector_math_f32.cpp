// The single-precision kernels of vector_math.hpp (the f32 network path's row variants, native_model.cpp):
// the scalar path on one float at a time and the AVX2 + FMA path on eight, computing the same bits.
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "model/vector_math.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define LOUPE_VMF_HAS_AVX2 1
#else
#define LOUPE_VMF_HAS_AVX2 0
#endif

namespace loupe::model::vmath {
namespace {

// 1/n! for n = 2..8, rounded to float: the Taylor coefficients of ExpV's P.
constexpr float kExpTaylorF[7] = {0x1.000000p-1f,  0x1.555556p-3f,  0x1.555556p-5f, 0x1.111112p-7f,
                                  0x1.6c16c2p-10f, 0x1.a01a02p-13f, 0x1.a01a02p-16f};
// The single-precision fits of vector_math_fit.py (--f32), lowest degree first: tanh a = a + a³·P(a²)
// on [0, 0.625), erf a = a + a·Q(a²) on [0, 1).
constexpr float kTanhSmallF[5] = {-0x1.555534p-2f, 0x1.110768p-3f, -0x1.b8442ep-5f, 0x1.52563ap-6f,
                                  -0x1.76a98ep-8f};
constexpr float kErfSmallF[7] = {0x1.06eba8p-3f, -0x1.81273ep-2f,  0x1.ce2d20p-4f, -0x1.b7fbb4p-6f,
                                 0x1.5419ecp-8f, -0x1.a485aep-11f, 0x1.4ae426p-14f};
// Numerical Recipes' erfcc (Chebyshev, W. H. Press et al., §6.2): erfc a = t·exp(−a² + R(t)).
constexpr float kErfcNrF[10] = {-1.26551223f, 1.00002368f,  0.37409196f, 0.09678418f,  -0.18628806f,
                                0.27886807f,  -1.13520398f, 1.48851587f, -0.82215223f, 0.17087277f};

// --- scalar floats: the path of machines without AVX2 and FMA -------------------------------------------
namespace scalar_f32 {

using V = float;
using M = bool;
#define LOUPE_VM_FN [[gnu::always_inline]] inline

// Keeps a product from being contracted into a later sum (see vector_math.cpp).
LOUPE_VM_FN V Opaque(V v) {
#if defined(__x86_64__)
  __asm__("" : "+x"(v));
#elif defined(__aarch64__)
  __asm__("" : "+w"(v));
#endif
  return v;
}
LOUPE_VM_FN V Set(float c) { return c; }
LOUPE_VM_FN V Add(V a, V b) { return a + b; }
LOUPE_VM_FN V Sub(V a, V b) { return a - b; }
LOUPE_VM_FN V Mul(V a, V b) { return Opaque(a * b); }
LOUPE_VM_FN V Div(V a, V b) { return a / b; }
LOUPE_VM_FN V Fma(V a, V b, V c) { return std::fma(a, b, c); }
LOUPE_VM_FN V Neg(V a) { return std::bit_cast<float>(std::bit_cast<std::uint32_t>(a) ^ (1U << 31)); }
LOUPE_VM_FN V Abs(V a) { return std::bit_cast<float>(std::bit_cast<std::uint32_t>(a) & ~(1U << 31)); }
LOUPE_VM_FN V CopySign(V magnitude, V sign) {
  return std::bit_cast<float>(std::bit_cast<std::uint32_t>(magnitude) |
                              (std::bit_cast<std::uint32_t>(sign) & (1U << 31)));
}
// maxps and minps: the second operand when the first does not compare greater (less), NaN included.
LOUPE_VM_FN V Max(V a, V b) { return a > b ? a : b; }
LOUPE_VM_FN V Min(V a, V b) { return a < b ? a : b; }
LOUPE_VM_FN M Less(V a, V b) { return a < b; }
LOUPE_VM_FN M GreaterEqual(V a, V b) { return a >= b; }
LOUPE_VM_FN M IsNan(V a) { return a != a; }
LOUPE_VM_FN V Select(M m, V a, V b) { return m ? a : b; }
LOUPE_VM_FN bool AnyOf(M m) { return m; }
LOUPE_VM_FN bool AllOf(M m) { return m; }
// 2^k from k + 0x1.8p23 (k a whole number in [-126, 127]): the low bits of the sum are k's.
LOUPE_VM_FN V Pow2(V shifted) {
  return std::bit_cast<float>((std::bit_cast<std::uint32_t>(shifted) + 127U) << 23);
}

#include "model/vector_math_f32_kernels.inc"

#undef LOUPE_VM_FN

template <V (*F)(V)>
void Map(const float* x, float* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = F(x[i]);
}

}  // namespace scalar_f32

#if LOUPE_VMF_HAS_AVX2
// --- AVX2 and FMA: eight lanes ---------------------------------------------------------------------------
namespace avx2_f32 {

using V = __m256;
using M = __m256;
#define LOUPE_VM_FN [[gnu::always_inline]] inline __attribute__((target("avx2,fma")))

LOUPE_VM_FN V Opaque(V v) {
  __asm__("" : "+x"(v));
  return v;
}
LOUPE_VM_FN V Set(float c) { return _mm256_set1_ps(c); }
LOUPE_VM_FN V Add(V a, V b) { return _mm256_add_ps(a, b); }
LOUPE_VM_FN V Sub(V a, V b) { return _mm256_sub_ps(a, b); }
LOUPE_VM_FN V Mul(V a, V b) { return Opaque(_mm256_mul_ps(a, b)); }
LOUPE_VM_FN V Div(V a, V b) { return _mm256_div_ps(a, b); }
LOUPE_VM_FN V Fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
LOUPE_VM_FN V Neg(V a) { return _mm256_xor_ps(a, _mm256_set1_ps(-0.0f)); }
LOUPE_VM_FN V Abs(V a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
LOUPE_VM_FN V CopySign(V magnitude, V sign) {
  return _mm256_or_ps(magnitude, _mm256_and_ps(sign, _mm256_set1_ps(-0.0f)));
}
LOUPE_VM_FN V Max(V a, V b) { return _mm256_max_ps(a, b); }
LOUPE_VM_FN V Min(V a, V b) { return _mm256_min_ps(a, b); }
LOUPE_VM_FN M Less(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
LOUPE_VM_FN M GreaterEqual(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_GE_OQ); }
LOUPE_VM_FN M IsNan(V a) { return _mm256_cmp_ps(a, a, _CMP_UNORD_Q); }
LOUPE_VM_FN V Select(M m, V a, V b) { return _mm256_blendv_ps(b, a, m); }
LOUPE_VM_FN bool AnyOf(M m) { return _mm256_movemask_ps(m) != 0; }
LOUPE_VM_FN bool AllOf(M m) { return _mm256_movemask_ps(m) == 0xFF; }
LOUPE_VM_FN V Pow2(V shifted) {
  const __m256i bits = _mm256_add_epi32(_mm256_castps_si256(shifted), _mm256_set1_epi32(127));
  return _mm256_castsi256_ps(_mm256_slli_epi32(bits, 23));
}

#include "model/vector_math_f32_kernels.inc"

#undef LOUPE_VM_FN

// Eight values at a time; the last 1 to 7 go through the same lanes from a padded copy, so that a value's
// bits never depend on where it falls in the array.
template <V (*F)(V)>
__attribute__((target("avx2,fma"))) void Map(const float* x, float* y, std::int64_t n) {
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, F(_mm256_loadu_ps(x + i)));
  if (i < n) {
    alignas(32) float tail[8] = {};
    std::memcpy(tail, x + i, static_cast<std::size_t>(n - i) * sizeof(float));
    _mm256_store_ps(tail, F(_mm256_load_ps(tail)));
    std::memcpy(y + i, tail, static_cast<std::size_t>(n - i) * sizeof(float));
  }
}

// z[o] = fma(w[o], s, z[o]) for o < n, eight at a time, the tail by std::fma (the same operation).
[[gnu::always_inline]] inline __attribute__((target("avx2,fma"))) void AddScaled(float* z, const float* w,
                                                                                 float s, std::int64_t n) {
  const __m256 scale = _mm256_set1_ps(s);
  std::int64_t o = 0;
  for (; o + 8 <= n; o += 8)
    _mm256_storeu_ps(z + o, _mm256_fmadd_ps(_mm256_loadu_ps(w + o), scale, _mm256_loadu_ps(z + o)));
  for (; o < n; ++o) z[o] = std::fma(w[o], s, z[o]);
}

__attribute__((target("avx2,fma"))) void AddScaledColumns(float* z, const float* columns, const float* s,
                                                          std::int64_t n_columns, std::int64_t n) {
  for (std::int64_t j = 0; j < n_columns; ++j) {
    if (s[j] != 0.0f) AddScaled(z, columns + j * n, s[j], n);
  }
}

__attribute__((target("avx2,fma"))) void AddScaledRows(float* z, const float* w, const float* s,
                                                       std::int64_t rows, std::int64_t n) {
  for (std::int64_t r = 0; r < rows; ++r) {
    if (s[r] != 0.0f) AddScaled(z + r * n, w, s[r], n);
  }
}

__attribute__((target("avx2,fma"))) void AddScaledGathered(float* z, const float* columns, const float* s,
                                                           const std::int64_t* index, std::int64_t count,
                                                           std::int64_t n) {
  for (std::int64_t k = 0; k < count; ++k) {
    const std::int64_t c = index[k];
    if (s[c] != 0.0f) AddScaled(z, columns + c * n, s[c], n);
  }
}

// One block of 8 lanes (rows) and K outputs o0..o0+K−1, accumulators in registers.
template <int K>
[[gnu::always_inline]] inline __attribute__((target("avx2,fma"))) void AddScaledLanesBlock(
    float* z, const float* columns, std::int64_t n, const float* const* scales, const std::int64_t* index,
    std::int64_t count, std::int64_t lanes, std::int64_t o0, std::int64_t g) {
  __m256 acc[K];
  for (int k = 0; k < K; ++k) acc[k] = _mm256_loadu_ps(z + (o0 + k) * lanes + g);
  for (std::int64_t j = 0; j < count; ++j) {
    const __m256 s = _mm256_loadu_ps(scales[j] + g);
    const float* w = columns + (index != nullptr ? index[j] : j) * n + o0;
    for (int k = 0; k < K; ++k) acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(w[k]), s, acc[k]);
  }
  for (int k = 0; k < K; ++k) _mm256_storeu_ps(z + (o0 + k) * lanes + g, acc[k]);
}

__attribute__((target("avx2,fma"))) void AddScaledLanes(float* z, const float* columns, std::int64_t n,
                                                        const float* const* scales, const std::int64_t* index,
                                                        std::int64_t count, std::int64_t lanes) {
  for (std::int64_t g = 0; g < lanes; g += 8) {
    std::int64_t o = 0;
    for (; o + 8 <= n; o += 8) AddScaledLanesBlock<8>(z, columns, n, scales, index, count, lanes, o, g);
    if (o + 4 <= n) {
      AddScaledLanesBlock<4>(z, columns, n, scales, index, count, lanes, o, g);
      o += 4;
    }
    if (o + 2 <= n) {
      AddScaledLanesBlock<2>(z, columns, n, scales, index, count, lanes, o, g);
      o += 2;
    }
    if (o < n) AddScaledLanesBlock<1>(z, columns, n, scales, index, count, lanes, o, g);
  }
}

}  // namespace avx2_f32
#endif

bool UseAvx2(Isa isa) { return isa == Isa::kAvx2 && BestIsa() == Isa::kAvx2; }

template <scalar_f32::V (*Scalar)(scalar_f32::V)
#if LOUPE_VMF_HAS_AVX2
              ,
          avx2_f32::V (*Vector)(avx2_f32::V)
#endif
          >
void Dispatch(const float* x, float* y, std::int64_t n, Isa isa) {
#if LOUPE_VMF_HAS_AVX2
  if (UseAvx2(isa)) return avx2_f32::Map<Vector>(x, y, n);
#endif
  scalar_f32::Map<Scalar>(x, y, n);
}

#if LOUPE_VMF_HAS_AVX2
#define LOUPE_VMF_KERNEL(NAME) scalar_f32::NAME##V, avx2_f32::NAME##V
#else
#define LOUPE_VMF_KERNEL(NAME) scalar_f32::NAME##V
#endif

}  // namespace

void Exp(const float* x, float* y, std::int64_t n, Isa isa) { Dispatch<LOUPE_VMF_KERNEL(Exp)>(x, y, n, isa); }
void Tanh(const float* x, float* y, std::int64_t n, Isa isa) {
  Dispatch<LOUPE_VMF_KERNEL(Tanh)>(x, y, n, isa);
}
void Sigmoid(const float* x, float* y, std::int64_t n, Isa isa) {
  Dispatch<LOUPE_VMF_KERNEL(Sigmoid)>(x, y, n, isa);
}
void GeluErf(const float* x, float* y, std::int64_t n, Isa isa) {
  Dispatch<LOUPE_VMF_KERNEL(GeluErf)>(x, y, n, isa);
}
void GeluTanh(const float* x, float* y, std::int64_t n, Isa isa) {
  Dispatch<LOUPE_VMF_KERNEL(GeluTanh)>(x, y, n, isa);
}

void AddScaledColumns(float* z, const float* columns, const float* s, std::int64_t n_columns, std::int64_t n,
                      Isa isa) {
#if LOUPE_VMF_HAS_AVX2
  if (UseAvx2(isa)) return avx2_f32::AddScaledColumns(z, columns, s, n_columns, n);
#endif
  for (std::int64_t j = 0; j < n_columns; ++j) {
    if (s[j] == 0.0f) continue;
    for (std::int64_t o = 0; o < n; ++o) z[o] = std::fma(columns[j * n + o], s[j], z[o]);
  }
}

void AddScaledRows(float* z, const float* w, const float* s, std::int64_t rows, std::int64_t n, Isa isa) {
#if LOUPE_VMF_HAS_AVX2
  if (UseAvx2(isa)) return avx2_f32::AddScaledRows(z, w, s, rows, n);
#endif
  for (std::int64_t r = 0; r < rows; ++r) {
    if (s[r] == 0.0f) continue;
    for (std::int64_t o = 0; o < n; ++o) z[r * n + o] = std::fma(w[o], s[r], z[r * n + o]);
  }
}

void AddScaledGathered(float* z, const float* columns, const float* s, const std::int64_t* index,
                       std::int64_t count, std::int64_t n, Isa isa) {
#if LOUPE_VMF_HAS_AVX2
  if (UseAvx2(isa)) return avx2_f32::AddScaledGathered(z, columns, s, index, count, n);
#endif
  for (std::int64_t k = 0; k < count; ++k) {
    const std::int64_t c = index[k];
    if (s[c] == 0.0f) continue;
    for (std::int64_t o = 0; o < n; ++o) z[o] = std::fma(columns[c * n + o], s[c], z[o]);
  }
}

void AddScaledLanes(float* z, const float* columns, std::int64_t n, const float* const* scales,
                    const std::int64_t* index, std::int64_t count, std::int64_t lanes, Isa isa) {
#if LOUPE_VMF_HAS_AVX2
  if (UseAvx2(isa) && lanes % 8 == 0)
    return avx2_f32::AddScaledLanes(z, columns, n, scales, index, count, lanes);
#endif
  for (std::int64_t o = 0; o < n; ++o) {
    for (std::int64_t j = 0; j < count; ++j) {
      const float w = columns[(index != nullptr ? index[j] : j) * n + o];
      for (std::int64_t r = 0; r < lanes; ++r) z[o * lanes + r] = std::fma(w, scales[j][r], z[o * lanes + r]);
    }
  }
}

#undef LOUPE_VMF_KERNEL
#undef LOUPE_VMF_HAS_AVX2

}  // namespace loupe::model::vmath
