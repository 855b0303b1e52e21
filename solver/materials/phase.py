"""Two-phase (H2-H3) homogeneous free energy of a layered oxide, for the Cahn-Hilliard model.

No DOLFINx import; numpy here, UFL only when a UFL math namespace is passed (the same
``m`` convention as the other laws of solver/materials).  See docs/theory.md section 8.

Construction (per mole of Li sites, J/mol; x = Li site fraction):

    f_hom(x) = f_eq(x) + W b(x),          mu_hom(x) = f_hom'(x) = -F U_eq(x) + W b'(x)

* ``U_eq(x) = U(xi(x))``: the material's OCV ``U`` (solver/materials) with its H2-H3 part
  contracted onto a plateau.  ``xi`` is continuous, non-decreasing, piecewise linear:

      xi = x x_p / x_H3                                   x <= x_H3        (H3 branch)
      xi = x_p                                            x_H3 <= x <= x_H2 (plateau)
      xi = x_p + (x - x_H2)(x_hi - x_p)/(x_hi - x_H2)     x_H2 <= x <= x_hi (H2 branch)
      xi = x                                              x >= x_hi

  so ``U_eq = U`` for x >= x_hi (the measured Chen2020 window of NMC811 starts at
  x_hi = 0.2661; below it the library OCV is itself a proxy tail), ``U_eq = U_p = U(x_p)``
  on the coexistence window [x_H3, x_H2], and U_eq -> +inf as x -> 0 as U does.
  ``f_eq = -F \\int U_eq dx`` is convex with a straight segment on the window.
* ``b(x) = 16 (x - x_H3)^2 (x_H2 - x)^2 / Delta^4`` on the window, 0 outside
  (Delta = x_H2 - x_H3): b >= 0, b = b' = 0 at both edges, max b = 1 at the centre.
  Hence the common tangent of f_hom is the straight segment of f_eq: the coexisting
  compositions are exactly x_H3 and x_H2 and the plateau potential is exactly U_p,
  independent of the barrier W.

Gradient energy ``(kappa/2) |grad x|^2`` (J m^2/mol per mole of sites).  Planar interface
between the coexisting phases: ``x(z) = x_c + (Delta/2) tanh(2 z / lambda)`` with

    lambda = Delta sqrt(kappa / (2 W))       (interface width: Delta / max |dx/dz|)
    gamma  = (4/3) c_max W lambda            (interface energy, J/m^2)

so the two documented parameters (lambda, gamma) give ``W = 3 gamma / (4 c_max lambda)``
and ``kappa = 2 W lambda^2 / Delta^2``.

Window (derived, not fitted to any voltage): the main c-collapse sigmoid of the Maerker
2019 NMC811 lattice fit (solver/materials/library.py, LAT_C_NMC811, centre xc = 0.1486,
half-width sc = 0.0675): x_H3 = xc - sc, x_H2 = xc + sc, x_p = xc (76 % of that
collapse happens inside the window, so H3 and H2 have distinct c).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from solver.mathns import NUMPY

from .data import CHEN2020_X_RANGE

FARADAY = 96485.33212  # C/mol, CODATA 2018 exact (same as solver/scaling.py)
GAS_CONSTANT = 8.314462618  # J/(mol K), CODATA 2018 exact

# Upper end of the re-mapped OCV range: the lower end of the Chen2020 window (PARAMETERS.md
# §6; PyBaMM Chen2020 LG M50 stoichiometry 0.2661), so the sourced NMC811 data stay untouched
X_HI_REMAP = CHEN2020_X_RANGE[0]  # Li fraction, 0.2661 (Chen2020 valid window)

# Model assumptions (no measured H2/H3 interface energy or width was found):
INTERFACE_WIDTH_DEFAULT = 1.0e-6  # m, numerical assumption: resolvable on the 4 um particles
INTERFACE_ENERGY_DEFAULT = 0.1  # J/m^2, assumption (order of coherent oxide interfaces)


def _minmax(m):
    """(min, max) of the namespace: numpy's or UFL's (imported only for UFL)."""
    if m is NUMPY or m.exp is np.exp:
        return np.minimum, np.maximum
    import ufl

    return ufl.min_value, ufl.max_value


def collapse_window(material) -> tuple[float, float, float]:
    """(x_H3, x_p, x_H2) from the largest c-collapse sigmoid of the material's c(x) law."""
    collapse = material.lat_c[2]
    amp, xc, sc = max(collapse, key=lambda t: abs(t[0]))
    return xc - sc, xc, xc + sc


