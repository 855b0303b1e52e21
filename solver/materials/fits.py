"""Development-time fits of the closed-form material laws to the raw data in ``data.py``.

Run ``python -m solver.materials.fits`` to regenerate the coefficients stored in
``library.py`` (prints them).  The tests use ``residuals_*`` and ``refine_*`` to check
that the stored coefficients reproduce the raw data and are a local optimum.
Needs scipy; never imported by the solver at run time.
"""

from __future__ import annotations

import numpy as np

from solver.mathns import NUMPY

from . import data
from .forms import lattice_eval, ocv_eval, unpack_ocv

MARKER_CAPACITY = 275.5  # mAh/g, NMC811 theoretical capacity (PARAMETERS.md §1) used for x(q)
MARKER_X_END = 1.0 - 242.40 / MARKER_CAPACITY  # Li fraction at the end of Maerker's charge


# ------------------------------------------------------------------------------ OCV

def _multistart(residual, starts, lo, hi):
    """Bounded least squares from every start; the best result."""
    from scipy.optimize import least_squares

    best = None
    for p0 in starts:
        p0 = np.clip(p0, lo + 1e-10, hi - 1e-10)
        r = least_squares(residual, p0, bounds=(lo, hi), x_scale="jac", max_nfev=20000)
        if best is None or r.cost < best.cost:
            best = r
    return best

def _ocv_bounds(K, J):
    lo = [2.0, 0.0, 1e-3, 1e-3] + [0.0, 0.0, 0.005] * K + [0.0, -14.0, 0.05] * J
    hi = [6.0, 5.0, 20.0, 20.0] + [3.0, 1.0, 0.5] * K + [3.0, 14.0, 10.0] * J
    return np.array(lo), np.array(hi)


def _flat_ocv(base, xterms, zterms):
    return np.array(list(base) + [v for t in xterms for v in t] + [v for t in zterms for v in t])


def fit_ocv(x, U, K, J, w=None, seeds=12, start=None, seed=0):
    """Bounded least squares of the OCV form (monotone by construction)."""

    w = np.ones_like(x) if w is None else w
    lo, hi = _ocv_bounds(K, J)
    rng = np.random.default_rng(seed)
    starts = []
    if start is not None:
        starts.append(_flat_ocv(*start))
    for _ in range(seeds):
        p0 = [4.0, 0.5, 1.0, 1.0]
        for _k in range(K):
            p0 += [rng.uniform(0.01, 0.3), rng.uniform(0.1, 0.95), rng.uniform(0.02, 0.2)]
        for _j in range(J):
            p0 += [rng.uniform(0.05, 0.5), rng.uniform(-8, 8), rng.uniform(0.5, 3)]
        starts.append(np.array(p0))
    best = _multistart(lambda p: w * (ocv_eval(*unpack_ocv(p, K, J), x, NUMPY) - U),
                       starts, lo, hi)
    return unpack_ocv(best.x, K, J), float(best.cost)


def nmc811_ocv_weights(region):
    """Fit weights: Chen2020 window 1.0, MSMR-shaped proxy tails 0.5."""
    return np.where(region == "chen", 1.0, 0.5)


def nmc622_ocv_data():
    """Verbrugge 2017 MSMR NMC622 sampled uniformly in U from 2.6 V to 4.9 V: (x, U)."""
    return data.msmr_curve(2.6, 4.9, 500)


# ------------------------------------------------------------------------------ lattice
def _lat_unpack(p, K, J):
    poly = tuple(float(v) for v in p[:4])
    t = tuple(tuple(float(v) for v in p[4 + 3 * k : 7 + 3 * k]) for k in range(K))
    o = 4 + 3 * K
    c = tuple(tuple(float(v) for v in p[o + 3 * j : o + 3 + 3 * j]) for j in range(J))
    return poly, t, c


