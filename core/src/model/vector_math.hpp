// Vectorised double-precision exp, tanh and erf, and the activations of the double-precision network path
// on them (native_model.cpp): sigmoid, GELU (erf) and GELU (tanh). Arrays in, arrays out (`y` may be `x`).
//
// Kernels: AVX2 with FMA, four values at a time, when the CPU has both (checked once at run time, so the
// build needs no -march flag); otherwise the same kernels on one double at a time. Both compute the same
// operations in the same order (FMAs included: std::fma on the scalar path), and the last 1-3 values of an
// array go through the vector lanes from a padded copy, so a value's result has the same bits whatever its
// position in the array, the array's length, the thread or the instruction set.
//
// Methods (vector_math_kernels.inc): exp by k·ln2 + r reduction and the Taylor series of e^r to r^13; tanh
// by an odd polynomial below |x| = 0.75 and 1 − 2/(e^{2|x|} + 1) above; erf by an odd polynomial below
// |x| = 1 and 1 − e^{−x²}·erfcx(|x|) above, erfcx by four polynomial pieces to |x| = 6 (coefficients
// fitted by vector_math_fit.py). Special values as libm: exp(−inf) = 0, exp(inf) = inf, exp of x > 709.78
// overflows to inf, results below 2^−1022 are subnormal (exp(x) = 0 below −745.13); tanh(±inf) = ±1,
// erf(±inf) = ±1; tanh and erf keep −0.0 and subnormal x; NaN in, NaN out.
//
// Accuracy: within 2 ulp of glibc's exp, tanh and erf over the whole range, subnormal results included
// (measured on dense sweeps by tests/core/model/vector_math_test.cpp; the maxima found are printed there
// and in docs), so a network's outputs move by rounding only.
#pragma once

#include <cstdint>

namespace loupe::model::vmath {

enum class Isa { kScalar, kAvx2 };

// kAvx2 when the CPU has AVX2 and FMA, else kScalar. kAvx2 asked on a CPU without them runs kScalar.
Isa BestIsa();

void Exp(const double* x, double* y, std::int64_t n, Isa isa = BestIsa());
void Tanh(const double* x, double* y, std::int64_t n, Isa isa = BestIsa());
void Erf(const double* x, double* y, std::int64_t n, Isa isa = BestIsa());
// 1 / (1 + exp(−x)).
void Sigmoid(const double* x, double* y, std::int64_t n, Isa isa = BestIsa());
// 0.5·x·(1 + erf(x / √2)), torch.nn.GELU().
void GeluErf(const double* x, double* y, std::int64_t n, Isa isa = BestIsa());
// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), torch.nn.GELU(approximate="tanh"); the inner sum is one FMA.
void GeluTanh(const double* x, double* y, std::int64_t n, Isa isa = BestIsa());

// The linear layers' column updates, a product and a sum per element, each rounded (never fused), so the
// bits are those of the plain loops on every instruction set (AVX2 lanes when the CPU has them); a zero
// scale is skipped (its zero products would change no sum, short of the sign of a zero).
// z[o] += columns[j·n + o]·s[j] for each j < n_columns with s[j] ≠ 0, in the order of j; o < n.
void AddScaledColumns(double* z, const double* columns, const double* s, std::int64_t n_columns,
                      std::int64_t n);
// z[r·n + o] += w[o]·s[r] for each r < rows with s[r] ≠ 0; o < n.
void AddScaledRows(double* z, const double* w, const double* s, std::int64_t rows, std::int64_t n);

// --- single precision (vector_math_f32.cpp): the f32 network path's row variants ---
// The same functions on floats, eight lanes on AVX2 + FMA, with the same discipline: one operation
// sequence on every lane and instruction set (the scalar path's FMAs are std::fma), the tail through the
// lanes from a padded copy, so a value's bits never depend on its position, the array's length, the thread
// or the instruction set. Methods (vector_math_f32_kernels.inc): exp by k·ln2 + r and the Taylor series of
// e^r to r^8; tanh by an odd polynomial below |x| = 0.625 and 1 − 2/(e^{2|x|} + 1) above; GELU's 1 + erf
// by a polynomial below |x/√2| = 1 and Numerical Recipes' erfc above, its tanh form's 1 + tanh from
// 2/(e^{2|z|} + 1) (neither cancels for negative x). Accuracy (tests/core/model/vector_math_f32_test.cpp,
// against the double-precision functions rounded to float, normal results): exp and tanh within 1 ulp,
// sigmoid 2, both GELUs 6 (of the exact GELU of their f32-rounded inner argument, as PyTorch rounds it).
void Exp(const float* x, float* y, std::int64_t n, Isa isa = BestIsa());
void Tanh(const float* x, float* y, std::int64_t n, Isa isa = BestIsa());
void Sigmoid(const float* x, float* y, std::int64_t n, Isa isa = BestIsa());
void GeluErf(const float* x, float* y, std::int64_t n, Isa isa = BestIsa());
void GeluTanh(const float* x, float* y, std::int64_t n, Isa isa = BestIsa());
// z[o] = fma(columns[j·n + o], s[j], z[o]) for each j < n_columns with s[j] ≠ 0, in the order of j.
void AddScaledColumns(float* z, const float* columns, const float* s, std::int64_t n_columns, std::int64_t n,
                      Isa isa = BestIsa());
// z[r·n + o] = fma(w[o], s[r], z[r·n + o]) for each r < rows with s[r] ≠ 0.
void AddScaledRows(float* z, const float* w, const float* s, std::int64_t rows, std::int64_t n,
                   Isa isa = BestIsa());
// The lane-major form (a block of rows as the lanes: z[o·lanes + r] is output o of row r): for each j < count
// in order, z[o·lanes + r] = fma(columns[c·n + o], scales[j][r], z[o·lanes + r]) with c = index[j] (j when
// index is null), zero scales included, for o < n and r < lanes. Eight rows at a time in registers on
// AVX2 (lanes a multiple of 8), the same FMAs in the same order on every path.
void AddScaledLanes(float* z, const float* columns, std::int64_t n, const float* const* scales,
                    const std::int64_t* index, std::int64_t count, std::int64_t lanes, Isa isa = BestIsa());
// z[o] = fma(columns[c·n + o], s[c], z[o]) for c = index[k], k < count in order, where s[c] ≠ 0.
void AddScaledGathered(float* z, const float* columns, const float* s, const std::int64_t* index,
                       std::int64_t count, std::int64_t n, Isa isa = BestIsa());

}  // namespace loupe::model::vmath