@dataclass(frozen=True)
class TwoPhaseFreeEnergy:
    """f_hom = f_eq + W b of ``material`` (see the module docstring); SI units."""

    material: object  # solver.materials.Material
    x_H3: float  # Li fraction, H3 coexisting composition (Maerker c-collapse, derived)
    x_H2: float  # Li fraction, H2 coexisting composition (same)
    x_p: float  # Li fraction, where U(x_p) is the plateau potential (collapse centre)
    x_hi: float  # Li fraction, upper end of the re-mapped OCV range
    interface_width: float  # m, lambda (model assumption)
    interface_energy: float  # J/m^2, gamma (model assumption)

    def __post_init__(self):
        if not 0.0 < self.x_H3 < self.x_p < self.x_H2 < self.x_hi < 1.0:
            raise ValueError("need 0 < x_H3 < x_p < x_H2 < x_hi < 1")
        if not (self.interface_width > 0 and self.interface_energy > 0):
            raise ValueError("interface_width and interface_energy must be positive")

    # ------------------------------------------------------------------ parameters
    @property
    def delta(self) -> float:
        """Width of the miscibility gap x_H2 - x_H3."""
        return self.x_H2 - self.x_H3

    @property
    def barrier(self) -> float:
        """W [J/mol] = 3 gamma / (4 c_max lambda)."""
        return 3.0 * self.interface_energy / (4.0 * self.material.c_max * self.interface_width)

    @property
    def kappa(self) -> float:
        """Gradient coefficient [J m^2/mol] = 2 W lambda^2 / Delta^2."""
        return 2.0 * self.barrier * self.interface_width**2 / self.delta**2

    @property
    def plateau_voltage(self) -> float:
        """U_p [V] = U(x_p)."""
        return float(self.material.ocv(self.x_p))

    def describe(self) -> str:
        return (f"two-phase window x_H3 = {self.x_H3:.4f}, x_H2 = {self.x_H2:.4f} "
                f"(plateau {self.plateau_voltage:.4f} V), lambda = "
                f"{self.interface_width * 1e6:.3g} um, gamma = {self.interface_energy:.3g} "
                f"J/m^2, W = {self.barrier:.4g} J/mol, kappa = {self.kappa:.4g} J m^2/mol")

    # ------------------------------------------------------------------ laws (numpy / UFL)
    def xi(self, x, m=NUMPY):
        """The composition map of U_eq(x) = U(xi(x)) (continuous, piecewise linear)."""
        mn, mx = _minmax(m)
        s_hi = (self.x_hi - self.x_p) / (self.x_hi - self.x_H2)
        return (self.x_p * mn(x, self.x_H3) / self.x_H3
                + s_hi * (mn(mx(x, self.x_H2), self.x_hi) - self.x_H2)
                + (mx(x, self.x_hi) - self.x_hi))

    def ocv_eq(self, x, m=NUMPY):
        """Equilibrium OCV with the H2-H3 plateau, U_eq(x) [V]."""
        return self.material.ocv(self.xi(x, m), m)

    def bump(self, x, m=NUMPY):
        """b(x) (dimensionless, 0 outside the window, 1 at its centre)."""
        mn, mx = _minmax(m)
        xc = mn(mx(x, self.x_H3), self.x_H2)
        return 16.0 * (xc - self.x_H3) ** 2 * (self.x_H2 - xc) ** 2 / self.delta**4

    def dbump(self, x, m=NUMPY):
        """b'(x)."""
        mn, mx = _minmax(m)
        xc = mn(mx(x, self.x_H3), self.x_H2)
        return (32.0 * (xc - self.x_H3) * (self.x_H2 - xc) * (self.x_H2 + self.x_H3 - 2.0 * xc)
                / self.delta**4)

    def mu_hom(self, x, m=NUMPY):
        """Homogeneous chemical potential f_hom'(x) [J/mol] (non-monotonic on the window)."""
        return -FARADAY * self.ocv_eq(x, m) + self.barrier * self.dbump(x, m)

    # ------------------------------------------------------------------ numpy only
    def f_hom(self, x, x_ref: float = 0.5, n: int = 20001) -> np.ndarray:
        """f_hom(x) - f_hom(x_ref) [J/mol] on an array x (quadrature of mu_hom)."""
        from scipy.integrate import cumulative_simpson

        x = np.asarray(x, dtype=float)
        lo, hi = min(x.min(), x_ref), max(x.max(), x_ref)
        # the kinks of xi and b are grid points, so Simpson is exact to O(h^4) piecewise
        knots = np.array([self.x_H3, self.x_H2, self.x_hi])
        grid = np.unique(np.concatenate([np.linspace(lo, hi, n), knots[(knots > lo)
                                                                      & (knots < hi)]]))
        F = cumulative_simpson(self.mu_hom(grid), x=grid, initial=0.0)
        F -= np.interp(x_ref, grid, F)
        return np.interp(x, grid, F)

    def profile(self, z, z0: float = 0.0) -> np.ndarray:
        """Analytic planar-interface profile x(z) (z in m; H2 at z > z0)."""
        xc = 0.5 * (self.x_H2 + self.x_H3)
        return xc + 0.5 * self.delta * np.tanh(2.0 * (np.asarray(z) - z0) / self.interface_width)


