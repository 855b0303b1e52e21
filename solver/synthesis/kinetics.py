"""Local rate laws of the calcination model and their exact backward-Euler update.

Per mol of transition metal (TM) at a point of the particle: precursor TM(OH)2 ``p``,
layered LiTMO2 ``l`` (of which ``l2`` formed via the rock salt), rock salt TMO ``r``;
``p + l + r = 1`` (TM is conserved: it does not move).  ``a`` >= 0 is the local Li
activity (mobile Li per TM divided by ``li_capacity``, 1 at the Li source).  Rates [1/s]:

* topotactic lithiation   TM(OH)2 + LiOH (+ 1/4 O2) -> LiTMO2 + 3/2 H2O:  k_L(T) a p
* thermal decomposition   TM(OH)2 -> TMO + H2O:                        k_D(T) p
* rock-salt lithiation    TMO + LiOH (+ 1/4 O2) -> LiTMO2 + 1/2 H2O:    k_R(T) a r

with k_i = A_i exp(-Ea_i / (R T)) (solver/materials/synthesis.py).  Lithiation needs
local Li (first order in a), decomposition does not; each lithiation takes one Li per TM
from the mobile Li, so the Li sink is  S = a (k_L p + k_R r)  [mol Li / mol TM / s].

Backward Euler over dt at the end-of-step T and a (exact for these linear ODEs in p, r
at fixed a, and conservative):

    p = p0 / (1 + dt (k_L a + k_D)),   r = (r0 + dt k_D p) / (1 + dt k_R a),
    l = l0 + dt a (k_L p + k_R r),     l2 = l20 + dt a k_R r,

so p + l + r = p0 + l0 + r0 to round-off, every fraction stays in [0, 1] for any dt,
and S = (l - l0)/dt is exactly the Li the phases took up.  Water released per TM
(cumulative, from the precursor's OH and the LiOH of each lithiation): w = (1 - p) + l/2
(starting from pure precursor).  Porosity from the solid volume in the fixed framework of
the secondary particle (pseudomorphic): phi = 1 - (1 - phi0) (p V_p + l V_l + r V_r)/V_p.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from solver.materials.data import R_GAS

PHASES = ("precursor", "layered", "rock_salt")
RADIAL_BINS = 5  # equal shells in the normalised radius rho = |x / semi-axes| (0..1)


def radial_columns() -> list[str]:
    """Names of the radial-profile columns: <phase>_rho<centre>, centres 0.1 ... 0.9."""
    centres = (np.arange(RADIAL_BINS) + 0.5) / RADIAL_BINS
    return [f"{ph}_rho{c:.1f}" for ph in (*PHASES, "porosity") for c in centres]


@dataclass
class LocalUpdate:
    """Phase fractions after one step and the Li sink with its derivative in a."""

    p: np.ndarray
    r: np.ndarray
    l: np.ndarray  # noqa: E741 - the layered fraction, named as in docs/synthesis.md
    l2: np.ndarray
    sink: np.ndarray  # mol Li / mol TM / s
    dsink: np.ndarray  # d sink / d a


def local_update(p0: np.ndarray, r0: np.ndarray, l0: np.ndarray, l20: np.ndarray,
                 a: np.ndarray, kL: float, kD: float, kR: float, dt: float) -> LocalUpdate:
    """Backward-Euler step dt [s] of the three reactions at Li activity ``a`` (>= 0 is
    used; rate constants [1/s]); see the module docstring."""
    a = np.maximum(a, 0.0)
    dp = 1.0 + dt * (kL * a + kD)
    p = p0 / dp
    dr = 1.0 + dt * kR * a
    r = (r0 + dt * kD * p) / dr
    rate = kL * p + kR * r
    l = l0 + dt * a * rate  # noqa: E741
    l2 = l20 + dt * a * kR * r
    p_a = -p * dt * kL / dp
    r_a = (dt * kD * p_a - r * dt * kR) / dr
    dsink = rate + a * (kL * p_a + kR * r_a)
    return LocalUpdate(p, r, l, l2, a * rate, dsink)


def water_released(p: np.ndarray, l: np.ndarray) -> np.ndarray:
    """H2O released per TM [mol/mol] since the start (pure precursor at the start)."""
    return (1.0 - p) + 0.5 * l


def porosity(p: np.ndarray, l: np.ndarray, r: np.ndarray, params) -> np.ndarray:  # noqa: E741
    """Porosity of the particle framework (solid volume balance; module docstring)."""
    solid = (p * params.V_precursor + l * params.V_layered + r * params.V_rocksalt)
    return 1.0 - (1.0 - params.porosity_precursor) * solid / params.V_precursor


def weight_fractions(p: float, l: float, r: float, params) -> tuple[float, float, float]:  # noqa: E741
    """Mass fractions (precursor, layered, rock salt) of the solid, as an XRD (Rietveld)
    refinement reports phase fractions."""
    m = np.array([p * params.M_precursor, l * params.M_layered, r * params.M_rocksalt])
    tot = m.sum()
    return tuple(float(v) for v in (m / tot if tot > 0 else m))


# ---------------------------------------------------------------- analytical solutions
def isothermal_fractions(t: np.ndarray, kL: float, kD: float, kR: float,
                         a: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact (p, l, r) at constant T and Li activity a from pure precursor: first order,
    p = exp(-(kL a + kD) t), r = kD/(kR a - k) (e^{-k t} - e^{-kR a t}) with
    k = kL a + kD (k != kR a), l = 1 - p - r."""
    k, kr = kL * a + kD, kR * a
    p = np.exp(-k * t)
    if abs(kr - k) < 1e-14 * max(k, 1e-300):
        r = kD * t * np.exp(-k * t)
    else:
        r = kD / (kr - k) * (np.exp(-k * t) - np.exp(-kr * t))
    return p, 1.0 - p - r, r


def kissinger_peak(A: float, Ea: float, rate: float) -> float:
    """Peak temperature [K] of the conversion rate of a first-order Arrhenius reaction
    heated at ``rate`` [K/s]: the root of  rate Ea / (R Tp^2) = A exp(-Ea / (R Tp))
    (Kissinger, Anal. Chem. 29, 1702 (1957); for first order d^2 alpha/dt^2 = 0 gives it
    exactly)."""
    lo, hi = 200.0, 3000.0

    def f(T: float) -> float:
        return math.log(rate * Ea / (R_GAS * T * T)) - math.log(A) + Ea / (R_GAS * T)

    for _ in range(200):  # bisection: f decreases with T
        mid = 0.5 * (lo + hi)
        if f(mid) > 0:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)
