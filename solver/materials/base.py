"""The ``Material`` record: constants plus closed-form laws valid for numpy and UFL.

All laws take the math namespace ``m`` (``solver.mathns.NUMPY`` or ``ufl_namespace()``) and
use only m.exp / m.log / m.tanh / m.sqrt and arithmetic, so the same expression enters the
finite-element forms.  No branching on x, no tables at evaluation time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from solver.mathns import NUMPY

from .data import R_GAS
from .forms import docv_eval, lattice_eval, log10_oregan_eval, ocv_eval

_LN10 = math.log(10.0)
_ANGSTROM = 1e-10  # m per Angstrom


# How ``chemomech materials`` and docs/materials.md show each constant of a Material:
# field -> (unit shown, factor from the stored (SI unless the field says) value to that
# unit, meaning).  The value, source and status (data, derived, proxy, assumption, user)
# of every field come from the Material itself (Material.parameter_sources).
CONSTANT_DISPLAY: dict[str, tuple[str, float, str]] = {
    "molar_mass": ("g/mol", 1e3, "molar mass of Li MO2"),
    "capacity_theoretical": ("mAh/g", 1.0, "theoretical capacity, x from 1 to 0"),
    "density": ("kg/m³", 1.0, "crystallographic density"),
    "c_max": ("mol/m³", 1.0, "Li site concentration = density / molar mass"),
    "a_ref_A": ("Å", 1.0, "lattice parameter a at x = 1"),
    "c_ref_A": ("Å", 1.0, "lattice parameter c at x = 1"),
    "T_ref": ("K", 1.0, "reference temperature of the fitted laws"),
    "temperature_range_K": ("K", 1.0, "temperatures at which the laws are taken to hold"),
    "D_ab_scale": ("–", 1.0, "factor on D_ab(x)"),
    "phase_model": ("–", 1.0, "Li transport model: single-phase or two-phase (H2-H3)"),
    "interface_width": ("µm", 1e6, "two-phase: H2/H3 interface width (None: default)"),
    "interface_energy": ("J/m²", 1.0, "two-phase: H2/H3 interface energy (None: default)"),
    "D_ab_const": ("m²/s", 1.0, "constant D_ab at T_ref replacing D_ab(x) (None: the law)"),
    "D_c_over_D_ab": ("–", 1.0, "c-axis / ab-plane diffusivity"),
    "Ea_D": ("kJ/mol", 1e-3, "activation energy of D"),
    "D_H3_decades": ("decades", 1.0, "fall of D_ab in the collapsed H3 region (x -> 0)"),
    "D_H3_x": ("–", 1.0, "Li fraction at the centre of the H3 switch of D_ab"),
    "D_H3_w": ("–", 1.0, "width (Li fraction) of the H3 switch of D_ab"),
    "i0_ref": ("A/m²", 1.0, "exchange-current prefactor, i0 = i0_ref sqrt(x(1-x)) at T_ref"),
    "i0_scale": ("–", 1.0, "factor on i0"),
    "Ea_i0": ("kJ/mol", 1e-3, "activation energy of i0"),
    "alpha": ("–", 1.0, "anodic transfer coefficient of Butler-Volmer"),
    "c_collapse_scale": ("–", 1.0, "factor on the H2->H3 c-collapse of the NMC811 c(x) shape"),
    "vegard_a": ("–", 1.0, "linear a(x)/a_ref - 1 = vegard_a (x - 1) (None: measured a(x))"),
    "vegard_c": ("–", 1.0, "linear c(x)/c_ref - 1 = vegard_c (x - 1) (None: measured c(x))"),
    "E_ab": ("GPa", 1e-9, "Young's modulus in the basal (ab) plane"),
    "E_c": ("GPa", 1e-9, "Young's modulus along c"),
    "nu_ab": ("–", 1.0, "Poisson ratio in the basal plane"),
    "nu_c": ("–", 1.0, "Poisson ratio, ab contraction under c-axis load"),
    "G_c": ("GPa", 1e-9, "shear modulus in planes containing c (C44)"),
    "C11_scale": ("–", 1.0, "factor on C11 = C22 of that tensor (C66 follows)"),
    "C33_scale": ("–", 1.0, "factor on C33"),
    "C13_scale": ("–", 1.0, "factor on C13 = C23"),
    "C44_scale": ("–", 1.0, "factor on C44 = C55"),
}
# The function-valued laws: name -> (symbol, unit of the samples, form)
LAW_DISPLAY: dict[str, tuple[str, str, str]] = {
    "ocv": ("U(x)", "V", "E0 - b x + (R T_ref/F) (g1 ln(1-x) - g0 ln x) - Σ A_k tanh((x-x_k)/s_k)"
            " + Σ C_j tanh((ln((1-x)/x) - z_j)/t_j), decreasing by construction"),
    "d_ab": ("D_ab(x, T)", "m²/s", "2.7·10^(c0 + Σ a_i exp(-(x-b_i)²/c_i)) · 10^(-D_H3_decades "
             "h(x)) · D_ab_scale · exp(-Ea_D/R (1/T - 1/T_ref)), h = (1 - tanh((x - D_H3_x)"
             "/D_H3_w))/2"),
    "d_c": ("D_c(x, T)", "m²/s", "D_c_over_D_ab · D_ab(x, T)"),
    "i0": ("i0(x, T)", "A/m²", "i0_ref · i0_scale · sqrt(x(1-x)) · exp(-Ea_i0/R (1/T - 1/T_ref))"),
    "lattice_a": ("a(x)", "Å", "a_ref L(x)/L(1), L = p0 + p1(1-x) + p2(1-x)² + p3(1-x)³ + Σ B_k "
                  "tanh((x-x_k)/s_k) - Σ D_j (1 - tanh((x-xc_j)/sc_j))/2"),
    "lattice_c": ("c(x)", "Å", "c_ref L(x)/L(1), the form of a(x) with the collapse terms times "
                  "c_collapse_scale"),
}
LAW_SAMPLE_X: tuple[float, ...] = (0.2, 0.5, 0.9)  # Li fractions shown, at T = T_ref


@dataclass(frozen=True)
class Material:
    """Constants and laws of one cathode active material (SI units unless stated).

    x is the Li site fraction in Li_x MO2 (x = 1 discharged / fully lithiated).
    """

    name: str
    composition: str
    molar_mass: float  # kg/mol
    density: float  # kg/m^3, crystallographic
    capacity_theoretical: float  # mAh/g, x from 1 to 0
    D_c_over_D_ab: float  # -, c-axis / ab-plane diffusivity
    Ea_D: float  # J/mol, Arrhenius activation energy of D
    Ea_i0: float  # J/mol, Arrhenius activation energy of i0
    alpha: float  # -, anodic transfer coefficient
    T_ref: float  # K
    D_ab_const: float | None  # m^2/s; replaces D_ab(x) when set
    D_ab_scale: float  # -, multiplies D_ab
    i0_scale: float  # -, multiplies i0
    # ---- internal law parameters (see library.py for values and sources) ----
    i0_ref: float  # A/m^2, i0 = i0_ref sqrt(x(1-x)) at T_ref (c_e = 1000 mol/m^3)
    D_H3_decades: float  # decades by which D_ab falls in the collapsed H3 region (x -> 0)
    D_H3_x: float  # Li fraction, centre of the H3 switch (Maerker c-collapse centre)
    D_H3_w: float  # Li fraction, width of the H3 switch
    D_oregan: tuple  # (prefactor, c0, a, b, c) of the O'Regan 2022 D(x) shape
    ocv_base: tuple  # (E0 V, b V, g0, g1)
    ocv_xterms: tuple  # ((A V, x_k, s_k), ...)
    ocv_zterms: tuple  # ((C V, z_j, t_j), ...)
    lat_a: tuple  # (poly, tanh_terms, collapse_terms) of the NMC811 a-shape [Angstrom]
    lat_c: tuple  # (poly, tanh_terms, collapse_terms) of the NMC811 c-shape [Angstrom]
    a_ref_A: float  # Angstrom, a at x = 1
    c_ref_A: float  # Angstrom, c at x = 1
    c_collapse_scale: float  # -, scales the H2->H3 c-collapse of the NMC811 shape
    E_ab: float  # Pa, Young's modulus in the basal (ab) plane
    E_c: float  # Pa, Young's modulus along c
    nu_ab: float  # -, Poisson ratio in the basal plane (contraction in ab under ab load)
    nu_c: float  # -, Poisson ratio ab-contraction under c-axis load (nu_ca)
    G_c: float  # Pa, shear modulus in planes containing c (C44)
    sources: tuple = ()  # ((quantity, source text), ...) for reports
    vegard_a: float | None = None  # -, when set: a(x)/a_ref - 1 = vegard_a (x - 1) (linear)
    vegard_c: float | None = None  # -, when set: c(x)/c_ref - 1 = vegard_c (x - 1) (linear)
    # K, (lowest, highest) temperature at which the laws above are taken to hold; the case
    # validation refuses temperatures outside it (basis: temperature_range_source)
    temperature_range_K: tuple[float, float] = (0.0, math.inf)
    temperature_range_source: str = ""
    # ((key, source text, status), ...): key a CONSTANT_DISPLAY field or a LAW_DISPLAY
    # law; status "data", "derived", "proxy", "assumption" or "user" (may combine), for
    # chemomech materials and docs/materials.md
    parameter_sources: tuple = ()
    # Li transport model chosen by the case (not a material law; docs/theory.md section 8):
    # "two-phase" needs solver.phasefield.CahnHilliardTransport (LiTransport refuses it)
    phase_model: str = "single-phase"
    interface_width: float | None = None  # m, two-phase interface width (None: default)
    interface_energy: float | None = None  # J/m^2, two-phase interface energy (None: default)
    # -, factors on single stiffness components after the engineering-constant tensor is
    # built (sensitivity studies, docs/materials.md; 1 = the material's own)
    C11_scale: float = 1.0  # C11 = C22
    C33_scale: float = 1.0
    C13_scale: float = 1.0  # C13 = C23
    C44_scale: float = 1.0  # C44 = C55
    c_max: float = field(init=False)  # mol/m^3 of Li sites = density / molar_mass

    def __post_init__(self):
        if not (self.density > 0 and self.molar_mass > 0):
            raise ValueError("density and molar_mass must be positive")
        object.__setattr__(self, "c_max", self.density / self.molar_mass)

    def temperature_problem(self, T: float) -> str | None:
        """Why the laws do not hold at temperature ``T`` [K], or None inside the data range."""
        lo, hi = self.temperature_range_K
        if lo - 1e-9 <= T <= hi + 1e-9:  # K; the ends themselves, "-20 degC" included
            return None
        return (f"{T:.6g} K is outside the data range of {self.name} ({lo:.6g}-{hi:.6g} K = "
                f"{lo - 273.15:.0f} to {hi - 273.15:.0f} degC): its laws are room-temperature "
                "fits with Arrhenius factors, not data at that temperature (basis: "
                f"chemomech materials {self.name})")

    # ------------------------------------------------------------------ thermodynamics
    def ocv(self, x, m=NUMPY):
        """Open-circuit potential U(x) [V vs Li/Li+], strictly decreasing on (0, 1)."""
        return ocv_eval(self.ocv_base, self.ocv_xterms, self.ocv_zterms, x, m)

    def docv_dx(self, x, m=NUMPY):
        """dU/dx [V] (analytic; always negative)."""
        return docv_eval(self.ocv_base, self.ocv_xterms, self.ocv_zterms, x, m)

    def x_at_voltage(self, V) -> float:
        """Li fraction x with ocv(x) = V (numpy brentq on (1e-6, 1 - 1e-6))."""
        from scipy.optimize import brentq

        lo, hi = 1e-6, 1.0 - 1e-6
        f_lo, f_hi = float(self.ocv(lo)) - V, float(self.ocv(hi)) - V
        if f_lo * f_hi > 0:
            raise ValueError(
                f"{self.name}: V = {V} V outside OCV range "
                f"[{float(self.ocv(hi)):.3f}, {float(self.ocv(lo)):.3f}] V on (1e-6, 1-1e-6)"
            )
        return float(brentq(lambda x: float(self.ocv(x)) - V, lo, hi, xtol=1e-14))

    # ------------------------------------------------------------------ transport
    def _arrhenius(self, Ea, T, m):
        return m.exp(-Ea / R_GAS * (1.0 / T - 1.0 / self.T_ref))

    def d_ab_shape(self, x, m=NUMPY):
        """In-plane diffusivity at T_ref before scaling [m^2/s]: O'Regan 2022 x H3 factor."""
        pref, c0, a, b, c = self.D_oregan
        par = {"c0": c0, "a": a, "b": b, "c": c}
        log10_d = log10_oregan_eval(par, x, m)
        h3 = 0.5 * (1.0 - m.tanh((x - self.D_H3_x) / self.D_H3_w))
        return pref * m.exp(_LN10 * (log10_d - self.D_H3_decades * h3))

    def d_ab(self, x, T, m=NUMPY):
        """In-plane chemical diffusivity [m^2/s] incl. Arrhenius, D_ab_scale, D_ab_const."""
        if self.D_ab_const is not None:  # branch on a constant parameter, not on x
            base = x * 0.0 + self.D_ab_const
        else:
            base = self.d_ab_shape(x, m)
        return base * self.D_ab_scale * self._arrhenius(self.Ea_D, T, m)

    def d_c(self, x, T, m=NUMPY):
        """Out-of-plane (c-axis) diffusivity [m^2/s] = D_c_over_D_ab * d_ab."""
        return self.D_c_over_D_ab * self.d_ab(x, T, m)

    # ------------------------------------------------------------------ kinetics
    def i0(self, x, T, m=NUMPY):
        """Exchange current density [A/m^2] at surface Li fraction x (c_e = 1000 mol/m^3)."""
        return (
            self.i0_ref * self.i0_scale * m.sqrt(x * (1.0 - x)) * self._arrhenius(self.Ea_i0, T, m)
        )

    # ------------------------------------------------------------------ lattice
    def _a_shape(self, x, m):
        return lattice_eval(*self.lat_a, x, m)

    def _c_shape(self, x, m):
        return lattice_eval(*self.lat_c, x, m, collapse_scale=self.c_collapse_scale)

    def lattice_a(self, x, m=NUMPY):
        """a(x) [m]; a(1) = a_ref."""
        if self.vegard_a is not None:  # linear (Vegard) law chosen by the case
            return self.a_ref * (1.0 + self.vegard_a * (x - 1.0))
        a1 = float(self._a_shape(1.0, NUMPY))
        return (self.a_ref_A * _ANGSTROM / a1) * self._a_shape(x, m)

    def lattice_c(self, x, m=NUMPY):
        """c(x) [m]; c(1) = c_ref."""
        if self.vegard_c is not None:
            return self.c_ref * (1.0 + self.vegard_c * (x - 1.0))
        c1 = float(self._c_shape(1.0, NUMPY))
        return (self.c_ref_A * _ANGSTROM / c1) * self._c_shape(x, m)

    # ------------------------------------------------------------------ elasticity
    def stiffness_voigt(self):
        """6x6 stiffness [Pa] in the crystal frame (c along z), Voigt order 11,22,33,23,13,12.

        Transversely isotropic about c, from the engineering constants (E_ab, E_c, nu_ab,
        nu_c, G_c) by inverting the compliance matrix, then C11 (= C22), C33, C13 (= C23)
        and C44 (= C55) times their ``C.._scale`` factors; C66 = (C11 - C12)/2 follows C11
        so that the tensor stays transversely isotropic.
        """
        import numpy as np

        S = np.zeros((6, 6))
        S[0, 0] = S[1, 1] = 1.0 / self.E_ab
        S[0, 1] = S[1, 0] = -self.nu_ab / self.E_ab
        S[0, 2] = S[2, 0] = S[1, 2] = S[2, 1] = -self.nu_c / self.E_c
        S[2, 2] = 1.0 / self.E_c
        S[3, 3] = S[4, 4] = 1.0 / self.G_c
        S[5, 5] = 2.0 * (1.0 + self.nu_ab) / self.E_ab
        C = np.linalg.inv(S)
        if self.C11_scale != 1.0:
            C[0, 0] *= self.C11_scale
            C[1, 1] *= self.C11_scale
            C[5, 5] = 0.5 * (C[0, 0] - C[0, 1])
        C[2, 2] *= self.C33_scale
        for i, j in ((0, 2), (2, 0), (1, 2), (2, 1)):
            C[i, j] *= self.C13_scale
        C[3, 3] *= self.C44_scale
        C[4, 4] *= self.C44_scale
        return C

    @property
    def a_ref(self) -> float:
        """a at x = 1 [m]."""
        return self.a_ref_A * _ANGSTROM

    @property
    def c_ref(self) -> float:
        """c at x = 1 [m]."""
        return self.c_ref_A * _ANGSTROM

    def parameter_source(self, key: str) -> tuple[str, str]:
        """(source text, status) of a constant or law ``key``; ("", "") when not recorded."""
        for k, source, status in self.parameter_sources:
            if k == key:
                return source, status
        return "", ""

    def law_samples(self, law: str, xs=LAW_SAMPLE_X) -> list[float]:
        """Values of a LAW_DISPLAY law at Li fractions ``xs`` and T_ref, in its shown unit."""
        if law in ("d_ab", "d_c", "i0"):
            vals = [float(getattr(self, law)(x, self.T_ref)) for x in xs]
        else:
            vals = [float(getattr(self, law)(x)) for x in xs]
        if law.startswith("lattice_"):
            vals = [v / _ANGSTROM for v in vals]
        return vals

    def describe(self) -> str:
        """Human-readable summary (values and sources)."""
        lines = [
            f"{self.name} ({self.composition}): M = {self.molar_mass * 1e3:.3f} g/mol, "
            f"rho = {self.density:.0f} kg/m^3, c_max = {self.c_max:.0f} mol/m^3, "
            f"Q = {self.capacity_theoretical:.1f} mAh/g"
        ]
        lines += [f"  {q}: {s}" for q, s in self.sources]
        return "\n".join(lines)