def fit_lattice(
    x, y, K, J, *, poly_deg, b1=50.0, xr=(0.2, 1.0), xc=(0.03, 0.3), seeds=40, seed=1, start=None
):
    """Bounded least squares of the lattice form (Angstrom).

    poly_deg limits the polynomial (1 for c so that the H1/H2 baseline saturates and the
    collapse sigmoids carry the whole H2->H3 collapse, which is what gets rescaled for
    NC91/NM91; 3 for a).
    """

    eps = 1e-9
    plo = [0.0] + [-b1] + [-(50.0 if poly_deg >= d else eps) for d in (2, 3)]
    phi = [20.0] + [b1] + [(50.0 if poly_deg >= d else eps) for d in (2, 3)]
    lo = np.array(plo + [-1.0, xr[0], 0.01] * K + [0.0, xc[0], 0.005] * J)
    hi = np.array(phi + [1.0, xr[1], 0.3] * K + [2.0, xc[1], 0.1] * J)
    rng = np.random.default_rng(seed)
    starts = []
    if start is not None:
        starts.append(
            np.array(
                list(start[0]) + [v for t in start[1] for v in t] + [v for t in start[2] for v in t]
            )
        )
    for _ in range(seeds):
        p0 = [y[0], 0.0, 0.0, 0.0]
        for _k in range(K):
            p0 += [rng.uniform(-0.2, 0.2), rng.uniform(*xr), rng.uniform(0.02, 0.3)]
        for _j in range(J):
            p0 += [rng.uniform(0.1, 0.6), rng.uniform(*xc), rng.uniform(0.01, 0.08)]
        starts.append(np.array(p0))
    best = _multistart(lambda p: lattice_eval(*_lat_unpack(p, K, J), x, NUMPY) - y,
                       starts, lo, hi)
    return _lat_unpack(best.x, K, J), float(best.cost)


def c_contraction_from_max(c_coeffs, scale, x_end=MARKER_X_END):
    """Relative c contraction (c_max - c(x_end)) / c_max of the scaled NMC811 c(x) shape."""
    xs = np.linspace(x_end, 1.0, 4001)
    c = lattice_eval(*c_coeffs, xs, NUMPY, collapse_scale=scale)
    cmax = c.max()
    return (cmax - lattice_eval(*c_coeffs, x_end, NUMPY, collapse_scale=scale)) / cmax


def collapse_scale_for(c_coeffs, target, x_end=MARKER_X_END):
    """Collapse scale k such that the c contraction from its maximum equals ``target``."""
    from scipy.optimize import brentq

    return brentq(
        lambda k: c_contraction_from_max(c_coeffs, k, x_end) - target, 0.2, 5.0, xtol=1e-12
    )


def main():  # pragma: no cover - development tool
    np.set_printoptions(precision=12)
    x, U, reg = data.nmc811_reference_ocv()
    p811, _ = fit_ocv(x, U, 4, 2, nmc811_ocv_weights(reg))
    print("OCV_NMC811 =", p811)
    xx, UU = nmc622_ocv_data()
    p622, _ = fit_ocv(xx, UU, 3, 3)
    print("OCV_NMC622 =", p622)
    xm = data.marker_x(MARKER_CAPACITY)
    a_c, _ = fit_lattice(
        xm, data.MARKER_NMC811[:, 1], 2, 1, poly_deg=3, xr=(0.2, 1.0), xc=(0.03, 0.3)
    )
    print("LAT_A_NMC811 =", a_c)
    c_c, _ = fit_lattice(
        xm,
        data.MARKER_NMC811[:, 2],
        3,
        2,
        poly_deg=1,
        b1=0.1,
        xr=(0.33, 1.0),
        xc=(0.03, 0.3),
        seed=3,
    )
    print("LAT_C_NMC811 =", c_c)
    for name, target in (("NC91", 0.060), ("NM91", 0.036)):
        print(name, "collapse scale", repr(collapse_scale_for(c_c, target)))
    print("NMC811 contraction", c_contraction_from_max(c_c, 1.0))


if __name__ == "__main__":  # pragma: no cover
    main()
