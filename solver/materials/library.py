"""The four materials: constants, fitted coefficients and their sources.

Coefficients below were produced by ``python -m solver.materials.fits`` from the raw data in
``data.py``; the tests re-check every fit against that data.  Units/sources on each line.
"""

from __future__ import annotations

import math

from .base import Material
from .data import ATOMIC_WEIGHT, AVOGADRO, FARADAY, MARKER_NMC811, OREGAN2022_D, R_GAS, T_REF

# ------------------------------------------------------------------------------------------
# OCV fits.  Form (forms.ocv_eval): U = E0 - b x + RT/F (g1 ln(1-x) - g0 ln x)
#   - sum A tanh((x-x_k)/s_k) + sum C tanh((ln((1-x)/x) - z_j)/t_j), all A, C, g >= 0.
# ------------------------------------------------------------------------------------------
# NMC811: fit to Chen2020 (JES 167, 080534; PyBaMM) on x in [0.2661, 0.9084] plus tails of the
# Verbrugge 2017 MSMR (NMC622) shape attached outside that window (proxy; data.py).
# RMS 2.0 mV on the Chen2020 window, 2.4 mV (low-x tail), 7.5 mV (high-x tail).
OCV_NMC811 = (
    (3.200902202, 0.0, 6.351698714, 0.001),  # E0 [V], b [V], g0 [-], g1 [-]
    (  # (A [V], x_k [-], s_k [-])
        (0.1193851775, 0.5477353528, 0.1001448417),
        (0.03617695116, 0.4018726882, 0.03329325614),
        (0.03278463838, 0.2741504841, 0.01493617521),
        (0.05292044162, 0.7900496541, 0.09944025418),
    ),
    (  # (C [V], z_j [-], t_j [-])
        (0.05049824242, 1.472663788, 0.4873466498),
        (0.6974850979, -9.834165399, 4.947582267),
    ),
)
# NMC622: fit to the Verbrugge et al. JES 164, E3243 (2017) MSMR isotherm (Table 1),
# sampled on 2.6-4.9 V; RMS 0.6 mV, max 2.2 mV.
OCV_NMC622 = (
    (2.95583879, 0.0, 5.522128430, 0.0010000597),  # E0 [V], b [V], g0 [-], g1 [-]
    (  # (A [V], x_k [-], s_k [-])
        (0.1812350554, 0.2582265592, 0.219256535),
        (0.02301881962, 0.4298058008, 0.07321367392),
        (0.01999511783, 0.8336137104, 0.1025908322),
    ),
    (  # (C [V], z_j [-], t_j [-])
        (0.0306399511, -6.380950246, 1.076042824),
        (0.05935094784, -7.999627386, 2.008727689),
        (0.8393228871, -12.22987167, 6.139685324),
    ),
)

# ------------------------------------------------------------------------------------------
# Lattice shapes [Angstrom] fitted to Maerker et al., Chem. Mater. 31, 2545 (2019), NMC811,
# x = 1 - q / 275.5 mAh/g.  Form (forms.lattice_eval): poly in (1-x) + tanh terms
# - collapse sigmoids D (1 - tanh((x-xc)/sc))/2.  a: RMS 0.00015 A; c: RMS 0.0012 A.
# ------------------------------------------------------------------------------------------
LAT_A_NMC811 = (
    (2.875483885, -0.03335727309, -0.2522540119, 0.2413573859),  # poly [A]
    ((-0.006918983053, 0.7383453316, 0.1379466547), (0.001773027328, 0.8479196357, 0.02489032384)),
    ((0.01180145523, 0.154156169, 0.0692720298),),  # collapse (D [A], xc, sc)
)
LAT_C_NMC811 = (
    (14.30993451, 0.1, 0.0, 0.0),  # poly [A]; linear only so the H3 collapse is separable
    (
        (-0.08766563482, 0.6109854724, 0.137357589),
        (-0.02170945937, 0.8524392635, 0.06316790792),
        (-0.009716869284, 0.4283935859, 0.0237539807),
    ),
    ((0.09511306141, 0.2692373082, 0.05823541917), (0.5906889396, 0.1485771031, 0.06749876474)),
)
# c-collapse scale so that the c contraction from its maximum to the end of the Maerker charge
# (x = 1 - 242.4/275.5 = 0.120) equals [W25] (Wang et al., Nat. Nanotechnol. 2025): 6.0 % NC91,
# 3.6 % NM91 (derived by fits.collapse_scale_for; NMC811 shape itself gives 3.27 %).
C_COLLAPSE_NC91 = 1.784478978  # -, derived ([W25] 6.0 %)
C_COLLAPSE_NM91 = 1.094431043  # -, derived ([W25] 3.6 %)

