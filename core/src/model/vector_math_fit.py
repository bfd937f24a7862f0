#!/usr/bin/python3
"""The polynomial coefficients of vector_math.cpp (kTanhSmall, kErfSmall, kErfcx), fitted with mpmath at 60
digits: Chebyshev fits (mpmath.chebyfit, close to minimax) of
  tanh:  P(u) = (tanh x - x) / x^3,      u = x^2 in [0, 0.75^2]          (tanh x = x + x^3 P(x^2))
  erf:   Q(u) = erf(x) / x - 1,          u = x^2 in [0, 1]               (erf x = x + x Q(x^2))
  erfcx: R(x) = erfc(x) exp(x^2) on [1, 1.5], [1.5, 2.25], [2.25, 3.5], [3.5, 6], in powers of x - middle
each of degree 12, printed lowest degree first as hexadecimal doubles (the middle of each erfcx piece last).
The fits' absolute errors are printed too (all far below the double rounding of the results they feed:
see the accuracy note in vector_math.hpp).

    /usr/bin/python3 core/src/model/vector_math_fit.py
"""
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


show("kTanhSmall", *fit(tanh_p, 0, 0.75**2))
show("kErfSmall", *fit(erf_q, 0, 1))
for a, b in ((1, 1.5), (1.5, 2.25), (2.25, 3.5), (3.5, 6)):
    middle = (a + b) / 2
    c, err = fit(erfcx, a, b, middle)
    show("kErfcx on [%s, %s]" % (a, b), c + [middle], err)
