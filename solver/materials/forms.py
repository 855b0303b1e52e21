"""Closed-form model functions shared by the library (evaluation) and the fits (development).

Each ``*_eval`` takes the math namespace ``m`` (numpy or UFL, see ``solver.mathns``) and
uses only m.exp / m.log / m.tanh / m.sqrt and arithmetic, so one law serves both.
"""

from __future__ import annotations

from .data import FARADAY, R_GAS, T_REF

THETA = R_GAS * T_REF / FARADAY  # V, thermal voltage RT/F at T_ref = 298.15 K (25.69 mV)


# --------------------------------------------------------------------------------------
# OCV form, monotonically decreasing on (0, 1) by construction when b, g0, g1, A_k, C_j >= 0
# and s_k, t_j > 0.  With z = ln((1-x)/x) (the ideal-solution "logit", decreasing in x):
#   U(x) = E0 - b x + THETA (g1 ln(1-x) - g0 ln x)
#          - sum_k A_k tanh((x - x_k)/s_k)          (features in x, e.g. H2-H3 plateau)
#          + sum_j C_j tanh((z - z_j)/t_j)          (features in z: resolve the end regions,
#                                                    where MSMR galleries are logistic in U)
# base = (E0, b, g0, g1); xterms = ((A, x_k, s_k), ...); zterms = ((C, z_j, t_j), ...)
# --------------------------------------------------------------------------------------
def ocv_eval(base, xterms, zterms, x, m):
    E0, b, g0, g1 = base
    U = E0 - b * x + THETA * (g1 * m.log(1.0 - x) - g0 * m.log(x))
    for A, xk, sk in xterms:
        U = U - A * m.tanh((x - xk) / sk)
    if zterms:
        z = m.log((1.0 - x) / x)
        for C, zj, tj in zterms:
            U = U + C * m.tanh((z - zj) / tj)
    return U


def docv_eval(base, xterms, zterms, x, m):
    _, b, g0, g1 = base
    dU = -b - THETA * (g1 / (1.0 - x) + g0 / x)
    for A, xk, sk in xterms:
        t = m.tanh((x - xk) / sk)
        dU = dU - (A / sk) * (1.0 - t * t)
    if zterms:
        z = m.log((1.0 - x) / x)
        dz = -1.0 / (x * (1.0 - x))
        for C, zj, tj in zterms:
            t = m.tanh((z - zj) / tj)
            dU = dU + (C / tj) * (1.0 - t * t) * dz
    return dU


def unpack_ocv(p, K, J):
    """Split a flat parameter vector into (base, xterms, zterms)."""
    p = [float(v) for v in p]
    base = tuple(p[:4])
    xt = tuple(tuple(p[4 + 3 * k : 7 + 3 * k]) for k in range(K))
    o = 4 + 3 * K
    zt = tuple(tuple(p[o + 3 * j : o + 3 + 3 * j]) for j in range(J))
    return base, xt, zt


# --------------------------------------------------------------------------------------
# Lattice form (Angstrom), smooth on [0, 1]:
#   L(x) = p0 + p1 (1-x) + p2 (1-x)^2 + p3 (1-x)^3 + sum_k B_k tanh((x - x_k)/s_k)
# The collapse sigmoids (H2 -> H3 c-axis collapse) are listed separately so that they can
# be scaled for NC91/NM91:  - D_j * (1 - tanh((x - xc_j)/sc_j)) / 2.
# coefficient layout: poly (4), tanh terms (B, x, s) * K, collapse terms (D, xc, sc) * J
# --------------------------------------------------------------------------------------
def lattice_eval(poly, tanh_terms, collapse_terms, x, m, collapse_scale=1.0):
    y = 1.0 - x
    L = poly[0] + poly[1] * y + poly[2] * y * y + poly[3] * y * y * y
    for B, xk, sk in tanh_terms:
        L = L + B * m.tanh((x - xk) / sk)
    for D, xc, sc in collapse_terms:
        L = L - collapse_scale * D * 0.5 * (1.0 - m.tanh((x - xc) / sc))
    return L


def log10_oregan_eval(par, x, m):
    """log10 of the O'Regan 2022 D(x)/prefactor (decades)."""
    s = par["c0"]
    for a, b, c in zip(par["a"], par["b"], par["c"], strict=True):
        s = s + a * m.exp(-((x - b) ** 2) / c)
    return s