# Maerker 2019 NMC811 lattice at 0 mAh/g (x = 1)
A_REF_NMC811 = float(MARKER_NMC811[0, 1])  # Angstrom, 2.8704 (Maerker 2019)
C_REF_NMC811 = float(MARKER_NMC811[0, 2])  # Angstrom, 14.1918 (Maerker 2019)

# ------------------------------------------------------------------------------------------
# Transport and kinetics
# ------------------------------------------------------------------------------------------
# O'Regan 2022 (Electrochim. Acta 425, 140700; PyBaMM ORegan2022) NMC811 D(x) shape
D_OREGAN = (
    OREGAN2022_D["prefactor"],  # -, 2.7
    OREGAN2022_D["c0"],  # log10(m^2/s), -13.96
    OREGAN2022_D["a"],  # decades
    OREGAN2022_D["b"],  # Li fraction
    OREGAN2022_D["c"],  # Li fraction^2
)
EA_D_OREGAN = OREGAN2022_D["E_over_R"] * R_GAS  # J/mol, 1449 K * R = 12.05 kJ/mol (O'Regan 2022)
# H3 switch of D: centre/width of the main c-collapse sigmoid of the Maerker fit (derived);
# depth 2 decades is an ASSUMPTION (barrier rises as the Li slab collapses, Kang & Ceder,
# PRB 74, 094105 (2006), qualitative; ~0.12 eV at 298 K); O'Regan's fit has no data below
# x = 0.27 and returns to 3e-14 m^2/s there, which would be unphysical.
D_H3_X = LAT_C_NMC811[2][1][1]  # Li fraction, 0.1486 (derived from Maerker c-collapse)
D_H3_W = LAT_C_NMC811[2][1][2]  # Li fraction, 0.0675 (derived from Maerker c-collapse)
D_H3_DECADES = 2.0  # decades, assumption (see docs/materials.md)
# c-axis / ab-plane: ASSUMPTION 1e-3.  Li hops through tetrahedral sites inside the Li slab;
# crossing the MO2 slab is effectively blocked (Kang & Ceder 2006; LCO single-crystal SIMS
# tracer data summarised in Batteries 10(12), 446 (2024)). No quantitative ratio found.
D_C_OVER_D_AB = 1e-3  # -, assumption

# Chen2020 (JES 167, 080534; PyBaMM Chen2020) NMC811: i0 = k c_e^0.5 c_s^0.5 (c_max - c_s)^0.5
K_CHEN2020 = 3.42e-6  # (A/m^2)(m^3/mol)^1.5, Chen2020
C_MAX_CHEN2020 = 63104.0  # mol/m^3, Chen2020's c_max (kept only inside the i0 law it fitted)
C_E_REF = 1000.0  # mol/m^3, fixed electrolyte concentration (PyBaMM initial c_e)
I0_REF_CHEN2020 = K_CHEN2020 * math.sqrt(C_E_REF) * C_MAX_CHEN2020  # A/m^2, 6.825 (derived)
EA_I0_CHEN2020 = 17800.0  # J/mol, Chen2020
ALPHA_CHEN2020 = 0.5  # -, symmetric Butler-Volmer as in Chen2020 / PyBaMM