def two_phase_free_energy(material, interface_width: float = INTERFACE_WIDTH_DEFAULT,
                          interface_energy: float = INTERFACE_ENERGY_DEFAULT
                          ) -> TwoPhaseFreeEnergy:
    """The H2-H3 free energy of ``material`` with the window of its c collapse."""
    x_H3, x_p, x_H2 = collapse_window(material)
    return TwoPhaseFreeEnergy(material, x_H3, x_H2, x_p, X_HI_REMAP, float(interface_width),
                              float(interface_energy))


def common_tangent(mu, x_lo: float, x_hi: float, guess: tuple[float, float],
                   tol: float = 1e-13) -> tuple[float, float, float]:
    """Common tangent of a free energy given by its derivative ``mu(x)`` (numpy).

    Solves mu(x1) = mu(x2) = (f(x2) - f(x1)) / (x2 - x1) with f = \\int mu (adaptive
    quadrature) for x_lo < x1 < x2 < x_hi, from ``guess`` = (x1, x2).  Returns
    (x1, x2, mu_t) with mu_t the common slope (J/mol for mu in J/mol).
    """
    from scipy.integrate import quad
    from scipy.optimize import fsolve

    def mu_s(x):
        return float(np.asarray(mu(np.array([x])))[0])

    def equations(p):
        x1, x2 = p
        area = quad(mu_s, x1, x2, limit=400, epsabs=1e-12, epsrel=1e-13)[0]
        m1, m2 = mu_s(x1), mu_s(x2)
        return [m1 - m2, area - m1 * (x2 - x1)]

    sol, info, ier, msg = fsolve(equations, np.asarray(guess, dtype=float), xtol=tol,
                                 full_output=True)
    x1, x2 = float(sol[0]), float(sol[1])
    # judged on the residual (fsolve may report slow progress at round-off level)
    res = np.abs(equations(sol)) if x_lo < x1 < x2 < x_hi else np.array([np.inf])
    scale = abs(mu_s(x1)) + 1.0
    if not (ier == 1 or res.max() <= 1e-9 * scale) or not x_lo < x1 < x2 < x_hi:
        raise RuntimeError(f"common tangent not found ({msg}); got {sol}")
    return x1, x2, mu_s(x1)


def spinodal_overshoot(fe: TwoPhaseFreeEnergy) -> float:
    """max over the window of (mu_hom - mu_plateau)/F [V]: the voltage overshoot of a
    homogeneous (non-nucleating) particle entering the window (= W 1.54 (2/Delta) / F)."""
    x = np.linspace(fe.x_H3, fe.x_H2, 4001)
    return float(np.max(np.abs(fe.barrier * fe.dbump(x)))) / FARADAY


def thermodynamic_factor(material, x, T: float, m=NUMPY):
    """x(1-x) d(mu/RT)/dx of the material OCV, -x(1-x) F U'(x)/(R T) (> 0)."""
    return -x * (1.0 - x) * FARADAY * material.docv_dx(x, m) / (GAS_CONSTANT * T)


__all__ = ["TwoPhaseFreeEnergy", "two_phase_free_energy", "common_tangent",
           "collapse_window", "spinodal_overshoot", "thermodynamic_factor",
           "INTERFACE_WIDTH_DEFAULT", "INTERFACE_ENERGY_DEFAULT", "X_HI_REMAP"]
