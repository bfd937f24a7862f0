#include "model/vector_math.hpp"

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define LOUPE_VM_HAS_AVX2 1
#else
#define LOUPE_VM_HAS_AVX2 0
#endif

namespace loupe::model::vmath {
namespace {

// 1/n! for n = 2..13, rounded to double: the Taylor coefficients of ExpV's P.
constexpr double kExpTaylor[12] = {0x1.0000000000000p-1,  0x1.5555555555555p-3,  0x1.5555555555555p-5,
                                   0x1.1111111111111p-7,  0x1.6c16c16c16c17p-10, 0x1.a01a01a01a01ap-13,
                                   0x1.a01a01a01a01ap-16, 0x1.71de3a556c734p-19, 0x1.27e4fb7789f5cp-22,
                                   0x1.ae64567f544e4p-26, 0x1.1eed8eff8d898p-29, 0x1.6124613a86d09p-33};

// The fits of vector_math_fit.py (which prints these lines), lowest degree first.
constexpr double kTanhSmall[13] = {-0x1.5555555555555p-2,  0x1.111111111101fp-3,   -0x1.ba1ba1ba03fdep-5,
                                   0x1.664f487b7c37ep-6,   -0x1.226e3434333f1p-7,  0x1.d6d397c6172ccp-9,
                                   -0x1.7d9fdd51d36fap-10, 0x1.353280941795ap-11,  -0x1.f351c7b8d9d91p-13,
                                   0x1.8b4d9f3447ab6p-14,  -0x1.215cdb73c8b35p-15, 0x1.51282042d0b9ap-17,
                                   -0x1.b87709c583a0fp-20};
constexpr double kErfSmall[13] = {0x1.06eba8214db69p-3,   -0x1.812746b0379e6p-2,  0x1.ce2f21a042b30p-4,
                                  -0x1.b82ce31284e00p-6,  0x1.565bcd0dbaa38p-8,   -0x1.c02db3dac435fp-11,
                                  0x1.f9a321d5b8e1ep-14,  -0x1.f4d1e3183f7aep-17, 0x1.b9df224ca4b97p-20,
                                  -0x1.5f1ecb6f0764cp-23, 0x1.f7b4bf3b13964p-27,  -0x1.389d4f2641625p-30,
                                  0x1.05ffd737fb32ep-34};
// erfcx on [1, 1.5), [1.5, 2.25), [2.25, 3.5), [3.5, 6]: 13 coefficients in powers of (|x| − middle), then
// the middle.
constexpr double kErfcx[4][14] = {
    {0x1.78a692138767ap-2, -0x1.abaacdbfa8afbp-3, 0x1.b56f45eef7e51p-4, -0x1.9b635ac6299f6p-5,
     0x1.68a25a6644da8p-6, -0x1.299636cce287fp-7, 0x1.d1b6959f1cb6ap-9, -0x1.5b8bda3b71ee0p-10,
     0x1.f0fe839e2a71ap-12, -0x1.55b2667098bebp-13, 0x1.c55fa55721438p-15, -0x1.289a0084dc522p-16,
     0x1.70b353cb354ebp-18, 0x1.4000000000000p+0},
    {0x1.13e5743b60480p-2, -0x1.e36580c7f7245p-4, 0x1.8a6efeed23324p-5, -0x1.2ef92f6f43319p-6,
     0x1.b99589d44468fp-8, -0x1.33237be4d3750p-9, 0x1.99b60de43d2fcp-11, -0x1.070e513e33ce4p-12,
     0x1.46320cad47548p-14, -0x1.8773806db343cp-16, 0x1.c8241b64fcb0bp-18, -0x1.0b77a6f3881eep-19,
     0x1.26b50b770a2c4p-21, 0x1.e000000000000p+0},
    {0x1.7d0a5e9dd5710p-3, -0x1.dfc0205707a54p-5, 0x1.21c23afa32dbdp-6, -0x1.512f93013f173p-8,
     0x1.7b404aa8f00bep-10, -0x1.9d6f1c484bb6ep-12, 0x1.b5d785fb18c81p-14, -0x1.c35f9b13cae4cp-16,
     0x1.c5b761bf0db4ap-18, -0x1.bc84c57070f40p-20, 0x1.aac08d057d509p-22, -0x1.ad4cccf6f1636p-24,
     0x1.8a6a30ccf32b7p-26, 0x1.7000000000000p+1},
    {0x1.dc603a3e77e9bp-4, -0x1.81149bc42c16ap-6, 0x1.317c144f3d659p-8, -0x1.dc1af9892908bp-11,
     0x1.6cc10cc44a339p-13, -0x1.12f120ddb2ba9p-15, 0x1.98185198aef95p-18, -0x1.2a790e4a23c0cp-20,
     0x1.ae3deb193b13ep-23, -0x1.2ec7177ff67a7p-25, 0x1.a8ff02585a857p-28, -0x1.58acfff15ab2ap-30,
     0x1.d5d959772a269p-33, 0x1.3000000000000p+2}};

// --- scalar doubles: the path of machines without AVX2 and FMA -----------------------------------------
namespace scalar {

using V = double;
using M = bool;
#define LOUPE_VM_FN [[gnu::always_inline]] inline

// A value the compiler must treat as unknown: keeps a product from being contracted into a later sum
// (GCC contracts a * b + c into an FMA whenever the target has one, -std=c++20 included).
LOUPE_VM_FN V Opaque(V v) {
#if defined(__x86_64__)
  __asm__("" : "+x"(v));
#elif defined(__aarch64__)
  __asm__("" : "+w"(v));
#endif
  return v;
}
LOUPE_VM_FN V Set(double c) { return c; }
LOUPE_VM_FN V Add(V a, V b) { return a + b; }
LOUPE_VM_FN V Sub(V a, V b) { return a - b; }
LOUPE_VM_FN V Mul(V a, V b) { return Opaque(a * b); }
LOUPE_VM_FN V Div(V a, V b) { return a / b; }
LOUPE_VM_FN V Fma(V a, V b, V c) { return std::fma(a, b, c); }
LOUPE_VM_FN V Neg(V a) { return std::bit_cast<double>(std::bit_cast<std::uint64_t>(a) ^ (1ULL << 63)); }
LOUPE_VM_FN V Abs(V a) { return std::bit_cast<double>(std::bit_cast<std::uint64_t>(a) & ~(1ULL << 63)); }
// `magnitude` (sign clear) with the sign of `sign`.
LOUPE_VM_FN V CopySign(V magnitude, V sign) {
  return std::bit_cast<double>(std::bit_cast<std::uint64_t>(magnitude) |
                               (std::bit_cast<std::uint64_t>(sign) & (1ULL << 63)));
}
// maxpd and minpd: the second operand when the first does not compare greater (less), NaN included.
LOUPE_VM_FN V Max(V a, V b) { return a > b ? a : b; }
LOUPE_VM_FN V Min(V a, V b) { return a < b ? a : b; }
LOUPE_VM_FN M Less(V a, V b) { return a < b; }
LOUPE_VM_FN M GreaterEqual(V a, V b) { return a >= b; }
LOUPE_VM_FN M IsNan(V a) { return a != a; }
LOUPE_VM_FN V Select(M m, V a, V b) { return m ? a : b; }
LOUPE_VM_FN bool AnyOf(M m) { return m; }
LOUPE_VM_FN bool AllOf(M m) { return m; }
// 2^k from k + 0x1.8p52 (k a whole number in [-1022, 1023]): the low bits of the sum are k's.
LOUPE_VM_FN V Pow2(V shifted) {
  return std::bit_cast<double>((std::bit_cast<std::uint64_t>(shifted) + 1023) << 52);
}

#include "model/vector_math_kernels.inc"

#undef LOUPE_VM_FN

template <V (*F)(V)>
void Map(const double* x, double* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = F(x[i]);
}

}  // namespace scalar

#if LOUPE_VM_HAS_AVX2
// --- AVX2 and FMA: four lanes ----------------------------------------------------------------------------
namespace avx2 {

using V = __m256d;
using M = __m256d;
#define LOUPE_VM_FN [[gnu::always_inline]] inline __attribute__((target("avx2,fma")))

LOUPE_VM_FN V Opaque(V v) {
  __asm__("" : "+x"(v));
  return v;
}
LOUPE_VM_FN V Set(double c) { return _mm256_set1_pd(c); }
LOUPE_VM_FN V Add(V a, V b) { return _mm256_add_pd(a, b); }
LOUPE_VM_FN V Sub(V a, V b) { return _mm256_sub_pd(a, b); }
LOUPE_VM_FN V Mul(V a, V b) { return Opaque(_mm256_mul_pd(a, b)); }
LOUPE_VM_FN V Div(V a, V b) { return _mm256_div_pd(a, b); }
LOUPE_VM_FN V Fma(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
LOUPE_VM_FN V Neg(V a) { return _mm256_xor_pd(a, _mm256_set1_pd(-0.0)); }
LOUPE_VM_FN V Abs(V a) { return _mm256_andnot_pd(_mm256_set1_pd(-0.0), a); }
LOUPE_VM_FN V CopySign(V magnitude, V sign) {
  return _mm256_or_pd(magnitude, _mm256_and_pd(sign, _mm256_set1_pd(-0.0)));
}
LOUPE_VM_FN V Max(V a, V b) { return _mm256_max_pd(a, b); }
LOUPE_VM_FN V Min(V a, V b) { return _mm256_min_pd(a, b); }
LOUPE_VM_FN M Less(V a, V b) { return _mm256_cmp_pd(a, b, _CMP_LT_OQ); }
LOUPE_VM_FN M GreaterEqual(V a, V b) { return _mm256_cmp_pd(a, b, _CMP_GE_OQ); }
LOUPE_VM_FN M IsNan(V a) { return _mm256_cmp_pd(a, a, _CMP_UNORD_Q); }
LOUPE_VM_FN V Select(M m, V a, V b) { return _mm256_blendv_pd(b, a, m); }
LOUPE_VM_FN bool AnyOf(M m) { return _mm256_movemask_pd(m) != 0; }
LOUPE_VM_FN bool AllOf(M m) { return _mm256_movemask_pd(m) == 0xF; }
LOUPE_VM_FN V Pow2(V shifted) {
  const __m256i bits = _mm256_add_epi64(_mm256_castpd_si256(shifted), _mm256_set1_epi64x(1023));
  return _mm256_castsi256_pd(_mm256_slli_epi64(bits, 52));
}

#include "model/vector_math_kernels.inc"

#undef LOUPE_VM_FN

// Four values at a time; the last 1 to 3 go through the same lanes from a padded copy, so that a value's
// bits never depend on where it falls in the array.
template <V (*F)(V)>
__attribute__((target("avx2,fma"))) void Map(const double* x, double* y, std::int64_t n) {
  std::int64_t i = 0;
  for (; i + 4 <= n; i += 4) _mm256_storeu_pd(y + i, F(_mm256_loadu_pd(x + i)));
  if (i < n) {
    double tail[4] = {0.0, 0.0, 0.0, 0.0};
    std::memcpy(tail, x + i, static_cast<std::size_t>(n - i) * sizeof(double));
    _mm256_storeu_pd(tail, F(_mm256_loadu_pd(tail)));
    std::memcpy(y + i, tail, static_cast<std::size_t>(n - i) * sizeof(double));
  }
}

}  // namespace avx2
#endif

bool CpuHasAvx2() {
#if LOUPE_VM_HAS_AVX2
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
#else
  return false;
#endif
}

template <scalar::V (*Scalar)(scalar::V)
#if LOUPE_VM_HAS_AVX2
              ,
          avx2::V (*Vector)(avx2::V)
#endif
          >
void Dispatch(const double* x, double* y, std::int64_t n, Isa isa) {
#if LOUPE_VM_HAS_AVX2
  if (isa == Isa::kAvx2 && CpuHasAvx2()) return avx2::Map<Vector>(x, y, n);
#endif
  (void)isa;
  scalar::Map<Scalar>(x, y, n);
}

#if LOUPE_VM_HAS_AVX2
#define LOUPE_VM_KERNEL(NAME) scalar::NAME##V, avx2::NAME##V
#else
#define LOUPE_VM_KERNEL(NAME) scalar::NAME##V
#endif

}  // namespace

Isa BestIsa() { return CpuHasAvx2() ? Isa::kAvx2 : Isa::kScalar; }

void Exp(const double* x, double* y, std::int64_t n, Isa isa) {
  Dispatch<LOUPE_VM_KERNEL(Exp)>(x, y, n, isa);
}
void Tanh(const double* x, double* y, std::int64_t n, Isa isa) {
  Dispatch<LOUPE_VM_KERNEL(Tanh)>(x, y, n, isa);
}
void Erf(const double* x, double* y, std::int64_t n, Isa isa) {
  Dispatch<LOUPE_VM_KERNEL(Erf)>(x, y, n, isa);
}
void Sigmoid(const double* x, double* y, std::int64_t n, Isa isa) {
  Dispatch<LOUPE_VM_KERNEL(Sigmoid)>(x, y, n, isa);
}
void GeluErf(const double* x, double* y, std::int64_t n, Isa isa) {
  Dispatch<LOUPE_VM_KERNEL(GeluErf)>(x, y, n, isa);
}
void GeluTanh(const double* x, double* y, std::int64_t n, Isa isa) {
  Dispatch<LOUPE_VM_KERNEL(GeluTanh)>(x, y, n, isa);
}

namespace {

// z[o] += w[o]·s for o < n on one double at a time (the product rounded on its own).
[[gnu::always_inline]] inline void AddScaledScalar(double* z, const double* w, double s, std::int64_t n) {
  for (std::int64_t o = 0; o < n; ++o) z[o] += scalar::Mul(w[o], s);
}

#if LOUPE_VM_HAS_AVX2
// The same on AVX2 without FMA: the compiler cannot contract the product into the sum, here or in the tail.
[[gnu::always_inline]] inline __attribute__((target("avx2"))) void AddScaledAvx2(double* z, const double* w,
                                                                                 double s, std::int64_t n) {
  const __m256d scale = _mm256_set1_pd(s);
  std::int64_t o = 0;
  for (; o + 4 <= n; o += 4)
    _mm256_storeu_pd(z + o,
                     _mm256_add_pd(_mm256_loadu_pd(z + o), _mm256_mul_pd(_mm256_loadu_pd(w + o), scale)));
  for (; o < n; ++o) z[o] += scalar::Mul(w[o], s);
}

__attribute__((target("avx2"))) void AddScaledColumnsAvx2(double* z, const double* columns, const double* s,
                                                          std::int64_t n_columns, std::int64_t n) {
  for (std::int64_t j = 0; j < n_columns; ++j) {
    if (s[j] != 0.0) AddScaledAvx2(z, columns + j * n, s[j], n);
  }
}

__attribute__((target("avx2"))) void AddScaledRowsAvx2(double* z, const double* w, const double* s,
                                                       std::int64_t rows, std::int64_t n) {
  for (std::int64_t r = 0; r < rows; ++r) {
    if (s[r] != 0.0) AddScaledAvx2(z + r * n, w, s[r], n);
  }
}
#endif

}  // namespace

void AddScaledColumns(double* z, const double* columns, const double* s, std::int64_t n_columns,
                      std::int64_t n) {
#if LOUPE_VM_HAS_AVX2
  if (CpuHasAvx2()) return AddScaledColumnsAvx2(z, columns, s, n_columns, n);
#endif
  for (std::int64_t j = 0; j < n_columns; ++j) {
    if (s[j] != 0.0) AddScaledScalar(z, columns + j * n, s[j], n);
  }
}

void AddScaledRows(double* z, const double* w, const double* s, std::int64_t rows, std::int64_t n) {
#if LOUPE_VM_HAS_AVX2
  if (CpuHasAvx2()) return AddScaledRowsAvx2(z, w, s, rows, n);
#endif
  for (std::int64_t r = 0; r < rows; ++r) {
    if (s[r] != 0.0) AddScaledScalar(z + r * n, w, s[r], n);
  }
}

#undef LOUPE_VM_KERNEL
#undef LOUPE_VM_HAS_AVX2

}  // namespace loupe::model::vmath