# ------------------------------------------------------------------------------------------
# Elasticity: transversely isotropic about c (hexagonal; the small C14 of R-3m is neglected).
# The DFT C_ij tables of Liu et al., PRX Energy 3, 013012 (2024) could not be retrieved here,
# so the tensor is built from engineering constants (UNCERTAIN, replace when available):
#   E_ab, E_c: DFT Young's moduli of NMC811 in-plane / along c, Min & Cho, PCCP 20, 9045
#     (2018), as quoted by Sedlatschek et al., J. Power Sources 681, 240276 (2026);
#   nu = 0.32: value assumed for NMC by Lim et al., Extreme Mech. Lett. 22, 98 (2018);
#   G_c (shear in planes containing c): no data; isotropic relation E_c / (2 (1 + nu)).
# Nanoindentation of NMC811 gives E = 230 GPa (Sharma et al., Extreme Mech. Lett. 58, 101920
# (2023)), between E_c and E_ab, as a consistency check.
# ------------------------------------------------------------------------------------------
E_AB_NMC811 = 249e9  # Pa, in-plane Young's modulus, DFT (Min & Cho 2018, via Sedlatschek 2026)
E_C_NMC811 = 210e9  # Pa, c-axis Young's modulus, DFT (Min & Cho 2018, via Sedlatschek 2026)
NU_NMC = 0.32  # -, Poisson ratio assumed for NMC (Lim et al. 2018)
G_C_NMC811 = E_C_NMC811 / (2.0 * (1.0 + NU_NMC))  # Pa, 79.5 GPa (derived, assumption)

# ------------------------------------------------------------------------------------------
# Temperature range of the data (every material; docs/materials.md section 5).  All laws are
# room-temperature data: the OCVs (Chen2020 and Verbrugge 2017, 25 degC; no entropic term),
# the lattice (Maerker 2019, room temperature), D(x) and i0 (PyBaMM sets ORegan2022 /
# Chen2020, T_ref = 298.15 K), with Arrhenius factors (Ea_D, Ea_i0) as the only temperature
# dependence.  Lower end -20 degC: the usual low end of cell operation; the i0 law assumes a
# liquid LiPF6/carbonate electrolyte at 1000 mol/m^3, which loses most of its conductivity
# and begins to freeze below about -20 to -30 degC.  Upper end 200 degC: keeps the planned
# mild anneal (150 degC = 423 K) with margin and stays below the decomposition of charged
# Ni-rich layered oxides (O2 release, layered -> spinel -> rock salt): overcharged NMC111, DSC
# peak 239 degC (Wang, Tang, Huang, Chin. J. Chem. 29, 1583 (2011), PARAMETERS.md section 5);
# ~225-232 degC at 80-85 % Ni is quoted from memory of Noh et al., J. Power Sources 233, 121
# (2013), NOT verified here.  Between ~60 and 200 degC
# the laws are an Arrhenius extrapolation (ASSUMPTION).
# ------------------------------------------------------------------------------------------
TEMPERATURE_RANGE_K = (253.15, 473.15)  # K, -20 to 200 degC (basis above)
_SRC_T_RANGE = ("room-temperature (25 degC) fits of OCV, lattice, D(x) and i0, extrapolated "
                "by Arrhenius factors only; -20 degC: usual low end of cell operation with a "
                "liquid electrolyte; 200 degC: keeps mild anneals (150 degC) and stays below "
                "the decomposition of charged layered oxides (DSC O2-release peak 239 degC, "
                "Wang, Tang, Huang 2011)")

# ------------------------------------------------------------------------------------------
# Composition, molar mass, capacity, density
# ------------------------------------------------------------------------------------------
def molar_mass(comp: dict) -> float:
    """kg/mol of Li M O2 from transition-metal fractions (IUPAC 2021 atomic weights)."""
    g = ATOMIC_WEIGHT["Li"] + 2 * ATOMIC_WEIGHT["O"]
    g += sum(f * ATOMIC_WEIGHT[el] for el, f in comp.items())
    return g * 1e-3


def capacity_mAh_g(M: float) -> float:
    """Theoretical capacity for one Li per formula unit [mAh/g] (M in kg/mol)."""
    return FARADAY / 3.6 / (M * 1e3)


