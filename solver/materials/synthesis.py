"""Parameters of the calcination (synthesis) model (solver/synthesis/), with sources.

No DOLFINx.  Values are SI.  Each value says where it comes from and how firm it is:
SOURCED (a measured number from the cited work), DERIVED (arithmetic on sourced
numbers), PROXY (a sourced number of a related material or process, used in place of the
missing one), FITTED (chosen so that the model reproduces the named observation) or
ASSUMPTION (no value found; a stated choice).  The equations are in
solver/synthesis/kinetics.py and docs/synthesis.md.

[P22] Park et al., Nat. Chem. (2022), doi:10.1038/s41557-022-00915-2 (NCM622 from
Ni0.6Co0.2Mn0.2(OH)2 + LiOH): topotactic lithiation from the Li-source interface starts
near 200 degC; thermal decomposition of TM(OH)2 to rock salt near 220-350 degC
(PARAMETERS.md section 8).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .data import R_GAS

EV_PER_MOL = 96485.33212  # J/mol per eV (CODATA 2018, exact)
AVOGADRO = 6.02214076e23  # 1/mol (exact)
T_ROOM = 298.15  # K


def hex_molar_volume(a: float, c: float, z: int) -> float:
    """Molar volume [m^3/mol] of a hexagonal cell (a, c [m]) with z formula units."""
    return math.sqrt(3.0) / 2.0 * a * a * c / z * AVOGADRO


def cubic_molar_volume(a: float, z: int) -> float:
    """Molar volume [m^3/mol] of a cubic cell (a [m]) with z formula units."""
    return a**3 / z * AVOGADRO


def first_order_conversion(A: float, Ea: float, rate: float, T: np.ndarray,
                           T0: float = T_ROOM) -> np.ndarray:
    """Conversion alpha(T) of d alpha/dt = A exp(-Ea/RT) (1 - alpha) heated at ``rate``
    [K/s] from T0 [K]: -ln(1 - alpha) = (A/rate) int_T0^T exp(-Ea/RT') dT' (trapezoid on
    a 0.05 K grid; T ascending, >= T0)."""
    T = np.atleast_1d(np.asarray(T, dtype=float))
    grid = np.arange(T0, T.max() + 0.1, 0.05)
    f = np.exp(-Ea / (R_GAS * grid))
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (f[1:] + f[:-1]) * np.diff(grid))])
    return 1.0 - np.exp(-A / rate * np.interp(T, grid, cum))


def prefactor_for_onset(Ea: float, onset: float, rate: float,
                        alpha_onset: float) -> float:
    """Prefactor A [1/s] of a first-order Arrhenius law whose conversion under a constant
    ramp ``rate`` [K/s] from room temperature reaches ``alpha_onset`` at ``onset`` [K]."""
    unit = first_order_conversion(1.0, Ea, rate, np.array([onset]))[0]  # A = 1 1/s
    # 1 - alpha = exp(-A I): A = -ln(1 - alpha_onset) / I, with I = -ln(1 - unit)
    integral = -math.log1p(-unit) if unit > 0 else -np.expm1(0.0)
    integral = integral if integral > 0 else float(np.finfo(float).tiny)
    return -math.log1p(-alpha_onset) / integral


# ---- onsets, as the model reads them: 5 % conversion of the reaction alone (Li supply
# not limiting) under a constant ramp of ONSET_RATE from room temperature
ONSET_ALPHA = 0.05  # -, ASSUMPTION: what "starts near" means for an in situ XRD onset
ONSET_RATE = 5.0 / 60.0  # K/s, ASSUMPTION: 5 K/min, the common calcination/TGA ramp


@dataclass(frozen=True)
class SynthesisParameters:
    """Reaction, transport and structure parameters of the calcination model (SI)."""

    # ---- TM(OH)2 -> rock salt TMO + H2O: first order, Arrhenius
    A_decomposition: float  # 1/s
    Ea_decomposition: float  # J/mol
    # ---- TM(OH)2 + LiOH -> LiTMO2 (topotactic lithiation): first order in precursor,
    # first order in the local Li activity a
    A_lithiation: float  # 1/s
    Ea_lithiation: float  # J/mol
    # ---- rock salt TMO + LiOH -> LiTMO2 (later, slower): first order in r and in a
    A_rocksalt_lithiation: float  # 1/s
    Ea_rocksalt_lithiation: float  # J/mol
    # ---- Li transport into the precursor particle: effective Arrhenius diffusivity
    D_li_ref: float  # m^2/s at D_li_T_ref
    D_li_T_ref: float  # K
    Ea_li: float  # J/mol
    li_capacity: float  # mol mobile Li per mol TM at unit activity (the surface value)
    surface_exchange: float  # m/s, exchange velocity with the Li source at the surface
    # ---- structure
    c_tm: float  # mol TM per m^3 of particle (the precursor framework)
    porosity_precursor: float  # -, initial porosity of the precursor secondary particle
    V_precursor: float  # m^3/mol TM, TM(OH)2
    V_layered: float  # m^3/mol TM, LiTMO2
    V_rocksalt: float  # m^3/mol TM, TMO
    M_precursor: float  # kg/mol, Ni0.6Co0.2Mn0.2(OH)2
    M_layered: float  # kg/mol, LiNi0.6Co0.2Mn0.2O2
    M_rocksalt: float  # kg/mol, Ni0.6Co0.2Mn0.2O
    # ---- layered / rock-salt lattice mismatch (carried into the electrochemical run)
    mismatch_a: float  # -, a_rs/sqrt(2) / a_layered - 1 (in-plane)
    mismatch_c: float  # -, 2 sqrt(3) a_rs / c_layered - 1 (along c)
    disorder_inactive: float  # -, inactive share of layered oxide formed via rock salt

    def rate(self, which: str, T: float | np.ndarray) -> float | np.ndarray:
        """Rate constant [1/s] of 'decomposition', 'lithiation' or 'rocksalt_lithiation'
        at T [K]."""
        A, Ea = getattr(self, f"A_{which}"), getattr(self, f"Ea_{which}")
        return A * np.exp(-Ea / (R_GAS * np.asarray(T, dtype=float)))

    def D_li(self, T: float) -> float:
        """Effective Li diffusivity [m^2/s] at T [K]."""
        return self.D_li_ref * math.exp(-self.Ea_li / R_GAS * (1.0 / T - 1.0 / self.D_li_T_ref))

    def onset(self, which: str, rate: float = ONSET_RATE) -> float:
        """Temperature [K] at which the reaction alone reaches ONSET_ALPHA under ``rate``."""
        T = np.arange(T_ROOM, 1400.0, 0.1)
        A, Ea = getattr(self, f"A_{which}"), getattr(self, f"Ea_{which}")
        alpha = first_order_conversion(A, Ea, rate, T)
        return float(np.interp(ONSET_ALPHA, alpha, T))


# ---- lattice parameters (for molar volumes and the phase mismatch)
# beta-Ni(OH)2, brucite type P-3m1, a = 3.126 A, c = 4.605 A, Z = 1 (JCPDS 14-0117);
# PROXY for Ni0.6Co0.2Mn0.2(OH)2 (Co(OH)2 and Mn(OH)2 are isostructural)
_A_HYD, _C_HYD = 3.126e-10, 4.605e-10  # m
# NiO rock salt Fm-3m, a = 4.177 A, Z = 4 (JCPDS 47-1049); PROXY for the (Ni,Co,Mn)O
# rock salt of the decomposed precursor
_A_RS = 4.177e-10  # m
# LiNi0.6Co0.2Mn0.2O2, R-3m, a = 2.868 A, c = 14.21 A, Z = 3 (typical NCM622 refinements;
# UNCERTAIN to +-0.005 A / +-0.02 A between reports)
_A_LAY, _C_LAY = 2.868e-10, 14.21e-10  # m

# kg/mol: standard atomic weights of Ni, Co, Mn, Li, O, H (IUPAC 2021, abridged)
_NI, _CO, _MN = 58.693e-3, 58.933e-3, 54.938e-3  # kg/mol, IUPAC 2021
_LI, _O, _H = 6.94e-3, 15.999e-3, 1.008e-3  # kg/mol, IUPAC 2021
_M_TM = 0.6 * _NI + 0.2 * _CO + 0.2 * _MN  # kg/mol, the Ni0.6Co0.2Mn0.2 average (DERIVED)

_V_HYD = hex_molar_volume(_A_HYD, _C_HYD, 1)  # DERIVED: 2.35e-5 m^3/mol
_V_LAY = hex_molar_volume(_A_LAY, _C_LAY, 3)  # DERIVED: 2.03e-5 m^3/mol
_V_RS = cubic_molar_volume(_A_RS, 4)  # DERIVED: 1.10e-5 m^3/mol

# Ni(OH)2 -> NiO, isothermal TGA, first-order random nucleation (Carney, Chinn, Dogan,
# Gao, J. Alloys Compd. (2015), doi:10.1016/j.jallcom.2015.03.256): SOURCED for Ni(OH)2,
# PROXY for Ni0.6Co0.2Mn0.2(OH)2 (PARAMETERS.md section 8).  Its 5 %-onset at 5 K/min
# is 239 degC (computed by SynthesisParameters.onset), inside [P22]'s 220-350 degC:
# a check of the proxy, not a fit.
_A_DEC, _EA_DEC = 1.27e10, 134e3  # 1/s, J/mol

# Lithiation barrier: PROXY, the CI-NEB Li migration barrier of NMC622, 0.63 eV ([TH],
# PARAMETERS.md section 4): the topotactic lithiation inserts Li into the interslab
# of the hydroxide as the protons leave (no activation energy of the TM(OH)2 + LiOH
# step was found: PARAMETERS.md section 8).
_EA_LIT = 0.63 * EV_PER_MOL  # J/mol
# FITTED: the prefactor that puts the 5 %-onset at 5 K/min at 200 degC ([P22]).
_A_LIT = prefactor_for_onset(_EA_LIT, 473.15, ONSET_RATE, ONSET_ALPHA)
# Rock-salt lithiation: ASSUMPTION, the decomposition barrier (a reconstructive reaction
# of the oxide, no value found); FITTED prefactor: 5 %-onset at 5 K/min at the melting
# point of LiOH, 462 degC (CRC Handbook), where the Li source wets the oxide ("rock salt
# lithiates later and more slowly", [P22]).
_EA_RSL = _EA_DEC  # J/mol
_A_RSL = prefactor_for_onset(_EA_RSL, 735.15, ONSET_RATE, ONSET_ALPHA)

DEFAULTS = SynthesisParameters(
    A_decomposition=_A_DEC, Ea_decomposition=_EA_DEC,
    A_lithiation=_A_LIT, Ea_lithiation=_EA_LIT,
    A_rocksalt_lithiation=_A_RSL, Ea_rocksalt_lithiation=_EA_RSL,
    # PROXY: the Li diffusivity of discharged NMC622 at room temperature, 2.18e-13 cm^2/s,
    # with its CI-NEB barrier 0.63 eV ([TH], PARAMETERS.md section 4), extrapolated by
    # Arrhenius (1.9e-13 m^2/s at 200 degC); no effective Li diffusivity of a precursor
    # secondary particle under calcination was found
    D_li_ref=2.18e-17, D_li_T_ref=T_ROOM, Ea_li=0.63 * EV_PER_MOL,
    # ASSUMPTION: 0.1 mol Li per mol TM is mobile in the particle at the Li source's
    # activity (sets how much Li the transport carries per unit activity gradient)
    li_capacity=0.1,
    # ASSUMPTION (numerical-physical): fast exchange with the Li source in contact;
    # Biot number h R / D > 10 for a 5 um particle up to 700 degC
    surface_exchange=1e-3,  # m/s, ASSUMPTION (see above)
    # DERIVED: TM per volume of the dense hydroxide, (1 - porosity) / V_precursor
    c_tm=(1.0 - 0.1) / _V_HYD,
    # ASSUMPTION: 10 % porosity of the co-precipitated hydroxide secondary particle
    porosity_precursor=0.1,
    V_precursor=_V_HYD, V_layered=_V_LAY, V_rocksalt=_V_RS,
    M_precursor=_M_TM + 2 * (_O + _H), M_layered=_LI + _M_TM + 2 * _O,
    M_rocksalt=_M_TM + _O,
    # DERIVED: the rock-salt cell in the layered setting, a_h = a_c/sqrt(2),
    # c_h = 2 sqrt(3) a_c (topotactic relation), against the layered lattice above
    mismatch_a=_A_RS / math.sqrt(2.0) / _A_LAY - 1.0,
    mismatch_c=2.0 * math.sqrt(3.0) * _A_RS / _C_LAY - 1.0,
    # ASSUMPTION (no value found): half of the layered oxide that formed from the rock
    # salt keeps the cation disorder of its parent (Ni in the Li layer blocks Li sites
    # and paths, [P22]'s "defect-prone core") and counts as inactive in the
    # electrochemical run (solver/synthesis/carryover.py)
    disorder_inactive=0.5,
)

# case key -> (dimension for the case reader, doc); all optional overrides in [synthesis]
CASE_KEYS: dict[str, tuple[str, str]] = {
    "A_decomposition": ("number", "prefactor of TM(OH)2 -> rock salt [1/s]"),
    "Ea_decomposition": ("molar_energy", "activation energy of TM(OH)2 -> rock salt"),
    "A_lithiation": ("number", "prefactor of the topotactic lithiation [1/s]"),
    "Ea_lithiation": ("molar_energy", "activation energy of the topotactic lithiation"),
    "A_rocksalt_lithiation": ("number", "prefactor of the rock-salt lithiation [1/s]"),
    "Ea_rocksalt_lithiation": ("molar_energy", "activation energy of the rock-salt "
                               "lithiation"),
    "D_li_ref": ("diffusivity", "effective Li diffusivity at D_li_T_ref"),
    "D_li_T_ref": ("temperature", "reference temperature of D_li_ref"),
    "Ea_li": ("molar_energy", "activation energy of the effective Li diffusivity"),
    "li_capacity": ("number", "mobile Li per TM at unit Li activity [mol/mol]"),
    "surface_exchange": ("number", "exchange velocity with the Li source [m/s]"),
    "porosity_precursor": ("number", "initial porosity of the precursor particle"),
    "disorder_inactive": ("number", "inactive share of the layered oxide formed via rock "
                          "salt, in a follow-up electrochemical run"),
}
