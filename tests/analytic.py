"""Analytical reference solutions used by the verification tests."""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq


def _tan_roots(n: int) -> np.ndarray:
    """First n positive roots of tan(z) = z (z cot z = 1)."""
    roots = []
    for k in range(1, n + 1):
        lo, hi = k * np.pi + 1e-9, k * np.pi + np.pi / 2 - 1e-9
        roots.append(brentq(lambda z: np.sin(z) - z * np.cos(z), lo, hi))
    return np.array(roots)


def crank_sphere_constant_flux(r: np.ndarray, t: float, a: float, D: float, influx: float,
                               nterms: int = 200) -> np.ndarray:
    """Concentration change in a sphere with constant surface influx (Crank eq. 6.60).

    C - C0 = (F a / D) [3Dt/a^2 + r^2/(2a^2) - 3/10
                        - (2a/r) sum sin(alpha_n r) / (alpha_n^2 a^2 sin(alpha_n a))
                          exp(-D alpha_n^2 t)],
    a alpha_n the positive roots of z cot z = 1.  Crank, The Mathematics of Diffusion,
    2nd ed. (1975), §6.3.  ``influx`` is the inward flux divided by the concentration
    scale (m/s); r in m (r = 0 handled by the limit sin(alpha r)/r -> alpha).
    """
    r = np.atleast_1d(np.asarray(r, dtype=float))
    z = _tan_roots(nterms)
    alpha = z / a
    series = np.zeros_like(r)
    for al, zn in zip(alpha, z, strict=False):
        s_over_r = np.where(r > 0, np.sin(al * r) / np.where(r > 0, r, 1.0), al)
        series += s_over_r / (zn**2 * np.sin(zn)) * np.exp(-D * al**2 * t)
    return influx * a / D * (3 * D * t / a**2 + r**2 / (2 * a**2) - 0.3 - 2 * a * series)


def sphere_intercalation_stress(r: np.ndarray, a: float, profile, E: float, nu: float,
                                theta: float, nquad: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Radial and hoop stress in a free isotropic sphere with eigenstrain theta * x(r).

    Cheng & Verbrugge, J. Power Sources 190, 453 (2009), eqs. (6)-(7) (also Zhang, Shyy &
    Sastry, JES 154, A910 (2007), without the stress-diffusion coupling):
        sigma_r = 2 E theta / (1 - nu) [ (1/a^3) I(a) - (1/r^3) I(r) ]
        sigma_t = E theta / (1 - nu) [ (2/a^3) I(a) + (1/r^3) I(r) - x(r) ],
    I(r) = int_0^r x(s) s^2 ds.  ``profile(r)`` gives x(r) (vectorised, r in m).
    """
    s, w = np.polynomial.legendre.leggauss(nquad)

    def integral(rr):
        nodes = 0.5 * rr * (s + 1.0)
        return 0.5 * rr * np.sum(w * profile(nodes) * nodes**2)

    Ia = integral(a)
    Ir = np.array([integral(rr) for rr in np.atleast_1d(r)])
    xr = profile(np.atleast_1d(r))
    k = E * theta / (1.0 - nu)
    sig_r = 2 * k * (Ia / a**3 - Ir / r**3)
    sig_t = k * (2 * Ia / a**3 + Ir / r**3 - xr)
    return sig_r, sig_t