def crystal_density(M: float, a_A: float, c_A: float, Z: int = 3) -> float:
    """R-3m hexagonal cell density [kg/m^3]: Z M / (N_A sqrt(3)/2 a^2 c)."""
    V = math.sqrt(3.0) / 2.0 * (a_A * 1e-10) ** 2 * (c_A * 1e-10)
    return Z * M / (AVOGADRO * V)


_COMPOSITIONS = {
    "NC91": ("LiNi0.9Co0.1O2", {"Ni": 0.9, "Co": 0.1}),
    "NM91": ("LiNi0.9Mn0.1O2", {"Ni": 0.9, "Mn": 0.1}),
    "NMC622": ("LiNi0.6Mn0.2Co0.2O2", {"Ni": 0.6, "Mn": 0.2, "Co": 0.2}),
    "NMC811": ("LiNi0.8Mn0.1Co0.1O2", {"Ni": 0.8, "Mn": 0.1, "Co": 0.1}),
}

_SRC_OCV_811 = "Chen2020 LG M50 NMC811 (x 0.27-0.91) + Verbrugge2017 MSMR tails; fit"
_SRC_D = "O'Regan2022 NMC811 D(x) x H3 factor (2 decades, assumption); Ea 12.05 kJ/mol"
_SRC_I0 = "Chen2020 k = 3.42e-6, c_max 63104, c_e 1000 -> 6.825 A/m^2; Ea 17.8 kJ/mol"
_SRC_LAT = "Maerker2019 NMC811 table, x = 1 - q/275.5"
_SRC_RHO = "derived: Z = 3, a, c at x = 1, M"


_MAERKER = "Märker et al., Chem. Mater. 31, 2545 (2019)"
_CHEN = "Chen et al., JES 167, 080534 (2020) (PyBaMM Chen2020)"
_OREGAN = "O'Regan et al., Electrochim. Acta 425, 140700 (2022) (PyBaMM ORegan2022)"
_MIN_CHO = ("DFT NMC811, Min & Cho, PCCP 20, 9045 (2018), via Sedlatschek et al., J. Power "
            "Sources 681, 240276 (2026); UNCERTAIN")


