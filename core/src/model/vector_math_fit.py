#!/usr/bin/python3
"""The polynomial coefficients of vector_math.cpp (kTanhSmall, kErfSmall, kErfcx), fitted with mpmath at 60
digits: Chebyshev fits (mpmath.chebyfit, close to minimax) of
  tanh:  P(u) = (tanh x - x) / x^3,      u = x^2 in [0, 0.75^2]          (tanh x = x + x^3 P(x^2))
  erf:   Q(u) = erf(x) / x - 1,          u = x^2 in [0, 1]               (erf x = x + x Q(x^2))
  erfcx: R(x) = erfc(x) exp(x^2) on [1, 1.5], [1.5, 2.25], [2.25, 3.5], [3.5, 6], in powers of x - middle
each of degree 12, printed lowest degree first as hexadecimal doubles (the middle of each erfcx piece last).
The fits' absolute errors are printed too (all far below the double rounding of the results they feed:
see the accuracy note in vector_math.hpp).

With --f32, the single-precision fits of vector_math_f32.cpp instead (kTanhSmallF: P on u in [0, 0.625^2],
degree 4; kErfSmallF: Q on u in [0, 1], degree 6): least squares on 4,000 Chebyshev nodes, reweighted 30
times towards the largest errors (close to minimax; P's error weighted by u, as it enters tanh), the
coefficients rounded to float.

    /usr/bin/python3 core/src/model/vector_math_fit.py [--f32]
"""
import sys

import mpmath as mp

mp.mp.dps = 60
DEGREE = 12


def fit(f, a, b, shift=0.0):
    poly, err = mp.chebyfit(lambda t: f(t + shift), [a - shift, b - shift], DEGREE + 1, error=True)
    return [float(c) for c in reversed(poly)], err


def tanh_p(u):
    if u == 0:
        return mp.mpf(-1) / 3
    x = mp.sqrt(u)
    return (mp.tanh(x) - x) / x**3


def erf_q(u):
    if u == 0:
        return 2 / mp.sqrt(mp.pi) - 1
    x = mp.sqrt(u)
    return mp.erf(x) / x - 1


def erfcx(x):
    return mp.erfc(x) * mp.exp(x * x)


def show(name, coefficients, err):
    print("// %s: fit error %s" % (name, mp.nstr(err, 3)))
    print("{" + ", ".join(float.hex(v) for v in coefficients) + "},")


def fit_f32(f, hi, degree, weight):
    import numpy as np
    u = np.cos(np.linspace(0, np.pi, 4000)) * hi / 2 + hi / 2
    y = np.array([float(f(mp.mpf(float(x)))) for x in u])
    w = np.array([weight(x) for x in u])
    vander = np.vander(u, degree + 1, increasing=True)
    ww = np.ones_like(u)
    for _ in range(30):
        c, *_ = np.linalg.lstsq(vander * (w * ww)[:, None], y * w * ww, rcond=None)
        e = np.abs((vander @ c - y) * w)
        ww = ww * (e / e.max()) ** 0.3 + 1e-3
    return [float(np.float32(v)) for v in c], e.max()


if "--f32" in sys.argv:
    show("kTanhSmallF", *fit_f32(tanh_p, 0.625**2, 4, lambda u: u))
    show("kErfSmallF", *fit_f32(erf_q, 1.0, 6, lambda u: 1.0))
    sys.exit(0)

show("kTanhSmall", *fit(tanh_p, 0, 0.75**2))
show("kErfSmall", *fit(erf_q, 0, 1))
for a, b in ((1, 1.5), (1.5, 2.25), (2.25, 3.5), (3.5, 6)):
    middle = (a + b) / 2
    c, err = fit(erfcx, a, b, middle)
    show("kErfcx on [%s, %s]" % (a, b), c + [middle], err)