def _parameter_sources(name: str) -> tuple[tuple[str, str, str], ...]:
    """(key, source, status) of every constant and law of material ``name``.

    What chemomech materials and docs/materials.md print; the values themselves are the
    Material's.  NMC811 is the material most data are measured on: the others take its
    values as proxies where no data of their own were found (docs/materials.md)."""
    own = name == "NMC811"

    def sourced(text: str, status: str = "data") -> tuple[str, str]:
        if own:
            return text, status
        return text + " (NMC811's, as proxy)", status + ", proxy"

    rows = {
        "molar_mass": ("IUPAC 2021 atomic weights (Li 6.94, O 15.999, Ni 58.693, Co 58.933, "
                       "Mn 54.938)", "derived"),
        "capacity_theoretical": ("F / (3.6 M), one Li per formula unit", "derived"),
        "density": ("3 M / (N_A (√3/2) a_ref² c_ref), Z = 3" + (
            "" if own else " with the NMC811 a_ref, c_ref"), "derived" if own
            else "derived, proxy"),
        "c_max": ("density / molar mass", "derived"),
        "a_ref_A": sourced(f"{_MAERKER}, NMC811 at 0 mAh/g"),
        "c_ref_A": sourced(f"{_MAERKER}, NMC811 at 0 mAh/g"),
        "T_ref": ("25 °C, the temperature of the fitted data (PyBaMM sets)", "data"),
        "temperature_range_K": (_SRC_T_RANGE, "assumption"),
        "D_ab_scale": ("user parameter (1: the law as sourced)", "user"),
        "D_ab_const": ("user parameter (None: the D_ab(x) law)", "user"),
        "phase_model": ("user choice of the Li transport model (docs/theory.md section 8)",
                        "user"),
        "interface_width": ("two-phase only; None: the default 1 um (numerical choice, "
                            "resolved by h <= lambda/4)", "user, assumption"),
        "interface_energy": ("two-phase only; None: the default 0.1 J/m^2 (no measured "
                             "H2/H3 interface energy found)", "user, assumption"),
        "D_c_over_D_ab": ("c-axis transport nearly blocked (Kang & Ceder, PRB 74, 094105 "
                          "(2006); LCO tracer data, Batteries 10, 446 (2024)); no measured "
                          "ratio", "assumption"),
        "Ea_D": sourced(f"{_OREGAN}, E/R = 1449 K"),
        "D_H3_decades": ("barrier rise as the Li slab collapses (Kang & Ceder 2006, "
                         "qualitative)", "assumption"),
        "D_H3_x": (f"centre of the main c-collapse sigmoid of the {_MAERKER} c(x) fit",
                   "derived"),
        "D_H3_w": (f"width of the main c-collapse sigmoid of the {_MAERKER} c(x) fit",
                   "derived"),
        "i0_ref": sourced(f"{_CHEN}: k = 3.42e-6 (A/m²)(m³/mol)^1.5 × √(1000 mol/m³) × "
                          "63 104 mol/m³", "derived"),
        "i0_scale": ("user parameter (1: the law as sourced)", "user"),
        **{f"{c}_scale": ("user parameter (1: the engineering-constant tensor as sourced; "
                          "sensitivity studies)", "user")
           for c in ("C11", "C33", "C13", "C44")},
        "Ea_i0": sourced(_CHEN),
        "alpha": sourced(f"symmetric Butler-Volmer, {_CHEN}"),
        "c_collapse_scale": {
            "NC91": ("c contraction from its maximum to x = 0.120 set to 6.0 % of Wang et "
                     "al., Nat. Nanotechnol. (2025) [W25]", "derived"),
            "NM91": ("c contraction from its maximum to x = 0.120 set to 3.6 % of Wang et "
                     "al., Nat. Nanotechnol. (2025) [W25]", "derived"),
            "NMC622": ("NMC811 shape unscaled (c shrinkage nearly Ni-independent, Li et al., "
                       "JACS 141, 5097 (2019))", "proxy"),
            "NMC811": (f"{_MAERKER} shape unscaled", "data"),
        }[name],
        "vegard_a": ("user parameter (None: the measured a(x))", "user"),
        "vegard_c": ("user parameter (None: the measured c(x))", "user"),
        "E_ab": sourced(_MIN_CHO),
        "E_c": sourced(_MIN_CHO),
        "nu_ab": sourced("value assumed for NMC by Lim et al., Extreme Mech. Lett. 22, 98 "
                         "(2018)", "assumption"),
        "nu_c": sourced("value assumed for NMC by Lim et al., Extreme Mech. Lett. 22, 98 "
                        "(2018)", "assumption"),
        "G_c": sourced("E_c / (2 (1 + nu)), isotropic relation (no data)", "assumption"),
        # laws
        "ocv": {
            "NMC622": ("fit to the Verbrugge et al., JES 164, E3243 (2017) NMC622 MSMR "
                       "isotherm (Table 1), 2.6-4.9 V; RMS 0.6 mV", "data (fit)"),
            "NMC811": (f"fit to {_CHEN} on x 0.27-0.91 (RMS 2.0 mV) + Verbrugge 2017 MSMR "
                       "shape outside (proxy tails)", "data (fit), proxy tails"),
        }.get(name, (f"the NMC811 curve: fit to {_CHEN} on x 0.27-0.91 + Verbrugge 2017 "
                     "MSMR-shape tails", "proxy")),
        "d_ab": sourced(f"{_OREGAN} NMC811 D(x) × H3 factor (D_H3_decades)",
                        "data (fit), assumption"),
        "d_c": ("D_c_over_D_ab × D_ab", "assumption"),
        "i0": sourced(f"{_CHEN} form k c_e^0.5 c_s^0.5 (c_max - c_s)^0.5, c_e = 1000 mol/m³"),
        "lattice_a": sourced(f"fit to {_MAERKER} NMC811 a(q), x = 1 - q/275.5 mAh/g; RMS "
                             "0.00015 Å", "data (fit)"),
        "lattice_c": (f"fit to {_MAERKER} NMC811 c(q), x = 1 - q/275.5 mAh/g; RMS 0.0012 Å"
                      + {"NC91": "; collapse scaled to [W25] NC91 (proxy shape)",
                         "NM91": "; collapse scaled to [W25] NM91 (proxy shape)",
                         "NMC622": " (NMC811 shape, unscaled)"}.get(name, ""),
                      "data (fit)" if own else "derived, proxy"),
    }
    return tuple((k, src, status) for k, (src, status) in rows.items())


def _make(name: str) -> Material:
    comp_str, comp = _COMPOSITIONS[name]
    M = molar_mass(comp)
    ocv = OCV_NMC622 if name == "NMC622" else OCV_NMC811
    collapse = {"NC91": C_COLLAPSE_NC91, "NM91": C_COLLAPSE_NM91}.get(name, 1.0)
    # Reference lattice: Maerker NMC811 for NMC811; proxy (same values) for the others.
    a_ref, c_ref = A_REF_NMC811, C_REF_NMC811
    proxy_note = "" if name == "NMC811" else " (PROXY: NMC811 values)"
    src = [
        ("composition/M/capacity", "IUPAC 2021 atomic weights (derived)"),
        ("density", _SRC_RHO + (" with NMC811 a, c (proxy)" if name != "NMC811" else "")),
        (
            "ocv",
            "Verbrugge2017 NMC622 MSMR; fit"
            if name == "NMC622"
            else _SRC_OCV_811 + ("" if name == "NMC811" else " (PROXY)"),
        ),
        ("D_ab", _SRC_D + ("" if name == "NMC811" else " (PROXY shape and scale)")),
        ("D_c/D_ab", "1e-3 assumption (c-axis blocked; Kang & Ceder 2006)"),
        ("i0", _SRC_I0 + ("" if name == "NMC811" else " (PROXY)")),
        ("elasticity", "E_ab 249 GPa, E_c 210 GPa DFT NMC811 (Min & Cho 2018), nu 0.32 "
         "(Lim 2018), G_c isotropic relation (UNCERTAIN" + (")" if name == "NMC811"
                                                          else "; PROXY: NMC811)")),
        ("temperature range", _SRC_T_RANGE),
        (
            "lattice",
            _SRC_LAT
            + proxy_note
            + {
                "NC91": "; c-collapse scaled to [W25] 6.0 %",
                "NM91": "; c-collapse scaled to [W25] 3.6 %",
                "NMC622": "; c-collapse unscaled (Li et al. JACS 2019: ~Ni-independent)",
            }.get(name, ""),
        ),
    ]
    return Material(
        name=name,
        composition=comp_str,
        molar_mass=M,
        density=crystal_density(M, a_ref, c_ref),
        capacity_theoretical=capacity_mAh_g(M),
        D_c_over_D_ab=D_C_OVER_D_AB,
        Ea_D=EA_D_OREGAN,
        Ea_i0=EA_I0_CHEN2020,
        alpha=ALPHA_CHEN2020,
        T_ref=T_REF,
        D_ab_const=None,
        D_ab_scale=1.0,
        i0_scale=1.0,
        i0_ref=I0_REF_CHEN2020,
        D_H3_decades=D_H3_DECADES,
        D_H3_x=D_H3_X,
        D_H3_w=D_H3_W,
        D_oregan=D_OREGAN,
        ocv_base=ocv[0],
        ocv_xterms=ocv[1],
        ocv_zterms=ocv[2],
        lat_a=LAT_A_NMC811,
        lat_c=LAT_C_NMC811,
        a_ref_A=a_ref,
        c_ref_A=c_ref,
        c_collapse_scale=collapse,
        E_ab=E_AB_NMC811,
        E_c=E_C_NMC811,
        nu_ab=NU_NMC,
        nu_c=NU_NMC,
        G_c=G_C_NMC811,
        sources=tuple(src),
        temperature_range_K=TEMPERATURE_RANGE_K,
        temperature_range_source=_SRC_T_RANGE,
        parameter_sources=_parameter_sources(name),
    )


MATERIALS = {name: _make(name) for name in _COMPOSITIONS}
